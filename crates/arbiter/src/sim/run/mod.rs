//! One simulated run: 3 arbiter instances against the model, faults during
//! a window, then healing and a settling period, with invariants checked
//! after every step.
//!
//! Each seed draws every node's persistence mode (off, RDB, AOF) and a
//! subset of the fault kinds ([`FAULT_KINDS`], swarm style). A fault
//! profile ([`Profile`]) can instead script the operations of issue 22's
//! trial, so that they happen in every seed.
//!
//! [`fault`] names the fault kinds, `inject` injects them, `instances`
//! steps, crashes and restarts the arbiter instances, `events` handles the
//! scheduler's other events, and `watch` holds the run's own liveness
//! watches (L1 after a return, the probe).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use rehearse::{EventQueue, Failure, Faulty, Recorder, Sim};

use super::check::Checker;
use super::model::{Endpoint, Event, Model, ModelEvent, Persistence, Restart};
use super::world::InstanceWorld;
use crate::io::Driver;
use crate::machine::TRANSITIONS;
use crate::types::{Millis, Settings};

mod events;
mod explored;
pub mod fault;
mod inject;
mod instances;
mod watch;

pub use fault::{FAULT_KINDS, FAULT_KINDS_BEFORE_ISSUE_22, FaultKind, TRIAL_FAULTS};

/// A fault profile: what a run's faults look like.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Profile {
    /// Every allowed fault kind may fire each second of the fault window,
    /// each seed enabling a random subset (swarm testing).
    #[default]
    Default,
    /// Issue 22's trial in every seed: between 8 and 20 s every instance
    /// goes away (stopped or cut off) for 12 to 40 s, longer than
    /// `stale_after_ms`; the primary is killed as they leave and restarts
    /// (empty or with its data, by its persistence mode) after they are
    /// back or while they are away. Restarts with data, password
    /// mismatches, bad switchover requests, conflicting configuration and
    /// plain crashes come on top, at the default mix's rates.
    Trial,
}

impl Profile {
    /// `default`, `trial`.
    pub const NAMES: [&'static str; 2] = ["default", "trial"];

    /// The profile named `name`.
    pub fn named(name: &str) -> Option<Self> {
        match name {
            "default" => Some(Self::Default),
            "trial" => Some(Self::Trial),
            _ => None,
        }
    }

    /// Whether it allows fault kind `kind` (when `--faults` does not say).
    pub fn allows(self, kind: FaultKind) -> bool {
        match self {
            Self::Default => true,
            Self::Trial => FaultKind::TRIAL.contains(&kind),
        }
    }
}

/// What a run looks like.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Redis nodes.
    pub nodes: usize,
    /// Arbiter instances.
    pub instances: usize,
    /// Faults happen during this window.
    pub fault_window_ms: Millis,
    /// After healing, the run goes on this long before liveness is checked.
    pub settle_ms: Millis,
    /// Fault kinds allowed (all when `None`).
    pub faults: Option<BTreeSet<FaultKind>>,
    /// Record each instance's calls on its own tape.
    pub record: bool,
    /// Planted bugs every instance runs with (inert without the
    /// `planted-bugs` feature).
    pub bugs: BTreeSet<crate::types::Bug>,
    /// Persistence modes each node's is drawn from.
    pub persistence: Vec<Persistence>,
    /// Scripted faults on top of the fault kinds.
    pub profile: Profile,
    /// Check issue 22's invariants (S5 data and keys across histories, S7
    /// per replica, S10, L5, L1 after a return; see
    /// `Checker::with_issue_22_invariants`).
    pub issue_22_invariants: bool,
}

impl SimOptions {
    /// The world and the invariants before issue 22 widened them: the
    /// fault kinds of [`FAULT_KINDS_BEFORE_ISSUE_22`], persistence off on
    /// every node, and none of issue 22's invariants. Only for tests that
    /// must stay clean until the controller's issue-22 fixes land.
    pub fn before_issue_22() -> Self {
        Self {
            faults: Some(FaultKind::ALL[..FaultKind::BEFORE_ISSUE_22].iter().copied().collect()),
            persistence: vec![Persistence::Off],
            issue_22_invariants: false,
            ..Self::default()
        }
    }
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            nodes: 3,
            instances: 3,
            fault_window_ms: 60_000,
            settle_ms: 60_000,
            faults: None,
            record: true,
            bugs: BTreeSet::new(),
            persistence: Persistence::ALL.to_vec(),
            profile: Profile::Default,
            issue_22_invariants: true,
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, Default)]
pub struct SimOutcome {
    /// Simulated time.
    pub sim_ms: Millis,
    /// Promotions applied.
    pub failovers: u64,
    /// Switchovers applied.
    pub switchovers: u64,
    /// Acknowledged client writes.
    pub acked: usize,
    /// Acknowledged writes missing from the final primary.
    pub lost: usize,
    /// The model's timeline.
    pub events: Vec<Event>,
    /// Fault points that fired, and how often (fault kinds, the call
    /// points of `Faulty`, and scripted profile faults under their kind's
    /// name).
    pub faults: BTreeMap<String, u64>,
    /// Each node's persistence mode.
    pub persistence: Vec<Persistence>,
}

type InstanceDriver = Driver<Recorder<Faulty<InstanceWorld>>>;

#[derive(Debug)]
enum Ev {
    Instance(usize),
    Client,
    Faults,
    RestartNode(usize, Restart),
    RestartInstance(usize),
    /// Every instance leaves (profile `trial`).
    AllAway,
    /// The instances that went away come back.
    Return,
    /// A node's password matches again.
    AuthFixed(usize),
    Unblock(Vec<(Endpoint, Endpoint)>),
    EtcdBack,
    Heal,
    Probe,
    End,
}

fn ms(t: Millis) -> Duration {
    Duration::from_millis(t)
}

fn settings() -> Settings {
    Settings {
        max_lag_bytes: 50,
        ..Settings::default()
    }
}

struct Run<'a> {
    sim: &'a Sim,
    opts: &'a SimOptions,
    model: Rc<RefCell<Model>>,
    drivers: Vec<Option<InstanceDriver>>,
    /// Why each instance last said it could not act (noted on change).
    blocked: Vec<Option<crate::machine::Blocked>>,
    queue: EventQueue<Ev>,
    checker: Checker,
    /// A sim with no choices never fires: what `Faulty` gets when the
    /// `calls` fault kind is off.
    quiet: Sim,
    /// Crashed instances stay away until then (`arbiter.all_away`).
    away_until: Millis,
    /// The last `arbiter.all_away` was a deploy (SIGTERM to each).
    deploy: bool,
    /// Nodes whose restart is scheduled past the heal (their primary died
    /// while every instance was away): the heal leaves them down.
    held_down: BTreeSet<usize>,
    /// Faults the run scripted (profiles), by kind.
    scripted: &'a mut BTreeMap<String, u64>,
    /// Faults applied by the run's own events (restarts, heals, returns):
    /// with the fault points fired, what L5 counts as "a new fault".
    world_faults: u64,
    /// L1 after a return, while it is due.
    return_watch: Option<ReturnWatch>,
    /// The primary the liveness probe killed for good, and when.
    probe: Option<(usize, Millis)>,
    /// The probe killed the leader instance with the primary.
    probe_leader: bool,
    /// What the run's sometimes-assertions need between steps.
    explored: explored::Explored,
}

/// L1 after a return: the instances came back to a dead primary with a
/// replica in sync with it; a promotion is due, unless another fault
/// intervenes.
#[derive(Debug, Clone, Copy)]
struct ReturnWatch {
    /// When they came back.
    back: Millis,
    /// The dead primary.
    primary: usize,
    /// When a promotion is due.
    due: Millis,
    /// The fault count then.
    faults: u64,
}

impl Run<'_> {
    fn allowed(&self, kind: FaultKind) -> bool {
        match &self.opts.faults {
            Some(f) => f.contains(&kind),
            None => self.opts.profile.allows(kind),
        }
    }

    fn now(&self) -> Millis {
        self.model.borrow().now
    }

    /// The faults so far (fault points fired and the run's own).
    fn fault_count(&self) -> u64 {
        self.world_faults + self.sim.faults_fired().values().sum::<u64>()
    }
}

/// `arbiter.all_away` starts no later than this, so that the instances
/// are back and the group can settle before the liveness checks.
pub const ALL_AWAY_LATEST_MS: Millis = 40_000;

/// Runs one seed. `Err` is the first invariant violated.
pub fn run(sim: &Sim, opts: &SimOptions) -> Result<SimOutcome, Failure> {
    run_with_timeline(sim, opts).0
}

/// Runs one seed and also returns the model's timeline up to the end or to
/// the violation.
pub fn run_with_timeline(sim: &Sim, opts: &SimOptions) -> (Result<SimOutcome, Failure>, Vec<Event>) {
    let r = run_report(sim, opts);
    (r.result, r.events)
}

/// One seed's result with what is known also when it failed.
#[derive(Debug)]
pub struct RunReport {
    /// The outcome, or the first invariant violated.
    pub result: Result<SimOutcome, Failure>,
    /// The model's timeline up to the end or to the violation.
    pub events: Vec<Event>,
    /// Fault kinds and call points that fired, and how often (as in
    /// [`SimOutcome::faults`]), up to the end or to the violation.
    pub faults: BTreeMap<String, u64>,
}

/// Runs one seed and reports its timeline and the faults that fired, also
/// when it failed (the `simulate` summary counts faults over every seed).
pub fn run_report(sim: &Sim, opts: &SimOptions) -> RunReport {
    let model = Rc::new(RefCell::new(Model::with_config(
        opts.nodes,
        1,
        opts.instances,
        settings(),
    )));
    let mut scripted = BTreeMap::new();
    let result = run_model(sim, opts, Rc::clone(&model), &mut scripted);
    let events = model.borrow().events.clone();
    let mut faults = sim.faults_fired();
    for (kind, n) in scripted {
        *faults.entry(kind).or_default() += n;
    }
    RunReport { result, events, faults }
}

fn run_model(
    sim: &Sim,
    opts: &SimOptions,
    model: Rc<RefCell<Model>>,
    scripted: &mut BTreeMap<String, u64>,
) -> Result<SimOutcome, Failure> {
    set_up(sim, opts, &mut model.borrow_mut());
    let cluster_mode = model.borrow().cluster_mode.clone();
    let mut run = Run {
        sim,
        opts,
        model,
        drivers: Vec::new(),
        blocked: vec![None; opts.instances],
        queue: EventQueue::new(),
        checker: Checker::new(sim.seed(), opts.instances)
            .with_issue_22_invariants(opts.issue_22_invariants)
            .with_cluster_mode(cluster_mode),
        quiet: Sim::from_choices(sim.seed(), Vec::new()),
        away_until: 0,
        deploy: false,
        held_down: BTreeSet::new(),
        scripted,
        world_faults: 0,
        return_watch: None,
        probe: None,
        probe_leader: false,
        explored: explored::Explored::new(opts.instances),
    };
    run.drivers = (0..opts.instances).map(|i| Some(run.driver(i, 0))).collect();
    run.schedule_start();
    let driven = run.drive();
    run.count_moves();
    if sim.phase() == rehearse::Phase::Explore {
        explored::at_end(&run.model.borrow().events, settings().down_after_ms);
    }
    driven?;
    run.finish()
}

/// The sweep counter of one listed move (`arbiter simulate` lists those
/// never taken).
pub fn move_counter(from: &str, input: &str, to: &str) -> String {
    format!("move {from} --{input}--> {to}")
}

/// [`move_counter`] of each of [`TRANSITIONS`], in its order.
fn move_counters() -> &'static [String] {
    static NAMES: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
        TRANSITIONS
            .iter()
            .map(|&(from, input, to)| move_counter(from, input, to))
            .collect()
    });
    &NAMES
}

/// Each node's persistence mode, then some data before anything happens.
fn set_up(sim: &Sim, opts: &SimOptions, m: &mut Model) {
    let modes = if opts.persistence.is_empty() {
        vec![Persistence::Off]
    } else {
        opts.persistence.clone()
    };
    for i in 0..m.nodes.len() {
        let mode = if modes.len() == 1 {
            modes[0]
        } else {
            modes[sim.below(modes.len() as u64) as usize]
        };
        m.nodes[i].persistence = mode;
    }
    let modes = m.nodes.iter().map(|n| (n.name.clone(), n.persistence)).collect();
    m.note(ModelEvent::Persistence(modes));
    for _ in 0..20 {
        m.client_write();
    }
    m.advance(1);
}

impl Run<'_> {
    /// The run's first events: the instances start, the client writes,
    /// faults begin, and the heal, the probe and the end are set.
    fn schedule_start(&mut self) {
        let (sim, opts) = (self.sim, self.opts);
        for i in 0..opts.instances {
            let start = 1 + sim.below(1000);
            self.queue.schedule(ms(start), Ev::Instance(i));
        }
        self.queue.schedule(ms(2), Ev::Client);
        self.queue.schedule(ms(5000), Ev::Faults);
        if opts.profile == Profile::Trial {
            let at = 8000 + sim.below(12_001);
            self.queue.schedule(ms(at), Ev::AllAway);
        }
        self.queue.schedule(ms(opts.fault_window_ms), Ev::Heal);
        let end = opts.fault_window_ms + opts.settle_ms;
        self.queue
            .schedule(ms(opts.fault_window_ms + opts.settle_ms / 2), Ev::Probe);
        self.queue.schedule(ms(end), Ev::End);
    }

    /// After the end: L1 for the probe, L1, L2 and L4 at the end, and what
    /// the run measured.
    /// Runs the events to the end, or to the first violation.
    fn drive(&mut self) -> Result<(), Failure> {
        let sim = self.sim;
        while let Some((at, ev)) = self.queue.pop_advancing(sim) {
            let now = at.as_millis() as Millis;
            self.model.borrow_mut().advance(now);
            if matches!(ev, Ev::End) {
                break;
            }
            self.handle(ev, now)?;
            if sim.phase() == rehearse::Phase::Explore {
                self.explored.after_event(&self.model.borrow());
            }
            self.checker.after_event(&self.model.borrow())?;
            self.check_return(now)?;
            let world_faults = self.world_faults;
            self.checker.after_promotions(&self.model.borrow(), || {
                world_faults + sim.faults_fired().values().sum::<u64>()
            })?;
        }
        Ok(())
    }

    /// Every listed move as a sweep counter, 0 when not taken, so that a
    /// sweep's report shows what it never reached (each move is counted
    /// as it is taken).
    fn count_moves(&self) {
        for name in move_counters() {
            self.sim.count(name, 0);
        }
    }

    fn finish(self) -> Result<SimOutcome, Failure> {
        let sim = self.sim;
        if let Some((killed, at)) = self.probe {
            self.checker
                .after_probe(&self.model.borrow(), killed, at, self.probe_leader)?;
        }
        let machines: Vec<_> = self.drivers.iter().map(|d| d.as_ref().map(Driver::machine)).collect();
        self.checker.at_end(&self.model.borrow(), &machines)?;
        let m = self.model.borrow();
        let final_primary = (0..m.nodes.len()).find(|&i| m.answering(i) && m.nodes[i].replica_of.is_none());
        let mut faults = sim.faults_fired();
        for (kind, n) in self.scripted.iter() {
            *faults.entry(kind.clone()).or_default() += n;
        }
        let count = |f: fn(&ModelEvent) -> bool| m.events.iter().filter(|e| f(&e.kind)).count() as u64;
        Ok(SimOutcome {
            sim_ms: m.now,
            failovers: count(|e| matches!(e, ModelEvent::Promote { .. })),
            switchovers: count(|e| matches!(e, ModelEvent::Switchover { .. })),
            acked: m.client.acked.len(),
            lost: final_primary.map_or(m.client.acked.len(), |p| m.lost_writes(p)),
            events: m.events.clone(),
            faults,
            persistence: m.nodes.iter().map(|n| n.persistence).collect(),
        })
    }
}
