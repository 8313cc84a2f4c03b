//! The `arbiter` command line.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arbiter::sim::model::Persistence;
use arbiter::sim::run::{FAULT_KINDS, FaultKind, Profile, SimOptions, run_report, run_with_timeline};

use arbiter::{Driver, Output, State};
use clap::{Parser, Subcommand};

/// Set once stdout is closed (`arbiter status | head -3`): printing stops
/// quietly and the command finishes with its own exit code.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes one line to stdout. A closed pipe is not an error (nobody reads
/// any more): this and every later line are dropped, where `println!`
/// would panic.
fn say_line(args: std::fmt::Arguments<'_>) {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
    if let Err(e) = written {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("arbiter: cannot write to stdout: {e}");
        }
    }
}

/// `println!` that survives a closed stdout (see [`say_line`]).
macro_rules! say {
    ($($arg:tt)*) => {
        say_line(format_args!($($arg)*))
    };
}

/// A failover controller for Redis primary/replica groups.
#[derive(Debug, Parser)]
#[command(name = "arbiter", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sweep seeds of the simulated world (3 Redis nodes, etcd, 3 arbiter
    /// instances, a client, faults), checking the invariants after every
    /// step; save, shrink and print the replay command of any failure.
    ///
    /// Exit codes: 0 no violation, 1 violations found, 2 bad arguments.
    #[command(
        after_help = "Examples:\n  arbiter simulate --seeds 10000\n  arbiter simulate --time 60s --faults net.partition,redis.crash\n  arbiter simulate --seed 42"
    )]
    Simulate(SimulateArgs),
    /// Run the controller against real Redis nodes and etcd, as configured
    /// in a TOML file (see `arbiter::config` for every field). SIGINT or
    /// SIGTERM resigns leadership and flushes the recording.
    ///
    /// Exit codes: 0 stopped on a signal, 1 the controller stopped on its
    /// own (refused or failed), 2 bad configuration.
    ///
    /// Logs go to stderr, filtered by `ARBITER_LOG` (default `info`; e.g.
    /// `ARBITER_LOG=debug`).
    #[command(
        after_help = "Examples:\n  arbiter run --config /etc/arbiter/arbiter.toml\n  ARBITER_LOG=warn arbiter run --config arbiter.toml --log-format json"
    )]
    Run {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
        /// How log events are written to stderr.
        #[arg(long, value_enum, default_value_t)]
        log_format: arbiter::live::log::LogFormat,
    },
    /// Print the group as it is: the leader and its epoch, the group
    /// record, and every node's role, replication link and offset.
    ///
    /// Exit codes: 0 everything answered, 1 etcd or a node did not, 2 bad
    /// configuration.
    #[command(after_help = "Example:\n  arbiter status --config /etc/arbiter/arbiter.toml")]
    Status {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
    /// Replay a recorded scenario: drive the controller with it and report
    /// its decisions and final state, or the first divergence.
    ///
    /// Exit codes: 0 replayed, 1 diverged or the machine failed, 2 the
    /// scenario file is unreadable.
    #[command(after_help = "Example:\n  arbiter replay scenarios/failover.ron")]
    Replay {
        /// The scenario file.
        scenario: PathBuf,
        /// Stop after this many machine steps.
        #[arg(long, default_value_t = 1_000_000)]
        max_steps: u64,
        /// Print every output, not only the decisions.
        #[arg(long)]
        all: bool,
    },
}

/// Drives `driver` until the machine stops, logging what it does and
/// answering switchover requests through the live world `live` gives.
fn drive_live<W: arbiter::world::World>(
    driver: &mut Driver<W>,
    live: impl Fn(&W) -> &arbiter::live::world::LiveWorld,
) -> ExitCode {
    let mut narrator = arbiter::live::log::Narrator::new();
    loop {
        let stop = driver.step_once();
        narrator.observe(driver.machine());
        for answer in narrator.take_switchover_answers() {
            live(driver.world()).answer_switchover(&answer);
        }
        driver.clear_outputs();
        match stop {
            Ok(None) => {}
            Ok(Some(_)) => break,
            Err(e) => {
                tracing::error!(target: "arbiter", error = %e, "the controller stopped");
                return ExitCode::from(1);
            }
        }
    }
    match driver.machine().state() {
        State::Stopped => ExitCode::SUCCESS,
        _ => ExitCode::from(1),
    }
}

fn run_live(path: PathBuf, log_format: arbiter::live::log::LogFormat) -> ExitCode {
    use arbiter::live::world::{ConfigSource, LiveWorld};
    use std::sync::Arc;
    use tracing::{error, info};

    if let Err(e) = arbiter::live::log::init(log_format) {
        eprintln!("arbiter: cannot log: {e}");
        return ExitCode::from(2);
    }
    let config = match arbiter::config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            error!(target: "arbiter", error = %e, "bad configuration");
            return ExitCode::from(2);
        }
    };
    let shutdown = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&shutdown);
    if let Err(e) = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)) {
        error!(target: "arbiter", error = %e, "cannot handle signals");
        return ExitCode::from(2);
    }
    info!(
        target: "arbiter",
        config = %path.display(),
        nodes = config.group.nodes.len(),
        etcd = %config.live.etcd.join(","),
        prefix = %config.live.prefix,
        "starting"
    );
    let source = ConfigSource::File {
        path: path.clone(),
        load: arbiter::config::load_group,
    };
    if !config.record.enabled {
        let world = LiveWorld::new(config.live.clone(), source, shutdown).with_running_config(config);
        return drive_live(&mut Driver::new(world), |w| w);
    }
    let record_path = config.record.path_for(&arbiter::live::world::process_label());
    // Held until the recording is finished: another process given the
    // same file refuses to start instead of truncating it.
    let _lock = match lock_recording(&record_path) {
        Ok(lock) => lock,
        Err(e) => {
            error!(target: "arbiter", error = %e, "cannot record");
            return ExitCode::from(2);
        }
    };
    let tape = match rehearse::Tape::options()
        .world("arbiter")
        .meta("config", path.display().to_string())
        .create(&record_path)
    {
        Ok(t) => t,
        Err(e) => {
            error!(target: "arbiter", error = %e, "cannot record");
            return ExitCode::from(2);
        }
    };
    info!(target: "arbiter", path = %record_path.display(), "recording");
    let world = LiveWorld::new(config.live.clone(), source, shutdown).with_running_config(config.clone());
    let code = drive_live(
        &mut Driver::new(rehearse::Recorder::new(world, tape.clone())),
        rehearse::Recorder::inner,
    );
    if let Err(e) = tape.finish() {
        error!(target: "arbiter", error = %e, "the recording is incomplete");
        return ExitCode::from(1);
    }
    info!(
        target: "arbiter",
        calls = tape.len(),
        path = %record_path.display(),
        "recorded"
    );
    code
}

/// Opens `path` (without truncating it) and takes an exclusive lock on it,
/// held as long as the returned file lives; an error naming the file when
/// another process holds it.
fn lock_recording(path: &std::path::Path) -> Result<std::fs::File, String> {
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| format!("record.path: cannot open {}: {e}", path.display()))?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(format!(
            "record.path: {} is being recorded by another running process (it holds the file's lock); \
             give each instance its own file with {} in record.path, e.g. \"arbiter-{}.ron\"",
            path.display(),
            arbiter::config::INSTANCE_PLACEHOLDER,
            arbiter::config::INSTANCE_PLACEHOLDER,
        )),
        Err(e) => Err(format!("record.path: cannot lock {}: {e}", path.display())),
    }
}

fn status(path: PathBuf) -> ExitCode {
    use arbiter::live::etcd::Etcd;
    use arbiter::live::redis::RedisNodes;
    use arbiter::types::{GroupRecord, RedisError, Role};

    let config = match arbiter::config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("arbiter: {e}");
            return ExitCode::from(2);
        }
    };
    let mut healthy = true;
    let keys = arbiter::live::keys::Keys::new(&config.live.prefix);
    let prefix = keys.prefix();
    let etcd = Etcd::new(config.live.etcd.clone(), config.live.timeout);
    say!("group {prefix} (etcd {})", config.live.etcd.join(", "));
    match etcd.get_prefix(&keys.election()) {
        Ok(c) => match c.first() {
            Some(leader) => say!("leader: {} (epoch {})", leader.value, leader.create_revision),
            None => say!("leader: none"),
        },
        Err(e) => {
            healthy = false;
            say!("leader: unknown ({e})");
        }
    }
    match etcd.get(&keys.record(), false) {
        Ok(Some(kv)) => match serde_json::from_str::<GroupRecord>(&kv.value) {
            Ok(r) if r.lost_data => say!(
                "record: primary {} (epoch {}), lost data (the other copies are kept from resyncing from it until every node answers holding no more keys than it)",
                r.primary,
                r.epoch
            ),
            Ok(r) => say!("record: primary {} (epoch {})", r.primary, r.epoch),
            Err(e) => say!("record: unreadable ({e}): {}", kv.value),
        },
        Ok(None) => say!("record: none yet"),
        Err(e) => {
            healthy = false;
            say!("record: unknown ({e})");
        }
    }
    let redis = RedisNodes::new(config.live.timeout, config.live.password.clone());
    for node in &config.group.nodes {
        let what = match redis.status(&node.addr) {
            Ok(s) => {
                let role = match &s.role {
                    Role::Primary => "primary".to_string(),
                    Role::Replica {
                        primary,
                        link_up,
                        link_down_ms,
                    } => match (link_up, link_down_ms) {
                        (true, _) => format!("replica of {primary} (link up)"),
                        (false, Some(ms)) if *ms < u64::MAX => {
                            format!("replica of {primary} (link down for {} s)", ms / 1000)
                        }
                        (false, _) => format!("replica of {primary} (link down)"),
                    },
                };
                let keys = s.keys.map_or_else(String::new, |k| format!(", keys {k}"));
                format!("{role}, offset {}{keys}, run id {}", s.offset, s.run_id)
            }
            Err(e) => {
                healthy = false;
                match e {
                    // Already say what happened ("unreachable: ...",
                    // "authentication failed: ...").
                    RedisError::Unreachable(_) | RedisError::Auth(_) => e.to_string(),
                    _ => format!("unreachable: {e}"),
                }
            }
        };
        say!("{} {}: {what}", node.name, node.addr);
    }
    if healthy { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

fn replay(scenario: PathBuf, max_steps: u64, all: bool) -> ExitCode {
    let replayer = match rehearse::Replayer::open(&scenario) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("arbiter: {e}");
            return ExitCode::from(2);
        }
    };
    let mut driver = Driver::new(replayer.clone());
    // A divergence panics inside the world call; report it, not the panic.
    panic::set_hook(Box::new(|_| {}));
    let result = panic::catch_unwind(AssertUnwindSafe(|| driver.run_to_end_of_recording(max_steps)));
    let _ = panic::take_hook();
    let outputs: Vec<&Output> = driver.outputs().iter().filter(|o| all || o.is_decision()).collect();
    say!(
        "{} ({} calls, {} steps)",
        scenario.display(),
        replayer.position(),
        driver.steps()
    );
    for o in &outputs {
        say!("  {o:?}");
    }
    match result {
        Err(payload) => {
            let text = payload
                .downcast_ref::<String>()
                .cloned()
                .unwrap_or_else(|| "the replay panicked".into());
            eprintln!("{text}");
            return ExitCode::from(1);
        }
        Ok(Err(e)) => {
            eprintln!("arbiter: {e}");
            return ExitCode::from(1);
        }
        Ok(Ok(_)) => {}
    }
    if let Err(d) = replayer.finish() {
        eprintln!("{d}");
        return ExitCode::from(1);
    }
    let state = driver.machine().state();
    say!("final state: {state:?}");
    if let Some(record) = &driver.machine().context().record {
        say!("group record: primary {} (epoch {})", record.primary, record.epoch);
    }
    if let Some(blocked) = &driver.machine().context().blocked {
        say!("not acting: {blocked:?}");
    }
    if matches!(state, State::Failure { .. }) {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

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
struct SimulateArgs {
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
    /// Plant bugs to see the sweep find them (needs the `planted-bugs`
    /// feature): skip-fencing, promote-most-lagging, forget-old-primary,
    /// trust-stale-read, no-debounce, resync-from-empty.
    #[arg(long, value_delimiter = ',')]
    plant: Vec<String>,
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

fn simulate(a: SimulateArgs) -> ExitCode {
    let mut opts = if a.before_issue_22 {
        SimOptions::before_issue_22()
    } else {
        SimOptions::default()
    };
    if let Some(faults) = &a.faults {
        match FaultKind::parse_all(faults) {
            Ok(kinds) => opts.faults = Some(kinds.into_iter().collect::<BTreeSet<_>>()),
            Err(e) => {
                eprintln!("arbiter: {e}");
                return ExitCode::from(2);
            }
        }
    }
    match Profile::named(&a.profile) {
        Some(p) => opts.profile = p,
        None => {
            eprintln!(
                "arbiter: unknown profile {:?}; known: {}",
                a.profile,
                Profile::NAMES.join(", ")
            );
            return ExitCode::from(2);
        }
    }
    if let Some(modes) = &a.persistence {
        let mut chosen = Vec::new();
        for m in modes {
            match Persistence::ALL.into_iter().find(|p| p.name() == m) {
                Some(p) => chosen.push(p),
                None => {
                    eprintln!("arbiter: unknown persistence mode {m:?}; known: off, rdb, aof");
                    return ExitCode::from(2);
                }
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
            Some(_) => {
                eprintln!("arbiter: --plant needs a build with `--features planted-bugs`");
                return ExitCode::from(2);
            }
            None => {
                eprintln!("arbiter: unknown bug {name:?}");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(seed) = a.seed {
        // The readable timeline of the one seed (the sweep below saves,
        // checks and shrinks it as usual).
        let sim = rehearse::Sim::new(seed);
        let (result, events) = run_with_timeline(&sim, &opts);
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
    let totals = Mutex::new(Totals::default());
    let mut sweep = rehearse::Sweep::new("arbiter")
        .command("cargo run --release -p arbiter -- simulate")
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
    let report = sweep.quiet().run(|sim| {
        let detail = run_report(sim, &opts);
        let result = detail.result;
        if sim.phase() != rehearse::Phase::Explore {
            return result.map(|_| ());
        }
        let mut t = totals.lock().unwrap_or_else(|e| e.into_inner());
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
            let e = t.faults.entry(kind.to_string()).or_default();
            e.0 += 1;
            e.1 += n;
        }
        if let Ok(o) = &result {
            for p in &o.persistence {
                *t.persistence.entry(p.name()).or_default() += 1;
            }
        }
        match &result {
            Ok(o) => {
                t.sim_ms += o.sim_ms;
                t.failovers += o.failovers;
                t.switchovers += o.switchovers;
                t.acked += o.acked as u64;
                t.lost += o.lost as u64;
                t.seeds_with_loss += u64::from(o.lost > 0);
                t.max_lost = t.max_lost.max(o.lost as u64);
            }
            Err(f) => t.violations.entry(f.kind().to_string()).or_default().push(sim.seed()),
        }
        result.map(|_| ())
    });
    let mut t = totals.into_inner().unwrap_or_else(|e| e.into_inner());
    let hours = t.sim_ms as f64 / 3_600_000.0;
    say!(
        "arbiter simulate: {} seeds in {:.1}s",
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
        let shown = if a.no_shrink { seeds.len() } else { 10 };
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
    if report.failed_runs > 0 {
        say!("{}", report.to_string().trim_end());
        for f in &report.failures {
            for p in f.named_traces.iter().take(3) {
                say!("  replay one instance: cargo run -p arbiter -- replay {}", p.display());
            }
        }
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Replay {
            scenario,
            max_steps,
            all,
        } => replay(scenario, max_steps, all),
        Command::Simulate(args) => simulate(args),
        Command::Run { config, log_format } => run_live(config, log_format),
        Command::Status { config } => status(config),
    }
}
