//! The invariants of `arbiter-invariants.md`, checked against the model and
//! the machines after every step (safety) and after the run heals and
//! settles (liveness). A violation is a `rehearse::Failure` whose kind is
//! the invariant's name and whose message names the instance, the seed and
//! the virtual time.

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

/// Checks invariants as a run goes.
#[derive(Debug, Clone)]
pub struct Checker {
    seed: u64,
    applied_seen: usize,
    resyncs_seen: usize,
    stale_syncs_seen: usize,
    events_seen: usize,
    /// When a leader tried to move authority (a record write or a
    /// repoint) and to which node name or address: an attempt that
    /// injected faults defeated still counts as acting (S7).
    attempts: Vec<(Millis, String)>,
    epoch_acted: Vec<i64>,
    dual_since: Option<Millis>,
}

fn fail(invariant: &str, seed: u64, at: Millis, detail: String) -> Failure {
    Failure::new(format!("{invariant}: {detail} (seed {seed}, t={at} ms)"))
}

/// How long the failed primary has not been serving its data, written out
/// again from its specification: the leader's own observation when it saw
/// the node serve and it did not lose its data; otherwise (never seen
/// serving, or back without its data) at least that, and, when every other
/// node has been seen, the shortest link-down time among the replicas
/// still following it (a link up counts as 0, unless the node lost its
/// data: then it is a link to the empty node and does not count).
fn reference_down_for(ctx: &crate::machine::Context, failed: &str) -> Millis {
    let now = ctx.now;
    let view = ctx.views.get(failed).cloned().unwrap_or_default();
    let mut own = view.down_since.map_or(0, |d| now.saturating_sub(d));
    if view.lost_data {
        own = own.max(now.saturating_sub(view.lost_data_at));
    }
    let seen = |v: &crate::machine::NodeView| v.status.is_some() || v.previous.is_some();
    if seen(&view) && !view.lost_data {
        return own;
    }
    let others: Vec<&crate::types::RedisNode> = ctx.config.nodes.iter().filter(|n| n.name != failed).collect();
    if !others.iter().all(|n| ctx.views.get(&n.name).is_some_and(seen)) {
        return own;
    }
    let addr = ctx.config.node(failed).map(|n| n.addr.clone()).unwrap_or_default();
    let mut latest: Option<Millis> = None;
    for n in others {
        if let Some(Role::Replica {
            primary,
            link_up,
            link_down_ms,
        }) = ctx.views.get(&n.name).and_then(|v| v.status.as_ref()).map(|s| &s.role)
        {
            if *primary != addr {
                continue;
            }
            let d = if *link_up {
                if view.lost_data {
                    continue;
                }
                Some(0)
            } else {
                *link_down_ms
            };
            if let Some(d) = d {
                latest = Some(latest.map_or(d, |l| l.min(d)));
            }
        }
    }
    own.max(latest.unwrap_or(0))
}

/// S5 written out again, independently of `decide::select_candidate`:
/// reachable replicas with priority above 0, link up or down no longer than
/// the staleness limit plus the time the primary has been down, within
/// `max_lag` of the highest offset seen on a node that did not lose its
/// data since and was seen within the staleness limit, and not empty while
/// such a node holds keys; the lowest priority, then the highest offset,
/// then the smallest run id. When none is and the primary lost its data:
/// the node holding the most data left, if it still follows the empty
/// primary (it would resync from it) and may be promoted.
fn reference_candidate(ctx: &crate::machine::Context, failed: &str) -> Option<String> {
    let s = &ctx.config.settings;
    // Data a node lost exists nowhere; a node unseen for longer than the
    // staleness limit tells nothing current.
    let current = |v: &&crate::machine::NodeView| {
        !v.lost_data
            && v.down_since
                .is_none_or(|d| ctx.now - d.min(ctx.now) <= s.stale_after_ms)
    };
    let known: Vec<&crate::types::NodeStatus> = ctx
        .views
        .values()
        .filter(current)
        .flat_map(|v| [v.status.as_ref(), v.previous.as_ref()])
        .flatten()
        .collect();
    let best_offset = known.iter().map(|st| st.offset).max().unwrap_or(0);
    let someone_has_keys = known.iter().any(|st| st.keys.unwrap_or(0) > 0);
    let allowance = s.stale_after_ms + reference_down_for(ctx, failed);
    let mut eligible: Vec<(u32, std::cmp::Reverse<u64>, String, String)> = Vec::new();
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
        if !*link_up && link_down_ms.is_none_or(|d| d > allowance) {
            continue;
        }
        if best_offset - st.offset.min(best_offset) > s.max_lag_bytes {
            continue;
        }
        if someone_has_keys && st.keys == Some(0) {
            continue;
        }
        eligible.push((
            node.priority,
            std::cmp::Reverse(st.offset),
            st.run_id.clone(),
            node.name.clone(),
        ));
    }
    eligible.sort();
    if let Some(e) = eligible.into_iter().next() {
        return Some(e.3);
    }
    // The primary lost its data: the best copy left.
    if !ctx.views.get(failed).is_some_and(|v| v.lost_data) {
        return None;
    }
    let failed_addr = ctx.config.node(failed).map(|n| n.addr.clone()).unwrap_or_default();
    let upstream = |name: &str| -> Option<String> {
        let v = ctx.views.get(name)?;
        match &v.status.as_ref().or(v.previous.as_ref())?.role {
            Role::Replica { primary, .. } => ctx
                .config
                .nodes
                .iter()
                .find(|n| n.addr == *primary)
                .map(|n| n.name.clone()),
            Role::Primary => None,
        }
    };
    let follows_empty = |name: &str| {
        matches!(
            ctx.views.get(name).and_then(|v| v.status.as_ref()).map(|s| &s.role),
            Some(Role::Replica { primary, .. }) if *primary == failed_addr
        )
    };
    // A holder that replicates, through any chain, from a follower of the
    // empty primary cannot shelter it (a cycle).
    let chains_into_followers = |name: &str| {
        let mut at = upstream(name);
        for _ in 0..ctx.config.nodes.len() {
            match at {
                Some(n) if n != failed && follows_empty(&n) => return true,
                Some(n) => at = upstream(&n),
                None => return false,
            }
        }
        false
    };
    let mut holders: Vec<(Option<u64>, u64, std::cmp::Reverse<String>, bool)> = Vec::new();
    for node in ctx.config.nodes.iter().filter(|n| n.name != failed) {
        let Some(v) = ctx.views.get(&node.name).filter(|v| current(v)) else {
            continue;
        };
        let Some(last) = v.status.as_ref().or(v.previous.as_ref()) else {
            continue;
        };
        if !matches!(last.role, Role::Replica { .. }) || chains_into_followers(&node.name) {
            continue;
        }
        holders.push((
            last.keys,
            last.offset,
            std::cmp::Reverse(node.name.clone()),
            follows_empty(&node.name) && node.priority > 0,
        ));
    }
    holders.sort();
    holders.pop().filter(|h| h.3).map(|h| h.2.0)
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
        }
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
                let expected = reference_candidate(ctx, from);
                if expected.as_deref() != Some(to.as_str()) {
                    return Err(fail(
                        "S5 candidate eligibility",
                        self.seed,
                        now,
                        format!(
                            "arbiter-{} fails over from {from} to {to}; its observations make {expected:?} the candidate",
                            i + 1
                        ),
                    ));
                }
            }
        }
        match output {
            Some(Output::Publish { record, .. }) => self.attempts.push((now, record.primary.clone())),
            Some(Output::Repoint { primary, .. }) => self.attempts.push((now, primary.clone())),
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

    /// After any event: the model-level safety invariants (S1, S4, S5, S7).
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
        for &(at, started, replica, source) in m.shrinking_resyncs.iter().skip(self.resyncs_seen) {
            if let Some((restarted, before)) = m.empty_restarts.get(&source) {
                let recorded_primary = m.etcd.record.as_ref().map(|r| r.primary.as_str());
                let blessed = recorded_primary == Some(m.nodes[source].name.as_str())
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
                    let reachable = m.reaches(Endpoint::Instance(by), Endpoint::Node(replica))
                        && m.reaches(Endpoint::Node(replica), Endpoint::Instance(by));
                    reachable && started > chance + EMPTY_RESTART_GRACE_MS
                });
                // The controller acted if it tried in time to move the record
                // or the replicas away from the node (injected faults may
                // still defeat the attempt).
                let source_name = m.nodes[source].name.as_str();
                let source_addr = m.nodes[source].addr.as_str();
                let acted = self
                    .attempts
                    .iter()
                    .any(|(t, to)| *t >= *restarted && *t <= started && to != source_name && to != source_addr);
                if late && *before > 0 && !blessed && !acted {
                    return Err(fail(
                        "S7 no replication from an empty restart",
                        self.seed,
                        at,
                        format!(
                            "{} resynced from {}, which restarted empty at t={restarted} ms",
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
