//! Scenario format version 2: fault and note marks between the calls and
//! the node (lane) of every record. Memory and file tapes write the same
//! lines; the reader gives them back with their place, time and node, and
//! writes them again byte for byte; malformed marks are named with their
//! line; a replay skips them; a `Sim` marks the faults that fire.

#![allow(missing_docs)]

use std::time::Duration;

use proptest::prelude::*;
use rehearse::{Faulty, InjectFault, MarkKind, Recorder, Replayer, Sim, Tape, Trace, TraceErrorKind};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lost;

impl InjectFault for Lost {
    fn inject_fault(_point: &str, _sim: &Sim) -> Self {
        Self
    }
}

#[rehearse::world]
pub trait Mailbox {
    fn next(&mut self) -> Option<u64>;
    fn send(&mut self, to: String, n: u64) -> Result<(), Lost>;
}

#[derive(Default)]
struct Boxes {
    count: u64,
}

impl Mailbox for Boxes {
    fn next(&mut self) -> Option<u64> {
        self.count += 1;
        (self.count % 3 != 0).then_some(self.count)
    }
    fn send(&mut self, _to: String, n: u64) -> Result<(), Lost> {
        self.count += n;
        Ok(())
    }
}

/// The same session on any tape: lanes, times, calls and marks.
fn session(tape: &Tape) {
    let mut w = Recorder::new(Boxes::default(), tape.clone());
    w.next();
    tape.set_virtual_time(Some(Duration::from_micros(1500)));
    tape.set_node(Some("n1"));
    tape.set_node(Some("n0"));
    tape.set_node(Some("n1"));
    w.next();
    tape.mark_fault("net::drop", Some("n0 -> n1: Append(3)"));
    tape.note("n1 became leader in term 3");
    tape.set_node(Some("n0"));
    w.send("n1".into(), 4).unwrap();
    tape.set_virtual_time(Some(Duration::from_micros(2000)));
    tape.mark_fault("net::crash", None);
    tape.set_node(None);
    tape.note("quotes \" and \\ and\nnewlines are escaped");
    w.next();
    tape.set_node(Some("n1"));
    tape.note("the last record");
}

const EXPECTED: [&str; 8] = [
    r#"(i: 0, call: "Mailbox::next", in: (), out: Some(1))"#,
    r#"(i: 1, at_us: 1500, node: "n1", call: "Mailbox::next", in: (), out: Some(2))"#,
    r#"(at_us: 1500, node: "n1", fault: "net::drop", detail: "n0 -> n1: Append(3)")"#,
    r#"(at_us: 1500, node: "n1", note: "n1 became leader in term 3")"#,
    r#"(i: 2, at_us: 1500, node: "n0", call: "Mailbox::send", in: ("n1", 4), out: Ok(()))"#,
    r#"(at_us: 2000, node: "n0", fault: "net::crash")"#,
    r#"(at_us: 2000, note: "quotes \" and \\ and\nnewlines are escaped")"#,
    r#"(i: 3, at_us: 2000, call: "Mailbox::next", in: (), out: Some(7))"#,
];

fn body(text: &str) -> Vec<&str> {
    text.lines().skip(1).collect()
}

#[test]
fn a_memory_tape_writes_marks_and_lanes_in_place() {
    let tape = Tape::memory();
    session(&tape);
    let text = tape.contents();
    assert!(text.starts_with("(rehearse: 2, "), "{text}");
    let mut expected = EXPECTED.to_vec();
    expected.push(r#"(at_us: 2000, node: "n1", note: "the last record")"#);
    assert_eq!(body(&text), expected);
    assert_eq!(tape.len(), 4, "marks take no call index");
}

#[test]
fn a_file_tape_writes_the_same_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("marks.ron");
    let file = Tape::create(&path).unwrap();
    session(&file);
    file.finish().unwrap();
    let memory = Tape::memory();
    session(&memory);
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(body(&written), body(&memory.contents()));
}

#[test]
fn the_reader_gives_marks_back_with_their_place_and_writes_them_again() {
    let tape = Tape::memory();
    session(&tape);
    let text = tape.contents();
    let trace = Trace::parse(&text).unwrap();
    assert_eq!(trace.header().version, 2);
    let calls = trace.calls();
    assert_eq!(calls.len(), 4);
    let nodes: Vec<Option<&str>> = calls.iter().map(|c| c.node.as_deref()).collect();
    assert_eq!(nodes, [None, Some("n1"), Some("n0"), None]);
    assert_eq!((calls[2].index, calls[2].line), (2, 6));
    let marks = trace.marks();
    assert_eq!(marks.len(), 5);
    let m = &marks[0];
    assert_eq!(
        (m.before_call, m.at_us, m.node.as_deref(), m.line),
        (2, Some(1500), Some("n1"), 4)
    );
    assert_eq!(
        m.kind,
        MarkKind::Fault {
            point: "net::drop".into(),
            detail: Some("n0 -> n1: Append(3)".into())
        }
    );
    assert_eq!(
        marks[2].kind,
        MarkKind::Fault {
            point: "net::crash".into(),
            detail: None
        }
    );
    assert_eq!(
        marks[3].kind,
        MarkKind::Note {
            text: "quotes \" and \\ and\nnewlines are escaped".into()
        }
    );
    assert_eq!((marks[3].before_call, marks[3].node.as_deref()), (3, None));
    assert_eq!(
        (marks[4].before_call, marks[4].line),
        (4, 10),
        "a mark after the last call"
    );
    assert_eq!(trace.to_ron(), text, "written back byte for byte");
    assert_eq!(trace.marks()[1].to_line(), EXPECTED[3]);
}

#[test]
fn a_lane_set_and_unset_between_records_writes_nothing() {
    let tape = Tape::memory();
    let mut w = Recorder::new(Boxes::default(), tape.clone());
    tape.set_node(Some("n1"));
    tape.set_node(None);
    w.next();
    tape.set_node(Some("n2"));
    tape.set_node(Some("n3"));
    w.next();
    assert_eq!(
        body(&tape.contents()),
        [
            r#"(i: 0, call: "Mailbox::next", in: (), out: Some(1))"#,
            r#"(i: 1, node: "n3", call: "Mailbox::next", in: (), out: Some(2))"#,
        ]
    );
    // A disabled tape takes lanes and marks without effect.
    let off = Tape::disabled();
    off.set_node(Some("n1"));
    off.note("nothing");
    off.mark_fault("x", None);
    assert_eq!(off.contents(), "");
}

#[test]
fn marks_after_finish_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let tape = Tape::create(dir.path().join("late.ron")).unwrap();
    tape.note("in time");
    tape.finish().unwrap();
    tape.note("too late");
    let err = tape.finish().unwrap_err();
    assert!(
        err.to_string()
            .contains("1 fault or note marks were recorded after finish()"),
        "{err}"
    );
    let text = std::fs::read_to_string(dir.path().join("late.ron")).unwrap();
    assert_eq!(body(&text), [r#"(note: "in time")"#]);
}

/// A version 2 file with marks around every call replays: the replayer
/// walks the calls only.
#[test]
fn a_replay_skips_the_marks() {
    let sim = Sim::new(9);
    let tape = sim.tape();
    {
        let mut w = Recorder::new(Boxes::default(), tape.clone());
        for k in 0..20u64 {
            sim.set_node(Some(&format!("n{}", k % 3)));
            sim.note(&format!("before call {k}"));
            sim.advance(Duration::from_millis(1));
            if k % 2 == 0 {
                w.next();
            } else {
                w.send(format!("n{k}"), k).unwrap();
            }
            tape.mark_fault("net::delay", Some(&format!("after call {k}")));
        }
    }
    let trace = tape.to_trace().unwrap();
    assert_eq!(trace.calls().len(), 20);
    assert_eq!(trace.marks().len(), 40);
    let mut replay = Replayer::from_trace(trace);
    let mut fresh = Boxes::default();
    for k in 0..20u64 {
        if k % 2 == 0 {
            assert_eq!(replay.next(), fresh.next());
        } else {
            replay.send(format!("n{k}"), k).unwrap();
            fresh.send(format!("n{k}"), k).unwrap();
        }
    }
    replay.finish().unwrap();
}

#[test]
fn a_torn_mark_at_the_end_keeps_what_came_before() {
    let tape = Tape::memory();
    session(&tape);
    let text = tape.contents();
    let torn = &text[..text.len() - 12];
    let err = Trace::parse(torn).unwrap_err();
    assert_eq!(err.truncated_after(), Some(4), "{err}");
    let trace = Trace::from_reader(torn.as_bytes(), None, true).unwrap();
    assert!(trace.is_truncated());
    assert_eq!((trace.calls().len(), trace.marks().len()), (4, 4));
}

fn v2(records: &str) -> String {
    format!("(rehearse: 2)\n(i: 0, call: \"X::y\", in: (), out: ())\n{records}\n")
}

fn record_error(text: &str) -> String {
    let err = Trace::parse(text).unwrap_err();
    assert!(matches!(err.kind, TraceErrorKind::Record(_)), "{err}");
    err.to_string()
}

#[test]
fn malformed_marks_are_named_with_their_line() {
    let cases = [
        (
            r#"(at_us: 5, fault: "net::drop", why: "x")"#,
            "<memory>:3: unknown fault field `why` (expected at_us, node, fault, detail)",
        ),
        (
            r#"(note: "hi", detail: "x")"#,
            "<memory>:3: unknown note field `detail` (expected at_us, node, note)",
        ),
        (
            r#"(i: 1, fault: "net::drop")"#,
            "<memory>:3: unknown fault field `i` (expected at_us, node, fault, detail): marks take no call index",
        ),
        (
            r#"(fault: 3)"#,
            "<memory>:3: fault field `fault` must be a string, found `3`",
        ),
        (
            r#"(fault: "a", detail: Some("b"))"#,
            "<memory>:3: fault field `detail` must be a string, found `Some(\"b\")`",
        ),
        (
            r#"(node: 1, note: "n")"#,
            "<memory>:3: note field `node` must be a string, found `1`",
        ),
        (
            r#"(at_us: -1, note: "n")"#,
            "<memory>:3: note field `at_us` must be microseconds, found `-1`",
        ),
        (
            r#"(fault: "a", note: "b")"#,
            "<memory>:3: a record is a fault or a note, not both",
        ),
        (
            r#"(i: 1, node: 7, call: "X::y", in: (), out: ())"#,
            "<memory>:3: call field `node` must be a string, found `7`",
        ),
    ];
    for (record, message) in cases {
        let text = v2(record);
        let err = record_error(&text);
        assert!(err.starts_with(message), "{record}: {err}");
    }
    // A multi-line mark is named by the line it starts on.
    let err = record_error(&v2("// a comment\n(\n  fault: \"a\",\n  detail: 1,\n)"));
    assert!(err.starts_with("<memory>:4: fault field `detail`"), "{err}");
}

#[test]
fn a_version_1_file_holds_no_marks_nor_lanes() {
    let v1 = |records: &str| format!("(rehearse: 1)\n(i: 0, call: \"X::y\", in: (), out: ())\n{records}\n");
    let err = record_error(&v1(r#"(at_us: 5, fault: "net::drop")"#));
    assert!(
        err.starts_with("<memory>:3: fault records need format version 2 (this file's header says `rehearse: 1`)"),
        "{err}"
    );
    let err = record_error(&v1(r#"(note: "hi")"#));
    assert!(
        err.starts_with("<memory>:3: note records need format version 2"),
        "{err}"
    );
    let err = record_error(&v1(r#"(i: 1, node: "n1", call: "X::y", in: (), out: ())"#));
    assert!(
        err.starts_with("<memory>:3: the call field `node` needs format version 2"),
        "{err}"
    );
    // The same records in a version 2 file read.
    let trace = Trace::parse(&v2(
        "(at_us: 5, fault: \"net::drop\")\n(i: 1, node: \"n1\", call: \"X::y\", in: (), out: ())",
    ))
    .unwrap();
    assert_eq!((trace.calls().len(), trace.marks().len()), (2, 1));
}

#[test]
fn an_unclosed_record_before_a_mark_is_named() {
    let err = Trace::parse(&v2("(i: 1, call: \"X::y\", in: (), out: (\n(at_us: 5, note: \"n\")")).unwrap_err();
    assert!(
        err.to_string().contains("<memory>:3: this record is never closed"),
        "{err}"
    );
}

#[test]
fn sim_faults_and_notes_are_marked_on_the_main_tape() {
    let sim = Sim::new(4);
    let other = sim.tape_named("client");
    sim.set_fault_rate("net::drop", 1.0);
    sim.set_fault_rate("net::dup", 0.0);
    sim.advance(Duration::from_micros(700));
    sim.set_node(Some("n2"));
    let late = sim.tape_named("late");
    let mut on_late = Recorder::new(Boxes::default(), late.clone());
    on_late.next();
    assert!(sim.fault("net::drop"));
    let mut built = 0;
    assert!(!sim.fault_with("net::dup", || {
        built += 1;
        "never".into()
    }));
    assert_eq!(built, 0, "the detail is built only when the fault fires");
    assert!(sim.fault_with("net::drop", || "n2 -> n0: Ping".into()));
    sim.set_faults_enabled(false);
    assert!(!sim.fault("net::drop"));
    sim.set_node(None);
    sim.note("healed");
    let marks: Vec<String> = sim
        .tape()
        .to_trace()
        .unwrap()
        .marks()
        .iter()
        .map(|m| m.to_line())
        .collect();
    assert_eq!(
        marks,
        [
            r#"(at_us: 700, node: "n2", fault: "net::drop")"#,
            r#"(at_us: 700, node: "n2", fault: "net::drop", detail: "n2 -> n0: Ping")"#,
            r#"(at_us: 700, note: "healed")"#,
        ]
    );
    // Named tapes get the lane too, also one made after it was set.
    let mut on_other = Recorder::new(Boxes::default(), other.clone());
    sim.set_node(Some("n5"));
    on_other.next();
    on_late.next();
    sim.set_node(None);
    on_other.next();
    on_late.next();
    let lanes = |tape: &Tape| -> Vec<Option<String>> {
        let trace = tape.to_trace().unwrap();
        assert!(trace.marks().is_empty(), "marks go to the main tape only");
        trace.calls().iter().map(|c| c.node.clone()).collect()
    };
    let n = |s: &str| Some(s.to_string());
    assert_eq!(lanes(&other), [n("n5"), None]);
    assert_eq!(lanes(&late), [n("n2"), n("n5"), None]);
    assert_eq!(sim.node(), None);
}

#[test]
fn injected_errors_are_marked_before_their_call() {
    let sim = Sim::new(11);
    sim.set_fault_rate("Mailbox::send", 1.0);
    let mut w = Recorder::new(Faulty::new(Boxes::default(), sim.clone()), sim.tape());
    sim.set_node(Some("n1"));
    assert_eq!(w.send("n0".into(), 1), Err(Lost));
    assert!(w.next().is_some());
    let trace = sim.tape().to_trace().unwrap();
    let m = &trace.marks()[0];
    assert_eq!((m.before_call, m.node.as_deref()), (0, Some("n1")));
    let MarkKind::Fault { point, detail } = &m.kind else {
        panic!("{m:?}")
    };
    assert_eq!(point, "Mailbox::send");
    let detail = detail.as_deref().unwrap();
    assert!(
        detail.contains("before reaching the world") || detail.contains("reached the world, then failed"),
        "{detail}"
    );
    assert_eq!(trace.calls()[0].output.to_string(), "Err(())");
    assert_eq!(trace.marks().len(), 1);
}

/// One step of a random recording session.
#[derive(Debug, Clone)]
enum Step {
    Next,
    Send(u64),
    Fault(u8, Option<String>),
    Note(String),
    Node(Option<u8>),
    Time(Option<u64>),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Next),
        2 => any::<u64>().prop_map(Step::Send),
        2 => (0..3u8, proptest::option::of("[a-z \"\\\\\n>-]{0,12}")).prop_map(|(p, d)| Step::Fault(p, d)),
        1 => "[a-zé \"\\\\\n]{0,12}".prop_map(Step::Note),
        2 => proptest::option::of(0..4u8).prop_map(Step::Node),
        2 => proptest::option::of(0..3u64).prop_map(Step::Time),
    ]
}

fn play(tape: &Tape, steps: &[Step]) {
    let mut w = Recorder::new(Boxes::default(), tape.clone());
    for s in steps {
        match s {
            Step::Next => {
                w.next();
            }
            Step::Send(n) => {
                let _ = w.send("n".into(), n % 100);
            }
            Step::Fault(p, d) => tape.mark_fault(["net::drop", "disk::torn", "a"][*p as usize], d.as_deref()),
            Step::Note(t) => tape.note(t),
            Step::Node(n) => tape.set_node(n.map(|n| format!("node-{n}")).as_deref()),
            Step::Time(t) => tape.set_virtual_time(t.map(|t| Duration::from_micros(t * 250))),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Any mix of calls, marks, lanes and times: memory and file tapes
    /// write the same lines, and reading them back writes them again.
    #[test]
    fn any_session_reads_back_as_written(steps in proptest::collection::vec(step(), 0..40)) {
        let memory = Tape::memory();
        play(&memory, &steps);
        let text = memory.contents();
        let trace = Trace::parse(&text).unwrap();
        prop_assert_eq!(trace.to_ron(), text.clone());
        let calls = steps.iter().filter(|s| matches!(s, Step::Next | Step::Send(_))).count();
        prop_assert_eq!(trace.calls().len(), calls);
        prop_assert_eq!(trace.marks().len(), steps.len() - calls - steps.iter().filter(|s| matches!(s, Step::Node(_) | Step::Time(_))).count());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.ron");
        let file = Tape::create(&path).unwrap();
        play(&file, &steps);
        file.finish().unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        prop_assert_eq!(body(&written), body(&text));
    }
}
