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
//!
//! The files: the vocabulary ([`State`], [`Input`], [`Output`]), the
//! knowledge the states share ([`Context`], [`NodeView`], [`Watch`]), the table of
//! moves ([`TRANSITIONS`], [`mermaid`]), the pure decisions ([`decide`]),
//! the machine as data between two steps ([`Snapshot`]),
//! and `step`'s handlers, one file per phase: `startup` (identity, the
//! cluster-mode check, the election entry), `election` (who leads),
//! `round` (a leader's poll round and its decision), `acting` (carrying a
//! plan out) and `idle` (waiting for the next tick, shutdown).

#[macro_use]
mod planted;

mod acting;
mod context;
pub mod decide;
mod depose;
mod election;
mod idle;
mod input;
mod output;
mod round;
mod snapshot;
mod startup;
mod state;
mod transitions;
mod view;
mod watch;

pub use context::Context;
pub use decide::{Blocked, Plan};
pub use input::Input;
pub use output::Output;
pub use planted::Planted;
pub use snapshot::Snapshot;
pub use state::State;
pub use transitions::{TRANSITIONS, mermaid};
pub use view::NodeView;
pub use watch::{WATCH_GAP_INTERVALS, Watch};

use crate::types::{GroupConfig, Millis};

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

/// Something the machine's own bookkeeping rules out happened anyway (a
/// bug, or a [`Machine::restore`]d state its context does not fit):
/// `step` lands in [`State::Failure`] naming the state and the input,
/// rather than acting on a made-up value. The variant says which
/// assumption broke, for the reader of the code that returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Impossible {
    /// A state that acts for the leader, entered without an epoch.
    NotLeading,
    /// A node name that is not in the configuration.
    UnknownNode,
    /// A state whose plan is of another kind than the state carries out.
    WrongPlan,
    /// A node the leader acted on just now without a status in hand.
    Unseen,
    /// A plan that keeps the recorded primary, without a record.
    NoRecord,
    /// A configuration with no nodes: `config::load` refuses fewer than
    /// two, so only a caller that builds a [`GroupConfig`] by hand can
    /// start a machine on one, and there is no group to arbitrate.
    NoNodes,
}

/// What a handler returns: the next state, or the assumption that broke.
type Moved = Result<State, Impossible>;

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

    /// A fresh machine with planted bugs switched on.
    #[cfg(feature = "planted-bugs")]
    pub fn with_bugs(bugs: impl IntoIterator<Item = crate::types::Bug>) -> Self {
        let mut m = Self::new();
        m.ctx.planted = Planted::new(bugs);
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

    /// Moves the machine with one input; returns the new state.
    pub fn step(&mut self, input: Input) -> &State {
        let from = std::mem::replace(&mut self.state, State::Init);
        let from_name = from.name();
        let input_name = input.name();
        let next = match self.transition(from.clone(), input.clone()) {
            Ok(next)
                if matches!(next, State::Failure { .. })
                    || transitions::is_listed(from_name, input_name, next.name()) =>
            {
                next
            }
            // An unlisted move, or an impossible one: no output leaves.
            Ok(_) | Err(_) => {
                self.outbox = None;
                State::Failure {
                    state: Box::new(from),
                    input: Box::new(input),
                }
            }
        };
        self.state = next;
        &self.state
    }

    /// Hands `(state, input)` to the handler of `state`'s phase.
    fn transition(&mut self, state: State, input: Input) -> Moved {
        match state {
            State::Init
            | State::Identifying
            | State::CheckingNodes { .. }
            | State::Campaigning
            | State::FindingLeader
            | State::Candidate => self.on_startup(state, input),
            State::Following { .. } | State::Leading { .. } | State::Resigning => self.on_idle(state, input),
            State::CheckingElection | State::LoadingRecord => Ok(self.on_election(state, input)),
            State::CheckingConfig | State::CheckingRequests | State::Polling { .. } => self.on_round(state, input),
            State::CheckingLeader | State::Deposing => self.on_depose(state, input),
            State::Publishing { .. }
            | State::Promoting { .. }
            | State::Repointing { .. }
            | State::Detaching { .. }
            | State::SwitchingOver { .. } => {
                // Only a leader carries a plan out.
                let epoch = self.ctx.epoch.ok_or(Impossible::NotLeading)?;
                self.on_acting(state, input, epoch)
            }
            State::Stopped | State::Refused { .. } | State::Failure { .. } => Ok(unexpected(state, input)),
        }
    }

    fn emit(&mut self, output: Output) {
        debug_assert!(self.outbox.is_none(), "an output was not polled: {:?}", self.outbox);
        self.outbox = Some(output);
    }

    /// The address of the configured node `name`.
    fn addr(&self, name: &str) -> Result<String, Impossible> {
        self.ctx
            .config
            .node(name)
            .map(|n| n.addr.clone())
            .ok_or(Impossible::UnknownNode)
    }
}

/// An input the state cannot take: a bug (S9).
fn unexpected(state: State, input: Input) -> State {
    State::Failure {
        state: Box::new(state),
        input: Box::new(input),
    }
}
