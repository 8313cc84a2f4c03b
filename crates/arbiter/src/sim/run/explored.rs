//! What a sweep of the simulated world explored, as rehearse's
//! sometimes-assertions (`rehearse::sometimes!`): each of the ten failures
//! of `crates/arbiter/INVARIANTS.md` (as `tests/failures.rs` finds them in
//! the model's event log), and the situations the controller must handle
//! (a failover during a switchover, an empty restart seen before
//! down-after, a leader replaced mid-failover). `arbiter simulate` lists
//! each with the runs that hit it, and the ones never hit.
//!
//! Everything here runs in the simulation only: the machine stays pure.
//! The event log is read once at the end of an explored run; the
//! controller's situations are read from each instance's machine after
//! its step.
//!
//! Near misses (`near miss: ...`): situations a planted bug
//! (`--features planted-bugs`) needs before it can break an invariant,
//! noted at the moment they arise: here in the world after each event
//! (promote-most-lagging's, resync-from-empty's), and in the simulated
//! world's etcd read (trust-stale-read's, `sim::world`). Steering forks a
//! run from the moment it first reached a key, so a situation noted only
//! at the run's end would fork from a random earlier point. Each is a
//! situation the correct controller meets and must handle too, not a bug
//! detector. skip-fencing has none of its own: what it needs, a leader
//! still acting once another has replaced it, is `controller: a leader
//! replaced mid-failover`, already noted at its moment; a deposed leader
//! starting a failover is what the correct controller's guarded record
//! write prevents, so noting it would detect the bug, not come near it.

use std::collections::BTreeSet;

use crate::machine::Machine;
use crate::sim::model::{Event, Model};
use crate::types::{Epoch, Millis};

/// The machine states of a failover under way: the plan is published,
/// the promotion or the repointing not finished.
const MID_FAILOVER: [&str; 3] = ["Promoting", "Repointing", "Detaching"];

/// What the run remembers between steps to see the controller's
/// situations.
#[derive(Debug)]
pub(super) struct Explored {
    /// Per instance: the epoch of the failover it was last seen carrying
    /// out (kept while it is paused, or after it crashed).
    mid_failover: Vec<Option<Epoch>>,
    /// Per instance: the nodes its machine holds as having lost data.
    lost_seen: Vec<BTreeSet<String>>,
    /// Per node, after the last event: (its incarnation, the writes it
    /// held).
    nodes: Vec<(u32, usize)>,
}

impl Explored {
    pub(super) fn new(instances: usize) -> Self {
        Self {
            mid_failover: vec![None; instances],
            lost_seen: vec![BTreeSet::new(); instances],
            nodes: Vec::new(),
        }
    }

    /// After each event of an explored run: the world's near misses.
    pub(super) fn after_event(&mut self, m: &Model) {
        // resync-from-empty: a node back without the writes it held while
        // nodes still replicate from it (S7 is about what the controller
        // does next).
        for (i, n) in m.nodes.iter().enumerate() {
            let Some(&(incarnation, held)) = self.nodes.get(i) else {
                continue;
            };
            if n.incarnation != incarnation {
                let lost = n.log.len() < held;
                let followed = m
                    .nodes
                    .iter()
                    .any(|r| r.up && r.replica_of.as_deref() == Some(n.addr.as_str()));
                rehearse::sometimes!(
                    "near miss: a node restarts without its data while replicas still follow it",
                    lost && followed
                );
            }
        }
        self.nodes.clear();
        self.nodes.extend(m.nodes.iter().map(|n| (n.incarnation, n.log.len())));
        // promote-most-lagging: the recorded primary does not answer while
        // two of its replicas answer at different offsets (S5 ranks them).
        let Some(primary) = m.recorded_primary() else {
            return;
        };
        if m.answering(primary) {
            return;
        }
        let addr = m.nodes[primary].addr.as_str();
        let mut offsets = (0..m.nodes.len())
            .filter(|&r| m.answering(r) && m.nodes[r].replica_of.as_deref() == Some(addr))
            .map(|r| m.offset(r));
        let first = offsets.next();
        let differ = first.is_some_and(|f| offsets.any(|o| o != f));
        rehearse::sometimes!(
            "near miss: the primary down while its replicas answer at different offsets",
            differ
        );
    }

    /// After instance `i`'s step, which moved its machine by `moved`.
    pub(super) fn after_step(&mut self, i: usize, machine: &Machine, moved: Option<(&str, &str, &str)>) {
        let ctx = machine.context();
        let down_after = ctx.config.settings.down_after_ms;
        for (node, view) in &ctx.views {
            if !view.lost_data {
                self.lost_seen[i].remove(node);
            } else if self.lost_seen[i].insert(node.clone()) {
                // Newly noticed: the primary came back with a new run id
                // and less data. `returned` is the outage the leader saw
                // (none: it answered every poll, so it restarted between
                // two).
                let before_down_after = view
                    .returned
                    .is_none_or(|(since, back)| back.saturating_sub(since) < down_after);
                rehearse::sometimes!(
                    "controller: an empty restart of the primary seen before down-after",
                    before_down_after
                );
            }
        }
        if let Some((_, _, to)) = moved {
            self.mid_failover[i] = if MID_FAILOVER.contains(&to) { ctx.epoch } else { None };
        }
        // Another leader acting under a newer epoch while one was carrying
        // out its failover.
        if let Some(epoch) = ctx.epoch {
            for j in (0..self.mid_failover.len()).filter(|&j| j != i) {
                if let Some(theirs) = self.mid_failover[j] {
                    let replaced = epoch > theirs;
                    rehearse::sometimes!("controller: a leader replaced mid-failover", replaced);
                    if replaced {
                        self.mid_failover[j] = None;
                    }
                }
            }
        }
    }

    /// Instance `i` starts again as a new process: it remembers nothing.
    pub(super) fn restarted(&mut self, i: usize) {
        self.lost_seen[i].clear();
    }
}

/// At the end of an explored run (or at its first violation): the ten
/// failures and the failovers during a switchover, from the event log.
pub(super) fn at_end(events: &[Event], down_after_ms: Millis) {
    let log: Vec<(Millis, String)> = events.iter().map(|e| (e.at, e.what())).collect();
    let log = Log(&log);
    rehearse::sometimes!(
        "failure 1: an isolated primary acknowledges writes",
        log.isolated_primary_acks_writes()
    );
    rehearse::sometimes!(
        "failure 2: the primary restarts empty before detection",
        log.primary_restarted_empty_before_detection(down_after_ms)
    );
    rehearse::sometimes!(
        "failure 3: a leader paused past its lease is replaced",
        log.paused_leader_replaced()
    );
    rehearse::sometimes!(
        "failure 4: a stale etcd read shows an old record",
        log.at("stale read: ").next().is_some()
    );
    rehearse::sometimes!(
        "failure 5: etcd unavailable while the primary fails, no promotion",
        log.etcd_down_no_promotion()
    );
    rehearse::sometimes!(
        "failure 6: the leader's lease is revoked early",
        log.leader_lease_revoked()
    );
    rehearse::sometimes!("failure 7: every Redis node down at once", log.cold_start());
    rehearse::sometimes!(
        "failure 8: concurrent candidates, a guarded write rejected",
        log.at("rejected: record write by ").next().is_some()
    );
    rehearse::sometimes!(
        "failure 9: only a lagging replica left, promotion withheld",
        log.at("blocked: ").any(|(_, b)| b.contains("NoEligibleReplica"))
    );
    rehearse::sometimes!(
        "failure 10: a controller crash between promote and repoint, completed by the next",
        log.crash_between_promote_and_repoint()
    );
    rehearse::sometimes!(
        "failure 10: a switchover target paused mid-FAILOVER, rolled back",
        log.at("switchover rolled back: ").next().is_some()
    );
    let (in_flight, after_crash) = log.failovers_during_switchovers();
    rehearse::sometimes!(
        "controller: a failover while a switchover's handover is in flight",
        in_flight
    );
    rehearse::sometimes!(
        "controller: a failover after the old primary crashed mid-switchover",
        after_crash
    );
}

/// The event log as the timeline prints it: (time, text).
struct Log<'a>(&'a [(Millis, String)]);

fn node_of<'s>(what: &'s str, prefix: &str) -> &'s str {
    what[prefix.len()..].split([' ', ',']).next().unwrap_or_default()
}

impl<'a> Log<'a> {
    fn at(&self, prefix: &'a str) -> impl Iterator<Item = (Millis, &'a str)> + 'a {
        self.0
            .iter()
            .filter(move |(_, w)| w.starts_with(prefix))
            .map(|(t, w)| (*t, w.as_str()))
    }

    /// The instance (without incarnation) that wrote the last record at
    /// or before `t`, and the primary it named.
    fn recorded_before(&self, t: Millis) -> Option<(&'a str, &'a str)> {
        self.at("record: primary ")
            .filter(|(at, _)| *at <= t)
            .last()
            .map(|(_, w)| {
                let mut words = w.split(' ');
                let primary = words.nth(2).unwrap_or_default();
                let by = w.rsplit(' ').next().unwrap_or_default();
                (by.split('.').next().unwrap_or_default(), primary)
            })
    }

    fn isolated_primary_acks_writes(&self) -> bool {
        self.at("write acked by ")
            .any(|(w, _)| self.at("partition").any(|(p, _)| p <= w) && self.at("partition healed").any(|(h, _)| h > w))
    }

    fn primary_restarted_empty_before_detection(&self, down_after: Millis) -> bool {
        self.at("restart empty: ").any(|(r, what)| {
            let node = node_of(what, "restart empty: ");
            let had_data = !what.ends_with("(had 0 writes)");
            let crashed = self
                .at("crash: ")
                .filter(|(c, w)| *c <= r && node_of(w, "crash: ") == node)
                .last()
                .is_some_and(|(c, _)| r - c < down_after);
            let primary = self.recorded_before(r).is_some_and(|(_, p)| p == node);
            had_data && crashed && primary
        })
    }

    fn paused_leader_replaced(&self) -> bool {
        self.at("arbiter pause: ").any(|(p, what)| {
            let who = node_of(what, "arbiter pause: ");
            let until: Millis = what.rsplit("t=").next().and_then(|t| t.parse().ok()).unwrap_or(0);
            let leader = self.recorded_before(p).is_some_and(|(by, _)| by == who);
            let replaced = self
                .at("record: primary ")
                .any(|(r, _)| r > p && r < until && self.recorded_before(r).is_some_and(|(by, _)| by != who));
            leader && replaced
        })
    }

    fn etcd_down_no_promotion(&self) -> bool {
        self.at("etcd unavailable").any(|(u, _)| {
            let back = self
                .at("etcd available again")
                .find(|(a, _)| *a > u)
                .map_or(Millis::MAX, |(a, _)| a);
            let primary = self.recorded_before(u).map(|(_, p)| p);
            let primary_crashed = self
                .at("crash: ")
                .any(|(c, w)| c >= u && c < back && Some(node_of(w, "crash: ")) == primary);
            let promoted = self.at("promote: ").any(|(p, _)| p >= u && p < back);
            primary_crashed && !promoted && back != Millis::MAX
        })
    }

    fn leader_lease_revoked(&self) -> bool {
        self.at("lease revoked early: ").any(|(r, what)| {
            let who = node_of(what, "lease revoked early: ");
            self.recorded_before(r).is_some_and(|(by, _)| by == who)
        })
    }

    fn cold_start(&self) -> bool {
        let mut down = BTreeSet::new();
        for (_, what) in self.0 {
            if let Some(rest) = what.strip_prefix("crash: ") {
                down.insert(rest);
            } else if what.starts_with("restart empty: ") {
                down.remove(node_of(what, "restart empty: "));
            }
            if down.len() == 3 {
                return true;
            }
        }
        false
    }

    fn crash_between_promote_and_repoint(&self) -> bool {
        self.at("arbiter crash right after promote: ")
            .any(|(c, _)| self.at("repoint: ").any(|(r, _)| r > c))
    }

    /// (a promotion while a `FAILOVER TO` handover is in flight, a
    /// promotion after the old primary of a handover in flight crashed).
    fn failovers_during_switchovers(&self) -> (bool, bool) {
        // The handover in flight: (old primary, target), and whether the
        // old primary crashed during it.
        let mut flight: Option<(&str, bool)> = None;
        let mut crashed_mid_handover = false;
        let (mut in_flight, mut after_crash) = (false, false);
        for (_, what) in self.0 {
            let what = what.as_str();
            if let Some(rest) = what.strip_prefix("switchover started: ") {
                flight = Some((rest.split(' ').next().unwrap_or_default(), false));
            } else if what.starts_with("switchover: ")
                || what.starts_with("switchover rolled back: ")
                || what.starts_with("switchover aborted: ")
            {
                flight = None;
            } else if let Some(node) = what.strip_prefix("crash: ") {
                if let Some((from, crashed)) = &mut flight {
                    if *from == node {
                        *crashed = true;
                        crashed_mid_handover = true;
                    }
                }
            } else if what.starts_with("promote: ") {
                in_flight |= flight.is_some();
                after_crash |= crashed_mid_handover;
            }
        }
        (in_flight, after_crash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::model::ModelEvent;
    use crate::sim::run::{SimOptions, run};

    fn log(kinds: Vec<ModelEvent>) -> Vec<(Millis, String)> {
        kinds
            .into_iter()
            .enumerate()
            .map(|(at, kind)| {
                let e = Event { at: at as Millis, kind };
                (e.at, e.what())
            })
            .collect()
    }

    fn started() -> ModelEvent {
        ModelEvent::SwitchoverStarted {
            from: "r1".into(),
            to: "r2".into(),
            epoch: Epoch(3),
        }
    }

    fn promote() -> ModelEvent {
        ModelEvent::Promote {
            node: "r2".into(),
            epoch: Epoch(4),
            offset: 10,
            keys: 1,
        }
    }

    #[test]
    fn a_failover_during_a_switchover_is_told_from_one_after_it() {
        let during = |kinds| Log(&log(kinds)).failovers_during_switchovers();
        assert_eq!(during(vec![started(), promote()]), (true, false));
        let crash = ModelEvent::Crash { node: "r1".into() };
        assert_eq!(during(vec![started(), crash, promote()]), (true, true));
        let done = ModelEvent::Switchover {
            from: "r1".into(),
            to: "r2".into(),
            epoch: Epoch(3),
        };
        assert_eq!(during(vec![started(), done, promote()]), (false, false));
        let other = ModelEvent::Crash { node: "r3".into() };
        let aborted = ModelEvent::SwitchoverAborted {
            from: "r1".into(),
            to: "r2".into(),
        };
        assert_eq!(during(vec![started(), other, aborted, promote()]), (false, false));
    }

    #[test]
    fn a_short_sweep_lists_every_situation_and_hits_the_common_ones() {
        let opts = SimOptions {
            record: false,
            ..SimOptions::default()
        };
        let report = rehearse::Sweep::new("explored-unit")
            .seeds(0..24)
            .assertions_in("arbiter::sim")
            .shrink(false)
            .quiet()
            .run(|sim| run(sim, &opts).map(|_| ()));
        assert_eq!(report.failed_runs, 0, "{report}");
        let a = &report.assertions;
        assert_eq!(a.keys().filter(|k| k.starts_with("failure ")).count(), 11, "{a:#?}");
        assert_eq!(a.keys().filter(|k| k.starts_with("controller: ")).count(), 4, "{a:#?}");
        for name in [
            "failure 2: the primary restarts empty before detection",
            "failure 7: every Redis node down at once",
            "failure 9: only a lagging replica left, promotion withheld",
            "controller: an empty restart of the primary seen before down-after",
        ] {
            assert!(a[name].runs > 0, "{name}: {:?}", a[name]);
        }
        // arbiter reads linearizably: only the planted bug reads stale.
        let stale = &a["failure 4: a stale etcd read shows an old record"];
        assert_eq!((stale.evaluations, stale.hits), (24, 0));
        assert!(
            report
                .never_hit()
                .contains(&"failure 4: a stale etcd read shows an old record")
        );
    }
}
