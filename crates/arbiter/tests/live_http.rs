//! The HTTP port of two `arbiter run` processes against real servers
//! (`[http]`): every endpoint's codes and bodies through a real HTTP
//! client, before and after the primary is SIGKILLed (`/primary` moves to
//! the new primary on both instances, leader or not), `/metrics` parsed
//! with a Prometheus parser (the leader counted its failover), `arbiter
//! status --json` parsed, and a client that connects and sends nothing
//! does not hold up another request.

use arbiter_testkit::servers as support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    support::eventually(what, Duration::from_secs(30), f)
}

/// One `arbiter run` with its HTTP port.
struct Instance {
    child: Option<support::Guard>,
    /// `http://127.0.0.1:PORT`.
    base: String,
    config: PathBuf,
    /// Its log (stderr), kept to show when a check fails.
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Instance {
    fn start(etcd: &support::Server, nodes: &[&support::Server]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = support::free_port();
        let http = format!("\n[http]\nlisten = \"127.0.0.1:{port}\"\n");
        let config = support::write_config(dir.path(), etcd, "arbiter/http", 2, nodes, &http);
        let log = dir.path().join("arbiter.log");
        let child = Command::new(env!("CARGO_BIN_EXE_arbiter"))
            .args(["run", "--config"])
            .arg(&config)
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn()
            .unwrap();
        Self {
            child: Some(support::Guard::new(child)),
            base: format!("http://127.0.0.1:{port}"),
            config,
            log,
            _dir: dir,
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, support::Guard::id)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `method path`: the status, the `Content-Type` and the body.
    fn call(&self, method: &str, path: &str) -> Answer {
        self.try_call(method, path)
            .unwrap_or_else(|e| panic!("{method} {}{path}: {e}\n{}", self.base, self.log()))
    }

    /// The same, or why it could not be asked (not listening yet).
    fn try_call(&self, method: &str, path: &str) -> Result<Answer, ureq::Error> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        let url = format!("{}{path}", self.base);
        let response = match method {
            "GET" => agent.get(&url).call(),
            "HEAD" => agent.head(&url).call(),
            "OPTIONS" => agent.options(&url).call(),
            "POST" => agent.post(&url).send(""),
            _ => unreachable!(),
        };
        let mut response = response?;
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        Ok(Answer {
            status: response.status().as_u16(),
            content_type,
            body: response.body_mut().read_to_string()?,
        })
    }

    /// `GET path`: the status and the JSON body.
    fn get(&self, path: &str) -> (u16, Value) {
        let a = self.call("GET", path);
        assert_eq!(a.content_type, "application/json", "{path}: {}", a.body);
        let body = serde_json::from_str(&a.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", a.body));
        (a.status, body)
    }

    /// `GET /metrics`, parsed: every sample by `name{k=v,...}`.
    fn metrics(&self) -> BTreeMap<String, f64> {
        let a = self.call("GET", "/metrics");
        assert_eq!(a.status, 200);
        assert!(
            a.content_type.starts_with("application/openmetrics-text"),
            "{}",
            a.content_type
        );
        assert!(a.body.ends_with("# EOF\n"), "{}", a.body);
        let scrape = prometheus_parse::Scrape::parse(a.body.lines().map(|l| Ok(l.to_string()))).unwrap();
        scrape
            .samples
            .into_iter()
            .map(|s| {
                let labels: BTreeMap<_, _> = s.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                let labels: Vec<_> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let key = if labels.is_empty() {
                    s.metric
                } else {
                    format!("{}{{{}}}", s.metric, labels.join(","))
                };
                let value = match s.value {
                    prometheus_parse::Value::Counter(v)
                    | prometheus_parse::Value::Gauge(v)
                    | prometheus_parse::Value::Untyped(v) => v,
                    other => panic!("{key}: {other:?}"),
                };
                (key, value)
            })
            .collect()
    }

    /// Stops it with SIGTERM; its exit code.
    fn stop(&mut self) -> Option<i32> {
        let child = self.child.take().unwrap().take();
        support::signal(&child, "-TERM");
        support::wait_exit(child).0
    }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

/// `arbiter status --json --config PATH`: its exit code and document.
fn status_json(config: &Path) -> (Option<i32>, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["status", "--json", "--config"])
        .arg(config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let doc = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (out.status.code(), doc)
}

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|n| n["node"].as_str().unwrap().to_string())
        .collect()
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn every_endpoint_follows_a_real_failover_on_every_instance() {
    let etcd = support::etcd();
    let [r1, r2, r3] = support::three_nodes();
    let mut first = Instance::start(&etcd, &[&r1, &r2, &r3]);
    eventually("the first instance serves r1 as primary", || {
        (first.try_call("GET", "/primary").ok()?.status == 200).then_some(())
    });
    let mut second = Instance::start(&etcd, &[&r1, &r2, &r3]);
    let both = [&first, &second];
    eventually("both registered and serving", || {
        both.iter()
            .all(|i| {
                if i.try_call("GET", "/metrics").is_err() {
                    return false;
                }
                let m = i.metrics();
                m.get("arbiter_members") == Some(&2.0) && m.contains_key("arbiter_leader")
            })
            .then_some(())
    });

    // Before: r1 primary, r2 and r3 its replicas, the first instance leads.
    for i in both {
        let (code, body) = i.get("/primary");
        assert_eq!(code, 200, "{body}");
        assert_eq!(
            (body["node"].as_str(), body["addr"].as_str()),
            (Some("r1"), Some(r1.addr.as_str()))
        );
        assert_eq!(i.get("/primary/r1").0, 200);
        let (code, body) = i.get("/primary/r2");
        assert_eq!(code, 503, "{body}");
        assert_eq!(body["error"], "r2 is not the recorded primary (r1 is)");
        assert_eq!(i.get("/primary/r9").0, 404);
        let (code, body) = eventually("both replicas polled", || {
            let (code, body) = i.get("/replica");
            (body["replicas"].as_array().map(Vec::len) == Some(2)).then_some((code, body))
        });
        assert_eq!(code, 200);
        assert_eq!(names(&body["replicas"]), ["r2", "r3"]);
        assert_eq!(i.get("/replica/r2").0, 200);
        assert_eq!(i.get("/replica/r1").0, 503);
        for ok in ["/health", "/liveness", "/readiness"] {
            let (code, body) = i.get(ok);
            assert_eq!(code, 200, "{ok}: {body}");
        }
        let head = i.call("HEAD", "/primary");
        assert_eq!((head.status, head.body.as_str()), (200, ""));
        assert_eq!(i.call("OPTIONS", "/replica/r1").status, 503);
        assert_eq!(i.call("POST", "/primary").status, 405);
        assert_eq!(i.call("GET", "/nope").status, 404);
    }
    let (code, leader) = first.get("/leader");
    assert_eq!(code, 200, "{leader}");
    assert_eq!(leader["leading"], true);
    assert!(
        leader["id"].as_str().unwrap().contains(&format!("-{}-", first.pid())),
        "{leader}"
    );
    let epoch = leader["epoch"].as_i64().unwrap();
    let (code, body) = second.get("/leader");
    assert_eq!(code, 503);
    assert_eq!(body["leader"]["epoch"], epoch);
    let m = first.metrics();
    assert_eq!(m.get("arbiter_leader"), Some(&1.0), "{m:#?}");
    assert_eq!(m.get("arbiter_epoch"), Some(&(epoch as f64)));
    let primary_info = format!("arbiter_primary_info{{addr={},node=r1}}", r1.addr);
    assert_eq!(m.get(&primary_info), Some(&1.0), "{m:#?}");
    assert_eq!(m.get("arbiter_failovers_total"), Some(&0.0));
    assert_eq!(m.get("arbiter_node_role{node=r2,role=replica}"), Some(&1.0));
    for n in ["r1", "r2", "r3"] {
        assert_eq!(m.get(&format!("arbiter_node_up{{node={n}}}")), Some(&1.0), "{n}");
    }
    assert_eq!(second.metrics().get("arbiter_leader"), Some(&0.0));

    let (code, doc) = status_json(&first.config);
    assert_eq!(code, Some(0), "{doc}");
    assert_eq!(doc["healthy"], true);
    assert_eq!(doc["group"], "arbiter/http");
    assert_eq!(doc["leader"]["epoch"], epoch);
    assert!(
        doc["leader"]["instance"]
            .as_str()
            .unwrap()
            .contains(&format!("-{}-", first.pid())),
        "{doc}"
    );
    assert_eq!(doc["record"]["primary"], "r1");
    assert_eq!(doc["nodes"][0]["role"], "primary");
    assert_eq!(doc["nodes"][1]["replica_of"], r1.addr.as_str());
    assert_eq!(doc["nodes"][1]["link_up"], true);

    // A client that connects and sends nothing holds up nobody.
    let silent = std::net::TcpStream::connect(first.base.trim_start_matches("http://")).unwrap();
    let asked = Instant::now();
    assert_eq!(first.get("/primary").0, 200);
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(1), "{took:?} beside a silent client");

    // The primary dies: both instances move /primary to the new one.
    drop(r1);
    let new = eventually("/primary moves on both instances", || {
        let (a, b) = (first.get("/primary"), second.get("/primary"));
        (a.0 == 200 && b.0 == 200 && a.1["node"] != "r1" && a.1["node"] == b.1["node"])
            .then(|| a.1["node"].as_str().unwrap().to_string())
    });
    let other = if new == "r2" { "r3" } else { "r2" };
    for i in both {
        let (code, body) = i.get("/primary/r1");
        assert_eq!(code, 503, "{body}");
        assert_eq!(i.get(&format!("/primary/{new}")).0, 200);
        let (code, body) = eventually("the other replica follows the new primary", || {
            let (code, body) = i.get("/replica");
            (code == 200).then_some((code, body))
        });
        assert_eq!(code, 200);
        assert_eq!(names(&body["replicas"]), [other]);
        assert!(
            body["not_serving"]["r1"]
                .as_str()
                .unwrap()
                .starts_with("r1 does not answer"),
            "{body}"
        );
        assert_eq!(i.get("/health").0, 200);
    }
    let m = eventually("the leader's metrics count the failover", || {
        let m = first.metrics();
        (m.get("arbiter_failovers_total") == Some(&1.0) && m.contains_key("arbiter_last_failover_duration_seconds"))
            .then_some(m)
    });
    let took = m["arbiter_last_failover_duration_seconds"];
    assert!(took > 0.5 && took < 30.0, "the failover took {took} s");
    assert_eq!(m.get("arbiter_node_up{node=r1}"), Some(&0.0));
    let new_info = format!(
        "arbiter_primary_info{{addr={},node={new}}}",
        if new == "r2" { &r2.addr } else { &r3.addr }
    );
    assert_eq!(m.get(&new_info), Some(&1.0), "{m:#?}");
    assert!(!m.contains_key(&primary_info), "the old primary's info is gone");
    let m = second.metrics();
    assert_eq!(
        m.get("arbiter_failovers_total"),
        Some(&0.0),
        "the follower did not fail over"
    );
    assert_eq!(m.get(&new_info), Some(&1.0), "{m:#?}");

    let (code, doc) = status_json(&second.config);
    assert_eq!(code, Some(1), "r1 does not answer: {doc}");
    assert_eq!(doc["healthy"], false);
    assert_eq!(doc["record"]["primary"], new.as_str());
    assert_eq!(doc["nodes"][0]["answered"], false);
    assert!(
        doc["nodes"][0]["error"].as_str().unwrap().starts_with("unreachable"),
        "{doc}"
    );

    drop(silent);
    let base = first.base.clone();
    assert_eq!(first.stop(), Some(0));
    assert_eq!(second.stop(), Some(0));
    assert!(
        std::net::TcpStream::connect(base.trim_start_matches("http://")).is_err(),
        "the port is closed with the process"
    );
}
