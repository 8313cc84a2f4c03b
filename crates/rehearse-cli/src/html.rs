//! `rehearse html`: one self-contained HTML page (no network, no external
//! assets) showing a run as a timeline: one lane per node when the file's
//! calls and marks name nodes, else one per world trait (or per instance
//! when several scenarios of one simulated seed are given); errors, fault
//! marks (point and detail on hover) and notes marked; the failure of a
//! saved run at the top; every call expandable to its full inputs and
//! output, and a search box. The list renders only the rows in
//! view once a file has more than a few thousand calls, so 100k-call files
//! stay responsive.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rehearse::{MarkKind, Trace};
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

/// One row of the page: a call, or a mark before call `k`.
#[derive(Clone, Copy)]
enum Item {
    Call(usize),
    Mark(usize),
}

/// The lanes of the page and the lane of each item. Several files: a lane
/// per file (per file and node when items name one). One file: a lane per
/// node, in natural order (`n2` before `n10`), and items without a node in
/// a lane per world trait as before (a file without nodes keeps exactly
/// its lanes per trait).
struct Lanes {
    names: Vec<String>,
}

impl Lanes {
    fn of(&mut self, name: String) -> usize {
        match self.names.iter().position(|l| *l == name) {
            Some(i) => i,
            None => {
                self.names.push(name);
                self.names.len() - 1
            }
        }
    }
}

/// The items of one file in file order: the marks before call `k`, then
/// call `k`, then the marks after the last call.
fn items(trace: &Trace) -> Vec<Item> {
    let mut by_gap: Vec<Vec<usize>> = vec![Vec::new(); trace.calls().len() + 1];
    for (m, mark) in trace.marks().iter().enumerate() {
        by_gap[mark.before_call.min(trace.calls().len())].push(m);
    }
    let mut items = Vec::with_capacity(trace.calls().len() + trace.marks().len());
    for (k, gap) in by_gap.into_iter().enumerate() {
        items.extend(gap.into_iter().map(Item::Mark));
        if k < trace.calls().len() {
            items.push(Item::Call(k));
        }
    }
    items
}

/// The page for `traces` (with their paths).
pub(crate) fn page(traces: &[(PathBuf, Trace)]) -> String {
    let per_file = traces.len() > 1;
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
    let mut lanes = Lanes { names: Vec::new() };
    if per_file {
        for label in &labels {
            lanes.of(label.clone());
        }
    } else if let Some((_, t)) = traces.first() {
        let mut nodes: Vec<&str> = t
            .calls()
            .iter()
            .filter_map(|c| c.node.as_deref())
            .chain(t.marks().iter().filter_map(|m| m.node.as_deref()))
            .collect();
        nodes.sort_by(|a, b| common::node_order(a, b));
        nodes.dedup();
        for n in nodes {
            lanes.of(n.to_string());
        }
    }
    // Every item with its time (a mark without one takes the time of the
    // call before it, so that it sits in place on a timed axis).
    let mut rows: Vec<(Option<u64>, usize, usize, Item)> = Vec::new();
    for (f, (_, t)) in traces.iter().enumerate() {
        let mut last_time = t.calls().iter().find_map(|c| c.at_us);
        for (pos, item) in items(t).into_iter().enumerate() {
            let at = match item {
                Item::Call(k) => t.calls()[k].at_us,
                Item::Mark(m) => t.marks()[m].at_us.or(last_time),
            };
            if at.is_some() {
                last_time = at;
            }
            rows.push((at, f, pos, item));
        }
    }
    // Merge several files by virtual time when every item has one (stable:
    // file order, then the order in the file); else keep file order.
    if per_file && rows.iter().all(|r| r.0.is_some()) {
        rows.sort_by_key(|r| (r.0, r.1, r.2));
    }
    let mut out = Vec::with_capacity(rows.len());
    let (mut faults, mut notes) = (0usize, 0usize);
    for (ordinal, (at, f, _, item)) in rows.into_iter().enumerate() {
        let t = &traces[f].1;
        let node = match item {
            Item::Call(k) => t.calls()[k].node.as_deref(),
            Item::Mark(m) => t.marks()[m].node.as_deref(),
        };
        let lane = match (per_file, node) {
            (true, Some(n)) => lanes.of(format!("{}/{n}", labels[f])),
            (true, None) => lanes.of(labels[f].clone()),
            (false, Some(n)) => lanes.of(n.to_string()),
            (false, None) => match item {
                Item::Call(k) => {
                    let name = &t.calls()[k].name;
                    lanes.of(name.split("::").next().unwrap_or(name).to_string())
                }
                Item::Mark(_) => lanes.of(common::NO_NODE.to_string()),
            },
        };
        match item {
            Item::Call(k) => {
                let c = &t.calls()[k];
                let injected = !common::counts_marks(t) && common::is_injected(&c.output);
                let flags = u8::from(common::is_error(&c.output)) | (u8::from(injected) << 1);
                out.push(json!([
                    lane,
                    c.index,
                    c.at_us,
                    c.name,
                    common::inputs(c),
                    c.output.to_string(),
                    flags,
                    f,
                    ordinal,
                    node
                ]));
            }
            Item::Mark(m) => {
                let mark = &t.marks()[m];
                let (name, text, flags) = match &mark.kind {
                    MarkKind::Fault { point, detail } => {
                        faults += 1;
                        (point.as_str(), detail.clone().unwrap_or_default(), 4u8)
                    }
                    MarkKind::Note { text } => {
                        notes += 1;
                        ("note", text.clone(), 8u8)
                    }
                };
                out.push(json!([
                    lane,
                    mark.before_call,
                    at,
                    name,
                    text,
                    "",
                    flags,
                    f,
                    ordinal,
                    node
                ]));
            }
        }
    }
    let files: Vec<String> = traces
        .iter()
        .map(|(p, t)| format!("{}: {}", p.display(), common::describe(t)))
        .collect();
    let heads: Vec<Json> = traces
        .iter()
        .filter(|(_, t)| t.header().failure.is_some() || !t.header().params.is_empty())
        .map(|(p, t)| {
            let h = t.header();
            let params: Vec<String> = h.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
            json!({
                "file": p.display().to_string(),
                "failure": h.failure.as_ref().map(|f| json!({ "kind": f.kind, "message": f.message })),
                "params": params.join(", "),
                "repro": common::repro(p, t),
            })
        })
        .collect();
    let data = json!({
        "lanes": lanes.names,
        "files": files,
        "heads": heads,
        "faults": faults,
        "notes": notes,
        "calls": Json::Array(out),
    });
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
    let (faults, notes) = traces.iter().fold((0, 0), |(f, n), (_, t)| {
        let (tf, tn) = common::mark_counts(t);
        (f + tf, n + tn)
    });
    let marks = if traces.iter().any(|(_, t)| common::counts_marks(t)) {
        format!(", {faults} faults, {notes} notes")
    } else {
        String::new()
    };
    let _ = writeln!(
        anstream::stdout(),
        "{GOOD}wrote{GOOD:#} {} ({calls} calls{marks})",
        output.display()
    );
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use rehearse::{Header, Trace};

    use super::*;
    use crate::fixtures::{call, failing_run, fault};

    /// The data the page embeds.
    fn data(page: &str) -> Json {
        let start = page.find("type=\"application/json\">").unwrap() + "type=\"application/json\">".len();
        let end = start + page[start..].find("</script>").unwrap();
        serde_json::from_str(&page[start..end]).unwrap()
    }

    #[test]
    fn one_file_with_nodes_gets_a_lane_per_node_and_its_marks_in_place() {
        let page = page(&[(PathBuf::from("run.ron"), failing_run())]);
        let d = data(&page);
        // Nodes first in natural order, then, as they come, the lane of
        // the note without a node and the trait of the call without one.
        assert_eq!(d["lanes"], json!(["n0", "n1", "n2", "(no node)", "Network"]));
        assert_eq!((d["faults"].as_u64(), d["notes"].as_u64()), (Some(3), Some(2)));
        let rows = d["calls"].as_array().unwrap();
        let kinds: Vec<String> = rows
            .iter()
            .map(|r| match r[6].as_u64().unwrap() {
                4 => format!("!{}", r[3].as_str().unwrap()),
                8 => "#".to_string(),
                _ => format!("{}", r[1]),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "#",
                "0",
                "!net::drop",
                "1",
                "!net::crash",
                "#",
                "2",
                "3",
                "!net::partition"
            ]
        );
        // The drop: lane n0, before call 1, at 15 ms, its detail.
        assert_eq!(
            rows[2],
            json!([0, 1, 15000, "net::drop", "n0 -> n1: Append(3)", "", 4, 0, 2, "n0"])
        );
        // Call #2 in lane n2, an error, its node.
        assert_eq!(rows[6][0], 2);
        assert_eq!(rows[6][6], 1);
        assert_eq!(rows[6][9], "n2");
        let head = &d["heads"][0];
        assert_eq!(head["failure"]["kind"], "two leaders");
        assert_eq!(head["params"], "bug=stale read, nodes=3");
        assert_eq!(
            head["repro"],
            "REHEARSE_REPLAY=run.ron <command>  # params: bug='stale read' nodes=3"
        );
    }

    #[test]
    fn a_file_without_nodes_keeps_a_lane_per_trait_and_format_1_keeps_the_injected_flag() {
        let injected = "Err(Unavailable(\"injected: timeout\"))";
        let calls = vec![
            call(0, 1, None, "Cluster::status", "Ok(())"),
            call(1, 2, None, "Election::leader", injected),
        ];
        let v1 = Trace::from_parts(
            Header {
                version: 1,
                ..Header::default()
            },
            calls.clone(),
        );
        let d = data(&page(&[(PathBuf::from("v1.ron"), v1)]));
        assert_eq!(d["lanes"], json!(["Cluster", "Election"]));
        assert_eq!(d["calls"][1][6], 3, "an error, injected by the text convention");
        assert_eq!(d["heads"], json!([]));
        let v2 = Trace::from_parts(
            Header {
                version: 2,
                ..Header::default()
            },
            calls,
        )
        .with_marks(vec![fault(1, 2, "db", "disk::torn", None)]);
        let d = data(&page(&[(PathBuf::from("v2.ron"), v2)]));
        assert_eq!(d["lanes"], json!(["db", "Cluster", "Election"]));
        assert_eq!(d["calls"][2][6], 1, "format 2: only an error; its faults are marks");
        assert_eq!(d["calls"][1][3], "disk::torn");
    }

    #[test]
    fn several_files_get_a_lane_per_file_and_node() {
        let a = failing_run();
        let d = data(&page(&[
            (PathBuf::from("a.ron"), a.clone()),
            (PathBuf::from("b.ron"), a),
        ]));
        let lanes: Vec<&str> = d["lanes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap())
            .collect();
        assert_eq!(lanes[..2], ["a", "b"]);
        assert!(lanes.contains(&"a/n0") && lanes.contains(&"b/n2"), "{lanes:?}");
        // Merged by time: both notes at 0 ms first, file a's before b's.
        assert_eq!(
            (d["calls"][0][7].as_u64(), d["calls"][1][7].as_u64()),
            (Some(0), Some(1))
        );
    }
}
