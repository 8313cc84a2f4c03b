//! The shrink-quality benchmark's small systems (`scripts/bench-shrink`),
//! as a test: each planted bug is found and shrunk to at most 1.25 times
//! its minimal counterexample (derived by hand beside each bug), in
//! calls. Shrinking is bounded by attempts and the time limit is generous,
//! so the result is the same on any machine.

#[path = "../examples/counter.rs"]
#[allow(dead_code, unreachable_pub)]
mod counter;
#[path = "../examples/bench_shrink/planted.rs"]
#[allow(dead_code)]
mod planted;

use std::time::Duration;

use rehearse::{Failure, ShrinkStop, Sim, Sweep};

fn shrinks_near_the_minimum(name: &str, min: usize, run: fn(&mut Sim) -> Result<(), Failure>) {
    let dir = tempfile::tempdir().unwrap();
    let report = Sweep::new(name)
        .seeds(0..2000)
        .out_dir(dir.path())
        .shrink_limit(1)
        .save_limit(50)
        .shrink_attempts(5_000)
        .shrink_time(Duration::from_secs(600))
        .quiet()
        .run(run);
    let f = report.shrunk().next().unwrap_or_else(|| panic!("{name}: not found"));
    assert_eq!(f.shrink_stopped, Some(ShrinkStop::Exhausted), "{name}");
    let shrunk = f.calls.1.expect("shrunk");
    assert!(
        shrunk >= min,
        "{name}: {shrunk} calls, below the minimum {min}: the derivation is wrong"
    );
    assert!(
        shrunk * 4 <= min * 5,
        "{name}: shrunk from {} to {shrunk} calls, more than 1.25 x the minimum {min}",
        f.calls.0
    );
}

/// The counter example's minimum, as in `examples/bench_shrink/main.rs`.
const COUNTER_MIN: usize = 12;

#[test]
fn the_counter_example_shrinks_to_its_minimum() {
    shrinks_near_the_minimum("counter", COUNTER_MIN, |sim| counter::run(sim, false, true));
}

#[test]
fn the_dedup_receiver_drawn_with_next_u32_mod_n_shrinks_to_its_minimum() {
    shrinks_near_the_minimum("dedup", planted::DEDUP_MIN, planted::dedup);
}

#[test]
fn the_off_by_one_quorum_shrinks_to_its_minimum() {
    shrinks_near_the_minimum("quorum", planted::QUORUM_MIN, planted::quorum);
}

#[test]
fn the_lost_update_shrinks_to_its_minimum() {
    shrinks_near_the_minimum("lost-update", planted::LOST_UPDATE_MIN, planted::lost_update);
}

#[test]
fn the_unchecked_lease_shrinks_to_its_minimum() {
    shrinks_near_the_minimum("lease", planted::LEASE_MIN, planted::lease);
}

#[test]
fn the_reordered_retransmission_shrinks_to_its_minimum() {
    shrinks_near_the_minimum("reorder", planted::REORDER_MIN, planted::reorder);
}
