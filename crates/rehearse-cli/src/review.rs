//! `rehearse review`: for every re-recorded `NAME.ron.new` beside a
//! `NAME.ron`, show the difference and accept (replace), reject (delete)
//! or skip it, like `cargo insta review`.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rehearse::Trace;

use crate::common::{self, BOLD, DIM, ERROR, GOOD, WARN};

/// `rehearse review`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where to look for `*.ron.new` files (searched recursively, skipping
    /// `target` and hidden directories).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Accept every pending recording without asking.
    #[arg(long, conflicts_with = "reject_all")]
    accept_all: bool,
    /// Reject (delete) every pending recording without asking.
    #[arg(long)]
    reject_all: bool,
    /// Cut inputs and outputs to this many characters in the diffs (0: whole).
    #[arg(long, default_value_t = 120, value_name = "CHARS")]
    width: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    Accept,
    Reject,
    Skip,
}

/// `NAME.ron` for `NAME.ron.new`.
fn reviewed(pending: &Path) -> PathBuf {
    let name = pending.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    pending.with_file_name(name.trim_end_matches(".new"))
}

fn ask(input: &mut impl BufRead, out: &mut impl Write) -> Choice {
    loop {
        let _ = write!(
            out,
            "{BOLD}accept{BOLD:#} (a), {BOLD}reject{BOLD:#} (r) or {BOLD}skip{BOLD:#} (s)? "
        );
        let _ = out.flush();
        let mut line = String::new();
        match input.read_line(&mut line) {
            Ok(0) | Err(_) => {
                let _ = writeln!(out);
                return Choice::Skip;
            }
            Ok(_) => {}
        }
        match line.trim() {
            "a" | "accept" => return Choice::Accept,
            "r" | "reject" => return Choice::Reject,
            "s" | "skip" | "" => return Choice::Skip,
            other => {
                let _ = writeln!(out, "{WARN}{other:?} is not a choice{WARN:#}");
            }
        }
    }
}

pub(crate) fn run(a: Args) -> ExitCode {
    let mut files = Vec::new();
    if let Err(e) = crate::check::scenario_files(&a.dir, &mut files) {
        let _ = writeln!(anstream::stderr(), "{ERROR}error{ERROR:#}: {}: {e}", a.dir.display());
        return ExitCode::from(common::TROUBLE);
    }
    let pending: Vec<PathBuf> = files
        .into_iter()
        .filter(|f| f.to_string_lossy().ends_with(".ron.new"))
        .collect();
    let mut out = anstream::stdout().lock();
    if pending.is_empty() {
        let _ = writeln!(out, "no pending recordings (*.ron.new) under {}", a.dir.display());
        return ExitCode::SUCCESS;
    }
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let (mut accepted, mut rejected, mut skipped, mut failed) = (0, 0, 0, 0);
    for (n, new) in pending.iter().enumerate() {
        let old = reviewed(new);
        let _ = writeln!(out, "\n{BOLD}[{}/{}] {}{BOLD:#}", n + 1, pending.len(), new.display());
        let Some(new_trace) = common::load_or_report(new) else {
            failed += 1;
            continue;
        };
        show_change(&mut out, &old, new, &new_trace, a.width);
        let choice = if a.accept_all {
            Choice::Accept
        } else if a.reject_all {
            Choice::Reject
        } else {
            ask(&mut input, &mut out)
        };
        let done = match choice {
            Choice::Accept => std::fs::rename(new, &old).map(|()| {
                accepted += 1;
                format!("{GOOD}accepted{GOOD:#}: {} replaced", old.display())
            }),
            Choice::Reject => std::fs::remove_file(new).map(|()| {
                rejected += 1;
                format!("{ERROR}rejected{ERROR:#}: {} deleted", new.display())
            }),
            Choice::Skip => {
                skipped += 1;
                Ok(format!("{DIM}skipped{DIM:#}"))
            }
        };
        match done {
            Ok(text) => {
                let _ = writeln!(out, "{text}");
            }
            Err(e) => {
                failed += 1;
                let _ = writeln!(out, "{ERROR}error{ERROR:#}: {}: {e}", new.display());
            }
        }
    }
    let _ = writeln!(
        out,
        "\n{accepted} accepted, {rejected} rejected, {skipped} skipped{}",
        if failed > 0 {
            format!(", {failed} could not be handled")
        } else {
            String::new()
        }
    );
    if failed > 0 {
        ExitCode::from(common::TROUBLE)
    } else {
        ExitCode::SUCCESS
    }
}

/// What a pending recording changes: its diff against the reviewed file,
/// or what it holds when there is none yet.
fn show_change(out: &mut impl Write, old: &Path, new: &Path, new_trace: &Trace, width: usize) {
    if old.exists() {
        match common::load(old) {
            Ok((old_trace, _)) => write_diff_or_same(out, old, &old_trace, new, new_trace, width),
            Err(e) => {
                let _ = writeln!(out, "{WARN}the reviewed file does not read{WARN:#}: {e}");
            }
        }
    } else {
        let _ = writeln!(
            out,
            "new scenario (no {} yet): {}",
            old.display(),
            common::describe(new_trace)
        );
    }
}

/// The diff of a reviewed file and its re-recording, or a note that they
/// are the same.
fn write_diff_or_same(out: &mut impl Write, old_path: &Path, old: &Trace, new_path: &Path, new: &Trace, width: usize) {
    if !crate::diff::write_diff(out, (old_path, old), (new_path, new), 3, 10, width) {
        let _ = writeln!(out, "{DIM}(the calls are the same; only the header may differ){DIM:#}");
    }
}
