//! The arbiter instances in a run: each one's driver over its own world,
//! its steps (checked after each), its crashes and restarts, and every
//! instance going away at once.

use std::rc::Rc;

use rehearse::{Failure, Faulty, Recorder, Tape};

use super::fault::FaultKind;
use super::move_counters;
use super::{Ev, InstanceDriver, Run, ms};
use crate::io::{Driver, Stop};
use crate::machine::{Output, State, TRANSITIONS};
use crate::sim::model::{ModelEvent, Restart, instance_id};
use crate::sim::world::InstanceWorld;

impl Run<'_> {
    /// A driver for incarnation `incarnation` of instance `i`.
    pub(super) fn driver(&self, i: usize, incarnation: u32) -> InstanceDriver {
        let world = InstanceWorld::new(i, incarnation, Rc::clone(&self.model));
        let name = instance_id(i, incarnation).0;
        let tape = if self.opts.record {
            self.sim.tape_named(&name)
        } else {
            Tape::disabled()
        };
        let faulty_sim = if self.allowed(FaultKind::Calls) {
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

    /// Instance `i`'s turn: it steps if it runs and its wait is over, and
    /// the checker looks at what it did.
    pub(super) fn step_instance(&mut self, i: usize) -> Result<(), Failure> {
        let now = self.now();
        let (paused_until, crashed, offset, stopping) = {
            let m = self.model.borrow();
            let inst = &m.instances[i];
            (inst.paused_until, inst.crashed, inst.clock_offset_ms, inst.stopping)
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
            // A SIGTERM wakes the wait at once.
            if *until > local && !stopping {
                self.queue.schedule(ms(now + (until - local)), Ev::Instance(i));
                return Ok(());
            }
        }
        // (the plan a record write is for: the step answers the write and
        // moves on, so it is read before)
        let publishing = match driver.machine().state() {
            State::Publishing { plan } => Some(plan.clone()),
            _ => None,
        };
        let stop = driver.step_once().map_err(|e| {
            Failure::new(format!(
                "S9 machine discipline: arbiter-{} could not step: {e} (seed {}, t={now} ms)",
                i + 1,
                self.sim.seed()
            ))
        })?;
        if let Some((from, input, to)) = driver.last_move() {
            // Counted as it is taken, so that coverage-guided steering
            // knows the moment a move was first made (and forks there).
            if let Some(k) = TRANSITIONS.iter().position(|t| *t == (from, input, to)) {
                self.sim.count(&move_counters()[k], 1);
            }
        }
        self.explored.after_step(i, driver.machine(), driver.last_move());
        let output = driver.outputs().last().cloned();
        driver.clear_outputs();
        if let (Some(Output::Publish { .. }), Some(plan)) = (&output, &publishing) {
            self.checker.record_written_for(driver.machine(), plan, now);
        }
        self.after_step(i, output.as_ref(), now)?;
        if stop == Some(Stop::Terminal) {
            // `Stopped` or `Refused` (the checker failed the run on
            // `Failure` and on a refusal without a reason): the process
            // exits.
            self.exit_instance(i);
            return Ok(());
        }
        // The controller crashes right after a promotion, before repointing.
        let kind = FaultKind::ArbiterCrashAfterPromote;
        if matches!(output, Some(Output::Promote { .. })) && self.allowed(kind) && self.sim.fault(kind.name()) {
            self.model
                .borrow_mut()
                .note(ModelEvent::ArbiterCrashAfterPromote { instance: i });
            self.crash_instance(i);
            return Ok(());
        }
        let latency = 1 + self.sim.below(5);
        self.queue.schedule(ms(now + latency), Ev::Instance(i));
        Ok(())
    }

    /// The checker's look at instance `i`'s step, what it now knows, and
    /// why it says it cannot act (noted on change).
    fn after_step(&mut self, i: usize, output: Option<&Output>, now: u64) -> Result<(), Failure> {
        let Some(driver) = self.drivers[i].as_ref() else {
            return Ok(());
        };
        let machine = driver.machine();
        self.checker.after_step(i, machine, output, now)?;
        self.checker.observe_leader_views(i, &self.model.borrow(), machine);
        let blocked = machine.context().blocked.clone();
        if blocked != self.blocked[i] {
            if let Some(why) = &blocked {
                let why = why.clone();
                self.model.borrow_mut().note(ModelEvent::Blocked { instance: i, why });
            }
            self.blocked[i] = blocked;
        }
        Ok(())
    }

    /// Instance `i` gets SIGTERM (a deploy stops it): it resigns at its
    /// next wait, then exits.
    pub(super) fn sigterm_instance(&mut self, i: usize) {
        let mut m = self.model.borrow_mut();
        if m.instances[i].crashed || m.instances[i].stopping {
            return;
        }
        m.instances[i].stopping = true;
        m.note(ModelEvent::ArbiterSigterm { instance: i });
        let now = m.now;
        drop(m);
        // A running instance wakes from its wait; a paused one when it
        // resumes (its step reschedules itself).
        self.queue.schedule(ms(now), Ev::Instance(i));
    }

    /// Instance `i`'s machine stopped (after a SIGTERM) or refused to
    /// start: its process exits, and is started again 1-10 s later (by
    /// the deploy; a refused one once the operator fixed its file, 2-20 s
    /// later), or with the others when every instance is away.
    fn exit_instance(&mut self, i: usize) {
        let refused = self.drivers[i]
            .as_ref()
            .is_some_and(|d| matches!(d.machine().state(), crate::machine::State::Refused { .. }));
        self.drivers[i] = None;
        self.checker.instance_crashed(i);
        let mut m = self.model.borrow_mut();
        m.instances[i].crashed = true;
        m.instances[i].refused = refused;
        m.note(ModelEvent::ArbiterExit { instance: i, refused });
        drop(m);
        let back = if refused {
            self.now() + 2000 + self.sim.below(18_000)
        } else {
            self.now() + 1000 + self.sim.below(9000)
        };
        self.queue.schedule(ms(back), Ev::RestartInstance(i));
    }

    /// Instance `i`'s process dies; it comes back 1-10 s later.
    pub(super) fn crash_instance(&mut self, i: usize) {
        self.drivers[i] = None;
        self.checker.instance_crashed(i);
        let mut m = self.model.borrow_mut();
        m.instances[i].crashed = true;
        m.note(ModelEvent::ArbiterCrash { instance: i });
        drop(m);
        let back = self.now() + 1000 + self.sim.below(9000);
        self.queue.schedule(ms(back), Ev::RestartInstance(i));
    }

    /// Instance `i`'s process starts again, as a new incarnation (unless
    /// every instance is away: then it comes back with the others).
    pub(super) fn restart_instance(&mut self, i: usize) {
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
            m.instances[i].stopping = false;
            if std::mem::take(&mut m.instances[i].refused) {
                // The operator fixed the file that named a cluster-mode
                // node before starting it again.
                m.instances[i].config_override = None;
                m.config_version += 1;
            }
            m.instances[i].incarnation += 1;
            m.note(ModelEvent::ArbiterRestart { instance: i });
            m.instances[i].incarnation
        };
        self.drivers[i] = Some(self.driver(i, incarnation));
        self.explored.restarted(i);
        self.checker.restarted(i);
        let now = self.now();
        self.queue.schedule(ms(now + 1), Ev::Instance(i));
    }

    /// A deploy's return may ship one host a bad file (three times in ten):
    /// one node's address replaced by a cluster-mode server's. Only an
    /// instance whose process has exited gets it, so that it is read at
    /// start, where arbiter checks every node for cluster mode and
    /// refuses.
    pub(super) fn bad_deploy(&mut self) {
        let sim = self.sim;
        if !self.deploy || !sim.chance(0.3) {
            return;
        }
        let i = sim.below(self.opts.instances as u64) as usize;
        let k = sim.below(self.opts.nodes as u64) as usize;
        let mut m = self.model.borrow_mut();
        if !m.instances[i].crashed {
            return;
        }
        let mut config = m.config.clone();
        let addr = super::super::model::CLUSTER_NODE_ADDR.to_string();
        config.nodes[k].addr = addr.clone();
        let node = config.nodes[k].name.clone();
        m.config_version += 1;
        let version = m.config_version;
        m.instances[i].config_override = Some((config, version));
        m.note(ModelEvent::BadDeploy {
            instance: i,
            node,
            addr,
        });
    }

    /// Every instance goes away (a deploy stops them all, or their hosts
    /// are lost) for longer than `stale_after_ms`; with `kill_primary` the
    /// primary is killed as they leave and restarts by its persistence
    /// mode, mostly after they are back, sometimes while they are away.
    pub(super) fn all_away(&mut self, kill_primary: bool) {
        let sim = self.sim;
        let now = self.now();
        let back = now + 12_000 + sim.below(28_001);
        self.away_until = back;
        let graceful = sim.chance(0.5);
        self.deploy = graceful;
        self.model.borrow_mut().note(ModelEvent::AllAway { graceful, back });
        for i in 0..self.opts.instances {
            if self.drivers[i].is_some() {
                if graceful {
                    // A deploy: SIGTERM; each resigns at its next wait
                    // (its lease is revoked) and exits.
                    self.sigterm_instance(i);
                } else {
                    self.crash_instance(i);
                }
            }
        }
        self.queue.schedule(ms(back), Ev::Return);
        if !kill_primary {
            return;
        }
        let p = {
            let m = self.model.borrow();
            m.recorded_primary()
                .or_else(|| (0..m.nodes.len()).find(|&i| m.nodes[i].up && m.nodes[i].replica_of.is_none()))
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
}
