//! One harness, two controllers: three real `redis-server` nodes (r1
//! primary) managed either by three Redis Sentinels (quorum 2) or by three
//! `arbiter run` instances (with a real etcd), the same writer, the same
//! fault, and the same outside-in measurement: pollers ask every node for
//! its role (`INFO replication`) every 20 ms, and nothing is read from the
//! controllers themselves.
//!
//! Beside that writer, an application's view: redis-py's
//! `Sentinel(...).master_for("mymaster")` (the [`clients`] writer), given
//! the controller's Sentinel-protocol addresses (the Sentinels' ports, or
//! arbiter's `[sentinel]` ports), writes through the fault; how long it
//! saw no acknowledged write and how many of its acknowledged writes the
//! final primary lacks are the client-visible columns.
//!
//! Used by `tests/live_compare.rs` (one short fault per controller, in CI),
//! `tests/live_failover.rs` (the writer)
//! and by `examples/compare_sentinel.rs` (the whole table, through
//! `scripts/compare-sentinel`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arbiter::live::etcd::Etcd;
use arbiter::live::redis::RedisNodes;
use arbiter::types::{NodeStatus, Role};

use crate::clients::{self, Library};
use crate::servers::{self as support, Server};

/// Both controllers' down-after.
pub const DOWN_AFTER_MS: u64 = 1000;
/// arbiter's check interval (Sentinel pings every second and watches
/// replies continuously; arbiter polls).
pub const CHECK_INTERVAL_MS: u64 = 100;
/// Keys loaded before the empty-restart fault.
pub const DATASET: u64 = 1000;
/// The application writer's keys: `app1`, `app2`, ...
pub const CLIENT_PREFIX: &str = "app";

/// Which controller manages the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    /// Three Redis Sentinels, quorum 2.
    Sentinel,
    /// Three `arbiter run` instances and etcd.
    Arbiter,
}

impl Controller {
    /// Its name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sentinel => "sentinel",
            Self::Arbiter => "arbiter",
        }
    }
}

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The primary is killed for good.
    Kill,
    /// The primary is paused (SIGSTOP) for 4 s, then resumed.
    Pause,
    /// The same, with `min-replicas-to-write 1`, `min-replicas-max-lag 1`.
    PauseMinReplicas,
    /// The primary, holding a dataset, is killed and restarted empty on its
    /// port within ~100 ms (persistence off), faster than down-after.
    EmptyRestart,
    /// The primary and the controller's leader (arbiter: the etcd leader;
    /// Sentinel: the first sentinel) are killed at the same moment.
    LeaderKilled,
    /// The primary is killed and the controller's leader paused for 5 s.
    LeaderPaused,
}

impl Fault {
    /// Every fault, in table order.
    pub const ALL: [Self; 6] = [
        Self::Kill,
        Self::Pause,
        Self::PauseMinReplicas,
        Self::EmptyRestart,
        Self::LeaderKilled,
        Self::LeaderPaused,
    ];

    /// Its name in the table and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Kill => "kill",
            Self::Pause => "pause",
            Self::PauseMinReplicas => "pause-min-replicas",
            Self::EmptyRestart => "empty-restart",
            Self::LeaderKilled => "leader-killed",
            Self::LeaderPaused => "leader-paused",
        }
    }

    fn min_replicas(self) -> bool {
        self == Self::PauseMinReplicas
    }
}

/// What one run measured (milliseconds after the fault).
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Until a node other than the old primary reported primary.
    pub promoted_ms: Option<u64>,
    /// Until every live node followed the final primary (link up).
    pub converged_ms: Option<u64>,
    /// How long the resumed old primary kept claiming the primary role
    /// after it was resumed (pause faults only).
    pub old_claims_ms: Option<u64>,
    /// Increments the writer had acknowledged.
    pub acked: u64,
    /// Acknowledged increments missing from the final primary.
    pub lost: u64,
    /// Dataset keys missing from the final primary (empty restart only).
    pub keys_lost: Option<u64>,
    /// What the application client saw (`None`: the controller has no
    /// Sentinel-protocol addresses, see `client_skipped`).
    pub client: Option<ClientOutcome>,
    /// Why there was no application client.
    pub client_skipped: Option<String>,
}

/// What the application client (redis-py through the controller's
/// Sentinel-protocol addresses) saw of one run.
#[derive(Debug, Clone, Default)]
pub struct ClientOutcome {
    /// `library version`.
    pub library: String,
    /// Writes it had acknowledged.
    pub acked: u64,
    /// From the last write acknowledged on the old primary to the first
    /// acknowledged on another node; when it never moved (the old primary
    /// stayed primary), the longest time without an acknowledged write.
    pub unavailable_ms: Option<u64>,
    /// Where its last acknowledged write went (`host:port`).
    pub last_addr: Option<String>,
    /// Acknowledged writes missing from the final primary.
    pub lost: u64,
    /// Failed write attempts (each retried).
    pub errors: u64,
}

/// A controller's processes, stopped on drop, and the addresses where
/// applications ask it for the primary.
pub struct Running {
    processes: Vec<Child>,
    _servers: Vec<Server>,
    etcd: Option<Etcd>,
    client_ports: Result<Vec<String>, String>,
    _dir: tempfile::TempDir,
}

impl Running {
    /// The Sentinel-protocol addresses (`host:port`) an application's
    /// Sentinel client is given: the Sentinels' ports, or the `[sentinel]`
    /// listen addresses of the `arbiter run` instances. `Err` says why
    /// there are none (an `arbiter` that refuses the `[sentinel]` section).
    pub fn client_ports(&self) -> Result<&[String], &str> {
        self.client_ports.as_deref().map_err(String::as_str)
    }

    /// What the Redis Sentinels logged as events (`+sdown`, `+vote-for-leader`,
    /// `+switch-master`, ...), each line prefixed with the Sentinel's port,
    /// to put beside a failure; empty under arbiter.
    pub fn sentinel_events(&self) -> String {
        let mut events = String::new();
        for s in &self._servers {
            let log = std::fs::read_to_string(s.dir.path().join("server.log")).unwrap_or_default();
            for line in log.lines().filter(|l| l.contains(" # +") || l.contains(" # -")) {
                events.push_str(&format!("  sentinel {}: {line}\n", s.port()));
            }
        }
        events
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for p in &mut self.processes {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

fn signal(pid: u32, sig: &str) -> Result<(), String> {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .map_err(|e| e.to_string())?
        .success();
    if ok {
        Ok(())
    } else {
        Err(format!("kill {sig} {pid} failed"))
    }
}

fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> Result<T, String> {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if start.elapsed() > limit {
            return Err(format!("{what}: not within {limit:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn connect(addr: &str) -> redis::RedisResult<redis::Connection> {
    let c = redis::Client::open(format!("redis://{addr}/"))?.get_connection_with_timeout(Duration::from_millis(500))?;
    c.set_read_timeout(Some(Duration::from_millis(500)))?;
    c.set_write_timeout(Some(Duration::from_millis(500)))?;
    Ok(c)
}

/// Starts `controller` over `nodes` (r1 first, its primary) as `fault`
/// needs it; fails when it does not take charge. arbiter's instances each
/// get their own configuration file with a `[sentinel]` section on a free
/// port, unless `arbiter` refuses that section (then they run without it
/// and [`Running::client_ports`] says so).
pub fn start_controller(
    controller: Controller,
    nodes: [&Server; 3],
    fault: Fault,
    arbiter: &Path,
) -> Result<Running, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    match controller {
        Controller::Sentinel => {
            let sentinels: Vec<Server> = (0..3)
                .map(|_| support::sentinel(&nodes[0].addr, DOWN_AFTER_MS))
                .collect();
            for s in &sentinels {
                wait_for(
                    "each sentinel sees 2 replicas and 2 other sentinels",
                    Duration::from_secs(30),
                    || {
                        let mut c = connect(&s.addr).ok()?;
                        let fields: Vec<String> = redis::cmd("SENTINEL")
                            .arg("MASTER")
                            .arg(crate::clients::MASTER_NAME)
                            .query(&mut c)
                            .ok()?;
                        let get = |k: &str| {
                            fields
                                .iter()
                                .position(|f| f == k)
                                .and_then(|i| fields.get(i + 1))
                                .cloned()
                        };
                        (get("num-slaves").as_deref() == Some("2")
                            && get("num-other-sentinels").as_deref() == Some("2"))
                        .then_some(())
                    },
                )?;
            }
            let client_ports = Ok(sentinels.iter().map(|s| s.addr.clone()).collect());
            Ok(Running {
                processes: Vec::new(),
                _servers: sentinels,
                etcd: None,
                client_ports,
                _dir: dir,
            })
        }
        Controller::Arbiter => {
            let etcd_server = support::etcd();
            let extra = if fault.min_replicas() {
                "\n[redis]\nmin_replicas_to_write = 1\nmin_replicas_max_lag_s = 1\n"
            } else {
                ""
            };
            let listen: Vec<String> = (0..3).map(|_| format!("127.0.0.1:{}", support::free_port())).collect();
            // One file per instance: `[sentinel]` listens on its own port.
            let write = |i: usize, sentinel: bool| -> Result<PathBuf, String> {
                let sub = dir.path().join(format!("instance{}", i + 1));
                std::fs::create_dir_all(&sub).map_err(|e| e.to_string())?;
                let mut extra = extra.to_string();
                if sentinel {
                    extra.push_str(&clients::sentinel_section(&listen[i]));
                }
                let config = support::write_config(&sub, &etcd_server, "cmp", 3, &nodes, &extra);
                let text = std::fs::read_to_string(&config).map_err(|e| e.to_string())?;
                let text = text.replace(
                    "check_interval_ms = 200\ndown_after_ms = 1000",
                    &format!("check_interval_ms = {CHECK_INTERVAL_MS}\ndown_after_ms = {DOWN_AFTER_MS}"),
                );
                std::fs::write(&config, text).map_err(|e| e.to_string())?;
                Ok(config)
            };
            let client_ports = clients::arbiter_accepts_sentinel(arbiter, &write(0, true)?).map(|()| listen.clone());
            let configs = (0..3)
                .map(|i| write(i, client_ports.is_ok()))
                .collect::<Result<Vec<_>, _>>()?;
            let etcd = Etcd::new(vec![etcd_server.addr.clone()], Duration::from_secs(1));
            let mut processes = Vec::new();
            for config in &configs {
                let child = Command::new(arbiter)
                    .args(["run", "--config"])
                    .arg(config)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .map_err(|e| format!("{}: {e}", arbiter.display()))?;
                processes.push(child);
            }
            let running = Running {
                processes,
                _servers: vec![etcd_server],
                etcd: Some(etcd),
                client_ports,
                _dir: dir,
            };
            let etcd = running.etcd.as_ref().unwrap();
            wait_for(
                "three arbiter instances campaign and r1 is recorded",
                Duration::from_secs(30),
                || {
                    let keys = etcd.get_prefix("cmp/election/").ok()?;
                    let record = etcd.get("cmp/record", false).ok()??;
                    (keys.len() == 3 && record.value.contains("\"primary\":\"r1\"")).then_some(())
                },
            )?;
            if let Ok(ports) = running.client_ports() {
                wait_for(
                    "every arbiter instance's Sentinel port names r1",
                    Duration::from_secs(30),
                    || {
                        ports
                            .iter()
                            .all(|p| clients::master_addr(p).as_deref() == Some(nodes[0].addr.as_str()))
                            .then_some(())
                    },
                )?;
            }
            Ok(running)
        }
    }
}

/// The leader's process id (arbiter: the etcd leader; Sentinel: the first
/// sentinel, which has no standing leader).
fn leader_pid(controller: Controller, running: &Running) -> Result<u32, String> {
    match controller {
        Controller::Sentinel => Ok(running._servers[0].pid()),
        Controller::Arbiter => {
            let etcd = running.etcd.as_ref().unwrap();
            let keys = etcd.get_prefix("cmp/election/").map_err(|e| e.to_string())?;
            let leader = keys.first().ok_or("no arbiter leader")?;
            running
                .processes
                .iter()
                .map(Child::id)
                .find(|pid| leader.value.contains(&format!("-{pid}-")))
                .ok_or_else(|| format!("no process leads ({})", leader.value))
        }
    }
}

/// Role samples from the pollers: (ms since the fault or before it, node, status).
type Samples = Arc<Mutex<Vec<(i64, usize, Option<NodeStatus>)>>>;

/// One poller thread per node until `stop`.
fn pollers(addrs: &[String], zero: Instant, stop: &Arc<AtomicBool>) -> (Samples, Vec<std::thread::JoinHandle<()>>) {
    let samples: Samples = Arc::default();
    let handles = addrs
        .iter()
        .enumerate()
        .map(|(i, addr)| {
            let (addr, samples, stop) = (addr.clone(), Arc::clone(&samples), Arc::clone(stop));
            std::thread::spawn(move || {
                let nodes = RedisNodes::new(Duration::from_millis(200), None);
                while !stop.load(Ordering::SeqCst) {
                    let status = nodes.status(&addr).ok();
                    let at = zero.elapsed().as_millis() as i64;
                    samples.lock().unwrap().push((at, i, status));
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        })
        .collect();
    (samples, handles)
}

/// The writer: `INCR counter` on the node it believes is primary, through
/// one connection, re-resolving (the first node whose role is primary)
/// only after an error. Returns the acknowledged count.
pub fn writer(addrs: Vec<String>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut acked = 0u64;
        let mut target = addrs[0].clone();
        let mut con: Option<redis::Connection> = None;
        let nodes = RedisNodes::new(Duration::from_millis(200), None);
        while !stop.load(Ordering::SeqCst) {
            if con.is_none() {
                con = connect(&target).ok();
            }
            let result = match con.as_mut() {
                Some(c) => redis::cmd("INCR").arg("counter").query::<i64>(c),
                None => Err(redis::RedisError::from((redis::ErrorKind::Io, "not connected"))),
            };
            match result {
                Ok(_) => acked += 1,
                Err(_) => {
                    con = None;
                    if let Some(p) = addrs
                        .iter()
                        .find(|a| nodes.status(a).is_ok_and(|s| s.role == Role::Primary))
                    {
                        target = p.clone();
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        acked
    })
}

/// The nodes as `fault` needs them: `min-replicas-*` set, or a dataset
/// on the primary that both replicas hold.
fn prepare(fault: Fault, addrs: &[String]) -> Result<(), String> {
    if fault.min_replicas() {
        for a in addrs {
            let mut c = connect(a).map_err(|e| e.to_string())?;
            for (k, v) in [("min-replicas-to-write", "1"), ("min-replicas-max-lag", "1")] {
                redis::cmd("CONFIG")
                    .arg("SET")
                    .arg(k)
                    .arg(v)
                    .query::<()>(&mut c)
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    if fault == Fault::EmptyRestart {
        let mut c = connect(&addrs[0]).map_err(|e| e.to_string())?;
        for chunk in (0..DATASET).collect::<Vec<_>>().chunks(100) {
            let mut cmd = redis::cmd("MSET");
            for i in chunk {
                cmd.arg(format!("k:{i}")).arg(i);
            }
            cmd.query::<()>(&mut c).map_err(|e| e.to_string())?;
        }
        let synced: i64 = redis::cmd("WAIT")
            .arg(2)
            .arg(5000)
            .query(&mut c)
            .map_err(|e| e.to_string())?;
        if synced < 2 {
            return Err(format!("the dataset reached {synced} of 2 replicas"));
        }
    }
    Ok(())
}

/// The index of the one primary once every live node follows it (40 s at
/// most).
fn settle(addrs: &[String]) -> Result<usize, String> {
    let nodes_client = RedisNodes::new(Duration::from_millis(300), None);
    wait_for("the group settles", Duration::from_secs(40), || {
        let statuses: Vec<Option<NodeStatus>> = addrs.iter().map(|a| nodes_client.status(a).ok()).collect();
        let primaries: Vec<usize> = (0..3)
            .filter(|&i| statuses[i].as_ref().is_some_and(|s| s.role == Role::Primary))
            .collect();
        let [p] = primaries[..] else { return None };
        let follows = statuses.iter().enumerate().all(|(i, s)| {
            i == p
                || match s {
                    None => true,
                    Some(s) => matches!(&s.role, Role::Replica { primary, link_up: true, .. } if *primary == addrs[p]),
                }
        });
        follows.then_some(p)
    })
}

/// When the nodes converged: the first moment every node's latest sample
/// agrees with the final topology (a dead node counts as agreeing).
fn converged_ms(
    after: &[&(i64, usize, Option<NodeStatus>)],
    final_primary: usize,
    addrs: &[String],
    fault_at: i64,
) -> Option<u64> {
    let mut latest: [Option<Option<NodeStatus>>; 3] = [None, None, None];
    for s in after {
        latest[s.1] = Some(s.2.clone());
        let agrees = (0..3).all(|i| match &latest[i] {
            None => false,
            Some(None) => i != final_primary,
            Some(Some(st)) if i == final_primary => st.role == Role::Primary,
            Some(Some(st)) => {
                matches!(&st.role, Role::Replica { primary, link_up: true, .. } if *primary == addrs[final_primary])
            }
        });
        if agrees {
            return Some((s.0 - fault_at) as u64);
        }
    }
    None
}

/// Whether the pollers saw the fault happen to the primary (node 0): a
/// new run id after an empty restart, otherwise a poll it did not answer.
fn fault_happened(fault: Fault, after: &[&(i64, usize, Option<NodeStatus>)], old_run_id: &str) -> Result<(), String> {
    match fault {
        Fault::EmptyRestart => {
            let restarted = after
                .iter()
                .any(|s| s.1 == 0 && s.2.as_ref().is_some_and(|st| st.run_id != *old_run_id));
            if !restarted {
                return Err("the primary was not seen restarted (same run id)".into());
            }
        }
        _ => {
            if !after.iter().any(|s| s.1 == 0 && s.2.is_none()) {
                return Err("the primary never stopped answering: the fault did not happen".into());
            }
        }
    }
    Ok(())
}

/// What the application client saw: `old` was the primary at the fault,
/// `last` is the final one.
fn client_outcome(s: clients::Summary, old: &str, last: &str) -> Result<ClientOutcome, String> {
    let missing = clients::missing(last, CLIENT_PREFIX, s.acked)?;
    Ok(ClientOutcome {
        unavailable_ms: s
            .switch_from(old)
            .map(|w| w.unavailable_ms)
            .or(s.longest_gap.as_ref().map(|g| g.ms)),
        last_addr: s.last_addr().map(str::to_string),
        lost: missing.len() as u64,
        acked: s.acked,
        errors: s.errors,
        library: s.library,
    })
}

/// Runs `fault` once under `controller`; `arbiter` is the binary.
///
/// (About 105 lines: one experiment told in the order it happens, setup,
/// fault, settling, measurement; the parts that stand alone are the
/// functions above.)
pub fn run(controller: Controller, fault: Fault, arbiter: &Path) -> Result<Outcome, String> {
    let [r1, r2, r3] = support::three_nodes();
    let addrs: Vec<String> = [&r1, &r2, &r3].iter().map(|n| n.addr.clone()).collect();
    let mut primary = Some(r1);
    prepare(fault, &addrs)?;
    let running = start_controller(controller, [primary.as_ref().unwrap(), &r2, &r3], fault, arbiter)?;

    // The application's client (stopped on drop), then the stale-view
    // writer.
    let client = match running.client_ports() {
        Ok(ports) => {
            let mut w = clients::Writer::start(Library::RedisPy, ports, CLIENT_PREFIX, Duration::from_secs(600))?;
            w.wait_ready(Duration::from_secs(20))?;
            Some(w)
        }
        Err(_) => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let writer = writer(addrs.clone(), Arc::clone(&stop));
    std::thread::sleep(Duration::from_millis(1500));
    let zero = Instant::now();
    let (samples, polls) = pollers(&addrs, zero, &stop);
    std::thread::sleep(Duration::from_millis(200));

    // What the fault needs is looked up first: the old primary's run id
    // (to tell an empty restart), and the leader to kill or pause.
    let old_run_id = RedisNodes::new(Duration::from_millis(500), None)
        .status(&addrs[0])
        .map_err(|e| e.to_string())?
        .run_id;
    let leader = match fault {
        Fault::LeaderKilled | Fault::LeaderPaused => Some(leader_pid(controller, &running)?),
        _ => None,
    };
    // The fault, at t = 0 of the measurements (about 200 ms after the
    // pollers start), taken the moment before it: a lookup timed within
    // (on a loaded machine a lookup is not instant) would count toward
    // the controller's time and read as a promotion that much sooner.
    let fault_at = zero.elapsed().as_millis() as i64;
    let mut resumed_at = None;
    match fault {
        Fault::Kill => drop(primary.take()),
        Fault::Pause | Fault::PauseMinReplicas => {
            let pid = primary.as_ref().map_or(0, Server::pid);
            signal(pid, "-STOP")?;
            std::thread::sleep(Duration::from_millis(4000));
            signal(pid, "-CONT")?;
            resumed_at = Some(zero.elapsed().as_millis() as i64);
        }
        Fault::EmptyRestart => {
            let port = primary.as_ref().map_or(0, Server::port);
            drop(primary.take());
            primary = Some(support::redis_on(port, None));
        }
        Fault::LeaderKilled | Fault::LeaderPaused => {
            let pid = leader.ok_or("the leader was not looked up")?;
            drop(primary.take());
            if fault == Fault::LeaderKilled {
                signal(pid, "-KILL")?;
            } else {
                signal(pid, "-STOP")?;
                std::thread::sleep(Duration::from_millis(5000));
                signal(pid, "-CONT")?;
            }
        }
    }

    // Settle: one primary, every live node following it, for 1 s.
    let settled = settle(&addrs);
    std::thread::sleep(Duration::from_millis(1000));
    stop.store(true, Ordering::SeqCst);
    let acked = writer.join().map_err(|_| "the writer panicked")?;
    let client = client.map(clients::Writer::finish).transpose()?;
    for p in polls {
        let _ = p.join();
    }
    let final_primary = settled?;
    let samples = samples.lock().unwrap().clone();

    let after: Vec<&(i64, usize, Option<NodeStatus>)> = samples.iter().filter(|s| s.0 >= fault_at).collect();
    fault_happened(fault, &after, &old_run_id)?;

    let mut out = Outcome {
        acked,
        client_skipped: running.client_ports().err().map(str::to_string),
        ..Outcome::default()
    };
    out.promoted_ms = after
        .iter()
        .find(|s| s.1 != 0 && s.2.as_ref().is_some_and(|st| st.role == Role::Primary))
        .map(|s| (s.0 - fault_at) as u64);
    out.converged_ms = converged_ms(&after, final_primary, &addrs, fault_at);
    if let Some(resumed) = resumed_at {
        let last_claim = samples
            .iter()
            .filter(|s| s.0 >= resumed && s.1 == 0 && s.2.as_ref().is_some_and(|st| st.role == Role::Primary))
            .map(|s| s.0)
            .max();
        out.old_claims_ms = Some(last_claim.map_or(0, |t| (t - resumed) as u64));
    }
    let mut c = connect(&addrs[final_primary]).map_err(|e| e.to_string())?;
    let value: Option<u64> = redis::cmd("GET")
        .arg("counter")
        .query(&mut c)
        .map_err(|e| e.to_string())?;
    out.lost = acked.saturating_sub(value.unwrap_or(0));
    if fault == Fault::EmptyRestart {
        let mut exists = redis::cmd("EXISTS");
        for i in 0..DATASET {
            exists.arg(format!("k:{i}"));
        }
        let kept: u64 = exists.query(&mut c).map_err(|e| e.to_string())?;
        out.keys_lost = Some(DATASET.saturating_sub(kept));
    }
    if let Some(s) = client {
        out.client = Some(client_outcome(s, &addrs[0], &addrs[final_primary])?);
    }
    drop(running);
    drop(primary);
    Ok(out)
}

/// Where `arbiter` is, next to the running executable's directory (for
/// the example) or given.
pub fn arbiter_binary(given: Option<PathBuf>) -> PathBuf {
    given.unwrap_or_else(|| {
        let exe = std::env::current_exe().unwrap_or_default();
        let dir = exe.parent().and_then(Path::parent).unwrap_or(Path::new("."));
        dir.join("arbiter")
    })
}
