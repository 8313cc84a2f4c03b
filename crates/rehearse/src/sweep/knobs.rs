//! The `REHEARSE_*` environment knobs and the defaults they override:
//! seeds, shards, time budget, threads, where failures go and how to re-run.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Sweep;

/// Environment variables that override a sweep, for long runs in CI jobs.
pub(super) mod env {
    /// Run one seed only (`REHEARSE_SEED=42`).
    pub(crate) const SEED: &str = "REHEARSE_SEED";
    /// Override the seed range (`REHEARSE_SEEDS=100000` or `5000..6000`).
    pub(crate) const SEEDS: &str = "REHEARSE_SEEDS";
    /// Override the time budget (`REHEARSE_TIME=10m`).
    pub(crate) const TIME: &str = "REHEARSE_TIME";
    /// Stop at the N-th failing seed, in seed order (`REHEARSE_STOP_AFTER=3`).
    pub(crate) const STOP_AFTER: &str = "REHEARSE_STOP_AFTER";
    /// Run shard `i` of `n` (1-based, `REHEARSE_SHARD=2/4`), like nextest partitions.
    pub(crate) const SHARD: &str = "REHEARSE_SHARD";
    /// Re-run a saved (shrunk) scenario's choices (`REHEARSE_REPLAY=path.ron`).
    pub(crate) const REPLAY: &str = "REHEARSE_REPLAY";
    /// Worker threads (`REHEARSE_THREADS=4`).
    pub(crate) const THREADS: &str = "REHEARSE_THREADS";
    /// Where failures are saved (default: `target/rehearse`).
    pub(crate) const DIR: &str = "REHEARSE_DIR";
    /// Write the sweep's report as JSON to this file (`REHEARSE_REPORT=shard-2.json`).
    pub(crate) const REPORT: &str = "REHEARSE_REPORT";
    /// The size limit of each run's tapes (`REHEARSE_TAPE_LIMIT=256M`, `off`).
    pub(crate) const TAPE_LIMIT: &str = "REHEARSE_TAPE_LIMIT";
    /// Fail the sweep when a `sometimes!` or `reachable!` was never hit
    /// (`REHEARSE_REQUIRE_SOMETIMES=1`, `0` to turn it off).
    pub(crate) const REQUIRE_SOMETIMES: &str = "REHEARSE_REQUIRE_SOMETIMES";
    /// Coverage-guided steering on or off (`REHEARSE_STEER=on`, `off`).
    pub(crate) const STEER: &str = "REHEARSE_STEER";
    /// Set: a steered sweep prints, per slot, what it ran (its fresh seed,
    /// or which corpus entry it forked and where) and what the run did
    /// (failed, rarity, new keys), on stderr, to see what forks do.
    pub(crate) const STEER_TRACE: &str = "REHEARSE_STEER_TRACE";
    /// `legacy`: shrink with the shrinker before issue 18, the baseline
    /// `scripts/bench-shrink` compares with (`REHEARSE_SHRINKER=legacy`).
    pub(crate) const SHRINKER: &str = "REHEARSE_SHRINKER";
    /// Set: the shrinker prints, per pass of each round, its attempts and
    /// what it removed (on stderr), to see where shrinking spends its runs.
    pub(crate) const SHRINK_DEBUG: &str = "REHEARSE_SHRINK_DEBUG";
}

/// An on/off knob: `1`, `true`, `yes`, `on`, or `0`, `false`, `no`, `off`.
pub(super) fn parse_switch(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        other => Err(format!("`{other}` is not on or off (use 1 or 0)")),
    }
}

/// `REHEARSE_REQUIRE_SOMETIMES`: `Ok(None)` when not set.
pub(super) fn require_sometimes_from_env() -> Result<Option<bool>, String> {
    env_or(env::REQUIRE_SOMETIMES, parse_switch)
}

/// A size in bytes: a number, optionally followed by `K`, `M` or `G`
/// (binary multiples: `64M` is 64 MiB); `off` for no limit.
pub(super) fn parse_bytes(text: &str) -> Result<Option<u64>, String> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let (digits, shift) = match text.char_indices().last() {
        Some((at, 'K' | 'k')) => (&text[..at], 10),
        Some((at, 'M' | 'm')) => (&text[..at], 20),
        Some((at, 'G' | 'g')) => (&text[..at], 30),
        _ => (text, 0),
    };
    let n: u64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a size (bytes, or a number with K, M or G, like 256M; or off)"))?;
    n.checked_mul(1 << shift)
        .map(Some)
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// `REHEARSE_STEER`: `on`/`off` (also `1`/`0`, `true`/`false`);
/// `Ok(None)` when not set.
pub(super) fn steer_from_env() -> Result<Option<bool>, String> {
    env_or(env::STEER, |s| match s.trim().to_ascii_lowercase().as_str() {
        "on" | "1" | "true" => Ok(true),
        "off" | "0" | "false" => Ok(false),
        _ => Err("use on or off".into()),
    })
}

/// `REHEARSE_TAPE_LIMIT`: `Ok(None)` when not set.
pub(super) fn tape_limit_from_env() -> Result<Option<Option<u64>>, String> {
    env_or(env::TAPE_LIMIT, parse_bytes)
}

pub(super) fn parse_seed_range(text: &str) -> Result<Range<u64>, String> {
    let text = text.trim();
    if let Some((a, b)) = text.split_once("..") {
        let a: u64 = a.trim().parse().map_err(|e| format!("bad range start `{a}`: {e}"))?;
        let b: u64 = b.trim().parse().map_err(|e| format!("bad range end `{b}`: {e}"))?;
        if b <= a {
            return Err(format!(
                "the range `{text}` holds no seed (it runs from {a} up to {b}, not including it)"
            ));
        }
        Ok(a..b)
    } else {
        let n: u64 = text
            .parse()
            .map_err(|e| format!("`{text}` is not a count or a range a..b: {e}"))?;
        if n == 0 {
            return Err("a count of 0 seeds runs nothing".to_string());
        }
        Ok(0..n)
    }
}

/// A count of failures to stop after: a whole number above 0.
pub(super) fn parse_stop_after(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(0) => Err("0 failures: use 1 or more (unset it to run every seed)".to_string()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("`{}` is not a count of failures: {e}", text.trim())),
    }
}

pub(super) fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let (i, n) = text
        .split_once('/')
        .ok_or_else(|| format!("`{text}` is not a shard i/n (1-based, like 2/4)"))?;
    let i: u64 = i.trim().parse().map_err(|e| format!("bad shard index `{i}`: {e}"))?;
    let n: u64 = n.trim().parse().map_err(|e| format!("bad shard count `{n}`: {e}"))?;
    if n == 0 || i == 0 || i > n {
        return Err(format!("shard {i}/{n} is out of range: use 1..={n}/{n}"));
    }
    Ok((i - 1, n))
}

/// A knob from the environment. A typo in a knob for a long CI run must
/// not silently run the default: it is an error naming the variable.
fn env_or<T>(name: &str, parse: impl Fn(&str) -> Result<T, String>) -> Result<Option<T>, String> {
    let Ok(value) = std::env::var(name) else {
        return Ok(None);
    };
    parse(&value).map(Some).map_err(|e| format!("{name}={value:?}: {e}"))
}

/// `target/rehearse` of the workspace holding the current directory.
pub(super) fn default_out_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(env::DIR) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join("rehearse");
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    // The workspace root is the nearest directory with a Cargo.lock.
    let root = cwd
        .ancestors()
        .find(|d| d.join("Cargo.lock").exists())
        .map_or(cwd.clone(), Path::to_path_buf);
    root.join("target").join("rehearse")
}

/// How the user would re-run this: the test name when run by the test
/// harness, the example name, or the executable.
pub(super) fn default_command() -> String {
    let thread = std::thread::current();
    let exe = std::env::current_exe().ok();
    let in_examples = exe
        .as_ref()
        .and_then(|e| e.parent())
        .is_some_and(|p| p.file_name().is_some_and(|n| n == "examples"));
    match (thread.name(), &exe) {
        (Some(name), _) if name != "main" => format!("cargo test -- {name} --exact"),
        (_, Some(exe)) if in_examples => {
            let stem = exe
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            format!("cargo run --release --example {stem}")
        }
        (_, Some(exe)) => exe.display().to_string(),
        _ => "<this program>".to_string(),
    }
}

/// The seeds one sweep runs, in order, after the knobs had their say:
/// saved regressions first, then this shard's part of the range (or the one
/// seed of `REHEARSE_SEED`).
#[derive(Debug)]
pub(super) struct Plan {
    /// `REHEARSE_SEED`: run this seed only.
    pub(super) single: Option<u64>,
    /// Seeds of the regressions file (this shard's part), run first.
    pub(super) regressions: Vec<u64>,
    /// The seed range, after `REHEARSE_SEEDS`.
    pub(super) range: Range<u64>,
    /// 0-based shard index and shard count.
    pub(super) shard: (u64, u64),
    /// Seeds to run in all.
    pub(super) total: u64,
    pub(super) budget: Option<Duration>,
    pub(super) threads: usize,
    /// `REHEARSE_STOP_AFTER` or [`Sweep::stop_after`]: the sweep ends at
    /// its N-th failing seed (in the order seeds are planned).
    pub(super) stop_after: Option<u64>,
}

impl Plan {
    /// Reads the knobs (a bad one is an error naming it), then the
    /// regressions file.
    pub(super) fn resolve(sweep: &Sweep) -> Result<Self, String> {
        let single = env_or(env::SEED, |s| s.trim().parse::<u64>().map_err(|e| e.to_string()))?;
        let range = env_or(env::SEEDS, parse_seed_range)?;
        let budget = env_or(env::TIME, |s| {
            humantime::parse_duration(s.trim()).map_err(|e| e.to_string())
        })?;
        let shard = env_or(env::SHARD, parse_shard)?;
        let threads = env_or(env::THREADS, |s| s.trim().parse::<usize>().map_err(|e| e.to_string()))?;
        let stop_after = match env_or(env::STOP_AFTER, parse_stop_after)? {
            Some(n) => Some(n),
            None if sweep.stop_after == Some(0) => {
                return Err("stop_after(0): stop after 0 failures? Use 1 or more".to_string());
            }
            None => sweep.stop_after,
        };
        let range = range.unwrap_or_else(|| sweep.seeds.clone());
        let (shard, shards) = shard.unwrap_or(sweep.shard);
        // Shards split the regressions file as they split the range, so
        // that shards run each seed once between them.
        let regressions = if single.is_some() {
            Vec::new()
        } else {
            let all = sweep.read_regressions();
            all.into_iter()
                .enumerate()
                .filter(|(i, _)| *i as u64 % shards == shard)
                .map(|(_, s)| s)
                .collect()
        };
        let range_len = if range.end > range.start + shard {
            (range.end - range.start - shard).div_ceil(shards)
        } else {
            0
        };
        let total = match single {
            Some(_) => 1,
            None => regressions.len() as u64 + range_len,
        };
        Ok(Self {
            single,
            regressions,
            range,
            shard: (shard, shards),
            total,
            budget: budget.or(sweep.time_budget),
            threads: threads
                .or(sweep.threads)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
                .max(1),
            stop_after,
        })
    }

    /// The `i`-th seed to run.
    pub(super) fn seed_at(&self, i: u64) -> Option<u64> {
        if let Some(s) = self.single {
            return (i == 0).then_some(s);
        }
        match self.regressions.get(i as usize) {
            Some(s) => Some(*s),
            None => self.in_range(i - self.regressions.len() as u64),
        }
    }

    /// The `i`-th seed of this shard's part of the range.
    fn in_range(&self, i: u64) -> Option<u64> {
        let (shard, shards) = self.shard;
        let seed = self
            .range
            .start
            .checked_add(i.checked_mul(shards)?.checked_add(shard)?)?;
        (seed < self.range.end).then_some(seed)
    }
}
