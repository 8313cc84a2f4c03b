//! The ten failures (`crates/arbiter/INVARIANTS.md`), each produced by a listed
//! seed of the default simulation, as its model event log shows. Failure 4
//! (a stale etcd read) needs a reader that asks for one: arbiter only reads
//! linearizably, so it is produced with the `TrustStaleRead` planted bug.
//!
//! The scenarios of issue 22's trial on real servers are listed too, each
//! with a seed of the `trial` fault profile (`arbiter simulate --profile
//! trial`) and, where the default mix produces it, of the default sweep.
//!
//! Beside them, the seeds of the default sweep that once violated an
//! invariant and were fixed since must pass (`ONCE_VIOLATING`).
//!
//! When the controller or the model changes, a listed seed may stop
//! producing its failure; the test then names the first seed that does,
//! to put in the table (`cargo test -p arbiter --release --test failures`).

use arbiter::sim::model::Event;
use arbiter::sim::run::{Profile, SimOptions, run, run_with_timeline};
use rehearse::Sim;

/// Down-after of the simulated group (`Settings::default`).
const DOWN_AFTER_MS: u64 = 3000;

/// Seeds searched for a replacement when a listed seed stops producing.
const SEARCH: u64 = 3000;

fn at<'a>(events: &'a [Event], prefix: &'a str) -> impl Iterator<Item = &'a Event> + 'a {
    events.iter().filter(move |e| e.what().starts_with(prefix))
}

/// The instance that wrote the last record before `t` (without its
/// incarnation), and the primary it named.
fn recorded_before(events: &[Event], t: u64) -> Option<(String, String)> {
    at(events, "record: primary ").filter(|e| e.at <= t).last().map(|e| {
        let what = e.what();
        let words: Vec<&str> = what.split(' ').collect();
        let by = words.last().copied().unwrap_or_default();
        let instance = by.split('.').next().unwrap_or_default().to_string();
        (instance, words[2].to_string())
    })
}

fn node_of(what: &str, prefix: &str) -> String {
    what[prefix.len()..]
        .split([' ', ','])
        .next()
        .unwrap_or_default()
        .to_string()
}

/// 1. Primary isolated with some clients; writes acknowledged on both sides; heal.
fn isolated_primary_acks_writes(ev: &[Event]) -> bool {
    at(ev, "write acked by ")
        .any(|w| at(ev, "partition").any(|p| p.at <= w.at) && at(ev, "partition healed").any(|h| h.at > w.at))
}

/// 2. Primary killed and restarted empty before detection.
fn primary_restarted_empty_before_detection(ev: &[Event]) -> bool {
    at(ev, "restart empty: ").any(|r| {
        let node = node_of(&r.what(), "restart empty: ");
        let had_data = !r.what().ends_with("(had 0 writes)");
        let crashed = at(ev, "crash: ")
            .filter(|c| c.at <= r.at && node_of(&c.what(), "crash: ") == node)
            .last()
            .is_some_and(|c| r.at - c.at < DOWN_AFTER_MS);
        let primary = recorded_before(ev, r.at).is_some_and(|(_, p)| p == node);
        had_data && crashed && primary
    })
}

/// 3. Leader paused longer than its lease; another takes over; the old one wakes.
fn paused_leader_replaced(ev: &[Event]) -> bool {
    at(ev, "arbiter pause: ").any(|p| {
        let who = node_of(&p.what(), "arbiter pause: ");
        let until: u64 = p.what().rsplit("t=").next().and_then(|t| t.parse().ok()).unwrap_or(0);
        let leader = recorded_before(ev, p.at).is_some_and(|(by, _)| by == who);
        let replaced = at(ev, "record: primary ")
            .any(|r| r.at > p.at && r.at < until && recorded_before(ev, r.at).is_some_and(|(by, _)| by != who));
        leader && replaced
    })
}

/// 4. A stale etcd read shows an old record.
#[cfg(feature = "planted-bugs")]
fn stale_read(ev: &[Event]) -> bool {
    at(ev, "stale read: ").next().is_some()
}

/// 5. etcd unavailable while the primary fails: no promotion until it is back.
fn etcd_down_no_promotion(ev: &[Event]) -> bool {
    at(ev, "etcd unavailable").any(|u| {
        let back = at(ev, "etcd available again")
            .find(|a| a.at > u.at)
            .map_or(u64::MAX, |a| a.at);
        let primary = recorded_before(ev, u.at).map(|(_, p)| p);
        let primary_crashed =
            at(ev, "crash: ").any(|c| c.at >= u.at && c.at < back && Some(node_of(&c.what(), "crash: ")) == primary);
        let promoted = at(ev, "promote: ").any(|p| p.at >= u.at && p.at < back);
        primary_crashed && !promoted && back != u64::MAX
    })
}

/// 6. The leader's lease revoked early.
fn leader_lease_revoked(ev: &[Event]) -> bool {
    at(ev, "lease revoked early: ").any(|r| {
        let who = node_of(&r.what(), "lease revoked early: ");
        recorded_before(ev, r.at).is_some_and(|(by, _)| by == who)
    })
}

/// 7. Every Redis node down at once: a cold start in whatever order they return.
fn cold_start(ev: &[Event]) -> bool {
    let mut down = std::collections::BTreeSet::new();
    for e in ev {
        if let Some(rest) = e.what().strip_prefix("crash: ") {
            down.insert(rest.to_string());
        } else if e.what().starts_with("restart empty: ") {
            down.remove(&node_of(&e.what(), "restart empty: "));
        }
        if down.len() == 3 {
            return true;
        }
    }
    false
}

/// 8. Concurrent candidates: a guarded record write rejected.
fn concurrent_candidates(ev: &[Event]) -> bool {
    at(ev, "rejected: record write by ").next().is_some()
}

/// 9. Only a lagging replica remains: the leader waits instead of promoting it.
fn only_lagging_replica_left(ev: &[Event]) -> bool {
    at(ev, "blocked: ").any(|b| b.what().contains("NoEligibleReplica"))
}

/// 10. Controller crash between promote and repoint: the next leader completes.
fn crash_between_promote_and_repoint(ev: &[Event]) -> bool {
    at(ev, "arbiter crash right after promote: ").any(|c| at(ev, "repoint: ").any(|r| r.at > c.at))
}

/// 10, second half. A switchover target paused mid-`FAILOVER`: rolled back.
fn switchover_rolled_back(ev: &[Event]) -> bool {
    at(ev, "switchover rolled back: ").next().is_some()
}

/// Issue 19: the leader and the primary die together (within a
/// second), and another instance promotes a replica while the old primary
/// is still down: the successor takes over with down-after already
/// running, from the last answer to its own polls as a follower.
fn leader_and_primary_die_together(ev: &[Event]) -> bool {
    at(ev, "arbiter crash: ").any(|a| {
        let who = node_of(&a.what(), "arbiter crash: ");
        let Some((by, primary)) = recorded_before(ev, a.at) else {
            return false;
        };
        let primary_died = at(ev, "crash: ")
            .find(|c| c.at + 1000 >= a.at && c.at <= a.at + 1000 && node_of(&c.what(), "crash: ") == primary);
        let Some(died) = primary_died else { return false };
        let back = at(ev, "restart")
            .filter(|r| r.at > died.at && r.what().contains(primary.as_str()))
            .map(|r| r.at)
            .next()
            .unwrap_or(u64::MAX);
        // A successor that kept running (not every instance away at once).
        let kept_running = |next: &str, until: u64| {
            !at(ev, "arbiter crash: ")
                .any(|c| c.at + 1000 >= a.at && c.at <= until && node_of(&c.what(), "arbiter crash: ") == next)
        };
        // Its successor did not wait for its lease to run out: a follower
        // deposed it, silent while the primary was down.
        let deposed = |until: u64| {
            at(ev, "deposed: ")
                .any(|d| d.at > died.at && d.at <= until && d.what().contains(&format!("deposed: {who} ")))
        };
        by == who
            && at(ev, "record: primary ").any(|r| {
                r.at > died.at
                    && r.at < back.min(died.at + 20_000)
                    && deposed(r.at)
                    && recorded_before(ev, r.at)
                        .is_some_and(|(next, p)| next != who && p != primary && kept_running(&next, r.at))
            })
    })
}

/// Stale-after of the simulated group (`Settings::default`).
const STALE_AFTER_MS: u64 = 10_000;

/// Issue 22, trial step 2-3: every instance away (`all away: ... until
/// t=BACK`) while the recorded primary is killed as they leave; they return
/// after more than stale-after to a primary still down: the
/// replicas' links have been down longer than stale-after (the blocked cold
/// restart). Returns the primary, when it died and when they came back.
fn away_past_stale_after(ev: &[Event]) -> Option<(String, u64, u64)> {
    at(ev, "all away: ").find_map(|a| {
        let back: u64 = a.what().rsplit("t=").next().and_then(|t| t.parse().ok())?;
        let (_, primary) = recorded_before(ev, a.at)?;
        let died = at(ev, "crash: ").find(|c| c.at == a.at && node_of(&c.what(), "crash: ") == primary)?;
        let returned = at(ev, "all back").any(|b| b.at == back);
        let restarted_before = ev.iter().any(|r| {
            r.at > died.at
                && r.at <= back
                && r.what().starts_with("restart")
                && r.what().contains(&format!(" {primary} "))
        });
        (returned && !restarted_before && back - died.at > STALE_AFTER_MS).then_some((primary, died.at, back))
    })
}

fn blocked_cold_restart(ev: &[Event]) -> bool {
    away_past_stale_after(ev).is_some()
}

/// Issue 22, trial step 4: ... then the old primary restarts empty on its
/// port, its replicas intact (the resync from empty and the flapping).
fn empty_restart_after_return(ev: &[Event]) -> bool {
    away_past_stale_after(ev).is_some_and(|(primary, _, back)| {
        at(ev, "restart empty: ").any(|r| {
            r.at > back && node_of(&r.what(), "restart empty: ") == primary && !r.what().ends_with("(had 0 writes)")
        })
    })
}

/// Issue 22, the AOF variant: after the same departure, a node restarts
/// with its AOF data (a new run id and replid, offset 0, every key).
fn aof_restart_after_return(ev: &[Event]) -> bool {
    away_past_stale_after(ev)
        .is_some_and(|(_, _, back)| at(ev, "restart with data: ").any(|r| r.at > back && r.what().contains("(aof, ")))
}

/// A replica restarts with its AOF data while the primary is up.
fn aof_replica_restart(ev: &[Event]) -> bool {
    at(ev, "restart with data: ").any(|r| {
        let node = node_of(&r.what(), "restart with data: ");
        r.what().contains("(aof, ") && recorded_before(ev, r.at).is_some_and(|(_, p)| p != node)
    })
}

/// A primary restarts from an RDB snapshot (its replicas may continue
/// partially from the saved replication id).
fn rdb_primary_restart(ev: &[Event]) -> bool {
    at(ev, "restart with data: ").any(|r| {
        let node = node_of(&r.what(), "restart with data: ");
        r.what().contains("(rdb, ") && recorded_before(ev, r.at).is_some_and(|(_, p)| p == node)
    })
}

/// An operator asks for a switchover to an unknown node, the primary or
/// an address.
fn bad_switchover(ev: &[Event]) -> bool {
    at(ev, "operator: bad switchover to ").next().is_some()
}

/// A node's password no longer matches while it is the recorded primary.
fn primary_auth_mismatch(ev: &[Event]) -> bool {
    at(ev, "auth mismatch: ").any(|a| {
        let node = node_of(&a.what(), "auth mismatch: ");
        recorded_before(ev, a.at).is_some_and(|(_, p)| p == node)
    })
}

/// One instance's configuration conflicts with the others'.
fn config_conflict(ev: &[Event]) -> bool {
    at(ev, "config conflict: ").next().is_some()
}

type Produces = fn(&[Event]) -> bool;

/// Issue 22's scenarios under the `trial` profile (what the current
/// controller does with each seed is in the README's Simulation section).
const TRIAL_TABLE: &[(&str, Produces, u64)] = &[
    (
        "22 every instance away past stale_after, the primary dead: blocked cold restart",
        blocked_cold_restart,
        0,
    ),
    (
        "22 then the old primary restarts empty: resync from empty, flapping",
        empty_restart_after_return,
        33,
    ),
    (
        "22 then a node restarts with its AOF data: treated as data loss",
        aof_restart_after_return,
        0,
    ),
];

/// Issue 22's new fault classes in the default sweep.
const DEFAULT_22_TABLE: &[(&str, Produces, u64)] = &[
    (
        "22 every instance away past stale_after, the primary dead (default mix)",
        blocked_cold_restart,
        30,
    ),
    ("22 a replica restarts with its AOF data", aof_replica_restart, 8),
    ("22 the primary restarts from its RDB snapshot", rdb_primary_restart, 2),
    ("22 a switchover to a bad target", bad_switchover, 7),
    ("22 the primary's password no longer matches", primary_auth_mismatch, 4),
    ("22 one instance's configuration conflicts", config_conflict, 7),
];

/// Which seed produces which failure.
const TABLE: &[(&str, Produces, u64)] = &[
    (
        "1 isolated primary acknowledges writes",
        isolated_primary_acks_writes,
        40,
    ),
    (
        "2 primary restarted empty before detection",
        primary_restarted_empty_before_detection,
        2,
    ),
    ("3 leader paused past its lease, replaced", paused_leader_replaced, 9),
    (
        "5 etcd unavailable, primary lost, no promotion",
        etcd_down_no_promotion,
        7,
    ),
    ("6 leader's lease revoked early", leader_lease_revoked, 13),
    ("7 every Redis node down at once (cold start)", cold_start, 3),
    (
        "8 concurrent candidates, a guarded write rejected",
        concurrent_candidates,
        58,
    ),
    (
        "9 only a lagging replica left, promotion withheld",
        only_lagging_replica_left,
        1,
    ),
    (
        "10 controller crash between promote and repoint",
        crash_between_promote_and_repoint,
        4,
    ),
    (
        "19 the leader and the primary die together, a follower deposes it and takes over",
        leader_and_primary_die_together,
        8,
    ),
    (
        "10 switchover target paused mid-FAILOVER, rolled back",
        switchover_rolled_back,
        6,
    ),
];

fn events(seed: u64, opts: &SimOptions) -> Vec<Event> {
    run_with_timeline(&Sim::new(seed), opts).1
}

fn check(table: &[(&str, Produces, u64)], opts: &SimOptions) {
    let mut wrong = Vec::new();
    for &(name, produces, seed) in table {
        if !produces(&events(seed, opts)) {
            let found = (0..SEARCH).find(|&s| produces(&events(s, opts)));
            wrong.push(format!(
                "failure {name}: seed {seed} does not produce it; first seed that does: {found:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn each_failure_is_produced_by_its_listed_seed() {
    check(TABLE, &SimOptions::default());
}

#[test]
fn each_issue_22_scenario_is_produced_by_its_listed_trial_seed() {
    let opts = SimOptions {
        profile: Profile::Trial,
        ..SimOptions::default()
    };
    check(TRIAL_TABLE, &opts);
}

#[test]
fn each_issue_22_fault_class_is_produced_by_its_listed_default_seed() {
    check(DEFAULT_22_TABLE, &SimOptions::default());
}

/// Seeds of the default sweep that once violated an invariant, each fixed
/// since by a rule of the controller, the model or the checker (the
/// README's Simulation section says which): S5 73468, 131492, 147578 and
/// 193467 (the checker's exemption for a recorded replica of a node that
/// lost data), S7 32516, 67260 and 113993 (no adopting a node that lost
/// data as a finished switchover), S7 107954 and 123154 (a
/// cold-start claimant that reloaded less, a claimant over a never-seen
/// marked primary), S7 155468 and 91308 (a defeated detach counts), S7
/// 36590, 33323, 16360 and S5 39653 (issue 19's follower views and cold
/// shelter), S1 27431 (the model's leadership re-check), L1 13784, 21319
/// and 127773 (L1 after a return), S7 29738 and 32474 (issue 22). They
/// guard against a class coming back while the draws of these seeds still
/// reach it; a change of draws may make one pass without its class.
const ONCE_VIOLATING: [u64; 21] = [
    73468, 131492, 147578, 193467, 32516, 67260, 113993, 107954, 123154, 155468, 91308, 36590, 33323, 16360, 39653,
    27431, 13784, 21319, 127773, 29738, 32474,
];

#[test]
fn the_seeds_that_once_violated_pass() {
    let opts = SimOptions::default();
    let failing: Vec<String> = ONCE_VIOLATING
        .iter()
        .filter_map(|&seed| run(&Sim::new(seed), &opts).err().map(|f| f.to_string()))
        .collect();
    assert!(failing.is_empty(), "{}", failing.join("\n"));
}

#[cfg(feature = "planted-bugs")]
#[test]
fn a_stale_etcd_read_is_produced_when_someone_trusts_one() {
    let opts = SimOptions {
        bugs: [arbiter::types::Bug::TrustStaleRead].into_iter().collect(),
        ..SimOptions::default()
    };
    check(&[("4 stale etcd read", stale_read, 4)], &opts);
}
