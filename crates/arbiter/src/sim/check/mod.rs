//! The invariants written out in `crates/arbiter/INVARIANTS.md`, checked
//! against the model and the machines after every step and every event
//! (safety) and after the run heals and settles (liveness). A violation is
//! a `rehearse::Failure` whose kind is the invariant's name and whose
//! message names the instance, the seed and the virtual time.
//!
//! The failover candidate check (S5) accepts the Sentinel staleness rule
//! (a replica whose link went down when the primary died stays eligible:
//! link down no longer than `stale_after_ms` plus the time the primary has
//! been down) as well as the strict one, while still refusing any replica
//! the strict rule ranks better than the one chosen; in both worlds.
//!
//! Issue 22 added (off with `--before-issue-22`):
//! - **S5, data** (an extension of candidate eligibility): a node holding
//!   no keys is never promoted while another node the promoting instance
//!   can reach holds some; and a candidate holding fewer keys than a node
//!   on another replication history is not eligible.
//! - **S7, any data loss** (an extension): a full resync never replaces a
//!   replica's data with less from a node that lost data (restarted empty
//!   or from an old RDB snapshot, or itself resynced from such a node),
//!   once a leader saw that node's loss and could reach the replica, unless
//!   it tried in time to move that replica (a repoint of it elsewhere) or
//!   the record (a write naming another primary). A repoint of some other
//!   node no longer counts as acting, and recording the node that lost data
//!   as primary no longer makes resyncs from it intended.
//! - **S10 no replication cycle**: no running node replicates, directly or
//!   through others, from itself. Only a `REPLICAOF` makes a cycle, so there
//!   is no grace.
//! - **L1 after a return** (`Run::check_return`): instances back from all
//!   being away to a dead primary with an in-sync replica promote one in
//!   time.
//! - **L5 no endless flapping**: at most [`MAX_PROMOTIONS_WITHOUT_FAULT`]
//!   promotions or completed switchovers without a new fault in between (a
//!
//! The checker reads the model's state and its facts (see
//! [`History`]), and of each instance only what a step returned and the
//! machine's public state and context; it never reaches into the world.
//! `candidate` is S5's independent candidate check; `safety` the
//! model-level safety invariants checked after every event; `liveness`
//! L1, L2, L4 and L5.

use rehearse::Failure;

mod candidate;
mod history;
mod liveness;
mod safety;
mod step;

pub use history::{DataLoss, Heard, History, Sighting};
pub use safety::replication_cycle;

use crate::machine::Machine;
use crate::sim::model::{Event, Model};
use crate::types::{Epoch, Millis};

/// How long two writable primaries may coexist after a fault (S4).
pub const DUAL_WRITABLE_BOUND_MS: Millis = 10_000;

/// How long the controller may take, after it polled a node restarted
/// empty, to stop replicas from resyncing from it (S7): the rest of its
/// poll round and the record write, promotion and repoints that follow.
pub const EMPTY_RESTART_GRACE_MS: Millis = 300;

/// How long the controller may take, after it saw a node claim primary
/// against the record, before a replica linking to that node counts as an
/// S6 violation, in check intervals (a failed demotion is retried on the
/// next tick) ...
pub const STALE_PRIMARY_GRACE_INTERVALS: Millis = 2;
/// ... plus this much for the poll round and the commands.
pub const STALE_PRIMARY_GRACE_MS: Millis = 300;

/// How long after the primary is killed for good a replica must be
/// promoted (L1), beyond down-after and one check interval.
pub const FAILOVER_BOUND_MS: Millis = 1000;

/// How long after the primary and the leader instance are killed together
/// a replica must be promoted (L1), beyond down-after and one check
/// interval: a follower deposes the silent leader (its heartbeat promised
/// a beat within a check interval plus a poll timeout per node, well under
/// down-after) and the next in line acts at once (issue 19).
pub const LEADER_LOSS_BOUND_MS: Millis = 500;

/// How long a leader may hold an operator's switchover request beyond its
/// failover timeout and two check intervals (L4).
pub const SWITCHOVER_BOUND_MS: Millis = 1000;

/// How many promotions (and completed switchovers) may follow one another
/// without a new fault in between (L5).
pub const MAX_PROMOTIONS_WITHOUT_FAULT: usize = 3;

/// A leader's attempt to move authority (S7).
#[derive(Debug, Clone)]
struct Attempt {
    at: Millis,
    /// The node moved (its address), or `None` for a record write (every
    /// node).
    node: Option<String>,
    /// Where to: a node name or address.
    to: String,
}

/// Checks invariants as a run goes.
#[derive(Debug, Clone)]
pub struct Checker {
    seed: u64,
    /// What the checker knows of the run so far.
    history: History,
    applied_seen: usize,
    resyncs_seen: usize,
    stale_syncs_seen: usize,
    events_seen: usize,
    promotions_seen: usize,
    /// When a leader tried to move authority: an attempt that injected
    /// faults defeated still counts as acting (S7).
    attempts: Vec<Attempt>,
    epoch_acted: Vec<Epoch>,
    dual_since: Option<Millis>,
    /// L5: promotions since the fault count last changed, and that count.
    flaps: Vec<Event>,
    flap_faults: u64,
    flap_events_seen: usize,
    /// Whether issue 22's invariants are checked (S5 data, S7 per replica,
    /// S10, L5); off only in tests that must stay clean until the
    /// controller's fixes land.
    issue_22: bool,
    /// Addresses that run in cluster mode (`Model::cluster_mode`): a
    /// configuration naming one must be refused (S9).
    cluster_mode: std::collections::BTreeSet<String>,
}

fn fail(invariant: &str, seed: u64, at: Millis, detail: String) -> Failure {
    Failure::new(format!("{invariant}: {detail} (seed {seed}, t={at} ms)"))
}

impl Checker {
    /// A checker for `instances` instances of seed `seed`.
    pub fn new(seed: u64, instances: usize) -> Self {
        Self {
            seed,
            history: History::default(),
            applied_seen: 0,
            resyncs_seen: 0,
            stale_syncs_seen: 0,
            events_seen: 0,
            promotions_seen: 0,
            attempts: Vec::new(),
            epoch_acted: vec![Epoch(i64::MIN); instances],
            dual_since: None,
            flaps: Vec::new(),
            flap_faults: 0,
            flap_events_seen: 0,
            issue_22: true,
            cluster_mode: std::collections::BTreeSet::new(),
        }
    }

    /// Checks issue 22's invariants (S5 data and keys across histories, S7
    /// per replica and its loss marks, S10, L5; L1 after a return is
    /// `Run`'s) or, with `on` false, only the ones before it (and S7's
    /// exemption for a resync from a node recorded since its loss).
    pub fn with_issue_22_invariants(mut self, on: bool) -> Self {
        self.issue_22 = on;
        self
    }

    /// The addresses that run in cluster mode: an instance whose
    /// configuration names one must refuse to start, and only such an
    /// instance may (S9).
    pub fn with_cluster_mode(mut self, addrs: std::collections::BTreeSet<String>) -> Self {
        self.cluster_mode = addrs;
        self
    }

    /// What the checker knows of the run so far.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// A new incarnation of instance `i` starts over (its epochs are new).
    pub fn restarted(&mut self, i: usize) {
        self.epoch_acted[i] = Epoch(i64::MIN);
    }

    /// Instance `i` crashed: what it saw gives the controller no chance
    /// any more (S6, S7).
    pub fn instance_crashed(&mut self, i: usize) {
        self.history.instance_crashed(i);
    }

    /// After instance `i` stepped: what it now knows while leading (S6,
    /// S7), read from the statuses its machine holds
    /// (`Context::views`). The one place the checker reads a machine's
    /// view of the nodes: what the world answered the instance is not the
    /// same fact (an injected fault can drop a reply the world sent, or
    /// keep the world from being asked while the machine forgets the node;
    /// and a leader that repointed a node holds it as a replica until its
    /// next answer), and the S6/S7 grace periods start when the
    /// instance knows.
    pub fn observe_leader_views(&mut self, i: usize, m: &Model, machine: &Machine) {
        // A follower keeps views too (issue 19), but acts on none: what it
        // saw starts no grace until it knows it leads (seed 16360: etcd
        // named it leader a moment before its next election check).
        if machine.context().epoch.is_none() {
            self.history.observe(i, m, |_| None);
            return;
        }
        let views = &machine.context().views;
        self.history
            .observe(i, m, |name| views.get(name).and_then(|v| v.status.as_ref()));
    }

    /// Notes that instance `by` saw node `node`'s data loss now, as if
    /// [`Checker::observe_leader_views`] had (for tests building a history by hand).
    /// It holds an answer of every other node from then on.
    pub fn loss_seen(&mut self, m: &Model, node: usize, by: usize) {
        self.history.ingest(m);
        self.history.loss_seen.insert(node, Sighting { at: m.now, by });
        for replica in (0..m.nodes.len()).filter(|r| *r != node) {
            let heard = Heard {
                seen_at: m.now,
                open: Some(m.now),
                last: m.now,
                closed: Vec::new(),
            };
            self.history.replica_heard.insert((node, replica), heard);
        }
    }

    /// Notes that instance `by` saw node `node` claim primary against the
    /// record at `at` (for tests building a history by hand).
    pub fn stale_primary_seen(&mut self, m: &Model, node: usize, at: Millis, by: usize) {
        self.history.ingest(m);
        self.history.stale_primary_seen.insert(node, Sighting { at, by });
    }
}
