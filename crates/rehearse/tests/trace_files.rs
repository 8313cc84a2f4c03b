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
/// read: the old format example and every committed scenario.
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
    let mut read = 0;
    for entry in std::fs::read_dir(scenarios).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "ron") {
            let trace = Trace::read(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(trace.header().version, 1, "{}", path.display());
            read += 1;
        }
    }
    assert!(read >= 20, "only {read} scenarios under {scenarios}");
}
