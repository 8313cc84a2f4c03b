//! Costs of the rehearse core, each next to its baseline in the same run:
//!
//! - `record/*`: one world call made directly, through a `Recorder` on a
//!   memory tape, and through a `Recorder` on a file tape (caller-side
//!   cost; the background thread writes), for a small (u64) and a 1 KiB
//!   payload. `scripts/bench-core` prints the ratios.
//! - `replay/*`: calls per second answered by a `Replayer`.
//! - `parse/*`: bytes per second of scenario parsing.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rehearse::{Recorder, Replayer, Tape, Trace};

#[rehearse::world]
pub trait Store {
    fn get(&self, key: u64) -> u64;
    fn put(&mut self, key: u64, payload: &str) -> Result<usize, String>;
}

struct Real {
    state: u64,
}

impl Store for Real {
    #[inline(never)]
    fn get(&self, key: u64) -> u64 {
        key.wrapping_mul(self.state)
    }
    #[inline(never)]
    fn put(&mut self, key: u64, payload: &str) -> Result<usize, String> {
        self.state = self.state.wrapping_add(key);
        Ok(payload.len())
    }
}

const KIB: usize = 1024;

fn payload() -> String {
    "x".repeat(KIB)
}

fn record(c: &mut Criterion) {
    let mut g = c.benchmark_group("record");
    g.measurement_time(Duration::from_secs(4));
    let big = payload();

    g.bench_function("small/direct", |b| {
        b.iter_custom(|iters| timed_calls(iters, Sink::Direct, |w, k| black_box(w.get(black_box(k)))))
    });
    g.bench_function("small/memory", |b| {
        b.iter_custom(|iters| timed_calls(iters, Sink::Memory, |w, k| black_box(w.get(black_box(k)))))
    });
    g.bench_function("small/file", |b| {
        b.iter_custom(|iters| timed_calls(iters, Sink::File, |w, k| black_box(w.get(black_box(k)))))
    });
    for (name, sink) in [
        ("1kib/direct", Sink::Direct),
        ("1kib/memory", Sink::Memory),
        ("1kib/file", Sink::File),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                timed_calls(iters, sink, |w, k| {
                    let _ = black_box(w.put(black_box(k), black_box(&big)));
                    0
                })
            })
        });
    }
    g.finish();
}

#[derive(Clone, Copy)]
enum Sink {
    /// No recorder at all: the baseline.
    Direct,
    Memory,
    File,
}

/// Calls per tape before it is replaced (untimed), so that memory and disk
/// stay bounded however many iterations criterion asks for.
const CHUNK: u64 = 10_000;

/// Times `iters` calls through `Store` on the given sink. Creating and
/// finishing tapes is outside the timing: for file tapes the final flush is
/// the writer thread's work, not the caller's.
fn timed_calls(iters: u64, sink: Sink, call: impl Fn(&mut dyn StoreCalls, u64) -> u64) -> Duration {
    let dir = tempfile::tempdir().unwrap();
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = CHUNK.min(iters - done);
        let tape = match sink {
            Sink::Direct => Tape::disabled(),
            Sink::Memory => Tape::memory(),
            Sink::File => Tape::create(dir.path().join("bench.ron")).unwrap(),
        };
        let mut recorded = Recorder::new(Real { state: 3 }, tape.clone());
        let mut direct = Real { state: 3 };
        let world: &mut dyn StoreCalls = match sink {
            Sink::Direct => &mut direct,
            _ => &mut recorded,
        };
        let start = Instant::now();
        for k in done..done + n {
            call(world, k);
        }
        total += start.elapsed();
        tape.finish().unwrap();
        done += n;
    }
    total
}

/// `Store` as a trait object, so every variant pays the same dispatch.
pub trait StoreCalls {
    fn get(&self, key: u64) -> u64;
    fn put(&mut self, key: u64, payload: &str) -> Result<usize, String>;
}

impl<T: Store> StoreCalls for T {
    fn get(&self, key: u64) -> u64 {
        Store::get(self, key)
    }
    fn put(&mut self, key: u64, payload: &str) -> Result<usize, String> {
        Store::put(self, key, payload)
    }
}

/// A recorded scenario of `n` calls alternating both methods.
fn scenario(n: u64) -> String {
    let tape = Tape::memory();
    let mut w = Recorder::new(Real { state: 3 }, tape.clone());
    for k in 0..n / 2 {
        Store::get(&w, k);
        Store::put(&mut w, k, "a small payload of some forty bytes.....").unwrap();
    }
    tape.contents()
}

fn replay(c: &mut Criterion) {
    let mut g = c.benchmark_group("replay");
    const N: u64 = 10_000;
    let trace = Trace::parse(&scenario(N)).unwrap();
    g.throughput(Throughput::Elements(N));
    g.bench_function("calls", |b| {
        b.iter_batched(
            || Replayer::from_trace(trace.clone()),
            |mut r| {
                for k in 0..N / 2 {
                    black_box(Store::get(&r, k));
                    let _ = black_box(Store::put(&mut r, k, "a small payload of some forty bytes....."));
                }
                r.finish().unwrap();
            },
            BatchSize::LargeInput,
        );
    });
    g.finish();
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse");
    let text = scenario(10_000);
    g.throughput(Throughput::Bytes(text.len() as u64));
    g.bench_function("trace", |b| b.iter(|| Trace::parse(black_box(&text)).unwrap()));
    g.finish();
}

#[path = "../examples/counter.rs"]
#[allow(dead_code, unreachable_pub)]
mod counter;

/// Seeds the example sweep runs per iteration (one thread, the corrected
/// server, so nothing fails and nothing is shrunk).
const SWEEP_SEEDS: u64 = 2000;

fn sweep(c: &mut Criterion) {
    let mut g = c.benchmark_group("sweep");
    g.throughput(Throughput::Elements(SWEEP_SEEDS));
    for (name, record) in [("counter_recorded", true), ("counter_unrecorded", false)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let report = rehearse::Sweep::new("bench-counter")
                    .seeds(0..SWEEP_SEEDS)
                    .threads(1)
                    .quiet()
                    .run(|sim| counter::run(sim, true, record));
                assert_eq!(report.failed_runs, 0);
                black_box(report.calls)
            });
        });
    }
    g.finish();
}

criterion_group!(benches, record, replay, parse, sweep);
criterion_main!(benches);
