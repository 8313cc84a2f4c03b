//! [`Election`] through etcd: a lease and one key per candidate, the
//! lowest create revision leads, the group record written by a guarded
//! transaction (keys in [`crate::live::keys`]).

use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use super::{LiveWorld, unavailable};
use crate::types::Epoch;
use crate::types::{Candidacy, ElectionError, ElectionEvent, GroupRecord, Heartbeat, Leader, Millis, NodeId};
use crate::world::Election;

impl Election for LiveWorld {
    fn create_node(&mut self, node: NodeId) -> Result<Candidacy, ElectionError> {
        // (a lease left alive by an entry deposed: nothing holds it now)
        if let Some((old, _)) = self.lease.take() {
            let _ = self.etcd.revoke(old);
        }
        let lease = self.etcd_outcome("join the election", self.etcd.grant(self.options.ttl_s))?;
        let key = self.keys().candidate(&node.0);
        let (_, kv) = self.etcd_outcome("join the election", self.etcd.create(&key, &node.0, lease))?;
        let kv = kv.ok_or_else(|| ElectionError::Unavailable(format!("{key} vanished after its creation")))?;
        self.lease = Some((lease, key));
        self.renewed_at = Instant::now();
        Ok(Candidacy {
            instance: node,
            lease,
            revision: kv.create_revision,
        })
    }

    fn leader(&self) -> Result<Option<Leader>, ElectionError> {
        self.etcd_outcome("read the leader", self.current_leader())
    }

    fn check_election_notification(&mut self) -> Option<ElectionEvent> {
        if let Some((lease, _)) = self.lease.clone() {
            let renewed = self.etcd.keepalive(lease);
            debug!(target: "arbiter", lease, result = ?renewed, "etcd: lease keepalive (remaining TTL in s)");
            match renewed {
                Ok(ttl) if ttl > 0 => {
                    if std::mem::take(&mut self.renew_failing) {
                        info!(target: "arbiter", lease, "lease renewed again");
                    }
                    self.renewed_at = Instant::now();
                }
                Ok(_) => {
                    warn!(target: "arbiter", lease, "the lease expired");
                    self.lease = None;
                    return Some(ElectionEvent::LeaseLost);
                }
                // Out of reach: past the TTL the lease is gone for sure.
                Err(e) if self.renewed_at.elapsed() >= Duration::from_secs(self.options.ttl_s as u64) => {
                    self.etcd_failed();
                    warn!(target: "arbiter", lease, error = %e, "etcd unreachable for longer than the lease TTL");
                    self.lease = None;
                    return Some(ElectionEvent::LeaseLost);
                }
                Err(e) => {
                    self.etcd_failed();
                    if !std::mem::replace(&mut self.renew_failing, true) {
                        warn!(target: "arbiter", lease, error = %e, "cannot renew the lease");
                    }
                    return None;
                }
            }
        }
        let entries = self
            .etcd
            .get_prefix(&self.keys().election())
            .inspect_err(|_| self.etcd_failed())
            .ok()?;
        let leader = entries.first().map(|kv| Leader {
            instance: NodeId(kv.value.clone()),
            epoch: Epoch(kv.create_revision),
        });
        if let Some((lease, key)) = self.lease.clone() {
            match entries.iter().find(|kv| kv.key == key) {
                None => {
                    warn!(target: "arbiter", key = %key, "this instance's election key was deleted while its lease lives (a follower deposed it as a silent leader): joining the election again");
                    let _ = self.etcd.revoke(lease);
                    self.lease = None;
                    return Some(ElectionEvent::EntryLost);
                }
                // The leader beats at the start of every check.
                Some(mine) if leader.as_ref().is_some_and(|l| l.epoch.get() == mine.create_revision) => self.beat(),
                Some(_) => {}
            }
        }
        if self.reported_leader.as_ref() == Some(&leader) {
            return None;
        }
        self.reported_leader = Some(leader.clone());
        Some(ElectionEvent::LeaderChanged(leader))
    }

    fn read_record(&self, linearizable: bool) -> Result<Option<GroupRecord>, ElectionError> {
        let kv = self.etcd_outcome(
            "read the group record",
            self.etcd.get(&self.keys().record(), !linearizable),
        )?;
        kv.map(|kv| {
            serde_json::from_str(&kv.value)
                .map_err(|e| ElectionError::Unavailable(format!("the group record is not valid JSON: {e}")))
        })
        .transpose()
    }

    fn publish(&mut self, epoch: Epoch, record: &GroupRecord) -> Result<bool, ElectionError> {
        let Some((_, key)) = &self.lease else {
            return Ok(false);
        };
        let value = serde_json::to_string(record).map_err(|e| ElectionError::Unavailable(e.to_string()))?;
        let written = self.etcd.put_guarded(key, epoch.get(), &self.keys().record(), &value);
        debug!(target: "arbiter", epoch = epoch.get(), primary = %record.primary, result = ?written, "etcd: guarded record write");
        self.etcd_outcome("write the group record", written)
    }

    fn leader_heartbeat(&self, leader: &Leader) -> Result<Option<Heartbeat>, ElectionError> {
        let key = self.keys().heartbeat(&leader.instance.0);
        let kv = self.etcd_outcome("read the leader's heartbeat", self.etcd.get(&key, false))?;
        Ok(kv.and_then(|kv| match kv.value.parse::<Millis>() {
            Ok(within_ms) => Some(Heartbeat {
                revision: kv.mod_revision,
                within_ms,
            }),
            // (never deposed on a value this version cannot read)
            Err(_) => {
                debug!(target: "arbiter", key = %key, value = %kv.value, "a heartbeat that is not a number of milliseconds: ignored");
                None
            }
        }))
    }

    fn depose(&mut self, leader: &Leader, heartbeat: i64) -> Result<bool, ElectionError> {
        let keys = self.keys();
        let (entry, beat) = (keys.candidate(&leader.instance.0), keys.heartbeat(&leader.instance.0));
        let deposed = self.etcd.delete_if_silent(&entry, leader.epoch.get(), &beat, heartbeat);
        let deposed = self.etcd_outcome("depose the silent leader", deposed)?;
        if deposed {
            warn!(target: "arbiter", leader = %leader.instance, epoch = leader.epoch.get(), heartbeat, "deposed the leader: its heartbeat did not move for longer than it promised while the primary was down");
        } else {
            info!(target: "arbiter", leader = %leader.instance, epoch = leader.epoch.get(), "the leader was not deposed: it beat again, or it no longer leads");
        }
        Ok(deposed)
    }

    fn resign(&mut self, candidacy: &Candidacy) -> Result<(), ElectionError> {
        self.lease = None;
        let revoked = self.etcd.revoke(candidacy.lease);
        debug!(target: "arbiter", lease = candidacy.lease, result = ?revoked, "etcd: lease revoked");
        revoked.map_err(unavailable)
    }
}
