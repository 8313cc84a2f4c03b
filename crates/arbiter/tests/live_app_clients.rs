//! Applications through a failover: real client libraries that support
//! Sentinel (redis-py's `Sentinel`, ioredis with `sentinels:`, node-redis's
//! `createSentinel`), given nothing but the controller's Sentinel-protocol
//! addresses, with the stock library's reconnect behaviour and the
//! smallest retry loop an application would write (the writer programs of
//! `tests/clients/`).
//!
//! For each library, on a fresh group of three real `redis-server` nodes
//! (r1 primary): the writer writes `SET k<i> i` through the controller, r1
//! is killed (SIGKILL), and the test checks that the same writer process
//! goes on writing and reaches the new primary, and that the new primary
//! holds every acknowledged write except, at most, the last ones r1
//! acknowledged before it died (asynchronous replication).
//!
//! Two controllers, one switch: three real Redis Sentinels (`mymaster`,
//! quorum 2, down-after 1 s), or three `arbiter run` instances, each with
//! `[sentinel] listen = "127.0.0.1:<port>"`, `master_name = "mymaster"`.
//! An `arbiter` built without its Sentinel-protocol server refuses that
//! section (`unknown field `sentinel``): the arbiter tests then say so
//! and pass without running.
//!
//! The snippets of the README's "Applications" paragraph are run here too,
//! exactly as printed there but for the addresses.
//!
//! `scripts/test` installs the clients (`scripts/install-clients`) and
//! runs these with `--include-ignored`.

use arbiter_testkit::clients::{self, Library, Writer};
use arbiter_testkit::compare::{self, Controller, Fault, Running};
use arbiter_testkit::servers::{self as support, Server};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use arbiter::live::redis::RedisNodes;
use arbiter::types::Role;

fn arbiter() -> PathBuf {
    env!("CARGO_BIN_EXE_arbiter").into()
}

/// Three nodes (r1 primary) under `controller`, or why the controller
/// offers no Sentinel-protocol addresses (`Ok(Err(reason))`).
type Group = ([Option<Server>; 3], Vec<String>, Running);

fn group(controller: Controller) -> Result<Result<Group, String>, String> {
    let [r1, r2, r3] = support::three_nodes();
    let addrs = vec![r1.addr.clone(), r2.addr.clone(), r3.addr.clone()];
    let running = compare::start_controller(controller, [&r1, &r2, &r3], Fault::Kill, &arbiter())?;
    if let Err(reason) = running.client_ports() {
        return Ok(Err(reason.to_string()));
    }
    Ok(Ok(([Some(r1), Some(r2), Some(r3)], addrs, running)))
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> Result<T, String> {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        if start.elapsed() > Duration::from_secs(30) {
            return Err(format!("{what}: not within 30 s"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn dbsize(addr: &str) -> Option<u64> {
    let mut con = redis::Client::open(format!("redis://{addr}/"))
        .ok()?
        .get_connection_with_timeout(Duration::from_millis(500))
        .ok()?;
    redis::cmd("DBSIZE").query(&mut con).ok()
}

/// What one library did through one failover.
enum Run {
    /// The report line.
    Done(String),
    /// The controller has no Sentinel-protocol addresses: why.
    Skipped(String),
    /// The controller itself failed over twice (a replica promoted, then
    /// the other one), so the run says nothing about the library: why,
    /// with the controller's events.
    FailedOverTwice(String),
}

/// The one replica (index 1 or 2 of `addrs`) that claims primary, once
/// exactly one does.
fn promoted(status: &RedisNodes, addrs: &[String]) -> Option<usize> {
    let primaries: Vec<usize> = (1..3)
        .filter(|&i| status.status(&addrs[i]).is_ok_and(|s| s.role == Role::Primary))
        .collect();
    (primaries.len() == 1).then(|| primaries[0])
}

/// `library`'s writer through the controller while r1 is killed: it must
/// go on, reach the new primary, and lose no acknowledged write beyond
/// what replication lag allows. A failure carries what the Redis
/// Sentinels logged, if they are the controller.
fn through_a_failover(controller: Controller, library: Library) -> Result<Run, String> {
    library.installed()?;
    let (nodes, addrs, running) = match group(controller)? {
        Ok(g) => g,
        Err(reason) => return Ok(Run::Skipped(reason)),
    };
    let events = |e: String| match running.sentinel_events() {
        ev if ev.is_empty() => e,
        ev => format!("{e}\nwhat the Sentinels logged:\n{ev}"),
    };
    match follow(nodes, &addrs, &running, library) {
        Ok(Run::FailedOverTwice(why)) => Ok(Run::FailedOverTwice(events(why))),
        Ok(run) => Ok(run),
        Err(e) => Err(events(e)),
    }
}

/// The body of [`through_a_failover`], on a started group.
fn follow(
    mut nodes: [Option<Server>; 3],
    addrs: &[String],
    running: &Running,
    library: Library,
) -> Result<Run, String> {
    let ports = running.client_ports()?.to_vec();
    let mut writer = Writer::start(library, &ports, "k", Duration::from_secs(120))?;
    writer.wait_ready(Duration::from_secs(30))?;
    std::thread::sleep(Duration::from_secs(1));

    nodes[0] = None; // r1 killed (SIGKILL)
    let status = RedisNodes::new(Duration::from_millis(300), None);
    let new = wait_for("a replica promoted", || promoted(&status, addrs))?;
    // Replicas refuse writes: keys growing on the new primary are the
    // writer's, sent to it.
    let mut before = None;
    wait_for("the writer's keys grow on the new primary", || {
        let now = dbsize(&addrs[new])?;
        let grew = before.is_some_and(|b| now > b + 10);
        before = Some(now);
        std::thread::sleep(Duration::from_millis(200));
        grew.then_some(())
    })?;
    std::thread::sleep(Duration::from_secs(1));
    let summary = writer.finish()?;

    let describe = summary.describe();
    let last = wait_for("one primary at the end", || promoted(&status, addrs))?;
    if last != new {
        return Ok(Run::FailedOverTwice(format!(
            "the controller promoted r{} ({}), then r{} ({}): {describe}",
            new + 1,
            addrs[new],
            last + 1,
            addrs[last]
        )));
    }
    if summary.segments.first().map(|s| s.addr.as_str()) != Some(addrs[0].as_str()) {
        return Err(format!("it did not start on r1 ({}): {describe}", addrs[0]));
    }
    let switch = summary
        .switch_from(&addrs[0])
        .ok_or_else(|| format!("it never left r1: {describe}"))?;
    if switch.to != addrs[new] || summary.last_addr() != Some(addrs[new].as_str()) {
        return Err(format!(
            "it did not end on the new primary r{} ({}): {describe}",
            new + 1,
            addrs[new]
        ));
    }
    let missing = clients::missing(&addrs[new], "k", summary.acked)?;
    clients::loss_is_replication_lag(&switch, &missing).map_err(|e| format!("{e}; {describe}"))?;
    Ok(Run::Done(format!(
        "{}: {} writes acknowledged, {} on r1 then {} on r{} after {} ms without an acknowledged write; {} acknowledged missing on the new primary (r1's last, not replicated); {} failed attempts, retried{}",
        summary.library,
        summary.acked,
        switch.last_before,
        summary.acked - switch.last_before,
        new + 1,
        switch.unavailable_ms,
        missing.len(),
        summary.errors,
        if summary.error_kinds.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                summary
                    .error_kinds
                    .iter()
                    .map(|(k, e)| format!("{k} ×{}", e.count))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    )))
}

/// Runs of one library under Redis Sentinel, at most, while Sentinel
/// itself fails over twice. A CI run on the two-core machine (2026-12-02)
/// saw it twice in a row with ioredis, the fastest writer: every Sentinel
/// marked the just-promoted node down about 1 s (down-after) after its
/// promotion, and failed over again.
const SENTINEL_ATTEMPTS: u32 = 3;

/// Every library through a failover under `controller`, one group each;
/// all are tried before any failure is reported. Under Redis Sentinel, a
/// library whose run saw Sentinel itself fail over twice (seen in CI:
/// writes went r1, r3, then r2) is run again on a fresh group, up to
/// [`SENTINEL_ATTEMPTS`] runs, each said on stderr with the Sentinels'
/// events: such a run says nothing about the library. The last of them
/// failing so fails, and under arbiter a second failover is arbiter's to
/// explain: it fails at once.
fn every_library_follows_a_failover(controller: Controller) {
    let mut done = Vec::new();
    let mut failed = Vec::new();
    for library in Library::ALL {
        let mut run = through_a_failover(controller, library);
        let mut attempts = 1;
        while let (Controller::Sentinel, Ok(Run::FailedOverTwice(why))) = (controller, &run) {
            if attempts == SENTINEL_ATTEMPTS {
                break;
            }
            eprintln!(
                "{}: {}: the controller failed over twice, run again on a fresh group: {why}",
                controller.name(),
                library.name()
            );
            run = through_a_failover(controller, library);
            attempts += 1;
        }
        match run {
            Ok(Run::Done(line)) => {
                eprintln!("{}: {line}", controller.name());
                done.push(line);
            }
            Ok(Run::Skipped(reason)) => {
                panic!("{} offers no Sentinel-protocol port: {reason}", controller.name());
            }
            Ok(Run::FailedOverTwice(why)) => {
                eprintln!("{}: {} FAILED: {why}", controller.name(), library.name());
                failed.push(format!("{}: the controller failed over twice: {why}", library.name()));
            }
            Err(e) => {
                eprintln!("{}: {} FAILED: {e}", controller.name(), library.name());
                failed.push(format!("{}: {e}", library.name()));
            }
        }
    }
    assert!(failed.is_empty(), "under {}:\n{}", controller.name(), failed.join("\n"));
}

#[test]
#[ignore = "needs redis-server, etcd, python and node clients: run scripts/test"]
fn every_client_library_follows_a_sentinel_failover() {
    every_library_follows_a_failover(Controller::Sentinel);
}

#[test]
#[ignore = "needs redis-server, etcd, python and node clients: run scripts/test"]
fn every_client_library_follows_an_arbiter_failover() {
    every_library_follows_a_failover(Controller::Arbiter);
}

/// The fenced block of `readme` that starts with `first_line`, without
/// its fences.
fn snippet(readme: &str, fence: &str, first_line: &str) -> String {
    let start = format!("```{fence}\n{first_line}");
    let at = readme
        .find(&start)
        .unwrap_or_else(|| panic!("README.md has no ```{fence} block starting with {first_line:?}"));
    let body = &readme[at + fence.len() + 4..];
    body[..body.find("```").expect("a closing fence")].to_string()
}

/// The snippet with the README's example addresses (`10.0.0.N`, port
/// 26379, N = 1, 2, 3, written `pattern` with `{host}` and `{port}`)
/// replaced by `ports`; every one must be there.
fn with_addresses(snippet: &str, pattern: &str, ports: &[String]) -> String {
    let mut code = snippet.to_string();
    for (n, addr) in ports.iter().enumerate() {
        let (host, port) = addr.rsplit_once(':').unwrap();
        let example = pattern
            .replace("{host}", &format!("10.0.0.{}", n + 1))
            .replace("{port}", "26379");
        assert!(
            code.contains(&example),
            "the README snippet lacks {example}:\n{snippet}"
        );
        code = code.replace(&example, &pattern.replace("{host}", host).replace("{port}", port));
    }
    code
}

/// Runs `cmd` (a snippet) in `dir`; panics with its output when it fails
/// or takes over 30 s (then it is killed).
fn run_snippet(what: &str, mut cmd: Command, dir: &Path) {
    let child = cmd
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    let pid = child.id().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    let Ok(out) = rx.recv_timeout(Duration::from_secs(30)) else {
        let _ = Command::new("kill").args(["-KILL", &pid]).status();
        panic!("{what}: did not finish within 30 s (killed)");
    };
    let out = out.unwrap();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The README's redis-py and ioredis snippets, run against the group:
/// each must set `greeting` on the primary.
fn the_readme_snippets_run(controller: Controller) {
    for library in [Library::RedisPy, Library::Ioredis] {
        library.installed().unwrap();
    }
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let python = snippet(&readme, "python", "from redis.sentinel import Sentinel");
    let js = snippet(&readme, "js", "const Redis = require(\"ioredis\");");
    let (_nodes, addrs, running) = match group(controller).unwrap() {
        Ok(g) => g,
        Err(reason) => panic!("{} offers no Sentinel-protocol port: {reason}", controller.name()),
    };
    let ports = running.client_ports().unwrap().to_vec();
    let dir = tempfile::tempdir().unwrap();
    let greeting = || -> Option<String> {
        let mut con = redis::Client::open(format!("redis://{}/", addrs[0]))
            .unwrap()
            .get_connection()
            .unwrap();
        let value: Option<String> = redis::cmd("GETDEL").arg("greeting").query(&mut con).unwrap();
        value
    };

    let code = with_addresses(&python, "(\"{host}\", {port})", &ports);
    let mut cmd = Command::new(clients::python());
    cmd.arg("-c").arg(&code);
    run_snippet("the README's redis-py snippet", cmd, dir.path());
    assert_eq!(
        greeting().as_deref(),
        Some("hello"),
        "the redis-py snippet set it:\n{code}"
    );

    let code = with_addresses(&js, "{ host: \"{host}\", port: {port} }", &ports);
    let file = dir.path().join("snippet.js");
    std::fs::write(&file, &code).unwrap();
    let mut cmd = Command::new("node");
    cmd.arg(&file).env("NODE_PATH", clients::dir().join("node_modules"));
    run_snippet("the README's ioredis snippet", cmd, dir.path());
    assert_eq!(
        greeting().as_deref(),
        Some("hello"),
        "the ioredis snippet set it:\n{code}"
    );
    eprintln!(
        "the README's redis-py and ioredis snippets set greeting on r1 through {}",
        controller.name()
    );
}

#[test]
#[ignore = "needs redis-server, etcd, python and node clients: run scripts/test"]
fn the_readme_snippets_run_against_sentinel() {
    the_readme_snippets_run(Controller::Sentinel);
}

#[test]
#[ignore = "needs redis-server, etcd, python and node clients: run scripts/test"]
fn the_readme_snippets_run_against_arbiter() {
    the_readme_snippets_run(Controller::Arbiter);
}
