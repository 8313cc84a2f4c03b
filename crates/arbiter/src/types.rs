//! The values the machine and its world exchange. All are serde types: they
//! are what scenario files record.

use serde::{Deserialize, Serialize};

/// Milliseconds on the world's clock.
pub type Millis = u64;

/// An arbiter instance's identity in the election.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub String);

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One Redis node of the group, as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedisNode {
    /// Short name used in records and logs (`r1`).
    pub name: String,
    /// `host:port`.
    pub addr: String,
    /// Promotion priority as in Sentinel: lower is preferred, 0 never.
    pub priority: u32,
}

/// Timing and policy settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// How often the machine looks at the world.
    pub check_interval_ms: Millis,
    /// How often the leader looks while the recorded primary does not
    /// answer or just lost its data: a primary restarted empty must be
    /// seen before its replicas reconnect (they retry about once a
    /// second) and resync from it. Capped by `check_interval_ms`.
    #[serde(default = "Settings::default_fast_check_interval_ms")]
    pub fast_check_interval_ms: Millis,
    /// How long the primary must be unreachable before it is failed over,
    /// counted from its last answer (as Sentinel counts from its last
    /// valid reply).
    pub down_after_ms: Millis,
    /// A replica further behind the best known offset is not promoted.
    pub max_lag_bytes: u64,
    /// A replica whose link to the primary has been down longer is stale.
    pub stale_after_ms: Millis,
    /// `FAILOVER TO ... TIMEOUT` for switchovers.
    pub failover_timeout_ms: Millis,
    /// Promote the best reachable replica even when none is eligible
    /// (accepting data loss). Off unless an operator sets it.
    pub allow_data_loss: bool,
    /// Maintenance: observe, never act.
    pub paused: bool,
}

impl Settings {
    fn default_fast_check_interval_ms() -> Millis {
        100
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            check_interval_ms: 1000,
            fast_check_interval_ms: Self::default_fast_check_interval_ms(),
            down_after_ms: 3000,
            max_lag_bytes: 1 << 20,
            stale_after_ms: 10_000,
            failover_timeout_ms: 5000,
            allow_data_loss: false,
            paused: false,
        }
    }
}

/// What the machine is configured with (reloadable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupConfig {
    /// The Redis nodes.
    pub nodes: Vec<RedisNode>,
    /// Timing and policy.
    pub settings: Settings,
}

impl GroupConfig {
    /// The node named `name`.
    pub fn node(&self, name: &str) -> Option<&RedisNode> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

/// A node's replication role as `ROLE` / `INFO replication` report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Role {
    /// Accepts writes.
    Primary,
    /// Replicates from `primary` (`host:port`).
    Replica {
        /// The address it replicates from.
        primary: String,
        /// `master_link_status:up`.
        link_up: bool,
        /// `master_link_down_since_seconds`, in ms, when the link is down.
        link_down_ms: Option<Millis>,
    },
}

/// One node's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// Role.
    pub role: Role,
    /// `run_id` (changes on every restart).
    pub run_id: String,
    /// `master_replid`.
    pub replid: String,
    /// `master_replid2`: the history this node's continues (the replid it
    /// had, or followed, before its promotion, or the one saved in the RDB
    /// file it reloaded); `None` when Redis reports 000... (no such
    /// history) and in recordings made before it was reported. An old
    /// primary that ran on in a split brain still reports the replid its
    /// successor's `replid2` names; a copy reloaded from disk does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replid2: Option<String>,
    /// Replication offset.
    pub offset: u64,
    /// The dataset's size: keys in every database (`INFO keyspace`), when
    /// the world reports it. A restart that reloaded an AOF or RDB file
    /// comes back with a new run id and replication id and, for AOF, offset
    /// 0, but with its keys: this tells it apart from an empty restart.
    /// `None` in recordings made before it was reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<u64>,
    /// Seconds since the process started (`INFO server`
    /// `uptime_in_seconds`, whole seconds as Redis counts them): tells a
    /// leader that never saw the node before whether it restarted while
    /// the leader could not reach it (a copy reloaded from disk) or was
    /// running all along (a partition healed). `None` in recordings made
    /// before it was reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_s: Option<u64>,
}

/// Why a Redis call failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum RedisError {
    /// No connection.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// No answer in time.
    #[error("timed out")]
    Timeout,
    /// The node refused the command.
    #[error("refused: {0}")]
    Refused(String),
    /// The node answered but refused the credentials (`NOAUTH`,
    /// `WRONGPASS`, `invalid password`): it is up, arbiter cannot observe
    /// it. Not a sign that the node is down.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// A command under a newer epoch already reached this node: the sender
    /// no longer leads (the node-side fence of S1).
    #[error("fenced: epoch {seen} already reached this node")]
    Fenced {
        /// The newest epoch the node has seen.
        seen: Epoch,
    },
}

/// This instance's entry in the election.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidacy {
    /// The instance.
    pub instance: NodeId,
    /// The etcd lease keeping the entry alive.
    pub lease: i64,
    /// The entry's create revision (the epoch if it leads).
    pub revision: i64,
}

/// A leader's term: the create revision of its election key in etcd. It
/// grows with each new leader, every etcd write a leader makes is guarded
/// by it, and every Redis command it sends is fenced by it (a node refuses
/// an epoch older than the newest that reached it).
///
/// Written as a bare number everywhere: scenario files, the group record's
/// JSON, logs, and `Debug` output.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Epoch(pub i64);

impl Epoch {
    /// The number, for logs and arithmetic.
    pub fn get(self) -> i64 {
        self.0
    }
}

impl std::fmt::Debug for Epoch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

impl std::fmt::Display for Epoch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.0, f)
    }
}

/// The current leader: the entry with the lowest create revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leader {
    /// The leading instance.
    pub instance: NodeId,
    /// Its entry's create revision.
    pub epoch: Epoch,
}

/// Why an election call failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ElectionError {
    /// etcd cannot be reached or has no quorum.
    #[error("etcd unavailable: {0}")]
    Unavailable(String),
    /// The lease has expired.
    #[error("lease expired")]
    LeaseExpired,
}

/// What changed in the election since the last check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ElectionEvent {
    /// Our lease expired or was revoked: stop acting at once.
    LeaseLost,
    /// The leader is now this one (or nobody).
    LeaderChanged(Option<Leader>),
    /// Our election entry is gone while the lease lives: a follower
    /// deposed this instance as a silent leader (its heartbeat stopped
    /// while the primary was down). Stop acting at once and join again.
    EntryLost,
}

/// The leader's heartbeat: the key it rewrites at the start of every
/// check and before every Redis command it sends, so that followers can
/// tell a leader that stopped (killed, paused, cut off) long before its
/// lease runs out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The key's mod revision: it moves with every beat.
    pub revision: i64,
    /// The longest the leader says it may go between two beats while it
    /// runs: a check interval plus every node's poll timeout.
    pub within_ms: Millis,
}

/// Operator requests and cluster news, pulled by the leader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClusterEvent {
    /// Planned switchover to the named replica (`FAILOVER TO`).
    SwitchoverRequested {
        /// The replica to promote.
        target: String,
    },
}

/// The group's topology as the leader records it in etcd, written only
/// under the leader's epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    /// Epoch of the leader that wrote it.
    pub epoch: Epoch,
    /// The node that is (or is being made) primary.
    pub primary: String,
    /// The run id that node reported when it was recorded as primary
    /// (`None` in records written before it was kept). A leader that finds
    /// another run there knows the node restarted since, even if it never
    /// saw it before, and judges its data against the other nodes' (a
    /// restart without its data while every instance was away, issue 22).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The recorded primary lost data (it came back empty, or a copy
    /// holding what its history lacks was found), as the leader that
    /// wrote the record knew: a leader taking over inherits the mark
    /// instead of starting without the evidence (seed 20071: a successor
    /// repointed the last copy, detached to keep it, at the node that had
    /// lost the data). Absent (false) in records written before it was
    /// kept.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lost_data: bool,
}

/// Why `sleep_until` returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Wake {
    /// The deadline passed; the time now.
    Tick(Millis),
    /// The process was asked to stop (SIGINT/SIGTERM); the time now.
    Shutdown(Millis),
}

/// Realistic bugs that can be planted in the machine to prove the
/// simulation finds them. They only take effect when the crate is built
/// with the `planted-bugs` feature; each is switched on per machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Bug {
    /// Write the record without the epoch guard and send Redis commands
    /// without the epoch fence (S1).
    SkipFencing,
    /// Promote the replica with the lowest offset instead of the highest (S5).
    PromoteMostLagging,
    /// Never repoint a node that claims to be primary: a returning old
    /// primary stays one (L2, or S4 while it stays writable).
    ForgetOldPrimary,
    /// Load the record with a serializable (possibly stale) read (L2, S4,
    /// S5 or S1, whichever the stale record breaks first).
    TrustStaleRead,
    /// Fail over as soon as the primary misses one poll (L3).
    NoDebounce,
    /// Ignore a primary that restarted empty (S7).
    ResyncFromEmpty,
}

impl Bug {
    /// Every planted bug.
    pub const ALL: [Self; 6] = [
        Self::SkipFencing,
        Self::PromoteMostLagging,
        Self::ForgetOldPrimary,
        Self::TrustStaleRead,
        Self::NoDebounce,
        Self::ResyncFromEmpty,
    ];
}
