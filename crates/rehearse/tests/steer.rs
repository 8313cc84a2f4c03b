//! Coverage-guided steering (`Sweep::steer`): it finds what fresh seeds
//! do not, runs the same sequences on any thread count, and its failures
//! replay from their files.

use rehearse::{Failure, Report, STEER_MUTANTS, Sim, Sweep};

/// A combination lock: six draws must each hit one value of eight, in
/// order. Each correct digit is counted, so a run that gets one further
/// reaches new coverage; a fresh seed opens it once in 262,144 runs.
fn lock(sim: &mut Sim) -> Result<(), Failure> {
    // Noise drawn first, as a real run draws latencies and fault rolls.
    for _ in 0..1 + sim.below(4) {
        sim.choice();
    }
    for digit in 0..6u64 {
        if sim.below(8) != (digit * 3) % 8 {
            return Ok(());
        }
        sim.count(&format!("digit {digit} right"), 1);
    }
    Err(Failure::with_kind("opened", "all six digits right"))
}

fn sweep(name: &str, dir: &std::path::Path, steer: bool) -> Sweep {
    Sweep::new(name)
        .seeds(0..3000)
        .out_dir(dir)
        .steer(steer)
        .shrink(false)
        .command("cargo test --test steer")
        .quiet()
}

fn first_failing(report: &Report) -> Option<u64> {
    report.failed_seeds.iter().map(|f| f.seed).min()
}

#[test]
fn steering_opens_a_lock_fresh_seeds_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = sweep("lock-fresh", dir.path(), false).run(lock);
    assert_eq!(fresh.failed_runs, 0, "fresh seeds opened it: {:?}", fresh.failed_seeds);
    let steered = sweep("lock-steered", dir.path(), true).run(lock);
    assert!(
        first_failing(&steered).is_some(),
        "steering did not open the lock in 3000 runs ({} mutants)",
        steered.counters[STEER_MUTANTS]
    );
    assert_eq!(steered.runs, 3000);
}

/// A run whose first draw names a key of its own, counted at its end: a
/// fresh seed reaches new coverage almost every time, a fork (which keeps
/// its parent's first draw) almost never.
fn new_keys_from_fresh_seeds(sim: &mut Sim) -> Result<(), Failure> {
    let x = sim.below(1_000_000);
    for _ in 0..50 {
        sim.choice();
    }
    sim.count(&format!("value {x}"), 1);
    Ok(())
}

#[test]
fn forks_get_most_slots_where_they_find_new_coverage_and_few_where_fresh_seeds_do() {
    let dir = tempfile::tempdir().unwrap();
    // The lock: forks get one digit further, fresh seeds rarely (until
    // all six digits are counted; then neither finds anything new, and
    // the lead stays where the evidence left it).
    let lock_sweep = sweep("split-lock", dir.path(), true).run(lock);
    let forks = lock_sweep.counters[STEER_MUTANTS];
    assert!(forks > 3000 / 2, "forks lead on the lock: {forks} of 3000");
    // Every fresh seed is new coverage, no fork is: forks get one slot in
    // eight (and half of the first generations', before the evidence).
    let fresh_sweep = sweep("split-fresh", dir.path(), true).run(new_keys_from_fresh_seeds);
    let forks = fresh_sweep.counters[STEER_MUTANTS];
    assert!(
        (3000 / 16..3000 * 2 / 10).contains(&forks),
        "fresh seeds lead: {forks} forks of 3000"
    );
}

#[test]
fn the_same_steered_sweep_runs_the_same_sequences_on_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let one = sweep("lock-1", dir.path(), true).threads(1).run(lock);
    let two = sweep("lock-2", dir.path(), true).threads(2).run(lock);
    let four = sweep("lock-4", dir.path(), true).threads(4).run(lock);
    assert!(one.failed_runs > 0);
    for other in [&two, &four] {
        assert_eq!(one.failed_seeds, other.failed_seeds);
        assert_eq!(one.counters, other.counters);
    }
}

#[test]
fn a_steered_failure_is_saved_with_its_choices_and_replays_from_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let report = sweep("lock-replay", dir.path(), true).save_limit(2).run(lock);
    let f = report.failures.first().expect("steering opens the lock");
    assert!(
        f.trace.file_name().unwrap().to_string_lossy().starts_with("steered-"),
        "{}",
        f.trace.display()
    );
    assert_eq!(f.nondeterminism, None, "the recheck re-runs the mutant, not the seed");
    // Named as what it is: not "seed N", which would not re-run it.
    assert!(f.steered);
    let text = report.to_string();
    assert!(text.contains(&format!("- steered run {}: ", f.seed)), "{text}");
    assert!(!text.contains(&format!("- seed {}: ", f.seed)), "{text}");
    let saved = report.summary().saved;
    assert!(saved.iter().any(|s| s.seed == f.seed && s.steered));
    let line = format!("REHEARSE_REPLAY={} cargo test --test steer", f.trace.display());
    assert!(f.repro.starts_with(&line), "{}", f.repro);
    let again = Sweep::new("lock-replay")
        .out_dir(dir.path())
        .rerun(&f.trace)
        .quiet()
        .run(lock);
    let rerun = again.rerun.expect("a re-run");
    assert!(rerun.to_string().contains("still fails the same way"), "{rerun}");
    // The seed alone is a fresh run: it does not open the lock.
    let seed_alone = Sweep::new("lock-seed")
        .seeds(f.seed..f.seed + 1)
        .out_dir(dir.path())
        .quiet()
        .run(lock);
    assert_eq!(seed_alone.failed_runs, 0);
}

#[test]
fn a_bad_steer_knob_is_an_error_naming_it() {
    // (The knob is read from the environment: run it in a child process,
    // so that no other test of this file sees it.)
    if std::env::var_os("STEER_TEST_CHILD").is_some() {
        let report = Sweep::new("knob").seeds(0..3).quiet().run(|_| Ok(()));
        assert_eq!(report.failures[0].kind, "configuration");
        assert!(
            report.failures[0].message.contains("REHEARSE_STEER"),
            "{}",
            report.failures[0].message
        );
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let status = std::process::Command::new(exe)
        .args(["a_bad_steer_knob_is_an_error_naming_it", "--exact", "--quiet"])
        .env("STEER_TEST_CHILD", "1")
        .env("REHEARSE_STEER", "yes please")
        .status()
        .unwrap();
    assert!(status.success());
}
