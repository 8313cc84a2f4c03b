//! The group's operator state (`PREFIX/control`, see
//! [`crate::live::control`]) as the live world reads it at every check,
//! and the leader's acknowledgement of it; switchover requests are refused
//! while the group is paused.

use tracing::{debug, info, warn};

use super::LiveWorld;
use crate::live::control::{ControlAck, GroupControl};
use crate::types::{Epoch, NodeId};

impl LiveWorld {
    /// Why a switchover is refused while the group is paused, when it is.
    pub(super) fn refused_while_paused(&self) -> Option<String> {
        if let Some(p) = &self.control.paused {
            return Some(format!(
                "the group is paused (by {} at {}): resume it first (`arbiter resume`)",
                p.by, p.at
            ));
        }
        self.file_group
            .as_ref()
            .filter(|g| g.settings.paused)
            .map(|_| "this leader's configuration file sets settings.paused = true (a per-host override): no switchover while it leads".to_string())
    }

    /// Acknowledges, in `PREFIX/control-ack`, the revision of the group's
    /// control this instance runs with, when it leads under `epoch` as
    /// `instance` and has not acknowledged it yet under this epoch: the
    /// write is guarded by its election key, so only the leader's lands.
    /// Tried once per read of the control (a failure is retried after the
    /// next read). Not a world call: the run loop calls it after every
    /// step, so recordings are unchanged.
    pub fn acknowledge_control(&self, epoch: Epoch, instance: &NodeId) {
        let Some(revision) = self.control_revision.filter(|r| *r > 0) else {
            return;
        };
        let attempt = (revision, epoch, self.control_reads);
        match self.control_acked.get() {
            Some((r, e, _)) if r == revision && e == epoch => return,
            Some(tried) if tried == attempt => return,
            _ => {}
        }
        let Some((_, guard)) = &self.lease else {
            return;
        };
        let settings = self.group.as_ref().map(|g| g.settings.clone()).unwrap_or_default();
        let ack = ControlAck {
            revision,
            instance: instance.0.clone(),
            epoch: epoch.get(),
            paused: settings.paused,
            allow_data_loss: settings.allow_data_loss,
        };
        let key = self.keys().control_ack();
        let json = serde_json::to_string(&ack).unwrap_or_default();
        match self.etcd.put_guarded(guard, epoch.get(), &key, &json) {
            Ok(true) => {
                info!(
                    target: "arbiter",
                    revision,
                    epoch = epoch.get(),
                    paused = ack.paused,
                    allow_data_loss = ack.allow_data_loss,
                    "group control acknowledged"
                );
                self.control_acked.set(Some((revision, epoch, u64::MAX)));
            }
            Ok(false) => {
                debug!(target: "arbiter", key, "group control not acknowledged: this instance no longer leads");
                self.control_acked.set(Some(attempt));
            }
            Err(e) => {
                warn!(target: "arbiter", key, error = %e, "cannot acknowledge the group control (retrying after the next check)");
                self.control_acked.set(Some(attempt));
            }
        }
    }

    /// Reads the group's control (and, while it holds a data-loss grant,
    /// the group record's mod revision), logging what changed. A failed
    /// read or a value that is not valid JSON keeps the last one read.
    pub(super) fn read_control(&mut self) {
        let key = self.keys().control();
        // (an etcd outage is reported once by the election's calls)
        let kv = match self.etcd.get(&key, false) {
            Ok(kv) => kv,
            Err(e) => {
                debug!(target: "arbiter", key, error = %e, "etcd: cannot read the group control (keeping the last one read)");
                return;
            }
        };
        let (revision, control) = match kv {
            None => (0, GroupControl::default()),
            Some(kv) => match GroupControl::parse(&kv.value) {
                Ok(control) => (kv.mod_revision, control),
                Err(e) => {
                    if self.control_bad != Some(kv.mod_revision) {
                        warn!(target: "arbiter", key, error = %e, "ignoring the group control (keeping the last one read)");
                        self.control_bad = Some(kv.mod_revision);
                    }
                    return;
                }
            },
        };
        let record_revision = match &control.allow_data_loss {
            None => None,
            Some(_) => match self.etcd.get(&self.keys().record(), false) {
                Ok(kv) => Some(kv.map_or(0, |kv| kv.mod_revision)),
                Err(e) => {
                    debug!(target: "arbiter", error = %e, "cannot read the record's revision: the data-loss grant does not apply");
                    None
                }
            },
        };
        self.control_reads += 1;
        let now = (control.paused.is_some(), control.grant_in_force(record_revision));
        if now.0 != self.control_logged.0 {
            match &control.paused {
                Some(p) => {
                    warn!(target: "arbiter", key, by = %p.by, at = %p.at, "the group is paused: no instance acts until `arbiter resume`")
                }
                None => info!(target: "arbiter", key, "the group is resumed"),
            }
        }
        if now.1 != self.control_logged.1 {
            match &control.allow_data_loss {
                Some(g) if now.1 => warn!(
                    target: "arbiter",
                    key,
                    by = %g.stamp.by,
                    at = %g.stamp.at,
                    record_revision = g.record_revision,
                    "data loss allowed once: until the group record changes"
                ),
                Some(_) => {
                    info!(target: "arbiter", key, "the one-time data-loss grant lapsed: the group record changed")
                }
                None => info!(target: "arbiter", key, "the one-time data-loss grant was withdrawn"),
            }
        }
        self.control_logged = now;
        self.control = control;
        self.control_revision = Some(revision);
        self.record_revision = record_revision;
    }
}
