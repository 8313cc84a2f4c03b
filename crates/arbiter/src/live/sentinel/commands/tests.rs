//! Each command's reply, byte for byte, from a view built by hand; the
//! texts are those a real Sentinel (Redis 7.0.15) sent to the same
//! requests, except where the module docs say otherwise.

use std::collections::BTreeMap;

use super::*;
use crate::live::follow::fixtures::config;
use crate::live::follow::{GroupView, NodeSeen, RecordSeen, nodes_of};
use crate::types::{Epoch, GroupRecord, NodeStatus};

fn status(role: Role, offset: u64) -> NodeStatus {
    crate::live::follow::fixtures::status(role, offset, &"a".repeat(40), None)
}

/// r1 recorded primary and answering, r2 following it, r3 down; one other
/// instance registered besides this one.
fn view(now: Instant) -> GroupView {
    let mut nodes = nodes_of(&config());
    let ok = |status| NodeSeen {
        status: Some(status),
        last_ok: Some(now),
        polled: Some(now),
        ..NodeSeen::default()
    };
    nodes[0].seen = ok(status(Role::Primary, 500));
    nodes[1].seen = ok(status(
        Role::Replica {
            primary: "127.0.0.1:7001".into(),
            link_up: true,
            link_down_ms: None,
        },
        480,
    ));
    nodes[2].seen = NodeSeen {
        error: Some("unreachable".into()),
        failing_since: Some(now),
        polled: Some(now),
        down: true,
        ..NodeSeen::default()
    };
    let member = |label: &str, port: Option<u16>| Member {
        instance: label.into(),
        sentinel: port.map(|p| format!("127.0.0.1:{p}")),
        http: None,
    };
    GroupView {
        instance: "me-1".into(),
        nodes,
        record: Some(RecordSeen {
            record: GroupRecord {
                epoch: Epoch(7),
                primary: "r1".into(),
                run_id: None,
                lost_data: false,
            },
            revision: 12,
        }),
        leader: None,
        members: BTreeMap::from([
            ("me-1".into(), member("me-1", Some(26379))),
            ("other-2".into(), member("other-2", Some(26380))),
            ("http-only-3".into(), member("http-only-3", None)),
        ]),
        etcd_error: None,
        etcd_ok: Some(now),
    }
}

struct Rig {
    options: SentinelOptions,
    timing: Timing,
    view: GroupView,
    now: Instant,
}

impl Rig {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            options: SentinelOptions::default(),
            timing: Timing {
                down_after_ms: 3000,
                failover_timeout_ms: 5000,
                record_stale_after: Duration::from_secs(5),
            },
            view: view(now),
            now,
        }
    }

    fn ctx(&self) -> Context<'_> {
        Context {
            options: &self.options,
            timing: &self.timing,
            view: &self.view,
            now: self.now,
            started: self.now,
            myid: "0123456789012345678901234567890123456789",
            clients: 1,
            port: 26379,
        }
    }

    /// The bytes `command` (split on spaces) gets.
    fn run(&self, session: &mut Session, command: &str) -> String {
        let args: Vec<Vec<u8>> = command.split(' ').map(|a| a.as_bytes().to_vec()).collect();
        let outcome = execute(&self.ctx(), session, &args);
        let mut out = Vec::new();
        for r in &outcome.replies {
            r.encode(session.resp3, &mut out);
        }
        String::from_utf8(out).unwrap()
    }
}

fn session() -> Session {
    Session {
        id: 4,
        authenticated: true,
        ..Session::default()
    }
}

#[test]
fn hello_answers_as_sentinel_does_in_both_protocols() {
    let rig = Rig::new();
    let mut s = session();
    assert_eq!(
        rig.run(&mut s, "HELLO 3"),
        "%6\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n7.2.0\r\n$5\r\nproto\r\n:3\r\n\
         $2\r\nid\r\n:4\r\n$4\r\nmode\r\n$8\r\nsentinel\r\n$7\r\nmodules\r\n*0\r\n"
    );
    assert!(s.resp3);
    assert!(rig.run(&mut s, "HELLO 2").starts_with("*12\r\n$6\r\nserver\r\n"));
    assert!(!s.resp3);
    assert_eq!(rig.run(&mut s, "HELLO 4"), "-NOPROTO unsupported protocol version\r\n");
    assert_eq!(
        rig.run(&mut s, "HELLO x"),
        "-ERR Protocol version is not an integer or out of range\r\n"
    );
    assert_eq!(
        rig.run(&mut s, "hello 2 auth a"),
        "-ERR Syntax error in HELLO option 'auth'\r\n"
    );
    rig.run(&mut s, "HELLO 3 SETNAME app");
    assert_eq!(rig.run(&mut s, "CLIENT GETNAME"), "$3\r\napp\r\n");
}

#[test]
fn auth_follows_redis_with_and_without_a_password() {
    let mut rig = Rig::new();
    let mut s = session();
    assert_eq!(
        rig.run(&mut s, "AUTH x"),
        "-ERR AUTH <password> called without any password configured for the default user. \
         Are you sure your configuration is correct?\r\n"
    );
    assert_eq!(rig.run(&mut s, "AUTH default x"), "+OK\r\n");
    let wrong = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    assert_eq!(rig.run(&mut s, "AUTH bob x"), wrong);
    assert_eq!(rig.run(&mut s, "AUTH a b c"), "-ERR syntax error\r\n");

    rig.options.password = Some(crate::secret::Secret::new("pw"));
    let mut s = Session {
        id: 5,
        ..Session::default()
    };
    assert_eq!(rig.run(&mut s, "PING"), "-NOAUTH Authentication required.\r\n");
    assert_eq!(
        rig.run(&mut s, "SENTINEL MASTERS"),
        "-NOAUTH Authentication required.\r\n"
    );
    assert!(rig.run(&mut s, "HELLO 3").starts_with("-NOAUTH HELLO must be called"));
    assert_eq!(
        rig.run(&mut s, "FOO"),
        "-ERR unknown command 'FOO', with args beginning with: \r\n",
        "an unknown command is judged before authentication, as in Redis"
    );
    assert_eq!(rig.run(&mut s, "AUTH bad"), wrong);
    assert_eq!(rig.run(&mut s, "AUTH default bad"), wrong);
    assert_eq!(rig.run(&mut s, "HELLO 3 AUTH bob pw"), wrong);
    assert_eq!(rig.run(&mut s, "AUTH pw"), "+OK\r\n");
    assert_eq!(rig.run(&mut s, "PING"), "+PONG\r\n");
    let mut s = Session {
        id: 6,
        ..Session::default()
    };
    assert!(rig.run(&mut s, "HELLO 2 AUTH default pw").starts_with("*12\r\n"));
    assert!(s.authenticated);
}

#[test]
fn unknown_commands_and_arities_have_redis_s_texts() {
    let rig = Rig::new();
    let mut s = session();
    assert_eq!(
        rig.run(&mut s, "FOO bar baz"),
        "-ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' \r\n"
    );
    assert_eq!(
        rig.run(&mut s, "SELECT 0"),
        "-ERR unknown command 'SELECT', with args beginning with: '0' \r\n"
    );
    let long = format!("GET {} y", "x".repeat(200));
    assert_eq!(
        rig.run(&mut s, &long),
        format!(
            "-ERR unknown command 'GET', with args beginning with: '{}' \r\n",
            "x".repeat(128)
        )
    );
    assert_eq!(
        rig.run(&mut s, "SENTINEL FOO"),
        "-ERR unknown subcommand 'FOO'. Try SENTINEL HELP.\r\n"
    );
    assert_eq!(
        rig.run(&mut s, "SENTINEL MASTERS x"),
        "-ERR wrong number of arguments for 'sentinel|masters' command\r\n"
    );
    assert_eq!(
        rig.run(&mut s, "sentinel"),
        "-ERR wrong number of arguments for 'sentinel' command\r\n"
    );
    assert_eq!(
        rig.run(&mut s, "CLIENT FOO"),
        "-ERR unknown subcommand 'FOO'. Try CLIENT HELP.\r\n"
    );
    assert_eq!(
        rig.run(&mut s, "PING a b"),
        "-ERR wrong number of arguments for 'ping' command\r\n"
    );
    assert!(
        rig.run(&mut s, "SENTINEL FAILOVER mymaster")
            .starts_with("-ERR SENTINEL FAILOVER is not served by arbiter: ")
    );
    assert!(
        rig.run(&mut s, "SENTINEL set mymaster quorum 2")
            .starts_with("-ERR SENTINEL SET is not served by arbiter: the group is configured in arbiter.toml")
    );
}

#[test]
fn the_connection_commands_answer_as_redis_does() {
    let rig = Rig::new();
    let mut s = session();
    assert_eq!(rig.run(&mut s, "PING"), "+PONG\r\n");
    assert_eq!(rig.run(&mut s, "PING hi"), "$2\r\nhi\r\n");
    assert_eq!(rig.run(&mut s, "CLIENT GETNAME"), "$-1\r\n");
    assert_eq!(rig.run(&mut s, "CLIENT SETNAME x"), "+OK\r\n");
    assert_eq!(rig.run(&mut s, "CLIENT GETNAME"), "$1\r\nx\r\n");
    assert_eq!(rig.run(&mut s, "CLIENT ID"), ":4\r\n");
    assert_eq!(rig.run(&mut s, "CLIENT SETINFO LIB-NAME redis-py"), "+OK\r\n");
    assert_eq!(rig.run(&mut s, "CLIENT SETINFO lib-ver 5.0"), "+OK\r\n");
    assert_eq!(
        rig.run(&mut s, "CLIENT SETINFO X y"),
        "-ERR Unrecognized option 'X'\r\n"
    );
    let args = vec![b"CLIENT".to_vec(), b"SETNAME".to_vec(), b"a b".to_vec()];
    assert_eq!(
        execute(&rig.ctx(), &mut s, &args).replies,
        [Reply::err(
            "Client names cannot contain spaces, newlines or special characters."
        )]
    );
    let quit = execute(&rig.ctx(), &mut s, &[b"QUIT".to_vec()]);
    assert_eq!(quit.replies, [Reply::ok()]);
    assert!(quit.close);
    assert_eq!(
        rig.run(&mut s, "ROLE"),
        "*2\r\n$8\r\nsentinel\r\n*1\r\n$8\r\nmymaster\r\n"
    );
    assert_eq!(
        rig.run(&mut s, "SENTINEL MYID"),
        "$40\r\n0123456789012345678901234567890123456789\r\n"
    );
}

#[test]
fn the_master_is_the_recorded_primary_with_sentinel_s_fields() {
    let rig = Rig::new();
    let mut s = session();
    assert_eq!(
        rig.run(&mut s, "SENTINEL GET-MASTER-ADDR-BY-NAME mymaster"),
        "*2\r\n$9\r\n127.0.0.1\r\n$4\r\n7001\r\n"
    );
    assert_eq!(rig.run(&mut s, "SENTINEL get-master-addr-by-name other"), "*-1\r\n");
    let masters = rig.run(&mut s, "SENTINEL MASTERS");
    let expected = [
        "*1\r\n*40\r\n",
        "$4\r\nname\r\n$8\r\nmymaster\r\n",
        "$2\r\nip\r\n$9\r\n127.0.0.1\r\n",
        "$4\r\nport\r\n$4\r\n7001\r\n",
        "$5\r\nrunid\r\n$40\r\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
        "$5\r\nflags\r\n$6\r\nmaster\r\n",
        "$21\r\nlink-pending-commands\r\n$1\r\n0\r\n",
        "$13\r\nlink-refcount\r\n$1\r\n1\r\n",
        "$14\r\nlast-ping-sent\r\n$1\r\n0\r\n",
        "$18\r\nlast-ok-ping-reply\r\n$1\r\n0\r\n",
        "$15\r\nlast-ping-reply\r\n$1\r\n0\r\n",
        "$23\r\ndown-after-milliseconds\r\n$4\r\n3000\r\n",
        "$12\r\ninfo-refresh\r\n$1\r\n0\r\n",
        "$13\r\nrole-reported\r\n$6\r\nmaster\r\n",
        "$18\r\nrole-reported-time\r\n$1\r\n0\r\n",
        "$12\r\nconfig-epoch\r\n$2\r\n12\r\n",
        "$10\r\nnum-slaves\r\n$1\r\n2\r\n",
        "$19\r\nnum-other-sentinels\r\n$1\r\n1\r\n",
        "$6\r\nquorum\r\n$1\r\n1\r\n",
        "$16\r\nfailover-timeout\r\n$4\r\n5000\r\n",
        "$14\r\nparallel-syncs\r\n$1\r\n2\r\n",
    ]
    .concat();
    assert_eq!(masters, expected);
    s.resp3 = true;
    assert!(
        rig.run(&mut s, "SENTINEL MASTER mymaster")
            .starts_with("%20\r\n$4\r\nname\r\n")
    );
    assert_eq!(
        rig.run(&mut s, "SENTINEL MASTER nope"),
        "-ERR No such master with that name\r\n"
    );
}

#[test]
fn replicas_are_every_other_configured_node_as_last_polled() {
    let rig = Rig::new();
    let mut s = session();
    s.resp3 = true;
    let replicas = rig.run(&mut s, "SENTINEL REPLICAS mymaster");
    assert!(
        replicas.starts_with("*2\r\n%21\r\n$4\r\nname\r\n$14\r\n127.0.0.1:7002\r\n"),
        "{replicas}"
    );
    for field in [
        "$5\r\nflags\r\n$5\r\nslave\r\n",
        "$18\r\nmaster-link-status\r\n$2\r\nok\r\n",
        "$11\r\nmaster-host\r\n$9\r\n127.0.0.1\r\n",
        "$11\r\nmaster-port\r\n$4\r\n7001\r\n",
        "$14\r\nslave-priority\r\n$3\r\n100\r\n",
        "$17\r\nslave-repl-offset\r\n$3\r\n480\r\n",
        "$17\r\nreplica-announced\r\n$1\r\n1\r\n",
        // r3 is down: flagged as Sentinel flags it, with its s-down-time.
        "%22\r\n$4\r\nname\r\n$14\r\n127.0.0.1:7003\r\n",
        "$5\r\nflags\r\n$25\r\ns_down,slave,disconnected\r\n",
        "$11\r\ns-down-time\r\n$1\r\n0\r\n",
        "$18\r\nmaster-link-status\r\n$3\r\nerr\r\n$11\r\nmaster-host\r\n$1\r\n?\r\n$11\r\nmaster-port\r\n$1\r\n0\r\n",
    ] {
        assert!(replicas.contains(field), "{field:?} in {replicas}");
    }
    assert_eq!(
        rig.run(&mut s, "SENTINEL SLAVES mymaster"),
        replicas,
        "SLAVES is REPLICAS"
    );
}

#[test]
fn sentinels_are_the_other_registered_instances_serving_the_protocol() {
    let rig = Rig::new();
    let mut s = session();
    let sentinels = rig.run(&mut s, "SENTINEL SENTINELS mymaster");
    let id = sentinel_id("other-2");
    assert!(
        sentinels.starts_with(&format!(
            "*1\r\n*28\r\n$4\r\nname\r\n$40\r\n{id}\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$4\r\nport\r\n$5\r\n26380\r\n\
             $5\r\nrunid\r\n$40\r\n{id}\r\n$5\r\nflags\r\n$8\r\nsentinel\r\n"
        )),
        "{sentinels}"
    );
    assert!(sentinels.ends_with("$12\r\nvoted-leader\r\n$1\r\n?\r\n$18\r\nvoted-leader-epoch\r\n$1\r\n0\r\n"));
    assert_eq!(sentinel_id("other-2").len(), 40);
    assert_ne!(sentinel_id("other-2"), sentinel_id("other-3"));
    assert!(sentinel_id("x").bytes().all(|b| b.is_ascii_hexdigit()));
}

#[test]
fn info_has_sentinel_s_section() {
    let rig = Rig::new();
    let mut s = session();
    let info = rig.run(&mut s, "INFO sentinel");
    let body = "# Sentinel\r\nsentinel_masters:1\r\nsentinel_tilt:0\r\nsentinel_tilt_since_seconds:-1\r\n\
                sentinel_running_scripts:0\r\nsentinel_scripts_queue_length:0\r\nsentinel_simulate_failure_flags:0\r\n\
                master0:name=mymaster,status=ok,address=127.0.0.1:7001,slaves=2,sentinels=2\r\n";
    assert_eq!(info, format!("${}\r\n{body}\r\n", body.len()));
    let all = rig.run(&mut s, "INFO");
    assert!(
        all.contains("# Server\r\nredis_version:7.2.0\r\nredis_mode:sentinel\r\n"),
        "{all}"
    );
    assert!(all.contains("\r\n\r\n# Clients\r\nconnected_clients:1\r\n"), "{all}");
    assert!(all.contains("\r\n\r\n# Sentinel\r\n"), "{all}");
}

#[test]
fn without_a_fresh_record_the_master_is_unknown_as_sentinel_says_it() {
    let mut rig = Rig::new();
    rig.view.record = None;
    let mut s = session();
    for resp3 in [false, true] {
        s.resp3 = resp3;
        let null = if resp3 { "_\r\n" } else { "*-1\r\n" };
        assert_eq!(rig.run(&mut s, "SENTINEL GET-MASTER-ADDR-BY-NAME mymaster"), null);
        assert_eq!(rig.run(&mut s, "SENTINEL MASTERS"), "*0\r\n");
        assert_eq!(
            rig.run(&mut s, "SENTINEL REPLICAS mymaster"),
            "-ERR No such master with that name\r\n"
        );
        assert_eq!(rig.run(&mut s, "ROLE"), "*2\r\n$8\r\nsentinel\r\n*0\r\n");
    }
    assert!(rig.run(&mut s, "INFO sentinel").contains("sentinel_masters:0\r\n"));
    // A record etcd has not confirmed for a lease TTL is not given out.
    let mut rig = Rig::new();
    rig.view.etcd_ok = Some(rig.now - Duration::from_secs(6));
    assert_eq!(
        rig.run(&mut session(), "SENTINEL GET-MASTER-ADDR-BY-NAME mymaster"),
        "*-1\r\n"
    );
    // Nor one naming a node no longer configured.
    let mut rig = Rig::new();
    if let Some(r) = rig.view.record.as_mut() {
        r.record.primary = "r9".into();
    }
    assert_eq!(
        rig.run(&mut session(), "SENTINEL GET-MASTER-ADDR-BY-NAME mymaster"),
        "*-1\r\n"
    );
}

#[test]
fn a_down_master_is_flagged_s_down_and_o_down() {
    let mut rig = Rig::new();
    rig.view.nodes[0].seen.down = true;
    rig.view.nodes[0].seen.error = Some("refused".into());
    let mut s = session();
    let master = rig.run(&mut s, "SENTINEL MASTER mymaster");
    assert!(
        master.contains("$5\r\nflags\r\n$33\r\ns_down,o_down,master,disconnected\r\n"),
        "{master}"
    );
    assert!(master.contains("$11\r\ns-down-time\r\n") && master.contains("$11\r\no-down-time\r\n"));
    assert!(rig.run(&mut s, "INFO sentinel").contains("status=odown"));
    assert_eq!(
        rig.run(&mut s, "SENTINEL GET-MASTER-ADDR-BY-NAME mymaster"),
        "*2\r\n$9\r\n127.0.0.1\r\n$4\r\n7001\r\n",
        "the recorded primary, down or not, until the record changes"
    );
}

#[test]
fn a_resp2_subscriber_may_only_subscribe_ping_and_quit() {
    let rig = Rig::new();
    let mut s = session();
    assert_eq!(
        rig.run(&mut s, "SUBSCRIBE a b"),
        "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n"
    );
    assert_eq!(rig.run(&mut s, "PING"), "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    assert_eq!(rig.run(&mut s, "PING x"), "*2\r\n$4\r\npong\r\n$1\r\nx\r\n");
    assert_eq!(
        rig.run(&mut s, "SENTINEL MASTERS"),
        "-ERR Can't execute 'sentinel|masters': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET \
         are allowed in this context\r\n"
    );
    assert_eq!(
        rig.run(&mut s, "SUBSCRIBE"),
        "-ERR wrong number of arguments for 'subscribe' command\r\n"
    );
    // In RESP3 every command is allowed.
    s.resp3 = true;
    assert!(rig.run(&mut s, "SENTINEL MASTERS").starts_with("*1\r\n%20\r\n"));
    assert_eq!(rig.run(&mut s, "PING"), "+PONG\r\n");
}

use proptest::strategy::Strategy as _;

proptest::proptest! {
    /// Any arguments, in either protocol, authenticated or not: replies
    /// that encode, never a panic.
    #[test]
    fn any_command_is_answered_without_a_panic(
        args in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::sample::select(vec![
                    "SENTINEL", "sentinel", "HELLO", "AUTH", "CLIENT", "SUBSCRIBE", "PSUBSCRIBE",
                    "UNSUBSCRIBE", "PUNSUBSCRIBE", "PING", "INFO", "ROLE", "QUIT", "masters", "master",
                    "replicas", "slaves", "sentinels", "get-master-addr-by-name", "mymaster", "setname",
                    "setinfo", "3", "2", "4", "-1", "default", "x", "",
                ])
                .prop_map(|s| s.as_bytes().to_vec()),
                proptest::collection::vec(proptest::num::u8::ANY, 0..40),
            ],
            0..6,
        ),
        resp3 in proptest::bool::ANY,
        authenticated in proptest::bool::ANY,
        password in proptest::bool::ANY,
    ) {
        let mut rig = Rig::new();
        if password {
            rig.options.password = Some(crate::secret::Secret::new("pw"));
        }
        let mut session = Session { id: 1, resp3, authenticated, ..Session::default() };
        let outcome = execute(&rig.ctx(), &mut session, &args);
        let mut out = Vec::new();
        for r in &outcome.replies {
            r.encode(session.resp3, &mut out);
        }
    }
}
