//! Test-only support for arbiter (never published): real servers for the
//! live tests ([`servers`]: `redis-server`, `etcd` and Redis Sentinel on
//! free loopback ports in temp dirs, stopped on drop), and the harness that
//! runs the same faults against arbiter and Sentinel and measures both from
//! the outside ([`compare`]), used by `tests/live_compare.rs`,
//! `tests/live_failover.rs` and `examples/compare_sentinel.rs`; and real
//! application clients that find the primary through the Sentinel
//! protocol ([`clients`]: redis-py, ioredis and node-redis writers), used
//! by `tests/live_app_clients.rs` and the comparison.

pub mod clients;
pub mod compare;
pub mod servers;
