//! `arbiter status`: the leader and its epoch, the group record and every
//! node as it answers now; exit code 1 when etcd or a node does not answer.
//! With `--json`, the same facts as one JSON document ([`Status`]; its
//! fields are listed in the crate README, "Health checks and metrics").

use std::path::PathBuf;
use std::process::ExitCode;

use arbiter::types::{GroupRecord, RedisError, Role};
use serde::Serialize;

/// Everything `arbiter status` tells, as `--json` prints it.
#[derive(Debug, Serialize)]
struct Status {
    /// The group's etcd prefix.
    group: String,
    /// The etcd endpoints asked.
    etcd: Vec<String>,
    /// The leading instance, `null` when none leads (or etcd did not
    /// answer: then `leader_error` says why).
    leader: Option<Leader>,
    leader_error: Option<String>,
    /// The group record, `null` when there is none yet (or it could not be
    /// read: then `record_error` says why).
    record: Option<Record>,
    record_error: Option<String>,
    /// Every configured node, in configuration order.
    nodes: Vec<Node>,
    /// etcd and every node answered (exit code 0).
    healthy: bool,
}

#[derive(Debug, Serialize)]
struct Leader {
    instance: String,
    epoch: i64,
}

#[derive(Debug, Serialize)]
struct Record {
    primary: String,
    epoch: i64,
    run_id: Option<String>,
    lost_data: bool,
}

#[derive(Debug, Serialize)]
struct Node {
    name: String,
    addr: String,
    /// It answered `INFO`; the fields below but `error` are `null` when it
    /// did not.
    answered: bool,
    /// `primary` or `replica`.
    role: Option<&'static str>,
    /// A replica's primary, as it reports it (`host:port`).
    replica_of: Option<String>,
    link_up: Option<bool>,
    /// How long a replica's link has been down, when it is.
    link_down_ms: Option<u64>,
    offset: Option<u64>,
    keys: Option<u64>,
    run_id: Option<String>,
    /// Why it did not answer (`unreachable: ...`, `authentication
    /// failed: ...`).
    error: Option<String>,
}

/// `arbiter status --config PATH [--json]`.
pub(crate) fn status(path: PathBuf, json: bool) -> ExitCode {
    let config = match arbiter::config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("arbiter: {e}");
            return ExitCode::from(2);
        }
    };
    let status = gather(&config);
    if json {
        match serde_json::to_string_pretty(&status) {
            Ok(text) => say!("{text}"),
            Err(e) => {
                eprintln!("arbiter: cannot write JSON: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        print_text(&status);
    }
    if status.healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Asks etcd and every node.
fn gather(config: &arbiter::config::Config) -> Status {
    use arbiter::live::etcd::Etcd;
    use arbiter::live::redis::RedisNodes;

    let keys = arbiter::live::keys::Keys::new(&config.live.prefix);
    let etcd = Etcd::new(config.live.etcd.clone(), config.live.timeout);
    let mut healthy = true;
    let (leader, leader_error) = match etcd.get_prefix(&keys.election()) {
        Ok(c) => (
            c.first().map(|kv| Leader {
                instance: kv.value.clone(),
                epoch: kv.create_revision,
            }),
            None,
        ),
        Err(e) => {
            healthy = false;
            (None, Some(e.to_string()))
        }
    };
    let (record, record_error) = match etcd.get(&keys.record(), false) {
        Ok(Some(kv)) => match serde_json::from_str::<GroupRecord>(&kv.value) {
            Ok(r) => (
                Some(Record {
                    primary: r.primary,
                    epoch: r.epoch.get(),
                    run_id: r.run_id,
                    lost_data: r.lost_data,
                }),
                None,
            ),
            Err(e) => (None, Some(format!("unreadable ({e}): {}", kv.value))),
        },
        Ok(None) => (None, None),
        Err(e) => {
            healthy = false;
            (None, Some(e.to_string()))
        }
    };
    let redis = RedisNodes::new(config.live.timeout, config.live.password.clone());
    let nodes = config
        .group
        .nodes
        .iter()
        .map(|node| {
            let mut n = Node {
                name: node.name.clone(),
                addr: node.addr.clone(),
                answered: false,
                role: None,
                replica_of: None,
                link_up: None,
                link_down_ms: None,
                offset: None,
                keys: None,
                run_id: None,
                error: None,
            };
            match redis.status(&node.addr) {
                Ok(s) => {
                    n.answered = true;
                    match s.role {
                        Role::Primary => n.role = Some("primary"),
                        Role::Replica {
                            primary,
                            link_up,
                            link_down_ms,
                        } => {
                            n.role = Some("replica");
                            n.replica_of = Some(primary);
                            n.link_up = Some(link_up);
                            n.link_down_ms = link_down_ms.filter(|ms| !link_up && *ms < u64::MAX);
                        }
                    }
                    n.offset = Some(s.offset);
                    n.keys = s.keys;
                    n.run_id = Some(s.run_id);
                }
                Err(e) => {
                    healthy = false;
                    n.error = Some(match e {
                        // Already say what happened ("unreachable: ...",
                        // "authentication failed: ...").
                        RedisError::Unreachable(_) | RedisError::Auth(_) => e.to_string(),
                        _ => format!("unreachable: {e}"),
                    });
                }
            }
            n
        })
        .collect();
    Status {
        group: keys.prefix().to_string(),
        etcd: config.live.etcd.clone(),
        leader,
        leader_error,
        record,
        record_error,
        nodes,
        healthy,
    }
}

/// The text `arbiter status` prints.
fn print_text(s: &Status) {
    say!("group {} (etcd {})", s.group, s.etcd.join(", "));
    match (&s.leader, &s.leader_error) {
        (_, Some(e)) => say!("leader: unknown ({e})"),
        (Some(l), None) => say!("leader: {} (epoch {})", l.instance, l.epoch),
        (None, None) => say!("leader: none"),
    }
    match (&s.record, &s.record_error) {
        (Some(r), _) if r.lost_data => say!(
            "record: primary {} (epoch {}), lost data (the other copies are kept from resyncing from it until every node answers holding no more keys than it)",
            r.primary,
            r.epoch
        ),
        (Some(r), _) => say!("record: primary {} (epoch {})", r.primary, r.epoch),
        (None, Some(e)) if e.starts_with("unreadable") => say!("record: {e}"),
        (None, Some(e)) => say!("record: unknown ({e})"),
        (None, None) => say!("record: none yet"),
    }
    for n in &s.nodes {
        let what = match (&n.error, n.role) {
            (Some(e), _) => e.clone(),
            (None, role) => {
                let role = match (role, &n.replica_of, n.link_up, n.link_down_ms) {
                    (Some("replica"), Some(p), Some(true), _) => format!("replica of {p} (link up)"),
                    (Some("replica"), Some(p), _, Some(ms)) => {
                        format!("replica of {p} (link down for {} s)", ms / 1000)
                    }
                    (Some("replica"), Some(p), _, None) => format!("replica of {p} (link down)"),
                    _ => "primary".to_string(),
                };
                let keys = n.keys.map_or_else(String::new, |k| format!(", keys {k}"));
                format!(
                    "{role}, offset {}{keys}, run id {}",
                    n.offset.unwrap_or_default(),
                    n.run_id.as_deref().unwrap_or_default()
                )
            }
        };
        say!("{} {}: {what}", n.name, n.addr);
    }
}
