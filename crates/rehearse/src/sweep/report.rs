//! What a sweep found: [`Report`] and one [`FailureReport`] per saved failure.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use super::Sweep;
use super::rerun::{Rerun, tell};
use super::shrink::{ShrinkStop, thousands};
use super::totals::{FailedSeed, FaultStats, write_faults};
use crate::assertions::{self, AssertionStats};

/// Failures a report lists in full; the rest are listed by seed.
pub(super) const REPORT_SHOWN: usize = 5;

/// One failing seed.
#[derive(Debug, Clone)]
pub struct FailureReport {
    /// The seed (a steered failure's: the slot that ran the mutant).
    pub seed: u64,
    /// A steered mutant failed ([`Sweep::steer`](crate::Sweep::steer)):
    /// saved as `steered-N.ron`, it re-runs from that file
    /// (`REHEARSE_REPLAY`), not from its seed.
    pub steered: bool,
    /// The failure's message.
    pub message: String,
    /// The failure's kind (what shrinking preserved).
    pub kind: String,
    /// The scenario of the failing run as found (`seed-N.ron`).
    pub trace: PathBuf,
    /// Scenarios of the run's named tapes (`seed-N.NAME.ron`).
    pub named_traces: Vec<PathBuf>,
    /// The minimal failing scenario (`seed-N.shrunk.ron`), when shrunk.
    pub shrunk: Option<PathBuf>,
    /// Its message, which may differ in detail from the original's.
    pub shrunk_message: Option<String>,
    /// Choices of the original run and of the shrunk one.
    pub choices: (usize, Option<usize>),
    /// Calls of the run as found and of the shrunk one (what people read:
    /// the shrunk scenario's length).
    pub calls: (usize, Option<usize>),
    /// Candidate runs shrinking made (0 when not shrunk).
    pub shrink_attempts: u64,
    /// Why shrinking stopped, when it ran: [`ShrinkStop::Exhausted`] means
    /// the result is as small as the shrinker gets it; a time limit or
    /// attempt bound means more might have cut it further.
    pub shrink_stopped: Option<ShrinkStop>,
    /// Wall time shrinking took (zero when not shrunk).
    pub shrink_elapsed: Duration,
    /// One command line that re-runs this seed.
    pub repro: String,
    /// Set when re-running the seed gave a different trace: the first
    /// differing call.
    pub nondeterminism: Option<String>,
}

/// What a sweep found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The sweep's name.
    pub name: String,
    /// Seeds run.
    pub runs: u64,
    /// Seeds that failed, including those not saved.
    pub failed_runs: u64,
    /// Saved failures: the shrunk ones first, in the order they were
    /// chosen (the smallest as found of each kind, then the next smallest;
    /// [`Sweep::shrink_limit`](crate::Sweep::shrink_limit)), then the
    /// others by seed. So `failures[0]` is the smallest failure of the
    /// first kind found, shrunk; [`Report::failed_seeds`] lists every
    /// failing seed in order.
    pub failures: Vec<FailureReport>,
    /// Wall time of the sweep's runs (without saving and shrinking, which
    /// come after: see [`Report::saving`]).
    pub elapsed: Duration,
    /// Wall time spent after the runs on the saved failures: saving each,
    /// re-running it to check it is deterministic, and shrinking (of which
    /// [`Report::shrinking`]).
    pub saving: Duration,
    /// Wall time spent shrinking, over all failures.
    pub shrinking: Duration,
    /// World calls recorded over all runs.
    pub calls: u64,
    /// True when the time budget ended the sweep before the seed range did.
    pub budget_exhausted: bool,
    /// `Some(n)` when the sweep ended at its `n`-th failing seed
    /// ([`Sweep::stop_after`](crate::Sweep::stop_after),
    /// `REHEARSE_STOP_AFTER`) with seeds left unrun: the report covers the
    /// seeds up to that one.
    pub stopped_after: Option<u64>,
    /// For a re-run of a saved run (`REHEARSE_REPLAY`, `REHEARSE_SEED`,
    /// [`Sweep::rerun`]): how it compares with the saved file.
    pub rerun: Option<Rerun>,
    /// The seed range asked for (after `REHEARSE_SEEDS`), before sharding.
    pub seeds: Range<u64>,
    /// The shard run (1-based) and the shard count: `(1, 1)` unsharded.
    pub shard: (u64, u64),
    /// Every failing seed (saved or not) with its failure's kind, by seed.
    pub failed_seeds: Vec<FailedSeed>,
    /// Each fault point met by the explored runs.
    pub faults: BTreeMap<String, FaultStats>,
    /// The explored runs' counters ([`Sim::count`](crate::Sim::count)), summed.
    pub counters: BTreeMap<String, u64>,
    /// Each assertion ([`sometimes!`](crate::sometimes) and the others)
    /// over the explored runs, by name: those evaluated, and every other
    /// site of the program's catalog (within [`Sweep::assertions_in`]),
    /// with zero counts.
    pub assertions: BTreeMap<String, AssertionStats>,
    /// Whether a `sometimes!` or `reachable!` never hit fails the sweep
    /// ([`Sweep::require_sometimes`], `REHEARSE_REQUIRE_SOMETIMES=1`; off
    /// for the re-run of one seed).
    pub require_sometimes: bool,
    /// The sweep printed this report in full on stderr when it ended (not
    /// `quiet`): [`Report::assert_ok`] then panics with its first line
    /// only, not the same summary a second time.
    pub(super) printed: bool,
}

impl Report {
    /// Panics with a readable summary if any seed failed, or if the sweep
    /// requires its `sometimes!` and `reachable!` assertions and one was
    /// never hit ([`Report::passed`]). When the sweep printed the summary
    /// already (it is not [`quiet`](crate::Sweep::quiet)), the panic says
    /// its first line and points at it; under `quiet`, the panic carries
    /// the whole summary.
    #[track_caller]
    pub fn assert_ok(&self) {
        if self.passed() {
            return;
        }
        let text = self.to_string();
        if self.printed {
            let first = text.lines().next().unwrap_or_default();
            let unmet = text
                .lines()
                .find(|l| l.starts_with("FAILED: "))
                .map(|l| format!("\n{l}"));
            panic!(
                "{first}{}\n(the whole summary, with each failure's scenario and how to reproduce it, is above on stderr)",
                unmet.unwrap_or_default()
            );
        }
        panic!("{text}");
    }

    /// The failures that were shrunk, in the order they were chosen: the
    /// smallest as found of each kind, then the next smallest
    /// ([`Sweep::shrink_limit`](crate::Sweep::shrink_limit)).
    pub fn shrunk(&self) -> impl Iterator<Item = &FailureReport> {
        self.failures.iter().filter(|f| f.shrink_stopped.is_some())
    }

    /// No seed failed, and no required assertion went unhit.
    pub fn passed(&self) -> bool {
        self.failed_runs == 0 && self.unmet().is_empty()
    }

    /// The `sometimes!` and `reachable!` assertions no explored run hit,
    /// by name.
    pub fn never_hit(&self) -> Vec<&str> {
        self.assertions
            .iter()
            .filter(|(_, a)| a.never_hit())
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// [`Report::never_hit`] when the sweep requires them, else nothing:
    /// what fails the sweep.
    pub fn unmet(&self) -> Vec<&str> {
        if self.require_sometimes {
            self.never_hit()
        } else {
            Vec::new()
        }
    }

    /// Seeds per second of the sweep.
    pub fn seeds_per_second(&self) -> f64 {
        self.runs as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "sweep `{}`: {} of {} seeds failed ({}{:.2}s, {:.0} seeds/s, {} calls{})",
            self.name,
            self.failed_runs,
            self.runs,
            rate(self.failed_runs, self.runs),
            self.elapsed.as_secs_f64(),
            self.seeds_per_second(),
            self.calls,
            self.saving_text()
        )?;
        f.write_str(&self.budget_text())?;
        if let Some(n) = self.stopped_after {
            let s = if n == 1 { "" } else { "s" };
            writeln!(
                f,
                "(stopped after {n} failure{s}, as asked: REHEARSE_STOP_AFTER / stop_after)"
            )?;
        }
        if let Some(rerun) = &self.rerun {
            write!(f, "{rerun}")?;
        }
        for r in self.failures.iter().take(REPORT_SHOWN) {
            writeln!(f, "- {}: {}", run_name(r.seed, r.steered), r.message)?;
            writeln!(f, "  scenario: {}", r.trace.display())?;
            if let Some(s) = &r.shrunk {
                let msg = r.shrunk_message.as_deref().unwrap_or("");
                writeln!(
                    f,
                    "  shrunk:   {} ({}): {msg}",
                    s.display(),
                    shrink_numbers(r.calls, r.shrink_attempts, r.shrink_stopped)
                )?;
            } else if let Some(stop) = r.shrink_stopped {
                writeln!(
                    f,
                    "  not shrunk: no simpler run failed the same way ({} attempts, stopped: {stop})",
                    thousands(r.shrink_attempts)
                )?;
            }
            if let Some(n) = &r.nondeterminism {
                writeln!(f, "  NOT DETERMINISTIC: {n}")?;
            }
            writeln!(f, "  reproduce: {}", r.repro)?;
        }
        if self.failures.len() > REPORT_SHOWN {
            let more: Vec<String> = self.failures[REPORT_SHOWN..]
                .iter()
                .map(|r| short_name(r.seed, r.steered))
                .collect();
            writeln!(
                f,
                "- {} more saved beside the first (seeds {})",
                more.len(),
                more.join(", ")
            )?;
        }
        let unsaved = self.failed_runs.saturating_sub(self.failures.len() as u64);
        if unsaved > 0 {
            writeln!(
                f,
                "- {unsaved} more failing seeds not saved (raise `save_limit` to keep them)"
            )?;
        }
        write_faults(f, &self.faults)?;
        assertions::write_table(f, &self.assertions)?;
        write_unmet(f, &self.unmet(), SWEEP_REQUIRES)
    }
}

/// `seed 7`, or `steered run 130` for a steered mutant (its slot, whose
/// seed alone does not re-run it).
pub(super) fn run_name(seed: u64, steered: bool) -> String {
    if steered {
        format!("steered run {seed}")
    } else {
        format!("seed {seed}")
    }
}

/// In a list of seeds: `7`, or `steered 130`.
pub(super) fn short_name(seed: u64, steered: bool) -> String {
    if steered {
        format!("steered {seed}")
    } else {
        seed.to_string()
    }
}

/// `0.150%; `: the share of `runs` that failed, to open the summary's
/// parenthesis, or nothing without runs.
pub(super) fn rate(failed: u64, runs: u64) -> String {
    if runs == 0 {
        return String::new();
    }
    let pct = failed as f64 * 100.0 / runs as f64;
    // Enough digits that a rare failure does not read as 0%.
    let digits = if pct == 0.0 || pct >= 1.0 { 1 } else { 3 };
    format!("{pct:.digits$}%; ")
}

/// The line that says why a sweep whose seeds all passed failed anyway.
/// `asked` says what required them (a sweep's knob, or a merge's flag).
pub(super) fn write_unmet(f: &mut fmt::Formatter<'_>, unmet: &[&str], asked: &str) -> fmt::Result {
    if unmet.is_empty() {
        return Ok(());
    }
    writeln!(
        f,
        "FAILED: {} sometimes!/reachable! assertion{} never hit, and {asked}: {}",
        unmet.len(),
        if unmet.len() == 1 { "" } else { "s" },
        unmet.join(", ")
    )
}

/// What requires a sweep's `sometimes!` and `reachable!` assertions.
pub(super) const SWEEP_REQUIRES: &str = "the sweep requires them (REHEARSE_REQUIRE_SOMETIMES / require_sometimes)";

/// `436 -> 401 calls, 1,200 attempts, stopped: time limit 30 s`.
pub(super) fn shrink_numbers(calls: (usize, Option<usize>), attempts: u64, stop: Option<ShrinkStop>) -> String {
    let mut s = match calls.1 {
        Some(to) => format!("{} -> {to} calls", calls.0),
        None => format!("{} calls", calls.0),
    };
    s.push_str(&format!(", {} attempts", thousands(attempts)));
    if let Some(stop) = stop {
        s.push_str(&format!(", stopped: {stop}"));
    }
    s
}

impl Report {
    /// The line (or the full report) a sweep prints on stderr when it ends.
    /// A re-run's report goes past the test harness's capture, and under
    /// `quiet` its verdict still does when the environment asked for it
    /// (`loud`): someone typed that command and waits for the answer.
    /// Notes in [`Report::printed`] whether the full report went out.
    pub(super) fn print(&mut self, quiet: bool, loud: bool) {
        self.printed = match &self.rerun {
            Some(rerun) if quiet => {
                if loud {
                    tell(&rerun.to_string());
                }
                false
            }
            Some(_) if self.failed_runs == 0 => {
                tell(&format!("{}{}", self.passed_line(), self.rerun_text()));
                false
            }
            Some(_) => {
                tell(&self.to_string());
                true
            }
            None if quiet => false,
            None if self.passed() => {
                eprint!("{}{}{}", self.passed_line(), self.budget_text(), self.tables_text());
                false
            }
            None => {
                eprint!("{self}");
                true
            }
        };
    }

    fn passed_line(&self) -> String {
        format!(
            "sweep `{}`: {} seeds passed ({:.2}s, {:.0} seeds/s, {} calls)\n",
            self.name,
            self.runs,
            self.elapsed.as_secs_f64(),
            self.seeds_per_second(),
            self.calls
        )
    }

    /// `; then 50 failures saved and re-checked in 47.10s, 3 shrunk in
    /// 3.05s`: what came after the runs, or nothing.
    fn saving_text(&self) -> String {
        if self.saving.is_zero() {
            return String::new();
        }
        let saved = self.failures.len();
        let shrunk = self.failures.iter().filter(|r| r.shrink_stopped.is_some()).count();
        let mut s = format!(
            "; then {saved} failure{} saved and re-checked in {:.2}s",
            if saved == 1 { "" } else { "s" },
            self.saving.saturating_sub(self.shrinking).as_secs_f64()
        );
        if shrunk > 0 {
            s.push_str(&format!(", {shrunk} shrunk in {:.2}s", self.shrinking.as_secs_f64()));
        }
        s
    }

    /// The faults and assertions sections (each omitted when empty).
    fn tables_text(&self) -> String {
        struct Tables<'a>(&'a Report);
        impl fmt::Display for Tables<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_faults(f, &self.0.faults)?;
                assertions::write_table(f, &self.0.assertions)
            }
        }
        Tables(self).to_string()
    }

    /// The line saying the time budget ended the sweep before its seeds
    /// did, or nothing.
    fn budget_text(&self) -> String {
        if !self.budget_exhausted {
            return String::new();
        }
        format!(
            "the time budget (REHEARSE_TIME / time_budget) ended the sweep after {} seeds, before the end of its range {}..{}\n",
            self.runs, self.seeds.start, self.seeds.end
        )
    }

    fn rerun_text(&self) -> String {
        self.rerun.as_ref().map(ToString::to_string).unwrap_or_default()
    }
}

impl Sweep {
    /// A sweep that could not start (a bad knob or replay file): no run,
    /// one failure saying why, so `assert_ok` and callers report it.
    pub(super) fn config_error(&self, message: String) -> Report {
        let report = Report {
            name: self.name.clone(),
            runs: 0,
            failed_runs: 1,
            failures: vec![FailureReport {
                seed: 0,
                steered: false,
                kind: "configuration".into(),
                message: message.clone(),
                trace: PathBuf::new(),
                named_traces: Vec::new(),
                shrunk: None,
                shrunk_message: None,
                choices: (0, None),
                calls: (0, None),
                shrink_attempts: 0,
                shrink_stopped: None,
                shrink_elapsed: Duration::ZERO,
                repro: String::new(),
                nondeterminism: None,
            }],
            elapsed: Duration::ZERO,
            saving: Duration::ZERO,
            shrinking: Duration::ZERO,
            calls: 0,
            budget_exhausted: false,
            stopped_after: None,
            rerun: None,
            seeds: self.seeds.clone(),
            shard: (self.shard.0 + 1, self.shard.1),
            failed_seeds: vec![FailedSeed {
                seed: 0,
                kind: "configuration".into(),
            }],
            faults: BTreeMap::new(),
            counters: BTreeMap::new(),
            assertions: BTreeMap::new(),
            require_sometimes: false,
            printed: false,
        };
        eprintln!("sweep `{}` did not start: {message}", self.name);
        report
    }
}
