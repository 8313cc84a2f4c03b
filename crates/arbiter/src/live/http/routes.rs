//! What each endpoint answers (see the [module docs](super)), from the
//! follower's view and the run loop's status: a pure function, tested
//! without sockets.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::HttpOptions;
use crate::live::follow::{GroupView, LocalStatus, NodeEntry};
use crate::types::Role;

/// An answer: its status, content type and body (a `GET`'s; `HEAD` and
/// `OPTIONS` send no body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// The body's `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: String,
}

impl Reply {
    /// `body` as a JSON document with `status`.
    pub fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: format!("{body}\n"),
        }
    }
}

/// The endpoints, as the answer to an unknown path lists them.
const ENDPOINTS: [&str; 9] = [
    "/primary",
    "/primary/<node>",
    "/replica",
    "/replica/<node>",
    "/leader",
    "/health",
    "/liveness",
    "/readiness",
    "/metrics",
];

/// A known path.
#[derive(Debug, PartialEq, Eq)]
enum Endpoint {
    Primary(Option<String>),
    Replica(Option<String>),
    Leader,
    Health,
    Liveness,
    Readiness,
    Metrics,
}

/// The endpoint `path` names (one trailing `/` is ignored); `None` when
/// it names none.
fn endpoint(path: &str) -> Option<Endpoint> {
    let path = path.strip_suffix('/').unwrap_or(path);
    let mut parts = path.strip_prefix('/')?.split('/');
    let first = parts.next()?;
    let second = parts.next().map(percent_decode);
    if parts.next().is_some() {
        return None;
    }
    let node = match second {
        None => None,
        Some(Some(node)) if !node.is_empty() => Some(node),
        Some(_) => return None,
    };
    match (first, node) {
        ("primary", node) => Some(Endpoint::Primary(node)),
        ("replica", node) => Some(Endpoint::Replica(node)),
        ("leader", None) => Some(Endpoint::Leader),
        ("health", None) => Some(Endpoint::Health),
        ("liveness", None) => Some(Endpoint::Liveness),
        ("readiness", None) => Some(Endpoint::Readiness),
        ("metrics", None) => Some(Endpoint::Metrics),
        _ => None,
    }
}

/// `%XX` escapes decoded; `None` when one is malformed or the result is
/// not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            let text = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(text, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The answer to `method` on `target` (path and query), at `now`.
pub fn route(
    method: &str,
    target: &str,
    view: &GroupView,
    local: &LocalStatus,
    options: &HttpOptions,
    now: Instant,
) -> Reply {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let Some(endpoint) = endpoint(path) else {
        return Reply::json(
            404,
            &json!({"error": format!("no such endpoint: {path}"), "endpoints": ENDPOINTS}),
        );
    };
    if !matches!(method, "GET" | "HEAD" | "OPTIONS") {
        return Reply::json(
            405,
            &json!({"error": format!("method {method} is not allowed: use GET, HEAD or OPTIONS")}),
        );
    }
    let max_lag = match query.split('&').find_map(|kv| kv.strip_prefix("lag=")) {
        None => None,
        Some(text) => match text.parse::<u64>() {
            Ok(bytes) => Some(bytes),
            Err(_) => {
                return Reply::json(
                    400,
                    &json!({"error": format!("lag: `{text}` is not a number of bytes")}),
                );
            }
        },
    };
    let at = At {
        view,
        local,
        options,
        now,
    };
    match endpoint {
        Endpoint::Primary(node) => at.primary(node.as_deref()),
        Endpoint::Replica(None) => at.replicas(max_lag),
        Endpoint::Replica(Some(node)) => at.replica(&node, max_lag),
        Endpoint::Leader => at.leader(),
        Endpoint::Health => at.health(),
        Endpoint::Liveness => at.liveness(),
        Endpoint::Readiness => at.readiness(),
        Endpoint::Metrics => Reply {
            status: 200,
            content_type: super::metrics::CONTENT_TYPE,
            body: super::metrics::encode(view, local, now),
        },
    }
}

/// What an answer is built from.
struct At<'a> {
    view: &'a GroupView,
    local: &'a LocalStatus,
    options: &'a HttpOptions,
    now: Instant,
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A node as the answers name it.
fn node_json(node: &NodeEntry) -> Value {
    json!({
        "node": node.name,
        "addr": node.addr,
        "host": node.host,
        "port": node.port,
    })
}

/// Adds `extra`'s fields to the object `base`.
fn with(mut base: Value, extra: Value) -> Value {
    if let (Value::Object(b), Value::Object(e)) = (&mut base, extra) {
        b.extend(e);
    }
    base
}

impl At<'_> {
    fn age(&self, at: Option<Instant>) -> Option<Duration> {
        at.map(|t| self.now.saturating_duration_since(t))
    }

    /// Why the view is not current, if it is not.
    fn stale(&self) -> Option<String> {
        match self.age(self.view.etcd_ok) {
            None => Some(match &self.view.etcd_error {
                Some(e) => format!("etcd has not answered yet: {e}"),
                None => "etcd has not been read yet".into(),
            }),
            Some(age) if age > self.options.view_max_age => Some(format!(
                "the view is stale: etcd last answered {} ms ago (http.view_max_age_ms = {}){}",
                millis(age),
                millis(self.options.view_max_age),
                self.view
                    .etcd_error
                    .as_ref()
                    .map_or(String::new(), |e| format!(": {e}"))
            )),
            Some(_) => None,
        }
    }

    /// The recorded primary, serving; or why there is none.
    fn serving_primary(&self) -> Result<&NodeEntry, String> {
        if let Some(why) = self.stale() {
            return Err(why);
        }
        let Some(record) = &self.view.record else {
            return Err("no group record yet".into());
        };
        let name = &record.record.primary;
        let Some(node) = self.view.primary() else {
            return Err(format!("the record names {name}, which is not in the configuration"));
        };
        match node.seen.status.as_ref().map(|s| &s.role) {
            Some(Role::Primary) => Ok(node),
            Some(Role::Replica { primary, .. }) => Err(format!(
                "the recorded primary {name} answers as a replica of {primary} (a promotion not done yet)"
            )),
            None => Err(format!(
                "the recorded primary {name} does not answer: {}",
                node.seen.error.as_deref().unwrap_or("not polled yet")
            )),
        }
    }

    fn primary_json(&self, node: &NodeEntry) -> Value {
        let record = self.view.record.as_ref().map(|r| &r.record);
        with(
            node_json(node),
            json!({
                "epoch": record.map(|r| r.epoch.get()),
                "lost_data": record.is_some_and(|r| r.lost_data),
                "offset": node.offset(),
            }),
        )
    }

    fn recorded_name(&self) -> Option<&str> {
        self.view.record.as_ref().map(|r| r.record.primary.as_str())
    }

    /// A configured node by name or address.
    fn node(&self, name: &str) -> Option<&NodeEntry> {
        self.view.nodes.iter().find(|n| n.name == name || n.addr == name)
    }

    fn primary(&self, asked: Option<&str>) -> Reply {
        let asked = match asked {
            None => None,
            Some(name) => match self.node(name) {
                Some(node) => Some(node),
                None => return no_node(name),
            },
        };
        match (self.serving_primary(), asked) {
            (Ok(primary), None) => Reply::json(200, &self.primary_json(primary)),
            (Ok(primary), Some(node)) if node.name == primary.name => Reply::json(200, &self.primary_json(primary)),
            (Ok(primary), Some(node)) => Reply::json(
                503,
                &with(
                    node_json(node),
                    json!({
                        "error": format!("{} is not the recorded primary ({} is)", node.name, primary.name),
                        "primary": primary.name,
                    }),
                ),
            ),
            (Err(why), node) => {
                let body = json!({"error": why, "primary": self.recorded_name()});
                Reply::json(503, &node.map_or(body.clone(), |n| with(node_json(n), body)))
            }
        }
    }

    /// `node` as a healthy replica of the recorded primary (within
    /// `max_lag` bytes of it, if given); or why it is not.
    fn replica_of(&self, node: &NodeEntry, max_lag: Option<u64>) -> Result<Value, String> {
        if let Some(why) = self.stale() {
            return Err(why);
        }
        let Some(primary) = self.view.primary() else {
            return Err(match self.recorded_name() {
                None => "no group record yet".into(),
                Some(name) => format!("the record names {name}, which is not in the configuration"),
            });
        };
        if node.name == primary.name {
            return Err(format!("{} is the recorded primary", node.name));
        }
        let Some(status) = &node.seen.status else {
            return Err(format!(
                "{} does not answer: {}",
                node.name,
                node.seen.error.as_deref().unwrap_or("not polled yet")
            ));
        };
        match &status.role {
            Role::Replica {
                primary: p,
                link_up: true,
                ..
            } if *p == primary.addr => {}
            Role::Replica { primary: p, .. } if *p == primary.addr => {
                return Err(format!("{}'s link to the primary {} is down", node.name, primary.name));
            }
            Role::Replica { primary: p, .. } => {
                return Err(format!(
                    "{} replicates from {p}, not from the recorded primary {} ({})",
                    node.name, primary.name, primary.addr
                ));
            }
            Role::Primary => {
                return Err(format!(
                    "{} answers as a primary, against the record (which names {})",
                    node.name, primary.name
                ));
            }
        }
        let lag = primary.offset().map(|p| p.saturating_sub(status.offset));
        match (max_lag, lag) {
            (Some(_), None) => {
                return Err(format!(
                    "{}'s lag is unknown: the primary {} does not answer",
                    node.name, primary.name
                ));
            }
            (Some(max), Some(lag)) if lag > max => {
                return Err(format!(
                    "{} is {lag} bytes behind the primary {}, more than lag={max}",
                    node.name, primary.name
                ));
            }
            _ => {}
        }
        Ok(with(
            node_json(node),
            json!({"primary": primary.name, "offset": status.offset, "lag_bytes": lag}),
        ))
    }

    fn replicas(&self, max_lag: Option<u64>) -> Reply {
        let mut healthy = Vec::new();
        let mut not = serde_json::Map::new();
        for node in self.view.replicas() {
            match self.replica_of(node, max_lag) {
                Ok(v) => healthy.push(v),
                Err(why) => {
                    not.insert(node.name.clone(), Value::String(why));
                }
            }
        }
        if !healthy.is_empty() {
            return Reply::json(
                200,
                &json!({"primary": self.recorded_name(), "replicas": healthy, "not_serving": not}),
            );
        }
        let error = match self.stale() {
            Some(why) => why,
            None => match self.recorded_name() {
                None => "no group record yet".into(),
                Some(p) => format!(
                    "no node answers as a replica of the recorded primary {p} with its link up{}",
                    max_lag.map_or(String::new(), |m| format!(" and within lag={m} bytes"))
                ),
            },
        };
        Reply::json(
            503,
            &json!({"error": error, "primary": self.recorded_name(), "replicas": [], "not_serving": not}),
        )
    }

    fn replica(&self, name: &str, max_lag: Option<u64>) -> Reply {
        let Some(node) = self.node(name) else {
            return no_node(name);
        };
        match self.replica_of(node, max_lag) {
            Ok(v) => Reply::json(200, &v),
            Err(why) => Reply::json(
                503,
                &with(node_json(node), json!({"error": why, "primary": self.recorded_name()})),
            ),
        }
    }

    fn leader(&self) -> Reply {
        let leader = self
            .view
            .leader
            .as_ref()
            .map(|(instance, epoch)| json!({"instance": instance, "epoch": epoch}));
        let body = json!({
            "instance": self.view.instance,
            "id": self.local.id,
            "leading": self.local.leading.is_some(),
            "epoch": self.local.leading,
            "leader": leader,
            "state": self.local.state,
        });
        match self.local.leading {
            Some(_) => Reply::json(200, &body),
            None => Reply::json(
                503,
                &with(body, json!({"error": "this instance does not lead the group"})),
            ),
        }
    }

    /// Why the run loop counts as stalled, if it does.
    fn stalled(&self) -> Option<String> {
        match self.age(self.local.heartbeat) {
            None => Some("the run loop has not stepped yet".into()),
            Some(age) if age > self.options.stalled_after => Some(format!(
                "the run loop has not stepped for {} ms (http.stalled_after_ms = {})",
                millis(age),
                millis(self.options.stalled_after)
            )),
            Some(_) => None,
        }
    }

    fn health(&self) -> Reply {
        let mut errors: Vec<String> = self.stalled().into_iter().collect();
        if let Some(why) = self.stale() {
            errors.push(why);
        } else if let Some(e) = &self.view.etcd_error {
            errors.push(format!("etcd does not answer: {e}"));
        }
        let body = json!({
            "instance": self.view.instance,
            "id": self.local.id,
            "state": self.local.state,
            "leading": self.local.leading.is_some(),
            "epoch": self.local.leading,
            "blocked": self.local.blocked,
            "blocked_detail": self.local.blocked_detail,
            "paused": self.local.paused,
            "heartbeat_age_ms": self.age(self.local.heartbeat).map(millis),
            "view_age_ms": self.age(self.view.etcd_ok).map(millis),
            "etcd_error": self.view.etcd_error,
        });
        checked(body, errors)
    }

    fn liveness(&self) -> Reply {
        let body = json!({
            "instance": self.view.instance,
            "state": self.local.state,
            "heartbeat_age_ms": self.age(self.local.heartbeat).map(millis),
        });
        checked(body, self.stalled().into_iter().collect())
    }

    fn readiness(&self) -> Reply {
        let body = json!({
            "instance": self.view.instance,
            "view_age_ms": self.age(self.view.etcd_ok).map(millis),
            "etcd_error": self.view.etcd_error,
        });
        checked(body, self.stale().into_iter().collect())
    }
}

/// 200 with `body` when `errors` is empty, else 503 naming them.
fn checked(body: Value, errors: Vec<String>) -> Reply {
    if errors.is_empty() {
        Reply::json(200, &body)
    } else {
        Reply::json(503, &with(body, json!({"error": errors.join("; ")})))
    }
}

fn no_node(name: &str) -> Reply {
    Reply::json(404, &json!({"error": format!("no node `{name}` in the configuration")}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_endpoints_and_nodes() {
        assert_eq!(endpoint("/primary"), Some(Endpoint::Primary(None)));
        assert_eq!(endpoint("/primary/"), Some(Endpoint::Primary(None)));
        assert_eq!(endpoint("/primary/r1"), Some(Endpoint::Primary(Some("r1".into()))));
        assert_eq!(
            endpoint("/replica/127.0.0.1%3A7001"),
            Some(Endpoint::Replica(Some("127.0.0.1:7001".into())))
        );
        assert_eq!(endpoint("/metrics"), Some(Endpoint::Metrics));
        for bad in [
            "",
            "/",
            "primary",
            "/primary/r1/x",
            "/primary//",
            "/leader/x",
            "/replica/%zz",
            "/replica/%f",
            "/nope",
        ] {
            assert_eq!(endpoint(bad), None, "{bad:?}");
        }
        assert_eq!(percent_decode("%2B%2b"), Some("++".into()));
        assert_eq!(percent_decode("%+1"), None);
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
    }
}
