//! [`Value`]: a self-describing tree of RON values that keeps every name.
//!
//! `ron::Value` forgets enum variant and struct names (`Primary` and `Replica`
//! both read back as `()`), which would let a replay accept the wrong input.
//! This tree keeps them, remembers where each value starts in its file (for
//! error messages), and can point at the first place two values differ.
//! It is what scenario files are read into, and what the replayer compares.

use std::fmt;

use super::diff::{Difference, Step, diff};
use super::parse::{ParseError, Parser};
use super::render::Renderer;

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
