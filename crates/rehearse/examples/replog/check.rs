//! The replicated log under test: one seed's run ([`run`]), the driver
//! loop the simulation and the replay share ([`drive`]), the client, and
//! the invariants checked after every event ([`Checker`]).

use std::collections::BTreeMap;
use std::time::Duration;

use rehearse::net::{Cluster, NetConfig, Network, NodeId, SimNet};
use rehearse::{Failure, Recorder, Sim};

use super::node::{Entry, Msg, Replica};

/// How long the client writes while faults fire, virtual time.
pub(crate) const RUN: Duration = Duration::from_secs(10);
/// One client write every so often. Not a divisor of the 100 ms at which
/// the network draws its crashes and partitions: with 20 ms, every crash
/// would fall at the same moment of a write's life (just as the next write
/// arrives, after the last one's flush), and a crash between a write and its
/// flush would almost never happen.
pub(crate) const WRITE_EVERY: Duration = Duration::from_millis(17);
/// After the heal, the cluster must converge within this.
pub(crate) const SETTLE: Duration = Duration::from_secs(10);

/// The nodes, built afresh at every start (a restarted node has only what
/// its disk kept).
pub(crate) fn replicas(size: u32, bug: bool) -> impl FnMut(NodeId) -> Replica + 'static {
    move |me| Replica::new(me, size, bug)
}

/// The simulated network: default latencies and faults, but never more
/// nodes down at once than the cluster is built to survive (one of three,
/// two of five). Partitions, pauses and delays are not limited.
pub(crate) fn network(sim: &Sim, size: u32) -> SimNet<Msg> {
    SimNet::new(sim.clone(), NetConfig::new(size).max_down((size - 1) / 2))
}

/// One seed: the cluster on the simulated network, every event and output
/// recorded on the run's tape.
pub(crate) fn run(sim: &Sim, size: u32, bug: bool) -> Result<(), Failure> {
    let world = Recorder::new(network(sim, size), sim.tape());
    let mut cluster = Cluster::new(size, world, replicas(size, bug));
    drive(&mut cluster)
}

/// The run, on any world: the simulated network (recorded or not) or a
/// [`Replayer`](rehearse::Replayer) of a saved file. A client writes every
/// [`WRITE_EVERY`] for [`RUN`] while the invariants are checked after every
/// event; then every fault is healed and the cluster must converge.
pub(crate) fn drive<W: Network<Msg>>(cluster: &mut Cluster<Replica, W>) -> Result<(), Failure> {
    let mut checker = Checker::new(cluster.size());
    let mut at = Duration::ZERO;
    while at < RUN {
        at += WRITE_EVERY;
        cluster.run_until(at, |c| checker.check(c))?;
        checker.write(cluster);
    }
    // Liveness: `settle_checked` heals, then runs until `converged` holds.
    // The safety checks go on after every event meanwhile; a violation
    // stops the settling and is the run's failure.
    cluster.settle_checked(SETTLE, |c| checker.check(c), converged)?;
    Ok(())
}

/// After the heal: every node up, one leader, every log the leader's and
/// every entry committed everywhere.
pub(crate) fn converged<W>(cluster: &Cluster<Replica, W>) -> Result<(), String>
where
    W: Network<Msg>,
{
    let up: Vec<(NodeId, &Replica)> = cluster.nodes().collect();
    if up.len() < cluster.size() as usize {
        return Err(format!("{} of {} nodes up", up.len(), cluster.size()));
    }
    let leaders: Vec<_> = up.iter().filter(|(_, n)| n.is_leader()).collect();
    let [(leader, l)] = leaders[..] else {
        let ids: Vec<_> = leaders.iter().map(|(i, n)| format!("{i} (term {})", n.term)).collect();
        return Err(format!("leaders: [{}]", ids.join(", ")));
    };
    for (id, n) in &up {
        if n.term != l.term || n.log != l.log || n.commit != l.log.len() as u64 {
            return Err(format!(
                "node {id} (term {}, {} entries, commit {}) behind leader {leader} (term {}, {} entries, commit {})",
                n.term,
                n.log.len(),
                n.commit,
                l.term,
                l.log.len(),
                l.commit
            ));
        }
    }
    Ok(())
}

/// What the client wrote and was told, and the history the invariants
/// compare the nodes against.
pub(crate) struct Checker {
    size: u32,
    /// Request id to the value written.
    writes: BTreeMap<u64, u64>,
    /// The node the client writes to: the last one that said it leads.
    target: NodeId,
    /// Writes sent to `target` without an answer.
    unanswered: u32,
    /// Replies read so far.
    replies: usize,
    /// Acknowledged writes: (index, value, the term it was acknowledged in).
    acked: Vec<(u64, u64, u64)>,
    /// The leader of each term seen.
    leaders: BTreeMap<u64, NodeId>,
    /// The committed log as the nodes reported it.
    committed: Vec<Entry>,
    /// Per node: (its truncation count, the commit index checked up to).
    checked: Vec<(u64, u64)>,
    /// Per node, as the last check saw it while it was up: whether it held
    /// committed entries it had not synced yet.
    unsynced_committed: Vec<Option<bool>>,
}

impl Checker {
    /// A checker (and client) for `size` nodes.
    pub(crate) fn new(size: u32) -> Self {
        Self {
            size,
            writes: BTreeMap::new(),
            target: 0,
            unanswered: 0,
            replies: 0,
            acked: Vec::new(),
            leaders: BTreeMap::new(),
            committed: Vec::new(),
            checked: vec![(0, 0); size as usize],
            unsynced_committed: vec![None; size as usize],
        }
    }

    /// The client's next write: to the node that last claimed to lead, or
    /// the next node after three writes left unanswered. It depends only on
    /// what the nodes answered, so a replay writes the same.
    pub(crate) fn write<W: Network<Msg>>(&mut self, cluster: &mut Cluster<Replica, W>) {
        if self.unanswered >= 3 {
            self.target = (self.target + 1) % self.size;
            self.unanswered = 0;
        }
        let value = self.writes.len() as u64 + 1;
        let id = cluster.submit(self.target, Duration::ZERO, Msg::Put(value));
        self.writes.insert(id, value);
        self.unanswered += 1;
    }

    /// The invariants, after every event; the first violation fails the
    /// run.
    pub(crate) fn check<W>(&mut self, cluster: &Cluster<Replica, W>) -> Result<(), Failure>
    where
        W: Network<Msg>,
    {
        self.read_replies(cluster)?;
        for (id, node) in cluster.nodes() {
            if node.is_leader() {
                self.check_leader(id, node)?;
            }
            self.check_committed(id, node)?;
        }
        self.note_crashes(cluster);
        Ok(())
    }

    /// The bug's precondition, noted as it arises (steering forks from
    /// here): a node crashed holding committed entries it had not synced.
    /// The correct node never counted those toward the commit, so another
    /// copy holds them; one that acknowledged before syncing may have been
    /// the copy the commit counted.
    fn note_crashes<W>(&mut self, cluster: &Cluster<Replica, W>)
    where
        W: Network<Msg>,
    {
        let committed = self.committed.len() as u64;
        for (id, seen) in self.unsynced_committed.iter_mut().enumerate() {
            let now = cluster
                .node(id as NodeId)
                .map(|n| n.synced() < (n.log.len() as u64).min(committed));
            if let (Some(unsynced), None) = (*seen, now) {
                rehearse::sometimes!(
                    "replog: a node crashed holding committed entries it had not synced",
                    unsynced
                );
            }
            *seen = now;
        }
    }

    /// The client learns the leader from replies; each acknowledged write
    /// must already be in the log of every leader of a later term.
    fn read_replies<W: Network<Msg>>(&mut self, cluster: &Cluster<Replica, W>) -> Result<(), Failure> {
        for reply in &cluster.replies()[self.replies..] {
            self.replies += 1;
            self.unanswered = 0;
            match reply.msg {
                Msg::Committed { index } => {
                    self.target = reply.node;
                    let value = self.writes.get(&reply.id).copied().unwrap_or(0);
                    let term = cluster.node(reply.node).map_or(0, |n| n.term);
                    self.acked.push((index, value, term));
                    for (id, node) in cluster.nodes() {
                        if node.is_leader() && node.term > term {
                            lacks_acked(id, node, index, value, term)?;
                        }
                    }
                }
                Msg::NotLeader { leader: Some(l) } => self.target = l,
                _ => self.target = (reply.node + 1) % self.size,
            }
        }
        Ok(())
    }

    /// At most one leader per term; a new leader holds every write
    /// acknowledged in an earlier term.
    fn check_leader(&mut self, id: NodeId, node: &Replica) -> Result<(), Failure> {
        match self.leaders.get(&node.term) {
            Some(&other) if other != id => {
                return Err(Failure::new(format!(
                    "election safety: nodes {other} and {id} both lead term {}",
                    node.term
                )));
            }
            Some(_) => return Ok(()),
            None => {}
        }
        self.leaders.insert(node.term, id);
        for &(index, value, term) in &self.acked {
            if term < node.term {
                lacks_acked(id, node, index, value, term)?;
            }
        }
        Ok(())
    }

    /// A node's committed entries are the ones committed before at those
    /// indexes (state-machine safety: no two nodes apply different entries
    /// at one index). Checked from where the last check stopped, or from
    /// the start when the node restarted or removed entries.
    fn check_committed(&mut self, id: NodeId, node: &Replica) -> Result<(), Failure> {
        let (truncations, done) = &mut self.checked[id as usize];
        if *truncations != node.truncations || node.commit < *done {
            *truncations = node.truncations;
            *done = 0;
        }
        for index in *done + 1..=node.commit {
            let Some(&entry) = node.log.get(index as usize - 1) else {
                return Err(Failure::new(format!(
                    "state machine safety: node {id} commits index {index} beyond its log of {}",
                    node.log.len()
                )));
            };
            match self.committed.get(index as usize - 1) {
                Some(&before) if before != entry => {
                    return Err(Failure::new(format!(
                        "state machine safety: node {id} has {entry:?} committed at index {index}, \
                         where {before:?} was committed before"
                    )));
                }
                Some(_) => {}
                None => self.committed.push(entry),
            }
        }
        *done = node.commit;
        Ok(())
    }
}

/// Fails when leader `id` lacks the write of `value` acknowledged at
/// `index` in `term`.
fn lacks_acked(id: NodeId, node: &Replica, index: u64, value: u64, term: u64) -> Result<(), Failure> {
    let held = node.log.get(index as usize - 1).map(|e| e.value);
    if held == Some(value) {
        return Ok(());
    }
    let holds = held.map_or("nothing".to_string(), |v| format!("value {v}"));
    Err(Failure::new(format!(
        "acknowledged write lost: value {value} was acknowledged at index {index} in term {term}, \
         but node {id}, leader of term {}, holds {holds} there",
        node.term
    )))
}
