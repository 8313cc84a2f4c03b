//! What the machine wants done: the [`Output`] vocabulary.

use serde::{Deserialize, Serialize};

use crate::types::{Candidacy, Epoch, GroupRecord, Leader, Millis, NodeId};

/// What the machine wants done. Each output is answered by exactly one input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Output {
    /// Ask for an instance id (answer: `NodeId`).
    GenNodeId,
    /// Ask whether a node runs in cluster mode (answer: `ClusterEnabled`).
    CheckClusterEnabled {
        /// The node's address.
        addr: String,
    },
    /// Join the election (answer: `Created`).
    CreateNode {
        /// This instance.
        instance: NodeId,
    },
    /// Ask who leads (answer: `Leader`).
    GetLeader,
    /// Keep the lease alive, ask for election news (answer: `Election`).
    CheckElection,
    /// Ask for a changed configuration (answer: `Config`).
    CheckConfig,
    /// Ask for operator requests (answer: `Cluster`).
    CheckRequests,
    /// Read the group record (answer: `Record`); always linearizable
    /// unless a planted bug says otherwise.
    ReadRecord {
        /// A linearizable read.
        linearizable: bool,
    },
    /// Poll a node (answer: `Status`).
    PollNode {
        /// The node's address.
        addr: String,
    },
    /// Write the record if the epoch still holds (answer: `Published`).
    Publish {
        /// The epoch guarding the write.
        epoch: Epoch,
        /// The record.
        record: GroupRecord,
    },
    /// `REPLICAOF NO ONE` under `epoch` (answer: `Promoted`).
    Promote {
        /// The node's address.
        addr: String,
        /// The epoch fencing the command.
        epoch: Epoch,
    },
    /// `REPLICAOF primary` under `epoch` (answer: `Repointed`).
    Repoint {
        /// The node's address.
        addr: String,
        /// The primary's address.
        primary: String,
        /// The epoch fencing the command.
        epoch: Epoch,
    },
    /// `FAILOVER TO target TIMEOUT` on the primary under `epoch` (answer:
    /// `SwitchedOver`).
    Switchover {
        /// The current primary's address.
        primary: String,
        /// The target replica's address.
        target: String,
        /// Timeout.
        timeout_ms: Millis,
        /// The epoch fencing the command.
        epoch: Epoch,
    },
    /// Read the leader's heartbeat (answer: `Heartbeat`).
    ReadHeartbeat {
        /// The leader as last seen.
        leader: Leader,
    },
    /// Depose the leader, silent since heartbeat revision `revision`
    /// (answer: `Deposed`).
    Depose {
        /// The leader as last seen.
        leader: Leader,
        /// The heartbeat revision it has been silent since.
        revision: i64,
    },
    /// Sleep until the next check (answer: `Tick`).
    Wait {
        /// When.
        until: Millis,
    },
    /// Leave the election (answer: `Resigned`).
    Resign {
        /// The entry to remove.
        candidacy: Candidacy,
    },
}

impl Output {
    /// Whether this output changes something outside the instance: a group
    /// record write, a Redis command (promote, repoint, switchover), a
    /// resignation or the deposition of a silent leader. Polls, reads and waits are not decisions. `arbiter
    /// replay` lists these, and scenario tests assert them.
    pub fn is_decision(&self) -> bool {
        matches!(
            self,
            Self::Publish { .. }
                | Self::Promote { .. }
                | Self::Repoint { .. }
                | Self::Switchover { .. }
                | Self::Resign { .. }
                | Self::Depose { .. }
        )
    }
}
