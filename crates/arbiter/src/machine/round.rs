//! `step`'s handlers for a round: configuration changes and operator
//! requests (for a leader), the poll of every node, and the decision
//! taken after it ([`decide`](super::decide)), started as a record write.

use super::startup::name_of;
use super::{Impossible, Input, Machine, Moved, Output, Plan, State, decide, unexpected};
use crate::types::Epoch;
use crate::types::{ClusterEvent, Role};

impl Machine {
    /// `CheckingConfig`, `CheckingRequests` and `Polling`.
    pub(super) fn on_round(&mut self, state: State, input: Input) -> Moved {
        Ok(match (state, input) {
            (State::CheckingConfig, Input::Config(config)) => {
                if let Some(config) = config {
                    self.ctx.views.retain(|name, _| config.node(name).is_some());
                    self.ctx.config = config;
                }
                if self.ctx.epoch.is_some() {
                    self.emit(Output::CheckRequests);
                    State::CheckingRequests
                } else {
                    self.idle(self.idle_state())
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
                self.ctx.views.entry(name).or_default().observe(now, result);
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

    /// After polling every node: decide and start the plan, or go idle.
    fn act(&mut self) -> Moved {
        // (only a leader polls: nothing in a round takes leadership away)
        let epoch = self.ctx.epoch.ok_or(Impossible::NotLeading)?;
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
