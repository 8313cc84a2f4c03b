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

//!
//! The model is split by noun: [`redis`] (nodes, persistence, restarts),
//! [`replication`] and [`commands`] (what Redis does on its own and when
//! told), [`etcd`], [`network`], [`client`], [`process`] (the arbiter
//! instances' processes); [`event`] is the timeline and [`facts`] what the
//! checker is told.

use std::collections::BTreeSet;

pub mod client;
pub mod commands;
pub mod etcd;
pub mod event;
pub mod facts;
pub mod network;
pub mod process;
pub mod redis;
pub mod replication;

pub use client::{ClientModel, StaleAck};
pub use commands::{HANDOVER_MS, Handover};
pub use etcd::{EtcdModel, LEASE_TTL_MS, STALE_READ_LAG_MS};
pub use event::{ConfigEdit, Event, ModelEvent};
pub use facts::{AppliedCommand, Fact, Promotion, Resync, StaleSync};
pub use network::Endpoint;
pub use process::{InstanceModel, instance_id};
pub use redis::{
    FULL_SYNC_MS, Persistence, RDB_SAVE_INTERVAL_MS, RECONNECT_INTERVAL_MS, RedisModel, Restart, Snapshot,
};

use crate::types::{GroupConfig, Millis, RedisNode, Settings};

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
    /// What the checker is told, in order (it keeps its own history from
    /// them; the model never reads them back).
    pub facts: Vec<Fact>,
    /// Pending operator switchover request.
    pub switchover_request: Option<String>,
    /// Armed by a fault: the next `FAILOVER TO` finds its target paused
    /// for this long (failure 10: a target paused mid-`FAILOVER`).
    pub pause_failover_target_ms: Option<Millis>,
    /// A `FAILOVER TO` Redis accepted and is still handing over.
    pub handover: Option<Handover>,
    /// When connectivity last came back (a partition healed, etcd returned,
    /// a node restarted or resumed): the controller needs a poll cycle to
    /// see the new situation.
    pub connectivity_changed: Millis,
    /// The configuration the instances load, and its version.
    pub config: GroupConfig,
    /// Bumped on every configuration change.
    pub config_version: u64,
    /// Per arbiter instance: clock offset, pause, crash.
    pub instances: Vec<InstanceModel>,
    /// Addresses of Redis servers outside the group that run in cluster
    /// mode (another deployment's Redis Cluster, on the same network): a
    /// configuration that names one by mistake makes an instance refuse
    /// to start.
    pub cluster_mode: BTreeSet<String>,
}

/// The one cluster-mode server of the simulated network
/// ([`Model::cluster_mode`]): a Redis Cluster node of another deployment.
pub const CLUSTER_NODE_ADDR: &str = "10.0.1.1:7000";

impl Model {
    /// `n` nodes in sync: the first primary, the others its replicas.
    pub fn new(n: usize, min_replicas_to_write: usize) -> Self {
        Self::with_config(n, min_replicas_to_write, 0, Settings::default())
    }

    /// Like [`Model::new`], with `instances` arbiter processes and settings.
    pub fn with_config(n: usize, min_replicas_to_write: usize, instances: usize, settings: Settings) -> Self {
        let nodes = (0..n).map(|i| RedisModel::in_sync(i, min_replicas_to_write)).collect();
        Self {
            now: 0,
            nodes,
            etcd: EtcdModel::available(),
            blocked: BTreeSet::new(),
            client: ClientModel::default(),
            events: Vec::new(),
            facts: Vec::new(),
            switchover_request: None,
            pause_failover_target_ms: None,
            handover: None,
            connectivity_changed: 0,
            config: GroupConfig {
                nodes: (0..n)
                    .map(|i| RedisNode {
                        name: format!("r{}", i + 1),
                        addr: format!("10.0.0.{}:6379", i + 1),
                        priority: 100,
                    })
                    .collect(),
                settings,
            },
            config_version: 0,
            instances: vec![InstanceModel::default(); instances],
            cluster_mode: BTreeSet::from([CLUSTER_NODE_ADDR.to_string()]),
        }
    }

    /// The first node of `config` that runs in cluster mode, if any.
    pub fn cluster_mode_node<'a>(&self, config: &'a GroupConfig) -> Option<&'a RedisNode> {
        config.nodes.iter().find(|n| self.cluster_mode.contains(&n.addr))
    }

    /// Notes an event on the timeline.
    pub fn note(&mut self, kind: ModelEvent) {
        let at = self.now;
        self.events.push(Event { at, kind });
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
}

#[cfg(test)]
mod tests;
