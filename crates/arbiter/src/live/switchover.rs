//! Operators' switchover requests: who may be switched to
//! ([`refuse_switchover`]), the node `arbiter switchover` picks when none
//! is named ([`pick_target`]), and the answer written back for the
//! operator ([`SwitchoverAnswer`], under `PREFIX/switchover-status`, see
//! [`super::keys`]).

use crate::types::{GroupConfig, NodeStatus, RedisError, Role};

/// What became of a switchover request, as written to
/// `PREFIX/switchover-status` for the operator who made it, e.g.
/// `{"target":"r9","outcome":"refused","reason":"unknown node r9 (nodes: r1, r2, r3)","request":57}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SwitchoverAnswer {
    /// The node the request named (as written).
    pub target: String,
    /// Where the request stands.
    pub outcome: SwitchoverOutcome,
    /// Why, for `refused` and `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The etcd mod revision the request had in `PREFIX/switchover` (the
    /// revision `arbiter switchover`'s write got), so that whoever wrote
    /// it can tell the answer to its own request from an earlier one.
    /// `None` in answers written before it was added, and when the leader
    /// answering did not take the request itself (it took over meanwhile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<i64>,
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
            request: None,
        }
    }

    /// An answer with a reason.
    pub fn because(target: &str, outcome: SwitchoverOutcome, reason: impl Into<String>) -> Self {
        Self {
            reason: Some(reason.into()),
            ..Self::new(target, outcome)
        }
    }

    /// The same answer, to the request at etcd mod revision `request`.
    pub fn to_request(self, request: Option<i64>) -> Self {
        Self { request, ..self }
    }
}

/// The node [`pick_target`] chose, and why, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    /// The node's name.
    pub node: String,
    /// Why it, e.g. `r2 is a replica of r1 with its link up, with the
    /// lowest priority (10)`.
    pub why: String,
}

/// The best target for a switchover away from the recorded `primary`,
/// judged from every node's answer in `nodes` (name, poll), in the
/// configuration's order: a replica of the primary with its link up and a
/// priority above 0, the lowest priority first, then the highest offset,
/// then the name. When there is none, why not, node by node.
pub fn pick_target(
    config: &GroupConfig,
    primary: &str,
    nodes: &[(String, Result<NodeStatus, RedisError>)],
) -> Result<Pick, String> {
    let primary_addr = config.node(primary).map(|n| n.addr.as_str());
    let mut fit = Vec::new();
    let mut unfit = Vec::new();
    for (name, answer) in nodes {
        let Some(node) = config.node(name).filter(|_| name != primary) else {
            continue;
        };
        let why_not = match answer {
            _ if node.priority == 0 => Some("has priority 0".to_string()),
            Err(e) => Some(format!("does not answer ({e})")),
            Ok(s) => match &s.role {
                Role::Primary => Some("claims primary".to_string()),
                Role::Replica { primary: of, .. } if Some(of.as_str()) != primary_addr => {
                    Some(format!("follows {of}, not {primary}"))
                }
                Role::Replica { link_up: false, .. } => Some(format!("has its link to {primary} down")),
                Role::Replica { .. } => None,
            },
        };
        match (why_not, answer) {
            (None, Ok(s)) => fit.push((node.priority, s.offset, name.as_str())),
            (Some(why), _) => unfit.push(format!("{name} {why}")),
            (None, Err(_)) => {}
        }
    }
    fit.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(b.2)));
    let Some(&(priority, offset, name)) = fit.first() else {
        let why = if unfit.is_empty() {
            "no other node is configured".to_string()
        } else {
            unfit.join(", ")
        };
        return Err(format!("no node can take over from {primary}: {why}"));
    };
    let mut why = format!("{name} is a replica of {primary} with its link up");
    let peers: Vec<_> = fit.iter().filter(|(p, ..)| *p == priority).collect();
    match peers.get(1) {
        _ if fit.len() == 1 => why.push_str(&format!(" (priority {priority}, offset {offset}), the only one")),
        None => why.push_str(&format!(", with the lowest priority ({priority}; offset {offset})")),
        Some((_, next, other)) if *next == offset => why.push_str(&format!(
            ", with the lowest priority ({priority}) and the highest offset ({offset}), tied with {other}: first by name"
        )),
        Some((_, next, other)) => why.push_str(&format!(
            ", with the lowest priority ({priority}) and the highest offset among those ({offset}; {other} has {next})"
        )),
    }
    if !unfit.is_empty() {
        why.push_str(&format!("; not chosen: {}", unfit.join(", ")));
    }
    Ok(Pick {
        node: name.to_string(),
        why,
    })
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
        let stamped = done.to_request(Some(57));
        let json = serde_json::to_string(&stamped).unwrap();
        assert_eq!(json, r#"{"target":"r2","outcome":"done","request":57}"#);
        assert_eq!(serde_json::from_str::<SwitchoverAnswer>(&json).unwrap(), stamped);
        // Answers written before `request` existed still read.
        let old: SwitchoverAnswer = serde_json::from_str(r#"{"target":"r2","outcome":"accepted"}"#).unwrap();
        assert_eq!(old.request, None);
    }

    fn status(role: Role, offset: u64) -> NodeStatus {
        NodeStatus {
            role,
            run_id: "run".into(),
            replid: "replid".into(),
            replid2: None,
            offset,
            keys: None,
            uptime_s: None,
        }
    }

    fn replica(of: &str, link_up: bool, offset: u64) -> Result<NodeStatus, RedisError> {
        let role = Role::Replica {
            primary: of.into(),
            link_up,
            link_down_ms: None,
        };
        Ok(status(role, offset))
    }

    #[test]
    fn the_picked_target_is_a_linked_replica_by_priority_then_offset() {
        let mut g = group();
        g.nodes.push(RedisNode {
            name: "r4".into(),
            addr: "10.0.0.1:6382".into(),
            priority: 100,
        });
        let r1 = "10.0.0.1:6379";
        let answers = |r2: Result<NodeStatus, RedisError>, r4: Result<NodeStatus, RedisError>| {
            vec![
                ("r1".to_string(), Ok(status(Role::Primary, 900))),
                ("r2".to_string(), r2),
                ("r3".to_string(), replica(r1, true, 900)),
                ("r4".to_string(), r4),
            ]
        };
        // Same priority: the highest offset; r3 (priority 0) never.
        let p = pick_target(&g, "r1", &answers(replica(r1, true, 500), replica(r1, true, 700))).unwrap();
        assert_eq!(p.node, "r4");
        assert_eq!(
            p.why,
            "r4 is a replica of r1 with its link up, with the lowest priority (100) and the highest offset among those (700; r2 has 500); not chosen: r3 has priority 0"
        );
        let p = pick_target(&g, "r1", &answers(replica(r1, true, 700), replica(r1, true, 700))).unwrap();
        assert_eq!(p.node, "r2");
        assert!(
            p.why.contains("the highest offset (700), tied with r4: first by name"),
            "{}",
            p.why
        );
        // A lower priority wins over a higher offset.
        g.nodes[1].priority = 10;
        let p = pick_target(&g, "r1", &answers(replica(r1, true, 500), replica(r1, true, 700))).unwrap();
        assert_eq!(p.node, "r2");
        assert!(p.why.contains("with the lowest priority (10; offset 500)"), "{}", p.why);
        // Unlinked, following another node, not answering: not picked.
        let p = pick_target(&g, "r1", &answers(replica(r1, false, 900), replica(r1, true, 10))).unwrap();
        assert_eq!(p.node, "r4");
        assert!(p.why.contains("the only one"), "{}", p.why);
        assert!(p.why.contains("r2 has its link to r1 down"), "{}", p.why);
        let none = pick_target(
            &g,
            "r1",
            &answers(
                replica("10.9.9.9:1", true, 900),
                Err(RedisError::Unreachable("refused".into())),
            ),
        )
        .unwrap_err();
        assert_eq!(
            none,
            "no node can take over from r1: r2 follows 10.9.9.9:1, not r1, r3 has priority 0, r4 does not answer (unreachable: refused)"
        );
    }
}
