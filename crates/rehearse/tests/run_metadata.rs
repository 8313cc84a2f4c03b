//! A run's failure and parameters in the saved header; the repro line built
//! from them; and re-running a saved seed compared with the saved file
//! ("still fails the same way", "no longer fails; diverges from the saved
//! run at call N", "fails differently").

#![allow(missing_docs)]

use std::collections::BTreeMap;

use rehearse::{Header, RunFailure, Sim, Tape, Trace};

fn header_of(line: &str) -> Result<Header, String> {
    Trace::parse(&format!("{line}\n"))
        .map(|t| t.header().clone())
        .map_err(|e| e.to_string())
}

#[test]
fn params_and_failure_round_trip_through_the_header() {
    let mut h = Header::new();
    h.seed = Some(12);
    h.params = BTreeMap::from([
        ("bug".to_string(), "lost-sync".to_string()),
        ("nodes".to_string(), "3".to_string()),
    ]);
    h.failure = Some(RunFailure {
        kind: "two leaders".into(),
        message: "two leaders: \"n1\" and n2 in term 4\nsecond line".into(),
    });
    let line = h.to_line();
    assert!(
        line.ends_with(
            r#"params: {"bug": "lost-sync", "nodes": "3"}, failure: (kind: "two leaders", message: "two leaders: \"n1\" and n2 in term 4\nsecond line"))"#
        ),
        "{line}"
    );
    assert_eq!(header_of(&line).unwrap(), h);
    // Both are optional: a header without them reads as before.
    let plain = header_of("(rehearse: 1, seed: 3)").unwrap();
    assert!(plain.params.is_empty() && plain.failure.is_none());
    // Hand-written forms: numbers as parameter values, `Some(...)` around
    // the failure, fields the reader does not know inside it.
    let h = header_of(
        r#"(rehearse: 1, params: {"nodes": 3, "fast": true}, failure: Some((kind: "k", message: "m", at: 7)))"#,
    )
    .unwrap();
    assert_eq!(h.params["nodes"], "3");
    assert_eq!(h.params["fast"], "true");
    assert_eq!(
        h.failure,
        Some(RunFailure {
            kind: "k".into(),
            message: "m".into()
        })
    );
}

#[test]
fn bad_params_and_failures_are_errors_naming_the_field() {
    for (line, expected) in [
        (
            r#"(rehearse: 1, params: ["bug"])"#,
            "header field `params` must be a map",
        ),
        (
            r#"(rehearse: 1, params: {1: "x"})"#,
            "header field `params` must map strings to strings, found the key `1`",
        ),
        (
            r#"(rehearse: 1, params: {"bug": ["a"]})"#,
            "found `[\"a\"]` for \"bug\"",
        ),
        (
            r#"(rehearse: 1, failure: "boom")"#,
            "header field `failure` must be `(kind: \"...\", message: \"...\")`",
        ),
        (
            r#"(rehearse: 1, failure: (kind: 3, message: "m"))"#,
            "header field `failure.kind` must be a string, found `3`",
        ),
        (
            r#"(rehearse: 1, failure: (kind: "k"))"#,
            "header field `failure` has no `message`",
        ),
        (
            r#"(rehearse: 1, failure: (message: "m"))"#,
            "header field `failure` has no `kind`",
        ),
    ] {
        let err = header_of(line).unwrap_err();
        assert!(err.contains(expected), "{line}: {err}");
        assert!(err.starts_with("<memory>:1"), "the error names the line: {err}");
    }
}

#[test]
fn sim_params_reach_every_tape_of_the_run() {
    let sim = Sim::new(5);
    let early = sim.tape_named("n1");
    sim.set_param("bug", "lost-sync");
    sim.set_param("nodes", 3);
    let late = sim.tape_named("n2");
    sim.set_param("nodes", 5); // set again: replaced
    assert_eq!(sim.param("bug").as_deref(), Some("lost-sync"));
    assert_eq!(sim.param("missing"), None);
    let expected = BTreeMap::from([
        ("bug".to_string(), "lost-sync".to_string()),
        ("nodes".to_string(), "5".to_string()),
    ]);
    assert_eq!(sim.params(), expected);
    for tape in [sim.tape(), early, late] {
        let trace = Trace::parse(&tape.contents()).unwrap();
        assert_eq!(trace.header().params, expected, "{}", tape.contents());
    }
}

#[test]
fn only_memory_tape_headers_change_after_creation() {
    let tape = Tape::memory();
    tape.set_header_param("k", "v").unwrap();
    tape.set_failure(Some(RunFailure {
        kind: "k".into(),
        message: "m".into(),
    }))
    .unwrap();
    let h = Trace::parse(&tape.contents()).unwrap().header().clone();
    assert_eq!(h.params["k"], "v");
    assert_eq!(h.failure.unwrap().message, "m");
    tape.set_failure(None).unwrap();
    assert_eq!(tape.header().unwrap().failure, None);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.ron");
    let file = Tape::options().param("nodes", "3").create(&path).unwrap();
    let err = file.set_header_param("k", "v").unwrap_err().to_string();
    assert!(err.contains("header of a file tape") && err.contains("f.ron"), "{err}");
    assert!(file.header().is_none());
    file.finish().unwrap();
    assert_eq!(Trace::read(&path).unwrap().header().params["nodes"], "3");
    // A disabled tape records nothing and ignores it.
    Tape::disabled().set_header_param("k", "v").unwrap();
}
