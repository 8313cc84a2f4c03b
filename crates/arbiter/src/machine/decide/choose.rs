//! The plan for one round: what the leader should do after polling every
//! node, before the record's loss mark is considered ([`super::decide`]).
//! In order: a cold start (no record), a failed primary (down, or back
//! without its data), a recorded primary that is a replica, nodes astray
//! from the recorded primary, and a requested switchover.

use std::collections::BTreeMap;

use super::candidates::{data_exists, empty_held_back, follows_any, select_candidate_with};
use super::shelter::{Shelter, detachable, endangered, shelter, silent_lately};
use super::{Blocked, Plan, addr_of};
use crate::machine::{NodeView, Planted};
use crate::types::{GroupConfig, GroupRecord, Millis, NodeStatus, Role};

/// What a decision returns: a plan, nothing to do, or why the leader
/// cannot act.
type Decision = Result<Option<Plan>, Blocked>;

/// What the leader observed in the round, and the planted bugs it runs
/// with: what every step of the choice reads.
struct Round<'a> {
    config: &'a GroupConfig,
    views: &'a BTreeMap<String, NodeView>,
    now: Millis,
    planted: &'a Planted,
}

impl<'a> Round<'a> {
    /// The latest status of `name`, when its latest poll answered.
    fn status(&self, name: &str) -> Option<&'a NodeStatus> {
        self.views.get(name).and_then(|v| v.status.as_ref())
    }

    /// Whether `name` answered claiming primary.
    fn claims_primary(&self, name: &str) -> bool {
        matches!(self.status(name).map(|s| &s.role), Some(Role::Primary))
    }

    /// The replica to promote instead of `failed`, if any.
    fn select(&self, failed: &str) -> Option<String> {
        let most_lagging = planted!(self.planted, PromoteMostLagging);
        select_candidate_with(self.config, self.views, failed, self.now, most_lagging)
    }
}

/// The plan for the round (see the module doc).
pub(super) fn decide_plan(
    config: &GroupConfig,
    views: &BTreeMap<String, NodeView>,
    record: Option<&GroupRecord>,
    switchover: Option<&str>,
    now: Millis,
    planted: &Planted,
) -> Decision {
    let round = Round {
        config,
        views,
        now,
        planted,
    };
    let Some(record) = record else {
        return round.cold_start();
    };
    if config.settings.paused {
        return Ok(None);
    }
    let primary = record.primary.as_str();
    // (a node never polled: nothing known of it)
    let primary_view = views.get(primary).cloned().unwrap_or_default();
    if let Some(decision) = round.failed_primary(primary, &primary_view) {
        return decision;
    }
    if let Some(decision) = round.recorded_replica(primary) {
        return decision;
    }
    round.in_line(record, &primary_view, switchover)
}

impl Round<'_> {
    /// No record yet: record the one node that claims to be primary.
    fn cold_start(&self) -> Decision {
        let (config, settings) = (self.config, &self.config.settings);
        let primaries: Vec<&str> = config
            .nodes
            .iter()
            .map(|n| n.name.as_str())
            .filter(|n| self.claims_primary(n))
            .collect();
        // A claimant holding fewer keys than a node on another replication
        // history (a replica of a primary that died, say) restarted from an
        // older dataset: recording it would resync that node's data away.
        let ahead_of = |one: &str| {
            let mine = self.status(one)?;
            config
                .nodes
                .iter()
                .filter(|n| n.name != one)
                .find(|n| {
                    self.status(&n.name).is_some_and(|st| {
                        st.replid != mine.replid && st.keys.zip(mine.keys).is_some_and(|(theirs, k)| theirs > k)
                    })
                })
                .map(|n| n.name.clone())
        };
        // An empty claimant, likewise, while data exists or may exist
        // elsewhere (seed 78926: it restarted empty, one node refused the
        // password, another never answered).
        let empty_claimant = |one: &str| {
            self.status(one)
                .is_some_and(|st| st.keys == Some(0))
                .then(|| empty_held_back(config, self.views, "", self.now))
                .flatten()
        };
        // A claimant this instance saw hold more keys before a restart
        // reloaded an older dataset: its replicas took the rest from it,
        // and would resync it away once it is recorded, however long they
        // stay silent (seed 107954: r2 came back from an RDB with 20 of
        // its 120 keys while r1 was cut off and r3 down; recorded, it took
        // r1's 120 keys away once r1 answered).
        let reloaded_less = |one: &str| {
            let view = self.views.get(one)?;
            let holds = view.status.as_ref()?.keys?;
            view.reloaded_less.map(|held| (held, holds))
        };
        match primaries.as_slice() {
            [one] if settings.allow_data_loss => Ok(Some(Plan::Bootstrap {
                primary: (*one).to_string(),
            })),
            [one] => match (ahead_of(one), reloaded_less(one), empty_claimant(one)) {
                // Its replicas, on the older history, would resync it away
                // from the claimant any moment: the copy holding the most
                // becomes the primary, as after a recorded primary lost its
                // data (seed 36590: the primary restarted empty before any
                // record was written, and both replicas resynced from it a
                // second later while the leader waited for an operator).
                (Some(node), _, _) => match self.cold_shelter(one) {
                    Some(to) => Ok(Some(Plan::Failover {
                        from: (*one).to_string(),
                        to,
                    })),
                    None => Err(Blocked::ColdStartBehind {
                        primary: (*one).to_string(),
                        node,
                    }),
                },
                (None, Some((held, holds)), _) => Err(Blocked::ColdStartReloaded {
                    primary: (*one).to_string(),
                    held,
                    holds,
                }),
                (None, None, Some(reason)) => Err(Blocked::ColdStartEmpty {
                    primary: (*one).to_string(),
                    reason,
                }),
                (None, None, None) => Ok(Some(Plan::Bootstrap {
                    primary: (*one).to_string(),
                })),
            },
            _ if settings.allow_data_loss => match self.select("") {
                Some(to) => Ok(Some(Plan::Failover {
                    from: String::new(),
                    to,
                })),
                None => Err(Blocked::ColdStart),
            },
            _ => Err(Blocked::ColdStart),
        }
    }

    /// With no record yet, the node to promote instead of `claimant`,
    /// which holds less than a copy on another replication history that
    /// still follows it (and would resync from it): the copy holding the
    /// most keys (then the highest offset, then the first name) among the
    /// replicas of `claimant` on another history than its own, priority
    /// not 0. `None` unless every node answers: a silent one may hold more.
    fn cold_shelter(&self, claimant: &str) -> Option<String> {
        let mine = self.status(claimant)?;
        let addr = addr_of(self.config, claimant);
        let all_answer = self.config.nodes.iter().all(|n| self.status(&n.name).is_some());
        if !all_answer {
            return None;
        }
        self.config
            .nodes
            .iter()
            .filter(|n| n.name != claimant && n.priority != 0)
            .filter_map(|n| {
                let st = self.status(&n.name)?;
                let follows = matches!(&st.role, Role::Replica { primary, .. } if primary == addr);
                let more = st.keys.zip(mine.keys).is_some_and(|(k, m)| k > m);
                (follows && more && st.replid != mine.replid)
                    .then(|| (st.keys, st.offset, std::cmp::Reverse(n.name.clone())))
            })
            .max()
            .map(|best| best.2.0)
    }

    /// The decision when the recorded `primary` (seen as `view`) failed:
    /// down longer than down-after, or back empty (S7); `None` when it
    /// did not.
    fn failed_primary(&self, primary: &str, view: &NodeView) -> Option<Decision> {
        let (settings, now) = (&self.config.settings, self.now);
        let debounce = if planted!(self.planted, NoDebounce) {
            0
        } else {
            settings.down_after_ms
        };
        let down = view
            .down_since
            .is_some_and(|since| now.saturating_sub(since) >= debounce);
        // Also while a poll of it just failed: its replicas still resync from
        // it whenever they reach it (a missed poll hides nothing).
        let last_claims_primary = view
            .status
            .as_ref()
            .or(view.previous.as_ref())
            .is_some_and(|s| s.role == Role::Primary);
        // ... or, still a replica (its promotion not done yet), holding no
        // keys while a copy on another history holds some: promoting it would
        // resync that copy away (seed 35227).
        // An empty replica is not promoted either while another node holds
        // data or hides it behind a wrong password (S5, data).
        let empty_replica = view
            .status
            .as_ref()
            .is_some_and(|s| s.keys == Some(0) && matches!(s.role, Role::Replica { .. }));
        let data_elsewhere = empty_replica
            && (data_exists(self.views, primary, now, settings.stale_after_ms)
                || self.views.iter().any(|(n, v)| n != primary && v.refused_auth));
        let empty = ((view.lost_data && (last_claims_primary || empty_replica)) || data_elsewhere)
            && !planted!(self.planted, ResyncFromEmpty);
        (down || empty).then(|| self.replace(primary, view, empty))
    }

    /// The failed `primary` (seen as `view`; `empty`: it is back without
    /// its data) is replaced: by the best copy left when it lost its data
    /// and that copy holds more than the candidate, by the candidate, or
    /// by the shelter; or its endangered replicas are detached while the
    /// leader waits, blocked.
    fn replace(&self, primary: &str, view: &NodeView, empty: bool) -> Decision {
        let candidate = self.select(primary);
        // (also while the primary that lost its data is down: its best
        // copy left may still beat the candidate)
        let sheltered = if view.lost_data && !planted!(self.planted, ResyncFromEmpty) {
            shelter(self.config, self.views, primary, self.now)
        } else {
            None
        };
        // Offsets of different histories do not compare: when the primary
        // lost its data, a copy holding more keys than the replica the lag
        // rule picks (a node back from its AOF claiming primary, say) is
        // the data that is left; promoting the replica would resync it away.
        let keys = |name: &str| self.status(name).and_then(|s| s.keys).unwrap_or(0);
        match (&sheltered, &candidate) {
            (Some(Shelter::Promote(best)), Some(c)) if keys(best) > keys(c) => {
                return Ok(Some(Plan::Failover {
                    from: primary.to_string(),
                    to: best.clone(),
                }));
            }
            // A copy holding more keys than the candidate that may not be
            // promoted (priority 0): promoting the candidate would end with
            // that copy repointed at it and its data resynced away. Detach it
            // from the node that lost its data, and wait for an operator.
            (Some(Shelter::NotPromotable(best)), Some(c)) if keys(best) > keys(c) => {
                return self.detach_or_block(primary, best);
            }
            _ => {}
        }
        if let Some(to) = candidate {
            return Ok(Some(Plan::Failover {
                from: primary.to_string(),
                to,
            }));
        }
        // (a primary that lost its data and then died too: its best copy
        // left is promoted the same way)
        if empty || view.lost_data {
            match sheltered {
                // The node holding the most data still follows the node
                // that lost it, and would resync from it: it is the data
                // that is left, so it becomes the primary (unless its
                // priority forbids it).
                Some(Shelter::Promote(to)) => {
                    return Ok(Some(Plan::Failover {
                        from: primary.to_string(),
                        to,
                    }));
                }
                Some(Shelter::Repoint(plan)) => return Ok(Some(plan)),
                // Detached first, so that the copies keep their data
                // while an operator decides.
                Some(Shelter::NotPromotable(node)) => return self.detach_or_block(primary, &node),
                None => {}
            }
        }
        // Waiting, a replica about to resync away more than its source (a
        // node the record does not name) holds is detached first (seed
        // 42644: r2 came back empty while the leader waited, and r1, its
        // replica, resynced from it).
        if let Some((from, nodes)) = endangered(self.config, self.views, primary) {
            return Ok(Some(Plan::Detach { from, nodes }));
        }
        Err(Blocked::NoEligibleReplica {
            primary: primary.to_string(),
        })
    }

    /// `best`, the most data left after `primary` lost its data, may not
    /// be promoted: detach the copies that would resync from `primary`, or
    /// wait for an operator when none is left to detach.
    fn detach_or_block(&self, primary: &str, best: &str) -> Decision {
        let nodes = detachable(self.config, self.views, primary, best);
        if !nodes.is_empty() {
            return Ok(Some(Plan::Detach {
                from: primary.to_string(),
                nodes,
            }));
        }
        Err(Blocked::LastCopyNotPromotable {
            primary: primary.to_string(),
            node: best.to_string(),
        })
    }

    /// The recorded primary is a replica: either someone else finished a
    /// switchover (it follows a healthy primary: adopt that one), or our
    /// promotion did not happen yet (promote it), or it follows a node that
    /// lost data (the copy holding the most data left is kept, or the
    /// leader waits). `None` when it is not a replica.
    fn recorded_replica(&self, primary: &str) -> Option<Decision> {
        let Some(NodeStatus {
            role: Role::Replica { primary: follows, .. },
            ..
        }) = self.status(primary)
        else {
            return None;
        };
        let leader_of = self
            .config
            .nodes
            .iter()
            .find(|n| &n.addr == follows)
            .map(|n| n.name.clone());
        // Adopt only a primary at least as far along that kept its data (a
        // finished switchover), never the node a failed promotion left
        // behind (S6).
        let offset = |name: &str| self.status(name).map_or(0, |s| s.offset);
        let sound = |other: &str| {
            self.claims_primary(other)
                && !self.views.get(other).is_some_and(|v| v.lost_data)
                && offset(other) >= offset(primary)
        };
        let plan = match &leader_of {
            Some(other) if sound(other) => Plan::Adopt { primary: other.clone() },
            _ => Plan::Promote {
                node: primary.to_string(),
            },
        };
        match leader_of {
            Some(other) if self.followed_lost_data(primary, &other) => {
                Some(self.after_followed_loss(primary, &other, plan))
            }
            _ => Some(Ok(Some(plan))),
        }
    }

    /// Whether `source`, the node the recorded `primary` (a replica)
    /// follows, lost data: it restarted holding fewer keys than this
    /// leader saw it hold ([`NodeView::reloaded_less`]), or `primary`
    /// resynced from it to a smaller dataset ([`NodeView::shrank_from`]).
    /// Neither is a finished switchover to adopt: recorded, `source` would
    /// resync away the data its other replicas, or a node claiming primary
    /// on the old history, still hold; nor is `primary`, which took what
    /// `source` holds, the one to promote (seeds 32516, 67260, 113993: the
    /// node a failover had recorded followed the old primary, which came
    /// back empty or from an older RDB; adopted, the copy holding the data
    /// was repointed at it and resynced it away).
    fn followed_lost_data(&self, primary: &str, source: &str) -> bool {
        let reloaded_less = self.views.get(source).is_some_and(|v| v.reloaded_less.is_some());
        let shrank = self.views.get(primary).is_some_and(|v| v.shrank_from.is_some());
        (reloaded_less || shrank) && !planted!(self.planted, ResyncFromEmpty)
    }

    /// The recorded `primary` follows `source`, which lost data: the node
    /// holding the most data left becomes the primary (the shelter of
    /// `source`'s replicas, as after a recorded primary lost its data),
    /// unless it holds no more keys than `primary`, which is then promoted;
    /// with no shelter, the leader waits while a node that does not answer
    /// may hold more than `primary` (recording `source` would resync it
    /// away once it does), and otherwise carries out `plan` (adopting
    /// `source`, or promoting `primary`: no data is left elsewhere).
    fn after_followed_loss(&self, primary: &str, source: &str, plan: Plan) -> Decision {
        let keys = |name: &str| self.status(name).and_then(|s| s.keys);
        let failover = |to: String| {
            if to == primary || keys(&to) <= keys(primary) {
                Plan::Promote {
                    node: primary.to_string(),
                }
            } else {
                Plan::Failover {
                    from: primary.to_string(),
                    to,
                }
            }
        };
        match shelter(self.config, self.views, source, self.now) {
            Some(Shelter::Promote(to)) => Ok(Some(failover(to))),
            Some(Shelter::Repoint(plan)) => Ok(Some(plan)),
            Some(Shelter::NotPromotable(node)) => self.detach_or_block(source, &node),
            None if self.silent_may_hold_more(primary) => Err(Blocked::FollowsLostData {
                primary: primary.to_string(),
                source: source.to_string(),
            }),
            None => Ok(Some(plan)),
        }
    }

    /// Whether a node that does not answer (for no longer than
    /// `stale_after_ms`) last held more keys than `primary` holds, or was
    /// never seen: it may be the data that is left.
    fn silent_may_hold_more(&self, primary: &str) -> bool {
        let holds = self.status(primary).and_then(|s| s.keys).unwrap_or(0);
        silent_lately(self.config, self.views, primary, self.now)
            .any(|v| v.previous.as_ref().is_none_or(|p| p.keys.is_none_or(|k| k > holds)))
    }

    /// The recorded primary (seen as `view`) has not failed and is no
    /// replica: the nodes astray are repointed at it, or, with none, the
    /// requested `switchover` starts (when its target is ready).
    fn in_line(&self, record: &GroupRecord, view: &NodeView, switchover: Option<&str>) -> Decision {
        let primary = record.primary.as_str();
        // Nor while the recorded primary does not answer and this leader never
        // saw it serve as a primary (it never saw it at all, or last saw it
        // replicating: its promotion may not have happened, and it may follow
        // the very node that would be pointed at it, a cycle).
        let last = view.status.as_ref().or(view.previous.as_ref());
        let unproven = !view.reachable() && !last.is_some_and(|l| l.role == Role::Primary);
        if unproven {
            // Its replicas astray are then left where they are, unless one is
            // about to resync away more than its source holds: detached, it
            // keeps its data until it can be repointed.
            return Ok(endangered(self.config, self.views, primary).map(|(from, nodes)| Plan::Detach { from, nodes }));
        }
        let astray = self.astray(record, view);
        if !astray.is_empty() {
            return Ok(Some(Plan::Repoint { nodes: astray }));
        }
        if !view.reachable() {
            return Ok(None); // suspected, not yet down: wait (no flapping)
        }
        let primary_addr = addr_of(self.config, primary);
        if let Some(target) = switchover {
            let ok = matches!(
                self.status(target).map(|s| &s.role),
                Some(Role::Replica { primary: p, link_up: true, .. }) if p == primary_addr
            );
            if ok && self.config.node(target).is_some_and(|n| n.priority != 0) {
                return Ok(Some(Plan::Switchover {
                    from: primary.to_string(),
                    to: target.to_string(),
                }));
            }
        }
        Ok(None)
    }

    /// The nodes to repoint at the recorded primary (seen as `view`, not
    /// unproven: see [`Round::in_line`]), in configuration order.
    fn astray(&self, record: &GroupRecord, view: &NodeView) -> Vec<String> {
        let primary = record.primary.as_str();
        let primary_addr = addr_of(self.config, primary);
        // Everyone else follows the primary (a returning old primary is
        // demoted here, S6), also while the primary is only suspected: a
        // replica left on a node that came back empty would otherwise resync
        // from it (S7); pointed at the recorded primary it keeps its data.
        let astray = self
            .config
            .nodes
            .iter()
            .filter(|n| n.name != primary)
            .filter(|n| match self.status(&n.name).map(|s| &s.role) {
                Some(Role::Primary) => !planted!(self.planted, ForgetOldPrimary),
                Some(Role::Replica { primary: p, .. }) => p != primary_addr,
                None => false,
            })
            .map(|n| n.name.clone());
        // Never close a cycle: a node the recorded primary was last seen
        // replicating from (it is out of reach, or its promotion has not
        // happened yet) is not pointed at it.
        let astray = astray.filter(|n| !follows_any(self.config, self.views, primary, std::slice::from_ref(n)));
        // While the recorded primary does not answer, a node claiming primary
        // is left as it is: the recorded one may have become its replica since
        // it was last seen (a handover this leader could not see finish), and
        // pointing the node at it would close a cycle. Replicas following
        // other nodes are still repointed (their source may have come back
        // empty).
        let astray = astray.filter(|n| view.reachable() || !self.claims_primary(n));
        // Nor, while the recorded primary does not answer, a node holding more
        // keys, on another history, than it held when it last answered after
        // a restart since it was recorded: it may have lost its data, and the
        // node would resync from what it holds when it is back (decided once
        // it answers, or is down).
        let last = view.status.as_ref().or(view.previous.as_ref());
        let restarted_since_recorded = record
            .run_id
            .as_deref()
            .zip(last)
            .is_some_and(|(recorded, last)| recorded != last.run_id);
        let holds_more = |n: &String| match (self.status(n), last) {
            (Some(m), Some(p)) => m.replid != p.replid && m.keys.zip(p.keys).is_some_and(|(k, pk)| k > pk),
            _ => false,
        };
        let wary = view.lost_data || (!view.reachable() && restarted_since_recorded);
        astray
            .filter(|n| !wary || (!view.lost_data && !holds_more(n)))
            .collect()
    }
}
