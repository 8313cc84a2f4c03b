//! Unit tests of eligibility and the candidate chosen (S5).

use super::*;

#[test]
fn selection_prefers_priority_then_offset_then_run_id() {
    let c = config(&[100, 100, 100, 100]);
    let v = views(vec![
        ("r2", replica(50, "b", None)),
        ("r3", replica(90, "c", None)),
        ("r4", replica(90, "a", None)),
    ]);
    assert_eq!(select_candidate(&c, &v, "r1", 0).as_deref(), Some("r4"));
    let c = config(&[100, 10, 100, 100]);
    assert_eq!(select_candidate(&c, &v, "r1", 0).as_deref(), Some("r2"));
}

#[test]
fn priority_zero_stale_and_lagging_replicas_are_not_eligible() {
    let mut c = config(&[100, 0, 100, 100]);
    c.settings.max_lag_bytes = 10;
    let v = views(vec![
        ("r2", replica(1000, "a", None)),         // priority 0
        ("r3", replica(1000, "b", Some(60_000))), // link down too long
        ("r4", replica(500, "c", None)),          // lags by 500
    ]);
    assert_eq!(select_candidate(&c, &v, "r1", 0), None);
    c.settings.allow_data_loss = true;
    assert_eq!(select_candidate(&c, &v, "r1", 0).as_deref(), Some("r3"));
}

#[test]
fn a_leader_arriving_after_the_primary_died_counts_its_down_time_from_the_replicas() {
    // Every instance was away: r1 died 12 s ago, past stale_after (10 s);
    // both replicas lost their link then, holding the same data. A new
    // leader that never saw r1 answer still promotes one of them.
    let c = config(&[100, 100, 100]);
    let mut r1 = NodeView::default();
    r1.observe(100_000, Err(RedisError::Unreachable("refused".into())));
    let mut v = views(vec![("r1", r1)]);
    for (name, run) in [("r2", "b"), ("r3", "c")] {
        let mut view = NodeView::default();
        view.observe(100_000, Ok(status(down_replica(12_000), run, "h", 900, 90)));
        v.insert(name.into(), view);
    }
    assert_eq!(primary_down_for(&c, &v, "r1", 101_000), 12_000);
    assert_eq!(select_candidate(&c, &v, "r1", 101_000).as_deref(), Some("r2"));
    // A leader that saw r1 serve until it lost it 1 s ago does not:
    // r1 may have taken writes while its replicas were cut off.
    let seen = v.get_mut("r1").unwrap();
    seen.previous = Some(status(Role::Primary, "a", "h", 1000, 100));
    assert_eq!(primary_down_for(&c, &v, "r1", 101_000), 1000);
    assert_eq!(select_candidate(&c, &v, "r1", 101_000), None);
    // Nor one that never saw r3: r3 may have stayed linked longer.
    let mut v2 = v.clone();
    v2.get_mut("r1").unwrap().previous = None;
    v2.remove("r3");
    assert_eq!(primary_down_for(&c, &v2, "r1", 101_000), 1000);
    assert_eq!(select_candidate(&c, &v2, "r1", 101_000), None);
    // A replica of another node tells nothing of r1: r3 chained behind
    // r2, its link up or down for 500 ms, leaves r2's 12 s (mutation
    // testing: a link to any node counted as a link to r1).
    for role in [
        linked("10.0.0.2:6379"),
        Role::Replica {
            primary: "10.0.0.2:6379".into(),
            link_up: false,
            link_down_ms: Some(500),
        },
    ] {
        let mut v3 = v.clone();
        v3.get_mut("r1").unwrap().previous = None;
        let mut r3 = NodeView::default();
        r3.observe(100_000, Ok(status(role, "c", "h", 900, 90)));
        v3.insert("r3".into(), r3);
        assert_eq!(primary_down_for(&c, &v3, "r1", 101_000), 12_000);
    }
}

#[test]
fn data_exists_by_the_nodes_seen_lately_not_by_older_answers() {
    // r1 (failed) last answered empty. r2 answered with keys: data exists
    // while that answer is fresh, not once r2 has been silent past
    // stale_after_ms (its keys may be of another, older history).
    let stale_after = Settings::default().stale_after_ms;
    let mut r1 = NodeView::default();
    r1.observe(0, Ok(status(Role::Primary, "a", "h", 0, 0)));
    let mut r2 = NodeView::default();
    r2.observe(0, Ok(status(down_replica(0), "b", "h", 500, 50)));
    let v = views(vec![("r1", r1.clone()), ("r2", r2.clone())]);
    assert!(data_exists(&v, "r1", 0, stale_after));
    r2.observe(1000, Err(RedisError::Unreachable("refused".into())));
    r1.observe(1000, Ok(status(Role::Primary, "a", "h", 0, 0)));
    let v = views(vec![("r1", r1), ("r2", r2)]);
    assert!(data_exists(&v, "r1", 1000 + stale_after, stale_after));
    assert!(!data_exists(&v, "r1", 1001 + stale_after, stale_after));
}

#[test]
fn data_exists_while_a_node_that_kept_its_data_showed_keys_in_its_answer_before() {
    // r1 (failed) and r2 answer empty now; r2 held 50 keys at its answer
    // before (it resynced from r1, which came back empty). r2 did not
    // lose data itself, so its answer before counts: data exists. Marked
    // as having lost data, its earlier keys are gone with the loss, and
    // only its latest answer counts. (Mutation testing: with the `!`
    // before `v.lost_data` deleted in `data_exists`, only the answers
    // before of nodes that lost data counted.)
    let stale_after = Settings::default().stale_after_ms;
    let mut r1 = NodeView::default();
    r1.observe(1000, Ok(status(Role::Primary, "a2", "h2", 0, 0)));
    let mut r2 = NodeView::default();
    r2.observe(0, Ok(status(linked("10.0.0.1:6379"), "b", "h", 500, 50)));
    r2.observe(1000, Ok(status(linked("10.0.0.1:6379"), "b", "h2", 0, 0)));
    let v = views(vec![("r1", r1.clone()), ("r2", r2.clone())]);
    assert!(data_exists(&v, "r1", 1000, stale_after));
    r2.lost_data = true;
    let v = views(vec![("r1", r1), ("r2", r2)]);
    assert!(!data_exists(&v, "r1", 1000, stale_after));
}

#[test]
fn data_exists_while_a_node_that_lost_data_holds_keys_written_since() {
    // r1 (failed) last answered empty. r2 lost its data (it is marked),
    // and has taken 20 keys of writes since: what it holds now exists,
    // though neither r2's mark nor r1's empty answer says so. (Mutation
    // testing: with the second `||` of `data_exists` as `&&`, a node's
    // latest answer counted only when `failed` showed keys too.)
    let stale_after = Settings::default().stale_after_ms;
    let mut r1 = NodeView::default();
    r1.observe(1000, Ok(status(Role::Primary, "a", "h", 0, 0)));
    let mut r2 = NodeView::default();
    r2.observe(1000, Ok(status(Role::Primary, "b", "h2", 20, 20)));
    r2.lost_data = true;
    let v = views(vec![("r1", r1.clone()), ("r2", r2.clone())]);
    assert!(data_exists(&v, "r1", 1000, stale_after));
    r2.observe(2000, Ok(status(Role::Primary, "b", "h2", 20, 0)));
    let v = views(vec![("r1", r1), ("r2", r2)]);
    assert!(!data_exists(&v, "r1", 2000, stale_after), "r2 flushed them");
}

#[test]
fn an_empty_replica_is_not_promoted_while_a_node_refuses_the_password() {
    // r1 (recorded) is down; r3 is empty; r2 is up but refuses arbiter's
    // password: it may hold the data, so r3 is not eligible.
    let c = config(&[100, 100, 100]);
    let mut r1 = NodeView::default();
    r1.observe(0, Err(RedisError::Unreachable("refused".into())));
    let mut r2 = NodeView::default();
    r2.observe(0, Err(RedisError::Auth("WRONGPASS".into())));
    let mut r3 = NodeView::default();
    r3.observe(0, Ok(status(down_replica(100), "c", "h", 0, 0)));
    let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    let why = eligibility(&c, &v, "r1", 10_000);
    assert_eq!(
        why[1],
        (
            "r3".into(),
            Some("empty while r2 refuses arbiter's password (it may hold data)".into())
        )
    );
    assert_eq!(select_candidate(&c, &v, "r1", 10_000), None);
}

#[test]
fn a_leader_that_never_saw_the_primary_waits_for_a_node_it_never_reached() {
    // Seed 44570: every instance was away; the new leader never saw r1
    // (recorded) serving; r3 follows it (60 keys); r2 has not answered
    // since the leader took over. r3 is not promoted until r2 answers
    // or has been silent past stale_after_ms.
    let c = config(&[100, 100, 100]);
    let mut r1 = NodeView::default();
    r1.observe(53_000, Err(RedisError::Unreachable("refused".into())));
    let mut r2 = NodeView::default();
    r2.observe(53_000, Err(RedisError::Timeout));
    let mut r3 = NodeView::default();
    r3.observe(60_000, Ok(status(down_replica(1_000), "c", "A", 60, 60)));
    let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    assert_eq!(
        eligibility(&c, &v, "r1", 60_000)[1].1,
        Some("r2 has not answered since this instance took over, and it never saw r1 serving: r2 may hold more".into())
    );
    let later = 53_000 + c.settings.stale_after_ms + 1;
    let st = v["r3"].status.clone().unwrap();
    v.get_mut("r3").unwrap().observe(later, Ok(st));
    assert_eq!(eligibility(&c, &v, "r1", later)[1].1, None);
    // A leader that saw r1 serving knows its replicas: no wait.
    let r1 = v.get_mut("r1").unwrap();
    *r1 = NodeView::default();
    r1.observe(52_000, Ok(status(Role::Primary, "a", "A", 60, 60)));
    r1.observe(53_000, Err(RedisError::Unreachable("refused".into())));
    assert_eq!(eligibility(&c, &v, "r1", 60_000)[1].1, None);
}

#[test]
fn a_replica_of_another_node_is_not_eligible() {
    // Seed 67385: r2 follows r3, a node claiming primary against the
    // record, not r1 (recorded, down): it holds r3's history.
    let c = config(&[100, 100, 100]);
    let mut r1 = NodeView::default();
    r1.observe(40_000, Ok(status(Role::Primary, "a", "A", 300, 300)));
    r1.observe(43_000, Err(RedisError::Unreachable("refused".into())));
    let mut r2 = NodeView::default();
    r2.observe(43_000, Ok(status(linked("10.0.0.3:6379"), "b", "C", 56, 56)));
    let mut r3 = NodeView::default();
    r3.observe(43_000, Ok(status(Role::Primary, "c", "C", 56, 56)));
    let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    assert_eq!(
        eligibility(&c, &v, "r1", 43_000)[0].1,
        Some("follows 10.0.0.3:6379, not r1".into())
    );
}

#[test]
fn an_empty_replica_waits_for_a_node_that_does_not_answer() {
    // r1 (recorded) is down; r2 is empty; r3 may hold data: it answered
    // before but its latest poll timed out, or (seed 87871) it never
    // answered this leader since it took over (cut off from it). r2 is
    // not eligible until r3 answers or has been silent past
    // stale_after_ms.
    let c = config(&[100, 100, 100]);
    for (seen, why) in [
        (true, "empty while r3, seen before, does not answer (it may hold data)"),
        (
            false,
            "empty while r3 has not answered since this instance took over (it may hold data)",
        ),
    ] {
        let mut r1 = NodeView::default();
        r1.observe(0, Err(RedisError::Unreachable("refused".into())));
        let mut r2 = NodeView::default();
        r2.observe(10_000, Ok(status(down_replica(100), "b", "h", 0, 0)));
        let mut r3 = NodeView::default();
        if seen {
            r3.observe(9_000, Ok(status(down_replica(100), "c", "h", 0, 0)));
        }
        r3.observe(9_500, Err(RedisError::Timeout));
        let mut v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        assert_eq!(eligibility(&c, &v, "r1", 10_000)[0].1, Some(why.into()));
        let later = 9_500 + c.settings.stale_after_ms + 1;
        v.get_mut("r2")
            .unwrap()
            .observe(later, Ok(status(down_replica(100), "b", "h", 0, 0)));
        assert_eq!(eligibility(&c, &v, "r1", later)[0].1, None, "seen before: {seen}");
    }
}

#[test]
fn lag_is_measured_within_a_history_and_by_keys_across_histories() {
    // Seed 21741: r1 came back from its AOF on a new history (offsets
    // from 0 over 140 keys) and r2 followed it to 179 keys, offset 39;
    // r3 still holds the old history's 140 keys at offset 140. r2 has
    // everything: its offset does not compare with r3's.
    let c = config(&[100, 100, 100]);
    let mut r1 = NodeView::default();
    r1.observe(60_000, Ok(status(Role::Primary, "a1", "a1-h", 39, 179)));
    r1.observe(64_000, Err(RedisError::Unreachable("refused".into())));
    let mut r2 = NodeView::default();
    r2.observe(64_000, Ok(status(down_replica(4_000), "b", "a1-h", 39, 179)));
    let mut r3 = NodeView::default();
    r3.observe(64_000, Ok(status(down_replica(4_000), "c", "a0-h", 140, 140)));
    let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    let why = eligibility(&c, &v, "r1", 64_000);
    assert_eq!(why[0].1, None, "{why:?}");
    // r3 is behind r2 by keys (and behind r1's last answer).
    assert_eq!(
        why[1].1,
        Some("holds 140 keys, fewer than r1 (179) on another replication history".into())
    );
    // Within one history offsets still count: r2 lagging r1's last
    // answer by more than max_lag_bytes is not eligible.
    let mut v = v;
    let lagging = status(down_replica(4_000), "b", "a1-h", 39 - 30, 179);
    v.get_mut("r2").unwrap().observe(64_100, Ok(lagging));
    let mut c = c;
    c.settings.max_lag_bytes = 20;
    assert_eq!(
        eligibility(&c, &v, "r1", 64_100)[0].1,
        Some("lags 30 bytes behind the best data left (max_lag_bytes 20)".into())
    );
}

#[test]
fn a_replica_holding_as_many_keys_as_a_copy_on_another_history_is_eligible() {
    // r1 died; r2, in sync with it when it did, holds its 100 keys; r3
    // came back from its AOF claiming primary (a new history) with as
    // many. By count r2 misses nothing r3 holds: it is promoted. Only a
    // copy holding more keys makes it ineligible. (Mutation testing,
    // shard 0/8: with `>=` for `>` in Judge::more_keys_elsewhere, r2 was
    // held back for r3's equal count and the leader blocked.)
    let c = config(&[100, 100, 100]);
    let record = recorded("r1", Some("a"));
    for (r3_keys, why) in [
        (100, None),
        (
            101,
            Some("holds 100 keys, fewer than r3 (101) on another replication history".to_string()),
        ),
    ] {
        let mut r1 = NodeView::default();
        r1.observe(60_000, Ok(status(Role::Primary, "a", "old", 100, 100)));
        r1.observe(61_000, Err(RedisError::Unreachable("refused".into())));
        let mut r2 = NodeView::default();
        r2.observe(64_500, Ok(status(down_replica(3_500), "b", "old", 100, 100)));
        let mut r3 = NodeView::default();
        r3.observe(64_500, Ok(status(Role::Primary, "c2", "aof", 0, r3_keys)));
        let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        assert_eq!(eligibility(&c, &v, "r1", 64_500)[0].1, why, "r3 holds {r3_keys}");
        if why.is_none() {
            let plan = decide(&c, &v, Some(&record), None, 64_500, &Planted::default());
            let expected = Plan::Failover {
                from: "r1".into(),
                to: "r2".into(),
            };
            assert_eq!(plan, Ok(Some(expected)));
        }
    }
}

#[test]
fn a_replica_whose_link_never_came_up_is_told_apart_from_one_long_down() {
    // Redis reports `master_link_down_since_seconds:-1` until a replica's
    // first link (the live world reads it as `u64::MAX`): how old its data
    // is cannot be told, and the reason says so rather than "down
    // 18446744073709551615 ms". (Mutation testing, shard 1/8: with the
    // guard `*d < u64::MAX` in Judge::why forced true, the reason gave
    // that number.)
    let c = config(&[100, 100, 100]);
    let mut r1 = NodeView::default();
    r1.observe(0, Ok(status(Role::Primary, "a", "A", 60, 60)));
    r1.observe(1_000, Err(RedisError::Unreachable("refused".into())));
    let mut r2 = NodeView::default();
    r2.observe(10_000, Ok(status(down_replica(u64::MAX), "b", "A", 60, 60)));
    let mut r3 = NodeView::default();
    r3.observe(10_000, Ok(status(down_replica(600_000), "c", "A", 60, 60)));
    let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
    let why = eligibility(&c, &v, "r1", 10_000);
    assert_eq!(
        why[0],
        (
            "r2".into(),
            Some("stale: its link has not been up since it (re)started, so how old its data is cannot be told".into())
        )
    );
    let r3 = why[1].1.as_deref().unwrap_or_default();
    assert!(r3.starts_with("stale: its link has been down 600000 ms"), "{r3}");
}

#[test]
fn lag_is_not_measured_against_a_node_that_lost_its_data_nor_one_unseen_too_long() {
    // r1 (failed) had reached offset 1000 on history "h" before it came
    // back empty (marked as having lost data); r3, silent past the
    // staleness limit, last answered at offset 1000 on "h" too. Neither
    // offset still exists: r2, at 500 on "h", lags nothing that is left
    // and is eligible with max_lag_bytes 100. Unmarked, r1's offset
    // counts, and r2 lags it. (Mutation testing: with `&&` as `||` in
    // `Judge::kept`, a node counted unless it had both lost data and
    // gone silent, and r2 lagged each of them.)
    let mut c = config(&[100, 100, 100]);
    c.settings.max_lag_bytes = 100;
    let stale_after = c.settings.stale_after_ms;
    let now = 1_000 + stale_after + 1;
    let mut r1 = NodeView::default();
    r1.observe(1_000, Ok(status(Role::Primary, "a", "h", 1_000, 100)));
    r1.observe(now, Ok(status(Role::Primary, "a2", "h2", 0, 0)));
    r1.lost_data = true;
    let mut r2 = NodeView::default();
    r2.observe(now, Ok(status(down_replica(500), "b", "h", 500, 50)));
    let mut r3 = NodeView::default();
    r3.observe(0, Ok(status(down_replica(500), "c", "h", 1_000, 100)));
    r3.observe(1_000, Err(RedisError::Unreachable("refused".into())));
    for (r1_lost, r3_silent, why) in [
        (true, true, None),
        (
            false,
            true,
            Some("lags 500 bytes behind the best data left (max_lag_bytes 100)".to_string()),
        ),
        (
            true,
            false,
            Some("lags 500 bytes behind the best data left (max_lag_bytes 100)".to_string()),
        ),
    ] {
        let mut r1 = r1.clone();
        r1.lost_data = r1_lost;
        let mut r3 = r3.clone();
        if !r3_silent {
            r3.down_since = Some(now - stale_after);
        }
        assert_eq!(r3.unseen_longer_than(now, stale_after), r3_silent);
        let v = views(vec![("r1", r1), ("r2", r2.clone()), ("r3", r3)]);
        let why2 = eligibility(&c, &v, "r1", now);
        let r2_why = why2.iter().find(|(n, _)| n == "r2").map(|(_, w)| w.clone());
        assert_eq!(r2_why, Some(why), "r1 lost: {r1_lost}, r3 silent: {r3_silent}");
    }
}
