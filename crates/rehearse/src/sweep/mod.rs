//! [`Sweep`]: many seeds of a simulation, in parallel; every failure saved
//! as a scenario, checked for determinism, and shrunk.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::Failure;
use crate::sim::{FaultConfig, Sim};

mod determinism;
mod knobs;
mod pool;
mod regressions;
mod report;
mod repro;
mod rerun;
mod save;
mod shrink;
mod shrinker;
mod steer;
mod stop;
mod summary;
#[cfg(test)]
mod tests;
mod totals;

pub use determinism::{NonDeterminism, check_determinism, check_determinism_across_processes};
use knobs::{Plan, default_command, default_out_dir, env, steer_from_env, tape_limit_from_env};
use pool::{install_panic_hook, progress_bar, run_pool};
pub use report::{FailureReport, Report};
use repro::Repro;
pub use rerun::{Rerun, RerunOutcome};
pub use shrink::ShrinkStop;
pub use steer::{STEER_CORPUS, STEER_KEYS, STEER_MUTANTS};
pub use summary::{SUMMARY_FORMAT, SUMMARY_VERSION, SavedFailure, SummaryError, SweepSummary};
pub use totals::{FailedSeed, FaultStats};

/// The default size limit of a sweep's run tapes: 64 MiB of compact
/// encoding (a scenario file of about 200 MB), some ten times the tape of
/// the longest example run (`failover_ref --nodes 9`).
pub const DEFAULT_TAPE_LIMIT_BYTES: u64 = 64 << 20;

/// Runs a simulation for many seeds. See the crate docs for an example.
#[derive(Debug, Clone)]
pub struct Sweep {
    name: String,
    seeds: Range<u64>,
    threads: Option<usize>,
    time_budget: Option<Duration>,
    stop_after: Option<u64>,
    out_dir: Option<PathBuf>,
    shrink: bool,
    shrink_time: Duration,
    shrink_attempts: u64,
    shrink_limit: usize,
    save_limit: usize,
    faults: FaultConfig,
    regressions: Option<PathBuf>,
    repro: Option<String>,
    params: BTreeMap<String, String>,
    rerun: Option<PathBuf>,
    progress: Option<bool>,
    quiet: bool,
    shard: (u64, u64),
    report_file: Option<PathBuf>,
    require_sometimes: bool,
    assertion_scope: Vec<String>,
    steer: bool,
}

impl Sweep {
    /// A sweep named `name` (the folder its failures are saved in).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            seeds: 0..1000,
            threads: None,
            time_budget: None,
            stop_after: None,
            out_dir: None,
            shrink: true,
            shrink_time: Duration::from_secs(300),
            shrink_attempts: 20_000,
            shrink_limit: 3,
            save_limit: 50,
            faults: FaultConfig {
                tape_limit_bytes: Some(DEFAULT_TAPE_LIMIT_BYTES),
                ..FaultConfig::default()
            },
            regressions: None,
            repro: None,
            params: BTreeMap::new(),
            rerun: None,
            progress: None,
            quiet: false,
            shard: (0, 1),
            report_file: None,
            require_sometimes: false,
            assertion_scope: Vec::new(),
            steer: false,
        }
    }

    /// Runs only shard `i` of `n` (1-based): the seeds whose position in
    /// the range is `i - 1` modulo `n`. `REHEARSE_SHARD=i/n` overrides it.
    pub fn shard(mut self, i: u64, n: u64) -> Self {
        let n = n.max(1);
        self.shard = (i.clamp(1, n) - 1, n);
        self
    }

    /// Coverage-guided steering (default off; `REHEARSE_STEER=on` or `off`
    /// wins): besides fresh seeds, run forks of the choice sequences
    /// that reached new coverage (a counter of [`Sim::count`] or a fault
    /// point fired, by order of magnitude, an assertion that held), kept
    /// up to the moment they first reached a rarely reached key, then
    /// drawn afresh. The same sweep runs the same
    /// sequences on any number of threads; each shard steers on its own.
    /// A steered failure is saved as `steered-N.ron` and replays with
    /// `REHEARSE_REPLAY=<file>` (its repro line says so), not
    /// `REHEARSE_SEED`. The report counts [`STEER_MUTANTS`],
    /// [`STEER_CORPUS`] and [`STEER_KEYS`]. See the crate README's
    /// "Steering" section for how it works and what it measures now, and
    /// `docs/steering.md` in the crate for the measurements in full.
    ///
    /// ```
    /// use rehearse::{Failure, Sweep};
    ///
    /// let out = tempfile::tempdir().unwrap();
    /// let report = Sweep::new("doc-steer")
    ///     .seeds(0..200)
    ///     .out_dir(out.path())
    ///     .steer(true)
    ///     .quiet()
    ///     .run(|sim| {
    ///         let depth = (0..8).take_while(|_| sim.chance(0.3)).count();
    ///         sim.count(&format!("depth {depth}"), 1);
    ///         Ok(())
    ///     });
    /// assert!(report.counters[rehearse::STEER_MUTANTS] > 0);
    /// ```
    pub fn steer(mut self, on: bool) -> Self {
        self.steer = on;
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

    /// Ends the sweep at its `n`-th failing seed: seeds run in the order
    /// planned (saved regressions first, then the range, or this shard's
    /// part of it) until the `n`-th of them fails, and the report covers
    /// exactly the seeds up to and including that one: runs, calls,
    /// failing seeds (`n` of them), fault statistics, counters, assertions
    /// and saved failures are what a sweep of only those seeds gives, on
    /// any number of threads (seeds past it that other threads had already
    /// started are run to their end and left out). [`Report::stopped_after`]
    /// says `Some(n)` when seeds were left unrun. `REHEARSE_STOP_AFTER=n`
    /// overrides it; `0` is a configuration error. With
    /// [`Sweep::steer`], the slots of a generation count in slot order, and
    /// the sweep ends at the same slot on any number of threads.
    ///
    /// ```
    /// use rehearse::{Failure, Sweep};
    ///
    /// let report = Sweep::new("doc-stop").seeds(0..100).stop_after(2).shrink(false).quiet().run(|sim| {
    ///     if sim.seed() % 10 == 3 { Err(Failure::new("ends in 3")) } else { Ok(()) }
    /// });
    /// assert_eq!((report.runs, report.failed_runs, report.stopped_after), (14, 2, Some(2)));
    /// assert_eq!(report.failed_seeds.iter().map(|f| f.seed).collect::<Vec<_>>(), [3, 13]);
    /// ```
    pub fn stop_after(mut self, n: u64) -> Self {
        self.stop_after = Some(n);
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

    /// Time limit for shrinking one failure (default 300 s): a safety
    /// valve, the bound is [`Sweep::shrink_attempts`]. The report says
    /// when it bit ([`ShrinkStop::Time`]).
    pub fn shrink_time(mut self, d: Duration) -> Self {
        self.shrink_time = d;
        self
    }

    /// Most candidate runs while shrinking one failure (default 20,000).
    /// A bound in runs gives the same shrunk scenario on any machine,
    /// where [`Sweep::shrink_time`] depends on its speed: a test that
    /// checks what shrinking gives should bound attempts and keep the time
    /// limit generous, as a safety valve only.
    pub fn shrink_attempts(mut self, n: u64) -> Self {
        self.shrink_attempts = n;
        self
    }

    /// How many failures are shrunk (default 3): of the ones saved, the
    /// smallest as found of each kind (fewest calls, then choices, then
    /// the lowest seed), then the next smallest of each, as Hypothesis
    /// keeps the smallest example of each origin. A failure found small
    /// shrinks further and sooner; raise [`Sweep::save_limit`] to choose
    /// among more. The report lists the shrunk ones first
    /// ([`Report::failures`]).
    pub fn shrink_limit(mut self, n: usize) -> Self {
        self.shrink_limit = n;
        self
    }

    /// How many failures (lowest seeds first) are saved (default 50).
    pub fn save_limit(mut self, n: usize) -> Self {
        self.save_limit = n;
        self
    }

    /// The size limit of each run's tapes, in bytes of their compact
    /// encoding (about a third of a scenario file's size; default
    /// [`DEFAULT_TAPE_LIMIT_BYTES`], 64 MiB; `None` for no limit).
    /// `REHEARSE_TAPE_LIMIT` overrides it (`256M`, `1G`, `off`).
    ///
    /// A sweep holds the tapes of the failures it will save (at most
    /// [`Sweep::save_limit`] of them) and one run's tapes per thread, so
    /// its memory is bounded by this limit times their number. A run whose
    /// tape reaches the limit keeps its first calls and fails with kind
    /// `limit`, whose message names the limit and how to raise it (a run
    /// that fails its own way keeps its failure, and the message says the
    /// tape was cut).
    ///
    /// ```
    /// use rehearse::{Sweep, Tape};
    ///
    /// let out = tempfile::tempdir().unwrap();
    /// let report = Sweep::new("doc-limit")
    ///     .seeds(0..3)
    ///     .out_dir(out.path())
    ///     .tape_limit_bytes(Some(1024))
    ///     .shrink(false)
    ///     .quiet()
    ///     .run(|sim| {
    ///         for i in 0..1000 {
    ///             sim.note(&format!("step {i}"));
    ///         }
    ///         Ok(())
    ///     });
    /// let f = &report.failures[0];
    /// assert_eq!(f.kind, "limit");
    /// assert!(f.message.contains("limit of 1 KiB"), "{}", f.message);
    /// ```
    pub fn tape_limit_bytes(mut self, bytes: Option<u64>) -> Self {
        self.faults.tape_limit_bytes = bytes;
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

    /// The command that re-runs the sweep, for the repro line of each
    /// failure: `REHEARSE_SEED=<seed> <command>`.
    ///
    /// `{name}` in the command is filled from the failing run's parameter
    /// `name` (its scenario header's `params`), shell-quoted where needed;
    /// `{{` and `}}` are literal braces. An on/off flag is
    /// `{name?TEXT}`: `TEXT`, as written, when the parameter's value is on
    /// (anything but `false`, `0` or empty), nothing when it is off; so
    /// `.param("datagrams", datagrams).command("my_sim --seeds 1{datagrams? --datagrams}")`
    /// gives `my_sim --seeds 1 --datagrams` or `my_sim --seeds 1`. A placeholder must name a parameter
    /// declared with [`Sweep::param`]: those are known before any run, so a
    /// typo is an error when the sweep starts (a failure of kind
    /// `configuration` in the report, nothing run), never a blank in a repro
    /// line. Parameters the command does not use (and all of them, for the
    /// guessed command) are listed after it as a shell comment, so a flag
    /// cannot go missing from the line unnoticed:
    ///
    /// ```text
    /// REHEARSE_SEED=12 cargo run --example my_sim -- --bug lost-sync --seeds 1  # params: nodes=3
    /// ```
    ///
    /// Default: guessed from the test or example name
    /// (`cargo test -- NAME --exact`, `cargo run --release --example NAME`).
    ///
    /// ```
    /// use rehearse::{Failure, Sweep};
    ///
    /// let out = tempfile::tempdir().unwrap();
    /// let bug = "lost-sync"; // from the program's flags
    /// let report = Sweep::new("doc-repro")
    ///     .seeds(0..20)
    ///     .out_dir(out.path())
    ///     .param("bug", bug)
    ///     .command("cargo run --example my_sim -- --bug {bug} --seeds 1")
    ///     .quiet()
    ///     .run(|sim| {
    ///         sim.set_param("nodes", 3); // set in the run: listed after the command
    ///         if sim.seed() == 12 { Err(Failure::new("two leaders: n1 and n2")) } else { Ok(()) }
    ///     });
    /// assert_eq!(
    ///     report.failures[0].repro,
    ///     "REHEARSE_SEED=12 cargo run --example my_sim -- --bug lost-sync --seeds 1  # params: nodes=3"
    /// );
    /// // A typo in a placeholder stops the sweep before it starts.
    /// let report = Sweep::new("doc-repro").command("run --bgu {bgu}").param("bug", bug).quiet().run(|_| Ok(()));
    /// assert_eq!((report.runs, report.failures[0].kind.as_str()), (0, "configuration"));
    /// ```
    pub fn command(mut self, command: impl Into<String>) -> Self {
        self.repro = Some(command.into());
        self
    }

    /// A parameter of every run of this sweep: a flag or size the program
    /// was started with (`--bug lost-sync`), which re-running a seed needs
    /// beside it. Each run's [`Sim`] has it set
    /// ([`Sim::set_param`](crate::Sim::set_param), readable with
    /// [`Sim::param`](crate::Sim::param)) before the run starts, so it is in
    /// the header of every saved tape; [`Sweep::command`] placeholders name
    /// these parameters, and a re-run of a saved file reports any parameter
    /// whose value differs from the file's.
    pub fn param(mut self, key: impl Into<String>, value: impl std::fmt::Display) -> Self {
        self.params.insert(key.into(), value.to_string());
        self
    }

    /// Instead of sweeping, re-runs the saved scenario at `path` (its seed,
    /// and the choices a shrunk one records) and compares the new run with
    /// the file: what `REHEARSE_REPLAY=path` does (the variable wins). The
    /// report's [`Report::rerun`] says how it went; see [`Sweep::run`].
    pub fn rerun(mut self, path: impl Into<PathBuf>) -> Self {
        self.rerun = Some(path.into());
        self
    }

    /// Forces the progress bar on or off (default: on when stderr is a
    /// terminal).
    pub fn progress(mut self, on: bool) -> Self {
        self.progress = Some(on);
        self
    }

    /// Writes the sweep's report as JSON to `path` when it ends
    /// ([`Report::write_json`]); `REHEARSE_REPORT=path` does the same and
    /// wins. Each shard of a sweep split across machines
    /// (`REHEARSE_SHARD=i/n`) writes its own file, and `rehearse merge
    /// FILES...` combines them into one answer: the same failing seeds,
    /// fault statistics and counters as one unsharded run.
    pub fn report_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.report_file = Some(path.into());
        self
    }

    /// Fails the sweep when a [`sometimes!`](crate::sometimes) or
    /// [`reachable!`](crate::reachable) assertion was never hit by its
    /// explored runs (those of the catalog within [`Sweep::assertions_in`]
    /// included): [`Report::passed`] is false, [`Report::assert_ok`]
    /// panics and the summary says which. `REHEARSE_REQUIRE_SOMETIMES=1`
    /// (or `0`) overrides it. A re-run of one seed never requires them.
    /// For a sweep split in shards, require them of the merged report
    /// (`rehearse merge --require-sometimes`): a shard alone may miss one
    /// that another hits.
    ///
    /// ```
    /// let report = rehearse::Sweep::new("doc-require").seeds(0..10).require_sometimes(true).quiet().run(|sim| {
    ///     rehearse::sometimes!("doc-require: a draw of 1000", sim.below(1000) == 1000);
    ///     Ok(())
    /// });
    /// assert_eq!(report.failed_runs, 0);
    /// assert!(!report.passed());
    /// assert!(report.unmet().contains(&"doc-require: a draw of 1000"));
    /// ```
    pub fn require_sometimes(mut self, on: bool) -> Self {
        self.require_sometimes = on;
        self
    }

    /// Lists, beside the assertions the runs evaluated, only the catalog's
    /// sites whose module path is `module` or under it
    /// (`"my_crate::sim"`); may be given several times. By default every
    /// assertion site linked into the program is listed, never hit or
    /// not: a test program with sweeps of different systems scopes each
    /// sweep to its own.
    pub fn assertions_in(mut self, module: impl Into<String>) -> Self {
        self.assertion_scope.push(module.into());
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
    /// `seed-N.ron`, plus one file per named tape, each header carrying the
    /// run's failure and parameters; the first ones are run again to check
    /// that they are deterministic and shrunk to `seed-N.shrunk.ron`.
    /// `REHEARSE_SEED`, `REHEARSE_SEEDS`, `REHEARSE_TIME`, `REHEARSE_SHARD`,
    /// `REHEARSE_STOP_AFTER`, `REHEARSE_THREADS`, `REHEARSE_REPLAY`, `REHEARSE_DIR`,
    /// `REHEARSE_REPORT` and `REHEARSE_REQUIRE_SOMETIMES` override the
    /// builder from the environment (a bad value is an error in the
    /// report, not a panic).
    ///
    /// **Re-running a saved run compares it with the file.**
    /// `REHEARSE_REPLAY=path` (or [`Sweep::rerun`]) re-runs a saved
    /// scenario's seed and choices; `REHEARSE_SEED=N` re-runs seed `N` and,
    /// when this sweep's folder holds `seed-N.ron`, compares with it (or
    /// says there is nothing to compare with). The new run's calls (names,
    /// inputs, outputs; named tapes saved beside the file too) and failure
    /// are compared with the file's, and [`Report::rerun`] says how it went
    /// in words: `still fails the same way (kind ...), N calls identical to
    /// the saved run`, `no longer fails; diverges from the saved run at call
    /// N: ...`, `fails differently: ...`, with any parameter whose value
    /// differs from the file's. A run that fails (the same way or not) fails
    /// the report as any failing seed does; one that no longer fails passes
    /// (that is what a fix looks like), but never silently: a re-run asked
    /// for from the environment writes its verdict to stderr past the test
    /// harness's output capture, even with [`Sweep::quiet`], so it shows
    /// under `cargo test` when the test passes. (A [`Replayer`](crate::Replayer)
    /// is the other kind of replay: it answers the code's calls from the
    /// file and stops at the first call that differs.)
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
    pub fn run<F>(mut self, f: F) -> Report
    where
        F: Fn(&mut Sim) -> Result<(), Failure> + Sync,
    {
        install_panic_hook();
        match tape_limit_from_env() {
            Ok(Some(limit)) => self.faults.tape_limit_bytes = limit,
            Ok(None) => {}
            Err(message) => return self.config_error(message),
        }
        match steer_from_env() {
            Ok(Some(on)) => self.steer = on,
            Ok(None) => {}
            Err(message) => return self.config_error(message),
        }
        let repro = match &self.repro {
            Some(template) => match Repro::new(template, &self.params) {
                Ok(repro) => repro,
                Err(message) => return self.config_error(message),
            },
            None => Repro::guessed(default_command()),
        };
        // Every run, re-runs and shrinking included, starts with the
        // sweep's parameters set.
        let params = &self.params;
        let f = |sim: &mut Sim| {
            for (k, v) in params {
                sim.set_param(k.clone(), v);
            }
            f(sim)
        };
        if let Some(path) = std::env::var_os(env::REPLAY) {
            return self.replay_file(Path::new(&path), &f, &repro, true);
        }
        if let Some(path) = &self.rerun {
            return self.replay_file(path, &f, &repro, false);
        }
        let plan = match Plan::resolve(&self) {
            Ok(plan) => plan,
            Err(message) => return self.config_error(message),
        };
        let require_sometimes = match knobs::require_sometimes_from_env() {
            Ok(on) => on.unwrap_or(self.require_sometimes) && plan.single.is_none(),
            Err(message) => return self.config_error(message),
        };
        let dir = self.out_dir.clone().unwrap_or_else(default_out_dir).join(&self.name);
        let (pooled, rerun) = match plan.single {
            Some(seed) => {
                let (pooled, rerun) = self.run_single(&f, seed, &dir);
                (pooled, Some(rerun))
            }
            None => {
                let show_progress = self.progress.unwrap_or_else(|| std::io::stderr().is_terminal());
                let bar = show_progress.then(|| progress_bar(&self.name, plan.total, plan.budget.is_some()));
                let pooled = if self.steer {
                    steer::run_pool_steered(&f, &plan, &self.faults, self.save_limit, bar.as_ref()).0
                } else if let Some(n) = plan.stop_after {
                    stop::run_pool_stopping(&f, &plan, &self.faults, self.save_limit, bar.as_ref(), n)
                } else {
                    run_pool(&f, &plan, &self.faults, self.save_limit, bar.as_ref())
                };
                (pooled, None)
            }
        };

        let saving = Instant::now();
        let mut failures = Vec::new();
        // A steered failure does not fail again from its seed alone.
        let steered: Vec<u64> = pooled
            .found
            .iter()
            .filter(|(_, o)| o.given.is_some())
            .map(|(s, _)| *s)
            .collect();
        let sizes: Vec<(&str, u64, usize, u64)> = pooled
            .found
            .iter()
            .map(|(seed, o)| {
                let kind = o.result.as_ref().err().map_or("?", |e| e.kind());
                (kind, o.calls, o.choices.len(), *seed)
            })
            .collect();
        let order = shrink::shrink_order(&sizes, self.shrink_limit);
        let mut found: Vec<_> = pooled.found.into_iter().zip(order).collect();
        // The ones to shrink first, in the order chosen, then the others
        // by seed: `failures[0]` is the smallest of the first kind, shrunk.
        found.sort_by_key(|((seed, _), place)| (place.is_none(), *place, *seed));
        for ((seed, outcome), place) in found {
            let failure = self.report_failure(&f, &dir, seed, outcome, place.is_some(), &repro);
            // Shrinking can take minutes: say each one as it ends.
            if !self.quiet && failure.shrink_stopped.is_some() {
                eprintln!(
                    "sweep `{}`: seed {} shrunk in {:.2}s ({})",
                    self.name,
                    seed,
                    failure.shrink_elapsed.as_secs_f64(),
                    report::shrink_numbers(failure.calls, failure.shrink_attempts, failure.shrink_stopped)
                );
            }
            failures.push(failure);
        }
        let saving = if failures.is_empty() {
            Duration::ZERO
        } else {
            saving.elapsed()
        };
        let shrinking = failures.iter().map(|r| r.shrink_elapsed).sum();
        let seeded: Vec<FailureReport> = failures
            .iter()
            .filter(|f| !steered.contains(&f.seed))
            .cloned()
            .collect();
        self.write_regressions(&plan.regressions, &seeded);
        let mut totals = pooled.totals;
        self.list_catalog(&mut totals.assertions);
        let mut report = Report {
            name: self.name.clone(),
            runs: pooled.runs,
            failed_runs: pooled.failed,
            failures,
            elapsed: pooled.elapsed,
            saving,
            shrinking,
            calls: pooled.calls,
            budget_exhausted: pooled.out_of_time,
            stopped_after: plan.stop_after.filter(|_| pooled.stopped),
            rerun,
            seeds: plan.range.clone(),
            shard: (plan.shard.0 + 1, plan.shard.1),
            failed_seeds: totals.failed,
            faults: totals.faults,
            counters: totals.counters,
            assertions: totals.assertions,
            require_sometimes,
            printed: false,
        };
        report.print(self.quiet, true);
        self.write_report_file(&report);
        report
    }

    /// Adds every assertion site of the program's catalog in scope that
    /// no run evaluated, with zero counts (so a `sometimes!` no run reached
    /// is listed as never hit, in a sweep and in a re-run alike).
    fn list_catalog(&self, assertions: &mut BTreeMap<String, crate::assertions::AssertionStats>) {
        for site in crate::assertions::catalog() {
            if self.in_scope(site.module) {
                assertions
                    .entry(site.name.to_string())
                    .or_insert_with(|| crate::assertions::AssertionStats::unreached(site));
            }
        }
    }

    /// Whether catalog sites of `module` are listed ([`Sweep::assertions_in`]).
    fn in_scope(&self, module: &str) -> bool {
        self.assertion_scope.is_empty()
            || self.assertion_scope.iter().any(|scope| {
                module
                    .strip_prefix(scope.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
            })
    }

    /// `REHEARSE_REPORT` or [`Sweep::report_file`]: the report as JSON. A
    /// file that cannot be written is said on stderr (the sweep's own
    /// verdict stands).
    fn write_report_file(&self, report: &Report) {
        let path = std::env::var_os(knobs::env::REPORT)
            .map(PathBuf::from)
            .or_else(|| self.report_file.clone());
        if let Some(path) = path {
            if let Err(e) = report.write_json(&path) {
                eprintln!(
                    "sweep `{}`: could not write its report to {}: {e}",
                    self.name,
                    path.display()
                );
            }
        }
    }
}
