//! One arbiter instance's view of the simulated world: its own network
//! position (partitions cut it off separately), its own clock, its own
//! election entry. Implements the three world traits over the shared model.

use std::cell::RefCell;
use std::rc::Rc;

use rehearse::{InjectFault, Sim};

use super::model::{Endpoint, Fact, Model, ModelEvent, Promotion};
use crate::types::Epoch;
use crate::types::{
    Candidacy, ClusterEvent, ElectionError, ElectionEvent, GroupConfig, GroupRecord, Heartbeat, Leader, Millis, NodeId,
    NodeStatus, RedisError, Wake,
};
use crate::world::{Cluster, Election, Host};

impl InjectFault for RedisError {
    fn inject_fault(_point: &str, sim: &Sim) -> Self {
        if sim.chance(0.5) {
            Self::Timeout
        } else {
            Self::Unreachable("injected: connection reset".into())
        }
    }
}

impl InjectFault for ElectionError {
    fn inject_fault(_point: &str, _sim: &Sim) -> Self {
        Self::Unavailable("injected: request timed out".into())
    }
}

/// The poll timeout a simulated instance's heartbeat counts per node
/// (the live default, `redis.poll_timeout_ms`).
pub const SIM_POLL_TIMEOUT_MS: Millis = 200;

/// The world as instance `index` sees it.
#[derive(Debug)]
pub struct InstanceWorld {
    index: usize,
    model: Rc<RefCell<Model>>,
    id: NodeId,
    config_loaded: bool,
    config_seen: u64,
    lease: Option<i64>,
    reported_leader: Option<Option<Leader>>,
}

impl InstanceWorld {
    /// Instance `index` (its id names its incarnation too).
    pub fn new(index: usize, incarnation: u32, model: Rc<RefCell<Model>>) -> Self {
        let id = super::model::instance_id(index, incarnation);
        Self {
            index,
            model,
            id,
            config_loaded: false,
            config_seen: 0,
            lease: None,
            reported_leader: None,
        }
    }

    /// This instance's election id.
    pub fn id(&self) -> &NodeId {
        &self.id
    }

    fn me(&self) -> Endpoint {
        Endpoint::Instance(self.index)
    }

    /// A Redis call over the network: the request may not arrive (no
    /// effect), or arrive and the reply be lost (effect, but an error).
    fn redis<T>(
        &self,
        addr: &str,
        f: impl FnOnce(&mut Model, usize) -> Result<T, RedisError>,
    ) -> Result<T, RedisError> {
        let mut m = self.model.borrow_mut();
        let Some(i) = m.node_at(addr) else {
            return Err(RedisError::Unreachable(format!("no route to {addr}")));
        };
        if !m.reaches(self.me(), Endpoint::Node(i)) {
            return Err(RedisError::Timeout);
        }
        if !m.nodes[i].up {
            return Err(RedisError::Unreachable("connection refused".into()));
        }
        if !m.answering(i) {
            return Err(RedisError::Timeout);
        }
        if m.auth_broken(i) {
            // The node's password changed: every command is refused, and
            // the reply does arrive.
            return Err(RedisError::Auth(
                "WRONGPASS invalid username-password pair or user is disabled.".into(),
            ));
        }
        let result = f(&mut m, i);
        if !m.reaches(Endpoint::Node(i), self.me()) {
            return Err(RedisError::Timeout);
        }
        result
    }

    /// The leadership re-check the live world makes before every Redis
    /// command under `epoch` (and the heartbeat it writes then): refused
    /// as [`RedisError::Fenced`] when this instance no longer leads under
    /// `epoch`, an error when etcd cannot be asked. A negative epoch (only
    /// the `SkipFencing` planted bug sends one) skips it.
    fn recheck(&self, epoch: Epoch) -> Result<(), RedisError> {
        if epoch.get() < 0 {
            return Ok(());
        }
        let (id, within_ms) = (self.id.clone(), self.within_ms());
        let leads = self.etcd(|m| {
            let leads = m.etcd.leads(&id, epoch);
            if leads {
                m.etcd.beat(&id, within_ms);
            }
            (leads, m.etcd.leader().map_or(Epoch(0), |l| l.epoch))
        });
        match leads {
            Ok((true, _)) => Ok(()),
            Ok((false, seen)) => Err(RedisError::Fenced { seen }),
            Err(e) => Err(RedisError::Unreachable(format!("cannot re-check leadership: {e}"))),
        }
    }

    /// What this instance's heartbeat promises: its check interval plus a
    /// poll timeout per node (as the live world computes it).
    fn within_ms(&self) -> Millis {
        let m = self.model.borrow();
        let config = match &m.instances[self.index].config_override {
            Some((config, _)) => config,
            None => &m.config,
        };
        config.settings.check_interval_ms + config.nodes.len() as Millis * SIM_POLL_TIMEOUT_MS
    }

    /// An etcd call over the network (quorum loss fails everything).
    fn etcd<T>(&self, f: impl FnOnce(&mut Model) -> T) -> Result<T, ElectionError> {
        let mut m = self.model.borrow_mut();
        if !m.etcd.available || !m.reaches(self.me(), Endpoint::Etcd) {
            return Err(ElectionError::Unavailable("etcd unreachable".into()));
        }
        let now = m.now;
        m.etcd.expire(now);
        let out = f(&mut m);
        if !m.reaches(Endpoint::Etcd, self.me()) {
            return Err(ElectionError::Unavailable("etcd reply lost".into()));
        }
        Ok(out)
    }
}

impl Host for InstanceWorld {
    fn gen_node_id(&self, _prefix: Option<String>) -> NodeId {
        self.id.clone()
    }

    fn now(&self) -> Millis {
        let m = self.model.borrow();
        m.now + m.instances[self.index].clock_offset_ms
    }

    fn sleep_until(&mut self, deadline: Millis) -> Wake {
        // The scheduler runs this call once the deadline has passed, or
        // at once after a SIGTERM (which wakes the live world's sleep).
        let now = self.now();
        if self.model.borrow().instances[self.index].stopping {
            return Wake::Shutdown(now);
        }
        Wake::Tick(now.max(deadline))
    }

    fn check_config(&mut self) -> Option<GroupConfig> {
        let m = self.model.borrow();
        if !self.config_loaded || m.config_version > self.config_seen {
            self.config_loaded = true;
            self.config_seen = m.config_version;
            // This host's own file, when an operator edited only it.
            return Some(match &m.instances[self.index].config_override {
                Some((config, _)) => config.clone(),
                None => m.config.clone(),
            });
        }
        None
    }
}

impl Cluster for InstanceWorld {
    fn is_cluster_enabled(&self, addr: &str) -> Result<bool, RedisError> {
        // (a server outside the group: it answers, in cluster mode)
        if self.model.borrow().cluster_mode.contains(addr) {
            return Ok(true);
        }
        self.redis(addr, |_, _| Ok(false))
    }

    fn node_status(&self, addr: &str) -> Result<NodeStatus, RedisError> {
        self.redis(addr, |m, i| Ok(m.status(i)))
    }

    fn promote(&mut self, addr: &str, epoch: Epoch) -> Result<(), RedisError> {
        self.recheck(epoch)?;
        let me = self.me();
        self.redis(addr, |m, i| {
            let was_replica = m.nodes[i].replica_of.is_some();
            m.promote(i, epoch)?;
            if was_replica {
                // What the nodes this instance can talk to hold (S5).
                let others = (0..m.nodes.len())
                    .filter(|&o| o != i && m.answering(o) && m.reaches_both(me, Endpoint::Node(o)))
                    .map(|o| (o, m.nodes[o].log.len() as u64))
                    .collect();
                let promotion = Promotion {
                    at: m.now,
                    node: i,
                    by: self.index,
                    keys: m.nodes[i].log.len() as u64,
                    others,
                };
                m.facts.push(Fact::Promoted(promotion));
            }
            Ok(())
        })
    }

    fn repoint(&mut self, addr: &str, primary: &str, epoch: Epoch) -> Result<(), RedisError> {
        self.recheck(epoch)?;
        self.redis(addr, |m, i| m.repoint(i, primary, epoch))
    }

    fn failover(&mut self, primary: &str, target: &str, timeout_ms: Millis, epoch: Epoch) -> Result<(), RedisError> {
        self.recheck(epoch)?;
        self.redis(primary, |m, p| match m.node_at(target) {
            Some(t) if m.answering(t) && m.reaches(Endpoint::Node(p), Endpoint::Node(t)) => {
                m.failover(p, t, epoch, timeout_ms)
            }
            _ => Err(RedisError::Refused("ERR FAILOVER target is unreachable".into())),
        })
    }

    fn check_cluster_notifications(&mut self) -> Option<ClusterEvent> {
        let mut m = self.model.borrow_mut();
        if !m.reaches(self.me(), Endpoint::Etcd) {
            return None;
        }
        m.switchover_request
            .take()
            .map(|target| ClusterEvent::SwitchoverRequested { target })
    }
}

impl Election for InstanceWorld {
    fn create_node(&mut self, node: NodeId) -> Result<Candidacy, ElectionError> {
        let result = self.etcd(|m| {
            let now = m.now;
            m.etcd.campaign(now, &node)
        });
        let (lease, revision) = result?;
        self.lease = Some(lease);
        self.reported_leader = None;
        Ok(Candidacy {
            instance: node,
            lease,
            revision,
        })
    }

    fn leader(&self) -> Result<Option<Leader>, ElectionError> {
        self.etcd(|m| m.etcd.leader())
    }

    fn check_election_notification(&mut self) -> Option<ElectionEvent> {
        let lease = self.lease?;
        let within_ms = self.within_ms();
        let id = self.id.clone();
        let alive = self.etcd(|m| {
            let now = m.now;
            let alive = m.etcd.keepalive(now, lease);
            let entry = m.etcd.entries.contains_key(&id);
            if alive && !entry {
                // Deposed: the entry is gone, the lease lives on empty.
                m.etcd.revoke(lease);
            }
            // The leader beats at the start of every check.
            m.etcd.beat(&id, within_ms);
            (alive, entry, m.etcd.leader())
        });
        // etcd unreachable: nothing is known; the lease may run out.
        let (alive, entry, leader) = alive.ok()?;
        if !alive {
            self.lease = None;
            return Some(ElectionEvent::LeaseLost);
        }
        if !entry {
            self.lease = None;
            return Some(ElectionEvent::EntryLost);
        }
        if self.reported_leader.as_ref() != Some(&leader) {
            self.reported_leader = Some(leader.clone());
            return Some(ElectionEvent::LeaderChanged(leader));
        }
        None
    }

    fn read_record(&self, linearizable: bool) -> Result<Option<GroupRecord>, ElectionError> {
        self.etcd(|m| {
            // trust-stale-read's near miss (see `run::explored`), noted as
            // the read is made: a lagging etcd member would answer an
            // older record than the one etcd holds, whichever read this is.
            rehearse::sometimes!(
                "near miss: a record read while a lagging etcd member shows an older record",
                m.etcd.stale_record(m.now, super::model::STALE_READ_LAG_MS) != m.etcd.record
            );
            if linearizable {
                m.etcd.record.clone()
            } else {
                // A lagging member answers from data up to 10 s old.
                let stale = m.etcd.stale_record(m.now, super::model::STALE_READ_LAG_MS);
                if stale != m.etcd.record {
                    let event = ModelEvent::StaleRead {
                        instance: self.id.clone(),
                        got: stale.clone(),
                        holds: m.etcd.record.clone(),
                    };
                    m.note(event);
                }
                stale
            }
        })
    }

    fn publish(&mut self, epoch: Epoch, record: &GroupRecord) -> Result<bool, ElectionError> {
        let id = self.id.clone();
        self.etcd(|m| {
            let now = m.now;
            let ok = m.etcd.publish(now, &id, epoch, record);
            m.note(if ok {
                ModelEvent::Record {
                    primary: record.primary.clone(),
                    epoch,
                    by: id,
                }
            } else {
                ModelEvent::RecordRejected { by: id, epoch }
            });
            ok
        })
    }

    fn leader_heartbeat(&self, leader: &Leader) -> Result<Option<Heartbeat>, ElectionError> {
        self.etcd(|m| {
            m.etcd.beats.get(&leader.instance).map(|b| Heartbeat {
                revision: b.revision,
                within_ms: b.within_ms,
            })
        })
    }

    fn depose(&mut self, leader: &Leader, heartbeat: i64) -> Result<bool, ElectionError> {
        let id = self.id.clone();
        self.etcd(|m| {
            let now = m.now;
            let ok = m.etcd.depose(now, leader, heartbeat);
            if ok {
                m.note(ModelEvent::Deposed {
                    by: id,
                    leader: leader.instance.clone(),
                    epoch: leader.epoch,
                });
            }
            ok
        })
    }

    fn resign(&mut self, candidacy: &Candidacy) -> Result<(), ElectionError> {
        self.lease = None;
        self.etcd(|m| {
            m.etcd.revoke(candidacy.lease);
            let now = m.now;
            m.etcd.note_leader(now);
        })
    }
}
