//! The `arbiter` command line: one module per subcommand.
//!
//! - `simulate` ([`simulate`]): the main job, a seed sweep of the simulated
//!   world;
//! - `run` ([`run`]): the controller against real Redis and etcd;
//! - `status` ([`status`]): the group as it is, read from etcd and Redis;
//! - `switchover` ([`switchover`]): ask the leader for a switchover and
//!   read its answer;
//! - `pause`, `resume`, `allow-data-loss` ([`control`]): the group's
//!   operator state in etcd, acknowledged by the leader;
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

mod control;
mod replay;
mod run;
mod simulate;
mod status;
mod switchover;

use simulate::SimulateArgs;

/// `arbiter run`'s examples.
const RUN_EXAMPLES: &str = "Examples:\n  arbiter run --config /etc/arbiter/arbiter.toml\n  ARBITER_LOG=warn arbiter run --config arbiter.toml --log-format json";

/// `arbiter run --help` after the options: the sample configuration, which
/// explains every field (one source: `packaging/arbiter.toml`, which a
/// test loads and checks against the fields the configuration accepts).
const RUN_LONG_HELP: &str = concat!(
    "Examples:\n  arbiter run --config /etc/arbiter/arbiter.toml\n  ARBITER_LOG=warn arbiter run --config arbiter.toml --log-format json\n\n",
    "The configuration file, every section and field explained (this is the sample\n",
    "configuration, crates/arbiter/packaging/arbiter.toml in the source; it loads as it is):\n\n",
    include_str!("../../../packaging/arbiter.toml"),
);

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
    /// in a TOML file (`--help` explains every section and field). SIGINT or
    /// SIGTERM resigns leadership and flushes the recording.
    ///
    /// Exit codes: 0 stopped on a signal, 1 the controller stopped on its
    /// own (refused or failed) or its recording is incomplete, 2 bad
    /// configuration.
    ///
    /// Logs go to stderr, filtered by `ARBITER_LOG` (default `info`; e.g.
    /// `ARBITER_LOG=debug`).
    #[command(after_help = RUN_EXAMPLES, after_long_help = RUN_LONG_HELP)]
    Run {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// How log events are written to stderr.
        #[arg(long, value_enum, default_value_t)]
        log_format: arbiter::live::log::LogFormat,
    },
    /// Print the group as it is: the leader and its epoch, the group
    /// record, the group's control (paused or not, by whom and when, a
    /// pending data-loss grant, whether the leader acknowledged it), the
    /// latest switchover request and its answer, and every node's role,
    /// replication link and offset.
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
    /// Ask the leader for a switchover (`FAILOVER TO`, no acknowledged
    /// write lost) and print its answer to this very request: refused
    /// (with the reason), accepted, then, with `--wait`, done or failed.
    ///
    /// The request is the node's name in `PREFIX/switchover` (what
    /// `etcdctl put PREFIX/switchover r2` writes); the answer is read from
    /// `PREFIX/switchover-status`, matched by the etcd revision of the
    /// write. Without `--to` the command picks the target: a replica of
    /// the recorded primary with its link up, the lowest priority, then the
    /// highest offset; it says which and why, or refuses with the reason.
    /// On a timeout (no leader running, say) it says what was left in etcd.
    ///
    /// Exit codes: 0 done, or accepted without `--wait`; 1 refused, failed,
    /// superseded by another request, timed out, or etcd unreachable; 2
    /// bad configuration.
    #[command(
        after_help = "Examples:\n  arbiter switchover --config arbiter.toml --to r2 --wait\n  arbiter switchover --config arbiter.toml\n\nOutput:\n  switchover to r2: accepted: the leader will hand over as soon as the target is a linked replica (request revision 42)\n  switchover to r2: done: r2 is primary (request revision 42)"
    )]
    Switchover {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// The node to hand over to, by its name in `[[nodes]]`; picked
        /// when omitted.
        #[arg(long, value_name = "NODE")]
        to: Option<String>,
        /// Wait until the switchover is done or failed, not only accepted.
        #[arg(long)]
        wait: bool,
        /// How long to wait for the answer (e.g. `30s`, `2m`).
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "30s")]
        timeout: std::time::Duration,
    },
    /// Pause the group (maintenance: every instance observes and never
    /// acts, also one that takes over later) until `arbiter resume`.
    ///
    /// Stored in etcd (`PREFIX/control`, with who paused it and when) and
    /// laid over every instance's `settings.paused`: either one pauses.
    /// Waits for the leader to acknowledge it (`PREFIX/control-ack`).
    ///
    /// Exit codes: 0 acknowledged by the leader; 1 not acknowledged in
    /// time (the pause stays in etcd: every instance obeys it once it reads
    /// it) or etcd unreachable; 2 bad configuration.
    #[command(after_help = "Example:\n  arbiter pause --config /etc/arbiter/arbiter.toml")]
    Pause(ControlArgs),
    /// Resume the group after `arbiter pause` (a host whose own file sets
    /// `settings.paused = true` stays paused while it leads: the command
    /// says so).
    ///
    /// Exit codes: as `arbiter pause`.
    #[command(after_help = "Example:\n  arbiter resume --config /etc/arbiter/arbiter.toml")]
    Resume(ControlArgs),
    /// Allow the group to lose data in one failover (`--once`): the leader
    /// may promote a replica that is stale, lagging or empty-handed when no
    /// replica is eligible, or record a cold-start primary holding less.
    /// The grant lapses at the next change of the group record (the
    /// failover it allowed, or any other); `--withdraw` takes it back
    /// before.
    ///
    /// Stored in etcd (`PREFIX/control`) with the record's etcd revision,
    /// laid over every instance's `settings.allow_data_loss` (either one
    /// allows; the file's setting is per host and not one-time).
    ///
    /// Exit codes: as `arbiter pause`.
    #[command(
        after_help = "Examples:\n  arbiter allow-data-loss --once --config arbiter.toml\n  arbiter allow-data-loss --withdraw --config arbiter.toml"
    )]
    #[command(group = clap::ArgGroup::new("grant").required(true).args(["once", "withdraw"]))]
    AllowDataLoss {
        /// Allow one failover that loses data.
        #[arg(long)]
        once: bool,
        /// Withdraw a grant not used yet.
        #[arg(long)]
        withdraw: bool,
        #[command(flatten)]
        args: ControlArgs,
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

/// The arguments of `pause`, `resume` and `allow-data-loss`.
#[derive(Debug, clap::Args)]
struct ControlArgs {
    /// The configuration file.
    #[arg(long)]
    config: PathBuf,
    /// How long to wait for the leader's acknowledgement (e.g. `10s`).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "10s")]
    timeout: std::time::Duration,
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
        Command::Switchover {
            config,
            to,
            wait,
            timeout,
        } => switchover::switchover(&config, to, wait, timeout),
        Command::Pause(a) => control::control(&a.config, control::Action::Pause, a.timeout),
        Command::Resume(a) => control::control(&a.config, control::Action::Resume, a.timeout),
        Command::AllowDataLoss { once, args, .. } => {
            let action = if once {
                control::Action::AllowOnce
            } else {
                control::Action::Withdraw
            };
            control::control(&args.config, action, args.timeout)
        }
    }
}
