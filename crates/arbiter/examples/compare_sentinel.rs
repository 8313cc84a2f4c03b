//! arbiter side by side with Redis Sentinel on real servers: the same
//! faults, the same writer, the same outside-in measurement, and the same
//! application client (redis-py's `Sentinel`, given the controller's
//! Sentinel-protocol addresses; see the `arbiter-testkit` crate's
//! `compare` module). Run it through `scripts/compare-sentinel`.
//!
//! ```sh
//! scripts/compare-sentinel --runs 5
//! scripts/compare-sentinel --faults kill,pause --controllers arbiter
//! ```

use arbiter_testkit::compare;

use std::path::PathBuf;
use std::process::ExitCode;

use compare::{CHECK_INTERVAL_MS, Controller, DOWN_AFTER_MS, Fault, Outcome};

/// `median (min–max)` of `v`, or `never` when empty.
fn median_range(mut v: Vec<u64>) -> String {
    if v.is_empty() {
        return "never".into();
    }
    v.sort_unstable();
    let m = v[v.len() / 2];
    if v[0] == v[v.len() - 1] {
        format!("{m}")
    } else {
        format!("{m} ({}–{})", v[0], v[v.len() - 1])
    }
}

/// One table cell over `runs`, saying how many runs never got there.
fn column(runs: &[Outcome], f: impl Fn(&Outcome) -> Option<u64>) -> String {
    let values: Vec<u64> = runs.iter().filter_map(f).collect();
    let missing = runs.len() - values.len();
    let mut s = median_range(values);
    if missing > 0 && missing < runs.len() {
        s.push_str(&format!(", {missing}× never"));
    }
    s
}

/// [`column`], or `-` when no run has the value (a fault it does not
/// apply to, or no application client).
fn optional(runs: &[Outcome], f: impl Fn(&Outcome) -> Option<u64>) -> String {
    if runs.iter().any(|o| f(o).is_some()) {
        column(runs, f)
    } else {
        "-".into()
    }
}

fn main() -> ExitCode {
    let mut runs = 3usize;
    let mut faults: Vec<Fault> = Fault::ALL.to_vec();
    let mut controllers = vec![Controller::Sentinel, Controller::Arbiter];
    let mut arbiter: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let value = args.next().unwrap_or_default();
        match a.as_str() {
            "--runs" => runs = value.parse().unwrap_or(3),
            "--faults" => {
                faults = value
                    .split(',')
                    .filter_map(|n| Fault::ALL.iter().copied().find(|f| f.name() == n))
                    .collect();
            }
            "--controllers" => {
                controllers = value
                    .split(',')
                    .filter_map(|n| match n {
                        "sentinel" => Some(Controller::Sentinel),
                        "arbiter" => Some(Controller::Arbiter),
                        _ => None,
                    })
                    .collect();
            }
            "--arbiter" => arbiter = Some(value.into()),
            other => {
                eprintln!(
                    "compare_sentinel: unknown argument {other:?} (--runs N, --faults a,b, --controllers c, --arbiter PATH)"
                );
                return ExitCode::from(2);
            }
        }
    }
    let arbiter = compare::arbiter_binary(arbiter);
    if !arbiter.exists() {
        eprintln!(
            "compare_sentinel: no arbiter binary at {} (build it, or pass --arbiter)",
            arbiter.display()
        );
        return ExitCode::from(2);
    }
    eprintln!(
        "down-after {DOWN_AFTER_MS} ms for both; arbiter checks every {CHECK_INTERVAL_MS} ms; {runs} runs per fault and controller"
    );
    let mut table = Vec::new();
    let mut failed = false;
    let mut skipped = std::collections::BTreeSet::new();
    for &fault in &faults {
        for &controller in &controllers {
            let mut done = Vec::new();
            for n in 0..runs {
                match compare::run(controller, fault, &arbiter) {
                    Ok(o) => {
                        eprintln!("{} {} #{n}: {o:?}", fault.name(), controller.name());
                        skipped.extend(o.client_skipped.clone());
                        done.push(o);
                    }
                    Err(e) => {
                        eprintln!("{} {} #{n}: FAILED: {e}", fault.name(), controller.name());
                        failed = true;
                    }
                }
            }
            table.push((fault, controller, done));
        }
    }
    println!(
        "| fault | controller | runs | new primary (ms) | all nodes follow it (ms) | resumed old primary claims primary (ms) | acked writes lost | keys lost after empty restart | client unavailable (ms) | client acked writes lost |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (fault, controller, done) in &table {
        let client = |f: fn(&compare::ClientOutcome) -> Option<u64>| optional(done, |o| o.client.as_ref().and_then(f));
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            fault.name(),
            controller.name(),
            done.len(),
            column(done, |o| o.promoted_ms),
            column(done, |o| o.converged_ms),
            optional(done, |o| o.old_claims_ms),
            median_range(done.iter().map(|o| o.lost).collect()),
            optional(done, |o| o.keys_lost),
            client(|c| c.unavailable_ms),
            client(|c| Some(c.lost)),
        );
    }
    for reason in &skipped {
        eprintln!("compare_sentinel: no application client: {reason}");
    }
    if failed {
        eprintln!("compare_sentinel: some runs failed (above); the table leaves them out");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
