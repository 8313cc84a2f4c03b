//! `rehearse diff`: aligns two scenarios of the same run and shows the
//! first divergence with context, then a summary of further differences.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rehearse::{Call, Trace};
use similar::{Algorithm, DiffTag, capture_diff_slices};

use crate::common::{self, BOLD, DIM, ERROR, GOOD};

/// `rehearse diff`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The first scenario (e.g. the failing run).
    a: PathBuf,
    /// The second scenario (e.g. a re-run, or the run after a change).
    b: PathBuf,
    /// Matching calls shown before the divergence.
    #[arg(long, default_value_t = 3, value_name = "N")]
    context: usize,
    /// Further difference hunks listed after the first divergence.
    #[arg(long, default_value_t = 10, value_name = "N")]
    hunks: usize,
    /// Cut inputs and outputs to this many characters (0: whole).
    #[arg(long, default_value_t = 0, value_name = "CHARS")]
    width: usize,
}

/// Where and how two call sequences first differ.
pub(crate) struct Divergence {
    /// The index of the first differing call.
    pub(crate) index: usize,
    /// What differs, in words.
    pub(crate) what: String,
}

/// The first position where `a` and `b` differ, if any.
pub(crate) fn first_divergence(a: &[Call], b: &[Call]) -> Option<Divergence> {
    for (x, y) in a.iter().zip(b) {
        let what = if x.name != y.name {
            Some(format!("a different call: {} vs {}", x.name, y.name))
        } else if x.inputs.len() != y.inputs.len() {
            Some(format!("{} inputs vs {}", x.inputs.len(), y.inputs.len()))
        } else if let Some((n, d)) = x
            .inputs
            .iter()
            .zip(&y.inputs)
            .enumerate()
            .find_map(|(n, (p, q))| p.first_difference(q).map(|d| (n, d)))
        {
            Some(format!("input {n}{}: {} vs {}", d.path, d.expected, d.actual))
        } else {
            x.output
                .first_difference(&y.output)
                .map(|d| format!("the output{}: {} vs {}", d.path, d.expected, d.actual))
        };
        if let Some(what) = what {
            return Some(Divergence { index: x.index, what });
        }
    }
    match a.len().cmp(&b.len()) {
        std::cmp::Ordering::Equal => None,
        std::cmp::Ordering::Less => Some(Divergence {
            index: a.len(),
            what: format!("the first ends after {} calls, the second goes on", a.len()),
        }),
        std::cmp::Ordering::Greater => Some(Divergence {
            index: b.len(),
            what: format!("the second ends after {} calls, the first goes on", b.len()),
        }),
    }
}

/// A call's identity for alignment: name, inputs and output.
fn key(call: &Call) -> String {
    format!("{}({}) -> {}", call.name, common::inputs(call), call.output)
}

/// Writes the diff of `a` and `b` to `out`; true when they differ.
pub(crate) fn write_diff(
    out: &mut impl Write,
    (a_path, a): (&Path, &Trace),
    (b_path, b): (&Path, &Trace),
    context: usize,
    hunks: usize,
    width: usize,
) -> bool {
    let (ac, bc) = (a.calls(), b.calls());
    let Some(d) = first_divergence(ac, bc) else {
        let _ = writeln!(out, "{GOOD}identical{GOOD:#}: {} calls", ac.len());
        return false;
    };
    let with_time = ac.iter().chain(bc).any(|c| c.at_us.is_some());
    let w = format!("#{}", ac.len().max(bc.len())).len();
    let line_of = |calls: &[Call]| {
        calls
            .get(d.index)
            .map_or("end".to_string(), |c| format!("line {}", c.line))
    };
    let _ = writeln!(
        out,
        "{BOLD}first divergence at call #{}{BOLD:#} ({} {}, {} {}): {}",
        d.index,
        a_path.display(),
        line_of(ac),
        b_path.display(),
        line_of(bc),
        d.what
    );
    for call in &ac[d.index.saturating_sub(context)..d.index] {
        let _ = writeln!(out, "    {}", common::call_line(call, w, with_time, width));
    }
    match ac.get(d.index) {
        Some(c) => {
            let _ = writeln!(out, "{ERROR}-{ERROR:#} A {}", common::call_line(c, w, with_time, width));
        }
        None => {
            let _ = writeln!(out, "{ERROR}-{ERROR:#} A {DIM}(no more calls){DIM:#}");
        }
    }
    match bc.get(d.index) {
        Some(c) => {
            let _ = writeln!(out, "{GOOD}+{GOOD:#} B {}", common::call_line(c, w, with_time, width));
        }
        None => {
            let _ = writeln!(out, "{GOOD}+{GOOD:#} B {DIM}(no more calls){DIM:#}");
        }
    }
    write_summary(out, ac, bc, hunks);
    true
}

/// Everything after the first divergence: the rest aligned by content,
/// then its hunks and the differing calls per method.
fn write_summary(out: &mut impl Write, ac: &[Call], bc: &[Call], hunks: usize) {
    let (ka, kb): (Vec<String>, Vec<String>) = (ac.iter().map(key).collect(), bc.iter().map(key).collect());
    let ops = capture_diff_slices(Algorithm::Myers, &ka, &kb);
    let (mut equal, mut only_a, mut only_b) = (0usize, 0usize, 0usize);
    let mut by_method: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut listed = Vec::new();
    for op in &ops {
        let (tag, ra, rb) = op.as_tag_tuple();
        if tag == DiffTag::Equal {
            equal += ra.len();
            continue;
        }
        only_a += ra.len();
        only_b += rb.len();
        for c in &ac[ra.clone()] {
            by_method.entry(c.name.as_str()).or_default().0 += 1;
        }
        for c in &bc[rb.clone()] {
            by_method.entry(c.name.as_str()).or_default().1 += 1;
        }
        listed.push((ra, rb));
    }
    let _ = writeln!(
        out,
        "{BOLD}summary{BOLD:#}: A has {} calls, B has {}; aligned, {equal} are the same, {only_a} only in A, {only_b} only in B, in {} {}",
        ac.len(),
        bc.len(),
        listed.len(),
        if listed.len() == 1 { "hunk" } else { "hunks" }
    );
    let range = |r: &std::ops::Range<usize>| match r.len() {
        0 => "none".to_string(),
        1 => format!("#{}", r.start),
        _ => format!("#{}..#{}", r.start, r.end - 1),
    };
    for (ra, rb) in listed.iter().take(hunks) {
        let names = |calls: &[Call]| {
            let mut n: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
            n.dedup();
            n.truncate(3);
            n.join(", ")
        };
        let _ = writeln!(
            out,
            "  A {} / B {}  {DIM}{} | {}{DIM:#}",
            range(ra),
            range(rb),
            names(&ac[ra.clone()]),
            names(&bc[rb.clone()])
        );
    }
    if listed.len() > hunks {
        let _ = writeln!(out, "  {DIM}... {} more hunks{DIM:#}", listed.len() - hunks);
    }
    if !by_method.is_empty() {
        let _ = writeln!(out, "differing calls by method (A / B):");
        for (name, (x, y)) in by_method {
            let _ = writeln!(out, "  {name}: {x} / {y}");
        }
    }
}

pub(crate) fn run(a: Args) -> ExitCode {
    let (Some(ta), Some(tb)) = (common::load_or_report(&a.a), common::load_or_report(&a.b)) else {
        return ExitCode::from(common::TROUBLE);
    };
    let mut out = anstream::stdout().lock();
    if write_diff(&mut out, (&a.a, &ta), (&a.b, &tb), a.context, a.hunks, a.width) {
        ExitCode::from(common::FOUND)
    } else {
        ExitCode::SUCCESS
    }
}
