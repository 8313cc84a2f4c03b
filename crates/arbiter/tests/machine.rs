//! Table-driven tests of single transitions: every non-Failure move in
//! `TRANSITIONS` is exercised here (a test checks the coverage), every
//! unexpected pair lands in `Failure` naming the state and the input, and
//! `MACHINE.md` shows exactly the transitions the code allows.

use std::collections::BTreeSet;

use arbiter::machine::{Context, Input, Machine, Output, Plan, State, TRANSITIONS, mermaid};
use arbiter::types::Epoch;
use arbiter::types::{
    Candidacy, ClusterEvent, ElectionError, ElectionEvent, GroupConfig, GroupRecord, Heartbeat, Leader, NodeId,
    NodeStatus, RedisError, RedisNode, Role, Settings,
};

fn config() -> GroupConfig {
    GroupConfig {
        nodes: (1..=3)
            .map(|i| RedisNode {
                name: format!("r{i}"),
                addr: format!("10.0.0.{i}:6379"),
                priority: 100,
            })
            .collect(),
        settings: Settings::default(),
    }
}

fn me() -> NodeId {
    NodeId("arbiter-1".into())
}

fn candidacy() -> Candidacy {
    Candidacy {
        instance: me(),
        lease: 7,
        revision: 100,
    }
}

fn leader(name: &str, epoch: i64) -> Leader {
    Leader {
        instance: NodeId(name.into()),
        epoch: Epoch(epoch),
    }
}

/// A fresh instance: identified, nothing else.
fn fresh() -> Context {
    let mut c = Context::new(config());
    c.instance = Some(me());
    c.now = 1000;
    c
}

/// An instance with an election entry, following arbiter-2.
fn follower() -> Context {
    let mut c = fresh();
    c.candidacy = Some(candidacy());
    c.leader = Some(leader("arbiter-2", 90));
    c
}

/// The leader under epoch 100, with the record naming r1.
fn leading() -> Context {
    let mut c = follower();
    c.epoch = Some(Epoch(100));
    c.highest_epoch = Epoch(100);
    c.leader = Some(leader("arbiter-1", 100));
    c.record = Some(GroupRecord {
        epoch: Epoch(90),
        primary: "r1".into(),
        run_id: None,
        lost_data: false,
    });
    c
}

fn primary(offset: u64) -> Result<NodeStatus, RedisError> {
    Ok(NodeStatus {
        role: Role::Primary,
        run_id: "run".into(),
        replid: "repl".into(),
        replid2: None,
        offset,
        keys: None,
        uptime_s: None,
    })
}

fn replica_of(n: u8) -> Result<NodeStatus, RedisError> {
    Ok(NodeStatus {
        role: Role::Replica {
            primary: format!("10.0.0.{n}:6379"),
            link_up: true,
            link_down_ms: None,
        },
        run_id: "run".into(),
        replid: "repl".into(),
        replid2: None,
        offset: 10,
        keys: None,
        uptime_s: None,
    })
}

/// A leader that has polled every node already (r1 primary, r2 and r3 its
/// replicas, unless `adjust` changes that).
fn polled(adjust: impl FnOnce(&mut Context)) -> Context {
    let mut c = leading();
    for (name, status) in [("r1", primary(10)), ("r2", replica_of(1)), ("r3", replica_of(1))] {
        c.views.entry(name.into()).or_default().observe(1000, status);
    }
    adjust(&mut c);
    c
}

struct Checked {
    seen: BTreeSet<(&'static str, &'static str, &'static str)>,
}

impl Checked {
    /// Steps `input` from `state` with `ctx`; checks the new state's name
    /// and the output; returns the machine for further checks.
    fn case(&mut self, state: State, ctx: Context, input: Input, to: &str, output: Option<Output>) -> Machine {
        let from = state.name();
        let input_name = input.name();
        let mut m = Machine::restore(state, ctx);
        m.step(input.clone());
        assert_eq!(m.state().name(), to, "{from} --{input:?}--> {:?}", m.state());
        assert_eq!(m.poll_next_message(), output, "output of {from} --{input_name}--> {to}");
        let entry = TRANSITIONS
            .iter()
            .find(|t| **t == (from, input_name, m.state().name()))
            .expect("a non-Failure move is listed");
        self.seen.insert(*entry);
        m
    }
}

fn wait(until: u64) -> Option<Output> {
    Some(Output::Wait { until })
}

fn addr(n: u8) -> String {
    format!("10.0.0.{n}:6379")
}

/// `config::load` refuses a group of fewer than two nodes, so a machine
/// started on an empty one was built by hand around that check: there is
/// nothing to arbitrate, and it lands in `Failure` with nothing to do
/// rather than campaigning for an empty group. It refuses the group as it
/// stands, before it takes its id: without that guard (`startup.rs`,
/// mutation testing) it would campaign, and `step` would turn the
/// unlisted move into the same `Failure` with no output, the id taken.
#[test]
fn a_group_with_no_nodes_is_a_failure_not_a_campaign() {
    let no_nodes = GroupConfig {
        nodes: vec![],
        settings: Settings::default(),
    };
    let mut m = Machine::restore(State::Identifying, Context::new(no_nodes));
    assert_eq!(m.step(Input::NodeId(me())).name(), "Failure");
    assert_eq!(m.poll_next_message(), None);
    assert!(m.is_terminal());
    assert_eq!(m.context().instance, None);
}

#[test]
fn every_listed_transition_does_what_it_says() {
    let mut t = Checked { seen: BTreeSet::new() };
    let no_nodes = GroupConfig {
        nodes: vec![],
        settings: Settings::default(),
    };

    // Startup.
    t.case(
        State::Init,
        Context::new(no_nodes),
        Input::Start {
            now: 5,
            config: config(),
        },
        "Identifying",
        Some(Output::GenNodeId),
    );
    t.case(
        State::Identifying,
        Context::new(config()),
        Input::NodeId(me()),
        "CheckingNodes",
        Some(Output::CheckClusterEnabled { addr: addr(1) }),
    );
    t.case(
        State::CheckingNodes { next: 0 },
        fresh(),
        Input::ClusterEnabled(Ok(false)),
        "CheckingNodes",
        Some(Output::CheckClusterEnabled { addr: addr(2) }),
    );
    t.case(
        State::CheckingNodes { next: 2 },
        fresh(),
        Input::ClusterEnabled(Err(RedisError::Timeout)),
        "Campaigning",
        Some(Output::CreateNode { instance: me() }),
    );
    let m = t.case(
        State::CheckingNodes { next: 1 },
        fresh(),
        Input::ClusterEnabled(Ok(true)),
        "Refused",
        None,
    );
    assert!(m.is_terminal());

    // Election.
    t.case(
        State::Campaigning,
        fresh(),
        Input::Created(Ok(candidacy())),
        "FindingLeader",
        Some(Output::GetLeader),
    );
    t.case(
        State::Campaigning,
        fresh(),
        Input::Created(Err(ElectionError::Unavailable("down".into()))),
        "Candidate",
        wait(2000),
    );
    let m = t.case(
        State::FindingLeader,
        follower(),
        Input::Leader(Ok(Some(leader("arbiter-1", 100)))),
        "LoadingRecord",
        Some(Output::ReadRecord { linearizable: true }),
    );
    assert_eq!(m.context().epoch, Some(Epoch(100)));
    t.case(
        State::FindingLeader,
        follower(),
        Input::Leader(Ok(Some(leader("arbiter-2", 90)))),
        "Following",
        wait(2000),
    );
    t.case(
        State::Candidate,
        fresh(),
        Input::Tick { now: 3000 },
        "Campaigning",
        Some(Output::CreateNode { instance: me() }),
    );
    t.case(
        State::Following { leader: None },
        follower(),
        Input::Tick { now: 2000 },
        "CheckingElection",
        Some(Output::CheckElection),
    );
    t.case(
        State::Leading { epoch: Epoch(100) },
        leading(),
        Input::Tick { now: 2000 },
        "CheckingElection",
        Some(Output::CheckElection),
    );
    let m = t.case(
        State::CheckingElection,
        leading(),
        Input::Election(Some(ElectionEvent::LeaseLost)),
        "Campaigning",
        Some(Output::CreateNode { instance: me() }),
    );
    assert_eq!(m.context().epoch, None, "a leader without a lease stops acting");
    t.case(
        State::CheckingElection,
        follower(),
        Input::Election(Some(ElectionEvent::LeaderChanged(Some(leader("arbiter-1", 100))))),
        "LoadingRecord",
        Some(Output::ReadRecord { linearizable: true }),
    );
    let m = t.case(
        State::CheckingElection,
        leading(),
        Input::Election(Some(ElectionEvent::LeaderChanged(Some(leader("arbiter-3", 120))))),
        "CheckingConfig",
        Some(Output::CheckConfig),
    );
    assert_eq!(m.context().epoch, None, "another leader: stop acting");
    t.case(
        State::CheckingElection,
        leading(),
        Input::Election(None),
        "CheckingConfig",
        Some(Output::CheckConfig),
    );
    t.case(
        State::LoadingRecord,
        leading(),
        Input::Record(Ok(Some(GroupRecord {
            epoch: Epoch(90),
            primary: "r2".into(),
            run_id: None,
            lost_data: false,
        }))),
        "CheckingConfig",
        Some(Output::CheckConfig),
    );
    t.case(
        State::LoadingRecord,
        leading(),
        Input::Record(Ok(Some(GroupRecord {
            epoch: Epoch(200),
            primary: "r2".into(),
            run_id: None,
            lost_data: false,
        }))),
        "Campaigning",
        Some(Output::CreateNode { instance: me() }),
    );
    t.case(
        State::LoadingRecord,
        leading(),
        Input::Record(Err(ElectionError::Unavailable("down".into()))),
        "Following",
        wait(2000),
    );

    // The tick's checks.
    t.case(
        State::CheckingConfig,
        leading(),
        Input::Config(None),
        "CheckingRequests",
        Some(Output::CheckRequests),
    );
    let mut faster = config();
    faster.settings.check_interval_ms = 250;
    let m = t.case(
        State::CheckingConfig,
        follower(),
        Input::Config(Some(faster)),
        "Polling",
        Some(Output::PollNode { addr: addr(1) }),
    );
    assert_eq!(m.context().config.settings.check_interval_ms, 250);
    let m = t.case(
        State::CheckingRequests,
        leading(),
        Input::Cluster(Some(ClusterEvent::SwitchoverRequested { target: "r2".into() })),
        "Polling",
        Some(Output::PollNode { addr: addr(1) }),
    );
    assert_eq!(m.context().switchover.as_deref(), Some("r2"));
    assert_eq!(m.context().switchover_at, 1000);
    // A switchover that could not start within its timeout is given up at
    // the next tick (L4); a younger one is kept.
    let pending = |at| {
        let mut c = leading();
        c.switchover = Some("r2".into());
        c.switchover_at = at;
        c
    };
    let timeout = config().settings.failover_timeout_ms;
    let m = t.case(
        State::Leading { epoch: Epoch(100) },
        pending(1000),
        Input::Tick { now: 1000 + timeout },
        "CheckingElection",
        Some(Output::CheckElection),
    );
    assert_eq!(m.context().switchover, None);
    let m = t.case(
        State::Leading { epoch: Epoch(100) },
        pending(1000),
        Input::Tick { now: 999 + timeout },
        "CheckingElection",
        Some(Output::CheckElection),
    );
    assert_eq!(m.context().switchover.as_deref(), Some("r2"));
    t.case(
        State::Polling { next: 0 },
        leading(),
        Input::Status(primary(10)),
        "Polling",
        Some(Output::PollNode { addr: addr(2) }),
    );
    t.case(
        State::Polling { next: 2 },
        polled(|_| {}),
        Input::Status(replica_of(1)),
        "Leading",
        wait(2000),
    );
    // A follower watches the nodes and changes nothing; a primary it saw
    // go down makes it look at the election soon (issue 19).
    let m = t.case(
        State::Polling { next: 2 },
        follower(),
        Input::Status(replica_of(1)),
        "Following",
        wait(2000),
    );
    // (it keeps views too, never acting on them: a successor knows what
    // each node held when it last answered)
    assert!(m.context().views["r3"].status.is_some());
    assert_eq!(m.context().watch["r3"].answered_at, Some(1000));
    // A primary down: it reads the leader's heartbeat, to depose a leader
    // that stopped with the primary (issue 19).
    // (down since its last answer, at `down_since`: a poll after it failed)
    let watching = |down_since: u64| {
        let mut c = follower();
        let r1 = c.watch.entry("r1".into()).or_default();
        r1.observe(down_since, Some(true), 1000);
        r1.observe(down_since + 1000, None, 1000);
        assert_eq!(r1.down_since, Some(down_since));
        c
    };
    t.case(
        State::Polling { next: 2 },
        watching(1000),
        Input::Status(replica_of(1)),
        "CheckingLeader",
        Some(Output::ReadHeartbeat {
            leader: leader("arbiter-2", 90),
        }),
    );
    let fast = Settings::default().fast_check_interval_ms;
    let beat = |revision| {
        Input::Heartbeat(Ok(Some(Heartbeat {
            revision,
            within_ms: 1600,
        })))
    };
    // A beat not seen before: the silence starts now.
    let m = t.case(
        State::CheckingLeader,
        watching(1000),
        beat(7),
        "Following",
        wait(1000 + fast),
    );
    assert_eq!(m.context().silence, Some((leader("arbiter-2", 90), 7, 1000)));
    // The same beat for longer than it promised (plus the fast interval),
    // and the primary down for down-after (3 s): deposed.
    let silent = |since: u64, down_since: u64, now: u64| {
        let mut c = watching(down_since);
        c.now = now;
        c.silence = Some((leader("arbiter-2", 90), 7, since));
        c
    };
    t.case(
        State::CheckingLeader,
        silent(2000, 1000, 4000),
        beat(7),
        "Deposing",
        Some(Output::Depose {
            leader: leader("arbiter-2", 90),
            revision: 7,
        }),
    );
    // Not silent long enough, or the primary not down long enough, or the
    // beat moved, or no beat at all: waits (soon).
    t.case(
        State::CheckingLeader,
        silent(2500, 1000, 4000),
        beat(7),
        "Following",
        wait(4000 + fast),
    );
    t.case(
        State::CheckingLeader,
        silent(2000, 1500, 4000),
        beat(7),
        "Following",
        wait(4000 + fast),
    );
    t.case(
        State::CheckingLeader,
        silent(2000, 1000, 4000),
        beat(8),
        "Following",
        wait(4000 + fast),
    );
    t.case(
        State::CheckingLeader,
        silent(2000, 1000, 4000),
        Input::Heartbeat(Ok(None)),
        "Following",
        wait(4000 + fast),
    );
    // Deposed: the next in line leads at once (this instance, maybe).
    let m = t.case(
        State::Deposing,
        silent(2000, 1000, 4000),
        Input::Deposed(Ok(true)),
        "CheckingElection",
        Some(Output::CheckElection),
    );
    assert_eq!(m.context().silence, None);
    t.case(
        State::Deposing,
        silent(2000, 1000, 4000),
        Input::Deposed(Ok(false)),
        "Following",
        wait(4000 + fast),
    );
    // The deposed leader finds its entry gone: it stops acting and joins
    // again.
    let m = t.case(
        State::CheckingElection,
        leading(),
        Input::Election(Some(ElectionEvent::EntryLost)),
        "Campaigning",
        Some(Output::CreateNode { instance: me() }),
    );
    assert_eq!(m.context().epoch, None);
    t.case(
        State::Polling { next: 2 },
        polled(|_| {}),
        Input::Status(replica_of(2)),
        "Publishing",
        Some(Output::Publish {
            epoch: Epoch(100),
            record: GroupRecord {
                epoch: Epoch(100),
                primary: "r1".into(),
                run_id: None,
                lost_data: false,
            },
        }),
    );

    // Acting.
    let publishing = |plan: Plan| State::Publishing { plan };
    t.case(
        publishing(Plan::Bootstrap { primary: "r1".into() }),
        polled(|_| {}),
        Input::Published(Ok(true)),
        "Leading",
        wait(2000),
    );
    let m = t.case(
        publishing(Plan::Failover {
            from: "r1".into(),
            to: "r3".into(),
        }),
        polled(|_| {}),
        Input::Published(Ok(true)),
        "Promoting",
        Some(Output::Promote {
            addr: addr(3),
            epoch: Epoch(100),
        }),
    );
    assert_eq!(m.context().record.as_ref().unwrap().primary, "r3");
    t.case(
        publishing(Plan::Repoint {
            nodes: vec!["r2".into(), "r3".into()],
        }),
        polled(|_| {}),
        Input::Published(Ok(true)),
        "Repointing",
        Some(Output::Repoint {
            addr: addr(2),
            primary: addr(1),
            epoch: Epoch(100),
        }),
    );
    let m = t.case(
        publishing(Plan::Detach {
            from: "r1".into(),
            nodes: vec!["r2".into(), "r3".into()],
        }),
        polled(|_| {}),
        Input::Published(Ok(true)),
        "Detaching",
        Some(Output::Promote {
            addr: addr(2),
            epoch: Epoch(100),
        }),
    );
    assert_eq!(
        m.context().record.as_ref().unwrap().primary,
        "r1",
        "a detach records no new primary"
    );
    t.case(
        State::Detaching {
            nodes: vec!["r2".into(), "r3".into()],
            next: 0,
        },
        polled(|_| {}),
        Input::Promoted(Ok(())),
        "Detaching",
        Some(Output::Promote {
            addr: addr(3),
            epoch: Epoch(100),
        }),
    );
    t.case(
        State::Detaching {
            nodes: vec!["r2".into(), "r3".into()],
            next: 1,
        },
        polled(|_| {}),
        Input::Promoted(Err(RedisError::Timeout)),
        "Leading",
        wait(2000),
    );
    t.case(
        publishing(Plan::Switchover {
            from: "r1".into(),
            to: "r2".into(),
        }),
        polled(|_| {}),
        Input::Published(Ok(true)),
        "SwitchingOver",
        Some(Output::Switchover {
            primary: addr(1),
            target: addr(2),
            timeout_ms: 5000,
            epoch: Epoch(100),
        }),
    );
    t.case(
        publishing(Plan::Promote { node: "r2".into() }),
        polled(|_| {}),
        Input::Published(Ok(false)),
        "Campaigning",
        Some(Output::CreateNode { instance: me() }),
    );
    t.case(
        publishing(Plan::Promote { node: "r2".into() }),
        polled(|_| {}),
        Input::Published(Err(ElectionError::Unavailable("no quorum".into()))),
        "Leading",
        wait(2000),
    );
    let after_promotion = |c: &mut Context| {
        c.record = Some(GroupRecord {
            epoch: Epoch(100),
            primary: "r3".into(),
            run_id: None,
            lost_data: false,
        })
    };
    t.case(
        State::Promoting {
            plan: Plan::Promote { node: "r3".into() },
        },
        polled(after_promotion),
        Input::Promoted(Ok(())),
        "Repointing",
        Some(Output::Repoint {
            addr: addr(1),
            primary: addr(3),
            epoch: Epoch(100),
        }),
    );
    t.case(
        State::Promoting {
            plan: Plan::Promote { node: "r3".into() },
        },
        polled(after_promotion),
        Input::Promoted(Err(RedisError::Timeout)),
        "Leading",
        wait(2000),
    );
    t.case(
        State::Repointing {
            nodes: vec!["r2".into(), "r3".into()],
            next: 0,
            to: "r1".into(),
        },
        polled(|_| {}),
        Input::Repointed(Ok(())),
        "Repointing",
        Some(Output::Repoint {
            addr: addr(3),
            primary: addr(1),
            epoch: Epoch(100),
        }),
    );
    t.case(
        State::Repointing {
            nodes: vec!["r2".into(), "r3".into()],
            next: 1,
            to: "r1".into(),
        },
        polled(|_| {}),
        Input::Repointed(Err(RedisError::Timeout)),
        "Leading",
        wait(2000),
    );
    t.case(
        State::SwitchingOver {
            plan: Plan::Switchover {
                from: "r1".into(),
                to: "r2".into(),
            },
        },
        polled(|_| {}),
        Input::SwitchedOver(Ok(())),
        "Publishing",
        Some(Output::Publish {
            epoch: Epoch(100),
            record: GroupRecord {
                epoch: Epoch(100),
                primary: "r2".into(),
                // The node recorded is the process polled (a later leader
                // can tell it restarted since).
                run_id: Some("run".into()),
                lost_data: false,
            },
        }),
    );
    t.case(
        State::SwitchingOver {
            plan: Plan::Switchover {
                from: "r1".into(),
                to: "r2".into(),
            },
        },
        polled(|_| {}),
        Input::SwitchedOver(Err(RedisError::Refused("target is syncing".into()))),
        "Leading",
        wait(2000),
    );

    // Stopping.
    t.case(State::Candidate, fresh(), Input::Shutdown, "Stopped", None);
    t.case(
        State::Following { leader: None },
        follower(),
        Input::Shutdown,
        "Resigning",
        Some(Output::Resign { candidacy: candidacy() }),
    );
    t.case(
        State::Leading { epoch: Epoch(100) },
        leading(),
        Input::Shutdown,
        "Resigning",
        Some(Output::Resign { candidacy: candidacy() }),
    );
    t.case(State::Resigning, leading(), Input::Resigned(Ok(())), "Stopped", None);

    let listed: BTreeSet<_> = TRANSITIONS.iter().copied().collect();
    let missing: Vec<_> = listed.difference(&t.seen).collect();
    assert!(missing.is_empty(), "listed transitions no case exercises: {missing:?}");
}

#[test]
fn unexpected_pairs_land_in_failure_naming_both() {
    let cases = [
        (State::Init, Input::Tick { now: 1 }),
        (State::Polling { next: 0 }, Input::Promoted(Ok(()))),
        (
            State::Stopped,
            Input::Start {
                now: 0,
                config: config(),
            },
        ),
        (State::Following { leader: None }, Input::Status(primary(1))),
    ];
    for (state, input) in cases {
        let mut m = Machine::restore(state.clone(), leading());
        m.step(input.clone());
        assert_eq!(
            m.state(),
            &State::Failure {
                state: Box::new(state),
                input: Box::new(input)
            }
        );
        assert_eq!(m.poll_next_message(), None);
        assert!(m.is_terminal());
        let text = format!("{:?}", m.state());
        assert!(text.starts_with("Failure { state: "), "{text}");
    }
}

#[test]
fn an_unlisted_move_is_a_failure_too() {
    // An epoch lower than one already acted under (S2) would send the
    // machine back to campaigning from FindingLeader, which no legitimate
    // world causes; the step refuses the move.
    let mut ctx = follower();
    ctx.highest_epoch = Epoch(150);
    let mut m = Machine::restore(State::FindingLeader, ctx);
    m.step(Input::Leader(Ok(Some(leader("arbiter-1", 100)))));
    assert_eq!(m.state().name(), "Failure");
    assert_eq!(m.poll_next_message(), None, "a failed step issues nothing");
}

#[test]
fn machine_md_shows_exactly_the_transitions_in_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/MACHINE.md");
    let doc = std::fs::read_to_string(path).unwrap_or_default();
    let block = format!("```mermaid\n{}```", mermaid());
    assert!(
        doc.contains(&block),
        "MACHINE.md is out of date with machine::TRANSITIONS; its diagram must be:\n{block}"
    );
}

/// Redis answers `FAILOVER TO` at once and hands over afterwards (writes
/// paused, the target catches up, then the roles swap). Found in a real
/// recording: the leader saw the old primary still primary and wrote it
/// back into the record. It now waits, polling at the fast interval,
/// until the target is primary or the failover timeout passes.
#[test]
fn a_handover_in_flight_is_waited_for_not_undone() {
    let after_switchover = |now: u64| {
        polled(move |c| {
            c.now = now;
            c.record = Some(GroupRecord {
                epoch: Epoch(100),
                primary: "r2".into(),
                run_id: None,
                lost_data: false,
            });
            c.handover = Some(("r1".into(), "r2".into(), 1000 + 5000, "run".into()));
        })
    };
    // Mid-handover: no decision, the next look soon.
    let mut m = Machine::restore(State::Polling { next: 2 }, after_switchover(1200));
    m.step(Input::Status(replica_of(1)));
    assert_eq!(m.state().name(), "Leading");
    assert_eq!(m.poll_next_message(), wait(1300));
    assert!(m.context().handover.is_some());

    // The record write a decision starts with, naming `primary`.
    let record_of = |primary: &str| {
        Some(Output::Publish {
            epoch: Epoch(100),
            record: GroupRecord {
                epoch: Epoch(100),
                primary: primary.into(),
                run_id: Some("run".into()),
                lost_data: false,
            },
        })
    };

    // Past the timeout Redis has aborted: the old primary goes on, and the
    // record says so again.
    let mut m = Machine::restore(State::Polling { next: 2 }, after_switchover(6000));
    m.step(Input::Status(replica_of(1)));
    assert_eq!(m.context().handover, None);
    assert_eq!(m.poll_next_message(), record_of("r1"));

    // The old primary is another process than the one that accepted the
    // FAILOVER (a new run id): that handover is over, and the leader
    // decides at once instead of waiting (here it adopts the primary r2
    // follows, which kept its data).
    let mut ctx = after_switchover(1200);
    ctx.handover = Some(("r1".into(), "r2".into(), 6000, "an older run".into()));
    let mut m = Machine::restore(State::Polling { next: 2 }, ctx);
    m.step(Input::Status(replica_of(1)));
    assert_eq!(m.context().handover, None);
    assert_eq!(m.poll_next_message(), record_of("r1"), "acts instead of waiting");

    // Done: the target is primary, and the handover is forgotten.
    let mut ctx = after_switchover(1400);
    ctx.views.get_mut("r2").unwrap().observe(1400, primary(20));
    ctx.views.get_mut("r1").unwrap().observe(1400, replica_of(2));
    let mut m = Machine::restore(State::Polling { next: 2 }, ctx);
    m.step(Input::Status(replica_of(1)));
    assert_eq!(m.context().handover, None);
    // A repoint keeps the run id the record holds (here none).
    let mut repoint_record = record_of("r2");
    if let Some(Output::Publish { record, .. }) = repoint_record.as_mut() {
        record.run_id = None;
    }
    assert_eq!(
        m.poll_next_message(),
        repoint_record,
        "r3 still follows r1: repointed under a fresh record write"
    );
}

#[test]
fn a_recorded_primary_restarted_at_offset_zero_while_a_node_is_silent_is_looked_at_again_soon() {
    // Seed 9646: a leader new to the group finds the recorded primary
    // restarted since it was recorded (another run id), empty at offset 0,
    // while r2 does not answer: r2 may be a replica holding what r1 lost,
    // and resyncs about a second after it reaches r1. The next poll comes
    // after fast_check_interval_ms, not check_interval_ms.
    let ctx = |r2: Result<NodeStatus, RedisError>| {
        polled(|c| {
            c.record.as_mut().unwrap().run_id = Some("recorded-run".into());
            c.views.get_mut("r1").unwrap().observe(1000, primary(0));
            c.views.get_mut("r2").unwrap().observe(1000, r2);
        })
    };
    let fast = Settings::default().fast_check_interval_ms;
    let mut m = Machine::restore(State::Polling { next: 2 }, ctx(Err(RedisError::Timeout)));
    m.step(Input::Status(replica_of(1)));
    assert_eq!(m.state().name(), "Leading");
    assert_eq!(m.poll_next_message(), wait(1000 + fast));
    // Every node answering: the usual interval.
    let mut m = Machine::restore(State::Polling { next: 2 }, ctx(replica_of(1)));
    m.step(Input::Status(replica_of(1)));
    assert_eq!(m.poll_next_message(), wait(2000));
}

#[test]
fn a_loss_the_record_lacks_is_noted_and_looked_at_again_soon() {
    // Seed 20071: the leader found r1 (recorded) lost its data and can do
    // nothing yet (r2 and r3 do not answer). It writes the mark into the
    // record, so that a successor inherits it, and looks again after
    // fast_check_interval_ms: the replicas may resync from r1 any moment.
    let ctx = polled(|c| {
        for n in ["r2", "r3"] {
            c.views.get_mut(n).unwrap().observe(1000, Err(RedisError::Timeout));
        }
        c.views.get_mut("r1").unwrap().lost_data = true;
    });
    let mut m = Machine::restore(State::Polling { next: 2 }, ctx);
    m.step(Input::Status(Err(RedisError::Timeout)));
    let Some(Output::Publish { record, .. }) = m.poll_next_message() else {
        panic!("expected the record write, got {:?}", m.state());
    };
    assert!(record.lost_data && record.primary == "r1", "{record:?}");
    m.step(Input::Published(Ok(true)));
    assert_eq!(m.state().name(), "Leading");
    let fast = Settings::default().fast_check_interval_ms;
    assert_eq!(m.poll_next_message(), wait(m.context().now + fast));
    assert!(m.context().record.as_ref().is_some_and(|r| r.lost_data));
}

/// The checks mutation testing showed missing (`scripts/mutants`).
#[path = "machine/mutants.rs"]
mod mutants;
