//! Recording files of several `arbiter run` processes on one host, started
//! with one configuration: a file another running process records to is
//! refused (it would be truncated and its calls interleaved), and
//! `{instance}` in `record.path` gives each process its own file, each a
//! valid scenario (what `rehearse check` checks: `Trace::read`) that
//! `arbiter replay` replays.

use arbiter_testkit::servers as support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

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

/// Waits until `path` holds at least its header line.
fn wait_recording(path: &Path) {
    support::eventually("the recording starts", Duration::from_secs(20), || {
        std::fs::metadata(path).ok().filter(|m| m.len() > 0)
    });
}

/// Stops `child` with SIGTERM and checks that it stopped cleanly.
fn stop(child: support::Guard) {
    let child = child.take();
    support::signal(&child, "-TERM");
    let (code, log) = support::wait_exit(child);
    assert_eq!(code, Some(0), "{log}");
}

/// `path` is a complete, valid scenario that replays.
fn assert_valid(path: &Path) -> usize {
    let trace = rehearse::Trace::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(!trace.calls().is_empty(), "{}: no calls", path.display());
    let replay = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .arg("replay")
        .arg(path)
        .output()
        .unwrap();
    assert_eq!(
        replay.status.code(),
        Some(0),
        "{}: {}{}",
        path.display(),
        String::from_utf8_lossy(&replay.stdout),
        String::from_utf8_lossy(&replay.stderr)
    );
    trace.calls().len()
}

#[test]
fn a_second_process_on_the_same_recording_file_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("arbiter.toml");
    // No server needed: etcd and the nodes are unreachable, and the
    // instance records its retries.
    let (etcd, a, b) = (support::free_port(), support::free_port(), support::free_port());
    std::fs::write(
        &config,
        format!(
            "[etcd]\nendpoints = [\"http://127.0.0.1:{etcd}\"]\n\n[redis]\ntimeout_ms = 100\npoll_timeout_ms = 100\n\n[settings]\ncheck_interval_ms = 100\n\n[[nodes]]\nname = \"r1\"\naddr = \"127.0.0.1:{a}\"\n\n[[nodes]]\nname = \"r2\"\naddr = \"127.0.0.1:{b}\"\n\n[record]\nenabled = true\npath = \"run.ron\"\n"
        ),
    )
    .unwrap();
    let recording = dir.path().join("run.ron");
    let first = spawn(&config);
    wait_recording(&recording);
    std::thread::sleep(Duration::from_millis(300));
    let before = std::fs::read_to_string(&recording).unwrap();

    let second = spawn(&config);
    let (code, log) = support::wait_exit(second.take());
    assert_eq!(code, Some(2), "{log}");
    assert!(
        log.contains(&format!(
            "record.path: {} is being recorded by another running process",
            recording.display()
        )),
        "{log}"
    );
    assert!(log.contains("{instance}"), "the error says what to do: {log}");
    // The first one's file was not truncated.
    let after = std::fs::read_to_string(&recording).unwrap();
    assert!(after.starts_with(&before), "the recording was rewritten");

    stop(first);
    assert_valid(&recording);
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn with_the_instance_placeholder_each_process_records_its_own_valid_file() {
    let etcd = support::etcd();
    let [r1, r2, r3] = support::three_nodes();
    let dir = tempfile::tempdir().unwrap();
    let record = "\n[record]\nenabled = true\npath = \"runs-{instance}.ron\"\n";
    let config = support::write_config(dir.path(), &etcd, "arbiter/record", 5, &[&r1, &r2, &r3], record);
    let first = spawn(&config);
    let second = spawn(&config);
    let files: Vec<PathBuf> = [&first, &second]
        .iter()
        .map(|c| {
            let host = std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_string())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "host".into());
            dir.path().join(format!("runs-{host}-{}.ron", c.id()))
        })
        .collect();
    for f in &files {
        wait_recording(f);
    }
    // Both take part: one leads, the other follows.
    let client = arbiter::live::etcd::Etcd::new(vec![etcd.addr.clone()], Duration::from_secs(1));
    support::eventually("both campaign", Duration::from_secs(20), || {
        client
            .get_prefix("arbiter/record/election/")
            .ok()
            .filter(|c| c.len() == 2)
    });
    std::thread::sleep(Duration::from_millis(1000));
    stop(second);
    stop(first);
    for f in &files {
        let calls = assert_valid(f);
        eprintln!("{}: {calls} calls", f.display());
    }
}
