//! The shrink-quality benchmark's arbiter bugs (`scripts/bench-shrink`,
//! `examples/bench_shrink_arbiter.rs`), as a test: each planted bug is
//! found by the benchmark's sweep and shrunk to at most 1.25 times its
//! minimal counterexample (derived by hand beside each bug in the
//! example), in calls. Shrinking is bounded by attempts, with a time limit
//! far above what it takes, so the result is the same on any machine.
//! `scripts/test` runs it with `--release`.

#![cfg(feature = "planted-bugs")]

use std::collections::BTreeSet;
use std::time::Duration;

use arbiter::sim::run::{SimOptions, run};
use arbiter::types::Bug;
use rehearse::{ShrinkStop, Sweep};

/// `NO_DEBOUNCE_MIN` of `examples/bench_shrink_arbiter.rs`.
const NO_DEBOUNCE_MIN: usize = 36;

fn shrinks_near(bug: Bug, invariants: &[&str], seeds: u64, min: usize, max_attempts: u64) {
    let dir = tempfile::tempdir().unwrap();
    let opts = SimOptions {
        bugs: BTreeSet::from([bug]),
        record: true,
        ..SimOptions::default()
    };
    let report = Sweep::new(format!("{bug:?}"))
        .seeds(0..seeds)
        .out_dir(dir.path())
        .shrink_limit(1)
        .save_limit(1)
        .shrink_attempts(20_000)
        .shrink_time(Duration::from_secs(3600))
        .quiet()
        .run(|sim| match run(sim, &opts) {
            Err(f) if invariants.contains(&f.kind()) => Err(f),
            _ => Ok(()),
        });
    let f = report.failures.first().unwrap_or_else(|| panic!("{bug:?}: not found"));
    assert_eq!(f.shrink_stopped, Some(ShrinkStop::Exhausted), "{bug:?}");
    let shrunk = f.calls.1.expect("shrunk");
    assert!(
        shrunk >= min,
        "{bug:?}: {shrunk} calls, below the minimum {min}: the derivation is wrong"
    );
    assert!(
        shrunk * 4 <= min * 5,
        "{bug:?}: shrunk from {} to {shrunk} calls, more than 1.25 x the minimum {min}",
        f.calls.0
    );
    assert!(
        f.shrink_attempts <= max_attempts,
        "{bug:?}: {} candidate runs, more than {max_attempts}",
        f.shrink_attempts
    );
}

#[test]
fn no_debounce_shrinks_to_its_minimum() {
    // 423 candidate runs on 2026-12-01 (1,070 before the two starts
    // raced and rounds stopped when they removed no calls).
    shrinks_near(Bug::NoDebounce, &["L3 bounded detection"], 100, NO_DEBOUNCE_MIN, 700);
}
