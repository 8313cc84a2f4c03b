//! The concrete world's clients for the real systems: etcd through its JSON
//! gateway and Redis through the `redis` crate. Every failure is a value
//! (never a panic), so that the world can return and record it.

pub mod etcd;
pub mod follow;
pub mod http;
pub mod keys;
pub mod local;
pub mod log;
pub mod redis;
pub mod switchover;
pub mod world;
