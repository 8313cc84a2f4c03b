//! The Sentinel comparison's harness, kept from rotting: one short fault
//! (the primary killed) under each controller, with the same writer and
//! the same outside-in measurement as `scripts/compare-sentinel`, and the
//! same application client (redis-py through the controller's
//! Sentinel-protocol addresses). A fault that does not happen or a
//! controller that does not take charge fails the run instead of reporting
//! nothing.

use arbiter_testkit::compare;

use arbiter::machine::WATCH_GAP_INTERVALS;
use compare::{CHECK_INTERVAL_MS, Controller, DOWN_AFTER_MS, Fault};

/// The soonest a promotion may come after the kill. Down-after counts from
/// the round of the primary's last answer (as Sentinel's from its last
/// valid reply), and that round is not always one check interval before
/// the kill: on a loaded machine a round comes late (a CI run saw a
/// promotion 776 ms after the kill, against 900 ms assumed). What arbiter
/// does guarantee: rounds more than `WATCH_GAP_INTERVALS` check intervals
/// apart start its watch over, and down-after then counts from the first
/// unanswered poll, after the kill; so the last answer counted from came
/// at most that many intervals before it.
const FLOOR_MS: u64 = DOWN_AFTER_MS - WATCH_GAP_INTERVALS * CHECK_INTERVAL_MS;

fn arbiter() -> std::path::PathBuf {
    env!("CARGO_BIN_EXE_arbiter").into()
}

/// The kill fault under `controller`: promoted no sooner than down-after
/// after the primary's last answer ([`FLOOR_MS`]),
/// converged after that, the writer wrote, and the application client
/// wrote and was measured (arbiter: once `arbiter run` serves the Sentinel
/// protocol; until then the run says why there is no client).
fn a_killed_primary_is_measured(controller: Controller) {
    let out = compare::run(controller, Fault::Kill, &arbiter()).unwrap();
    eprintln!("{}, kill: {out:?}", controller.name());
    let promoted = out.promoted_ms.expect("a replica was promoted");
    assert!(promoted >= FLOOR_MS, "not before down-after: {promoted} ms");
    assert!(out.converged_ms.is_some_and(|c| c >= promoted));
    assert!(out.acked > 0, "the writer wrote");
    match (&out.client, &out.client_skipped) {
        (Some(client), _) => {
            assert!(client.acked > 0, "the application client wrote");
            assert!(client.unavailable_ms.is_some(), "its unavailability was measured");
        }
        (None, reason) => panic!("no application client under {}: {reason:?}", controller.name()),
    }
}

#[test]
#[ignore = "needs redis-server, etcd and the python client: run scripts/test"]
fn a_killed_primary_under_sentinel_is_measured() {
    a_killed_primary_is_measured(Controller::Sentinel);
}

#[test]
#[ignore = "needs redis-server, etcd and the python client: run scripts/test"]
fn a_killed_primary_under_arbiter_is_measured() {
    a_killed_primary_is_measured(Controller::Arbiter);
}

/// The most a failover may take after the leader instance dies with the
/// primary (issue 19): the promise is down-after plus 500 ms (1.5 s here);
/// the ceiling is generous for a loaded machine but below the rig's lease
/// TTL (3 s), which a controller waiting for the lease could not beat
/// (it measured 3.1 to 4.4 s before followers deposed a silent leader).
const LEADER_LOSS_CEILING_MS: u64 = 2500;

/// The leader instance killed (`kill -9`) or paused (`SIGSTOP` for 5 s) at
/// the moment the primary is killed: a follower deposes the silent leader
/// and the group fails over no sooner than down-after ([`FLOOR_MS`]) and well before the
/// lease would have run out.
fn losing_the_leader_with_the_primary_is_fast(fault: Fault) {
    let out = compare::run(Controller::Arbiter, fault, &arbiter()).unwrap();
    eprintln!("arbiter, {}: {out:?}", fault.name());
    let promoted = out.promoted_ms.expect("a replica was promoted");
    assert!(promoted >= FLOOR_MS, "not before down-after: {promoted} ms");
    assert!(
        promoted <= LEADER_LOSS_CEILING_MS,
        "{}: promoted after {promoted} ms, more than {LEADER_LOSS_CEILING_MS} ms: did it wait for the lease?",
        fault.name()
    );
    assert!(out.converged_ms.is_some_and(|c| c >= promoted));
    assert!(out.acked > 0, "the writer wrote");
}

#[test]
#[ignore = "needs redis-server, etcd and the python client: run scripts/test"]
fn a_primary_killed_with_the_leader_is_replaced_within_the_bound() {
    losing_the_leader_with_the_primary_is_fast(Fault::LeaderKilled);
}

#[test]
#[ignore = "needs redis-server, etcd and the python client: run scripts/test"]
fn a_primary_killed_while_the_leader_is_paused_is_replaced_within_the_bound() {
    losing_the_leader_with_the_primary_is_fast(Fault::LeaderPaused);
}

#[test]
#[ignore = "needs redis-server, etcd and the python client: run scripts/test"]
fn a_controller_that_does_not_start_fails_the_run() {
    let missing = std::path::Path::new("/nonexistent/arbiter");
    let err = compare::run(Controller::Arbiter, Fault::Kill, missing).unwrap_err();
    assert!(err.contains("/nonexistent/arbiter"), "{err}");
}
