//! [`TraceError`]: what is wrong with a scenario file, and where.

use std::io;
use std::path::{Path, PathBuf};

/// What went wrong with a scenario file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceErrorKind {
    /// The file could not be opened, read or written.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The file holds no header at all.
    #[error("empty file: expected a rehearse header on line 1")]
    Empty,
    /// The bytes are not UTF-8.
    #[error("not UTF-8 text (is this a scenario file?)")]
    NotUtf8,
    /// RON that does not parse.
    #[error("{0}")]
    Syntax(String),
    /// Line 1 is not a rehearse header.
    #[error("{0}")]
    Header(String),
    /// Written by a newer rehearse.
    #[error(
        "format version {found} is newer than this rehearse reads (up to {supported}); upgrade rehearse to read it"
    )]
    UnsupportedVersion {
        /// Version in the file.
        found: u32,
        /// Newest version this build reads.
        supported: u32,
    },
    /// The last record is incomplete (the writer was killed mid-line).
    #[error(
        "truncated after call {calls}: the record starting here is incomplete ({calls} complete calls are readable)"
    )]
    Truncated {
        /// Complete calls before the torn record.
        calls: usize,
    },
    /// A record that parses as RON but is not a call.
    #[error("{0}")]
    Record(String),
    /// The background writer stopped.
    #[error("scenario writer failed: {0}")]
    Writer(String),
}

/// A bad scenario file: which file, where, and what was expected. Never a panic.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {kind}", self.path_display(), self.position())]
pub struct TraceError {
    /// The file, when the trace came from one.
    pub path: Option<PathBuf>,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// What went wrong.
    #[source]
    pub kind: TraceErrorKind,
}

impl TraceError {
    pub(crate) fn new(path: Option<&Path>, kind: TraceErrorKind) -> Self {
        Self {
            path: path.map(Path::to_path_buf),
            line: None,
            column: None,
            kind,
        }
    }

    pub(crate) fn at(mut self, line: usize, column: Option<usize>) -> Self {
        self.line = Some(line);
        self.column = column;
        self
    }

    /// For a torn file: how many complete calls precede the torn record.
    pub fn truncated_after(&self) -> Option<usize> {
        match self.kind {
            TraceErrorKind::Truncated { calls } => Some(calls),
            _ => None,
        }
    }

    fn path_display(&self) -> String {
        match &self.path {
            Some(p) => p.display().to_string(),
            None => "<memory>".to_string(),
        }
    }

    fn position(&self) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!(":{l}:{c}"),
            (Some(l), None) => format!(":{l}"),
            _ => String::new(),
        }
    }
}
