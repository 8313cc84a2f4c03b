//! `rehearse stats`: calls and errors per method, faults per fault point
//! and per node (from the fault marks of format 2; from errors that say
//! `injected` in format 1 files, which have no marks), notes, virtual-time
//! span and the longest gaps, for people or (`--json`) for machines.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rehearse::MarkKind;
use serde::Serialize;

use crate::common::{self, BOLD, DIM};

/// `rehearse stats`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The scenario file.
    file: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// How many of the longest gaps to list (of those at least 4 times
    /// the median gap: a regular pace is not listed).
    #[arg(long, default_value_t = 5, value_name = "N")]
    gaps: usize,
}

/// Calls of one method.
#[derive(Debug, Default, Serialize)]
struct Method {
    calls: usize,
    errors: usize,
    /// Errors whose text says `injected` (format 1 files only).
    #[serde(skip_serializing_if = "Option::is_none")]
    injected: Option<usize>,
    error_rate: f64,
}

/// Faults of one fault point.
#[derive(Debug, Default, Serialize)]
struct Point {
    count: usize,
    /// Per node (marks without a node under `(no node)`).
    nodes: BTreeMap<String, usize>,
}

/// Calls and marks of one node.
#[derive(Debug, Default, Serialize)]
struct Node {
    calls: usize,
    errors: usize,
    faults: usize,
    notes: usize,
}

/// A stretch of virtual time with no call.
#[derive(Debug, Serialize)]
struct Gap {
    /// The call before the gap.
    after: usize,
    /// The call after it.
    before: usize,
    us: u64,
}

/// How a saved run failed.
#[derive(Debug, Serialize)]
struct Failure {
    kind: String,
    message: String,
}

/// Everything `stats` reports.
#[derive(Debug, Serialize)]
struct Stats {
    file: String,
    format: u32,
    calls: usize,
    errors: usize,
    /// Faults, counted as `faults_counted_by` says.
    faults: usize,
    /// `"marks"` (format 2: fault marks) or `"injected-text"` (format 1:
    /// errors whose text says `injected`).
    faults_counted_by: &'static str,
    /// Errors whose text says `injected` (format 1 files only).
    #[serde(skip_serializing_if = "Option::is_none")]
    injected: Option<usize>,
    notes: usize,
    /// Faults per fault point, from the marks.
    fault_points: BTreeMap<String, Point>,
    /// Per node, when calls or marks name one.
    nodes: BTreeMap<String, Node>,
    failure: Option<Failure>,
    params: BTreeMap<String, String>,
    truncated: bool,
    methods: BTreeMap<String, Method>,
    first_us: Option<u64>,
    last_us: Option<u64>,
    span_us: Option<u64>,
    /// The median time between two calls at different times.
    median_gap_us: Option<u64>,
    /// The longest gaps at least `GAP_STANDS_OUT` times the median one.
    longest_gaps: Vec<Gap>,
}

fn compute(file: &str, trace: &rehearse::Trace, top: usize) -> Stats {
    let by_marks = common::counts_marks(trace);
    let any_node = trace.calls().iter().any(|c| c.node.is_some()) || trace.marks().iter().any(|m| m.node.is_some());
    let node_key = |n: Option<&String>| n.cloned().unwrap_or_else(|| common::NO_NODE.to_string());
    let mut methods: BTreeMap<String, Method> = BTreeMap::new();
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    for call in trace.calls() {
        let m = methods.entry(call.name.clone()).or_default();
        let error = common::is_error(&call.output);
        m.calls += 1;
        m.errors += usize::from(error);
        if !by_marks {
            *m.injected.get_or_insert(0) += usize::from(common::is_injected(&call.output));
        }
        if any_node {
            let n = nodes.entry(node_key(call.node.as_ref())).or_default();
            n.calls += 1;
            n.errors += usize::from(error);
        }
    }
    for m in methods.values_mut() {
        m.error_rate = m.errors as f64 / m.calls as f64;
    }
    let mut fault_points: BTreeMap<String, Point> = BTreeMap::new();
    let mut notes = 0;
    for mark in trace.marks() {
        let node = any_node.then(|| nodes.entry(node_key(mark.node.as_ref())).or_default());
        match &mark.kind {
            MarkKind::Fault { point, .. } => {
                let p = fault_points.entry(point.clone()).or_default();
                p.count += 1;
                *p.nodes.entry(node_key(mark.node.as_ref())).or_default() += 1;
                if let Some(n) = node {
                    n.faults += 1;
                }
            }
            MarkKind::Note { .. } => {
                notes += 1;
                if let Some(n) = node {
                    n.notes += 1;
                }
            }
        }
    }
    let injected = (!by_marks).then(|| methods.values().filter_map(|m| m.injected).sum());
    let timed: Vec<(usize, u64)> = trace
        .calls()
        .iter()
        .filter_map(|c| c.at_us.map(|t| (c.index, t)))
        .collect();
    let mut gaps: Vec<Gap> = timed
        .windows(2)
        .map(|w| Gap {
            after: w[0].0,
            before: w[1].0,
            us: w[1].1.saturating_sub(w[0].1),
        })
        .filter(|g| g.us > 0)
        .collect();
    // A regular pace (a timer every 17 ms) is not a gap worth a look:
    // only gaps well above the median one are listed.
    let median_gap_us = median(gaps.iter().map(|g| g.us).collect());
    if let Some(median) = median_gap_us {
        gaps.retain(|g| g.us >= median.saturating_mul(GAP_STANDS_OUT));
    }
    // Longest first; the earlier one first among equals.
    gaps.sort_by(|a, b| b.us.cmp(&a.us).then(a.after.cmp(&b.after)));
    gaps.truncate(top);
    let first_us = timed.first().map(|t| t.1);
    let last_us = timed.last().map(|t| t.1);
    let header = trace.header();
    Stats {
        file: file.to_string(),
        format: header.version,
        calls: trace.calls().len(),
        errors: methods.values().map(|m| m.errors).sum(),
        faults: if by_marks {
            fault_points.values().map(|p| p.count).sum()
        } else {
            injected.unwrap_or(0)
        },
        faults_counted_by: if by_marks { "marks" } else { "injected-text" },
        injected,
        notes,
        fault_points,
        nodes,
        failure: header.failure.as_ref().map(|f| Failure {
            kind: f.kind.clone(),
            message: f.message.clone(),
        }),
        params: header.params.clone(),
        truncated: trace.is_truncated(),
        methods,
        first_us,
        last_us,
        span_us: first_us.zip(last_us).map(|(a, b)| b.saturating_sub(a)),
        median_gap_us,
        longest_gaps: gaps,
    }
}

/// How many times the median gap a gap must be to be listed.
const GAP_STANDS_OUT: u64 = 4;

/// The median of `v` (the upper one of an even count), `None` when empty.
fn median(mut v: Vec<u64>) -> Option<u64> {
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

/// `n0: 2, n2: 1`: counts per node in natural node order.
fn per_node(counts: &BTreeMap<String, usize>) -> String {
    let mut v: Vec<(&String, &usize)> = counts.iter().collect();
    v.sort_by(|a, b| common::node_order(a.0, b.0));
    v.iter()
        .map(|(n, c)| format!("{n}: {c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The table for people.
fn write_text(out: &mut impl Write, path: &Path, trace: &rehearse::Trace, stats: &Stats) -> std::io::Result<()> {
    writeln!(out, "{BOLD}{}{BOLD:#}: {}", path.display(), common::describe(trace))?;
    for line in common::head_lines(path, trace) {
        writeln!(out, "{line}")?;
    }
    let v1 = stats.injected.is_some();
    let name_width = stats.methods.keys().map(String::len).max().unwrap_or(6).max(6);
    let injected_head = if v1 {
        format!("  {:>8}", "injected")
    } else {
        String::new()
    };
    writeln!(
        out,
        "{BOLD}{:<name_width$}  {:>8}  {:>7}{injected_head}  {:>7}{BOLD:#}",
        "method", "calls", "errors", "rate"
    )?;
    let injected_cell = |n: Option<usize>| n.map_or(String::new(), |n| format!("  {n:>8}"));
    for (name, m) in &stats.methods {
        writeln!(
            out,
            "{name:<name_width$}  {:>8}  {:>7}{}  {:>6.1}%",
            m.calls,
            m.errors,
            injected_cell(m.injected),
            m.error_rate * 100.0
        )?;
    }
    writeln!(
        out,
        "{:<name_width$}  {:>8}  {:>7}{}  {:>6.1}%",
        "all",
        stats.calls,
        stats.errors,
        injected_cell(stats.injected),
        if stats.calls == 0 {
            0.0
        } else {
            stats.errors as f64 * 100.0 / stats.calls as f64
        }
    )?;
    writeln!(
        out,
        "{BOLD}faults{BOLD:#}: {} (counted from {})",
        stats.faults,
        common::fault_method(trace)
    )?;
    if !stats.fault_points.is_empty() {
        let w = stats.fault_points.keys().map(String::len).max().unwrap_or(5).max(5);
        for (point, p) in &stats.fault_points {
            let nodes = if stats.nodes.is_empty() {
                String::new()
            } else {
                format!("  {DIM}{}{DIM:#}", per_node(&p.nodes))
            };
            writeln!(out, "  {point:<w$}  {:>6}{nodes}", p.count)?;
        }
    }
    if !v1 {
        writeln!(out, "{BOLD}notes{BOLD:#}: {}", stats.notes)?;
    }
    if !stats.nodes.is_empty() {
        let mut nodes: Vec<(&String, &Node)> = stats.nodes.iter().collect();
        nodes.sort_by(|a, b| common::node_order(a.0, b.0));
        let w = nodes.iter().map(|n| n.0.len()).max().unwrap_or(4).max(4);
        writeln!(
            out,
            "{BOLD}{:<w$}  {:>8}  {:>7}  {:>7}  {:>7}{BOLD:#}",
            "node", "calls", "errors", "faults", "notes"
        )?;
        for (name, n) in nodes {
            writeln!(
                out,
                "{name:<w$}  {:>8}  {:>7}  {:>7}  {:>7}",
                n.calls, n.errors, n.faults, n.notes
            )?;
        }
    }
    match (stats.first_us, stats.last_us, stats.span_us) {
        (Some(a), Some(b), Some(span)) => {
            writeln!(
                out,
                "virtual time: {} to {} ({} in all)",
                common::seconds(a),
                common::seconds(b),
                common::seconds(span)
            )?;
            if let Some(median) = stats.median_gap_us {
                if stats.longest_gaps.is_empty() {
                    writeln!(
                        out,
                        "  no gap stands out: the median gap is {}, none is {GAP_STANDS_OUT} times that",
                        common::seconds(median)
                    )?;
                } else {
                    writeln!(
                        out,
                        "  longest gaps ({GAP_STANDS_OUT} times the median gap of {} or more):",
                        common::seconds(median)
                    )?;
                }
            }
            for g in &stats.longest_gaps {
                writeln!(
                    out,
                    "    gap of {} between #{} and #{}",
                    common::seconds(g.us),
                    g.after,
                    g.before
                )?;
            }
        }
        _ => {
            writeln!(
                out,
                "{DIM}no virtual time in this file (a recording of a real run){DIM:#}"
            )?;
        }
    }
    Ok(())
}

pub(crate) fn run(a: Args) -> ExitCode {
    let Some(trace) = common::load_or_report(&a.file) else {
        return ExitCode::from(common::TROUBLE);
    };
    let stats = compute(&a.file.display().to_string(), &trace, a.gaps);
    let mut out = anstream::stdout().lock();
    if a.json {
        let text = serde_json::to_string_pretty(&stats).unwrap_or_default();
        let _ = writeln!(out, "{text}");
        return ExitCode::SUCCESS;
    }
    let _ = write_text(&mut out, &a.file, &trace, &stats);
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::failing_run;

    fn squashed(text: &str) -> Vec<String> {
        anstream::adapter::strip_str(text)
            .to_string()
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    }

    #[test]
    fn faults_are_counted_from_the_marks_per_point_and_node() {
        let trace = failing_run();
        let stats = compute("run.ron", &trace, 3);
        assert_eq!((stats.faults, stats.notes, stats.injected), (3, 2, None));
        assert_eq!(stats.faults_counted_by, "marks");
        assert_eq!(stats.fault_points["net::drop"].nodes["n0"], 1);
        assert_eq!(stats.nodes["n1"].faults, 1);
        assert_eq!(stats.nodes["n1"].notes, 1);
        assert_eq!(stats.nodes[common::NO_NODE].calls, 1);
        assert_eq!(stats.nodes[common::NO_NODE].notes, 1);
        let json = serde_json::to_value(&stats).unwrap();
        assert_eq!(json["fault_points"]["net::partition"]["count"], 1);
        assert_eq!(json["failure"]["kind"], "two leaders");
        assert_eq!(json["params"]["bug"], "stale read");
        assert!(json.get("injected").is_none(), "{json}");
        assert!(json["methods"]["Network::perform"].get("injected").is_none(), "{json}");

        let mut out = Vec::new();
        write_text(&mut out, Path::new("run.ron"), &trace, &stats).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines = squashed(&text);
        let has = |l: &str| lines.iter().any(|x| x == l);
        assert!(has("method calls errors rate"), "{text}");
        assert!(has("Network::perform 2 1 50.0%"), "{text}");
        assert!(has("faults: 3 (counted from fault marks)"), "{text}");
        assert!(has("net::crash 1 n1: 1"), "{text}");
        assert!(has("net::drop 1 n0: 1"), "{text}");
        assert!(has("notes: 2"), "{text}");
        assert!(has("node calls errors faults notes"), "{text}");
        assert!(has("n2 1 1 1 0"), "{text}");
        assert!(has("(no node) 1 0 0 1"), "{text}");
        assert!(has("failure (two leaders): n0 and n2 both lead term 3"), "{text}");
    }

    #[test]
    fn format_1_files_count_injected_errors_and_say_so() {
        let trace = rehearse::Trace::parse(
            "(rehearse: 1)\n(i: 0, call: \"A::b\", in: (), out: Err(X(\"injected: drop\")))\n(i: 1, call: \"A::b\", in: (), out: Err(Timeout))\n",
        )
        .unwrap();
        let stats = compute("old.ron", &trace, 3);
        assert_eq!((stats.faults, stats.injected, stats.errors), (1, Some(1), 2));
        assert_eq!(stats.faults_counted_by, "injected-text");
        assert!(stats.nodes.is_empty() && stats.fault_points.is_empty());
        let mut out = Vec::new();
        write_text(&mut out, Path::new("old.ron"), &trace, &stats).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines = squashed(&text);
        assert!(lines.iter().any(|l| l == "A::b 2 2 1 100.0%"), "{text}");
        assert!(
            lines
                .iter()
                .any(|l| l
                    == "faults: 1 (counted from errors whose text says \"injected\" (format 1 has no fault marks))"),
            "{text}"
        );
        assert!(!text.contains("notes:"), "{text}");
    }

    #[test]
    fn a_regular_pace_is_not_listed_as_gaps() {
        // A call every 17 ms, and one pause of 1 s after call 5.
        let mut text = String::from("(rehearse: 2)\n");
        let mut at = 0;
        for i in 0..20 {
            at += if i == 6 { 1_000_000 } else { 17_000 };
            text.push_str(&format!("(i: {i}, at_us: {at}, call: \"A::b\", in: (), out: ())\n"));
        }
        let trace = rehearse::Trace::parse(&text).unwrap();
        let stats = compute("paced.ron", &trace, 5);
        assert_eq!(stats.median_gap_us, Some(17_000));
        assert_eq!(stats.longest_gaps.len(), 1, "{:?}", stats.longest_gaps);
        assert_eq!((stats.longest_gaps[0].after, stats.longest_gaps[0].us), (5, 1_000_000));
        let mut out = Vec::new();
        write_text(&mut out, Path::new("paced.ron"), &trace, &stats).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("longest gaps (4 times the median gap of 0.017s or more):"),
            "{text}"
        );
        assert_eq!(text.matches("gap of ").count(), 2, "{text}");

        // Nothing but the pace: nothing listed, and it says why.
        let mut text = String::from("(rehearse: 2)\n");
        for i in 0..20u64 {
            text.push_str(&format!(
                "(i: {i}, at_us: {}, call: \"A::b\", in: (), out: ())\n",
                (i + 1) * 17_000
            ));
        }
        let trace = rehearse::Trace::parse(&text).unwrap();
        let stats = compute("paced.ron", &trace, 5);
        assert!(stats.longest_gaps.is_empty());
        let mut out = Vec::new();
        write_text(&mut out, Path::new("paced.ron"), &trace, &stats).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("no gap stands out: the median gap is 0.017s, none is 4 times that"),
            "{text}"
        );
    }
}
