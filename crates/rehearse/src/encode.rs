//! A compact binary form of serde values, for tapes kept in memory.
//!
//! Recording a call used to mean writing its inputs and output as RON text
//! at once, which cost more than the simulated world itself (the recorded
//! workload ran 5.7 times slower than the unrecorded one). Memory tapes now
//! keep each value as the sequence of serde `Serializer` calls it made, in
//! a few bytes per call: a tag byte, integers as LEB128 varints, strings as
//! length and bytes. Names (struct, field and variant names) are serde's
//! `&'static str`s, kept beside the bytes without copying.
//!
//! [`Encoded`] replays that sequence into any serializer, so rendering it
//! with [`crate::write`] gives the same RON, byte for byte, as writing the
//! value directly (tests check it on every kind of value).

use std::cell::Cell;
use std::fmt;

use serde::ser::{self, Serialize, SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant};
use serde::ser::{SerializeTuple, SerializeTupleStruct, SerializeTupleVariant};
use smallvec::SmallVec;

mod tag {
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

/// A call recorded without a virtual time.
pub(crate) const AT_NONE: u8 = 0;
/// A call at the same virtual time as the call before it.
pub(crate) const AT_SAME: u8 = 1;
/// A call at a new virtual time: 8 bytes follow.
const AT_NEW: u8 = 2;

/// The most bytes one [`Enc::tagged`] writes: a tag and a 64-bit varint.
const CHUNK: usize = 11;

/// Writes `v` as a LEB128 varint into `chunk` from `at`; returns the end.
#[inline]
fn put_varint(chunk: &mut [u8; CHUNK], mut at: usize, mut v: u64) -> usize {
    while v >= 0x80 && at < CHUNK - 1 {
        chunk[at] = (v as u8) | 0x80;
        v >>= 7;
        at += 1;
    }
    chunk[at] = v as u8;
    at + 1
}

/// Growable storage for encoded bytes or names: a `Vec` for tapes, a
/// `SmallVec` for the call being recorded (no allocation, no thread-local).
pub(crate) trait Store<T: Copy>: Default {
    fn push(&mut self, v: T);
    fn extend_from_slice(&mut self, s: &[T]);
    fn as_slice(&self) -> &[T];
    fn truncate(&mut self, len: usize);
    fn clear(&mut self) {
        self.truncate(0);
    }
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    /// Appends `chunk[..used]`.
    #[inline]
    fn put(&mut self, chunk: &[T; CHUNK], used: usize) {
        self.extend_from_slice(&chunk[..used]);
    }
}

impl<T: Copy> Store<T> for Vec<T> {
    #[inline]
    fn push(&mut self, v: T) {
        Self::push(self, v);
    }
    #[inline]
    fn extend_from_slice(&mut self, s: &[T]) {
        Self::extend_from_slice(self, s);
    }
    #[inline]
    fn as_slice(&self) -> &[T] {
        self
    }
    #[inline]
    fn truncate(&mut self, len: usize) {
        Self::truncate(self, len);
    }
}

impl<T: Copy, const N: usize> Store<T> for SmallVec<[T; N]> {
    #[inline]
    fn push(&mut self, v: T) {
        Self::push(self, v);
    }
    #[inline]
    fn extend_from_slice(&mut self, s: &[T]) {
        Self::extend_from_slice(self, s);
    }
    #[inline]
    fn as_slice(&self) -> &[T] {
        self
    }
    #[inline]
    fn truncate(&mut self, len: usize) {
        Self::truncate(self, len);
    }
}

/// Bytes on the stack while they fit (a recorded call's values nearly
/// always do), then on the heap. Writes copy a whole fixed-size chunk and
/// keep only the bytes used, so a varint costs two stores, not one
/// length update per byte.
#[derive(Debug, Clone)]
pub(crate) struct InlineBytes {
    len: usize,
    inline: [u8; INLINE],
    /// All the bytes once they outgrew `inline`.
    heap: Option<Vec<u8>>,
}

const INLINE: usize = 64;

impl Default for InlineBytes {
    #[inline]
    fn default() -> Self {
        Self {
            len: 0,
            inline: [0; INLINE],
            heap: None,
        }
    }
}

impl InlineBytes {
    /// Appends these bytes to `to`.
    #[inline]
    pub(crate) fn append_to(&self, to: &mut TapeBytes) {
        match &self.heap {
            None => to.put_array(&self.inline, self.len),
            Some(heap) => to.extend_from_slice(heap),
        }
    }

    #[cold]
    fn spill(&mut self) -> &mut Vec<u8> {
        let inline = &self.inline[..self.len];
        self.heap.get_or_insert_with(|| {
            // A buffer a previous large call let go of, so that a world
            // passing big values does not allocate on every call.
            let mut heap = SPILLED.try_with(Cell::take).unwrap_or_default();
            heap.clear();
            heap.extend_from_slice(inline);
            heap
        })
    }
}

thread_local! {
    static SPILLED: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

impl Drop for InlineBytes {
    #[inline]
    fn drop(&mut self) {
        if let Some(heap) = self.heap.take() {
            // Oversized buffers are freed, so memory stays flat.
            if heap.capacity() <= 1 << 20 {
                let _ = SPILLED.try_with(|s| s.set(heap));
            }
        }
    }
}

impl Store<u8> for InlineBytes {
    #[inline]
    fn push(&mut self, v: u8) {
        self.put(&[v; CHUNK], 1);
    }
    #[inline]
    fn extend_from_slice(&mut self, s: &[u8]) {
        match self.inline.get_mut(self.len..self.len + s.len()) {
            Some(to) if self.heap.is_none() => {
                to.copy_from_slice(s);
                self.len += s.len();
            }
            _ => self.spill().extend_from_slice(s),
        }
    }
    #[inline]
    fn put(&mut self, chunk: &[u8; CHUNK], used: usize) {
        let to: Option<&mut [u8; CHUNK]> = self
            .inline
            .get_mut(self.len..self.len + CHUNK)
            .and_then(|to| to.try_into().ok());
        match to {
            Some(to) if self.heap.is_none() => {
                *to = *chunk;
                self.len += used;
            }
            _ => self.spill().extend_from_slice(&chunk[..used]),
        }
    }
    #[inline]
    fn as_slice(&self) -> &[u8] {
        match &self.heap {
            Some(heap) => heap,
            None => &self.inline[..self.len],
        }
    }
    #[inline]
    fn truncate(&mut self, len: usize) {
        match &mut self.heap {
            Some(heap) => heap.truncate(len),
            None => self.len = self.len.min(len),
        }
    }
}

/// Values encoded one after another: the bytes and the names they use.
#[derive(Debug, Default, Clone)]
pub(crate) struct Enc<B, N> {
    pub(crate) bytes: B,
    pub(crate) names: N,
}

/// Encoded values kept for long: a tape's calls.
pub(crate) type Buf = Enc<TapeBytes, Vec<&'static str>>;

/// A tape's bytes: a buffer whose every byte is initialized (grown with
/// zeros) and a length, so that writes copy whole fixed-size chunks into
/// room already there, without a capacity check per byte.
#[derive(Debug, Clone, Default)]
pub(crate) struct TapeBytes {
    data: Vec<u8>,
    len: usize,
}

impl TapeBytes {
    /// These bytes, in a buffer of their size.
    pub(crate) fn from_slice(bytes: &[u8]) -> Self {
        Self {
            data: bytes.to_vec(),
            len: bytes.len(),
        }
    }

    /// Room for `n` more bytes.
    #[cold]
    fn grow(&mut self, n: usize) {
        let want = (self.len + n).max(self.data.len() * 2).max(4096);
        self.data.resize(want, 0);
    }

    /// The buffer's size in memory.
    pub(crate) fn capacity(&self) -> usize {
        self.data.capacity()
    }

    /// Appends `chunk[..used]` by copying all of `chunk`.
    #[inline]
    fn put_array<const N: usize>(&mut self, chunk: &[u8; N], used: usize) {
        if self.data.len() < self.len + N {
            self.grow(N);
        }
        if let Some(to) = self.data.get_mut(self.len..self.len + N) {
            to.copy_from_slice(chunk);
            self.len += used.min(N);
        }
    }
}

impl Store<u8> for TapeBytes {
    #[inline]
    fn push(&mut self, v: u8) {
        self.put_array(&[v], 1);
    }
    #[inline]
    fn extend_from_slice(&mut self, s: &[u8]) {
        if self.data.len() < self.len + s.len() {
            self.grow(s.len());
        }
        if let Some(to) = self.data.get_mut(self.len..self.len + s.len()) {
            to.copy_from_slice(s);
            self.len += s.len();
        }
    }
    #[inline]
    fn put(&mut self, chunk: &[u8; CHUNK], used: usize) {
        self.put_array(chunk, used);
    }
    #[inline]
    fn as_slice(&self) -> &[u8] {
        &self.data[..self.len]
    }
    #[inline]
    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

/// The values of one call being recorded, on the stack while small.
pub(crate) type Scratch = Enc<InlineBytes, SmallVec<[&'static str; 2]>>;

impl<B: Store<u8>, N: Store<&'static str>> Enc<B, N> {
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.names.clear();
    }

    #[inline]
    pub(crate) fn byte(&mut self, b: u8) {
        self.bytes.push(b);
    }

    #[inline]
    pub(crate) fn varint(&mut self, v: u64) {
        let mut chunk = [0; CHUNK];
        let used = put_varint(&mut chunk, 0, v);
        self.bytes.put(&chunk, used);
    }

    /// A tag byte and a varint, written at once.
    #[inline]
    fn tagged(&mut self, tag: u8, v: u64) {
        let mut chunk = [0; CHUNK];
        chunk[0] = tag;
        let used = put_varint(&mut chunk, 1, v);
        self.bytes.put(&chunk, used);
    }

    /// The start of a tuple or struct variant.
    fn compound_variant(&mut self, tag: u8, name: &'static str, index: u32, variant: &'static str, len: usize) {
        self.tagged(tag, index.into());
        self.varint(len as u64);
        self.name(name);
        self.name(variant);
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
        let mut chunk = [0; CHUNK];
        chunk[0] = tag;
        chunk[1..9].copy_from_slice(&v.to_le_bytes());
        self.bytes.put(&chunk, 1 + WIDTH);
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

    #[inline]
    fn name(&mut self, name: &'static str) {
        self.names.push(name);
    }

    /// Appends `value`. When its `Serialize` fails, the value is replaced
    /// by a string saying why, as the text recorder does.
    pub(crate) fn value<T: Serialize + ?Sized>(&mut self, value: &T) {
        let (bytes, names) = (self.bytes.len(), self.names.len());
        if let Err(e) = value.serialize(&mut *self) {
            self.bytes.truncate(bytes);
            self.names.truncate(names);
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
pub(crate) type EncodeError = crate::write::WriteError;

type Res = Result<(), EncodeError>;

impl<B: Store<u8>, N: Store<&'static str>> ser::Serializer for &mut Enc<B, N> {
    type Ok = ();
    type Error = EncodeError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    #[inline]
    fn serialize_bool(self, v: bool) -> Res {
        self.byte(if v { tag::TRUE } else { tag::FALSE });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Res {
        self.fixed::<1>(tag::I8, v as u64);
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Res {
        self.fixed::<2>(tag::I16, v as u64);
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Res {
        self.fixed::<4>(tag::I32, v as u64);
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Res {
        self.fixed::<8>(tag::I64, v as u64);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Res {
        self.byte(tag::I128);
        self.bytes.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    #[inline]
    fn serialize_u8(self, v: u8) -> Res {
        self.fixed::<1>(tag::U8, v.into());
        Ok(())
    }
    #[inline]
    fn serialize_u16(self, v: u16) -> Res {
        self.fixed::<2>(tag::U16, v.into());
        Ok(())
    }
    #[inline]
    fn serialize_u32(self, v: u32) -> Res {
        self.fixed::<4>(tag::U32, v.into());
        Ok(())
    }
    #[inline]
    fn serialize_u64(self, v: u64) -> Res {
        self.fixed::<8>(tag::U64, v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Res {
        self.byte(tag::U128);
        self.bytes.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Res {
        self.byte(tag::F32);
        self.bytes.extend_from_slice(&v.to_bits().to_le_bytes());
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Res {
        self.byte(tag::F64);
        self.bytes.extend_from_slice(&v.to_bits().to_le_bytes());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Res {
        self.tagged(tag::CHAR, v.into());
        Ok(())
    }
    #[inline]
    fn serialize_str(self, v: &str) -> Res {
        self.byte(tag::STR);
        self.str(v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Res {
        self.tagged(tag::BYTES, v.len() as u64);
        self.bytes.extend_from_slice(v);
        Ok(())
    }
    #[inline]
    fn serialize_none(self) -> Res {
        self.byte(tag::NONE);
        Ok(())
    }
    #[inline]
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Res {
        self.byte(tag::SOME);
        value.serialize(self)
    }
    #[inline]
    fn serialize_unit(self) -> Res {
        self.byte(tag::UNIT);
        Ok(())
    }
    fn serialize_unit_struct(self, name: &'static str) -> Res {
        self.byte(tag::UNIT_STRUCT);
        self.name(name);
        Ok(())
    }
    #[inline]
    fn serialize_unit_variant(self, name: &'static str, index: u32, variant: &'static str) -> Res {
        self.tagged(tag::UNIT_VARIANT, index.into());
        self.name(name);
        self.name(variant);
        Ok(())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, name: &'static str, value: &T) -> Res {
        self.byte(tag::NEWTYPE_STRUCT);
        self.name(name);
        value.serialize(self)
    }
    #[inline]
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Res {
        self.tagged(tag::NEWTYPE_VARIANT, index.into());
        self.name(name);
        self.name(variant);
        value.serialize(self)
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Self, EncodeError> {
        self.tagged(tag::SEQ, len.map_or(0, |n| n as u64 + 1));
        Ok(self)
    }
    #[inline]
    fn serialize_tuple(self, len: usize) -> Result<Self, EncodeError> {
        self.tagged(tag::TUPLE, len as u64);
        Ok(self)
    }
    fn serialize_tuple_struct(self, name: &'static str, len: usize) -> Result<Self, EncodeError> {
        self.tagged(tag::TUPLE_STRUCT, len as u64);
        self.name(name);
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self, EncodeError> {
        self.compound_variant(tag::TUPLE_VARIANT, name, index, variant, len);
        Ok(self)
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Self, EncodeError> {
        self.tagged(tag::MAP, len.map_or(0, |n| n as u64 + 1));
        Ok(self)
    }
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Self, EncodeError> {
        self.tagged(tag::STRUCT, len as u64);
        self.name(name);
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self, EncodeError> {
        self.compound_variant(tag::STRUCT_VARIANT, name, index, variant, len);
        Ok(self)
    }
}

/// Sequences, tuples, maps and tuple structs and variants: elements one
/// after another, then `END`.
macro_rules! elements {
    ($($trait:ident :: $method:ident),*) => {$(
        impl<B: Store<u8>, N: Store<&'static str>> $trait for &mut Enc<B, N> {
            type Ok = ();
            type Error = EncodeError;
            #[inline]
            fn $method<T: ?Sized + Serialize>(&mut self, value: &T) -> Res {
                value.serialize(&mut **self)
            }
            #[inline]
            fn end(self) -> Res {
                self.byte(tag::END);
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

impl<B: Store<u8>, N: Store<&'static str>> SerializeMap for &mut Enc<B, N> {
    type Ok = ();
    type Error = EncodeError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Res {
        key.serialize(&mut **self)
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Res {
        value.serialize(&mut **self)
    }
    fn end(self) -> Res {
        self.byte(tag::END);
        Ok(())
    }
}

/// Struct fields: each is its name, then its value.
macro_rules! fields {
    ($($trait:ident),*) => {$(
        impl<B: Store<u8>, N: Store<&'static str>> $trait for &mut Enc<B, N> {
            type Ok = ();
            type Error = EncodeError;
            fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Res {
                self.name(key);
                value.serialize(&mut **self)
            }
            fn skip_field(&mut self, key: &'static str) -> Res {
                self.byte(tag::SKIP);
                self.name(key);
                Ok(())
            }
            fn end(self) -> Res {
                self.byte(tag::END);
                Ok(())
            }
        }
    )*};
}

fields!(SerializeStruct, SerializeStructVariant);

/// A position in encoded values; [`Encoded`] values read from it in turn.
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    bytes: &'a [u8],
    names: &'a [&'static str],
    at: Cell<usize>,
    name_at: Cell<usize>,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(bytes: &'a [u8], names: &'a [&'static str]) -> Self {
        Self {
            bytes,
            names,
            at: Cell::new(0),
            name_at: Cell::new(0),
        }
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

    /// A call's virtual time, as [`Enc::time`] and the marks wrote it.
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

    fn name<E: ser::Error>(&self) -> Result<&'static str, E> {
        let at = self.name_at.get();
        let n = *self.names.get(at).ok_or_else(Self::corrupt::<E>)?;
        self.name_at.set(at + 1);
        Ok(n)
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
                $st.serialize_field($c.name()?, &$next)?;
            }
        }
        $st.end()
    }};
}

/// The next encoded value of a [`Cursor`], as a `Serialize` that replays it.
pub(crate) struct Encoded<'c, 'a>(pub &'c Cursor<'a>);

impl Serialize for Encoded<'_, '_> {
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use serde::Serialize;

    use super::*;

    #[derive(Serialize, Debug, Clone)]
    struct Newtype(u16);

    #[derive(Serialize, Debug, Clone)]
    struct UnitStruct;

    #[derive(Serialize, Debug, Clone)]
    struct TupleStruct(i8, Option<bool>);

    /// `serialize_bytes`, which derive never calls.
    #[derive(Debug, Clone)]
    struct Bytes(Vec<u8>);

    impl Serialize for Bytes {
        fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&self.0)
        }
    }

    /// A `Serialize` that fails half-way, after writing part of a struct.
    #[derive(Debug, Clone)]
    struct Fails(String);

    impl Serialize for Fails {
        fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut st = s.serialize_struct("Fails", 2)?;
            st.serialize_field("before", &1u8)?;
            Err(ser::Error::custom(&self.0))
        }
    }

    /// Every shape of the serde data model, nested.
    #[derive(Serialize, Debug, Clone)]
    #[allow(clippy::use_self)]
    enum Node {
        Unit(()),
        UnitVariant,
        Bool(bool),
        I8(i8),
        I16(i16),
        I32(i32),
        I64(i64),
        I128(i128),
        U8(u8),
        U16(u16),
        U32(u32),
        U64(u64),
        U128(u128),
        F32(f32),
        F64(f64),
        Char(char),
        Str(String),
        Bytes(Bytes),
        Option(Option<Box<Node>>),
        Seq(Vec<Node>),
        Map(BTreeMap<String, Node>),
        MapIntKeys(BTreeMap<u32, Node>),
        Tuple((Box<Node>, u8)),
        Newtype(Newtype),
        UnitStruct(UnitStruct),
        TupleStruct(TupleStruct),
        TupleVariant(Box<Node>, Box<Node>),
        StructVariant {
            a: Box<Node>,
            #[serde(skip_serializing_if = "Option::is_none")]
            b: Option<u8>,
            #[serde(rename = "r#type")]
            c: bool,
        },
        Fails(Fails),
    }

    fn leaf() -> impl Strategy<Value = Node> {
        prop_oneof![
            Just(Node::Unit(())),
            Just(Node::UnitVariant),
            any::<bool>().prop_map(Node::Bool),
            any::<i8>().prop_map(Node::I8),
            any::<i16>().prop_map(Node::I16),
            any::<i32>().prop_map(Node::I32),
            any::<i64>().prop_map(Node::I64),
            any::<i128>().prop_map(Node::I128),
            any::<u8>().prop_map(Node::U8),
            any::<u16>().prop_map(Node::U16),
            any::<u32>().prop_map(Node::U32),
            any::<u64>().prop_map(Node::U64),
            any::<u128>().prop_map(Node::U128),
            any::<f32>().prop_map(Node::F32),
            prop_oneof![any::<f64>(), Just(f64::NAN), Just(f64::INFINITY), Just(-0.0)].prop_map(Node::F64),
            any::<char>().prop_map(Node::Char),
            any::<String>().prop_map(Node::Str),
            "[a-z\"\\\\\n\t']{0,80}".prop_map(Node::Str),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| Node::Bytes(Bytes(b))),
            any::<u16>().prop_map(|v| Node::Newtype(Newtype(v))),
            Just(Node::UnitStruct(UnitStruct)),
            (any::<i8>(), any::<Option<bool>>()).prop_map(|(a, b)| Node::TupleStruct(TupleStruct(a, b))),
            "[a-z ]{0,20}".prop_map(|m| Node::Fails(Fails(m))),
        ]
    }

    fn node() -> impl Strategy<Value = Node> {
        leaf().prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                proptest::option::of(inner.clone()).prop_map(|o| Node::Option(o.map(Box::new))),
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Node::Seq),
                proptest::collection::btree_map("[a-z]{0,6}", inner.clone(), 0..4).prop_map(Node::Map),
                proptest::collection::btree_map(any::<u32>(), inner.clone(), 0..4).prop_map(Node::MapIntKeys),
                (inner.clone(), any::<u8>()).prop_map(|(n, b)| Node::Tuple((Box::new(n), b))),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| Node::TupleVariant(Box::new(a), Box::new(b))),
                (inner, any::<Option<u8>>(), any::<bool>()).prop_map(|(a, b, c)| Node::StructVariant {
                    a: Box::new(a),
                    b,
                    c
                }),
            ]
        })
    }

    /// What the recorder wrote before tapes were encoded: RON at once, or
    /// the marker when `Serialize` fails.
    fn direct<T: Serialize + ?Sized>(value: &T) -> String {
        crate::write::to_ron(value).unwrap_or_else(|e| {
            let mut s = String::new();
            crate::write::write_escaped_str(&mut s, &unserializable(&e));
            s
        })
    }

    /// Encodes `values` one after another into `buf`, then renders them.
    fn round_trip<B: Store<u8>, N: Store<&'static str>>(buf: &mut Enc<B, N>, values: &[Node]) -> Vec<String> {
        for v in values {
            buf.value(v);
        }
        let c = Cursor::new(buf.bytes.as_slice(), buf.names.as_slice());
        let out = values
            .iter()
            .map(|_| crate::write::to_ron(&Encoded(&c)).expect("an encoded value renders"))
            .collect();
        assert!(c.at_end(), "every byte was read");
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 3000, failure_persistence: None, ..ProptestConfig::default() })]

        /// Rendering an encoded value gives the RON of the value itself,
        /// byte for byte, in every kind of buffer (inline values spill to
        /// the heap past 64 bytes).
        #[test]
        fn encoded_values_render_as_the_values_themselves(values in proptest::collection::vec(node(), 1..4)) {
            let expected: Vec<String> = values.iter().map(direct).collect();
            prop_assert_eq!(&round_trip(&mut Buf::default(), &values), &expected);
            prop_assert_eq!(&round_trip(&mut Scratch::default(), &values), &expected);
            // A scratch value appended to a tape's bytes reads back too.
            let mut scratch = Scratch::default();
            for v in &values {
                scratch.value(v);
            }
            let mut tape = TapeBytes::default();
            tape.extend_from_slice(&[7; 5]);
            scratch.bytes.append_to(&mut tape);
            prop_assert_eq!(&tape.as_slice()[5..], scratch.bytes.as_slice());
        }
    }

    #[test]
    fn a_failing_serialize_leaves_no_partial_value() {
        let mut buf = Buf::default();
        buf.value(&1u8);
        buf.value(&Fails("nope".into()));
        buf.value(&2u8);
        let c = Cursor::new(buf.bytes.as_slice(), &buf.names);
        let rendered: Vec<String> = (0..3).map(|_| crate::write::to_ron(&Encoded(&c)).unwrap()).collect();
        assert_eq!(rendered, ["1", "\"<unserializable: nope>\"", "2"]);
        assert!(buf.names.is_empty(), "the struct's names were dropped with it");
    }

    #[test]
    fn corrupt_bytes_are_an_error_not_a_panic() {
        for bytes in [
            &[tag::STR, 200][..],
            &[tag::SEQ, 0, tag::U8],
            &[99],
            &[tag::UNIT_STRUCT],
            &[tag::U64, 1],
        ] {
            let c = Cursor::new(bytes, &[]);
            assert!(crate::write::to_ron(&Encoded(&c)).is_err(), "{bytes:?}");
        }
    }
}
