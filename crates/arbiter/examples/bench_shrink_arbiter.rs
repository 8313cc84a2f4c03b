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
//! the shrinker before issue 18; `--choices HEX,... --only NAME [--seed
//! N]` or `--from FILE.ron --only NAME` runs one bug with a choice
//! sequence, built by hand or a saved scenario's, and prints the model's
//! timeline, the calls of each instance and the failure, to check a
//! minimum).

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

/// `PromoteMostLagging` (S5: among eligible replicas, the one furthest
/// behind is promoted). Minimal counterexample: 184 calls, over the three
/// instances' tapes, which the run built by hand has
/// (`PROMOTE_MOST_LAGGING_RUN` in `tests/shrink_quality.rs`, which checks
/// it; `--only Promote --choices ...` replays it):
/// - arbiter-1, the leader, starts at 46 ms: start-up to the record, 15
///   calls (as NoDebounce's: `now`, `check_config`, `gen_node_id`,
///   `is_cluster_enabled` x3, `create_node`, `leader`, `read_record`,
///   `check_config`, `check_cluster_notifications`, `node_status` x3,
///   `publish`); r1 answers that round, and down-after (3000 ms) counts
///   from it (46 ms). Nothing is urgent then, so the next round is at
///   1046 ms; an injected error on its `node_status` of r1 (the `calls`
///   fault kind) makes r1 miss, and while the recorded primary misses,
///   rounds come every 100 ms, each 7 calls (`sleep_until`,
///   `check_election_notification`, `check_config`,
///   `check_cluster_notifications`, `node_status` x3), r1's poll failing
///   in each. The round at 3046 ms is the first 3000 ms after r1's last
///   answer and decides the failover: 21 rounds, 147 calls. In it r2 is
///   polled at 3051 ms and r3 at 3052 ms, just after the client's write
///   of 3052 ms: r2 is one write behind r3, both eligible, and the planted
///   bug picks r2 (S5: r3 ranks before it).
/// - arbiter-2 and arbiter-3 start at 1000 ms; an injected error on each
///   one's `create_node` keeps it a candidate: 7 start-up calls, then
///   `sleep_until` and `create_node` at its ticks at 2006 and 3006 ms:
///   11 calls each.
///
/// 15 + 147 + 22 = 184. Fewer is impossible. The failure needs a
/// failover decision (S5 is checked when the leader decides one) at some
/// time `D`, so a leader's 15 start-up calls (the record names the
/// primary it replaces, and only that round writes it) and its rounds of
/// 7 calls; r1 missed every round since its last answer, in the round at
/// `a <= D - 3000`, and once it misses, rounds come every 100 ms. Each
/// other instance makes its 7 start-up calls up to `create_node`, then at
/// least a `sleep_until` and a `create_node` (as a candidate; a follower
/// makes more) at each of its ticks before `D`, the first two by 2030
/// and 3030 ms (it starts by 1000 ms, each call at most 5 ms after the
/// last). Nothing but the `calls` faults happens before the first fault
/// tick (5 s), and the check interval is 1000 ms until then:
/// - `D` before 5 s, `a` the start-up round: the rounds are those at 1 s
///   and every 100 ms after it up to 3 s after the start-up: 21, so 162
///   calls. Only the client's writes can set r2 and r3 apart then
///   (replicas linked to a live primary hold the same offset at any
///   instant): a write between the two polls of the deciding round, at
///   2 + 50k ms, so `D` >= 3052 ms, after both ticks of each other
///   instance: 11 calls each, 184 in all.
/// - `D` before 5 s, `a` the round at 1 s: 22 rounds, 169 calls, `D`
///   after 4 s: 169 + 22 > 184.
/// - `D` at 5 s or later: if r1 first missed before 5 s, the rounds
///   from then on are 100 ms apart, at least 21 up to `D`, plus the
///   start-up's (15 + 147 calls), and `D` comes after 5 s, so after three
///   ticks of each other instance (13 calls each): more than 184. If it
///   first missed at 5 s or later: the 4 rounds by 5 s (at 1, 2, 3 and 4 s
///   after the start-up), then at least 16 from the first miss (at most
///   1500 ms after `a`, the longest check interval) to `D`: 155 calls;
///   `D` >= `a` + 3000 >= 7 s, after at least 5 ticks of each other
///   instance (ticks at most 1500 ms apart): 17 calls each, 189 in all.
///
/// (The fault kinds injected each second of the fault window give longer
/// runs: r2 paused at 5 s and r1 crashed at 6 s, say, decide at about
/// 8 s: 15 + 7 x 26 = 197 calls by the leader, 239 with the others kept
/// candidates.)
const PROMOTE_MOST_LAGGING_MIN: usize = 184;

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
        min: PROMOTE_MOST_LAGGING_MIN,
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
    let choices = match (flag(&args, "--choices"), flag(&args, "--from")) {
        (Some(text), _) => Some(rehearse::__private::decode_choices(text).map(|c| (c, None))),
        (None, Some(path)) => Some(choices_of(path)),
        (None, None) => None,
    };
    if let Some(choices) = choices {
        let seed = flag(&args, "--seed").and_then(|s| s.parse().ok());
        return match choices {
            Ok((choices, saved_seed)) => replay_choices(only.map(String::as_str), choices, seed.or(saved_seed)),
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
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
            // The smallest failure as found is shrunk, of the first 50.
            .shrink_limit(1)
            .save_limit(50)
            .quiet()
            // Only this bug's invariants count: a knock-on violation of
            // another invariant must not pass for a find.
            .run(|sim| match run(sim, &opts) {
                Err(f) if p.invariants.contains(&f.kind()) => Err(f),
                _ => Ok(()),
            });
        let Some(f) = report.shrunk().next().or(report.failures.first()) else {
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

/// The value after `name` in `args`.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1))
}

/// The choices and seed a saved scenario's header holds.
fn choices_of(path: &str) -> Result<(Vec<u64>, Option<u64>), String> {
    let trace = rehearse::Trace::read(path).map_err(|e| format!("{path}: {e}"))?;
    let header = trace.header();
    let text = header
        .meta
        .get("choices")
        .ok_or_else(|| format!("{path}: no choices in its header"))?;
    Ok((rehearse::__private::decode_choices(text)?, header.seed))
}

/// Runs the one bug `only` names with `choices`, and prints its timeline,
/// each instance's calls and the failure.
fn replay_choices(only: Option<&str>, choices: Vec<u64>, seed: Option<u64>) -> ExitCode {
    let bugs: Vec<&Planted> = BUGS
        .iter()
        .filter(|p| only.is_some_and(|o| format!("{:?}", p.bug).starts_with(o)))
        .collect();
    let [p] = bugs[..] else {
        eprintln!("--choices and --from need --only naming one bug");
        return ExitCode::FAILURE;
    };
    let opts = SimOptions {
        bugs: BTreeSet::from([p.bug]),
        record: true,
        ..SimOptions::default()
    };
    let sim = rehearse::Sim::from_choices(seed.unwrap_or(0), choices);
    let (result, events) = arbiter::sim::run::run_with_timeline(&sim, &opts);
    for e in &events {
        println!("{:>9.3}s  {}", e.at as f64 / 1000.0, e.what());
    }
    // (each incarnation of an instance records on its own tape; asking
    // for one that never ran gives an empty tape)
    let mut calls = Vec::new();
    for i in 0..opts.instances {
        for incarnation in 0..100 {
            let name = arbiter::sim::model::instance_id(i, incarnation).0;
            let n = sim.tape_named(&name).len();
            if n > 0 {
                calls.push((name, n));
            }
        }
    }
    let total: usize = calls.iter().map(|(_, n)| n).sum();
    println!(
        "{:?}: {total} calls ({}), {} choices consumed, ended at {:?}: {}",
        p.bug,
        calls
            .iter()
            .map(|(n, c)| format!("{n} {c}"))
            .collect::<Vec<_>>()
            .join(", "),
        sim.choice_count(),
        sim.now(),
        match &result {
            Ok(_) => "passed".to_string(),
            Err(f) => format!("{}: {}", f.kind(), f.message()),
        }
    );
    ExitCode::SUCCESS
}
