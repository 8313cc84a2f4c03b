//! The memory a sweep holds when many seeds fail: two nodes play
//! ping-pong over `rehearse::net` (recorded, `--messages N` each run,
//! default 20,000, some 40,000 calls), and every `--fail-every K`-th seed
//! (default 3) fails at its end. Measure the peak with
//! `/usr/bin/time -f %M` against `--fail-every 0` (nothing fails):
//!
//! ```text
//! cargo build --release -p rehearse --example sweep_memory
//! /usr/bin/time -f '%M KB' target/release/examples/sweep_memory --seeds 300
//! /usr/bin/time -f '%M KB' target/release/examples/sweep_memory --seeds 300 --fail-every 0
//! ```
//!
//! Failures are saved under `target/rehearse/sweep-memory` (or
//! `REHEARSE_DIR`), not shrunk.

use std::time::Duration;

use rehearse::net::{Cluster, Event, Links, NetConfig, Node, NodeId, Output, SimNet};
use rehearse::{Failure, Recorder, Sweep};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Msg {
    Ping { id: u64 },
    Pong { id: u64, primary: bool, offset: u64 },
}

/// Answers every message with the other kind; node 0 serves first.
struct Player {
    me: NodeId,
    next: Option<Output<Msg>>,
}

impl Node for Player {
    type Message = Msg;

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

    fn poll_next_message(&mut self) -> Option<Output<Msg>> {
        self.next.take()
    }
}

fn main() {
    let mut seeds = 300u64;
    let mut messages = 20_000u64;
    let mut fail_every = 3u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut number = || args.next().and_then(|v| v.parse().ok());
        match a.as_str() {
            "--seeds" => seeds = number().unwrap_or(seeds),
            "--messages" => messages = number().unwrap_or(messages),
            "--fail-every" => fail_every = number().unwrap_or(fail_every),
            other => {
                eprintln!("sweep_memory: unknown argument {other:?} (--seeds N, --messages N, --fail-every K)");
                std::process::exit(2);
            }
        }
    }
    let report = Sweep::new("sweep-memory")
        .seeds(0..seeds)
        .shrink(false)
        .quiet()
        .run(|sim| {
            for point in ["net::drop", "net::duplicate", "net::delay"] {
                sim.set_fault_rate(point, 0.0);
            }
            let net = SimNet::new(sim.clone(), NetConfig::new(2).links(Links::Datagrams).chaos_every_us(0));
            let mut cluster = Cluster::new(2, Recorder::new(net, sim.tape()), |me| Player { me, next: None });
            while cluster.events() < messages + 2 {
                cluster.step_until(Duration::MAX);
            }
            if fail_every > 0 && sim.seed() % fail_every == 0 {
                return Err(Failure::with_kind("planted", "every few seeds fail"));
            }
            Ok(())
        });
    println!(
        "sweep_memory: {} runs, {} failed, {} saved, {} calls",
        report.runs,
        report.failed_runs,
        report.failures.len(),
        report.calls
    );
}
