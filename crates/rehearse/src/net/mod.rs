//! A simulated network and disk for N nodes of a message-passing protocol.
//!
//! The nodes are sans-IO machines ([`Node`]): told [`Event`]s (a start
//! with what their disk kept, a message, a timer, a session opening or
//! ending, a client request), they answer with [`Output`]s (send, set a
//! timer, write or sync the disk, reply to a client). A [`Cluster`] drives
//! them through one world trait, [`Network`]: in one call per event
//! ([`Network::step`]) it hands the world what the last event's node asked
//! for and pulls the next event. So the same nodes run
//!
//! - against [`SimNet`], the simulated network and disk: latency drawn per
//!   message, FIFO sessions (or datagrams that may be lost, duplicated and
//!   reordered), partitions, crashes, pauses, torn writes; every fault a
//!   named fault point of the run's [`Sim`](crate::Sim);
//! - against a [`Recorder`](crate::Recorder) of it, which writes every
//!   event and every output to the tape;
//! - against a [`Replayer`](crate::Replayer) of that tape, which drives the
//!   real nodes from the file alone and checks every output they produce.
//!
//! # What is simulated
//!
//! - **Links** ([`Links`]): by default a FIFO session per pair of nodes,
//!   like TCP: messages arrive in order and none is lost while the session
//!   lasts; a crash or a partition ends it and both ends are told
//!   ([`Event::Disconnected`]), a new one opens when the cause is gone
//!   ([`Event::Connected`] at both ends, one drawn latency later). Or
//!   datagrams, like UDP, for protocols built for them: each message may
//!   be lost, duplicated or overtaken, and no connection events.
//! - **Time**: latency drawn per message from [`NetConfig::latency_us`];
//!   per-node timers ([`Output::SetTimer`]) on virtual time.
//! - **Faults**, each a named fault point of the run's `Sim` (so each seed
//!   enables a different mix, [`Sim::set_fault_rate`](crate::Sim::set_fault_rate)
//!   or [`Sweep::fault_rate`](crate::Sweep::fault_rate) fixes a point's
//!   probability, 0 keeps it off, and shrinking removes the ones a failure
//!   does not need): `net::drop`, `net::duplicate`, `net::delay` per
//!   message; `net::crash`, `net::pause`, `net::partition`,
//!   `net::partition_one_way`, `net::isolate` asked every
//!   [`NetConfig::chaos_every_us`]; `net::stall` at a cut of a session;
//!   `net::linger`, `disk::flushed`, `disk::torn`, `disk::corrupt` at a
//!   crash. The table on [`NetConfig`] says what each does. The same
//!   faults can be scripted ([`SimNet::crash`], [`SimNet::partition`],
//!   ...).
//! - **Disk**: [`Output::Append`] and [`Output::Put`] write a node's
//!   files, [`Output::Sync`] makes them durable. A crash loses what was not
//!   synced, but for a prefix of it that reached the disk anyway
//!   (`disk::flushed`) and a torn part of the next write (`disk::torn`),
//!   maybe with a garbled byte (`disk::corrupt`), as FoundationDB and
//!   TigerBeetle test storage code. The node restarts with
//!   `Event::Start { restart: true, files }`: what its disk kept.
//! - **Clients**: [`Cluster::submit`] sends a request, delivered as
//!   [`Event::Request`]; the node answers with [`Output::Reply`], which the
//!   cluster keeps ([`Cluster::replies`]).
//! - **Heal** ([`Network::heal`]): every partition and pause ends, crashed
//!   nodes restart at once, and no fault fires for the rest of the run.
//!   [`Cluster::settle`] heals, then runs until the user's convergence
//!   predicate holds: the time it took, or a `liveness` failure with the
//!   predicate's last reason.
//!
//! [`SimNet`] lists every promise (crash, disk, pause, partitions,
//! requests, misaddressed messages, memory).
//!
//! # The driver loop
//!
//! [`Cluster::step_until`] is one turn of it:
//!
//! 1. [`Network::step`] performs what the last event's node asked for
//!    (sends, timers, writes, replies) and gives the next event before the
//!    deadline, for one node (none: the clock stands at the deadline);
//! 2. the cluster delivers it: `Start` builds the node with the `make`
//!    function (a restarted node has only what its disk kept), `Crash`
//!    drops it, anything else goes to [`Node::step`];
//! 3. the cluster drains [`Node::poll_next_message`] into the list the
//!    next turn's `step` hands over.
//!
//! [`Cluster::run_until`] turns it until a time, calling a check after
//! every event (return `Err` at the first violation: the shrinker can then
//! cut what follows). Each turn is bounded
//! ([`Cluster::max_outputs_per_event`], [`Cluster::max_events_per_instant`]):
//! a node that never stops talking, or a zero-delay loop, stops the run
//! with a `limit` failure instead of hanging it.
//!
//! # Record, replay
//!
//! Wrap the network in a [`Recorder`](crate::Recorder): every `step` (the
//! outputs it performed, the event it gave: its node and time), every
//! `submit` and `heal` goes to the tape, one call per event. A
//! [`Replayer`](crate::Replayer) of the file is a `Network` too: a
//! `Cluster` on it builds fresh nodes and drives them with the recorded
//! events, and checks every output they give against the recording, so a
//! saved failure (a [`Sweep`](crate::Sweep)'s `seed-N.shrunk.ron`)
//! replays without the simulation: `Cluster::new(size,
//! Replayer::open(path)?, make)` and the same driving code.
//!
//! The faults are on the tape too: each one that fires is a fault mark
//! saying what it did (`net::delay`, `"n0 -> n2 +516.5ms: Append(..)"`;
//! `net::crash`, `"n1 crashes, restarts in 1.2s"`), in the lane of the node
//! it hit; every `step` is recorded in the lane of the node it delivers an
//! event to (`n0`, `n1`, ...; its `outputs` are its `node` argument's,
//! from that node's previous event); scripted faults and the heal are
//! notes.
//! The `rehearse` command shows them (`inspect`, `stats`, one lane per node
//! in `html`); a replay skips them.
//!
//! ```
//! use std::collections::VecDeque;
//! use std::time::Duration;
//! use rehearse::net::{Cluster, Event, NetConfig, Node, NodeId, Output, SimNet};
//! use rehearse::{Failure, Recorder, Replayer, Sim, Trace};
//!
//! /// Pings every connected peer every 10 ms; counts the pings it got.
//! #[derive(Default)]
//! struct Pinger { peers: Vec<NodeId>, got: u64, out: VecDeque<Output<String>> }
//!
//! impl Node for Pinger {
//!     type Message = String;
//!     fn step(&mut self, _now: Duration, event: Event<String>) {
//!         match event {
//!             Event::Start { .. } => self.out.push_back(Output::SetTimer { id: 0, after_us: 10_000 }),
//!             Event::Connected { peer } => self.peers.push(peer),
//!             Event::Disconnected { peer } => self.peers.retain(|p| *p != peer),
//!             Event::Timer { .. } => {
//!                 for &to in &self.peers {
//!                     self.out.push_back(Output::Send { to, msg: "ping".into() });
//!                 }
//!                 self.out.push_back(Output::SetTimer { id: 0, after_us: 10_000 });
//!             }
//!             Event::Message { .. } => self.got += 1,
//!             _ => {}
//!         }
//!     }
//!     fn poll_next_message(&mut self) -> Option<Output<String>> {
//!         self.out.pop_front()
//!     }
//! }
//!
//! /// The test: the same code drives the simulation and the replay.
//! fn drive<W: rehearse::net::Network<String>>(c: &mut Cluster<Pinger, W>) -> Result<Duration, Failure> {
//!     c.run_until(Duration::from_secs(2), |_| Ok(()))?; // faults happen here
//!     c.settle(Duration::from_secs(10), |c| {
//!         match c.nodes().find(|(_, n)| n.peers.len() < 2) {
//!             Some((id, n)) => Err(format!("node {id} connected to {:?}", n.peers)),
//!             None if c.nodes().count() < 3 => Err("a node is down".into()),
//!             None => Ok(()),
//!         }
//!     })
//! }
//!
//! let sim = Sim::new(7);
//! let net = Recorder::new(SimNet::new(sim.clone(), NetConfig::new(3)), sim.tape());
//! let mut cluster = Cluster::new(3, net, |_| Pinger::default());
//! let took = drive(&mut cluster)?;
//!
//! // The tape alone drives fresh nodes the same way, every output checked.
//! let trace = Trace::parse(&sim.tape().contents()).unwrap();
//! let mut replay = Cluster::new(3, Replayer::from_trace(trace), |_| Pinger::default());
//! assert_eq!(drive(&mut replay)?, took);
//! assert_eq!(replay.node(0).unwrap().got, cluster.node(0).unwrap().got);
//! replay.into_world().finish().unwrap();
//! # Ok::<(), Failure>(())
//! ```
//!
//! `docs/simulating-message-passing.md` in this crate walks through a
//! replicated log built on it; `tests/net.rs` checks every promise above.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::rc::Rc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::Failure;

mod sim;

pub use sim::{Links, NetConfig, NetStats, SimNet};

/// A node's number: `0..size`.
pub type NodeId = u32;

/// What a message (and a client request or reply) must be: any serde
/// type that can be cloned and sent to another thread (a recording keeps
/// clones of the messages, encoded only when the tape is read, and a
/// sweep may hand a failure's tape to another thread).
pub trait Message: Serialize + DeserializeOwned + Clone + Debug + Send + 'static {}
impl<T: Serialize + DeserializeOwned + Clone + Debug + Send + 'static> Message for T {}

/// A node's durable files: a `BTreeMap<String, Vec<u8>>` from each file's
/// name to its bytes, what the node wrote and synced before a crash (see
/// [`Output::Sync`]). A file never written is absent:
///
/// ```
/// # use rehearse::net::Files;
/// let mut files = Files::new();
/// files.insert("log".to_string(), b"1 a\n".to_vec());
/// let log: &[u8] = files.get("log").map_or(&[], Vec::as_slice);
/// assert_eq!(log, b"1 a\n");
/// assert!(!files.contains_key("meta"));
/// ```
pub type Files = BTreeMap<String, Vec<u8>>;

/// What a node is told.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub enum Event<M> {
    /// The node starts (`restart: false`, empty `files`) or restarts after
    /// a crash with the files its disk kept: what it synced, and what a
    /// crash happened to keep of the rest (see [`SimNet`]).
    Start {
        /// True after a crash.
        restart: bool,
        /// The durable files.
        files: Files,
    },
    /// The node crashed: it lost its memory. The [`Cluster`] drops it and
    /// builds a new one at the next `Start`; the node itself never sees
    /// this event.
    Crash,
    /// A session to `peer` opened (sessions only): messages sent from now
    /// on arrive in order until a `Disconnected`.
    Connected {
        /// The other end.
        peer: NodeId,
    },
    /// The session to `peer` ended (its crash, a partition): messages in
    /// flight on it are lost (what a crashed peer sent may arrive before
    /// this, see `net::linger` on [`SimNet`]), and sends are dropped until
    /// `Connected`.
    Disconnected {
        /// The other end.
        peer: NodeId,
    },
    /// A message from `from`.
    Message {
        /// The sender.
        from: NodeId,
        /// The message.
        msg: M,
    },
    /// Timer `id` (set with [`Output::SetTimer`]) fired.
    Timer {
        /// The timer's id.
        id: u64,
    },
    /// A client request; answer with [`Output::Reply`] and the same `id`.
    Request {
        /// The request's id.
        id: u64,
        /// The request.
        msg: M,
    },
}

/// One event for one node at one virtual time: what [`Network::next_event`]
/// returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery<M> {
    /// Virtual time in microseconds.
    pub at_us: u64,
    /// The node told.
    pub node: NodeId,
    /// What it is told.
    pub event: Event<M>,
}

/// What a node asks for.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub enum Output<M> {
    /// Send `msg` to `to`.
    Send {
        /// The receiver.
        to: NodeId,
        /// The message.
        msg: M,
    },
    /// Fire [`Event::Timer`] `id` after `after_us` microseconds; replaces
    /// a pending timer with the same id.
    SetTimer {
        /// The timer's id.
        id: u64,
        /// Delay in microseconds.
        after_us: u64,
    },
    /// Cancels timer `id` (nothing when it is not pending).
    CancelTimer {
        /// The timer's id.
        id: u64,
    },
    /// Appends `bytes` to `file` (not durable until [`Output::Sync`]).
    Append {
        /// The file.
        file: String,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Replaces the contents of `file` (not durable until [`Output::Sync`]).
    Put {
        /// The file.
        file: String,
        /// The new contents.
        bytes: Vec<u8>,
    },
    /// Makes every write so far durable: a crash keeps them.
    Sync,
    /// Answers client request `id`.
    Reply {
        /// The request's id.
        id: u64,
        /// The answer.
        msg: M,
    },
}

// `Clone` by hand for `Event` and `Output`: a recorder clones every
// event and output of a simulated run, and the derived `clone`, with the
// copies of `files` and `bytes` in it, was too large to inline, so each
// clone was a call (about 40 instructions an output of `failover_ref`).
// The variants without heap data are cloned inline, the others out of
// line.

impl<M: Clone> Clone for Event<M> {
    #[inline]
    fn clone(&self) -> Self {
        match self {
            Self::Start { restart, files } => Self::start_cloned(*restart, files),
            Self::Crash => Self::Crash,
            Self::Connected { peer } => Self::Connected { peer: *peer },
            Self::Disconnected { peer } => Self::Disconnected { peer: *peer },
            Self::Message { from, msg } => Self::Message {
                from: *from,
                msg: msg.clone(),
            },
            Self::Timer { id } => Self::Timer { id: *id },
            Self::Request { id, msg } => Self::Request {
                id: *id,
                msg: msg.clone(),
            },
        }
    }
}

impl<M> Event<M> {
    #[cold]
    #[inline(never)]
    fn start_cloned(restart: bool, files: &Files) -> Self {
        Self::Start {
            restart,
            files: files.clone(),
        }
    }
}

impl<M: Clone> Clone for Output<M> {
    #[inline]
    fn clone(&self) -> Self {
        match self {
            Self::Send { to, msg } => Self::Send {
                to: *to,
                msg: msg.clone(),
            },
            Self::SetTimer { id, after_us } => Self::SetTimer {
                id: *id,
                after_us: *after_us,
            },
            Self::CancelTimer { id } => Self::CancelTimer { id: *id },
            Self::Append { file, bytes } => Self::write_cloned(true, file, bytes),
            Self::Put { file, bytes } => Self::write_cloned(false, file, bytes),
            Self::Sync => Self::Sync,
            Self::Reply { id, msg } => Self::Reply {
                id: *id,
                msg: msg.clone(),
            },
        }
    }
}

impl<M> Output<M> {
    #[cold]
    #[inline(never)]
    fn write_cloned(append: bool, file: &str, bytes: &[u8]) -> Self {
        let (file, bytes) = (file.to_string(), bytes.to_vec());
        if append {
            Self::Append { file, bytes }
        } else {
            Self::Put { file, bytes }
        }
    }
}

/// The world of a message-passing system: where events come from and where
/// outputs go. [`SimNet`] simulates it; `Recorder<SimNet<M>>` records it;
/// a [`Replayer`](crate::Replayer) replays it from a file.
#[crate::world(clone_values)]
pub trait Network<M: Message> {
    /// The next event before virtual time `until_us`, earliest first;
    /// `None` when there is none before it (the world's clock then stands
    /// at `until_us`).
    fn next_event(&mut self, until_us: u64) -> Option<Delivery<M>>;
    /// Performs what `node` asked for.
    fn perform(&mut self, node: NodeId, output: Output<M>);
    /// One turn of the driver loop in one call: performs `outputs`, what
    /// `node` asked for after its last event, in order (as
    /// [`Network::perform`] each), empties the list, then gives the next
    /// event before `until_us` (as [`Network::next_event`]). The
    /// [`Cluster`] drives the world with this alone, so that a recording
    /// holds one call per event rather than one per event and one per
    /// output; the default does exactly the calls it replaces.
    fn step(&mut self, node: NodeId, outputs: &mut Vec<Output<M>>, until_us: u64) -> Option<Delivery<M>> {
        for output in outputs.drain(..) {
            self.perform(node, output);
        }
        self.next_event(until_us)
    }
    /// A client request to `node`, delivered `after_us` from now as
    /// [`Event::Request`]; its id.
    fn submit(&mut self, node: NodeId, after_us: u64, msg: M) -> u64;
    /// Ends every fault: partitions healed, paused nodes resumed (what they
    /// were not told arrives first), crashed nodes restarted now, a crash
    /// scheduled but not yet happened cancelled, and no new fault fires
    /// for the rest of the run.
    fn heal(&mut self);
}

/// A sans-IO node of a message-passing protocol.
pub trait Node {
    /// What nodes send each other, and client requests and replies.
    type Message: Message;
    /// Takes one event at virtual time `now`.
    fn step(&mut self, now: Duration, event: Event<Self::Message>);
    /// The next thing the node wants done, until `None`: the driver drains
    /// it after every event, in order.
    fn poll_next_message(&mut self) -> Option<Output<Self::Message>>;
}

/// A client reply a node gave, kept by the [`Cluster`] for checks.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply<M> {
    /// Virtual time of the reply.
    pub at: Duration,
    /// The node that replied.
    pub node: NodeId,
    /// The request's id.
    pub id: u64,
    /// The answer.
    pub msg: M,
}

/// Drives the nodes of a system through a [`Network`] world.
///
/// Nodes are built by the `make` function at each [`Event::Start`] (so a
/// restarted node has only what its disk kept) and dropped at
/// [`Event::Crash`]. `size` must be the world's number of nodes: events
/// for a node `>= size` are counted ([`Cluster::stray_events`]) and
/// otherwise ignored.
///
/// The driver loop, one [`Cluster::step_until`]:
///
/// 1. hand the world what the last event's node asked for and ask it for
///    the next event before the deadline, in one call
///    ([`Network::step`]); none: the clock stands at the deadline;
/// 2. deliver it: `Start` builds the node, `Crash` drops it, anything else
///    is [`Node::step`] of the running node (ignored when it is down);
/// 3. drain the node's outputs ([`Node::poll_next_message`]), keeping
///    client replies ([`Cluster::replies`]), for the next turn's `step`.
///
/// Everything is bounded and reported when the bound is hit (a node bug,
/// not a fault of the network): at most
/// [`Cluster::max_outputs_per_event`] outputs drained after one event, at
/// most [`Cluster::max_events_per_instant`] events without virtual time
/// moving (a zero-delay loop). Past a bound the cluster stops: every later
/// `step_until` returns false, and [`Cluster::stopped`],
/// [`Cluster::run_until`] and [`Cluster::settle`] give the failure (kind
/// `"limit"`).
pub struct Cluster<N: Node, W> {
    world: W,
    nodes: Vec<Option<N>>,
    make: Box<dyn FnMut(NodeId) -> N>,
    now: Duration,
    replies: Vec<Reply<N::Message>>,
    events: u64,
    stray: u64,
    max_outputs: usize,
    max_events_per_instant: u64,
    events_at_now: u64,
    stopped: Option<Failure>,
    /// Per node, how many times `make` built it (see `Cluster::incarnation`).
    starts: Rc<Vec<Cell<u32>>>,
    /// What the last event's node asked for, performed by the next
    /// [`Network::step`].
    outputs: Vec<Output<N::Message>>,
    /// The node `outputs` are from.
    outputs_of: NodeId,
}

impl<N: Node, W: Network<N::Message>> Cluster<N, W> {
    /// `size` nodes (none running until the world starts them) on `world`.
    pub fn new(size: u32, world: W, mut make: impl FnMut(NodeId) -> N + 'static) -> Self {
        let starts: Rc<Vec<Cell<u32>>> = Rc::new((0..size).map(|_| Cell::new(0)).collect());
        let counted = Rc::clone(&starts);
        Self {
            world,
            nodes: (0..size).map(|_| None).collect(),
            // Every start of a node builds it: counted here.
            make: Box::new(move |id| {
                if let Some(n) = counted.get(id as usize) {
                    n.set(n.get().saturating_add(1));
                }
                make(id)
            }),
            now: Duration::ZERO,
            replies: Vec::new(),
            events: 0,
            stray: 0,
            max_outputs: 100_000,
            max_events_per_instant: 1_000_000,
            events_at_now: 0,
            stopped: None,
            starts,
            outputs: Vec::new(),
            outputs_of: 0,
        }
    }

    /// Sets the most outputs drained from a node after one event (default
    /// 100,000): a node that never stops answering is a bug.
    pub fn max_outputs_per_event(mut self, n: usize) -> Self {
        self.max_outputs = n.max(1);
        self
    }

    /// Sets the most events delivered at one virtual time (default
    /// 1,000,000): more is a loop of zero-delay timers or messages.
    pub fn max_events_per_instant(mut self, n: u64) -> Self {
        self.max_events_per_instant = n.max(1);
        self
    }

    /// Why the cluster stopped: a bound was hit (kind `"limit"`).
    pub fn stopped(&self) -> Option<&Failure> {
        self.stopped.as_ref()
    }

    /// Delivers the next event before `until` and performs what its node
    /// asks for; false when no event is left before `until` (the clock
    /// then stands at `until`), or when the cluster stopped at a bound
    /// ([`Cluster::stopped`]).
    ///
    /// The world performs a node's outputs with the next turn's
    /// [`Network::step`] (one world call per event): until then, checks
    /// that read the world ([`Cluster::world`]) see it as it was before
    /// them. [`Cluster::world_mut`], [`Cluster::submit`] and the heal of
    /// [`Cluster::settle`] hand them over first, and a turn that finds no
    /// event has performed them.
    pub fn step_until(&mut self, until: Duration) -> bool {
        self.step_to(until, micros(until))
    }

    /// [`Cluster::step_until`] with `until` in microseconds too (a loop
    /// converts it once).
    #[inline]
    fn step_to(&mut self, until: Duration, until_us: u64) -> bool {
        if self.stopped.is_some() {
            return false;
        }
        let Some(delivery) = self.world.step(self.outputs_of, &mut self.outputs, until_us) else {
            self.outputs.clear();
            self.now = self.now.max(until);
            return false;
        };
        self.outputs.clear();
        let at = Duration::from_micros(delivery.at_us);
        if at == self.now && self.events > 0 {
            if self.events_at_now >= self.max_events_per_instant {
                self.stop(format!(
                    "limit: more than {} events at {:?} without virtual time moving (a loop of zero-delay timers or messages?); the next, to node {}: {}",
                    self.events_at_now,
                    at,
                    delivery.node,
                    short(&delivery.event)
                ));
                return false;
            }
            self.events_at_now += 1;
        } else {
            self.events_at_now = 1;
        }
        self.events += 1;
        self.now = at;
        let id = delivery.node;
        let Some(slot) = self.nodes.get_mut(id as usize) else {
            self.stray += 1;
            return true;
        };
        match delivery.event {
            Event::Crash => *slot = None,
            event @ Event::Start { .. } => {
                let mut node = (self.make)(id);
                node.step(self.now, event);
                *slot = Some(node);
            }
            event => match slot {
                Some(node) => node.step(self.now, event),
                // A world that tells a stopped node something: ignored,
                // as a real stopped process would.
                None => return true,
            },
        }
        let Some(node) = self.nodes[id as usize].as_mut() else {
            return true;
        };
        self.outputs_of = id;
        while let Some(output) = node.poll_next_message() {
            if self.outputs.len() == self.max_outputs {
                let message = format!(
                    "limit: node {id} gave more than {} outputs for one event at {:?}; the next: {}",
                    self.outputs.len(),
                    self.now,
                    short(&output)
                );
                // What it gave up to the bound is performed, as each
                // output is before the bound.
                self.hand_over();
                self.stop(message);
                return false;
            }
            if let Output::Reply { id: request, msg } = &output {
                self.replies.push(Reply {
                    at: self.now,
                    node: id,
                    id: *request,
                    msg: msg.clone(),
                });
            }
            self.outputs.push(output);
        }
        true
    }

    /// Hands the outputs of the last event to the world now (a
    /// [`Network::step`] that asks for no event: none is before time 0).
    fn hand_over(&mut self) {
        if !self.outputs.is_empty() {
            let _ = self.world.step(self.outputs_of, &mut self.outputs, 0);
            self.outputs.clear();
        }
    }

    fn stop(&mut self, message: String) {
        self.stopped = Some(Failure::with_kind("limit", message));
    }

    /// Runs until virtual time `until`, calling `check` after every event:
    /// the first `Err` stops the run and is returned.
    pub fn run_until(
        &mut self,
        until: Duration,
        mut check: impl FnMut(&Self) -> Result<(), Failure>,
    ) -> Result<(), Failure> {
        let until_us = micros(until);
        while self.step_to(until, until_us) {
            check(self)?;
        }
        match &self.stopped {
            Some(failure) => Err(failure.clone()),
            None => Ok(()),
        }
    }

    /// The liveness check: heals every fault ([`Network::heal`]), then runs
    /// for at most `within` of virtual time until `converged` says `Ok`.
    /// Returns how long convergence took after the heal, or a failure
    /// (kind `"liveness"`) with the last reason `converged` gave.
    ///
    /// Safety checks stop applying here; use [`Cluster::settle_checked`] to
    /// keep them on while the system converges.
    pub fn settle(
        &mut self,
        within: Duration,
        converged: impl FnMut(&Self) -> Result<(), String>,
    ) -> Result<Duration, Failure> {
        self.settle_checked(within, |_| Ok(()), converged)
    }

    /// [`Cluster::settle`] with `check` run after every event, as in
    /// [`Cluster::run_until`]: a safety violation while the system
    /// converges is reported as itself, at once, not as "not converged"
    /// at the deadline.
    pub fn settle_checked(
        &mut self,
        within: Duration,
        mut check: impl FnMut(&Self) -> Result<(), Failure>,
        mut converged: impl FnMut(&Self) -> Result<(), String>,
    ) -> Result<Duration, Failure> {
        if let Some(failure) = &self.stopped {
            return Err(failure.clone());
        }
        self.hand_over();
        self.world.heal();
        let start = self.now;
        let deadline = start + within;
        let deadline_us = micros(deadline);
        loop {
            let reason = match converged(self) {
                Ok(()) => return Ok(self.now - start),
                Err(reason) => reason,
            };
            if !self.step_to(deadline, deadline_us) {
                if let Some(failure) = &self.stopped {
                    return Err(failure.clone());
                }
                // One last look at the deadline.
                return match converged(self) {
                    Ok(()) => Ok(self.now - start),
                    Err(last) => Err(Failure::with_kind(
                        "liveness",
                        format!(
                            "liveness: not converged {} ms after every fault healed (at {} ms): {}",
                            within.as_millis(),
                            self.now.as_millis(),
                            if last.is_empty() { reason } else { last }
                        ),
                    )),
                };
            }
            check(self)?;
        }
    }

    /// How many times node `id` has started: 0 before its first
    /// [`Event::Start`], 1 after it, one more at each restart after a
    /// crash. A check can tell a node's lives apart with it (what a node
    /// promised before a crash, its disk must keep after).
    pub fn incarnation(&self, id: NodeId) -> u32 {
        self.starts.get(id as usize).map_or(0, Cell::get)
    }

    /// [`Cluster::settle_checked`] for a checker that keeps state: `check`
    /// and `converged` both get `state` mutably (one at a time), so they
    /// need not both borrow the checker, which the borrow checker refuses.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use rehearse::Failure;
    /// # use rehearse::net::{Cluster, Network, Node};
    /// struct Checker { events: u64 }
    ///
    /// fn settle<N: Node, W: Network<N::Message>>(cluster: &mut Cluster<N, W>) -> Result<Duration, Failure> {
    ///     let mut checker = Checker { events: 0 };
    ///     cluster.settle_with(
    ///         Duration::from_secs(10),
    ///         &mut checker,
    ///         |checker, _cluster| {
    ///             checker.events += 1; // and the safety checks
    ///             Ok(())
    ///         },
    ///         |checker, cluster| {
    ///             if cluster.nodes().count() == cluster.size() as usize {
    ///                 Ok(())
    ///             } else {
    ///                 Err(format!("not every node up after {} events", checker.events))
    ///             }
    ///         },
    ///     )
    /// }
    /// ```
    pub fn settle_with<S>(
        &mut self,
        within: Duration,
        state: &mut S,
        mut check: impl FnMut(&mut S, &Self) -> Result<(), Failure>,
        mut converged: impl FnMut(&mut S, &Self) -> Result<(), String>,
    ) -> Result<Duration, Failure> {
        let state = RefCell::new(state);
        self.settle_checked(
            within,
            |c| check(&mut state.borrow_mut(), c),
            |c| converged(&mut state.borrow_mut(), c),
        )
    }

    /// A client request to `node`, delivered after `after`; its id, which
    /// [`Event::Request`] and the node's [`Output::Reply`] carry. The world
    /// picks it: [`SimNet`] numbers requests 0, 1, 2, ... in the order
    /// they are submitted, so ids are unique within a run and increase
    /// (a request to a node that does not exist takes one too), and a
    /// [`Replayer`](crate::Replayer) gives back the recorded ones.
    pub fn submit(&mut self, node: NodeId, after: Duration, msg: N::Message) -> u64 {
        let after_us = u64::try_from(after.as_micros()).unwrap_or(u64::MAX);
        self.hand_over();
        self.world.submit(node, after_us, msg)
    }

    /// Node `id`, when it is running.
    pub fn node(&self, id: NodeId) -> Option<&N> {
        self.nodes.get(id as usize).and_then(Option::as_ref)
    }

    /// Node `id` mutably, when it is running.
    pub fn node_mut(&mut self, id: NodeId) -> Option<&mut N> {
        self.nodes.get_mut(id as usize).and_then(Option::as_mut)
    }

    /// The running nodes, by id.
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, &N)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (i as NodeId, n)))
    }

    /// The number of nodes, running or not.
    pub fn size(&self) -> u32 {
        self.nodes.len() as u32
    }

    /// The client replies so far, in order.
    pub fn replies(&self) -> &[Reply<N::Message>] {
        &self.replies
    }

    /// Virtual time of the last event.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// Events delivered so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Events for a node `>= size` the world delivered (and the cluster
    /// ignored): the world and the cluster disagree on the size.
    pub fn stray_events(&self) -> u64 {
        self.stray
    }

    /// The world. What the last event's node asked for reaches it with
    /// the next turn ([`Cluster::step_until`]): a check after an event
    /// sees the world before that event's outputs.
    pub fn world(&self) -> &W {
        &self.world
    }

    /// The world, mutably, once it has performed what the last event's
    /// node asked for (scripted faults then come after those outputs).
    pub fn world_mut(&mut self) -> &mut W {
        self.hand_over();
        &mut self.world
    }

    /// Unwraps the world (to finish a [`Replayer`](crate::Replayer)).
    /// What the last event's node asked for stays unperformed when the
    /// run stopped at a failed check, in the recording and in its replay
    /// alike (a run that reached its deadline has handed everything over).
    pub fn into_world(self) -> W {
        self.world
    }
}

/// An event or message in short form for reports and fault details: RON,
/// as the calls of a trace show it (`Commit(txn: 4)`), or its `Debug` if
/// it does not serialize; cut at 200 characters.
pub(crate) fn short<T: Serialize + Debug>(event: &T) -> String {
    let mut text = String::new();
    push_short(&mut text, event);
    text
}

/// [`short`] appended to `out` (a fault mark's text is built in one
/// string: the loss of a datagram is marked at 1% of sends).
pub(crate) fn push_short<T: Serialize + Debug>(out: &mut String, event: &T) {
    use std::fmt::Write as _;
    let start = out.len();
    if crate::ron::to_ron_into(out, event).is_err() {
        out.truncate(start);
        let _ = write!(out, "{event:?}");
    }
    if out.len() - start > 200 {
        let mut end = start + 200;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        out.push_str("..");
    }
}

/// `d` in whole microseconds (`u64::MAX` beyond).
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}
