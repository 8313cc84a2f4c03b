//! Unit tests of the encoding: every shape of the serde data model renders,
//! after encoding, as the RON of the value itself.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde::Serialize;
use serde::ser::{self, SerializeStruct as _};

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
    crate::ron::to_ron(value).unwrap_or_else(|e| {
        let mut s = String::new();
        crate::ron::write_str(&mut s, &unserializable(&e));
        s
    })
}

/// Encodes `values` one after another into `buf`, then renders them.
fn round_trip<B: Store<u8>>(buf: &mut Enc<B>, values: &[Node]) -> Vec<String> {
    for v in values {
        buf.value(v);
    }
    let names = names::Names::default();
    let c = Cursor::new(buf.bytes.as_slice(), &names);
    let out = values
        .iter()
        .map(|_| crate::ron::to_ron(&Encoded(&c)).expect("an encoded value renders"))
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
    let names = names::Names::default();
    let c = Cursor::new(buf.bytes.as_slice(), &names);
    let rendered: Vec<String> = (0..3).map(|_| crate::ron::to_ron(&Encoded(&c)).unwrap()).collect();
    assert_eq!(rendered, ["1", "\"<unserializable: nope>\"", "2"]);
    assert!(c.at_end(), "the struct's bytes were dropped with it");
}

#[test]
fn corrupt_bytes_are_an_error_not_a_panic() {
    for bytes in [
        &[tag::STR, 200][..],
        &[tag::SEQ, 0, tag::U8],
        &[99],
        &[tag::UNIT_STRUCT],
        &[tag::UNIT_STRUCT, 0xff, 0xff, 0xff, 0x7f],
        &[tag::U64, 1],
    ] {
        let names = names::Names::default();
        let c = Cursor::new(bytes, &names);
        assert!(crate::ron::to_ron(&Encoded(&c)).is_err(), "{bytes:?}");
    }
}

/// A struct whose fields are named by every name of the process's table,
/// so that some have the index of `END` or `SKIP`.
struct EveryName(Vec<&'static str>);

impl Serialize for EveryName {
    fn serialize<S: ser::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("EveryName", self.0.len())?;
        for (i, name) in self.0.iter().enumerate() {
            if i % 7 == 3 {
                st.skip_field(name)?;
            } else {
                st.serialize_field(name, &(i as u8))?;
            }
        }
        st.end()
    }
}

#[test]
fn field_names_of_any_index_read_back() {
    for i in 0..40 {
        names::index(Box::leak(format!("field_{i}").into_boxed_str()));
    }
    let table = names::Names::default();
    let every: Vec<&'static str> = (0..).map_while(|i| table.get(i)).collect();
    assert!(every.len() >= 40);
    let value = EveryName(every);
    let mut buf = Buf::default();
    buf.value(&value);
    let names = names::Names::default();
    let c = Cursor::new(buf.bytes.as_slice(), &names);
    assert_eq!(crate::ron::to_ron(&Encoded(&c)).unwrap(), direct(&value));
}
