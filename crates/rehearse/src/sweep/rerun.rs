//! Re-running a saved seed and comparing it with the saved run:
//! `REHEARSE_REPLAY=path` (or [`Sweep::rerun`](super::Sweep::rerun)) re-runs
//! a scenario's choices, `REHEARSE_SEED=N` re-runs a seed whose
//! `seed-N.ron` the sweep saved; both compare the new run's calls (names,
//! inputs, outputs) and failure with the file's, and say in words what
//! changed: [`Rerun`].
//!
//! This is the simulation running again, not a [`Replayer`](crate::Replayer)
//! (which answers the code's calls from the file): the new run may make
//! other calls, and that difference is the answer.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::knobs::env;
use super::pool::{Outcome, Pooled, run_once};
use super::repro::Repro;
use super::totals::Totals;
use super::{FailureReport, Report, Sweep};
use crate::format::{Header, RunFailure};
use crate::replay::compare_calls;
use crate::sim::Sim;
use crate::{Divergence, Failure, Tape, Trace};

/// How a re-run of a saved failing run turned out, next to the saved run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RerunOutcome {
    /// It fails with the kind the saved file records.
    StillFails,
    /// It fails with another kind than the saved run.
    FailsDifferently,
    /// It passes where the saved run failed: a fix, or a changed parameter.
    NoLongerFails,
    /// It fails, but the saved file does not record how its run failed
    /// (written before rehearse saved failures): only calls are compared.
    Fails,
    /// It passes, and the saved file records no failure to compare with
    /// (written before rehearse saved failures): only calls are compared.
    Passes,
    /// There was no saved run to compare with (`REHEARSE_SEED` without a
    /// `seed-N.ron`, or one that could not be read): the seed just ran.
    NothingToCompare,
}

/// A saved run re-run in the simulation and compared with its file: what
/// `REHEARSE_REPLAY` and `REHEARSE_SEED` report (see [`Report::rerun`]).
///
/// Its `Display` is the verdict in words, e.g. `still fails the same way
/// (kind "two leaders"), 141 calls identical to the saved run` or `no
/// longer fails; diverges from the saved run at call 57 (...)`.
#[derive(Debug, Clone)]
pub struct Rerun {
    /// The seed re-run.
    pub seed: u64,
    /// The saved scenario compared with (the main tape's file; named tapes
    /// saved beside it are compared too).
    pub saved: PathBuf,
    /// The verdict.
    pub outcome: RerunOutcome,
    /// Calls that were the same in both runs, before the first difference.
    pub identical: usize,
    /// Calls in the saved files compared.
    pub saved_calls: usize,
    /// Calls the new run made on the tapes compared.
    pub calls: usize,
    /// The first call where the runs went different ways, if they did.
    pub divergence: Option<Divergence>,
    /// How the saved run failed, from its header.
    pub saved_failure: Option<RunFailure>,
    /// How the new run failed.
    pub failure: Option<RunFailure>,
    /// Parameters that differ: key, the saved run's value, the new run's.
    pub changed_params: Vec<(String, Option<String>, Option<String>)>,
    /// Why nothing was compared ([`RerunOutcome::NothingToCompare`]).
    pub note: Option<String>,
}

impl Rerun {
    /// Compares `outcome` with the saved run at `path`.
    fn compare(seed: u64, path: &Path, saved: &Trace, outcome: &Outcome) -> Self {
        let (mut identical, mut saved_calls, mut calls) = (0, 0, 0);
        let mut divergence = None;
        for (saved_tape, new_tape) in pairs(path, saved, outcome) {
            let new = new_trace(new_tape);
            saved_calls += saved_tape.calls().len();
            calls += new.calls().len();
            match compare_calls(&saved_tape, &new) {
                Ok(n) => identical += n,
                Err(d) => {
                    identical += d.index;
                    divergence.get_or_insert(d);
                }
            }
        }
        let saved_failure = saved.header().failure.clone();
        let failure = outcome.result.as_ref().err().map(RunFailure::from);
        let outcome_kind = match (&saved_failure, &failure) {
            (Some(a), Some(b)) if a.kind == b.kind => RerunOutcome::StillFails,
            (Some(_), Some(_)) => RerunOutcome::FailsDifferently,
            (Some(_), None) => RerunOutcome::NoLongerFails,
            (None, Some(_)) => RerunOutcome::Fails,
            (None, None) => RerunOutcome::Passes,
        };
        Self {
            seed,
            saved: path.to_path_buf(),
            outcome: outcome_kind,
            identical,
            saved_calls,
            calls,
            divergence,
            saved_failure,
            failure,
            changed_params: changed_params(&saved.header().params, &outcome.params),
            note: None,
        }
    }

    /// The seed ran, with nothing saved to compare it with.
    fn nothing(seed: u64, path: &Path, outcome: &Outcome, note: String) -> Self {
        Self {
            seed,
            saved: path.to_path_buf(),
            outcome: RerunOutcome::NothingToCompare,
            identical: 0,
            saved_calls: 0,
            calls: outcome.trace.len(),
            divergence: None,
            saved_failure: None,
            failure: outcome.result.as_ref().err().map(RunFailure::from),
            changed_params: Vec::new(),
            note: Some(note),
        }
    }

    /// The verdict's first line (without the divergence's details).
    pub fn verdict(&self) -> String {
        let kind = |f: &Option<RunFailure>| f.as_ref().map_or(String::new(), |f| format!("{:?}", f.kind));
        let diverges = |d: &Divergence| {
            format!(
                "diverges from the saved run at call {} ({}): {}",
                d.index,
                d.location(),
                d.title()
            )
        };
        let same = format!("{} calls identical to the saved run", self.identical);
        match (self.outcome, &self.divergence) {
            (RerunOutcome::StillFails, None) => {
                format!("still fails the same way (kind {}), {same}", kind(&self.failure))
            }
            (RerunOutcome::StillFails, Some(d)) => format!(
                "still fails the same way (kind {}), but {}",
                kind(&self.failure),
                diverges(d)
            ),
            (RerunOutcome::NoLongerFails, Some(d)) => format!(
                "no longer fails; {} (the saved run failed with kind {}; the new run made {} calls, the saved one {})",
                diverges(d),
                kind(&self.saved_failure),
                self.calls,
                self.saved_calls
            ),
            (RerunOutcome::NoLongerFails, None) => format!(
                "no longer fails, with its {} calls identical to the saved run: the check changed, not the run \
                 (the saved run failed with kind {})",
                self.identical,
                kind(&self.saved_failure)
            ),
            (RerunOutcome::FailsDifferently, d) => format!(
                "fails differently: kind {} ({}) where the saved run failed with kind {}; {}",
                kind(&self.failure),
                self.failure.as_ref().map_or("", |f| f.message.as_str()),
                kind(&self.saved_failure),
                d.as_ref().map_or(same.clone(), diverges)
            ),
            (RerunOutcome::Fails, d) => format!(
                "fails (kind {}); the saved file does not record how its run failed, so only calls are compared: {}",
                kind(&self.failure),
                d.as_ref().map_or(same.clone(), diverges)
            ),
            (RerunOutcome::Passes, d) => format!(
                "passes; the saved file does not record how its run failed, so only calls are compared: {}",
                d.as_ref().map_or(same.clone(), diverges)
            ),
            (RerunOutcome::NothingToCompare, _) => format!(
                "nothing to compare with ({}); the seed ran afresh and {}",
                self.note.as_deref().unwrap_or("no saved run"),
                match &self.failure {
                    Some(f) => format!("fails: {}", f.message),
                    None => "passes".to_string(),
                }
            ),
        }
    }
}

impl fmt::Display for Rerun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "re-run of seed {} against {}: {}",
            self.seed,
            self.saved.display(),
            self.verdict()
        )?;
        if !self.changed_params.is_empty() {
            let shown = |v: &Option<String>| v.as_deref().map_or("(unset)".to_string(), |v| format!("{v:?}"));
            let changes: Vec<String> = self
                .changed_params
                .iter()
                .map(|(k, a, b)| format!("{k}: {} -> {}", shown(a), shown(b)))
                .collect();
            writeln!(f, "  parameters differ from the saved run: {}", changes.join(", "))?;
        }
        if let Some(d) = &self.divergence {
            let mut body = String::new();
            d.write_body(&mut body)?;
            f.write_str(&body)?;
            writeln!(f, "  {}", d.advice)?;
        }
        Ok(())
    }
}

/// The saved tapes and the new run's tapes to compare: the file's own tape
/// (a named tape's file names it in `meta.tape`), and for a main tape the
/// named tapes saved beside it (`STEM.NAME.ron`) that the new run has too.
fn pairs<'a>(path: &Path, saved: &Trace, outcome: &'a Outcome) -> Vec<(Trace, Option<&'a Tape>)> {
    let find = |name: &str| outcome.named.iter().find(|(n, _)| n == name).map(|(_, t)| t);
    if let Some(name) = saved.header().meta.get("tape") {
        return vec![(saved.clone(), find(name))];
    }
    let mut pairs = vec![(saved.clone(), Some(&outcome.trace))];
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".ron").to_string())
        .unwrap_or_default();
    for (name, tape) in &outcome.named {
        let sibling = path.with_file_name(format!("{stem}.{name}.ron"));
        if let Ok(trace) = Trace::recover(&sibling) {
            pairs.push((trace, Some(tape)));
        }
    }
    pairs
}

/// A new run's tape as a trace (an empty one when the run has no such tape).
fn new_trace(tape: Option<&Tape>) -> Trace {
    tape.and_then(|t| t.to_trace().ok())
        .unwrap_or_else(|| Trace::from_parts(Header::new(), Vec::new()))
}

fn changed_params(
    saved: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> Vec<(String, Option<String>, Option<String>)> {
    let keys: BTreeSet<&String> = saved.keys().chain(new.keys()).collect();
    keys.into_iter()
        .filter(|k| saved.get(*k) != new.get(*k))
        .map(|k| ((*k).clone(), saved.get(k).cloned(), new.get(k).cloned()))
        .collect()
}

/// Writes to the process's stderr past the test harness's capture: the
/// answer to a re-run someone asked for by hand must show even when the
/// test passes.
pub(super) fn tell(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

impl Sweep {
    /// `REHEARSE_SEED=N`: runs the seed once and compares it with the
    /// `seed-N.ron` this sweep saved in `dir`, if there is one.
    pub(super) fn run_single<F>(&self, f: &F, seed: u64, dir: &Path) -> (Pooled, Rerun)
    where
        F: Fn(&mut Sim) -> Result<(), Failure>,
    {
        let path = dir.join(format!("seed-{seed}.ron"));
        // Read before the run: a failing run is saved over it.
        let saved = path.exists().then(|| Trace::recover(&path));
        let start = Instant::now();
        let outcome = run_once(f, seed, None, &self.faults);
        let elapsed = start.elapsed();
        let rerun = match saved {
            Some(Ok(trace)) => Rerun::compare(seed, &path, &trace, &outcome),
            Some(Err(e)) => Rerun::nothing(seed, &path, &outcome, format!("the saved run could not be read: {e}")),
            None => Rerun::nothing(seed, &path, &outcome, format!("this sweep saved no {}", path.display())),
        };
        let failed = outcome.result.is_err();
        let mut totals = Totals::of(seed, &outcome);
        // (the same catalog as the sweep's: an assertion this run did not
        // reach is listed too)
        self.list_catalog(&mut totals.assertions);
        let pooled = Pooled {
            totals,
            runs: 1,
            calls: outcome.calls,
            failed: u64::from(failed),
            out_of_time: false,
            stopped: false,
            found: if failed { vec![(seed, outcome)] } else { Vec::new() },
            elapsed,
        };
        (pooled, rerun)
    }

    /// `REHEARSE_REPLAY=path` or [`Sweep::rerun`]: runs the seed and the
    /// choices saved in a scenario header and compares the run with the
    /// file. Nothing is saved or shrunk.
    pub(super) fn replay_file<F>(&self, path: &Path, f: &F, repro: &Repro, from_env: bool) -> Report
    where
        F: Fn(&mut Sim) -> Result<(), Failure>,
    {
        let start = Instant::now();
        let trace = match Trace::recover(path) {
            Ok(t) => t,
            Err(e) => return self.config_error(format!("{}: {e}", env::REPLAY)),
        };
        let header = trace.header();
        let Some(seed) = header.seed else {
            return self.config_error(format!(
                "{}={}: the scenario has no seed; it was not written by a sweep",
                env::REPLAY,
                path.display()
            ));
        };
        let given = match header.choices() {
            Ok(given) => given,
            Err(e) => {
                return self.config_error(format!("{}={}: bad choices: {e}", env::REPLAY, path.display()));
            }
        };
        let outcome = run_once(f, seed, given, &self.faults);
        let rerun = Rerun::compare(seed, path, &trace, &outcome);
        let mut totals = Totals::of(seed, &outcome);
        // (the same catalog as the sweep's: an assertion this run did not
        // reach is listed too)
        self.list_catalog(&mut totals.assertions);
        let failures = match &outcome.result {
            Ok(()) => Vec::new(),
            Err(e) => vec![FailureReport {
                seed,
                steered: false,
                message: e.message().to_string(),
                kind: e.kind().to_string(),
                trace: path.to_path_buf(),
                named_traces: Vec::new(),
                shrunk: None,
                shrunk_message: None,
                choices: (outcome.choices.len(), None),
                calls: (outcome.calls as usize, None),
                shrink_attempts: 0,
                shrink_stopped: None,
                shrink_elapsed: Duration::ZERO,
                repro: repro.line(env::REPLAY, &path.display().to_string(), &outcome.params),
                nondeterminism: None,
            }],
        };
        let mut report = Report {
            name: self.name.clone(),
            runs: 1,
            failed_runs: failures.len() as u64,
            failures,
            elapsed: start.elapsed(),
            saving: Duration::ZERO,
            shrinking: Duration::ZERO,
            calls: outcome.calls,
            budget_exhausted: false,
            stopped_after: None,
            rerun: Some(rerun),
            seeds: seed..seed + 1,
            shard: (1, 1),
            failed_seeds: totals.failed,
            faults: totals.faults,
            counters: totals.counters,
            assertions: totals.assertions,
            require_sometimes: false,
            printed: false,
        };
        report.print(self.quiet, from_env);
        report
    }
}
