//! Control from any host, against real servers and `arbiter run`
//! instances: `arbiter switchover` (the real binary) gets the leader's
//! answer to its own request (done, refused with the reason, a target it
//! picked itself, or a timeout naming what it left in etcd); `arbiter
//! pause` holds every instance, also a follower that takes over after the
//! leader dies, and `arbiter resume` lets the group fail over;
//! `arbiter allow-data-loss --once` is acknowledged and lapses with the
//! next record, and `--withdraw` takes a grant back.

use arbiter_testkit::servers as support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use arbiter::live::control::ControlAck;
use arbiter::live::etcd::Etcd;
use arbiter::live::redis::RedisNodes;
use arbiter::types::{GroupRecord, Role};

fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    support::eventually(what, Duration::from_secs(30), f)
}

/// etcd, three Redis nodes (r1 primary) and an `arbiter.toml` with a 2 s
/// lease under `prefix`.
struct Rig {
    _etcd_server: support::Server,
    nodes: Option<[support::Server; 3]>,
    addrs: [String; 3],
    redis: RedisNodes,
    etcd: Etcd,
    prefix: &'static str,
    config: PathBuf,
    dir: tempfile::TempDir,
}

impl Rig {
    fn start(prefix: &'static str) -> Self {
        let etcd_server = support::etcd();
        let nodes = support::three_nodes();
        let dir = tempfile::tempdir().unwrap();
        let [r1, r2, r3] = &nodes;
        let config = support::write_config(dir.path(), &etcd_server, prefix, 2, &[r1, r2, r3], "");
        let addrs = [r1.addr.clone(), r2.addr.clone(), r3.addr.clone()];
        let etcd = Etcd::new(vec![etcd_server.addr.clone()], Duration::from_secs(1));
        Self {
            _etcd_server: etcd_server,
            nodes: Some(nodes),
            addrs,
            redis: RedisNodes::new(Duration::from_secs(1), None),
            etcd,
            prefix,
            config,
            dir,
        }
    }

    /// `arbiter run`, its log (JSON lines) in `run-N.log` in the rig's dir.
    fn spawn(&self, n: usize) -> support::Guard {
        let log = std::fs::File::create(self.log_path(n)).unwrap();
        support::Guard::new(
            Command::new(env!("CARGO_BIN_EXE_arbiter"))
                .args(["run", "--log-format", "json", "--config"])
                .arg(&self.config)
                .stderr(Stdio::from(log))
                .spawn()
                .unwrap(),
        )
    }

    fn log_path(&self, n: usize) -> PathBuf {
        self.dir.path().join(format!("run-{n}.log"))
    }

    /// The messages instance `n` logged.
    fn logged(&self, n: usize) -> Vec<String> {
        std::fs::read_to_string(self.log_path(n))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|e| e["message"].as_str().map(str::to_string))
            .collect()
    }

    /// Runs `arbiter ARGS --config FILE`: its exit code and stdout.
    fn cli(&self, args: &[&str]) -> (Option<i32>, String) {
        cli(args, &self.config)
    }

    fn key(&self, name: &str) -> String {
        format!("{}/{name}", self.prefix)
    }

    fn record(&self) -> Option<GroupRecord> {
        let kv = self.etcd.get(&self.key("record"), false).ok()??;
        serde_json::from_str(&kv.value).ok()
    }

    fn ack(&self) -> Option<ControlAck> {
        let kv = self.etcd.get(&self.key("control-ack"), false).ok()??;
        serde_json::from_str(&kv.value).ok()
    }

    fn role(&self, node: usize) -> Option<Role> {
        self.redis.status(&self.addrs[node]).ok().map(|s| s.role)
    }

    fn candidates(&self) -> Vec<arbiter::live::etcd::KeyValue> {
        self.etcd.get_prefix(&self.key("election/")).unwrap_or_default()
    }
}

fn cli(args: &[&str], config: &Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.code(), format!("{stdout}{stderr}"))
}

/// Stops `child` with SIGTERM (it resigns) and waits for it.
fn stop(child: support::Guard) {
    let child = child.take();
    support::signal(&child, "-TERM");
    let (code, err) = support::wait_exit(child);
    assert_eq!(code, Some(0), "{err}");
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn the_switchover_command_reads_the_answer_to_its_own_request() {
    let mut rig = Rig::start("arbiter/ctl-switchover");
    let _nodes = rig.nodes.take().unwrap();
    let (first, second) = (rig.spawn(1), rig.spawn(2));
    eventually("the record names r1", || rig.record().filter(|r| r.primary == "r1"));

    // Done: r2 is primary.
    let (code, out) = rig.cli(&["switchover", "--to", "r2", "--wait"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("switchover to r2: accepted"), "{out}");
    assert!(
        out.contains("switchover to r2: done: r2 is primary (request revision "),
        "{out}"
    );
    assert_eq!(rig.role(1), Some(Role::Primary));
    eventually("the record names r2", || rig.record().filter(|r| r.primary == "r2"));

    // Refused, with the leader's reason.
    let (code, out) = rig.cli(&["switchover", "--to", "r9"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("switchover to r9: refused: unknown node r9 (nodes: r1, r2, r3)"),
        "{out}"
    );
    let (code, out) = rig.cli(&["switchover", "--to", "r2"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("refused: r2 is already the primary"), "{out}");

    // No target named: a linked replica of r2 is picked, and says why.
    eventually("r1 and r3 follow r2, linked", || {
        [0, 2]
            .iter()
            .all(|&i| matches!(rig.role(i), Some(Role::Replica { link_up: true, primary, .. }) if primary == rig.addrs[1]))
            .then_some(())
    });
    let (code, out) = rig.cli(&["switchover", "--wait"]);
    assert_eq!(code, Some(0), "{out}");
    let picked = out
        .lines()
        .find_map(|l| l.strip_prefix("switchover: choosing "))
        .and_then(|l| l.split(':').next())
        .unwrap_or_else(|| panic!("{out}"))
        .to_string();
    assert!(picked == "r1" || picked == "r3", "{out}");
    assert!(out.contains("is a replica of r2 with its link up"), "{out}");
    assert!(out.contains(&format!("switchover to {picked}: done")), "{out}");
    eventually("the record names the picked node", || {
        rig.record().filter(|r| r.primary == picked)
    });

    // No instance running: the command says so and what it left in etcd.
    stop(first);
    stop(second);
    let (code, out) = rig.cli(&["switchover", "--to", "r2", "--timeout", "1s"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("timed out after 1s: no leader took the request: no instance is running"),
        "{out}"
    );
    assert!(
        out.contains(&format!("left in etcd: {}/switchover = r2 (revision ", rig.prefix)),
        "{out}"
    );
    let (_, status) = rig.cli(&["status"]);
    assert!(status.contains("switchover request: r2 (revision "), "{status}");
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn a_paused_group_does_not_fail_over_even_under_a_new_leader_until_resumed() {
    let mut rig = Rig::start("arbiter/ctl-pause");
    let [r1, _r2, _r3] = rig.nodes.take().unwrap();
    let first = rig.spawn(1);
    eventually("the record names r1", || rig.record().filter(|r| r.primary == "r1"));
    let _second = rig.spawn(2);
    eventually("both campaign", || (rig.candidates().len() == 2).then_some(()));

    let (code, out) = rig.cli(&["pause"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("pause: done: the leader "), "{out}");
    assert!(out.contains("acknowledged control revision"), "{out}");
    let (_, status) = rig.cli(&["status"]);
    assert!(status.contains("paused: yes, by "), "{status}");
    assert!(status.contains("(pause by "), "{status}");
    assert!(status.contains("acknowledged by "), "{status}");

    // The leader dies: the follower takes over, and obeys the group's pause
    // (with the pause only in the dead leader's file it would fail over).
    drop(first);
    let successor = eventually("the second instance leads", || {
        let c = rig.candidates();
        (c.len() == 1).then(|| c[0].create_revision)
    });
    eventually("the successor acknowledges the pause", || {
        rig.ack().filter(|a| a.epoch == successor && a.paused)
    });
    drop(r1);
    // Down-after is 1 s and checks every 200 ms: 6 s is ample.
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(
        rig.record().map(|r| r.primary).as_deref(),
        Some("r1"),
        "no failover while paused"
    );
    for i in [1, 2] {
        assert!(
            matches!(rig.role(i), Some(Role::Replica { ref primary, .. }) if *primary == rig.addrs[0]),
            "r{} still follows r1: {:?}",
            i + 1,
            rig.role(i)
        );
    }
    assert!(rig.logged(2).iter().any(|m| m.starts_with("the group is paused")));

    let (code, out) = rig.cli(&["resume"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("resume: done: the leader "), "{out}");
    assert!(out.contains("the group acts again"), "{out}");
    let after = eventually("failed over once resumed", || {
        rig.record().filter(|r| r.primary != "r1")
    });
    assert_eq!(after.epoch.get(), successor);
    let promoted = if after.primary == "r2" { 1 } else { 2 };
    eventually("promoted", || (rig.role(promoted) == Some(Role::Primary)).then_some(()));
    let (_, status) = rig.cli(&["status"]);
    assert!(status.contains("paused: no"), "{status}");
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn a_one_time_data_loss_grant_is_acknowledged_and_lapses_with_the_next_record() {
    let mut rig = Rig::start("arbiter/ctl-grant");
    let _nodes = rig.nodes.take().unwrap();
    let _instance = rig.spawn(1);
    eventually("the record names r1", || rig.record().filter(|r| r.primary == "r1"));

    let (code, out) = rig.cli(&["allow-data-loss", "--once"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.starts_with("allow-data-loss --once: done: the leader "), "{out}");
    assert!(out.contains("the grant lapses when the group record changes"), "{out}");
    assert!(out.contains("primary r1"), "{out}");
    assert!(rig.ack().is_some_and(|a| a.allow_data_loss && !a.paused));
    let (_, status) = rig.cli(&["status"]);
    assert!(status.contains("allow-data-loss: granted once by "), "{status}");
    assert!(status.contains("pending: one failover may lose data"), "{status}");

    // The record changes (a switchover): the grant lapses.
    let (code, out) = rig.cli(&["switchover", "--to", "r2", "--wait"]);
    assert_eq!(code, Some(0), "{out}");
    let (_, status) = rig.cli(&["status"]);
    assert!(status.contains("lapsed: the group record changed since"), "{status}");
    eventually("the leader says the grant lapsed", || {
        rig.logged(1)
            .iter()
            .any(|m| m.starts_with("the one-time data-loss grant lapsed"))
            .then_some(())
    });

    // Granted again, then withdrawn before any use.
    let (code, out) = rig.cli(&["allow-data-loss", "--once"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("primary r2"), "{out}");
    let (code, out) = rig.cli(&["allow-data-loss", "--withdraw"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.starts_with("allow-data-loss --withdraw: done: the leader "),
        "{out}"
    );
    assert!(rig.ack().is_some_and(|a| !a.allow_data_loss));
    let (_, status) = rig.cli(&["status"]);
    assert!(status.contains("allow-data-loss: no grant"), "{status}");
    let (code, out) = rig.cli(&["allow-data-loss", "--withdraw"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("there was no data-loss grant"), "{out}");
}
