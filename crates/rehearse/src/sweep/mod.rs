//! [`Sweep`]: many seeds of a simulation, in parallel; every failure saved
//! as a scenario, checked for determinism, and shrunk.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Failure;
use crate::sim::{FaultConfig, Sim};

mod determinism;
mod knobs;
mod pool;
mod regressions;
mod report;
mod save;
mod shrink;
#[cfg(test)]
mod tests;

pub use determinism::{NonDeterminism, check_determinism, check_determinism_across_processes};
use knobs::{Plan, default_command, default_out_dir, env};
use pool::{install_panic_hook, progress_bar, run_pool};
pub use report::{FailureReport, Report};

/// Runs a simulation for many seeds. See the crate docs for an example.
#[derive(Debug, Clone)]
pub struct Sweep {
    name: String,
    seeds: Range<u64>,
    threads: Option<usize>,
    time_budget: Option<Duration>,
    out_dir: Option<PathBuf>,
    shrink: bool,
    shrink_time: Duration,
    shrink_limit: usize,
    save_limit: usize,
    faults: FaultConfig,
    regressions: Option<PathBuf>,
    repro: Option<String>,
    progress: Option<bool>,
    quiet: bool,
    shard: (u64, u64),
}

impl Sweep {
    /// A sweep named `name` (the folder its failures are saved in).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            seeds: 0..1000,
            threads: None,
            time_budget: None,
            out_dir: None,
            shrink: true,
            shrink_time: Duration::from_secs(30),
            shrink_limit: 3,
            save_limit: 50,
            faults: FaultConfig::default(),
            regressions: None,
            repro: None,
            progress: None,
            quiet: false,
            shard: (0, 1),
        }
    }

    /// Runs only shard `i` of `n` (1-based): the seeds whose position in
    /// the range is `i - 1` modulo `n`. `REHEARSE_SHARD=i/n` overrides it.
    pub fn shard(mut self, i: u64, n: u64) -> Self {
        let n = n.max(1);
        self.shard = (i.clamp(1, n) - 1, n);
        self
    }

    /// The seeds to run (default `0..1000`).
    pub fn seeds(mut self, seeds: Range<u64>) -> Self {
        self.seeds = seeds;
        self
    }

    /// Worker threads (default: all cores).
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = Some(n.max(1));
        self
    }

    /// Stop starting new seeds after `d`.
    pub fn time_budget(mut self, d: Duration) -> Self {
        self.time_budget = Some(d);
        self
    }

    /// Where failures are saved (default `target/rehearse`); each sweep
    /// writes under `DIR/<name>/`.
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Whether to shrink failures (default true).
    pub fn shrink(mut self, on: bool) -> Self {
        self.shrink = on;
        self
    }

    /// Time limit for shrinking one failure (default 30 s).
    pub fn shrink_time(mut self, d: Duration) -> Self {
        self.shrink_time = d;
        self
    }

    /// How many failures (lowest seeds first) are shrunk (default 3).
    pub fn shrink_limit(mut self, n: usize) -> Self {
        self.shrink_limit = n;
        self
    }

    /// How many failures (lowest seeds first) are saved (default 50).
    pub fn save_limit(mut self, n: usize) -> Self {
        self.save_limit = n;
        self
    }

    /// Only these fault points may fire.
    pub fn only_faults<I: IntoIterator<Item = S>, S: Into<String>>(mut self, points: I) -> Self {
        self.faults.only = Some(points.into_iter().map(Into::into).collect::<BTreeSet<_>>());
        self
    }

    /// Fixes the probability of one fault point in every run (see
    /// [`Sim::set_fault_rate`](crate::Sim::set_fault_rate)): always enabled
    /// at that rate, 0 to keep it off.
    pub fn fault_rate(mut self, point: impl Into<String>, probability: f64) -> Self {
        let p = if probability.is_finite() {
            probability.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.faults.rates.insert(point.into(), p);
        self
    }

    /// Turns swarm selection off: every fault point met is enabled.
    pub fn no_swarm(mut self) -> Self {
        self.faults.no_swarm = true;
        self
    }

    /// A regressions file (like proptest's): failing seeds are appended to
    /// it (not under `CI`), and seeds listed in it run first every time.
    /// Commit it; delete a line to forget a seed.
    pub fn regressions(mut self, path: impl Into<PathBuf>) -> Self {
        self.regressions = Some(path.into());
        self
    }

    /// The command that re-runs the sweep; the repro line is
    /// `REHEARSE_SEED=<seed> <command>`. Default: guessed from the test or
    /// example name.
    pub fn command(mut self, command: impl Into<String>) -> Self {
        self.repro = Some(command.into());
        self
    }

    /// Forces the progress bar on or off (default: on when stderr is a
    /// terminal).
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = Some(on);
        self
    }

    /// No summary line on stderr.
    pub fn quiet(mut self) -> Self {
        self.quiet = true;
        self
    }

    /// Runs the sweep. `f` runs one seed on the `Sim` it is given and
    /// returns `Err(Failure)` (or panics) when the run fails. Return at the
    /// first violation rather than at the end of a fixed-length run: the
    /// shrinker can then cut the calls after it too.
    ///
    /// Seeds run on every core (or [`Sweep::threads`]). Each failing seed
    /// is saved under `target/rehearse/<name>/` (or [`Sweep::out_dir`]) as
    /// `seed-N.ron`, plus one file per named tape; the first ones are run
    /// again to check that they are deterministic and shrunk to
    /// `seed-N.shrunk.ron`. `REHEARSE_SEED`, `REHEARSE_SEEDS`,
    /// `REHEARSE_TIME`, `REHEARSE_SHARD`, `REHEARSE_THREADS`,
    /// `REHEARSE_REPLAY` and `REHEARSE_DIR` override the builder from the
    /// environment (a bad value is an error in the report, not a panic).
    ///
    /// ```
    /// use rehearse::{Failure, Sweep};
    ///
    /// let out = tempfile::tempdir().unwrap();
    /// let report = Sweep::new("doc-sweep")
    ///     .seeds(0..200)
    ///     .out_dir(out.path())
    ///     .quiet()
    ///     .run(|sim| {
    ///         // Fails when the first two draws are both below 5 of 100.
    ///         if sim.below(100) < 5 && sim.below(100) < 5 {
    ///             return Err(Failure::with_kind("unlucky", "two small draws"));
    ///         }
    ///         Ok(())
    ///     });
    /// assert_eq!(report.runs, 200);
    /// for f in &report.failures {
    ///     assert_eq!(f.kind, "unlucky");
    ///     println!("seed {}: {} (reproduce: {})", f.seed, f.message, f.repro);
    /// }
    /// ```
    pub fn run<F>(self, f: F) -> Report
    where
        F: Fn(&mut Sim) -> Result<(), Failure> + Sync,
    {
        install_panic_hook();
        let command = self.repro.clone().unwrap_or_else(default_command);
        if let Some(path) = std::env::var_os(env::REPLAY) {
            return self.replay_file(Path::new(&path), &f, &command);
        }
        let plan = match Plan::resolve(&self) {
            Ok(plan) => plan,
            Err(message) => return self.config_error(message),
        };
        let show_progress = self.progress.unwrap_or_else(|| std::io::stderr().is_terminal()) && plan.single.is_none();
        let bar = show_progress.then(|| progress_bar(&self.name, plan.total, plan.budget.is_some()));
        let pooled = run_pool(&f, &plan, &self.faults, self.save_limit, bar.as_ref());

        let dir = self.out_dir.clone().unwrap_or_else(default_out_dir).join(&self.name);
        let mut failures = Vec::new();
        for (index, (seed, outcome)) in pooled.found.into_iter().enumerate() {
            failures.push(self.report_failure(&f, &dir, seed, outcome, index < self.shrink_limit, &command));
        }
        self.write_regressions(&plan.regressions, &failures);
        let report = Report {
            name: self.name.clone(),
            runs: pooled.runs,
            failed_runs: pooled.failed,
            failures,
            elapsed: pooled.elapsed,
            calls: pooled.calls,
            budget_exhausted: pooled.out_of_time,
        };
        if !self.quiet {
            report.print_summary();
        }
        report
    }
}
