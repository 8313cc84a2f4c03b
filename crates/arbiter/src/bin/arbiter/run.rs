//! `arbiter run`: the controller against real Redis nodes and etcd, with
//! its recording when the configuration asks for one.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use arbiter::live::follow::{FollowOptions, Member, Shared};
use arbiter::live::local::{Tally, WorldFacts};
use arbiter::{Driver, State};

/// Drives `driver` until the machine stops, logging what it does,
/// answering switchover requests and acknowledging the group's control
/// through the live world `live` gives, and running the role-change hook
/// of `config` when this instance publishes a new primary. None of these
/// is a world call: a recording holds the machine's calls only.
/// It keeps the local status in `shared` (for the client-facing ports)
/// after every step; `between` runs between two steps (the recording's
/// rotation).
fn drive_live<W: arbiter::world::World>(
    driver: &mut Driver<W>,
    live: impl Fn(&W) -> &arbiter::live::world::LiveWorld,
    config: &arbiter::config::Config,
    shared: Option<&Shared>,
    mut between: impl FnMut(&mut Driver<W>),
) -> ExitCode {
    let mut narrator = arbiter::live::log::Narrator::new();
    let mut roles = arbiter::live::hooks::RoleChangeWatcher::new();
    let mut tally = Tally::new();
    loop {
        let stop = driver.step_once();
        narrator.observe(driver.machine());
        let answers = narrator.take_switchover_answers();
        for answer in &answers {
            live(driver.world()).answer_switchover(answer);
        }
        if let Some(shared) = shared {
            let world = live(driver.world());
            let facts = WorldFacts {
                started: world.started(),
                etcd_errors: world.etcd_errors(),
                last_promotion: world.last_promotion(),
            };
            tally.observe(driver.machine(), &facts, &answers, shared);
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
    let code = run_world(path, config, Arc::clone(&shutdown), ports.shared.as_deref());
    // The controller has stopped, by a signal or an error: so do the ports.
    shutdown.store(true, Ordering::SeqCst);
    ports.stop();
    code
}

/// Drives the controller on the live world (recording it when the
/// configuration asks) until it stops.
fn run_world(
    path: PathBuf,
    config: arbiter::config::Config,
    shutdown: Arc<AtomicBool>,
    shared: Option<&Shared>,
) -> ExitCode {
    use arbiter::live::world::{ConfigSource, LiveWorld};
    use tracing::{error, info};

    let source = ConfigSource::File {
        path: path.clone(),
        load: arbiter::config::load_group,
    };
    if !config.record.enabled {
        let world = LiveWorld::new(config.live.clone(), source, shutdown).with_running_config(config.clone());
        return drive_live(&mut Driver::new(world), |w| w, &config, shared, |_| {});
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
        shared,
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

/// What this instance serves to clients (`[sentinel]`, `[http]`), fed by
/// one follower started once for every port: the group's view and the
/// run loop's local status, in one [`Shared`].
struct Ports {
    /// What the ports answer from (`None`: no port configured).
    shared: Option<Arc<Shared>>,
    follower: Option<JoinHandle<()>>,
    sentinel: Option<arbiter::live::sentinel::Server>,
    http: Option<arbiter::live::http::Server>,
}

impl Ports {
    /// Waits for the servers and the follower (which removes this
    /// instance's registration) to stop; the shutdown flag must be set.
    fn stop(self) {
        if let Some(http) = self.http {
            http.stop();
        }
        if let Some(server) = self.sentinel {
            server.join();
        }
        if let Some(follower) = self.follower {
            let _ = follower.join();
        }
    }
}

/// Starts the one follower of this process, which keeps `shared`'s view of
/// the group for every client-facing port and registers `member` (where
/// this instance serves them) under `PREFIX/members/`, its events naming
/// the group `master_name`, until `shutdown` is set.
fn start_follower(
    config: &arbiter::config::Config,
    master_name: &str,
    member: Member,
    shared: Arc<Shared>,
    shutdown: &Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    arbiter::live::follow::spawn(
        FollowOptions::new(config, master_name, member),
        config.group.clone(),
        shared,
        Arc::clone(shutdown),
    )
}

/// Binds the ports the configuration asks for, then starts the follower
/// and serves them (none configured: nothing is started). An error names
/// the field whose address cannot be served.
fn start_ports(config: &arbiter::config::Config, shutdown: &Arc<AtomicBool>) -> Result<Ports, String> {
    let mut ports = Ports {
        shared: None,
        follower: None,
        sentinel: None,
        http: None,
    };
    if config.sentinel.is_none() && config.http.is_none() {
        return Ok(ports);
    }
    // Bound first: the address registered is the one served (port 0
    // becomes the port given).
    let http_listener = match &config.http {
        Some(http) => {
            let listener = TcpListener::bind(http.listen)
                .map_err(|e| format!("http.listen: cannot listen on {}: {e}{}", http.listen, in_use(&e)))?;
            let addr = listener
                .local_addr()
                .map_err(|e| format!("http.listen: {}: {e}", http.listen))?;
            Some((listener, addr))
        }
        None => None,
    };
    let member = Member {
        instance: arbiter::live::world::process_label(),
        sentinel: config.sentinel.as_ref().map(|s| s.announced().to_string()),
        http: http_listener.as_ref().map(|(_, addr)| addr.to_string()),
    };
    let instance = member.instance.clone();
    let master_name = config
        .sentinel
        .as_ref()
        .map_or(arbiter::live::sentinel::DEFAULT_MASTER_NAME, |s| s.master_name.as_str());
    let shared = Arc::new(Shared::default());
    ports.follower = Some(
        start_follower(config, master_name, member, Arc::clone(&shared), shutdown)
            .map_err(|e| format!("cannot start the follower: {e}"))?,
    );
    ports.shared = Some(Arc::clone(&shared));
    match serve(config, &instance, &shared, http_listener, shutdown, &mut ports) {
        Ok(()) => Ok(ports),
        Err(e) => {
            // The follower must not stay registered for a port not served.
            shutdown.store(true, Ordering::SeqCst);
            ports.stop();
            Err(e)
        }
    }
}

/// Starts the configured servers into `ports`.
fn serve(
    config: &arbiter::config::Config,
    instance: &str,
    shared: &Arc<Shared>,
    http_listener: Option<(TcpListener, std::net::SocketAddr)>,
    shutdown: &Arc<AtomicBool>,
    ports: &mut Ports,
) -> Result<(), String> {
    if let Some(sentinel) = &config.sentinel {
        let server = arbiter::live::sentinel::serve(
            sentinel.clone(),
            arbiter::live::sentinel::Timing::of(config),
            instance,
            Arc::clone(shared),
            Arc::clone(shutdown),
        )
        .map_err(|e| {
            format!(
                "sentinel.listen: cannot listen on {}: {e}{}",
                sentinel.listen,
                in_use(&e)
            )
        })?;
        tracing::info!(
            target: "arbiter",
            listen = %server.local_addr,
            master_name = %sentinel.master_name,
            "serving the Sentinel protocol"
        );
        ports.sentinel = Some(server);
    }
    if let (Some(http), Some((listener, addr))) = (&config.http, http_listener) {
        let server = arbiter::live::http::Server::start(listener, http.clone(), Arc::clone(shared))
            .map_err(|e| format!("http.listen: cannot serve on {addr}: {e}"))?;
        tracing::info!(target: "arbiter", %addr, "serving HTTP (health checks and /metrics)");
        ports.http = Some(server);
    }
    Ok(())
}

/// What to do about a port already taken: most often another instance on
/// this host started with the same file.
fn in_use(e: &std::io::Error) -> &'static str {
    if e.kind() == std::io::ErrorKind::AddrInUse {
        " (another process listens there: is another arbiter instance on this host using this configuration file? \
         Each instance on one host needs its own [sentinel] and [http] listen addresses, so its own file)"
    } else {
        ""
    }
}
