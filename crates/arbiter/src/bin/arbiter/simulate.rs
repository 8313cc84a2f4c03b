//! `arbiter simulate`: the main job. A sweep of seeds of the simulated
//! world, its totals, and the failures with their replay commands.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use arbiter::machine::TRANSITIONS;
use arbiter::sim::model::Persistence;
use arbiter::sim::run::{FAULT_KINDS, FaultKind, Profile, SimOptions, move_counter, run_report, run_with_timeline};

/// Totals over all seeds (sums, so the order seeds finish in does not matter).
#[derive(Debug, Default)]
struct Totals {
    sim_ms: u64,
    failovers: u64,
    switchovers: u64,
    acked: u64,
    lost: u64,
    seeds_with_loss: u64,
    max_lost: u64,
    /// Per invariant: the failing seeds.
    violations: BTreeMap<String, Vec<u64>>,
    /// Per fault kind (and call point): seeds it fired in, times it fired.
    faults: BTreeMap<String, (u64, u64)>,
    /// Nodes per persistence mode, over all seeds.
    persistence: BTreeMap<&'static str, u64>,
}

/// `arbiter simulate`'s options.
#[derive(Debug, clap::Args)]
pub(crate) struct SimulateArgs {
    /// Seeds to run (0..N).
    #[arg(long, default_value_t = 1000, conflicts_with = "seed")]
    seeds: u64,
    /// Run for this long instead (e.g. 60s, 10m), from seed 0 on.
    #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "seed")]
    time: Option<Duration>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Run one seed and print its timeline.
    #[arg(long)]
    seed: Option<u64>,
    /// Fault kinds to inject, comma-separated (default: all, or the
    /// profile's). One of: redis.crash, redis.empty_restart, redis.pause,
    /// net.partition, arbiter.pause, arbiter.crash,
    /// arbiter.crash_after_promote, etcd.lease_revoke, etcd.unavailable,
    /// config.change, clock.jump, operator.switchover, calls,
    /// redis.restart_with_data, redis.auth_mismatch, arbiter.all_away,
    /// operator.bad_switchover, config.conflict.
    #[arg(long, value_delimiter = ',')]
    faults: Option<Vec<String>>,
    /// Fault profile: `default` (every fault kind, a random subset per
    /// seed) or `trial` (issue 22's trial in every seed: every instance
    /// away past stale_after while the primary dies and restarts, with
    /// restarts with data, password mismatches, bad switchovers and
    /// conflicting configuration on top).
    #[arg(long, default_value = "default")]
    profile: String,
    /// Persistence modes each node's is drawn from, comma-separated
    /// (default: off,rdb,aof).
    #[arg(long, value_delimiter = ',')]
    persistence: Option<Vec<String>>,
    /// The world and the invariants before issue 22 (its fault kinds,
    /// persistence off, without S5 data and keys across histories, S7 per
    /// replica, S10, L5 and L1 after a return): the
    /// baseline the controller passed before.
    #[arg(long, conflicts_with_all = ["faults", "persistence", "profile"])]
    before_issue_22: bool,
    /// Where failing runs are saved (default: target/rehearse).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Do not record the instances' calls (faster; failures are still
    /// reported, and re-recorded when they are saved).
    #[arg(long)]
    no_record: bool,
    /// Do not shrink failures (faster triage: every failing seed is still
    /// listed per invariant, and saved as found).
    #[arg(long)]
    no_shrink: bool,
    /// Run only shard I of N (1-based, like `3/8`): every N-th seed of the
    /// range, so that N machines or CI jobs split one sweep
    /// (`REHEARSE_SHARD` does the same and wins). Merge their `--report`
    /// files with `rehearse merge`.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<(u64, u64)>,
    /// Write the sweep's report as JSON to this file (runs, failing seeds
    /// by invariant, saved scenarios and repro lines, fault statistics,
    /// and the totals: failovers, switchovers, writes acknowledged and
    /// lost); `REHEARSE_REPORT` does the same and wins.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
    /// Stop at the N-th failing seed: seeds run in order until the N-th
    /// of them fails, and the report covers the seeds up to it, the same
    /// on any number of threads (`REHEARSE_STOP_AFTER` does the same and
    /// wins). With `--shard`, each shard stops at its own N-th failure.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    stop_after: Option<u64>,
    /// Plant bugs to see the sweep find them (needs the `planted-bugs`
    /// feature): skip-fencing, promote-most-lagging, forget-old-primary,
    /// trust-stale-read, no-debounce, resync-from-empty.
    #[arg(long, value_delimiter = ',')]
    plant: Vec<String>,
}

/// `3/8` -> (3, 8), 1-based.
fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let (i, n) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is not a shard I/N (1-based, like 3/8)"))?;
    let i: u64 = i.trim().parse().map_err(|e| format!("bad shard index `{i}`: {e}"))?;
    let n: u64 = n.trim().parse().map_err(|e| format!("bad shard count `{n}`: {e}"))?;
    if n == 0 || i == 0 || i > n {
        return Err(format!("shard {i}/{n} is out of range: use 1/{n} to {n}/{n}"));
    }
    Ok((i, n))
}

/// `PromoteMostLagging` -> `promote-most-lagging`.
fn kebab(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// `arbiter simulate`.
pub(crate) fn simulate(a: SimulateArgs) -> ExitCode {
    let opts = match options(&a) {
        Ok(opts) => opts,
        Err(message) => {
            eprintln!("arbiter: {message}");
            return ExitCode::from(2);
        }
    };
    if let Some(seed) = a.seed {
        print_timeline(seed, &opts);
    }
    let totals = Mutex::new(Totals::default());
    // Stopping after N failures leaves out runs past the N-th that other
    // threads made: the totals are kept per seed, and only the seeds the
    // report covers are added up.
    let stopping = a.stop_after.is_some() || std::env::var_os("REHEARSE_STOP_AFTER").is_some();
    let per_seed: Mutex<Vec<(u64, Totals)>> = Mutex::new(Vec::new());
    let report = sweep(&a).run(|sim| {
        let detail = run_report(sim, &opts);
        if let Ok(o) = &detail.result {
            // The sweep's counters: summed over explored seeds into its
            // report, so that shards of a sweep add up (`rehearse merge`).
            sim.count("failovers", o.failovers);
            sim.count("switchovers", o.switchovers);
            sim.count("writes acknowledged", o.acked as u64);
            sim.count("writes lost", o.lost as u64);
            sim.count("seeds with lost writes", u64::from(o.lost > 0));
            sim.count("simulated ms", o.sim_ms);
        }
        if sim.phase() == rehearse::Phase::Explore {
            if stopping {
                let mut one = Totals::default();
                one.add(sim.seed(), &detail);
                per_seed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((sim.seed(), one));
            } else {
                totals
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .add(sim.seed(), &detail);
            }
        }
        detail.result.map(|_| ())
    });
    let mut totals = totals.into_inner().unwrap_or_else(|e| e.into_inner());
    for (seed, one) in per_seed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        if covered(&report, seed) {
            totals.absorb(one);
        }
    }
    print_summary(&report, totals, a.no_shrink);
    if report.failed_runs > 0 {
        say!("{}", report.to_string().trim_end());
        for f in &report.failures {
            for p in f.named_traces.iter().take(3) {
                say!("  replay one instance: cargo run -p arbiter -- replay {}", p.display());
            }
        }
        return ExitCode::from(1);
    }
    if !report.passed() {
        // REHEARSE_REQUIRE_SOMETIMES=1 and a situation never explored.
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// The simulation's options from the command line, or what is wrong with
/// them.
fn options(a: &SimulateArgs) -> Result<SimOptions, String> {
    let mut opts = if a.before_issue_22 {
        SimOptions::before_issue_22()
    } else {
        SimOptions::default()
    };
    if let Some(faults) = &a.faults {
        let kinds = FaultKind::parse_all(faults).map_err(|e| e.to_string())?;
        opts.faults = Some(kinds.into_iter().collect::<BTreeSet<_>>());
    }
    opts.profile = Profile::named(&a.profile)
        .ok_or_else(|| format!("unknown profile {:?}; known: {}", a.profile, Profile::NAMES.join(", ")))?;
    if let Some(modes) = &a.persistence {
        let mut chosen = Vec::new();
        for m in modes {
            match Persistence::ALL.into_iter().find(|p| p.name() == m) {
                Some(p) => chosen.push(p),
                None => return Err(format!("unknown persistence mode {m:?}; known: off, rdb, aof")),
            }
        }
        opts.persistence = chosen;
    }
    opts.record = !a.no_record;
    for name in &a.plant {
        let bug = arbiter::types::Bug::ALL
            .into_iter()
            .find(|b| kebab(&format!("{b:?}")) == *name);
        match bug {
            Some(b) if cfg!(feature = "planted-bugs") => {
                opts.bugs.insert(b);
            }
            Some(_) => return Err("--plant needs a build with `--features planted-bugs`".into()),
            None => return Err(format!("unknown bug {name:?}")),
        }
    }
    Ok(opts)
}

/// The readable timeline of one seed (the sweep then saves, checks and
/// shrinks it as usual).
fn print_timeline(seed: u64, opts: &SimOptions) {
    let sim = rehearse::Sim::new(seed);
    let (result, events) = run_with_timeline(&sim, opts);
    for e in &events {
        say!("{:>9.3}s  {}", e.at as f64 / 1000.0, e.what());
    }
    match result {
        Ok(o) => say!(
            "seed {seed}: no violation; {} failovers, {} switchovers, {} of {} acknowledged writes lost",
            o.failovers,
            o.switchovers,
            o.lost,
            o.acked
        ),
        Err(f) => say!("seed {seed}: {f}"),
    }
}

/// The sweep the command line asks for.
fn sweep(a: &SimulateArgs) -> rehearse::Sweep {
    let mut sweep = rehearse::Sweep::new("arbiter")
        .command("cargo run --release -p arbiter -- simulate")
        .assertions_in("arbiter::sim")
        .shrink_time(Duration::from_secs(60))
        .shrink(!a.no_shrink);
    sweep = match (a.seed, a.time) {
        (Some(seed), _) => sweep.seeds(seed..seed + 1),
        (None, Some(t)) => sweep.seeds(0..u64::MAX).time_budget(t),
        (None, None) => sweep.seeds(0..a.seeds),
    };
    if let Some(t) = a.threads {
        sweep = sweep.threads(t);
    }
    if let Some(out) = &a.out {
        sweep = sweep.out_dir(out);
    }
    if let Some((i, n)) = a.shard {
        sweep = sweep.shard(i, n);
    }
    if let Some(report) = &a.report {
        sweep = sweep.report_file(report);
    }
    if let Some(n) = a.stop_after {
        sweep = sweep.stop_after(n);
    }
    sweep.quiet()
}

/// Whether the report covers `seed`: one of the first `runs` seeds of its
/// shard's part of the range (simulate keeps no regressions file).
fn covered(report: &rehearse::Report, seed: u64) -> bool {
    let (i, n) = report.shard;
    let Some(offset) = seed.checked_sub(report.seeds.start) else {
        return false;
    };
    seed < report.seeds.end && offset % n == i - 1 && offset / n < report.runs
}

impl Totals {
    /// Adds another part's totals.
    fn absorb(&mut self, other: Self) {
        self.sim_ms += other.sim_ms;
        self.failovers += other.failovers;
        self.switchovers += other.switchovers;
        self.acked += other.acked;
        self.lost += other.lost;
        self.seeds_with_loss += other.seeds_with_loss;
        self.max_lost = self.max_lost.max(other.max_lost);
        for (kind, seeds) in other.violations {
            self.violations.entry(kind).or_default().extend(seeds);
        }
        for (kind, (seeds, times)) in other.faults {
            let e = self.faults.entry(kind).or_default();
            e.0 += seeds;
            e.1 += times;
        }
        for (mode, n) in other.persistence {
            *self.persistence.entry(mode).or_default() += n;
        }
    }

    /// Adds one explored seed.
    fn add(&mut self, seed: u64, detail: &arbiter::sim::run::RunReport) {
        // Call points (`Cluster::promote`...) count under `calls`.
        let mut fired: BTreeMap<&str, u64> = BTreeMap::new();
        for (kind, n) in detail.faults.iter().filter(|(_, n)| **n > 0) {
            let kind = if FAULT_KINDS.contains(&kind.as_str()) {
                kind.as_str()
            } else {
                "calls"
            };
            *fired.entry(kind).or_default() += n;
        }
        for (kind, n) in fired {
            let e = self.faults.entry(kind.to_string()).or_default();
            e.0 += 1;
            e.1 += n;
        }
        match &detail.result {
            Ok(o) => {
                for p in &o.persistence {
                    *self.persistence.entry(p.name()).or_default() += 1;
                }
                self.sim_ms += o.sim_ms;
                self.failovers += o.failovers;
                self.switchovers += o.switchovers;
                self.acked += o.acked as u64;
                self.lost += o.lost as u64;
                self.seeds_with_loss += u64::from(o.lost > 0);
                self.max_lost = self.max_lost.max(o.lost as u64);
            }
            Err(f) => self.violations.entry(f.kind().to_string()).or_default().push(seed),
        }
    }
}

/// The summary table, lost writes, violations per invariant, persistence
/// modes and faults fired.
fn print_summary(report: &rehearse::Report, mut t: Totals, no_shrink: bool) {
    let hours = t.sim_ms as f64 / 3_600_000.0;
    let shard = match report.shard {
        (_, 1) => String::new(),
        (i, n) => format!(" (shard {i} of {n})"),
    };
    say!(
        "arbiter simulate: {} seeds in {:.1}s{shard}",
        report.runs,
        report.elapsed.as_secs_f64()
    );
    say!("| seeds | simulated hours | sim s / wall s | failovers | switchovers | violations |");
    say!("| --- | --- | --- | --- | --- | --- |");
    say!(
        "| {} | {hours:.1} | {:.0} | {} | {} | {} |",
        report.runs,
        t.sim_ms as f64 / 1000.0 / report.elapsed.as_secs_f64().max(1e-9),
        t.failovers,
        t.switchovers,
        report.failed_runs
    );
    say!(
        "lost acknowledged writes: {} of {} ({:.3}%), in {} seeds, at most {} in one seed",
        t.lost,
        t.acked,
        100.0 * t.lost as f64 / (t.acked.max(1)) as f64,
        t.seeds_with_loss,
        t.max_lost
    );
    for (kind, seeds) in &mut t.violations {
        // Seeds finish in any order: sorted, so the line is the same each run.
        seeds.sort_unstable();
        // Triage (`--no-shrink`) lists every seed; otherwise the first ten.
        let shown = if no_shrink { seeds.len() } else { 10 };
        let first: Vec<String> = seeds.iter().take(shown).map(u64::to_string).collect();
        let more = if seeds.len() > first.len() { ", ..." } else { "" };
        say!(
            "violations of {kind}: {} seeds ({}{more})",
            seeds.len(),
            first.join(", ")
        );
    }
    let modes: Vec<String> = t.persistence.iter().map(|(m, n)| format!("{m} {n}")).collect();
    say!("node persistence modes (passing seeds): {}", modes.join(", "));
    say!("faults fired (per fault kind: seeds it fired in, times):");
    for kind in FAULT_KINDS {
        let (seeds, times) = t.faults.get(*kind).copied().unwrap_or_default();
        say!("  {kind:<28} {seeds:>7} seeds {times:>9} times");
    }
    print_moves(report);
    print_explored(report);
}

/// The sometimes-assertions of the simulation (`sim::run::explored`):
/// each of the ten failures and the controller's situations, with the
/// runs that hit each, and the ones never hit.
fn print_explored(report: &rehearse::Report) {
    let all: Vec<(&String, &rehearse::AssertionStats)> = report.assertions.iter().collect();
    if all.is_empty() {
        return;
    }
    let hit = all.iter().filter(|(_, a)| a.holds()).count();
    say!(
        "situations explored (sometimes-assertions): {hit} of {} hit; runs that hit each, of {}:",
        all.len(),
        report.runs
    );
    let width = all.iter().map(|(n, _)| n.chars().count()).max().unwrap_or(0);
    for (name, a) in &all {
        if a.never_hit() {
            say!("  {name:<width$}  NEVER HIT ({} evaluations)", a.evaluations);
        } else {
            say!("  {name:<width$}  {:>7} runs ({} times)", a.runs, a.hits);
        }
    }
    for name in report.unmet() {
        say!("required but never hit: {name}");
    }
}

/// Coverage of the machine's listed moves (`machine::TRANSITIONS`): how
/// many the explored seeds took, and the ones never taken.
fn print_moves(report: &rehearse::Report) {
    let counts: Vec<u64> = TRANSITIONS
        .iter()
        .map(|(from, input, to)| {
            report
                .counters
                .get(&move_counter(from, input, to))
                .copied()
                .unwrap_or(0)
        })
        .collect();
    let taken = counts.iter().filter(|n| **n > 0).count();
    say!(
        "machine moves taken: {taken} of {} listed ({} steps in all)",
        TRANSITIONS.len(),
        counts.iter().sum::<u64>()
    );
    for ((from, input, to), _) in TRANSITIONS.iter().zip(&counts).filter(|(_, n)| **n == 0) {
        say!("  never taken: {from} --{input}--> {to}");
    }
}
