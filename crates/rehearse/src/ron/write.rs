//! Writes any `Serialize` value as compact, single-line RON.
//!
//! The output is what `ron` writes with compact structs, arrays and maps
//! (tests check it byte for byte), with two differences: it is several times
//! faster on strings (it copies runs of plain characters instead of escaping
//! one character at a time, which made a 1 KiB argument cost ~7 µs per
//! recorded call), and it escapes control characters in `char`s, which `ron`
//! writes raw (a `'\n'` would otherwise split a record over two lines).
//! `ron` reads everything this writes.

use std::fmt::{self, Write as _};

use serde::ser::{self, Serialize};

/// Why a value could not be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteError(String);

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for WriteError {}

impl ser::Error for WriteError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

/// Appends `value` as RON to `out`. On error, `out` may hold a partial value.
pub(crate) fn to_ron_into<T: Serialize + ?Sized>(out: &mut String, value: &T) -> Result<(), WriteError> {
    value.serialize(&mut Writer { out })
}

/// `value` as RON.
pub(crate) fn to_ron<T: Serialize + ?Sized>(value: &T) -> Result<String, WriteError> {
    let mut out = String::new();
    to_ron_into(&mut out, value)?;
    Ok(out)
}

struct Writer<'a> {
    out: &'a mut String,
}

/// Characters that need no escape inside a string literal.
#[inline]
#[allow(clippy::manual_range_contains)] // `contains` uses `&&`, which branches
fn plain(b: u8) -> bool {
    // `&` rather than `&&`: no branches, so chunk checks vectorize.
    (b >= 0x20) & (b < 0x7f) & (b != b'"') & (b != b'\\') & (b != b'\'')
}

/// Appends `s` as a RON string literal. The one string escaper: recorded
/// values, header and call lines and [`Value`](super::Value)'s display all use it.
pub(crate) fn write_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    // Short plain strings (names, addresses) are the common case.
    if bytes.len() < 32 && bytes.iter().all(|b| plain(*b)) {
        out.push_str(s);
        out.push('"');
        return;
    }
    let mut run_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        // Skip whole chunks of plain bytes; the check has no early exit so
        // the compiler can vectorize it.
        if let Some(chunk) = bytes.get(i..i + 32)
            && chunk.iter().map(|b| u8::from(!plain(*b))).sum::<u8>() == 0
        {
            i += 32;
            continue;
        }
        if plain(bytes[i]) {
            i += 1;
            continue;
        }
        out.push_str(&s[run_start..i]);
        // `i` is at a char boundary: runs only stop at ASCII or at the
        // first byte of a multi-byte character.
        let c = s[i..].chars().next().unwrap_or('\u{fffd}');
        for e in c.escape_debug() {
            out.push(e);
        }
        i += c.len_utf8();
        run_start = i;
    }
    out.push_str(&s[run_start..]);
    out.push('"');
}

/// A char literal; control characters are escaped so a record stays on one line.
pub(crate) fn write_char_literal(out: &mut String, c: char) {
    out.push('\'');
    match c {
        '\'' => out.push_str("\\'"),
        '\\' => out.push_str("\\\\"),
        c if c.is_control() => out.extend(c.escape_debug()),
        c => out.push(c),
    }
    out.push('\'');
}

/// Identifiers `ron` writes bare; anything else is written raw (`r#a-b`).
pub(crate) fn write_identifier(out: &mut String, name: &str) {
    let mut chars = name.chars();
    let bare = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !bare {
        out.push_str("r#");
    }
    out.push_str(name);
}

pub(super) fn write_float(out: &mut String, v: f64, debug: impl FnOnce(&mut String)) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "inf" } else { "-inf" });
    } else {
        debug(out);
    }
}

/// A sequence, tuple, map or struct being written.
struct Compound<'w, 'a> {
    w: &'w mut Writer<'a>,
    first: bool,
    close: char,
}

impl Compound<'_, '_> {
    fn separator(&mut self) {
        if self.first {
            self.first = false;
        } else {
            self.w.out.push_str(", ");
        }
    }

    fn end(self) {
        self.w.out.push(self.close);
    }
}

impl<'w, 'a> Writer<'a> {
    fn open(&'w mut self, open: &str, close: char) -> Compound<'w, 'a> {
        self.out.push_str(open);
        Compound {
            w: self,
            first: true,
            close,
        }
    }

    fn open_named(&'w mut self, name: &str, close: char) -> Compound<'w, 'a> {
        write_identifier(self.out, name);
        self.out.push('(');
        Compound {
            w: self,
            first: true,
            close,
        }
    }
}

impl<'w, 'a> ser::Serializer for &'w mut Writer<'a> {
    type Ok = ();
    type Error = WriteError;
    type SerializeSeq = Compound<'w, 'a>;
    type SerializeTuple = Compound<'w, 'a>;
    type SerializeTupleStruct = Compound<'w, 'a>;
    type SerializeTupleVariant = Compound<'w, 'a>;
    type SerializeMap = Compound<'w, 'a>;
    type SerializeStruct = Compound<'w, 'a>;
    type SerializeStructVariant = Compound<'w, 'a>;

    fn serialize_bool(self, v: bool) -> Result<(), WriteError> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), WriteError> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i16(self, v: i16) -> Result<(), WriteError> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i32(self, v: i32) -> Result<(), WriteError> {
        self.serialize_i64(i64::from(v))
    }
    fn serialize_i64(self, v: i64) -> Result<(), WriteError> {
        self.out.push_str(itoa::Buffer::new().format(v));
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), WriteError> {
        let _ = write!(self.out, "{v}");
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), WriteError> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u16(self, v: u16) -> Result<(), WriteError> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u32(self, v: u32) -> Result<(), WriteError> {
        self.serialize_u64(u64::from(v))
    }
    fn serialize_u64(self, v: u64) -> Result<(), WriteError> {
        self.out.push_str(itoa::Buffer::new().format(v));
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), WriteError> {
        let _ = write!(self.out, "{v}");
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), WriteError> {
        write_float(self.out, f64::from(v), |out| {
            let _ = write!(out, "{v:?}");
        });
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), WriteError> {
        write_float(self.out, v, |out| {
            let _ = write!(out, "{v:?}");
        });
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), WriteError> {
        write_char_literal(self.out, v);
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), WriteError> {
        write_str(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), WriteError> {
        self.out.push_str("b\"");
        for b in v {
            for e in std::ascii::escape_default(*b) {
                self.out.push(char::from(e));
            }
        }
        self.out.push('"');
        Ok(())
    }
    fn serialize_none(self) -> Result<(), WriteError> {
        self.out.push_str("None");
        Ok(())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), WriteError> {
        self.out.push_str("Some(");
        value.serialize(&mut *self)?;
        self.out.push(')');
        Ok(())
    }
    fn serialize_unit(self) -> Result<(), WriteError> {
        self.out.push_str("()");
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), WriteError> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _name: &'static str, _index: u32, variant: &'static str) -> Result<(), WriteError> {
        write_identifier(self.out, variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _name: &'static str, value: &T) -> Result<(), WriteError> {
        self.out.push('(');
        value.serialize(&mut *self)?;
        self.out.push(')');
        Ok(())
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), WriteError> {
        write_identifier(self.out, variant);
        self.out.push('(');
        value.serialize(&mut *self)?;
        self.out.push(')');
        Ok(())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, WriteError> {
        Ok(self.open("[", ']'))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, WriteError> {
        Ok(self.open("(", ')'))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, WriteError> {
        Ok(self.open("(", ')'))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, WriteError> {
        Ok(self.open_named(variant, ')'))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, WriteError> {
        Ok(self.open("{", '}'))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self::SerializeStruct, WriteError> {
        Ok(self.open("(", ')'))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, WriteError> {
        Ok(self.open_named(variant, ')'))
    }
}

/// Sequences, tuples and tuple structs and variants all write their
/// elements the same way: `, `-separated, closed by `Compound::end`.
macro_rules! elements {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Compound<'_, '_> {
            type Ok = ();
            type Error = WriteError;
            fn $method<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), WriteError> {
                self.separator();
                value.serialize(&mut *self.w)
            }
            fn end(self) -> Result<(), WriteError> {
                Compound::end(self);
                Ok(())
            }
        }
    )*};
}

elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Compound<'_, '_> {
    type Ok = ();
    type Error = WriteError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), WriteError> {
        self.separator();
        key.serialize(&mut *self.w)
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), WriteError> {
        self.w.out.push_str(": ");
        value.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), WriteError> {
        Compound::end(self);
        Ok(())
    }
}

impl ser::SerializeStruct for Compound<'_, '_> {
    type Ok = ();
    type Error = WriteError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result<(), WriteError> {
        self.separator();
        write_identifier(self.w.out, key);
        self.w.out.push_str(": ");
        value.serialize(&mut *self.w)
    }
    fn end(self) -> Result<(), WriteError> {
        Compound::end(self);
        Ok(())
    }
}

impl ser::SerializeStructVariant for Compound<'_, '_> {
    type Ok = ();
    type Error = WriteError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Result<(), WriteError> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }
    fn end(self) -> Result<(), WriteError> {
        Compound::end(self);
        Ok(())
    }
}
