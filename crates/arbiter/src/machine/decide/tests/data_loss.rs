//! Unit tests of the data-loss marks (S7) and their settling.

use super::*;
use crate::types::Epoch;

#[test]
fn a_restart_that_reloaded_its_data_is_not_data_loss_an_empty_one_is() {
    let c = config(&[100, 100, 100]);
    let record = GroupRecord {
        epoch: Epoch(5),
        primary: "r1".into(),
        run_id: None,
        lost_data: false,
    };
    let replica = |run: &str| {
        let mut v = NodeView::default();
        let role = Role::Replica {
            primary: "10.0.0.1:6379".into(),
            link_up: false,
            link_down_ms: Some(100),
        };
        v.observe(1000, Ok(status(role, run, "old", 6421, 1000)));
        v
    };
    for (keys, lost) in [(1000, false), (0, true), (999, true)] {
        // AOF: a new run id and history, offset 0, and `keys` keys.
        let mut r1 = NodeView::default();
        r1.observe(900, Ok(status(Role::Primary, "a", "old", 6421, 1000)));
        r1.observe(1000, Ok(status(Role::Primary, "a2", "new", 0, keys)));
        let mut v = views(vec![("r1", r1), ("r2", replica("b")), ("r3", replica("c"))]);
        note_data_loss(&c, &v, Some(&record), 1000).apply(&mut v);
        assert_eq!(v["r1"].lost_data, lost, "{keys} keys");
        // A new leader that never saw r1 before judges from the replicas.
        v.get_mut("r1").unwrap().previous = None;
        v.get_mut("r1").unwrap().lost_data = false;
        note_data_loss(&c, &v, Some(&record), 1000).apply(&mut v);
        assert_eq!(v["r1"].lost_data, lost, "{keys} keys, new leader");
    }
}

#[test]
fn a_loss_is_recorded_and_a_successor_inherits_it() {
    // Seed 20071: r3 (recorded) lost data; r2, priority 0, holds more
    // and was detached to keep it. The leader that knows notes the loss
    // in the record; a successor that never saw it repoints r2 at r3
    // without the mark, and waits for an operator with it.
    let c = config(&[100, 0, 100]);
    let record = recorded("r3", Some("c"));
    let mut r1 = NodeView::default();
    r1.observe(58_000, Ok(status(linked("10.0.0.3:6379"), "a", "C", 225, 225)));
    let mut r2 = NodeView::default();
    r2.observe(58_000, Ok(status(Role::Primary, "b", "B", 428, 428)));
    let mut r3 = NodeView::default();
    r3.observe(58_000, Ok(status(Role::Primary, "c", "C", 225, 225)));
    let fresh = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    let mut knows = fresh.clone();
    knows.get_mut("r3").unwrap().lost_data = true;
    let plan = decide(&c, &knows, Some(&record), None, 58_000, &Planted::default());
    assert_eq!(plan, Ok(Some(Plan::NoteLoss { primary: "r3".into() })));
    let noted = plan
        .unwrap()
        .unwrap()
        .record(Epoch(7), Some(&record), &knows)
        .expect("a record");
    assert!(noted.lost_data && noted.primary == "r3");
    // (once recorded, the leader that knows just waits)
    let plan = decide(&c, &knows, Some(&noted), None, 58_100, &Planted::default());
    assert!(matches!(plan, Err(Blocked::LastCopyNotPromotable { .. })), "{plan:?}");
    // A successor without the mark would resync r2's data away...
    let mut v = fresh.clone();
    note_data_loss(&c, &v, Some(&record), 58_000).apply(&mut v);
    let plan = decide(&c, &v, Some(&record), None, 58_000, &Planted::default());
    assert_eq!(
        plan,
        Ok(Some(Plan::Repoint {
            nodes: vec!["r2".into()]
        }))
    );
    // ... with it, it waits for an operator too.
    let mut v = fresh;
    note_data_loss(&c, &v, Some(&noted), 58_000).apply(&mut v);
    assert!(v["r3"].lost_data);
    let plan = decide(&c, &v, Some(&noted), None, 58_000, &Planted::default());
    assert_eq!(
        plan,
        Err(Blocked::LastCopyNotPromotable {
            primary: "r3".into(),
            node: "r2".into()
        })
    );
    // A plan that records another primary ends the mark.
    let failover = Plan::Failover {
        from: "r3".into(),
        to: "r1".into(),
    };
    assert!(!failover.record(Epoch(8), Some(&noted), &v).expect("a record").lost_data);
}

#[test]
fn up_for_less_than_the_round_since_the_first_miss_is_a_restart_while_unseen() {
    // Seed 50556: missed at 1 000, answered at 2 000 up for 0 s: it
    // started after 1 000 (a poll at or after 2 000 saw under 1 s of
    // uptime). Up for 1 s it may have run since before the miss.
    for (up, restarted) in [(0, true), (1, false)] {
        let mut v = NodeView::default();
        v.observe(1_000, Err(RedisError::Timeout));
        let mut st = status(Role::Primary, "a", "A", 10, 10);
        st.uptime_s = Some(up);
        v.observe(2_000, Ok(st));
        assert_eq!(v.restarted_while_unseen(), restarted, "up {up} s");
    }
}

#[test]
fn a_copy_from_disk_on_the_primarys_own_history_holding_more_is_no_loss() {
    // r2, a replica of r1, restarted from its RDB (which keeps r1's
    // replication id) holding 60 keys; r1, which never restarted, holds 50
    // since clients deleted 10. On r1's own history fewer keys are deletes
    // r2 has not replayed yet, not a loss: r1 is not marked. (Mutation
    // testing, shard 1/8: with `||` for `&&` in more_on_other_history, a
    // copy on the same history holding more counted, and r1 was marked as
    // having lost data.)
    let c = config(&[100, 100, 100]);
    let mut r1 = NodeView::default();
    r1.observe(1_000, Ok(status(Role::Primary, "a", "A", 500, 60)));
    r1.observe(2_000, Ok(status(Role::Primary, "a", "A", 600, 50)));
    let mut r2 = NodeView::default();
    r2.observe(1_000, Ok(status(linked("10.0.0.1:6379"), "b", "A", 500, 60)));
    r2.observe(2_000, Ok(status(down_replica(0), "b2", "A", 500, 60)));
    assert!(r2.back_from_disk());
    let mut r3 = NodeView::default();
    r3.observe(2_000, Ok(status(linked("10.0.0.1:6379"), "c", "A", 600, 50)));
    let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    note_data_loss(&c, &v, Some(&recorded("r1", Some("a"))), 2_000).apply(&mut v);
    assert!(!v["r1"].lost_data);
}

#[test]
fn a_copy_back_from_disk_stays_one_while_it_claims_primary_under_that_run() {
    // A restart that claims primary brought it back from disk; its next
    // answers under the same run, taking writes, are the same copy from
    // disk (one more poll, or a failed one in between, does not erase the
    // evidence), until it answers as a replica. (Mutation testing: with
    // `still ||` turned into `still &&` in `back_from_disk`, the second
    // answer read as no longer back from disk.)
    let mut v = NodeView::default();
    v.observe(1_000, Ok(status(Role::Primary, "a", "A", 500, 50)));
    v.observe(2_000, Ok(status(Role::Primary, "b", "B", 40, 40)));
    assert!(v.back_from_disk(), "restarted");
    v.observe(3_000, Ok(status(Role::Primary, "b", "B", 60, 41)));
    assert!(v.back_from_disk(), "the same run, still claiming primary");
    v.observe(4_000, Err(RedisError::Timeout));
    assert!(!v.back_from_disk(), "a node that does not answer is no evidence");
    v.observe(5_000, Ok(status(Role::Primary, "b", "B", 70, 42)));
    assert!(v.back_from_disk(), "a failed poll in between does not erase it");
    v.observe(6_000, Ok(status(linked("10.0.0.1:6379"), "b", "C", 70, 42)));
    assert!(!v.back_from_disk(), "a replica now");
}

#[test]
fn each_sign_of_a_reload_alone_makes_a_copy_from_disk_that_stays_one_under_its_run() {
    // Either sign that a node claiming primary reloaded what it holds is
    // enough on its own, and the evidence outlives the answer that showed
    // it: a primary first seen at offset 0 holding keys (untouched since
    // its reload), or one first seen after an outage, up for less time
    // than the outage (it restarted out of reach), is still a copy from
    // disk when it answers again under that run, taking writes.
    // (Mutation testing: with the second `||` of `fresh` in
    // `NodeView::observe` turned into `&&`, each sign alone was forgotten
    // at the next answer.)
    let mut untouched = NodeView::default();
    untouched.observe(1_000, Ok(status(Role::Primary, "a", "A", 0, 50)));
    assert!(untouched.back_from_disk(), "offset 0 holding keys");
    untouched.observe(2_000, Ok(status(Role::Primary, "a", "A", 60, 51)));
    assert!(untouched.back_from_disk(), "the same run, taking writes since");

    let mut unseen = NodeView::default();
    unseen.observe(1_000, Err(RedisError::Timeout));
    let mut back = status(Role::Primary, "b", "B", 40, 40);
    back.uptime_s = Some(2);
    unseen.observe(10_000, Ok(back));
    assert!(unseen.back_from_disk(), "started after the first unanswered poll");
    unseen.observe(11_000, Ok(status(Role::Primary, "b", "B", 60, 41)));
    assert!(unseen.back_from_disk(), "the same run, taking writes since");
}

#[test]
fn a_copy_from_disk_this_leader_repointed_is_no_longer_one() {
    // A primary seen back from disk that this leader then pointed at
    // another node (REPLICAOF answered OK) follows that node until its
    // next answer says otherwise: no longer a copy from disk claiming
    // primary, though its run id is the one it reloaded under.
    // (Mutation testing: with `&&` turned into `||` in `back_from_disk`,
    // the run id alone kept it one.)
    let mut v = NodeView::default();
    v.observe(1_000, Ok(status(Role::Primary, "a", "A", 0, 50)));
    assert!(v.back_from_disk());
    v.repointed("10.0.0.2:6379");
    assert!(!v.back_from_disk());
}

#[test]
fn a_replica_that_restarted_out_of_reach_is_a_copy_from_disk_too() {
    // r1 (recorded, answering, never restarted) holds 40 keys on history
    // "h"; r2 follows it. r3, out of reach since this leader's first poll,
    // answers for the first time as a replica of r2 (link down, not
    // resynced yet) holding 60 keys on an older history, up for 0 s: it
    // restarted while out of reach, and what it holds it reloaded from
    // disk (nodes restart as replicas too), not writes an old primary
    // took in a split brain. r1's history lacks them: r1 is marked. Up
    // for 30 s, r3 may have run all along, and r1 is not. (Mutation
    // testing: with the last `||` of `NodeView::back_from_disk` as `&&`,
    // a restart while out of reach counted only for a primary at offset
    // 0 holding keys, and r1 was not marked.)
    let c = config(&[100, 100, 100]);
    let record = recorded("r1", Some("a"));
    for (uptime, lost) in [(0, true), (30, false)] {
        let mut r1 = NodeView::default();
        r1.observe(2_000, Ok(status(Role::Primary, "a", "h", 1_000, 40)));
        let mut r2 = NodeView::default();
        r2.observe(2_000, Ok(status(linked("10.0.0.1:6379"), "b", "h", 1_000, 40)));
        let mut r3 = NodeView::default();
        r3.observe(1_000, Err(RedisError::Timeout));
        let follows_r2 = Role::Replica {
            primary: "10.0.0.2:6379".into(),
            link_up: false,
            link_down_ms: Some(500),
        };
        let mut back = status(follows_r2, "c2", "old", 700, 60);
        back.uptime_s = Some(uptime);
        r3.observe(2_000, Ok(back));
        assert_eq!(r3.back_from_disk(), lost, "up for {uptime} s");
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        note_data_loss(&c, &v, Some(&record), 2_000).apply(&mut v);
        assert_eq!(v["r1"].lost_data, lost, "r3 up for {uptime} s");
    }
}

#[test]
fn a_refused_password_does_not_end_the_outage_a_restart_is_judged_by() {
    // Seed 38485: r2, never seen answering by this leader (unreachable,
    // then refusing the password, then unreachable again), answers
    // claiming primary from its RDB (offset 120, 120 keys), up for 2 s:
    // it restarted after this leader first failed to reach it, so it is
    // a copy from disk, holding more than r3 (recorded, 59 keys on
    // another history): r3's history lacks it, and r2 is not repointed.
    let c = config(&[100, 100, 100]);
    let record = recorded("r3", Some("c"));
    let mut r1 = NodeView::default();
    r1.observe(43_700, Ok(status(linked("10.0.0.3:6379"), "a", "C", 40, 59)));
    let mut r2 = NodeView::default();
    r2.observe(38_000, Err(RedisError::Unreachable("reset".into())));
    r2.observe(40_000, Err(RedisError::Auth("WRONGPASS".into())));
    r2.observe(42_500, Err(RedisError::Unreachable("reset".into())));
    let mut back = status(Role::Primary, "b2", "B2", 120, 120);
    back.uptime_s = Some(2);
    r2.observe(43_700, Ok(back));
    assert!(r2.back_from_disk());
    let mut r3 = NodeView::default();
    r3.observe(43_700, Ok(status(Role::Primary, "c", "C", 40, 59)));
    let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    note_data_loss(&c, &v, Some(&record), 43_700).apply(&mut v);
    assert!(v["r3"].lost_data);
    let plan = decide(&c, &v, Some(&record), None, 43_700, &Planted::default());
    assert!(
        !matches!(plan, Ok(Some(Plan::Repoint { ref nodes })) if nodes.contains(&"r2".to_string())),
        "{plan:?}"
    );
}

#[test]
fn a_node_never_seen_that_restarted_out_of_reach_with_more_keys_is_the_data_left() {
    // r2 was promoted under the run it still has and holds 76 keys (its
    // history began at an empty restart this leader never saw). r1, out
    // of reach since this leader started, answers for the first time
    // holding 202 keys on another history, up for 0 s: it restarted
    // from its AOF while out of reach, so it is the data left, and is
    // promoted. Up for 30 s it ran all along behind a partition: an old
    // primary of a split brain (its offset moved with the writes it
    // took), demoted.
    let c = config(&[100, 100, 100]);
    let record = recorded("r2", Some("b"));
    for (uptime, lost) in [(0, true), (30, false)] {
        let mut r1 = NodeView::default();
        r1.observe(41_000, Err(RedisError::Unreachable("refused".into())));
        // (one that ran on took writes: its offset moved)
        let offset = if lost { 0 } else { 250 };
        let mut back = status(Role::Primary, "a1", "A", offset, 202);
        back.uptime_s = Some(uptime);
        r1.observe(60_400, Ok(back));
        let mut r2 = NodeView::default();
        r2.observe(60_400, Ok(status(Role::Primary, "b", "B", 76, 76)));
        let mut r3 = NodeView::default();
        r3.observe(60_400, Ok(status(linked("10.0.0.2:6379"), "c", "B", 76, 76)));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        note_data_loss(&c, &v, Some(&record), 60_400).apply(&mut v);
        assert_eq!(v["r2"].lost_data, lost, "up for {uptime} s");
        let plan = decide(&c, &v, Some(&record), None, 60_400, &Planted::default());
        let expected = if lost {
            Plan::Failover {
                from: "r2".into(),
                to: "r1".into(),
            }
        } else {
            Plan::Repoint {
                nodes: vec!["r1".into()],
            }
        };
        assert_eq!(plan, Ok(Some(expected)), "up for {uptime} s");
    }
}

#[test]
fn a_replica_unseen_past_the_staleness_limit_is_no_evidence_against_the_primary() {
    // r3 was just promoted (233 keys); r1 follows it with 227. r2 last
    // answered 11 s ago (stale_after 10 s) as a replica of r3 on r3's
    // older history with 247 keys: too old to judge r3 by (it made a
    // leader flap between r1 and r3). 5 s ago it still counts.
    let c = config(&[100, 100, 100]);
    let record = recorded("r3", Some("c"));
    for (unseen_for, lost) in [(11_000, false), (5_000, true)] {
        let now = 40_000;
        let mut r1 = NodeView::default();
        r1.observe(now, Ok(status(linked("10.0.0.3:6379"), "a", "r1h", 227, 227)));
        let mut r2 = NodeView::default();
        r2.observe(0, Ok(status(linked("10.0.0.3:6379"), "b", "old", 247, 247)));
        r2.observe(now - unseen_for, Err(RedisError::Timeout));
        let mut r3 = NodeView::default();
        r3.observe(now, Ok(status(Role::Primary, "c", "new", 233, 233)));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        note_data_loss(&c, &v, Some(&record), now).apply(&mut v);
        assert_eq!(v["r3"].lost_data, lost, "r2 unseen for {unseen_for} ms");
    }
}

#[test]
fn a_follower_on_an_older_history_holding_more_shows_an_unseen_primary_lost_data() {
    // Every instance was away. r1 (recorded, never seen by this leader)
    // died 70 s ago with r3 in sync, came back from an old snapshot,
    // took writes with r2 resyncing from it, and died again 36 s ago.
    // r2 (the freshest link) holds 54 keys on r1's new history; r3
    // holds 140 on the old one: r1 lost data, and r3, the best copy
    // left, is promoted although the lag rule finds nobody eligible.
    let mut c = config(&[100, 100, 100]);
    c.settings.max_lag_bytes = 50;
    c.settings.stale_after_ms = 10_000;
    let record = recorded("r1", Some("a"));
    let mut r1 = NodeView::default();
    r1.observe(70_000, Err(RedisError::Unreachable("refused".into())));
    let mut r2 = NodeView::default();
    r2.observe(80_000, Ok(status(down_replica(36_600), "b", "new", 54, 54)));
    let mut r3 = NodeView::default();
    r3.observe(80_000, Ok(status(down_replica(70_600), "c", "old", 140, 140)));
    let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    assert_eq!(select_candidate(&c, &v, "r1", 80_000), None);
    assert_loss_then_failover(&c, &mut v, &record, 80_000, "r1", "r3");
}

#[test]
fn a_node_at_offset_zero_holding_keys_is_a_copy_from_disk_whatever_its_uptime() {
    // Every instance was away for long. r1 (recorded, never seen) is
    // down; r2 follows it with 25 keys; r3 claims primary at offset 0
    // with 240 keys, up for 33 s (it restarted from its AOF before the
    // instances came back, so its uptime tells nothing). Offset 0 with
    // keys: it took no write since it reloaded them, it is no old
    // primary that ran on in a split brain. It is the data left.
    let c = config(&[100, 100, 100]);
    let record = recorded("r1", Some("a"));
    let mut r1 = NodeView::default();
    r1.observe(40_000, Err(RedisError::Unreachable("refused".into())));
    let mut r2 = NodeView::default();
    r2.observe(46_000, Ok(status(down_replica(18_000), "b", "h2", 25, 25)));
    let mut r3 = NodeView::default();
    let mut back = status(Role::Primary, "c2", "h3", 0, 240);
    back.uptime_s = Some(33);
    r3.observe(46_000, Ok(back));
    let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    assert!(v["r3"].untouched_reload());
    assert_loss_then_failover(&c, &mut v, &record, 46_000, "r1", "r3");
}

#[test]
fn a_replica_resynced_to_less_shows_its_source_lost_data_and_carries_it_when_promoted() {
    // Seed 3296: r1 (recorded) never answered this leader; r3 followed
    // it holding 120 keys, then resynced from it to 6 keys on a new
    // history: r1 came back from less, so it lost data.
    let c = config(&[100, 100, 100]);
    let record = recorded("r1", Some("a"));
    let mut r1 = NodeView::default();
    r1.observe(44_000, Err(RedisError::Timeout));
    let mut r2 = NodeView::default();
    r2.observe(44_000, Err(RedisError::Timeout));
    let mut r3 = NodeView::default();
    r3.observe(44_000, Ok(status(down_replica(40_000), "c", "old", 120, 120)));
    r3.observe(46_400, Ok(status(linked("10.0.0.1:6379"), "c", "new", 6, 6)));
    assert_eq!(r3.shrank_from, Some(120));
    let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    note_data_loss(&c, &v, Some(&record), 46_400).apply(&mut v);
    assert!(v["r1"].lost_data, "r1 lost data");
    // r3, promoted since (it kept its run and the mark), holds 76 keys
    // when r2 answers with 120 on the old history: r3's history lacks
    // them, r3 counts as having lost data, and r2 (which follows r1,
    // a replica of r3 now) is promoted rather than resynced away.
    let record = recorded("r3", Some("c"));
    let r3 = v.get_mut("r3").unwrap();
    r3.observe(52_700, Ok(status(Role::Primary, "c", "c-promoted", 76, 76)));
    assert_eq!(r3.shrank_from, Some(120));
    let r1 = v.get_mut("r1").unwrap();
    r1.lost_data = false;
    r1.observe(52_700, Ok(status(linked("10.0.0.3:6379"), "a2", "c-promoted", 76, 76)));
    let r2 = v.get_mut("r2").unwrap();
    r2.observe(52_700, Ok(status(down_replica(47_000), "b", "old", 120, 120)));
    assert_loss_then_failover(&c, &mut v, &record, 52_700, "r3", "r2");
    // Once it holds as much again, the mark is gone.
    let r3 = v.get_mut("r3").unwrap();
    r3.observe(53_000, Ok(status(Role::Primary, "c", "c-promoted", 130, 130)));
    assert_eq!(r3.shrank_from, None);
}

#[test]
fn a_recorded_loss_settles_once_every_node_answers_holding_no_more() {
    // Seed 99070: r1 (recorded, the loss noted) took writes for seconds
    // after its replicas resynced from it; it holds 168 keys, r2 0, r3
    // 20 (back from an old RDB). What r1 lost is gone from every copy:
    // the mark is cleared (in the view and, once published, in the
    // record) instead of treating the best copy as lost.
    let c = config(&[100, 100, 100]);
    let record = noted(&recorded("r1", Some("a3")));
    let mut r1 = NodeView::default();
    r1.observe(20_554, Ok(status(Role::Primary, "a3", "A3", 168, 168)));
    let mut r2 = NodeView::default();
    r2.observe(20_554, Ok(status(Role::Primary, "b2", "B2", 0, 0)));
    let mut r3 = NodeView::default();
    r3.observe(20_554, Ok(status(Role::Primary, "c3", "C3", 20, 20)));
    let fresh = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    let mut v = fresh.clone();
    note_data_loss(&c, &v, Some(&record), 20_554).apply(&mut v);
    assert!(!v["r1"].lost_data);
    // Settled, the others follow r1 again (the record keeps the mark
    // while plans run)...
    let plan = decide(&c, &v, Some(&record), None, 20_554, &Planted::default());
    assert!(matches!(plan, Ok(Some(Plan::Repoint { .. }))), "{plan:?}");
    // ... and in a round with nothing else to do, the record's mark is
    // cleared.
    for n in ["r2", "r3"] {
        let mut st = v[n].status.clone().unwrap();
        st.role = linked("10.0.0.1:6379");
        v.get_mut(n).unwrap().observe(20_654, Ok(st));
    }
    note_data_loss(&c, &v, Some(&record), 20_654).apply(&mut v);
    let plan = decide(&c, &v, Some(&record), None, 20_654, &Planted::default());
    assert_eq!(plan, Ok(Some(Plan::SettleLoss { primary: "r1".into() })));
    let settled = plan
        .unwrap()
        .unwrap()
        .record(Epoch(7), Some(&record), &v)
        .expect("a record");
    assert!(!settled.lost_data && settled.primary == "r1");
    assert_eq!(
        decide(&c, &v, Some(&settled), None, 20_754, &Planted::default()),
        Ok(None)
    );
    // Not while a node holds more keys than r1, nor while one does not
    // answer (it may).
    for (node, answer) in [
        ("r3", Ok(status(Role::Primary, "c3", "C3", 200, 200))),
        ("r3", Err(RedisError::Unreachable("refused".into()))),
        ("r2", Err(RedisError::Auth("WRONGPASS".into()))),
    ] {
        let mut v = fresh.clone();
        v.get_mut(node).unwrap().observe(20_654, answer.clone());
        note_data_loss(&c, &v, Some(&record), 20_654).apply(&mut v);
        assert!(v["r1"].lost_data, "{node} {answer:?}");
        assert!(!loss_settled(&c, &v, "r1"), "{node} {answer:?}");
    }
}

#[test]
fn a_claimant_on_a_history_the_primary_did_not_fork_from_holding_more_is_the_data_left() {
    // Seed 92386: r3 (recorded) was promoted from a replica that had
    // resynced from r1 after r1 came back empty: it holds 63 keys, and
    // its replid2 names r1's new history. r2, up for 7 s (since before
    // this leader's first poll of it), claims primary with 140 keys
    // reloaded from its RDB, on a history of its own (its replid2 names
    // r1's old one). No old primary of a split brain (that one reports
    // the replid r3's replid2 names): r3 is marked, and r2, the data
    // left, promoted. On the history r3 forked from, the same claimant
    // is an old primary that ran on: demoted.
    let c = config(&[100, 100, 100]);
    let record = recorded("r3", Some("c"));
    for (claimant, lost) in [("B1", true), ("A-new", false)] {
        let mut r1 = NodeView::default();
        r1.observe(40_990, Ok(status(linked("10.0.0.3:6379"), "a", "C", 63, 63)));
        let mut r2 = NodeView::default();
        r2.observe(37_990, Err(RedisError::Unreachable("refused".into())));
        let mut back = status(Role::Primary, "b1", claimant, 140, 140);
        back.uptime_s = Some(7);
        back.replid2 = Some("A-old".into());
        r2.observe(40_990, Ok(back));
        let mut r3 = NodeView::default();
        let mut primary = status(Role::Primary, "c", "C", 63, 63);
        primary.replid2 = Some("A-new".into());
        r3.observe(40_990, Ok(primary));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        assert!(!v["r2"].back_from_disk(), "its uptime tells nothing");
        note_data_loss(&c, &v, Some(&record), 40_990).apply(&mut v);
        assert_eq!(v["r3"].lost_data, lost, "{claimant}");
        let plan = decide(&c, &v, Some(&record), None, 40_990, &Planted::default());
        let expected = if lost {
            Plan::Failover {
                from: "r3".into(),
                to: "r2".into(),
            }
        } else {
            Plan::Repoint {
                nodes: vec!["r2".into()],
            }
        };
        assert_eq!(plan, Ok(Some(expected)), "{claimant}");
    }
}

#[test]
fn a_primary_that_reloaded_fewer_keys_than_it_held_lost_data_whatever_its_offset() {
    // Seed 90080: r2 (recorded) held 354 keys at offset 10; it restarts
    // from an RDB holding 344, and the reload rebases its offset to 21.
    // r3, repointed at r2 while empty, resynced 354 keys from it since,
    // but this leader has not seen it answer since: nothing tells it
    // r3 is ahead, and r2 lost data all the same. Holding as many keys
    // as before, it did not.
    let c = config(&[100, 100, 100]);
    let record = recorded("r2", Some("b1"));
    for (keys, lost) in [(344, true), (354, false)] {
        let mut r1 = NodeView::default();
        r1.observe(50_000, Err(RedisError::Auth("WRONGPASS".into())));
        let mut r2 = NodeView::default();
        r2.observe(49_000, Ok(status(Role::Primary, "b1", "B1", 10, 354)));
        let mut back = status(Role::Primary, "b2", "B2", 21, keys);
        back.replid2 = Some("A".into());
        r2.observe(50_000, Ok(back));
        let mut r3 = NodeView::default();
        r3.observe(49_000, Ok(status(Role::Primary, "c", "C", 0, 0)));
        r3.observe(50_000, Err(RedisError::Timeout));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        note_data_loss(&c, &v, Some(&record), 50_000).apply(&mut v);
        assert_eq!(v["r2"].lost_data, lost, "{keys} keys");
    }
}

#[test]
fn a_restart_to_a_smaller_offset_with_unknown_sizes_is_data_loss() {
    // Recordings made before nodes reported their sizes: r1 comes back
    // with a new run id at a smaller offset, no replica is ahead of it,
    // and no size says it reloaded its data: lost (mutation testing
    // found nothing checking `NodeView::restarted_empty`).
    let c = config(&[100, 100, 100]);
    let record = recorded("r1", None);
    let sizeless = |role: Role, run: &str, offset: u64| NodeStatus {
        keys: None,
        ..status(role, run, "h", offset, 0)
    };
    let mut r1 = NodeView::default();
    r1.observe(900, Ok(sizeless(Role::Primary, "a", 6421)));
    r1.observe(1000, Ok(sizeless(Role::Primary, "a2", 200)));
    let behind = |run: &str| {
        let mut v = NodeView::default();
        v.observe(1000, Ok(sizeless(down_replica(100), run, 100)));
        v
    };
    let mut v = views(vec![("r1", r1), ("r2", behind("b")), ("r3", behind("c"))]);
    note_data_loss(&c, &v, Some(&record), 1000).apply(&mut v);
    assert!(v["r1"].lost_data);
    // The same restart at a larger offset is no evidence of a loss.
    let mut r1 = NodeView::default();
    r1.observe(900, Ok(sizeless(Role::Primary, "a", 6421)));
    r1.observe(1000, Ok(sizeless(Role::Primary, "a2", 7000)));
    let mut v = views(vec![("r1", r1), ("r2", behind("b")), ("r3", behind("c"))]);
    note_data_loss(&c, &v, Some(&record), 1000).apply(&mut v);
    assert!(!v["r1"].lost_data);
}

#[test]
fn a_replica_level_with_a_restarted_primary_is_no_evidence_of_a_loss() {
    // r1 (recorded) restarted on its history at the offset it had, sizes
    // unknown; r2 follows it at the same offset: nothing is ahead of r1,
    // no loss. One byte further along, r2 holds what r1 no longer has
    // (mutation testing: `>=` for `>` went unseen).
    let c = config(&[100, 100, 100]);
    let record = recorded("r1", None);
    let sizeless = |role: Role, run: &str, offset: u64| NodeStatus {
        keys: None,
        ..status(role, run, "h", offset, 0)
    };
    for (r2_offset, lost) in [(500, false), (501, true)] {
        let mut r1 = NodeView::default();
        r1.observe(900, Ok(sizeless(Role::Primary, "a", 500)));
        r1.observe(1000, Ok(sizeless(Role::Primary, "a2", 500)));
        let mut r2 = NodeView::default();
        r2.observe(1000, Ok(sizeless(down_replica(100), "b", r2_offset)));
        let mut v = views(vec![("r1", r1), ("r2", r2)]);
        note_data_loss(&c, &v, Some(&record), 1000).apply(&mut v);
        assert_eq!(v["r1"].lost_data, lost, "r2 at offset {r2_offset}");
    }
}

#[test]
fn an_older_follower_shows_an_unseen_primary_lost_data_only_holding_more_on_another_history() {
    // r1 (recorded, never seen by this leader) is down; r2 has the
    // freshest link to it, holding 54 keys on history "new"; r3's link
    // went down earlier. r3 holding more on an older history marks r1;
    // holding more on r1's latest history (it is merely ahead of r2), or
    // as many on an older one, does not. (Mutation testing: with the
    // second `&&` of `older_holds_more` in `unseen_primary_lost_data`
    // turned into `||`, more keys alone marked r1; with `>` as `>=`, as
    // many did.)
    let c = config(&[100, 100, 100]);
    let record = recorded("r1", Some("a"));
    for (r3_history, r3_keys, lost) in [("old", 55, true), ("new", 60, false), ("old", 54, false)] {
        let mut r1 = NodeView::default();
        r1.observe(70_000, Err(RedisError::Unreachable("refused".into())));
        let mut r2 = NodeView::default();
        r2.observe(80_000, Ok(status(down_replica(36_600), "b", "new", 54, 54)));
        let mut r3 = NodeView::default();
        r3.observe(
            80_000,
            Ok(status(down_replica(70_600), "c", r3_history, r3_keys, r3_keys)),
        );
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        note_data_loss(&c, &v, Some(&record), 80_000).apply(&mut v);
        assert_eq!(v["r1"].lost_data, lost, "r3 holding {r3_keys} keys on {r3_history}");
    }
}

#[test]
fn a_replica_on_another_history_holding_more_keys_at_a_lower_offset_is_ahead_of_its_primary() {
    // r1 (recorded, answering under the run this leader first saw; the
    // record names no run id) holds 40 keys at offset 1000 on history
    // "B". r2, following it, holds 60 keys at offset 500 on history "A":
    // offsets of two histories do not compare, the key counts do, and r2
    // holds what r1 lost. (Mutation testing: with `k > mine` as
    // `k == mine` in `ahead_of_primary`, only a larger offset or as many
    // keys counted as ahead, and r1 was not marked.)
    let c = config(&[100, 100, 100]);
    let record = recorded("r1", None);
    for (r2_keys, lost) in [(60, true), (30, false)] {
        let mut r1 = NodeView::default();
        r1.observe(1_000, Ok(status(Role::Primary, "a", "B", 1_000, 40)));
        let mut r2 = NodeView::default();
        r2.observe(1_000, Ok(status(linked("10.0.0.1:6379"), "b", "A", 500, r2_keys)));
        let mut r3 = NodeView::default();
        r3.observe(1_000, Ok(status(linked("10.0.0.1:6379"), "c", "B", 1_000, 40)));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        note_data_loss(&c, &v, Some(&record), 1_000).apply(&mut v);
        assert_eq!(v["r1"].lost_data, lost, "r2 holding {r2_keys} keys");
    }
}

#[test]
fn a_node_other_than_the_recorded_primary_that_restarted_sheds_its_loss_mark() {
    // r2, marked as having lost data (it was the primary then), restarted
    // since and claims primary with what it reloaded (10 keys, another
    // history): what it holds now is what it reloaded, not what it lost
    // before, and its mark clears. r1, the recorded primary, keeps
    // holding the data. (Mutation testing: with `recorded != name` as
    // `==` in `mark_data_loss`, only the recorded primary's mark cleared
    // on a restart, and r2 stayed marked.)
    let c = config(&[100, 100, 100]);
    let record = recorded("r1", Some("a"));
    let mut r1 = NodeView::default();
    r1.observe(1_000, Ok(status(Role::Primary, "a", "A", 500, 50)));
    let mut r2 = NodeView::default();
    r2.observe(1_000, Ok(status(Role::Primary, "b", "B", 40, 40)));
    r2.observe(2_000, Ok(status(Role::Primary, "b2", "C", 10, 10)));
    r2.lost_data = true;
    r2.lost_data_at = 500;
    let mut r3 = NodeView::default();
    r3.observe(2_000, Ok(status(linked("10.0.0.1:6379"), "c", "A", 500, 50)));
    let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    note_data_loss(&c, &v, Some(&record), 2_000).apply(&mut v);
    assert!(!v["r2"].lost_data, "restarted since: its mark clears");
    assert!(!v["r1"].lost_data);
}

#[test]
fn a_copy_from_disk_holding_only_as_much_as_the_followers_shows_no_loss_of_an_unseen_primary() {
    // As above (r1 never seen, r2 follows it with 25 keys, r3 back from
    // its AOF at offset 0 on another history): r3 holding more than
    // every follower marks r1; holding as many does not (mutation
    // testing: `>=` for `>` went unseen).
    let c = config(&[100, 100, 100]);
    let record = recorded("r1", Some("a"));
    for (r3_keys, lost) in [(26, true), (25, false)] {
        let mut r1 = NodeView::default();
        r1.observe(40_000, Err(RedisError::Unreachable("refused".into())));
        let mut r2 = NodeView::default();
        r2.observe(46_000, Ok(status(down_replica(18_000), "b", "h2", 25, 25)));
        let mut r3 = NodeView::default();
        r3.observe(46_000, Ok(status(Role::Primary, "c2", "h3", 0, r3_keys)));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        note_data_loss(&c, &v, Some(&record), 46_000).apply(&mut v);
        assert_eq!(v["r1"].lost_data, lost, "r3 holding {r3_keys} keys");
    }
}

#[test]
fn a_node_first_seen_empty_at_offset_zero_that_then_took_writes_is_no_copy_from_disk() {
    // r2 claims primary at offset 0 holding nothing (a fresh node, not a
    // reload: there was nothing to reload), then takes writes under the
    // same run, 10 keys on its own history: a primary taking writes of
    // its own (a split brain), no copy from disk, and no evidence that r1
    // (recorded, 5 keys) lost data. Offset 0 holding keys would have been
    // one.
    // (Mutation testing: with `k > 0` as `k >= 0` in
    // `NodeView::untouched_reload`, the empty answer counted as a reload
    // that the later answers under its run carried on, and r1 was marked.)
    let c = config(&[100, 100, 100]);
    let record = recorded("r1", None);
    for (first_keys, from_disk) in [(0, false), (3, true)] {
        let mut r1 = NodeView::default();
        r1.observe(2_000, Ok(status(Role::Primary, "a", "A", 5, 5)));
        let mut r2 = NodeView::default();
        r2.observe(1_000, Ok(status(Role::Primary, "b", "B", 0, first_keys)));
        assert_eq!(r2.untouched_reload(), from_disk, "offset 0 holding {first_keys} keys");
        r2.observe(2_000, Ok(status(Role::Primary, "b", "B", 10, 10)));
        assert_eq!(r2.back_from_disk(), from_disk, "first seen holding {first_keys} keys");
        let mut v = views(vec![("r1", r1), ("r2", r2)]);
        note_data_loss(&c, &v, Some(&record), 2_000).apply(&mut v);
        assert_eq!(v["r1"].lost_data, from_disk, "first seen holding {first_keys} keys");
    }
}

#[test]
fn a_loss_is_timed_when_first_marked_and_again_at_a_new_restart() {
    // A successor leader that never saw r1 (recorded, its loss noted in
    // the record) answer before finds it empty, behind r2 on the old
    // history: the mark takes the round's time, whatever an earlier,
    // cleared mark left. A later round that finds the mark still due
    // keeps its time; a new restart, empty again, renews it.
    // (Mutation testing: with `!m.0 || renew` as `&&` in
    // `LossMarks::mark`, a first mark without a restart kept the stale
    // time, and a new restart did not renew it.)
    let c = config(&[100, 100, 100]);
    let record = noted(&recorded("r1", Some("a2")));
    let mut r1 = NodeView::default();
    r1.observe(2_000, Ok(status(Role::Primary, "a2", "B", 0, 0)));
    r1.lost_data_at = 300;
    let mut r2 = NodeView::default();
    r2.observe(2_000, Ok(status(down_replica(1_000), "b", "A", 500, 50)));
    let mut v = views(vec![("r1", r1), ("r2", r2)]);
    note_data_loss(&c, &v, Some(&record), 2_000).apply(&mut v);
    assert_eq!((v["r1"].lost_data, v["r1"].lost_data_at), (true, 2_000), "first marked");
    let r1 = v.get_mut("r1").unwrap();
    r1.observe(3_000, Ok(status(Role::Primary, "a2", "B", 0, 0)));
    note_data_loss(&c, &v, Some(&record), 3_000).apply(&mut v);
    assert_eq!(
        (v["r1"].lost_data, v["r1"].lost_data_at),
        (true, 2_000),
        "no new restart"
    );
    let r1 = v.get_mut("r1").unwrap();
    r1.observe(4_000, Ok(status(Role::Primary, "a3", "C", 0, 0)));
    note_data_loss(&c, &v, Some(&record), 4_000).apply(&mut v);
    assert_eq!(
        (v["r1"].lost_data, v["r1"].lost_data_at),
        (true, 4_000),
        "restarted again"
    );
}

#[test]
fn a_copy_on_another_history_holding_only_as_many_keys_is_no_evidence_of_a_loss() {
    // r1 (recorded, answering, never restarted) holds 40 keys at offset
    // 1000; r2 follows it one write further along (offset 1010, 41 keys:
    // its poll came after a write r1's did not see). r3 is back from its
    // AOF at offset 0 on another history: holding as many keys as r1
    // (40), it shows nothing r1 lacks, and r1 is not marked; holding one
    // more, it is. (Mutation testing: with `k > mine` as `k >= mine` in
    // `more_on_other_history`, r3's equal count made r1 suspect, and
    // r2's 41 keys then failed the "kept" check.)
    for (r3_keys, lost) in [(40, false), (41, true)] {
        let r3 = status(Role::Primary, "c2", "aof", 0, r3_keys);
        assert_eq!(r1_marked_beside(r3), lost, "r3 holding {r3_keys} keys");
    }
}

/// Whether r1 (recorded, answering, never restarted: 40 keys at offset
/// 1000 on history "h"), followed by r2 one write further along (offset
/// 1010, 41 keys), is marked as having lost data beside r3 answering
/// `r3`.
fn r1_marked_beside(r3: NodeStatus) -> bool {
    let c = config(&[100, 100, 100]);
    let record = recorded("r1", None);
    let mut r1 = NodeView::default();
    r1.observe(1_000, Ok(status(Role::Primary, "a", "h", 1_000, 40)));
    let mut r2 = NodeView::default();
    r2.observe(1_000, Ok(status(linked("10.0.0.1:6379"), "b", "h", 1_010, 41)));
    let mut r3_view = NodeView::default();
    r3_view.observe(1_000, Ok(r3));
    let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3_view)]);
    note_data_loss(&c, &v, Some(&record), 1_000).apply(&mut v);
    v["r1"].lost_data
}

#[test]
fn a_replica_on_another_history_holding_only_as_many_keys_is_not_ahead_of_its_primary() {
    // r1 (recorded, answering, never restarted) holds 40 keys at offset
    // 1000 on history "h"; r2 follows it one write further along (offset
    // 1010, 41 keys). r3 names r1 its primary too but still reports an
    // older history at offset 500 (it has not resynced yet): holding as
    // many keys as r1 (40), it is not ahead of r1, and r1 is not marked;
    // holding one more, it is. (Mutation testing: with `k > mine` as
    // `k >= mine` in `ahead_of_primary`, r3's equal count made r1
    // suspect, and r2's 41 keys then failed the "kept" check.)
    for (r3_keys, lost) in [(40, false), (41, true)] {
        let r3 = status(linked("10.0.0.1:6379"), "c", "old", 500, r3_keys);
        assert_eq!(r1_marked_beside(r3), lost, "r3 holding {r3_keys} keys");
    }
}

#[test]
fn a_copy_unseen_for_longer_than_the_staleness_limit_is_no_evidence_of_a_loss() {
    // r1, recorded under run "a", answers under run "a2" (it restarted
    // since it was recorded) holding 40 keys on history "h"; r2 follows
    // it. r3 was last seen claiming primary on another history holding
    // 60 keys, and has not answered since 2000: unseen for no longer
    // than the staleness limit, what it held is data r1 may have lost,
    // and r1 is marked; unseen for longer, its last answer tells nothing
    // current, and r1 is not. (Mutation testing: with `!lost &&
    // !unseen_longer_than` as `||` in `more_on_other_history`, a node
    // not marked counted however long it was unseen.)
    let c = config(&[100, 100, 100]);
    let stale_after = c.settings.stale_after_ms;
    let record = recorded("r1", Some("a"));
    for (now, lost) in [(2_000 + stale_after, true), (2_001 + stale_after, false)] {
        let mut r1 = NodeView::default();
        r1.observe(now, Ok(status(Role::Primary, "a2", "h", 1_000, 40)));
        let mut r2 = NodeView::default();
        r2.observe(now, Ok(status(linked("10.0.0.1:6379"), "b", "h", 1_000, 40)));
        let mut r3 = NodeView::default();
        r3.observe(1_000, Ok(status(Role::Primary, "c", "old", 600, 60)));
        r3.observe(2_000, Err(RedisError::Timeout));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        note_data_loss(&c, &v, Some(&record), now).apply(&mut v);
        assert_eq!(v["r1"].lost_data, lost, "r3 unseen for {} ms", now - 2_000);
    }
}

#[test]
fn a_replica_of_an_earlier_primary_that_kept_its_data_is_no_evidence_of_a_loss() {
    // As in seed 33036, later: r2 is recorded (30 keys, never restarted);
    // r1, the primary before it, is down; r3 answers, still following r1
    // with 240 keys on r1's history. Marked as having lost its data, r1
    // held them before its loss: r2's history lacks them, and r2 is
    // marked. Not marked, r1 is no node that lost data: what its replica
    // holds on another history (writes r1 took in a split brain, say) is
    // no evidence against r2, which is not marked. (Mutation testing:
    // with `n.name != primary && marks.lost(..)` as `||` in
    // `held_elsewhere`, a replica of any node but the primary counted as
    // following one that lost data, and r2 was marked.)
    let c = config(&[100, 100, 100]);
    let record = recorded("r2", Some("b2"));
    for r1_lost in [true, false] {
        let mut r1 = NodeView::default();
        r1.observe(26_000, Err(RedisError::Unreachable("refused".into())));
        r1.lost_data = r1_lost;
        let mut r2 = NodeView::default();
        r2.observe(27_000, Ok(status(Role::Primary, "b2", "b2-new", 30, 30)));
        let mut r3 = NodeView::default();
        r3.observe(27_000, Ok(status(down_replica(14_000), "c", "a1", 240, 240)));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        note_data_loss(&c, &v, Some(&record), 27_000).apply(&mut v);
        assert_eq!(v["r2"].lost_data, r1_lost, "r1 marked: {r1_lost}");
    }
}
