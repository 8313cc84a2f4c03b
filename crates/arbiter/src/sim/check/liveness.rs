//! The liveness invariants: L5 after every event, L1 after the probe,
//! L2 and L4 once the run healed and settled.

use rehearse::Failure;

use super::{Checker, FAILOVER_BOUND_MS, LEADER_LOSS_BOUND_MS, MAX_PROMOTIONS_WITHOUT_FAULT, fail};
use crate::machine::Machine;
use crate::sim::model::{Event, Model, ModelEvent};
use crate::types::Millis;

/// A promotion, or a completed switchover.
fn promotes(e: &Event) -> bool {
    matches!(e.kind, ModelEvent::Promote { .. } | ModelEvent::Switchover { .. })
}

impl Checker {
    /// After any event: L5, no more than [`MAX_PROMOTIONS_WITHOUT_FAULT`]
    /// promotions (or completed switchovers) without a new fault in
    /// between. `faults` counts the faults so far; it is asked only when a
    /// promotion happened.
    pub fn after_promotions(&mut self, m: &Model, faults: impl FnOnce() -> u64) -> Result<(), Failure> {
        if !self.issue_22 {
            return Ok(());
        }
        let new: Vec<&Event> = m
            .events
            .iter()
            .skip(self.flap_events_seen)
            .filter(|e| promotes(e))
            .collect();
        self.flap_events_seen = m.events.len();
        if new.is_empty() {
            return Ok(());
        }
        let count = faults();
        if count != self.flap_faults {
            self.flap_faults = count;
            self.flaps.clear();
        }
        self.flaps.extend(new.into_iter().cloned());
        if self.flaps.len() > MAX_PROMOTIONS_WITHOUT_FAULT {
            let list: Vec<String> = self.flaps.iter().map(|e| format!("t={}: {}", e.at, e.what())).collect();
            return Err(fail(
                "L5 no endless flapping",
                self.seed,
                m.now,
                format!(
                    "{} promotions without a fault in between: {}",
                    self.flaps.len(),
                    list.join("; ")
                ),
            ));
        }
        Ok(())
    }

    /// After the run: the primary killed for good at `at` (the liveness
    /// probe; with the leader instance when `with_leader`) was replaced by
    /// a promotion in time (L1): within down-after, a check interval and
    /// [`FAILOVER_BOUND_MS`], or [`LEADER_LOSS_BOUND_MS`] when the leader
    /// died too (a follower deposes it: issue 19's promise).
    pub fn after_probe(&self, m: &Model, killed: usize, at: Millis, with_leader: bool) -> Result<(), Failure> {
        let s = &m.config.settings;
        let margin = if with_leader {
            LEADER_LOSS_BOUND_MS
        } else {
            FAILOVER_BOUND_MS
        };
        let bound = s.down_after_ms + s.check_interval_ms + margin;
        let promoted = m
            .events
            .iter()
            .find(|e| e.at > at && matches!(e.kind, ModelEvent::Promote { .. }));
        match promoted {
            Some(e) if e.at <= at + bound => Ok(()),
            other => Err(fail(
                "L1 eventual failover",
                self.seed,
                m.now,
                format!(
                    "{} was killed for good at t={at} ms{}; no promotion within {bound} ms (first: {:?})",
                    m.nodes[killed].name,
                    if with_leader { ", with the leader instance" } else { "" },
                    other.map(|e| e.at)
                ),
            )),
        }
    }

    /// After the run healed and settled (L1, L2): one leader, one primary,
    /// every reachable node following it, the record naming it.
    pub fn at_end(&self, m: &Model, machines: &[Option<&Machine>]) -> Result<(), Failure> {
        let now = m.now;
        let leaders: Vec<usize> = machines
            .iter()
            .enumerate()
            .filter(|(_, mm)| mm.is_some_and(|mm| mm.context().epoch.is_some()))
            .map(|(i, _)| i)
            .collect();
        let etcd_leader = m.etcd.leader();
        if leaders.len() != 1 {
            return Err(fail(
                "L2 convergence",
                self.seed,
                now,
                format!(
                    "{} instances believe they lead after healing (etcd says {etcd_leader:?})",
                    leaders.len()
                ),
            ));
        }
        let primaries: Vec<usize> = (0..m.nodes.len())
            .filter(|&i| m.answering(i) && m.nodes[i].replica_of.is_none())
            .collect();
        let blocked = machines[leaders[0]].and_then(|mm| mm.context().blocked.clone());
        let [p] = primaries.as_slice() else {
            if blocked.is_some() {
                return Ok(()); // no eligible replica: waiting for an operator is the documented outcome
            }
            let names: Vec<&str> = primaries.iter().map(|&i| m.nodes[i].name.as_str()).collect();
            return Err(fail(
                "L2 convergence",
                self.seed,
                now,
                format!("after healing the primaries are {names:?}"),
            ));
        };
        let addr = m.nodes[*p].addr.as_str();
        for (i, n) in m.nodes.iter().enumerate() {
            if i == *p || !m.answering(i) {
                continue;
            }
            if n.replica_of.as_deref() != Some(addr) || !n.link_up {
                return Err(fail(
                    "L2 convergence",
                    self.seed,
                    now,
                    format!(
                        "{} does not follow the primary {} (follows {:?}, link up {})",
                        n.name, m.nodes[*p].name, n.replica_of, n.link_up
                    ),
                ));
            }
        }
        if let Some(target) = &m.switchover_request {
            return Err(fail(
                "L4 operations terminate",
                self.seed,
                now,
                format!("the operator's switchover to {target} was never taken up"),
            ));
        }
        let recorded = m.etcd.record.as_ref().map(|r| r.primary.clone());
        if recorded.as_deref() != Some(m.nodes[*p].name.as_str()) {
            return Err(fail(
                "L2 convergence",
                self.seed,
                now,
                format!("the record names {recorded:?} but {} is primary", m.nodes[*p].name),
            ));
        }
        Ok(())
    }
}
