//! What happens to a failing seed: its tapes saved as scenarios, a re-run
//! for determinism, and shrinking.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::determinism::compare_outcomes;
use super::knobs::env;
use super::pool::{Outcome, run_once, run_phase};
use super::repro::Repro;
use super::shrink::shrink_legacy;
use super::shrinker;
use super::{FailureReport, Sweep};
use crate::Failure;
use crate::sim::{Phase, Sim};

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
        repro: &Repro,
    ) -> FailureReport
    where
        F: Fn(&mut Sim) -> Result<(), Failure>,
    {
        let failure = outcome.result.clone().err().unwrap_or_else(|| Failure::new("?"));
        // A steered mutant is not its seed's run: saved under another name
        // (so that `REHEARSE_SEED` does not compare the seed with it),
        // re-run from its choices, and replayed from its file.
        let steered = outcome.given.is_some();
        let stem = match outcome.given {
            Some(_) => format!("steered-{seed}"),
            None => format!("seed-{seed}"),
        };
        let (trace, named_traces) = Self::save(dir, &stem, &outcome);
        // The run must fail the same way again, byte for byte.
        let again = run_phase(f, seed, outcome.given.clone(), &self.faults, Some(Phase::Recheck));
        let nondeterminism = compare_outcomes(seed, &outcome, &again).err().map(|e| e.difference);
        let mut shrunk = None;
        let mut shrunk_message = None;
        let mut shrunk_choices = None;
        let mut shrunk_calls = None;
        let mut shrink_attempts = 0;
        let mut shrink_stopped = None;
        let mut shrink_elapsed = Duration::ZERO;
        if shrink && self.shrink && nondeterminism.is_none() {
            let start = Instant::now();
            let legacy = std::env::var(env::SHRINKER).is_ok_and(|v| v == "legacy");
            let minimal = if legacy { shrink_legacy } else { shrinker::shrink }(
                f,
                seed,
                &self.faults,
                outcome.choices.clone(),
                failure.kind(),
                self.shrink_time,
                self.shrink_attempts,
            );
            shrink_attempts = minimal.attempts;
            shrink_stopped = Some(minimal.stop);
            // Re-run the final candidate as given (its header records the
            // choices) and save it only if it still fails the same way.
            let last = run_once(f, seed, Some(minimal.choices.clone()), &self.faults);
            if let Err(e) = &last.result {
                if e.kind() == failure.kind() {
                    let (path, _) = Self::save(dir, &format!("{stem}.shrunk"), &last);
                    shrunk = Some(path);
                    shrunk_message = Some(e.message().to_string());
                    shrunk_choices = Some(minimal.choices.len());
                    shrunk_calls = Some(last.calls as usize);
                }
            }
            shrink_elapsed = start.elapsed();
        }
        let repro = match outcome.given {
            Some(_) => repro.line(env::REPLAY, &trace.display().to_string(), &outcome.params),
            None => repro.line(env::SEED, &seed.to_string(), &outcome.params),
        };
        FailureReport {
            seed,
            steered,
            message: failure.message().to_string(),
            kind: failure.kind().to_string(),
            trace,
            named_traces,
            shrunk,
            shrunk_message,
            choices: (outcome.choices.len(), shrunk_choices),
            calls: (outcome.calls as usize, shrunk_calls),
            shrink_attempts,
            shrink_stopped,
            shrink_elapsed,
            repro,
            nondeterminism,
        }
    }
}
