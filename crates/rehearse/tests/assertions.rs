//! `sometimes!`, `always!`, `reachable!`, `unreachable!`: counted over the
//! explored runs of a sweep, listed with "never hit", failing the run (a
//! false `always!`, a reached `unreachable!`) or the sweep
//! (`require_sometimes`), summed across shards, and free outside a run.

use rehearse::{AssertionKind, Failure, Sim, Sweep, SweepSummary};

/// Every sweep of this file lists, beside what its runs evaluated, only
/// the catalog sites of module `listed` (the file's other sites belong to
/// other sweeps).
const SCOPE: &str = "assertions::listed";

fn sweep(name: &str) -> Sweep {
    Sweep::new(name).assertions_in(SCOPE).threads(3).quiet()
}

mod listed {
    /// Code no run of this file calls: its assertion is in the catalog only.
    #[allow(dead_code)]
    pub(crate) fn never_called(x: u64) {
        rehearse::sometimes!("never called: x is 7", x == 7);
    }
}

fn counted(sim: &mut Sim) -> Result<(), Failure> {
    let seed = sim.seed();
    for _ in 0..2 {
        rehearse::sometimes!("counted: seed divisible by 4", seed % 4 == 0);
    }
    rehearse::sometimes!("counted: seed above a million", seed > 1_000_000);
    rehearse::always!("counted: seed below 100", seed < 100, seed);
    if seed % 5 == 0 {
        rehearse::reachable!("counted: seed divisible by 5");
    }
    Ok(())
}

#[test]
fn counts_are_summed_over_explored_runs_and_never_hit_is_listed() {
    let report = sweep("assert-counts").seeds(0..20).run(counted);
    assert!(report.passed(), "{report}");
    let a = &report.assertions;
    let four = &a["counted: seed divisible by 4"];
    assert_eq!(four.kind, AssertionKind::Sometimes);
    assert_eq!((four.evaluations, four.hits, four.runs), (40, 10, 5));
    assert!(four.location.ends_with("assertions.rs:28"), "{}", four.location);
    let million = &a["counted: seed above a million"];
    assert_eq!((million.evaluations, million.hits, million.runs), (20, 0, 0));
    assert!(million.never_hit());
    let always = &a["counted: seed below 100"];
    assert_eq!((always.evaluations, always.hits, always.runs), (20, 20, 20));
    assert!(always.holds());
    let five = &a["counted: seed divisible by 5"];
    assert_eq!(
        (five.kind, five.evaluations, five.hits, five.runs),
        (AssertionKind::Reachable, 4, 4, 4)
    );
    // Never evaluated, in the catalog: listed, never hit.
    let never = &a["never called: x is 7"];
    assert_eq!((never.evaluations, never.hits), (0, 0));
    assert!(never.location.contains("assertions.rs"));
    assert_eq!(
        report.never_hit(),
        ["counted: seed above a million", "never called: x is 7"]
    );
    assert!(report.unmet().is_empty(), "not required: the sweep passes");

    let text = report.to_string();
    assert!(text.contains("NEVER HIT (false all 20 times)"), "{text}");
    assert!(text.contains("NEVER HIT (never evaluated)"), "{text}");
    assert!(text.contains("true 10 of 40 times, in 5 runs"), "{text}");
    assert!(text.contains("held all 20 times, in 20 runs"), "{text}");

    // The same on one thread: counts do not depend on the order seeds finish.
    let again = sweep("assert-counts").seeds(0..20).threads(1).run(counted);
    assert_eq!(again.assertions, report.assertions);
}

#[test]
fn assertions_in_scopes_the_catalog_but_not_what_runs_evaluated() {
    let report = Sweep::new("assert-scope")
        .assertions_in("no_such_module")
        .seeds(0..4)
        .quiet()
        .run(counted);
    assert!(!report.assertions.contains_key("never called: x is 7"));
    assert!(report.assertions.contains_key("counted: seed divisible by 4"));
    // A scope matches whole path segments.
    let report = Sweep::new("assert-scope")
        .assertions_in("assert")
        .seeds(0..1)
        .quiet()
        .run(|_| Ok(()));
    assert!(!report.assertions.contains_key("never called: x is 7"));
}

#[test]
fn require_sometimes_fails_a_sweep_that_never_hit_one() {
    let report = sweep("assert-require")
        .seeds(0..20)
        .require_sometimes(true)
        .run(counted);
    assert_eq!(report.failed_runs, 0);
    assert!(!report.passed());
    assert_eq!(
        report.unmet(),
        ["counted: seed above a million", "never called: x is 7"]
    );
    let text = report.to_string();
    assert!(
        text.contains("FAILED: 2 sometimes!/reachable! assertions never hit"),
        "{text}"
    );
    let panicked = std::panic::catch_unwind(|| report.assert_ok()).unwrap_err();
    let message = panicked.downcast_ref::<String>().unwrap();
    assert!(message.contains("counted: seed above a million"), "{message}");

    // Once hit, the same requirement passes.
    let report = Sweep::new("assert-require-met")
        .assertions_in("nothing_here")
        .quiet()
        .seeds(0..20)
        .require_sometimes(true)
        .run(|sim| {
            rehearse::sometimes!("require-met: seed 3 seen", sim.seed() == 3);
            Ok(())
        });
    assert!(report.passed(), "{report}");
    report.assert_ok();
}

#[test]
fn a_false_always_fails_the_run_where_it_is_with_its_kind_and_location() {
    let out = tempfile::tempdir().unwrap();
    let report = sweep("assert-always").seeds(0..30).out_dir(out.path()).run(|sim| {
        let tape = sim.tape();
        for step in 0..10 {
            tape.note(&format!("step {step}"));
            let replicas = sim.below(8);
            rehearse::always!("always: a replica to promote", replicas > 0, (step, replicas));
        }
        Ok(())
    });
    assert!(report.failed_runs > 0);
    assert_eq!(report.failed_runs, report.failed_seeds.len() as u64);
    let f = &report.failures[0];
    assert_eq!(f.kind, "assertion \"always: a replica to promote\"");
    assert!(
        f.message
            .starts_with("always!(\"always: a replica to promote\") was false at crates/rehearse/tests/assertions.rs:"),
        "{}",
        f.message
    );
    assert!(f.message.ends_with(", 0)"), "details: {}", f.message);
    assert!(f.nondeterminism.is_none());
    // Saved with its kind in the scenario's header, and shrunk: the run
    // stops at the assertion, so nothing after it is kept.
    let saved = rehearse::Trace::read(&f.trace).unwrap();
    assert_eq!(
        saved.header().failure.as_ref().map(|r| r.kind.as_str()),
        Some("assertion \"always: a replica to promote\"")
    );
    let shrunk = rehearse::Trace::read(f.shrunk.as_ref().expect("shrunk")).unwrap();
    assert_eq!(shrunk.marks().len(), 1, "the first step fails once shrunk");
    let a = &report.assertions["always: a replica to promote"];
    assert!(a.evaluations > a.hits, "false counted: {a:?}");
    assert!(!a.holds());
    assert!(report.to_string().contains("FALSE "), "{report}");
}

#[test]
fn a_reached_unreachable_fails_the_run_even_when_the_code_catches_the_unwinding() {
    let out = tempfile::tempdir().unwrap();
    let report = sweep("assert-unreachable")
        .seeds(0..10)
        .out_dir(out.path())
        .shrink(false)
        .run(|sim| {
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                if sim.seed() == 4 {
                    rehearse::unreachable!("unreachable: seed 4");
                }
            }));
            // The code under test swallowed it and went on: still a failure.
            let _ = caught;
            Ok(())
        });
    assert_eq!(report.failed_seeds.iter().map(|s| s.seed).collect::<Vec<_>>(), [4]);
    assert_eq!(report.failures[0].kind, "assertion \"unreachable: seed 4\"");
    assert!(
        report.failures[0].message.contains("was reached at"),
        "{}",
        report.failures[0].message
    );
    let a = &report.assertions["unreachable: seed 4"];
    assert_eq!((a.evaluations, a.hits, a.runs), (1, 1, 1));
    assert!(!a.holds());
}

#[test]
fn re_runs_and_shrinking_do_not_count() {
    let out = tempfile::tempdir().unwrap();
    let report = sweep("assert-explored-only")
        .seeds(0..40)
        .out_dir(out.path())
        .run(|sim| {
            rehearse::reachable!("explored-only: every run");
            if sim.below(10) == 0 {
                return Err(Failure::with_kind("unlucky", "a zero"));
            }
            Ok(())
        });
    assert!(
        report.failures.iter().any(|f| f.shrink_attempts > 0),
        "something was shrunk"
    );
    assert_eq!(report.assertions["explored-only: every run"].evaluations, 40);
}

#[test]
fn outside_a_run_assertions_do_nothing_and_never_panic() {
    let evaluated = std::cell::Cell::new(0);
    let cond = |v: bool| {
        evaluated.set(evaluated.get() + 1);
        v
    };
    rehearse::always!("outside: false", cond(false));
    rehearse::unreachable!("outside: reached");
    rehearse::sometimes!("outside: never", cond(false), "details");
    rehearse::reachable!("outside: reached too");
    assert_eq!(evaluated.get(), 0, "conditions are not evaluated outside a run");
    // A sim that was not entered records nothing either.
    let sim = Sim::new(1);
    rehearse::sometimes!("outside: a sim not entered", true);
    assert!(sim.assertion_counts().is_empty());
    // Entered by hand: counted, and a broken one says why.
    {
        let _entered = sim.enter();
        rehearse::sometimes!("outside: a sim entered", true);
        let broke = std::panic::catch_unwind(|| rehearse::always!("outside: entered and false", false));
        assert!(broke.is_err());
    }
    assert_eq!(sim.assertion_counts()["outside: a sim entered"], (1, 1));
    assert_eq!(
        sim.assertion_failure().unwrap().kind(),
        "assertion \"outside: entered and false\""
    );
    rehearse::always!("outside: after the guard", false);
}

#[test]
fn shards_merged_hit_a_sometimes_any_shard_hit() {
    let run = |shard: Option<u64>| {
        let mut s = sweep("assert-shards").seeds(0..40);
        if let Some(i) = shard {
            s = s.shard(i, 4);
        }
        s.run(|sim| {
            rehearse::sometimes!("shards: seed 6", sim.seed() == 6);
            rehearse::sometimes!("shards: an even seed", sim.seed() % 2 == 0);
            rehearse::always!("shards: below 40", sim.seed() < 40);
            Ok(())
        })
        .summary()
    };
    let whole = run(None);
    let parts: Vec<(String, SweepSummary)> = (1..=4).map(|i| (format!("shard-{i}"), run(Some(i)))).collect();
    // Seed 6 is in shard 3 only: the other shards never hit it.
    for (label, part) in &parts {
        let hit = part.assertions["shards: seed 6"].hits > 0;
        assert_eq!(
            hit,
            label == "shard-3",
            "{label}: {:?}",
            part.assertions["shards: seed 6"]
        );
    }
    let merged = SweepSummary::merge(&parts).unwrap();
    assert_eq!(merged.assertions, whole.assertions);
    assert_eq!(merged.assertions["shards: seed 6"].hits, 1);
    assert!(!merged.never_hit().contains(&"shards: seed 6"));
    assert_eq!(merged.never_hit(), ["never called: x is 7"]);
    let text = merged.to_string();
    assert!(text.contains("assertions: 3 of 4 hold"), "{text}");
    // Written and read back: the same.
    let json = serde_json::to_string(&merged).unwrap();
    assert_eq!(SweepSummary::parse(&json).unwrap(), merged);
    // Required by one shard: required of the merge.
    let mut parts = parts;
    parts[0].1.require_sometimes = true;
    let merged = SweepSummary::merge(&parts).unwrap();
    assert_eq!(merged.unmet(), ["never called: x is 7"]);
    // (its text names both ways a merge comes to require them)
    let text = merged.to_string();
    assert!(
        text.contains("never hit, and a shard's sweep (REHEARSE_REQUIRE_SOMETIMES / require_sometimes) or `rehearse merge --require-sometimes` requires them: never called: x is 7"),
        "{text}"
    );
}

#[test]
fn a_rerun_of_a_saved_file_lists_the_same_catalog_as_the_sweep() {
    // A newcomer's trial: the re-run of a saved scenario listed 5
    // assertions where the sweep (and a `REHEARSE_SEED` re-run) listed 6,
    // leaving out the catalog site no run reached.
    let out = tempfile::tempdir().unwrap();
    let failing = |sim: &mut Sim| {
        counted(sim)?;
        if sim.seed() == 3 {
            return Err(Failure::with_kind("three", "seed 3"));
        }
        Ok(())
    };
    // (every site of this file: the re-run of seed 3 reaches neither
    // `never_called` nor the `reachable!` of seeds divisible by 5)
    let all = |name: &str| Sweep::new(name).assertions_in("assertions").threads(3).quiet();
    let report = all("assert-rerun").seeds(0..8).out_dir(out.path()).run(failing);
    let saved = &report.failures[0];
    assert_eq!(saved.seed, 3);
    let again = all("assert-rerun").out_dir(out.path()).rerun(&saved.trace).run(failing);
    assert!(again.rerun.is_some());
    let names = |r: &rehearse::Report| r.assertions.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&again), names(&report));
    assert_eq!(again.assertions["never called: x is 7"].evaluations, 0);
    assert_eq!(again.assertions["counted: seed divisible by 5"].evaluations, 0);
}
