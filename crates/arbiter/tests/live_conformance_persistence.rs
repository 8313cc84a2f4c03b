//! Conformance of the simulated world with the real servers: the same
//! scripted command and fault sequences run against real `redis-server`
//! 7.0 processes and a real `etcd` 3.4, and against the models of
//! `arbiter::sim::model`; what each reports is compared field by field.
//! Random values (run ids, replication ids) are compared by relation
//! ("changed", "equals the old replid", "none"), offsets relatively
//! ("0", "kept", "grew"), datasets by key count.
//!
//! The real replicas use `repl-diskless-sync no` and
//! `repl-diskless-sync-delay 0`: Redis 7.0's default (diskless, 5 s delay)
//! only delays a full sync, which the model does not time precisely anyway
//! (`FULL_SYNC_MS`). Mismatches that remain are listed in the README
//! ("Conformance with the real servers", persistence and handover).
//!
//! Ignored by default (they start real servers); `scripts/test` runs them:
//! `cargo test -p arbiter --test live_conformance_persistence -- --include-ignored`.

use arbiter_testkit::servers as support;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arbiter::live::redis::parse_info;
use arbiter::sim::model::{
    EtcdModel, FULL_SYNC_MS, HANDOVER_MS, LEASE_TTL_MS, Model, Persistence, RECONNECT_INTERVAL_MS, Restart,
};
use arbiter::types::Epoch;
use arbiter::types::{GroupRecord, NodeId};
use support::{eventually, free_port};

/// A `redis-server` whose data directory survives its restarts.
struct Node {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
    mode: Persistence,
}

impl Node {
    fn new(mode: Persistence, replica_of: Option<u16>) -> Self {
        let mut n = Self {
            child: None,
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
            mode,
        };
        n.start(replica_of);
        n
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn start(&mut self, replica_of: Option<u16>) {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]);
        match self.mode {
            Persistence::Off => cmd.args(["--save", "", "--appendonly", "no"]),
            Persistence::Rdb => cmd.args(["--save", "900 1", "--appendonly", "no"]),
            Persistence::Aof => cmd.args(["--save", "", "--appendonly", "yes", "--appendfsync", "always"]),
        };
        if let Some(p) = replica_of {
            cmd.args(["--replicaof", "127.0.0.1", &p.to_string()]);
        }
        self.child = Some(
            cmd.stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server not found: run scripts/test, which installs it"),
        );
        let addr = self.addr();
        eventually("redis-server up", Duration::from_secs(20), || {
            let mut c = connect(&addr).ok()?;
            // Until its dataset is loaded Redis answers -LOADING.
            redis::cmd("PING").query::<String>(&mut c).ok()
        });
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `SHUTDOWN` (an RDB node saves first), then waits for the exit.
    fn shutdown(&mut self) {
        if let Ok(mut c) = connect(&self.addr()) {
            let _ = redis::cmd("SHUTDOWN").query::<()>(&mut c);
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }

    /// `INFO`, retried for a few seconds: a node busy loading a full sync
    /// may let a read time out (`EAGAIN`).
    fn info(&self) -> BTreeMap<String, String> {
        let query = || -> redis::RedisResult<String> {
            let mut c = connect(&self.addr())?;
            redis::cmd("INFO")
                .arg("server")
                .arg("replication")
                .arg("keyspace")
                .arg("stats")
                .query(&mut c)
        };
        let text = eventually(&format!("INFO from {}", self.addr()), Duration::from_secs(10), || {
            query().ok()
        });
        parse_info(&text)
    }

    fn cmd(&self, args: &[&str]) -> redis::RedisResult<redis::Value> {
        let mut c = connect(&self.addr())?;
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut c)
    }

    fn write(&self, n: usize, from: usize) {
        let mut c = connect(&self.addr()).unwrap();
        for i in from..from + n {
            let _: () = redis::cmd("SET").arg(format!("k{i}")).arg("v").query(&mut c).unwrap();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn connect(addr: &str) -> redis::RedisResult<redis::Connection> {
    let c = redis::Client::open(format!("redis://{addr}/"))?.get_connection_with_timeout(Duration::from_millis(500))?;
    c.set_read_timeout(Some(Duration::from_secs(2)))?;
    Ok(c)
}

fn keys(info: &BTreeMap<String, String>) -> u64 {
    info.get("db0")
        .and_then(|v| v.split(',').find_map(|kv| kv.strip_prefix("keys=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn num(info: &BTreeMap<String, String>, field: &str) -> u64 {
    info.get(field).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn linked(info: &BTreeMap<String, String>) -> bool {
    info.get("master_link_status").is_some_and(|s| s == "up")
}

/// What a restart did, as relations: comparable between real and model.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Restarted {
    role: &'static str,
    run_id: &'static str,
    replid: &'static str,
    replid2: &'static str,
    offset: &'static str,
    keys: u64,
    /// `uptime_in_seconds` just after the restart, and of its replica
    /// (never restarted) then.
    uptime: (&'static str, &'static str),
}

/// Uptime as a relation: a process started within the last second or not.
fn relation_uptime(s: u64) -> &'static str {
    if s <= 1 { "0-1 s" } else { "more" }
}

fn relation_offset(before: u64, after: u64) -> &'static str {
    if after == 0 {
        "0"
    } else if after.abs_diff(before) <= 64 {
        // A replication PING may add a few bytes on the real server.
        "kept"
    } else if after > before {
        "grew"
    } else {
        "dropped"
    }
}

fn relate(
    before: (&str, &str, u64),
    after: (&str, &str, &str, u64, u64),
    primary: bool,
    none_replid2: bool,
    uptimes: (u64, u64),
) -> Restarted {
    let (run_id, replid, offset) = before;
    let (a_run, a_replid, a_replid2, a_offset, a_keys) = after;
    Restarted {
        role: if primary { "primary" } else { "replica" },
        run_id: if a_run == run_id { "same" } else { "changed" },
        replid: if a_replid == replid { "same" } else { "changed" },
        replid2: if none_replid2 {
            "none"
        } else if a_replid2 == replid {
            "old replid"
        } else {
            "other"
        },
        offset: relation_offset(offset, a_offset),
        keys: a_keys,
        uptime: (relation_uptime(uptimes.0), relation_uptime(uptimes.1)),
    }
}

/// One row of the comparison: what, real, model.
type Row = (String, String, String);

fn compare(rows: &[Row]) {
    let mut table = String::from("| behaviour | real | model |\n| --- | --- | --- |\n");
    for (what, real, model) in rows {
        table.push_str(&format!("| {what} | {real} | {model} |\n"));
    }
    eprintln!("{table}");
    let bad: Vec<&Row> = rows.iter().filter(|(_, r, m)| r != m).collect();
    assert!(bad.is_empty(), "the model differs from the real servers:\n{table}");
}

fn row(what: impl Into<String>, real: impl std::fmt::Debug, model: impl std::fmt::Debug) -> Row {
    (what.into(), format!("{real:?}"), format!("{model:?}"))
}

/// The real side of a restart under `mode`: a primary with 50 keys and one
/// replica, stopped (`SHUTDOWN` when `clean`, else `SIGKILL`) and started
/// again on its port without `replicaof`; then what its replica does.
fn real_restart(mode: Persistence, clean: bool) -> (Restarted, u64, &'static str) {
    let mut p = Node::new(mode, None);
    let r = Node::new(Persistence::Off, Some(p.port));
    p.write(50, 0);
    eventually("replica synced", Duration::from_secs(20), || {
        let i = r.info();
        (linked(&i) && keys(&i) == 50).then_some(())
    });
    std::thread::sleep(Duration::from_millis(2100)); // appendfsync, replica ack; uptime past 1 s
    let b = p.info();
    let before = (
        b["run_id"].clone(),
        b["master_replid"].clone(),
        num(&b, "master_repl_offset"),
    );
    if clean {
        p.shutdown();
    } else {
        p.kill();
    }
    p.start(None);
    let a = p.info();
    let after = relate(
        (&before.0, &before.1, before.2),
        (
            &a["run_id"],
            &a["master_replid"],
            &a["master_replid2"],
            num(&a, "master_repl_offset"),
            keys(&a),
        ),
        a["role"] == "master",
        a["master_replid2"].chars().all(|c| c == '0'),
        (num(&a, "uptime_in_seconds"), num(&r.info(), "uptime_in_seconds")),
    );
    // The replica reconnects (about once a second) and resyncs.
    let replica_keys = eventually("replica relinked", Duration::from_secs(20), || {
        let i = r.info();
        linked(&i).then(|| keys(&i))
    });
    let a = p.info();
    let sync = if num(&a, "sync_full") > 0 {
        "full"
    } else if num(&a, "sync_partial_ok") > 0 {
        "partial"
    } else {
        "none"
    };
    (after, replica_keys, sync)
}

/// The model's side of [`real_restart`].
fn model_restart(mode: Persistence, clean: bool) -> (Restarted, u64, &'static str) {
    let mut m = Model::new(2, 0);
    m.nodes[0].persistence = mode;
    for _ in 0..50 {
        m.client_write();
    }
    m.advance(2100);
    let before = (m.nodes[0].run_id.clone(), m.nodes[0].replid.clone(), m.offset(0));
    if clean {
        m.shutdown(0);
        m.restart(0, Restart::Shutdown);
    } else {
        m.crash(0);
        m.restart(0, Restart::Kill);
    }
    let s = m.status(0);
    let after = relate(
        (&before.0, &before.1, before.2),
        (&s.run_id, &s.replid, &m.nodes[0].replid2, s.offset, s.keys.unwrap_or(0)),
        s.role == arbiter::types::Role::Primary,
        m.nodes[0].replid2.is_empty(),
        (s.uptime_s.unwrap_or(u64::MAX), m.status(1).uptime_s.unwrap_or(0)),
    );
    let t = m.now;
    m.advance(t + RECONNECT_INTERVAL_MS);
    m.advance(t + RECONNECT_INTERVAL_MS + FULL_SYNC_MS + 1);
    assert!(m.nodes[1].link_up);
    let full = m.events.iter().any(|e| e.what().starts_with("full resync: r2"));
    let sync = if full { "full" } else { "partial" };
    (after, m.nodes[1].log.len() as u64, sync)
}

#[test]
#[ignore = "starts real redis-server processes"]
fn restarts_under_each_persistence_mode_report_what_the_model_reports() {
    let mut rows = Vec::new();
    for (mode, clean, how) in [
        (Persistence::Off, false, "off, SIGKILL"),
        (Persistence::Aof, false, "AOF, SIGKILL"),
        (Persistence::Aof, true, "AOF, SHUTDOWN"),
        (Persistence::Rdb, true, "RDB, SHUTDOWN"),
    ] {
        let (real, real_replica, real_sync) = real_restart(mode, clean);
        let (model, model_replica, model_sync) = model_restart(mode, clean);
        rows.push(row(format!("restart ({how}): role"), real.role, model.role));
        rows.push(row(format!("restart ({how}): run id"), real.run_id, model.run_id));
        rows.push(row(format!("restart ({how}): replid"), real.replid, model.replid));
        rows.push(row(format!("restart ({how}): replid2"), real.replid2, model.replid2));
        rows.push(row(format!("restart ({how}): offset"), real.offset, model.offset));
        rows.push(row(format!("restart ({how}): keys"), real.keys, model.keys));
        rows.push(row(
            format!("restart ({how}): uptime, its replica's"),
            real.uptime,
            model.uptime,
        ));
        rows.push(row(
            format!("restart ({how}): its replica's sync"),
            real_sync,
            model_sync,
        ));
        rows.push(row(
            format!("restart ({how}): its replica's keys after"),
            real_replica,
            model_replica,
        ));
    }
    compare(&rows);
}

#[test]
#[ignore = "starts real redis-server processes"]
fn an_rdb_replica_restarted_with_replicaof_continues_partially() {
    // Real: the replica saves on SHUTDOWN and comes back with its replid
    // and offset, then asks for a partial resync.
    let p = Node::new(Persistence::Off, None);
    let mut r = Node::new(Persistence::Rdb, Some(p.port));
    p.write(50, 0);
    eventually("replica synced", Duration::from_secs(20), || {
        let i = r.info();
        (linked(&i) && keys(&i) == 50).then_some(())
    });
    let before = r.info();
    r.shutdown();
    p.write(10, 50);
    r.start(Some(p.port));
    let after_start = r.info();
    eventually("replica relinked", Duration::from_secs(20), || {
        let i = r.info();
        (linked(&i) && keys(&i) == 60).then_some(())
    });
    let pi = p.info();
    let real_replid_kept = after_start["master_replid"] == before["master_replid"];
    let real_partial = num(&pi, "sync_partial_ok") > 0;
    // Model: its nodes restart without `replicaof` on their command line
    // (as arbiter's operators run them), so a replica's RDB restart comes
    // back as a primary with the old replid as replid2, and the repoint
    // that follows is a full resync (as on a real server: a node turned
    // replica asks to continue its own, new replid).
    let mut m = Model::new(2, 0);
    m.nodes[1].persistence = Persistence::Rdb;
    for _ in 0..50 {
        m.client_write();
    }
    m.advance(1);
    let old_replid = m.nodes[1].replid.clone();
    m.shutdown(1);
    for _ in 0..10 {
        m.client_write();
    }
    m.restart(1, Restart::Shutdown);
    let model_replid_kept = m.nodes[1].replid2 == old_replid;
    m.repoint(1, "10.0.0.1:6379", Epoch(1)).unwrap();
    let t = m.now;
    m.advance(t + 1);
    m.advance(t + 2 + FULL_SYNC_MS);
    let model_partial = !m.events.iter().any(|e| e.what().starts_with("full resync"));
    compare(&[
        row(
            "RDB replica restart: old replid kept (real: as replid; model: as replid2)",
            real_replid_kept,
            model_replid_kept,
        ),
        row("RDB replica restart: keys once linked", 60, m.nodes[1].log.len()),
    ]);
    // A known mismatch, listed in the README: the model has no restart
    // with `replicaof` on the command line, so no partial resync there.
    assert!(
        real_partial && !model_partial,
        "the known RDB-replica mismatch changed: real partial {real_partial}, model partial {model_partial}"
    );
}

#[test]
#[ignore = "starts real redis-server processes"]
fn a_full_sync_clears_replid2_so_a_replica_of_the_old_history_resyncs_in_full_like_the_model() {
    // Real: b, promoted from p's history (replid2 = p's replid), full-syncs
    // from c, a primary of another history; then d, still on p's history,
    // is pointed at b. (Seed 87043 of the widened sweep: the model kept b's
    // replid2, let d continue partially from it, and numbered the one
    // history's offsets twice.)
    let p = Node::new(Persistence::Off, None);
    let b = Node::new(Persistence::Off, Some(p.port));
    let d = Node::new(Persistence::Off, Some(p.port));
    p.write(20, 0);
    for r in [&b, &d] {
        eventually("replicas synced", Duration::from_secs(20), || {
            let i = r.info();
            (linked(&i) && keys(&i) == 20).then_some(())
        });
    }
    b.cmd(&["REPLICAOF", "NO", "ONE"]).unwrap();
    let promoted = b.info();
    let c = Node::new(Persistence::Off, None);
    c.write(5, 100);
    b.cmd(&["REPLICAOF", "127.0.0.1", &c.port.to_string()]).unwrap();
    eventually("b synced from c", Duration::from_secs(20), || {
        let i = b.info();
        (linked(&i) && keys(&i) == 5).then_some(())
    });
    let (bi, ci) = (b.info(), c.info());
    let full_before = num(&bi, "sync_full");
    d.cmd(&["REPLICAOF", "127.0.0.1", &b.port.to_string()]).unwrap();
    eventually("d synced from b", Duration::from_secs(20), || {
        let i = d.info();
        (linked(&i) && keys(&i) == 5).then_some(())
    });
    let none = "0000000000000000000000000000000000000000";
    let real = (
        promoted["master_replid2"] != none,
        bi["master_replid2"] == none,
        num(&bi, "master_repl_offset") == num(&ci, "master_repl_offset"),
        num(&b.info(), "sync_full") > full_before,
    );
    // Model: r1 = p, r2 = b, r3 = c (an AOF node back from a kill: its own
    // history, offsets from 0 over 20 keys), r4 = d.
    let mut m = Model::new(4, 0);
    m.nodes[2].persistence = Persistence::Aof;
    for _ in 0..20 {
        m.client_write();
    }
    m.advance(1);
    m.promote(1, Epoch(1)).unwrap();
    let model_promoted = !m.nodes[1].replid2.is_empty();
    m.crash(2);
    m.restart(2, Restart::Kill);
    m.repoint(1, "10.0.0.3:6379", Epoch(1)).unwrap();
    let t = m.now;
    m.advance(t + 1);
    m.advance(t + 2 + FULL_SYNC_MS);
    let b_replid2_none = m.nodes[1].replid2.is_empty();
    let same_offset = m.offset(1) == m.offset(2);
    m.repoint(3, "10.0.0.2:6379", Epoch(1)).unwrap();
    let t = m.now;
    m.advance(t + 1);
    m.advance(t + 2 + FULL_SYNC_MS);
    let model = (
        model_promoted,
        b_replid2_none,
        same_offset,
        m.events.iter().any(|e| e.what().starts_with("full resync: r4 from r2")),
    );
    compare(&[
        row("promoted: replid2 set", real.0, model.0),
        row("full sync from another history: replid2 none", real.1, model.1),
        row("full sync: offset equals the source's", real.2, model.2),
        row("a replica of the old history then resyncs in full", real.3, model.3),
    ]);
}

#[test]
#[ignore = "starts real redis-server processes"]
fn failover_to_hands_over_like_the_model() {
    let p = Node::new(Persistence::Off, None);
    let t = Node::new(Persistence::Off, Some(p.port));
    let third = Node::new(Persistence::Off, Some(p.port));
    p.write(20, 0);
    for r in [&t, &third] {
        eventually("replicas synced", Duration::from_secs(20), || {
            let i = r.info();
            (linked(&i) && keys(&i) == 20).then_some(())
        });
    }
    let old_replid = t.info()["master_replid"].clone();
    p.cmd(&["FAILOVER", "TO", "127.0.0.1", &t.port.to_string(), "TIMEOUT", "5000"])
        .unwrap();
    eventually("handed over", Duration::from_secs(10), || {
        (t.info()["role"] == "master").then_some(())
    });
    let (ti, pi, thi) = (t.info(), p.info(), third.info());
    let real = (
        pi["role"].clone() == "slave" && pi["master_port"] == t.port.to_string(),
        ti["master_replid"] != old_replid,
        ti["master_replid2"] == old_replid,
        thi["master_port"] == p.port.to_string(),
    );
    let mut m = Model::new(3, 0);
    for _ in 0..20 {
        m.client_write();
    }
    m.advance(1);
    let old = m.nodes[1].replid.clone();
    m.failover(0, 1, Epoch(1), 5000).unwrap();
    let now = m.now;
    m.advance(now + HANDOVER_MS);
    let model = (
        m.nodes[0].replica_of.as_deref() == Some("10.0.0.2:6379"),
        m.nodes[1].replid != old,
        m.nodes[1].replid2 == old,
        m.nodes[2].replica_of.as_deref() == Some("10.0.0.1:6379"),
    );
    compare(&[
        row("FAILOVER TO: old primary follows the target", real.0, model.0),
        row("FAILOVER TO: target gets a new replid", real.1, model.1),
        row("FAILOVER TO: target's replid2 is its old replid", real.2, model.2),
        row("FAILOVER TO: a third replica stays on the old primary", real.3, model.3),
    ]);
}

#[test]
#[ignore = "starts real redis-server processes"]
fn a_failover_to_an_unanswering_target_is_given_up_like_the_model() {
    let p = Node::new(Persistence::Off, None);
    let t = Node::new(Persistence::Off, Some(p.port));
    p.write(5, 0);
    eventually("replica synced", Duration::from_secs(20), || {
        let i = t.info();
        (linked(&i) && keys(&i) == 5).then_some(())
    });
    let pid = t.child.as_ref().unwrap().id().to_string();
    Command::new("kill").args(["-STOP", &pid]).status().unwrap();
    let start = Instant::now();
    let answer = p.cmd(&["FAILOVER", "TO", "127.0.0.1", &t.port.to_string(), "TIMEOUT", "1000"]);
    let real_accepted = answer.is_ok();
    eventually("failover aborted", Duration::from_secs(10), || {
        (p.info()["master_failover_state"] == "no-failover").then_some(())
    });
    let real_primary_after = p.info()["role"] == "master";
    let real_writable = p.cmd(&["SET", "after", "1"]).is_ok();
    Command::new("kill").args(["-CONT", &pid]).status().unwrap();
    let real_within = start.elapsed() < Duration::from_secs(5);

    let mut m = Model::new(2, 0);
    m.client_write();
    m.advance(1);
    m.nodes[1].paused_until = 100_000;
    let model_accepted = m.failover(0, 1, Epoch(1), 1000).is_ok();
    let now = m.now;
    m.advance(now + 1000);
    compare(&[
        row(
            "FAILOVER TO an unanswering target: old primary still primary",
            real_primary_after,
            m.nodes[0].replica_of.is_none(),
        ),
        row(
            "FAILOVER TO an unanswering target: old primary writable after",
            real_writable,
            m.writable(0),
        ),
        row(
            "FAILOVER TO an unanswering target: settled by the timeout",
            real_within,
            m.handover.is_none(),
        ),
    ]);
    // A known mismatch, listed in the README: real Redis accepts the
    // command and gives up at the timeout; the model answers a target that
    // does not answer with a timeout at once. If this changes, update the
    // README's list.
    assert!(
        real_accepted && !model_accepted,
        "the known FAILOVER mismatch changed: real accepted {real_accepted}, model accepted {model_accepted}"
    );
}

#[test]
#[ignore = "starts real redis-server processes"]
fn min_replicas_refuses_writes_like_the_model() {
    let p = Node::new(Persistence::Off, None);
    let mut r = Node::new(Persistence::Off, Some(p.port));
    eventually("replica linked", Duration::from_secs(20), || {
        linked(&r.info()).then_some(())
    });
    p.cmd(&[
        "CONFIG",
        "SET",
        "min-replicas-to-write",
        "1",
        "min-replicas-max-lag",
        "1",
    ])
    .unwrap();
    // A replica counts once its first acknowledgement arrived (replicas
    // send `REPLCONF ACK` every second): until then Redis refuses too.
    let deadline = Instant::now() + Duration::from_secs(5);
    let real_with = loop {
        let ok = p.cmd(&["SET", "a", "1"]).is_ok();
        if ok || Instant::now() > deadline {
            break ok;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    r.kill();
    let real_refusal = eventually("NOREPLICAS", Duration::from_secs(10), || {
        match p.cmd(&["SET", "b", "1"]) {
            Err(e) if e.to_string().contains("NOREPLICAS") => Some("NOREPLICAS"),
            _ => None,
        }
    });
    let mut m = Model::new(2, 1);
    m.advance(1);
    let model_with = m.writable(0);
    m.crash(1);
    m.advance(2);
    let model_refusal = if m.writable(0) { "accepted" } else { "NOREPLICAS" };
    compare(&[
        row("min-replicas-to-write 1, replica linked: write", real_with, model_with),
        row(
            "min-replicas-to-write 1, replica gone: write",
            real_refusal,
            model_refusal,
        ),
    ]);
}

#[test]
#[ignore = "starts a real etcd"]
fn etcd_lease_expiry_takes_the_key_and_fails_the_guarded_txn_like_the_model() {
    let server = support::etcd();
    let etcd = arbiter::live::etcd::Etcd::new(vec![server.addr.clone()], Duration::from_secs(2));
    let ttl_s = 2;
    let lease = etcd.grant(ttl_s).unwrap();
    let (created, kv) = etcd.create("conf/election/a", "a", lease).unwrap();
    let rev = kv.unwrap().create_revision;
    let real_guarded_before = etcd.put_guarded("conf/election/a", rev, "conf/record", "r1").unwrap();
    // No keepalive: the lease runs out, and its key goes with it.
    let real_key_gone = eventually("lease expired", Duration::from_secs(15), || {
        etcd.get("conf/election/a", false).unwrap().is_none().then_some(true)
    });
    let real_guarded_after = etcd.put_guarded("conf/election/a", rev, "conf/record", "r2").unwrap();
    let real_record = etcd.get("conf/record", false).unwrap().map(|kv| kv.value);
    // A new entry gets a higher create revision.
    let lease2 = etcd.grant(ttl_s).unwrap();
    let rev2 = etcd
        .create("conf/election/a", "a", lease2)
        .unwrap()
        .1
        .unwrap()
        .create_revision;

    let mut e = EtcdModel::default();
    e.available = true;
    let a = NodeId("a".into());
    let (_, mrev) = e.campaign(0, &a);
    let record = |p: &str| GroupRecord {
        epoch: Epoch(mrev),
        primary: p.into(),
        run_id: None,
        lost_data: false,
    };
    let model_guarded_before = e.publish(0, &a, Epoch(mrev), &record("r1"));
    e.expire(LEASE_TTL_MS);
    let model_key_gone = e.entries.is_empty();
    let model_guarded_after = e.publish(LEASE_TTL_MS, &a, Epoch(mrev), &record("r2"));
    let model_record = e.record.as_ref().map(|r| r.primary.clone());
    let (_, mrev2) = e.campaign(LEASE_TTL_MS, &a);
    compare(&[
        row("etcd: entry created with the lease", created, true),
        row(
            "etcd: guarded txn while the entry lives",
            real_guarded_before,
            model_guarded_before,
        ),
        row("etcd: lease expiry takes the entry", real_key_gone, model_key_gone),
        row(
            "etcd: guarded txn after the expiry",
            real_guarded_after,
            model_guarded_after,
        ),
        row(
            "etcd: the record keeps the last guarded write",
            real_record,
            model_record,
        ),
        row(
            "etcd: a new entry's create revision is higher",
            rev2 > rev,
            mrev2 > mrev,
        ),
    ]);
}
