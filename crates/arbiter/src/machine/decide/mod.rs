//! Pure decisions: given what the leader observed, what should it do next?
//! Nothing here changes state; `Machine::step` calls these and decides.

mod candidates;
mod choose;
mod data_loss;
mod plan;
mod shelter;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use candidates::{eligibility, primary_down_for, select_candidate};
pub use data_loss::{LossMarks, note_data_loss};
pub use plan::{Blocked, Plan};

use choose::decide_plan;

pub use crate::machine::NodeView;
use crate::machine::Planted;
use crate::types::{GroupConfig, GroupRecord, Millis, Role};

/// The address of `name`, or `""` for a name not configured: on a cold
/// start the failed primary is `""` (there is none), and a recorded
/// primary an operator removed from the configuration has no address.
/// No node reports `""` as its primary, so a comparison with it matches
/// nothing: the node is treated as never seen, as its view is gone too.
fn addr_of<'a>(config: &'a GroupConfig, name: &str) -> &'a str {
    config.node(name).map_or("", |n| n.addr.as_str())
}

/// What the leader should do after polling every node, or why it cannot.
pub fn decide(
    config: &GroupConfig,
    views: &BTreeMap<String, NodeView>,
    record: Option<&GroupRecord>,
    switchover: Option<&str>,
    now: Millis,
    planted: &Planted,
) -> Result<Option<Plan>, Blocked> {
    let decision = decide_plan(config, views, record, switchover, now, planted);
    // A loss this leader found and the record does not carry yet is
    // recorded in a round where nothing else is (another plan keeping the
    // primary carries it, one changing it ends it); a recorded loss that
    // settled is cleared the same way.
    let Some(record) = record.filter(|_| !config.settings.paused) else {
        return decision;
    };
    let primary = record.primary.clone();
    let lost = views.get(&primary).is_some_and(|v| v.lost_data);
    match decision {
        Ok(None) | Err(_) if lost && !record.lost_data => Ok(Some(Plan::NoteLoss { primary })),
        Ok(None) | Err(_) if record.lost_data && !lost && loss_settled(config, views, &primary) => {
            Ok(Some(Plan::SettleLoss { primary }))
        }
        other => other,
    }
}

/// True when a loss on the recorded `primary` no longer endangers anything:
/// it answers as the primary, and every other node answers (no wrong
/// password, none out of reach) holding no more keys than it. What the
/// primary lost is then gone from every copy, and its data, including
/// what it took since, is the most there is; keeping the mark would treat
/// the best copy as lost (seed 99070: the primary, marked, took writes for
/// seconds after its replicas resynced from it, and a later leader
/// promoted a node holding 20 keys over its 168).
pub fn loss_settled(config: &GroupConfig, views: &BTreeMap<String, NodeView>, primary: &str) -> bool {
    let status = |name: &str| views.get(name).and_then(|v| v.status.as_ref());
    let Some(mine) = status(primary).filter(|s| s.role == Role::Primary).and_then(|s| s.keys) else {
        return false;
    };
    config
        .nodes
        .iter()
        .filter(|n| n.name != primary)
        .all(|n| status(&n.name).and_then(|s| s.keys).is_some_and(|k| k <= mine))
}
