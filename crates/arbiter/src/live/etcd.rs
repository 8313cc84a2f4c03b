//! A small typed client for etcd's JSON gateway (`/v3/...`, etcd 3.4 and
//! later): leases, single-key reads, and the guarded transactions arbiter's
//! election and group record need. Keys and values travel base64-encoded;
//! 64-bit numbers arrive as JSON strings.
//!
//! With [`EtcdCredentials`] the client authenticates (`/v3/auth/authenticate`)
//! to each endpoint before its first request and sends the token in the
//! `Authorization` header. The token is renewed before it expires: a JWT
//! token (etcd's `--auth-token jwt,...,ttl=...`) when half the time its
//! `exp` claim left it at receipt has passed, any other at most
//! [`TOKEN_MAX_AGE`] after it was obtained (etcd's simple tokens live
//! `--auth-token-ttl`, 300 s by default, past their last use, and are
//! forgotten when etcd restarts); and at once when etcd answers that it is
//! invalid, after which the request is sent again once (logged at info
//! level: `etcd refused the auth token`). A renewal is logged at debug
//! level (`etcd: auth token renewed`). A refused password
//! is an [`EtcdError::Auth`] naming the endpoint and the user, never the
//! password or the token.

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
    /// An endpoint refused the credentials (or needs some and none are
    /// configured): the endpoint, the user and etcd's reason.
    #[error("etcd authentication failed: {0}")]
    Auth(String),
}

/// The user and password arbiter authenticates to etcd with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdCredentials {
    /// The etcd user.
    pub username: String,
    /// Its password.
    pub password: crate::secret::Secret,
}

/// A token older than this is replaced before the next request (below
/// etcd's default token TTL of 5 minutes); a JWT token whose expiry comes
/// sooner, sooner ([`renew_after`]).
pub const TOKEN_MAX_AGE: Duration = Duration::from_secs(60);

/// A token held for an endpoint.
#[derive(Debug, Clone)]
struct Held {
    token: String,
    /// When it was obtained.
    at: std::time::Instant,
    /// Its age at which it is renewed.
    renew_after: Duration,
}

/// The token held per endpoint.
type Tokens = std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<String, Held>>>;

/// When a token received at `now_unix_s` (seconds since the epoch) is to
/// be renewed: a JWT token (three dot-separated parts, the middle one a
/// JSON payload with `exp`, seconds since the epoch) at half the time it
/// has left, at most [`TOKEN_MAX_AGE`]; any other token (etcd's simple
/// ones), or a JWT already expired by this host's clock (clocks apart: the
/// refused token is replaced when etcd says so), at [`TOKEN_MAX_AGE`].
pub fn renew_after(token: &str, now_unix_s: f64) -> Duration {
    let exp = || -> Option<f64> {
        let mut parts = token.split('.');
        let (_, payload, _, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next()) else {
            return None;
        };
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()?;
        serde_json::from_slice::<Value>(&bytes).ok()?["exp"].as_f64()
    };
    match exp() {
        Some(exp) if exp > now_unix_s => TOKEN_MAX_AGE.min(Duration::from_secs_f64((exp - now_unix_s) / 2.0)),
        _ => TOKEN_MAX_AGE,
    }
}

/// Seconds since the epoch by this host's clock.
fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Whether etcd's error `message` says the token is invalid, expired, or
/// missing where auth is now on, or the auth store changed under it: worth
/// authenticating again.
fn token_refused(message: &str) -> bool {
    [
        "invalid auth token",
        "auth token is expired",
        "user name is empty",
        "revision of auth store is old",
        "user name not found",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// Whether etcd's error `message` is an authentication or permission
/// failure (as opposed to a failed request).
fn auth_message(message: &str) -> bool {
    token_refused(message)
        || [
            "authentication failed",
            "permission denied",
            "authentication is not enabled",
        ]
        .iter()
        .any(|m| message.contains(m))
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
    credentials: Option<EtcdCredentials>,
    tokens: Tokens,
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

/// The message of an error answer.
fn error_message(v: &Value) -> String {
    v["message"].as_str().or(v["error"].as_str()).unwrap_or("").to_string()
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
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build();
        let agent: ureq::Agent = match tls {
            Some(tls) => tls.ureq_agent(config),
            None => config.into(),
        };
        Self {
            endpoints,
            agent,
            credentials: None,
            tokens: Tokens::default(),
            tls: tls.map(|t| (t.clone(), timeout)),
        }
    }

    /// The same client authenticating with `credentials` (`None`: none).
    pub fn with_credentials(mut self, credentials: Option<EtcdCredentials>) -> Self {
        self.credentials = credentials;
        self.tokens = Tokens::default();
        self
    }

    /// One POST of `body` to `url` with `token`: the answer's status and
    /// JSON; `Err(Ok(text))` when no answer came (try the next endpoint),
    /// `Err(Err(error))` when the answer is not JSON.
    fn send(&self, url: &str, body: &Value, token: Option<&str>) -> Result<(u16, Value), Result<String, EtcdError>> {
        let mut request = self.agent.post(url);
        if let Some(token) = token {
            request = request.header("Authorization", token);
        }
        let mut response = request.send_json(body).map_err(|e| Ok(self.failure(url, &e)))?;
        let status = response.status().as_u16();
        let value: Value = response
            .body_mut()
            .read_json()
            .map_err(|e| Err(EtcdError::Protocol(format!("{url}: {e}"))))?;
        Ok((status, value))
    }

    /// What a request to `url` that got no answer says: with TLS, what
    /// failed in the handshake when it did.
    fn failure(&self, url: &str, e: &ureq::Error) -> String {
        let text = e.to_string();
        let tls = self.tls.as_ref().and_then(|(tls, timeout)| {
            tls.describe(&text).or_else(|| {
                // ureq saw a broken connection: ask the handshake.
                matches!(e, ureq::Error::Io(_))
                    .then(|| tls.diagnose(url, *timeout))
                    .flatten()
            })
        });
        match tls {
            Some(tls) => format!("{url}: {tls}"),
            None => format!("{url}: {text}"),
        }
    }

    /// A token for `endpoint`: the one held unless it is due for renewal
    /// ([`renew_after`]) or `fresh` is asked for, else a new one from
    /// `/v3/auth/authenticate`. `Ok(None)` without credentials.
    fn token(&self, endpoint: &str, fresh: bool) -> Result<Option<String>, EtcdError> {
        let Some(credentials) = &self.credentials else {
            return Ok(None);
        };
        let lock = || self.tokens.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // The token held, while etcd has not refused it.
        let held = if fresh { None } else { lock().get(endpoint).cloned() };
        if let Some(h) = &held {
            if h.at.elapsed() < h.renew_after {
                return Ok(Some(h.token.clone()));
            }
        }
        let url = format!("{endpoint}/v3/auth/authenticate");
        let body = json!({ "name": credentials.username, "password": credentials.password.reveal() });
        let (status, value) = self
            .send(&url, &body, None)
            .map_err(|e| e.map_or_else(|e| e, EtcdError::Unreachable))?;
        let user = &credentials.username;
        match value["token"].as_str() {
            Some(token) if status == 200 && !token.is_empty() => {
                let renew_after = renew_after(token, unix_now());
                if let Some(h) = &held {
                    tracing::debug!(target: "arbiter", endpoint, user = %user, age_ms = h.at.elapsed().as_millis() as u64, next_renewal_ms = renew_after.as_millis() as u64, "etcd: auth token renewed");
                }
                lock().insert(
                    endpoint.to_string(),
                    Held {
                        token: token.to_string(),
                        at: std::time::Instant::now(),
                        renew_after,
                    },
                );
                Ok(Some(token.to_string()))
            }
            _ => {
                let message = error_message(&value);
                if let Some(h) = held {
                    // A refresh refused (the password file already holds a
                    // password etcd does not know yet, during a rotation):
                    // the token held still works until etcd refuses it.
                    tracing::warn!(target: "arbiter", endpoint, user = %user, error = %message, "etcd: cannot renew the auth token, keeping the current one");
                    let token = h.token.clone();
                    lock().insert(
                        endpoint.to_string(),
                        Held {
                            at: std::time::Instant::now(),
                            ..h
                        },
                    );
                    return Ok(Some(token));
                }
                Err(EtcdError::Auth(format!(
                    "{endpoint}: user `{user}`: HTTP {status}: {message}{}",
                    if message.contains("authentication is not enabled") {
                        " (etcd.username is set but the cluster does not need it: leave etcd.username and its password out, or `etcdctl auth enable`)"
                    } else if message.contains("invalid user ID or password") {
                        " (check etcd.password / password_file / password_env and the user in etcd: `etcdctl user get`)"
                    } else {
                        ""
                    }
                )))
            }
        }
    }

    /// POSTs `body` to `path` on the first endpoint that answers (with a
    /// token when authenticating; a token etcd refuses is replaced and the
    /// request sent again, once).
    fn post(&self, path: &str, body: &Value) -> Result<Value, EtcdError> {
        let mut last = String::from("no endpoints configured");
        for endpoint in &self.endpoints {
            let endpoint = endpoint.trim_end_matches('/');
            let url = format!("{endpoint}/v3/{path}");
            if self.tls.is_none() && url.starts_with("https://") {
                last = format!("{url}: https:// without a TLS configuration ([etcd.tls])");
                continue;
            }
            let mut fresh = false;
            loop {
                let token = match self.token(endpoint, fresh) {
                    Ok(token) => token,
                    Err(EtcdError::Unreachable(e)) => {
                        last = e;
                        break;
                    }
                    Err(e) => return Err(e),
                };
                match self.send(&url, body, token.as_deref()) {
                    Ok((200, value)) => return Ok(value),
                    Ok((status, value)) => {
                        let message = error_message(&value);
                        if self.credentials.is_some() && !fresh && token_refused(&message) {
                            tracing::info!(target: "arbiter", endpoint, error = %message, "etcd refused the auth token: authenticating again");
                            fresh = true;
                            continue;
                        }
                        if auth_message(&message) {
                            let hint = if self.credentials.is_none() {
                                " (etcd needs authentication: set etcd.username and a password)"
                            } else {
                                " (the etcd user lacks a role with read-write access to the prefix: see arbiter's README, Security)"
                            };
                            let user = self
                                .credentials
                                .as_ref()
                                .map(|c| format!(" user `{}`:", c.username))
                                .unwrap_or_default();
                            return Err(EtcdError::Auth(format!(
                                "{url}:{user} HTTP {status}: {message}{}",
                                if message.contains("permission denied") || self.credentials.is_none() {
                                    hint
                                } else {
                                    ""
                                }
                            )));
                        }
                        return Err(EtcdError::Protocol(format!("{url}: HTTP {status}: {message}")));
                    }
                    Err(Ok(e)) => {
                        last = e;
                        break;
                    }
                    Err(Err(e)) => return Err(e),
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

    /// Writes `key` attached to `lease`, unconditionally; the revision of
    /// the write (the key's new mod revision).
    pub fn put_leased(&self, key: &str, value: &str, lease: i64) -> Result<i64, EtcdError> {
        let body = json!({ "key": b64(key), "value": b64(value), "lease": lease.to_string() });
        let v = self.post("kv/put", &body)?;
        header_revision(&v)
    }

    /// Deletes `entry` and `beat` in one transaction guarded by both:
    /// `entry`'s create revision is still `epoch` and `beat`'s mod
    /// revision still `beat_revision` (a silent leader deposed, issue 19);
    /// whether the guards held.
    pub fn delete_if_silent(&self, entry: &str, epoch: i64, beat: &str, beat_revision: i64) -> Result<bool, EtcdError> {
        let body = json!({
            "compare": [
                { "key": b64(entry), "target": "CREATE", "result": "EQUAL", "create_revision": epoch.to_string() },
                { "key": b64(beat), "target": "MOD", "result": "EQUAL", "mod_revision": beat_revision.to_string() },
            ],
            "success": [
                { "request_delete_range": { "key": b64(entry) } },
                { "request_delete_range": { "key": b64(beat) } },
            ],
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
    fn a_jwt_token_is_renewed_at_half_the_time_it_has_left() {
        let jwt = |payload: &str| {
            let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
            format!("{}.{}.c2ln", b(r#"{"alg":"ES256"}"#), b(payload))
        };
        let token = jwt(r#"{"exp":1000,"revision":3,"username":"arbiter"}"#);
        assert_eq!(renew_after(&token, 998.0), Duration::from_secs(1));
        assert_eq!(renew_after(&token, 999.5), Duration::from_millis(250));
        assert_eq!(renew_after(&token, 0.0), TOKEN_MAX_AGE, "at most TOKEN_MAX_AGE");
        assert_eq!(
            renew_after(&token, 1001.0),
            TOKEN_MAX_AGE,
            "expired by this clock: etcd's refusal decides"
        );
        // etcd's simple tokens, and anything unreadable.
        for other in [
            "sKXoYdbFTHvbHsKP.41",
            "",
            "a.b.c",
            &jwt(r#"{"username":"x"}"#),
            "a.b.c.d",
        ] {
            assert_eq!(renew_after(other, 998.0), TOKEN_MAX_AGE, "{other}");
        }
    }

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
