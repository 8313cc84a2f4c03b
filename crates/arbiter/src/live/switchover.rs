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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{RedisNode, Settings};

    fn group() -> GroupConfig {
        let node = |name: &str, port: u16, priority: u32| RedisNode {
            name: name.into(),
            addr: format!("10.0.0.1:{port}"),
            priority,
        };
        GroupConfig {
            nodes: vec![node("r1", 6379, 100), node("r2", 6380, 100), node("r3", 6381, 0)],
            settings: Settings::default(),
        }
    }

    #[test]
    fn a_switchover_that_cannot_be_carried_out_is_refused_with_the_reason() {
        let g = group();
        let refused = |target: &str| refuse_switchover(&g, Some("r1"), target).unwrap_err();
        assert_eq!(refused("r9"), "unknown node r9 (nodes: r1, r2, r3)");
        assert_eq!(
            refused("10.0.0.1:6380"),
            "`10.0.0.1:6380` is an address: name the node (r2 is 10.0.0.1:6380; nodes: r1, r2, r3)"
        );
        assert!(refused("10.9.9.9:1").contains("is an address, not a node name"));
        assert_eq!(refused("r1"), "r1 is already the primary");
        assert_eq!(refused("r3"), "r3 has priority 0: it is never promoted");
        assert!(refused("").contains("names no node"));
        assert_eq!(refuse_switchover(&g, Some("r1"), "r2"), Ok(()));
        assert_eq!(
            refuse_switchover(&g, None, "r1"),
            Ok(()),
            "no record: left to the machine"
        );
    }

    #[test]
    fn an_answer_is_the_json_operators_read() {
        let a = SwitchoverAnswer::because("r9", SwitchoverOutcome::Refused, "unknown node r9");
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            r#"{"target":"r9","outcome":"refused","reason":"unknown node r9"}"#
        );
        let done = SwitchoverAnswer::new("r2", SwitchoverOutcome::Done);
        assert_eq!(
            serde_json::to_string(&done).unwrap(),
            r#"{"target":"r2","outcome":"done"}"#
        );
    }
}
