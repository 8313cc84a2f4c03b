//! `rehearse diff`: aligns two scenarios of the same run and shows the
//! first divergence with context, then a summary of further differences.
//!
//! Calls decide where two runs part (they are what a replay checks), but
//! marks are part of the run too: the fault and note marks around the
//! divergence are shown in place, those that differ as `- A` / `+ B`
//! (a fault just before the first differing call is often its cause);
//! the summary counts each side's faults per point; and two files with the
//! same calls whose marks differ (a fault that changed nothing visible, a
//! note reworded) are reported as different, at the first differing mark.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rehearse::{Call, Mark, MarkKind, Trace};
use similar::{Algorithm, DiffTag, capture_diff_slices};

use crate::common::{self, BOLD, DIM, ERROR, GOOD, Layout};

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

/// Writes the marks of one gap (those before call `k`) of both runs:
/// the same ones once, the others as `- A` / `+ B`.
fn write_gap(out: &mut impl Write, ga: &[&Mark], gb: &[&Mark], layout: &Layout) {
    let (ka, kb): (Vec<String>, Vec<String>) = (
        ga.iter().map(|m| common::mark_key(m)).collect(),
        gb.iter().map(|m| common::mark_key(m)).collect(),
    );
    for op in capture_diff_slices(Algorithm::Myers, &ka, &kb) {
        let (tag, ra, rb) = op.as_tag_tuple();
        if tag == DiffTag::Equal {
            for m in &ga[ra] {
                let _ = writeln!(out, "    {}", common::mark_line(m, layout));
            }
            continue;
        }
        for m in &ga[ra] {
            let _ = writeln!(out, "{ERROR}-{ERROR:#} A {}", common::mark_line(m, layout));
        }
        for m in &gb[rb] {
            let _ = writeln!(out, "{GOOD}+{GOOD:#} B {}", common::mark_line(m, layout));
        }
    }
}

/// The calls before call `at` (up to `context` of them, the same in both
/// runs) with the marks of both runs in place, up to those just before
/// `at`.
fn write_context(
    out: &mut impl Write,
    ac: &[Call],
    gaps: (&[Vec<&Mark>], &[Vec<&Mark>]),
    at: usize,
    context: usize,
    layout: &Layout,
) {
    fn gap<'g, 'm>(g: &'g [Vec<&'m Mark>], k: usize) -> &'g [&'m Mark] {
        g.get(k).map_or(&[], Vec::as_slice)
    }
    for k in at.saturating_sub(context)..=at {
        write_gap(out, gap(gaps.0, k), gap(gaps.1, k), layout);
        if k < at {
            if let Some(call) = ac.get(k) {
                let _ = writeln!(out, "    {}", common::call_line(call, layout));
            }
        }
    }
}

/// The first gap (the call index the marks come before) where the marks
/// of `a` and `b` differ, with the line of the first differing mark on
/// each side; `None` when the marks are the same.
fn first_mark_divergence<'t>(a: &'t Trace, b: &'t Trace) -> Option<(usize, Option<&'t Mark>, Option<&'t Mark>)> {
    let (ma, mb) = (a.marks(), b.marks());
    let same = |x: &Mark, y: &Mark| x.before_call == y.before_call && common::mark_key(x) == common::mark_key(y);
    let n = ma.iter().zip(mb).take_while(|(x, y)| same(x, y)).count();
    if n == ma.len() && n == mb.len() {
        return None;
    }
    let (x, y) = (ma.get(n), mb.get(n));
    let gap = match (x, y) {
        (Some(x), Some(y)) => x.before_call.min(y.before_call),
        (Some(m), None) | (None, Some(m)) => m.before_call,
        (None, None) => return None,
    };
    Some((gap, x, y))
}

/// Writes the diff of `a` and `b` to `out`; true when they differ (in
/// their calls, or in their marks when the calls are the same).
pub(crate) fn write_diff(
    out: &mut impl Write,
    (a_path, a): (&Path, &Trace),
    (b_path, b): (&Path, &Trace),
    context: usize,
    hunks: usize,
    width: usize,
) -> bool {
    let (ac, bc) = (a.calls(), b.calls());
    let layout = Layout::fit(&[a, b], ac.len().max(bc.len()), width);
    let (gaps_a, gaps_b) = (common::marks_by_gap(a), common::marks_by_gap(b));
    let with_marks = common::counts_marks(a) || common::counts_marks(b);
    let Some(d) = first_divergence(ac, bc) else {
        let Some((gap, x, y)) = first_mark_divergence(a, b) else {
            let marks = if with_marks {
                format!(", {} marks", a.marks().len())
            } else {
                String::new()
            };
            let _ = writeln!(out, "{GOOD}identical{GOOD:#}: {} calls{marks}", ac.len());
            return false;
        };
        let line_of = |m: Option<&Mark>| m.map_or("end".to_string(), |m| format!("line {}", m.line));
        let _ = writeln!(
            out,
            "{BOLD}the same {} calls, but the marks differ{BOLD:#}, first before call #{gap} ({} {}, {} {})",
            ac.len(),
            a_path.display(),
            line_of(x),
            b_path.display(),
            line_of(y)
        );
        write_context(out, ac, (&gaps_a, &gaps_b), gap, context, &layout);
        write_mark_summary(out, a, b);
        return true;
    };
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
    write_context(out, ac, (&gaps_a, &gaps_b), d.index, context, &layout);
    match ac.get(d.index) {
        Some(c) => {
            let _ = writeln!(out, "{ERROR}-{ERROR:#} A {}", common::call_line(c, &layout));
        }
        None => {
            let _ = writeln!(out, "{ERROR}-{ERROR:#} A {DIM}(no more calls){DIM:#}");
        }
    }
    match bc.get(d.index) {
        Some(c) => {
            let _ = writeln!(out, "{GOOD}+{GOOD:#} B {}", common::call_line(c, &layout));
        }
        None => {
            let _ = writeln!(out, "{GOOD}+{GOOD:#} B {DIM}(no more calls){DIM:#}");
        }
    }
    write_summary(out, ac, bc, hunks);
    if with_marks {
        write_mark_summary(out, a, b);
    }
    true
}

/// Each side's fault and note counts, and the fault points whose counts
/// differ.
fn write_mark_summary(out: &mut impl Write, a: &Trace, b: &Trace) {
    let counts = |t: &Trace| {
        let (f, n) = common::mark_counts(t);
        format!(
            "{f} {} and {n} {}",
            if f == 1 { "fault" } else { "faults" },
            if n == 1 { "note" } else { "notes" }
        )
    };
    let _ = writeln!(out, "{BOLD}marks{BOLD:#}: A has {}, B has {}", counts(a), counts(b));
    let mut points: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (side, t) in [(0, a), (1, b)] {
        for m in t.marks() {
            if let MarkKind::Fault { point, .. } = &m.kind {
                let e = points.entry(point.as_str()).or_default();
                if side == 0 {
                    e.0 += 1;
                } else {
                    e.1 += 1;
                }
            }
        }
    }
    points.retain(|_, (x, y)| x != y);
    if !points.is_empty() {
        let _ = writeln!(out, "faults by point where they differ (A / B):");
        for (point, (x, y)) in points {
            let _ = writeln!(out, "  {point}: {x} / {y}");
        }
    }
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

#[cfg(test)]
mod tests {
    use rehearse::Trace;

    use super::*;
    use crate::fixtures::{call, failing_run, fault};

    fn diff(a: &Trace, b: &Trace) -> (bool, String) {
        let mut out = Vec::new();
        let differ = write_diff(&mut out, (Path::new("a.ron"), a), (Path::new("b.ron"), b), 2, 10, 0);
        let text = String::from_utf8(out).unwrap();
        (differ, anstream::adapter::strip_str(&text).to_string())
    }

    fn with_marks(t: &Trace, marks: Vec<Mark>) -> Trace {
        Trace::from_parts(t.header().clone(), t.calls().to_vec()).with_marks(marks)
    }

    #[test]
    fn the_same_run_is_identical_marks_included() {
        let (differ, out) = diff(&failing_run(), &failing_run());
        assert!(!differ);
        assert_eq!(out, "identical: 4 calls, 5 marks\n");
    }

    #[test]
    fn marks_around_the_first_divergence_are_shown_in_place_and_differing_ones_marked() {
        let a = failing_run();
        // B: no crash before #2, a drop there instead, and #2 succeeded.
        let mut calls = a.calls().to_vec();
        calls[2] = call(2, 30, Some("n2"), "Network::perform", "()");
        let mut marks = a.marks().to_vec();
        marks[2] = fault(2, 25, "n1", "net::drop", Some("n1 -> n2: Vote"));
        let b = Trace::from_parts(a.header().clone(), calls).with_marks(marks);
        let (differ, out) = diff(&a, &b);
        assert!(differ);
        let expected_start = "\
first divergence at call #2 (a.ron line 0, b.ron line 0): the output: Err(Full) vs ()
            0.000s      # note cluster of 3
    #0      0.010s  n0  Network::next_event(0) -> Some(Start)
            0.015s  n0  ! fault net::drop  n0 -> n1: Append(3)
    #1      0.020s  n1  Network::perform(1) -> ()
- A         0.025s  n1  ! fault net::crash
+ B         0.025s  n1  ! fault net::drop  n1 -> n2: Vote
            0.025s  n1  # note n1 restarts with what was synced
- A #2      0.030s  n2  Network::perform(2) -> Err(Full)  [error]
+ B #2      0.030s  n2  Network::perform(2) -> ()
";
        assert!(out.starts_with(expected_start), "{out}");
        assert!(
            out.contains("marks: A has 3 faults and 2 notes, B has 3 faults and 2 notes"),
            "{out}"
        );
        assert!(
            out.contains("faults by point where they differ (A / B):\n  net::crash: 1 / 0\n  net::drop: 1 / 2\n"),
            "{out}"
        );
    }

    #[test]
    fn the_same_calls_with_different_marks_differ_at_the_first_differing_mark() {
        let a = failing_run();
        let mut marks = a.marks().to_vec();
        marks.remove(4);
        marks.insert(4, fault(3, 35, "n2", "net::delay", Some("n2 -> n0: +80ms")));
        let b = with_marks(&a, marks);
        let (differ, out) = diff(&a, &b);
        assert!(differ, "{out}");
        assert!(
            out.starts_with(
                "the same 4 calls, but the marks differ, first before call #3 (a.ron line 0, b.ron line 0)\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("+ B         0.035s  n2  ! fault net::delay  n2 -> n0: +80ms\n"),
            "{out}"
        );
        assert!(out.contains("    #2      0.030s  n2  Network::perform(2)"), "{out}");
        assert!(out.contains("  net::delay: 0 / 1\n  net::partition: 1 / 0\n"), "{out}");
        // The note reworded: a difference too.
        let mut marks = a.marks().to_vec();
        marks[0] = crate::fixtures::note(0, 0, None, "cluster of three");
        let (differ, out) = diff(&a, &with_marks(&a, marks));
        assert!(differ && out.contains("first before call #0"), "{out}");
        assert!(
            out.contains(
                "- A         0.000s      # note cluster of 3\n+ B         0.000s      # note cluster of three\n"
            ),
            "{out}"
        );
    }
}
