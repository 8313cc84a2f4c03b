//! Scenarios recorded from real runs against `redis-server` and `etcd`
//! (`scenarios/*.ron`, re-recorded with `REHEARSE=record bash scripts/test`),
//! replayed with no server: the real behaviour is pinned in milliseconds.

use arbiter::{Driver, Output, State};
use rehearse::Replayer;

fn replay(name: &str) -> Driver<Replayer> {
    let path = format!("{}/../../scenarios/{name}.ron", env!("CARGO_MANIFEST_DIR"));
    let replayer = Replayer::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let mut driver = Driver::new(replayer);
    driver
        .run_to_end_of_recording(1_000_000)
        .unwrap_or_else(|e| panic!("{e}"));
    driver
}

#[test]
fn a_real_failover_replays_with_every_decision() {
    let d = replay("live_failover");
    let decisions: Vec<String> = d
        .outputs()
        .iter()
        .filter_map(|o| match o {
            Output::Publish { record, .. } => Some(format!("publish {}", record.primary)),
            Output::Promote { .. } => Some("promote".into()),
            Output::Repoint { .. } => Some("repoint".into()),
            Output::Resign { .. } => Some("resign".into()),
            _ => None,
        })
        .collect();
    // Bootstrap on r1, then (r1 killed) record, promote and repoint the
    // other replica, then resign on SIGTERM.
    assert_eq!(decisions.len(), 5, "{decisions:?}");
    assert_eq!(decisions[0], "publish r1");
    assert!(
        decisions[1] == "publish r2" || decisions[1] == "publish r3",
        "{decisions:?}"
    );
    assert_eq!(decisions[2..], ["promote", "repoint", "resign"]);
    assert_eq!(d.machine().state(), &State::Stopped);
}

/// The decisions of a replayed run, in short.
fn decisions(d: &Driver<Replayer>) -> Vec<String> {
    d.outputs()
        .iter()
        .filter_map(|o| match o {
            Output::Publish { record, .. } => Some(format!("publish {}", record.primary)),
            Output::Promote { .. } => Some("promote".into()),
            Output::Repoint { .. } => Some("repoint".into()),
            Output::Switchover { .. } => Some("switchover".into()),
            Output::Resign { .. } => Some("resign".into()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_real_switchover_is_waited_out_then_the_third_node_repointed() {
    let d = replay("live_switchover");
    let said = decisions(&d);
    // Bootstrap on r1; the request is fenced by a record write, then
    // `FAILOVER TO r2`, the record moves to r2 and stays there while Redis
    // hands over (it never goes back to r1); r3 is repointed once r2 is
    // primary; SIGTERM resigns.
    let at = said.iter().position(|s| s == "switchover").expect("a switchover");
    assert_eq!(said[at + 1], "publish r2", "{said:?}");
    assert!(!said[at..].contains(&"publish r1".to_string()), "{said:?}");
    assert_eq!(said[said.len() - 2..], ["repoint", "resign"], "{said:?}");
    assert_eq!(d.machine().context().record.as_ref().unwrap().primary, "r2");
    assert_eq!(d.machine().state(), &State::Stopped);
}

#[test]
fn a_real_old_primary_rejoins_as_a_replica() {
    let d = replay("live_rejoin");
    let said = decisions(&d);
    // r1 killed: the record moves, a replica is promoted and the other
    // repointed; r1 restarted empty is then repointed to the new primary.
    assert_eq!(said[0], "publish r1", "{said:?}");
    let new = &said[1];
    assert!(new == "publish r2" || new == "publish r3", "{said:?}");
    assert_eq!(said[2..4], ["promote", "repoint"], "{said:?}");
    assert_eq!(said[said.len() - 2..], ["repoint", "resign"], "{said:?}");
    assert_eq!(said.iter().filter(|s| *s == "publish r1").count(), 1, "{said:?}");
    assert_eq!(d.machine().state(), &State::Stopped);
}

/// The replica the first decision records (r2 or r3) and the other one.
fn promoted_and_other(said: &[String]) -> (String, &'static str) {
    let new = said[0].trim_start_matches("publish ").to_string();
    assert!(new == "r2" || new == "r3", "{said:?}");
    let other = if new == "r2" { "r3" } else { "r2" };
    (new, other)
}

/// The decisions of a replayed run with nodes named (`promote r2`).
fn named_decisions(d: &Driver<Replayer>) -> Vec<String> {
    let config = &d.machine().context().config;
    let name = |addr: &str| {
        config
            .nodes
            .iter()
            .find(|n| n.addr == addr)
            .map_or("?", |n| n.name.as_str())
    };
    d.outputs()
        .iter()
        .filter_map(|o| match o {
            Output::Publish { record, .. } => Some(format!(
                "publish {}{}",
                record.primary,
                if record.lost_data { " (lost)" } else { "" }
            )),
            Output::Promote { addr, .. } => Some(format!("promote {}", name(addr))),
            Output::Repoint { addr, primary, .. } => Some(format!("repoint {} to {}", name(addr), name(primary))),
            Output::Resign { .. } => Some("resign".into()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_leader_arriving_after_the_primary_died_fails_over_to_an_in_sync_replica() {
    // Every instance was away while r1 died, for longer than stale_after;
    // the returning leader promotes a replica that was in sync when r1
    // died, then repoints r1 when it comes back empty (tests/live_data_safety.rs).
    let d = replay("live_cold_restart");
    let said = named_decisions(&d);
    let (new, other) = promoted_and_other(&said);
    assert_eq!(
        said,
        [
            format!("publish {new}"),
            format!("promote {new}"),
            format!("repoint {other} to {new}"),
            format!("publish {new}"),
            format!("repoint r1 to {new}"),
            "resign".into()
        ]
    );
    assert_eq!(d.machine().state(), &State::Stopped);
}

#[test]
fn a_primary_restarted_with_its_aof_is_kept_not_failed_over() {
    // r1 killed and restarted with its AOF (new run id and history, offset
    // 0, every key) faster than down-after: no failover; r2, restarted
    // with its AOF as a primary, is repointed to r1.
    let d = replay("live_aof_restart");
    assert_eq!(
        named_decisions(&d),
        ["publish r1", "publish r1", "repoint r2 to r1", "resign"]
    );
    let views = &d.machine().context().views;
    assert!(views.values().all(|v| !v.lost_data), "{views:?}");
}

#[test]
fn a_leader_arriving_after_the_primary_died_and_a_replica_reloaded_its_aof_makes_no_cycle() {
    let d = replay("live_cold_restart_aof");
    let said = named_decisions(&d);
    let promotions: Vec<&String> = said.iter().filter(|s| s.starts_with("promote")).collect();
    assert_eq!(promotions.len(), 1, "{said:?}");
    let new = promotions[0].trim_start_matches("promote ");
    // Every repoint after the promotion goes to the new primary.
    let at = said.iter().position(|s| s.starts_with("promote")).unwrap();
    assert!(
        said[at..]
            .iter()
            .filter(|s| s.starts_with("repoint"))
            .all(|s| s.ends_with(&format!("to {new}"))),
        "{said:?}"
    );
    assert!(said.contains(&format!("repoint r1 to {new}")), "{said:?}");
    assert_eq!(d.machine().state(), &State::Stopped);
}

#[test]
fn a_copy_back_from_its_aof_after_a_failover_from_an_emptied_primary_is_promoted() {
    // Recorded by live_data_safety's test of the same name: the leader
    // never saw r2; it failed over from r1 (whose history began empty) to
    // r3; r2 then answered for the first time, up for less than it had
    // been out of reach, holding every key on another history: r3 is
    // judged to have lost data, and r2 is promoted, never repointed.
    let d = replay("live_aof_copy_after_failover");
    let said = named_decisions(&d);
    let promotions: Vec<&String> = said.iter().filter(|s| s.starts_with("promote")).collect();
    assert_eq!(promotions, ["promote r3", "promote r2"], "{said:?}");
    assert!(said.contains(&"repoint r3 to r2".to_string()), "{said:?}");
    assert!(!said.iter().any(|s| s.starts_with("repoint r2")), "{said:?}");
    assert_eq!(d.machine().state(), &State::Stopped);
}

#[test]
fn a_loss_every_copy_shares_is_recorded_then_settled() {
    // Recorded by live_data_safety's test of the same name: every node died
    // at once and came back empty, r1 (recorded) first. The leader records
    // r1's loss while r2 and r3 do not answer; once they answer, empty, it
    // points them at r1 and clears the mark: no promotion.
    let d = replay("live_loss_settled");
    let said = named_decisions(&d);
    assert!(!said.iter().any(|s| s.starts_with("promote")), "{said:?}");
    let noted = said
        .iter()
        .position(|s| s == "publish r1 (lost)")
        .expect("the loss recorded");
    let cleared = said.iter().rposition(|s| s == "publish r1").expect("the mark cleared");
    assert!(noted < cleared, "{said:?}");
    for r in ["r2", "r3"] {
        let at = said.iter().position(|s| *s == format!("repoint {r} to r1"));
        assert!(at.is_some_and(|at| noted < at && at < cleared), "{said:?}");
    }
    assert_eq!(said.last().map(String::as_str), Some("resign"), "{said:?}");
    assert_eq!(d.machine().state(), &State::Stopped);
}

#[test]
fn a_real_follower_deposes_a_leader_killed_with_the_primary_and_fails_over() {
    // tests/live_failover.rs: the leader (another process) and r1 killed
    // together; this follower read the leader's heartbeat each round while
    // r1 was down, saw it still for longer than the 800 ms it promised,
    // deposed it, and, next in line, failed over at once (issue 19).
    let d = replay("live_leader_lost");
    let deposed: Vec<&Output> = d
        .outputs()
        .iter()
        .filter(|o| matches!(o, Output::Depose { .. }))
        .collect();
    assert_eq!(deposed.len(), 1, "one deposition: {deposed:?}");
    let said = named_decisions(&d);
    let (new, other) = promoted_and_other(&said);
    assert_eq!(
        said,
        [
            format!("publish {new}"),
            format!("promote {new}"),
            format!("repoint {other} to {new}"),
            "resign".into()
        ]
    );
    // The deposition came before the failover.
    let at = |p: fn(&Output) -> bool| d.outputs().iter().position(p).unwrap();
    assert!(at(|o| matches!(o, Output::Depose { .. })) < at(|o| matches!(o, Output::Publish { .. })));
    assert_eq!(d.machine().state(), &State::Stopped);
}

#[test]
fn a_node_that_lost_data_is_not_adopted_and_the_node_holding_it_is_recorded() {
    // Recorded by live_data_safety's a_node_that_lost_data_is_not_adopted_as_a_finished_switchover:
    // the record names r3, a replica of r2, which restarted empty (this
    // instance, a follower then, saw r2 hold every key before); r1 holds
    // every key and 20 more. The leader fails over from r3 to r1, never
    // records r2, and says nothing is blocked.
    let d = replay("live_follows_lost_data");
    let said = named_decisions(&d);
    assert!(!said.iter().any(|s| s == "publish r2"), "{said:?}");
    let at = said.iter().position(|s| s == "publish r1").expect("r1 recorded");
    assert_eq!(said.get(at + 1).map(String::as_str), Some("promote r1"), "{said:?}");
    for r in ["r2", "r3"] {
        let repointed = format!("repoint {r} to r1");
        assert!(said[at..].contains(&repointed), "{said:?}");
    }
    assert_eq!(d.machine().state(), &State::Stopped);
}

#[test]
fn a_cold_start_claimant_that_reloaded_less_is_not_recorded() {
    // Recorded by live_data_safety's test of the same class (seed 107954):
    // no record; r2, seen as a replica holding 1,200 keys, came back from
    // an RDB holding 1,000 as the one node claiming primary, r1 frozen
    // with every key. This instance never writes a record.
    let d = replay("live_cold_start_reloaded");
    let said = named_decisions(&d);
    assert!(!said.iter().any(|s| s.starts_with("publish")), "{said:?}");
    assert_eq!(d.machine().state(), &State::Stopped);
}

#[test]
fn a_copy_is_not_recorded_over_a_marked_primary_never_seen() {
    // Recorded by live_data_safety's test of the same class (seed 123154):
    // the record names r1 with a loss mark; no instance ever saw r1 (frozen)
    // and r2 is back from an older RDB. The leader never records r2 nor
    // promotes anything; once r1 and r3 answer, the loss is settled and r2
    // and r3 follow r1.
    let d = replay("live_marked_primary_unseen");
    let said = named_decisions(&d);
    assert!(
        !said.iter().any(|s| s == "publish r2" || s.starts_with("promote")),
        "{said:?}"
    );
    for r in ["r2", "r3"] {
        assert!(said.contains(&format!("repoint {r} to r1")), "{said:?}");
    }
    assert_eq!(d.machine().state(), &State::Stopped);
}
