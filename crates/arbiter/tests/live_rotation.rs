//! A live run's recording rotated by size (`record.max_bytes`,
//! `record.keep`), from `arbiter run` processes: the newest files are kept,
//! each replays on its own with `arbiter replay` (the later ones from the
//! snapshot they start with), and each file's snapshot is the machine the
//! replay of the file before it ends with, so the files together replay
//! the run without a gap. A restarted process moves the file the earlier
//! one left aside. With real servers, a failover made across rotations is
//! in the replayed decisions.

use arbiter_testkit::servers as support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use arbiter::Driver;
use arbiter::machine::Snapshot;
use arbiter::recording::SNAPSHOT_CALL;
use rehearse::{Replayer, Rotation, Trace};

fn spawn(config: &Path) -> support::Guard {
    support::Guard::new(
        Command::new(env!("CARGO_BIN_EXE_arbiter"))
            .args(["run", "--config"])
            .arg(config)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

/// Stops `child` with SIGTERM; its log, once it stopped cleanly.
fn stop(child: support::Guard) -> String {
    let child = child.take();
    support::signal(&child, "-TERM");
    let (code, log) = support::wait_exit(child);
    assert_eq!(code, Some(0), "{log}");
    log
}

/// `arbiter replay FILE`: its output, once it replayed (exit code 0).
fn arbiter_replay(path: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .arg("replay")
        .arg(path)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{}: {text}", path.display());
    text
}

/// A rotated file as replayed: its header's part, the snapshot it starts
/// with (none for a first file), the machine its replay ends with.
struct Replayed {
    part: u64,
    starts: Option<Snapshot>,
    ends: Snapshot,
}

fn replay_file(path: &Path) -> Replayed {
    let trace = Trace::read(path).unwrap_or_else(|e| panic!("{e}"));
    let part = trace.header().meta["part"].parse().unwrap();
    let starts = (trace.calls().first().map(|c| c.name.as_str()) == Some(SNAPSHOT_CALL)).then(|| {
        Replayer::from_trace(trace.clone())
            .try_replay::<Snapshot>(SNAPSHOT_CALL, &[])
            .unwrap()
    });
    let replayer = Replayer::from_trace(trace);
    let mut driver = Driver::for_recording(replayer.clone()).unwrap();
    driver.run_to_end_of_recording(1_000_000).unwrap();
    replayer.finish().unwrap();
    Replayed {
        part,
        starts,
        ends: driver.machine().snapshot(),
    }
}

/// Every file of the rotation replays, with `arbiter replay` and through
/// the library; consecutive parts join without a gap. The files' parts.
fn assert_rotation_replays(rotation: &Rotation) -> Vec<u64> {
    let files = rotation.files();
    let replayed: Vec<Replayed> = files
        .iter()
        .map(|f| {
            let said = arbiter_replay(f);
            let r = replay_file(f);
            assert_eq!(
                said.contains("resumed in"),
                r.starts.is_some(),
                "{}: {said}",
                f.display()
            );
            assert_eq!(
                r.starts.is_some(),
                r.part > 1,
                "{}: only part 1 starts from Init",
                f.display()
            );
            r
        })
        .collect();
    for (pair, names) in replayed.windows(2).zip(files.windows(2)) {
        if pair[1].part == pair[0].part + 1 {
            assert_eq!(
                pair[1].starts.as_ref(),
                Some(&pair[0].ends),
                "{} starts where {} ends",
                names[1].display(),
                names[0].display()
            );
        }
    }
    replayed.iter().map(|r| r.part).collect()
}

#[test]
fn the_newest_files_are_kept_and_each_replays_from_where_the_one_before_ends() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("arbiter.toml");
    // No server needed: etcd and the nodes are unreachable, and the
    // instance records its retries every 100 ms.
    let (etcd, a, b) = (support::free_port(), support::free_port(), support::free_port());
    std::fs::write(
        &config,
        format!(
            "[etcd]\nendpoints = [\"http://127.0.0.1:{etcd}\"]\n\n[redis]\ntimeout_ms = 100\npoll_timeout_ms = 100\n\n[settings]\ncheck_interval_ms = 100\n\n[[nodes]]\nname = \"r1\"\naddr = \"127.0.0.1:{a}\"\n\n[[nodes]]\nname = \"r2\"\naddr = \"127.0.0.1:{b}\"\n\n[record]\nenabled = true\npath = \"run.ron\"\nmax_bytes = 1500\nkeep = 2\n"
        ),
    )
    .unwrap();
    let rotation = Rotation::new(dir.path().join("run.ron"), 2);

    let first = spawn(&config);
    support::eventually("four rotations", Duration::from_secs(30), || {
        std::fs::read_to_string(rotation.older(2))
            .ok()
            .and_then(|t| Trace::parse(&t).ok())
            .filter(|t| {
                t.header()
                    .meta
                    .get("part")
                    .is_some_and(|p| p.parse::<u64>().unwrap_or(0) >= 3)
            })
    });
    let log = stop(first);
    assert!(log.contains("recording rotated"), "{log}");
    assert!(!rotation.older(3).exists(), "keep = 2");
    let parts = assert_rotation_replays(&rotation);
    assert_eq!(parts.len(), 3);
    assert!(parts.windows(2).all(|w| w[1] == w[0] + 1), "{parts:?}");
    for f in rotation.files() {
        // Rotated at the first tick past max_bytes: one tick's calls more at
        // most (about 700 bytes here).
        let size = std::fs::metadata(&f).unwrap().len();
        assert!(size < 1500 + 1500, "{}: {size} bytes", f.display());
    }

    // A restart moves the file the earlier process left to run.1.ron and
    // starts again at part 1.
    let last = *parts.last().unwrap();
    let second = spawn(&config);
    support::eventually("the new process records", Duration::from_secs(20), || {
        Trace::read(rotation.path())
            .ok()
            .filter(|t| t.header().meta.get("part").map(String::as_str) == Some("1"))
    });
    let log = stop(second);
    assert!(log.contains("the earlier run's recording was moved aside"), "{log}");
    let parts = assert_rotation_replays(&rotation);
    assert_eq!(parts.len(), 3);
    assert!(
        parts.contains(&last),
        "{parts:?}: the earlier process's last part is kept"
    );
    assert_eq!(parts.last(), Some(&1), "{parts:?}");
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn a_failover_recorded_across_rotations_is_in_the_files_replays() {
    let etcd = support::etcd();
    let [r1, r2, r3] = support::three_nodes();
    let dir = tempfile::tempdir().unwrap();
    let record = "\n[record]\nenabled = true\npath = \"arbiter.ron\"\nmax_bytes = 6000\nkeep = 1000\n";
    let config = support::write_config(dir.path(), &etcd, "arbiter/rotation", 5, &[&r1, &r2, &r3], record);
    let rotation = Rotation::new(dir.path().join("arbiter.ron"), 1000);
    let client = arbiter::live::etcd::Etcd::new(vec![etcd.addr.clone()], Duration::from_secs(1));
    let primary = || -> Option<String> {
        let kv = client.get("arbiter/rotation/record", false).ok()??;
        let record: arbiter::types::GroupRecord = serde_json::from_str(&kv.value).ok()?;
        Some(record.primary)
    };

    let arbiter = spawn(&config);
    support::eventually("the record names r1", Duration::from_secs(20), || {
        primary().filter(|p| p == "r1")
    });
    support::eventually("two rotations", Duration::from_secs(30), || {
        rotation.older(2).exists().then_some(())
    });
    drop(r1);
    let promoted = support::eventually("a replica is promoted", Duration::from_secs(20), || {
        primary().filter(|p| p != "r1")
    });
    // A few more checks after the failover, across at least one more cut.
    let files_then = rotation.files().len();
    support::eventually("one more rotation", Duration::from_secs(30), || {
        (rotation.files().len() > files_then).then_some(())
    });
    stop(arbiter);

    let files: Vec<PathBuf> = rotation.files();
    let parts = assert_rotation_replays(&rotation);
    assert_eq!(parts, (1..=files.len() as u64).collect::<Vec<_>>(), "every part kept");
    let promote = files
        .iter()
        .map(|f| arbiter_replay(f))
        .filter(|said| said.contains("Promote {"))
        .count();
    assert_eq!(promote, 1, "the promotion of {promoted} is replayed once, in one file");
    let last = arbiter_replay(files.last().unwrap());
    assert!(last.contains(&format!("group record: primary {promoted}")), "{last}");
    eprintln!("{} files, the promotion of {promoted} replayed", files.len());
}
