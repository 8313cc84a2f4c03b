//! Pure decisions: given what the leader observed, what should it do next?
//! Nothing here changes state; `Machine::step` calls these and decides.

use std::collections::{BTreeMap, BTreeSet};

use crate::types::{Bug, GroupConfig, GroupRecord, Millis, NodeStatus, RedisError, Role};

/// What the leader knows about one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

/// An action the leader takes; every one starts with a guarded write of the
/// group record, which is also the leadership re-check before acting.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Plan {
    /// No record yet: record the node that reports itself primary.
    Bootstrap {
        /// The primary found.
        primary: String,
    },
    /// Reality moved on (a switchover completed without us): record it.
    Adopt {
        /// The node that is primary now.
        primary: String,
    },
    /// The primary failed: record and promote `to`, repoint the rest.
    Failover {
        /// The failed primary (empty on a cold start with no primary).
        from: String,
        /// The replica to promote.
        to: String,
    },
    /// The record names a primary that is still a replica: promote it.
    Promote {
        /// The node to promote.
        node: String,
    },
    /// Nodes that do not follow the primary: repoint them.
    Repoint {
        /// The nodes to repoint, in name order.
        nodes: Vec<String>,
    },
    /// The recorded primary lost its data and no replica may be promoted
    /// (S5): point its replicas at `to`, the node known to hold the most
    /// data, so that they keep theirs instead of resyncing from the empty
    /// node (S7). The record does not change.
    Shelter {
        /// The replicas of the empty primary, in name order.
        nodes: Vec<String>,
        /// The node holding the most data.
        to: String,
    },
    /// `nodes` replicate from `from`, which lost data, and would resync
    /// what they hold away: stop them replicating (`REPLICAOF NO ONE`), so
    /// that each keeps its data (S7). No new record. Used when `from` is
    /// the recorded primary and the node holding the most data left
    /// follows it but may not be promoted (priority 0: the leader then
    /// waits for an operator, [`Blocked::LastCopyNotPromotable`]), and when
    /// `from` claims primary against the record on another replication
    /// history, holding less than they do, while the recorded primary was
    /// never seen serving (they cannot be repointed at it yet).
    Detach {
        /// The node they replicate from, which lost data.
        #[serde(default)]
        from: String,
        /// The nodes to detach, in name order.
        nodes: Vec<String>,
    },
    /// Planned switchover with `FAILOVER TO` on the current primary.
    Switchover {
        /// The current primary.
        from: String,
        /// The replica to hand over to.
        to: String,
    },
    /// Only record that `primary`, recorded, lost data
    /// ([`GroupRecord::lost_data`]), when nothing else is done this round
    /// (the leader waits, blocked or not): a leader taking over inherits
    /// the evidence. No command to any node.
    NoteLoss {
        /// The recorded primary.
        primary: String,
    },
    /// Only clear the record's loss mark on `primary`: every node answers
    /// and none holds more keys than it, so what it lost is gone from
    /// every copy and its data is the most there is ([`loss_settled`]).
    /// No command to any node.
    SettleLoss {
        /// The recorded primary.
        primary: String,
    },
}

impl Plan {
    /// The record to publish before acting: a plan that names a new
    /// primary records the run id it reports in `views` (so that a later
    /// leader can tell it restarted since); the others keep the current
    /// record's.
    pub fn record(&self, epoch: i64, current: Option<&GroupRecord>, views: &BTreeMap<String, NodeView>) -> GroupRecord {
        let run_of = |name: &str| {
            views
                .get(name)
                .and_then(|v| v.status.as_ref())
                .map(|s| s.run_id.clone())
        };
        let kept = || current.and_then(|r| r.run_id.clone());
        let (primary, run_id) = match self {
            Self::Bootstrap { primary } | Self::Adopt { primary } => (primary.clone(), run_of(primary)),
            Self::Failover { to, .. } => (to.clone(), run_of(to)),
            Self::Promote { node } => (node.clone(), run_of(node)),
            // The record changes only after FAILOVER TO succeeded.
            Self::Switchover { from, .. } => (from.clone(), kept()),
            Self::Repoint { .. }
            | Self::Shelter { .. }
            | Self::Detach { .. }
            | Self::NoteLoss { .. }
            | Self::SettleLoss { .. } => (current.map(|r| r.primary.clone()).unwrap_or_default(), kept()),
        };
        // The loss mark stays with the node while it stays recorded, until
        // the loss is settled.
        let same = current.is_some_and(|r| r.primary == primary);
        let settled = matches!(self, Self::SettleLoss { .. });
        let lost_data = same
            && !settled
            && (current.is_some_and(|r| r.lost_data) || views.get(&primary).is_some_and(|v| v.lost_data));
        GroupRecord {
            epoch,
            primary,
            run_id,
            lost_data,
        }
    }
}

/// Why the leader did nothing although something is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// The primary is down and no replica is eligible (S5); set
    /// `allow_data_loss` to promote the best reachable one anyway.
    NoEligibleReplica {
        /// The failed primary.
        primary: String,
    },
    /// No record and no node (or several) claims to be primary.
    ColdStart,
    /// No record, and the one node claiming primary holds fewer keys than
    /// `node`, on another replication history: recording it would resync
    /// `node`'s data away. An operator starts the right primary (or sets
    /// `allow_data_loss` to record the claimant anyway).
    ColdStartBehind {
        /// The node claiming primary.
        primary: String,
        /// A node holding more keys.
        node: String,
    },
    /// No group record, and the only node claiming primary holds no keys
    /// while data exists or may exist elsewhere (a node refusing arbiter's
    /// password or not answering, see `reason`): recording it would resync
    /// that data away. An operator starts the right primary (or sets
    /// `allow_data_loss` to record the claimant anyway).
    ColdStartEmpty {
        /// The node claiming primary.
        primary: String,
        /// Why its emptiness matters, naming the node concerned.
        reason: String,
    },
    /// The recorded primary lost its data, and the node holding the most
    /// data left still follows it (and will resync from it), but its
    /// priority is 0: an operator must raise it (or promote it by hand).
    LastCopyNotPromotable {
        /// The primary that lost its data.
        primary: String,
        /// The node holding the last copy.
        node: String,
    },
}

fn addr_of<'a>(config: &'a GroupConfig, name: &str) -> &'a str {
    config.node(name).map_or("", |n| n.addr.as_str())
}

/// For how long the failed primary `failed` has not been serving its data,
/// as far as this leader can tell:
/// - it saw the node answer with its data and then stop: since its first
///   failed poll (Sentinel counts its down time the same way). What the
///   replicas report does not count then: a primary cut off from its
///   replicas may have taken writes until the leader lost it;
/// - it never saw the node serve (it arrived after the node died, for
///   instance because every instance was away), or the node came back
///   without its data: from the replicas, the most recent link to `failed`
///   that any reachable replica reports lost
///   (`master_link_down_since_seconds`), trusted only when this leader has
///   seen every other node (no node it never saw could have stayed linked
///   longer), and at least its own observation.
///
/// So an instance that arrives late still knows that replicas whose link
/// went down when the primary died were in sync then.
pub fn primary_down_for(config: &GroupConfig, views: &BTreeMap<String, NodeView>, failed: &str, now: Millis) -> Millis {
    let view = views.get(failed);
    let lost = view.is_some_and(|v| v.lost_data);
    // Only its own unreachability: a primary that came back without its
    // data counts through its replicas' lost links below, not from when
    // the loss was noticed (it may have served new writes for long since,
    // and that time would make any replica's old link-down look fresh).
    let own = view.map_or(0, |v| v.down_since.map_or(0, |since| now.saturating_sub(since)));
    let seen_serving = view.is_some_and(|v| v.status.is_some() || v.previous.is_some());
    if seen_serving && !lost {
        return own;
    }
    let failed_addr = addr_of(config, failed);
    let all_seen = config.nodes.iter().filter(|n| n.name != failed).all(|n| {
        views
            .get(&n.name)
            .is_some_and(|v| v.status.is_some() || v.previous.is_some())
    });
    if !all_seen {
        return own;
    }
    let replicas = config
        .nodes
        .iter()
        .filter(|n| n.name != failed)
        .filter_map(|n| views.get(&n.name)?.status.as_ref())
        .filter_map(|s| match &s.role {
            // Linked now: to an empty restart, which tells nothing of
            // the old data; otherwise the primary serves.
            Role::Replica {
                primary, link_up: true, ..
            } if primary == failed_addr => (!lost).then_some(0),
            Role::Replica {
                primary, link_down_ms, ..
            } if primary == failed_addr => *link_down_ms,
            _ => None,
        })
        .min();
    own.max(replicas.unwrap_or(0))
}

/// Whether `node` (by its latest or last known status) replicates,
/// directly or through other nodes, from one of `sources`: pointing a
/// source at it would close a replication cycle.
fn follows_any(config: &GroupConfig, views: &BTreeMap<String, NodeView>, node: &str, sources: &[String]) -> bool {
    let mut current = node.to_string();
    for _ in 0..config.nodes.len() {
        let last = views
            .get(&current)
            .and_then(|v| v.status.as_ref().or(v.previous.as_ref()));
        let Some(Role::Replica { primary, .. }) = last.map(|s| &s.role) else {
            return false;
        };
        let Some(next) = config.nodes.iter().find(|n| n.addr == *primary) else {
            return false;
        };
        if sources.contains(&next.name) {
            return true;
        }
        current = next.name.clone();
    }
    false
}

/// The replica to promote instead of `failed` (S5): reachable, priority
/// not 0, its link up or down for no longer than `stale_after_ms` plus the
/// time the primary has been down ([`primary_down_for`]: a replica that was
/// in sync when the primary died stays eligible), lag within
/// `max_lag_bytes` of the best offset that still exists (not on a node
/// that lost its data, nor seen longer ago than `stale_after_ms`), and not
/// empty while a node that did not lose its data holds keys; first by
/// (priority, highest offset, run id). With `allow_data_loss`, the best
/// reachable replica with priority not 0 when none is eligible.
pub fn select_candidate(
    config: &GroupConfig,
    views: &BTreeMap<String, NodeView>,
    failed: &str,
    now: Millis,
) -> Option<String> {
    select_candidate_with(config, views, failed, now, false)
}

/// Whether data exists anywhere, so that an empty node may not replace
/// `failed` nor shelter its replicas: a node that did not lose data showed
/// keys in one of its last two answers, any node's latest answer showed
/// keys (what it holds now was written since, even after a loss), or
/// `failed`'s last answer did (also when a poll of it just failed). Only
/// answers from nodes unseen for at most `stale_after` count (an older one
/// may be of another, older history), except `failed`'s.
fn data_exists(views: &BTreeMap<String, NodeView>, failed: &str, now: Millis, stale_after: Millis) -> bool {
    let holds = |st: &NodeStatus| st.keys.is_some_and(|k| k > 0);
    let fresh = || views.values().filter(|v| !v.unseen_longer_than(now, stale_after));
    let kept = fresh()
        .filter(|v| !v.lost_data)
        .flat_map(|v| v.status.iter().chain(v.previous.iter()))
        .any(holds);
    let latest = fresh()
        .filter_map(|v| v.status.as_ref().or(v.previous.as_ref()))
        .any(holds);
    let failed_holds = views
        .get(failed)
        .and_then(|v| v.status.as_ref().or(v.previous.as_ref()))
        .is_some_and(holds);
    kept || latest || failed_holds
}

/// Why an empty node may not become primary now, or `None` when it may:
/// while another node (but `failed`) holds data, or may hold some that a
/// repoint at the empty node would resync away: a node that is up but
/// refuses arbiter's password, or one that does not answer, for less than
/// the staleness limit (a replica that took writes since its last answer,
/// or a node this leader never reached since it took over).
fn empty_held_back(
    config: &GroupConfig,
    views: &BTreeMap<String, NodeView>,
    failed: &str,
    now: Millis,
) -> Option<String> {
    let s = &config.settings;
    if data_exists(views, failed, now, s.stale_after_ms) {
        return Some("empty while another node holds data".into());
    }
    let others = || config.nodes.iter().filter(|n| n.name != failed);
    if let Some(other) = others().find(|n| views.get(&n.name).is_some_and(|v| v.refused_auth)) {
        return Some(format!(
            "empty while {} refuses arbiter's password (it may hold data)",
            other.name
        ));
    }
    let silent = others().find_map(|n| {
        let v = views.get(&n.name)?;
        (v.status.is_none() && !v.refused_auth && !v.unseen_longer_than(now, s.stale_after_ms))
            .then_some((n.name.as_str(), v.previous.is_some()))
    });
    silent.map(|(other, seen)| {
        if seen {
            format!("empty while {other}, seen before, does not answer (it may hold data)")
        } else {
            format!("empty while {other} has not answered since this instance took over (it may hold data)")
        }
    })
}

/// Why a node may not replace the failed primary, or `None` when it may
/// (S5): each node of the group but the failed one, in configuration order.
pub fn eligibility(
    config: &GroupConfig,
    views: &BTreeMap<String, NodeView>,
    failed: &str,
    now: Millis,
) -> Vec<(String, Option<String>)> {
    let s = &config.settings;
    // Lag is measured against the most data that still exists: what a
    // node held before it lost its data is gone, and what a node unseen
    // for longer than the staleness limit held is too old to count (it may
    // be another, older history).
    let kept = || {
        views
            .iter()
            .filter(|(_, v)| !v.lost_data && !v.unseen_longer_than(now, s.stale_after_ms))
    };
    // Offsets compare only within one replication history (one replid): a
    // node back from disk starts a new one at offset 0, which says nothing
    // of how much it holds. Across histories keys compare (the latest
    // answer of each node): a replica holding fewer keys than a node on
    // another history misses data that exists.
    let reference = |st: &NodeStatus| {
        kept()
            .flat_map(|(_, v)| v.status.iter().chain(v.previous.iter()))
            .filter(|o| o.replid == st.replid)
            .map(|o| o.offset)
            .max()
            .unwrap_or(0)
    };
    let more_keys_elsewhere = |name: &str, st: &NodeStatus| {
        let keys = st.keys?;
        kept()
            .filter(|(other, _)| other.as_str() != name)
            .filter_map(|(other, v)| Some((other, v.status.as_ref().or(v.previous.as_ref())?)))
            .filter(|(_, o)| o.replid != st.replid)
            .filter_map(|(other, o)| Some((other, o.keys?)))
            .filter(|&(_, k)| k > keys)
            .max_by_key(|&(other, k)| (k, std::cmp::Reverse(other)))
            .map(|(other, k)| format!("holds {keys} keys, fewer than {other} ({k}) on another replication history"))
    };
    let held_back = empty_held_back(config, views, failed, now);
    // A leader that never saw the failed primary knows nothing of where its
    // data went: while a node has not answered it since it took over (for
    // less than the staleness limit), that node may hold more than any
    // candidate (seed 44570: every instance was away while the primary
    // came back empty and a replica resynced from it; the first replica
    // the new leader reached was promoted, and a node back from its RDB
    // with the data, reached a moment later, was repointed at it).
    let primary_unseen = views
        .get(failed)
        .is_none_or(|v| v.status.is_none() && v.previous.is_none());
    let never_answered = config
        .nodes
        .iter()
        .filter(|n| n.name != failed)
        .find(|n| {
            views.get(&n.name).is_some_and(|v| {
                v.status.is_none() && v.previous.is_none() && !v.unseen_longer_than(now, s.stale_after_ms)
            })
        })
        .map(|n| n.name.as_str());
    let allowance = s
        .stale_after_ms
        .saturating_add(primary_down_for(config, views, failed, now));
    let why = |node: &crate::types::RedisNode| -> Option<String> {
        if node.priority == 0 {
            return Some("priority 0".into());
        }
        let Some(status) = views.get(&node.name).and_then(|v| v.status.as_ref()) else {
            return Some("not answering".into());
        };
        let Role::Replica {
            primary: source,
            link_up,
            link_down_ms,
        } = &status.role
        else {
            return Some("not a replica".into());
        };
        // A replica of another node (one claiming primary against the
        // record, say) holds that node's history: promoting it would
        // choose that history over the failed primary's (seed 67385; as
        // Sentinel, which promotes only the failed master's replicas).
        if !failed.is_empty() && !follows_any(config, views, &node.name, &[failed.to_string()]) {
            return Some(format!("follows {source}, not {failed}"));
        }
        if !*link_up && !link_down_ms.is_some_and(|d| d <= allowance) {
            return Some(match link_down_ms {
                Some(d) if *d < u64::MAX => format!(
                    "stale: its link has been down {d} ms, more than stale_after_ms plus the primary's down time ({allowance} ms)"
                ),
                // (Redis reports -1: no link since the process started)
                _ => {
                    "stale: its link has not been up since it (re)started, so how old its data is cannot be told".into()
                }
            });
        }
        let lag = reference(status).saturating_sub(status.offset);
        if lag > s.max_lag_bytes {
            return Some(format!(
                "lags {lag} bytes behind the best data left (max_lag_bytes {})",
                s.max_lag_bytes
            ));
        }
        if let Some(why) = more_keys_elsewhere(&node.name, status) {
            return Some(why);
        }
        if status.keys == Some(0) {
            return held_back.clone();
        }
        if let (true, Some(other)) = (primary_unseen && !failed.is_empty(), never_answered) {
            return Some(format!(
                "{other} has not answered since this instance took over, and it never saw {failed} serving: {other} may hold more"
            ));
        }
        None
    };
    config
        .nodes
        .iter()
        .filter(|n| n.name != failed)
        .map(|n| (n.name.clone(), why(n)))
        .collect()
}

fn select_candidate_with(
    config: &GroupConfig,
    views: &BTreeMap<String, NodeView>,
    failed: &str,
    now: Millis,
    most_lagging: bool,
) -> Option<String> {
    let reasons = eligibility(config, views, failed, now);
    // Reachable replicas with priority above 0, and whether each is eligible.
    let mut replicas: Vec<(u32, u64, &str, &str, bool)> = Vec::new();
    for (name, why) in &reasons {
        let Some(node) = config.node(name).filter(|n| n.priority != 0) else {
            continue;
        };
        let Some(status) = views.get(name).and_then(|v| v.status.as_ref()) else {
            continue;
        };
        if !matches!(status.role, Role::Replica { .. }) {
            continue;
        }
        replicas.push((node.priority, status.offset, &status.run_id, &node.name, why.is_none()));
    }
    let best = |eligible_only: bool| {
        replicas
            .iter()
            .filter(|r| r.4 || !eligible_only)
            .min_by(|a, b| {
                if most_lagging {
                    // Planted bug: the replica furthest behind wins.
                    (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2))
                } else {
                    (a.0, std::cmp::Reverse(a.1), a.2).cmp(&(b.0, std::cmp::Reverse(b.1), b.2))
                }
            })
            .map(|r| r.3.to_string())
    };
    best(true).or_else(|| {
        if config.settings.allow_data_loss {
            best(false)
        } else {
            None
        }
    })
}

/// What the leader should do after polling every node, or why it cannot.
pub fn decide(
    config: &GroupConfig,
    views: &BTreeMap<String, NodeView>,
    record: Option<&GroupRecord>,
    switchover: Option<&str>,
    now: Millis,
    bugs: &BTreeSet<Bug>,
) -> Result<Option<Plan>, Blocked> {
    let decision = decide_plan(config, views, record, switchover, now, bugs);
    // A loss this leader found and the record does not carry yet is
    // recorded in a round where nothing else is (another plan keeping the
    // primary carries it, one changing it ends it); a recorded loss that
    // settled is cleared the same way.
    let Some(record) = record.filter(|_| !config.settings.paused) else {
        return decision;
    };
    let primary = record.primary.clone();
    let lost = views.get(&primary).is_some_and(|v| v.lost_data);
    match decision {
        Ok(None) | Err(_) if lost && !record.lost_data => Ok(Some(Plan::NoteLoss { primary })),
        Ok(None) | Err(_) if record.lost_data && !lost && loss_settled(config, views, &primary) => {
            Ok(Some(Plan::SettleLoss { primary }))
        }
        other => other,
    }
}

/// True when a loss on the recorded `primary` no longer endangers anything:
/// it answers as the primary, and every other node answers (no wrong
/// password, none out of reach) holding no more keys than it. What the
/// primary lost is then gone from every copy, and its data, including
/// what it took since, is the most there is; keeping the mark would treat
/// the best copy as lost (seed 99070: the primary, marked, took writes for
/// seconds after its replicas resynced from it, and a later leader
/// promoted a node holding 20 keys over its 168).
pub fn loss_settled(config: &GroupConfig, views: &BTreeMap<String, NodeView>, primary: &str) -> bool {
    let status = |name: &str| views.get(name).and_then(|v| v.status.as_ref());
    let Some(mine) = status(primary).filter(|s| s.role == Role::Primary).and_then(|s| s.keys) else {
        return false;
    };
    config
        .nodes
        .iter()
        .filter(|n| n.name != primary)
        .all(|n| status(&n.name).and_then(|s| s.keys).is_some_and(|k| k <= mine))
}

fn decide_plan(
    config: &GroupConfig,
    views: &BTreeMap<String, NodeView>,
    record: Option<&GroupRecord>,
    switchover: Option<&str>,
    now: Millis,
    bugs: &BTreeSet<Bug>,
) -> Result<Option<Plan>, Blocked> {
    let settings = &config.settings;
    let select =
        |failed: &str| select_candidate_with(config, views, failed, now, bugs.contains(&Bug::PromoteMostLagging));
    let status = |name: &str| views.get(name).and_then(|v| v.status.as_ref());
    let claims_primary = |name: &str| matches!(status(name).map(|s| &s.role), Some(Role::Primary));
    let Some(record) = record else {
        // Cold start: record the one node that claims to be primary.
        let primaries: Vec<&str> = config
            .nodes
            .iter()
            .map(|n| n.name.as_str())
            .filter(|n| claims_primary(n))
            .collect();
        // A claimant holding fewer keys than a node on another replication
        // history (a replica of a primary that died, say) restarted from an
        // older dataset: recording it would resync that node's data away.
        let ahead_of = |one: &str| {
            let mine = status(one)?;
            config
                .nodes
                .iter()
                .filter(|n| n.name != one)
                .find(|n| {
                    status(&n.name).is_some_and(|st| {
                        st.replid != mine.replid && st.keys.zip(mine.keys).is_some_and(|(theirs, k)| theirs > k)
                    })
                })
                .map(|n| n.name.clone())
        };
        // An empty claimant, likewise, while data exists or may exist
        // elsewhere (seed 78926: it restarted empty, one node refused the
        // password, another never answered).
        let empty_claimant = |one: &str| {
            status(one)
                .is_some_and(|st| st.keys == Some(0))
                .then(|| empty_held_back(config, views, "", now))
                .flatten()
        };
        return match primaries.as_slice() {
            [one] if settings.allow_data_loss => Ok(Some(Plan::Bootstrap {
                primary: (*one).to_string(),
            })),
            [one] => match (ahead_of(one), empty_claimant(one)) {
                (Some(node), _) => Err(Blocked::ColdStartBehind {
                    primary: (*one).to_string(),
                    node,
                }),
                (None, Some(reason)) => Err(Blocked::ColdStartEmpty {
                    primary: (*one).to_string(),
                    reason,
                }),
                (None, None) => Ok(Some(Plan::Bootstrap {
                    primary: (*one).to_string(),
                })),
            },
            _ if settings.allow_data_loss => match select("") {
                Some(to) => Ok(Some(Plan::Failover {
                    from: String::new(),
                    to,
                })),
                None => Err(Blocked::ColdStart),
            },
            _ => Err(Blocked::ColdStart),
        };
    };
    if settings.paused {
        return Ok(None);
    }
    let primary = record.primary.as_str();
    let primary_view = views.get(primary).cloned().unwrap_or_default();
    let primary_addr = addr_of(config, primary);

    // The primary failed: down longer than down-after, or back empty (S7).
    let debounce = if bugs.contains(&Bug::NoDebounce) {
        0
    } else {
        settings.down_after_ms
    };
    let down = primary_view
        .down_since
        .is_some_and(|since| now.saturating_sub(since) >= debounce);
    // Also while a poll of it just failed: its replicas still resync from
    // it whenever they reach it (a missed poll hides nothing).
    let last_claims_primary = primary_view
        .status
        .as_ref()
        .or(primary_view.previous.as_ref())
        .is_some_and(|s| s.role == Role::Primary);
    // ... or, still a replica (its promotion not done yet), holding no
    // keys while a copy on another history holds some: promoting it would
    // resync that copy away (seed 35227).
    // An empty replica is not promoted either while another node holds
    // data or hides it behind a wrong password (S5, data).
    let empty_replica = primary_view
        .status
        .as_ref()
        .is_some_and(|s| s.keys == Some(0) && matches!(s.role, Role::Replica { .. }));
    let data_elsewhere = empty_replica
        && (data_exists(views, primary, now, settings.stale_after_ms)
            || views.iter().any(|(n, v)| n != primary && v.refused_auth));
    let empty = ((primary_view.lost_data && (last_claims_primary || empty_replica)) || data_elsewhere)
        && !bugs.contains(&Bug::ResyncFromEmpty);
    if down || empty {
        let candidate = select(primary);
        // (also while the primary that lost its data is down: its best
        // copy left may still beat the candidate)
        let sheltered = if primary_view.lost_data && !bugs.contains(&Bug::ResyncFromEmpty) {
            shelter(config, views, primary, now)
        } else {
            None
        };
        // Offsets of different histories do not compare: when the primary
        // lost its data, a copy holding more keys than the replica the lag
        // rule picks (a node back from its AOF claiming primary, say) is
        // the data that is left; promoting the replica would resync it away.
        let keys = |name: &str| status(name).and_then(|s| s.keys).unwrap_or(0);
        if let (Some(Shelter::Promote(best)), Some(c)) = (&sheltered, &candidate) {
            if keys(best) > keys(c) {
                return Ok(Some(Plan::Failover {
                    from: primary.to_string(),
                    to: best.clone(),
                }));
            }
        }
        // A copy holding more keys than the candidate that may not be
        // promoted (priority 0): promoting the candidate would end with
        // that copy repointed at it and its data resynced away. Detach it
        // from the node that lost its data, and wait for an operator.
        if let (Some(Shelter::NotPromotable(best)), Some(c)) = (&sheltered, &candidate) {
            if keys(best) > keys(c) {
                let nodes = detachable(config, views, primary, best);
                if !nodes.is_empty() {
                    return Ok(Some(Plan::Detach {
                        from: primary.to_string(),
                        nodes,
                    }));
                }
                return Err(Blocked::LastCopyNotPromotable {
                    primary: primary.to_string(),
                    node: best.clone(),
                });
            }
        }
        if let Some(to) = candidate {
            return Ok(Some(Plan::Failover {
                from: primary.to_string(),
                to,
            }));
        }
        // (a primary that lost its data and then died too: its best copy
        // left is promoted the same way)
        if empty || primary_view.lost_data {
            match sheltered {
                // The node holding the most data still follows the node
                // that lost it, and would resync from it: it is the data
                // that is left, so it becomes the primary (unless its
                // priority forbids it).
                Some(Shelter::Promote(to)) => {
                    return Ok(Some(Plan::Failover {
                        from: primary.to_string(),
                        to,
                    }));
                }
                Some(Shelter::Repoint(plan)) => return Ok(Some(plan)),
                Some(Shelter::NotPromotable(node)) => {
                    // Detached first, so that the copies keep their data
                    // while an operator decides.
                    let nodes = detachable(config, views, primary, &node);
                    if !nodes.is_empty() {
                        return Ok(Some(Plan::Detach {
                            from: primary.to_string(),
                            nodes,
                        }));
                    }
                    return Err(Blocked::LastCopyNotPromotable {
                        primary: primary.to_string(),
                        node,
                    });
                }
                None => {}
            }
        }
        // Waiting, a replica about to resync away more than its source (a
        // node the record does not name) holds is detached first (seed
        // 42644: r2 came back empty while the leader waited, and r1, its
        // replica, resynced from it).
        if let Some((from, nodes)) = endangered(config, views, primary) {
            return Ok(Some(Plan::Detach { from, nodes }));
        }
        return Err(Blocked::NoEligibleReplica {
            primary: primary.to_string(),
        });
    }
    // The recorded primary is a replica: either someone else finished a
    // switchover (it follows a healthy primary: adopt that one), or our
    // promotion did not happen yet (promote it).
    if let Some(NodeStatus {
        role: Role::Replica { primary: follows, .. },
        ..
    }) = status(primary)
    {
        let leader_of = config.nodes.iter().find(|n| &n.addr == follows).map(|n| n.name.clone());
        // Adopt only a primary at least as far along that kept its data (a
        // finished switchover), never the node a failed promotion left
        // behind (S6).
        let offset = |name: &str| status(name).map_or(0, |s| s.offset);
        let sound = |other: &str| {
            claims_primary(other) && !views.get(other).is_some_and(|v| v.lost_data) && offset(other) >= offset(primary)
        };
        return Ok(Some(match leader_of {
            Some(other) if sound(&other) => Plan::Adopt { primary: other },
            _ => Plan::Promote {
                node: primary.to_string(),
            },
        }));
    }
    // Everyone else follows the primary (a returning old primary is
    // demoted here, S6), also while the primary is only suspected: a
    // replica left on a node that came back empty would otherwise resync
    // from it (S7); pointed at the recorded primary it keeps its data.
    let astray: Vec<String> = config
        .nodes
        .iter()
        .filter(|n| n.name != primary)
        .filter(|n| match status(&n.name).map(|s| &s.role) {
            Some(Role::Primary) => !bugs.contains(&Bug::ForgetOldPrimary),
            Some(Role::Replica { primary: p, .. }) => p != primary_addr,
            None => false,
        })
        .map(|n| n.name.clone())
        .collect();
    // Never close a cycle: a node the recorded primary was last seen
    // replicating from (it is out of reach, or its promotion has not
    // happened yet) is not pointed at it.
    let astray: Vec<String> = astray
        .into_iter()
        .filter(|n| !follows_any(config, views, primary, std::slice::from_ref(n)))
        .collect();
    // Nor, while the recorded primary does not answer, a node holding more
    // keys, on another history, than it held when it last answered after
    // a restart since it was recorded: it may have lost its data, and the
    // node would resync from what it holds when it is back (decided once
    // it answers, or is down).
    let last = primary_view.status.as_ref().or(primary_view.previous.as_ref());
    let restarted_since_recorded = record
        .run_id
        .as_deref()
        .zip(last)
        .is_some_and(|(recorded, last)| recorded != last.run_id);
    let holds_more = |n: &String| {
        let mine = status(n);
        match (mine, last) {
            (Some(m), Some(p)) => m.replid != p.replid && m.keys.zip(p.keys).is_some_and(|(k, pk)| k > pk),
            _ => false,
        }
    };
    // Nor while the recorded primary does not answer and this leader never
    // saw it serve as a primary (it never saw it at all, or last saw it
    // replicating: its promotion may not have happened, and it may follow
    // the very node that would be pointed at it, a cycle).
    let unproven = !primary_view.reachable() && !last.is_some_and(|l| l.role == Role::Primary);
    if unproven {
        // Its replicas astray are then left where they are, unless one is
        // about to resync away more than its source holds: detached, it
        // keeps its data until it can be repointed.
        return Ok(endangered(config, views, primary).map(|(from, nodes)| Plan::Detach { from, nodes }));
    }
    // While the recorded primary does not answer, a node claiming primary
    // is left as it is: the recorded one may have become its replica since
    // it was last seen (a handover this leader could not see finish), and
    // pointing the node at it would close a cycle. Replicas following
    // other nodes are still repointed (their source may have come back
    // empty).
    let astray: Vec<String> = if primary_view.reachable() {
        astray
    } else {
        astray.into_iter().filter(|n| !claims_primary(n)).collect()
    };
    let astray: Vec<String> = if primary_view.lost_data || (!primary_view.reachable() && restarted_since_recorded) {
        astray
            .into_iter()
            .filter(|n| !primary_view.lost_data && !holds_more(n))
            .collect()
    } else {
        astray
    };
    if !astray.is_empty() {
        return Ok(Some(Plan::Repoint { nodes: astray }));
    }
    if !primary_view.reachable() {
        return Ok(None); // suspected, not yet down: wait (no flapping)
    }
    if let Some(target) = switchover {
        let ok = matches!(
            status(target).map(|s| &s.role),
            Some(Role::Replica { primary: p, link_up: true, .. }) if p == primary_addr
        );
        if ok && config.node(target).is_some_and(|n| n.priority != 0) {
            return Ok(Some(Plan::Switchover {
                from: primary.to_string(),
                to: target.to_string(),
            }));
        }
    }
    Ok(None)
}

/// What to do for the replicas of a primary that lost its data when no
/// replica is eligible.
enum Shelter {
    /// The node holding the most data is reachable and still follows the
    /// empty primary: promote it, or it resyncs its data away.
    Promote(String),
    /// Point these replicas at the node holding the most data.
    Repoint(Plan),
    /// The node holding the most data follows the empty primary, but its
    /// priority is 0.
    NotPromotable(String),
}

/// The shelter for the replicas of `primary`, which lost its data: the
/// replica known to hold the most data, and the reachable replicas
/// following `primary` that are to follow it instead. Never a cycle: a
/// replica the shelter itself replicates from is not pointed at it.
fn shelter(config: &GroupConfig, views: &BTreeMap<String, NodeView>, primary: &str, now: Millis) -> Option<Shelter> {
    let stale_after = config.settings.stale_after_ms;
    let primary_addr = addr_of(config, primary);
    let follows_primary = |name: &str| {
        matches!(views.get(name).and_then(|v| v.status.as_ref()).map(|s| &s.role),
            Some(Role::Replica { primary: p, .. }) if p == primary_addr)
    };
    let claims_primary = |name: &str| {
        views
            .get(name)
            .and_then(|v| v.status.as_ref())
            .is_some_and(|s| s.role == Role::Primary)
    };
    let followers: Vec<String> = config
        .nodes
        .iter()
        .filter(|n| n.name != primary && follows_primary(&n.name))
        .map(|n| n.name.clone())
        .collect();
    // (its last answer, when a poll of it just failed)
    let primary_keys = views
        .get(primary)
        .and_then(|v| v.status.as_ref().or(v.previous.as_ref()))
        .and_then(|s| s.keys);
    let holders = |acyclic: bool| {
        config
            .nodes
            .iter()
            .filter(|n| n.name != primary)
            .filter_map(|n| {
                let v = views.get(&n.name)?;
                // (a node that lost data before counts with what it holds
                // now, written since, if it answers now: it may be the
                // most data left)
                if v.unseen_longer_than(now, stale_after) || (v.lost_data && v.status.is_none()) {
                    return None;
                }
                // An empty node holds nothing to keep: no shelter, whether
                // data exists elsewhere or not.
                let keys = v.status.as_ref().or(v.previous.as_ref())?.keys;
                if keys == Some(0) {
                    return None;
                }
                // Nor one holding no more than the node that lost its data
                // still holds (it took writes since): no data to save there.
                if keys.zip(primary_keys).is_some_and(|(k, p)| k <= p) {
                    return None;
                }
                // A node claiming primary against the record is no shelter
                // (S6) unless it answers now: then it is a copy that came
                // back from its AOF or RDB (nodes restart as primaries), and
                // may be the data that is left.
                let last = v.status.as_ref().or(v.previous.as_ref())?;
                if !matches!(last.role, Role::Replica { .. }) && v.status.is_none() {
                    return None;
                }
                // Nor one not answering that this leader saw only in an
                // earlier term: its role may have changed since (another
                // leader may have pointed it at a node to be sheltered).
                if v.status.is_none() && v.earlier_term {
                    return None;
                }
                // Nor one that replicates from a node to be sheltered: that
                // would close a replication cycle.
                if acyclic && follows_any(config, views, &n.name, &followers) {
                    return None;
                }
                Some((last.keys, last.offset, std::cmp::Reverse(n.name.as_str())))
            })
            .max()
            .map(|best| best.2.0)
    };
    // A node claiming primary risks nothing by waiting: while a node that
    // does not answer (for less than the staleness limit) last held more
    // keys than it, that node may be the data left (excluded above when
    // seen only in an earlier term; seed 33036: recording the claimant
    // ended with that node repointed at it once it answered).
    // A node that never answered this leader (partitioned from it since it
    // took over, or refusing the password) may hold anything (seed 61842:
    // a copy back from an RDB that had lost 20 writes was recorded, and
    // the node holding them, reached a second later, repointed at it).
    let silent_holds = config
        .nodes
        .iter()
        .filter(|n| n.name != primary)
        .filter_map(|n| views.get(&n.name))
        .filter(|v| v.status.is_none() && !v.lost_data && !v.unseen_longer_than(now, stale_after))
        .map(|v| v.previous.as_ref().map_or(Some(u64::MAX), |p| p.keys))
        .max()
        .flatten();
    // So may the primary that lost data, when this leader never saw it
    // answer (the loss mark came with the record): a copy back from disk
    // holding less than it does would be recorded, and the primary
    // repointed at it once back (seed 70568: 20 keys recorded over 153).
    // (its replicas, when some answer, stand for what it held)
    let primary_unknown = followers.is_empty()
        && views
            .get(primary)
            .is_none_or(|v| v.status.is_none() && v.previous.is_none() && !v.unseen_longer_than(now, stale_after));
    let silent_holds = if primary_unknown { Some(u64::MAX) } else { silent_holds };
    let doubtful = |name: &str| {
        claims_primary(name)
            && silent_holds
                .zip(views.get(name).and_then(|v| v.status.as_ref()).and_then(|s| s.keys))
                .is_some_and(|(silent, k)| silent > k)
    };
    // The most data left, on a reachable node that replicates (directly or
    // through a follower) from the node that lost it: it would resync from
    // it, so it becomes the primary (promoting closes no cycle); or on a
    // node that came back claiming primary: it would be repointed at the
    // empty node, so it becomes the recorded primary.
    // (or one that follows another node that lost its data: it would
    // resync from that one)
    let lost: Vec<String> = config
        .nodes
        .iter()
        .filter(|n| n.name != primary && views.get(&n.name).is_some_and(|v| v.lost_data))
        .map(|n| n.name.clone())
        .collect();
    if let Some(best) = holders(false) {
        if doubtful(best) {
            return None;
        }
        let reachable = views.get(best).is_some_and(NodeView::reachable);
        let resyncs_from_loss =
            follows_any(config, views, best, &[primary.to_string()]) || follows_any(config, views, best, &lost);
        if reachable && (claims_primary(best) || resyncs_from_loss) {
            let promotable = config.node(best).is_some_and(|n| n.priority != 0);
            return Some(if promotable {
                Shelter::Promote(best.to_string())
            } else {
                Shelter::NotPromotable(best.to_string())
            });
        }
    }
    let to = holders(true)?;
    if doubtful(to) {
        return None;
    }
    if follows_primary(to) || claims_primary(to) {
        let promotable = config.node(to).is_some_and(|n| n.priority != 0);
        return Some(if promotable {
            Shelter::Promote(to.to_string())
        } else {
            Shelter::NotPromotable(to.to_string())
        });
    }
    let nodes: Vec<String> = followers.into_iter().filter(|n| n != to).collect();
    (!nodes.is_empty()).then(|| {
        Shelter::Repoint(Plan::Shelter {
            nodes,
            to: to.to_string(),
        })
    })
}

/// The reachable nodes to detach from `primary`, which lost its data, when
/// `best`, the node holding the most data left, may not be promoted: every
/// replica of `primary` holding more keys than it (it would resync them
/// away), and `best` if it replicates from `primary` through others.
fn detachable(config: &GroupConfig, views: &BTreeMap<String, NodeView>, primary: &str, best: &str) -> Vec<String> {
    let primary_addr = addr_of(config, primary);
    // (its last answer, when a poll of it just failed)
    let primary_keys = views
        .get(primary)
        .and_then(|v| v.status.as_ref().or(v.previous.as_ref()))
        .and_then(|s| s.keys)
        .unwrap_or(0);
    config
        .nodes
        .iter()
        .filter(|n| n.name != primary)
        .filter(|n| {
            let Some(st) = views.get(&n.name).and_then(|v| v.status.as_ref()) else {
                return false;
            };
            match &st.role {
                Role::Replica { primary: p, .. } if p == primary_addr => st.keys.is_some_and(|k| k > primary_keys),
                Role::Replica { .. } => n.name == best && follows_any(config, views, best, &[primary.to_string()]),
                Role::Primary => false,
            }
        })
        .map(|n| n.name.clone())
        .collect()
}

/// Replicas about to resync their data away from a node other than the
/// recorded `primary` (the first such source by name, and its replicas in
/// name order): the source answers claiming primary, on another
/// replication history than the replica (whose link is down: it will
/// fully resync when it is back), and holds fewer keys than the replica.
/// The source restarted from an older or empty dataset (its history
/// changed), as an old primary that came back in a split brain does, and
/// what the replica holds exists nowhere else this leader can see.
fn endangered(
    config: &GroupConfig,
    views: &BTreeMap<String, NodeView>,
    primary: &str,
) -> Option<(String, Vec<String>)> {
    let status = |name: &str| views.get(name).and_then(|v| v.status.as_ref());
    config
        .nodes
        .iter()
        .filter(|x| x.name != primary)
        .filter_map(|x| {
            let source = status(&x.name).filter(|s| s.role == Role::Primary)?;
            let nodes: Vec<String> = config
                .nodes
                .iter()
                .filter(|r| r.name != x.name && r.name != primary)
                .filter(|r| {
                    status(&r.name).is_some_and(|st| {
                        matches!(&st.role, Role::Replica { primary: p, link_up: false, .. } if *p == x.addr)
                            && st.replid != source.replid
                            && st.keys.zip(source.keys).is_some_and(|(mine, theirs)| mine > theirs)
                    })
                })
                .map(|r| r.name.clone())
                .collect();
            (!nodes.is_empty()).then(|| (x.name.clone(), nodes))
        })
        .next()
}

/// Marks the recorded primary as having lost data when it restarted with a
/// smaller offset, or restarted while a replica of it holds more than it
/// does (the drop happened between two polls); clears the mark once a node
/// is a replica, or once the recorded primary's loss settled
/// ([`loss_settled`]). Called after every poll round, before [`decide`].
pub fn note_data_loss(
    config: &GroupConfig,
    views: &mut BTreeMap<String, NodeView>,
    record: Option<&GroupRecord>,
    now: Millis,
) {
    mark_data_loss(config, views, record, now);
    let Some(primary) = record.map(|r| r.primary.as_str()) else {
        return;
    };
    if loss_settled(config, views, primary) {
        if let Some(v) = views.get_mut(primary) {
            v.lost_data = false;
        }
    }
}

fn mark_data_loss(
    config: &GroupConfig,
    views: &mut BTreeMap<String, NodeView>,
    record: Option<&GroupRecord>,
    now: Millis,
) {
    let recorded = record.map(|r| r.primary.as_str());
    for (name, view) in views.iter_mut() {
        // A replica's data follows its primary now; a node other than the
        // recorded primary that restarted since holds what it reloaded,
        // not what it lost before.
        let replica = matches!(view.status.as_ref().map(|s| &s.role), Some(Role::Replica { .. }));
        if replica || (recorded != Some(name.as_str()) && view.restarted()) {
            view.lost_data = false;
        }
    }
    let Some(primary) = recorded else {
        return;
    };
    let Some(addr) = config.node(primary).map(|n| n.addr.as_str()) else {
        return;
    };
    // A mark the leader before this one recorded (see
    // `GroupRecord::lost_data`).
    if record.is_some_and(|r| r.lost_data) {
        if let Some(v) = views.get_mut(primary).filter(|v| !v.lost_data) {
            v.lost_data = true;
            v.lost_data_at = now;
        }
    }
    let Some(view) = views.get(primary) else { return };
    if view.status.is_none() && view.previous.is_none() {
        note_loss_of_unseen_primary(config, views, primary, now);
        return;
    }
    // (its last answer, when a poll of it just failed: then only a copy
    // back from disk holding more counts, below)
    let answering = view.status.is_some();
    // A primary that refuses arbiter's password is up and holds what it
    // holds, more than its last answer if it took writes since: a copy
    // back from disk holding more is no evidence against it (seed 84064).
    if !answering && view.refused_auth {
        return;
    }
    let Some(last) = view.status.as_ref().or(view.previous.as_ref()) else {
        return;
    };
    let (offset, replid, keys) = (last.offset, last.replid.clone(), last.keys);
    let replid = &replid;
    // Replicas of the primary further along than it (a larger offset, or
    // more keys when both are known: a restart from an AOF reports offset
    // 0 like an empty one), optionally only on another history: their
    // dataset sizes.
    let stale_after = config.settings.stale_after_ms;
    let ahead_of_primary = |other_history: bool| {
        views
            .values()
            // (an answer older than the staleness limit tells nothing current)
            .filter(move |v| !v.unseen_longer_than(now, stale_after))
            .filter_map(move |v| match v.status.as_ref().or(v.previous.as_ref()) {
                Some(NodeStatus {
                    role: Role::Replica { primary: p, .. },
                    offset: o,
                    replid: r,
                    keys: k,
                    ..
                }) if p == addr
                    && (*o > offset || k.zip(keys).is_some_and(|(k, mine)| k > mine))
                    && (!other_history || r != replid) =>
                {
                    Some(*k)
                }
                _ => None,
            })
    };
    // A replica ahead of its primary on another replication history proves
    // the primary lost data, even to a leader that never saw it before. A
    // replica that does not answer now counts with its last answer: it was
    // that far along the old history, which the primary no longer has.
    // The primary restarted since it was recorded (another run id than the
    // record's: this leader may never have seen it before, for instance
    // when every instance was away while it restarted): any node holding
    // more keys on another replication history (a node back from its AOF
    // or RDB that claims primary, a replica of some other node) holds data
    // the primary may have lost. Nodes on the primary's own history do
    // not count: fewer keys there are deletes, not loss.
    let restarted_since_recorded = record
        .and_then(|r| r.run_id.as_deref())
        .zip(view.status.as_ref())
        .is_some_and(|(recorded, now)| recorded != now.run_id);
    // The same holds for a node that itself restarted since this leader
    // last saw it (or, never seen, since it first failed to reach it) and
    // came back holding more (from its AOF or RDB): it is
    // not an old primary that went on taking writes in a split brain, but
    // a copy reloaded from disk, and the data the primary does not have.
    // Likewise a replica of another node that lost its data (an earlier
    // primary): it holds what that node held before (seed 33036: the
    // shelter recorded while it did not answer held less).
    let lost_addrs: Vec<&str> = config
        .nodes
        .iter()
        .filter(|n| n.name != primary && views.get(&n.name).is_some_and(|v| v.lost_data))
        .map(|n| n.addr.as_str())
        .collect();
    let follows_lost = |v: &NodeView| {
        matches!(v.status.as_ref().map(|s| &s.role),
            Some(Role::Replica { primary: p, .. }) if lost_addrs.contains(&p.as_str()))
    };
    // Likewise a node claiming primary on a history that is neither the
    // primary's nor the one the primary forked from at its promotion (its
    // replid2), nor a sibling forked from that one too: not an old primary
    // that ran on in a split brain (it would still report the replid its
    // successor's replid2 names), but a copy reloaded from disk (seed
    // 92386: up since before this leader's first poll, so its uptime told
    // nothing; it held 140 keys, the primary, promoted from a replica that
    // had resynced from an emptied node, 63).
    let forked_from = view.status.as_ref().and_then(|s| s.replid2.clone());
    let foreign = |v: &NodeView| {
        forked_from.as_ref().is_some_and(|fork| {
            v.status.as_ref().is_some_and(|s| {
                s.role == Role::Primary && s.replid != *fork && s.replid != *replid && s.replid2.as_ref() != Some(fork)
            })
        })
    };
    let elsewhere: Vec<Option<u64>> = config
        .nodes
        .iter()
        .filter(|n| n.name != primary)
        .filter_map(|n| views.get(&n.name))
        .filter(|v| restarted_since_recorded || v.back_from_disk() || follows_lost(v) || foreign(v))
        .filter(|v| !v.lost_data && !v.unseen_longer_than(now, stale_after))
        .filter_map(|v| v.status.as_ref().or(v.previous.as_ref()))
        .filter(|st| st.replid != *replid && st.keys.zip(keys).is_some_and(|(k, mine)| k > mine))
        .map(|st| st.keys)
        .collect();
    // A primary that itself resynced to a smaller dataset before it was
    // promoted (from a node that had lost data): a node holding more keys
    // on another history holds what its history lacks.
    let since_shrink: Vec<Option<u64>> = if view.shrank_from.is_some() {
        config
            .nodes
            .iter()
            .filter(|n| n.name != primary)
            .filter_map(|n| views.get(&n.name))
            .filter(|v| !v.lost_data && !v.unseen_longer_than(now, stale_after))
            .filter_map(|v| v.status.as_ref())
            .filter(|st| st.replid != *replid && st.keys.zip(keys).is_some_and(|(k, mine)| k > mine))
            .map(|st| st.keys)
            .collect()
    } else {
        Vec::new()
    };
    // (a restart that reloaded fewer keys than it last held, whatever its
    // offset: an RDB reload rebases the offset past the one before, seed
    // 90080; deletes just before a crash look the same, and the mark
    // settles once no copy holds more)
    let reloaded_less = view.restarted()
        && view
            .previous
            .as_ref()
            .and_then(|p| p.keys)
            .zip(keys)
            .is_some_and(|(before, now)| now < before);
    let suspected = view.restarted_empty()
        || reloaded_less
        || (view.restarted() && ahead_of_primary(false).next().is_some())
        || (answering && ahead_of_primary(true).next().is_some())
        || !elsewhere.is_empty()
        || !since_shrink.is_empty();
    // A restart that reloaded an AOF or RDB file also comes back with a
    // new history (and, from an AOF, offset 0), but with its dataset: it
    // lost nothing if it holds at least as many keys as it held before
    // and as every replica ahead of it holds. Unknown sizes (recordings
    // made before sizes were reported) count as lost, as before.
    let before = view.restarted().then(|| view.previous.as_ref().and_then(|p| p.keys));
    let evidence: Vec<Option<u64>> = before
        .into_iter()
        .chain(ahead_of_primary(false))
        .chain(elsewhere.iter().copied())
        .chain(since_shrink.iter().copied())
        .collect();
    let kept = keys.is_some_and(|k| !evidence.is_empty() && evidence.iter().all(|e| e.is_some_and(|e| k >= e)));
    if suspected && !kept {
        let again = view.restarted();
        if let Some(v) = views.get_mut(primary) {
            // A new restart renews the mark: its replicas retry their
            // links from now on.
            if !v.lost_data || again {
                v.lost_data_at = now;
            }
            v.lost_data = true;
        }
    }
}

/// [`note_data_loss`] for a recorded primary this leader never saw answer
/// (it died while every instance was away, say): the replicas following it
/// stand for what it held. A node that restarted since this leader last
/// saw it, or while out of its reach, and came back from disk holding more
/// keys on another replication history than every one of them, holds data
/// the primary's history no longer has (it reloaded an old snapshot, or
/// came back empty, before its replicas resynced from it).
fn note_loss_of_unseen_primary(
    config: &GroupConfig,
    views: &mut BTreeMap<String, NodeView>,
    primary: &str,
    now: Millis,
) {
    let addr = addr_of(config, primary);
    // How long ago each follower's link went down (0: up).
    let link_down = |s: &NodeStatus| match &s.role {
        Role::Replica {
            primary: p,
            link_up,
            link_down_ms,
        } if p == addr => Some(if *link_up { 0 } else { link_down_ms.unwrap_or(u64::MAX) }),
        _ => None,
    };
    let followers: Vec<(&NodeStatus, Millis)> = views
        .values()
        .filter_map(|v| v.status.as_ref())
        .filter_map(|s| link_down(s).map(|d| (s, d)))
        .collect();
    let Some(best) = followers.iter().max_by_key(|(s, _)| s.keys) else {
        return;
    };
    let (replid, keys) = (best.0.replid.clone(), best.0.keys);
    let back_from_disk = views.iter().filter(|(name, _)| *name != primary).any(|(_, v)| {
        v.back_from_disk()
            && !v.lost_data
            && v.status
                .as_ref()
                .is_some_and(|st| st.replid != replid && st.keys.zip(keys).is_some_and(|(k, theirs)| k > theirs))
    });
    // Followers on two replication histories: the primary changed history
    // between their syncs (a restart). The freshest link holds its latest
    // history; a follower that synced earlier, on an older history,
    // holding more keys than that, holds what the primary lost.
    let freshest = followers.iter().min_by_key(|(_, d)| *d);
    let older_holds_more = freshest.is_some_and(|(latest, latest_down)| {
        followers.iter().any(|(s, d)| {
            d > latest_down && s.replid != latest.replid && s.keys.zip(latest.keys).is_some_and(|(k, l)| k > l)
        })
    });
    // A follower that resynced from it to a smaller dataset: its new
    // history lacks what the follower held (it restarted from less).
    let follower_shrank = views
        .values()
        .any(|v| v.shrank_from.is_some() && v.status.as_ref().is_some_and(|s| link_down(s).is_some()));
    let evidence = back_from_disk || older_holds_more || follower_shrank;
    if let (true, Some(v)) = (evidence, views.get_mut(primary)) {
        if !v.lost_data {
            v.lost_data_at = now;
        }
        v.lost_data = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{RedisNode, Settings};

    fn config(priorities: &[u32]) -> GroupConfig {
        GroupConfig {
            nodes: priorities
                .iter()
                .enumerate()
                .map(|(i, p)| RedisNode {
                    name: format!("r{}", i + 1),
                    addr: format!("10.0.0.{}:6379", i + 1),
                    priority: *p,
                })
                .collect(),
            settings: Settings::default(),
        }
    }

    fn replica(offset: u64, run_id: &str, link_down_ms: Option<Millis>) -> NodeView {
        NodeView {
            status: Some(NodeStatus {
                role: Role::Replica {
                    primary: "10.0.0.1:6379".into(),
                    link_up: link_down_ms.is_none(),
                    link_down_ms,
                },
                run_id: run_id.into(),
                replid: "x".into(),
                replid2: None,
                offset,
                keys: None,
                uptime_s: None,
            }),
            ..NodeView::default()
        }
    }

    /// The record naming `primary` under epoch 5, recorded under `run_id`.
    fn recorded(primary: &str, run_id: Option<&str>) -> GroupRecord {
        GroupRecord {
            epoch: 5,
            primary: primary.into(),
            run_id: run_id.map(str::to_string),
            lost_data: false,
        }
    }

    /// `note_data_loss` marks `from` as having lost data, and `decide`
    /// fails over from it to `to`.
    fn assert_loss_then_failover(
        c: &GroupConfig,
        v: &mut BTreeMap<String, NodeView>,
        record: &GroupRecord,
        now: Millis,
        from: &str,
        to: &str,
    ) {
        note_data_loss(c, v, Some(record), now);
        assert!(v[from].lost_data, "{from} lost data");
        let plan = decide(c, v, Some(record), None, now, &BTreeSet::new());
        let expected = Plan::Failover {
            from: from.into(),
            to: to.into(),
        };
        assert_eq!(plan, Ok(Some(expected)));
    }

    /// `record` as the leader leaves it once it noted the primary's loss
    /// ([`Plan::NoteLoss`]).
    fn noted(record: &GroupRecord) -> GroupRecord {
        GroupRecord {
            lost_data: true,
            ..record.clone()
        }
    }

    fn views(list: Vec<(&str, NodeView)>) -> BTreeMap<String, NodeView> {
        list.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    #[test]
    fn selection_prefers_priority_then_offset_then_run_id() {
        let c = config(&[100, 100, 100, 100]);
        let v = views(vec![
            ("r2", replica(50, "b", None)),
            ("r3", replica(90, "c", None)),
            ("r4", replica(90, "a", None)),
        ]);
        assert_eq!(select_candidate(&c, &v, "r1", 0).as_deref(), Some("r4"));
        let c = config(&[100, 10, 100, 100]);
        assert_eq!(select_candidate(&c, &v, "r1", 0).as_deref(), Some("r2"));
    }

    #[test]
    fn priority_zero_stale_and_lagging_replicas_are_not_eligible() {
        let mut c = config(&[100, 0, 100, 100]);
        c.settings.max_lag_bytes = 10;
        let v = views(vec![
            ("r2", replica(1000, "a", None)),         // priority 0
            ("r3", replica(1000, "b", Some(60_000))), // link down too long
            ("r4", replica(500, "c", None)),          // lags by 500
        ]);
        assert_eq!(select_candidate(&c, &v, "r1", 0), None);
        c.settings.allow_data_loss = true;
        assert_eq!(select_candidate(&c, &v, "r1", 0).as_deref(), Some("r3"));
    }

    #[test]
    fn replicas_of_an_empty_primary_with_no_eligible_candidate_are_sheltered() {
        // r1 (recorded) came back empty; r2 follows it holding 100, r3 is
        // out of reach but was last seen holding 300: r2 lags too far to be
        // promoted, so it is pointed at r3 instead of resyncing from r1.
        let mut c = config(&[100, 100, 100]);
        c.settings.max_lag_bytes = 50;
        let mut r1 = NodeView::default();
        r1.observe(
            9_000,
            Ok(NodeStatus {
                role: Role::Primary,
                run_id: "a".into(),
                replid: "x".into(),
                replid2: None,
                offset: 300,
                keys: None,
                uptime_s: None,
            }),
        );
        r1.observe(
            10_000,
            Ok(NodeStatus {
                role: Role::Primary,
                run_id: "a2".into(),
                replid: "y".into(),
                replid2: None,
                offset: 0,
                keys: None,
                uptime_s: None,
            }),
        );
        let mut r3 = replica(300, "c", None);
        r3.observe(9_900, Err(crate::types::RedisError::Timeout));
        let mut v = views(vec![("r1", r1), ("r2", replica(100, "b", Some(200))), ("r3", r3)]);
        let record = GroupRecord {
            epoch: 5,
            primary: "r1".into(),
            run_id: None,
            lost_data: false,
        };
        note_data_loss(&c, &mut v, Some(&record), 10_000);
        assert!(v["r1"].lost_data);
        let plan = decide(&c, &v, Some(&record), None, 10_000, &BTreeSet::new());
        assert_eq!(
            plan,
            Ok(Some(Plan::Shelter {
                nodes: vec!["r2".into()],
                to: "r3".into()
            }))
        );
        // Once r2 follows r3 there is nothing left to shelter: blocked.
        if let Some(NodeStatus {
            role: Role::Replica { primary, .. },
            ..
        }) = v.get_mut("r2").and_then(|x| x.status.as_mut())
        {
            *primary = "10.0.0.3:6379".into();
        }
        let plan = decide(&c, &v, Some(&noted(&record)), None, 10_000, &BTreeSet::new());
        assert_eq!(plan, Err(Blocked::NoEligibleReplica { primary: "r1".into() }));
    }

    #[test]
    fn a_recorded_primary_left_a_replica_is_promoted_not_its_empty_old_primary_adopted() {
        // The record names r2 (a failover whose promotion failed); r2 still
        // follows r1, which came back empty: promote r2, never adopt r1.
        let c = config(&[100, 100, 100]);
        let r1 = NodeView {
            status: Some(NodeStatus {
                role: Role::Primary,
                run_id: "a2".into(),
                replid: "y".into(),
                replid2: None,
                offset: 0,
                keys: None,
                uptime_s: None,
            }),
            lost_data: true,
            ..NodeView::default()
        };
        let v = views(vec![
            ("r1", r1),
            ("r2", replica(500, "b", Some(300))),
            ("r3", replica(500, "c", None)),
        ]);
        let record = GroupRecord {
            epoch: 5,
            primary: "r2".into(),
            run_id: None,
            lost_data: false,
        };
        let plan = decide(&c, &v, Some(&record), None, 10_000, &BTreeSet::new());
        assert_eq!(plan, Ok(Some(Plan::Promote { node: "r2".into() })));
    }

    #[test]
    fn replicas_astray_are_repointed_even_while_the_primary_is_only_suspected() {
        // The record names r1 (seen serving, then unreachable for 1 s of
        // the 3 s down-after); r2 still follows r3, a node that came back
        // claiming primary: r2 is pointed at r1. r3 itself is left as it is
        // until r1 answers (r1 may have become its replica meanwhile).
        let c = config(&[100, 100, 100]);
        let mut r1 = NodeView::default();
        r1.observe(8_000, Ok(status(Role::Primary, "a", "h", 100, 10)));
        r1.observe(9_000, Err(crate::types::RedisError::Timeout));
        let mut r2 = replica(100, "b", Some(500));
        if let Some(NodeStatus {
            role: Role::Replica { primary, .. },
            ..
        }) = r2.status.as_mut()
        {
            *primary = "10.0.0.3:6379".into();
        }
        let r3 = NodeView {
            status: Some(NodeStatus {
                role: Role::Primary,
                run_id: "c2".into(),
                replid: "y".into(),
                replid2: None,
                offset: 0,
                keys: None,
                uptime_s: None,
            }),
            ..NodeView::default()
        };
        let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        let record = GroupRecord {
            epoch: 5,
            primary: "r1".into(),
            run_id: None,
            lost_data: false,
        };
        let plan = decide(&c, &v, Some(&record), None, 10_000, &BTreeSet::new());
        assert_eq!(
            plan,
            Ok(Some(Plan::Repoint {
                nodes: vec!["r2".into()]
            }))
        );
    }

    fn status(role: Role, run_id: &str, replid: &str, offset: u64, keys: u64) -> NodeStatus {
        NodeStatus {
            role,
            run_id: run_id.into(),
            replid: replid.into(),
            replid2: None,
            offset,
            keys: Some(keys),
            uptime_s: None,
        }
    }

    /// A replica of `primary` with its link up.
    fn linked(primary: &str) -> Role {
        Role::Replica {
            primary: primary.into(),
            link_up: true,
            link_down_ms: None,
        }
    }

    fn down_replica(link_down_ms: u64) -> Role {
        Role::Replica {
            primary: "10.0.0.1:6379".into(),
            link_up: false,
            link_down_ms: Some(link_down_ms),
        }
    }

    #[test]
    fn a_leader_arriving_after_the_primary_died_counts_its_down_time_from_the_replicas() {
        // Every instance was away: r1 died 12 s ago, past stale_after (10 s);
        // both replicas lost their link then, holding the same data. A new
        // leader that never saw r1 answer still promotes one of them.
        let c = config(&[100, 100, 100]);
        let mut r1 = NodeView::default();
        r1.observe(100_000, Err(RedisError::Unreachable("refused".into())));
        let mut v = views(vec![("r1", r1)]);
        for (name, run) in [("r2", "b"), ("r3", "c")] {
            let mut view = NodeView::default();
            view.observe(100_000, Ok(status(down_replica(12_000), run, "h", 900, 90)));
            v.insert(name.into(), view);
        }
        assert_eq!(primary_down_for(&c, &v, "r1", 101_000), 12_000);
        assert_eq!(select_candidate(&c, &v, "r1", 101_000).as_deref(), Some("r2"));
        // A leader that saw r1 serve until it lost it 1 s ago does not:
        // r1 may have taken writes while its replicas were cut off.
        let seen = v.get_mut("r1").unwrap();
        seen.previous = Some(status(Role::Primary, "a", "h", 1000, 100));
        assert_eq!(primary_down_for(&c, &v, "r1", 101_000), 1000);
        assert_eq!(select_candidate(&c, &v, "r1", 101_000), None);
        // Nor one that never saw r3: r3 may have stayed linked longer.
        let mut v2 = v.clone();
        v2.get_mut("r1").unwrap().previous = None;
        v2.remove("r3");
        assert_eq!(primary_down_for(&c, &v2, "r1", 101_000), 1000);
        assert_eq!(select_candidate(&c, &v2, "r1", 101_000), None);
    }

    #[test]
    fn a_restart_that_reloaded_its_data_is_not_data_loss_an_empty_one_is() {
        let c = config(&[100, 100, 100]);
        let record = GroupRecord {
            epoch: 5,
            primary: "r1".into(),
            run_id: None,
            lost_data: false,
        };
        let replica = |run: &str| {
            let mut v = NodeView::default();
            let role = Role::Replica {
                primary: "10.0.0.1:6379".into(),
                link_up: false,
                link_down_ms: Some(100),
            };
            v.observe(1000, Ok(status(role, run, "old", 6421, 1000)));
            v
        };
        for (keys, lost) in [(1000, false), (0, true), (999, true)] {
            // AOF: a new run id and history, offset 0, and `keys` keys.
            let mut r1 = NodeView::default();
            r1.observe(900, Ok(status(Role::Primary, "a", "old", 6421, 1000)));
            r1.observe(1000, Ok(status(Role::Primary, "a2", "new", 0, keys)));
            let mut v = views(vec![("r1", r1), ("r2", replica("b")), ("r3", replica("c"))]);
            note_data_loss(&c, &mut v, Some(&record), 1000);
            assert_eq!(v["r1"].lost_data, lost, "{keys} keys");
            // A new leader that never saw r1 before judges from the replicas.
            v.get_mut("r1").unwrap().previous = None;
            v.get_mut("r1").unwrap().lost_data = false;
            note_data_loss(&c, &mut v, Some(&record), 1000);
            assert_eq!(v["r1"].lost_data, lost, "{keys} keys, new leader");
        }
    }

    #[test]
    fn the_best_copy_left_following_an_empty_primary_is_promoted_not_left_to_resync() {
        // r1 (recorded) came back empty; r2 follows it, holding the most
        // data, but its link is down longer than the allowance; r3 lags.
        let mut c = config(&[100, 100, 100]);
        c.settings.max_lag_bytes = 10;
        let mut r1 = NodeView::default();
        r1.observe(0, Ok(status(Role::Primary, "a", "old", 500, 50)));
        r1.observe(60_000, Ok(status(Role::Primary, "a2", "new", 0, 0)));
        let mut r2 = NodeView::default();
        r2.observe(60_000, Ok(status(down_replica(59_000), "b", "old", 500, 50)));
        let mut r3 = NodeView::default();
        r3.observe(60_000, Ok(status(down_replica(59_000), "c", "old", 400, 40)));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        let record = GroupRecord {
            epoch: 5,
            primary: "r1".into(),
            run_id: None,
            lost_data: false,
        };
        assert_loss_then_failover(&c, &mut v, &record, 60_000, "r1", "r2");
        // Priority 0 forbids it: the replicas holding data are detached
        // from the empty node (each keeps its data), none is recorded ...
        c.nodes[1].priority = 0;
        let plan = decide(&c, &v, Some(&record), None, 60_000, &BTreeSet::new());
        assert_eq!(
            plan,
            Ok(Some(Plan::Detach {
                from: "r1".into(),
                nodes: vec!["r2".into(), "r3".into()]
            }))
        );
        // ... and then the leader waits, saying which node holds the last
        // copy, rather than a cycle.
        for (name, run, offset, keys) in [("r2", "b", 500, 50), ("r3", "c", 400, 40)] {
            let view = v.get_mut(name).unwrap();
            view.observe(60_100, Ok(status(Role::Primary, run, "old", offset, keys)));
        }
        let plan = decide(&c, &v, Some(&noted(&record)), None, 60_100, &BTreeSet::new());
        assert_eq!(
            plan,
            Err(Blocked::LastCopyNotPromotable {
                primary: "r1".into(),
                node: "r2".into()
            })
        );
    }

    #[test]
    fn a_shelter_never_closes_a_replication_cycle() {
        // r3 (recorded) lost its data; r2 follows it; r1, out of reach,
        // was last seen following r2 with more data: pointing r2 at r1
        // would be a cycle, so r2, the best copy left, is promoted.
        let mut c = config(&[100, 100, 100]);
        c.settings.max_lag_bytes = 10;
        let r2_addr = "10.0.0.2:6379";
        let r3_addr = "10.0.0.3:6379";
        let mut r1 = NodeView::default();
        r1.observe(0, Ok(status(linked(r2_addr), "a", "h", 395, 395)));
        r1.observe(1000, Err(RedisError::Timeout));
        let mut r2 = NodeView::default();
        let r2_role = Role::Replica {
            primary: r3_addr.into(),
            link_up: false,
            link_down_ms: Some(500),
        };
        r2.observe(1000, Ok(status(r2_role, "b", "h2", 69, 69)));
        let mut r3 = NodeView::default();
        r3.observe(0, Ok(status(linked(r2_addr), "c", "h", 395, 395)));
        r3.observe(1000, Ok(status(Role::Primary, "c2", "new", 0, 0)));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        let record = GroupRecord {
            epoch: 5,
            primary: "r3".into(),
            run_id: None,
            lost_data: false,
        };
        assert_loss_then_failover(&c, &mut v, &record, 1000, "r3", "r2");
    }

    #[test]
    fn a_primary_refusing_the_password_is_not_down() {
        let c = config(&[100, 100, 100]);
        let mut r1 = NodeView::default();
        r1.observe(0, Ok(status(Role::Primary, "a", "h", 10, 1)));
        for t in [1000, 5000, 60_000] {
            r1.observe(t, Err(RedisError::Auth("WRONGPASS".into())));
        }
        assert_eq!(r1.down_since, None);
        let replica_of_r1 = |run: &str| {
            let mut v = NodeView::default();
            v.observe(60_000, Ok(status(linked("10.0.0.1:6379"), run, "h", 10, 1)));
            v
        };
        let v = views(vec![("r1", r1), ("r2", replica_of_r1("b")), ("r3", replica_of_r1("c"))]);
        let record = GroupRecord {
            epoch: 5,
            primary: "r1".into(),
            run_id: None,
            lost_data: false,
        };
        assert_eq!(decide(&c, &v, Some(&record), None, 60_000, &BTreeSet::new()), Ok(None));
    }

    #[test]
    fn no_node_is_pointed_at_an_unreachable_recorded_primary_never_seen_serving() {
        // The record names r3 (a failover whose promotion did not happen);
        // r3, out of reach now, was last seen following r1, which claims
        // primary: pointing r1 at r3 would close a cycle (S10). r2 is not
        // pointed at it either: r3 is not known to be a primary at all;
        // the leader waits until r3 answers (and promotes it) or is down.
        let c = config(&[100, 100, 100]);
        let mut r1 = NodeView::default();
        r1.observe(1000, Ok(status(Role::Primary, "a", "h", 10, 10)));
        let mut r2 = NodeView::default();
        r2.observe(1000, Ok(status(Role::Primary, "b", "h2", 0, 0)));
        let mut r3 = NodeView::default();
        r3.observe(0, Ok(status(linked("10.0.0.1:6379"), "c", "h", 10, 10)));
        r3.observe(1000, Err(RedisError::Timeout));
        let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        let record = GroupRecord {
            epoch: 5,
            primary: "r3".into(),
            run_id: None,
            lost_data: false,
        };
        let plan = decide(&c, &v, Some(&record), None, 1000, &BTreeSet::new());
        assert_eq!(plan, Ok(None));
        // Never seen at all (a new leader): the same.
        let mut v = v;
        v.insert("r3".into(), NodeView::default());
        v.get_mut("r3").unwrap().observe(1000, Err(RedisError::Timeout));
        let plan = decide(&c, &v, Some(&record), None, 1000, &BTreeSet::new());
        assert_eq!(plan, Ok(None));
    }

    #[test]
    fn a_primary_restarted_since_recorded_with_less_data_than_a_node_back_from_its_aof_is_replaced_by_it() {
        // Every instance was away: r1, recorded under run "a", restarted
        // empty and took 5 writes; r2 came back from its AOF holding 140
        // keys and claims primary (a restart forgets REPLICAOF). A new
        // leader that never saw either before does not point r2 at r1: it
        // records r2, the data that is left.
        let c = config(&[100, 100, 100]);
        let record = recorded("r1", Some("a"));
        let mut r1 = NodeView::default();
        r1.observe(1000, Ok(status(Role::Primary, "a2", "fresh", 5, 5)));
        let mut r2 = NodeView::default();
        r2.observe(1000, Ok(status(Role::Primary, "b2", "aof", 0, 140)));
        let mut r3 = NodeView::default();
        r3.observe(1000, Ok(status(linked("10.0.0.1:6379"), "c", "fresh", 5, 5)));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        note_data_loss(&c, &mut v, Some(&record), 1000);
        assert!(v["r1"].lost_data);
        let plan = decide(&c, &v, Some(&record), None, 1000, &BTreeSet::new());
        assert_eq!(
            plan,
            Ok(Some(Plan::Failover {
                from: "r1".into(),
                to: "r2".into()
            })),
            "r3, eligible by lag, holds less than r2"
        );
        // The record names r2 with the run it reports.
        let plan = plan.unwrap().unwrap();
        assert_eq!(plan.record(6, Some(&record), &v).run_id.as_deref(), Some("b2"));

        // The same picture under the run recorded: r1 did not restart, so
        // r2 is an old primary back with writes of its own (a split
        // brain: its offset moved with them), and it is demoted as usual.
        let mut old_primary = NodeView::default();
        old_primary.observe(1000, Ok(status(Role::Primary, "b2", "aof", 140, 140)));
        let mut v = views(vec![
            ("r1", NodeView::default()),
            ("r2", old_primary),
            ("r3", v["r3"].clone()),
        ]);
        v.get_mut("r1")
            .unwrap()
            .observe(1000, Ok(status(Role::Primary, "a", "fresh", 5, 5)));
        note_data_loss(&c, &mut v, Some(&record), 1000);
        assert!(!v["r1"].lost_data);
        let plan = decide(&c, &v, Some(&record), None, 1000, &BTreeSet::new());
        assert_eq!(
            plan,
            Ok(Some(Plan::Repoint {
                nodes: vec!["r2".into()]
            }))
        );
    }

    #[test]
    fn an_empty_replica_is_not_promoted_while_a_node_refuses_the_password() {
        // r1 (recorded) is down; r3 is empty; r2 is up but refuses arbiter's
        // password: it may hold the data, so r3 is not eligible.
        let c = config(&[100, 100, 100]);
        let mut r1 = NodeView::default();
        r1.observe(0, Err(RedisError::Unreachable("refused".into())));
        let mut r2 = NodeView::default();
        r2.observe(0, Err(RedisError::Auth("WRONGPASS".into())));
        let mut r3 = NodeView::default();
        r3.observe(0, Ok(status(down_replica(100), "c", "h", 0, 0)));
        let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        let why = eligibility(&c, &v, "r1", 10_000);
        assert_eq!(
            why[1],
            (
                "r3".into(),
                Some("empty while r2 refuses arbiter's password (it may hold data)".into())
            )
        );
        assert_eq!(select_candidate(&c, &v, "r1", 10_000), None);
    }

    #[test]
    fn a_node_is_not_pointed_at_an_unanswering_primary_that_restarted_with_less_data() {
        // r1 was recorded under run "a"; its last answer was run "a2" with
        // 5 keys, and it does not answer now. r2, back from its RDB with
        // 147 keys, is not pointed at it; r3 (an empty replica of r2) is.
        // (Judged by r1's last answer, r2 is a copy from disk holding more
        // than r1's history: r1 lost data, and r2 is promoted.)
        let c = config(&[100, 100, 100]);
        let record = recorded("r1", Some("a"));
        let mut r1 = NodeView::default();
        r1.observe(900, Ok(status(Role::Primary, "a2", "fresh", 5, 5)));
        r1.observe(1000, Err(RedisError::Timeout));
        let mut r2 = NodeView::default();
        r2.observe(1000, Ok(status(Role::Primary, "b2", "rdb", 0, 147)));
        let mut r3 = NodeView::default();
        r3.observe(1000, Ok(status(linked("10.0.0.2:6379"), "c2", "other", 0, 0)));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        let plan = decide(&c, &v, Some(&record), None, 1000, &BTreeSet::new());
        assert_eq!(
            plan,
            Ok(Some(Plan::Repoint {
                nodes: vec!["r3".into()]
            }))
        );
        assert_loss_then_failover(&c, &mut v, &record, 1000, "r1", "r2");
    }

    #[test]
    fn a_node_back_from_disk_with_more_keys_than_the_recorded_primary_is_promoted() {
        // r1 was recorded under the run it still has (promoted from an old
        // RDB while r2 was down) and holds 282 keys; r2, last seen as a
        // replica, restarted from its AOF with 336 keys on another history.
        // It is a copy reloaded from disk, not an old primary that went on
        // taking writes: r1 is the one holding less, and r2 is promoted.
        let c = config(&[100, 100, 100]);
        let record = recorded("r1", Some("a"));
        let mut r1 = NodeView::default();
        r1.observe(1000, Ok(status(Role::Primary, "a", "h1", 282, 282)));
        let mut r2 = NodeView::default();
        let role = linked("10.0.0.1:6379");
        r2.observe(0, Ok(status(role.clone(), "b", "h0", 300, 300)));
        r2.observe(500, Err(RedisError::Unreachable("refused".into())));
        r2.observe(1000, Ok(status(Role::Primary, "b2", "h2", 0, 336)));
        let mut r3 = NodeView::default();
        r3.observe(1000, Ok(status(role, "c", "h1", 282, 282)));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        assert_loss_then_failover(&c, &mut v, &record, 1000, "r1", "r2");
    }

    #[test]
    fn a_claimant_holding_less_than_a_silent_node_last_held_is_no_shelter_yet() {
        // Seed 33036: r1 (recorded) lost its data and is down; r2 came
        // back from an old RDB (20 keys, claiming primary); r3 last answered
        // following r1 with 240 keys, in an earlier term, and is silent
        // (within stale_after_ms). Recording r2 could end with r3 repointed
        // at it: wait for r3.
        let c = config(&[100, 100, 100]);
        let record = recorded("r1", Some("a2"));
        let mut r1 = NodeView::default();
        r1.observe(16_000, Ok(status(Role::Primary, "a2", "a2-new", 0, 0)));
        r1.observe(16_700, Err(RedisError::Unreachable("refused".into())));
        r1.lost_data = true;
        let mut r2 = NodeView::default();
        r2.observe(16_800, Err(RedisError::Unreachable("refused".into())));
        let mut back = status(Role::Primary, "b2", "b2-new", 20, 20);
        back.uptime_s = Some(0);
        r2.observe(21_200, Ok(back));
        let mut r3 = NodeView::default();
        r3.observe(12_000, Ok(status(down_replica(100), "c", "a1", 240, 240)));
        r3.observe(12_900, Err(RedisError::Timeout));
        r3.earlier_term = true;
        let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        assert!(shelter(&c, &v, "r1", 21_200).is_none());
        let plan = decide(&c, &v, Some(&noted(&record)), None, 21_200, &BTreeSet::new());
        assert!(matches!(plan, Err(Blocked::NoEligibleReplica { .. })), "{plan:?}");
        // Silent past the staleness limit, r3 is no longer waited for.
        let later = 12_900 + c.settings.stale_after_ms + 1;
        let mut v = v;
        let st = v["r2"].status.clone().unwrap();
        v.get_mut("r2").unwrap().observe(later, Ok(st));
        assert!(matches!(shelter(&c, &v, "r1", later), Some(Shelter::Promote(ref n)) if n == "r2"));
    }

    #[test]
    fn a_replica_of_an_earlier_primary_that_lost_data_holding_more_is_the_data_left() {
        // Seed 33036, later: r2 is recorded (20 keys); r1, the primary
        // before it, lost its data and is down; r3 answers again, still
        // following r1 with the 240 keys r1 held before its loss: r2's
        // history lacks them, and r3 (which would resync from r1) is
        // promoted rather than repointed at r2.
        let c = config(&[100, 100, 100]);
        let record = recorded("r2", Some("b2"));
        let mut r1 = NodeView::default();
        r1.observe(26_000, Err(RedisError::Unreachable("refused".into())));
        r1.lost_data = true;
        let mut r2 = NodeView::default();
        r2.observe(27_000, Ok(status(Role::Primary, "b2", "b2-new", 30, 30)));
        let mut r3 = NodeView::default();
        r3.observe(27_000, Ok(status(down_replica(14_000), "c", "a1", 240, 240)));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        assert_loss_then_failover(&c, &mut v, &record, 27_000, "r2", "r3");
    }

    #[test]
    fn a_leader_that_never_saw_the_primary_waits_for_a_node_it_never_reached() {
        // Seed 44570: every instance was away; the new leader never saw r1
        // (recorded) serving; r3 follows it (60 keys); r2 has not answered
        // since the leader took over. r3 is not promoted until r2 answers
        // or has been silent past stale_after_ms.
        let c = config(&[100, 100, 100]);
        let mut r1 = NodeView::default();
        r1.observe(53_000, Err(RedisError::Unreachable("refused".into())));
        let mut r2 = NodeView::default();
        r2.observe(53_000, Err(RedisError::Timeout));
        let mut r3 = NodeView::default();
        r3.observe(60_000, Ok(status(down_replica(1_000), "c", "A", 60, 60)));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        assert_eq!(
            eligibility(&c, &v, "r1", 60_000)[1].1,
            Some(
                "r2 has not answered since this instance took over, and it never saw r1 serving: r2 may hold more"
                    .into()
            )
        );
        let later = 53_000 + c.settings.stale_after_ms + 1;
        let st = v["r3"].status.clone().unwrap();
        v.get_mut("r3").unwrap().observe(later, Ok(st));
        assert_eq!(eligibility(&c, &v, "r1", later)[1].1, None);
        // A leader that saw r1 serving knows its replicas: no wait.
        let r1 = v.get_mut("r1").unwrap();
        *r1 = NodeView::default();
        r1.observe(52_000, Ok(status(Role::Primary, "a", "A", 60, 60)));
        r1.observe(53_000, Err(RedisError::Unreachable("refused".into())));
        assert_eq!(eligibility(&c, &v, "r1", 60_000)[1].1, None);
    }

    #[test]
    fn a_replica_of_another_node_is_not_eligible() {
        // Seed 67385: r2 follows r3, a node claiming primary against the
        // record, not r1 (recorded, down): it holds r3's history.
        let c = config(&[100, 100, 100]);
        let mut r1 = NodeView::default();
        r1.observe(40_000, Ok(status(Role::Primary, "a", "A", 300, 300)));
        r1.observe(43_000, Err(RedisError::Unreachable("refused".into())));
        let mut r2 = NodeView::default();
        r2.observe(43_000, Ok(status(linked("10.0.0.3:6379"), "b", "C", 56, 56)));
        let mut r3 = NodeView::default();
        r3.observe(43_000, Ok(status(Role::Primary, "c", "C", 56, 56)));
        let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        assert_eq!(
            eligibility(&c, &v, "r1", 43_000)[0].1,
            Some("follows 10.0.0.3:6379, not r1".into())
        );
    }

    #[test]
    fn while_waiting_a_replica_of_an_emptied_claimant_is_detached() {
        // Seed 42644: r3 (recorded) lost its data and is down; nothing is
        // eligible. r1 follows r2, which the record does not name and
        // which came back empty: r1 would resync its 85 keys away, and is
        // detached while the leader waits.
        let c = config(&[100, 100, 100]);
        let record = noted(&recorded("r3", Some("c2")));
        let mut r1 = NodeView::default();
        r1.observe(38_400, Ok(status(down_replica(100), "a", "B", 85, 85)));
        if let Some(NodeStatus {
            role: Role::Replica { primary, .. },
            ..
        }) = r1.status.as_mut()
        {
            *primary = "10.0.0.2:6379".into();
        }
        let mut r2 = NodeView::default();
        r2.observe(38_400, Ok(status(Role::Primary, "b2", "B2", 0, 0)));
        let mut r3 = NodeView::default();
        r3.observe(36_400, Ok(status(Role::Primary, "c2", "C2", 0, 0)));
        r3.observe(38_400, Err(RedisError::Unreachable("refused".into())));
        r3.lost_data = true;
        let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        let plan = decide(&c, &v, Some(&record), None, 38_400, &BTreeSet::new());
        assert_eq!(
            plan,
            Ok(Some(Plan::Detach {
                from: "r2".into(),
                nodes: vec!["r1".into()]
            }))
        );
    }

    #[test]
    fn a_loss_is_recorded_and_a_successor_inherits_it() {
        // Seed 20071: r3 (recorded) lost data; r2, priority 0, holds more
        // and was detached to keep it. The leader that knows notes the loss
        // in the record; a successor that never saw it repoints r2 at r3
        // without the mark, and waits for an operator with it.
        let c = config(&[100, 0, 100]);
        let record = recorded("r3", Some("c"));
        let mut r1 = NodeView::default();
        r1.observe(58_000, Ok(status(linked("10.0.0.3:6379"), "a", "C", 225, 225)));
        let mut r2 = NodeView::default();
        r2.observe(58_000, Ok(status(Role::Primary, "b", "B", 428, 428)));
        let mut r3 = NodeView::default();
        r3.observe(58_000, Ok(status(Role::Primary, "c", "C", 225, 225)));
        let fresh = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        let mut knows = fresh.clone();
        knows.get_mut("r3").unwrap().lost_data = true;
        let plan = decide(&c, &knows, Some(&record), None, 58_000, &BTreeSet::new());
        assert_eq!(plan, Ok(Some(Plan::NoteLoss { primary: "r3".into() })));
        let noted = plan.unwrap().unwrap().record(7, Some(&record), &knows);
        assert!(noted.lost_data && noted.primary == "r3");
        // (once recorded, the leader that knows just waits)
        let plan = decide(&c, &knows, Some(&noted), None, 58_100, &BTreeSet::new());
        assert!(matches!(plan, Err(Blocked::LastCopyNotPromotable { .. })), "{plan:?}");
        // A successor without the mark would resync r2's data away...
        let mut v = fresh.clone();
        note_data_loss(&c, &mut v, Some(&record), 58_000);
        let plan = decide(&c, &v, Some(&record), None, 58_000, &BTreeSet::new());
        assert_eq!(
            plan,
            Ok(Some(Plan::Repoint {
                nodes: vec!["r2".into()]
            }))
        );
        // ... with it, it waits for an operator too.
        let mut v = fresh;
        note_data_loss(&c, &mut v, Some(&noted), 58_000);
        assert!(v["r3"].lost_data);
        let plan = decide(&c, &v, Some(&noted), None, 58_000, &BTreeSet::new());
        assert_eq!(
            plan,
            Err(Blocked::LastCopyNotPromotable {
                primary: "r3".into(),
                node: "r2".into()
            })
        );
        // A plan that records another primary ends the mark.
        let failover = Plan::Failover {
            from: "r3".into(),
            to: "r1".into(),
        };
        assert!(!failover.record(8, Some(&noted), &v).lost_data);
    }

    #[test]
    fn up_for_less_than_the_round_since_the_first_miss_is_a_restart_while_unseen() {
        // Seed 50556: missed at 1 000, answered at 2 000 up for 0 s: it
        // started after 1 000 (a poll at or after 2 000 saw under 1 s of
        // uptime). Up for 1 s it may have run since before the miss.
        for (up, restarted) in [(0, true), (1, false)] {
            let mut v = NodeView::default();
            v.observe(1_000, Err(RedisError::Timeout));
            let mut st = status(Role::Primary, "a", "A", 10, 10);
            st.uptime_s = Some(up);
            v.observe(2_000, Ok(st));
            assert_eq!(v.restarted_while_unseen(), restarted, "up {up} s");
        }
    }

    #[test]
    fn a_refused_password_does_not_end_the_outage_a_restart_is_judged_by() {
        // Seed 38485: r2, never seen answering by this leader (unreachable,
        // then refusing the password, then unreachable again), answers
        // claiming primary from its RDB (offset 120, 120 keys), up for 2 s:
        // it restarted after this leader first failed to reach it, so it is
        // a copy from disk, holding more than r3 (recorded, 59 keys on
        // another history): r3's history lacks it, and r2 is not repointed.
        let c = config(&[100, 100, 100]);
        let record = recorded("r3", Some("c"));
        let mut r1 = NodeView::default();
        r1.observe(43_700, Ok(status(linked("10.0.0.3:6379"), "a", "C", 40, 59)));
        let mut r2 = NodeView::default();
        r2.observe(38_000, Err(RedisError::Unreachable("reset".into())));
        r2.observe(40_000, Err(RedisError::Auth("WRONGPASS".into())));
        r2.observe(42_500, Err(RedisError::Unreachable("reset".into())));
        let mut back = status(Role::Primary, "b2", "B2", 120, 120);
        back.uptime_s = Some(2);
        r2.observe(43_700, Ok(back));
        assert!(r2.back_from_disk());
        let mut r3 = NodeView::default();
        r3.observe(43_700, Ok(status(Role::Primary, "c", "C", 40, 59)));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        note_data_loss(&c, &mut v, Some(&record), 43_700);
        assert!(v["r3"].lost_data);
        let plan = decide(&c, &v, Some(&record), None, 43_700, &BTreeSet::new());
        assert!(
            !matches!(plan, Ok(Some(Plan::Repoint { ref nodes })) if nodes.contains(&"r2".to_string())),
            "{plan:?}"
        );
    }

    #[test]
    fn a_node_never_seen_that_restarted_out_of_reach_with_more_keys_is_the_data_left() {
        // r2 was promoted under the run it still has and holds 76 keys (its
        // history began at an empty restart this leader never saw). r1, out
        // of reach since this leader started, answers for the first time
        // holding 202 keys on another history, up for 0 s: it restarted
        // from its AOF while out of reach, so it is the data left, and is
        // promoted. Up for 30 s it ran all along behind a partition: an old
        // primary of a split brain (its offset moved with the writes it
        // took), demoted.
        let c = config(&[100, 100, 100]);
        let record = recorded("r2", Some("b"));
        for (uptime, lost) in [(0, true), (30, false)] {
            let mut r1 = NodeView::default();
            r1.observe(41_000, Err(RedisError::Unreachable("refused".into())));
            // (one that ran on took writes: its offset moved)
            let offset = if lost { 0 } else { 250 };
            let mut back = status(Role::Primary, "a1", "A", offset, 202);
            back.uptime_s = Some(uptime);
            r1.observe(60_400, Ok(back));
            let mut r2 = NodeView::default();
            r2.observe(60_400, Ok(status(Role::Primary, "b", "B", 76, 76)));
            let mut r3 = NodeView::default();
            r3.observe(60_400, Ok(status(linked("10.0.0.2:6379"), "c", "B", 76, 76)));
            let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
            note_data_loss(&c, &mut v, Some(&record), 60_400);
            assert_eq!(v["r2"].lost_data, lost, "up for {uptime} s");
            let plan = decide(&c, &v, Some(&record), None, 60_400, &BTreeSet::new());
            let expected = if lost {
                Plan::Failover {
                    from: "r2".into(),
                    to: "r1".into(),
                }
            } else {
                Plan::Repoint {
                    nodes: vec!["r1".into()],
                }
            };
            assert_eq!(plan, Ok(Some(expected)), "up for {uptime} s");
        }
    }

    #[test]
    fn a_priority_zero_copy_holding_more_than_the_candidate_is_detached_not_resynced_away() {
        // r1 (recorded) lost its data and is down. r3, promotable and in
        // sync with it, holds 91 keys written since; r2 holds 140 from
        // before the loss, priority 0. Promoting r3 would end with r2
        // repointed at it: r2 is detached from r1 instead (r3 holds no
        // more than r1's last answer: nothing to keep there), and the
        // leader waits for an operator.
        let mut c = config(&[100, 0, 100]);
        c.settings.stale_after_ms = 60_000;
        let record = recorded("r1", Some("a2"));
        let mut r1 = NodeView::default();
        r1.observe(50_000, Ok(status(Role::Primary, "a2", "new", 91, 91)));
        r1.observe(56_000, Err(RedisError::Unreachable("refused".into())));
        r1.lost_data = true;
        let mut r2 = NodeView::default();
        r2.observe(60_000, Ok(status(down_replica(8_000), "b", "old", 140, 140)));
        let mut r3 = NodeView::default();
        r3.observe(60_000, Ok(status(down_replica(4_000), "c", "new", 91, 91)));
        let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        // (r3 holds fewer keys than r2 on another history: no candidate)
        assert_eq!(select_candidate(&c, &v, "r1", 60_000), None);
        let plan = decide(&c, &v, Some(&record), None, 60_000, &BTreeSet::new());
        assert_eq!(
            plan,
            Ok(Some(Plan::Detach {
                from: "r1".into(),
                nodes: vec!["r2".into()]
            }))
        );
    }

    #[test]
    fn a_copy_back_from_disk_beats_the_replicas_of_a_primary_this_leader_never_saw() {
        // r1 (recorded) never answered this leader; r2 follows it holding
        // 59 keys (r1 had reloaded an old snapshot before it died); r3,
        // out of reach since this leader started, answers up for 0 s with
        // 120 keys from its AOF on another history. r1's history lost data:
        // r3 is promoted rather than repointed at r2.
        let c = config(&[100, 100, 100]);
        let record = recorded("r1", Some("a"));
        let mut r1 = NodeView::default();
        r1.observe(13_600, Err(RedisError::Unreachable("refused".into())));
        let mut r2 = NodeView::default();
        r2.observe(15_700, Ok(status(down_replica(4_700), "b", "h1", 59, 59)));
        let mut r3 = NodeView::default();
        r3.observe(13_600, Err(RedisError::Unreachable("refused".into())));
        let mut back = status(Role::Primary, "c2", "h3", 0, 120);
        back.uptime_s = Some(0);
        r3.observe(15_700, Ok(back));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        assert_loss_then_failover(&c, &mut v, &record, 16_700, "r1", "r3");
    }

    #[test]
    fn a_replica_unseen_past_the_staleness_limit_is_no_evidence_against_the_primary() {
        // r3 was just promoted (233 keys); r1 follows it with 227. r2 last
        // answered 11 s ago (stale_after 10 s) as a replica of r3 on r3's
        // older history with 247 keys: too old to judge r3 by (it made a
        // leader flap between r1 and r3). 5 s ago it still counts.
        let c = config(&[100, 100, 100]);
        let record = recorded("r3", Some("c"));
        for (unseen_for, lost) in [(11_000, false), (5_000, true)] {
            let now = 40_000;
            let mut r1 = NodeView::default();
            r1.observe(now, Ok(status(linked("10.0.0.3:6379"), "a", "r1h", 227, 227)));
            let mut r2 = NodeView::default();
            r2.observe(0, Ok(status(linked("10.0.0.3:6379"), "b", "old", 247, 247)));
            r2.observe(now - unseen_for, Err(RedisError::Timeout));
            let mut r3 = NodeView::default();
            r3.observe(now, Ok(status(Role::Primary, "c", "new", 233, 233)));
            let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
            note_data_loss(&c, &mut v, Some(&record), now);
            assert_eq!(v["r3"].lost_data, lost, "r2 unseen for {unseen_for} ms");
        }
    }

    #[test]
    fn a_follower_on_an_older_history_holding_more_shows_an_unseen_primary_lost_data() {
        // Every instance was away. r1 (recorded, never seen by this leader)
        // died 70 s ago with r3 in sync, came back from an old snapshot,
        // took writes with r2 resyncing from it, and died again 36 s ago.
        // r2 (the freshest link) holds 54 keys on r1's new history; r3
        // holds 140 on the old one: r1 lost data, and r3, the best copy
        // left, is promoted although the lag rule finds nobody eligible.
        let mut c = config(&[100, 100, 100]);
        c.settings.max_lag_bytes = 50;
        c.settings.stale_after_ms = 10_000;
        let record = recorded("r1", Some("a"));
        let mut r1 = NodeView::default();
        r1.observe(70_000, Err(RedisError::Unreachable("refused".into())));
        let mut r2 = NodeView::default();
        r2.observe(80_000, Ok(status(down_replica(36_600), "b", "new", 54, 54)));
        let mut r3 = NodeView::default();
        r3.observe(80_000, Ok(status(down_replica(70_600), "c", "old", 140, 140)));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        assert_eq!(select_candidate(&c, &v, "r1", 80_000), None);
        assert_loss_then_failover(&c, &mut v, &record, 80_000, "r1", "r3");
    }

    #[test]
    fn a_node_at_offset_zero_holding_keys_is_a_copy_from_disk_whatever_its_uptime() {
        // Every instance was away for long. r1 (recorded, never seen) is
        // down; r2 follows it with 25 keys; r3 claims primary at offset 0
        // with 240 keys, up for 33 s (it restarted from its AOF before the
        // instances came back, so its uptime tells nothing). Offset 0 with
        // keys: it took no write since it reloaded them, it is no old
        // primary that ran on in a split brain. It is the data left.
        let c = config(&[100, 100, 100]);
        let record = recorded("r1", Some("a"));
        let mut r1 = NodeView::default();
        r1.observe(40_000, Err(RedisError::Unreachable("refused".into())));
        let mut r2 = NodeView::default();
        r2.observe(46_000, Ok(status(down_replica(18_000), "b", "h2", 25, 25)));
        let mut r3 = NodeView::default();
        let mut back = status(Role::Primary, "c2", "h3", 0, 240);
        back.uptime_s = Some(33);
        r3.observe(46_000, Ok(back));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        assert!(v["r3"].untouched_reload());
        assert_loss_then_failover(&c, &mut v, &record, 46_000, "r1", "r3");
    }

    #[test]
    fn a_replica_about_to_resync_from_a_restarted_claimant_is_detached_while_the_record_is_unproven() {
        // Seed 2804: r2 (recorded) never answered this leader. r1 came back
        // empty and took writes (110 keys on a new history); r3 still
        // follows it, link down, holding 120 keys of the old history: it
        // would resync them away. It is detached (nothing can be repointed
        // at r2 before r2 is seen serving).
        let c = config(&[100, 100, 100]);
        let record = recorded("r2", Some("b"));
        let mut r1 = NodeView::default();
        r1.observe(18_000, Ok(status(Role::Primary, "a2", "new", 110, 110)));
        let mut r2 = NodeView::default();
        r2.observe(18_000, Err(RedisError::Timeout));
        let mut r3 = NodeView::default();
        let follows_r1 = Role::Replica {
            primary: "10.0.0.1:6379".into(),
            link_up: false,
            link_down_ms: Some(20),
        };
        r3.observe(18_000, Ok(status(follows_r1.clone(), "c", "old", 120, 120)));
        let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        let plan = decide(&c, &v, Some(&record), None, 18_000, &BTreeSet::new());
        assert_eq!(
            plan,
            Ok(Some(Plan::Detach {
                from: "r1".into(),
                nodes: vec!["r3".into()]
            }))
        );
        // Holding no more than the claimant (or on its history), it is left.
        let mut v2 = v.clone();
        let r3 = v2.get_mut("r3").unwrap();
        r3.observe(18_100, Ok(status(follows_r1, "c", "old", 100, 100)));
        let plan = decide(&c, &v2, Some(&record), None, 18_100, &BTreeSet::new());
        assert_eq!(plan, Ok(None));
    }

    #[test]
    fn a_cold_start_claimant_holding_less_than_a_node_on_another_history_is_not_recorded() {
        // Seed 16383: no record; r1 (primary, 182 keys) died; r2 came back
        // from an old RDB (180 keys) and is the one node claiming primary;
        // r3 follows r1 holding 182. Recording r2 would resync r3's data
        // away: the leader waits and says why (unless allow_data_loss).
        let mut c = config(&[100, 100, 100]);
        let mut r1 = NodeView::default();
        r1.observe(30_000, Err(RedisError::Unreachable("refused".into())));
        let mut r2 = NodeView::default();
        r2.observe(30_000, Ok(status(Role::Primary, "b2", "b2-new", 180, 180)));
        let mut r3 = NodeView::default();
        r3.observe(30_000, Ok(status(down_replica(400), "c", "old", 182, 182)));
        let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        let plan = decide(&c, &v, None, None, 30_000, &BTreeSet::new());
        assert_eq!(
            plan,
            Err(Blocked::ColdStartBehind {
                primary: "r2".into(),
                node: "r3".into()
            })
        );
        c.settings.allow_data_loss = true;
        let plan = decide(&c, &v, None, None, 30_000, &BTreeSet::new());
        assert_eq!(plan, Ok(Some(Plan::Bootstrap { primary: "r2".into() })));
    }

    #[test]
    fn a_cold_start_claimant_holding_nothing_is_not_recorded_while_data_may_exist() {
        // Seed 78926: no record; r2 came back empty and claims primary; r1
        // refuses arbiter's password, r3 never answered. Either may hold
        // the data that recording r2 would resync away.
        let mut c = config(&[100, 100, 100]);
        let mut r1 = NodeView::default();
        r1.observe(9_000, Err(RedisError::Auth("WRONGPASS".into())));
        let mut r2 = NodeView::default();
        r2.observe(9_000, Ok(status(Role::Primary, "b1", "b1-new", 0, 0)));
        let mut r3 = NodeView::default();
        r3.observe(1_000, Err(RedisError::Timeout));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        let blocked =
            |v: &BTreeMap<String, NodeView>, c: &GroupConfig, now| decide(c, v, None, None, now, &BTreeSet::new());
        assert_eq!(
            blocked(&v, &c, 9_000),
            Err(Blocked::ColdStartEmpty {
                primary: "r2".into(),
                reason: "empty while r1 refuses arbiter's password (it may hold data)".into()
            })
        );
        // r1 answers, empty too; r3 is still within the staleness limit.
        v.get_mut("r1")
            .unwrap()
            .observe(9_500, Ok(status(linked("10.0.0.2:6379"), "a", "b1-new", 0, 0)));
        assert_eq!(
            blocked(&v, &c, 9_500),
            Err(Blocked::ColdStartEmpty {
                primary: "r2".into(),
                reason: "empty while r3 has not answered since this instance took over (it may hold data)".into()
            })
        );
        // Silent past the staleness limit: nothing is known to exist.
        let later = 1_000 + c.settings.stale_after_ms + 1;
        for n in ["r1", "r2"] {
            let st = v[n].status.clone().unwrap();
            v.get_mut(n).unwrap().observe(later, Ok(st));
        }
        assert_eq!(
            blocked(&v, &c, later),
            Ok(Some(Plan::Bootstrap { primary: "r2".into() }))
        );
        // And allow_data_loss records it at once.
        v.get_mut("r1")
            .unwrap()
            .observe(9_000, Err(RedisError::Auth("WRONGPASS".into())));
        c.settings.allow_data_loss = true;
        assert_eq!(
            blocked(&v, &c, later),
            Ok(Some(Plan::Bootstrap { primary: "r2".into() }))
        );
    }

    #[test]
    fn a_node_this_leader_repointed_is_never_a_shelter_for_its_new_source() {
        // Seed 49247: r1 (recorded) came back empty; the leader sheltered r3
        // at r2, then r3 stopped answering. Its last answer still showed it
        // following r1 with more keys than r2; after the repoint it is known
        // to follow r2, so r2 is not pointed back at it (a cycle, S10).
        let mut r3 = NodeView::default();
        r3.observe(19_000, Ok(status(linked("10.0.0.1:6379"), "c", "old", 150, 150)));
        r3.repointed("10.0.0.2:6379");
        r3.observe(19_100, Err(RedisError::Timeout));
        let last = r3.previous.as_ref().unwrap();
        assert_eq!(
            last.role,
            Role::Replica {
                primary: "10.0.0.2:6379".into(),
                link_up: false,
                link_down_ms: None
            }
        );
        // What it holds is unknown until it answers (it may be resyncing).
        assert_eq!((last.offset, last.keys), (0, None));
        let c = config(&[100, 100, 100]);
        let mut v = views(vec![("r3", r3)]);
        assert!(follows_any(&c, &v, "r3", &["r2".to_string()]));
        // A node seen only in an earlier term and silent now is no shelter.
        let view = v.get_mut("r3").unwrap();
        view.observe(19_200, Ok(status(linked("10.0.0.1:6379"), "c", "old", 150, 150)));
        view.observe(19_300, Err(RedisError::Timeout));
        view.earlier_term = true;
        let mut r1 = NodeView::default();
        r1.observe(19_000, Ok(status(Role::Primary, "a", "old", 150, 150)));
        r1.observe(19_300, Ok(status(Role::Primary, "a2", "new", 0, 0)));
        r1.lost_data = true;
        let mut r2 = NodeView::default();
        r2.observe(19_300, Ok(status(linked("10.0.0.1:6379"), "b", "old", 100, 100)));
        v.insert("r1".into(), r1);
        v.insert("r2".into(), r2);
        assert!(!matches!(
            shelter(&c, &v, "r1", 19_300),
            Some(Shelter::Repoint(Plan::Shelter { ref to, .. })) if to == "r3"
        ));
    }

    #[test]
    fn a_copy_back_from_its_aof_holding_more_than_a_dead_primary_last_held_is_promoted() {
        // Seed 18763: r1 (recorded) answered holding 409 keys, then died;
        // r2 follows it in sync (409, the lag rule's candidate); r3 came
        // back from its AOF holding 420 (offset 0, claiming primary).
        // Promoting r2 would resync r3's keys away: r1's history lacks
        // them, so r1 counts as having lost data, and r3 is promoted.
        let c = config(&[100, 100, 100]);
        let record = recorded("r1", Some("a"));
        let mut r1 = NodeView::default();
        r1.observe(40_000, Ok(status(Role::Primary, "a", "h1", 409, 409)));
        r1.observe(41_000, Err(RedisError::Unreachable("refused".into())));
        let mut r2 = NodeView::default();
        r2.observe(46_000, Ok(status(down_replica(5_000), "b", "h1", 409, 409)));
        let mut r3 = NodeView::default();
        r3.observe(40_000, Err(RedisError::Unreachable("refused".into())));
        r3.observe(46_000, Ok(status(Role::Primary, "c2", "c2-new", 0, 420)));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        // (r2 is no candidate either way: it holds fewer keys than r3 on
        // another history)
        assert_eq!(select_candidate(&c, &v, "r1", 46_000), None);
        assert_loss_then_failover(&c, &mut v, &record, 46_000, "r1", "r3");
        // A copy holding no more than r1 last held is no such evidence.
        let mut v = v.clone();
        v.get_mut("r1").unwrap().lost_data = false;
        v.get_mut("r3")
            .unwrap()
            .observe(46_100, Ok(status(Role::Primary, "c2", "c2-new", 0, 400)));
        note_data_loss(&c, &mut v, Some(&record), 46_100);
        assert!(!v["r1"].lost_data);
        // Nor is one holding more while r1 refuses arbiter's password
        // (seed 84064): r1 is up, and took writes since its last answer.
        let mut v = v.clone();
        let r1 = v.get_mut("r1").unwrap();
        r1.observe(46_200, Ok(status(Role::Primary, "a", "h1", 409, 409)));
        r1.observe(46_300, Err(RedisError::Auth("WRONGPASS".into())));
        v.get_mut("r3")
            .unwrap()
            .observe(46_300, Ok(status(Role::Primary, "c2", "c2-new", 0, 420)));
        note_data_loss(&c, &mut v, Some(&record), 46_300);
        assert!(!v["r1"].lost_data);
        let plan = decide(&c, &v, Some(&record), None, 46_300, &BTreeSet::new());
        assert!(
            !matches!(plan, Ok(Some(Plan::Failover { .. } | Plan::Shelter { .. }))),
            "{plan:?}"
        );
    }

    #[test]
    fn a_replica_resynced_to_less_shows_its_source_lost_data_and_carries_it_when_promoted() {
        // Seed 3296: r1 (recorded) never answered this leader; r3 followed
        // it holding 120 keys, then resynced from it to 6 keys on a new
        // history: r1 came back from less, so it lost data.
        let c = config(&[100, 100, 100]);
        let record = recorded("r1", Some("a"));
        let mut r1 = NodeView::default();
        r1.observe(44_000, Err(RedisError::Timeout));
        let mut r2 = NodeView::default();
        r2.observe(44_000, Err(RedisError::Timeout));
        let mut r3 = NodeView::default();
        r3.observe(44_000, Ok(status(down_replica(40_000), "c", "old", 120, 120)));
        r3.observe(46_400, Ok(status(linked("10.0.0.1:6379"), "c", "new", 6, 6)));
        assert_eq!(r3.shrank_from, Some(120));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        note_data_loss(&c, &mut v, Some(&record), 46_400);
        assert!(v["r1"].lost_data, "r1 lost data");
        // r3, promoted since (it kept its run and the mark), holds 76 keys
        // when r2 answers with 120 on the old history: r3's history lacks
        // them, r3 counts as having lost data, and r2 (which follows r1,
        // a replica of r3 now) is promoted rather than resynced away.
        let record = recorded("r3", Some("c"));
        let r3 = v.get_mut("r3").unwrap();
        r3.observe(52_700, Ok(status(Role::Primary, "c", "c-promoted", 76, 76)));
        assert_eq!(r3.shrank_from, Some(120));
        let r1 = v.get_mut("r1").unwrap();
        r1.lost_data = false;
        r1.observe(52_700, Ok(status(linked("10.0.0.3:6379"), "a2", "c-promoted", 76, 76)));
        let r2 = v.get_mut("r2").unwrap();
        r2.observe(52_700, Ok(status(down_replica(47_000), "b", "old", 120, 120)));
        assert_loss_then_failover(&c, &mut v, &record, 52_700, "r3", "r2");
        // Once it holds as much again, the mark is gone.
        let r3 = v.get_mut("r3").unwrap();
        r3.observe(53_000, Ok(status(Role::Primary, "c", "c-promoted", 130, 130)));
        assert_eq!(r3.shrank_from, None);
    }

    #[test]
    fn an_empty_recorded_replica_is_not_promoted_over_a_copy_back_from_disk() {
        // Seed 35227: the record names r2, whose promotion has not happened
        // yet; r2 holds no keys (it follows r1, which is down); r3 came back
        // from its AOF holding 120. Promoting r2 would resync r3's keys
        // away: r3 is promoted instead.
        let c = config(&[100, 100, 100]);
        let record = recorded("r2", Some("b"));
        let mut r1 = NodeView::default();
        r1.observe(29_000, Err(RedisError::Timeout));
        let mut r2 = NodeView::default();
        r2.observe(29_000, Ok(status(linked("10.0.0.1:6379"), "b", "a-new", 0, 0)));
        let mut r3 = NodeView::default();
        r3.observe(29_000, Err(RedisError::Unreachable("refused".into())));
        r3.observe(30_100, Ok(status(Role::Primary, "c5", "c5-new", 0, 120)));
        r2.observe(30_100, Ok(status(linked("10.0.0.1:6379"), "b", "a-new", 0, 0)));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        // (r1 never answered this leader: it may hold more than r3, which
        // risks nothing by waiting, until it has been silent past
        // stale_after_ms; seed 61842)
        note_data_loss(&c, &mut v, Some(&record), 30_100);
        assert!(shelter(&c, &v, "r2", 30_100).is_none());
        let later = 29_000 + c.settings.stale_after_ms + 100;
        for n in ["r2", "r3"] {
            let st = v[n].status.clone().unwrap();
            v.get_mut(n).unwrap().observe(later, Ok(st));
        }
        assert_loss_then_failover(&c, &mut v, &record, later, "r2", "r3");
    }

    #[test]
    fn an_empty_node_is_never_a_shelter_and_a_node_that_lost_data_before_can_be() {
        // Seed 58366: r1 (recorded) lost its data and is down; r2 and r3
        // came back empty. Nothing is left to keep: no empty node is
        // promoted as a shelter.
        let c = config(&[100, 100, 100]);
        let mut r1 = NodeView::default();
        r1.observe(40_000, Ok(status(Role::Primary, "a2", "a2-new", 0, 0)));
        r1.observe(43_000, Err(RedisError::Unreachable("refused".into())));
        r1.lost_data = true;
        let mut r2 = NodeView::default();
        r2.observe(43_000, Ok(status(Role::Primary, "b6", "b6-new", 0, 0)));
        let mut r3 = NodeView::default();
        r3.observe(43_000, Ok(status(Role::Primary, "c1", "c1-new", 0, 0)));
        let v = views(vec![("r1", r1), ("r2", r2.clone()), ("r3", r3)]);
        assert!(shelter(&c, &v, "r1", 43_000).is_none());
        // Seed 67686: r2 lost data before (the mark is still on it) but
        // holds 169 keys written since, the most left: it is the shelter.
        let mut v = v;
        let r2 = v.get_mut("r2").unwrap();
        r2.observe(43_100, Ok(status(Role::Primary, "b6", "b6-new", 49, 169)));
        r2.lost_data = true;
        assert!(matches!(shelter(&c, &v, "r1", 43_100), Some(Shelter::Promote(ref n)) if n == "r2"));
    }

    #[test]
    fn an_empty_replica_waits_for_a_node_that_does_not_answer() {
        // r1 (recorded) is down; r2 is empty; r3 may hold data: it answered
        // before but its latest poll timed out, or (seed 87871) it never
        // answered this leader since it took over (cut off from it). r2 is
        // not eligible until r3 answers or has been silent past
        // stale_after_ms.
        let c = config(&[100, 100, 100]);
        for (seen, why) in [
            (true, "empty while r3, seen before, does not answer (it may hold data)"),
            (
                false,
                "empty while r3 has not answered since this instance took over (it may hold data)",
            ),
        ] {
            let mut r1 = NodeView::default();
            r1.observe(0, Err(RedisError::Unreachable("refused".into())));
            let mut r2 = NodeView::default();
            r2.observe(10_000, Ok(status(down_replica(100), "b", "h", 0, 0)));
            let mut r3 = NodeView::default();
            if seen {
                r3.observe(9_000, Ok(status(down_replica(100), "c", "h", 0, 0)));
            }
            r3.observe(9_500, Err(RedisError::Timeout));
            let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
            assert_eq!(eligibility(&c, &v, "r1", 10_000)[0].1, Some(why.into()));
            let later = 9_500 + c.settings.stale_after_ms + 1;
            v.get_mut("r2")
                .unwrap()
                .observe(later, Ok(status(down_replica(100), "b", "h", 0, 0)));
            assert_eq!(eligibility(&c, &v, "r1", later)[0].1, None, "seen before: {seen}");
        }
    }

    #[test]
    fn lag_is_measured_within_a_history_and_by_keys_across_histories() {
        // Seed 21741: r1 came back from its AOF on a new history (offsets
        // from 0 over 140 keys) and r2 followed it to 179 keys, offset 39;
        // r3 still holds the old history's 140 keys at offset 140. r2 has
        // everything: its offset does not compare with r3's.
        let c = config(&[100, 100, 100]);
        let mut r1 = NodeView::default();
        r1.observe(60_000, Ok(status(Role::Primary, "a1", "a1-h", 39, 179)));
        r1.observe(64_000, Err(RedisError::Unreachable("refused".into())));
        let mut r2 = NodeView::default();
        r2.observe(64_000, Ok(status(down_replica(4_000), "b", "a1-h", 39, 179)));
        let mut r3 = NodeView::default();
        r3.observe(64_000, Ok(status(down_replica(4_000), "c", "a0-h", 140, 140)));
        let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        let why = eligibility(&c, &v, "r1", 64_000);
        assert_eq!(why[0].1, None, "{why:?}");
        // r3 is behind r2 by keys (and behind r1's last answer).
        assert_eq!(
            why[1].1,
            Some("holds 140 keys, fewer than r1 (179) on another replication history".into())
        );
        // Within one history offsets still count: r2 lagging r1's last
        // answer by more than max_lag_bytes is not eligible.
        let mut v = v;
        let lagging = status(down_replica(4_000), "b", "a1-h", 39 - 30, 179);
        v.get_mut("r2").unwrap().observe(64_100, Ok(lagging));
        let mut c = c;
        c.settings.max_lag_bytes = 20;
        assert_eq!(
            eligibility(&c, &v, "r1", 64_100)[0].1,
            Some("lags 30 bytes behind the best data left (max_lag_bytes 20)".into())
        );
    }

    #[test]
    fn a_recorded_loss_settles_once_every_node_answers_holding_no_more() {
        // Seed 99070: r1 (recorded, the loss noted) took writes for seconds
        // after its replicas resynced from it; it holds 168 keys, r2 0, r3
        // 20 (back from an old RDB). What r1 lost is gone from every copy:
        // the mark is cleared (in the view and, once published, in the
        // record) instead of treating the best copy as lost.
        let c = config(&[100, 100, 100]);
        let record = noted(&recorded("r1", Some("a3")));
        let mut r1 = NodeView::default();
        r1.observe(20_554, Ok(status(Role::Primary, "a3", "A3", 168, 168)));
        let mut r2 = NodeView::default();
        r2.observe(20_554, Ok(status(Role::Primary, "b2", "B2", 0, 0)));
        let mut r3 = NodeView::default();
        r3.observe(20_554, Ok(status(Role::Primary, "c3", "C3", 20, 20)));
        let fresh = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        let mut v = fresh.clone();
        note_data_loss(&c, &mut v, Some(&record), 20_554);
        assert!(!v["r1"].lost_data);
        // Settled, the others follow r1 again (the record keeps the mark
        // while plans run)...
        let plan = decide(&c, &v, Some(&record), None, 20_554, &BTreeSet::new());
        assert!(matches!(plan, Ok(Some(Plan::Repoint { .. }))), "{plan:?}");
        // ... and in a round with nothing else to do, the record's mark is
        // cleared.
        for n in ["r2", "r3"] {
            let mut st = v[n].status.clone().unwrap();
            st.role = linked("10.0.0.1:6379");
            v.get_mut(n).unwrap().observe(20_654, Ok(st));
        }
        note_data_loss(&c, &mut v, Some(&record), 20_654);
        let plan = decide(&c, &v, Some(&record), None, 20_654, &BTreeSet::new());
        assert_eq!(plan, Ok(Some(Plan::SettleLoss { primary: "r1".into() })));
        let settled = plan.unwrap().unwrap().record(7, Some(&record), &v);
        assert!(!settled.lost_data && settled.primary == "r1");
        assert_eq!(decide(&c, &v, Some(&settled), None, 20_754, &BTreeSet::new()), Ok(None));
        // Not while a node holds more keys than r1, nor while one does not
        // answer (it may).
        for (node, answer) in [
            ("r3", Ok(status(Role::Primary, "c3", "C3", 200, 200))),
            ("r3", Err(RedisError::Unreachable("refused".into()))),
            ("r2", Err(RedisError::Auth("WRONGPASS".into()))),
        ] {
            let mut v = fresh.clone();
            v.get_mut(node).unwrap().observe(20_654, answer.clone());
            note_data_loss(&c, &mut v, Some(&record), 20_654);
            assert!(v["r1"].lost_data, "{node} {answer:?}");
            assert!(!loss_settled(&c, &v, "r1"), "{node} {answer:?}");
        }
    }

    #[test]
    fn a_claimant_shelter_waits_while_the_lost_primary_was_never_seen() {
        // Seed 70568: the record names r2 and notes its loss; this leader
        // never saw r2 answer (it held 153 keys, down since before the
        // leader took over). r1 came back from an RDB holding 20 keys and
        // claims primary; r3 answered once, empty. Recording r1 would
        // resync r2's 153 keys away once back: the leader waits, until r2
        // has been silent past stale_after_ms.
        let c = config(&[100, 100, 100]);
        let record = noted(&recorded("r2", Some("b2")));
        let mut r1 = NodeView::default();
        r1.observe(39_684, Err(RedisError::Unreachable("refused".into())));
        r1.observe(42_684, Ok(status(Role::Primary, "a3", "A3", 20, 20)));
        let mut r2 = NodeView::default();
        r2.observe(39_684, Err(RedisError::Unreachable("refused".into())));
        r2.observe(42_684, Err(RedisError::Unreachable("refused".into())));
        let mut r3 = NodeView::default();
        r3.observe(40_784, Ok(status(Role::Primary, "c2", "C2", 0, 0)));
        r3.observe(42_684, Err(RedisError::Unreachable("refused".into())));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        note_data_loss(&c, &mut v, Some(&record), 42_684);
        assert!(v["r2"].lost_data);
        assert!(shelter(&c, &v, "r2", 42_684).is_none());
        let plan = decide(&c, &v, Some(&record), None, 42_684, &BTreeSet::new());
        assert!(matches!(plan, Err(Blocked::NoEligibleReplica { .. })), "{plan:?}");
        // Silent past stale_after_ms, r2 no longer holds the copy back.
        let later = 39_684 + c.settings.stale_after_ms + 100;
        let st = v["r1"].status.clone().unwrap();
        v.get_mut("r1").unwrap().observe(later, Ok(st));
        v.get_mut("r2")
            .unwrap()
            .observe(later, Err(RedisError::Unreachable("refused".into())));
        assert!(matches!(shelter(&c, &v, "r2", later), Some(Shelter::Promote(ref n)) if n == "r1"));
    }

    #[test]
    fn a_claimant_on_a_history_the_primary_did_not_fork_from_holding_more_is_the_data_left() {
        // Seed 92386: r3 (recorded) was promoted from a replica that had
        // resynced from r1 after r1 came back empty: it holds 63 keys, and
        // its replid2 names r1's new history. r2, up for 7 s (since before
        // this leader's first poll of it), claims primary with 140 keys
        // reloaded from its RDB, on a history of its own (its replid2 names
        // r1's old one). No old primary of a split brain (that one reports
        // the replid r3's replid2 names): r3 is marked, and r2, the data
        // left, promoted. On the history r3 forked from, the same claimant
        // is an old primary that ran on: demoted.
        let c = config(&[100, 100, 100]);
        let record = recorded("r3", Some("c"));
        for (claimant, lost) in [("B1", true), ("A-new", false)] {
            let mut r1 = NodeView::default();
            r1.observe(40_990, Ok(status(linked("10.0.0.3:6379"), "a", "C", 63, 63)));
            let mut r2 = NodeView::default();
            r2.observe(37_990, Err(RedisError::Unreachable("refused".into())));
            let mut back = status(Role::Primary, "b1", claimant, 140, 140);
            back.uptime_s = Some(7);
            back.replid2 = Some("A-old".into());
            r2.observe(40_990, Ok(back));
            let mut r3 = NodeView::default();
            let mut primary = status(Role::Primary, "c", "C", 63, 63);
            primary.replid2 = Some("A-new".into());
            r3.observe(40_990, Ok(primary));
            let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
            assert!(!v["r2"].back_from_disk(), "its uptime tells nothing");
            note_data_loss(&c, &mut v, Some(&record), 40_990);
            assert_eq!(v["r3"].lost_data, lost, "{claimant}");
            let plan = decide(&c, &v, Some(&record), None, 40_990, &BTreeSet::new());
            let expected = if lost {
                Plan::Failover {
                    from: "r3".into(),
                    to: "r2".into(),
                }
            } else {
                Plan::Repoint {
                    nodes: vec!["r2".into()],
                }
            };
            assert_eq!(plan, Ok(Some(expected)), "{claimant}");
        }
    }

    #[test]
    fn a_primary_that_reloaded_fewer_keys_than_it_held_lost_data_whatever_its_offset() {
        // Seed 90080: r2 (recorded) held 354 keys at offset 10; it restarts
        // from an RDB holding 344, and the reload rebases its offset to 21.
        // r3, repointed at r2 while empty, resynced 354 keys from it since,
        // but this leader has not seen it answer since: nothing tells it
        // r3 is ahead, and r2 lost data all the same. Holding as many keys
        // as before, it did not.
        let c = config(&[100, 100, 100]);
        let record = recorded("r2", Some("b1"));
        for (keys, lost) in [(344, true), (354, false)] {
            let mut r1 = NodeView::default();
            r1.observe(50_000, Err(RedisError::Auth("WRONGPASS".into())));
            let mut r2 = NodeView::default();
            r2.observe(49_000, Ok(status(Role::Primary, "b1", "B1", 10, 354)));
            let mut back = status(Role::Primary, "b2", "B2", 21, keys);
            back.replid2 = Some("A".into());
            r2.observe(50_000, Ok(back));
            let mut r3 = NodeView::default();
            r3.observe(49_000, Ok(status(Role::Primary, "c", "C", 0, 0)));
            r3.observe(50_000, Err(RedisError::Timeout));
            let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
            note_data_loss(&c, &mut v, Some(&record), 50_000);
            assert_eq!(v["r2"].lost_data, lost, "{keys} keys");
        }
    }
}
