//! Every kind of divergence produces a report a person can act on: path,
//! call index and line, expected vs actual, the differing field pointed out,
//! and the calls that matched before.

#![allow(missing_docs)]

use std::panic::{AssertUnwindSafe, catch_unwind};

use rehearse::{DivergenceKind, Replayer, Trace};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Role {
    Primary,
    Replica,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    role: Role,
    offset: u64,
    peers: Vec<String>,
}

#[rehearse::world]
pub trait Store {
    fn get(&self, key: &str) -> Option<String>;
    fn apply(&mut self, node: &str, config: &Config) -> Result<(), String>;
    fn now(&self) -> u64;
}

const SCENARIO: &str = r#"(rehearse: 1, tool: "hand")
(i: 0, call: "Store::get", in: ("a"), out: Some("1"))
(i: 1, call: "Store::now", in: (), out: 10)
(i: 2, call: "Store::apply", in: ("n1", (role: Primary, offset: 7, peers: ["n2", "n3"])), out: Ok(()))
(i: 3, call: "Store::now", in: (), out: 20)
"#;

fn replayer() -> Replayer {
    let dir = std::env::temp_dir().join(format!("rehearse-divergence-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!(
        "s-{}.ron",
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    std::fs::write(&path, SCENARIO).unwrap();
    Replayer::open(&path).unwrap()
}

static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn config(role: Role, peers: &[&str]) -> Config {
    Config {
        role,
        offset: 7,
        peers: peers.iter().map(|p| p.to_string()).collect(),
    }
}

/// Runs `f` against a fresh replayer; returns the panic message.
fn diverge(f: impl FnOnce(&mut Replayer)) -> (String, Replayer) {
    let mut r = replayer();
    let result = catch_unwind(AssertUnwindSafe(|| f(&mut r)));
    let payload = result.expect_err("the replay should diverge");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .expect("divergence panics carry the report as a String");
    (message, r)
}

#[test]
fn wrong_method() {
    let (report, r) = diverge(|r| {
        r.get("a");
        r.get("b");
    });
    assert!(report.starts_with("replay diverged at call 1 ("), "{report}");
    assert!(report.contains(".ron:3): a different call than recorded"), "{report}");
    assert!(report.contains("  expected: Store::now()\n"), "{report}");
    assert!(report.contains("  actual:   Store::get(\"b\")\n"), "{report}");
    assert!(
        report.contains("expected a call to `Store::now`, but `Store::get` was called"),
        "{report}"
    );
    assert!(
        report.contains("    #0 (line 2) Store::get(\"a\") -> Some(\"1\")"),
        "{report}"
    );
    // finish() returns the same divergence.
    let d = r.finish().unwrap_err();
    assert_eq!(d.kind, DivergenceKind::WrongCall);
    assert_eq!((d.index, d.line), (1, Some(3)));
    assert_eq!(d.to_string(), report);
}

#[test]
fn wrong_input_points_at_the_field() {
    let (report, r) = diverge(|r| {
        r.get("a");
        r.now();
        let _ = r.apply("n1", &config(Role::Replica, &["n2", "n3"]));
    });
    let expected = r#"  expected: Store::apply("n1", (role: Primary, offset: 7, peers: ["n2", "n3"]))
  actual:   Store::apply("n1", (role: Replica, offset: 7, peers: ["n2", "n3"]))
                                      ^^^^^^^
  argument `config` at `.role`: expected `Primary`, found `Replica`
"#;
    assert!(report.contains(expected), "{report}");
    assert!(report.contains("at call 2 ("), "{report}");
    assert!(
        report.contains(".ron:4): the recorded call with different inputs"),
        "{report}"
    );
    assert_eq!(r.finish().unwrap_err().kind, DivergenceKind::WrongInputs);
}

#[test]
fn wrong_input_in_a_list_element() {
    let (report, _) = diverge(|r| {
        r.get("a");
        r.now();
        let _ = r.apply("n1", &config(Role::Primary, &["n2", "n4"]));
    });
    assert!(
        report.contains("argument `config` at `.peers[1]`: expected `\"n3\"`, found `\"n4\"`"),
        "{report}"
    );
}

#[test]
fn wrong_scalar_input() {
    let (report, _) = diverge(|r| {
        r.get("b");
    });
    assert!(
        report.contains("argument `key`: expected `\"a\"`, found `\"b\"`"),
        "{report}"
    );
    assert!(report.contains("no call matched before this one"), "{report}");
}

#[test]
fn extra_call_after_the_end() {
    let (report, r) = diverge(|r| {
        r.get("a");
        r.now();
        r.apply("n1", &config(Role::Primary, &["n2", "n3"])).unwrap();
        r.now();
        r.get("late");
    });
    assert!(report.contains("replay diverged at call 4 ("), "{report}");
    assert!(report.contains("a call after the scenario ended"), "{report}");
    assert!(report.contains("  actual:   Store::get(\"late\")"), "{report}");
    assert!(
        report.contains("the scenario ended after 4 calls, but the code made another call"),
        "{report}"
    );
    assert_eq!(r.finish().unwrap_err().kind, DivergenceKind::ExtraCall);
}

#[test]
fn missing_calls_at_finish() {
    let r = replayer();
    let w = r.clone();
    assert_eq!(w.get("a"), Some("1".to_string()));
    assert_eq!(w.now(), 10);
    let d = r.finish().unwrap_err();
    assert_eq!(d.kind, DivergenceKind::MissingCalls);
    let report = d.to_string();
    assert!(report.contains("replay diverged at call 2 ("), "{report}");
    assert!(report.contains(".ron:4): recorded calls were never made"), "{report}");
    assert!(
        report.contains("  expected: Store::apply(\"n1\", (role: Primary"),
        "{report}"
    );
    assert!(
        report.contains("the replay made 2 calls but the scenario has 4; the next recorded call was never made"),
        "{report}"
    );
}

#[test]
fn recorded_output_of_the_wrong_type() {
    let trace = Trace::parse("(rehearse: 1)\n(i: 0, call: \"Store::now\", in: (), out: \"ten\")\n").unwrap();
    let r = Replayer::from_trace(trace);
    let d = r.try_replay::<u64>("Store::now", &[]).unwrap_err();
    assert_eq!(d.kind, DivergenceKind::BadOutput);
    let report = d.to_string();
    assert!(report.contains("<memory>:2"), "{report}");
    assert!(
        report.contains("recorded output `\"ten\"` does not decode as `u64`"),
        "{report}"
    );
}

#[test]
fn a_full_replay_passes() {
    let mut r = replayer();
    assert_eq!(r.get("a"), Some("1".to_string()));
    assert_eq!(r.now(), 10);
    assert_eq!(r.apply("n1", &config(Role::Primary, &["n2", "n3"])), Ok(()));
    assert_eq!(r.now(), 20);
    r.finish().unwrap();
}

/// Where each thread's last panic happened, as the panic hook saw it.
static PANIC_AT: std::sync::Mutex<Vec<(std::thread::ThreadId, String, u32)>> = std::sync::Mutex::new(Vec::new());

#[test]
fn a_divergence_panics_at_the_call_of_the_code_under_test() {
    // A user reading the panic's location should land on their own call,
    // not on the line of the trait's `#[rehearse::world]` (a newcomer's
    // trial: "panicked at .../rehearse/src/net/mod.rs:394").
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        if let Some(at) = info.location() {
            let mut seen = PANIC_AT.lock().unwrap_or_else(|e| e.into_inner());
            seen.push((std::thread::current().id(), at.file().to_string(), at.line()));
        }
    }));
    let r = replayer();
    let mut line = 0;
    let result = catch_unwind(AssertUnwindSafe(|| {
        r.get("a");
        line = line!() + 1;
        r.get("b");
    }));
    std::panic::set_hook(previous);
    assert!(result.is_err(), "the replay should diverge");
    let me = std::thread::current().id();
    let seen = PANIC_AT.lock().unwrap_or_else(|e| e.into_inner());
    let (_, file, at) = seen
        .iter()
        .rev()
        .find(|(t, ..)| *t == me)
        .expect("the hook saw the panic");
    assert!(file.ends_with("divergence.rs"), "panicked in {file}:{at}");
    assert_eq!(*at, line, "panicked at {file}:{at}");
}
