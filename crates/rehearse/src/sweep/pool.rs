//! Running seeds: one run on a fresh or replayed [`Sim`] with its panic
//! caught, and the pool of worker threads with its progress bar.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use super::knobs::Plan;
use super::totals::{FailedSeed, Totals};

use crate::format::RunFailure;
use crate::sim::{Draw, FaultConfig, Phase, RunStats, Sim};
use crate::{Failure, Tape};

/// Everything one run produced.
pub(super) struct Outcome {
    pub(super) result: Result<(), Failure>,
    /// The run's tapes, rendered as text only when saved or compared.
    pub(super) trace: Tape,
    pub(super) named: Vec<(String, Tape)>,
    pub(super) choices: Vec<u64>,
    /// How each choice was read (only when the run replayed given
    /// choices: what the shrinker needs).
    pub(super) draws: Vec<Draw>,
    pub(super) calls: u64,
    /// The run's parameters (`Sim::set_param`, `Sweep::param`).
    pub(super) params: BTreeMap<String, String>,
    /// Its counters and fault points.
    pub(super) stats: RunStats,
    /// The choice sequence a steered mutant ran (`None`: its seed's own).
    pub(super) given: Option<Vec<u64>>,
}

thread_local! {
    static IN_RUN: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs (once) a panic hook that keeps panics inside sweep runs quiet
/// and remembers where they happened; other panics go to the previous hook.
pub(super) fn install_panic_hook() {
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
pub(super) fn run_once<F>(f: &F, seed: u64, given: Option<Vec<u64>>, faults: &FaultConfig) -> Outcome
where
    F: Fn(&mut Sim) -> Result<(), Failure>,
{
    run_phase(f, seed, given, faults, None)
}

/// A shrinking candidate: `given` run as [`run_once`] does, but stopped
/// once its tapes hold more than `call_limit` calls (it fails with kind
/// [`CALL_LIMIT_KIND`] then): a candidate with more calls than the best
/// run can never be kept, and one that does not fail would otherwise run
/// its full length. Stopping it early changes no decision, only the time.
pub(super) fn run_candidate<F>(f: &F, seed: u64, given: Vec<u64>, faults: &FaultConfig, call_limit: u64) -> Outcome
where
    F: Fn(&mut Sim) -> Result<(), Failure>,
{
    run_limited(f, seed, Some(given), faults, None, Some(call_limit))
}

/// The kind of a shrinking candidate's failure when it was stopped at its
/// call limit ([`run_candidate`]).
pub(super) const CALL_LIMIT_KIND: &str = "shrink call limit";

pub(super) fn run_phase<F>(
    f: &F,
    seed: u64,
    given: Option<Vec<u64>>,
    faults: &FaultConfig,
    phase: Option<Phase>,
) -> Outcome
where
    F: Fn(&mut Sim) -> Result<(), Failure>,
{
    run_limited(f, seed, given, faults, phase, None)
}

fn run_limited<F>(
    f: &F,
    seed: u64,
    given: Option<Vec<u64>>,
    faults: &FaultConfig,
    phase: Option<Phase>,
    call_limit: Option<u64>,
) -> Outcome
where
    F: Fn(&mut Sim) -> Result<(), Failure>,
{
    let phase = phase.unwrap_or(if given.is_some() { Phase::Shrink } else { Phase::Explore });
    let mut sim = Sim::build(seed, given, faults.clone());
    sim.set_phase(phase);
    if let Some(limit) = call_limit {
        sim.set_call_limit(limit);
    }
    IN_RUN.with(|c| c.set(true));
    let entered = sim.enter();
    let result = panic::catch_unwind(AssertUnwindSafe(|| f(&mut sim)));
    drop(entered);
    IN_RUN.with(|c| c.set(false));
    let result = match (sim.assertion_failure(), result) {
        // Stopped at its call limit (even if the run caught the unwinding
        // and went on): never kept, whatever it did after.
        _ if sim.cut_short() => Err(Failure::with_kind(CALL_LIMIT_KIND, "stopped at its call limit")),
        // A broken assertion is the run's failure, whatever came after it
        // (its unwinding, or code that caught it and went on).
        (Some(failure), _) => Err(failure),
        (None, Ok(r)) => r,
        (None, Err(payload)) => {
            let message = panic_message(&*payload);
            let at = LAST_PANIC.with(|p| p.borrow_mut().take()).unwrap_or_default();
            Err(Failure::with_kind(
                format!("panic at {at}"),
                format!("panicked at {at}: {message}"),
            ))
        }
    };
    let (tape, named) = sim.tapes();
    let result = over_limit(result, &tape, &named);
    if let Err(failure) = &result {
        // A saved failing scenario says how it failed. Sim tapes are
        // memory tapes, whose headers can change.
        let failure = RunFailure::from(failure);
        let _ = tape.set_failure(Some(failure.clone()));
        for (_, t) in &named {
            let _ = t.set_failure(Some(failure.clone()));
        }
    }
    Outcome {
        result,
        calls: (tape.len() + named.iter().map(|(_, t)| t.len()).sum::<usize>()) as u64,
        trace: tape,
        named,
        choices: sim.choices(),
        draws: sim.draws(),
        params: sim.params(),
        stats: sim.take_stats(),
        given: None,
    }
}

/// A run whose tape reached its size limit fails with kind `limit` (its
/// saved scenario would hold only the start of the run); one that failed
/// its own way keeps its failure, and its message says the tape was cut.
fn over_limit(result: Result<(), Failure>, tape: &Tape, named: &[(String, Tape)]) -> Result<(), Failure> {
    let reached = std::iter::once(("the run's tape".to_string(), tape))
        .chain(named.iter().map(|(name, t)| (format!("tape {name:?}"), t)))
        .find_map(|(which, t)| t.limit_reached().map(|r| format!("{which}: {r}")));
    let Some(reached) = reached else { return result };
    match result {
        Ok(()) => Err(Failure::with_kind(LIMIT_KIND, reached)),
        Err(failure) => Err(Failure::with_kind(
            failure.kind(),
            format!("{} (and {reached})", failure.message()),
        )),
    }
}

/// The kind of a failure of a run whose tape reached its size limit.
pub(crate) const LIMIT_KIND: &str = "limit";

/// The progress bar of a sweep on a terminal: a spinner when a time budget
/// may end it early.
pub(super) fn progress_bar(name: &str, total: u64, spinner: bool) -> indicatif::ProgressBar {
    let bar = if spinner {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::new(total)
    };
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} {prefix} [{elapsed_precise}] {bar:30} {pos}/{len} seeds {per_sec} {msg}",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix(name.to_string());
    bar
}

/// What the worker threads found.
pub(super) struct Pooled {
    pub(super) runs: u64,
    pub(super) calls: u64,
    pub(super) failed: u64,
    pub(super) out_of_time: bool,
    /// True when the sweep ended at its N-th failure (`stop_after`) with
    /// seeds left unrun.
    pub(super) stopped: bool,
    /// The failing runs with the lowest seeds, at most `save_limit`, by seed.
    pub(super) found: Vec<(u64, Outcome)>,
    /// Wall time of the runs.
    pub(super) elapsed: Duration,
    /// Failing seeds, fault statistics and counters of the explored runs.
    pub(super) totals: Totals,
}

/// The next seed a worker runs, with its index: `None` once the time
/// budget ran out (noted in `out_of_time`) or no index below `end()` (read
/// after taking one: it may shrink meanwhile) is left. Every pool's
/// workers take their seeds this way.
pub(super) fn take_next(
    plan: &Plan,
    start: Instant,
    next: &AtomicU64,
    end: &dyn Fn() -> u64,
    out_of_time: &AtomicBool,
) -> Option<(u64, u64)> {
    if plan.budget.is_some_and(|b| start.elapsed() >= b) {
        out_of_time.store(true, Ordering::Relaxed);
        return None;
    }
    let i = next.fetch_add(1, Ordering::Relaxed);
    if i >= end() {
        return None;
    }
    plan.seed_at(i).map(|seed| (i, seed))
}

/// Runs the plan's seeds on its worker threads, each taking the next seed
/// until none (or no time) is left.
pub(super) fn run_pool<F>(
    f: &F,
    plan: &Plan,
    faults: &FaultConfig,
    save_limit: usize,
    bar: Option<&indicatif::ProgressBar>,
) -> Pooled
where
    F: Fn(&mut Sim) -> Result<(), Failure> + Sync,
{
    let next = AtomicU64::new(0);
    let runs = AtomicU64::new(0);
    let calls = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let out_of_time = AtomicBool::new(false);
    let found: Mutex<Vec<(u64, Outcome)>> = Mutex::new(Vec::new());
    let totals: Mutex<Totals> = Mutex::new(Totals::default());
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..plan.threads.min(plan.total.max(1) as usize) {
            scope.spawn(|| {
                let mut mine = Totals::default();
                let end = || plan.total;
                while let Some((_, seed)) = take_next(plan, start, &next, &end, &out_of_time) {
                    let outcome = run_once(f, seed, None, faults);
                    runs.fetch_add(1, Ordering::Relaxed);
                    calls.fetch_add(outcome.calls, Ordering::Relaxed);
                    mine.add_run(&outcome.stats);
                    if let Err(failure) = &outcome.result {
                        mine.failed.push(FailedSeed {
                            seed,
                            kind: failure.kind().to_string(),
                        });
                        let n = failed.fetch_add(1, Ordering::Relaxed);
                        if let Some(bar) = bar {
                            bar.set_message(format!("{} failing", n + 1));
                        }
                        keep_lowest(&found, seed, outcome, save_limit);
                    }
                    if let Some(bar) = bar {
                        bar.inc(1);
                    }
                }
                totals.lock().unwrap_or_else(|e| e.into_inner()).absorb(mine);
            });
        }
    });
    let elapsed = start.elapsed();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut found = found.into_inner().unwrap_or_else(|e| e.into_inner());
    found.sort_by_key(|(s, _)| *s);
    found.truncate(save_limit);
    Pooled {
        runs: runs.into_inner(),
        calls: calls.into_inner(),
        failed: failed.into_inner(),
        out_of_time: out_of_time.into_inner(),
        stopped: false,
        found,
        elapsed,
        totals: totals.into_inner().unwrap_or_else(|e| e.into_inner()).finish(),
    }
}

/// Adds a failing run, keeping only the `save_limit` lowest seeds: they
/// are what gets saved, and each holds its tapes (up to the tape limit
/// each), so no more are held.
pub(super) fn keep_lowest(found: &Mutex<Vec<(u64, Outcome)>>, seed: u64, outcome: Outcome, save_limit: usize) {
    let lowest = |found: &Mutex<Vec<(u64, Outcome)>>| {
        let found = found.lock().unwrap_or_else(|e| e.into_inner());
        found.len() < save_limit || found.last().is_some_and(|(s, _)| *s > seed)
    };
    if !lowest(found) {
        return;
    }
    // Held until saved: only the bytes, not the room to grow (up to as
    // much again), and shrunk outside the lock.
    outcome.trace.shrink_to_fit();
    for (_, tape) in &outcome.named {
        tape.shrink_to_fit();
    }
    let mut found = found.lock().unwrap_or_else(|e| e.into_inner());
    // Sorted by seed: the run goes in its place, the highest seed past
    // the limit goes (dropped after the lock, with its tapes).
    let at = found.partition_point(|(s, _)| *s < seed);
    if at >= save_limit {
        return;
    }
    found.insert(at, (seed, outcome));
    let dropped = (found.len() > save_limit).then(|| found.pop());
    drop(found);
    drop(dropped);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failing(seed: u64) -> (u64, Outcome) {
        let outcome = Outcome {
            result: Err(Failure::new("x")),
            trace: Tape::memory(),
            named: Vec::new(),
            choices: Vec::new(),
            draws: Vec::new(),
            calls: 0,
            params: BTreeMap::new(),
            stats: RunStats::default(),
            given: None,
        };
        (seed, outcome)
    }

    #[test]
    fn only_the_lowest_seeds_up_to_the_save_limit_are_held() {
        let found = Mutex::new(Vec::new());
        for seed in [90, 10, 50, 70, 30, 20, 80, 60, 40, 0] {
            let (seed, outcome) = failing(seed);
            keep_lowest(&found, seed, outcome, 3);
            assert!(found.lock().unwrap().len() <= 3);
        }
        let held: Vec<u64> = found.lock().unwrap().iter().map(|(s, _)| *s).collect();
        assert_eq!(held, [0, 10, 20]);
        let none = Mutex::new(Vec::new());
        let (seed, outcome) = failing(1);
        keep_lowest(&none, seed, outcome, 0);
        assert!(none.lock().unwrap().is_empty());
    }
}
