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

use crate::machine::{Blocked, Machine, Output, State};
use std::collections::BTreeMap;

use crate::types::{GroupRecord, RedisError, Role};

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

/// The role an instance holds, as logged.
fn role(machine: &Machine) -> &'static str {
    let ctx = machine.context();
    match machine.state() {
        State::Failure { .. } => "failed",
        State::Refused { .. } => "refused",
        State::Stopped => "stopped",
        State::Resigning => "resigning",
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
    epoch: Option<i64>,
    leader: Option<String>,
    record: Option<GroupRecord>,
    blocked: Option<Blocked>,
    nodes: BTreeMap<String, NodeSeen>,
}

/// What the narrator last told about one node.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct NodeSeen {
    down: bool,
    /// The latest poll was refused for its credentials (the node is up).
    auth_failed: bool,
    lost_data: bool,
    role: Option<String>,
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
        if let Some(output) = machine.peek_next_message() {
            log_decision(output);
        }
    }

    fn changes(&mut self, machine: &Machine) {
        let ctx = machine.context();
        let role = role(machine);
        let leader = ctx.leader.as_ref().map(|l| l.instance.0.clone());
        if self.role != Some(role) || self.epoch != ctx.epoch || (role == "follower" && self.leader != leader) {
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
                ("leader", _) => info!(target: "arbiter", role, epoch = ctx.epoch, "leading the group"),
                ("follower", _) => info!(
                    target: "arbiter",
                    role,
                    leader = leader.as_deref().unwrap_or(""),
                    epoch = ctx.leader.as_ref().map(|l| l.epoch),
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
        if ctx.record != self.record {
            if let Some(r) = &ctx.record {
                info!(target: "arbiter", primary = %r.primary, epoch = r.epoch, "group record");
            }
            self.record = ctx.record.clone();
        }
        for (name, view) in &ctx.views {
            let auth_failed = matches!(view.error, Some(RedisError::Auth(_)));
            let seen = NodeSeen {
                // An authentication failure is told as such, not as an outage.
                down: view.down_since.is_some() && !auth_failed,
                auth_failed,
                lost_data: view.lost_data,
                role: view.status.as_ref().map(|s| describe(&s.role)),
            };
            let old = self.nodes.entry(name.clone()).or_default();
            let error = view.error.as_ref().map(ToString::to_string).unwrap_or_default();
            if seen.auth_failed && !old.auth_failed {
                let addr = ctx.config.node(name).map(|n| n.addr.as_str()).unwrap_or_default();
                warn!(
                    target: "arbiter",
                    node = %name,
                    addr,
                    %error,
                    "authentication failed: the node refuses redis.password"
                );
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
                warn!(target: "arbiter", node = %name, "node restarted without its data");
            }
            if seen.role.is_some() && seen.role != old.role {
                info!(target: "arbiter", node = %name, role = seen.role.as_deref().unwrap_or(""), "node role");
            }
            let role = seen.role.clone().or_else(|| old.role.clone());
            *old = NodeSeen { role, ..seen };
        }
        if ctx.blocked != self.blocked {
            match &ctx.blocked {
                Some(Blocked::NoEligibleReplica { primary }) => warn!(
                    target: "arbiter",
                    reason = "no-eligible-replica",
                    %primary,
                    "not failing over: no replica is eligible (set allow_data_loss to promote the best one anyway)"
                ),
                Some(Blocked::ColdStart) => warn!(
                    target: "arbiter",
                    reason = "cold-start",
                    "not acting: no group record and not exactly one node claims to be primary"
                ),
                None => info!(target: "arbiter", "no longer blocked"),
            }
            self.blocked = ctx.blocked.clone();
        }
    }
}

fn log_decision(output: &Output) {
    match output {
        Output::Publish { epoch, record } => {
            info!(target: "arbiter", epoch, primary = %record.primary, "publishing the group record")
        }
        Output::Promote { addr, epoch } => info!(target: "arbiter", node = %addr, epoch, "promoting"),
        Output::Repoint { addr, primary, epoch } => {
            info!(target: "arbiter", node = %addr, %primary, epoch, "repointing")
        }
        Output::Switchover {
            primary,
            target,
            timeout_ms,
            epoch,
        } => info!(target: "arbiter", %primary, %target, timeout_ms, epoch, "switching over"),
        Output::Resign { candidacy } => info!(target: "arbiter", epoch = candidacy.revision, "resigning"),
        _ => {}
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
        let path = format!("{}/tests/scenarios/{scenario}", env!("CARGO_MANIFEST_DIR"));
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
    }
}
