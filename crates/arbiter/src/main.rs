//! The `arbiter` command line.

use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;

use arbiter::{Driver, Output, State};
use clap::{Parser, Subcommand};

/// A failover controller for Redis primary/replica groups.
#[derive(Debug, Parser)]
#[command(name = "arbiter", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay a recorded scenario: drive the controller with it and report
    /// its decisions and final state, or the first divergence.
    ///
    /// Exit codes: 0 replayed, 1 diverged or the machine failed, 2 the
    /// scenario file is unreadable.
    #[command(after_help = "Example:\n  arbiter replay crates/arbiter/tests/scenarios/failover.ron")]
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

fn is_decision(o: &Output) -> bool {
    matches!(
        o,
        Output::Publish { .. }
            | Output::Promote { .. }
            | Output::Repoint { .. }
            | Output::Switchover { .. }
            | Output::Resign { .. }
    )
}

fn replay(scenario: PathBuf, max_steps: u64, all: bool) -> ExitCode {
    let replayer = match rehearse::Replayer::open(&scenario) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("arbiter: {e}");
            return ExitCode::from(2);
        }
    };
    let watch = replayer.clone();
    let mut driver = Driver::new(replayer.clone());
    // A divergence panics inside the world call; report it, not the panic.
    panic::set_hook(Box::new(|_| {}));
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        driver.run_until(max_steps, |_| watch.position() == watch.len())
    }));
    let _ = panic::take_hook();
    let outputs: Vec<&Output> = driver.outputs().iter().filter(|o| all || is_decision(o)).collect();
    println!(
        "{} ({} calls, {} steps)",
        scenario.display(),
        replayer.position(),
        driver.steps()
    );
    for o in &outputs {
        println!("  {o:?}");
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
    println!("final state: {state:?}");
    if let Some(record) = &driver.machine().context().record {
        println!("group record: primary {} (epoch {})", record.primary, record.epoch);
    }
    if let Some(blocked) = &driver.machine().context().blocked {
        println!("not acting: {blocked:?}");
    }
    if matches!(state, State::Failure { .. }) {
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
    }
}
