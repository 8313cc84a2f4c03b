//! What happens to a failing seed: its tapes saved as scenarios, a re-run
//! for determinism, shrinking, and the re-run of a saved scenario's choices
//! (`REHEARSE_REPLAY`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::determinism::compare_outcomes;
use super::knobs::env;
use super::pool::{Outcome, run_once, run_phase};
use super::shrink::shrink_choices;
use super::{FailureReport, Report, Sweep};
use crate::sim::{Phase, Sim};
use crate::{Failure, Trace};

impl Sweep {
    fn save(dir: &Path, stem: &str, outcome: &Outcome) -> (PathBuf, Vec<PathBuf>) {
        let _ = std::fs::create_dir_all(dir);
        let path = dir.join(format!("{stem}.ron"));
        if let Err(e) = outcome.trace.save(&path) {
            eprintln!("rehearse: could not save {}: {e}", path.display());
        }
        let named = outcome
            .named
            .iter()
            .map(|(name, tape)| {
                let p = dir.join(format!("{stem}.{name}.ron"));
                if let Err(e) = tape.save(&p) {
                    eprintln!("rehearse: could not save {}: {e}", p.display());
                }
                p
            })
            .collect();
        (path, named)
    }

    pub(super) fn report_failure<F>(
        &self,
        f: &F,
        dir: &Path,
        seed: u64,
        outcome: Outcome,
        shrink: bool,
        command: &str,
    ) -> FailureReport
    where
        F: Fn(&mut Sim) -> Result<(), Failure>,
    {
        let failure = outcome.result.clone().err().unwrap_or_else(|| Failure::new("?"));
        let (trace, named_traces) = Self::save(dir, &format!("seed-{seed}"), &outcome);
        // The seed must fail the same way again, byte for byte.
        let again = run_phase(f, seed, None, &self.faults, Some(Phase::Recheck));
        let nondeterminism = compare_outcomes(seed, &outcome, &again).err().map(|e| e.difference);
        let mut shrunk = None;
        let mut shrunk_message = None;
        let mut shrunk_choices = None;
        if shrink && self.shrink && nondeterminism.is_none() {
            let deadline = Instant::now() + self.shrink_time;
            let minimal = shrink_choices(f, seed, &self.faults, outcome.choices.clone(), failure.kind(), deadline);
            // Re-run the final candidate as given (its header records the
            // choices) and save it only if it still fails the same way.
            let last = run_once(f, seed, Some(minimal.clone()), &self.faults);
            if let Err(e) = &last.result {
                if e.kind() == failure.kind() {
                    let (path, _) = Self::save(dir, &format!("seed-{seed}.shrunk"), &last);
                    shrunk = Some(path);
                    shrunk_message = Some(e.message().to_string());
                    shrunk_choices = Some(minimal.len());
                }
            }
        }
        FailureReport {
            seed,
            message: failure.message().to_string(),
            kind: failure.kind().to_string(),
            trace,
            named_traces,
            shrunk,
            shrunk_message,
            choices: (outcome.choices.len(), shrunk_choices),
            repro: format!("{}={seed} {command}", env::SEED),
            nondeterminism,
        }
    }

    /// `REHEARSE_REPLAY=path`: runs the choices saved in a scenario header.
    pub(super) fn replay_file<F>(&self, path: &Path, f: &F, command: &str) -> Report
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
        let failures = match &outcome.result {
            Ok(()) => Vec::new(),
            Err(e) => vec![FailureReport {
                seed,
                message: e.message().to_string(),
                kind: e.kind().to_string(),
                trace: path.to_path_buf(),
                named_traces: Vec::new(),
                shrunk: None,
                shrunk_message: None,
                choices: (outcome.choices.len(), None),
                repro: format!("{}={} {command}", env::REPLAY, path.display()),
                nondeterminism: None,
            }],
        };
        let report = Report {
            name: self.name.clone(),
            runs: 1,
            failed_runs: failures.len() as u64,
            failures,
            elapsed: start.elapsed(),
            calls: outcome.calls,
            budget_exhausted: false,
        };
        if !self.quiet {
            eprint!("{report}");
        }
        report
    }
}
