//! Fault points: how each seed picks which ones are enabled (swarm
//! testing) and how often they fire, and [`Faulty`], the world wrapper that
//! injects errors ([`InjectFault`]) at them.

use std::collections::{BTreeMap, BTreeSet};

use super::{Sim, threshold};

/// Probabilities an enabled fault point may fire with; each seed picks one
/// per point. The first is the one a zeroed choice picks.
const FAULT_PROBABILITIES: [f64; 5] = [0.005, 0.02, 0.05, 0.15, 0.4];

/// How a run's faults are chosen, and (the one setting of a sweep's runs
/// that is not about faults) how large its tapes may grow.
#[derive(Debug, Clone, Default)]
pub(crate) struct FaultConfig {
    /// The size limit of the run's tapes (`Sweep::tape_limit_bytes`);
    /// `None` for a `Sim` made outside a sweep.
    pub(crate) tape_limit_bytes: Option<u64>,
    /// Only these points may fire (all when `None`).
    pub(crate) only: Option<BTreeSet<String>>,
    /// When false, every point met is enabled (no swarm selection).
    pub(crate) no_swarm: bool,
    /// Points whose probability the user set: always enabled at that rate
    /// (0 keeps a point off), instead of a swarm-drawn one.
    pub(crate) rates: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct FaultPoint {
    pub(super) enabled: bool,
    probability: f64,
    fired: u64,
    /// The choice position at which it first fired.
    first_at: usize,
    /// The choice position at which its firings entered their last order
    /// of magnitude ([`super::hit_bucket`]).
    bucket_at: usize,
    /// The choice positions at which the run met it, and right after the
    /// choices that decided whether it is enabled and how often it fires.
    met_at: usize,
    decided_at: usize,
}

/// An error type a [`Faulty`] world can inject: implement it for the error
/// type of fallible world methods.
///
/// Scenario files record an injected error like any other output, right
/// after a fault mark naming the point (`(fault: "Store::append", detail:
/// "...")`, see [`Sim::fault`]): readers and the `rehearse` command tell it
/// from an error the world itself returned by that mark, so the error's
/// text needs no convention. Saying "injected" in it (e.g.
/// `Timeout("injected at Store::append")`) still helps a person reading the
/// output alone.
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
/// injected errors are recorded. Each injected error writes a fault mark
/// on the run's main tape (point `Trait::method`, and whether the call
/// reached the inner world) before the call's record.
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

    world_wrapper_accessors!("Unwraps the world.");

    /// The sim driving the faults.
    #[inline]
    pub fn sim(&self) -> &Sim {
        &self.sim
    }
}

impl Sim {
    /// Whether the named fault point fires now.
    ///
    /// The first time a run meets a point, it decides (with choices) whether
    /// the point is enabled for this run and with which probability it fires
    /// (swarm testing: each seed explores a different mix of faults). An
    /// enabled point then fires with that probability each time it is asked.
    /// A zero choice disables a point and never fires one, so shrinking
    /// removes faults the failure does not need.
    ///
    /// Name points by what fails (`"disk::full"`, `"net.partition"`); the
    /// sweep reports them, and [`Sweep::only_faults`](crate::Sweep::only_faults)
    /// selects them.
    ///
    /// When the point fires, a fault mark naming it is written on the run's
    /// main tape ([`Tape::mark_fault`](crate::Tape::mark_fault)), at the
    /// current virtual time and node, so that the scenario shows where
    /// each fault happened; [`Sim::fault_with`] also says what it did.
    ///
    /// ```
    /// use rehearse::Sim;
    ///
    /// // Over many seeds, a point is off in some runs and fires at
    /// // different rates in others.
    /// let fired: Vec<usize> = (0..20)
    ///     .map(|seed| {
    ///         let sim = Sim::new(seed);
    ///         (0..100).filter(|_| sim.fault("disk::full")).count()
    ///     })
    ///     .collect();
    /// assert!(fired.contains(&0), "disabled in some seeds: {fired:?}");
    /// assert!(fired.iter().any(|n| *n > 0), "fires in others: {fired:?}");
    /// // Zero choices: the point stays off.
    /// let quiet = Sim::from_choices(1, vec![]);
    /// assert!(!(0..100).any(|_| quiet.fault("disk::full")));
    /// ```
    pub fn fault(&self, point: &str) -> bool {
        let fired = self.fires(point);
        if fired {
            self.state.borrow().tape.mark_fault(point, None);
        }
        fired
    }

    /// [`Sim::fault`], with the fault mark saying what the fault did
    /// (`"n0 -> n2: Append(3)"`); `detail` is only called when the point
    /// fires.
    ///
    /// ```
    /// let sim = rehearse::Sim::new(5);
    /// sim.set_fault_rate("net::drop", 1.0);
    /// let (from, to) = ("n0", "n1");
    /// assert!(sim.fault_with("net::drop", || format!("{from} -> {to}: Ping")));
    /// let trace = sim.tape().to_trace().unwrap();
    /// assert_eq!(
    ///     trace.marks()[0].kind,
    ///     rehearse::MarkKind::Fault { point: "net::drop".into(), detail: Some("n0 -> n1: Ping".into()) },
    /// );
    /// ```
    pub fn fault_with(&self, point: &str, detail: impl FnOnce() -> String) -> bool {
        let fired = self.fires(point);
        if fired {
            let detail = detail();
            self.state.borrow().tape.mark_fault(point, Some(&detail));
        }
        fired
    }

    /// Writes a fault mark for `point` on the run's main tape (for a fault
    /// decided with [`Sim::fires`]).
    pub(crate) fn mark_fault(&self, point: &str, detail: Option<&str>) {
        self.state.borrow().tape.mark_fault(point, detail);
    }

    /// [`Sim::mark_fault`] with a detail written as text only when the
    /// tape is read ([`Tape::mark_fault_kept`](crate::Tape)).
    pub(crate) fn mark_fault_kept<T: crate::record::KeptText>(&self, point: &str, detail: T) {
        self.state.borrow().tape.mark_fault_kept(point, detail);
    }

    /// Whether `point` fires now, as [`Sim::fault`] decides it, without
    /// writing a mark.
    pub(crate) fn fires(&self, point: &str) -> bool {
        if self.state.borrow().faults_off {
            return false;
        }
        let known = self.state.borrow().fault_point(point).map(|(_, p)| *p);
        let p = match known {
            Some(p) => p,
            None => {
                let (allowed, no_swarm, rate) = {
                    let s = self.state.borrow();
                    let allowed = s.fault_config.only.as_ref().is_none_or(|only| only.contains(point));
                    (
                        allowed,
                        s.fault_config.no_swarm,
                        s.fault_config.rates.get(point).copied(),
                    )
                };
                let met_at = self.state.borrow().choices.len();
                let (enabled, probability) = match rate {
                    Some(p) => (allowed && p > 0.0, p),
                    None => {
                        let enabled = allowed && (no_swarm || self.chance(0.5));
                        let probability = if enabled {
                            FAULT_PROBABILITIES[self.below(FAULT_PROBABILITIES.len() as u64) as usize]
                        } else {
                            0.0
                        };
                        (enabled, probability)
                    }
                };
                let p = FaultPoint {
                    enabled,
                    probability,
                    fired: 0,
                    first_at: 0,
                    bucket_at: 0,
                    met_at,
                    decided_at: self.state.borrow().choices.len(),
                };
                self.state.borrow_mut().faults.push((point.into(), p));
                p
            }
        };
        if !p.enabled {
            return false;
        }
        let fired = self.chance(p.probability);
        if fired {
            let s = &mut *self.state.borrow_mut();
            let position = s.choices.len();
            if let Some((_, fp)) = s.fault_point_mut(point) {
                fp.fire(position);
            }
        }
        fired
    }

    /// [`Sim::fires`] for a caller that asks the same point again and
    /// again (the network, per message): `cache` remembers where the point
    /// is and what it decided, so a later ask scans and compares no name,
    /// and an ask of a point that is off draws nothing and costs a
    /// comparison. The decisions and the choices drawn are those of
    /// `fires`; the cache is dropped when a rate is set or faults are
    /// switched off or on.
    #[inline(always)]
    pub(crate) fn fires_cached(&self, point: &str, cache: &mut FaultCache) -> bool {
        if cache.epoch == self.fault_epoch.get() {
            let Some(above) = cache.threshold else {
                return false;
            };
            let s = &mut *self.state.borrow_mut();
            let fired = s.draw(super::Draw::Above(above)) > above;
            if fired {
                let position = s.choices.len();
                s.faults[cache.index].1.fire(position);
            }
            return fired;
        }
        self.fires_filling(point, cache)
    }

    /// [`Sim::fires_cached`] when `cache` does not hold: asks, then fills it.
    #[cold]
    #[inline(never)]
    fn fires_filling(&self, point: &str, cache: &mut FaultCache) -> bool {
        let fired = self.fires(point);
        let s = self.state.borrow();
        if let Some(index) = s.faults.iter().position(|(k, _)| same_name(k, point)) {
            let p = &s.faults[index].1;
            *cache = FaultCache {
                epoch: self.fault_epoch.get(),
                index,
                threshold: (!s.faults_off && p.enabled && p.probability > 0.0).then(|| threshold(p.probability)),
            };
        }
        fired
    }

    /// Sets the probability with which `point` fires each time it is asked,
    /// for this run, instead of the swarm's draw: the point is then always
    /// enabled (0 keeps it off) and draws no choices to decide so. Set it
    /// before the point is first met; [`Sweep::fault_rate`](crate::Sweep::fault_rate)
    /// sets it for every run of a sweep.
    ///
    /// ```
    /// let sim = rehearse::Sim::new(3);
    /// sim.set_fault_rate("net::drop", 1.0);
    /// assert!((0..10).all(|_| sim.fault("net::drop")));
    /// sim.set_fault_rate("disk::torn", 0.0);
    /// assert!(!(0..10).any(|_| sim.fault("disk::torn")));
    /// ```
    pub fn set_fault_rate(&self, point: &str, probability: f64) {
        let p = if probability.is_finite() {
            probability.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let mut s = self.state.borrow_mut();
        s.fault_config.rates.insert(point.to_string(), p);
        s.faults.retain(|(k, _)| **k != *point);
        self.fault_epoch.set(self.fault_epoch.get() + 1);
    }

    /// Stops (or resumes) every fault point: while off, [`Sim::fault`]
    /// returns false without drawing. Simulations heal with it, then check
    /// that the system recovers.
    pub fn set_faults_enabled(&self, on: bool) {
        let mut s = self.state.borrow_mut();
        s.faults_off = !on;
        self.fault_epoch.set(self.fault_epoch.get() + 1);
    }

    /// How often each fault point met so far fired (enabled points only).
    pub fn faults_fired(&self) -> BTreeMap<String, u64> {
        self.state
            .borrow()
            .faults
            .iter()
            .filter(|(_, p)| p.enabled)
            .map(|(k, p)| (k.to_string(), p.fired))
            .collect()
    }
}

impl FaultPoint {
    /// How often the point fired in the run.
    pub(super) fn fired(&self) -> u64 {
        self.fired
    }

    /// Counts one firing at choice position `position`.
    #[inline]
    fn fire(&mut self, position: usize) {
        let before = self.fired;
        self.fired += 1;
        if before == 0 {
            self.first_at = position;
        }
        if super::hit_bucket(self.fired) != super::hit_bucket(before) {
            self.bucket_at = position;
        }
    }

    /// (first fired at, entered its last order of magnitude at, met at,
    /// decided at), as choice positions.
    pub(super) fn fired_at(&self) -> [usize; 4] {
        [self.first_at, self.bucket_at, self.met_at, self.decided_at]
    }
}

/// What [`Sim::fires_cached`] remembers of a fault point.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FaultCache {
    /// `State::fault_epoch` when filled (`u64::MAX`: never).
    epoch: u64,
    /// The point's position in `State::faults`.
    index: usize,
    /// A choice above it fires the point; `None`: the point is off.
    threshold: Option<u64>,
}

impl Default for FaultCache {
    fn default() -> Self {
        Self {
            epoch: u64::MAX,
            index: 0,
            threshold: None,
        }
    }
}

impl super::State {
    /// The fault point named `point`, if met.
    #[inline]
    fn fault_point(&self, point: &str) -> Option<&(Box<str>, FaultPoint)> {
        self.faults.iter().find(|(k, _)| same_name(k, point))
    }

    fn fault_point_mut(&mut self, point: &str) -> Option<&mut (Box<str>, FaultPoint)> {
        self.faults.iter_mut().find(|(k, _)| same_name(k, point))
    }
}

/// `a == b` for short names (of fault points, of nodes) without a call to
/// `memcmp`, which cost more than the rest of a lookup: names of 8 to 16
/// bytes are two overlapping 8-byte words, shorter ones one word built a
/// byte at a time.
#[inline]
pub(crate) fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| {
        s.get(at..at + 8)
            .and_then(|w| w.try_into().ok())
            .map(u64::from_ne_bytes)
    };
    let short = |s: &[u8]| s.iter().fold(0u64, |w, &b| (w << 8) | u64::from(b));
    match a.len() {
        0..8 => short(a) == short(b),
        8..=16 => word(a, 0) == word(b, 0) && word(a, a.len() - 8) == word(b, b.len() - 8),
        _ => a == b,
    }
}
