//! The etcd model, as etcd 3.4 behaves: a revision counter, keys with
//! create revisions, leases with a TTL that delete their keys when they
//! expire, guarded transactions, the group record with its history (what a
//! lagging member may still answer), and quorum loss (every call fails).

use std::collections::BTreeMap;

use crate::types::{Epoch, GroupRecord, Leader, Millis, NodeId};

/// Lease TTL the simulated instances get.
pub const LEASE_TTL_MS: Millis = 5000;

/// How far behind a lagging etcd member answers serializable reads.
pub const STALE_READ_LAG_MS: Millis = 10_000;

/// One election entry: an instance's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The key's create revision (the epoch when it leads).
    pub revision: i64,
    /// The lease that holds it.
    pub lease: i64,
}

/// A leader's heartbeat key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Beat {
    /// The key's mod revision.
    pub revision: i64,
    /// The longest the leader says it goes between two beats.
    pub within_ms: Millis,
    /// The lease that holds it.
    pub lease: i64,
}

/// One group record written, with when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Virtual time.
    pub at: Millis,
    /// The record.
    pub record: GroupRecord,
}

/// The etcd model.
#[derive(Debug, Clone, Default)]
pub struct EtcdModel {
    /// The store's revision.
    pub revision: i64,
    /// Lease id -> expiry.
    pub leases: BTreeMap<i64, Millis>,
    next_lease: i64,
    /// Election entries, by instance.
    pub entries: BTreeMap<NodeId, Entry>,
    /// Heartbeat keys, by instance (attached to its lease).
    pub beats: BTreeMap<NodeId, Beat>,
    /// The group record.
    pub record: Option<GroupRecord>,
    /// Every record written, with when: what a lagging member may still
    /// answer a serializable read with.
    pub record_history: Vec<Written>,
    /// Quorum: when false every call fails.
    pub available: bool,
    /// When the leader (lowest create revision) last changed.
    pub leader_changed_at: Millis,
    last_leader: Option<Leader>,
}

impl EtcdModel {
    /// An empty store with its quorum.
    pub fn available() -> Self {
        Self {
            available: true,
            ..Self::default()
        }
    }

    /// The leases of every incarnation of arbiter instance `index`
    /// (`arbiter-1`, `arbiter-1.1`...), in entry order.
    pub fn instance_leases(&self, index: usize) -> Vec<i64> {
        let prefix = format!("arbiter-{}", index + 1);
        self.entries
            .iter()
            .filter(|(id, _)| id.0 == prefix || id.0.starts_with(&format!("{prefix}.")))
            .map(|(_, e)| e.lease)
            .collect()
    }

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
            self.entries.retain(|_, e| e.lease != lease);
            self.beats.retain(|_, b| b.lease != lease);
        }
    }

    /// The leader `instance` beats (a put of its heartbeat key on its
    /// lease); nothing when it does not lead.
    pub fn beat(&mut self, instance: &NodeId, within_ms: Millis) {
        let Some(entry) = self.entries.get(instance).copied() else {
            return;
        };
        if self.leader().is_some_and(|l| l.instance == *instance) {
            self.revision += 1;
            let beat = Beat {
                revision: self.revision,
                within_ms,
                lease: entry.lease,
            };
            self.beats.insert(instance.clone(), beat);
        }
    }

    /// The guarded deposition: deletes `leader`'s entry and heartbeat when
    /// its entry still has create revision `leader.epoch` and its heartbeat
    /// mod revision `heartbeat`.
    pub fn depose(&mut self, now: Millis, leader: &Leader, heartbeat: i64) -> bool {
        let entry = self
            .entries
            .get(&leader.instance)
            .is_some_and(|e| e.revision == leader.epoch.get());
        let beat = self
            .beats
            .get(&leader.instance)
            .is_some_and(|b| b.revision == heartbeat);
        if !(entry && beat) {
            return false;
        }
        self.revision += 1;
        self.entries.remove(&leader.instance);
        self.beats.remove(&leader.instance);
        self.note_leader(now);
        true
    }

    /// Whether `instance` leads under `epoch` (the leadership re-check
    /// before a Redis command, as the live world makes it).
    pub fn leads(&self, instance: &NodeId, epoch: Epoch) -> bool {
        self.entries.get(instance).is_some_and(|e| e.revision == epoch.get())
            && self.leader().is_some_and(|l| l.epoch == epoch)
    }

    /// Grants a lease and creates the instance's entry.
    pub fn campaign(&mut self, now: Millis, instance: &NodeId) -> (i64, i64) {
        if let Some(old) = self.entries.get(instance).copied() {
            self.revoke(old.lease);
        }
        self.next_lease += 1;
        let lease = self.next_lease;
        self.leases.insert(lease, now + LEASE_TTL_MS);
        self.revision += 1;
        self.entries.insert(
            instance.clone(),
            Entry {
                revision: self.revision,
                lease,
            },
        );
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
            .min_by_key(|(_, e)| e.revision)
            .map(|(instance, e)| Leader {
                instance: instance.clone(),
                epoch: Epoch(e.revision),
            })
    }

    /// The guarded write: only when `instance`'s entry still has create
    /// revision `epoch`. A negative epoch writes without the guard (only
    /// the `SkipFencing` planted bug does that).
    pub fn publish(&mut self, now: Millis, instance: &NodeId, epoch: Epoch, record: &GroupRecord) -> bool {
        let guarded = match self.entries.get(instance) {
            Some(e) => e.revision == epoch.get(),
            None => false,
        };
        if guarded || epoch.get() < 0 {
            self.revision += 1;
            self.record = Some(record.clone());
            self.record_history.push(Written {
                at: now,
                record: record.clone(),
            });
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
            .find(|w| w.at <= seen)
            .map(|w| w.record.clone())
            .or_else(|| {
                if self.record_history.is_empty() {
                    self.record.clone()
                } else {
                    None
                }
            })
    }
}
