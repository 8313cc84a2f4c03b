//! rehearse's RON writer against `ron` itself: the same bytes (apart from
//! escaped control chars in `char`s), read back by `ron` to the same value,
//! and parsed and re-rendered by `rehearse::Value` to the same text.

#![allow(missing_docs)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use rehearse::__private::to_ron;
use rehearse::Value;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Wrapper(String);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unit;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Tree {
    Leaf,
    Bool(bool),
    Int(i64),
    Byte(u8),
    Float(f64),
    Text(String),
    Char(char),
    Opt(Option<Box<Self>>),
    List(Vec<Self>),
    Map(BTreeMap<String, Self>),
    Pair(Box<Self>, Box<Self>),
    Record {
        name: Wrapper,
        unit: Unit,
        child: Box<Self>,
        tuple: (u8, String),
    },
    #[serde(rename = "odd-name")]
    Odd {
        #[serde(rename = "my-field")]
        field: u8,
    },
    Empty {},
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z ]{0,12}",
        any::<String>(),
        Just("quote \" backslash \\ tick ' tab \t newline \n nul \0 combining \u{301} e\u{301}".to_string()),
    ]
}

fn tree(chars: bool) -> impl Strategy<Value = Tree> {
    let leaf = prop_oneof![
        Just(Tree::Leaf),
        any::<bool>().prop_map(Tree::Bool),
        any::<i64>().prop_map(Tree::Int),
        any::<u8>().prop_map(Tree::Byte),
        prop_oneof![
            -1e300f64..1e300,
            Just(0.0),
            Just(1e16),
            Just(1e-7),
            Just(100.0),
            Just(-0.5)
        ]
        .prop_map(Tree::Float),
        text().prop_map(Tree::Text),
        any::<u8>().prop_map(|field| Tree::Odd { field }),
        Just(Tree::Empty {}),
        // ron writes control characters in chars raw; rehearse escapes them.
        any::<char>()
            .prop_map(move |c| if c.is_control() && !chars { 'c' } else { c })
            .prop_map(Tree::Char),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::option::of(inner.clone().prop_map(Box::new)).prop_map(Tree::Opt),
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Tree::List),
            proptest::collection::btree_map(text(), inner.clone(), 0..3).prop_map(Tree::Map),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Tree::Pair(Box::new(a), Box::new(b))),
            (text(), inner, any::<u8>(), text()).prop_map(|(n, c, t, s)| Tree::Record {
                name: Wrapper(n),
                unit: Unit,
                child: Box::new(c),
                tuple: (t, s),
            }),
        ]
    })
}

fn ron_compact<T: Serialize>(v: &T) -> String {
    let config = ron::ser::PrettyConfig::new()
        .compact_arrays(true)
        .compact_maps(true)
        .compact_structs(true);
    ron::ser::to_string_pretty(v, config).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1500,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/proptest-regressions/write.txt"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn same_bytes_as_ron(t in tree(false)) {
        prop_assert_eq!(to_ron(&t).unwrap(), ron_compact(&t));
    }

    #[test]
    fn ron_reads_it_back(t in tree(true)) {
        let text = to_ron(&t).unwrap();
        prop_assert!(!text.contains('\n'), "one line: {}", text);
        let back: Tree = ron::from_str(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        prop_assert_eq!(back, t);
    }

    #[test]
    fn value_renders_it_identically(t in tree(true)) {
        let text = to_ron(&t).unwrap();
        let v = Value::parse(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
        prop_assert_eq!(v.to_string(), text.clone());
        // And the rendering is what ron reads back too.
        let back: Tree = ron::from_str(&v.to_string()).unwrap();
        prop_assert_eq!(back, t);
    }
}

#[test]
fn examples() {
    let t = Tree::Record {
        name: Wrapper("n-1".into()),
        unit: Unit,
        child: Box::new(Tree::Map([("k".to_string(), Tree::Opt(None))].into())),
        tuple: (5, "x".into()),
    };
    assert_eq!(
        to_ron(&t).unwrap(),
        r#"Record(name: ("n-1"), unit: (), child: Map({"k": Opt(None)}), tuple: (5, "x"))"#
    );
    assert_eq!(to_ron(&'\n').unwrap(), r"'\n'");
    assert_eq!(to_ron(&Tree::Odd { field: 1 }).unwrap(), "r#odd-name(r#my-field: 1)");
    assert_eq!(to_ron(&f64::NAN).unwrap(), "NaN");
    assert_eq!(to_ron(&u128::MAX).unwrap(), u128::MAX.to_string());
}
