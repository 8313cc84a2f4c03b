//! Long-lived knowledge the states share: the [`Context`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Blocked, NodeView, Planted, Watch};
use crate::types::{Candidacy, Epoch, GroupConfig, GroupRecord, Leader, Millis, NodeId};

/// Long-lived knowledge the states share.
///
/// Serializable, so that a [`Snapshot`](super::Snapshot) can carry it
/// (planted bugs are left out: a snapshot comes from a live run).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    /// The configuration in force.
    pub config: GroupConfig,
    /// This instance.
    pub instance: Option<NodeId>,
    /// The election entry, while it exists.
    pub candidacy: Option<Candidacy>,
    /// The epoch this instance leads under, while it leads.
    pub epoch: Option<Epoch>,
    /// The leader as last seen, when another instance leads.
    pub leader: Option<Leader>,
    /// The highest epoch ever acted under (S2: never decreases).
    pub highest_epoch: Epoch,
    /// The latest `Tick`'s time.
    pub now: Millis,
    /// The group record as last read or written.
    pub record: Option<GroupRecord>,
    /// What each node looked like at the last poll, by name.
    pub views: BTreeMap<String, NodeView>,
    /// When each node last answered this instance's polls, and since when
    /// it has not, whether it led or followed: a follower polls too, so
    /// that it takes over with down-after already running (issue 19).
    #[serde(default)]
    pub watch: BTreeMap<String, Watch>,
    /// A follower's watch on the leader while a primary is down: the
    /// leader, its heartbeat revision and the round this instance first
    /// saw that revision (on its own clock).
    #[serde(default)]
    pub silence: Option<(Leader, i64, Millis)>,
    /// A requested switchover target, until carried out or refused.
    pub switchover: Option<String>,
    /// When the pending switchover was requested: a request that cannot be
    /// carried out within `failover_timeout_ms` is dropped (L4).
    pub switchover_at: Millis,
    /// A `FAILOVER TO` Redis accepted, as (old primary, target, deadline,
    /// the old primary's run id when it was accepted):
    /// Redis hands over asynchronously (writes paused, the target catches
    /// up, then the roles swap), so until the target reports primary or the
    /// deadline passes (Redis then aborts and the old primary goes on) the
    /// group is in flight and the leader does not act on it.
    pub handover: Option<(String, String, Millis, String)>,
    /// Why the leader is not acting although the group needs it.
    pub blocked: Option<Blocked>,
    /// A record write failed without saying whether etcd applied it (the
    /// reply may have been lost): re-read before deciding anything.
    pub record_unknown: bool,
    /// Planted bugs switched on (none, and no room for any, without the
    /// `planted-bugs` feature). Not serialized.
    #[serde(skip)]
    pub planted: Planted,
}

impl Context {
    /// Knowledge of a machine that has seen nothing but `config`.
    pub fn new(config: GroupConfig) -> Self {
        Self {
            config,
            instance: None,
            candidacy: None,
            epoch: None,
            leader: None,
            highest_epoch: Epoch(0),
            now: 0,
            record: None,
            views: BTreeMap::new(),
            watch: BTreeMap::new(),
            silence: None,
            switchover: None,
            switchover_at: 0,
            handover: None,
            blocked: None,
            record_unknown: false,
            planted: Planted::default(),
        }
    }
}
