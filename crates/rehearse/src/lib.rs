//! # rehearse: record the world, replay it exactly, sweep its faults
//!
//! rehearse is a deterministic simulation testing library for sans-IO
//! systems. Its contract: the code under test takes no timestamps, random
//! numbers or I/O from the operating system; it asks a **world** trait for
//! all of them. Because every source of non-determinism crosses that one
//! interface, recording the interface is enough to replay a run exactly,
//! and swapping its implementation is enough to simulate the world.
//!
//! The library has two halves, both driven by `#[rehearse::world]` on your
//! trait ([`world`]):
//!
//! 1. **Record and replay** the real world: [`Recorder`] wraps your real
//!    world and writes every call (name, inputs, output, errors included)
//!    to a [`Tape`]; the tape writes a readable RON **scenario** file from
//!    a background thread; [`Replayer`] plays a scenario back, checks each
//!    call's name and inputs, and reports the first [`Divergence`]
//!    precisely. [`Scenario`] decides per test whether to replay or record.
//! 2. **Simulate** the world: a [`Sim`] is one seeded run (choices, virtual
//!    time, named fault points); [`Faulty`] makes fallible world calls
//!    fail; [`Sweep`] runs thousands of seeds in parallel, saves each
//!    failure as a scenario, checks that it is deterministic, **shrinks**
//!    it, and the minimal scenario replays with [`Replayer`].
//!
//! [`sometimes!`], [`always!`], [`reachable!`] and [`unreachable!`] say
//! what a sweep must explore and must never see ([`assertions`]): the
//! report lists each with its counts, "never hit" included.
//!
//! The scenario file format is `FORMAT.md` in this crate; [`Trace`] reads
//! it and [`TraceError`] names the file, line and column of a bad one.
//! `crates/rehearse/README.md` has the longer story (the `rehearse`
//! command that reads scenario files, costs, environment variables);
//! `crates/rehearse/docs/` has the guide to simulating message-passing
//! systems and the measurements behind shrinking, steering and costs.
//!
//! ## Record, then replay
//!
//! ```
//! use rehearse::{Recorder, Replayer, Tape, Trace};
//!
//! #[rehearse::world]
//! pub trait Clock {
//!     fn now_ms(&self) -> u64;
//!     fn fetch(&mut self, key: &str) -> Result<String, String>;
//! }
//!
//! struct Real;
//! impl Clock for Real {
//!     fn now_ms(&self) -> u64 { 1_700_000 }
//!     fn fetch(&mut self, key: &str) -> Result<String, String> { Ok(key.to_uppercase()) }
//! }
//!
//! let tape = Tape::memory(); // `Tape::create(path)` writes a file instead
//! let mut world = Recorder::new(Real, tape.clone());
//! assert_eq!(world.fetch("a"), Ok("A".to_string()));
//! let t = world.now_ms();
//!
//! let trace = Trace::parse(&tape.contents()).unwrap();
//! let mut replay = Replayer::from_trace(trace);
//! assert_eq!(replay.fetch("a"), Ok("A".to_string())); // checked: same call, same inputs
//! assert_eq!(replay.now_ms(), t);
//! replay.finish().unwrap(); // Err(Divergence) if recorded calls were left over
//! ```
//!
//! ## Let each test record or replay: `Scenario`
//!
//! [`Scenario::open`] reads `REHEARSE=record|replay|auto` (default `auto`):
//! a scenario file that exists is replayed; one that does not is recorded
//! against the real world, so the first run of a new test writes its
//! scenario and later runs replay it without the real systems. Under `CI`,
//! `auto` never records (a missing scenario is an error), and
//! `REHEARSE=record` writes `NAME.ron.new` beside an existing file for
//! review. [`Scenario::open_with`] takes the mode explicitly:
//!
//! ```
//! use rehearse::{Mode, Recorder, Scenario};
//!
//! #[rehearse::world]
//! pub trait Ids {
//!     fn next_id(&mut self) -> u64;
//! }
//! struct Real(u64);
//! impl Ids for Real {
//!     fn next_id(&mut self) -> u64 { self.0 += 7; self.0 }
//! }
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("ids.ron");
//! for run in 0..2 {
//!     match Scenario::open_with(&path, Mode::Auto, false).unwrap() {
//!         Scenario::Record(rec) => {
//!             assert_eq!(run, 0, "the first run records");
//!             let mut world = Recorder::new(Real(0), rec.tape.clone());
//!             assert_eq!(world.next_id(), 7);
//!             rec.tape.finish().unwrap();
//!         }
//!         Scenario::Replay(mut replayer) => {
//!             assert_eq!(run, 1, "the second run replays");
//!             assert_eq!(replayer.next_id(), 7); // from the file, no real world
//!             replayer.finish().unwrap();
//!         }
//!     }
//! }
//! ```
//!
//! ## Simulate: `Sim`, `Faulty`, `Sweep`, shrinking
//!
//! A client appends three items to a store, retrying with the same request
//! id when a call times out; the store deduplicates by id, but keeps the
//! ids it has seen in memory only. A reply lost *after* the append was
//! applied, then a store restart before the retry, appends twice. The
//! simulated store draws its restarts from the fault point
//! `"store::restart"`; [`Faulty`] turns `Store::append` into the fault
//! point `"Store::append"`, failing a call before or after it reaches the
//! store. The sweep finds the bug, shrinks it, and the shrunk scenario
//! replays without the simulation:
//!
//! ```
//! use std::collections::BTreeSet;
//! use std::time::Duration;
//! use rehearse::{Failure, Faulty, InjectFault, Recorder, Replayer, Sim, Sweep};
//!
//! #[rehearse::world]
//! pub trait Store {
//!     /// Appends `item` once per request `id`; the store's length.
//!     fn append(&mut self, id: u64, item: u8) -> Result<usize, Timeout>;
//! }
//!
//! /// A call that got no answer in time.
//! #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
//! pub struct Timeout(String);
//! impl InjectFault for Timeout {
//!     // `Faulty` marks each injected error on the tape (a fault record
//!     // before the call); the text is for the people reading it.
//!     fn inject_fault(point: &str, _sim: &Sim) -> Self { Timeout(format!("injected at {point}")) }
//! }
//!
//! /// The code under test: only the world trait, so it runs unchanged
//! /// against the simulation, a recording, or a replay.
//! fn client(store: &mut impl Store) -> Result<(), Failure> {
//!     let mut len = 0;
//!     for (id, item) in [(1, b'a'), (2, b'b'), (3, b'c')] {
//!         // Up to 5 attempts; a store that never answers is not a bug.
//!         match (0..5).find_map(|_| store.append(id, item).ok()) {
//!             Some(l) => len = l,
//!             None => return Ok(()),
//!         }
//!     }
//!     if len != 3 {
//!         return Err(Failure::new(format!("3 appends acknowledged, the store holds {len}")));
//!     }
//!     Ok(())
//! }
//!
//! /// The simulated store.
//! struct SimStore { sim: Sim, items: Vec<u8>, seen: BTreeSet<u64> }
//! impl Store for SimStore {
//!     fn append(&mut self, id: u64, item: u8) -> Result<usize, Timeout> {
//!         self.sim.advance(Duration::from_millis(1 + self.sim.below(10)));
//!         if self.sim.fault("store::restart") {
//!             self.seen.clear(); // the bug: seen ids are not persisted
//!         }
//!         if self.seen.insert(id) {
//!             self.items.push(item);
//!         }
//!         Ok(self.items.len())
//!     }
//! }
//!
//! let out = tempfile::tempdir().unwrap();
//! let report = Sweep::new("store")
//!     .seeds(0..500)
//!     .out_dir(out.path())
//!     .quiet()
//!     .run(|sim| {
//!         let store = SimStore { sim: sim.clone(), items: Vec::new(), seen: BTreeSet::new() };
//!         // Recorder outermost, so the injected timeouts are on the tape.
//!         let mut world = Recorder::new(Faulty::new(store, sim.clone()), sim.tape());
//!         client(&mut world)
//!     });
//! let found = report.failures.first().expect("the sweep finds the double append");
//! assert!(found.message.contains("the store holds 4"), "{}", found.message);
//! // Saved as found and shrunk: the shrunk run has no more calls.
//! let shrunk = found.shrunk.as_ref().expect("shrunk");
//! let calls = |p| rehearse::Trace::read(p).unwrap().calls().len();
//! assert!(calls(shrunk) <= calls(&found.trace));
//! // The shrunk scenario replays: same calls, same failure, no simulation.
//! let mut replay = Replayer::open(shrunk).unwrap();
//! assert!(client(&mut replay).is_err());
//! replay.finish().unwrap();
//! // `found.repro` is the command line that re-runs this seed alone
//! // (`REHEARSE_SEED=N ...`).
//! ```
//!
//! **Fail at the first violation.** Check invariants as the run goes and
//! return `Err` at once: the shrinker can then cut the calls after the
//! failure too. A run that only checks at its end keeps its full length
//! however few choices remain.
//!
//! **Mark what happened.** A fault point that fires writes a fault mark
//! on the run's tape ([`Sim::fault`]; [`Sim::fault_with`] says what it
//! did), [`Sim::note`] writes a note, and [`Sim::set_node`] tags what
//! follows with a node: a saved scenario shows, between the calls, the
//! faults and events of each node of a simulated cluster, and replays
//! skip them ([`Trace::marks`], [`Mark`]).
//!
//! **Draw so that shrinking works.** Every random decision is a draw from
//! the run's recorded choice sequence ([`Sim::below`], [`Sim::chance`],
//! [`Sim::range`], [`Sim::rng`], [`Sim::fault`]), and the shrinker makes
//! the sequence shorter and its values smaller. Draw so that a choice of 0
//! means "nothing happens" (no fault, the shortest delay, the first
//! option): [`Sim::chance`] is false and [`Sim::below`] is 0 on a zero
//! choice, so a shrunk failure keeps only the events it needs.
//!
//! **Message-passing systems.** [`net`] simulates the network and disks
//! of N sans-IO nodes behind one world trait ([`net::Network`]): FIFO
//! sessions or datagrams, latency, partitions, crashes, pauses, torn
//! writes, each a named fault point; a [`net::Cluster`] drives the nodes,
//! checks invariants after every event and settles the system for a
//! liveness check, and a recording of a run drives fresh nodes again from
//! the file alone.
//!
//! Each type's page has more: [`Sweep`] (seed ranges, time budgets,
//! threads, shards, regressions file, the `REHEARSE_*` variables),
//! [`Sim::fault`] (swarm testing), [`Tape::create`] (file tapes),
//! [`check_determinism`] (a `HashMap` iterated in a run is caught).

/// `inner`, `inner_mut` and `into_inner` of a world wrapper ([`Recorder`],
/// [`Faulty`]) whose wrapped world is its field `inner`.
macro_rules! world_wrapper_accessors {
    ($into_inner_doc:literal) => {
        /// The wrapped world.
        #[inline]
        pub fn inner(&self) -> &W {
            &self.inner
        }

        /// The wrapped world, mutably.
        #[inline]
        pub fn inner_mut(&mut self) -> &mut W {
            &mut self.inner
        }

        #[doc = $into_inner_doc]
        pub fn into_inner(self) -> W {
            self.inner
        }
    };
}

// `#[rehearse::world]` names everything `::rehearse::...`; this lets the
// crate use it on its own traits (`net::Network`).
extern crate self as rehearse;

pub mod assertions;
mod format;
pub mod net;
mod record;
mod replay;
mod ron;
mod sim;
mod sweep;

/// Support for generated code and the workspace's own tests: not public API.
#[doc(hidden)]
pub mod __private;

pub use assertions::{AssertionKind, AssertionSite, AssertionStats};
pub use format::{
    Call, FORMAT_VERSION, Header, Mark, MarkKind, RunFailure, Trace, TraceError, TraceErrorKind, TraceReader,
    TraceRecord,
};
pub use record::{Recorder, Rotation, Tape, TapeLimitReached, TapeOptions};
pub use rehearse_macros::world;
pub use replay::{Divergence, DivergenceKind, Mode, ModeError, Recording, Replayer, Scenario};
pub use ron::{Difference, ParseError, Step, Value};
pub use sim::{EventQueue, Failure, Faulty, InjectFault, Phase, Sim, SimRng};
pub use sweep::{
    DEFAULT_TAPE_LIMIT_BYTES, FailedSeed, FailureReport, FaultStats, NonDeterminism, Report, Rerun, RerunOutcome,
    STEER_CORPUS, STEER_KEYS, STEER_MUTANTS, SUMMARY_FORMAT, SUMMARY_VERSION, SavedFailure, ShrinkStop, SummaryError,
    Sweep, SweepSummary, check_determinism, check_determinism_across_processes,
};

/// The `rand` whose `RngCore` [`Sim::rng`] implements.
pub use rand;

/// Keeps compiler errors about world argument types saying `Serialize`
/// rather than `serde_core::ser::Serialize`.
#[doc(hidden)]
pub use serde as __serde;
