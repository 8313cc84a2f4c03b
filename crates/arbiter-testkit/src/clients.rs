//! Real application clients: the writer programs of
//! `crates/arbiter/tests/clients/` (redis-py's `Sentinel`, ioredis with
//! `sentinels:`, node-redis's `createSentinel`), each started as a child
//! process that finds the primary through Sentinel-protocol addresses
//! (real Redis Sentinels, or `arbiter run`'s `[sentinel]` ports), writes
//! `SET <prefix><i> i` for i = 1, 2, ... and reports what it saw.
//!
//! `scripts/install-clients` installs the libraries (`scripts/test` runs
//! it): a Python virtual environment in `target/clients/venv` (or
//! `$ARBITER_CLIENTS_VENV`) and `npm ci` in `crates/arbiter/tests/clients`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde::Deserialize;

/// The master name every writer asks for, and that the Sentinels of
/// [`crate::servers::sentinel`] monitor.
pub const MASTER_NAME: &str = "mymaster";

/// A client library, with its writer program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Library {
    /// redis-py: `Sentinel([...]).master_for("mymaster")` (`writer.py`).
    RedisPy,
    /// ioredis: `new Redis({ sentinels, name })` (`ioredis_writer.js`).
    Ioredis,
    /// node-redis: `createSentinel({ name, sentinelRootNodes })`
    /// (`node_redis_writer.js`).
    NodeRedis,
}

impl Library {
    /// Every library, in report order.
    pub const ALL: [Self; 3] = [Self::RedisPy, Self::Ioredis, Self::NodeRedis];

    /// Its usual name.
    pub fn name(self) -> &'static str {
        match self {
            Self::RedisPy => "redis-py",
            Self::Ioredis => "ioredis",
            Self::NodeRedis => "node-redis",
        }
    }

    /// The interpreter, the writer program, and a file that exists once
    /// the library is installed.
    fn program(self) -> (PathBuf, PathBuf, PathBuf) {
        let dir = dir();
        let node = |script: &str, package: &str| {
            (
                PathBuf::from("node"),
                dir.join(script),
                dir.join("node_modules").join(package).join("package.json"),
            )
        };
        match self {
            Self::RedisPy => (python(), dir.join("writer.py"), python()),
            Self::Ioredis => node("ioredis_writer.js", "ioredis"),
            Self::NodeRedis => node("node_redis_writer.js", "redis"),
        }
    }

    /// Whether it is installed: an error that says how to install it.
    pub fn installed(self) -> Result<(), String> {
        let (_, _, marker) = self.program();
        if marker.exists() {
            Ok(())
        } else {
            Err(format!(
                "{} is not installed ({} is missing): run scripts/install-clients (scripts/test runs it)",
                self.name(),
                marker.display()
            ))
        }
    }
}

/// The writer programs and the npm package: `crates/arbiter/tests/clients`.
pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../arbiter/tests/clients")
}

/// The Python of the virtual environment `scripts/install-clients` makes:
/// `$ARBITER_CLIENTS_VENV/bin/python`, by default under the workspace's
/// `target/clients/venv`.
pub fn python() -> PathBuf {
    let venv = std::env::var_os("ARBITER_CLIENTS_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/clients/venv"));
    venv.join("bin/python")
}

/// The `[sentinel]` section that has `arbiter run` answer the Sentinel
/// protocol on `listen` (`host:port`) for [`MASTER_NAME`]: the one switch
/// from real Sentinels to arbiter for an application.
pub fn sentinel_section(listen: &str) -> String {
    format!("\n[sentinel]\nlisten = \"{listen}\"\nmaster_name = \"{MASTER_NAME}\"\n")
}

/// `Err` with arbiter's own message when the `arbiter` binary refuses the
/// `[sentinel]` section of `config` (a build without the Sentinel-protocol
/// server: `unknown field `sentinel``). Asked with `arbiter status
/// --config`, which loads the file the way `arbiter run` does and exits 2
/// on a configuration it refuses.
pub fn arbiter_accepts_sentinel(arbiter: &Path, config: &Path) -> Result<(), String> {
    let out = Command::new(arbiter)
        .args(["status", "--config"])
        .arg(config)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", arbiter.display()))?;
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(2) && err.contains("sentinel") {
        let reason = err.lines().find(|l| l.contains("sentinel")).unwrap_or_default().trim();
        return Err(format!(
            "{} refuses the [sentinel] section (no Sentinel-protocol server in this build): {reason}",
            arbiter.display()
        ));
    }
    Ok(())
}

/// The master address the Sentinel-protocol server at `sentinel` names
/// for [`MASTER_NAME`] (`SENTINEL GET-MASTER-ADDR-BY-NAME`), as `host:port`.
pub fn master_addr(sentinel: &str) -> Option<String> {
    let mut con = redis::Client::open(format!("redis://{sentinel}/"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(500)))
        .ok()?;
    con.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    let reply: Option<(String, String)> = redis::cmd("SENTINEL")
        .arg("GET-MASTER-ADDR-BY-NAME")
        .arg(MASTER_NAME)
        .query(&mut con)
        .ok()?;
    reply.map(|(host, port)| format!("{host}:{port}"))
}

/// What a writer reported on exit (its last line of output).
#[derive(Debug, Clone, Deserialize)]
pub struct Summary {
    /// `library version`, e.g. `redis-py 8.1.0`.
    pub library: String,
    /// Writes acknowledged: keys `<prefix>1` to `<prefix><acked>` (a failed
    /// write is retried with the same key, so none is skipped).
    pub acked: u64,
    /// Failed write attempts (each retried).
    pub errors: u64,
    /// The failed attempts by error type, with the first message.
    pub error_kinds: BTreeMap<String, ErrorKind>,
    /// Runs of acknowledged writes to one address, in order.
    pub segments: Vec<Segment>,
    /// The longest time between two acknowledged writes.
    pub longest_gap: Option<Gap>,
    /// How long the writer ran.
    pub elapsed_ms: u64,
}

/// Failed attempts of one error type.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorKind {
    /// How many.
    pub count: u64,
    /// The first one's message.
    pub first: String,
}

/// A run of acknowledged writes that went to one address (as the library
/// tells it: redis-py the master address it connected to, ioredis its
/// socket's peer, node-redis its master node).
#[derive(Debug, Clone, Deserialize)]
pub struct Segment {
    /// `host:port`.
    pub addr: String,
    /// The first and last write of the run.
    pub first: u64,
    /// See `first`.
    pub last: u64,
    /// When they were acknowledged, in ms since the writer started.
    pub first_ms: u64,
    /// See `first_ms`.
    pub last_ms: u64,
}

/// The longest time without an acknowledged write.
#[derive(Debug, Clone, Deserialize)]
pub struct Gap {
    /// The write acknowledged before it (the next one ended it).
    pub after: u64,
    /// Its length.
    pub ms: u64,
}

/// Where the writer went when its primary failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Switch {
    /// The new address.
    pub to: String,
    /// The last write acknowledged on the old address.
    pub last_before: u64,
    /// The first write acknowledged on the new one.
    pub first_after: u64,
    /// The time between the two: what the application saw of the
    /// failover.
    pub unavailable_ms: u64,
}

impl Summary {
    /// The first move away from `old`: the last write acknowledged there
    /// and the first acknowledged elsewhere.
    pub fn switch_from(&self, old: &str) -> Option<Switch> {
        self.segments
            .windows(2)
            .find(|w| w[0].addr == old && w[1].addr != old)
            .map(|w| Switch {
                to: w[1].addr.clone(),
                last_before: w[0].last,
                first_after: w[1].first,
                unavailable_ms: w[1].first_ms.saturating_sub(w[0].last_ms),
            })
    }

    /// The address of the last acknowledged write.
    pub fn last_addr(&self) -> Option<&str> {
        self.segments.last().map(|s| s.addr.as_str())
    }

    /// One line: counts, segments and errors.
    pub fn describe(&self) -> String {
        let segments: Vec<String> = self
            .segments
            .iter()
            .map(|s| format!("{} {}..={} ({}..{} ms)", s.addr, s.first, s.last, s.first_ms, s.last_ms))
            .collect();
        let errors: Vec<String> = self
            .error_kinds
            .iter()
            .map(|(k, e)| format!("{k} ×{} (first: {})", e.count, e.first))
            .collect();
        format!(
            "{}: {} acknowledged in {} ms; writes went to {}; {} failed attempts{}",
            self.library,
            self.acked,
            self.elapsed_ms,
            segments.join(", then "),
            self.errors,
            if errors.is_empty() {
                String::new()
            } else {
                format!(": {}", errors.join("; "))
            }
        )
    }
}

/// Which of `<prefix>1` to `<prefix><acked>` the node at `addr` lacks.
pub fn missing(addr: &str, prefix: &str, acked: u64) -> Result<Vec<u64>, String> {
    let mut con = redis::Client::open(format!("redis://{addr}/"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(2)))
        .map_err(|e| format!("{addr}: {e}"))?;
    con.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut gone = Vec::new();
    let mut from = 1;
    while from <= acked {
        let to = (from + 999).min(acked);
        let mut cmd = redis::cmd("MGET");
        for i in from..=to {
            cmd.arg(format!("{prefix}{i}"));
        }
        let values: Vec<Option<String>> = cmd.query(&mut con).map_err(|e| format!("{addr}: MGET: {e}"))?;
        gone.extend((from..=to).zip(values).filter(|(_, v)| v.is_none()).map(|(i, _)| i));
        from = to + 1;
    }
    Ok(gone)
}

/// Whether `missing` is what asynchronous replication allows after a
/// switch: the new primary holds a prefix of the old one's writes, so the
/// only acknowledged writes it may lack are the last ones the old primary
/// acknowledged (a contiguous run ending at `switch.last_before`), and
/// none acknowledged after the switch.
pub fn loss_is_replication_lag(switch: &Switch, missing: &[u64]) -> Result<(), String> {
    let n = missing.len() as u64;
    let last = switch.last_before;
    if n == 0 || (n <= last && missing.iter().copied().eq(last + 1 - n..=last)) {
        return Ok(());
    }
    let shown: Vec<u64> = missing.iter().copied().take(20).collect();
    Err(format!(
        "{n} acknowledged writes missing, not only the last ones before the switch (the old primary's last was {last}, the new one's first {}): {shown:?}{}",
        switch.first_after,
        if n > 20 { " ..." } else { "" }
    ))
}

/// A running writer program, killed and reaped on drop.
pub struct Writer {
    library: Library,
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    /// Its stderr, shown when it fails.
    stderr: PathBuf,
    _dir: tempfile::TempDir,
}

impl Writer {
    /// Starts `library`'s writer: it asks `sentinels` (`host:port`) for
    /// [`MASTER_NAME`], writes keys `<prefix>1`, `<prefix>2`, ... and
    /// stops by itself after `limit`.
    pub fn start(library: Library, sentinels: &[String], prefix: &str, limit: Duration) -> Result<Self, String> {
        library.installed()?;
        let (interpreter, script, _) = library.program();
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let stderr = dir.path().join("stderr");
        let err = std::fs::File::create(&stderr).map_err(|e| e.to_string())?;
        let mut child = Command::new(&interpreter)
            .arg(&script)
            .args(["--sentinels", &sentinels.join(",")])
            .args(["--master", MASTER_NAME])
            .args(["--duration", &limit.as_secs().to_string()])
            .args(["--prefix", prefix])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .map_err(|e| format!("{} {}: {e}", interpreter.display(), script.display()))?;
        let out = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            library,
            child: Some(child),
            lines,
            stderr,
            _dir: dir,
        })
    }

    fn failed(&self, what: &str) -> String {
        let err = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        format!("{} writer {what}; its stderr:\n{err}", self.library.name())
    }

    /// Waits until the first write is acknowledged (the `ready` line).
    pub fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        loop {
            let left = limit.saturating_sub(start.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains("\"ready\"") => return Ok(()),
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(self.failed(&format!("acknowledged no write within {limit:?}")));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(self.failed("exited before its first acknowledged write"));
                }
            }
        }
    }

    /// Stops it (SIGTERM) and returns its summary.
    pub fn finish(mut self) -> Result<Summary, String> {
        let mut child = self.child.take().expect("finished once");
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let start = Instant::now();
        while child.try_wait().map_err(|e| e.to_string())?.is_none() {
            if start.elapsed() > Duration::from_secs(10) {
                let _ = child.kill();
                let _ = child.wait();
                return Err(self.failed("did not stop within 10 s of SIGTERM"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut last = None;
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            last = Some(line);
        }
        let last = last.ok_or_else(|| self.failed("printed no summary"))?;
        serde_json::from_str(&last)
            .map_err(|e| self.failed(&format!("printed a summary that does not read ({e}): {last}")))
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A summary as writer.py prints it: r1 to 700, then r2 from 701.
    fn summary() -> Summary {
        serde_json::from_str(
            r#"{"library": "redis-py 8.1.0", "acked": 2000, "errors": 3,
                "error_kinds": {"ConnectionError": {"count": 3, "first": "refused"}},
                "segments": [{"addr": "r1:1", "first": 1, "first_ms": 5, "last": 700, "last_ms": 900},
                             {"addr": "r2:2", "first": 701, "first_ms": 3100, "last": 2000, "last_ms": 4000}],
                "longest_gap": {"after": 700, "ms": 2200}, "elapsed_ms": 4000}"#,
        )
        .unwrap()
    }

    #[test]
    fn the_switch_is_the_move_away_from_the_old_primary() {
        let s = summary();
        let switch = s.switch_from("r1:1").unwrap();
        assert_eq!(
            switch,
            Switch {
                to: "r2:2".into(),
                last_before: 700,
                first_after: 701,
                unavailable_ms: 2200
            }
        );
        assert_eq!(s.switch_from("r2:2"), None, "it never left r2");
        assert_eq!(s.last_addr(), Some("r2:2"));
        assert!(s.describe().contains("r1:1 1..=700"), "{}", s.describe());
    }

    #[test]
    fn only_the_old_primarys_last_writes_may_be_missing() {
        let switch = summary().switch_from("r1:1").unwrap();
        assert!(loss_is_replication_lag(&switch, &[]).is_ok());
        assert!(loss_is_replication_lag(&switch, &[698, 699, 700]).is_ok());
        assert!(loss_is_replication_lag(&switch, &[699]).is_err(), "a hole");
        assert!(loss_is_replication_lag(&switch, &[698, 700]).is_err(), "not contiguous");
        assert!(
            loss_is_replication_lag(&switch, &[700, 701]).is_err(),
            "acknowledged after the switch"
        );
        let all: Vec<u64> = (1..=701).collect();
        assert!(
            loss_is_replication_lag(&switch, &all).is_err(),
            "more than r1 acknowledged"
        );
    }
}
