//! The shrink-quality benchmark's arbiter bugs (`scripts/bench-shrink`,
//! `examples/bench_shrink_arbiter.rs`), as a test: each planted bug is
//! found by the benchmark's sweep and shrunk to at most 1.25 times its
//! minimal counterexample (derived by hand beside each bug in the
//! example), in calls; PromoteMostLagging, which does not meet that goal,
//! to no more than it does today (283 calls, 1.54x). Shrinking is bounded by attempts, with a time limit
//! far above what it takes, so the result is the same on any machine.
//! `scripts/test` runs it with `--release`.

#![cfg(feature = "planted-bugs")]

use std::collections::BTreeSet;
use std::time::Duration;

use arbiter::sim::model::instance_id;
use arbiter::sim::run::{SimOptions, run};
use arbiter::types::Bug;
use rehearse::{ShrinkStop, Sim, Sweep};

/// `NO_DEBOUNCE_MIN` of `examples/bench_shrink_arbiter.rs`.
const NO_DEBOUNCE_MIN: usize = 36;

/// `PROMOTE_MOST_LAGGING_MIN` of `examples/bench_shrink_arbiter.rs`.
const PROMOTE_MOST_LAGGING_MIN: usize = 184;

/// The run built by hand that `PROMOTE_MOST_LAGGING_MIN` describes: the
/// instances start at 46, 1000 and 1000 ms (choices 3 to 5); the `calls`
/// fault points `Election::create_node` and `Cluster::node_status` are
/// enabled where first met, and fire on each `create_node` of arbiter-2
/// and arbiter-3 and on each `node_status` of r1 by arbiter-1 from its
/// round at 1046 ms on (the `ffff...` choices); everything else is 0.
const PROMOTE_MOST_LAGGING_RUN: &str = "0,0,0,b851eb851eb851f,ffbe76c8b4395811,ffbe76c8b4395811,0,0,0,0,0,0,8000000000000001,0,0,0,0,0,0,0,0,0,8000000000000001,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,ffffffffffffffff,0,0,ffffffffffffffff,0,0,0,0,0,0,ffffffffffffffff,0,0,0,0,0,0,0,0,0,0,0,ffffffffffffffff,0,0,0,0,0,0,0,0,0,0,0,ffffffffffffffff,0,0,0,0,0,0,0,0,0,0,0,ffffffffffffffff,0,0,0,0,0,0,0,0,0,0,0,ffffffffffffffff,0,0,0,0,0,0,0,0,0,0,0,ffffffffffffffff,0,0,0,0,0,0,0,0,0,0,0,ffffffffffffffff,0,0,0,0,0,0,0,0,0,0,0,ffffffffffffffff,0,0,0,0,0,0,0,0,0,0,0,ffffffffffffffff,0,0,0,0,0,0,0,0,0,0,0,ffffffffffffffff,0,0,0,0,0,0,0,0,0,ffffffffffffffff,0,0,ffffffffffffffff,0,0,0,0,0,0,ffffffffffffffff,0,0,0,0,0,0,0,0,0,0,0,ffffffffffffffff,0,0,0,0,0,0,0,0,0,0,0,ffffffffffffffff,0,0,0,0,0,0,0,0,0,0,0,ffffffffffffffff,0,0,0,0,0,0,0,0,0,0,0,ffffffffffffffff,0,0,0,0,0,0,0,0,0,0,0,ffffffffffffffff,0,0,0,0,0,0,0,0,0,0,0,ffffffffffffffff,0,0,0,0,0,0,0,0,0,0,0,ffffffffffffffff,0,0,0,0,0,0,0,0,0,0,0,ffffffffffffffff,0,0,0,0,0,0,0,0,0,0,0,ffffffffffffffff,0,0,0,0,0,0,0,0,0,ffffffffffffffff,0,0,ffffffffffffffff,0,0,0,0,0,0,ffffffffffffffff";

/// Sweeps `seeds` for `bug`, shrinks the smallest failure found, and
/// checks the result: at least `min` calls, at most `at_most`, in at most
/// `max_attempts` candidate runs.
fn shrinks_near(bug: Bug, invariants: &[&str], seeds: u64, min: usize, at_most: usize, max_attempts: u64) {
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
        .save_limit(50)
        .shrink_attempts(20_000)
        .shrink_time(Duration::from_secs(3600))
        .quiet()
        .run(|sim| match run(sim, &opts) {
            Err(f) if invariants.contains(&f.kind()) => Err(f),
            _ => Ok(()),
        });
    let f = report.shrunk().next().unwrap_or_else(|| panic!("{bug:?}: not found"));
    assert_eq!(f.shrink_stopped, Some(ShrinkStop::Exhausted), "{bug:?}");
    let shrunk = f.calls.1.expect("shrunk");
    assert!(
        shrunk >= min,
        "{bug:?}: {shrunk} calls, below the minimum {min}: the derivation is wrong"
    );
    assert!(
        shrunk <= at_most,
        "{bug:?}: shrunk from {} to {shrunk} calls, more than {at_most} (the minimum is {min})",
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
    // 432 candidate runs on 2026-12-02 (423 before the advance pass;
    // 1,070 before the two starts raced and rounds stopped when they
    // removed no calls).
    shrinks_near(
        Bug::NoDebounce,
        &["L3 bounded detection"],
        100,
        NO_DEBOUNCE_MIN,
        NO_DEBOUNCE_MIN * 5 / 4,
        700,
    );
}

#[test]
fn promote_most_lagging_shrinks_from_its_smallest_failure() {
    // Not the 1.25x goal (230 calls): 283 calls, 1.54x, in 2,192 candidate
    // runs on 2026-12-02. Seeds 0..300 fail at 17 (3,054 calls as found),
    // 43 and 299 (375 calls); the sweep shrinks the smallest, and every
    // run it finds decides after the first fault tick (5 s), where the
    // minimal run needs injected errors on r1's polls from 1 s on (see
    // `PROMOTE_MOST_LAGGING_MIN`). From seed 17 the shrinker gave 1,586.
    shrinks_near(
        Bug::PromoteMostLagging,
        &["S5 candidate eligibility"],
        300,
        PROMOTE_MOST_LAGGING_MIN,
        283,
        2_500,
    );
}

/// Runs `choices` with `bugs` planted; the result and the calls over every
/// instance's tapes.
fn run_choices(choices: &str, bugs: &[Bug]) -> (Result<(), rehearse::Failure>, usize) {
    let opts = SimOptions {
        bugs: bugs.iter().copied().collect(),
        record: true,
        ..SimOptions::default()
    };
    let sim = Sim::from_choices(17, rehearse::__private::decode_choices(choices).unwrap());
    let result = run(&sim, &opts).map(|_| ());
    let calls = (0..opts.instances)
        .flat_map(|i| (0..10).map(move |incarnation| instance_id(i, incarnation).0))
        .map(|name| sim.tape_named(&name).len())
        .sum();
    (result, calls)
}

#[test]
fn promote_most_lagging_minimum_is_the_run_built_by_hand() {
    // The derivation beside `PROMOTE_MOST_LAGGING_MIN` describes this run:
    // if the controller or the simulation changes what it does, this says
    // the minimum must be derived again.
    let (result, calls) = run_choices(PROMOTE_MOST_LAGGING_RUN, &[Bug::PromoteMostLagging]);
    let f = result.expect_err("the run built by hand fails");
    assert_eq!(f.kind(), "S5 candidate eligibility", "{f}");
    assert!(
        f.message()
            .contains("arbiter-1 fails over from r1 to r2: r3 is eligible and ranks before r2")
            && f.message().contains("t=3052 ms"),
        "{f}"
    );
    assert_eq!(calls, PROMOTE_MOST_LAGGING_MIN);
    // Without the planted bug the same choices fail over to r3, as S5
    // wants.
    let (result, _) = run_choices(PROMOTE_MOST_LAGGING_RUN, &[]);
    assert!(
        result
            .as_ref()
            .err()
            .is_none_or(|f| f.kind() != "S5 candidate eligibility"),
        "{result:?}"
    );
}
