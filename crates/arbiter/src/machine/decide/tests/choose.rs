//! Unit tests of the plan chosen for a round: cold starts, failed and recorded primaries, nodes astray.

use super::*;
use crate::types::Epoch;

#[test]
fn a_recorded_primary_left_a_replica_is_promoted_not_its_empty_old_primary_adopted() {
    // The record names r2 (a failover whose promotion failed); r2 still
    // follows r1, which came back empty: promote r2, never adopt r1.
    let c = config(&[100, 100, 100]);
    let r1 = NodeView {
        status: Some(NodeStatus {
            role: Role::Primary,
            run_id: "a2".into(),
            replid: "y".into(),
            replid2: None,
            offset: 0,
            keys: None,
            uptime_s: None,
        }),
        lost_data: true,
        ..NodeView::default()
    };
    let v = views(vec![
        ("r1", r1),
        ("r2", replica(500, "b", Some(300))),
        ("r3", replica(500, "c", None)),
    ]);
    let record = GroupRecord {
        epoch: Epoch(5),
        primary: "r2".into(),
        run_id: None,
        lost_data: false,
    };
    let plan = decide(&c, &v, Some(&record), None, 10_000, &Planted::default());
    assert_eq!(plan, Ok(Some(Plan::Promote { node: "r2".into() })));
}

#[test]
fn replicas_astray_are_repointed_even_while_the_primary_is_only_suspected() {
    // The record names r1 (seen serving, then unreachable for 1 s of
    // the 3 s down-after); r2 still follows r3, a node that came back
    // claiming primary: r2 is pointed at r1. r3 itself is left as it is
    // until r1 answers (r1 may have become its replica meanwhile).
    let c = config(&[100, 100, 100]);
    let mut r1 = NodeView::default();
    r1.observe(8_000, Ok(status(Role::Primary, "a", "h", 100, 10)));
    r1.observe(9_000, Err(crate::types::RedisError::Timeout));
    let mut r2 = replica(100, "b", Some(500));
    if let Some(NodeStatus {
        role: Role::Replica { primary, .. },
        ..
    }) = r2.status.as_mut()
    {
        *primary = "10.0.0.3:6379".into();
    }
    let r3 = NodeView {
        status: Some(NodeStatus {
            role: Role::Primary,
            run_id: "c2".into(),
            replid: "y".into(),
            replid2: None,
            offset: 0,
            keys: None,
            uptime_s: None,
        }),
        ..NodeView::default()
    };
    let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    let record = GroupRecord {
        epoch: Epoch(5),
        primary: "r1".into(),
        run_id: None,
        lost_data: false,
    };
    let plan = decide(&c, &v, Some(&record), None, 10_000, &Planted::default());
    assert_eq!(
        plan,
        Ok(Some(Plan::Repoint {
            nodes: vec!["r2".into()]
        }))
    );
}

#[test]
fn a_primary_refusing_the_password_is_not_down() {
    let c = config(&[100, 100, 100]);
    let mut r1 = NodeView::default();
    r1.observe(0, Ok(status(Role::Primary, "a", "h", 10, 1)));
    for t in [1000, 5000, 60_000] {
        r1.observe(t, Err(RedisError::Auth("WRONGPASS".into())));
    }
    assert_eq!(r1.down_since, None);
    let replica_of_r1 = |run: &str| {
        let mut v = NodeView::default();
        v.observe(60_000, Ok(status(linked("10.0.0.1:6379"), run, "h", 10, 1)));
        v
    };
    let v = views(vec![("r1", r1), ("r2", replica_of_r1("b")), ("r3", replica_of_r1("c"))]);
    let record = GroupRecord {
        epoch: Epoch(5),
        primary: "r1".into(),
        run_id: None,
        lost_data: false,
    };
    assert_eq!(
        decide(&c, &v, Some(&record), None, 60_000, &Planted::default()),
        Ok(None)
    );
}

#[test]
fn no_node_is_pointed_at_an_unreachable_recorded_primary_never_seen_serving() {
    // The record names r3 (a failover whose promotion did not happen);
    // r3, out of reach now, was last seen following r1, which claims
    // primary: pointing r1 at r3 would close a cycle (S10). r2 is not
    // pointed at it either: r3 is not known to be a primary at all;
    // the leader waits until r3 answers (and promotes it) or is down.
    let c = config(&[100, 100, 100]);
    let mut r1 = NodeView::default();
    r1.observe(1000, Ok(status(Role::Primary, "a", "h", 10, 10)));
    let mut r2 = NodeView::default();
    r2.observe(1000, Ok(status(Role::Primary, "b", "h2", 0, 0)));
    let mut r3 = NodeView::default();
    r3.observe(0, Ok(status(linked("10.0.0.1:6379"), "c", "h", 10, 10)));
    r3.observe(1000, Err(RedisError::Timeout));
    let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    let record = GroupRecord {
        epoch: Epoch(5),
        primary: "r3".into(),
        run_id: None,
        lost_data: false,
    };
    let plan = decide(&c, &v, Some(&record), None, 1000, &Planted::default());
    assert_eq!(plan, Ok(None));
    // Never seen at all (a new leader): the same.
    let mut v = v;
    v.insert("r3".into(), NodeView::default());
    v.get_mut("r3").unwrap().observe(1000, Err(RedisError::Timeout));
    let plan = decide(&c, &v, Some(&record), None, 1000, &Planted::default());
    assert_eq!(plan, Ok(None));
}

#[test]
fn a_primary_restarted_since_recorded_with_less_data_than_a_node_back_from_its_aof_is_replaced_by_it() {
    // Every instance was away: r1, recorded under run "a", restarted
    // empty and took 5 writes; r2 came back from its AOF holding 140
    // keys and claims primary (a restart forgets REPLICAOF). A new
    // leader that never saw either before does not point r2 at r1: it
    // records r2, the data that is left.
    let c = config(&[100, 100, 100]);
    let record = recorded("r1", Some("a"));
    let mut r1 = NodeView::default();
    r1.observe(1000, Ok(status(Role::Primary, "a2", "fresh", 5, 5)));
    let mut r2 = NodeView::default();
    r2.observe(1000, Ok(status(Role::Primary, "b2", "aof", 0, 140)));
    let mut r3 = NodeView::default();
    r3.observe(1000, Ok(status(linked("10.0.0.1:6379"), "c", "fresh", 5, 5)));
    let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    note_data_loss(&c, &v, Some(&record), 1000).apply(&mut v);
    assert!(v["r1"].lost_data);
    let plan = decide(&c, &v, Some(&record), None, 1000, &Planted::default());
    assert_eq!(
        plan,
        Ok(Some(Plan::Failover {
            from: "r1".into(),
            to: "r2".into()
        })),
        "r3, eligible by lag, holds less than r2"
    );
    // The record names r2 with the run it reports.
    let plan = plan.unwrap().unwrap();
    assert_eq!(
        plan.record(Epoch(6), Some(&record), &v)
            .expect("a record")
            .run_id
            .as_deref(),
        Some("b2")
    );

    // The same picture under the run recorded: r1 did not restart, so
    // r2 is an old primary back with writes of its own (a split
    // brain: its offset moved with them), and it is demoted as usual.
    let mut old_primary = NodeView::default();
    old_primary.observe(1000, Ok(status(Role::Primary, "b2", "aof", 140, 140)));
    let mut v = views(vec![
        ("r1", NodeView::default()),
        ("r2", old_primary),
        ("r3", v["r3"].clone()),
    ]);
    v.get_mut("r1")
        .unwrap()
        .observe(1000, Ok(status(Role::Primary, "a", "fresh", 5, 5)));
    note_data_loss(&c, &v, Some(&record), 1000).apply(&mut v);
    assert!(!v["r1"].lost_data);
    let plan = decide(&c, &v, Some(&record), None, 1000, &Planted::default());
    assert_eq!(
        plan,
        Ok(Some(Plan::Repoint {
            nodes: vec!["r2".into()]
        }))
    );
}

#[test]
fn a_node_is_not_pointed_at_an_unanswering_primary_that_restarted_with_less_data() {
    // r1 was recorded under run "a"; its last answer was run "a2" with
    // 5 keys, and it does not answer now. r2, back from its RDB with
    // 147 keys, is not pointed at it; r3 (an empty replica of r2) is.
    // (Judged by r1's last answer, r2 is a copy from disk holding more
    // than r1's history: r1 lost data, and r2 is promoted.)
    let c = config(&[100, 100, 100]);
    let record = recorded("r1", Some("a"));
    let mut r1 = NodeView::default();
    r1.observe(900, Ok(status(Role::Primary, "a2", "fresh", 5, 5)));
    r1.observe(1000, Err(RedisError::Timeout));
    let mut r2 = NodeView::default();
    r2.observe(1000, Ok(status(Role::Primary, "b2", "rdb", 0, 147)));
    let mut r3 = NodeView::default();
    r3.observe(1000, Ok(status(linked("10.0.0.2:6379"), "c2", "other", 0, 0)));
    let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    let plan = decide(&c, &v, Some(&record), None, 1000, &Planted::default());
    assert_eq!(
        plan,
        Ok(Some(Plan::Repoint {
            nodes: vec!["r3".into()]
        }))
    );
    assert_loss_then_failover(&c, &mut v, &record, 1000, "r1", "r2");
}

#[test]
fn a_node_back_from_disk_with_more_keys_than_the_recorded_primary_is_promoted() {
    // r1 was recorded under the run it still has (promoted from an old
    // RDB while r2 was down) and holds 282 keys; r2, last seen as a
    // replica, restarted from its AOF with 336 keys on another history.
    // It is a copy reloaded from disk, not an old primary that went on
    // taking writes: r1 is the one holding less, and r2 is promoted.
    let c = config(&[100, 100, 100]);
    let record = recorded("r1", Some("a"));
    let mut r1 = NodeView::default();
    r1.observe(1000, Ok(status(Role::Primary, "a", "h1", 282, 282)));
    let mut r2 = NodeView::default();
    let role = linked("10.0.0.1:6379");
    r2.observe(0, Ok(status(role.clone(), "b", "h0", 300, 300)));
    r2.observe(500, Err(RedisError::Unreachable("refused".into())));
    r2.observe(1000, Ok(status(Role::Primary, "b2", "h2", 0, 336)));
    let mut r3 = NodeView::default();
    r3.observe(1000, Ok(status(role, "c", "h1", 282, 282)));
    let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    assert_loss_then_failover(&c, &mut v, &record, 1000, "r1", "r2");
}

#[test]
fn a_cold_start_claimant_holding_less_than_a_node_on_another_history_is_not_recorded() {
    // Seed 16383: no record; r1 (primary, 182 keys) died; r2 came back
    // from an old RDB (180 keys) and is the one node claiming primary;
    // r3 follows r1 holding 182. Recording r2 would resync r3's data
    // away: the leader waits and says why (unless allow_data_loss).
    let mut c = config(&[100, 100, 100]);
    let mut r1 = NodeView::default();
    r1.observe(30_000, Err(RedisError::Unreachable("refused".into())));
    let mut r2 = NodeView::default();
    r2.observe(30_000, Ok(status(Role::Primary, "b2", "b2-new", 180, 180)));
    let mut r3 = NodeView::default();
    r3.observe(30_000, Ok(status(down_replica(400), "c", "old", 182, 182)));
    let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    let plan = decide(&c, &v, None, None, 30_000, &Planted::default());
    assert_eq!(
        plan,
        Err(Blocked::ColdStartBehind {
            primary: "r2".into(),
            node: "r3".into()
        })
    );
    c.settings.allow_data_loss = true;
    let plan = decide(&c, &v, None, None, 30_000, &Planted::default());
    assert_eq!(plan, Ok(Some(Plan::Bootstrap { primary: "r2".into() })));
}

#[test]
fn a_cold_start_claimant_that_restarted_holding_less_than_it_held_is_not_recorded() {
    // Seed 107954: no record (etcd was down); r2, seen as a replica of r1
    // holding 111 keys, came back from an RDB holding 20 and is the one
    // node claiming primary; r1 is cut off, r3 down. Its replicas took
    // the rest from it: recording it would resync their data away once
    // they answer. The leader waits however long they stay silent, and
    // says why (unless allow_data_loss).
    let mut c = config(&[100, 100, 100]);
    let mut r1 = NodeView::default();
    r1.observe(1_000, Err(RedisError::Timeout));
    let mut r2 = NodeView::default();
    r2.observe(4_000, Ok(status(linked("10.0.0.1:6379"), "b", "h1", 111, 111)));
    r2.observe(5_000, Err(RedisError::Unreachable("refused".into())));
    r2.observe(15_000, Ok(status(Role::Primary, "b2", "h2", 20, 20)));
    let mut r3 = NodeView::default();
    r3.observe(15_000, Err(RedisError::Unreachable("refused".into())));
    let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    let blocked = Err(Blocked::ColdStartReloaded {
        primary: "r2".into(),
        held: 111,
        holds: 20,
    });
    assert_eq!(decide(&c, &v, None, None, 15_000, &Planted::default()), blocked);
    // Another answer under that run, or a failed poll, keeps the evidence;
    // so does a time past stale_after_ms.
    let later = 15_000 + c.settings.stale_after_ms + 5_000;
    for now in [16_000, 17_000, later] {
        v.get_mut("r2").unwrap().observe(now - 500, Err(RedisError::Timeout));
        v.get_mut("r2")
            .unwrap()
            .observe(now, Ok(status(Role::Primary, "b2", "h2", 20, 20)));
        assert_eq!(
            decide(&c, &v, None, None, now, &Planted::default()),
            blocked,
            "at {now}"
        );
    }
    c.settings.allow_data_loss = true;
    let plan = decide(&c, &v, None, None, later, &Planted::default());
    assert_eq!(plan, Ok(Some(Plan::Bootstrap { primary: "r2".into() })));
    // Holding as many again (it took writes since), or a replica, it is no
    // evidence any more.
    c.settings.allow_data_loss = false;
    let mut r2 = v["r2"].clone();
    r2.observe(later + 1_000, Ok(status(Role::Primary, "b2", "h2", 111, 111)));
    assert_eq!(r2.reloaded_less, None);
    let mut r2 = v["r2"].clone();
    r2.observe(later + 1_000, Ok(status(linked("10.0.0.1:6379"), "b2", "h2", 20, 20)));
    assert_eq!(r2.reloaded_less, None);
}

#[test]
fn a_primary_holding_fewer_keys_under_the_same_run_did_not_reload() {
    // Clients deleted keys: the count fell under one run id, nothing was
    // reloaded, and a cold start may record it. Only a new run that holds
    // less than the one before (a restart that reloaded less) is evidence.
    // (Mutation testing: with the run-id comparison taken out, the first
    // view was marked as having reloaded less, and the cold start blocked.)
    let c = config(&[100, 100, 100]);
    let mut r1 = NodeView::default();
    r1.observe(1_000, Ok(status(Role::Primary, "a", "h1", 111, 111)));
    r1.observe(2_000, Ok(status(Role::Primary, "a", "h1", 130, 20)));
    assert_eq!(r1.reloaded_less, None);
    let mut r2 = NodeView::default();
    r2.observe(2_000, Err(RedisError::Unreachable("refused".into())));
    let mut r3 = NodeView::default();
    r3.observe(2_000, Err(RedisError::Unreachable("refused".into())));
    let v = views(vec![("r1", r1.clone()), ("r2", r2), ("r3", r3)]);
    assert_eq!(
        decide(&c, &v, None, None, 2_000, &Planted::default()),
        Ok(Some(Plan::Bootstrap { primary: "r1".into() }))
    );
    // The same fall across a restart is.
    let mut restarted = NodeView::default();
    restarted.observe(1_000, Ok(status(Role::Primary, "a", "h1", 111, 111)));
    restarted.observe(2_000, Ok(status(Role::Primary, "a2", "h1", 20, 20)));
    assert_eq!(restarted.reloaded_less, Some(111));
}

#[test]
fn a_cold_start_claimant_that_came_back_empty_under_its_replicas_is_replaced_by_the_best_copy() {
    // Seed 36590: no record yet (etcd was down); r1 restarted empty
    // (persistence off) and claims primary; r2 and r3 still follow it on
    // the old history with 220 keys, their links down: in about a second
    // they resync from it and the data is gone. The copy holding the most
    // becomes the primary (as after a recorded primary lost its data).
    let c = config(&[100, 100, 100]);
    let mut r1 = NodeView::default();
    r1.observe(10_285, Ok(status(Role::Primary, "a2", "a2-new", 0, 0)));
    let mut r2 = NodeView::default();
    r2.observe(10_285, Ok(status(down_replica(300), "b", "old", 220, 220)));
    let mut r3 = NodeView::default();
    r3.observe(10_285, Ok(status(down_replica(300), "c", "old", 215, 215)));
    let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    let plan = decide(&c, &v, None, None, 10_285, &Planted::default());
    assert_eq!(
        plan,
        Ok(Some(Plan::Failover {
            from: "r1".into(),
            to: "r2".into()
        }))
    );
    // A node that does not answer may hold more: the leader waits.
    v.get_mut("r3").unwrap().observe(10_385, Err(RedisError::Timeout));
    let plan = decide(&c, &v, None, None, 10_385, &Planted::default());
    assert_eq!(
        plan,
        Err(Blocked::ColdStartBehind {
            primary: "r1".into(),
            node: "r2".into()
        })
    );
}

#[test]
fn a_cold_start_claimant_holding_nothing_is_not_recorded_while_data_may_exist() {
    // Seed 78926: no record; r2 came back empty and claims primary; r1
    // refuses arbiter's password, r3 never answered. Either may hold
    // the data that recording r2 would resync away.
    let mut c = config(&[100, 100, 100]);
    let mut r1 = NodeView::default();
    r1.observe(9_000, Err(RedisError::Auth("WRONGPASS".into())));
    let mut r2 = NodeView::default();
    r2.observe(9_000, Ok(status(Role::Primary, "b1", "b1-new", 0, 0)));
    let mut r3 = NodeView::default();
    r3.observe(1_000, Err(RedisError::Timeout));
    let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    let blocked =
        |v: &BTreeMap<String, NodeView>, c: &GroupConfig, now| decide(c, v, None, None, now, &Planted::default());
    assert_eq!(
        blocked(&v, &c, 9_000),
        Err(Blocked::ColdStartEmpty {
            primary: "r2".into(),
            reason: "empty while r1 refuses arbiter's password (it may hold data)".into()
        })
    );
    // r1 answers, empty too; r3 is still within the staleness limit.
    v.get_mut("r1")
        .unwrap()
        .observe(9_500, Ok(status(linked("10.0.0.2:6379"), "a", "b1-new", 0, 0)));
    assert_eq!(
        blocked(&v, &c, 9_500),
        Err(Blocked::ColdStartEmpty {
            primary: "r2".into(),
            reason: "empty while r3 has not answered since this instance took over (it may hold data)".into()
        })
    );
    // Silent past the staleness limit: nothing is known to exist.
    let later = 1_000 + c.settings.stale_after_ms + 1;
    for n in ["r1", "r2"] {
        let st = v[n].status.clone().unwrap();
        v.get_mut(n).unwrap().observe(later, Ok(st));
    }
    assert_eq!(
        blocked(&v, &c, later),
        Ok(Some(Plan::Bootstrap { primary: "r2".into() }))
    );
    // And allow_data_loss records it at once.
    v.get_mut("r1")
        .unwrap()
        .observe(9_000, Err(RedisError::Auth("WRONGPASS".into())));
    c.settings.allow_data_loss = true;
    assert_eq!(
        blocked(&v, &c, later),
        Ok(Some(Plan::Bootstrap { primary: "r2".into() }))
    );
}

#[test]
fn an_empty_recorded_replica_is_not_promoted_over_a_copy_back_from_disk() {
    // Seed 35227: the record names r2, whose promotion has not happened
    // yet; r2 holds no keys (it follows r1, which is down); r3 came back
    // from its AOF holding 120. Promoting r2 would resync r3's keys
    // away: r3 is promoted instead.
    let c = config(&[100, 100, 100]);
    let record = recorded("r2", Some("b"));
    let mut r1 = NodeView::default();
    r1.observe(29_000, Err(RedisError::Timeout));
    let mut r2 = NodeView::default();
    r2.observe(29_000, Ok(status(linked("10.0.0.1:6379"), "b", "a-new", 0, 0)));
    let mut r3 = NodeView::default();
    r3.observe(29_000, Err(RedisError::Unreachable("refused".into())));
    r3.observe(30_100, Ok(status(Role::Primary, "c5", "c5-new", 0, 120)));
    r2.observe(30_100, Ok(status(linked("10.0.0.1:6379"), "b", "a-new", 0, 0)));
    let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    // (r1 never answered this leader: it may hold more than r3, which
    // risks nothing by waiting, until it has been silent past
    // stale_after_ms; seed 61842)
    note_data_loss(&c, &v, Some(&record), 30_100).apply(&mut v);
    assert!(shelter(&c, &v, "r2", 30_100).is_none());
    let later = 29_000 + c.settings.stale_after_ms + 100;
    for n in ["r2", "r3"] {
        let st = v[n].status.clone().unwrap();
        v.get_mut(n).unwrap().observe(later, Ok(st));
    }
    assert_loss_then_failover(&c, &mut v, &record, later, "r2", "r3");
}

/// The views of seeds 32516 / 113993, reduced: the record names r3, a
/// replica of r2; r2, seen holding 160 keys, restarted holding 5 and r3
/// resynced from it (160 -> 5); r1 claims primary on the old history
/// with `r1_keys` (`None`: r1 does not answer, last seen claiming
/// primary).
fn followed_loss_views(r1_keys: Option<u64>) -> BTreeMap<String, NodeView> {
    let mut r1 = NodeView::default();
    r1.observe(1_000, Ok(status(Role::Primary, "a", "h1", 160, 160)));
    match r1_keys {
        Some(k) => r1.observe(10_000, Ok(status(Role::Primary, "a", "h1", k, k))),
        None => r1.observe(10_000, Err(RedisError::Timeout)),
    }
    let mut r2 = NodeView::default();
    r2.observe(1_000, Ok(status(Role::Primary, "b", "h2", 160, 160)));
    r2.observe(10_000, Ok(status(Role::Primary, "b2", "h3", 5, 5)));
    let mut r3 = NodeView::default();
    r3.observe(1_000, Ok(status(linked("10.0.0.2:6379"), "c", "h2", 160, 160)));
    r3.observe(10_000, Ok(status(linked("10.0.0.2:6379"), "c", "h3", 5, 5)));
    assert_eq!(r2.reloaded_less, Some(160));
    assert_eq!(r3.shrank_from, Some(160));
    views(vec![("r1", r1), ("r2", r2), ("r3", r3)])
}

#[test]
fn a_node_that_lost_data_is_not_adopted_when_the_recorded_primary_follows_it() {
    // Seeds 32516, 67260, 113993: adopted as a finished switchover, r2
    // had r1 repointed at it, and r1 resynced its data away. The copy
    // holding the most data left becomes the primary instead.
    let c = config(&[100, 100, 100]);
    let record = recorded("r3", None);
    let v = followed_loss_views(Some(160));
    let plan = decide(&c, &v, Some(&record), None, 10_000, &Planted::default());
    let expected = Plan::Failover {
        from: "r3".into(),
        to: "r1".into(),
    };
    assert_eq!(plan, Ok(Some(expected)));
    // With the planted bug that lets nodes resync from an emptied one,
    // the old rule adopts r2.
    #[cfg(feature = "planted-bugs")]
    {
        let planted = Planted::new([crate::types::Bug::ResyncFromEmpty]);
        let plan = decide(&c, &v, Some(&record), None, 10_000, &planted);
        assert_eq!(plan, Ok(Some(Plan::Adopt { primary: "r2".into() })));
    }
}

#[test]
fn the_followed_node_is_adopted_as_before_when_no_copy_holds_more_than_it() {
    // r1 holds no more than r2 and r3 do, and every node answers: no data
    // is left elsewhere to keep, and r2 is adopted as before.
    let c = config(&[100, 100, 100]);
    let v = followed_loss_views(Some(5));
    let plan = decide(&c, &v, Some(&recorded("r3", None)), None, 10_000, &Planted::default());
    assert_eq!(plan, Ok(Some(Plan::Adopt { primary: "r2".into() })));
}

#[test]
fn the_recorded_replica_is_promoted_when_the_best_copy_holds_no_more_than_it() {
    // Seed 2386, reduced: r2 is down now; r1 holds 5 keys, as r3 does,
    // and more than r2's last answer: nothing more to keep on r1, and the
    // recorded r3 is promoted (not r1 failed over to).
    let c = config(&[100, 100, 100]);
    let mut v = followed_loss_views(Some(5));
    let r2 = v.get_mut("r2").unwrap();
    r2.observe(10_500, Ok(status(Role::Primary, "b2", "h3", 5, 0)));
    r2.observe(11_000, Err(RedisError::Timeout));
    let plan = decide(&c, &v, Some(&recorded("r3", None)), None, 11_000, &Planted::default());
    assert_eq!(plan, Ok(Some(Plan::Promote { node: "r3".into() })));
}

#[test]
fn the_leader_waits_while_the_copy_that_may_hold_the_data_does_not_answer() {
    // Seed 67260, reduced: r1, last seen claiming primary with the data,
    // is paused. Adopting r2 would resync r1's data away once it answers;
    // promoting r3 would too. The leader waits and says why.
    let c = config(&[100, 100, 100]);
    let v = followed_loss_views(None);
    let plan = decide(&c, &v, Some(&recorded("r3", None)), None, 10_000, &Planted::default());
    let blocked = Blocked::FollowsLostData {
        primary: "r3".into(),
        source: "r2".into(),
    };
    assert_eq!(plan, Err(blocked));
}

#[test]
fn a_cold_shelter_is_never_a_priority_zero_node() {
    // Seed 36590's cold start again, with r2 (holding the most) at
    // priority 0: the copy promoted is r3, the best one that may be
    // (mutation testing: the priority filter could be dropped unseen).
    let c = config(&[100, 0, 100]);
    let mut r1 = NodeView::default();
    r1.observe(10_285, Ok(status(Role::Primary, "a2", "a2-new", 0, 0)));
    let mut r2 = NodeView::default();
    r2.observe(10_285, Ok(status(down_replica(300), "b", "old", 220, 220)));
    let mut r3 = NodeView::default();
    r3.observe(10_285, Ok(status(down_replica(300), "c", "old", 215, 215)));
    let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    let plan = decide(&c, &v, None, None, 10_285, &Planted::default());
    assert_eq!(
        plan,
        Ok(Some(Plan::Failover {
            from: "r1".into(),
            to: "r3".into()
        }))
    );
}

#[test]
fn after_a_loss_the_copy_holding_the_most_beats_the_candidate_furthest_along() {
    // r1 (recorded) came back empty. Both replicas still follow it on
    // the old history, links down: r3 is furthest along (offset 225)
    // but holds 100 keys (deletes), r2 holds 220. The data left is r2's:
    // it is promoted, not the candidate the lag rule picks; with the
    // same keys on both, the candidate is.
    for (r3_keys, to) in [(100, "r2"), (220, "r3")] {
        after_an_empty_restart_fails_over(&config(&[100, 100, 100]), 220, r3_keys, to);
    }
}

/// r1 (recorded, at offset 225 holding `r1_keys`) comes back empty;
/// r2 (offset 220, 220 keys) and r3 (offset 225, `r3_keys`) still follow
/// it on the old history, links down: the loss is marked and the
/// failover goes `to`.
fn after_an_empty_restart_fails_over(c: &GroupConfig, r1_keys: u64, r3_keys: u64, to: &str) {
    let record = recorded("r1", Some("a"));
    let mut r1 = NodeView::default();
    r1.observe(10_000, Ok(status(Role::Primary, "a", "old", 225, r1_keys)));
    r1.observe(10_285, Ok(status(Role::Primary, "a2", "a2-new", 0, 0)));
    let mut r2 = NodeView::default();
    r2.observe(10_285, Ok(status(down_replica(300), "b", "old", 220, 220)));
    let mut r3 = NodeView::default();
    r3.observe(10_285, Ok(status(down_replica(300), "c", "old", 225, r3_keys)));
    let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    assert_loss_then_failover(c, &mut v, &record, 10_285, "r1", to);
}

#[test]
fn after_a_loss_a_copy_holding_only_as_many_keys_as_the_candidate_does_not_beat_it() {
    // As above, but r2 comes first by priority: it is the candidate, at
    // offset 220. r3, further along (offset 225), is the copy holding the
    // most data left. Holding no more keys than r2 (220), it does not
    // override the candidate; holding one more, it does. (Mutation
    // testing: with `keys(best) > keys(c)` as `>=` in `Round::replace`,
    // the copy holding as many keys won over the candidate.)
    for (r3_keys, to) in [(220, "r2"), (221, "r3")] {
        after_an_empty_restart_fails_over(&config(&[100, 10, 100]), 221, r3_keys, to);
    }
}

#[test]
fn a_cold_shelter_is_never_a_follower_holding_no_more_than_the_claimant() {
    // Seed 36590's cold start once more: r1 restarted empty and claims
    // primary; r3 already resynced from it (empty, on r1's new
    // history); r2, at priority 0, still holds the old history's 220
    // keys. No copy that may be promoted holds more than r1: the leader
    // waits for an operator, and never promotes the empty r3. (Mutation
    // testing, shard 0/8: with `||` for the first `&&` of the shelter
    // filter in Round::cold_shelter, any follower of the claimant was a
    // shelter, and r1 was failed over to r3.)
    let c = config(&[100, 0, 100]);
    let mut r1 = NodeView::default();
    r1.observe(10_285, Ok(status(Role::Primary, "a2", "a2-new", 0, 0)));
    let mut r2 = NodeView::default();
    r2.observe(10_285, Ok(status(down_replica(300), "b", "old", 220, 220)));
    let mut r3 = NodeView::default();
    r3.observe(10_285, Ok(status(linked("10.0.0.1:6379"), "c", "a2-new", 0, 0)));
    let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    let plan = decide(&c, &v, None, None, 10_285, &Planted::default());
    let blocked = Blocked::ColdStartBehind {
        primary: "r1".into(),
        node: "r2".into(),
    };
    assert_eq!(plan, Err(blocked));
}

#[test]
fn a_cold_shelter_holds_more_than_the_claimant_not_merely_another_history() {
    // r1 restarted from an older dataset (50 keys, a new history) and
    // claims primary; r2, at priority 0, still holds the old history's 220
    // keys; r3 came back from an even older RDB (10 keys, a third history)
    // and waits to resync from r1. Another history alone makes no shelter:
    // r3 holds less than r1, and promoting it would lose more. The leader
    // waits for an operator. (Mutation testing, shard 1/8: with `||` for
    // the second `&&` of the shelter filter in Round::cold_shelter, any
    // node on another history was a shelter, and r1 was failed over to r3.)
    let c = config(&[100, 0, 100]);
    let mut r1 = NodeView::default();
    r1.observe(10_285, Ok(status(Role::Primary, "a2", "a2-new", 50, 50)));
    let mut r2 = NodeView::default();
    r2.observe(10_285, Ok(status(down_replica(300), "b", "old", 220, 220)));
    let mut r3 = NodeView::default();
    r3.observe(10_285, Ok(status(down_replica(300), "c2", "older", 10, 10)));
    let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    let plan = decide(&c, &v, None, None, 10_285, &Planted::default());
    let blocked = Blocked::ColdStartBehind {
        primary: "r1".into(),
        node: "r2".into(),
    };
    assert_eq!(plan, Err(blocked));
}

#[test]
fn either_sign_of_a_loss_on_the_followed_node_is_enough() {
    // Seed 67260's views with one of the two signs of r2's loss taken
    // away: this leader saw r2 first after its restart (it cannot tell
    // r2 reloaded less, but r3 resynced from 160 keys to 5), or saw r3
    // first after its resync (it cannot tell r3 shrank, but r2 came back
    // with 5 of its 160). Either shows that r2 lost data: the leader
    // waits for r1, which may hold it, rather than adopt r2. (Mutation
    // testing, shard 0/8: with `&&` for `||` in
    // Round::followed_lost_data, both signs were needed, and r2 was
    // adopted.)
    let c = config(&[100, 100, 100]);
    for first_seen_now in ["r2", "r3"] {
        let mut v = followed_loss_views(None);
        let latest = v[first_seen_now].status.clone().unwrap();
        let mut fresh = NodeView::default();
        fresh.observe(10_000, Ok(latest));
        v.insert(first_seen_now.into(), fresh);
        assert_eq!(v["r2"].reloaded_less.is_some(), first_seen_now == "r3");
        assert_eq!(v["r3"].shrank_from.is_some(), first_seen_now == "r2");
        let plan = decide(&c, &v, Some(&recorded("r3", None)), None, 10_000, &Planted::default());
        let blocked = Blocked::FollowsLostData {
            primary: "r3".into(),
            source: "r2".into(),
        };
        assert_eq!(plan, Err(blocked), "{first_seen_now} first seen now");
    }
}

#[test]
fn a_copy_holding_more_is_not_pointed_at_an_unanswering_primary_that_restarted() {
    // r1 was recorded under run "a"; its last answer was run "a2" with 5
    // keys, and it has not answered for 1 s (of the 3 s down-after). r3
    // follows r2, back from its RDB with 147 keys, and holds them too:
    // pointed at r1 it would resync them away once r1 is back (r1 may
    // have lost data). It is left where it is until r1 answers or is
    // down (r2, claiming primary, is left as it is too). Under the run
    // recorded, r1 did not restart, and r3 is repointed as usual.
    // (Mutation testing, shard 0/8: with the (Some, Some) arm of
    // `holds_more` deleted in Round::astray, or the `!` before
    // `view.reachable()` in its `wary`, r3 was repointed.)
    let c = config(&[100, 100, 100]);
    let record = recorded("r1", Some("a"));
    for (last_run, expected) in [
        ("a2", None),
        (
            "a",
            Some(Plan::Repoint {
                nodes: vec!["r3".into()],
            }),
        ),
    ] {
        let mut r1 = NodeView::default();
        r1.observe(900, Ok(status(Role::Primary, last_run, "fresh", 5, 5)));
        r1.observe(1_000, Err(RedisError::Timeout));
        let mut r2 = NodeView::default();
        r2.observe(2_000, Ok(status(Role::Primary, "b2", "rdb", 0, 147)));
        let mut r3 = NodeView::default();
        r3.observe(2_000, Ok(status(linked("10.0.0.2:6379"), "c", "rdb", 0, 147)));
        let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        let plan = decide(&c, &v, Some(&record), None, 2_000, &Planted::default());
        assert_eq!(plan, Ok(expected), "r1 last answered under run {last_run}");
    }
}

#[test]
fn a_copy_holding_only_as_many_keys_as_an_unanswering_restarted_primary_is_repointed() {
    // As above: r1, recorded under run "a", last answered under run "a2"
    // with 5 keys, and has not answered for 1 s. r3 follows r2, back
    // from its RDB on another history, and holds what r2 holds: as many
    // keys as r1 held (5), it has nothing r1 may lack, and is pointed at
    // r1 as usual; one more, it is left where it is. (Mutation testing:
    // with `k > pk` as `k >= pk` in `holds_more` of Round::astray, a copy
    // holding as many was left astray too.)
    let c = config(&[100, 100, 100]);
    let record = recorded("r1", Some("a"));
    let repointed = Some(Plan::Repoint {
        nodes: vec!["r3".into()],
    });
    for (keys, expected) in [(5, repointed), (6, None)] {
        let mut r1 = NodeView::default();
        r1.observe(900, Ok(status(Role::Primary, "a2", "fresh", 5, 5)));
        r1.observe(1_000, Err(RedisError::Timeout));
        let mut r2 = NodeView::default();
        r2.observe(2_000, Ok(status(Role::Primary, "b2", "rdb", 0, keys)));
        let mut r3 = NodeView::default();
        r3.observe(2_000, Ok(status(linked("10.0.0.2:6379"), "c", "rdb", 0, keys)));
        let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        let plan = decide(&c, &v, Some(&record), None, 2_000, &Planted::default());
        assert_eq!(plan, Ok(expected), "r3 holding {keys} keys");
    }
}

#[test]
fn a_switchover_waits_for_a_target_whose_link_to_the_primary_is_up() {
    // r1 (recorded) serves; r2 follows it with its link up, r3 with its
    // link down. A switchover to r2 starts; one to r3 waits (FAILOVER
    // to a replica that is not in sync would be refused or lose writes),
    // whatever r3's priority. (Mutation testing: with `ok && priority !=
    // 0` as `||` in `Round::in_line`, any target with a priority started
    // a switchover, r3 among them.)
    let c = config(&[100, 100, 100]);
    let record = recorded("r1", Some("a"));
    let mut r1 = NodeView::default();
    r1.observe(1_000, Ok(status(Role::Primary, "a", "h", 500, 50)));
    let mut r2 = NodeView::default();
    r2.observe(1_000, Ok(status(linked("10.0.0.1:6379"), "b", "h", 500, 50)));
    let mut r3 = NodeView::default();
    r3.observe(1_000, Ok(status(down_replica(200), "c", "h", 500, 50)));
    let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    let plan = decide(&c, &v, Some(&record), Some("r2"), 1_000, &Planted::default());
    let expected = Plan::Switchover {
        from: "r1".into(),
        to: "r2".into(),
    };
    assert_eq!(plan, Ok(Some(expected)), "r2 in sync");
    let plan = decide(&c, &v, Some(&record), Some("r3"), 1_000, &Planted::default());
    assert_eq!(plan, Ok(None), "r3's link is down");
}

#[test]
fn the_leader_waits_only_for_a_silent_copy_that_last_held_more_than_the_recorded_replica() {
    // Seed 2386's views, with r1 last seen holding `r1_keys` and not
    // answering now. r3 (recorded, following r2, which lost data) holds
    // 5 keys: r1 holding as many is nothing more to keep, and r2 is
    // adopted as when every node answers; holding one more, the leader
    // waits for it. (Mutation testing: with `k > holds` as `k >= holds`
    // in `Round::silent_may_hold_more`, a silent copy holding as many
    // kept the leader waiting.)
    let c = config(&[100, 100, 100]);
    let blocked = Blocked::FollowsLostData {
        primary: "r3".into(),
        source: "r2".into(),
    };
    for (r1_keys, expected) in [(5, Ok(Some(Plan::Adopt { primary: "r2".into() }))), (6, Err(blocked))] {
        let mut v = followed_loss_views(Some(r1_keys));
        v.get_mut("r1").unwrap().observe(10_500, Err(RedisError::Timeout));
        let plan = decide(&c, &v, Some(&recorded("r3", None)), None, 10_500, &Planted::default());
        assert_eq!(plan, expected, "r1 last seen holding {r1_keys} keys");
    }
}

#[test]
fn an_answering_primary_restarted_since_recorded_loses_no_copy_holding_more_on_another_history() {
    // The `astray` case earlier sessions left unpinned: r1, recorded under
    // run "a", answers under run "a2" (it restarted since it was
    // recorded, perhaps while every instance was away) with 5 keys, and
    // is not marked. r2 claims primary on another history (at offset 40:
    // nothing in its own answers says it came back from disk) and r3
    // follows it. `Round::astray` itself repoints every such node at an
    // answering primary (its holds-more guard is for one that does not
    // answer), so what keeps r2's keys is the data-loss mark, noted in
    // the same round before the decision: holding more than r1 on another
    // history, r2 is evidence that r1 lost data (`held_elsewhere`: r1
    // restarted since it was recorded), and r2 is promoted instead. Holding as many, nothing is at stake, and
    // both are repointed at r1.
    let c = config(&[100, 100, 100]);
    let record = recorded("r1", Some("a"));
    for (keys, marked, expected) in [
        (
            5,
            false,
            Plan::Repoint {
                nodes: vec!["r2".into(), "r3".into()],
            },
        ),
        (
            6,
            true,
            Plan::Failover {
                from: "r1".into(),
                to: "r2".into(),
            },
        ),
    ] {
        let mut r1 = NodeView::default();
        r1.observe(900, Ok(status(Role::Primary, "a2", "fresh", 5, 5)));
        r1.observe(2_000, Ok(status(Role::Primary, "a2", "fresh", 5, 5)));
        let mut r2 = NodeView::default();
        r2.observe(2_000, Ok(status(Role::Primary, "b2", "other", 40, keys)));
        let mut r3 = NodeView::default();
        r3.observe(2_000, Ok(status(linked("10.0.0.2:6379"), "c", "other", 40, keys)));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        note_data_loss(&c, &v, Some(&record), 2_000).apply(&mut v);
        assert_eq!(v["r1"].lost_data, marked, "r2 holding {keys} keys");
        let plan = decide(&c, &v, Some(&record), None, 2_000, &Planted::default());
        assert_eq!(plan, Ok(Some(expected)), "r2 holding {keys} keys");
    }
}
