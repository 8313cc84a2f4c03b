//! The status codes of every endpoint, the metrics parsed back, and the
//! server's limits on real sockets.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::live::follow::fixtures::config;
use crate::live::follow::{GroupView, LocalStatus, Member, NodeSeen, RecordSeen, Shared, nodes_of};
use crate::types::{Epoch, GroupRecord, NodeStatus, Role};

fn status(role: Role, offset: u64) -> NodeStatus {
    crate::live::follow::fixtures::status(role, offset, "x", Some(10))
}

fn replica_of(addr: &str, link_up: bool, offset: u64) -> NodeSeen {
    answered(status(
        Role::Replica {
            primary: addr.into(),
            link_up,
            link_down_ms: None,
        },
        offset,
    ))
}

fn answered(s: NodeStatus) -> NodeSeen {
    NodeSeen {
        status: Some(s),
        last_ok: Some(Instant::now()),
        polled: Some(Instant::now()),
        ..NodeSeen::default()
    }
}

fn silent(error: &str) -> NodeSeen {
    NodeSeen {
        error: Some(error.into()),
        polled: Some(Instant::now()),
        ..NodeSeen::default()
    }
}

/// A healthy group seen at `now`: r1 recorded and primary at offset 1000,
/// r2 and r3 replicas of it at 900 and 1000, another instance leading.
fn healthy(now: Instant) -> (GroupView, LocalStatus) {
    let mut nodes = nodes_of(&config());
    nodes[0].seen = answered(status(Role::Primary, 1000));
    nodes[1].seen = replica_of("127.0.0.1:7001", true, 900);
    nodes[2].seen = replica_of("127.0.0.1:7001", true, 1000);
    let view = GroupView {
        instance: "h-1".into(),
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
        leader: Some(("arbiter-h-2-x".into(), 7)),
        members: BTreeMap::from([
            ("h-1".to_string(), Member::default()),
            ("h-2".to_string(), Member::default()),
        ]),
        etcd_error: None,
        etcd_ok: Some(now),
    };
    let local = LocalStatus {
        state: "Following".into(),
        heartbeat: Some(now),
        ..LocalStatus::default()
    };
    (view, local)
}

fn get(target: &str, view: &GroupView, local: &LocalStatus, now: Instant) -> (u16, serde_json::Value) {
    let reply = route("GET", target, view, local, &HttpOptions::default(), now);
    assert_eq!(reply.content_type, "application/json", "{target}");
    let body = serde_json::from_str(&reply.body).unwrap_or_else(|e| panic!("{target}: {e}: {}", reply.body));
    (reply.status, body)
}

#[test]
fn a_healthy_group_answers_200_everywhere_but_leader_on_a_follower() {
    let now = Instant::now();
    let (view, local) = healthy(now);
    let (code, body) = get("/primary", &view, &local, now);
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        (body["node"].as_str(), body["addr"].as_str(), body["port"].as_u64()),
        (Some("r1"), Some("127.0.0.1:7001"), Some(7001))
    );
    assert_eq!(body["epoch"], 7);
    assert_eq!(get("/primary/r1", &view, &local, now).0, 200);
    assert_eq!(get("/primary/127.0.0.1%3A7001", &view, &local, now).0, 200);
    let (code, body) = get("/primary/r2", &view, &local, now);
    assert_eq!(code, 503);
    assert_eq!(body["error"], "r2 is not the recorded primary (r1 is)");
    assert_eq!(get("/primary/r9", &view, &local, now).0, 404);

    let (code, body) = get("/replica", &view, &local, now);
    assert_eq!(code, 200, "{body}");
    let replicas: Vec<_> = body["replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["node"].clone())
        .collect();
    assert_eq!(replicas, ["r2", "r3"]);
    assert_eq!(body["replicas"][0]["lag_bytes"], 100);
    assert_eq!(get("/replica/r2", &view, &local, now).0, 200);
    let (code, body) = get("/replica/r1", &view, &local, now);
    assert_eq!(
        (code, body["error"].as_str()),
        (503, Some("r1 is the recorded primary"))
    );
    // Patroni's ?lag=: r2 is 100 bytes behind.
    assert_eq!(get("/replica/r2?lag=100", &view, &local, now).0, 200);
    let (code, body) = get("/replica/r2?lag=99", &view, &local, now);
    assert_eq!(code, 503);
    assert!(body["error"].as_str().unwrap().contains("100 bytes behind"), "{body}");
    let (code, body) = get("/replica?lag=50", &view, &local, now);
    assert_eq!(code, 200);
    assert_eq!(body["replicas"].as_array().unwrap().len(), 1, "only r3: {body}");
    assert_eq!(get("/replica?lag=x", &view, &local, now).0, 400);

    for ok in ["/health", "/liveness", "/readiness"] {
        let (code, body) = get(ok, &view, &local, now);
        assert_eq!(code, 200, "{ok}: {body}");
        assert_eq!(body["instance"], "h-1");
    }
    let (code, body) = get("/leader", &view, &local, now);
    assert_eq!(code, 503);
    assert_eq!(body["leader"]["instance"], "arbiter-h-2-x");
    let leading = LocalStatus {
        leading: Some(7),
        state: "Leading".into(),
        ..local.clone()
    };
    let leading = LocalStatus {
        id: Some("arbiter-h-1-y".into()),
        ..leading
    };
    let (code, body) = get("/leader", &view, &leading, now);
    assert_eq!((code, body["epoch"].as_i64()), (200, Some(7)));
    assert_eq!(body["id"], "arbiter-h-1-y");
}

#[test]
fn a_dead_primary_is_503_and_its_replicas_with_their_links_down_too() {
    let now = Instant::now();
    let (mut view, local) = healthy(now);
    view.nodes[0].seen = silent("connection refused");
    view.nodes[1].seen = replica_of("127.0.0.1:7001", false, 900);
    view.nodes[2].seen = replica_of("127.0.0.1:7001", false, 1000);
    let (code, body) = get("/primary", &view, &local, now);
    assert_eq!(code, 503);
    assert_eq!(
        body["error"],
        "the recorded primary r1 does not answer: connection refused"
    );
    assert_eq!(body["primary"], "r1");
    let (code, body) = get("/replica", &view, &local, now);
    assert_eq!(code, 503);
    assert_eq!(body["not_serving"]["r2"], "r2's link to the primary r1 is down");
    // The record moved to r2, promoted: r2 serves; r3 still follows r1.
    view.record.as_mut().unwrap().record.primary = "r2".into();
    view.nodes[1].seen = answered(status(Role::Primary, 950));
    assert_eq!(get("/primary", &view, &local, now).1["node"], "r2");
    assert_eq!(get("/primary/r2", &view, &local, now).0, 200);
    let (code, body) = get("/replica/r3", &view, &local, now);
    assert_eq!(code, 503);
    assert_eq!(
        body["error"],
        "r3 replicates from 127.0.0.1:7001, not from the recorded primary r2 (127.0.0.1:7002)"
    );
    // An old primary back, claiming primary against the record.
    view.nodes[0].seen = answered(status(Role::Primary, 10));
    assert_eq!(get("/primary/r1", &view, &local, now).0, 503);
    let body = get("/replica/r1", &view, &local, now).1;
    assert_eq!(
        body["error"],
        "r1 answers as a primary, against the record (which names r2)"
    );
    // The recorded node not promoted yet.
    view.nodes[1].seen = replica_of("127.0.0.1:7001", true, 950);
    let (code, body) = get("/primary", &view, &local, now);
    assert_eq!(code, 503);
    assert!(
        body["error"].as_str().unwrap().contains("answers as a replica"),
        "{body}"
    );
}

#[test]
fn a_stale_view_or_no_record_names_no_primary_and_is_not_ready() {
    let now = Instant::now();
    let (mut view, local) = healthy(now);
    let later = now + Duration::from_secs(6);
    let mut local_later = local.clone();
    local_later.heartbeat = Some(later);
    let (code, body) = get("/primary", &view, &local_later, later);
    assert_eq!(code, 503);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("the view is stale: etcd last answered 6000 ms ago"),
        "{body}"
    );
    assert_eq!(get("/replica", &view, &local_later, later).0, 503);
    assert_eq!(get("/readiness", &view, &local_later, later).0, 503);
    assert_eq!(get("/liveness", &view, &local_later, later).0, 200, "the loop is alive");
    let (code, body) = get("/health", &view, &local_later, later);
    assert_eq!(code, 503);
    assert_eq!(body["view_age_ms"], 6000);

    view.record = None;
    let (code, body) = get("/primary", &view, &local, now);
    assert_eq!((code, body["error"].as_str()), (503, Some("no group record yet")));
    assert_eq!(get("/replica/r2", &view, &local, now).0, 503);

    let never = GroupView {
        etcd_error: Some("connection refused".into()),
        ..GroupView::default()
    };
    let (code, body) = get("/readiness", &never, &local, now);
    assert_eq!(code, 503);
    assert_eq!(body["error"], "etcd has not answered yet: connection refused");
}

#[test]
fn liveness_fails_once_the_run_loop_stalls_and_health_when_etcd_fails() {
    let now = Instant::now();
    let (mut view, mut local) = healthy(now);
    let later = now + Duration::from_millis(10_001);
    view.etcd_ok = Some(later);
    let (code, body) = get("/liveness", &view, &local, later);
    assert_eq!(code, 503);
    assert_eq!(
        body["error"],
        "the run loop has not stepped for 10001 ms (http.stalled_after_ms = 10000)"
    );
    assert_eq!(get("/health", &view, &local, later).0, 503);
    local.heartbeat = None;
    assert_eq!(
        get("/liveness", &view, &local, now).1["error"],
        "the run loop has not stepped yet"
    );
    local.heartbeat = Some(later);
    assert_eq!(get("/health", &view, &local, later).0, 200);
    view.etcd_error = Some("timed out".into());
    let (code, body) = get("/health", &view, &local, later);
    assert_eq!(
        (code, body["error"].as_str()),
        (503, Some("etcd does not answer: timed out"))
    );
    assert_eq!(get("/readiness", &view, &local, later).0, 200, "read 0 ms ago");
}

#[test]
fn unknown_paths_are_404_other_methods_405_and_head_like_get() {
    let now = Instant::now();
    let (view, local) = healthy(now);
    let options = HttpOptions::default();
    for path in ["/", "/nope", "/primary/r1/x", "/metrics/x"] {
        let reply = route("GET", path, &view, &local, &options, now);
        assert_eq!(reply.status, 404, "{path}");
        assert!(reply.body.contains("/replica/<node>"), "it lists the endpoints");
    }
    for method in ["POST", "PUT", "DELETE", "get"] {
        assert_eq!(route(method, "/primary", &view, &local, &options, now).status, 405);
    }
    for method in ["HEAD", "OPTIONS"] {
        assert_eq!(
            route(method, "/primary", &view, &local, &options, now),
            route("GET", "/primary", &view, &local, &options, now)
        );
    }
}

/// Parses `text` with a Prometheus parser, and checks what it does not:
/// every sample belongs to a family with HELP and TYPE, and the text ends
/// with `# EOF`. The samples by name and labels (`name{k=v,...}`).
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    assert!(text.ends_with("# EOF\n"), "{text}");
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let mut families = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap();
            assert!(scrape.docs.contains_key(name), "{name} has no HELP");
            families.push(name.to_string());
        }
    }
    let mut samples = BTreeMap::new();
    for s in &scrape.samples {
        assert!(s.metric.starts_with("arbiter_"), "{}", s.metric);
        assert!(
            families.iter().any(|f| s.metric.starts_with(f.as_str())),
            "{} has no TYPE",
            s.metric
        );
        let value = match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("{other:?}"),
        };
        let labels: BTreeMap<_, _> = s.labels.iter().collect();
        let labels = labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let key = if labels.is_empty() {
            s.metric.clone()
        } else {
            format!("{}{{{labels}}}", s.metric)
        };
        assert!(samples.insert(key.clone(), value).is_none(), "{key} twice");
    }
    samples
}

#[test]
fn the_metrics_parse_back_with_the_view_and_the_local_status_in_them() {
    let now = Instant::now();
    let (mut view, mut local) = healthy(now);
    view.nodes[2].seen = silent("timed out");
    local.leading = Some(7);
    local.failovers = 2;
    local.switchovers = 1;
    local.last_failover_ms = Some(3250);
    local.etcd_errors = 4;
    local.blocked = Some("no-eligible-replica".into());
    let text = metrics::encode(&view, &local, now + Duration::from_millis(1500));
    let m = parse_metrics(&text);
    let expect = [
        ("arbiter_leader", 1.0),
        ("arbiter_epoch", 7.0),
        ("arbiter_primary_info{addr=127.0.0.1:7001,node=r1}", 1.0),
        ("arbiter_node_up{node=r1}", 1.0),
        ("arbiter_node_up{node=r3}", 0.0),
        ("arbiter_node_role{node=r1,role=primary}", 1.0),
        ("arbiter_node_role{node=r1,role=replica}", 0.0),
        ("arbiter_node_role{node=r2,role=replica}", 1.0),
        ("arbiter_node_role{node=r3,role=primary}", 0.0),
        ("arbiter_node_role{node=r3,role=replica}", 0.0),
        ("arbiter_node_offset_bytes{node=r1}", 1000.0),
        ("arbiter_node_offset_bytes{node=r2}", 900.0),
        ("arbiter_node_lag_bytes{node=r2}", 100.0),
        ("arbiter_failovers_total", 2.0),
        ("arbiter_switchovers_total", 1.0),
        ("arbiter_last_failover_duration_seconds", 3.25),
        ("arbiter_etcd_errors_total", 4.0),
        ("arbiter_blocked{reason=no-eligible-replica}", 1.0),
        ("arbiter_blocked{reason=cold-start}", 0.0),
        ("arbiter_blocked{reason=paused}", 0.0),
        ("arbiter_paused", 0.0),
        ("arbiter_view_age_seconds", 1.5),
        ("arbiter_members", 2.0),
    ];
    for (key, value) in expect {
        assert_eq!(m.get(key), Some(&value), "{key} in {m:#?}\n{text}");
    }
    // No offset or lag for a node that did not answer, and none for the
    // primary's lag.
    for absent in [
        "arbiter_node_offset_bytes{node=r3}",
        "arbiter_node_lag_bytes{node=r3}",
        "arbiter_node_lag_bytes{node=r1}",
    ] {
        assert!(!m.contains_key(absent), "{absent}");
    }
    assert!(text.contains("# TYPE arbiter_failovers counter"), "{text}");
    assert!(text.contains("# UNIT arbiter_node_lag_bytes bytes"), "{text}");
    assert!(text.contains("# TYPE arbiter_primary info"), "{text}");

    // Paused with the primary down: the pause is named as the block.
    local.paused = true;
    local.blocked = Some("paused".into());
    let m = parse_metrics(&metrics::encode(&view, &local, now));
    for (key, value) in [
        ("arbiter_paused", 1.0),
        ("arbiter_blocked{reason=paused}", 1.0),
        ("arbiter_blocked{reason=no-eligible-replica}", 0.0),
    ] {
        assert_eq!(m.get(key), Some(&value), "{key} in {m:#?}");
    }

    // Before anything is known: no record, no failover, no etcd answer.
    let m = parse_metrics(&metrics::encode(&GroupView::default(), &LocalStatus::default(), now));
    assert_eq!(m.get("arbiter_leader"), Some(&0.0));
    assert_eq!(m.get("arbiter_failovers_total"), Some(&0.0));
    for absent in [
        "arbiter_primary_info",
        "arbiter_last_failover_duration_seconds",
        "arbiter_view_age_seconds",
    ] {
        assert!(!m.keys().any(|k| k.starts_with(absent)), "{absent}");
    }
}

#[test]
fn label_values_are_escaped() {
    let now = Instant::now();
    let (mut view, local) = healthy(now);
    view.record.as_mut().unwrap().record.primary = "odd \"name\"\\".into();
    let text = metrics::encode(&view, &local, now);
    assert!(
        text.contains(r#"arbiter_primary_info{node="odd \"name\"\\",addr=""} 1"#),
        "{text}"
    );
}

// The server on real sockets.

/// A server on a free loopback port, answering from a healthy group.
fn server(options: HttpOptions) -> (Server, Arc<Shared>) {
    let shared = Arc::new(Shared::default());
    let (view, local) = healthy(Instant::now());
    shared.set_view(view);
    shared.update_local(|l| *l = local);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (Server::start(listener, options, Arc::clone(&shared)).unwrap(), shared)
}

/// Sends `request` and reads the whole answer.
fn exchange(server: &Server, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(request).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn the_server_answers_get_head_and_options_and_closes() {
    let (server, _) = server(HttpOptions::default());
    let get = exchange(&server, b"GET /primary HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(get.starts_with("HTTP/1.1 200 OK\r\n"), "{get}");
    assert!(get.contains("Content-Type: application/json\r\n"), "{get}");
    assert!(get.contains("Connection: close\r\n"), "{get}");
    let (head, body) = get.split_once("\r\n\r\n").unwrap();
    assert!(head.contains(&format!("Content-Length: {}\r\n", body.len())), "{get}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(body).unwrap()["node"], "r1");

    let head = exchange(&server, b"HEAD /primary HTTP/1.1\r\n\r\n");
    assert_eq!(head.split_once("\r\n\r\n").unwrap().1, "", "HEAD has no body");
    assert!(head.contains(&format!("Content-Length: {}\r\n", body.len())), "{head}");
    let options = exchange(&server, b"OPTIONS /replica/r1 HTTP/1.0\r\n\r\n");
    assert!(options.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{options}");
    assert!(options.contains("Allow: GET, HEAD, OPTIONS\r\n"), "{options}");
    assert!(options.ends_with("\r\n\r\n"), "{options}");

    let post = exchange(&server, b"POST /primary HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
    assert!(post.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"), "{post}");
    assert!(post.contains("Allow: GET, HEAD, OPTIONS\r\n"), "{post}");
    let metrics = exchange(&server, b"GET /metrics HTTP/1.1\r\n\r\n");
    assert!(metrics.contains("Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n"));
    assert!(metrics.ends_with("# EOF\n"), "{metrics}");
    let bare_lf = exchange(&server, b"GET /liveness HTTP/1.1\n\n");
    assert!(bare_lf.starts_with("HTTP/1.1 200 OK"), "{bare_lf}");
    server.stop();
}

#[test]
fn garbage_too_long_or_too_slow_requests_are_refused_without_a_panic() {
    let options = HttpOptions {
        max_head_bytes: 512,
        request_timeout: Duration::from_millis(300),
        ..HttpOptions::default()
    };
    let (server, _) = server(options);
    let bad = exchange(&server, b"\x00\xff garbage\r\n\r\n");
    assert!(bad.starts_with("HTTP/1.1 400 Bad Request"), "{bad}");
    let long = format!("GET /primary HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(600));
    let long = exchange(&server, long.as_bytes());
    assert!(long.starts_with("HTTP/1.1 431 "), "{long}");
    let many: String = (0..70).map(|i| format!("H{i}: v\r\n")).collect();
    let many = exchange(&server, format!("GET /primary HTTP/1.1\r\n{many}\r\n").as_bytes());
    assert!(many.starts_with("HTTP/1.1 431 "), "{many}");
    // Half a head, then nothing: 408 once the timeout is over.
    let started = Instant::now();
    let slow = exchange(&server, b"GET /primary HTTP/1.1\r\n");
    assert!(slow.starts_with("HTTP/1.1 408 Request Timeout"), "{slow}");
    // (well before the client's own 5 s read timeout: the server closed it)
    assert!(
        started.elapsed() < Duration::from_millis(4500),
        "{:?}",
        started.elapsed()
    );
    // A client that trickles bytes is held to the same total.
    let mut trickle = TcpStream::connect(server.addr()).unwrap();
    let started = Instant::now();
    for b in b"GET /primary HTTP/1.1\r\nX: aaaaaaaaaaaaaaaaaaaa" {
        if trickle.write_all(&[*b]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut answer = String::new();
    trickle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = trickle.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // (well before the client's own 5 s read timeout: the server closed it)
    assert!(
        started.elapsed() < Duration::from_millis(4500),
        "{:?}",
        started.elapsed()
    );
    server.stop();
}

#[test]
fn silent_clients_do_not_block_others_and_too_many_are_refused() {
    let options = HttpOptions {
        max_connections: 3,
        request_timeout: Duration::from_secs(5),
        ..HttpOptions::default()
    };
    let (server, _) = server(options);
    // Two clients connect and send nothing.
    let silent: Vec<_> = (0..2).map(|_| TcpStream::connect(server.addr()).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let ok = exchange(&server, b"GET /liveness HTTP/1.1\r\n\r\n");
    assert!(ok.starts_with("HTTP/1.1 200 OK"), "{ok}");
    // Not held until the silent clients' 5 s request timeout.
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    // A third silent one fills the slots (once the answered one's is
    // free): the next is refused at once.
    std::thread::sleep(Duration::from_millis(300));
    let third = TcpStream::connect(server.addr()).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut refused = TcpStream::connect(server.addr()).unwrap();
    refused.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut answer = String::new();
    let read = refused.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer} {read:?}");
    assert!(answer.contains("too many connections"), "{answer}");
    drop((silent, third));
    // Their slots come back once they are gone.
    support_eventually(|| exchange(&server, b"GET /liveness HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200"));
    let started = Instant::now();
    server.stop();
    // Not held until a connection's 5 s request timeout.
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "stopping took {:?}",
        started.elapsed()
    );
}

fn support_eventually(mut f: impl FnMut() -> bool) {
    let started = Instant::now();
    while !f() {
        assert!(started.elapsed() < Duration::from_secs(5), "not within 5 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_answers_follow_the_shared_state() {
    let (server, shared) = server(HttpOptions::default());
    let ok = exchange(&server, b"GET /primary HTTP/1.1\r\n\r\n");
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let mut view = shared.view();
    view.record.as_mut().unwrap().record.primary = "r3".into();
    shared.set_view(view);
    let moved = exchange(&server, b"GET /primary HTTP/1.1\r\n\r\n");
    assert!(moved.starts_with("HTTP/1.1 503"), "r3 answers as a replica: {moved}");
    drop(server);
}

#[test]
fn a_client_that_trickles_after_its_answer_frees_its_slot_soon() {
    let options = HttpOptions {
        max_connections: 1,
        ..HttpOptions::default()
    };
    let (server, _) = server(options);
    let mut slow = TcpStream::connect(server.addr()).unwrap();
    slow.write_all(b"GET /liveness HTTP/1.1\r\n\r\n").unwrap();
    let started = Instant::now();
    // A body nobody asked for, one byte every 50 ms, for 5 s (unless the
    // server hangs up first).
    let trickle = std::thread::spawn(move || {
        for _ in 0..100 {
            if slow.write_all(b"x").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    std::thread::sleep(LINGER + Duration::from_millis(300));
    let next = exchange(&server, b"GET /liveness HTTP/1.1\r\n\r\n");
    assert!(next.starts_with("HTTP/1.1 200"), "{next}");
    // Served long before the trickle would end (5 s): the slot was freed
    // after the linger, not when the client stopped sending.
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    trickle.join().unwrap();
}

mod hostile;
