//! Small systems with one planted bug each, for the shrink benchmark
//! (`scripts/bench-shrink`) and its CI test (`tests/shrink_quality.rs`).
//! Each has its minimal counterexample, in calls, derived by hand beside
//! it: the benchmark divides the calls of the shrunk scenario by it.
//!
//! They draw the way users do, on purpose with a mix of helpers: the
//! dedup receiver draws its batch with `rng().next_u32() % 30`, as in the
//! user report behind issue 18; the others use `below`, `chance`, `coin`,
//! `weighted` and `pick`. Each draws values that do not matter too (delays,
//! sizes), which the shrinker must bring down without being misled.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use rehearse::rand::RngCore;
use rehearse::{Failure, Recorder, Sim};

// ------------------------------------------------ dedup receiver, restart
/// A receiver of an at-least-once channel.
#[rehearse::world]
pub(crate) trait Inbox {
    /// The next delivery (a redelivery when an ack was lost); `None` when
    /// the channel is drained.
    fn next_delivery(&mut self) -> Option<u64>;
    /// Whether the receiver's process restarted since the last delivery.
    fn restarted(&mut self) -> bool;
    /// Applies message `id` to the store; returns how many times the store
    /// has now applied it.
    fn apply(&mut self, id: u64) -> u32;
    /// Acknowledges message `id` (the channel may lose the ack).
    fn ack(&mut self, id: u64);
}

/// The receiver: deduplicates by id, in memory only (the bug: a restart
/// forgets what it has seen, and a redelivery is applied again).
fn receive(world: &mut impl Inbox) -> Result<(), Failure> {
    let mut seen = BTreeSet::new();
    while let Some(id) = world.next_delivery() {
        if world.restarted() {
            seen.clear();
        }
        if seen.insert(id) && world.apply(id) > 1 {
            return Err(Failure::new(format!("applied twice: message {id}")));
        }
        world.ack(id);
    }
    Ok(())
}

/// The channel and the store, simulated.
struct SimInbox {
    sim: Sim,
    queue: VecDeque<u64>,
    applied: BTreeMap<u64, u32>,
}

impl Inbox for SimInbox {
    fn next_delivery(&mut self) -> Option<u64> {
        // A delivery's latency: drawn, and irrelevant to the bug.
        self.sim.advance(std::time::Duration::from_micros(self.sim.below(5000)));
        self.queue.pop_front()
    }
    fn restarted(&mut self) -> bool {
        self.sim.chance(0.05)
    }
    fn apply(&mut self, id: u64) -> u32 {
        let n = self.applied.entry(id).or_default();
        *n += 1;
        *n
    }
    fn ack(&mut self, id: u64) {
        if self.sim.chance(0.1) {
            self.queue.push_back(id);
        }
    }
}

/// Minimal counterexample: 7 calls. One message (a batch of one, drawn as
/// `next_u32() % 30` = 1): `next_delivery` -> 1, `restarted` -> false,
/// `apply(1)` -> 1, `ack(1)` (lost), `next_delivery` -> 1 (the
/// redelivery), `restarted` -> true, `apply(1)` -> 2, the failure. Fewer
/// is impossible: a message is applied twice only if it is delivered twice
/// (2 `next_delivery`), the receiver asks about a restart before each
/// apply (2 `restarted`), applies it twice (2 `apply`), and the second
/// delivery needs the first one's ack lost (1 `ack`).
pub(crate) const DEDUP_MIN: usize = 7;

/// One seed of the dedup receiver.
pub(crate) fn dedup(sim: &mut Sim) -> Result<(), Failure> {
    // The user's draw: `next_u32() % n`, not a `Sim` helper.
    // 0 to 29 messages: one is needed, so 0 does not fail.
    let batch = u64::from(sim.rng().next_u32() % 30);
    let inbox = SimInbox {
        sim: sim.clone(),
        queue: (1..=batch).collect(),
        applied: BTreeMap::new(),
    };
    receive(&mut Recorder::new(inbox, sim.tape()))
}

// ------------------------------------------------ off-by-one quorum
/// A leader's view of a five-node replicated register.
#[rehearse::world]
pub(crate) trait Quorum {
    /// The next value a client asks to write, if any.
    fn next_write(&mut self) -> Option<u64>;
    /// Sends entry `index` (holding `value`) to follower `to`; true when it
    /// acknowledged.
    fn replicate(&mut self, to: u8, index: u64, value: u64) -> bool;
    /// Whether the leader crashed after its last write.
    fn leader_crashed(&mut self) -> bool;
    /// The election after a crash: the new leader.
    fn elect(&mut self) -> u8;
    /// The log of node `node`.
    fn log_of(&mut self, node: u8) -> Vec<u64>;
}

const NODES: u8 = 5;

/// The leader (node 0): commits an entry once a majority holds it. The
/// bug: it counts the majority as `NODES / 2` nodes, itself included,
/// where it takes `NODES / 2 + 1` (2 of 5, not 3).
fn lead(world: &mut impl Quorum) -> Result<(), Failure> {
    let mut committed = Vec::new();
    while let Some(value) = world.next_write() {
        let index = committed.len() as u64;
        let mut holders = 1; // the leader
        for to in 1..NODES {
            if world.replicate(to, index, value) {
                holders += 1;
            }
            if holders >= NODES / 2 {
                break;
            }
        }
        if holders >= NODES / 2 {
            committed.push(value);
        }
        if world.leader_crashed() {
            let leader = world.elect();
            let log = world.log_of(leader);
            if !log.starts_with(&committed) {
                return Err(Failure::new(format!(
                    "committed writes lost: node {leader} elected with log {log:?}, committed {committed:?}"
                )));
            }
            return Ok(());
        }
    }
    Ok(())
}

/// The followers' logs and the election, simulated.
struct SimQuorum {
    sim: Sim,
    writes: u64,
    logs: Vec<Vec<u64>>,
}

impl Quorum for SimQuorum {
    fn next_write(&mut self) -> Option<u64> {
        if self.writes == 0 {
            return None;
        }
        self.writes -= 1;
        Some(1 + self.sim.below(1000))
    }
    fn replicate(&mut self, to: u8, index: u64, value: u64) -> bool {
        let log = &mut self.logs[usize::from(to)];
        // Delivered, lost, or delivered with its ack lost.
        match self.sim.weighted(&[85, 10, 5]) {
            0 => {
                log.truncate(index as usize);
                log.push(value);
                true
            }
            1 => false,
            _ => {
                log.truncate(index as usize);
                log.push(value);
                false
            }
        }
    }
    fn leader_crashed(&mut self) -> bool {
        self.sim.chance(0.2)
    }
    fn elect(&mut self) -> u8 {
        // A survivor wins with the votes of a majority (3 of 5) of the four
        // survivors, each voting for a candidate whose log is at least as
        // long as its own (one term: length is up-to-dateness).
        let eligible: Vec<u8> = (1..NODES)
            .filter(|&c| {
                let len = self.logs[usize::from(c)].len();
                (1..NODES).filter(|&v| self.logs[usize::from(v)].len() <= len).count() >= 3
            })
            .collect();
        *self.sim.pick(&eligible).unwrap_or(&1)
    }
    fn log_of(&mut self, node: u8) -> Vec<u64> {
        self.logs[usize::from(node)].clone()
    }
}

/// Minimal counterexample: 5 calls. `next_write` -> v, `replicate(1, 0,
/// v)` -> true (leader and node 1 hold it: 2 of 5, committed by the bug),
/// `leader_crashed` -> true, `elect` -> 2 (nodes 2, 3, 4 have shorter logs
/// than none of them: a majority of survivors votes for 2), `log_of(2)`
/// -> [], the failure. Fewer is impossible: a lost write needs a write
/// (`next_write`), its commit (at least one `replicate`: the leader alone
/// is 1 of 5), a crash (`leader_crashed`), a new leader (`elect`) and its
/// log (`log_of`).
pub(crate) const QUORUM_MIN: usize = 5;

/// One seed of the off-by-one quorum.
pub(crate) fn quorum(sim: &mut Sim) -> Result<(), Failure> {
    let world = SimQuorum {
        sim: sim.clone(),
        writes: 1 + sim.below(8),
        logs: vec![Vec::new(); usize::from(NODES)],
    };
    lead(&mut Recorder::new(world, sim.tape()))
}

// ------------------------------------------------ lost update, retried write
/// Two clients incrementing one key of a store with compare-and-set.
#[rehearse::world]
pub(crate) trait Store {
    /// Which client (0 or 1) steps next; `None` when both are done.
    fn next_client(&mut self) -> Option<u8>;
    /// Reads the key.
    fn get(&mut self, client: u8) -> u64;
    /// Sets the key to `new` if it is `expected`; `Err` on a timeout (the
    /// write may or may not have been applied).
    fn cas(&mut self, client: u8, expected: u64, new: u64) -> Result<bool, String>;
    /// Sets the key to `new` unconditionally; `Err` on a timeout.
    fn put(&mut self, client: u8, new: u64) -> Result<(), String>;
    /// The key's final value, once both clients are done.
    fn read(&mut self) -> u64;
}

/// One client's increment, as a state machine the driver steps.
#[derive(Debug, Clone, Copy)]
enum Step {
    Read,
    Write { seen: u64 },
    Retry { new: u64 },
    Done,
}

/// Two clients, each incrementing the key `ops[c]` times. The bug: after a
/// timed-out compare-and-set, the client retries with a plain `put` of the
/// same value ("make sure it lands"), overwriting an increment that landed
/// meanwhile.
fn increment(world: &mut impl Store, ops: [u64; 2]) -> Result<(), Failure> {
    let mut left = ops;
    let mut step = [Step::Read, Step::Read];
    let mut acked = 0;
    while let Some(c) = world.next_client() {
        let c = usize::from(c);
        step[c] = match step[c] {
            Step::Read if left[c] == 0 => Step::Done,
            Step::Read => Step::Write {
                seen: world.get(c as u8),
            },
            Step::Write { seen } => match world.cas(c as u8, seen, seen + 1) {
                Ok(true) => {
                    acked += 1;
                    left[c] -= 1;
                    Step::Read
                }
                Ok(false) => Step::Read,
                Err(_) => Step::Retry { new: seen + 1 },
            },
            Step::Retry { new } => match world.put(c as u8, new) {
                Ok(()) => {
                    acked += 1;
                    left[c] -= 1;
                    Step::Read
                }
                Err(_) => Step::Retry { new },
            },
            Step::Done => Step::Done,
        };
    }
    let value = world.read();
    // Timed-out writes may have landed: the key may exceed what was
    // acknowledged, never fall short of it.
    if value < acked {
        return Err(Failure::new(format!(
            "lost update: {acked} increments acknowledged, the key is {value}"
        )));
    }
    Ok(())
}

/// The store and the scheduler, simulated.
struct SimStore {
    sim: Sim,
    value: u64,
    /// Steps each client may still take (a client whose increments are
    /// done takes one more step to say so).
    budget: [u64; 2],
}

impl SimStore {
    /// A timeout: `Some(applied)` when the call times out.
    fn timeout(&self) -> Option<bool> {
        self.sim.maybe(0.1, || self.sim.coin())
    }
}

impl Store for SimStore {
    fn next_client(&mut self) -> Option<u8> {
        let ready: Vec<u8> = (0..2u8).filter(|&c| self.budget[usize::from(c)] > 0).collect();
        let c = *self.sim.pick(&ready)?;
        self.budget[usize::from(c)] -= 1;
        Some(c)
    }
    fn get(&mut self, _client: u8) -> u64 {
        self.value
    }
    fn cas(&mut self, _client: u8, expected: u64, new: u64) -> Result<bool, String> {
        match self.timeout() {
            Some(applied) => {
                if applied && self.value == expected {
                    self.value = new;
                }
                Err("timeout".into())
            }
            None if self.value == expected => {
                self.value = new;
                Ok(true)
            }
            None => Ok(false),
        }
    }
    fn put(&mut self, _client: u8, new: u64) -> Result<(), String> {
        match self.timeout() {
            Some(applied) => {
                if applied {
                    self.value = new;
                }
                Err("timeout".into())
            }
            None => {
                self.value = new;
                Ok(())
            }
        }
    }
    fn read(&mut self) -> u64 {
        self.value
    }
}

/// Minimal counterexample: 12 calls. Five client steps, each picked by a
/// `next_client` call: A `get` -> 0, A `cas(0, 1)` -> timeout (applied or
/// not), B `get` -> 1 (or 0), B `cas` -> true, A `put(1)` -> ok (the retry
/// overwrites B's increment, or lands on it); then the `next_client` that
/// ends the loop and the final `read` -> 1 with 2 acknowledged: 5 + 5 +
/// 1 + 1 = 12. Fewer is impossible: the key ends below the increments
/// acknowledged only when two are acknowledged (one acknowledged write
/// leaves the key at least 1) and one of them is a retried `put` (a
/// `cas` never lowers the key); two acknowledged writes take two reads
/// and two writes, and the retry a timed-out `cas` before it: 5 steps.
/// A client with no increments left takes no step: the budgets are
/// steps, and the scheduler ends when both are spent.
pub(crate) const LOST_UPDATE_MIN: usize = 12;

/// One seed of the lost update.
pub(crate) fn lost_update(sim: &mut Sim) -> Result<(), Failure> {
    let ops = [1 + sim.below(3), 1 + sim.below(3)];
    // Each client's steps: read and write per increment, a retry or two.
    let budget = [ops[0] * 2 + sim.below(4), ops[1] * 2 + sim.below(4)];
    let world = SimStore {
        sim: sim.clone(),
        value: 0,
        budget,
    };
    increment(&mut Recorder::new(world, sim.tape()), ops)
}

// ------------------------------------------------ lease not checked
/// Clients writing to a store under a lock lease.
#[rehearse::world]
pub(crate) trait Leases {
    /// Which client steps next (0 to 2); `None` when the run is over.
    fn next_client(&mut self) -> Option<u8>;
    /// Asks for the lock; the lease's end (virtual ms) when granted.
    fn acquire(&mut self, client: u8) -> Option<u64>;
    /// Writes under the lock; the store's clock (virtual ms) when applied.
    fn write(&mut self, client: u8) -> u64;
    /// Gives the lock back.
    fn release(&mut self, client: u8);
}

/// Three clients, each acquiring the lock, writing, releasing. The bug:
/// a client writes without checking that its lease still holds, so a
/// write lands after the lease ended (while another may hold the lock).
fn leased(world: &mut impl Leases) -> Result<(), Failure> {
    let mut lease: [Option<u64>; 3] = [None; 3];
    while let Some(c) = world.next_client() {
        let c = usize::from(c);
        match lease[c] {
            None => lease[c] = world.acquire(c as u8),
            Some(until) => {
                let at = world.write(c as u8);
                if at > until {
                    return Err(Failure::new(format!(
                        "write after the lease: client {c} wrote at {at} ms, its lease ended at {until} ms"
                    )));
                }
                world.release(c as u8);
                lease[c] = None;
            }
        }
    }
    Ok(())
}

/// The lock service, the store and the scheduler, simulated: each step
/// takes 0 to 9 ms; a lease lasts 10 ms.
struct SimLeases {
    sim: Sim,
    steps: u64,
    holder: Option<(u8, u64)>,
}

impl Leases for SimLeases {
    fn next_client(&mut self) -> Option<u8> {
        if self.steps == 0 {
            return None;
        }
        self.steps -= 1;
        self.sim.advance(std::time::Duration::from_millis(self.sim.below(10)));
        Some(self.sim.below(3) as u8)
    }
    fn acquire(&mut self, client: u8) -> Option<u64> {
        let now = self.sim.now().as_millis() as u64;
        match self.holder {
            Some((_, until)) if until >= now => None,
            _ => {
                self.holder = Some((client, now + 10));
                Some(now + 10)
            }
        }
    }
    fn write(&mut self, _client: u8) -> u64 {
        self.sim.now().as_millis() as u64
    }
    fn release(&mut self, client: u8) {
        if self.holder.is_some_and(|(c, _)| c == client) {
            self.holder = None;
        }
    }
}

/// Minimal counterexample: 6 calls. `next_client` -> 0, `acquire(0)` ->
/// granted until its time + 10 ms, `next_client` -> 1 after a delay d1,
/// `acquire(1)` -> refused (the lease holds), `next_client` -> 0 after a
/// delay d2 with d1 + d2 > 10, `write(0)` -> too late, the failure. Fewer
/// is impossible: the write needs the same client's acquire before it
/// (two steps, each picked by a `next_client`: 4 calls), and more than
/// 10 ms between them, which one step's delay (at most 9 ms) cannot give:
/// a step in between, by another client (the same client would write),
/// whose only move without a lease is `acquire` (2 more calls).
pub(crate) const LEASE_MIN: usize = 6;

/// One seed of the unchecked lease.
pub(crate) fn lease(sim: &mut Sim) -> Result<(), Failure> {
    let world = SimLeases {
        sim: sim.clone(),
        steps: 4 + sim.below(30),
        holder: None,
    };
    leased(&mut Recorder::new(world, sim.tape()))
}

// ------------------------------------------------ reordered retransmission
/// A sender and an in-order receiver on a lossy link.
#[rehearse::world]
pub(crate) trait Link {
    /// Sends message `seq`; false when the link lost it (it is sent again
    /// after the others).
    fn send(&mut self, seq: u64) -> bool;
    /// The next message the link delivers, if any.
    fn recv(&mut self) -> Option<u64>;
}

/// Sends `n` messages, each again after the others when lost, then
/// receives. The bug: the receiver applies messages as they come, without
/// holding back one that arrives before a gap is filled.
fn transfer(world: &mut impl Link, n: u64) -> Result<(), Failure> {
    let mut pending: VecDeque<u64> = (1..=n).collect();
    let mut tries = 0;
    while let Some(seq) = pending.pop_front() {
        tries += 1;
        if !world.send(seq) && tries < 4 * n {
            pending.push_back(seq);
        }
    }
    let mut next = 1;
    while let Some(seq) = world.recv() {
        if seq != next {
            return Err(Failure::new(format!(
                "out of order: applied {seq} where {next} was next"
            )));
        }
        next += 1;
    }
    Ok(())
}

/// The link, simulated: a message is lost with probability 0.2, delivered
/// in the order sent otherwise.
struct SimLink {
    sim: Sim,
    delivered: VecDeque<u64>,
}

impl Link for SimLink {
    fn send(&mut self, seq: u64) -> bool {
        if self.sim.chance(0.2) {
            return false;
        }
        self.delivered.push_back(seq);
        true
    }
    fn recv(&mut self) -> Option<u64> {
        self.delivered.pop_front()
    }
}

/// Minimal counterexample: 4 calls. Two messages (the sender sends
/// everything before the receiver starts): `send(1)` -> false (lost),
/// `send(2)` -> true, `send(1)` -> true (the retransmission), `recv` -> 2,
/// the failure. Fewer is impossible: the first `recv` fails
/// only if message 1 was not the first delivered, so it was lost once (a
/// `send`), a later one was sent (a `send`), and the retransmission comes
/// before any `recv` (a `send`); one message alone is never out of order.
pub(crate) const REORDER_MIN: usize = 4;

/// One seed of the reordered retransmission.
pub(crate) fn reorder(sim: &mut Sim) -> Result<(), Failure> {
    let n = 1 + sim.below(10);
    let world = SimLink {
        sim: sim.clone(),
        delivered: VecDeque::new(),
    };
    transfer(&mut Recorder::new(world, sim.tape()), n)
}
