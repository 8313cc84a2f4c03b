//! Two `arbiter run` processes against real servers: only the leader acts;
//! a SIGKILLed leader is replaced once its lease expires, and its successor
//! fails over a killed primary;
//! the leader paused with SIGSTOP past its lease is replaced, the new
//! leader fails over a killed primary, and the old one, resumed, does not
//! act (its etcd writes are rejected by the epoch guard).

use arbiter_testkit::servers as support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::signal;

use arbiter::live::etcd::Etcd;
use arbiter::live::redis::RedisNodes;
use arbiter::types::{GroupRecord, Role};

fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    support::eventually(what, Duration::from_secs(30), f)
}

fn spawn(config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["run", "--config"])
        .arg(config)
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Stops `child` with SIGTERM; its exit code.
fn stop(child: Child) -> Option<i32> {
    signal(&child, "-TERM");
    support::wait_exit(child).0
}

/// Real servers for two instances: etcd, three Redis nodes (r1 primary)
/// and an `arbiter.toml` with a 2 s lease under `prefix`.
struct Rig {
    _etcd_server: support::Server,
    /// Taken by the test, which kills them at will.
    nodes: Option<[support::Server; 3]>,
    redis: RedisNodes,
    etcd: Etcd,
    prefix: &'static str,
    config: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Rig {
    fn start(prefix: &'static str) -> Self {
        let etcd_server = support::etcd();
        let nodes = support::three_nodes();
        let dir = tempfile::tempdir().unwrap();
        let [r1, r2, r3] = &nodes;
        let config = support::write_config(dir.path(), &etcd_server, prefix, 2, &[r1, r2, r3], "");
        let nodes = Some(nodes);
        let etcd = Etcd::new(vec![etcd_server.addr.clone()], Duration::from_secs(1));
        Self {
            _etcd_server: etcd_server,
            nodes,
            redis: RedisNodes::new(Duration::from_secs(1), None),
            etcd,
            prefix,
            config,
            _dir: dir,
        }
    }

    fn record(&self) -> Option<GroupRecord> {
        let kv = self.etcd.get(&format!("{}/record", self.prefix), false).ok()??;
        serde_json::from_str(&kv.value).ok()
    }

    fn candidates(&self) -> Vec<arbiter::live::etcd::KeyValue> {
        self.etcd
            .get_prefix(&format!("{}/election/", self.prefix))
            .unwrap_or_default()
    }
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn a_leader_paused_past_its_lease_is_replaced_and_does_not_act_when_resumed() {
    let mut rig = Rig::start("arbiter/two");
    let [r1, r2, r3] = rig.nodes.take().unwrap();
    let (record, candidates, config, nodes) = (|| rig.record(), || rig.candidates(), &rig.config, &rig.redis);

    let first = spawn(config);
    let bootstrapped = eventually("the first instance records r1", || {
        record().filter(|r| r.primary == "r1")
    });
    let second = spawn(config);
    eventually("both campaign", || (candidates().len() == 2).then_some(()));
    let leader_key = candidates()[0].clone();
    assert!(
        leader_key.value.contains(&format!("-{}-", first.id())),
        "the first instance leads: {leader_key:?}"
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(record(), Some(bootstrapped.clone()), "the follower did not act");

    // Pause the leader past its 2 s lease: the second takes over.
    signal(&first, "-STOP");
    let new_leader = eventually("the second leads", || {
        let c = candidates();
        (c.len() == 1 && c[0].value.contains(&format!("-{}-", second.id()))).then(|| c[0].clone())
    });
    assert!(new_leader.create_revision > bootstrapped.epoch.get());

    // The primary dies: the new leader fails over under its own epoch.
    drop(r1);
    let after = eventually("failed over", || record().filter(|r| r.primary != "r1"));
    assert_eq!(after.epoch.get(), new_leader.create_revision);
    let promoted = if after.primary == "r2" { &r2 } else { &r3 };
    eventually("promoted", || {
        nodes.status(&promoted.addr).ok().filter(|s| s.role == Role::Primary)
    });

    // The old leader wakes: its lease is gone, it must not act.
    signal(&first, "-CONT");
    std::thread::sleep(Duration::from_millis(2000));
    assert_eq!(record(), Some(after.clone()), "the resumed old leader changed nothing");
    assert_eq!(nodes.status(&promoted.addr).unwrap().role, Role::Primary);

    assert_eq!(stop(first), Some(0));
    assert_eq!(stop(second), Some(0));
    assert!(candidates().is_empty(), "both resigned");
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn a_killed_leader_is_replaced_after_its_lease_and_the_successor_fails_over() {
    let mut rig = Rig::start("arbiter/kill");
    let [r1, r2, r3] = rig.nodes.take().unwrap();
    let (record, candidates, config, nodes) = (|| rig.record(), || rig.candidates(), &rig.config, &rig.redis);

    let mut first = spawn(config);
    eventually("the first instance records r1", || {
        record().filter(|r| r.primary == "r1")
    });
    let second = spawn(config);
    eventually("both campaign", || (candidates().len() == 2).then_some(()));

    // SIGKILL: no resignation; the key goes with the 2 s lease.
    first.kill().unwrap();
    first.wait().unwrap();
    let killed = std::time::Instant::now();
    let new_leader = eventually("the second leads", || {
        let c = candidates();
        (c.len() == 1 && c[0].value.contains(&format!("-{}-", second.id()))).then(|| c[0].clone())
    });
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(10), "took over {took:?} after the kill");

    drop(r1);
    let after = eventually("failed over", || record().filter(|r| r.primary != "r1"));
    assert_eq!(
        after.epoch.get(),
        new_leader.create_revision,
        "under the successor's epoch"
    );
    let promoted = if after.primary == "r2" { &r2 } else { &r3 };
    eventually("promoted", || {
        nodes.status(&promoted.addr).ok().filter(|s| s.role == Role::Primary)
    });
    assert_eq!(stop(second), Some(0));
    eprintln!("a SIGKILLed leader was replaced {took:?} after the kill (lease TTL 2 s)");
}
