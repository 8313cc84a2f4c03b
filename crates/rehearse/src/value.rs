//! A self-describing tree of RON values that keeps every name.
//!
//! `ron::Value` forgets enum variant and struct names (`Primary` and `Replica`
//! both read back as `()`), which would let a replay accept the wrong input.
//! This tree keeps them, remembers where each value starts in its file (for
//! error messages), and can point at the first place two values differ.
//! It is what scenario files are read into, and what the replayer compares.

use std::fmt::{self, Write as _};

use crate::write::write_identifier;

/// One RON value, with names preserved.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `()`
    Unit,
    /// `true` / `false`
    Bool(bool),
    /// An integer literal (every Rust integer up to 64 bits fits).
    Int(i128),
    /// A float literal, `inf` or `NaN`.
    Float(f64),
    /// A character literal `'c'`.
    Char(char),
    /// A string literal (escapes resolved).
    Str(String),
    /// A byte string literal `b"..."`.
    Bytes(Vec<u8>),
    /// `None` or `Some(value)`.
    Option(Option<Box<Self>>),
    /// `[a, b]`
    List(Vec<Self>),
    /// `{k: v}` in file order.
    Map(Vec<(Self, Self)>),
    /// `(a, b)` or `Name(a, b)`: tuples, tuple structs, newtypes, tuple variants.
    Tuple(Option<String>, Vec<Self>),
    /// `(x: 1)` or `Name(x: 1)`: structs and struct variants.
    Struct(Option<String>, Vec<(String, Self)>),
    /// A bare name: a unit variant or unit struct.
    Ident(String),
}

/// Where a parse failed: 1-based line and column, and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
    /// What the parser expected or found.
    pub message: String,
    /// True when the input ended before the value was complete.
    pub at_end: bool,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for ParseError {}

impl Value {
    /// Parses one complete value; trailing text other than whitespace and
    /// comments is an error.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut parser = Parser::new(text);
        let value = parser.value()?;
        parser.skip_trivia()?;
        if parser.pos < parser.src.len() {
            return Err(parser.error("unexpected text after the value"));
        }
        Ok(value)
    }

    /// Whether `self` (recorded) and `other` (actual) mean the same value.
    ///
    /// Struct and tuple names are optional in RON, so a name present on one
    /// side only is not a difference; integers and floats compare by number.
    pub fn matches(&self, other: &Self) -> bool {
        self.first_difference(other).is_none()
    }

    /// The first place where two values differ, as a path (`.field`, `[2]`,
    /// `.0`) with both sides, or `None` when they match (see [`Value::matches`]).
    pub fn first_difference(&self, other: &Self) -> Option<Difference> {
        diff(self, other, &mut Vec::new())
    }

    /// Short, human description of what kind of value this is.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unit => "()",
            Self::Bool(_) => "bool",
            Self::Int(_) => "integer",
            Self::Float(_) => "float",
            Self::Char(_) => "char",
            Self::Str(_) => "string",
            Self::Bytes(_) => "byte string",
            Self::Option(_) => "option",
            Self::List(_) => "list",
            Self::Map(_) => "map",
            Self::Tuple(..) => "tuple",
            Self::Struct(..) => "struct",
            Self::Ident(_) => "name",
        }
    }

    /// The string inside a `Str`, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A field of a struct value by name.
    pub fn field(&self, name: &str) -> Option<&Self> {
        match self {
            Self::Struct(_, fields) => fields.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// One step of a path into a value.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A struct field.
    Field(String),
    /// A list or tuple element.
    Index(usize),
    /// A map entry, by its key (rendered).
    Key(String),
    /// Inside `Some(...)`.
    Some,
}

/// Renders a path as `.field[2].Some["key"]`.
pub fn path_to_string(steps: &[Step]) -> String {
    let mut s = String::new();
    for step in steps {
        let _ = match step {
            Step::Field(f) => write!(s, ".{f}"),
            Step::Index(i) => write!(s, "[{i}]"),
            Step::Key(k) => write!(s, "[{k}]"),
            Step::Some => write!(s, ".Some"),
        };
    }
    s
}

/// Where two values first differ.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// Path from the root, e.g. `.status.role` or `[1]`; empty for the root.
    pub path: String,
    /// The same path as steps (see [`Value::render_marked`]).
    pub steps: Vec<Step>,
    /// The recorded side, as compact RON.
    pub expected: String,
    /// The actual side, as compact RON.
    pub actual: String,
}

fn differ(path: &[Step], a: &Value, b: &Value) -> Option<Difference> {
    Some(Difference {
        path: path_to_string(path),
        steps: path.to_vec(),
        expected: a.to_string(),
        actual: b.to_string(),
    })
}

fn names_match(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    }
}

fn diff(a: &Value, b: &Value, path: &mut Vec<Step>) -> Option<Difference> {
    use Value::*;
    match (a, b) {
        (Int(x), Float(y)) | (Float(y), Int(x)) => {
            if (*x as f64) == *y {
                None
            } else {
                differ(path, a, b)
            }
        }
        (Float(x), Float(y)) => {
            if x == y || (x.is_nan() && y.is_nan()) {
                None
            } else {
                differ(path, a, b)
            }
        }
        (Option(Some(x)), Option(Some(y))) => nested(path, Step::Some, x, y),
        (List(xs), List(ys)) => diff_seq(a, b, xs, ys, path),
        (Tuple(n, xs), Tuple(m, ys)) if names_match(n, m) => diff_seq(a, b, xs, ys, path),
        (Struct(n, xs), Struct(m, ys)) if names_match(n, m) => {
            if xs.len() != ys.len() || xs.iter().zip(ys).any(|((k, _), (j, _))| k != j) {
                return differ(path, a, b);
            }
            xs.iter()
                .zip(ys)
                .find_map(|((k, x), (_, y))| nested(path, Step::Field(k.clone()), x, y))
        }
        (Map(xs), Map(ys)) => {
            if xs.len() != ys.len() || xs.iter().zip(ys).any(|((k, _), (j, _))| !k.matches(j)) {
                return differ(path, a, b);
            }
            xs.iter()
                .zip(ys)
                .find_map(|((k, x), (_, y))| nested(path, Step::Key(k.to_string()), x, y))
        }
        _ => {
            if a == b {
                None
            } else {
                differ(path, a, b)
            }
        }
    }
}

fn nested(path: &mut Vec<Step>, step: Step, x: &Value, y: &Value) -> Option<Difference> {
    path.push(step);
    let d = diff(x, y, path);
    path.pop();
    d
}

fn diff_seq(a: &Value, b: &Value, xs: &[Value], ys: &[Value], path: &mut Vec<Step>) -> Option<Difference> {
    if xs.len() != ys.len() {
        return differ(path, a, b);
    }
    xs.iter()
        .zip(ys)
        .enumerate()
        .find_map(|(i, (x, y))| nested(path, Step::Index(i), x, y))
}

/// Writes `s` as a RON string literal, escaped exactly as the writer does.
pub(crate) fn write_str_literal(out: &mut String, s: &str) -> fmt::Result {
    crate::write::write_escaped_str(out, s);
    Ok(())
}

impl Value {
    /// Renders compact RON and the character range (start, end) of the
    /// sub-value at `target`, to point at it under the rendered text.
    pub fn render_marked(&self, target: &[Step]) -> (String, Option<(usize, usize)>) {
        let mut r = Renderer {
            out: String::new(),
            path: Vec::new(),
            target: Some(target),
            span: None,
        };
        r.value(self);
        let span = r
            .span
            .map(|(a, b)| (r.out[..a].chars().count(), r.out[..b].chars().count()));
        (r.out, span)
    }
}

struct Renderer<'t> {
    out: String,
    path: Vec<Step>,
    target: Option<&'t [Step]>,
    span: Option<(usize, usize)>,
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

    fn value(&mut self, v: &Value) {
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
            Value::Float(x) => {
                let _ = if x.is_nan() {
                    write!(out, "NaN")
                } else if x.is_infinite() {
                    write!(out, "{}", if *x > 0.0 { "inf" } else { "-inf" })
                } else {
                    write!(out, "{x:?}")
                };
            }
            Value::Char(c) => crate::write::write_char_literal(out, *c),
            Value::Str(s) => {
                let _ = write_str_literal(out, s);
            }
            Value::Bytes(b) => {
                out.push_str("b\"");
                for byte in b {
                    let _ = match byte {
                        b'"' => write!(out, "\\\""),
                        b'\\' => write!(out, "\\\\"),
                        0x20..=0x7e => write!(out, "{}", *byte as char),
                        _ => write!(out, "\\x{byte:02x}"),
                    };
                }
                out.push('"');
            }
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
            Value::Map(entries) => {
                out.push('{');
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
            Value::Tuple(name, items) => {
                if let Some(n) = name {
                    write_identifier(out, n);
                }
                self.out.push('(');
                self.items(items);
                self.out.push(')');
            }
            Value::Struct(name, fields) => {
                if let Some(n) = name {
                    write_identifier(out, n);
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
            Value::Ident(n) => write_identifier(out, n),
        }
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

impl fmt::Display for Value {
    /// Compact, single-line RON (`Name(a: 1, b: [2, 3])`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut r = Renderer {
            out: String::new(),
            path: Vec::new(),
            target: None,
            span: None,
        };
        r.value(self);
        f.write_str(&r.out)
    }
}

/// A recursive-descent RON parser that keeps names and positions.
pub(crate) struct Parser<'a> {
    src: &'a str,
    pub(crate) pos: usize,
    depth: usize,
}

/// Nesting deeper than this is refused, so hostile input cannot overflow
/// the stack.
const MAX_DEPTH: usize = 128;

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Self { src, pos: 0, depth: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    /// 1-based (line, column) of a byte offset.
    pub(crate) fn line_col(&self, pos: usize) -> (usize, usize) {
        let before = &self.src[..pos.min(self.src.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, column)
    }

    pub(crate) fn error(&self, message: impl Into<String>) -> ParseError {
        self.error_at(self.pos, message)
    }

    fn error_at(&self, pos: usize, message: impl Into<String>) -> ParseError {
        let (line, column) = self.line_col(pos);
        ParseError {
            line,
            column,
            message: message.into(),
            at_end: pos >= self.src.len(),
        }
    }

    fn eof(&self, what: &str) -> ParseError {
        let mut e = self.error_at(self.src.len(), format!("input ended inside {what}"));
        e.at_end = true;
        e
    }

    /// Skips whitespace and `//` / nested `/* */` comments.
    pub(crate) fn skip_trivia(&mut self) -> Result<(), ParseError> {
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start();
            self.pos += rest.len() - trimmed.len();
            if trimmed.starts_with("//") {
                let end = trimmed.find('\n').unwrap_or(trimmed.len());
                self.pos += end;
            } else if trimmed.starts_with("/*") {
                let start = self.pos;
                self.pos += 2;
                let mut nesting = 1;
                while nesting > 0 {
                    let rest = self.rest();
                    if rest.starts_with("*/") {
                        nesting -= 1;
                        self.pos += 2;
                    } else if rest.starts_with("/*") {
                        nesting += 1;
                        self.pos += 2;
                    } else if self.bump().is_none() {
                        let mut e = self.error_at(start, "unterminated block comment");
                        e.at_end = true;
                        return Err(e);
                    }
                }
            } else {
                return Ok(());
            }
        }
    }

    fn expect(&mut self, c: char, context: &str) -> Result<(), ParseError> {
        self.skip_trivia()?;
        match self.peek() {
            Some(found) if found == c => {
                self.pos += c.len_utf8();
                Ok(())
            }
            Some(found) => Err(self.error(format!("expected `{c}` {context}, found `{found}`"))),
            None => Err(self.eof(context)),
        }
    }

    fn ident(&mut self) -> Option<&'a str> {
        let rest = self.rest();
        let raw = rest.starts_with("r#");
        let body = if raw { &rest[2..] } else { rest };
        let mut chars = body.char_indices();
        match chars.next() {
            Some((_, c)) if c.is_alphabetic() || c == '_' => {}
            _ => return None,
        }
        // Raw identifiers may also hold `-`, `.` and `+` (`r#my-field`).
        let len = chars
            .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || (raw && matches!(c, '-' | '.' | '+'))))
            .map_or(body.len(), |(i, _)| i);
        let start = if raw { self.pos + 2 } else { self.pos };
        self.pos = start + len;
        Some(&self.src[start..start + len])
    }

    /// Parses one value at the current position (leading trivia skipped).
    pub(crate) fn value(&mut self) -> Result<Value, ParseError> {
        self.skip_trivia()?;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!("values nested deeper than {MAX_DEPTH} levels")));
        }
        let v = self.value_inner();
        self.depth -= 1;
        v
    }

    fn value_inner(&mut self) -> Result<Value, ParseError> {
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Err(self.eof("a value"));
        };
        match c {
            '(' => self.parenthesized(None),
            '[' => {
                self.pos += 1;
                let items = self.items(']', "a list")?;
                Ok(Value::List(items))
            }
            '{' => self.map(),
            '"' => Ok(Value::Str(self.string()?)),
            '\'' => self.char_literal(),
            'b' if self.rest().starts_with("b\"") => {
                self.pos += 1;
                let s = self.string()?;
                Ok(Value::Bytes(s.into_bytes()))
            }
            'r' if self.rest().starts_with("r\"")
                || self.rest().starts_with("r#\"")
                || self.rest().starts_with("r##") =>
            {
                Ok(Value::Str(self.raw_string()?))
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => self.number(),
            _ => {
                let Some(name) = self.ident() else {
                    return Err(self.error(format!("expected a value, found `{c}`")));
                };
                match name {
                    "true" => Ok(Value::Bool(true)),
                    "false" => Ok(Value::Bool(false)),
                    "None" => Ok(Value::Option(None)),
                    "inf" => Ok(Value::Float(f64::INFINITY)),
                    "NaN" => Ok(Value::Float(f64::NAN)),
                    "Some" => {
                        self.expect('(', "after `Some`")?;
                        let inner = self.value()?;
                        self.skip_trivia()?;
                        if self.peek() == Some(',') {
                            self.pos += 1;
                        }
                        self.expect(')', "to close `Some(`")?;
                        Ok(Value::Option(Some(Box::new(inner))))
                    }
                    _ => {
                        let name = name.to_string();
                        let after = self.pos;
                        self.skip_trivia()?;
                        if self.peek() == Some('(') {
                            self.parenthesized(Some(name))
                        } else {
                            self.pos = after;
                            let _ = start;
                            Ok(Value::Ident(name))
                        }
                    }
                }
            }
        }
    }

    /// `(...)` after an optional name: unit, tuple or struct.
    fn parenthesized(&mut self, name: Option<String>) -> Result<Value, ParseError> {
        self.expect('(', "to open a tuple or struct")?;
        self.skip_trivia()?;
        if self.peek() == Some(')') {
            self.pos += 1;
            return Ok(match name {
                Some(n) => Value::Tuple(Some(n), Vec::new()),
                None => Value::Unit,
            });
        }
        // A struct starts with `field:`; anything else is a tuple.
        let save = self.pos;
        let is_struct = match self.ident() {
            Some(_) => {
                let _ = self.skip_trivia();
                self.peek() == Some(':') && !self.rest().starts_with("::")
            }
            None => false,
        };
        self.pos = save;
        if !is_struct {
            let items = self.items(')', "a tuple")?;
            return Ok(Value::Tuple(name, items));
        }
        let mut fields = Vec::new();
        loop {
            self.skip_trivia()?;
            if self.peek() == Some(')') {
                self.pos += 1;
                return Ok(Value::Struct(name, fields));
            }
            let Some(key) = self.ident() else {
                return match self.peek() {
                    Some(c) => Err(self.error(format!("expected a field name, found `{c}`"))),
                    None => Err(self.eof("a struct")),
                };
            };
            let key = key.to_string();
            self.expect(':', "after a field name")?;
            let v = self.value()?;
            fields.push((key, v));
            self.skip_trivia()?;
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(')') => {}
                Some(c) => return Err(self.error(format!("expected `,` or `)` in a struct, found `{c}`"))),
                None => return Err(self.eof("a struct")),
            }
        }
    }

    /// Comma-separated values up to `close`; trailing comma allowed.
    fn items(&mut self, close: char, what: &str) -> Result<Vec<Value>, ParseError> {
        let mut items = Vec::new();
        loop {
            self.skip_trivia()?;
            match self.peek() {
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(items);
                }
                None => return Err(self.eof(what)),
                _ => {}
            }
            items.push(self.value()?);
            self.skip_trivia()?;
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(c) if c == close => {}
                Some(c) => return Err(self.error(format!("expected `,` or `{close}` in {what}, found `{c}`"))),
                None => return Err(self.eof(what)),
            }
        }
    }

    fn map(&mut self) -> Result<Value, ParseError> {
        self.pos += 1;
        let mut entries = Vec::new();
        loop {
            self.skip_trivia()?;
            match self.peek() {
                Some('}') => {
                    self.pos += 1;
                    return Ok(Value::Map(entries));
                }
                None => return Err(self.eof("a map")),
                _ => {}
            }
            let k = self.value()?;
            self.expect(':', "after a map key")?;
            let v = self.value()?;
            entries.push((k, v));
            self.skip_trivia()?;
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {}
                Some(c) => return Err(self.error(format!("expected `,` or `}}` in a map, found `{c}`"))),
                None => return Err(self.eof("a map")),
            }
        }
    }

    fn escape(&mut self) -> Result<char, ParseError> {
        let at = self.pos;
        let Some(c) = self.bump() else {
            return Err(self.eof("an escape"));
        };
        Ok(match c {
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            '0' => '\0',
            '\\' => '\\',
            '"' => '"',
            '\'' => '\'',
            'x' => {
                let hex = self.rest().get(..2).ok_or_else(|| self.eof("a \\x escape"))?;
                let n = u8::from_str_radix(hex, 16).map_err(|_| self.error_at(at, "bad \\x escape"))?;
                self.pos += 2;
                n as char
            }
            'u' => {
                let n = if self.peek() == Some('{') {
                    let end = self.rest().find('}').ok_or_else(|| self.eof("a \\u{...} escape"))?;
                    let hex = &self.rest()[1..end];
                    let n = u32::from_str_radix(hex, 16).map_err(|_| self.error_at(at, "bad \\u escape"))?;
                    self.pos += end + 1;
                    n
                } else {
                    let hex = self.rest().get(..4).ok_or_else(|| self.eof("a \\u escape"))?;
                    let n = u32::from_str_radix(hex, 16).map_err(|_| self.error_at(at, "bad \\u escape"))?;
                    self.pos += 4;
                    n
                };
                char::from_u32(n).ok_or_else(|| self.error_at(at, "\\u escape is not a character"))?
            }
            other => return Err(self.error_at(at, format!("unknown escape `\\{other}`"))),
        })
    }

    fn string(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            match self.bump() {
                None => {
                    let mut e = self.error_at(start, "unterminated string");
                    e.at_end = true;
                    return Err(e);
                }
                Some('"') => return Ok(out),
                Some('\\') => out.push(self.escape()?),
                Some(c) => out.push(c),
            }
        }
    }

    fn raw_string(&mut self) -> Result<String, ParseError> {
        let start = self.pos;
        self.pos += 1; // r
        let hashes = self.rest().chars().take_while(|c| *c == '#').count();
        self.pos += hashes;
        if self.peek() != Some('"') {
            return Err(self.error("expected `\"` in a raw string"));
        }
        self.pos += 1;
        let close = format!("\"{}", "#".repeat(hashes));
        match self.rest().find(&close) {
            Some(end) => {
                let s = self.rest()[..end].to_string();
                self.pos += end + close.len();
                Ok(s)
            }
            None => {
                let mut e = self.error_at(start, "unterminated raw string");
                e.at_end = true;
                Err(e)
            }
        }
    }

    fn char_literal(&mut self) -> Result<Value, ParseError> {
        let start = self.pos;
        self.pos += 1;
        let c = match self.bump() {
            None => return Err(self.eof("a char")),
            Some('\\') => self.escape()?,
            Some(c) => c,
        };
        if self.bump() != Some('\'') {
            return Err(self.error_at(start, "unterminated char literal"));
        }
        Ok(Value::Char(c))
    }

    fn number(&mut self) -> Result<Value, ParseError> {
        let start = self.pos;
        let rest = self.rest();
        let mut len = 0;
        let bytes = rest.as_bytes();
        if len < bytes.len() && (bytes[len] == b'-' || bytes[len] == b'+') {
            len += 1;
        }
        if rest[len..].starts_with("inf") {
            self.pos += len + 3;
            let neg = bytes[0] == b'-';
            return Ok(Value::Float(if neg { f64::NEG_INFINITY } else { f64::INFINITY }));
        }
        if rest[len..].starts_with("NaN") {
            self.pos += len + 3;
            return Ok(Value::Float(f64::NAN));
        }
        while len < bytes.len() {
            let b = bytes[len];
            let exponent_sign = (b == b'-' || b == b'+')
                && len > 0
                && matches!(bytes[len - 1], b'e' | b'E')
                && !rest[..len].starts_with("0x")
                && !rest[..len].starts_with("-0x");
            if b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || exponent_sign {
                len += 1;
            } else {
                break;
            }
        }
        let text: String = rest[..len].chars().filter(|c| *c != '_').collect();
        self.pos += len;
        let bad = || self.error_at(start, format!("`{}` is not a number", &rest[..len]));
        let (neg, digits) = match text.strip_prefix('-') {
            Some(d) => (true, d),
            None => (false, text.strip_prefix('+').unwrap_or(&text)),
        };
        let radix = [("0x", 16), ("0b", 2), ("0o", 8)]
            .iter()
            .find(|(p, _)| digits.starts_with(p));
        if let Some((prefix, radix)) = radix {
            let n = i128::from_str_radix(&digits[prefix.len()..], *radix).map_err(|_| bad())?;
            return Ok(Value::Int(if neg { -n } else { n }));
        }
        if digits.chars().all(|c| c.is_ascii_digit()) && !digits.is_empty() {
            let n: i128 = digits.parse().map_err(|_| bad())?;
            return Ok(Value::Int(if neg { -n } else { n }));
        }
        let x: f64 = digits.parse().map_err(|_| bad())?;
        Ok(Value::Float(if neg { -x } else { x }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kept() {
        let a = Value::parse("Primary").unwrap();
        let b = Value::parse("Replica").unwrap();
        assert!(!a.matches(&b));
        let d = a.first_difference(&b).unwrap();
        assert_eq!((d.expected.as_str(), d.actual.as_str()), ("Primary", "Replica"));
    }

    #[test]
    fn struct_names_are_optional() {
        let a = Value::parse("Status(role: Primary, offset: 10)").unwrap();
        let b = Value::parse("(role: Primary, offset: 10.0)").unwrap();
        assert!(a.matches(&b));
    }

    #[test]
    fn difference_path_points_into_the_value() {
        let a = Value::parse("(nodes: [(id: \"a\", lag: 1), (id: \"b\", lag: 2)])").unwrap();
        let b = Value::parse("(nodes: [(id: \"a\", lag: 1), (id: \"b\", lag: 3)])").unwrap();
        let d = a.first_difference(&b).unwrap();
        assert_eq!(d.path, ".nodes[1].lag");
        assert_eq!((d.expected.as_str(), d.actual.as_str()), ("2", "3"));
    }

    #[test]
    fn round_trips_through_display() {
        let text = r#"Name(a: Some([1, -2, 3.5]), b: {"k": 'x'}, c: b"\x00z", d: (1, "two\n"), e: None, f: U, g: ())"#;
        let v = Value::parse(text).unwrap();
        assert_eq!(Value::parse(&v.to_string()).unwrap(), v);
        assert_eq!(v.to_string(), text);
    }

    #[test]
    fn comments_raw_strings_and_trailing_commas() {
        let v = Value::parse("/* a /* nested */ */ ( // x\n a: r#\"q\"uote\"#, b: [1,2,], )").unwrap();
        assert_eq!(v.field("a").and_then(Value::as_str), Some("q\"uote"));
    }

    #[test]
    fn errors_have_positions() {
        let e = Value::parse("(\n  a: 1,\n  b: ?)").unwrap_err();
        assert_eq!((e.line, e.column), (3, 6));
        assert!(!e.at_end);
        let e = Value::parse("(a: [1, 2").unwrap_err();
        assert!(e.at_end, "{e}");
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let text = "[".repeat(10_000);
        let e = Value::parse(&text).unwrap_err();
        assert!(e.message.contains("nested deeper"), "{e}");
    }
}
