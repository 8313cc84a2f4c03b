//! [`TraceReader`]: reads a scenario one record at a time.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::{Call, FORMAT_VERSION, Header, Mark, TraceError, TraceErrorKind};
use crate::ron::{ParseError, Parser, Value};

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
                        // (`take_while`: a quote followed by few `#`s costs
                        // few steps, however many the string needs)
                        if b[i] == b'"' && b[i + 1..].iter().take(h).take_while(|c| **c == b'#').count() == h {
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

/// One record of a scenario after the header: a call, or (format version
/// 2) a fault or note mark between calls.
#[derive(Debug, Clone, PartialEq)]
pub enum TraceRecord {
    /// A world call.
    Call(Call),
    /// A fault or note.
    Mark(Mark),
}

/// Reads a scenario one record at a time, without loading the whole file.
///
/// Records may span several lines (hand-written, pretty-printed); a record
/// is parsed as soon as its brackets close. As an iterator it yields the
/// calls and skips the marks; [`TraceReader::next_record`] yields both.
pub struct TraceReader<R> {
    src: R,
    path: Option<PathBuf>,
    pub(super) header: Header,
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
                return match Value::parse(&text) {
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
            if text.is_empty() {
                start_line = self.line;
            } else if balance.comment_nesting == 0 && starts_record(line) {
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
            // Judged once the brackets, strings and comments close, not at
            // every line: a comment left open for many lines is read once.
            if balance.whole() && is_trivia(&text) {
                text.clear();
            } else if balance.whole() {
                return match Value::parse(&text) {
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

/// True for a line that starts a record the way the writer writes them:
/// a call (`(i: `) or a mark (`(at_us: `, `(fault: `, `(note: `).
fn starts_record(line: &str) -> bool {
    let line = line.trim_start();
    ["(i:", "(at_us:", "(fault:", "(note:"]
        .iter()
        .any(|p| line.starts_with(p))
}

fn is_trivia(text: &str) -> bool {
    let mut p = Parser::new(text);
    p.skip_trivia().is_ok() && p.pos == text.len()
}

impl<R: BufRead> TraceReader<R> {
    /// The next record, call or mark; `None` at the end of the file. After
    /// an error, the reader stops.
    pub fn next_record(&mut self) -> Option<Result<TraceRecord, TraceError>> {
        if self.done {
            return None;
        }
        let result = match self.next_value() {
            Ok(None) => {
                self.done = true;
                return None;
            }
            Ok(Some((line, value))) => self
                .record(value, line)
                .map_err(|m| self.error(TraceErrorKind::Record(m)).at(line, None)),
            Err(e) => Err(e),
        };
        match &result {
            Ok(TraceRecord::Call(_)) => self.calls += 1,
            Ok(TraceRecord::Mark(_)) => {}
            Err(_) => self.done = true,
        }
        Some(result)
    }

    /// A record from its value: a mark when it has a `fault` or `note`
    /// field and no `call` field, else a call.
    fn record(&self, value: Value, line: usize) -> Result<TraceRecord, String> {
        let Value::Struct(_, fields) = value else {
            return Err(format!(
                "expected a call record `(i: {}, call: \"Trait::method\", in: (...), out: ...)`, found a {}",
                self.calls,
                value.kind()
            ));
        };
        let has = |name: &str| fields.iter().any(|(k, _)| k == name);
        let version = self.header.version;
        if !has("call") && (has("fault") || has("note")) {
            if version < 2 {
                let what = if has("fault") { "fault" } else { "note" };
                return Err(format!(
                    "{what} records need format version 2 (this file's header says `rehearse: {version}`)"
                ));
            }
            return Mark::from_fields(fields, line, self.calls).map(TraceRecord::Mark);
        }
        Call::from_fields(fields, line, self.calls, version).map(TraceRecord::Call)
    }
}

impl<R: BufRead> Iterator for TraceReader<R> {
    type Item = Result<Call, TraceError>;

    /// The next call: marks before it are read and skipped.
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.next_record()? {
                Ok(TraceRecord::Call(c)) => return Some(Ok(c)),
                Ok(TraceRecord::Mark(_)) => {}
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
