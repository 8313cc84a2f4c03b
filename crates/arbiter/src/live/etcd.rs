//! A small typed client for etcd's JSON gateway (`/v3/...`, etcd 3.4 and
//! later): leases, single-key reads, and the guarded transactions arbiter's
//! election and group record need. Keys and values travel base64-encoded;
//! 64-bit numbers arrive as JSON strings.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Value, json};

/// An etcd failure, for the world to turn into an output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EtcdError {
    /// No endpoint answered.
    #[error("etcd unreachable: {0}")]
    Unreachable(String),
    /// An endpoint answered with something that is not what the API says.
    #[error("etcd answered unexpectedly: {0}")]
    Protocol(String),
}

/// A key as etcd holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// Revision of the key's creation (arbiter's epochs).
    pub create_revision: i64,
    /// Revision of its last change.
    pub mod_revision: i64,
    /// The lease it is attached to (0: none).
    pub lease: i64,
}

/// The client: endpoints tried in order, each request under `timeout`.
#[derive(Debug, Clone)]
pub struct Etcd {
    endpoints: Vec<String>,
    agent: ureq::Agent,
    /// The agent's TLS configuration (`https://` endpoints need one:
    /// ureq has no roots of its own here), and the request timeout (to
    /// diagnose a failed connection).
    tls: Option<(crate::live::tls::Tls, Duration)>,
}

fn num(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

fn b64(s: &str) -> String {
    B64.encode(s.as_bytes())
}

fn unb64(v: &Value) -> Result<String, EtcdError> {
    let text = v.as_str().unwrap_or_default();
    let bytes = B64
        .decode(text)
        .map_err(|e| EtcdError::Protocol(format!("bad base64 {text:?}: {e}")))?;
    String::from_utf8(bytes).map_err(|e| EtcdError::Protocol(format!("not UTF-8: {e}")))
}

fn kv(v: &Value) -> Result<KeyValue, EtcdError> {
    Ok(KeyValue {
        key: unb64(&v["key"])?,
        value: if v.get("value").is_some() {
            unb64(&v["value"])?
        } else {
            String::new()
        },
        create_revision: num(&v["create_revision"]),
        mod_revision: num(&v["mod_revision"]),
        lease: num(&v["lease"]),
    })
}

/// The smallest key greater than every key starting with `prefix`.
fn prefix_end(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    while let Some(last) = bytes.pop() {
        if last < 0xff {
            bytes.push(last + 1);
            return B64.encode(&bytes);
        }
    }
    B64.encode([0u8])
}

/// The `header.revision` of a response.
fn header_revision(v: &Value) -> Result<i64, EtcdError> {
    match num(&v["header"]["revision"]) {
        0 => Err(EtcdError::Protocol(format!("no revision in the answer: {v}"))),
        revision => Ok(revision),
    }
}

#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    revision: Value,
}

impl Etcd {
    /// A client for `endpoints` (`http://host:port`).
    pub fn new(endpoints: Vec<String>, timeout: Duration) -> Self {
        Self::with_tls(endpoints, timeout, None)
    }

    /// A client for `endpoints`, `https://` ones verified and
    /// authenticated with `tls` (`[etcd.tls]`, see [`crate::live::tls`]).
    pub fn with_tls(endpoints: Vec<String>, timeout: Duration, tls: Option<&crate::live::tls::Tls>) -> Self {
        let mut config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false);
        if let Some(tls) = tls {
            config = config.tls_config(tls.ureq_config());
        }
        let agent: ureq::Agent = config.build().into();
        Self {
            endpoints,
            agent,
            tls: tls.map(|t| (t.clone(), timeout)),
        }
    }

    /// POSTs `body` to `path` on the first endpoint that answers.
    fn post(&self, path: &str, body: &Value) -> Result<Value, EtcdError> {
        let mut last = String::from("no endpoints configured");
        for endpoint in &self.endpoints {
            let url = format!("{}/v3/{path}", endpoint.trim_end_matches('/'));
            if self.tls.is_none() && url.starts_with("https://") {
                last = format!("{url}: https:// without a TLS configuration ([etcd.tls])");
                continue;
            }
            match self.agent.post(&url).send_json(body) {
                Ok(mut response) => {
                    let status = response.status().as_u16();
                    let value: Value = response
                        .body_mut()
                        .read_json()
                        .map_err(|e| EtcdError::Protocol(format!("{url}: {e}")))?;
                    if status != 200 {
                        let message = value["message"].as_str().or(value["error"].as_str()).unwrap_or("");
                        return Err(EtcdError::Protocol(format!("{url}: HTTP {status}: {message}")));
                    }
                    return Ok(value);
                }
                Err(e) => {
                    let text = e.to_string();
                    let tls = self.tls.as_ref().and_then(|(tls, timeout)| {
                        tls.describe("etcd.tls", &text).or_else(|| {
                            // ureq saw a broken connection: ask the handshake.
                            matches!(e, ureq::Error::Io(_))
                                .then(|| tls.diagnose("etcd.tls", &url, *timeout))
                                .flatten()
                        })
                    });
                    last = match tls {
                        Some(tls) => format!("{url}: {tls}"),
                        None => format!("{url}: {text}"),
                    };
                }
            }
        }
        Err(EtcdError::Unreachable(last))
    }

    /// Grants a lease of `ttl_s` seconds; its id.
    pub fn grant(&self, ttl_s: i64) -> Result<i64, EtcdError> {
        let v = self.post("lease/grant", &json!({ "TTL": ttl_s.to_string() }))?;
        match num(&v["ID"]) {
            0 => Err(EtcdError::Protocol(format!("lease grant without an id: {v}"))),
            id => Ok(id),
        }
    }

    /// Renews `lease`; its remaining TTL in seconds, 0 when it had expired.
    pub fn keepalive(&self, lease: i64) -> Result<i64, EtcdError> {
        let v = self.post("lease/keepalive", &json!({ "ID": lease.to_string() }))?;
        // The gateway streams: one JSON object `{"result": {...}}`.
        let result = v.get("result").unwrap_or(&v);
        Ok(num(&result["TTL"]))
    }

    /// Revokes `lease` (its keys go with it); an unknown lease is fine.
    pub fn revoke(&self, lease: i64) -> Result<(), EtcdError> {
        match self.post("lease/revoke", &json!({ "ID": lease.to_string() })) {
            Err(EtcdError::Protocol(m)) if m.contains("not found") => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Reads `key` (linearizable, or from the member's possibly stale
    /// state when `serializable`).
    pub fn get(&self, key: &str, serializable: bool) -> Result<Option<KeyValue>, EtcdError> {
        let v = self.post("kv/range", &json!({ "key": b64(key), "serializable": serializable }))?;
        v["kvs"].as_array().and_then(|a| a.first()).map(kv).transpose()
    }

    /// Every key under `prefix`, by creation revision (oldest first).
    pub fn get_prefix(&self, prefix: &str) -> Result<Vec<KeyValue>, EtcdError> {
        let body = json!({ "key": b64(prefix), "range_end": prefix_end(prefix) });
        let v = self.post("kv/range", &body)?;
        let mut kvs = v["kvs"]
            .as_array()
            .map(|a| a.iter().map(kv).collect::<Result<Vec<_>, _>>())
            .transpose()?
            .unwrap_or_default();
        kvs.sort_by_key(|k| k.create_revision);
        Ok(kvs)
    }

    /// Creates `key` attached to `lease` unless it exists; whether it was
    /// created, and the key as it stands.
    pub fn create(&self, key: &str, value: &str, lease: i64) -> Result<(bool, Option<KeyValue>), EtcdError> {
        let body = json!({
            "compare": [{ "key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0" }],
            "success": [{ "request_put": { "key": b64(key), "value": b64(value), "lease": lease.to_string() } }],
        });
        let v = self.post("kv/txn", &body)?;
        let created = v["succeeded"].as_bool().unwrap_or(false);
        Ok((created, self.get(key, false)?))
    }

    /// Writes `key` only while `guard` exists with create revision
    /// `epoch` (the fence of every leader write); whether it was written.
    pub fn put_guarded(&self, guard: &str, epoch: i64, key: &str, value: &str) -> Result<bool, EtcdError> {
        let body = json!({
            "compare": [{ "key": b64(guard), "target": "CREATE", "result": "EQUAL", "create_revision": epoch.to_string() }],
            "success": [{ "request_put": { "key": b64(key), "value": b64(value) } }],
        });
        let v = self.post("kv/txn", &body)?;
        Ok(v["succeeded"].as_bool().unwrap_or(false))
    }

    /// Deletes `key`; whether it existed.
    pub fn delete(&self, key: &str) -> Result<bool, EtcdError> {
        let v = self.post("kv/deleterange", &json!({ "key": b64(key) }))?;
        Ok(num(&v["deleted"]) > 0)
    }

    /// Writes `key` unconditionally (operator requests).
    pub fn put(&self, key: &str, value: &str) -> Result<(), EtcdError> {
        self.post("kv/put", &json!({ "key": b64(key), "value": b64(value) }))
            .map(|_| ())
    }

    /// Writes `key` unconditionally; the revision of the write (the key's
    /// new mod revision).
    pub fn put_revision(&self, key: &str, value: &str) -> Result<i64, EtcdError> {
        let v = self.post("kv/put", &json!({ "key": b64(key), "value": b64(value) }))?;
        header_revision(&v)
    }

    /// Writes `key` only while its mod revision is still `mod_revision`
    /// (0: while it does not exist), a compare-and-swap; the revision of
    /// the write, or `None` when the key changed meanwhile.
    pub fn put_if_unchanged(&self, key: &str, value: &str, mod_revision: i64) -> Result<Option<i64>, EtcdError> {
        let body = json!({
            "compare": [{ "key": b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": mod_revision.to_string() }],
            "success": [{ "request_put": { "key": b64(key), "value": b64(value) } }],
        });
        let v = self.post("kv/txn", &body)?;
        if v["succeeded"].as_bool().unwrap_or(false) {
            header_revision(&v).map(Some)
        } else {
            Ok(None)
        }
    }

    /// The cluster's current revision (a cheap liveness probe).
    pub fn revision(&self) -> Result<i64, EtcdError> {
        let v = self.post("kv/range", &json!({ "key": b64("\0"), "count_only": true }))?;
        let header: Header =
            serde_json::from_value(v["header"].clone()).map_err(|e| EtcdError::Protocol(format!("no header: {e}")))?;
        Ok(num(&header.revision))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_arrive_as_strings_or_numbers() {
        assert_eq!(num(&json!("42")), 42);
        assert_eq!(num(&json!(7)), 7);
        assert_eq!(num(&Value::Null), 0);
    }

    #[test]
    fn a_prefix_range_ends_after_the_prefix() {
        assert_eq!(B64.decode(prefix_end("arbiter/")).unwrap(), b"arbiter0");
        assert_eq!(B64.decode(prefix_end("a\u{7f}")).unwrap(), b"a\x80");
    }

    #[test]
    fn key_values_decode_and_bad_base64_is_an_error() {
        let v = json!({"key": b64("k"), "value": b64("v"), "create_revision": "5", "mod_revision": "6", "lease": "9"});
        assert_eq!(
            kv(&v).unwrap(),
            KeyValue {
                key: "k".into(),
                value: "v".into(),
                create_revision: 5,
                mod_revision: 6,
                lease: 9
            }
        );
        assert!(matches!(kv(&json!({"key": "!!"})), Err(EtcdError::Protocol(_))));
    }

    #[test]
    fn no_endpoint_is_unreachable_not_a_panic() {
        let e = Etcd::new(vec!["http://127.0.0.1:1".into()], Duration::from_millis(200));
        assert!(matches!(e.get("k", false), Err(EtcdError::Unreachable(_))));
    }
}
