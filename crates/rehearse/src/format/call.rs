//! [`Call`]: one recorded world call, and the one writer of call lines.

use std::fmt::Write as _;

use crate::ron::{Value, write_str};

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
    /// The node (lane) the call belongs to, when the run said (format
    /// version 2).
    pub node: Option<String>,
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
        let mut s = String::new();
        write_call_head(&mut s, self.index, self.at_us, self.node.as_deref(), &self.name);
        for (i, v) in self.inputs.iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            let _ = write!(s, "{v}");
        }
        let _ = write!(s, "), out: {})", self.output);
        s
    }

    /// Reads a call record: the fields of a struct that is not a mark.
    /// `node` is a version 2 field.
    pub(super) fn from_fields(
        fields: Vec<(String, Value)>,
        line: usize,
        expected_index: usize,
        version: u32,
    ) -> Result<Self, String> {
        let (mut index, mut name, mut inputs, mut output, mut at_us, mut node) = (None, None, None, None, None, None);
        for (key, value) in fields {
            match key.as_str() {
                "i" => match value {
                    Value::Int(n) if usize::try_from(n).is_ok() => index = usize::try_from(n).ok(),
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
                "at_us" => at_us = Some(super::mark::microseconds("call", value)?),
                "node" if version >= 2 => match value {
                    Value::Str(s) => node = Some(s),
                    other => return Err(format!("call field `node` must be a string, found `{other}`")),
                },
                "node" => {
                    return Err(format!(
                        "the call field `node` needs format version 2 (this file's header says `rehearse: {version}`)"
                    ));
                }
                other => {
                    return Err(format!(
                        "unknown call field `{other}` (expected i, at_us, node, call, in, out)"
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
            node,
            line,
        })
    }
}

/// The start of a call line, up to and including `in: (`: the arguments,
/// `), out: `, the output and `)` follow. `node` comes after `at_us`.
pub(crate) fn write_call_head(s: &mut String, index: usize, at_us: Option<u64>, node: Option<&str>, name: &str) {
    let mut digits = itoa::Buffer::new();
    s.push_str("(i: ");
    s.push_str(digits.format(index));
    s.push_str(", ");
    if let Some(t) = at_us {
        s.push_str("at_us: ");
        s.push_str(digits.format(t));
        s.push_str(", ");
    }
    if let Some(node) = node {
        s.push_str("node: ");
        write_str(s, node);
        s.push_str(", ");
    }
    s.push_str("call: ");
    write_str(s, name);
    s.push_str(", in: (");
}
