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

/// The group's name in what the client-facing ports say (Sentinel's
/// `master_name` in events).
const MASTER_NAME: &str = "mymaster";

/// Drives `driver` until the machine stops, logging what it does,
/// answering switchover requests through the live world `live` gives, and
/// keeping the local status in `shared` (for the client-facing ports)
/// after every step.
fn drive_live<W: arbiter::world::World>(
    driver: &mut Driver<W>,
    live: impl Fn(&W) -> &arbiter::live::world::LiveWorld,
    shared: Option<&Shared>,
) -> ExitCode {
    let mut narrator = arbiter::live::log::Narrator::new();
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
    use arbiter::live::world::ConfigSource;
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
    let ports = match Ports::start(&config) {
        Ok(ports) => ports,
        Err(e) => {
            error!(target: "arbiter", error = %e, "cannot serve the client-facing ports");
            return ExitCode::from(2);
        }
    };
    let code = run_world(path, config, source, shutdown, ports.as_ref().map(|p| &*p.shared));
    if let Some(ports) = ports {
        ports.stop();
    }
    code
}

/// Drives the live world (recorded when the configuration says so) until
/// it stops.
fn run_world(
    path: PathBuf,
    config: arbiter::config::Config,
    source: arbiter::live::world::ConfigSource,
    shutdown: Arc<AtomicBool>,
    shared: Option<&Shared>,
) -> ExitCode {
    use arbiter::live::world::LiveWorld;
    use tracing::{error, info};

    if !config.record.enabled {
        let world = LiveWorld::new(config.live.clone(), source, shutdown).with_running_config(config);
        return drive_live(&mut Driver::new(world), |w| w, shared);
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
        shared,
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

/// The client-facing ports of this instance (`[http]`) and what they
/// answer from: one [`Shared`] state, kept by one follower for all of
/// them, and by the run loop's local status.
struct Ports {
    shared: Arc<Shared>,
    /// Set to stop the follower.
    stop: Arc<AtomicBool>,
    follower: JoinHandle<()>,
    http: Option<arbiter::live::http::Server>,
}

impl Ports {
    /// Binds every configured port, then starts the follower and serves
    /// them; `None` when no port is configured. An error names the field
    /// whose address cannot be bound.
    fn start(config: &arbiter::config::Config) -> Result<Option<Self>, String> {
        let Some(http) = &config.http else {
            return Ok(None);
        };
        let listener = TcpListener::bind(http.listen)
            .map_err(|e| format!("http.listen: cannot listen on {}: {e}", http.listen))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("http.listen: {}: {e}", http.listen))?;
        let member = Member {
            instance: arbiter::live::world::process_label(),
            sentinel: None,
            http: Some(addr.to_string()),
        };
        let shared = Arc::new(Shared::default());
        let stop = Arc::new(AtomicBool::new(false));
        let follower = start_follower(config, member, Arc::clone(&shared), Arc::clone(&stop))
            .map_err(|e| format!("cannot start the follower: {e}"))?;
        let server = arbiter::live::http::Server::start(listener, http.clone(), Arc::clone(&shared))
            .map_err(|e| format!("http.listen: cannot serve on {addr}: {e}"));
        let server = match server {
            Ok(server) => server,
            Err(e) => {
                stop.store(true, Ordering::SeqCst);
                let _ = follower.join();
                return Err(e);
            }
        };
        tracing::info!(target: "arbiter", %addr, "serving HTTP (health checks and /metrics)");
        Ok(Some(Self {
            shared,
            stop,
            follower,
            http: Some(server),
        }))
    }

    /// Stops serving, then the follower (which removes this instance's
    /// registration).
    fn stop(self) {
        if let Some(http) = self.http {
            http.stop();
        }
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.follower.join();
    }
}

/// Starts the one follower of this process, which keeps `shared`'s view of
/// the group for every client-facing port and registers `member` (where
/// this instance serves them) under `PREFIX/members/`, until `stop`.
fn start_follower(
    config: &arbiter::config::Config,
    member: Member,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    arbiter::live::follow::spawn(
        FollowOptions::new(config, MASTER_NAME, member),
        config.group.clone(),
        shared,
        stop,
    )
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
