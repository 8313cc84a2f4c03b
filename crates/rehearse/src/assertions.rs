//! Assertions that say what a sweep explored: [`sometimes!`](crate::sometimes),
//! [`always!`](crate::always), [`reachable!`](crate::reachable) and
//! [`unreachable!`](crate::unreachable), as Antithesis, moonpool and
//! FoundationDB's code probes have them.
//!
//! Each assertion is a named site in the code under test. Inside a run of
//! a [`Sweep`](crate::Sweep) (the thread's current [`Sim`](crate::Sim), see
//! [`Sim::enter`](crate::Sim::enter)) it records into the run; the sweep
//! sums them over the seeds it explores into [`Report::assertions`](crate::Report::assertions)
//! and the JSON report, and lists every one with its counts, "never hit"
//! included. Outside a simulated run (the live program, a replay) an
//! assertion reads one thread-local flag and does nothing else: its
//! condition is not even evaluated, so a condition must have no side
//! effects.
//!
//! | assertion | holds when | a violation |
//! | --- | --- | --- |
//! | `sometimes!(name, cond)` | `cond` was true at least once over the sweep | listed as never hit; fails the sweep under [`Sweep::require_sometimes`](crate::Sweep::require_sometimes) |
//! | `reachable!(name)` | it was reached at least once over the sweep | the same |
//! | `always!(name, cond)` | `cond` was true every time it was evaluated | fails the run at once, kind `assertion "name"` |
//! | `unreachable!(name)` | it was never reached | fails the run at once, kind `assertion "name"` |
//!
//! Every assertion site is also entered, when the program is linked, in a
//! catalog (a [`linkme`] distributed slice: no code runs before `main`),
//! so that a `sometimes!` whose code no run reached is still listed, as
//! never hit, rather than missing from the report.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which of the four assertions a site is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssertionKind {
    /// [`sometimes!`](crate::sometimes): true at least once over a sweep.
    Sometimes,
    /// [`always!`](crate::always): true every time it is evaluated.
    Always,
    /// [`reachable!`](crate::reachable): reached at least once over a sweep.
    Reachable,
    /// [`unreachable!`](crate::unreachable): never reached.
    Unreachable,
}

impl AssertionKind {
    /// `sometimes`, `always`, `reachable`, `unreachable`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sometimes => "sometimes",
            Self::Always => "always",
            Self::Reachable => "reachable",
            Self::Unreachable => "unreachable",
        }
    }

    /// Whether the sweep must hit it at least once (sometimes, reachable).
    pub fn must_be_hit(self) -> bool {
        matches!(self, Self::Sometimes | Self::Reachable)
    }
}

impl fmt::Display for AssertionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One assertion site, as the macros declare it (a `static` per site).
#[derive(Debug)]
pub struct AssertionSite {
    /// Which assertion.
    pub kind: AssertionKind,
    /// Its name (the macro's string literal).
    pub name: &'static str,
    /// `file!()` of the site.
    pub file: &'static str,
    /// `line!()` of the site.
    pub line: u32,
    /// `module_path!()` of the site (what [`Sweep::assertions_in`](crate::Sweep::assertions_in) matches).
    pub module: &'static str,
}

impl AssertionSite {
    /// `file:line`.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
}

/// Every assertion site linked into the program.
#[linkme::distributed_slice]
pub static ASSERTS: [AssertionSite];

/// Every assertion site linked into the program, in no particular order
/// (the sweep's report sorts them by name).
pub fn catalog() -> &'static [AssertionSite] {
    &ASSERTS
}

/// One assertion over the explored runs of a sweep (or merged shards).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionStats {
    /// Which assertion.
    pub kind: AssertionKind,
    /// Where it is (`file:line`; the first by text when several sites
    /// share the name).
    pub location: String,
    /// Times it was evaluated (reached).
    pub evaluations: u64,
    /// Times its condition was true (for `reachable!` and
    /// `unreachable!`: times it was reached).
    pub hits: u64,
    /// Explored runs in which its condition was true at least once.
    pub runs: u64,
}

impl AssertionStats {
    /// No evaluation yet: a catalog entry no run reached.
    pub fn unreached(site: &AssertionSite) -> Self {
        Self {
            kind: site.kind,
            location: site.location(),
            evaluations: 0,
            hits: 0,
            runs: 0,
        }
    }

    /// Adds another count of the same assertion (a worker's, a shard's).
    pub fn add(&mut self, other: &Self) {
        self.evaluations = self.evaluations.saturating_add(other.evaluations);
        self.hits = self.hits.saturating_add(other.hits);
        self.runs = self.runs.saturating_add(other.runs);
        // Deterministic whichever part comes first.
        if other.location < self.location {
            self.location.clone_from(&other.location);
        }
    }

    /// True for a `sometimes!` or `reachable!` the sweep never hit.
    pub fn never_hit(&self) -> bool {
        self.kind.must_be_hit() && self.hits == 0
    }

    /// True when it holds over the sweep: hit for `sometimes!` and
    /// `reachable!`, never false for `always!`, never reached for
    /// `unreachable!`.
    pub fn holds(&self) -> bool {
        match self.kind {
            AssertionKind::Sometimes | AssertionKind::Reachable => self.hits > 0,
            AssertionKind::Always => self.hits == self.evaluations,
            AssertionKind::Unreachable => self.hits == 0,
        }
    }

    /// `true 12 of 40 times, in 9 runs`, `NEVER HIT (false all 40
    /// times)`, `reached 1 time, in 1 run`, `FALSE 2 of 40 times`...
    pub fn verdict(&self) -> String {
        let runs = |n: u64| {
            if n == 1 {
                "1 run".to_string()
            } else {
                format!("{n} runs")
            }
        };
        // ("reached 1 time", not "1 times")
        let times = |n: u64| if n == 1 { "time" } else { "times" };
        match self.kind {
            AssertionKind::Sometimes if self.hits == 0 && self.evaluations == 0 => "NEVER HIT (never evaluated)".into(),
            AssertionKind::Sometimes if self.hits == 0 => format!("NEVER HIT (false all {} times)", self.evaluations),
            AssertionKind::Sometimes => format!(
                "true {} of {} {}, in {}",
                self.hits,
                self.evaluations,
                times(self.evaluations),
                runs(self.runs)
            ),
            AssertionKind::Reachable if self.hits == 0 => "NEVER HIT".into(),
            AssertionKind::Reachable => format!("reached {} {}, in {}", self.hits, times(self.hits), runs(self.runs)),
            AssertionKind::Always if self.evaluations == 0 => "never evaluated".into(),
            AssertionKind::Always if self.hits == self.evaluations => {
                format!("held all {} times, in {}", self.evaluations, runs(self.runs))
            }
            AssertionKind::Always => format!("FALSE {} of {} times", self.evaluations - self.hits, self.evaluations),
            AssertionKind::Unreachable if self.hits == 0 => "never reached".into(),
            AssertionKind::Unreachable => format!("REACHED {} {}, in {}", self.hits, times(self.hits), runs(self.runs)),
        }
    }
}

/// The assertions section of a sweep's summary: one line per assertion,
/// then the names of those never hit.
pub(crate) fn write_table(
    f: &mut fmt::Formatter<'_>,
    assertions: &std::collections::BTreeMap<String, AssertionStats>,
) -> fmt::Result {
    if assertions.is_empty() {
        return Ok(());
    }
    let held = assertions.values().filter(|a| a.holds()).count();
    writeln!(f, "assertions: {held} of {} hold", assertions.len())?;
    let width = assertions.keys().map(|k| k.chars().count()).max().unwrap_or(0);
    for (name, a) in assertions {
        writeln!(
            f,
            "  {:<11} {name:<width$}  {}  ({})",
            a.kind.name(),
            a.verdict(),
            a.location
        )?;
    }
    Ok(())
}

/// The kind of the failure of a run that broke `always!` or reached
/// `unreachable!` named `name`.
pub fn failure_kind(name: &str) -> String {
    format!("assertion {name:?}")
}

/// The panic payload that ends a run at a broken assertion (the sweep
/// reports the failure the run recorded, not a panic).
pub(crate) struct AssertionStop;

/// Records one evaluation of `site` into the thread's current run, if any;
/// a broken `always!` or a reached `unreachable!` fails the run there.
#[doc(hidden)]
#[inline(never)]
pub fn record(site: &'static AssertionSite, holds: bool, details: &dyn Fn() -> Option<String>) {
    let broken = crate::sim::record_assertion(site, holds);
    if broken {
        let details = details().map(|d| format!(": {d}")).unwrap_or_default();
        let verb = match site.kind {
            AssertionKind::Unreachable => "was reached",
            _ => "was false",
        };
        let message = format!("{}!({:?}) {verb} at {}{details}", site.kind, site.name, site.location());
        crate::sim::fail_run(crate::Failure::with_kind(failure_kind(site.name), message));
        // Unwinds without the panic hook: the sweep reports the recorded
        // failure, and the shrinker can cut every call after this one.
        std::panic::resume_unwind(Box::new(AssertionStop));
    }
}

/// True while a simulated run is current on this thread: the one check an
/// assertion makes outside simulations.
#[doc(hidden)]
#[inline(always)]
pub fn active() -> bool {
    crate::sim::in_run()
}

/// Declares the `static` site of one assertion and enters it in the
/// catalog. Not public API.
#[doc(hidden)]
#[macro_export]
macro_rules! __assertion {
    ($kind:ident, $name:literal, $holds:expr, $details:expr) => {{
        #[$crate::__private::linkme::distributed_slice($crate::__private::ASSERTS)]
        #[linkme(crate = $crate::__private::linkme)]
        #[allow(unsafe_code)]
        static SITE: $crate::AssertionSite = $crate::AssertionSite {
            kind: $crate::AssertionKind::$kind,
            name: $name,
            file: ::core::file!(),
            line: ::core::line!(),
            module: ::core::module_path!(),
        };
        if $crate::__private::assertion_active() {
            $crate::__private::assertion_record(&SITE, $holds, &$details);
        }
    }};
}

/// Asserts that `cond` is true at least once over a sweep: the sweep's
/// report lists it with the times it was true, or as **never hit**, and
/// [`Sweep::require_sometimes`](crate::Sweep::require_sometimes) (or
/// `REHEARSE_REQUIRE_SOMETIMES=1`) fails a sweep that never hit one.
///
/// Put it where the interesting situation is detected ("a failover
/// started during a switchover"), to know the sweep explored it. The name
/// is a string literal; an optional third argument (anything `Debug`) is
/// accepted for symmetry with [`always!`](crate::always) and not recorded.
/// Outside a simulated run nothing is evaluated.
///
/// ```
/// let report = rehearse::Sweep::new("doc-sometimes").seeds(0..50).quiet().run(|sim| {
///     let batch = sim.below(10);
///     rehearse::sometimes!("an empty batch", batch == 0);
///     rehearse::sometimes!("a batch of a hundred", batch == 100);
///     Ok(())
/// });
/// assert!(report.assertions["an empty batch"].hits > 0);
/// assert!(report.assertions["a batch of a hundred"].never_hit());
/// ```
#[macro_export]
macro_rules! sometimes {
    ($name:literal, $cond:expr $(,)?) => {
        $crate::__assertion!(Sometimes, $name, $cond, || ::core::option::Option::None)
    };
    ($name:literal, $cond:expr, $details:expr $(,)?) => {
        $crate::__assertion!(Sometimes, $name, $cond, || ::core::option::Option::None)
    };
}

/// Asserts that `cond` is true every time it is evaluated. The first time
/// it is false the run fails there, with kind `assertion "NAME"` and a
/// message naming the assertion, its source location and the details (an
/// optional third argument, anything `Debug`, formatted only then). The
/// sweep saves and shrinks it like any failing run. Outside a simulated
/// run nothing is evaluated.
///
/// ```
/// let out = tempfile::tempdir().unwrap();
/// let report = rehearse::Sweep::new("doc-always").seeds(0..50).out_dir(out.path()).quiet().run(|sim| {
///     let replicas = sim.below(4);
///     rehearse::always!("a replica to promote", replicas > 0, replicas);
///     Ok(())
/// });
/// let f = &report.failures[0];
/// assert_eq!(f.kind, r#"assertion "a replica to promote""#);
/// assert!(f.message.starts_with(r#"always!("a replica to promote") was false at "#), "{}", f.message);
/// assert!(f.message.ends_with(": 0"), "{}", f.message);
/// ```
#[macro_export]
macro_rules! always {
    ($name:literal, $cond:expr $(,)?) => {
        $crate::__assertion!(Always, $name, $cond, || ::core::option::Option::None)
    };
    ($name:literal, $cond:expr, $details:expr $(,)?) => {
        $crate::__assertion!(Always, $name, $cond, || ::core::option::Option::Some(::std::format!(
            "{:?}", $details
        )))
    };
}

/// Asserts that this point is reached at least once over a sweep: listed
/// with the times it was reached, or as **never hit** (see
/// [`sometimes!`](crate::sometimes)).
///
/// ```
/// let report = rehearse::Sweep::new("doc-reachable").seeds(0..20).quiet().run(|sim| {
///     if sim.chance(0.5) {
///         rehearse::reachable!("a retry");
///     }
///     Ok(())
/// });
/// assert!(report.assertions["a retry"].hits > 0);
/// ```
#[macro_export]
macro_rules! reachable {
    ($name:literal $(,)?) => {
        $crate::__assertion!(Reachable, $name, true, || ::core::option::Option::None)
    };
    ($name:literal, $details:expr $(,)?) => {
        $crate::__assertion!(Reachable, $name, true, || ::core::option::Option::None)
    };
}

/// Asserts that this point is never reached: reaching it fails the run
/// there, as a false [`always!`](crate::always) does (kind
/// `assertion "NAME"`, the location and the optional details in the
/// message).
///
/// Call it by its path, `rehearse::unreachable!`: after `use rehearse::*`
/// a bare `unreachable!` is ambiguous with the standard library's (a
/// compile error that names both), and the two differ (std's always
/// panics; this one does nothing outside a simulated run).
///
/// ```
/// let out = tempfile::tempdir().unwrap();
/// let report = rehearse::Sweep::new("doc-unreachable").seeds(0..20).out_dir(out.path()).quiet().run(|sim| {
///     if sim.seed() == 7 {
///         rehearse::unreachable!("two primaries", sim.seed());
///     }
///     Ok(())
/// });
/// assert_eq!((report.failed_runs, report.failures[0].seed), (1, 7));
/// assert_eq!(report.failures[0].kind, r#"assertion "two primaries""#);
/// assert!(report.failures[0].message.ends_with(": 7"), "{}", report.failures[0].message);
/// ```
#[macro_export]
macro_rules! unreachable {
    ($name:literal $(,)?) => {
        $crate::__assertion!(Unreachable, $name, false, || ::core::option::Option::None)
    };
    ($name:literal, $details:expr $(,)?) => {
        $crate::__assertion!(Unreachable, $name, false, || ::core::option::Option::Some(
            ::std::format!("{:?}", $details)
        ))
    };
}

#[cfg(test)]
mod tests {
    use super::{AssertionKind, AssertionStats};

    fn stats(kind: AssertionKind, evaluations: u64, hits: u64, runs: u64) -> AssertionStats {
        AssertionStats {
            kind,
            location: "x.rs:1".into(),
            evaluations,
            hits,
            runs,
        }
    }

    #[test]
    fn verdicts_count_in_words() {
        for (kind, evaluations, hits, runs, verdict) in [
            (AssertionKind::Reachable, 1, 1, 1, "reached 1 time, in 1 run"),
            (AssertionKind::Reachable, 3, 3, 2, "reached 3 times, in 2 runs"),
            (AssertionKind::Sometimes, 1, 1, 1, "true 1 of 1 time, in 1 run"),
            (AssertionKind::Sometimes, 40, 12, 9, "true 12 of 40 times, in 9 runs"),
            (AssertionKind::Unreachable, 1, 1, 1, "REACHED 1 time, in 1 run"),
        ] {
            assert_eq!(stats(kind, evaluations, hits, runs).verdict(), verdict);
        }
    }
}
