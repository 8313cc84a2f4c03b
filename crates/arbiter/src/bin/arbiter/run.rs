//! `arbiter run`: the controller against real Redis nodes and etcd, with
//! its recording when the configuration asks for one.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use arbiter::{Driver, State};

/// Drives `driver` until the machine stops, logging what it does,
/// answering switchover requests and acknowledging the group's control
/// through the live world `live` gives, and running the role-change hook
/// of `config` when this instance publishes a new primary. None of these
/// is a world call: a recording holds the machine's calls only.
fn drive_live<W: arbiter::world::World>(
    driver: &mut Driver<W>,
    live: impl Fn(&W) -> &arbiter::live::world::LiveWorld,
    config: &arbiter::config::Config,
) -> ExitCode {
    let mut narrator = arbiter::live::log::Narrator::new();
    let mut roles = arbiter::live::hooks::RoleChangeWatcher::new();
    loop {
        let stop = driver.step_once();
        narrator.observe(driver.machine());
        for answer in narrator.take_switchover_answers() {
            live(driver.world()).answer_switchover(&answer);
        }
        let ctx = driver.machine().context();
        if let (Some(epoch), Some(instance)) = (ctx.epoch, &ctx.instance) {
            live(driver.world()).acknowledge_control(epoch, instance);
        }
        if let Some(change) = roles.observe(driver.machine(), &config.live.prefix) {
            arbiter::live::hooks::spawn_role_change(&config.hooks, change);
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
    warn_per_host_settings(&config);
    let source = ConfigSource::File {
        path: path.clone(),
        load: arbiter::config::load_group,
    };
    if !config.record.enabled {
        let world = LiveWorld::new(config.live.clone(), source, shutdown).with_running_config(config.clone());
        return drive_live(&mut Driver::new(world), |w| w, &config);
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
        &config,
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

/// Warns at start that `settings.paused` and `settings.allow_data_loss`
/// in this host's file hold for this instance only (while it leads), and
/// names the commands that set them for the group.
fn warn_per_host_settings(config: &arbiter::config::Config) {
    let settings = &config.group.settings;
    if settings.paused {
        tracing::warn!(
            target: "arbiter",
            "settings.paused = true in this host's file pauses this instance only, while it leads: another instance that takes over acts; pause the group with `arbiter pause`"
        );
    }
    if settings.allow_data_loss {
        tracing::warn!(
            target: "arbiter",
            "settings.allow_data_loss = true in this host's file allows every failover that loses data while this instance leads, and no other instance's; for one failover of the group use `arbiter allow-data-loss --once`"
        );
    }
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
