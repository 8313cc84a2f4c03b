//! Unit tests of the decisions, one file per concern, and the helpers
//! they share.

mod candidates;
mod choose;
mod data_loss;
mod shelter;

use super::*;
use std::collections::BTreeMap;

use super::candidates::{data_exists, follows_any, select_candidate};
use super::shelter::{Shelter, shelter};
use crate::machine::Planted;
use crate::types::Epoch;
use crate::types::{GroupConfig, GroupRecord, Millis, NodeStatus, RedisError, RedisNode, Role, Settings};

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
            replid2: None,
            offset,
            keys: None,
            uptime_s: None,
        }),
        ..NodeView::default()
    }
}

/// The record naming `primary` under epoch 5, recorded under `run_id`.
fn recorded(primary: &str, run_id: Option<&str>) -> GroupRecord {
    GroupRecord {
        epoch: Epoch(5),
        primary: primary.into(),
        run_id: run_id.map(str::to_string),
        lost_data: false,
    }
}

/// `note_data_loss` marks `from` as having lost data, and `decide`
/// fails over from it to `to`.
fn assert_loss_then_failover(
    c: &GroupConfig,
    v: &mut BTreeMap<String, NodeView>,
    record: &GroupRecord,
    now: Millis,
    from: &str,
    to: &str,
) {
    note_data_loss(c, v, Some(record), now).apply(v);
    assert!(v[from].lost_data, "{from} lost data");
    let plan = decide(c, v, Some(record), None, now, &Planted::default());
    let expected = Plan::Failover {
        from: from.into(),
        to: to.into(),
    };
    assert_eq!(plan, Ok(Some(expected)));
}

/// `record` as the leader leaves it once it noted the primary's loss
/// ([`Plan::NoteLoss`]).
fn noted(record: &GroupRecord) -> GroupRecord {
    GroupRecord {
        lost_data: true,
        ..record.clone()
    }
}

fn views(list: Vec<(&str, NodeView)>) -> BTreeMap<String, NodeView> {
    list.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn status(role: Role, run_id: &str, replid: &str, offset: u64, keys: u64) -> NodeStatus {
    NodeStatus {
        role,
        run_id: run_id.into(),
        replid: replid.into(),
        replid2: None,
        offset,
        keys: Some(keys),
        uptime_s: None,
    }
}

/// A replica of `primary` with its link up.
fn linked(primary: &str) -> Role {
    Role::Replica {
        primary: primary.into(),
        link_up: true,
        link_down_ms: None,
    }
}

fn down_replica(link_down_ms: u64) -> Role {
    Role::Replica {
        primary: "10.0.0.1:6379".into(),
        link_up: false,
        link_down_ms: Some(link_down_ms),
    }
}
