//! `step`'s handlers while the leader carries a plan out: the guarded
//! record write (`Publishing`), then the Redis commands it needs
//! (`Promoting`, `Repointing`, `Detaching`, `SwitchingOver`), each
//! fenced by the epoch.

use super::{Impossible, Input, Machine, Moved, NodeView, Output, Plan, State, unexpected};
use crate::types::Epoch;

impl Machine {
    /// `Publishing`, `Promoting`, `Repointing`, `Detaching` and
    /// `SwitchingOver`, for the leader under `epoch`.
    pub(super) fn on_acting(&mut self, state: State, input: Input, epoch: Epoch) -> Moved {
        Ok(match (state, input) {
            (State::Publishing { plan }, Input::Published(Ok(true))) => return self.carry_out(plan, epoch),
            // The guard failed: another instance leads now (S1).
            (State::Publishing { .. }, Input::Published(Ok(false))) => self.campaign(),
            // etcd unavailable: no promotion without the record (policy for
            // failure 5); the current primary is left as it is.
            (State::Publishing { .. }, Input::Published(Err(_))) => {
                self.ctx.record_unknown = true;
                self.idle_soon_if_urgent(self.idle_state())
            }
            (State::Promoting { plan }, Input::Promoted(Ok(()))) => {
                let (Plan::Failover { to: primary, .. } | Plan::Promote { node: primary }) = plan else {
                    return Err(Impossible::WrongPlan);
                };
                let others = self
                    .ctx
                    .config
                    .nodes
                    .iter()
                    .map(|n| n.name.clone())
                    .filter(|n| *n != primary)
                    .collect();
                return self.repoint(others, 0, primary, epoch);
            }
            // Retried from the record on the next tick.
            (State::Promoting { .. }, Input::Promoted(Err(_))) => self.idle_soon_if_urgent(self.idle_state()),
            (State::Repointing { nodes, next, to }, Input::Repointed(result)) => {
                if result.is_ok() {
                    let primary = self.addr(&to)?;
                    if let Some(view) = nodes.get(next).and_then(|n| self.ctx.views.get_mut(n)) {
                        view.repointed(&primary);
                    }
                }
                return self.repoint(nodes, next + 1, to, epoch);
            }
            (State::Detaching { nodes, next }, Input::Promoted(_)) => return self.detach(nodes, next + 1, epoch),
            (State::SwitchingOver { plan }, Input::SwitchedOver(Ok(()))) => return self.switched_over(plan, epoch),
            // Redis aborts a failed FAILOVER and keeps the old primary.
            (State::SwitchingOver { .. }, Input::SwitchedOver(Err(_))) => {
                self.ctx.switchover = None;
                self.idle(self.idle_state())
            }
            (state, input) => unexpected(state, input),
        })
    }

    /// The record `plan` needed is written under `epoch`: start its
    /// commands, or go idle when it needs none.
    fn carry_out(&mut self, plan: Plan, epoch: Epoch) -> Moved {
        let record = plan
            .record(epoch, self.ctx.record.as_ref(), &self.ctx.views)
            .ok_or(Impossible::NoRecord)?;
        let primary = record.primary.clone();
        let fenced = self.fence(epoch);
        self.ctx.record = Some(record);
        Ok(match plan {
            Plan::Bootstrap { .. } | Plan::Adopt { .. } => self.idle(State::Leading { epoch: fenced }),
            // (the loss stays urgent: its replicas may resync from
            // the node any moment, so the next round comes soon)
            Plan::NoteLoss { .. } => self.idle_soon_if_urgent(State::Leading { epoch: fenced }),
            Plan::SettleLoss { .. } => self.idle(State::Leading { epoch: fenced }),
            Plan::Failover { ref to, .. } | Plan::Promote { node: ref to } => {
                let addr = self.addr(to)?;
                self.emit(Output::Promote { addr, epoch: fenced });
                State::Promoting { plan }
            }
            Plan::Repoint { nodes } => return self.repoint(nodes, 0, primary, epoch),
            Plan::Shelter { nodes, to } => return self.repoint(nodes, 0, to, epoch),
            Plan::Detach { nodes, .. } => return self.detach(nodes, 0, epoch),
            Plan::Switchover { ref from, ref to } => {
                let (primary, target) = (self.addr(from)?, self.addr(to)?);
                let timeout_ms = self.ctx.config.settings.failover_timeout_ms;
                self.emit(Output::Switchover {
                    primary,
                    target,
                    timeout_ms,
                    epoch: fenced,
                });
                State::SwitchingOver { plan }
            }
        })
    }

    /// Redis accepted `FAILOVER TO`: the handover is in flight until the
    /// target reports primary or the deadline passes; the record names the
    /// target at once.
    fn switched_over(&mut self, plan: Plan, epoch: Epoch) -> Moved {
        self.ctx.switchover = None;
        let Plan::Switchover { from, to } = plan else {
            return Err(Impossible::WrongPlan);
        };
        let deadline = self.ctx.now + self.ctx.config.settings.failover_timeout_ms;
        // (the switchover was decided on the old primary's answer, and no
        // poll came since)
        let run_id = self
            .ctx
            .views
            .get(&from)
            .and_then(|v| v.status.as_ref())
            .map(|s| s.run_id.clone())
            .ok_or(Impossible::Unseen)?;
        self.ctx.handover = Some((from, to.clone(), deadline, run_id));
        self.publish(Plan::Adopt { primary: to }, epoch)
    }

    /// Repoints `nodes` (reachable ones) to `to`, or goes idle.
    fn repoint(&mut self, nodes: Vec<String>, from: usize, to: String, epoch: Epoch) -> Moved {
        let primary = self.addr(&to)?;
        let mut next = None;
        for (i, node) in nodes.iter().enumerate().skip(from) {
            let reachable = self.ctx.views.get(node).is_some_and(NodeView::reachable);
            if reachable && self.addr(node)? != primary {
                next = Some(i);
                break;
            }
        }
        Ok(match next {
            Some(i) => {
                let addr = self.addr(&nodes[i])?;
                let epoch = self.fence(epoch);
                self.emit(Output::Repoint { addr, primary, epoch });
                State::Repointing { nodes, next: i, to }
            }
            None => self.idle_soon_if_urgent(self.idle_state()),
        })
    }

    /// Detaches the reachable nodes of `nodes` from index `from` on, one
    /// `REPLICAOF NO ONE` at a time, under the fence.
    fn detach(&mut self, nodes: Vec<String>, from: usize, epoch: Epoch) -> Moved {
        let next = (from..nodes.len()).find(|&i| self.ctx.views.get(&nodes[i]).is_some_and(NodeView::reachable));
        Ok(match next {
            Some(i) => {
                let addr = self.addr(&nodes[i])?;
                let epoch = self.fence(epoch);
                self.emit(Output::Promote { addr, epoch });
                State::Detaching { nodes, next: i }
            }
            None => self.idle_soon_if_urgent(self.idle_state()),
        })
    }
}
