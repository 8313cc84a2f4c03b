//! The `serde::Serializer` that encodes a value into an [`Enc`].

use serde::ser::{self, Serialize, SerializeMap, SerializeSeq, SerializeStruct, SerializeStructVariant};
use serde::ser::{SerializeTuple, SerializeTupleStruct, SerializeTupleVariant};

use super::{Enc, EncodeError, Res, Store, tag};

impl<B: Store<u8>> ser::Serializer for &mut Enc<B> {
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
    #[inline]
    fn serialize_i8(self, v: i8) -> Res {
        self.fixed::<1>(tag::I8, v as u64);
        Ok(())
    }
    #[inline]
    fn serialize_i16(self, v: i16) -> Res {
        self.fixed::<2>(tag::I16, v as u64);
        Ok(())
    }
    #[inline]
    fn serialize_i32(self, v: i32) -> Res {
        self.fixed::<4>(tag::I32, v as u64);
        Ok(())
    }
    #[inline]
    fn serialize_i64(self, v: i64) -> Res {
        self.fixed::<8>(tag::I64, v as u64);
        Ok(())
    }
    #[inline]
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
    #[inline]
    fn serialize_u128(self, v: u128) -> Res {
        self.byte(tag::U128);
        self.bytes.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }
    #[inline]
    fn serialize_f32(self, v: f32) -> Res {
        self.byte(tag::F32);
        self.bytes.extend_from_slice(&v.to_bits().to_le_bytes());
        Ok(())
    }
    #[inline]
    fn serialize_f64(self, v: f64) -> Res {
        self.byte(tag::F64);
        self.bytes.extend_from_slice(&v.to_bits().to_le_bytes());
        Ok(())
    }
    #[inline]
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
    #[inline]
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
    #[inline]
    fn serialize_unit_struct(self, name: &'static str) -> Res {
        self.tagged_name(tag::UNIT_STRUCT, name);
        Ok(())
    }
    #[inline]
    fn serialize_unit_variant(self, name: &'static str, index: u32, variant: &'static str) -> Res {
        self.variant(tag::UNIT_VARIANT, name, index, variant);
        Ok(())
    }
    #[inline]
    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, name: &'static str, value: &T) -> Res {
        self.tagged_name(tag::NEWTYPE_STRUCT, name);
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
        self.variant(tag::NEWTYPE_VARIANT, name, index, variant);
        value.serialize(self)
    }
    #[inline]
    fn serialize_seq(self, len: Option<usize>) -> Result<Self, EncodeError> {
        self.tagged(tag::SEQ, len.map_or(0, |n| n as u64 + 1));
        Ok(self)
    }
    #[inline]
    fn serialize_tuple(self, len: usize) -> Result<Self, EncodeError> {
        self.tagged(tag::TUPLE, len as u64);
        Ok(self)
    }
    #[inline]
    fn serialize_tuple_struct(self, name: &'static str, len: usize) -> Result<Self, EncodeError> {
        self.tagged(tag::TUPLE_STRUCT, len as u64);
        self.name(name);
        Ok(self)
    }
    #[inline]
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
    #[inline]
    fn serialize_map(self, len: Option<usize>) -> Result<Self, EncodeError> {
        self.tagged(tag::MAP, len.map_or(0, |n| n as u64 + 1));
        Ok(self)
    }
    #[inline]
    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Self, EncodeError> {
        self.tagged(tag::STRUCT, len as u64);
        self.name(name);
        Ok(self)
    }
    #[inline]
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
        impl<B: Store<u8>> $trait for &mut Enc<B> {
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

impl<B: Store<u8>> SerializeMap for &mut Enc<B> {
    type Ok = ();
    type Error = EncodeError;
    #[inline]
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Res {
        key.serialize(&mut **self)
    }
    #[inline]
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Res {
        value.serialize(&mut **self)
    }
    #[inline]
    fn end(self) -> Res {
        self.byte(tag::END);
        Ok(())
    }
}

/// Struct fields: each is its name, then its value.
macro_rules! fields {
    ($($trait:ident),*) => {$(
        impl<B: Store<u8>> $trait for &mut Enc<B> {
            type Ok = ();
            type Error = EncodeError;
            #[inline]
            fn serialize_field<T: ?Sized + Serialize>(&mut self, key: &'static str, value: &T) -> Res {
                self.field_name(key);
                value.serialize(&mut **self)
            }
            #[inline]
            fn skip_field(&mut self, key: &'static str) -> Res {
                self.byte(tag::SKIP);
                self.name(key);
                Ok(())
            }
            #[inline]
            fn end(self) -> Res {
                self.byte(tag::END);
                Ok(())
            }
        }
    )*};
}

fields!(SerializeStruct, SerializeStructVariant);
