//! `step`'s handlers for a follower that watches its leader while a
//! primary is down (issue 19): it reads the leader's heartbeat each round
//! and deposes a leader silent for longer than it promised, so that the
//! next instance in line takes over at once instead of after the lease
//! TTL (`CheckingLeader`, `Deposing`).
//!
//! Safe whatever the clocks say: a deposed leader that was only slow
//! loses nothing but its term. Its record writes are guarded by its entry
//! (gone), and its Redis commands by the leadership re-check and the
//! fence of the higher epoch its successor acts under (S1, S2).

use super::{Input, Machine, Moved, Output, State, Watch, unexpected};

impl Machine {
    /// `CheckingLeader` and `Deposing`.
    pub(super) fn on_depose(&mut self, state: State, input: Input) -> Moved {
        Ok(match (state, input) {
            (State::CheckingLeader, Input::Heartbeat(result)) => {
                let now = self.ctx.now;
                let settings = &self.ctx.config.settings;
                let margin = settings.fast_check_interval_ms.min(settings.check_interval_ms);
                if let (Ok(Some(beat)), Some(leader)) = (result, self.ctx.leader.clone()) {
                    // Silence counts from the round this instance first saw
                    // the revision (after it was written: never early).
                    let since = match &self.ctx.silence {
                        Some((l, revision, since)) if *l == leader && *revision == beat.revision => *since,
                        _ => now,
                    };
                    self.ctx.silence = Some((leader.clone(), beat.revision, since));
                    let silent = now.saturating_sub(since) > beat.within_ms.saturating_add(margin);
                    if silent && self.primary_down_for_down_after() {
                        self.emit(Output::Depose {
                            leader,
                            revision: beat.revision,
                        });
                        return Ok(State::Deposing);
                    }
                }
                // (no heartbeat: a leader that does not beat, or etcd out
                // of reach, is never deposed; its lease decides)
                self.idle_soon(self.idle_state())
            }
            (State::Deposing, Input::Deposed(result)) => {
                self.ctx.silence = None;
                if matches!(result, Ok(true)) {
                    // The next instance in line leads now: this one, maybe.
                    self.emit(Output::CheckElection);
                    State::CheckingElection
                } else {
                    self.idle_soon(self.idle_state())
                }
            }
            (state, input) => unexpected(state, input),
        })
    }

    /// A node this instance saw as primary has not answered its polls for
    /// down-after: the failover a leader would start now.
    fn primary_down_for_down_after(&self) -> bool {
        let now = self.ctx.now;
        let down_after = self.ctx.config.settings.down_after_ms;
        self.ctx.watch.values().filter(|w| w.primary_down()).any(|w: &Watch| {
            w.down_since
                .is_some_and(|since| now.saturating_sub(since) >= down_after)
        })
    }

    /// A follower with a primary down reads the leader's heartbeat (to
    /// depose a silent leader); otherwise `None`.
    pub(super) fn watch_leader(&mut self) -> Option<State> {
        if !self.ctx.watch.values().any(Watch::primary_down) {
            self.ctx.silence = None;
            return None;
        }
        let State::Following { leader: Some(leader) } = self.idle_state() else {
            return None;
        };
        if self.is_me(&leader) {
            return None;
        }
        self.emit(Output::ReadHeartbeat { leader });
        Some(State::CheckingLeader)
    }
}
