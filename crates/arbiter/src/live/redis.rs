//! Redis through the `redis` crate (sync): `INFO` read into a
//! [`NodeStatus`], and the reconfiguration commands arbiter issues
//! (`REPLICAOF`, `FAILOVER TO`), each under a connect and a command
//! timeout. Errors come back as [`RedisError`] values.
//!
//! A `REPLICAOF` (promote or repoint) is sent as Sentinel sends it, in
//! one `MULTI` with `CLIENT KILL TYPE normal` and `CLIENT KILL TYPE
//! pubsub`: every client of the node is disconnected as its role changes,
//! so that clients that never check roles reconnect and ask their
//! Sentinel (or arbiter's Sentinel port) for the primary again. The kills
//! skip the connection that sends them (Redis's `SKIPME yes`), and arbiter
//! opens a new connection for every command. Other instances' polls of
//! the node may fail once when cut. A node that refuses the transaction
//! (say `CLIENT` renamed or not allowed to this user: `EXECABORT`) is sent
//! the plain `REPLICAOF`, and the kills are skipped with a warning.
//!
//! Connections authenticate as the configured ACL user (`AUTH username
//! password`, or the `default` user), with the password read again at
//! every connection ([`crate::secret::Secret`]). A command the user may not
//! run (`NOPERM`) is a [`RedisError::Auth`] naming the command: the node
//! answers, arbiter cannot use it.
//!
//! With TLS ([`RedisNodes::with_tls`], `[redis.tls]`), every connection is
//! a [`crate::live::tls::RedisTlsConnection`] and `tls-replication yes` is
//! among the settings arbiter keeps on every node it manages
//! ([`RedisNodes::configure`]): the addresses it points replicas at are
//! TLS ports. A failed handshake is an authentication failure
//! ([`crate::live::tls::Tls::describe`]).
//!
//! Replicas authenticate to their primary as arbiter does, or with the
//! replication credentials when given ([`RedisNodes::with_replication`]):
//! a user that may run only what replication needs.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::secret::Secret;
use crate::types::{NodeStatus, RedisError, Role};

/// Connections to Redis nodes by address (`host:port`).
#[derive(Debug, Clone)]
pub struct RedisNodes {
    timeout: Duration,
    /// The ACL user (`None`: `default`).
    username: Option<String>,
    password: Option<Secret>,
    /// `[redis.tls]`: connect with TLS (`None`: plain TCP).
    tls: Option<crate::live::tls::Tls>,
    /// What replicas authenticate with (`None`: `username` and `password`).
    replication: Option<Replication>,
}

/// The credentials a replica authenticates to its primary with
/// (`masteruser`, `masterauth`): `[redis] replication_username` and
/// `replication_password` (or its file or variable). Without a user,
/// `masteruser` is cleared: the password is the `default` user's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replication {
    /// The ACL user (`None`: `default`; `masteruser` is cleared).
    pub username: Option<String>,
    /// Its password.
    pub password: Secret,
}

/// A connection, plain or TLS.
enum Connection {
    Plain(redis::Connection),
    Tls(Box<crate::live::tls::RedisTlsConnection>),
}

impl redis::ConnectionLike for Connection {
    fn req_packed_command(&mut self, cmd: &[u8]) -> redis::RedisResult<redis::Value> {
        match self {
            Self::Plain(c) => c.req_packed_command(cmd),
            Self::Tls(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> redis::RedisResult<Vec<redis::Value>> {
        match self {
            Self::Plain(c) => c.req_packed_commands(cmd, offset, count),
            Self::Tls(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        0
    }

    fn check_connection(&mut self) -> bool {
        match self {
            Self::Plain(c) => c.check_connection(),
            Self::Tls(c) => c.check_connection(),
        }
    }

    fn is_open(&self) -> bool {
        match self {
            Self::Plain(c) => c.is_open(),
            Self::Tls(c) => c.is_open(),
        }
    }
}

/// `INFO` text as `field -> value` (sections and comments dropped).
pub fn parse_info(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.trim_end_matches('\r').split_once(':'))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A node's status from its `INFO server` and `INFO replication` fields.
pub fn status_from_info(info: &BTreeMap<String, String>) -> Result<NodeStatus, String> {
    let field = |name: &str| info.get(name).ok_or_else(|| format!("INFO has no `{name}`"));
    let number =
        |name: &str| -> Result<i64, String> { field(name)?.parse::<i64>().map_err(|e| format!("INFO `{name}`: {e}")) };
    let role = match field("role")?.as_str() {
        "master" => Role::Primary,
        "slave" => {
            let link_up = field("master_link_status")? == "up";
            let down = info
                .get("master_link_down_since_seconds")
                .and_then(|s| s.parse::<i64>().ok())
                .filter(|s| *s >= 0);
            Role::Replica {
                primary: format!("{}:{}", field("master_host")?, field("master_port")?),
                link_up,
                // Redis reports -1 until the first link was made.
                link_down_ms: if link_up {
                    None
                } else {
                    Some(down.map_or(u64::MAX, |s| s as u64 * 1000))
                },
            }
        }
        other => return Err(format!("INFO role `{other}` is neither master nor slave")),
    };
    Ok(NodeStatus {
        role,
        run_id: field("run_id")?.clone(),
        replid: field("master_replid")?.clone(),
        replid2: info
            .get("master_replid2")
            .filter(|r| !r.is_empty() && r.bytes().any(|b| b != b'0'))
            .cloned(),
        offset: number("master_repl_offset")?.max(0) as u64,
        keys: Some(keys_in(info)),
        uptime_s: info.get("uptime_in_seconds").and_then(|s| s.parse::<u64>().ok()),
    })
}

/// Keys in every database, from `INFO keyspace` lines such as
/// `db0:keys=1000,expires=0,avg_ttl=0` (no line: no keys).
fn keys_in(info: &BTreeMap<String, String>) -> u64 {
    info.iter()
        .filter(|(k, _)| k.strip_prefix("db").is_some_and(|n| n.parse::<u32>().is_ok()))
        .filter_map(|(_, v)| v.split(',').find_map(|kv| kv.strip_prefix("keys=")))
        .filter_map(|n| n.parse::<u64>().ok())
        .sum()
}

/// Whether Redis refused the credentials: `NOAUTH` (a password is
/// required), `WRONGPASS` (Redis 6+), `-ERR invalid password` (older
/// servers), or the client's own "authentication failed" on `AUTH`.
fn is_auth_failure(e: &redis::RedisError) -> bool {
    if e.kind() == redis::ErrorKind::AuthenticationFailed {
        return true;
    }
    if matches!(e.code(), Some("NOAUTH" | "WRONGPASS")) {
        return true;
    }
    let text = e.to_string();
    [
        "NOAUTH",
        "WRONGPASS",
        "invalid password",
        "invalid username-password pair",
    ]
    .iter()
    .any(|m| text.contains(m))
}

/// Whether the server answered `e` (the command was refused, the
/// connection works), as opposed to a failure to reach it.
fn is_refused(e: &redis::RedisError) -> bool {
    !(e.is_timeout() || e.is_connection_refusal() || e.is_io_error() || e.is_connection_dropped() || is_auth_failure(e))
}

/// The command a `NOPERM` error names (`User arbiter has no permissions
/// to run the 'config|set' command`), if it is one.
fn refused_command(e: &redis::RedisError) -> Option<String> {
    let text = e.to_string();
    if e.code() != Some("NOPERM") && !text.to_ascii_uppercase().contains("NOPERM") {
        return None;
    }
    let after = text.split("to run the '").nth(1)?;
    after.split('\'').next().map(str::to_string)
}

fn classify(tls: Option<&crate::live::tls::Tls>, e: &redis::RedisError) -> RedisError {
    // A failed handshake first (its text may mention a refusal too), then
    // a command the user may not run, then a refused password.
    if let Some(tls) = tls.and_then(|t| t.describe(&e.to_string())) {
        RedisError::Auth(tls)
    } else if let Some(command) = refused_command(e) {
        // Like a refused password: the node answers, arbiter cannot use it
        // (a poll refused so is not an outage, see `RedisError::Auth`).
        RedisError::Auth(format!(
            "NOPERM: redis.username may not run `{command}` (grant it: see arbiter's README, Security): {e}"
        ))
    } else if is_auth_failure(e) {
        RedisError::Auth(e.to_string())
    } else if e.is_timeout() {
        RedisError::Timeout
    } else if e.is_connection_refusal() || e.is_io_error() || e.is_connection_dropped() {
        RedisError::Unreachable(e.to_string())
    } else {
        RedisError::Refused(e.to_string())
    }
}

fn host_port(addr: &str) -> Result<(&str, &str), RedisError> {
    addr.rsplit_once(':')
        .ok_or_else(|| RedisError::Refused(format!("`{addr}` is not host:port")))
}

impl RedisNodes {
    /// Connections with `timeout` for connecting and for each command, as
    /// the `default` user with `password` if given.
    pub fn new(timeout: Duration, password: Option<String>) -> Self {
        Self::authenticated(timeout, None, password.map(Secret::new))
    }

    /// Connections as the ACL user `username` (`None`: `default`) with
    /// `password` (read again at every connection when it comes from a
    /// file).
    pub fn authenticated(timeout: Duration, username: Option<String>, password: Option<Secret>) -> Self {
        Self {
            timeout,
            username,
            password,
            tls: None,
            replication: None,
        }
    }

    /// Replicas authenticate with `replication` (`None`: as arbiter does).
    #[must_use]
    pub fn with_replication(mut self, replication: Option<Replication>) -> Self {
        self.replication = replication;
        self
    }

    /// What a node's failure `e` is (see [`classify`]).
    fn classify(&self, e: &redis::RedisError) -> RedisError {
        classify(self.tls.as_ref(), e)
    }

    /// These connections over TLS with `tls` (`None`: plain TCP).
    #[must_use]
    pub fn with_tls(mut self, tls: Option<crate::live::tls::Tls>) -> Self {
        self.tls = tls;
        self
    }

    /// A connection to `addr`, authenticated: plain TCP through the
    /// `redis` crate, which sends `AUTH` itself (the password never in a
    /// URL an error could quote); TLS through
    /// [`crate::live::tls::RedisTlsConnection`], which is sent `AUTH`
    /// here, a refusal of it being an authentication failure as the
    /// crate's is. The library's `CLIENT SETINFO` is not sent, so that the
    /// ACL arbiter needs stays minimal.
    fn connect(&self, addr: &str) -> Result<Connection, RedisError> {
        let (host, port) = host_port(addr)?;
        let Some(tls) = &self.tls else {
            let info = redis::IntoConnectionInfo::into_connection_info(format!("redis://{host}:{port}/"))
                .map_err(|e| self.classify(&e))?;
            let mut settings = info.redis_settings().clone().set_skip_set_lib_name();
            if let Some(password) = &self.password {
                settings = settings.set_password(password.reveal());
                if let Some(user) = &self.username {
                    settings = settings.set_username(user);
                }
            }
            let client = redis::Client::open(info.set_redis_settings(settings)).map_err(|e| self.classify(&e))?;
            let con = client
                .get_connection_with_timeout(self.timeout)
                .map_err(|e| self.classify(&e))?;
            con.set_read_timeout(Some(self.timeout))
                .map_err(|e| self.classify(&e))?;
            con.set_write_timeout(Some(self.timeout))
                .map_err(|e| self.classify(&e))?;
            return Ok(Connection::Plain(con));
        };
        let mut con = Connection::Tls(Box::new(
            tls.redis_connection(addr, self.timeout)
                .map_err(|e| self.classify(&e))?,
        ));
        if let Some(password) = &self.password {
            let mut auth = redis::cmd("AUTH");
            if let Some(user) = &self.username {
                auth.arg(user);
            }
            auth.arg(password.reveal());
            let refused = |e: redis::RedisError| match e.kind() {
                redis::ErrorKind::Server(_) | redis::ErrorKind::Extension => {
                    RedisError::Auth(format!("AUTH refused: {e}"))
                }
                _ => self.classify(&e),
            };
            let () = auth.query(&mut con).map_err(|e| self.redact(refused(e)))?;
        }
        Ok(con)
    }

    fn query<T: redis::FromRedisValue>(&self, addr: &str, cmd: &redis::Cmd) -> Result<T, RedisError> {
        let mut con = self.connect(addr)?;
        cmd.query(&mut con).map_err(|e| self.classify(&e))
    }

    /// `INFO server replication keyspace` as a [`NodeStatus`] (one round
    /// trip; Redis 7 takes several sections).
    pub fn status(&self, addr: &str) -> Result<NodeStatus, RedisError> {
        let mut con = self.connect(addr)?;
        let text: String = redis::cmd("INFO")
            .arg("server")
            .arg("replication")
            .arg("keyspace")
            .query(&mut con)
            .map_err(|e| self.classify(&e))?;
        status_from_info(&parse_info(&text)).map_err(RedisError::Refused)
    }

    /// Whether the node runs in cluster mode (arbiter refuses those).
    pub fn is_cluster_enabled(&self, addr: &str) -> Result<bool, RedisError> {
        let text: String = self.query(addr, redis::cmd("INFO").arg("cluster"))?;
        Ok(parse_info(&text).get("cluster_enabled").is_some_and(|v| v == "1"))
    }

    /// `REPLICAOF NO ONE`, disconnecting the node's clients (see the
    /// module docs).
    pub fn promote(&self, addr: &str) -> Result<(), RedisError> {
        let mut cmd = redis::cmd("REPLICAOF");
        cmd.arg("NO").arg("ONE");
        self.reconfigure(addr, cmd)
    }

    /// `REPLICAOF host port`, disconnecting the node's clients (see the
    /// module docs).
    pub fn repoint(&self, addr: &str, primary: &str) -> Result<(), RedisError> {
        let (host, port) = host_port(primary)?;
        let mut cmd = redis::cmd("REPLICAOF");
        cmd.arg(host).arg(port);
        self.reconfigure(addr, cmd)
    }

    /// `MULTI`, `replicaof`, `CLIENT KILL TYPE normal`, `CLIENT KILL TYPE
    /// pubsub`, `EXEC`: the outcome is `replicaof`'s; a kill that fails is
    /// logged. A transaction the node aborts is retried as the plain
    /// `replicaof`.
    fn reconfigure(&self, addr: &str, replicaof: redis::Cmd) -> Result<(), RedisError> {
        let mut con = self.connect(addr)?;
        let mut pipe = redis::pipe();
        pipe.atomic().ignore_errors().add_command(replicaof.clone());
        for kind in ["normal", "pubsub"] {
            pipe.cmd("CLIENT").arg("KILL").arg("TYPE").arg(kind);
        }
        match pipe.query::<Vec<redis::RedisResult<redis::Value>>>(&mut con) {
            Ok(results) => {
                let mut results = results.into_iter();
                let outcome = match results.next() {
                    Some(Ok(_)) => Ok(()),
                    Some(Err(e)) => Err(self.classify(&e)),
                    None => Err(RedisError::Refused("EXEC returned no reply".into())),
                };
                for (kind, result) in ["normal", "pubsub"].iter().zip(results) {
                    if let Err(e) = result {
                        tracing::warn!(
                            target: "arbiter",
                            node = %addr,
                            kind,
                            error = %e,
                            "CLIENT KILL TYPE failed: the node's clients were not disconnected"
                        );
                    }
                }
                outcome
            }
            // The transaction aborted because `REPLICAOF` itself is not
            // allowed: sending it alone would be refused the same way.
            Err(e) if refused_command(&e).is_some_and(|c| c.eq_ignore_ascii_case("replicaof")) => {
                Err(self.classify(&e))
            }
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ExecAbort) || is_refused(&e) => {
                tracing::warn!(
                    target: "arbiter",
                    node = %addr,
                    error = %e,
                    "the node refused MULTI with CLIENT KILL: sent REPLICAOF alone, its clients stay connected"
                );
                replicaof.query(&mut con).map_err(|e| self.classify(&e))
            }
            Err(e) => Err(self.classify(&e)),
        }
    }

    /// `CONFIG SET min-replicas-to-write n min-replicas-max-lag lag_s`: a
    /// primary refuses writes (`NOREPLICAS`) without `n` replicas that
    /// acknowledged within `lag_s` seconds.
    pub fn set_min_replicas(&self, addr: &str, n: u32, lag_s: u32) -> Result<(), RedisError> {
        self.configure(addr, Some((n, lag_s)), false)
    }

    /// One `CONFIG SET` of what arbiter keeps on every node it manages:
    /// `min-replicas-to-write` and `min-replicas-max-lag` when `min_replicas`
    /// is given, and with `masterauth` the replication password as
    /// `masterauth` (and its ACL user as `masteruser`), so that a replica
    /// authenticates to whichever node is primary: the replication
    /// credentials when given ([`RedisNodes::with_replication`]), else this
    /// client's own; with TLS, `tls-replication yes` (whatever `masterauth`
    /// says: a replica must reach the primary's TLS port with TLS).
    /// Nothing to set is a success without a round trip. No password ever
    /// appears in an error.
    pub fn configure(&self, addr: &str, min_replicas: Option<(u32, u32)>, masterauth: bool) -> Result<(), RedisError> {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("SET");
        let mut any = false;
        if let Some((n, lag_s)) = min_replicas {
            cmd.arg("min-replicas-to-write")
                .arg(n)
                .arg("min-replicas-max-lag")
                .arg(lag_s);
            any = true;
        }
        // The user to set as masteruser: `Some("")` clears it (replication
        // credentials without a user: the `default` user's password).
        let replication = match &self.replication {
            Some(r) => Some((Some(r.username.as_deref().unwrap_or("")), &r.password)),
            None => self.password.as_ref().map(|p| (self.username.as_deref(), p)),
        };
        if let (true, Some((user, password))) = (masterauth, replication) {
            if let Some(user) = user {
                cmd.arg("masteruser").arg(user);
            }
            cmd.arg("masterauth").arg(password.reveal());
            any = true;
        }
        if self.tls.is_some() {
            cmd.arg("tls-replication").arg("yes");
            any = true;
        }
        if !any {
            return Ok(());
        }
        self.query(addr, &cmd).map_err(|e| self.redact(e))
    }

    /// `e` without any password in its text.
    fn redact(&self, e: RedisError) -> RedisError {
        let secrets: Vec<&Secret> = self
            .password
            .iter()
            .chain(self.replication.as_ref().map(|r| &r.password))
            .collect();
        if secrets.is_empty() {
            return e;
        }
        let clean = |s: String| secrets.iter().fold(s, |s, secret| secret.redact(&s));
        match e {
            RedisError::Unreachable(s) => RedisError::Unreachable(clean(s)),
            RedisError::Refused(s) => RedisError::Refused(clean(s)),
            RedisError::Auth(s) => RedisError::Auth(clean(s)),
            other => other,
        }
    }

    /// Whether the node runs in cluster mode, and its run id (one `INFO
    /// server cluster` round trip).
    pub fn cluster_enabled_and_run_id(&self, addr: &str) -> Result<(bool, String), RedisError> {
        let text: String = self.query(addr, redis::cmd("INFO").arg("server").arg("cluster"))?;
        let info = parse_info(&text);
        let enabled = info.get("cluster_enabled").is_some_and(|v| v == "1");
        Ok((enabled, info.get("run_id").cloned().unwrap_or_default()))
    }

    /// `FAILOVER TO host port TIMEOUT ms` on `primary`.
    pub fn failover(&self, primary: &str, target: &str, timeout_ms: u64) -> Result<(), RedisError> {
        let (host, port) = host_port(target)?;
        self.query(
            primary,
            redis::cmd("FAILOVER")
                .arg("TO")
                .arg(host)
                .arg(port)
                .arg("TIMEOUT")
                .arg(timeout_ms),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIMARY: &str = "# Server\r\nredis_version:7.0.15\r\nrun_id:6c0bd0c8e4fa1b3e1b6a7d0f2c3e4d5a6b7c8d9e\r\nuptime_in_seconds:42\r\n\r\n# Replication\r\nrole:master\r\nconnected_slaves:1\r\nslave0:ip=127.0.0.1,port=7002,state=online,offset=1234,lag=0\r\nmaster_failover_state:no-failover\r\nmaster_replid:2b6f1c8a9d0e4f5a6b7c8d9e0f1a2b3c4d5e6f70\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:1234\r\n";

    #[test]
    fn keys_are_summed_over_every_database() {
        let text =
            format!("{PRIMARY}# Keyspace\r\ndb0:keys=1000,expires=2,avg_ttl=0\r\ndb3:keys=5,expires=0,avg_ttl=0\r\n");
        assert_eq!(status_from_info(&parse_info(&text)).unwrap().keys, Some(1005));
    }

    const REPLICA: &str = "# Server\r\nrun_id:aa\r\n# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:7001\r\nmaster_link_status:down\r\nmaster_last_io_seconds_ago:-1\r\nmaster_link_down_since_seconds:3\r\nmaster_replid:bb\r\nmaster_repl_offset:1200\r\n";

    #[test]
    fn a_primary_s_info_reads_as_primary() {
        let s = status_from_info(&parse_info(PRIMARY)).unwrap();
        assert_eq!(s.role, Role::Primary);
        assert_eq!(s.offset, 1234);
        assert_eq!(s.keys, Some(0), "no keyspace line: no keys");
        assert_eq!(s.replid, "2b6f1c8a9d0e4f5a6b7c8d9e0f1a2b3c4d5e6f70");
        assert!(s.run_id.starts_with("6c0bd0c8"));
        assert_eq!(s.uptime_s, Some(42));
        assert_eq!(s.replid2, None, "000... is no history");
        let promoted = PRIMARY.replace(
            "master_replid2:0000000000000000000000000000000000000000",
            "master_replid2:9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b",
        );
        let s = status_from_info(&parse_info(&promoted)).unwrap();
        assert_eq!(s.replid2.as_deref(), Some("9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"));
    }

    #[test]
    fn a_replica_s_info_gives_its_primary_and_link() {
        let s = status_from_info(&parse_info(REPLICA)).unwrap();
        assert_eq!(
            s.role,
            Role::Replica {
                primary: "127.0.0.1:7001".into(),
                link_up: false,
                link_down_ms: Some(3000)
            }
        );
        assert_eq!(s.offset, 1200);
    }

    #[test]
    fn info_missing_a_field_is_an_error_naming_it() {
        let e = status_from_info(&parse_info("role:master\r\n")).unwrap_err();
        assert!(e.contains("run_id") || e.contains("master_replid"), "{e}");
    }

    #[test]
    fn an_unreachable_node_is_an_error_not_a_panic() {
        let nodes = RedisNodes::new(Duration::from_millis(200), None);
        assert!(matches!(nodes.status("127.0.0.1:1"), Err(RedisError::Unreachable(_))));
        assert!(matches!(nodes.status("no-port"), Err(RedisError::Refused(_))));
    }
}
