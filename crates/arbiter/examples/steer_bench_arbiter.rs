//! Steering's measurement for arbiter's planted bugs (`scripts/bench-steer`
//! runs it and prints the table): for each bug, a sweep of at most
//! `--max` runs from each `--offsets` seed offset, fresh and steered, each
//! stopping at its first find (the runs after it return at once). Prints
//! one line per sweep:
//!
//! ```text
//! arbiter/skip-fencing fresh 0 runs 37 secs 0.41
//! ```
//!
//! `runs` is the first failing run's position in the sweep (1-based;
//! `-` when none of `--max` failed), `secs` the wall time until it failed.
//! One thread, so that the first run to fail in time is the first in
//! order. Needs `--features planted-bugs`.
//!
//! `cargo run --release -p arbiter --features planted-bugs --example steer_bench_arbiter -- --max 3000 --offsets 5`
//!
//! `--keep-going` runs every slot instead of stopping at the first find;
//! with `REHEARSE_STEER_TRACE=1`, each steered sweep prints what each slot
//! ran and did (see rehearse's `steer_bench`).

#[cfg(feature = "planted-bugs")]
fn main() -> std::process::ExitCode {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Instant;

    use arbiter::sim::run::{SimOptions, run};
    use arbiter::types::Bug;
    use rehearse::Sweep;

    let mut max = 3000u64;
    let mut offsets = 5u64;
    // `fresh`, `steered` or `both` (fresh runs do not change with the
    // steering schedule: a schedule's trials need only `steered`).
    let mut mode = String::from("both");
    // Run every slot, not only up to the first find (with
    // `REHEARSE_STEER_TRACE=1`: what forks do after it too).
    let mut keep_going = false;
    let mut only: Option<String> = None;
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
            "--bug" => only = Some(value),
            other => {
                eprintln!(
                    "steer_bench_arbiter: unknown argument {other:?} (--max N, --offsets N, --mode fresh|steered|both, --bug NAME, --keep-going)"
                );
                return std::process::ExitCode::from(2);
            }
        }
    }
    // Each bug with the invariants it breaks (as tests/planted.rs hunts it).
    let bugs: [(Bug, &str, &[&str]); 6] = [
        (Bug::SkipFencing, "skip-fencing", &["S1 fenced actions"]),
        (
            Bug::PromoteMostLagging,
            "promote-most-lagging",
            &["S5 candidate eligibility"],
        ),
        (
            Bug::ForgetOldPrimary,
            "forget-old-primary",
            &["L2 convergence", "S4 bounded dual-writable window"],
        ),
        (
            Bug::TrustStaleRead,
            "trust-stale-read",
            &[
                "L2 convergence",
                "S4 bounded dual-writable window",
                "S5 candidate eligibility",
                "S1 fenced actions",
            ],
        ),
        (Bug::NoDebounce, "no-debounce", &["L3 bounded detection"]),
        (
            Bug::ResyncFromEmpty,
            "resync-from-empty",
            &["S7 no replication from an empty restart"],
        ),
    ];
    let dir = std::env::temp_dir().join(format!("steer-bench-{}", std::process::id()));
    for (bug, name, invariants) in bugs {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        let opts = SimOptions {
            bugs: [bug].into_iter().collect(),
            record: false,
            ..SimOptions::default()
        };
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
                        match run(sim, &opts) {
                            Err(f) if invariants.contains(&f.kind()) => {
                                found.store(true, Ordering::Relaxed);
                                let mut first = first.lock().unwrap_or_else(|e| e.into_inner());
                                first.get_or_insert((sim.seed() - start + 1, began.elapsed().as_secs_f64()));
                                Err(f)
                            }
                            _ => Ok(()),
                        }
                    });
                let mode = if steer { "steered" } else { "fresh" };
                match first.into_inner().unwrap_or_else(|e| e.into_inner()) {
                    Some((runs, secs)) => println!("arbiter/{name} {mode} {k} runs {runs} secs {secs:.2}"),
                    None => println!("arbiter/{name} {mode} {k} runs - secs -"),
                }
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    std::process::ExitCode::SUCCESS
}

#[cfg(not(feature = "planted-bugs"))]
fn main() -> std::process::ExitCode {
    eprintln!("steer_bench_arbiter: build with `--features planted-bugs`");
    std::process::ExitCode::from(2)
}
