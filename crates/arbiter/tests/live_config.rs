//! `arbiter run` and its configuration file as a process: settings that
//! cannot work are refused at load with the file and the fields named
//! (exit code 2), and a change that only a restart applies says so.

mod support;

use std::process::Command;

/// An `arbiter.toml` in `dir` with unreachable nodes and `etcd`.
fn write(dir: &std::path::Path, etcd: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("arbiter.toml");
    let (a, b) = (support::free_port(), support::free_port());
    std::fs::write(
        &path,
        format!(
            "[etcd]\nendpoints = [\"{etcd}\"]\nprefix = \"arbiter/config\"\n{extra}\n[[nodes]]\nname = \"r1\"\naddr = \"127.0.0.1:{a}\"\n\n[[nodes]]\nname = \"r2\"\naddr = \"127.0.0.1:{b}\"\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn a_check_interval_that_cannot_keep_the_lease_is_refused_naming_both_fields() {
    let dir = tempfile::tempdir().unwrap();
    // The trial's file: checks as long as the lease.
    let path = write(
        dir.path(),
        "http://127.0.0.1:1",
        "ttl_s = 5\n\n[settings]\ncheck_interval_ms = 5000\ndown_after_ms = 10000\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("arbiter.toml: settings.check_interval_ms: 5000 ms cannot keep the etcd.ttl_s = 5 s lease"),
        "{err}"
    );
    // `arbiter status` loads the same way.
    let out = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["status", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("settings.check_interval_ms"));
}
