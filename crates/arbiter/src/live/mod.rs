//! The concrete world's clients for the real systems: etcd through its JSON
//! gateway and Redis through the `redis` crate. Every failure is a value
//! (never a panic), so that the world can return and record it. Beside
//! them, what every instance serves to applications: the group as it
//! follows it ([`follow`]) and the Sentinel protocol ([`sentinel`]). TLS
//! to Redis and etcd: [`tls`].

pub mod control;
pub mod etcd;
pub mod follow;
pub mod hooks;
pub mod http;
pub mod keys;
pub mod local;
pub mod log;
pub mod redis;
pub mod sentinel;
pub mod switchover;
pub mod tls;
pub mod world;
