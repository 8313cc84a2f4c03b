//! [`Mark`]: a record between calls: a fault the simulation injected, or a
//! note the run wrote; and the one writer of mark lines.

use crate::ron::{Value, write_str};

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

impl MarkKind {
    pub(crate) fn as_text(&self) -> MarkText<'_> {
        match self {
            Self::Fault { point, detail } => MarkText::Fault {
                point,
                detail: detail.as_deref(),
            },
            Self::Note { text } => MarkText::Note(text),
        }
    }
}

impl Mark {
    /// The record as one line of RON, exactly as the writer produces it:
    /// `(at_us: 1500, node: "n1", fault: "net::drop", detail: "...")`.
    pub fn to_line(&self) -> String {
        let mut s = String::new();
        write_mark_line(&mut s, self.at_us, self.node.as_deref(), self.kind.as_text());
        s
    }

    /// Reads a mark record (a struct with a `fault` or `note` field).
    pub(super) fn from_fields(fields: Vec<(String, Value)>, line: usize, before_call: usize) -> Result<Self, String> {
        let what = if fields.iter().any(|(k, _)| k == "fault") {
            "fault"
        } else {
            "note"
        };
        let expected = if what == "fault" {
            "at_us, node, fault, detail"
        } else {
            "at_us, node, note"
        };
        let (mut at_us, mut node, mut point, mut detail, mut text) = (None, None, None, None, None);
        for (key, value) in fields {
            let string = |value: Value| match value {
                Value::Str(s) => Ok(s),
                other => Err(format!("{what} field `{key}` must be a string, found `{other}`")),
            };
            match key.as_str() {
                "at_us" => at_us = Some(microseconds(what, value)?),
                "node" => node = Some(string(value)?),
                "fault" if what == "fault" => point = Some(string(value)?),
                "detail" if what == "fault" => detail = Some(string(value)?),
                "note" if what == "note" => text = Some(string(value)?),
                "note" => return Err("a record is a fault or a note, not both".into()),
                "i" => {
                    return Err(format!(
                        "unknown {what} field `i` (expected {expected}): marks take no call index"
                    ));
                }
                other => return Err(format!("unknown {what} field `{other}` (expected {expected})")),
            }
        }
        let kind = match (point, text) {
            (Some(point), None) => MarkKind::Fault { point, detail },
            (None, Some(text)) => MarkKind::Note { text },
            // `what` comes from the fields, so one of them is there.
            _ => return Err(format!("{what} record without its `{what}` field")),
        };
        Ok(Self {
            before_call,
            at_us,
            node,
            kind,
            line,
        })
    }
}

/// `at_us` of any record: microseconds.
pub(super) fn microseconds(what: &str, value: Value) -> Result<u64, String> {
    match value {
        Value::Int(n) if n >= 0 && n <= i128::from(u64::MAX) => Ok(n as u64),
        other => Err(format!("{what} field `at_us` must be microseconds, found `{other}`")),
    }
}

/// A mark's contents, borrowed: what the tape writers and [`Mark::to_line`]
/// render.
#[derive(Debug, Clone, Copy)]
pub(crate) enum MarkText<'a> {
    Fault { point: &'a str, detail: Option<&'a str> },
    Note(&'a str),
}

impl MarkText<'_> {
    /// The owned form.
    pub(crate) fn to_kind(self) -> MarkKind {
        match self {
            Self::Fault { point, detail } => MarkKind::Fault {
                point: point.to_string(),
                detail: detail.map(str::to_string),
            },
            Self::Note(text) => MarkKind::Note { text: text.to_string() },
        }
    }
}

/// Writes one mark line (no newline): `at_us` and `node` when set, then
/// `fault` (and `detail`) or `note`.
pub(crate) fn write_mark_line(s: &mut String, at_us: Option<u64>, node: Option<&str>, mark: MarkText<'_>) {
    s.push('(');
    if let Some(t) = at_us {
        s.push_str("at_us: ");
        s.push_str(itoa::Buffer::new().format(t));
        s.push_str(", ");
    }
    if let Some(node) = node {
        s.push_str("node: ");
        write_str(s, node);
        s.push_str(", ");
    }
    match mark {
        MarkText::Fault { point, detail } => {
            s.push_str("fault: ");
            write_str(s, point);
            if let Some(detail) = detail {
                s.push_str(", detail: ");
                write_str(s, detail);
            }
        }
        MarkText::Note(text) => {
            s.push_str("note: ");
            write_str(s, text);
        }
    }
    s.push(')');
}
