//! The shrink-quality benchmark's replicated log (`scripts/bench-shrink`,
//! `examples/replog`), as a test: the seed the benchmark finds (96) is
//! shrunk to at most 1.25 times the best run known, in calls. Its exact
//! minimum is not derived (see `REPLOG_MIN` in
//! `examples/bench_shrink/main.rs`): the best run known has 112 calls, the
//! shrinker's own, and one built by hand has 117; the test fails when the
//! shrinker gives more than 140 (it gave 323 before the zero-kinds pass,
//! 240 with the shrinker before issue 18), or takes more than 2,500
//! candidate runs (1,785 on 2026-12-02, 1,778 before the advance pass;
//! 8,322 before the two starts raced and rounds stopped when they removed
//! no calls). Attempts are counts, the same on any machine: they keep the
//! test's time down.
//!
//! Slow in a debug build: `scripts/test` runs it with `--release`, where
//! it takes about a second (candidates stop at the best run's calls).

#[path = "../examples/replog/check.rs"]
#[allow(dead_code)]
mod check;
#[path = "../examples/replog/node.rs"]
#[allow(dead_code)]
mod node;

use std::time::Duration;

use rehearse::{ShrinkStop, Sweep};

/// The seed the benchmark's sweep of seeds 0..300 finds first.
const SEED: u64 = 96;
/// The fewest calls of a run known to fail as seed 96 does.
const BEST_KNOWN: usize = 112;
/// The run built by hand beside `REPLOG_MIN`.
const BY_HAND: usize = 117;
/// Candidate runs allowed: 1,785 on 2026-12-02, with some room.
const MAX_ATTEMPTS: u64 = 2_500;

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "minutes in a debug build: scripts/test runs it with --release"
)]
fn the_replicated_log_shrinks_near_its_best_known_run() {
    const { assert!(BEST_KNOWN <= BY_HAND) };
    let dir = tempfile::tempdir().unwrap();
    let report = Sweep::new("replog-shrink-quality")
        .seeds(SEED..SEED + 1)
        .out_dir(dir.path())
        .shrink_limit(1)
        .save_limit(1)
        .shrink_attempts(20_000)
        .shrink_time(Duration::from_secs(3600))
        .quiet()
        .run(|sim| check::run(sim, 3, true));
    let f = report.failures.first().expect("seed 96 fails");
    assert_eq!(f.kind, "state machine safety", "{}", f.message);
    assert_eq!(f.shrink_stopped, Some(ShrinkStop::Exhausted));
    let shrunk = f.calls.1.expect("shrunk");
    assert!(
        shrunk * 4 <= BEST_KNOWN * 5,
        "shrunk from {} to {shrunk} calls, more than 1.25 x the best run known ({BEST_KNOWN})",
        f.calls.0
    );
    assert!(
        f.shrink_attempts <= MAX_ATTEMPTS,
        "{} candidate runs, more than {MAX_ATTEMPTS}",
        f.shrink_attempts
    );
}
