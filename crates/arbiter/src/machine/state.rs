//! Where the machine is: the [`State`] vocabulary.

use serde::{Deserialize, Serialize};

use super::{Input, Plan};
use crate::types::{Epoch, Leader};

/// Where the machine is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    /// Created, not started.
    Init,
    /// Waiting for its instance id.
    Identifying,
    /// Startup check: no node may run in cluster mode (`next` is being asked).
    CheckingNodes {
        /// Index of the node asked.
        next: usize,
    },
    /// Joining the election.
    Campaigning,
    /// Asking who leads.
    FindingLeader,
    /// Idle without an election entry; retries on the next tick.
    Candidate,
    /// Idle, another instance leads (or nobody, for now).
    Following {
        /// The leader, when known.
        leader: Option<Leader>,
    },
    /// Idle, leading under `epoch`.
    Leading {
        /// The leader entry's create revision.
        epoch: Epoch,
    },
    /// Asking for election news (and keeping the lease alive).
    CheckingElection,
    /// Asking for configuration changes.
    CheckingConfig,
    /// Leader: asking for operator requests.
    CheckingRequests,
    /// New leader: reading the group record.
    LoadingRecord,
    /// Leader: polling node `next`.
    Polling {
        /// Index of the node polled.
        next: usize,
    },
    /// Leader: writing the record under the epoch before acting.
    Publishing {
        /// What will be done once the write succeeds.
        plan: Plan,
    },
    /// Leader: promoting a replica.
    Promoting {
        /// The plan being carried out.
        plan: Plan,
    },
    /// Leader: repointing node `next` of `nodes` to `to`.
    Repointing {
        /// Nodes to repoint.
        nodes: Vec<String>,
        /// Index of the node being repointed.
        next: usize,
        /// The node they are to follow: the primary, or for a
        /// [`Plan::Shelter`] the node holding the most data.
        to: String,
    },
    /// Leader: detaching node `next` of `nodes` (`REPLICAOF NO ONE`) from
    /// a primary that lost its data ([`Plan::Detach`]).
    Detaching {
        /// Nodes to detach.
        nodes: Vec<String>,
        /// Index of the node being detached.
        next: usize,
    },
    /// Leader: `FAILOVER TO` sent to the primary.
    SwitchingOver {
        /// The plan being carried out.
        plan: Plan,
    },
    /// Follower, a primary down: reading the leader's heartbeat, to
    /// depose a leader that stopped (issue 19).
    CheckingLeader,
    /// Follower: deposing a silent leader (a guarded delete of its entry).
    Deposing,
    /// Leaving the election before stopping.
    Resigning,
    /// Stopped for good.
    Stopped,
    /// Refused to start: the group is not one arbiter can manage.
    Refused {
        /// Why, for the operator.
        reason: String,
    },
    /// An input arrived that the current state cannot take: a bug.
    Failure {
        /// The state it arrived in.
        state: Box<Self>,
        /// The input.
        input: Box<Input>,
    },
}

impl State {
    /// The variant's name, as in [`TRANSITIONS`](super::TRANSITIONS) and `MACHINE.md`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Init => "Init",
            Self::Identifying => "Identifying",
            Self::CheckingNodes { .. } => "CheckingNodes",
            Self::Campaigning => "Campaigning",
            Self::FindingLeader => "FindingLeader",
            Self::Candidate => "Candidate",
            Self::Following { .. } => "Following",
            Self::Leading { .. } => "Leading",
            Self::CheckingElection => "CheckingElection",
            Self::CheckingConfig => "CheckingConfig",
            Self::CheckingRequests => "CheckingRequests",
            Self::LoadingRecord => "LoadingRecord",
            Self::Polling { .. } => "Polling",
            Self::Publishing { .. } => "Publishing",
            Self::Promoting { .. } => "Promoting",
            Self::Repointing { .. } => "Repointing",
            Self::Detaching { .. } => "Detaching",
            Self::SwitchingOver { .. } => "SwitchingOver",
            Self::CheckingLeader => "CheckingLeader",
            Self::Deposing => "Deposing",
            Self::Resigning => "Resigning",
            Self::Stopped => "Stopped",
            Self::Refused { .. } => "Refused",
            Self::Failure { .. } => "Failure",
        }
    }
}
