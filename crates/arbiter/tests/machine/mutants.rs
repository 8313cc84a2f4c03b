//! Checks that `cargo mutants` (`scripts/mutants`, issue 18 point 7)
//! showed missing: each test names the mutant of `src/machine` it kills,
//! one that the machine's other tests and a 300-seed sweep let through.
//! See crates/arbiter/README.md, "How much the tests catch: mutation
//! testing". A module of `tests/machine.rs`, whose helpers it uses.

use std::collections::BTreeMap;

use arbiter::machine::decide::decide;
use arbiter::machine::{NodeView, Planted, WATCH_GAP_INTERVALS, Watch};
use arbiter::types::Millis;

use super::*;

/// `acting.rs`, `switched_over`: `now + failover_timeout_ms` as `now *
/// failover_timeout_ms` (or `-`). The handover Redis accepted is waited
/// for until exactly the failover timeout has passed, no longer: past it
/// the leader decides again.
#[test]
fn an_accepted_switchover_is_waited_for_the_failover_timeout() {
    let mut m = Machine::restore(
        State::SwitchingOver {
            plan: Plan::Switchover {
                from: "r1".into(),
                to: "r2".into(),
            },
        },
        polled(|_| {}),
    );
    m.step(Input::SwitchedOver(Ok(())));
    assert_eq!(m.state().name(), "Publishing");
    let timeout = Settings::default().failover_timeout_ms;
    assert_eq!(
        m.context().handover,
        Some(("r1".into(), "r2".into(), 1000 + timeout, "run".into()))
    );
}

/// `election.rs`, `on_record`: `Some(r.epoch) > self.ctx.epoch` as `>=`.
/// A record read under this leader's own epoch is its own write (the
/// re-read after a write whose outcome was unknown found it applied): the
/// leader takes it and goes on leading; only a newer epoch means another
/// leader (S2).
#[test]
fn a_record_read_back_under_the_leaders_own_epoch_is_kept_not_a_reason_to_step_down() {
    let mut c = polled(|_| {});
    c.record_unknown = true;
    let own = GroupRecord {
        epoch: Epoch(100),
        primary: "r2".into(),
        run_id: Some("run".into()),
        lost_data: false,
    };
    let mut m = Machine::restore(State::LoadingRecord, c.clone());
    m.step(Input::Record(Ok(Some(own.clone()))));
    assert_eq!(m.state().name(), "CheckingConfig");
    assert_eq!(m.poll_next_message(), Some(Output::CheckConfig));
    assert_eq!(m.context().epoch, Some(Epoch(100)), "still leading");
    assert_eq!(m.context().record, Some(own.clone()));
    assert!(!m.context().record_unknown);

    // One epoch newer: another leader wrote it.
    let newer = GroupRecord {
        epoch: Epoch(101),
        ..own
    };
    let mut m = Machine::restore(State::LoadingRecord, c);
    m.step(Input::Record(Ok(Some(newer))));
    assert_eq!(m.state().name(), "Campaigning");
    assert_eq!(m.context().epoch, None);
}

/// A node's view after one poll at `now` answered with `status`.
fn seen(now: Millis, status: Result<NodeStatus, RedisError>) -> NodeView {
    let mut v = NodeView::default();
    v.observe(now, status);
    v
}

/// A status on replication history `replid` holding `keys` keys.
fn holding(role: Role, run_id: &str, replid: &str, keys: u64) -> Result<NodeStatus, RedisError> {
    Ok(NodeStatus {
        role,
        run_id: run_id.into(),
        replid: replid.into(),
        replid2: None,
        offset: keys,
        keys: Some(keys),
        uptime_s: None,
    })
}

fn views(list: Vec<(&str, NodeView)>) -> BTreeMap<String, NodeView> {
    list.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// `decide/choose.rs`, `cold_start`: a node on another replication
/// history `&&` holding more keys as `||`, and "more" (`>`) as "as many"
/// (`>=`). On a cold start the one claimant is held back only by a node
/// that is both on another history and strictly ahead of it; one on
/// another history holding less or as much (a replica left behind on an
/// older history) does not stop the group being recorded.
#[test]
fn a_cold_start_claimant_not_behind_a_node_on_another_history_is_recorded() {
    let c = config();
    let down = Role::Replica {
        primary: "10.0.0.1:6379".into(),
        link_up: false,
        link_down_ms: Some(400),
    };
    for behind in [150, 180] {
        let v = views(vec![
            ("r1", seen(30_000, holding(Role::Primary, "a", "new", 180))),
            ("r2", seen(30_000, holding(down.clone(), "b", "old", behind))),
            ("r3", seen(30_000, holding(down.clone(), "c", "new", 180))),
        ]);
        let plan = decide(&c, &v, None, None, 30_000, &Planted::default());
        assert_eq!(
            plan,
            Ok(Some(Plan::Bootstrap { primary: "r1".into() })),
            "r2 holds {behind} keys"
        );
    }
}

/// `decide/choose.rs`, `cold_start`: the guard `settings.allow_data_loss`
/// of the case where no node, or more than one, claims primary, forced
/// `true` or `false`. With no record and no single claimant the leader
/// waits (`Blocked::ColdStart`), unless the operator allowed data loss:
/// then it promotes the best replica.
#[test]
fn a_cold_start_without_a_single_claimant_waits_unless_data_loss_is_allowed() {
    let mut c = config();
    let down = |ms| Role::Replica {
        primary: "10.0.0.1:6379".into(),
        link_up: false,
        link_down_ms: Some(ms),
    };
    let mut r1 = NodeView::default();
    r1.observe(1_000, Err(RedisError::Timeout));
    r1.observe(30_000, Err(RedisError::Timeout));
    let v = views(vec![
        ("r1", r1),
        // (links down for less than stale_after_ms: both eligible)
        ("r2", seen(30_000, holding(down(2_000), "b", "new", 180))),
        ("r3", seen(30_000, holding(down(2_000), "c", "new", 170))),
    ]);
    let plan = decide(&c, &v, None, None, 30_000, &Planted::default());
    assert_eq!(plan, Err(arbiter::machine::Blocked::ColdStart));
    c.settings.allow_data_loss = true;
    let plan = decide(&c, &v, None, None, 30_000, &Planted::default());
    assert_eq!(
        plan,
        Ok(Some(Plan::Failover {
            from: String::new(),
            to: "r2".into()
        }))
    );
}

/// `decide/choose.rs`, `failed_primary`: "data elsewhere" as data seen on
/// another node `||` a node refusing arbiter's password, made `&&`; and
/// "another node `&&` refusing the password" made `||`, or "another" (`!=`)
/// made "the primary itself" (`==`). The recorded
/// primary, still a replica (its promotion not done) and empty, is not
/// promoted while a node that refuses the password may hold data (S5,
/// data), even when no node shows any; when every node answers empty, it
/// is.
#[test]
fn an_empty_recorded_replica_is_not_promoted_while_a_node_refuses_the_password() {
    let c = config();
    let r1 = Role::Replica {
        primary: "10.0.0.3:6379".into(),
        link_up: true,
        link_down_ms: None,
    };
    let r3 = Role::Replica {
        primary: "10.0.0.1:6379".into(),
        link_up: true,
        link_down_ms: None,
    };
    let record = GroupRecord {
        epoch: Epoch(90),
        primary: "r1".into(),
        run_id: Some("a".into()),
        lost_data: false,
    };
    let mut v = views(vec![
        ("r1", seen(30_000, holding(r1, "a", "x", 0))),
        ("r2", seen(30_000, Err(RedisError::Auth("WRONGPASS".into())))),
        ("r3", seen(30_000, holding(r3.clone(), "c", "x", 0))),
    ]);
    let plan = decide(&c, &v, Some(&record), None, 30_000, &Planted::default());
    assert_eq!(
        plan,
        Err(arbiter::machine::Blocked::NoEligibleReplica { primary: "r1".into() })
    );
    v.insert("r2".into(), seen(30_000, holding(r3, "b", "x", 0)));
    let plan = decide(&c, &v, Some(&record), None, 30_000, &Planted::default());
    assert_eq!(plan, Ok(Some(Plan::Promote { node: "r1".into() })));
}

/// `decide/choose.rs`, `replace`: "the primary lost its data `&&` the
/// planted bug is off" made `||` (the bug is always off here, so: always).
/// The copy holding the most keys overrides the replica the usual rule
/// picks (priority, then offset) only when the primary lost its data; a
/// primary that is merely down is replaced by the usual pick.
#[test]
fn a_primary_down_with_its_data_is_replaced_by_priority_not_by_keys() {
    let mut c = config();
    c.nodes[1].priority = 50;
    let follows = Role::Replica {
        primary: "10.0.0.1:6379".into(),
        link_up: false,
        link_down_ms: Some(2_000),
    };
    let record = GroupRecord {
        epoch: Epoch(90),
        primary: "r1".into(),
        run_id: Some("a".into()),
        lost_data: false,
    };
    // (this leader never saw it answer: down since 20 s)
    let mut r1 = seen(20_000, Err(RedisError::Timeout));
    r1.observe(25_000, Err(RedisError::Timeout));
    r1.observe(30_000, Err(RedisError::Timeout));
    let v = views(vec![
        ("r1", r1),
        ("r2", seen(30_000, holding(follows.clone(), "b", "x", 10))),
        ("r3", seen(30_000, holding(follows, "c", "x", 20))),
    ]);
    let plan = decide(&c, &v, Some(&record), None, 30_000, &Planted::default());
    assert_eq!(
        plan,
        Ok(Some(Plan::Failover {
            from: "r1".into(),
            to: "r2".into()
        }))
    );
}

/// `idle.rs`, `urgent`: `now - lost_data_at < URGENT_WINDOW_MS` as `<=`.
/// A node's loss keeps the leader looking soon for the window after it
/// was seen, and not one millisecond longer: at exactly the window's end
/// the usual interval is back. (The loss is marked on r2, which does not
/// answer: a node's mark is cleared once it answers as a replica.)
#[test]
fn a_loss_keeps_the_next_look_soon_for_the_urgent_window_only() {
    let settings = Settings::default();
    let next_wait = |seen_ago: Millis| {
        let ctx = polled(|c| {
            c.now = 10_000;
            for (name, status) in [
                ("r1", primary(10)),
                ("r2", Err(RedisError::Timeout)),
                ("r3", replica_of(1)),
            ] {
                c.views.get_mut(name).unwrap().observe(10_000, status);
            }
            let r2 = c.views.get_mut("r2").unwrap();
            r2.lost_data = true;
            r2.lost_data_at = 10_000 - seen_ago;
        });
        let mut m = Machine::restore(State::Polling { next: 2 }, ctx);
        m.step(Input::Status(replica_of(1)));
        assert_eq!(m.state().name(), "Leading", "{:?}", m.state());
        m.poll_next_message()
    };
    let now = 10_000;
    assert_eq!(
        next_wait(arbiter::machine::URGENT_WINDOW_MS - 1),
        wait(now + settings.fast_check_interval_ms),
        "a loss seen within the window: the next look soon"
    );
    assert_eq!(
        next_wait(arbiter::machine::URGENT_WINDOW_MS),
        wait(now + settings.check_interval_ms),
        "a loss seen a whole window ago: the usual interval"
    );
}

/// `depose.rs`, `on_depose`: "silent" as `now - since > within_ms +
/// margin` made `>=`. A follower deposes its leader only once the same
/// heartbeat has stood for longer than the leader promised plus the
/// margin (the fast interval): at exactly that long the leader may still
/// be on time, and is left alone; one millisecond more and it is deposed.
#[test]
fn a_leader_silent_exactly_as_long_as_it_promised_plus_the_margin_is_not_deposed() {
    let settings = Settings::default();
    let fast = settings.fast_check_interval_ms;
    let margin = fast.min(settings.check_interval_ms);
    let within_ms = 1600;
    let now = 4000;
    // r1, seen as primary, down since 1000: down-after (3 s) has passed.
    let silent_since = |since: u64| {
        let mut c = follower();
        c.now = now;
        let r1 = c.watch.entry("r1".into()).or_default();
        r1.observe(1000, Some(true), 1000);
        r1.observe(2000, None, 1000);
        c.silence = Some((leader("arbiter-2", 90), 7, since));
        let mut m = Machine::restore(State::CheckingLeader, c);
        m.step(Input::Heartbeat(Ok(Some(Heartbeat { revision: 7, within_ms }))));
        (m.state().name(), m.poll_next_message())
    };
    assert_eq!(
        silent_since(now - within_ms - margin),
        ("Following", wait(now + fast)),
        "silent exactly as long as promised plus the margin: left alone"
    );
    assert_eq!(
        silent_since(now - within_ms - margin - 1),
        (
            "Deposing",
            Some(Output::Depose {
                leader: leader("arbiter-2", 90),
                revision: 7
            })
        ),
        "one millisecond longer: deposed"
    );
}

/// `idle.rs`, `urgent`: "blocked `&&` on a recorded primary that lost
/// its data" made `||`. Being blocked is urgent only when what blocks the
/// leader is a loss on the recorded primary (its replicas must be caught
/// the moment they can be acted on); a leader blocked on a cold start
/// (no record, no node claiming primary) waits for an operator, and
/// looks again at the usual interval.
#[test]
fn a_leader_blocked_on_a_cold_start_looks_again_at_the_usual_interval() {
    let settings = Settings::default();
    let ctx = polled(|c| {
        c.record = None;
        c.views.get_mut("r1").unwrap().observe(1000, replica_of(2));
    });
    let mut m = Machine::restore(State::Polling { next: 2 }, ctx);
    m.step(Input::Status(replica_of(1)));
    assert_eq!(m.state().name(), "Leading", "{:?}", m.state());
    assert_eq!(m.context().blocked, Some(arbiter::machine::Blocked::ColdStart));
    assert_eq!(m.poll_next_message(), wait(1000 + settings.check_interval_ms));
}

/// `watch.rs`, `Watch::observe`: a gap between two polls `> gap` as
/// `>=`. Polls exactly `WATCH_GAP_INTERVALS` check intervals apart leave
/// no gap: the watch goes on, the outage keeps its start (the primary's
/// last answer), and it still counts as a primary down; one millisecond
/// later, the watch starts over from that poll.
#[test]
fn polls_exactly_the_watch_gap_apart_keep_the_outage_start() {
    let interval: Millis = 1000;
    let gap = WATCH_GAP_INTERVALS * interval;
    for (late, down_since) in [(0, 1000), (1, 2000 + gap + 1)] {
        let mut w = Watch::default();
        w.observe(1000, Some(true), interval);
        w.observe(2000, None, interval);
        w.observe(2000 + gap + late, None, interval);
        assert_eq!(w.down_since, Some(down_since), "{late} ms past the gap");
        assert_eq!(w.primary_down(), late == 0, "{late} ms past the gap");
    }
}

/// `election.rs`, `is_me`: "this instance `&&` its current entry's
/// revision" made `||`. A leader entry under this instance's name but
/// another revision is an entry it left before (it restarted, and the
/// old entry's lease has not run out yet): not its current candidacy, so
/// it follows that entry rather than leading under the old epoch.
#[test]
fn an_old_entry_under_this_instances_name_is_followed_not_led_under() {
    let mut m = Machine::restore(State::FindingLeader, follower());
    m.step(Input::Leader(Ok(Some(leader("arbiter-1", 90)))));
    assert_eq!(m.state().name(), "Following", "{:?}", m.state());
    assert_eq!(m.context().epoch, None, "not leading");
    // Its current entry (revision 100) leads: it does.
    let mut m = Machine::restore(State::FindingLeader, follower());
    m.step(Input::Leader(Ok(Some(leader("arbiter-1", 100)))));
    assert_eq!(m.state().name(), "LoadingRecord", "{:?}", m.state());
}

/// `round.rs`, `act`: "clear `blocked` unless the plan is `NoteLoss`"
/// with the `!` deleted. A leader that was blocked and now has a plan
/// other than noting a loss (here repointing r3, which follows r2, at
/// r1) is no longer blocked: what blocked it is cleared as it acts.
#[test]
fn a_plan_that_acts_clears_what_blocked_the_leader() {
    let ctx = polled(|c| {
        c.blocked = Some(arbiter::machine::Blocked::ColdStart);
    });
    let mut m = Machine::restore(State::Polling { next: 2 }, ctx);
    m.step(Input::Status(replica_of(2)));
    assert_eq!(m.state().name(), "Publishing", "{:?}", m.state());
    assert_eq!(m.context().blocked, None);
}
