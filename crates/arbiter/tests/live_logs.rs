//! `ARBITER_LOG=debug` against real servers says more than `info`: each
//! poll's result per node, each etcd call's outcome, and what the leader
//! decided on when it does nothing. `info` has none of it.

use arbiter_testkit::servers as support;

use std::process::{Command, Stdio};
use std::time::Duration;

/// Runs `arbiter run` with `ARBITER_LOG=filter` until the record names r1,
/// then one more second; its JSON events.
fn run(filter: &str, prefix: &str) -> (Vec<serde_json::Value>, String) {
    let etcd_server = support::etcd();
    let [r1, r2, r3] = support::three_nodes();
    let dir = tempfile::tempdir().unwrap();
    let config = support::write_config(dir.path(), &etcd_server, prefix, 5, &[&r1, &r2, &r3], "");
    let child = support::Guard::new(
        Command::new(env!("CARGO_BIN_EXE_arbiter"))
            .args(["run", "--log-format", "json", "--config"])
            .arg(&config)
            .env("ARBITER_LOG", filter)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let etcd = arbiter::live::etcd::Etcd::new(vec![etcd_server.addr.clone()], Duration::from_secs(1));
    support::eventually("the record names r1", Duration::from_secs(20), || {
        etcd.get(&format!("{prefix}/record"), false)
            .ok()
            .flatten()
            .filter(|kv| kv.value.contains("\"r1\""))
    });
    std::thread::sleep(Duration::from_secs(1));
    let child = child.take();
    support::stop_json(child)
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn debug_logs_polls_etcd_calls_and_idle_decisions_and_info_does_not() {
    let (events, log) = run("debug", "arbiter/debug");
    let polls: Vec<&serde_json::Value> = events.iter().filter(|e| e["message"] == "poll").collect();
    assert!(polls.len() >= 3, "{log}");
    let replica = polls
        .iter()
        .find(|e| e["role"].as_str().unwrap_or("").starts_with("replica of"))
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(replica["level"], "DEBUG");
    assert_eq!(replica["link"], "up");
    assert!(replica["offset"].is_u64() && replica["keys"].is_u64(), "{replica}");
    assert!(events.iter().any(|e| e["message"] == "etcd: done"), "{log}");
    assert!(
        events
            .iter()
            .any(|e| e["message"] == "etcd: lease keepalive (remaining TTL in s)"),
        "{log}"
    );
    let idle = events
        .iter()
        .find(|e| e["message"] == "leader: nothing to do this check")
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(idle["primary"], "r1", "{idle}");
    let nodes = idle["nodes"].as_str().unwrap();
    assert!(
        nodes.contains("r1: primary") && nodes.contains("r2: replica of"),
        "{nodes}"
    );

    let (events, log) = run("info", "arbiter/info");
    assert!(!events.iter().any(|e| e["level"] == "DEBUG"), "{log}");
    assert!(!events.iter().any(|e| e["message"] == "poll"), "{log}");
    assert!(events.iter().any(|e| e["message"] == "leading the group"), "{log}");
}
