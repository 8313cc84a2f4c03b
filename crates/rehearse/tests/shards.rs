//! A sweep split into shards (`REHEARSE_SHARD=i/n`), each writing its JSON
//! report (`REHEARSE_REPORT`), adds up to one unsharded run of the same
//! seeds: the same failing seeds, fault statistics and counters. The shards
//! run as separate processes, as they would on separate machines.

use std::path::Path;
use std::process::Command;

use rehearse::{Failure, Sim, SummaryError, Sweep, SweepSummary};

/// A run that meets two fault points, counts what it did, and fails in
/// some seeds (a crash followed by an unlucky draw).
fn workload(sim: &mut Sim) -> Result<(), Failure> {
    let mut delivered = 0;
    for _ in 0..20 {
        if sim.fault("net::drop") {
            continue;
        }
        if sim.fault("node::crash") {
            sim.count("crashes", 1);
            rehearse::sometimes!("shards: a crash after 15 deliveries", delivered >= 15);
            if sim.below(3) == 0 {
                return Err(Failure::with_kind("lost", format!("lost {delivered} messages")));
            }
        }
        delivered += 1;
    }
    sim.count("delivered", delivered);
    Ok(())
}

/// The child: one sweep, with the shard and report file from the
/// environment the parent sets.
#[test]
fn shard_child() {
    let Some(dir) = std::env::var_os("REHEARSE_TEST_SHARD_DIR") else {
        return;
    };
    Sweep::new("sharded")
        .seeds(0..400)
        .out_dir(Path::new(&dir).join("out"))
        .shrink(false)
        .save_limit(1000)
        .threads(2)
        .quiet()
        .run(workload);
}

fn run_child(dir: &Path, shard: Option<&str>, report: &Path) {
    run_child_with(dir, shard, report, &[]);
}

fn run_child_with(dir: &Path, shard: Option<&str>, report: &Path, vars: &[(&str, &str)]) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["shard_child", "--exact", "--test-threads=1"])
        .env("REHEARSE_TEST_SHARD_DIR", dir)
        .env("REHEARSE_REPORT", report)
        .env_remove("REHEARSE_SHARD")
        .env_remove("REHEARSE_SEEDS")
        .env_remove("REHEARSE_SEED")
        .env_remove("REHEARSE_STOP_AFTER")
        .envs(vars.iter().copied());
    if let Some(shard) = shard {
        cmd.env("REHEARSE_SHARD", shard);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn four_shards_merged_equal_one_unsharded_run() {
    let dir = tempfile::tempdir().unwrap();
    let whole_file = dir.path().join("whole.json");
    run_child(dir.path(), None, &whole_file);
    let mut parts = Vec::new();
    for i in 1..=4 {
        let file = dir.path().join(format!("shard-{i}.json"));
        run_child(dir.path(), Some(&format!("{i}/4")), &file);
        let part = SweepSummary::read(&file).unwrap();
        assert_eq!((part.shards.clone(), part.shard_count), (vec![i], 4));
        assert!(part.runs == 100, "each shard runs a quarter: {}", part.runs);
        parts.push((file.display().to_string(), part));
    }
    let whole = SweepSummary::read(&whole_file).unwrap();
    let merged = SweepSummary::merge(&parts).unwrap();

    assert!(whole.failed_runs > 0, "the workload fails in some seeds");
    assert!(whole.faults["node::crash"].fired > 0);
    assert_eq!(merged.missing_shards(), Vec::<u64>::new());
    assert_eq!(merged.shards, vec![1, 2, 3, 4]);
    assert_eq!(merged.runs, whole.runs);
    assert_eq!(merged.failed_runs, whole.failed_runs);
    assert_eq!(merged.calls, whole.calls);
    assert_eq!(merged.failed, whole.failed, "the same failing seeds, by seed");
    assert_eq!(merged.faults, whole.faults, "the same fault statistics");
    assert_eq!(merged.counters, whole.counters, "the same counters");
    assert_eq!(merged.assertions, whole.assertions, "the same assertion counts");
    assert!(whole.assertions["shards: a crash after 15 deliveries"].evaluations > 0);
    let seeds = |s: &SweepSummary| s.saved.iter().map(|f| (f.seed, f.kind.clone())).collect::<Vec<_>>();
    assert_eq!(seeds(&merged), seeds(&whole));
    assert_eq!(
        merged.failed.iter().map(|f| f.seed).collect::<Vec<_>>(),
        seeds(&whole).iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        "every failure saved (save_limit 1000)"
    );
    // The text lists five and says how many more were saved (and which).
    assert!(
        merged.saved.len() > 5,
        "the workload saves more than five: {}",
        merged.saved.len()
    );
    let text = merged.to_string();
    let line = format!("- {} more saved beside these (seeds ", merged.saved.len() - 5);
    assert!(text.contains(&line), "{text}");
    assert!(text.contains(&format!("{} saved in all", merged.saved.len())), "{text}");

    // Three of four shards: merged, with the fourth listed as missing.
    let three = SweepSummary::merge(&parts[..3]).unwrap();
    assert_eq!(three.missing_shards(), vec![4]);
    assert!(three.to_string().contains("MISSING shards: 4"), "{three}");
}

#[test]
fn a_merge_says_which_shards_stopped_after_their_failures() {
    let dir = tempfile::tempdir().unwrap();
    let mut parts = Vec::new();
    for i in 1..=3 {
        let file = dir.path().join(format!("shard-{i}.json"));
        // Shard 3 runs every seed; the others stop at their second failure.
        let stop: &[(&str, &str)] = if i == 3 { &[] } else { &[("REHEARSE_STOP_AFTER", "2")] };
        run_child_with(dir.path(), Some(&format!("{i}/3")), &file, stop);
        let part = SweepSummary::read(&file).unwrap();
        if i < 3 {
            assert_eq!((part.failed_runs, part.stopped_after), (2, Some(2)), "{part}");
            assert_eq!(part.stopped_shards, vec![i]);
            assert!(part.runs < 134, "{}", part.runs);
        } else {
            assert_eq!((part.runs, part.stopped_after), (133, None));
        }
        parts.push((file.display().to_string(), part));
    }
    let merged = SweepSummary::merge(&parts).unwrap();
    assert_eq!(
        (merged.stopped_after, merged.stopped_shards.clone()),
        (Some(2), vec![1, 2])
    );
    let text = merged.to_string();
    assert!(
        text.contains("; shards 1, 2 stopped after 2 failures each, as asked: REHEARSE_STOP_AFTER / stop_after)"),
        "{text}"
    );
    assert!(text.contains("the later seeds of shards 1, 2 were not run"), "{text}");
}

#[test]
fn merging_refuses_files_that_are_not_shards_of_one_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let report = |name: &str, shard: u64, seeds: u64| {
        Sweep::new(name)
            .seeds(0..seeds)
            .shard(shard, 2)
            .out_dir(dir.path())
            .shrink(false)
            .quiet()
            .run(workload)
            .summary()
    };
    let a = ("a.json".to_string(), report("one", 1, 40));
    let twice = SweepSummary::merge(&[a.clone(), ("b.json".to_string(), report("one", 1, 40))]).unwrap_err();
    assert_eq!(twice.to_string(), "shard 1 of 2 is in both a.json and b.json");
    let other = SweepSummary::merge(&[a.clone(), ("c.json".to_string(), report("two", 2, 40))]).unwrap_err();
    assert_eq!(
        other.to_string(),
        "c.json: sweep `two`, but a.json has sweep `one`: not shards of one sweep"
    );
    let seeds = SweepSummary::merge(&[a, ("d.json".to_string(), report("one", 2, 50))]).unwrap_err();
    assert!(
        seeds
            .to_string()
            .starts_with("d.json: seeds 0..50, but a.json has seeds 0..40"),
        "{seeds}"
    );

    // Files that are not reports say which file and why.
    let file = dir.path().join("x.json");
    std::fs::write(&file, "{\"runs\": 3}").unwrap();
    let err = SweepSummary::read(&file).unwrap_err();
    assert!(matches!(err, SummaryError::Invalid { .. }));
    assert!(err.to_string().contains("x.json: not a sweep report"), "{err}");
    std::fs::write(&file, "{\"format\": \"rehearse sweep report\", \"version\": 9}").unwrap();
    let err = SweepSummary::read(&file).unwrap_err();
    assert!(
        err.to_string()
            .contains("report version 9; this rehearse reads version 1"),
        "{err}"
    );
    std::fs::write(&file, "not json").unwrap();
    assert!(SweepSummary::read(&file).unwrap_err().to_string().contains("not JSON"));
    let missing = SweepSummary::read(&dir.path().join("none.json")).unwrap_err();
    assert!(missing.to_string().contains("none.json"), "{missing}");
}

#[test]
fn shards_split_the_regressions_file_too() {
    let dir = tempfile::tempdir().unwrap();
    let regressions = dir.path().join("regressions.txt");
    std::fs::write(&regressions, "seed 1000\nseed 1001\nseed 1002\n").unwrap();
    let ran = |shard: u64| {
        let seeds = std::sync::Mutex::new(Vec::new());
        Sweep::new("regress")
            .seeds(0..4)
            .shard(shard, 2)
            .regressions(&regressions)
            .out_dir(dir.path())
            .quiet()
            .run(|sim| {
                seeds.lock().unwrap().push(sim.seed());
                Ok(())
            });
        let mut seeds = seeds.into_inner().unwrap();
        seeds.sort_unstable();
        seeds
    };
    assert_eq!(ran(1), vec![0, 2, 1000, 1002]);
    assert_eq!(ran(2), vec![1, 3, 1001]);
}
