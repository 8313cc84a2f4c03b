//! The scheduler's events besides instance steps and injected faults: the
//! client's writes, scheduled restarts and returns, healed faults, the
//! heal at the end of the fault window and the liveness probe.

use rehearse::Failure;

use super::{Ev, Run, ms};
use crate::sim::model::{ModelEvent, Restart};
use crate::types::Millis;

impl Run<'_> {
    /// Handles one event (all but `End`) at `now`.
    pub(super) fn handle(&mut self, ev: Ev, now: Millis) -> Result<(), Failure> {
        let end = self.opts.fault_window_ms + self.opts.settle_ms;
        match ev {
            Ev::Instance(i) => self.step_instance(i)?,
            Ev::Client => {
                self.model.borrow_mut().client_write();
                if now + 50 < end {
                    self.queue.schedule(ms(now + 50), Ev::Client);
                }
            }
            Ev::Faults => self.inject(),
            Ev::RestartNode(i, how) => {
                self.world_faults += 1;
                self.held_down.remove(&i);
                // A restart scheduled by an earlier fault does not bring
                // back the primary the liveness probe killed for good.
                let for_good = self.probe.is_some_and(|(p, _)| p == i);
                let mut m = self.model.borrow_mut();
                if !m.nodes[i].up && !for_good {
                    m.restart(i, how);
                }
            }
            Ev::RestartInstance(i) => {
                self.world_faults += 1;
                self.restart_instance(i);
            }
            Ev::AllAway => {
                *self.scripted.entry("arbiter.all_away".into()).or_default() += 1;
                self.all_away(true);
            }
            Ev::Return => {
                self.world_faults += 1;
                self.model.borrow_mut().note(ModelEvent::AllBack);
                self.bad_deploy();
                self.restart_crashed();
                self.watch_return(now);
            }
            Ev::AuthFixed(i) => {
                self.world_faults += 1;
                let mut m = self.model.borrow_mut();
                if m.nodes[i].auth_broken_until <= now && m.nodes[i].auth_broken_until > 0 {
                    m.nodes[i].auth_broken_until = 0;
                    m.connectivity_changed = now;
                    let node = m.nodes[i].name.clone();
                    m.note(ModelEvent::AuthFixed { node });
                }
            }
            Ev::Unblock(edges) => {
                self.world_faults += 1;
                let mut m = self.model.borrow_mut();
                for e in &edges {
                    m.blocked.remove(e);
                }
                m.connectivity_changed = now;
                m.note(ModelEvent::PartitionHealed);
            }
            Ev::EtcdBack => {
                self.world_faults += 1;
                let mut m = self.model.borrow_mut();
                m.etcd.available = true;
                m.connectivity_changed = now;
                m.note(ModelEvent::EtcdBack);
            }
            Ev::Heal => {
                self.world_faults += 1;
                self.heal();
            }
            Ev::Probe => {
                self.world_faults += 1;
                self.probe = self.probe();
                // In half the runs the leader dies with the primary (issue
                // 19): a follower must depose it and fail over as fast.
                if self.probe.is_some() && self.sim.coin() {
                    if let Some(i) = self.leader_index() {
                        self.crash_instance(i);
                        self.probe_leader = true;
                    }
                }
            }
            Ev::End => {}
        }
        Ok(())
    }

    /// Every crashed instance starts again.
    fn restart_crashed(&mut self) {
        for i in 0..self.opts.instances {
            if self.model.borrow().instances[i].crashed {
                self.restart_instance(i);
            }
        }
    }

    /// The end of the fault window: faults stop and everything is restored.
    fn heal(&mut self) {
        self.sim.set_faults_enabled(false);
        let mut m = self.model.borrow_mut();
        m.note(ModelEvent::Heal);
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
        self.restart_crashed();
    }
}
