//! [`SweepSummary`]: a sweep's report as JSON (`REHEARSE_REPORT=path`), one
//! file per shard, and [`SweepSummary::merge`], which combines the shards of
//! a sweep run on several machines into one answer (`rehearse merge`).
//!
//! Everything in it is a sum or a sorted list over explored seeds, so that
//! shards merged give what one unsharded run of the same seeds gives (only
//! `elapsed_s` and where the files were saved differ).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::report::shrink_numbers;
use super::shrink::ShrinkStop;
use super::totals::{FailedSeed, FaultStats, add_assertion};
use super::{FailureReport, Report};
use crate::assertions::{self, AssertionStats};

/// What the `format` field of every report file says.
pub const SUMMARY_FORMAT: &str = "rehearse sweep report";
/// The version of the report file's shape this crate writes and reads.
pub const SUMMARY_VERSION: u32 = 1;

/// A sweep's report in a form that can be written, read back and merged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepSummary {
    /// Always [`SUMMARY_FORMAT`], so that a stray JSON file is refused.
    pub format: String,
    /// [`SUMMARY_VERSION`] when written.
    pub version: u32,
    /// The sweep's name.
    pub name: String,
    /// The seed range the sweep was asked for (`[start, end)`), before
    /// sharding.
    pub seeds: [u64; 2],
    /// How many shards the range was split into (1 when unsharded).
    pub shard_count: u64,
    /// The shards (1-based) this report covers: one for a shard's file,
    /// several once merged.
    pub shards: Vec<u64>,
    /// Seeds run.
    pub runs: u64,
    /// Seeds that failed.
    pub failed_runs: u64,
    /// World calls recorded over all runs.
    pub calls: u64,
    /// True when a time budget ended a shard before its seeds did.
    pub budget_exhausted: bool,
    /// `Some(n)` when a shard ended at its `n`-th failing seed with seeds
    /// left unrun ([`Sweep::stop_after`](crate::Sweep::stop_after),
    /// `REHEARSE_STOP_AFTER`); once merged, the largest `n` of the shards
    /// that stopped (absent in files written before it was recorded).
    #[serde(default)]
    pub stopped_after: Option<u64>,
    /// The shards (1-based) that ended at their `n`-th failure: each
    /// shard stops on its own, so the merge of shards that stopped is not
    /// what one unsharded sweep stopping after `n` gives.
    #[serde(default)]
    pub stopped_shards: Vec<u64>,
    /// Wall time of the runs in seconds (of the longest shard, once merged).
    pub elapsed_s: f64,
    /// Wall time spent after the runs saving, re-checking and shrinking
    /// failures, in seconds (the longest shard's, once merged; 0 in files
    /// written before it was recorded).
    #[serde(default)]
    pub saving_s: f64,
    /// Of which shrinking.
    #[serde(default)]
    pub shrinking_s: f64,
    /// Every failing seed with its failure's kind, by seed.
    pub failed: Vec<FailedSeed>,
    /// The failures that were saved, by seed.
    pub saved: Vec<SavedFailure>,
    /// Each fault point met, over all explored runs.
    pub faults: BTreeMap<String, FaultStats>,
    /// The runs' counters ([`Sim::count`](crate::Sim::count)), summed.
    pub counters: BTreeMap<String, u64>,
    /// Each assertion ([`sometimes!`](crate::sometimes) and the others),
    /// summed; once merged, a `sometimes!` is hit when any shard hit it
    /// (empty in files written before assertions were recorded).
    #[serde(default)]
    pub assertions: BTreeMap<String, AssertionStats>,
    /// Whether a `sometimes!` or `reachable!` never hit fails the sweep
    /// (true in the merge when any shard required it).
    #[serde(default)]
    pub require_sometimes: bool,
}

/// A saved failure in a [`SweepSummary`] (see [`FailureReport`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedFailure {
    /// The seed (a steered failure's: its slot).
    pub seed: u64,
    /// A steered mutant failed: it re-runs from its file, not its seed
    /// (false in files written before it was recorded).
    #[serde(default)]
    pub steered: bool,
    /// The failure's kind.
    pub kind: String,
    /// The failure's message.
    pub message: String,
    /// The saved scenario, on the machine that ran the shard.
    pub scenario: PathBuf,
    /// The shrunk scenario, when shrunk.
    pub shrunk: Option<PathBuf>,
    /// The shrunk run's message.
    pub shrunk_message: Option<String>,
    /// Choices of the run as found.
    pub choices: usize,
    /// Choices of the shrunk run.
    pub shrunk_choices: Option<usize>,
    /// Calls of the run as found (0 in files written before it was
    /// recorded).
    #[serde(default)]
    pub calls: usize,
    /// Calls of the shrunk run.
    #[serde(default)]
    pub shrunk_calls: Option<usize>,
    /// Candidate runs shrinking made.
    #[serde(default)]
    pub shrink_attempts: u64,
    /// Why shrinking stopped, when it ran.
    #[serde(default)]
    pub shrink_stopped: Option<ShrinkStop>,
    /// The command that re-runs the seed.
    pub repro: String,
    /// Set when re-running the seed gave a different trace.
    pub nondeterminism: Option<String>,
}

/// Why report files could not be read or merged. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    /// The file could not be read.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a sweep report this version can read.
    #[error("{file}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// What is wrong with it.
        message: String,
    },
    /// The files are not shards of one sweep.
    #[error("{0}")]
    Mismatch(String),
}

impl From<&FailureReport> for SavedFailure {
    fn from(f: &FailureReport) -> Self {
        Self {
            seed: f.seed,
            steered: f.steered,
            kind: f.kind.clone(),
            message: f.message.clone(),
            scenario: f.trace.clone(),
            shrunk: f.shrunk.clone(),
            shrunk_message: f.shrunk_message.clone(),
            choices: f.choices.0,
            shrunk_choices: f.choices.1,
            calls: f.calls.0,
            shrunk_calls: f.calls.1,
            shrink_attempts: f.shrink_attempts,
            shrink_stopped: f.shrink_stopped,
            repro: f.repro.clone(),
            nondeterminism: f.nondeterminism.clone(),
        }
    }
}

impl Report {
    /// This report as a [`SweepSummary`].
    pub fn summary(&self) -> SweepSummary {
        SweepSummary {
            format: SUMMARY_FORMAT.to_string(),
            version: SUMMARY_VERSION,
            name: self.name.clone(),
            seeds: [self.seeds.start, self.seeds.end],
            shard_count: self.shard.1,
            shards: vec![self.shard.0],
            runs: self.runs,
            failed_runs: self.failed_runs,
            calls: self.calls,
            budget_exhausted: self.budget_exhausted,
            stopped_after: self.stopped_after,
            stopped_shards: if self.stopped_after.is_some() {
                vec![self.shard.0]
            } else {
                Vec::new()
            },
            elapsed_s: self.elapsed.as_secs_f64(),
            saving_s: self.saving.as_secs_f64(),
            shrinking_s: self.shrinking.as_secs_f64(),
            failed: self.failed_seeds.clone(),
            saved: {
                // by seed, as a merge of shards lists them
                let mut saved: Vec<SavedFailure> = self.failures.iter().map(SavedFailure::from).collect();
                saved.sort_by_key(|f| f.seed);
                saved
            },
            faults: self.faults.clone(),
            counters: self.counters.clone(),
            assertions: self.assertions.clone(),
            require_sometimes: self.require_sometimes,
        }
    }

    /// Writes [`Report::summary`] as JSON to `path` (what
    /// `REHEARSE_REPORT=path` does at the end of a sweep), through a
    /// temporary file renamed into place, so a reader never sees half a
    /// report.
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_string_pretty(&self.summary()).map_err(std::io::Error::other)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        std::fs::write(&tmp, json + "\n")?;
        std::fs::rename(&tmp, path)
    }
}

impl SweepSummary {
    /// Reads a report file written by [`Report::write_json`].
    pub fn read(path: &Path) -> Result<Self, SummaryError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SummaryError::Io {
            file: file.clone(),
            source,
        })?;
        Self::parse(&text).map_err(|message| SummaryError::Invalid { file, message })
    }

    /// Parses a report file's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        // The format and version first, so that another JSON file or a
        // newer report says so instead of naming a missing field.
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        match value.get("format").and_then(|f| f.as_str()) {
            Some(SUMMARY_FORMAT) => {}
            _ => return Err(format!("not a sweep report (no \"format\": \"{SUMMARY_FORMAT}\")")),
        }
        match value.get("version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(SUMMARY_VERSION) => {}
            Some(v) => {
                return Err(format!(
                    "report version {v}; this rehearse reads version {SUMMARY_VERSION}"
                ));
            }
            None => return Err("no \"version\"".to_string()),
        }
        // (from the text again, not the value: the error then names the
        // line and column of the bad field)
        serde_json::from_str(text).map_err(|e| format!("bad report: {e}"))
    }

    /// The `sometimes!` and `reachable!` assertions no explored run hit
    /// (in no shard, once merged), by name.
    pub fn never_hit(&self) -> Vec<&str> {
        self.assertions
            .iter()
            .filter(|(_, a)| a.never_hit())
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// [`SweepSummary::never_hit`] when the sweep requires them, else
    /// nothing: what fails the sweep.
    pub fn unmet(&self) -> Vec<&str> {
        if self.require_sometimes {
            self.never_hit()
        } else {
            Vec::new()
        }
    }

    /// Shards of `1..=shard_count` no file covered.
    pub fn missing_shards(&self) -> Vec<u64> {
        (1..=self.shard_count).filter(|s| !self.shards.contains(s)).collect()
    }

    /// Combines the reports of shards of one sweep, each labelled (by its
    /// file name) for the errors: the same sweep name, seed range and shard
    /// count, no shard twice. Counts and fault statistics are summed,
    /// failing seeds listed together by seed; missing shards are allowed
    /// here and listed by [`SweepSummary::missing_shards`].
    pub fn merge(parts: &[(String, Self)]) -> Result<Self, SummaryError> {
        let Some((first_label, first)) = parts.first() else {
            return Err(SummaryError::Mismatch("no report to merge".to_string()));
        };
        let mut merged = first.clone();
        merged.shards.clear();
        merged.runs = 0;
        merged.failed_runs = 0;
        merged.calls = 0;
        merged.budget_exhausted = false;
        merged.stopped_after = None;
        merged.stopped_shards.clear();
        merged.elapsed_s = 0.0;
        merged.saving_s = 0.0;
        merged.shrinking_s = 0.0;
        merged.failed.clear();
        merged.saved.clear();
        merged.faults.clear();
        merged.counters.clear();
        merged.assertions.clear();
        merged.require_sometimes = false;
        let mut seen: BTreeMap<u64, &str> = BTreeMap::new();
        for (label, part) in parts {
            let differs = |what: &str, a: String, b: String| {
                SummaryError::Mismatch(format!(
                    "{label}: {what} {b}, but {first_label} has {what} {a}: not shards of one sweep"
                ))
            };
            if part.name != first.name {
                return Err(differs(
                    "sweep",
                    format!("`{}`", first.name),
                    format!("`{}`", part.name),
                ));
            }
            if part.seeds != first.seeds {
                let r = |s: [u64; 2]| format!("{}..{}", s[0], s[1]);
                return Err(differs("seeds", r(first.seeds), r(part.seeds)));
            }
            if part.shard_count != first.shard_count {
                return Err(differs(
                    "shard count",
                    first.shard_count.to_string(),
                    part.shard_count.to_string(),
                ));
            }
            for s in &part.shards {
                if *s == 0 || *s > part.shard_count {
                    return Err(SummaryError::Invalid {
                        file: label.clone(),
                        message: format!("shard {s} of {} is out of range", part.shard_count),
                    });
                }
                if let Some(other) = seen.insert(*s, label) {
                    return Err(SummaryError::Mismatch(format!(
                        "shard {s} of {} is in both {other} and {label}",
                        part.shard_count
                    )));
                }
            }
            merged.shards.extend(&part.shards);
            merged.runs += part.runs;
            merged.failed_runs += part.failed_runs;
            merged.calls += part.calls;
            merged.budget_exhausted |= part.budget_exhausted;
            merged.stopped_after = merged.stopped_after.max(part.stopped_after);
            merged.stopped_shards.extend(&part.stopped_shards);
            merged.elapsed_s = merged.elapsed_s.max(part.elapsed_s);
            merged.saving_s = merged.saving_s.max(part.saving_s);
            merged.shrinking_s = merged.shrinking_s.max(part.shrinking_s);
            merged.failed.extend(part.failed.iter().cloned());
            merged.saved.extend(part.saved.iter().cloned());
            for (point, s) in &part.faults {
                merged.faults.entry(point.clone()).or_default().add(s);
            }
            for (name, n) in &part.counters {
                let c = merged.counters.entry(name.clone()).or_default();
                *c = c.saturating_add(*n);
            }
            for (name, a) in &part.assertions {
                match merged.assertions.get_mut(name) {
                    Some(total) => add_assertion(total, a),
                    None => {
                        merged.assertions.insert(name.clone(), a.clone());
                    }
                }
            }
            merged.require_sometimes |= part.require_sometimes;
        }
        merged.shards.sort_unstable();
        merged.stopped_shards.sort_unstable();
        merged.failed.sort();
        merged.saved.sort_by_key(|f| f.seed);
        Ok(merged)
    }
}

/// `s` unless `n` is 1.
fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

impl fmt::Display for SweepSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shards = if self.shard_count == 1 {
            String::new()
        } else {
            format!(", {} of {} shards", self.shards.len(), self.shard_count)
        };
        let saving = if self.saving_s > 0.0 {
            format!(
                "; then {:.2}s saving failures, of which {:.2}s shrinking",
                self.saving_s, self.shrinking_s
            )
        } else {
            String::new()
        };
        let stopped = match self.stopped_after {
            None => String::new(),
            Some(n) if self.shard_count == 1 => {
                format!(
                    "; stopped after {n} failure{}, as asked: REHEARSE_STOP_AFTER / stop_after",
                    plural(n)
                )
            }
            Some(n) => {
                let list: Vec<String> = self.stopped_shards.iter().map(u64::to_string).collect();
                format!(
                    "; shard{} {} stopped after {n} failure{} each, as asked: REHEARSE_STOP_AFTER / stop_after",
                    plural(list.len() as u64),
                    list.join(", "),
                    plural(n)
                )
            }
        };
        writeln!(
            f,
            "sweep `{}`: {} of {} seeds failed ({}seeds {}..{}{shards}, {} calls, {:.2}s{saving}{stopped})",
            self.name,
            self.failed_runs,
            self.runs,
            super::report::rate(self.failed_runs, self.runs),
            self.seeds[0],
            self.seeds[1],
            self.calls,
            self.elapsed_s
        )?;
        let missing = self.missing_shards();
        if !missing.is_empty() {
            let list: Vec<String> = missing.iter().map(u64::to_string).collect();
            writeln!(f, "MISSING shards: {} (their seeds were not run)", list.join(", "))?;
        }
        if self.budget_exhausted {
            writeln!(f, "a time budget ended at least one shard before its seeds did")?;
        }
        if self.shard_count > 1 && !self.stopped_shards.is_empty() {
            let list: Vec<String> = self.stopped_shards.iter().map(u64::to_string).collect();
            writeln!(
                f,
                "each shard stops at its own failures: the later seeds of shards {} were not run",
                list.join(", ")
            )?;
        }
        let mut kinds: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        for s in &self.failed {
            kinds.entry(&s.kind).or_default().push(s.seed);
        }
        for (kind, seeds) in &kinds {
            let shown: Vec<String> = seeds.iter().take(20).map(u64::to_string).collect();
            let more = if seeds.len() > shown.len() { ", ..." } else { "" };
            writeln!(f, "- {kind}: {} seeds ({}{more})", seeds.len(), shown.join(", "))?;
        }
        // The shrunk ones first (the smallest of each kind), as a sweep
        // prints them.
        let shrunk = self.saved.iter().filter(|s| s.shrink_stopped.is_some());
        let rest = self.saved.iter().filter(|s| s.shrink_stopped.is_none());
        let ordered: Vec<&SavedFailure> = shrunk.chain(rest).collect();
        let shown = super::report::REPORT_SHOWN.min(ordered.len());
        for s in &ordered[..shown] {
            writeln!(
                f,
                "- {}: {}",
                super::report::run_name(s.seed, s.steered),
                s.message.lines().next().unwrap_or("")
            )?;
            writeln!(f, "  scenario: {}", s.scenario.display())?;
            if let Some(shrunk) = &s.shrunk {
                if s.shrink_stopped.is_some() {
                    let numbers = shrink_numbers((s.calls, s.shrunk_calls), s.shrink_attempts, s.shrink_stopped);
                    writeln!(f, "  shrunk:   {} ({numbers})", shrunk.display())?;
                } else {
                    writeln!(f, "  shrunk:   {}", shrunk.display())?;
                }
            }
            if let Some(n) = &s.nondeterminism {
                writeln!(f, "  NOT DETERMINISTIC: {n}")?;
            }
            writeln!(f, "  reproduce: {}", s.repro)?;
        }
        if self.saved.len() > shown {
            // (each shard saves and shrinks up to its own limits, so merged
            // shards hold more than one sweep of the same seeds would)
            let shrunk = self.saved.iter().filter(|s| s.shrink_stopped.is_some()).count();
            let mut listed: Vec<(u64, bool)> = ordered[shown..].iter().map(|s| (s.seed, s.steered)).collect();
            listed.sort_unstable();
            let more: Vec<String> = listed
                .iter()
                .map(|&(seed, steered)| super::report::short_name(seed, steered))
                .collect();
            writeln!(
                f,
                "- {} more saved beside these (seeds {}); {} saved in all, {} shrunk",
                more.len(),
                more.join(", "),
                self.saved.len(),
                shrunk
            )?;
        }
        super::totals::write_faults(f, &self.faults)?;
        if !self.counters.is_empty() {
            writeln!(f, "counters:")?;
            let width = self.counters.keys().map(String::len).max().unwrap_or(0);
            for (name, n) in &self.counters {
                writeln!(f, "  {name:<width$}  {n}")?;
            }
        }
        assertions::write_table(f, &self.assertions)?;
        // (a merge requires them with `--require-sometimes`, or because a
        // shard's sweep did)
        super::report::write_unmet(
            f,
            &self.unmet(),
            "a shard's sweep (REHEARSE_REQUIRE_SOMETIMES / require_sometimes) or `rehearse merge --require-sometimes` requires them",
        )
    }
}
