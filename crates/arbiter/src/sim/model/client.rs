//! The writing client: it writes to the node it believes is primary,
//! re-resolving only after an error (as a client with a stale view does),
//! and remembers which writes were acknowledged.

use std::collections::BTreeSet;

use super::Model;
use super::event::ModelEvent;
use super::network::Endpoint;

/// A write acknowledged by a node the record does not name (failure 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleAck {
    /// The node that acknowledged it.
    pub node: usize,
    /// The primary the record named.
    pub recorded: String,
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
    /// The last write acknowledged by a node the record does not name
    /// (noted once per such episode).
    pub stale_ack: Option<StaleAck>,
}

impl Model {
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
                self.note_stale_ack(t);
                return;
            }
        }
        self.client.failed += 1;
        // Re-resolve: the first reachable node that says it is primary.
        if let Some(p) = (0..self.nodes.len()).find(|&i| {
            self.answering(i)
                && self.nodes[i].replica_of.is_none()
                && self.reaches_both(Endpoint::Client, Endpoint::Node(i))
        }) {
            self.client.target = p;
        }
    }

    /// Failure 1: a write acknowledged by a primary the record no longer
    /// names (isolated with the client), noted once per episode.
    fn note_stale_ack(&mut self, t: usize) {
        let recorded = self.etcd.record.as_ref().map(|r| r.primary.clone());
        if let Some(recorded) = recorded.filter(|r| *r != self.nodes[t].name) {
            let episode = Some(StaleAck {
                node: t,
                recorded: recorded.clone(),
            });
            if self.client.stale_ack != episode {
                self.client.stale_ack = episode;
                let node = self.nodes[t].name.clone();
                self.note(ModelEvent::StaleAck { node, recorded });
            }
        }
    }

    /// Acknowledged writes missing from node `i`.
    pub fn lost_writes(&self, i: usize) -> usize {
        let held: BTreeSet<u64> = self.nodes[i].log.iter().copied().collect();
        self.client.acked.iter().filter(|id| !held.contains(id)).count()
    }
}
