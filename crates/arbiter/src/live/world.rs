//! The concrete world: the machine's three world traits on real Redis
//! nodes and a real etcd. Wrap it in a `Recorder` to record every call.
//!
//! The etcd keys it uses are laid out in [`super::keys`].
//!
//! Its `check_config` lays the group's operator state (`PREFIX/control`,
//! see [`super::control`]) over the file's `[settings]`, so that the
//! configuration the machine gets, and a recording keeps, carries the
//! effective `paused` and `allow_data_loss`.
//!
//! Redis has no fencing token. Before every reconfiguration the world
//! re-reads, linearizably, that this instance's election key still exists
//! with the epoch the command carries, and refuses with
//! [`RedisError::Fenced`] otherwise. A pause between that check and the
//! command is the remaining window (bounded by the command timeout).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::control::{GroupControl, overlay};
use super::etcd::{Etcd, EtcdError};
use super::keys::Keys;
use super::redis::RedisNodes;
use super::switchover::{SwitchoverAnswer, SwitchoverOutcome};
use crate::types::Epoch;
use crate::types::{ElectionError, GroupConfig, GroupRecord, Leader, Millis, NodeId, RedisError, Wake};
use crate::world::Host;
use tracing::{debug, info, warn};

mod cluster;
mod control;
mod election;

/// Logs the outcome of a Redis reconfiguration. A refused password or
/// command (`RedisError::Auth`) repeated at every retry is warned about
/// once per node and command, then at debug level until it changes.
fn outcome(world: &LiveWorld, command: &str, addr: &str, result: Result<(), RedisError>) -> Result<(), RedisError> {
    let key = format!("{addr} {command}");
    match &result {
        Err(e @ RedisError::Auth(_)) => {
            let error = e.to_string();
            let mut told = world.auth_failures.borrow_mut();
            if told.get(&key) == Some(&error) {
                debug!(target: "arbiter", node = %addr, command, %error, "failed");
            } else {
                warn!(target: "arbiter", node = %addr, command, %error, "failed (told once; retrying)");
                told.insert(key, error);
            }
            return result;
        }
        _ => {
            world.auth_failures.borrow_mut().remove(&key);
        }
    }
    match &result {
        Ok(()) => info!(target: "arbiter", node = %addr, command, "done"),
        Err(RedisError::Fenced { seen }) => warn!(
            target: "arbiter",
            node = %addr,
            command,
            leader_epoch = seen.get(),
            "not sent: this instance no longer leads"
        ),
        Err(e) => warn!(target: "arbiter", node = %addr, command, error = %e, "failed"),
    }
    result
}

/// Where the group configuration comes from.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// Fixed for the process's life.
    Fixed(GroupConfig),
    /// Read with `load` from a file, polled for changes: a changed file
    /// that does not load is reported and ignored (the last good one stays).
    File {
        /// The file.
        path: PathBuf,
        /// Reads and validates it.
        load: fn(&std::path::Path) -> Result<GroupConfig, String>,
    },
}

/// Settings of the concrete world.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// etcd endpoints (`http://host:port`).
    pub etcd: Vec<String>,
    /// Key prefix in etcd (e.g. `arbiter/mygroup`).
    pub prefix: String,
    /// Lease TTL in seconds.
    pub ttl_s: i64,
    /// Connect and command timeout for Redis and etcd.
    pub timeout: Duration,
    /// Timeout of the `INFO` polls: a node that does not answer within it
    /// counts as not answering. Shorter than `timeout`, so that a paused
    /// node does not stretch every check by the command timeout.
    pub poll_timeout: Duration,
    /// Redis password (never recorded: not an argument of any call).
    pub password: Option<crate::secret::Secret>,
    /// The Redis ACL user and the etcd credentials.
    pub auth: LiveAuth,
    /// `min-replicas-to-write` and `min-replicas-max-lag` (seconds) set on
    /// every node arbiter manages (at start, after a restart, before every
    /// promotion or repoint), so that whichever is primary refuses writes
    /// it could not replicate. With a `password`, `masterauth` is set the
    /// same way.
    pub min_replicas: Option<(u32, u32)>,
    /// `[redis.tls]`: TLS to every node, and `tls-replication yes` kept on
    /// each (`None`: plain TCP).
    pub redis_tls: Option<crate::live::tls::Tls>,
    /// `[etcd.tls]`, or Mozilla's roots: set whenever the endpoints are
    /// `https://` (`None`: `http://` endpoints).
    pub etcd_tls: Option<crate::live::tls::Tls>,
}

/// Credentials beside the Redis password: the Redis ACL user arbiter
/// connects as (also set as `masteruser` on every node, with the password
/// as `masterauth`), and the etcd user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveAuth {
    /// `[redis] username` (`None`: the `default` user).
    pub redis_username: Option<String>,
    /// `[redis] replication_username` and `replication_password`: what
    /// replicas authenticate with (`None`: `redis_username` and the Redis
    /// password).
    pub replication: Option<super::redis::Replication>,
    /// `[etcd] username` and password (`None`: no etcd authentication).
    pub etcd: Option<super::etcd::EtcdCredentials>,
}

impl LiveOptions {
    /// A Redis client with these credentials, TLS settings and `timeout`.
    pub fn redis_nodes(&self, timeout: Duration) -> RedisNodes {
        RedisNodes::authenticated(timeout, self.auth.redis_username.clone(), self.password.clone())
            .with_tls(self.redis_tls.clone())
            .with_replication(self.auth.replication.clone())
    }

    /// An etcd client for these endpoints, credentials and TLS settings.
    pub fn etcd_client(&self) -> Etcd {
        Etcd::with_tls(self.etcd.clone(), self.timeout, self.etcd_tls.as_ref()).with_credentials(self.auth.etcd.clone())
    }
}

/// The concrete world.
#[derive(Debug)]
pub struct LiveWorld {
    options: LiveOptions,
    redis: RedisNodes,
    poller: RedisNodes,
    etcd: Etcd,
    started: Instant,
    config: ConfigSource,
    config_seen: Option<String>,
    shutdown: Arc<AtomicBool>,
    lease: Option<(i64, String)>,
    renewed_at: Instant,
    reported_leader: Option<Option<Leader>>,
    renew_failing: bool,
    etcd_failing: std::cell::Cell<bool>,
    /// The run id each node (by address) had when arbiter last applied its
    /// settings to it: a new run id is a restart, which forgot them.
    configured: std::cell::RefCell<BTreeMap<String, String>>,
    /// The last error configuring each node, warned about once (say a
    /// `CONFIG SET` the ACL user may not run), not at every poll.
    configure_errors: std::cell::RefCell<BTreeMap<String, String>>,
    /// The last refused password or command per node and reconfiguration,
    /// warned about once (see [`outcome`]).
    auth_failures: std::cell::RefCell<BTreeMap<String, String>>,
    /// The group configuration in force, the file's with the group's
    /// control laid over it: the last one given to the machine (also to
    /// judge switchover requests).
    group: Option<GroupConfig>,
    /// The configuration as the file (or the fixed source) gives it.
    file_group: Option<GroupConfig>,
    /// The group's control as last read from etcd.
    control: GroupControl,
    /// Its mod revision (0: no key), once read.
    control_revision: Option<i64>,
    /// The group record's mod revision when the control was last read
    /// (0: no record; `None`: unknown or not needed, no grant).
    record_revision: Option<i64>,
    /// Successful reads of the control (an acknowledgement is tried once
    /// per read, not at every step while etcd does not answer).
    control_reads: u64,
    /// A control value that is not valid JSON, warned about (its revision).
    control_bad: Option<i64>,
    /// What was last logged of the group's control: (paused, grant in force).
    control_logged: (bool, bool),
    /// The acknowledgement last written or tried: (revision, epoch, read).
    control_acked: Cell<Option<(i64, Epoch, u64)>>,
    /// The etcd mod revision of the latest request taken, per target.
    switchover_requests: RefCell<BTreeMap<String, i64>>,
    /// The request and outcome of the last answer written.
    answer_written: Cell<Option<(i64, SwitchoverOutcome)>>,
    /// The last `FAILOVER TO` error, for the answer to its request.
    failover_error: std::cell::RefCell<Option<String>>,
    /// The whole configuration the process started with: a reloaded file
    /// is compared with it for changes only a restart applies.
    running: Option<crate::config::Config>,
    /// Failed etcd requests so far (see [`LiveWorld::etcd_errors`]).
    etcd_errors: std::cell::Cell<u64>,
    /// The latest `REPLICAOF NO ONE` Redis accepted: the node and when.
    promoted: std::cell::RefCell<Option<(String, Instant)>>,
}

fn unavailable(e: EtcdError) -> ElectionError {
    ElectionError::Unavailable(e.to_string())
}

impl LiveWorld {
    /// A world on the servers `options` names, with its configuration
    /// from `config`; `shutdown` set (by a signal handler) wakes
    /// `sleep_until` with [`Wake::Shutdown`].
    pub fn new(options: LiveOptions, config: ConfigSource, shutdown: Arc<AtomicBool>) -> Self {
        Self {
            redis: options.redis_nodes(options.timeout),
            poller: options.redis_nodes(options.poll_timeout),
            etcd: options.etcd_client(),
            options,
            started: Instant::now(),
            config,
            config_seen: None,
            shutdown,
            lease: None,
            renewed_at: Instant::now(),
            reported_leader: None,
            renew_failing: false,
            etcd_failing: std::cell::Cell::new(false),
            configured: std::cell::RefCell::new(BTreeMap::new()),
            configure_errors: std::cell::RefCell::new(BTreeMap::new()),
            auth_failures: std::cell::RefCell::new(BTreeMap::new()),
            group: None,
            file_group: None,
            control: GroupControl::default(),
            control_revision: None,
            record_revision: None,
            control_reads: 0,
            control_bad: None,
            control_logged: (false, false),
            control_acked: Cell::new(None),
            switchover_requests: RefCell::new(BTreeMap::new()),
            answer_written: Cell::new(None),
            failover_error: std::cell::RefCell::new(None),
            running: None,
            etcd_errors: std::cell::Cell::new(0),
            promoted: std::cell::RefCell::new(None),
        }
    }

    /// When this world's clock ([`Host::now`]) read 0. Not a world call
    /// (like the two below, for the run loop's local status): recordings
    /// are unchanged.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Failed etcd requests of this world so far: the election, the lease,
    /// the record, the leadership re-checks and the switchover requests.
    pub fn etcd_errors(&self) -> u64 {
        self.etcd_errors.get()
    }

    /// The latest `REPLICAOF NO ONE` Redis accepted: the node's address
    /// and when it answered.
    pub fn last_promotion(&self) -> Option<(String, Instant)> {
        self.promoted.borrow().clone()
    }

    /// Counts a failed etcd request.
    fn etcd_failed(&self) {
        self.etcd_errors.set(self.etcd_errors.get().saturating_add(1));
    }

    /// Warns, whenever the configuration file changes, about the fields
    /// that differ from `running` (the configuration the process started
    /// with) and apply only at start (see [`crate::config::needs_restart`]).
    pub fn with_running_config(mut self, running: crate::config::Config) -> Self {
        self.running = Some(running);
        self
    }

    /// Writes `answer` to `PREFIX/switchover-status`, where the operator
    /// who requested the switchover reads it, stamped with the etcd mod
    /// revision of the latest request for its target this instance took
    /// (unless it carries one). A `failed` answer after a refused `FAILOVER
    /// TO` gets Redis's error appended. An answer to an earlier request
    /// does not replace the `accepted` answer to a newer one (that one is
    /// in play; the earlier one was superseded): it is only logged. Not a
    /// world call: the run loop calls it, so recordings are unchanged.
    pub fn answer_switchover(&self, answer: &SwitchoverAnswer) {
        let mut answer = answer.clone();
        if answer.request.is_none() {
            answer.request = self.switchover_requests.borrow().get(&answer.target).copied();
        }
        if let Some((newer, SwitchoverOutcome::Accepted)) = self.answer_written.get() {
            if answer.request.is_none_or(|r| r < newer) {
                debug!(target: "arbiter", node = %answer.target, request = answer.request, newer, "answer to an earlier switchover request not written: a newer one is in play");
                return;
            }
        }
        if answer.outcome == SwitchoverOutcome::Failed {
            let error = self.failover_error.borrow_mut().take();
            if let (Some(reason), Some(error)) = (&mut answer.reason, error) {
                if reason.starts_with(crate::live::log::FAILOVER_REFUSED) {
                    reason.push_str(&format!(": {error}"));
                }
            }
        }
        let key = self.keys().switchover_status();
        let written = serde_json::to_string(&answer)
            .map_err(|e| e.to_string())
            .and_then(|json| self.etcd.put(&key, &json).map_err(|e| e.to_string()));
        match written {
            Err(e) => warn!(target: "arbiter", key, error = %e, "cannot write the answer to the switchover request"),
            Ok(()) => {
                if let Some(request) = answer.request {
                    self.answer_written.set(Some((request, answer.outcome)));
                }
            }
        }
    }

    /// Notes that a switchover request for `target` at etcd mod revision
    /// `request` was taken: answers to it carry that revision.
    pub(super) fn took_switchover_request(&self, target: &str, request: i64) {
        self.switchover_requests
            .borrow_mut()
            .insert(target.to_string(), request);
    }

    /// The recorded primary, when it can be read.
    fn recorded_primary(&self) -> Option<String> {
        let kv = self.etcd.get(&self.keys().record(), false).ok()??;
        serde_json::from_str::<GroupRecord>(&kv.value).ok().map(|r| r.primary)
    }

    fn keys(&self) -> Keys {
        Keys::new(&self.options.prefix)
    }

    fn current_leader(&self) -> Result<Option<Leader>, EtcdError> {
        Ok(self.etcd.get_prefix(&self.keys().election())?.first().map(|kv| Leader {
            instance: NodeId(kv.value.clone()),
            epoch: Epoch(kv.create_revision),
        }))
    }

    /// Leadership re-check before a Redis reconfiguration under `epoch`.
    fn fence(&self, epoch: Epoch) -> Result<(), RedisError> {
        let Some((_, key)) = &self.lease else {
            return Err(RedisError::Fenced { seen: Epoch(0) });
        };
        let recheck = |e: EtcdError| {
            self.etcd_failed();
            RedisError::Unreachable(format!("cannot re-check leadership: {e}"))
        };
        let mine = self.etcd.get(key, false).map_err(recheck)?;
        let leader = self.current_leader().map_err(recheck)?;
        let leads = mine.as_ref().is_some_and(|kv| kv.create_revision == epoch.get())
            && leader.as_ref().is_some_and(|l| l.epoch == epoch);
        if leads {
            // A leader about to send a command beats: a command that
            // hangs until its timeout is no silence a follower sees.
            self.beat();
            Ok(())
        } else {
            Err(RedisError::Fenced {
                seen: leader.map_or(Epoch(0), |l| l.epoch),
            })
        }
    }

    /// Writes this leader's heartbeat (`PREFIX/heartbeat/<instance>` on its
    /// lease): the longest it goes between two beats, a check interval and
    /// a poll timeout per node. A failed write is only logged: a follower
    /// that cannot see the beat deposes nobody unless the primary is down
    /// too, and then a leader etcd cannot hear from is no leader to keep.
    fn beat(&self) {
        let (Some((lease, key)), Some(group)) = (&self.lease, &self.group) else {
            return;
        };
        let instance = key.rsplit('/').next().unwrap_or_default();
        let poll_ms = u64::try_from(self.options.poll_timeout.as_millis()).unwrap_or(u64::MAX);
        let within_ms = group
            .settings
            .check_interval_ms
            .saturating_add((group.nodes.len() as u64).saturating_mul(poll_ms));
        let written = self
            .etcd
            .put_leased(&self.keys().heartbeat(instance), &within_ms.to_string(), *lease);
        debug!(target: "arbiter", within_ms, result = ?written, "etcd: heartbeat");
    }

    /// The node settings arbiter keeps, as logged (never the password).
    fn settings_text(&self) -> String {
        let mut parts = Vec::new();
        if let Some((n, lag)) = self.options.min_replicas {
            parts.push(format!("min-replicas-to-write {n}, min-replicas-max-lag {lag}"));
        }
        // Replication credentials set masteruser, or clear it without a user.
        if self.options.auth.replication.is_some() || self.options.auth.redis_username.is_some() {
            parts.push("masteruser".to_string());
        }
        if self.options.password.is_some() || self.options.auth.replication.is_some() {
            parts.push("masterauth".to_string());
        }
        if self.options.redis_tls.is_some() {
            parts.push("tls-replication yes".to_string());
        }
        parts.join(", ")
    }

    /// Applies the configured `min-replicas-*` and `masterauth` to `addr`
    /// (before a promotion or repoint: always).
    fn min_replicas(&self, addr: &str) -> Result<(), RedisError> {
        self.redis.configure(addr, self.options.min_replicas, true)
    }

    /// Applies the node settings to `addr` unless they were applied to the
    /// process with `run_id` already: at start, and after every restart
    /// (Redis forgets `CONFIG SET` when it restarts). A failure is logged
    /// and retried at the next poll; it does not make the node unreachable.
    fn configure_once(&self, addr: &str, run_id: &str) {
        if self.options.min_replicas.is_none()
            && self.options.password.is_none()
            && self.options.auth.replication.is_none()
            && self.options.redis_tls.is_none()
        {
            return;
        }
        // A rotated password file changes the generation: masterauth is
        // set again on every node.
        let generation = match &self.options.auth.replication {
            Some(r) => {
                // Read again here: nothing else uses it between
                // configurations.
                drop(r.password.reveal());
                r.password.generation()
            }
            None => self
                .options
                .password
                .as_ref()
                .map_or(0, crate::secret::Secret::generation),
        };
        let applied = format!("{run_id}/{generation}");
        if self.configured.borrow().get(addr).is_some_and(|r| *r == applied) {
            return;
        }
        match self.redis.configure(addr, self.options.min_replicas, true) {
            Ok(()) => {
                let settings = self.settings_text();
                info!(target: "arbiter", node = %addr, %settings, run_id, "node configured");
                self.configured.borrow_mut().insert(addr.to_string(), applied);
                self.configure_errors.borrow_mut().remove(addr);
            }
            Err(e) => {
                let error = e.to_string();
                let mut errors = self.configure_errors.borrow_mut();
                if errors.get(addr) != Some(&error) {
                    warn!(target: "arbiter", node = %addr, %error, "cannot configure the node (retrying at every poll, told again when the error changes)");
                    errors.insert(addr.to_string(), error);
                } else {
                    debug!(target: "arbiter", node = %addr, %error, "cannot configure the node");
                }
                self.configured.borrow_mut().remove(addr);
            }
        }
    }

    /// Logs the first failure of an outage of etcd and the recovery.
    fn etcd_outcome<T>(&self, what: &str, result: Result<T, EtcdError>) -> Result<T, ElectionError> {
        match result {
            Ok(v) => {
                debug!(target: "arbiter", call = what, "etcd: done");
                if self.etcd_failing.replace(false) {
                    info!(target: "arbiter", "etcd answers again");
                }
                Ok(v)
            }
            Err(e) => {
                self.etcd_failed();
                debug!(target: "arbiter", call = what, error = %e, "etcd: failed");
                if !self.etcd_failing.replace(true) {
                    warn!(target: "arbiter", error = %e, "etcd: cannot {what} (retrying)");
                }
                Err(unavailable(e))
            }
        }
    }

    /// Reads the configuration source into `file_group` when it changed:
    /// a fixed one once, a file whenever its text changed and loads.
    fn reload_file(&mut self) {
        match &self.config {
            ConfigSource::Fixed(config) => {
                if self.config_seen.is_none() {
                    self.config_seen = Some(String::new());
                    self.file_group = Some(config.clone());
                }
            }
            ConfigSource::File { path, load } => {
                let text = match std::fs::read_to_string(path) {
                    Ok(text) => text,
                    Err(e) => {
                        // Reported once per outage, not at every tick.
                        let seen = format!("\0unreadable: {e}");
                        if self.config_seen.as_deref() != Some(seen.as_str()) {
                            warn!(
                                target: "arbiter",
                                config = %path.display(),
                                error = %e,
                                "cannot read the configuration (keeping the one in use)"
                            );
                            self.config_seen = Some(seen);
                        }
                        return;
                    }
                };
                if self.config_seen.as_deref() == Some(text.as_str()) {
                    return;
                }
                match load(path) {
                    Ok(config) => {
                        if self.config_seen.is_some() {
                            info!(target: "arbiter", config = %path.display(), "configuration changed");
                            let fields = match (&self.running, crate::config::load(path)) {
                                (Some(running), Ok(new)) => crate::config::needs_restart(running, &new),
                                _ => Vec::new(),
                            };
                            if !fields.is_empty() {
                                warn!(
                                    target: "arbiter",
                                    config = %path.display(),
                                    fields = %fields.join(", "),
                                    "configuration change needs a restart: these fields keep their running values until arbiter is restarted"
                                );
                            }
                        }
                        self.config_seen = Some(text);
                        self.file_group = Some(config);
                    }
                    Err(e) => {
                        warn!(target: "arbiter", error = %e, "bad configuration (keeping the one in use)");
                        self.config_seen = Some(text);
                    }
                }
            }
        }
    }

    fn millis(&self) -> Millis {
        self.started.elapsed().as_millis() as Millis
    }
}

/// This host's name (`/etc/hostname`; `host` when it cannot be read).
fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into())
}

/// `<hostname>-<pid>`: unique to this process among those running, and
/// the middle of its instance id (`arbiter-<hostname>-<pid>-<nanos>`).
/// What `{instance}` in `record.path` becomes.
pub fn process_label() -> String {
    format!("{}-{}", hostname(), std::process::id())
}

impl Host for LiveWorld {
    fn gen_node_id(&self, prefix: Option<String>) -> NodeId {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let prefix = prefix.unwrap_or_else(|| "arbiter".into());
        NodeId(format!("{prefix}-{}-{nanos:08x}", process_label()))
    }

    fn now(&self) -> Millis {
        self.millis()
    }

    fn sleep_until(&mut self, deadline: Millis) -> Wake {
        loop {
            if self.shutdown.load(Ordering::SeqCst) {
                return Wake::Shutdown(self.millis());
            }
            let now = self.millis();
            if now >= deadline {
                return Wake::Tick(now);
            }
            std::thread::sleep(Duration::from_millis((deadline - now).min(20)));
        }
    }

    fn check_config(&mut self) -> Option<GroupConfig> {
        self.reload_file();
        self.read_control();
        let file = self.file_group.as_ref()?;
        let effective = overlay(file, &self.control, self.record_revision);
        if self.group.as_ref() == Some(&effective) {
            return None;
        }
        self.group = Some(effective.clone());
        Some(effective)
    }
}
