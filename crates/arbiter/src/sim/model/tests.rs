//! One test per Redis 7.0 / etcd 3.4 fact in `arbiter-invariants.md`.
use super::*;
use crate::sim::check::History;
use crate::types::Epoch;
use crate::types::{GroupRecord, NodeId, RedisError, Role};

/// A record naming `primary` under `epoch`.
fn record(epoch: Epoch, primary: &str) -> GroupRecord {
    GroupRecord {
        epoch,
        primary: primary.into(),
        run_id: None,
        lost_data: false,
    }
}

/// What the checker learns from the model's facts so far.
fn history(m: &Model) -> History {
    let mut h = History::default();
    h.ingest(m);
    h
}

fn synced(min_replicas: usize) -> Model {
    let mut m = Model::new(3, min_replicas);
    for _ in 0..5 {
        m.client_write();
    }
    m.advance(10);
    m
}

#[test]
fn failover_to_demotes_the_old_primary_and_leaves_a_third_replica_attached() {
    let mut m = synced(0);
    let old_replid = m.nodes[1].replid.clone();
    m.failover(0, 1, Epoch(1), 5000).unwrap();
    m.advance(m.now + HANDOVER_MS);
    assert_eq!(m.nodes[0].replica_of.as_deref(), Some("10.0.0.2:6379"));
    assert!(m.nodes[1].replica_of.is_none());
    assert_ne!(m.nodes[1].replid, old_replid, "the new primary gets a new replid");
    assert_eq!(
        m.nodes[2].replica_of.as_deref(),
        Some("10.0.0.1:6379"),
        "until repointed"
    );
}

#[test]
fn failover_hands_over_asynchronously_with_writes_paused_meanwhile() {
    let mut m = synced(0);
    let t0 = m.now;
    m.failover(0, 1, Epoch(1), 5000).unwrap();
    // Accepted, not done: the old primary still reports primary and
    // takes no writes; the target still follows it.
    assert!(m.nodes[0].replica_of.is_none());
    assert_eq!(m.nodes[1].replica_of.as_deref(), Some("10.0.0.1:6379"));
    assert!(!m.writable(0), "writes paused during the handover");
    m.advance(t0 + HANDOVER_MS - 1);
    assert!(m.nodes[1].replica_of.is_some(), "not before the handover time");
    m.advance(t0 + HANDOVER_MS);
    assert!(m.nodes[1].replica_of.is_none() && m.writable(1));
    assert!(m.handover.is_none());
}

#[test]
fn a_handover_that_cannot_finish_is_given_up_at_the_timeout() {
    let mut m = synced(0);
    let t0 = m.now;
    m.failover(0, 1, Epoch(1), 1000).unwrap();
    m.crash(1);
    m.advance(t0 + HANDOVER_MS);
    assert!(m.handover.is_some(), "still trying until the timeout");
    assert!(!m.writable(0));
    m.advance(t0 + 1000);
    assert!(m.handover.is_none());
    assert!(
        m.events
            .iter()
            .any(|e| e.what().starts_with("switchover aborted: r1 -> r2"))
    );
    assert!(m.nodes[0].replica_of.is_none(), "the old primary goes on");
}

#[test]
fn failover_is_refused_during_the_targets_initial_sync() {
    let mut m = synced(0);
    m.restart_empty(2);
    m.repoint(2, "10.0.0.1:6379", Epoch(1)).unwrap();
    m.client_write();
    m.advance(20); // diverged log: a full resync starts
    assert!(m.nodes[2].syncing_until.is_some());
    let e = m.failover(0, 2, Epoch(2), 5000).unwrap_err();
    assert!(
        matches!(e, RedisError::Refused(ref s) if s.contains("initial sync")),
        "{e:?}"
    );
    m.advance(400);
    m.failover(0, 2, Epoch(2), 5000).unwrap();
}

#[test]
fn min_replicas_to_write_refuses_writes_without_linked_replicas() {
    let mut m = synced(1);
    assert!(m.writable(0));
    m.blocked.insert((Endpoint::Node(0), Endpoint::Node(1)));
    m.blocked.insert((Endpoint::Node(0), Endpoint::Node(2)));
    m.advance(20);
    assert!(!m.writable(0), "NOREPLICAS");
    let acked = m.client.acked.len();
    m.client_write();
    assert_eq!(m.client.acked.len(), acked);
}

#[test]
fn role_and_info_report_offsets_links_and_replid() {
    let mut m = synced(0);
    let s = m.status(1);
    assert_eq!(s.offset, 5);
    assert!(matches!(s.role, Role::Replica { link_up: true, .. }));
    m.crash(0);
    m.advance(100);
    m.advance(1100);
    let Role::Replica {
        link_up, link_down_ms, ..
    } = m.status(1).role
    else {
        panic!()
    };
    assert!(!link_up);
    assert_eq!(link_down_ms, Some(1000));
    assert_eq!(m.status(0).replid, "r1-repl0");
}

#[test]
fn a_replica_that_resyncs_from_an_empty_restart_loses_its_data() {
    let mut m = synced(0);
    m.restart_empty(0);
    m.advance(20);
    m.advance(400);
    assert!(m.nodes[1].log.is_empty(), "full resync from the empty node");
    assert_eq!(history(&m).shrinking_resyncs.len(), 2);
    assert_eq!(m.lost_writes(1), 5);
}

#[test]
fn etcd_leases_expire_and_take_their_keys() {
    let mut e = EtcdModel::available();
    let a = NodeId("a".into());
    let b = NodeId("b".into());
    let (lease_a, rev_a) = e.campaign(0, &a);
    let (_, rev_b) = e.campaign(0, &b);
    assert_eq!(e.leader().unwrap().epoch, Epoch(rev_a));
    assert!(e.keepalive(3000, lease_a));
    e.expire(7000);
    // b's lease ran out at 5000; a renewed its own until 8000.
    assert_eq!(e.leader().map(|l| l.epoch), Some(Epoch(rev_a)));
    assert!(e.entries.values().all(|entry| entry.revision != rev_b));
    e.expire(8000);
    assert_eq!(e.leader(), None);
}

#[test]
fn guarded_writes_fail_once_the_entry_is_gone() {
    let mut e = EtcdModel::available();
    let a = NodeId("a".into());
    let (lease, rev) = e.campaign(0, &a);
    let rev = Epoch(rev);
    let record = record(rev, "r1");
    assert!(e.publish(0, &a, rev, &record));
    e.revoke(lease);
    assert!(!e.publish(1, &a, rev, &record), "the lease is gone: the guard fails");
    let (_, rev2) = e.campaign(10, &a);
    assert!(rev2 > rev.get(), "create revisions only grow");
    assert!(!e.publish(11, &a, rev, &record), "an old epoch does not pass the guard");
}

#[test]
fn a_serializable_read_may_be_stale_a_linearizable_one_is_not() {
    let mut e = EtcdModel::available();
    let a = NodeId("a".into());
    let (_, rev) = e.campaign(0, &a);
    let rev = Epoch(rev);
    let old = record(rev, "r1");
    let new = record(rev, "r2");
    assert!(e.publish(1000, &a, rev, &old));
    assert!(e.publish(20_000, &a, rev, &new));
    // A member 10 s behind still serves the old record; the leader
    // (a linearizable read) has the new one.
    assert_eq!(e.stale_record(25_000, STALE_READ_LAG_MS), Some(old));
    assert_eq!(e.record, Some(new.clone()));
    assert_eq!(e.stale_record(30_000, STALE_READ_LAG_MS), Some(new));
}

fn with_mode(mode: Persistence) -> Model {
    let mut m = synced(0);
    for n in &mut m.nodes {
        n.persistence = mode;
    }
    m.advance(RDB_SAVE_INTERVAL_MS); // the first RDB snapshot
    m
}

#[test]
fn persistence_off_restarts_empty_with_new_ids_and_offset_zero() {
    let mut m = with_mode(Persistence::Off);
    let (run_id, replid) = (m.nodes[0].run_id.clone(), m.nodes[0].replid.clone());
    m.crash(0);
    m.restart(0, Restart::Kill);
    let s = m.status(0);
    assert_eq!(s.role, Role::Primary);
    assert_ne!(s.run_id, run_id);
    assert_ne!(s.replid, replid);
    assert!(m.nodes[0].replid2.is_empty());
    assert_eq!((s.offset, s.keys), (0, Some(0)));
    assert!(history(&m).losses.contains_key(&0));
}

#[test]
fn an_aof_restart_keeps_every_key_with_new_ids_and_offset_zero() {
    let mut m = with_mode(Persistence::Aof);
    let replid = m.nodes[0].replid.clone();
    m.crash(0);
    m.restart(0, Restart::Kill);
    let s = m.status(0);
    assert_ne!(s.replid, replid);
    assert!(m.nodes[0].replid2.is_empty(), "replid2 is 000...");
    assert_eq!((s.offset, s.keys), (0, Some(5)));
    assert!(!history(&m).losses.contains_key(&0), "no data lost");
    // Its replica cannot continue (another replid): a full resync that
    // keeps the dataset and takes the new offset.
    m.advance(m.now + RECONNECT_INTERVAL_MS);
    m.advance(m.now + FULL_SYNC_MS);
    let r = m.status(1);
    assert_eq!((r.offset, r.keys), (0, Some(5)));
    assert!(history(&m).shrinking_resyncs.is_empty());
    m.client.target = 0;
    m.client_write();
    m.advance(m.now + 1);
    assert_eq!((m.status(1).offset, m.status(1).keys), (1, Some(6)));
}

#[test]
fn an_rdb_restart_after_shutdown_keeps_its_history_and_replicas_continue_partially() {
    let mut m = with_mode(Persistence::Rdb);
    m.client_write();
    m.advance(m.now + 1);
    let replid = m.nodes[0].replid.clone();
    let offset = m.offset(0);
    m.shutdown(0);
    m.restart(0, Restart::Shutdown);
    let s = m.status(0);
    assert_ne!(s.replid, replid, "a new replid");
    assert_eq!(m.nodes[0].replid2, replid, "replid2 is the old replid");
    assert_eq!((s.offset, s.keys), (offset, Some(6)), "offset and keys kept");
    m.advance(m.now + RECONNECT_INTERVAL_MS);
    assert!(m.nodes[1].link_up, "a partial resync: linked at once");
    assert!(!m.events.iter().any(|e| matches!(e.kind, ModelEvent::FullResync { .. })));
}

#[test]
fn an_rdb_restart_after_a_kill_loads_the_last_snapshot() {
    let mut m = with_mode(Persistence::Rdb);
    for _ in 0..3 {
        m.client_write();
    }
    m.advance(m.now + 1);
    m.crash(0);
    m.restart(0, Restart::Kill);
    assert_eq!(m.status(0).keys, Some(5), "the 3 writes after the snapshot are gone");
    assert_eq!(history(&m).losses.get(&0).map(|l| l.had), Some(8));
    // Its replicas are ahead on its old history: a full resync drops
    // what they have beyond the snapshot.
    m.advance(m.now + RECONNECT_INTERVAL_MS);
    m.advance(m.now + FULL_SYNC_MS);
    assert_eq!(m.status(1).keys, Some(5));
    assert!(!history(&m).shrinking_resyncs.is_empty());
}

#[test]
fn a_password_mismatch_keeps_replicas_from_linking() {
    let mut m = synced(0);
    m.nodes[0].auth_broken_until = m.now + 5000;
    m.advance(m.now + 10);
    assert!(!m.nodes[1].link_up);
    m.advance(m.now + 5000);
    m.advance(m.now + RECONNECT_INTERVAL_MS);
    assert!(m.nodes[1].link_up, "links again once the passwords match");
}

#[test]
fn a_campaigner_that_stops_renewing_is_told_it_won_then_loses_the_key() {
    let mut e = EtcdModel::available();
    let a = NodeId("a".into());
    let (_, rev) = e.campaign(0, &a);
    let rev = Epoch(rev);
    assert_eq!(e.leader().map(|l| l.epoch), Some(rev), "told it won");
    e.expire(LEASE_TTL_MS);
    assert_eq!(e.leader(), None, "the key went with the lease");
    let record = record(rev, "r1");
    assert!(
        !e.publish(LEASE_TTL_MS + 1, &a, rev, &record),
        "and so did its right to write"
    );
}
