//! `rehearse inspect`: a scenario as a readable timeline.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::common::{self, BOLD, DIM};

/// `rehearse inspect`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The scenario file.
    file: PathBuf,
    /// Only calls whose name matches (`*` is a wildcard; without one, the
    /// name contains it): `Cluster::*`, `node_status`.
    #[arg(long, value_name = "PATTERN")]
    call: Option<String>,
    /// Start at this call index.
    #[arg(long, value_name = "N")]
    from: Option<usize>,
    /// Stop at this call index (included).
    #[arg(long, value_name = "N")]
    to: Option<usize>,
    /// Only calls that returned an error (injected faults included).
    #[arg(long)]
    errors: bool,
    /// Cut inputs and outputs to this many characters (0: whole).
    #[arg(long, default_value_t = 0, value_name = "CHARS")]
    width: usize,
}

pub(crate) fn run(a: Args) -> ExitCode {
    let Some(trace) = common::load_or_report(&a.file) else {
        return ExitCode::from(common::TROUBLE);
    };
    let mut out = anstream::stdout().lock();
    let _ = writeln!(out, "{BOLD}{}{BOLD:#}: {}", a.file.display(), common::describe(&trace));
    let calls = trace.calls();
    let with_time = calls.iter().any(|c| c.at_us.is_some());
    let width = format!("#{}", calls.len().saturating_sub(1)).len();
    let (mut shown, mut errors) = (0usize, 0usize);
    for call in calls {
        if a.from.is_some_and(|f| call.index < f) || a.to.is_some_and(|t| call.index > t) {
            continue;
        }
        if a.call.as_deref().is_some_and(|p| !common::name_matches(p, &call.name)) {
            continue;
        }
        let error = common::is_error(&call.output);
        if a.errors && !error {
            continue;
        }
        shown += 1;
        errors += usize::from(error);
        // A closed pipe (`| head`) ends the listing quietly.
        if writeln!(out, "{}", common::call_line(call, width, with_time, a.width)).is_err() {
            return ExitCode::SUCCESS;
        }
    }
    let _ = writeln!(
        out,
        "{DIM}{shown} of {} calls shown, {errors} of them errors{DIM:#}",
        calls.len()
    );
    ExitCode::SUCCESS
}
