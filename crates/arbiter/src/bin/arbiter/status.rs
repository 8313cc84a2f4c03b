//! `arbiter status`: the leader and its epoch, the group record and every
//! node as it answers now; exit code 1 when etcd or a node does not answer.

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
    match etcd.get(&keys.record(), false) {
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
