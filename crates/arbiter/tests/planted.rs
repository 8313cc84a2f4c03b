//! Proof that the sweep finds bugs: each planted bug (feature
//! `planted-bugs`) is found within a seed budget, named by the invariant it
//! breaks, shrunk, and the shrunk run fails the same way when re-run from
//! its saved choices. Without any bug the same sweep is clean.

#![cfg(feature = "planted-bugs")]

use std::collections::BTreeSet;

use arbiter::sim::run::{SimOptions, run};
use arbiter::types::Bug;
use rehearse::__private::decode_choices;
use rehearse::{Sim, Sweep, Trace};

/// Seeds each bug must be found within.
const BUDGET: u64 = 3000;

fn options(bug: Option<Bug>) -> SimOptions {
    SimOptions {
        bugs: bug.into_iter().collect::<BTreeSet<_>>(),
        ..SimOptions::default()
    }
}

fn hunt(bug: Bug, invariants: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(Some(bug));
    let report = Sweep::new(format!("{bug:?}"))
        .seeds(0..BUDGET)
        .out_dir(dir.path())
        .shrink_limit(1)
        // A bound in attempts, the same on any machine: the test checks
        // the find, not how small the shrinker gets it.
        .shrink_attempts(2_000)
        .save_limit(3)
        .quiet()
        // Only this bug's invariants count: a knock-on violation of
        // another invariant must not pass for a find.
        .run(|sim| match run(sim, &opts) {
            Err(f) if invariants.contains(&f.kind()) => Err(f),
            _ => Ok(()),
        });
    let first = report
        .failures
        .first()
        .unwrap_or_else(|| panic!("{bug:?} was not found in {BUDGET} seeds"));
    assert!(
        invariants.contains(&first.kind.as_str()),
        "{bug:?} found as {:?}, expected one of {invariants:?}: {}",
        first.kind,
        first.message
    );
    assert!(
        first.message.contains(&format!("seed {}", first.seed)),
        "{}",
        first.message
    );
    let shrunk = first.shrunk.as_ref().expect("shrunk");
    let trace = Trace::read(shrunk).unwrap();
    let choices = decode_choices(&trace.header().meta["choices"]).unwrap();
    let again = run(&Sim::from_choices(first.seed, choices), &opts).unwrap_err();
    assert_eq!(again.kind(), first.kind, "the shrunk run fails the same way");
    eprintln!(
        "{bug:?}: seed {} ({}), shrunk to {:?} choices",
        first.seed, first.kind, first.choices.1
    );
}

#[test]
fn skip_fencing_is_found() {
    hunt(Bug::SkipFencing, &["S1 fenced actions"]);
}

#[test]
fn promoting_the_most_lagging_replica_is_found() {
    hunt(Bug::PromoteMostLagging, &["S5 candidate eligibility"]);
}

#[test]
fn forgetting_the_old_primary_is_found() {
    hunt(
        Bug::ForgetOldPrimary,
        &["L2 convergence", "S4 bounded dual-writable window"],
    );
}

#[test]
fn trusting_a_stale_read_is_found() {
    hunt(
        Bug::TrustStaleRead,
        &[
            "L2 convergence",
            "S4 bounded dual-writable window",
            "S5 candidate eligibility",
            "S1 fenced actions",
        ],
    );
}

#[test]
fn no_debounce_is_found() {
    hunt(Bug::NoDebounce, &["L3 bounded detection"]);
}

#[test]
fn resyncing_from_an_empty_restart_is_found() {
    hunt(Bug::ResyncFromEmpty, &["S7 no replication from an empty restart"]);
}

/// The same seeds of the same (widened) world, with no bug planted: clean.
#[test]
fn without_a_bug_the_same_sweep_is_clean() {
    let opts = SimOptions::default();
    let report = Sweep::new("no-bug")
        .seeds(0..BUDGET)
        .shrink(false)
        .quiet()
        .run(|sim| run(sim, &opts).map(|_| ()));
    assert!(report.failures.is_empty(), "{report}");
}
