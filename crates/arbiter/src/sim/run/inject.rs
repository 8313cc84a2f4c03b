//! The faults the scheduler injects each second of the fault window, one
//! method per [`FaultKind`].

use super::fault::FaultKind;
use super::{ALL_AWAY_LATEST_MS, Ev, Run, ms};
use crate::sim::model::{ConfigEdit, Endpoint, LEASE_TTL_MS, ModelEvent, Restart};

impl Run<'_> {
    /// Each second of the fault window, every fault kind may fire.
    pub(super) fn inject(&mut self) {
        let now = self.now();
        for kind in FaultKind::ALL {
            if !kind.injected_each_second() || !self.allowed(kind) || !self.sim.fault(kind.name()) {
                continue;
            }
            self.inject_one(kind);
        }
        if now + 1000 < self.opts.fault_window_ms {
            self.queue.schedule(ms(now + 1000), Ev::Faults);
        }
    }

    /// One fault of kind `kind`, now.
    fn inject_one(&mut self, kind: FaultKind) {
        let now = self.now();
        match kind {
            FaultKind::RedisCrash => self.redis_crash(),
            FaultKind::RedisEmptyRestart => {
                let i = self.node();
                self.model.borrow_mut().crash(i);
                let back = now + 200 + self.sim.below(2300);
                self.queue.schedule(ms(back), Ev::RestartNode(i, Restart::Empty));
            }
            FaultKind::RedisRestartWithData => self.restart_with_data(),
            FaultKind::RedisAuthMismatch => self.auth_mismatch(),
            FaultKind::ArbiterAllAway if now <= ALL_AWAY_LATEST_MS && self.away_until <= now => {
                let kill = self.sim.chance(0.7);
                self.all_away(kill);
            }
            FaultKind::OperatorBadSwitchover => self.bad_switchover(),
            FaultKind::ConfigConflict => self.config_conflict(),
            FaultKind::RedisPause => {
                let i = self.node();
                let mut m = self.model.borrow_mut();
                let until = now + 1000 + self.sim.below(8000);
                m.nodes[i].paused_until = until;
                let node = m.nodes[i].name.clone();
                m.note(ModelEvent::Pause { node, until });
            }
            FaultKind::NetPartition => self.partition(),
            FaultKind::ArbiterPause => {
                let i = self.instance();
                let mut m = self.model.borrow_mut();
                let until = now + LEASE_TTL_MS + 1000 + self.sim.below(5000);
                m.instances[i].paused_until = until;
                m.note(ModelEvent::ArbiterPause { instance: i, until });
            }
            FaultKind::ArbiterCrash => {
                let i = self.instance();
                if self.drivers[i].is_some() {
                    self.crash_instance(i);
                }
            }
            FaultKind::EtcdLeaseRevoke => self.revoke_lease(),
            FaultKind::EtcdUnavailable => {
                let mut m = self.model.borrow_mut();
                m.etcd.available = false;
                m.note(ModelEvent::EtcdUnavailable);
                drop(m);
                let back = now + 1000 + self.sim.below(9000);
                self.queue.schedule(ms(back), Ev::EtcdBack);
            }
            FaultKind::ConfigChange => {
                let check_interval_ms = [500, 1000, 1500][self.sim.below(3) as usize];
                let mut m = self.model.borrow_mut();
                m.config.settings.check_interval_ms = check_interval_ms;
                m.config_version += 1;
                m.note(ModelEvent::ConfigChange { check_interval_ms });
            }
            FaultKind::ClockJump => {
                let i = self.instance();
                let jump = 1000 + self.sim.below(9000);
                let mut m = self.model.borrow_mut();
                m.instances[i].clock_offset_ms += jump;
                m.note(ModelEvent::ClockJump { instance: i, jump });
            }
            FaultKind::OperatorSwitchover => self.switchover_request(),
            // (drawn at the world's call points, and after a promotion; an
            // all-away only early and once at a time)
            FaultKind::ArbiterAllAway | FaultKind::Calls | FaultKind::ArbiterCrashAfterPromote => {}
        }
    }

    /// A node drawn at random.
    fn node(&self) -> usize {
        self.sim.below(self.opts.nodes as u64) as usize
    }

    /// An instance drawn at random.
    fn instance(&self) -> usize {
        self.sim.below(self.opts.instances as u64) as usize
    }

    /// `redis.crash`: a node dies, and mostly comes back 5-30 s later.
    fn redis_crash(&mut self) {
        let i = self.node();
        self.model.borrow_mut().crash(i);
        if self.sim.chance(0.7) {
            let back = self.now() + 5000 + self.sim.below(25_000);
            self.queue.schedule(ms(back), Ev::RestartNode(i, Restart::Kill));
        }
    }

    /// `redis.restart_with_data`: a restart by its persistence mode (a
    /// deploy, an OOM kill): RDB and AOF nodes come back with data.
    fn restart_with_data(&mut self) {
        let i = self.node();
        let how = if self.sim.chance(0.5) {
            Restart::Shutdown
        } else {
            Restart::Kill
        };
        self.model.borrow_mut().stop(i, how);
        let back = self.now() + 200 + self.sim.below(4800);
        self.queue.schedule(ms(back), Ev::RestartNode(i, how));
    }

    /// `redis.auth_mismatch`: `requirepass` changed on one node: arbiter
    /// and the replicas keep the old password.
    fn auth_mismatch(&mut self) {
        let i = self.node();
        let until = self.now() + 3000 + self.sim.below(17_000);
        let mut m = self.model.borrow_mut();
        m.nodes[i].auth_broken_until = until;
        let node = m.nodes[i].name.clone();
        m.note(ModelEvent::AuthMismatch { node, until });
        drop(m);
        self.queue.schedule(ms(until), Ev::AuthFixed(i));
    }

    /// `operator.bad_switchover`: to a node that does not exist, to the
    /// primary itself, or by address.
    fn bad_switchover(&mut self) {
        let sim = self.sim;
        let nodes = self.opts.nodes as u64;
        let mut m = self.model.borrow_mut();
        let recorded = m.etcd.record.as_ref().map_or("r1".to_string(), |r| r.primary.clone());
        let target = match sim.below(3) {
            0 => format!("r{}", nodes + 1 + sim.below(5)),
            1 => recorded,
            _ => m.nodes[sim.below(nodes) as usize].addr.clone(),
        };
        m.note(ModelEvent::BadSwitchoverRequested { target: target.clone() });
        m.switchover_request = Some(target);
    }

    /// `config.conflict`: one host's file edited, the others not.
    fn config_conflict(&mut self) {
        let sim = self.sim;
        let i = self.instance();
        let mut m = self.model.borrow_mut();
        let mut config = m.instances[i]
            .config_override
            .as_ref()
            .map_or_else(|| m.config.clone(), |(c, _)| c.clone());
        let k = sim.below(self.opts.nodes as u64) as usize;
        let edit = match sim.below(4) {
            p @ (0 | 1) => {
                config.nodes[k].priority = p as u32;
                ConfigEdit::Priority {
                    node: config.nodes[k].name.clone(),
                    priority: p as u32,
                }
            }
            2 => {
                let v = [5000, 20_000][sim.below(2) as usize];
                config.settings.stale_after_ms = v;
                ConfigEdit::StaleAfter(v)
            }
            _ => {
                let v = [2000, 5000][sim.below(2) as usize];
                config.settings.down_after_ms = v;
                ConfigEdit::DownAfter(v)
            }
        };
        m.config_version += 1;
        let version = m.config_version;
        m.instances[i].config_override = Some((config, version));
        m.note(ModelEvent::ConfigConflict { instance: i, edit });
    }

    /// `net.partition`: a random side cut off from everyone else, one way
    /// or both, healed 1-15 s later.
    fn partition(&mut self) {
        let sim = self.sim;
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
        m.note(ModelEvent::Partition { side, one_way });
        for e in &edges {
            m.blocked.insert(*e);
        }
        drop(m);
        let heal = self.now() + 1000 + sim.below(14_000);
        self.queue.schedule(ms(heal), Ev::Unblock(edges));
    }

    /// `etcd.lease_revoke`: an instance's lease (its first entry) revoked
    /// early.
    fn revoke_lease(&mut self) {
        let i = self.instance();
        let now = self.now();
        let mut m = self.model.borrow_mut();
        if let Some(&lease) = m.etcd.instance_leases(i).first() {
            m.etcd.revoke(lease);
            m.etcd.note_leader(now);
            m.note(ModelEvent::LeaseRevoked { instance: i });
        }
    }

    /// `operator.switchover`: to a node drawn at random; sometimes its
    /// target is paused as the `FAILOVER` begins (failure 10).
    fn switchover_request(&mut self) {
        let sim = self.sim;
        let target = format!("r{}", 1 + sim.below(self.opts.nodes as u64));
        let mut m = self.model.borrow_mut();
        m.note(ModelEvent::SwitchoverRequested { target: target.clone() });
        m.switchover_request = Some(target);
        if sim.chance(0.2) {
            m.pause_failover_target_ms = Some(1000 + sim.below(8000));
        }
    }
}
