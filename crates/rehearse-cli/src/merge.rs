//! `rehearse merge`: the JSON reports of a sweep's shards
//! (`REHEARSE_REPORT`, one per machine or job) combined into one answer.

use std::path::PathBuf;
use std::process::ExitCode;

use rehearse::SweepSummary;

/// `rehearse merge`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The shards' report files (`REHEARSE_REPORT=shard-3.json`).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Also write the merged report (JSON, the same shape) to this file.
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Accept reports that do not cover every shard (the missing ones are
    /// still listed); by default a missing shard is an error, since its
    /// seeds were never run.
    #[arg(long)]
    partial: bool,
    /// Print the merged report as JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Exit 1 when a `sometimes!` or `reachable!` assertion was hit by no
    /// shard (also when any shard's sweep required them).
    #[arg(long)]
    require_sometimes: bool,
}

pub(crate) fn run(a: Args) -> ExitCode {
    let mut parts = Vec::new();
    for file in &a.files {
        match SweepSummary::read(file) {
            Ok(s) => parts.push((file.display().to_string(), s)),
            Err(e) => {
                eprintln!("rehearse merge: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let mut merged = match SweepSummary::merge(&parts) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("rehearse merge: {e}");
            return ExitCode::from(2);
        }
    };
    merged.require_sometimes |= a.require_sometimes;
    let json = match serde_json::to_string_pretty(&merged) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("rehearse merge: {e}");
            return ExitCode::from(2);
        }
    };
    if a.json {
        println!("{json}");
    } else {
        print!("{merged}");
    }
    if let Some(out) = &a.out {
        if let Err(e) = std::fs::write(out, json + "\n") {
            eprintln!("rehearse merge: {}: {e}", out.display());
            return ExitCode::from(2);
        }
    }
    let missing = merged.missing_shards();
    if !missing.is_empty() && !a.partial {
        let list: Vec<String> = missing.iter().map(u64::to_string).collect();
        // ("shard 3 of 4 is missing", not "shards 3 of 4", which reads
        // as three shards)
        let (which, verb) = if list.len() == 1 {
            ("shard", "is")
        } else {
            ("shards", "are")
        };
        eprintln!(
            "rehearse merge: {which} {} (of {}) {verb} missing (pass --partial to accept)",
            list.join(", "),
            merged.shard_count
        );
        return ExitCode::from(2);
    }
    if merged.failed_runs > 0 || !merged.unmet().is_empty() {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
