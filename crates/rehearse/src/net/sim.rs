//! [`SimNet`]: the simulated network and disk behind [`Network`].

use std::cell::Cell;
use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;
use std::time::Duration;

use super::{Delivery, Event, Files, Message, Network, NodeId, Output, push_short, short};
use crate::Sim;
use crate::sim::{FaultCache, Timed};

/// How messages between two nodes travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Links {
    /// Like TCP: a session per pair of nodes, messages in order, none
    /// lost, duplicated or reordered while it lasts. A session opens when
    /// both ends are up and nothing cuts them, one drawn latency later
    /// (both ends get [`Event::Connected`] at the same time); a node's
    /// sends to a peer before its `Connected` are lost. A crash or a
    /// partition ends it: both ends that are up get
    /// [`Event::Disconnected`], messages in flight on it are lost, and the
    /// next session opens when the cause is gone. A one-way partition ends
    /// the session too (TCP needs both directions). Or the session outlives
    /// the cut (`net::stall`, as TCP retransmits through a partition
    /// shorter than its timeouts): what is sent a cut way waits and
    /// arrives after the heal, in order, the other way flows on, and
    /// neither end is told anything. At a crash, `net::linger` delivers a
    /// prefix of what the crashed node had sent before its peer is told (a
    /// killed process's kernel still sends what it wrote).
    #[default]
    Sessions,
    /// Like UDP: each message on its own, lost (`net::drop`), duplicated
    /// (`net::duplicate`), or overtaken by a later one (latency is drawn
    /// per message, and `net::delay` adds more); a partition, one-way or
    /// not, cuts a direction at the send and at the delivery, so a one-way
    /// partition delivers the other way only. No connection events.
    Datagrams,
}

/// The shape of a simulated network: its size, links, latencies and how
/// long its faults last. Which faults happen, and how often, is the run's
/// [`Sim`] (its fault points, [`Sim::set_fault_rate`]).
///
/// Fault points (see [`SimNet`] for what each one does):
///
/// | point | asked | effect |
/// |---|---|---|
/// | `net::drop` | per datagram sent | the datagram is lost |
/// | `net::duplicate` | per datagram sent | it arrives twice |
/// | `net::delay` | per message (and session handshake) | `delay_us` more latency |
/// | `net::crash` | every `chaos_every_us` (each tick drawn in half to one and a half of it) | a node crashes, restarts after `downtime_us` |
/// | `net::pause` | every `chaos_every_us` | a node is told nothing for `pause_us` |
/// | `net::partition` | every `chaos_every_us` | two nodes cut both ways for `partition_us` |
/// | `net::partition_one_way` | every `chaos_every_us` | one direction cut for `partition_us` |
/// | `net::isolate` | every `chaos_every_us` | a node cut from all others for `partition_us` |
/// | `net::stall` | at a cut of a live session (sessions) | the session outlives the cut: the cut way waits for the heal, the other way flows |
/// | `net::linger` | at a crash, per session with the crashed node | what it sent arrives anyway until a drawn time (a prefix), then the peer is told |
/// | `disk::flushed` | at a crash with unsynced writes | a prefix of them reached the disk anyway |
/// | `disk::torn` | at a crash, after `disk::flushed` | part of the next unsynced write reached it |
/// | `disk::corrupt` | at a crash, after `disk::torn`, when unsynced bytes reached the disk | one byte of the last write that reached it is garbled |
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
    /// (0: never): each tick is drawn between half and one and a half of
    /// it (a zero choice gives it exactly), so that faults meet a node's
    /// own periods at every phase. Default 100 ms.
    pub chaos_every_us: u64,
    /// How long a crashed node stays down, µs. Default 100 ms to 3 s.
    pub downtime_us: Range<u64>,
    /// How long a pause lasts, µs. Default 100 ms to 2 s.
    pub pause_us: Range<u64>,
    /// How long a partition lasts, µs. Default 100 ms to 5 s.
    pub partition_us: Range<u64>,
    /// Most nodes down at once: a drawn crash beyond it does not happen
    /// (scripted crashes, [`SimNet::crash`], are not limited). Default:
    /// all of them.
    pub max_down: u32,
    /// How long an [`Output::Sync`] takes, µs, drawn per sync (a zero
    /// choice gives the start: an instant sync). Outputs the node gives
    /// after a sync, in the same step or later ones, wait until it
    /// completes, as they would behind a blocking `fsync`; a crash before
    /// then loses them and leaves the writes unsynced. Default 0 to 2 ms.
    pub sync_us: Range<u64>,
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
            sync_us: 0..2_001,
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

    /// Sets the extra latency of a `net::delay` fault, µs.
    pub fn delay_us(mut self, range: Range<u64>) -> Self {
        self.delay_us = range;
        self
    }

    /// Sets how often crash, pause and partition points are asked (0: never).
    pub fn chaos_every_us(mut self, every: u64) -> Self {
        self.chaos_every_us = every;
        self
    }

    /// Sets how long a drawn crash keeps its node down, µs.
    pub fn downtime_us(mut self, range: Range<u64>) -> Self {
        self.downtime_us = range;
        self
    }

    /// Sets how long a drawn pause lasts, µs.
    pub fn pause_us(mut self, range: Range<u64>) -> Self {
        self.pause_us = range;
        self
    }

    /// Sets how long a drawn partition lasts, µs.
    pub fn partition_us(mut self, range: Range<u64>) -> Self {
        self.partition_us = range;
        self
    }

    /// Sets the most nodes down at once.
    pub fn max_down(mut self, n: u32) -> Self {
        self.max_down = n;
        self
    }

    /// Sets how long a sync takes, µs (`0..1`: every sync instant).
    pub fn sync_us(mut self, range: Range<u64>) -> Self {
        self.sync_us = range;
        self
    }
}

/// Counts of what the network did in a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct NetStats {
    /// Messages sent (misaddressed ones included).
    pub sent: u64,
    /// Messages delivered (duplicates included).
    pub delivered: u64,
    /// Messages lost: dropped, cut by a partition, sent on no session, in
    /// flight on a session that ended, or to a node that crashed.
    pub lost: u64,
    /// Messages to a node that does not exist (`to >= nodes`) or to the
    /// sender itself, and client requests to a node that does not exist:
    /// a bug of the node or the test, never delivered.
    pub misaddressed: u64,
}

#[derive(Debug)]
enum Pending<M> {
    Start {
        node: NodeId,
        ticket: u64,
    },
    Crash {
        node: NodeId,
        ticket: u64,
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
    Resume {
        node: NodeId,
    },
    /// A node's sync completes (ignored unless `generation` is its sync's).
    SyncDone {
        node: NodeId,
        generation: u64,
    },
    /// A node performs the outputs it gave while a sync was running (held
    /// while it is paused, like any event for it).
    Flush {
        node: NodeId,
    },
    Chaos,
    Heal {
        cuts: Vec<(NodeId, NodeId)>,
        epoch: u64,
    },
    /// What a stalled session held the `from -> to` way arrives now.
    Release {
        from: NodeId,
        to: NodeId,
    },
}

impl<M> Pending<M> {
    /// The node an event is told to, for the ones a pause holds back.
    fn addressee(&self) -> Option<NodeId> {
        match self {
            Self::Message { to, .. } => Some(*to),
            Self::Timer { node, .. }
            | Self::Request { node, .. }
            | Self::Connected { node, .. }
            | Self::Disconnected { node, .. }
            | Self::Flush { node } => Some(*node),
            _ => None,
        }
    }
}

/// What a stalled session holds one way, in order, and whether its
/// release is scheduled.
type Stalled<M> = (VecDeque<Pending<M>>, bool);

#[derive(Debug, Clone)]
enum Write {
    Append(Vec<u8>),
    Put(Vec<u8>),
}

#[derive(Debug)]
struct NodeSim<M> {
    up: bool,
    /// Started at least once (the next start is a restart).
    started: bool,
    /// Ticket of the crash scheduled, not yet happened.
    crash: Option<u64>,
    /// Ticket of the start scheduled, not yet happened.
    start: Option<u64>,
    /// End of the current pause.
    paused_until_us: Option<u64>,
    /// Events that arrived during the pause, in arrival order.
    held: VecDeque<Pending<M>>,
    /// Pending timers: id to generation.
    timers: Timers,
    durable: Files,
    unsynced: Vec<(String, Write)>,
    /// The sync running: its generation and how many of `unsynced` it
    /// makes durable.
    syncing: Option<(u64, usize)>,
    /// Outputs given while a sync runs, performed in order when it ends.
    after_sync: VecDeque<Output<M>>,
}

/// A node's pending timers, id to generation: a node has a few, and a
/// scan of a vector costs less than a map's insert and remove (a tenth of
/// a message-heavy run's time went there).
#[derive(Debug, Default)]
struct Timers(Vec<(u64, u64)>);

impl Timers {
    #[inline]
    fn get(&self, id: &u64) -> Option<&u64> {
        self.0.iter().find(|(i, _)| i == id).map(|(_, g)| g)
    }

    #[inline]
    fn insert(&mut self, id: u64, generation: u64) {
        match self.0.iter_mut().find(|(i, _)| *i == id) {
            Some(t) => t.1 = generation,
            None => self.0.push((id, generation)),
        }
    }

    #[inline]
    fn remove(&mut self, id: &u64) {
        if let Some(k) = self.0.iter().position(|(i, _)| i == id) {
            self.0.swap_remove(k);
        }
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

impl<M> Default for NodeSim<M> {
    fn default() -> Self {
        Self {
            up: false,
            started: false,
            crash: None,
            start: None,
            paused_until_us: None,
            held: VecDeque::new(),
            timers: Timers::default(),
            durable: Files::new(),
            unsynced: Vec::new(),
            syncing: None,
            after_sync: VecDeque::new(),
        }
    }
}

/// The session state of a pair of nodes `lo < hi`; arrays are indexed by
/// side, 0 for `lo` and 1 for `hi`.
#[derive(Debug, Default, Clone, Copy)]
struct Pair {
    /// A session is open (both up, no cut).
    up: bool,
    /// The session's number: the latest one opened.
    generation: u64,
    /// Per sending side: time of the last delivery scheduled (FIFO).
    last_delivery_us: [u64; 2],
    /// Per side: the session that side was told `Connected` for and not
    /// yet `Disconnected` (0: none).
    told: [u64; 2],
    /// When the session ended at a crash and `net::linger` fired: what
    /// the crashed end had sent and is due by this time still arrives
    /// (its kernel sent it), and the live end is told `Disconnected` at
    /// this time, after them (0: nothing lingers).
    linger_until_us: u64,
    /// `net::stall` fired at a cut of this session: it outlives the cuts
    /// (messages the cut way wait in `SimNet::stalled`) until it ends.
    stalls: bool,
}

/// The simulated network and disk: implements [`Network`] from a [`Sim`].
///
/// Every node starts at the time the network is made ([`Event::Start`]);
/// with [`Links::Sessions`], each pair then gets [`Event::Connected`].
/// Faults are the fault points listed on [`NetConfig`], drawn from the
/// run's `Sim` (swarm-selected per seed, or at the rate
/// [`Sim::set_fault_rate`] set), so shrinking removes the ones a failure
/// does not need; [`Network::heal`] ends them all. The same faults can be
/// scripted: [`SimNet::crash`], [`SimNet::restart`], [`SimNet::partition`],
/// [`SimNet::partition_one_way`], [`SimNet::isolate`],
/// [`SimNet::heal_partitions`], [`SimNet::pause`].
///
/// What the network promises:
///
/// - **Crash.** A crashed node loses its memory (the
///   [`Cluster`](super::Cluster) drops it), its timers (none fires after
///   the crash, even once it restarts), its sessions (live peers get
///   [`Event::Disconnected`]; messages in flight either way are lost, but
///   with `net::linger` a prefix of what it sent still arrives, and the
///   peer is told after it, up to one latency after the crash or the last
///   message's time) and
///   its unsynced writes (but see the disk). Events for it while it is down
///   (messages, timers, client requests) are dropped. It restarts after
///   `downtime_us` (drawn crashes), at [`SimNet::restart`] or at a heal,
///   with `Start { restart: true, files }`: `files` is what its disk kept.
/// - **Disk.** [`Output::Append`] and [`Output::Put`] change a node's
///   files; [`Output::Sync`] makes every write so far durable once it
///   ends: it takes `sync_us` (drawn; a zero choice gives an instant
///   sync), and what the node gives after it (sends, timers, writes, in
///   that step or later ones) waits until then, as behind a blocking
///   `fsync`. So "send the vote, then sync" and "sync, then send the
///   vote" differ: a crash during the sync leaves the first one's vote
///   sent and its record unsynced, and the second one's vote unsent. At a crash,
///   unsynced writes are lost, except that with `disk::flushed` a prefix of
///   them (in order, maybe empty, maybe all) reached the disk anyway, and
///   with `disk::torn` the first write after that prefix reached it in part
///   (a prefix of its bytes: a torn `Put` leaves the file truncated), and
///   with `disk::corrupt` one byte of the last write that reached the disk
///   (whole or torn) is garbled. Synced writes always survive intact.
/// - **Pause.** A paused node is told nothing: events for it (messages,
///   timers, requests, session notices) wait and are delivered when the
///   pause ends, in the order they arrived, before anything later. Its
///   sessions stay up. A heal ends every pause at once.
/// - **Partitions** are counted per direction: a drawn partition heals
///   itself after `partition_us`; [`SimNet::heal_partitions`] and a heal
///   end all of them. A partition ends the sessions it cuts, unless
///   `net::stall` fires: then the session stays up, what crosses a cut
///   way waits (in order, behind what waits already) until that way heals
///   and arrives one drawn latency later, the other way is delivered as
///   usual, and a crash of either end loses what waits.
/// - **Client requests** ([`Network::submit`]) arrive as
///   [`Event::Request`] unless the node is down then (the request is
///   dropped: the client timed out). [`Output::Reply`] goes to the client
///   straight away, faultless: the network does nothing with it, the
///   `Cluster` keeps it ([`Cluster::replies`](super::Cluster::replies)).
/// - **Misaddressed** messages (to a node `>= nodes`, or to the sender
///   itself) and requests to a node `>= nodes` are never delivered and
///   are counted in [`NetStats::misaddressed`]: no panic.
///
/// Memory: the queue holds the messages in flight, pending timers (a
/// timer set again leaves its old entry until its time) and held events;
/// it does not grow with the length of a run. [`Links::Sessions`] keep
/// about 56 bytes per pair of nodes (28 MB for 1,000 nodes); datagrams
/// keep nothing per pair.
pub struct SimNet<M> {
    sim: Sim,
    config: NetConfig,
    queue: Timed<u64, Pending<M>>,
    /// Events of nodes whose pause ended, delivered before the queue.
    released: VecDeque<Pending<M>>,
    /// Sessions only: messages a stalled session holds per cut way
    /// `(from, to)`, in order, and whether their release is scheduled.
    stalled: BTreeMap<(NodeId, NodeId), Stalled<M>>,
    nodes: Vec<NodeSim<M>>,
    /// Partitions cutting a direction `(from, to)`, how many.
    cuts: BTreeMap<(NodeId, NodeId), u32>,
    /// Sessions only: by pair, see `pair_index`.
    pairs: Vec<Pair>,
    tickets: u64,
    timer_generation: u64,
    /// The last sync's generation.
    sync_generation: u64,
    next_request: u64,
    heal_epoch: u64,
    healed: bool,
    now_us: u64,
    stats: NetStats,
    /// Lane names, `n0`, `n1`, ...
    lanes: Vec<String>,
    /// Each lane's position in the `Sim`'s list, once set
    /// ([`Sim::set_node_at`]; `usize::MAX` before).
    lane_hints: Vec<Cell<usize>>,
    /// The fault points asked per message ([`HOT`]), cached.
    hot: [FaultCache; 3],
}

/// The fault points asked per message, by index in `SimNet::hot`.
const HOT: [&str; 3] = ["net::drop", "net::duplicate", "net::delay"];
const DROP: usize = 0;
const DUPLICATE: usize = 1;
const DELAY: usize = 2;

impl<M: Message> SimNet<M> {
    /// A network of `config.nodes` nodes driven by `sim`.
    pub fn new(sim: Sim, config: NetConfig) -> Self {
        let n = config.nodes as usize;
        let now_us = micros(sim.now());
        let pairs = match config.links {
            Links::Sessions => vec![Pair::default(); n * n.saturating_sub(1) / 2],
            Links::Datagrams => Vec::new(),
        };
        let mut net = Self {
            sim,
            queue: Timed::new(),
            released: VecDeque::new(),
            stalled: BTreeMap::new(),
            nodes: (0..n).map(|_| NodeSim::default()).collect(),
            cuts: BTreeMap::new(),
            pairs,
            tickets: 0,
            timer_generation: 0,
            sync_generation: 0,
            next_request: 0,
            heal_epoch: 0,
            healed: false,
            now_us,
            stats: NetStats::default(),
            lanes: (0..n).map(|i| format!("n{i}")).collect(),
            lane_hints: (0..n).map(|_| Cell::new(usize::MAX)).collect(),
            hot: [FaultCache::default(); 3],
            config,
        };
        for node in 0..net.config.nodes {
            net.schedule_start(node, now_us);
        }
        if net.config.chaos_every_us > 0 {
            net.queue
                .schedule(now_us.saturating_add(net.config.chaos_every_us), Pending::Chaos);
        }
        net
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

    /// Events waiting: in the queue (messages in flight, timers, requests,
    /// scheduled faults) and held for paused nodes.
    pub fn pending_events(&self) -> usize {
        self.queue.len()
            + self.released.len()
            + self.nodes.iter().map(|n| n.held.len()).sum::<usize>()
            + self.stalled.values().map(|(held, _)| held.len()).sum::<usize>()
    }

    /// Whether `node` is running.
    pub fn is_up(&self, node: NodeId) -> bool {
        self.nodes.get(node as usize).is_some_and(|n| n.up)
    }

    /// Whether `node` is paused.
    pub fn is_paused(&self, node: NodeId) -> bool {
        self.nodes
            .get(node as usize)
            .is_some_and(|n| n.paused_until_us.is_some())
    }

    /// Whether a partition cuts `from -> to`.
    pub fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        !self.cuts.is_empty() && self.cuts.contains_key(&(from, to))
    }

    /// Whether a session between `a` and `b` is open ([`Links::Sessions`];
    /// its ends may not have been told yet).
    pub fn session_open(&self, a: NodeId, b: NodeId) -> bool {
        self.pair_index(a, b).is_some_and(|i| self.pairs[i].up)
    }

    /// The files `node` has synced (what a crash now would keep at least).
    pub fn durable_files(&self, node: NodeId) -> Option<&Files> {
        self.nodes.get(node as usize).map(|n| &n.durable)
    }

    // ---------------------------------------------------- scripted faults

    /// Crashes `node` now (a scripted fault, beside the drawn ones): it
    /// loses its memory and unsynced writes, its sessions end. It stays
    /// down until [`SimNet::restart`] or a heal. Nothing when it is down
    /// or a crash of it is already scheduled.
    pub fn crash(&mut self, node: NodeId) {
        if self.is_up(node) {
            self.note(Some(node), || format!("scripted: n{node} crashes"));
        }
        self.schedule_crash(node);
    }

    fn schedule_crash(&mut self, node: NodeId) {
        let now = self.now_us;
        if let Some(x) = self.nodes.get_mut(node as usize) {
            if x.up && x.crash.is_none() {
                self.tickets += 1;
                x.crash = Some(self.tickets);
                // A drawn restart must not undo the scripted crash.
                x.start = None;
                self.queue.schedule(
                    now,
                    Pending::Crash {
                        node,
                        ticket: self.tickets,
                    },
                );
            }
        }
    }

    /// Restarts `node` now with what its disk kept: after its crash when
    /// one is scheduled (so `crash(n); restart(n)` crashes then restarts),
    /// sooner than a drawn restart. Nothing when it is up.
    pub fn restart(&mut self, node: NodeId) {
        if let Some(x) = self.nodes.get(node as usize) {
            if !x.up || x.crash.is_some() {
                self.note(Some(node), || format!("scripted: n{node} restarts"));
                self.schedule_start(node, self.now_us);
            }
        }
    }

    /// Cuts `a -> b` and `b -> a` until [`SimNet::heal_partitions`].
    pub fn partition(&mut self, a: NodeId, b: NodeId) {
        self.note(Some(a), || format!("scripted: n{a} <-> n{b} cut"));
        self.cut(&[(a, b), (b, a)], None);
    }

    /// Cuts `from -> to` only until [`SimNet::heal_partitions`].
    pub fn partition_one_way(&mut self, from: NodeId, to: NodeId) {
        self.note(Some(from), || format!("scripted: n{from} -> n{to} cut"));
        self.cut(&[(from, to)], None);
    }

    /// Cuts every link of `node`, both ways, until
    /// [`SimNet::heal_partitions`].
    pub fn isolate(&mut self, node: NodeId) {
        self.note(Some(node), || format!("scripted: n{node} cut from all"));
        let cuts = self.isolation(node);
        self.cut(&cuts, None);
    }

    /// Ends every partition, drawn or scripted.
    pub fn heal_partitions(&mut self) {
        if !self.cuts.is_empty() {
            self.note(None, || "scripted: every partition healed".to_string());
        }
        self.heal_epoch += 1;
        self.cuts.clear();
        self.update_all_sessions();
    }

    /// Pauses `node` for `d`: it is told nothing meanwhile (its messages
    /// and timers wait), as a process stopped by a debugger or a long GC.
    /// A pause of a paused node extends it; a node that is down is not
    /// paused.
    pub fn pause(&mut self, node: NodeId, d: Duration) {
        if self.is_up(node) && !d.is_zero() {
            self.note(Some(node), || format!("scripted: n{node} paused for {d:?}"));
        }
        self.pause_for(node, d);
    }

    fn pause_for(&mut self, node: NodeId, d: Duration) {
        let until = self.now_us.saturating_add(micros(d));
        let Some(x) = self.nodes.get_mut(node as usize) else {
            return;
        };
        if !x.up || until <= self.now_us || x.paused_until_us.is_some_and(|u| u >= until) {
            return;
        }
        x.paused_until_us = Some(until);
        self.queue.schedule(until, Pending::Resume { node });
    }

    /// Ends the pause of `node` now: what it was not told arrives next.
    pub fn resume(&mut self, node: NodeId) {
        if let Some(x) = self.nodes.get_mut(node as usize) {
            if x.paused_until_us.take().is_some() {
                self.released.extend(x.held.drain(..));
            }
        }
    }

    // ---------------------------------------------------- internals

    fn n(&self) -> usize {
        self.nodes.len()
    }

    fn schedule_start(&mut self, node: NodeId, at_us: u64) {
        self.tickets += 1;
        let ticket = self.tickets;
        self.nodes[node as usize].start = Some(ticket);
        self.queue.schedule(at_us, Pending::Start { node, ticket });
    }

    /// Sets the run's lane: node `node`'s, or none.
    #[inline(always)]
    fn lane(&self, node: Option<NodeId>) {
        let Some(n) = node else {
            return self.sim.set_node_at(usize::MAX);
        };
        let Some(hint) = self.lane_hints.get(n as usize) else {
            return self.sim.set_node_at(usize::MAX);
        };
        match hint.get() {
            usize::MAX => {
                self.sim.set_node(Some(&self.lanes[n as usize]));
                hint.set(self.sim.node_hint());
            }
            known => self.sim.set_node_at(known),
        }
    }

    /// A note on the tape, in `node`'s lane (the run's lane is left as it
    /// was).
    fn note(&self, node: Option<NodeId>, text: impl FnOnce() -> String) {
        let before = self.sim.node_hint();
        self.lane(node);
        self.sim.note(&text());
        self.sim.set_node_at(before);
    }

    /// Whether fault `point` fires now; when it does, `effect` draws what
    /// it does (after the decision, so a zero choice draws nothing more)
    /// and says it for the fault mark: the node it hit (its lane) and what
    /// happened. The run's lane is left as it was.
    fn fault<T>(&mut self, point: &str, effect: impl FnOnce(&mut Self) -> (T, Option<NodeId>, String)) -> Option<T> {
        if !self.sim.fires(point) {
            return None;
        }
        self.fired(point, effect)
    }

    /// [`SimNet::fault`] for a point asked per message (`HOT[k]`), with
    /// the decision cached between asks ([`Sim::fires_cached`]).
    #[inline(always)]
    fn fault_hot<T>(&mut self, k: usize, effect: impl FnOnce(&mut Self) -> (T, Option<NodeId>, String)) -> Option<T> {
        if !self.sim.fires_cached(HOT[k], &mut self.hot[k]) {
            return None;
        }
        self.fired(HOT[k], effect)
    }

    /// What a fault that fired did, marked on the tape.
    #[cold]
    fn fired<T>(&mut self, point: &str, effect: impl FnOnce(&mut Self) -> (T, Option<NodeId>, String)) -> Option<T> {
        let (value, node, detail) = effect(self);
        let before = self.sim.node_hint();
        self.lane(node);
        self.sim.mark_fault(point, Some(&detail));
        self.sim.set_node_at(before);
        Some(value)
    }

    /// One message's latency (or a handshake's), `net::delay` included;
    /// `what` names its link and itself for the fault mark, in `lane`.
    #[inline(always)]
    fn latency(&mut self, lane: Option<NodeId>, what: impl FnOnce() -> (String, String)) -> u64 {
        let l = self.sim.range(self.config.latency_us.clone());
        let extra = self.fault_hot(DELAY, |net| {
            let extra = net.sim.range(net.config.delay_us.clone());
            let (link, it) = what();
            (extra, lane, format!("{link} +{:?}: {it}", Duration::from_micros(extra)))
        });
        l.saturating_add(extra.unwrap_or(0))
    }

    fn isolation(&self, node: NodeId) -> Vec<(NodeId, NodeId)> {
        if node >= self.config.nodes {
            return Vec::new();
        }
        (0..self.config.nodes)
            .filter(|&p| p != node)
            .flat_map(|p| [(node, p), (p, node)])
            .collect()
    }

    fn cut(&mut self, cuts: &[(NodeId, NodeId)], heal_after_us: Option<u64>) {
        let n = self.config.nodes;
        let cuts: Vec<_> = cuts
            .iter()
            .copied()
            .filter(|&(a, b)| a < n && b < n && a != b)
            .collect();
        for &link in &cuts {
            *self.cuts.entry(link).or_default() += 1;
        }
        for &(a, b) in &cuts {
            self.update_session(a, b);
        }
        if let Some(after) = heal_after_us {
            self.queue.schedule(
                self.now_us.saturating_add(after),
                Pending::Heal {
                    cuts,
                    epoch: self.heal_epoch,
                },
            );
        }
    }

    /// The index in `pairs` of the pair `a`, `b` (sessions only).
    fn pair_index(&self, a: NodeId, b: NodeId) -> Option<usize> {
        let (lo, hi) = (a.min(b) as usize, a.max(b) as usize);
        (lo != hi && hi < self.n() && !self.pairs.is_empty()).then(|| hi * (hi - 1) / 2 + lo)
    }

    fn side(a: NodeId, b: NodeId) -> usize {
        usize::from(a > b)
    }

    fn update_all_sessions(&mut self) {
        if self.pairs.is_empty() {
            return;
        }
        for a in 0..self.config.nodes {
            for b in a + 1..self.config.nodes {
                self.update_session(a, b);
            }
        }
    }

    /// Opens or ends the session between `a` and `b` to match the nodes
    /// and the cuts, telling both ends.
    fn update_session(&mut self, a: NodeId, b: NodeId) {
        let Some(i) = self.pair_index(a, b) else {
            return;
        };
        let (na, nb) = (&self.nodes[a as usize], &self.nodes[b as usize]);
        let both_up = na.up && nb.up;
        let cut = self.is_cut(a, b) || self.is_cut(b, a);
        let mut should = both_up && !cut;
        if both_up && cut && self.pairs[i].up {
            // A live session cut: TCP retransmits through the cut until
            // it times out, so it may outlive it.
            if self.pairs[i].stalls
                || self
                    .fault("net::stall", |_| {
                        let detail =
                            format!("n{a} <-> n{b}: the session outlives the cut; the cut way waits for the heal");
                        ((), Some(a), detail)
                    })
                    .is_some()
            {
                self.pairs[i].stalls = true;
                should = true;
            }
        }
        if self.pairs[i].up == should {
            if should && self.pairs[i].stalls {
                self.pairs[i].stalls = cut;
                for (from, to) in [(a, b), (b, a)] {
                    self.release(from, to);
                }
            }
            return;
        }
        if should {
            // One drawn latency for the handshake; both ends learn at once.
            let latency = self.latency(None, || (format!("n{a} <-> n{b}"), "session handshake".to_string()));
            // Not before the live end is told the last session ended.
            let at = self.now_us.saturating_add(latency).max(self.pairs[i].linger_until_us);
            let p = &mut self.pairs[i];
            p.up = true;
            p.stalls = false;
            p.generation += 1;
            p.last_delivery_us = [0; 2];
            let session = p.generation;
            for (node, peer) in [(a, b), (b, a)] {
                self.queue.schedule(at, Pending::Connected { node, peer, session });
            }
        } else {
            let p = &mut self.pairs[i];
            p.up = false;
            p.stalls = false;
            let session = p.generation;
            let at = self.now_us.max(p.linger_until_us);
            for (node, peer) in [(a, b), (b, a)] {
                if self.nodes[node as usize].up {
                    self.queue.schedule(at, Pending::Disconnected { node, peer, session });
                }
                // What a stall held is lost with the session.
                if let Some((held, _)) = self.stalled.remove(&(node, peer)) {
                    self.stats.lost += held.len() as u64;
                }
            }
        }
    }

    fn chaos(&mut self) {
        let n = self.config.nodes;
        if n == 0 {
            return;
        }
        let _ = self.fault("net::crash", |net| {
            let node = net.sim.below(u64::from(n)) as NodeId;
            let down = net.nodes.iter().filter(|x| !x.up || x.crash.is_some()).count() as u32;
            let x = &net.nodes[node as usize];
            let detail = if !x.up || x.crash.is_some() {
                format!("n{node} is down already: nothing happens")
            } else if down >= net.config.max_down {
                format!("n{node}: {down} nodes down, the most (max_down): nothing happens")
            } else {
                net.schedule_crash(node);
                let after = net.sim.range(net.config.downtime_us.clone());
                net.schedule_start(node, net.now_us.saturating_add(after));
                format!("n{node} crashes, restarts in {:?}", Duration::from_micros(after))
            };
            ((), Some(node), detail)
        });
        let _ = self.fault("net::pause", |net| {
            let node = net.sim.below(u64::from(n)) as NodeId;
            let d = Duration::from_micros(net.sim.range(net.config.pause_us.clone()));
            let detail = if net.is_up(node) {
                format!("n{node} paused for {d:?}")
            } else {
                format!("n{node} is down: nothing happens")
            };
            net.pause_for(node, d);
            ((), Some(node), detail)
        });
        if n >= 2 {
            let pair = |sim: &Sim| {
                let a = sim.below(u64::from(n)) as NodeId;
                let b = (a + 1 + sim.below(u64::from(n - 1)) as NodeId) % n;
                (a, b)
            };
            let _ = self.fault("net::partition", |net| {
                let (a, b) = pair(&net.sim);
                let after = net.sim.range(net.config.partition_us.clone());
                net.cut(&[(a, b), (b, a)], Some(after));
                (
                    (),
                    Some(a),
                    format!("n{a} <-> n{b} cut for {:?}", Duration::from_micros(after)),
                )
            });
            let _ = self.fault("net::partition_one_way", |net| {
                let (a, b) = pair(&net.sim);
                let after = net.sim.range(net.config.partition_us.clone());
                net.cut(&[(a, b)], Some(after));
                (
                    (),
                    Some(a),
                    format!("n{a} -> n{b} cut for {:?}", Duration::from_micros(after)),
                )
            });
            let _ = self.fault("net::isolate", |net| {
                let node = net.sim.below(u64::from(n)) as NodeId;
                let after = net.sim.range(net.config.partition_us.clone());
                let cuts = net.isolation(node);
                net.cut(&cuts, Some(after));
                (
                    (),
                    Some(node),
                    format!("n{node} cut from all for {:?}", Duration::from_micros(after)),
                )
            });
        }
        if !self.healed {
            // A jitter per tick, so that a schedule dividing the period
            // does not always meet the faults at the same phase: the next
            // tick is drawn in [every/2, every*3/2], and a zero choice
            // keeps the period itself.
            let every = self.config.chaos_every_us;
            let j = self.sim.below(every.saturating_add(1));
            let next = every / 2 + ((u128::from(j) + u128::from(every / 2)) % (u128::from(every) + 1)) as u64;
            self.queue.schedule(self.now_us.saturating_add(next), Pending::Chaos);
        }
    }

    /// Performs, in order, the outputs `node` gave while its sync ran,
    /// until one of them is a sync that takes time again.
    fn flush(&mut self, node: NodeId) {
        while self.nodes[node as usize].syncing.is_none() {
            let Some(output) = self.nodes[node as usize].after_sync.pop_front() else {
                return;
            };
            self.perform_output(node, output);
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
        let total = unsynced.len();
        let kept = self
            .fault("disk::flushed", |net| {
                let kept = net.sim.below(total as u64 + 1) as usize;
                (
                    kept,
                    Some(node),
                    format!("n{node}: {kept} of {total} unsynced writes reached the disk"),
                )
            })
            .unwrap_or(0);
        let part = if kept < total {
            let (file, write) = &unsynced[kept];
            let (Write::Append(b) | Write::Put(b)) = write;
            let (len, kind) = (
                b.len(),
                if matches!(write, Write::Append(_)) {
                    "Append"
                } else {
                    "Put"
                },
            );
            self.fault("disk::torn", |net| {
                let part = net.sim.below(len as u64) as usize;
                (
                    part,
                    Some(node),
                    format!("n{node}: {part} of {len} bytes of the {kind} to {file:?} reached the disk"),
                )
            })
        } else {
            None
        };
        // The last write that reached the disk, whole or torn, and how
        // many of its bytes: disk::corrupt garbles one of them.
        let last = match part {
            Some(len) if len > 0 => Some((kept, len)),
            _ if kept > 0 => {
                let (Write::Append(b) | Write::Put(b)) = &unsynced[kept - 1].1;
                Some((kept - 1, b.len()))
            }
            _ => None,
        };
        let corrupt = last.filter(|(_, len)| *len > 0).and_then(|(k, len)| {
            let file = &unsynced[k].0;
            self.fault("disk::corrupt", |net| {
                let at = net.sim.below(len as u64) as usize;
                let mask = 1 + net.sim.below(255) as u8;
                (
                    (k, at, mask),
                    Some(node),
                    format!("n{node}: byte {at} of the last write to {file:?} that reached the disk is garbled"),
                )
            })
        });
        let garble = |i: usize, mut write: Write| {
            if let Some((k, at, mask)) = corrupt {
                if k == i {
                    let (Write::Append(b) | Write::Put(b)) = &mut write;
                    b[at] ^= mask;
                }
            }
            write
        };
        let durable = &mut self.nodes[node as usize].durable;
        for (i, (file, write)) in unsynced[..kept].iter().enumerate() {
            if corrupt.is_some_and(|(k, ..)| k == i) {
                apply(durable, file, &garble(i, write.clone()));
            } else {
                apply(durable, file, write);
            }
        }
        if let Some(part) = part {
            let (file, write) = &unsynced[kept];
            let cut = match write {
                Write::Append(b) => Write::Append(b[..part].to_vec()),
                Write::Put(b) => Write::Put(b[..part].to_vec()),
            };
            apply(durable, file, &garble(kept, cut));
        }
    }

    /// Schedules the release of what a stalled session holds the `from ->
    /// to` way, one drawn latency from now (the retransmission), when
    /// that way is no longer cut. Until then what arrives that way is
    /// held too, behind it (FIFO).
    fn release(&mut self, from: NodeId, to: NodeId) {
        let waiting = self
            .stalled
            .get(&(from, to))
            .is_some_and(|(held, scheduled)| !held.is_empty() && !scheduled);
        if !waiting || self.is_cut(from, to) {
            return;
        }
        let latency = self.latency(Some(from), || {
            (format!("n{from} -> n{to}"), "retransmission after a stall".to_string())
        });
        if let Some((_, scheduled)) = self.stalled.get_mut(&(from, to)) {
            *scheduled = true;
        }
        self.queue
            .schedule(self.now_us.saturating_add(latency), Pending::Release { from, to });
    }

    /// At `node`'s crash, before its session `i` with `peer` ends: with
    /// `net::linger`, what `node` sent on it still arrives until a drawn
    /// time (a prefix of it, in order), and `peer` is told the session
    /// ended then, as over TCP, where a killed process's kernel sends what
    /// it had written, then a FIN, or an RST that drops the rest. Without
    /// it, all of it is lost and `peer` is told now.
    fn linger(&mut self, node: NodeId, peer: NodeId, i: usize) {
        let p = self.pairs[i];
        self.pairs[i].linger_until_us = 0;
        if !p.up || !self.is_up(peer) {
            return;
        }
        // Up to the last message due, or one latency (the FIN's) when
        // none is in flight.
        let last = p.last_delivery_us[Self::side(node, peer)]
            .max(self.now_us.saturating_add(self.config.latency_us.end.saturating_sub(1)));
        let now = self.now_us;
        if let Some(until) = self.fault("net::linger", |net| {
            let until = now + net.sim.below(last - now + 1);
            (
                until,
                Some(node),
                format!(
                    "n{node} -> n{peer}: what it sent arrives for {:?} more",
                    Duration::from_micros(until - now)
                ),
            )
        }) {
            self.pairs[i].linger_until_us = until;
        }
    }

    /// The mark of a datagram `net::drop` lost, in the sender's lane: its
    /// text (`n0 -> n2: Append(..)`, the RON of the message) is written
    /// when the tape is read, not here (it cost twice the rest of the
    /// mark, at 1% of the sends of `failover_ref`).
    #[cold]
    #[inline(never)]
    fn lost(&mut self, from: NodeId, to: NodeId, msg: M) {
        let before = self.sim.node_hint();
        self.lane(Some(from));
        self.sim.mark_fault_kept(HOT[DROP], LinkText { from, to, msg });
        self.sim.set_node_at(before);
    }

    #[inline(always)]
    fn send(&mut self, from: NodeId, to: NodeId, msg: M) {
        self.stats.sent += 1;
        if to as usize >= self.n() || from == to {
            self.stats.misaddressed += 1;
            return;
        }
        match self.config.links {
            Links::Datagrams => {
                if self.is_cut(from, to) {
                    self.stats.lost += 1;
                    return;
                }
                if self.sim.fires_cached(HOT[DROP], &mut self.hot[DROP]) {
                    self.stats.lost += 1;
                    self.lost(from, to, msg);
                    return;
                }
                let what = || (format!("n{from} -> n{to}"), short(&msg));
                if self
                    .fault_hot(DUPLICATE, |_| ((), Some(from), link_text(from, to, &msg)))
                    .is_some()
                {
                    let at = self.now_us.saturating_add(self.latency(Some(from), what));
                    self.queue.schedule(
                        at,
                        Pending::Message {
                            from,
                            to,
                            session: 0,
                            msg: msg.clone(),
                        },
                    );
                }
                let at = self.now_us.saturating_add(self.latency(Some(from), what));
                self.queue.schedule(
                    at,
                    Pending::Message {
                        from,
                        to,
                        session: 0,
                        msg,
                    },
                );
            }
            Links::Sessions => {
                let Some(i) = self.pair_index(from, to) else {
                    return;
                };
                let side = Self::side(from, to);
                let p = self.pairs[i];
                if !p.up || p.told[side] != p.generation {
                    // No session, or the sender was not told it opened.
                    self.stats.lost += 1;
                    return;
                }
                let latency = self.latency(Some(from), || (format!("n{from} -> n{to}"), short(&msg)));
                let at = self.now_us.saturating_add(latency).max(p.last_delivery_us[side]);
                self.pairs[i].last_delivery_us[side] = at;
                self.queue.schedule(
                    at,
                    Pending::Message {
                        from,
                        to,
                        session: p.generation,
                        msg,
                    },
                );
            }
        }
    }

    /// Turns a due event into what its node is told, or `None` when it
    /// is told nothing (stale, or an internal event).
    fn deliver(&mut self, pending: Pending<M>) -> Option<(NodeId, Event<M>)> {
        match pending {
            Pending::Chaos => {
                self.chaos();
                None
            }
            Pending::Heal { cuts, epoch } => {
                if epoch == self.heal_epoch {
                    for link in &cuts {
                        if let Some(c) = self.cuts.get_mut(link) {
                            *c -= 1;
                            if *c == 0 {
                                self.cuts.remove(link);
                            }
                        }
                    }
                    for &(a, b) in &cuts {
                        self.update_session(a, b);
                    }
                }
                None
            }
            Pending::Release { from, to } => {
                if let Some((held, scheduled)) = self.stalled.get_mut(&(from, to)) {
                    *scheduled = false;
                    if !self.cuts.contains_key(&(from, to)) {
                        // Delivered next, in order, each checked again.
                        self.released.extend(held.drain(..));
                        self.stalled.remove(&(from, to));
                    }
                }
                None
            }
            Pending::SyncDone { node, generation } => {
                // Durable when the sync ends, even if the node is paused
                // (the kernel finishes it); what the node gave after the
                // sync is performed once it runs again.
                let x = &mut self.nodes[node as usize];
                match x.syncing {
                    Some((g, upto)) if g == generation && x.up => {
                        x.syncing = None;
                        for (file, write) in x.unsynced.drain(..upto) {
                            apply(&mut x.durable, &file, &write);
                        }
                        if x.paused_until_us.is_some() {
                            x.held.push_back(Pending::Flush { node });
                        } else {
                            self.flush(node);
                        }
                    }
                    _ => {}
                }
                None
            }
            Pending::Flush { node } => {
                self.flush(node);
                None
            }
            Pending::Resume { node } => {
                if self.nodes[node as usize]
                    .paused_until_us
                    .is_some_and(|u| u <= self.now_us)
                {
                    self.resume(node);
                }
                None
            }
            Pending::Start { node, ticket } => {
                let x = &mut self.nodes[node as usize];
                if x.start != Some(ticket) || x.up {
                    return None;
                }
                x.start = None;
                x.up = true;
                let restart = std::mem::replace(&mut x.started, true);
                let files = x.durable.clone();
                for peer in 0..self.config.nodes {
                    self.update_session(node, peer);
                }
                Some((node, Event::Start { restart, files }))
            }
            Pending::Crash { node, ticket } => {
                let x = &mut self.nodes[node as usize];
                if x.crash != Some(ticket) || !x.up {
                    return None;
                }
                x.crash = None;
                x.up = false;
                x.timers.clear();
                // A sync that did not end made nothing durable, and what
                // the node gave after it never happened.
                x.syncing = None;
                x.after_sync.clear();
                x.paused_until_us = None;
                let held = std::mem::take(&mut x.held);
                self.stats.lost += held.iter().filter(|p| matches!(p, Pending::Message { .. })).count() as u64;
                self.crash_disk(node);
                for peer in 0..self.config.nodes {
                    if let Some(i) = self.pair_index(node, peer) {
                        self.pairs[i].told[Self::side(node, peer)] = 0;
                        self.linger(node, peer, i);
                    }
                    self.update_session(node, peer);
                }
                Some((node, Event::Crash))
            }
            Pending::Message { from, to, session, msg } => {
                let ok = self.nodes[to as usize].up
                    && match self.config.links {
                        Links::Datagrams => !self.is_cut(from, to),
                        Links::Sessions => self.pair_index(from, to).is_some_and(|i| {
                            let p = &self.pairs[i];
                            p.generation == session
                                && p.told[Self::side(to, from)] == session
                                && (p.up || (self.now_us <= p.linger_until_us && !self.is_cut(from, to)))
                        }),
                    };
                if !ok {
                    self.stats.lost += 1;
                    return None;
                }
                if self.config.links == Links::Sessions
                    && (self.is_cut(from, to) || self.stalled.contains_key(&(from, to)))
                    && self.pair_index(from, to).is_some_and(|i| self.pairs[i].up)
                {
                    // A stalled session: it waits for the heal, in order.
                    let (held, _) = self.stalled.entry((from, to)).or_default();
                    held.push_back(Pending::Message { from, to, session, msg });
                    return None;
                }
                self.stats.delivered += 1;
                Some((to, Event::Message { from, msg }))
            }
            Pending::Timer { node, id, generation } => {
                let x = &mut self.nodes[node as usize];
                if !x.up || x.timers.get(&id) != Some(&generation) {
                    return None;
                }
                x.timers.remove(&id);
                Some((node, Event::Timer { id }))
            }
            Pending::Request { node, id, msg } => self.nodes[node as usize]
                .up
                .then_some((node, Event::Request { id, msg })),
            Pending::Connected { node, peer, session } => {
                let i = self.pair_index(node, peer)?;
                let p = &mut self.pairs[i];
                if !self.nodes[node as usize].up || !p.up || p.generation != session {
                    return None;
                }
                p.told[Self::side(node, peer)] = session;
                Some((node, Event::Connected { peer }))
            }
            Pending::Disconnected { node, peer, session } => {
                let i = self.pair_index(node, peer)?;
                let told = &mut self.pairs[i].told[Self::side(node, peer)];
                if !self.nodes[node as usize].up || *told != session {
                    // It never heard of that session.
                    return None;
                }
                *told = 0;
                Some((node, Event::Disconnected { peer }))
            }
        }
    }
}

impl<M: Message> SimNet<M> {
    /// Performs one output of `node`, which is up (the lane is the
    /// caller's). Inlined in `step`, where it runs for every output: a
    /// call cost a fiftieth of an unrecorded `failover_ref`.
    #[inline(always)]
    fn perform_output(&mut self, node: NodeId, output: Output<M>) {
        let x = &mut self.nodes[node as usize];
        if x.syncing.is_some() {
            // Behind a running sync, as behind a blocking fsync.
            x.after_sync.push_back(output);
            return;
        }
        match output {
            Output::Send { to, msg } => self.send(node, to, msg),
            Output::SetTimer { id, after_us } => {
                self.timer_generation += 1;
                let generation = self.timer_generation;
                self.nodes[node as usize].timers.insert(id, generation);
                self.queue.schedule(
                    self.now_us.saturating_add(after_us),
                    Pending::Timer { node, id, generation },
                );
            }
            Output::CancelTimer { id } => {
                self.nodes[node as usize].timers.remove(&id);
            }
            Output::Append { file, bytes } => self.nodes[node as usize].unsynced.push((file, Write::Append(bytes))),
            Output::Put { file, bytes } => self.nodes[node as usize].unsynced.push((file, Write::Put(bytes))),
            Output::Sync => {
                // A range of one value draws nothing (`0..1`: instant, as
                // before syncs took time).
                let r = &self.config.sync_us;
                let takes = if r.end.saturating_sub(r.start) <= 1 {
                    r.start
                } else {
                    self.sim.range(r.clone())
                };
                let x = &mut self.nodes[node as usize];
                if takes == 0 || x.unsynced.is_empty() {
                    for (file, write) in std::mem::take(&mut x.unsynced) {
                        apply(&mut x.durable, &file, &write);
                    }
                } else {
                    self.sync_generation += 1;
                    let generation = self.sync_generation;
                    x.syncing = Some((generation, x.unsynced.len()));
                    self.queue.schedule(
                        self.now_us.saturating_add(takes),
                        Pending::SyncDone { node, generation },
                    );
                }
            }
            Output::Reply { .. } => {}
        }
    }
}

/// `n{from} -> n{to}: {short(msg)}`, a datagram's fault detail, in one
/// string.
fn link_text<M: Message>(from: NodeId, to: NodeId, msg: &M) -> String {
    let mut text = String::with_capacity(64);
    write_link_text(&mut text, from, to, msg);
    text
}

fn write_link_text<M: Message>(out: &mut String, from: NodeId, to: NodeId, msg: &M) {
    use std::fmt::Write as _;
    let _ = write!(out, "n{from} -> n{to}: ");
    push_short(out, msg);
}

/// A lost datagram's fault detail, kept as the message and written as
/// [`link_text`] when the tape is read.
struct LinkText<M> {
    from: NodeId,
    to: NodeId,
    msg: M,
}

impl<M: Message> crate::record::KeptText for LinkText<M> {
    fn write_text(&self, out: &mut String) {
        write_link_text(out, self.from, self.to, &self.msg);
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
            let released = if self.now_us < until_us {
                self.released.pop_front()
            } else {
                None
            };
            let pending = match released {
                Some(p) => p,
                None => {
                    let Some((at, p)) = self.queue.pop_before(until_us) else {
                        self.now_us = self.now_us.max(until_us);
                        self.sim.advance_to_us(self.now_us);
                        self.lane(None);
                        return None;
                    };
                    if at > self.now_us {
                        self.now_us = at;
                        self.sim.advance_to_us(at);
                    }
                    p
                }
            };
            if let Some(node) = pending.addressee() {
                let x = &mut self.nodes[node as usize];
                if x.paused_until_us.is_some() {
                    x.held.push_back(pending);
                    continue;
                }
            }
            if let Some((node, event)) = self.deliver(pending) {
                self.lane(Some(node));
                return Some(Delivery {
                    at_us: self.now_us,
                    node,
                    event,
                });
            }
        }
    }

    fn perform(&mut self, node: NodeId, output: Output<M>) {
        if self.is_up(node) {
            // The lane of the recorded call: the node's.
            self.lane(Some(node));
            self.perform_output(node, output);
        }
    }

    fn step(&mut self, node: NodeId, outputs: &mut Vec<Output<M>>, until_us: u64) -> Option<Delivery<M>> {
        // No lane per output: the call is recorded in the lane of the
        // event it delivers, and a fault an output meets marks its own.
        if self.is_up(node) {
            // In order: reversed, then popped from the end (a `drain`'s
            // drop, out of line, was 2% of an unrecorded `failover_ref`).
            outputs.reverse();
            while let Some(output) = outputs.pop() {
                self.perform_output(node, output);
            }
        } else {
            outputs.clear();
        }
        self.next_event(until_us)
    }

    fn submit(&mut self, node: NodeId, after_us: u64, msg: M) -> u64 {
        let id = self.next_request;
        self.next_request += 1;
        self.lane(None);
        if node as usize >= self.n() {
            self.stats.misaddressed += 1;
            return id;
        }
        self.queue
            .schedule(self.now_us.saturating_add(after_us), Pending::Request { node, id, msg });
        id
    }

    fn heal(&mut self) {
        let down: Vec<String> = (0..self.config.nodes)
            .filter(|n| !self.is_up(*n))
            .map(|n| format!("n{n}"))
            .collect();
        let paused = (0..self.config.nodes).filter(|n| self.is_paused(*n)).count();
        self.note(None, || {
            format!(
                "heal: {} partitioned links, {paused} paused nodes, down nodes restart now: [{}]; no fault fires from now on",
                self.cuts.len(),
                down.join(", ")
            )
        });
        self.healed = true;
        self.sim.set_faults_enabled(false);
        self.heal_epoch += 1;
        self.cuts.clear();
        self.update_all_sessions();
        for node in 0..self.config.nodes {
            self.resume(node);
            let x = &mut self.nodes[node as usize];
            // A crash not yet happened does not happen.
            x.crash = None;
            if x.up {
                x.start = None;
            } else {
                // Now, not at a drawn restart's time.
                self.schedule_start(node, self.now_us);
            }
        }
    }
}
