//! The role-change hook against real servers and `arbiter run`: it gets
//! the old and new primary, the epoch and the reason, as arguments and in
//! its environment, for the first record, a failover and a switchover; a
//! hook that hangs is killed with what it started at its timeout, and the
//! controller never waits for it (the failover completes while it hangs,
//! and the next change runs the hook again).

use arbiter_testkit::servers as support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arbiter::live::etcd::Etcd;
use arbiter::live::redis::RedisNodes;
use arbiter::types::{GroupRecord, Role};

const PREFIX: &str = "arbiter/hooks";

fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    support::eventually(what, Duration::from_secs(30), f)
}

/// Whether process `pid` runs (exists and is not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .is_some_and(|zombie| !zombie)
}

const HOOK: &str = r#"#!/bin/sh
dir="$(dirname "$0")"
echo "$* | $ARBITER_REASON $ARBITER_OLD_PRIMARY $ARBITER_OLD_PRIMARY_ADDR $ARBITER_NEW_PRIMARY $ARBITER_NEW_PRIMARY_ADDR $ARBITER_EPOCH $ARBITER_PREFIX" >> "$dir/hook.out"
if [ "$1" = failover ]; then
  sleep 60 &
  echo $! > "$dir/sleep.pid"
  wait
fi
echo "hook done for $1"
"#;

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn the_role_change_hook_gets_each_new_primary_and_a_hanging_one_is_killed_off_the_controllers_path() {
    let etcd_server = support::etcd();
    let [r1, r2, r3] = support::three_nodes();
    let addrs = [r1.addr.clone(), r2.addr.clone(), r3.addr.clone()];
    let dir = tempfile::tempdir().unwrap();
    let hook = dir.path().join("hook.sh");
    std::fs::write(&hook, HOOK).unwrap();
    let extra = format!(
        "\n[hooks]\non_role_change = [\"/bin/sh\", \"{}\"]\ntimeout_ms = 4000\n",
        hook.display()
    );
    let config = support::write_config(dir.path(), &etcd_server, PREFIX, 5, &[&r1, &r2, &r3], &extra);
    let log_path = dir.path().join("run.log");
    let _instance = support::Guard::new(
        Command::new(env!("CARGO_BIN_EXE_arbiter"))
            .args(["run", "--log-format", "json", "--config"])
            .arg(&config)
            .stderr(Stdio::from(std::fs::File::create(&log_path).unwrap()))
            .spawn()
            .unwrap(),
    );
    let etcd = Etcd::new(vec![etcd_server.addr.clone()], Duration::from_secs(1));
    let redis = RedisNodes::new(Duration::from_secs(1), None);
    let record = || {
        let kv = etcd.get(&format!("{PREFIX}/record"), false).ok()??;
        serde_json::from_str::<GroupRecord>(&kv.value).ok()
    };
    let lines = || {
        std::fs::read_to_string(dir.path().join("hook.out"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let events = || {
        std::fs::read_to_string(&log_path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .collect::<Vec<_>>()
    };
    let hook_line = |starts: &str| {
        eventually(&format!("the hook ran for {starts}"), || {
            lines().into_iter().find(|l| l.starts_with(starts))
        })
    };

    // The first record: no old primary (`-`, empty variables).
    let first = eventually("the record names r1", || record().filter(|r| r.primary == "r1"));
    let epoch = first.epoch.get();
    assert_eq!(
        hook_line("bootstrap"),
        format!(
            "bootstrap - - r1 {a} {epoch} | bootstrap   r1 {a} {epoch} {PREFIX}",
            a = addrs[0]
        )
    );

    // A failover: the hook hangs, the controller finishes without it.
    drop(r1);
    let after = eventually("failed over", || record().filter(|r| r.primary != "r1"));
    let new = if after.primary == "r2" { 1 } else { 2 };
    let other = 3 - new;
    let line = hook_line("failover");
    let hook_started = Instant::now();
    assert_eq!(
        line,
        format!(
            "failover r1 {a1} {n} {an} {epoch} | failover r1 {a1} {n} {an} {epoch} {PREFIX}",
            a1 = addrs[0],
            n = after.primary,
            an = addrs[new]
        )
    );
    let sleep_pid: u32 = eventually("the hook started its sleep", || {
        std::fs::read_to_string(dir.path().join("sleep.pid"))
            .ok()
            .and_then(|p| p.trim().parse().ok())
    });
    eventually("the failover completes while the hook hangs", || {
        let promoted = redis.status(&addrs[new]).ok().is_some_and(|s| s.role == Role::Primary);
        let repointed = redis
            .status(&addrs[other])
            .ok()
            .is_some_and(|s| matches!(s.role, Role::Replica { ref primary, .. } if *primary == addrs[new]));
        (promoted && repointed).then_some(())
    });
    assert!(
        alive(sleep_pid) && hook_started.elapsed() < Duration::from_secs(4),
        "the failover waited for the hook ({:?})",
        hook_started.elapsed()
    );
    // Killed at its 4 s timeout, with the sleep it started.
    let killed = eventually("the hook is killed at its timeout", || {
        events()
            .into_iter()
            .find(|e| e["message"] == "role-change hook timed out: killed")
    });
    assert_eq!(killed["level"], "WARN");
    assert_eq!(killed["timeout_ms"], 4000);
    assert!(
        hook_started.elapsed() >= Duration::from_secs(3),
        "{:?}",
        hook_started.elapsed()
    );
    eventually("the hook's sleep is gone", || (!alive(sleep_pid)).then_some(()));

    // The controller goes on: a switchover runs the hook again.
    eventually("the other replica is linked", || {
        redis
            .status(&addrs[other])
            .ok()
            .filter(|s| matches!(s.role, Role::Replica { link_up: true, .. }))
    });
    let out = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["switchover", "--wait", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let back = format!("r{}", other + 1);
    assert!(text.contains(&format!("switchover to {back}: done")), "{text}");
    let line = hook_line("switchover");
    assert!(
        line.starts_with(&format!(
            "switchover {n} {an} {back} {ab} {epoch} |",
            n = after.primary,
            an = addrs[new],
            ab = addrs[other]
        )),
        "{line}"
    );
    let finished = eventually("the switchover's hook finished", || {
        events()
            .into_iter()
            .find(|e| e["message"] == "role-change hook finished" && e["stdout"] == "hook done for switchover")
    });
    assert_eq!(finished["level"], "INFO");
}
