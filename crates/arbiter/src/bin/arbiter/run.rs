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
/// `between` runs between two steps (the recording's rotation).
fn drive_live<W: arbiter::world::World>(
    driver: &mut Driver<W>,
    live: impl Fn(&W) -> &arbiter::live::world::LiveWorld,
    config: &arbiter::config::Config,
    mut between: impl FnMut(&mut Driver<W>),
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
    let ports = match start_ports(&config, &shutdown) {
        Ok(ports) => ports,
        Err(e) => {
            error!(target: "arbiter", error = %e, "cannot serve clients");
            return ExitCode::from(2);
        }
    };
    let code = run_world(path, config, Arc::clone(&shutdown));
    // The controller has stopped, by a signal or an error: so do the ports.
    shutdown.store(true, Ordering::SeqCst);
    ports.stop();
    code
}

/// Drives the controller on the live world (recording it when the
/// configuration asks) until it stops.
fn run_world(path: PathBuf, config: arbiter::config::Config, shutdown: std::sync::Arc<AtomicBool>) -> ExitCode {
    use arbiter::live::world::{ConfigSource, LiveWorld};
    use tracing::{error, info};

    let source = ConfigSource::File {
        path: path.clone(),
        load: arbiter::config::load_group,
    };
    if !config.record.enabled {
        let world = LiveWorld::new(config.live.clone(), source, shutdown).with_running_config(config.clone());
        return drive_live(&mut Driver::new(world), |w| w, &config, |_| {});
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
    let code = drive_live(
        &mut driver,
        rehearse::Recorder::inner,
        &config,
        |driver| match recording.after_step(driver) {
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
        },
    );
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

/// What this instance serves to clients, fed by one follower: started
/// once for every port that needs the group's view (the Sentinel
/// protocol; an HTTP server would be one more `Option` here).
struct Ports {
    follower: Option<std::thread::JoinHandle<()>>,
    sentinel: Option<arbiter::live::sentinel::Server>,
}

impl Ports {
    /// Waits for the follower (which resigns its registration) and the
    /// servers to stop; the shutdown flag must be set.
    fn stop(self) {
        if let Some(server) = self.sentinel {
            server.join();
        }
        if let Some(follower) = self.follower {
            let _ = follower.join();
        }
    }
}

/// Starts the follower of this instance's group, registered as `member`,
/// its events naming the group `master_name` (Sentinel's default name
/// when `None`); it runs until `shutdown` is set. Every port that answers
/// clients shares the returned view, so it is started once for all.
fn start_follower(
    config: &arbiter::config::Config,
    master_name: Option<&str>,
    member: arbiter::live::follow::Member,
    shutdown: &std::sync::Arc<AtomicBool>,
) -> std::io::Result<(
    std::sync::Arc<arbiter::live::follow::Shared>,
    std::thread::JoinHandle<()>,
)> {
    use arbiter::live::follow::{FollowOptions, Shared, spawn};
    let name = master_name.unwrap_or(arbiter::live::sentinel::DEFAULT_MASTER_NAME);
    let shared = std::sync::Arc::new(Shared::default());
    let handle = spawn(
        FollowOptions::new(config, name, member),
        config.group.clone(),
        std::sync::Arc::clone(&shared),
        std::sync::Arc::clone(shutdown),
    )?;
    Ok((shared, handle))
}

/// Starts the follower and the servers the configuration asks for
/// (none: nothing is started).
fn start_ports(config: &arbiter::config::Config, shutdown: &std::sync::Arc<AtomicBool>) -> Result<Ports, String> {
    let mut ports = Ports {
        follower: None,
        sentinel: None,
    };
    let Some(sentinel) = &config.sentinel else {
        return Ok(ports);
    };
    let member = arbiter::live::follow::Member {
        instance: arbiter::live::world::process_label(),
        sentinel: Some(sentinel.announced().to_string()),
        http: None,
    };
    let instance = member.instance.clone();
    let (shared, follower) = start_follower(config, Some(&sentinel.master_name), member, shutdown)
        .map_err(|e| format!("cannot start the follower: {e}"))?;
    ports.follower = Some(follower);
    let server = arbiter::live::sentinel::serve(
        sentinel.clone(),
        arbiter::live::sentinel::Timing::of(config),
        &instance,
        shared,
        std::sync::Arc::clone(shutdown),
    );
    match server {
        Ok(server) => {
            tracing::info!(
                target: "arbiter",
                listen = %server.local_addr,
                master_name = %sentinel.master_name,
                "serving the Sentinel protocol"
            );
            ports.sentinel = Some(server);
            Ok(ports)
        }
        Err(e) => {
            // The follower must not stay registered for a port not served.
            shutdown.store(true, Ordering::SeqCst);
            ports.stop();
            Err(format!("sentinel.listen: cannot listen on {}: {e}", sentinel.listen))
        }
    }
}
