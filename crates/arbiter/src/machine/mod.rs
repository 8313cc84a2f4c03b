//! The controller's core: a pure state machine.
//!
//! Contract (as quinn-proto's): no I/O, no clock, no randomness, no
//! `HashMap` iteration. Everything it learns arrives as an [`Input`]
//! (time included, as [`Input::Tick`]); everything it wants done leaves as
//! an [`Output`] from [`Machine::poll_next_message`]. [`Machine::step`] is
//! the one place that decides; the helpers in [`decide`] only compute.
//!
//! Every move the machine can make is listed in [`TRANSITIONS`]; `step`
//! checks its own moves against the list, so an unlisted move, like an
//! unexpected input, lands in [`State::Failure`] naming the state and the
//! input (invariant S9). `MACHINE.md` is generated from the same list.

pub mod decide;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::types::{
    Bug, Candidacy, ClusterEvent, ElectionError, ElectionEvent, GroupConfig, GroupRecord, Leader, Millis, NodeId,
    NodeStatus, RedisError,
};
pub use decide::{Blocked, NodeView, Plan};

/// Where the machine is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum State {
    /// Created, not started.
    Init,
    /// Waiting for its instance id.
    Identifying,
    /// Startup check: no node may run in cluster mode (`next` is being asked).
    CheckingNodes {
        /// Index of the node asked.
        next: usize,
    },
    /// Joining the election.
    Campaigning,
    /// Asking who leads.
    FindingLeader,
    /// Idle without an election entry; retries on the next tick.
    Candidate,
    /// Idle, another instance leads (or nobody, for now).
    Following {
        /// The leader, when known.
        leader: Option<Leader>,
    },
    /// Idle, leading under `epoch`.
    Leading {
        /// The leader entry's create revision.
        epoch: i64,
    },
    /// Asking for election news (and keeping the lease alive).
    CheckingElection,
    /// Asking for configuration changes.
    CheckingConfig,
    /// Leader: asking for operator requests.
    CheckingRequests,
    /// New leader: reading the group record.
    LoadingRecord,
    /// Leader: polling node `next`.
    Polling {
        /// Index of the node polled.
        next: usize,
    },
    /// Leader: writing the record under the epoch before acting.
    Publishing {
        /// What will be done once the write succeeds.
        plan: Plan,
    },
    /// Leader: promoting a replica.
    Promoting {
        /// The plan being carried out.
        plan: Plan,
    },
    /// Leader: repointing node `next` of `nodes` to `to`.
    Repointing {
        /// Nodes to repoint.
        nodes: Vec<String>,
        /// Index of the node being repointed.
        next: usize,
        /// The node they are to follow: the primary, or for a
        /// [`Plan::Shelter`] the node holding the most data.
        to: String,
    },
    /// Leader: detaching node `next` of `nodes` (`REPLICAOF NO ONE`) from
    /// a primary that lost its data ([`Plan::Detach`]).
    Detaching {
        /// Nodes to detach.
        nodes: Vec<String>,
        /// Index of the node being detached.
        next: usize,
    },
    /// Leader: `FAILOVER TO` sent to the primary.
    SwitchingOver {
        /// The plan being carried out.
        plan: Plan,
    },
    /// Leaving the election before stopping.
    Resigning,
    /// Stopped for good.
    Stopped,
    /// Refused to start: the group is not one arbiter can manage.
    Refused {
        /// Why, for the operator.
        reason: String,
    },
    /// An input arrived that the current state cannot take: a bug.
    Failure {
        /// The state it arrived in.
        state: Box<Self>,
        /// The input.
        input: Box<Input>,
    },
}

/// What the machine learns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Input {
    /// Start, at the world's time, with the configuration loaded.
    Start {
        /// Now.
        now: Millis,
        /// The configuration.
        config: GroupConfig,
    },
    /// The next check is due.
    Tick {
        /// Now.
        now: Millis,
    },
    /// The instance id.
    NodeId(NodeId),
    /// Whether the node asked runs in cluster mode.
    ClusterEnabled(Result<bool, RedisError>),
    /// The election entry.
    Created(Result<Candidacy, ElectionError>),
    /// The current leader.
    Leader(Result<Option<Leader>, ElectionError>),
    /// Election news.
    Election(Option<ElectionEvent>),
    /// A changed configuration.
    Config(Option<GroupConfig>),
    /// Operator requests.
    Cluster(Option<ClusterEvent>),
    /// The group record.
    Record(Result<Option<GroupRecord>, ElectionError>),
    /// The polled node's status.
    Status(Result<NodeStatus, RedisError>),
    /// Whether the guarded record write happened.
    Published(Result<bool, ElectionError>),
    /// The promotion's result.
    Promoted(Result<(), RedisError>),
    /// The repoint's result.
    Repointed(Result<(), RedisError>),
    /// The `FAILOVER TO` result.
    SwitchedOver(Result<(), RedisError>),
    /// Stop (SIGTERM).
    Shutdown,
    /// The resignation's result.
    Resigned(Result<(), ElectionError>),
}

/// What the machine wants done. Each output is answered by exactly one input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Output {
    /// Ask for an instance id (answer: `NodeId`).
    GenNodeId,
    /// Ask whether a node runs in cluster mode (answer: `ClusterEnabled`).
    CheckClusterEnabled {
        /// The node's address.
        addr: String,
    },
    /// Join the election (answer: `Created`).
    CreateNode {
        /// This instance.
        instance: NodeId,
    },
    /// Ask who leads (answer: `Leader`).
    GetLeader,
    /// Keep the lease alive, ask for election news (answer: `Election`).
    CheckElection,
    /// Ask for a changed configuration (answer: `Config`).
    CheckConfig,
    /// Ask for operator requests (answer: `Cluster`).
    CheckRequests,
    /// Read the group record (answer: `Record`); always linearizable
    /// unless a planted bug says otherwise.
    ReadRecord {
        /// A linearizable read.
        linearizable: bool,
    },
    /// Poll a node (answer: `Status`).
    PollNode {
        /// The node's address.
        addr: String,
    },
    /// Write the record if the epoch still holds (answer: `Published`).
    Publish {
        /// The epoch guarding the write.
        epoch: i64,
        /// The record.
        record: GroupRecord,
    },
    /// `REPLICAOF NO ONE` under `epoch` (answer: `Promoted`).
    Promote {
        /// The node's address.
        addr: String,
        /// The epoch fencing the command.
        epoch: i64,
    },
    /// `REPLICAOF primary` under `epoch` (answer: `Repointed`).
    Repoint {
        /// The node's address.
        addr: String,
        /// The primary's address.
        primary: String,
        /// The epoch fencing the command.
        epoch: i64,
    },
    /// `FAILOVER TO target TIMEOUT` on the primary under `epoch` (answer:
    /// `SwitchedOver`).
    Switchover {
        /// The current primary's address.
        primary: String,
        /// The target replica's address.
        target: String,
        /// Timeout.
        timeout_ms: Millis,
        /// The epoch fencing the command.
        epoch: i64,
    },
    /// Sleep until the next check (answer: `Tick`).
    Wait {
        /// When.
        until: Millis,
    },
    /// Leave the election (answer: `Resigned`).
    Resign {
        /// The entry to remove.
        candidacy: Candidacy,
    },
}

/// Long-lived knowledge the states share.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// The configuration in force.
    pub config: GroupConfig,
    /// This instance.
    pub instance: Option<NodeId>,
    /// The election entry, while it exists.
    pub candidacy: Option<Candidacy>,
    /// The epoch this instance leads under, while it leads.
    pub epoch: Option<i64>,
    /// The leader as last seen, when another instance leads.
    pub leader: Option<Leader>,
    /// The highest epoch ever acted under (S2: never decreases).
    pub highest_epoch: i64,
    /// The latest `Tick`'s time.
    pub now: Millis,
    /// The group record as last read or written.
    pub record: Option<GroupRecord>,
    /// What each node looked like at the last poll, by name.
    pub views: BTreeMap<String, NodeView>,
    /// A requested switchover target, until carried out or refused.
    pub switchover: Option<String>,
    /// When the pending switchover was requested: a request that cannot be
    /// carried out within `failover_timeout_ms` is dropped (L4).
    pub switchover_at: Millis,
    /// A `FAILOVER TO` Redis accepted, as (old primary, target, deadline,
    /// the old primary's run id when it was accepted):
    /// Redis hands over asynchronously (writes paused, the target catches
    /// up, then the roles swap), so until the target reports primary or the
    /// deadline passes (Redis then aborts and the old primary goes on) the
    /// group is in flight and the leader does not act on it.
    pub handover: Option<(String, String, Millis, String)>,
    /// Why the leader is not acting although the group needs it.
    pub blocked: Option<Blocked>,
    /// A record write failed without saying whether etcd applied it (the
    /// reply may have been lost): re-read before deciding anything.
    pub record_unknown: bool,
    /// Planted bugs switched on (inert without the `planted-bugs` feature).
    pub bugs: std::collections::BTreeSet<Bug>,
}

impl Context {
    /// Knowledge of a machine that has seen nothing but `config`.
    pub fn new(config: GroupConfig) -> Self {
        Self {
            config,
            instance: None,
            candidacy: None,
            epoch: None,
            leader: None,
            highest_epoch: 0,
            now: 0,
            record: None,
            views: BTreeMap::new(),
            switchover: None,
            switchover_at: 0,
            handover: None,
            blocked: None,
            record_unknown: false,
            bugs: std::collections::BTreeSet::new(),
        }
    }
}

/// For how long after noticing the data loss the leader keeps looking that
/// often (replicas retry their link about once a second).
pub const URGENT_WINDOW_MS: Millis = 2000;

/// The controller state machine.
#[derive(Debug, Clone)]
pub struct Machine {
    state: State,
    ctx: Context,
    outbox: Option<Output>,
}

fn name_of(config: &GroupConfig, index: usize) -> Option<(String, String)> {
    config.nodes.get(index).map(|n| (n.name.clone(), n.addr.clone()))
}

impl Default for Machine {
    fn default() -> Self {
        Self::new()
    }
}

impl Machine {
    /// A machine in [`State::Init`]; its configuration arrives with
    /// [`Input::Start`].
    pub fn new() -> Self {
        Self::restore(
            State::Init,
            Context::new(GroupConfig {
                nodes: Vec::new(),
                settings: crate::types::Settings::default(),
            }),
        )
    }

    /// A fresh machine with planted bugs switched on (they take effect only
    /// with the `planted-bugs` feature).
    pub fn with_bugs(bugs: impl IntoIterator<Item = Bug>) -> Self {
        let mut m = Self::new();
        m.ctx.bugs = bugs.into_iter().collect();
        m
    }

    /// A machine in any state with any knowledge, with no output pending:
    /// for tests of single transitions and for tools.
    pub fn restore(state: State, context: Context) -> Self {
        Self {
            state,
            ctx: context,
            outbox: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// What the machine knows.
    pub fn context(&self) -> &Context {
        &self.ctx
    }

    /// True in `Stopped`, `Refused` and `Failure`: no output will follow.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.state,
            State::Stopped | State::Refused { .. } | State::Failure { .. }
        )
    }

    /// The next side effect the machine wants, if any. The answer changes
    /// only after a call to [`Machine::step`]; each output must be answered
    /// with its input before the next `step`.
    #[must_use]
    pub fn poll_next_message(&mut self) -> Option<Output> {
        self.outbox.take()
    }

    /// The output [`Machine::poll_next_message`] would return, left in place.
    pub fn peek_next_message(&self) -> Option<&Output> {
        self.outbox.as_ref()
    }

    /// The planted bugs in effect (empty without `planted-bugs`).
    fn active_bugs(&self) -> std::collections::BTreeSet<Bug> {
        if cfg!(feature = "planted-bugs") {
            self.ctx.bugs.clone()
        } else {
            std::collections::BTreeSet::new()
        }
    }

    /// Whether a planted bug is on (always false without `planted-bugs`).
    fn bug(&self, bug: Bug) -> bool {
        cfg!(feature = "planted-bugs") && self.ctx.bugs.contains(&bug)
    }

    /// The epoch commands and record writes carry: negative means "not
    /// fenced" (only the `SkipFencing` planted bug sends that).
    fn fence_epoch(&self) -> i64 {
        let epoch = self.ctx.epoch.unwrap_or_default();
        if self.bug(Bug::SkipFencing) { -epoch } else { epoch }
    }

    fn emit(&mut self, output: Output) {
        debug_assert!(self.outbox.is_none(), "an output was not polled: {:?}", self.outbox);
        self.outbox = Some(output);
    }

    /// Like [`Machine::idle`], but the next look comes soon when the
    /// recorded primary does not answer, or a node lost its data recently and the
    /// leader could not act (no candidate in view, or an attempt failed):
    /// replicas retry their link about once a second and would resync from
    /// the node if it came back empty (S7).
    fn idle_soon_if_urgent(&mut self, idle: State) -> State {
        let now = self.ctx.now;
        // Any node counts for data loss: after a failed record write the
        // record in hand may already name the intended new primary.
        let lost_data = self
            .ctx
            .views
            .values()
            .any(|v| v.lost_data && now.saturating_sub(v.lost_data_at) < URGENT_WINDOW_MS);
        let primary_down = self
            .ctx
            .record
            .as_ref()
            .is_some_and(|r| self.ctx.views.get(&r.primary).is_some_and(|v| v.down_since.is_some()));
        // Blocked on a primary that lost data: its replicas (sheltered or
        // out of reach) must be caught the moment they can be acted on.
        let blocked_on_loss = self.ctx.blocked.is_some()
            && self
                .ctx
                .record
                .as_ref()
                .is_some_and(|r| self.ctx.views.get(&r.primary).is_some_and(|v| v.lost_data));
        // The recorded primary restarted since it was recorded (another run
        // id) and has taken no write since (offset 0) while a node did not
        // answer: that node may be a replica holding what the primary lost
        // (a leader new to the group cannot tell an empty restart from an
        // empty group), and it resyncs about a second after it reaches it.
        let unsure_restart = self.ctx.record.as_ref().is_some_and(|r| {
            let restarted = self
                .ctx
                .views
                .get(&r.primary)
                .and_then(|v| v.status.as_ref())
                .is_some_and(|s| s.offset == 0 && r.run_id.as_deref().is_some_and(|recorded| recorded != s.run_id));
            let silent = self
                .ctx
                .config
                .nodes
                .iter()
                .any(|n| self.ctx.views.get(&n.name).is_none_or(|v| v.status.is_none()));
            restarted && silent
        });
        let urgent = self.ctx.epoch.is_some() && (lost_data || primary_down || blocked_on_loss || unsure_restart);
        if urgent {
            let until = now
                + self
                    .ctx
                    .config
                    .settings
                    .fast_check_interval_ms
                    .min(self.ctx.config.settings.check_interval_ms);
            self.emit(Output::Wait { until });
            return idle;
        }
        self.idle(idle)
    }

    /// Time moves on to `now`. A switchover that could not start within
    /// its timeout is given up (L4): the target is down, lagging or not a
    /// replica of the primary, or etcd or leadership was lost meanwhile.
    fn tick(&mut self, now: Millis) {
        self.ctx.now = now;
        if now.saturating_sub(self.ctx.switchover_at) >= self.ctx.config.settings.failover_timeout_ms {
            self.ctx.switchover = None;
        }
    }

    /// The next tick's `Wait`, from the idle state `idle`.
    fn idle(&mut self, idle: State) -> State {
        let until = self.ctx.now + self.ctx.config.settings.check_interval_ms;
        self.emit(Output::Wait { until });
        idle
    }

    fn idle_state(&self) -> State {
        match (self.ctx.epoch, &self.ctx.candidacy) {
            (Some(epoch), _) => State::Leading { epoch },
            (None, Some(_)) => State::Following {
                leader: self.ctx.leader.clone(),
            },
            (None, None) => State::Candidate,
        }
    }

    fn campaign(&mut self) -> State {
        self.ctx.epoch = None;
        self.ctx.candidacy = None;
        match self.ctx.instance.clone() {
            Some(instance) => {
                self.emit(Output::CreateNode { instance });
                State::Campaigning
            }
            None => State::Candidate,
        }
    }

    fn poll(&mut self, index: usize) -> State {
        match name_of(&self.ctx.config, index) {
            Some((_, addr)) => {
                self.emit(Output::PollNode { addr });
                State::Polling { next: index }
            }
            None => self.act(),
        }
    }

    /// After polling every node: decide and start the plan, or go idle.
    fn act(&mut self) -> State {
        let Some(epoch) = self.ctx.epoch else {
            return self.idle(self.idle_state());
        };
        decide::note_data_loss(
            &self.ctx.config,
            &mut self.ctx.views,
            self.ctx.record.as_ref(),
            self.ctx.now,
        );
        if self.handover_in_flight() {
            let s = &self.ctx.config.settings;
            let until = self.ctx.now + s.fast_check_interval_ms.min(s.check_interval_ms);
            self.emit(Output::Wait { until });
            return State::Leading { epoch };
        }
        let decision = decide::decide(
            &self.ctx.config,
            &self.ctx.views,
            self.ctx.record.as_ref(),
            self.ctx.switchover.as_deref(),
            self.ctx.now,
            &self.active_bugs(),
        );
        match decision {
            Ok(Some(plan)) => {
                // (noting a loss changes nothing of why the leader waits)
                if !matches!(plan, Plan::NoteLoss { .. }) {
                    self.ctx.blocked = None;
                }
                let record = plan.record(epoch, self.ctx.record.as_ref(), &self.ctx.views);
                let epoch = self.fence_epoch();
                self.emit(Output::Publish { epoch, record });
                State::Publishing { plan }
            }
            Ok(None) => {
                self.ctx.blocked = None;
                self.idle_soon_if_urgent(State::Leading { epoch })
            }
            Err(blocked) => {
                self.ctx.blocked = Some(blocked);
                self.idle_soon_if_urgent(State::Leading { epoch })
            }
        }
    }

    /// True while a switchover Redis accepted is still being handed over:
    /// the target still follows the old primary, which still answers as the
    /// same process (no restart since) with its data, and the deadline has
    /// not passed. Clears the handover otherwise: a dead or restarted old
    /// primary ended the handover, and what follows is decided as usual.
    fn handover_in_flight(&mut self) -> bool {
        let Some((from, to, deadline, run_id)) = self.ctx.handover.clone() else {
            return false;
        };
        let from_addr = self.addr(&from);
        let same_process = self
            .ctx
            .views
            .get(&from)
            .is_some_and(|v| !v.lost_data && v.status.as_ref().is_some_and(|s| s.run_id == run_id));
        let waiting = self.ctx.now < deadline
            && same_process
            && self.ctx.views.get(&to).and_then(|v| v.status.as_ref()).is_some_and(
                |s| matches!(&s.role, crate::types::Role::Replica { primary, .. } if *primary == from_addr),
            );
        if !waiting {
            self.ctx.handover = None;
        }
        waiting
    }

    fn addr(&self, name: &str) -> String {
        self.ctx.config.node(name).map(|n| n.addr.clone()).unwrap_or_default()
    }

    /// Repoints `nodes` (reachable ones) to `to`, or goes idle.
    fn repoint(&mut self, nodes: Vec<String>, from: usize, to: String) -> State {
        let primary = self.addr(&to);
        let next = (from..nodes.len()).find(|&i| {
            let view = self.ctx.views.get(&nodes[i]);
            view.is_some_and(NodeView::reachable) && self.addr(&nodes[i]) != primary
        });
        match next {
            Some(i) => {
                let addr = self.addr(&nodes[i]);
                let epoch = self.fence_epoch();
                self.emit(Output::Repoint { addr, primary, epoch });
                State::Repointing { nodes, next: i, to }
            }
            None => self.idle_soon_if_urgent(self.idle_state()),
        }
    }

    /// Detaches the reachable nodes of `nodes` from index `from` on, one
    /// `REPLICAOF NO ONE` at a time, under the fence.
    fn detach(&mut self, nodes: Vec<String>, from: usize) -> State {
        let next = (from..nodes.len()).find(|&i| self.ctx.views.get(&nodes[i]).is_some_and(NodeView::reachable));
        match next {
            Some(i) => {
                let addr = self.addr(&nodes[i]);
                let epoch = self.fence_epoch();
                self.emit(Output::Promote { addr, epoch });
                State::Detaching { nodes, next: i }
            }
            None => self.idle_soon_if_urgent(self.idle_state()),
        }
    }

    fn become_leader(&mut self, leader: &Leader) -> State {
        // S2: never act under an epoch lower than one already acted under.
        if leader.epoch < self.ctx.highest_epoch {
            return self.campaign();
        }
        // What this instance saw of the nodes before is from before a time
        // it did not poll them (it followed, or its record read failed): a
        // role from then may have changed since (another leader repointed
        // the node, S10). Kept (a restart since is evidence), but marked.
        for view in self.ctx.views.values_mut() {
            view.earlier_term = true;
        }
        self.ctx.epoch = Some(leader.epoch);
        self.ctx.highest_epoch = leader.epoch;
        self.ctx.leader = Some(leader.clone());
        self.emit(Output::ReadRecord {
            linearizable: !self.bug(Bug::TrustStaleRead),
        });
        State::LoadingRecord
    }

    fn is_me(&self, leader: &Leader) -> bool {
        self.ctx.instance.as_ref() == Some(&leader.instance)
            && self.ctx.candidacy.as_ref().is_some_and(|c| c.revision == leader.epoch)
    }

    /// Moves the machine with one input; returns the new state.
    pub fn step(&mut self, input: Input) -> &State {
        let from = std::mem::replace(&mut self.state, State::Init);
        let from_name = from.name();
        let input_name = input.name();
        let next = self.transition(from.clone(), input.clone());
        let next = if matches!(next, State::Failure { .. }) || is_listed(from_name, input_name, next.name()) {
            next
        } else {
            self.outbox = None;
            State::Failure {
                state: Box::new(from),
                input: Box::new(input),
            }
        };
        self.state = next;
        &self.state
    }

    fn transition(&mut self, state: State, input: Input) -> State {
        match (state, input) {
            (State::Init, Input::Start { now, config }) => {
                self.ctx.now = now;
                self.ctx.config = config;
                self.emit(Output::GenNodeId);
                State::Identifying
            }
            (State::Identifying, Input::NodeId(id)) => {
                self.ctx.instance = Some(id);
                self.check_node(0)
            }
            (State::CheckingNodes { next }, Input::ClusterEnabled(Ok(true))) => {
                let (name, addr) = name_of(&self.ctx.config, next).unwrap_or_default();
                State::Refused {
                    reason: format!(
                        "node {name} ({addr}) runs in cluster mode; arbiter manages standalone primary/replica groups only"
                    ),
                }
            }
            // Unreachable at startup is not a reason to refuse: the node is
            // checked when it answers a poll as a replica or primary.
            (State::CheckingNodes { next }, Input::ClusterEnabled(Ok(false) | Err(_))) => self.check_node(next + 1),
            (State::Campaigning, Input::Created(Ok(candidacy))) => {
                self.ctx.candidacy = Some(candidacy);
                self.emit(Output::GetLeader);
                State::FindingLeader
            }
            (State::Campaigning, Input::Created(Err(_))) => self.idle(State::Candidate),
            (State::FindingLeader, Input::Leader(Ok(Some(leader)))) if self.is_me(&leader) => {
                self.become_leader(&leader)
            }
            (State::FindingLeader, Input::Leader(result)) => {
                self.ctx.leader = result.ok().flatten();
                self.idle(State::Following {
                    leader: self.ctx.leader.clone(),
                })
            }
            (State::Candidate, Input::Tick { now }) => {
                self.tick(now);
                self.campaign()
            }
            (State::Following { .. } | State::Leading { .. }, Input::Tick { now }) => {
                self.tick(now);
                self.emit(Output::CheckElection);
                State::CheckingElection
            }
            (State::CheckingElection, Input::Election(Some(ElectionEvent::LeaseLost))) => self.campaign(),
            (State::CheckingElection, Input::Election(Some(ElectionEvent::LeaderChanged(Some(leader)))))
                if self.is_me(&leader) && self.ctx.epoch != Some(leader.epoch) =>
            {
                self.become_leader(&leader)
            }
            (State::CheckingElection, Input::Election(Some(ElectionEvent::LeaderChanged(leader)))) => {
                let me = leader.as_ref().is_some_and(|l| self.is_me(l));
                if !me {
                    // Someone else leads: stop acting at once.
                    self.ctx.epoch = None;
                }
                self.ctx.leader = leader;
                self.emit(Output::CheckConfig);
                State::CheckingConfig
            }
            // Nothing new, but the last known leader is this instance while
            // it is not acting (its record read failed): resume leading.
            (State::CheckingElection, Input::Election(None))
                if self.ctx.epoch.is_none() && self.ctx.leader.as_ref().is_some_and(|l| self.is_me(l)) =>
            {
                let leader = self
                    .ctx
                    .leader
                    .clone()
                    .unwrap_or_else(|| unreachable!("checked by the guard"));
                self.become_leader(&leader)
            }
            // A record write's outcome is unknown: read what etcd holds.
            (State::CheckingElection, Input::Election(None)) if self.ctx.epoch.is_some() && self.ctx.record_unknown => {
                self.emit(Output::ReadRecord {
                    linearizable: !self.bug(Bug::TrustStaleRead),
                });
                State::LoadingRecord
            }
            (State::CheckingElection, Input::Election(None)) => {
                self.emit(Output::CheckConfig);
                State::CheckingConfig
            }
            (State::LoadingRecord, Input::Record(Ok(record))) => {
                if record.as_ref().is_some_and(|r| Some(r.epoch) > self.ctx.epoch) {
                    // A newer leader wrote it: this instance is stale (S2).
                    return self.campaign();
                }
                self.ctx.record = record;
                self.ctx.record_unknown = false;
                self.emit(Output::CheckConfig);
                State::CheckingConfig
            }
            (State::LoadingRecord, Input::Record(Err(_))) => {
                // Without the record the leader cannot act safely; retry.
                self.ctx.epoch = None;
                self.idle(State::Following {
                    leader: self.ctx.leader.clone(),
                })
            }
            (State::CheckingConfig, Input::Config(config)) => {
                if let Some(config) = config {
                    self.ctx.views.retain(|name, _| config.node(name).is_some());
                    self.ctx.config = config;
                }
                if self.ctx.epoch.is_some() {
                    self.emit(Output::CheckRequests);
                    State::CheckingRequests
                } else {
                    self.idle(self.idle_state())
                }
            }
            (State::CheckingRequests, Input::Cluster(event)) => {
                if let Some(ClusterEvent::SwitchoverRequested { target }) = event {
                    self.ctx.switchover = Some(target);
                    self.ctx.switchover_at = self.ctx.now;
                }
                self.poll(0)
            }
            (State::Polling { next }, Input::Status(result)) => {
                let now = self.ctx.now;
                if let Some((name, _)) = name_of(&self.ctx.config, next) {
                    self.ctx.views.entry(name).or_default().observe(now, result);
                }
                self.poll(next + 1)
            }
            (State::Publishing { plan }, Input::Published(Ok(true))) => {
                let record = plan.record(
                    self.ctx.epoch.unwrap_or_default(),
                    self.ctx.record.as_ref(),
                    &self.ctx.views,
                );
                let epoch = self.fence_epoch();
                self.ctx.record = Some(record);
                match plan {
                    Plan::Bootstrap { .. } | Plan::Adopt { .. } => self.idle(State::Leading { epoch }),
                    // (the loss stays urgent: its replicas may resync from
                    // the node any moment, so the next round comes soon)
                    Plan::NoteLoss { .. } => self.idle_soon_if_urgent(State::Leading { epoch }),
                    Plan::SettleLoss { .. } => self.idle(State::Leading { epoch }),
                    Plan::Failover { ref to, .. } | Plan::Promote { node: ref to } => {
                        let addr = self.addr(to);
                        self.emit(Output::Promote { addr, epoch });
                        State::Promoting { plan }
                    }
                    Plan::Repoint { nodes } => {
                        let primary = self.ctx.record.as_ref().map(|r| r.primary.clone()).unwrap_or_default();
                        self.repoint(nodes, 0, primary)
                    }
                    Plan::Shelter { nodes, to } => self.repoint(nodes, 0, to),
                    Plan::Detach { nodes, .. } => self.detach(nodes, 0),
                    Plan::Switchover { ref from, ref to } => {
                        let (primary, target) = (self.addr(from), self.addr(to));
                        let timeout_ms = self.ctx.config.settings.failover_timeout_ms;
                        self.emit(Output::Switchover {
                            primary,
                            target,
                            timeout_ms,
                            epoch,
                        });
                        State::SwitchingOver { plan }
                    }
                }
            }
            // The guard failed: another instance leads now (S1).
            (State::Publishing { .. }, Input::Published(Ok(false))) => self.campaign(),
            // etcd unavailable: no promotion without the record (policy for
            // failure 5); the current primary is left as it is.
            (State::Publishing { .. }, Input::Published(Err(_))) => {
                self.ctx.record_unknown = true;
                self.idle_soon_if_urgent(self.idle_state())
            }
            (State::Promoting { plan }, Input::Promoted(Ok(()))) => {
                let primary = match &plan {
                    Plan::Failover { to, .. } | Plan::Promote { node: to } => to.clone(),
                    _ => String::new(),
                };
                let others = self
                    .ctx
                    .config
                    .nodes
                    .iter()
                    .map(|n| n.name.clone())
                    .filter(|n| *n != primary)
                    .collect();
                self.repoint(others, 0, primary)
            }
            // Retried from the record on the next tick.
            (State::Promoting { .. }, Input::Promoted(Err(_))) => self.idle_soon_if_urgent(self.idle_state()),
            (State::Repointing { nodes, next, to }, Input::Repointed(result)) => {
                if result.is_ok() {
                    let primary = self.addr(&to);
                    if let Some(view) = nodes.get(next).and_then(|n| self.ctx.views.get_mut(n)) {
                        view.repointed(&primary);
                    }
                }
                self.repoint(nodes, next + 1, to)
            }
            (State::Detaching { nodes, next }, Input::Promoted(_)) => self.detach(nodes, next + 1),
            (State::SwitchingOver { plan }, Input::SwitchedOver(Ok(()))) => {
                self.ctx.switchover = None;
                let Plan::Switchover { from, to } = plan else {
                    return self.idle(self.idle_state());
                };
                let deadline = self.ctx.now + self.ctx.config.settings.failover_timeout_ms;
                let run_id = self
                    .ctx
                    .views
                    .get(&from)
                    .and_then(|v| v.status.as_ref())
                    .map(|s| s.run_id.clone())
                    .unwrap_or_default();
                self.ctx.handover = Some((from, to.clone(), deadline, run_id));
                let plan = Plan::Adopt { primary: to };
                let record = plan.record(
                    self.ctx.epoch.unwrap_or_default(),
                    self.ctx.record.as_ref(),
                    &self.ctx.views,
                );
                let epoch = self.fence_epoch();
                self.emit(Output::Publish { epoch, record });
                State::Publishing { plan }
            }
            // Redis aborts a failed FAILOVER and keeps the old primary.
            (State::SwitchingOver { .. }, Input::SwitchedOver(Err(_))) => {
                self.ctx.switchover = None;
                self.idle(self.idle_state())
            }
            (State::Candidate | State::Following { .. } | State::Leading { .. }, Input::Shutdown) => {
                self.ctx.epoch = None;
                match self.ctx.candidacy.take() {
                    Some(candidacy) => {
                        self.emit(Output::Resign { candidacy });
                        State::Resigning
                    }
                    None => State::Stopped,
                }
            }
            (State::Resigning, Input::Resigned(_)) => State::Stopped,
            (state, input) => State::Failure {
                state: Box::new(state),
                input: Box::new(input),
            },
        }
    }

    fn check_node(&mut self, index: usize) -> State {
        match name_of(&self.ctx.config, index) {
            Some((_, addr)) => {
                self.emit(Output::CheckClusterEnabled { addr });
                State::CheckingNodes { next: index }
            }
            None => self.campaign(),
        }
    }
}

impl State {
    /// The variant's name, as in [`TRANSITIONS`] and `MACHINE.md`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Init => "Init",
            Self::Identifying => "Identifying",
            Self::CheckingNodes { .. } => "CheckingNodes",
            Self::Campaigning => "Campaigning",
            Self::FindingLeader => "FindingLeader",
            Self::Candidate => "Candidate",
            Self::Following { .. } => "Following",
            Self::Leading { .. } => "Leading",
            Self::CheckingElection => "CheckingElection",
            Self::CheckingConfig => "CheckingConfig",
            Self::CheckingRequests => "CheckingRequests",
            Self::LoadingRecord => "LoadingRecord",
            Self::Polling { .. } => "Polling",
            Self::Publishing { .. } => "Publishing",
            Self::Promoting { .. } => "Promoting",
            Self::Repointing { .. } => "Repointing",
            Self::Detaching { .. } => "Detaching",
            Self::SwitchingOver { .. } => "SwitchingOver",
            Self::Resigning => "Resigning",
            Self::Stopped => "Stopped",
            Self::Refused { .. } => "Refused",
            Self::Failure { .. } => "Failure",
        }
    }
}

impl Input {
    /// The variant's name, as in [`TRANSITIONS`] and `MACHINE.md`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Start { .. } => "Start",
            Self::Tick { .. } => "Tick",
            Self::NodeId(_) => "NodeId",
            Self::ClusterEnabled(_) => "ClusterEnabled",
            Self::Created(_) => "Created",
            Self::Leader(_) => "Leader",
            Self::Election(_) => "Election",
            Self::Config(_) => "Config",
            Self::Cluster(_) => "Cluster",
            Self::Record(_) => "Record",
            Self::Status(_) => "Status",
            Self::Published(_) => "Published",
            Self::Promoted(_) => "Promoted",
            Self::Repointed(_) => "Repointed",
            Self::SwitchedOver(_) => "SwitchedOver",
            Self::Shutdown => "Shutdown",
            Self::Resigned(_) => "Resigned",
        }
    }
}

/// Every move the machine makes: (from state, input, to state). Anything
/// else is a bug and lands in `Failure`.
pub const TRANSITIONS: &[(&str, &str, &str)] = &[
    ("Init", "Start", "Identifying"),
    ("Identifying", "NodeId", "CheckingNodes"),
    ("Identifying", "NodeId", "Campaigning"),
    ("CheckingNodes", "ClusterEnabled", "CheckingNodes"),
    ("CheckingNodes", "ClusterEnabled", "Campaigning"),
    ("CheckingNodes", "ClusterEnabled", "Refused"),
    ("Campaigning", "Created", "FindingLeader"),
    ("Campaigning", "Created", "Candidate"),
    ("FindingLeader", "Leader", "LoadingRecord"),
    ("FindingLeader", "Leader", "Following"),
    ("Candidate", "Tick", "Campaigning"),
    ("Following", "Tick", "CheckingElection"),
    ("Leading", "Tick", "CheckingElection"),
    ("CheckingElection", "Election", "Campaigning"),
    ("CheckingElection", "Election", "LoadingRecord"),
    ("CheckingElection", "Election", "CheckingConfig"),
    ("LoadingRecord", "Record", "CheckingConfig"),
    ("LoadingRecord", "Record", "Campaigning"),
    ("LoadingRecord", "Record", "Following"),
    ("CheckingConfig", "Config", "CheckingRequests"),
    ("CheckingConfig", "Config", "Following"),
    ("CheckingRequests", "Cluster", "Polling"),
    ("Polling", "Status", "Polling"),
    ("Polling", "Status", "Publishing"),
    ("Polling", "Status", "Leading"),
    ("Publishing", "Published", "Leading"),
    ("Publishing", "Published", "Promoting"),
    ("Publishing", "Published", "Repointing"),
    ("Publishing", "Published", "SwitchingOver"),
    ("Publishing", "Published", "Campaigning"),
    ("Promoting", "Promoted", "Repointing"),
    ("Promoting", "Promoted", "Leading"),
    ("Repointing", "Repointed", "Repointing"),
    ("Repointing", "Repointed", "Leading"),
    ("Publishing", "Published", "Detaching"),
    ("Detaching", "Promoted", "Detaching"),
    ("Detaching", "Promoted", "Leading"),
    ("SwitchingOver", "SwitchedOver", "Publishing"),
    ("SwitchingOver", "SwitchedOver", "Leading"),
    ("Candidate", "Shutdown", "Stopped"),
    ("Following", "Shutdown", "Resigning"),
    ("Leading", "Shutdown", "Resigning"),
    ("Resigning", "Resigned", "Stopped"),
];

fn is_listed(from: &str, input: &str, to: &str) -> bool {
    TRANSITIONS.contains(&(from, input, to))
}

/// The state diagram of [`TRANSITIONS`] as Mermaid (what `MACHINE.md` shows).
pub fn mermaid() -> String {
    let mut s = String::from("stateDiagram-v2\n    [*] --> Init\n");
    for (from, input, to) in TRANSITIONS {
        s.push_str(&format!("    {from} --> {to}: {input}\n"));
    }
    s.push_str("    Stopped --> [*]\n    Refused --> [*]\n");
    s.push_str("    note right of Failure: any input a state cannot take (S9)\n");
    s
}
