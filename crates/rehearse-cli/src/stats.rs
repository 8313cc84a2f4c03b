//! `rehearse stats`: calls and errors per method, virtual-time span and
//! the longest gaps, for people or (`--json`) for machines.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

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
    /// How many of the longest gaps to list.
    #[arg(long, default_value_t = 5, value_name = "N")]
    gaps: usize,
}

/// Calls of one method.
#[derive(Debug, Default, Serialize)]
struct Method {
    calls: usize,
    errors: usize,
    injected: usize,
    error_rate: f64,
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

/// Everything `stats` reports.
#[derive(Debug, Serialize)]
struct Stats {
    file: String,
    calls: usize,
    errors: usize,
    injected: usize,
    truncated: bool,
    methods: BTreeMap<String, Method>,
    first_us: Option<u64>,
    last_us: Option<u64>,
    span_us: Option<u64>,
    longest_gaps: Vec<Gap>,
}

fn compute(file: &str, trace: &rehearse::Trace, top: usize) -> Stats {
    let mut methods: BTreeMap<String, Method> = BTreeMap::new();
    for call in trace.calls() {
        let m = methods.entry(call.name.clone()).or_default();
        m.calls += 1;
        if common::is_error(&call.output) {
            m.errors += 1;
        }
        if common::is_injected(&call.output) {
            m.injected += 1;
        }
    }
    for m in methods.values_mut() {
        m.error_rate = m.errors as f64 / m.calls as f64;
    }
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
    // Longest first; the earlier one first among equals.
    gaps.sort_by(|a, b| b.us.cmp(&a.us).then(a.after.cmp(&b.after)));
    gaps.truncate(top);
    let first_us = timed.first().map(|t| t.1);
    let last_us = timed.last().map(|t| t.1);
    Stats {
        file: file.to_string(),
        calls: trace.calls().len(),
        errors: methods.values().map(|m| m.errors).sum(),
        injected: methods.values().map(|m| m.injected).sum(),
        truncated: trace.is_truncated(),
        methods,
        first_us,
        last_us,
        span_us: first_us.zip(last_us).map(|(a, b)| b.saturating_sub(a)),
        longest_gaps: gaps,
    }
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
    let _ = writeln!(out, "{BOLD}{}{BOLD:#}: {}", a.file.display(), common::describe(&trace));
    let name_width = stats.methods.keys().map(String::len).max().unwrap_or(6).max(6);
    let _ = writeln!(
        out,
        "{BOLD}{:<name_width$}  {:>8}  {:>7}  {:>8}  {:>7}{BOLD:#}",
        "method", "calls", "errors", "injected", "rate"
    );
    for (name, m) in &stats.methods {
        let _ = writeln!(
            out,
            "{name:<name_width$}  {:>8}  {:>7}  {:>8}  {:>6.1}%",
            m.calls,
            m.errors,
            m.injected,
            m.error_rate * 100.0
        );
    }
    let _ = writeln!(
        out,
        "{:<name_width$}  {:>8}  {:>7}  {:>8}  {:>6.1}%",
        "all",
        stats.calls,
        stats.errors,
        stats.injected,
        if stats.calls == 0 {
            0.0
        } else {
            stats.errors as f64 * 100.0 / stats.calls as f64
        }
    );
    match (stats.first_us, stats.last_us, stats.span_us) {
        (Some(a), Some(b), Some(span)) => {
            let _ = writeln!(
                out,
                "virtual time: {} to {} ({} in all)",
                common::seconds(a),
                common::seconds(b),
                common::seconds(span)
            );
            for g in &stats.longest_gaps {
                let _ = writeln!(
                    out,
                    "  gap of {} between #{} and #{}",
                    common::seconds(g.us),
                    g.after,
                    g.before
                );
            }
        }
        _ => {
            let _ = writeln!(
                out,
                "{DIM}no virtual time in this file (a recording of a real run){DIM:#}"
            );
        }
    }
    ExitCode::SUCCESS
}
