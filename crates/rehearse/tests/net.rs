//! `rehearse::net`: the simulated network's promises, each checked on a
//! small protocol, and a recorded run replayed by `Replayer` alone.

use std::collections::BTreeMap;
use std::time::Duration;

use rehearse::net::{Cluster, Event, Links, NetConfig, Node, NodeId, Output, SimNet};
use rehearse::{Recorder, Replayer, Sim, Trace};

/// Every 10 ms each node sends `Ping(seq)` to every peer it is connected
/// to; receivers keep what arrived, per sender, in order.
#[derive(Default)]
struct Pinger {
    me: NodeId,
    size: u32,
    seq: u64,
    connected: Vec<NodeId>,
    received: BTreeMap<NodeId, Vec<u64>>,
    /// Per peer, what each session delivered.
    sessions: BTreeMap<NodeId, Vec<Vec<u64>>>,
    disconnects: u32,
    out: Vec<Output<u64>>,
}

impl Node for Pinger {
    type Message = u64;
    fn step(&mut self, _now: Duration, event: Event<u64>) {
        match event {
            Event::Start { .. } => self.out.push(Output::SetTimer {
                id: 0,
                after_us: 10_000,
            }),
            Event::Connected { peer } => {
                self.connected.push(peer);
                // A new session: its messages start a new sequence.
                self.sessions.entry(peer).or_default().push(Vec::new());
            }
            Event::Disconnected { peer } => {
                self.connected.retain(|p| *p != peer);
                self.disconnects += 1;
            }
            Event::Timer { .. } => {
                self.seq += 1;
                for &to in &self.connected {
                    self.out.push(Output::Send { to, msg: self.seq });
                }
                self.out.push(Output::SetTimer {
                    id: 0,
                    after_us: 10_000,
                });
            }
            Event::Message { from, msg } => {
                self.received.entry(from).or_default().push(msg);
                if let Some(current) = self.sessions.entry(from).or_default().last_mut() {
                    current.push(msg);
                }
            }
            Event::Crash | Event::Request { .. } => {}
        }
        let _ = (self.me, self.size);
    }
    fn poll_next_message(&mut self) -> Option<Output<u64>> {
        if self.out.is_empty() {
            None
        } else {
            Some(self.out.remove(0))
        }
    }
}

fn pinger(size: u32) -> impl FnMut(NodeId) -> Pinger {
    move |me| Pinger {
        me,
        size,
        ..Pinger::default()
    }
}

#[test]
fn sessions_deliver_in_order_and_a_recorded_run_replays_from_the_file_alone() {
    let sim = Sim::new(7);
    // Only partitions: sessions end and reopen, never reorder.
    sim.set_fault_rate("net::partition", 0.05);
    sim.set_fault_rate("net::delay", 0.2);
    for point in ["net::crash", "net::pause", "net::isolate", "net::partition_one_way"] {
        sim.set_fault_rate(point, 0.0);
    }
    let world = Recorder::new(SimNet::new(sim.clone(), NetConfig::new(3)), sim.tape());
    let mut cluster = Cluster::new(3, world, pinger(3));
    cluster
        .run_until(Duration::from_secs(5), |c| {
            for (_, n) in c.nodes() {
                for (from, sessions) in &n.sessions {
                    for seqs in sessions {
                        // In order, and without a gap: a session loses nothing while it lasts.
                        if seqs.windows(2).any(|w| w[1] != w[0] + 1) {
                            return Err(rehearse::Failure::new(format!("session from {from}: {seqs:?}")));
                        }
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    let delivered: usize = cluster
        .nodes()
        .map(|(_, n)| n.received.values().map(Vec::len).sum::<usize>())
        .sum();
    assert!(delivered > 1000, "{delivered}");
    assert!(
        cluster.nodes().any(|(_, n)| n.disconnects > 0),
        "partitions ended sessions"
    );
    let lost = cluster.world().inner().stats().lost;
    assert!(lost > 0, "messages in flight on ended sessions are lost");
    let received: Vec<_> = cluster.nodes().map(|(i, n)| (i, n.received.clone())).collect();

    // The file alone drives fresh nodes to the same state, every output checked.
    let trace = Trace::parse(&sim.tape().contents()).unwrap();
    let mut replay = Cluster::new(3, Replayer::from_trace(trace), pinger(3));
    replay.run_until(Duration::from_secs(5), |_| Ok(())).unwrap();
    let replayed: Vec<_> = replay.nodes().map(|(i, n)| (i, n.received.clone())).collect();
    assert_eq!(received, replayed);
    replay.into_world().finish().unwrap();
}

#[test]
fn a_one_way_partition_delivers_one_way_only() {
    let sim = Sim::new(1);
    let net = SimNet::new(sim.clone(), NetConfig::new(2).links(Links::Datagrams).chaos_every_us(0));
    let mut cluster = Cluster::new(2, net, |me| Pinger {
        me,
        size: 2,
        connected: vec![1 - me],
        ..Pinger::default()
    });
    cluster.run_until(Duration::from_millis(100), |_| Ok(())).unwrap();
    cluster.world_mut().partition_one_way(0, 1);
    let before: Vec<usize> = (0..2)
        .map(|i| cluster.node(i).unwrap().received.values().map(Vec::len).sum())
        .collect();
    cluster.run_until(Duration::from_millis(300), |_| Ok(())).unwrap();
    let after: Vec<usize> = (0..2)
        .map(|i| cluster.node(i).unwrap().received.values().map(Vec::len).sum())
        .collect();
    // Node 1 hears nothing more from 0 (but what was in flight); node 0 still hears 1.
    assert!(after[1] <= before[1] + 1, "{before:?} -> {after:?}");
    assert!(after[0] >= before[0] + 15, "{before:?} -> {after:?}");
}
