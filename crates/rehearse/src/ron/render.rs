//! Compact RON of a [`Value`], optionally marking where a sub-value
//! lies in the text.

use std::fmt::Write as _;

use super::diff::Step;
use super::value::Value;
use super::write::{write_char_literal, write_float, write_identifier, write_str};

pub(super) struct Renderer<'t> {
    pub(super) out: String,
    pub(super) path: Vec<Step>,
    pub(super) target: Option<&'t [Step]>,
    pub(super) span: Option<(usize, usize)>,
}

impl Renderer<'_> {
    fn nested(&mut self, step: Step, v: &Value) {
        if self.target.is_some() {
            self.path.push(step);
            self.value(v);
            self.path.pop();
        } else {
            self.value(v);
        }
    }

    pub(super) fn value(&mut self, v: &Value) {
        let start = self.out.len();
        self.write(v);
        if self.target == Some(self.path.as_slice()) {
            self.span = Some((start, self.out.len()));
        }
    }

    fn write(&mut self, v: &Value) {
        let out = &mut self.out;
        match v {
            Value::Unit => out.push_str("()"),
            Value::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(x) => write_float(out, *x, |out| {
                let _ = write!(out, "{x:?}");
            }),
            Value::Char(c) => write_char_literal(out, *c),
            Value::Str(s) => write_str(out, s),
            Value::Bytes(b) => write_bytes(out, b),
            Value::Option(None) => out.push_str("None"),
            Value::Option(Some(inner)) => {
                out.push_str("Some(");
                self.nested(Step::Some, inner);
                self.out.push(')');
            }
            Value::List(items) => {
                out.push('[');
                self.items(items);
                self.out.push(']');
            }
            Value::Map(entries) => self.map(entries),
            Value::Tuple(name, items) => {
                if let Some(n) = name {
                    write_identifier(out, n);
                }
                self.out.push('(');
                self.items(items);
                self.out.push(')');
            }
            Value::Struct(name, fields) => self.structure(name.as_deref(), fields),
            Value::Ident(n) => write_identifier(out, n),
        }
    }

    fn map(&mut self, entries: &[(Value, Value)]) {
        self.out.push('{');
        for (i, (k, v)) in entries.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.value_untracked(k);
            self.out.push_str(": ");
            let key = if self.target.is_some() {
                k.to_string()
            } else {
                String::new()
            };
            self.nested(Step::Key(key), v);
        }
        self.out.push('}');
    }

    fn structure(&mut self, name: Option<&str>, fields: &[(String, Value)]) {
        if let Some(n) = name {
            write_identifier(&mut self.out, n);
        }
        self.out.push('(');
        for (i, (k, v)) in fields.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            write_identifier(&mut self.out, k);
            self.out.push_str(": ");
            let step = if self.target.is_some() {
                Step::Field(k.clone())
            } else {
                Step::Index(0)
            };
            self.nested(step, v);
        }
        self.out.push(')');
    }

    fn value_untracked(&mut self, v: &Value) {
        let target = self.target.take();
        self.value(v);
        self.target = target;
    }

    fn items(&mut self, items: &[Value]) {
        for (i, v) in items.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.nested(Step::Index(i), v);
        }
    }
}

/// A byte string literal as `Value` displays it: printable ASCII as is,
/// everything else as `\xNN` (the writer escapes bytes differently; see
/// `ron::write`).
fn write_bytes(out: &mut String, bytes: &[u8]) {
    out.push_str("b\"");
    for byte in bytes {
        let _ = match byte {
            b'"' => write!(out, "\\\""),
            b'\\' => write!(out, "\\\\"),
            0x20..=0x7e => write!(out, "{}", *byte as char),
            _ => write!(out, "\\x{byte:02x}"),
        };
    }
    out.push('"');
}
