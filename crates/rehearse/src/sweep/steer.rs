//! Coverage-guided steering ([`Sweep::steer`](super::Sweep::steer),
//! `REHEARSE_STEER=on`): a corpus of choice sequences that reached new
//! coverage, and mutants of them run alongside fresh seeds.
//!
//! **Coverage** is a set of keys ([`coverage_keys`]): each counter a run
//! counted above zero ([`Sim::count`](crate::Sim::count)) and each fault
//! point it fired, with the count's order of magnitude (AFL's hit-count
//! buckets: 1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128+), so that taking a
//! move for the first time and taking it eight times are both news.
//! Anything else a run can report as a name (an assertion that held, a
//! state reached) becomes coverage by being counted.
//!
//! **Runs and slots.** A steered sweep runs the same slots as a fresh one
//! (the seeds of its range, of its shard), in generations of
//! [`GENERATION`] slots. Once the corpus holds something, a slot is
//! either its fresh seed or, three times in four, a mutant: an entry of
//! the corpus picked at random (picking through a random key instead, and
//! the run that first reached it, favoured the first run, which reaches
//! most keys, and found bugs later still), edited once or twice by one of:
//! new random values at a few places, a value nudged, a splice with
//! another entry at the same position, a span duplicated, a span deleted,
//! the tail drawn afresh; then a fresh tail appended. Everything is drawn from a generator seeded
//! by the slot's seed, and the corpus only changes between generations,
//! in slot order: the same sweep (range, shard, options) runs the same
//! sequences whatever the thread count, in any process.
//!
//! **Shards.** Each shard steers with its own corpus, from its own runs:
//! shard `i/n` of a steered sweep is deterministic, but the shards
//! together do not run what one unsharded steered sweep runs (that would
//! need the corpus shared between machines while they run). Merged
//! reports still add up, and every failure still replays from its file.
//!
//! **Replaying a steered failure.** A mutant is not its seed: its saved
//! scenario (`steered-N.ron`) holds the whole choice sequence in its
//! header, and its repro line is `REHEARSE_REPLAY=<file> <command>`.
//! `REHEARSE_SEED=N` re-runs the fresh seed `N`, not the mutant, and a
//! steered failure is not added to the regressions file (a seed there
//! would not fail again).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use super::knobs::Plan;
use super::pool::{Outcome, Pooled, keep_lowest, run_phase};
use super::totals::{FailedSeed, Totals};
use crate::Failure;
use crate::sim::{FaultConfig, Phase, RunStats, Sim, SplitMix64};

/// Slots per generation: the corpus grows between generations only, so
/// that what a slot runs does not depend on which thread finished first.
pub(super) const GENERATION: u64 = 8;

/// The most choices the corpus holds, over all its entries (64 MiB): past
/// it, a run that reaches new coverage adds its keys but not its choices.
pub(super) const MAX_CORPUS_CHOICES: usize = 8 << 20;

/// Mutants per four slots, once the corpus holds something.
const MUTANTS_IN_FOUR: u64 = 3;

/// Mixed into a slot's seed for its mutation generator, so that it draws
/// differently from the seed's own fresh choices.
const SALT: u64 = 0x5EED_57EE_C0DE_D00D;

/// The coverage keys of one run (sorted, each once): `count NAME B` for a
/// counter above zero, `fault POINT B` for a fault point that fired, `B`
/// the count's bucket ([`bucket`]).
pub(crate) fn coverage_keys(stats: &RunStats) -> Vec<Box<str>> {
    let fired: Vec<&str> = stats
        .faults
        .iter()
        .filter(|(_, _, fired)| *fired > 0)
        .map(|(name, _, _)| &**name)
        .collect();
    // Faults that fired together: a bug that needs two (a lost reply and
    // a restart) is one key away from a run that had both.
    let pairs = fired
        .iter()
        .enumerate()
        .flat_map(|(i, a)| fired[i + 1..].iter().map(move |b| pair(a, b)));
    let mut keys: Vec<Box<str>> = stats
        .counters
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("count {name} {}", bucket(*n)).into())
        .chain(
            stats
                .faults
                .iter()
                .filter(|(_, _, fired)| *fired > 0)
                .map(|(name, _, fired)| format!("fault {name} {}", bucket(*fired)).into()),
        )
        .chain(pairs)
        // A `sometimes!`/`reachable!` (or any assertion) that held: the
        // situations a program names are the coverage it cares about.
        .chain(
            stats
                .assertions
                .iter()
                .filter(|(_, _, held)| *held > 0)
                .map(|(site, _, _)| format!("assert {}", site.name).into()),
        )
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The key of fault points `a` and `b` both fired in one run.
fn pair(a: &str, b: &str) -> Box<str> {
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    format!("faults {a} & {b}").into()
}

/// AFL's hit-count buckets: 1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128 and
/// more (as 1 to 8).
pub(crate) fn bucket(n: u64) -> u8 {
    match n {
        0 => 0,
        1 => 1,
        2 => 2,
        3 => 3,
        4..=7 => 4,
        8..=15 => 5,
        16..=31 => 6,
        32..=127 => 7,
        _ => 8,
    }
}

/// The choice sequences that reached new coverage, and every key reached.
#[derive(Debug, Default)]
pub(crate) struct Corpus {
    entries: Vec<Vec<u64>>,
    /// Choices held over all entries.
    held: usize,
    /// Every key reached, with the entry that first reached it (`None`
    /// when the corpus was full then).
    keys: BTreeMap<Box<str>, Option<usize>>,
}

impl Corpus {
    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Keys reached so far.
    pub(crate) fn keys(&self) -> usize {
        self.keys.len()
    }

    /// Adds a run's keys; when one is new, keeps its choices (while the
    /// corpus has room). Returns whether any key was new.
    pub(crate) fn offer(&mut self, choices: &[u64], keys: &[Box<str>]) -> bool {
        let new: Vec<&Box<str>> = keys.iter().filter(|k| !self.keys.contains_key(*k)).collect();
        if new.is_empty() {
            return false;
        }
        let room = !choices.is_empty() && self.held + choices.len() <= MAX_CORPUS_CHOICES;
        let index = room.then(|| {
            self.entries.push(choices.to_vec());
            self.held += choices.len();
            self.entries.len() - 1
        });
        for k in new {
            self.keys.insert(k.clone(), index);
        }
        true
    }

    /// What slot `seed` runs: `None` for its fresh seed, or a mutant's
    /// whole choice sequence. A function of the corpus and the seed only.
    pub(crate) fn input(&self, seed: u64) -> Option<Vec<u64>> {
        if self.entries.is_empty() {
            return None;
        }
        let mut rng = SplitMix64(seed ^ SALT);
        if below(&mut rng, 4) >= MUTANTS_IN_FOUR {
            return None;
        }
        let parent = &self.entries[below(&mut rng, self.entries.len() as u64) as usize];
        let mut child = parent.clone();
        // Mostly one edit: a mutant close to its parent keeps most of
        // what its parent reached.
        for _ in 0..1 + u64::from(below(&mut rng, 10) >= 7) {
            self.mutate(&mut child, &mut rng);
        }
        // Past what the parent consumed, a run draws fresh values rather
        // than the zeros ("nothing happens") of an exhausted sequence.
        let tail = parent.len() / 2 + 256;
        child.extend((0..tail).map(|_| rng.next()));
        Some(child)
    }

    /// One edit of `child`.
    fn mutate(&self, child: &mut Vec<u64>, rng: &mut SplitMix64) {
        let len = child.len() as u64;
        if len == 0 {
            return;
        }
        let at = below(rng, len) as usize;
        // Spans of up to 64 choices, shorter near the end.
        let span = 1 + below(rng, (len - at as u64).min(64)) as usize;
        match below(rng, 20) {
            // New random values at a few places.
            0..=7 => {
                for _ in 0..1 + below(rng, 8) {
                    let i = below(rng, len) as usize;
                    child[i] = rng.next();
                }
            }
            // A value nudged up or down by a random fraction of its range.
            8..=10 => {
                let by = rng.next() >> (1 + below(rng, 32));
                child[at] = if rng.next() & 1 == 0 {
                    child[at].saturating_add(by)
                } else {
                    child[at].saturating_sub(by)
                };
            }
            // Splice: the rest from another entry, at the same position
            // (choices are positional: what the n-th draw means depends
            // on the draws before it, least so at the same place).
            11..=12 => {
                let other = &self.entries[below(rng, self.entries.len() as u64) as usize];
                child.truncate(at);
                child.extend(other.iter().skip(at).copied());
            }
            // A span duplicated right after itself.
            13 => {
                let copy: Vec<u64> = child[at..at + span].to_vec();
                child.splice(at + span..at + span, copy);
            }
            // A span deleted.
            14 => {
                child.drain(at..at + span);
            }
            // The tail drawn afresh (the prefix keeps what it reached).
            _ => child.truncate(at),
        }
    }
}

/// A value in `0..n` from `rng` (multiply-shift, as [`Sim::below`]).
fn below(rng: &mut SplitMix64, n: u64) -> u64 {
    ((u128::from(rng.next()) * u128::from(n)) >> 64) as u64
}

/// What one slot left for the corpus.
struct Left {
    choices: Vec<u64>,
    keys: Vec<Box<str>>,
    mutant: bool,
}

/// [`super::pool::run_pool`] with steering: the plan's slots in
/// generations, each slot fresh or a mutant of the corpus as it stood
/// when the generation began.
pub(super) fn run_pool_steered<F>(
    f: &F,
    plan: &Plan,
    faults: &FaultConfig,
    save_limit: usize,
    bar: Option<&indicatif::ProgressBar>,
) -> (Pooled, Corpus)
where
    F: Fn(&mut Sim) -> Result<(), Failure> + Sync,
{
    let mut corpus = Corpus::default();
    let runs = AtomicU64::new(0);
    let calls = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let out_of_time = AtomicBool::new(false);
    let found: Mutex<Vec<(u64, Outcome)>> = Mutex::new(Vec::new());
    let totals: Mutex<Totals> = Mutex::new(Totals::default());
    let start = Instant::now();
    let mut mutants = 0u64;
    let mut first = 0u64;
    while first < plan.total && !out_of_time.load(Ordering::Relaxed) {
        let end = (first + GENERATION).min(plan.total);
        let next = AtomicU64::new(first);
        let left: Mutex<Vec<Option<Left>>> = Mutex::new((first..end).map(|_| None).collect());
        let corpus_now = &corpus;
        std::thread::scope(|scope| {
            for _ in 0..plan.threads.min((end - first) as usize) {
                scope.spawn(|| {
                    let mut mine = Totals::default();
                    loop {
                        if plan.budget.is_some_and(|b| start.elapsed() >= b) {
                            out_of_time.store(true, Ordering::Relaxed);
                            break;
                        }
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= end {
                            break;
                        }
                        let Some(seed) = plan.seed_at(i) else { break };
                        // Saved regressions run as they were found: fresh.
                        let given = if (i as usize) < plan.regressions.len() {
                            None
                        } else {
                            corpus_now.input(seed)
                        };
                        let mutant = given.is_some();
                        let mut outcome = run_phase(f, seed, given.clone(), faults, Some(Phase::Explore));
                        outcome.given = given;
                        runs.fetch_add(1, Ordering::Relaxed);
                        calls.fetch_add(outcome.calls, Ordering::Relaxed);
                        mine.add_run(&outcome.stats);
                        let keys = coverage_keys(&outcome.stats);
                        let choices = std::mem::take(&mut outcome.choices);
                        if outcome.result.is_err() {
                            outcome.choices = choices.clone();
                        }
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
                        left.lock().unwrap_or_else(|e| e.into_inner())[(i - first) as usize] =
                            Some(Left { choices, keys, mutant });
                        if let Some(bar) = bar {
                            bar.inc(1);
                        }
                    }
                    totals.lock().unwrap_or_else(|e| e.into_inner()).absorb(mine);
                });
            }
        });
        // In slot order: what the next generation draws from.
        for slot in left
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .flatten()
        {
            mutants += u64::from(slot.mutant);
            corpus.offer(&slot.choices, &slot.keys);
        }
        first = end;
    }
    let elapsed = start.elapsed();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut found = found.into_inner().unwrap_or_else(|e| e.into_inner());
    found.sort_by_key(|(s, _)| *s);
    found.truncate(save_limit);
    let mut totals = totals.into_inner().unwrap_or_else(|e| e.into_inner()).finish();
    totals.counters.insert(STEER_MUTANTS.into(), mutants);
    totals.counters.insert(STEER_CORPUS.into(), corpus.len() as u64);
    totals.counters.insert(STEER_KEYS.into(), corpus.keys() as u64);
    let pooled = Pooled {
        runs: runs.into_inner(),
        calls: calls.into_inner(),
        failed: failed.into_inner(),
        out_of_time: out_of_time.into_inner(),
        found,
        elapsed,
        totals,
    };
    (pooled, corpus)
}

/// The report's counter of mutant runs (sums over shards).
pub const STEER_MUTANTS: &str = "steer: mutant runs";
/// The report's counter of corpus entries at the end (per shard, summed).
pub const STEER_CORPUS: &str = "steer: corpus entries";
/// The report's counter of coverage keys reached (per shard, summed).
pub const STEER_KEYS: &str = "steer: coverage keys";

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(counters: &[(&str, u64)], faults: &[(&str, u64)]) -> RunStats {
        RunStats {
            counters: counters.iter().map(|(k, n)| ((*k).into(), *n)).collect(),
            faults: faults.iter().map(|(k, n)| ((*k).into(), true, *n)).collect(),
            assertions: Vec::new(),
        }
    }

    #[test]
    fn keys_are_counters_and_fired_faults_by_bucket() {
        let keys = coverage_keys(&stats(&[("moves", 5), ("never", 0)], &[("net::drop", 1), ("quiet", 0)]));
        let keys: Vec<&str> = keys.iter().map(|k| &**k).collect();
        assert_eq!(keys, ["count moves 4", "fault net::drop 1"]);
        let keys = coverage_keys(&stats(&[], &[("b", 2), ("a", 1)]));
        let keys: Vec<&str> = keys.iter().map(|k| &**k).collect();
        assert_eq!(keys, ["fault a 1", "fault b 2", "faults a & b"]);
        assert_eq!((bucket(7), bucket(8), bucket(127), bucket(128)), (4, 5, 7, 8));
    }

    #[test]
    fn only_new_coverage_enters_the_corpus() {
        let mut c = Corpus::default();
        assert!(c.input(1).is_none(), "an empty corpus gives fresh seeds");
        let a: Vec<Box<str>> = vec!["count a 1".into()];
        let ab: Vec<Box<str>> = vec!["count a 1".into(), "count b 1".into()];
        assert!(c.offer(&[1, 2, 3], &a));
        assert!(!c.offer(&[4, 5], &a));
        assert!(c.offer(&[6], &ab));
        assert_eq!((c.len(), c.keys()), (2, 2));
    }

    #[test]
    fn a_slot_runs_the_same_input_for_the_same_corpus() {
        let mut c = Corpus::default();
        c.offer(&(0..500).collect::<Vec<u64>>(), &["count a 1".into()]);
        c.offer(&(1000..1300).collect::<Vec<u64>>(), &["count b 1".into()]);
        let inputs: Vec<Option<Vec<u64>>> = (0..64).map(|s| c.input(s)).collect();
        assert_eq!(inputs, (0..64).map(|s| c.input(s)).collect::<Vec<_>>());
        let mutants = inputs.iter().filter(|i| i.is_some()).count();
        assert!(
            (32..64).contains(&mutants),
            "about three in four are mutants: {mutants}"
        );
        // Mutants differ from their parents and from each other.
        let distinct: std::collections::BTreeSet<_> = inputs.iter().flatten().collect();
        assert_eq!(distinct.len(), mutants);
    }
}
