//! Passwords against real servers: a wrong or missing `redis.password` is
//! reported as an authentication failure naming the node, never as an
//! unreachable node; `masterauth` and `min-replicas-*` are set on every node
//! arbiter manages, the running primary included, and again on a node that
//! restarted (a restart forgets `CONFIG SET`), so that replicas of a
//! `requirepass` group resync after a failover.

use arbiter_testkit::servers as support;

use std::process::{Command, Stdio};
use std::time::Duration;

use arbiter::live::redis::RedisNodes;
use arbiter::types::{RedisError, Role};

const PASSWORD: &str = "s3cret-pw";

fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    support::eventually(what, Duration::from_secs(30), f)
}

/// A `redis-server` requiring [`PASSWORD`]; a replica of `primary` if
/// given, authenticating to it when `masterauth`.
fn node(port: u16, primary: Option<&str>, masterauth: bool) -> support::Server {
    let mut args = vec!["--requirepass", PASSWORD];
    if masterauth {
        args.extend(["--masterauth", PASSWORD]);
    }
    support::redis_with(port, primary, &args, Some(PASSWORD))
}

/// `CONFIG GET name` on `addr`, authenticated.
fn config_get(addr: &str, name: &str) -> String {
    let client = redis::Client::open(format!("redis://:{PASSWORD}@{addr}/")).unwrap();
    let mut con = client.get_connection_with_timeout(Duration::from_secs(1)).unwrap();
    let pair: Vec<String> = redis::cmd("CONFIG").arg("GET").arg(name).query(&mut con).unwrap();
    pair.get(1).cloned().unwrap_or_default()
}

/// Whether `addr` is a replica of `primary` with its link up.
fn linked_to(nodes: &RedisNodes, addr: &str, primary: &str) -> bool {
    nodes
        .status(addr)
        .is_ok_and(|s| matches!(s.role, Role::Replica { primary: ref p, link_up: true, .. } if p == primary))
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn masterauth_and_min_replicas_are_set_on_every_node_at_start_and_after_a_restart() {
    let etcd_server = support::etcd();
    // r1 primary; the replicas authenticate to it (as an operator would
    // set them up); r1 itself has no masterauth.
    let r1 = node(support::free_port(), None, false);
    let r2 = node(support::free_port(), Some(&r1.addr), true);
    let r3 = node(support::free_port(), Some(&r1.addr), true);
    let nodes = RedisNodes::new(Duration::from_secs(1), Some(PASSWORD.into()));
    for r in [&r2, &r3] {
        eventually("replicas linked", || linked_to(&nodes, &r.addr, &r1.addr).then_some(()));
    }
    assert_eq!(config_get(&r1.addr, "masterauth"), "", "the test starts without it");
    assert_eq!(config_get(&r1.addr, "min-replicas-to-write"), "0");

    let dir = tempfile::tempdir().unwrap();
    let extra =
        format!("\n[redis]\npassword = \"{PASSWORD}\"\nmin_replicas_to_write = 1\nmin_replicas_max_lag_s = 7\n");
    let config = support::write_config(
        dir.path(),
        &etcd_server,
        "arbiter/masterauth",
        5,
        &[&r1, &r2, &r3],
        &extra,
    );
    let child = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["run", "--log-format", "json", "--config"])
        .arg(&config)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let etcd = arbiter::live::etcd::Etcd::new(vec![etcd_server.addr.clone()], Duration::from_secs(1));
    let record = || {
        etcd.get("arbiter/masterauth/record", false)
            .ok()
            .flatten()
            .and_then(|kv| serde_json::from_str::<arbiter::types::GroupRecord>(&kv.value).ok())
    };
    eventually("the record names r1", || record().filter(|r| r.primary == "r1"));
    let configured = |addr: &str| {
        config_get(addr, "masterauth") == PASSWORD
            && config_get(addr, "min-replicas-to-write") == "1"
            && config_get(addr, "min-replicas-max-lag") == "7"
    };
    // Every node, the running primary included, without any failover.
    for r in [&r1, &r2, &r3] {
        assert!(configured(&r.addr), "{} not configured", r.addr);
    }

    // r3 restarts (persistence off: empty, CONFIG SET forgotten) without
    // masterauth of its own: it cannot link to r1 until arbiter sees its
    // new run id and configures it again.
    let port3 = r3.port();
    drop(r3);
    let r3 = support::redis_with(port3, Some(&r1.addr), &["--requirepass", PASSWORD], Some(PASSWORD));
    eventually("the restarted r3 links up to r1", || {
        linked_to(&nodes, &r3.addr, &r1.addr).then_some(())
    });
    assert!(configured(&r3.addr), "the restarted r3 is configured again");

    // r1 dies: the promoted replica's and the other replica's settings let
    // the other resync from it.
    drop(r1);
    let after = eventually("failed over", || record().filter(|r| r.primary != "r1"));
    let (promoted, other) = if after.primary == "r2" { (&r2, &r3) } else { (&r3, &r2) };
    eventually("promoted", || {
        nodes.status(&promoted.addr).ok().filter(|s| s.role == Role::Primary)
    });
    eventually("the other replica resyncs from the new primary", || {
        linked_to(&nodes, &other.addr, &promoted.addr).then_some(())
    });
    for r in [promoted, other] {
        assert!(configured(&r.addr), "{} not configured", r.addr);
    }

    support::signal(&child, "-TERM");
    let (code, log) = support::wait_exit(child);
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("node configured"), "{log}");
    assert!(!log.contains(PASSWORD), "the password is never logged:\n{log}");
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn a_wrong_password_is_an_authentication_failure_naming_the_node() {
    let etcd_server = support::etcd();
    let r1 = node(support::free_port(), None, false);
    let r2 = node(support::free_port(), Some(&r1.addr), true);

    // The client itself: wrong and missing passwords are `Auth`, a closed
    // port is `Unreachable`.
    let wrong = RedisNodes::new(Duration::from_secs(1), Some("wrong".into()));
    let e = wrong.status(&r1.addr).unwrap_err();
    assert!(matches!(e, RedisError::Auth(_)), "{e:?}");
    assert!(e.to_string().starts_with("authentication failed: "), "{e}");
    let missing = RedisNodes::new(Duration::from_secs(1), None);
    let e = missing.status(&r1.addr).unwrap_err();
    assert!(matches!(e, RedisError::Auth(_)), "{e:?}");
    let e = wrong
        .status(&format!("127.0.0.1:{}", support::free_port()))
        .unwrap_err();
    assert!(matches!(e, RedisError::Unreachable(_)), "{e:?}");
    let right = RedisNodes::new(Duration::from_secs(1), Some(PASSWORD.into()));
    assert_eq!(right.status(&r1.addr).unwrap().role, Role::Primary);

    let dir = tempfile::tempdir().unwrap();
    let extra = "\n[redis]\npassword = \"wrong\"\n";
    let config = support::write_config(dir.path(), &etcd_server, "arbiter/auth", 5, &[&r1, &r2], extra);

    // `arbiter status` says so per node, naming the endpoint.
    let status = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["status", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(1), "{text}");
    for (name, n) in [("r1", &r1), ("r2", &r2)] {
        assert!(
            text.contains(&format!("{name} {}: authentication failed: ", n.addr)),
            "{text}"
        );
    }
    assert!(!text.contains("unreachable"), "{text}");

    // `arbiter run` logs an authentication failure per node, not an outage,
    // and never the password.
    let child = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["run", "--log-format", "json", "--config"])
        .arg(&config)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let etcd = arbiter::live::etcd::Etcd::new(vec![etcd_server.addr.clone()], Duration::from_secs(1));
    eventually("it leads", || {
        etcd.get_prefix("arbiter/auth/election/").ok().filter(|c| !c.is_empty())
    });
    std::thread::sleep(Duration::from_millis(1500));
    let (events, log) = support::stop_json(child);
    for (name, n) in [("r1", &r1), ("r2", &r2)] {
        let said: Vec<&serde_json::Value> = events
            .iter()
            .filter(|e| e["message"].as_str().unwrap_or("").starts_with("authentication failed") && e["node"] == name)
            .collect();
        assert_eq!(said.len(), 1, "told once for {name}:\n{log}");
        assert_eq!(said[0]["level"], "WARN");
        assert_eq!(said[0]["addr"], n.addr.as_str(), "{log}");
        assert!(
            said[0]["error"].as_str().unwrap().starts_with("authentication failed"),
            "{log}"
        );
        let startup = events
            .iter()
            .filter(|e| {
                e["message"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("authentication failed at startup")
                    && e["node"] == n.addr
            })
            .count();
        assert_eq!(startup, 1, "{log}");
    }
    assert!(!log.contains("node unreachable"), "{log}");
    assert!(!log.contains("allow_data_loss"), "{log}");
    assert!(!log.contains("wrong\""), "the password is not logged:\n{log}");
}
