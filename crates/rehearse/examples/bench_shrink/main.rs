//! The shrink-quality benchmark (`scripts/bench-shrink`): planted bugs,
//! each with its minimal counterexample derived by hand beside it; a sweep
//! finds each and shrinks it, and the table says how close to the minimum
//! the shrunk scenario is.
//!
//! Run: `cargo run --release -p rehearse --example bench_shrink`
//! (`REHEARSE_SHRINKER=legacy` before it measures the shrinker before
//! issue 18; `--tsv` prints one tab-separated line per bug instead of the
//! table; `--only NAME` runs the bugs whose name starts with NAME;
//! `--keep DIR` keeps the scenarios found and shrunk in DIR; `--choices
//! HEX,... [--seed N] --only NAME` runs one bug with a choice sequence
//! built by hand and prints its calls, failure and faults, to check a
//! minimum). Arbiter's planted bugs are measured
//! by `crates/arbiter/examples/bench_shrink_arbiter.rs`, which prints the same
//! lines; `scripts/bench-shrink` runs both.

#[path = "../replog/check.rs"]
#[allow(dead_code)]
mod check;
#[path = "../counter.rs"]
#[allow(dead_code, unreachable_pub)]
mod counter;
#[path = "../replog/node.rs"]
#[allow(dead_code)]
mod node;
mod planted;

use std::process::ExitCode;
use std::time::Duration;

use rehearse::{Failure, Sim, Sweep};

/// One planted bug: its system, the seeds to sweep for it, its minimum.
struct Bug {
    name: &'static str,
    seeds: u64,
    min: usize,
    run: fn(&mut Sim) -> Result<(), Failure>,
}

/// The counter example (`examples/counter.rs`). Minimal counterexample:
/// 12 calls. The client acknowledges 5 increments before it reads, each a
/// `new_request_id` and an `increment` (10 calls); one increment's reply
/// is lost after the server applied it, the server restarts before the
/// retry, and the retry is applied again: one more `increment` (11); the
/// final `read` sees 6 (12). Fewer is impossible: the client reads only
/// after 5 acknowledged increments, and the count can exceed them only by
/// a retried one.
const COUNTER_MIN: usize = 12;

/// The replicated log (`examples/replog`, `--bug`), failing with "state
/// machine safety" (the kind seed 96 fails with, which shrinking keeps).
/// Minimal counterexample: not derived exactly (0, so no ratio); the best
/// run known has 112 calls (the shrinker's), and one built by hand, 117.
///
/// The run built by hand (`--only replog --seed 96 --choices
/// 0,0,0,0,8000000000000001,cccccccccccccccd,0,0,8000000000000001,cccccccccccccccd,9999999999999801,aaaaaaaaaaaaaaab,0,b410acef156c10a,0,0,0,8bc6f41a92919b32,0,0,0,0,0,0,0,0,0,0,0,0,0,9999999999999801,5555555555555556,b4c9f58efda9a,0,800053e29f29f1f8,0,0,0,0,0,0,0,9999999999999801,aaaaaaaaaaaaaaab,8000000000000000,2f0538d72b4a7f18`,
/// every latency and sync at its minimum): the election timeouts hash
/// the node, term and time, and all nodes start at 0, so n2 times out
/// first at 150.574 ms, n0 at 152.433 ms and again at 415.409 ms. At the
/// first fault tick (100 ms) n2 and n0 are cut apart until 415.41 ms; n2
/// wins term 1 with n1's vote (152.574 ms), n1 writes the no-op at index
/// 1 and acknowledges it before syncing (153.574 ms); n1 crashes at the
/// second tick (154.6 ms: after its acknowledgement arrived, before the
/// client's write that reached n2 at 153 ms was acknowledged, so no
/// client write is acknowledged and the failure is not "acknowledged
/// write lost"), losing the entry; n2 commits index 1 on its own sync
/// (162.574 ms); the third tick (204.6 ms) cuts n2 from n1 before n1
/// restarts (254.6 ms) with an empty log; n0 times out at 415.409 ms, n1
/// votes for it, n0 leads term 2 with its no-op at index 1, and n2, back
/// in reach of n0, takes it over its committed term-1 entry at 418.409
/// ms: the violation. The calls are 3 starts, 6 session openings, 3 per
/// 17 ms client write (the step that ends the window, the submit, the
/// request's delivery; 2 when the target is down), and the elections,
/// appends, acknowledgements and timers between. No run can fail much
/// earlier (no leader before 150.574 ms, no restart within 100 ms of the
/// crash, a second election at a timeout of at least 150 ms), but how
/// many calls fit in that time depends on which node the client writes to
/// in each window and on timeouts that hash the virtual time: the
/// shrinker's run (crash at 174 ms, restart at 340 ms) has 5 calls fewer,
/// with the same end, 418.409 ms, and a bound proved by hand is still to
/// be worked out.
///
/// (2026-12-02) A run of 64 calls, ending at 255.575 ms, once failed the
/// same way without this story: at n1's crash `disk::corrupt` garbled its
/// unsynced line `1 1 0` into `1 1 1`, recovery trusted the line, and n2's
/// append, whose term matched, had n1 commit it. That was a second defect
/// of the example, which the fixed log had too (18 of 3,000 seeds under
/// forced disk faults); lines now carry a CRC, the 64-call run passes, and
/// the 117-call run above still fails. Known: the minimum is at most 112
/// and at least 44 (an outline, assuming the log is safe when every
/// restart recovers what the node acted on: the failure then comes after
/// a crash, at a tick after the first election at 150.574 ms, and a
/// restart at least 100 ms later, by which 14 client windows have ended
/// at 2 calls each, plus the deliveries before the first tick and the
/// election's and restart's own calls). The
/// bug's own story also needs a second election after the restart, so
/// the true bound is higher; not derived.
const REPLOG_MIN: usize = 0;

fn counter_bug(sim: &mut Sim) -> Result<(), Failure> {
    counter::run(sim, false, true)
}

fn replog_bug(sim: &mut Sim) -> Result<(), Failure> {
    check::run(sim, 3, true)
}

const BUGS: &[Bug] = &[
    Bug {
        name: "counter: ids forgotten on restart",
        seeds: 2000,
        min: COUNTER_MIN,
        run: counter_bug,
    },
    Bug {
        name: "dedup receiver forgets on restart",
        seeds: 2000,
        min: planted::DEDUP_MIN,
        run: planted::dedup,
    },
    Bug {
        name: "off-by-one quorum",
        seeds: 2000,
        min: planted::QUORUM_MIN,
        run: planted::quorum,
    },
    Bug {
        name: "lost update under a retried write",
        seeds: 2000,
        min: planted::LOST_UPDATE_MIN,
        run: planted::lost_update,
    },
    Bug {
        name: "write after the lease ended",
        seeds: 2000,
        min: planted::LEASE_MIN,
        run: planted::lease,
    },
    Bug {
        name: "reordered retransmission",
        seeds: 2000,
        min: planted::REORDER_MIN,
        run: planted::reorder,
    },
    Bug {
        name: "replog: ack before sync",
        seeds: 300,
        min: REPLOG_MIN,
        run: replog_bug,
    },
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tsv = args.iter().any(|a| a == "--tsv");
    let only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1));
    let keep = args.iter().position(|a| a == "--keep").and_then(|i| args.get(i + 1));
    let out = match keep {
        Some(dir) => std::path::PathBuf::from(dir),
        None => std::env::temp_dir().join(format!("rehearse-bench-shrink-{}", std::process::id())),
    };
    if let Some(text) = args.iter().position(|a| a == "--choices").and_then(|i| args.get(i + 1)) {
        return replay_choices(only.map(String::as_str), text, &args);
    }
    let mut failed = false;
    if !tsv {
        println!("{}", header());
    }
    for bug in BUGS
        .iter()
        .filter(|b| only.is_none_or(|o| b.name.starts_with(o.as_str())))
    {
        let report = Sweep::new("bench-shrink")
            .seeds(0..bug.seeds)
            .out_dir(&out)
            // The smallest failure as found is shrunk, of the first 50.
            .shrink_limit(1)
            .save_limit(50)
            .quiet()
            .run(bug.run);
        match report.shrunk().next().or(report.failures.first()) {
            Some(f) => {
                let line = Line {
                    name: bug.name,
                    seed: f.seed,
                    found: f.calls.0,
                    shrunk: f.calls.1,
                    min: bug.min,
                    attempts: f.shrink_attempts,
                    time: f.shrink_elapsed,
                    stop: f.shrink_stopped.map(|s| s.to_string()).unwrap_or_default(),
                };
                println!("{}", if tsv { line.tsv() } else { line.row() });
            }
            None => {
                eprintln!("{}: not found in seeds 0..{}", bug.name, bug.seeds);
                failed = true;
            }
        }
    }
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&out);
    }
    if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// `--choices HEX,HEX,... [--seed N] --only NAME`: runs the one bug named
/// with that choice sequence (zeros after it), as a shrinking candidate
/// runs, and prints its calls (counted as the benchmark counts them: the
/// records on the run's tapes), its failure, and the fault marks: how the
/// minimal runs written beside the bugs were checked.
fn replay_choices(only: Option<&str>, text: &str, args: &[String]) -> ExitCode {
    let seed = args
        .iter()
        .position(|a| a == "--seed")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let bugs: Vec<&Bug> = BUGS
        .iter()
        .filter(|b| only.is_some_and(|o| b.name.starts_with(o)))
        .collect();
    let [bug] = bugs[..] else {
        eprintln!("--choices needs --only naming one bug");
        return ExitCode::FAILURE;
    };
    let choices = match rehearse::__private::decode_choices(text) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("--choices: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut sim = Sim::from_choices(seed, choices);
    let result = (bug.run)(&mut sim);
    let trace = sim.tape().to_trace().expect("the run's tape");
    for m in trace.marks() {
        println!("{m:?}");
    }
    println!(
        "{}: {} calls, {} choices consumed, ended at {:?}: {}",
        bug.name,
        sim.tape().len(),
        sim.choice_count(),
        sim.now(),
        match &result {
            Ok(()) => "passed".to_string(),
            Err(f) => format!("{}: {}", f.kind(), f.message()),
        }
    );
    ExitCode::SUCCESS
}

/// The table's header.
fn header() -> String {
    format!(
        "{:<36} {:>5} {:>6} {:>6} {:>4} {:>6} {:>8} {:>8}  stopped",
        "bug", "seed", "found", "shrunk", "min", "ratio", "attempts", "time"
    )
}

/// One bug's result.
struct Line {
    name: &'static str,
    seed: u64,
    found: usize,
    shrunk: Option<usize>,
    min: usize,
    attempts: u64,
    time: Duration,
    stop: String,
}

impl Line {
    fn ratio(&self) -> String {
        match self.shrunk {
            Some(s) if self.min > 0 => format!("{:.2}", s as f64 / self.min as f64),
            _ => "-".into(),
        }
    }

    fn row(&self) -> String {
        format!(
            "{:<36} {:>5} {:>6} {:>6} {:>4} {:>6} {:>8} {:>7.2}s  {}",
            self.name,
            self.seed,
            self.found,
            self.shrunk.map_or("-".into(), |s| s.to_string()),
            self.min_text(),
            self.ratio(),
            self.attempts,
            self.time.as_secs_f64(),
            self.stop
        )
    }

    fn min_text(&self) -> String {
        if self.min > 0 { self.min.to_string() } else { "-".into() }
    }

    fn tsv(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{:.3}\t{}",
            self.name,
            self.seed,
            self.found,
            self.shrunk.map_or("-".into(), |s| s.to_string()),
            self.min_text(),
            self.ratio(),
            self.attempts,
            self.time.as_secs_f64(),
            self.stop
        )
    }
}
