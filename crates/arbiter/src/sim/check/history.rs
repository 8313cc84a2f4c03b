//! The checker's own history of the world, fed by the model's facts (in
//! order, as they happened) and by what each leading instance was told:
//! which nodes lost data, which losses and stale primaries a leader has
//! seen, and every command, resync, stale link and promotion so far.

use std::collections::BTreeMap;

use crate::sim::model::{AppliedCommand, Endpoint, Fact, Model, Promotion, Resync, StaleSync, instance_id};
use crate::types::{Millis, NodeStatus, Role};

/// A node's data loss: a restart that came back with fewer writes (empty,
/// or an old RDB snapshot), or a full resync from a node that had itself
/// lost data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataLoss {
    /// When.
    pub at: Millis,
    /// How many writes the node held before.
    pub had: u64,
    /// The first write id issued after the loss. A replica that a resync
    /// from the node makes drop only later writes lost writes of its own
    /// history (a split brain), not the node's loss (S7).
    pub mark: u64,
}

/// When a leading instance (with etcd in reach) first got a reply showing
/// something, and which instance: the checks give the controller a fair
/// chance from then on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sighting {
    /// When.
    pub at: Millis,
    /// The instance.
    pub by: usize,
}

/// What the checker knows of the run so far.
#[derive(Debug, Clone, Default)]
pub struct History {
    facts_seen: usize,
    /// Reconfigurations applied, per node, in order (S1).
    pub applied: Vec<AppliedCommand>,
    /// Full resyncs that replaced a replica's log with a shorter one (S7).
    pub shrinking_resyncs: Vec<Resync>,
    /// Links that came up to a node claiming primary against the record (S6).
    pub stale_syncs: Vec<StaleSync>,
    /// Promotions an instance made (S5, data).
    pub promotions: Vec<Promotion>,
    /// Nodes that lost data and hold no sound history since. A full resync
    /// from a node that had not lost data clears the entry.
    pub losses: BTreeMap<usize, DataLoss>,
    /// When a leader first polled a node after it lost data (S7).
    pub loss_seen: BTreeMap<usize, Sighting>,
    /// When a leader first got a reply showing a node claiming primary
    /// while the record names another (S6).
    pub stale_primary_seen: BTreeMap<usize, Sighting>,
}

impl History {
    /// Takes in the facts the model noted since the last call.
    pub fn ingest(&mut self, m: &Model) {
        for fact in &m.facts[self.facts_seen..] {
            match fact {
                Fact::Applied(c) => self.applied.push(c.clone()),
                Fact::Restarted(r) => {
                    // A restart that kept everything leaves an earlier
                    // loss on record (the node holds no more than it did).
                    if r.loaded < r.had {
                        self.lost(r.node, r.at, r.had, r.next_write);
                    }
                    self.loss_seen.remove(&r.node);
                }
                Fact::Resynced(r) => self.resynced(r),
                Fact::StaleSync(s) => self.stale_syncs.push(*s),
                Fact::Promoted(p) => self.promotions.push(p.clone()),
            }
        }
        self.facts_seen = m.facts.len();
    }

    /// Data lost by the source is lost by its replica too; a sound source
    /// gives the replica a sound history.
    fn resynced(&mut self, r: &Resync) {
        if r.shrank() {
            self.shrinking_resyncs.push(r.clone());
        }
        let source_lost = self.losses.contains_key(&r.source);
        if source_lost && r.shrank() {
            self.lost(r.replica, r.at, r.had, r.next_write);
        } else if !source_lost {
            self.losses.remove(&r.replica);
            self.loss_seen.remove(&r.replica);
        }
    }

    /// Node `node` lost data at `at`, holding `had` writes before, with
    /// `mark` the next write id: a new loss, not yet seen by a leader.
    fn lost(&mut self, node: usize, at: Millis, had: u64, mark: u64) {
        self.losses.insert(node, DataLoss { at, had, mark });
        self.loss_seen.remove(&node);
    }

    /// Instance `i` crashed: what it saw gives the controller no chance
    /// any more (S6, S7).
    pub fn instance_crashed(&mut self, i: usize) {
        self.loss_seen.retain(|_, s| s.by != i);
        self.stale_primary_seen.retain(|_, s| s.by != i);
    }

    /// Notes, after instance `i` stepped, what it now knows while leading
    /// with etcd in reach (`known` gives the last status it holds for a
    /// node): nodes that lost data (S7) and nodes claiming primary against
    /// the record (S6). The checks give the controller a fair chance from
    /// the moment a reply showing it reached the controller, not from when
    /// its request reached the node.
    pub fn observe<'k>(&mut self, i: usize, m: &Model, known: impl Fn(&str) -> Option<&'k NodeStatus>) {
        self.ingest(m);
        for node in 0..m.nodes.len() {
            if m.nodes[node].replica_of.is_some() {
                self.stale_primary_seen.remove(&node);
            }
        }
        let id = instance_id(i, m.instances[i].incarnation);
        let leads = m.etcd.leader().is_some_and(|l| l.instance == id)
            && m.etcd.available
            && m.reaches_both(Endpoint::Instance(i), Endpoint::Etcd);
        if !leads {
            return;
        }
        let seen = Sighting { at: m.now, by: i };
        let losses: Vec<(usize, u64)> = self.losses.iter().map(|(n, l)| (*n, l.had)).collect();
        for (node, had) in losses {
            if self.loss_seen.contains_key(&node) {
                continue;
            }
            // A reply from after the loss: this run, holding less.
            let n = &m.nodes[node];
            let after = known(&n.name).is_some_and(|s| s.run_id == n.run_id && s.keys.is_none_or(|k| k < had));
            if after {
                self.loss_seen.insert(node, seen);
            }
        }
        let recorded = m.etcd.record.as_ref().map(|r| r.primary.clone());
        for (node, n) in m.nodes.iter().enumerate() {
            let claims = known(&n.name).is_some_and(|s| s.role == Role::Primary);
            let stale = recorded.as_ref().is_some_and(|r| *r != n.name) && n.replica_of.is_none();
            if claims && stale {
                self.stale_primary_seen.entry(node).or_insert(seen);
            }
        }
    }
}
