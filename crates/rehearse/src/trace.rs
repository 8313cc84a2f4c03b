//! Scenario files: the header, call records, the streaming reader and
//! [`TraceError`]. The format is described in `FORMAT.md`.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use crate::value::{ParseError, Parser, Value, write_str_literal};

/// The scenario format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

/// Line 1 of a scenario file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Header {
    /// Format version (`rehearse: 1`).
    pub version: u32,
    /// Name and version of the tool that wrote the file.
    pub tool: String,
    /// Wall-clock creation time (RFC 3339), for recordings of real runs.
    /// Simulations leave it out so that the same seed gives the same bytes.
    pub created: Option<String>,
    /// The seed, for simulated runs.
    pub seed: Option<u64>,
    /// The world traits recorded, when the writer said.
    pub worlds: Vec<String>,
    /// Free-form metadata.
    pub meta: BTreeMap<String, String>,
}

impl Header {
    /// A header for this build's format version and tool.
    pub fn new() -> Self {
        Self {
            version: FORMAT_VERSION,
            tool: concat!("rehearse ", env!("CARGO_PKG_VERSION")).to_string(),
            ..Self::default()
        }
    }

    /// The header as one line of RON (no newline).
    pub fn to_line(&self) -> String {
        let mut s = String::with_capacity(96);
        let _ = write!(s, "(rehearse: {}, tool: ", self.version);
        let _ = write_str_literal(&mut s, &self.tool);
        if let Some(created) = &self.created {
            s.push_str(", created: ");
            let _ = write_str_literal(&mut s, created);
        }
        if let Some(seed) = self.seed {
            let _ = write!(s, ", seed: {seed}");
        }
        if !self.worlds.is_empty() {
            s.push_str(", worlds: [");
            for (i, w) in self.worlds.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                let _ = write_str_literal(&mut s, w);
            }
            s.push(']');
        }
        if !self.meta.is_empty() {
            s.push_str(", meta: {");
            for (i, (k, v)) in self.meta.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                let _ = write_str_literal(&mut s, k);
                s.push_str(": ");
                let _ = write_str_literal(&mut s, v);
            }
            s.push('}');
        }
        s.push(')');
        s
    }

    fn from_value(v: &Value) -> Result<Self, String> {
        let Value::Struct(_, _) = v else {
            return Err(format!(
                "not a rehearse scenario: line 1 must be a header like `(rehearse: {FORMAT_VERSION}, tool: \"...\")`, found a {}",
                v.kind()
            ));
        };
        let version = match v.field("rehearse") {
            Some(Value::Int(n)) if *n >= 0 && *n <= i128::from(u32::MAX) => *n as u32,
            Some(other) => {
                return Err(format!(
                    "header field `rehearse` must be a version number, found `{other}`"
                ));
            }
            None => {
                return Err(format!(
                    "not a rehearse scenario: the header has no `rehearse: {FORMAT_VERSION}` version field"
                ));
            }
        };
        let text = |name: &str| -> Result<Option<String>, String> {
            match v.field(name) {
                None | Some(Value::Option(None)) => Ok(None),
                Some(Value::Str(s)) => Ok(Some(s.clone())),
                Some(Value::Option(Some(b))) if matches!(**b, Value::Str(_)) => Ok(b.as_str().map(str::to_string)),
                Some(other) => Err(format!("header field `{name}` must be a string, found `{other}`")),
            }
        };
        let seed = match v.field("seed") {
            None | Some(Value::Option(None)) => None,
            Some(Value::Int(n)) if *n >= 0 && *n <= i128::from(u64::MAX) => Some(*n as u64),
            Some(Value::Option(Some(b))) if matches!(**b, Value::Int(n) if n >= 0 && n <= i128::from(u64::MAX)) => {
                match **b {
                    Value::Int(n) => Some(n as u64),
                    _ => None,
                }
            }
            Some(other) => {
                return Err(format!(
                    "header field `seed` must be an unsigned integer, found `{other}`"
                ));
            }
        };
        let worlds = match v.field("worlds") {
            None => Vec::new(),
            Some(Value::List(items)) => items
                .iter()
                .map(|w| {
                    w.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("header field `worlds` must list strings, found `{w}`"))
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(format!("header field `worlds` must be a list, found `{other}`")),
        };
        let meta = match v.field("meta") {
            None => BTreeMap::new(),
            Some(Value::Map(entries)) => entries
                .iter()
                .map(|(k, v)| match (k, v) {
                    (Value::Str(k), Value::Str(v)) => Ok((k.clone(), v.clone())),
                    (Value::Str(k), v) => Ok((k.clone(), v.to_string())),
                    _ => Err(format!(
                        "header field `meta` must map strings to values, found key `{k}`"
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(format!("header field `meta` must be a map, found `{other}`")),
        };
        Ok(Self {
            version,
            tool: text("tool")?.unwrap_or_default(),
            created: text("created")?,
            seed,
            worlds,
            meta,
        })
    }
}

/// One recorded world call.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// Position in the scenario, from 0.
    pub index: usize,
    /// `Trait::method`.
    pub name: String,
    /// Arguments in declaration order (`&self` excluded).
    pub inputs: Vec<Value>,
    /// What the call returned (errors included).
    pub output: Value,
    /// Virtual time of the call in microseconds, when a simulation set one.
    pub at_us: Option<u64>,
    /// 1-based line in the file where the record starts.
    pub line: usize,
}

impl Call {
    /// `Trait::method("a", 1)`: the call as one readable line, without output.
    pub fn signature(&self) -> String {
        let mut s = self.name.clone();
        s.push('(');
        for (i, v) in self.inputs.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            let _ = write!(s, "{v}");
        }
        s.push(')');
        s
    }

    /// The record as one line of RON, exactly as the writer produces it.
    pub fn to_line(&self) -> String {
        let mut inputs = String::new();
        for (i, v) in self.inputs.iter().enumerate() {
            if i > 0 {
                inputs.push_str(", ");
            }
            let _ = write!(inputs, "{v}");
        }
        format_call(self.index, self.at_us, &self.name, &inputs, &self.output.to_string())
    }

    fn from_value(v: Value, line: usize, expected_index: usize) -> Result<Self, String> {
        let Value::Struct(_, fields) = v else {
            return Err(format!(
                "expected a call record `(i: {expected_index}, call: \"Trait::method\", in: (...), out: ...)`, found a {}",
                v.kind()
            ));
        };
        let (mut index, mut name, mut inputs, mut output, mut at_us) = (None, None, None, None, None);
        for (key, value) in fields {
            match key.as_str() {
                "i" => match value {
                    Value::Int(n) if n >= 0 => index = Some(n as usize),
                    other => return Err(format!("call field `i` must be an index, found `{other}`")),
                },
                "call" => match value {
                    Value::Str(s) => name = Some(s),
                    other => return Err(format!("call field `call` must be a string, found `{other}`")),
                },
                "in" => {
                    inputs = Some(match value {
                        Value::Unit => Vec::new(),
                        Value::Tuple(None, items) => items,
                        other => return Err(format!("call field `in` must be a tuple of arguments, found `{other}`")),
                    })
                }
                "out" => output = Some(value),
                "at_us" => match value {
                    Value::Int(n) if n >= 0 && n <= i128::from(u64::MAX) => at_us = Some(n as u64),
                    other => return Err(format!("call field `at_us` must be microseconds, found `{other}`")),
                },
                other => {
                    return Err(format!(
                        "unknown call field `{other}` (expected i, at_us, call, in, out)"
                    ));
                }
            }
        }
        if let Some(i) = index {
            if i != expected_index {
                return Err(format!(
                    "calls out of order: expected `i: {expected_index}`, found `i: {i}` (was a record deleted or duplicated?)"
                ));
            }
        }
        Ok(Self {
            index: expected_index,
            name: name.ok_or("call record has no `call` field")?,
            inputs: inputs.ok_or("call record has no `in` field")?,
            output: output.ok_or("call record has no `out` field")?,
            at_us,
            line,
        })
    }
}

/// Formats one call record line (no newline). `inputs` is the RON of the
/// arguments separated by `, ` (no parentheses); `output` is RON.
pub fn format_call(index: usize, at_us: Option<u64>, name: &str, inputs: &str, output: &str) -> String {
    let mut s = String::new();
    format_call_into(&mut s, index, at_us, name, inputs, output);
    s
}

/// [`format_call`], appended to `s` (no newline).
pub fn format_call_into(s: &mut String, index: usize, at_us: Option<u64>, name: &str, inputs: &str, output: &str) {
    s.reserve(48 + name.len() + output.len() + inputs.len());
    format_call_head(s, index, at_us, name);
    s.push_str(inputs);
    s.push_str("), out: ");
    s.push_str(output);
    s.push(')');
}

/// The start of a call line, up to and including `in: (`: the arguments,
/// `), out: `, the output and `)` follow.
pub(crate) fn format_call_head(s: &mut String, index: usize, at_us: Option<u64>, name: &str) {
    let mut digits = itoa::Buffer::new();
    s.push_str("(i: ");
    s.push_str(digits.format(index));
    s.push_str(", ");
    if let Some(t) = at_us {
        s.push_str("at_us: ");
        s.push_str(digits.format(t));
        s.push_str(", ");
    }
    s.push_str("call: ");
    let _ = write_str_literal(s, name);
    s.push_str(", in: (");
}

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

/// Tracks whether the text read so far ends inside a bracket, string or
/// comment, so the reader knows when a (possibly multi-line) record is whole.
#[derive(Debug, Default)]
struct Balance {
    depth: usize,
    in_string: bool,
    raw_hashes: Option<usize>,
    comment_nesting: usize,
}

impl Balance {
    fn feed(&mut self, line: &str) {
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if self.comment_nesting > 0 {
                if b[i..].starts_with(b"*/") {
                    self.comment_nesting -= 1;
                    i += 2;
                } else if b[i..].starts_with(b"/*") {
                    self.comment_nesting += 1;
                    i += 2;
                } else {
                    i += 1;
                }
                continue;
            }
            if self.in_string {
                match self.raw_hashes {
                    Some(h) => {
                        if b[i] == b'"' && b[i + 1..].iter().take(h).filter(|c| **c == b'#').count() == h {
                            self.in_string = false;
                            i += 1 + h;
                            continue;
                        }
                    }
                    None => {
                        if b[i] == b'\\' {
                            i += 2;
                            continue;
                        }
                        if b[i] == b'"' {
                            self.in_string = false;
                        }
                    }
                }
                i += 1;
                continue;
            }
            match b[i] {
                b'"' => {
                    let raw = i > 0 && (b[i - 1] == b'r' || b[i - 1] == b'#') && {
                        let hashes = b[..i].iter().rev().take_while(|c| **c == b'#').count();
                        i > hashes && b[i - 1 - hashes] == b'r'
                    };
                    self.in_string = true;
                    self.raw_hashes = if raw {
                        Some(b[..i].iter().rev().take_while(|c| **c == b'#').count())
                    } else {
                        None
                    };
                }
                b'\'' => {
                    // A char literal: skip `'x'` or `'\x'` whole.
                    if b.get(i + 1) == Some(&b'\\') {
                        i += 1;
                    }
                    i += 2;
                    // Multi-byte characters: move to the closing quote.
                    while i < b.len() && b[i] != b'\'' {
                        i += 1;
                    }
                }
                b'/' if b.get(i + 1) == Some(&b'/') => return,
                b'/' if b.get(i + 1) == Some(&b'*') => {
                    self.comment_nesting = 1;
                    i += 1;
                }
                b'(' | b'[' | b'{' => self.depth += 1,
                b')' | b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
            i += 1;
        }
    }

    fn whole(&self) -> bool {
        self.depth == 0 && !self.in_string && self.comment_nesting == 0
    }
}

/// Reads a scenario one record at a time, without loading the whole file.
///
/// Records may span several lines (hand-written, pretty-printed); a record
/// is parsed as soon as its brackets close.
pub struct TraceReader<R> {
    src: R,
    path: Option<PathBuf>,
    header: Header,
    /// Lines consumed so far.
    line: usize,
    calls: usize,
    done: bool,
    buf: Vec<u8>,
}

impl<R: BufRead> TraceReader<R> {
    /// Reads and checks the header. `path` is only used in error messages.
    pub fn new(src: R, path: Option<&Path>) -> Result<Self, TraceError> {
        let mut reader = Self {
            src,
            path: path.map(Path::to_path_buf),
            header: Header::default(),
            line: 0,
            calls: 0,
            done: false,
            buf: Vec::new(),
        };
        let first = reader.next_value().map_err(|e| match e.kind {
            TraceErrorKind::Truncated { .. } => TraceError {
                kind: TraceErrorKind::Header(
                    "the header is incomplete: the file was cut off while its first line was written".into(),
                ),
                ..e
            },
            _ => e,
        })?;
        let Some((start, value)) = first else {
            return Err(reader.error(TraceErrorKind::Empty));
        };
        let header = Header::from_value(&value).map_err(|m| reader.error(TraceErrorKind::Header(m)).at(start, None))?;
        if header.version > FORMAT_VERSION {
            return Err(reader
                .error(TraceErrorKind::UnsupportedVersion {
                    found: header.version,
                    supported: FORMAT_VERSION,
                })
                .at(start, None));
        }
        reader.header = header;
        Ok(reader)
    }

    /// The scenario's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    fn error(&self, kind: TraceErrorKind) -> TraceError {
        TraceError::new(self.path.as_deref(), kind)
    }

    /// The next complete top-level value and the line it starts on.
    fn next_value(&mut self) -> Result<Option<(usize, Value)>, TraceError> {
        let mut text = String::new();
        let mut start_line = 0;
        let mut balance = Balance::default();
        loop {
            self.buf.clear();
            let n = self
                .src
                .read_until(b'\n', &mut self.buf)
                .map_err(|e| self.error(TraceErrorKind::Io(e)).at(self.line + 1, None))?;
            if n == 0 {
                if text.trim().is_empty() {
                    return Ok(None);
                }
                // Whole but unparsed text at the end means a syntax error;
                // unbalanced text means the writer was cut off.
                return match parse_one(&text) {
                    Ok(v) if balance.whole() => Ok(Some((start_line, v))),
                    Err(e) if !e.at_end => Err(self.syntax(start_line, &e)),
                    _ => Err(self
                        .error(TraceErrorKind::Truncated { calls: self.calls })
                        .at(start_line, None)),
                };
            }
            self.line += 1;
            let line = match std::str::from_utf8(&self.buf) {
                Ok(l) => l,
                Err(e) => {
                    let column = String::from_utf8_lossy(&self.buf[..e.valid_up_to()]).chars().count() + 1;
                    return Err(self.error(TraceErrorKind::NotUtf8).at(self.line, Some(column)));
                }
            };
            if is_trivia(&text) {
                text.clear();
                start_line = self.line;
            } else if line.trim_start().starts_with("(i:") {
                // The writer puts each record on its own line; a new record
                // while the previous one is still open means that one is broken.
                return Err(self
                    .error(TraceErrorKind::Syntax(
                        "this record is never closed (a `)`, `]`, `}` or `\"` is missing) before the next record starts".into(),
                    ))
                    .at(start_line, None));
            }
            text.push_str(line);
            balance.feed(line);
            if balance.whole() && !is_trivia(&text) {
                return match parse_one(&text) {
                    Ok(v) => Ok(Some((start_line, v))),
                    Err(e) if e.at_end && !line.ends_with('\n') => Err(self
                        .error(TraceErrorKind::Truncated { calls: self.calls })
                        .at(start_line, None)),
                    Err(e) => Err(self.syntax(start_line, &e)),
                };
            }
        }
    }

    fn syntax(&self, start_line: usize, e: &ParseError) -> TraceError {
        self.error(TraceErrorKind::Syntax(e.message.clone()))
            .at(start_line + e.line - 1, Some(e.column))
    }
}

fn is_trivia(text: &str) -> bool {
    let mut p = Parser::new(text);
    p.skip_trivia().is_ok() && p.pos == text.len()
}

fn parse_one(text: &str) -> Result<Value, ParseError> {
    Value::parse(text)
}

impl<R: BufRead> Iterator for TraceReader<R> {
    type Item = Result<Call, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = match self.next_value() {
            Ok(None) => {
                self.done = true;
                return None;
            }
            Ok(Some((line, value))) => Call::from_value(value, line, self.calls)
                .map_err(|m| self.error(TraceErrorKind::Record(m)).at(line, None)),
            Err(e) => Err(e),
        };
        match &result {
            Ok(_) => self.calls += 1,
            Err(_) => self.done = true,
        }
        Some(result)
    }
}

/// A parsed scenario: header and calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    path: Option<PathBuf>,
    header: Header,
    calls: Vec<Call>,
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
        let mut truncated = false;
        for call in reader.by_ref() {
            match call {
                Ok(c) => calls.push(c),
                Err(e) if recover && e.truncated_after().is_some() => truncated = true,
                Err(e) => return Err(e),
            }
        }
        Ok(Self {
            path: path.map(Path::to_path_buf),
            header: reader.header,
            calls,
            truncated,
        })
    }

    /// Builds a trace from parts (for tools and simulations).
    pub fn from_parts(header: Header, calls: Vec<Call>) -> Self {
        Self {
            path: None,
            header,
            calls,
            truncated: false,
        }
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

    /// True when [`Trace::recover`] dropped a torn last record.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// The whole trace in the writer's format (header line, one call per line).
    pub fn to_ron(&self) -> String {
        let mut s = self.header.to_line();
        s.push('\n');
        for c in &self.calls {
            s.push_str(&c.to_line());
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
