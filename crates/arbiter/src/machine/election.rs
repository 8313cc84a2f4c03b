//! `step`'s handlers for who leads: election news (`CheckingElection`),
//! a new leader's record read (`LoadingRecord`), becoming leader and
//! campaigning again.

use super::{Input, Machine, Output, State, unexpected};
use crate::types::{ElectionEvent, GroupRecord, Leader};

impl Machine {
    /// `CheckingElection` and `LoadingRecord`.
    pub(super) fn on_election(&mut self, state: State, input: Input) -> State {
        match (state, input) {
            (State::CheckingElection, Input::Election(event)) => self.on_election_news(event),
            (State::LoadingRecord, Input::Record(Ok(record))) => self.on_record(record),
            (State::LoadingRecord, Input::Record(Err(_))) => {
                // Without the record the leader cannot act safely; retry.
                self.ctx.epoch = None;
                self.idle(State::Following {
                    leader: self.ctx.leader.clone(),
                })
            }
            (state, input) => unexpected(state, input),
        }
    }

    /// `CheckingElection` takes the election news `event`.
    fn on_election_news(&mut self, event: Option<ElectionEvent>) -> State {
        match event {
            // (an entry deposed while the lease lives: join again)
            Some(ElectionEvent::LeaseLost | ElectionEvent::EntryLost) => self.campaign(),
            Some(ElectionEvent::LeaderChanged(Some(leader)))
                if self.is_me(&leader) && self.ctx.epoch != Some(leader.epoch) =>
            {
                self.become_leader(&leader)
            }
            Some(ElectionEvent::LeaderChanged(leader)) => {
                let me = leader.as_ref().is_some_and(|l| self.is_me(l));
                if !me {
                    // Someone else leads: stop acting at once.
                    self.ctx.epoch = None;
                }
                self.ctx.leader = leader;
                self.emit(Output::CheckConfig);
                State::CheckingConfig
            }
            None => match self.ctx.leader.clone() {
                // Nothing new, but the last known leader is this instance
                // while it is not acting (its record read failed): resume
                // leading.
                Some(leader) if self.ctx.epoch.is_none() && self.is_me(&leader) => self.become_leader(&leader),
                // A record write's outcome is unknown: read what etcd holds.
                _ if self.ctx.epoch.is_some() && self.ctx.record_unknown => {
                    self.emit(Output::ReadRecord {
                        linearizable: !planted!(self.ctx.planted, TrustStaleRead),
                    });
                    State::LoadingRecord
                }
                _ => {
                    self.emit(Output::CheckConfig);
                    State::CheckingConfig
                }
            },
        }
    }

    /// `LoadingRecord` read `record`.
    fn on_record(&mut self, record: Option<GroupRecord>) -> State {
        if record.as_ref().is_some_and(|r| Some(r.epoch) > self.ctx.epoch) {
            // A newer leader wrote it: this instance is stale (S2).
            return self.campaign();
        }
        self.ctx.record = record;
        self.ctx.record_unknown = false;
        self.emit(Output::CheckConfig);
        State::CheckingConfig
    }

    /// Joins the election again (when this instance has an id), acting
    /// under no epoch meanwhile.
    pub(super) fn campaign(&mut self) -> State {
        self.ctx.epoch = None;
        self.ctx.candidacy = None;
        match self.ctx.instance.clone() {
            Some(instance) => {
                self.emit(Output::CreateNode { instance });
                State::Campaigning
            }
            None => State::Candidate,
        }
    }

    /// This instance leads under `leader.epoch`: read the record first.
    pub(super) fn become_leader(&mut self, leader: &Leader) -> State {
        // S2: never act under an epoch lower than one already acted under.
        if leader.epoch < self.ctx.highest_epoch {
            return self.campaign();
        }
        // What this instance saw of the nodes before is from before a time
        // it did not poll them (it followed, or its record read failed): a
        // role from then may have changed since (another leader repointed
        // the node, S10). Kept (a restart since is evidence), but marked.
        for view in self.ctx.views.values_mut() {
            view.earlier_term = true;
        }
        self.ctx.epoch = Some(leader.epoch);
        self.ctx.highest_epoch = leader.epoch;
        self.ctx.leader = Some(leader.clone());
        self.emit(Output::ReadRecord {
            linearizable: !planted!(self.ctx.planted, TrustStaleRead),
        });
        State::LoadingRecord
    }

    /// Whether `leader` is this instance under its current election entry.
    pub(super) fn is_me(&self, leader: &Leader) -> bool {
        self.ctx.instance.as_ref() == Some(&leader.instance)
            && self
                .ctx
                .candidacy
                .as_ref()
                .is_some_and(|c| c.revision == leader.epoch.get())
    }
}
