//! Operator hooks (`[hooks]` in `arbiter.toml`): a command the leading
//! instance runs whenever it has published a new primary in the group
//! record (a failover, a switchover, the first record), to move a virtual
//! IP, update DNS or page someone.
//!
//! The command is the configured argv with six arguments appended, and
//! the same facts in its environment:
//!
//! | argument | environment | value |
//! | --- | --- | --- |
//! | 1 | `ARBITER_REASON` | `failover`, `switchover`, `bootstrap` (the first record), `adopt` (a primary found changed), `promote` or `record` |
//! | 2 | `ARBITER_OLD_PRIMARY` | the previous primary's name (argument `-`, variable empty: none) |
//! | 3 | `ARBITER_OLD_PRIMARY_ADDR` | its `host:port` (likewise) |
//! | 4 | `ARBITER_NEW_PRIMARY` | the new primary's name |
//! | 5 | `ARBITER_NEW_PRIMARY_ADDR` | its `host:port` |
//! | 6 | `ARBITER_EPOCH` | the epoch of the leader that published it |
//! | | `ARBITER_PREFIX` | the group's etcd prefix |
//!
//! It runs in a thread of its own, in a process group of its own, with
//! stdin closed: the controller never waits for it. Past its timeout the
//! whole process group is killed (SIGKILL). Its exit status and the first
//! [`OUTPUT_LIMIT`] bytes of its stdout and stderr are logged
//! (`role-change hook finished`, or a warning when it failed, timed out or
//! could not start). The hook runs once the record names the new primary:
//! Redis may still be promoting it (a failover's `REPLICAOF NO ONE`
//! follows at once) or handing over (a switchover).

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::machine::{Machine, Plan, State};
use crate::types::{GroupConfig, GroupRecord};

/// How much of a hook's stdout and of its stderr is logged, each.
pub const OUTPUT_LIMIT: usize = 4096;

/// The default `hooks.timeout_ms`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The configured hooks (`[hooks]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookOptions {
    /// `on_role_change`: the program and its first arguments; empty: none.
    pub on_role_change: Vec<String>,
    /// `timeout_ms`: killed past it.
    pub timeout: Duration,
}

impl Default for HookOptions {
    fn default() -> Self {
        Self {
            on_role_change: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// A new primary the leader has published in the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleChange {
    /// Why (see the module's table).
    pub reason: String,
    /// The previous primary's name and address, if there was a record.
    pub old: Option<(String, String)>,
    /// The new primary's name and address.
    pub new: (String, String),
    /// The publishing leader's epoch.
    pub epoch: i64,
    /// The group's etcd prefix.
    pub prefix: String,
}

impl RoleChange {
    /// The arguments appended to the configured command.
    pub fn args(&self) -> Vec<String> {
        let (old_name, old_addr) = self.old.clone().unwrap_or_else(|| ("-".to_string(), "-".to_string()));
        vec![
            self.reason.clone(),
            old_name,
            old_addr,
            self.new.0.clone(),
            self.new.1.clone(),
            self.epoch.to_string(),
        ]
    }

    /// The environment variables set for the command.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let (old_name, old_addr) = self.old.clone().unwrap_or_default();
        vec![
            ("ARBITER_REASON", self.reason.clone()),
            ("ARBITER_OLD_PRIMARY", old_name),
            ("ARBITER_OLD_PRIMARY_ADDR", old_addr),
            ("ARBITER_NEW_PRIMARY", self.new.0.clone()),
            ("ARBITER_NEW_PRIMARY_ADDR", self.new.1.clone()),
            ("ARBITER_EPOCH", self.epoch.to_string()),
            ("ARBITER_PREFIX", self.prefix.clone()),
        ]
    }
}

/// Watches the machine from the run loop for records it publishes naming
/// a new primary.
#[derive(Debug, Default)]
pub struct RoleChangeWatcher {
    record: Option<GroupRecord>,
    reason: Option<&'static str>,
}

/// The hook's reason for a record written for `plan`.
fn reason_of(plan: &Plan, machine: &Machine) -> &'static str {
    match plan {
        Plan::Failover { .. } => "failover",
        Plan::Bootstrap { .. } => "bootstrap",
        Plan::Promote { .. } => "promote",
        Plan::Adopt { primary } => {
            let handed_over = machine
                .context()
                .handover
                .as_ref()
                .is_some_and(|(_, to, ..)| to == primary);
            if handed_over { "switchover" } else { "adopt" }
        }
        _ => "record",
    }
}

impl RoleChangeWatcher {
    /// A watcher that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Call after every step: the change when this instance, leading, has
    /// just published a record naming another primary than the record it
    /// had before. Addresses come from the machine's configuration.
    pub fn observe(&mut self, machine: &Machine, prefix: &str) -> Option<RoleChange> {
        if let State::Publishing { plan } = machine.state() {
            self.reason = Some(reason_of(plan, machine));
        }
        let ctx = machine.context();
        let before = std::mem::replace(&mut self.record, ctx.record.clone());
        let new = ctx.record.as_ref()?;
        if ctx.epoch != Some(new.epoch) || before.as_ref().is_some_and(|b| b.primary == new.primary) {
            return None;
        }
        let addr = |config: &GroupConfig, name: &str| config.node(name).map_or_else(String::new, |n| n.addr.clone());
        Some(RoleChange {
            reason: self.reason.take().unwrap_or("record").to_string(),
            old: before.map(|b| {
                let a = addr(&ctx.config, &b.primary);
                (b.primary, a)
            }),
            new: (new.primary.clone(), addr(&ctx.config, &new.primary)),
            epoch: new.epoch.get(),
            prefix: prefix.to_string(),
        })
    }
}

/// How a hook run ended.
#[derive(Debug)]
pub struct HookRun {
    /// Its exit status, when it exited by itself.
    pub status: Option<ExitStatus>,
    /// It ran past its timeout and its process group was killed.
    pub timed_out: bool,
    /// The first [`OUTPUT_LIMIT`] bytes of its stdout (lossy UTF-8).
    pub stdout: String,
    /// The first [`OUTPUT_LIMIT`] bytes of its stderr (lossy UTF-8).
    pub stderr: String,
    /// How long it ran.
    pub elapsed: Duration,
}

/// Reads `from` to its end, keeping the first [`OUTPUT_LIMIT`] bytes, and
/// sends them (with `… (N more bytes)` when cut).
fn collect(mut from: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("arbiter-hook-output".into())
        .spawn(move || {
            let mut kept = Vec::new();
            let mut more = 0usize;
            let mut buf = [0u8; 4096];
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let room = OUTPUT_LIMIT.saturating_sub(kept.len()).min(n);
                kept.extend_from_slice(&buf[..room]);
                more += n - room;
            }
            let mut text = String::from_utf8_lossy(&kept).trim_end().to_string();
            if more > 0 {
                text.push_str(&format!(" … ({more} more bytes)"));
            }
            let _ = tx.send(text);
        });
    if spawned.is_err() {
        // (the sender is gone with the closure: the receiver reads nothing)
    }
    rx
}

/// Runs `argv` with `change`'s arguments and environment, waits at most
/// `timeout` (then kills its process group), and returns how it ended;
/// `Err` when it could not start.
pub fn run(argv: &[String], change: &RoleChange, timeout: Duration) -> Result<HookRun, String> {
    use std::os::unix::process::CommandExt as _;
    let (program, first) = argv.split_first().ok_or("no command configured")?;
    let started = Instant::now();
    let mut child = Command::new(program)
        .args(first)
        .args(change.args())
        .envs(change.env())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    let stdout = child.stdout.take().map(collect);
    let stderr = child.stderr.take().map(collect);
    let deadline = started + timeout;
    let (status, timed_out) = loop {
        match child.try_wait() {
            Ok(Some(status)) => break (Some(status), false),
            Ok(None) if Instant::now() >= deadline => {
                let group = rustix::process::Pid::from_child(&child);
                let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
                let _ = child.kill();
                let _ = child.wait();
                break (None, true);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("cannot wait for {program}: {e}"));
            }
        }
    };
    // A process the hook left running may hold its pipes open: its output
    // is not waited for past a second.
    let read = |rx: Option<mpsc::Receiver<String>>| {
        rx.and_then(|rx| rx.recv_timeout(Duration::from_secs(1)).ok())
            .unwrap_or_default()
    };
    Ok(HookRun {
        status,
        timed_out,
        stdout: read(stdout),
        stderr: read(stderr),
        elapsed: started.elapsed(),
    })
}

/// Runs the role-change hook for `change`, if one is configured, in a
/// thread of its own, and logs how it ended. Never blocks the caller.
pub fn spawn_role_change(options: &HookOptions, change: RoleChange) {
    if options.on_role_change.is_empty() {
        return;
    }
    let argv = options.on_role_change.clone();
    let timeout = options.timeout;
    let program = argv[0].clone();
    let spawned = std::thread::Builder::new()
        .name("arbiter-hook".into())
        .spawn(move || log_run(&argv, &change, timeout));
    if let Err(e) = spawned {
        warn!(target: "arbiter", hook = %program, error = %e, "role-change hook: cannot start a thread for it");
    }
}

/// Runs the hook and logs how it ended.
fn log_run(argv: &[String], change: &RoleChange, timeout: Duration) {
    let hook = argv.first().cloned().unwrap_or_default();
    let primary = &change.new.0;
    info!(target: "arbiter", %hook, reason = %change.reason, %primary, epoch = change.epoch, "running the role-change hook");
    match run(argv, change, timeout) {
        Err(e) => warn!(target: "arbiter", %hook, error = %e, "role-change hook could not start"),
        Ok(r) => {
            let ms = r.elapsed.as_millis() as u64;
            let (stdout, stderr) = (&r.stdout, &r.stderr);
            match r.status {
                Some(status) if status.success() => {
                    info!(target: "arbiter", %hook, ms, stdout, stderr, "role-change hook finished");
                }
                Some(status) => {
                    let status = status.to_string();
                    warn!(target: "arbiter", %hook, ms, %status, stdout, stderr, "role-change hook failed");
                }
                None => warn!(
                    target: "arbiter",
                    %hook,
                    timeout_ms = timeout.as_millis() as u64,
                    stdout,
                    stderr,
                    "role-change hook timed out: killed"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(old: bool) -> RoleChange {
        RoleChange {
            reason: "failover".into(),
            old: old.then(|| ("r1".to_string(), "10.0.0.1:6379".to_string())),
            new: ("r2".into(), "10.0.0.2:6379".into()),
            epoch: 12,
            prefix: "arbiter/main".into(),
        }
    }

    fn sh(script: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), script.into(), "hook".into()]
    }

    #[test]
    fn a_hook_gets_the_change_as_arguments_and_environment() {
        let script = r#"echo "$@"; echo "$ARBITER_REASON $ARBITER_OLD_PRIMARY $ARBITER_OLD_PRIMARY_ADDR $ARBITER_NEW_PRIMARY $ARBITER_NEW_PRIMARY_ADDR $ARBITER_EPOCH $ARBITER_PREFIX"; echo oops >&2"#;
        let r = run(&sh(script), &change(true), Duration::from_secs(10)).unwrap();
        assert!(r.status.is_some_and(|s| s.success()) && !r.timed_out, "{r:?}");
        assert_eq!(
            r.stdout,
            "failover r1 10.0.0.1:6379 r2 10.0.0.2:6379 12\nfailover r1 10.0.0.1:6379 r2 10.0.0.2:6379 12 arbiter/main"
        );
        assert_eq!(r.stderr, "oops");
        // No previous primary: `-` as arguments, empty variables.
        let r = run(
            &sh(r#"echo "$@|$ARBITER_OLD_PRIMARY|""#),
            &change(false),
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(r.stdout, "failover - - r2 10.0.0.2:6379 12||");
    }

    #[test]
    fn a_hanging_hook_is_killed_with_what_it_started_and_its_output_is_bounded() {
        let started = Instant::now();
        // The shell starts a child that would keep the pipe open.
        let r = run(
            &sh("echo started; sleep 30 & sleep 30"),
            &change(true),
            Duration::from_millis(300),
        )
        .unwrap();
        assert!(r.timed_out && r.status.is_none(), "{r:?}");
        assert_eq!(r.stdout, "started");
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
        let r = run(
            &sh("head -c 10000 /dev/zero | tr '\\0' x; exit 3"),
            &change(true),
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(r.status.and_then(|s| s.code()), Some(3));
        assert!(r.stdout.starts_with(&"x".repeat(OUTPUT_LIMIT)), "{}", r.stdout.len());
        assert!(
            r.stdout.ends_with(" … (5904 more bytes)"),
            "{}",
            &r.stdout[OUTPUT_LIMIT..]
        );
        let e = run(
            &["/nonexistent/hook".to_string()],
            &change(true),
            Duration::from_secs(1),
        )
        .unwrap_err();
        assert!(e.starts_with("cannot start /nonexistent/hook"), "{e}");
    }
}
