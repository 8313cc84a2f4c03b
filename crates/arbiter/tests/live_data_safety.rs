//! The data-safety trial of issue 22, on real servers: three `arbiter run`
//! instances, real `redis-server` nodes and a real `etcd`, started and
//! stopped by the test.
//!
//! - `instances_away_while_the_primary_dies`: every instance is stopped,
//!   the primary is killed, and the instances come back after longer than
//!   `stale_after_ms`. The replicas were in sync when the primary died, so
//!   they must be eligible (staleness counts the time the primary has been
//!   down). Then the old primary comes back empty: it is made a replica and
//!   resyncs from the new primary; nothing flaps; no key is lost anywhere,
//!   also after the instances stop.
//! - `a_restart_that_reloaded_its_aof_is_not_data_loss`: AOF on; the
//!   primary is killed and restarted with its data faster than down-after.
//!   It reports a new run id, a new replication id and offset 0, but its
//!   keys: no failover, its replicas resync from it and keep every key; a
//!   replica restarted with its AOF (back as a primary) is repointed.
//! - `instances_away_then_a_replica_restarts_with_its_aof`: the AOF variant
//!   of the trial: while every instance is away the primary dies and a
//!   replica restarts with its AOF; the instances fail over without a
//!   replication cycle and without losing a key.
//! - `instances_away_the_primary_loses_its_disk_and_a_replica_restarts_with_its_aof`:
//!   the returning leader never saw the restarts; the record's run id
//!   tells it the primary restarted since, and the copy back from its AOF
//!   is recorded instead of being pointed at the empty node.
//! - `a_copy_back_from_its_aof_after_a_failover_from_an_emptied_primary_is_the_data_left`:
//!   the same, after a failover has recorded the emptied history's new
//!   primary; the copy's uptime tells the leader it restarted from disk
//!   while out of reach.
//!
//! - `a_loss_every_copy_shares_is_settled_and_the_primary_serves_again`:
//!   every node dies at once and comes back empty, the primary first: its
//!   loss is recorded, then settled once every copy answers holding no
//!   more than it, and the group serves again on it.
//! - `a_node_that_lost_data_is_not_adopted_as_a_finished_switchover`: the
//!   record names a replica of a node that restarted empty (seeds 32516,
//!   67260, 113993 of the simulation): the node holding the data is
//!   recorded, not the emptied one adopted.
//! - `a_cold_start_claimant_that_reloaded_less_than_it_held_is_not_recorded`:
//!   with no record, the one node claiming primary came back from an older
//!   RDB (seed 107954): not recorded, and the frozen node holding more
//!   keeps them.
//! - `a_copy_is_not_recorded_over_a_marked_primary_no_instance_saw_however_long_it_is_silent`:
//!   the record's loss mark names a primary no instance ever saw answer
//!   (seed 123154): a copy back from an older RDB is not recorded however
//!   long the primary stays silent, and the primary is kept once it answers.
//!
//! Before the fix each of them failed: blocked for good (no eligible
//! replica), then replicas resynced from the empty node; a reloaded AOF was
//! called data loss ("node lost data" in the log).

use arbiter_testkit::servers as support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arbiter::live::etcd::Etcd;
use arbiter::live::redis::RedisNodes;
use arbiter::types::{GroupRecord, NodeStatus, Role};

const KEYS: u64 = 1000;

/// A `redis-server` whose data directory outlives it (so that a restart
/// can reload an AOF), killed (SIGKILL) and reaped on drop.
struct Node {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    aof: bool,
}

impl Node {
    fn start(dir: &Path, name: &str, aof: bool, primary: Option<&Self>) -> Self {
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut node = Self {
            child: None,
            port: support::free_port(),
            dir,
            aof,
        };
        node.restart(primary);
        node
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the process (again) on the same port and directory: with AOF
    /// on it reloads its data; without persistence it comes back empty.
    fn restart(&mut self, primary: Option<&Self>) {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", if self.aof { "yes" } else { "no" }])
            // Full syncs start at once instead of after the 5 s default.
            .args(["--repl-diskless-sync-delay", "0"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(p) = primary {
            cmd.args(["--replicaof", "127.0.0.1", &p.port.to_string()]);
        }
        self.child = Some(
            cmd.spawn()
                .expect("redis-server not found: run scripts/test, which installs it"),
        );
        let url = format!("redis://{}/", self.addr());
        support::eventually("redis-server answers", Duration::from_secs(20), || {
            redis::Client::open(url.as_str())
                .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                .ok()
        });
    }

    /// SIGKILL (no shutdown save; an AOF keeps what it had written).
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn connection(&self) -> Option<redis::Connection> {
        let c = redis::Client::open(format!("redis://{}/", self.addr())).ok()?;
        let con = c.get_connection_with_timeout(Duration::from_millis(500)).ok()?;
        con.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
        Some(con)
    }

    /// Writes `n` new keys (`new:0`, `new:1`, ...) as a client would.
    fn write_new_keys(&self, n: u64) {
        let mut con = self.connection().unwrap();
        for i in 0..n {
            redis::cmd("SET")
                .arg(format!("new:{i}"))
                .arg(i)
                .query::<()>(&mut con)
                .unwrap();
        }
    }

    /// `DBSIZE`, when the node answers.
    fn keys(&self) -> Option<u64> {
        redis::cmd("DBSIZE").query(&mut self.connection()?).ok()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Real servers for three instances: etcd, three nodes (r1 primary, r2 and
/// r3 its replicas, holding `KEYS` keys) and an `arbiter.toml`.
struct Rig {
    _etcd: support::Server,
    etcd: Etcd,
    nodes: Vec<Node>,
    redis: RedisNodes,
    config: PathBuf,
    dir: tempfile::TempDir,
    instances: Vec<Child>,
    started: u32,
}

const PREFIX: &str = "arbiter/safety";
/// `settings.stale_after_ms` of the rig (the default is 10 s; shorter
/// here so that the test waits less, the same class of schedule).
const STALE_AFTER_MS: u64 = 3000;

impl Rig {
    fn start(aof: bool) -> Self {
        let etcd_server = support::etcd();
        let dir = tempfile::tempdir().unwrap();
        let r1 = Node::start(dir.path(), "r1", aof, None);
        let r2 = Node::start(dir.path(), "r2", aof, Some(&r1));
        let r3 = Node::start(dir.path(), "r3", aof, Some(&r1));
        let mut con = r1.connection().unwrap();
        let mut pipe = redis::pipe();
        for i in 0..KEYS {
            pipe.cmd("SET").arg(format!("key:{i}")).arg(i).ignore();
        }
        pipe.query::<()>(&mut con).unwrap();
        for n in [&r2, &r3] {
            support::eventually("replicas hold every key", Duration::from_secs(20), || {
                (n.keys() == Some(KEYS)).then_some(())
            });
        }
        let nodes = [&r1, &r2, &r3]
            .iter()
            .enumerate()
            .map(|(i, n)| format!("\n[[nodes]]\nname = \"r{}\"\naddr = \"{}\"\n", i + 1, n.addr()))
            .collect::<String>();
        let text = format!(
            "[etcd]\nendpoints = [\"{}\"]\nprefix = \"{PREFIX}\"\nttl_s = 2\n{nodes}\n[settings]\ncheck_interval_ms = 200\ndown_after_ms = 1000\nstale_after_ms = {STALE_AFTER_MS}\n",
            etcd_server.addr
        );
        let config = dir.path().join("arbiter.toml");
        std::fs::write(&config, text).unwrap();
        Self {
            etcd: Etcd::new(vec![etcd_server.addr.clone()], Duration::from_secs(1)),
            _etcd: etcd_server,
            nodes: vec![r1, r2, r3],
            redis: RedisNodes::new(Duration::from_secs(1), None),
            config,
            dir,
            instances: Vec::new(),
            started: 0,
        }
    }

    /// Starts three `arbiter run` instances, each logging to its own file
    /// and recording to its own scenario (`arbiter-N.ron`).
    fn start_instances(&mut self) {
        for _ in 0..3 {
            self.started += 1;
            let n = self.started;
            let log = std::fs::File::create(self.dir.path().join(format!("arbiter-{n}.log"))).unwrap();
            let config = self.dir.path().join(format!("arbiter-{n}.toml"));
            let text = std::fs::read_to_string(&self.config).unwrap();
            std::fs::write(
                &config,
                format!("{text}\n[record]\nenabled = true\npath = \"arbiter-{n}.ron\"\n"),
            )
            .unwrap();
            let child = Command::new(env!("CARGO_BIN_EXE_arbiter"))
                .args(["run", "--config"])
                .arg(&config)
                .env("ARBITER_LOG", "info")
                .stderr(log)
                .spawn()
                .unwrap();
            self.instances.push(child);
        }
    }

    /// SIGTERM to every instance; waits for each to exit.
    fn stop_instances(&mut self) {
        for child in self.instances.drain(..) {
            support::signal(&child, "-TERM");
            let (code, err) = support::wait_exit(child);
            assert_eq!(code, Some(0), "an instance did not stop cleanly: {err}");
        }
    }

    /// Every instance log so far, for failure messages.
    fn logs(&self) -> String {
        (1..=self.started)
            .map(|i| {
                let path = self.dir.path().join(format!("arbiter-{i}.log"));
                format!(
                    "--- arbiter-{i}.log\n{}",
                    std::fs::read_to_string(path).unwrap_or_default()
                )
            })
            .collect()
    }

    fn record(&self) -> Option<GroupRecord> {
        let kv = self.etcd.get(&format!("{PREFIX}/record"), false).ok()??;
        serde_json::from_str(&kv.value).ok()
    }

    fn status(&self, i: usize) -> Option<NodeStatus> {
        self.redis.status(&self.nodes[i].addr()).ok()
    }

    fn index(&self, name: &str) -> usize {
        name.trim_start_matches('r').parse::<usize>().unwrap() - 1
    }

    /// Waits until the record names one primary that every answering node
    /// follows with its link up, and every answering node holds `KEYS`
    /// keys; the record.
    fn converged(&self, what: &str, limit: Duration) -> GroupRecord {
        let start = Instant::now();
        loop {
            if let Some(record) = self.record() {
                let p = self.index(&record.primary);
                let primary_addr = self.nodes[p].addr();
                let ok = (0..3).all(|i| match self.status(i) {
                    None => i != p,
                    Some(s) => {
                        let role_ok = if i == p {
                            s.role == Role::Primary
                        } else {
                            matches!(&s.role, Role::Replica { primary, link_up: true, .. } if *primary == primary_addr)
                        };
                        role_ok && self.nodes[i].keys() == Some(KEYS)
                    }
                });
                if ok {
                    return record;
                }
            }
            assert!(
                start.elapsed() < limit,
                "{what}: not converged within {limit:?}; record {:?}; nodes {:?}; keys {:?}\n{}",
                self.record(),
                (0..3).map(|i| self.status(i)).collect::<Vec<_>>(),
                self.nodes.iter().map(Node::keys).collect::<Vec<_>>(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Watches for `period`: the record and every node's role stay as they
    /// are (no flapping), and at most one node claims primary.
    fn steady(&self, record: &GroupRecord, period: Duration) {
        let roles = |rig: &Self| (0..3).map(|i| rig.status(i).map(|s| s.role)).collect::<Vec<_>>();
        let first = roles(self);
        let start = Instant::now();
        while start.elapsed() < period {
            assert_eq!(
                self.record().as_ref(),
                Some(record),
                "the record changed\n{}",
                self.logs()
            );
            let now = roles(self);
            assert_eq!(now, first, "roles changed\n{}", self.logs());
            let primaries = now.iter().filter(|r| matches!(r, Some(Role::Primary))).count();
            assert_eq!(primaries, 1, "{now:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn keys(&self) -> Vec<Option<u64>> {
        self.nodes.iter().map(Node::keys).collect()
    }

    /// The recording of the instance that acted among those started since
    /// `since` (the one whose calls include `call`), replayed with no
    /// server: its decisions. With `REHEARSE=record` it is also pinned as
    /// `scenarios/NAME.ron`, which plain `cargo test` replays
    /// (tests/live_scenarios.rs).
    fn replay_leader(&self, since: u32, call: &str, name: &str) -> Vec<String> {
        let path = (since + 1..=self.started)
            .map(|n| self.dir.path().join(format!("arbiter-{n}.ron")))
            .find(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains(call)))
            .unwrap_or_else(|| panic!("no recording with {call}\n{}", self.logs()));
        if std::env::var("REHEARSE").as_deref() == Ok("record") {
            let pinned = format!("{}/../../scenarios/{name}.ron", env!("CARGO_MANIFEST_DIR"));
            std::fs::copy(&path, pinned).unwrap();
        }
        let replayer = rehearse::Replayer::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut driver = arbiter::Driver::new(replayer);
        driver
            .run_to_end_of_recording(1_000_000)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(driver.machine().state(), &arbiter::State::Stopped);
        let names: Vec<(String, String)> = (0..3).map(|i| (self.nodes[i].addr(), format!("r{}", i + 1))).collect();
        decisions(driver.outputs(), &names)
    }
}

/// A run's decisions, in short (`publish r2`, `promote r2`, `repoint r1`),
/// nodes named through `names` (address, name).
fn decisions(outputs: &[arbiter::Output], names: &[(String, String)]) -> Vec<String> {
    let name = |addr: &str| {
        names
            .iter()
            .find(|(a, _)| a == addr)
            .map_or_else(|| addr.to_string(), |(_, n)| n.clone())
    };
    outputs
        .iter()
        .filter_map(|o| match o {
            arbiter::Output::Publish { record, .. } => Some(format!(
                "publish {}{}",
                record.primary,
                if record.lost_data { " (lost)" } else { "" }
            )),
            arbiter::Output::Promote { addr, .. } => Some(format!("promote {}", name(addr))),
            arbiter::Output::Repoint { addr, .. } => Some(format!("repoint {}", name(addr))),
            arbiter::Output::Resign { .. } => Some("resign".into()),
            _ => None,
        })
        .collect()
}

impl Drop for Rig {
    fn drop(&mut self) {
        for mut child in self.instances.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Rig {
    /// AOF on; the instances record r1 and stop. r2 stops (a host down,
    /// its AOF holding every key); r1 loses its disk and restarts empty;
    /// r3, still its replica, resyncs from it: its copy is gone too.
    fn away_r2_down_r1_loses_its_disk() -> Self {
        let mut rig = Self::start(true);
        rig.start_instances();
        wait_for_r1_record(&rig);
        rig.stop_instances();
        rig.nodes[1].kill();
        rig.nodes[0].kill();
        std::fs::remove_dir_all(rig.nodes[0].dir.join("appendonlydir")).unwrap();
        rig.nodes[0].restart(None);
        assert_eq!(rig.nodes[0].keys(), Some(0));
        support::eventually("r3 resyncs from the empty r1", Duration::from_secs(15), || {
            (rig.nodes[2].keys() == Some(0)).then_some(())
        });
        rig
    }
}

fn wait_for_r1_record(rig: &Rig) {
    support::eventually("the instances record r1", Duration::from_secs(20), || {
        rig.record().filter(|r| r.primary == "r1")
    });
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn instances_away_while_the_primary_dies() {
    let mut rig = Rig::start(false);
    rig.start_instances();
    wait_for_r1_record(&rig);

    // Every instance stops (a deploy); the primary dies meanwhile, and the
    // instances come back after longer than stale_after_ms.
    rig.stop_instances();
    rig.nodes[0].kill();
    std::thread::sleep(Duration::from_millis(STALE_AFTER_MS + 1500));
    let second_wave = rig.started;
    rig.start_instances();
    let record = rig.converged("failover after the instances return", Duration::from_secs(15));
    assert_ne!(record.primary, "r1", "{}", rig.logs());
    let (new, other) = if record.primary == "r2" {
        ("r2", "r3")
    } else {
        ("r3", "r2")
    };

    // The old primary comes back empty: made a replica of the new one, it
    // resyncs every key from it; nothing flaps.
    rig.nodes[0].restart(None);
    let after = rig.converged("the empty old primary rejoins", Duration::from_secs(15));
    assert_eq!(after, record, "no further failover\n{}", rig.logs());
    rig.steady(&record, Duration::from_secs(3));

    // The instances stop: every copy stays.
    rig.stop_instances();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(rig.keys(), vec![Some(KEYS); 3], "{}", rig.logs());

    // The acting instance's recording replays with every decision: the
    // record moves to the replica, it is promoted, the other follows it,
    // and the old primary, back empty, is repointed (each action starts
    // with a guarded write of the record); nothing else.
    let said = rig.replay_leader(second_wave, "Cluster::promote", "live_cold_restart");
    assert_eq!(
        said,
        [
            format!("publish {new}"),
            format!("promote {new}"),
            format!("repoint {other}"),
            format!("publish {new}"),
            "repoint r1".into(),
            "resign".into()
        ],
        "{}",
        rig.logs()
    );
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn a_restart_that_reloaded_its_aof_is_not_data_loss() {
    let mut rig = Rig::start(true);
    rig.start_instances();
    wait_for_r1_record(&rig);
    let record = rig.converged("settled", Duration::from_secs(15));
    let leader_log = rig.logs();
    let before = rig.status(0).unwrap();

    // The primary restarts with its AOF faster than down-after: a new run
    // id and replication id, offset 0, every key.
    rig.nodes[0].kill();
    rig.nodes[0].restart(None);
    let now = rig.status(0).unwrap();
    assert_ne!(now.run_id, before.run_id);
    assert!(now.offset < before.offset, "{now:?} after {before:?}");
    assert_eq!(now.keys, Some(KEYS));
    let after = rig.converged("the replicas resync from the reloaded primary", Duration::from_secs(15));
    assert_eq!(
        after,
        record,
        "no failover for a restart that kept its data\n{}",
        rig.logs()
    );
    assert!(
        !rig.logs().contains("node lost data"),
        "a reloaded AOF is not data loss\n{}",
        rig.logs()
    );
    assert!(
        rig.logs().contains("the primary restarted with its data"),
        "and the leader says so\n{}",
        rig.logs()
    );

    // A replica restarts with its AOF, as a primary: repointed, no cycle.
    rig.nodes[1].kill();
    rig.nodes[1].restart(None);
    let after = rig.converged("the restarted replica is repointed", Duration::from_secs(15));
    assert_eq!(after, record, "{}", rig.logs());
    rig.steady(&record, Duration::from_secs(2));
    rig.stop_instances();

    // The leader's recording: r1 recorded at start, r2 repointed (after a
    // guarded write of the same record), nothing else: no failover.
    let said = rig.replay_leader(0, "Election::publish", "live_aof_restart");
    assert_eq!(
        said,
        ["publish r1", "publish r1", "repoint r2", "resign"],
        "{leader_log}\n{}",
        rig.logs()
    );
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn instances_away_then_a_replica_restarts_with_its_aof() {
    let mut rig = Rig::start(true);
    rig.start_instances();
    wait_for_r1_record(&rig);
    rig.stop_instances();
    rig.nodes[0].kill();
    std::thread::sleep(Duration::from_millis(STALE_AFTER_MS + 1500));
    // r2 restarts with its AOF while nobody manages the group: back as a
    // primary holding every key.
    rig.nodes[1].kill();
    rig.nodes[1].restart(None);
    assert_eq!(rig.nodes[1].keys(), Some(KEYS));
    let second_wave = rig.started;
    rig.start_instances();
    let record = rig.converged("failover after the instances return", Duration::from_secs(15));
    assert_ne!(record.primary, "r1", "{}", rig.logs());
    rig.steady(&record, Duration::from_secs(2));
    rig.nodes[0].restart(None);
    let after = rig.converged("the old primary rejoins with its AOF", Duration::from_secs(15));
    assert_eq!(after, record, "{}", rig.logs());
    rig.stop_instances();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(rig.keys(), vec![Some(KEYS); 3], "{}", rig.logs());

    // r2, back as a primary against the record, is not pointed at the
    // recorded r1, which this leader never saw serve (it waits for r1 to
    // count as down); then the record moves to r3, which is promoted; r2
    // follows it, and r1 once it is back; one promotion, no cycle.
    let said = rig.replay_leader(second_wave, "Cluster::promote", "live_cold_restart_aof");
    let new = &record.primary;
    let promotions: Vec<&String> = said.iter().filter(|d| d.starts_with("promote")).collect();
    assert_eq!(promotions, [&format!("promote {new}")], "{said:?}");
    let failover = said.iter().position(|d| *d == format!("publish {new}")).unwrap();
    assert!(
        said[..failover].iter().all(|d| d == "publish r1" || d == "repoint r2"),
        "{said:?}"
    );
    assert!(said[failover..].contains(&"repoint r1".to_string()), "{said:?}");
    assert_eq!(said.last().map(String::as_str), Some("resign"), "{said:?}");
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn instances_away_the_primary_loses_its_disk_and_a_replica_restarts_with_its_aof() {
    // The simulation's seed-41 class on real servers: while no instance
    // runs, r1 (the recorded primary) comes back with its data directory
    // lost, r3 resyncs from it, and r2 restarts from its AOF, back as a
    // primary holding every key. The returning leader never saw any of
    // them: it must not point r2 at the empty r1 (the record's run id
    // tells it r1 restarted since), but record r2, and every node ends
    // with the data. Before the record kept the run id, r2 was repointed
    // at r1 and every copy was gone.
    let mut rig = Rig::away_r2_down_r1_loses_its_disk();
    // r2 comes back from its AOF, as a primary: the last copy.
    rig.nodes[1].restart(None);
    assert_eq!(rig.nodes[1].keys(), Some(KEYS));
    rig.start_instances();
    let record = rig.converged("the data left is recorded", Duration::from_secs(15));
    assert_eq!(record.primary, "r2", "{}", rig.logs());
    rig.steady(&record, Duration::from_secs(2));
    rig.stop_instances();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(rig.keys(), vec![Some(KEYS); 3], "{}", rig.logs());
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn a_copy_back_from_its_aof_after_a_failover_from_an_emptied_primary_is_the_data_left() {
    // The simulation's seed-818 class on real servers. While no instance
    // runs, r2 stops (its AOF holds every key), r1 (the recorded primary)
    // loses its disk and restarts empty, r3 resyncs from it, and clients
    // write a few new keys. The instances return, never having seen r2;
    // r1 dies and they fail over to r3, recording r3's own run id, so the
    // record no longer tells that this history began empty. Then r2 comes
    // back from its AOF holding every key, on another history. Its uptime
    // is shorter than the time the leader failed to reach it: it restarted
    // from disk (it is not an old primary that ran on behind a partition),
    // so it is the data left and is promoted. Before uptime was read, it
    // was repointed at r3 and every old key was gone.
    let mut rig = Rig::away_r2_down_r1_loses_its_disk();
    rig.nodes[0].write_new_keys(10);
    support::eventually("r3 holds the new keys", Duration::from_secs(15), || {
        (rig.nodes[2].keys() == Some(10)).then_some(())
    });
    let second_wave = rig.started;
    rig.start_instances();
    std::thread::sleep(Duration::from_secs(3)); // a leader, polling r2 in vain
    rig.nodes[0].kill();
    support::eventually("failover to r3", Duration::from_secs(15), || {
        rig.record().filter(|r| r.primary == "r3")
    });
    std::thread::sleep(Duration::from_secs(1));
    rig.nodes[1].restart(None);
    assert_eq!(rig.nodes[1].keys(), Some(KEYS));
    let record = rig.converged("the copy back from its AOF is recorded", Duration::from_secs(15));
    assert_eq!(record.primary, "r2", "{}", rig.logs());
    rig.steady(&record, Duration::from_secs(2));
    rig.stop_instances();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(rig.keys()[1..], [Some(KEYS), Some(KEYS)], "{}", rig.logs());
    let said = rig.replay_leader(second_wave, "Cluster::promote", "live_aof_copy_after_failover");
    let promoted: Vec<&String> = said.iter().filter(|s| s.starts_with("promote")).collect();
    assert_eq!(promoted, ["promote r3", "promote r2"], "{said:?}");
    assert!(!said.contains(&"repoint r2".to_string()), "{said:?}");
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn a_loss_every_copy_shares_is_settled_and_the_primary_serves_again() {
    // The simulation's seed-99070 class on real servers, persistence off.
    // Every node dies at once (a power cut); r1 comes back first, empty:
    // the leader marks it as having lost data, records the mark, and waits
    // (r2 and r3, which may hold the data, do not answer). Then r2 and r3
    // come back empty too: what r1 lost is gone from every copy. The
    // leader clears the mark, r2 and r3 follow r1, and what clients write
    // to r1 from then on is replicated. Before, the mark stayed for good:
    // blocked ("no replica is eligible"), r2 and r3 left as empty
    // primaries, r1 treated as failed although it held the most there was.
    let mut rig = Rig::start(false);
    rig.start_instances();
    wait_for_r1_record(&rig);
    rig.converged("settled", Duration::from_secs(15));
    for n in &mut rig.nodes {
        n.kill();
    }
    rig.nodes[0].restart(None);
    support::eventually("the leader records r1's loss", Duration::from_secs(15), || {
        rig.record().filter(|r| r.primary == "r1" && r.lost_data)
    });
    rig.nodes[1].restart(None);
    rig.nodes[2].restart(None);
    let r1 = rig.nodes[0].addr();
    support::eventually("the loss settles and r2, r3 follow r1", Duration::from_secs(15), || {
        rig.record().filter(|r| r.primary == "r1" && !r.lost_data)?;
        (1..3)
            .all(|i| {
                matches!(rig.status(i).map(|s| s.role),
                    Some(Role::Replica { primary, link_up: true, .. }) if primary == r1)
            })
            .then_some(())
    });
    rig.nodes[0].write_new_keys(10);
    support::eventually("r2 and r3 hold r1's new keys", Duration::from_secs(15), || {
        (rig.keys() == vec![Some(10); 3]).then_some(())
    });
    let logs = rig.logs();
    let lost = logs.lines().find(|l| l.contains("node lost data")).unwrap_or_default();
    assert!(
        lost.contains("keys=0 keys_before=1000"),
        "the loss says how much: {logs}"
    );
    assert!(logs.contains("clearing the loss mark on r1"), "{logs}");
    // (told once the round judged it, not in the middle of the round as a
    // restart that kept its data or lost only what no copy holds)
    assert!(!logs.contains("restarted with its data"), "{logs}");
    assert!(!logs.contains("restarted holding fewer keys"), "{logs}");
    rig.stop_instances();
    // The leader's recording: r1 recorded, its loss recorded, the two
    // empty nodes repointed at it, the mark cleared; no promotion.
    let said = rig.replay_leader(0, "Election::publish", "live_loss_settled");
    assert!(!said.iter().any(|d| d.starts_with("promote")), "{said:?}");
    let noted = said
        .iter()
        .position(|d| d == "publish r1 (lost)")
        .expect("the loss recorded");
    let after: Vec<&str> = said[noted..].iter().map(String::as_str).collect();
    assert!(
        after.contains(&"repoint r2") && after.contains(&"repoint r3"),
        "{said:?}"
    );
    let cleared = after
        .iter()
        .rposition(|d| *d == "publish r1")
        .expect("the mark cleared");
    assert!(after[..cleared].iter().any(|d| d.starts_with("repoint")), "{said:?}");
    assert_eq!(said.last().map(String::as_str), Some("resign"), "{said:?}");
}

/// r2 saves an RDB (`KEYS` keys), then r1 takes 200 more, which r2
/// replicates: the keys every node holds now.
fn r2_saves_then_r1_takes_200_keys(rig: &Rig) -> u64 {
    let mut con = rig.nodes[1].connection().unwrap();
    redis::cmd("SAVE").query::<()>(&mut con).unwrap();
    rig.nodes[0].write_new_keys(200);
    let held = KEYS + 200;
    support::eventually("r2 holds every key", Duration::from_secs(10), || {
        (rig.nodes[1].keys() == Some(held)).then_some(())
    });
    held
}

/// r2 is killed and restarted from its RDB: a primary holding `KEYS`.
fn r2_back_from_its_rdb(rig: &mut Rig) {
    rig.nodes[1].kill();
    rig.nodes[1].restart(None);
    assert_eq!(
        rig.status(1).map(|s| (s.role, s.keys)),
        Some((Role::Primary, Some(KEYS)))
    );
}

/// `arbiter <args> --config <the rig's config>`: exit code and output.
fn cli(rig: &Rig, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(args)
        .arg("--config")
        .arg(&rig.config)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// `REPLICAOF` on `node`: `primary`'s port, or `NO ONE`.
fn replicaof(node: &Node, primary: Option<&Node>) {
    let mut con = node.connection().unwrap();
    let mut cmd = redis::cmd("REPLICAOF");
    match primary {
        Some(p) => cmd.arg("127.0.0.1").arg(p.port),
        None => cmd.arg("NO").arg("ONE"),
    };
    cmd.query::<()>(&mut con).unwrap();
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn a_node_that_lost_data_is_not_adopted_as_a_finished_switchover() {
    // The simulation's seed-32516 class (also 67260, 113993) on real
    // servers, persistence off. The record names r3, a replica of r2 (a
    // failover whose promotion did not happen); r2, which the instances
    // saw hold every key as a primary, restarted empty and took 5 writes;
    // r3 resynced from it; r1, cut off from the failover, still claims
    // primary with every key and 20 more. Before the fix the new leader
    // adopted r2 as a finished switchover and repointed r1 at it: r1
    // resynced its 1,020 keys away, and every copy held 5.
    let mut rig = Rig::start(false);
    rig.start_instances();
    wait_for_r1_record(&rig);
    rig.converged("settled", Duration::from_secs(15));
    let (code, out) = cli(&rig, &["pause"]);
    assert_eq!(code, Some(0), "{out}");

    // Paused, the leader only watches (the followers too: issue 19).
    replicaof(&rig.nodes[1], None);
    replicaof(&rig.nodes[2], Some(&rig.nodes[1]));
    rig.nodes[0].write_new_keys(20);
    let r2_addr = rig.nodes[1].addr();
    support::eventually("r3 follows r2", Duration::from_secs(10), || {
        matches!(rig.status(2).map(|s| s.role),
            Some(Role::Replica { primary, link_up: true, .. }) if primary == r2_addr)
        .then_some(())
    });
    std::thread::sleep(Duration::from_secs(2)); // every instance sees r2 hold 1000 keys
    rig.nodes[1].kill();
    rig.nodes[1].restart(None);
    rig.nodes[1].write_new_keys(5);
    support::eventually("r3 resyncs from the emptied r2", Duration::from_secs(15), || {
        (rig.nodes[2].keys() == Some(5)).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2)); // and every instance sees that

    // The record names r3, as a failover that recorded it before its
    // promotion was defeated leaves it; then the leader stops, and a
    // follower (which watched it all) takes over with that record.
    let mut record = rig.record().unwrap();
    record.primary = "r3".into();
    record.run_id = rig.status(2).map(|s| s.run_id);
    rig.etcd
        .put(&format!("{PREFIX}/record"), &serde_json::to_string(&record).unwrap())
        .unwrap();
    let logs: Vec<String> = (1..=3)
        .map(|i| std::fs::read_to_string(rig.dir.path().join(format!("arbiter-{i}.log"))).unwrap_or_default())
        .collect();
    let leader = logs
        .iter()
        .position(|l| l.contains("leading the group"))
        .expect("a leader");
    let child = rig.instances.remove(leader);
    support::signal(&child, "-TERM");
    support::wait_exit(child);
    let (code, out) = cli(&rig, &["resume"]);
    assert_eq!(code, Some(0), "{out}");

    // The new leader keeps r1's data: r1 becomes the recorded primary, and
    // r2 and r3 resync every key from it.
    let r1_addr = rig.nodes[0].addr();
    let held = KEYS + 20;
    support::eventually(
        "r1 recorded, every copy holds its keys",
        Duration::from_secs(20),
        || {
            rig.record().filter(|r| r.primary == "r1")?;
            let follow = (1..3).all(|i| {
                matches!(rig.status(i).map(|s| s.role),
                Some(Role::Replica { primary, link_up: true, .. }) if primary == r1_addr)
            });
            (follow && rig.keys() == vec![Some(held); 3]).then_some(())
        },
    );
    rig.stop_instances();
    // The new leader's recording: it fails over from r3 to r1 (the record
    // moves to r1, r1 is promoted, r2 and r3 follow it); r2 is never
    // recorded.
    let said = rig.replay_leader(0, "Cluster::promote", "live_follows_lost_data");
    assert!(!said.iter().any(|d| d == "publish r2"), "{said:?}");
    let at = said.iter().position(|d| d == "publish r1").expect("r1 recorded");
    assert_eq!(said.get(at + 1).map(String::as_str), Some("promote r1"), "{said:?}");
    for r in ["repoint r2", "repoint r3"] {
        assert!(said[at..].iter().any(|d| d == r), "{said:?}");
    }
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn a_cold_start_claimant_that_reloaded_less_than_it_held_is_not_recorded() {
    // The simulation's seed-107954 class on real servers. No record yet;
    // r1 (the primary, every key and 200 more) is frozen (SIGSTOP), r3 is
    // down, and the instances see r2, a replica holding 1,200 keys. r2
    // restarts from an RDB saved when it held 1,000, and is the one node
    // claiming primary. Recorded, it would have r1 repointed at it once r1
    // answers, and r1's 200 keys resynced away. The instances wait
    // (`cold-start-reloaded`), also once r1 answers again (two claimants).
    let mut rig = Rig::start(false);
    let held = r2_saves_then_r1_takes_200_keys(&rig);
    support::signal(rig.nodes[0].child.as_ref().unwrap(), "-STOP");
    rig.nodes[2].kill();
    rig.start_instances();
    std::thread::sleep(Duration::from_secs(3)); // they see r2 as a replica holding 1,200
    assert_eq!(rig.record(), None);
    r2_back_from_its_rdb(&mut rig);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(rig.record(), None, "r2 is not recorded\n{}", rig.logs());
    support::signal(rig.nodes[0].child.as_ref().unwrap(), "-CONT");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(rig.record(), None, "{}", rig.logs());
    assert_eq!(rig.nodes[0].keys(), Some(held), "r1 keeps every key\n{}", rig.logs());
    let logs = rig.logs();
    let said = logs.lines().find(|l| l.contains("reason=\"cold-start-reloaded\""));
    assert!(
        said.is_some_and(|l| l.contains("held=1200") && l.contains("holds=1000")),
        "the instances say why they wait, with both counts\n{logs}"
    );
    rig.stop_instances();
    // A recording of one of them: it never wrote a record.
    let said = rig.replay_leader(0, "Cluster::node_status", "live_cold_start_reloaded");
    assert!(!said.iter().any(|d| d.starts_with("publish")), "{said:?}");
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn a_copy_is_not_recorded_over_a_marked_primary_no_instance_saw_however_long_it_is_silent() {
    // The simulation's seed-123154 class on real servers. The record names
    // r1 with a loss mark (an earlier leader saw it come back empty; it
    // took writes since: 1,200 keys). Every instance is new and r1 is
    // frozen (SIGSTOP), so none ever saw it; r3 is down; r2 is back from
    // an RDB saved at 1,000 keys, claiming primary. The wait for r1 used to
    // end after stale_after_ms: r2 was recorded, and r1, once it answered,
    // repointed at it and its 200 newer keys resynced away. Now the leader
    // waits however long r1 is silent, and r1 is kept once it answers.
    let mut rig = Rig::start(false);
    let held = r2_saves_then_r1_takes_200_keys(&rig);
    let record = GroupRecord {
        epoch: arbiter::types::Epoch(1),
        primary: "r1".into(),
        run_id: rig.status(0).map(|s| s.run_id),
        lost_data: true,
    };
    support::signal(rig.nodes[0].child.as_ref().unwrap(), "-STOP");
    rig.nodes[2].kill();
    r2_back_from_its_rdb(&mut rig);
    rig.etcd
        .put(&format!("{PREFIX}/record"), &serde_json::to_string(&record).unwrap())
        .unwrap();
    rig.start_instances();
    // Well past stale_after_ms of r1's silence.
    std::thread::sleep(Duration::from_millis(STALE_AFTER_MS * 2 + 2000));
    assert_eq!(
        rig.record().map(|r| r.primary).as_deref(),
        Some("r1"),
        "r2 is not recorded\n{}",
        rig.logs()
    );
    assert_eq!(rig.nodes[1].keys(), Some(KEYS));
    // r1 answers, then r3 (empty): once every node answers and none holds
    // more than r1, its loss is settled; it stays the primary, and r2 and
    // r3 resync its 1,200 keys.
    support::signal(rig.nodes[0].child.as_ref().unwrap(), "-CONT");
    rig.nodes[2].restart(None);
    let r1_addr = rig.nodes[0].addr();
    support::eventually("r2 and r3 follow r1 and hold its keys", Duration::from_secs(20), || {
        rig.record().filter(|r| r.primary == "r1" && !r.lost_data)?;
        let follow = (1..3).all(|i| {
            matches!(rig.status(i).map(|s| s.role),
                Some(Role::Replica { primary, link_up: true, .. }) if primary == r1_addr)
        });
        (follow && rig.keys() == vec![Some(held); 3]).then_some(())
    });
    rig.stop_instances();
    let said = rig.replay_leader(0, "Cluster::repoint", "live_marked_primary_unseen");
    assert!(
        !said
            .iter()
            .any(|d| d.starts_with("publish r2") || d.starts_with("promote")),
        "{said:?}"
    );
    for r in ["repoint r2", "repoint r3"] {
        assert!(said.iter().any(|d| d == r), "{said:?}");
    }
}
