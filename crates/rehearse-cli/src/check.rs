//! `rehearse check`: validates scenario files (format version, torn tail,
//! syntax, record shape) so that CI can run it over `scenarios/`. Files of
//! an older format version than this build writes are reported as old
//! (they still read, so they do not fail the check).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rehearse::{FORMAT_VERSION, Trace};

use crate::common::{self, ERROR, GOOD, WARN};

/// `rehearse check`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Scenario files, or directories searched for `*.ron` (and
    /// `*.ron.new`) files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print only the bad files (old ones are counted, not listed).
    #[arg(long, short)]
    quiet: bool,
}

/// The scenario files under `path` (itself when it is a file), sorted.
pub(crate) fn scenario_files(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !path.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if entry.is_dir() {
            if name != "target" && !name.starts_with('.') {
                scenario_files(&entry, out)?;
            }
        } else if name.ends_with(".ron") || name.ends_with(".ron.new") {
            out.push(entry);
        }
    }
    Ok(())
}

pub(crate) fn run(a: Args) -> ExitCode {
    let mut files = Vec::new();
    for p in &a.paths {
        if let Err(e) = scenario_files(p, &mut files) {
            let _ = writeln!(anstream::stderr(), "{ERROR}error{ERROR:#}: {}: {e}", p.display());
            return ExitCode::from(common::TROUBLE);
        }
    }
    let mut out = anstream::stdout().lock();
    let (mut bad, mut old) = (0, 0);
    for file in &files {
        match Trace::read(file) {
            Ok(trace) if is_old(trace.header().version, FORMAT_VERSION) => {
                old += 1;
                if !a.quiet {
                    let _ = writeln!(
                        out,
                        "{WARN}old{WARN:#}  {}: {} ({})",
                        file.display(),
                        common::describe(&trace),
                        old_advice(trace.header().version, FORMAT_VERSION)
                    );
                }
            }
            Ok(trace) => {
                if !a.quiet {
                    let _ = writeln!(
                        out,
                        "{GOOD}ok{GOOD:#}   {}: {}",
                        file.display(),
                        common::describe(&trace)
                    );
                }
            }
            Err(e) => {
                bad += 1;
                let _ = writeln!(out, "{ERROR}bad{ERROR:#}  {e}");
            }
        }
    }
    let _ = writeln!(out, "{}", summary(files.len(), bad, old, FORMAT_VERSION));
    if files.is_empty() {
        let _ = writeln!(anstream::stderr(), "no scenario files found");
        return ExitCode::from(common::TROUBLE);
    }
    if bad > 0 {
        ExitCode::from(common::FOUND)
    } else {
        ExitCode::SUCCESS
    }
}

/// True when a file of format `version` is older than what this build
/// writes (`current`): it still reads, but re-recording would upgrade it.
fn is_old(version: u32, current: u32) -> bool {
    version < current
}

/// Why an old file is listed, and what to do about it.
fn old_advice(version: u32, current: u32) -> String {
    format!(
        "format {version} is older than the {current} this rehearse writes: it still reads and replays; re-record it to upgrade"
    )
}

/// The last line: how many files, how many bad and old.
fn summary(files: usize, bad: usize, old: usize, current: u32) -> String {
    let mut s = format!("{files} files checked, {bad} bad");
    if old > 0 {
        s.push_str(&format!(
            ", {old} old (an older format than {current}: they still read)"
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_versions_are_told_apart_and_counted_without_failing() {
        assert!(is_old(1, 2));
        assert!(!is_old(2, 2));
        assert!(!is_old(3, 2), "a newer file is the reader's error, not old");
        assert_eq!(summary(5, 0, 0, 2), "5 files checked, 0 bad");
        assert_eq!(
            summary(5, 1, 3, 2),
            "5 files checked, 1 bad, 3 old (an older format than 2: they still read)"
        );
        assert!(old_advice(1, 2).starts_with("format 1 is older than the 2 this rehearse writes"));
    }
}
