//! The world traits: every source of non-determinism the controller
//! touches, in the seed's vocabulary. `#[rehearse::world]` makes each of
//! them recordable (`Recorder<W>`), replayable (`Replayer`) and faultable
//! (`Faulty<W>`).

use crate::types::{
    Candidacy, ClusterEvent, ElectionError, ElectionEvent, Epoch, GroupConfig, GroupRecord, Heartbeat, Leader, Millis,
    NodeId, NodeStatus, RedisError, Wake,
};

/// The process's own surroundings: identity, time, configuration.
#[rehearse::world]
pub trait Host {
    /// A fresh instance id.
    fn gen_node_id(&self, prefix: Option<String>) -> NodeId;
    /// Milliseconds on the world's clock.
    fn now(&self) -> Millis;
    /// Sleeps until `deadline` (returns at once when it has passed), or
    /// until the process is asked to stop.
    fn sleep_until(&mut self, deadline: Millis) -> Wake;
    /// The configuration: on the first call the one to start with, later
    /// only when it changed (polled, so the core decides when to look).
    fn check_config(&mut self) -> Option<GroupConfig>;
}

/// The Redis nodes.
#[rehearse::world]
pub trait Cluster {
    /// Whether the node at `addr` runs in cluster mode (refused).
    fn is_cluster_enabled(&self, addr: &str) -> Result<bool, RedisError>;
    /// Role, run id, replication id and offset (`ROLE`, `INFO`).
    fn node_status(&self, addr: &str) -> Result<NodeStatus, RedisError>;
    /// `REPLICAOF NO ONE`, fenced by `epoch`: refused with
    /// [`RedisError::Fenced`] when a newer epoch already reached the node.
    fn promote(&mut self, addr: &str, epoch: Epoch) -> Result<(), RedisError>;
    /// `REPLICAOF host port`, fenced by `epoch` like [`Cluster::promote`].
    fn repoint(&mut self, addr: &str, primary: &str, epoch: Epoch) -> Result<(), RedisError>;
    /// `FAILOVER TO host port TIMEOUT ms`, sent to the current primary,
    /// fenced by `epoch` like [`Cluster::promote`].
    fn failover(&mut self, primary: &str, target: &str, timeout_ms: Millis, epoch: Epoch) -> Result<(), RedisError>;
    /// Operator requests and cluster news since the last check.
    fn check_cluster_notifications(&mut self) -> Option<ClusterEvent>;
}

/// The coordination service (etcd): election and the group record.
#[rehearse::world]
pub trait Election {
    /// Joins the election: a lease and an entry under the prefix.
    fn create_node(&mut self, node: NodeId) -> Result<Candidacy, ElectionError>;
    /// The current leader (linearizable read).
    fn leader(&self) -> Result<Option<Leader>, ElectionError>;
    /// Keeps the lease alive and reports what changed in the election.
    fn check_election_notification(&mut self) -> Option<ElectionEvent>;
    /// The group record: a linearizable read, or with `linearizable`
    /// false a serializable one that a lagging member may answer from old
    /// data.
    fn read_record(&self, linearizable: bool) -> Result<Option<GroupRecord>, ElectionError>;
    /// Writes the record if the leader entry's create revision still equals
    /// `epoch` (a guarded transaction); `Ok(false)` when the guard failed.
    fn publish(&mut self, epoch: Epoch, record: &GroupRecord) -> Result<bool, ElectionError>;
    /// Leaves the election (revokes the lease).
    fn resign(&mut self, candidacy: &Candidacy) -> Result<(), ElectionError>;
    /// `leader`'s heartbeat (a linearizable read), `None` when it has
    /// none (it has not beaten yet, or runs a version that does not).
    fn leader_heartbeat(&self, leader: &Leader) -> Result<Option<Heartbeat>, ElectionError>;
    /// Deposes `leader`, silent since its heartbeat's revision `heartbeat`:
    /// deletes its election entry (and heartbeat) in a transaction guarded
    /// by both (the entry still has create revision `leader.epoch`, the
    /// heartbeat still has mod revision `heartbeat`); `Ok(false)` when a
    /// guard failed (it beat since, or the leader changed).
    fn depose(&mut self, leader: &Leader, heartbeat: i64) -> Result<bool, ElectionError>;
}

/// Everything the controller needs from the world.
pub trait World: Host + Cluster + Election {}

impl<W: Host + Cluster + Election> World for W {}
