//! The cost of the simulated network per message, next to its baseline in
//! the same run: two nodes play ping-pong with a message the size of
//! `failover_ref`'s (`Pong { id, primary, offset }`), and each message is
//!
//! - `net/direct`: handed straight to the receiving node (`step`, then its
//!   reply polled): the protocol's own cost;
//! - `net/simnet`: sent through a [`SimNet`] (datagrams, latency drawn per
//!   message, the fault points asked at rate 0) by a [`Cluster`]: one
//!   `perform`, one `next_event`;
//! - `net/recorded`: the same on `Recorder<SimNet>`, writing both calls to
//!   a memory tape.
//!
//! After criterion's report, the bench times the three back to back and
//! prints ns per message and the ratios (recorded / simnet is the cost of
//! recording a message-heavy run; the goal is at most 1.5x).
//!
//! Run: `cargo bench -p rehearse --bench net` (`-- --ratios` for the ratios
//! alone, `-- --only recorded 100000` for one way alone, to count its
//! instructions under callgrind).

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use rehearse::net::{Cluster, Event, Links, NetConfig, Node, NodeId, Output, SimNet};
use rehearse::{Recorder, Sim};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Msg {
    Ping { id: u64 },
    Pong { id: u64, primary: bool, offset: u64 },
}

/// Answers every message with the other kind; node 0 serves first.
pub struct Player {
    me: NodeId,
    next: Option<Output<Msg>>,
}

impl Node for Player {
    type Message = Msg;

    #[inline]
    fn step(&mut self, now: Duration, event: Event<Msg>) {
        let (to, msg) = match event {
            Event::Start { .. } if self.me == 0 => (1, Msg::Ping { id: 0 }),
            Event::Message {
                from,
                msg: Msg::Ping { id },
            } => (
                from,
                Msg::Pong {
                    id,
                    primary: id % 2 == 0,
                    offset: now.as_micros() as u64,
                },
            ),
            Event::Message {
                from,
                msg: Msg::Pong { id, .. },
            } => (from, Msg::Ping { id: id + 1 }),
            _ => return,
        };
        self.next = Some(Output::Send { to, msg });
    }

    #[inline]
    fn poll_next_message(&mut self) -> Option<Output<Msg>> {
        self.next.take()
    }
}

fn player(me: NodeId) -> Player {
    Player { me, next: None }
}

/// Messages per network (untimed set-up between them), so that a tape
/// stays the size of one simulated run's.
const CHUNK: u64 = 20_000;

#[derive(Clone, Copy, Debug)]
enum Way {
    Direct,
    SimNet,
    Recorded,
}

fn network(seed: u64) -> SimNet<Msg> {
    let sim = Sim::new(seed);
    for point in ["net::drop", "net::duplicate", "net::delay"] {
        sim.set_fault_rate(point, 0.0);
    }
    SimNet::new(sim, NetConfig::new(2).links(Links::Datagrams).chaos_every_us(0))
}

/// Time of `n` messages the given way.
fn messages(way: Way, n: u64) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < n {
        let k = CHUNK.min(n - done);
        total += match way {
            Way::Direct => direct(k),
            Way::SimNet => {
                let mut cluster = Cluster::new(2, network(done), player);
                through(&mut cluster, k)
            }
            Way::Recorded => {
                let net = network(done);
                let tape = net.sim().tape();
                let mut cluster = Cluster::new(2, Recorder::new(net, tape), player);
                through(&mut cluster, k)
            }
        };
        done += k;
    }
    total
}

/// `n` messages through a cluster's world: each one event.
fn through<W: rehearse::net::Network<Msg>>(cluster: &mut Cluster<Player, W>, n: u64) -> Duration {
    // Both nodes started (two events at time 0), the first ping is out.
    while cluster.events() < 2 {
        cluster.step_until(Duration::MAX);
    }
    let start = Instant::now();
    for _ in 0..n {
        black_box(cluster.step_until(Duration::MAX));
    }
    let t = start.elapsed();
    assert_eq!(cluster.events(), n + 2, "a message was lost");
    t
}

/// `n` messages handed from one node to the other directly.
fn direct(n: u64) -> Duration {
    let mut nodes = [player(0), player(1)];
    nodes[0].step(
        Duration::ZERO,
        Event::Start {
            restart: false,
            files: Default::default(),
        },
    );
    let mut from = 0;
    let mut now = Duration::ZERO;
    let start = Instant::now();
    for _ in 0..n {
        let Some(Output::Send { to, msg }) = nodes[from].poll_next_message() else {
            panic!("the ping-pong stopped")
        };
        now += Duration::from_micros(3_000);
        nodes[to as usize].step(
            now,
            black_box(Event::Message {
                from: from as NodeId,
                msg,
            }),
        );
        from = to as usize;
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("net");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(4));
    for (name, way) in [
        ("direct", Way::Direct),
        ("simnet", Way::SimNet),
        ("recorded", Way::Recorded),
    ] {
        g.bench_function(name, |b| b.iter_custom(|iters| messages(way, iters)));
    }
    g.finish();
}

/// ns per message of each way: the best of `rounds` runs of `n` messages,
/// the ways interleaved so that a busy machine slows them alike.
fn ratios(rounds: u32, n: u64) {
    let ways = [Way::Direct, Way::SimNet, Way::Recorded];
    let mut best = [f64::MAX; 3];
    for _ in 0..rounds {
        for (i, way) in ways.iter().enumerate() {
            let ns = messages(*way, n).as_nanos() as f64 / n as f64;
            best[i] = best[i].min(ns);
        }
    }
    let [direct, simnet, recorded] = best;
    println!("per message (best of {rounds} runs of {n}):");
    println!("  direct   {direct:8.1} ns");
    println!("  simnet   {simnet:8.1} ns  ({:.1}x direct)", simnet / direct);
    println!(
        "  recorded {recorded:8.1} ns  ({:.1}x direct, {:.2}x simnet: the cost of recording, goal at most 1.5x)",
        recorded / direct,
        recorded / simnet
    );
}

/// `--only WAY N`: `N` messages one way (`direct`, `simnet` or
/// `recorded`), nothing else; for instruction counts under callgrind,
/// where the difference of two ways divided by `N` is their difference
/// per message.
fn only(args: &[String]) -> bool {
    let Some(at) = args.iter().position(|a| a == "--only") else {
        return false;
    };
    let way = match args.get(at + 1).map(String::as_str) {
        Some("direct") => Way::Direct,
        Some("simnet") => Way::SimNet,
        Some("recorded") => Way::Recorded,
        other => panic!("--only: expected direct, simnet or recorded, got {other:?}"),
    };
    let n = args.get(at + 2).and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let t = messages(way, n);
    println!("{way:?}: {n} messages, {:.1} ns each", t.as_nanos() as f64 / n as f64);
    true
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if only(&args) {
        return;
    }
    let only_ratios = std::env::args().any(|a| a == "--ratios");
    if !only_ratios {
        let mut c = Criterion::default().configure_from_args();
        bench(&mut c);
        c.final_summary();
    }
    // `cargo test --benches` runs this too: keep it short there.
    if std::env::args().any(|a| a == "--bench") || only_ratios {
        ratios(7, 200_000);
    } else {
        ratios(1, 2_000);
    }
}
