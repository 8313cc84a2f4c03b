//! `arbiter run` and its configuration file as a process: settings that
//! cannot work are refused at load with the file and the fields named
//! (exit code 2), and a change that only a restart applies says so.

use arbiter_testkit::servers as support;

use std::process::{Command, Stdio};
use std::time::Duration;

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

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn a_change_that_needs_a_restart_says_so_naming_the_fields() {
    let etcd_server = support::etcd();
    let dir = tempfile::tempdir().unwrap();
    let settings = "\n[settings]\ncheck_interval_ms = 100\ndown_after_ms = 1000\n";
    let path = write(dir.path(), &etcd_server.addr, settings);
    let child = support::Guard::new(
        Command::new(env!("CARGO_BIN_EXE_arbiter"))
            .args(["run", "--log-format", "json", "--config"])
            .arg(&path)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let etcd = arbiter::live::etcd::Etcd::new(vec![etcd_server.addr.clone()], Duration::from_secs(1));
    support::eventually("it leads", Duration::from_secs(20), || {
        etcd.get_prefix("arbiter/config/election/")
            .ok()
            .filter(|c| !c.is_empty())
    });
    // A [settings] change applies live: no warning.
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("down_after_ms = 1000", "down_after_ms = 2000")).unwrap();
    std::thread::sleep(Duration::from_millis(600));
    // A new password and lease TTL only apply after a restart.
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("prefix = ", "ttl_s = 9\nprefix = ")
            .replace("[settings]", "[redis]\npassword = \"n3w-secret\"\n\n[settings]"),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(600));
    let child = child.take();
    let (events, log) = support::stop_json(child);
    let changed = events
        .iter()
        .filter(|e| e["message"] == "configuration changed")
        .count();
    assert_eq!(changed, 2, "{log}");
    let warnings: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| {
            e["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("configuration change needs a restart")
        })
        .collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert_eq!(warnings[0]["level"], "WARN");
    assert_eq!(warnings[0]["fields"], "etcd.ttl_s, redis.password", "{log}");
    assert!(!log.contains("n3w-secret"), "the password is never logged:\n{log}");
}
