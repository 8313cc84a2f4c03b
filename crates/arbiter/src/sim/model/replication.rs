//! Replication between the Redis nodes, as Redis 7.0 does it: a replica on
//! the same replication history (same replid, or the primary's replid2)
//! whose log is a prefix of its source's continues partially; otherwise it
//! does a full resync (taking [`FULL_SYNC_MS`]) that replaces its log and
//! offset with the source's and clears its replid2. A broken link is
//! retried every [`RECONNECT_INTERVAL_MS`]. A replica serves a new sync
//! only while its own link is up (`-NOMASTERLINK`).

use std::collections::BTreeSet;

use super::Model;
use super::event::ModelEvent;
use super::facts::{Fact, Resync, StaleSync};
use super::network::Endpoint;
use super::redis::{FULL_SYNC_MS, RECONNECT_INTERVAL_MS};

impl Model {
    /// Every replica that answers moves its link on: down when it cannot
    /// reach its source, a partial resync on the same history, a full one
    /// otherwise.
    pub(super) fn replicate(&mut self) {
        for r in 0..self.nodes.len() {
            if !self.answering(r) {
                continue;
            }
            let Some(source_addr) = self.nodes[r].replica_of.clone() else {
                continue;
            };
            let source = self.node_at(&source_addr);
            // A replica serves a new sync only while its own link is up:
            // Redis answers `SYNC`/`PSYNC` from a replica whose link to its
            // primary is not connected with `-NOMASTERLINK` (a link already
            // established, or a full sync under way, goes on). So a node
            // pointed at another that is itself unlinked keeps its data.
            let linking = !self.nodes[r].link_up && self.nodes[r].syncing_until.is_none();
            let connected = source.is_some_and(|p| {
                let serves = self.nodes[p].replica_of.is_none() || self.nodes[p].link_up || !linking;
                serves
                    && self.answering(p)
                    && !self.auth_broken(p)
                    && self.reaches_both(Endpoint::Node(r), Endpoint::Node(p))
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
            match self.nodes[r].syncing_until {
                Some(done) if done <= now => self.finish_full_resync(r, p, done),
                Some(_) => {}
                None if self.continues(r, p) => self.sync_partially(r, p),
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

    /// Whether replica `r` can continue partially from `p`. A replica of a
    /// replica syncs from what that one holds. PSYNC continues only the
    /// same history: the same replication id (or the primary's previous
    /// one) and a log that is a prefix.
    fn continues(&self, r: usize, p: usize) -> bool {
        let (pn, rn) = (&self.nodes[p], &self.nodes[r]);
        let (pl, rl) = (&pn.log, &rn.log);
        let same_history = rn.replid == pn.replid || (!pn.replid2.is_empty() && rn.replid == pn.replid2);
        same_history && rl.len() <= pl.len() && pl[..rl.len()] == rl[..]
    }

    /// A full resync of `r` from `p`, started `FULL_SYNC_MS` before `done`,
    /// completes: `r` takes `p`'s log, offset and replid.
    fn finish_full_resync(&mut self, r: usize, p: usize, done: crate::types::Millis) {
        let now = self.now;
        let log = self.nodes[p].log.clone();
        let replid = self.nodes[p].replid.clone();
        let repl_base = self.nodes[p].repl_base;
        let before = self.nodes[r].log.len();
        let mut oldest_dropped = u64::MAX;
        if log.len() < before {
            let kept: BTreeSet<u64> = log.iter().copied().collect();
            oldest_dropped = self.nodes[r]
                .log
                .iter()
                .copied()
                .filter(|id| !kept.contains(id))
                .min()
                .unwrap_or(u64::MAX);
        }
        self.facts.push(Fact::Resynced(Resync {
            at: now,
            started: done.saturating_sub(FULL_SYNC_MS),
            replica: r,
            source: p,
            had: before as u64,
            holds: log.len() as u64,
            oldest_dropped,
            next_write: self.client.next_id,
        }));
        self.note_link_up(r, p);
        let source = self.nodes[p].name.clone();
        let writes = log.len();
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
        let replica = n.name.clone();
        self.note(ModelEvent::FullResync {
            replica,
            source,
            writes,
        });
    }

    /// Replica `r` continues from `p`: it takes what `p` holds beyond its
    /// own log.
    fn sync_partially(&mut self, r: usize, p: usize) {
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

    /// Replica `r`'s link to `p` came up: an S6 case if `p` claims primary
    /// while the record names another node.
    fn note_link_up(&mut self, r: usize, p: usize) {
        let recorded = self.etcd.record.as_ref().map(|rec| rec.primary.as_str());
        if self.nodes[p].replica_of.is_none() && recorded.is_some_and(|name| name != self.nodes[p].name) {
            self.facts.push(Fact::StaleSync(StaleSync {
                at: self.now,
                replica: r,
                source: p,
            }));
        }
    }
}
