//! [`Sweep`]: many seeds of a simulation, in parallel; every failure saved
//! as a scenario, checked for determinism, and shrunk.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::fmt::{self, Write as _};
use std::io::IsTerminal;
use std::ops::Range;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use crate::sim::{FaultConfig, Phase, Sim, decode_choices};
use crate::{Failure, Tape, Trace};

/// Environment variables that override a sweep, for long runs in CI jobs.
pub mod env {
    /// Run one seed only (`REHEARSE_SEED=42`).
    pub const SEED: &str = "REHEARSE_SEED";
    /// Override the seed range (`REHEARSE_SEEDS=100000` or `5000..6000`).
    pub const SEEDS: &str = "REHEARSE_SEEDS";
    /// Override the time budget (`REHEARSE_TIME=10m`).
    pub const TIME: &str = "REHEARSE_TIME";
    /// Run shard `i` of `n` (1-based, `REHEARSE_SHARD=2/4`), like nextest partitions.
    pub const SHARD: &str = "REHEARSE_SHARD";
    /// Re-run a saved (shrunk) scenario's choices (`REHEARSE_REPLAY=path.ron`).
    pub const REPLAY: &str = "REHEARSE_REPLAY";
    /// Worker threads (`REHEARSE_THREADS=4`).
    pub const THREADS: &str = "REHEARSE_THREADS";
    /// Where failures are saved (default: `target/rehearse`).
    pub const DIR: &str = "REHEARSE_DIR";
}

/// Failures a report lists in full; the rest are listed by seed.
const REPORT_SHOWN: usize = 5;

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

/// One failing seed.
#[derive(Debug, Clone)]
pub struct FailureReport {
    /// The seed.
    pub seed: u64,
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
    /// Saved failures, by seed.
    pub failures: Vec<FailureReport>,
    /// Wall time of the sweep (without saving and shrinking).
    pub elapsed: Duration,
    /// World calls recorded over all runs.
    pub calls: u64,
    /// True when the time budget ended the sweep before the seed range did.
    pub budget_exhausted: bool,
}

impl Report {
    /// Panics with a readable summary if any seed failed.
    #[track_caller]
    pub fn assert_ok(&self) {
        if self.failed_runs > 0 {
            panic!("{self}");
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
            "sweep `{}`: {} of {} seeds failed ({:.2}s, {:.0} seeds/s, {} calls)",
            self.name,
            self.failed_runs,
            self.runs,
            self.elapsed.as_secs_f64(),
            self.seeds_per_second(),
            self.calls
        )?;
        for r in self.failures.iter().take(REPORT_SHOWN) {
            writeln!(f, "- seed {}: {}", r.seed, r.message)?;
            writeln!(f, "  scenario: {}", r.trace.display())?;
            if let Some(s) = &r.shrunk {
                let msg = r.shrunk_message.as_deref().unwrap_or("");
                writeln!(
                    f,
                    "  shrunk:   {} ({} -> {} choices): {msg}",
                    s.display(),
                    r.choices.0,
                    r.choices.1.unwrap_or(0)
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
                .map(|r| r.seed.to_string())
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
        Ok(())
    }
}

/// Everything one run produced.
struct Outcome {
    result: Result<(), Failure>,
    /// The run's tapes, rendered as text only when saved or compared.
    trace: Tape,
    named: Vec<(String, Tape)>,
    choices: Vec<u64>,
    calls: u64,
}

thread_local! {
    static IN_RUN: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs (once) a panic hook that keeps panics inside sweep runs quiet
/// and remembers where they happened; other panics go to the previous hook.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if IN_RUN.with(Cell::get) {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(at));
            } else {
                previous(info);
            }
        }));
    });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Runs `f` once on a fresh or replayed sim, catching panics.
fn run_once<F>(f: &F, seed: u64, given: Option<Vec<u64>>, faults: &FaultConfig) -> Outcome
where
    F: Fn(&mut Sim) -> Result<(), Failure>,
{
    run_phase(f, seed, given, faults, None)
}

fn run_phase<F>(f: &F, seed: u64, given: Option<Vec<u64>>, faults: &FaultConfig, phase: Option<Phase>) -> Outcome
where
    F: Fn(&mut Sim) -> Result<(), Failure>,
{
    let phase = phase.unwrap_or(if given.is_some() { Phase::Shrink } else { Phase::Explore });
    let mut sim = Sim::build(seed, given, faults.clone());
    sim.set_phase(phase);
    IN_RUN.with(|c| c.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(|| f(&mut sim)));
    IN_RUN.with(|c| c.set(false));
    let result = match result {
        Ok(r) => r,
        Err(payload) => {
            let message = panic_message(&*payload);
            let at = LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or_default();
            Err(Failure::with_kind(
                format!("panic at {at}"),
                format!("panicked at {at}: {message}"),
            ))
        }
    };
    let (tape, named) = sim.tapes();
    Outcome {
        result,
        calls: (tape.len() + named.iter().map(|(_, t)| t.len()).sum::<usize>()) as u64,
        trace: tape,
        named,
        choices: sim.choices(),
    }
}

/// The first differing line of two traces, described for people.
pub fn first_difference(a: &str, b: &str) -> Option<String> {
    if a == b {
        return None;
    }
    let mut la = a.lines();
    let mut lb = b.lines();
    let mut line: usize = 0;
    loop {
        line += 1;
        match (la.next(), lb.next()) {
            (Some(x), Some(y)) if x == y => continue,
            (x, y) => {
                let call = line.saturating_sub(2);
                return Some(format!(
                    "line {line} (call {call}) differs:\n    first run:  {}\n    second run: {}",
                    x.unwrap_or("<end of trace>"),
                    y.unwrap_or("<end of trace>")
                ));
            }
        }
    }
}

/// A run whose trace differs when the same seed runs again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonDeterminism {
    /// The seed.
    pub seed: u64,
    /// The first differing call, both versions.
    pub difference: String,
}

impl fmt::Display for NonDeterminism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed {} is not deterministic: running it twice gave different traces; {}\n  \
             look for HashMap/HashSet iteration, wall-clock time, thread timing or OS randomness in the run",
            self.seed, self.difference
        )
    }
}

impl std::error::Error for NonDeterminism {}

/// Runs `seed` twice in this process and compares the traces byte for byte
/// (every tape of the run).
pub fn check_determinism<F>(seed: u64, f: F) -> Result<(), NonDeterminism>
where
    F: Fn(&mut Sim) -> Result<(), Failure>,
{
    install_panic_hook();
    let a = run_once(&f, seed, None, &FaultConfig::default());
    let b = run_once(&f, seed, None, &FaultConfig::default());
    compare_outcomes(seed, &a, &b)
}

fn all_tapes(o: &Outcome) -> String {
    let mut s = o.trace.contents();
    for (name, t) in &o.named {
        let _ = write!(s, "--- tape {name}\n{}", t.contents());
    }
    s
}

fn compare_outcomes(seed: u64, a: &Outcome, b: &Outcome) -> Result<(), NonDeterminism> {
    match first_difference(&all_tapes(a), &all_tapes(b)) {
        None => Ok(()),
        Some(difference) => Err(NonDeterminism { seed, difference }),
    }
}

/// Runs `seed` in this process and again in a child process (this test
/// binary, running only the test `test_name`), and compares the traces.
///
/// Call it from a `#[test]` named `test_name`: in the child, the same call
/// runs the seed and writes its trace for the parent instead.
pub fn check_determinism_across_processes<F>(test_name: &str, seed: u64, f: F) -> Result<(), NonDeterminism>
where
    F: Fn(&mut Sim) -> Result<(), Failure>,
{
    const CHILD: &str = "REHEARSE_DETERMINISM_CHILD";
    install_panic_hook();
    if let Some(out) = std::env::var_os(CHILD) {
        let o = run_once(&f, seed, None, &FaultConfig::default());
        std::fs::write(out, all_tapes(&o)).expect("the determinism child writes its trace");
        return Ok(());
    }
    let here = all_tapes(&run_once(&f, seed, None, &FaultConfig::default()));
    let dir = std::env::temp_dir().join(format!("rehearse-determinism-{}-{seed}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let out = dir.join("child.ron");
    let exe = std::env::current_exe().expect("the test binary's path");
    let status = std::process::Command::new(exe)
        .args([test_name, "--exact", "--test-threads=1"])
        .env(CHILD, &out)
        .stdout(std::process::Stdio::null())
        .status();
    let there = match status {
        Ok(s) if s.success() => std::fs::read_to_string(&out).unwrap_or_default(),
        Ok(s) => format!("<child process failed: {s}>"),
        Err(e) => format!("<child process could not start: {e}>"),
    };
    let _ = std::fs::remove_dir_all(&dir);
    match first_difference(&here, &there) {
        None => Ok(()),
        Some(difference) => Err(NonDeterminism {
            seed,
            difference: format!("(this process vs a second one) {difference}"),
        }),
    }
}

fn parse_seed_range(text: &str) -> Result<Range<u64>, String> {
    let text = text.trim();
    if let Some((a, b)) = text.split_once("..") {
        let a: u64 = a.trim().parse().map_err(|e| format!("bad range start `{a}`: {e}"))?;
        let b: u64 = b.trim().parse().map_err(|e| format!("bad range end `{b}`: {e}"))?;
        Ok(a..b)
    } else {
        let n: u64 = text
            .parse()
            .map_err(|e| format!("`{text}` is not a count or a range a..b: {e}"))?;
        Ok(0..n)
    }
}

fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let (i, n) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is not a shard i/n (1-based, like 2/4)"))?;
    let i: u64 = i.trim().parse().map_err(|e| format!("bad shard index `{i}`: {e}"))?;
    let n: u64 = n.trim().parse().map_err(|e| format!("bad shard count `{n}`: {e}"))?;
    if n == 0 || i == 0 || i > n {
        return Err(format!("shard {i}/{n} is out of range: use 1..={n}/{n}"));
    }
    Ok((i - 1, n))
}

/// A knob from the environment. A typo in a knob for a long CI run must
/// not silently run the default: it is an error naming the variable.
fn env_or<T>(name: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<Option<T>, String> {
    let Ok(value) = std::env::var(name) else {
        return Ok(None);
    };
    parse(&value).map(Some).map_err(|e| format!("{name}={value:?}: {e}"))
}

/// `target/rehearse` of the workspace holding the current directory.
fn default_out_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(env::DIR) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join("rehearse");
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    // The workspace root is the nearest directory with a Cargo.lock.
    let root = cwd
        .ancestors()
        .find(|d| d.join("Cargo.lock").exists())
        .map_or(cwd.clone(), Path::to_path_buf);
    root.join("target").join("rehearse")
}

/// How the user would re-run this: the test name when run by the test
/// harness, the example name, or the executable.
fn default_command() -> String {
    let thread = std::thread::current();
    let exe = std::env::current_exe().ok();
    let in_examples = exe
        .as_ref()
        .and_then(|e| e.parent())
        .is_some_and(|p| p.file_name().is_some_and(|n| n == "examples"));
    match (thread.name(), &exe) {
        (Some(name), _) if name != "main" => format!("cargo test -- {name} --exact"),
        (_, Some(exe)) if in_examples => {
            let stem = exe
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            format!("cargo run --release --example {stem}")
        }
        (_, Some(exe)) => exe.display().to_string(),
        _ => "<this program>".to_string(),
    }
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

    fn read_regressions(&self) -> Vec<u64> {
        let Some(path) = &self.regressions else {
            return Vec::new();
        };
        let Ok(text) = std::fs::read_to_string(path) else {
            return Vec::new();
        };
        text.lines()
            .filter_map(|l| l.split('#').next())
            .filter_map(|l| {
                l.trim()
                    .strip_prefix("seed ")
                    .map(str::trim)
                    .and_then(|s| s.parse().ok())
            })
            .collect()
    }

    fn write_regressions(&self, known: &[u64], failures: &[FailureReport]) {
        let Some(path) = &self.regressions else { return };
        if std::env::var_os("CI").is_some() {
            return;
        }
        let new: Vec<&FailureReport> = failures.iter().filter(|f| !known.contains(&f.seed)).collect();
        if new.is_empty() {
            return;
        }
        let mut text = std::fs::read_to_string(path).unwrap_or_else(|_| {
            format!(
                "# Seeds that failed sweep `{}`; they run first on every sweep. Commit this file.\n",
                self.name
            )
        });
        for f in new {
            let _ = writeln!(text, "seed {} # {}", f.seed, f.message.lines().next().unwrap_or(""));
        }
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(path, text);
    }

    /// Runs the sweep. `f` runs one seed on the `Sim` it is given and
    /// returns `Err(Failure)` (or panics) when the run fails.
    pub fn run<F>(self, f: F) -> Report
    where
        F: Fn(&mut Sim) -> Result<(), Failure> + Sync,
    {
        install_panic_hook();
        let command = self.repro.clone().unwrap_or_else(default_command);
        if let Some(path) = std::env::var_os(env::REPLAY) {
            return self.replay_file(Path::new(&path), &f, &command);
        }
        let knobs = (|| -> Result<_, String> {
            Ok((
                env_or(env::SEED, |s| s.trim().parse::<u64>().map_err(|e| e.to_string()))?,
                env_or(env::SEEDS, parse_seed_range)?,
                env_or(env::TIME, |s| {
                    humantime::parse_duration(s.trim()).map_err(|e| e.to_string())
                })?,
                env_or(env::SHARD, parse_shard)?,
                env_or(env::THREADS, |s| s.trim().parse::<usize>().map_err(|e| e.to_string()))?,
            ))
        })();
        let (single, range, budget, shard, threads) = match knobs {
            Ok(k) => k,
            Err(message) => return self.config_error(message),
        };
        let range = range.unwrap_or_else(|| self.seeds.clone());
        let budget = budget.or(self.time_budget);
        let (shard, shards) = shard.unwrap_or(self.shard);
        let threads = threads
            .or(self.threads)
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1);

        // Seeds in order: saved regressions first, then this shard's range.
        let regressions = if single.is_some() {
            Vec::new()
        } else {
            self.read_regressions()
        };
        let in_range = |i: u64| -> Option<u64> {
            let seed = range.start.checked_add(i.checked_mul(shards)?.checked_add(shard)?)?;
            (seed < range.end).then_some(seed)
        };
        let range_len = if range.end > range.start + shard {
            (range.end - range.start - shard).div_ceil(shards)
        } else {
            0
        };
        let total = match single {
            Some(_) => 1,
            None => regressions.len() as u64 + range_len,
        };
        let seed_at = |i: u64| -> Option<u64> {
            if let Some(s) = single {
                return (i == 0).then_some(s);
            }
            match regressions.get(i as usize) {
                Some(s) => Some(*s),
                None => in_range(i - regressions.len() as u64),
            }
        };

        let show_progress = self.progress.unwrap_or_else(|| std::io::stderr().is_terminal()) && single.is_none();
        let bar = show_progress.then(|| {
            let bar = if budget.is_some() {
                indicatif::ProgressBar::new_spinner()
            } else {
                indicatif::ProgressBar::new(total)
            };
            let style = indicatif::ProgressStyle::with_template(
                "{spinner} {prefix} [{elapsed_precise}] {bar:30} {pos}/{len} seeds {per_sec} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_prefix(self.name.clone());
            bar
        });

        let next = AtomicU64::new(0);
        let runs = AtomicU64::new(0);
        let calls = AtomicU64::new(0);
        let failed = AtomicU64::new(0);
        let out_of_time = AtomicBool::new(false);
        let found: Mutex<Vec<(u64, Outcome)>> = Mutex::new(Vec::new());
        let start = Instant::now();
        std::thread::scope(|scope| {
            for _ in 0..threads.min(total.max(1) as usize) {
                scope.spawn(|| {
                    loop {
                        if budget.is_some_and(|b| start.elapsed() >= b) {
                            out_of_time.store(true, Ordering::Relaxed);
                            break;
                        }
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= total {
                            break;
                        }
                        let Some(seed) = seed_at(i) else { break };
                        let outcome = run_once(&f, seed, None, &self.faults);
                        runs.fetch_add(1, Ordering::Relaxed);
                        calls.fetch_add(outcome.calls, Ordering::Relaxed);
                        if outcome.result.is_err() {
                            let n = failed.fetch_add(1, Ordering::Relaxed);
                            if let Some(bar) = &bar {
                                bar.set_message(format!("{} failing", n + 1));
                            }
                            let mut found = found.lock().unwrap_or_else(|e| e.into_inner());
                            found.push((seed, outcome));
                            // Keep only the lowest seeds: they are what gets saved.
                            if found.len() > self.save_limit * 2 + 16 {
                                found.sort_by_key(|(s, _)| *s);
                                found.truncate(self.save_limit);
                            }
                        }
                        if let Some(bar) = &bar {
                            bar.inc(1);
                        }
                    }
                });
            }
        });
        let elapsed = start.elapsed();
        if let Some(bar) = &bar {
            bar.finish_and_clear();
        }
        let mut found = found.into_inner().unwrap_or_else(|e| e.into_inner());
        found.sort_by_key(|(s, _)| *s);
        found.truncate(self.save_limit);

        let dir = self.out_dir.clone().unwrap_or_else(default_out_dir).join(&self.name);
        let mut failures = Vec::new();
        for (index, (seed, outcome)) in found.into_iter().enumerate() {
            failures.push(self.report_failure(&f, &dir, seed, outcome, index < self.shrink_limit, &command));
        }
        self.write_regressions(&regressions, &failures);
        let report = Report {
            name: self.name.clone(),
            runs: runs.into_inner(),
            failed_runs: failed.into_inner(),
            failures,
            elapsed,
            calls: calls.into_inner(),
            budget_exhausted: out_of_time.into_inner(),
        };
        if !self.quiet {
            if report.failed_runs == 0 {
                eprintln!(
                    "sweep `{}`: {} seeds passed ({:.2}s, {:.0} seeds/s, {} calls)",
                    report.name,
                    report.runs,
                    report.elapsed.as_secs_f64(),
                    report.seeds_per_second(),
                    report.calls
                );
            } else {
                eprint!("{report}");
            }
        }
        report
    }

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

    fn report_failure<F>(
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

    /// A sweep that could not start (a bad knob or replay file): no run,
    /// one failure saying why, so `assert_ok` and callers report it.
    fn config_error(&self, message: String) -> Report {
        let report = Report {
            name: self.name.clone(),
            runs: 0,
            failed_runs: 1,
            failures: vec![FailureReport {
                seed: 0,
                kind: "configuration".into(),
                message: message.clone(),
                trace: PathBuf::new(),
                named_traces: Vec::new(),
                shrunk: None,
                shrunk_message: None,
                choices: (0, None),
                repro: String::new(),
                nondeterminism: None,
            }],
            elapsed: Duration::ZERO,
            calls: 0,
            budget_exhausted: false,
        };
        eprintln!("sweep `{}` did not start: {message}", self.name);
        report
    }

    /// `REHEARSE_REPLAY=path`: runs the choices saved in a scenario header.
    fn replay_file<F>(&self, path: &Path, f: &F, command: &str) -> Report
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
        let given = match header.meta.get("choices").map(|text| decode_choices(text)).transpose() {
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

/// Shortlex order: shorter first, then lexicographically smaller.
fn simpler(a: &[u64], b: &[u64]) -> bool {
    (a.len(), a) < (b.len(), b)
}

fn strip_trailing_zeros(mut v: Vec<u64>) -> Vec<u64> {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

/// Edits a failing choice sequence while the failure (same kind) persists:
/// deletes spans, zeroes spans, halves values, until nothing helps or the
/// deadline passes. A candidate is kept when its run has fewer calls, or as
/// many calls and a shortlex-smaller choice sequence: people read calls, and
/// the order is well-founded, so shrinking terminates. Never returns a
/// sequence that was not seen failing.
fn shrink_choices<F>(f: &F, seed: u64, faults: &FaultConfig, start: Vec<u64>, kind: &str, deadline: Instant) -> Vec<u64>
where
    F: Fn(&mut Sim) -> Result<(), Failure>,
{
    let first = run_once(f, seed, Some(start.clone()), faults);
    let mut best = strip_trailing_zeros(start);
    let best_calls = Cell::new(first.calls);
    // Runs allowed in total, on top of the deadline, so that a very fast
    // run cannot spin forever on a pathological sequence.
    let budget = Cell::new(200_000u64);
    let attempt = |candidate: Vec<u64>, best: &mut Vec<u64>| -> bool {
        if budget.get() == 0 || Instant::now() >= deadline || !simpler(&candidate, best) {
            return false;
        }
        budget.set(budget.get() - 1);
        let o = run_once(f, seed, Some(candidate), faults);
        match &o.result {
            Err(e) if e.kind() == kind => {
                // What the run actually consumed (trailing zeros are what an
                // exhausted sequence gives anyway).
                let consumed = strip_trailing_zeros(o.choices);
                let better = o.calls < best_calls.get() || (o.calls == best_calls.get() && simpler(&consumed, best));
                if better {
                    *best = consumed;
                    best_calls.set(o.calls);
                }
                better
            }
            _ => false,
        }
    };
    loop {
        let before = best.clone();
        // 1. Delete spans, large to small.
        let mut k = (best.len() / 2).max(1);
        loop {
            let mut i = 0;
            while i + k <= best.len() {
                let mut c = best.clone();
                c.drain(i..i + k);
                if !attempt(c, &mut best) {
                    i += 1;
                }
            }
            if k == 1 {
                break;
            }
            k /= 2;
        }
        // 2. Zero spans, then single values.
        for k in [8usize, 4, 2, 1] {
            let mut i = 0;
            while i + k <= best.len() {
                if best[i..i + k].iter().any(|v| *v != 0) {
                    let mut c = best.clone();
                    c[i..i + k].iter_mut().for_each(|v| *v = 0);
                    attempt(c, &mut best);
                }
                i += 1;
            }
        }
        // 3. Halve each value while that keeps failing.
        let mut i = 0;
        while i < best.len() {
            loop {
                if best[i] == 0 {
                    break;
                }
                let mut c = best.clone();
                c[i] /= 2;
                if !attempt(c, &mut best) || i >= best.len() {
                    break;
                }
            }
            i += 1;
        }
        if best == before || Instant::now() >= deadline || budget.get() == 0 {
            return best;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_ranges_and_shards_parse() {
        assert_eq!(parse_seed_range("500").unwrap(), 0..500);
        assert_eq!(parse_seed_range("10..20").unwrap(), 10..20);
        assert!(parse_seed_range("ten").is_err());
        assert_eq!(parse_shard("2/4").unwrap(), (1, 4));
        assert!(parse_shard("0/4").is_err());
        assert!(parse_shard("5/4").is_err());
    }

    #[test]
    fn first_difference_names_the_call() {
        let a = "(header)\n(i: 0, x)\n(i: 1, y)\n";
        let b = "(header)\n(i: 0, x)\n(i: 1, z)\n";
        let d = first_difference(a, b).unwrap();
        assert!(d.starts_with("line 3 (call 1) differs"), "{d}");
        assert!(first_difference(a, a).is_none());
    }

    #[test]
    fn shortlex() {
        assert!(simpler(&[5], &[1, 1]));
        assert!(simpler(&[1, 2], &[1, 3]));
        assert!(!simpler(&[1, 3], &[1, 3]));
    }
}
