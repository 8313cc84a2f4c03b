//! Steering's measurement for the examples' planted bugs (the counter's
//! lost deduplication, the replicated log's `--bug`); `scripts/bench-steer`
//! runs it beside arbiter's and prints the table. For each bug, a sweep of
//! at most `--max` runs from each of `--offsets` seed offsets, fresh and
//! steered, each stopping at its first find (the runs after it return at
//! once). One line per sweep:
//!
//! ```text
//! counter fresh 0 runs 12 secs 0.01
//! ```
//!
//! `runs` is the first failing run's position in the sweep (1-based; `-`
//! when none of `--max` failed), `secs` the wall time until it failed. One
//! thread, so that the first run to fail in time is the first in order.
//!
//! `cargo run --release -p rehearse --example steer_bench -- --max 3000 --offsets 5`
//!
//! To see what forks do: `REHEARSE_STEER_TRACE=1` makes each steered
//! sweep print one line per slot on stderr (fresh, or which corpus entry
//! and key it forked and how many choices it kept; whether it failed, its
//! rarity, its new keys), and `--keep-going` runs every slot instead of
//! stopping at the first find, so that fresh and fork failure rates can
//! be counted per parent:
//! `REHEARSE_STEER_TRACE=1 steer_bench --mode steered --max 800 --offsets 4 --keep-going 2>trace`

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rehearse::{Failure, Sim, Sweep};

#[allow(dead_code, unreachable_pub)]
#[path = "counter.rs"]
mod counter;

#[allow(dead_code, unreachable_pub)]
#[path = "replog"]
mod replog {
    pub(crate) mod check;
    pub(crate) mod node;
}

fn main() -> std::process::ExitCode {
    let mut max = 3000u64;
    let mut offsets = 5u64;
    // `fresh`, `steered` or `both` (fresh runs do not change with the
    // steering schedule: a schedule's trials need only `steered`).
    let mut mode = String::from("both");
    // Run every slot, not only up to the first find (with
    // `REHEARSE_STEER_TRACE=1`: what forks do after it too).
    let mut keep_going = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--keep-going" {
            keep_going = true;
            continue;
        }
        let value = args.next().unwrap_or_default();
        match a.as_str() {
            "--max" => max = value.parse().unwrap_or(max),
            "--offsets" => offsets = value.parse().unwrap_or(offsets),
            "--mode" => mode = value,
            other => {
                eprintln!(
                    "steer_bench: unknown argument {other:?} (--max N, --offsets N, --mode fresh|steered|both, --keep-going)"
                );
                return std::process::ExitCode::from(2);
            }
        }
    }
    let dir = std::env::temp_dir().join(format!("steer-bench-{}", std::process::id()));
    type Run = fn(&mut Sim) -> Result<(), Failure>;
    let systems: [(&str, Run); 2] = [
        ("counter", |sim| counter::run(sim, false, false)),
        ("replog", |sim| replog::check::run(sim, 3, true)),
    ];
    for (name, f) in systems {
        for steer in [false, true] {
            if mode != "both" && (mode == "steered") != steer {
                continue;
            }
            for k in 0..offsets {
                let start = k * 1_000_000;
                let found = AtomicBool::new(false);
                let first: Mutex<Option<(u64, f64)>> = Mutex::new(None);
                let began = Instant::now();
                let _ = Sweep::new(format!("steer-bench-{name}"))
                    .seeds(start..start + max)
                    .threads(1)
                    .steer(steer)
                    .shrink(false)
                    .save_limit(1)
                    .out_dir(&dir)
                    .quiet()
                    .run(|sim| {
                        if (found.load(Ordering::Relaxed) && !keep_going) || sim.phase() != rehearse::Phase::Explore {
                            return Ok(());
                        }
                        let result = f(sim);
                        if result.is_err() {
                            found.store(true, Ordering::Relaxed);
                            let mut first = first.lock().unwrap_or_else(|e| e.into_inner());
                            first.get_or_insert((sim.seed() - start + 1, began.elapsed().as_secs_f64()));
                        }
                        result
                    });
                let mode = if steer { "steered" } else { "fresh" };
                match first.into_inner().unwrap_or_else(|e| e.into_inner()) {
                    Some((runs, secs)) => println!("{name} {mode} {k} runs {runs} secs {secs:.2}"),
                    None => println!("{name} {mode} {k} runs - secs -"),
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::process::ExitCode::SUCCESS
}
