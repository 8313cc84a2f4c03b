//! What the leader knows about one node: the [`NodeView`] each poll
//! updates.

use serde::{Deserialize, Serialize};

use crate::types::{Millis, NodeStatus, RedisError, Role};

/// What the leader knows about one node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeView {
    /// The latest status, when the latest poll succeeded.
    pub status: Option<NodeStatus>,
    /// The last successful status before that (to notice restarts).
    pub previous: Option<NodeStatus>,
    /// When the node first failed to answer in the current outage.
    pub down_since: Option<Millis>,
    /// The latest poll's error.
    pub error: Option<RedisError>,
    /// The node restarted and lost data while primary; kept until it is a
    /// replica again, so one failed attempt to act does not lose the
    /// evidence (S7).
    pub lost_data: bool,
    /// When the data loss was first noticed.
    pub lost_data_at: Millis,
    /// The node's latest answer refused arbiter's password (a poll that
    /// failed otherwise since, a timeout say, does not clear it): it may
    /// hold data arbiter cannot see.
    pub refused_auth: bool,
    /// When the latest answer ended an outage: (the first unanswered
    /// poll, the answer's time); `None` when the poll before answered.
    pub returned: Option<(Millis, Millis)>,
    /// The first poll, since the node last answered with its status, that
    /// got none (an error, or a refused password: unlike `down_since`, a
    /// refusal does not clear it): where an outage began for `returned`.
    pub unanswered_since: Option<Millis>,
    /// The run id under which this leader saw the node come back from
    /// disk ([`NodeView::back_from_disk`]), kept while it claims primary
    /// under that run id: one failed poll, or one more answer, does not
    /// erase the evidence.
    pub reloaded: Option<String>,
    /// The keys the node held before it fully resynced to a smaller
    /// dataset (the same run, another replication history, fewer keys):
    /// its current history lacks them. Cleared when it restarts or holds
    /// as many again.
    pub shrank_from: Option<u64>,
    /// The node has not answered since this instance last became leader:
    /// what it knows of it was seen in an earlier term, before a time it
    /// did not poll (another leader may have repointed it since).
    pub earlier_term: bool,
    /// The keys the node held, as this instance saw it, before a restart
    /// that brought it back holding fewer (it reloaded an older dataset:
    /// its replicas took the rest from it). Kept while it claims primary
    /// holding fewer, also across further restarts; cleared when it
    /// answers as a replica or holds as many again.
    #[serde(default)]
    pub reloaded_less: Option<u64>,
}

impl NodeView {
    /// Records a poll result at `now`.
    pub fn observe(&mut self, now: Millis, result: Result<NodeStatus, RedisError>) {
        match result {
            Ok(status) => {
                if let Some(old) = self.status.take() {
                    self.previous = Some(old);
                }
                self.status = Some(status);
                self.refused_auth = false;
                self.returned = self.unanswered_since.map(|since| (since, now));
                self.unanswered_since = None;
                self.down_since = None;
                self.earlier_term = false;
                if let (Some(now), Some(before)) = (&self.status, &self.previous) {
                    if now.run_id != before.run_id {
                        self.shrank_from = None;
                    } else if let (true, Some(held), Some(holds)) = (now.replid != before.replid, before.keys, now.keys)
                    {
                        if holds < held {
                            self.shrank_from = Some(self.shrank_from.unwrap_or(0).max(held));
                        }
                    }
                    if now.keys.zip(self.shrank_from).is_some_and(|(k, held)| k >= held) {
                        self.shrank_from = None;
                    }
                }
                self.reloaded_less = match (&self.status, &self.previous) {
                    (Some(now), _) if now.role != Role::Primary => None,
                    (Some(now), Some(before)) if now.run_id != before.run_id => {
                        // (what it held before, or before an earlier
                        // restart that reloaded as little)
                        let held = before.keys.max(self.reloaded_less);
                        held.zip(now.keys)
                            .filter(|(held, holds)| holds < held)
                            .map(|(held, _)| held)
                    }
                    (Some(now), _) => self.reloaded_less.filter(|held| now.keys.is_some_and(|k| k < *held)),
                    _ => None,
                };
                let fresh = self.restarted() || self.restarted_while_unseen() || self.untouched_reload();
                self.reloaded = self.status.as_ref().and_then(|st| match st.role {
                    Role::Replica { .. } => None,
                    Role::Primary if fresh => Some(st.run_id.clone()),
                    Role::Primary => self.reloaded.take().filter(|run| *run == st.run_id),
                });
                self.error = None;
            }
            // The node answered but refused arbiter's credentials: it is
            // up (clients with the right password use it), arbiter cannot
            // see it. Not down: no failover, no advice to lose data.
            Err(e @ RedisError::Auth(_)) => {
                if let Some(old) = self.status.take() {
                    self.previous = Some(old);
                }
                self.refused_auth = true;
                self.down_since = None;
                self.unanswered_since.get_or_insert(now);
                self.error = Some(e);
            }
            Err(e) => {
                if let Some(old) = self.status.take() {
                    self.previous = Some(old);
                }
                self.down_since.get_or_insert(now);
                self.unanswered_since.get_or_insert(now);
                self.error = Some(e);
            }
        }
    }

    /// This leader pointed the node at `primary` (`REPLICAOF` answered
    /// OK): its known role follows `primary`, link down, until its next
    /// answer says otherwise; so a decision taken while it then does not
    /// answer never points `primary` back at it (a replication cycle, S10).
    /// What it holds is unknown until then (it may be resyncing: its old
    /// offset and keys would read as a replica ahead of `primary`).
    pub fn repointed(&mut self, primary: &str) {
        if let Some(st) = self.status.as_mut() {
            st.role = Role::Replica {
                primary: primary.to_string(),
                link_up: false,
                link_down_ms: None,
            };
            st.offset = 0;
            st.keys = None;
        }
    }

    /// Unanswered for longer than `limit` at `now`.
    pub fn unseen_longer_than(&self, now: Millis, limit: Millis) -> bool {
        self.down_since.is_some_and(|since| now.saturating_sub(since) > limit)
    }

    /// Reachable in the latest poll.
    pub fn reachable(&self) -> bool {
        self.status.is_some()
    }

    /// The node restarted and lost data: a new run id and a smaller offset
    /// than the status before (S7).
    pub fn restarted_empty(&self) -> bool {
        match (&self.status, &self.previous) {
            (Some(now), Some(before)) => now.run_id != before.run_id && now.offset < before.offset,
            _ => false,
        }
    }

    /// The node restarted since the status before (a new run id).
    pub fn restarted(&self) -> bool {
        match (&self.status, &self.previous) {
            (Some(now), Some(before)) => now.run_id != before.run_id,
            _ => false,
        }
    }

    /// The node claims primary at replication offset 0 while holding keys:
    /// it reloaded them from an AOF and has taken no write since (any write
    /// moves the offset), so it is no old primary that went on taking
    /// writes in a split brain, but a copy from disk.
    pub fn untouched_reload(&self) -> bool {
        self.status
            .as_ref()
            .is_some_and(|s| s.role == Role::Primary && s.offset == 0 && s.keys.is_some_and(|k| k > 0))
    }

    /// The node, which this leader never saw answer before, answered for
    /// the first time after an outage, and its uptime shows that it
    /// started after this leader's first unanswered poll of it: it
    /// restarted while out of reach (what it holds it reloaded from disk),
    /// rather than running all along behind a partition. Whole seconds of
    /// uptime, truncated: up `u` s at a poll made at or after `at` (the
    /// round's time) means started after `at - (u + 1) s`, so a second of
    /// doubt counts as "running all along"; started exactly then counts as
    /// restarted (seed 50556: up 0 s one 1 s round after the first miss).
    pub fn restarted_while_unseen(&self) -> bool {
        match (&self.status, &self.previous, self.returned) {
            (Some(now), None, Some((since, at))) => now
                .uptime_s
                .is_some_and(|up| at.saturating_sub(up.saturating_add(1).saturating_mul(1000)) >= since),
            _ => false,
        }
    }

    /// What the node holds now it reloaded from disk: it restarted since
    /// this leader last saw it, restarted while out of its reach, or
    /// claims primary at offset 0 holding keys; or it did so in an earlier
    /// answer and still answers claiming primary under that run (a poll
    /// that failed in between does not erase the evidence; a node that
    /// does not answer now is no evidence: it may be gone).
    pub fn back_from_disk(&self) -> bool {
        let still = self.reloaded.as_ref().is_some_and(|run| {
            self.status
                .as_ref()
                .is_some_and(|s| s.run_id == *run && s.role == Role::Primary)
        });
        still || self.restarted() || self.restarted_while_unseen() || self.untouched_reload()
    }
}
