//! What shrinking gives and why it stopped, and the shrinker before
//! issue 18 (spans deleted, zeroed, values halved), kept as the baseline of
//! `scripts/bench-shrink` (`REHEARSE_SHRINKER=legacy`). The shrinker is in
//! [`super::shrinker`].

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::pool::run_once;
use crate::Failure;
use crate::sim::{FaultConfig, Sim};

/// Shortlex order: shorter first, then lexicographically smaller.
pub(super) fn simpler(a: &[u64], b: &[u64]) -> bool {
    (a.len(), a) < (b.len(), b)
}

fn strip_trailing_zeros(mut v: Vec<u64>) -> Vec<u64> {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

/// Which of a sweep's failures are shrunk, at most `limit` of them, given
/// each one's kind, calls and choices as found, and seed: the smallest of
/// each kind first (fewest calls, then fewest choices, then the lowest
/// seed), then the second smallest of each kind, and so on; kinds in the
/// order of their lowest seed. Each failure's place in that order, `None`
/// for those not shrunk.
///
/// As Hypothesis keeps the smallest failing example of each origin: a
/// failure found small shrinks further and sooner than one found large
/// (arbiter's PromoteMostLagging over seeds 0..300: the lowest failing
/// seed, 3,054 calls as found, shrinks to 1,586 in 7,417 attempts; the
/// smallest, 375 calls, to 283 in 2,192), and the failures of one bug do
/// not use up the shrinks another bug needs.
pub(super) fn shrink_order(found: &[(&str, u64, usize, u64)], limit: usize) -> Vec<Option<usize>> {
    let mut kinds: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, f) in found.iter().enumerate() {
        kinds.entry(f.0).or_default().push(i);
    }
    let mut kinds: Vec<Vec<usize>> = kinds.into_values().collect();
    for same in &mut kinds {
        same.sort_by_key(|&i| (found[i].1, found[i].2, found[i].3));
    }
    kinds.sort_by_key(|same| same.iter().map(|&i| found[i].3).min());
    let mut place = vec![None; found.len()];
    let mut next = 0;
    for rank in 0.. {
        let at_rank: Vec<usize> = kinds.iter().filter_map(|same| same.get(rank).copied()).collect();
        if at_rank.is_empty() || next == limit {
            break;
        }
        for i in at_rank.into_iter().take(limit - next) {
            place[i] = Some(next);
            next += 1;
        }
    }
    place
}

/// Why shrinking one failure stopped.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShrinkStop {
    /// No edit of the sequence made the run simpler and still failing:
    /// the result is as small as this shrinker gets it.
    Exhausted,
    /// [`Sweep::shrink_attempts`](crate::Sweep::shrink_attempts) candidate
    /// runs were used; more might have shrunk it further.
    Attempts {
        /// The bound.
        limit: u64,
    },
    /// [`Sweep::shrink_time`](crate::Sweep::shrink_time) passed; more time
    /// might have shrunk it further.
    Time {
        /// The limit, in seconds.
        limit_s: f64,
    },
}

impl fmt::Display for ShrinkStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exhausted => f.write_str("nothing left to try"),
            Self::Attempts { limit } => write!(f, "attempt bound {}", thousands(*limit)),
            Self::Time { limit_s } => write!(f, "time limit {limit_s} s"),
        }
    }
}

/// `1200` as `1,200`.
pub(super) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What shrinking gives.
pub(super) struct Shrunk {
    /// The simplest failing sequence seen.
    pub(super) choices: Vec<u64>,
    /// Candidate runs made.
    pub(super) attempts: u64,
    /// Why it stopped.
    pub(super) stop: ShrinkStop,
}

/// The shrinker before issue 18: edits a failing choice sequence while the
/// failure (same kind) persists: deletes spans, zeroes spans, halves values,
/// until nothing helps or the deadline passes. A candidate is kept when its run has fewer calls, or as
/// many calls and a shortlex-smaller choice sequence: people read calls, and
/// the order is well-founded, so shrinking terminates. Never returns a
/// sequence that was not seen failing.
pub(super) fn shrink_legacy<F>(
    f: &F,
    seed: u64,
    faults: &FaultConfig,
    start: Vec<u64>,
    kind: &str,
    time: Duration,
    attempts: u64,
) -> Shrunk
where
    F: Fn(&mut Sim) -> Result<(), Failure>,
{
    let deadline = Instant::now() + time;
    let first = run_once(f, seed, Some(start.clone()), faults);
    let mut best = strip_trailing_zeros(start);
    let best_calls = Cell::new(first.calls);
    // Runs allowed in total (`Sweep::shrink_attempts`), on top of the
    // deadline: the bound that gives the same result on any machine.
    let budget = Cell::new(attempts);
    // Set when a candidate was refused for want of attempts or time.
    let cut = Cell::new(None);
    let attempt = |candidate: Vec<u64>, best: &mut Vec<u64>| -> bool {
        if budget.get() == 0 {
            cut.set(Some(ShrinkStop::Attempts { limit: attempts }));
            return false;
        }
        if Instant::now() >= deadline {
            cut.set(Some(ShrinkStop::Time {
                limit_s: time.as_secs_f64(),
            }));
            return false;
        }
        if !simpler(&candidate, best) {
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
        delete_spans(&mut best, &attempt);
        zero_spans(&mut best, &attempt);
        halve_values(&mut best, &attempt);
        if let Some(stop) = cut.get() {
            return Shrunk {
                choices: best,
                attempts: attempts - budget.get(),
                stop,
            };
        }
        if best == before {
            return Shrunk {
                choices: best,
                attempts: attempts - budget.get(),
                stop: ShrinkStop::Exhausted,
            };
        }
    }
}

/// Shrinking pass 1: deletes spans of choices, large to small.
fn delete_spans(best: &mut Vec<u64>, attempt: &impl Fn(Vec<u64>, &mut Vec<u64>) -> bool) {
    let mut k = (best.len() / 2).max(1);
    loop {
        let mut i = 0;
        while i + k <= best.len() {
            let mut c = best.clone();
            c.drain(i..i + k);
            if !attempt(c, best) {
                i += 1;
            }
        }
        if k == 1 {
            break;
        }
        k /= 2;
    }
}

/// Shrinking pass 2: zeroes spans of choices, then single values.
fn zero_spans(best: &mut Vec<u64>, attempt: &impl Fn(Vec<u64>, &mut Vec<u64>) -> bool) {
    for k in [8usize, 4, 2, 1] {
        let mut i = 0;
        while i + k <= best.len() {
            if best[i..i + k].iter().any(|v| *v != 0) {
                let mut c = best.clone();
                c[i..i + k].iter_mut().for_each(|v| *v = 0);
                attempt(c, best);
            }
            i += 1;
        }
    }
}

/// Shrinking pass 3: halves each value while that keeps failing.
fn halve_values(best: &mut Vec<u64>, attempt: &impl Fn(Vec<u64>, &mut Vec<u64>) -> bool) {
    let mut i = 0;
    while i < best.len() {
        loop {
            if best[i] == 0 {
                break;
            }
            let mut c = best.clone();
            c[i] /= 2;
            if !attempt(c, best) || i >= best.len() {
                break;
            }
        }
        i += 1;
    }
}
