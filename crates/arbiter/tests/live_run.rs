//! `arbiter run --config` as a process against real servers: it records
//! a real failover, shuts down cleanly on SIGTERM (resigning), and the
//! recording replays with `arbiter replay`, reproducing every decision. A
//! bad configuration is refused with the field named.

mod support;

use std::process::{Command, Stdio};
use std::time::Duration;

use arbiter::live::etcd::Etcd;
use arbiter::live::redis::RedisNodes;
use arbiter::types::Role;

fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    support::eventually(what, Duration::from_secs(20), f)
}

#[test]
fn a_bad_configuration_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arbiter.toml");
    std::fs::write(
        &path,
        "[etcd]\nendpoints = [\"http://127.0.0.1:2379\"]\n\n[[nodes]]\nname = \"r1\"\naddr = \"nowhere\"\n\n[[nodes]]\nname = \"r2\"\naddr = \"h:1\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("arbiter.toml: nodes[0].addr: `nowhere` is not host:port"),
        "{err}"
    );
}

#[test]
fn status_with_nothing_reachable_says_so_per_server() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arbiter.toml");
    std::fs::write(
        &path,
        "[etcd]\nendpoints = [\"http://127.0.0.1:1\"]\n\n[redis]\ntimeout_ms = 200\n\n[[nodes]]\nname = \"r1\"\naddr = \"127.0.0.1:1\"\n\n[[nodes]]\nname = \"r2\"\naddr = \"127.0.0.1:2\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["status", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("leader: unknown (etcd unreachable"), "{text}");
    assert!(text.contains("r1 127.0.0.1:1: unreachable"), "{text}");
    assert!(text.contains("r2 127.0.0.1:2: unreachable"), "{text}");
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn a_recorded_real_failover_replays_with_every_decision() {
    let etcd_server = support::etcd();
    let [r1, r2, r3] = support::three_nodes();
    let nodes = RedisNodes::new(Duration::from_secs(1), None);
    let dir = tempfile::tempdir().unwrap();
    let record = "\n[record]\nenabled = true\npath = \"run.ron\"\n";
    let config = support::write_config(dir.path(), &etcd_server, "arbiter/run", 5, &[&r1, &r2, &r3], record);
    let child = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["run", "--config"])
        .arg(&config)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let etcd = Etcd::new(vec![etcd_server.addr.clone()], Duration::from_secs(1));
    let recorded = |name: &str| {
        etcd.get("arbiter/run/record", false)
            .ok()
            .flatten()
            .is_some_and(|kv| kv.value.contains(&format!("\"primary\":\"{name}\"")))
    };
    eventually("the record names r1", || recorded("r1").then_some(()));
    drop(r1);
    eventually("failed over", || (recorded("r2") || recorded("r3")).then_some(()));
    let promoted = if recorded("r2") { &r2 } else { &r3 };
    eventually("promoted", || {
        nodes.status(&promoted.addr).ok().filter(|s| s.role == Role::Primary)
    });

    let status = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["status", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    let name = if recorded("r2") { "r2" } else { "r3" };
    assert!(text.contains("leader: arbiter-"), "{text}");
    assert!(text.contains(&format!("record: primary {name} (epoch")), "{text}");
    assert!(text.contains(&format!("{name} {}: primary", promoted.addr)), "{text}");
    assert!(text.contains("r1 127.0.0.1:") && text.contains("unreachable"), "{text}");
    assert_eq!(status.status.code(), Some(1), "r1 is down: {text}");

    support::signal(&child, "-TERM");
    let out = support::wait_exit(child);
    assert_eq!(out.0, Some(0), "stopped cleanly on SIGTERM: {}", out.1);
    assert!(out.1.contains("recorded"), "{}", out.1);
    assert!(
        etcd.get_prefix("arbiter/run/election/").unwrap().is_empty(),
        "it resigned"
    );

    // The recording replays with no server, reproducing every decision.
    let scenario = dir.path().join("run.ron");
    // `REHEARSE=record` pins this run as the committed scenario that plain
    // `cargo test` replays (tests/live_scenarios.rs).
    if std::env::var("REHEARSE").as_deref() == Ok("record") {
        let pinned = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios/live_failover.ron");
        std::fs::copy(&scenario, pinned).unwrap();
    }
    let replay = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .arg("replay")
        .arg(&scenario)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&replay.stdout);
    assert_eq!(
        replay.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&replay.stderr)
    );
    assert!(text.contains("Promote"), "{text}");
    assert!(text.contains("Stopped"), "{text}");

    // Editing one recorded output makes the replay diverge, saying where.
    let original = std::fs::read_to_string(&scenario).unwrap();
    let edited = original.replacen(
        "role: Primary",
        "role: Replica(primary: \"10.9.9.9:1\", link_up: true, link_down_ms: None)",
        1,
    );
    assert_ne!(edited, original);
    std::fs::write(&scenario, edited).unwrap();
    let diverged = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .arg("replay")
        .arg(&scenario)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&diverged.stdout),
        String::from_utf8_lossy(&diverged.stderr)
    );
    assert_eq!(diverged.status.code(), Some(1), "{text}");
    assert!(text.contains("diverged at call"), "{text}");
}
