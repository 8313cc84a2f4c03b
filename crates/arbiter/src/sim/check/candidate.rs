//! S5 written out again, independently of `decide::select_candidate`:
//! reachable replicas with priority above 0, not empty while another node
//! answers holding keys, within `max_lag` of the highest offset seen on a
//! node that did not lose its data since and was seen within the staleness
//! limit, and fresh; ranked by the lowest priority, then the highest
//! offset, then the smallest run id.
//!
//! Freshness has two readings. Strict: the link is up or down no longer
//! than `stale_after_ms`. Sentinel's (issue 22): the link is down no longer
//! than `stale_after_ms` plus the time the primary has been down, which
//! the leader knows from its own polls or, arriving late, from the most
//! recent link loss of the primary's replicas. The chosen replica must be
//! eligible under Sentinel's reading, and no replica eligible under the
//! strict one may rank before it.

use std::cmp::Reverse;

use crate::machine::{Context, NodeView};
use crate::types::{NodeStatus, Role};

/// How a replica ranks: the lowest priority, then the highest offset, then
/// the smallest run id.
type Rank = (u32, Reverse<u64>, String);

/// One replica the leader polled, as S5 judges it.
struct Judged {
    rank: Rank,
    name: String,
    /// Eligible under the strict freshness rule.
    strictly: bool,
    /// Eligible under Sentinel's.
    sentinel: bool,
}

/// The views that tell something current: data a node lost exists
/// nowhere; a node unseen for longer than the staleness limit tells
/// nothing current.
fn current(ctx: &Context) -> impl Iterator<Item = (&String, &NodeView)> {
    let stale_after = ctx.config.settings.stale_after_ms;
    ctx.views
        .iter()
        .filter(move |(_, v)| !v.lost_data && v.down_since.is_none_or(|d| ctx.now - d.min(ctx.now) <= stale_after))
}

/// The highest offset seen on history `replid`. Offsets compare within one
/// history (replid); across histories, keys (issue 22: a node back from
/// disk restarts its offsets). Also in the world before issue 22: a node
/// restarted empty starts a new history too, and comparing across
/// histories flagged a replica of it as 385 bytes behind its own source's
/// old history (`--before-issue-22`, seed 65, once the controller compared
/// within one history).
fn best_offset(ctx: &Context, replid: &str) -> u64 {
    current(ctx)
        .flat_map(|(_, v)| [v.status.as_ref(), v.previous.as_ref()])
        .flatten()
        .filter(|st| st.replid == replid)
        .map(|st| st.offset)
        .max()
        .unwrap_or(0)
}

/// The most keys a current node other than `name` holds on another
/// history than `replid`.
fn most_keys_elsewhere(ctx: &Context, name: &str, replid: &str) -> Option<u64> {
    current(ctx)
        .filter(|(n, _)| n.as_str() != name)
        .filter_map(|(_, v)| v.status.as_ref().or(v.previous.as_ref()))
        .filter(|st| st.replid != replid)
        .filter_map(|st| st.keys)
        .max()
}

/// How long the primary `failed` has been down as the leader can tell:
/// from its own polls or from the most recent link loss of its replicas.
fn primary_down(ctx: &Context, failed: &str) -> u64 {
    let failed_addr = ctx.config.node(failed).map_or("", |n| n.addr.as_str());
    let polled_down = ctx
        .views
        .get(failed)
        .and_then(|v| v.down_since)
        .map_or(0, |d| ctx.now.saturating_sub(d));
    let links_lost = ctx
        .views
        .values()
        .filter_map(|v| v.status.as_ref())
        .filter_map(|st| match &st.role {
            Role::Replica {
                primary,
                link_up: false,
                link_down_ms: Some(d),
            } if primary == failed_addr => Some(*d),
            _ => None,
        })
        .min()
        .unwrap_or(0);
    polled_down.max(links_lost)
}

/// Data that exists now: a node answering the latest poll with keys.
fn data_seen(ctx: &Context) -> bool {
    ctx.views
        .values()
        .filter_map(|v| v.status.as_ref())
        .any(|st| st.keys.is_some_and(|k| k > 0))
}

/// Every replica the leader polled besides `failed`, judged.
fn judge(ctx: &Context, failed: &str, issue_22: bool) -> Vec<Judged> {
    let s = &ctx.config.settings;
    let primary_down = primary_down(ctx, failed);
    let data_seen = data_seen(ctx);
    let mut replicas = Vec::new();
    for node in ctx.config.nodes.iter().filter(|n| n.name != failed && n.priority > 0) {
        let Some(st) = ctx.views.get(&node.name).and_then(|v| v.status.as_ref()) else {
            continue;
        };
        let Role::Replica {
            link_up, link_down_ms, ..
        } = &st.role
        else {
            continue;
        };
        let down = if *link_up { Some(0) } else { *link_down_ms };
        let strict_fresh = down.is_some_and(|d| d <= s.stale_after_ms);
        let sentinel_fresh = down.is_some_and(|d| d <= s.stale_after_ms.saturating_add(primary_down));
        let best = best_offset(ctx, &st.replid);
        let behind_elsewhere = issue_22
            && st
                .keys
                .zip(most_keys_elsewhere(ctx, &node.name, &st.replid))
                .is_some_and(|(k, other)| other > k);
        let close = best - st.offset.min(best) <= s.max_lag_bytes && !behind_elsewhere;
        let empty = issue_22 && data_seen && st.keys == Some(0);
        let ok = close && !empty;
        replicas.push(Judged {
            rank: (node.priority, Reverse(st.offset), st.run_id.clone()),
            name: node.name.clone(),
            strictly: ok && strict_fresh,
            sentinel: ok && sentinel_fresh,
        });
    }
    replicas
}

/// The primary lost its data: the copy holding the most keys among the
/// nodes it answers (a replica, or a node back from its AOF or RDB that
/// claims primary) may be promoted rather than left to resync from the
/// empty node or from a replica holding less (offsets of different
/// histories do not compare; never an empty one while data exists).
///
/// So, too, when the recorded primary `failed` is a replica of a node that
/// lost data (it restarted holding fewer keys than the leader saw it hold,
/// or `failed` resynced from it to fewer keys): that node's data is gone,
/// and it counts with `failed` as what is left there.
fn most_data_left(ctx: &Context, failed: &str, to: &str) -> bool {
    let keys = |n: &str| ctx.views.get(n).and_then(|v| v.status.as_ref()).and_then(|s| s.keys);
    // (the node that lost data is no copy left of its own loss)
    let source = followed_loss(ctx, failed).filter(|s| *s != to);
    if !ctx.views.get(failed).is_some_and(|v| v.lost_data) && source.is_none() {
        return false;
    }
    let most = ctx
        .config
        .nodes
        .iter()
        .filter(|n| n.name != failed && n.priority > 0)
        .filter_map(|n| keys(&n.name))
        .max()
        .unwrap_or(0);
    let promotable = ctx.config.node(to).is_some_and(|n| n.priority > 0);
    let Some(k) = keys(to).filter(|_| promotable) else {
        return false;
    };
    // ... and more than the node that lost its data still holds.
    let left = keys(failed).max(source.and_then(keys)).unwrap_or(0);
    k >= most && k > left && !(data_seen(ctx) && k == 0)
}

/// The node `failed` replicates from, when that node lost data: it
/// restarted holding fewer keys than the leader saw it hold, or `failed`
/// resynced from it to fewer keys.
fn followed_loss<'a>(ctx: &'a Context, failed: &str) -> Option<&'a str> {
    let view = ctx.views.get(failed)?;
    let Role::Replica { primary, .. } = &view.status.as_ref()?.role else {
        return None;
    };
    let source = ctx.config.nodes.iter().find(|n| n.addr == *primary)?.name.as_str();
    let reloaded_less = ctx.views.get(source).is_some_and(|v| v.reloaded_less.is_some());
    (reloaded_less || view.shrank_from.is_some()).then_some(source)
}

/// Whether failing over from `failed` to `to` picks a candidate S5 accepts
/// (see the module docs); returns why the choice is wrong.
pub(super) fn check_candidate(ctx: &Context, failed: &str, to: &str, issue_22: bool) -> Result<(), String> {
    let replicas = judge(ctx, failed, issue_22);
    if most_data_left(ctx, failed, to) {
        return Ok(());
    }
    let Some(chosen) = replicas.iter().find(|r| r.name == to) else {
        return Err(format!("{to} is not a replica it polled"));
    };
    if !chosen.sentinel {
        let st = ctx.views.get(to).and_then(|v| v.status.as_ref());
        return Err(not_eligible(ctx, to, st, &replicas));
    }
    if let Some(better) = replicas
        .iter()
        .filter(|r| r.strictly && r.rank < chosen.rank)
        .min_by(|a, b| a.rank.cmp(&b.rank))
    {
        return Err(format!("{} is eligible and ranks before {to}", better.name));
    }
    Ok(())
}

/// Why `to` is not eligible, with what it reported and who is.
fn not_eligible(ctx: &Context, to: &str, st: Option<&NodeStatus>, replicas: &[Judged]) -> String {
    format!(
        "{to} is not eligible (stale, lagging beyond {} of offset {} on its history or behind another history's keys, or empty while data exists: {}); eligible: {:?}",
        ctx.config.settings.max_lag_bytes,
        st.map_or(0, |st| best_offset(ctx, &st.replid)),
        st.map_or(String::new(), |st| format!(
            "offset {}, keys {:?}, {:?}",
            st.offset, st.keys, st.role
        )),
        replicas
            .iter()
            .filter(|r| r.sentinel)
            .map(|r| &r.name)
            .collect::<Vec<_>>()
    )
}
