//! Noticing that the recorded primary lost its data (S7), and when that
//! mark clears. [`note_data_loss`] only reads the views: it returns the
//! marks it found ([`LossMarks`]), which `Machine::step` writes into them.

use std::collections::BTreeMap;

use super::{addr_of, loss_settled};
use crate::machine::NodeView;
use crate::types::{GroupConfig, GroupRecord, Millis, NodeStatus, Role};

/// The data-loss marks ([`NodeView::lost_data`] and
/// [`NodeView::lost_data_at`]) of every node with a view, as a poll round
/// left them: what [`note_data_loss`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LossMarks(BTreeMap<String, (bool, Millis)>);

impl LossMarks {
    /// The marks `views` carry now.
    fn of(views: &BTreeMap<String, NodeView>) -> Self {
        Self(
            views
                .iter()
                .map(|(name, v)| (name.clone(), (v.lost_data, v.lost_data_at)))
                .collect(),
        )
    }

    /// Whether `name` is marked (false for a node without a view).
    fn lost(&self, name: &str) -> bool {
        self.0.get(name).is_some_and(|m| m.0)
    }

    /// Clears `name`'s mark (nothing for a node without a view).
    fn clear(&mut self, name: &str) {
        if let Some(m) = self.0.get_mut(name) {
            m.0 = false;
        }
    }

    /// Marks `name` (a node with a view) as having lost data, noticed at
    /// `now` when it was not marked, or when `renew`.
    fn mark(&mut self, name: &str, now: Millis, renew: bool) {
        if let Some(m) = self.0.get_mut(name) {
            if !m.0 || renew {
                m.1 = now;
            }
            m.0 = true;
        }
    }

    /// Writes the marks into `views` (the ones it was found from).
    pub fn apply(self, views: &mut BTreeMap<String, NodeView>) {
        for (name, (lost, at)) in self.0 {
            if let Some(v) = views.get_mut(&name) {
                v.lost_data = lost;
                v.lost_data_at = at;
            }
        }
    }
}

/// Marks the recorded primary as having lost data when it restarted with a
/// smaller offset, or restarted while a replica of it holds more than it
/// does (the drop happened between two polls); clears the mark once a node
/// is a replica, or once the recorded primary's loss settled
/// ([`loss_settled`]). Called after every poll round, before
/// [`decide`](super::decide); the marks it returns go into the views
/// ([`LossMarks::apply`]).
pub fn note_data_loss(
    config: &GroupConfig,
    views: &BTreeMap<String, NodeView>,
    record: Option<&GroupRecord>,
    now: Millis,
) -> LossMarks {
    let mut marks = LossMarks::of(views);
    mark_data_loss(config, views, &mut marks, record, now);
    if let Some(primary) = record.map(|r| r.primary.as_str()) {
        if loss_settled(config, views, primary) {
            marks.clear(primary);
        }
    }
    marks
}

/// [`note_data_loss`] before the settling: updates `marks`, found from
/// `views`.
fn mark_data_loss(
    config: &GroupConfig,
    views: &BTreeMap<String, NodeView>,
    marks: &mut LossMarks,
    record: Option<&GroupRecord>,
    now: Millis,
) {
    let recorded = record.map(|r| r.primary.as_str());
    for (name, view) in views {
        // A replica's data follows its primary now; a node other than the
        // recorded primary that restarted since holds what it reloaded,
        // not what it lost before.
        let replica = matches!(view.status.as_ref().map(|s| &s.role), Some(Role::Replica { .. }));
        if replica || (recorded != Some(name.as_str()) && view.restarted()) {
            marks.clear(name);
        }
    }
    let (Some(record), Some(primary)) = (record, recorded) else {
        return;
    };
    let Some(addr) = config.node(primary).map(|n| n.addr.as_str()) else {
        return;
    };
    // A mark the leader before this one recorded (see
    // `GroupRecord::lost_data`).
    if record.lost_data && !marks.lost(primary) {
        marks.mark(primary, now, false);
    }
    let Some(view) = views.get(primary) else { return };
    if view.status.is_none() && view.previous.is_none() {
        if unseen_primary_lost_data(config, views, marks, primary) {
            marks.mark(primary, now, false);
        }
        return;
    }
    if primary_lost_data(config, views, marks, record, addr, now) {
        // A new restart renews the mark: its replicas retry their links
        // from now on.
        marks.mark(primary, now, view.restarted());
    }
}

/// Whether the recorded primary (`record.primary`, at `addr`, seen
/// answering at least once) lost data, by its own answers and those of
/// the other nodes (marked as `marks` says).
fn primary_lost_data(
    config: &GroupConfig,
    views: &BTreeMap<String, NodeView>,
    marks: &LossMarks,
    record: &GroupRecord,
    addr: &str,
    now: Millis,
) -> bool {
    let primary = record.primary.as_str();
    let Some(view) = views.get(primary) else { return false };
    // (its last answer, when a poll of it just failed: then only a copy
    // back from disk holding more counts, below)
    let answering = view.status.is_some();
    // A primary that refuses arbiter's password is up and holds what it
    // holds, more than its last answer if it took writes since: a copy
    // back from disk holding more is no evidence against it (seed 84064).
    if !answering && view.refused_auth {
        return false;
    }
    let Some(last) = view.status.as_ref().or(view.previous.as_ref()) else {
        return false;
    };
    let stale_after = config.settings.stale_after_ms;
    let ahead = |other_history| ahead_of_primary(views, addr, last, other_history, now, stale_after);
    let elsewhere = held_elsewhere(config, views, marks, record, last, now);
    let since_shrink = held_since_shrink(config, views, marks, primary, last, now);
    // (a restart that reloaded fewer keys than it last held, whatever its
    // offset: an RDB reload rebases the offset past the one before, seed
    // 90080; deletes just before a crash look the same, and the mark
    // settles once no copy holds more)
    let reloaded_less = view.restarted()
        && view
            .previous
            .as_ref()
            .and_then(|p| p.keys)
            .zip(last.keys)
            .is_some_and(|(before, now)| now < before);
    let suspected = view.restarted_empty()
        || reloaded_less
        || (view.restarted() && ahead(false).next().is_some())
        || (answering && ahead(true).next().is_some())
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
        .chain(ahead(false))
        .chain(elsewhere.iter().copied())
        .chain(since_shrink.iter().copied())
        .collect();
    let kept = last
        .keys
        .is_some_and(|k| !evidence.is_empty() && evidence.iter().all(|e| e.is_some_and(|e| k >= e)));
    suspected && !kept
}

/// Replicas of the primary (at `addr`, whose last answer is `last`)
/// further along than it (a larger offset, or more keys when both are
/// known: a restart from an AOF reports offset 0 like an empty one),
/// optionally only on another history: their dataset sizes.
fn ahead_of_primary<'a>(
    views: &'a BTreeMap<String, NodeView>,
    addr: &'a str,
    last: &'a NodeStatus,
    other_history: bool,
    now: Millis,
    stale_after: Millis,
) -> impl Iterator<Item = Option<u64>> + 'a {
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
                && (*o > last.offset || k.zip(last.keys).is_some_and(|(k, mine)| k > mine))
                && (!other_history || *r != last.replid) =>
            {
                Some(*k)
            }
            _ => None,
        })
}

/// The dataset sizes of nodes other than the recorded primary (whose last
/// answer is `last`) that hold more keys than it on another replication
/// history, and whose data the primary may have lost.
///
/// A replica ahead of its primary on another replication history proves
/// the primary lost data, even to a leader that never saw it before. A
/// replica that does not answer now counts with its last answer: it was
/// that far along the old history, which the primary no longer has.
/// The primary restarted since it was recorded (another run id than the
/// record's: this leader may never have seen it before, for instance
/// when every instance was away while it restarted): any node holding
/// more keys on another replication history (a node back from its AOF
/// or RDB that claims primary, a replica of some other node) holds data
/// the primary may have lost. Nodes on the primary's own history do
/// not count: fewer keys there are deletes, not loss.
fn held_elsewhere(
    config: &GroupConfig,
    views: &BTreeMap<String, NodeView>,
    marks: &LossMarks,
    record: &GroupRecord,
    last: &NodeStatus,
    now: Millis,
) -> Vec<Option<u64>> {
    let primary = record.primary.as_str();
    let Some(view) = views.get(primary) else {
        return Vec::new();
    };
    let restarted_since_recorded = record
        .run_id
        .as_deref()
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
        .filter(|n| n.name != primary && marks.lost(&n.name))
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
                s.role == Role::Primary
                    && s.replid != *fork
                    && s.replid != last.replid
                    && s.replid2.as_ref() != Some(fork)
            })
        })
    };
    let witness = |v: &NodeView| restarted_since_recorded || v.back_from_disk() || follows_lost(v) || foreign(v);
    // (its answer, or the one before when its latest poll failed)
    fn last_answer(v: &NodeView) -> Option<&NodeStatus> {
        v.status.as_ref().or(v.previous.as_ref())
    }
    more_on_other_history(config, views, marks, primary, last, now, witness, last_answer)
}

/// A primary that itself resynced to a smaller dataset before it was
/// promoted (from a node that had lost data): the dataset sizes of nodes
/// holding more keys on another history than its last answer `last`,
/// which hold what its history lacks.
fn held_since_shrink(
    config: &GroupConfig,
    views: &BTreeMap<String, NodeView>,
    marks: &LossMarks,
    primary: &str,
    last: &NodeStatus,
    now: Millis,
) -> Vec<Option<u64>> {
    if views.get(primary).is_none_or(|v| v.shrank_from.is_none()) {
        return Vec::new();
    }
    more_on_other_history(
        config,
        views,
        marks,
        primary,
        last,
        now,
        |_| true,
        |v| v.status.as_ref(),
    )
}

/// The dataset sizes of the nodes other than `primary` that `witness`
/// accepts, not marked lost and not unseen for longer than
/// `stale_after_ms`, whose answer (as `seen` picks it) is on another
/// replication history than `last` and holds more keys.
#[allow(clippy::too_many_arguments)] // (the round's facts, passed as they are)
fn more_on_other_history(
    config: &GroupConfig,
    views: &BTreeMap<String, NodeView>,
    marks: &LossMarks,
    primary: &str,
    last: &NodeStatus,
    now: Millis,
    witness: impl Fn(&NodeView) -> bool,
    seen: fn(&NodeView) -> Option<&NodeStatus>,
) -> Vec<Option<u64>> {
    let stale_after = config.settings.stale_after_ms;
    config
        .nodes
        .iter()
        .filter(|n| n.name != primary)
        .filter_map(|n| Some((n, views.get(&n.name)?)))
        .filter(|(_, v)| witness(v))
        .filter(|(n, v)| !marks.lost(&n.name) && !v.unseen_longer_than(now, stale_after))
        .filter_map(|(_, v)| seen(v))
        .filter(|st| st.replid != last.replid && st.keys.zip(last.keys).is_some_and(|(k, mine)| k > mine))
        .map(|st| st.keys)
        .collect()
}

/// [`note_data_loss`] for a recorded primary this leader never saw answer
/// (it died while every instance was away, say): the replicas following it
/// stand for what it held. A node that restarted since this leader last
/// saw it, or while out of its reach, and came back from disk holding more
/// keys on another replication history than every one of them, holds data
/// the primary's history no longer has (it reloaded an old snapshot, or
/// came back empty, before its replicas resynced from it).
fn unseen_primary_lost_data(
    config: &GroupConfig,
    views: &BTreeMap<String, NodeView>,
    marks: &LossMarks,
    primary: &str,
) -> bool {
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
        return false;
    };
    let (replid, keys) = (best.0.replid.clone(), best.0.keys);
    let back_from_disk = views.iter().filter(|(name, _)| *name != primary).any(|(name, v)| {
        v.back_from_disk()
            && !marks.lost(name)
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
    back_from_disk || older_holds_more || follower_shrank
}
