//! Switchover requests against real servers get an answer the operator can
//! read in etcd (`PREFIX/switchover-status`): a request naming an unknown
//! node, an address or the current primary is refused with the reason
//! (and logged); a good one is accepted and then done; one whose target
//! does not answer is given up after `failover_timeout_ms`, saying why.

use arbiter_testkit::servers as support;

use std::process::{Command, Stdio};
use std::time::Duration;

use arbiter::live::etcd::Etcd;
use arbiter::live::redis::RedisNodes;
use arbiter::live::switchover::{SwitchoverAnswer, SwitchoverOutcome};
use arbiter::types::{GroupRecord, Role};

const PREFIX: &str = "arbiter/answers";

fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    support::eventually(what, Duration::from_secs(30), f)
}

/// Requests a switchover to `target` and waits for the answer naming it
/// with an outcome other than `accepted` (the final one).
fn ask(etcd: &Etcd, target: &str) -> SwitchoverAnswer {
    etcd.put(&format!("{PREFIX}/switchover"), target).unwrap();
    eventually(&format!("an answer for {target}"), || {
        let kv = etcd.get(&format!("{PREFIX}/switchover-status"), false).ok()??;
        let answer: SwitchoverAnswer = serde_json::from_str(&kv.value).unwrap();
        (answer.target == target && answer.outcome != SwitchoverOutcome::Accepted).then_some(answer)
    })
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn every_switchover_request_is_answered_where_the_operator_reads_it() {
    let etcd_server = support::etcd();
    let [r1, r2, r3] = support::three_nodes();
    let nodes = RedisNodes::new(Duration::from_secs(1), None);
    let dir = tempfile::tempdir().unwrap();
    let config = support::write_config(
        dir.path(),
        &etcd_server,
        PREFIX,
        5,
        &[&r1, &r2, &r3],
        "failover_timeout_ms = 1500\n",
    );
    let child = support::Guard::new(
        Command::new(env!("CARGO_BIN_EXE_arbiter"))
            .args(["run", "--log-format", "json", "--config"])
            .arg(&config)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let etcd = Etcd::new(vec![etcd_server.addr.clone()], Duration::from_secs(1));
    let record = || {
        let kv = etcd.get(&format!("{PREFIX}/record"), false).ok()??;
        serde_json::from_str::<GroupRecord>(&kv.value).ok()
    };
    eventually("the record names r1", || record().filter(|r| r.primary == "r1"));

    let refused = |target: &str, reason: &str| {
        let answer = ask(&etcd, target);
        assert_eq!(answer.outcome, SwitchoverOutcome::Refused, "{answer:?}");
        let said = answer.reason.clone().unwrap_or_default();
        assert!(said.contains(reason), "{target}: {said:?} does not say {reason:?}");
    };
    refused("r9", "unknown node r9 (nodes: r1, r2, r3)");
    refused("r1", "r1 is already the primary");
    refused(&r2.addr, &format!("`{}` is an address: name the node (r2 is", r2.addr));
    assert_eq!(record().unwrap().primary, "r1", "nothing done");
    assert_eq!(nodes.status(&r1.addr).unwrap().role, Role::Primary);

    // A good one is carried out and answered `done`.
    let answer = ask(&etcd, "r2");
    assert_eq!(
        answer,
        SwitchoverAnswer::new("r2", SwitchoverOutcome::Done).to_request(answer.request)
    );
    assert!(answer.request.is_some(), "the answer names the request's revision");
    assert_eq!(nodes.status(&r2.addr).unwrap().role, Role::Primary);
    eventually("the record names r2", || record().filter(|r| r.primary == "r2"));

    // A target that does not answer: given up after the timeout, saying why.
    drop(r3);
    std::thread::sleep(Duration::from_millis(500));
    let answer = ask(&etcd, "r3");
    assert_eq!(answer.outcome, SwitchoverOutcome::Failed, "{answer:?}");
    let said = answer.reason.unwrap_or_default();
    assert!(
        said.contains("not started within failover_timeout_ms (1500 ms): r3 does not answer"),
        "{said}"
    );
    assert_eq!(nodes.status(&r2.addr).unwrap().role, Role::Primary);

    let child = child.take();
    let (events, log) = support::stop_json(child);
    let told = |message: &str| events.iter().filter(|e| e["message"] == message).count();
    assert_eq!(told("switchover refused"), 3, "{log}");
    let unknown = events
        .iter()
        .find(|e| e["message"] == "switchover refused" && e["node"] == "r9")
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(unknown["level"], "WARN");
    assert!(unknown["reason"].as_str().unwrap().contains("unknown node r9"), "{log}");
    assert_eq!(told("switchover requested"), 2, "{log}");
    assert_eq!(told("switchover done"), 1, "{log}");
    assert_eq!(told("switchover failed"), 1, "{log}");
}
