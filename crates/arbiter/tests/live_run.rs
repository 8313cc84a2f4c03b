//! `arbiter run --config` as a process against real servers: it records
//! a real failover, shuts down cleanly on SIGTERM (resigning), and the
//! recording replays with `arbiter replay`, reproducing every decision. A
//! bad configuration is refused with the field named. Its log is
//! structured (JSON lines with `--log-format json`).

use arbiter_testkit::servers as support;

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
        .args(["run", "--log-format", "json", "--config"])
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
    // The log is one JSON event per line, telling the failover.
    let events: Vec<serde_json::Value> = out
        .1
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let find = |message: &str, key: &str, value: &str| {
        events
            .iter()
            .position(|e| e["message"] == message && e[key] == value)
            .unwrap_or_else(|| panic!("no {message:?} with {key} = {value:?} in\n{}", out.1))
    };
    let down = find("node unreachable", "node", "r1");
    let promoting = find("promoting", "node", &promoted.addr);
    let done = find("done", "command", "REPLICAOF NO ONE");
    assert!(down < promoting && promoting < done, "{}", out.1);
    let leaving = find("leaving the election", "role", "resigning");
    assert!(done < leaving, "{}", out.1);
    assert_eq!(events[promoting]["level"], "INFO");
    assert!(events.iter().any(|e| e["message"] == "recorded"), "{}", out.1);
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

/// Runs `arbiter run --log-format json` on `config` until `ready` holds
/// (checked every 50 ms, at most 20 s), lets it run `linger` longer, stops
/// it with SIGTERM and returns its exit code and its JSON log events.
fn run_until(
    config: &std::path::Path,
    linger: Duration,
    mut ready: impl FnMut() -> bool,
) -> (Option<i32>, Vec<serde_json::Value>, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["run", "--log-format", "json", "--config"])
        .arg(config)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    eventually("ready", || ready().then_some(()));
    std::thread::sleep(linger);
    support::signal(&child, "-TERM");
    let (code, log) = support::wait_exit(child);
    let events = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (code, events, log)
}

fn count(events: &[serde_json::Value], message: &str) -> usize {
    events.iter().filter(|e| e["message"] == message).count()
}

#[test]
fn unreachable_etcd_is_logged_once_and_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arbiter.toml");
    let etcd = format!("http://127.0.0.1:{}", support::free_port());
    let (a, b) = (support::free_port(), support::free_port());
    std::fs::write(
        &path,
        format!(
            "[etcd]\nendpoints = [\"{etcd}\"]\n\n[redis]\ntimeout_ms = 200\n\n[settings]\ncheck_interval_ms = 100\n\n[[nodes]]\nname = \"r1\"\naddr = \"127.0.0.1:{a}\"\n\n[[nodes]]\nname = \"r2\"\naddr = \"127.0.0.1:{b}\"\n"
        ),
    )
    .unwrap();
    let (code, events, log) = run_until(&path, Duration::from_millis(1500), || true);
    assert_eq!(code, Some(0), "stops cleanly on SIGTERM: {log}");
    // Retried several times (every check interval), reported once, naming
    // the endpoint that does not answer.
    assert_eq!(count(&events, "etcd: cannot join the election (retrying)"), 1, "{log}");
    let warning = events
        .iter()
        .find(|e| e["message"] == "etcd: cannot join the election (retrying)")
        .unwrap();
    assert_eq!(warning["level"], "WARN");
    assert!(warning["error"].as_str().unwrap().contains(&etcd), "{log}");
    assert_eq!(
        count(&events, "node unreachable at startup (managed anyway)"),
        2,
        "{log}"
    );
    assert_eq!(count(&events, "leading the group"), 0, "{log}");
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn unreachable_nodes_at_startup_are_reported_and_not_acted_on() {
    let etcd_server = support::etcd();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (support::free_port(), support::free_port());
    let path = dir.path().join("arbiter.toml");
    std::fs::write(
        &path,
        format!(
            "[etcd]\nendpoints = [\"{}\"]\nprefix = \"arbiter/dark\"\n\n[redis]\ntimeout_ms = 200\n\n[settings]\ncheck_interval_ms = 100\ndown_after_ms = 300\n\n[[nodes]]\nname = \"r1\"\naddr = \"127.0.0.1:{a}\"\n\n[[nodes]]\nname = \"r2\"\naddr = \"127.0.0.1:{b}\"\n",
            etcd_server.addr
        ),
    )
    .unwrap();
    let etcd = Etcd::new(vec![etcd_server.addr.clone()], Duration::from_secs(1));
    let (code, events, log) = run_until(&path, Duration::from_millis(1500), || {
        etcd.get_prefix("arbiter/dark/election/").is_ok_and(|c| !c.is_empty())
    });
    assert_eq!(code, Some(0), "stops cleanly on SIGTERM: {log}");
    assert_eq!(
        count(&events, "node unreachable at startup (managed anyway)"),
        2,
        "{log}"
    );
    assert_eq!(count(&events, "leading the group"), 1, "{log}");
    // Each node's outage is told once, not at every poll.
    assert_eq!(count(&events, "node unreachable"), 2, "{log}");
    let block = events
        .iter()
        .find(|e| e["reason"] == "cold-start")
        .unwrap_or_else(|| panic!("no cold-start warning in\n{log}"));
    assert_eq!(block["level"], "WARN");
    assert_eq!(
        count(&events, "promoting") + count(&events, "publishing the group record"),
        0,
        "{log}"
    );
    assert!(
        etcd.get("arbiter/dark/record", false).unwrap().is_none(),
        "nothing written: {log}"
    );
}
