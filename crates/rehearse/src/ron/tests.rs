//! Unit tests of the RON value tree: names kept, differences located,
//! display round trips, comments and errors with positions.

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
fn byte_strings_keep_bytes_from_0x80_on() {
    let v = Value::parse(r#"b"\x00z\xc1\xff\n\"""#).unwrap();
    assert_eq!(v, Value::Bytes(vec![0x00, b'z', 0xc1, 0xff, b'\n', b'"']));
    assert_eq!(Value::parse(&v.to_string()).unwrap(), v);
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
