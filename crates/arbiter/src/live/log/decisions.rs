//! What the leader decided, told as log events: each decision before it
//! is carried out, a block and its end, the candidates of a failover, and
//! (at debug level) what an idle check was based on.

use tracing::{debug, info, warn};

use super::describe;
use crate::machine::{Blocked, Machine, Output};
use crate::types::{Epoch, Role};

/// A block the leader is in (why it does not act), or its end.
pub(super) fn block_change(machine: &Machine, blocked: Option<&Blocked>) {
    let Some(b) = blocked else {
        info!(target: "arbiter", "no longer blocked");
        return;
    };
    let code = super::blocked_reason(b);
    match b {
        Blocked::NoEligibleReplica { primary } => warn!(
            target: "arbiter",
            reason = code,
            %primary,
            candidates = %candidates(machine, primary),
            "not failing over: no replica is eligible (set allow_data_loss to promote the best one anyway)"
        ),
        Blocked::LastCopyNotPromotable { primary, node } => warn!(
            target: "arbiter",
            reason = code,
            %primary,
            %node,
            "not failing over: {primary} lost its data and {node}, which holds the most data left, has priority 0; the copies were detached from {primary} (REPLICAOF NO ONE, not recorded) so that they keep their data: raise its priority or switch over to it (or set allow_data_loss to fail over to the best eligible replica)"
        ),
        Blocked::ColdStartBehind { primary, node } => warn!(
            target: "arbiter",
            reason = code,
            %primary,
            %node,
            "not acting: no group record, and {primary}, the only node claiming primary, holds fewer keys than {node} on another replication history (recording it would resync {node}'s data away): make the node holding the most data primary (REPLICAOF NO ONE), or set allow_data_loss to record {primary} anyway"
        ),
        Blocked::ColdStartEmpty { primary, reason } => warn!(
            target: "arbiter",
            reason = code,
            %primary,
            why = %reason,
            "not acting: no group record, and {primary}, the only node claiming primary, is {reason} (recording it would resync that data away): make the node holding the data primary, let the others answer, or set allow_data_loss to record {primary} anyway"
        ),
        Blocked::ColdStartReloaded { primary, held, holds } => warn!(
            target: "arbiter",
            reason = code,
            %primary,
            held,
            holds,
            "not acting: no group record, and {primary}, the only node claiming primary, restarted holding {holds} keys where it held {held} (it reloaded an older dataset; its replicas took the rest, and recording it would resync their data away once they answer): bring them back, make the node holding the most data primary (REPLICAOF NO ONE), or set allow_data_loss to record {primary} anyway"
        ),
        Blocked::FollowsLostData { primary, source } => warn!(
            target: "arbiter",
            reason = code,
            %primary,
            %source,
            "not acting: {primary}, the recorded primary, follows {source}, which lost data (it restarted holding fewer keys, or {primary} resynced from it to fewer); adopting {source} would resync away the data a node not answering may hold: bring that node back (the leader then makes it primary), or make the node holding the most data primary (REPLICAOF NO ONE)"
        ),
        Blocked::ColdStart => warn!(
            target: "arbiter",
            reason = code,
            "not acting: no group record and not exactly one node claims to be primary"
        ),
    }
}

/// At debug level: what the leader decided on when it does nothing this
/// check (the record, every node as last polled, a block, a pending
/// switchover or handover).
pub(super) fn log_idle_inputs(machine: &Machine) {
    if !tracing::enabled!(target: "arbiter", tracing::Level::DEBUG) {
        return;
    }
    let ctx = machine.context();
    let nodes = ctx
        .views
        .iter()
        .map(|(name, v)| match &v.status {
            Some(s) => format!(
                "{name}: {} offset {}{}{}",
                describe(&s.role),
                s.offset,
                match &s.role {
                    Role::Replica { link_up: false, .. } => " (link down)",
                    _ => "",
                },
                if v.lost_data { " (lost its data)" } else { "" }
            ),
            None => format!(
                "{name}: no answer ({})",
                v.error.as_ref().map(ToString::to_string).unwrap_or_default()
            ),
        })
        .collect::<Vec<_>>()
        .join("; ");
    debug!(
        target: "arbiter",
        epoch = ctx.epoch.map(Epoch::get),
        primary = ctx.record.as_ref().map(|r| r.primary.as_str()).unwrap_or(""),
        %nodes,
        blocked = ?ctx.blocked,
        switchover = ctx.switchover.as_deref().unwrap_or(""),
        handover = ?ctx.handover.as_ref().map(|(from, to, ..)| (from, to)),
        "leader: nothing to do this check"
    );
}

/// Why the switchover to `target` did not start, from the last poll.
pub(super) fn not_started_because(machine: &Machine, target: &str) -> String {
    let ctx = machine.context();
    if ctx.epoch.is_none() {
        return "this instance stopped leading".into();
    }
    let primary = ctx.record.as_ref().map(|r| r.primary.clone()).unwrap_or_default();
    let primary_addr = ctx.config.node(&primary).map(|n| n.addr.as_str()).unwrap_or_default();
    match ctx.views.get(target).and_then(|v| v.status.as_ref()).map(|s| &s.role) {
        None => format!("{target} does not answer"),
        Some(Role::Primary) => format!("{target} claims to be a primary, not a replica of {primary}"),
        Some(Role::Replica { primary: p, .. }) if p != primary_addr => {
            format!("{target} replicates from {p}, not from the primary {primary} ({primary_addr})")
        }
        Some(Role::Replica { link_up: false, .. }) => format!("{target}'s link to the primary {primary} is down"),
        Some(Role::Replica { .. }) => {
            format!("the group was not ready (the primary {primary} not answering, or a failover or repoint first)")
        }
    }
}

/// Every other node and why it may or may not replace `failed`, as one
/// line (`r2: eligible; r3: stale: ...`).
pub(super) fn candidates(machine: &Machine, failed: &str) -> String {
    let ctx = machine.context();
    crate::machine::decide::eligibility(&ctx.config, &ctx.views, failed, ctx.now)
        .into_iter()
        .map(|(name, why)| format!("{name}: {}", why.as_deref().unwrap_or("eligible")))
        .collect::<Vec<_>>()
        .join("; ")
}

pub(super) fn log_decision(output: &Output, current: Option<&crate::types::GroupRecord>) {
    match output {
        // Every action starts with a guarded write of the record: when it
        // does not change, that write is the leadership re-check.
        Output::Publish { epoch, record } if current == Some(record) => info!(
            target: "arbiter",
            epoch = epoch.get(),
            primary = %record.primary,
            "re-checking leadership before acting (guarded write of the unchanged record)"
        ),
        Output::Publish { epoch, record } if record.lost_data && !current.is_some_and(|c| c.lost_data) => warn!(
            target: "arbiter",
            epoch = epoch.get(),
            primary = %record.primary,
            "recording in the group record that {} lost data (a leader taking over inherits the evidence)",
            record.primary
        ),
        Output::Publish { epoch, record }
            if !record.lost_data && current.is_some_and(|c| c.lost_data && c.primary == record.primary) =>
        {
            warn!(
                target: "arbiter",
                epoch = epoch.get(),
                primary = %record.primary,
                "clearing the loss mark on {}: every node answers and none holds more keys (what it lost is gone from every copy; its data is the most there is)",
                record.primary
            )
        }
        Output::Publish { epoch, record } => {
            info!(target: "arbiter", epoch = epoch.get(), primary = %record.primary, "publishing the group record")
        }
        Output::Promote { addr, epoch } => info!(target: "arbiter", node = %addr, epoch = epoch.get(), "promoting"),
        Output::Repoint { addr, primary, epoch } => {
            info!(target: "arbiter", node = %addr, %primary, epoch = epoch.get(), "repointing")
        }
        Output::Switchover {
            primary,
            target,
            timeout_ms,
            epoch,
        } => info!(target: "arbiter", %primary, %target, timeout_ms, epoch = epoch.get(), "switching over"),
        Output::Resign { candidacy } => {
            info!(target: "arbiter", election_revision = candidacy.revision, "resigning")
        }
        _ => {}
    }
}
