//! Unit tests of the shelter, detaching, and replicas about to resync their data away.

use super::*;
use crate::types::Epoch;

#[test]
fn replicas_of_an_empty_primary_with_no_eligible_candidate_are_sheltered() {
    // r1 (recorded) came back empty; r2 follows it holding 100, r3 is
    // out of reach but was last seen holding 300: r2 lags too far to be
    // promoted, so it is pointed at r3 instead of resyncing from r1.
    let mut c = config(&[100, 100, 100]);
    c.settings.max_lag_bytes = 50;
    let mut r1 = NodeView::default();
    r1.observe(
        9_000,
        Ok(NodeStatus {
            role: Role::Primary,
            run_id: "a".into(),
            replid: "x".into(),
            replid2: None,
            offset: 300,
            keys: None,
            uptime_s: None,
        }),
    );
    r1.observe(
        10_000,
        Ok(NodeStatus {
            role: Role::Primary,
            run_id: "a2".into(),
            replid: "y".into(),
            replid2: None,
            offset: 0,
            keys: None,
            uptime_s: None,
        }),
    );
    let mut r3 = replica(300, "c", None);
    r3.observe(9_900, Err(crate::types::RedisError::Timeout));
    let mut v = views(vec![("r1", r1), ("r2", replica(100, "b", Some(200))), ("r3", r3)]);
    let record = GroupRecord {
        epoch: Epoch(5),
        primary: "r1".into(),
        run_id: None,
        lost_data: false,
    };
    note_data_loss(&c, &v, Some(&record), 10_000).apply(&mut v);
    assert!(v["r1"].lost_data);
    let plan = decide(&c, &v, Some(&record), None, 10_000, &Planted::default());
    assert_eq!(
        plan,
        Ok(Some(Plan::Shelter {
            nodes: vec!["r2".into()],
            to: "r3".into()
        }))
    );
    // Once r2 follows r3 there is nothing left to shelter: blocked.
    if let Some(NodeStatus {
        role: Role::Replica { primary, .. },
        ..
    }) = v.get_mut("r2").and_then(|x| x.status.as_mut())
    {
        *primary = "10.0.0.3:6379".into();
    }
    let plan = decide(&c, &v, Some(&noted(&record)), None, 10_000, &Planted::default());
    assert_eq!(plan, Err(Blocked::NoEligibleReplica { primary: "r1".into() }));
}

#[test]
fn the_best_copy_left_following_an_empty_primary_is_promoted_not_left_to_resync() {
    // r1 (recorded) came back empty; r2 follows it, holding the most
    // data, but its link is down longer than the allowance; r3 lags.
    let mut c = config(&[100, 100, 100]);
    c.settings.max_lag_bytes = 10;
    let mut r1 = NodeView::default();
    r1.observe(0, Ok(status(Role::Primary, "a", "old", 500, 50)));
    r1.observe(60_000, Ok(status(Role::Primary, "a2", "new", 0, 0)));
    let mut r2 = NodeView::default();
    r2.observe(60_000, Ok(status(down_replica(59_000), "b", "old", 500, 50)));
    let mut r3 = NodeView::default();
    r3.observe(60_000, Ok(status(down_replica(59_000), "c", "old", 400, 40)));
    let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    let record = GroupRecord {
        epoch: Epoch(5),
        primary: "r1".into(),
        run_id: None,
        lost_data: false,
    };
    assert_loss_then_failover(&c, &mut v, &record, 60_000, "r1", "r2");
    // Priority 0 forbids it: the replicas holding data are detached
    // from the empty node (each keeps its data), none is recorded ...
    c.nodes[1].priority = 0;
    let plan = decide(&c, &v, Some(&record), None, 60_000, &Planted::default());
    assert_eq!(
        plan,
        Ok(Some(Plan::Detach {
            from: "r1".into(),
            nodes: vec!["r2".into(), "r3".into()]
        }))
    );
    // ... and then the leader waits, saying which node holds the last
    // copy, rather than a cycle.
    for (name, run, offset, keys) in [("r2", "b", 500, 50), ("r3", "c", 400, 40)] {
        let view = v.get_mut(name).unwrap();
        view.observe(60_100, Ok(status(Role::Primary, run, "old", offset, keys)));
    }
    let plan = decide(&c, &v, Some(&noted(&record)), None, 60_100, &Planted::default());
    assert_eq!(
        plan,
        Err(Blocked::LastCopyNotPromotable {
            primary: "r1".into(),
            node: "r2".into()
        })
    );
}

#[test]
fn a_shelter_never_closes_a_replication_cycle() {
    // r3 (recorded) lost its data; r2 follows it; r1, out of reach,
    // was last seen following r2 with more data: pointing r2 at r1
    // would be a cycle, so r2, the best copy left, is promoted.
    let mut c = config(&[100, 100, 100]);
    c.settings.max_lag_bytes = 10;
    let r2_addr = "10.0.0.2:6379";
    let r3_addr = "10.0.0.3:6379";
    let mut r1 = NodeView::default();
    r1.observe(0, Ok(status(linked(r2_addr), "a", "h", 395, 395)));
    r1.observe(1000, Err(RedisError::Timeout));
    let mut r2 = NodeView::default();
    let r2_role = Role::Replica {
        primary: r3_addr.into(),
        link_up: false,
        link_down_ms: Some(500),
    };
    r2.observe(1000, Ok(status(r2_role, "b", "h2", 69, 69)));
    let mut r3 = NodeView::default();
    r3.observe(0, Ok(status(linked(r2_addr), "c", "h", 395, 395)));
    r3.observe(1000, Ok(status(Role::Primary, "c2", "new", 0, 0)));
    let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    let record = GroupRecord {
        epoch: Epoch(5),
        primary: "r3".into(),
        run_id: None,
        lost_data: false,
    };
    assert_loss_then_failover(&c, &mut v, &record, 1000, "r3", "r2");
}

#[test]
fn a_claimant_holding_less_than_a_silent_node_last_held_is_no_shelter_yet() {
    // Seed 33036: r1 (recorded) lost its data and is down; r2 came
    // back from an old RDB (20 keys, claiming primary); r3 last answered
    // following r1 with 240 keys, in an earlier term, and is silent
    // (within stale_after_ms). Recording r2 could end with r3 repointed
    // at it: wait for r3.
    let c = config(&[100, 100, 100]);
    let record = recorded("r1", Some("a2"));
    let v = back_from_rdb_beside_a_silent_node(240);
    assert!(shelter(&c, &v, "r1", 21_200).is_none());
    let plan = decide(&c, &v, Some(&noted(&record)), None, 21_200, &Planted::default());
    assert!(matches!(plan, Err(Blocked::NoEligibleReplica { .. })), "{plan:?}");
    // Silent past the staleness limit, r3 is no longer waited for.
    let later = 12_900 + c.settings.stale_after_ms + 1;
    let mut v = v;
    let st = v["r2"].status.clone().unwrap();
    v.get_mut("r2").unwrap().observe(later, Ok(st));
    assert!(matches!(shelter(&c, &v, "r1", later), Some(Shelter::Promote(ref n)) if n == "r2"));
}

#[test]
fn a_replica_of_an_earlier_primary_that_lost_data_holding_more_is_the_data_left() {
    // Seed 33036, later: r2 is recorded (20 keys); r1, the primary
    // before it, lost its data and is down; r3 answers again, still
    // following r1 with the 240 keys r1 held before its loss: r2's
    // history lacks them, and r3 (which would resync from r1) is
    // promoted rather than repointed at r2.
    let c = config(&[100, 100, 100]);
    let record = recorded("r2", Some("b2"));
    let mut r1 = NodeView::default();
    r1.observe(26_000, Err(RedisError::Unreachable("refused".into())));
    r1.lost_data = true;
    let mut r2 = NodeView::default();
    r2.observe(27_000, Ok(status(Role::Primary, "b2", "b2-new", 30, 30)));
    let mut r3 = NodeView::default();
    r3.observe(27_000, Ok(status(down_replica(14_000), "c", "a1", 240, 240)));
    let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    assert_loss_then_failover(&c, &mut v, &record, 27_000, "r2", "r3");
}

#[test]
fn while_waiting_a_replica_of_an_emptied_claimant_is_detached() {
    // Seed 42644: r3 (recorded) lost its data and is down; nothing is
    // eligible. r1 follows r2, which the record does not name and
    // which came back empty: r1 would resync its 85 keys away, and is
    // detached while the leader waits.
    let c = config(&[100, 100, 100]);
    let record = noted(&recorded("r3", Some("c2")));
    let mut r1 = NodeView::default();
    r1.observe(38_400, Ok(status(down_replica(100), "a", "B", 85, 85)));
    if let Some(NodeStatus {
        role: Role::Replica { primary, .. },
        ..
    }) = r1.status.as_mut()
    {
        *primary = "10.0.0.2:6379".into();
    }
    let mut r2 = NodeView::default();
    r2.observe(38_400, Ok(status(Role::Primary, "b2", "B2", 0, 0)));
    let mut r3 = NodeView::default();
    r3.observe(36_400, Ok(status(Role::Primary, "c2", "C2", 0, 0)));
    r3.observe(38_400, Err(RedisError::Unreachable("refused".into())));
    r3.lost_data = true;
    let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    let plan = decide(&c, &v, Some(&record), None, 38_400, &Planted::default());
    assert_eq!(
        plan,
        Ok(Some(Plan::Detach {
            from: "r2".into(),
            nodes: vec!["r1".into()]
        }))
    );
}

#[test]
fn a_priority_zero_copy_holding_more_than_the_candidate_is_detached_not_resynced_away() {
    // r1 (recorded) lost its data and is down. r3, promotable and in
    // sync with it, holds 91 keys written since; r2 holds 140 from
    // before the loss, priority 0. Promoting r3 would end with r2
    // repointed at it: r2 is detached from r1 instead (r3 holds no
    // more than r1's last answer: nothing to keep there), and the
    // leader waits for an operator.
    let mut c = config(&[100, 0, 100]);
    c.settings.stale_after_ms = 60_000;
    let record = recorded("r1", Some("a2"));
    let mut r1 = NodeView::default();
    r1.observe(50_000, Ok(status(Role::Primary, "a2", "new", 91, 91)));
    r1.observe(56_000, Err(RedisError::Unreachable("refused".into())));
    r1.lost_data = true;
    let mut r2 = NodeView::default();
    r2.observe(60_000, Ok(status(down_replica(8_000), "b", "old", 140, 140)));
    let mut r3 = NodeView::default();
    r3.observe(60_000, Ok(status(down_replica(4_000), "c", "new", 91, 91)));
    let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    // (r3 holds fewer keys than r2 on another history: no candidate)
    assert_eq!(select_candidate(&c, &v, "r1", 60_000), None);
    let plan = decide(&c, &v, Some(&record), None, 60_000, &Planted::default());
    assert_eq!(
        plan,
        Ok(Some(Plan::Detach {
            from: "r1".into(),
            nodes: vec!["r2".into()]
        }))
    );
}

#[test]
fn a_copy_back_from_disk_beats_the_replicas_of_a_primary_this_leader_never_saw() {
    // r1 (recorded) never answered this leader; r2 follows it holding
    // 59 keys (r1 had reloaded an old snapshot before it died); r3,
    // out of reach since this leader started, answers up for 0 s with
    // 120 keys from its AOF on another history. r1's history lost data:
    // r3 is promoted rather than repointed at r2.
    let c = config(&[100, 100, 100]);
    let record = recorded("r1", Some("a"));
    let mut r1 = NodeView::default();
    r1.observe(13_600, Err(RedisError::Unreachable("refused".into())));
    let mut r2 = NodeView::default();
    r2.observe(15_700, Ok(status(down_replica(4_700), "b", "h1", 59, 59)));
    let mut r3 = NodeView::default();
    r3.observe(13_600, Err(RedisError::Unreachable("refused".into())));
    let mut back = status(Role::Primary, "c2", "h3", 0, 120);
    back.uptime_s = Some(0);
    r3.observe(15_700, Ok(back));
    let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    assert_loss_then_failover(&c, &mut v, &record, 16_700, "r1", "r3");
}

#[test]
fn a_replica_about_to_resync_from_a_restarted_claimant_is_detached_while_the_record_is_unproven() {
    // Seed 2804: r2 (recorded) never answered this leader. r1 came back
    // empty and took writes (110 keys on a new history); r3 still
    // follows it, link down, holding 120 keys of the old history: it
    // would resync them away. It is detached (nothing can be repointed
    // at r2 before r2 is seen serving).
    let c = config(&[100, 100, 100]);
    let record = recorded("r2", Some("b"));
    let mut r1 = NodeView::default();
    r1.observe(18_000, Ok(status(Role::Primary, "a2", "new", 110, 110)));
    let mut r2 = NodeView::default();
    r2.observe(18_000, Err(RedisError::Timeout));
    let mut r3 = NodeView::default();
    let follows_r1 = Role::Replica {
        primary: "10.0.0.1:6379".into(),
        link_up: false,
        link_down_ms: Some(20),
    };
    r3.observe(18_000, Ok(status(follows_r1.clone(), "c", "old", 120, 120)));
    let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    let plan = decide(&c, &v, Some(&record), None, 18_000, &Planted::default());
    assert_eq!(
        plan,
        Ok(Some(Plan::Detach {
            from: "r1".into(),
            nodes: vec!["r3".into()]
        }))
    );
    // Holding no more than the claimant (or on its history), it is left.
    let mut v2 = v.clone();
    let r3 = v2.get_mut("r3").unwrap();
    r3.observe(18_100, Ok(status(follows_r1, "c", "old", 100, 100)));
    let plan = decide(&c, &v2, Some(&record), None, 18_100, &Planted::default());
    assert_eq!(plan, Ok(None));
}

#[test]
fn a_replica_holding_only_as_many_keys_as_a_restarted_claimant_is_not_detached() {
    // Seed 2804's views (r2, recorded, never answered this leader; r1
    // came back empty and took writes, 110 keys on a new history; r3
    // still follows it, link down, on the old history), with r3 holding
    // as many keys as r1: nothing shows it holds what r1 lacks, and it is
    // left to resync; holding one more, it is detached. (Mutation
    // testing: with `mine > theirs` as `>=` in `endangered`, a replica
    // holding as many was detached too.)
    let c = config(&[100, 100, 100]);
    let record = recorded("r2", Some("b"));
    let detached = Some(Plan::Detach {
        from: "r1".into(),
        nodes: vec!["r3".into()],
    });
    for (r3_keys, expected) in [(110, None), (111, detached)] {
        let mut r1 = NodeView::default();
        r1.observe(18_000, Ok(status(Role::Primary, "a2", "new", 110, 110)));
        let mut r2 = NodeView::default();
        r2.observe(18_000, Err(RedisError::Timeout));
        let mut r3 = NodeView::default();
        r3.observe(18_000, Ok(status(down_replica(20), "c", "old", 120, r3_keys)));
        let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        let plan = decide(&c, &v, Some(&record), None, 18_000, &Planted::default());
        assert_eq!(plan, Ok(expected), "r3 holding {r3_keys} keys");
    }
}

#[test]
fn a_node_this_leader_repointed_is_never_a_shelter_for_its_new_source() {
    // Seed 49247: r1 (recorded) came back empty; the leader sheltered r3
    // at r2, then r3 stopped answering. Its last answer still showed it
    // following r1 with more keys than r2; after the repoint it is known
    // to follow r2, so r2 is not pointed back at it (a cycle, S10).
    let mut r3 = NodeView::default();
    r3.observe(19_000, Ok(status(linked("10.0.0.1:6379"), "c", "old", 150, 150)));
    r3.repointed("10.0.0.2:6379");
    r3.observe(19_100, Err(RedisError::Timeout));
    let last = r3.previous.as_ref().unwrap();
    assert_eq!(
        last.role,
        Role::Replica {
            primary: "10.0.0.2:6379".into(),
            link_up: false,
            link_down_ms: None
        }
    );
    // What it holds is unknown until it answers (it may be resyncing).
    assert_eq!((last.offset, last.keys), (0, None));
    let c = config(&[100, 100, 100]);
    let mut v = views(vec![("r3", r3)]);
    assert!(follows_any(&c, &v, "r3", &["r2".to_string()]));
    // A node seen only in an earlier term and silent now is no shelter.
    let view = v.get_mut("r3").unwrap();
    view.observe(19_200, Ok(status(linked("10.0.0.1:6379"), "c", "old", 150, 150)));
    view.observe(19_300, Err(RedisError::Timeout));
    view.earlier_term = true;
    let mut r1 = NodeView::default();
    r1.observe(19_000, Ok(status(Role::Primary, "a", "old", 150, 150)));
    r1.observe(19_300, Ok(status(Role::Primary, "a2", "new", 0, 0)));
    r1.lost_data = true;
    let mut r2 = NodeView::default();
    r2.observe(19_300, Ok(status(linked("10.0.0.1:6379"), "b", "old", 100, 100)));
    v.insert("r1".into(), r1);
    v.insert("r2".into(), r2);
    assert!(!matches!(
        shelter(&c, &v, "r1", 19_300),
        Some(Shelter::Repoint(Plan::Shelter { ref to, .. })) if to == "r3"
    ));
}

#[test]
fn a_copy_back_from_its_aof_holding_more_than_a_dead_primary_last_held_is_promoted() {
    // Seed 18763: r1 (recorded) answered holding 409 keys, then died;
    // r2 follows it in sync (409, the lag rule's candidate); r3 came
    // back from its AOF holding 420 (offset 0, claiming primary).
    // Promoting r2 would resync r3's keys away: r1's history lacks
    // them, so r1 counts as having lost data, and r3 is promoted.
    let c = config(&[100, 100, 100]);
    let record = recorded("r1", Some("a"));
    let mut r1 = NodeView::default();
    r1.observe(40_000, Ok(status(Role::Primary, "a", "h1", 409, 409)));
    r1.observe(41_000, Err(RedisError::Unreachable("refused".into())));
    let mut r2 = NodeView::default();
    r2.observe(46_000, Ok(status(down_replica(5_000), "b", "h1", 409, 409)));
    let mut r3 = NodeView::default();
    r3.observe(40_000, Err(RedisError::Unreachable("refused".into())));
    r3.observe(46_000, Ok(status(Role::Primary, "c2", "c2-new", 0, 420)));
    let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    // (r2 is no candidate either way: it holds fewer keys than r3 on
    // another history)
    assert_eq!(select_candidate(&c, &v, "r1", 46_000), None);
    assert_loss_then_failover(&c, &mut v, &record, 46_000, "r1", "r3");
    // A copy holding no more than r1 last held is no such evidence.
    let mut v = v.clone();
    v.get_mut("r1").unwrap().lost_data = false;
    v.get_mut("r3")
        .unwrap()
        .observe(46_100, Ok(status(Role::Primary, "c2", "c2-new", 0, 400)));
    note_data_loss(&c, &v, Some(&record), 46_100).apply(&mut v);
    assert!(!v["r1"].lost_data);
    // Nor is one holding more while r1 refuses arbiter's password
    // (seed 84064): r1 is up, and took writes since its last answer.
    let mut v = v.clone();
    let r1 = v.get_mut("r1").unwrap();
    r1.observe(46_200, Ok(status(Role::Primary, "a", "h1", 409, 409)));
    r1.observe(46_300, Err(RedisError::Auth("WRONGPASS".into())));
    v.get_mut("r3")
        .unwrap()
        .observe(46_300, Ok(status(Role::Primary, "c2", "c2-new", 0, 420)));
    note_data_loss(&c, &v, Some(&record), 46_300).apply(&mut v);
    assert!(!v["r1"].lost_data);
    let plan = decide(&c, &v, Some(&record), None, 46_300, &Planted::default());
    assert!(
        !matches!(plan, Ok(Some(Plan::Failover { .. } | Plan::Shelter { .. }))),
        "{plan:?}"
    );
}

#[test]
fn an_empty_node_is_never_a_shelter_and_a_node_that_lost_data_before_can_be() {
    // Seed 58366: r1 (recorded) lost its data and is down; r2 and r3
    // came back empty. Nothing is left to keep: no empty node is
    // promoted as a shelter.
    let c = config(&[100, 100, 100]);
    let r1 = came_back_empty_then_down(40_000, 43_000);
    let mut r2 = NodeView::default();
    r2.observe(43_000, Ok(status(Role::Primary, "b6", "b6-new", 0, 0)));
    let mut r3 = NodeView::default();
    r3.observe(43_000, Ok(status(Role::Primary, "c1", "c1-new", 0, 0)));
    let v = views(vec![("r1", r1), ("r2", r2.clone()), ("r3", r3)]);
    assert!(shelter(&c, &v, "r1", 43_000).is_none());
    // Seed 67686: r2 lost data before (the mark is still on it) but
    // holds 169 keys written since, the most left: it is the shelter.
    let mut v = v;
    let r2 = v.get_mut("r2").unwrap();
    r2.observe(43_100, Ok(status(Role::Primary, "b6", "b6-new", 49, 169)));
    r2.lost_data = true;
    assert!(matches!(shelter(&c, &v, "r1", 43_100), Some(Shelter::Promote(ref n)) if n == "r2"));
}

#[test]
fn a_claimant_shelter_waits_while_the_lost_primary_was_never_seen() {
    // Seed 70568: the record names r2 and notes its loss; this leader
    // never saw r2 answer (it held 153 keys, down since before the
    // leader took over). r1 came back from an RDB holding 20 keys and
    // claims primary; r3 answered once, empty. Recording r1 would
    // resync r2's 153 keys away once back: the leader waits, also once
    // r2 has been silent past stale_after_ms (seed 123154: the mark was
    // older than the 113 writes r2 took since; recorded 14 s into r2's
    // silence, the copy took r2's 133 keys away when r2 came back).
    let c = config(&[100, 100, 100]);
    let record = noted(&recorded("r2", Some("b2")));
    let mut r1 = NodeView::default();
    r1.observe(39_684, Err(RedisError::Unreachable("refused".into())));
    r1.observe(42_684, Ok(status(Role::Primary, "a3", "A3", 20, 20)));
    let mut r2 = NodeView::default();
    r2.observe(39_684, Err(RedisError::Unreachable("refused".into())));
    r2.observe(42_684, Err(RedisError::Unreachable("refused".into())));
    let mut r3 = NodeView::default();
    r3.observe(40_784, Ok(status(Role::Primary, "c2", "C2", 0, 0)));
    r3.observe(42_684, Err(RedisError::Unreachable("refused".into())));
    let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    note_data_loss(&c, &v, Some(&record), 42_684).apply(&mut v);
    assert!(v["r2"].lost_data);
    assert!(shelter(&c, &v, "r2", 42_684).is_none());
    let plan = decide(&c, &v, Some(&record), None, 42_684, &Planted::default());
    assert!(matches!(plan, Err(Blocked::NoEligibleReplica { .. })), "{plan:?}");
    let later = 39_684 + c.settings.stale_after_ms + 100;
    let st = v["r1"].status.clone().unwrap();
    v.get_mut("r1").unwrap().observe(later, Ok(st));
    v.get_mut("r2")
        .unwrap()
        .observe(later, Err(RedisError::Unreachable("refused".into())));
    assert!(shelter(&c, &v, "r2", later).is_none());
    // Once a replica of r2 answers, it stands for what r2 held.
    let r3 = NodeView {
        status: Some(status(linked("10.0.0.2:6379"), "c3", "B", 160, 160)),
        ..NodeView::default()
    };
    v.insert("r3".into(), r3);
    assert!(matches!(shelter(&c, &v, "r2", later), Some(Shelter::Promote(ref n)) if n == "r3"));
}

#[test]
fn a_priority_zero_copy_holding_more_than_a_candidate_on_its_history_is_detached() {
    // r1 (recorded) came back empty. Both replicas still follow it on
    // the old history, links down: r2 holds 220 keys at priority 0, r3
    // is 5 bytes behind it with 215 (within max_lag_bytes: r3 is the
    // candidate). Promoting r3 would end with r2 repointed at it and 5
    // keys resynced away: both are detached from r1 instead, and the
    // leader waits for an operator. With as many keys on r3 (the writes
    // it missed overwrote keys), nothing is lost and r3 is promoted.
    // (Mutation testing, shard 0/8: with the guard of the NotPromotable
    // arm in Round::replace forced false, r3 was promoted anyway.)
    let c = config(&[100, 0, 100]);
    let record = recorded("r1", Some("a"));
    for r3_keys in [215, 220] {
        let mut r1 = NodeView::default();
        r1.observe(10_000, Ok(status(Role::Primary, "a", "old", 220, 220)));
        r1.observe(10_285, Ok(status(Role::Primary, "a2", "a2-new", 0, 0)));
        let mut r2 = NodeView::default();
        r2.observe(10_285, Ok(status(down_replica(300), "b", "old", 220, 220)));
        let mut r3 = NodeView::default();
        r3.observe(10_285, Ok(status(down_replica(300), "c", "old", 215, r3_keys)));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        note_data_loss(&c, &v, Some(&record), 10_285).apply(&mut v);
        assert!(v["r1"].lost_data);
        assert_eq!(select_candidate(&c, &v, "r1", 10_285).as_deref(), Some("r3"));
        let plan = decide(&c, &v, Some(&record), None, 10_285, &Planted::default());
        let expected = if r3_keys < 220 {
            Plan::Detach {
                from: "r1".into(),
                nodes: vec!["r2".into(), "r3".into()],
            }
        } else {
            Plan::Failover {
                from: "r1".into(),
                to: "r3".into(),
            }
        };
        assert_eq!(plan, Ok(Some(expected)), "r3 holds {r3_keys}");
    }
}

#[test]
fn a_silent_node_seen_too_long_ago_or_marked_lost_is_no_shelter() {
    // r1 (recorded) came back empty; r2 follows it holding 40 keys; r3
    // last answered following it with 50, and is silent. When r3 was last
    // seen past the staleness limit, or is itself marked as having lost
    // its data, its last answer no longer stands for what it holds: r2,
    // the best copy that does, is promoted rather than repointed at r3.
    // (Mutation testing: with `||` turned into `&&` in the first filter
    // of `Sheltering::most_data`, both counted with their last answer and
    // r2 was pointed at r3.)
    let c = config(&[100, 100, 100]);
    let now = 60_000;
    let stale_after = c.settings.stale_after_ms;
    let mut r1 = NodeView::default();
    r1.observe(0, Ok(status(Role::Primary, "a", "old", 500, 50)));
    r1.observe(now, Ok(status(Role::Primary, "a2", "new", 0, 0)));
    r1.lost_data = true;
    let mut r2 = NodeView::default();
    r2.observe(now, Ok(status(down_replica(1_000), "b", "old", 400, 40)));
    let silent_since = |since: Millis, lost: bool| {
        let mut r3 = NodeView::default();
        r3.observe(since - 500, Ok(status(down_replica(100), "c", "old", 500, 50)));
        r3.observe(since, Err(RedisError::Timeout));
        r3.lost_data = lost;
        views(vec![("r1", r1.clone()), ("r2", r2.clone()), ("r3", r3)])
    };
    // (silent within the limit, not marked: r3 is where the data is)
    let v = silent_since(now - stale_after, false);
    assert!(matches!(shelter(&c, &v, "r1", now), Some(Shelter::Repoint(Plan::Shelter { ref to, .. })) if to == "r3"));
    for (since, lost) in [(now - stale_after - 1, false), (now - 1_000, true)] {
        let v = silent_since(since, lost);
        assert!(
            matches!(shelter(&c, &v, "r1", now), Some(Shelter::Promote(ref n)) if n == "r2"),
            "r3 silent since {since}, marked lost: {lost}"
        );
    }
}

#[test]
fn a_claimant_holding_as_many_keys_as_a_silent_node_last_held_is_a_shelter() {
    // As in seed 33036 (r1, recorded, lost its data and is down; r2 came
    // back from an RDB claiming primary; r3, silent within the staleness
    // limit, last answered in an earlier term): r2 is waited on only
    // while r3 last held more than it; holding as many, r2 risks nothing
    // r3 has, and is promoted. (Mutation testing: with `silent > k` as
    // `>=` in `Sheltering::doubtful`, as many kept the group waiting.)
    let c = config(&[100, 100, 100]);
    for (r3_keys, promoted) in [(21, false), (20, true)] {
        let v = back_from_rdb_beside_a_silent_node(r3_keys);
        let found = shelter(&c, &v, "r1", 21_200);
        assert_eq!(
            matches!(found, Some(Shelter::Promote(ref n)) if n == "r2"),
            promoted,
            "r3 last held {r3_keys} keys"
        );
        if !promoted {
            assert!(found.is_none(), "waits for r3");
        }
    }
}

#[test]
fn a_replica_of_the_best_copy_is_not_detached_with_it() {
    // r1 (recorded) lost its data and is down; r2, priority 0, follows it
    // holding 140 keys, the most left: it is detached from r1 (it would
    // resync them away). r3 replicates from r2, not from r1: it keeps
    // the 140 keys through r2 and is left as it is. (Mutation testing:
    // with `&&` turned into `||` in `detachable`, every replica of
    // another node was detached once the best copy followed r1.)
    use super::super::shelter::detachable;
    let c = config(&[100, 0, 100]);
    let r1 = came_back_empty_then_down(50_000, 56_000);
    let mut r2 = NodeView::default();
    r2.observe(60_000, Ok(status(down_replica(8_000), "b", "old", 140, 140)));
    let mut r3 = NodeView::default();
    r3.observe(60_000, Ok(status(linked("10.0.0.2:6379"), "c", "old", 140, 140)));
    let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    assert_eq!(detachable(&c, &v, "r1", "r2"), vec!["r2".to_string()]);
}

/// Seed 33036's views at 21 200: r1, the recorded primary, came back
/// empty (run "a2") at 16 000 and has refused connections since 16 700,
/// marked as having lost its data; r2, refused at 16 800, is back from an old RDB,
/// up for 0 s, claiming primary with 20 keys on a new history; r3 last
/// answered at 12 000, in an earlier term, following r1 (link down)
/// with `r3_keys` keys, and has timed out since 12 900 (within
/// `stale_after_ms`).
fn back_from_rdb_beside_a_silent_node(r3_keys: u64) -> BTreeMap<String, NodeView> {
    let r1 = came_back_empty_then_down(16_000, 16_700);
    let mut r2 = NodeView::default();
    r2.observe(16_800, Err(RedisError::Unreachable("refused".into())));
    let mut back = status(Role::Primary, "b2", "b2-new", 20, 20);
    back.uptime_s = Some(0);
    r2.observe(21_200, Ok(back));
    let mut r3 = NodeView::default();
    r3.observe(12_000, Ok(status(down_replica(100), "c", "a1", r3_keys, r3_keys)));
    r3.observe(12_900, Err(RedisError::Timeout));
    r3.earlier_term = true;
    views(vec![("r1", r1), ("r2", r2), ("r3", r3)])
}

/// r1, the recorded primary, as a leader sees it: back empty at
/// `empty_at` (a new run, a new history), then refusing connections at
/// `down_at`, marked as having lost its data.
fn came_back_empty_then_down(empty_at: u64, down_at: u64) -> NodeView {
    let mut r1 = NodeView::default();
    r1.observe(empty_at, Ok(status(Role::Primary, "a2", "new", 0, 0)));
    r1.observe(down_at, Err(RedisError::Unreachable("refused".into())));
    r1.lost_data = true;
    r1
}
