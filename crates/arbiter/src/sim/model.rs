//! A deterministic model of the outside world: Redis nodes, an etcd, the
//! network between everything, and a client writing through it.
//!
//! Redis, as 7.0 behaves: each node holds a log of write ids (its dataset:
//! every write sets its own key, so the key count is the log's length; its
//! replication offset is the log's length less `repl_base`). A replica on
//! the same replication history (same replid, or the primary's replid2)
//! whose log is a prefix of its primary's continues partially; otherwise it
//! does a full resync, which replaces its log (and offset) with the
//! primary's (so a replica that resyncs from a primary restarted empty
//! loses everything) and clears its replid2. `min-replicas-to-write`
//! refuses writes without enough linked replicas. `FAILOVER TO` is refused
//! while the target's initial sync runs.
//!
//! Each node has a persistence mode ([`Persistence`]), and a restart comes
//! back as a primary (the command line has no `replicaof`) reporting what
//! redis-server 7.0 reports after it (measured, and held against the real
//! server by `tests/live_conformance.rs`):
//! - off: a new run id and replid, replid2 none, offset 0, no keys;
//! - AOF: a new run id and replid, replid2 none, offset 0, every key
//!   loaded (the model fsyncs every write: `appendfsync always`);
//! - RDB: a new run id, a new replid whose replid2 is the replid saved in
//!   the snapshot, the snapshot's offset and keys. A clean shutdown saves
//!   first; a kill loads the last snapshot, taken every
//!   [`RDB_SAVE_INTERVAL_MS`] when something changed (`save 10 1`).
//!
//! etcd, as 3.4 behaves: a revision counter, keys with create revisions,
//! leases with a TTL that delete their keys when they expire, guarded
//! transactions, and quorum loss (every call fails).

use std::collections::{BTreeMap, BTreeSet};

use crate::types::{GroupRecord, Leader, Millis, NodeId, NodeStatus, RedisError, Role};

/// Lease TTL the simulated instances get.
pub const LEASE_TTL_MS: Millis = 5000;

/// How long a full resync takes.
pub const FULL_SYNC_MS: Millis = 300;

/// How long an accepted `FAILOVER TO` takes to hand over (writes paused on
/// the primary, the target catching up, the roles swapped): Redis answers
/// at once and does this afterwards.
pub const HANDOVER_MS: Millis = 150;

/// How often a replica with a broken link tries to reconnect.
pub const RECONNECT_INTERVAL_MS: Millis = 1000;

/// How far behind a lagging etcd member answers serializable reads.
pub const STALE_READ_LAG_MS: Millis = 10_000;

/// How often an RDB node snapshots its dataset when it changed.
pub const RDB_SAVE_INTERVAL_MS: Millis = 10_000;

/// How a Redis node persists its dataset (chosen per node per seed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Persistence {
    /// `--save "" --appendonly no`: a restart comes back empty.
    Off,
    /// `--save ...`: a restart loads the last snapshot.
    Rdb,
    /// `--appendonly yes`: a restart loads every write.
    Aof,
}

impl Persistence {
    /// Every mode, in the order seeds draw them.
    pub const ALL: [Self; 3] = [Self::Off, Self::Rdb, Self::Aof];

    /// `off`, `rdb`, `aof`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Rdb => "rdb",
            Self::Aof => "aof",
        }
    }
}

/// How a node goes down before a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    /// Its data directory is gone (or persistence was off): back empty
    /// whatever the mode.
    Empty,
    /// `SHUTDOWN`: an RDB node saves a snapshot first.
    Shutdown,
    /// `SIGKILL` (host loss, OOM): an RDB node loads its last snapshot.
    Kill,
}

/// An RDB snapshot: the dataset and the replication position saved with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The dataset.
    pub log: Vec<u64>,
    /// `repl_base` at the save (the offset is the log length less it).
    pub repl_base: u64,
    /// The replid saved in the snapshot (`repl-id` aux field).
    pub replid: String,
    /// When it was taken.
    pub at: Millis,
}

/// Who talks: the directed edges of the network are between these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Endpoint {
    /// Arbiter instance `i`.
    Instance(usize),
    /// Redis node `i`.
    Node(usize),
    /// The etcd cluster.
    Etcd,
    /// The writing client.
    Client,
}

/// One Redis node.
#[derive(Debug, Clone)]
pub struct RedisModel {
    /// `r1`...
    pub name: String,
    /// `host:port`.
    pub addr: String,
    /// The process runs.
    pub up: bool,
    /// Paused (SIGSTOP) until then: up, but answers nothing.
    pub paused_until: Millis,
    /// Replicates from this address, or `None` when primary.
    pub replica_of: Option<String>,
    /// Changes on every restart.
    pub run_id: String,
    /// Replication id (a new one on promotion and restart).
    pub replid: String,
    /// The replication id before the last promotion (`master_replid2`):
    /// replicas of the old primary may continue partially from it.
    pub replid2: String,
    /// Write ids: the dataset (one key per write); the offset is the
    /// length less `repl_base`.
    pub log: Vec<u64>,
    /// The part of the log that is not counted in the replication offset
    /// (data loaded from an AOF at a restart, which starts the offset at 0).
    pub repl_base: u64,
    /// How this node persists its dataset.
    pub persistence: Persistence,
    /// The last RDB snapshot (RDB nodes only).
    pub snapshot: Option<Snapshot>,
    /// The node's password differs from the one arbiter and the replicas
    /// use (`requirepass` changed) until then: calls fail with
    /// `RedisError::Auth`, replicas cannot link to it.
    pub auth_broken_until: Millis,
    /// A full sync runs until then.
    pub syncing_until: Option<Millis>,
    /// The link to the primary is up.
    pub link_up: bool,
    /// Since when the link is down.
    pub link_down_since: Option<Millis>,
    /// A replica with a broken link tries to connect again only then
    /// (Redis retries from `replicationCron`, once a second).
    pub reconnect_at: Millis,
    /// The newest epoch of any reconfiguration applied (the S1 fence).
    pub fence: i64,
    /// Writes are refused with fewer linked replicas.
    pub min_replicas_to_write: usize,
    /// Restarts so far.
    pub incarnation: u32,
    /// When the running process started (its `uptime_in_seconds`).
    pub started_at: Millis,
}

/// One reconfiguration applied to a node (S1 checks the epochs' order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedCommand {
    /// Virtual time.
    pub at: Millis,
    /// The node.
    pub node: usize,
    /// Epoch it was issued under.
    pub epoch: i64,
    /// What it was.
    pub what: String,
}

/// The etcd model.
#[derive(Debug, Clone, Default)]
pub struct EtcdModel {
    /// The store's revision.
    pub revision: i64,
    /// Lease id -> expiry.
    pub leases: BTreeMap<i64, Millis>,
    next_lease: i64,
    /// Election entries: instance -> (create revision, lease).
    pub entries: BTreeMap<NodeId, (i64, i64)>,
    /// The group record.
    pub record: Option<GroupRecord>,
    /// Every record written, with when: what a lagging member may still
    /// answer a serializable read with.
    pub record_history: Vec<(Millis, GroupRecord)>,
    /// Quorum: when false every call fails.
    pub available: bool,
    /// When the leader (lowest create revision) last changed.
    pub leader_changed_at: Millis,
    last_leader: Option<Leader>,
}

impl EtcdModel {
    /// Drops expired leases and their entries.
    pub fn expire(&mut self, now: Millis) {
        let expired: Vec<i64> = self
            .leases
            .iter()
            .filter(|(_, e)| **e <= now)
            .map(|(l, _)| *l)
            .collect();
        for lease in expired {
            self.revoke(lease);
        }
        self.note_leader(now);
    }

    /// Remembers when the leader changes (a new leader needs a poll round
    /// before it can act).
    pub fn note_leader(&mut self, now: Millis) {
        let leader = self.leader();
        if leader != self.last_leader {
            self.last_leader = leader;
            self.leader_changed_at = now;
        }
    }

    /// Revokes a lease and its entries.
    pub fn revoke(&mut self, lease: i64) {
        if self.leases.remove(&lease).is_some() {
            self.revision += 1;
            self.entries.retain(|_, (_, l)| *l != lease);
        }
    }

    /// Grants a lease and creates the instance's entry.
    pub fn campaign(&mut self, now: Millis, instance: &NodeId) -> (i64, i64) {
        if let Some((_, old)) = self.entries.get(instance).copied() {
            self.revoke(old);
        }
        self.next_lease += 1;
        let lease = self.next_lease;
        self.leases.insert(lease, now + LEASE_TTL_MS);
        self.revision += 1;
        self.entries.insert(instance.clone(), (self.revision, lease));
        (lease, self.revision)
    }

    /// Renews a lease; false when it is gone.
    pub fn keepalive(&mut self, now: Millis, lease: i64) -> bool {
        match self.leases.get_mut(&lease) {
            Some(expiry) => {
                *expiry = now + LEASE_TTL_MS;
                true
            }
            None => false,
        }
    }

    /// The entry with the lowest create revision.
    pub fn leader(&self) -> Option<Leader> {
        self.entries
            .iter()
            .min_by_key(|(_, (rev, _))| *rev)
            .map(|(instance, (rev, _))| Leader {
                instance: instance.clone(),
                epoch: *rev,
            })
    }

    /// The guarded write: only when `instance`'s entry still has create
    /// revision `epoch`. A negative epoch writes without the guard (only
    /// the `SkipFencing` planted bug does that).
    pub fn publish(&mut self, now: Millis, instance: &NodeId, epoch: i64, record: &GroupRecord) -> bool {
        let guarded = match self.entries.get(instance) {
            Some((rev, _)) => *rev == epoch,
            None => false,
        };
        if guarded || epoch < 0 {
            self.revision += 1;
            self.record = Some(record.clone());
            self.record_history.push((now, record.clone()));
            return true;
        }
        false
    }

    /// A serializable read from a member lagging `lag_ms` behind.
    pub fn stale_record(&self, now: Millis, lag_ms: Millis) -> Option<GroupRecord> {
        let seen = now.saturating_sub(lag_ms);
        self.record_history
            .iter()
            .rev()
            .find(|(t, _)| *t <= seen)
            .map(|(_, r)| r.clone())
            .or_else(|| {
                if self.record_history.is_empty() {
                    self.record.clone()
                } else {
                    None
                }
            })
    }
}

/// Something that happened in the model, for the timeline and for tests
/// that look for the ten failures (`crates/arbiter/INVARIANTS.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Virtual time.
    pub at: Millis,
    /// What, in words (`kind: details`).
    pub what: String,
}

/// The client: writes to the node it believes is primary, re-resolving
/// only after an error (as a client with a stale view does).
#[derive(Debug, Clone, Default)]
pub struct ClientModel {
    /// The node it writes to.
    pub target: usize,
    /// Next write id.
    pub next_id: u64,
    /// Acknowledged write ids.
    pub acked: Vec<u64>,
    /// Writes refused or lost in flight.
    pub failed: u64,
    /// The node and recorded primary of the last write acknowledged by a
    /// node the record does not name (noted once per such episode).
    pub stale_ack: Option<(usize, String)>,
}

/// Everything outside the arbiter instances.
#[derive(Debug, Clone)]
pub struct Model {
    /// Virtual time of the last update.
    pub now: Millis,
    /// The Redis nodes.
    pub nodes: Vec<RedisModel>,
    /// etcd.
    pub etcd: EtcdModel,
    /// Directed edges that drop traffic.
    pub blocked: BTreeSet<(Endpoint, Endpoint)>,
    /// The client.
    pub client: ClientModel,
    /// The timeline.
    pub events: Vec<Event>,
    /// Reconfigurations applied, per node, in order.
    pub applied: Vec<AppliedCommand>,
    /// When each node last lost data, and how many writes it held before:
    /// a restart that came back with fewer writes (empty, or an old RDB
    /// snapshot), or a full resync from a node that had itself lost data.
    /// A full resync from a node that had not clears the entry (the node
    /// holds a sound history again).
    pub empty_restarts: BTreeMap<usize, (Millis, u64)>,
    /// Beside each entry of `empty_restarts`: the first write id issued
    /// after the loss. A replica that a resync from the node makes drop
    /// only later writes lost writes of its own history (a split brain),
    /// not the node's loss (S7).
    pub loss_marks: BTreeMap<usize, u64>,
    /// When an instance that could also reach etcd first polled a node
    /// after it lost data (S7 gives the controller a fair chance from
    /// then on).
    pub restart_observed: BTreeMap<usize, (Millis, usize)>,
    /// Full resyncs that replaced a replica's log with a shorter one (data
    /// dropped by a resync): (completed, started, replica, source, the
    /// oldest write id dropped).
    pub shrinking_resyncs: Vec<(Millis, Millis, usize, usize, u64)>,
    /// Promotions an instance made (S5: never an empty node while another
    /// reachable node holds data).
    pub promotions: Vec<Promotion>,
    /// Links that came up from a replica to a node claiming primary while
    /// the record named another: (when, replica, source). S6 checks them.
    pub stale_syncs: Vec<(Millis, usize, usize)>,
    /// When a leader (with etcd in reach) first got a reply showing node
    /// `i` claiming primary while the record names another, and which
    /// instance: S6 gives it a fair chance to demote the node from then on.
    pub stale_primary_observed: BTreeMap<usize, (Millis, usize)>,
    /// Pending operator switchover request.
    pub switchover_request: Option<String>,
    /// Armed by a fault: the next `FAILOVER TO` finds its target paused
    /// for this long (failure 10: a target paused mid-`FAILOVER`).
    pub pause_failover_target_ms: Option<Millis>,
    /// A `FAILOVER TO` Redis accepted and is still handing over, as (old
    /// primary, target, epoch, when the roles swap, when Redis gives up):
    /// the old primary takes no writes meanwhile and still reports primary,
    /// the target still reports its replica.
    pub handover: Option<(usize, usize, i64, Millis, Millis)>,
    /// When connectivity last came back (a partition healed, etcd returned,
    /// a node restarted or resumed): the controller needs a poll cycle to
    /// see the new situation.
    pub connectivity_changed: Millis,
    /// The configuration the instances load, and its version.
    pub config: crate::types::GroupConfig,
    /// Bumped on every configuration change.
    pub config_version: u64,
    /// Per arbiter instance: clock offset, pause, crash.
    pub instances: Vec<InstanceModel>,
}

/// One promotion applied by an instance, with what the nodes held then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Promotion {
    /// Virtual time.
    pub at: Millis,
    /// The promoted node.
    pub node: usize,
    /// The instance that promoted it.
    pub by: usize,
    /// Keys the promoted node held.
    pub keys: u64,
    /// The other nodes that answered the instance (both ways) and their
    /// keys.
    pub others: Vec<(usize, u64)>,
}

/// What the model knows of one arbiter instance's process.
#[derive(Debug, Clone, Default)]
pub struct InstanceModel {
    /// Added to virtual time on this instance's clock (jumps forward only:
    /// it is a monotonic clock, and a jump looks like a suspend).
    pub clock_offset_ms: Millis,
    /// Paused (SIGSTOP) until then.
    pub paused_until: Millis,
    /// Crashed: the process is gone until restarted.
    pub crashed: bool,
    /// Restarts so far.
    pub incarnation: u32,
    /// A configuration of this instance's own that differs from the
    /// group's (an operator edited one host only), and its version.
    pub config_override: Option<(crate::types::GroupConfig, u64)>,
}

/// The election id of incarnation `incarnation` of instance `index`
/// (`arbiter-1`, then `arbiter-1.1` after a restart), also its tape's name.
pub fn instance_id(index: usize, incarnation: u32) -> NodeId {
    if incarnation == 0 {
        NodeId(format!("arbiter-{}", index + 1))
    } else {
        NodeId(format!("arbiter-{}.{}", index + 1, incarnation))
    }
}

fn run_id(name: &str, incarnation: u32) -> String {
    format!("{name}-run{incarnation}")
}

impl Model {
    /// `n` nodes in sync: the first primary, the others its replicas.
    pub fn new(n: usize, min_replicas_to_write: usize) -> Self {
        Self::with_config(n, min_replicas_to_write, 0, crate::types::Settings::default())
    }

    /// Like [`Model::new`], with `instances` arbiter processes and settings.
    pub fn with_config(
        n: usize,
        min_replicas_to_write: usize,
        instances: usize,
        settings: crate::types::Settings,
    ) -> Self {
        let nodes = (0..n)
            .map(|i| {
                let name = format!("r{}", i + 1);
                RedisModel {
                    addr: format!("10.0.0.{}:6379", i + 1),
                    up: true,
                    paused_until: 0,
                    replica_of: (i > 0).then(|| "10.0.0.1:6379".to_string()),
                    run_id: run_id(&name, 0),
                    replid: "r1-repl0".into(),
                    replid2: String::new(),
                    log: Vec::new(),
                    repl_base: 0,
                    persistence: Persistence::Off,
                    snapshot: None,
                    auth_broken_until: 0,
                    syncing_until: None,
                    link_up: i > 0,
                    link_down_since: None,
                    reconnect_at: 0,
                    fence: 0,
                    min_replicas_to_write,
                    incarnation: 0,
                    started_at: 0,
                    name,
                }
            })
            .collect();
        Self {
            now: 0,
            nodes,
            etcd: EtcdModel {
                available: true,
                ..EtcdModel::default()
            },
            blocked: BTreeSet::new(),
            client: ClientModel::default(),
            events: Vec::new(),
            applied: Vec::new(),
            empty_restarts: BTreeMap::new(),
            loss_marks: BTreeMap::new(),
            restart_observed: BTreeMap::new(),
            shrinking_resyncs: Vec::new(),
            promotions: Vec::new(),
            stale_syncs: Vec::new(),
            stale_primary_observed: BTreeMap::new(),
            switchover_request: None,
            pause_failover_target_ms: None,
            handover: None,
            connectivity_changed: 0,
            config: crate::types::GroupConfig {
                nodes: (0..n)
                    .map(|i| crate::types::RedisNode {
                        name: format!("r{}", i + 1),
                        addr: format!("10.0.0.{}:6379", i + 1),
                        priority: 100,
                    })
                    .collect(),
                settings,
            },
            config_version: 0,
            instances: vec![InstanceModel::default(); instances],
        }
    }

    /// Notes an event on the timeline.
    pub fn note(&mut self, what: impl Into<String>) {
        let at = self.now;
        self.events.push(Event { at, what: what.into() });
    }

    /// Index of the node at `addr`.
    pub fn node_at(&self, addr: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.addr == addr)
    }

    /// Whether a message from `a` reaches `b`.
    pub fn reaches(&self, a: Endpoint, b: Endpoint) -> bool {
        !self.blocked.contains(&(a, b))
    }

    /// Whether node `i` answers at all right now.
    pub fn answering(&self, i: usize) -> bool {
        let n = &self.nodes[i];
        n.up && n.paused_until <= self.now
    }

    /// Whether node `i` refuses the password everyone uses now.
    pub fn auth_broken(&self, i: usize) -> bool {
        self.nodes[i].auth_broken_until > self.now
    }

    /// Node `i`'s replication offset (`master_repl_offset`).
    pub fn offset(&self, i: usize) -> u64 {
        let n = &self.nodes[i];
        (n.log.len() as u64).saturating_sub(n.repl_base)
    }

    /// Replicas of `primary` whose link is up.
    fn linked_replicas(&self, primary: usize) -> usize {
        let addr = &self.nodes[primary].addr;
        self.nodes
            .iter()
            .filter(|n| n.up && n.replica_of.as_deref() == Some(addr.as_str()) && n.link_up)
            .count()
    }

    /// Whether node `i` is a primary that accepts writes now.
    pub fn writable(&self, i: usize) -> bool {
        let n = &self.nodes[i];
        let handing_over = self.handover.is_some_and(|h| h.0 == i);
        self.answering(i)
            && n.replica_of.is_none()
            && !handing_over
            && self.linked_replicas(i) >= n.min_replicas_to_write
    }

    /// Moves the model to `now`: lease expiry and replication.
    pub fn advance(&mut self, now: Millis) {
        if now > self.now {
            // A node whose pause ended in between answers again.
            let resumed = self
                .nodes
                .iter()
                .map(|n| n.paused_until)
                .filter(|&t| t > self.now && t <= now)
                .max();
            if let Some(t) = resumed {
                self.connectivity_changed = self.connectivity_changed.max(t);
            }
            self.now = now;
        }
        self.etcd.expire(self.now);
        self.replicate();
        self.hand_over();
        self.save_snapshots();
    }

    /// RDB nodes snapshot their dataset every `RDB_SAVE_INTERVAL_MS`.
    fn save_snapshots(&mut self) {
        let now = self.now;
        for n in &mut self.nodes {
            if n.persistence != Persistence::Rdb || !n.up || n.paused_until > now {
                continue;
            }
            if n.snapshot.as_ref().is_none_or(|s| s.at + RDB_SAVE_INTERVAL_MS <= now) {
                n.snapshot = Some(Snapshot {
                    log: n.log.clone(),
                    repl_base: n.repl_base,
                    replid: n.replid.clone(),
                    at: now,
                });
            }
        }
    }

    /// Finishes (or gives up) a pending `FAILOVER` handover.
    fn hand_over(&mut self) {
        let Some((p, target, epoch, at, deadline)) = self.handover else {
            return;
        };
        if self.now < at {
            return;
        }
        let can = self.nodes[p].up
            && self.nodes[p].replica_of.is_none()
            && self.answering(target)
            && self.reaches(Endpoint::Node(p), Endpoint::Node(target))
            && self.reaches(Endpoint::Node(target), Endpoint::Node(p));
        if can {
            self.handover = None;
            self.swap(p, target, epoch);
        } else if self.now >= deadline || !self.nodes[p].up || self.nodes[p].replica_of.is_some() {
            self.handover = None;
            let what = format!(
                "switchover aborted: {} -> {} (not handed over by the timeout)",
                self.nodes[p].name, self.nodes[target].name
            );
            self.note(what);
        }
    }

    fn replicate(&mut self) {
        for r in 0..self.nodes.len() {
            if !self.answering(r) {
                continue;
            }
            let Some(source_addr) = self.nodes[r].replica_of.clone() else {
                continue;
            };
            let source = self.node_at(&source_addr);
            let connected = source.is_some_and(|p| {
                self.answering(p)
                    && !self.auth_broken(p)
                    && self.reaches(Endpoint::Node(r), Endpoint::Node(p))
                    && self.reaches(Endpoint::Node(p), Endpoint::Node(r))
            });
            let now = self.now;
            let Some(p) = source.filter(|_| connected) else {
                let n = &mut self.nodes[r];
                if n.link_up || n.syncing_until.is_some() {
                    n.link_up = false;
                    n.syncing_until = None;
                    n.link_down_since = Some(now);
                    n.reconnect_at = now + RECONNECT_INTERVAL_MS;
                }
                continue;
            };
            if !self.nodes[r].link_up && self.nodes[r].syncing_until.is_none() && now < self.nodes[r].reconnect_at {
                continue; // waits for its next connection attempt
            }
            // A replica of a replica syncs from what that one holds. PSYNC
            // continues only the same history: the same replication id (or
            // the primary's previous one) and a log that is a prefix.
            let (p_log_len, prefix) = {
                let (pn, rn) = (&self.nodes[p], &self.nodes[r]);
                let (pl, rl) = (&pn.log, &rn.log);
                let same_history = rn.replid == pn.replid || (!pn.replid2.is_empty() && rn.replid == pn.replid2);
                (
                    pl.len(),
                    same_history && rl.len() <= pl.len() && pl[..rl.len()] == rl[..],
                )
            };
            match self.nodes[r].syncing_until {
                Some(done) if done <= now => {
                    let log = self.nodes[p].log.clone();
                    let replid = self.nodes[p].replid.clone();
                    let repl_base = self.nodes[p].repl_base;
                    let before = self.nodes[r].log.len();
                    if log.len() < before {
                        let kept: std::collections::BTreeSet<u64> = log.iter().copied().collect();
                        let oldest = self.nodes[r]
                            .log
                            .iter()
                            .copied()
                            .filter(|id| !kept.contains(id))
                            .min()
                            .unwrap_or(u64::MAX);
                        self.shrinking_resyncs
                            .push((now, done.saturating_sub(FULL_SYNC_MS), r, p, oldest));
                    }
                    // Data lost by the source is lost by its replica too;
                    // a sound source gives the replica a sound history.
                    if self.empty_restarts.contains_key(&p) && log.len() < before {
                        self.empty_restarts.insert(r, (now, before as u64));
                        self.loss_marks.insert(r, self.client.next_id);
                        self.restart_observed.remove(&r);
                    } else if !self.empty_restarts.contains_key(&p) {
                        self.empty_restarts.remove(&r);
                        self.loss_marks.remove(&r);
                        self.restart_observed.remove(&r);
                    }
                    self.note_link_up(r, p);
                    let source = self.nodes[p].name.clone();
                    let n = &mut self.nodes[r];
                    n.log = log;
                    n.repl_base = repl_base;
                    n.replid = replid;
                    // As on a real server: a full sync leaves no second
                    // history to continue (replid2 none), so a replica of
                    // this node that followed its old history resyncs too.
                    n.replid2.clear();
                    n.syncing_until = None;
                    n.link_up = true;
                    n.link_down_since = None;
                    let what = format!("full resync: {} from {source} ({p_log_len} writes)", n.name);
                    self.note(what);
                }
                Some(_) => {}
                None if prefix => {
                    if !self.nodes[r].link_up {
                        self.note_link_up(r, p);
                    }
                    let tail: Vec<u64> = self.nodes[p].log[self.nodes[r].log.len()..].to_vec();
                    let replid = self.nodes[p].replid.clone();
                    let repl_base = self.nodes[p].repl_base;
                    let n = &mut self.nodes[r];
                    n.log.extend(tail);
                    // (one history numbers its offsets once)
                    n.repl_base = repl_base;
                    n.replid = replid;
                    n.link_up = true;
                    n.link_down_since = None;
                }
                None => {
                    // Diverged histories: a full resync, taking a while.
                    let n = &mut self.nodes[r];
                    n.syncing_until = Some(now + FULL_SYNC_MS);
                    n.link_up = false;
                    n.link_down_since.get_or_insert(now);
                }
            }
        }
    }

    /// Replica `r`'s link to `p` came up: an S6 case if `p` claims primary
    /// while the record names another node.
    fn note_link_up(&mut self, r: usize, p: usize) {
        let recorded = self.etcd.record.as_ref().map(|rec| rec.primary.as_str());
        if self.nodes[p].replica_of.is_none() && recorded.is_some_and(|name| name != self.nodes[p].name) {
            self.stale_syncs.push((self.now, r, p));
        }
    }

    /// Notes, after instance `i` stepped, what it now knows while leading
    /// with etcd in reach: nodes restarted empty (S7) and nodes claiming
    /// primary against the record (S6). The checks give the controller a
    /// fair chance from the moment a reply showing it reached the
    /// controller, not from when its request reached the node.
    pub fn note_observations(&mut self, i: usize, machine: &crate::machine::Machine) {
        for node in 0..self.nodes.len() {
            if self.nodes[node].replica_of.is_some() {
                self.stale_primary_observed.remove(&node);
            }
        }
        let id = instance_id(i, self.instances[i].incarnation);
        let me = Endpoint::Instance(i);
        let leads = self.etcd.leader().is_some_and(|l| l.instance == id)
            && self.etcd.available
            && self.reaches(me, Endpoint::Etcd)
            && self.reaches(Endpoint::Etcd, me);
        if !leads {
            return;
        }
        for (node, before) in self
            .empty_restarts
            .iter()
            .map(|(n, (_, b))| (*n, *b))
            .collect::<Vec<_>>()
        {
            if self.restart_observed.contains_key(&node) {
                continue;
            }
            let run_id = run_id(&self.nodes[node].name, self.nodes[node].incarnation);
            // A reply from after the loss: this run, holding less.
            let seen = machine
                .context()
                .views
                .get(&self.nodes[node].name)
                .and_then(|v| v.status.as_ref())
                .is_some_and(|s| s.run_id == run_id && s.keys.is_none_or(|k| k < before));
            if seen {
                self.restart_observed.insert(node, (self.now, i));
            }
        }
        let recorded = self.etcd.record.as_ref().map(|r| r.primary.clone());
        for node in 0..self.nodes.len() {
            let name = &self.nodes[node].name;
            let claims = machine
                .context()
                .views
                .get(name)
                .and_then(|v| v.status.as_ref())
                .is_some_and(|s| s.role == Role::Primary);
            let stale = recorded.as_ref().is_some_and(|r| r != name) && self.nodes[node].replica_of.is_none();
            if claims && stale {
                self.stale_primary_observed.entry(node).or_insert((self.now, i));
            }
        }
    }

    /// `ROLE`/`INFO` of node `i` as seen now.
    pub fn status(&self, i: usize) -> NodeStatus {
        let n = &self.nodes[i];
        NodeStatus {
            role: match &n.replica_of {
                None => Role::Primary,
                Some(p) => Role::Replica {
                    primary: p.clone(),
                    link_up: n.link_up,
                    link_down_ms: n.link_down_since.map(|s| self.now.saturating_sub(s)),
                },
            },
            run_id: n.run_id.clone(),
            replid: n.replid.clone(),
            replid2: (!n.replid2.is_empty()).then(|| n.replid2.clone()),
            offset: self.offset(i),
            keys: Some(n.log.len() as u64),
            // Whole seconds, truncated, as Redis reports them.
            uptime_s: Some(self.now.saturating_sub(n.started_at) / 1000),
        }
    }

    fn fence(&mut self, i: usize, epoch: i64, what: &str) -> Result<(), RedisError> {
        let seen = self.nodes[i].fence;
        // A negative epoch is a command sent without the fence (the
        // `SkipFencing` planted bug): applied unchecked, logged under its
        // real epoch so that S1 sees it.
        if epoch >= 0 {
            if epoch < seen {
                return Err(RedisError::Fenced { seen });
            }
            self.nodes[i].fence = epoch;
        }
        let epoch = epoch.abs();
        let at = self.now;
        self.applied.push(AppliedCommand {
            at,
            node: i,
            epoch,
            what: what.to_string(),
        });
        Ok(())
    }

    /// `REPLICAOF NO ONE` on node `i` under `epoch`.
    pub fn promote(&mut self, i: usize, epoch: i64) -> Result<(), RedisError> {
        self.fence(i, epoch, "promote")?;
        let n = &mut self.nodes[i];
        if n.replica_of.is_some() {
            n.replica_of = None;
            n.replid2 = std::mem::take(&mut n.replid);
            n.replid = format!("{}-repl{}", n.run_id, self.now);
            n.syncing_until = None;
            n.link_up = false;
            n.link_down_since = None;
            let what = format!(
                "promote: {} under epoch {epoch} (offset {}, {} keys)",
                n.name,
                (n.log.len() as u64).saturating_sub(n.repl_base),
                n.log.len()
            );
            self.note(what);
        }
        Ok(())
    }

    /// `REPLICAOF primary` on node `i` under `epoch`.
    pub fn repoint(&mut self, i: usize, primary: &str, epoch: i64) -> Result<(), RedisError> {
        self.fence(i, epoch, "repoint")?;
        if self.nodes[i].replica_of.as_deref() != Some(primary) {
            let n = &mut self.nodes[i];
            n.replica_of = Some(primary.to_string());
            n.link_up = false;
            n.syncing_until = None;
            n.link_down_since = Some(self.now);
            n.reconnect_at = self.now; // REPLICAOF connects at once
            let what = format!("repoint: {} to {primary} under epoch {epoch}", n.name);
            self.note(what);
        }
        Ok(())
    }

    /// `FAILOVER TO target` on the primary `p` under `epoch`: refused while
    /// the target syncs or does not follow `p`, rolled back when it does
    /// not answer; otherwise accepted at once, and `HANDOVER_MS` later `p`
    /// becomes a replica of the target and the target primary (the old
    /// primary stops accepting writes first, S8), or after `timeout_ms`
    /// Redis gives up and `p` takes writes again. Other replicas of `p`
    /// stay attached to it until repointed.
    pub fn failover(&mut self, p: usize, target: usize, epoch: i64, timeout_ms: Millis) -> Result<(), RedisError> {
        let follows = self.nodes[target].replica_of.as_deref() == Some(self.nodes[p].addr.as_str());
        if self.nodes[p].replica_of.is_some() || !follows {
            return Err(RedisError::Refused(
                "ERR FAILOVER target is not a replica of this primary".into(),
            ));
        }
        if !self.nodes[target].link_up || self.nodes[target].syncing_until.is_some() {
            return Err(RedisError::Refused(
                "ERR FAILOVER target replica is not online (initial sync)".into(),
            ));
        }
        self.fence(p, epoch, "failover")?;
        self.fence(target, epoch, "failover")?;
        if let Some(pause) = self.pause_failover_target_ms.take() {
            let until = self.now + pause;
            self.nodes[target].paused_until = until;
            let what = format!("pause: {} mid-FAILOVER until t={until}", self.nodes[target].name);
            self.note(what);
        }
        // The primary hands over only once the target has caught up; a
        // target it cannot reach (paused, crashed, cut off) never does, and
        // at the timeout Redis aborts: the old primary takes writes again.
        let reachable = self.answering(target)
            && self.reaches(Endpoint::Node(p), Endpoint::Node(target))
            && self.reaches(Endpoint::Node(target), Endpoint::Node(p));
        if !reachable {
            let what = format!(
                "switchover rolled back: {} -> {} (target not answering)",
                self.nodes[p].name, self.nodes[target].name
            );
            self.note(what);
            return Err(RedisError::Timeout);
        }
        // Accepted: Redis pauses writes on the primary, lets the target
        // catch up, then swaps the roles, asynchronously (`hand_over`).
        self.handover = Some((p, target, epoch, self.now + HANDOVER_MS, self.now + timeout_ms));
        let what = format!(
            "switchover started: {} -> {} under epoch {epoch}",
            self.nodes[p].name, self.nodes[target].name
        );
        self.note(what);
        Ok(())
    }

    /// The role swap of a finished handover.
    fn swap(&mut self, p: usize, target: usize, epoch: i64) {
        let tail: Vec<u64> = self.nodes[p].log[self.nodes[target].log.len().min(self.nodes[p].log.len())..].to_vec();
        let target_addr = self.nodes[target].addr.clone();
        let now = self.now;
        {
            let t = &mut self.nodes[target];
            t.log.extend(tail);
            t.replica_of = None;
            t.replid2 = std::mem::take(&mut t.replid);
            t.replid = format!("{}-repl{now}", t.run_id);
            t.link_up = false;
        }
        let o = &mut self.nodes[p];
        o.replica_of = Some(target_addr);
        o.link_up = true;
        o.link_down_since = None;
        let what = format!(
            "switchover: {} -> {} under epoch {epoch}",
            self.nodes[p].name, self.nodes[target].name
        );
        self.note(what);
    }

    /// Crash node `i` (it stays down until restarted).
    pub fn crash(&mut self, i: usize) {
        if self.nodes[i].up {
            self.nodes[i].up = false;
            let what = format!("crash: {}", self.nodes[i].name);
            self.note(what);
        }
    }

    /// Stop node `i` the way a later restart `how` expects: `SHUTDOWN`
    /// (an RDB node saves first) or a kill.
    pub fn stop(&mut self, i: usize, how: Restart) {
        if how == Restart::Shutdown {
            self.shutdown(i);
        } else {
            self.crash(i);
        }
    }

    /// Restart node `i` empty (persistence off, or its data directory
    /// lost): a primary with a new run id.
    pub fn restart_empty(&mut self, i: usize) {
        self.restart(i, Restart::Empty);
    }

    /// Stop node `i` (`SHUTDOWN`: an RDB node saves first). It stays down
    /// until restarted.
    pub fn shutdown(&mut self, i: usize) {
        if self.nodes[i].up && self.nodes[i].persistence == Persistence::Rdb {
            let n = &mut self.nodes[i];
            n.snapshot = Some(Snapshot {
                log: n.log.clone(),
                repl_base: n.repl_base,
                replid: n.replid.clone(),
                at: self.now,
            });
        }
        self.crash(i);
    }

    /// Restart node `i` as a primary with a new run id, with what its
    /// persistence mode reloads (`how` says whether its files survived).
    pub fn restart(&mut self, i: usize, how: Restart) {
        let before = self.nodes[i].log.len() as u64;
        let now = self.now;
        let mode = if how == Restart::Empty {
            Persistence::Off
        } else {
            self.nodes[i].persistence
        };
        let n = &mut self.nodes[i];
        n.up = true;
        n.started_at = now;
        n.incarnation += 1;
        n.run_id = run_id(&n.name, n.incarnation);
        n.replid = format!("{}-repl0", n.run_id);
        n.replid2.clear();
        match mode {
            Persistence::Off => {
                n.log.clear();
                n.repl_base = 0;
            }
            // Every write reloaded; the offset starts again at 0.
            Persistence::Aof => n.repl_base = n.log.len() as u64,
            // The snapshot, on the replication history it was saved on.
            Persistence::Rdb => match n.snapshot.clone() {
                Some(snap) => {
                    n.log = snap.log;
                    n.repl_base = snap.repl_base;
                    n.replid2 = snap.replid;
                }
                None => {
                    n.log.clear();
                    n.repl_base = 0;
                }
            },
        }
        n.replica_of = None;
        n.syncing_until = None;
        n.link_up = false;
        n.link_down_since = None;
        n.fence = 0;
        n.paused_until = 0;
        let loaded = n.log.len() as u64;
        // A restart that kept everything leaves an earlier loss on record
        // (the node holds no more than it did).
        if loaded < before {
            self.empty_restarts.insert(i, (now, before));
            self.loss_marks.insert(i, self.client.next_id);
        }
        self.connectivity_changed = now;
        self.restart_observed.remove(&i);
        let what = if loaded == 0 {
            format!("restart empty: {} (had {before} writes)", self.nodes[i].name)
        } else {
            let how = if how == Restart::Shutdown { "shutdown" } else { "kill" };
            format!(
                "restart with data: {} ({}, {how}; had {before} writes, loaded {loaded})",
                self.nodes[i].name,
                mode.name()
            )
        };
        self.note(what);
    }

    /// One client write: to its target, re-resolving after an error.
    pub fn client_write(&mut self) {
        let t = self.client.target;
        let id = self.client.next_id;
        self.client.next_id += 1;
        let delivered = self.reaches(Endpoint::Client, Endpoint::Node(t));
        if delivered && self.writable(t) {
            self.nodes[t].log.push(id);
            if self.reaches(Endpoint::Node(t), Endpoint::Client) {
                self.client.acked.push(id);
                // Failure 1: a write acknowledged by a primary the record
                // no longer names (isolated with the client).
                let recorded = self.etcd.record.as_ref().map(|r| r.primary.clone());
                if let Some(recorded) = recorded.filter(|r| *r != self.nodes[t].name) {
                    let episode = Some((t, recorded.clone()));
                    if self.client.stale_ack != episode {
                        self.client.stale_ack = episode;
                        let what = format!(
                            "write acked by {} while the record names {recorded}",
                            self.nodes[t].name
                        );
                        self.note(what);
                    }
                }
                return;
            }
        }
        self.client.failed += 1;
        // Re-resolve: the first reachable node that says it is primary.
        if let Some(p) = (0..self.nodes.len()).find(|&i| {
            self.answering(i)
                && self.nodes[i].replica_of.is_none()
                && self.reaches(Endpoint::Client, Endpoint::Node(i))
                && self.reaches(Endpoint::Node(i), Endpoint::Client)
        }) {
            self.client.target = p;
        }
    }

    /// Writable primaries now.
    pub fn writable_primaries(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| self.writable(i)).collect()
    }

    /// Acknowledged writes missing from node `i`.
    pub fn lost_writes(&self, i: usize) -> usize {
        let held: BTreeSet<u64> = self.nodes[i].log.iter().copied().collect();
        self.client.acked.iter().filter(|id| !held.contains(id)).count()
    }
}

#[cfg(test)]
mod tests {
    //! One test per Redis 7.0 / etcd 3.4 fact in `arbiter-invariants.md`.
    use super::*;

    fn synced(min_replicas: usize) -> Model {
        let mut m = Model::new(3, min_replicas);
        for _ in 0..5 {
            m.client_write();
        }
        m.advance(10);
        m
    }

    #[test]
    fn failover_to_demotes_the_old_primary_and_leaves_a_third_replica_attached() {
        let mut m = synced(0);
        let old_replid = m.nodes[1].replid.clone();
        m.failover(0, 1, 1, 5000).unwrap();
        m.advance(m.now + HANDOVER_MS);
        assert_eq!(m.nodes[0].replica_of.as_deref(), Some("10.0.0.2:6379"));
        assert!(m.nodes[1].replica_of.is_none());
        assert_ne!(m.nodes[1].replid, old_replid, "the new primary gets a new replid");
        assert_eq!(
            m.nodes[2].replica_of.as_deref(),
            Some("10.0.0.1:6379"),
            "until repointed"
        );
    }

    #[test]
    fn failover_hands_over_asynchronously_with_writes_paused_meanwhile() {
        let mut m = synced(0);
        let t0 = m.now;
        m.failover(0, 1, 1, 5000).unwrap();
        // Accepted, not done: the old primary still reports primary and
        // takes no writes; the target still follows it.
        assert!(m.nodes[0].replica_of.is_none());
        assert_eq!(m.nodes[1].replica_of.as_deref(), Some("10.0.0.1:6379"));
        assert!(!m.writable(0), "writes paused during the handover");
        m.advance(t0 + HANDOVER_MS - 1);
        assert!(m.nodes[1].replica_of.is_some(), "not before the handover time");
        m.advance(t0 + HANDOVER_MS);
        assert!(m.nodes[1].replica_of.is_none() && m.writable(1));
        assert!(m.handover.is_none());
    }

    #[test]
    fn a_handover_that_cannot_finish_is_given_up_at_the_timeout() {
        let mut m = synced(0);
        let t0 = m.now;
        m.failover(0, 1, 1, 1000).unwrap();
        m.crash(1);
        m.advance(t0 + HANDOVER_MS);
        assert!(m.handover.is_some(), "still trying until the timeout");
        assert!(!m.writable(0));
        m.advance(t0 + 1000);
        assert!(m.handover.is_none());
        assert!(
            m.events
                .iter()
                .any(|e| e.what.starts_with("switchover aborted: r1 -> r2"))
        );
        assert!(m.nodes[0].replica_of.is_none(), "the old primary goes on");
    }

    #[test]
    fn failover_is_refused_during_the_targets_initial_sync() {
        let mut m = synced(0);
        m.restart_empty(2);
        m.repoint(2, "10.0.0.1:6379", 1).unwrap();
        m.client_write();
        m.advance(20); // diverged log: a full resync starts
        assert!(m.nodes[2].syncing_until.is_some());
        let e = m.failover(0, 2, 2, 5000).unwrap_err();
        assert!(
            matches!(e, RedisError::Refused(ref s) if s.contains("initial sync")),
            "{e:?}"
        );
        m.advance(400);
        m.failover(0, 2, 2, 5000).unwrap();
    }

    #[test]
    fn min_replicas_to_write_refuses_writes_without_linked_replicas() {
        let mut m = synced(1);
        assert!(m.writable(0));
        m.blocked.insert((Endpoint::Node(0), Endpoint::Node(1)));
        m.blocked.insert((Endpoint::Node(0), Endpoint::Node(2)));
        m.advance(20);
        assert!(!m.writable(0), "NOREPLICAS");
        let acked = m.client.acked.len();
        m.client_write();
        assert_eq!(m.client.acked.len(), acked);
    }

    #[test]
    fn role_and_info_report_offsets_links_and_replid() {
        let mut m = synced(0);
        let s = m.status(1);
        assert_eq!(s.offset, 5);
        assert!(matches!(s.role, Role::Replica { link_up: true, .. }));
        m.crash(0);
        m.advance(100);
        m.advance(1100);
        let Role::Replica {
            link_up, link_down_ms, ..
        } = m.status(1).role
        else {
            panic!()
        };
        assert!(!link_up);
        assert_eq!(link_down_ms, Some(1000));
        assert_eq!(m.status(0).replid, "r1-repl0");
    }

    #[test]
    fn a_replica_that_resyncs_from_an_empty_restart_loses_its_data() {
        let mut m = synced(0);
        m.restart_empty(0);
        m.advance(20);
        m.advance(400);
        assert!(m.nodes[1].log.is_empty(), "full resync from the empty node");
        assert_eq!(m.shrinking_resyncs.len(), 2);
        assert_eq!(m.lost_writes(1), 5);
    }

    #[test]
    fn etcd_leases_expire_and_take_their_keys() {
        let mut e = EtcdModel {
            available: true,
            ..EtcdModel::default()
        };
        let a = NodeId("a".into());
        let b = NodeId("b".into());
        let (lease_a, rev_a) = e.campaign(0, &a);
        let (_, rev_b) = e.campaign(0, &b);
        assert_eq!(e.leader().unwrap().epoch, rev_a);
        assert!(e.keepalive(3000, lease_a));
        e.expire(7000);
        // b's lease ran out at 5000; a renewed its own until 8000.
        assert_eq!(e.leader().map(|l| l.epoch), Some(rev_a));
        assert!(e.entries.values().all(|(rev, _)| *rev != rev_b));
        e.expire(8000);
        assert_eq!(e.leader(), None);
    }

    #[test]
    fn guarded_writes_fail_once_the_entry_is_gone() {
        let mut e = EtcdModel {
            available: true,
            ..EtcdModel::default()
        };
        let a = NodeId("a".into());
        let (lease, rev) = e.campaign(0, &a);
        let record = GroupRecord {
            epoch: rev,
            primary: "r1".into(),
            run_id: None,
            lost_data: false,
        };
        assert!(e.publish(0, &a, rev, &record));
        e.revoke(lease);
        assert!(!e.publish(1, &a, rev, &record), "the lease is gone: the guard fails");
        let (_, rev2) = e.campaign(10, &a);
        assert!(rev2 > rev, "create revisions only grow");
        assert!(!e.publish(11, &a, rev, &record), "an old epoch does not pass the guard");
    }

    #[test]
    fn a_serializable_read_may_be_stale_a_linearizable_one_is_not() {
        let mut e = EtcdModel {
            available: true,
            ..EtcdModel::default()
        };
        let a = NodeId("a".into());
        let (_, rev) = e.campaign(0, &a);
        let old = GroupRecord {
            epoch: rev,
            primary: "r1".into(),
            run_id: None,
            lost_data: false,
        };
        let new = GroupRecord {
            epoch: rev,
            primary: "r2".into(),
            run_id: None,
            lost_data: false,
        };
        assert!(e.publish(1000, &a, rev, &old));
        assert!(e.publish(20_000, &a, rev, &new));
        // A member 10 s behind still serves the old record; the leader
        // (a linearizable read) has the new one.
        assert_eq!(e.stale_record(25_000, STALE_READ_LAG_MS), Some(old));
        assert_eq!(e.record, Some(new.clone()));
        assert_eq!(e.stale_record(30_000, STALE_READ_LAG_MS), Some(new));
    }

    fn with_mode(mode: Persistence) -> Model {
        let mut m = synced(0);
        for n in &mut m.nodes {
            n.persistence = mode;
        }
        m.advance(RDB_SAVE_INTERVAL_MS); // the first RDB snapshot
        m
    }

    #[test]
    fn persistence_off_restarts_empty_with_new_ids_and_offset_zero() {
        let mut m = with_mode(Persistence::Off);
        let (run_id, replid) = (m.nodes[0].run_id.clone(), m.nodes[0].replid.clone());
        m.crash(0);
        m.restart(0, Restart::Kill);
        let s = m.status(0);
        assert_eq!(s.role, Role::Primary);
        assert_ne!(s.run_id, run_id);
        assert_ne!(s.replid, replid);
        assert!(m.nodes[0].replid2.is_empty());
        assert_eq!((s.offset, s.keys), (0, Some(0)));
        assert!(m.empty_restarts.contains_key(&0));
    }

    #[test]
    fn an_aof_restart_keeps_every_key_with_new_ids_and_offset_zero() {
        let mut m = with_mode(Persistence::Aof);
        let replid = m.nodes[0].replid.clone();
        m.crash(0);
        m.restart(0, Restart::Kill);
        let s = m.status(0);
        assert_ne!(s.replid, replid);
        assert!(m.nodes[0].replid2.is_empty(), "replid2 is 000...");
        assert_eq!((s.offset, s.keys), (0, Some(5)));
        assert!(!m.empty_restarts.contains_key(&0), "no data lost");
        // Its replica cannot continue (another replid): a full resync that
        // keeps the dataset and takes the new offset.
        m.advance(m.now + RECONNECT_INTERVAL_MS);
        m.advance(m.now + FULL_SYNC_MS);
        let r = m.status(1);
        assert_eq!((r.offset, r.keys), (0, Some(5)));
        assert!(m.shrinking_resyncs.is_empty());
        m.client.target = 0;
        m.client_write();
        m.advance(m.now + 1);
        assert_eq!((m.status(1).offset, m.status(1).keys), (1, Some(6)));
    }

    #[test]
    fn an_rdb_restart_after_shutdown_keeps_its_history_and_replicas_continue_partially() {
        let mut m = with_mode(Persistence::Rdb);
        m.client_write();
        m.advance(m.now + 1);
        let replid = m.nodes[0].replid.clone();
        let offset = m.offset(0);
        m.shutdown(0);
        m.restart(0, Restart::Shutdown);
        let s = m.status(0);
        assert_ne!(s.replid, replid, "a new replid");
        assert_eq!(m.nodes[0].replid2, replid, "replid2 is the old replid");
        assert_eq!((s.offset, s.keys), (offset, Some(6)), "offset and keys kept");
        m.advance(m.now + RECONNECT_INTERVAL_MS);
        assert!(m.nodes[1].link_up, "a partial resync: linked at once");
        assert!(!m.events.iter().any(|e| e.what.starts_with("full resync")));
    }

    #[test]
    fn an_rdb_restart_after_a_kill_loads_the_last_snapshot() {
        let mut m = with_mode(Persistence::Rdb);
        for _ in 0..3 {
            m.client_write();
        }
        m.advance(m.now + 1);
        m.crash(0);
        m.restart(0, Restart::Kill);
        assert_eq!(m.status(0).keys, Some(5), "the 3 writes after the snapshot are gone");
        assert_eq!(m.empty_restarts.get(&0).map(|e| e.1), Some(8));
        // Its replicas are ahead on its old history: a full resync drops
        // what they have beyond the snapshot.
        m.advance(m.now + RECONNECT_INTERVAL_MS);
        m.advance(m.now + FULL_SYNC_MS);
        assert_eq!(m.status(1).keys, Some(5));
        assert!(!m.shrinking_resyncs.is_empty());
    }

    #[test]
    fn a_password_mismatch_keeps_replicas_from_linking() {
        let mut m = synced(0);
        m.nodes[0].auth_broken_until = m.now + 5000;
        m.advance(m.now + 10);
        assert!(!m.nodes[1].link_up);
        m.advance(m.now + 5000);
        m.advance(m.now + RECONNECT_INTERVAL_MS);
        assert!(m.nodes[1].link_up, "links again once the passwords match");
    }

    #[test]
    fn a_campaigner_that_stops_renewing_is_told_it_won_then_loses_the_key() {
        let mut e = EtcdModel {
            available: true,
            ..EtcdModel::default()
        };
        let a = NodeId("a".into());
        let (_, rev) = e.campaign(0, &a);
        assert_eq!(e.leader().map(|l| l.epoch), Some(rev), "told it won");
        e.expire(LEASE_TTL_MS);
        assert_eq!(e.leader(), None, "the key went with the lease");
        let record = GroupRecord {
            epoch: rev,
            primary: "r1".into(),
            run_id: None,
            lost_data: false,
        };
        assert!(
            !e.publish(LEASE_TTL_MS + 1, &a, rev, &record),
            "and so did its right to write"
        );
    }
}
