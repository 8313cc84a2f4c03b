//! A sweep that finds a real, two-fault bug, shrinks it, and replays it.
//!
//! The system: a client that must apply 5 increments to a counter service
//! exactly once. Calls can time out, so the client retries with the same
//! request id, and the server deduplicates by id. The server persists its
//! counter value on every increment, but keeps the set of seen ids in
//! memory only. That is the bug: if a reply is lost *after* the increment
//! was applied, and the server restarts before the retry arrives, the retry
//! is applied a second time. Either fault alone is harmless.
//!
//! Run: `cargo run --release -p rehearse --example counter`
//! (`-- --fixed` sweeps the corrected server, which persists the ids too;
//! `REHEARSE_REPLAY=target/rehearse/counter/seed-79.ron` before it re-runs
//! that saved seed against the corrected server and says where it now
//! goes another way.)

use std::collections::BTreeSet;
use std::time::Duration;

use rehearse::{Failure, Faulty, InjectFault, Recorder, Replayer, Sim, Sweep};
use serde::{Deserialize, Serialize};

/// The client's world: ids and the network.
#[rehearse::world]
pub trait Counter {
    /// A fresh request id.
    fn new_request_id(&self) -> u64;
    /// Asks the server to add 1, once per id; returns the new value.
    fn increment(&mut self, id: u64) -> Result<u64, NetError>;
    /// The server's current value.
    fn read(&mut self) -> Result<u64, NetError>;
}

/// What the network can do to a call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum NetError {
    /// No reply in time (the request may or may not have been applied).
    Timeout,
}

impl InjectFault for NetError {
    fn inject_fault(_point: &str, _sim: &Sim) -> Self {
        Self::Timeout
    }
}

// ---------------------------------------------------------------- client
/// The sans-IO client: what it wants done, and what it learned.
#[derive(Debug)]
enum Output {
    NewId,
    Increment { id: u64 },
    Read,
}

#[derive(Debug)]
enum Input {
    Start,
    Id(u64),
    Incremented(Result<u64, NetError>),
    Value(Result<u64, NetError>),
}

#[derive(Debug, PartialEq)]
enum State {
    NeedId,
    Sending { id: u64, attempt: u32 },
    Checking { attempt: u32 },
    Done,
    Failed(String),
}

const INCREMENTS: u64 = 5;
const ATTEMPTS: u32 = 4;

struct Client {
    state: State,
    acked: u64,
    outbox: Option<Output>,
}

impl Client {
    fn new() -> Self {
        Self {
            state: State::NeedId,
            acked: 0,
            outbox: None,
        }
    }

    fn step(&mut self, input: Input) {
        let (state, out) = match (std::mem::replace(&mut self.state, State::Done), input) {
            (State::NeedId, Input::Start) => (State::NeedId, Some(Output::NewId)),
            (State::NeedId, Input::Id(id)) => (State::Sending { id, attempt: 1 }, Some(Output::Increment { id })),
            (State::Sending { .. }, Input::Incremented(Ok(_))) => {
                self.acked += 1;
                if self.acked == INCREMENTS {
                    (State::Checking { attempt: 1 }, Some(Output::Read))
                } else {
                    (State::NeedId, Some(Output::NewId))
                }
            }
            (State::Sending { id, attempt }, Input::Incremented(Err(_))) if attempt < ATTEMPTS => (
                State::Sending {
                    id,
                    attempt: attempt + 1,
                },
                Some(Output::Increment { id }),
            ),
            (State::Sending { id, .. }, Input::Incremented(Err(e))) => {
                (State::Failed(format!("gave up on request {id}: {e:?}")), None)
            }
            (State::Checking { .. }, Input::Value(Ok(v))) if v == self.acked => (State::Done, None),
            (State::Checking { .. }, Input::Value(Ok(v))) => (
                State::Failed(format!(
                    "exactly-once violated: {} increments acknowledged, counter is {v}",
                    self.acked
                )),
                None,
            ),
            (State::Checking { attempt }, Input::Value(Err(_))) if attempt < ATTEMPTS => {
                (State::Checking { attempt: attempt + 1 }, Some(Output::Read))
            }
            (State::Checking { .. }, Input::Value(Err(e))) => (State::Failed(format!("gave up reading: {e:?}")), None),
            (state, input) => (State::Failed(format!("unexpected {input:?} in {state:?}")), None),
        };
        self.state = state;
        self.outbox = out;
    }

    fn poll_next_message(&mut self) -> Option<Output> {
        self.outbox.take()
    }
}

/// The driver loop, shared by the simulation and the replay.
fn drive(world: &mut impl Counter) -> Result<(), Failure> {
    let mut client = Client::new();
    client.step(Input::Start);
    for _ in 0..1000 {
        let Some(out) = client.poll_next_message() else { break };
        let input = match out {
            Output::NewId => Input::Id(world.new_request_id()),
            Output::Increment { id } => Input::Incremented(world.increment(id)),
            Output::Read => Input::Value(world.read()),
        };
        client.step(input);
    }
    match &client.state {
        State::Done => Ok(()),
        State::Failed(why) if why.starts_with("gave up") => Ok(()), // unavailability is allowed
        State::Failed(why) => Err(Failure::new(why.clone())),
        other => Err(Failure::new(format!("stuck: client ended in {other:?}"))),
    }
}

// ---------------------------------------------------------------- simulated world
/// The server and the network, simulated.
struct SimNet {
    sim: Sim,
    /// Persisted across restarts.
    value: u64,
    /// In memory only (the bug), unless `fixed`.
    seen: BTreeSet<u64>,
    persisted_seen: BTreeSet<u64>,
    fixed: bool,
    ids: std::cell::Cell<u64>,
}

impl SimNet {
    fn new(sim: Sim, fixed: bool) -> Self {
        Self {
            sim,
            value: 0,
            seen: BTreeSet::new(),
            persisted_seen: BTreeSet::new(),
            fixed,
            ids: std::cell::Cell::new(100),
        }
    }

    /// Each request takes some virtual time, and the server may restart
    /// before handling it.
    fn deliver(&mut self) {
        self.sim.advance(Duration::from_micros(500 + self.sim.below(2000)));
        if self.sim.fault("server::restart") {
            self.seen = if self.fixed {
                self.persisted_seen.clone()
            } else {
                BTreeSet::new()
            };
        }
    }
}

impl Counter for SimNet {
    fn new_request_id(&self) -> u64 {
        // Ids come from the world, so a replay sees the same ones.
        let id = self.ids.get();
        self.ids.set(id + 1);
        id
    }
    fn increment(&mut self, id: u64) -> Result<u64, NetError> {
        // The bug's precondition, noted as it arises (steering forks from
        // here, just before the restart that may or may not come): a retry
        // of a request the server already applied, its reply lost. The
        // corrected server deduplicates it whatever happens next.
        rehearse::sometimes!(
            "counter: a retry of a request the server already applied",
            self.persisted_seen.contains(&id)
        );
        self.deliver();
        if self.seen.insert(id) {
            self.value += 1;
            self.persisted_seen.insert(id);
        }
        Ok(self.value)
    }
    fn read(&mut self) -> Result<u64, NetError> {
        self.deliver();
        Ok(self.value)
    }
}

/// One seed: the client against a faulty network, every call recorded
/// (or, for measuring what recording costs, none).
pub fn run(sim: &mut Sim, fixed: bool, record: bool) -> Result<(), Failure> {
    let net = Faulty::new(SimNet::new(sim.clone(), fixed), sim.clone());
    let tape = if record { sim.tape() } else { rehearse::Tape::disabled() };
    let mut world = Recorder::new(net, tape);
    drive(&mut world)
}

/// Sweeps 2000 seeds, prints the report, and replays the shrunk failure.
pub fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fixed = std::env::args().any(|a| a == "--fixed");
    let report = Sweep::new(if fixed { "counter-fixed" } else { "counter" })
        .seeds(0..2000)
        .shrink_limit(1)
        .quiet()
        .run(|sim| run(sim, fixed, true));
    if let Some(rerun) = &report.rerun {
        // REHEARSE_REPLAY or REHEARSE_SEED re-ran a saved seed: the sweep has
        // said how the new run compares with the saved one.
        return match &rerun.failure {
            None => Ok(()),
            Some(f) => Err(f.message.clone().into()),
        };
    }
    print!("{report}");
    if fixed {
        report.assert_ok();
        return Ok(());
    }
    // The first failure listed is the smallest as found, shrunk.
    let Some(f) = report.failures.first() else {
        return Err("the sweep did not find the bug".into());
    };
    let shrunk = f.shrunk.as_ref().ok_or("the failure was not shrunk")?;
    let lowest = report.failed_seeds.first().map_or(f.seed, |s| s.seed);
    let original = rehearse::Trace::read(&f.trace)?.calls().len();
    let minimal = rehearse::Trace::read(shrunk)?;
    if minimal.calls().len() > 20 {
        return Err(format!("the shrunk scenario still has {} calls", minimal.calls().len()).into());
    }
    println!(
        "\nfirst failing seed: {} (found after {} seeds); the smallest, seed {}: {} calls, shrunk to {} calls:\n",
        lowest,
        lowest + 1,
        f.seed,
        original,
        minimal.calls().len()
    );
    for call in minimal.calls() {
        println!("  {}", call.to_line());
    }

    // The shrunk scenario replays with the Replayer, without the simulation,
    // and the client fails the same way.
    let mut replay = Replayer::open(shrunk)?;
    let replayed = drive(&mut replay);
    replay.finish()?;
    println!("\nreplaying {} with Replayer: {replayed:?}", shrunk.display());
    match replayed {
        Err(e) if e.kind() == f.kind => Ok(()),
        other => Err(format!("the replay did not fail the same way: {other:?}").into()),
    }
}
