//! `arbiter replay`: exit codes and messages for a good scenario, a
//! diverging one, and an unreadable one.

use std::process::Command;

fn arbiter(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_arbiter")).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scenario(name: &str) -> String {
    format!("{}/../../scenarios/{name}.ron", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn replaying_a_scenario_prints_the_decisions_and_final_state() {
    let (code, out, err) = arbiter(&["replay", &scenario("failover")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Promote { addr: \"10.0.0.3:6379\", epoch: 100 }"), "{out}");
    assert!(out.contains("final state: Leading { epoch: 100 }"), "{out}");
    assert!(out.contains("group record: primary r3 (epoch 100)"), "{out}");
}

#[test]
fn a_diverging_scenario_exits_1_with_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("edited.ron");
    let text = std::fs::read_to_string(scenario("paused"))
        .unwrap()
        .replacen("paused: true", "paused: false", 1);
    std::fs::write(&path, text).unwrap();
    let (code, _, err) = arbiter(&["replay", path.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("replay diverged at call"), "{err}");
    assert!(err.contains("edited.ron:"), "{err}");
}

#[test]
fn an_unreadable_scenario_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("torn.ron");
    std::fs::write(
        &path,
        "(rehearse: 1)\n(i: 0, call: \"Host::now\", in: (), out: 0)\n(i: 1, call: \"Ho",
    )
    .unwrap();
    let (code, _, err) = arbiter(&["replay", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("torn.ron:3: truncated after call 1"), "{err}");
    let (code, _, err) = arbiter(&["replay", "/no/such.ron"]);
    assert_eq!(code, 2);
    assert!(err.contains("/no/such.ron"), "{err}");
}

/// `arbiter simulate --shard I/N --report FILE` on two shards, merged, gives
/// what one unsharded run of the same seeds gives: the same failing seeds,
/// fault statistics and totals (failovers, writes).
#[test]
fn simulate_shards_merge_into_the_unsharded_report() {
    let dir = tempfile::tempdir().unwrap();
    let run = |shard: Option<&str>, file: &str| {
        let report = dir.path().join(file);
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_arbiter"));
        cmd.args([
            "simulate",
            "--seeds",
            "24",
            "--no-record",
            "--no-shrink",
            "--threads",
            "2",
        ])
        .arg("--out")
        .arg(dir.path().join("out"))
        .arg("--report")
        .arg(&report)
        .env_remove("REHEARSE_SHARD")
        .env_remove("REHEARSE_REPORT")
        .env_remove("REHEARSE_SEEDS");
        if let Some(shard) = shard {
            cmd.args(["--shard", shard]);
        }
        let out = cmd.output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some(shard) = shard {
            let (i, n) = shard.split_once('/').unwrap();
            assert!(stdout.contains(&format!("(shard {i} of {n})")), "{stdout}");
        }
        assert!(stdout.contains("machine moves taken: "), "{stdout}");
        assert!(
            stdout.contains("situations explored (sometimes-assertions): "),
            "{stdout}"
        );
        (
            report.display().to_string(),
            rehearse::SweepSummary::read(&report).unwrap(),
        )
    };
    let (_, whole) = run(None, "whole.json");
    let merged = rehearse::SweepSummary::merge(&[run(Some("1/2"), "a.json"), run(Some("2/2"), "b.json")]).unwrap();
    assert_eq!(merged.runs, 24);
    assert!(whole.counters["failovers"] > 0, "{:?}", whole.counters);
    assert!(!whole.faults.is_empty());
    assert_eq!(merged.failed, whole.failed);
    assert_eq!(merged.counters, whole.counters);
    assert_eq!(merged.faults, whole.faults);
    // The situations explored (sometimes-assertions), every one listed.
    assert_eq!(merged.assertions, whole.assertions);
    assert_eq!(whole.assertions.len(), 18, "{:?}", whole.assertions.keys());
    // The machine's moves are counters too: every listed one, taken or not.
    assert!(
        whole.counters["move Init --Start--> Identifying"] > 0,
        "{:?}",
        whole.counters
    );
    assert_eq!(
        whole.counters.keys().filter(|k| k.starts_with("move ")).count(),
        arbiter::machine::TRANSITIONS.len()
    );
    // A bad shard is refused with the flag's own message.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["simulate", "--shard", "3/2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shard 3/2 is out of range"));
}

/// `arbiter simulate --stop-after N --report FILE`: `(threads, extra
/// arguments)` run over `seeds` seeds; the report read back.
fn simulate_stopping(dir: &std::path::Path, file: &str, seeds: &str, args: &[&str]) -> rehearse::SweepSummary {
    let report = dir.join(file);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["simulate", "--seeds", seeds, "--no-record", "--no-shrink"])
        .args(args)
        .arg("--out")
        .arg(dir.join("out"))
        .arg("--report")
        .arg(&report)
        .env_remove("REHEARSE_SHARD")
        .env_remove("REHEARSE_REPORT")
        .env_remove("REHEARSE_SEEDS")
        .env_remove("REHEARSE_STOP_AFTER")
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    rehearse::SweepSummary::read(&report).unwrap()
}

/// `arbiter simulate --stop-after N` reaches the sweep: a sweep with fewer
/// failures than N runs every seed, and 0 is refused by the flag.
#[test]
fn simulate_stop_after_is_passed_to_the_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let whole = simulate_stopping(dir.path(), "whole.json", "12", &["--threads", "2"]);
    let n = (whole.failed_runs + 1).to_string();
    let stopping = simulate_stopping(dir.path(), "stop.json", "12", &["--threads", "2", "--stop-after", &n]);
    assert_eq!((stopping.runs, stopping.stopped_after), (12, None));
    assert_eq!(stopping.counters, whole.counters);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["simulate", "--stop-after", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--stop-after"));
}

/// With a planted bug, `--stop-after 2` ends at the second failing seed,
/// with the same report on one thread and on three.
#[cfg(feature = "planted-bugs")]
#[test]
fn simulate_stop_after_stops_at_the_same_seed_on_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let args = |threads: &'static str| {
        [
            "--plant",
            "promote-most-lagging",
            "--stop-after",
            "2",
            "--threads",
            threads,
        ]
    };
    let one = simulate_stopping(dir.path(), "one.json", "2000", &args("1"));
    let three = simulate_stopping(dir.path(), "three.json", "2000", &args("3"));
    assert_eq!((one.failed_runs, one.stopped_after), (2, Some(2)), "{one}");
    assert!(one.runs < 2000);
    assert_eq!(one.runs, three.runs);
    assert_eq!(one.failed, three.failed);
    assert_eq!(one.faults, three.faults);
    assert_eq!(one.counters, three.counters);
}
