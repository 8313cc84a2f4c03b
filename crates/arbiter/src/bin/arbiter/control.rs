//! `arbiter pause`, `arbiter resume` and `arbiter allow-data-loss --once |
//! --withdraw`: the group's operator state in etcd (`PREFIX/control`, see
//! `arbiter::live::control`), each change answered by the leader's
//! acknowledgement (`PREFIX/control-ack`), waited for up to a timeout.
//! Also the pieces `arbiter switchover` shares: the group opened from a
//! configuration file, who the operator is, why nobody answered.

use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use arbiter::live::control::{Change, ControlAck, DataLossGrant, GroupControl, Stamp};
use arbiter::live::etcd::{Etcd, EtcdError, KeyValue};
use arbiter::live::keys::Keys;

/// How often the commands look for an answer.
pub(crate) const POLL: Duration = Duration::from_millis(100);

/// A group opened from its configuration file: the configuration, its
/// keys and an etcd client.
pub(crate) struct Group {
    /// The configuration file, loaded.
    pub(crate) config: arbiter::config::Config,
    /// The group's keys.
    pub(crate) keys: Keys,
    /// etcd.
    pub(crate) etcd: Etcd,
}

impl Group {
    /// Loads `path`; on a bad configuration says why on stderr and gives
    /// exit code 2.
    pub(crate) fn open(path: &Path) -> Result<Self, ExitCode> {
        match arbiter::config::load(path) {
            Ok(config) => Ok(Self {
                keys: Keys::new(&config.live.prefix),
                etcd: Etcd::with_tls(
                    config.live.etcd.clone(),
                    config.live.timeout,
                    config.live.etcd_tls.as_ref(),
                ),
                config,
            }),
            Err(e) => {
                eprintln!("arbiter: {e}");
                Err(ExitCode::from(2))
            }
        }
    }

    /// The etcd endpoints, for messages.
    pub(crate) fn endpoints(&self) -> String {
        self.config.live.etcd.join(", ")
    }

    /// Why no leader answered: nobody runs, the leader (named) did not,
    /// or etcd does not answer.
    pub(crate) fn why_no_answer(&self) -> String {
        let election = self.keys.election();
        match self.etcd.get_prefix(&election) {
            Ok(c) if c.is_empty() => format!("no instance is running (nothing under {election})"),
            Ok(c) => format!(
                "the leader {} (epoch {}) did not answer in time",
                c[0].value, c[0].create_revision
            ),
            Err(e) => format!("etcd does not answer ({e})"),
        }
    }
}

/// `user@host` of whoever runs the command (`$USER`, or `$LOGNAME`, or
/// `uid<N>`, and `/etc/hostname`).
pub(crate) fn operator() -> Stamp {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| format!("uid{}", rustix::process::getuid().as_raw()));
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    Stamp {
        by: format!("{user}@{host}"),
        at: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
    }
}

/// What a control command changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// `arbiter pause`.
    Pause,
    /// `arbiter resume`.
    Resume,
    /// `arbiter allow-data-loss --once`.
    AllowOnce,
    /// `arbiter allow-data-loss --withdraw`.
    Withdraw,
}

impl Action {
    /// The command, as stored in `last_change` and printed.
    fn command(self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::AllowOnce => "allow-data-loss --once",
            Self::Withdraw => "allow-data-loss --withdraw",
        }
    }

    /// `control` with this action applied (the group record being at
    /// `record` = (mod revision, primary)), or why nothing changes.
    fn apply(self, control: &GroupControl, record: &(i64, Option<String>)) -> Result<GroupControl, String> {
        let mut new = control.clone();
        match self {
            Self::Pause => match &control.paused {
                Some(p) => return Err(format!("the group was already paused (by {} at {})", p.by, p.at)),
                None => new.paused = Some(operator()),
            },
            Self::Resume => match &control.paused {
                None => return Err("the group was not paused".into()),
                Some(_) => new.paused = None,
            },
            Self::AllowOnce => match &control.allow_data_loss {
                Some(g) if g.record_revision == record.0 => {
                    return Err(format!(
                        "data loss was already allowed once (by {} at {}) for the record at revision {}",
                        g.stamp.by, g.stamp.at, g.record_revision
                    ));
                }
                _ => {
                    new.allow_data_loss = Some(DataLossGrant {
                        record_revision: record.0,
                        record_primary: record.1.clone(),
                        stamp: operator(),
                    });
                }
            },
            Self::Withdraw => match &control.allow_data_loss {
                None => return Err("there was no data-loss grant".into()),
                Some(_) => new.allow_data_loss = None,
            },
        }
        new.last_change = Some(Change {
            command: self.command().to_string(),
            stamp: operator(),
        });
        Ok(new)
    }
}

/// The group record's mod revision (0: none) and primary.
fn record_now(group: &Group) -> Result<(i64, Option<String>), EtcdError> {
    Ok(match group.etcd.get(&group.keys.record(), false)? {
        None => (0, None),
        Some(kv) => {
            let primary = serde_json::from_str::<arbiter::types::GroupRecord>(&kv.value)
                .ok()
                .map(|r| r.primary);
            (kv.mod_revision, primary)
        }
    })
}

/// Applies `action` to `PREFIX/control` (a compare-and-swap, retried when
/// another command changed it meanwhile): the revision to wait for (the
/// write's, or the key's own when nothing changed, then with why), and
/// the group control now.
fn write(group: &Group, action: Action) -> Result<(i64, GroupControl, Option<String>), String> {
    let key = group.keys.control();
    let cannot = |e: EtcdError| format!("cannot update {key} in etcd ({}): {e}", group.endpoints());
    for _ in 0..5 {
        let kv: Option<KeyValue> = group.etcd.get(&key, false).map_err(cannot)?;
        let (revision, control) = match &kv {
            None => (0, GroupControl::default()),
            Some(kv) => (
                kv.mod_revision,
                GroupControl::parse(&kv.value).map_err(|e| format!("{key}: {e}: {}", kv.value))?,
            ),
        };
        let record = if action == Action::AllowOnce {
            record_now(group).map_err(|e| format!("cannot read {} in etcd: {e}", group.keys.record()))?
        } else {
            (0, None)
        };
        let new = match action.apply(&control, &record) {
            Ok(new) => new,
            Err(unchanged) => return Ok((revision, control, Some(unchanged))),
        };
        if let Some(written) = group
            .etcd
            .put_if_unchanged(&key, &new.to_json(), revision)
            .map_err(cannot)?
        {
            return Ok((written, new, None));
        }
    }
    Err(format!("{key} kept changing under this command: try again"))
}

/// Waits up to `timeout` for the leader to acknowledge control revision
/// `revision` or a later one.
pub(crate) fn wait_ack(group: &Group, revision: i64, timeout: Duration) -> Result<ControlAck, String> {
    let key = group.keys.control_ack();
    let started = Instant::now();
    loop {
        let last_error = match group.etcd.get(&key, false) {
            Ok(Some(kv)) => {
                if let Ok(ack) = serde_json::from_str::<ControlAck>(&kv.value) {
                    if ack.revision >= revision {
                        return Ok(ack);
                    }
                }
                None
            }
            Ok(None) => None,
            Err(e) => Some(e.to_string()),
        };
        if started.elapsed() >= timeout {
            return Err(match last_error {
                Some(e) => format!("etcd does not answer ({e})"),
                None => group.why_no_answer(),
            });
        }
        std::thread::sleep(POLL);
    }
}

/// `arbiter pause | resume | allow-data-loss`: exit code 0 once the
/// leader acknowledged, 1 when it did not in `timeout` or etcd failed, 2
/// on a bad configuration.
pub(crate) fn control(path: &Path, action: Action, timeout: Duration) -> ExitCode {
    let group = match Group::open(path) {
        Ok(g) => g,
        Err(code) => return code,
    };
    let command = action.command();
    let key = group.keys.control();
    let (revision, control, unchanged) = match write(&group, action) {
        Ok(w) => w,
        Err(e) => {
            say!("{command}: failed: {e}");
            return ExitCode::from(1);
        }
    };
    let what = match action {
        Action::Pause => "no instance acts until `arbiter resume`".to_string(),
        Action::Resume => "the group acts again".to_string(),
        Action::AllowOnce => {
            let grant = control.allow_data_loss.as_ref();
            let rev = grant.map_or(0, |g| g.record_revision);
            let primary = grant
                .and_then(|g| g.record_primary.clone())
                .map_or_else(|| "no record yet".to_string(), |p| format!("primary {p}"));
            format!(
                "the leader may lose data in one failover: the grant lapses when the group record changes (now at revision {rev}, {primary})"
            )
        }
        Action::Withdraw => "no failover may lose data (unless a host's own file allows it)".to_string(),
    };
    let already = unchanged.map(|u| format!("{u}; ")).unwrap_or_default();
    if revision == 0 {
        // Nothing ever written, nothing to acknowledge.
        say!("{command}: done: {already}nothing to change");
        return ExitCode::SUCCESS;
    }
    match wait_ack(&group, revision, timeout) {
        Ok(ack) => {
            let mut note = String::new();
            if matches!(action, Action::Resume) && ack.paused {
                note = "; but the leader's own file sets settings.paused = true: it still does not act".into();
            }
            if matches!(action, Action::Withdraw) && ack.allow_data_loss {
                note = "; but the leader's own file sets settings.allow_data_loss = true".into();
            }
            say!(
                "{command}: done: {already}the leader {} (epoch {}) acknowledged control revision {revision}: {what}{note}",
                ack.instance,
                ack.epoch
            );
            ExitCode::SUCCESS
        }
        Err(why) => {
            say!(
                "{command}: timed out after {}: {already}written to {key} (revision {revision}) but not acknowledged: {why}; every instance obeys it once it reads it",
                humantime::format_duration(timeout)
            );
            ExitCode::from(1)
        }
    }
}
