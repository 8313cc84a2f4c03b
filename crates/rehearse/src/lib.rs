//! # rehearse: record the world, replay it exactly
//!
//! rehearse is a deterministic simulation testing library for sans-IO
//! systems. Its contract: the code under test takes no timestamps, random
//! numbers or I/O from the operating system; it asks a **world** trait for
//! all of them. Because every source of non-determinism crosses that one
//! interface, recording the interface is enough to replay a run exactly.
//!
//! - [`world`] (`#[rehearse::world]`) on a trait generates
//!   `impl<W: Trait> Trait for Recorder<W>` and `impl Trait for Replayer`.
//! - [`Recorder`] wraps the real world and writes every call (name, inputs,
//!   output, errors included) to a [`Tape`].
//! - A [`Tape`] writes a human-readable RON **scenario** file from a
//!   background thread ([`Tape::create`]), or keeps it in memory.
//! - [`Replayer`] reads a scenario, checks that each call has the recorded
//!   name and inputs, returns the recorded output, and reports the first
//!   [`Divergence`] precisely.
//! - [`Trace`] parses scenario files, [`TraceError`] says what is wrong with
//!   a bad one (file, line, column), never a panic.
//! - [`Scenario`] and [`Mode`] (`REHEARSE=record|replay|auto`) decide per
//!   test whether to replay or record.
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
//! let tape = Tape::memory();
//! let mut world = Recorder::new(Real, tape.clone());
//! assert_eq!(world.fetch("a"), Ok("A".to_string()));
//! let t = world.now_ms();
//!
//! let trace = Trace::parse(&tape.contents()).unwrap();
//! let mut replay = Replayer::from_trace(trace);
//! assert_eq!(replay.fetch("a"), Ok("A".to_string()));
//! assert_eq!(replay.now_ms(), t);
//! replay.finish().unwrap();
//! ```
//!
//! The scenario file format is described in `FORMAT.md` in this crate.

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

mod format;
mod record;
mod replay;
mod ron;
mod sim;
mod sweep;

/// Support for generated code and the workspace's own tests: not public API.
#[doc(hidden)]
pub mod __private;

pub use format::{Call, FORMAT_VERSION, Header, Trace, TraceError, TraceErrorKind, TraceReader};
pub use record::{Recorder, Tape, TapeOptions};
pub use rehearse_macros::world;
pub use replay::{Divergence, DivergenceKind, Mode, ModeError, Recording, Replayer, Scenario};
pub use ron::{Difference, ParseError, Step, Value};
pub use sim::{EventQueue, Failure, Faulty, InjectFault, Phase, Sim, SimRng};
pub use sweep::{FailureReport, NonDeterminism, Report, Sweep, check_determinism, check_determinism_across_processes};

/// The `rand` whose `RngCore` [`Sim::rng`] implements.
pub use rand;

/// Keeps compiler errors about world argument types saying `Serialize`
/// rather than `serde_core::ser::Serialize`.
#[doc(hidden)]
pub use serde as __serde;
