//! Determinism checks: the same seed run twice (in this process or in a
//! second one) must give byte-identical tapes.

use std::fmt::{self, Write as _};

use super::pool::{Outcome, install_panic_hook, run_once};
use crate::Failure;
use crate::sim::{FaultConfig, Sim};

/// One tape in the text [`all_tapes`] gives: its label (empty for the
/// run's own tape), its header line and its records (calls and the fault
/// and note marks between them), one a line.
struct Section<'a> {
    label: &'a str,
    header: &'a str,
    records: Vec<&'a str>,
}

fn sections(text: &str) -> Vec<Section<'_>> {
    let mut out: Vec<Section<'_>> = Vec::new();
    let mut label = "";
    let mut lines = text.lines().peekable();
    loop {
        let header = lines.next().unwrap_or("");
        let mut records = Vec::new();
        while let Some(line) = lines.next_if(|l| !l.starts_with(TAPE_MARK)) {
            records.push(line);
        }
        out.push(Section { label, header, records });
        match lines.next() {
            Some(mark) => label = mark.strip_prefix(TAPE_MARK).unwrap_or(mark),
            None => return out,
        }
    }
}

/// A call's line (`(i: 3, ...)`), not a mark's.
fn is_call(line: &str) -> bool {
    line.trim_start().starts_with("(i:")
}

/// What starts a named tape's part of [`all_tapes`].
const TAPE_MARK: &str = "--- tape ";

/// Where two runs' tapes (as [`all_tapes`] renders them) first differ,
/// described for people: the first call that differs (header lines are
/// compared only when every call is the same, since a failing run's
/// header carries its failure and would otherwise always come first).
pub(super) fn first_difference(a: &str, b: &str) -> Option<String> {
    match difference(a, b) {
        Difference::None => None,
        Difference::Calls(d) => Some(d),
        Difference::Header { calls, text } => Some(format!("every call is the same ({calls} calls), {text}")),
    }
}

enum Difference {
    None,
    /// Described for people: the first call (or tape) that differs.
    Calls(String),
    /// Only a header differs (the calls, how many, are the same).
    Header {
        calls: usize,
        text: String,
    },
}

fn difference(a: &str, b: &str) -> Difference {
    if a == b {
        return Difference::None;
    }
    let (sa, sb) = (sections(a), sections(b));
    let tape = |label: &str| {
        if label.is_empty() {
            String::new()
        } else {
            format!(" of tape {label}")
        }
    };
    for (x, y) in sa.iter().zip(&sb) {
        if x.label != y.label {
            return Difference::Calls(format!(
                "the runs have different tapes: `{}` in the first run, `{}` in the second",
                x.label, y.label
            ));
        }
        let n = x.records.len().max(y.records.len());
        if let Some(i) = (0..n).find(|&i| x.records.get(i) != y.records.get(i)) {
            let (p, q) = (x.records.get(i), y.records.get(i));
            // Records are calls and, between them, fault and note marks.
            let calls_before = x.records[..i].iter().filter(|l| is_call(l)).count();
            let what = if p.is_some_and(|l| is_call(l)) || q.is_some_and(|l| is_call(l)) {
                format!("call {calls_before}")
            } else if calls_before == 0 {
                "a mark before the first call".to_string()
            } else {
                format!("a mark after call {}", calls_before - 1)
            };
            return Difference::Calls(format!(
                "{what}{} differs:\n    first run:  {}\n    second run: {}",
                tape(x.label),
                p.unwrap_or(&"<end of trace>"),
                q.unwrap_or(&"<end of trace>")
            ));
        }
    }
    if sa.len() != sb.len() {
        return Difference::Calls(format!("the first run has {} tapes, the second {}", sa.len(), sb.len()));
    }
    let calls: usize = sa.iter().map(|s| s.records.iter().filter(|l| is_call(l)).count()).sum();
    let Some((x, y)) = sa.iter().zip(&sb).find(|(x, y)| x.header != y.header) else {
        return Difference::None;
    };
    Difference::Header {
        calls,
        text: format!(
            "the header{} differs:\n    first run:  {}\n    second run: {}",
            tape(x.label),
            x.header,
            y.header
        ),
    }
}

/// How the second run's result differs from the first's, if it does.
fn result_difference(a: &Result<(), Failure>, b: &Result<(), Failure>) -> Option<String> {
    match (a, b) {
        (Ok(()), Ok(())) => None,
        (Err(_), Ok(())) => Some("the re-run did not fail".to_string()),
        (Ok(()), Err(e)) => Some(format!(
            "the re-run failed ({}) where the first run passed",
            e.message()
        )),
        (Err(x), Err(y)) if x.kind() == y.kind() && x.message() == y.message() => None,
        (Err(x), Err(y)) => Some(format!(
            "the re-run failed differently ({}; the first run: {})",
            y.message(),
            x.message()
        )),
    }
}

/// A run whose trace differs when the same seed runs again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonDeterminism {
    /// The seed.
    pub seed: u64,
    /// The first differing call, both versions.
    pub difference: String,
}

impl fmt::Display for NonDeterminism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {} is not deterministic: running it twice gave different traces; {}\n  \
             look for HashMap/HashSet iteration, wall-clock time, thread timing or OS randomness in the run",
            self.seed, self.difference
        )
    }
}

impl std::error::Error for NonDeterminism {}

/// Runs `seed` twice in this process and compares the traces byte for byte
/// (every tape of the run).
pub fn check_determinism<F>(seed: u64, f: F) -> Result<(), NonDeterminism>
where
    F: Fn(&mut Sim) -> Result<(), Failure>,
{
    install_panic_hook();
    let a = run_once(&f, seed, None, &FaultConfig::default());
    let b = run_once(&f, seed, None, &FaultConfig::default());
    compare_outcomes(seed, &a, &b)
}

fn all_tapes(o: &Outcome) -> String {
    let mut s = o.trace.contents();
    for (name, t) in &o.named {
        let _ = write!(s, "{TAPE_MARK}{name}\n{}", t.contents());
    }
    s
}

pub(super) fn compare_outcomes(seed: u64, a: &Outcome, b: &Outcome) -> Result<(), NonDeterminism> {
    let difference = match (
        result_difference(&a.result, &b.result),
        difference(&all_tapes(a), &all_tapes(b)),
    ) {
        (None, Difference::None) => return Ok(()),
        (Some(result), Difference::None) => result,
        (Some(result), Difference::Header { calls, .. }) => format!("{result}, with identical calls ({calls})"),
        (None, Difference::Header { calls, text }) => format!("every call is the same ({calls} calls), {text}"),
        (None, Difference::Calls(calls)) => calls,
        (Some(result), Difference::Calls(calls)) => format!("{result}; {calls}"),
    };
    Err(NonDeterminism { seed, difference })
}

/// Runs `seed` in this process and again in a child process (this test
/// binary, running only the test `test_name`), and compares the traces.
///
/// Call it from a `#[test]` named `test_name`: in the child, the same call
/// runs the seed and writes its trace for the parent instead.
pub fn check_determinism_across_processes<F>(test_name: &str, seed: u64, f: F) -> Result<(), NonDeterminism>
where
    F: Fn(&mut Sim) -> Result<(), Failure>,
{
    const CHILD: &str = "REHEARSE_DETERMINISM_CHILD";
    install_panic_hook();
    if let Some(out) = std::env::var_os(CHILD) {
        let o = run_once(&f, seed, None, &FaultConfig::default());
        std::fs::write(out, all_tapes(&o)).expect("the determinism child writes its trace");
        return Ok(());
    }
    let here = all_tapes(&run_once(&f, seed, None, &FaultConfig::default()));
    let dir = std::env::temp_dir().join(format!("rehearse-determinism-{}-{seed}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let out = dir.join("child.ron");
    let exe = std::env::current_exe().expect("the test binary's path");
    let status = std::process::Command::new(exe)
        .args([test_name, "--exact", "--test-threads=1"])
        .env(CHILD, &out)
        .stdout(std::process::Stdio::null())
        .status();
    let there = match status {
        Ok(s) if s.success() => std::fs::read_to_string(&out).unwrap_or_default(),
        Ok(s) => format!("<child process failed: {s}>"),
        Err(e) => format!("<child process could not start: {e}>"),
    };
    let _ = std::fs::remove_dir_all(&dir);
    match first_difference(&here, &there) {
        None => Ok(()),
        Some(difference) => Err(NonDeterminism {
            seed,
            difference: format!("(this process vs a second one) {difference}"),
        }),
    }
}
