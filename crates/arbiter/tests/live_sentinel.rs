//! The Sentinel protocol of `arbiter run` on real servers: three instances
//! (the real binary, each with its own `[sentinel]` port) over three
//! `redis-server` nodes and etcd, asked in raw RESP and checked byte for
//! byte, through a failover (the primary SIGKILLed); the limits on bad,
//! huge, idle and too many clients; and the same requests put to a real
//! `redis-server --sentinel` over a group of its own, to show that the
//! replies match the real Sentinel's, not our reading of it.

use arbiter_testkit::servers as support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arbiter::live::etcd::Etcd;
use arbiter::types::GroupRecord;

fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    support::eventually(what, Duration::from_secs(30), f)
}

/// One RESP value as read off the wire.
#[derive(Debug, Clone, PartialEq)]
enum V {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Null,
    Array(Vec<Self>),
    Map(Vec<(Self, Self)>),
    Push(Vec<Self>),
}

impl V {
    fn text(&self) -> String {
        match self {
            Self::Simple(s) | Self::Error(s) => s.clone(),
            Self::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            Self::Int(n) => n.to_string(),
            other => format!("{other:?}"),
        }
    }

    fn items(&self) -> &[Self] {
        match self {
            Self::Array(v) | Self::Push(v) => v,
            other => panic!("not an array: {other:?}"),
        }
    }

    /// A RESP2 flat array or a RESP3 map, as (field, value) texts.
    fn fields(&self) -> Vec<(String, String)> {
        match self {
            Self::Map(pairs) => pairs.iter().map(|(k, v)| (k.text(), v.text())).collect(),
            Self::Array(items) => items.chunks(2).map(|p| (p[0].text(), p[1].text())).collect(),
            other => panic!("not a map: {other:?}"),
        }
    }

    fn field(&self, name: &str) -> String {
        self.fields()
            .into_iter()
            .find(|(k, _)| k == name)
            .unwrap_or_else(|| panic!("no {name} in {self:?}"))
            .1
    }
}

/// The first value in `buf` from `pos`, and where it ends; `None` when
/// incomplete.
fn parse(buf: &[u8], pos: usize) -> Option<(V, usize)> {
    let cr = pos + buf.get(pos..)?.windows(2).position(|w| w == b"\r\n")?;
    let line = String::from_utf8_lossy(&buf[pos + 1..cr]).into_owned();
    let next = cr + 2;
    let n = || line.parse::<i64>().unwrap();
    let many = |count: i64, mut at: usize| -> Option<(Vec<V>, usize)> {
        let mut items = Vec::new();
        for _ in 0..count {
            let (v, end) = parse(buf, at)?;
            items.push(v);
            at = end;
        }
        Some((items, at))
    };
    match buf[pos] {
        b'+' => Some((V::Simple(line), next)),
        b'-' => Some((V::Error(line), next)),
        b':' => Some((V::Int(n()), next)),
        b'_' => Some((V::Null, next)),
        b'$' if n() < 0 => Some((V::Null, next)),
        b'$' => {
            let end = next + n() as usize;
            (buf.len() >= end + 2).then(|| (V::Bulk(buf[next..end].to_vec()), end + 2))
        }
        b'*' if n() < 0 => Some((V::Null, next)),
        b'*' => many(n(), next).map(|(v, e)| (V::Array(v), e)),
        b'>' => many(n(), next).map(|(v, e)| (V::Push(v), e)),
        b'%' => many(n() * 2, next).map(|(v, e)| {
            let pairs = v.chunks(2).map(|p| (p[0].clone(), p[1].clone())).collect();
            (V::Map(pairs), e)
        }),
        other => panic!(
            "unexpected reply type {:?} in {:?}",
            other as char,
            String::from_utf8_lossy(buf)
        ),
    }
}

/// A raw RESP connection.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    fn open(addr: &str) -> Self {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, args: &[&str]) {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        self.stream.write_all(&out).unwrap();
    }

    /// The next reply and its bytes.
    fn reply(&mut self) -> (V, Vec<u8>) {
        loop {
            if let Some((v, end)) = (!self.buf.is_empty()).then(|| parse(&self.buf, 0)).flatten() {
                let raw: Vec<u8> = self.buf.drain(..end).collect();
                return (v, raw);
            }
            let mut chunk = [0u8; 65536];
            let n = self.stream.read(&mut chunk).expect("a reply");
            assert!(
                n > 0,
                "closed while waiting for a reply; got {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn call(&mut self, args: &[&str]) -> (V, String) {
        self.send(args);
        let (v, raw) = self.reply();
        (v, String::from_utf8_lossy(&raw).into_owned())
    }

    /// Whether the peer has closed the connection (within the timeout).
    fn closed_by_peer(&mut self) -> bool {
        let mut chunk = [0u8; 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) => return e.kind() == std::io::ErrorKind::ConnectionReset,
            }
        }
    }
}

fn spawn(config: &Path, log: &Path) -> support::Guard {
    let log = std::fs::File::create(log).unwrap();
    support::Guard::new(
        Command::new(env!("CARGO_BIN_EXE_arbiter"))
            .args(["run", "--config"])
            .arg(config)
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap(),
    )
}

/// Stops `guard` with SIGTERM; its exit code.
fn stop(guard: support::Guard) -> Option<i32> {
    let child: Child = guard.take();
    support::signal(&child, "-TERM");
    support::wait_exit(child).0
}

/// `ip port` of the master, as `SENTINEL GET-MASTER-ADDR-BY-NAME` says.
fn master_addr(addr: &str) -> Option<String> {
    TcpStream::connect(addr).ok()?;
    let (v, _) = Conn::open(addr).call(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"]);
    match v {
        V::Array(items) => Some(format!("{}:{}", items[0].text(), items[1].text())),
        _ => None,
    }
}

fn hello_bytes(proto: u8, version: &str, id: i64) -> String {
    let (kind, n) = if proto == 3 { ('%', 6) } else { ('*', 12) };
    format!(
        "{kind}{n}\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n${}\r\n{version}\r\n$5\r\nproto\r\n:{proto}\r\n\
         $2\r\nid\r\n:{id}\r\n$4\r\nmode\r\n$8\r\nsentinel\r\n$7\r\nmodules\r\n*0\r\n",
        version.len()
    )
}

/// One instance's directory, config, port and log.
struct Instance {
    dir: tempfile::TempDir,
    addr: String,
}

impl Instance {
    fn new(etcd: &support::Server, prefix: &str, nodes: &[&support::Server], extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = support::free_port();
        let addr = format!("127.0.0.1:{port}");
        support::write_config(
            dir.path(),
            etcd,
            prefix,
            2,
            nodes,
            &format!("\n[sentinel]\nlisten = \"{addr}\"\n{extra}"),
        );
        Self { dir, addr }
    }

    fn start(&self) -> support::Guard {
        spawn(
            &self.dir.path().join("arbiter.toml"),
            &self.dir.path().join("arbiter.log"),
        )
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("arbiter.log")).unwrap_or_default()
    }
}

const MASTER_FIELDS: &[&str] = &[
    "name",
    "ip",
    "port",
    "runid",
    "flags",
    "link-pending-commands",
    "link-refcount",
    "last-ping-sent",
    "last-ok-ping-reply",
    "last-ping-reply",
    "down-after-milliseconds",
    "info-refresh",
    "role-reported",
    "role-reported-time",
    "config-epoch",
    "num-slaves",
    "num-other-sentinels",
    "quorum",
    "failover-timeout",
    "parallel-syncs",
];

const REPLICA_FIELDS: &[&str] = &[
    "name",
    "ip",
    "port",
    "runid",
    "flags",
    "link-pending-commands",
    "link-refcount",
    "last-ping-sent",
    "last-ok-ping-reply",
    "last-ping-reply",
    "down-after-milliseconds",
    "info-refresh",
    "role-reported",
    "role-reported-time",
    "master-link-down-time",
    "master-link-status",
    "master-host",
    "master-port",
    "slave-priority",
    "slave-repl-offset",
    "replica-announced",
];

fn names(fields: &[(String, String)]) -> Vec<&str> {
    fields.iter().map(|(k, _)| k.as_str()).collect()
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn three_instances_serve_sentinel_clients_through_a_failover() {
    let etcd_server = support::etcd();
    let [r1, r2, r3] = support::three_nodes();
    let prefix = "arbiter/sentinel";
    let nodes = [&r1, &r2, &r3];
    let a = Instance::new(&etcd_server, prefix, &nodes, "");
    let b = Instance::new(&etcd_server, prefix, &nodes, "");
    let c = Instance::new(&etcd_server, prefix, &nodes, "password = \"pw\"\n");
    let (ga, gb, gc) = (a.start(), b.start(), c.start());
    let etcd = Etcd::new(vec![etcd_server.addr.clone()], Duration::from_secs(1));
    let record = || -> Option<GroupRecord> {
        let kv = etcd.get(&format!("{prefix}/record"), false).ok()??;
        serde_json::from_str(&kv.value).ok()
    };

    // The record names r1; both open instances say so.
    eventually("a record", || record().filter(|r| r.primary == "r1"));
    for i in [&a, &b] {
        let answer = eventually("the master through the Sentinel port", || master_addr(&i.addr));
        assert_eq!(answer, r1.addr, "{}", a.log());
    }

    // HELLO in both protocols, byte for byte.
    let mut conn = Conn::open(&a.addr);
    let (id, _) = conn.call(&["CLIENT", "ID"]);
    let V::Int(id) = id else { panic!("CLIENT ID: {id:?}") };
    assert_eq!(conn.call(&["HELLO", "3"]).1, hello_bytes(3, "7.2.0", id));
    assert_eq!(conn.call(&["HELLO", "2"]).1, hello_bytes(2, "7.2.0", id));

    // AUTH without a password configured...
    assert_eq!(
        conn.call(&["AUTH", "x"]).1,
        "-ERR AUTH <password> called without any password configured for the default user. \
         Are you sure your configuration is correct?\r\n"
    );
    assert_eq!(conn.call(&["AUTH", "default", "x"]).1, "+OK\r\n");
    // ... and with one.
    let mut locked = Conn::open(&c.addr);
    assert_eq!(locked.call(&["PING"]).1, "-NOAUTH Authentication required.\r\n");
    assert_eq!(
        locked.call(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"]).1,
        "-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(
        locked.call(&["AUTH", "wrong"]).1,
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(locked.call(&["AUTH", "pw"]).1, "+OK\r\n");
    let mut hello_auth = Conn::open(&c.addr);
    let (v, _) = hello_auth.call(&["HELLO", "3", "AUTH", "default", "pw"]);
    assert_eq!(v.field("proto"), "3");
    let r1_addr = r1.addr.clone();
    let (r1_host, r1_port) = r1_addr.rsplit_once(':').unwrap();
    let addr = eventually("C answers once authenticated", || {
        let (v, raw) = locked.call(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"]);
        matches!(v, V::Array(_)).then_some(raw)
    });
    assert_eq!(
        addr,
        format!("*2\r\n$9\r\n{r1_host}\r\n${}\r\n{r1_port}\r\n", r1_port.len())
    );

    // MASTERS and REPLICAS, with Sentinel's fields in Sentinel's order.
    let (masters, _) = conn.call(&["SENTINEL", "MASTERS"]);
    let master = masters.items()[0].fields();
    assert_eq!(names(&master), MASTER_FIELDS);
    let m = &masters.items()[0];
    assert_eq!(
        (m.field("name"), m.field("ip"), m.field("port")),
        ("mymaster".into(), r1_host.into(), r1_port.into())
    );
    assert_eq!(m.field("flags"), "master");
    assert_eq!(m.field("num-slaves"), "2");
    assert_eq!(m.field("quorum"), "1");
    assert_eq!(m.field("down-after-milliseconds"), "1000");
    assert_eq!(m.field("runid").len(), 40);
    let replicas = eventually("both replicas seen linked", || {
        let (v, _) = conn.call(&["SENTINEL", "REPLICAS", "mymaster"]);
        v.items()
            .iter()
            .all(|r| r.field("master-link-status") == "ok")
            .then_some(v)
    });
    let listed: Vec<String> = replicas.items().iter().map(|r| r.field("name")).collect();
    assert_eq!(listed, [r2.addr.clone(), r3.addr.clone()]);
    for r in replicas.items() {
        assert_eq!(names(&r.fields()), REPLICA_FIELDS);
        assert_eq!(r.field("flags"), "slave");
        assert_eq!(
            (r.field("master-host"), r.field("master-port")),
            (r1_host.into(), r1_port.into())
        );
    }
    let slaves = conn.call(&["SENTINEL", "SLAVES", "mymaster"]).0;
    let names_of = |v: &V| -> Vec<String> { v.items().iter().map(|r| r.field("name")).collect() };
    assert_eq!(names_of(&slaves), names_of(&replicas), "SLAVES is REPLICAS");

    // SENTINELS lists the two others, by the id each gives as MYID.
    let others = eventually("the three instances registered", || {
        let (v, _) = conn.call(&["SENTINEL", "SENTINELS", "mymaster"]);
        (v.items().len() == 2).then_some(v)
    });
    let mut ports: Vec<String> = others.items().iter().map(|s| s.field("port")).collect();
    ports.sort();
    let mut expected: Vec<String> = [&b, &c]
        .iter()
        .map(|i| i.addr.rsplit_once(':').unwrap().1.to_string())
        .collect();
    expected.sort();
    assert_eq!(ports, expected);
    let b_id = Conn::open(&b.addr).call(&["SENTINEL", "MYID"]).0.text();
    let b_port = b.addr.rsplit_once(':').unwrap().1;
    let listed_b = others.items().iter().find(|s| s.field("port") == b_port).unwrap();
    assert_eq!((listed_b.field("name"), listed_b.field("runid")), (b_id.clone(), b_id));
    assert_eq!(listed_b.field("flags"), "sentinel");
    assert_eq!(m.field("num-other-sentinels"), "2");

    // ROLE and INFO.
    assert_eq!(
        conn.call(&["ROLE"]).1,
        "*2\r\n$8\r\nsentinel\r\n*1\r\n$8\r\nmymaster\r\n"
    );
    let info = conn.call(&["INFO", "sentinel"]).0.text();
    assert!(
        info.contains(&format!(
            "master0:name=mymaster,status=ok,address={},slaves=2,sentinels=3\r\n",
            r1.addr
        )),
        "{info}"
    );

    // Subscribers: SUBSCRIBE on A in RESP2, PSUBSCRIBE * on B in RESP3.
    let mut sub = Conn::open(&a.addr);
    assert_eq!(
        sub.call(&["SUBSCRIBE", "+switch-master"]).1,
        "*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n"
    );
    let mut psub = Conn::open(&b.addr);
    psub.call(&["HELLO", "3"]);
    assert_eq!(
        psub.call(&["PSUBSCRIBE", "*"]).1,
        ">3\r\n$10\r\npsubscribe\r\n$1\r\n*\r\n:1\r\n"
    );
    // Plain clients of the replicas, which a failover must disconnect.
    let mut on_r2 = Conn::open(&r2.addr);
    let mut on_r3 = Conn::open(&r3.addr);
    assert_eq!(on_r2.call(&["PING"]).1, "+PONG\r\n");
    assert_eq!(on_r3.call(&["PING"]).1, "+PONG\r\n");

    // SIGKILL the primary; ask all three until each names the new one.
    let old = r1.addr.clone();
    drop(r1);
    let killed = Instant::now();
    let mut switched: [Option<String>; 3] = [None, None, None];
    let new_record = loop {
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "no failover; A's log:\n{}",
            a.log()
        );
        let before = record();
        let answers = [
            master_addr(&a.addr),
            master_addr(&b.addr),
            Some({
                let (v, _) = locked.call(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"]);
                let items = v.items().to_vec();
                format!("{}:{}", items[0].text(), items[1].text())
            }),
        ];
        for (i, answer) in answers.iter().enumerate() {
            let answer = answer.clone().expect("the master stays known through the failover");
            assert!(
                answer == old || answer == r2.addr || answer == r3.addr,
                "only a recorded primary is named: {answer}"
            );
            match &switched[i] {
                Some(new) => assert_eq!(&answer, new, "instance {i} went back to another primary"),
                None if answer != old => {
                    let rec = before.clone().filter(|r| r.primary != "r1").or_else(record).unwrap();
                    let recorded = if rec.primary == "r2" { &r2.addr } else { &r3.addr };
                    assert_eq!(&answer, recorded, "the record's primary");
                    switched[i] = Some(answer);
                }
                None => {}
            }
        }
        if switched.iter().all(Option::is_some) {
            break record().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let new = if new_record.primary == "r2" { &r2 } else { &r3 };
    let (new_host, new_port) = new.addr.rsplit_once(':').unwrap();
    eprintln!(
        "every instance named {} {:?} after the kill",
        new.addr,
        killed.elapsed()
    );
    // Once it named the new primary, none goes back.
    for _ in 0..5 {
        assert_eq!(master_addr(&a.addr).unwrap(), new.addr);
        assert_eq!(master_addr(&b.addr).unwrap(), new.addr);
    }

    // The subscriber got +switch-master in Sentinel's format.
    let text = format!("mymaster {r1_host} {r1_port} {new_host} {new_port}");
    assert_eq!(
        String::from_utf8_lossy(&sub.reply().1),
        format!(
            "*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n${}\r\n{text}\r\n",
            text.len()
        )
    );
    // The pattern subscriber got the failover's events as RESP3 pushes.
    let mut seen = Vec::new();
    while !seen.iter().any(|(c, _): &(String, String)| c == "+switch-master") {
        let (v, raw) = psub.reply();
        assert!(raw.starts_with(b">4\r\n$8\r\npmessage\r\n$1\r\n*\r\n"), "{raw:?}");
        seen.push((v.items()[2].text(), v.items()[3].text()));
    }
    assert!(
        seen.contains(&("+sdown".into(), format!("master mymaster {r1_host} {r1_port}"))),
        "{seen:?}"
    );
    assert!(
        seen.contains(&(
            "+odown".into(),
            format!("master mymaster {r1_host} {r1_port} #quorum 1/1")
        )),
        "{seen:?}"
    );
    assert!(seen.contains(&("+switch-master".into(), text.clone())));

    // The replicas' clients were disconnected by the reconfiguration.
    assert!(on_r2.closed_by_peer(), "r2's client was disconnected");
    assert!(on_r3.closed_by_peer(), "r3's client was disconnected");

    // MASTERS and REPLICAS follow: the old primary is a down replica.
    let (masters, _) = conn.call(&["SENTINEL", "MASTERS"]);
    assert_eq!(masters.items()[0].field("port"), new_port);
    let replicas = eventually("the old primary listed down", || {
        let (v, _) = conn.call(&["SENTINEL", "REPLICAS", "mymaster"]);
        v.items()
            .iter()
            .find(|r| r.field("name") == old)
            .filter(|r| r.field("flags") == "s_down,slave,disconnected")
            .cloned()
    });
    assert_eq!(replicas.field("master-link-status"), "err");

    for (g, i) in [(ga, &a), (gb, &b), (gc, &c)] {
        assert_eq!(stop(g), Some(0), "{}", i.log());
    }
}

/// The resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn huge_idle_and_too_many_clients_are_refused_without_the_instance_growing() {
    let etcd_server = support::etcd();
    let [r1, r2, r3] = support::three_nodes();
    let i = Instance::new(
        &etcd_server,
        "arbiter/limits",
        &[&r1, &r2, &r3],
        "max_clients = 8\nidle_timeout_ms = 1500\n",
    );
    let guard = i.start();
    eventually("the master through the Sentinel port", || master_addr(&i.addr));
    let before = rss_kib(guard.id());

    // A billion arguments, then a 1 GB argument, each followed by data.
    for (header, error) in [
        (
            &b"*1000000000\r\n"[..],
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (b"*1\r\n$1000000000\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
    ] {
        let mut c = Conn::open(&i.addr);
        c.stream.write_all(header).unwrap();
        let junk = vec![b'x'; 1 << 20];
        for _ in 0..64 {
            if c.stream.write_all(&junk).is_err() {
                break;
            }
        }
        let mut got = Vec::new();
        let _ = c.stream.read_to_end(&mut got);
        assert!(got.starts_with(error.as_bytes()), "{:?}", String::from_utf8_lossy(&got));
    }
    let after = rss_kib(guard.id());
    assert!(
        after < before + 16 * 1024,
        "the instance grew from {before} KiB to {after} KiB"
    );
    eprintln!("RSS {before} KiB before the huge requests, {after} KiB after");

    // A flood beyond max_clients is refused (within the idle timeout of
    // the admitted ones).
    let mut held: Vec<Conn> = (0..8).map(|_| Conn::open(&i.addr)).collect();
    for c in &mut held {
        assert_eq!(c.call(&["PING"]).1, "+PONG\r\n");
    }
    for _ in 0..20 {
        let mut extra = Conn::open(&i.addr);
        let mut got = Vec::new();
        let _ = extra.stream.read_to_end(&mut got);
        assert_eq!(String::from_utf8_lossy(&got), "-ERR max number of clients reached\r\n");
    }
    for c in &mut held {
        assert_eq!(
            c.call(&["PING"]).1,
            "+PONG\r\n",
            "the admitted clients are still served"
        );
    }
    drop(held);
    // Their threads see them gone within a tick.
    std::thread::sleep(Duration::from_millis(300));

    // An idle client is closed after idle_timeout_ms, not before.
    let mut idle = Conn::open(&i.addr);
    let opened = Instant::now();
    assert!(idle.closed_by_peer());
    let took = opened.elapsed();
    assert!(
        took >= Duration::from_millis(1400) && took < Duration::from_secs(3),
        "{took:?}"
    );

    assert_eq!(stop(guard), Some(0), "{}", i.log());
}

/// A real Sentinel: its process (killed on drop), its directory, its
/// address.
struct RealSentinel {
    _process: support::Guard,
    _dir: tempfile::TempDir,
    addr: String,
}

/// Redis's `redis-server --sentinel` monitoring `primary` as `mymaster`
/// (quorum 1, down-after 1 s), on a free port.
fn real_sentinel(primary: &str) -> RealSentinel {
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let (host, pport) = primary.rsplit_once(':').unwrap();
    let conf = dir.path().join("sentinel.conf");
    std::fs::write(
        &conf,
        format!(
            "port {port}\nbind 127.0.0.1\ndir {}\nsentinel monitor mymaster {host} {pport} 1\n\
             sentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 10000\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let child = Command::new("redis-server")
        .arg(&conf)
        .arg("--sentinel")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server not found: run scripts/test, which installs it");
    let server = RealSentinel {
        _process: support::Guard::new(child),
        _dir: dir,
        addr: format!("127.0.0.1:{port}"),
    };
    eventually("the real Sentinel answers", || {
        TcpStream::connect(&server.addr).ok().map(|_| ())
    });
    server
}

/// HELLO's fields with the `version` and `id` values blanked.
fn hello_shape(v: &V) -> Vec<(String, String)> {
    v.fields()
        .into_iter()
        .map(|(k, val)| {
            let val = if k == "version" || k == "id" { "?".into() } else { val };
            (k, val)
        })
        .collect()
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn replies_match_a_real_sentinel_s_over_a_group_of_the_same_kind() {
    // Two groups of three nodes: one watched by a real Sentinel, one by arbiter.
    let ours = support::three_nodes();
    let theirs = support::three_nodes();
    let etcd_server = support::etcd();
    let i = Instance::new(&etcd_server, "arbiter/conformance", &[&ours[0], &ours[1], &ours[2]], "");
    let guard = i.start();
    let real = real_sentinel(&theirs[0].addr);
    eventually("arbiter knows the master", || master_addr(&i.addr));
    eventually("the real Sentinel knows both replicas", || {
        let (v, _) = Conn::open(&real.addr).call(&["SENTINEL", "REPLICAS", "mymaster"]);
        (v.items().len() == 2 && v.items().iter().all(|r| r.field("master-link-status") == "ok")).then_some(())
    });
    eventually("arbiter sees both replicas linked", || {
        let (v, _) = Conn::open(&i.addr).call(&["SENTINEL", "REPLICAS", "mymaster"]);
        v.items()
            .iter()
            .all(|r| r.field("master-link-status") == "ok")
            .then_some(())
    });

    // Requests whose replies must be the same bytes from both.
    let same: &[&[&str]] = &[
        &["PING"],
        &["PING", "hi"],
        &["FOO", "bar", "baz"],
        &["SELECT", "0"],
        &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "nope"],
        &["SENTINEL", "MASTER", "nope"],
        &["SENTINEL", "REPLICAS", "nope"],
        &["SENTINEL", "FOO"],
        &["SENTINEL", "MASTERS", "x"],
        &["SENTINEL"],
        &["CLIENT", "GETNAME"],
        &["CLIENT", "SETNAME", "app"],
        &["CLIENT", "GETNAME"],
        &["CLIENT", "FOO"],
        &["ROLE"],
        &["AUTH", "x"],
        &["AUTH", "default", "x"],
        &["AUTH", "bob", "x"],
        &["AUTH", "a", "b", "c"],
        &["HELLO", "4"],
        &["HELLO", "x"],
        &["INFO", "nosuchsection"],
    ];
    for proto in ["2", "3"] {
        let (mut a, mut r) = (Conn::open(&i.addr), Conn::open(&real.addr));
        let (ha, hr) = (a.call(&["HELLO", proto]).0, r.call(&["HELLO", proto]).0);
        assert_eq!(hello_shape(&ha), hello_shape(&hr), "HELLO {proto}");
        assert_eq!(
            std::mem::discriminant(&ha),
            std::mem::discriminant(&hr),
            "HELLO {proto}"
        );
        for request in same {
            assert_eq!(a.call(request).1, r.call(request).1, "RESP{proto} {request:?}");
        }
        // Field names and types of MASTERS and REPLICAS.
        let (ma, mr) = (a.call(&["SENTINEL", "MASTERS"]), r.call(&["SENTINEL", "MASTERS"]));
        assert_eq!(names(&ma.0.items()[0].fields()), names(&mr.0.items()[0].fields()));
        assert_eq!(names(&mr.0.items()[0].fields()), MASTER_FIELDS);
        let shape = |v: &V| -> Vec<String> {
            match v {
                V::Map(p) => p.iter().map(|(_, v)| kind(v)).collect(),
                V::Array(items) => items.iter().map(kind).collect(),
                other => vec![kind(other)],
            }
        };
        assert_eq!(shape(&ma.0), shape(&mr.0), "MASTERS is a list of the same kind");
        assert_eq!(
            shape(&ma.0.items()[0]),
            shape(&mr.0.items()[0]),
            "RESP{proto} master entry types"
        );
        let (ra, rr) = (
            a.call(&["SENTINEL", "REPLICAS", "mymaster"]).0,
            r.call(&["SENTINEL", "REPLICAS", "mymaster"]).0,
        );
        assert_eq!(names(&ra.items()[0].fields()), names(&rr.items()[0].fields()));
        assert_eq!(
            shape(&ra.items()[0]),
            shape(&rr.items()[0]),
            "RESP{proto} replica entry types"
        );
        // INFO's sentinel section, but for the master's address.
        let (ia, ir) = (
            a.call(&["INFO", "sentinel"]).0.text(),
            r.call(&["INFO", "sentinel"]).0.text(),
        );
        assert_eq!(
            ia.replace(&ours[0].addr, "ADDR"),
            ir.replace(&theirs[0].addr, "ADDR"),
            "INFO sentinel"
        );
        // Pub/sub mode.
        let pubsub: &[&[&str]] = &[
            &["SUBSCRIBE", "+switch-master", "+sdown"],
            &["PING"],
            &["PING", "x"],
            &["SENTINEL", "MASTERS", "x"],
            &["PSUBSCRIBE", "*"],
            &["UNSUBSCRIBE", "nope"],
            &["PUNSUBSCRIBE"],
        ];
        for request in pubsub {
            a.send(request);
            r.send(request);
            let n = if request[0] == "SUBSCRIBE" { 2 } else { 1 };
            for _ in 0..n {
                assert_eq!(
                    String::from_utf8_lossy(&a.reply().1),
                    String::from_utf8_lossy(&r.reply().1),
                    "RESP{proto} {request:?}"
                );
            }
        }
    }

    // +switch-master: the same message from both, but for the addresses.
    let (mut a, mut r) = (Conn::open(&i.addr), Conn::open(&real.addr));
    a.call(&["SUBSCRIBE", "+switch-master"]);
    r.call(&["SUBSCRIBE", "+switch-master"]);
    let [o1, o2, o3] = ours;
    let [t1, t2, t3] = theirs;
    let (ours_old, theirs_old) = (o1.addr.clone(), t1.addr.clone());
    drop(o1);
    drop(t1);
    let shape = |raw: Vec<u8>, old: &str, new: [&str; 2]| -> String {
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (old_host, old_port) = old.rsplit_once(':').unwrap();
        let mut text = text.replace(&format!("{old_host} {old_port}"), "OLD");
        for n in new {
            let (h, p) = n.rsplit_once(':').unwrap();
            text = text.replace(&format!("{h} {p}"), "NEW");
        }
        // The bulk length depends on the port numbers' digits: both are
        // five digits here, so it is kept.
        text
    };
    let got_ours = shape(a.reply().1, &ours_old, [&o2.addr, &o3.addr]);
    let got_theirs = shape(r.reply().1, &theirs_old, [&t2.addr, &t3.addr]);
    assert_eq!(got_ours, got_theirs, "+switch-master");
    assert!(got_ours.contains("+switch-master\r\n"), "{got_ours}");
    assert!(got_ours.ends_with("mymaster OLD NEW\r\n"), "{got_ours}");
    assert_eq!(stop(guard), Some(0), "{}", i.log());
}

/// The kind of a value (bulk, map, ...), to compare types.
fn kind(v: &V) -> String {
    format!("{:?}", std::mem::discriminant(v))
}
