//! A run's failure and parameters in the saved header; the repro line built
//! from them; and re-running a saved seed compared with the saved file
//! ("still fails the same way", "no longer fails; diverges from the saved
//! run at call N", "fails differently").

#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::path::Path;

use rehearse::{DivergenceKind, Failure, Header, Recorder, RerunOutcome, RunFailure, Sim, Sweep, Tape, Trace};

fn header_of(line: &str) -> Result<Header, String> {
    Trace::parse(&format!("{line}\n"))
        .map(|t| t.header().clone())
        .map_err(|e| e.to_string())
}

#[test]
fn params_and_failure_round_trip_through_the_header() {
    let mut h = Header::new();
    h.seed = Some(12);
    h.params = BTreeMap::from([
        ("bug".to_string(), "lost-sync".to_string()),
        ("nodes".to_string(), "3".to_string()),
    ]);
    h.failure = Some(RunFailure {
        kind: "two leaders".into(),
        message: "two leaders: \"n1\" and n2 in term 4\nsecond line".into(),
    });
    let line = h.to_line();
    assert!(
        line.ends_with(
            r#"params: {"bug": "lost-sync", "nodes": "3"}, failure: (kind: "two leaders", message: "two leaders: \"n1\" and n2 in term 4\nsecond line"))"#
        ),
        "{line}"
    );
    assert_eq!(header_of(&line).unwrap(), h);
    // Both are optional: a header without them reads as before.
    let plain = header_of("(rehearse: 1, seed: 3)").unwrap();
    assert!(plain.params.is_empty() && plain.failure.is_none());
    // Hand-written forms: numbers as parameter values, `Some(...)` around
    // the failure, fields the reader does not know inside it.
    let h = header_of(
        r#"(rehearse: 1, params: {"nodes": 3, "fast": true}, failure: Some((kind: "k", message: "m", at: 7)))"#,
    )
    .unwrap();
    assert_eq!(h.params["nodes"], "3");
    assert_eq!(h.params["fast"], "true");
    assert_eq!(
        h.failure,
        Some(RunFailure {
            kind: "k".into(),
            message: "m".into()
        })
    );
}

#[test]
fn bad_params_and_failures_are_errors_naming_the_field() {
    for (line, expected) in [
        (
            r#"(rehearse: 1, params: ["bug"])"#,
            "header field `params` must be a map",
        ),
        (
            r#"(rehearse: 1, params: {1: "x"})"#,
            "header field `params` must map strings to strings, found the key `1`",
        ),
        (
            r#"(rehearse: 1, params: {"bug": ["a"]})"#,
            "found `[\"a\"]` for \"bug\"",
        ),
        (
            r#"(rehearse: 1, failure: "boom")"#,
            "header field `failure` must be `(kind: \"...\", message: \"...\")`",
        ),
        (
            r#"(rehearse: 1, failure: (kind: 3, message: "m"))"#,
            "header field `failure.kind` must be a string, found `3`",
        ),
        (
            r#"(rehearse: 1, failure: (kind: "k"))"#,
            "header field `failure` has no `message`",
        ),
        (
            r#"(rehearse: 1, failure: (message: "m"))"#,
            "header field `failure` has no `kind`",
        ),
    ] {
        let err = header_of(line).unwrap_err();
        assert!(err.contains(expected), "{line}: {err}");
        assert!(err.starts_with("<memory>:1"), "the error names the line: {err}");
    }
}

#[test]
fn sim_params_reach_every_tape_of_the_run() {
    let sim = Sim::new(5);
    let early = sim.tape_named("n1");
    sim.set_param("bug", "lost-sync");
    sim.set_param("nodes", 3);
    let late = sim.tape_named("n2");
    sim.set_param("nodes", 5); // set again: replaced
    assert_eq!(sim.param("bug").as_deref(), Some("lost-sync"));
    assert_eq!(sim.param("missing"), None);
    let expected = BTreeMap::from([
        ("bug".to_string(), "lost-sync".to_string()),
        ("nodes".to_string(), "5".to_string()),
    ]);
    assert_eq!(sim.params(), expected);
    for tape in [sim.tape(), early, late] {
        let trace = Trace::parse(&tape.contents()).unwrap();
        assert_eq!(trace.header().params, expected, "{}", tape.contents());
    }
}

#[test]
fn only_memory_tape_headers_change_after_creation() {
    let tape = Tape::memory();
    tape.set_header_param("k", "v").unwrap();
    tape.set_failure(Some(RunFailure {
        kind: "k".into(),
        message: "m".into(),
    }))
    .unwrap();
    let h = Trace::parse(&tape.contents()).unwrap().header().clone();
    assert_eq!(h.params["k"], "v");
    assert_eq!(h.failure.unwrap().message, "m");
    tape.set_failure(None).unwrap();
    assert_eq!(tape.header().unwrap().failure, None);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.ron");
    let file = Tape::options().param("nodes", "3").create(&path).unwrap();
    let err = file.set_header_param("k", "v").unwrap_err().to_string();
    assert!(err.contains("header of a file tape") && err.contains("f.ron"), "{err}");
    assert!(file.header().is_none());
    file.finish().unwrap();
    assert_eq!(Trace::read(&path).unwrap().header().params["nodes"], "3");
    // A disabled tape records nothing and ignores it.
    Tape::disabled().set_header_param("k", "v").unwrap();
}

// ------------------------------------------------------------ sweeps

/// A log that appends entries and reads them back.
#[rehearse::world]
pub trait Log {
    fn append(&mut self, entry: u64) -> u64;
    fn read(&self, index: u64) -> Option<u64>;
}

#[derive(Default)]
struct SimLog(Vec<u64>);

impl Log for SimLog {
    fn append(&mut self, entry: u64) -> u64 {
        self.0.push(entry);
        self.0.len() as u64
    }
    fn read(&self, index: u64) -> Option<u64> {
        self.0.get(index as usize).copied()
    }
}

/// Appends 30 entries, reading each back. The planted bugs (the sweep's
/// `bug` parameter): `twice` sometimes appends an entry twice, so the next
/// read finds the wrong entry; `skip` sometimes drops one. Whether "sometimes"
/// happens is drawn whatever the parameter, so one seed makes the same
/// choices with the bug on or off. Every append is mirrored on the named
/// tape `audit`.
fn workload(sim: &mut Sim) -> Result<(), Failure> {
    let bug = sim.param("bug").unwrap_or_default();
    sim.set_param("entries", 30);
    let mut log = Recorder::new(SimLog::default(), sim.tape());
    let mut audit = Recorder::new(SimLog::default(), sim.tape_named("audit"));
    for i in 0..30u64 {
        let entry = sim.below(1000);
        let glitch = sim.chance(0.05);
        if !(bug == "skip" && glitch) {
            log.append(entry);
        }
        audit.append(entry);
        if bug == "twice" && glitch {
            log.append(entry);
        }
        match log.read(i) {
            Some(e) if e == entry => {}
            Some(e) => {
                return Err(Failure::new(format!(
                    "log order: index {i} holds {e}, expected {entry}"
                )));
            }
            None => return Err(Failure::new(format!("log lost: index {i} is empty"))),
        }
    }
    Ok(())
}

fn sweep(dir: &Path, bug: &str) -> Sweep {
    Sweep::new("log")
        .seeds(0..200)
        .out_dir(dir)
        .param("bug", bug)
        .shrink_limit(1)
        .quiet()
}

/// The index of the duplicated append in a saved `twice` run: where the
/// fixed run goes another way.
fn duplicated_append(trace: &Trace) -> usize {
    let calls = trace.calls();
    (1..calls.len())
        .find(|&k| calls[k].name == "Log::append" && calls[k - 1].name == "Log::append")
        .expect("the failing run appended twice")
}

#[test]
fn saved_failures_carry_their_failure_and_params_in_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let report = sweep(dir.path(), "twice").run(workload);
    assert!(report.failed_runs > 0, "the planted bug is found");
    let f = &report.failures[0];
    let expected_params = BTreeMap::from([
        ("bug".to_string(), "twice".to_string()),
        ("entries".to_string(), "30".to_string()),
    ]);
    let shrunk = f.shrunk.as_ref().expect("the first failure is shrunk");
    let shrunk_audit = dir.path().join(format!("log/seed-{}.shrunk.audit.ron", f.seed));
    assert_eq!(f.named_traces.len(), 1);
    for (path, message) in [
        (&f.trace, &f.message),
        (&f.named_traces[0], &f.message),
        (shrunk, f.shrunk_message.as_ref().unwrap()),
        (&shrunk_audit, f.shrunk_message.as_ref().unwrap()),
    ] {
        let h = Trace::read(path).unwrap().header().clone();
        assert_eq!(h.params, expected_params, "{}", path.display());
        let failure = h.failure.unwrap_or_else(|| panic!("{} has no failure", path.display()));
        assert_eq!(failure.kind, "log order");
        assert_eq!(&failure.message, message);
    }
    // Without a command, the guessed one, with every parameter after it.
    assert_eq!(
        f.repro,
        format!(
            "REHEARSE_SEED={} cargo test -- saved_failures_carry_their_failure_and_params_in_every_file --exact  # params: bug=twice entries=30",
            f.seed
        )
    );
}

#[test]
fn the_repro_line_is_filled_from_the_run_and_a_bad_template_stops_the_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let report = sweep(dir.path(), "twice")
        .command("cargo run --example log -- --bug {bug} --seeds 1")
        .shrink(false)
        .run(workload);
    let f = &report.failures[0];
    assert_eq!(
        f.repro,
        format!(
            "REHEARSE_SEED={} cargo run --example log -- --bug twice --seeds 1  # params: entries=30",
            f.seed
        )
    );
    // A placeholder naming no declared parameter: nothing runs.
    let ran = std::sync::atomic::AtomicBool::new(false);
    let report = sweep(dir.path(), "twice")
        .command("cargo run --example log -- --bug {bgu}")
        .run(|sim| {
            ran.store(true, std::sync::atomic::Ordering::Relaxed);
            workload(sim)
        });
    assert!(!ran.into_inner());
    assert_eq!((report.runs, report.failed_runs), (0, 1));
    assert_eq!(report.failures[0].kind, "configuration");
    assert!(
        report.failures[0].message.contains("{bgu}") && report.failures[0].message.contains("it declares bug"),
        "{}",
        report.failures[0].message
    );
}

#[test]
fn a_fixed_bug_rerun_reports_where_it_diverges_and_an_unchanged_one_still_fails() {
    let dir = tempfile::tempdir().unwrap();
    let found = sweep(dir.path(), "twice").shrink(false).run(workload);
    let f = &found.failures[0];
    let saved = Trace::read(&f.trace).unwrap();
    let audit = Trace::read(&f.named_traces[0]).unwrap();
    let all_calls = saved.calls().len() + audit.calls().len();

    // Unchanged: the same failure, every call the same, main and audit tape.
    let same = sweep(dir.path(), "twice").rerun(&f.trace).run(workload);
    let rerun = same.rerun.as_ref().unwrap();
    assert_eq!(rerun.outcome, RerunOutcome::StillFails);
    assert!(rerun.divergence.is_none() && rerun.changed_params.is_empty());
    assert_eq!(
        (rerun.identical, rerun.saved_calls, rerun.calls),
        (all_calls, all_calls, all_calls)
    );
    assert_eq!(
        rerun.verdict(),
        format!("still fails the same way (kind \"log order\"), {all_calls} calls identical to the saved run")
    );
    assert_eq!(same.failed_runs, 1, "a run that still fails fails the report");
    let text = std::panic::catch_unwind(|| same.assert_ok()).unwrap_err();
    let text = text.downcast_ref::<String>().unwrap();
    assert!(text.contains("still fails the same way"), "{text}");

    // "Fixed" (the flag off): passes, and says where and how it went
    // another way, and that a parameter changed.
    let fixed = sweep(dir.path(), "off").rerun(&f.trace).run(workload);
    assert_eq!(fixed.failed_runs, 0);
    fixed.assert_ok();
    let rerun = fixed.rerun.as_ref().unwrap();
    assert_eq!(rerun.outcome, RerunOutcome::NoLongerFails);
    let n = duplicated_append(&saved);
    let d = rerun.divergence.as_ref().unwrap();
    assert_eq!((d.index, d.kind), (n, DivergenceKind::WrongCall));
    assert_eq!(d.path.as_deref(), Some(f.trace.as_path()));
    assert!(
        rerun.verdict().starts_with(&format!(
            "no longer fails; diverges from the saved run at call {n} ({}:{}): a different call than recorded",
            f.trace.display(),
            n + 2
        )),
        "{}",
        rerun.verdict()
    );
    assert_eq!(
        rerun.changed_params,
        [("bug".to_string(), Some("twice".to_string()), Some("off".to_string()))]
    );
    let text = rerun.to_string();
    assert!(
        text.contains("parameters differ from the saved run: bug: \"twice\" -> \"off\""),
        "{text}"
    );
    assert!(text.contains("  expected: Log::append("), "{text}");
    assert!(text.contains("  actual:   Log::read("), "{text}");
    assert!(
        text.contains("the saved run called `Log::append` here, the new run `Log::read`"),
        "{text}"
    );
    assert!(
        fixed.to_string().contains("no longer fails; diverges"),
        "the report says it too"
    );

    // Another bug: fails differently, named with both kinds.
    let other = sweep(dir.path(), "skip").rerun(&f.trace).run(workload);
    let rerun = other.rerun.as_ref().unwrap();
    assert_eq!(rerun.outcome, RerunOutcome::FailsDifferently);
    assert!(
        rerun
            .verdict()
            .starts_with("fails differently: kind \"log lost\" (log lost: index ")
            && rerun
                .verdict()
                .contains("where the saved run failed with kind \"log order\"; diverges from the saved run at call"),
        "{}",
        rerun.verdict()
    );
    assert_eq!(other.failed_runs, 1);
}

#[test]
fn a_shrunk_scenario_reruns_its_choices_and_a_named_tape_alone() {
    let dir = tempfile::tempdir().unwrap();
    let found = sweep(dir.path(), "twice").run(workload);
    let f = &found.failures[0];
    let shrunk = f.shrunk.as_ref().unwrap();
    let rerun = sweep(dir.path(), "twice").rerun(shrunk).run(workload).rerun.unwrap();
    assert_eq!(rerun.outcome, RerunOutcome::StillFails, "{rerun}");
    assert!(rerun.divergence.is_none(), "{rerun}");
    // The audit tape's file alone compares the audit tape only.
    let rerun = sweep(dir.path(), "off")
        .rerun(&f.named_traces[0])
        .run(workload)
        .rerun
        .unwrap();
    assert_eq!(rerun.outcome, RerunOutcome::NoLongerFails);
    let audit = Trace::read(&f.named_traces[0]).unwrap();
    assert_eq!(rerun.saved_calls, audit.calls().len());
    // The audit tape holds the same appends either way; the fixed run just
    // goes on past the failure.
    assert_eq!(
        rerun.divergence.as_ref().unwrap().kind,
        DivergenceKind::ExtraCall,
        "{rerun}"
    );
    assert_eq!(rerun.identical, audit.calls().len());
}

#[test]
fn a_file_without_a_failure_compares_calls_only() {
    // What an older rehearse saved: no failure in the header.
    let dir = tempfile::tempdir().unwrap();
    let found = sweep(dir.path(), "twice").shrink(false).run(workload);
    let f = &found.failures[0];
    let text = std::fs::read_to_string(&f.trace).unwrap();
    let (header, calls) = text.split_once('\n').unwrap();
    let mut h = Trace::parse(&format!("{header}\n")).unwrap().header().clone();
    h.failure = None;
    let old = dir.path().join("old.ron");
    std::fs::write(&old, format!("{}\n{calls}", h.to_line())).unwrap();
    let rerun = sweep(dir.path(), "twice").rerun(&old).run(workload).rerun.unwrap();
    assert_eq!(rerun.outcome, RerunOutcome::Fails);
    assert!(
        rerun
            .verdict()
            .contains("the saved file does not record how its run failed, so only calls are compared"),
        "{rerun}"
    );
}

/// Child half of `rerun_from_the_environment_answers_past_the_capture`: a
/// quiet sweep whose out dir and `bug` come from the environment.
#[test]
fn rerun_child() {
    let Some(dir) = std::env::var_os("REHEARSE_TEST_RERUN_DIR") else {
        return;
    };
    let bug = std::env::var("REHEARSE_TEST_BUG").unwrap();
    let report = sweep(Path::new(&dir), &bug).shrink(false).run(workload);
    std::fs::write(
        Path::new(&dir).join("child-report.txt"),
        format!("{} failed", report.failed_runs),
    )
    .unwrap();
}

/// Runs `rerun_child` (its output captured by the test harness, as under
/// `cargo test`) with `vars`; its stderr and the failed count.
fn child(dir: &Path, bug: &str, vars: &[(&str, String)]) -> (String, String) {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["rerun_child", "--exact", "--test-threads=1"])
        .env("REHEARSE_TEST_RERUN_DIR", dir)
        .env("REHEARSE_TEST_BUG", bug);
    for (k, _) in std::env::vars() {
        if k.starts_with("REHEARSE_") && !k.starts_with("REHEARSE_TEST_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let report = std::fs::read_to_string(dir.join("child-report.txt")).unwrap();
    (String::from_utf8_lossy(&out.stderr).into_owned(), report)
}

#[test]
fn rerun_from_the_environment_answers_past_the_capture() {
    let dir = tempfile::tempdir().unwrap();
    let found = sweep(dir.path(), "twice").shrink(false).run(workload);
    let f = &found.failures[0];
    let n = duplicated_append(&Trace::read(&f.trace).unwrap());
    let path = f.trace.display().to_string();

    // REHEARSE_REPLAY with the bug "fixed": passes, and says so on stderr
    // although the test passed and the sweep is quiet.
    let (stderr, report) = child(dir.path(), "off", &[("REHEARSE_REPLAY", path.clone())]);
    assert_eq!(report, "0 failed");
    assert!(
        stderr.contains(&format!(
            "re-run of seed {} against {path}: no longer fails; diverges from the saved run at call {n} (",
            f.seed
        )),
        "{stderr}"
    );
    assert!(stderr.contains("bug: \"twice\" -> \"off\""), "{stderr}");

    // REHEARSE_SEED finds the sweep's seed-N.ron and compares with it.
    let (stderr, report) = child(dir.path(), "twice", &[("REHEARSE_SEED", f.seed.to_string())]);
    assert_eq!(report, "1 failed");
    assert!(
        stderr.contains(&format!(
            "re-run of seed {} against {path}: still fails the same way (kind \"log order\"), ",
            f.seed
        )) && stderr.contains(" calls identical to the saved run"),
        "{stderr}"
    );
    let (stderr, _) = child(dir.path(), "off", &[("REHEARSE_SEED", f.seed.to_string())]);
    assert!(
        stderr.contains(&format!("no longer fails; diverges from the saved run at call {n} (")),
        "{stderr}"
    );

    // A seed the sweep never saved: nothing to compare with, said so.
    let (stderr, report) = child(dir.path(), "off", &[("REHEARSE_SEED", "100000".into())]);
    assert_eq!(report, "0 failed");
    assert!(
        stderr.contains("nothing to compare with (this sweep saved no ")
            && stderr.contains("seed-100000.ron); the seed ran afresh and passes"),
        "{stderr}"
    );
}

#[test]
fn a_replayer_divergence_advises_by_where_the_file_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let found = sweep(dir.path(), "twice").shrink(false).run(workload);
    let f = &found.failures[0];
    // A sweep's scenario: re-run it in the simulation.
    let replay = rehearse::Replayer::open(&f.trace).unwrap();
    let d = replay.finish().unwrap_err();
    assert!(
        d.advice
            .starts_with(&format!("this scenario was saved by a sweep (seed {})", f.seed))
            && d.advice.contains(&format!("REHEARSE_REPLAY={}", f.trace.display())),
        "{}",
        d.advice
    );
    assert!(d.to_string().ends_with(&format!("  {}", d.advice)), "{d}");
    // A recording of a real run (no seed): re-record it.
    let path = dir.path().join("real.ron");
    std::fs::write(
        &path,
        "(rehearse: 1)\n(i: 0, call: \"Log::read\", in: (0), out: None)\n",
    )
    .unwrap();
    let d = rehearse::Replayer::open(&path).unwrap().finish().unwrap_err();
    assert_eq!(
        d.advice,
        "if the new behaviour is intended, re-record the scenario (REHEARSE=record) and review it"
    );
}
