//! Printing subcommands on a closed stdout (`arbiter status | head -3`):
//! they stop printing quietly and keep their own exit code, never panic.

use std::process::{Command, Stdio};

/// Runs `arbiter args` with a stdout pipe whose reading end is closed
/// before it prints: its exit code and stderr.
fn with_closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn status_on_a_closed_pipe_exits_quietly_with_its_own_code() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arbiter.toml");
    std::fs::write(
        &path,
        "[etcd]\nendpoints = [\"http://127.0.0.1:1\"]\n\n[redis]\ntimeout_ms = 100\n\n[[nodes]]\nname = \"r1\"\naddr = \"127.0.0.1:1\"\n\n[[nodes]]\nname = \"r2\"\naddr = \"127.0.0.1:2\"\n",
    )
    .unwrap();
    let (code, err) = with_closed_stdout(&["status", "--config", path.to_str().unwrap()]);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(err, "", "nothing said about the pipe");
    // Nothing answers: exit code 1, as with an open stdout.
    assert_eq!(code, Some(1), "{err}");
}

#[test]
fn replay_and_simulate_on_a_closed_pipe_exit_quietly() {
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios/failover.ron");
    let (code, err) = with_closed_stdout(&["replay", scenario, "--all"]);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(code, Some(0), "{err}");
    let (code, err) = with_closed_stdout(&["simulate", "--seed", "1", "--no-record"]);
    assert!(!err.contains("panicked"), "{err}");
    // 0 or 1 (a violation), as the seed decides; 101 is a panic.
    assert!(matches!(code, Some(0 | 1)), "{code:?} {err}");
}
