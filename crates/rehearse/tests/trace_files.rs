//! Scenario files as people and crashes leave them: hand-written
//! multi-line records parse; torn, empty, random and newer-format files give
//! a clear `TraceError` naming the file and line, never a panic.

#![allow(missing_docs)]

use std::path::PathBuf;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use rehearse::{MarkKind, Trace, TraceErrorKind, Value};

fn write(name: &str, contents: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    (dir, path)
}

const GOOD: &str = r#"(rehearse: 1, tool: "rehearse 0.1.0", created: "2026-11-25T07:00:00Z", seed: 7, worlds: ["Cluster"], meta: {"test": "failover"})
(i: 0, call: "Cluster::gen_node_id", in: (None), out: ("n-1"))
(i: 1, at_us: 1500, call: "Cluster::status", in: (("n-1")), out: Ok((role: Primary, offset: 10)))
(i: 2, call: "Cluster::failover", in: ("a", "b"), out: Err(Refused(code: 409)))
"#;

#[test]
fn a_good_file_reads_with_its_header() {
    let (_d, path) = write("good.ron", GOOD.as_bytes());
    let trace = Trace::read(&path).unwrap();
    let h = trace.header();
    assert_eq!(h.version, 1);
    assert_eq!(h.seed, Some(7));
    assert_eq!(h.worlds, vec!["Cluster".to_string()]);
    assert_eq!(h.meta.get("test").map(String::as_str), Some("failover"));
    assert_eq!(trace.calls().len(), 3);
    let c = &trace.calls()[1];
    assert_eq!((c.index, c.line, c.at_us), (1, 3, Some(1500)));
    assert_eq!(c.signature(), r#"Cluster::status(("n-1"))"#);
    // Writing it back gives the same bytes.
    assert_eq!(trace.to_ron(), GOOD);
}

#[test]
fn hand_written_pretty_printed_records_parse() {
    let text = r##"// A scenario written by hand.
(rehearse: 1, tool: "by hand")

/* the node comes up */
(
    i: 0,
    call: "Cluster::status",
    in: (
        NodeId("n-1"),
    ),
    out: Ok(Status(
        role: Replica(of: "n-2", offset: 0x10),
        note: r#"quoted "text" with ) and ("#,
        tags: {
            "zone": 3, // trailing comments are fine
        },
    )),
)
(call: "Cluster::now", in: (), out: 1_000)
"##;
    let trace = Trace::parse(text).unwrap();
    assert_eq!(trace.calls().len(), 2);
    let c = &trace.calls()[0];
    assert_eq!(c.line, 5);
    assert_eq!(c.name, "Cluster::status");
    let role = match &c.output {
        Value::Tuple(Some(ok), inner) if ok == "Ok" => inner[0].field("role").cloned().unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(role.to_string(), r#"Replica(of: "n-2", offset: 16)"#);
    assert_eq!(trace.calls()[1].output, Value::Int(1000));
}

#[test]
fn a_torn_last_line_is_truncated_after_n_calls() {
    let torn = &GOOD[..GOOD.len() - 20];
    let (_d, path) = write("torn.ron", torn.as_bytes());
    let err = Trace::read(&path).unwrap_err();
    assert_eq!(err.truncated_after(), Some(2));
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("{}:4: truncated after call 2", path.display())),
        "{text}"
    );
    let trace = Trace::recover(&path).unwrap();
    assert!(trace.is_truncated());
    assert_eq!(trace.calls().len(), 2);
    assert_eq!(trace.calls()[1].name, "Cluster::status");
}

#[test]
fn a_torn_line_inside_a_string_is_truncated_too() {
    let cut = GOOD.find("Cluster::failover").unwrap() + 4;
    let (_d, path) = write("torn2.ron", &GOOD.as_bytes()[..cut]);
    assert_eq!(Trace::read(&path).unwrap_err().truncated_after(), Some(2));
}

#[test]
fn a_torn_header_says_so() {
    let err = Trace::parse("(rehearse: 1, tool: \"rehe").unwrap_err();
    assert!(
        err.to_string().contains("<memory>:1: the header is incomplete"),
        "{err}"
    );
}

#[test]
fn an_empty_file_says_so() {
    let (_d, path) = write("empty.ron", b"");
    let err = Trace::read(&path).unwrap_err();
    assert!(matches!(err.kind, TraceErrorKind::Empty));
    assert_eq!(
        err.to_string(),
        format!("{}: empty file: expected a rehearse header on line 1", path.display())
    );
}

#[test]
fn random_bytes_are_not_utf8() {
    let (_d, path) = write("random.ron", &[0x28, 0xff, 0xfe, 0x00, 0x13, 0x37, 0x0a]);
    let err = Trace::read(&path).unwrap_err();
    assert!(matches!(err.kind, TraceErrorKind::NotUtf8));
    assert_eq!((err.line, err.column), (Some(1), Some(2)));
    assert!(err.to_string().contains("random.ron:1:2: not UTF-8 text"), "{err}");
}

#[test]
fn a_file_that_is_not_a_scenario() {
    let (_d, path) = write("json.ron", b"{\"hello\": 1}\n");
    let err = Trace::read(&path).unwrap_err();
    assert!(err.to_string().contains("not a rehearse scenario"), "{err}");
}

#[test]
fn a_newer_format_version_asks_for_an_upgrade() {
    let (_d, path) = write(
        "v3.ron",
        b"(rehearse: 3, tool: \"rehearse 9.0\")\n(i: 0, call: \"X::y\", in: (), out: ())\n",
    );
    let err = Trace::read(&path).unwrap_err();
    assert!(matches!(
        err.kind,
        TraceErrorKind::UnsupportedVersion { found: 3, supported: 2 }
    ));
    assert!(
        err.to_string()
            .contains("v3.ron:1: format version 3 is newer than this rehearse reads (up to 2)"),
        "{err}"
    );
}

#[test]
fn a_syntax_error_names_line_and_column() {
    let bad = GOOD.replace("in: (\"a\", \"b\")", "in: (\"a\" \"b\")");
    let (_d, path) = write("bad.ron", bad.as_bytes());
    let err = Trace::read(&path).unwrap_err();
    assert_eq!(err.line, Some(4));
    assert!(err.to_string().contains("bad.ron:4:"), "{err}");
    assert!(
        err.to_string().contains("expected `,` or `)` in a tuple, found `\"`"),
        "{err}"
    );
}

#[test]
fn an_unclosed_record_in_the_middle_is_a_syntax_error_not_truncation() {
    let bad = GOOD.replace("in: (None), out: (\"n-1\"))", "in: (None), out: (\"n-1\")");
    let err = Trace::parse(&bad).unwrap_err();
    assert_eq!(err.line, Some(2));
    assert!(err.to_string().contains("never closed"), "{err}");
}

#[test]
fn out_of_order_and_malformed_records_are_named() {
    let bad = GOOD.replace("(i: 1,", "(i: 5,");
    let err = Trace::parse(&bad).unwrap_err();
    assert!(
        err.to_string()
            .contains("<memory>:3: calls out of order: expected `i: 1`, found `i: 5`"),
        "{err}"
    );
    let bad = GOOD.replace("out: Err(Refused(code: 409))", "result: 1");
    let err = Trace::parse(&bad).unwrap_err();
    assert!(err.to_string().contains("unknown call field `result`"), "{err}");
    let err = Trace::parse("(rehearse: 1)\n[1, 2]\n").unwrap_err();
    assert!(err.to_string().contains("expected a call record"), "{err}");
}

#[test]
fn a_missing_file_names_the_path() {
    let err = Trace::read("/no/such/scenario.ron").unwrap_err();
    assert!(err.to_string().starts_with("/no/such/scenario.ron: "), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/proptest-regressions/trace_files.txt"))),
        ..ProptestConfig::default()
    })]

    /// Any bytes at all: an error or a trace, never a panic.
    #[test]
    fn the_reader_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Trace::from_reader(&bytes[..], None, false);
        let _ = Trace::from_reader(&bytes[..], None, true);
    }

    /// RON-like text, which gets much deeper into the parser than bytes.
    #[test]
    fn the_reader_never_panics_on_ron_like_text(text in "[(){}\\[\\]\"'a-z0-9:,.#r/*\\\\_ \n-]{0,300}") {
        let input = format!("(rehearse: 1)\n{text}");
        let _ = Trace::parse(&input);
        let _ = Value::parse(&text);
    }

    /// Cutting a good file anywhere gives its complete calls, or a clear
    /// truncation error that says how many are complete.
    #[test]
    fn any_cut_of_a_good_file_is_readable_or_truncated(cut in 0..GOOD.len()) {
        let text = &GOOD[..cut];
        match Trace::from_reader(text.as_bytes(), None, false) {
            Ok(trace) => {
                let complete = text.matches(")\n").count().saturating_sub(1);
                prop_assert!(trace.calls().len() >= complete.min(3));
            }
            Err(e) => {
                let in_header = cut <= GOOD.find('\n').unwrap();
                let ok = if in_header {
                    matches!(e.kind, TraceErrorKind::Empty | TraceErrorKind::Header(_))
                } else {
                    e.truncated_after().is_some()
                };
                prop_assert!(ok, "cut at {cut}: {e}");
                if let Some(n) = e.truncated_after() {
                    let recovered = Trace::from_reader(text.as_bytes(), None, true).unwrap();
                    prop_assert_eq!(recovered.calls().len(), n);
                }
            }
        }
    }

    /// Changing one byte of a good file: a trace or an error, never a panic.
    #[test]
    fn one_corrupted_byte_never_panics(at in 0..GOOD.len(), byte in any::<u8>()) {
        let mut bytes = GOOD.as_bytes().to_vec();
        bytes[at] = byte;
        let _ = Trace::from_reader(&bytes[..], None, false);
    }
}

#[test]
fn the_format_example_in_the_docs_reads() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/scenarios/format-example.ron");
    let trace = Trace::read(path).unwrap();
    assert_eq!(trace.header().version, 2);
    assert_eq!(trace.calls().len(), 6);
    assert_eq!(trace.calls()[5].name, "Cluster::failover");
    assert_eq!(trace.calls()[5].line, 9);
    assert_eq!(trace.calls()[4].node.as_deref(), Some("arb-1"));
    assert_eq!(trace.calls()[1].node, None);
    assert_eq!(trace.header().worlds, ["Cluster", "Election"]);
    let marks = trace.marks();
    assert_eq!(marks.len(), 2);
    assert_eq!(
        (marks[0].before_call, marks[0].line, marks[0].at_us),
        (3, 5, Some(1_500_000))
    );
    assert_eq!(
        marks[0].kind,
        MarkKind::Note {
            text: "arb-1 leads in epoch 7".into()
        }
    );
    assert_eq!((marks[1].before_call, marks[1].line), (4, 7));
    assert!(matches!(&marks[1].kind, MarkKind::Fault { point, detail: Some(_) } if point == "Cluster::status"));
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/FORMAT.md")).unwrap();
    let file = std::fs::read_to_string(path).unwrap();
    assert!(
        doc.contains(file.trim_end()),
        "FORMAT.md must show the example file verbatim"
    );
}

/// Version 1 files, as rehearse wrote them before marks existed, still
/// read: the old format example and every committed scenario (the
/// hand-written ones are version 1; those recorded since are version 2).
#[test]
fn version_1_files_still_read() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/scenarios/format-example-v1.ron");
    let trace = Trace::read(path).unwrap();
    assert_eq!(trace.header().version, 1);
    assert_eq!(trace.calls().len(), 6);
    assert_eq!(trace.calls()[5].line, 7);
    assert!(trace.marks().is_empty());
    assert!(trace.calls().iter().all(|c| c.node.is_none()));
    let scenarios = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios");
    let (mut read, mut v1) = (0, 0);
    for entry in std::fs::read_dir(scenarios).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "ron") {
            let trace = Trace::read(&path).unwrap_or_else(|e| panic!("{e}"));
            assert!(matches!(trace.header().version, 1 | 2), "{}", path.display());
            v1 += usize::from(trace.header().version == 1);
            read += 1;
        }
    }
    assert!(read >= 20, "only {read} scenarios under {scenarios}");
    assert!(v1 >= 10, "only {v1} version 1 scenarios under {scenarios}");
}

// Hostile input (issue 20): scenario files built to exhaust the reader's
// stack, memory or time, and good files damaged the ways files get damaged.
// Each case is large enough that a reader doing quadratic work or
// recursing per bracket would hang or overflow, and small enough to read
// in milliseconds when it does neither.

/// Nesting is refused at a fixed depth, with the line of the record, however
/// deep the input goes: 100,000 brackets, on one line or one per line,
/// closed or not, in the header or in a call.
#[test]
fn a_hundred_thousand_nested_brackets_are_refused_not_overflowed() {
    const DEEP: usize = 100_000;
    let head = "(rehearse: 1)\n";
    for (open, close) in [("[", "]"), ("(", ")"), ("{", "}"), ("Some(", ")"), ("{1:", "}")] {
        let value = format!("{}{}", open.repeat(DEEP), close.repeat(DEEP));
        let one_line = format!("{head}(i: 0, call: \"X::y\", in: (), out: {value})\n");
        let err = Trace::parse(&one_line).unwrap_err();
        assert!(err.to_string().contains("<memory>:2:"), "{open}: {err}");
        assert!(err.to_string().contains("nested deeper than"), "{open}: {err}");
        let per_line = format!(
            "{head}(i: 0, call: \"X::y\", in: (), out:\n{}{})\n",
            format!("{open}\n").repeat(DEEP),
            format!("{close}\n").repeat(DEEP)
        );
        let err = Trace::parse(&per_line).unwrap_err();
        assert!(err.to_string().contains("nested deeper than"), "{open}: {err}");
        // Never closed: the file ends inside the record.
        let unclosed = format!("{head}(i: 0, call: \"X::y\", in: (), out: {}", open.repeat(DEEP));
        let err = Trace::parse(&unclosed).unwrap_err();
        assert!(err.line == Some(2), "{open}: {err}");
        let header = format!("(rehearse: 1, meta: {value})\n");
        let err = Trace::parse(&header).unwrap_err();
        assert_eq!(err.line, Some(1), "{open}: {err}");
    }
    let err = Value::parse(&"[".repeat(DEEP)).unwrap_err();
    assert!(err.message.contains("nested deeper"), "{err}");
    // Block comments nest too, with a counter rather than recursion.
    let comments = format!("{head}{}x{}\n", "/*".repeat(DEEP), "*/".repeat(DEEP));
    assert_eq!(Trace::parse(&comments).unwrap().calls().len(), 0);
}

/// A file whose last lines are comments is whole: it used to be reported
/// "truncated after call N" (the comment was kept as the start of a record
/// and parsed as one at the end of the file).
#[test]
fn comments_at_the_end_of_a_file_are_not_a_torn_record() {
    for tail in ["// the end\n", "/* the end */\n", "/* the\nend */\n\n", "// the end"] {
        let trace = Trace::parse(&format!("{GOOD}{tail}")).unwrap_or_else(|e| panic!("{tail:?}: {e}"));
        assert_eq!(trace.calls().len(), 3, "{tail:?}");
    }
}

/// A comment left open at the top of a file is re-read from its start at
/// every line only if the reader is quadratic: 50,000 lines of it must
/// read as fast as any other 1 MB.
#[test]
fn a_long_unterminated_comment_reads_in_linear_time() {
    let text = format!(
        "(rehearse: 1)\n/* open\n{}",
        "a line inside the comment\n".repeat(50_000)
    );
    let err = Trace::parse(&text).unwrap_err();
    assert!(err.truncated_after() == Some(0) || err.line == Some(2), "{err}");
    // And closed at the end, it is a comment like any other.
    let closed = format!("{text}*/\n(i: 0, call: \"X::y\", in: (), out: ())\n");
    let trace = Trace::parse(&closed).unwrap();
    assert_eq!(trace.calls()[0].line, 50_004);
}

/// Raw strings with many `#`s and many quotes inside: each quote must not
/// cost a scan of all the `#`s.
#[test]
fn raw_strings_with_many_hashes_and_quotes_read_in_linear_time() {
    let hashes = "#".repeat(100_000);
    let body = "\"".repeat(100_000);
    let text = format!("(rehearse: 1)\n(i: 0, call: \"X::y\", in: (), out: r{hashes}\"{body}\"{hashes})\n");
    let trace = Trace::parse(&text).unwrap();
    assert_eq!(trace.calls()[0].output, Value::Str(body));
}

/// Very long strings and lines read whole (memory is linear in the file).
#[test]
fn a_two_megabyte_string_reads() {
    let long = "x".repeat(2 << 20);
    let text = format!("(rehearse: 1)\n(i: 0, call: \"X::y\", in: (\"{long}\"), out: ())\n");
    let trace = Trace::parse(&text).unwrap();
    assert_eq!(trace.calls()[0].inputs[0].as_str().map(str::len), Some(2 << 20));
}

/// Numbers past every integer type: an error naming the field, never a
/// wrapped value read as another one.
#[test]
fn huge_numbers_are_refused_not_wrapped() {
    let head = "(rehearse: 1)\n";
    for (record, field) in [
        ("(i: 18446744073709551616, call: \"X::y\", in: (), out: ())", "`i`"),
        ("(i: -1, call: \"X::y\", in: (), out: ())", "`i`"),
        (
            "(i: 0, at_us: 18446744073709551616, call: \"X::y\", in: (), out: ())",
            "`at_us`",
        ),
    ] {
        let err = Trace::parse(&format!("{head}{record}\n")).unwrap_err();
        assert_eq!(err.line, Some(2), "{record}: {err}");
        assert!(err.to_string().contains(field), "{record}: {err}");
    }
    // Beyond i128: a syntax error at the number.
    let err = Trace::parse(&format!(
        "{head}(i: 0, call: \"X::y\", in: ({}), out: ())\n",
        "9".repeat(60)
    ))
    .unwrap_err();
    assert_eq!((err.line, err.column), (Some(2), Some(27)), "{err}");
    assert!(err.to_string().contains("is not a number"), "{err}");
    let err = Trace::parse("(rehearse: 99999999999999999999999)\n").unwrap_err();
    assert_eq!(err.line, Some(1), "{err}");
    // Floats saturate as Rust's parser does; they are values, not errors.
    let trace = Trace::parse(&format!("{head}(i: 0, call: \"X::y\", in: (1e999999), out: ())\n")).unwrap();
    assert_eq!(trace.calls()[0].inputs[0], Value::Float(f64::INFINITY));
}

/// Invalid UTF-8 anywhere names its line and column, after any number of
/// good lines.
#[test]
fn invalid_utf8_in_the_middle_names_its_line() {
    let mut bytes = GOOD.as_bytes().to_vec();
    let at = GOOD.find("Cluster::status").unwrap();
    bytes.splice(at..at, [0xed, 0xa0, 0x80]); // a UTF-16 surrogate
    let err = Trace::from_reader(&bytes[..], None, false).unwrap_err();
    assert!(matches!(err.kind, TraceErrorKind::NotUtf8), "{err}");
    assert_eq!(err.line, Some(3), "{err}");
}

/// One way to damage a good scenario file.
#[derive(Debug, Clone)]
enum Damage {
    /// One bit flipped.
    Flip { at: usize, bit: u8 },
    /// Cut at a byte.
    Truncate { at: usize },
    /// A line written twice.
    Duplicate { line: usize },
    /// A line removed.
    Delete { line: usize },
    /// Bytes inserted at a byte offset.
    Insert { at: usize, bytes: Vec<u8> },
}

/// What an attacker or a bad editor inserts: huge numbers, deep or
/// unbalanced nesting, long strings, bad escapes, invalid UTF-8, a record.
fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (1usize..60).prop_map(|n| "9".repeat(n).into_bytes()),
        Just(b"-170141183460469231731687303715884105728".to_vec()),
        Just(b"0x1ffffffffffffffffffffffffffffffff".to_vec()),
        Just(b"1e999999".to_vec()),
        (1usize..300).prop_map(|n| "[".repeat(n).into_bytes()),
        (1usize..300).prop_map(|n| format!("{}{}", "(".repeat(n), ")".repeat(n)).into_bytes()),
        (0usize..5000).prop_map(|n| format!("\"{}\"", "a".repeat(n)).into_bytes()),
        (0usize..50).prop_map(|n| format!("r{}\"", "#".repeat(n)).into_bytes()),
        Just(b"\\u{110000}".to_vec()),
        Just(b"\\x".to_vec()),
        Just(b"'".to_vec()),
        Just(b"/*".to_vec()),
        Just(b"*/".to_vec()),
        Just(b"//".to_vec()),
        Just(b"\n".to_vec()),
        Just(vec![0xff]),
        Just(vec![0xc0, 0x80]),
        Just(vec![0xed, 0xa0, 0x80]),
        Just(vec![0xf0, 0x9f]),
        Just(b"(i: 0, call: \"X::y\", in: (), out: ())\n".to_vec()),
        Just(b"(fault: \"p\")\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 1..16),
    ]
}

fn damage() -> impl Strategy<Value = Damage> {
    let len = GOOD.len();
    let lines = GOOD.lines().count();
    prop_oneof![
        (0..len, 0u8..8).prop_map(|(at, bit)| Damage::Flip { at, bit }),
        (0..len).prop_map(|at| Damage::Truncate { at }),
        (0..lines).prop_map(|line| Damage::Duplicate { line }),
        (0..lines).prop_map(|line| Damage::Delete { line }),
        (0..=len, payload()).prop_map(|(at, bytes)| Damage::Insert { at, bytes }),
    ]
}

/// Applies the damages in order (offsets taken modulo the current length).
fn damaged(damages: &[Damage]) -> Vec<u8> {
    let mut bytes = GOOD.as_bytes().to_vec();
    for d in damages {
        let lines = |bytes: &[u8]| -> Vec<std::ops::Range<usize>> {
            let mut out = Vec::new();
            let mut start = 0;
            for (i, b) in bytes.iter().enumerate() {
                if *b == b'\n' {
                    out.push(start..i + 1);
                    start = i + 1;
                }
            }
            if start < bytes.len() {
                out.push(start..bytes.len());
            }
            out
        };
        match d {
            Damage::Flip { at, bit } if !bytes.is_empty() => {
                let at = at % bytes.len();
                bytes[at] ^= 1 << bit;
            }
            Damage::Truncate { at } => bytes.truncate(*at),
            Damage::Duplicate { line } => {
                let all = lines(&bytes);
                if let Some(r) = all.get(line % all.len().max(1)) {
                    let copy = bytes[r.clone()].to_vec();
                    bytes.splice(r.start..r.start, copy);
                }
            }
            Damage::Delete { line } => {
                let all = lines(&bytes);
                if let Some(r) = all.get(line % all.len().max(1)) {
                    bytes.drain(r.clone());
                }
            }
            Damage::Insert { at, bytes: inserted } => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, inserted.iter().copied());
            }
            Damage::Flip { .. } => {}
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1500,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("tests/proptest-regressions/trace_files.txt"))),
        ..ProptestConfig::default()
    })]

    /// A good file damaged one to four times: a trace, or an error that
    /// says where (a line within the file, or "empty"), never a panic.
    #[test]
    fn a_damaged_file_reads_or_says_where(damages in proptest::collection::vec(damage(), 1..5)) {
        let bytes = damaged(&damages);
        let lines = bytes.iter().filter(|b| **b == b'\n').count() + 1;
        for recover in [false, true] {
            if let Err(e) = Trace::from_reader(&bytes[..], None, recover) {
                match e.line {
                    Some(line) => prop_assert!((1..=lines).contains(&line), "line {line} of {lines}: {e}"),
                    None => prop_assert!(matches!(e.kind, TraceErrorKind::Empty), "no line: {e}"),
                }
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }
}
