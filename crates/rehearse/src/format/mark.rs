//! [`Mark`]: a record between calls: a fault the simulation injected, or a
//! note the run wrote.

/// A fault or note record of a scenario (format version 2). Marks are not
/// calls: a [`Replayer`](crate::Replayer) skips them, and they do not take
/// a call index.
#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    /// How many calls came before it (the index of the next call).
    pub before_call: usize,
    /// Virtual time, when a simulation set one.
    pub at_us: Option<u64>,
    /// The node (lane) it belongs to, when the run said.
    pub node: Option<String>,
    /// What it marks.
    pub kind: MarkKind,
    /// 1-based line in the file where the record starts (0 when built in
    /// memory).
    pub line: usize,
}

/// What a [`Mark`] marks.
#[derive(Debug, Clone, PartialEq)]
pub enum MarkKind {
    /// A fault point fired (`Sim::fault`): its name, and what it did when
    /// the simulation said.
    Fault {
        /// The fault point, e.g. `"net::drop"`.
        point: String,
        /// What happened, e.g. `"n0 -> n2: Append(..)"`.
        detail: Option<String>,
    },
    /// A note the run wrote (`Sim::note`).
    Note {
        /// The text.
        text: String,
    },
}
