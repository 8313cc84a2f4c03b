//! One simulated run: 3 arbiter instances against the model, faults during
//! a window, then healing and a settling period, with invariants checked
//! after every step.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use rehearse::{EventQueue, Failure, Faulty, Recorder, Sim, Tape};

use super::check::Checker;
use super::model::{Endpoint, Event, LEASE_TTL_MS, Model};
use super::world::InstanceWorld;
use crate::io::{Driver, Stop};
use crate::machine::Output;
use crate::types::{Millis, Settings};

/// The fault kinds a run can inject (`--faults` chooses among them).
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
];

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
    /// Fault points that fired, and how often.
    pub faults: BTreeMap<String, u64>,
}

type InstanceDriver = Driver<Recorder<Faulty<InstanceWorld>>>;

#[derive(Debug)]
enum Ev {
    Instance(usize),
    Client,
    Faults,
    RestartNode(usize),
    RestartInstance(usize),
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
}

impl Run<'_> {
    fn allowed(&self, kind: &str) -> bool {
        self.opts.faults.as_ref().is_none_or(|f| f.contains(kind))
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
        let machine = crate::machine::Machine::with_bugs(self.opts.bugs.iter().copied());
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
                        self.queue.schedule(ms(back), Ev::RestartNode(i));
                    }
                }
                "redis.empty_restart" => {
                    let i = sim.below(nodes) as usize;
                    self.model.borrow_mut().crash(i);
                    let back = now + 200 + sim.below(2300);
                    self.queue.schedule(ms(back), Ev::RestartNode(i));
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
        m.note("heal: partitions, pauses, etcd and crashed processes restored");
        m.connectivity_changed = m.now;
        m.blocked.clear();
        m.etcd.available = true;
        for n in &mut m.nodes {
            n.paused_until = 0;
        }
        let down: Vec<usize> = (0..m.nodes.len()).filter(|&i| !m.nodes[i].up).collect();
        for i in down {
            m.restart_empty(i);
        }
        for inst in &mut m.instances {
            inst.paused_until = 0;
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

/// Runs one seed. `Err` is the first invariant violated.
pub fn run(sim: &Sim, opts: &SimOptions) -> Result<SimOutcome, Failure> {
    run_with_timeline(sim, opts).0
}

/// Runs one seed and also returns the model's timeline up to the end or to
/// the violation.
pub fn run_with_timeline(sim: &Sim, opts: &SimOptions) -> (Result<SimOutcome, Failure>, Vec<Event>) {
    let model = Rc::new(RefCell::new(Model::with_config(
        opts.nodes,
        1,
        opts.instances,
        settings(),
    )));
    let result = run_model(sim, opts, Rc::clone(&model));
    let events = model.borrow().events.clone();
    (result, events)
}

fn run_model(sim: &Sim, opts: &SimOptions, model: Rc<RefCell<Model>>) -> Result<SimOutcome, Failure> {
    {
        // Some data before anything happens.
        let mut m = model.borrow_mut();
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
        checker: Checker::new(sim.seed(), opts.instances),
        quiet: Sim::from_choices(sim.seed(), Vec::new()),
    };
    run.drivers = (0..opts.instances).map(|i| Some(run.driver(i, 0))).collect();
    for i in 0..opts.instances {
        let start = 1 + sim.below(1000);
        run.queue.schedule(ms(start), Ev::Instance(i));
    }
    run.queue.schedule(ms(2), Ev::Client);
    run.queue.schedule(ms(5000), Ev::Faults);
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
            Ev::RestartNode(i) => {
                let mut m = run.model.borrow_mut();
                if !m.nodes[i].up {
                    m.restart_empty(i);
                }
            }
            Ev::RestartInstance(i) => run.restart_instance(i),
            Ev::Unblock(edges) => {
                let mut m = run.model.borrow_mut();
                for e in &edges {
                    m.blocked.remove(e);
                }
                m.connectivity_changed = now;
                m.note("partition healed");
            }
            Ev::EtcdBack => {
                let mut m = run.model.borrow_mut();
                m.etcd.available = true;
                m.connectivity_changed = now;
                m.note("etcd available again");
            }
            Ev::Heal => run.heal(),
            Ev::Probe => probe = run.probe(),
            Ev::End => break,
        }
        run.checker.after_event(&run.model.borrow())?;
    }
    if let Some((killed, at)) = probe {
        run.checker.after_probe(&run.model.borrow(), killed, at)?;
    }
    let machines: Vec<_> = run.drivers.iter().map(|d| d.as_ref().map(Driver::machine)).collect();
    run.checker.at_end(&run.model.borrow(), &machines)?;
    let m = run.model.borrow();
    let final_primary = (0..m.nodes.len()).find(|&i| m.answering(i) && m.nodes[i].replica_of.is_none());
    Ok(SimOutcome {
        sim_ms: m.now,
        failovers: m.events.iter().filter(|e| e.what.starts_with("promote:")).count() as u64,
        switchovers: m.events.iter().filter(|e| e.what.starts_with("switchover:")).count() as u64,
        acked: m.client.acked.len(),
        lost: final_primary.map_or(m.client.acked.len(), |p| m.lost_writes(p)),
        events: m.events.clone(),
        faults: sim.faults_fired(),
    })
}
