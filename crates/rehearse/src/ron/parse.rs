//! The one RON parser (recursive descent, names and positions kept).

use std::fmt;

use super::value::Value;

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

/// A recursive-descent RON parser that keeps names and positions.
pub(crate) struct Parser<'a> {
    pub(super) src: &'a str,
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
                Ok(Value::Bytes(self.byte_string()?))
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

    /// A byte string's contents: `\xNN` is the byte NN (not the character
    /// U+00NN, whose UTF-8 takes two bytes from 0x80 on).
    fn byte_string(&mut self) -> Result<Vec<u8>, ParseError> {
        let start = self.pos;
        self.pos += 1; // opening quote
        let mut out = Vec::new();
        let mut utf8 = [0; 4];
        loop {
            match self.bump() {
                None => {
                    let mut e = self.error_at(start, "unterminated byte string");
                    e.at_end = true;
                    return Err(e);
                }
                Some('"') => return Ok(out),
                Some('\\') if self.peek() == Some('x') => {
                    let at = self.pos;
                    self.pos += 1;
                    let hex = self.rest().get(..2).ok_or_else(|| self.eof("a \\x escape"))?;
                    let n = u8::from_str_radix(hex, 16).map_err(|_| self.error_at(at, "bad \\x escape"))?;
                    self.pos += 2;
                    out.push(n);
                }
                Some('\\') => out.extend_from_slice(self.escape()?.encode_utf8(&mut utf8).as_bytes()),
                Some(c) => out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes()),
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
