//! Scenarios built in memory for the unit tests: a saved failing run of
//! three nodes with fault and note marks, params and a failure.

use std::collections::BTreeMap;

use rehearse::{Call, Header, Mark, MarkKind, RunFailure, Trace, Value};

/// A call with one input (its index) at `at_ms` milliseconds.
pub(crate) fn call(index: usize, at_ms: u64, node: Option<&str>, name: &str, output: &str) -> Call {
    Call {
        index,
        name: name.to_string(),
        inputs: vec![Value::Int(index as i128)],
        output: Value::parse(output).unwrap(),
        at_us: Some(at_ms * 1000),
        node: node.map(String::from),
        line: 0,
    }
}

/// A fault mark.
pub(crate) fn fault(before_call: usize, at_ms: u64, node: &str, point: &str, detail: Option<&str>) -> Mark {
    Mark {
        before_call,
        at_us: Some(at_ms * 1000),
        node: Some(node.to_string()),
        kind: MarkKind::Fault {
            point: point.to_string(),
            detail: detail.map(String::from),
        },
        line: 0,
    }
}

/// A note mark.
pub(crate) fn note(before_call: usize, at_ms: u64, node: Option<&str>, text: &str) -> Mark {
    Mark {
        before_call,
        at_us: Some(at_ms * 1000),
        node: node.map(String::from),
        kind: MarkKind::Note { text: text.to_string() },
        line: 0,
    }
}

/// A saved failing run of three nodes: format 2, marks, params, failure.
pub(crate) fn failing_run() -> Trace {
    let header = Header {
        version: 2,
        tool: "rehearse 0.1.0".into(),
        seed: Some(42),
        params: BTreeMap::from([
            ("bug".to_string(), "stale read".to_string()),
            ("nodes".into(), "3".into()),
        ]),
        failure: Some(RunFailure {
            kind: "two leaders".into(),
            message: "n0 and n2 both lead term 3\nat 0.250s".into(),
        }),
        ..Header::default()
    };
    let calls = vec![
        call(0, 10, Some("n0"), "Network::next_event", "Some(Start)"),
        call(1, 20, Some("n1"), "Network::perform", "()"),
        call(2, 30, Some("n2"), "Network::perform", "Err(Full)"),
        call(3, 40, None, "Network::submit", "7"),
    ];
    let marks = vec![
        note(0, 0, None, "cluster of 3"),
        fault(1, 15, "n0", "net::drop", Some("n0 -> n1: Append(3)")),
        fault(2, 25, "n1", "net::crash", None),
        note(2, 25, Some("n1"), "n1 restarts with what was synced"),
        fault(4, 50, "n2", "net::partition", Some("{n2} | {n0, n1}")),
    ];
    Trace::from_parts(header, calls).with_marks(marks)
}
