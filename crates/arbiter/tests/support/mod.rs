//! Real servers for the live tests: `redis-server` and `etcd` from Debian,
//! each on a free loopback port with its own temp dir, stopped on drop
//! (also when the test fails).

#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port (bound, then released for the server).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A server process, killed and reaped on drop.
pub(crate) struct Server {
    child: Child,
    /// Its temp dir (kept until the server is gone).
    pub(crate) dir: tempfile::TempDir,
    /// `host:port` (Redis) or `http://host:port` (etcd).
    pub(crate) addr: String,
}

impl Server {
    /// The server's process id (to signal it).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The port it listens on.
    pub(crate) fn port(&self) -> u16 {
        self.addr.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what} did not come up in 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A `redis-server` (persistence off), replica of `primary` if given.
pub(crate) fn redis(primary: Option<&str>) -> Server {
    redis_on(free_port(), primary)
}

/// A `redis-server` on `port` (to restart a node where it was).
pub(crate) fn redis_on(port: u16, primary: Option<&str>) -> Server {
    redis_with(port, primary, &[], None)
}

/// A `redis-server` on `port` with `args` added to its command line (e.g.
/// `["--requirepass", "pw"]`); `password` is what the readiness check
/// authenticates with.
pub(crate) fn redis_with(port: u16, primary: Option<&str>, args: &[&str], password: Option<&str>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("redis-server");
    cmd.args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ])
    .arg("--dir")
    .arg(dir.path())
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    if let Some(p) = primary {
        let (host, port) = p.rsplit_once(':').unwrap();
        cmd.args(["--replicaof", host, port]);
    }
    cmd.args(args);
    let child = cmd
        .spawn()
        .expect("redis-server not found: run scripts/test, which installs it");
    let addr = format!("127.0.0.1:{port}");
    let server = Server { child, dir, addr };
    let auth = password.map(|p| format!(":{p}@")).unwrap_or_default();
    let url = format!("redis://{auth}{}/", server.addr);
    wait_until("redis-server", || {
        redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_ok()
    });
    server
}

/// A Redis Sentinel (`redis-server CONF --sentinel`) on a free port,
/// monitoring `primary` as group `g` with quorum 2 and `down_after_ms`.
pub(crate) fn sentinel(primary: &str, down_after_ms: u64) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let (host, pport) = primary.rsplit_once(':').unwrap();
    let conf = dir.path().join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor g {host} {pport} 2\nsentinel down-after-milliseconds g {down_after_ms}\nsentinel failover-timeout g 10000\nsentinel parallel-syncs g 2\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let child = Command::new("redis-server")
        .arg(&conf)
        .arg("--sentinel")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server not found: run scripts/test, which installs it");
    let server = Server {
        child,
        dir,
        addr: format!("127.0.0.1:{port}"),
    };
    let url = format!("redis://{}/", server.addr);
    wait_until("redis sentinel", || {
        redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_ok()
    });
    server
}

/// A single-member `etcd`.
pub(crate) fn etcd() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let (client, peer) = (free_port(), free_port());
    let client_url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let child = Command::new("etcd")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--name", "test"])
        .args([
            "--listen-client-urls",
            &client_url,
            "--advertise-client-urls",
            &client_url,
        ])
        .args([
            "--listen-peer-urls",
            &peer_url,
            "--initial-advertise-peer-urls",
            &peer_url,
        ])
        .args(["--initial-cluster", &format!("test={peer_url}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("etcd not found: run scripts/test, which installs etcd-server");
    let server = Server {
        child,
        dir,
        addr: client_url,
    };
    let client = arbiter::live::etcd::Etcd::new(vec![server.addr.clone()], Duration::from_millis(500));
    wait_until("etcd", || client.revision().is_ok());
    server
}

/// Waits until `f` gives a value, for at most `limit`.
pub(crate) fn eventually<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Three `redis-server` nodes, r1 primary, once both replicas are linked.
pub(crate) fn three_nodes() -> [Server; 3] {
    let r1 = redis(None);
    let r2 = redis(Some(&r1.addr));
    let r3 = redis(Some(&r1.addr));
    let nodes = arbiter::live::redis::RedisNodes::new(Duration::from_secs(1), None);
    for r in [&r2, &r3] {
        eventually("replicas linked", Duration::from_secs(20), || {
            nodes
                .status(&r.addr)
                .ok()
                .filter(|s| matches!(s.role, arbiter::types::Role::Replica { link_up: true, .. }))
        });
    }
    [r1, r2, r3]
}

/// An `arbiter.toml` in `dir` for `etcd` and `nodes` (named r1, r2, ...)
/// under `prefix` with lease TTL `ttl_s`, a 200 ms check interval, 1 s
/// down-after and `extra` TOML appended.
pub(crate) fn write_config(
    dir: &std::path::Path,
    etcd: &Server,
    prefix: &str,
    ttl_s: i64,
    nodes: &[&Server],
    extra: &str,
) -> std::path::PathBuf {
    use std::fmt::Write as _;
    let mut text = format!(
        "[etcd]\nendpoints = [\"{}\"]\nprefix = \"{prefix}\"\nttl_s = {ttl_s}\n",
        etcd.addr
    );
    for (i, n) in nodes.iter().enumerate() {
        let _ = write!(text, "\n[[nodes]]\nname = \"r{}\"\naddr = \"{}\"\n", i + 1, n.addr);
    }
    text.push_str("\n[settings]\ncheck_interval_ms = 200\ndown_after_ms = 1000\n");
    text.push_str(extra);
    let path = dir.join("arbiter.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Sends `sig` (e.g. `-TERM`, `-STOP`) to `child` with `kill`.
pub(crate) fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} {}", child.id());
}

/// Waits up to 20 s for `child` to exit (killing it after that): its exit
/// code, `None` when it had to be killed, and its stderr if piped.
pub(crate) fn wait_exit(mut child: Child) -> (Option<i32>, String) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut err);
            }
            return (status.code(), err);
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            return (None, "did not stop within 20 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed and reaped on drop unless taken (an `arbiter
/// run` a failing test must not leave behind).
pub(crate) struct Guard(Option<Child>);

impl Guard {
    /// Guards `child`.
    pub(crate) fn new(child: Child) -> Self {
        Self(Some(child))
    }

    /// The child, no longer guarded (to stop it and read its exit).
    pub(crate) fn take(mut self) -> Child {
        self.0.take().expect("taken once")
    }

    /// Its process id.
    pub(crate) fn id(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Stops `child` (an `arbiter run --log-format json` with its stderr
/// piped) with SIGTERM, asserts it exits cleanly, and returns its log as
/// JSON events and as text.
pub(crate) fn stop_json(child: Child) -> (Vec<serde_json::Value>, String) {
    signal(&child, "-TERM");
    let (code, log) = wait_exit(child);
    assert_eq!(code, Some(0), "{log}");
    let events = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (events, log)
}
