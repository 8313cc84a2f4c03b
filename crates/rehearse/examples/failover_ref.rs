//! The shared benchmark workload `failover-ref` (`shared/bench/failover-ref.md`)
//! on rehearse: N data nodes, a coordination node holding one leased key,
//! and 3 controllers written as sans-IO machines (`step` /
//! `poll_next_message`) whose every world call goes through a
//! `#[rehearse::world]` trait, recorded on the in-memory tape (or not, with
//! `--no-record`). Latency (1 to 5 ms per datagram) and loss (1% per
//! datagram) are drawn from the seed's `Sim`; a controller call is one
//! round trip (request and reply each delayed and each possibly lost).
//!
//! Prints one line per seed (round trips, REPLICATE datagrams, failover
//! delay) and a summary; exits 1 when a seed fails the workload's check.
//!
//! Run: `cargo run --release -p rehearse --example failover_ref -- --seeds 100 --nodes 3`

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rehearse::{EventQueue, Recorder, Sim, Tape};

/// A controller's view of the network: each call is one round trip that
/// either returns within the 50 ms timeout or is lost (`None`).
#[rehearse::world]
pub trait Net {
    /// CAMPAIGN (or KEEPALIVE) for this controller: granted or refused, and
    /// the round-trip time in microseconds.
    fn lease(&mut self, keepalive: bool) -> Option<(bool, u32)>;
    /// STATUS of data node `node`: (is_primary, offset, round trip in µs).
    fn status(&mut self, node: u32) -> Option<(bool, u64, u32)>;
    /// PROMOTE data node `node`: the round trip in µs.
    fn promote(&mut self, node: u32) -> Option<u32>;
    /// Waits until `at_us` of virtual time (the driver schedules it).
    fn now_us(&self) -> u64;
}

const TIMEOUT_US: u64 = 50_000;
const TICK_US: u64 = 100_000;
const LEASE_US: u64 = 3_000_000;
const RUN_US: u64 = 60_000_000;

// ------------------------------------------------------------ the model

/// Data nodes and the coordination node, shared by the controllers.
struct Model {
    sim: Sim,
    /// (is primary, offset base, primary since µs, alive).
    nodes: Vec<(bool, u64, u64, bool)>,
    /// Replica offsets as REPLICATE delivered them.
    holder: Option<(u32, u64)>,
    crash_at_us: u64,
    first_promotion_us: Option<u64>,
    round_trips: u64,
    replicate_datagrams: u64,
}

impl Model {
    fn offset(&self, j: usize, now: u64) -> u64 {
        let (primary, base, since, _) = self.nodes[j];
        if primary { base + (now - since) / 10_000 } else { base }
    }

    /// One datagram's fate: its latency in µs, or `None` when lost.
    fn datagram(&self) -> Option<u64> {
        if self.sim.chance(0.01) {
            None
        } else {
            Some(self.sim.range(1..6) * 1000)
        }
    }

    /// A round trip to data node `j`: a crashed node never answers (the
    /// request still goes out and may be lost).
    fn round_trip_to(&mut self, j: usize) -> Option<u64> {
        if !self.nodes[j].3 {
            self.datagram();
            return None;
        }
        self.round_trip()
    }

    /// A round trip: request and reply each delayed and each possibly lost;
    /// `None` past the timeout.
    fn round_trip(&mut self) -> Option<u64> {
        let rtt = self.datagram()? + self.datagram()?;
        (rtt <= TIMEOUT_US).then(|| {
            self.round_trips += 1;
            rtt
        })
    }
}

/// One controller's world, on the shared model.
struct SimNet {
    model: Rc<RefCell<Model>>,
    me: u32,
    now: Rc<RefCell<u64>>,
}

impl Net for SimNet {
    fn lease(&mut self, keepalive: bool) -> Option<(bool, u32)> {
        let now = *self.now.borrow();
        let mut m = self.model.borrow_mut();
        let rtt = m.round_trip()?;
        let live = m.holder.filter(|h| h.1 > now);
        let granted = match (keepalive, live) {
            (true, Some((h, _))) => h == self.me,
            (true, None) => false,
            (false, None) => true,
            (false, Some((h, _))) => h == self.me,
        };
        if granted {
            m.holder = Some((self.me, now + LEASE_US));
        }
        Some((granted, rtt as u32))
    }

    fn status(&mut self, node: u32) -> Option<(bool, u64, u32)> {
        let now = *self.now.borrow();
        let mut m = self.model.borrow_mut();
        let j = node as usize;
        let rtt = m.round_trip_to(j)?;
        Some((m.nodes[j].0, m.offset(j, now), rtt as u32))
    }

    fn promote(&mut self, node: u32) -> Option<u32> {
        let now = *self.now.borrow();
        let mut m = self.model.borrow_mut();
        let j = node as usize;
        let rtt = m.round_trip_to(j)?;
        if !m.nodes[j].0 {
            let offset = m.offset(j, now);
            m.nodes[j] = (true, offset, now, true);
            m.first_promotion_us.get_or_insert(now);
        }
        Some(rtt as u32)
    }

    fn now_us(&self) -> u64 {
        *self.now.borrow()
    }
}

// ------------------------------------------------------------ the controller

/// What the controller asks for.
#[derive(Debug)]
enum Output {
    Lease {
        keepalive: bool,
    },
    Status {
        node: u32,
    },
    Promote {
        node: u32,
    },
    /// Sleep until this time (µs).
    Wait {
        until: u64,
    },
}

/// What it is told.
#[derive(Debug)]
enum Input {
    Tick { now: u64 },
    Leased(Option<(bool, u32)>),
    Status(Option<(bool, u64, u32)>),
    Promoted(Option<u32>),
}

/// The controller of the workload, as a sans-IO machine.
struct Controller {
    n: u32,
    leader: bool,
    believed_primary: u32,
    fails: u32,
    round: u64,
    tick_at: u64,
    now: u64,
    /// This round's replies, by node, and the slowest one (µs).
    replies: Vec<Option<(bool, u64)>>,
    slowest: u64,
    asked: u32,
    outbox: Option<Output>,
}

impl Controller {
    fn new(n: u32) -> Self {
        Self {
            n,
            leader: false,
            believed_primary: 0,
            fails: 0,
            round: 0,
            tick_at: 0,
            now: 0,
            replies: Vec::new(),
            slowest: 0,
            asked: 0,
            outbox: None,
        }
    }

    fn poll_next_message(&mut self) -> Option<Output> {
        self.outbox.take()
    }

    fn start_round(&mut self) {
        self.round += 1;
        self.replies = vec![None; self.n as usize];
        self.slowest = 0;
        self.asked = 0;
        self.outbox = Some(Output::Status { node: 0 });
    }

    fn step(&mut self, input: Input) {
        match input {
            Input::Tick { now } => {
                self.now = now;
                self.tick_at = now;
                if self.round % 10 == 0 {
                    self.outbox = Some(Output::Lease { keepalive: self.leader });
                } else {
                    self.start_round();
                }
            }
            Input::Leased(reply) => {
                self.leader = reply.is_some_and(|r| r.0);
                self.now += reply.map_or(TIMEOUT_US, |r| u64::from(r.1));
                self.start_round();
            }
            Input::Status(reply) => {
                // The STATUS requests all leave at once: the round lasts as
                // long as the slowest reply, or the timeout if one is lost.
                let rtt = reply.map_or(TIMEOUT_US, |r| u64::from(r.2));
                self.slowest = self.slowest.max(rtt);
                self.replies[self.asked as usize] = reply.map(|r| (r.0, r.1));
                self.asked += 1;
                if self.asked < self.n {
                    self.outbox = Some(Output::Status { node: self.asked });
                } else {
                    self.now += self.slowest;
                    self.decide();
                }
            }
            Input::Promoted(reply) => {
                self.now += reply.map_or(TIMEOUT_US, u64::from);
                self.wait();
            }
        }
    }

    fn decide(&mut self) {
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
                self.outbox = Some(Output::Promote { node: j });
                return;
            }
        }
        self.wait();
    }

    fn wait(&mut self) {
        // A missed tick is delayed, never bursted.
        let until = (self.tick_at + TICK_US).max(self.now);
        self.outbox = Some(Output::Wait { until });
    }
}

// ------------------------------------------------------------ the run

/// What one seed counted.
struct Counts {
    round_trips: u64,
    replicate: u64,
    failover_delay_ms: Option<u64>,
    ok: bool,
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[derive(Debug, Clone, Copy)]
enum Event {
    Wake(usize),
    Replicate,
}

/// Performs `out` on `world`; the answer, or the wake-up time for `Wait`.
fn perform(world: &mut impl Net, out: Output) -> Result<Input, u64> {
    Ok(match out {
        Output::Lease { keepalive } => Input::Leased(world.lease(keepalive)),
        Output::Status { node } => Input::Status(world.status(node)),
        Output::Promote { node } => Input::Promoted(world.promote(node)),
        Output::Wait { until } => return Err(until),
    })
}

fn run_seed(seed: u64, n: u32, record: bool) -> Counts {
    let sim = Sim::new(seed);
    let crash_at_us = (5000 + splitmix64(seed) % 25001) * 1000;
    let model = Rc::new(RefCell::new(Model {
        sim: sim.clone(),
        nodes: (0..n).map(|j| (j == 0, 0, 0, true)).collect(),
        holder: None,
        crash_at_us,
        first_promotion_us: None,
        round_trips: 0,
        replicate_datagrams: 0,
    }));
    let clocks: Vec<Rc<RefCell<u64>>> = (0..3).map(|_| Rc::new(RefCell::new(0))).collect();
    let tapes: Vec<Tape> = (0..3).map(|c| sim.tape_named(&format!("c{c}"))).collect();
    let mut worlds: Vec<Recorder<SimNet>> = (0..3u32)
        .map(|c| {
            let net = SimNet {
                model: Rc::clone(&model),
                me: c,
                now: Rc::clone(&clocks[c as usize]),
            };
            Recorder::new(net, tapes[c as usize].clone())
        })
        .collect();
    let mut controllers: Vec<Controller> = (0..3).map(|_| Controller::new(n)).collect();
    let mut queue: EventQueue<Event> = EventQueue::new();
    for c in 0..3 {
        // Controllers start a few ms apart (drawn from the seed).
        queue.schedule(Duration::from_micros(sim.range(0..1000) * 10), Event::Wake(c));
    }
    queue.schedule(Duration::from_micros(TICK_US), Event::Replicate);
    while let Some((at, event)) = queue.pop() {
        let now = at.as_micros() as u64;
        if now >= RUN_US {
            break;
        }
        {
            let mut m = model.borrow_mut();
            if now >= m.crash_at_us && m.nodes[0].3 {
                m.nodes[0].3 = false;
            }
        }
        match event {
            Event::Replicate => {
                let mut m = model.borrow_mut();
                for p in 0..n as usize {
                    if !(m.nodes[p].0 && m.nodes[p].3) {
                        continue;
                    }
                    let offset = m.offset(p, now);
                    for q in (0..n as usize).filter(|&q| q != p) {
                        m.replicate_datagrams += 1;
                        if m.datagram().is_some() && m.nodes[q].3 && !m.nodes[q].0 {
                            m.nodes[q].1 = m.nodes[q].1.max(offset);
                        }
                    }
                }
                queue.schedule(at + Duration::from_micros(TICK_US), Event::Replicate);
            }
            Event::Wake(c) => {
                *clocks[c].borrow_mut() = now;
                let ctl = &mut controllers[c];
                ctl.step(Input::Tick { now });
                // Run the controller until it sleeps. Its clock moves with
                // the replies it waits for.
                while let Some(out) = ctl.poll_next_message() {
                    *clocks[c].borrow_mut() = ctl.now;
                    let result = if record {
                        perform(&mut worlds[c], out)
                    } else {
                        perform(worlds[c].inner_mut(), out)
                    };
                    match result {
                        Ok(input) => ctl.step(input),
                        Err(until) => {
                            queue.schedule(Duration::from_micros(until), Event::Wake(c));
                            break;
                        }
                    }
                }
            }
        }
    }
    let m = model.borrow();
    let primaries = m.nodes.iter().filter(|n| n.0 && n.3).count();
    Counts {
        round_trips: m.round_trips,
        replicate: m.replicate_datagrams,
        failover_delay_ms: m.first_promotion_us.map(|t| t.saturating_sub(m.crash_at_us) / 1000),
        ok: primaries == 1 && m.first_promotion_us.is_some(),
    }
}

fn main() -> std::process::ExitCode {
    let mut seeds = 10u64;
    let mut n = 3u32;
    let mut record = true;
    let mut quiet = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seeds" => seeds = args.next().and_then(|v| v.parse().ok()).unwrap_or(seeds),
            "--nodes" => n = args.next().and_then(|v| v.parse().ok()).unwrap_or(n),
            "--no-record" => record = false,
            "--quiet" => quiet = true,
            other => {
                eprintln!("failover_ref: unknown argument {other:?} (--seeds N, --nodes N, --no-record, --quiet)");
                return std::process::ExitCode::from(2);
            }
        }
    }
    let start = Instant::now();
    let (mut rt, mut rep, mut delay, mut failed) = (0u64, 0u64, 0u64, 0u64);
    for seed in 0..seeds {
        let c = run_seed(seed, n, record);
        if !quiet {
            println!(
                "seed {seed}: round_trips {} replicate {} failover_delay_ms {} {}",
                c.round_trips,
                c.replicate,
                c.failover_delay_ms.map_or("none".into(), |d| d.to_string()),
                if c.ok { "ok" } else { "FAILED" }
            );
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
