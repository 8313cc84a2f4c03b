//! Unit tests of the decisions.

use super::*;
use std::collections::BTreeMap;

use super::candidates::{follows_any, select_candidate};
use super::shelter::{Shelter, shelter};
use crate::machine::Planted;
use crate::types::{GroupConfig, GroupRecord, Millis, NodeStatus, RedisError, RedisNode, Role, Settings};

fn config(priorities: &[u32]) -> GroupConfig {
    GroupConfig {
        nodes: priorities
            .iter()
            .enumerate()
            .map(|(i, p)| RedisNode {
                name: format!("r{}", i + 1),
                addr: format!("10.0.0.{}:6379", i + 1),
                priority: *p,
            })
            .collect(),
        settings: Settings::default(),
    }
}

fn replica(offset: u64, run_id: &str, link_down_ms: Option<Millis>) -> NodeView {
    NodeView {
        status: Some(NodeStatus {
            role: Role::Replica {
                primary: "10.0.0.1:6379".into(),
                link_up: link_down_ms.is_none(),
                link_down_ms,
            },
            run_id: run_id.into(),
            replid: "x".into(),
            replid2: None,
            offset,
            keys: None,
            uptime_s: None,
        }),
        ..NodeView::default()
    }
}

/// The record naming `primary` under epoch 5, recorded under `run_id`.
fn recorded(primary: &str, run_id: Option<&str>) -> GroupRecord {
    GroupRecord {
        epoch: 5,
        primary: primary.into(),
        run_id: run_id.map(str::to_string),
        lost_data: false,
    }
}

/// `note_data_loss` marks `from` as having lost data, and `decide`
/// fails over from it to `to`.
fn assert_loss_then_failover(
    c: &GroupConfig,
    v: &mut BTreeMap<String, NodeView>,
    record: &GroupRecord,
    now: Millis,
    from: &str,
    to: &str,
) {
    note_data_loss(c, v, Some(record), now).apply(v);
    assert!(v[from].lost_data, "{from} lost data");
    let plan = decide(c, v, Some(record), None, now, &Planted::default());
    let expected = Plan::Failover {
        from: from.into(),
        to: to.into(),
    };
    assert_eq!(plan, Ok(Some(expected)));
}

/// `record` as the leader leaves it once it noted the primary's loss
/// ([`Plan::NoteLoss`]).
fn noted(record: &GroupRecord) -> GroupRecord {
    GroupRecord {
        lost_data: true,
        ..record.clone()
    }
}

fn views(list: Vec<(&str, NodeView)>) -> BTreeMap<String, NodeView> {
    list.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

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
        epoch: 5,
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
        epoch: 5,
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
        epoch: 5,
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

fn status(role: Role, run_id: &str, replid: &str, offset: u64, keys: u64) -> NodeStatus {
    NodeStatus {
        role,
        run_id: run_id.into(),
        replid: replid.into(),
        replid2: None,
        offset,
        keys: Some(keys),
        uptime_s: None,
    }
}

/// A replica of `primary` with its link up.
fn linked(primary: &str) -> Role {
    Role::Replica {
        primary: primary.into(),
        link_up: true,
        link_down_ms: None,
    }
}

fn down_replica(link_down_ms: u64) -> Role {
    Role::Replica {
        primary: "10.0.0.1:6379".into(),
        link_up: false,
        link_down_ms: Some(link_down_ms),
    }
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
}

#[test]
fn a_restart_that_reloaded_its_data_is_not_data_loss_an_empty_one_is() {
    let c = config(&[100, 100, 100]);
    let record = GroupRecord {
        epoch: 5,
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
        epoch: 5,
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
        epoch: 5,
        primary: "r3".into(),
        run_id: None,
        lost_data: false,
    };
    assert_loss_then_failover(&c, &mut v, &record, 1000, "r3", "r2");
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
        epoch: 5,
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
        epoch: 5,
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
        plan.record(6, Some(&record), &v).expect("a record").run_id.as_deref(),
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
fn a_claimant_holding_less_than_a_silent_node_last_held_is_no_shelter_yet() {
    // Seed 33036: r1 (recorded) lost its data and is down; r2 came
    // back from an old RDB (20 keys, claiming primary); r3 last answered
    // following r1 with 240 keys, in an earlier term, and is silent
    // (within stale_after_ms). Recording r2 could end with r3 repointed
    // at it: wait for r3.
    let c = config(&[100, 100, 100]);
    let record = recorded("r1", Some("a2"));
    let mut r1 = NodeView::default();
    r1.observe(16_000, Ok(status(Role::Primary, "a2", "a2-new", 0, 0)));
    r1.observe(16_700, Err(RedisError::Unreachable("refused".into())));
    r1.lost_data = true;
    let mut r2 = NodeView::default();
    r2.observe(16_800, Err(RedisError::Unreachable("refused".into())));
    let mut back = status(Role::Primary, "b2", "b2-new", 20, 20);
    back.uptime_s = Some(0);
    r2.observe(21_200, Ok(back));
    let mut r3 = NodeView::default();
    r3.observe(12_000, Ok(status(down_replica(100), "c", "a1", 240, 240)));
    r3.observe(12_900, Err(RedisError::Timeout));
    r3.earlier_term = true;
    let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
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
        .record(7, Some(&record), &knows)
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
    assert!(!failover.record(8, Some(&noted), &v).expect("a record").lost_data);
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

#[test]
fn an_empty_node_is_never_a_shelter_and_a_node_that_lost_data_before_can_be() {
    // Seed 58366: r1 (recorded) lost its data and is down; r2 and r3
    // came back empty. Nothing is left to keep: no empty node is
    // promoted as a shelter.
    let c = config(&[100, 100, 100]);
    let mut r1 = NodeView::default();
    r1.observe(40_000, Ok(status(Role::Primary, "a2", "a2-new", 0, 0)));
    r1.observe(43_000, Err(RedisError::Unreachable("refused".into())));
    r1.lost_data = true;
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
    let settled = plan.unwrap().unwrap().record(7, Some(&record), &v).expect("a record");
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
fn a_claimant_shelter_waits_while_the_lost_primary_was_never_seen() {
    // Seed 70568: the record names r2 and notes its loss; this leader
    // never saw r2 answer (it held 153 keys, down since before the
    // leader took over). r1 came back from an RDB holding 20 keys and
    // claims primary; r3 answered once, empty. Recording r1 would
    // resync r2's 153 keys away once back: the leader waits, until r2
    // has been silent past stale_after_ms.
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
    // Silent past stale_after_ms, r2 no longer holds the copy back.
    let later = 39_684 + c.settings.stale_after_ms + 100;
    let st = v["r1"].status.clone().unwrap();
    v.get_mut("r1").unwrap().observe(later, Ok(st));
    v.get_mut("r2")
        .unwrap()
        .observe(later, Err(RedisError::Unreachable("refused".into())));
    assert!(matches!(shelter(&c, &v, "r2", later), Some(Shelter::Promote(ref n)) if n == "r1"));
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
