//! `rehearse`: work with scenario files without the types that wrote them
//! (RON is self-describing). Inspect a run as a timeline (with its fault
//! and note marks, nodes, and a saved run's failure and repro hint), diff
//! two runs, count calls, errors and faults, validate files in CI, review
//! re-recordings, render a self-contained HTML timeline, and merge the
//! reports of a sweep's shards.

mod check;
mod common;
mod diff;
#[cfg(test)]
mod fixtures;
mod html;
mod inspect;
mod merge;
mod review;
mod stats;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

/// Work with rehearse scenario files (`*.ron`): recorded or simulated runs
/// of a world trait, one call per line.
#[derive(Debug, Parser)]
#[command(name = "rehearse", version, about, propagate_version = true)]
struct Cli {
    /// When to colour the output.
    #[arg(long, value_enum, default_value_t = Color::Auto, global = true)]
    color: Color,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Color {
    /// On a terminal, unless `NO_COLOR` is set.
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a scenario as a readable timeline: index, virtual time, node,
    /// call, inputs and output, errors in red; the fault and note marks
    /// (format 2) in place between the calls (`! fault POINT  detail`,
    /// `# note text`); for a saved failing run, its failure, params and a
    /// repro hint first.
    ///
    /// Exit codes: 0 shown, 2 the file cannot be read (a torn last record
    /// is only a warning: the complete calls are shown).
    #[command(
        after_help = "Examples:\n  rehearse inspect scenarios/live_failover.ron\n  rehearse inspect run.ron --call 'Cluster::*' --from 40 --to 80\n  rehearse inspect target/rehearse/arbiter/seed-7.arbiter-1.ron --errors\n  rehearse inspect seed-12.shrunk.ron --node n1 --node n2"
    )]
    Inspect(inspect::Args),
    /// Align two scenarios of the same run (a failing seed and its re-run,
    /// before and after a change): the first divergence with context (the
    /// fault and note marks around it in place, differing ones marked),
    /// then a summary of every further difference and of each side's
    /// faults per point. Files with the same calls but different marks
    /// differ at their first differing mark.
    ///
    /// Exit codes: 0 the same calls and marks, 1 they differ, 2 a file
    /// cannot be read.
    #[command(after_help = "Example:\n  rehearse diff scenarios/switchover.ron scenarios/switchover.ron.new")]
    Diff(diff::Args),
    /// Calls and error rates per method; faults per fault point and per
    /// node, counted from the fault marks (format 1 files have none: there
    /// the errors whose text says "injected" are counted, and the output
    /// says so); notes; the virtual-time span and the longest gaps;
    /// `--json` for machines.
    ///
    /// Exit codes: 0 done, 2 the file cannot be read.
    #[command(after_help = "Examples:\n  rehearse stats run.ron\n  rehearse stats run.ron --json | jq .methods")]
    Stats(stats::Args),
    /// Validate scenario files: format version, syntax (with line and
    /// column), record shape, torn tail. Directories are searched for
    /// `*.ron` files. Files of an older format version than this rehearse
    /// writes are listed as old: they still read and replay, so they do not
    /// fail the check.
    ///
    /// Exit codes: 0 every file is good (or old), 1 a file is bad, 2
    /// nothing to check.
    #[command(after_help = "Example:\n  rehearse check scenarios/")]
    Check(check::Args),
    /// Write one self-contained HTML page (no network, no external assets)
    /// with the run as a timeline: a lane per node when the calls and marks
    /// name nodes, else per world trait, or per instance when several
    /// files of one simulated seed are given; errors, fault marks (point
    /// and detail on hover) and notes marked; a saved run's failure at the
    /// top; each call expandable; a search box.
    ///
    /// Exit codes: 0 written, 2 a file cannot be read or the page written.
    #[command(
        after_help = "Examples:\n  rehearse html scenarios/live_failover.ron -o failover.html\n  rehearse html target/rehearse/arbiter/seed-7.arbiter-*.ron -o seed-7.html"
    )]
    Html(html::Args),
    /// Review re-recorded scenarios: for every `NAME.ron.new` beside a
    /// `NAME.ron`, show the diff and accept (replace), reject (delete) or
    /// skip it; like `cargo insta review`.
    ///
    /// Exit codes: 0 done, 2 a file could not be read, moved or deleted.
    #[command(after_help = "Examples:\n  rehearse review\n  rehearse review scenarios --accept-all")]
    Review(review::Args),
    /// Merge the JSON reports of a sweep's shards (each job ran with
    /// `REHEARSE_SHARD=i/n REHEARSE_REPORT=FILE`) into one: runs, failing
    /// seeds by kind, saved failures with their repro lines, fault
    /// statistics per point and counters, summed. The files must be shards
    /// of one sweep (same name, seeds and shard count, no shard twice).
    ///
    /// Exit codes: 0 no seed failed, 1 some failed, 2 a file cannot be
    /// read, the files are not shards of one sweep, or a shard is missing
    /// (without `--partial`).
    #[command(after_help = "Examples:
  rehearse merge reports/shard-*.json
  rehearse merge reports/*.json --out merged.json --partial")]
    Merge(merge::Args),
    /// Print a shell completion script.
    #[command(after_help = "Example:\n  rehearse completions bash > /etc/bash_completion.d/rehearse")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.color {
        Color::Auto => {}
        Color::Always => anstream::ColorChoice::Always.write_global(),
        Color::Never => anstream::ColorChoice::Never.write_global(),
    }
    match cli.command {
        Command::Inspect(a) => inspect::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Stats(a) => stats::run(a),
        Command::Check(a) => check::run(a),
        Command::Html(a) => html::run(a),
        Command::Review(a) => review::run(a),
        Command::Merge(a) => merge::run(a),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "rehearse", &mut std::io::stdout());
            ExitCode::SUCCESS
        }
    }
}
