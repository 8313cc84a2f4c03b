//! `arbiter switchover [--to NODE] [--wait]`: writes a request to
//! `PREFIX/switchover` (the node's name, as `etcdctl put` would) and reads
//! the leader's answer to that very request in `PREFIX/switchover-status`
//! (its `request` is the etcd mod revision the write got).

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use arbiter::live::redis::RedisNodes;
use arbiter::live::switchover::{SwitchoverAnswer, SwitchoverOutcome, pick_target};
use arbiter::types::GroupRecord;

use crate::control::{Group, POLL};

/// Picks the target when none is named: the record's primary, every node
/// polled, [`pick_target`]'s choice printed; `Err` with why not.
fn pick(group: &Group) -> Result<String, String> {
    let record = match group.etcd.get(&group.keys.record(), false) {
        Ok(Some(kv)) => serde_json::from_str::<GroupRecord>(&kv.value)
            .map_err(|e| format!("{} is not a group record ({e}): {}", group.keys.record(), kv.value))?,
        Ok(None) => {
            return Err(format!(
                "no group record yet ({} is empty): no primary to switch over from; name the target with --to",
                group.keys.record()
            ));
        }
        Err(e) => return Err(format!("cannot read {} in etcd: {e}", group.keys.record())),
    };
    let redis = RedisNodes::new(group.config.live.timeout, group.config.live.password.clone())
        .with_tls(group.config.live.redis_tls.clone());
    let nodes: Vec<_> = group
        .config
        .group
        .nodes
        .iter()
        .map(|n| (n.name.clone(), redis.status(&n.addr)))
        .collect();
    let chosen = pick_target(&group.config.group, &record.primary, &nodes)?;
    say!("switchover: choosing {}: {}", chosen.node, chosen.why);
    Ok(chosen.node)
}

/// How the wait for an answer ended.
enum Ended {
    /// The answer to this request (or to a newer request that replaced
    /// it, with its revision).
    Answer(SwitchoverAnswer, Option<i64>),
    /// No answer in time: why, in words.
    TimedOut(String),
}

/// Waits up to `timeout` (from `started`) for an answer to request
/// `revision` for which `done` holds (an answer to a newer request that
/// was not refused, which replaced this one, ends the wait too).
fn wait(
    group: &Group,
    target: &str,
    revision: i64,
    started: Instant,
    timeout: Duration,
    done: impl Fn(&SwitchoverAnswer) -> bool,
) -> Ended {
    let status_key = group.keys.switchover_status();
    let request_key = group.keys.switchover();
    let mut latest: Option<SwitchoverAnswer> = None;
    // An answer for this target naming no request: from an arbiter older
    // than this command, which does not say which request it answers.
    let mut unnamed: Option<SwitchoverAnswer> = None;
    loop {
        if let Ok(Some(kv)) = group.etcd.get(&status_key, false) {
            if let Ok(answer) = serde_json::from_str::<SwitchoverAnswer>(&kv.value) {
                match answer.request {
                    Some(r) if r == revision => {
                        if done(&answer) {
                            return Ended::Answer(answer, None);
                        }
                        latest = Some(answer);
                    }
                    Some(r) if r > revision && answer.outcome != SwitchoverOutcome::Refused => {
                        return Ended::Answer(answer, Some(r));
                    }
                    None if answer.target == target => unnamed = Some(answer),
                    _ => {}
                }
            }
        }
        if started.elapsed() >= timeout {
            let waited = humantime::format_duration(timeout);
            return Ended::TimedOut(match (&latest, group.etcd.get(&request_key, false)) {
                (Some(a), _) => format!(
                    "timed out after {waited}: the leader accepted the request and has not finished it (latest answer: {}); nothing is left in etcd",
                    outcome_word(a.outcome)
                ),
                (None, Ok(Some(kv))) if kv.mod_revision == revision => format!(
                    "timed out after {waited}: no leader took the request: {}; left in etcd: {request_key} = {target} (revision {revision}), which a leader that starts will carry out; withdraw it with `etcdctl del {request_key}`",
                    group.why_no_answer()
                ),
                (None, Ok(Some(kv))) => format!(
                    "timed out after {waited}: the request was replaced by another one before a leader took it: {request_key} = {} (revision {})",
                    kv.value, kv.mod_revision
                ),
                (None, Ok(None)) if unnamed.is_some() => format!(
                    "timed out after {waited}: a leader took the request (nothing is left in etcd) but its answers name no request (an arbiter older than this command?); the latest answer for {target}: {}",
                    unnamed.as_ref().map_or("", |a| outcome_word(a.outcome))
                ),
                (None, Ok(None)) => format!(
                    "timed out after {waited}: a leader took the request (nothing is left in etcd) but its answer was not read: {}",
                    group.why_no_answer()
                ),
                (None, Err(e)) => format!("timed out after {waited}: etcd does not answer ({e})"),
            });
        }
        std::thread::sleep(POLL);
    }
}

fn outcome_word(outcome: SwitchoverOutcome) -> &'static str {
    match outcome {
        SwitchoverOutcome::Refused => "refused",
        SwitchoverOutcome::Accepted => "accepted",
        SwitchoverOutcome::Done => "done",
        SwitchoverOutcome::Failed => "failed",
    }
}

/// Prints `answer` in one line; its exit code (0 accepted or done).
fn report(target: &str, revision: i64, answer: &SwitchoverAnswer, newer: Option<i64>) -> ExitCode {
    let word = outcome_word(answer.outcome);
    let reason = answer.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
    if let Some(newer) = newer {
        say!(
            "switchover to {target}: superseded: a newer request for {} (revision {newer}) replaced this one (revision {revision}); its answer: {word}{reason}",
            answer.target
        );
        let same = answer.target == target;
        return match answer.outcome {
            SwitchoverOutcome::Done | SwitchoverOutcome::Accepted if same => ExitCode::SUCCESS,
            _ => ExitCode::from(1),
        };
    }
    let detail = match answer.outcome {
        SwitchoverOutcome::Done => format!(": {target} is primary"),
        SwitchoverOutcome::Accepted => ": the leader will hand over as soon as the target is a linked replica".into(),
        _ => reason,
    };
    say!("switchover to {target}: {word}{detail} (request revision {revision})");
    match answer.outcome {
        SwitchoverOutcome::Done | SwitchoverOutcome::Accepted => ExitCode::SUCCESS,
        SwitchoverOutcome::Refused | SwitchoverOutcome::Failed => ExitCode::from(1),
    }
}

/// `arbiter switchover --config PATH [--to NODE] [--wait] [--timeout D]`.
pub(crate) fn switchover(path: &Path, to: Option<String>, wait_done: bool, timeout: Duration) -> ExitCode {
    let group = match Group::open(path) {
        Ok(g) => g,
        Err(code) => return code,
    };
    let target = match to {
        Some(t) => t,
        None => match pick(&group) {
            Ok(t) => t,
            Err(why) => {
                say!("switchover: refused: {why}");
                return ExitCode::from(1);
            }
        },
    };
    let key = group.keys.switchover();
    if let Ok(Some(pending)) = group.etcd.get(&key, false) {
        say!(
            "switchover: replacing a request not taken yet: {key} = {} (revision {})",
            pending.value,
            pending.mod_revision
        );
    }
    let revision = match group.etcd.put_revision(&key, &target) {
        Ok(r) => r,
        Err(e) => {
            say!(
                "switchover to {target}: failed: cannot write {key} in etcd ({}): {e}",
                group.endpoints()
            );
            return ExitCode::from(1);
        }
    };
    let started = Instant::now();
    let taken = wait(&group, &target, revision, started, timeout, |_| true);
    let answer = match taken {
        Ended::TimedOut(why) => {
            say!("switchover to {target}: {why}");
            return ExitCode::from(1);
        }
        Ended::Answer(answer, newer) => {
            let code = report(&target, revision, &answer, newer);
            if !wait_done || newer.is_some() || answer.outcome != SwitchoverOutcome::Accepted {
                return code;
            }
            answer
        }
    };
    debug_assert_eq!(answer.outcome, SwitchoverOutcome::Accepted);
    let finished = |a: &SwitchoverAnswer| a.outcome != SwitchoverOutcome::Accepted;
    match wait(&group, &target, revision, started, timeout, finished) {
        Ended::TimedOut(why) => {
            say!("switchover to {target}: {why}");
            ExitCode::from(1)
        }
        Ended::Answer(answer, newer) => report(&target, revision, &answer, newer),
    }
}
