//! What a sweep adds up over the seeds it explores: every failing seed
//! with its kind, each fault point's statistics and the runs' counters
//! ([`Sim::count`](crate::Sim::count)). Sums and sorted lists, so that the
//! order seeds finish in does not matter and shards add up to the whole.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::assertions::AssertionStats;
use crate::sim::RunStats;

/// One fault point over a sweep's explored seeds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultStats {
    /// Runs that met the point (asked it at least once).
    pub met: u64,
    /// Runs whose swarm selection (or a set rate above 0) enabled it.
    pub enabled: u64,
    /// Runs in which it fired at least once.
    pub fired_runs: u64,
    /// Times it fired, over all runs.
    pub fired: u64,
}

impl FaultStats {
    pub(super) fn add(&mut self, other: &Self) {
        self.met += other.met;
        self.enabled += other.enabled;
        self.fired_runs += other.fired_runs;
        self.fired += other.fired;
    }
}

/// The faults table of a sweep's summary (and of a merged one): per point,
/// the runs that met it, enabled it and saw it fire, and the times it
/// fired; nothing when no run met a fault point.
pub(super) fn write_faults(f: &mut std::fmt::Formatter<'_>, faults: &BTreeMap<String, FaultStats>) -> std::fmt::Result {
    if faults.is_empty() {
        return Ok(());
    }
    writeln!(
        f,
        "faults (per point: runs that met it, enabled it, saw it fire; times it fired):"
    )?;
    let width = faults.keys().map(String::len).max().unwrap_or(0);
    for (point, s) in faults {
        writeln!(
            f,
            "  {point:<width$}  {:>8} met {:>8} enabled {:>8} fired {:>10} times",
            s.met, s.enabled, s.fired_runs, s.fired
        )?;
    }
    Ok(())
}

/// A failing seed and its failure's kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FailedSeed {
    /// The seed.
    pub seed: u64,
    /// Its failure's kind ([`Failure::kind`](crate::Failure::kind)).
    pub kind: String,
}

/// Totals of one worker, then of the sweep.
#[derive(Debug, Default)]
pub(super) struct Totals {
    pub(super) failed: Vec<FailedSeed>,
    pub(super) faults: BTreeMap<String, FaultStats>,
    pub(super) counters: BTreeMap<String, u64>,
    pub(super) assertions: BTreeMap<String, AssertionStats>,
}

impl Totals {
    /// Adds one explored run.
    pub(super) fn add_run(&mut self, stats: &RunStats) {
        let mut run: BTreeMap<&str, AssertionStats> = BTreeMap::new();
        for (site, evaluations, hits) in &stats.assertions {
            let one = AssertionStats {
                evaluations: *evaluations,
                hits: *hits,
                ..AssertionStats::unreached(site)
            };
            match run.get_mut(site.name) {
                Some(a) => add_assertion(a, &one),
                None => {
                    run.insert(site.name, one);
                }
            }
        }
        for (name, mut a) in run {
            a.runs = u64::from(a.hits > 0);
            match self.assertions.get_mut(name) {
                Some(total) => add_assertion(total, &a),
                None => {
                    self.assertions.insert(name.to_string(), a);
                }
            }
        }
        for (name, n) in &stats.counters {
            match self.counters.get_mut(&**name) {
                Some(c) => *c = c.saturating_add(*n),
                None => {
                    self.counters.insert(name.to_string(), *n);
                }
            }
        }
        for (point, enabled, fired) in &stats.faults {
            let one = FaultStats {
                met: 1,
                enabled: u64::from(*enabled),
                fired_runs: u64::from(*fired > 0),
                fired: *fired,
            };
            match self.faults.get_mut(&**point) {
                Some(s) => s.add(&one),
                None => {
                    self.faults.insert(point.to_string(), one);
                }
            }
        }
    }

    /// The totals of one run (a re-run of one seed).
    pub(super) fn of(seed: u64, outcome: &super::pool::Outcome) -> Self {
        let mut t = Self::default();
        t.add_run(&outcome.stats);
        if let Err(failure) = &outcome.result {
            t.failed.push(FailedSeed {
                seed,
                kind: failure.kind().to_string(),
            });
        }
        t
    }

    /// Adds another worker's totals.
    pub(super) fn absorb(&mut self, other: Self) {
        self.failed.extend(other.failed);
        for (point, s) in other.faults {
            self.faults.entry(point).or_default().add(&s);
        }
        for (name, n) in other.counters {
            let c = self.counters.entry(name).or_default();
            *c = c.saturating_add(n);
        }
        for (name, a) in other.assertions {
            match self.assertions.get_mut(&name) {
                Some(mine) => add_assertion(mine, &a),
                None => {
                    self.assertions.insert(name, a);
                }
            }
        }
    }

    /// The failing seeds in order.
    pub(super) fn finish(mut self) -> Self {
        self.failed.sort();
        self
    }
}

/// Adds `other` to `total`, both of one assertion name. Names should be
/// unique per kind; when two kinds share one, the first in
/// [`AssertionKind`](crate::AssertionKind)'s order keeps the name (the
/// same whichever order the parts come in).
pub(crate) fn add_assertion(total: &mut AssertionStats, other: &AssertionStats) {
    if total.kind == other.kind {
        total.add(other);
    } else if other.kind < total.kind {
        *total = other.clone();
    }
}
