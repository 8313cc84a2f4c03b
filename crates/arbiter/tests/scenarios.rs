//! Hand-written scenarios (`scenarios/*.ron` at the repository root, beside the recorded live runs `scenarios/live_*.ron`), one per behaviour,
//! replayed through the real driver. Each test asserts the machine's
//! decisions (the outputs it issued) and its final state, not only that
//! the replay finished.

use arbiter::machine::{Blocked, State};
use arbiter::types::Epoch;
use arbiter::types::{GroupRecord, Leader, NodeId};
use arbiter::{Driver, Output};
use rehearse::Replayer;

fn path(name: &str) -> String {
    format!("{}/../../scenarios/{name}.ron", env!("CARGO_MANIFEST_DIR"))
}

/// Replays a whole scenario; the divergence report if it does not fit.
fn try_replay_text(name: &str, text: &str) -> Result<Driver<Replayer>, String> {
    let trace = rehearse::Trace::parse(text).map_err(|e| e.to_string())?;
    let replayer = Replayer::from_trace(trace);
    let mut driver = Driver::new(replayer.clone());
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| driver.run_to_end_of_recording(100_000)));
    match run {
        Err(p) => return Err(p.downcast_ref::<String>().cloned().unwrap_or_default()),
        Ok(Err(e)) => return Err(format!("{name}: {e}")),
        Ok(Ok(_)) => {}
    }
    replayer.finish().map_err(|d| d.to_string())?;
    Ok(driver)
}

fn replay(name: &str) -> Driver<Replayer> {
    let text = std::fs::read_to_string(path(name)).unwrap();
    try_replay_text(name, &text).unwrap_or_else(|e| panic!("{e}"))
}

/// The outputs that change something: record writes and Redis commands.
fn decisions(d: &Driver<Replayer>) -> Vec<Output> {
    d.outputs().iter().filter(|o| o.is_decision()).cloned().collect()
}

/// The record write of a decision that names `primary` anew, with the
/// run id it reports (`run-r1` for r1 in these scenarios).
fn publish(primary: &str) -> Output {
    Output::Publish {
        epoch: Epoch(100),
        record: GroupRecord {
            epoch: Epoch(100),
            primary: primary.into(),
            run_id: Some(format!("run-{primary}")),
            lost_data: false,
        },
    }
}

/// The record write of a decision that keeps the recorded primary (a
/// repoint, a switchover before `FAILOVER TO`): the record's run id is
/// kept too, none in these scenarios.
fn publish_kept(primary: &str) -> Output {
    Output::Publish {
        epoch: Epoch(100),
        record: GroupRecord {
            epoch: Epoch(100),
            primary: primary.into(),
            run_id: None,
            lost_data: false,
        },
    }
}

fn addr(n: u8) -> String {
    format!("10.0.0.{n}:6379")
}

fn promote(n: u8) -> Output {
    Output::Promote {
        addr: addr(n),
        epoch: Epoch(100),
    }
}

fn repoint(n: u8, to: u8) -> Output {
    Output::Repoint {
        addr: addr(n),
        primary: addr(to),
        epoch: Epoch(100),
    }
}

/// How many `Wait`s (ticks) the machine issued before output `o`.
fn ticks_before(d: &Driver<Replayer>, o: &Output) -> usize {
    let at = d.outputs().iter().position(|x| x == o).expect("the output was issued");
    d.outputs()[..at]
        .iter()
        .filter(|x| matches!(x, Output::Wait { .. }))
        .count()
}

#[test]
fn clean_start_as_leader_records_the_primary_it_finds() {
    let d = replay("clean_start_leader");
    assert_eq!(decisions(&d), [publish("r1")]);
    assert_eq!(d.machine().state(), &State::Leading { epoch: Epoch(100) });
}

#[test]
fn a_follower_stays_passive() {
    let d = replay("follower_stays_passive");
    assert_eq!(decisions(&d), []);
    assert_eq!(
        d.outputs()
            .iter()
            .filter(|o| matches!(o, Output::PollNode { .. }))
            .count(),
        9,
        "a follower polls every node each round"
    );
    // It watched r1 go down (last answer at t=1000, first unanswered poll
    // at t=2000), so it would take over with down-after already running,
    // counted from the last answer.
    let r1 = &d.machine().context().watch["r1"];
    assert_eq!((r1.answered_at, r1.down_since), (Some(1000), Some(1000)));
    assert!(r1.primary_down());
    // It keeps views too (it never acts on them): a successor knows what
    // each node held when it last answered.
    let v = &d.machine().context().views["r1"];
    assert_eq!(v.previous.as_ref().map(|s| s.offset), Some(1000));
    assert!(v.status.is_none());
    // With r1 down it read the leader's heartbeat each round; the beat
    // moved, so it deposed nobody.
    let beats = d
        .outputs()
        .iter()
        .filter(|o| matches!(o, Output::ReadHeartbeat { .. }))
        .count();
    assert_eq!(beats, 2, "one heartbeat read per round with r1 down");
    assert!(!d.outputs().iter().any(|o| matches!(o, Output::Depose { .. })));
    assert_eq!(
        d.machine().state(),
        &State::Following {
            leader: Some(Leader {
                instance: NodeId("arbiter-2".into()),
                epoch: Epoch(100)
            })
        }
    );
}

#[test]
fn a_primary_down_for_less_than_down_after_is_not_failed_over() {
    let d = replay("primary_blip");
    assert_eq!(decisions(&d), []);
    assert_eq!(d.machine().context().views["r1"].down_since, None);
}

#[test]
fn a_dead_primary_is_failed_over_to_the_best_replica_and_the_rest_repointed() {
    let d = replay("failover");
    assert_eq!(decisions(&d), [publish("r3"), promote(3), repoint(2, 3)]);
    // Not before down-after: r1 last answered at t=0 (first failed on tick
    // 1, t=1000), the failover happened on tick 3 (t=3000).
    assert_eq!(ticks_before(&d, &publish("r3")), 3);
    assert_eq!(d.machine().context().record.as_ref().unwrap().primary, "r3");
}

#[test]
fn stale_replicas_are_not_promoted_until_data_loss_is_allowed() {
    let text = std::fs::read_to_string(path("stale_replicas_wait_for_override")).unwrap();
    let d = try_replay_text("stale", &text).unwrap();
    assert_eq!(decisions(&d), [publish("r3"), promote(3), repoint(2, 3)]);
    // Nothing happened during the five ticks before the override.
    assert_eq!(ticks_before(&d, &publish("r3")), 6);
    assert!(d.machine().context().config.settings.allow_data_loss);

    // Cut the scenario before the override: the leader is blocked, and says why.
    let cut: Vec<&str> = text
        .lines()
        .take_while(|l| !l.contains("the operator sets allow_data_loss"))
        .collect();
    let d = try_replay_text("stale-cut", &(cut.join("\n") + "\n")).unwrap();
    assert_eq!(decisions(&d), []);
    assert_eq!(
        d.machine().context().blocked,
        Some(Blocked::NoEligibleReplica { primary: "r1".into() })
    );
}

#[test]
fn a_returning_old_primary_is_demoted() {
    let d = replay("old_primary_returns");
    assert_eq!(decisions(&d), [publish_kept("r3"), repoint(1, 3)]);
}

#[test]
fn a_primary_restarted_empty_is_failed_over_and_never_followed() {
    let d = replay("primary_restarted_empty");
    assert_eq!(decisions(&d), [publish("r2"), promote(2), repoint(1, 2), repoint(3, 2)]);
    assert!(
        !d.outputs()
            .iter()
            .any(|o| matches!(o, Output::Repoint { primary, .. } if *primary == addr(1))),
        "nobody is pointed at the empty node"
    );
}

/// The deadlines of every `Wait` the machine asked for.
fn waits(d: &Driver<Replayer>) -> Vec<u64> {
    d.outputs()
        .iter()
        .filter_map(|o| match o {
            Output::Wait { until } => Some(*until),
            _ => None,
        })
        .collect()
}

#[test]
fn an_unanswering_primary_is_watched_closely_and_its_empty_restart_caught_in_time() {
    let d = replay("fast_watch_catches_empty_restart");
    assert_eq!(
        waits(&d),
        [1000, 1100, 1200],
        "one second while r1 answers, then 100 ms"
    );
    assert_eq!(decisions(&d), [publish("r2"), promote(2), repoint(1, 2), repoint(3, 2)]);
}

#[test]
fn losing_leadership_mid_failover_stops_all_action() {
    let d = replay("leadership_lost_mid_failover");
    assert_eq!(
        decisions(&d),
        [publish("r3")],
        "the guarded write failed: nothing was promoted"
    );
    let after = d.outputs().iter().skip_while(|o| **o != publish("r3")).nth(1);
    assert!(
        matches!(after, Some(Output::CreateNode { .. })),
        "it campaigns again: {after:?}"
    );
    assert!(matches!(d.machine().state(), State::Following { .. }));
    assert_eq!(d.machine().context().epoch, None);
}

#[test]
fn a_switchover_uses_failover_to_then_moves_the_record() {
    let d = replay("switchover");
    assert_eq!(
        decisions(&d),
        [
            publish_kept("r1"),
            Output::Switchover {
                primary: addr(1),
                target: addr(2),
                timeout_ms: 5000,
                epoch: Epoch(100),
            },
            publish("r2"),
            publish("r2"),
            repoint(3, 2),
        ]
    );
    // Demote before promote: FAILOVER TO does both; no REPLICAOF NO ONE.
    assert!(!d.outputs().iter().any(|o| matches!(o, Output::Promote { .. })));
    assert_eq!(d.machine().context().switchover, None);
}

#[test]
fn a_paused_group_is_only_watched() {
    let d = replay("paused");
    assert_eq!(decisions(&d), []);
    assert!(
        d.outputs()
            .iter()
            .filter(|o| matches!(o, Output::PollNode { .. }))
            .count()
            >= 18
    );
}

#[test]
fn a_config_change_takes_effect() {
    let d = replay("config_change");
    assert_eq!(waits(&d), [1000, 1250]);
    assert_eq!(d.machine().peek_next_message(), Some(&Output::Wait { until: 1500 }));
    assert_eq!(d.machine().context().config.settings.check_interval_ms, 250);
}

#[test]
fn a_node_in_cluster_mode_is_refused() {
    let d = replay("cluster_mode_refused");
    let State::Refused { reason } = d.machine().state() else {
        panic!("{:?}", d.machine().state())
    };
    assert!(reason.contains("r2 (10.0.0.2:6379) runs in cluster mode"), "{reason}");
    assert!(!d.outputs().iter().any(|o| matches!(o, Output::CreateNode { .. })));
}

#[test]
fn no_promotion_while_etcd_is_unavailable_then_failover_once_it_returns() {
    let d = replay("etcd_unavailable");
    assert_eq!(decisions(&d), [publish("r3"), publish("r3"), promote(3), repoint(2, 3)]);
    // The failed write (t=3000) is followed by two record reads before the
    // failover, at t=5000.
    let reads = d
        .outputs()
        .iter()
        .filter(|o| matches!(o, Output::ReadRecord { .. }))
        .count();
    assert_eq!(
        reads, 3,
        "the first load, then one read per tick after the failed write"
    );
    assert_eq!(ticks_before(&d, &promote(3)), 5);
    assert_eq!(d.machine().context().record.as_ref().unwrap().primary, "r3");
}

#[test]
fn a_lost_lease_stops_the_leader() {
    let d = replay("lease_lost");
    assert_eq!(decisions(&d), []);
    assert!(d.outputs().iter().any(|o| matches!(o, Output::CreateNode { .. })));
    assert!(matches!(d.machine().state(), State::Following { .. }));
}

#[test]
fn shutdown_resigns() {
    let d = replay("shutdown");
    assert!(matches!(decisions(&d).as_slice(), [Output::Resign { .. }]));
    assert_eq!(d.machine().state(), &State::Stopped);
}

#[test]
fn editing_a_recorded_output_changes_the_decision_and_the_replay_says_where() {
    // In the failover scenario, make r3 fall behind r2 at the decisive poll:
    // the machine now picks r2, and the replay diverges at the record write,
    // pointing at the field.
    let text = std::fs::read_to_string(path("failover")).unwrap();
    let decisive = text
        .lines()
        .position(|l| l.contains("t=3000"))
        .expect("the scenario marks the decisive tick");
    let edited: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i > decisive && l.contains("\"10.0.0.3:6379\"), out: Ok((role: Replica") {
                l.replace("offset: 1000", "offset: 800")
            } else {
                l.to_string()
            }
        })
        .collect();
    let err = try_replay_text("edited", &(edited.join("\n") + "\n")).expect_err("the edit must show");
    assert!(err.contains("the recorded call with different inputs"), "{err}");
    assert!(
        err.contains("expected: Election::publish(100, (epoch: 100, primary: \"r3\", run_id: Some(\"run-r3\")))"),
        "{err}"
    );
    assert!(
        err.contains("argument `record` at `.primary`: expected `\"r3\"`, found `\"r2\"`"),
        "{err}"
    );

    // Unpausing the paused scenario: the machine now acts where the
    // scenario only watched.
    let text = std::fs::read_to_string(path("paused")).unwrap();
    let err = try_replay_text("unpaused", &text.replacen("paused: true", "paused: false", 1))
        .expect_err("the edit must show");
    assert!(err.contains("a different call than recorded"), "{err}");
    assert!(
        err.contains("actual:   Election::publish(100, (epoch: 100, primary: \"r3\", run_id: Some(\"run-r3\")))"),
        "{err}"
    );
}
