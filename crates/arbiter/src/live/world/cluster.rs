//! [`Cluster`] on real Redis nodes: every reconfiguration fenced by the
//! leader's epoch first (see the parent module), and switchover requests
//! taken from etcd.

use tracing::{debug, info, warn};

use super::{LiveWorld, outcome};
use crate::live::switchover::{SwitchoverAnswer, SwitchoverOutcome, refuse_switchover};
use crate::types::Epoch;
use crate::types::{ClusterEvent, Millis, NodeStatus, RedisError};
use crate::world::Cluster;

impl Cluster for LiveWorld {
    fn is_cluster_enabled(&self, addr: &str) -> Result<bool, RedisError> {
        let result = self.redis.cluster_enabled_and_run_id(addr).map(|(enabled, run_id)| {
            // A node in cluster mode is refused, not configured.
            if !enabled {
                self.configure_once(addr, &run_id);
            }
            enabled
        });
        match &result {
            Err(e @ RedisError::Auth(text)) if text.starts_with("TLS handshake failed") => warn!(
                target: "arbiter",
                node = %addr,
                error = %e,
                "TLS failed at startup: certificates refused (redis.tls; managed anyway)"
            ),
            Err(e @ RedisError::Auth(m)) if m.contains("NOPERM") => warn!(
                target: "arbiter",
                node = %addr,
                error = %e,
                "authentication failed at startup: the node refuses a command arbiter needs to redis.username (managed anyway)"
            ),
            Err(e @ RedisError::Auth(_)) => warn!(
                target: "arbiter",
                node = %addr,
                error = %e,
                "authentication failed at startup: the node refuses redis.password (managed anyway)"
            ),
            Err(e) => {
                warn!(target: "arbiter", node = %addr, error = %e, "node unreachable at startup (managed anyway)")
            }
            Ok(_) => {}
        }
        result
    }

    fn node_status(&self, addr: &str) -> Result<NodeStatus, RedisError> {
        let result = self.poller.status(addr);
        match &result {
            Ok(status) => {
                let (role, link) = match &status.role {
                    crate::types::Role::Primary => ("primary".to_string(), String::new()),
                    crate::types::Role::Replica { primary, link_up, .. } => (
                        format!("replica of {primary}"),
                        if *link_up { "up" } else { "down" }.to_string(),
                    ),
                };
                debug!(
                    target: "arbiter",
                    node = %addr,
                    %role,
                    link,
                    offset = status.offset,
                    keys = status.keys,
                    run_id = %status.run_id,
                    "poll"
                );
                self.configure_once(addr, &status.run_id);
            }
            Err(e) => debug!(target: "arbiter", node = %addr, error = %e, "poll failed"),
        }
        result
    }

    fn promote(&mut self, addr: &str, epoch: Epoch) -> Result<(), RedisError> {
        let result = self
            .fence(epoch)
            .and_then(|()| self.min_replicas(addr))
            .and_then(|()| self.redis.promote(addr));
        if result.is_ok() {
            *self.promoted.borrow_mut() = Some((addr.to_string(), std::time::Instant::now()));
        }
        outcome(self, "REPLICAOF NO ONE", addr, result)
    }

    fn repoint(&mut self, addr: &str, primary: &str, epoch: Epoch) -> Result<(), RedisError> {
        let result = self
            .fence(epoch)
            .and_then(|()| self.min_replicas(addr))
            .and_then(|()| self.redis.repoint(addr, primary));
        outcome(self, &format!("REPLICAOF {}", primary.replace(':', " ")), addr, result)
    }

    fn failover(&mut self, primary: &str, target: &str, timeout_ms: Millis, epoch: Epoch) -> Result<(), RedisError> {
        let result = self
            .fence(epoch)
            .and_then(|()| self.redis.failover(primary, target, timeout_ms));
        *self.failover_error.borrow_mut() = result.as_ref().err().map(ToString::to_string);
        outcome(
            self,
            &format!("FAILOVER TO {}", target.replace(':', " ")),
            primary,
            result,
        )
    }

    /// Takes a switchover request, and answers it at once when it cannot
    /// be carried out (it never reaches the machine then): it names no
    /// node it may switch to, or the group is paused. Answers carry the
    /// request's etcd mod revision.
    fn check_cluster_notifications(&mut self) -> Option<ClusterEvent> {
        let key = self.keys().switchover();
        let request = match self.etcd.get(&key, false) {
            Ok(Some(kv)) => kv,
            Ok(None) => {
                debug!(target: "arbiter", key, "etcd: no switchover request");
                return None;
            }
            Err(e) => {
                self.etcd_failed();
                debug!(target: "arbiter", key, error = %e, "etcd: cannot read switchover requests");
                return None;
            }
        };
        if let Err(e) = self.etcd.delete(&key) {
            self.etcd_failed();
            debug!(target: "arbiter", key, error = %e, "etcd: cannot take the switchover request");
            return None;
        }
        let target = request.value.trim().to_string();
        let revision = Some(request.mod_revision);
        self.took_switchover_request(&target, request.mod_revision);
        let judged = match (&self.group, self.refused_while_paused()) {
            (_, Some(paused)) => Err(paused),
            (Some(group), None) => refuse_switchover(group, self.recorded_primary().as_deref(), &target),
            (None, None) => Ok(()),
        };
        match judged {
            Err(reason) => {
                warn!(target: "arbiter", node = %target, %reason, "switchover refused");
                self.answer_switchover(
                    &SwitchoverAnswer::because(&target, SwitchoverOutcome::Refused, reason).to_request(revision),
                );
                None
            }
            Ok(()) => {
                info!(target: "arbiter", node = %target, "switchover requested");
                self.answer_switchover(
                    &SwitchoverAnswer::new(&target, SwitchoverOutcome::Accepted).to_request(revision),
                );
                Some(ClusterEvent::SwitchoverRequested { target })
            }
        }
    }
}
