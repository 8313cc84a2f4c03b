//! Structured logs of a live run, through `tracing`.
//!
//! The machine itself logs nothing (it is pure); [`Narrator`] watches it
//! from the driver loop and turns what changed into events: the role this
//! instance holds, every reconfiguration it orders, the group record it
//! reads or writes, and why it does not act when it should. The concrete
//! world adds what the servers answered (a refused command, a lost lease).
//! Replaying a recorded run through a `Narrator` gives the same events the
//! live run logged.
//!
//! Events use the target `arbiter` and these fields: `role`, `epoch`,
//! `leader`, `node`, `primary`, `target`, `reason`, `error`.

use tracing::{error, info, warn};

use crate::machine::{Blocked, Machine, NodeView, Output, State};
use std::collections::BTreeMap;

use crate::live::switchover::{SwitchoverAnswer, SwitchoverOutcome};
use crate::types::{Epoch, GroupRecord, RedisError, Role};

mod decisions;
use decisions::{block_change, candidates, log_decision, log_idle_inputs, not_started_because};

/// How [`init`] formats events on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line (for journald, Loki, jq).
    Json,
}

/// The environment variable holding a `tracing` filter (default `info`),
/// e.g. `ARBITER_LOG=debug` or `ARBITER_LOG=arbiter=warn`.
pub const FILTER_ENV: &str = "ARBITER_LOG";

/// Installs the global subscriber: events to stderr in `format`, filtered
/// by [`FILTER_ENV`]. Fails on a bad filter or when one is installed.
pub fn init(format: LogFormat) -> Result<(), String> {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var(FILTER_ENV) {
        Ok(spec) => EnvFilter::try_new(&spec).map_err(|e| format!("{FILTER_ENV}={spec:?}: {e}"))?,
        Err(_) => EnvFilter::new("info"),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    installed.map_err(|e| e.to_string())
}

/// Every reason a leader may be blocked for, as the log's `reason` field,
/// the metric `arbiter_blocked`'s `reason` label and the HTTP answers name
/// it ([`blocked_reason`]).
pub const BLOCKED_REASONS: [&str; 8] = [
    "no-eligible-replica",
    "last-copy-not-promotable",
    "cold-start",
    "cold-start-behind",
    "cold-start-empty",
    PAUSED,
    "cold-start-reloaded",
    "follows-lost-data",
];

/// The reason a paused leader gives while the recorded primary is down:
/// not a [`Blocked`] of the machine (a paused machine decides nothing),
/// but what the ports report so that an outage under a pause is seen.
pub const PAUSED: &str = "paused";

/// Why the leader is blocked, as the log's `reason` field says it (one of
/// [`BLOCKED_REASONS`]).
pub fn blocked_reason(blocked: &Blocked) -> &'static str {
    match blocked {
        Blocked::NoEligibleReplica { .. } => BLOCKED_REASONS[0],
        Blocked::LastCopyNotPromotable { .. } => BLOCKED_REASONS[1],
        Blocked::ColdStart => BLOCKED_REASONS[2],
        Blocked::ColdStartBehind { .. } => BLOCKED_REASONS[3],
        Blocked::ColdStartEmpty { .. } => BLOCKED_REASONS[4],
        Blocked::ColdStartReloaded { .. } => BLOCKED_REASONS[6],
        Blocked::FollowsLostData { .. } => BLOCKED_REASONS[7],
    }
}

/// Why the leader is blocked, in one sentence naming the nodes concerned
/// (the log's warning says more, and what to do).
pub fn blocked_detail(blocked: &Blocked) -> String {
    match blocked {
        Blocked::NoEligibleReplica { primary } => {
            format!("not failing over {primary}: no replica is eligible")
        }
        Blocked::LastCopyNotPromotable { primary, node } => format!(
            "not failing over {primary}, which lost its data: {node}, holding the most data left, has priority 0"
        ),
        Blocked::ColdStart => "no group record and not exactly one node claims to be primary".into(),
        Blocked::ColdStartBehind { primary, node } => {
            format!("no group record, and {primary}, the only node claiming primary, holds fewer keys than {node}")
        }
        Blocked::ColdStartEmpty { primary, reason } => {
            format!("no group record, and {primary}, the only node claiming primary, is {reason}")
        }
        Blocked::ColdStartReloaded { primary, held, holds } => format!(
            "no group record, and {primary}, the only node claiming primary, restarted holding {holds} keys where it held {held}"
        ),
        Blocked::FollowsLostData { primary, source } => format!(
            "not adopting {source}, which {primary} (recorded) follows: {source} lost data and no node answering holds more"
        ),
    }
}

/// The role an instance holds, as logged.
fn role(machine: &Machine) -> &'static str {
    let ctx = machine.context();
    match machine.state() {
        State::Failure { .. } => "failed",
        State::Refused { .. } => "refused",
        State::Stopped => "stopped",
        State::Resigning => "resigning",
        // (creating its election entry again: the leader it last knew may
        // be its own old entry, deposed or expired, which follows no one)
        State::Campaigning => "candidate",
        _ if ctx.epoch.is_some() => "leader",
        _ if ctx.leader.is_some() => "follower",
        _ if ctx.candidacy.is_some() => "candidate",
        _ => "starting",
    }
}

/// Watches a machine and logs what changed since the last look.
#[derive(Debug, Default)]
pub struct Narrator {
    role: Option<&'static str>,
    epoch: Option<Epoch>,
    /// The epoch this instance last stopped leading under: its own entry
    /// then, gone (expired or deposed), which no instance waits for.
    lost_epoch: Option<Epoch>,
    leader: Option<String>,
    record: Option<GroupRecord>,
    blocked: Option<Blocked>,
    nodes: BTreeMap<String, NodeSeen>,
    /// The switchover request pending in the machine at the last look.
    switchover: Option<String>,
    /// `FAILOVER TO` was ordered for the pending request.
    failover_ordered: bool,
    /// The handover in flight at the last look, as (old primary, target).
    handover: Option<(String, String)>,
    /// Answers to switchover requests not yet taken by the run loop.
    answers: Vec<SwitchoverAnswer>,
}

/// The start of the reason of a switchover given up because Redis refused
/// `FAILOVER TO` (the live world appends Redis's error).
pub const FAILOVER_REFUSED: &str = "Redis refused FAILOVER TO";

/// What the narrator last told about one node.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct NodeSeen {
    down: bool,
    /// The latest poll was refused for its credentials (the node is up).
    auth_failed: bool,
    lost_data: bool,
    role: Option<String>,
    /// The run id of the latest answer (a change is a restart).
    run_id: Option<String>,
    /// The keys of the latest answer.
    keys: Option<u64>,
}

fn describe(role: &Role) -> String {
    match role {
        Role::Primary => "primary".into(),
        Role::Replica { primary, .. } => format!("replica of {primary}"),
    }
}

impl Narrator {
    /// A narrator that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Logs what changed in `machine` since the last look, then the
    /// decision it is about to carry out (its pending output), if any: call
    /// it after every step, before the pending output is performed.
    pub fn observe(&mut self, machine: &Machine) {
        self.changes(machine);
        self.switchover_outcomes(machine);
        if let Some(output) = machine.peek_next_message() {
            log_decision(output, machine.context().record.as_ref());
            if matches!(output, Output::Wait { .. }) && matches!(machine.state(), State::Leading { .. }) {
                log_idle_inputs(machine);
            }
            if let (
                Output::Publish { .. },
                State::Publishing {
                    plan: crate::machine::Plan::Failover { from, to },
                },
            ) = (output, machine.state())
            {
                let ctx = machine.context();
                let down_ms = crate::machine::decide::primary_down_for(&ctx.config, &ctx.views, from, ctx.now);
                let status = |n: &str| ctx.views.get(n).and_then(|v| v.status.as_ref());
                if ctx.views.get(from).is_some_and(|v| v.lost_data) {
                    // (chosen as the copy left, not by lag: say so)
                    let keys = status(to).and_then(|s| s.keys).unwrap_or_default();
                    let held = status(from).and_then(|s| s.keys);
                    warn!(
                        target: "arbiter",
                        failed = %from,
                        failed_keys = held.map_or_else(|| "not answering".to_string(), |k| k.to_string()),
                        chosen = %to,
                        chosen_keys = keys,
                        candidates = %candidates(machine, from),
                        "failing over from {from}, which lost data, to {to}, the node holding the most data left"
                    );
                } else {
                    info!(
                        target: "arbiter",
                        failed = %from,
                        down_ms,
                        chosen = %to,
                        candidates = %candidates(machine, from),
                        "failing over"
                    );
                }
            }
            if let (
                Output::Publish { .. },
                State::Publishing {
                    plan: crate::machine::Plan::Detach { from, nodes },
                },
            ) = (output, machine.state())
            {
                let primary = machine.context().record.as_ref().map_or("", |r| r.primary.as_str());
                if from == primary {
                    warn!(
                        target: "arbiter",
                        %primary,
                        nodes = %nodes.join(","),
                        "detaching the copies of the data from {primary}, which lost it (the node holding the most has priority 0): REPLICAOF NO ONE, no new record"
                    );
                } else {
                    warn!(
                        target: "arbiter",
                        %primary,
                        source = %from,
                        nodes = %nodes.join(","),
                        "detaching {} from {from}, which claims primary against the record on another replication history holding less than they do (they would resync their data away; {primary}, recorded, was not seen serving yet): REPLICAOF NO ONE, no new record",
                        nodes.join(",")
                    );
                }
            }
        }
    }

    /// The answers to switchover requests found since the last call (the
    /// run loop writes them where the operator reads them).
    pub fn take_switchover_answers(&mut self) -> Vec<SwitchoverAnswer> {
        std::mem::take(&mut self.answers)
    }

    /// Notes how pending switchover requests and handovers ended: a
    /// request is carried out (`FAILOVER TO` accepted, the handover then
    /// completes or is given up), superseded, refused by Redis, or dropped
    /// by the machine after `failover_timeout_ms`.
    fn switchover_outcomes(&mut self, machine: &Machine) {
        use SwitchoverOutcome::{Done, Failed};
        let ctx = machine.context();
        let pending = ctx.switchover.clone();
        let handover = ctx.handover.as_ref().map(|(from, to, ..)| (from.clone(), to.clone()));
        let mut answers = Vec::new();
        if let Some(old) = self.switchover.as_ref().filter(|old| pending.as_ref() != Some(old)) {
            if handover.as_ref().is_some_and(|(_, to)| to == old) {
                info!(target: "arbiter", node = %old, "switchover: Redis accepted FAILOVER TO and is handing over");
            } else if let Some(new) = &pending {
                answers.push(SwitchoverAnswer::because(
                    old,
                    Failed,
                    format!("superseded by a request for {new}"),
                ));
            } else if self.failover_ordered {
                answers.push(SwitchoverAnswer::because(old, Failed, FAILOVER_REFUSED));
            } else {
                let why = not_started_because(machine, old);
                answers.push(SwitchoverAnswer::because(
                    old,
                    Failed,
                    format!(
                        "not started within failover_timeout_ms ({} ms): {why}",
                        ctx.config.settings.failover_timeout_ms
                    ),
                ));
            }
        }
        if let Some((from, to)) = self.handover.as_ref().filter(|h| handover.as_ref() != Some(h)) {
            let status = |name: &str| ctx.views.get(name).and_then(|v| v.status.as_ref());
            if status(to).is_some_and(|s| s.role == Role::Primary) {
                answers.push(SwitchoverAnswer::new(to, Done));
            } else if status(from).is_none() || ctx.views.get(from).is_some_and(|v| v.lost_data || v.restarted()) {
                answers.push(SwitchoverAnswer::because(
                    to,
                    Failed,
                    format!("{from} stopped answering or restarted during the handover"),
                ));
            } else {
                answers.push(SwitchoverAnswer::because(
                    to,
                    Failed,
                    format!("Redis did not hand over within failover_timeout_ms: {from} stays primary"),
                ));
            }
        }
        for a in &answers {
            let reason = a.reason.as_deref().unwrap_or_default();
            match a.outcome {
                Done => info!(target: "arbiter", node = %a.target, "switchover done"),
                _ => warn!(target: "arbiter", node = %a.target, reason, "switchover failed"),
            }
        }
        self.answers.extend(answers);
        let target_addr = pending
            .as_deref()
            .and_then(|t| ctx.config.node(t))
            .map(|n| n.addr.as_str());
        let ordered = matches!(machine.peek_next_message(), Some(Output::Switchover { target, .. }) if Some(target.as_str()) == target_addr);
        self.failover_ordered = pending.is_some() && (ordered || (self.failover_ordered && pending == self.switchover));
        self.switchover = pending;
        self.handover = handover;
    }

    fn changes(&mut self, machine: &Machine) {
        self.role_change(machine);
        let ctx = machine.context();
        if ctx.record != self.record {
            if let Some(r) = &ctx.record {
                info!(target: "arbiter", primary = %r.primary, epoch = r.epoch.get(), "group record");
            }
            self.record = ctx.record.clone();
        }
        // Nodes are told about once a poll round is complete: in the middle
        // of one, a restart is seen before the round's end judges whether
        // it lost data.
        if !matches!(machine.state(), State::Polling { .. }) {
            for (name, view) in &ctx.views {
                self.node_change(machine, name, view);
            }
        }
        if ctx.blocked != self.blocked {
            block_change(machine, ctx.blocked.as_ref());
            self.blocked = ctx.blocked.clone();
        }
    }

    /// The instance's role, epoch or leader, when one changed.
    fn role_change(&mut self, machine: &Machine) {
        let ctx = machine.context();
        let own = ctx.instance.as_ref().map(|i| i.0.as_str());
        let leader = ctx.leader.as_ref().map(|l| l.instance.0.clone());
        // (the leader it knows is its own entry it lost: it is gone, and
        // this instance is campaigning, not following it)
        let own_lost =
            own.is_some() && leader.as_deref() == own && ctx.leader.as_ref().map(|l| l.epoch) == self.lost_epoch;
        let role = match role(machine) {
            "follower" if own_lost => "candidate",
            role => role,
        };
        if self.role != Some(role) || self.epoch != ctx.epoch || (role == "follower" && self.leader != leader) {
            // (resigning or stopping is leaving on purpose, said below)
            if self.role == Some("leader") && matches!(role, "follower" | "candidate") {
                warn!(
                    target: "arbiter",
                    role,
                    epoch = self.epoch.map(Epoch::get),
                    "no longer leading: this instance's leadership (its election lease) was lost"
                );
                self.lost_epoch = self.epoch;
            }
            match (role, &machine.state()) {
                (_, State::Failure { state, input }) => error!(
                    target: "arbiter",
                    role,
                    state = state.name(),
                    input = ?input,
                    "the controller failed: an input its state cannot take"
                ),
                (_, State::Refused { reason }) => {
                    error!(target: "arbiter", role, %reason, "refusing to manage the group")
                }
                ("leader", _) => info!(target: "arbiter", role, epoch = ctx.epoch.map(Epoch::get), "leading the group"),
                ("follower", _) if own.is_some() && leader.as_deref() == own => info!(
                    target: "arbiter",
                    role,
                    epoch = ctx.leader.as_ref().map(|l| l.epoch.get()),
                    "waiting: this instance's own earlier election entry still leads until its lease expires"
                ),
                ("follower", _) => info!(
                    target: "arbiter",
                    role,
                    leader = leader.as_deref().unwrap_or(""),
                    epoch = ctx.leader.as_ref().map(|l| l.epoch.get()),
                    "following another instance"
                ),
                ("candidate", _) => info!(target: "arbiter", role, "campaigning"),
                ("stopped", _) => info!(target: "arbiter", role, "stopped"),
                ("resigning", _) => info!(target: "arbiter", role, "leaving the election"),
                _ => info!(target: "arbiter", role, "starting"),
            }
            self.role = Some(role);
            self.epoch = ctx.epoch;
            self.leader = leader;
        }
    }

    /// What changed in one node since it was last told about.
    fn node_change(&mut self, machine: &Machine, name: &str, view: &NodeView) {
        let ctx = machine.context();
        let auth_failed = matches!(view.error, Some(RedisError::Auth(_)));
        let seen = NodeSeen {
            // An authentication failure is told as such, not as an outage.
            down: view.down_since.is_some() && !auth_failed,
            auth_failed,
            lost_data: view.lost_data,
            role: view.status.as_ref().map(|s| describe(&s.role)),
            run_id: view.status.as_ref().map(|s| s.run_id.clone()),
            keys: view.status.as_ref().and_then(|s| s.keys),
        };
        let old = self.nodes.entry(name.to_string()).or_default();
        let error = view.error.as_ref().map(ToString::to_string).unwrap_or_default();
        if seen.auth_failed && !old.auth_failed {
            let addr = ctx.config.node(name).map(|n| n.addr.as_str()).unwrap_or_default();
            if error.contains("TLS handshake failed") {
                // A certificate, not the password (see crate::live::tls).
                warn!(target: "arbiter", node = %name, addr, %error, "TLS failed: certificates refused (redis.tls)");
            } else if error.contains("NOPERM") {
                warn!(
                    target: "arbiter",
                    node = %name,
                    addr,
                    %error,
                    "authentication failed: the node refuses a command arbiter needs to redis.username"
                );
            } else {
                warn!(
                    target: "arbiter",
                    node = %name,
                    addr,
                    %error,
                    "authentication failed: the node refuses redis.password"
                );
            }
        }
        if seen.down && !old.down {
            warn!(target: "arbiter", node = %name, %error, "node unreachable");
        }
        if !seen.down && old.down && !seen.auth_failed {
            info!(target: "arbiter", node = %name, "node answers again");
        }
        if !seen.auth_failed && old.auth_failed && view.status.is_some() {
            info!(target: "arbiter", node = %name, "authentication succeeds again");
        }
        if seen.lost_data && !old.lost_data {
            let last = view.status.as_ref().or(view.previous.as_ref());
            let keys = last
                .and_then(|s| s.keys)
                .map_or_else(|| "unknown".to_string(), |k| k.to_string());
            let run_id = last.map_or("", |s| s.run_id.as_str());
            let before = old.keys.map_or_else(|| "unknown".to_string(), |k| k.to_string());
            warn!(
                target: "arbiter",
                node = %name,
                %keys,
                keys_before = %before,
                run_id,
                "node lost data: it came back empty or from less, or another copy holds what its history lacks"
            );
        }
        if let (Some(status), Some(before)) = (&view.status, &old.run_id) {
            if status.run_id != *before && !seen.lost_data {
                let keys = status.keys.map_or_else(|| "unknown".to_string(), |k| k.to_string());
                let recorded = ctx.record.as_ref().is_some_and(|r| r.primary == *name);
                let fewer = status.keys.zip(old.keys).is_some_and(|(now, was)| now < was);
                if recorded && fewer {
                    let before = old.keys.unwrap_or_default();
                    warn!(target: "arbiter", node = %name, %keys, keys_before = before, offset = status.offset,
                        "the primary restarted holding fewer keys, and no node answering holds more: what it lost is gone from every copy; it stays primary");
                } else if recorded {
                    info!(target: "arbiter", node = %name, %keys, offset = status.offset,
                        "the primary restarted with its data (not data loss: at least as many keys as before and as its replicas)");
                } else {
                    info!(target: "arbiter", node = %name, %keys, offset = status.offset, "node restarted");
                }
            }
        }
        if seen.role.is_some() && seen.role != old.role {
            info!(target: "arbiter", node = %name, role = seen.role.as_deref().unwrap_or(""), "node role");
        }
        let role = seen.role.clone().or_else(|| old.role.clone());
        let run_id = seen.run_id.clone().or_else(|| old.run_id.clone());
        let keys = seen.keys.or(old.keys);
        *old = NodeSeen {
            role,
            run_id,
            keys,
            ..seen
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::Driver;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// A writer into a shared buffer, for a subscriber under test.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Replays `scenario` through a narrator; the JSON lines it logged.
    fn narrate(scenario: &str) -> Vec<serde_json::Value> {
        let path = format!("{}/../../scenarios/{scenario}", env!("CARGO_MANIFEST_DIR"));
        let replayer = rehearse::Replayer::open(&path).unwrap();
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .without_time()
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let mut driver = Driver::new(replayer.clone());
            let mut narrator = Narrator::new();
            while replayer.position() < replayer.len() {
                if driver.step_once().unwrap().is_some() {
                    break;
                }
                narrator.observe(driver.machine());
            }
        });
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    fn messages(events: &[serde_json::Value]) -> Vec<String> {
        events
            .iter()
            .map(|e| e["message"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn a_leader_that_lost_its_lease_is_told_campaigning_not_waiting_for_itself() {
        // Its own entry is gone: it campaigns (once), then follows the new
        // leader; it never waits for "its own earlier election entry" (a
        // newcomer's trial read that line after a paused leader was
        // deposed).
        let said = messages(&narrate("leadership_lost_mid_failover.ron"));
        let lost = said
            .iter()
            .position(|s| s.starts_with("no longer leading"))
            .unwrap_or_else(|| panic!("{said:?}"));
        assert_eq!(
            said[lost + 1..],
            ["campaigning", "following another instance"],
            "{said:?}"
        );
    }

    #[test]
    fn a_failover_is_told_as_structured_events() {
        let events = narrate("failover.ron");
        let said = messages(&events);
        let at = |m: &str| {
            said.iter()
                .position(|s| s == m)
                .unwrap_or_else(|| panic!("no {m:?} in {said:?}"))
        };
        // The record names the new primary before the node is promoted.
        assert!(at("campaigning") < at("leading the group"), "{said:?}");
        assert!(at("leading the group") < at("publishing the group record"), "{said:?}");
        assert!(at("publishing the group record") < at("promoting"), "{said:?}");
        assert!(at("promoting") < at("repointing"), "{said:?}");
        let down = &events[at("node unreachable")];
        assert_eq!(
            (down["node"].as_str(), down["level"].as_str()),
            (Some("r1"), Some("WARN"))
        );
        assert!(at("node unreachable") < at("publishing the group record"), "{said:?}");
        let promote = &events[at("promoting")];
        assert_eq!(promote["node"], "10.0.0.3:6379");
        assert_eq!(promote["epoch"], 100);
        assert_eq!(promote["level"], "INFO");
        let record = events.iter().rev().find(|e| e["message"] == "group record").unwrap();
        assert_eq!(record["primary"], "r3");
        let failing = &events[at("failing over")];
        assert_eq!(
            (failing["failed"].as_str(), failing["chosen"].as_str()),
            (Some("r1"), Some("r3"))
        );
        assert_eq!(failing["candidates"], "r2: eligible; r3: eligible", "{failing}");
    }

    #[test]
    fn a_carried_out_switchover_is_told_done() {
        let said = messages(&narrate("switchover.ron"));
        assert!(said.contains(&"switching over".to_string()), "{said:?}");
        assert_eq!(said.iter().filter(|m| *m == "switchover done").count(), 1, "{said:?}");
        assert!(!said.contains(&"switchover failed".to_string()), "{said:?}");
    }

    #[test]
    fn a_follower_names_its_leader_and_a_block_is_a_warning() {
        let said = messages(&narrate("follower_stays_passive.ron"));
        assert!(said.contains(&"following another instance".to_string()), "{said:?}");
        assert!(!said.contains(&"promoting".to_string()), "{said:?}");
        let events = narrate("stale_replicas_wait_for_override.ron");
        let warning = events
            .iter()
            .find(|e| e["reason"] == "no-eligible-replica")
            .unwrap_or_else(|| panic!("{events:?}"));
        assert_eq!(warning["level"], "WARN");
        // It says why each replica may not be promoted.
        let candidates = warning["candidates"].as_str().unwrap();
        assert!(
            candidates.starts_with("r2: stale: its link has been down 60000 ms")
                && candidates.contains("r3: stale: its link has been down 61000 ms"),
            "{candidates}"
        );
    }
}
