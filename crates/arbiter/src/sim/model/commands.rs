//! The commands arbiter sends a Redis node (`REPLICAOF NO ONE`,
//! `REPLICAOF primary`, `FAILOVER TO`), each fenced by its epoch (S1), and
//! the asynchronous handover an accepted `FAILOVER TO` starts.

use super::Model;
use super::event::ModelEvent;
use super::facts::{AppliedCommand, Fact};
use super::network::Endpoint;
use crate::types::Epoch;
use crate::types::{Millis, RedisError};

/// How long an accepted `FAILOVER TO` takes to hand over (writes paused on
/// the primary, the target catching up, the roles swapped): Redis answers
/// at once and does this afterwards.
pub const HANDOVER_MS: Millis = 150;

/// A `FAILOVER TO` Redis accepted and is still handing over: the old
/// primary takes no writes meanwhile and still reports primary, the target
/// still reports its replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handover {
    /// The old primary.
    pub from: usize,
    /// The target.
    pub to: usize,
    /// Under this epoch.
    pub epoch: Epoch,
    /// When the roles swap.
    pub swap_at: Millis,
    /// When Redis gives up.
    pub deadline: Millis,
}

impl Model {
    /// Finishes (or gives up) a pending `FAILOVER` handover.
    pub(super) fn hand_over(&mut self) {
        let Some(Handover {
            from: p,
            to: target,
            epoch,
            swap_at,
            deadline,
        }) = self.handover
        else {
            return;
        };
        if self.now < swap_at {
            return;
        }
        let can = self.nodes[p].up
            && self.nodes[p].replica_of.is_none()
            && self.answering(target)
            && self.reaches_both(Endpoint::Node(p), Endpoint::Node(target));
        if can {
            self.handover = None;
            self.swap(p, target, epoch);
        } else if self.now >= deadline || !self.nodes[p].up || self.nodes[p].replica_of.is_some() {
            self.handover = None;
            let (from, to) = self.names(p, target);
            self.note(ModelEvent::SwitchoverAborted { from, to });
        }
    }

    /// The names of nodes `a` and `b`.
    fn names(&self, a: usize, b: usize) -> (String, String) {
        (self.nodes[a].name.clone(), self.nodes[b].name.clone())
    }

    /// Applies node `i`'s fence to a command under `epoch` and notes the
    /// command for the checker (S1).
    fn fence(&mut self, i: usize, epoch: Epoch, what: &str) -> Result<(), RedisError> {
        let seen = self.nodes[i].fence;
        // A negative epoch is a command sent without the fence (the
        // `SkipFencing` planted bug): applied unchecked, logged under its
        // real epoch so that S1 sees it.
        if epoch.get() >= 0 {
            if epoch < seen {
                return Err(RedisError::Fenced { seen });
            }
            self.nodes[i].fence = epoch;
        }
        let epoch = Epoch(epoch.get().abs());
        let at = self.now;
        self.facts.push(Fact::Applied(AppliedCommand {
            at,
            node: i,
            epoch,
            what: what.to_string(),
        }));
        Ok(())
    }

    /// `REPLICAOF NO ONE` on node `i` under `epoch`.
    pub fn promote(&mut self, i: usize, epoch: Epoch) -> Result<(), RedisError> {
        self.fence(i, epoch, "promote")?;
        let n = &mut self.nodes[i];
        if n.replica_of.is_some() {
            n.replica_of = None;
            n.replid2 = std::mem::take(&mut n.replid);
            n.replid = format!("{}-repl{}", n.run_id, self.now);
            n.syncing_until = None;
            n.link_up = false;
            n.link_down_since = None;
            let event = ModelEvent::Promote {
                node: n.name.clone(),
                epoch,
                offset: (n.log.len() as u64).saturating_sub(n.repl_base),
                keys: n.log.len(),
            };
            self.note(event);
        }
        Ok(())
    }

    /// `REPLICAOF primary` on node `i` under `epoch`.
    pub fn repoint(&mut self, i: usize, primary: &str, epoch: Epoch) -> Result<(), RedisError> {
        self.fence(i, epoch, "repoint")?;
        if self.nodes[i].replica_of.as_deref() != Some(primary) {
            let n = &mut self.nodes[i];
            n.replica_of = Some(primary.to_string());
            n.link_up = false;
            n.syncing_until = None;
            n.link_down_since = Some(self.now);
            n.reconnect_at = self.now; // REPLICAOF connects at once
            let event = ModelEvent::Repoint {
                node: n.name.clone(),
                primary: primary.to_string(),
                epoch,
            };
            self.note(event);
        }
        Ok(())
    }

    /// `FAILOVER TO target` on the primary `p` under `epoch`: refused while
    /// the target syncs or does not follow `p`, rolled back when it does
    /// not answer; otherwise accepted at once, and `HANDOVER_MS` later `p`
    /// becomes a replica of the target and the target primary (the old
    /// primary stops accepting writes first, S8), or after `timeout_ms`
    /// Redis gives up and `p` takes writes again. Other replicas of `p`
    /// stay attached to it until repointed.
    pub fn failover(&mut self, p: usize, target: usize, epoch: Epoch, timeout_ms: Millis) -> Result<(), RedisError> {
        let follows = self.nodes[target].replica_of.as_deref() == Some(self.nodes[p].addr.as_str());
        if self.nodes[p].replica_of.is_some() || !follows {
            return Err(RedisError::Refused(
                "ERR FAILOVER target is not a replica of this primary".into(),
            ));
        }
        if !self.nodes[target].link_up || self.nodes[target].syncing_until.is_some() {
            return Err(RedisError::Refused(
                "ERR FAILOVER target replica is not online (initial sync)".into(),
            ));
        }
        self.fence(p, epoch, "failover")?;
        self.fence(target, epoch, "failover")?;
        if let Some(pause) = self.pause_failover_target_ms.take() {
            let until = self.now + pause;
            self.nodes[target].paused_until = until;
            let node = self.nodes[target].name.clone();
            self.note(ModelEvent::PauseMidFailover { node, until });
        }
        // The primary hands over only once the target has caught up; a
        // target it cannot reach (paused, crashed, cut off) never does, and
        // at the timeout Redis aborts: the old primary takes writes again.
        let reachable = self.answering(target) && self.reaches_both(Endpoint::Node(p), Endpoint::Node(target));
        if !reachable {
            let (from, to) = self.names(p, target);
            self.note(ModelEvent::SwitchoverRolledBack { from, to });
            return Err(RedisError::Timeout);
        }
        // Accepted: Redis pauses writes on the primary, lets the target
        // catch up, then swaps the roles, asynchronously (`hand_over`).
        self.handover = Some(Handover {
            from: p,
            to: target,
            epoch,
            swap_at: self.now + HANDOVER_MS,
            deadline: self.now + timeout_ms,
        });
        let (from, to) = self.names(p, target);
        self.note(ModelEvent::SwitchoverStarted { from, to, epoch });
        Ok(())
    }

    /// The role swap of a finished handover.
    fn swap(&mut self, p: usize, target: usize, epoch: Epoch) {
        let tail: Vec<u64> = self.nodes[p].log[self.nodes[target].log.len().min(self.nodes[p].log.len())..].to_vec();
        let target_addr = self.nodes[target].addr.clone();
        let now = self.now;
        {
            let t = &mut self.nodes[target];
            t.log.extend(tail);
            t.replica_of = None;
            t.replid2 = std::mem::take(&mut t.replid);
            t.replid = format!("{}-repl{now}", t.run_id);
            t.link_up = false;
        }
        let o = &mut self.nodes[p];
        o.replica_of = Some(target_addr);
        o.link_up = true;
        o.link_down_since = None;
        let (from, to) = self.names(p, target);
        self.note(ModelEvent::Switchover { from, to, epoch });
    }
}
