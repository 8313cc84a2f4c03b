//! Pure decisions: given what the leader observed, what should it do next?
//! Nothing here changes state; `Machine::step` calls these and decides.

use std::collections::{BTreeMap, BTreeSet};

use crate::types::{Bug, GroupConfig, GroupRecord, Millis, NodeStatus, RedisError, Role};

/// What the leader knows about one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeView {
    /// The latest status, when the latest poll succeeded.
    pub status: Option<NodeStatus>,
    /// The last successful status before that (to notice restarts).
    pub previous: Option<NodeStatus>,
    /// When the node first failed to answer in the current outage.
    pub down_since: Option<Millis>,
    /// The latest poll's error.
    pub error: Option<RedisError>,
    /// The node restarted and lost data while primary; kept until it is a
    /// replica again, so one failed attempt to act does not lose the
    /// evidence (S7).
    pub lost_data: bool,
    /// When the data loss was first noticed.
    pub lost_data_at: Millis,
}

impl NodeView {
    /// Records a poll result at `now`.
    pub fn observe(&mut self, now: Millis, result: Result<NodeStatus, RedisError>) {
        match result {
            Ok(status) => {
                if let Some(old) = self.status.take() {
                    self.previous = Some(old);
                }
                self.status = Some(status);
                self.down_since = None;
                self.error = None;
            }
            Err(e) => {
                if let Some(old) = self.status.take() {
                    self.previous = Some(old);
                }
                self.down_since.get_or_insert(now);
                self.error = Some(e);
            }
        }
    }

    /// Unanswered for longer than `limit` at `now`.
    pub fn unseen_longer_than(&self, now: Millis, limit: Millis) -> bool {
        self.down_since.is_some_and(|since| now.saturating_sub(since) > limit)
    }

    /// Reachable in the latest poll.
    pub fn reachable(&self) -> bool {
        self.status.is_some()
    }

    /// The node restarted and lost data: a new run id and a smaller offset
    /// than the status before (S7).
    pub fn restarted_empty(&self) -> bool {
        match (&self.status, &self.previous) {
            (Some(now), Some(before)) => now.run_id != before.run_id && now.offset < before.offset,
            _ => false,
        }
    }

    /// The node restarted since the status before (a new run id).
    pub fn restarted(&self) -> bool {
        match (&self.status, &self.previous) {
            (Some(now), Some(before)) => now.run_id != before.run_id,
            _ => false,
        }
    }
}

/// An action the leader takes; every one starts with a guarded write of the
/// group record, which is also the leadership re-check before acting.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Plan {
    /// No record yet: record the node that reports itself primary.
    Bootstrap {
        /// The primary found.
        primary: String,
    },
    /// Reality moved on (a switchover completed without us): record it.
    Adopt {
        /// The node that is primary now.
        primary: String,
    },
    /// The primary failed: record and promote `to`, repoint the rest.
    Failover {
        /// The failed primary (empty on a cold start with no primary).
        from: String,
        /// The replica to promote.
        to: String,
    },
    /// The record names a primary that is still a replica: promote it.
    Promote {
        /// The node to promote.
        node: String,
    },
    /// Nodes that do not follow the primary: repoint them.
    Repoint {
        /// The nodes to repoint, in name order.
        nodes: Vec<String>,
    },
    /// The recorded primary lost its data and no replica may be promoted
    /// (S5): point its replicas at `to`, the node known to hold the most
    /// data, so that they keep theirs instead of resyncing from the empty
    /// node (S7). The record does not change.
    Shelter {
        /// The replicas of the empty primary, in name order.
        nodes: Vec<String>,
        /// The node holding the most data.
        to: String,
    },
    /// Planned switchover with `FAILOVER TO` on the current primary.
    Switchover {
        /// The current primary.
        from: String,
        /// The replica to hand over to.
        to: String,
    },
}

impl Plan {
    /// The record to publish before acting.
    pub fn record(&self, epoch: i64, current: Option<&GroupRecord>) -> GroupRecord {
        let primary = match self {
            Self::Bootstrap { primary } | Self::Adopt { primary } => primary.clone(),
            Self::Failover { to, .. } => to.clone(),
            Self::Promote { node } => node.clone(),
            // The record changes only after FAILOVER TO succeeded.
            Self::Switchover { from, .. } => from.clone(),
            Self::Repoint { .. } | Self::Shelter { .. } => current.map(|r| r.primary.clone()).unwrap_or_default(),
        };
        GroupRecord { epoch, primary }
    }
}

/// Why the leader did nothing although something is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocked {
    /// The primary is down and no replica is eligible (S5); set
    /// `allow_data_loss` to promote the best reachable one anyway.
    NoEligibleReplica {
        /// The failed primary.
        primary: String,
    },
    /// No record and no node (or several) claims to be primary.
    ColdStart,
}

fn addr_of<'a>(config: &'a GroupConfig, name: &str) -> &'a str {
    config.node(name).map_or("", |n| n.addr.as_str())
}

/// The replica to promote instead of `failed` (S5): reachable, priority
/// not 0, link not down longer than `stale_after_ms`, lag within
/// `max_lag_bytes` of the best offset that still exists (not on a node
/// that lost its data, nor seen longer ago than `stale_after_ms`); first by (priority, highest
/// offset, run id). With `allow_data_loss`, the best reachable replica
/// with priority not 0 when none is eligible.
pub fn select_candidate(
    config: &GroupConfig,
    views: &BTreeMap<String, NodeView>,
    failed: &str,
    now: Millis,
) -> Option<String> {
    select_candidate_with(config, views, failed, now, false)
}

fn select_candidate_with(
    config: &GroupConfig,
    views: &BTreeMap<String, NodeView>,
    failed: &str,
    now: Millis,
    most_lagging: bool,
) -> Option<String> {
    let s = &config.settings;
    // Lag is measured against the most data that still exists: what a
    // node held before it lost its data is gone, and what a node unseen
    // for longer than the staleness limit held is too old to count (it may
    // be another, older history).
    let reference = views
        .values()
        .filter(|v| !v.lost_data && !v.unseen_longer_than(now, s.stale_after_ms))
        .flat_map(|v| v.status.iter().chain(v.previous.iter()))
        .map(|st| st.offset)
        .max()
        .unwrap_or(0);
    let mut replicas: Vec<(u32, u64, &str, &str, bool)> = Vec::new();
    for node in &config.nodes {
        if node.name == failed || node.priority == 0 {
            continue;
        }
        let Some(status) = views.get(&node.name).and_then(|v| v.status.as_ref()) else {
            continue;
        };
        let Role::Replica {
            link_up, link_down_ms, ..
        } = &status.role
        else {
            continue;
        };
        let fresh = *link_up || link_down_ms.is_some_and(|d| d <= s.stale_after_ms);
        let close = reference.saturating_sub(status.offset) <= s.max_lag_bytes;
        replicas.push((node.priority, status.offset, &status.run_id, &node.name, fresh && close));
    }
    let best = |eligible_only: bool| {
        replicas
            .iter()
            .filter(|r| r.4 || !eligible_only)
            .min_by(|a, b| {
                if most_lagging {
                    // Planted bug: the replica furthest behind wins.
                    (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2))
                } else {
                    (a.0, std::cmp::Reverse(a.1), a.2).cmp(&(b.0, std::cmp::Reverse(b.1), b.2))
                }
            })
            .map(|r| r.3.to_string())
    };
    best(true).or_else(|| if s.allow_data_loss { best(false) } else { None })
}

/// What the leader should do after polling every node, or why it cannot.
pub fn decide(
    config: &GroupConfig,
    views: &BTreeMap<String, NodeView>,
    record: Option<&GroupRecord>,
    switchover: Option<&str>,
    now: Millis,
    bugs: &BTreeSet<Bug>,
) -> Result<Option<Plan>, Blocked> {
    let settings = &config.settings;
    let select =
        |failed: &str| select_candidate_with(config, views, failed, now, bugs.contains(&Bug::PromoteMostLagging));
    let status = |name: &str| views.get(name).and_then(|v| v.status.as_ref());
    let claims_primary = |name: &str| matches!(status(name).map(|s| &s.role), Some(Role::Primary));
    let Some(record) = record else {
        // Cold start: record the one node that claims to be primary.
        let primaries: Vec<&str> = config
            .nodes
            .iter()
            .map(|n| n.name.as_str())
            .filter(|n| claims_primary(n))
            .collect();
        return match primaries.as_slice() {
            [one] => Ok(Some(Plan::Bootstrap {
                primary: (*one).to_string(),
            })),
            _ if settings.allow_data_loss => match select("") {
                Some(to) => Ok(Some(Plan::Failover {
                    from: String::new(),
                    to,
                })),
                None => Err(Blocked::ColdStart),
            },
            _ => Err(Blocked::ColdStart),
        };
    };
    if settings.paused {
        return Ok(None);
    }
    let primary = record.primary.as_str();
    let primary_view = views.get(primary).cloned().unwrap_or_default();
    let primary_addr = addr_of(config, primary);

    // The primary failed: down longer than down-after, or back empty (S7).
    let debounce = if bugs.contains(&Bug::NoDebounce) {
        0
    } else {
        settings.down_after_ms
    };
    let down = primary_view
        .down_since
        .is_some_and(|since| now.saturating_sub(since) >= debounce);
    let empty = primary_view.lost_data && claims_primary(primary) && !bugs.contains(&Bug::ResyncFromEmpty);
    if down || empty {
        if let Some(to) = select(primary) {
            return Ok(Some(Plan::Failover {
                from: primary.to_string(),
                to,
            }));
        }
        if empty {
            if let Some(plan) = shelter(config, views, primary, now) {
                return Ok(Some(plan));
            }
        }
        return Err(Blocked::NoEligibleReplica {
            primary: primary.to_string(),
        });
    }
    // The recorded primary is a replica: either someone else finished a
    // switchover (it follows a healthy primary: adopt that one), or our
    // promotion did not happen yet (promote it).
    if let Some(NodeStatus {
        role: Role::Replica { primary: follows, .. },
        ..
    }) = status(primary)
    {
        let leader_of = config.nodes.iter().find(|n| &n.addr == follows).map(|n| n.name.clone());
        // Adopt only a primary at least as far along that kept its data (a
        // finished switchover), never the node a failed promotion left
        // behind (S6).
        let offset = |name: &str| status(name).map_or(0, |s| s.offset);
        let sound = |other: &str| {
            claims_primary(other) && !views.get(other).is_some_and(|v| v.lost_data) && offset(other) >= offset(primary)
        };
        return Ok(Some(match leader_of {
            Some(other) if sound(&other) => Plan::Adopt { primary: other },
            _ => Plan::Promote {
                node: primary.to_string(),
            },
        }));
    }
    // Everyone else follows the primary (a returning old primary is
    // demoted here, S6), also while the primary is only suspected: a
    // replica left on a node that came back empty would otherwise resync
    // from it (S7); pointed at the recorded primary it keeps its data.
    let astray: Vec<String> = config
        .nodes
        .iter()
        .filter(|n| n.name != primary)
        .filter(|n| match status(&n.name).map(|s| &s.role) {
            Some(Role::Primary) => !bugs.contains(&Bug::ForgetOldPrimary),
            Some(Role::Replica { primary: p, .. }) => p != primary_addr,
            None => false,
        })
        .map(|n| n.name.clone())
        .collect();
    if !astray.is_empty() {
        return Ok(Some(Plan::Repoint { nodes: astray }));
    }
    if !primary_view.reachable() {
        return Ok(None); // suspected, not yet down: wait (no flapping)
    }
    if let Some(target) = switchover {
        let ok = matches!(
            status(target).map(|s| &s.role),
            Some(Role::Replica { primary: p, link_up: true, .. }) if p == primary_addr
        );
        if ok && config.node(target).is_some_and(|n| n.priority != 0) {
            return Ok(Some(Plan::Switchover {
                from: primary.to_string(),
                to: target.to_string(),
            }));
        }
    }
    Ok(None)
}

/// The shelter for the replicas of `primary`, which lost its data: the
/// replica known to hold the most data, and the
/// reachable replicas following `primary` that are to follow it instead.
fn shelter(config: &GroupConfig, views: &BTreeMap<String, NodeView>, primary: &str, now: Millis) -> Option<Plan> {
    let stale_after = config.settings.stale_after_ms;
    let to = config
        .nodes
        .iter()
        .filter(|n| n.name != primary)
        .filter_map(|n| {
            let v = views.get(&n.name)?;
            if v.lost_data || v.unseen_longer_than(now, stale_after) {
                return None;
            }
            // A node claiming primary against the record is no shelter (S6).
            let last = v.status.as_ref().or(v.previous.as_ref())?;
            if !matches!(last.role, Role::Replica { .. }) {
                return None;
            }
            Some((last.offset, std::cmp::Reverse(n.name.as_str())))
        })
        .max()?
        .1
        .0;
    let primary_addr = addr_of(config, primary);
    let nodes: Vec<String> = config
        .nodes
        .iter()
        .filter(|n| n.name != primary && n.name != to)
        .filter(|n| {
            matches!(views.get(&n.name).and_then(|v| v.status.as_ref()).map(|s| &s.role),
                Some(Role::Replica { primary: p, .. }) if p == primary_addr)
        })
        .map(|n| n.name.clone())
        .collect();
    (!nodes.is_empty()).then(|| Plan::Shelter {
        nodes,
        to: to.to_string(),
    })
}

/// Marks the recorded primary as having lost data when it restarted with a
/// smaller offset, or restarted while a replica of it holds more than it
/// does (the drop happened between two polls); clears the mark once a node
/// is a replica. Called after every poll round, before [`decide`].
pub fn note_data_loss(
    config: &GroupConfig,
    views: &mut BTreeMap<String, NodeView>,
    record: Option<&GroupRecord>,
    now: Millis,
) {
    for view in views.values_mut() {
        if matches!(view.status.as_ref().map(|s| &s.role), Some(Role::Replica { .. })) {
            view.lost_data = false;
        }
    }
    let Some(primary) = record.map(|r| r.primary.as_str()) else {
        return;
    };
    let Some(addr) = config.node(primary).map(|n| n.addr.as_str()) else {
        return;
    };
    let Some(view) = views.get(primary) else { return };
    let Some((offset, replid)) = view.status.as_ref().map(|s| (s.offset, s.replid.clone())) else {
        return;
    };
    let ahead = |other_history: bool| {
        views.values().any(|v| {
            matches!(v.status.as_ref().or(v.previous.as_ref()), Some(NodeStatus { role: Role::Replica { primary: p, .. }, offset: o, replid: r, .. })
                if p == addr && *o > offset && (!other_history || *r != replid))
        })
    };
    // A replica ahead of its primary on another replication history proves
    // the primary lost data, even to a leader that never saw it before. A
    // replica that does not answer now counts with its last answer: it was
    // that far along the old history, which the primary no longer has.
    if view.restarted_empty() || (view.restarted() && ahead(false)) || ahead(true) {
        let again = view.restarted();
        if let Some(v) = views.get_mut(primary) {
            // A new restart renews the mark: its replicas retry their
            // links from now on.
            if !v.lost_data || again {
                v.lost_data_at = now;
            }
            v.lost_data = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{RedisNode, Settings};

    fn config(priorities: &[u32]) -> GroupConfig {
        GroupConfig {
            nodes: priorities
                .iter()
                .enumerate()
                .map(|(i, p)| RedisNode {
                    name: format!("r{}", i + 1),
                    addr: format!("10.0.0.{}:6379", i + 1),
                    priority: *p,
                })
                .collect(),
            settings: Settings::default(),
        }
    }

    fn replica(offset: u64, run_id: &str, link_down_ms: Option<Millis>) -> NodeView {
        NodeView {
            status: Some(NodeStatus {
                role: Role::Replica {
                    primary: "10.0.0.1:6379".into(),
                    link_up: link_down_ms.is_none(),
                    link_down_ms,
                },
                run_id: run_id.into(),
                replid: "x".into(),
                offset,
                keys: None,
            }),
            ..NodeView::default()
        }
    }

    fn views(list: Vec<(&str, NodeView)>) -> BTreeMap<String, NodeView> {
        list.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    #[test]
    fn selection_prefers_priority_then_offset_then_run_id() {
        let c = config(&[100, 100, 100, 100]);
        let v = views(vec![
            ("r2", replica(50, "b", None)),
            ("r3", replica(90, "c", None)),
            ("r4", replica(90, "a", None)),
        ]);
        assert_eq!(select_candidate(&c, &v, "r1", 0).as_deref(), Some("r4"));
        let c = config(&[100, 10, 100, 100]);
        assert_eq!(select_candidate(&c, &v, "r1", 0).as_deref(), Some("r2"));
    }

    #[test]
    fn priority_zero_stale_and_lagging_replicas_are_not_eligible() {
        let mut c = config(&[100, 0, 100, 100]);
        c.settings.max_lag_bytes = 10;
        let v = views(vec![
            ("r2", replica(1000, "a", None)),         // priority 0
            ("r3", replica(1000, "b", Some(60_000))), // link down too long
            ("r4", replica(500, "c", None)),          // lags by 500
        ]);
        assert_eq!(select_candidate(&c, &v, "r1", 0), None);
        c.settings.allow_data_loss = true;
        assert_eq!(select_candidate(&c, &v, "r1", 0).as_deref(), Some("r3"));
    }

    #[test]
    fn replicas_of_an_empty_primary_with_no_eligible_candidate_are_sheltered() {
        // r1 (recorded) came back empty; r2 follows it holding 100, r3 is
        // out of reach but was last seen holding 300: r2 lags too far to be
        // promoted, so it is pointed at r3 instead of resyncing from r1.
        let mut c = config(&[100, 100, 100]);
        c.settings.max_lag_bytes = 50;
        let mut r1 = NodeView::default();
        r1.observe(
            9_000,
            Ok(NodeStatus {
                role: Role::Primary,
                run_id: "a".into(),
                replid: "x".into(),
                offset: 300,
                keys: None,
            }),
        );
        r1.observe(
            10_000,
            Ok(NodeStatus {
                role: Role::Primary,
                run_id: "a2".into(),
                replid: "y".into(),
                offset: 0,
                keys: None,
            }),
        );
        let mut r3 = replica(300, "c", None);
        r3.observe(9_900, Err(crate::types::RedisError::Timeout));
        let mut v = views(vec![("r1", r1), ("r2", replica(100, "b", Some(200))), ("r3", r3)]);
        let record = GroupRecord {
            epoch: 5,
            primary: "r1".into(),
        };
        note_data_loss(&c, &mut v, Some(&record), 10_000);
        assert!(v["r1"].lost_data);
        let plan = decide(&c, &v, Some(&record), None, 10_000, &BTreeSet::new());
        assert_eq!(
            plan,
            Ok(Some(Plan::Shelter {
                nodes: vec!["r2".into()],
                to: "r3".into()
            }))
        );
        // Once r2 follows r3 there is nothing left to shelter: blocked.
        if let Some(NodeStatus {
            role: Role::Replica { primary, .. },
            ..
        }) = v.get_mut("r2").and_then(|x| x.status.as_mut())
        {
            *primary = "10.0.0.3:6379".into();
        }
        let plan = decide(&c, &v, Some(&record), None, 10_000, &BTreeSet::new());
        assert_eq!(plan, Err(Blocked::NoEligibleReplica { primary: "r1".into() }));
    }

    #[test]
    fn a_recorded_primary_left_a_replica_is_promoted_not_its_empty_old_primary_adopted() {
        // The record names r2 (a failover whose promotion failed); r2 still
        // follows r1, which came back empty: promote r2, never adopt r1.
        let c = config(&[100, 100, 100]);
        let r1 = NodeView {
            status: Some(NodeStatus {
                role: Role::Primary,
                run_id: "a2".into(),
                replid: "y".into(),
                offset: 0,
                keys: None,
            }),
            lost_data: true,
            ..NodeView::default()
        };
        let v = views(vec![
            ("r1", r1),
            ("r2", replica(500, "b", Some(300))),
            ("r3", replica(500, "c", None)),
        ]);
        let record = GroupRecord {
            epoch: 5,
            primary: "r2".into(),
        };
        let plan = decide(&c, &v, Some(&record), None, 10_000, &BTreeSet::new());
        assert_eq!(plan, Ok(Some(Plan::Promote { node: "r2".into() })));
    }

    #[test]
    fn replicas_astray_are_repointed_even_while_the_primary_is_only_suspected() {
        // The record names r1 (unreachable for 1 s of the 3 s down-after);
        // r2 still follows r3, a node that came back claiming primary.
        let c = config(&[100, 100, 100]);
        let mut r1 = NodeView::default();
        r1.observe(9_000, Err(crate::types::RedisError::Timeout));
        let mut r2 = replica(100, "b", Some(500));
        if let Some(NodeStatus {
            role: Role::Replica { primary, .. },
            ..
        }) = r2.status.as_mut()
        {
            *primary = "10.0.0.3:6379".into();
        }
        let r3 = NodeView {
            status: Some(NodeStatus {
                role: Role::Primary,
                run_id: "c2".into(),
                replid: "y".into(),
                offset: 0,
                keys: None,
            }),
            ..NodeView::default()
        };
        let v = views(vec![("r1", r1), ("r2", r2), ("r3", r3)]);
        let record = GroupRecord {
            epoch: 5,
            primary: "r1".into(),
        };
        let plan = decide(&c, &v, Some(&record), None, 10_000, &BTreeSet::new());
        assert_eq!(
            plan,
            Ok(Some(Plan::Repoint {
                nodes: vec!["r2".into(), "r3".into()]
            }))
        );
    }
}
