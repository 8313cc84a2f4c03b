//! Coverage-guided steering ([`Sweep::steer`](super::Sweep::steer),
//! `REHEARSE_STEER=on`): a corpus of choice sequences that reached new
//! coverage, and mutants of them run alongside fresh seeds.
//!
//! **Coverage** is a set of keys ([`coverage_keys`]): each counter a run
//! counted above zero ([`Sim::count`](crate::Sim::count)) and each fault
//! point it fired, with the count's order of magnitude (AFL's hit-count
//! buckets: 1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128+), each pair of fault
//! points that fired in one run, and each assertion that held. A run
//! notes the choice position at which it reached each key (a counter
//! entering its bucket, a fault point first firing, an assertion first
//! holding): the moment a fork starts from.
//!
//! **Runs and slots.** A steered sweep runs the same slots as a fresh one
//! (the seeds of its range, of its shard), in generations of
//! [`GENERATION`] slots. Once the corpus holds something, a slot is
//! either its fresh seed or a fork: a key drawn with weight inversely
//! proportional to the runs that reached it (AFL's power schedule), the
//! choices of the run that first reached it up to that moment (or, half
//! the time, only up to the last fault point decided before it: the same
//! fault mix), then fresh choices. How many slots fork is a
//! deterministic bandit ([`Corpus::forks_in_eight`]): half at first, then
//! seven in eight for whichever kind of run (fresh or fork) has reached
//! new coverage more often per run so far, one in eight for the other.
//! Everything is drawn from a generator seeded by the slot's seed, and
//! the corpus and the bandit's counts only change between generations,
//! in slot order: the same sweep (range, shard, options) runs the same
//! sequences whatever the thread count, in any process.
//!
//! Tried and dropped (`scripts/bench-steer`, 2026-12-01): editing a whole
//! entry (new values at a few places, a value nudged, a splice, a span
//! duplicated or deleted) found every planted bug later than fresh seeds;
//! forking only at the key's moment, and switching one fault point of the
//! parent on or off, did no better than the mix kept here. A fixed split
//! of seven forks in eight (six at the key's moment) took 396, 965,
//! 200 and 60 runs to find arbiter's promote-most-lagging on the first
//! four seed offsets, where fresh seeds take 18, 186, 366 and 65.
//! Tried and dropped (2026-12-02): weighting parents by the rarity of
//! the keys their forks reach (libFuzzer's entropic schedule,
//! simplified). With seven forks in eight it found the counter's bug
//! 1.67x sooner than fresh seeds, but arbiter's later (resync-from-empty
//! 77 runs against 39), and under the bandit it changed little. Why
//! (`REHEARSE_STEER_TRACE=1`, the benches' `--keep-going`): whether a
//! fork fails depends on its parent, and before the first find the
//! corpus seldom holds a parent that leads to the bug; on arbiter, forks
//! of runs that had not failed failed less often than fresh seeds (0.4%
//! against 0.9% on promote-most-lagging). The crate's `docs/steering.md`
//! has the figures (the README's steering section, the summary).
//! Tried and dropped (2026-12-02, with a `sometimes!` near miss for each
//! planted bug's precondition noted at its moment in the examples and
//! arbiter's simulation): giving half the forks to the assertions that
//! held before a run's end. Counter 1.40x against fresh seeds (1.27x
//! with the near misses under the schedule kept here), the replicated
//! log 0.85x, promote-most-lagging 0.83x: a near miss still forks from
//! the one run that first reached it, and whether its forks fail is
//! decided by that parent's fault mix.
//!
//! **Tracing.** `REHEARSE_STEER_TRACE=1` prints, after each generation,
//! one line per slot on stderr: whether it ran its fresh seed or a fork
//! (the entry, the choices kept, the key and its hits), whether the run
//! failed, its rarity (the sum over its keys of 2^20 / (runs that reached
//! the key before + 1)), the new keys it reached, the corpus size and the
//! split.
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
use super::pool::{Outcome, Pooled, keep_lowest, run_phase, take_next};
use super::stop::Done;
use super::totals::{FailedSeed, Totals};
use crate::Failure;
use crate::sim::{FaultConfig, Phase, RunStats, Sim, SplitMix64};

/// Slots per generation: the corpus grows between generations only, so
/// that what a slot runs does not depend on which thread finished first.
pub(super) const GENERATION: u64 = 8;

/// The most choices the corpus holds, over all its entries (64 MiB): past
/// it, a run that reaches new coverage adds its keys but not its choices.
pub(super) const MAX_CORPUS_CHOICES: usize = 8 << 20;

/// The split between fresh seeds and forks, in eighths of the slots: a
/// tie (as at the start) gives half each; then the kind of run that
/// reached new coverage more often (per run, so far) gets [`LEADER`]
/// eighths and the other the rest, so that neither stops being tried.
const EIGHTHS: u64 = 8;
/// The leading kind's share, in eighths.
const LEADER: u64 = 7;

/// Mixed into a slot's seed for its mutation generator, so that it draws
/// differently from the seed's own fresh choices.
const SALT: u64 = 0x5EED_57EE_C0DE_D00D;

/// The coverage keys of one run (sorted, each once), each with the
/// choice position at which the run reached it: `count NAME B` for a
/// counter above zero, `fault POINT B` for a fault point that fired,
/// `faults A & B` for two that fired in the same run, `assert NAME` for
/// an assertion that held; `B` the count's bucket ([`bucket`]).
pub(crate) fn coverage_keys(stats: &RunStats) -> Vec<(Box<str>, usize)> {
    let at = |i: usize| stats.fault_at.get(i).copied().unwrap_or_default();
    let fired: Vec<(&str, usize)> = stats
        .faults
        .iter()
        .enumerate()
        .filter(|(_, (_, _, fired))| *fired > 0)
        .map(|(i, (name, _, _))| (&**name, at(i)[0]))
        .collect();
    // Faults that fired together: a bug that needs two (a lost reply and
    // a restart) is one key away from a run that had both. Reached when
    // the later of the two first fired.
    let pairs = fired
        .iter()
        .enumerate()
        .flat_map(|(i, (a, p))| fired[i + 1..].iter().map(move |(b, q)| (pair(a, b), *p.max(q))));
    let mut keys: Vec<(Box<str>, usize)> = stats
        .counters
        .iter()
        .enumerate()
        .filter(|(_, (_, n))| *n > 0)
        .map(|(i, (name, n))| {
            let p = stats.counter_at.get(i).copied().unwrap_or_default();
            (format!("count {name} {}", bucket(*n)).into(), p)
        })
        .chain(
            stats
                .faults
                .iter()
                .enumerate()
                .filter(|(_, (_, _, fired))| *fired > 0)
                .map(|(i, (name, _, fired))| (format!("fault {name} {}", bucket(*fired)).into(), at(i)[1])),
        )
        .chain(pairs)
        // A `sometimes!`/`reachable!` (or any assertion) that held: the
        // situations a program names are the coverage it cares about.
        .chain(
            stats
                .assertions
                .iter()
                .enumerate()
                .filter(|(_, (_, _, held))| *held > 0)
                .map(|(i, (site, _, _))| {
                    let p = stats.assertion_at.get(i).copied().unwrap_or_default();
                    (format!("assert {}", site.name).into(), p)
                }),
        )
        .collect();
    keys.sort();
    keys.dedup_by(|a, b| a.0 == b.0);
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
    crate::sim::hit_bucket(n)
}

/// A coverage key: how many runs reached it, and where it was first
/// reached (entry and choice position; `None` when the corpus was full).
#[derive(Debug)]
struct Key {
    hits: u64,
    first: Option<(usize, usize)>,
}

/// The choice sequences that reached new coverage, and every key reached.
#[derive(Debug, Default)]
pub(crate) struct Corpus {
    entries: Vec<Vec<u64>>,
    /// Per entry, where its run decided each fault point it met (enabled
    /// or not, how often): (met at, decided at), choice positions.
    swarms: Vec<Vec<(usize, usize)>>,
    /// Choices held over all entries.
    held: usize,
    /// Every key reached, by name: its index in `stats`.
    keys: BTreeMap<Box<str>, usize>,
    /// Per key (in the order first reached): hits and first reach.
    stats: Vec<Key>,
    /// The split's evidence: per kind of run (fresh, fork), the runs made
    /// while the corpus could fork, and how many of them reached new
    /// coverage.
    arms: [Arm; 2],
}

/// One kind of run's record, for the split ([`Corpus::forks_in_eight`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Arm {
    /// Runs of this kind made while the corpus held something.
    pub(crate) runs: u64,
    /// How many of them reached a key no run had reached before.
    pub(crate) new: u64,
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

    /// Adds a run's keys (with the positions it reached them at); when one
    /// is new, keeps its choices (while the corpus has room). Returns
    /// whether any key was new.
    pub(crate) fn offer(&mut self, choices: &[u64], keys: &[(Box<str>, usize)], swarm: &[(usize, usize)]) -> bool {
        let is_new = keys.iter().any(|(k, _)| !self.keys.contains_key(k));
        let room = is_new && !choices.is_empty() && self.held + choices.len() <= MAX_CORPUS_CHOICES;
        let entry = room.then(|| {
            self.entries.push(choices.to_vec());
            let mut swarm: Vec<(usize, usize)> = swarm
                .iter()
                .copied()
                .filter(|(m, d)| d > m && *d <= choices.len())
                .collect();
            swarm.sort_unstable();
            self.swarms.push(swarm);
            self.held += choices.len();
            self.entries.len() - 1
        });
        for (k, at) in keys {
            match self.keys.get(k) {
                Some(&i) => self.stats[i].hits += 1,
                None => {
                    self.keys.insert(k.clone(), self.stats.len());
                    self.stats.push(Key {
                        hits: 1,
                        first: entry.map(|e| (e, (*at).min(choices.len()))),
                    });
                }
            }
        }
        is_new
    }

    /// Notes that a slot run as a fork (`fork`) or its fresh seed, while
    /// the corpus held something, reached new coverage (`new`) or not:
    /// the evidence [`Corpus::forks_in_eight`] splits the slots by.
    pub(crate) fn note(&mut self, fork: bool, new: bool) {
        let arm = &mut self.arms[usize::from(fork)];
        arm.runs += 1;
        arm.new += u64::from(new);
    }

    /// How many slots in eight run a fork (the rest their fresh seed): a
    /// deterministic bandit between the two kinds of run, rewarded by
    /// new coverage. Each kind's rate of new coverage so far is counted
    /// with one success and one failure added (a tie at the start: four
    /// each); the higher rate gets [`LEADER`] eighths, the other the rest.
    /// Rates are compared as integer fractions, exact on any machine.
    pub(crate) fn forks_in_eight(&self) -> u64 {
        let [fresh, fork] = self.arms;
        let rate = |a: Arm| (u128::from(a.new) + 1, u128::from(a.runs) + 2);
        let ((fs, fn_), (ks, kn)) = (rate(fresh), rate(fork));
        match (ks * fn_).cmp(&(fs * kn)) {
            std::cmp::Ordering::Greater => LEADER,
            std::cmp::Ordering::Less => EIGHTHS - LEADER,
            std::cmp::Ordering::Equal => EIGHTHS / 2,
        }
    }

    /// Each kind of run's record so far: (fresh, fork).
    #[cfg(test)]
    pub(crate) fn arms(&self) -> (Arm, Arm) {
        (self.arms[0], self.arms[1])
    }

    /// A key to fork at, drawn with weight inversely proportional to the
    /// runs that reached it (AFL's power schedule: the rarely reached
    /// situations get the mutants): its index in `stats`.
    fn pick(&self, rng: &mut SplitMix64) -> Option<usize> {
        let weight = |k: &Key| k.first.map_or(0, |_| (1u64 << 32) / k.hits.max(1));
        let total: u64 = self.stats.iter().map(weight).sum();
        if total == 0 {
            return None;
        }
        let mut x = below(rng, total);
        for (i, k) in self.stats.iter().enumerate() {
            let w = weight(k);
            if x < w {
                return Some(i);
            }
            x -= w;
        }
        None
    }

    /// How rare a run's keys are, against the runs offered so far: the sum
    /// over its keys of 2^20 / (runs that reached it before + 1), for
    /// `REHEARSE_STEER_TRACE`.
    fn rarity(&self, keys: &[(Box<str>, usize)]) -> u64 {
        keys.iter()
            .map(|(k, _)| (1 << 20) / (self.keys.get(k).map_or(0, |&i| self.stats[i].hits) + 1))
            .sum()
    }

    /// What slot `seed` runs, in words, for `REHEARSE_STEER_TRACE`.
    fn describe(&self, seed: u64) -> String {
        let Some((child, key)) = self.input_key(seed) else {
            return "fresh".into();
        };
        let name = self.keys.iter().find(|&(_, &i)| i == key).map_or("", |(k, _)| &**k);
        let Some((e, _)) = self.stats[key].first else {
            return "fork".into();
        };
        let parent = &self.entries[e];
        let kept = child.iter().zip(parent).take_while(|(a, b)| a == b).count();
        format!(
            "fork entry={e} kept={kept}/{} key_hits={} key={name:?}",
            parent.len(),
            self.stats[key].hits
        )
    }

    /// What slot `seed` runs: `None` for its fresh seed, or a mutant's
    /// whole choice sequence. A function of the corpus and the seed only.
    pub(crate) fn input(&self, seed: u64) -> Option<Vec<u64>> {
        self.input_key(seed).map(|(child, _)| child)
    }

    /// [`Corpus::input`], and the key the mutant forks at.
    fn input_key(&self, seed: u64) -> Option<(Vec<u64>, usize)> {
        if self.entries.is_empty() {
            return None;
        }
        let mut rng = SplitMix64(seed ^ SALT);
        if below(&mut rng, EIGHTHS) >= self.forks_in_eight() {
            return None;
        }
        let key = self.pick(&mut rng)?;
        let (e, at) = self.stats[key].first?;
        let parent = &self.entries[e];
        // Fork: the parent's choices up to where it first reached the key,
        // then new ones: many futures branch from the moment a rare
        // situation arose. A key reached at the very end (a count made
        // once the run is over) forks at a random earlier point instead.
        let end = parent.len();
        let at = if at + 1 < end {
            at
        } else {
            below(&mut rng, end as u64) as usize
        };
        let swarm = &self.swarms[e];
        // Half the time, only the fault mix decided before that moment
        // (which points are enabled, how often they fire) and the rest
        // afresh: the same faults, another run.
        let cut = if below(&mut rng, 2) == 0 || swarm.is_empty() {
            at
        } else {
            swarm.iter().map(|&(_, d)| d).filter(|&d| d <= at).max().unwrap_or(0)
        };
        let mut child = parent[..cut].to_vec();
        let tail = (end - cut) * 2 + 256;
        child.extend((0..tail).map(|_| rng.next()));
        Some((child, key))
    }
}

/// A value in `0..n` from `rng` (multiply-shift, as [`Sim::below`]).
fn below(rng: &mut SplitMix64, n: u64) -> u64 {
    ((u128::from(rng.next()) * u128::from(n)) >> 64) as u64
}

/// What one slot left for the totals and the corpus.
struct Left {
    /// The run, for the totals (added in slot order).
    done: Done,
    choices: Vec<u64>,
    swarm: Vec<(usize, usize)>,
    keys: Vec<(Box<str>, usize)>,
    mutant: bool,
    failed: bool,
    /// Whether the corpus could fork when this slot ran (its run is
    /// evidence for the split between fresh seeds and forks).
    could_fork: bool,
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
    let trace = std::env::var_os(super::knobs::env::STEER_TRACE).is_some();
    let (mut runs, mut calls, mut failed) = (0u64, 0u64, 0u64);
    let out_of_time = AtomicBool::new(false);
    let found: Mutex<Vec<(u64, Outcome)>> = Mutex::new(Vec::new());
    let mut totals = Totals::default();
    // The slot of the N-th failure (`stop_after`), once reached.
    let mut cut: Option<u64> = None;
    let start = Instant::now();
    let mut mutants = 0u64;
    let mut first = 0u64;
    while first < plan.total && cut.is_none() && !out_of_time.load(Ordering::Relaxed) {
        let end = (first + GENERATION).min(plan.total);
        let next = AtomicU64::new(first);
        let left: Mutex<Vec<Option<Left>>> = Mutex::new((first..end).map(|_| None).collect());
        let corpus_now = &corpus;
        let could_fork = corpus.len() > 0;
        std::thread::scope(|scope| {
            for _ in 0..plan.threads.min((end - first) as usize) {
                scope.spawn(|| {
                    let end = || end;
                    while let Some((i, seed)) = take_next(plan, start, &next, &end, &out_of_time) {
                        // Saved regressions run as they were found: fresh.
                        let given = if (i as usize) < plan.regressions.len() {
                            None
                        } else {
                            corpus_now.input(seed)
                        };
                        let mutant = given.is_some();
                        let mut outcome = run_phase(f, seed, given.clone(), faults, Some(Phase::Explore));
                        outcome.given = given;
                        let keys = coverage_keys(&outcome.stats);
                        let swarm = outcome.stats.fault_at.iter().map(|a| (a[2], a[3])).collect();
                        let choices = std::mem::take(&mut outcome.choices);
                        let failed_now = outcome.result.is_err();
                        if failed_now {
                            outcome.choices = choices.clone();
                        }
                        left.lock().unwrap_or_else(|e| e.into_inner())[(i - first) as usize] = Some(Left {
                            done: Done::new(seed, outcome),
                            choices,
                            swarm,
                            keys,
                            mutant,
                            failed: failed_now,
                            could_fork: could_fork && (i as usize) >= plan.regressions.len(),
                        });
                        if let Some(bar) = bar {
                            bar.inc(1);
                        }
                    }
                });
            }
        });
        // What each slot ran, for the trace: before the corpus changes.
        let described: Vec<String> = if trace {
            (first..end)
                .map(|i| plan.seed_at(i).map(|s| corpus.describe(s)).unwrap_or_default())
                .collect()
        } else {
            Vec::new()
        };
        // In slot order: the totals (up to the N-th failure, when the
        // sweep stops after N), and what the next generation draws from.
        for (j, slot) in left
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .enumerate()
        {
            let Some(slot) = slot else { continue };
            if cut.is_some() {
                break;
            }
            let done = slot.done;
            runs += 1;
            calls += done.calls;
            totals.add_run(&done.stats);
            if let Some((kind, outcome)) = done.failure {
                totals.failed.push(FailedSeed { seed: done.seed, kind });
                failed += 1;
                if let Some(bar) = bar {
                    bar.set_message(format!("{failed} failing"));
                }
                keep_lowest(&found, done.seed, outcome, save_limit);
                if plan.stop_after.is_some_and(|n| failed >= n) {
                    cut = Some(first + j as u64);
                }
            }
            mutants += u64::from(slot.mutant);
            let rarity = if trace { corpus.rarity(&slot.keys) } else { 0 };
            let keys_before = corpus.keys();
            let new = corpus.offer(&slot.choices, &slot.keys, &slot.swarm);
            if slot.could_fork {
                corpus.note(slot.mutant, new);
            }
            if trace {
                eprintln!(
                    "steer-trace slot={} failed={} rarity={} new_keys={} entries={} forks_in_eight={} {}",
                    first + j as u64,
                    slot.failed,
                    rarity,
                    corpus.keys() - keys_before,
                    corpus.len(),
                    corpus.forks_in_eight(),
                    described[j]
                );
            }
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
    let mut totals = totals.finish();
    totals.counters.insert(STEER_MUTANTS.into(), mutants);
    totals.counters.insert(STEER_CORPUS.into(), corpus.len() as u64);
    totals.counters.insert(STEER_KEYS.into(), corpus.keys() as u64);
    let pooled = Pooled {
        runs,
        calls,
        failed,
        // Every slot up to the N-th failure ran: the budget cut nothing
        // the report covers.
        out_of_time: out_of_time.into_inner() && cut.is_none(),
        stopped: cut.is_some_and(|c| c + 1 < plan.total),
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
            counter_at: (0..counters.len()).map(|i| 10 + i).collect(),
            faults: faults.iter().map(|(k, n)| ((*k).into(), true, *n)).collect(),
            fault_at: (0..faults.len()).map(|i| [20 + i, 30 + i, i, i + 1]).collect(),
            assertions: Vec::new(),
            assertion_at: Vec::new(),
        }
    }

    fn names(keys: &[(Box<str>, usize)]) -> Vec<&str> {
        keys.iter().map(|(k, _)| &**k).collect()
    }

    #[test]
    fn keys_are_counters_and_fired_faults_by_bucket() {
        let keys = coverage_keys(&stats(&[("moves", 5), ("never", 0)], &[("net::drop", 1), ("quiet", 0)]));
        assert_eq!(names(&keys), ["count moves 4", "fault net::drop 1"]);
        assert_eq!((keys[0].1, keys[1].1), (10, 30), "where each was reached");
        let keys = coverage_keys(&stats(&[], &[("b", 2), ("a", 1)]));
        assert_eq!(names(&keys), ["fault a 1", "fault b 2", "faults a & b"]);
        // A pair is reached when the later of its two first fired.
        assert_eq!(keys[2].1, 21);
        assert_eq!((bucket(7), bucket(8), bucket(127), bucket(128)), (4, 5, 7, 8));
    }

    #[test]
    fn only_new_coverage_enters_the_corpus() {
        let mut c = Corpus::default();
        assert!(c.input(1).is_none(), "an empty corpus gives fresh seeds");
        let a: Vec<(Box<str>, usize)> = vec![("count a 1".into(), 1)];
        let ab: Vec<(Box<str>, usize)> = vec![("count a 1".into(), 0), ("count b 1".into(), 0)];
        assert!(c.offer(&[1, 2, 3], &a, &[]));
        assert!(!c.offer(&[4, 5], &a, &[]));
        assert!(c.offer(&[6], &ab, &[]));
        assert_eq!((c.len(), c.keys()), (2, 2));
    }

    #[test]
    fn a_slot_runs_the_same_input_for_the_same_corpus() {
        let mut c = Corpus::default();
        c.offer(&(0..500).collect::<Vec<u64>>(), &[("count a 1".into(), 100)], &[(3, 5)]);
        c.offer(&(1000..1300).collect::<Vec<u64>>(), &[("count b 1".into(), 299)], &[]);
        let inputs: Vec<Option<Vec<u64>>> = (0..64).map(|s| c.input(s)).collect();
        assert_eq!(inputs, (0..64).map(|s| c.input(s)).collect::<Vec<_>>());
        let mutants = inputs.iter().filter(|i| i.is_some()).count();
        assert!((20..44).contains(&mutants), "about one in two are mutants: {mutants}");
        // Mutants differ from their parents and from each other.
        let distinct: std::collections::BTreeSet<_> = inputs.iter().flatten().collect();
        assert_eq!(distinct.len(), mutants);
    }

    #[test]
    fn the_kind_of_run_that_finds_new_coverage_more_often_gets_seven_slots_in_eight() {
        let mut c = Corpus::default();
        c.offer(&(0..500).collect::<Vec<u64>>(), &[("count a 1".into(), 100)], &[]);
        let forks = |c: &Corpus| (0..800).filter(|&s| c.input(s).is_some()).count();
        assert_eq!(c.forks_in_eight(), 4, "no evidence yet: half each");
        let half = forks(&c);
        assert!((300..500).contains(&half), "{half} forks in 800");
        // Forks reached new coverage 3 times in 10, fresh seeds 1 in 10.
        for i in 0..10 {
            c.note(true, i < 3);
            c.note(false, i < 1);
        }
        assert_eq!(c.forks_in_eight(), 7);
        let most = forks(&c);
        assert!((620..780).contains(&most), "{most} forks in 800");
        // Now fresh seeds lead (21 in 30 against 3 in 30).
        for _ in 0..20 {
            c.note(true, false);
            c.note(false, true);
        }
        assert_eq!(c.arms(), (Arm { runs: 30, new: 21 }, Arm { runs: 30, new: 3 }));
        assert_eq!(c.forks_in_eight(), 1);
        let few = forks(&c);
        assert!((50..160).contains(&few), "{few} forks in 800");
        // Equal rates (with the added success and failure): a tie.
        let mut t = Corpus::default();
        t.note(true, true);
        t.note(false, true);
        assert_eq!(t.forks_in_eight(), 4);
    }

    #[test]
    fn the_trace_says_what_a_slot_runs() {
        let mut c = Corpus::default();
        assert_eq!(c.describe(1), "fresh");
        c.offer(&(0..500).collect::<Vec<u64>>(), &[("count a 1".into(), 100)], &[]);
        for seed in 0..32 {
            let line = c.describe(seed);
            match c.input(seed) {
                None => assert_eq!(line, "fresh"),
                Some(child) => {
                    let kept = child.iter().zip(0..500u64).take_while(|(a, b)| **a == *b).count();
                    assert!(
                        line.starts_with(&format!("fork entry=0 kept={kept}/500 key_hits=1 key=\"count a 1\"")),
                        "{line}"
                    );
                }
            }
        }
        assert_eq!(
            c.rarity(&[("count a 1".into(), 0), ("count new 1".into(), 0)]),
            (1 << 19) + (1 << 20)
        );
    }

    #[test]
    fn a_mutant_forks_where_its_parent_reached_a_key_or_keeps_its_fault_mix() {
        let mut c = Corpus::default();
        let parent: Vec<u64> = (0..500).collect();
        // Reached at choice 100; fault points decided at choices 3..5 and
        // 200..202 (the second after the key: not kept).
        c.offer(&parent, &[("count a 1".into(), 100)], &[(3, 5), (200, 202)]);
        let (mut at_key, mut at_mix) = (0, 0);
        for seed in 0..200 {
            let Some(child) = c.input(seed) else { continue };
            let kept = child.iter().zip(&parent).take_while(|(a, b)| a == b).count();
            match kept {
                100 => at_key += 1,
                5 => at_mix += 1,
                other => panic!("seed {seed}: kept {other} choices"),
            }
            assert!(child.len() >= 500, "a fresh tail past the parent's length");
        }
        assert!(
            at_key > 20 && at_mix > 20,
            "{at_key} forks at the key, {at_mix} at the mix"
        );
    }
}
