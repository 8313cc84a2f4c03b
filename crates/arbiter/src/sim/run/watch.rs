//! The run's own liveness watches: L1 after the instances return to a dead
//! primary, and the liveness probe that kills a converged group's primary
//! for good.

use rehearse::Failure;

use super::{ReturnWatch, Run};
use crate::sim::check::FAILOVER_BOUND_MS;
use crate::sim::model::{Endpoint, ModelEvent};
use crate::types::Millis;

impl Run<'_> {
    /// The instances are back: if the recorded primary is down and a
    /// replica was in sync with it when it died, a promotion is due (L1
    /// after a return; Sentinel counts the primary's down time into the
    /// staleness allowance, and so must a controller arriving late).
    pub(super) fn watch_return(&mut self, now: Millis) {
        if !self.opts.issue_22_invariants {
            return;
        }
        let m = self.model.borrow();
        let Some(p) = m.recorded_primary() else {
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
        // (a node refusing arbiter's password does not answer it either:
        // seed 127773)
        let all_answer = (0..m.nodes.len()).all(|r| r == p || (m.answering(r) && !m.auth_broken(r)));
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
        // (and some instance runs, not paused, and reaches etcd and every
        // other node both ways: instances cut off from them can neither
        // lead nor promote; seed 13784: a partition isolated the instances
        // with the dead primary; seed 21319: every instance back was
        // paused, or refused its configuration)
        let connected = (0..m.instances.len()).any(|i| {
            let me = Endpoint::Instance(i);
            m.instances[i].paused_until <= m.now
                && !m.instances[i].crashed
                && !m.instances[i].refused
                && m.etcd.available
                && m.reaches_both(me, Endpoint::Etcd)
                && (0..m.nodes.len()).all(|r| r == p || m.reaches_both(me, Endpoint::Node(r)))
        });
        if dead.up || !in_sync || !all_answer || !connected {
            return;
        }
        let s = &m.config.settings;
        // Their leases ran out long ago (away > TTL): an election at once,
        // then down-after from the first failed poll.
        let due = now + s.down_after_ms + 2 * s.check_interval_ms + FAILOVER_BOUND_MS;
        drop(m);
        let faults = self.fault_count();
        self.return_watch = Some(ReturnWatch {
            back: now,
            primary: p,
            due,
            faults,
        });
    }

    /// L1 after a return (see [`Run::watch_return`]).
    pub(super) fn check_return(&mut self, now: Millis) -> Result<(), Failure> {
        let Some(ReturnWatch {
            back,
            primary: p,
            due,
            faults,
        }) = self.return_watch
        else {
            return Ok(());
        };
        let m = self.model.borrow();
        let promoted = m
            .events
            .iter()
            .rev()
            .take_while(|e| e.at >= back)
            .any(|e| matches!(e.kind, ModelEvent::Promote { .. }));
        // (or the record moved to a node already serving as primary: one
        // back from its AOF, say, needs no REPLICAOF NO ONE)
        let moved = m
            .recorded_primary()
            .is_some_and(|i| i != p && m.answering(i) && m.nodes[i].replica_of.is_none());
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

    /// The running instance etcd names leader, if any.
    pub(super) fn leader_index(&self) -> Option<usize> {
        let m = self.model.borrow();
        let leader = m.etcd.leader()?;
        (0..m.instances.len()).find(|&i| {
            self.drivers[i].is_some()
                && crate::sim::model::instance_id(i, m.instances[i].incarnation) == leader.instance
        })
    }

    /// The liveness probe (L1), halfway through the settling period: if
    /// the group converged (one primary, every other node linked to it,
    /// the record naming it), its primary is killed for good.
    pub(super) fn probe(&mut self) -> Option<(usize, Millis)> {
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
        let node = m.nodes[p].name.clone();
        m.note(ModelEvent::Probe { node });
        Some((p, m.now))
    }
}
