//! `rehearse inspect`: a scenario as a readable timeline, with its fault
//! and note marks in place between the calls, the node of each call, and,
//! for a saved failing run, its failure, params and a repro hint.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rehearse::{MarkKind, Trace};

use crate::common::{self, BOLD, DIM, Layout};

/// `rehearse inspect`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The scenario file.
    file: PathBuf,
    /// Only calls whose name matches (`*` is a wildcard; without one, the
    /// name contains it): `Cluster::*`, `node_status`. Marks are not calls:
    /// they are left out.
    #[arg(long, value_name = "PATTERN")]
    call: Option<String>,
    /// Only calls and marks of this node (repeat for several; `-` for
    /// those without a node).
    #[arg(long, value_name = "NODE")]
    node: Vec<String>,
    /// Start at this call index (marks just before it included).
    #[arg(long, value_name = "N")]
    from: Option<usize>,
    /// Stop at this call index (included).
    #[arg(long, value_name = "N")]
    to: Option<usize>,
    /// Only calls that returned an error, and fault marks (no notes).
    #[arg(long)]
    errors: bool,
    /// Leave the fault and note marks out.
    #[arg(long)]
    no_marks: bool,
    /// Cut inputs, outputs and details to this many characters (0: whole).
    #[arg(long, default_value_t = 0, value_name = "CHARS")]
    width: usize,
}

/// What `write` showed.
#[derive(Debug, Default, PartialEq)]
struct Shown {
    calls: usize,
    errors: usize,
    faults: usize,
    notes: usize,
}

fn node_selected(a: &Args, node: Option<&str>) -> bool {
    a.node.is_empty()
        || a.node
            .iter()
            .any(|n| Some(n.as_str()) == node || (n == "-" && node.is_none()))
}

/// Writes the timeline of `trace` to `out`; `Err` when `out` closed.
fn write(out: &mut impl Write, a: &Args, path: &Path, trace: &Trace) -> std::io::Result<Shown> {
    writeln!(out, "{BOLD}{}{BOLD:#}: {}", path.display(), common::describe(trace))?;
    for line in common::head_lines(path, trace) {
        writeln!(out, "{line}")?;
    }
    let calls = trace.calls();
    let layout = Layout::fit(&[trace], calls.len().saturating_sub(1), a.width);
    let gaps = common::marks_by_gap(trace);
    let in_range = |k: usize| a.from.is_none_or(|f| k >= f) && a.to.is_none_or(|t| k <= t);
    let show_marks = !a.no_marks && a.call.is_none();
    let mut shown = Shown::default();
    for (k, gap) in gaps.iter().enumerate() {
        // The marks before call k: in range when call k is (those after the
        // last call when the range is open-ended).
        if show_marks && in_range(k) && (k < calls.len() || a.to.is_none()) {
            for m in gap {
                let fault = matches!(m.kind, MarkKind::Fault { .. });
                if (a.errors && !fault) || !node_selected(a, m.node.as_deref()) {
                    continue;
                }
                if fault {
                    shown.faults += 1;
                } else {
                    shown.notes += 1;
                }
                writeln!(out, "{}", common::mark_line(m, &layout))?;
            }
        }
        let Some(call) = calls.get(k) else { break };
        if !in_range(k)
            || a.call.as_deref().is_some_and(|p| !common::name_matches(p, &call.name))
            || !node_selected(a, call.node.as_deref())
        {
            continue;
        }
        let error = common::is_error(&call.output);
        if a.errors && !error {
            continue;
        }
        shown.calls += 1;
        shown.errors += usize::from(error);
        writeln!(out, "{}", common::call_line(call, &layout))?;
    }
    let mut summary = format!(
        "{} of {} calls shown, {} of them errors",
        shown.calls,
        calls.len(),
        shown.errors
    );
    if common::counts_marks(trace) {
        let (faults, notes) = common::mark_counts(trace);
        summary.push_str(&format!(
            "; {} of {faults} faults, {} of {notes} notes",
            shown.faults, shown.notes
        ));
    }
    writeln!(out, "{DIM}{summary}{DIM:#}")?;
    Ok(shown)
}

pub(crate) fn run(a: Args) -> ExitCode {
    let Some(trace) = common::load_or_report(&a.file) else {
        return ExitCode::from(common::TROUBLE);
    };
    let mut out = anstream::stdout().lock();
    // A closed pipe (`| head`) ends the listing quietly.
    let _ = write(&mut out, &a, &a.file, &trace);
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use rehearse::{Header, Trace};

    use super::*;
    use crate::fixtures::{call, failing_run};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn inspect(args: &[&str], trace: &Trace) -> (String, Shown) {
        let cli = Cli::try_parse_from(
            std::iter::once("inspect")
                .chain(["run.ron"])
                .chain(args.iter().copied()),
        )
        .unwrap();
        let mut out = Vec::new();
        let shown = write(&mut out, &cli.args, Path::new("run.ron"), trace).unwrap();
        let text = String::from_utf8(out).unwrap();
        (anstream::adapter::strip_str(&text).to_string(), shown)
    }

    #[test]
    fn marks_sit_between_the_calls_with_nodes_and_the_failure_heads_the_listing() {
        let (out, shown) = inspect(&[], &failing_run());
        let expected = "\
run.ron: 4 calls, 3 faults, 2 notes, format 2, rehearse 0.1.0, seed 42
failure (two leaders): n0 and n2 both lead term 3
  at 0.250s
params: bug=stale read, nodes=3
repro: REHEARSE_REPLAY=run.ron <command>  # params: bug='stale read' nodes=3
        0.000s      # note cluster of 3
#0      0.010s  n0  Network::next_event(0) -> Some(Start)
        0.015s  n0  ! fault net::drop  n0 -> n1: Append(3)
#1      0.020s  n1  Network::perform(1) -> ()
        0.025s  n1  ! fault net::crash
        0.025s  n1  # note n1 restarts with what was synced
#2      0.030s  n2  Network::perform(2) -> Err(Full)  [error]
#3      0.040s      Network::submit(3) -> 7
        0.050s  n2  ! fault net::partition  {n2} | {n0, n1}
4 of 4 calls shown, 1 of them errors; 3 of 3 faults, 2 of 2 notes
";
        assert_eq!(out, expected);
        assert_eq!(
            shown,
            Shown {
                calls: 4,
                errors: 1,
                faults: 3,
                notes: 2
            }
        );
    }

    #[test]
    fn a_node_filter_keeps_that_nodes_calls_and_marks() {
        let (out, shown) = inspect(&["--node", "n1"], &failing_run());
        assert_eq!(
            shown,
            Shown {
                calls: 1,
                errors: 0,
                faults: 1,
                notes: 1
            },
            "{out}"
        );
        assert!(out.contains("#1      0.020s  n1  Network::perform(1)"), "{out}");
        assert!(out.contains("n1  ! fault net::crash"), "{out}");
        assert!(!out.contains("net::drop") && !out.contains("#0 "), "{out}");
        let (out, shown) = inspect(&["--node", "-", "--node", "n0"], &failing_run());
        assert_eq!((shown.calls, shown.faults, shown.notes), (2, 1, 1), "{out}");
        assert!(
            out.contains("# note cluster of 3") && out.contains("Network::submit"),
            "{out}"
        );
    }

    #[test]
    fn errors_keep_faults_and_drop_notes_and_a_range_keeps_the_marks_before_its_calls() {
        let (out, shown) = inspect(&["--errors"], &failing_run());
        assert_eq!((shown.calls, shown.faults, shown.notes), (1, 3, 0), "{out}");
        let (out, shown) = inspect(&["--from", "1", "--to", "2"], &failing_run());
        // The drop (before #1) and the crash and note (before #2); not the
        // partition after #3 nor the note before #0.
        assert_eq!((shown.calls, shown.faults, shown.notes), (2, 2, 1), "{out}");
        assert!(!out.contains("partition") && !out.contains("cluster of 3"), "{out}");
        let (out, shown) = inspect(&["--call", "perform"], &failing_run());
        assert_eq!((shown.calls, shown.faults, shown.notes), (2, 0, 0), "{out}");
        let (out, shown) = inspect(&["--no-marks", "--width", "8"], &failing_run());
        assert_eq!((shown.calls, shown.faults), (4, 0), "{out}");
        assert!(out.contains("-> Some(St…\n") && !out.contains("! fault"), "{out}");
    }

    #[test]
    fn format_1_files_keep_the_injected_tag_and_format_2_files_drop_it() {
        let injected = "Err(Unavailable(\"injected: timeout\"))";
        let v1 = Trace::from_parts(
            Header {
                version: 1,
                ..Header::default()
            },
            vec![call(0, 1, None, "Election::leader", injected)],
        );
        let (out, _) = inspect(&[], &v1);
        assert!(out.contains("[injected fault]"), "{out}");
        assert!(out.ends_with("1 of 1 calls shown, 1 of them errors\n"), "{out}");
        let v2 = Trace::from_parts(
            Header {
                version: 2,
                ..Header::default()
            },
            vec![call(0, 1, None, "Election::leader", injected)],
        );
        let (out, _) = inspect(&[], &v2);
        assert!(out.contains("[error]") && !out.contains("[injected fault]"), "{out}");
        assert!(out.ends_with("; 0 of 0 faults, 0 of 0 notes\n"), "{out}");
    }
}
