//! [`Sim`]: the context of one simulated run. Every random decision is a
//! draw from a recorded **choice sequence**, time is virtual, and faults
//! are named points that each seed enables at random (swarm testing).
//!
//! Because a run is a pure function of its choice sequence, a failing run
//! can be re-run exactly, and *shrunk*: the sweep edits the sequence
//! (deletes spans, minimises values, moves value between them) and keeps
//! every edit that still fails the same way, as Hypothesis does. Draw
//! helpers map the value 0 to "nothing happens" ([`Sim::chance`] and
//! [`Sim::maybe`] never fire on 0, [`Sim::below`], [`Sim::weighted`] and
//! [`Sim::pick`] give the first option), so smaller sequences mean simpler
//! runs, and they tell the shrinker what each choice means, so that it
//! tries the values a draw can actually give.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use crate::Tape;
use crate::assertions::{AssertionKind, AssertionSite};

mod choices;
mod events;
mod failure;
mod fault;
mod params;
#[cfg(test)]
mod tests;

pub(crate) use choices::Draw;
pub use choices::SimRng;
pub(crate) use choices::SplitMix64;
pub use choices::decode_choices;
use choices::encode_choices;
pub use events::EventQueue;
pub(crate) use events::Timed;
pub use failure::Failure;
use fault::FaultPoint;
pub(crate) use fault::{FaultCache, FaultConfig, same_name};
pub use fault::{Faulty, InjectFault};

/// Why a run is happening: sweeps also re-run seeds (determinism check)
/// and run edited choice sequences (shrinking); statistics should count
/// only the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    /// A seed explored for the first time.
    #[default]
    Explore,
    /// A failing seed run again to check it is deterministic.
    Recheck,
    /// A candidate while shrinking, or a saved sequence re-run.
    Shrink,
}

struct State {
    seed: u64,
    prng: SplitMix64,
    /// Choices to replay instead of drawing (shrinking, reproduction).
    given: Option<Vec<u64>>,
    /// Every choice this run consumed, in order.
    choices: Vec<u64>,
    /// How each choice was read ([`Draw`]), kept only when replaying
    /// given choices (shrinking): what the shrinker edits values by.
    draws: Vec<Draw>,
    now: Duration,
    /// The fault points met so far, in the order met: a run meets a few,
    /// and a scan (lengths first) finds one faster than a map's string
    /// comparisons, which were a quarter of a network simulation's time.
    faults: Vec<(Box<str>, FaultPoint)>,
    fault_config: FaultConfig,
    tape: Tape,
    named_tapes: Vec<(String, Tape)>,
    /// The node names met by [`Sim::set_node`], so that setting a lane
    /// again copies nothing, each with its key ([`name_key`]).
    nodes: Vec<(u64, Rc<str>)>,
    /// The lane set on every tape of the run: its position in `nodes`
    /// (`usize::MAX`: none).
    node_hint: usize,
    /// Per tape (the main one, then the named ones in order), the tape's
    /// lane number of each position in `nodes` (`u32::MAX`: not set on
    /// that tape yet), so that switching to a lane met before is an
    /// atomic store per tape ([`Tape::set_lane`]): a tape's lanes only
    /// grow, so the numbers stay true.
    tape_lanes: Vec<Vec<u32>>,
    faults_off: bool,
    phase: Phase,
    /// The run's parameters (`Sim::set_param`), in every tape's header.
    params: BTreeMap<String, String>,
    /// The run's counters ([`Sim::count`]), in the order first counted.
    counters: Vec<(Box<str>, u64)>,
    /// Per counter, the choice position at which its count last entered
    /// a new order of magnitude ([`hit_bucket`]): where steering forks.
    counter_at: Vec<usize>,
    /// The assertion sites the run evaluated, in the order first met:
    /// evaluations, then times true (a scan by address: a run meets a few).
    assertions: Vec<(&'static AssertionSite, u64, u64)>,
    /// Per assertion site, the choice position at which it first held
    /// (`usize::MAX`: not yet).
    assertion_at: Vec<usize>,
    /// The first `always!` found false or `unreachable!` reached: the
    /// run's failure, whatever the run returns after it.
    assertion_failure: Option<Failure>,
    /// A shrinking candidate stops once its tapes hold more calls than
    /// this ([`Sim::set_call_limit`]).
    call_limit: Option<u64>,
    /// Set when the run was stopped at `call_limit`.
    cut_short: bool,
}

thread_local! {
    /// The run the assertions of this thread record into ([`Sim::enter`]).
    static CURRENT: RefCell<Option<Sim>> = const { RefCell::new(None) };
    /// Whether `CURRENT` holds a run: the one thing an assertion reads
    /// outside simulations.
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
}

/// True while a run is current on this thread ([`Sim::enter`]).
#[inline(always)]
pub(crate) fn in_run() -> bool {
    ACTIVE.try_with(Cell::get).unwrap_or(false)
}

/// Counts one evaluation of `site` in the current run; true when it
/// breaks the assertion (a false `always!`, a reached `unreachable!`).
/// Never panics: with no current run (or one busy) it records nothing.
pub(crate) fn record_assertion(site: &'static AssertionSite, holds: bool) -> bool {
    let holds = match site.kind {
        AssertionKind::Sometimes | AssertionKind::Always => holds,
        AssertionKind::Reachable | AssertionKind::Unreachable => true,
    };
    let recorded = CURRENT.try_with(|current| {
        let Ok(current) = current.try_borrow() else {
            return false;
        };
        let Some(sim) = current.as_ref() else { return false };
        let Ok(mut s) = sim.state.try_borrow_mut() else {
            return false;
        };
        let position = s.choices.len();
        match s.assertions.iter().position(|(at, _, _)| std::ptr::eq(*at, site)) {
            Some(i) => {
                let (_, evaluated, true_count) = &mut s.assertions[i];
                *evaluated += 1;
                if holds && *true_count == 0 {
                    s.assertion_at[i] = position;
                }
                s.assertions[i].2 += u64::from(holds);
            }
            None => {
                s.assertions.push((site, 1, u64::from(holds)));
                s.assertion_at.push(if holds { position } else { usize::MAX });
            }
        }
        true
    });
    let broken = match site.kind {
        AssertionKind::Always => !holds,
        AssertionKind::Unreachable => true,
        AssertionKind::Sometimes | AssertionKind::Reachable => false,
    };
    recorded.unwrap_or(false) && broken
}

/// Fails the current run with `failure` (the first one stays).
pub(crate) fn fail_run(failure: Failure) {
    let _ = CURRENT.try_with(|current| {
        if let Ok(current) = current.try_borrow() {
            if let Some(Ok(mut s)) = current.as_ref().map(|sim| sim.state.try_borrow_mut()) {
                s.assertion_failure.get_or_insert(failure);
            }
        }
    });
}

/// The run current on this thread until dropped ([`Sim::enter`]); the
/// previous one, if any, is current again after.
#[must_use = "the run is current only while the guard lives"]
#[derive(Debug)]
pub struct Entered {
    previous: Option<Sim>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        let previous = self.previous.take();
        let active = previous.is_some();
        let _ = CURRENT.try_with(|c| {
            if let Ok(mut c) = c.try_borrow_mut() {
                *c = previous;
            }
        });
        let _ = ACTIVE.try_with(|a| a.set(active));
    }
}

/// The context of one simulated run: seed, choice sequence, virtual time,
/// fault points and tapes.
///
/// A `Sim` is a cheap handle: clones share the run, so the simulated world,
/// a [`Faulty`] wrapper and the driver can all hold one. It
/// is single-threaded (`!Send`): a run happens on one thread, and the
/// [`Sweep`](crate::Sweep) gives every worker its own runs.
#[derive(Clone)]
pub struct Sim {
    state: Rc<RefCell<State>>,
    /// Bumped whenever a cached fault decision may no longer hold
    /// ([`fault::FaultCache`]): a rate set, faults switched off or on.
    /// Outside the `RefCell`, so that asking a point the cache says is off
    /// (the network asks two per datagram) borrows nothing.
    fault_epoch: Rc<Cell<u64>>,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.state.borrow();
        f.debug_struct("Sim")
            .field("seed", &s.seed)
            .field("now", &s.now)
            .field("choices", &s.choices.len())
            .finish()
    }
}

impl Sim {
    /// A fresh run of `seed`: choices are drawn from the seed's generator.
    pub fn new(seed: u64) -> Self {
        Self::build(seed, None, FaultConfig::default())
    }

    /// A run that replays `choices` (then draws 0 once they run out), for
    /// shrinking and for reproducing a shrunk failure.
    pub fn from_choices(seed: u64, choices: Vec<u64>) -> Self {
        Self::build(seed, Some(choices), FaultConfig::default())
    }

    pub(crate) fn build(seed: u64, given: Option<Vec<u64>>, fault_config: FaultConfig) -> Self {
        let tape = run_tape(
            seed,
            given.as_deref(),
            None,
            Duration::ZERO,
            None,
            fault_config.tape_limit_bytes,
        );
        Self {
            state: Rc::new(RefCell::new(State {
                seed,
                prng: SplitMix64(seed),
                given,
                choices: Vec::new(),
                draws: Vec::new(),
                now: Duration::ZERO,
                faults: Vec::new(),
                fault_config,
                tape,
                named_tapes: Vec::new(),
                nodes: Vec::new(),
                node_hint: usize::MAX,
                tape_lanes: vec![Vec::new()],
                faults_off: false,
                phase: Phase::Explore,
                params: BTreeMap::new(),
                counters: Vec::new(),
                counter_at: Vec::new(),
                assertions: Vec::new(),
                assertion_at: Vec::new(),
                assertion_failure: None,
                call_limit: None,
                cut_short: false,
            })),
            fault_epoch: Rc::new(Cell::new(0)),
        }
    }

    /// Why this run happens (see [`Phase`]).
    pub fn phase(&self) -> Phase {
        self.state.borrow().phase
    }

    pub(crate) fn set_phase(&self, phase: Phase) {
        self.state.borrow_mut().phase = phase;
    }

    /// Stops the run (unwinding with [`CallLimitReached`], at its next
    /// draw) once its tapes hold more than `limit` calls: a shrinking
    /// candidate with more calls than the best run can never be kept, and
    /// a candidate that does not fail would otherwise run its full length.
    pub(crate) fn set_call_limit(&self, limit: u64) {
        self.state.borrow_mut().call_limit = Some(limit);
    }

    /// True when the run was stopped by [`Sim::set_call_limit`].
    pub(crate) fn cut_short(&self) -> bool {
        self.state.borrow().cut_short
    }

    /// The run's seed.
    pub fn seed(&self) -> u64 {
        self.state.borrow().seed
    }

    /// One raw choice: any `u64`. Every other draw is built on this.
    #[inline]
    pub fn choice(&self) -> u64 {
        self.state.borrow_mut().draw(Draw::Raw)
    }

    /// A value in `0..n` (0 when `n` is 0); a zero choice gives 0.
    ///
    /// Shrinking lowers choices toward 0, so draw with 0 meaning the
    /// simplest outcome: the shortest delay, the smallest batch, the first
    /// option.
    ///
    /// ```
    /// let sim = rehearse::Sim::new(7);
    /// let batch = 1 + sim.below(30); // 1..=30 messages, 1 when shrunk
    /// assert!((1..=30).contains(&batch));
    /// assert_eq!(rehearse::Sim::from_choices(7, vec![0]).below(30), 0);
    /// ```
    #[inline(always)]
    pub fn below(&self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Multiply-shift maps choices monotonically: smaller choices give
        // smaller values, which is what makes lowering a choice simplify.
        let c = self.state.borrow_mut().draw(Draw::Below(n));
        ((u128::from(c) * u128::from(n)) >> 64) as u64
    }

    /// A value in `range` (its start when the range is empty).
    #[inline]
    pub fn range(&self, range: std::ops::Range<u64>) -> u64 {
        range.start + self.below(range.end.saturating_sub(range.start))
    }

    /// True with probability `p`; a zero choice never fires, so shrinking
    /// toward zero removes events.
    #[inline]
    pub fn chance(&self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        let t = threshold(p);
        self.state.borrow_mut().draw(Draw::Above(t)) > t
    }

    /// A fair coin: true half the time, false when shrunk.
    ///
    /// ```
    /// assert!(!rehearse::Sim::from_choices(1, vec![]).coin());
    /// ```
    pub fn coin(&self) -> bool {
        self.chance(0.5)
    }

    /// `Some(make())` with probability `p`, `None` when shrunk: an
    /// optional event (a restart, a duplicate, a slow reply).
    ///
    /// ```
    /// let sim = rehearse::Sim::from_choices(1, vec![]);
    /// assert_eq!(sim.maybe(0.3, || sim.below(5)), None);
    /// ```
    pub fn maybe<T>(&self, p: f64, make: impl FnOnce() -> T) -> Option<T> {
        self.chance(p).then(make)
    }

    /// An index into `weights`, drawn in proportion to them (an index of
    /// weight 0 is never drawn); 0 when shrunk, so list the simplest
    /// option first. 0 too when every weight is 0.
    ///
    /// ```
    /// let sim = rehearse::Sim::new(3);
    /// // 80% deliver, 15% drop, 5% duplicate; "deliver" when shrunk.
    /// let what = sim.weighted(&[80, 15, 5]);
    /// assert!(what < 3);
    /// assert_eq!(rehearse::Sim::from_choices(3, vec![]).weighted(&[80, 15, 5]), 0);
    /// ```
    pub fn weighted(&self, weights: &[u64]) -> usize {
        let total = weights.iter().fold(0u64, |t, w| t.saturating_add(*w));
        let mut x = self.below(total);
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        0
    }

    /// One of `items` (`None` when empty); the first when shrunk.
    ///
    /// ```
    /// let sim = rehearse::Sim::from_choices(1, vec![]);
    /// assert_eq!(sim.pick(&["n1", "n2", "n3"]), Some(&"n1"));
    /// ```
    pub fn pick<'a, T>(&self, items: &'a [T]) -> Option<&'a T> {
        items.get(self.below(items.len() as u64) as usize)
    }

    /// A random generator (`rand::RngCore`) whose every draw is a choice,
    /// for code that takes a generator. Prefer the `Sim` helpers
    /// ([`Sim::below`], [`Sim::range`], [`Sim::chance`], [`Sim::coin`],
    /// [`Sim::maybe`], [`Sim::weighted`], [`Sim::pick`]) where you draw
    /// yourself: they tell the shrinker what a choice means. Through this
    /// generator, smaller choices still give smaller results
    /// (`next_u32() % n` and `random_range` shrink toward the low end), but
    /// `random_bool(p)` is true for small ones: the shrinker only keeps
    /// what removes calls, so it can flip those too, at a cost in attempts.
    pub fn rng(&self) -> SimRng {
        SimRng { sim: self.clone() }
    }

    /// Virtual time since the start of the run.
    pub fn now(&self) -> Duration {
        self.state.borrow().now
    }

    /// Moves virtual time forward by `d`.
    pub fn advance(&self, d: Duration) {
        let t = self.now() + d;
        self.advance_to(t);
    }

    /// Moves virtual time to `t`; earlier times leave it unchanged (time
    /// never goes backwards).
    pub fn advance_to(&self, t: Duration) {
        let s = &mut *self.state.borrow_mut();
        if t > s.now {
            s.now = t;
            s.tape.set_virtual_time(Some(t));
            for (_, tape) in &s.named_tapes {
                tape.set_virtual_time(Some(t));
            }
        }
    }

    /// [`Sim::advance_to`] a time in microseconds (a simulated network's
    /// clock), with no conversion back for the tapes.
    #[inline]
    pub(crate) fn advance_to_us(&self, us: u64) {
        let t = Duration::from_micros(us);
        let s = &mut *self.state.borrow_mut();
        if t > s.now {
            s.now = t;
            s.tape.set_virtual_time_us(us);
            for (_, tape) in &s.named_tapes {
                tape.set_virtual_time_us(us);
            }
        }
    }

    /// Sets the node (lane) of what every tape of the run records next
    /// (the main one and the named ones, as [`Sim::advance_to`] sets their
    /// time): calls and marks carry it as their `node` field, and the
    /// tools show one lane per node. `None` for records of no node. Cheap
    /// enough to call before every event.
    ///
    /// ```
    /// let sim = rehearse::Sim::new(1);
    /// sim.set_node(Some("n2"));
    /// sim.note("n2 restarts with what it synced");
    /// let trace = sim.tape().to_trace().unwrap();
    /// assert_eq!(trace.marks()[0].node.as_deref(), Some("n2"));
    /// ```
    pub fn set_node(&self, node: Option<&str>) {
        let s = &mut *self.state.borrow_mut();
        // A network simulation switches lanes at nearly every event: names
        // are compared by key, and by text only when the key is a hash.
        let key = node.map(name_key);
        let is = |(k, n): &(u64, Rc<str>), name: &str| Some(*k) == key && (*k >> 63 == 0 || **n == *name);
        let same = match (s.nodes.get(s.node_hint), node) {
            (Some(current), Some(name)) => is(current, name),
            (current, name) => current.is_none() && name.is_none(),
        };
        if same {
            return;
        }
        let hint = match (node, key) {
            (Some(name), Some(key)) => match s.nodes.iter().position(|n| is(n, name)) {
                Some(k) => k,
                None => {
                    s.nodes.push((key, Rc::from(name)));
                    s.nodes.len() - 1
                }
            },
            _ => usize::MAX,
        };
        s.set_lane(hint);
    }

    /// The lane set now, as a position in the run's list of lanes
    /// (`usize::MAX`: none), for [`Sim::set_node_at`].
    #[inline]
    pub(crate) fn node_hint(&self) -> usize {
        self.state.borrow().node_hint
    }

    /// [`Sim::set_node`] for a lane already set once, by the position
    /// [`Sim::node_hint`] gave then (the run's list of lanes only grows;
    /// `usize::MAX` sets none):
    /// no name to hash or compare, and nothing to do when the lane is set
    /// already. A simulated network switches lanes at nearly every event.
    #[inline]
    pub(crate) fn set_node_at(&self, hint: usize) {
        let s = &mut *self.state.borrow_mut();
        if s.node_hint == hint {
            return;
        }
        // The common case inlined: one tape, a lane it numbered before.
        if s.named_tapes.is_empty() {
            let lane = match s.tape_lanes[0].get(hint) {
                Some(&lane) if lane != u32::MAX => Some(lane),
                None if hint == usize::MAX => Some(0),
                _ => None,
            };
            if let Some(lane) = lane {
                s.node_hint = hint;
                s.tape.set_lane(lane);
                return;
            }
        }
        if hint < s.nodes.len() || hint == usize::MAX {
            s.set_lane(hint);
        }
    }

    /// The node set by [`Sim::set_node`], if any.
    pub fn node(&self) -> Option<Rc<str>> {
        let s = self.state.borrow();
        s.nodes.get(s.node_hint).map(|(_, n)| Rc::clone(n))
    }

    /// Writes a note on the run's main tape, at the current virtual time
    /// and node: something a reader of the scenario should see between
    /// the calls (`"n1 became leader in term 3"`). Replays skip it.
    pub fn note(&self, text: &str) {
        self.state.borrow().tape.note(text);
    }

    /// Adds `n` to the counter `name` of this run. A [`Sweep`](crate::Sweep)
    /// sums each counter over the seeds it explores (not over the re-runs
    /// and shrinking candidates) into [`Report::counters`](crate::Report::counters),
    /// and its JSON report (`REHEARSE_REPORT`) carries them, so that shards
    /// of a sweep run on several machines add up to the whole
    /// (`rehearse merge`): count what the run did (failovers, messages,
    /// elections), whatever the sweep should total.
    ///
    /// ```
    /// let report = rehearse::Sweep::new("doc-count").seeds(0..10).quiet().run(|sim| {
    ///     sim.count("elections", 1 + sim.below(3));
    ///     Ok(())
    /// });
    /// assert!((10..=30).contains(&report.counters["elections"]));
    /// ```
    pub fn count(&self, name: &str, n: u64) {
        let s = &mut *self.state.borrow_mut();
        let position = s.choices.len();
        match s.counters.iter().position(|(k, _)| same_name(k, name)) {
            Some(i) => {
                let before = s.counters[i].1;
                let after = before.saturating_add(n);
                s.counters[i].1 = after;
                if hit_bucket(after) != hit_bucket(before) {
                    s.counter_at[i] = position;
                }
            }
            None => {
                s.counters.push((name.into(), n));
                s.counter_at.push(position);
            }
        }
    }

    /// Makes this run the thread's current one until the returned guard
    /// drops: the assertions ([`sometimes!`](crate::sometimes),
    /// [`always!`](crate::always), [`reachable!`](crate::reachable),
    /// [`unreachable!`](crate::unreachable)) of code running on this
    /// thread then record into it. A [`Sweep`](crate::Sweep) enters each
    /// of its runs; call it for a run you drive by hand (a timeline of one
    /// seed). A broken `always!` or a reached `unreachable!` then unwinds
    /// out of the assertion (catch it, or let the test fail), and
    /// [`Sim::assertion_failure`] says why.
    ///
    /// ```
    /// let sim = rehearse::Sim::new(3);
    /// {
    ///     let _entered = sim.enter();
    ///     rehearse::sometimes!("doc-enter: a small draw", sim.below(10) < 5);
    /// }
    /// rehearse::sometimes!("doc-enter: a small draw", true); // no run: nothing recorded
    /// assert_eq!(sim.assertion_counts()["doc-enter: a small draw"].0, 1);
    /// ```
    pub fn enter(&self) -> Entered {
        let previous = CURRENT.with(|c| c.borrow_mut().replace(self.clone()));
        ACTIVE.with(|a| a.set(true));
        Entered { previous }
    }

    /// The assertions this run evaluated so far, by name: (evaluations,
    /// times true).
    pub fn assertion_counts(&self) -> BTreeMap<&'static str, (u64, u64)> {
        let mut counts: BTreeMap<&'static str, (u64, u64)> = BTreeMap::new();
        for (site, evaluated, true_count) in &self.state.borrow().assertions {
            let c = counts.entry(site.name).or_default();
            c.0 += evaluated;
            c.1 += true_count;
        }
        counts
    }

    /// The failure of a broken `always!` or a reached `unreachable!` in
    /// this run, if any (the first one).
    pub fn assertion_failure(&self) -> Option<Failure> {
        self.state.borrow().assertion_failure.clone()
    }

    /// The counters and fault points of the run so far, taken out of it
    /// (for the sweep's totals, once the run has ended).
    pub(crate) fn take_stats(&self) -> RunStats {
        let s = &mut *self.state.borrow_mut();
        RunStats {
            assertions: std::mem::take(&mut s.assertions),
            assertion_at: std::mem::take(&mut s.assertion_at),
            counters: std::mem::take(&mut s.counters),
            counter_at: std::mem::take(&mut s.counter_at),
            faults: s
                .faults
                .iter()
                .map(|(k, p)| (k.clone(), p.enabled, p.fired()))
                .collect(),
            fault_at: s.faults.iter().map(|(_, p)| p.fired_at()).collect(),
        }
    }

    /// The in-memory tape of this run (the header carries the seed).
    pub fn tape(&self) -> Tape {
        self.state.borrow().tape.clone()
    }

    /// Another in-memory tape of this run, e.g. one per simulated process,
    /// saved beside the main one as `seed-N.NAME.ron`. Asking twice for a
    /// name returns the same tape.
    pub fn tape_named(&self, name: &str) -> Tape {
        let mut s = self.state.borrow_mut();
        if let Some((_, t)) = s.named_tapes.iter().find(|(n, _)| n == name) {
            return t.clone();
        }
        let tape = run_tape(
            s.seed,
            s.given.as_deref(),
            Some(name),
            s.now,
            s.nodes.get(s.node_hint).map(|(_, n)| &**n),
            s.fault_config.tape_limit_bytes,
        );
        params::write_params(&tape, &s.params);
        s.named_tapes.push((name.to_string(), tape.clone()));
        tape
    }

    /// The choices consumed so far.
    pub fn choices(&self) -> Vec<u64> {
        self.state.borrow().choices.clone()
    }

    /// How each choice consumed so far was read (empty unless the run
    /// replays given choices).
    pub(crate) fn draws(&self) -> Vec<Draw> {
        self.state.borrow().draws.clone()
    }

    /// Number of choices consumed so far.
    pub fn choice_count(&self) -> usize {
        self.state.borrow().choices.len()
    }

    pub(crate) fn tapes(&self) -> (Tape, Vec<(String, Tape)>) {
        let s = self.state.borrow();
        (s.tape.clone(), s.named_tapes.clone())
    }
}

/// What one run counted, for a sweep's totals.
#[derive(Debug, Default)]
pub(crate) struct RunStats {
    /// [`Sim::count`]'s counters.
    pub(crate) counters: Vec<(Box<str>, u64)>,
    /// Each assertion site evaluated: evaluations, times true.
    pub(crate) assertions: Vec<(&'static AssertionSite, u64, u64)>,
    /// Each fault point met: whether the run enabled it, how often it fired.
    pub(crate) faults: Vec<(Box<str>, bool, u64)>,
    /// Per counter, the choice position at which it entered its last
    /// order of magnitude.
    pub(crate) counter_at: Vec<usize>,
    /// Per assertion site, the choice position at which it first held
    /// (`usize::MAX`: never).
    pub(crate) assertion_at: Vec<usize>,
    /// Per fault point, the choice positions at which it first fired, at
    /// which its firings entered their last order of magnitude, at which
    /// the run met it, and right after the choices that decided it.
    pub(crate) fault_at: Vec<[usize; 4]>,
}

/// AFL's hit-count buckets: 1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128 and
/// more (as 1 to 8); 0 for none.
pub(crate) fn hit_bucket(n: u64) -> u8 {
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

impl State {
    /// Sets the lane of every tape of the run to the node at position
    /// `hint` of `nodes` (`usize::MAX`: no lane): by the lane number each
    /// tape gave it before, else by name.
    #[inline(never)]
    fn set_lane(&mut self, hint: usize) {
        self.node_hint = hint;
        if self.tape_lanes.len() <= self.named_tapes.len() {
            self.tape_lanes.resize_with(self.named_tapes.len() + 1, Vec::new);
        }
        let Self {
            tape,
            named_tapes,
            tape_lanes,
            nodes,
            ..
        } = self;
        let node = nodes.get(hint).map(|(_, name)| &**name);
        set_tape_lane(tape, &mut tape_lanes[0], hint, node);
        for ((_, tape), lanes) in named_tapes.iter().zip(&mut tape_lanes[1..]) {
            set_tape_lane(tape, lanes, hint, node);
        }
    }

    /// One raw choice, read as `how` ([`Sim::choice`]).
    #[inline(always)]
    fn draw(&mut self, how: Draw) -> u64 {
        if self.call_limit.is_some() {
            self.check_call_limit();
        }
        let value = match self.given {
            Some(_) => self.draw_given(how),
            None => self.prng.next(),
        };
        self.choices.push(value);
        value
    }

    /// The next given choice (a replayed or shrunk run), read as `how`.
    #[cold]
    #[inline(never)]
    fn draw_given(&mut self, how: Draw) -> u64 {
        let position = self.choices.len();
        self.draws.push(how);
        self.given
            .as_ref()
            .and_then(|given| given.get(position).copied())
            .unwrap_or(0)
    }
}

impl State {
    /// Unwinds (once) with [`CallLimitReached`] when the run's tapes hold
    /// more calls than its limit. Only a shrinking candidate has a limit;
    /// `resume_unwind` does not call the panic hook, so nothing is printed.
    #[inline(never)]
    fn check_call_limit(&mut self) {
        let Some(limit) = self.call_limit else { return };
        if self.cut_short {
            return;
        }
        let calls = self.tape.len() + self.named_tapes.iter().map(|(_, t)| t.len()).sum::<usize>();
        if calls as u64 > limit {
            self.cut_short = true;
            std::panic::resume_unwind(Box::new(CallLimitReached));
        }
    }
}

/// The payload a run unwinds with when it passes its call limit
/// ([`Sim::set_call_limit`]).
pub(crate) struct CallLimitReached;

/// Sets `tape`'s lane to `node` (at position `hint` of the run's lanes;
/// `None`: no lane), by the number `lanes` kept for it, else by name.
#[inline]
fn set_tape_lane(tape: &Tape, lanes: &mut Vec<u32>, hint: usize, node: Option<&str>) {
    match lanes.get(hint) {
        Some(&lane) if lane != u32::MAX => tape.set_lane(lane),
        _ if node.is_none() => tape.set_lane(0),
        _ => {
            let lane = tape.set_node_hinted(node, hint);
            if lanes.len() <= hint {
                lanes.resize(hint + 1, u32::MAX);
            }
            lanes[hint] = lane;
        }
    }
}

/// The choice above which [`Sim::chance`] of `p > 0` fires.
#[inline]
fn threshold(p: f64) -> u64 {
    ((1.0 - p.min(1.0)) * u64::MAX as f64) as u64
}

/// A memory tape of a run: the seed in its header, the given choices (so a
/// saved scenario re-runs them), the tape's name for all but the main one,
/// the run's current virtual time and node, and the sweep's size limit.
fn run_tape(
    seed: u64,
    given: Option<&[u64]>,
    name: Option<&str>,
    now: Duration,
    node: Option<&str>,
    limit_bytes: Option<u64>,
) -> Tape {
    let mut options = Tape::options().seed(seed);
    if let Some(limit) = limit_bytes {
        options = options.limit_bytes(limit);
    }
    if let Some(name) = name {
        options = options.meta("tape", name);
    }
    if let Some(given) = given {
        options = options.meta("choices", encode_choices(given));
    }
    let tape = options.memory();
    tape.set_virtual_time(Some(now));
    tape.set_node(node);
    tape
}

/// A node name's key: its bytes and length when shorter than 8 bytes (equal
/// keys are then equal names), else a hash with the top bit set.
#[inline]
fn name_key(name: &str) -> u64 {
    let b = name.as_bytes();
    if b.len() < 8 {
        b.iter().fold(b.len() as u64, |k, &x| (k << 8) | u64::from(x))
    } else {
        b.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &x| {
            (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3)
        }) | (1 << 63)
    }
}
