//! # arbiter: the sole arbiter of a Redis primary/replica group
//!
//! A failover controller written as a sans-IO state machine
//! ([`machine::Machine`]) whose every contact with the outside world goes
//! through three world traits ([`world::Host`], [`world::Cluster`],
//! [`world::Election`]). The same machine runs against real Redis and etcd
//! (recording every call), against a recorded scenario
//! (`rehearse::Replayer`), and against a simulated world.
//!
//! Several instances elect a leader through etcd; only the leader acts, and
//! every etcd write it makes is guarded by its epoch (the create revision
//! of its leader key). The leader reconciles: it keeps the group record
//! (`{epoch, primary}`) in etcd, polls every node on each tick, and takes
//! the one action the difference calls for (promote, repoint, fail over,
//! switch over), so a successor finishes what a crashed leader started.

pub mod config;
pub mod io;
pub mod live;
pub mod machine;
pub mod recording;
pub mod secret;
pub mod types;
pub mod world;

pub use io::{DriveError, Driver, IoCore, IoCoreError, Stop};
pub use machine::{Input, Machine, Output, State};
pub mod sim;
