//! The invariants written out in `crates/arbiter/INVARIANTS.md`, checked
//! against the model and the machines after every step and every event
//! (safety) and after the run heals and settles (liveness). A violation is
//! a `rehearse::Failure` whose kind is the invariant's name and whose
//! message names the instance, the seed and the virtual time.
//!
//! The failover candidate check (S5) accepts the Sentinel staleness rule
//! (a replica whose link went down when the primary died stays eligible:
//! link down no longer than `stale_after_ms` plus the time the primary has
//! been down) as well as the strict one, while still refusing any replica
//! the strict rule ranks better than the one chosen; in both worlds.
//!
//! Issue 22 added (off with `--before-issue-22`):
//! - **S5, data** (an extension of candidate eligibility): a node holding
//!   no keys is never promoted while another node the promoting instance
//!   can reach holds some; and a candidate holding fewer keys than a node
//!   on another replication history is not eligible.
//! - **S7, any data loss** (an extension): a full resync never replaces a
//!   replica's data with less from a node that lost data (restarted empty
//!   or from an old RDB snapshot, or itself resynced from such a node),
//!   once a leader saw that node's loss and could reach the replica, unless
//!   it tried in time to move that replica (a repoint of it elsewhere) or
//!   the record (a write naming another primary). A repoint of some other
//!   node no longer counts as acting, and recording the node that lost data
//!   as primary no longer makes resyncs from it intended.
//! - **S10 no replication cycle**: no running node replicates, directly or
//!   through others, from itself. Only a `REPLICAOF` makes a cycle, so there
//!   is no grace.
//! - **L1 after a return** (`Run::check_return`): instances back from all
//!   being away to a dead primary with an in-sync replica promote one in
//!   time.
//! - **L5 no endless flapping**: at most [`MAX_PROMOTIONS_WITHOUT_FAULT`]
//!   promotions or completed switchovers without a new fault in between (a
//!   fault point fired, or the run restarted, healed or returned something).

use rehearse::Failure;

use super::model::{Endpoint, Model};
use crate::machine::{Machine, Output, Plan, State};
use crate::types::Millis;
use crate::types::Role;

/// How long two writable primaries may coexist after a fault (S4).
pub const DUAL_WRITABLE_BOUND_MS: Millis = 10_000;

/// How long the controller may take, after it polled a node restarted
/// empty, to stop replicas from resyncing from it (S7): the rest of its
/// poll round and the record write, promotion and repoints that follow.
pub const EMPTY_RESTART_GRACE_MS: Millis = 300;

/// How long the controller may take, after it saw a node claim primary
/// against the record, before a replica linking to that node counts as an
/// S6 violation, in check intervals (a failed demotion is retried on the
/// next tick) ...
pub const STALE_PRIMARY_GRACE_INTERVALS: Millis = 2;
/// ... plus this much for the poll round and the commands.
pub const STALE_PRIMARY_GRACE_MS: Millis = 300;

/// How long after the primary is killed for good a replica must be
/// promoted (L1), beyond down-after and one check interval.
pub const FAILOVER_BOUND_MS: Millis = 1000;

/// How long a leader may hold an operator's switchover request beyond its
/// failover timeout and two check intervals (L4).
pub const SWITCHOVER_BOUND_MS: Millis = 1000;

/// How many promotions (and completed switchovers) may follow one another
/// without a new fault in between (L5).
pub const MAX_PROMOTIONS_WITHOUT_FAULT: usize = 3;

/// Checks invariants as a run goes.
#[derive(Debug, Clone)]
pub struct Checker {
    seed: u64,
    applied_seen: usize,
    resyncs_seen: usize,
    stale_syncs_seen: usize,
    events_seen: usize,
    /// When a leader tried to move authority (a record write, for every
    /// node, or a repoint of one node's address) and to which node name
    /// or address: an attempt that injected faults defeated still counts
    /// as acting (S7).
    attempts: Vec<(Millis, Option<String>, String)>,
    epoch_acted: Vec<i64>,
    dual_since: Option<Millis>,
    promotions_seen: usize,
    /// L5: promotions since the fault count last changed, and that count.
    flaps: Vec<(Millis, String)>,
    flap_faults: u64,
    flap_events_seen: usize,
    /// Whether issue 22's invariants are checked (S5 data, S7 per replica,
    /// S10, L5); off only in tests that must stay clean until the
    /// controller's fixes land.
    issue_22: bool,
}

fn fail(invariant: &str, seed: u64, at: Millis, detail: String) -> Failure {
    Failure::new(format!("{invariant}: {detail} (seed {seed}, t={at} ms)"))
}

/// S5 written out again, independently of `decide::select_candidate`:
/// reachable replicas with priority above 0, not empty while another node
/// answers holding keys, within `max_lag` of the highest offset seen on a
/// node that did not lose its data since and was seen within the staleness
/// limit, and fresh; ranked by the lowest priority, then the highest
/// offset, then the smallest run id.
///
/// Freshness has two readings. Strict: the link is up or down no longer
/// than `stale_after_ms`. Sentinel's (issue 22): the link is down no longer
/// than `stale_after_ms` plus the time the primary has been down, which
/// the leader knows from its own polls or, arriving late, from the most
/// recent link loss of the primary's replicas. The chosen replica must be
/// eligible under Sentinel's reading, and no replica eligible under the
/// strict one may rank before it. Returns why the choice is wrong.
fn check_candidate(ctx: &crate::machine::Context, failed: &str, to: &str, issue_22: bool) -> Result<(), String> {
    let s = &ctx.config.settings;
    // Data a node lost exists nowhere; a node unseen for longer than the
    // staleness limit tells nothing current.
    let current = || {
        ctx.views.iter().filter(|(_, v)| {
            !v.lost_data
                && v.down_since
                    .is_none_or(|d| ctx.now - d.min(ctx.now) <= s.stale_after_ms)
        })
    };
    // Offsets compare within one history (replid); across histories, keys
    // (issue 22: a node back from disk restarts its offsets). Also in the
    // world before issue 22: a node restarted empty starts a new history
    // too, and comparing across histories flagged a replica of it as 385
    // bytes behind its own source's old history (`--before-issue-22`,
    // seed 65, once the controller compared within one history).
    let best_offset = |replid: &str| {
        current()
            .flat_map(|(_, v)| [v.status.as_ref(), v.previous.as_ref()])
            .flatten()
            .filter(|st| st.replid == replid)
            .map(|st| st.offset)
            .max()
            .unwrap_or(0)
    };
    let most_keys_elsewhere = |name: &str, replid: &str| {
        current()
            .filter(|(n, _)| n.as_str() != name)
            .filter_map(|(_, v)| v.status.as_ref().or(v.previous.as_ref()))
            .filter(|st| st.replid != replid)
            .filter_map(|st| st.keys)
            .max()
    };
    // Data that exists now: a node answering the latest poll with keys.
    let data_seen = ctx
        .views
        .values()
        .filter_map(|v| v.status.as_ref())
        .any(|st| st.keys.is_some_and(|k| k > 0));
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
    let primary_down = polled_down.max(links_lost);
    // (rank, name, strictly eligible, eligible under Sentinel's rule)
    type Rank = (u32, std::cmp::Reverse<u64>, String);
    let mut replicas: Vec<(Rank, String, bool, bool)> = Vec::new();
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
        let best = best_offset(&st.replid);
        let behind_elsewhere = issue_22
            && st
                .keys
                .zip(most_keys_elsewhere(&node.name, &st.replid))
                .is_some_and(|(k, other)| other > k);
        let close = best - st.offset.min(best) <= s.max_lag_bytes && !behind_elsewhere;
        let empty = issue_22 && data_seen && st.keys == Some(0);
        let ok = close && !empty;
        replicas.push((
            (node.priority, std::cmp::Reverse(st.offset), st.run_id.clone()),
            node.name.clone(),
            ok && strict_fresh,
            ok && sentinel_fresh,
        ));
    }
    // The primary lost its data: the copy holding the most keys among the
    // nodes it answers (a replica, or a node back from its AOF or RDB that
    // claims primary) may be promoted rather than left to resync from the
    // empty node or from a replica holding less (offsets of different
    // histories do not compare; never an empty one while data exists).
    let lost = ctx.views.get(failed).is_some_and(|v| v.lost_data);
    if lost {
        let keys = |n: &str| ctx.views.get(n).and_then(|v| v.status.as_ref()).and_then(|s| s.keys);
        let most = ctx
            .config
            .nodes
            .iter()
            .filter(|n| n.name != failed && n.priority > 0)
            .filter_map(|n| keys(&n.name))
            .max()
            .unwrap_or(0);
        let promotable = ctx.config.node(to).is_some_and(|n| n.priority > 0);
        if let Some(k) = keys(to).filter(|_| promotable) {
            // ... and more than the node that lost its data still holds.
            let left = keys(failed).unwrap_or(0);
            if k >= most && k > left && !(data_seen && k == 0) {
                return Ok(());
            }
        }
    }
    let Some(chosen) = replicas.iter().find(|r| r.1 == to) else {
        return Err(format!("{to} is not a replica it polled"));
    };
    if !chosen.3 {
        let st = ctx.views.get(to).and_then(|v| v.status.as_ref());
        return Err(format!(
            "{to} is not eligible (stale, lagging beyond {} of offset {} on its history or behind another history's keys, or empty while data exists: {}); eligible: {:?}",
            s.max_lag_bytes,
            st.map_or(0, |st| best_offset(&st.replid)),
            st.map_or(String::new(), |st| format!(
                "offset {}, keys {:?}, {:?}",
                st.offset, st.keys, st.role
            )),
            replicas.iter().filter(|r| r.3).map(|r| &r.1).collect::<Vec<_>>()
        ));
    }
    if let Some(better) = replicas
        .iter()
        .filter(|r| r.2 && r.0 < chosen.0)
        .min_by(|a, b| a.0.cmp(&b.0))
    {
        return Err(format!("{} is eligible and ranks before {to}", better.1));
    }
    Ok(())
}

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

/// The epoch an output acts under, if it acts.
fn acting_epoch(o: &Output) -> Option<i64> {
    match o {
        Output::Publish { epoch, .. }
        | Output::Promote { epoch, .. }
        | Output::Repoint { epoch, .. }
        | Output::Switchover { epoch, .. } => Some(epoch.abs()),
        _ => None,
    }
}

impl Checker {
    /// A checker for `instances` instances of seed `seed`.
    pub fn new(seed: u64, instances: usize) -> Self {
        Self {
            seed,
            applied_seen: 0,
            resyncs_seen: 0,
            stale_syncs_seen: 0,
            events_seen: 0,
            attempts: Vec::new(),
            epoch_acted: vec![i64::MIN; instances],
            dual_since: None,
            promotions_seen: 0,
            flaps: Vec::new(),
            flap_faults: 0,
            flap_events_seen: 0,
            issue_22: true,
        }
    }

    /// Checks issue 22's invariants (S5 data and keys across histories, S7
    /// per replica and its loss marks, S10, L5; L1 after a return is
    /// `Run`'s) or, with `on` false, only the ones before it (and S7's
    /// exemption for a resync from a node recorded since its loss).
    pub fn with_issue_22_invariants(mut self, on: bool) -> Self {
        self.issue_22 = on;
        self
    }

    /// A new incarnation of instance `i` starts over (its epochs are new).
    pub fn restarted(&mut self, i: usize) {
        self.epoch_acted[i] = i64::MIN;
    }

    /// After instance `i` took a step that issued `output` (S2, S9).
    pub fn after_step(
        &mut self,
        i: usize,
        machine: &Machine,
        output: Option<&Output>,
        now: Millis,
    ) -> Result<(), Failure> {
        if let State::Failure { state, input } = machine.state() {
            return Err(fail(
                "S9 machine discipline",
                self.seed,
                now,
                format!(
                    "arbiter-{} entered Failure: {} cannot take {input:?}",
                    i + 1,
                    state.name()
                ),
            ));
        }
        if let State::Refused { reason } = machine.state() {
            return Err(fail(
                "S9 machine discipline",
                self.seed,
                now,
                format!("arbiter-{} refused: {reason}", i + 1),
            ));
        }
        // L4: a leader settles an operator's switchover (carried out, or
        // given up) within its timeout.
        let ctx = machine.context();
        if ctx.epoch.is_some() && ctx.switchover.is_some() {
            let s = &ctx.config.settings;
            let held = ctx.now.saturating_sub(ctx.switchover_at);
            if held > s.failover_timeout_ms + 2 * s.check_interval_ms + SWITCHOVER_BOUND_MS {
                return Err(fail(
                    "L4 operations terminate",
                    self.seed,
                    now,
                    format!(
                        "arbiter-{} has held the switchover to {:?} for {held} ms (timeout {} ms)",
                        i + 1,
                        ctx.switchover,
                        s.failover_timeout_ms
                    ),
                ));
            }
        }
        // S5: a failover's candidate is the one an independent reading of
        // the leader's own observations picks.
        // A failover is decided in the one step that enters `Publishing`.
        if let State::Publishing {
            plan: Plan::Failover { from, to },
        } = machine.state()
        {
            let ctx = machine.context();
            // L3: not before down-after (no flapping), unless the primary
            // came back empty.
            let view = ctx.views.get(from.as_str()).cloned().unwrap_or_default();
            let down_for = view.down_since.map(|t| ctx.now.saturating_sub(t));
            if !view.lost_data && down_for.is_some_and(|d| d < ctx.config.settings.down_after_ms) {
                return Err(fail(
                    "L3 bounded detection",
                    self.seed,
                    now,
                    format!(
                        "arbiter-{} fails over from {from} after {} ms of unreachability (down-after {} ms)",
                        i + 1,
                        down_for.unwrap_or(0),
                        ctx.config.settings.down_after_ms
                    ),
                ));
            }
            if !ctx.config.settings.allow_data_loss {
                if let Err(why) = check_candidate(ctx, from, to, self.issue_22) {
                    return Err(fail(
                        "S5 candidate eligibility",
                        self.seed,
                        now,
                        format!("arbiter-{} fails over from {from} to {to}: {why}", i + 1),
                    ));
                }
            }
        }
        match output {
            Some(Output::Publish { record, .. }) => self.attempts.push((now, None, record.primary.clone())),
            Some(Output::Repoint { addr, primary, .. }) => {
                self.attempts.push((now, Some(addr.clone()), primary.clone()));
            }
            // A promotion (or a detach) moves the node off its source.
            Some(Output::Promote { addr, .. }) => self.attempts.push((now, Some(addr.clone()), String::new())),
            _ => {}
        }
        if let Some(epoch) = output.and_then(acting_epoch) {
            if epoch < self.epoch_acted[i] {
                return Err(fail(
                    "S2 monotonic epochs",
                    self.seed,
                    now,
                    format!(
                        "arbiter-{} acted under epoch {epoch} after {}",
                        i + 1,
                        self.epoch_acted[i]
                    ),
                ));
            }
            self.epoch_acted[i] = epoch;
        }
        Ok(())
    }

    /// After any event: the model-level safety invariants (S1, S4, S6, S7,
    /// S8; with issue 22's invariants S10 and S5 data).
    pub fn after_event(&mut self, m: &Model) -> Result<(), Failure> {
        let now = m.now;
        // S1: per node, reconfigurations apply in epoch order.
        for (k, cmd) in m.applied.iter().enumerate().skip(self.applied_seen) {
            if let Some(newer) = m.applied[..k].iter().rev().find(|c| c.node == cmd.node) {
                if newer.epoch > cmd.epoch && m.empty_restarts.get(&cmd.node).is_none_or(|(t, _)| *t <= newer.at) {
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
        self.applied_seen = m.applied.len();
        // S4: two writable primaries only briefly.
        let writable = m.writable_primaries();
        if writable.len() > 1 {
            let since = *self.dual_since.get_or_insert(now);
            if now.saturating_sub(since) > DUAL_WRITABLE_BOUND_MS {
                let names: Vec<&str> = writable.iter().map(|&i| m.nodes[i].name.as_str()).collect();
                return Err(fail(
                    "S4 bounded dual-writable window",
                    self.seed,
                    now,
                    format!(
                        "{} all accept writes since t={since} ms (bound {DUAL_WRITABLE_BOUND_MS} ms)",
                        names.join(", ")
                    ),
                ));
            }
        } else {
            self.dual_since = None;
        }
        // S7: no resync from a node restarted empty, once the controller had time to see it.
        for &(at, started, replica, source, oldest) in m.shrinking_resyncs.iter().skip(self.resyncs_seen) {
            // Only writes from before the source's loss are its loss; a
            // replica dropping only later writes had diverged (a split
            // brain, bounded by S4), which demotion is meant to end.
            let predates = m.loss_marks.get(&source).is_none_or(|mark| oldest < *mark);
            if let (Some((restarted, before)), true) = (m.empty_restarts.get(&source), predates || !self.issue_22) {
                let recorded_primary = m.etcd.record.as_ref().map(|r| r.primary.as_str());
                // Before issue 22, recording the node as primary after its
                // loss made resyncs from it intended; since, data on a
                // reachable node is never resynced away, recorded or not.
                let blessed = !self.issue_22
                    && recorded_primary == Some(m.nodes[source].name.as_str())
                    && m.events
                        .iter()
                        .any(|e| e.at > *restarted && e.what.starts_with("record:"));
                // The controller's chance starts when it could see the node
                // and reach etcd; before that, the resync is a race it cannot run.
                let observed = m.restart_observed.get(&source).copied();
                // ... and only if that leader could reach the replica, to
                // repoint or promote it.
                let late = observed.is_some_and(|(o, by)| {
                    let chance = o
                        .max(*restarted)
                        .max(m.connectivity_changed)
                        .max(m.etcd.leader_changed_at);
                    // (a replica refusing arbiter's password cannot be
                    // commanded: reachable, but out of its hands)
                    let reachable = m.reaches(Endpoint::Instance(by), Endpoint::Node(replica))
                        && m.reaches(Endpoint::Node(replica), Endpoint::Instance(by))
                        && !m.auth_broken(replica);
                    reachable && started > chance + EMPTY_RESTART_GRACE_MS
                });
                // The controller acted if it tried in time to move the record
                // or the replicas away from the node (injected faults may
                // still defeat the attempt).
                let source_name = m.nodes[source].name.as_str();
                let source_addr = m.nodes[source].addr.as_str();
                let replica_addr = m.nodes[replica].addr.as_str();
                let acted = self.attempts.iter().any(|(t, node, to)| {
                    *t >= *restarted
                        && *t <= started
                        && to != source_name
                        && to != source_addr
                        && (!self.issue_22 || node.as_deref().is_none_or(|n| n == replica_addr))
                });
                if late && *before > 0 && !blessed && !acted {
                    return Err(fail(
                        "S7 no replication from an empty restart",
                        self.seed,
                        at,
                        format!(
                            "{} resynced from {}, which restarted empty (or lost data) at t={restarted} ms, holding {before} writes before",
                            m.nodes[replica].name, m.nodes[source].name
                        ),
                    ));
                }
            }
        }
        self.resyncs_seen = m.shrinking_resyncs.len();
        // S6: nobody links to a node that claims primary against the
        // record, once the controller saw the claim and had time to demote.
        let grace = STALE_PRIMARY_GRACE_INTERVALS * m.config.settings.check_interval_ms + STALE_PRIMARY_GRACE_MS;
        for &(at, replica, source) in m.stale_syncs.iter().skip(self.stale_syncs_seen) {
            let late = m.stale_primary_observed.get(&source).is_some_and(|&(o, by)| {
                let chance = o.max(m.connectivity_changed).max(m.etcd.leader_changed_at);
                let reachable = m.reaches(Endpoint::Instance(by), Endpoint::Node(source))
                    && m.reaches(Endpoint::Node(source), Endpoint::Instance(by));
                let running = m.instances[by].paused_until <= at;
                reachable && running && at > chance + grace
            });
            if late {
                let recorded = m.etcd.record.as_ref().map(|r| r.primary.clone()).unwrap_or_default();
                return Err(fail(
                    "S6 no resurrected stale primary",
                    self.seed,
                    at,
                    format!(
                        "{} links to {}, which still claims primary although the record names {recorded}",
                        m.nodes[replica].name, m.nodes[source].name
                    ),
                ));
            }
        }
        self.stale_syncs_seen = m.stale_syncs.len();
        // S8: at a coordinated switchover the old primary has stopped
        // taking writes when the new one starts.
        for e in m.events.iter().skip(self.events_seen) {
            if e.what.starts_with("switchover: ") {
                let writable: Vec<&str> = (0..m.nodes.len())
                    .filter(|&i| m.writable(i))
                    .map(|i| m.nodes[i].name.as_str())
                    .collect();
                if writable.len() > 1 {
                    return Err(fail(
                        "S8 demote before promote",
                        self.seed,
                        e.at,
                        format!("after `{}` {writable:?} all take writes", e.what),
                    ));
                }
            }
        }
        self.events_seen = m.events.len();
        if !self.issue_22 {
            return Ok(());
        }
        // S10: no node replicates, directly or transitively, from itself.
        if let Some(cycle) = replication_cycle(m) {
            let names: Vec<&str> = cycle.iter().map(|&i| m.nodes[i].name.as_str()).collect();
            return Err(fail(
                "S10 no replication cycle",
                self.seed,
                now,
                format!("{} replicate from each other in a cycle", names.join(" -> ")),
            ));
        }
        // S5, data: no empty node promoted while a reachable one holds data.
        for p in m.promotions.iter().skip(self.promotions_seen) {
            let lost_just_now = m
                .empty_restarts
                .get(&p.node)
                .is_some_and(|(t, _)| p.at.saturating_sub(*t) <= EMPTY_RESTART_GRACE_MS);
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
        self.promotions_seen = m.promotions.len();
        Ok(())
    }

    /// After any event: L5, no more than [`MAX_PROMOTIONS_WITHOUT_FAULT`]
    /// promotions (or completed switchovers) without a new fault in
    /// between. `faults` counts the faults so far; it is asked only when a
    /// promotion happened.
    pub fn after_promotions(&mut self, m: &Model, faults: impl FnOnce() -> u64) -> Result<(), Failure> {
        if !self.issue_22 {
            return Ok(());
        }
        let new: Vec<&super::model::Event> = m
            .events
            .iter()
            .skip(self.flap_events_seen)
            .filter(|e| e.what.starts_with("promote: ") || e.what.starts_with("switchover: "))
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
        for e in new {
            self.flaps.push((e.at, e.what.clone()));
        }
        if self.flaps.len() > MAX_PROMOTIONS_WITHOUT_FAULT {
            let list: Vec<String> = self.flaps.iter().map(|(t, w)| format!("t={t}: {w}")).collect();
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
    /// probe) was replaced by a promotion in time (L1).
    pub fn after_probe(&self, m: &Model, killed: usize, at: Millis) -> Result<(), Failure> {
        let s = &m.config.settings;
        let bound = s.down_after_ms + s.check_interval_ms + FAILOVER_BOUND_MS;
        let promoted = m.events.iter().find(|e| e.at > at && e.what.starts_with("promote: "));
        match promoted {
            Some(e) if e.at <= at + bound => Ok(()),
            other => Err(fail(
                "L1 eventual failover",
                self.seed,
                m.now,
                format!(
                    "{} was killed for good at t={at} ms; no promotion within {bound} ms (first: {:?})",
                    m.nodes[killed].name,
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
