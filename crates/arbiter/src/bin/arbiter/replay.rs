//! `arbiter replay`: a recorded scenario drives the controller; its
//! decisions and final state are printed, or the first divergence. A file
//! a rotating recording started after its first begins with a snapshot of
//! the machine, and the replay resumes from it.

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
    let mut driver = match Driver::for_recording(replayer.clone()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("arbiter: {e}");
            return ExitCode::from(2);
        }
    };
    let resumed_in = driver.resumed().then(|| driver.machine().state().name());
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
    if let Some(state) = resumed_in {
        say!("  resumed in {state} from the machine's snapshot (call 0: a rotated recording's later file)");
    }
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
