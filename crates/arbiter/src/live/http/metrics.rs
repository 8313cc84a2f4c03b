//! `GET /metrics`: what this instance knows, in the OpenMetrics text
//! format (which Prometheus reads), through `prometheus-client`.
//!
//! Every scrape encodes the view and the local status as they stand: the
//! metrics are built from them, not kept beside them, so they cannot
//! drift. Counters count since this process started.
//!
//! | metric | type | labels | what |
//! | --- | --- | --- | --- |
//! | `arbiter_leader` | gauge | | 1 when this instance leads the group |
//! | `arbiter_epoch` | gauge | | the leading instance's epoch, as etcd last told (0: none leads) |
//! | `arbiter_primary_info` | info | `node`, `addr` | the node the group record names (absent: no record) |
//! | `arbiter_node_up` | gauge | `node` | 1 when the node answered its latest poll |
//! | `arbiter_node_role` | gauge | `node`, `role` | 1 for the role (`primary`, `replica`) the node answered with, 0 for the other |
//! | `arbiter_node_offset_bytes` | gauge | `node` | its replication offset (when it answered) |
//! | `arbiter_node_lag_bytes` | gauge | `node` | how far a replica of the recorded primary is behind it (when both answered) |
//! | `arbiter_failovers_total` | counter | | failovers this instance carried out (record written) |
//! | `arbiter_switchovers_total` | counter | | switchovers this instance carried out |
//! | `arbiter_last_failover_duration_seconds` | gauge | | the last failover, from the failed primary's last answer to the promotion (absent: none yet) |
//! | `arbiter_etcd_errors_total` | counter | | failed etcd requests of the controller |
//! | `arbiter_blocked` | gauge | `reason` | 1 for the reason the leader does not act now, 0 for every other (`paused`: the group is paused and the recorded primary is down) |
//! | `arbiter_paused` | gauge | | 1 while this instance runs paused |
//! | `arbiter_view_age_seconds` | gauge | | since etcd last answered this instance's follower (absent: never) |
//! | `arbiter_members` | gauge | | instances registered in etcd, this one included |

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use prometheus_client::encoding::text::encode as encode_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::live::follow::{GroupView, LocalStatus};
use crate::types::Role;

/// The `Content-Type` of the metrics (OpenMetrics text 1.0.0).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(&'static str, String)>;

fn gauge(value: i64) -> Gauge {
    let g = Gauge::default();
    g.set(value);
    g
}

fn counter(value: u64) -> Counter {
    let c = Counter::default();
    c.inc_by(value);
    c
}

fn seconds(value: f64) -> Gauge<f64, AtomicU64> {
    let g = Gauge::<f64, AtomicU64>::default();
    g.set(value);
    g
}

fn clamp(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The metrics of `view` and `local` at `now`, as OpenMetrics text.
pub fn encode(view: &GroupView, local: &LocalStatus, now: Instant) -> String {
    let mut r = Registry::default();
    r.register(
        "arbiter_leader",
        "1 when this instance leads the group",
        gauge(i64::from(local.leading.is_some())),
    );
    r.register(
        "arbiter_epoch",
        "The leading instance's epoch (its election key's create revision), as etcd last told; 0 when none leads",
        gauge(view.leader.as_ref().map_or(0, |(_, epoch)| *epoch)),
    );
    if let Some(primary) = view.record.as_ref() {
        let addr = view.primary().map_or_else(String::new, |n| n.addr.clone());
        r.register(
            "arbiter_primary",
            "The node the group record names as primary",
            Info::new(vec![("node", primary.record.primary.clone()), ("addr", addr)]),
        );
    }
    let up = Family::<Labels, Gauge>::default();
    let role = Family::<Labels, Gauge>::default();
    let offset = Family::<Labels, Gauge>::default();
    let lag = Family::<Labels, Gauge>::default();
    let primary = view.primary();
    let primary_offset = primary.and_then(|p| p.offset());
    for node in &view.nodes {
        let name = || vec![("node", node.name.clone())];
        let status = node.seen.status.as_ref();
        up.get_or_create(&name()).set(i64::from(status.is_some()));
        for r in ["primary", "replica"] {
            let is = match status.map(|s| &s.role) {
                Some(Role::Primary) => r == "primary",
                Some(Role::Replica { .. }) => r == "replica",
                None => false,
            };
            role.get_or_create(&vec![("node", node.name.clone()), ("role", r.to_string())])
                .set(i64::from(is));
        }
        if let Some(s) = status {
            offset.get_or_create(&name()).set(clamp(s.offset));
        }
        if let (Some(p), Some(s), Some(p_offset)) = (primary, status, primary_offset) {
            if p.name != node.name && node.replicates(&p.addr) {
                lag.get_or_create(&name()).set(clamp(p_offset.saturating_sub(s.offset)));
            }
        }
    }
    r.register("arbiter_node_up", "1 when the node answered its latest poll", up);
    r.register(
        "arbiter_node_role",
        "1 for the role the node answered its latest poll with, 0 for the other (both 0: no answer)",
        role,
    );
    r.register_with_unit(
        "arbiter_node_offset",
        "The node's replication offset, as it last answered",
        Unit::Bytes,
        offset,
    );
    r.register_with_unit(
        "arbiter_node_lag",
        "How far a replica of the recorded primary (linked to it) is behind it: the primary's offset minus its own",
        Unit::Bytes,
        lag,
    );
    r.register(
        "arbiter_failovers",
        "Failovers this instance carried out (the record naming the new primary written) since it started",
        counter(local.failovers),
    );
    r.register(
        "arbiter_switchovers",
        "Switchovers this instance carried out since it started",
        counter(local.switchovers),
    );
    if let Some(ms) = local.last_failover_ms {
        r.register_with_unit(
            "arbiter_last_failover_duration",
            "The last failover this instance carried out, from the failed primary's last answer to the promotion",
            Unit::Seconds,
            seconds(ms as f64 / 1000.0),
        );
    }
    r.register(
        "arbiter_etcd_errors",
        "Failed etcd requests of the controller (election, lease, record, leadership re-checks, switchover requests) since it started",
        counter(local.etcd_errors),
    );
    r.register(
        "arbiter_paused",
        "1 while this instance runs paused (arbiter pause, or settings.paused in its file): it watches and never acts",
        gauge(i64::from(local.paused)),
    );
    let blocked = Family::<Labels, Gauge>::default();
    for reason in crate::live::log::BLOCKED_REASONS {
        blocked
            .get_or_create(&vec![("reason", reason.to_string())])
            .set(i64::from(local.blocked.as_deref() == Some(reason)));
    }
    r.register(
        "arbiter_blocked",
        "1 for the reason the leader does not act although the group needs it (see the log's warning), 0 for the others",
        blocked,
    );
    if let Some(ok) = view.etcd_ok {
        r.register_with_unit(
            "arbiter_view_age",
            "Time since etcd last answered this instance's follower",
            Unit::Seconds,
            seconds(now.saturating_duration_since(ok).as_secs_f64()),
        );
    }
    r.register(
        "arbiter_members",
        "Instances registered in etcd, this one included",
        gauge(clamp(view.members.len() as u64)),
    );
    let mut text = String::new();
    // (writing to a String cannot fail)
    let _ = encode_text(&mut text, &r);
    text
}
