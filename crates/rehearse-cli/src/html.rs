//! `rehearse html`: one self-contained HTML page (no network, no external
//! assets) showing a run as a timeline, one lane per world trait (or per
//! instance when several scenarios of one simulated seed are given), with
//! errors and injected faults marked, every call expandable to its full
//! inputs and output, and a search box. The list renders only the rows in
//! view once a file has more than a few thousand calls, so 100k-call files
//! stay responsive.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rehearse::Trace;
use serde_json::{Value as Json, json};

use crate::common::{self, ERROR, GOOD};

const TEMPLATE: &str = include_str!("timeline.html");

/// `rehearse html`'s arguments.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The scenario file, or several scenarios of one simulated seed (one
    /// lane per file then, e.g. `seed-7.arbiter-*.ron`).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Where to write the page (default: the first file with `.html`).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// The lane label of a file: its `tape` metadata, or its file name.
fn file_label(path: &Path, trace: &Trace) -> String {
    trace.header().meta.get("tape").cloned().unwrap_or_else(|| {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("scenario");
        name.trim_end_matches(".ron").to_string()
    })
}

/// The page for `traces` (with their paths).
pub(crate) fn page(traces: &[(PathBuf, Trace)]) -> String {
    let per_file = traces.len() > 1;
    let mut lanes: Vec<String> = Vec::new();
    let mut lane_of = |name: String| -> usize {
        match lanes.iter().position(|l| *l == name) {
            Some(i) => i,
            None => {
                lanes.push(name);
                lanes.len() - 1
            }
        }
    };
    // Merge by virtual time when every call has one (stable: file order,
    // then call order), else keep file order.
    // Per file: lanes in the order the files were given, named by their
    // tape, or by their file name when two files name the same tape.
    let tapes: Vec<String> = traces.iter().map(|(p, t)| file_label(p, t)).collect();
    let labels: Vec<String> = tapes
        .iter()
        .zip(traces)
        .map(|(tape, (path, _))| {
            if tapes.iter().filter(|t| *t == tape).count() > 1 {
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("scenario");
                name.trim_end_matches(".ron").to_string()
            } else {
                tape.clone()
            }
        })
        .collect();
    if per_file {
        for label in &labels {
            lane_of(label.clone());
        }
    }
    let mut rows: Vec<(Option<u64>, usize, usize)> = Vec::new();
    for (f, (_, t)) in traces.iter().enumerate() {
        for (i, c) in t.calls().iter().enumerate() {
            rows.push((c.at_us, f, i));
        }
    }
    if rows.iter().all(|r| r.0.is_some()) {
        rows.sort_by_key(|r| (r.0, r.1, r.2));
    }
    let mut calls = Vec::with_capacity(rows.len());
    for (ordinal, (_, f, i)) in rows.into_iter().enumerate() {
        let c = &traces[f].1.calls()[i];
        let lane = if per_file {
            lane_of(labels[f].clone())
        } else {
            lane_of(c.name.split("::").next().unwrap_or(&c.name).to_string())
        };
        let flags = u8::from(common::is_error(&c.output)) | (u8::from(common::is_injected(&c.output)) << 1);
        calls.push(json!([
            lane,
            c.index,
            c.at_us,
            c.name,
            common::inputs(c),
            c.output.to_string(),
            flags,
            f,
            ordinal
        ]));
    }
    let files: Vec<String> = traces
        .iter()
        .map(|(p, t)| format!("{}: {}", p.display(), common::describe(t)))
        .collect();
    let data = json!({ "lanes": lanes, "files": files, "calls": Json::Array(calls) });
    // `<` escaped so that no string in the data can close the script tag.
    let data = data.to_string().replace('<', "\\u003c");
    let title = match traces {
        [(p, _)] => p.display().to_string(),
        _ => format!("{} scenarios", traces.len()),
    };
    let title = title.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    TEMPLATE.replace("__TITLE__", &title).replacen("__DATA__", &data, 1)
}

pub(crate) fn run(a: Args) -> ExitCode {
    let mut traces = Vec::new();
    for f in &a.files {
        let Some(t) = common::load_or_report(f) else {
            return ExitCode::from(common::TROUBLE);
        };
        traces.push((f.clone(), t));
    }
    let output = a.output.unwrap_or_else(|| a.files[0].with_extension("html"));
    let html = page(&traces);
    if let Err(e) = std::fs::write(&output, html) {
        let _ = writeln!(anstream::stderr(), "{ERROR}error{ERROR:#}: {}: {e}", output.display());
        return ExitCode::from(common::TROUBLE);
    }
    let calls: usize = traces.iter().map(|(_, t)| t.calls().len()).sum();
    let _ = writeln!(
        anstream::stdout(),
        "{GOOD}wrote{GOOD:#} {} ({calls} calls)",
        output.display()
    );
    ExitCode::SUCCESS
}
