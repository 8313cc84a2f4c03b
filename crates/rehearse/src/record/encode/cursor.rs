//! Reading encoded values back: a [`Cursor`] over the bytes, and
//! [`Encoded`], which replays one value into any serializer.

use std::cell::Cell;

use serde::ser::{self, Serialize, SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant};
use serde::ser::{SerializeTuple, SerializeTupleStruct, SerializeTupleVariant};

use super::names::Names;
use super::{AT_NEW, AT_NONE, AT_SAME, FIELD_NAME_BASE, tag};

/// A position in encoded values; [`Encoded`] values read from it in turn.
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    names: &'a Names,
    at: Cell<usize>,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `bytes`, whose names `names` reads.
    pub(crate) fn new(bytes: &'a [u8], names: &'a Names) -> Self {
        Self {
            bytes,
            names,
            at: Cell::new(0),
        }
    }

    /// The names the bytes refer to.
    pub(crate) fn names(&self) -> &'a Names {
        self.names
    }

    pub(crate) fn at_end(&self) -> bool {
        self.at.get() >= self.bytes.len()
    }

    fn corrupt<E: ser::Error>() -> E {
        E::custom("corrupt encoded value (a rehearse bug)")
    }

    pub(crate) fn byte<E: ser::Error>(&self) -> Result<u8, E> {
        let at = self.at.get();
        let b = *self.bytes.get(at).ok_or_else(Self::corrupt::<E>)?;
        self.at.set(at + 1);
        Ok(b)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at.get()).copied()
    }

    /// A call's virtual time, as [`Enc::time`](super::Enc::time) and the marks wrote it.
    pub(crate) fn at<E: ser::Error>(&self, last: &mut Option<u64>) -> Result<Option<u64>, E> {
        match self.byte::<E>()? {
            AT_NONE => Ok(None),
            AT_SAME => Ok(*last),
            AT_NEW => {
                *last = Some(u64::from_le_bytes(self.array()?));
                Ok(*last)
            }
            _ => Err(Self::corrupt()),
        }
    }

    pub(crate) fn varint<E: ser::Error>(&self) -> Result<u64, E> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte::<E>()?;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(Self::corrupt())
    }

    fn take<E: ser::Error>(&self, n: usize) -> Result<&'a [u8], E> {
        let at = self.at.get();
        let s = self
            .bytes
            .get(at..at.checked_add(n).ok_or_else(Self::corrupt::<E>)?)
            .ok_or_else(Self::corrupt::<E>)?;
        self.at.set(at + n);
        Ok(s)
    }

    fn array<const N: usize, E: ser::Error>(&self) -> Result<[u8; N], E> {
        self.take::<E>(N)?.try_into().map_err(|_| Self::corrupt())
    }

    pub(crate) fn str<E: ser::Error>(&self) -> Result<&'a str, E> {
        let n = self.len::<E>()?;
        std::str::from_utf8(self.take::<E>(n)?).map_err(|_| Self::corrupt())
    }

    fn len<E: ser::Error>(&self) -> Result<usize, E> {
        usize::try_from(self.varint::<E>()?).map_err(|_| Self::corrupt())
    }

    /// A name, written as its index in the process's table.
    pub(crate) fn name<E: ser::Error>(&self) -> Result<&'static str, E> {
        let index = self.varint::<E>()?;
        self.names.get(index).ok_or_else(Self::corrupt::<E>)
    }

    /// A struct field's name (see [`FIELD_NAME_BASE`]).
    fn field_name<E: ser::Error>(&self) -> Result<&'static str, E> {
        let index = self
            .varint::<E>()?
            .checked_sub(FIELD_NAME_BASE)
            .ok_or_else(Self::corrupt::<E>)?;
        self.names.get(index).ok_or_else(Self::corrupt::<E>)
    }

    fn index<E: ser::Error>(&self) -> Result<u32, E> {
        u32::try_from(self.varint::<E>()?).map_err(|_| Self::corrupt())
    }

    fn optional_len<E: ser::Error>(&self) -> Result<Option<usize>, E> {
        let n = self.len::<E>()?;
        Ok(n.checked_sub(1))
    }

    /// True (and consumed) when the next argument is a redaction mark.
    pub(crate) fn redacted(&self) -> bool {
        if self.peek() == Some(tag::REDACTED) {
            self.at.set(self.at.get() + 1);
            true
        } else {
            false
        }
    }

    /// True (and consumed) when a call's arguments end here.
    pub(crate) fn arguments_end(&self) -> bool {
        if self.peek() == Some(tag::ARGUMENTS_END) {
            self.at.set(self.at.get() + 1);
            true
        } else {
            false
        }
    }

    /// True (and consumed) when the next byte ends a compound.
    fn end(&self) -> bool {
        if self.peek() == Some(tag::END) {
            self.at.set(self.at.get() + 1);
            true
        } else {
            false
        }
    }
}

/// Replays a struct's (or struct variant's) fields into `$st`, then ends it.
macro_rules! struct_fields {
    ($st:ident, $c:ident, $next:ident) => {{
        while !$c.end() {
            if $c.peek() == Some(tag::SKIP) {
                $c.byte::<S::Error>()?;
                $st.skip_field($c.name()?)?;
            } else {
                $st.serialize_field($c.field_name()?, &$next)?;
            }
        }
        $st.end()
    }};
}

/// The next encoded value of a [`Cursor`], as a `Serialize` that replays it.
pub(crate) struct Encoded<'c, 'a>(pub &'c Cursor<'a>);

impl Serialize for Encoded<'_, '_> {
    // 90 lines: one arm per tag of serde's data model, a table best read whole.
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = self.0;
        let next = Encoded(c);
        match c.byte()? {
            tag::UNIT => s.serialize_unit(),
            tag::FALSE => s.serialize_bool(false),
            tag::TRUE => s.serialize_bool(true),
            tag::I8 => s.serialize_i8(i8::from_le_bytes(c.array()?)),
            tag::I16 => s.serialize_i16(i16::from_le_bytes(c.array()?)),
            tag::I32 => s.serialize_i32(i32::from_le_bytes(c.array()?)),
            tag::I64 => s.serialize_i64(i64::from_le_bytes(c.array()?)),
            tag::I128 => s.serialize_i128(i128::from_le_bytes(c.array()?)),
            tag::U8 => s.serialize_u8(u8::from_le_bytes(c.array()?)),
            tag::U16 => s.serialize_u16(u16::from_le_bytes(c.array()?)),
            tag::U32 => s.serialize_u32(u32::from_le_bytes(c.array()?)),
            tag::U64 => s.serialize_u64(u64::from_le_bytes(c.array()?)),
            tag::U128 => s.serialize_u128(u128::from_le_bytes(c.array()?)),
            tag::F32 => s.serialize_f32(f32::from_bits(u32::from_le_bytes(c.array()?))),
            tag::F64 => s.serialize_f64(f64::from_bits(u64::from_le_bytes(c.array()?))),
            tag::CHAR => {
                let v = u32::try_from(c.varint()?).ok().and_then(char::from_u32);
                s.serialize_char(v.ok_or_else(Cursor::corrupt::<S::Error>)?)
            }
            tag::STR => s.serialize_str(c.str()?),
            tag::BYTES => {
                let n = c.len()?;
                s.serialize_bytes(c.take(n)?)
            }
            tag::NONE => s.serialize_none(),
            tag::SOME => s.serialize_some(&next),
            tag::UNIT_STRUCT => s.serialize_unit_struct(c.name()?),
            tag::UNIT_VARIANT => {
                let index = c.index()?;
                s.serialize_unit_variant(c.name()?, index, c.name()?)
            }
            tag::NEWTYPE_STRUCT => s.serialize_newtype_struct(c.name()?, &next),
            tag::NEWTYPE_VARIANT => {
                let index = c.index()?;
                s.serialize_newtype_variant(c.name()?, index, c.name()?, &next)
            }
            tag::SEQ => {
                let mut seq = s.serialize_seq(c.optional_len()?)?;
                while !c.end() {
                    seq.serialize_element(&next)?;
                }
                seq.end()
            }
            tag::TUPLE => {
                let mut t = s.serialize_tuple(c.len()?)?;
                while !c.end() {
                    t.serialize_element(&next)?;
                }
                t.end()
            }
            tag::TUPLE_STRUCT => {
                let len = c.len()?;
                let mut t = s.serialize_tuple_struct(c.name()?, len)?;
                while !c.end() {
                    t.serialize_field(&next)?;
                }
                t.end()
            }
            tag::TUPLE_VARIANT => {
                let index = c.index()?;
                let len = c.len()?;
                let mut t = s.serialize_tuple_variant(c.name()?, index, c.name()?, len)?;
                while !c.end() {
                    t.serialize_field(&next)?;
                }
                t.end()
            }
            tag::MAP => {
                let mut m = s.serialize_map(c.optional_len()?)?;
                while !c.end() {
                    m.serialize_key(&next)?;
                    m.serialize_value(&next)?;
                }
                m.end()
            }
            tag::STRUCT => {
                let len = c.len()?;
                let mut st = s.serialize_struct(c.name()?, len)?;
                struct_fields!(st, c, next)
            }
            tag::STRUCT_VARIANT => {
                let index = c.index()?;
                let len = c.len()?;
                let mut st = s.serialize_struct_variant(c.name()?, index, c.name()?, len)?;
                struct_fields!(st, c, next)
            }
            _ => Err(Cursor::corrupt()),
        }
    }
}
