//! The shrinker: edits a failing choice sequence while the same failure
//! persists, modelled on Hypothesis's (`internal/conjecture/shrinker.py`
//! and `shrinking/integer.py`).
//!
//! A candidate is kept when its run fails with the same kind and has fewer
//! calls, or as many calls and a shortlex-smaller choice sequence (shorter,
//! then lexicographically smaller). That order is well-founded, so
//! shrinking ends; people read calls, so calls come first. The passes, run
//! in turn until a whole round removes no calls or the attempts run out
//! (rounds that find only shortlex-smaller sequences of as many calls
//! took a third of the attempts in the benchmark, for no fewer calls):
//!
//! - **delete blocks**: halves, quarters... of the sequence (aligned in
//!   the first round, then at steps of half their length), cheap cuts
//!   when most of a run is irrelevant;
//! - **advance**: per non-zero choice, delete the zeros before it up to
//!   an earlier draw of the same kind (the same fault point asked at an
//!   earlier tick), the earliest that still fails, so that the event it
//!   decides and everything after it happen sooner (arbiter's
//!   PromoteMostLagging: 1,586 calls instead of 1,655);
//! - **adaptive deletion**: at each position (from the end), delete 1 to 3
//!   choices, and while that keeps failing, twice as many (Hypothesis's
//!   `find_integer`), so a long irrelevant stretch goes in a few attempts
//!   (skipped while the sequence is longer than [`LONG_LEN`] choices: it
//!   costs a few runs per choice);
//! - **zero blocks**: set aligned blocks of choices to 0 at once;
//! - **minimise values**: per choice, in the units of the draw that read it
//!   ([`Draw`]: a `below(3)` choice has 3 values, not 2^64): try 0, then 1
//!   to 3, then binary search between the last value that did not fail and
//!   the current one; a raw draw also tries the top value (where
//!   `random_bool` is false), kept only if that removes calls;
//! - **lower and delete**: lower a value by one while deleting a following
//!   span (a loop count and one pass of its body: the draws right after it,
//!   each repeated block of draws after it, or 1 to 4 choices);
//! - **redistribute and sort**: for nearby pairs of choices read the same
//!   way, move the first's value onto the second, or swap them when the
//!   second is smaller.
//!
//! A sequence longer than [`LONG_LEN`] is first **cut coarsely**: blocks
//! of a half down to a 64th of it deleted at every quarter of a block
//! (as the shrinker before issue 18 did at every position), again while
//! that removes calls; and when a round on a sequence still that long
//! removes no calls, the same at every 16th of a block before giving up.
//!
//! A sequence of 64 choices or more then has two starts, and the one
//! with fewer calls after one round goes on: the passes above, or **zero
//! kinds** first in every round (every choice of one kind of draw, a
//! `below(4001)` latency or a `chance(p)`, set to 0 at once, then those of
//! each half, quarter and eighth of the sequence). A simulated network
//! draws a latency per message, and deleting or lowering one choice at a
//! time shifts every later draw to another meaning; lowering them all
//! together keeps the later draws aligned. Which start does better
//! depends on the run.
//!
//! Each candidate runs with a call limit, the best run's calls: it stops
//! (at its next draw) as soon as it has more, since it could never be
//! kept. A candidate that does not fail would otherwise run its full
//! length (a replicated-log candidate, 10 s of simulated time): the
//! decisions are the same, the replicated log's candidates took 0.36 ms
//! each instead of 10 ms (`scripts/bench-shrink`, 2026-12-01).
//!
//! Every candidate tried is remembered (by hash), and a candidate tried
//! before is not run again: a rejected one stays rejected, since the best
//! only gets better. Attempts bound the work, so the result is the same on
//! any machine; the time limit is a safety valve, reported when it bites.

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use super::pool::{run_candidate, run_once};
use super::shrink::{ShrinkStop, Shrunk, simpler};
use crate::Failure;
use crate::sim::{Draw, FaultConfig, Sim};

/// Draws before and after a position compared to find a repeated block.
const MAX_PERIOD: usize = 16;
/// How far apart two choices may be to redistribute or swap them.
const PAIR_WINDOW: usize = 8;
/// Sequences at least this long are also shrunk from a second start, zero
/// kinds first: a run that long draws the same thing over and over (a
/// latency per message), and the small systems of the benchmark shrink as
/// well or better without it (a lost update: 14 calls with it, 12
/// without).
const ZERO_KINDS_MIN_LEN: usize = 64;

/// While the sequence is longer than this, a round skips adaptive
/// deletion: it tries up to three deletions at every position, and on a
/// run of thousands of choices (arbiter's PromoteMostLagging: 3,413) it
/// took 7,721 runs to remove 26 calls, where lowering a value and deleting
/// a span after it removed 1,276 in 169.
const LONG_LEN: usize = 256;
/// Positions per block of [`Shrinker::coarse`] when a round on a long
/// sequence removed no calls.
const STUCK_PER_BLOCK: usize = 64;

fn strip_trailing_zeros(mut v: Vec<u64>) -> Vec<u64> {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

/// Shrinks `start`, a choice sequence whose run fails with `kind`, within
/// `attempts` candidate runs and `time` (see the module docs).
pub(super) fn shrink<F>(
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
    let long = strip_trailing_zeros(start.clone()).len() >= ZERO_KINDS_MIN_LEN;
    let mut a = Shrinker::new(f, seed, faults, start, kind, (deadline, time), attempts, &PASSES);
    if a.best.len() > LONG_LEN {
        a.coarse(4);
    }
    if !long {
        while a.round() {}
        return a.finish();
    }
    // A second start, zero kinds first: from the sequence as found, where
    // the draws of one kind are many. Which start ends lower depends on
    // the run (the replicated log: 323 calls by the first, 112 by the
    // second; arbiter's NoDebounce: 38 by the first, 131 by the second).
    // Each runs one round, and only the one with fewer calls after it
    // goes on, within the one bound of attempts.
    let start = a.best.clone();
    let a_more = a.round();
    if a.cut.is_some() {
        return a.finish();
    }
    let mut b = Shrinker::new(
        f,
        seed,
        faults,
        start,
        kind,
        (deadline, time),
        attempts,
        &PASSES_ZERO_FIRST,
    );
    b.left = a.left;
    let b_more = b.round();
    let b_better = b.calls < a.calls || (b.calls == a.calls && simpler(&b.best, &a.best));
    let (mut w, more) = if b_better {
        (b, b_more)
    } else {
        a.left = b.left;
        a.cut = b.cut;
        (a, a_more)
    };
    if more {
        while w.round() {}
    }
    w.finish()
}

impl<'a, F> Shrinker<'a, F>
where
    F: Fn(&mut Sim) -> Result<(), Failure>,
{
    /// A shrinker of `start` with `passes`, its sequence canonicalised.
    #[allow(clippy::too_many_arguments)]
    fn new(
        f: &'a F,
        seed: u64,
        faults: &'a FaultConfig,
        start: Vec<u64>,
        kind: &'a str,
        (deadline, time): (Instant, Duration),
        attempts: u64,
        passes: &'static [Pass],
    ) -> Self {
        let first = run_once(f, seed, Some(start.clone()), faults);
        let mut s = Shrinker {
            f,
            seed,
            faults,
            kind,
            best: strip_trailing_zeros(start),
            draws: first.draws,
            calls: first.calls,
            left: attempts,
            limit: attempts,
            deadline,
            time,
            cut: None,
            tried: HashSet::new(),
            round: 0,
            passes,
            debug: std::env::var(super::knobs::env::SHRINK_DEBUG).is_ok(),
        };
        s.canonicalise();
        s
    }

    /// One round of the passes; false when shrinking is over: the
    /// attempts or time ran out, or the round removed no calls (rounds
    /// that find only shortlex-smaller sequences of as many calls took a
    /// third of the attempts in the benchmark, for no fewer calls).
    fn round(&mut self) -> bool {
        let calls = self.calls;
        for &pass in self.passes {
            if matches!(pass, Pass::DeleteAdaptive) && self.best.len() > LONG_LEN {
                continue;
            }
            let (left, calls, len) = (self.left, self.calls, self.best.len());
            self.run(pass);
            if self.debug {
                eprintln!(
                    "{pass:>16?}: {:>5} attempts, calls {calls} -> {}, choices {len} -> {}",
                    left - self.left,
                    self.calls,
                    self.best.len()
                );
            }
        }
        self.round += 1;
        if self.cut.is_none() && self.calls == calls && self.best.len() > LONG_LEN {
            // Stuck on a long sequence: deleting blocks at finer steps
            // than the first cut is what got arbiter's PromoteMostLagging
            // further (each deletion draws the rest of the run anew, and
            // one in a few hundred fails sooner).
            self.coarse(STUCK_PER_BLOCK);
        }
        self.cut.is_none() && self.calls < calls
    }

    fn finish(self) -> Shrunk {
        let stop = self.cut.unwrap_or(ShrinkStop::Exhausted);
        Shrunk {
            choices: self.best,
            attempts: self.limit - self.left,
            stop,
        }
    }
}

/// The passes, in the order a round runs them.
#[derive(Debug, Clone, Copy)]
enum Pass {
    ZeroKinds,
    DeleteBlocks,
    Advance,
    DeleteAdaptive,
    ZeroBlocks,
    MinimiseValues,
    LowerAndDelete,
    Redistribute,
}

const PASSES: [Pass; 7] = [
    Pass::DeleteBlocks,
    Pass::Advance,
    Pass::DeleteAdaptive,
    Pass::ZeroBlocks,
    Pass::MinimiseValues,
    Pass::LowerAndDelete,
    Pass::Redistribute,
];

/// The passes of the second start (sequences of [`ZERO_KINDS_MIN_LEN`]
/// choices or more): zero kinds first.
const PASSES_ZERO_FIRST: [Pass; 8] = [
    Pass::ZeroKinds,
    Pass::DeleteBlocks,
    Pass::Advance,
    Pass::DeleteAdaptive,
    Pass::ZeroBlocks,
    Pass::MinimiseValues,
    Pass::LowerAndDelete,
    Pass::Redistribute,
];

struct Shrinker<'a, F> {
    f: &'a F,
    seed: u64,
    faults: &'a FaultConfig,
    kind: &'a str,
    /// The simplest failing sequence seen (trailing zeros stripped).
    best: Vec<u64>,
    /// How its run read each choice.
    draws: Vec<Draw>,
    /// Its run's calls.
    calls: u64,
    /// Candidate runs left.
    left: u64,
    limit: u64,
    deadline: Instant,
    time: Duration,
    /// Set when a candidate was refused for want of attempts or time.
    cut: Option<ShrinkStop>,
    /// Hashes of the candidates run.
    tried: HashSet<u64>,
    /// Rounds of passes done.
    round: u32,
    /// The passes a round runs.
    passes: &'static [Pass],
    /// `REHEARSE_SHRINK_DEBUG` set: each pass prints what it did.
    debug: bool,
}

impl<F> Shrinker<'_, F>
where
    F: Fn(&mut Sim) -> Result<(), Failure>,
{
    fn run(&mut self, pass: Pass) {
        match pass {
            Pass::ZeroKinds => self.zero_kinds(),
            Pass::DeleteBlocks => self.delete_blocks(),
            Pass::Advance => self.advance(),
            Pass::DeleteAdaptive => self.delete_adaptive(),
            Pass::ZeroBlocks => self.zero_blocks(),
            Pass::MinimiseValues => self.minimise_values(),
            Pass::LowerAndDelete => self.lower_and_delete(),
            Pass::Redistribute => self.redistribute(),
        }
    }

    /// How the best run read choice `i` (raw past its end).
    fn draw(&self, i: usize) -> Draw {
        self.draws.get(i).copied().unwrap_or(Draw::Raw)
    }

    /// Runs `candidate` unless tried before; keeps it if it is better.
    fn consider(&mut self, candidate: Vec<u64>) -> bool {
        if self.cut.is_some() {
            return false;
        }
        let candidate = strip_trailing_zeros(candidate);
        if candidate == self.best {
            return false;
        }
        let mut h = DefaultHasher::new();
        candidate.hash(&mut h);
        if !self.tried.insert(h.finish()) {
            return false;
        }
        if self.left == 0 {
            self.cut = Some(ShrinkStop::Attempts { limit: self.limit });
            return false;
        }
        if Instant::now() >= self.deadline {
            self.cut = Some(ShrinkStop::Time {
                limit_s: self.time.as_secs_f64(),
            });
            return false;
        }
        self.left -= 1;
        let o = run_candidate(self.f, self.seed, candidate, self.faults, self.calls);
        match &o.result {
            Err(e) if e.kind() == self.kind => {
                // What the run actually consumed (trailing zeros are what an
                // exhausted sequence gives anyway).
                let consumed = strip_trailing_zeros(o.choices);
                let better = o.calls < self.calls || (o.calls == self.calls && simpler(&consumed, &self.best));
                if better {
                    self.best = consumed;
                    self.draws = o.draws;
                    self.calls = o.calls;
                }
                better
            }
            _ => false,
        }
    }

    fn with_level(&self, i: usize, level: u64) -> Vec<u64> {
        let mut c = self.best.clone();
        c[i] = self.draw(i).raw(level);
        c
    }

    fn without(&self, i: usize, k: usize) -> Vec<u64> {
        let mut c = self.best.clone();
        c.drain(i..(i + k).min(c.len()));
        c
    }

    /// Each choice at the smallest raw value that reads the same: the same
    /// run, a shortlex-smaller sequence.
    fn canonicalise(&mut self) {
        let c: Vec<u64> = (0..self.best.len())
            .map(|i| {
                let d = self.draw(i);
                d.raw(d.level(self.best[i]))
            })
            .collect();
        self.consider(c);
    }

    /// Per kind of draw (`below(4001)`, a `chance(p)`, raw...), sets every
    /// choice of that kind to 0 at once, then those of each half, quarter
    /// and eighth of the sequence: a simulated network draws a latency per
    /// message, and lowering them all together keeps the later draws
    /// aligned with what they meant, where deleting or lowering one at a
    /// time shifts every later event.
    fn zero_kinds(&mut self) {
        let mut kinds: Vec<Draw> = Vec::new();
        for d in &self.draws {
            if !kinds.contains(d) {
                kinds.push(*d);
            }
        }
        for kind in kinds {
            let mut parts = 1;
            while parts <= 8 && self.cut.is_none() {
                let len = self.best.len();
                let size = len.div_ceil(parts).max(1);
                for p in 0..parts {
                    let range = p * size..((p + 1) * size).min(len);
                    let mut c = self.best.clone();
                    let mut any = false;
                    for i in range {
                        if self.draw(i) == kind && c[i] != 0 {
                            c[i] = 0;
                            any = true;
                        }
                    }
                    if any {
                        self.consider(c);
                    }
                    if self.best.len() != len {
                        break;
                    }
                }
                parts *= 2;
            }
        }
    }

    /// Deletes blocks of a half, a quarter... down to a 64th of the
    /// sequence (at least 8 choices), at every `1 / per_block` of a block
    /// from the start, staying at a position while that keeps failing (the
    /// shrinker before issue 18 did so at every position); again while that
    /// removes calls and the sequence is longer than [`LONG_LEN`]. About
    /// `128 * per_block` runs a sweep, whatever the length.
    fn coarse(&mut self, per_block: usize) {
        loop {
            let (calls, len) = (self.calls, self.best.len());
            let mut k = len / 2;
            let smallest = (len / 64).max(8);
            while k >= smallest && self.cut.is_none() {
                let step = (k / per_block).max(1);
                let mut i = 0;
                while i + k <= self.best.len() && self.cut.is_none() {
                    if !self.consider(self.without(i, k)) {
                        i += step;
                    }
                }
                k /= 2;
            }
            if self.debug {
                eprintln!(
                    "{:>16}: {:>5} attempts left, calls {calls} -> {}, choices {len} -> {}",
                    "Coarse",
                    self.left,
                    self.calls,
                    self.best.len()
                );
            }
            if self.cut.is_some() || self.calls == calls || self.best.len() <= LONG_LEN {
                return;
            }
        }
    }

    /// Deletes blocks of halves, quarters... of the sequence, down to 4
    /// choices: aligned in the first round, then at steps of half their
    /// length.
    fn delete_blocks(&mut self) {
        let mut k = self.best.len() / 2;
        while k >= 4 && self.cut.is_none() {
            // Aligned blocks in the first round; then half-overlapping
            // ones, so that a stretch that can go but straddles two
            // aligned blocks still goes whole. (Overlapping ones from the
            // start took a few runs to a local minimum far above the
            // aligned ones' result in the benchmark: arbiter's NoDebounce.)
            let step = if self.round == 0 { k } else { (k / 2).max(1) };
            let mut i = self.best.len().saturating_sub(k);
            loop {
                if i + k <= self.best.len() {
                    self.consider(self.without(i, k));
                }
                if i < step {
                    break;
                }
                i -= step;
            }
            k /= 2;
        }
    }

    /// Per non-zero choice, from the first: delete the zeros before it (back
    /// to the previous non-zero choice) up to an earlier draw of the same
    /// kind, so that it lands there: the same fault point asked at an
    /// earlier tick, the event it decides and everything after it happen
    /// sooner. The earliest such draw first, then a binary search between
    /// it and the choice (waiting longer rarely stops a failure).
    fn advance(&mut self) {
        let mut j = 0;
        let mut prev: Option<usize> = None;
        while j < self.best.len() && self.cut.is_none() {
            if self.best[j] == 0 {
                j += 1;
                continue;
            }
            let d = self.draw(j);
            let from = prev.map_or(0, |p| p + 1);
            let same: Vec<usize> = (from..j).filter(|&i| self.draw(i) == d).collect();
            let mut landed = j;
            if let Some(&first) = same.first() {
                if self.consider(self.without(first, j - first)) {
                    landed = first;
                } else {
                    // `same[lo]` does not fail; `landed` (at first the
                    // choice itself) does: search for the earliest.
                    let (mut lo, mut hi) = (0, same.len());
                    while hi - lo > 1 && self.cut.is_none() {
                        let mid = lo + (hi - lo) / 2;
                        let i = same[mid];
                        if self.consider(self.without(i, landed - i)) {
                            landed = i;
                            hi = mid;
                        } else {
                            lo = mid;
                        }
                    }
                }
            }
            prev = Some(landed);
            j = landed + 1;
        }
    }

    /// At each position from the end: delete 1 to 3 choices, then, while
    /// that keeps failing, twice as many.
    fn delete_adaptive(&mut self) {
        let mut i = self.best.len();
        while i > 0 && self.cut.is_none() {
            i -= 1;
            while i < self.best.len() && self.delete_at(i) {}
        }
    }

    fn delete_at(&mut self, i: usize) -> bool {
        for k in 1..=3 {
            if i + k > self.best.len() {
                return false;
            }
            if self.consider(self.without(i, k)) {
                let mut k = k;
                while i + 2 * k <= self.best.len() && self.consider(self.without(i, 2 * k)) {
                    k *= 2;
                }
                return true;
            }
        }
        false
    }

    /// Zeroes aligned blocks of 16, 8, 4 and 2 choices.
    fn zero_blocks(&mut self) {
        for k in [16usize, 8, 4, 2] {
            let mut i = 0;
            while i + k <= self.best.len() && self.cut.is_none() {
                if self.best[i..i + k].iter().any(|v| *v != 0) {
                    let mut c = self.best.clone();
                    c[i..i + k].iter_mut().for_each(|v| *v = 0);
                    self.consider(c);
                }
                i += k;
            }
        }
    }

    /// Per choice, the smallest value of its draw that still fails.
    fn minimise_values(&mut self) {
        let mut i = 0;
        while i < self.best.len() && self.cut.is_none() {
            self.minimise_at(i);
            i += 1;
        }
    }

    fn minimise_at(&mut self, i: usize) {
        let d = self.draw(i);
        let level = d.level(self.best[i]);
        if d == Draw::Raw && self.best[i] != u64::MAX {
            // `random_bool(p)` is false for large values: the top one may
            // remove an event, kept only if it removes calls.
            let mut c = self.best.clone();
            c[i] = u64::MAX;
            if self.consider(c) {
                return;
            }
        }
        if level == 0 {
            if self.best[i] != 0 {
                self.consider(self.with_level(i, 0));
            }
            return;
        }
        // 0 and the small values first, then binary search between the
        // last that did not fail (`lo`) and one that does (`hi`).
        let mut lo = 0;
        for small in 0..level.min(4) {
            if self.consider(self.with_level(i, small)) {
                return;
            }
            lo = small;
        }
        let mut hi = level;
        while hi - lo > 1 && self.cut.is_none() && i < self.best.len() {
            let mid = lo + (hi - lo) / 2;
            if self.draw(i) != d {
                return;
            }
            if self.consider(self.with_level(i, mid)) {
                hi = d.level(self.best[i]).min(mid);
            } else {
                lo = mid;
            }
        }
    }

    /// Lowers a value by one while deleting a following span: the body of
    /// the loop it counted, found as the block of draws that repeats right
    /// after it, or 1 to 4 choices after it.
    fn lower_and_delete(&mut self) {
        let mut i = 0;
        while i < self.best.len() && self.cut.is_none() {
            let level = self.draw(i).level(self.best[i]);
            if level > 0 && self.lower_and_delete_at(i, level) {
                continue;
            }
            i += 1;
        }
    }

    fn lower_and_delete_at(&mut self, i: usize, level: u64) -> bool {
        let lowered = self.with_level(i, level - 1);
        let len = self.best.len();
        let mut spans: Vec<(usize, usize)> = (1..=4).map(|k| (i + 1, k)).collect();
        // Repeated blocks of draws after `i`: each occurrence is a span.
        for p in 1..=MAX_PERIOD {
            let a = i + 1;
            if a + 2 * p > len {
                break;
            }
            if self
                .draws
                .get(a..a + p)
                .is_some_and(|x| Some(x) == self.draws.get(a + p..a + 2 * p))
            {
                let mut j = a;
                while j + p <= len && self.draws.get(j..j + p) == self.draws.get(a..a + p) {
                    spans.push((j, p));
                    j += p;
                }
                break;
            }
        }
        for (j, k) in spans {
            if j + k > len {
                continue;
            }
            let mut c = lowered.clone();
            c.drain(j..j + k);
            if self.consider(c) {
                return true;
            }
        }
        false
    }

    /// For nearby pairs read the same way: move the first's value onto the
    /// second, or swap them when the second is smaller.
    fn redistribute(&mut self) {
        let mut i = 0;
        while i < self.best.len() && self.cut.is_none() {
            let d = self.draw(i);
            let a = d.level(self.best[i]);
            if a > 0 {
                let end = (i + 1 + PAIR_WINDOW).min(self.best.len());
                for j in i + 1..end {
                    if self.draw(j) != d || j >= self.best.len() {
                        continue;
                    }
                    let b = d.level(self.best[j]);
                    let mut c = self.best.clone();
                    c[i] = d.raw(0);
                    c[j] = d.raw(a.saturating_add(b));
                    if self.consider(c) {
                        break;
                    }
                    if b < a {
                        let mut c = self.best.clone();
                        c.swap(i, j);
                        if self.consider(c) {
                            break;
                        }
                    }
                }
            }
            i += 1;
        }
    }
}
