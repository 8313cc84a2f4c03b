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
    /// (source, replica): when the leader that saw `source`'s loss, leading
    /// with etcd in reach, held an answer of `replica` since (its latest
    /// poll of it answered): only then can it promote or repoint that
    /// replica (S7).
    pub replica_heard: BTreeMap<(usize, usize), Heard>,
}

/// The stretches of time in which a leader that saw a node's loss held an
/// answer of one of the other nodes ([`History::replica_heard`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Heard {
    /// The sighting of the loss they follow ([`Sighting::at`]).
    pub seen_at: Millis,
    /// Stretches that ended: (first, last) step at which it held one.
    pub closed: Vec<(Millis, Millis)>,
    /// The stretch going on: since when.
    pub open: Option<Millis>,
    /// The last step at which it held one.
    pub last: Millis,
}

impl Heard {
    /// The stretches, the one going on ending at `until`.
    pub fn stretches(&self, until: Millis) -> impl Iterator<Item = (Millis, Millis)> + '_ {
        self.closed.iter().copied().chain(self.open.map(|s| (s, until)))
    }
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

    /// Extends or ends, for every loss instance `i` saw, the stretches in
    /// which it holds an answer of each other node (`answers`; a poll that
    /// failed leaves the view without one, while a controller that stops
    /// polling a node keeps its last answer and gets no excuse from this).
    fn hear(&mut self, i: usize, m: &Model, answers: impl Fn(usize) -> bool) {
        let (now, nodes) = (m.now, m.nodes.len());
        let sightings: Vec<(usize, Millis)> = self
            .loss_seen
            .iter()
            .filter(|(_, s)| s.by == i)
            .map(|(n, s)| (*n, s.at))
            .collect();
        for (source, seen_at) in sightings {
            for replica in (0..nodes).filter(|r| *r != source) {
                let heard = self.replica_heard.entry((source, replica)).or_default();
                if heard.seen_at != seen_at {
                    *heard = Heard {
                        seen_at,
                        ..Heard::default()
                    };
                }
                if answers(replica) {
                    heard.open.get_or_insert(now);
                    heard.last = now;
                } else if let Some(start) = heard.open.take() {
                    heard.closed.push((start, heard.last));
                }
            }
        }
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
            self.hear(i, m, |_| false);
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
        self.hear(i, m, |replica| known(&m.nodes[replica].name).is_some());
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
