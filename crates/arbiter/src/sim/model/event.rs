//! What happens in the simulated world, as typed events: the model, the
//! instances' worlds and the scheduler note them; the checker and the run
//! match on them; the timeline prints each as one line of text
//! ([`ModelEvent`]'s `Display`, the `--seed N` output).

use std::fmt;

use super::network::Endpoint;
use super::redis::{Persistence, Restart};
use crate::types::Epoch;
use crate::types::{GroupRecord, Millis, NodeId};

/// Something that happened in the model, for the timeline and for tests
/// that look for the ten failures (`crates/arbiter/INVARIANTS.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Virtual time.
    pub at: Millis,
    /// What happened.
    pub kind: ModelEvent,
}

impl Event {
    /// What happened, in words (`kind: details`), as the timeline prints it.
    pub fn what(&self) -> String {
        self.kind.to_string()
    }
}

/// One configuration edit an operator made on one host only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigEdit {
    /// A node's priority.
    Priority {
        /// The node's name.
        node: String,
        /// The new priority.
        priority: u32,
    },
    /// `stale_after_ms`.
    StaleAfter(Millis),
    /// `down_after_ms`.
    DownAfter(Millis),
}

/// What happened (nodes by name, instances by index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelEvent {
    /// The persistence mode each node drew.
    Persistence(Vec<(String, Persistence)>),
    /// `REPLICAOF NO ONE` turned a replica into a primary.
    Promote {
        /// The node.
        node: String,
        /// Under this epoch.
        epoch: Epoch,
        /// Its replication offset then.
        offset: u64,
        /// Its keys then.
        keys: usize,
    },
    /// `REPLICAOF primary` pointed a node elsewhere.
    Repoint {
        /// The node.
        node: String,
        /// Its new primary's address.
        primary: String,
        /// Under this epoch.
        epoch: Epoch,
    },
    /// A full resync completed.
    FullResync {
        /// The replica.
        replica: String,
        /// Its source.
        source: String,
        /// Writes the source held.
        writes: usize,
    },
    /// A `FAILOVER TO` was accepted: the handover runs.
    SwitchoverStarted {
        /// The old primary.
        from: String,
        /// The target.
        to: String,
        /// Under this epoch.
        epoch: Epoch,
    },
    /// A handover finished: the roles swapped.
    Switchover {
        /// The old primary.
        from: String,
        /// The new primary.
        to: String,
        /// Under this epoch.
        epoch: Epoch,
    },
    /// A `FAILOVER TO` whose target did not answer was rolled back.
    SwitchoverRolledBack {
        /// The primary.
        from: String,
        /// The target.
        to: String,
    },
    /// A handover did not finish by its timeout.
    SwitchoverAborted {
        /// The primary.
        from: String,
        /// The target.
        to: String,
    },
    /// The target of a `FAILOVER TO` was paused as it began.
    PauseMidFailover {
        /// The node.
        node: String,
        /// Until then.
        until: Millis,
    },
    /// A node's process died.
    Crash {
        /// The node.
        node: String,
    },
    /// A node restarted empty.
    RestartEmpty {
        /// The node.
        node: String,
        /// Writes it held before.
        had: u64,
    },
    /// A node restarted with data its persistence mode reloaded.
    RestartWithData {
        /// The node.
        node: String,
        /// Its persistence mode.
        mode: Persistence,
        /// How it went down.
        how: Restart,
        /// Writes it held before.
        had: u64,
        /// Writes it loaded.
        loaded: u64,
    },
    /// A write was acknowledged by a node the record does not name.
    StaleAck {
        /// The node.
        node: String,
        /// The primary the record names.
        recorded: String,
    },
    /// A serializable read answered an old record.
    StaleRead {
        /// The reading instance.
        instance: NodeId,
        /// What it got.
        got: Option<GroupRecord>,
        /// What etcd holds.
        holds: Option<GroupRecord>,
    },
    /// A guarded record write passed.
    Record {
        /// The primary it names.
        primary: String,
        /// Under this epoch.
        epoch: Epoch,
        /// The writing instance.
        by: NodeId,
    },
    /// A guarded record write was rejected.
    RecordRejected {
        /// The writing instance.
        by: NodeId,
        /// Under this epoch.
        epoch: Epoch,
    },
    /// A follower deposed a silent leader (issue 19).
    Deposed {
        /// The deposing instance.
        by: NodeId,
        /// The leader deposed.
        leader: NodeId,
        /// Its epoch.
        epoch: Epoch,
    },
    /// An instance said why it cannot act (noted on change).
    Blocked {
        /// The instance.
        instance: usize,
        /// Why.
        why: crate::machine::Blocked,
    },
    /// An instance crashed right after a promotion.
    ArbiterCrashAfterPromote {
        /// The instance.
        instance: usize,
    },
    /// An instance's process died.
    ArbiterCrash {
        /// The instance.
        instance: usize,
    },
    /// An instance's process started again.
    ArbiterRestart {
        /// The instance.
        instance: usize,
    },
    /// An instance was sent SIGTERM (a deploy stops it): it resigns at
    /// its next wait and exits.
    ArbiterSigterm {
        /// The instance.
        instance: usize,
    },
    /// An instance's process exited on its own: stopped after a SIGTERM,
    /// or refused to start.
    ArbiterExit {
        /// The instance.
        instance: usize,
        /// Refused to start (else: stopped).
        refused: bool,
    },
    /// A deploy shipped one host a configuration naming a node that runs
    /// in cluster mode (another deployment's address pasted by mistake).
    BadDeploy {
        /// The instance.
        instance: usize,
        /// The node whose address is wrong.
        node: String,
        /// The cluster-mode address it names.
        addr: String,
    },
    /// An instance was paused.
    ArbiterPause {
        /// The instance.
        instance: usize,
        /// Until then.
        until: Millis,
    },
    /// A node was paused.
    Pause {
        /// The node.
        node: String,
        /// Until then.
        until: Millis,
    },
    /// A node's password changed.
    AuthMismatch {
        /// The node.
        node: String,
        /// Until then.
        until: Millis,
    },
    /// A node's password matches again.
    AuthFixed {
        /// The node.
        node: String,
    },
    /// The network cut one side off.
    Partition {
        /// The side cut off.
        side: Vec<Endpoint>,
        /// Only the side's outgoing traffic is dropped.
        one_way: bool,
    },
    /// A partition healed.
    PartitionHealed,
    /// An instance's lease was revoked early.
    LeaseRevoked {
        /// The instance.
        instance: usize,
    },
    /// etcd lost quorum.
    EtcdUnavailable,
    /// etcd answers again.
    EtcdBack,
    /// The group's configuration changed its check interval.
    ConfigChange {
        /// The new check interval.
        check_interval_ms: Millis,
    },
    /// One host's configuration was edited, the others not.
    ConfigConflict {
        /// The instance.
        instance: usize,
        /// The edit.
        edit: ConfigEdit,
    },
    /// An instance's clock jumped forward.
    ClockJump {
        /// The instance.
        instance: usize,
        /// By this much.
        jump: Millis,
    },
    /// An operator asked for a switchover.
    SwitchoverRequested {
        /// The target.
        target: String,
    },
    /// An operator asked for a switchover to something that cannot be one.
    BadSwitchoverRequested {
        /// The target.
        target: String,
    },
    /// Every instance went away.
    AllAway {
        /// Stopped by a deploy (each resigned) rather than lost.
        graceful: bool,
        /// Back then.
        back: Millis,
    },
    /// The instances that were away start again.
    AllBack,
    /// Faults end: everything restored.
    Heal,
    /// The liveness probe killed the primary for good.
    Probe {
        /// The node.
        node: String,
    },
}

impl fmt::Display for ConfigEdit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Priority { node, priority } => write!(f, "{node} priority {priority}"),
            Self::StaleAfter(v) => write!(f, "stale_after_ms {v}"),
            Self::DownAfter(v) => write!(f, "down_after_ms {v}"),
        }
    }
}

impl fmt::Display for ModelEvent {
    // (one line per event: a flat table, longer than 80 lines)
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Persistence(modes) => {
                let what: Vec<String> = modes.iter().map(|(n, m)| format!("{n} {}", m.name())).collect();
                write!(f, "persistence: {}", what.join(", "))
            }
            Self::Promote {
                node,
                epoch,
                offset,
                keys,
            } => write!(f, "promote: {node} under epoch {epoch} (offset {offset}, {keys} keys)"),
            Self::Repoint { node, primary, epoch } => write!(f, "repoint: {node} to {primary} under epoch {epoch}"),
            Self::FullResync {
                replica,
                source,
                writes,
            } => write!(f, "full resync: {replica} from {source} ({writes} writes)"),
            Self::SwitchoverStarted { from, to, epoch } => {
                write!(f, "switchover started: {from} -> {to} under epoch {epoch}")
            }
            Self::Switchover { from, to, epoch } => write!(f, "switchover: {from} -> {to} under epoch {epoch}"),
            Self::SwitchoverRolledBack { from, to } => {
                write!(f, "switchover rolled back: {from} -> {to} (target not answering)")
            }
            Self::SwitchoverAborted { from, to } => {
                write!(f, "switchover aborted: {from} -> {to} (not handed over by the timeout)")
            }
            Self::PauseMidFailover { node, until } => write!(f, "pause: {node} mid-FAILOVER until t={until}"),
            Self::Crash { node } => write!(f, "crash: {node}"),
            Self::RestartEmpty { node, had } => write!(f, "restart empty: {node} (had {had} writes)"),
            Self::RestartWithData {
                node,
                mode,
                how,
                had,
                loaded,
            } => {
                let how = if *how == Restart::Shutdown { "shutdown" } else { "kill" };
                write!(
                    f,
                    "restart with data: {node} ({}, {how}; had {had} writes, loaded {loaded})",
                    mode.name()
                )
            }
            Self::StaleAck { node, recorded } => write!(f, "write acked by {node} while the record names {recorded}"),
            Self::StaleRead { instance, got, holds } => {
                write!(f, "stale read: {instance} got {got:?} while etcd holds {holds:?}")
            }
            Self::Record { primary, epoch, by } => write!(f, "record: primary {primary} under epoch {epoch} by {by}"),
            Self::RecordRejected { by, epoch } => write!(f, "rejected: record write by {by} under epoch {epoch}"),
            Self::Deposed { by, leader, epoch } => {
                write!(f, "deposed: {leader} (epoch {epoch}), silent leader, by {by}")
            }
            Self::Blocked { instance, why } => write!(f, "blocked: arbiter-{}: {why:?}", instance + 1),
            Self::ArbiterCrashAfterPromote { instance } => {
                write!(f, "arbiter crash right after promote: arbiter-{}", instance + 1)
            }
            Self::ArbiterCrash { instance } => write!(f, "arbiter crash: arbiter-{}", instance + 1),
            Self::ArbiterRestart { instance } => write!(f, "arbiter restart: arbiter-{}", instance + 1),
            Self::ArbiterSigterm { instance } => write!(f, "arbiter SIGTERM: arbiter-{}", instance + 1),
            Self::ArbiterExit { instance, refused } => write!(
                f,
                "arbiter exit: arbiter-{} {}",
                instance + 1,
                if *refused { "refused to start" } else { "stopped" }
            ),
            Self::BadDeploy { instance, node, addr } => write!(
                f,
                "bad deploy: arbiter-{}'s configuration names {node} at {addr} (a cluster-mode server)",
                instance + 1
            ),
            Self::ArbiterPause { instance, until } => {
                write!(f, "arbiter pause: arbiter-{} until t={until}", instance + 1)
            }
            Self::Pause { node, until } => write!(f, "pause: {node} until t={until}"),
            Self::AuthMismatch { node, until } => write!(f, "auth mismatch: {node} until t={until}"),
            Self::AuthFixed { node } => write!(f, "auth fixed: {node}"),
            Self::Partition { side, one_way } => {
                write!(
                    f,
                    "partition{}: {side:?} cut off",
                    if *one_way { " (one-way)" } else { "" }
                )
            }
            Self::PartitionHealed => write!(f, "partition healed"),
            Self::LeaseRevoked { instance } => write!(f, "lease revoked early: arbiter-{}", instance + 1),
            Self::EtcdUnavailable => write!(f, "etcd unavailable (quorum lost)"),
            Self::EtcdBack => write!(f, "etcd available again"),
            Self::ConfigChange { check_interval_ms } => {
                write!(f, "config change: check interval {check_interval_ms} ms")
            }
            Self::ConfigConflict { instance, edit } => {
                write!(f, "config conflict: arbiter-{} has {edit}", instance + 1)
            }
            Self::ClockJump { instance, jump } => write!(f, "clock jump: arbiter-{} +{jump} ms", instance + 1),
            Self::SwitchoverRequested { target } => write!(f, "operator: switchover to {target} requested"),
            Self::BadSwitchoverRequested { target } => write!(f, "operator: bad switchover to {target} requested"),
            Self::AllAway { graceful, back } => write!(
                f,
                "all away: every arbiter instance {} until t={back}",
                if *graceful {
                    "stopped (deploy)"
                } else {
                    "lost (hosts down)"
                }
            ),
            Self::AllBack => write!(f, "all back: the instances that were away start again"),
            Self::Heal => write!(
                f,
                "heal: partitions, pauses, etcd, passwords, configurations and crashed processes restored"
            ),
            Self::Probe { node } => write!(f, "probe: {node} killed for good (L1)"),
        }
    }
}
