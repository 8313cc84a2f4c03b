//! The shrink-quality benchmark's replicated log (`scripts/bench-shrink`,
//! `examples/replog`), as a test: the seed the benchmark finds (96) is
//! shrunk to no more than 1.25 times the shrinker's own best (112 calls),
//! in at most 2,500 candidate runs (1,785 on 2026-12-02; 8,322 before the
//! two starts raced and rounds stopped when they removed no calls). That
//! is a bound against regressions, not the goal: runs of 76 calls built
//! by hand fail the same way (checked below), and no failing run has
//! fewer than 68 (see `REPLOG_MIN` in `examples/bench_shrink/main.rs`),
//! so the shrinker's 112 is 1.47 to 1.65 times the minimum. Attempts are
//! counts, the same on any machine: they keep the test's time down.
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
/// The shrinker's result for seed 96 on 2026-12-02.
const SHRUNK: usize = 112;
/// The runs built by hand beside `REPLOG_MIN` (76 calls each, ending at
/// 305.238 and 304.977 ms, the earliest any failing run can end).
const BY_HAND: [&str; 2] = [
    "0,ffffffffffffffff,0,ffffffffffffffff,ffbaf2218a08e7b0,0,0,0,ffffffffffffffff,1c1a88d57022530f,ffffffffffffffff,cccccccccccccccd,0,0,0,0,0,93f815a5ab32c301,0,177b6cd637ec0979,0,0,0,9329c813f687c629,0,0,ffffffffffffffff,e50d69764049cc03,0,0,0,0,0,ffffffffffffffff,5555555555555556,3b9a955b8ad451a,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,ffffffffffffffff,e50d69764049cc03,0,0,0,0,0,0,0,0,0,0,0,0,3ffbe7afa2d6dbb9",
    "0,ffffffffffffffff,0,ffffffffffffffff,ffbaf2218a08e7b0,0,ffffffffffffffff,1c1b4b18960077e6,0,0,ffffffffffffffff,cccccccccccccccd,0,0,0,0,0,93f815a5ab32c301,0,11c99d14aab5962c,0,0,0,998fc5a586d075bc,0,0,0,ffffffffffffffff,e50d69764049cc03,0,0,0,0,ffffffffffffffff,0,3b9a955b8ad451a,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,ffffffffffffffff,e50d69764049cc03,0,0,0,0,0,0,0,0,0,0,0,0,3ffbe7afa2d6dbb9",
];
/// Candidate runs allowed: 1,785 on 2026-12-02, with some room.
const MAX_ATTEMPTS: u64 = 2_500;

#[test]
#[cfg_attr(
    debug_assertions,
    ignore = "minutes in a debug build: scripts/test runs it with --release"
)]
fn the_replicated_log_shrinks_no_worse_than_before() {
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
        shrunk * 4 <= SHRUNK * 5,
        "shrunk from {} to {shrunk} calls, more than 1.25 x the {SHRUNK} it gave before",
        f.calls.0
    );
    assert!(
        f.shrink_attempts <= MAX_ATTEMPTS,
        "{} candidate runs, more than {MAX_ATTEMPTS}",
        f.shrink_attempts
    );
}

#[test]
fn runs_of_76_calls_built_by_hand_fail_and_pass_without_the_bug() {
    // The upper bound of the minimum: if the example or the simulation
    // changes what these choices do, the bound must be derived again.
    for choices in BY_HAND {
        let choices = rehearse::__private::decode_choices(choices).unwrap();
        let sim = rehearse::Sim::from_choices(SEED, choices.clone());
        let f = check::run(&sim, 3, true).expect_err("the run built by hand fails");
        assert_eq!(f.kind(), "state machine safety", "{f}");
        assert_eq!(sim.tape().len(), 76, "{f}");
        assert!(sim.now() < Duration::from_micros(305_300), "ended at {:?}", sim.now());
        // The fixed log, on the same choices, keeps its committed entry.
        let sim = rehearse::Sim::from_choices(SEED, choices);
        if let Err(f) = check::run(&sim, 3, false) {
            panic!("the fixed log fails the run built by hand: {f}");
        }
    }
}
