//! [`Replayer`]: plays a scenario back as a world, checking every call, and
//! [`Divergence`]: the report when the code under test does something else.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::de::DeserializeOwned;

use crate::__private::{REDACTED, ReplayArg};
use crate::format::{Call, Trace, TraceError};
use crate::ron::{Difference, Value};

mod compare;
mod mode;

pub(crate) use compare::compare_calls;
pub use mode::{Mode, ModeError, Recording, Scenario};

/// How many matched calls a divergence report shows before the failure.
pub(crate) const CONTEXT_CALLS: usize = 5;

/// Longest rendering of one call in a report before it is shortened.
const MAX_SIGNATURE_CHARS: usize = 400;

/// A world that answers from a scenario file.
///
/// Each call must match the next recorded call: same `Trait::method`, equal
/// inputs (compared as values; redacted arguments are skipped). The recorded
/// output is returned. The first mismatch panics with a [`Divergence`]
/// report; the same report is returned by [`Replayer::finish`].
///
/// Clones share one position, so one replayer serves every world trait of a
/// scenario, and several components can hold it.
#[derive(Clone)]
pub struct Replayer {
    state: Arc<Mutex<State>>,
}

struct State {
    trace: Arc<Trace>,
    position: usize,
    diverged: Option<Divergence>,
}

impl fmt::Debug for Replayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Replayer")
            .field("path", &state.trace.path())
            .field("position", &state.position)
            .field("calls", &state.trace.calls().len())
            .finish()
    }
}

/// What kind of divergence happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DivergenceKind {
    /// A different method was called than the one recorded.
    WrongCall,
    /// The recorded method was called with different inputs.
    WrongInputs,
    /// A call was made after the scenario's last call.
    ExtraCall,
    /// The replay finished with recorded calls never made.
    MissingCalls,
    /// The recorded output does not decode as the method's return type.
    BadOutput,
    /// The same call returned something else than in the saved run (only
    /// when a sweep re-runs a saved scenario and compares the two runs; a
    /// [`Replayer`] returns the recorded outputs).
    WrongOutput,
}

impl DivergenceKind {
    fn title(self) -> &'static str {
        match self {
            Self::WrongCall => "a different call than recorded",
            Self::WrongInputs => "the recorded call with different inputs",
            Self::ExtraCall => "a call after the scenario ended",
            Self::MissingCalls => "recorded calls were never made",
            Self::BadOutput => "the recorded output does not fit the return type",
            Self::WrongOutput => "the recorded call returned something else",
        }
    }
}

/// A replay that did not follow its scenario: where, what was expected, what
/// happened instead, and the calls that matched before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// What went wrong.
    pub kind: DivergenceKind,
    /// The scenario file, when there is one.
    pub path: Option<PathBuf>,
    /// Index of the call where the replay diverged.
    pub index: usize,
    /// Line of the expected call in the scenario, when there is one.
    pub line: Option<usize>,
    /// The expected call (`Trait::method(inputs)`), when there is one.
    pub expected: Option<String>,
    /// The call actually made, when there is one.
    pub actual: Option<String>,
    /// The difference, pointed out (`argument `x` at .role: expected A, found B`).
    pub detail: String,
    /// The last calls that matched, oldest first.
    pub matched: Vec<String>,
    /// What to do about it, for the kind of file diverged from: re-record
    /// a recording of a real run; re-run a sweep's saved scenario in the
    /// simulation to see whether it still fails.
    pub advice: String,
}

impl std::error::Error for Divergence {}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "replay diverged at call {} ({}): {}",
            self.index,
            self.location(),
            self.kind.title()
        )?;
        self.write_body(f)?;
        write!(f, "  {}", self.advice)
    }
}

impl Divergence {
    /// `path:line` of the expected call (`<memory>` without a file).
    pub(crate) fn location(&self) -> String {
        let path = self
            .path
            .as_ref()
            .map_or_else(|| "<memory>".to_string(), |p| p.display().to_string());
        match self.line {
            Some(line) => format!("{path}:{line}"),
            None => path,
        }
    }

    /// What went wrong, in words.
    pub(crate) fn title(&self) -> &'static str {
        self.kind.title()
    }

    /// The lines after the heading: expected, actual, the difference and
    /// the calls that matched before it, each indented by two spaces.
    pub(crate) fn write_body(&self, f: &mut impl fmt::Write) -> fmt::Result {
        if let Some(e) = &self.expected {
            writeln!(f, "  expected: {e}")?;
        }
        if let Some(a) = &self.actual {
            writeln!(f, "  actual:   {a}")?;
        }
        for line in self.detail.lines() {
            writeln!(f, "  {line}")?;
        }
        if self.matched.is_empty() {
            writeln!(f, "  no call matched before this one")
        } else {
            writeln!(f, "  last matched calls:")?;
            for m in &self.matched {
                writeln!(f, "    {m}")?;
            }
            Ok(())
        }
    }
}

/// What to do about a [`Replayer`]'s divergence, by where the file came
/// from: a sweep's saved scenario has a seed; a recording of a real run
/// does not.
fn replay_advice(trace: &Trace) -> String {
    let path = trace
        .path()
        .map_or_else(|| "<the scenario>".to_string(), |p| p.display().to_string());
    match trace.header().seed {
        Some(seed) => format!(
            "this scenario was saved by a sweep (seed {seed}) and the code now calls its world differently; \
             if that is your change (a fix?), re-run it in the simulation with REHEARSE_REPLAY={path} \
             to see whether it still fails, and run the sweep again to save fresh scenarios"
        ),
        None => "if the new behaviour is intended, re-record the scenario (REHEARSE=record) and review it".to_string(),
    }
}

pub(crate) fn shorten(mut s: String) -> String {
    if s.chars().count() > MAX_SIGNATURE_CHARS {
        let cut = s.char_indices().nth(MAX_SIGNATURE_CHARS).map_or(s.len(), |(i, _)| i);
        s.truncate(cut);
        s.push_str(" …");
    }
    s
}

pub(crate) fn describe_matched(call: &Call) -> String {
    shorten(format!(
        "#{} (line {}) {} -> {}",
        call.index,
        call.line,
        call.signature(),
        call.output
    ))
}

/// `Trait::method(a, b)` from the arguments of the actual call.
fn actual_signature(name: &str, args: &[ReplayArg]) -> (String, Vec<(usize, usize)>) {
    let mut s = format!("{name}(");
    let mut spans = Vec::with_capacity(args.len());
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let start = s.chars().count();
        match &arg.value {
            None => s.push_str(&format!("\"{REDACTED}\"")),
            Some(Ok(text)) => s.push_str(text),
            Some(Err(e)) => s.push_str(&format!("<unserializable: {e}>")),
        }
        spans.push((start, s.chars().count()));
    }
    s.push(')');
    (s, spans)
}

impl Replayer {
    /// Opens a scenario file. A torn, corrupt or newer-format file is a
    /// [`TraceError`]; to replay the complete calls of a torn file, use
    /// [`Replayer::from_trace`] with [`Trace::recover`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, TraceError> {
        Ok(Self::from_trace(Trace::read(path)?))
    }

    /// Replays an already parsed trace.
    pub fn from_trace(trace: Trace) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                trace: Arc::new(trace),
                position: 0,
                diverged: None,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A divergence panics while no lock is held, but tests catch panics
        // and go on; the state is consistent either way.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Calls consumed so far.
    pub fn position(&self) -> usize {
        self.lock().position
    }

    /// Calls recorded in the scenario.
    pub fn len(&self) -> usize {
        self.lock().trace.calls().len()
    }

    /// True when the scenario holds no calls.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The trace being replayed.
    pub fn trace(&self) -> Arc<Trace> {
        Arc::clone(&self.lock().trace)
    }

    /// Ends the replay: the first divergence if one happened, else an error
    /// when recorded calls remain unconsumed.
    // A divergence ends the test; its size on this cold path does not matter.
    #[allow(clippy::result_large_err)]
    pub fn finish(&self) -> Result<(), Divergence> {
        let state = self.lock();
        if let Some(d) = &state.diverged {
            return Err(d.clone());
        }
        let calls = state.trace.calls();
        if state.position < calls.len() {
            let next = &calls[state.position];
            return Err(self.divergence(
                &state,
                DivergenceKind::MissingCalls,
                Some(next),
                None,
                format!(
                    "the replay made {} calls but the scenario has {}; the next recorded call was never made",
                    state.position,
                    calls.len()
                ),
            ));
        }
        Ok(())
    }

    fn divergence(
        &self,
        state: &State,
        kind: DivergenceKind,
        expected: Option<&Call>,
        actual: Option<String>,
        detail: String,
    ) -> Divergence {
        let calls = state.trace.calls();
        let from = state.position.saturating_sub(CONTEXT_CALLS);
        Divergence {
            kind,
            path: state.trace.path().map(Path::to_path_buf),
            index: state.position,
            line: expected.map(|c| c.line),
            expected: expected.map(|c| shorten(c.signature())),
            actual: actual.map(shorten),
            detail,
            matched: calls[from..state.position].iter().map(describe_matched).collect(),
            advice: replay_advice(&state.trace),
        }
    }

    /// Checks the next call against the scenario and returns its recorded
    /// output, or the divergence. Generated code calls [`Replayer::replay`],
    /// which panics instead.
    #[allow(clippy::result_large_err)]
    pub fn try_replay<O: DeserializeOwned>(&self, call: &'static str, args: &[ReplayArg]) -> Result<O, Divergence> {
        let mut state = self.lock();
        if let Some(d) = &state.diverged {
            return Err(d.clone());
        }
        let trace = Arc::clone(&state.trace);
        let result = check(&trace, state.position, call, args);
        match result {
            Ok(call_index) => {
                let recorded = &trace.calls()[call_index];
                match ::ron::from_str::<O>(&recorded.output.to_string()) {
                    Ok(out) => {
                        state.position += 1;
                        Ok(out)
                    }
                    Err(e) => {
                        let (actual, _) = actual_signature(call, args);
                        let d = self.divergence(
                            &state,
                            DivergenceKind::BadOutput,
                            Some(recorded),
                            Some(actual),
                            format!(
                                "recorded output `{}` does not decode as `{}`: {e}",
                                shorten(recorded.output.to_string()),
                                std::any::type_name::<O>()
                            ),
                        );
                        state.diverged = Some(d.clone());
                        Err(d)
                    }
                }
            }
            Err((kind, detail)) => {
                let (actual, _) = actual_signature(call, args);
                let expected = trace.calls().get(state.position);
                let d = self.divergence(&state, kind, expected, Some(actual), detail);
                state.diverged = Some(d.clone());
                Err(d)
            }
        }
    }

    /// Like [`Replayer::try_replay`], but a divergence panics with its report:
    /// a replayed world has no other way to stop the code under test.
    #[track_caller]
    pub fn replay<O: DeserializeOwned>(&self, call: &'static str, args: &[ReplayArg]) -> O {
        match self.try_replay(call, args) {
            Ok(out) => out,
            Err(d) => panic!("{d}"),
        }
    }
}

/// Compares call `position` of the trace with the actual call.
fn check(trace: &Trace, position: usize, call: &str, args: &[ReplayArg]) -> Result<usize, (DivergenceKind, String)> {
    let Some(recorded) = trace.calls().get(position) else {
        return Err((
            DivergenceKind::ExtraCall,
            format!(
                "the scenario ended after {} calls, but the code made another call",
                trace.calls().len()
            ),
        ));
    };
    if recorded.name != call {
        return Err((
            DivergenceKind::WrongCall,
            format!("expected a call to `{}`, but `{call}` was called", recorded.name),
        ));
    }
    if recorded.inputs.len() != args.len() {
        return Err((
            DivergenceKind::WrongInputs,
            format!(
                "the scenario has {} arguments for `{call}`, the call has {} (did the method's signature change?)",
                recorded.inputs.len(),
                args.len()
            ),
        ));
    }
    for (i, (arg, expected)) in args.iter().zip(&recorded.inputs).enumerate() {
        if expected.as_str() == Some(REDACTED) {
            continue;
        }
        let text = match &arg.value {
            None => continue,
            Some(Ok(text)) => text,
            Some(Err(e)) => {
                return Err((
                    DivergenceKind::WrongInputs,
                    format!("argument `{}` could not be serialized: {e}", arg.name),
                ));
            }
        };
        let actual = match Value::parse(text) {
            Ok(v) => v,
            Err(e) => {
                return Err((
                    DivergenceKind::WrongInputs,
                    format!(
                        "argument `{}` serialized to RON this reader cannot parse ({e}): {text}",
                        arg.name
                    ),
                ));
            }
        };
        if let Some(diff) = expected.first_difference(&actual) {
            return Err((
                DivergenceKind::WrongInputs,
                describe_input_difference(call, args, i, &actual, &diff),
            ));
        }
    }
    Ok(position)
}

/// The `actual:` line with carets under the differing part, and the path.
fn describe_input_difference(
    call: &str,
    args: &[ReplayArg],
    differing: usize,
    actual: &Value,
    diff: &Difference,
) -> String {
    let (rendered, span) = actual.render_marked(&diff.steps);
    let mut signature = format!("{call}(");
    let mut caret = None;
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            signature.push_str(", ");
        }
        if i == differing {
            let start = signature.chars().count();
            let (a, b) = span.unwrap_or((0, rendered.chars().count()));
            caret = Some((start + a, (b - a).max(1)));
            signature.push_str(&rendered);
        } else {
            match &arg.value {
                None => signature.push_str(&format!("\"{REDACTED}\"")),
                Some(Ok(text)) => signature.push_str(text),
                Some(Err(e)) => signature.push_str(&format!("<unserializable: {e}>")),
            }
        }
    }
    signature.push(')');
    // Carets line up under `  actual:   ` (12 columns) when the line is
    // short enough to be shown whole.
    let marker = match caret {
        Some((offset, width)) if signature.chars().count() <= MAX_SIGNATURE_CHARS => {
            format!("          {}{}\n", " ".repeat(offset), "^".repeat(width))
        }
        _ => String::new(),
    };
    let at = if diff.path.is_empty() {
        String::new()
    } else {
        format!(" at `{}`", diff.path)
    };
    format!(
        "{marker}argument `{}`{at}: expected `{}`, found `{}`",
        args[differing].name,
        shorten(diff.expected.clone()),
        shorten(diff.actual.clone())
    )
}
