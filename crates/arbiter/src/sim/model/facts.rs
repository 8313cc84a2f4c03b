//! What the model tells the checker besides the timeline: each fact is
//! noted as it happens, in order, and the checker keeps its own history
//! from them (the model itself never reads them back).

use crate::types::Epoch;
use crate::types::Millis;

/// One fact, in the order the model saw them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// A reconfiguration applied to a node (S1).
    Applied(AppliedCommand),
    /// A node restarted (S7 tracks data loss through it).
    Restarted(Restarted),
    /// A full resync completed (S7).
    Resynced(Resync),
    /// A replica linked to a node claiming primary against the record (S6).
    StaleSync(StaleSync),
    /// An instance promoted a replica (S5, data).
    Promoted(Promotion),
}

/// One reconfiguration applied to a node (S1 checks the epochs' order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedCommand {
    /// Virtual time.
    pub at: Millis,
    /// The node.
    pub node: usize,
    /// Epoch it was issued under.
    pub epoch: Epoch,
    /// What it was.
    pub what: String,
}

/// A node came back: what it held before and loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restarted {
    /// Virtual time.
    pub at: Millis,
    /// The node.
    pub node: usize,
    /// Writes it held before.
    pub had: u64,
    /// Writes it loaded.
    pub loaded: u64,
    /// The first write id issued after it.
    pub next_write: u64,
}

/// A full resync that completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resync {
    /// When it completed.
    pub at: Millis,
    /// When it started.
    pub started: Millis,
    /// The replica.
    pub replica: usize,
    /// Its source.
    pub source: usize,
    /// Writes the replica held before.
    pub had: u64,
    /// Writes it holds now (the source's).
    pub holds: u64,
    /// The oldest write id the replica dropped (`u64::MAX` when none).
    pub oldest_dropped: u64,
    /// The first write id issued after it.
    pub next_write: u64,
}

impl Resync {
    /// It replaced the replica's log with a shorter one (data dropped).
    pub fn shrank(&self) -> bool {
        self.holds < self.had
    }
}

/// A replica's link came up to a node claiming primary while the record
/// named another (S6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaleSync {
    /// Virtual time.
    pub at: Millis,
    /// The replica.
    pub replica: usize,
    /// The node claiming primary.
    pub source: usize,
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
