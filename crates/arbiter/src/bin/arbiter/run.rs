//! `arbiter run`: the controller against real Redis nodes and etcd, with
//! its recording when the configuration asks for one.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use arbiter::{Driver, State};

/// Drives `driver` until the machine stops, logging what it does and
/// answering switchover requests through the live world `live` gives;
/// `between` runs between two steps (the recording's rotation).
fn drive_live<W: arbiter::world::World>(
    driver: &mut Driver<W>,
    live: impl Fn(&W) -> &arbiter::live::world::LiveWorld,
    mut between: impl FnMut(&mut Driver<W>),
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
            Ok(None) => between(driver),
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

/// `arbiter run --config PATH`.
pub(crate) fn run_live(path: PathBuf, log_format: arbiter::live::log::LogFormat) -> ExitCode {
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
        return drive_live(&mut Driver::new(world), |w| w, |_| {});
    }
    let process = arbiter::live::world::process_label();
    let header = rehearse::Tape::options()
        .world("arbiter")
        .meta("config", path.display().to_string())
        .meta("process", process.clone());
    // Locks the file (another process given the same file refuses to
    // start instead of truncating it) and moves an earlier run's file aside.
    let mut recording = match arbiter::recording::Recording::start(
        config.record.path_for(&process),
        config.record.max_bytes,
        config.record.keep as usize,
        header,
    ) {
        Ok(r) => r,
        Err(e) => {
            error!(target: "arbiter", error = %e, "cannot record");
            return ExitCode::from(2);
        }
    };
    info!(
        target: "arbiter",
        path = %recording.path().display(),
        max_bytes = config.record.max_bytes,
        keep = config.record.keep,
        "recording"
    );
    if let Some(earlier) = recording.earlier_file() {
        info!(target: "arbiter", path = %earlier.display(), "the earlier run's recording was moved aside");
    }
    let world = LiveWorld::new(config.live.clone(), source, shutdown).with_running_config(config.clone());
    let mut driver = Driver::new(rehearse::Recorder::new(world, recording.tape().clone()));
    let code = drive_live(&mut driver, rehearse::Recorder::inner, |driver| {
        match recording.after_step(driver) {
            Ok(None) => {}
            Ok(Some(rotated)) => info!(
                target: "arbiter",
                finished = %rotated.finished.as_deref().map_or("(removed: record.keep = 0)".into(), |p| p.display().to_string()),
                calls = rotated.calls,
                part = rotated.part,
                path = %recording.path().display(),
                "recording rotated"
            ),
            Err(e) => error!(target: "arbiter", error = %e, "cannot rotate the recording"),
        }
    });
    let record_path = recording.path().to_path_buf();
    match recording.finish() {
        Ok(calls) => {
            info!(target: "arbiter", calls, path = %record_path.display(), "recorded");
            code
        }
        Err(e) => {
            error!(target: "arbiter", error = %e, "the recording is incomplete");
            ExitCode::from(1)
        }
    }
}
