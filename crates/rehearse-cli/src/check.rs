//! `rehearse check`: validates scenario files (format version, torn tail,
//! syntax, record shape) so that CI can run it over `scenarios/`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rehearse::Trace;

use crate::common::{self, ERROR, GOOD};

/// `rehearse check`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Scenario files, or directories searched for `*.ron` (and
    /// `*.ron.new`) files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print only the bad files.
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
    let mut bad = 0;
    for file in &files {
        match Trace::read(file) {
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
    let _ = writeln!(out, "{} files checked, {bad} bad", files.len());
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
