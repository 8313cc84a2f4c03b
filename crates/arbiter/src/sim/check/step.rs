//! What the checker asks after each instance step: the machine's
//! discipline (S9), its epochs (S2), an operator's switchover settled in
//! time (L4), and a failover decided after down-after (L3) for the
//! candidate S5 accepts; and what the step tried, for S7.

use rehearse::Failure;

use super::candidate::check_candidate;
use super::{Attempt, Checker, SWITCHOVER_BOUND_MS, fail};
use crate::machine::{Machine, Output, Plan, State};
use crate::types::{Epoch, Millis};

/// The epoch an output acts under, if it acts.
fn acting_epoch(o: &Output) -> Option<Epoch> {
    match o {
        Output::Publish { epoch, .. }
        | Output::Promote { epoch, .. }
        | Output::Repoint { epoch, .. }
        | Output::Switchover { epoch, .. } => Some(Epoch(epoch.get().abs())),
        _ => None,
    }
}

impl Checker {
    /// After instance `i` took a step that issued `output` (S2, S9).
    pub fn after_step(
        &mut self,
        i: usize,
        machine: &Machine,
        output: Option<&Output>,
        now: Millis,
    ) -> Result<(), Failure> {
        self.machine_discipline(i, machine, now)?;
        self.switchover_settled(i, machine, now)?;
        self.failover_decision(i, machine, now)?;
        match output {
            Some(Output::Publish { record, .. }) => self.attempts.push(Attempt {
                at: now,
                node: None,
                to: record.primary.clone(),
            }),
            Some(Output::Repoint { addr, primary, .. }) => self.attempts.push(Attempt {
                at: now,
                node: Some(addr.clone()),
                to: primary.clone(),
            }),
            // A promotion (or a detach) moves the node off its source.
            Some(Output::Promote { addr, .. }) => self.attempts.push(Attempt {
                at: now,
                node: Some(addr.clone()),
                to: String::new(),
            }),
            _ => {}
        }
        if let Some(epoch) = output.and_then(acting_epoch) {
            if epoch < self.epoch_acted[i] {
                return Err(fail(
                    "S2 monotonic epochs",
                    self.seed,
                    now,
                    format!(
                        "arbiter-{} acted under epoch {epoch} after {}",
                        i + 1,
                        self.epoch_acted[i]
                    ),
                ));
            }
            self.epoch_acted[i] = epoch;
        }
        Ok(())
    }

    /// S9: the machine never enters `Failure`; it refuses to start when,
    /// and only when, its configuration names a node that runs in
    /// cluster mode (and then never gets past its startup check).
    fn machine_discipline(&self, i: usize, machine: &Machine, now: Millis) -> Result<(), Failure> {
        let config = &machine.context().config;
        if matches!(machine.state(), State::Refused { .. })
            && config.nodes.iter().any(|n| self.cluster_mode.contains(&n.addr))
        {
            return Ok(());
        }
        if let State::Failure { state, input } = machine.state() {
            return Err(fail(
                "S9 machine discipline",
                self.seed,
                now,
                format!(
                    "arbiter-{} entered Failure: {} cannot take {input:?}",
                    i + 1,
                    state.name()
                ),
            ));
        }
        if let State::Refused { reason } = machine.state() {
            return Err(fail(
                "S9 machine discipline",
                self.seed,
                now,
                format!("arbiter-{} refused: {reason}", i + 1),
            ));
        }
        Ok(())
    }

    /// L4: a leader settles an operator's switchover (carried out, or
    /// given up) within its timeout.
    fn switchover_settled(&self, i: usize, machine: &Machine, now: Millis) -> Result<(), Failure> {
        let ctx = machine.context();
        if ctx.epoch.is_some() && ctx.switchover.is_some() {
            let s = &ctx.config.settings;
            let held = ctx.now.saturating_sub(ctx.switchover_at);
            if held > s.failover_timeout_ms + 2 * s.check_interval_ms + SWITCHOVER_BOUND_MS {
                return Err(fail(
                    "L4 operations terminate",
                    self.seed,
                    now,
                    format!(
                        "arbiter-{} has held the switchover to {:?} for {held} ms (timeout {} ms)",
                        i + 1,
                        ctx.switchover,
                        s.failover_timeout_ms
                    ),
                ));
            }
        }
        Ok(())
    }

    /// S5: a failover's candidate is the one an independent reading of
    /// the leader's own observations picks; L3: not before down-after (no
    /// flapping), unless the primary came back empty. A failover is
    /// decided in the one step that enters `Publishing`.
    fn failover_decision(&self, i: usize, machine: &Machine, now: Millis) -> Result<(), Failure> {
        let State::Publishing {
            plan: Plan::Failover { from, to },
        } = machine.state()
        else {
            return Ok(());
        };
        let ctx = machine.context();
        let view = ctx.views.get(from.as_str()).cloned().unwrap_or_default();
        let down_for = view.down_since.map(|t| ctx.now.saturating_sub(t));
        if !view.lost_data && down_for.is_some_and(|d| d < ctx.config.settings.down_after_ms) {
            return Err(fail(
                "L3 bounded detection",
                self.seed,
                now,
                format!(
                    "arbiter-{} fails over from {from} after {} ms of unreachability (down-after {} ms)",
                    i + 1,
                    down_for.unwrap_or(0),
                    ctx.config.settings.down_after_ms
                ),
            ));
        }
        if !ctx.config.settings.allow_data_loss {
            if let Err(why) = check_candidate(ctx, from, to, self.issue_22) {
                return Err(fail(
                    "S5 candidate eligibility",
                    self.seed,
                    now,
                    format!("arbiter-{} fails over from {from} to {to}: {why}", i + 1),
                ));
            }
        }
        Ok(())
    }
}

impl Checker {
    /// An instance's `machine` wrote the record for `plan` at `now`
    /// (whatever the answer): a record write that starts moving replicas
    /// off a node that lost data (a detach, or a shelter) is an attempt on
    /// each of them, as their command would be (S7). Injected faults may
    /// defeat the write, and with it every command (seeds 155468, 91308:
    /// the detach of a last copy of priority 0, decided 40 ms after the
    /// loss was seen, whose writes timed out until the copy resynced).
    pub fn record_written_for(&mut self, machine: &Machine, plan: &Plan, now: Millis) {
        let (nodes, to) = match plan {
            Plan::Detach { nodes, .. } => (nodes.as_slice(), ""),
            Plan::Shelter { nodes, to } => (nodes.as_slice(), to.as_str()),
            _ => return,
        };
        let config = &machine.context().config;
        for node in nodes.iter().filter_map(|n| config.node(n)) {
            self.attempts.push(Attempt {
                at: now,
                node: Some(node.addr.clone()),
                to: to.to_string(),
            });
        }
    }
}
