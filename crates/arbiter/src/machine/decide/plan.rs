//! The plans the leader carries out ([`Plan`]), the record each one
//! publishes first, and why the leader may be blocked ([`Blocked`]).

use std::collections::BTreeMap;

use crate::machine::NodeView;
use crate::types::Epoch;
use crate::types::GroupRecord;

/// An action the leader takes; every one starts with a guarded write of the
/// group record, which is also the leadership re-check before acting.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Plan {
    /// No record yet: record the node that reports itself primary.
    Bootstrap {
        /// The primary found.
        primary: String,
    },
    /// Reality moved on (a switchover completed without us): record it.
    Adopt {
        /// The node that is primary now.
        primary: String,
    },
    /// The primary failed: record and promote `to`, repoint the rest.
    Failover {
        /// The failed primary (empty on a cold start with no primary).
        from: String,
        /// The replica to promote.
        to: String,
    },
    /// The record names a primary that is still a replica: promote it.
    Promote {
        /// The node to promote.
        node: String,
    },
    /// Nodes that do not follow the primary: repoint them.
    Repoint {
        /// The nodes to repoint, in name order.
        nodes: Vec<String>,
    },
    /// The recorded primary lost its data and no replica may be promoted
    /// (S5): point its replicas at `to`, the node known to hold the most
    /// data, so that they keep theirs instead of resyncing from the empty
    /// node (S7). The record does not change.
    Shelter {
        /// The replicas of the empty primary, in name order.
        nodes: Vec<String>,
        /// The node holding the most data.
        to: String,
    },
    /// `nodes` replicate from `from`, which lost data, and would resync
    /// what they hold away: stop them replicating (`REPLICAOF NO ONE`), so
    /// that each keeps its data (S7). No new record. Used when `from` is
    /// the recorded primary and the node holding the most data left
    /// follows it but may not be promoted (priority 0: the leader then
    /// waits for an operator, [`Blocked::LastCopyNotPromotable`]), and when
    /// `from` claims primary against the record on another replication
    /// history, holding less than they do, while the recorded primary was
    /// never seen serving (they cannot be repointed at it yet).
    Detach {
        /// The node they replicate from, which lost data.
        #[serde(default)]
        from: String,
        /// The nodes to detach, in name order.
        nodes: Vec<String>,
    },
    /// Planned switchover with `FAILOVER TO` on the current primary.
    Switchover {
        /// The current primary.
        from: String,
        /// The replica to hand over to.
        to: String,
    },
    /// Only record that `primary`, recorded, lost data
    /// ([`GroupRecord::lost_data`]), when nothing else is done this round
    /// (the leader waits, blocked or not): a leader taking over inherits
    /// the evidence. No command to any node.
    NoteLoss {
        /// The recorded primary.
        primary: String,
    },
    /// Only clear the record's loss mark on `primary`: every node answers
    /// and none holds more keys than it, so what it lost is gone from
    /// every copy and its data is the most there is ([`loss_settled`](super::loss_settled)).
    /// No command to any node.
    SettleLoss {
        /// The recorded primary.
        primary: String,
    },
}

impl Plan {
    /// The record to publish before acting: a plan that names a new
    /// primary records the run id it reports in `views` (so that a later
    /// leader can tell it restarted since); the others keep the current
    /// record's. `None` for a plan that keeps the recorded primary
    /// (`Repoint`, `Shelter`, `Detach`, `NoteLoss`, `SettleLoss`) without
    /// a `current` record: [`decide`](super::decide) never makes one.
    pub fn record(
        &self,
        epoch: Epoch,
        current: Option<&GroupRecord>,
        views: &BTreeMap<String, NodeView>,
    ) -> Option<GroupRecord> {
        let run_of = |name: &str| {
            views
                .get(name)
                .and_then(|v| v.status.as_ref())
                .map(|s| s.run_id.clone())
        };
        let kept = || current.and_then(|r| r.run_id.clone());
        let (primary, run_id) = match self {
            Self::Bootstrap { primary } | Self::Adopt { primary } => (primary.clone(), run_of(primary)),
            Self::Failover { to, .. } => (to.clone(), run_of(to)),
            Self::Promote { node } => (node.clone(), run_of(node)),
            // The record changes only after FAILOVER TO succeeded.
            Self::Switchover { from, .. } => (from.clone(), kept()),
            Self::Repoint { .. }
            | Self::Shelter { .. }
            | Self::Detach { .. }
            | Self::NoteLoss { .. }
            | Self::SettleLoss { .. } => (current?.primary.clone(), kept()),
        };
        // The loss mark stays with the node while it stays recorded, until
        // the loss is settled.
        let same = current.is_some_and(|r| r.primary == primary);
        let settled = matches!(self, Self::SettleLoss { .. });
        let lost_data = same
            && !settled
            && (current.is_some_and(|r| r.lost_data) || views.get(&primary).is_some_and(|v| v.lost_data));
        Some(GroupRecord {
            epoch,
            primary,
            run_id,
            lost_data,
        })
    }
}

/// Why the leader did nothing although something is wrong.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Blocked {
    /// The primary is down and no replica is eligible (S5); set
    /// `allow_data_loss` to promote the best reachable one anyway.
    NoEligibleReplica {
        /// The failed primary.
        primary: String,
    },
    /// No record and no node (or several) claims to be primary.
    ColdStart,
    /// No record, and the one node claiming primary holds fewer keys than
    /// `node`, on another replication history: recording it would resync
    /// `node`'s data away. An operator starts the right primary (or sets
    /// `allow_data_loss` to record the claimant anyway).
    ColdStartBehind {
        /// The node claiming primary.
        primary: String,
        /// A node holding more keys.
        node: String,
    },
    /// No group record, and the only node claiming primary restarted
    /// holding fewer keys than this instance saw it hold before: it
    /// reloaded an older dataset, and its replicas (silent now, or gone)
    /// took the rest from it; recording it would resync their data away
    /// once they answer. An operator brings them back or starts the right
    /// primary (or sets `allow_data_loss` to record the claimant anyway).
    ColdStartReloaded {
        /// The node claiming primary.
        primary: String,
        /// The keys it held before the restart.
        held: u64,
        /// The keys it holds now.
        holds: u64,
    },
    /// No group record, and the only node claiming primary holds no keys
    /// while data exists or may exist elsewhere (a node refusing arbiter's
    /// password or not answering, see `reason`): recording it would resync
    /// that data away. An operator starts the right primary (or sets
    /// `allow_data_loss` to record the claimant anyway).
    ColdStartEmpty {
        /// The node claiming primary.
        primary: String,
        /// Why its emptiness matters, naming the node concerned.
        reason: String,
    },
    /// The recorded primary is a replica of `source`, which lost data (it
    /// restarted holding fewer keys than before, or the recorded primary
    /// resynced from it to fewer keys), and no node answering holds more
    /// than `source`: adopting `source` as the primary of a finished
    /// switchover would resync away the data a node that does not answer
    /// may hold. The leader waits for it (or for `source` to hold as many
    /// keys again); an operator may make the right node primary.
    FollowsLostData {
        /// The recorded primary (a replica of `source`).
        primary: String,
        /// The node that lost data.
        source: String,
    },
    /// The recorded primary lost its data, and the node holding the most
    /// data left still follows it (and will resync from it), but its
    /// priority is 0: an operator must raise it (or promote it by hand).
    LastCopyNotPromotable {
        /// The primary that lost its data.
        primary: String,
        /// The node holding the last copy.
        node: String,
    },
}
