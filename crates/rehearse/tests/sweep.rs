//! Sim, Faulty, Sweep and the determinism guard: same seed, same bytes (in
//! one process and across two); planted non-determinism is caught;
//! shrinking never returns a passing scenario; panics are reported with
//! their message and seed; the time budget, shards and regressions work.

#![allow(missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rehearse::{
    Failure, Faulty, InjectFault, Recorder, RunFailure, ShrinkStop, Sim, Sweep, Trace, check_determinism,
    check_determinism_across_processes,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum StoreError {
    Unavailable,
    Busy(u8),
}

impl InjectFault for StoreError {
    fn inject_fault(_point: &str, sim: &Sim) -> Self {
        if sim.chance(0.5) {
            Self::Busy(sim.below(10) as u8)
        } else {
            Self::Unavailable
        }
    }
}

/// Not injectable: methods returning it pass through `Faulty`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlainError;

#[rehearse::world]
pub trait Store {
    fn put(&mut self, key: String, value: u64) -> Result<(), StoreError>;
    fn get(&self, key: &str) -> Result<Option<u64>, StoreError>;
    fn keys(&self) -> Vec<String>;
    fn ping(&self) -> Result<(), PlainError>;
}

/// A simulated store; `planted_bug` iterates a `HashMap`, whose order
/// changes from one map to the next.
struct SimStore {
    sim: Sim,
    data: BTreeMap<String, u64>,
    hashed: HashMap<String, u64>,
    planted_bug: bool,
}

impl SimStore {
    fn new(sim: &Sim, planted_bug: bool) -> Self {
        Self {
            sim: sim.clone(),
            data: BTreeMap::new(),
            hashed: HashMap::new(),
            planted_bug,
        }
    }
}

impl Store for SimStore {
    fn put(&mut self, key: String, value: u64) -> Result<(), StoreError> {
        self.sim.advance(Duration::from_millis(1 + self.sim.below(5)));
        self.hashed.insert(key.clone(), value);
        self.data.insert(key, value);
        Ok(())
    }
    fn get(&self, key: &str) -> Result<Option<u64>, StoreError> {
        self.sim.advance(Duration::from_millis(1));
        Ok(self.data.get(key).copied())
    }
    fn keys(&self) -> Vec<String> {
        if self.planted_bug {
            self.hashed.keys().cloned().collect()
        } else {
            self.data.keys().cloned().collect()
        }
    }
    fn ping(&self) -> Result<(), PlainError> {
        Ok(())
    }
}

/// A workload: writes keys, reads them back, lists them. Fails when a read
/// returns a value other than the last one written (it never does, unless
/// `bad_at` asks for a planted failure at that many writes).
fn workload(sim: &mut Sim, planted_bug: bool, bad_at: Option<u64>) -> Result<(), Failure> {
    let store = Faulty::new(SimStore::new(sim, planted_bug), sim.clone());
    let mut world = Recorder::new(store, sim.tape());
    let mut written = 0;
    for i in 0..20u64 {
        let key = format!("k{}", sim.below(8));
        if world.put(key.clone(), i).is_ok() {
            written += 1;
        }
        let _ = world.get(&key);
        world.ping().expect("ping has no injectable error");
        if bad_at.is_some_and(|n| written >= n && sim.chance(0.5)) {
            return Err(Failure::new(format!(
                "too many writes: {written} reached after call {i}"
            )));
        }
    }
    world.keys();
    Ok(())
}

#[test]
fn same_seed_same_bytes_in_one_process() {
    for seed in 0..50 {
        check_determinism(seed, |sim| workload(sim, false, None)).unwrap();
    }
    // And the traces really carry the run (not two empty tapes).
    let mut sim = Sim::new(3);
    workload(&mut sim, false, None).unwrap();
    assert!(Trace::parse(&sim.tape().contents()).unwrap().calls().len() > 40);
}

#[test]
fn same_seed_same_bytes_across_processes() {
    check_determinism_across_processes("same_seed_same_bytes_across_processes", 11, |sim| {
        workload(sim, false, None)
    })
    .unwrap();
}

#[test]
fn planted_hashmap_iteration_is_caught() {
    let caught = (0..5).any(|seed| check_determinism(seed, |sim| workload(sim, true, None)).is_err());
    assert!(caught, "iterating a HashMap must change the trace between runs");
    let err = (0..5)
        .find_map(|seed| check_determinism(seed, |sim| workload(sim, true, None)).err())
        .unwrap();
    let text = err.to_string();
    assert!(text.contains("is not deterministic"), "{text}");
    assert!(
        text.contains("Store::keys"),
        "the first differing call is named: {text}"
    );
}

#[test]
fn a_sweep_reports_nondeterminism_of_a_failing_seed() {
    let dir = tempfile::tempdir().unwrap();
    let report = Sweep::new("nondet").seeds(0..5).out_dir(dir.path()).quiet().run(|sim| {
        workload(sim, true, None)?;
        Err(Failure::new("always fails"))
    });
    assert_eq!(report.failed_runs, 5);
    assert!(report.failures.iter().any(|f| f.nondeterminism.is_some()), "{report}");
    assert!(report.to_string().contains("NOT DETERMINISTIC"));
}

#[test]
fn nondeterminism_names_the_call_and_says_how_the_rerun_ended() {
    // Only the first run of the seed fails (a counter outside the run): the
    // re-run passes. Its first call differs too (the counter is in a key).
    let runs = AtomicU64::new(0);
    let dir = tempfile::tempdir().unwrap();
    let report = Sweep::new("nondet-calls")
        .seeds(0..1)
        .threads(1)
        .out_dir(dir.path())
        .quiet()
        .run(|sim| {
            let n = runs.fetch_add(1, Ordering::SeqCst);
            let store = Faulty::new(SimStore::new(sim, false), sim.clone());
            let world = Recorder::new(store, sim.tape());
            let _ = world.get("a");
            let _ = world.get(&format!("k{n}"));
            if n == 0 {
                Err(Failure::new("first run only"))
            } else {
                Ok(())
            }
        });
    let n = report.failures[0].nondeterminism.as_deref().expect("flagged");
    assert!(n.starts_with("the re-run did not fail; call 1 differs"), "{n}");
    assert!(!n.contains("line 1"), "{n}");

    // The same calls every time, only the result differs.
    let runs = AtomicU64::new(0);
    let report = Sweep::new("nondet-result")
        .seeds(0..1)
        .threads(1)
        .out_dir(dir.path())
        .quiet()
        .run(|sim| {
            let n = runs.fetch_add(1, Ordering::SeqCst);
            let store = Faulty::new(SimStore::new(sim, false), sim.clone());
            let world = Recorder::new(store, sim.tape());
            let _ = world.get("a");
            Err(Failure::new(format!("oops: run {n}")))
        });
    let n = report.failures[0].nondeterminism.as_deref().expect("flagged");
    assert_eq!(
        n,
        "the re-run failed differently (oops: run 1; the first run: oops: run 0), with identical calls (1)"
    );
}

#[test]
fn failures_are_saved_shrunk_and_the_shrunk_scenario_still_fails() {
    let dir = tempfile::tempdir().unwrap();
    for bad_at in [3, 8, 15] {
        let report = Sweep::new(format!("shrink-{bad_at}"))
            .seeds(0..40)
            .out_dir(dir.path())
            .shrink_limit(40)
            .quiet()
            .run(|sim| workload(sim, false, Some(bad_at)));
        assert!(report.failed_runs > 0, "the planted failure is found");
        for f in &report.failures {
            assert_eq!(f.kind, "too many writes");
            let original = Trace::read(&f.trace).unwrap();
            assert_eq!(original.header().seed, Some(f.seed));
            let shrunk_path = f.shrunk.as_ref().expect("every failure here is shrunk");
            let shrunk = Trace::read(shrunk_path).unwrap();
            assert!(shrunk.calls().len() <= original.calls().len());
            // The report says how far shrinking got and why it stopped.
            assert_eq!(f.calls, (original.calls().len(), Some(shrunk.calls().len())));
            assert!(f.shrink_attempts > 0);
            assert_eq!(f.shrink_stopped, Some(ShrinkStop::Exhausted));
            // Re-run exactly the saved choices: the failure is still there.
            let choices = shrunk
                .header()
                .choices()
                .unwrap()
                .expect("a shrunk scenario records its choices");
            assert_eq!(Some(choices.len()), f.choices.1);
            assert!(choices.len() <= f.choices.0);
            let mut sim = Sim::from_choices(f.seed, choices);
            let again = workload(&mut sim, false, Some(bad_at)).unwrap_err();
            assert_eq!(again.kind(), "too many writes");
            // Each saved file says how its run failed.
            assert_eq!(original.header().failure.as_ref().unwrap().message, f.message);
            let saved_failure = shrunk.header().failure.clone().unwrap();
            assert_eq!(Some(&saved_failure.message), f.shrunk_message.as_ref());
            // And its trace is byte for byte what was saved.
            sim.tape().set_failure(Some(RunFailure::from(&again))).unwrap();
            assert_eq!(sim.tape().contents(), std::fs::read_to_string(shrunk_path).unwrap());
        }
    }
}

#[test]
fn shrinking_says_when_its_attempt_bound_stopped_it() {
    let dir = tempfile::tempdir().unwrap();
    let report = Sweep::new("shrink-bound")
        .seeds(0..40)
        .out_dir(dir.path())
        .shrink_limit(1)
        .shrink_attempts(3)
        .quiet()
        .run(|sim| workload(sim, false, Some(3)));
    let f = &report.failures[0];
    assert_eq!(f.shrink_attempts, 3);
    assert_eq!(f.shrink_stopped, Some(ShrinkStop::Attempts { limit: 3 }));
    let (found, shrunk) = (f.calls.0, f.calls.1.expect("shrunk"));
    assert!(shrunk <= found && found > 0, "{:?}", f.calls);
    let text = report.to_string();
    assert!(
        text.contains(&format!(
            "({found} -> {shrunk} calls, 3 attempts, stopped: attempt bound 3)"
        )),
        "{text}"
    );
    assert!(text.contains("saved and re-checked in"), "{text}");
    // The summary gives the failure rate, and the fault points with what
    // fired (as the JSON report and `rehearse merge` do).
    let pct = report.failed_runs as f64 * 100.0 / 40.0;
    assert!(
        text.contains(&format!("{} of 40 seeds failed ({pct:.1}%; ", report.failed_runs)),
        "{text}"
    );
    assert!(text.contains("faults (per point: runs that met it"), "{text}");
    let (point, stats) = report.faults.iter().next().expect("a fault point was met");
    assert!(
        text.contains(&format!("{} met", stats.met)) && text.contains(point.as_str()),
        "{text}"
    );
    assert!(!report.saving.is_zero() && report.shrinking <= report.saving);
    // The JSON summary carries the same numbers, and reads back.
    let summary = report.summary();
    let back = rehearse::SweepSummary::parse(&serde_json::to_string(&summary).unwrap()).unwrap();
    assert_eq!(back, summary);
    // (saved by seed there, as a merge of shards lists them)
    let saved = back.saved.iter().find(|s| s.seed == f.seed).expect("saved");
    assert_eq!(saved.shrunk_calls, Some(shrunk));
    assert_eq!(saved.shrink_stopped, Some(ShrinkStop::Attempts { limit: 3 }));
    assert!(back.to_string().contains("attempt bound 3"), "{back}");
}

#[test]
fn a_panic_is_reported_with_its_message_and_seed() {
    let dir = tempfile::tempdir().unwrap();
    let report = Sweep::new("panics")
        .seeds(0..30)
        .out_dir(dir.path())
        .quiet()
        .run(|sim| {
            if sim.seed() == 17 {
                let v: Vec<u8> = Vec::new();
                let _ = v[sim.below(1) as usize + 3];
            }
            Ok(())
        });
    assert_eq!(report.runs, 30);
    assert_eq!(report.failed_runs, 1);
    let f = &report.failures[0];
    assert_eq!(f.seed, 17);
    assert!(f.message.contains("index out of bounds"), "{}", f.message);
    assert!(
        f.message.contains("tests/sweep.rs"),
        "the panic location is given: {}",
        f.message
    );
    assert!(f.repro.starts_with("REHEARSE_SEED=17 "), "{}", f.repro);
    assert!(f.trace.exists());
    let text = std::panic::catch_unwind(|| report.assert_ok()).unwrap_err();
    let text = text.downcast_ref::<String>().unwrap();
    assert!(
        text.contains("1 of 30 seeds failed") && text.contains("seed 17"),
        "{text}"
    );
}

#[test]
fn the_time_budget_stops_the_sweep() {
    let budget = Duration::from_millis(300);
    let start = Instant::now();
    let report = Sweep::new("budget")
        .seeds(0..u64::MAX)
        .time_budget(budget)
        .threads(2)
        .quiet()
        .run(|sim| {
            std::thread::sleep(Duration::from_millis(1));
            sim.choice();
            Ok(())
        });
    assert!(report.budget_exhausted);
    assert!(report.runs > 0);
    // The summary says so (a passing sweep cut short is not a full pass).
    let text = report.to_string();
    assert!(
        text.contains(&format!(
            "the time budget (REHEARSE_TIME / time_budget) ended the sweep after {} seeds",
            report.runs
        )),
        "{text}"
    );
    // Generous bound: the point is that a practically endless range stops.
    assert!(
        start.elapsed() < budget + Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn shards_partition_the_seed_range() {
    let mut all = Vec::new();
    for i in 1..=3 {
        let seen = Mutex::new(Vec::new());
        Sweep::new("shards").seeds(10..30).shard(i, 3).quiet().run(|sim| {
            seen.lock().unwrap().push(sim.seed());
            Ok(())
        });
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        assert!(seen.iter().all(|s| (s - 10) % 3 == i - 1), "{seen:?}");
        all.extend(seen);
    }
    all.sort();
    assert_eq!(all, (10..30).collect::<Vec<u64>>());
}

#[test]
fn failing_seeds_are_remembered_and_run_first() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("regressions/fails.txt");
    let fails = |sim: &mut Sim| {
        if sim.seed() % 7 == 5 {
            Err(Failure::new("seed ends badly"))
        } else {
            Ok(())
        }
    };
    let first = Sweep::new("fails")
        .seeds(0..10)
        .out_dir(dir.path())
        .regressions(&file)
        .quiet()
        .run(fails);
    assert_eq!(first.failures.iter().map(|f| f.seed).collect::<Vec<_>>(), [5]);
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    if std::env::var_os("CI").is_some() {
        assert!(text.is_empty(), "CI never writes regressions");
        return;
    }
    assert!(text.contains("seed 5 # seed ends badly"), "{text}");
    // A later sweep over other seeds still tries seed 5 first.
    let order = Mutex::new(Vec::new());
    let later = Sweep::new("fails")
        .seeds(100..103)
        .threads(1)
        .out_dir(dir.path())
        .regressions(&file)
        .quiet()
        .run(|sim| {
            order.lock().unwrap().push(sim.seed());
            fails(sim)
        });
    // The sweep runs seed 5 first (later runs of it are the determinism
    // check and shrinking).
    assert_eq!(order.into_inner().unwrap()[..4], [5, 100, 101, 102]);
    assert_eq!(later.failed_runs, 1);
}

#[test]
fn faulty_fails_calls_before_and_after_they_take_effect() {
    let (mut before, mut after) = (0, 0);
    for seed in 0..300 {
        let sim = Sim::new(seed);
        let mut store = Faulty::new(SimStore::new(&sim, false), sim.clone());
        for i in 0..20 {
            let key = format!("k{i}");
            if store.put(key.clone(), i).is_err() {
                match store.inner().data.get(&key) {
                    Some(_) => after += 1, // the reply was lost, the write happened
                    None => before += 1,   // the request was lost
                }
            }
            assert!(store.ping().is_ok(), "PlainError is not InjectFault: never injected");
        }
    }
    assert!(before > 0 && after > 0, "before {before}, after {after}");
}

#[test]
fn a_world_built_only_from_choices_is_reproducible() {
    let sim = Sim::new(42);
    let draws: Vec<u64> = (0..10).map(|_| sim.below(1000)).collect();
    let again = Sim::from_choices(42, sim.choices());
    assert_eq!((0..10).map(|_| again.below(1000)).collect::<Vec<_>>(), draws);
    use rehearse::rand::Rng;
    let mut rng = Sim::new(1).rng();
    let x: u32 = rng.random_range(0..10);
    assert!(x < 10);
}

#[test]
fn only_listed_fault_points_fire() {
    let report = Sweep::new("only")
        .seeds(0..200)
        .only_faults(["Store::get"])
        .no_swarm()
        .quiet()
        .run(|sim| {
            let mut store = Faulty::new(SimStore::new(sim, false), sim.clone());
            for i in 0..10 {
                if store.put(format!("k{i}"), i).is_err() {
                    return Err(Failure::new("put failed although only Store::get may fail"));
                }
                let _ = store.get("k");
            }
            let fired = sim.faults_fired();
            if fired.contains_key("Store::put") {
                return Err(Failure::new("Store::put was enabled"));
            }
            Ok(())
        });
    report.assert_ok();
}

#[path = "../examples/counter.rs"]
#[allow(dead_code, unreachable_pub)]
mod counter;

#[test]
fn the_counter_example_finds_shrinks_and_replays_its_bug() {
    counter::main().unwrap();
}

/// Child half of `environment_knobs_override_the_sweep`: a sweep of 0..50
/// that writes the seeds it ran.
#[test]
fn env_knobs_child() {
    let Some(out) = std::env::var_os("REHEARSE_TEST_KNOBS_OUT") else {
        return;
    };
    let seen = Mutex::new(Vec::new());
    Sweep::new("knobs").seeds(0..50).quiet().run(|sim| {
        seen.lock().unwrap().push(sim.seed());
        Ok(())
    });
    let mut seen = seen.into_inner().unwrap();
    seen.sort();
    std::fs::write(out, format!("{seen:?}")).unwrap();
}

/// Runs `env_knobs_child` in a child process with `vars`; its seeds, or
/// its stderr when it failed.
fn knobs(vars: &[(&str, &str)]) -> Result<String, String> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("seeds");
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["env_knobs_child", "--exact", "--test-threads=1"])
        .env("REHEARSE_TEST_KNOBS_OUT", &out);
    for (k, _) in std::env::vars() {
        if k.starts_with("REHEARSE_") && k != "REHEARSE_TEST_KNOBS_OUT" {
            cmd.env_remove(k);
        }
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let output = cmd.output().unwrap();
    if output.status.success() {
        Ok(std::fs::read_to_string(out).unwrap())
    } else {
        Err(String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr))
    }
}

#[test]
fn environment_knobs_override_the_sweep() {
    assert_eq!(knobs(&[("REHEARSE_SEED", "7")]).unwrap(), "[7]");
    assert_eq!(knobs(&[("REHEARSE_SEEDS", "3")]).unwrap(), "[0, 1, 2]");
    // No seed fails: a sweep stopping after 2 failures runs them all.
    assert_eq!(
        knobs(&[("REHEARSE_SEEDS", "3"), ("REHEARSE_STOP_AFTER", "2")]).unwrap(),
        "[0, 1, 2]"
    );
    assert_eq!(knobs(&[("REHEARSE_SEEDS", "10..13")]).unwrap(), "[10, 11, 12]");
    assert_eq!(
        knobs(&[("REHEARSE_SEEDS", "0..6"), ("REHEARSE_SHARD", "2/3")]).unwrap(),
        "[1, 4]"
    );
    // A saved scenario re-runs its own seed and choices.
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("seed-33.shrunk.ron");
    std::fs::write(&saved, "(rehearse: 1, seed: 33, meta: {\"choices\": \"0,ff\"})\n").unwrap();
    assert_eq!(knobs(&[("REHEARSE_REPLAY", saved.to_str().unwrap())]).unwrap(), "[33]");
    // A bad knob or replay file: no run and an error naming the variable
    // (and the file), not a panic.
    let stderr = |vars: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args(["env_knobs_child", "--exact", "--test-threads=1", "--nocapture"])
            .env("REHEARSE_TEST_KNOBS_OUT", dir.path().join("ran"));
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "no panic");
        let ran = std::fs::read_to_string(dir.path().join("ran")).unwrap();
        assert_eq!(ran, "[]", "nothing ran");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = stderr(&[("REHEARSE_SEEDS", "ten")]);
    assert!(err.contains("did not start: REHEARSE_SEEDS=\"ten\""), "{err}");
    let err = stderr(&[("REHEARSE_STOP_AFTER", "few")]);
    assert!(err.contains("did not start: REHEARSE_STOP_AFTER=\"few\""), "{err}");
    let err = stderr(&[("REHEARSE_STOP_AFTER", "0")]);
    assert!(err.contains("did not start: REHEARSE_STOP_AFTER=\"0\""), "{err}");
    let bad = dir.path().join("bad.ron");
    std::fs::write(&bad, "not a scenario\n").unwrap();
    let err = stderr(&[("REHEARSE_REPLAY", bad.to_str().unwrap())]);
    assert!(
        err.contains("did not start: REHEARSE_REPLAY: ") && err.contains("bad.ron:1"),
        "{err}"
    );
    std::fs::write(&bad, "(rehearse: 1)\n").unwrap();
    let err = stderr(&[("REHEARSE_REPLAY", bad.to_str().unwrap())]);
    assert!(err.contains("has no seed"), "{err}");
}

#[test]
fn a_report_with_a_bad_field_names_its_line_and_column() {
    let report = Sweep::new("bad-field")
        .seeds(0..5)
        .quiet()
        .run(|sim| workload(sim, false, None));
    let json = serde_json::to_string_pretty(&report.summary()).unwrap();
    let bad = json.replacen("\"runs\": 5", "\"runs\": \"five\"", 1);
    assert_ne!(bad, json, "the report has a runs field: {json}");
    let line = bad.lines().position(|l| l.contains("\"five\"")).unwrap() + 1;
    let err = rehearse::SweepSummary::parse(&bad).unwrap_err();
    assert!(err.contains("invalid type: string \"five\""), "{err}");
    assert!(err.contains(&format!("at line {line} column")), "{err}");
}

/// A run for the `stop_after` tests: meets two fault points, counts, holds
/// a `sometimes!`, and fails for seeds 7 more than a multiple of 11 from
/// 20 on (29, 40, 51, 62, ...). Seeds before 40 are slow, so that with
/// several threads later seeds (past the third failure) finish first.
fn stop_workload(sim: &mut Sim) -> Result<(), Failure> {
    let seed = sim.seed();
    if (30..40).contains(&seed) {
        std::thread::sleep(Duration::from_millis(15));
    }
    let mut delivered = 0;
    for _ in 0..10 {
        if sim.fault("net::drop") {
            continue;
        }
        if sim.fault("node::crash") {
            sim.count("crashes", 1);
        }
        delivered += 1;
    }
    sim.count("delivered", delivered);
    rehearse::sometimes!("stop_after: all ten delivered", delivered == 10);
    if seed >= 20 && seed % 11 == 7 {
        return Err(Failure::with_kind("planted", format!("seed {seed}")));
    }
    Ok(())
}

#[test]
fn stop_after_reports_exactly_the_seeds_up_to_the_nth_failure_on_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = |threads: usize, seeds: std::ops::Range<u64>, stop: Option<u64>| {
        let mut s = Sweep::new("stop-after")
            .seeds(seeds)
            .threads(threads)
            .out_dir(dir.path())
            .shrink(false)
            .assertions_in("sweep")
            .quiet();
        if let Some(n) = stop {
            s = s.stop_after(n);
        }
        s.run(stop_workload)
    };
    let one = sweep(1, 0..300, Some(3));
    let four = sweep(4, 0..300, Some(3));
    // What a sweep of only the seeds up to the third failure (51) gives.
    let upto = sweep(4, 0..52, None);
    let seeds = |r: &rehearse::Report| r.failed_seeds.iter().map(|f| f.seed).collect::<Vec<_>>();
    for r in [&one, &four] {
        assert_eq!(seeds(r), [29, 40, 51]);
        assert_eq!((r.runs, r.failed_runs, r.stopped_after), (52, 3, Some(3)));
        let mut saved: Vec<u64> = r.failures.iter().map(|f| f.seed).collect();
        saved.sort_unstable();
        assert_eq!(saved, [29, 40, 51], "only the failures up to the third are saved");
        assert!(!r.budget_exhausted);
        assert_eq!(r.calls, upto.calls);
        assert_eq!(r.failed_seeds, upto.failed_seeds);
        assert_eq!(r.faults, upto.faults, "fault statistics of the seeds up to 51 only");
        assert_eq!(r.counters, upto.counters, "counters of the seeds up to 51 only");
        assert_eq!(r.assertions, upto.assertions);
        assert!(
            r.to_string()
                .contains("\n(stopped after 3 failures, as asked: REHEARSE_STOP_AFTER / stop_after)\n"),
            "{r}"
        );
    }
    assert!(one.faults["node::crash"].met > 0 && one.counters["crashes"] > 0);
    assert_eq!(upto.stopped_after, None);
    // The JSON summary says it too, and reads back.
    let summary = four.summary();
    assert_eq!(
        (summary.stopped_after, summary.stopped_shards.clone()),
        (Some(3), vec![1])
    );
    assert!(
        summary
            .to_string()
            .contains("; stopped after 3 failures, as asked: REHEARSE_STOP_AFTER / stop_after)"),
        "{summary}"
    );
    let file = dir.path().join("stopped.json");
    four.write_json(&file).unwrap();
    assert_eq!(rehearse::SweepSummary::read(&file).unwrap(), summary);
    // Fewer failures than asked: every seed runs, and nothing says stopped.
    let all = sweep(4, 0..60, Some(5));
    assert_eq!((all.runs, all.failed_runs, all.stopped_after), (60, 3, None));
    // The N-th failure on the last seed: nothing left unrun.
    let last = sweep(2, 0..52, Some(3));
    assert_eq!((last.runs, last.stopped_after), (52, None));
    // stop_after(0) is a configuration error, nothing run.
    let zero = sweep(2, 0..52, Some(0));
    assert_eq!((zero.runs, zero.failures[0].kind.as_str()), (0, "configuration"));
    assert!(
        zero.failures[0].message.contains("stop_after(0)"),
        "{}",
        zero.failures[0].message
    );
}

#[test]
fn a_steered_sweep_stops_at_the_same_slot_on_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let sweep = |threads: usize| {
        Sweep::new("stop-after-steered")
            .seeds(0..400)
            .threads(threads)
            .out_dir(dir.path())
            .steer(true)
            .shrink(false)
            .stop_after(4)
            .quiet()
            .run(|sim| {
                let depth = (0..6).take_while(|_| sim.chance(0.5)).count();
                sim.count(&format!("depth {depth}"), 1);
                if sim.fault("disk::full") && depth >= 3 {
                    return Err(Failure::with_kind("deep", format!("depth {depth}")));
                }
                Ok(())
            })
    };
    let one = sweep(1);
    let four = sweep(4);
    assert_eq!((one.failed_runs, one.stopped_after), (4, Some(4)), "{one}");
    assert!(one.runs < 400);
    assert_eq!(one.runs, four.runs);
    assert_eq!(one.calls, four.calls);
    assert_eq!(one.failed_seeds, four.failed_seeds);
    assert_eq!(one.faults, four.faults);
    assert_eq!(one.counters, four.counters);
}

#[test]
fn assert_ok_does_not_repeat_a_summary_the_sweep_printed() {
    // A newcomer's trial: the sweep printed its summary, then `assert_ok`
    // panicked with the same 50 lines again.
    let dir = tempfile::tempdir().unwrap();
    let panic_text = |quiet: bool| {
        let mut sweep = Sweep::new("assert-ok-text")
            .seeds(0..20)
            .out_dir(dir.path())
            .shrink(false);
        if quiet {
            sweep = sweep.quiet();
        }
        let report = sweep.run(|sim| workload(sim, false, Some(3)));
        assert!(report.failed_runs > 0);
        let payload = std::panic::catch_unwind(|| report.assert_ok()).expect_err("it failed");
        payload.downcast_ref::<String>().cloned().unwrap()
    };
    let printed = panic_text(false);
    assert!(printed.starts_with("sweep `assert-ok-text`: "), "{printed}");
    assert!(printed.contains("is above on stderr"), "{printed}");
    assert!(!printed.contains("reproduce:"), "{printed}");
    assert_eq!(printed.lines().count(), 2, "{printed}");
    // Under `quiet` nothing was printed: the panic carries it all.
    let quiet = panic_text(true);
    assert!(quiet.contains("reproduce:"), "{quiet}");
    assert!(!quiet.contains("is above on stderr"), "{quiet}");
}
