//! What the subcommands share: reading scenario files, telling errors and
//! faults apart (fault marks in format 2, the `injected` text convention in
//! format 1), formatting one call or mark for a terminal, and the head of a
//! saved run (failure, params, repro hint).

use std::io::Write;
use std::path::Path;

use anstyle::{AnsiColor, Effects, Style};
use rehearse::{Call, Mark, MarkKind, Trace, Value};

/// Exit code: the command found something (a divergence, a bad file).
pub(crate) const FOUND: u8 = 1;
/// Exit code: the command could not do its work (unreadable input, bad use).
pub(crate) const TROUBLE: u8 = 2;

pub(crate) const DIM: Style = Style::new().effects(Effects::DIMMED);
pub(crate) const BOLD: Style = Style::new().effects(Effects::BOLD);
pub(crate) const TIME: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Cyan)));
pub(crate) const ERROR: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)));
pub(crate) const FAULT: Style = Style::new()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Magenta)))
    .effects(Effects::BOLD);
pub(crate) const GOOD: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Green)));
pub(crate) const WARN: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Yellow)));
pub(crate) const NOTE: Style = Style::new().fg_color(Some(anstyle::Color::Ansi(AnsiColor::Blue)));

/// Reads `path` whole. A torn last record (a writer killed mid-line) keeps
/// the complete calls and comes back as a warning; anything else that is
/// wrong is an error naming the file, the line and the column.
pub(crate) fn load(path: &Path) -> Result<(Trace, Option<String>), String> {
    match Trace::read(path) {
        Ok(t) => Ok((t, None)),
        Err(e) if e.truncated_after().is_some() => {
            let trace = Trace::recover(path).map_err(|e| e.to_string())?;
            Ok((trace, Some(e.to_string())))
        }
        Err(e) => Err(e.to_string()),
    }
}

/// Loads `path` for a command that reports a bad file and exits with
/// [`TROUBLE`]; a torn tail is reported as a warning on stderr.
pub(crate) fn load_or_report(path: &Path) -> Option<Trace> {
    match load(path) {
        Ok((trace, warning)) => {
            if let Some(w) = warning {
                let _ = writeln!(anstream::stderr(), "{WARN}warning{WARN:#}: {w}");
            }
            Some(trace)
        }
        Err(e) => {
            let _ = writeln!(anstream::stderr(), "{ERROR}error{ERROR:#}: {e}");
            None
        }
    }
}

/// True when a call's output is an `Err(...)`.
pub(crate) fn is_error(output: &Value) -> bool {
    matches!(output, Value::Tuple(Some(n), _) | Value::Struct(Some(n), _) if n == "Err")
}

/// True when the output is an error a simulation injected: by convention
/// (see `rehearse::InjectFault`) its message says `injected`. Only for
/// files without marks (see [`counts_marks`]).
pub(crate) fn is_injected(output: &Value) -> bool {
    is_error(output) && output.to_string().contains("injected")
}

/// True when a file's faults are its fault marks: format 2 and later, or
/// any file that carries marks. Format 1 files have none, so their faults
/// are told by the `injected` text convention ([`is_injected`]) instead.
pub(crate) fn counts_marks(trace: &Trace) -> bool {
    trace.header().version >= 2 || !trace.marks().is_empty()
}

/// How faults were counted in `trace`, in words.
pub(crate) fn fault_method(trace: &Trace) -> &'static str {
    if counts_marks(trace) {
        "fault marks"
    } else {
        "errors whose text says \"injected\" (format 1 has no fault marks)"
    }
}

/// The marks of `trace` grouped by the call they come before: entry `k`
/// holds the marks between call `k - 1` and call `k`, the last entry those
/// after the last call. Marks whose `before_call` is past the end are
/// kept in the last entry.
pub(crate) fn marks_by_gap(trace: &Trace) -> Vec<Vec<&Mark>> {
    let n = trace.calls().len();
    let mut gaps: Vec<Vec<&Mark>> = vec![Vec::new(); n + 1];
    for m in trace.marks() {
        gaps[m.before_call.min(n)].push(m);
    }
    gaps
}

/// How calls and marks are laid out in columns.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    /// Width of the index column (`#97` is 3).
    pub(crate) index_width: usize,
    /// A time column (when the file has times).
    pub(crate) with_time: bool,
    /// Width of the node column (0: no column).
    pub(crate) node_width: usize,
    /// Cut inputs, outputs and details to this many characters (0: whole).
    pub(crate) max: usize,
    /// Tag errors that say `injected` as faults (format 1 files only).
    pub(crate) injected_text: bool,
}

impl Layout {
    /// The columns that fit `traces` (the index column fits `last_index`).
    pub(crate) fn fit(traces: &[&Trace], last_index: usize, max: usize) -> Self {
        let node_width = traces
            .iter()
            .flat_map(|t| {
                let calls = t.calls().iter().filter_map(|c| c.node.as_deref());
                calls.chain(t.marks().iter().filter_map(|m| m.node.as_deref()))
            })
            .map(|n| n.chars().count())
            .max()
            .unwrap_or(0);
        Self {
            index_width: format!("#{last_index}").len(),
            with_time: traces
                .iter()
                .any(|t| t.calls().iter().any(|c| c.at_us.is_some()) || t.marks().iter().any(|m| m.at_us.is_some())),
            node_width,
            max,
            injected_text: traces.iter().any(|t| !counts_marks(t)),
        }
    }

    /// The time and node columns.
    fn time_and_node(&self, at_us: Option<u64>, node: Option<&str>) -> String {
        let mut s = String::new();
        if self.with_time {
            let t = at_us.map(seconds).unwrap_or_default();
            s.push_str(&format!("{TIME}{t:>10}{TIME:#}  "));
        }
        if self.node_width > 0 {
            let w = self.node_width;
            s.push_str(&format!("{DIM}{:<w$}{DIM:#}  ", node.unwrap_or("")));
        }
        s
    }
}

/// `1.884s`: a virtual time in microseconds, for people.
pub(crate) fn seconds(us: u64) -> String {
    format!("{}.{:03}s", us / 1_000_000, (us % 1_000_000) / 1000)
}

/// The inputs of a call as RON, comma-separated.
pub(crate) fn inputs(call: &Call) -> String {
    let mut s = String::new();
    for (i, v) in call.inputs.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&v.to_string());
    }
    s
}

/// Cuts `text` to `max` characters with an ellipsis (0: no limit).
pub(crate) fn clip(text: &str, max: usize) -> String {
    if max == 0 || text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// One call as a styled line: index, time (when the file has times), node
/// (when it has nodes), call, inputs, output, with errors in red and, in
/// format 1 files, injected faults marked.
pub(crate) fn call_line(call: &Call, layout: &Layout) -> String {
    let (index_width, max) = (layout.index_width, layout.max);
    let mut line = format!("{DIM}{:>index_width$}{DIM:#}  ", format!("#{}", call.index));
    line.push_str(&layout.time_and_node(call.at_us, call.node.as_deref()));
    let output = clip(&call.output.to_string(), max);
    let (style, tag) = if layout.injected_text && is_injected(&call.output) {
        (FAULT, "  [injected fault]")
    } else if is_error(&call.output) {
        (ERROR, "  [error]")
    } else {
        (Style::new(), "")
    };
    line.push_str(&format!(
        "{BOLD}{}{BOLD:#}({}) -> {style}{output}{tag}{style:#}",
        call.name,
        clip(&inputs(call), max)
    ));
    line
}

/// One mark as a styled line in the same columns as the calls, its index
/// column left blank: `! fault net::drop  n0 -> n1: Append(3)` or
/// `# note leader elected`.
pub(crate) fn mark_line(mark: &Mark, layout: &Layout) -> String {
    let w = layout.index_width;
    let mut line = format!("{:>w$}  ", "");
    line.push_str(&layout.time_and_node(mark.at_us, mark.node.as_deref()));
    line.push_str(&mark_text(mark, layout.max, true));
    line
}

/// `! fault net::drop  detail` or `# note text`, styled when `styled`.
pub(crate) fn mark_text(mark: &Mark, max: usize, styled: bool) -> String {
    let (fault, note) = if styled {
        (FAULT, NOTE)
    } else {
        (Style::new(), Style::new())
    };
    match &mark.kind {
        MarkKind::Fault { point, detail } => {
            let mut s = format!("{fault}! fault {point}{fault:#}");
            if let Some(d) = detail {
                s.push_str(&format!("  {}", clip(d, max)));
            }
            s
        }
        MarkKind::Note { text } => format!("{note}# note {}{note:#}", clip(text, max)),
    }
}

/// A mark's identity for comparing two runs: time, node and what it says
/// (not its line in the file).
pub(crate) fn mark_key(mark: &Mark) -> String {
    format!(
        "{:?}|{}|{}",
        mark.at_us,
        mark.node.as_deref().unwrap_or(""),
        mark_text(mark, 0, false)
    )
}

/// Fault and note counts of `trace`'s marks.
pub(crate) fn mark_counts(trace: &Trace) -> (usize, usize) {
    let faults = trace
        .marks()
        .iter()
        .filter(|m| matches!(m.kind, MarkKind::Fault { .. }))
        .count();
    (faults, trace.marks().len() - faults)
}

/// The lines under a file's name for a saved run: how it failed, its
/// params, and a hint to re-run it (see [`repro`]); empty for others.
pub(crate) fn head_lines(path: &Path, trace: &Trace) -> Vec<String> {
    let h = trace.header();
    let mut lines = Vec::new();
    if let Some(f) = &h.failure {
        let mut message = f.message.lines();
        let first = message.next().unwrap_or("");
        lines.push(format!("{ERROR}failure{ERROR:#} ({}): {first}", f.kind));
        for more in message {
            lines.push(format!("  {more}"));
        }
    }
    if !h.params.is_empty() {
        let params: Vec<String> = h.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        lines.push(format!("{BOLD}params{BOLD:#}: {}", params.join(", ")));
    }
    if let Some(r) = repro(path, trace) {
        lines.push(format!("{BOLD}repro{BOLD:#}: {r}"));
    }
    lines
}

/// A hint to re-run a saved simulated run, for files with a seed:
/// `REHEARSE_REPLAY=<file> <command>`, which re-runs the file's seed (and
/// choices, for a shrunk file) and compares the new run with the file.
/// The file is named by its absolute path (the command may run in another
/// directory: `cargo test` runs in the package's). The command itself
/// (the test or example that ran the sweep) is not in the file, so it
/// stays `<command>`; the run's params follow as the sweep's repro line
/// lists them, `  # params: name=value ...` (shell-quoted), to be passed as
/// that command takes them.
pub(crate) fn repro(path: &Path, trace: &Trace) -> Option<String> {
    let h = trace.header();
    h.seed?;
    let quote = |s: &str| shlex::try_quote(s).map_or_else(|_| format!("{s:?}"), |q| q.into_owned());
    let file = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let mut line = format!("REHEARSE_REPLAY={} <command>", quote(&file.display().to_string()));
    if !h.params.is_empty() {
        let params: Vec<String> = h.params.iter().map(|(k, v)| format!("{k}={}", quote(v))).collect();
        line.push_str(&format!("  # params: {}", params.join(" ")));
    }
    Some(line)
}

/// Items of a lane or filter that have no node.
pub(crate) const NO_NODE: &str = "(no node)";

/// Node names in a natural order: `n2` before `n10`, then by text;
/// [`NO_NODE`] last.
pub(crate) fn node_order(a: &str, b: &str) -> std::cmp::Ordering {
    if (a == NO_NODE) != (b == NO_NODE) {
        return (a == NO_NODE).cmp(&(b == NO_NODE));
    }
    let split = |s: &str| {
        let digits = s.len() - s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
        let (stem, num) = s.split_at(s.len() - digits);
        (stem.to_string(), num.parse::<u128>().ok())
    };
    let ((sa, na), (sb, nb)) = (split(a), split(b));
    sa.cmp(&sb).then(na.cmp(&nb)).then(a.cmp(b))
}

/// A pattern on call names: `*` matches any run of characters; a pattern
/// without `*` matches names containing it.
pub(crate) fn name_matches(pattern: &str, name: &str) -> bool {
    if !pattern.contains('*') {
        return name.contains(pattern);
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// A short description of a file's header.
pub(crate) fn describe(trace: &Trace) -> String {
    let h = trace.header();
    let mut parts = vec![format!("{} calls", trace.calls().len())];
    if counts_marks(trace) {
        let (faults, notes) = mark_counts(trace);
        parts.push(format!("{faults} {}", if faults == 1 { "fault" } else { "faults" }));
        parts.push(format!("{notes} {}", if notes == 1 { "note" } else { "notes" }));
    }
    parts.push(format!("format {}", h.version));
    if !h.tool.is_empty() {
        parts.push(h.tool.clone());
    }
    if let Some(seed) = h.seed {
        parts.push(format!("seed {seed}"));
    }
    if let Some(created) = &h.created {
        parts.push(format!("recorded {created}"));
    }
    if !h.worlds.is_empty() {
        parts.push(format!("worlds {}", h.worlds.join(", ")));
    }
    for (k, v) in &h.meta {
        if k == "choices" {
            parts.push(format!("choices: {}", choices_summary(v)));
        } else {
            parts.push(format!("{k}: {}", clip(v, META_SHOWN)));
        }
    }
    parts.join(", ")
}

/// Characters of a metadata value a header description shows.
const META_SHOWN: usize = 80;
/// Choices a header description shows of a shrunk file's sequence.
const CHOICES_SHOWN: usize = 3;

/// `312 (0, ff, 3, ...)`: how many choices a shrunk file records and the
/// first few (the whole list is hundreds of hex values, in the header
/// line of the file for a program to read).
fn choices_summary(text: &str) -> String {
    let all: Vec<&str> = text.split(',').map(str::trim).filter(|c| !c.is_empty()).collect();
    if all.is_empty() {
        return "0".to_string();
    }
    let mut shown: Vec<&str> = all.iter().take(CHOICES_SHOWN).copied().collect();
    if all.len() > CHOICES_SHOWN {
        shown.push("...");
    }
    format!("{} ({})", all.len(), shown.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_sort_naturally_and_no_node_last() {
        let mut nodes = vec![NO_NODE, "n10", "n2", "a", "n1", "n"];
        nodes.sort_by(|a, b| node_order(a, b));
        assert_eq!(nodes, ["a", "n", "n1", "n2", "n10", NO_NODE]);
    }

    #[test]
    fn patterns_match_like_globs() {
        assert!(name_matches("Cluster", "Cluster::node_status"));
        assert!(name_matches("*::node_*", "Cluster::node_status"));
        assert!(name_matches("Cluster::*", "Cluster::promote"));
        assert!(name_matches("*status", "Cluster::node_status"));
        assert!(!name_matches("Host::*", "Cluster::node_status"));
        assert!(!name_matches("a*b*c", "acb"));
        assert!(name_matches("a*b*c", "axbyc"));
        assert!(!name_matches("ab*ba", "aba"));
    }

    #[test]
    fn a_header_shows_a_count_of_choices_not_the_list() {
        assert_eq!(choices_summary("0,ff,3,7,1"), "5 (0, ff, 3, ...)");
        assert_eq!(choices_summary("0,ff"), "2 (0, ff)");
        assert_eq!(choices_summary(""), "0");
        let list: Vec<String> = (0..400u64).map(|c| format!("{c:x}")).collect();
        let text = format!(
            "(rehearse: 2, tool: \"t\", seed: 4, meta: {{\"choices\": \"{}\"}})\n",
            list.join(",")
        );
        let trace = Trace::parse(&text).unwrap();
        let d = describe(&trace);
        assert!(d.ends_with("seed 4, choices: 400 (0, 1, 2, ...)"), "{d}");
    }

    #[test]
    fn errors_and_injected_faults_are_told_apart() {
        let ok = Value::parse("Ok(3)").unwrap();
        let err = Value::parse("Err(Timeout)").unwrap();
        let injected = Value::parse("Err(Unavailable(\"injected: request timed out\"))").unwrap();
        assert!(!is_error(&ok));
        assert!(is_error(&err) && !is_injected(&err));
        assert!(is_injected(&injected));
        assert_eq!(seconds(1_884_000), "1.884s");
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}
