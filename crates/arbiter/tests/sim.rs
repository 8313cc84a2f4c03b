//! The simulated world: deterministic (same seed, same tapes, also across
//! processes), a clean sweep, per-instance tapes that replay alone, and
//! every invariant checker flagging a hand-built violation and passing a
//! hand-built good history.

use arbiter::machine::{Context, Machine, Output, Plan, State};
use arbiter::sim::check::{Checker, DUAL_WRITABLE_BOUND_MS};
use arbiter::sim::model::{Fact, Model, ModelEvent};
use arbiter::sim::run::{SimOptions, run};
use arbiter::types::{Epoch, NodeId};
use arbiter::types::{GroupConfig, GroupRecord, NodeStatus, RedisNode, Role, Settings};
use arbiter::{Driver, Input};
use rehearse::{Replayer, Sim, Sweep, Trace, check_determinism, check_determinism_across_processes};

fn seed_run(sim: &mut Sim) -> Result<(), rehearse::Failure> {
    run(sim, &SimOptions::default()).map(|_| ())
}

#[test]
fn the_same_seed_gives_the_same_tapes() {
    for seed in [0, 1, 7, 123] {
        check_determinism(seed, seed_run).unwrap();
    }
}

#[test]
fn the_same_seed_gives_the_same_tapes_across_processes() {
    check_determinism_across_processes("the_same_seed_gives_the_same_tapes_across_processes", 42, seed_run).unwrap();
}

/// The widened world of issue 22 (persistence modes, restarts with data,
/// every instance away, wrong passwords, conflicting configs) and its
/// invariants (S10, L1 after a return, S5 on data).
#[test]
fn a_sweep_of_the_default_scenario_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let opts = SimOptions::default();
    let report = Sweep::new("arbiter-test")
        .seeds(0..300)
        .out_dir(dir.path())
        .shrink(false)
        .quiet()
        .run(|sim| run(sim, &opts).map(|_| ()));
    assert!(report.failures.is_empty(), "{report}");
}

#[test]
fn the_default_sweep_draws_every_persistence_mode_and_fires_every_fault_kind() {
    use arbiter::sim::model::Persistence;
    use arbiter::sim::run::{FAULT_KINDS, run_report};
    let mut modes = std::collections::BTreeSet::new();
    let mut fired = std::collections::BTreeSet::new();
    for seed in 0..60 {
        let r = run_report(&Sim::new(seed), &SimOptions::default());
        for e in r.events.iter().filter(|e| e.what().starts_with("persistence: ")) {
            for m in Persistence::ALL {
                if e.what().contains(&format!(" {}", m.name())) {
                    modes.insert(m);
                }
            }
        }
        fired.extend(r.faults.into_iter().filter(|(_, n)| *n > 0).map(|(k, _)| k));
    }
    assert_eq!(modes.len(), 3, "{modes:?}");
    let missing: Vec<&&str> = FAULT_KINDS
        .iter()
        .filter(|k| **k != "calls" && !fired.contains(**k))
        .collect();
    assert!(missing.is_empty(), "never fired in 60 seeds: {missing:?}");
}

#[test]
fn each_instance_tape_replays_alone_through_the_real_driver() {
    // The first seed whose arbiter-1 lives long enough to say something
    // (a seed may crash it early: its tape is its first life).
    let trace = (0..20)
        .find_map(|seed| {
            let sim = Sim::new(seed);
            let outcome = run(&sim, &SimOptions::default()).unwrap();
            assert!(outcome.failovers + outcome.switchovers > 0 || !outcome.events.is_empty());
            let trace = Trace::parse(&sim.tape_named("arbiter-1").contents()).unwrap();
            (trace.calls().len() > 100).then_some(trace)
        })
        .expect("a seed below 20 where arbiter-1 makes more than 100 calls");
    let replayer = Replayer::from_trace(trace);
    let mut driver = Driver::new(replayer.clone());
    driver.run_to_end_of_recording(1_000_000).unwrap();
    replayer.finish().unwrap();
}

// ---- the checkers on hand-built histories

fn config() -> GroupConfig {
    GroupConfig {
        nodes: (1..=3)
            .map(|i| RedisNode {
                name: format!("r{i}"),
                addr: format!("10.0.0.{i}:6379"),
                priority: 100,
            })
            .collect(),
        settings: Settings {
            max_lag_bytes: 50,
            ..Settings::default()
        },
    }
}

fn model() -> Model {
    let mut m = Model::with_config(3, 1, 3, config().settings);
    for _ in 0..10 {
        m.client_write();
    }
    m.advance(1);
    m
}

#[test]
fn s1_flags_a_command_under_an_older_epoch_applied_after_a_newer_one() {
    let mut c = Checker::new(1, 3);
    let mut m = model();
    m.repoint(1, "10.0.0.1:6379", Epoch(7)).unwrap();
    c.after_event(&m).unwrap();
    // The fence refuses the stale command in the model; plant it as if a
    // node had no fence, to see the checker flag it.
    m.nodes[1].fence = Epoch(0);
    m.repoint(1, "10.0.0.3:6379", Epoch(5)).unwrap();
    let f = c.after_event(&m).unwrap_err();
    assert_eq!(f.kind(), "S1 fenced actions");
    assert!(
        f.message()
            .contains("repoint on r2 under epoch 5 applied after a command under epoch 7"),
        "{f}"
    );
    assert!(f.message().contains("seed 1"), "{f}");

    let mut c = Checker::new(1, 3);
    let mut m = model();
    m.repoint(1, "10.0.0.1:6379", Epoch(5)).unwrap();
    m.repoint(1, "10.0.0.1:6379", Epoch(7)).unwrap();
    c.after_event(&m).unwrap();
    assert!(
        m.repoint(1, "10.0.0.3:6379", Epoch(6)).is_err(),
        "the node-side fence refuses it"
    );
}

fn leading() -> Context {
    let mut c = Context::new(config());
    c.epoch = Some(Epoch(100));
    c.record = Some(GroupRecord {
        epoch: Epoch(100),
        primary: "r1".into(),
        run_id: None,
        lost_data: false,
    });
    c
}

#[test]
fn s2_flags_an_epoch_going_backwards() {
    let mut c = Checker::new(3, 3);
    let m = Machine::restore(State::Leading { epoch: Epoch(100) }, leading());
    let publish = |epoch| Output::Publish {
        epoch,
        record: GroupRecord {
            epoch,
            primary: "r1".into(),
            run_id: None,
            lost_data: false,
        },
    };
    c.after_step(0, &m, Some(&publish(Epoch(100))), 10).unwrap();
    c.after_step(0, &m, Some(&publish(Epoch(101))), 11).unwrap();
    let f = c.after_step(0, &m, Some(&publish(Epoch(99))), 12).unwrap_err();
    assert_eq!(f.kind(), "S2 monotonic epochs");
    assert!(f.message().contains("arbiter-1 acted under epoch 99 after 101"), "{f}");
    c.restarted(0);
    c.after_step(0, &m, Some(&publish(Epoch(50))), 13).unwrap();
}

#[test]
fn s4_flags_two_writable_primaries_beyond_the_bound_only() {
    let mut c = Checker::new(4, 3);
    let mut m = model();
    // r2 promoted while r1 still has r3: both writable.
    m.promote(1, Epoch(5)).unwrap();
    m.repoint(2, "10.0.0.1:6379", Epoch(5)).unwrap();
    m.nodes[0].min_replicas_to_write = 1;
    m.nodes[1].min_replicas_to_write = 0;
    m.advance(2);
    assert_eq!(m.writable_primaries().len(), 2);
    c.after_event(&m).unwrap();
    m.advance(2 + DUAL_WRITABLE_BOUND_MS);
    c.after_event(&m).unwrap();
    m.advance(3 + DUAL_WRITABLE_BOUND_MS);
    let f = c.after_event(&m).unwrap_err();
    assert_eq!(f.kind(), "S4 bounded dual-writable window");
    // Demoting one in time keeps it quiet.
    let mut c = Checker::new(4, 3);
    let mut m = model();
    m.promote(1, Epoch(5)).unwrap();
    m.nodes[1].min_replicas_to_write = 0;
    m.advance(2);
    c.after_event(&m).unwrap();
    m.repoint(0, "10.0.0.2:6379", Epoch(5)).unwrap();
    m.advance(5 + DUAL_WRITABLE_BOUND_MS);
    c.after_event(&m).unwrap();
}

fn view(role: Role, offset: u64, run_id: &str) -> Result<NodeStatus, arbiter::types::RedisError> {
    Ok(NodeStatus {
        role,
        run_id: run_id.into(),
        replid: "x".into(),
        replid2: None,
        offset,
        keys: None,
        uptime_s: None,
    })
}

fn replica(offset: u64, run_id: &str) -> Result<NodeStatus, arbiter::types::RedisError> {
    view(
        Role::Replica {
            primary: "10.0.0.1:6379".into(),
            link_up: false,
            link_down_ms: Some(3000),
        },
        offset,
        run_id,
    )
}

#[test]
fn s5_flags_a_candidate_that_is_not_the_best_eligible_one() {
    let mut ctx = leading();
    ctx.now = 4000; // r1 down since 0: past down-after, so L3 holds
    ctx.views
        .entry("r1".into())
        .or_default()
        .observe(0, Err(arbiter::types::RedisError::Timeout));
    ctx.views.entry("r2".into()).or_default().observe(0, replica(100, "b"));
    ctx.views.entry("r3".into()).or_default().observe(0, replica(90, "c"));
    let publish = Output::Publish {
        epoch: Epoch(100),
        record: GroupRecord {
            epoch: Epoch(100),
            primary: "r3".into(),
            run_id: None,
            lost_data: false,
        },
    };
    let wrong = Machine::restore(
        State::Publishing {
            plan: Plan::Failover {
                from: "r1".into(),
                to: "r3".into(),
            },
        },
        ctx.clone(),
    );
    let f = Checker::new(5, 3)
        .after_step(1, &wrong, Some(&publish), 4000)
        .unwrap_err();
    assert_eq!(f.kind(), "S5 candidate eligibility");
    assert!(f.message().contains("arbiter-2 fails over from r1 to r3"), "{f}");
    let right = Machine::restore(
        State::Publishing {
            plan: Plan::Failover {
                from: "r1".into(),
                to: "r2".into(),
            },
        },
        ctx,
    );
    Checker::new(5, 3).after_step(1, &right, Some(&publish), 4000).unwrap();
}

#[test]
fn s7_flags_a_resync_from_an_empty_restart_the_controller_had_time_to_stop() {
    // The leader polls the empty node at once; the replicas reconnect a
    // second later and resync from it, and nobody moved the record.
    let mut c = Checker::new(7, 3);
    let mut m = model();
    m.restart_empty(0);
    c.loss_seen(&m, 0, 0);
    m.advance(500);
    c.after_event(&m).unwrap();
    m.advance(1100); // reconnect: a full resync starts
    m.advance(1500); // and completes
    let f = c.after_event(&m).unwrap_err();
    assert_eq!(f.kind(), "S7 no replication from an empty restart");
    assert!(f.message().contains("from r1, which restarted empty"), "{f}");

    // Not observed by a leader before the resync (a race no poller can
    // win): not flagged.
    let mut c = Checker::new(7, 3);
    let mut m = model();
    m.restart_empty(0);
    m.advance(1100);
    m.advance(1500);
    c.after_event(&m).unwrap();
    assert!(!c.history().shrinking_resyncs.is_empty());

    // Observed, and the controller tried to move the record away in time
    // (an injected fault may have defeated the write): it acted.
    let mut c = Checker::new(7, 3);
    let mut m = model();
    m.restart_empty(0);
    c.loss_seen(&m, 0, 0);
    let leader = Machine::restore(State::Leading { epoch: Epoch(9) }, leading());
    let publish = Output::Publish {
        epoch: Epoch(9),
        record: GroupRecord {
            epoch: Epoch(9),
            primary: "r2".into(),
            run_id: None,
            lost_data: false,
        },
    };
    c.after_step(0, &leader, Some(&publish), m.now).unwrap();
    m.advance(1100);
    m.advance(1500);
    c.after_event(&m).unwrap();

    // A record write that keeps the empty node named acts on nothing ...
    let keep = Output::Publish {
        epoch: Epoch(9),
        record: GroupRecord {
            epoch: Epoch(9),
            primary: "r1".into(),
            run_id: None,
            lost_data: true,
        },
    };
    let flagged = |plan: Option<Plan>| {
        let mut c = Checker::new(7, 3);
        let mut m = model();
        m.restart_empty(0);
        c.loss_seen(&m, 0, 0);
        c.after_step(0, &leader, Some(&keep), m.now).unwrap();
        if let Some(plan) = plan {
            c.record_written_for(&leader, &plan, m.now);
        }
        m.advance(1100);
        m.advance(1500);
        c.after_event(&m).is_err()
    };
    assert!(flagged(None));
    // ... unless it is the write that starts detaching the replicas (or
    // sheltering them): defeated or not, it was an attempt on them
    // (seeds 155468, 91308).
    let nodes = vec!["r2".to_string(), "r3".to_string()];
    assert!(!flagged(Some(Plan::Detach {
        from: "r1".into(),
        nodes: nodes.clone()
    })));
    assert!(!flagged(Some(Plan::Shelter { nodes, to: "r2".into() })));
    assert!(flagged(Some(Plan::NoteLoss { primary: "r1".into() })));
}

#[test]
fn s9_flags_a_machine_in_failure() {
    let m = Machine::restore(
        State::Failure {
            state: Box::new(State::Init),
            input: Box::new(Input::Shutdown),
        },
        leading(),
    );
    let f = Checker::new(9, 3).after_step(2, &m, None, 77).unwrap_err();
    assert_eq!(f.kind(), "S9 machine discipline");
    assert!(
        f.message()
            .contains("arbiter-3 entered Failure: Init cannot take Shutdown"),
        "{f}"
    );
    assert!(f.message().contains("seed 9, t=77 ms"), "{f}");
    let fine = Machine::restore(State::Leading { epoch: Epoch(100) }, leading());
    Checker::new(9, 3).after_step(2, &fine, None, 77).unwrap();
}

#[test]
fn l2_flags_a_group_that_did_not_converge() {
    let c = Checker::new(10, 3);
    let mut m = model();
    let leader = Machine::restore(State::Leading { epoch: Epoch(100) }, leading());
    let follower = Machine::restore(State::Following { leader: None }, Context::new(config()));
    m.etcd.record = Some(GroupRecord {
        epoch: Epoch(100),
        primary: "r1".into(),
        run_id: None,
        lost_data: false,
    });
    c.at_end(&m, &[Some(&leader), Some(&follower), None]).unwrap();
    // Two leaders.
    let f = c.at_end(&m, &[Some(&leader), Some(&leader), None]).unwrap_err();
    assert_eq!(f.kind(), "L2 convergence");
    // A replica following someone else.
    m.nodes[2].replica_of = Some("10.0.0.2:6379".into());
    let f = c.at_end(&m, &[Some(&leader), Some(&follower), None]).unwrap_err();
    assert!(f.message().contains("r3 does not follow the primary r1"), "{f}");
}

#[test]
fn s6_flags_a_replica_linking_to_a_stale_primary_the_controller_had_time_to_demote() {
    // r2 was failed over to (the record names it); r1 is back claiming
    // primary and r3 still points at it. The leader saw r1's claim at
    // once, then did nothing for longer than the grace.
    let stale = || {
        let mut m = model();
        m.promote(1, Epoch(5)).unwrap();
        m.etcd.record = Some(GroupRecord {
            epoch: Epoch(5),
            primary: "r2".into(),
            run_id: None,
            lost_data: false,
        });
        m.crash(0);
        m.advance(10); // r3's link to r1 goes down
        m.restart_empty(0);
        m.nodes[0].log = m.nodes[2].log.clone(); // came back with its data: a partial resync
        m.nodes[0].replid = m.nodes[2].replid.clone();
        m
    };
    let mut c = Checker::new(6, 3);
    let mut m = stale();
    c.stale_primary_seen(&m, 0, 10, 0);
    m.advance(3000); // r3 reconnects to r1
    let f = c.after_event(&m).unwrap_err();
    assert_eq!(f.kind(), "S6 no resurrected stale primary");
    assert!(
        f.message()
            .contains("r3 links to r1, which still claims primary although the record names r2"),
        "{f}"
    );

    // Never seen by a leader: a race no poller can win, not flagged.
    let mut c = Checker::new(6, 3);
    let mut m = stale();
    m.advance(3000);
    c.after_event(&m).unwrap();
    assert!(!c.history().stale_syncs.is_empty());

    // Demoted in time: r3 links to a replica, which is fine.
    let mut c = Checker::new(6, 3);
    let mut m = stale();
    c.stale_primary_seen(&m, 0, 10, 0);
    m.repoint(0, "10.0.0.2:6379", Epoch(5)).unwrap();
    m.advance(3000);
    c.after_event(&m).unwrap();
    assert!(c.history().stale_syncs.is_empty());
}

#[test]
fn s8_flags_a_switchover_that_leaves_the_old_primary_writable() {
    let mut c = Checker::new(8, 3);
    let mut m = model();
    m.failover(0, 1, Epoch(5), 5000).unwrap();
    c.after_event(&m).unwrap();
    // The handover, once done, leaves one writable primary.
    let now = m.now;
    m.advance(now + arbiter::sim::model::HANDOVER_MS);
    assert!(m.events.iter().any(|e| e.what().starts_with("switchover: r1 -> r2")));
    c.after_event(&m).unwrap();
    // The same event with the old primary still taking writes.
    let mut c = Checker::new(8, 3);
    let mut m = model();
    m.promote(1, Epoch(5)).unwrap();
    m.nodes[1].min_replicas_to_write = 0;
    m.note(ModelEvent::Switchover {
        from: "r1".into(),
        to: "r2".into(),
        epoch: Epoch(5),
    });
    let f = c.after_event(&m).unwrap_err();
    assert_eq!(f.kind(), "S8 demote before promote");
    assert!(f.message().contains(r#"["r1", "r2"] all take writes"#), "{f}");
}

#[test]
fn a_switchover_to_a_paused_target_rolls_back() {
    let mut m = model();
    m.nodes[1].paused_until = 10_000;
    let err = m.failover(0, 1, Epoch(5), 5000).unwrap_err();
    assert_eq!(err, arbiter::types::RedisError::Timeout);
    assert!(
        m.nodes[0].replica_of.is_none() && m.writable(0),
        "the old primary takes writes again"
    );
    assert!(
        m.events
            .iter()
            .any(|e| e.what().starts_with("switchover rolled back: r1 -> r2"))
    );
}

#[test]
fn l1_flags_a_primary_killed_for_good_and_not_replaced_in_time() {
    let c = Checker::new(11, 3);
    let mut m = model();
    m.crash(0);
    let at = m.now;
    let bound =
        m.config.settings.down_after_ms + m.config.settings.check_interval_ms + arbiter::sim::check::FAILOVER_BOUND_MS;
    m.advance(at + bound + 1);
    m.promote(1, Epoch(5)).unwrap();
    let f = c.after_probe(&m, 0, at, false).unwrap_err();
    assert_eq!(f.kind(), "L1 eventual failover");
    assert!(f.message().contains("r1 was killed for good"), "{f}");
    let mut m = model();
    m.crash(0);
    m.advance(at + bound);
    m.promote(1, Epoch(5)).unwrap();
    c.after_probe(&m, 0, at, false).unwrap();
    // Killed with the leader instance: the tighter bound (issue 19).
    let tight = bound - arbiter::sim::check::FAILOVER_BOUND_MS + arbiter::sim::check::LEADER_LOSS_BOUND_MS;
    let f = c.after_probe(&m, 0, at, true).unwrap_err();
    assert!(f.message().contains("with the leader instance"), "{f}");
    let mut m = model();
    m.crash(0);
    m.advance(at + tight);
    m.promote(1, Epoch(5)).unwrap();
    c.after_probe(&m, 0, at, true).unwrap();
}

#[test]
fn l4_flags_a_switchover_request_held_past_its_timeout() {
    let mut ctx = leading();
    ctx.switchover = Some("r2".into());
    ctx.switchover_at = 1000;
    let s = &ctx.config.settings;
    let limit = 1000 + s.failover_timeout_ms + 2 * s.check_interval_ms + arbiter::sim::check::SWITCHOVER_BOUND_MS;
    ctx.now = limit;
    let m = Machine::restore(State::Leading { epoch: Epoch(100) }, ctx.clone());
    Checker::new(12, 3).after_step(0, &m, None, limit).unwrap();
    ctx.now = limit + 1;
    let m = Machine::restore(State::Leading { epoch: Epoch(100) }, ctx);
    let f = Checker::new(12, 3).after_step(0, &m, None, limit + 1).unwrap_err();
    assert_eq!(f.kind(), "L4 operations terminate");
    // An operator request nobody took up is flagged at the end.
    let c = Checker::new(12, 3);
    let mut m = model();
    m.etcd.record = Some(GroupRecord {
        epoch: Epoch(100),
        primary: "r1".into(),
        run_id: None,
        lost_data: false,
    });
    m.switchover_request = Some("r3".into());
    let leader = Machine::restore(State::Leading { epoch: Epoch(100) }, leading());
    let f = c.at_end(&m, &[Some(&leader), None, None]).unwrap_err();
    assert_eq!(f.kind(), "L4 operations terminate");
}

#[test]
fn l3_flags_a_failover_before_down_after() {
    let failing_over = |now| {
        let mut ctx = leading();
        ctx.now = now;
        ctx.views
            .entry("r1".into())
            .or_default()
            .observe(1000, Err(arbiter::types::RedisError::Timeout));
        ctx.views
            .entry("r2".into())
            .or_default()
            .observe(now, replica(100, "b"));
        ctx.views.entry("r3".into()).or_default().observe(now, replica(90, "c"));
        Machine::restore(
            State::Publishing {
                plan: Plan::Failover {
                    from: "r1".into(),
                    to: "r2".into(),
                },
            },
            ctx,
        )
    };
    let down_after = config().settings.down_after_ms;
    let f = Checker::new(13, 3)
        .after_step(0, &failing_over(1000 + down_after - 1), None, 0)
        .unwrap_err();
    assert_eq!(f.kind(), "L3 bounded detection");
    assert!(f.message().contains("after 2999 ms of unreachability"), "{f}");
    Checker::new(13, 3)
        .after_step(0, &failing_over(1000 + down_after), None, 0)
        .unwrap();
}

// ---- issue 22's invariants on hand-built histories

#[test]
fn s10_flags_a_replication_cycle() {
    let mut c = Checker::new(20, 3);
    let mut m = model();
    c.after_event(&m).unwrap();
    // r1 (the primary) pointed at its own replica r2.
    m.repoint(0, "10.0.0.2:6379", Epoch(5)).unwrap();
    m.advance(2);
    let f = c.after_event(&m).unwrap_err();
    assert_eq!(f.kind(), "S10 no replication cycle");
    assert!(f.message().contains("r1 -> r2 -> r1"), "{f}");
    // A chain is not a cycle: r3 follows r2, which follows r1.
    let mut c = Checker::new(20, 3);
    let mut m = model();
    m.repoint(2, "10.0.0.2:6379", Epoch(5)).unwrap();
    m.advance(2);
    c.after_event(&m).unwrap();
    // Nor is a cycle through a node that is down (it restarts as a primary).
    let mut m = model();
    m.repoint(0, "10.0.0.2:6379", Epoch(5)).unwrap();
    m.crash(1);
    m.advance(2);
    Checker::new(20, 3).after_event(&m).unwrap();
}

#[test]
fn l5_flags_promotions_without_a_fault_in_between() {
    let flapping = |faults: &[u64]| {
        let mut c = Checker::new(21, 3);
        let mut m = model();
        let mut result = Ok(());
        for (k, f) in faults.iter().enumerate() {
            m.note(ModelEvent::Promote {
                node: format!("r{}", 1 + k % 2),
                epoch: Epoch(5),
                offset: 0,
                keys: 0,
            });
            result = c.after_promotions(&m, || *f);
            if result.is_err() {
                break;
            }
        }
        result
    };
    let limit = arbiter::sim::check::MAX_PROMOTIONS_WITHOUT_FAULT;
    flapping(&vec![7; limit]).unwrap();
    let f = flapping(&vec![7; limit + 1]).unwrap_err();
    assert_eq!(f.kind(), "L5 no endless flapping");
    assert!(
        f.message()
            .contains(&format!("{} promotions without a fault", limit + 1)),
        "{f}"
    );
    // A new fault before each promotion: no flapping.
    flapping(&(0..2 * limit as u64).collect::<Vec<_>>()).unwrap();
}

#[test]
fn s5_flags_an_empty_node_promoted_while_another_holds_data() {
    use arbiter::sim::model::Promotion;
    let promotion = |keys, others: Vec<(usize, u64)>| Promotion {
        at: 5000,
        node: 1,
        by: 0,
        keys,
        others,
    };
    let mut m = model();
    m.now = 5000;
    m.facts.push(Fact::Promoted(promotion(0, vec![(2, 10)])));
    let f = Checker::new(22, 3).after_event(&m).unwrap_err();
    assert_eq!(f.kind(), "S5 candidate eligibility");
    assert!(
        f.message()
            .contains("promoted r2, which holds no keys, while r3 holds 10"),
        "{f}"
    );
    // Nobody holds data (or the promoted node does): fine.
    let mut m = model();
    m.facts.push(Fact::Promoted(promotion(0, vec![(2, 0)])));
    m.facts.push(Fact::Promoted(promotion(3, vec![(2, 10)])));
    Checker::new(22, 3).after_event(&m).unwrap();
}

#[test]
fn s7_gives_no_chance_on_a_replica_the_leader_did_not_hear_from() {
    // Seed 61043, reduced: r1 restarts empty and the leader sees it, but
    // its polls of r2 fail (injected faults: the network is fine) until r2
    // resyncs from r1. The controller commands no node it does not hear
    // from: not flagged. Heard throughout, the same history is flagged.
    let trial = |r2_answers: bool| -> Result<(), rehearse::Failure> {
        let mut c = Checker::new(25, 3);
        let mut m = model();
        m.etcd.campaign(m.now, &NodeId("arbiter-1".into()));
        m.advance(2); // (the model notes the new leader)
        m.restart_empty(0);
        let mut ctx = leading();
        let answer = |role, run: &str, keys| NodeStatus {
            role,
            run_id: run.into(),
            replid: "h".into(),
            replid2: None,
            offset: keys,
            keys: Some(keys),
            uptime_s: None,
        };
        ctx.views.entry("r1".into()).or_default().status = Some(answer(Role::Primary, &m.nodes[0].run_id, 0));
        if r2_answers {
            let follows = Role::Replica {
                primary: "10.0.0.1:6379".into(),
                link_up: false,
                link_down_ms: None,
            };
            ctx.views.entry("r2".into()).or_default().status = Some(answer(follows, "r2", 10));
        }
        let leader = Machine::restore(State::Leading { epoch: Epoch(100) }, ctx);
        // The leader sees the loss at once; r2's link retries 600 ms later
        // and resyncs; the leader keeps looking every 100 ms.
        c.observe_leader_views(0, &m, &leader);
        c.after_event(&m)?;
        for t in (600..=1500).step_by(100) {
            m.advance(t);
            c.observe_leader_views(0, &m, &leader);
            c.after_event(&m)?;
        }
        assert!(!c.history().shrinking_resyncs.is_empty());
        Ok(())
    };
    let f = trial(true).unwrap_err();
    assert_eq!(f.kind(), "S7 no replication from an empty restart");
    assert!(f.message().contains("r2 resynced from r1"), "{f}");
    trial(false).unwrap();
}

#[test]
fn s7_flags_a_replica_left_on_an_empty_primary_while_another_was_moved() {
    // The trial: r1 restarts empty, the leader sees it and moves r3 to r2
    // (a shelter) but leaves r2 following r1; r2 resyncs from r1.
    let trial = |moved: &str| {
        let mut c = Checker::new(23, 3);
        let mut m = model();
        m.restart_empty(0);
        c.loss_seen(&m, 0, 0);
        let leader = Machine::restore(State::Leading { epoch: Epoch(9) }, leading());
        let repoint = Output::Repoint {
            addr: moved.into(),
            primary: "10.0.0.2:6379".into(),
            epoch: Epoch(9),
        };
        c.after_step(0, &leader, Some(&repoint), m.now).unwrap();
        m.advance(1100);
        m.advance(1500);
        c.after_event(&m)
    };
    let f = trial("10.0.0.3:6379").unwrap_err();
    assert_eq!(f.kind(), "S7 no replication from an empty restart");
    assert!(f.message().contains("r2 resynced from r1"), "{f}");
    // Before issue 22 any repoint counted as acting.
    let mut c = Checker::new(23, 3).with_issue_22_invariants(false);
    let mut m = model();
    m.restart_empty(0);
    c.loss_seen(&m, 0, 0);
    let leader = Machine::restore(State::Leading { epoch: Epoch(9) }, leading());
    let repoint = Output::Repoint {
        addr: "10.0.0.3:6379".into(),
        primary: "10.0.0.2:6379".into(),
        epoch: Epoch(9),
    };
    c.after_step(0, &leader, Some(&repoint), m.now).unwrap();
    m.advance(1100);
    m.advance(1500);
    c.after_event(&m).unwrap();
}

#[test]
fn s7_follows_lost_data_through_a_replica_that_resynced_from_it() {
    // r1 restarts empty; r2 resyncs from it (a race nobody saw); then r3,
    // repointed to r2, resyncs from r2, which the leader saw holding less.
    let mut c = Checker::new(24, 3);
    let mut m = model();
    m.restart_empty(0);
    m.repoint(2, "10.0.0.9:6379", Epoch(1)).unwrap(); // r3 away from r1 meanwhile
    m.advance(1100);
    m.advance(1500);
    c.after_event(&m).unwrap();
    assert!(c.history().losses.contains_key(&1), "r2 lost data through r1");
    c.loss_seen(&m, 1, 0);
    m.repoint(2, "10.0.0.2:6379", Epoch(2)).unwrap();
    let t = m.now;
    m.advance(t + 500);
    m.advance(t + 1000);
    let f = c.after_event(&m).unwrap_err();
    assert_eq!(f.kind(), "S7 no replication from an empty restart");
    assert!(f.message().contains("r3 resynced from r2"), "{f}");
}

#[test]
fn the_fault_kinds_before_issue_22_are_the_old_ones() {
    use arbiter::sim::run::{FAULT_KINDS, FAULT_KINDS_BEFORE_ISSUE_22};
    assert_eq!(FAULT_KINDS_BEFORE_ISSUE_22.last(), Some(&"calls"));
    assert_eq!(
        FAULT_KINDS[FAULT_KINDS_BEFORE_ISSUE_22.len()],
        "redis.restart_with_data"
    );
}
