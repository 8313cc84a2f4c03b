//! The shared benchmark workload `failover-ref` (`shared/bench/failover-ref.md`)
//! on `rehearse::net`: N data nodes, a coordination node holding one leased
//! key, and 3 controllers, each a sans-IO [`Node`] exchanging datagrams
//! over a [`SimNet`] (latency 1 to 5 ms per datagram, 1% of datagrams lost
//! at the fault point `net::drop`, no other fault). The primary `d0`
//! crashes for good at a time drawn from the seed (a scripted
//! [`SimNet::crash`]). A [`Cluster`] drives the run: on
//! `Recorder<SimNet<Msg>>`, which writes every event and output to the
//! seed's memory tape, or on the `SimNet` itself with `--no-record`.
//!
//! A recording replays with a [`Replayer`] alone, driving fresh nodes from
//! the file: `--save FILE` keeps the recording of the last seed run,
//! `--replay FILE` replays one (its seed and number of nodes read from the
//! file) and prints its counts, or where the nodes diverged from it
//! (`tests/failover_ref.rs` checks both).
//!
//! Prints one line per seed (round trips, REPLICATE datagrams, failover
//! delay) and a summary; exits 1 when a seed fails the workload's check.
//!
//! Run: `cargo run --release -p rehearse --example failover_ref -- --seeds 100 --nodes 3`

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rehearse::net::{Cluster, Event, Links, NetConfig, Network, Node, NodeId, Output, SimNet};
use rehearse::{Recorder, Replayer, Sim, Tape, Trace, Value};
use serde::{Deserialize, Serialize};

/// Every request's timeout, µs.
const TIMEOUT_US: u64 = 50_000;
/// The controllers' poll period and the primary's REPLICATE period, µs.
const TICK_US: u64 = 100_000;
/// A lease's length, µs.
const LEASE_US: u64 = 3_000_000;
/// A primary's offset grows by one every this many µs.
const OFFSET_EVERY_US: u64 = 10_000;
/// Length of a seed's run, µs.
pub const RUN_US: u64 = 60_000_000;
/// Controllers per run.
pub const CONTROLLERS: u32 = 3;

/// The datagrams of the workload: one request or reply each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Msg {
    /// STATUS request to a data node.
    Status {
        /// Request id.
        id: u64,
    },
    /// A data node's answer to STATUS.
    StatusReply {
        /// Request id.
        id: u64,
        /// Whether it is primary.
        primary: bool,
        /// Its replication offset.
        offset: u64,
    },
    /// PROMOTE request to a data node.
    Promote {
        /// Request id.
        id: u64,
    },
    /// A data node's answer to PROMOTE.
    Promoted {
        /// Request id.
        id: u64,
    },
    /// CAMPAIGN (`keepalive: false`) or KEEPALIVE to the coordination node.
    Lease {
        /// Request id.
        id: u64,
        /// The controller asking.
        instance: u32,
        /// KEEPALIVE rather than CAMPAIGN.
        keepalive: bool,
    },
    /// The coordination node's answer.
    LeaseReply {
        /// Request id.
        id: u64,
        /// Whether the lease is granted (or renewed).
        granted: bool,
    },
    /// The primary's offset, sent to every other data node (no reply).
    Replicate {
        /// The primary's offset.
        offset: u64,
    },
}

// ------------------------------------------------------------ the nodes

/// Data node `j`: primary (j = 0) or replica.
#[derive(Debug)]
pub struct DataNode {
    me: NodeId,
    n: u32,
    primary: bool,
    /// Offset when it became primary, or the replica's offset.
    base: u64,
    /// When it became primary, µs.
    since_us: u64,
    /// When it was first promoted, µs.
    pub promoted_at_us: Option<u64>,
    /// REPLICATE datagrams it sent.
    pub replicate_sent: u64,
}

impl DataNode {
    fn offset(&self, now: u64) -> u64 {
        if self.primary {
            self.base + (now - self.since_us) / OFFSET_EVERY_US
        } else {
            self.base
        }
    }

    /// Whether it is primary.
    pub fn is_primary(&self) -> bool {
        self.primary
    }

    fn step(&mut self, now: u64, event: Event<Msg>, out: &mut VecDeque<Output<Msg>>) {
        match event {
            Event::Start { .. } => {
                self.primary = self.me == 0;
                if self.primary {
                    out.push_back(Output::SetTimer {
                        id: 0,
                        after_us: TICK_US,
                    });
                }
            }
            Event::Timer { .. } if self.primary => {
                let offset = self.offset(now);
                for to in (0..self.n).filter(|&q| q != self.me) {
                    out.push_back(Output::Send {
                        to,
                        msg: Msg::Replicate { offset },
                    });
                    self.replicate_sent += 1;
                }
                out.push_back(Output::SetTimer {
                    id: 0,
                    after_us: TICK_US,
                });
            }
            Event::Message { from, msg } => match msg {
                Msg::Replicate { offset } if !self.primary => self.base = self.base.max(offset),
                Msg::Status { id } => out.push_back(Output::Send {
                    to: from,
                    msg: Msg::StatusReply {
                        id,
                        primary: self.primary,
                        offset: self.offset(now),
                    },
                }),
                Msg::Promote { id } => {
                    if !self.primary {
                        self.base = self.offset(now);
                        self.primary = true;
                        self.since_us = now;
                        self.promoted_at_us.get_or_insert(now);
                        // REPLICATE on the same 100 ms grid as every primary.
                        out.push_back(Output::SetTimer {
                            id: 0,
                            after_us: TICK_US - now % TICK_US,
                        });
                    }
                    out.push_back(Output::Send {
                        to: from,
                        msg: Msg::Promoted { id },
                    });
                }
                _ => {}
            },
            _ => {}
        }
    }
}

/// The coordination node: one key, held by a controller until it expires.
#[derive(Debug, Default)]
pub struct Coord {
    /// (instance, expiry µs).
    holder: Option<(u32, u64)>,
}

impl Coord {
    fn step(&mut self, now: u64, event: Event<Msg>, out: &mut VecDeque<Output<Msg>>) {
        let Event::Message {
            from,
            msg: Msg::Lease {
                id,
                instance,
                keepalive,
            },
        } = event
        else {
            return;
        };
        let live = self.holder.filter(|h| h.1 > now);
        let granted = match live {
            Some((h, _)) => h == instance,
            None => !keepalive,
        };
        if granted {
            self.holder = Some((instance, now + LEASE_US));
        }
        out.push_back(Output::Send {
            to: from,
            msg: Msg::LeaseReply { id, granted },
        });
    }
}

/// What a controller is waiting for; its single timer (id 0) is the
/// deadline of that wait.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// The next tick.
    Idle,
    /// The reply to CAMPAIGN or KEEPALIVE `id`.
    Lease { id: u64 },
    /// The replies to STATUS `first..first + n` (node j gets `first + j`).
    Status { first: u64 },
    /// The reply to PROMOTE `id`.
    Promote { id: u64 },
}

/// A controller: polls the data nodes every 100 ms, holds the lease, and
/// promotes the best replica when the primary has failed 10 polls.
#[derive(Debug)]
pub struct Controller {
    instance: u32,
    n: u32,
    coord: NodeId,
    /// First tick, µs after start.
    start_us: u64,
    leader: bool,
    believed_primary: u32,
    fails: u32,
    round: u64,
    tick_at: u64,
    next_id: u64,
    phase: Phase,
    /// This round's replies, by data node: (is_primary, offset).
    replies: Vec<Option<(bool, u64)>>,
    answered: u32,
    /// Replies received in time, all kinds.
    pub round_trips: u64,
}

impl Controller {
    fn request(&mut self, to: NodeId, msg: impl FnOnce(u64) -> Msg, out: &mut VecDeque<Output<Msg>>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        out.push_back(Output::Send { to, msg: msg(id) });
        id
    }

    fn deadline(out: &mut VecDeque<Output<Msg>>, after_us: u64) {
        out.push_back(Output::SetTimer { id: 0, after_us });
    }

    fn step(&mut self, now: u64, event: Event<Msg>, out: &mut VecDeque<Output<Msg>>) {
        match (event, self.phase) {
            (Event::Start { .. }, _) => {
                self.phase = Phase::Idle;
                Self::deadline(out, self.start_us);
            }
            (Event::Timer { .. }, Phase::Idle) => {
                self.tick_at = now;
                if self.round % 10 == 0 {
                    let (instance, keepalive) = (self.instance, self.leader);
                    let id = self.request(
                        self.coord,
                        |id| Msg::Lease {
                            id,
                            instance,
                            keepalive,
                        },
                        out,
                    );
                    self.phase = Phase::Lease { id };
                    Self::deadline(out, TIMEOUT_US);
                } else {
                    self.start_round(out);
                }
            }
            (Event::Timer { .. }, Phase::Lease { .. }) => {
                self.leader = false;
                self.start_round(out);
            }
            (Event::Timer { .. }, Phase::Status { .. }) => self.decide(now, out),
            (Event::Timer { .. }, Phase::Promote { .. }) => self.wait(now, out),
            (Event::Message { msg, .. }, phase) => match (msg, phase) {
                (Msg::LeaseReply { id, granted }, Phase::Lease { id: want }) if id == want => {
                    self.round_trips += 1;
                    self.leader = granted;
                    self.start_round(out);
                }
                (Msg::StatusReply { id, primary, offset }, Phase::Status { first }) => {
                    let Some(slot) = id.checked_sub(first).and_then(|j| self.replies.get_mut(j as usize)) else {
                        return;
                    };
                    if slot.is_none() {
                        *slot = Some((primary, offset));
                        self.round_trips += 1;
                        self.answered += 1;
                        if self.answered == self.n {
                            self.decide(now, out);
                        }
                    }
                }
                (Msg::Promoted { id }, Phase::Promote { id: want }) if id == want => {
                    self.round_trips += 1;
                    self.wait(now, out);
                }
                // A reply to a request that timed out: dropped.
                _ => {}
            },
            _ => {}
        }
    }

    /// Sends STATUS to every data node at once.
    fn start_round(&mut self, out: &mut VecDeque<Output<Msg>>) {
        self.round += 1;
        self.replies.clear();
        self.replies.resize(self.n as usize, None);
        self.answered = 0;
        let first = self.next_id;
        for j in 0..self.n {
            self.request(j, |id| Msg::Status { id }, out);
        }
        self.phase = Phase::Status { first };
        Self::deadline(out, TIMEOUT_US);
    }

    /// Every reply is in or the round timed out.
    fn decide(&mut self, now: u64, out: &mut VecDeque<Output<Msg>>) {
        if let Some(p) = self.replies.iter().position(|r| r.is_some_and(|r| r.0)) {
            self.believed_primary = p as u32;
        }
        let ok = self.replies[self.believed_primary as usize].is_some_and(|r| r.0);
        self.fails = if ok { 0 } else { self.fails + 1 };
        if self.leader && self.fails >= 10 {
            let pick = (0..self.n)
                .filter(|&j| j != self.believed_primary)
                .filter_map(|j| self.replies[j as usize].filter(|r| !r.0).map(|r| (r.1, j)))
                .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
            if let Some((_, j)) = pick {
                self.believed_primary = j;
                self.fails = 0;
                let id = self.request(j, |id| Msg::Promote { id }, out);
                self.phase = Phase::Promote { id };
                Self::deadline(out, TIMEOUT_US);
                return;
            }
        }
        self.wait(now, out);
    }

    /// Sleeps until the next tick; a missed tick is delayed, never bursted.
    fn wait(&mut self, now: u64, out: &mut VecDeque<Output<Msg>>) {
        let until = (self.tick_at + TICK_US).max(now);
        self.phase = Phase::Idle;
        Self::deadline(out, until - now);
    }
}

/// One node of the workload.
#[derive(Debug)]
pub enum Role {
    /// A data node.
    Data(DataNode),
    /// The coordination node.
    Coord(Coord),
    /// A controller.
    Controller(Controller),
}

/// A node and what it asked for and has not handed over yet.
#[derive(Debug)]
pub struct Host {
    /// What the node is.
    pub role: Role,
    out: VecDeque<Output<Msg>>,
}

impl Node for Host {
    type Message = Msg;

    fn step(&mut self, now: Duration, event: Event<Msg>) {
        let now = now.as_micros() as u64;
        match &mut self.role {
            Role::Data(d) => d.step(now, event, &mut self.out),
            Role::Coord(c) => c.step(now, event, &mut self.out),
            Role::Controller(c) => c.step(now, event, &mut self.out),
        }
    }

    fn poll_next_message(&mut self) -> Option<Output<Msg>> {
        self.out.pop_front()
    }
}

/// The nodes of a run of `n` data nodes: `0..n` data nodes, `n` the
/// coordination node, `n + 1..n + 4` the controllers.
pub fn size(n: u32) -> u32 {
    n + 1 + CONTROLLERS
}

/// Builds node `id` of a run of `seed` with `n` data nodes (at its start
/// and at every restart).
pub fn hosts(seed: u64, n: u32) -> impl FnMut(NodeId) -> Host + 'static {
    move |id| {
        let role = if id < n {
            Role::Data(DataNode {
                me: id,
                n,
                primary: false,
                base: 0,
                since_us: 0,
                promoted_at_us: None,
                replicate_sent: 0,
            })
        } else if id == n {
            Role::Coord(Coord::default())
        } else {
            let instance = id - n - 1;
            Role::Controller(Controller {
                instance,
                n,
                coord: n,
                // Controllers start a few ms apart, derived from the seed.
                start_us: splitmix64(seed ^ u64::from(instance + 1).wrapping_mul(0xA076_1D64_78BD_642F)) % 1000 * 10,
                leader: false,
                believed_primary: 0,
                fails: 0,
                round: 0,
                tick_at: 0,
                next_id: 0,
                phase: Phase::Idle,
                replies: Vec::new(),
                answered: 0,
                round_trips: 0,
            })
        };
        Host {
            role,
            out: VecDeque::new(),
        }
    }
}

// ------------------------------------------------------------ the run

/// What one seed counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Replies received in time, all four kinds.
    pub round_trips: u64,
    /// REPLICATE datagrams sent.
    pub replicate: u64,
    /// First promotion time minus crash time, ms.
    pub failover_delay_ms: Option<u64>,
    /// Exactly one live data node is primary and a promotion happened.
    pub ok: bool,
}

/// splitmix64, as the workload's spec defines it.
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// When `d0` crashes in a run of `seed`, µs.
pub fn crash_at_us(seed: u64) -> u64 {
    (5000 + splitmix64(seed) % 25001) * 1000
}

/// The network of a run of `seed` with `n` data nodes: datagrams, 1 to 5
/// ms of latency, 1% loss, no other fault.
pub fn network(seed: u64, n: u32) -> SimNet<Msg> {
    let sim = Sim::new(seed);
    sim.set_fault_rate("net::drop", 0.01);
    for point in ["net::duplicate", "net::delay"] {
        sim.set_fault_rate(point, 0.0);
    }
    let config = NetConfig::new(size(n))
        .links(Links::Datagrams)
        .latency_us(1_000..5_001)
        .chaos_every_us(0);
    SimNet::new(sim, config)
}

/// Runs a cluster for 60 s: `crash` crashes `d0` at the seed's time (a
/// replay has nothing to do: the crash is in the file).
pub fn drive<W: Network<Msg>>(cluster: &mut Cluster<Host, W>, seed: u64, crash: impl FnOnce(&mut W)) -> Counts {
    let crash_at = crash_at_us(seed);
    // d0 is dropped at its crash: what it sent is read while it lives.
    let mut d0_replicate = 0;
    let mut watch_d0 = |c: &Cluster<Host, W>| {
        if let Some(Role::Data(d)) = c.node(0).map(|h| &h.role) {
            d0_replicate = d.replicate_sent;
        }
        Ok(())
    };
    let _ = cluster.run_until(Duration::from_micros(crash_at), &mut watch_d0);
    crash(cluster.world_mut());
    let _ = cluster.run_until(Duration::from_micros(RUN_US), &mut watch_d0);

    let mut counts = Counts {
        round_trips: 0,
        replicate: d0_replicate,
        failover_delay_ms: None,
        ok: false,
    };
    let (mut primaries, mut first_promotion) = (0, None::<u64>);
    for (id, host) in cluster.nodes() {
        match &host.role {
            Role::Data(d) => {
                if id != 0 {
                    counts.replicate += d.replicate_sent;
                }
                primaries += u32::from(d.is_primary());
                if let Some(t) = d.promoted_at_us {
                    first_promotion = Some(first_promotion.map_or(t, |f| f.min(t)));
                }
            }
            Role::Controller(c) => counts.round_trips += c.round_trips,
            Role::Coord(_) => {}
        }
    }
    let d0_live = cluster.node(0).is_some();
    counts.failover_delay_ms = first_promotion.map(|t| t.saturating_sub(crash_at) / 1000);
    counts.ok = !d0_live && primaries == 1 && first_promotion.is_some();
    counts
}

/// Runs `seed`: recorded on the seed's memory tape (returned), or not.
pub fn run_seed(seed: u64, n: u32, record: bool) -> (Counts, Option<Tape>) {
    let net = network(seed, n);
    if record {
        let tape = net.sim().tape();
        let mut cluster = Cluster::new(size(n), Recorder::new(net, tape.clone()), hosts(seed, n));
        let counts = drive(&mut cluster, seed, |w| w.inner_mut().crash(0));
        (counts, Some(tape))
    } else {
        let mut cluster = Cluster::new(size(n), net, hosts(seed, n));
        (drive(&mut cluster, seed, |w| w.crash(0)), None)
    }
}

/// Drives fresh nodes from a recording alone (the seed is the file's; `n`,
/// the number of data nodes, is read from the file unless given); a
/// divergence is an error that says where.
pub fn replay(path: &Path, n: Option<u32>) -> Result<(u64, Counts), String> {
    let replayer = Replayer::open(path).map_err(|e| e.to_string())?;
    let trace = replayer.trace();
    let seed = trace.header().seed.ok_or_else(|| {
        format!(
            "{}: the header has no seed (not a failover_ref recording)",
            path.display()
        )
    })?;
    let n = match n {
        Some(n) => n,
        None => nodes_in(&trace).ok_or_else(|| {
            format!(
                "{}: no event for {} nodes or more (not a failover_ref recording)",
                path.display(),
                CONTROLLERS + 2
            )
        })?,
    };
    let mut cluster = Cluster::new(size(n), replayer, hosts(seed, n));
    let counts = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drive(&mut cluster, seed, |_| {}))).map_err(
        |panic| {
            panic
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "the replay panicked".into())
        },
    )?;
    cluster.into_world().finish().map_err(|d| d.to_string())?;
    Ok((seed, counts))
}

/// The number of data nodes of a recording: every node is told something
/// (its start), the last 1 + 3 are the coordination node and controllers.
fn nodes_in(trace: &Trace) -> Option<u32> {
    let last = trace
        .calls()
        .iter()
        .filter_map(|c| match &c.output {
            Value::Option(Some(delivery)) => match delivery.field("node") {
                Some(Value::Int(node)) => u32::try_from(*node).ok(),
                _ => None,
            },
            _ => None,
        })
        .max()?;
    (last + 1).checked_sub(CONTROLLERS + 1).filter(|&n| n >= 1)
}

fn counts_line(seed: u64, c: &Counts) -> String {
    format!(
        "seed {seed}: round_trips {} replicate {} failover_delay_ms {} {}",
        c.round_trips,
        c.replicate,
        c.failover_delay_ms.map_or("none".into(), |d| d.to_string()),
        if c.ok { "ok" } else { "FAILED" }
    )
}

fn main() -> std::process::ExitCode {
    let mut seeds = 10u64;
    let mut n = 3u32;
    let mut nodes_given = false;
    let mut record = true;
    let mut quiet = false;
    let mut save: Option<PathBuf> = None;
    let mut replay_file: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seeds" => seeds = args.next().and_then(|v| v.parse().ok()).unwrap_or(seeds),
            "--nodes" => {
                n = args.next().and_then(|v| v.parse().ok()).unwrap_or(n);
                nodes_given = true;
            }
            "--no-record" => record = false,
            "--quiet" => quiet = true,
            "--save" => save = args.next().map(PathBuf::from),
            "--replay" => replay_file = args.next().map(PathBuf::from),
            other => {
                eprintln!(
                    "failover_ref: unknown argument {other:?} (--seeds N, --nodes N, --no-record, --quiet, --save FILE, --replay FILE)"
                );
                return std::process::ExitCode::from(2);
            }
        }
    }
    if let Some(path) = replay_file {
        // A divergence comes back as an error, printed below.
        std::panic::set_hook(Box::new(|_| {}));
        return match replay(&path, nodes_given.then_some(n)) {
            Ok((seed, c)) => {
                println!("{} (replayed from {})", counts_line(seed, &c), path.display());
                if c.ok {
                    std::process::ExitCode::SUCCESS
                } else {
                    std::process::ExitCode::from(1)
                }
            }
            Err(e) => {
                eprintln!("failover_ref: replaying {}: {e}", path.display());
                std::process::ExitCode::from(1)
            }
        };
    }
    if save.is_some() && !record {
        eprintln!("failover_ref: --save needs recording (drop --no-record)");
        return std::process::ExitCode::from(2);
    }
    let start = Instant::now();
    let (mut rt, mut rep, mut delay, mut failed) = (0u64, 0u64, 0u64, 0u64);
    for seed in 0..seeds {
        let (c, tape) = run_seed(seed, n, record);
        if !quiet {
            println!("{}", counts_line(seed, &c));
        }
        if let (Some(path), Some(tape)) = (&save, &tape) {
            if seed + 1 == seeds {
                if let Err(e) = tape.save(path) {
                    eprintln!("failover_ref: {e}");
                    return std::process::ExitCode::from(1);
                }
            }
        }
        rt += c.round_trips;
        rep += c.replicate;
        delay += c.failover_delay_ms.unwrap_or(0);
        failed += u64::from(!c.ok);
    }
    let wall = start.elapsed().as_secs_f64();
    println!(
        "summary: rehearse nodes {n} seeds {seeds} record {record} mean_round_trips {:.1} mean_replicate {:.1} mean_failover_delay_ms {:.1} failed {failed} wall_s {wall:.3} sim_s_per_wall_s {:.0} round_trips_per_wall_s {:.0} seeds_per_wall_s {:.1}",
        rt as f64 / seeds as f64,
        rep as f64 / seeds as f64,
        delay as f64 / seeds as f64,
        (seeds * RUN_US) as f64 / 1e6 / wall,
        rt as f64 / wall,
        seeds as f64 / wall,
    );
    if failed > 0 {
        std::process::ExitCode::from(1)
    } else {
        std::process::ExitCode::SUCCESS
    }
}
