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
/// Minimal counterexample: not derived exactly (0, so no ratio): at least
/// 68 calls, at most 76 (the run below), and at least 76 for a run that
/// fails before 306 ms. The shrinker's run has 112; it ends, as an earlier
/// run built by hand (117 calls) did, 3 ms after n0's second timeout
/// (415.409 ms).
///
/// The run of 76 calls (`--only replog --seed 96 --choices
/// 0,ffffffffffffffff,0,ffffffffffffffff,ffbaf2218a08e7b0,0,0,0,ffffffffffffffff,1c1a88d57022530f,ffffffffffffffff,cccccccccccccccd,0,0,0,0,0,93f815a5ab32c301,0,177b6cd637ec0979,0,0,0,9329c813f687c629,0,0,ffffffffffffffff,e50d69764049cc03,0,0,0,0,0,ffffffffffffffff,5555555555555556,3b9a955b8ad451a,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,ffffffffffffffff,e50d69764049cc03,0,0,0,0,0,0,0,0,0,0,0,0,3ffbe7afa2d6dbb9`;
/// syncs instant, latencies 1 ms but where the times say). The election
/// timeouts hash the node, term and time: n0, n1, n2 first time out at
/// 152.433, 257.824 and 150.574 ms. The n1-n0 handshake is delayed past
/// the end, the n2-n1 one to 155.291 ms. n2 (L) campaigns at 150.574 ms;
/// n0 (G) grants at 151.941 ms, which puts its next timeout at 302.238 ms;
/// the vote reaches L at 155.241 ms (the client's write of 153 ms found
/// no leader). L writes its no-op at index 1; its append to G is delayed
/// 900 ms (all of L -> G waits behind it); n1 (F) gets it at 156.291 ms
/// and acknowledges before syncing, crashes at the second tick (157.8 ms)
/// and restarts at 300 ms (its handshake with L delayed again); L commits
/// index 1 at its flush (165.241 ms). G times out at 302.238 ms (term 2),
/// F votes for it, and G's no-op reaches L at 305.238 ms (the one to F, 2
/// ms, after it), over the committed entry. The calls: 34 for 17 windows,
/// 3 starts, 6 session openings, 14 writes delivered (the 9 up to 153 ms;
/// 170 and 289 ms to G, which knows no leader; 238-272 ms to L, which
/// cannot commit, each with its flush, 3 more; 187-221 ms go to F, down)
/// and the 16 events of the story.
///
/// No run fails before 304.977 ms. The fixed log is safe, so the commit
/// of an entry E counts the acknowledgement of a follower F that had not
/// synced E (had it counted two, the third node G would hold E as well);
/// F crashes before its flush, losing E, restarts at R, at least 100 ms
/// later, and a leader of a later term without E, elected by another node
/// without E, sends L a conflicting append (the earliest detection; its
/// own commit waits 10 ms for its flush). L holds E and refuses its vote,
/// so F or G leads, elected by the other. F as candidate: its timer runs
/// from R, so the end is past R + 153 >= 406 ms (E is written after the
/// first win, >= 152.574 ms). G: it campaigns at `g` after R, for a term
/// above F's (F kept L's term), at least 150 ms after the last reset of
/// its timer. Never reset, G campaigns for term 1 at its first timeout,
/// where F already voted for L (had G voted, that was a reset). A reset
/// needs a campaign (>= 150.574 ms; n2's own first gives 450.458 ms), a
/// grant or an append (>= 151.574 ms) or a restart (>= 200 ms); before
/// 151.977 ms only a grant of n2's term-1 request fits, and over its 4,001
/// arrival times the timeout ends at >= 301.977 ms (n1 at 151.852 ms; n0
/// at 151.941 ms, 302.238 ms). Request, vote and append take 1 ms each.
/// (With n1 as G and n0 as F, a run ends at 304.977 ms, also with 76
/// calls: `--choices
/// 0,ffffffffffffffff,0,ffffffffffffffff,ffbaf2218a08e7b0,0,ffffffffffffffff,1c1b4b18960077e6,0,0,ffffffffffffffff,cccccccccccccccd,0,0,0,0,0,93f815a5ab32c301,0,11c99d14aab5962c,0,0,0,998fc5a586d075bc,0,0,0,ffffffffffffffff,e50d69764049cc03,0,0,0,0,ffffffffffffffff,0,3b9a955b8ad451a,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,ffffffffffffffff,e50d69764049cc03,0,0,0,0,0,0,0,0,0,0,0,0,3ffbe7afa2d6dbb9`.)
///
/// So 17 windows end first: 34 calls (the step that ends each, the submit).
/// Every failing run also has: 3 starts; 6 session openings (L-F for E and
/// its acknowledgement, L-G for G's vote and the last append, F-G after R;
/// both ends are told); L's timer, a vote request and a vote; E's append
/// and acknowledgement; L's flush (a leader syncs only there); F's crash,
/// L's notice of it, F's restart; G's timer, its requests to F and to L
/// (ahead of the append on that session), F's vote, the append; 2
/// heartbeats of L (it leads from its win, before F's crash, to G's
/// request, >= 103 ms): 25. Writes: the 5 before the first tick (100 ms)
/// are delivered; those of 102 to 136 ms cost at least 2 calls (a write is
/// lost only to a node down at the first tick, or paused there and crashed
/// before the pause ends; neither crash is F's, for there is no leader yet
/// and no acknowledgement in a pause, so each adds a crash and a start;
/// otherwise a pause holds writes until it ends, before the end). 68 if the
/// run ends at 306 ms or later (18 windows). Before 306 ms: L is n2 (G's
/// reset is its request); no crash at the first tick (F's E would come
/// after its restart, >= 200 ms, and the end after 306 ms); a pause at it
/// can only be F's, to about 200 ms, which turns the client to F and costs
/// 19 write calls; else the writes up to 153 ms are 9 calls, and those of
/// 170 to 289 ms, through the client's rule (the node that last claimed to
/// lead, the next after 3 unanswered; G knows no leader, L cannot commit
/// while F is down, a write to L is 2 calls with its flush), from each
/// state the write of 153 ms leaves and over every crash and restart time
/// that fits, at least 8 with F = n1; with F = n0, 7, but n0 times out at
/// 152.433 ms or gets a vote request first: 76 in all. That later runs need
/// 76 too (each window past 17 adds 2 calls, and drops beyond the first 3
/// are paid by the others' writes) is not proved.
///
/// (2026-12-02) A run of 64 calls, ending at 255.575 ms, once failed the
/// same way without this story: at n1's crash `disk::corrupt` garbled its
/// unsynced line `1 1 0` into `1 1 1`, recovery trusted the line, and n2's
/// append, whose term matched, had n1 commit it. That was a second defect
/// of the example, which the fixed log had too (18 of 3,000 seeds under
/// forced disk faults); lines now carry a CRC and the 64-call run passes.
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
