//! The Redis Sentinel client protocol, served by every `arbiter run`
//! instance configured with a `[sentinel]` section, so that an
//! application's Sentinel client (redis-py's `Sentinel`, ioredis
//! `sentinels:`, node-redis `createSentinel`, Jedis, Lettuce, go-redis)
//! finds the primary through arbiter with no change to its code.
//!
//! Every answer comes from the follower's [`GroupView`](super::follow::GroupView)
//! ([`super::follow`]): the primary named is the group record's, never a
//! node that merely claims the role; the replicas are the other configured
//! nodes as this instance last polled them; the other Sentinels are the
//! other instances registered in etcd. Events (`+switch-master`, `+sdown`,
//! ...) are the follower's, from its [`Hub`](super::follow::Hub).
//!
//! The parts, by noun:
//! - [`codec`]: requests read as Redis reads them, with the limits checked
//!   before anything is allocated, and replies written in RESP2 or RESP3;
//! - [`commands`]: what each command answers, with Redis's error texts;
//! - [`pubsub`]: subscriptions, messages and Redis's glob patterns;
//! - [`server`]: the listener, one thread per connection, and the limits
//!   on connections, idle time and slow readers.
//!
//! **No RESP crate.** `redis-protocol` (the maintained one) was considered:
//! its decoder takes a whole frame from a buffer, returns "incomplete"
//! otherwise and parses again from the start on the next read, and reads
//! any RESP value (nested arrays, by recursion), with no bound on a
//! declared length or count that a server could apply before the body
//! arrives; and it has no inline commands (`PING\r\n` from telnet or
//! `redis-cli` pipes), which Redis serves. The limits this server needs
//! are the hard part of the parser, so it is written here (~150 lines,
//! [`codec::parse`]), with Redis's own error texts; the encoder is smaller
//! still.
//!
//! **Threads.** The code base is synchronous (no async runtime). One
//! thread serves each connection, which at these limits (`max_clients`,
//! 512 by default, each thread with a small stack) costs little: a
//! Sentinel's clients are a few connections per application process.

pub mod codec;
pub mod commands;
pub mod pubsub;
pub mod server;

use std::time::Duration;

pub use server::{Server, serve};

/// The default `[sentinel] listen`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:26379";
/// The default `[sentinel] master_name`.
pub const DEFAULT_MASTER_NAME: &str = "mymaster";
/// The default `[sentinel] max_clients`.
pub const DEFAULT_MAX_CLIENTS: usize = 512;
/// The default `[sentinel] max_request_bytes`.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 64 * 1024;
/// The default `[sentinel] idle_timeout_ms`.
pub const DEFAULT_IDLE_TIMEOUT_MS: u64 = 300_000;
/// The default `[sentinel] write_timeout_ms`.
pub const DEFAULT_WRITE_TIMEOUT_MS: u64 = 5_000;
/// Most arguments one request may carry (a Sentinel client sends a few;
/// `SUBSCRIBE` of many channels stays far below).
pub const MAX_ARGS: usize = 1024;

/// The `[sentinel]` section: where and how the protocol is served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentinelOptions {
    /// Where to listen, `host:port`.
    pub listen: String,
    /// The address other instances and `SENTINEL SENTINELS` give for this
    /// one (when `listen` is a wildcard address, say); `listen` when
    /// `None`.
    pub announce: Option<String>,
    /// The group's name for clients (`master_for('mymaster')`).
    pub master_name: String,
    /// The password clients must give (`AUTH pass` or `AUTH default
    /// pass`); none needed when `None`.
    pub password: Option<crate::secret::Secret>,
    /// Connections served at once; one more is answered `-ERR max number
    /// of clients reached` and closed.
    pub max_clients: usize,
    /// Bytes of one request's arguments together; a longer request is
    /// answered with Redis's protocol error and the connection closed.
    pub max_request_bytes: usize,
    /// A connection not subscribed to anything that sends nothing for
    /// this long is closed (`None`: never, as Redis's `timeout 0`).
    pub idle_timeout: Option<Duration>,
    /// A reply or message not taken by the client within this long closes
    /// its connection (a subscriber that does not read is dropped).
    pub write_timeout: Duration,
    /// `[sentinel.tls]`: serve TLS only (as Redis's `tls-port`), and with
    /// a client CA let in only clients with a certificate it signed
    /// (`None`: plain TCP).
    pub tls: Option<crate::live::tls::ServerTls>,
}

impl SentinelOptions {
    /// The address this instance is known by: `announce`, else `listen`.
    pub fn announced(&self) -> &str {
        self.announce.as_deref().unwrap_or(&self.listen)
    }
}

impl Default for SentinelOptions {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.into(),
            announce: None,
            master_name: DEFAULT_MASTER_NAME.into(),
            password: None,
            max_clients: DEFAULT_MAX_CLIENTS,
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            idle_timeout: Some(Duration::from_millis(DEFAULT_IDLE_TIMEOUT_MS)),
            write_timeout: Duration::from_millis(DEFAULT_WRITE_TIMEOUT_MS),
            tls: None,
        }
    }
}

/// The group's timing, as Sentinel's replies report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// `settings.down_after_ms` (`down-after-milliseconds`).
    pub down_after_ms: u64,
    /// `settings.failover_timeout_ms` (`failover-timeout`).
    pub failover_timeout_ms: u64,
    /// A record read from etcd longer ago than this (the lease TTL: a new
    /// leader may have replaced it since) is not given to clients: the
    /// master is then unknown, and clients ask another Sentinel.
    pub record_stale_after: Duration,
}

impl Timing {
    /// The timing of a live run configured by `config`.
    pub fn of(config: &crate::config::Config) -> Self {
        Self {
            down_after_ms: config.group.settings.down_after_ms,
            failover_timeout_ms: config.group.settings.failover_timeout_ms,
            record_stale_after: Duration::from_secs(u64::try_from(config.live.ttl_s).unwrap_or(1).max(1)),
        }
    }
}
