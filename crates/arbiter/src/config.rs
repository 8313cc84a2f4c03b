//! `arbiter.toml`: the Redis nodes, etcd, timing and recording of a live
//! run, validated with errors that name the file and the field.
//!
//! ```toml
//! [etcd]
//! endpoints = ["http://127.0.0.1:2379"]
//! prefix = "arbiter/main"      # default "arbiter/default"
//! ttl_s = 5                    # lease TTL, default 5
//! username = "arbiter"         # optional: etcd authentication, with one
//! password_file = "/etc/arbiter/etcd.pw"  # of password, password_file
//!                              # (owner-only) or password_env
//!
//! [etcd.tls]                   # optional; only with https:// endpoints
//! ca_file = "/etc/arbiter/etcd-ca.pem"     # default: Mozilla's roots
//! cert_file = "/etc/arbiter/etcd-client.pem"  # client certificate (mutual
//! key_file = "/etc/arbiter/etcd-client.key"   # TLS): both or neither
//! server_name = "etcd.internal"  # optional: the name the certificates
//!                              # must hold (default: each endpoint's host)
//!
//! [redis]
//! password = "secret"          # optional; also set as masterauth on every
//!                              # node; never written to a scenario; or
//!                              # password_file / password_env (one of them)
//! username = "arbiter"         # optional ACL user, set as masteruser too
//! replication_username = "replica"  # optional: what replicas authenticate
//! replication_password_file = "/etc/arbiter/replica.pw"  # with instead
//!                              # (masteruser, masterauth); or
//!                              # replication_password / _env
//! timeout_ms = 500             # connect and command timeout, default 500
//! poll_timeout_ms = 200        # INFO polls: no answer within it is down
//! min_replicas_to_write = 1    # optional: set on every node arbiter manages
//! min_replicas_max_lag_s = 1   # (at start, after a restart, before every
//!                              # promotion or repoint; default 10 s lag)
//!
//! [redis.tls]                  # optional: TLS to every node (addr is its
//!                              # tls-port); tls-replication yes is kept on
//!                              # every node
//! ca_file = "/etc/arbiter/redis-ca.pem"    # default: Mozilla's roots
//! cert_file = "/etc/arbiter/redis-client.pem" # for tls-auth-clients yes:
//! key_file = "/etc/arbiter/redis-client.key"  # both or neither
//! server_name = "redis.internal"  # optional: the name the certificates
//!                              # must hold (default: each node's host)
//!
//! [[nodes]]
//! name = "r1"
//! addr = "10.0.0.1:6379"
//! priority = 100               # lower is preferred, 0 never; default 100
//!
//! [settings]                   # every field optional (defaults shown)
//! check_interval_ms = 1000
//! fast_check_interval_ms = 100
//! down_after_ms = 3000
//! max_lag_bytes = 1048576
//! stale_after_ms = 10000
//! failover_timeout_ms = 5000
//! allow_data_loss = false
//! paused = false
//!
//! [record]
//! enabled = false
//! path = "arbiter-{instance}.ron"  # {instance}: <hostname>-<pid>, so that
//!                                  # instances on one host do not share it
//! max_bytes = 67108864             # rotate past 64 MiB (default)
//! keep = 5                         # older files kept: NAME.1.ron ... (default)
//!
//! [hooks]                      # optional (see `arbiter::live::hooks`)
//! on_role_change = ["/usr/local/bin/move-vip", "--quiet"]
//! timeout_ms = 10000           # killed past it, default 10000
//! [sentinel]                   # absent: the Sentinel protocol is not served
//! listen = "127.0.0.1:26379"   # default
//! announce = "10.0.0.5:26379"  # optional: the address the other instances
//!                              # list for this one; listen when absent
//! master_name = "mymaster"     # default
//! password = "..."             # optional: clients must AUTH with it
//! max_clients = 512            # default
//! max_request_bytes = 65536    # default: all arguments of one request
//! idle_timeout_ms = 300000     # default; 0: never (subscribers never)
//! write_timeout_ms = 5000      # default: a client not reading is dropped
//! [sentinel.tls]               # optional: serve TLS only (as tls-port)
//! cert_file = "/etc/arbiter/port.pem"
//! key_file = "/etc/arbiter/port.key"
//! client_ca_file = "/etc/arbiter/clients-ca.pem"  # optional: only clients
//!                              # with a certificate it signed get in
//!
//! [http]                       # absent: no HTTP port (see crate::live::http)
//! listen = "127.0.0.1:8008"    # default; ip:port (port 0: any free
//!                              # port, logged)
//! max_connections = 16         # served at once; more are answered 503
//! max_head_bytes = 8192        # request line and headers; more: 431
//! request_timeout_ms = 2000    # to send the request head; slower: 408
//! stalled_after_ms = 10000     # /liveness: the run loop stepped within it
//! view_max_age_ms = 5000       # /readiness and the group's endpoints:
//!                              # etcd read within it
//! [http.tls]                   # optional: HTTPS only; fields as
//! cert_file = "/etc/arbiter/port.pem"  # [sentinel.tls]
//! key_file = "/etc/arbiter/port.key"
//! ```
//!
//! `settings.paused` and `settings.allow_data_loss` hold for this host's
//! instance only; the group's pause and one-time data-loss grant live in
//! etcd (`arbiter pause`, `arbiter allow-data-loss --once`, see
//! `arbiter::live::control`) and are laid over them: either one pauses,
//! either one allows.
//!
//! TLS files (relative paths are relative to the configuration file) are
//! read and checked when the configuration loads, errors naming the field
//! and the file; see [`crate::live::tls`] for what is verified, and the
//! crate README for what the operator sets on the Redis nodes.
//!
//! A recording file is locked while it is written: a second process given
//! the same file refuses to start, naming it. Every file after the first
//! starts with a snapshot of the machine ([`crate::recording`]).
//!
//! The sample configuration `crates/arbiter/packaging/arbiter.toml`
//! explains every field for operators; `arbiter run --help` prints it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::live::etcd::EtcdCredentials;
use crate::live::hooks::HookOptions;
use crate::live::http::{HttpOptions, MIN_HEAD_BYTES};
use crate::live::world::{LiveAuth, LiveOptions};
use crate::secret::Secret;
use crate::types::{GroupConfig, RedisNode, Settings};

/// A configuration that cannot be used: the file and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong, naming the field (and line and column when TOML
    /// itself could not be read).
    pub message: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    etcd: EtcdSection,
    #[serde(default)]
    redis: RedisSection,
    nodes: Vec<NodeSection>,
    #[serde(default)]
    settings: SettingsSection,
    #[serde(default)]
    record: RecordSection,
    #[serde(default)]
    hooks: HooksSection,
    sentinel: Option<SentinelSection>,
    http: Option<HttpSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EtcdSection {
    endpoints: Vec<String>,
    #[serde(default = "default_prefix")]
    prefix: String,
    #[serde(default = "default_ttl")]
    ttl_s: i64,
    // Authentication (see `auth`).
    username: Option<String>,
    password: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    tls: Option<TlsSection>,
}

/// `[redis.tls]` and `[etcd.tls]` (see [`crate::live::tls`]).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsSection {
    ca_file: Option<PathBuf>,
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    server_name: Option<String>,
}

fn default_prefix() -> String {
    "arbiter/default".into()
}

fn default_ttl() -> i64 {
    5
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RedisSection {
    password: Option<String>,
    // Authentication (see `redis_auth`).
    username: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    // What replicas authenticate with (see `auth`).
    replication_username: Option<String>,
    replication_password: Option<String>,
    replication_password_file: Option<PathBuf>,
    replication_password_env: Option<String>,
    #[serde(default = "default_timeout")]
    timeout_ms: u64,
    #[serde(default = "default_poll_timeout")]
    poll_timeout_ms: u64,
    min_replicas_to_write: Option<u32>,
    min_replicas_max_lag_s: Option<u32>,
    tls: Option<TlsSection>,
}

impl Default for RedisSection {
    fn default() -> Self {
        Self {
            password: None,
            username: None,
            password_file: None,
            password_env: None,
            replication_username: None,
            replication_password: None,
            replication_password_file: None,
            replication_password_env: None,
            timeout_ms: default_timeout(),
            poll_timeout_ms: default_poll_timeout(),
            min_replicas_to_write: None,
            min_replicas_max_lag_s: None,
            tls: None,
        }
    }
}

fn default_timeout() -> u64 {
    500
}

fn default_poll_timeout() -> u64 {
    200
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeSection {
    name: String,
    addr: String,
    #[serde(default = "default_priority")]
    priority: u32,
}

fn default_priority() -> u32 {
    100
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsSection {
    check_interval_ms: Option<u64>,
    fast_check_interval_ms: Option<u64>,
    down_after_ms: Option<u64>,
    max_lag_bytes: Option<u64>,
    stale_after_ms: Option<u64>,
    failover_timeout_ms: Option<u64>,
    allow_data_loss: Option<bool>,
    paused: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordSection {
    #[serde(default)]
    enabled: bool,
    path: Option<PathBuf>,
    #[serde(default = "default_max_bytes")]
    max_bytes: u64,
    #[serde(default = "default_keep")]
    keep: u32,
}

impl Default for RecordSection {
    fn default() -> Self {
        Self {
            enabled: false,
            path: None,
            max_bytes: default_max_bytes(),
            keep: default_keep(),
        }
    }
}

/// `record.max_bytes` when not set: 64 MiB.
pub const DEFAULT_RECORD_MAX_BYTES: u64 = 64 << 20;

/// `record.keep` when not set.
pub const DEFAULT_RECORD_KEEP: u32 = 5;

fn default_max_bytes() -> u64 {
    DEFAULT_RECORD_MAX_BYTES
}

fn default_keep() -> u32 {
    DEFAULT_RECORD_KEEP
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HooksSection {
    #[serde(default)]
    on_role_change: Vec<String>,
    timeout_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SentinelSection {
    listen: Option<String>,
    announce: Option<String>,
    master_name: Option<String>,
    password: Option<String>,
    password_file: Option<PathBuf>,
    password_env: Option<String>,
    max_clients: Option<usize>,
    max_request_bytes: Option<usize>,
    idle_timeout_ms: Option<u64>,
    write_timeout_ms: Option<u64>,
    tls: Option<ServerTlsSection>,
}

/// `[sentinel.tls]` and `[http.tls]` (see [`crate::live::tls::ServerTls`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerTlsSection {
    cert_file: PathBuf,
    key_file: PathBuf,
    client_ca_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpSection {
    listen: Option<String>,
    max_connections: Option<usize>,
    max_head_bytes: Option<usize>,
    request_timeout_ms: Option<u64>,
    stalled_after_ms: Option<u64>,
    view_max_age_ms: Option<u64>,
    tls: Option<ServerTlsSection>,
}

/// Where a live run records its calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordOptions {
    /// Record at all (off unless `record.enabled = true`).
    pub enabled: bool,
    /// The scenario file (relative paths are relative to the config file),
    /// possibly with [`INSTANCE_PLACEHOLDER`] in it.
    pub path: PathBuf,
    /// The size past which the file is rotated, in bytes
    /// ([`crate::recording`]).
    pub max_bytes: u64,
    /// How many older files (`NAME.1.ron`, `NAME.2.ron`, ...) are kept.
    pub keep: u32,
}

/// Replaced in `record.path` by something unique to the process (see
/// [`RecordOptions::path_for`]), so that several instances on one host,
/// started with one configuration file, each record their own file.
pub const INSTANCE_PLACEHOLDER: &str = "{instance}";

impl RecordOptions {
    /// The file to record to, with every [`INSTANCE_PLACEHOLDER`] replaced
    /// by `instance` (the live run passes `<hostname>-<pid>`, which is also
    /// part of its instance id in the election).
    pub fn path_for(&self, instance: &str) -> PathBuf {
        match self.path.to_str() {
            Some(text) if text.contains(INSTANCE_PLACEHOLDER) => {
                PathBuf::from(text.replace(INSTANCE_PLACEHOLDER, instance))
            }
            _ => self.path.clone(),
        }
    }
}

/// Everything a live run needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The servers and timeouts.
    pub live: LiveOptions,
    /// The group and its settings (what the machine sees).
    pub group: GroupConfig,
    /// Recording.
    pub record: RecordOptions,
    /// Commands run on events (`[hooks]`).
    pub hooks: HookOptions,
    /// The Sentinel protocol for clients (`None`: not served).
    pub sentinel: Option<crate::live::sentinel::SentinelOptions>,
    /// The HTTP port (`[http]`; `None`: off).
    pub http: Option<HttpOptions>,
}

fn valid_addr(addr: &str) -> bool {
    addr.rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0))
}

/// The lease is renewed once per check, at its start. A check lasts the
/// check interval, or longer when every node's poll times out:
/// `check_interval_ms + nodes × poll_timeout_ms`. Two such checks must fit
/// in the lease TTL, so that one failed renewal (an etcd request lost or
/// timed out) does not lose the lease and re-elect the leader at every
/// check. (`fast_check_interval_ms` is capped by `check_interval_ms`, so
/// it only renews more often.)
fn lease_renewed_in_time(check_interval_ms: u64, ttl_s: i64, nodes: usize, poll_timeout_ms: u64) -> Result<(), String> {
    let ttl_ms = u64::try_from(ttl_s).unwrap_or(0).saturating_mul(1000);
    let polls_ms = (nodes as u64).saturating_mul(poll_timeout_ms);
    let check_ms = check_interval_ms.saturating_add(polls_ms);
    if check_ms.saturating_mul(2) > ttl_ms {
        return Err(format!(
            "settings.check_interval_ms: {check_interval_ms} ms cannot keep the etcd.ttl_s = {ttl_s} s lease: \
             the lease is renewed once per check, a check can last check_interval_ms + {nodes} nodes × \
             redis.poll_timeout_ms ({poll_timeout_ms} ms) = {check_ms} ms, and two checks must fit in the TTL \
             ({} ms > {ttl_ms} ms); lower settings.check_interval_ms or raise etcd.ttl_s",
            check_ms.saturating_mul(2)
        ));
    }
    Ok(())
}

/// The fields that differ between the `running` configuration and `new`
/// and apply only at start: `etcd.*`, `redis.*`, `record.*`, `hooks.*`,
/// `[sentinel]` and `[http]` (only `[[nodes]]` and `[settings]` apply
/// live). Names only, never values.
pub fn needs_restart(running: &Config, new: &Config) -> Vec<&'static str> {
    let (a, b) = (&running.live, &new.live);
    let min_to_write = |o: &LiveOptions| o.min_replicas.map(|(n, _)| n);
    let max_lag = |o: &LiveOptions| o.min_replicas.map(|(_, lag)| lag);
    let etcd_user = |o: &LiveOptions| o.auth.etcd.as_ref().map(|c| c.username.clone());
    let etcd_password = |o: &LiveOptions| o.auth.etcd.as_ref().map(|c| c.password.clone());
    [
        ("etcd.endpoints", a.etcd != b.etcd),
        ("etcd.prefix", a.prefix != b.prefix),
        ("etcd.ttl_s", a.ttl_s != b.ttl_s),
        ("redis.password", a.password != b.password),
        ("redis.username", a.auth.redis_username != b.auth.redis_username),
        ("redis.replication_*", a.auth.replication != b.auth.replication),
        ("etcd.username", etcd_user(a) != etcd_user(b)),
        ("etcd.password", etcd_password(a) != etcd_password(b)),
        ("redis.timeout_ms", a.timeout != b.timeout),
        ("redis.poll_timeout_ms", a.poll_timeout != b.poll_timeout),
        ("redis.min_replicas_to_write", min_to_write(a) != min_to_write(b)),
        ("redis.min_replicas_max_lag_s", max_lag(a) != max_lag(b)),
        ("redis.tls", a.redis_tls != b.redis_tls),
        ("etcd.tls", a.etcd_tls != b.etcd_tls),
        ("record.enabled", running.record.enabled != new.record.enabled),
        ("record.path", running.record.path != new.record.path),
        (
            "hooks.on_role_change",
            running.hooks.on_role_change != new.hooks.on_role_change,
        ),
        ("hooks.timeout_ms", running.hooks.timeout != new.hooks.timeout),
        ("sentinel", running.sentinel != new.sentinel),
        ("record.max_bytes", running.record.max_bytes != new.record.max_bytes),
        ("record.keep", running.record.keep != new.record.keep),
        ("http", running.http != new.http),
    ]
    .into_iter()
    .filter_map(|(field, changed)| changed.then_some(field))
    .collect()
}

/// Reads and validates `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let err = |message: String| ConfigError {
        path: path.to_path_buf(),
        message,
    };
    let text = read_capped(path).map_err(err)?;
    parse_in(&text, path.parent()).map_err(err).map(|mut c| {
        if c.record.path.is_relative() {
            if let Some(dir) = path.parent() {
                c.record.path = dir.join(&c.record.path);
            }
        }
        c
    })
}

/// The largest configuration file read: a real one is a few KiB, and the
/// file is read again at every configuration check, so a path that names
/// something endless (`/dev/zero`, a log) must not fill memory.
const MAX_FILE_BYTES: u64 = 1 << 20;

/// The text of `path`, at most [`MAX_FILE_BYTES`], UTF-8 (else the line and
/// column of the first byte that is not).
fn read_capped(path: &Path) -> Result<String, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(format!(
            "larger than {MAX_FILE_BYTES} bytes: is this a configuration file?"
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let good = std::str::from_utf8(good).unwrap_or_default();
        let line = good.matches('\n').count() + 1;
        let column = good.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("line {line}, column {column}: not UTF-8 text")
    })
}

/// The group part of `path` (for polling configuration changes).
pub fn load_group(path: &Path) -> Result<GroupConfig, String> {
    load(path).map(|c| c.group).map_err(|e| e.to_string())
}

/// Parses and validates configuration text: the first problem found, with
/// its field (`etcd.endpoints[1]: ...`).
pub fn parse(text: &str) -> Result<Config, String> {
    parse_in(text, None)
}

/// [`parse`], with relative TLS file paths taken relative to `base` (the
/// configuration file's directory).
fn parse_in(text: &str, base: Option<&Path>) -> Result<Config, String> {
    let file: File = toml::from_str(text).map_err(|e| e.to_string().trim_end().replace('\n', " "))?;
    check_etcd(&file.etcd)?;
    check_redis(&file.redis, file.nodes.len())?;
    check_nodes(&file.nodes)?;
    let settings = settings(&file.settings)?;
    lease_renewed_in_time(
        settings.check_interval_ms,
        file.etcd.ttl_s,
        file.nodes.len(),
        file.redis.poll_timeout_ms,
    )?;
    if file.record.enabled && file.record.path.is_none() {
        return Err("record.path: needed when record.enabled is true".into());
    }
    let hooks = hooks(&file.hooks)?;
    let sentinel = file.sentinel.as_ref().map(|s| sentinel_options(s, base)).transpose()?;
    let sentinel = match (sentinel, file.sentinel.as_ref().and_then(|s| s.tls.as_ref())) {
        (Some(options), Some(t)) => Some(crate::live::sentinel::SentinelOptions {
            tls: Some(server_tls(t, "sentinel.tls", base)?),
            ..options
        }),
        (options, _) => options,
    };
    if file.record.max_bytes == 0 {
        return Err("record.max_bytes: must be above 0".into());
    }
    let mut http = file.http.as_ref().map(|h| http(h, &settings)).transpose()?;
    if let (Some(options), Some(t)) = (http.as_mut(), file.http.as_ref().and_then(|h| h.tls.as_ref())) {
        options.tls = Some(server_tls(t, "http.tls", base)?);
    }
    let (password, auth) = auth(&file.redis, &file.etcd, base)?;
    let redis_tls = file.redis.tls.as_ref().map(|t| tls(t, "redis.tls", base)).transpose()?;
    let etcd_tls = etcd_tls(&file.etcd, base)?;
    Ok(Config {
        live: LiveOptions {
            etcd: file.etcd.endpoints,
            prefix: file.etcd.prefix,
            ttl_s: file.etcd.ttl_s,
            timeout: Duration::from_millis(file.redis.timeout_ms),
            poll_timeout: Duration::from_millis(file.redis.poll_timeout_ms),
            password,
            auth,
            min_replicas: file
                .redis
                .min_replicas_to_write
                .map(|n| (n, file.redis.min_replicas_max_lag_s.unwrap_or(10))),
            redis_tls,
            etcd_tls,
        },
        group: GroupConfig {
            nodes: file
                .nodes
                .into_iter()
                .map(|n| RedisNode {
                    name: n.name,
                    addr: n.addr,
                    priority: n.priority,
                })
                .collect(),
            settings,
        },
        record: RecordOptions {
            enabled: file.record.enabled,
            path: file.record.path.unwrap_or_else(|| "arbiter-run.ron".into()),
            max_bytes: file.record.max_bytes,
            keep: file.record.keep,
        },
        hooks,
        sentinel,
        http,
    })
}

/// `[hooks]`: a command that names a program, a timeout above 0.
fn hooks(h: &HooksSection) -> Result<HookOptions, String> {
    if h.on_role_change.first().is_some_and(|p| p.trim().is_empty()) {
        return Err("hooks.on_role_change[0]: the program must not be empty".into());
    }
    if h.timeout_ms == Some(0) {
        return Err("hooks.timeout_ms: must be above 0".into());
    }
    Ok(HookOptions {
        on_role_change: h.on_role_change.clone(),
        timeout: h
            .timeout_ms
            .map_or(crate::live::hooks::DEFAULT_TIMEOUT, Duration::from_millis),
    })
}

/// `[sentinel]` with defaults filled in, checked: addresses that are
/// `host:port`, a master name Sentinel's messages can carry (printable
/// ASCII, no space), limits within reason.
fn sentinel_options(
    s: &SentinelSection,
    base: Option<&Path>,
) -> Result<crate::live::sentinel::SentinelOptions, String> {
    use crate::live::sentinel;
    let d = sentinel::SentinelOptions::default();
    let options = sentinel::SentinelOptions {
        listen: s.listen.clone().unwrap_or(d.listen),
        announce: s.announce.clone(),
        master_name: s.master_name.clone().unwrap_or(d.master_name),
        password: crate::secret::from_fields(
            "sentinel",
            s.password.as_deref(),
            relative_to(base, s.password_file.as_deref()).as_deref(),
            s.password_env.as_deref(),
        )?,
        max_clients: s.max_clients.unwrap_or(d.max_clients),
        max_request_bytes: s.max_request_bytes.unwrap_or(d.max_request_bytes),
        idle_timeout: match s.idle_timeout_ms {
            Some(0) => None,
            Some(ms) => Some(Duration::from_millis(ms)),
            None => d.idle_timeout,
        },
        write_timeout: s.write_timeout_ms.map_or(d.write_timeout, Duration::from_millis),
        tls: None,
    };
    if !valid_addr(&options.listen) {
        return Err(format!("sentinel.listen: `{}` is not host:port", options.listen));
    }
    if let Some(a) = options.announce.as_deref().filter(|a| !valid_addr(a)) {
        return Err(format!("sentinel.announce: `{a}` is not host:port"));
    }
    let name = &options.master_name;
    if name.is_empty() || !name.bytes().all(|b| (b'!'..=b'~').contains(&b)) {
        return Err(format!(
            "sentinel.master_name: `{name}` must be printable ASCII without spaces (Sentinel's messages are split on spaces)"
        ));
    }
    if !(1..=10_000).contains(&options.max_clients) {
        return Err(format!(
            "sentinel.max_clients: {} is not between 1 and 10000 (one thread serves each client)",
            options.max_clients
        ));
    }
    if !(1024..=64 << 20).contains(&options.max_request_bytes) {
        return Err(format!(
            "sentinel.max_request_bytes: {} is not between 1024 and 67108864",
            options.max_request_bytes
        ));
    }
    if options.write_timeout.is_zero() {
        return Err("sentinel.write_timeout_ms: must be above 0".into());
    }
    Ok(options)
}

/// `[http]` with defaults filled in, checked: an `ip:port` to listen on,
/// limits above 0, and a stall limit the run loop can keep (it steps at
/// least once per check; two checks must fit).
fn http(h: &HttpSection, settings: &Settings) -> Result<HttpOptions, String> {
    let d = HttpOptions::default();
    let listen = match &h.listen {
        None => d.listen,
        Some(text) => text.parse().map_err(|_| {
            format!(
                "http.listen: `{text}` is not ip:port (e.g. \"127.0.0.1:8008\" or \"[::]:8008\"; host names are not resolved)"
            )
        })?,
    };
    let options = HttpOptions {
        listen,
        max_connections: h.max_connections.unwrap_or(d.max_connections),
        max_head_bytes: h.max_head_bytes.unwrap_or(d.max_head_bytes),
        request_timeout: h.request_timeout_ms.map_or(d.request_timeout, Duration::from_millis),
        stalled_after: h.stalled_after_ms.map_or(d.stalled_after, Duration::from_millis),
        view_max_age: h.view_max_age_ms.map_or(d.view_max_age, Duration::from_millis),
        tls: None,
    };
    if options.max_connections == 0 {
        return Err("http.max_connections: must be above 0".into());
    }
    if options.max_head_bytes < MIN_HEAD_BYTES {
        return Err(format!(
            "http.max_head_bytes: {} is too small for a request line and its headers (at least {MIN_HEAD_BYTES})",
            options.max_head_bytes
        ));
    }
    for (field, value) in [
        ("request_timeout_ms", options.request_timeout),
        ("view_max_age_ms", options.view_max_age),
    ] {
        if value.is_zero() {
            return Err(format!("http.{field}: must be above 0"));
        }
    }
    let stalled_ms = options.stalled_after.as_millis();
    let two_checks = 2 * u128::from(settings.check_interval_ms);
    if stalled_ms < two_checks {
        return Err(format!(
            "http.stalled_after_ms: {stalled_ms} ms is shorter than two checks (2 × settings.check_interval_ms = {two_checks} ms): \
             the run loop steps once per check, so /liveness would fail a healthy instance"
        ));
    }
    Ok(options)
}

/// Authentication to Redis and etcd: `[redis]` `password`,
/// `password_file` or `password_env` (at most one) with an optional ACL
/// `username`; `[etcd]` `username` with exactly one password source. The
/// passwords are read now (a missing file, a file others may read, an
/// unset variable are errors naming the field, never the value).
fn auth(redis: &RedisSection, etcd: &EtcdSection, base: Option<&Path>) -> Result<(Option<Secret>, LiveAuth), String> {
    let password = crate::secret::from_fields(
        "redis",
        redis.password.as_deref(),
        relative_to(base, redis.password_file.as_deref()).as_deref(),
        redis.password_env.as_deref(),
    )?;
    if let Some(user) = &redis.username {
        if user.is_empty() || !user.bytes().all(|b| (b'!'..=b'~').contains(&b)) {
            return Err(format!(
                "redis.username: `{user}` must be printable ASCII without spaces"
            ));
        }
        if password.is_none() {
            return Err(
                "redis.username: needs a password (redis.password, redis.password_file or redis.password_env)".into(),
            );
        }
    }
    let replication_password = crate::secret::from_named_fields(
        "redis",
        "replication_password",
        redis.replication_password.as_deref(),
        relative_to(base, redis.replication_password_file.as_deref()).as_deref(),
        redis.replication_password_env.as_deref(),
    )?;
    let replication = match (&redis.replication_username, replication_password) {
        (None, None) => None,
        (Some(user), _) if user.is_empty() || !user.bytes().all(|b| (b'!'..=b'~').contains(&b)) => {
            return Err(format!(
                "redis.replication_username: `{user}` must be printable ASCII without spaces"
            ));
        }
        (user, Some(password)) => Some(crate::live::redis::Replication {
            username: user.clone(),
            password,
        }),
        (Some(_), None) => {
            return Err(
                "redis.replication_username: needs a password (redis.replication_password, \
                 redis.replication_password_file or redis.replication_password_env)"
                    .into(),
            );
        }
    };
    let etcd_password = crate::secret::from_fields(
        "etcd",
        etcd.password.as_deref(),
        relative_to(base, etcd.password_file.as_deref()).as_deref(),
        etcd.password_env.as_deref(),
    )?;
    let etcd = match (&etcd.username, etcd_password) {
        (None, None) => None,
        (Some(user), _) if user.is_empty() => return Err("etcd.username: must not be empty".into()),
        (Some(user), Some(password)) => Some(EtcdCredentials {
            username: user.clone(),
            password,
        }),
        (Some(_), None) => {
            return Err(
                "etcd.username: needs a password (etcd.password, etcd.password_file or etcd.password_env)".into(),
            );
        }
        (None, Some(_)) => return Err("etcd.password: needs etcd.username".into()),
    };
    Ok((
        password,
        LiveAuth {
            redis_username: redis.username.clone(),
            replication,
            etcd,
        },
    ))
}

/// A password file's path, a relative one taken relative to the
/// configuration file's directory `base` as TLS files are (and made
/// absolute: the file is read again at every connection). Without `base`
/// (a configuration text, not a file) the path is kept as given, and
/// [`crate::secret::from_fields`] refuses a relative one.
fn relative_to(base: Option<&Path>, p: Option<&Path>) -> Option<PathBuf> {
    p.map(|p| match base {
        Some(dir) if p.is_relative() => {
            let joined = dir.join(p);
            std::path::absolute(&joined).unwrap_or(joined)
        }
        _ => p.to_path_buf(),
    })
}

/// A `[redis.tls]` or `[etcd.tls]` section's files, read and checked.
fn tls(t: &TlsSection, section: &str, base: Option<&Path>) -> Result<crate::live::tls::Tls, String> {
    let resolve = |p: &Option<PathBuf>| {
        p.as_ref().map(|p| match base {
            Some(dir) if p.is_relative() => dir.join(p),
            _ => p.clone(),
        })
    };
    let files = crate::live::tls::TlsFiles {
        ca_file: resolve(&t.ca_file),
        cert_file: resolve(&t.cert_file),
        key_file: resolve(&t.key_file),
        server_name: t.server_name.clone(),
    };
    crate::live::tls::Tls::load(files, section)
}

/// A `[sentinel.tls]` or `[http.tls]` section's files, read and checked.
fn server_tls(t: &ServerTlsSection, section: &str, base: Option<&Path>) -> Result<crate::live::tls::ServerTls, String> {
    let resolve = |p: &Path| match base {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p.to_path_buf(),
    };
    let files = crate::live::tls::ServerTlsFiles {
        cert_file: resolve(&t.cert_file),
        key_file: resolve(&t.key_file),
        client_ca_file: t.client_ca_file.as_deref().map(resolve),
    };
    crate::live::tls::ServerTls::load(files, section)
}

/// TLS to etcd: `[etcd.tls]`, or Mozilla's roots, when the endpoints
/// are `https://` (all of them or none: a plain endpoint beside TLS ones
/// would be a way around TLS); `[etcd.tls]` with `http://` endpoints is
/// refused rather than ignored.
fn etcd_tls(etcd: &EtcdSection, base: Option<&Path>) -> Result<Option<crate::live::tls::Tls>, String> {
    let https = etcd.endpoints.iter().filter(|e| e.starts_with("https://")).count();
    if https == 0 {
        return match etcd.tls {
            Some(_) => Err("etcd.tls: set, but no etcd.endpoints is https://".into()),
            None => Ok(None),
        };
    }
    if let Some((i, e)) = etcd
        .endpoints
        .iter()
        .enumerate()
        .find(|(_, e)| !e.starts_with("https://"))
    {
        return Err(format!(
            "etcd.endpoints[{i}]: `{e}` is plain http:// beside https:// endpoints (all or none)"
        ));
    }
    tls(etcd.tls.as_ref().unwrap_or(&TlsSection::default()), "etcd.tls", base).map(Some)
}

/// `[etcd]`: endpoints that are URLs, a positive lease TTL, a prefix.
fn check_etcd(etcd: &EtcdSection) -> Result<(), String> {
    if etcd.endpoints.is_empty() {
        return Err("etcd.endpoints: at least one endpoint is needed".into());
    }
    for (i, e) in etcd.endpoints.iter().enumerate() {
        if !e.starts_with("http://") && !e.starts_with("https://") {
            return Err(format!("etcd.endpoints[{i}]: `{e}` is not an http:// URL"));
        }
    }
    if etcd.ttl_s < 1 {
        return Err(format!(
            "etcd.ttl_s: {} is not a positive number of seconds",
            etcd.ttl_s
        ));
    }
    if etcd.prefix.trim_matches('/').is_empty() {
        return Err("etcd.prefix: must not be empty".into());
    }
    Ok(())
}

/// `[redis]`: `min-replicas-*` settings that can hold among `nodes`
/// nodes, and timeouts above 0.
fn check_redis(redis: &RedisSection, nodes: usize) -> Result<(), String> {
    if redis.min_replicas_max_lag_s.is_some() && redis.min_replicas_to_write.is_none() {
        return Err("redis.min_replicas_max_lag_s: set only with redis.min_replicas_to_write".into());
    }
    if let Some(n) = redis.min_replicas_to_write.filter(|n| *n as usize >= nodes) {
        return Err(format!(
            "redis.min_replicas_to_write: {n} replicas cannot exist among {nodes} nodes"
        ));
    }
    if redis.timeout_ms == 0 {
        return Err("redis.timeout_ms: must be above 0".into());
    }
    if redis.poll_timeout_ms == 0 {
        return Err("redis.poll_timeout_ms: must be above 0".into());
    }
    Ok(())
}

/// `[[nodes]]`: at least two, each named, at `host:port`, no name or
/// address twice.
fn check_nodes(nodes: &[NodeSection]) -> Result<(), String> {
    if nodes.len() < 2 {
        return Err(format!("nodes: {} configured, at least 2 are needed", nodes.len()));
    }
    let (mut names, mut addrs) = (BTreeSet::new(), BTreeSet::new());
    for (i, n) in nodes.iter().enumerate() {
        if n.name.is_empty() {
            return Err(format!("nodes[{i}].name: must not be empty"));
        }
        if !valid_addr(&n.addr) {
            return Err(format!("nodes[{i}].addr: `{}` is not host:port", n.addr));
        }
        if !names.insert(n.name.as_str()) {
            return Err(format!("nodes[{i}].name: `{}` appears twice", n.name));
        }
        if !addrs.insert(n.addr.as_str()) {
            return Err(format!("nodes[{i}].addr: `{}` appears twice", n.addr));
        }
    }
    Ok(())
}

/// `[settings]` with defaults filled in, checked: intervals above 0, and a
/// down-after no shorter than the check interval.
fn settings(s: &SettingsSection) -> Result<Settings, String> {
    let d = Settings::default();
    let settings = Settings {
        check_interval_ms: s.check_interval_ms.unwrap_or(d.check_interval_ms),
        fast_check_interval_ms: s.fast_check_interval_ms.unwrap_or(d.fast_check_interval_ms),
        down_after_ms: s.down_after_ms.unwrap_or(d.down_after_ms),
        max_lag_bytes: s.max_lag_bytes.unwrap_or(d.max_lag_bytes),
        stale_after_ms: s.stale_after_ms.unwrap_or(d.stale_after_ms),
        failover_timeout_ms: s.failover_timeout_ms.unwrap_or(d.failover_timeout_ms),
        allow_data_loss: s.allow_data_loss.unwrap_or(d.allow_data_loss),
        paused: s.paused.unwrap_or(d.paused),
    };
    for (field, value) in [
        ("check_interval_ms", settings.check_interval_ms),
        ("fast_check_interval_ms", settings.fast_check_interval_ms),
        ("down_after_ms", settings.down_after_ms),
        ("failover_timeout_ms", settings.failover_timeout_ms),
    ] {
        if value == 0 {
            return Err(format!("settings.{field}: must be above 0"));
        }
    }
    if settings.down_after_ms < settings.check_interval_ms {
        return Err(format!(
            "settings.down_after_ms: {} is shorter than check_interval_ms ({}): a failure could not be confirmed",
            settings.down_after_ms, settings.check_interval_ms
        ));
    }
    Ok(settings)
}

#[cfg(test)]
mod hostile;

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[etcd]
endpoints = ["http://127.0.0.1:2379"]

[redis]
password = "s3cret"

[[nodes]]
name = "r1"
addr = "10.0.0.1:6379"

[[nodes]]
name = "r2"
addr = "10.0.0.2:6379"
priority = 10

[settings]
down_after_ms = 5000

[record]
enabled = true
path = "run.ron"
"#;

    #[test]
    fn a_good_file_loads_with_defaults_filled_in() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.group.nodes.len(), 2);
        assert_eq!(c.group.nodes[0].priority, 100);
        assert_eq!(c.group.nodes[1].priority, 10);
        assert_eq!(c.group.settings.down_after_ms, 5000);
        assert_eq!(c.group.settings.check_interval_ms, 1000);
        assert_eq!(c.live.prefix, "arbiter/default");
        assert_eq!(c.live.password.as_ref().map(Secret::reveal).as_deref(), Some("s3cret"));
        assert_eq!(c.live.timeout, Duration::from_millis(500));
        assert_eq!(c.live.poll_timeout, Duration::from_millis(200));
        assert!(c.record.enabled);
        assert_eq!((c.record.max_bytes, c.record.keep), (64 << 20, 5));
    }

    #[test]
    fn recording_is_off_by_default_and_rotation_is_configurable() {
        let none = parse(&GOOD.replace("[record]\nenabled = true\npath = \"run.ron\"\n", "")).unwrap();
        assert!(!none.record.enabled);
        assert_eq!((none.record.max_bytes, none.record.keep), (64 << 20, 5));
        let set = parse(&GOOD.replace("path = \"run.ron\"", "path = \"run.ron\"\nmax_bytes = 1000\nkeep = 0")).unwrap();
        assert_eq!((set.record.max_bytes, set.record.keep), (1000, 0));
        let e = parse(&GOOD.replace("path = \"run.ron\"", "path = \"run.ron\"\nmax_bytes = 0")).unwrap_err();
        assert_eq!(e, "record.max_bytes: must be above 0");
        let e = parse(&GOOD.replace("path = \"run.ron\"", "path = \"run.ron\"\nkeep = -1")).unwrap_err();
        assert!(e.contains("keep"), "{e}");
        assert_eq!(
            needs_restart(&none, &parse(&GOOD.replace("[record]", "[record]\nkeep = 2")).unwrap()),
            ["record.enabled", "record.path", "record.keep"]
        );
    }

    #[test]
    fn bad_files_name_the_field() {
        // (text replaced, replacement, expected in the error)
        let cases = [
            (
                "10.0.0.2:6379",
                "10.0.0.2",
                "nodes[1].addr: `10.0.0.2` is not host:port",
            ),
            ("\"r2\"", "\"r1\"", "nodes[1].name: `r1` appears twice"),
            ("http://127.0.0.1:2379", "127.0.0.1:2379", "etcd.endpoints[0]"),
            ("down_after_ms = 5000", "down_after_ms = 10", "settings.down_after_ms"),
            ("down_after_ms", "down_afer_ms", "unknown field `down_afer_ms`"),
            ("path = \"run.ron\"", "", "record.path"),
            ("priority = 10", "priority = -1", "priority"),
            ("[settings]", "[settings", "line"),
            (
                "password = \"s3cret\"",
                "poll_timeout_ms = 0",
                "redis.poll_timeout_ms: must be above 0",
            ),
        ];
        for (from, to, expected) in cases {
            let e = parse(&GOOD.replace(from, to)).unwrap_err();
            assert!(e.contains(expected), "expected {expected:?} in {e:?}");
        }
    }

    #[test]
    fn a_check_interval_that_cannot_renew_the_lease_is_refused_naming_both_fields() {
        let with = |ttl_s: i64, check_ms: u64| {
            parse(
                &GOOD
                    .replace(
                        "[settings]\ndown_after_ms = 5000",
                        &format!("[settings]\ndown_after_ms = 60000\ncheck_interval_ms = {check_ms}"),
                    )
                    .replace(
                        "endpoints = [\"http://127.0.0.1:2379\"]",
                        &format!("endpoints = [\"http://127.0.0.1:2379\"]\nttl_s = {ttl_s}"),
                    ),
            )
        };
        // The trial's setting: a check interval as long as the lease.
        let e = with(5, 5000).unwrap_err();
        assert!(e.starts_with("settings.check_interval_ms: 5000 ms"), "{e}");
        assert!(e.contains("etcd.ttl_s = 5 s"), "{e}");
        assert!(e.contains("redis.poll_timeout_ms (200 ms)"), "{e}");
        // Two nodes polled at 200 ms: 2 × (2100 + 400) = 5000 ms fits 5 s,
        // 2 × (2101 + 400) does not.
        assert!(with(5, 2100).is_ok());
        assert!(with(5, 2101).is_err());
        assert!(with(1, 100).is_ok());
        assert!(with(1, 101).is_err());
        // The defaults (1 s checks, 5 s lease) pass.
        assert!(parse(GOOD).is_ok());
    }

    #[test]
    fn the_instance_placeholder_is_expanded_in_the_record_path() {
        let c = parse(&GOOD.replace("run.ron", "runs/arbiter-{instance}.ron")).unwrap();
        assert_eq!(
            c.record.path_for("db1-4242"),
            PathBuf::from("runs/arbiter-db1-4242.ron")
        );
        let fixed = parse(GOOD).unwrap();
        assert_eq!(fixed.record.path_for("db1-4242"), PathBuf::from("run.ron"));
    }

    #[test]
    fn a_change_that_needs_a_restart_names_its_fields_only() {
        let running = parse(GOOD).unwrap();
        assert_eq!(needs_restart(&running, &parse(GOOD).unwrap()), Vec::<&str>::new());
        // [settings] and [[nodes]] apply live.
        let live = parse(
            &GOOD
                .replace("down_after_ms = 5000", "down_after_ms = 6000")
                .replace("priority = 10", "priority = 20"),
        )
        .unwrap();
        assert_eq!(needs_restart(&running, &live), Vec::<&str>::new());
        let changed = GOOD
            .replace("s3cret", "other")
            .replace(
                "endpoints = [\"http://127.0.0.1:2379\"]",
                "endpoints = [\"http://127.0.0.1:2379\"]\nttl_s = 9",
            )
            .replace("password", "timeout_ms = 900\npassword")
            .replace("run.ron", "other.ron");
        assert_eq!(
            needs_restart(&running, &parse(&changed).unwrap()),
            ["etcd.ttl_s", "redis.password", "redis.timeout_ms", "record.path"]
        );
        let min = GOOD.replace("password", "min_replicas_to_write = 1\npassword");
        assert_eq!(
            needs_restart(&running, &parse(&min).unwrap()),
            ["redis.min_replicas_to_write", "redis.min_replicas_max_lag_s"]
        );
    }

    #[test]
    fn hooks_are_optional_and_checked() {
        let none = parse(GOOD).unwrap();
        assert_eq!(none.hooks, HookOptions::default());
        assert_eq!(none.hooks.timeout, Duration::from_secs(10));
        let with = parse(&format!(
            "{GOOD}\n[hooks]\non_role_change = [\"/usr/local/bin/vip\", \"--quiet\"]\ntimeout_ms = 2500\n"
        ))
        .unwrap();
        assert_eq!(with.hooks.on_role_change, ["/usr/local/bin/vip", "--quiet"]);
        assert_eq!(with.hooks.timeout, Duration::from_millis(2500));
        assert_eq!(
            needs_restart(&none, &with),
            ["hooks.on_role_change", "hooks.timeout_ms"]
        );
        for (hooks, expected) in [
            (
                "on_role_change = [\"\"]",
                "hooks.on_role_change[0]: the program must not be empty",
            ),
            (
                "on_role_change = [\"x\"]\ntimeout_ms = 0",
                "hooks.timeout_ms: must be above 0",
            ),
            ("on_change = [\"x\"]", "unknown field `on_change`"),
        ] {
            let e = parse(&format!("{GOOD}\n[hooks]\n{hooks}\n")).unwrap_err();
            assert!(e.contains(expected), "expected {expected:?} in {e:?}");
        }
    }

    #[test]
    fn the_sentinel_section_is_off_when_absent_and_filled_with_defaults_when_present() {
        assert_eq!(parse(GOOD).unwrap().sentinel, None);
        let on = parse(&format!("{GOOD}\n[sentinel]\n")).unwrap().sentinel.unwrap();
        assert_eq!(on, crate::live::sentinel::SentinelOptions::default());
        assert_eq!(on.listen, "127.0.0.1:26379");
        assert_eq!(on.master_name, "mymaster");
        let never = parse(&format!("{GOOD}\n[sentinel]\nidle_timeout_ms = 0\npassword = \"pw\"\n"))
            .unwrap()
            .sentinel
            .unwrap();
        assert_eq!(never.idle_timeout, None);
        assert_eq!(never.password.as_ref().map(Secret::reveal).as_deref(), Some("pw"));
        let running = parse(GOOD).unwrap();
        let with = parse(&format!("{GOOD}\n[sentinel]\n")).unwrap();
        assert_eq!(needs_restart(&running, &with), ["sentinel"]);
    }

    #[test]
    fn a_bad_sentinel_section_names_the_field() {
        let cases = [
            ("listen = \"26379\"", "sentinel.listen: `26379` is not host:port"),
            ("announce = \"x\"", "sentinel.announce: `x` is not host:port"),
            (
                "master_name = \"my master\"",
                "sentinel.master_name: `my master` must be printable",
            ),
            ("master_name = \"\"", "sentinel.master_name"),
            ("password = \"\"", "sentinel.password: must not be empty"),
            ("max_clients = 0", "sentinel.max_clients: 0 is not between 1 and 10000"),
            ("max_request_bytes = 10", "sentinel.max_request_bytes: 10"),
            ("write_timeout_ms = 0", "sentinel.write_timeout_ms: must be above 0"),
            ("port = 1", "unknown field `port`"),
        ];
        for (line, expected) in cases {
            let e = parse(&format!("{GOOD}\n[sentinel]\n{line}\n")).unwrap_err();
            assert!(e.contains(expected), "expected {expected:?} in {e:?}");
        }
    }

    #[test]
    fn the_http_section_is_off_by_default_and_validated_naming_its_fields() {
        assert_eq!(parse(GOOD).unwrap().http, None);
        // Loopback unless configured otherwise (as the sample says).
        let default = parse(&format!("{GOOD}\n[http]\n")).unwrap().http.unwrap();
        assert_eq!(default.listen, "127.0.0.1:8008".parse().unwrap());
        let with = |http: &str| parse(&format!("{GOOD}\n[http]\n{http}\n"));
        let c = with("listen = \"127.0.0.1:8008\"").unwrap();
        let http = c.http.unwrap();
        assert_eq!(http.listen, "127.0.0.1:8008".parse().unwrap());
        assert_eq!(
            HttpOptions {
                listen: http.listen,
                ..HttpOptions::default()
            },
            http,
            "defaults"
        );
        let c =
            with("listen = \"[::]:0\"\nmax_connections = 4\nrequest_timeout_ms = 500\nview_max_age_ms = 2000").unwrap();
        let http = c.http.unwrap();
        assert_eq!(http.max_connections, 4);
        assert_eq!(http.request_timeout, Duration::from_millis(500));
        assert_eq!(http.view_max_age, Duration::from_millis(2000));
        for (text, expected) in [
            (
                "listen = \"localhost:8008\"",
                "http.listen: `localhost:8008` is not ip:port",
            ),
            ("listen = \"127.0.0.1\"", "http.listen: `127.0.0.1` is not ip:port"),
            ("listen = 8008", "invalid type: integer `8008`, expected a string"),
            (
                "listen = \"127.0.0.1:1\"\nmax_connections = 0",
                "http.max_connections: must be above 0",
            ),
            (
                "listen = \"127.0.0.1:1\"\nmax_head_bytes = 100",
                "http.max_head_bytes: 100 is too small",
            ),
            (
                "listen = \"127.0.0.1:1\"\nrequest_timeout_ms = 0",
                "http.request_timeout_ms: must be above 0",
            ),
            (
                "listen = \"127.0.0.1:1\"\nview_max_age_ms = 0",
                "http.view_max_age_ms: must be above 0",
            ),
            (
                "listen = \"127.0.0.1:1\"\nstalled_after_ms = 1999",
                "http.stalled_after_ms: 1999 ms is shorter than two checks (2 × settings.check_interval_ms = 2000 ms)",
            ),
            ("listen = \"127.0.0.1:1\"\nport = 1", "unknown field `port`"),
        ] {
            let e = with(text).unwrap_err();
            assert!(e.contains(expected), "expected {expected:?} in {e:?}");
        }
        // Only a restart applies it.
        let running = parse(GOOD).unwrap();
        let http = with("listen = \"127.0.0.1:8008\"").unwrap();
        assert_eq!(needs_restart(&running, &http), ["http"]);
    }

    #[test]
    fn credentials_are_checked_and_never_shown_by_debug() {
        let with = |redis: &str, etcd: &str| {
            parse(&GOOD.replace("password = \"s3cret\"", redis).replace(
                "endpoints = [\"http://127.0.0.1:2379\"]",
                &format!("endpoints = [\"http://127.0.0.1:2379\"]\n{etcd}"),
            ))
        };
        let c = with(
            "username = \"arbiter\"\npassword = \"hunter2-redis\"",
            "username = \"arb\"\npassword = \"hunter2-etcd\"",
        )
        .unwrap();
        assert_eq!(c.live.auth.redis_username.as_deref(), Some("arbiter"));
        assert_eq!(c.live.auth.replication, None, "replicas authenticate as arbiter");
        let replication = with(
            "username = \"arbiter\"\npassword = \"hunter2-redis\"\nreplication_username = \"replica\"\nreplication_password = \"hunter2-replica\"",
            "username = \"arb\"\npassword = \"hunter2-etcd\"",
        )
        .unwrap();
        let r = replication.live.auth.replication.as_ref().unwrap();
        assert_eq!(
            (r.username.as_deref(), r.password.reveal().as_str()),
            (Some("replica"), "hunter2-replica")
        );
        assert!(!format!("{replication:?}").contains("hunter2"));
        assert_eq!(needs_restart(&c, &replication), ["redis.replication_*"]);
        let etcd = c.live.auth.etcd.as_ref().unwrap();
        assert_eq!(
            (etcd.username.as_str(), etcd.password.reveal().as_str()),
            ("arb", "hunter2-etcd")
        );
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("Secret(inline)"), "{shown}");
        for (redis, etcd, expected) in [
            ("username = \"arbiter\"", "", "redis.username: needs a password"),
            (
                "username = \"a b\"\npassword = \"x\"",
                "",
                "redis.username: `a b` must be printable",
            ),
            (
                "password = \"x\"\npassword_env = \"HOME\"",
                "",
                "redis.password_env: set only one of redis.password, redis.password_file and redis.password_env",
            ),
            ("", "username = \"arb\"", "etcd.username: needs a password"),
            ("", "password = \"x\"", "etcd.password: needs etcd.username"),
            (
                "",
                "username = \"\"\npassword = \"x\"",
                "etcd.username: must not be empty",
            ),
            (
                "password_file = \"relative.pw\"",
                "",
                "redis.password_file: `relative.pw` must be an absolute path",
            ),
            (
                "replication_username = \"replica\"",
                "",
                "redis.replication_username: needs a password (redis.replication_password",
            ),
            (
                "replication_username = \"a b\"\nreplication_password = \"x\"",
                "",
                "redis.replication_username: `a b` must be printable",
            ),
            (
                "replication_password = \"x\"\nreplication_password_env = \"HOME\"",
                "",
                "redis.replication_password_env: set only one of redis.replication_password, \
                 redis.replication_password_file and redis.replication_password_env",
            ),
            (
                "replication_password = \"\"",
                "",
                "redis.replication_password: must not be empty",
            ),
        ] {
            let e = with(redis, etcd).unwrap_err();
            assert!(e.contains(expected), "expected {expected:?} in {e:?}");
        }
        let e = parse(&format!(
            "{GOOD}\n[sentinel]\npassword = \"a\"\npassword_env = \"HOME\"\n"
        ))
        .unwrap_err();
        assert!(e.starts_with("sentinel.password_env: set only one of"), "{e}");
        // Which credentials changed is told by name; a rewritten password
        // file is no change (it is read again), another file is.
        let running = parse(GOOD).unwrap();
        assert_eq!(
            needs_restart(&running, &c),
            ["redis.password", "redis.username", "etcd.username", "etcd.password"]
        );
    }

    #[test]
    fn a_relative_password_file_is_relative_to_the_configuration_file() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("redis.pw");
        std::fs::write(&pw, "hunter2-relative\n").unwrap();
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
        let text = GOOD.replace("password = \"s3cret\"", "password_file = \"redis.pw\"");
        let path = dir.path().join("arbiter.toml");
        std::fs::write(&path, &text).unwrap();
        let c = load(&path).unwrap();
        assert_eq!(c.live.password.as_ref().unwrap().reveal(), "hunter2-relative");
        // A text read from no file has nothing to be relative to.
        let e = parse(&text).unwrap_err();
        assert!(e.contains("`redis.pw` must be an absolute path"), "{e}");
    }

    #[test]
    fn tls_sections_are_checked_naming_the_field_and_the_file() {
        // Plain by default.
        let plain = parse(GOOD).unwrap();
        assert_eq!(
            (plain.live.redis_tls.is_none(), plain.live.etcd_tls.is_none()),
            (true, true)
        );
        let https = GOOD.replace("http://127.0.0.1:2379", "https://127.0.0.1:2379");
        // https:// alone: Mozilla's roots.
        assert!(parse(&https).unwrap().live.etcd_tls.is_some());
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("ca.pem");
        let with = |base: &str, section: &str, body: &str| {
            let path = dir.path().join("arbiter.toml");
            std::fs::write(&path, format!("{base}\n[{section}]\n{body}\n")).unwrap();
            load(&path).map_err(|e| e.message)
        };
        // Relative to the configuration file.
        let e = with(GOOD, "redis.tls", "ca_file = \"ca.pem\"").unwrap_err();
        assert!(
            e.starts_with(&format!("redis.tls.ca_file: {}: cannot read", missing.display())),
            "{e}"
        );
        std::fs::write(&missing, "no PEM here\n").unwrap();
        let e = with(&https, "etcd.tls", "ca_file = \"ca.pem\"").unwrap_err();
        assert!(
            e.starts_with(&format!(
                "etcd.tls.ca_file: {}: no certificate in it",
                missing.display()
            )),
            "{e}"
        );
        for (base, section, body, expected) in [
            (GOOD, "etcd.tls", "", "etcd.tls: set, but no etcd.endpoints is https://"),
            (
                &https.replace(
                    "endpoints = [\"https://127.0.0.1:2379\"]",
                    "endpoints = [\"https://a:1\", \"http://b:2\"]",
                ),
                "etcd.tls",
                "",
                "etcd.endpoints[1]: `http://b:2` is plain http:// beside https:// endpoints (all or none)",
            ),
            (
                GOOD,
                "redis.tls",
                "key_file = \"k.pem\"",
                "redis.tls.key_file: set without redis.tls.cert_file",
            ),
            (
                GOOD,
                "redis.tls",
                "server_name = \"a name\"",
                "redis.tls.server_name: `a name` is neither a DNS name nor an IP address",
            ),
            (GOOD, "redis.tls", "sni = \"x\"", "unknown field `sni`"),
            (
                &format!("{GOOD}\n[http]\nlisten = \"127.0.0.1:0\"\n"),
                "http.tls",
                "cert_file = \"ca.pem\"\nkey_file = \"k.pem\"",
                &format!("http.tls.cert_file: {}: no certificate in it", missing.display()),
            ),
            (
                &format!("{GOOD}\n[sentinel]\n"),
                "sentinel.tls",
                "cert_file = \"nope.pem\"\nkey_file = \"k.pem\"",
                "sentinel.tls.cert_file: ",
            ),
            (
                &format!("{GOOD}\n[sentinel]\n"),
                "sentinel.tls",
                "key_file = \"k.pem\"",
                "missing field `cert_file`",
            ),
        ] {
            let e = with(base, section, body).unwrap_err();
            assert!(e.contains(expected), "expected {expected:?} in {e:?}");
        }
    }

    #[test]
    fn a_missing_file_is_an_error_naming_it() {
        let e = load(Path::new("/nonexistent/arbiter.toml")).unwrap_err();
        assert!(
            e.to_string().starts_with("/nonexistent/arbiter.toml: cannot read"),
            "{e}"
        );
    }
}
