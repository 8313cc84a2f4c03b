//! `step`'s handlers while the machine waits for its next tick
//! (`Following`, `Leading`), and while it leaves (`Resigning`); the
//! `Wait` it sends, soon when the group is urgent.

use super::{Input, Machine, Moved, Output, State, URGENT_WINDOW_MS, unexpected};
use crate::types::Millis;

impl Machine {
    /// `Following`, `Leading` and `Resigning`.
    pub(super) fn on_idle(&mut self, state: State, input: Input) -> Moved {
        Ok(match (state, input) {
            (State::Following { .. } | State::Leading { .. }, Input::Tick { now }) => {
                self.tick(now);
                self.emit(Output::CheckElection);
                State::CheckingElection
            }
            (State::Following { .. } | State::Leading { .. }, Input::Shutdown) => self.shut_down(),
            (State::Resigning, Input::Resigned(_)) => State::Stopped,
            (state, input) => unexpected(state, input),
        })
    }

    /// Stops acting, and leaves the election if this instance joined it.
    pub(super) fn shut_down(&mut self) -> State {
        self.ctx.epoch = None;
        match self.ctx.candidacy.take() {
            Some(candidacy) => {
                self.emit(Output::Resign { candidacy });
                State::Resigning
            }
            None => State::Stopped,
        }
    }

    /// Time moves on to `now`. A switchover that could not start within
    /// its timeout is given up (L4): the target is down, lagging or not a
    /// replica of the primary, or etcd or leadership was lost meanwhile.
    pub(super) fn tick(&mut self, now: Millis) {
        self.ctx.now = now;
        if now.saturating_sub(self.ctx.switchover_at) >= self.ctx.config.settings.failover_timeout_ms {
            self.ctx.switchover = None;
        }
    }

    /// The next tick's `Wait`, from the idle state `idle`.
    pub(super) fn idle(&mut self, idle: State) -> State {
        let until = self.ctx.now + self.ctx.config.settings.check_interval_ms;
        self.emit(Output::Wait { until });
        idle
    }

    /// The idle state that fits what this instance is: leading, following
    /// or without an election entry.
    pub(super) fn idle_state(&self) -> State {
        match (self.ctx.epoch, &self.ctx.candidacy) {
            (Some(epoch), _) => State::Leading { epoch },
            (None, Some(_)) => State::Following {
                leader: self.ctx.leader.clone(),
            },
            (None, None) => State::Candidate,
        }
    }

    /// A `Wait` until the fast check interval (or the usual one, when
    /// shorter), from `idle`.
    pub(super) fn idle_soon(&mut self, idle: State) -> State {
        let s = &self.ctx.config.settings;
        let until = self.ctx.now + s.fast_check_interval_ms.min(s.check_interval_ms);
        self.emit(Output::Wait { until });
        idle
    }

    /// Like [`Machine::idle`], but the next look comes soon when the
    /// recorded primary does not answer, or a node lost its data recently and the
    /// leader could not act (no candidate in view, or an attempt failed):
    /// replicas retry their link about once a second and would resync from
    /// the node if it came back empty (S7).
    pub(super) fn idle_soon_if_urgent(&mut self, idle: State) -> State {
        if self.ctx.epoch.is_some() && self.urgent() {
            self.idle_soon(idle)
        } else {
            self.idle(idle)
        }
    }

    /// Whether the group needs a look soon (see
    /// [`Machine::idle_soon_if_urgent`]).
    fn urgent(&self) -> bool {
        let now = self.ctx.now;
        let views = &self.ctx.views;
        let recorded = |r: &crate::types::GroupRecord| views.get(&r.primary);
        // Any node counts for data loss: after a failed record write the
        // record in hand may already name the intended new primary.
        let lost_data = views
            .values()
            .any(|v| v.lost_data && now.saturating_sub(v.lost_data_at) < URGENT_WINDOW_MS);
        let primary_down = self
            .ctx
            .record
            .as_ref()
            .is_some_and(|r| recorded(r).is_some_and(|v| v.down_since.is_some()));
        // Blocked on a primary that lost data: its replicas (sheltered or
        // out of reach) must be caught the moment they can be acted on.
        let blocked_on_loss = self.ctx.blocked.is_some()
            && self
                .ctx
                .record
                .as_ref()
                .is_some_and(|r| recorded(r).is_some_and(|v| v.lost_data));
        // The recorded primary restarted since it was recorded (another run
        // id) and has taken no write since (offset 0) while a node did not
        // answer: that node may be a replica holding what the primary lost
        // (a leader new to the group cannot tell an empty restart from an
        // empty group), and it resyncs about a second after it reaches it.
        let unsure_restart = self.ctx.record.as_ref().is_some_and(|r| {
            let restarted = recorded(r)
                .and_then(|v| v.status.as_ref())
                .is_some_and(|s| s.offset == 0 && r.run_id.as_deref().is_some_and(|recorded| recorded != s.run_id));
            let silent = self
                .ctx
                .config
                .nodes
                .iter()
                .any(|n| views.get(&n.name).is_none_or(|v| v.status.is_none()));
            restarted && silent
        });
        lost_data || primary_down || blocked_on_loss || unsure_restart
    }
}
