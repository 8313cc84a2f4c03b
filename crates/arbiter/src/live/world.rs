//! The concrete world: the machine's three world traits on real Redis
//! nodes and a real etcd. Wrap it in a `Recorder` to record every call.
//!
//! The etcd keys it uses are laid out in [`super::keys`].
//!
//! Redis has no fencing token. Before every reconfiguration the world
//! re-reads, linearizably, that this instance's election key still exists
//! with the epoch the command carries, and refuses with
//! [`RedisError::Fenced`] otherwise. A pause between that check and the
//! command is the remaining window (bounded by the command timeout).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::etcd::{Etcd, EtcdError};
use super::keys::Keys;
use super::redis::RedisNodes;
use super::switchover::{SwitchoverAnswer, SwitchoverOutcome, refuse_switchover};
use crate::types::{
    Candidacy, ClusterEvent, ElectionError, ElectionEvent, GroupConfig, GroupRecord, Leader, Millis, NodeId,
    NodeStatus, RedisError, Wake,
};
use crate::world::{Cluster, Election, Host};
use tracing::{debug, info, warn};

/// Logs the outcome of a Redis reconfiguration.
fn outcome(command: &str, addr: &str, result: Result<(), RedisError>) -> Result<(), RedisError> {
    match &result {
        Ok(()) => info!(target: "arbiter", node = %addr, command, "done"),
        Err(RedisError::Fenced { seen }) => warn!(
            target: "arbiter",
            node = %addr,
            command,
            leader_epoch = seen,
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
    pub password: Option<String>,
    /// `min-replicas-to-write` and `min-replicas-max-lag` (seconds) set on
    /// every node arbiter manages (at start, after a restart, before every
    /// promotion or repoint), so that whichever is primary refuses writes
    /// it could not replicate. With a `password`, `masterauth` is set the
    /// same way.
    pub min_replicas: Option<(u32, u32)>,
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
    /// The group configuration in force (to judge switchover requests).
    group: Option<GroupConfig>,
    /// The last `FAILOVER TO` error, for the answer to its request.
    failover_error: std::cell::RefCell<Option<String>>,
    /// The whole configuration the process started with: a reloaded file
    /// is compared with it for changes only a restart applies.
    running: Option<crate::config::Config>,
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
            redis: RedisNodes::new(options.timeout, options.password.clone()),
            poller: RedisNodes::new(options.poll_timeout, options.password.clone()),
            etcd: Etcd::new(options.etcd.clone(), options.timeout),
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
            group: None,
            failover_error: std::cell::RefCell::new(None),
            running: None,
        }
    }

    /// Warns, whenever the configuration file changes, about the fields
    /// that differ from `running` (the configuration the process started
    /// with) and apply only at start (see [`crate::config::needs_restart`]).
    pub fn with_running_config(mut self, running: crate::config::Config) -> Self {
        self.running = Some(running);
        self
    }

    /// Writes `answer` to `PREFIX/switchover-status`, where the operator
    /// who requested the switchover reads it. A `failed` answer after a
    /// refused `FAILOVER TO` gets Redis's error appended. Not a world call:
    /// the run loop calls it, so recordings are unchanged.
    pub fn answer_switchover(&self, answer: &SwitchoverAnswer) {
        let mut answer = answer.clone();
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
        if let Err(e) = written {
            warn!(target: "arbiter", key, error = %e, "cannot write the answer to the switchover request");
        }
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
            epoch: kv.create_revision,
        }))
    }

    /// Leadership re-check before a Redis reconfiguration under `epoch`.
    fn fence(&self, epoch: i64) -> Result<(), RedisError> {
        let Some((_, key)) = &self.lease else {
            return Err(RedisError::Fenced { seen: 0 });
        };
        let mine = self
            .etcd
            .get(key, false)
            .map_err(|e| RedisError::Unreachable(format!("cannot re-check leadership: {e}")))?;
        let leader = self
            .current_leader()
            .map_err(|e| RedisError::Unreachable(format!("cannot re-check leadership: {e}")))?;
        let leads = mine.as_ref().is_some_and(|kv| kv.create_revision == epoch)
            && leader.as_ref().is_some_and(|l| l.epoch == epoch);
        if leads {
            Ok(())
        } else {
            Err(RedisError::Fenced {
                seen: leader.map_or(0, |l| l.epoch),
            })
        }
    }

    /// The node settings arbiter keeps, as logged (never the password).
    fn settings_text(&self) -> String {
        let mut parts = Vec::new();
        if let Some((n, lag)) = self.options.min_replicas {
            parts.push(format!("min-replicas-to-write {n}, min-replicas-max-lag {lag}"));
        }
        if self.options.password.is_some() {
            parts.push("masterauth".to_string());
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
        if self.options.min_replicas.is_none() && self.options.password.is_none() {
            return;
        }
        if self.configured.borrow().get(addr).is_some_and(|r| r == run_id) {
            return;
        }
        match self.redis.configure(addr, self.options.min_replicas, true) {
            Ok(()) => {
                let settings = self.settings_text();
                info!(target: "arbiter", node = %addr, %settings, run_id, "node configured");
                self.configured
                    .borrow_mut()
                    .insert(addr.to_string(), run_id.to_string());
            }
            Err(e) => {
                warn!(target: "arbiter", node = %addr, error = %e, "cannot configure the node (retrying at the next poll)");
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
                debug!(target: "arbiter", call = what, error = %e, "etcd: failed");
                if !self.etcd_failing.replace(true) {
                    warn!(target: "arbiter", error = %e, "etcd: cannot {what} (retrying)");
                }
                Err(unavailable(e))
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
        match &self.config {
            ConfigSource::Fixed(config) => {
                if self.config_seen.is_some() {
                    return None;
                }
                self.config_seen = Some(String::new());
                self.group = Some(config.clone());
                Some(config.clone())
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
                        return None;
                    }
                };
                if self.config_seen.as_deref() == Some(text.as_str()) {
                    return None;
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
                        self.group = Some(config.clone());
                        Some(config)
                    }
                    Err(e) => {
                        warn!(target: "arbiter", error = %e, "bad configuration (keeping the one in use)");
                        self.config_seen = Some(text);
                        None
                    }
                }
            }
        }
    }
}

impl Cluster for LiveWorld {
    fn is_cluster_enabled(&self, addr: &str) -> Result<bool, RedisError> {
        let result = self.redis.cluster_enabled_and_run_id(addr).map(|(enabled, run_id)| {
            // A node in cluster mode is refused, not configured.
            if !enabled {
                self.configure_once(addr, &run_id);
            }
            enabled
        });
        match &result {
            Err(e @ RedisError::Auth(_)) => warn!(
                target: "arbiter",
                node = %addr,
                error = %e,
                "authentication failed at startup: the node refuses redis.password (managed anyway)"
            ),
            Err(e) => {
                warn!(target: "arbiter", node = %addr, error = %e, "node unreachable at startup (managed anyway)")
            }
            Ok(_) => {}
        }
        result
    }

    fn node_status(&self, addr: &str) -> Result<NodeStatus, RedisError> {
        let result = self.poller.status(addr);
        match &result {
            Ok(status) => {
                let (role, link) = match &status.role {
                    crate::types::Role::Primary => ("primary".to_string(), String::new()),
                    crate::types::Role::Replica { primary, link_up, .. } => (
                        format!("replica of {primary}"),
                        if *link_up { "up" } else { "down" }.to_string(),
                    ),
                };
                debug!(
                    target: "arbiter",
                    node = %addr,
                    %role,
                    link,
                    offset = status.offset,
                    keys = status.keys,
                    run_id = %status.run_id,
                    "poll"
                );
                self.configure_once(addr, &status.run_id);
            }
            Err(e) => debug!(target: "arbiter", node = %addr, error = %e, "poll failed"),
        }
        result
    }

    fn promote(&mut self, addr: &str, epoch: i64) -> Result<(), RedisError> {
        let result = self
            .fence(epoch)
            .and_then(|()| self.min_replicas(addr))
            .and_then(|()| self.redis.promote(addr));
        outcome("REPLICAOF NO ONE", addr, result)
    }

    fn repoint(&mut self, addr: &str, primary: &str, epoch: i64) -> Result<(), RedisError> {
        let result = self
            .fence(epoch)
            .and_then(|()| self.min_replicas(addr))
            .and_then(|()| self.redis.repoint(addr, primary));
        outcome(&format!("REPLICAOF {}", primary.replace(':', " ")), addr, result)
    }

    fn failover(&mut self, primary: &str, target: &str, timeout_ms: Millis, epoch: i64) -> Result<(), RedisError> {
        let result = self
            .fence(epoch)
            .and_then(|()| self.redis.failover(primary, target, timeout_ms));
        *self.failover_error.borrow_mut() = result.as_ref().err().map(ToString::to_string);
        outcome(&format!("FAILOVER TO {}", target.replace(':', " ")), primary, result)
    }

    /// Takes a switchover request, and answers it at once when it cannot
    /// be carried out (it never reaches the machine then).
    fn check_cluster_notifications(&mut self) -> Option<ClusterEvent> {
        let key = self.keys().switchover();
        let request = match self.etcd.get(&key, false) {
            Ok(Some(kv)) => kv,
            Ok(None) => {
                debug!(target: "arbiter", key, "etcd: no switchover request");
                return None;
            }
            Err(e) => {
                debug!(target: "arbiter", key, error = %e, "etcd: cannot read switchover requests");
                return None;
            }
        };
        if let Err(e) = self.etcd.delete(&key) {
            debug!(target: "arbiter", key, error = %e, "etcd: cannot take the switchover request");
            return None;
        }
        let target = request.value.trim().to_string();
        let judged = match &self.group {
            Some(group) => refuse_switchover(group, self.recorded_primary().as_deref(), &target),
            None => Ok(()),
        };
        match judged {
            Err(reason) => {
                warn!(target: "arbiter", node = %target, %reason, "switchover refused");
                self.answer_switchover(&SwitchoverAnswer::because(&target, SwitchoverOutcome::Refused, reason));
                None
            }
            Ok(()) => {
                info!(target: "arbiter", node = %target, "switchover requested");
                self.answer_switchover(&SwitchoverAnswer::new(&target, SwitchoverOutcome::Accepted));
                Some(ClusterEvent::SwitchoverRequested { target })
            }
        }
    }
}

impl Election for LiveWorld {
    fn create_node(&mut self, node: NodeId) -> Result<Candidacy, ElectionError> {
        let lease = self.etcd_outcome("join the election", self.etcd.grant(self.options.ttl_s))?;
        let key = self.keys().candidate(&node.0);
        let (_, kv) = self.etcd_outcome("join the election", self.etcd.create(&key, &node.0, lease))?;
        let kv = kv.ok_or_else(|| ElectionError::Unavailable(format!("{key} vanished after its creation")))?;
        self.lease = Some((lease, key));
        self.renewed_at = Instant::now();
        Ok(Candidacy {
            instance: node,
            lease,
            revision: kv.create_revision,
        })
    }

    fn leader(&self) -> Result<Option<Leader>, ElectionError> {
        self.etcd_outcome("read the leader", self.current_leader())
    }

    fn check_election_notification(&mut self) -> Option<ElectionEvent> {
        if let Some((lease, _)) = self.lease.clone() {
            let renewed = self.etcd.keepalive(lease);
            debug!(target: "arbiter", lease, result = ?renewed, "etcd: lease keepalive (remaining TTL in s)");
            match renewed {
                Ok(ttl) if ttl > 0 => {
                    if std::mem::take(&mut self.renew_failing) {
                        info!(target: "arbiter", lease, "lease renewed again");
                    }
                    self.renewed_at = Instant::now();
                }
                Ok(_) => {
                    warn!(target: "arbiter", lease, "the lease expired");
                    self.lease = None;
                    return Some(ElectionEvent::LeaseLost);
                }
                // Out of reach: past the TTL the lease is gone for sure.
                Err(e) if self.renewed_at.elapsed() >= Duration::from_secs(self.options.ttl_s as u64) => {
                    warn!(target: "arbiter", lease, error = %e, "etcd unreachable for longer than the lease TTL");
                    self.lease = None;
                    return Some(ElectionEvent::LeaseLost);
                }
                Err(e) => {
                    if !std::mem::replace(&mut self.renew_failing, true) {
                        warn!(target: "arbiter", lease, error = %e, "cannot renew the lease");
                    }
                    return None;
                }
            }
        }
        let leader = self.current_leader().ok()?;
        if self.reported_leader.as_ref() == Some(&leader) {
            return None;
        }
        self.reported_leader = Some(leader.clone());
        Some(ElectionEvent::LeaderChanged(leader))
    }

    fn read_record(&self, linearizable: bool) -> Result<Option<GroupRecord>, ElectionError> {
        let kv = self.etcd_outcome(
            "read the group record",
            self.etcd.get(&self.keys().record(), !linearizable),
        )?;
        kv.map(|kv| {
            serde_json::from_str(&kv.value)
                .map_err(|e| ElectionError::Unavailable(format!("the group record is not valid JSON: {e}")))
        })
        .transpose()
    }

    fn publish(&mut self, epoch: i64, record: &GroupRecord) -> Result<bool, ElectionError> {
        let Some((_, key)) = &self.lease else {
            return Ok(false);
        };
        let value = serde_json::to_string(record).map_err(|e| ElectionError::Unavailable(e.to_string()))?;
        let written = self.etcd.put_guarded(key, epoch, &self.keys().record(), &value);
        debug!(target: "arbiter", epoch, primary = %record.primary, result = ?written, "etcd: guarded record write");
        self.etcd_outcome("write the group record", written)
    }

    fn resign(&mut self, candidacy: &Candidacy) -> Result<(), ElectionError> {
        self.lease = None;
        let revoked = self.etcd.revoke(candidacy.lease);
        debug!(target: "arbiter", lease = candidacy.lease, result = ?revoked, "etcd: lease revoked");
        revoked.map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{RedisNode, Settings};

    fn group() -> GroupConfig {
        let node = |name: &str, port: u16, priority: u32| RedisNode {
            name: name.into(),
            addr: format!("10.0.0.1:{port}"),
            priority,
        };
        GroupConfig {
            nodes: vec![node("r1", 6379, 100), node("r2", 6380, 100), node("r3", 6381, 0)],
            settings: Settings::default(),
        }
    }

    #[test]
    fn a_switchover_that_cannot_be_carried_out_is_refused_with_the_reason() {
        let g = group();
        let refused = |target: &str| refuse_switchover(&g, Some("r1"), target).unwrap_err();
        assert_eq!(refused("r9"), "unknown node r9 (nodes: r1, r2, r3)");
        assert_eq!(
            refused("10.0.0.1:6380"),
            "`10.0.0.1:6380` is an address: name the node (r2 is 10.0.0.1:6380; nodes: r1, r2, r3)"
        );
        assert!(refused("10.9.9.9:1").contains("is an address, not a node name"));
        assert_eq!(refused("r1"), "r1 is already the primary");
        assert_eq!(refused("r3"), "r3 has priority 0: it is never promoted");
        assert!(refused("").contains("names no node"));
        assert_eq!(refuse_switchover(&g, Some("r1"), "r2"), Ok(()));
        assert_eq!(
            refuse_switchover(&g, None, "r1"),
            Ok(()),
            "no record: left to the machine"
        );
    }

    #[test]
    fn an_answer_is_the_json_operators_read() {
        let a = SwitchoverAnswer::because("r9", SwitchoverOutcome::Refused, "unknown node r9");
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"target":"r9","outcome":"refused","reason":"unknown node r9"}"#
        );
        let done = SwitchoverAnswer::new("r2", SwitchoverOutcome::Done);
        assert_eq!(
            serde_json::to_string(&done).unwrap(),
            r#"{"target":"r2","outcome":"done"}"#
        );
    }
}
