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
