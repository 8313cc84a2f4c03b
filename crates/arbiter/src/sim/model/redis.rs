//! The Redis node model, as Redis 7.0 behaves: each node's process (up,
//! paused, crashed, restarted by its persistence mode), what `ROLE`/`INFO`
//! report, and whether it takes writes (`min-replicas-to-write`, a
//! handover in progress). Replication is in `replication`, the commands
//! arbiter sends in `commands`.

use super::Model;
use super::event::ModelEvent;
use super::facts::{Fact, Restarted};
use crate::types::{Epoch, Millis, NodeStatus, Role};

/// How long a full resync takes.
pub const FULL_SYNC_MS: Millis = 300;

/// How often a replica with a broken link tries to reconnect.
pub const RECONNECT_INTERVAL_MS: Millis = 1000;

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
    pub fence: Epoch,
    /// Writes are refused with fewer linked replicas.
    pub min_replicas_to_write: usize,
    /// Restarts so far.
    pub incarnation: u32,
    /// When the running process started (its `uptime_in_seconds`).
    pub started_at: Millis,
}

impl RedisModel {
    /// Node `i` of a fresh group: `r1` the primary, the others its
    /// replicas, all in sync.
    pub(super) fn in_sync(i: usize, min_replicas_to_write: usize) -> Self {
        let name = format!("r{}", i + 1);
        Self {
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
            fence: Epoch(0),
            min_replicas_to_write,
            incarnation: 0,
            started_at: 0,
            name,
        }
    }
}

impl Snapshot {
    /// What node `n` holds now, taken at `at`.
    fn of(n: &RedisModel, at: Millis) -> Self {
        Self {
            log: n.log.clone(),
            repl_base: n.repl_base,
            replid: n.replid.clone(),
            at,
        }
    }
}

/// The run id of incarnation `incarnation` of node `name`.
pub(super) fn run_id(name: &str, incarnation: u32) -> String {
    format!("{name}-run{incarnation}")
}

impl Model {
    /// Index of the node at `addr`.
    pub fn node_at(&self, addr: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.addr == addr)
    }

    /// Index of the node the etcd record names primary, if any.
    pub fn recorded_primary(&self) -> Option<usize> {
        let primary = &self.etcd.record.as_ref()?.primary;
        self.nodes.iter().position(|n| n.name == *primary)
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
        let handing_over = self.handover.as_ref().is_some_and(|h| h.from == i);
        self.answering(i)
            && n.replica_of.is_none()
            && !handing_over
            && self.linked_replicas(i) >= n.min_replicas_to_write
    }

    /// Writable primaries now.
    pub fn writable_primaries(&self) -> Vec<usize> {
        (0..self.nodes.len()).filter(|&i| self.writable(i)).collect()
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

    /// RDB nodes snapshot their dataset every `RDB_SAVE_INTERVAL_MS`.
    pub(super) fn save_snapshots(&mut self) {
        let now = self.now;
        for n in &mut self.nodes {
            if n.persistence != Persistence::Rdb || !n.up || n.paused_until > now {
                continue;
            }
            if n.snapshot.as_ref().is_none_or(|s| s.at + RDB_SAVE_INTERVAL_MS <= now) {
                n.snapshot = Some(Snapshot::of(n, now));
            }
        }
    }

    /// Crash node `i` (it stays down until restarted).
    pub fn crash(&mut self, i: usize) {
        if self.nodes[i].up {
            self.nodes[i].up = false;
            let node = self.nodes[i].name.clone();
            self.note(ModelEvent::Crash { node });
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
            n.snapshot = Some(Snapshot::of(n, self.now));
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
        n.fence = Epoch(0);
        n.paused_until = 0;
        let loaded = n.log.len() as u64;
        let node = n.name.clone();
        let next_write = self.client.next_id;
        // (a restart that kept everything leaves an earlier loss on record:
        // the checker decides from `had` and `loaded`)
        self.facts.push(Fact::Restarted(Restarted {
            at: now,
            node: i,
            had: before,
            loaded,
            next_write,
        }));
        self.connectivity_changed = now;
        self.note(if loaded == 0 {
            ModelEvent::RestartEmpty { node, had: before }
        } else {
            ModelEvent::RestartWithData {
                node,
                mode,
                how,
                had: before,
                loaded,
            }
        });
    }
}
