//! `arbiter replay`: a recorded scenario drives the controller; its
//! decisions and final state are printed, or the first divergence.

use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::process::ExitCode;

use arbiter::{Driver, Output, State};

/// `arbiter replay SCENARIO`.
pub(crate) fn replay(scenario: PathBuf, max_steps: u64, all: bool) -> ExitCode {
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
