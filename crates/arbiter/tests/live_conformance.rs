//! Conformance of the simulated world with the real one (issue 22, item 4).
//!
//! Each test runs ONE script of commands and faults twice: against real
//! `redis-server` processes (Debian's 7.0) or a real `etcd` (3.4), and
//! against the simulated models (`arbiter::sim::model::Model`,
//! `EtcdModel`). Each run writes down what it observed as named facts, in a
//! vocabulary both worlds share, and the two lists are compared fact by
//! fact:
//!
//! - role, the primary a replica follows, `master_link_status`;
//! - run ids and replication ids never as values (they are random), only as
//!   relations: every id gets a label in the order it is first seen
//!   (`run1`, `id1`, ...), so "changed", "unchanged", "replid2 is the old
//!   replid" and "a replica's replid is its primary's" all show as equal or
//!   different labels;
//! - offsets as relations ("= its primary's" for a replica; for a restart,
//!   "0" or "kept"), since the model counts writes and Redis bytes;
//! - keys exactly: every write is one `SET` of a new key on the real side
//!   and one entry of the write log in the model (model keys = log length,
//!   real keys = `INFO keyspace`);
//! - full resyncs served (real: `sync_full`, model: its "full resync"
//!   events), write refusals (`NOREPLICAS`, `READONLY`, no answer), and the
//!   replies to `FAILOVER TO`;
//! - etcd: leader, create revisions, revision deltas, keepalive and guarded
//!   transaction results.
//!
//! Every difference is either expected (listed with its reason in the
//! test, and in the README's "Conformance of the simulated world") or the
//! test fails; a listed difference that disappears fails too, so the list
//! stays true. The restarts under AOF and RDB persistence cannot run in the
//! model yet (its only restart is the empty one): for them the real server
//! is compared with the facts measured on this machine (`pinned_restart`),
//! and the comparison moves to the model by itself as soon as
//! `Sim::restart` supports the mode.
//!
//! The real servers run with `--repl-diskless-sync-delay 0`, so a full sync
//! starts at once instead of after Redis's default 5 s (one test sets the
//! delay back to 5 s on purpose, to keep a sync running). Every server is
//! killed on drop, also when a test fails. Run:
//! `cargo test -p arbiter --test live_conformance -- --include-ignored`.

use arbiter_testkit::servers as support;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arbiter::live::etcd::Etcd;
use arbiter::live::redis::{RedisNodes, parse_info, status_from_info};
use arbiter::sim::model::{EtcdModel, LEASE_TTL_MS, Model};
use arbiter::types::Epoch;
use arbiter::types::{GroupRecord, Leader, Millis, NodeId, RedisError, Role};

// ---------------------------------------------------------------------------
// The shared vocabulary.

/// How a node is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Persistence {
    /// Persistence off and no file left (a new host): comes back empty.
    Empty,
    /// Persistence off, restarted in its own directory after SIGKILL: a
    /// replica finds the RDB file its last full sync left there
    /// (`rdb-del-sync-files no`, the default) and loads it.
    OffInPlace,
    /// `appendonly yes`, restarted after `SHUTDOWN`.
    Aof,
    /// `save 3600 1`, restarted after `SHUTDOWN` (which saves).
    Rdb,
}

/// What one node reports.
#[derive(Debug, Clone)]
struct Obs {
    /// `None`: primary; `Some(j)`: replica of node `j` (`usize::MAX` when
    /// the address is none of the group's).
    follows: Option<usize>,
    link_up: bool,
    run_id: String,
    replid: String,
    /// `None` when there is none (`000...` in Redis, empty in the model).
    replid2: Option<String>,
    offset: u64,
    keys: u64,
    /// A `FAILOVER` is in flight on this node (`master_failover_state`
    /// other than `no-failover`; in the model, a handover from it).
    failover_pending: bool,
    /// A primary that still counts one of its replicas as not `online`
    /// (real Redis marks a replica online at its first ACK after the sync,
    /// a little after the replica reports its link up; `FAILOVER TO`
    /// refuses it until then). The model has no such state: always false.
    replicas_waiting: bool,
}

/// One world the scripts run against: real servers or the model.
trait Side {
    /// Number of Redis nodes.
    fn len(&self) -> usize;
    /// The node's report, `None` when it does not answer.
    fn status(&mut self, i: usize) -> Option<Obs>;
    /// `n` writes of new keys to node `i`: "ok" or why the first one failed.
    fn write(&mut self, i: usize, n: usize) -> String;
    /// Whether node `i` would take a write now, without changing its data.
    fn probe(&mut self, i: usize) -> String;
    /// `REPLICAOF NO ONE`.
    fn promote(&mut self, i: usize) -> String;
    /// `REPLICAOF` node `j`.
    fn repoint(&mut self, i: usize, j: usize) -> String;
    /// `FAILOVER TO target TIMEOUT ms` sent to `p`.
    fn failover(&mut self, p: usize, target: usize, timeout_ms: u64) -> String;
    /// SIGKILL.
    fn crash(&mut self, i: usize);
    /// Restart node `i` (crashed or not) as a primary; false when this side
    /// cannot restart under `mode`.
    fn restart(&mut self, i: usize, mode: Persistence) -> bool;
    /// SIGSTOP / SIGCONT.
    fn pause(&mut self, i: usize);
    fn resume(&mut self, i: usize);
    /// `min-replicas-to-write n` (and `min-replicas-max-lag 1`).
    fn set_min_replicas(&mut self, i: usize, n: usize);
    /// Make full syncs served by node `i` take seconds (real: diskless
    /// sync delay 5 s; the model's full sync always takes `FULL_SYNC_MS`).
    fn slow_full_syncs(&mut self, i: usize);
    /// Let `ms` pass.
    fn sleep(&mut self, ms: u64);
    /// Full resyncs served so far, by every node.
    fn full_syncs(&mut self) -> u64;
}

/// The facts one run observed, in order, with the random ids labelled.
#[derive(Default)]
struct Rec {
    facts: Vec<(String, String)>,
    labels: BTreeMap<(String, String), String>,
    counts: BTreeMap<String, usize>,
    /// Why this side could not run the script (a mode the model lacks).
    unsupported: Option<String>,
}

impl Rec {
    fn fact(&mut self, name: impl Into<String>, value: impl ToString) {
        self.facts.push((name.into(), value.to_string()));
    }

    /// The label of id `raw` of `kind` (`run`, `id`): the first id seen is
    /// `kind1`, the next new one `kind2`...
    fn label(&mut self, kind: &str, raw: &str) -> String {
        if let Some(l) = self.labels.get(&(kind.to_string(), raw.to_string())) {
            return l.clone();
        }
        let n = self.counts.entry(kind.to_string()).or_insert(0);
        *n += 1;
        let l = format!("{kind}{n}");
        self.labels.insert((kind.to_string(), raw.to_string()), l.clone());
        l
    }
}

fn node(i: usize) -> String {
    format!("r{}", i + 1)
}

/// Writes down the report of each of `nodes` as facts named `at: rN ...`;
/// returns every node's report.
fn snap(s: &mut dyn Side, rec: &mut Rec, at: &str, nodes: &[usize]) -> Vec<Option<Obs>> {
    let all: Vec<Option<Obs>> = (0..s.len()).map(|i| s.status(i)).collect();
    for &i in nodes {
        let k = format!("{at}: {}", node(i));
        let Some(o) = all[i].clone() else {
            rec.fact(format!("{k} answers"), "no");
            continue;
        };
        let role = match o.follows {
            None => "primary".to_string(),
            Some(usize::MAX) => "replica of an unknown address".to_string(),
            Some(j) => format!("replica of {}", node(j)),
        };
        rec.fact(format!("{k} role"), role);
        if let Some(j) = o.follows {
            rec.fact(format!("{k} master_link_status"), if o.link_up { "up" } else { "down" });
            // Offsets as relations: the model counts writes, Redis bytes.
            let rel = match all.get(j).and_then(Option::as_ref) {
                Some(p) if o.offset == p.offset => "= its primary's",
                Some(p) if o.offset < p.offset => "< its primary's",
                Some(_) => "> its primary's",
                None => "its primary does not answer",
            };
            rec.fact(format!("{k} offset"), rel);
        }
        let run = rec.label("run", &o.run_id);
        rec.fact(format!("{k} run_id"), run);
        let replid = rec.label("id", &o.replid);
        rec.fact(format!("{k} replid"), replid);
        let replid2 = o.replid2.as_ref().map_or("none".to_string(), |r| rec.label("id", r));
        rec.fact(format!("{k} replid2"), replid2);
        rec.fact(format!("{k} keys"), o.keys);
        rec.fact(
            format!("{k} failover"),
            if o.failover_pending { "in progress" } else { "none" },
        );
    }
    all
}

/// Waits (in the side's time) until every answering replica's link is up
/// with its primary's offset and no `FAILOVER` is in flight, in two polls
/// 50 ms apart (a handover or a link may have one more step to take);
/// whether it happened within `limit_ms`.
fn settle(s: &mut dyn Side, limit_ms: u64) -> bool {
    let mut waited = 0;
    let mut polls = 0;
    loop {
        let all: Vec<Option<Obs>> = (0..s.len()).map(|i| s.status(i)).collect();
        let settled = all.iter().flatten().all(|o| {
            !o.failover_pending
                && !o.replicas_waiting
                && o.follows.is_none_or(|j| {
                    o.link_up
                        && all
                            .get(j)
                            .and_then(Option::as_ref)
                            .is_some_and(|p| p.offset == o.offset && !p.failover_pending)
                })
        });
        polls = if settled { polls + 1 } else { 0 };
        if polls == 2 {
            return true;
        }
        if waited >= limit_ms {
            return false;
        }
        s.sleep(50);
        waited += 50;
    }
}

/// One comparison's outcome: the table, and the differences that are not
/// listed or are listed but gone.
fn compare(scenario: &str, real: &Rec, other: &Rec, other_name: &str, known: &[(&str, &str)]) {
    let mut table = format!("{scenario}: real vs {other_name}\n");
    let theirs: BTreeMap<&str, &str> = other.facts.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let ours: BTreeSet<&str> = real.facts.iter().map(|(k, _)| k.as_str()).collect();
    let mut differ = BTreeSet::new();
    for (k, v) in &real.facts {
        let t = theirs.get(k.as_str()).copied().unwrap_or("(not observed)");
        let same = t == v;
        if !same {
            differ.insert(k.clone());
        }
        let _ = writeln!(
            table,
            "  {} {k}: real {v} | {other_name} {t}",
            if same { "  " } else { "!=" }
        );
    }
    for (k, v) in &other.facts {
        if !ours.contains(k.as_str()) {
            differ.insert(k.clone());
            let _ = writeln!(table, "  != {k}: real (not observed) | {other_name} {v}");
        }
    }
    let listed: BTreeSet<String> = known.iter().map(|(k, _)| (*k).to_string()).collect();
    let new: Vec<&String> = differ.difference(&listed).collect();
    let gone: Vec<&String> = listed.difference(&differ).collect();
    println!("{table}");
    assert!(
        new.is_empty() && gone.is_empty(),
        "{table}\nunlisted differences: {new:?}\nlisted differences that no longer differ (update the list and the README): {gone:?}"
    );
}

// ---------------------------------------------------------------------------
// The model side: the one adapter that drives `Model` (extend `restart`
// when the model gets persistence modes).

/// The simulated world, driven as the scripts drive real servers.
struct Sim {
    m: Model,
    /// Each command goes under a newer epoch (the model's fence).
    epoch: i64,
}

impl Sim {
    fn new(n: usize) -> Self {
        let mut m = Model::new(n, 0);
        m.advance(10);
        Self { m, epoch: 0 }
    }

    fn next_epoch(&mut self) -> Epoch {
        self.epoch += 1;
        Epoch(self.epoch)
    }

    fn answer(r: Result<(), RedisError>) -> String {
        match r {
            Ok(()) => "OK".into(),
            Err(RedisError::Refused(m)) => classify(&m),
            Err(RedisError::Timeout) => "no answer".into(),
            Err(e) => format!("error: {e}"),
        }
    }

    /// Why the model would not take a write on node `i` now.
    fn refusal(&self, i: usize) -> String {
        let n = &self.m.nodes[i];
        if !self.m.answering(i) {
            "no answer".into()
        } else if n.replica_of.is_some() {
            "READONLY".into()
        } else if self.m.handover.is_some_and(|h| h.from == i) {
            "no answer".into() // Redis pauses writes: the client waits
        } else {
            "NOREPLICAS".into()
        }
    }
}

impl Side for Sim {
    fn len(&self) -> usize {
        self.m.nodes.len()
    }

    fn status(&mut self, i: usize) -> Option<Obs> {
        if !self.m.answering(i) {
            return None;
        }
        let s = self.m.status(i);
        let n = &self.m.nodes[i];
        let (follows, link_up) = match &s.role {
            Role::Primary => (None, false),
            Role::Replica { primary, link_up, .. } => (Some(self.m.node_at(primary).unwrap_or(usize::MAX)), *link_up),
        };
        Some(Obs {
            follows,
            link_up,
            run_id: s.run_id,
            replid: s.replid,
            replid2: (!n.replid2.is_empty()).then(|| n.replid2.clone()),
            offset: s.offset,
            keys: s.keys.unwrap_or(0),
            failover_pending: self.m.handover.is_some_and(|h| h.from == i),
            replicas_waiting: false,
        })
    }

    fn write(&mut self, i: usize, n: usize) -> String {
        for _ in 0..n {
            if !self.m.writable(i) {
                return self.refusal(i);
            }
            self.m.client.target = i;
            let acked = self.m.client.acked.len();
            self.m.client_write();
            if self.m.client.acked.len() == acked {
                return "no answer".into();
            }
        }
        self.sleep(10);
        "ok".into()
    }

    fn probe(&mut self, i: usize) -> String {
        if self.m.writable(i) {
            "ok".into()
        } else {
            self.refusal(i)
        }
    }

    fn promote(&mut self, i: usize) -> String {
        let e = self.next_epoch();
        Self::answer(self.m.promote(i, e))
    }

    fn repoint(&mut self, i: usize, j: usize) -> String {
        let e = self.next_epoch();
        let addr = self.m.nodes[j].addr.clone();
        Self::answer(self.m.repoint(i, &addr, e))
    }

    fn failover(&mut self, p: usize, target: usize, timeout_ms: u64) -> String {
        let e = self.next_epoch();
        Self::answer(self.m.failover(p, target, e, timeout_ms))
    }

    fn crash(&mut self, i: usize) {
        self.m.crash(i);
    }

    fn restart(&mut self, i: usize, mode: Persistence) -> bool {
        match mode {
            // The model's only restart: persistence off is always empty.
            Persistence::Empty | Persistence::OffInPlace => {
                self.m.crash(i);
                self.m.restart_empty(i);
                true
            }
            // Not in the model on this branch: extend here.
            Persistence::Aof | Persistence::Rdb => false,
        }
    }

    fn pause(&mut self, i: usize) {
        self.m.nodes[i].paused_until = Millis::MAX;
    }

    fn resume(&mut self, i: usize) {
        self.m.nodes[i].paused_until = self.m.now;
    }

    fn set_min_replicas(&mut self, i: usize, n: usize) {
        self.m.nodes[i].min_replicas_to_write = n;
    }

    fn slow_full_syncs(&mut self, _i: usize) {}

    fn sleep(&mut self, ms: u64) {
        let end = self.m.now + ms;
        while self.m.now < end {
            let t = (self.m.now + 10).min(end);
            self.m.advance(t);
        }
    }

    fn full_syncs(&mut self) -> u64 {
        self.m
            .events
            .iter()
            .filter(|e| e.what().starts_with("full resync:"))
            .count() as u64
    }
}

// ---------------------------------------------------------------------------
// The real side.

/// One `redis-server` whose directory outlives its process.
struct RealNode {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    persistence: Persistence,
    /// `sync_full` of its earlier processes.
    full_syncs_before: u64,
}

/// Real `redis-server` processes, all killed on drop.
struct Real {
    nodes: Vec<RealNode>,
    next_key: u64,
}

impl Drop for Real {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill(); // SIGKILL also ends a stopped process
                let _ = c.wait();
            }
        }
    }
}

fn addr(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// A command to `port` with `timeout` for connecting and answering.
fn query<T: redis::FromRedisValue>(port: u16, timeout: Duration, cmd: &redis::Cmd) -> redis::RedisResult<T> {
    let client = redis::Client::open(format!("redis://{}/", addr(port)))?;
    let mut con = client.get_connection_with_timeout(timeout)?;
    con.set_read_timeout(Some(timeout))?;
    con.set_write_timeout(Some(timeout))?;
    cmd.query(&mut con)
}

/// A Redis error or reply text in the shared vocabulary.
fn classify(text: &str) -> String {
    let t = text.to_string();
    if t.contains("NOREPLICAS") {
        "NOREPLICAS".into()
    } else if t.contains("READONLY") || t.contains("read only replica") {
        "READONLY".into()
    } else if t.contains("not online") {
        "refused: target not online".into()
    } else if t.contains("not valid when server is a replica") {
        "refused: sent to a replica".into()
    } else if t.contains("not a replica") {
        "refused: target not a replica".into()
    } else {
        format!("error: {t}")
    }
}

fn real_error(e: &redis::RedisError) -> String {
    if e.is_timeout() {
        "no answer".into()
    } else {
        classify(&e.to_string())
    }
}

impl Real {
    /// Node 0 primary, the others its replicas (linked, in sync), each
    /// with its persistence mode.
    fn new(modes: &[Persistence]) -> Self {
        let mut real = Self {
            nodes: Vec::new(),
            next_key: 0,
        };
        for &mode in modes {
            real.nodes.push(RealNode {
                port: support::free_port(),
                dir: tempfile::tempdir().unwrap(),
                child: None,
                persistence: mode,
                full_syncs_before: 0,
            });
        }
        for i in 0..modes.len() {
            let primary = (i > 0).then(|| real.nodes[0].port);
            real.start(i, primary);
        }
        assert!(settle(&mut real, 20_000), "the real replicas did not link");
        real
    }

    fn start(&mut self, i: usize, primary: Option<u16>) {
        let n = &mut self.nodes[i];
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &n.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(n.dir.path())
            .args(["--repl-diskless-sync-delay", "0"]);
        match n.persistence {
            Persistence::Empty | Persistence::OffInPlace => cmd.args(["--save", "", "--appendonly", "no"]),
            Persistence::Aof => cmd.args(["--save", "", "--appendonly", "yes"]),
            Persistence::Rdb => cmd.args(["--save", "3600 1", "--appendonly", "no"]),
        };
        if let Some(p) = primary {
            cmd.args(["--replicaof", "127.0.0.1", &p.to_string()]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server not found: run scripts/test, which installs it");
        n.child = Some(child);
        let port = n.port;
        let start = Instant::now();
        while query::<String>(port, Duration::from_millis(200), &redis::cmd("PING")).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "redis-server on {port} did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn info(&self, i: usize) -> Option<BTreeMap<String, String>> {
        let text: String = query(
            self.nodes[i].port,
            Duration::from_millis(300),
            redis::cmd("INFO")
                .arg("server")
                .arg("replication")
                .arg("keyspace")
                .arg("stats"),
        )
        .ok()?;
        Some(parse_info(&text))
    }

    fn signal(&self, i: usize, sig: &str) {
        if let Some(c) = &self.nodes[i].child {
            let ok = Command::new("kill").args([sig, &c.id().to_string()]).status().unwrap();
            assert!(ok.success());
        }
    }

    fn nodes_client(&self) -> RedisNodes {
        RedisNodes::new(Duration::from_secs(1), None)
    }

    /// Ends node `i`'s process: SIGKILL, or `SHUTDOWN` (saving what its
    /// persistence saves) when `graceful`.
    fn stop(&mut self, i: usize, graceful: bool) {
        if let Some(info) = self.info(i) {
            self.nodes[i].full_syncs_before += info.get("sync_full").and_then(|v| v.parse().ok()).unwrap_or(0);
        }
        let Some(mut child) = self.nodes[i].child.take() else {
            return;
        };
        if graceful {
            // The connection drops as the server exits: no reply to read.
            let _ = query::<String>(self.nodes[i].port, Duration::from_secs(15), &redis::cmd("SHUTDOWN"));
            let start = Instant::now();
            while child.try_wait().unwrap().is_none() {
                if start.elapsed() > Duration::from_secs(15) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Side for Real {
    fn len(&self) -> usize {
        self.nodes.len()
    }

    fn status(&mut self, i: usize) -> Option<Obs> {
        self.nodes[i].child.as_ref()?;
        let info = self.info(i)?;
        let s = status_from_info(&info).ok()?;
        let (follows, link_up) = match &s.role {
            Role::Primary => (None, false),
            Role::Replica { primary, link_up, .. } => (
                Some(
                    self.nodes
                        .iter()
                        .position(|n| addr(n.port) == *primary)
                        .unwrap_or(usize::MAX),
                ),
                *link_up,
            ),
        };
        let replid2 = info
            .get("master_replid2")
            .filter(|r| r.chars().any(|c| c != '0'))
            .cloned();
        Some(Obs {
            follows,
            link_up,
            run_id: s.run_id,
            replid: s.replid,
            replid2,
            offset: s.offset,
            keys: s.keys.unwrap_or(0),
            failover_pending: info.get("master_failover_state").is_some_and(|f| f != "no-failover"),
            replicas_waiting: info.iter().any(|(k, v)| {
                k.strip_prefix("slave").is_some_and(|n| n.parse::<u32>().is_ok()) && !v.contains("state=online")
            }),
        })
    }

    fn write(&mut self, i: usize, n: usize) -> String {
        for _ in 0..n {
            self.next_key += 1;
            let key = format!("k{}", self.next_key);
            let r = query::<String>(
                self.nodes[i].port,
                Duration::from_millis(400),
                redis::cmd("SET").arg(&key).arg("v"),
            );
            if let Err(e) = r {
                return real_error(&e);
            }
        }
        "ok".into()
    }

    fn probe(&mut self, i: usize) -> String {
        // DEL of a key that never exists: a write command (refused with
        // NOREPLICAS or READONLY, held during a FAILOVER) that changes
        // nothing.
        match query::<i64>(
            self.nodes[i].port,
            Duration::from_millis(400),
            redis::cmd("DEL").arg("conformance-probe"),
        ) {
            Ok(_) => "ok".into(),
            Err(e) => real_error(&e),
        }
    }

    fn promote(&mut self, i: usize) -> String {
        real_answer(self.nodes_client().promote(&addr(self.nodes[i].port)))
    }

    fn repoint(&mut self, i: usize, j: usize) -> String {
        real_answer(
            self.nodes_client()
                .repoint(&addr(self.nodes[i].port), &addr(self.nodes[j].port)),
        )
    }

    fn failover(&mut self, p: usize, target: usize, timeout_ms: u64) -> String {
        real_answer(
            self.nodes_client()
                .failover(&addr(self.nodes[p].port), &addr(self.nodes[target].port), timeout_ms),
        )
    }

    fn crash(&mut self, i: usize) {
        self.stop(i, false);
    }

    fn restart(&mut self, i: usize, mode: Persistence) -> bool {
        assert!(
            matches!(
                (mode, self.nodes[i].persistence),
                (
                    Persistence::Empty | Persistence::OffInPlace,
                    Persistence::Empty | Persistence::OffInPlace
                )
            ) || mode == self.nodes[i].persistence,
            "node {i} runs with {:?}, not {mode:?}",
            self.nodes[i].persistence
        );
        match mode {
            Persistence::Empty => {
                self.stop(i, false);
                self.nodes[i].dir = tempfile::tempdir().unwrap();
            }
            Persistence::OffInPlace => self.stop(i, false),
            Persistence::Aof | Persistence::Rdb => self.stop(i, true),
        }
        self.start(i, None);
        true
    }

    fn pause(&mut self, i: usize) {
        self.signal(i, "-STOP");
    }

    fn resume(&mut self, i: usize) {
        self.signal(i, "-CONT");
    }

    fn set_min_replicas(&mut self, i: usize, n: usize) {
        let r = self
            .nodes_client()
            .set_min_replicas(&addr(self.nodes[i].port), n as u32, 1);
        assert_eq!(r, Ok(()));
    }

    fn slow_full_syncs(&mut self, i: usize) {
        let _: String = query(
            self.nodes[i].port,
            Duration::from_secs(1),
            redis::cmd("CONFIG").arg("SET").arg("repl-diskless-sync-delay").arg(5),
        )
        .unwrap();
    }

    fn sleep(&mut self, ms: u64) {
        std::thread::sleep(Duration::from_millis(ms));
    }

    fn full_syncs(&mut self) -> u64 {
        (0..self.nodes.len())
            .map(|i| {
                let now = self.nodes[i]
                    .child
                    .as_ref()
                    .and_then(|_| self.info(i))
                    .and_then(|info| info.get("sync_full").and_then(|v| v.parse::<u64>().ok()))
                    .unwrap_or(0);
                self.nodes[i].full_syncs_before + now
            })
            .sum()
    }
}

fn real_answer(r: Result<(), RedisError>) -> String {
    match r {
        Ok(()) => "OK".into(),
        Err(RedisError::Refused(m)) => classify(&m),
        Err(RedisError::Timeout) => "no answer".into(),
        Err(e) => format!("error: {e}"),
    }
}

// ---------------------------------------------------------------------------
// The Redis scripts.

const ALL3: [usize; 3] = [0, 1, 2];

/// Replication, a promotion, and the partial resyncs of a repoint.
fn promotion_and_partial_resync(s: &mut dyn Side, rec: &mut Rec) {
    rec.fact("write 20 to r1", s.write(0, 20));
    rec.fact("settled", settle(s, 10_000));
    let base = s.full_syncs();
    snap(s, rec, "in sync", &ALL3);
    rec.fact("write to the replica r2", s.write(1, 1));
    rec.fact("promote r2", s.promote(1));
    snap(s, rec, "r2 promoted", &[1]);
    rec.fact("write 5 to r2", s.write(1, 5));
    rec.fact("repoint r1 to r2", s.repoint(0, 1));
    rec.fact("repoint r3 to r2", s.repoint(2, 1));
    rec.fact("settled again", settle(s, 10_000));
    snap(s, rec, "repointed", &ALL3);
    rec.fact("full resyncs for the repoints", s.full_syncs() - base);
}

/// `writes` keys written to r1 and replicated (snapped as `at`), then r1
/// killed and 300 ms let pass; the full resyncs served before the kill.
fn in_sync_then_r1_killed(s: &mut dyn Side, rec: &mut Rec, writes: usize, at: &str) -> u64 {
    rec.fact(format!("write {writes} to r1"), s.write(0, writes));
    rec.fact("settled", settle(s, 10_000));
    let base = s.full_syncs();
    snap(s, rec, at, &ALL3);
    s.crash(0);
    s.sleep(300);
    base
}

/// The data-loss case: the primary restarts empty and its replicas
/// full-resync from it, ending with 0 keys.
fn empty_primary_restart(s: &mut dyn Side, rec: &mut Rec) {
    let base = in_sync_then_r1_killed(s, rec, 50, "before");
    snap(s, rec, "r1 down", &[0, 1]);
    s.restart(0, Persistence::Empty);
    let after = snap(s, rec, "r1 restarted", &[0]);
    rec.fact(
        "r1 restarted: offset",
        after[0]
            .as_ref()
            .map_or("-", |o| if o.offset == 0 { "0" } else { "> 0" }),
    );
    rec.fact("settled after the restart", settle(s, 10_000));
    snap(s, rec, "replicas resynced", &ALL3);
    rec.fact("full resyncs", s.full_syncs() - base);
}

/// A replica whose own link is down serves no sync (`-NOMASTERLINK`):
/// r3 pointed at r2 after r1 died, and the emptied r1 pointed at r2 while
/// r2 still follows it, all keep their data (r2's 20 keys do not resync
/// away from the empty r1); once r2 is promoted, both sync from it.
fn unlinked_replica_serves_no_sync(s: &mut dyn Side, rec: &mut Rec) {
    let base = in_sync_then_r1_killed(s, rec, 20, "in sync");
    rec.fact("repoint r3 to r2, whose link is down", s.repoint(2, 1));
    s.sleep(2500);
    snap(s, rec, "r3 behind the unlinked r2", &[1, 2]);
    // (r2 paused while r1 comes back empty and is pointed at it: r2's
    // reconnection to r1 cannot come before r1 is a replica)
    s.pause(1);
    s.restart(0, Persistence::Empty);
    rec.fact("repoint the emptied r1 to r2", s.repoint(0, 1));
    s.resume(1);
    s.sleep(2500);
    snap(s, rec, "r1 and r2 point at each other", &ALL3);
    rec.fact("full resyncs while unlinked", s.full_syncs() - base);
    rec.fact("promote r2", s.promote(1));
    rec.fact("settled after the promotion", settle(s, 10_000));
    snap(s, rec, "both follow r2", &ALL3);
}

/// A replica restarted in place with persistence off.
fn replica_restart_in_place(s: &mut dyn Side, rec: &mut Rec) {
    rec.fact("write 20 to r1", s.write(0, 20));
    rec.fact("settled", settle(s, 10_000));
    // r2 comes back empty on a new host and full-syncs the 20 keys: Redis
    // leaves them in its directory as dump.rdb (`rdb-del-sync-files no`).
    rec.fact("restart r2 empty", s.restart(1, Persistence::Empty));
    rec.fact("repoint r2 to r1", s.repoint(1, 0));
    rec.fact("settled after the full sync", settle(s, 10_000));
    rec.fact("write 10 to r1", s.write(0, 10));
    rec.fact("settled again", settle(s, 10_000));
    let base = s.full_syncs();
    snap(s, rec, "before", &[1]);
    rec.fact("restart r2 in place", s.restart(1, Persistence::OffInPlace));
    let after = snap(s, rec, "r2 restarted", &[1]);
    rec.fact(
        "r2 restarted: offset",
        after[1]
            .as_ref()
            .map_or("-", |o| if o.offset == 0 { "0" } else { "> 0" }),
    );
    rec.fact("repoint r2 to r1 again", s.repoint(1, 0));
    rec.fact("settled at the end", settle(s, 10_000));
    snap(s, rec, "r2 relinked", &[1]);
    rec.fact("full resyncs to relink r2", s.full_syncs() - base);
}

/// Node r1 (primary, with replica r2) restarted under `mode`.
fn restart_under(s: &mut dyn Side, rec: &mut Rec, mode: Persistence) {
    rec.fact("write 30 to r1", s.write(0, 30));
    rec.fact("settled", settle(s, 10_000));
    let base = s.full_syncs();
    let before = snap(s, rec, "before", &[0, 1]);
    if !s.restart(0, mode) {
        rec.unsupported = Some(format!("{mode:?} restarts"));
        return;
    }
    let after = snap(s, rec, "r1 restarted", &[0]);
    let (b, a) = (
        before[0].as_ref().unwrap().offset,
        after[0].as_ref().map_or(u64::MAX, |o| o.offset),
    );
    let rel = if a == 0 {
        "0 (reset)"
    } else if a == u64::MAX {
        "-"
    } else if a >= b {
        "kept"
    } else {
        "reduced"
    };
    rec.fact("r1 restarted: offset", rel);
    rec.fact("settled after the restart", settle(s, 10_000));
    snap(s, rec, "r2 relinked", &[0, 1]);
    rec.fact("full resyncs after the restart", s.full_syncs() - base);
}

/// The facts measured on this machine for the restarts the model cannot
/// run yet, in `restart_under`'s vocabulary.
fn pinned_restart(mode: Persistence) -> Rec {
    let mut rec = Rec::default();
    let common = |rec: &mut Rec| {
        rec.fact("write 30 to r1", "ok");
        rec.fact("settled", true);
        for (r, role) in [("r1", "primary"), ("r2", "replica of r1")] {
            rec.fact(format!("before: {r} role"), role);
            if r == "r2" {
                rec.fact("before: r2 master_link_status", "up");
                rec.fact("before: r2 offset", "= its primary's");
            }
            rec.fact(format!("before: {r} run_id"), if r == "r1" { "run1" } else { "run2" });
            rec.fact(format!("before: {r} replid"), "id1");
            rec.fact(format!("before: {r} replid2"), "none");
            rec.fact(format!("before: {r} keys"), 30);
            rec.fact(format!("before: {r} failover"), "none");
        }
        rec.fact("r1 restarted: r1 role", "primary");
        rec.fact("r1 restarted: r1 run_id", "run3");
        rec.fact("r1 restarted: r1 replid", "id2");
    };
    common(&mut rec);
    match mode {
        // AOF: new run id, new replid, no replid2, offset 0, every key; the
        // replica cannot continue (new history): one full resync, keys kept.
        Persistence::Aof => {
            rec.fact("r1 restarted: r1 replid2", "none");
            rec.fact("r1 restarted: r1 keys", 30);
            rec.fact("r1 restarted: r1 failover", "none");
            rec.fact("r1 restarted: offset", "0 (reset)");
        }
        // RDB after SHUTDOWN as primary: new replid, replid2 the old one,
        // offset kept, keys kept; the replica continues partially.
        Persistence::Rdb => {
            rec.fact("r1 restarted: r1 replid2", "id1");
            rec.fact("r1 restarted: r1 keys", 30);
            rec.fact("r1 restarted: r1 failover", "none");
            rec.fact("r1 restarted: offset", "kept");
        }
        _ => unreachable!("the model runs the other modes"),
    }
    rec.fact("settled after the restart", true);
    rec.fact("r2 relinked: r1 role", "primary");
    rec.fact("r2 relinked: r1 run_id", "run3");
    // After an AOF restart the primary has no backlog: its first replica
    // gives it yet another replid. An RDB restart rebuilt the backlog.
    let relinked = if mode == Persistence::Rdb { "id2" } else { "id3" };
    rec.fact("r2 relinked: r1 replid", relinked);
    rec.fact(
        "r2 relinked: r1 replid2",
        if mode == Persistence::Rdb { "id1" } else { "none" },
    );
    rec.fact("r2 relinked: r1 keys", 30);
    rec.fact("r2 relinked: r1 failover", "none");
    rec.fact("r2 relinked: r2 role", "replica of r1");
    rec.fact("r2 relinked: r2 master_link_status", "up");
    rec.fact("r2 relinked: r2 offset", "= its primary's");
    rec.fact("r2 relinked: r2 run_id", "run2");
    rec.fact("r2 relinked: r2 replid", relinked);
    // A replica that continued partially from an RDB-restarted primary
    // shifts the old id into its replid2, as the primary did.
    rec.fact(
        "r2 relinked: r2 replid2",
        if mode == Persistence::Rdb { "id1" } else { "none" },
    );
    rec.fact("r2 relinked: r2 keys", 30);
    rec.fact("r2 relinked: r2 failover", "none");
    rec.fact(
        "full resyncs after the restart",
        if mode == Persistence::Rdb { 0 } else { 1 },
    );
    rec
}

/// `FAILOVER TO` accepted: roles swapped, a third replica left on the old
/// primary until repointed.
fn failover_hand_over(s: &mut dyn Side, rec: &mut Rec) {
    rec.fact("write 10 to r1", s.write(0, 10));
    rec.fact("settled", settle(s, 10_000));
    let base = s.full_syncs();
    snap(s, rec, "before", &ALL3);
    rec.fact("FAILOVER TO r2", s.failover(0, 1, 5000));
    rec.fact("handed over", settle(s, 10_000));
    snap(s, rec, "handed over", &ALL3);
    rec.fact("full resyncs in the handover", s.full_syncs() - base);
    rec.fact("write 5 to r2", s.write(1, 5));
    rec.fact("repoint r3 to r2", s.repoint(2, 1));
    rec.fact("settled after the repoint", settle(s, 10_000));
    snap(s, rec, "r3 repointed", &ALL3);
}

/// `FAILOVER TO` a paused target that lags: accepted, writes held, given
/// up at the timeout; the old primary takes writes again.
fn failover_to_a_lagging_paused_target(s: &mut dyn Side, rec: &mut Rec) {
    rec.fact("write 10 to r1", s.write(0, 10));
    rec.fact("settled", settle(s, 10_000));
    s.pause(1);
    rec.fact("write 1 to r1 (r2 paused: lags)", s.write(0, 1));
    rec.fact("FAILOVER TO r2 TIMEOUT 1500", s.failover(0, 1, 1500));
    s.sleep(200);
    snap(s, rec, "during", &[0]);
    rec.fact("during: a write to r1", s.probe(0));
    s.sleep(2000);
    after_the_timeout_r2_resumes(s, rec);
}

/// After a `FAILOVER TO` the paused r2 timed out: r1's state and whether
/// it takes a write, then r2 resumed and the group settled.
fn after_the_timeout_r2_resumes(s: &mut dyn Side, rec: &mut Rec) {
    snap(s, rec, "after the timeout", &[0]);
    rec.fact("after the timeout: a write to r1", s.probe(0));
    s.resume(1);
    rec.fact("settled after r2 resumed", settle(s, 10_000));
    snap(s, rec, "r2 resumed", &[0, 1]);
}

/// `FAILOVER TO` a target paused after it caught up.
fn failover_to_a_caught_up_paused_target(s: &mut dyn Side, rec: &mut Rec) {
    rec.fact("write 10 to r1", s.write(0, 10));
    rec.fact("settled", settle(s, 10_000));
    // A replica acknowledges its offset once a second: wait for the ack
    // that tells the primary r2 has caught up.
    s.sleep(1500);
    s.pause(1);
    rec.fact("FAILOVER TO r2 TIMEOUT 1500", s.failover(0, 1, 1500));
    s.sleep(2500);
    after_the_timeout_r2_resumes(s, rec);
}

/// `FAILOVER` refused while the target's initial sync runs, and in other
/// wrong cases; accepted once the sync is done.
fn failover_refusals(s: &mut dyn Side, rec: &mut Rec) {
    rec.fact("write 10 to r1", s.write(0, 10));
    rec.fact("settled", settle(s, 10_000));
    s.slow_full_syncs(0);
    s.restart(2, Persistence::Empty);
    rec.fact("FAILOVER TO r3 (not a replica)", s.failover(0, 2, 5000));
    rec.fact("repoint r3 to r1", s.repoint(2, 0));
    s.sleep(100);
    snap(s, rec, "r3 syncing", &[2]);
    rec.fact("FAILOVER TO r3 during its initial sync", s.failover(0, 2, 5000));
    rec.fact("FAILOVER sent to the replica r2", s.failover(1, 0, 5000));
    rec.fact("r3 synced", settle(s, 20_000));
    snap(s, rec, "r3 synced", &[2]);
    rec.fact("FAILOVER TO r3 after its sync", s.failover(0, 2, 5000));
    rec.fact("handed over", settle(s, 10_000));
    snap(s, rec, "handed over", &[0, 2]);
}

/// `min-replicas-to-write 1` (lag 1 s): writes refused once the replicas
/// are gone, killed or paused.
fn min_replicas(s: &mut dyn Side, rec: &mut Rec) {
    s.set_min_replicas(0, 1);
    rec.fact("write 5 to r1", s.write(0, 5));
    rec.fact("settled", settle(s, 10_000));
    rec.fact("two replicas: a write", s.probe(0));
    s.crash(1);
    s.sleep(200);
    rec.fact("r2 killed: a write", s.probe(0));
    s.crash(2);
    s.sleep(200);
    rec.fact("both killed: a write", s.probe(0));
    rec.fact("both killed: write 1", s.write(0, 1));
    s.restart(1, Persistence::Empty);
    rec.fact("repoint r2 to r1", s.repoint(1, 0));
    rec.fact("r2 resynced", settle(s, 10_000));
    rec.fact("r2 back: a write", s.probe(0));
    s.pause(1);
    s.sleep(200);
    rec.fact("r2 paused: a write at once", s.probe(0));
    s.sleep(3000);
    rec.fact("r2 paused for 3 s: a write", s.probe(0));
    s.resume(1);
    rec.fact("r2 resumed", settle(s, 10_000));
    // It counts again from its next ack (once a second; a loaded machine
    // may take longer: the write is retried for up to 5 s, and the first
    // answer that is not a refusal, or the last refusal, compared).
    let mut answer = s.probe(0);
    for _ in 0..50 {
        if answer == "ok" {
            break;
        }
        s.sleep(100);
        answer = s.probe(0);
    }
    rec.fact("r2 resumed: a write within 5 s", answer);
    snap(s, rec, "end", &[0, 1]);
}

/// Runs `script` on real servers (persistence `modes`) and on the model,
/// and compares; `known` lists the expected differences with their reason.
fn run(scenario: &str, modes: &[Persistence], script: Script, known: &[(&str, &str)]) {
    let mut real_rec = Rec::default();
    {
        let mut real = Real::new(modes);
        script(&mut real, &mut real_rec);
    } // every server stopped here (and on a panic, by Drop)
    let mut sim_rec = Rec::default();
    script(&mut Sim::new(modes.len()), &mut sim_rec);
    assert!(sim_rec.unsupported.is_none(), "the model cannot run {scenario}");
    compare(scenario, &real_rec, &sim_rec, "model", known);
}

type Script = fn(&mut dyn Side, &mut Rec);

const OFF3: [Persistence; 3] = [Persistence::Empty; 3];
const OFF2: [Persistence; 2] = [Persistence::Empty; 2];

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn conformance_promotion_and_partial_resync() {
    run(
        "promotion and partial resync",
        &OFF3,
        promotion_and_partial_resync,
        &[
            ("repointed: r1 replid2", REPLICA_REPLID2),
            ("repointed: r3 replid2", REPLICA_REPLID2),
        ],
    );
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn conformance_empty_primary_restart_wipes_its_replicas() {
    run(
        "empty primary restart",
        &OFF3,
        empty_primary_restart,
        &[
            ("replicas resynced: r1 replid", FIRST_REPLICA_NEW_REPLID),
            ("replicas resynced: r2 replid", FIRST_REPLICA_NEW_REPLID),
            ("replicas resynced: r3 replid", FIRST_REPLICA_NEW_REPLID),
        ],
    );
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn conformance_an_unlinked_replica_serves_no_sync() {
    run(
        "unlinked replica serves no sync",
        &OFF3,
        unlinked_replica_serves_no_sync,
        &[("both follow r2: r3 replid2", REPLICA_REPLID2)],
    );
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn conformance_replica_restarted_in_place_without_persistence() {
    run(
        "replica restarted in place, persistence off",
        &OFF2,
        replica_restart_in_place,
        &[
            ("r2 restarted: r2 keys", STALE_SYNC_FILE),
            ("r2 restarted: r2 replid2", STALE_SYNC_FILE),
            ("r2 restarted: offset", STALE_SYNC_FILE),
        ],
    );
}

/// Restarts the primary r1 (replica r2) under `mode` on real servers and
/// compares with the model, or, for a mode the model lacks, with the facts
/// measured on this machine (`pinned_restart`).
fn restart_conformance(mode: Persistence, script: Script, known: &[(&str, &str)]) {
    let scenario = format!("primary restart, {mode:?}");
    let mut real_rec = Rec::default();
    {
        let mut real = Real::new(&[mode, Persistence::Empty]);
        script(&mut real, &mut real_rec);
    }
    let mut sim_rec = Rec::default();
    script(&mut Sim::new(2), &mut sim_rec);
    match sim_rec.unsupported {
        // Compared with the model.
        None => compare(&scenario, &real_rec, &sim_rec, "model", known),
        // The model cannot restart under this mode yet: the real server is
        // compared with the facts measured on this machine.
        Some(_) => compare(&scenario, &real_rec, &pinned_restart(mode), "measured facts", &[]),
    }
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn conformance_restart_without_persistence() {
    restart_conformance(
        Persistence::Empty,
        |s, rec| restart_under(s, rec, Persistence::Empty),
        &[
            ("r2 relinked: r1 replid", FIRST_REPLICA_NEW_REPLID),
            ("r2 relinked: r2 replid", FIRST_REPLICA_NEW_REPLID),
        ],
    );
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn conformance_restart_with_aof() {
    restart_conformance(Persistence::Aof, |s, rec| restart_under(s, rec, Persistence::Aof), &[]);
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn conformance_restart_with_rdb() {
    restart_conformance(Persistence::Rdb, |s, rec| restart_under(s, rec, Persistence::Rdb), &[]);
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn conformance_failover_to_hands_over() {
    run(
        "FAILOVER TO",
        &OFF3,
        failover_hand_over,
        &[
            ("handed over: r1 replid2", REPLICA_REPLID2),
            ("handed over: r3 replid2", REPLICA_REPLID2),
            ("r3 repointed: r1 replid2", REPLICA_REPLID2),
            ("r3 repointed: r3 replid2", REPLICA_REPLID2),
            ("full resyncs in the handover", THIRD_REPLICA_FULL_SYNC),
        ],
    );
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn conformance_failover_to_a_lagging_paused_target_aborts() {
    run(
        "FAILOVER TO a lagging paused target",
        &OFF2,
        failover_to_a_lagging_paused_target,
        &[
            ("FAILOVER TO r2 TIMEOUT 1500", UNREACHABLE_TARGET),
            ("during: r1 failover", UNREACHABLE_TARGET),
            ("during: a write to r1", UNREACHABLE_TARGET),
        ],
    );
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn conformance_failover_to_a_caught_up_paused_target() {
    run(
        "FAILOVER TO a caught-up paused target",
        &OFF2,
        failover_to_a_caught_up_paused_target,
        &[
            ("FAILOVER TO r2 TIMEOUT 1500", UNREACHABLE_TARGET),
            ("after the timeout: r1 role", CAUGHT_UP_TARGET),
            ("after the timeout: r1 master_link_status", CAUGHT_UP_TARGET),
            ("after the timeout: r1 offset", CAUGHT_UP_TARGET),
            ("after the timeout: r1 failover", CAUGHT_UP_TARGET),
            ("after the timeout: a write to r1", CAUGHT_UP_TARGET),
            ("r2 resumed: r1 role", CAUGHT_UP_TARGET),
            ("r2 resumed: r1 master_link_status", CAUGHT_UP_TARGET),
            ("r2 resumed: r1 offset", CAUGHT_UP_TARGET),
            ("r2 resumed: r1 replid", CAUGHT_UP_TARGET),
            ("r2 resumed: r1 replid2", CAUGHT_UP_TARGET),
            ("r2 resumed: r2 role", CAUGHT_UP_TARGET),
            ("r2 resumed: r2 master_link_status", CAUGHT_UP_TARGET),
            ("r2 resumed: r2 offset", CAUGHT_UP_TARGET),
            ("r2 resumed: r2 replid", CAUGHT_UP_TARGET),
            ("r2 resumed: r2 replid2", CAUGHT_UP_TARGET),
        ],
    );
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn conformance_failover_refusals() {
    run(
        "FAILOVER refusals",
        &OFF3,
        failover_refusals,
        &[
            ("FAILOVER sent to the replica r2", FAILOVER_ON_A_REPLICA),
            ("handed over: r1 replid2", REPLICA_REPLID2),
        ],
    );
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn conformance_min_replicas_to_write() {
    run(
        "min-replicas-to-write",
        &OFF3,
        min_replicas,
        &[("r2 paused for 3 s: a write", PAUSED_REPLICA_COUNTS)],
    );
}

// ---------------------------------------------------------------------------
// etcd: leases, create revisions, guarded transactions.

/// One etcd the election script runs against.
trait Leases {
    /// Joins the election as `who` (a lease, then a key on it, revoking
    /// `who`'s earlier lease): the key's create revision.
    fn campaign(&mut self, who: &str) -> i64;
    /// Renews `who`'s lease: whether it still existed.
    fn keepalive(&mut self, who: &str) -> bool;
    /// Writes the record guarded by `who`'s key having create revision
    /// `epoch`: whether it was written.
    fn publish(&mut self, who: &str, epoch: i64) -> bool;
    /// Revokes `who`'s lease.
    fn resign(&mut self, who: &str);
    /// The instance whose key has the lowest create revision.
    fn leader(&mut self) -> Option<String>;
    /// Whether `who`'s key exists.
    fn has_key(&mut self, who: &str) -> bool;
    /// The store's revision.
    fn revision(&mut self) -> i64;
    /// Lets `percent`% of the lease TTL pass.
    fn sleep_ttl(&mut self, percent: u64);
    /// `who` (the leader) writes its heartbeat on its lease: the beat's
    /// mod revision.
    fn beat(&mut self, who: &str) -> i64;
    /// Deposes `who`: deletes its key and heartbeat, guarded by the key's
    /// create revision `epoch` and the heartbeat's mod revision `beat`.
    fn depose(&mut self, who: &str, epoch: i64, beat: i64) -> bool;
    /// Whether `who`'s heartbeat exists.
    fn has_beat(&mut self, who: &str) -> bool;
}

const HEARTBEAT: &str = "conformance/heartbeat/";

/// The real etcd, with a lease TTL of `ttl_s`.
struct RealEtcd {
    etcd: Etcd,
    ttl_s: i64,
    leases: BTreeMap<String, i64>,
}

const ELECTION: &str = "conformance/election/";

impl Leases for RealEtcd {
    fn campaign(&mut self, who: &str) -> i64 {
        if let Some(old) = self.leases.remove(who) {
            self.etcd.revoke(old).unwrap();
        }
        let lease = self.etcd.grant(self.ttl_s).unwrap();
        self.leases.insert(who.to_string(), lease);
        let (_, kv) = self.etcd.create(&format!("{ELECTION}{who}"), who, lease).unwrap();
        kv.unwrap().create_revision
    }

    fn keepalive(&mut self, who: &str) -> bool {
        self.etcd.keepalive(self.leases[who]).unwrap() > 0
    }

    fn publish(&mut self, who: &str, epoch: i64) -> bool {
        self.etcd
            .put_guarded(&format!("{ELECTION}{who}"), epoch, "conformance/record", who)
            .unwrap()
    }

    fn resign(&mut self, who: &str) {
        self.etcd.revoke(self.leases[who]).unwrap();
    }

    fn leader(&mut self) -> Option<String> {
        self.etcd
            .get_prefix(ELECTION)
            .unwrap()
            .first()
            .map(|kv| kv.value.clone())
    }

    fn has_key(&mut self, who: &str) -> bool {
        self.etcd.get(&format!("{ELECTION}{who}"), false).unwrap().is_some()
    }

    fn revision(&mut self) -> i64 {
        self.etcd.revision().unwrap()
    }

    fn sleep_ttl(&mut self, percent: u64) {
        std::thread::sleep(Duration::from_millis(self.ttl_s as u64 * 10 * percent));
    }

    fn beat(&mut self, who: &str) -> i64 {
        self.etcd
            .put_leased(&format!("{HEARTBEAT}{who}"), "800", self.leases[who])
            .unwrap()
    }

    fn depose(&mut self, who: &str, epoch: i64, beat: i64) -> bool {
        self.etcd
            .delete_if_silent(&format!("{ELECTION}{who}"), epoch, &format!("{HEARTBEAT}{who}"), beat)
            .unwrap()
    }

    fn has_beat(&mut self, who: &str) -> bool {
        self.etcd.get(&format!("{HEARTBEAT}{who}"), false).unwrap().is_some()
    }
}

/// The model's etcd, in virtual time (its lease TTL is `LEASE_TTL_MS`).
struct SimEtcd {
    e: EtcdModel,
    now: Millis,
    leases: BTreeMap<String, i64>,
}

impl Leases for SimEtcd {
    fn campaign(&mut self, who: &str) -> i64 {
        self.e.expire(self.now);
        let (lease, rev) = self.e.campaign(self.now, &NodeId(who.into()));
        self.leases.insert(who.to_string(), lease);
        rev
    }

    fn keepalive(&mut self, who: &str) -> bool {
        self.e.expire(self.now);
        self.e.keepalive(self.now, self.leases[who])
    }

    fn publish(&mut self, who: &str, epoch: i64) -> bool {
        self.e.expire(self.now);
        let epoch = Epoch(epoch);
        let record = GroupRecord {
            epoch,
            primary: who.into(),
            run_id: None,
            lost_data: false,
        };
        self.e.publish(self.now, &NodeId(who.into()), epoch, &record)
    }

    fn resign(&mut self, who: &str) {
        self.e.revoke(self.leases[who]);
    }

    fn leader(&mut self) -> Option<String> {
        self.e.expire(self.now);
        self.e.leader().map(|l| l.instance.0)
    }

    fn has_key(&mut self, who: &str) -> bool {
        self.e.expire(self.now);
        self.e.entries.contains_key(&NodeId(who.into()))
    }

    fn revision(&mut self) -> i64 {
        self.e.expire(self.now);
        self.e.revision
    }

    fn sleep_ttl(&mut self, percent: u64) {
        self.now += LEASE_TTL_MS * percent / 100;
    }

    fn beat(&mut self, who: &str) -> i64 {
        self.e.expire(self.now);
        let id = NodeId(who.into());
        self.e.beat(&id, 800);
        self.e.beats.get(&id).map_or(0, |b| b.revision)
    }

    fn depose(&mut self, who: &str, epoch: i64, beat: i64) -> bool {
        self.e.expire(self.now);
        let leader = Leader {
            instance: NodeId(who.into()),
            epoch: Epoch(epoch),
        };
        self.e.depose(self.now, &leader, beat)
    }

    fn has_beat(&mut self, who: &str) -> bool {
        self.e.expire(self.now);
        self.e.beats.contains_key(&NodeId(who.into()))
    }
}

/// Issue 19's deposition: a leads and beats; a deposition guarded by an
/// old beat or by another epoch fails and changes nothing; one guarded by
/// a's key and its latest beat deletes both in one revision, b leads, and
/// a's lease lives on without a key (its writes are refused).
fn deposition(e: &mut dyn Leases, rec: &mut Rec) {
    let a = e.campaign("a");
    let b = e.campaign("b");
    let r = e.revision();
    let first = e.beat("a");
    rec.fact("a beat: revision delta", e.revision() - r);
    let latest = e.beat("a");
    rec.fact("a beat again: the beat's revision moved", latest > first);
    let r = e.revision();
    rec.fact("deposed with an old beat", e.depose("a", a, first));
    rec.fact("deposed under b's epoch", e.depose("a", b, latest));
    rec.fact("failed depositions: revision delta", e.revision() - r);
    rec.fact("a's key after failed depositions", e.has_key("a"));
    let r = e.revision();
    rec.fact("deposed with a's epoch and latest beat", e.depose("a", a, latest));
    rec.fact("deposition: revision delta", e.revision() - r);
    rec.fact("a's key after the deposition", e.has_key("a"));
    rec.fact("a's heartbeat after the deposition", e.has_beat("a"));
    rec.fact("leader after the deposition", format!("{:?}", e.leader()));
    rec.fact("a's lease after the deposition", e.keepalive("a"));
    rec.fact("a publishes under its epoch", e.publish("a", a));
    e.resign("a");
    e.resign("b");
}

/// Two campaigners: b stops renewing and loses its key and its right to
/// write; b campaigns again (a larger create revision); a stops renewing
/// and b leads; b resigns. Times are in percent of the lease TTL, with
/// margins of at least a third of it around every expiry (etcd checks
/// expiries every 500 ms).
fn election(e: &mut dyn Leases, rec: &mut Rec) {
    let r0 = e.revision();
    let a = e.campaign("a");
    let b = e.campaign("b");
    rec.fact("two campaigns: revision delta", e.revision() - r0);
    rec.fact("create revisions grow", b > a);
    rec.fact("leader", format!("{:?}", e.leader()));
    let r = e.revision();
    rec.fact("a publishes under its epoch", e.publish("a", a));
    rec.fact("b publishes under its epoch", e.publish("b", b));
    rec.fact("a publishes under b's epoch", e.publish("a", b));
    rec.fact("publishes: revision delta", e.revision() - r);
    e.sleep_ttl(70);
    rec.fact("70%: keepalive a", e.keepalive("a"));
    e.sleep_ttl(65);
    // 135%: b's lease ran out at 100%, a's runs until 170%.
    let r = e.revision();
    rec.fact("135%: b's key", e.has_key("b"));
    rec.fact("135%: a's key", e.has_key("a"));
    rec.fact("135%: leader", format!("{:?}", e.leader()));
    rec.fact("135%: keepalive b", e.keepalive("b"));
    rec.fact("135%: b publishes under its old epoch", e.publish("b", b));
    rec.fact("135%: a publishes", e.publish("a", a));
    rec.fact("135%: revision delta since the expiry", e.revision() - r);
    rec.fact("135%: keepalive a", e.keepalive("a"));
    let r = e.revision();
    let b2 = e.campaign("b");
    rec.fact("b campaigns again: revision delta", e.revision() - r);
    rec.fact("b's new create revision is above both", b2 > b && b2 > a);
    rec.fact("leader after b's return", format!("{:?}", e.leader()));
    e.sleep_ttl(65);
    rec.fact("200%: keepalive b", e.keepalive("b"));
    e.sleep_ttl(70);
    // 270%: a's lease ran out at 235%, b's runs until 300%.
    let r = e.revision();
    rec.fact("270%: leader", format!("{:?}", e.leader()));
    rec.fact("270%: a publishes under its old epoch", e.publish("a", a));
    rec.fact("270%: b publishes under its new epoch", e.publish("b", b2));
    rec.fact("270%: revision delta", e.revision() - r);
    let r = e.revision();
    e.resign("b");
    rec.fact("b resigns: revision delta", e.revision() - r);
    rec.fact("after the resignation: leader", format!("{:?}", e.leader()));
    rec.fact("after the resignation: b publishes", e.publish("b", b2));
}

/// Runs the etcd `script` against a real etcd, then against `EtcdModel`,
/// and compares the facts.
fn run_etcd(scenario: &str, script: fn(&mut dyn Leases, &mut Rec)) {
    let server = support::etcd();
    let mut real_rec = Rec::default();
    let mut real = RealEtcd {
        etcd: Etcd::new(vec![server.addr.clone()], Duration::from_secs(2)),
        ttl_s: 3,
        leases: BTreeMap::new(),
    };
    script(&mut real, &mut real_rec);
    drop(server);
    let mut sim_rec = Rec::default();
    let mut sim = SimEtcd {
        e: EtcdModel::available(),
        now: 0,
        leases: BTreeMap::new(),
    };
    script(&mut sim, &mut sim_rec);
    compare(scenario, &real_rec, &sim_rec, "model", &[]);
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn conformance_etcd_leases_and_guarded_writes() {
    run_etcd("etcd leases and guarded writes", election);
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn conformance_etcd_heartbeat_and_deposition() {
    run_etcd("etcd heartbeat and deposition", deposition);
}

// ---------------------------------------------------------------------------
// Why each listed difference is accepted (or, for the FAILOVER ones, why it
// is listed rather than fixed). The README's "Conformance of the simulated
// world" has the same list.

/// Redis: a replica that continues partially across a new replication id
/// shifts its old id into replid2, and a full sync clears it. The model sets
/// replid2 only on promotion and never changes a replica's. Harmless: the
/// controller does not see replid2 (`NodeStatus` has none), and the model's
/// partial-resync rule reads only the source's replid2.
const REPLICA_REPLID2: &str = "a replica's replid2 is not modelled";

/// Redis: a primary without a backlog (just restarted, or never had a
/// replica) takes yet another replid when its first replica attaches. The
/// model keeps the id it restarted with. Harmless: the replicas take the
/// new id too, so "a replica's replid equals its primary's" holds in both,
/// and that relation is what the controller compares.
const FIRST_REPLICA_NEW_REPLID: &str = "a fresh primary changes replid when its first replica attaches";

/// Redis: after `FAILOVER TO r2`, the third replica r3 (still on r1)
/// continues partially through r1. The model's r3 full-resyncs from r1
/// (because it keeps no replid2). Harmless: same data, same roles; r3's
/// link is down for `FULL_SYNC_MS` in the model.
const THIRD_REPLICA_FULL_SYNC: &str = "the third replica full-resyncs in the model, partially in Redis";

/// Redis answers `FAILOVER` sent to a replica "ERR FAILOVER is not valid
/// when server is a replica"; the model "target is not a replica of this
/// primary". Harmless: both refuse, and the controller treats any refusal
/// alike.
const FAILOVER_ON_A_REPLICA: &str = "FAILOVER on a replica: refused in both, another message";

/// Redis: a paused (SIGSTOP) replica stops acknowledging, and after
/// `min-replicas-max-lag` the primary refuses writes (NOREPLICAS). The
/// model counts a paused replica as linked: its primary goes on taking
/// writes. Does not change what the controller observes (it does not write);
/// the sweep's lost-write count (measured, not asserted) can count writes
/// Redis would have refused.
const PAUSED_REPLICA_COUNTS: &str = "a paused replica still counts for min-replicas-to-write in the model";

/// MATTERS, NOT FIXED. Redis accepts `FAILOVER TO` a target it cannot reach
/// (+OK: the primary still lists the paused replica as online), holds
/// writes, and aborts at the timeout if the target has not caught up. The
/// model answers at once with a timeout ("switchover rolled back") and the
/// old primary takes writes at once. The controller sees an error where
/// Redis says OK, and no writes held. Fixing it changes `Model::failover`
/// and the failure-10 seed list (tests/failures.rs): left to the model's
/// owner.
const UNREACHABLE_TARGET: &str = "FAILOVER TO an unreachable target: Redis says OK and holds writes";

/// MATTERS, NOT FIXED. When the paused target had acknowledged everything,
/// Redis's primary hands over at once: it becomes a replica of the paused
/// target (READONLY, `failover-in-progress`, link down), no timeout
/// applies, and when the target resumes it is the primary. The group has
/// no writable primary while the target is paused. The model rolls back
/// (failure 10: "switchover rolled back") and the old primary stays
/// primary.
const CAUGHT_UP_TARGET: &str = "FAILOVER TO a caught-up paused target: Redis hands over and waits for it";

/// MATTERS, NOT FIXED (needs the persistence modes being added on another
/// branch). Redis with persistence off still writes dump.rdb on a replica
/// that full-syncs (`rdb-del-sync-files no`, the default); restarted in
/// the same directory it loads it: it comes back with the keys of its last
/// full sync (here 20 of 30), that sync's replid as replid2, and an offset
/// above 0. The model brings every persistence-off restart back empty. A
/// controller judging restarts by their dataset sees a node that kept
/// (stale) data.
const STALE_SYNC_FILE: &str = "persistence off, restarted in place: Redis reloads its last full sync's RDB";
