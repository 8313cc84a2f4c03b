//! [`SimNet`]: the simulated network and disk behind [`Network`].

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use super::{Delivery, Event, Files, Message, Network, NodeId, Output};
use crate::{EventQueue, Sim};

/// How messages between two nodes travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Links {
    /// Like TCP: a session per pair of nodes, messages in order, none
    /// lost while it lasts; a crash or a partition ends it (both ends get
    /// [`Event::Disconnected`], messages in flight are lost) and healing
    /// opens a new one ([`Event::Connected`]). A one-way partition ends the
    /// session too (TCP needs both directions).
    #[default]
    Sessions,
    /// Like UDP: each message on its own, lost (`net::drop`), duplicated
    /// (`net::duplicate`) or overtaken by a later one; a one-way partition
    /// delivers the other way only. No connection events.
    Datagrams,
}

/// The shape of a simulated network: its size, links, latencies and how
/// long its faults last. Which faults happen, and how often, is the run's
/// [`Sim`] (its fault points, [`Sim::set_fault_rate`]).
///
/// Fault points: `net::drop` and `net::duplicate` (datagrams, per message),
/// `net::delay` (per message: `delay_us` more), `net::crash`, `net::pause`,
/// `net::partition`, `net::partition_one_way`, `net::isolate` (asked every
/// `chaos_every_us` of virtual time), `disk::flushed` (at a crash, a prefix
/// of the unsynced writes reached the disk anyway) and `disk::torn` (at a
/// crash, the first unsynced write that did not reach it is kept in part).
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Number of nodes.
    pub nodes: u32,
    /// Sessions (default) or datagrams.
    pub links: Links,
    /// Latency of one message in µs, drawn per message (the start is what
    /// a zero choice gives). Default 1 to 5 ms.
    pub latency_us: Range<u64>,
    /// Extra latency of a `net::delay` fault, µs. Default 50 ms to 1 s.
    pub delay_us: Range<u64>,
    /// How often the crash, pause and partition points are asked, µs
    /// (0: never). Default 100 ms.
    pub chaos_every_us: u64,
    /// How long a crashed node stays down, µs. Default 100 ms to 3 s.
    pub downtime_us: Range<u64>,
    /// How long a pause lasts, µs. Default 100 ms to 2 s.
    pub pause_us: Range<u64>,
    /// How long a partition lasts, µs. Default 100 ms to 5 s.
    pub partition_us: Range<u64>,
    /// Most nodes down at once: a crash beyond it does not happen.
    /// Default: all of them.
    pub max_down: u32,
}

impl NetConfig {
    /// `nodes` nodes with the defaults.
    pub fn new(nodes: u32) -> Self {
        Self {
            nodes,
            links: Links::Sessions,
            latency_us: 1_000..5_001,
            delay_us: 50_000..1_000_001,
            chaos_every_us: 100_000,
            downtime_us: 100_000..3_000_001,
            pause_us: 100_000..2_000_001,
            partition_us: 100_000..5_000_001,
            max_down: nodes,
        }
    }

    /// Sets the kind of links.
    pub fn links(mut self, links: Links) -> Self {
        self.links = links;
        self
    }

    /// Sets the latency range, µs.
    pub fn latency_us(mut self, range: Range<u64>) -> Self {
        self.latency_us = range;
        self
    }

    /// Sets how often crash, pause and partition points are asked (0: never).
    pub fn chaos_every_us(mut self, every: u64) -> Self {
        self.chaos_every_us = every;
        self
    }

    /// Sets the most nodes down at once.
    pub fn max_down(mut self, n: u32) -> Self {
        self.max_down = n;
        self
    }
}

/// Counts of what the network did in a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Messages sent.
    pub sent: u64,
    /// Messages delivered (duplicates included).
    pub delivered: u64,
    /// Messages lost: dropped, cut by a partition, in flight on a session
    /// that ended, or sent to a node that was down.
    pub lost: u64,
}

#[derive(Debug)]
enum Pending<M> {
    Start {
        node: NodeId,
        restart: bool,
    },
    Crash {
        node: NodeId,
    },
    Message {
        from: NodeId,
        to: NodeId,
        session: u64,
        msg: M,
    },
    Timer {
        node: NodeId,
        id: u64,
        generation: u64,
    },
    Request {
        node: NodeId,
        id: u64,
        msg: M,
    },
    Connected {
        node: NodeId,
        peer: NodeId,
        session: u64,
    },
    Disconnected {
        node: NodeId,
        peer: NodeId,
        session: u64,
    },
    Chaos,
    Heal {
        cuts: Vec<(NodeId, NodeId)>,
        epoch: u64,
    },
}

#[derive(Debug, Clone)]
enum Write {
    Append(Vec<u8>),
    Put(Vec<u8>),
}

#[derive(Debug, Default)]
struct NodeSim {
    up: bool,
    /// A restart is scheduled (so a heal does not schedule another).
    starting: bool,
    paused_until_us: u64,
    /// Pending timers: id to generation.
    timers: BTreeMap<u64, u64>,
    durable: Files,
    unsynced: Vec<(String, Write)>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Session {
    up: bool,
    generation: u64,
}

/// The simulated network and disk: implements [`Network`] from a [`Sim`].
///
/// Every node starts at time 0 ([`Event::Start`]); with sessions, each pair
/// then gets [`Event::Connected`]. Faults are the fault points listed on
/// [`NetConfig`], drawn from the run's `Sim` (swarm-selected per seed, or
/// at the rate [`Sim::set_fault_rate`] set), so shrinking removes the ones
/// a failure does not need; [`Network::heal`] ends them all.
pub struct SimNet<M> {
    sim: Sim,
    config: NetConfig,
    queue: EventQueue<Pending<M>>,
    nodes: Vec<NodeSim>,
    /// By `from * n + to`: partitions cutting that direction.
    cuts: Vec<u32>,
    /// By `from * n + to`: time of the last delivery scheduled (FIFO).
    last_delivery_us: Vec<u64>,
    /// By `min * n + max`.
    sessions: Vec<Session>,
    timer_generation: u64,
    next_request: u64,
    heal_epoch: u64,
    healed: bool,
    now_us: u64,
    stats: NetStats,
}

impl<M: Message> SimNet<M> {
    /// A network of `config.nodes` nodes driven by `sim`.
    pub fn new(sim: Sim, config: NetConfig) -> Self {
        let n = config.nodes as usize;
        let mut queue = EventQueue::new();
        for node in 0..config.nodes {
            queue.schedule(Duration::ZERO, Pending::Start { node, restart: false });
        }
        if config.chaos_every_us > 0 {
            queue.schedule(Duration::from_micros(config.chaos_every_us), Pending::Chaos);
        }
        let now_us = u64::try_from(sim.now().as_micros()).unwrap_or(u64::MAX);
        Self {
            sim,
            queue,
            nodes: (0..n)
                .map(|_| NodeSim {
                    starting: true,
                    ..NodeSim::default()
                })
                .collect(),
            cuts: vec![0; n * n],
            last_delivery_us: vec![0; n * n],
            sessions: vec![Session::default(); n * n],
            timer_generation: 0,
            next_request: 0,
            heal_epoch: 0,
            healed: false,
            now_us,
            stats: NetStats::default(),
            config,
        }
    }

    /// The run's `Sim`.
    pub fn sim(&self) -> &Sim {
        &self.sim
    }

    /// The configuration.
    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    /// What the network did so far.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// Whether `node` is running.
    pub fn is_up(&self, node: NodeId) -> bool {
        self.nodes.get(node as usize).is_some_and(|n| n.up)
    }

    /// The files `node` has synced (what a crash now would keep at least).
    pub fn durable_files(&self, node: NodeId) -> Option<&Files> {
        self.nodes.get(node as usize).map(|n| &n.durable)
    }

    // ---------------------------------------------------- scripted faults

    /// Crashes `node` now (a scripted fault, beside the drawn ones): it
    /// loses its memory and unsynced writes, its sessions end. It stays
    /// down until [`SimNet::restart`] or a heal.
    pub fn crash(&mut self, node: NodeId) {
        if self.is_up(node) {
            self.queue.schedule(self.now(), Pending::Crash { node });
        }
    }

    /// Restarts `node` now with what its disk kept.
    pub fn restart(&mut self, node: NodeId) {
        if let Some(n) = self.nodes.get_mut(node as usize) {
            if !n.up && !n.starting {
                n.starting = true;
                self.queue.schedule(self.now(), Pending::Start { node, restart: true });
            }
        }
    }

    /// Cuts `from -> to` and `to -> from` until [`SimNet::heal_partitions`].
    pub fn partition(&mut self, a: NodeId, b: NodeId) {
        self.cut(&[(a, b), (b, a)], None);
    }

    /// Cuts `from -> to` only until [`SimNet::heal_partitions`].
    pub fn partition_one_way(&mut self, from: NodeId, to: NodeId) {
        self.cut(&[(from, to)], None);
    }

    /// Cuts every link of `node`, both ways.
    pub fn isolate(&mut self, node: NodeId) {
        let cuts = self.isolation(node);
        self.cut(&cuts, None);
    }

    /// Ends every partition.
    pub fn heal_partitions(&mut self) {
        self.heal_epoch += 1;
        self.cuts.iter_mut().for_each(|c| *c = 0);
        self.update_all_sessions();
    }

    /// Pauses `node` for `d`: it is told nothing meanwhile (its messages
    /// and timers wait), as a process stopped by a debugger or a long GC.
    pub fn pause(&mut self, node: NodeId, d: Duration) {
        let until = self.now_us.saturating_add(micros(d));
        if let Some(n) = self.nodes.get_mut(node as usize) {
            n.paused_until_us = n.paused_until_us.max(until);
        }
    }

    // ---------------------------------------------------- internals

    fn now(&self) -> Duration {
        Duration::from_micros(self.now_us)
    }

    fn n(&self) -> usize {
        self.nodes.len()
    }

    fn latency(&self) -> u64 {
        let mut l = self.sim.range(self.config.latency_us.clone());
        if self.sim.fault("net::delay") {
            l += self.sim.range(self.config.delay_us.clone());
        }
        l
    }

    fn isolation(&self, node: NodeId) -> Vec<(NodeId, NodeId)> {
        (0..self.config.nodes)
            .filter(|&p| p != node)
            .flat_map(|p| [(node, p), (p, node)])
            .collect()
    }

    fn cut(&mut self, cuts: &[(NodeId, NodeId)], heal_after_us: Option<u64>) {
        let n = self.n();
        for &(a, b) in cuts {
            if (a as usize) < n && (b as usize) < n && a != b {
                self.cuts[a as usize * n + b as usize] += 1;
            }
        }
        for &(a, b) in cuts {
            self.update_session(a, b);
        }
        if let Some(after) = heal_after_us {
            self.queue.schedule(
                Duration::from_micros(self.now_us.saturating_add(after)),
                Pending::Heal {
                    cuts: cuts.to_vec(),
                    epoch: self.heal_epoch,
                },
            );
        }
    }

    fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.cuts[from as usize * self.n() + to as usize] > 0
    }

    fn session_index(&self, a: NodeId, b: NodeId) -> usize {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        lo as usize * self.n() + hi as usize
    }

    fn update_all_sessions(&mut self) {
        for a in 0..self.config.nodes {
            for b in a + 1..self.config.nodes {
                self.update_session(a, b);
            }
        }
    }

    /// Opens or ends the session between `a` and `b` to match the nodes
    /// and the links, telling both ends.
    fn update_session(&mut self, a: NodeId, b: NodeId) {
        if self.config.links != Links::Sessions || a == b || a as usize >= self.n() || b as usize >= self.n() {
            return;
        }
        let should = self.nodes[a as usize].up && self.nodes[b as usize].up && !self.is_cut(a, b) && !self.is_cut(b, a);
        let i = self.session_index(a, b);
        let s = self.sessions[i];
        if s.up == should {
            return;
        }
        let session = s.generation + 1;
        self.sessions[i] = Session {
            up: should,
            generation: session,
        };
        if should {
            // The handshake takes one latency each way.
            let at = self.now_us + self.latency();
            for (node, peer) in [(a, b), (b, a)] {
                self.queue
                    .schedule(Duration::from_micros(at), Pending::Connected { node, peer, session });
            }
        } else {
            for (node, peer) in [(a, b), (b, a)] {
                if self.nodes[node as usize].up {
                    self.queue
                        .schedule(self.now(), Pending::Disconnected { node, peer, session });
                }
            }
        }
    }

    fn session_is(&self, a: NodeId, b: NodeId, session: u64) -> bool {
        let s = self.sessions[self.session_index(a, b)];
        s.up && s.generation == session
    }

    fn chaos(&mut self) {
        let n = self.config.nodes;
        if n == 0 {
            return;
        }
        if self.sim.fault("net::crash") {
            let node = self.sim.below(u64::from(n)) as NodeId;
            let down = self.nodes.iter().filter(|x| !x.up).count() as u32;
            if self.nodes[node as usize].up && down < self.config.max_down {
                self.queue.schedule(self.now(), Pending::Crash { node });
                let after = self.sim.range(self.config.downtime_us.clone());
                self.nodes[node as usize].starting = true;
                self.queue.schedule(
                    Duration::from_micros(self.now_us + after),
                    Pending::Start { node, restart: true },
                );
            }
        }
        if self.sim.fault("net::pause") {
            let node = self.sim.below(u64::from(n)) as NodeId;
            let d = self.sim.range(self.config.pause_us.clone());
            self.pause(node, Duration::from_micros(d));
        }
        if n >= 2 {
            let pair = |sim: &Sim| {
                let a = sim.below(u64::from(n)) as NodeId;
                let b = (a + 1 + sim.below(u64::from(n - 1)) as NodeId) % n;
                (a, b)
            };
            if self.sim.fault("net::partition") {
                let (a, b) = pair(&self.sim);
                let after = self.sim.range(self.config.partition_us.clone());
                self.cut(&[(a, b), (b, a)], Some(after));
            }
            if self.sim.fault("net::partition_one_way") {
                let (a, b) = pair(&self.sim);
                let after = self.sim.range(self.config.partition_us.clone());
                self.cut(&[(a, b)], Some(after));
            }
            if self.sim.fault("net::isolate") {
                let node = self.sim.below(u64::from(n)) as NodeId;
                let after = self.sim.range(self.config.partition_us.clone());
                let cuts = self.isolation(node);
                self.cut(&cuts, Some(after));
            }
        }
        if !self.healed {
            self.queue.schedule(
                Duration::from_micros(self.now_us + self.config.chaos_every_us),
                Pending::Chaos,
            );
        }
    }

    /// The disk at a crash: unsynced writes are lost, but for a prefix
    /// that reached the disk anyway (`disk::flushed`) and a torn part of
    /// the next one (`disk::torn`).
    fn crash_disk(&mut self, node: NodeId) {
        let unsynced = std::mem::take(&mut self.nodes[node as usize].unsynced);
        if unsynced.is_empty() {
            return;
        }
        let kept = if self.sim.fault("disk::flushed") {
            self.sim.below(unsynced.len() as u64 + 1) as usize
        } else {
            0
        };
        let torn = kept < unsynced.len() && self.sim.fault("disk::torn");
        let durable = &mut self.nodes[node as usize].durable;
        for (file, write) in &unsynced[..kept] {
            apply(durable, file, write);
        }
        if torn {
            let (file, write) = &unsynced[kept];
            let len = match write {
                Write::Append(b) | Write::Put(b) => b.len() as u64,
            };
            let part = self.sim.below(len) as usize;
            let cut = match write {
                Write::Append(b) => Write::Append(b[..part].to_vec()),
                Write::Put(b) => Write::Put(b[..part].to_vec()),
            };
            apply(&mut self.nodes[node as usize].durable, file, &cut);
        }
    }

    fn send(&mut self, from: NodeId, to: NodeId, msg: M) {
        self.stats.sent += 1;
        let n = self.n();
        if to as usize >= n || from == to {
            self.stats.lost += 1;
            return;
        }
        match self.config.links {
            Links::Datagrams => {
                if self.is_cut(from, to) || self.sim.fault("net::drop") {
                    self.stats.lost += 1;
                    return;
                }
                if self.sim.fault("net::duplicate") {
                    let at = self.now_us + self.latency();
                    self.queue.schedule(
                        Duration::from_micros(at),
                        Pending::Message {
                            from,
                            to,
                            session: 0,
                            msg: msg.clone(),
                        },
                    );
                }
                let at = self.now_us + self.latency();
                self.queue.schedule(
                    Duration::from_micros(at),
                    Pending::Message {
                        from,
                        to,
                        session: 0,
                        msg,
                    },
                );
            }
            Links::Sessions => {
                let s = self.sessions[self.session_index(from, to)];
                if !s.up {
                    self.stats.lost += 1;
                    return;
                }
                let link = from as usize * n + to as usize;
                let at = (self.now_us + self.latency()).max(self.last_delivery_us[link]);
                self.last_delivery_us[link] = at;
                self.queue.schedule(
                    Duration::from_micros(at),
                    Pending::Message {
                        from,
                        to,
                        session: s.generation,
                        msg,
                    },
                );
            }
        }
    }

    /// Puts an event for a paused node back until its pause ends; true
    /// when it did.
    fn defer_if_paused(&mut self, node: NodeId, p: Pending<M>) -> Result<Pending<M>, ()> {
        let until = self.nodes[node as usize].paused_until_us;
        if until > self.now_us {
            self.queue.schedule(Duration::from_micros(until), p);
            Err(())
        } else {
            Ok(p)
        }
    }
}

fn apply(files: &mut Files, file: &str, write: &Write) {
    match write {
        Write::Append(b) => files.entry(file.to_string()).or_default().extend_from_slice(b),
        Write::Put(b) => {
            files.insert(file.to_string(), b.clone());
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl<M: Message> Network<M> for SimNet<M> {
    fn next_event(&mut self, until_us: u64) -> Option<Delivery<M>> {
        loop {
            let due = self.queue.peek_time().is_some_and(|t| micros(t) < until_us);
            if !due {
                self.now_us = self.now_us.max(until_us);
                self.sim.advance_to(Duration::from_micros(self.now_us));
                return None;
            }
            let (at, pending) = self.queue.pop_advancing(&self.sim)?;
            self.now_us = micros(at);
            let node_of = |p: &Pending<M>| match p {
                Pending::Message { to, .. } => Some(*to),
                Pending::Timer { node, .. }
                | Pending::Request { node, .. }
                | Pending::Connected { node, .. }
                | Pending::Disconnected { node, .. } => Some(*node),
                _ => None,
            };
            let pending = match node_of(&pending) {
                Some(node) => match self.defer_if_paused(node, pending) {
                    Ok(p) => p,
                    Err(()) => continue,
                },
                None => pending,
            };
            let (node, event) = match pending {
                Pending::Chaos => {
                    self.chaos();
                    continue;
                }
                Pending::Heal { cuts, epoch } => {
                    if epoch == self.heal_epoch {
                        let n = self.n();
                        for &(a, b) in &cuts {
                            let c = &mut self.cuts[a as usize * n + b as usize];
                            *c = c.saturating_sub(1);
                        }
                        for &(a, b) in &cuts {
                            self.update_session(a, b);
                        }
                    }
                    continue;
                }
                Pending::Start { node, restart } => {
                    let x = &mut self.nodes[node as usize];
                    x.starting = false;
                    if x.up {
                        continue;
                    }
                    x.up = true;
                    x.paused_until_us = 0;
                    let files = x.durable.clone();
                    for peer in 0..self.config.nodes {
                        self.update_session(node, peer);
                    }
                    (node, Event::Start { restart, files })
                }
                Pending::Crash { node } => {
                    if !self.nodes[node as usize].up {
                        continue;
                    }
                    let x = &mut self.nodes[node as usize];
                    x.up = false;
                    x.timers.clear();
                    x.paused_until_us = 0;
                    self.crash_disk(node);
                    for peer in 0..self.config.nodes {
                        self.update_session(node, peer);
                    }
                    (node, Event::Crash)
                }
                Pending::Message { from, to, session, msg } => {
                    let alive = self.nodes[to as usize].up;
                    let ok = match self.config.links {
                        Links::Datagrams => alive,
                        Links::Sessions => alive && self.session_is(from, to, session),
                    };
                    if !ok {
                        self.stats.lost += 1;
                        continue;
                    }
                    self.stats.delivered += 1;
                    (to, Event::Message { from, msg })
                }
                Pending::Timer { node, id, generation } => {
                    let x = &mut self.nodes[node as usize];
                    if !x.up || x.timers.get(&id) != Some(&generation) {
                        continue;
                    }
                    x.timers.remove(&id);
                    (node, Event::Timer { id })
                }
                Pending::Request { node, id, msg } => {
                    if !self.nodes[node as usize].up {
                        // The client's request reached no one: it times out.
                        continue;
                    }
                    (node, Event::Request { id, msg })
                }
                Pending::Connected { node, peer, session } => {
                    if !self.session_is(node, peer, session) {
                        continue;
                    }
                    (node, Event::Connected { peer })
                }
                Pending::Disconnected { node, peer, session } => {
                    if !self.nodes[node as usize].up
                        || self.sessions[self.session_index(node, peer)].generation != session
                    {
                        continue;
                    }
                    (node, Event::Disconnected { peer })
                }
            };
            return Some(Delivery {
                at_us: self.now_us,
                node,
                event,
            });
        }
    }

    fn perform(&mut self, node: NodeId, output: Output<M>) {
        if node as usize >= self.n() || !self.nodes[node as usize].up {
            return;
        }
        match output {
            Output::Send { to, msg } => self.send(node, to, msg),
            Output::SetTimer { id, after_us } => {
                self.timer_generation += 1;
                let generation = self.timer_generation;
                self.nodes[node as usize].timers.insert(id, generation);
                self.queue.schedule(
                    Duration::from_micros(self.now_us.saturating_add(after_us)),
                    Pending::Timer { node, id, generation },
                );
            }
            Output::CancelTimer { id } => {
                self.nodes[node as usize].timers.remove(&id);
            }
            Output::Append { file, bytes } => self.nodes[node as usize].unsynced.push((file, Write::Append(bytes))),
            Output::Put { file, bytes } => self.nodes[node as usize].unsynced.push((file, Write::Put(bytes))),
            Output::Sync => {
                let x = &mut self.nodes[node as usize];
                for (file, write) in std::mem::take(&mut x.unsynced) {
                    apply(&mut x.durable, &file, &write);
                }
            }
            Output::Reply { .. } => {}
        }
    }

    fn submit(&mut self, node: NodeId, after_us: u64, msg: M) -> u64 {
        let id = self.next_request;
        self.next_request += 1;
        self.queue.schedule(
            Duration::from_micros(self.now_us.saturating_add(after_us)),
            Pending::Request { node, id, msg },
        );
        id
    }

    fn heal(&mut self) {
        self.healed = true;
        self.sim.set_faults_enabled(false);
        self.heal_partitions();
        for node in 0..self.config.nodes {
            let x = &mut self.nodes[node as usize];
            x.paused_until_us = 0;
            if !x.up {
                // A restart already scheduled later finds the node up and
                // is ignored.
                x.starting = true;
                self.queue.schedule(self.now(), Pending::Start { node, restart: true });
            }
        }
    }
}
