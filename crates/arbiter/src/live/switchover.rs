//! Operators' switchover requests: who may be switched to
//! ([`refuse_switchover`]) and the answer written back for the operator
//! ([`SwitchoverAnswer`], under `PREFIX/switchover-status`, see
//! [`super::keys`]).

use crate::types::GroupConfig;

/// What became of a switchover request, as written to
/// `PREFIX/switchover-status` for the operator who made it, e.g.
/// `{"target":"r9","outcome":"refused","reason":"unknown node r9 (nodes: r1, r2, r3)"}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SwitchoverAnswer {
    /// The node the request named (as written).
    pub target: String,
    /// Where the request stands.
    pub outcome: SwitchoverOutcome,
    /// Why, for `refused` and `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The stages of a switchover request's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SwitchoverOutcome {
    /// Not taken: it names no configured node, an address, a node that is
    /// never promoted, or the current primary. Final.
    Refused,
    /// Taken by the leader: it is carried out when the target is a linked
    /// replica of the primary, within `failover_timeout_ms`.
    Accepted,
    /// The target is primary. Final.
    Done,
    /// Given up (not started in time, `FAILOVER TO` refused, or Redis did
    /// not hand over). Final.
    Failed,
}

impl SwitchoverAnswer {
    /// An answer without a reason.
    pub fn new(target: &str, outcome: SwitchoverOutcome) -> Self {
        Self {
            target: target.to_string(),
            outcome,
            reason: None,
        }
    }

    /// An answer with a reason.
    pub fn because(target: &str, outcome: SwitchoverOutcome, reason: impl Into<String>) -> Self {
        Self {
            reason: Some(reason.into()),
            ..Self::new(target, outcome)
        }
    }
}

/// Why a switchover to `target` cannot be carried out, judged from the
/// configuration and the recorded primary (`None` when unknown); `Ok` when
/// it may be.
pub fn refuse_switchover(config: &GroupConfig, primary: Option<&str>, target: &str) -> Result<(), String> {
    let names = config
        .nodes
        .iter()
        .map(|n| n.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let Some(node) = config.node(target) else {
        if target.is_empty() {
            return Err(format!("the request names no node (nodes: {names})"));
        }
        if let Some(n) = config.nodes.iter().find(|n| n.addr == target) {
            return Err(format!(
                "`{target}` is an address: name the node ({} is {target}; nodes: {names})",
                n.name
            ));
        }
        if target.contains(':') {
            return Err(format!("`{target}` is an address, not a node name (nodes: {names})"));
        }
        return Err(format!("unknown node {target} (nodes: {names})"));
    };
    if node.priority == 0 {
        return Err(format!("{target} has priority 0: it is never promoted"));
    }
    if primary == Some(target) {
        return Err(format!("{target} is already the primary"));
    }
    Ok(())
}
