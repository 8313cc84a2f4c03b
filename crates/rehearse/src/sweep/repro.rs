//! The repro line: `REHEARSE_SEED=N <command>`, with the command's
//! `{param}` placeholders filled from the failing run's parameters (its
//! scenario header), so the line cannot drift from the flags the run had.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A parsed [`Sweep::command`](super::Sweep::command) template, or the
/// guessed command when none was given.
#[derive(Debug, Clone)]
pub(super) struct Repro {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Param(String),
    /// `{name?text}`: `text` when the parameter is on, nothing when off.
    Flag(String, String),
}

/// Whether a parameter's value turns a `{name?text}` flag on: anything
/// but `false`, `0` and the empty string.
fn is_on(value: &str) -> bool {
    !matches!(value.trim(), "" | "false" | "0")
}

impl Repro {
    /// Parses `template` (`{name}` placeholders, `{{` and `}}` for braces)
    /// and checks that every placeholder names a parameter declared with
    /// `Sweep::param`: those are known before any run, so a typo is an
    /// error when the sweep starts rather than a blank in a repro line.
    pub(super) fn new(template: &str, declared: &BTreeMap<String, String>) -> Result<Self, String> {
        let parts = parse(template)?;
        for part in &parts {
            if let Part::Param(name) | Part::Flag(name, _) = part {
                if !declared.contains_key(name) {
                    let known = if declared.is_empty() {
                        "it declares none".to_string()
                    } else {
                        format!(
                            "it declares {}",
                            declared.keys().cloned().collect::<Vec<_>>().join(", ")
                        )
                    };
                    return Err(format!(
                        "the repro command `{template}` has the placeholder {{{name}}}, which names no parameter of this sweep \
                         ({known}); declare it with Sweep::param(\"{name}\", value), or write {{{{ and }}}} for literal braces"
                    ));
                }
            }
        }
        Ok(Self { parts })
    }

    /// A guessed command, taken as it is (no placeholders).
    pub(super) fn guessed(command: String) -> Self {
        Self {
            parts: vec![Part::Text(command)],
        }
    }

    /// `VAR=value command`, placeholders filled from `params` (shell-quoted
    /// where needed); parameters no placeholder used are listed after the
    /// command as a shell comment (`# params: nodes=3`), so the line always
    /// shows every parameter the run had.
    pub(super) fn line(&self, var: &str, value: &str, params: &BTreeMap<String, String>) -> String {
        let mut s = format!("{var}={} ", shell_quote(value));
        let mut used = Vec::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => s.push_str(t),
                Part::Param(name) => {
                    used.push(name.as_str());
                    match params.get(name) {
                        Some(v) => s.push_str(&shell_quote(v)),
                        // Declared on the sweep, so set on every run; a run
                        // cannot unset it. Kept visible if it ever is not.
                        None => {
                            let _ = write!(s, "{{{name}}}");
                        }
                    }
                }
                Part::Flag(name, text) => {
                    used.push(name.as_str());
                    match params.get(name) {
                        Some(v) if is_on(v) => s.push_str(text),
                        Some(_) => {}
                        None => {
                            let _ = write!(s, "{{{name}?{text}}}");
                        }
                    }
                }
            }
        }
        let rest: Vec<String> = params
            .iter()
            .filter(|(k, _)| !used.contains(&k.as_str()))
            .map(|(k, v)| format!("{k}={}", shell_quote(v)))
            .collect();
        if !rest.is_empty() {
            let _ = write!(s, "  # params: {}", rest.join(" "));
        }
        s
    }
}

fn parse(template: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut chars = template.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|(_, c)| *c) == Some('{') => {
                chars.next();
                text.push('{');
            }
            '}' if chars.peek().map(|(_, c)| *c) == Some('}') => {
                chars.next();
                text.push('}');
            }
            '{' => {
                let mut name = String::new();
                let mut closed = false;
                for (_, c) in chars.by_ref() {
                    if c == '}' {
                        closed = true;
                        break;
                    }
                    name.push(c);
                }
                if !closed {
                    return Err(format!(
                        "the repro command `{template}` has a `{{` at byte {at} that is never closed (write {{{{ for a literal brace)"
                    ));
                }
                let (name, flag) = match name.split_once('?') {
                    Some((name, text)) => (name, Some(text.to_string())),
                    None => (name.as_str(), None),
                };
                let name = name.trim().to_string();
                if name.is_empty() || name.contains('{') || flag.as_ref().is_some_and(|t| t.contains('{')) {
                    return Err(format!(
                        "the repro command `{template}` has an empty or broken placeholder at byte {at} (write {{name}}, or {{{{ for a literal brace)"
                    ));
                }
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(match flag {
                    Some(text) => Part::Flag(name, text),
                    None => Part::Param(name),
                });
            }
            '}' => {
                return Err(format!(
                    "the repro command `{template}` has a `}}` at byte {at} that closes nothing (write }}}} for a literal brace)"
                ));
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    Ok(parts)
}

/// `value` as one shell word: as it is when it is plain, else single-quoted.
fn shell_quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c));
    if plain {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn placeholders_are_filled_and_the_rest_listed() {
        let declared = params(&[("bug", "x"), ("nodes", "3")]);
        let r = Repro::new("cargo run --example my_sim -- --bug {bug} --seeds 1", &declared).unwrap();
        let run = params(&[("bug", "lost-sync"), ("nodes", "3"), ("note", "two words")]);
        assert_eq!(
            r.line("REHEARSE_SEED", "7", &run),
            "REHEARSE_SEED=7 cargo run --example my_sim -- --bug lost-sync --seeds 1  # params: nodes=3 note='two words'"
        );
        let r = Repro::new("run {{literal}} --bug {bug} --nodes {nodes}", &declared).unwrap();
        assert_eq!(
            r.line(
                "REHEARSE_REPLAY",
                "dir with space/seed-7.ron",
                &params(&[("bug", "it's"), ("nodes", "3")])
            ),
            r"REHEARSE_REPLAY='dir with space/seed-7.ron' run {literal} --bug 'it'\''s' --nodes 3"
        );
        assert_eq!(
            Repro::guessed("cargo test -- t --exact".into()).line("REHEARSE_SEED", "2", &BTreeMap::new()),
            "REHEARSE_SEED=2 cargo test -- t --exact"
        );
    }

    #[test]
    fn flags_insert_their_text_only_when_on() {
        let declared = params(&[("datagrams", "false"), ("bug", "x")]);
        let r = Repro::new("sim --seeds 1{datagrams? --datagrams} --bug {bug}", &declared).unwrap();
        let line = |d: &str| r.line("REHEARSE_SEED", "4", &params(&[("datagrams", d), ("bug", "x")]));
        assert_eq!(line("true"), "REHEARSE_SEED=4 sim --seeds 1 --datagrams --bug x");
        assert_eq!(line("1"), "REHEARSE_SEED=4 sim --seeds 1 --datagrams --bug x");
        // Off: nothing, and the parameter is not listed as unused either.
        assert_eq!(line("false"), "REHEARSE_SEED=4 sim --seeds 1 --bug x");
        assert_eq!(line(""), "REHEARSE_SEED=4 sim --seeds 1 --bug x");
        assert_eq!(line("0"), "REHEARSE_SEED=4 sim --seeds 1 --bug x");
        // A flag must name a declared parameter too.
        let err = Repro::new("sim {datagram?--datagrams}", &declared).unwrap_err();
        assert!(err.contains("{datagram}"), "{err}");
        assert!(
            Repro::new("sim {?--datagrams}", &declared)
                .unwrap_err()
                .contains("empty or broken")
        );
    }

    #[test]
    fn bad_templates_are_errors_that_say_why() {
        let declared = params(&[("bug", "x")]);
        let err = Repro::new("run --nodes {nodes}", &declared).unwrap_err();
        assert!(
            err.contains("{nodes}") && err.contains("it declares bug") && err.contains("Sweep::param(\"nodes\""),
            "{err}"
        );
        let err = Repro::new("run {bug", &declared).unwrap_err();
        assert!(err.contains("never closed"), "{err}");
        let err = Repro::new("run bug}", &declared).unwrap_err();
        assert!(err.contains("closes nothing"), "{err}");
        let err = Repro::new("run {}", &declared).unwrap_err();
        assert!(err.contains("empty or broken placeholder"), "{err}");
        let err = Repro::new("run ${HOME}", &BTreeMap::new()).unwrap_err();
        assert!(err.contains("it declares none"), "{err}");
        assert!(Repro::new("run ${{HOME}}", &BTreeMap::new()).is_ok());
    }
}
