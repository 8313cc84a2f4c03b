//! [`Header`]: line 1 of a scenario file.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::FORMAT_VERSION;
use crate::ron::{Value, write_str};

/// Line 1 of a scenario file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Header {
    /// Format version (`rehearse: 1`).
    pub version: u32,
    /// Name and version of the tool that wrote the file.
    pub tool: String,
    /// Wall-clock creation time (RFC 3339), for recordings of real runs.
    /// Simulations leave it out so that the same seed gives the same bytes.
    pub created: Option<String>,
    /// The seed, for simulated runs.
    pub seed: Option<u64>,
    /// The world traits recorded, when the writer said.
    pub worlds: Vec<String>,
    /// Free-form metadata.
    pub meta: BTreeMap<String, String>,
    /// The run's parameters (flags, sizes) a simulation set with
    /// `Sim::set_param`: what re-running it needs beside the seed.
    pub params: BTreeMap<String, String>,
    /// How the run failed, for a saved failing simulation (a sweep writes
    /// it into every tape of a failing run).
    pub failure: Option<RunFailure>,
}

/// How a saved run failed: the [`Failure`](crate::Failure)'s kind and message.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunFailure {
    /// What the shrinker kept the same (the violated invariant).
    pub kind: String,
    /// The message.
    pub message: String,
}

impl Header {
    /// A header for this build's format version and tool.
    pub fn new() -> Self {
        Self {
            version: FORMAT_VERSION,
            tool: concat!("rehearse ", env!("CARGO_PKG_VERSION")).to_string(),
            ..Self::default()
        }
    }

    /// The header as one line of RON (no newline).
    pub fn to_line(&self) -> String {
        let mut s = String::with_capacity(96);
        let _ = write!(s, "(rehearse: {}, tool: ", self.version);
        write_str(&mut s, &self.tool);
        if let Some(created) = &self.created {
            s.push_str(", created: ");
            write_str(&mut s, created);
        }
        if let Some(seed) = self.seed {
            let _ = write!(s, ", seed: {seed}");
        }
        if !self.worlds.is_empty() {
            s.push_str(", worlds: [");
            for (i, w) in self.worlds.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                write_str(&mut s, w);
            }
            s.push(']');
        }
        write_map(&mut s, "meta", &self.meta);
        write_map(&mut s, "params", &self.params);
        if let Some(failure) = &self.failure {
            s.push_str(", failure: (kind: ");
            write_str(&mut s, &failure.kind);
            s.push_str(", message: ");
            write_str(&mut s, &failure.message);
            s.push(')');
        }
        s.push(')');
        s
    }

    /// The choice sequence a sweep saved in `meta.choices` (a shrunk or
    /// replayed run), to re-run with [`Sim::from_choices`](crate::Sim::from_choices);
    /// `Ok(None)` when there is none, an error when it does not decode.
    pub fn choices(&self) -> Result<Option<Vec<u64>>, String> {
        self.meta
            .get("choices")
            .map(|text| crate::sim::decode_choices(text))
            .transpose()
    }

    pub(super) fn from_value(v: &Value) -> Result<Self, String> {
        let Value::Struct(_, _) = v else {
            return Err(format!(
                "not a rehearse scenario: line 1 must be a header like `(rehearse: {FORMAT_VERSION}, tool: \"...\")`, found a {}",
                v.kind()
            ));
        };
        let version = match v.field("rehearse") {
            Some(Value::Int(n)) if *n >= 0 && *n <= i128::from(u32::MAX) => *n as u32,
            Some(other) => {
                return Err(format!(
                    "header field `rehearse` must be a version number, found `{other}`"
                ));
            }
            None => {
                return Err(format!(
                    "not a rehearse scenario: the header has no `rehearse: {FORMAT_VERSION}` version field"
                ));
            }
        };
        let text = |name: &str| -> Result<Option<String>, String> {
            match v.field(name) {
                None | Some(Value::Option(None)) => Ok(None),
                Some(Value::Str(s)) => Ok(Some(s.clone())),
                Some(Value::Option(Some(b))) if matches!(**b, Value::Str(_)) => Ok(b.as_str().map(str::to_string)),
                Some(other) => Err(format!("header field `{name}` must be a string, found `{other}`")),
            }
        };
        let seed = match v.field("seed") {
            None | Some(Value::Option(None)) => None,
            Some(Value::Int(n)) if *n >= 0 && *n <= i128::from(u64::MAX) => Some(*n as u64),
            Some(Value::Option(Some(b))) if matches!(**b, Value::Int(n) if n >= 0 && n <= i128::from(u64::MAX)) => {
                match **b {
                    Value::Int(n) => Some(n as u64),
                    _ => None,
                }
            }
            Some(other) => {
                return Err(format!(
                    "header field `seed` must be an unsigned integer, found `{other}`"
                ));
            }
        };
        let worlds = match v.field("worlds") {
            None => Vec::new(),
            Some(Value::List(items)) => items
                .iter()
                .map(|w| {
                    w.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("header field `worlds` must list strings, found `{w}`"))
                })
                .collect::<Result<_, _>>()?,
            Some(other) => return Err(format!("header field `worlds` must be a list, found `{other}`")),
        };
        let meta = read_map(v, "meta")?;
        let params = read_map(v, "params")?;
        let failure = match v.field("failure") {
            None | Some(Value::Option(None)) => None,
            Some(Value::Option(Some(b))) => Some(read_failure(b)?),
            Some(f) => Some(read_failure(f)?),
        };
        Ok(Self {
            version,
            tool: text("tool")?.unwrap_or_default(),
            created: text("created")?,
            seed,
            worlds,
            meta,
            params,
            failure,
        })
    }
}

impl From<&crate::Failure> for RunFailure {
    fn from(f: &crate::Failure) -> Self {
        Self {
            kind: f.kind().to_string(),
            message: f.message().to_string(),
        }
    }
}

/// `, NAME: {"k": "v", ...}`, or nothing for an empty map.
fn write_map(s: &mut String, name: &str, map: &BTreeMap<String, String>) {
    if map.is_empty() {
        return;
    }
    s.push_str(", ");
    s.push_str(name);
    s.push_str(": {");
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        write_str(s, k);
        s.push_str(": ");
        write_str(s, v);
    }
    s.push('}');
}

/// A string-to-string header map (`meta`, `params`). Keys must be strings;
/// a value written by hand as a number or a name (`{"nodes": 3}`) is kept
/// as its text, but a list, map or struct is an error.
fn read_map(header: &Value, name: &str) -> Result<BTreeMap<String, String>, String> {
    match header.field(name) {
        None => Ok(BTreeMap::new()),
        Some(Value::Map(entries)) => entries
            .iter()
            .map(|(k, v)| {
                let Value::Str(k) = k else {
                    return Err(format!(
                        "header field `{name}` must map strings to strings, found the key `{k}`"
                    ));
                };
                match v {
                    Value::Str(v) => Ok((k.clone(), v.clone())),
                    Value::Int(_) | Value::Float(_) | Value::Bool(_) | Value::Char(_) | Value::Ident(_) => {
                        Ok((k.clone(), v.to_string()))
                    }
                    other => Err(format!(
                        "header field `{name}` must map strings to strings, found `{other}` for \"{k}\""
                    )),
                }
            })
            .collect(),
        Some(other) => Err(format!(
            "header field `{name}` must be a map like `{{\"key\": \"value\"}}`, found `{other}`"
        )),
    }
}

/// `failure: (kind: "...", message: "...")`; other fields are ignored, as
/// unknown header fields are.
fn read_failure(v: &Value) -> Result<RunFailure, String> {
    let Value::Struct(_, fields) = v else {
        return Err(format!(
            "header field `failure` must be `(kind: \"...\", message: \"...\")`, found `{v}`"
        ));
    };
    let mut failure = RunFailure::default();
    let (mut kind, mut message) = (false, false);
    for (key, value) in fields {
        let slot = match key.as_str() {
            "kind" => {
                kind = true;
                &mut failure.kind
            }
            "message" => {
                message = true;
                &mut failure.message
            }
            // Like unknown header fields, unknown fields here are left for
            // newer readers.
            _ => continue,
        };
        match value {
            Value::Str(text) => *slot = text.clone(),
            other => {
                return Err(format!(
                    "header field `failure.{key}` must be a string, found `{other}`"
                ));
            }
        }
    }
    match (kind, message) {
        (true, true) => Ok(failure),
        (false, _) => Err("header field `failure` has no `kind`".to_string()),
        (_, false) => Err("header field `failure` has no `message`".to_string()),
    }
}
