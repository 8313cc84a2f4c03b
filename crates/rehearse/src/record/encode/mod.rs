//! A compact binary form of serde values, for tapes kept in memory.
//!
//! Recording a call used to mean writing its inputs and output as RON text
//! at once, which cost more than the simulated world itself (the recorded
//! workload ran 5.7 times slower than the unrecorded one). Memory tapes now
//! keep each value as the sequence of serde `Serializer` calls it made, in
//! a few bytes per call: a tag byte, integers as LEB128 varints, strings as
//! length and bytes.
//!
//! [`Encoded`] replays that sequence into any serializer, so rendering it
//! with the RON writer (`crate::ron::to_ron`) gives the same RON, byte for byte, as writing the
//! value directly (tests check it on every kind of value).
//!
//! Names (struct, field and variant names) are varints in the bytes: their
//! index in the process's table of names ([`names`]).

use std::fmt;

use serde::Serialize;

mod buffers;
mod cursor;
pub(crate) mod names;
mod ser;
#[cfg(test)]
mod tests;

pub(crate) use buffers::{Buf, Enc, PutSmall, Scratch, Store, TapeBytes};
pub(crate) use cursor::{Cursor, Encoded};

pub(super) mod tag {
    pub(super) const UNIT: u8 = 0;
    pub(super) const FALSE: u8 = 1;
    pub(super) const TRUE: u8 = 2;
    pub(super) const I8: u8 = 3;
    pub(super) const I16: u8 = 4;
    pub(super) const I32: u8 = 5;
    pub(super) const I64: u8 = 6;
    pub(super) const I128: u8 = 7;
    pub(super) const U8: u8 = 8;
    pub(super) const U16: u8 = 9;
    pub(super) const U32: u8 = 10;
    pub(super) const U64: u8 = 11;
    pub(super) const U128: u8 = 12;
    pub(super) const F32: u8 = 13;
    pub(super) const F64: u8 = 14;
    pub(super) const CHAR: u8 = 15;
    pub(super) const STR: u8 = 16;
    pub(super) const BYTES: u8 = 17;
    pub(super) const NONE: u8 = 18;
    pub(super) const SOME: u8 = 19;
    pub(super) const UNIT_STRUCT: u8 = 20;
    pub(super) const UNIT_VARIANT: u8 = 21;
    pub(super) const NEWTYPE_STRUCT: u8 = 22;
    pub(super) const NEWTYPE_VARIANT: u8 = 23;
    pub(super) const SEQ: u8 = 24;
    pub(super) const TUPLE: u8 = 25;
    pub(super) const TUPLE_STRUCT: u8 = 26;
    pub(super) const TUPLE_VARIANT: u8 = 27;
    pub(super) const MAP: u8 = 28;
    pub(super) const STRUCT: u8 = 29;
    pub(super) const STRUCT_VARIANT: u8 = 30;
    /// Ends the elements of any compound.
    pub(super) const END: u8 = 31;
    /// A struct field skipped by `#[serde(skip_serializing_if)]`.
    pub(super) const SKIP: u8 = 32;
    /// A `#[rehearse(redact)]` argument, in place of its value.
    pub(super) const REDACTED: u8 = 33;
    /// Ends a call's arguments; its output follows.
    pub(super) const ARGUMENTS_END: u8 = 34;
}

/// The record kind of everything on a memory tape that is not a call
/// (calls are their name's index + 1); one of [`record`] follows.
pub(crate) const NOT_A_CALL: u64 = 0;

/// What a record of kind [`NOT_A_CALL`] is.
pub(crate) mod record {
    /// The lane of the following records: a varint, 0 for none, else the
    /// tape's node name index + 1.
    pub(crate) const LANE: u8 = 0;
    /// A fault mark: its time (as a call's), the point, then 0 or 1 and the
    /// detail.
    pub(crate) const FAULT: u8 = 1;
    /// A note mark: its time, then the text.
    pub(crate) const NOTE: u8 = 2;
}

/// Added to a struct field's name index: a reader that meets `END` or
/// `SKIP` where a field may start must not take a name for them. A field's
/// first byte is then 33 to 127, or 128 and up (a longer varint).
pub(super) const FIELD_NAME_BASE: u64 = tag::SKIP as u64 + 1;

/// A call recorded without a virtual time.
pub(crate) const AT_NONE: u8 = 0;
/// A call at the same virtual time as the call before it.
pub(crate) const AT_SAME: u8 = 1;
/// A call at a new virtual time: 8 bytes follow.
pub(crate) const AT_NEW: u8 = 2;

/// The most bytes one [`Enc::tagged`] writes: a tag and a 64-bit varint.
pub(super) const CHUNK: usize = 11;

/// Writes `v` as a LEB128 varint into `chunk` from `at`; returns the end.
#[inline]
pub(super) fn put_varint(chunk: &mut [u8; CHUNK], mut at: usize, mut v: u64) -> usize {
    while v >= 0x80 && at < CHUNK - 1 {
        chunk[at] = (v as u8) | 0x80;
        v >>= 7;
        at += 1;
    }
    chunk[at] = v as u8;
    at + 1
}

impl<B: Store<u8>> Enc<B> {
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
    }

    #[inline]
    pub(crate) fn byte(&mut self, b: u8) {
        self.bytes.put_small(b.into(), 1);
    }

    #[inline]
    pub(crate) fn varint(&mut self, v: u64) {
        if v < 0x80 {
            self.bytes.put_small(v.into(), 1);
        } else {
            let mut chunk = [0; CHUNK];
            let used = put_varint(&mut chunk, 0, v);
            self.bytes.put(&chunk, used);
        }
    }

    /// A tag byte and a varint, written at once.
    #[inline]
    fn tagged(&mut self, tag: u8, v: u64) {
        if v < 0x80 {
            self.bytes.put_small(u128::from(tag) | u128::from(v) << 8, 2);
        } else {
            let mut chunk = [0; CHUNK];
            chunk[0] = tag;
            let used = put_varint(&mut chunk, 1, v);
            self.bytes.put(&chunk, used);
        }
    }

    /// A unit or newtype variant: its tag, index and both names.
    #[inline]
    fn variant(&mut self, tag: u8, name: &'static str, index: u32, variant: &'static str) {
        let (name, variant) = (names::index(name), names::index(variant));
        if (index | name | variant) < 0x80 {
            let packed = u128::from(tag) | u128::from(index) << 8 | u128::from(name) << 16 | u128::from(variant) << 24;
            self.bytes.put_small(packed, 4);
        } else {
            self.tagged(tag, index.into());
            self.varint(name.into());
            self.varint(variant.into());
        }
    }

    /// The start of a tuple or struct variant: its tag, index, length and
    /// both names.
    #[inline]
    fn compound_variant(&mut self, tag: u8, name: &'static str, index: u32, variant: &'static str, len: usize) {
        let (name, variant) = (names::index(name), names::index(variant));
        if (index | name | variant) < 0x80 && len < 0x80 {
            // Every varint is one byte (nearly always): one store.
            let packed = u128::from(tag)
                | u128::from(index) << 8
                | (len as u128) << 16
                | u128::from(name) << 24
                | u128::from(variant) << 32;
            self.bytes.put_small(packed, 5);
        } else {
            self.tagged(tag, index.into());
            self.varint(len as u64);
            self.varint(name.into());
            self.varint(variant.into());
        }
    }

    /// A new virtual time (see [`AT_NEW`]).
    #[inline]
    pub(crate) fn time(&mut self, t: u64) {
        self.fixed::<8>(AT_NEW, t);
    }

    /// A tag byte and the `WIDTH` low bytes of `v`, little-endian: no
    /// branch, one store (integers are most of what worlds return).
    #[inline]
    fn fixed<const WIDTH: usize>(&mut self, tag: u8, v: u64) {
        self.bytes.put_small(u128::from(tag) | u128::from(v) << 8, 1 + WIDTH);
    }

    pub(crate) fn str(&mut self, s: &str) {
        self.varint(s.len() as u64);
        self.bytes.extend_from_slice(s.as_bytes());
    }

    /// Ends a call's arguments.
    #[inline]
    pub(crate) fn end_of_arguments(&mut self) {
        self.byte(tag::ARGUMENTS_END);
    }

    /// Marks a redacted argument.
    pub(crate) fn redacted(&mut self) {
        self.byte(tag::REDACTED);
    }

    /// A name, as its index in the process's table.
    #[inline]
    fn name(&mut self, name: &'static str) {
        self.varint(names::index(name).into());
    }

    /// A struct field's name (see [`FIELD_NAME_BASE`]).
    #[inline]
    fn field_name(&mut self, name: &'static str) {
        self.varint(u64::from(names::index(name)) + FIELD_NAME_BASE);
    }

    /// A tag byte and a name.
    #[inline]
    fn tagged_name(&mut self, tag: u8, name: &'static str) {
        self.tagged(tag, names::index(name).into());
    }

    /// Appends `value`. When its `Serialize` fails, the value is replaced
    /// by a string saying why, as the text recorder does.
    pub(crate) fn value<T: Serialize + ?Sized>(&mut self, value: &T) {
        let bytes = self.bytes.len();
        if let Err(e) = value.serialize(&mut *self) {
            self.bytes.truncate(bytes);
            self.byte(tag::STR);
            self.str(&unserializable(&e));
        }
    }
}

/// The text recorded in place of a value whose `Serialize` failed.
pub(crate) fn unserializable(e: &dyn fmt::Display) -> String {
    format!("<unserializable: {e}>")
}

/// Why a value could not be encoded: its `Serialize` impl said so (the
/// writer's error type: the same message either way).
pub(crate) type EncodeError = crate::ron::WriteError;

pub(super) type Res = Result<(), EncodeError>;
