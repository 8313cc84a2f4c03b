//! The `arbiter` command line: one module per subcommand.
//!
//! - `simulate` ([`simulate`]): the main job, a seed sweep of the simulated
//!   world;
//! - `run` ([`run`]): the controller against real Redis and etcd;
//! - `status` ([`status`]): the group as it is, read from etcd and Redis;
//! - `replay` ([`replay`]): a recorded scenario played back.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Parser, Subcommand};

/// Set once stdout is closed (`arbiter status | head -3`): printing stops
/// quietly and the command finishes with its own exit code.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes one line to stdout. A closed pipe is not an error (nobody reads
/// any more): this and every later line are dropped, where `println!`
/// would panic.
pub(crate) fn say_line(args: std::fmt::Arguments<'_>) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
    if let Err(e) = written {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("arbiter: cannot write to stdout: {e}");
        }
    }
}

/// `println!` that survives a closed stdout (see [`say_line`]).
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::say_line(format_args!($($arg)*))
    };
}

mod replay;
mod run;
mod simulate;
mod status;

use simulate::SimulateArgs;

/// A failover controller for Redis primary/replica groups.
#[derive(Debug, Parser)]
#[command(name = "arbiter", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sweep seeds of the simulated world (3 Redis nodes, etcd, 3 arbiter
    /// instances, a client, faults), checking the invariants after every
    /// step; save, shrink and print the replay command of any failure.
    ///
    /// Exit codes: 0 no violation, 1 violations found, 2 bad arguments.
    #[command(
        after_help = "Examples:\n  arbiter simulate --seeds 10000\n  arbiter simulate --time 60s --faults net.partition,redis.crash\n  arbiter simulate --seed 42"
    )]
    Simulate(SimulateArgs),
    /// Run the controller against real Redis nodes and etcd, as configured
    /// in a TOML file (see `arbiter::config` for every field). SIGINT or
    /// SIGTERM resigns leadership and flushes the recording.
    ///
    /// Exit codes: 0 stopped on a signal, 1 the controller stopped on its
    /// own (refused or failed), 2 bad configuration.
    ///
    /// Logs go to stderr, filtered by `ARBITER_LOG` (default `info`; e.g.
    /// `ARBITER_LOG=debug`).
    #[command(
        after_help = "Examples:\n  arbiter run --config /etc/arbiter/arbiter.toml\n  ARBITER_LOG=warn arbiter run --config arbiter.toml --log-format json"
    )]
    Run {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// How log events are written to stderr.
        #[arg(long, value_enum, default_value_t)]
        log_format: arbiter::live::log::LogFormat,
    },
    /// Print the group as it is: the leader and its epoch, the group
    /// record, and every node's role, replication link and offset.
    ///
    /// Exit codes: 0 everything answered, 1 etcd or a node did not, 2 bad
    /// configuration.
    #[command(
        after_help = "Examples:\n  arbiter status --config /etc/arbiter/arbiter.toml\n  arbiter status --config arbiter.toml --json | jq .record.primary"
    )]
    Status {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Print one JSON document (fields: group, etcd, leader,
        /// leader_error, record, record_error, nodes, healthy) instead of
        /// text.
        #[arg(long)]
        json: bool,
    },
    /// Replay a recorded scenario: drive the controller with it and report
    /// its decisions and final state, or the first divergence.
    ///
    /// Exit codes: 0 replayed, 1 diverged or the machine failed, 2 the
    /// scenario file is unreadable.
    #[command(after_help = "Example:\n  arbiter replay scenarios/failover.ron")]
    Replay {
        /// The scenario file.
        scenario: PathBuf,
        /// Stop after this many machine steps.
        #[arg(long, default_value_t = 1_000_000)]
        max_steps: u64,
        /// Print every output, not only the decisions.
        #[arg(long)]
        all: bool,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Replay {
            scenario,
            max_steps,
            all,
        } => replay::replay(scenario, max_steps, all),
        Command::Simulate(args) => simulate::simulate(args),
        Command::Run { config, log_format } => run::run_live(config, log_format),
        Command::Status { config, json } => status::status(config, json),
    }
}
