//! One simulated run: 3 arbiter instances against the model, faults during
//! a window, then healing and a settling period, with invariants checked
//! after every step.
//!
//! Each seed draws every node's persistence mode (off, RDB, AOF) and a
//! subset of the fault kinds ([`FAULT_KINDS`], swarm style). A fault
//! profile ([`Profile`]) can instead script the operations of issue 22's
//! trial, so that they happen in every seed.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use rehearse::{EventQueue, Failure, Faulty, Recorder, Sim, Tape};

use super::check::Checker;
use super::model::{Endpoint, Event, LEASE_TTL_MS, Model, Persistence, Restart};
use super::world::InstanceWorld;
use crate::io::{Driver, Stop};
use crate::machine::Output;
use crate::types::{Millis, Settings};

/// The fault kinds a run can inject (`--faults` chooses among them): those
/// before issue 22, then what real operations do.
pub const FAULT_KINDS: &[&str] = &[
    "redis.crash",
    "redis.empty_restart",
    "redis.pause",
    "net.partition",
    "arbiter.pause",
    "arbiter.crash",
    "arbiter.crash_after_promote",
    "etcd.lease_revoke",
    "etcd.unavailable",
    "config.change",
    "clock.jump",
    "operator.switchover",
    "calls",
    // Issue 22: what real operations do.
    "redis.restart_with_data",
    "redis.auth_mismatch",
    "arbiter.all_away",
    "operator.bad_switchover",
    "config.conflict",
];

/// The fault kinds before issue 22 widened the world (tests that must stay
/// clean against a controller without its fixes use them, with every node's
/// persistence off: [`SimOptions::before_issue_22`]): the first ones of
/// [`FAULT_KINDS`].
pub const FAULT_KINDS_BEFORE_ISSUE_22: &[&str] = FAULT_KINDS.split_at(13).0;

/// The fault kinds of [`Profile::Trial`] besides its scripted departure.
pub const TRIAL_FAULTS: &[&str] = &[
    "redis.crash",
    "redis.restart_with_data",
    "redis.auth_mismatch",
    "operator.bad_switchover",
    "operator.switchover",
    "config.conflict",
];

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
    pub fn allows(self, kind: &str) -> bool {
        match self {
            Self::Default => true,
            Self::Trial => TRIAL_FAULTS.contains(&kind),
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
    pub faults: Option<BTreeSet<String>>,
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
            faults: Some(FAULT_KINDS_BEFORE_ISSUE_22.iter().map(|s| s.to_string()).collect()),
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
    /// Nodes whose restart is scheduled past the heal (their primary died
    /// while every instance was away): the heal leaves them down.
    held_down: BTreeSet<usize>,
    /// Faults the run scripted (profiles), by kind.
    scripted: &'a mut BTreeMap<String, u64>,
    /// Faults applied by the run's own events (restarts, heals, returns):
    /// with the fault points fired, what L5 counts as "a new fault".
    world_faults: u64,
    /// L1 after a return: the instances came back at `.0` to a dead
    /// primary `.1` with a replica in sync with it; a promotion is due by
    /// `.2`, unless another fault (count `.3`) intervenes.
    return_watch: Option<(Millis, usize, Millis, u64)>,
}

impl Run<'_> {
    fn allowed(&self, kind: &str) -> bool {
        match &self.opts.faults {
            Some(f) => f.contains(kind),
            None => self.opts.profile.allows(kind),
        }
    }

    fn driver(&self, i: usize, incarnation: u32) -> InstanceDriver {
        let world = InstanceWorld::new(i, incarnation, Rc::clone(&self.model));
        let name = super::model::instance_id(i, incarnation).0;
        let tape = if self.opts.record {
            self.sim.tape_named(&name)
        } else {
            Tape::disabled()
        };
        let faulty_sim = if self.allowed("calls") {
            self.sim.clone()
        } else {
            self.quiet.clone()
        };
        #[cfg(feature = "planted-bugs")]
        let machine = crate::machine::Machine::with_bugs(self.opts.bugs.iter().copied());
        #[cfg(not(feature = "planted-bugs"))]
        let machine = crate::machine::Machine::new();
        Driver::with_machine(Recorder::new(Faulty::new(world, faulty_sim), tape), machine)
    }

    fn now(&self) -> Millis {
        self.model.borrow().now
    }

    fn step_instance(&mut self, i: usize) -> Result<(), Failure> {
        let now = self.now();
        let (paused_until, crashed, offset) = {
            let m = self.model.borrow();
            let inst = &m.instances[i];
            (inst.paused_until, inst.crashed, inst.clock_offset_ms)
        };
        if crashed {
            return Ok(());
        }
        if paused_until > now {
            self.queue.schedule(ms(paused_until), Ev::Instance(i));
            return Ok(());
        }
        let Some(driver) = self.drivers[i].as_mut() else {
            return Ok(());
        };
        if let Some(Output::Wait { until }) = driver.machine().peek_next_message() {
            let local = now + offset;
            if *until > local {
                self.queue.schedule(ms(now + (until - local)), Ev::Instance(i));
                return Ok(());
            }
        }
        let stop = driver.step_once().map_err(|e| {
            Failure::new(format!(
                "S9 machine discipline: arbiter-{} could not step: {e} (seed {}, t={now} ms)",
                i + 1,
                self.sim.seed()
            ))
        })?;
        let output = driver.outputs().last().cloned();
        driver.clear_outputs();
        self.checker.after_step(i, driver.machine(), output.as_ref(), now)?;
        self.model.borrow_mut().note_observations(i, driver.machine());
        let blocked = driver.machine().context().blocked.clone();
        if blocked != self.blocked[i] {
            if let Some(b) = &blocked {
                self.model
                    .borrow_mut()
                    .note(format!("blocked: arbiter-{}: {b:?}", i + 1));
            }
            self.blocked[i] = blocked;
        }
        if stop == Some(Stop::Terminal) {
            return Ok(());
        }
        // The controller crashes right after a promotion, before repointing.
        if matches!(output, Some(Output::Promote { .. }))
            && self.allowed("arbiter.crash_after_promote")
            && self.sim.fault("arbiter.crash_after_promote")
        {
            self.model
                .borrow_mut()
                .note(format!("arbiter crash right after promote: arbiter-{}", i + 1));
            self.crash_instance(i);
            return Ok(());
        }
        let latency = 1 + self.sim.below(5);
        self.queue.schedule(ms(now + latency), Ev::Instance(i));
        Ok(())
    }

    fn crash_instance(&mut self, i: usize) {
        self.drivers[i] = None;
        let mut m = self.model.borrow_mut();
        m.instances[i].crashed = true;
        // What it saw gives the controller no chance any more (S6, S7).
        m.restart_observed.retain(|_, (_, by)| *by != i);
        m.stale_primary_observed.retain(|_, (_, by)| *by != i);
        let what = format!("arbiter crash: arbiter-{}", i + 1);
        m.note(what);
        drop(m);
        let back = self.now() + 1000 + self.sim.below(9000);
        self.queue.schedule(ms(back), Ev::RestartInstance(i));
    }

    fn restart_instance(&mut self, i: usize) {
        if self.now() < self.away_until {
            // Deployed, or its host is gone: back with the others.
            return;
        }
        let incarnation = {
            let mut m = self.model.borrow_mut();
            if !m.instances[i].crashed {
                return;
            }
            m.instances[i].crashed = false;
            m.instances[i].incarnation += 1;
            let what = format!("arbiter restart: arbiter-{}", i + 1);
            m.note(what);
            m.instances[i].incarnation
        };
        self.drivers[i] = Some(self.driver(i, incarnation));
        self.checker.restarted(i);
        let now = self.now();
        self.queue.schedule(ms(now + 1), Ev::Instance(i));
    }

    /// Each second of the fault window, every fault kind may fire.
    fn inject(&mut self) {
        let now = self.now();
        let (nodes, instances) = (self.opts.nodes as u64, self.opts.instances as u64);
        let sim = self.sim;
        for kind in FAULT_KINDS.iter().copied() {
            if kind == "calls" || kind == "arbiter.crash_after_promote" || !self.allowed(kind) || !sim.fault(kind) {
                continue;
            }
            match kind {
                "redis.crash" => {
                    let i = sim.below(nodes) as usize;
                    self.model.borrow_mut().crash(i);
                    if sim.chance(0.7) {
                        let back = now + 5000 + sim.below(25_000);
                        self.queue.schedule(ms(back), Ev::RestartNode(i, Restart::Kill));
                    }
                }
                "redis.empty_restart" => {
                    let i = sim.below(nodes) as usize;
                    self.model.borrow_mut().crash(i);
                    let back = now + 200 + sim.below(2300);
                    self.queue.schedule(ms(back), Ev::RestartNode(i, Restart::Empty));
                }
                "redis.restart_with_data" => {
                    // A restart by its persistence mode (a deploy, an
                    // OOM kill): RDB and AOF nodes come back with data.
                    let i = sim.below(nodes) as usize;
                    let how = if sim.chance(0.5) {
                        Restart::Shutdown
                    } else {
                        Restart::Kill
                    };
                    self.model.borrow_mut().stop(i, how);
                    let back = now + 200 + sim.below(4800);
                    self.queue.schedule(ms(back), Ev::RestartNode(i, how));
                }
                "redis.auth_mismatch" => {
                    // `requirepass` changed on one node: arbiter and the
                    // replicas keep the old password.
                    let i = sim.below(nodes) as usize;
                    let until = now + 3000 + sim.below(17_000);
                    let mut m = self.model.borrow_mut();
                    m.nodes[i].auth_broken_until = until;
                    let what = format!("auth mismatch: {} until t={until}", m.nodes[i].name);
                    m.note(what);
                    drop(m);
                    self.queue.schedule(ms(until), Ev::AuthFixed(i));
                }
                "arbiter.all_away" if now <= ALL_AWAY_LATEST_MS && self.away_until <= now => {
                    let kill = sim.chance(0.7);
                    self.all_away(kill);
                }
                "operator.bad_switchover" => {
                    let mut m = self.model.borrow_mut();
                    let recorded = m.etcd.record.as_ref().map_or("r1".to_string(), |r| r.primary.clone());
                    let target = match sim.below(3) {
                        0 => format!("r{}", nodes + 1 + sim.below(5)),
                        1 => recorded,
                        _ => m.nodes[sim.below(nodes) as usize].addr.clone(),
                    };
                    m.note(format!("operator: bad switchover to {target} requested"));
                    m.switchover_request = Some(target);
                }
                "config.conflict" => {
                    // One host's file edited, the others not.
                    let i = sim.below(instances) as usize;
                    let mut m = self.model.borrow_mut();
                    let mut config = m.instances[i]
                        .config_override
                        .as_ref()
                        .map_or_else(|| m.config.clone(), |(c, _)| c.clone());
                    let k = sim.below(nodes) as usize;
                    let what = match sim.below(4) {
                        0 => {
                            config.nodes[k].priority = 0;
                            format!("{} priority 0", config.nodes[k].name)
                        }
                        1 => {
                            config.nodes[k].priority = 1;
                            format!("{} priority 1", config.nodes[k].name)
                        }
                        2 => {
                            let v = [5000, 20_000][sim.below(2) as usize];
                            config.settings.stale_after_ms = v;
                            format!("stale_after_ms {v}")
                        }
                        _ => {
                            let v = [2000, 5000][sim.below(2) as usize];
                            config.settings.down_after_ms = v;
                            format!("down_after_ms {v}")
                        }
                    };
                    m.config_version += 1;
                    let version = m.config_version;
                    m.instances[i].config_override = Some((config, version));
                    m.note(format!("config conflict: arbiter-{} has {what}", i + 1));
                }
                "redis.pause" => {
                    let i = sim.below(nodes) as usize;
                    let mut m = self.model.borrow_mut();
                    m.nodes[i].paused_until = now + 1000 + sim.below(8000);
                    let what = format!("pause: {} until t={}", m.nodes[i].name, m.nodes[i].paused_until);
                    m.note(what);
                }
                "net.partition" => {
                    let mut everyone: Vec<Endpoint> = (0..self.opts.instances).map(Endpoint::Instance).collect();
                    everyone.extend((0..self.opts.nodes).map(Endpoint::Node));
                    everyone.extend([Endpoint::Etcd, Endpoint::Client]);
                    let side: Vec<Endpoint> = everyone.iter().copied().filter(|_| sim.chance(0.4)).collect();
                    let one_way = sim.chance(0.3);
                    let mut edges = Vec::new();
                    for a in &side {
                        for b in everyone.iter().filter(|b| !side.contains(b)) {
                            edges.push((*a, *b));
                            if !one_way {
                                edges.push((*b, *a));
                            }
                        }
                    }
                    let mut m = self.model.borrow_mut();
                    let what = format!("partition{}: {side:?} cut off", if one_way { " (one-way)" } else { "" });
                    m.note(what);
                    for e in &edges {
                        m.blocked.insert(*e);
                    }
                    drop(m);
                    let heal = now + 1000 + sim.below(14_000);
                    self.queue.schedule(ms(heal), Ev::Unblock(edges));
                }
                "arbiter.pause" => {
                    let i = sim.below(instances) as usize;
                    let mut m = self.model.borrow_mut();
                    m.instances[i].paused_until = now + LEASE_TTL_MS + 1000 + sim.below(5000);
                    let what = format!(
                        "arbiter pause: arbiter-{} until t={}",
                        i + 1,
                        m.instances[i].paused_until
                    );
                    m.note(what);
                }
                "arbiter.crash" => {
                    let i = sim.below(instances) as usize;
                    if self.drivers[i].is_some() {
                        self.crash_instance(i);
                    }
                }
                "etcd.lease_revoke" => {
                    let i = sim.below(instances) as usize;
                    let mut m = self.model.borrow_mut();
                    let prefix = format!("arbiter-{}", i + 1);
                    let lease = m
                        .etcd
                        .entries
                        .iter()
                        .find(|(id, _)| id.0 == prefix || id.0.starts_with(&format!("{prefix}.")))
                        .map(|(_, (_, l))| *l);
                    if let Some(lease) = lease {
                        m.etcd.revoke(lease);
                        m.etcd.note_leader(now);
                        let what = format!("lease revoked early: arbiter-{}", i + 1);
                        m.note(what);
                    }
                }
                "etcd.unavailable" => {
                    let mut m = self.model.borrow_mut();
                    m.etcd.available = false;
                    m.note("etcd unavailable (quorum lost)");
                    drop(m);
                    let back = now + 1000 + sim.below(9000);
                    self.queue.schedule(ms(back), Ev::EtcdBack);
                }
                "config.change" => {
                    let interval = [500, 1000, 1500][sim.below(3) as usize];
                    let mut m = self.model.borrow_mut();
                    m.config.settings.check_interval_ms = interval;
                    m.config_version += 1;
                    m.note(format!("config change: check interval {interval} ms"));
                }
                "clock.jump" => {
                    let i = sim.below(instances) as usize;
                    let jump = 1000 + sim.below(9000);
                    let mut m = self.model.borrow_mut();
                    m.instances[i].clock_offset_ms += jump;
                    m.note(format!("clock jump: arbiter-{} +{jump} ms", i + 1));
                }
                "operator.switchover" => {
                    let target = format!("r{}", 1 + sim.below(nodes));
                    let mut m = self.model.borrow_mut();
                    m.note(format!("operator: switchover to {target} requested"));
                    m.switchover_request = Some(target);
                    if sim.chance(0.2) {
                        m.pause_failover_target_ms = Some(1000 + sim.below(8000));
                    }
                }
                _ => {}
            }
        }
        if now + 1000 < self.opts.fault_window_ms {
            self.queue.schedule(ms(now + 1000), Ev::Faults);
        }
    }

    fn heal(&mut self) {
        self.sim.set_faults_enabled(false);
        let mut m = self.model.borrow_mut();
        m.note("heal: partitions, pauses, etcd, passwords, configurations and crashed processes restored");
        m.connectivity_changed = m.now;
        m.blocked.clear();
        m.etcd.available = true;
        for n in &mut m.nodes {
            n.paused_until = 0;
            n.auth_broken_until = 0;
        }
        // Nodes held down by an `all_away` come back when it says.
        let down: Vec<usize> = (0..m.nodes.len())
            .filter(|&i| !m.nodes[i].up && !self.held_down.contains(&i))
            .collect();
        for i in down {
            m.restart(i, Restart::Kill);
        }
        for inst in &mut m.instances {
            inst.paused_until = 0;
        }
        if m.instances.iter().any(|i| i.config_override.is_some()) {
            for inst in &mut m.instances {
                inst.config_override = None;
            }
            m.config_version += 1;
        }
        drop(m);
        for i in 0..self.opts.instances {
            if self.model.borrow().instances[i].crashed {
                self.restart_instance(i);
            }
        }
    }
}

impl Run<'_> {
    /// Every instance goes away (a deploy stops them all, or their hosts
    /// are lost) for longer than `stale_after_ms`; with `kill_primary` the
    /// primary is killed as they leave and restarts by its persistence
    /// mode, mostly after they are back, sometimes while they are away.
    fn all_away(&mut self, kill_primary: bool) {
        let sim = self.sim;
        let now = self.now();
        let back = now + 12_000 + sim.below(28_001);
        self.away_until = back;
        let graceful = sim.chance(0.5);
        {
            let mut m = self.model.borrow_mut();
            let what = format!(
                "all away: every arbiter instance {} until t={back}",
                if graceful {
                    "stopped (deploy)"
                } else {
                    "lost (hosts down)"
                }
            );
            m.note(what);
        }
        for i in 0..self.opts.instances {
            if self.drivers[i].is_some() {
                self.crash_instance(i);
            }
            if graceful {
                // SIGTERM: each resigns (its lease is revoked).
                let mut m = self.model.borrow_mut();
                let prefix = format!("arbiter-{}", i + 1);
                let leases: Vec<i64> = m
                    .etcd
                    .entries
                    .iter()
                    .filter(|(id, _)| id.0 == prefix || id.0.starts_with(&format!("{prefix}.")))
                    .map(|(_, (_, l))| *l)
                    .collect();
                for lease in leases {
                    m.etcd.revoke(lease);
                }
                m.etcd.note_leader(now);
            }
        }
        self.queue.schedule(ms(back), Ev::Return);
        if !kill_primary {
            return;
        }
        let p = {
            let m = self.model.borrow();
            let recorded = m
                .etcd
                .record
                .as_ref()
                .and_then(|r| m.nodes.iter().position(|n| n.name == r.primary));
            recorded.or_else(|| (0..m.nodes.len()).find(|&i| m.nodes[i].up && m.nodes[i].replica_of.is_none()))
        };
        let Some(p) = p else { return };
        let how = if sim.chance(0.8) {
            Restart::Kill
        } else {
            Restart::Shutdown
        };
        self.model.borrow_mut().stop(p, how);
        let restart_at = if sim.chance(0.7) {
            back + 500 + sim.below(19_500)
        } else {
            now + 1000 + sim.below(back - now - 1000)
        };
        self.held_down.insert(p);
        self.queue.schedule(ms(restart_at), Ev::RestartNode(p, how));
    }

    /// The faults so far (fault points fired and the run's own).
    fn fault_count(&self) -> u64 {
        self.world_faults + self.sim.faults_fired().values().sum::<u64>()
    }

    /// The instances are back: if the recorded primary is down and a
    /// replica was in sync with it when it died, a promotion is due (L1
    /// after a return; Sentinel counts the primary's down time into the
    /// staleness allowance, and so must a controller arriving late).
    fn watch_return(&mut self, now: Millis) {
        if !self.opts.issue_22_invariants {
            return;
        }
        let m = self.model.borrow();
        let Some(p) = m
            .etcd
            .record
            .as_ref()
            .and_then(|r| m.nodes.iter().position(|n| n.name == r.primary))
        else {
            return;
        };
        let dead = &m.nodes[p];
        let max_lag = m.config.settings.max_lag_bytes as usize;
        // (an empty replica is no candidate while another node holds data:
        // S5, data)
        let data_elsewhere = (0..m.nodes.len()).any(|r| r != p && m.answering(r) && !m.nodes[r].log.is_empty());
        // (nor one lagging a node that answers: by offset on its own
        // history, by keys on another, one back from disk claiming primary,
        // say: S5's lag rule)
        let ahead_elsewhere = |r: usize| {
            (0..m.nodes.len()).any(|o| {
                let (a, b) = (&m.nodes[o], &m.nodes[r]);
                o != p
                    && o != r
                    && m.answering(o)
                    && if a.replid == b.replid {
                        m.offset(o) > m.offset(r) + max_lag as u64
                    } else {
                        a.log.len() > b.log.len()
                    }
            })
        };
        // (and the leader can tell: a node that does not answer may have
        // stayed linked to the primary longer and hold writes the others
        // miss, so the replicas' lost links say nothing of when it died)
        let all_answer = (0..m.nodes.len()).all(|r| r == p || m.answering(r));
        let in_sync = (0..m.nodes.len()).any(|r| {
            let n = &m.nodes[r];
            r != p
                && m.answering(r)
                && n.replica_of.as_deref() == Some(dead.addr.as_str())
                && n.log.len() + max_lag >= dead.log.len()
                && dead.log.starts_with(&n.log)
                && !(n.log.is_empty() && data_elsewhere)
                && !ahead_elsewhere(r)
        });
        if dead.up || !in_sync || !all_answer {
            return;
        }
        let s = &m.config.settings;
        // Their leases ran out long ago (away > TTL): an election at once,
        // then down-after from the first failed poll.
        let due = now + s.down_after_ms + 2 * s.check_interval_ms + super::check::FAILOVER_BOUND_MS;
        drop(m);
        let faults = self.fault_count();
        self.return_watch = Some((now, p, due, faults));
    }

    /// L1 after a return (see [`Run::watch_return`]).
    fn check_return(&mut self, now: Millis) -> Result<(), Failure> {
        let Some((back, p, due, faults)) = self.return_watch else {
            return Ok(());
        };
        let m = self.model.borrow();
        let promoted = m
            .events
            .iter()
            .rev()
            .take_while(|e| e.at >= back)
            .any(|e| e.what.starts_with("promote: "));
        // (or the record moved to a node already serving as primary: one
        // back from its AOF, say, needs no REPLICAOF NO ONE)
        let moved = m.etcd.record.as_ref().is_some_and(|r| {
            m.nodes
                .iter()
                .position(|n| n.name == r.primary)
                .is_some_and(|i| i != p && m.answering(i) && m.nodes[i].replica_of.is_none())
        });
        if promoted || moved || m.nodes[p].up {
            drop(m);
            self.return_watch = None;
            return Ok(());
        }
        if now < due {
            return Ok(());
        }
        drop(m);
        self.return_watch = None;
        if self.fault_count() != faults {
            return Ok(()); // something else happened meanwhile: no fair verdict
        }
        let m = self.model.borrow();
        Err(Failure::new(format!(
            "L1 eventual failover: the instances came back at t={back} ms to {} down with a replica in sync with it; no promotion by t={due} ms (seed {}, t={now} ms)",
            m.nodes[p].name,
            self.sim.seed()
        )))
    }

    /// The liveness probe (L1), halfway through the settling period: if
    /// the group converged (one primary, every other node linked to it,
    /// the record naming it), its primary is killed for good.
    fn probe(&mut self) -> Option<(usize, Millis)> {
        let mut m = self.model.borrow_mut();
        let primaries: Vec<usize> = (0..m.nodes.len())
            .filter(|&i| m.answering(i) && m.nodes[i].replica_of.is_none())
            .collect();
        let &[p] = primaries.as_slice() else { return None };
        let addr = m.nodes[p].addr.clone();
        let converged = (0..m.nodes.len())
            .filter(|&i| i != p)
            .all(|i| m.nodes[i].replica_of.as_deref() == Some(addr.as_str()) && m.nodes[i].link_up);
        let recorded = m.etcd.record.as_ref().is_some_and(|r| r.primary == m.nodes[p].name);
        if !converged || !recorded || m.nodes.len() < 2 {
            return None;
        }
        m.crash(p);
        let what = format!("probe: {} killed for good (L1)", m.nodes[p].name);
        m.note(what);
        Some((p, m.now))
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
    {
        // Each node's persistence mode, then some data before anything
        // happens.
        let mut m = model.borrow_mut();
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
        let what: Vec<String> = m
            .nodes
            .iter()
            .map(|n| format!("{} {}", n.name, n.persistence.name()))
            .collect();
        m.note(format!("persistence: {}", what.join(", ")));
        for _ in 0..20 {
            m.client_write();
        }
        m.advance(1);
    }
    let mut run = Run {
        sim,
        opts,
        model,
        drivers: Vec::new(),
        blocked: vec![None; opts.instances],
        queue: EventQueue::new(),
        checker: Checker::new(sim.seed(), opts.instances).with_issue_22_invariants(opts.issue_22_invariants),
        quiet: Sim::from_choices(sim.seed(), Vec::new()),
        away_until: 0,
        held_down: BTreeSet::new(),
        scripted,
        world_faults: 0,
        return_watch: None,
    };
    run.drivers = (0..opts.instances).map(|i| Some(run.driver(i, 0))).collect();
    for i in 0..opts.instances {
        let start = 1 + sim.below(1000);
        run.queue.schedule(ms(start), Ev::Instance(i));
    }
    run.queue.schedule(ms(2), Ev::Client);
    run.queue.schedule(ms(5000), Ev::Faults);
    if opts.profile == Profile::Trial {
        let at = 8000 + sim.below(12_001);
        run.queue.schedule(ms(at), Ev::AllAway);
    }
    run.queue.schedule(ms(opts.fault_window_ms), Ev::Heal);
    let end = opts.fault_window_ms + opts.settle_ms;
    run.queue
        .schedule(ms(opts.fault_window_ms + opts.settle_ms / 2), Ev::Probe);
    run.queue.schedule(ms(end), Ev::End);
    let mut probe = None;
    while let Some((at, ev)) = run.queue.pop_advancing(sim) {
        let now = at.as_millis() as Millis;
        run.model.borrow_mut().advance(now);
        match ev {
            Ev::Instance(i) => run.step_instance(i)?,
            Ev::Client => {
                run.model.borrow_mut().client_write();
                if now + 50 < end {
                    run.queue.schedule(ms(now + 50), Ev::Client);
                }
            }
            Ev::Faults => run.inject(),
            Ev::RestartNode(i, how) => {
                run.world_faults += 1;
                run.held_down.remove(&i);
                let mut m = run.model.borrow_mut();
                // A restart scheduled by an earlier fault does not bring
                // back the primary the liveness probe killed for good.
                let for_good = probe.is_some_and(|(p, _)| p == i);
                if !m.nodes[i].up && !for_good {
                    m.restart(i, how);
                }
            }
            Ev::RestartInstance(i) => {
                run.world_faults += 1;
                run.restart_instance(i);
            }
            Ev::AllAway => {
                *run.scripted.entry("arbiter.all_away".into()).or_default() += 1;
                run.all_away(true);
            }
            Ev::Return => {
                run.world_faults += 1;
                run.model
                    .borrow_mut()
                    .note("all back: the instances that were away start again");
                for i in 0..opts.instances {
                    if run.model.borrow().instances[i].crashed {
                        run.restart_instance(i);
                    }
                }
                run.watch_return(now);
            }
            Ev::AuthFixed(i) => {
                run.world_faults += 1;
                let mut m = run.model.borrow_mut();
                if m.nodes[i].auth_broken_until <= now && m.nodes[i].auth_broken_until > 0 {
                    m.nodes[i].auth_broken_until = 0;
                    m.connectivity_changed = now;
                    let what = format!("auth fixed: {}", m.nodes[i].name);
                    m.note(what);
                }
            }
            Ev::Unblock(edges) => {
                run.world_faults += 1;
                let mut m = run.model.borrow_mut();
                for e in &edges {
                    m.blocked.remove(e);
                }
                m.connectivity_changed = now;
                m.note("partition healed");
            }
            Ev::EtcdBack => {
                run.world_faults += 1;
                let mut m = run.model.borrow_mut();
                m.etcd.available = true;
                m.connectivity_changed = now;
                m.note("etcd available again");
            }
            Ev::Heal => {
                run.world_faults += 1;
                run.heal();
            }
            Ev::Probe => {
                run.world_faults += 1;
                probe = run.probe();
            }
            Ev::End => break,
        }
        run.checker.after_event(&run.model.borrow())?;
        run.check_return(now)?;
        let world_faults = run.world_faults;
        run.checker.after_promotions(&run.model.borrow(), || {
            world_faults + sim.faults_fired().values().sum::<u64>()
        })?;
    }
    if let Some((killed, at)) = probe {
        run.checker.after_probe(&run.model.borrow(), killed, at)?;
    }
    let machines: Vec<_> = run.drivers.iter().map(|d| d.as_ref().map(Driver::machine)).collect();
    run.checker.at_end(&run.model.borrow(), &machines)?;
    let m = run.model.borrow();
    let final_primary = (0..m.nodes.len()).find(|&i| m.answering(i) && m.nodes[i].replica_of.is_none());
    let mut faults = sim.faults_fired();
    for (kind, n) in run.scripted.iter() {
        *faults.entry(kind.clone()).or_default() += n;
    }
    Ok(SimOutcome {
        sim_ms: m.now,
        failovers: m.events.iter().filter(|e| e.what.starts_with("promote:")).count() as u64,
        switchovers: m.events.iter().filter(|e| e.what.starts_with("switchover:")).count() as u64,
        acked: m.client.acked.len(),
        lost: final_primary.map_or(m.client.acked.len(), |p| m.lost_writes(p)),
        events: m.events.clone(),
        faults,
        persistence: m.nodes.iter().map(|n| n.persistence).collect(),
    })
}
