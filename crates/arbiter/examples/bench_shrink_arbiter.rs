//! Arbiter's planted bugs in the shrink-quality benchmark
//! (`scripts/bench-shrink`): a sweep finds each bug, shrinks it, and one
//! line per bug says how many calls the shrunk scenario has against the
//! minimum derived by hand (same columns as rehearse's
//! `examples/bench_shrink`).
//!
//! Run: `cargo run --release -p arbiter --features planted-bugs --example
//! bench_shrink_arbiter` (`--tsv` for tab-separated lines; `--only NAME`
//! for the bugs whose name starts with NAME; `--keep DIR` keeps the
//! scenarios found and shrunk in DIR; `REHEARSE_SHRINKER=legacy` measures
//! the shrinker before issue 18).

use std::collections::BTreeSet;
use std::process::ExitCode;

use arbiter::sim::run::{SimOptions, run};
use arbiter::types::Bug;
use rehearse::Sweep;

/// One planted bug, the invariants that count as finding it, its minimum
/// (0: not derived).
struct Planted {
    bug: Bug,
    invariants: &'static [&'static str],
    seeds: u64,
    min: usize,
}

/// `NoDebounce` (L3: a failover on the first missed poll). Minimal
/// counterexample: 36 calls, over the three instances' tapes.
/// - arbiter-1, the leader: start-up, 15 calls (`now`, `check_config`,
///   `gen_node_id`, `is_cluster_enabled` x3, `create_node`, `leader`,
///   `read_record`, `check_config`, `check_cluster_notifications`,
///   `node_status` x3, `publish`): its first poll finds no record and
///   publishes one, so it cannot fail over then; the next poll is the
///   tick at 1001 ms: `sleep_until`, `check_election_notification`,
///   `check_config`, `check_cluster_notifications`, `node_status` x3 with
///   r1's failing (7 calls), and the failover decided on that one miss
///   breaks L3 when the poll ends (t = 1007 ms): 22 calls.
/// - arbiter-2 and arbiter-3: each starts at 1 to 1000 ms (`1 +
///   below(1000)`), so before 1007 ms in every run, and makes its
///   start-up calls up to its candidacy (`now`, `check_config`,
///   `gen_node_id`, `is_cluster_enabled` x3, `create_node`: 7 calls, 1 ms
///   apart, done by 1007 ms even from a start at 1000 ms); an injected
///   error on `create_node` (the `calls` fault kind) makes it wait as a
///   candidate, so it does not go on to `leader` before 1007 ms: 14 calls.
///
/// 22 + 14 = 36. Fewer is impossible: no call above can be left out (the
/// start-up sequences are fixed, an error injected on any of the
/// followers' earlier calls does not stop them, the poll that misses r1
/// is the earliest one that can fail over), and the instances cannot
/// start later. (Before, this said 38, without the injected errors: the
/// shrinker before issue 18 found 37, with one of them.)
const NO_DEBOUNCE_MIN: usize = 36;

const BUGS: &[Planted] = &[
    Planted {
        bug: Bug::NoDebounce,
        invariants: &["L3 bounded detection"],
        seeds: 100,
        min: NO_DEBOUNCE_MIN,
    },
    Planted {
        bug: Bug::PromoteMostLagging,
        invariants: &["S5 candidate eligibility"],
        seeds: 300,
        min: 0,
    },
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tsv = args.iter().any(|a| a == "--tsv");
    let only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1));
    let keep = args.iter().position(|a| a == "--keep").and_then(|i| args.get(i + 1));
    let dir = match keep {
        Some(dir) => std::path::PathBuf::from(dir),
        None => std::env::temp_dir().join(format!("arbiter-bench-shrink-{}", std::process::id())),
    };
    let mut failed = false;
    for p in BUGS
        .iter()
        .filter(|p| only.is_none_or(|o| format!("{:?}", p.bug).starts_with(o.as_str())))
    {
        let opts = SimOptions {
            bugs: BTreeSet::from([p.bug]),
            record: true,
            ..SimOptions::default()
        };
        let report = Sweep::new(format!("{:?}", p.bug))
            .seeds(0..p.seeds)
            .out_dir(&dir)
            .shrink_limit(1)
            .save_limit(1)
            .quiet()
            // Only this bug's invariants count: a knock-on violation of
            // another invariant must not pass for a find.
            .run(|sim| match run(sim, &opts) {
                Err(f) if p.invariants.contains(&f.kind()) => Err(f),
                _ => Ok(()),
            });
        let Some(f) = report.failures.first() else {
            eprintln!("{:?}: not found in seeds 0..{}", p.bug, p.seeds);
            failed = true;
            continue;
        };
        let name = format!("arbiter: {:?}", p.bug);
        let shrunk = f.calls.1.map_or("-".into(), |s| s.to_string());
        let ratio = match f.calls.1 {
            Some(s) if p.min > 0 => format!("{:.2}", s as f64 / p.min as f64),
            _ => "-".into(),
        };
        let min = if p.min > 0 { p.min.to_string() } else { "-".into() };
        let stop = f.shrink_stopped.map(|s| s.to_string()).unwrap_or_default();
        let secs = f.shrink_elapsed.as_secs_f64();
        if tsv {
            println!(
                "{name}\t{}\t{}\t{shrunk}\t{min}\t{ratio}\t{}\t{secs:.3}\t{stop}",
                f.seed, f.calls.0, f.shrink_attempts
            );
        } else {
            println!(
                "{name:<36} {:>5} {:>6} {shrunk:>6} {min:>4} {ratio:>6} {:>8} {secs:>7.2}s  {stop}",
                f.seed, f.calls.0, f.shrink_attempts
            );
        }
    }
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}
