//! Comparing two runs call by call: a saved scenario and a new run of the
//! same seed, for the sweep's re-runs (`REHEARSE_REPLAY`, `REHEARSE_SEED`).
//! Unlike a [`Replayer`](super::Replayer), which hands the recorded outputs
//! to the code, both runs here ran the simulation, so outputs are compared
//! too.

use std::path::Path;

use super::{CONTEXT_CALLS, Divergence, DivergenceKind, describe_matched, shorten};
use crate::format::{Call, Trace};

/// What to do about a difference between a saved run and its re-run.
const RERUN_ADVICE: &str = "the saved file is the run from before your change (code or parameters): \
     if the change is a fix, this is where the run now goes another way; \
     run the sweep again to save what fails now";

/// Compares the calls of `new` (a re-run) with those of `saved`: names,
/// nodes, inputs and outputs, as values (virtual times are not compared).
/// `Ok(n)`: all `n` calls are the same; otherwise the first difference,
/// located in the saved file.
#[allow(clippy::result_large_err)]
pub(crate) fn compare_calls(saved: &Trace, new: &Trace) -> Result<usize, Divergence> {
    let (a, b) = (saved.calls(), new.calls());
    for i in 0..a.len().max(b.len()) {
        let difference = match (a.get(i), b.get(i)) {
            (Some(x), Some(y)) => differ(x, y),
            (Some(_), None) => Some((
                DivergenceKind::MissingCalls,
                format!(
                    "the new run ended after {} calls; the saved run went on with {} more",
                    b.len(),
                    a.len() - b.len()
                ),
            )),
            (None, Some(_)) => Some((
                DivergenceKind::ExtraCall,
                format!(
                    "the saved run ended after {} calls; the new run went on ({} calls in all)",
                    a.len(),
                    b.len()
                ),
            )),
            (None, None) => None,
        };
        if let Some((kind, detail)) = difference {
            return Err(divergence(saved.path(), a, i, b.get(i), kind, detail));
        }
    }
    Ok(a.len())
}

/// How call `y` of the new run differs from call `x` of the saved one.
fn differ(x: &Call, y: &Call) -> Option<(DivergenceKind, String)> {
    if x.name != y.name {
        return Some((
            DivergenceKind::WrongCall,
            format!("the saved run called `{}` here, the new run `{}`", x.name, y.name),
        ));
    }
    if x.node != y.node {
        let name = |n: &Option<String>| n.as_deref().map_or("no node".to_string(), |n| format!("node `{n}`"));
        return Some((
            DivergenceKind::WrongCall,
            format!(
                "`{}` was called on {} in the saved run, on {} in the new run",
                x.name,
                name(&x.node),
                name(&y.node)
            ),
        ));
    }
    if x.inputs.len() != y.inputs.len() {
        return Some((
            DivergenceKind::WrongInputs,
            format!(
                "the saved call has {} arguments, the new one {} (did the method's signature change?)",
                x.inputs.len(),
                y.inputs.len()
            ),
        ));
    }
    for (k, (a, b)) in x.inputs.iter().zip(&y.inputs).enumerate() {
        if let Some(d) = a.first_difference(b) {
            return Some((
                DivergenceKind::WrongInputs,
                format!(
                    "argument {}{}: saved `{}`, new `{}`",
                    k + 1,
                    at(&d.path),
                    shorten(d.expected),
                    shorten(d.actual)
                ),
            ));
        }
    }
    x.output.first_difference(&y.output).map(|d| {
        (
            DivergenceKind::WrongOutput,
            format!(
                "the output{}: saved `{}`, new `{}`",
                at(&d.path),
                shorten(d.expected),
                shorten(d.actual)
            ),
        )
    })
}

fn at(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" at `{path}`")
    }
}

/// `Trait::method(inputs) -> output`.
fn with_output(call: &Call) -> String {
    shorten(format!("{} -> {}", call.signature(), call.output))
}

fn divergence(
    path: Option<&Path>,
    saved: &[Call],
    index: usize,
    new: Option<&Call>,
    kind: DivergenceKind,
    detail: String,
) -> Divergence {
    let expected = saved.get(index);
    Divergence {
        kind,
        path: path.map(Path::to_path_buf),
        index,
        line: expected.map(|c| c.line),
        expected: expected.map(with_output),
        actual: new.map(with_output),
        detail,
        matched: saved[index.saturating_sub(CONTEXT_CALLS)..index.min(saved.len())]
            .iter()
            .map(describe_matched)
            .collect(),
        advice: RERUN_ADVICE.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(lines: &[&str]) -> Trace {
        let mut text = "(rehearse: 1, seed: 1)\n".to_string();
        for (i, l) in lines.iter().enumerate() {
            text.push_str(&format!("(i: {i}, {l})\n"));
        }
        Trace::parse(&text).unwrap()
    }

    #[test]
    fn every_kind_of_difference_is_found_at_its_call() {
        let saved = trace(&[
            r#"call: "S::get", in: ("a"), out: Some(1)"#,
            r#"call: "S::put", in: ("a", (v: 2, w: [1])), out: Ok(())"#,
        ]);
        assert_eq!(compare_calls(&saved, &saved).unwrap(), 2);
        let cases = [
            (
                trace(&[
                    r#"call: "S::get", in: ("a"), out: Some(1)"#,
                    r#"call: "S::del", in: ("a"), out: Ok(())"#,
                ]),
                DivergenceKind::WrongCall,
                1,
                "the saved run called `S::put` here, the new run `S::del`",
            ),
            (
                trace(&[
                    r#"call: "S::get", in: ("a"), out: Some(1)"#,
                    r#"call: "S::put", in: ("a", (v: 2, w: [3])), out: Ok(())"#,
                ]),
                DivergenceKind::WrongInputs,
                1,
                "argument 2 at `.w[0]`: saved `1`, new `3`",
            ),
            (
                trace(&[r#"call: "S::get", in: ("a"), out: None"#]),
                DivergenceKind::WrongOutput,
                0,
                "the output: saved `Some(1)`, new `None`",
            ),
            (
                trace(&[r#"call: "S::get", in: ("a"), out: Some(1)"#]),
                DivergenceKind::MissingCalls,
                1,
                "the new run ended after 1 calls; the saved run went on with 1 more",
            ),
            (
                trace(&[
                    r#"call: "S::get", in: ("a"), out: Some(1)"#,
                    r#"call: "S::put", in: ("a", (v: 2, w: [1])), out: Ok(())"#,
                    r#"call: "S::get", in: ("a"), out: Some(2)"#,
                ]),
                DivergenceKind::ExtraCall,
                2,
                "the saved run ended after 2 calls; the new run went on (3 calls in all)",
            ),
        ];
        for (new, kind, index, detail) in cases {
            let d = compare_calls(&saved, &new).unwrap_err();
            assert_eq!((d.kind, d.index), (kind, index), "{d}");
            assert_eq!(d.detail, detail);
            assert_eq!(d.matched.len(), index.min(2));
        }
    }

    #[test]
    fn virtual_times_are_not_compared() {
        let saved = trace(&[r#"at_us: 5, call: "S::get", in: ("a"), out: Some(1)"#]);
        let new = trace(&[r#"at_us: 9, call: "S::get", in: ("a"), out: Some(1)"#]);
        assert_eq!(compare_calls(&saved, &new).unwrap(), 1);
    }
}
