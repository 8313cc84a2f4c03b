//! Where the replicas of a primary that lost its data keep theirs: the
//! shelter (the node holding the most data left), the nodes to detach,
//! and replicas about to resync their data away.

use std::collections::BTreeMap;

use super::candidates::follows_any;
use super::{Plan, addr_of};
use crate::machine::NodeView;
use crate::types::{GroupConfig, Millis, Role};

/// What to do for the replicas of a primary that lost its data when no
/// replica is eligible.
pub(super) enum Shelter {
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
pub(super) fn shelter(
    config: &GroupConfig,
    views: &BTreeMap<String, NodeView>,
    primary: &str,
    now: Millis,
) -> Option<Shelter> {
    let primary_addr = addr_of(config, primary);
    let follows_primary = |name: &str| {
        matches!(views.get(name).and_then(|v| v.status.as_ref()).map(|s| &s.role),
            Some(Role::Replica { primary: p, .. }) if p == primary_addr)
    };
    let followers: Vec<String> = config
        .nodes
        .iter()
        .filter(|n| n.name != primary && follows_primary(&n.name))
        .map(|n| n.name.clone())
        .collect();
    let s = Sheltering {
        config,
        views,
        primary,
        followers,
        now,
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
    if let Some(best) = s.most_data(false) {
        if s.doubtful(best) {
            return None;
        }
        let reachable = views.get(best).is_some_and(NodeView::reachable);
        let resyncs_from_loss =
            follows_any(config, views, best, &[primary.to_string()]) || follows_any(config, views, best, &lost);
        if reachable && (s.claims_primary(best) || resyncs_from_loss) {
            return Some(s.promote(best));
        }
    }
    let to = s.most_data(true)?;
    if s.doubtful(to) {
        return None;
    }
    if follows_primary(to) || s.claims_primary(to) {
        return Some(s.promote(to));
    }
    let nodes: Vec<String> = s.followers.iter().filter(|n| *n != to).cloned().collect();
    (!nodes.is_empty()).then(|| {
        Shelter::Repoint(Plan::Shelter {
            nodes,
            to: to.to_string(),
        })
    })
}

/// What [`shelter`] looks at: the group, the primary that lost its data
/// and the replicas that follow it.
struct Sheltering<'a> {
    config: &'a GroupConfig,
    views: &'a BTreeMap<String, NodeView>,
    primary: &'a str,
    /// The nodes replicating from `primary`, in configuration order.
    followers: Vec<String>,
    now: Millis,
}

impl<'a> Sheltering<'a> {
    /// Whether `name` answered claiming primary.
    fn claims_primary(&self, name: &str) -> bool {
        self.views
            .get(name)
            .and_then(|v| v.status.as_ref())
            .is_some_and(|s| s.role == Role::Primary)
    }

    /// `name` is to become the primary, when its priority allows.
    fn promote(&self, name: &str) -> Shelter {
        if self.config.node(name).is_some_and(|n| n.priority != 0) {
            Shelter::Promote(name.to_string())
        } else {
            Shelter::NotPromotable(name.to_string())
        }
    }

    /// The node known to hold the most data, but the primary (by keys,
    /// then offset, then the first name); with `acyclic`, none that
    /// replicates from a follower of the primary.
    fn most_data(&self, acyclic: bool) -> Option<&'a str> {
        let (config, views, primary) = (self.config, self.views, self.primary);
        let stale_after = config.settings.stale_after_ms;
        // (its last answer, when a poll of it just failed)
        let primary_keys = views
            .get(primary)
            .and_then(|v| v.status.as_ref().or(v.previous.as_ref()))
            .and_then(|s| s.keys);
        config
            .nodes
            .iter()
            .filter(|n| n.name != primary)
            .filter_map(|n| {
                let v = views.get(&n.name)?;
                // (a node that lost data before counts with what it holds
                // now, written since, if it answers now: it may be the
                // most data left)
                if v.unseen_longer_than(self.now, stale_after) || (v.lost_data && v.status.is_none()) {
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
                if acyclic && follows_any(config, views, &n.name, &self.followers) {
                    return None;
                }
                Some((last.keys, last.offset, std::cmp::Reverse(n.name.as_str())))
            })
            .max()
            .map(|best| best.2.0)
    }

    /// Whether `name`, claiming primary, may hold less than a node that
    /// does not answer: it then risks nothing by waiting.
    ///
    /// While a node that does not answer (for less than the staleness
    /// limit) last held more keys than it, that node may be the data left
    /// (excluded above when seen only in an earlier term; seed 33036:
    /// recording the claimant ended with that node repointed at it once it
    /// answered). A node that never answered this leader (partitioned from
    /// it since it took over, or refusing the password) may hold anything
    /// (seed 61842: a copy back from an RDB that had lost 20 writes was
    /// recorded, and the node holding them, reached a second later,
    /// repointed at it).
    fn doubtful(&self, name: &str) -> bool {
        let (config, views, primary, now) = (self.config, self.views, self.primary, self.now);
        let silent_holds = silent_lately(config, views, primary, now)
            .filter(|v| !v.lost_data)
            .map(|v| v.previous.as_ref().map_or(Some(u64::MAX), |p| p.keys))
            .max()
            .flatten();
        // So may the primary that lost data, when this leader never saw it
        // answer (the loss mark came with the record): a copy back from disk
        // holding less than it does would be recorded, and the primary
        // repointed at it once back (seed 70568: 20 keys recorded over 153).
        // However long it has been silent: the mark may be older than what
        // it took since (seed 123154: marked after an empty restart, it took
        // 113 writes; a leader arriving later never saw it, and 14 s into
        // its silence recorded a copy of 33 keys back from an RDB, then
        // repointed the primary, back with 133, at it).
        // (its replicas, when some answer, stand for what it held)
        let primary_unknown = self.followers.is_empty()
            && views
                .get(primary)
                .is_none_or(|v| v.status.is_none() && v.previous.is_none());
        let silent_holds = if primary_unknown { Some(u64::MAX) } else { silent_holds };
        self.claims_primary(name)
            && silent_holds
                .zip(views.get(name).and_then(|v| v.status.as_ref()).and_then(|s| s.keys))
                .is_some_and(|(silent, k)| silent > k)
    }
}

/// The views of the nodes other than `primary` that did not answer this
/// round but did within `stale_after_ms`: the copies whose last answer
/// may still stand for what they hold.
pub(super) fn silent_lately<'a>(
    config: &'a GroupConfig,
    views: &'a BTreeMap<String, NodeView>,
    primary: &'a str,
    now: Millis,
) -> impl Iterator<Item = &'a NodeView> {
    let stale_after = config.settings.stale_after_ms;
    config
        .nodes
        .iter()
        .filter(move |n| n.name != primary)
        .filter_map(|n| views.get(&n.name))
        .filter(move |v| v.status.is_none() && !v.unseen_longer_than(now, stale_after))
}

/// The reachable nodes to detach from `primary`, which lost its data, when
/// `best`, the node holding the most data left, may not be promoted: every
/// replica of `primary` holding more keys than it (it would resync them
/// away), and `best` if it replicates from `primary` through others.
pub(super) fn detachable(
    config: &GroupConfig,
    views: &BTreeMap<String, NodeView>,
    primary: &str,
    best: &str,
) -> Vec<String> {
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
pub(super) fn endangered(
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
