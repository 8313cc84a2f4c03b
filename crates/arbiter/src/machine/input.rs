//! What the machine learns: the [`Input`] vocabulary.

use serde::{Deserialize, Serialize};

use crate::types::{
    Candidacy, ClusterEvent, ElectionError, ElectionEvent, GroupConfig, GroupRecord, Heartbeat, Leader, Millis, NodeId,
    NodeStatus, RedisError,
};

/// What the machine learns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    /// Start, at the world's time, with the configuration loaded.
    Start {
        /// Now.
        now: Millis,
        /// The configuration.
        config: GroupConfig,
    },
    /// The next check is due.
    Tick {
        /// Now.
        now: Millis,
    },
    /// The instance id.
    NodeId(NodeId),
    /// Whether the node asked runs in cluster mode.
    ClusterEnabled(Result<bool, RedisError>),
    /// The election entry.
    Created(Result<Candidacy, ElectionError>),
    /// The current leader.
    Leader(Result<Option<Leader>, ElectionError>),
    /// Election news.
    Election(Option<ElectionEvent>),
    /// A changed configuration.
    Config(Option<GroupConfig>),
    /// Operator requests.
    Cluster(Option<ClusterEvent>),
    /// The group record.
    Record(Result<Option<GroupRecord>, ElectionError>),
    /// The polled node's status.
    Status(Result<NodeStatus, RedisError>),
    /// Whether the guarded record write happened.
    Published(Result<bool, ElectionError>),
    /// The promotion's result.
    Promoted(Result<(), RedisError>),
    /// The repoint's result.
    Repointed(Result<(), RedisError>),
    /// The `FAILOVER TO` result.
    SwitchedOver(Result<(), RedisError>),
    /// The leader's heartbeat.
    Heartbeat(Result<Option<Heartbeat>, ElectionError>),
    /// Whether the guarded deposition happened.
    Deposed(Result<bool, ElectionError>),
    /// Stop (SIGTERM).
    Shutdown,
    /// The resignation's result.
    Resigned(Result<(), ElectionError>),
}

impl Input {
    /// The variant's name, as in [`TRANSITIONS`](super::TRANSITIONS) and `MACHINE.md`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Start { .. } => "Start",
            Self::Tick { .. } => "Tick",
            Self::NodeId(_) => "NodeId",
            Self::ClusterEnabled(_) => "ClusterEnabled",
            Self::Created(_) => "Created",
            Self::Leader(_) => "Leader",
            Self::Election(_) => "Election",
            Self::Config(_) => "Config",
            Self::Cluster(_) => "Cluster",
            Self::Record(_) => "Record",
            Self::Status(_) => "Status",
            Self::Published(_) => "Published",
            Self::Promoted(_) => "Promoted",
            Self::Repointed(_) => "Repointed",
            Self::SwitchedOver(_) => "SwitchedOver",
            Self::Heartbeat(_) => "Heartbeat",
            Self::Deposed(_) => "Deposed",
            Self::Shutdown => "Shutdown",
            Self::Resigned(_) => "Resigned",
        }
    }
}
