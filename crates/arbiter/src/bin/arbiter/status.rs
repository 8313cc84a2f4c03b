//! `arbiter status`: the leader and its epoch, the group record, the
//! group's control and the latest switchover, and every node as it
//! answers now; exit code 1 when etcd or a node does not answer.
//! With `--json`, the same facts as one JSON document ([`Status`]; its
//! fields are listed in the crate README, "Health checks and metrics").

use std::path::PathBuf;
use std::process::ExitCode;

use arbiter::live::control::{ControlAck, GroupControl};
use arbiter::live::switchover::SwitchoverAnswer;
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
    /// The record's etcd revision (0: no record; `null`: not read).
    record_revision: Option<i64>,
    /// The group's control (`arbiter pause`, `allow-data-loss --once`), as
    /// in `PREFIX/control`; `null` when not read (`control_error` says why).
    control: Option<GroupControl>,
    /// Its etcd revision (0: never written).
    control_revision: Option<i64>,
    control_error: Option<String>,
    /// The one-time data-loss grant holds now (the record has not changed
    /// since it was given).
    allow_data_loss_pending: bool,
    /// The leader's acknowledgement of the control, as in
    /// `PREFIX/control-ack`.
    control_ack: Option<ControlAck>,
    /// A switchover request not taken by a leader yet (the node named).
    switchover_request: Option<String>,
    /// Its etcd revision.
    switchover_request_revision: Option<i64>,
    /// The answer to the latest switchover request.
    switchover_answer: Option<SwitchoverAnswer>,
    /// `settings.paused` and `settings.allow_data_loss` in this host's file
    /// (they hold for this host's instance only, while it leads).
    host_paused: bool,
    host_allow_data_loss: bool,
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
    let etcd = Etcd::with_tls(
        config.live.etcd.clone(),
        config.live.timeout,
        config.live.etcd_tls.as_ref(),
    );
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
    let record_read = etcd.get(&keys.record(), false);
    let record_revision = record_read
        .as_ref()
        .ok()
        .map(|kv| kv.as_ref().map_or(0, |kv| kv.mod_revision));
    let (record, record_error) = match record_read {
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
    let redis =
        RedisNodes::new(config.live.timeout, config.live.password.clone()).with_tls(config.live.redis_tls.clone());
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
    let (control, control_revision, control_error) = match etcd.get(&keys.control(), false) {
        Ok(None) => (Some(GroupControl::default()), Some(0), None),
        Ok(Some(kv)) => match GroupControl::parse(&kv.value) {
            Ok(c) => (Some(c), Some(kv.mod_revision), None),
            Err(e) => (
                None,
                None,
                Some(format!("unreadable ({}: {e}): {}", keys.control(), kv.value)),
            ),
        },
        Err(e) => (None, None, Some(e.to_string())),
    };
    let read = |key: String| etcd.get(&key, false).ok().flatten();
    let control_ack = read(keys.control_ack()).and_then(|kv| serde_json::from_str(&kv.value).ok());
    let request = read(keys.switchover());
    let switchover_request_revision = request.as_ref().map(|kv| kv.mod_revision);
    let switchover_request = request.map(|kv| kv.value);
    let switchover_answer = read(keys.switchover_status()).and_then(|kv| serde_json::from_str(&kv.value).ok());
    let settings = &config.group.settings;
    Status {
        allow_data_loss_pending: control.as_ref().is_some_and(|c| c.grant_in_force(record_revision)),
        record_revision,
        control,
        control_revision,
        control_error,
        control_ack,
        switchover_request,
        switchover_request_revision,
        switchover_answer,
        host_paused: settings.paused,
        host_allow_data_loss: settings.allow_data_loss,
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
    print_control(s);
    print_switchover(s);
    if s.host_paused || s.host_allow_data_loss {
        let set = [
            ("settings.paused", s.host_paused),
            ("settings.allow_data_loss", s.host_allow_data_loss),
        ]
        .iter()
        .filter(|(_, on)| *on)
        .map(|(f, _)| format!("{f} = true"))
        .collect::<Vec<_>>()
        .join(", ");
        say!("this host's file: {set} (holds for this host's instance only, while it leads)");
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

/// The group's control: paused or not, a one-time data-loss grant, and
/// whether the leader has acknowledged the latest change.
fn print_control(s: &Status) {
    let (Some(control), Some(revision)) = (&s.control, s.control_revision) else {
        if let Some(e) = &s.control_error {
            say!("control: {e}");
        }
        return;
    };
    match &control.paused {
        Some(p) => say!("paused: yes, by {} at {} (`arbiter resume` resumes)", p.by, p.at),
        None => say!("paused: no"),
    }
    match &control.allow_data_loss {
        None => say!("allow-data-loss: no grant"),
        Some(g) => {
            let primary = g
                .record_primary
                .as_ref()
                .map_or_else(String::new, |p| format!(", primary {p}"));
            let state = if s.allow_data_loss_pending {
                format!(
                    "pending: one failover may lose data, until the group record changes (revision {}{primary})",
                    g.record_revision
                )
            } else {
                format!(
                    "lapsed: the group record changed since (revision {}{primary} then, {} now)",
                    g.record_revision,
                    s.record_revision.unwrap_or_default()
                )
            };
            say!(
                "allow-data-loss: granted once by {} at {}, {state}",
                g.stamp.by,
                g.stamp.at
            );
        }
    }
    if revision == 0 {
        return;
    }
    let last = control.last_change.as_ref().map_or_else(String::new, |c| {
        format!(" ({} by {} at {})", c.command, c.stamp.by, c.stamp.at)
    });
    let ack = match &s.control_ack {
        Some(a) if a.revision >= revision => format!("acknowledged by {} (epoch {})", a.instance, a.epoch),
        Some(a) => format!(
            "not acknowledged yet (the last acknowledgement, by {} at epoch {}, is of revision {})",
            a.instance, a.epoch, a.revision
        ),
        None => "not acknowledged yet".to_string(),
    };
    say!("control: revision {revision}{last}, {ack}");
}

/// A switchover request not taken yet, and the latest answer.
fn print_switchover(s: &Status) {
    if s.control.is_none() {
        // (etcd did not answer: nothing to tell)
        return;
    }
    if let Some(target) = &s.switchover_request {
        say!(
            "switchover request: {target} (revision {}), not taken by a leader yet",
            s.switchover_request_revision.unwrap_or_default()
        );
    }
    match &s.switchover_answer {
        Some(a) => {
            let outcome = serde_json::to_value(a.outcome)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            let reason = a.reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default();
            let request = a
                .request
                .map(|r| format!(" (request revision {r})"))
                .unwrap_or_default();
            say!("switchover: to {} {outcome}{reason}{request}", a.target);
        }
        None => say!("switchover: none requested"),
    }
}
