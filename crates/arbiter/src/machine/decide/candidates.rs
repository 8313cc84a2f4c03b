//! Which replica may replace a failed primary (S5): eligibility, the
//! candidate chosen, and the facts they rest on (how long the primary has
//! been down, whether data exists elsewhere, replication cycles).

use std::collections::BTreeMap;

use super::addr_of;
use crate::machine::NodeView;
use crate::types::{GroupConfig, Millis, NodeStatus, Role};

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
pub(super) fn follows_any(
    config: &GroupConfig,
    views: &BTreeMap<String, NodeView>,
    node: &str,
    sources: &[String],
) -> bool {
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
pub(super) fn data_exists(views: &BTreeMap<String, NodeView>, failed: &str, now: Millis, stale_after: Millis) -> bool {
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
pub(super) fn empty_held_back(
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
    let judge = Judge {
        config,
        views,
        failed,
        now,
        allowance: s
            .stale_after_ms
            .saturating_add(primary_down_for(config, views, failed, now)),
        held_back: empty_held_back(config, views, failed, now),
        unseen_while: never_answered.filter(|_| primary_unseen && !failed.is_empty()),
    };
    config
        .nodes
        .iter()
        .filter(|n| n.name != failed)
        .map(|n| (n.name.clone(), judge.why(n)))
        .collect()
}

/// What [`eligibility`] judges each node by.
struct Judge<'a> {
    config: &'a GroupConfig,
    views: &'a BTreeMap<String, NodeView>,
    failed: &'a str,
    now: Millis,
    /// For how long a replica's link may have been down.
    allowance: Millis,
    /// Why an empty node may not become primary now ([`empty_held_back`]).
    held_back: Option<String>,
    /// A node that has not answered since this leader took over, when it
    /// never saw `failed` serving.
    unseen_while: Option<&'a str>,
}

impl Judge<'_> {
    /// Why `node` may not replace the failed primary, or `None`.
    fn why(&self, node: &crate::types::RedisNode) -> Option<String> {
        let (failed, s) = (self.failed, &self.config.settings);
        if node.priority == 0 {
            return Some("priority 0".into());
        }
        let Some(status) = self.views.get(&node.name).and_then(|v| v.status.as_ref()) else {
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
        if !failed.is_empty() && !follows_any(self.config, self.views, &node.name, &[failed.to_string()]) {
            return Some(format!("follows {source}, not {failed}"));
        }
        let allowance = self.allowance;
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
        let lag = self.reference(status).saturating_sub(status.offset);
        if lag > s.max_lag_bytes {
            return Some(format!(
                "lags {lag} bytes behind the best data left (max_lag_bytes {})",
                s.max_lag_bytes
            ));
        }
        if let Some(why) = self.more_keys_elsewhere(&node.name, status) {
            return Some(why);
        }
        if status.keys == Some(0) {
            return self.held_back.clone();
        }
        if let Some(other) = self.unseen_while {
            return Some(format!(
                "{other} has not answered since this instance took over, and it never saw {failed} serving: {other} may hold more"
            ));
        }
        None
    }

    /// The nodes whose answers count for lag and keys: lag is measured
    /// against the most data that still exists: what a node held before
    /// it lost its data is gone, and what a node unseen for longer than
    /// the staleness limit held is too old to count (it may be another,
    /// older history).
    fn kept(&self) -> impl Iterator<Item = (&String, &NodeView)> {
        let stale_after = self.config.settings.stale_after_ms;
        self.views
            .iter()
            .filter(move |(_, v)| !v.lost_data && !v.unseen_longer_than(self.now, stale_after))
    }

    /// The best offset that still exists on `st`'s replication history.
    /// Offsets compare only within one replication history (one replid): a
    /// node back from disk starts a new one at offset 0, which says nothing
    /// of how much it holds.
    fn reference(&self, st: &NodeStatus) -> u64 {
        self.kept()
            .flat_map(|(_, v)| v.status.iter().chain(v.previous.iter()))
            .filter(|o| o.replid == st.replid)
            .map(|o| o.offset)
            .max()
            .unwrap_or(0)
    }

    /// Across histories keys compare (the latest answer of each node): a
    /// replica holding fewer keys than a node on another history misses
    /// data that exists.
    fn more_keys_elsewhere(&self, name: &str, st: &NodeStatus) -> Option<String> {
        let keys = st.keys?;
        self.kept()
            .filter(|(other, _)| other.as_str() != name)
            .filter_map(|(other, v)| Some((other, v.status.as_ref().or(v.previous.as_ref())?)))
            .filter(|(_, o)| o.replid != st.replid)
            .filter_map(|(other, o)| Some((other, o.keys?)))
            .filter(|&(_, k)| k > keys)
            .max_by_key(|&(other, k)| (k, std::cmp::Reverse(other)))
            .map(|(other, k)| format!("holds {keys} keys, fewer than {other} ({k}) on another replication history"))
    }
}

pub(super) fn select_candidate_with(
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
