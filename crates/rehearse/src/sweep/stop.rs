//! A sweep that ends at its N-th failing seed
//! ([`Sweep::stop_after`](super::Sweep::stop_after), `REHEARSE_STOP_AFTER`),
//! with the same report on any number of threads.
//!
//! Workers take the next index as [`run_pool`](super::pool::run_pool)'s
//! do, but hand each finished run to an [`Order`]: a reorder buffer that
//! adds runs to the totals in index order only. When it adds the N-th
//! failing run, the sweep ends there: runs of later indices (started by
//! other threads before it was known, or finished before it) are left out
//! of everything, as if never run. The buffer holds the runs finished
//! ahead of the next one to add (their statistics; the whole run only for
//! a failure), and never more failing runs than are still needed: once it
//! holds enough of them to reach the N-th, everything past that one is
//! dropped and no later index is started.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use super::knobs::Plan;
use super::pool::{Outcome, Pooled, keep_lowest, run_once, take_next};
use super::totals::{FailedSeed, Totals};
use crate::Failure;
use crate::sim::{FaultConfig, RunStats, Sim};

/// One finished run, waiting for its turn.
pub(super) struct Done {
    pub(super) seed: u64,
    pub(super) calls: u64,
    pub(super) stats: RunStats,
    /// The whole run when it failed (what is saved), with its kind.
    pub(super) failure: Option<(String, Outcome)>,
}

impl Done {
    /// A finished run: only its statistics are kept when it passed.
    pub(super) fn new(seed: u64, mut outcome: Outcome) -> Self {
        let stats = std::mem::take(&mut outcome.stats);
        let calls = outcome.calls;
        let failure = match &outcome.result {
            Err(failure) => Some((failure.kind().to_string(), outcome)),
            Ok(()) => None,
        };
        Self {
            seed,
            calls,
            stats,
            failure,
        }
    }
}

/// The reorder buffer: finished runs added to the totals in index order,
/// up to the N-th failure.
pub(super) struct Order {
    stop_after: u64,
    /// The index of the next run to add.
    next: u64,
    /// Runs finished ahead of `next`, by index.
    pending: BTreeMap<u64, Done>,
    /// Indices at or past this are past the N-th failure: not run, and
    /// dropped when they finish.
    pub(super) limit: u64,
    /// The index of the N-th failure, once added.
    pub(super) cut: Option<u64>,
    pub(super) runs: u64,
    pub(super) calls: u64,
    pub(super) failed: u64,
    pub(super) totals: Totals,
}

impl Order {
    pub(super) fn new(stop_after: u64, total: u64) -> Self {
        Self {
            stop_after: stop_after.max(1),
            next: 0,
            pending: BTreeMap::new(),
            limit: total,
            cut: None,
            runs: 0,
            calls: 0,
            failed: 0,
            totals: Totals::default(),
        }
    }

    /// Takes the run of index `i`, adds every run now in turn, and returns
    /// the failing runs added (to be offered for saving, outside the lock).
    pub(super) fn finish(&mut self, i: u64, done: Done) -> Vec<(u64, Outcome)> {
        let mut kept = Vec::new();
        if i >= self.limit {
            return kept;
        }
        self.pending.insert(i, done);
        while self.cut.is_none() {
            let Some(done) = self.pending.remove(&self.next) else {
                break;
            };
            let at = self.next;
            self.next += 1;
            self.add(at, done, &mut kept);
        }
        self.bound();
        kept
    }

    /// Adds what is left once no run is under way, in index order (over
    /// any index that was taken but not run).
    pub(super) fn drain(&mut self) -> Vec<(u64, Outcome)> {
        let mut kept = Vec::new();
        while self.cut.is_none() {
            let Some((at, done)) = self.pending.pop_first() else {
                break;
            };
            self.add(at, done, &mut kept);
        }
        self.pending.clear();
        kept
    }

    fn add(&mut self, at: u64, done: Done, kept: &mut Vec<(u64, Outcome)>) {
        self.runs += 1;
        self.calls += done.calls;
        self.totals.add_run(&done.stats);
        if let Some((kind, outcome)) = done.failure {
            self.totals.failed.push(FailedSeed { seed: done.seed, kind });
            self.failed += 1;
            kept.push((done.seed, outcome));
            if self.failed >= self.stop_after {
                self.cut = Some(at);
                self.limit = self.limit.min(at + 1);
                self.pending.clear();
            }
        }
    }

    /// Lowers the limit once the buffer holds enough failures to reach the
    /// N-th: the N-th failure is that one or an earlier one, so nothing
    /// past it counts (or needs running, or holding).
    fn bound(&mut self) {
        if self.cut.is_some() {
            return;
        }
        let need = (self.stop_after - self.failed) as usize;
        let Some(at) = self
            .pending
            .iter()
            .filter(|(_, d)| d.failure.is_some())
            .nth(need - 1)
            .map(|(i, _)| *i)
        else {
            return;
        };
        self.limit = self.limit.min(at + 1);
        drop(self.pending.split_off(&(at + 1)));
    }
}

/// [`run_pool`](super::pool::run_pool) for a sweep that stops after its
/// `stop_after`-th failing seed: runs are added in index order, and the
/// report holds exactly the runs up to that failure.
pub(super) fn run_pool_stopping<F>(
    f: &F,
    plan: &Plan,
    faults: &FaultConfig,
    save_limit: usize,
    bar: Option<&indicatif::ProgressBar>,
    stop_after: u64,
) -> Pooled
where
    F: Fn(&mut Sim) -> Result<(), Failure> + Sync,
{
    let next = AtomicU64::new(0);
    let limit = AtomicU64::new(plan.total);
    let out_of_time = AtomicBool::new(false);
    let found: Mutex<Vec<(u64, Outcome)>> = Mutex::new(Vec::new());
    let order = Mutex::new(Order::new(stop_after, plan.total));
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..plan.threads.min(plan.total.max(1) as usize) {
            scope.spawn(|| {
                let end = || plan.total.min(limit.load(Ordering::Relaxed));
                while let Some((i, seed)) = take_next(plan, start, &next, &end, &out_of_time) {
                    let outcome = run_once(f, seed, None, faults);
                    let done = Done::new(seed, outcome);
                    let (kept, failed) = {
                        let mut order = order.lock().unwrap_or_else(|e| e.into_inner());
                        let kept = order.finish(i, done);
                        limit.store(order.limit, Ordering::Relaxed);
                        (kept, order.failed)
                    };
                    if let Some(bar) = bar {
                        if !kept.is_empty() {
                            bar.set_message(format!("{failed} failing"));
                        }
                        bar.inc(1);
                    }
                    for (seed, outcome) in kept {
                        keep_lowest(&found, seed, outcome, save_limit);
                    }
                }
            });
        }
    });
    let elapsed = start.elapsed();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut order = order.into_inner().unwrap_or_else(|e| e.into_inner());
    for (seed, outcome) in order.drain() {
        keep_lowest(&found, seed, outcome, save_limit);
    }
    let mut found = found.into_inner().unwrap_or_else(|e| e.into_inner());
    found.sort_by_key(|(s, _)| *s);
    found.truncate(save_limit);
    Pooled {
        runs: order.runs,
        calls: order.calls,
        failed: order.failed,
        // Every seed up to the N-th failure ran: the budget cut nothing
        // the report covers.
        out_of_time: out_of_time.into_inner() && order.cut.is_none(),
        stopped: order.cut.is_some_and(|c| c + 1 < plan.total),
        found,
        elapsed,
        totals: order.totals.finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tape;

    fn done(seed: u64, fails: bool) -> Done {
        let outcome = Outcome {
            result: if fails { Err(Failure::new("x")) } else { Ok(()) },
            trace: Tape::memory(),
            named: Vec::new(),
            choices: Vec::new(),
            draws: Vec::new(),
            calls: 1,
            params: BTreeMap::new(),
            stats: RunStats::default(),
            given: None,
        };
        Done::new(seed, outcome)
    }

    /// Runs finishing in `finish` order (index, fails) through an
    /// `Order` stopping after `n`: (runs, failing seeds, cut).
    fn order(n: u64, total: u64, finish: &[(u64, bool)]) -> (u64, Vec<u64>, Option<u64>) {
        let mut o = Order::new(n, total);
        for &(i, fails) in finish {
            o.finish(i, done(100 + i, fails));
        }
        o.drain();
        let failed = o.totals.failed.iter().map(|f| f.seed).collect();
        (o.runs, failed, o.cut)
    }

    #[test]
    fn runs_count_in_index_order_up_to_the_nth_failure_whatever_order_they_finish_in() {
        let fails = [false, true, false, true, true, false, true];
        let in_order: Vec<(u64, bool)> = fails.iter().copied().enumerate().map(|(i, f)| (i as u64, f)).collect();
        let expect = (5, vec![101, 103, 104], Some(4));
        assert_eq!(order(3, 7, &in_order), expect);
        let mut reversed = in_order.clone();
        reversed.reverse();
        assert_eq!(order(3, 7, &reversed), expect);
        let shuffled = [3, 6, 0, 4, 2, 5, 1].map(|i| in_order[i]);
        assert_eq!(order(3, 7, &shuffled), expect);
        // Fewer failures than asked: every run counts, no cut.
        assert_eq!(order(5, 7, &shuffled), (7, vec![101, 103, 104, 106], None));
    }

    #[test]
    fn the_buffer_drops_what_is_surely_past_the_nth_failure() {
        let mut o = Order::new(2, 100);
        // Index 0 is still running; 3 and 5 failed: the second failure is
        // at 5 or before, so 5 bounds the sweep.
        o.finish(3, done(3, true));
        o.finish(9, done(9, false));
        o.finish(5, done(5, true));
        assert_eq!(o.limit, 6);
        assert!(o.pending.keys().all(|&i| i < 6), "{:?}", o.pending.keys());
        assert!(o.finish(7, done(7, true)).is_empty());
        // Index 1 fails: with 3 it is the second; 5 is dropped.
        for i in [0, 1, 2] {
            o.finish(i, done(i, i == 1));
        }
        assert_eq!((o.cut, o.limit, o.runs, o.failed), (Some(3), 4, 4, 2));
        assert!(o.pending.is_empty());
    }
}
