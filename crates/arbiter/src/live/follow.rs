//! What every `arbiter run` instance knows of its group, leader or not, for
//! the ports applications and operators read (the Sentinel protocol, HTTP):
//! the group record as etcd holds it, the leader, the other instances, and
//! each node as this instance last polled it.
//!
//! A background thread (the follower, [`spawn`]) keeps a [`GroupView`]
//! current: every `follow_interval` it reads the record and the election
//! linearizably, and every `check_interval` it polls each node's `INFO`. It
//! never feeds the machine: decisions stay the leader's, recorded and
//! replayable; this view only answers clients. An answer built from it never
//! names as primary a node that the record does not name.
//!
//! Changes between two views become Sentinel's events ([`events`]), handed
//! to every subscriber through the [`Hub`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::etcd::Etcd;
use super::keys::Keys;
use super::redis::RedisNodes;
use crate::types::{GroupConfig, GroupRecord, NodeStatus, Role};

/// How one instance registers itself for the others (`PREFIX/members/<id>`,
/// attached to a lease of the follower's own), so that each can list the
/// others (`SENTINEL SENTINELS`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Member {
    /// The instance's label (`<hostname>-<pid>`).
    pub instance: String,
    /// Where it serves the Sentinel protocol, `host:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sentinel: Option<String>,
    /// Where it serves HTTP, `host:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
}

/// One node as this instance last polled it.
#[derive(Debug, Clone, Default)]
pub struct NodeSeen {
    /// The latest answer, when the latest poll was answered.
    pub status: Option<NodeStatus>,
    /// Why the latest poll failed.
    pub error: Option<String>,
    /// When a poll was last answered.
    pub last_ok: Option<Instant>,
    /// When it was last polled.
    pub polled: Option<Instant>,
    /// When polls started failing without an answer before (`None` while
    /// it answers).
    pub failing_since: Option<Instant>,
    /// Not answering for at least `down_after_ms` (Sentinel's `s_down`).
    pub down: bool,
}

/// One configured node and what this instance knows of it.
#[derive(Debug, Clone)]
pub struct NodeEntry {
    /// Its name in the configuration.
    pub name: String,
    /// Its address, `host:port`.
    pub addr: String,
    /// The host part of `addr`.
    pub host: String,
    /// The port part of `addr`.
    pub port: u16,
    /// Its failover priority (lower is preferred, 0 never).
    pub priority: u32,
    /// The latest poll.
    pub seen: NodeSeen,
}

impl NodeEntry {
    /// The node's replication offset, when it answered.
    pub fn offset(&self) -> Option<u64> {
        self.seen.status.as_ref().map(|s| s.offset)
    }

    /// Whether the latest answer says it replicates from `primary` (an
    /// address) with its link up.
    pub fn replicates(&self, primary: &str) -> bool {
        matches!(
            self.seen.status.as_ref().map(|s| &s.role),
            Some(Role::Replica { primary: p, link_up: true, .. }) if p == primary
        )
    }
}

/// The record as read from etcd, with its etcd revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSeen {
    /// The record.
    pub record: GroupRecord,
    /// Its key's mod revision: a new value is a higher number, whoever
    /// wrote it (records' epochs do not order two records of one leader).
    pub revision: i64,
}

/// What this instance knows of its group (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct GroupView {
    /// This instance's label.
    pub instance: String,
    /// The configured nodes, in configuration order.
    pub nodes: Vec<NodeEntry>,
    /// The group record (`None`: none yet, or never read).
    pub record: Option<RecordSeen>,
    /// The leading instance's id and epoch, when one leads.
    pub leader: Option<(String, i64)>,
    /// The registered instances, this one included, by label.
    pub members: BTreeMap<String, Member>,
    /// Why the latest read from etcd failed (`None`: it succeeded).
    pub etcd_error: Option<String>,
    /// When etcd last answered.
    pub etcd_ok: Option<Instant>,
}

impl GroupView {
    /// The recorded primary's node, when there is a record naming a
    /// configured node.
    pub fn primary(&self) -> Option<&NodeEntry> {
        let record = self.record.as_ref()?;
        self.nodes.iter().find(|n| n.name == record.record.primary)
    }

    /// Every configured node but the recorded primary.
    pub fn replicas(&self) -> impl Iterator<Item = &NodeEntry> {
        let primary = self.record.as_ref().map(|r| r.record.primary.clone());
        self.nodes
            .iter()
            .filter(move |n| primary.as_deref() != Some(n.name.as_str()))
    }

    /// A node by name.
    pub fn node(&self, name: &str) -> Option<&NodeEntry> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

/// One Sentinel event: `channel` is its type (`+switch-master`), `message`
/// its text in Sentinel's format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The pub/sub channel, e.g. `+sdown`.
    pub channel: String,
    /// The payload, e.g. `master mymaster 127.0.0.1 6379`.
    pub message: String,
}

/// Subscribers' queues: each gets every event, in order. A subscriber
/// whose queue is full (it does not read) is dropped rather than allowed
/// to stall the follower.
#[derive(Debug, Default)]
pub struct Hub {
    next: Mutex<u64>,
    subscribers: Mutex<BTreeMap<u64, SyncSender<Event>>>,
}

/// Events a subscriber may have queued before it counts as not reading.
pub const SUBSCRIBER_QUEUE: usize = 1024;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Hub {
    /// A new subscription: its id (to unsubscribe) and its queue. The
    /// queue ends (its sender is dropped) when the subscriber falls too far
    /// behind.
    pub fn subscribe(&self) -> (u64, Receiver<Event>) {
        let (tx, rx) = std::sync::mpsc::sync_channel(SUBSCRIBER_QUEUE);
        let mut next = lock(&self.next);
        *next += 1;
        let id = *next;
        lock(&self.subscribers).insert(id, tx);
        (id, rx)
    }

    /// Ends subscription `id`.
    pub fn unsubscribe(&self, id: u64) {
        lock(&self.subscribers).remove(&id);
    }

    /// The number of subscriptions.
    pub fn len(&self) -> usize {
        lock(&self.subscribers).len()
    }

    /// Whether nobody subscribes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Hands `event` to every subscriber; one that is full or gone is
    /// dropped.
    pub fn publish(&self, event: &Event) {
        lock(&self.subscribers).retain(|_, tx| match tx.try_send(event.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        });
    }
}

/// What the run loop knows and only this instance can tell: whether it
/// leads, why it is blocked, what it has done. Written by the run loop
/// (through [`crate::live::local::Tally`]), read by the ports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalStatus {
    /// The machine's state name (`Leading`, `Following`, ...).
    pub state: String,
    /// This instance's id in the election
    /// (`arbiter-<hostname>-<pid>-<nanos>`, as etcd's leader key holds
    /// it), once it has one.
    pub id: Option<String>,
    /// This instance leads, with this epoch.
    pub leading: Option<i64>,
    /// Why the leader cannot act now (a failover it will not make), as
    /// the log's `reason` field says it (`no-eligible-replica`, ...: see
    /// [`crate::live::log::BLOCKED_REASONS`]).
    pub blocked: Option<String>,
    /// The same in a sentence, naming the nodes concerned.
    pub blocked_detail: Option<String>,
    /// This instance runs paused (the group's `arbiter pause`, or
    /// `settings.paused` in its file): it watches and never acts. While it
    /// leads and the recorded primary is down, `blocked` is `paused`.
    pub paused: bool,
    /// Failovers this instance carried out: the group record naming the
    /// new primary written (the promotion follows).
    pub failovers: u64,
    /// Switchovers this instance carried out (the target took over).
    pub switchovers: u64,
    /// How long the last failover took, from the failed primary's first
    /// unanswered poll this instance saw (or, for a primary that lost its
    /// data, from when the loss was noticed) to the promotion's success,
    /// in milliseconds.
    pub last_failover_ms: Option<u64>,
    /// Failed etcd requests of the controller (election, lease, record,
    /// leadership re-checks, switchover requests); the follower's own are
    /// not counted.
    pub etcd_errors: u64,
    /// When the run loop last completed a step (`None`: not yet): it steps
    /// at least once per check, so an old heartbeat is a stalled loop.
    pub heartbeat: Option<Instant>,
}

/// The state the ports share: the view, the events, the local status.
#[derive(Debug, Default)]
pub struct Shared {
    view: RwLock<GroupView>,
    /// Sentinel's events.
    pub hub: Hub,
    local: Mutex<LocalStatus>,
}

impl Shared {
    /// A copy of the view as it stands.
    pub fn view(&self) -> GroupView {
        self.view
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the view.
    pub fn set_view(&self, view: GroupView) {
        *self.view.write().unwrap_or_else(std::sync::PoisonError::into_inner) = view;
    }

    /// A copy of the local status.
    pub fn local(&self) -> LocalStatus {
        lock(&self.local).clone()
    }

    /// Changes the local status.
    pub fn update_local(&self, f: impl FnOnce(&mut LocalStatus)) {
        f(&mut lock(&self.local));
    }
}

/// How the follower works.
#[derive(Debug, Clone)]
pub struct FollowOptions {
    /// etcd endpoints.
    pub etcd: Vec<String>,
    /// The group's prefix.
    pub prefix: String,
    /// Timeout of each etcd request.
    pub timeout: Duration,
    /// Timeout of each node poll.
    pub poll_timeout: Duration,
    /// Redis password, for the polls.
    pub password: Option<crate::secret::Secret>,
    /// The Redis ACL user and the etcd credentials.
    pub auth: crate::live::world::LiveAuth,
    /// How often the record and the election are read.
    pub follow_interval: Duration,
    /// How often each node is polled.
    pub check_interval: Duration,
    /// Polls failing for this long make a node down (`s_down`).
    pub down_after: Duration,
    /// TTL of the membership key's lease, in seconds.
    pub ttl_s: i64,
    /// The master name events carry (Sentinel's `master_name`).
    pub master_name: String,
    /// This instance as registered for the others.
    pub member: Member,
    /// TLS to the nodes (`[redis.tls]`).
    pub redis_tls: Option<crate::live::tls::Tls>,
    /// TLS to etcd (`https://` endpoints).
    pub etcd_tls: Option<crate::live::tls::Tls>,
}

impl FollowOptions {
    /// The follower of a live run configured by `config`: its etcd, node
    /// polls and timing (`check_interval_ms`, `down_after_ms`), reading
    /// etcd every 200 ms; events name the group `master_name`.
    pub fn new(config: &crate::config::Config, master_name: &str, member: Member) -> Self {
        let settings = &config.group.settings;
        Self {
            etcd: config.live.etcd.clone(),
            prefix: config.live.prefix.clone(),
            timeout: config.live.timeout,
            poll_timeout: config.live.poll_timeout,
            password: config.live.password.clone(),
            auth: config.live.auth.clone(),
            redis_tls: config.live.redis_tls.clone(),
            etcd_tls: config.live.etcd_tls.clone(),
            follow_interval: Duration::from_millis(200),
            check_interval: Duration::from_millis(settings.check_interval_ms),
            down_after: Duration::from_millis(settings.down_after_ms),
            ttl_s: config.live.ttl_s,
            master_name: master_name.to_string(),
            member,
        }
    }
}

/// Splits `host:port` (a bracketed IPv6 host loses its brackets); `None`
/// when the port is not a number.
pub fn split_addr(addr: &str) -> Option<(String, u16)> {
    let (host, port) = addr.rsplit_once(':')?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_string(), port.parse().ok()?))
}

/// The view's nodes for `config`, nothing seen yet.
pub fn nodes_of(config: &GroupConfig) -> Vec<NodeEntry> {
    config
        .nodes
        .iter()
        .map(|n| {
            let (host, port) = split_addr(&n.addr).unwrap_or_else(|| (n.addr.clone(), 0));
            NodeEntry {
                name: n.name.clone(),
                addr: n.addr.clone(),
                host,
                port,
                priority: n.priority,
                seen: NodeSeen::default(),
            }
        })
        .collect()
}

/// Sentinel's `%@` for a master: `master <name> <ip> <port>`.
fn master_at(name: &str, node: &NodeEntry) -> String {
    format!("master {name} {} {}", node.host, node.port)
}

/// Sentinel's `%@` for a replica of `primary`:
/// `slave <ip>:<port> <ip> <port> @ <name> <primary-ip> <primary-port>`.
fn replica_at(name: &str, node: &NodeEntry, primary: &NodeEntry) -> String {
    format!(
        "slave {}:{} {} {} @ {name} {} {}",
        node.host, node.port, node.host, node.port, primary.host, primary.port
    )
}

fn event(channel: &str, message: String) -> Event {
    Event {
        channel: channel.to_string(),
        message,
    }
}

/// The Sentinel events that tell what changed from `before` to `after`:
/// a node going down or coming back (`+sdown`/`-sdown`, and
/// `+odown`/`-odown` for the recorded primary: one instance's judgement is
/// the quorum this protocol offers), a new primary in the record
/// (`+switch-master`, then `+failover-end`), and each replica of the
/// switch's new primary once it is seen following it (`+slave-reconf-done`).
/// `awaiting` carries, from one call to the next, the replicas of the
/// latest switch not yet seen following the new primary.
///
/// Sentinel publishes `+slave-reconf-done` and `+failover-end` before
/// `+switch-master`; here the record switches first (it is the truth every
/// answer follows) and the replicas follow it, so `+switch-master` comes
/// first.
pub fn events(name: &str, before: &GroupView, after: &GroupView, awaiting: &mut Vec<String>) -> Vec<Event> {
    let mut out = Vec::new();
    let primary_after = after.primary();
    for node in &after.nodes {
        let was_down = before.node(&node.name).is_some_and(|n| n.seen.down);
        if was_down == node.seen.down {
            continue;
        }
        // A primary seen going down in the same step as the record switched
        // away from it (the leader failed over before this follower's own
        // `down_after` ran out) went down as the primary: told as a real
        // Sentinel tells it, `+sdown`/`+odown master` first, then
        // `+switch-master` and `+sdown slave` in its new role (below).
        let is_primary = primary_after.is_some_and(|p| p.name == node.name)
            || (node.seen.down && before.primary().is_some_and(|p| p.name == node.name));
        let at = match primary_after {
            Some(p) if !is_primary => replica_at(name, node, p),
            _ => master_at(name, node),
        };
        let (sign, odown) = if node.seen.down {
            ("+", format!("{at} #quorum 1/1"))
        } else {
            ("-", at.clone())
        };
        out.push(event(&format!("{sign}sdown"), at));
        if is_primary {
            out.push(event(&format!("{sign}odown"), odown));
        }
    }
    let Some(primary) = primary_after else {
        return out;
    };
    if let Some(old) = before.primary().filter(|old| old.name != primary.name) {
        out.push(event(
            "+switch-master",
            format!("{name} {} {} {} {}", old.host, old.port, primary.host, primary.port),
        ));
        out.push(event("+failover-end", master_at(name, primary)));
        *awaiting = after.replicas().map(|n| n.name.clone()).collect();
        // The old primary, still down, is now a replica of the new one: a
        // real Sentinel's `+sdown` for it in its new role (so that its
        // `-sdown slave` when it returns has its pair).
        if let Some(old) = after.node(&old.name).filter(|n| n.seen.down) {
            out.push(event("+sdown", replica_at(name, old, primary)));
        }
    }
    awaiting.retain(|replica| match after.node(replica) {
        Some(node) if node.replicates(&primary.addr) => {
            out.push(event("+slave-reconf-done", replica_at(name, node, primary)));
            false
        }
        Some(_) => true,
        None => false,
    });
    out
}

/// Starts the follower: registers this instance, then keeps `shared`'s
/// view current and publishes the events of every change, until
/// `shutdown` is set (then it removes its registration).
pub fn spawn(
    options: FollowOptions,
    config: GroupConfig,
    shared: Arc<Shared>,
    shutdown: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("arbiter-follow".into())
        .spawn(move || Follower::new(options, config, shared).run(&shutdown))
}

struct Follower {
    options: FollowOptions,
    etcd: Etcd,
    redis: RedisNodes,
    keys: Keys,
    shared: Arc<Shared>,
    view: GroupView,
    lease: Option<i64>,
    renewed: Option<Instant>,
    polled: Option<Instant>,
    /// Replicas of the latest switch not yet seen following the new
    /// primary (see [`events`]).
    awaiting: Vec<String>,
}

impl Follower {
    fn new(options: FollowOptions, config: GroupConfig, shared: Arc<Shared>) -> Self {
        let view = GroupView {
            instance: options.member.instance.clone(),
            nodes: nodes_of(&config),
            ..GroupView::default()
        };
        Self {
            etcd: Etcd::with_tls(options.etcd.clone(), options.timeout, options.etcd_tls.as_ref())
                .with_credentials(options.auth.etcd.clone()),
            redis: RedisNodes::authenticated(
                options.poll_timeout,
                options.auth.redis_username.clone(),
                options.password.clone(),
            )
            .with_tls(options.redis_tls.clone()),
            keys: Keys::new(&options.prefix),
            options,
            shared,
            view,
            lease: None,
            renewed: None,
            polled: None,
            awaiting: Vec::new(),
        }
    }

    fn run(mut self, shutdown: &AtomicBool) {
        while !shutdown.load(Ordering::SeqCst) {
            let started = Instant::now();
            self.step();
            let rest = self.options.follow_interval.saturating_sub(started.elapsed());
            // Sleep in slices, so that a shutdown is seen quickly.
            let until = Instant::now() + rest;
            while !shutdown.load(Ordering::SeqCst) && Instant::now() < until {
                std::thread::sleep(
                    until
                        .saturating_duration_since(Instant::now())
                        .min(Duration::from_millis(50)),
                );
            }
        }
        if let Some(lease) = self.lease {
            let _ = self.etcd.revoke(lease);
        }
    }

    /// One round: membership, record and election, node polls when due;
    /// then the new view is shared and its events published.
    fn step(&mut self) {
        let before = self.view.clone();
        self.register();
        self.read_etcd();
        if self.polled.is_none_or(|t| t.elapsed() >= self.options.check_interval) {
            self.polled = Some(Instant::now());
            self.poll_nodes();
        }
        let events = events(&self.options.master_name, &before, &self.view, &mut self.awaiting);
        self.shared.set_view(self.view.clone());
        // (at debug level: they are Sentinel's pub/sub events, which the
        // `[sentinel]` and `[http]` endpoints serve; the log says what the
        // controller does in its own words)
        for e in &events {
            tracing::debug!(target: "arbiter::follow", channel = %e.channel, message = %e.message, "event");
            self.shared.hub.publish(e);
        }
    }

    /// Keeps `PREFIX/members/<instance>` alive on its own lease.
    fn register(&mut self) {
        let ttl = self.options.ttl_s.max(2);
        let renew_every = Duration::from_millis(ttl as u64 * 1000 / 3);
        if let Some(lease) = self.lease {
            if self.renewed.is_some_and(|t| t.elapsed() < renew_every) {
                return;
            }
            match self.etcd.keepalive(lease) {
                Ok(left) if left > 0 => {
                    self.renewed = Some(Instant::now());
                    return;
                }
                Ok(_) => self.lease = None,
                Err(_) => return,
            }
        }
        let Ok(lease) = self.etcd.grant(ttl) else { return };
        let key = self.keys.member(&self.options.member.instance);
        let value = serde_json::to_string(&self.options.member).unwrap_or_default();
        let _ = self.etcd.delete(&key);
        if self.etcd.create(&key, &value, lease).is_ok() {
            self.lease = Some(lease);
            self.renewed = Some(Instant::now());
        } else {
            let _ = self.etcd.revoke(lease);
        }
    }

    fn read_etcd(&mut self) {
        let read = || -> Result<_, super::etcd::EtcdError> {
            let record = self.etcd.get(&self.keys.record(), false)?;
            let election = self.etcd.get_prefix(&self.keys.election())?;
            let members = self.etcd.get_prefix(&self.keys.members())?;
            Ok((record, election, members))
        };
        match read() {
            Ok((record, election, members)) => {
                self.view.etcd_error = None;
                self.view.etcd_ok = Some(Instant::now());
                // An unreadable record keeps the last one read: answers
                // stay with a node a record named.
                if let Some(kv) = record {
                    match serde_json::from_str::<GroupRecord>(&kv.value) {
                        Ok(record) => {
                            self.view.record = Some(RecordSeen {
                                record,
                                revision: kv.mod_revision,
                            })
                        }
                        Err(e) => self.view.etcd_error = Some(format!("{}: unreadable record: {e}", kv.key)),
                    }
                }
                self.view.leader = election.first().map(|kv| (kv.value.clone(), kv.create_revision));
                self.view.members = members
                    .iter()
                    .filter_map(|kv| serde_json::from_str::<Member>(&kv.value).ok())
                    .map(|m| (m.instance.clone(), m))
                    .collect();
            }
            Err(e) => self.view.etcd_error = Some(e.to_string()),
        }
    }

    fn poll_nodes(&mut self) {
        let down_after = self.options.down_after;
        for node in &mut self.view.nodes {
            let now = Instant::now();
            let seen = &mut node.seen;
            seen.polled = Some(now);
            match self.redis.status(&node.addr) {
                Ok(status) => {
                    seen.status = Some(status);
                    seen.error = None;
                    seen.last_ok = Some(now);
                    seen.failing_since = None;
                    seen.down = false;
                }
                Err(e) => {
                    seen.status = None;
                    seen.error = Some(e.to_string());
                    // Down once no answer came for `down_after`, counted
                    // from the last answer, or from the first failed poll
                    // when none ever came.
                    let failing_since = *seen.failing_since.get_or_insert(now);
                    let since = seen.last_ok.unwrap_or(failing_since);
                    seen.down = now.duration_since(since) >= down_after;
                }
            }
        }
    }
}

/// Groups built by hand for the unit tests of the follower and the ports.
#[cfg(test)]
pub(crate) mod fixtures {
    use crate::types::{GroupConfig, NodeStatus, RedisNode, Role, Settings};

    /// r1, r2, r3 at `127.0.0.1:7001` ... `7003`, priority 100.
    pub(crate) fn config() -> GroupConfig {
        GroupConfig {
            nodes: (1..=3)
                .map(|i| RedisNode {
                    name: format!("r{i}"),
                    addr: format!("127.0.0.1:700{i}"),
                    priority: 100,
                })
                .collect(),
            settings: Settings::default(),
        }
    }

    /// A node's answer: `role` at `offset`, with `run_id` and `keys`.
    pub(crate) fn status(role: Role, offset: u64, run_id: &str, keys: Option<u64>) -> NodeStatus {
        NodeStatus {
            role,
            run_id: run_id.into(),
            replid: "y".into(),
            replid2: None,
            offset,
            keys,
            uptime_s: None,
        }
    }
}

#[cfg(test)]
mod tests;
