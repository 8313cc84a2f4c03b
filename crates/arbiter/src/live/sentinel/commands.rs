//! The commands, answered from the follower's [`GroupView`] only, in the
//! order Redis judges a request: an unknown command or subcommand, then
//! the number of arguments, then authentication, then what a RESP2
//! connection in subscribed mode may send; each with Redis's error texts.
//!
//! What a real Sentinel would say of an unknown master is said while there
//! is no group record (or while etcd has not answered for a lease TTL, so
//! that the record may have changed): `SENTINEL GET-MASTER-ADDR-BY-NAME`
//! is null, `SENTINEL MASTER` an error, `SENTINEL MASTERS` empty. The
//! primary named is always the record's.

use std::time::{Duration, Instant};

use super::codec::Reply;
use super::pubsub::Subscriptions;
use super::{SentinelOptions, Timing};
use crate::live::follow::{GroupView, Member, NodeEntry, split_addr};
use crate::types::Role;

/// The Redis version HELLO and INFO report: the Sentinel protocol served is
/// that of Redis 7.2 (the first with `CLIENT SETINFO`, which clients send).
pub const REDIS_VERSION: &str = "7.2.0";

/// One connection's state.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// Its id (`CLIENT ID`, `HELLO`'s `id`).
    pub id: u64,
    /// It speaks RESP3 (after `HELLO 3`).
    pub resp3: bool,
    /// It may run commands (no password is configured, or it sent the
    /// right one).
    pub authenticated: bool,
    /// `CLIENT SETNAME`.
    pub name: Option<Vec<u8>>,
    /// Its channels and patterns.
    pub subscriptions: Subscriptions,
}

/// What the server knows besides the view, for one request.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The `[sentinel]` configuration.
    pub options: &'a SentinelOptions,
    /// The group's timing.
    pub timing: &'a Timing,
    /// The view as the follower last shared it.
    pub view: &'a GroupView,
    /// Now.
    pub now: Instant,
    /// When the server started.
    pub started: Instant,
    /// This instance's Sentinel id ([`sentinel_id`]).
    pub myid: &'a str,
    /// Connections open now.
    pub clients: usize,
    /// The port the server listens on.
    pub port: u16,
}

/// What a request does to its connection: the replies to send, and
/// whether to close the connection after them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Replies, in order.
    pub replies: Vec<Reply>,
    /// Close once they are sent.
    pub close: bool,
}

impl Outcome {
    fn one(reply: Reply) -> Self {
        Self {
            replies: vec![reply],
            close: false,
        }
    }

    fn many(replies: Vec<Reply>) -> Self {
        Self { replies, close: false }
    }
}

/// A 40-hex-digit id for the instance labelled `instance`, the same
/// wherever it is computed (FNV-1a, not std's hasher, which may change
/// between Rust releases): `SENTINEL MYID` of one instance is the `runid`
/// every other lists it with.
pub fn sentinel_id(instance: &str) -> String {
    (0u64..3)
        .map(|round| {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ round.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            for b in instance.bytes() {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
            format!("{h:016x}")
        })
        .collect::<String>()[..40]
        .to_string()
}

/// Top-level commands served, with Redis's arity (negative: at least).
const COMMANDS: &[(&str, i32)] = &[
    ("auth", -2),
    ("client", -2),
    ("hello", -1),
    ("info", -1),
    ("ping", -1),
    ("psubscribe", -2),
    ("punsubscribe", -1),
    ("quit", -1),
    ("role", 1),
    ("sentinel", -2),
    ("subscribe", -2),
    ("unsubscribe", -1),
];

/// `SENTINEL` subcommands served, with their arity.
const SENTINEL_SERVED: &[(&str, i32)] = &[
    ("get-master-addr-by-name", 3),
    ("help", 2),
    ("master", 3),
    ("masters", 2),
    ("myid", 2),
    ("replicas", 3),
    ("sentinels", 3),
    ("slaves", 3),
];

/// `SENTINEL` subcommands a real Sentinel has and arbiter refuses, with
/// why.
const SENTINEL_REFUSED: &[(&str, &str)] = &[
    ("ckquorum", NO_QUORUM),
    ("config", CONFIGURED),
    ("debug", NO_QUORUM),
    ("failover", FAILOVER),
    ("flushconfig", CONFIGURED),
    ("info-cache", NO_QUORUM),
    ("is-master-down-by-addr", NO_QUORUM),
    ("monitor", CONFIGURED),
    ("pending-scripts", NO_QUORUM),
    ("remove", CONFIGURED),
    ("reset", CONFIGURED),
    ("set", CONFIGURED),
    ("simulate-failure", NO_QUORUM),
];

const CONFIGURED: &str = "the group is configured in arbiter.toml";
const FAILOVER: &str = "ask the leader for a switchover by writing the target node's name to PREFIX/switchover in etcd";
const NO_QUORUM: &str = "arbiter has no Sentinel quorum, votes, scripts or caches: its leader is elected through etcd";

/// `CLIENT` subcommands served, with their arity.
const CLIENT_SERVED: &[(&str, i32)] = &[("getname", 2), ("id", 2), ("setinfo", 4), ("setname", 3)];

fn lower(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_lowercase()
}

fn upper(b: &[u8]) -> Vec<u8> {
    b.to_ascii_uppercase()
}

/// Redis's text for an unknown command: the name and the first arguments,
/// each cut to what fits in 128 bytes, quoted, each followed by a space.
pub fn unknown_command(args: &[Vec<u8>]) -> Reply {
    let name = args.first().map(Vec::as_slice).unwrap_or_default();
    let name = &name[..name.len().min(128)];
    let mut text = b"unknown command '".to_vec();
    text.extend_from_slice(cstr(name));
    text.extend_from_slice(b"', with args beginning with: ");
    let mut listed: Vec<u8> = Vec::new();
    for arg in args.iter().skip(1) {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        let arg = cstr(arg);
        listed.push(b'\'');
        listed.extend_from_slice(&arg[..arg.len().min(room)]);
        listed.extend_from_slice(b"' ");
    }
    text.extend_from_slice(&listed);
    Reply::err(text)
}

/// The bytes C's `%s` prints of `b`: up to the first NUL.
fn cstr(b: &[u8]) -> &[u8] {
    b.split(|c| *c == 0).next().unwrap_or_default()
}

fn unknown_subcommand(args: &[Vec<u8>]) -> Reply {
    let mut text = b"unknown subcommand '".to_vec();
    let sub = cstr(&args[1]);
    text.extend_from_slice(&sub[..sub.len().min(128)]);
    text.extend_from_slice(b"'. Try ");
    text.extend_from_slice(&upper(&args[0]));
    text.extend_from_slice(b" HELP.");
    Reply::err(text)
}

fn arity_error(fullname: &str) -> Reply {
    Reply::err(format!("wrong number of arguments for '{fullname}' command"))
}

fn arity_ok(arity: i32, argc: usize) -> bool {
    if arity >= 0 {
        argc == arity as usize
    } else {
        argc >= arity.unsigned_abs() as usize
    }
}

/// What a request is, once judged to exist: its full name (`sentinel|masters`)
/// and its arity.
enum Known {
    /// Served: full name and arity.
    Served(String, i32),
    /// A `SENTINEL` subcommand arbiter refuses, and why.
    Refused(String, &'static str),
}

/// Whether `args` names a command served here, Redis's error otherwise.
fn lookup(args: &[Vec<u8>]) -> Result<Known, Reply> {
    let name = lower(&args[0]);
    let Some(&(_, arity)) = COMMANDS.iter().find(|(n, _)| *n == name) else {
        return Err(unknown_command(args));
    };
    let subcommands = match name.as_str() {
        "sentinel" => SENTINEL_SERVED,
        "client" => CLIENT_SERVED,
        _ => return Ok(Known::Served(name, arity)),
    };
    if args.len() < 2 {
        return Ok(Known::Served(name, arity));
    }
    let sub = lower(&args[1]);
    if let Some(&(_, arity)) = subcommands.iter().find(|(n, _)| *n == sub) {
        return Ok(Known::Served(format!("{name}|{sub}"), arity));
    }
    if name == "sentinel" {
        if let Some(&(_, why)) = SENTINEL_REFUSED.iter().find(|(n, _)| *n == sub) {
            return Ok(Known::Refused(sub.to_ascii_uppercase(), why));
        }
    }
    Err(unknown_subcommand(args))
}

/// Commands a client must not need to authenticate for.
const NO_AUTH: &[&str] = &["auth", "hello", "quit"];

/// Commands a RESP2 connection in subscribed mode may send.
const IN_SUBSCRIBED_MODE: &[&str] = &["ping", "subscribe", "psubscribe", "unsubscribe", "punsubscribe", "quit"];

/// Runs one request (`args` is not empty).
pub fn execute(ctx: &Context<'_>, session: &mut Session, args: &[Vec<u8>]) -> Outcome {
    if args.is_empty() {
        // (an empty request, `*0`: Redis answers nothing)
        return Outcome::default();
    }
    let (fullname, arity) = match lookup(args) {
        Err(reply) => return Outcome::one(reply),
        Ok(Known::Refused(sub, why)) => {
            if !session.authenticated {
                return Outcome::one(noauth());
            }
            return Outcome::one(Reply::err(format!("SENTINEL {sub} is not served by arbiter: {why}")));
        }
        Ok(Known::Served(fullname, arity)) => (fullname, arity),
    };
    if !arity_ok(arity, args.len()) {
        return Outcome::one(arity_error(&fullname));
    }
    let command = fullname.split('|').next().unwrap_or_default();
    if !session.authenticated && !NO_AUTH.contains(&command) {
        return Outcome::one(noauth());
    }
    if !session.resp3 && session.subscriptions.active() && !IN_SUBSCRIBED_MODE.contains(&command) {
        return Outcome::one(Reply::err(format!(
            "Can't execute '{fullname}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        )));
    }
    match fullname.as_str() {
        "auth" => Outcome::one(auth(ctx, session, args)),
        "hello" => Outcome::one(hello(ctx, session, args)),
        "ping" => Outcome::one(ping(session, args)),
        "quit" => Outcome {
            replies: vec![Reply::ok()],
            close: true,
        },
        "role" => Outcome::one(role(ctx)),
        "info" => Outcome::one(info(ctx, args)),
        "subscribe" => Outcome::many(session.subscriptions.subscribe(&args[1..], false)),
        "psubscribe" => Outcome::many(session.subscriptions.subscribe(&args[1..], true)),
        "unsubscribe" => Outcome::many(session.subscriptions.unsubscribe(&args[1..], false)),
        "punsubscribe" => Outcome::many(session.subscriptions.unsubscribe(&args[1..], true)),
        "client|getname" => Outcome::one(session.name.clone().map_or(Reply::NullBulk, Reply::Bulk)),
        "client|id" => Outcome::one(Reply::Int(session.id as i64)),
        "client|setname" => Outcome::one(match valid_attr(&args[2]) {
            true => {
                session.name = Some(args[2].clone()).filter(|n| !n.is_empty());
                Reply::ok()
            }
            false => Reply::err("Client names cannot contain spaces, newlines or special characters."),
        }),
        "client|setinfo" => Outcome::one(setinfo(args)),
        _ => Outcome::one(sentinel(ctx, &fullname, args)),
    }
}

fn noauth() -> Reply {
    Reply::error_line("NOAUTH Authentication required.")
}

fn wrongpass() -> Reply {
    Reply::error_line("WRONGPASS invalid username-password pair or user is disabled.")
}

/// Redis's `validateClientAttr`: printable ASCII without spaces.
fn valid_attr(value: &[u8]) -> bool {
    value.iter().all(|b| (b'!'..=b'~').contains(b))
}

/// Compares without stopping at the first difference.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `user` and `password` are accepted: the only user is
/// `default`; without a configured password any password is.
fn credentials_ok(ctx: &Context<'_>, user: &[u8], password: &[u8]) -> bool {
    user == b"default"
        && ctx
            .options
            .password
            .as_ref()
            .is_none_or(|p| same_secret(p.reveal().as_bytes(), password))
}

fn auth(ctx: &Context<'_>, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let (user, password) = match args.len() {
        2 if ctx.options.password.is_none() => {
            return Reply::err(
                "AUTH <password> called without any password configured for the default user. \
                 Are you sure your configuration is correct?",
            );
        }
        2 => (&b"default"[..], &args[1]),
        3 => (args[1].as_slice(), &args[2]),
        _ => return Reply::err("syntax error"),
    };
    if credentials_ok(ctx, user, password) {
        session.authenticated = true;
        Reply::ok()
    } else {
        wrongpass()
    }
}

fn hello(ctx: &Context<'_>, session: &mut Session, args: &[Vec<u8>]) -> Reply {
    let mut version = None;
    let mut next = 1;
    if args.len() >= 2 {
        match std::str::from_utf8(&args[1]).ok().and_then(|s| s.parse::<i64>().ok()) {
            Some(v) if (2..=3).contains(&v) => version = Some(v),
            Some(_) => return Reply::error_line("NOPROTO unsupported protocol version"),
            None => return Reply::err("Protocol version is not an integer or out of range"),
        }
        next = 2;
    }
    let mut credentials = None;
    let mut name = None;
    let mut j = next;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let option = lower(&args[j]);
        if option == "auth" && more >= 2 {
            credentials = Some((&args[j + 1], &args[j + 2]));
            j += 3;
        } else if option == "setname" && more >= 1 {
            if !valid_attr(&args[j + 1]) {
                return Reply::err("Client names cannot contain spaces, newlines or special characters.");
            }
            name = Some(args[j + 1].clone());
            j += 2;
        } else {
            let mut text = b"Syntax error in HELLO option '".to_vec();
            text.extend_from_slice(cstr(&args[j]));
            text.push(b'\'');
            return Reply::err(text);
        }
    }
    if let Some((user, password)) = credentials {
        if !credentials_ok(ctx, user, password) {
            return wrongpass();
        }
        session.authenticated = true;
    }
    if !session.authenticated {
        return Reply::error_line(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
             HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and \
             select the RESP protocol version at the same time",
        );
    }
    if let Some(name) = name {
        session.name = Some(name).filter(|n| !n.is_empty());
    }
    if let Some(v) = version {
        session.resp3 = v == 3;
    }
    Reply::map(vec![
        ("server", Reply::bulk("redis")),
        ("version", Reply::bulk(REDIS_VERSION)),
        ("proto", Reply::Int(if session.resp3 { 3 } else { 2 })),
        ("id", Reply::Int(session.id as i64)),
        ("mode", Reply::bulk("sentinel")),
        ("modules", Reply::Array(Vec::new())),
    ])
}

fn ping(session: &Session, args: &[Vec<u8>]) -> Reply {
    if args.len() > 2 {
        return arity_error("ping");
    }
    let message = args.get(1).cloned();
    if session.subscriptions.active() && !session.resp3 {
        return Reply::Array(vec![Reply::bulk("pong"), Reply::Bulk(message.unwrap_or_default())]);
    }
    message.map_or_else(|| Reply::Simple("PONG".into()), Reply::Bulk)
}

fn setinfo(args: &[Vec<u8>]) -> Reply {
    let attr = lower(&args[2]);
    if attr != "lib-name" && attr != "lib-ver" {
        let mut text = b"Unrecognized option '".to_vec();
        text.extend_from_slice(cstr(&args[2]));
        text.push(b'\'');
        return Reply::err(text);
    }
    if !valid_attr(&args[3]) {
        let mut text = cstr(&args[2]).to_vec();
        text.extend_from_slice(b" cannot contain spaces, newlines or special characters.");
        return Reply::err(text);
    }
    Reply::ok()
}

/// Milliseconds from `then` to `now` (0 without a `then`).
fn ms_since(now: Instant, then: Option<Instant>) -> u128 {
    then.map_or(0, |t| now.saturating_duration_since(t).as_millis())
}

/// The group as clients may be told of it: the recorded primary, while
/// the record is fresh (see the module docs).
fn primary<'v>(ctx: &Context<'v>) -> Option<&'v NodeEntry> {
    let fresh = ctx
        .view
        .etcd_ok
        .is_some_and(|t| ctx.now.saturating_duration_since(t) < ctx.timing.record_stale_after);
    if !fresh {
        return None;
    }
    ctx.view.primary()
}

/// The master's entry when `name` is the master's name.
fn master_named<'v>(ctx: &Context<'v>, name: &[u8]) -> Option<&'v NodeEntry> {
    (name == ctx.options.master_name.as_bytes())
        .then(|| primary(ctx))
        .flatten()
}

fn no_such_master() -> Reply {
    Reply::err("No such master with that name")
}

/// The other registered instances serving the Sentinel protocol: label,
/// host and port, in label order.
fn other_sentinels<'v>(ctx: &Context<'v>) -> Vec<(&'v Member, String, u16)> {
    ctx.view
        .members
        .values()
        .filter(|m| m.instance != ctx.view.instance)
        .filter_map(|m| {
            let (host, port) = split_addr(m.sentinel.as_deref()?)?;
            Some((m, host, port))
        })
        .collect()
}

fn replica_count(ctx: &Context<'_>) -> usize {
    ctx.view.nodes.len().saturating_sub(1)
}

/// Sentinel's flags of `node` in the role the record gives it.
fn flags(node: &NodeEntry, master: bool) -> String {
    let mut flags = Vec::new();
    if node.seen.down {
        flags.push("s_down");
        if master {
            flags.push("o_down");
        }
    }
    flags.push(if master { "master" } else { "slave" });
    if node.seen.error.is_some() {
        flags.push("disconnected");
    }
    flags.join(",")
}

/// The fields every master and replica entry starts with, as Sentinel's
/// `addReplySentinelRedisInstance` writes them.
fn instance_fields(ctx: &Context<'_>, node: &NodeEntry, master: bool) -> Vec<(&'static str, Reply)> {
    let now = ctx.now;
    let seen = &node.seen;
    let name = if master {
        ctx.options.master_name.clone()
    } else {
        format!("{}:{}", node.host, node.port)
    };
    let answered = seen.last_ok.or(seen.failing_since);
    let mut fields = vec![
        ("name", Reply::bulk(name)),
        ("ip", Reply::bulk(&node.host)),
        ("port", Reply::bulk_int(node.port)),
        (
            "runid",
            Reply::bulk(seen.status.as_ref().map(|s| s.run_id.as_str()).unwrap_or_default()),
        ),
        ("flags", Reply::bulk(flags(node, master))),
        ("link-pending-commands", Reply::bulk_int(0)),
        ("link-refcount", Reply::bulk_int(1)),
        (
            "last-ping-sent",
            Reply::bulk_int(if seen.error.is_some() {
                ms_since(now, seen.failing_since)
            } else {
                0
            }),
        ),
        ("last-ok-ping-reply", Reply::bulk_int(ms_since(now, answered))),
        ("last-ping-reply", Reply::bulk_int(ms_since(now, answered))),
    ];
    if seen.down {
        let down_after = Duration::from_millis(ctx.timing.down_after_ms);
        let since = answered.map(|t| (t + down_after).min(now));
        fields.push(("s-down-time", Reply::bulk_int(ms_since(now, since))));
        if master {
            fields.push(("o-down-time", Reply::bulk_int(ms_since(now, since))));
        }
    }
    let role = match seen.status.as_ref().map(|s| &s.role) {
        Some(Role::Primary) => "master",
        Some(Role::Replica { .. }) => "slave",
        None if master => "master",
        None => "slave",
    };
    fields.extend([
        ("down-after-milliseconds", Reply::bulk_int(ctx.timing.down_after_ms)),
        ("info-refresh", Reply::bulk_int(ms_since(now, seen.last_ok))),
        ("role-reported", Reply::bulk(role)),
        ("role-reported-time", Reply::bulk_int(ms_since(now, Some(ctx.started)))),
    ]);
    fields
}

fn master_entry(ctx: &Context<'_>, node: &NodeEntry) -> Reply {
    let mut fields = instance_fields(ctx, node, true);
    // The record's etcd revision, not its epoch: one leader's failover and
    // switchover share an epoch, while every new record has a higher
    // revision, so clients can order configurations by it.
    let epoch = ctx.view.record.as_ref().map_or(0, |r| r.revision);
    let replicas = replica_count(ctx);
    fields.extend([
        ("config-epoch", Reply::bulk_int(epoch)),
        ("num-slaves", Reply::bulk_int(replicas)),
        ("num-other-sentinels", Reply::bulk_int(other_sentinels(ctx).len())),
        ("quorum", Reply::bulk_int(1)),
        ("failover-timeout", Reply::bulk_int(ctx.timing.failover_timeout_ms)),
        // The leader repoints every replica at once.
        ("parallel-syncs", Reply::bulk_int(replicas.max(1))),
    ]);
    Reply::map(fields)
}

fn replica_entry(ctx: &Context<'_>, node: &NodeEntry) -> Reply {
    let mut fields = instance_fields(ctx, node, false);
    let (link_up, link_down_ms, primary) = match node.seen.status.as_ref().map(|s| &s.role) {
        Some(Role::Replica {
            primary,
            link_up,
            link_down_ms,
        }) => (
            *link_up,
            link_down_ms.filter(|ms| *ms != u64::MAX).unwrap_or(0),
            split_addr(primary),
        ),
        _ => (false, 0, None),
    };
    let (host, port) = primary.unwrap_or_else(|| ("?".into(), 0));
    fields.extend([
        ("master-link-down-time", Reply::bulk_int(link_down_ms)),
        ("master-link-status", Reply::bulk(if link_up { "ok" } else { "err" })),
        ("master-host", Reply::bulk(host)),
        ("master-port", Reply::bulk_int(port)),
        ("slave-priority", Reply::bulk_int(node.priority)),
        ("slave-repl-offset", Reply::bulk_int(node.offset().unwrap_or(0))),
        ("replica-announced", Reply::bulk_int(1)),
    ]);
    Reply::map(fields)
}

fn sentinel_entry(ctx: &Context<'_>, member: &Member, host: &str, port: u16) -> Reply {
    let id = sentinel_id(&member.instance);
    let seen = ms_since(ctx.now, ctx.view.etcd_ok);
    Reply::map(vec![
        ("name", Reply::bulk(&id)),
        ("ip", Reply::bulk(host)),
        ("port", Reply::bulk_int(port)),
        ("runid", Reply::bulk(&id)),
        ("flags", Reply::bulk("sentinel")),
        ("link-pending-commands", Reply::bulk_int(0)),
        ("link-refcount", Reply::bulk_int(1)),
        ("last-ping-sent", Reply::bulk_int(0)),
        ("last-ok-ping-reply", Reply::bulk_int(seen)),
        ("last-ping-reply", Reply::bulk_int(seen)),
        ("down-after-milliseconds", Reply::bulk_int(ctx.timing.down_after_ms)),
        ("last-hello-message", Reply::bulk_int(seen)),
        ("voted-leader", Reply::bulk("?")),
        ("voted-leader-epoch", Reply::bulk_int(0)),
    ])
}

fn sentinel(ctx: &Context<'_>, fullname: &str, args: &[Vec<u8>]) -> Reply {
    match fullname {
        "sentinel|masters" => Reply::Array(primary(ctx).map(|p| master_entry(ctx, p)).into_iter().collect()),
        "sentinel|master" => master_named(ctx, &args[2]).map_or_else(no_such_master, |p| master_entry(ctx, p)),
        "sentinel|replicas" | "sentinel|slaves" => match master_named(ctx, &args[2]) {
            Some(p) => Reply::Array(
                ctx.view
                    .nodes
                    .iter()
                    .filter(|n| n.name != p.name)
                    .map(|n| replica_entry(ctx, n))
                    .collect(),
            ),
            None => no_such_master(),
        },
        "sentinel|sentinels" => match master_named(ctx, &args[2]) {
            Some(_) => Reply::Array(
                other_sentinels(ctx)
                    .into_iter()
                    .map(|(m, host, port)| sentinel_entry(ctx, m, &host, port))
                    .collect(),
            ),
            None => no_such_master(),
        },
        "sentinel|get-master-addr-by-name" => match master_named(ctx, &args[2]) {
            Some(p) => Reply::Array(vec![Reply::bulk(&p.host), Reply::bulk_int(p.port)]),
            None => Reply::NullArray,
        },
        "sentinel|myid" => Reply::bulk(ctx.myid),
        _ => help(),
    }
}

fn help() -> Reply {
    let lines = [
        "SENTINEL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET-MASTER-ADDR-BY-NAME <master-name>",
        "    Return the ip and port number of the master with that name.",
        "MASTER <master-name>",
        "    Show the state and info of the specified master.",
        "MASTERS",
        "    Show a list of monitored masters and their state.",
        "MYID",
        "    Return the ID of the Sentinel instance.",
        "REPLICAS <master-name>",
        "    Show a list of replicas for this master and their state.",
        "SENTINELS <master-name>",
        "    Show a list of Sentinel instances for this master and their state.",
        "(served by arbiter: the group is configured in arbiter.toml; CKQUORUM, CONFIG, DEBUG,",
        "FAILOVER, FLUSHCONFIG, INFO-CACHE, IS-MASTER-DOWN-BY-ADDR, MONITOR, PENDING-SCRIPTS,",
        "REMOVE, RESET, SET and SIMULATE-FAILURE are refused)",
        "HELP",
        "    Print this help.",
    ];
    Reply::Array(lines.iter().map(|l| Reply::Simple((*l).into())).collect())
}

fn role(ctx: &Context<'_>) -> Reply {
    let names = primary(ctx)
        .map(|_| Reply::bulk(&ctx.options.master_name))
        .into_iter()
        .collect();
    Reply::Array(vec![Reply::bulk("sentinel"), Reply::Array(names)])
}

/// `INFO [section ...]`: `server`, `clients` and `sentinel` (the default
/// and `all`/`everything` give the three; `cpu` and `stats` are empty).
fn info(ctx: &Context<'_>, args: &[Vec<u8>]) -> Reply {
    let asked: Vec<String> = args[1..].iter().map(|a| lower(a)).collect();
    let all = asked.is_empty() || asked.iter().any(|s| s == "all" || s == "everything" || s == "default");
    let wants = |section: &str| all || asked.iter().any(|s| s == section);
    let mut sections = Vec::new();
    if wants("server") {
        let uptime = ctx.now.saturating_duration_since(ctx.started).as_secs();
        sections.push(format!(
            "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_mode:sentinel\r\narbiter_version:{}\r\n\
             process_id:{}\r\nrun_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\n",
            env!("CARGO_PKG_VERSION"),
            std::process::id(),
            ctx.myid,
            ctx.port,
            uptime / 86400
        ));
    }
    if wants("clients") {
        sections.push(format!(
            "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\n",
            ctx.clients, ctx.options.max_clients
        ));
    }
    if wants("sentinel") {
        let mut text = format!(
            "# Sentinel\r\nsentinel_masters:{}\r\nsentinel_tilt:0\r\nsentinel_tilt_since_seconds:-1\r\n\
             sentinel_running_scripts:0\r\nsentinel_scripts_queue_length:0\r\nsentinel_simulate_failure_flags:0\r\n",
            usize::from(primary(ctx).is_some())
        );
        if let Some(p) = primary(ctx) {
            let status = if p.seen.down { "odown" } else { "ok" };
            text.push_str(&format!(
                "master0:name={},status={status},address={}:{},slaves={},sentinels={}\r\n",
                ctx.options.master_name,
                p.host,
                p.port,
                replica_count(ctx),
                other_sentinels(ctx).len() + 1
            ));
        }
        sections.push(text);
    }
    Reply::Bulk(sections.join("\r\n").into_bytes())
}

#[cfg(test)]
mod tests;
