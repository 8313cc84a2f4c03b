//! [`IoCore`] maps the machine's outputs to world calls and the answers
//! back to inputs; [`Driver`] is the loop a real process, a replay and a
//! simulation all share.
//!
//! The loop's contract, in order:
//! 1. feed `Start` (the world's time and configuration) to the machine;
//! 2. after every `step`, take the one output `poll_next_message` gives and
//!    answer it through `IoCore::handle`, which makes exactly the world
//!    calls that output needs;
//! 3. feed the answer back with `step`, and repeat until the machine is
//!    terminal, the caller's condition holds, or the step limit is hit.
//!
//! The machine never waits on its own: idleness is the `Wait` output, which
//! the world answers when the next tick is due. That is what makes a run
//! replayable: every wait, like every other call, is on the tape.

use crate::machine::{Input, Machine, Output};
use crate::types::Wake;
use crate::world::World;

/// Why an output could not be turned into an input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IoCoreError {
    /// The world gave no configuration to start with.
    #[error("the world gave no configuration at start (check_config returned None)")]
    NoConfig,
    /// The machine asked for a node it has no address for (a bug).
    #[error("output {0} names a node without an address")]
    NoAddress(String),
}

/// Performs the machine's outputs against a world.
#[derive(Debug)]
pub struct IoCore<W> {
    world: W,
}

fn addr(addr: &str, output: &Output) -> Result<(), IoCoreError> {
    if addr.is_empty() {
        return Err(IoCoreError::NoAddress(format!("{output:?}")));
    }
    Ok(())
}

impl<W: World> IoCore<W> {
    /// Wraps a world.
    pub fn new(world: W) -> Self {
        Self { world }
    }

    /// The world.
    pub fn world(&self) -> &W {
        &self.world
    }

    /// The world, mutably.
    pub fn world_mut(&mut self) -> &mut W {
        &mut self.world
    }

    /// Unwraps the world.
    pub fn into_world(self) -> W {
        self.world
    }

    /// The `Start` input: the world's time and initial configuration.
    pub fn start(&mut self) -> Result<Input, IoCoreError> {
        let now = self.world.now();
        let config = self.world.check_config().ok_or(IoCoreError::NoConfig)?;
        Ok(Input::Start { now, config })
    }

    /// Performs one output and returns the input that answers it.
    pub fn handle(&mut self, output: Output) -> Result<Input, IoCoreError> {
        let w = &mut self.world;
        Ok(match &output {
            Output::GenNodeId => Input::NodeId(w.gen_node_id(Some("arbiter".into()))),
            Output::CheckClusterEnabled { addr: a } => {
                addr(a, &output)?;
                Input::ClusterEnabled(w.is_cluster_enabled(a))
            }
            Output::CreateNode { instance } => Input::Created(w.create_node(instance.clone())),
            Output::GetLeader => Input::Leader(w.leader()),
            Output::CheckElection => Input::Election(w.check_election_notification()),
            Output::CheckConfig => Input::Config(w.check_config()),
            Output::CheckRequests => Input::Cluster(w.check_cluster_notifications()),
            Output::ReadRecord { linearizable } => Input::Record(w.read_record(*linearizable)),
            Output::PollNode { addr: a } => {
                addr(a, &output)?;
                Input::Status(w.node_status(a))
            }
            Output::Publish { epoch, record } => Input::Published(w.publish(*epoch, record)),
            Output::Promote { addr: a, epoch } => {
                addr(a, &output)?;
                Input::Promoted(w.promote(a, *epoch))
            }
            Output::Repoint {
                addr: a,
                primary,
                epoch,
            } => {
                addr(a, &output)?;
                addr(primary, &output)?;
                Input::Repointed(w.repoint(a, primary, *epoch))
            }
            Output::Switchover {
                primary,
                target,
                timeout_ms,
                epoch,
            } => {
                addr(primary, &output)?;
                addr(target, &output)?;
                Input::SwitchedOver(w.failover(primary, target, *timeout_ms, *epoch))
            }
            Output::Wait { until } => match w.sleep_until(*until) {
                Wake::Tick(now) => Input::Tick { now },
                Wake::Shutdown(_) => Input::Shutdown,
            },
            Output::Resign { candidacy } => Input::Resigned(w.resign(candidacy)),
            Output::ReadHeartbeat { leader } => Input::Heartbeat(w.leader_heartbeat(leader)),
            Output::Depose { leader, revision } => Input::Deposed(w.depose(leader, *revision)),
        })
    }
}

/// Why a drive stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The machine reached `Stopped`, `Refused` or `Failure`.
    Terminal,
    /// The caller's condition held.
    Condition,
}

/// Why a drive failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriveError {
    /// The step limit was reached first.
    #[error("step limit of {0} reached before the machine stopped or the condition held")]
    StepLimit(u64),
    /// A live machine gave no output (a bug: it would wait forever).
    #[error("the machine is in {0} and gave no output")]
    Stuck(String),
    /// An output could not be performed.
    #[error(transparent)]
    Io(#[from] IoCoreError),
}

/// The machine, its world, and the loop between them.
#[derive(Debug)]
pub struct Driver<W> {
    machine: Machine,
    io: IoCore<W>,
    steps: u64,
    started: bool,
    resumed: bool,
    outputs: Vec<Output>,
    /// The last step's move: (from state, input, to state).
    last_move: Option<(&'static str, &'static str, &'static str)>,
}

impl<W: World> Driver<W> {
    /// A fresh machine driven against `world`.
    pub fn new(world: W) -> Self {
        Self::with_machine(world, Machine::new())
    }

    /// `machine` (fresh, in `Init`) driven against `world`.
    pub fn with_machine(world: W, machine: Machine) -> Self {
        Self {
            machine,
            io: IoCore::new(world),
            steps: 0,
            started: false,
            resumed: false,
            outputs: Vec::new(),
            last_move: None,
        }
    }

    /// `machine`, rebuilt between two steps of an earlier drive
    /// ([`Machine::from_snapshot`]), driven on against `world`: no `Start`;
    /// the first step answers the machine's pending output.
    pub fn resume(world: W, machine: Machine) -> Self {
        Self {
            started: true,
            resumed: true,
            ..Self::with_machine(world, machine)
        }
    }

    /// True for a driver made by [`Driver::resume`].
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    /// The machine.
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// The world.
    pub fn world(&self) -> &W {
        self.io.world()
    }

    /// The world, mutably.
    pub fn world_mut(&mut self) -> &mut W {
        self.io.world_mut()
    }

    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Every output the machine issued, in order (the decisions).
    pub fn outputs(&self) -> &[Output] {
        &self.outputs
    }

    /// Performs one step: `Start` the first time, then the pending output
    /// and its answer. Returns `Some(Stop::Terminal)` once the machine is
    /// terminal (and does nothing more).
    pub fn step_once(&mut self) -> Result<Option<Stop>, DriveError> {
        if self.machine.is_terminal() {
            return Ok(Some(Stop::Terminal));
        }
        let input = if self.started {
            let output = self
                .machine
                .poll_next_message()
                .ok_or_else(|| DriveError::Stuck(self.machine.state().name().to_string()))?;
            self.outputs.push(output.clone());
            self.io.handle(output)?
        } else {
            self.started = true;
            self.io.start()?
        };
        let (from, name) = (self.machine.state().name(), input.name());
        self.machine.step(input);
        self.last_move = Some((from, name, self.machine.state().name()));
        self.steps += 1;
        Ok(None)
    }

    /// The last step's move, `(from state, input, to state)` by variant
    /// name: what coverage of [`TRANSITIONS`](crate::machine::TRANSITIONS)
    /// counts.
    pub fn last_move(&self) -> Option<(&'static str, &'static str, &'static str)> {
        self.last_move
    }

    /// Forgets the outputs kept so far (long simulations keep memory flat).
    pub fn clear_outputs(&mut self) {
        self.outputs.clear();
    }

    /// Drives until the machine is terminal or `done` holds (checked after
    /// every step, before the next world call), at most `max_steps` steps.
    pub fn run_until(&mut self, max_steps: u64, mut done: impl FnMut(&Machine) -> bool) -> Result<Stop, DriveError> {
        let limit = self.steps + max_steps;
        loop {
            if self.machine.is_terminal() {
                return Ok(Stop::Terminal);
            }
            if self.started && done(&self.machine) {
                return Ok(Stop::Condition);
            }
            if self.steps >= limit {
                return Err(DriveError::StepLimit(max_steps));
            }
            self.step_once()?;
        }
    }
}

impl Driver<rehearse::Replayer> {
    /// Replays the recording until every recorded call is consumed (or the
    /// machine ends). A divergence panics inside the world call, as every
    /// replay does.
    pub fn run_to_end_of_recording(&mut self, max_steps: u64) -> Result<Stop, DriveError> {
        let watch = self.world().clone();
        self.run_until(max_steps, |_| watch.position() == watch.len())
    }
}
