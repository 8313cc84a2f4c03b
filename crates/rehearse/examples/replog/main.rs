//! A replicated log on `rehearse::net`, with one subtle bug a sweep finds.
//!
//! The system: a small Raft (`node.rs`): leader election, log replication,
//! commit by majority, client writes answered once committed, terms, votes
//! and the log on a disk that loses unsynced writes in a crash. Writes are
//! synced in groups (group commit, every 5 ms).
//!
//! The bug (`--bug`): a follower acknowledges entries when it has written
//! them, before the group's sync. The leader counts that acknowledgement
//! toward a majority and tells the client the write is committed. If the
//! follower crashes before the sync, it comes back without the entries; if
//! by then the leader is cut off, and the third node never got them, the
//! two elect a leader without the acknowledged write. It takes a partition
//! and a crash in a 5 ms window, so tests without faults never see it.
//!
//! `docs/simulating-message-passing.md` in this crate walks through it.
//!
//! Run: `cargo run --release -p rehearse --example replog -- --bug`
//! (`--seeds N` seeds from `--from S`, default 2000 from 0; `--nodes N`,
//! default 3). Without `--bug`, every seed must pass. `--replay FILE`
//! replays a saved scenario with `Replayer` instead of sweeping.

mod check;
mod node;

use std::error::Error;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use rehearse::net::Cluster;
use rehearse::{Failure, Replayer, Sweep, Trace};

struct Options {
    seeds: u64,
    from: u64,
    nodes: u32,
    bug: bool,
    shrink_secs: u64,
    replay: Option<PathBuf>,
}

fn options() -> Result<Options, String> {
    let mut o = Options {
        seeds: 2000,
        from: 0,
        nodes: 3,
        bug: false,
        shrink_secs: 20,
        replay: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        let number = |name: &str, v: String| v.parse::<u64>().map_err(|_| format!("{name}: not a number: {v:?}"));
        match arg.as_str() {
            "--seeds" => o.seeds = number("--seeds", value("--seeds")?)?,
            "--from" => o.from = number("--from", value("--from")?)?,
            "--nodes" => {
                o.nodes = u32::try_from(number("--nodes", value("--nodes")?)?)
                    .ok()
                    .filter(|n| (1..=9).contains(n))
                    .ok_or("--nodes: 1 to 9")?;
            }
            "--bug" => o.bug = true,
            "--shrink-secs" => o.shrink_secs = number("--shrink-secs", value("--shrink-secs")?)?,
            "--replay" => o.replay = Some(value("--replay")?.into()),
            other => {
                return Err(format!(
                    "unknown argument {other:?} (--seeds N, --from S, --nodes N, --bug, --shrink-secs N, --replay FILE)"
                ));
            }
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let result = options().map_err(Into::into).and_then(|o| match &o.replay {
        Some(path) => replay(&o, path),
        None => sweep(&o),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("replog: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Sweeps the seeds; for the first failure, prints its files and replays
/// the shrunk one with `Replayer`.
fn sweep(o: &Options) -> Result<(), Box<dyn Error>> {
    let (nodes, bug) = (o.nodes, o.bug);
    let flags = format!("--nodes {nodes}{}", if bug { " --bug" } else { "" });
    let report = Sweep::new(if bug { "replog-bug" } else { "replog" })
        .seeds(o.from..o.from + o.seeds)
        .shrink_limit(3)
        .shrink_time(Duration::from_secs(o.shrink_secs))
        .command(format!("cargo run --release -p rehearse --example replog -- {flags}"))
        .quiet()
        .run(|sim| check::run(sim, nodes, bug));
    print!("{report}");
    if report.failures.is_empty() {
        return if bug {
            Err(format!("{} seeds passed: the bug was not found", report.runs).into())
        } else {
            Ok(())
        };
    }
    let first = &report.failures[0];
    println!(
        "\nfirst failing seed: {}, {} calls: {}",
        first.seed,
        Trace::read(&first.trace)?.calls().len(),
        first.trace.display()
    );
    // The first failures are shrunk; the smallest is the one to read.
    let mut shrunk = Vec::new();
    for f in &report.failures {
        if let Some(path) = &f.shrunk {
            let calls = Trace::read(path)?.calls().len();
            println!("seed {} shrunk to {calls} calls: {}", f.seed, path.display());
            shrunk.push((calls, f, path));
        }
    }
    let Some(&(_, failure, path)) = shrunk.iter().min_by_key(|(calls, ..)| *calls) else {
        return Err("no failure was shrunk".into());
    };
    let replayed = replay_file(path, nodes, bug)?;
    println!(
        "replayed {} with Replayer: {}\n(again: cargo run --release -p rehearse --example replog -- {flags} --replay {})",
        path.display(),
        replayed.as_ref().map_or_else(ToString::to_string, |()| "passed".into()),
        path.display()
    );
    match replayed {
        Err(e) if e.kind() == failure.kind && bug => Ok(()),
        Err(_) => Err(format!("the fixed log failed: {}", failure.message).into()),
        Ok(()) => Err("the replay did not fail".into()),
    }
}

/// `--replay FILE`: replays the file and says how the run ended.
fn replay(o: &Options, path: &Path) -> Result<(), Box<dyn Error>> {
    match replay_file(path, o.nodes, o.bug)? {
        Ok(()) => println!("{}: replayed, the run passed", path.display()),
        Err(e) => println!("{}: replayed, the run failed: {e}", path.display()),
    }
    Ok(())
}

/// Replays a saved scenario: fresh nodes, every event from the file, every
/// output they produce checked against it. `Err` when they diverge from it
/// (different nodes or flags than the run that wrote it).
fn replay_file(path: &Path, nodes: u32, bug: bool) -> Result<Result<(), Failure>, Box<dyn Error>> {
    let mut cluster = Cluster::new(nodes, Replayer::open(path)?, check::replicas(nodes, bug));
    // A replayer stops the nodes at a divergence by panicking; `finish`
    // then reports it (once: the panic itself stays quiet).
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = catch_unwind(AssertUnwindSafe(|| check::drive(&mut cluster)));
    std::panic::set_hook(hook);
    cluster.into_world().finish()?;
    result.map_err(|_| "the replay stopped".into())
}
