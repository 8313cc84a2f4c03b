//! Scenario files: [`Trace`] (a parsed file), its [`Header`], [`Call`]s
//! and [`Mark`]s, the streaming [`TraceReader`], and [`TraceError`]. What follows is
//! `FORMAT.md`, the description of the format.
//!
#![doc = include_str!("../../FORMAT.md")]

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

mod call;
mod error;
mod header;
mod mark;
mod reader;

pub use call::Call;
pub(crate) use call::write_call_head;
pub use error::{TraceError, TraceErrorKind};
pub use header::{Header, RunFailure};
pub use mark::{Mark, MarkKind};
pub(crate) use mark::{MarkText, write_mark_line};
pub use reader::{TraceReader, TraceRecord};

/// The scenario format version this build writes and the newest it reads
/// (it reads every older one too).
pub const FORMAT_VERSION: u32 = 2;

/// A parsed scenario: header, calls and the marks between them.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    path: Option<PathBuf>,
    header: Header,
    calls: Vec<Call>,
    marks: Vec<Mark>,
    truncated: bool,
}

impl Trace {
    /// Reads a scenario file. A torn last record is an error
    /// ([`TraceErrorKind::Truncated`]); use [`Trace::recover`] to keep the
    /// complete calls before it.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, TraceError> {
        Self::read_inner(path.as_ref(), false)
    }

    /// Reads a scenario file, keeping the complete calls before a torn last
    /// record (see [`Trace::is_truncated`]). Other errors are still errors.
    pub fn recover(path: impl AsRef<Path>) -> Result<Self, TraceError> {
        Self::read_inner(path.as_ref(), true)
    }

    fn read_inner(path: &Path, recover: bool) -> Result<Self, TraceError> {
        let file = File::open(path).map_err(|e| TraceError::new(Some(path), TraceErrorKind::Io(e)))?;
        Self::from_reader(BufReader::new(file), Some(path), recover)
    }

    /// Parses a scenario held in a string.
    pub fn parse(text: &str) -> Result<Self, TraceError> {
        Self::from_reader(text.as_bytes(), None, false)
    }

    /// Parses a scenario from any reader; `path` names it in errors.
    pub fn from_reader(src: impl BufRead, path: Option<&Path>, recover: bool) -> Result<Self, TraceError> {
        let mut reader = TraceReader::new(src, path)?;
        let mut calls = Vec::new();
        let mut marks = Vec::new();
        let mut truncated = false;
        while let Some(record) = reader.next_record() {
            match record {
                Ok(TraceRecord::Call(c)) => calls.push(c),
                Ok(TraceRecord::Mark(m)) => marks.push(m),
                Err(e) if recover && e.truncated_after().is_some() => truncated = true,
                Err(e) => return Err(e),
            }
        }
        Ok(Self {
            path: path.map(Path::to_path_buf),
            header: reader.header,
            calls,
            marks,
            truncated,
        })
    }

    /// Builds a trace from parts (for tools and simulations).
    pub fn from_parts(header: Header, calls: Vec<Call>) -> Self {
        Self {
            path: None,
            header,
            calls,
            marks: Vec::new(),
            truncated: false,
        }
    }

    /// The same trace with these marks (for tools and simulations).
    pub fn with_marks(mut self, marks: Vec<Mark>) -> Self {
        self.marks = marks;
        self
    }

    /// The file this trace was read from.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The calls, in recorded order.
    pub fn calls(&self) -> &[Call] {
        &self.calls
    }

    /// The fault and note records between the calls, in file order (each
    /// says how many calls came before it).
    pub fn marks(&self) -> &[Mark] {
        &self.marks
    }

    /// True when [`Trace::recover`] dropped a torn last record.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// The whole trace in the writer's format (header line, one record per
    /// line): each mark before the call it precedes ([`Mark::before_call`];
    /// marks after the last call at the end, in their order).
    pub fn to_ron(&self) -> String {
        let mut s = self.header.to_line();
        s.push('\n');
        let mut marks = self.marks.iter().peekable();
        for c in &self.calls {
            while let Some(m) = marks.next_if(|m| m.before_call <= c.index) {
                s.push_str(&m.to_line());
                s.push('\n');
            }
            s.push_str(&c.to_line());
            s.push('\n');
        }
        for m in marks {
            s.push_str(&m.to_line());
            s.push('\n');
        }
        s
    }
}

impl fmt::Display for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_ron())
    }
}
