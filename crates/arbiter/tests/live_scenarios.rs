//! Scenarios recorded from real runs against `redis-server` and `etcd`
//! (`scenarios/*.ron`, re-recorded with `REHEARSE=record bash scripts/test`),
//! replayed with no server: the real behaviour is pinned in milliseconds.

use arbiter::{Driver, Output, State};
use rehearse::Replayer;

fn replay(name: &str) -> Driver<Replayer> {
    let path = format!("{}/../../scenarios/{name}.ron", env!("CARGO_MANIFEST_DIR"));
    let replayer = Replayer::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let watch = replayer.clone();
    let mut driver = Driver::new(replayer);
    driver
        .run_until(1_000_000, |_| watch.position() == watch.len())
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
