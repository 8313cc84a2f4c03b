//! `step`'s handlers from [`State::Init`] to joining the election: the
//! instance id, the startup check that no node runs in cluster mode, the
//! election entry and the first look at who leads.

use super::{Impossible, Input, Machine, Moved, Output, State, unexpected};
use crate::types::GroupConfig;

/// The name and address of the configured node at `index`.
pub(super) fn name_of(config: &GroupConfig, index: usize) -> Option<(String, String)> {
    config.nodes.get(index).map(|n| (n.name.clone(), n.addr.clone()))
}

impl Machine {
    /// `Init`, `Identifying`, `CheckingNodes`, `Campaigning`,
    /// `FindingLeader` and `Candidate`.
    pub(super) fn on_startup(&mut self, state: State, input: Input) -> Moved {
        Ok(match (state, input) {
            (State::Init, Input::Start { now, config }) => {
                self.ctx.now = now;
                self.ctx.config = config;
                self.emit(Output::GenNodeId);
                State::Identifying
            }
            (State::Identifying, Input::NodeId(_)) if self.ctx.config.nodes.is_empty() => {
                return Err(Impossible::NoNodes);
            }
            (State::Identifying, Input::NodeId(id)) => {
                self.ctx.instance = Some(id);
                self.check_node(0)
            }
            (State::CheckingNodes { next }, Input::ClusterEnabled(Ok(true))) => {
                // (the node asked is configured: `check_node` asked it)
                let (name, addr) = name_of(&self.ctx.config, next).ok_or(Impossible::UnknownNode)?;
                State::Refused {
                    reason: format!(
                        "node {name} ({addr}) runs in cluster mode; arbiter manages standalone primary/replica groups only"
                    ),
                }
            }
            // Unreachable at startup is not a reason to refuse: the node is
            // checked when it answers a poll as a replica or primary.
            (State::CheckingNodes { next }, Input::ClusterEnabled(Ok(false) | Err(_))) => self.check_node(next + 1),
            (State::Campaigning, Input::Created(Ok(candidacy))) => {
                self.ctx.candidacy = Some(candidacy);
                self.emit(Output::GetLeader);
                State::FindingLeader
            }
            (State::Campaigning, Input::Created(Err(_))) => self.idle(State::Candidate),
            (State::FindingLeader, Input::Leader(Ok(Some(leader)))) if self.is_me(&leader) => {
                self.become_leader(&leader)
            }
            (State::FindingLeader, Input::Leader(result)) => {
                self.ctx.leader = result.ok().flatten();
                self.idle(State::Following {
                    leader: self.ctx.leader.clone(),
                })
            }
            (State::Candidate, Input::Tick { now }) => {
                self.tick(now);
                self.campaign()
            }
            (State::Candidate, Input::Shutdown) => self.shut_down(),
            (state, input) => unexpected(state, input),
        })
    }

    /// Asks whether the node at `index` runs in cluster mode, or, past the
    /// last one, joins the election.
    fn check_node(&mut self, index: usize) -> State {
        match name_of(&self.ctx.config, index) {
            Some((_, addr)) => {
                self.emit(Output::CheckClusterEnabled { addr });
                State::CheckingNodes { next: index }
            }
            None => self.campaign(),
        }
    }
}
