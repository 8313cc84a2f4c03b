//! Where two [`Value`]s first differ, as a path into them.

use std::fmt::Write as _;

use super::value::Value;

/// One step of a path into a value.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A struct field.
    Field(String),
    /// A list or tuple element.
    Index(usize),
    /// A map entry, by its key (rendered).
    Key(String),
    /// Inside `Some(...)`.
    Some,
}

/// Renders a path as `.field[2].Some["key"]`.
fn path_to_string(steps: &[Step]) -> String {
    let mut s = String::new();
    for step in steps {
        let _ = match step {
            Step::Field(f) => write!(s, ".{f}"),
            Step::Index(i) => write!(s, "[{i}]"),
            Step::Key(k) => write!(s, "[{k}]"),
            Step::Some => write!(s, ".Some"),
        };
    }
    s
}

/// Where two values first differ.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    /// Path from the root, e.g. `.status.role` or `[1]`; empty for the root.
    pub path: String,
    /// The same path as steps (see [`Value::render_marked`]).
    pub steps: Vec<Step>,
    /// The recorded side, as compact RON.
    pub expected: String,
    /// The actual side, as compact RON.
    pub actual: String,
}

fn differ(path: &[Step], a: &Value, b: &Value) -> Option<Difference> {
    Some(Difference {
        path: path_to_string(path),
        steps: path.to_vec(),
        expected: a.to_string(),
        actual: b.to_string(),
    })
}

fn names_match(a: &Option<String>, b: &Option<String>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => x == y,
        _ => true,
    }
}

pub(super) fn diff(a: &Value, b: &Value, path: &mut Vec<Step>) -> Option<Difference> {
    use Value::*;
    match (a, b) {
        (Int(x), Float(y)) | (Float(y), Int(x)) => {
            if (*x as f64) == *y {
                None
            } else {
                differ(path, a, b)
            }
        }
        (Float(x), Float(y)) => {
            if x == y || (x.is_nan() && y.is_nan()) {
                None
            } else {
                differ(path, a, b)
            }
        }
        (Option(Some(x)), Option(Some(y))) => nested(path, Step::Some, x, y),
        (List(xs), List(ys)) => diff_seq(a, b, xs, ys, path),
        (Tuple(n, xs), Tuple(m, ys)) if names_match(n, m) => diff_seq(a, b, xs, ys, path),
        (Struct(n, xs), Struct(m, ys)) if names_match(n, m) => {
            if xs.len() != ys.len() || xs.iter().zip(ys).any(|((k, _), (j, _))| k != j) {
                return differ(path, a, b);
            }
            xs.iter()
                .zip(ys)
                .find_map(|((k, x), (_, y))| nested(path, Step::Field(k.clone()), x, y))
        }
        (Map(xs), Map(ys)) => {
            if xs.len() != ys.len() || xs.iter().zip(ys).any(|((k, _), (j, _))| !k.matches(j)) {
                return differ(path, a, b);
            }
            xs.iter()
                .zip(ys)
                .find_map(|((k, x), (_, y))| nested(path, Step::Key(k.to_string()), x, y))
        }
        _ => {
            if a == b {
                None
            } else {
                differ(path, a, b)
            }
        }
    }
}

fn nested(path: &mut Vec<Step>, step: Step, x: &Value, y: &Value) -> Option<Difference> {
    path.push(step);
    let d = diff(x, y, path);
    path.pop();
    d
}

fn diff_seq(a: &Value, b: &Value, xs: &[Value], ys: &[Value], path: &mut Vec<Step>) -> Option<Difference> {
    if xs.len() != ys.len() {
        return differ(path, a, b);
    }
    xs.iter()
        .zip(ys)
        .enumerate()
        .find_map(|(i, (x, y))| nested(path, Step::Index(i), x, y))
}
