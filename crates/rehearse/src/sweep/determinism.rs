//! Determinism checks: the same seed run twice (in this process or in a
//! second one) must give byte-identical tapes.

use std::fmt::{self, Write as _};

use super::pool::{Outcome, install_panic_hook, run_once};
use crate::Failure;
use crate::sim::{FaultConfig, Sim};

/// The first differing line of two traces, described for people.
pub(super) fn first_difference(a: &str, b: &str) -> Option<String> {
    if a == b {
        return None;
    }
    let mut la = a.lines();
    let mut lb = b.lines();
    let mut line: usize = 0;
    loop {
        line += 1;
        match (la.next(), lb.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (x, y) => {
                let call = line.saturating_sub(2);
                return Some(format!(
                    "line {line} (call {call}) differs:\n    first run:  {}\n    second run: {}",
                    x.unwrap_or("<end of trace>"),
                    y.unwrap_or("<end of trace>")
                ));
            }
        }
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
        let _ = write!(s, "--- tape {name}\n{}", t.contents());
    }
    s
}

pub(super) fn compare_outcomes(seed: u64, a: &Outcome, b: &Outcome) -> Result<(), NonDeterminism> {
    match first_difference(&all_tapes(a), &all_tapes(b)) {
        None => Ok(()),
        Some(difference) => Err(NonDeterminism { seed, difference }),
    }
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
