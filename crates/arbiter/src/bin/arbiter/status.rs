//! `arbiter status`: the leader and its epoch, the group record, the
//! group's control and the latest switchover, and every node as it
//! answers now; exit code 1 when etcd or a node does not answer.

use std::path::PathBuf;
use std::process::ExitCode;

/// `arbiter status --config PATH`.
pub(crate) fn status(path: PathBuf) -> ExitCode {
    use arbiter::live::etcd::Etcd;
    use arbiter::live::redis::RedisNodes;
    use arbiter::types::{GroupRecord, RedisError, Role};

    let config = match arbiter::config::load(&path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("arbiter: {e}");
            return ExitCode::from(2);
        }
    };
    let mut healthy = true;
    let keys = arbiter::live::keys::Keys::new(&config.live.prefix);
    let prefix = keys.prefix();
    let etcd = Etcd::new(config.live.etcd.clone(), config.live.timeout);
    say!("group {prefix} (etcd {})", config.live.etcd.join(", "));
    match etcd.get_prefix(&keys.election()) {
        Ok(c) => match c.first() {
            Some(leader) => say!("leader: {} (epoch {})", leader.value, leader.create_revision),
            None => say!("leader: none"),
        },
        Err(e) => {
            healthy = false;
            say!("leader: unknown ({e})");
        }
    }
    let record = etcd.get(&keys.record(), false);
    // (0: no record; `None`: etcd did not answer)
    let record_revision = record
        .as_ref()
        .ok()
        .map(|kv| kv.as_ref().map_or(0, |kv| kv.mod_revision));
    match record {
        Ok(Some(kv)) => match serde_json::from_str::<GroupRecord>(&kv.value) {
            Ok(r) if r.lost_data => say!(
                "record: primary {} (epoch {}), lost data (the other copies are kept from resyncing from it until every node answers holding no more keys than it)",
                r.primary,
                r.epoch
            ),
            Ok(r) => say!("record: primary {} (epoch {})", r.primary, r.epoch),
            Err(e) => say!("record: unreadable ({e}): {}", kv.value),
        },
        Ok(None) => say!("record: none yet"),
        Err(e) => {
            healthy = false;
            say!("record: unknown ({e})");
        }
    }
    // (etcd answered: the group's state is worth the reads)
    if record_revision.is_some() {
        control_status(&etcd, &keys, record_revision);
        switchover_status(&etcd, &keys);
    }
    let file = &config.group.settings;
    if file.paused || file.allow_data_loss {
        let set = [
            ("settings.paused", file.paused),
            ("settings.allow_data_loss", file.allow_data_loss),
        ]
        .iter()
        .filter(|(_, on)| *on)
        .map(|(f, _)| format!("{f} = true"))
        .collect::<Vec<_>>()
        .join(", ");
        say!("this host's file: {set} (holds for this host's instance only, while it leads)");
    }
    let redis = RedisNodes::new(config.live.timeout, config.live.password.clone());
    for node in &config.group.nodes {
        let what = match redis.status(&node.addr) {
            Ok(s) => {
                let role = match &s.role {
                    Role::Primary => "primary".to_string(),
                    Role::Replica {
                        primary,
                        link_up,
                        link_down_ms,
                    } => match (link_up, link_down_ms) {
                        (true, _) => format!("replica of {primary} (link up)"),
                        (false, Some(ms)) if *ms < u64::MAX => {
                            format!("replica of {primary} (link down for {} s)", ms / 1000)
                        }
                        (false, _) => format!("replica of {primary} (link down)"),
                    },
                };
                let keys = s.keys.map_or_else(String::new, |k| format!(", keys {k}"));
                format!("{role}, offset {}{keys}, run id {}", s.offset, s.run_id)
            }
            Err(e) => {
                healthy = false;
                match e {
                    // Already say what happened ("unreachable: ...",
                    // "authentication failed: ...").
                    RedisError::Unreachable(_) | RedisError::Auth(_) => e.to_string(),
                    _ => format!("unreachable: {e}"),
                }
            }
        };
        say!("{} {}: {what}", node.name, node.addr);
    }
    if healthy { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// Prints the group's control: paused or not (by whom, when), the
/// data-loss grant and whether it still applies with the record at
/// `record_revision`, the last change and the leader's acknowledgement.
fn control_status(etcd: &arbiter::live::etcd::Etcd, keys: &arbiter::live::keys::Keys, record_revision: Option<i64>) {
    use arbiter::live::control::{ControlAck, GroupControl};
    let (control, revision) = match etcd.get(&keys.control(), false) {
        Ok(None) => (GroupControl::default(), 0),
        Ok(Some(kv)) => match GroupControl::parse(&kv.value) {
            Ok(c) => (c, kv.mod_revision),
            Err(e) => {
                say!("control: unreadable ({}: {e}): {}", keys.control(), kv.value);
                return;
            }
        },
        Err(e) => {
            say!("control: unknown ({e})");
            return;
        }
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
            let state = if control.grant_in_force(record_revision) {
                format!(
                    "pending: one failover may lose data, until the group record changes (revision {}{primary})",
                    g.record_revision
                )
            } else {
                format!(
                    "lapsed: the group record changed since (revision {}{primary} then, {} now)",
                    g.record_revision,
                    record_revision.unwrap_or_default()
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
    let ack = match etcd.get(&keys.control_ack(), false) {
        Ok(Some(kv)) => match serde_json::from_str::<ControlAck>(&kv.value) {
            Ok(a) if a.revision >= revision => format!("acknowledged by {} (epoch {})", a.instance, a.epoch),
            Ok(a) => format!(
                "not acknowledged yet (the last acknowledgement, by {} at epoch {}, is of revision {})",
                a.instance, a.epoch, a.revision
            ),
            Err(e) => format!("acknowledgement unreadable ({e})"),
        },
        Ok(None) => "not acknowledged yet".to_string(),
        Err(e) => format!("acknowledgement unknown ({e})"),
    };
    say!("control: revision {revision}{last}, {ack}");
}

/// Prints a switchover request not taken yet and the latest answer.
fn switchover_status(etcd: &arbiter::live::etcd::Etcd, keys: &arbiter::live::keys::Keys) {
    use arbiter::live::switchover::SwitchoverAnswer;
    if let Ok(Some(kv)) = etcd.get(&keys.switchover(), false) {
        say!(
            "switchover request: {} (revision {}), not taken by a leader yet",
            kv.value,
            kv.mod_revision
        );
    }
    match etcd.get(&keys.switchover_status(), false) {
        Ok(Some(kv)) => match serde_json::from_str::<SwitchoverAnswer>(&kv.value) {
            Ok(a) => {
                let outcome = serde_json::to_value(a.outcome)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                let reason = a.reason.map(|r| format!(": {r}")).unwrap_or_default();
                let request = a
                    .request
                    .map(|r| format!(" (request revision {r})"))
                    .unwrap_or_default();
                say!("switchover: to {} {outcome}{reason}{request}", a.target);
            }
            Err(e) => say!("switchover: answer unreadable ({e}): {}", kv.value),
        },
        Ok(None) => say!("switchover: none requested"),
        Err(e) => say!("switchover: unknown ({e})"),
    }
}
