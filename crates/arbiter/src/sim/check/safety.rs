//! The model-level safety invariants, checked after every event: S1, S4,
//! S6, S7, S8 and, with issue 22's invariants, S10 and S5 (data).

use rehearse::Failure;

use super::history::DataLoss;
use super::{
    Checker, DUAL_WRITABLE_BOUND_MS, EMPTY_RESTART_GRACE_MS, STALE_PRIMARY_GRACE_INTERVALS, STALE_PRIMARY_GRACE_MS,
    fail,
};
use crate::sim::model::{Endpoint, Model, ModelEvent, Resync};

/// A replication cycle among running nodes, as node indexes in replication
/// order, if there is one (S10).
pub fn replication_cycle(m: &Model) -> Option<Vec<usize>> {
    let next = |i: usize| -> Option<usize> {
        let n = &m.nodes[i];
        if !n.up {
            return None;
        }
        let j = m.node_at(n.replica_of.as_deref()?)?;
        m.nodes[j].up.then_some(j)
    };
    for start in 0..m.nodes.len() {
        let mut path = vec![start];
        let mut at = start;
        while let Some(j) = next(at) {
            if let Some(k) = path.iter().position(|&p| p == j) {
                let mut cycle = path[k..].to_vec();
                cycle.push(j);
                return Some(cycle);
            }
            path.push(j);
            at = j;
        }
    }
    None
}

impl Checker {
    /// After any event: the model-level safety invariants (S1, S4, S6, S7,
    /// S8; with issue 22's invariants S10 and S5 data).
    pub fn after_event(&mut self, m: &Model) -> Result<(), Failure> {
        self.history.ingest(m);
        self.fenced_actions(m)?;
        self.dual_writable(m)?;
        self.resyncs_from_lost_data(m)?;
        self.stale_primaries(m)?;
        self.demote_before_promote(m)?;
        if !self.issue_22 {
            return Ok(());
        }
        if let Some(cycle) = replication_cycle(m) {
            let names: Vec<&str> = cycle.iter().map(|&i| m.nodes[i].name.as_str()).collect();
            return Err(fail(
                "S10 no replication cycle",
                self.seed,
                m.now,
                format!("{} replicate from each other in a cycle", names.join(" -> ")),
            ));
        }
        self.no_empty_promotion(m)
    }

    /// S1: per node, reconfigurations apply in epoch order.
    fn fenced_actions(&mut self, m: &Model) -> Result<(), Failure> {
        let applied = &self.history.applied;
        for (k, cmd) in applied.iter().enumerate().skip(self.applied_seen) {
            if let Some(newer) = applied[..k].iter().rev().find(|c| c.node == cmd.node) {
                let lost_since = self.history.losses.get(&cmd.node).is_some_and(|l| l.at > newer.at);
                if newer.epoch > cmd.epoch && !lost_since {
                    return Err(fail(
                        "S1 fenced actions",
                        self.seed,
                        cmd.at,
                        format!(
                            "{} on {} under epoch {} applied after a command under epoch {}",
                            cmd.what, m.nodes[cmd.node].name, cmd.epoch, newer.epoch
                        ),
                    ));
                }
            }
        }
        self.applied_seen = applied.len();
        Ok(())
    }

    /// S4: two writable primaries only briefly.
    fn dual_writable(&mut self, m: &Model) -> Result<(), Failure> {
        let writable = m.writable_primaries();
        if writable.len() <= 1 {
            self.dual_since = None;
            return Ok(());
        }
        let since = *self.dual_since.get_or_insert(m.now);
        if m.now.saturating_sub(since) > DUAL_WRITABLE_BOUND_MS {
            let names: Vec<&str> = writable.iter().map(|&i| m.nodes[i].name.as_str()).collect();
            return Err(fail(
                "S4 bounded dual-writable window",
                self.seed,
                m.now,
                format!(
                    "{} all accept writes since t={since} ms (bound {DUAL_WRITABLE_BOUND_MS} ms)",
                    names.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// S7: no resync from a node restarted empty, once the controller had
    /// time to see it.
    fn resyncs_from_lost_data(&mut self, m: &Model) -> Result<(), Failure> {
        for r in self.history.shrinking_resyncs.iter().skip(self.resyncs_seen) {
            // Only writes from before the source's loss are its loss; a
            // replica dropping only later writes had diverged (a split
            // brain, bounded by S4), which demotion is meant to end.
            let Some(loss) = self.history.losses.get(&r.source) else {
                continue;
            };
            let predates = r.oldest_dropped < loss.mark;
            if self.issue_22 && !predates {
                continue;
            }
            if self.too_late(m, r, loss) && loss.had > 0 && !self.blessed(m, r, loss) && !self.acted(m, r, loss) {
                return Err(fail(
                    "S7 no replication from an empty restart",
                    self.seed,
                    r.at,
                    format!(
                        "{} resynced from {}, which restarted empty (or lost data) at t={} ms, holding {} writes before",
                        m.nodes[r.replica].name, m.nodes[r.source].name, loss.at, loss.had
                    ),
                ));
            }
        }
        self.resyncs_seen = self.history.shrinking_resyncs.len();
        Ok(())
    }

    /// Before issue 22, recording the node as primary after its loss made
    /// resyncs from it intended; since, data on a reachable node is never
    /// resynced away, recorded or not.
    fn blessed(&self, m: &Model, r: &Resync, loss: &DataLoss) -> bool {
        let recorded_primary = m.etcd.record.as_ref().map(|r| r.primary.as_str());
        !self.issue_22
            && recorded_primary == Some(m.nodes[r.source].name.as_str())
            && m.events
                .iter()
                .any(|e| e.at > loss.at && matches!(e.kind, ModelEvent::Record { .. }))
    }

    /// The controller's chance starts when it could see the node and reach
    /// etcd; before that, the resync is a race it cannot run. And only if
    /// that leader could reach the replica, to repoint or promote it: the
    /// network let it, and, leading with etcd in reach, it held an answer
    /// of the replica for the grace period before the resync (seed 61043:
    /// four polls of the replica in a row failed by injected faults after
    /// the primary came back empty; the fifth answered once etcd had lost
    /// its quorum. The controller commands no node it does not hear from).
    fn too_late(&self, m: &Model, r: &Resync, loss: &DataLoss) -> bool {
        self.history.loss_seen.get(&r.source).is_some_and(|seen| {
            let chance = seen
                .at
                .max(loss.at)
                .max(m.connectivity_changed)
                .max(m.etcd.leader_changed_at);
            // (a replica refusing arbiter's password cannot be
            // commanded: reachable, but out of its hands)
            let reachable =
                m.reaches_both(Endpoint::Instance(seen.by), Endpoint::Node(r.replica)) && !m.auth_broken(r.replica);
            let heard = self
                .history
                .replica_heard
                .get(&(r.source, r.replica))
                .filter(|h| h.seen_at == seen.at)
                .is_some_and(|h| {
                    h.stretches(r.started)
                        .any(|(from, to)| to.min(r.started) > from.max(chance) + EMPTY_RESTART_GRACE_MS)
                });
            reachable && heard && r.started > chance + EMPTY_RESTART_GRACE_MS
        })
    }

    /// The controller acted if it tried in time to move the record or the
    /// replicas away from the node (injected faults may still defeat the
    /// attempt).
    fn acted(&self, m: &Model, r: &Resync, loss: &DataLoss) -> bool {
        let source_name = m.nodes[r.source].name.as_str();
        let source_addr = m.nodes[r.source].addr.as_str();
        let replica_addr = m.nodes[r.replica].addr.as_str();
        self.attempts.iter().any(|a| {
            a.at >= loss.at
                && a.at <= r.started
                && a.to != source_name
                && a.to != source_addr
                && (!self.issue_22 || a.node.as_deref().is_none_or(|n| n == replica_addr))
        })
    }

    /// S6: nobody links to a node that claims primary against the record,
    /// once the controller saw the claim and had time to demote.
    fn stale_primaries(&mut self, m: &Model) -> Result<(), Failure> {
        let grace = STALE_PRIMARY_GRACE_INTERVALS * m.config.settings.check_interval_ms + STALE_PRIMARY_GRACE_MS;
        for s in self.history.stale_syncs.iter().skip(self.stale_syncs_seen) {
            let late = self.history.stale_primary_seen.get(&s.source).is_some_and(|seen| {
                let chance = seen.at.max(m.connectivity_changed).max(m.etcd.leader_changed_at);
                let reachable = m.reaches_both(Endpoint::Instance(seen.by), Endpoint::Node(s.source));
                let running = m.instances[seen.by].paused_until <= s.at;
                reachable && running && s.at > chance + grace
            });
            if late {
                let recorded = m.etcd.record.as_ref().map(|r| r.primary.clone()).unwrap_or_default();
                return Err(fail(
                    "S6 no resurrected stale primary",
                    self.seed,
                    s.at,
                    format!(
                        "{} links to {}, which still claims primary although the record names {recorded}",
                        m.nodes[s.replica].name, m.nodes[s.source].name
                    ),
                ));
            }
        }
        self.stale_syncs_seen = self.history.stale_syncs.len();
        Ok(())
    }

    /// S8: at a coordinated switchover the old primary has stopped taking
    /// writes when the new one starts.
    fn demote_before_promote(&mut self, m: &Model) -> Result<(), Failure> {
        for e in m.events.iter().skip(self.events_seen) {
            if matches!(e.kind, ModelEvent::Switchover { .. }) {
                let writable: Vec<&str> = (0..m.nodes.len())
                    .filter(|&i| m.writable(i))
                    .map(|i| m.nodes[i].name.as_str())
                    .collect();
                if writable.len() > 1 {
                    return Err(fail(
                        "S8 demote before promote",
                        self.seed,
                        e.at,
                        format!("after `{}` {writable:?} all take writes", e.what()),
                    ));
                }
            }
        }
        self.events_seen = m.events.len();
        Ok(())
    }

    /// S5, data: no empty node promoted while a reachable one holds data.
    fn no_empty_promotion(&mut self, m: &Model) -> Result<(), Failure> {
        for p in self.history.promotions.iter().skip(self.promotions_seen) {
            let lost_just_now = self
                .history
                .losses
                .get(&p.node)
                .is_some_and(|l| p.at.saturating_sub(l.at) <= EMPTY_RESTART_GRACE_MS);
            // (a holder that started just now, with the decision already
            // made, is a race the controller cannot run)
            let holder = p
                .others
                .iter()
                .filter(|(o, k)| *k > 0 && m.nodes[*o].started_at + EMPTY_RESTART_GRACE_MS <= p.at)
                .max_by_key(|(_, k)| *k);
            if let (0, Some(&(o, keys)), false) = (p.keys, holder, lost_just_now) {
                return Err(fail(
                    "S5 candidate eligibility",
                    self.seed,
                    p.at,
                    format!(
                        "arbiter-{} promoted {}, which holds no keys, while {} holds {keys} and answers it",
                        p.by + 1,
                        m.nodes[p.node].name,
                        m.nodes[o].name
                    ),
                ));
            }
        }
        self.promotions_seen = self.history.promotions.len();
        Ok(())
    }
}
