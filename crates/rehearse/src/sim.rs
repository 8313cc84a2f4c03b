//! [`Sim`]: the context of one simulated run. Every random decision is a
//! draw from a recorded **choice sequence**, time is virtual, and faults
//! are named points that each seed enables at random (swarm testing).
//!
//! Because a run is a pure function of its choice sequence, a failing run
//! can be re-run exactly, and *shrunk*: the sweep edits the sequence
//! (deletes spans, zeroes and halves values) and keeps every edit that still
//! fails the same way, as Hypothesis does. Draw helpers map the value 0 to
//! "nothing happens" ([`Sim::chance`] never fires on 0, [`Sim::below`]
//! gives 0), so smaller sequences mean simpler runs.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use crate::Tape;

/// Probabilities an enabled fault point may fire with; each seed picks one
/// per point. The first is the one a zeroed choice picks.
const FAULT_PROBABILITIES: [f64; 5] = [0.005, 0.02, 0.05, 0.15, 0.4];

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

/// How a run's faults are chosen.
#[derive(Debug, Clone, Default)]
pub struct FaultConfig {
    /// Only these points may fire (all when `None`).
    pub only: Option<BTreeSet<String>>,
    /// When false, every point met is enabled (no swarm selection).
    pub no_swarm: bool,
}

#[derive(Debug, Clone, Copy)]
struct FaultPoint {
    enabled: bool,
    probability: f64,
    fired: u64,
}

/// SplitMix64: tiny, fast, and the generator every seed's fresh choices
/// come from. Its sequence for a seed never changes across versions.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    #[inline]
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

struct State {
    seed: u64,
    prng: SplitMix64,
    /// Choices to replay instead of drawing (shrinking, reproduction).
    given: Option<Vec<u64>>,
    /// Every choice this run consumed, in order.
    choices: Vec<u64>,
    now: Duration,
    faults: BTreeMap<String, FaultPoint>,
    fault_config: FaultConfig,
    tape: Tape,
    named_tapes: Vec<(String, Tape)>,
    faults_off: bool,
    phase: Phase,
}

/// The context of one simulated run: seed, choice sequence, virtual time,
/// fault points and tapes.
///
/// A `Sim` is a cheap handle: clones share the run, so the simulated world,
/// a [`Faulty`](crate::Faulty) wrapper and the driver can all hold one. It
/// is single-threaded (`!Send`): a run happens on one thread, and the
/// [`Sweep`](crate::Sweep) gives every worker its own runs.
#[derive(Clone)]
pub struct Sim {
    state: Rc<RefCell<State>>,
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
        let mut options = Tape::options().seed(seed);
        if let Some(given) = &given {
            options = options.meta("choices", encode_choices(given));
        }
        let tape = options.memory();
        tape.set_virtual_time(Some(Duration::ZERO));
        Self {
            state: Rc::new(RefCell::new(State {
                seed,
                prng: SplitMix64(seed),
                given,
                choices: Vec::new(),
                now: Duration::ZERO,
                faults: BTreeMap::new(),
                fault_config,
                tape,
                named_tapes: Vec::new(),
                faults_off: false,
                phase: Phase::Explore,
            })),
        }
    }

    /// Why this run happens (see [`Phase`]).
    pub fn phase(&self) -> Phase {
        self.state.borrow().phase
    }

    pub(crate) fn set_phase(&self, phase: Phase) {
        self.state.borrow_mut().phase = phase;
    }

    /// The run's seed.
    pub fn seed(&self) -> u64 {
        self.state.borrow().seed
    }

    /// One raw choice: any `u64`. Every other draw is built on this.
    #[inline]
    pub fn choice(&self) -> u64 {
        let mut s = self.state.borrow_mut();
        let position = s.choices.len();
        let value = match &s.given {
            Some(given) => given.get(position).copied().unwrap_or(0),
            None => s.prng.next(),
        };
        s.choices.push(value);
        value
    }

    /// A value in `0..n` (0 when `n` is 0); a zero choice gives 0.
    #[inline]
    pub fn below(&self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        // Multiply-shift maps choices monotonically: smaller choices give
        // smaller values, which is what makes halving a choice simplify.
        ((u128::from(self.choice()) * u128::from(n)) >> 64) as u64
    }

    /// A value in `range` (its start when the range is empty).
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
        let threshold = ((1.0 - p.min(1.0)) * u64::MAX as f64) as u64;
        self.choice() > threshold
    }

    /// A random generator (`rand::RngCore`) whose every draw is a choice.
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

    /// Whether the named fault point fires now.
    ///
    /// The first time a run meets a point, it decides (with choices) whether
    /// the point is enabled for this run and with which probability it fires
    /// (swarm testing: each seed explores a different mix of faults). An
    /// enabled point then fires with that probability each time it is asked.
    pub fn fault(&self, point: &str) -> bool {
        if self.state.borrow().faults_off {
            return false;
        }
        let known = self.state.borrow().faults.get(point).copied();
        let p = match known {
            Some(p) => p,
            None => {
                let (allowed, no_swarm) = {
                    let s = self.state.borrow();
                    let allowed = s.fault_config.only.as_ref().is_none_or(|only| only.contains(point));
                    (allowed, s.fault_config.no_swarm)
                };
                let enabled = allowed && (no_swarm || self.chance(0.5));
                let probability = if enabled {
                    FAULT_PROBABILITIES[self.below(FAULT_PROBABILITIES.len() as u64) as usize]
                } else {
                    0.0
                };
                let p = FaultPoint {
                    enabled,
                    probability,
                    fired: 0,
                };
                self.state.borrow_mut().faults.insert(point.to_string(), p);
                p
            }
        };
        if !p.enabled {
            return false;
        }
        let fired = self.chance(p.probability);
        if fired {
            if let Some(fp) = self.state.borrow_mut().faults.get_mut(point) {
                fp.fired += 1;
            }
        }
        fired
    }

    /// Stops (or resumes) every fault point: while off, [`Sim::fault`]
    /// returns false without drawing. Simulations heal with it, then check
    /// that the system recovers.
    pub fn set_faults_enabled(&self, on: bool) {
        self.state.borrow_mut().faults_off = !on;
    }

    /// How often each fault point met so far fired (enabled points only).
    pub fn faults_fired(&self) -> BTreeMap<String, u64> {
        self.state
            .borrow()
            .faults
            .iter()
            .filter(|(_, p)| p.enabled)
            .map(|(k, p)| (k.clone(), p.fired))
            .collect()
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
        let mut options = Tape::options().seed(s.seed).meta("tape", name);
        if let Some(given) = &s.given {
            options = options.meta("choices", encode_choices(given));
        }
        let tape = options.memory();
        tape.set_virtual_time(Some(s.now));
        s.named_tapes.push((name.to_string(), tape.clone()));
        tape
    }

    /// The choices consumed so far.
    pub fn choices(&self) -> Vec<u64> {
        self.state.borrow().choices.clone()
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

/// Encodes a choice sequence for a scenario header (`meta.choices`).
pub fn encode_choices(choices: &[u64]) -> String {
    let mut s = String::with_capacity(choices.len() * 8);
    for (i, c) in choices.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!("{c:x}"));
    }
    s
}

/// Decodes [`encode_choices`].
pub fn decode_choices(text: &str) -> Result<Vec<u64>, String> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .enumerate()
        .map(|(i, part)| {
            u64::from_str_radix(part.trim(), 16).map_err(|e| format!("choice {i} `{part}` is not a hex u64: {e}"))
        })
        .collect()
}

/// A `rand::RngCore` drawing from a [`Sim`]'s choice sequence.
#[derive(Clone, Debug)]
pub struct SimRng {
    sim: Sim,
}

impl rand::RngCore for SimRng {
    fn next_u32(&mut self) -> u32 {
        (self.sim.choice() >> 32) as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.sim.choice()
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.sim.choice().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// Timed events in deterministic order: earliest first, and events at the
/// same time in the order they were scheduled.
#[derive(Debug)]
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    next_seq: u64,
}

#[derive(Debug)]
struct Entry<E> {
    at: Duration,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.at == other.at && self.seq == other.seq
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse so the earliest pops first.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self {
            heap: BinaryHeap::new(),
            next_seq: 0,
        }
    }

    /// Schedules `event` at virtual time `at`.
    pub fn schedule(&mut self, at: Duration, event: E) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry { at, seq, event });
    }

    /// The time of the earliest event.
    pub fn peek_time(&self) -> Option<Duration> {
        self.heap.peek().map(|e| e.at)
    }

    /// Removes the earliest event.
    pub fn pop(&mut self) -> Option<(Duration, E)> {
        self.heap.pop().map(|e| (e.at, e.event))
    }

    /// Removes the earliest event and moves the sim's clock to its time.
    pub fn pop_advancing(&mut self, sim: &Sim) -> Option<(Duration, E)> {
        let (at, e) = self.pop()?;
        sim.advance_to(at);
        Some((at, e))
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when no event waits.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

/// A failed run: a kind (what the shrinker must preserve, e.g. the name of
/// a violated invariant) and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    kind: String,
    message: String,
}

impl Failure {
    /// A failure whose kind is the message up to its first `:` (so
    /// `"S1 fenced actions: instance 2 wrote under epoch 3"` has kind
    /// `"S1 fenced actions"`), or the whole message.
    pub fn new(message: impl Into<String>) -> Self {
        let message = message.into();
        let kind = message.split(':').next().unwrap_or_default().trim().to_string();
        Self { kind, message }
    }

    /// A failure with an explicit kind.
    pub fn with_kind(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            message: message.into(),
        }
    }

    /// What must stay the same while shrinking.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// An error type a [`Faulty`] world can inject: implement it for the error
/// type of fallible world methods.
pub trait InjectFault: Sized {
    /// The error returned by a call at `point` (`Trait::method`) when the
    /// fault fires. May draw from `sim` to pick among several errors.
    fn inject_fault(point: &str, sim: &Sim) -> Self;
}

/// Wraps a world and, driven by a [`Sim`], makes fallible calls fail.
///
/// `#[rehearse::world]` implements each world trait for `Faulty<W>`. A
/// method returning `Result<T, E>` with `E: InjectFault` gets the fault
/// point `Trait::method`; when it fires, the call fails either before
/// reaching the inner world (the request was lost) or after it (the reply
/// was lost: the effect happened but the caller sees an error). Other
/// methods pass through. Compose as `Recorder<Faulty<SimWorld>>` so the
/// injected errors are recorded.
#[derive(Debug, Clone)]
pub struct Faulty<W> {
    inner: W,
    sim: Sim,
}

impl<W> Faulty<W> {
    /// Wraps `inner`, injecting faults drawn from `sim`.
    pub fn new(inner: W, sim: Sim) -> Self {
        Self { inner, sim }
    }

    /// The wrapped world.
    #[inline]
    pub fn inner(&self) -> &W {
        &self.inner
    }

    /// The wrapped world, mutably.
    #[inline]
    pub fn inner_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Unwraps the world.
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// The sim driving the faults.
    #[inline]
    pub fn sim(&self) -> &Sim {
        &self.sim
    }
}

/// An injected error and whether the inner call still happens.
#[doc(hidden)]
pub enum Injected<E> {
    /// Fail without calling the inner world.
    Before(E),
    /// Call the inner world, then fail anyway.
    After(E),
}

/// Support for generated `Faulty` impls: picks the injecting path when the
/// error type implements [`InjectFault`] and the pass-through one otherwise
/// (autoref specialization on a concrete type).
#[doc(hidden)]
pub mod inject {
    use super::{InjectFault, Injected, Sim};
    use std::marker::PhantomData;

    pub struct Probe<E>(PhantomData<E>);

    impl<E> Probe<E> {
        #[inline]
        pub fn new() -> Self {
            Self(PhantomData)
        }
    }

    impl<E> Default for Probe<E> {
        fn default() -> Self {
            Self::new()
        }
    }

    pub trait ViaInjectFault<E> {
        fn rehearse_inject(&self, sim: &Sim, point: &str) -> Option<Injected<E>>;
    }

    impl<E: InjectFault> ViaInjectFault<E> for &Probe<E> {
        #[inline]
        fn rehearse_inject(&self, sim: &Sim, point: &str) -> Option<Injected<E>> {
            if !sim.fault(point) {
                return None;
            }
            let after = sim.chance(0.5);
            let e = E::inject_fault(point, sim);
            Some(if after { Injected::After(e) } else { Injected::Before(e) })
        }
    }

    pub trait PassThrough<E> {
        #[inline]
        fn rehearse_inject(&self, _sim: &Sim, _point: &str) -> Option<Injected<E>> {
            None
        }
    }

    impl<E> PassThrough<E> for Probe<E> {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_reference_values() {
        // failover-ref.md: splitmix64(0) % 25001 + 5000 = 11870, seed 1 gives 11788.
        let crash = |seed: u64| 5000 + SplitMix64(seed).next() % 25001;
        assert_eq!(crash(0), 11870);
        assert_eq!(crash(1), 11788);
    }

    #[test]
    fn choices_replay_exactly_and_run_out_as_zero() {
        let sim = Sim::new(7);
        let drawn: Vec<u64> = (0..5).map(|_| sim.choice()).collect();
        assert_eq!(sim.choices(), drawn);
        let replay = Sim::from_choices(7, drawn[..3].to_vec());
        let again: Vec<u64> = (0..5).map(|_| replay.choice()).collect();
        assert_eq!(&again[..3], &drawn[..3]);
        assert_eq!(&again[3..], &[0, 0]);
    }

    #[test]
    fn zero_means_nothing_happens() {
        let sim = Sim::from_choices(0, vec![]);
        assert!(!sim.chance(0.999));
        assert_eq!(sim.below(10), 0);
        assert!(!sim.fault("x"));
        assert!(!sim.fault("x"));
    }

    #[test]
    fn events_pop_in_time_then_schedule_order() {
        let mut q = EventQueue::new();
        let ms = Duration::from_millis;
        q.schedule(ms(5), "c");
        q.schedule(ms(1), "a");
        q.schedule(ms(5), "d");
        q.schedule(ms(1), "b");
        let sim = Sim::new(0);
        let order: Vec<_> = std::iter::from_fn(|| q.pop_advancing(&sim).map(|(_, e)| e)).collect();
        assert_eq!(order, ["a", "b", "c", "d"]);
        assert_eq!(sim.now(), ms(5));
    }

    #[test]
    fn swarm_enables_some_points_per_seed() {
        let enabled = |seed| {
            let sim = Sim::new(seed);
            for p in 0..8 {
                for _ in 0..50 {
                    sim.fault(&format!("p{p}"));
                }
            }
            sim.state.borrow().faults.values().filter(|p| p.enabled).count()
        };
        let counts: Vec<usize> = (0..20).map(enabled).collect();
        assert!(
            counts.iter().any(|&c| c < 8) && counts.iter().any(|&c| c > 0),
            "{counts:?}"
        );
    }

    #[test]
    fn choice_encoding_round_trips() {
        let c = vec![0, 1, u64::MAX, 0xdead];
        assert_eq!(decode_choices(&encode_choices(&c)).unwrap(), c);
        assert!(decode_choices("1,zz").is_err());
    }
}
