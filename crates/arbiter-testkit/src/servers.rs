//! Real servers for the live tests: `redis-server` and `etcd` from Debian,
//! each on a free loopback port with its own temp dir, stopped on drop
//! (also when the test fails).
//!
//! With `ARBITER_TEST_LOGS=DIR` set, every server's log is copied to
//! `DIR/<port>.log` when it stops, to read what a Sentinel or a node did
//! in a run that failed.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What a missing `redis-server` panics with.
const REDIS_MISSING: &str = "redis-server not found: run scripts/test, which installs it";

/// A free loopback port (bound, then released for the server).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A server process, killed and reaped on drop.
pub struct Server {
    child: Child,
    /// Its temp dir (kept until the server is gone).
    pub dir: tempfile::TempDir,
    /// `host:port` (Redis) or `http://host:port` (etcd).
    pub addr: String,
}

impl Server {
    /// The server's process id (to signal it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(keep) = std::env::var_os("ARBITER_TEST_LOGS") {
            let keep = std::path::Path::new(&keep);
            let _ = std::fs::create_dir_all(keep);
            let _ = std::fs::copy(
                self.dir.path().join("server.log"),
                keep.join(format!("{}.log", self.port())),
            );
        }
    }
}

/// Where a server's stdout and stderr go (`server.log` in its temp dir),
/// shown when it does not come up.
fn log_file(dir: &tempfile::TempDir) -> (Stdio, Stdio) {
    let file = std::fs::File::create(dir.path().join("server.log")).unwrap();
    (Stdio::from(file.try_clone().unwrap()), Stdio::from(file))
}

/// Spawns `cmd` with its output to `server.log` in `dir` (the panic on a
/// missing binary says how to install it: `install`).
fn spawn_logged(mut cmd: Command, dir: tempfile::TempDir, addr: String, install: &str) -> Server {
    let (out, err) = log_file(&dir);
    let child = cmd
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("{install}: {e}"));
    Server { child, dir, addr }
}

/// Starts a server with `spawn` and waits up to 30 s until `ready`. A
/// server that exits before it is ready (its port, free when `free_port`
/// looked, was taken by a server of a parallel test before it bound) is
/// spawned again, up to `tries` times (`spawn` picks new ports). The panic
/// names the server, its address and ends with its log.
fn start(
    what: &str,
    tries: usize,
    mut spawn: impl FnMut() -> Server,
    mut ready: impl FnMut(&Server) -> bool,
) -> Server {
    for attempt in 1..=tries {
        let mut server = spawn();
        let begun = Instant::now();
        loop {
            if ready(&server) {
                return server;
            }
            let log = || std::fs::read_to_string(server.dir.path().join("server.log")).unwrap_or_default();
            if let Ok(Some(status)) = server.child.try_wait() {
                if attempt < tries {
                    break;
                }
                panic!(
                    "{what} on {} exited ({status}) before it was ready; its log:\n{}",
                    server.addr,
                    log()
                );
            }
            assert!(
                begun.elapsed() < Duration::from_secs(30),
                "{what} on {} did not come up in 30 s; its log:\n{}",
                server.addr,
                log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    unreachable!("the last attempt returns or panics")
}

/// Whether a Redis server at `url` answers PING.
fn pings(url: &str) -> bool {
    redis::Client::open(url)
        .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        .is_ok()
}

/// A `redis-server` (persistence off), replica of `primary` if given.
pub fn redis(primary: Option<&str>) -> Server {
    start_redis(None, primary, &[], None)
}

/// A `redis-server` on `port` (to restart a node where it was).
pub fn redis_on(port: u16, primary: Option<&str>) -> Server {
    redis_with(port, primary, &[], None)
}

/// A `redis-server` on `port` with `args` added to its command line (e.g.
/// `["--requirepass", "pw"]`); `password` is what the readiness check
/// authenticates with.
pub fn redis_with(port: u16, primary: Option<&str>, args: &[&str], password: Option<&str>) -> Server {
    start_redis(Some(port), primary, args, password)
}

/// A `redis-server` on `port`, or on a free port (tried again on another
/// one if it was taken meanwhile) when `None`.
fn start_redis(port: Option<u16>, primary: Option<&str>, args: &[&str], password: Option<&str>) -> Server {
    let spawn = || {
        let port = port.unwrap_or_else(free_port);
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
        .arg(dir.path());
        if let Some(p) = primary {
            let (host, port) = p.rsplit_once(':').unwrap();
            cmd.args(["--replicaof", host, port]);
        }
        cmd.args(args);
        spawn_logged(cmd, dir, format!("127.0.0.1:{port}"), REDIS_MISSING)
    };
    let auth = password.map(|p| format!(":{p}@")).unwrap_or_default();
    let tries = if port.is_some() { 1 } else { 3 };
    start("redis-server", tries, spawn, |s| {
        pings(&format!("redis://{auth}{}/", s.addr))
    })
}

/// A Redis Sentinel (`redis-server CONF --sentinel`) on a free port,
/// monitoring `primary` as [`crate::clients::MASTER_NAME`] (`mymaster`,
/// the name application clients ask for) with quorum 2 and
/// `down_after_ms`.
pub fn sentinel(primary: &str, down_after_ms: u64) -> Server {
    let spawn = || {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let (host, pport) = primary.rsplit_once(':').unwrap();
        let conf = dir.path().join("sentinel.conf");
        let g = crate::clients::MASTER_NAME;
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor {g} {host} {pport} 2\nsentinel down-after-milliseconds {g} {down_after_ms}\nsentinel failover-timeout {g} 10000\nsentinel parallel-syncs {g} 2\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let mut cmd = Command::new("redis-server");
        cmd.arg(&conf).arg("--sentinel");
        spawn_logged(cmd, dir, format!("127.0.0.1:{port}"), REDIS_MISSING)
    };
    start("redis sentinel", 3, spawn, |s| pings(&format!("redis://{}/", s.addr)))
}

/// A single-member `etcd`.
pub fn etcd() -> Server {
    let spawn = || {
        let dir = tempfile::tempdir().unwrap();
        let (client, peer) = (free_port(), free_port());
        let client_url = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let mut cmd = Command::new("etcd");
        cmd.arg("--data-dir")
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
            .args(["--initial-cluster", &format!("test={peer_url}")]);
        spawn_logged(
            cmd,
            dir,
            client_url,
            "etcd not found: run scripts/test, which installs etcd-server",
        )
    };
    start("etcd", 3, spawn, |s| {
        arbiter::live::etcd::Etcd::new(vec![s.addr.clone()], Duration::from_millis(500))
            .revision()
            .is_ok()
    })
}

/// Waits until `f` gives a value, for at most `limit`.
pub fn eventually<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
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
pub fn three_nodes() -> [Server; 3] {
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
pub fn write_config(
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
pub fn signal(child: &Child, sig: &str) {
    let status = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill {sig} {}", child.id());
}

/// Waits up to 20 s for `child` to exit (killing it after that): its exit
/// code, `None` when it had to be killed, and its stderr if piped.
pub fn wait_exit(mut child: Child) -> (Option<i32>, String) {
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
pub struct Guard(Option<Child>);

impl Guard {
    /// Guards `child`.
    pub fn new(child: Child) -> Self {
        Self(Some(child))
    }

    /// The child, no longer guarded (to stop it and read its exit).
    pub fn take(mut self) -> Child {
        self.0.take().expect("taken once")
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
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
pub fn stop_json(child: Child) -> (Vec<serde_json::Value>, String) {
    signal(&child, "-TERM");
    let (code, log) = wait_exit(child);
    assert_eq!(code, Some(0), "{log}");
    let events = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    (events, log)
}

/// The PEM files of a TLS server: its certificate and key, and the CA
/// its clients' certificates must chain to (made by the test).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The server's certificate (also its client certificate towards a
    /// primary: Redis replicas present it with `tls-replication yes`).
    pub cert: std::path::PathBuf,
    /// Its private key.
    pub key: std::path::PathBuf,
    /// The CA of the clients (`tls-ca-cert-file`, `--trusted-ca-file`).
    pub ca: std::path::PathBuf,
}

/// A `redis-server` with TLS only (`--port 0`, `--tls-port`),
/// `--tls-auth-clients yes` and `--tls-replication yes` unless `args`
/// says otherwise later (the last value wins); a replica of `primary` if
/// given; on `port` or a free one. `client` is what the readiness check
/// connects with: the server is ready when it answers, or when the TLS
/// handshake fails (a test's expired certificate).
pub fn redis_tls(
    port: Option<u16>,
    primary: Option<&str>,
    files: &TlsFiles,
    args: &[&str],
    client: &arbiter::live::tls::Tls,
) -> Server {
    let spawn = || {
        let port = port.unwrap_or_else(free_port);
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", "0", "--tls-port", &port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--tls-cert-file")
            .arg(&files.cert)
            .arg("--tls-key-file")
            .arg(&files.key)
            .arg("--tls-ca-cert-file")
            .arg(&files.ca)
            .args(["--tls-auth-clients", "yes", "--tls-replication", "yes"])
            .arg("--dir")
            .arg(dir.path());
        if let Some(p) = primary {
            let (host, port) = p.rsplit_once(':').unwrap();
            cmd.args(["--replicaof", host, port]);
        }
        cmd.args(args);
        spawn_logged(cmd, dir, format!("127.0.0.1:{port}"), REDIS_MISSING)
    };
    let nodes = arbiter::live::redis::RedisNodes::new(Duration::from_millis(500), None).with_tls(Some(client.clone()));
    let tries = if port.is_some() { 1 } else { 3 };
    // Up: it answers, or its TLS handshake fails (a server given an
    // expired certificate on purpose).
    start("redis-server (TLS)", tries, spawn, |s| {
        matches!(nodes.status(&s.addr), Ok(_) | Err(arbiter::types::RedisError::Auth(_)))
    })
}

/// A single-member `etcd` serving clients over https only, with
/// client-certificate authentication (`--client-cert-auth`,
/// `--trusted-ca-file`); its `addr` is `https://127.0.0.1:port`. `client`
/// is what the readiness check connects with.
pub fn etcd_tls(files: &TlsFiles, client: &arbiter::live::tls::Tls) -> Server {
    let spawn = || {
        let dir = tempfile::tempdir().unwrap();
        let (client_port, peer) = (free_port(), free_port());
        let client_url = format!("https://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let mut cmd = Command::new("etcd");
        cmd.arg("--data-dir")
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
            .arg("--cert-file")
            .arg(&files.cert)
            .arg("--key-file")
            .arg(&files.key)
            .arg("--client-cert-auth")
            .arg("--trusted-ca-file")
            .arg(&files.ca);
        spawn_logged(
            cmd,
            dir,
            client_url,
            "etcd not found: run scripts/test, which installs etcd-server",
        )
    };
    start("etcd (TLS)", 3, spawn, |s| {
        arbiter::live::etcd::Etcd::with_tls(vec![s.addr.clone()], Duration::from_millis(500), Some(client))
            .revision()
            .is_ok()
    })
}
