//! What the subcommands share: reading scenario files, telling errors and
//! injected faults apart, and formatting one call for a terminal.

use std::io::Write;
use std::path::Path;

use anstyle::{AnsiColor, Effects, Style};
use rehearse::{Call, Trace, Value};

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
/// (see `rehearse::InjectFault`) its message says `injected`.
pub(crate) fn is_injected(output: &Value) -> bool {
    is_error(output) && output.to_string().contains("injected")
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

/// One call as a styled line: index, time (when the file has times), call,
/// inputs, output, with errors in red and injected faults marked.
pub(crate) fn call_line(call: &Call, index_width: usize, with_time: bool, max: usize) -> String {
    let mut line = format!("{DIM}{:>index_width$}{DIM:#}  ", format!("#{}", call.index));
    if with_time {
        let t = call.at_us.map(seconds).unwrap_or_default();
        line.push_str(&format!("{TIME}{t:>10}{TIME:#}  "));
    }
    let output = clip(&call.output.to_string(), max);
    let (style, tag) = if is_injected(&call.output) {
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
    let mut parts = vec![
        format!("{} calls", trace.calls().len()),
        format!("format {}", h.version),
    ];
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
        parts.push(format!("{k}: {v}"));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

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
