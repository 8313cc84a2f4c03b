//! `step`'s handlers for a round: configuration changes and operator
//! requests (for a leader), the poll of every node (a follower polls too,
//! and only watches), and the leader's decision taken after it
//! ([`decide`](super::decide)), started as a record write.

use super::startup::name_of;
use super::{Impossible, Input, Machine, Moved, Output, Plan, State, Watch, decide, unexpected};
use crate::types::Epoch;
use crate::types::{ClusterEvent, RedisError, Role};

impl Machine {
    /// `CheckingConfig`, `CheckingRequests` and `Polling`.
    pub(super) fn on_round(&mut self, state: State, input: Input) -> Moved {
        Ok(match (state, input) {
            (State::CheckingConfig, Input::Config(config)) => {
                if let Some(config) = config {
                    self.ctx.views.retain(|name, _| config.node(name).is_some());
                    self.ctx.watch.retain(|name, _| config.node(name).is_some());
                    self.ctx.config = config;
                }
                if self.ctx.epoch.is_some() {
                    self.emit(Output::CheckRequests);
                    State::CheckingRequests
                } else {
                    // A follower watches the nodes too (it never acts on
                    // them): if the leader dies with the primary, it takes
                    // over with down-after already running (issue 19).
                    return self.poll(0);
                }
            }
            (State::CheckingRequests, Input::Cluster(event)) => {
                if let Some(ClusterEvent::SwitchoverRequested { target }) = event {
                    self.ctx.switchover = Some(target);
                    self.ctx.switchover_at = self.ctx.now;
                }
                return self.poll(0);
            }
            (State::Polling { next }, Input::Status(result)) => {
                let now = self.ctx.now;
                // (the node polled is configured: `poll` polled it)
                let (name, _) = name_of(&self.ctx.config, next).ok_or(Impossible::UnknownNode)?;
                // (a refused password is an answer: the node is up)
                let answered = match &result {
                    Ok(status) => Some(status.role == Role::Primary),
                    Err(RedisError::Auth(_)) => Some(false),
                    Err(_) => None,
                };
                let interval = self.ctx.config.settings.check_interval_ms;
                let watch = self.ctx.watch.entry(name.clone()).or_default();
                watch.observe(now, answered, interval);
                let down_since = watch.down_since;
                // A follower keeps its views too (it never acts on them): a
                // successor knows what each node held when it last answered
                // (seed 33323: a new leader that never saw the dead primary
                // answer recorded a copy of 20 keys over its 106).
                let view = self.ctx.views.entry(name).or_default();
                view.observe(now, result);
                // Down-after counts from the last answer to this
                // instance's polls, leading or following (see `Watch`).
                if view.down_since.is_some() {
                    view.down_since = down_since;
                }
                return self.poll(next + 1);
            }
            (state, input) => unexpected(state, input),
        })
    }

    /// Polls the node at `index`, or, past the last one, acts.
    fn poll(&mut self, index: usize) -> Moved {
        match name_of(&self.ctx.config, index) {
            Some((_, addr)) => {
                self.emit(Output::PollNode { addr });
                Ok(State::Polling { next: index })
            }
            None => self.act(),
        }
    }

    /// After polling every node: decide and start the plan, or go idle (a
    /// follower only watches).
    fn act(&mut self) -> Moved {
        // (nothing in a round takes leadership away or gives it)
        let Some(epoch) = self.ctx.epoch else {
            // A primary down: read the leader's heartbeat, to depose a
            // leader that died with it ([`super::depose`]) ...
            if let Some(state) = self.watch_leader() {
                return Ok(state);
            }
            // ... and look at the election soon, to take over the moment
            // the leader's entry is gone.
            let idle = self.idle_state();
            return Ok(if self.ctx.watch.values().any(Watch::primary_down) {
                self.idle_soon(idle)
            } else {
                self.idle(idle)
            });
        };
        let marks = decide::note_data_loss(
            &self.ctx.config,
            &self.ctx.views,
            self.ctx.record.as_ref(),
            self.ctx.now,
        );
        marks.apply(&mut self.ctx.views);
        if self.handover_in_flight() {
            return Ok(self.idle_soon(State::Leading { epoch }));
        }
        let decision = decide::decide(
            &self.ctx.config,
            &self.ctx.views,
            self.ctx.record.as_ref(),
            self.ctx.switchover.as_deref(),
            self.ctx.now,
            &self.ctx.planted,
        );
        Ok(match decision {
            Ok(Some(plan)) => {
                // (noting a loss changes nothing of why the leader waits)
                if !matches!(plan, Plan::NoteLoss { .. }) {
                    self.ctx.blocked = None;
                }
                return self.publish(plan, epoch);
            }
            Ok(None) => {
                self.ctx.blocked = None;
                self.idle_soon_if_urgent(State::Leading { epoch })
            }
            Err(blocked) => {
                self.ctx.blocked = Some(blocked);
                self.idle_soon_if_urgent(State::Leading { epoch })
            }
        })
    }

    /// Writes the record `plan` needs under `epoch` before acting.
    pub(super) fn publish(&mut self, plan: Plan, epoch: Epoch) -> Moved {
        let record = plan
            .record(epoch, self.ctx.record.as_ref(), &self.ctx.views)
            .ok_or(Impossible::NoRecord)?;
        let epoch = self.fence(epoch);
        self.emit(Output::Publish { epoch, record });
        Ok(State::Publishing { plan })
    }

    /// True while a switchover Redis accepted is still being handed over:
    /// the target still follows the old primary, which still answers as the
    /// same process (no restart since) with its data, and the deadline has
    /// not passed. Clears the handover otherwise: a dead or restarted old
    /// primary ended the handover, and what follows is decided as usual.
    fn handover_in_flight(&mut self) -> bool {
        let Some((from, to, deadline, run_id)) = self.ctx.handover.clone() else {
            return false;
        };
        // (an old primary no longer configured has no view: not waiting)
        let from_addr = self.addr(&from).ok();
        let same_process = self
            .ctx
            .views
            .get(&from)
            .is_some_and(|v| !v.lost_data && v.status.as_ref().is_some_and(|s| s.run_id == run_id));
        let follows_old =
            |role: &Role| matches!(role, Role::Replica { primary, .. } if Some(primary) == from_addr.as_ref());
        let waiting = self.ctx.now < deadline
            && same_process
            && self
                .ctx
                .views
                .get(&to)
                .and_then(|v| v.status.as_ref())
                .is_some_and(|s| follows_old(&s.role));
        if !waiting {
            self.ctx.handover = None;
        }
        waiting
    }
}
