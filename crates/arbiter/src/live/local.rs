//! The run loop's side of [`LocalStatus`]: what only this instance can
//! tell (its state, whether it leads, why it is blocked, the failovers and
//! switchovers it carried out, its etcd errors, a heartbeat), kept from
//! the machine after every step.
//!
//! Nothing here is a world call: the [`Tally`] reads the machine's state
//! and context, the switchover answers the [`Narrator`](super::log::Narrator)
//! found, and a few facts the live world keeps beside its calls
//! ([`WorldFacts`]), so recordings are unchanged.

use std::time::{Duration, Instant};

use super::follow::{LocalStatus, Shared};
use super::switchover::{SwitchoverAnswer, SwitchoverOutcome};
use crate::machine::{Machine, Plan, State};

/// What the live world knows beside its calls (see
/// [`LiveWorld::started`](super::world::LiveWorld::started) and the two
/// after it).
#[derive(Debug, Clone)]
pub struct WorldFacts {
    /// When the world's clock read 0 (the machine's times are counted
    /// from it).
    pub started: Instant,
    /// Failed etcd requests so far.
    pub etcd_errors: u64,
    /// The latest promotion Redis accepted: the node's address and when.
    pub last_promotion: Option<(String, Instant)>,
}

/// A failover whose record is written and whose promotion is awaited.
#[derive(Debug, Clone)]
struct Pending {
    /// The address of the node being promoted.
    addr: String,
    /// When the outage began, as this instance saw it.
    since: Instant,
    /// When the record naming the new primary was written.
    written: Instant,
}

/// Keeps [`LocalStatus`] from the machine: call [`Tally::observe`] after
/// every step.
#[derive(Debug, Default)]
pub struct Tally {
    /// The machine's state after the previous step (so: before this one).
    previous: Option<State>,
    pending: Option<Pending>,
    failovers: u64,
    switchovers: u64,
    last_failover_ms: Option<u64>,
}

impl Tally {
    /// A tally that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes in the step just taken: `machine` after it, `world`'s facts,
    /// and the switchover `answers` the narrator found in it; then writes
    /// the local status into `shared`, with a new heartbeat.
    pub fn observe(&mut self, machine: &Machine, world: &WorldFacts, answers: &[SwitchoverAnswer], shared: &Shared) {
        let status = self.take(machine, world, answers, Instant::now());
        shared.update_local(|local| *local = status);
    }

    /// The local status after the step `machine` just took, at `now`.
    fn take(
        &mut self,
        machine: &Machine,
        world: &WorldFacts,
        answers: &[SwitchoverAnswer],
        now: Instant,
    ) -> LocalStatus {
        let state = machine.state();
        let ctx = machine.context();
        // The failover's record is written: the group has a new primary
        // (Publishing → Promoting is the write's success).
        if let (
            Some(State::Publishing {
                plan: Plan::Failover { from, to },
            }),
            State::Promoting {
                plan: Plan::Failover { .. },
            },
        ) = (&self.previous, state)
        {
            self.failovers += 1;
            let view = ctx.views.get(from);
            let since = view
                .and_then(|v| v.down_since.or(v.lost_data.then_some(v.lost_data_at)))
                .map_or(now, |ms| world.started + Duration::from_millis(ms));
            self.pending = ctx.config.node(to).map(|n| Pending {
                addr: n.addr.clone(),
                since: since.min(now),
                written: now,
            });
        }
        // Its promotion succeeded (in this step, or in a later retry).
        if let (Some(pending), Some(State::Promoting { .. }), Some((addr, at))) =
            (&self.pending, &self.previous, &world.last_promotion)
        {
            if *addr == pending.addr && *at >= pending.written {
                self.last_failover_ms = Some(at.saturating_duration_since(pending.since).as_millis() as u64);
                self.pending = None;
            }
        }
        if ctx.epoch.is_none() {
            self.pending = None;
        }
        self.switchovers += answers.iter().filter(|a| a.outcome == SwitchoverOutcome::Done).count() as u64;
        self.previous = Some(state.clone());
        let paused = ctx.config.settings.paused;
        // A paused leader decides nothing, so the machine names no block:
        // say that the pause is what keeps a down primary in place.
        let paused_block = ctx
            .record
            .as_ref()
            .filter(|_| paused && ctx.epoch.is_some())
            .and_then(|r| {
                let down = ctx.views.get(&r.primary)?.down_since?;
                let ms = ctx.now.saturating_sub(down);
                (ms >= ctx.config.settings.down_after_ms).then(|| {
                    format!(
                        "paused: {} has not answered for {ms} ms; `arbiter resume` lets the leader fail over",
                        r.primary
                    )
                })
            });
        let (blocked, blocked_detail) = match (&ctx.blocked, paused_block) {
            (Some(b), _) => (
                Some(super::log::blocked_reason(b).to_string()),
                Some(super::log::blocked_detail(b)),
            ),
            (None, Some(detail)) => (Some(super::log::PAUSED.to_string()), Some(detail)),
            (None, None) => (None, None),
        };
        LocalStatus {
            state: state.name().to_string(),
            id: ctx.instance.as_ref().map(|i| i.0.clone()),
            leading: ctx.epoch.map(|e| e.get()),
            blocked,
            blocked_detail,
            paused,
            failovers: self.failovers,
            switchovers: self.switchovers,
            last_failover_ms: self.last_failover_ms,
            etcd_errors: world.etcd_errors,
            heartbeat: Some(now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::Driver;

    /// Replays `scenario` through a tally, with the world's facts made
    /// up: the clock started at `t0`, each promotion accepted when the
    /// machine leaves `Promoting`, 1 ms of real time per step.
    fn tally(scenario: &str) -> Vec<LocalStatus> {
        let path = format!("{}/../../scenarios/{scenario}", env!("CARGO_MANIFEST_DIR"));
        let replayer = rehearse::Replayer::open(&path).unwrap();
        let mut driver = Driver::new(replayer.clone());
        let mut tally = Tally::new();
        let t0 = Instant::now();
        let mut facts = WorldFacts {
            started: t0,
            etcd_errors: 0,
            last_promotion: None,
        };
        let mut seen = Vec::new();
        while replayer.position() < replayer.len() {
            let promoting = match driver.machine().state() {
                State::Promoting {
                    plan: Plan::Failover { to, .. } | Plan::Promote { node: to },
                } => driver.machine().context().config.node(to).map(|n| n.addr.clone()),
                _ => None,
            };
            if driver.step_once().unwrap().is_some() {
                break;
            }
            // (the machine's clock, plus a little: after the step)
            let now = t0 + Duration::from_millis(driver.machine().context().now + 1);
            if let Some(addr) = promoting {
                facts.last_promotion = Some((addr, now));
            }
            seen.push(tally.take(driver.machine(), &facts, &[], now));
        }
        seen
    }

    #[test]
    fn a_failover_is_counted_once_with_its_duration_from_the_last_answer() {
        let seen = tally("failover.ron");
        let last = seen.last().unwrap();
        assert_eq!(last.failovers, 1, "{last:?}");
        assert!(last.leading.is_some());
        let took = last.last_failover_ms.expect("the promotion was seen");
        // failover.ron: r1 last answers at a check, and is down
        // down_after_ms (3 s) later; the promotion follows.
        assert!((3000..10_000).contains(&took), "{took} ms");
        let counted = seen.iter().position(|s| s.failovers == 1).unwrap();
        assert_eq!(seen[counted - 1].state, "Publishing");
        assert_eq!(seen[counted].state, "Promoting");
        assert!(seen.iter().all(|s| s.heartbeat.is_some()));
    }

    #[test]
    fn a_follower_counts_nothing_and_a_block_is_named_by_its_reason() {
        let seen = tally("follower_stays_passive.ron");
        assert!(seen.iter().all(|s| s.failovers == 0 && s.leading.is_none()));
        assert!(seen.iter().any(|s| s.state == "Following"));
        let seen = tally("stale_replicas_wait_for_override.ron");
        let blocked = seen.iter().find_map(|s| s.blocked.clone()).unwrap();
        assert_eq!(blocked, "no-eligible-replica");
        let detail = seen.iter().find_map(|s| s.blocked_detail.clone()).unwrap();
        assert!(detail.contains("no replica is eligible"), "{detail}");
    }

    #[test]
    fn a_switchover_done_is_counted_and_a_refused_one_is_not() {
        let mut tally = Tally::new();
        let machine = Machine::new();
        let facts = WorldFacts {
            started: Instant::now(),
            etcd_errors: 7,
            last_promotion: None,
        };
        let done = SwitchoverAnswer::new("r2", SwitchoverOutcome::Done);
        let failed = SwitchoverAnswer::because("r3", SwitchoverOutcome::Failed, "no");
        let status = tally.take(&machine, &facts, &[done, failed], Instant::now());
        assert_eq!((status.switchovers, status.etcd_errors), (1, 7));
        assert_eq!(status.state, "Init");
    }
}
