//! Passwords against real servers: a wrong or missing `redis.password` is
//! reported as an authentication failure naming the node, never as an
//! unreachable node; `masterauth` and `min-replicas-*` are set on every node
//! arbiter manages, the running primary included, and again on a node that
//! restarted (a restart forgets `CONFIG SET`), so that replicas of a
//! `requirepass` group resync after a failover.
//!
//! And the security options: an ACL user with exactly the README's ACL
//! (failovers, `masteruser`, a password rotated through `password_file`),
//! users missing `replicaof` or `info`, etcd with authentication (a wrong
//! password, a token lost in an etcd restart, a password rotation), a
//! password file others may read; every output and recording searched for
//! the secrets.

use arbiter_testkit::servers as support;

use std::process::{Command, Stdio};
use std::time::Duration;

use arbiter::live::redis::RedisNodes;
use arbiter::types::{RedisError, Role};

const PASSWORD: &str = "s3cret-pw";

fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    support::eventually(what, Duration::from_secs(30), f)
}

/// A `redis-server` requiring [`PASSWORD`]; a replica of `primary` if
/// given, authenticating to it when `masterauth`.
fn node(port: u16, primary: Option<&str>, masterauth: bool) -> support::Server {
    let mut args = vec!["--requirepass", PASSWORD];
    if masterauth {
        args.extend(["--masterauth", PASSWORD]);
    }
    support::redis_with(port, primary, &args, Some(PASSWORD))
}

/// `CONFIG GET name` on `addr`, authenticated.
fn config_get(addr: &str, name: &str) -> String {
    let client = redis::Client::open(format!("redis://:{PASSWORD}@{addr}/")).unwrap();
    let mut con = client.get_connection_with_timeout(Duration::from_secs(1)).unwrap();
    let pair: Vec<String> = redis::cmd("CONFIG").arg("GET").arg(name).query(&mut con).unwrap();
    pair.get(1).cloned().unwrap_or_default()
}

/// Whether `addr` is a replica of `primary` with its link up.
fn linked_to(nodes: &RedisNodes, addr: &str, primary: &str) -> bool {
    nodes
        .status(addr)
        .is_ok_and(|s| matches!(s.role, Role::Replica { primary: ref p, link_up: true, .. } if p == primary))
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn masterauth_and_min_replicas_are_set_on_every_node_at_start_and_after_a_restart() {
    let etcd_server = support::etcd();
    // r1 primary; the replicas authenticate to it (as an operator would
    // set them up); r1 itself has no masterauth.
    let r1 = node(support::free_port(), None, false);
    let r2 = node(support::free_port(), Some(&r1.addr), true);
    let r3 = node(support::free_port(), Some(&r1.addr), true);
    let nodes = RedisNodes::new(Duration::from_secs(1), Some(PASSWORD.into()));
    for r in [&r2, &r3] {
        eventually("replicas linked", || linked_to(&nodes, &r.addr, &r1.addr).then_some(()));
    }
    assert_eq!(config_get(&r1.addr, "masterauth"), "", "the test starts without it");
    assert_eq!(config_get(&r1.addr, "min-replicas-to-write"), "0");

    let dir = tempfile::tempdir().unwrap();
    let extra =
        format!("\n[redis]\npassword = \"{PASSWORD}\"\nmin_replicas_to_write = 1\nmin_replicas_max_lag_s = 7\n");
    let config = support::write_config(
        dir.path(),
        &etcd_server,
        "arbiter/masterauth",
        5,
        &[&r1, &r2, &r3],
        &extra,
    );
    let child = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["run", "--log-format", "json", "--config"])
        .arg(&config)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let etcd = arbiter::live::etcd::Etcd::new(vec![etcd_server.addr.clone()], Duration::from_secs(1));
    let record = || {
        etcd.get("arbiter/masterauth/record", false)
            .ok()
            .flatten()
            .and_then(|kv| serde_json::from_str::<arbiter::types::GroupRecord>(&kv.value).ok())
    };
    eventually("the record names r1", || record().filter(|r| r.primary == "r1"));
    let configured = |addr: &str| {
        config_get(addr, "masterauth") == PASSWORD
            && config_get(addr, "min-replicas-to-write") == "1"
            && config_get(addr, "min-replicas-max-lag") == "7"
    };
    // Every node, the running primary included, without any failover.
    for r in [&r1, &r2, &r3] {
        assert!(configured(&r.addr), "{} not configured", r.addr);
    }

    // r3 restarts (persistence off: empty, CONFIG SET forgotten) without
    // masterauth of its own: it cannot link to r1 until arbiter sees its
    // new run id and configures it again.
    let port3 = r3.port();
    drop(r3);
    let r3 = support::redis_with(port3, Some(&r1.addr), &["--requirepass", PASSWORD], Some(PASSWORD));
    eventually("the restarted r3 links up to r1", || {
        linked_to(&nodes, &r3.addr, &r1.addr).then_some(())
    });
    assert!(configured(&r3.addr), "the restarted r3 is configured again");

    // r1 dies: the promoted replica's and the other replica's settings let
    // the other resync from it.
    drop(r1);
    let after = eventually("failed over", || record().filter(|r| r.primary != "r1"));
    let (promoted, other) = if after.primary == "r2" { (&r2, &r3) } else { (&r3, &r2) };
    eventually("promoted", || {
        nodes.status(&promoted.addr).ok().filter(|s| s.role == Role::Primary)
    });
    eventually("the other replica resyncs from the new primary", || {
        linked_to(&nodes, &other.addr, &promoted.addr).then_some(())
    });
    for r in [promoted, other] {
        assert!(configured(&r.addr), "{} not configured", r.addr);
    }

    support::signal(&child, "-TERM");
    let (code, log) = support::wait_exit(child);
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("node configured"), "{log}");
    assert!(!log.contains(PASSWORD), "the password is never logged:\n{log}");
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn a_wrong_password_is_an_authentication_failure_naming_the_node() {
    let etcd_server = support::etcd();
    let r1 = node(support::free_port(), None, false);
    let r2 = node(support::free_port(), Some(&r1.addr), true);

    // The client itself: wrong and missing passwords are `Auth`, a closed
    // port is `Unreachable`.
    let wrong = RedisNodes::new(Duration::from_secs(1), Some("wrong".into()));
    let e = wrong.status(&r1.addr).unwrap_err();
    assert!(matches!(e, RedisError::Auth(_)), "{e:?}");
    assert!(e.to_string().starts_with("authentication failed: "), "{e}");
    let missing = RedisNodes::new(Duration::from_secs(1), None);
    let e = missing.status(&r1.addr).unwrap_err();
    assert!(matches!(e, RedisError::Auth(_)), "{e:?}");
    let e = wrong
        .status(&format!("127.0.0.1:{}", support::free_port()))
        .unwrap_err();
    assert!(matches!(e, RedisError::Unreachable(_)), "{e:?}");
    let right = RedisNodes::new(Duration::from_secs(1), Some(PASSWORD.into()));
    assert_eq!(right.status(&r1.addr).unwrap().role, Role::Primary);

    let dir = tempfile::tempdir().unwrap();
    let extra = "\n[redis]\npassword = \"wrong\"\n";
    let config = support::write_config(dir.path(), &etcd_server, "arbiter/auth", 5, &[&r1, &r2], extra);

    // `arbiter status` says so per node, naming the endpoint.
    let status = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["status", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(1), "{text}");
    for (name, n) in [("r1", &r1), ("r2", &r2)] {
        assert!(
            text.contains(&format!("{name} {}: authentication failed: ", n.addr)),
            "{text}"
        );
    }
    assert!(!text.contains("unreachable"), "{text}");

    // `arbiter run` logs an authentication failure per node, not an outage,
    // and never the password.
    let child = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["run", "--log-format", "json", "--config"])
        .arg(&config)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let etcd = arbiter::live::etcd::Etcd::new(vec![etcd_server.addr.clone()], Duration::from_secs(1));
    eventually("it leads", || {
        etcd.get_prefix("arbiter/auth/election/").ok().filter(|c| !c.is_empty())
    });
    std::thread::sleep(Duration::from_millis(1500));
    let (events, log) = support::stop_json(child);
    for (name, n) in [("r1", &r1), ("r2", &r2)] {
        let said: Vec<&serde_json::Value> = events
            .iter()
            .filter(|e| e["message"].as_str().unwrap_or("").starts_with("authentication failed") && e["node"] == name)
            .collect();
        assert_eq!(said.len(), 1, "told once for {name}:\n{log}");
        assert_eq!(said[0]["level"], "WARN");
        assert_eq!(said[0]["addr"], n.addr.as_str(), "{log}");
        assert!(
            said[0]["error"].as_str().unwrap().starts_with("authentication failed"),
            "{log}"
        );
        let startup = events
            .iter()
            .filter(|e| {
                e["message"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("authentication failed at startup")
                    && e["node"] == n.addr
            })
            .count();
        assert_eq!(startup, 1, "{log}");
    }
    assert!(!log.contains("node unreachable"), "{log}");
    assert!(!log.contains("allow_data_loss"), "{log}");
    assert!(!log.contains("wrong\""), "the password is not logged:\n{log}");
}

// ---------------------------------------------------------------------------
// ACL users, etcd authentication and secrets kept out of every output.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arbiter::live::etcd::{Etcd, EtcdCredentials, EtcdError};
use arbiter::secret::Secret;

/// Distinctive secrets: grepped for in every output.
const REDIS_SECRET: &str = "Rq7-redis-SECRET-x91f";
const REDIS_ROTATED: &str = "Rq8-redis-ROTATED-k22m";
const ETCD_SECRET: &str = "Eq7-etcd-SECRET-p33z";
const ETCD_ROTATED: &str = "Eq8-etcd-ROTATED-u55v";
const SENTINEL_SECRET: &str = "Sq7-sentinel-SECRET-w44y";
/// The `default` user's password: the test's own connections.
const ADMIN: &str = "admin-pw";
/// What the etcd password is read from.
const ETCD_ENV: &str = "ARBITER_TEST_ETCD_PASSWORD";

/// The rules of arbiter's Redis ACL user exactly as the README documents
/// them (its `ACL SETUSER arbiter on >PASSWORD ...` line), so that the test
/// runs with what operators are told to grant.
fn documented_acl() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let line = readme
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("ACL SETUSER arbiter on >PASSWORD "))
        .expect("the README documents arbiter's ACL user");
    // `ACL SETUSER arbiter on >PASSWORD`, then the rules.
    line.split_whitespace().skip(5).map(str::to_string).collect()
}

/// A `redis-server` whose `default` user needs [`ADMIN`], with the ACL user
/// `arbiter` (password `password`, `rules`); a replica of `primary`
/// authenticating as `arbiter` when given.
fn acl_node(port: u16, primary: Option<&str>, password: &str, rules: &[String]) -> support::Server {
    let mut args = vec!["--requirepass", ADMIN];
    if primary.is_some() {
        args.extend(["--masteruser", "arbiter", "--masterauth", password]);
    }
    let server = support::redis_with(port, primary, &args, Some(ADMIN));
    acl_setuser(
        &server.addr,
        std::iter::once(format!(">{password}")).chain(rules.iter().cloned()),
    );
    server
}

/// `ACL SETUSER arbiter on RULES...` on `addr` as the `default` user.
fn acl_setuser(addr: &str, rules: impl IntoIterator<Item = String>) {
    let mut cmd = redis::cmd("ACL");
    cmd.arg("SETUSER").arg("arbiter").arg("on");
    for r in rules {
        cmd.arg(r);
    }
    let mut con = admin(addr);
    let () = cmd.query(&mut con).unwrap();
}

fn admin(addr: &str) -> redis::Connection {
    redis::Client::open(format!("redis://:{ADMIN}@{addr}/"))
        .unwrap()
        .get_connection_with_timeout(Duration::from_secs(1))
        .unwrap()
}

fn admin_config_get(addr: &str, name: &str) -> String {
    let pair: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg(name)
        .query(&mut admin(addr))
        .unwrap();
    pair.get(1).cloned().unwrap_or_default()
}

/// A file holding `secret`, readable by its owner only.
fn secret_file(dir: &Path, name: &str, secret: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(name);
    std::fs::write(&path, format!("{secret}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// POSTs to etcd's JSON gateway (user administration), as `token` if given.
fn etcd_post(endpoint: &str, path: &str, body: serde_json::Value, token: Option<&str>) -> serde_json::Value {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = agent.post(format!("{endpoint}/v3/{path}"));
    if let Some(t) = token {
        request = request.header("Authorization", t);
    }
    let mut response = request.send_json(&body).unwrap();
    let status = response.status().as_u16();
    let value: serde_json::Value = response.body_mut().read_json().unwrap();
    assert_eq!(status, 200, "{path}: {value}");
    value
}

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// Turns on etcd authentication: `root` (password [`ADMIN`]) and the user
/// `arbiter` (password `password`) with the role the README documents:
/// read and write on the keys under `prefix/`.
fn etcd_enable_auth(endpoint: &str, prefix: &str, password: &str) {
    let mut end = format!("{prefix}/").into_bytes();
    *end.last_mut().unwrap() += 1;
    let end = String::from_utf8(end).unwrap();
    etcd_post(
        endpoint,
        "auth/user/add",
        serde_json::json!({"name": "root", "password": ADMIN}),
        None,
    );
    etcd_post(
        endpoint,
        "auth/user/grant",
        serde_json::json!({"user": "root", "role": "root"}),
        None,
    );
    etcd_post(
        endpoint,
        "auth/user/add",
        serde_json::json!({"name": "arbiter", "password": password}),
        None,
    );
    etcd_post(endpoint, "auth/role/add", serde_json::json!({"name": "arbiter"}), None);
    etcd_post(
        endpoint,
        "auth/role/grant",
        serde_json::json!({"name": "arbiter", "perm": {"permType": "READWRITE", "key": b64(&format!("{prefix}/")), "range_end": b64(&end)}}),
        None,
    );
    etcd_post(
        endpoint,
        "auth/user/grant",
        serde_json::json!({"user": "arbiter", "role": "arbiter"}),
        None,
    );
    etcd_post(endpoint, "auth/enable", serde_json::json!({}), None);
}

/// The test's own etcd client, as `root`.
fn etcd_root(endpoint: &str) -> Etcd {
    Etcd::new(vec![endpoint.to_string()], Duration::from_secs(1)).with_credentials(Some(EtcdCredentials {
        username: "root".into(),
        password: Secret::new(ADMIN),
    }))
}

/// The primary the group record names.
fn recorded(etcd: &Etcd, prefix: &str) -> Option<String> {
    etcd.get(&format!("{prefix}/record"), false)
        .ok()
        .flatten()
        .and_then(|kv| serde_json::from_str::<arbiter::types::GroupRecord>(&kv.value).ok())
        .map(|r| r.primary)
}

/// A child's stderr, collected by a thread as it comes.
fn collect(child: &mut std::process::Child) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let mut stderr = child.stderr.take().unwrap();
    let sink = Arc::clone(&text);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    text
}

/// Stops `child` with SIGTERM; its exit code.
fn stop(child: support::Guard) -> Option<i32> {
    let child = child.take();
    support::signal(&child, "-TERM");
    support::wait_exit(child).0
}

/// Every file under `dir` (recursively), by path, as lossy text.
fn files_under(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            let bytes = std::fs::read(&path).unwrap();
            out.push((path, String::from_utf8_lossy(&bytes).into_owned()));
        }
    }
    out
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn an_acl_user_with_the_documented_commands_fails_over_rotates_its_password_and_no_secret_leaks() {
    let rules = documented_acl();
    let prefix = "arbiter/acl";
    let etcd_server = support::etcd();
    etcd_enable_auth(&etcd_server.addr, prefix, ETCD_SECRET);
    let etcd = etcd_root(&etcd_server.addr);
    let r1 = acl_node(support::free_port(), None, REDIS_SECRET, &rules);
    let r2 = acl_node(support::free_port(), Some(&r1.addr), REDIS_SECRET, &rules);
    let r3 = acl_node(support::free_port(), Some(&r1.addr), REDIS_SECRET, &rules);
    let watch = RedisNodes::new(Duration::from_secs(1), Some(ADMIN.into()));
    for r in [&r2, &r3] {
        eventually("replicas linked", || linked_to(&watch, &r.addr, &r1.addr).then_some(()));
    }

    let dir = tempfile::tempdir().unwrap();
    let secrets = tempfile::tempdir().unwrap();
    let redis_pw = secret_file(secrets.path(), "redis.pw", REDIS_SECRET);
    let sentinel_pw = secret_file(secrets.path(), "sentinel.pw", SENTINEL_SECRET);
    let sentinel_port = support::free_port();
    let extra = format!(
        "\n[redis]\nusername = \"arbiter\"\npassword_file = \"{}\"\n\n[record]\nenabled = true\npath = \"run-{{instance}}.ron\"\n\n[sentinel]\nlisten = \"127.0.0.1:{sentinel_port}\"\npassword_file = \"{}\"\n",
        redis_pw.display(),
        sentinel_pw.display()
    );
    let config = support::write_config(dir.path(), &etcd_server, prefix, 5, &[&r1, &r2, &r3], &extra);
    // The etcd credentials go in the [etcd] section write_config opened.
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "ttl_s = 5\n",
        &format!("ttl_s = 5\nusername = \"arbiter\"\npassword_env = \"{ETCD_ENV}\"\n"),
        1,
    );
    std::fs::write(&config, text).unwrap();
    let stdout = dir.path().join("stdout.txt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["run", "--log-format", "json", "--config"])
        .arg(&config)
        .env(ETCD_ENV, ETCD_SECRET)
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = collect(&mut child);
    let child = support::Guard::new(child);
    let log_text = || log.lock().unwrap().clone();

    eventually("the record names r1", || {
        (recorded(&etcd, prefix)? == "r1").then_some(())
    });
    for r in [&r1, &r2, &r3] {
        eventually("masteruser and masterauth set on every node", || {
            (admin_config_get(&r.addr, "masteruser") == "arbiter"
                && admin_config_get(&r.addr, "masterauth") == REDIS_SECRET)
                .then_some(())
        });
    }
    // The Sentinel port takes the password from its file.
    let sentinel = redis::Client::open(format!("redis://:{SENTINEL_SECRET}@127.0.0.1:{sentinel_port}/")).unwrap();
    eventually("the Sentinel port accepts its password", || {
        let mut con = sentinel.get_connection_with_timeout(Duration::from_secs(1)).ok()?;
        redis::cmd("PING").query::<String>(&mut con).ok()
    });

    // A failover as the ACL user: r1 dies, a replica is promoted, the
    // other follows it.
    let port1 = r1.port();
    drop(r1);
    let primary = eventually("failed over", || recorded(&etcd, prefix).filter(|p| p != "r1"));
    let (promoted, other) = if primary == "r2" { (&r2, &r3) } else { (&r3, &r2) };
    eventually("the other replica follows the new primary", || {
        linked_to(&watch, &other.addr, &promoted.addr).then_some(())
    });
    // r1 comes back without masteruser or masterauth of its own: it links
    // to the new primary only with what arbiter sets on it.
    let r1 = support::redis_with(port1, None, &["--requirepass", ADMIN], Some(ADMIN));
    acl_setuser(
        &r1.addr,
        std::iter::once(format!(">{REDIS_SECRET}")).chain(rules.iter().cloned()),
    );
    eventually("the restarted r1 follows the new primary", || {
        linked_to(&watch, &r1.addr, &promoted.addr).then_some(())
    });
    assert_eq!(admin_config_get(&r1.addr, "masteruser"), "arbiter");

    // Rotation without downtime: the new password added to the user, the
    // file rewritten, the old password removed; arbiter sets the new one as
    // masterauth everywhere and fails over again with it.
    let nodes = [&r1, &r2, &r3];
    for r in nodes {
        acl_setuser(&r.addr, [format!(">{REDIS_ROTATED}")]);
    }
    secret_file(secrets.path(), "redis.pw", REDIS_ROTATED);
    for r in nodes {
        eventually("masterauth rotated on every node", || {
            (admin_config_get(&r.addr, "masterauth") == REDIS_ROTATED).then_some(())
        });
    }
    for r in nodes {
        acl_setuser(&r.addr, [format!("<{REDIS_SECRET}")]);
    }
    let (second, survivors) = match primary.as_str() {
        "r2" => (r2, [&r1, &r3]),
        _ => (r3, [&r1, &r2]),
    };
    drop(second);
    let again = eventually("failed over after the rotation", || {
        recorded(&etcd, prefix).filter(|p| *p != primary)
    });
    let (new_primary, follower) = if again == "r1" {
        (survivors[0], survivors[1])
    } else {
        (survivors[1], survivors[0])
    };
    eventually(
        "the remaining replica follows, authenticating with the rotated password",
        || linked_to(&watch, &follower.addr, &new_primary.addr).then_some(()),
    );

    // `arbiter status` (text and JSON) and `--help` work and show no secret.
    let mut outputs = vec![("stdout".to_string(), String::new())];
    for args in [&["status", "--config"][..], &["status", "--json", "--config"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_arbiter"))
            .args(args)
            .arg(&config)
            .env(ETCD_ENV, ETCD_SECRET)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains(&new_primary.addr),
            "status sees the group as arbiter:\n{text}"
        );
        outputs.push((format!("arbiter {args:?}"), text));
    }
    for args in [&["--help"][..], &["run", "--help"][..], &["status", "--help"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_arbiter")).args(args).output().unwrap();
        outputs.push((
            format!("arbiter {args:?}"),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ));
    }

    assert_eq!(stop(child), Some(0));
    let log = log_text();
    assert!(log.contains("password file changed"), "{log}");
    outputs.push(("stderr".into(), log));
    outputs[0].1 = std::fs::read_to_string(&stdout).unwrap();
    let recordings: Vec<_> = files_under(dir.path());
    assert!(
        recordings
            .iter()
            .any(|(p, text)| p.extension().is_some_and(|e| e == "ron") && text.contains("promote")),
        "a recording with the failovers"
    );
    outputs.extend(recordings.into_iter().map(|(p, text)| (p.display().to_string(), text)));
    for (what, text) in &outputs {
        for secret in [REDIS_SECRET, REDIS_ROTATED, ETCD_SECRET, SENTINEL_SECRET] {
            assert!(!text.contains(secret), "{what} shows a secret:\n{text}");
        }
    }
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn a_user_missing_a_command_is_told_once_per_node_naming_it_and_arbiter_keeps_retrying() {
    // The documented ACL without `replicaof`: polls work, promotions are
    // refused.
    let rules: Vec<String> = documented_acl().into_iter().filter(|r| r != "+replicaof").collect();
    let etcd_server = support::etcd();
    let r1 = acl_node(support::free_port(), None, REDIS_SECRET, &rules);
    let r2 = acl_node(support::free_port(), Some(&r1.addr), REDIS_SECRET, &rules);
    let watch = RedisNodes::new(Duration::from_secs(1), Some(ADMIN.into()));
    eventually("replica linked", || linked_to(&watch, &r2.addr, &r1.addr).then_some(()));
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("\n[redis]\nusername = \"arbiter\"\npassword = \"{REDIS_SECRET}\"\n");
    let config = support::write_config(dir.path(), &etcd_server, "arbiter/noperm", 5, &[&r1, &r2], &extra);
    let mut child = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["run", "--log-format", "json", "--config"])
        .arg(&config)
        // The retries are logged at debug level.
        .env("ARBITER_LOG", "debug")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = collect(&mut child);
    let mut child = support::Guard::new(child);
    let etcd = Etcd::new(vec![etcd_server.addr.clone()], Duration::from_secs(1));
    eventually("the record names r1", || {
        (recorded(&etcd, "arbiter/noperm")? == "r1").then_some(())
    });
    drop(r1);
    // Refused at least twice: arbiter retries.
    let refused = |log: &str| {
        log.lines()
            .filter(|l| l.contains("REPLICAOF NO ONE") && l.contains("NOPERM"))
            .count()
    };
    eventually("the promotion refused, then tried again", || {
        (refused(&log.lock().unwrap()) >= 2).then_some(())
    });
    let still_running = {
        let mut c = child.take();
        let running = c.try_wait().unwrap().is_none();
        child = support::Guard::new(c);
        running
    };
    assert!(still_running, "arbiter keeps running");
    assert_eq!(stop(child), Some(0));
    let log = log.lock().unwrap().clone();
    for line in log.lines().filter(|l| l.contains("NOPERM")) {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(event["node"], r2.addr.as_str(), "names the node: {line}");
        let error = event["error"].as_str().unwrap();
        assert!(
            error.contains("redis.username may not run `replicaof`"),
            "names the command: {error}"
        );
    }
    assert!(refused(&log) >= 2, "{log}");
    // Told once as a warning (the retries at debug level), as what it is:
    // not as a refused transaction.
    let warned = log
        .lines()
        .filter(|l| l.contains("\"WARN\"") && l.contains("NOPERM"))
        .count();
    assert_eq!(warned, 1, "{log}");
    assert!(!log.contains("refused MULTI"), "{log}");
    for advice in ["allow-data-loss", "allow_data_loss", "data loss"] {
        assert!(!log.contains(advice), "no advice to lose data ({advice}):\n{log}");
    }
    assert!(!log.contains(REDIS_SECRET), "{log}");
}

/// An `etcd` on fixed ports with its data in `dir`, restartable there.
fn etcd_at(dir: &Path, client: u16, peer: u16) -> support::Guard {
    etcd_at_with(dir, client, peer, &[])
}

/// [`etcd_at`] with more arguments.
fn etcd_at_with(dir: &Path, client: u16, peer: u16, args: &[&str]) -> support::Guard {
    let client_url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let log = std::fs::File::options()
        .create(true)
        .append(true)
        .open(dir.join("etcd.log"))
        .unwrap();
    let child = Command::new("etcd")
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--name", "test", "--listen-client-urls", &client_url])
        .args(["--advertise-client-urls", &client_url, "--listen-peer-urls", &peer_url])
        .args(["--initial-advertise-peer-urls", &peer_url])
        .args(["--initial-cluster", &format!("test={peer_url}")])
        .args(args)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let guard = support::Guard::new(child);
    eventually("etcd answers", || {
        Etcd::new(vec![client_url.clone()], Duration::from_millis(500))
            .get("probe", false)
            .err()
            .is_none_or(|e| matches!(e, EtcdError::Auth(_)))
            .then_some(())
    });
    guard
}

#[test]
#[ignore = "needs etcd: run scripts/test"]
fn etcd_credentials_are_checked_and_a_token_lost_in_a_restart_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let (client, peer) = (support::free_port(), support::free_port());
    let endpoint = format!("http://127.0.0.1:{client}");
    let server = etcd_at(dir.path(), client, peer);
    etcd_enable_auth(&endpoint, "arbiter/etcd", ETCD_SECRET);
    let as_user = |password: &str| {
        Etcd::new(vec![endpoint.clone()], Duration::from_secs(1)).with_credentials(Some(EtcdCredentials {
            username: "arbiter".into(),
            password: Secret::new(password),
        }))
    };

    // A wrong password: one error naming the endpoint and the user.
    let e = as_user("wrong-pw").get("arbiter/etcd/k", false).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, EtcdError::Auth(_)), "{e:?}");
    assert!(
        text.starts_with(&format!("etcd authentication failed: {endpoint}: user `arbiter`: ")),
        "{text}"
    );
    assert!(text.contains("invalid user ID or password"), "{text}");
    assert!(!text.contains("wrong-pw"), "{text}");
    // No credentials where etcd needs some.
    let e = Etcd::new(vec![endpoint.clone()], Duration::from_secs(1))
        .get("arbiter/etcd/k", false)
        .unwrap_err();
    assert!(matches!(e, EtcdError::Auth(_)), "{e:?}");
    assert!(e.to_string().contains("set etcd.username"), "{e}");
    // Outside the role's prefix: permission denied, named.
    let user = as_user(ETCD_SECRET);
    let e = user.put("elsewhere", "x").unwrap_err();
    assert!(e.to_string().contains("permission denied"), "{e}");

    // `arbiter run` with a wrong password: told once, naming the endpoint
    // and the user, and it keeps trying.
    let conf_dir = tempfile::tempdir().unwrap();
    let config = conf_dir.path().join("arbiter.toml");
    std::fs::write(
        &config,
        format!(
            "[etcd]\nendpoints = [\"{endpoint}\"]\nprefix = \"arbiter/etcd\"\nusername = \"arbiter\"\npassword_env = \"{ETCD_ENV}\"\n\n[[nodes]]\nname = \"r1\"\naddr = \"127.0.0.1:{}\"\n\n[[nodes]]\nname = \"r2\"\naddr = \"127.0.0.1:{}\"\n",
            support::free_port(),
            support::free_port()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["run", "--log-format", "json", "--config"])
        .arg(&config)
        .env(ETCD_ENV, "wrong-pw-in-env")
        // Every try is logged at debug level.
        .env("ARBITER_LOG", "debug")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = collect(&mut child);
    let mut child = support::Guard::new(child);
    let told = |log: &str| {
        log.lines()
            .filter(|l| l.contains("\"WARN\"") && l.contains("etcd authentication failed"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    eventually("told", || (!told(&log.lock().unwrap()).is_empty()).then_some(()));
    eventually("tried three times", || {
        let log = log.lock().unwrap();
        let tries = log
            .lines()
            .filter(|l| l.contains("etcd: failed") && l.contains("authentication failed"))
            .count();
        (tries >= 3).then_some(())
    });
    let running = {
        let mut c = child.take();
        let running = c.try_wait().unwrap().is_none();
        child = support::Guard::new(c);
        running
    };
    assert!(running, "arbiter keeps running");
    assert_eq!(stop(child), Some(0));
    let log = log.lock().unwrap().clone();
    let warned = told(&log);
    assert_eq!(warned.len(), 1, "{log}");
    assert!(
        warned[0].contains(&format!(
            "{endpoint}: user `arbiter`: HTTP 400: etcdserver: authentication failed"
        )),
        "{log}"
    );
    assert!(!log.contains("wrong-pw-in-env"), "{log}");

    // The right one works, leases included.
    user.put("arbiter/etcd/k", "v1").unwrap();
    let lease = user.grant(5).unwrap();
    assert!(user.create("arbiter/etcd/leased", "x", lease).unwrap().0);
    assert_eq!(user.get("arbiter/etcd/k", false).unwrap().unwrap().value, "v1");

    // etcd restarts: its simple tokens are gone; the client authenticates
    // again and the request goes through.
    drop(server);
    let _server = etcd_at(dir.path(), client, peer);
    eventually("the same client reads after the restart", || {
        user.get("arbiter/etcd/k", false).ok().flatten()
    });
    user.put("arbiter/etcd/k", "v2").unwrap();
    assert_eq!(user.get("arbiter/etcd/k", false).unwrap().unwrap().value, "v2");

    // Rotation: the client reads its password from a file; the file is
    // rewritten, then the password changed in etcd (which invalidates
    // every token): the client authenticates again with the file's new
    // password.
    let secrets = tempfile::tempdir().unwrap();
    let file = secret_file(secrets.path(), "etcd.pw", ETCD_SECRET);
    let from_file = Etcd::new(vec![endpoint.clone()], Duration::from_secs(1)).with_credentials(Some(EtcdCredentials {
        username: "arbiter".into(),
        password: Secret::from_file(&file).unwrap(),
    }));
    assert_eq!(from_file.get("arbiter/etcd/k", false).unwrap().unwrap().value, "v2");
    secret_file(secrets.path(), "etcd.pw", ETCD_ROTATED);
    assert_eq!(
        from_file.get("arbiter/etcd/k", false).unwrap().unwrap().value,
        "v2",
        "the token held still works"
    );
    let root = etcd_post(
        &endpoint,
        "auth/authenticate",
        serde_json::json!({"name": "root", "password": ADMIN}),
        None,
    );
    etcd_post(
        &endpoint,
        "auth/user/changepw",
        serde_json::json!({"name": "arbiter", "password": ETCD_ROTATED}),
        root["token"].as_str(),
    );
    assert_eq!(from_file.get("arbiter/etcd/k", false).unwrap().unwrap().value, "v2");
    let e = user.get("arbiter/etcd/k", false).unwrap_err();
    assert!(
        e.to_string().contains("invalid user ID or password"),
        "the old password is refused: {e}"
    );
}

#[test]
fn a_password_file_others_may_read_stops_arbiter_at_start_naming_it_and_its_mode() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let pw = secret_file(dir.path(), "redis.pw", REDIS_SECRET);
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = dir.path().join("arbiter.toml");
    std::fs::write(
        &config,
        format!(
            "[etcd]\nendpoints = [\"http://127.0.0.1:1\"]\n\n[redis]\npassword_file = \"{}\"\n\n[[nodes]]\nname = \"r1\"\naddr = \"127.0.0.1:1\"\n\n[[nodes]]\nname = \"r2\"\naddr = \"127.0.0.1:2\"\n",
            pw.display()
        ),
    )
    .unwrap();
    for args in [&["run"][..], &["status"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_arbiter"))
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "redis.password_file: `{}` has mode 0644: group or others may read it",
                pw.display()
            )),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains(REDIS_SECRET), "{stderr}");
    }
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn a_user_that_may_not_run_info_sees_no_node_and_fails_nothing_over() {
    // Without `info` every poll is refused: the nodes are up, arbiter
    // cannot see them, which must not read as an outage.
    let rules: Vec<String> = documented_acl().into_iter().filter(|r| r != "+info").collect();
    let etcd_server = support::etcd();
    let r1 = acl_node(support::free_port(), None, REDIS_SECRET, &rules);
    let r2 = acl_node(support::free_port(), Some(&r1.addr), REDIS_SECRET, &rules);
    let dir = tempfile::tempdir().unwrap();
    let extra = format!("\n[redis]\nusername = \"arbiter\"\npassword = \"{REDIS_SECRET}\"\n");
    let config = support::write_config(dir.path(), &etcd_server, "arbiter/noinfo", 5, &[&r1, &r2], &extra);
    let mut child = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["run", "--log-format", "json", "--config"])
        .arg(&config)
        .env("ARBITER_LOG", "debug")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = collect(&mut child);
    let child = support::Guard::new(child);
    // Well past down_after_ms (1 s at 200 ms checks): 20 refused polls.
    eventually("polls refused", || {
        let log = log.lock().unwrap();
        let refused = log
            .lines()
            .filter(|l| l.contains("poll failed") && l.contains("may not run `info`"))
            .count();
        (refused >= 20).then_some(())
    });
    assert_eq!(stop(child), Some(0));
    let log = log.lock().unwrap().clone();
    for name in ["r1", "r2"] {
        let told = log
            .lines()
            .filter(|l| {
                l.contains("\"WARN\"")
                    && l.contains("refuses a command arbiter needs")
                    && l.contains(&format!("\"node\":\"{name}\""))
            })
            .count();
        assert_eq!(told, 1, "{name} told once:\n{log}");
    }
    for wrong in [
        "node unreachable",
        "failing over",
        "promoting",
        "allow-data-loss",
        "allow_data_loss",
    ] {
        assert!(!log.contains(wrong), "{wrong}:\n{log}");
    }
}

const REPLICA_SECRET: &str = "Rr7-replica-SECRET-j28q";

/// The rules of the replication user exactly as the README documents them
/// (its `ACL SETUSER replica on >PASSWORD ...` line).
fn documented_replication_acl() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let line = readme
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("ACL SETUSER replica on >PASSWORD "))
        .expect("the README documents the replication user's ACL");
    line.split_whitespace().skip(5).map(str::to_string).collect()
}

/// `ACL SETUSER user on RULES...` on `addr` as the `default` user.
fn acl_setuser_as(addr: &str, user: &str, rules: impl IntoIterator<Item = String>) {
    let mut cmd = redis::cmd("ACL");
    cmd.arg("SETUSER").arg(user).arg("on");
    for r in rules {
        cmd.arg(r);
    }
    let () = cmd.query(&mut admin(addr)).unwrap();
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn replicas_authenticate_as_a_replication_user_that_may_only_replicate() {
    // arbiter's user without `psync` and `replconf` (it no longer needs
    // them), and a `replica` user with exactly the README's replication
    // ACL. Replicas start without masteruser or masterauth: they link only
    // with what arbiter sets, on every node, then follow a failover.
    let rules: Vec<String> = documented_acl()
        .into_iter()
        .filter(|r| r != "+psync" && r != "+replconf")
        .collect();
    let replication = documented_replication_acl();
    let node = |primary: Option<&str>| {
        let server = support::redis_with(support::free_port(), primary, &["--requirepass", ADMIN], Some(ADMIN));
        acl_setuser_as(
            &server.addr,
            "arbiter",
            std::iter::once(format!(">{REDIS_SECRET}")).chain(rules.iter().cloned()),
        );
        acl_setuser_as(
            &server.addr,
            "replica",
            std::iter::once(format!(">{REPLICA_SECRET}")).chain(replication.iter().cloned()),
        );
        server
    };
    let prefix = "arbiter/replication";
    let etcd_server = support::etcd();
    let etcd = Etcd::new(vec![etcd_server.addr.clone()], Duration::from_secs(1));
    let r1 = node(None);
    let r2 = node(Some(&r1.addr));
    let r3 = node(Some(&r1.addr));
    let watch = RedisNodes::new(Duration::from_secs(1), Some(ADMIN.into()));
    assert!(
        !linked_to(&watch, &r2.addr, &r1.addr),
        "r2 cannot link before arbiter sets masteruser and masterauth"
    );

    let dir = tempfile::tempdir().unwrap();
    let secrets = tempfile::tempdir().unwrap();
    let redis_pw = secret_file(secrets.path(), "redis.pw", REDIS_SECRET);
    let replica_pw = secret_file(secrets.path(), "replica.pw", REPLICA_SECRET);
    let extra = format!(
        "\n[redis]\nusername = \"arbiter\"\npassword_file = \"{}\"\nreplication_username = \"replica\"\nreplication_password_file = \"{}\"\n",
        redis_pw.display(),
        replica_pw.display()
    );
    let config = support::write_config(dir.path(), &etcd_server, prefix, 5, &[&r1, &r2, &r3], &extra);
    let mut child = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["run", "--log-format", "json", "--config"])
        .arg(&config)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = collect(&mut child);
    let child = support::Guard::new(child);

    eventually("the record names r1", || {
        (recorded(&etcd, prefix)? == "r1").then_some(())
    });
    for r in [&r1, &r2, &r3] {
        eventually("the replication user set on every node", || {
            (admin_config_get(&r.addr, "masteruser") == "replica"
                && admin_config_get(&r.addr, "masterauth") == REPLICA_SECRET)
                .then_some(())
        });
    }
    for r in [&r2, &r3] {
        eventually("the replicas link up as `replica`", || {
            linked_to(&watch, &r.addr, &r1.addr).then_some(())
        });
    }

    drop(r1);
    let primary = eventually("failed over", || recorded(&etcd, prefix).filter(|p| p != "r1"));
    let (promoted, other) = if primary == "r2" { (&r2, &r3) } else { (&r3, &r2) };
    eventually("the other replica follows the new primary as `replica`", || {
        linked_to(&watch, &other.addr, &promoted.addr).then_some(())
    });

    assert_eq!(stop(child), Some(0));
    let log = log.lock().unwrap().clone();
    assert!(
        log.contains("masteruser, masterauth"),
        "the settings are logged:\n{log}"
    );
    assert!(!log.contains("NOPERM"), "{log}");
    for secret in [REDIS_SECRET, REPLICA_SECRET] {
        assert!(!log.contains(secret), "a secret in the log:\n{log}");
    }

    // Replication credentials without a user: the `default` user's
    // password, and masteruser cleared.
    RedisNodes::new(Duration::from_secs(1), Some(ADMIN.into()))
        .with_replication(Some(arbiter::live::redis::Replication {
            username: None,
            password: Secret::new(ADMIN),
        }))
        .configure(&other.addr, None, true)
        .unwrap();
    assert_eq!(admin_config_get(&other.addr, "masteruser"), "");
    assert_eq!(admin_config_get(&other.addr, "masterauth"), ADMIN);
    // Its link to the primary cut: it must authenticate again, now so.
    let _: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("master")
        .query(&mut admin(&other.addr))
        .unwrap();
    eventually("the replica links again as `default`", || {
        linked_to(&watch, &other.addr, &promoted.addr).then_some(())
    });
}

/// An ES256 key pair for etcd's JWT tokens, as PEM files in `dir`: the
/// private key and the public key.
fn jwt_keys(dir: &Path) -> (PathBuf, PathBuf) {
    let key = rcgen::KeyPair::generate().unwrap();
    let private = secret_file(dir, "jwt.key", &key.serialize_pem());
    let public = dir.join("jwt.pub");
    std::fs::write(&public, key.public_key_pem()).unwrap();
    (private, public)
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn etcd_jwt_tokens_are_renewed_before_they_expire() {
    // etcd signs JWT tokens that live 2 s (`--auth-token jwt,...,ttl=2s`);
    // arbiter renews each before it expires (half its remaining life),
    // and keeps leading past many lifetimes without etcd ever refusing a
    // token (the path `etcd refused the auth token` is never taken).
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = jwt_keys(dir.path());
    let (client, peer) = (support::free_port(), support::free_port());
    let endpoint = format!("http://127.0.0.1:{client}");
    let auth_token = format!(
        "jwt,pub-key={},priv-key={},sign-method=ES256,ttl=2s",
        public.display(),
        private.display()
    );
    let _server = etcd_at_with(dir.path(), client, peer, &["--auth-token", &auth_token]);
    let prefix = "arbiter/jwt";
    etcd_enable_auth(&endpoint, prefix, ETCD_SECRET);

    // The tokens do expire: one taken by the test is refused once its
    // two seconds are over.
    let token = etcd_post(
        &endpoint,
        "auth/authenticate",
        serde_json::json!({"name": "root", "password": ADMIN}),
        None,
    )["token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    eventually("etcd refuses the test's own token once it expired", || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut response = agent
            .post(format!("{endpoint}/v3/kv/range"))
            .header("Authorization", &token)
            .send_json(serde_json::json!({"key": b64("probe")}))
            .ok()?;
        let text = response.body_mut().read_to_string().ok()?;
        text.contains("invalid auth token").then_some(())
    });

    let r1 = support::redis(None);
    let r2 = support::redis(Some(&r1.addr));
    let conf_dir = tempfile::tempdir().unwrap();
    let config = conf_dir.path().join("arbiter.toml");
    std::fs::write(
        &config,
        format!(
            "[etcd]\nendpoints = [\"{endpoint}\"]\nprefix = \"{prefix}\"\nusername = \"arbiter\"\npassword_env = \"{ETCD_ENV}\"\n\n[settings]\ncheck_interval_ms = 200\n\n[[nodes]]\nname = \"r1\"\naddr = \"{}\"\n\n[[nodes]]\nname = \"r2\"\naddr = \"{}\"\n",
            r1.addr, r2.addr
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_arbiter"))
        .args(["run", "--log-format", "json", "--config"])
        .arg(&config)
        .env(ETCD_ENV, ETCD_SECRET)
        .env("ARBITER_LOG", "debug")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = collect(&mut child);
    let child = support::Guard::new(child);
    let etcd = etcd_root(&endpoint);
    eventually("the record names r1", || {
        (recorded(&etcd, prefix)? == "r1").then_some(())
    });
    // Renewals come at most one second apart (half of at most two
    // seconds left): 16 of them span more than four token lifetimes.
    let renewals = |log: &str| log.lines().filter(|l| l.contains("etcd: auth token renewed")).count();
    eventually("16 renewals", || (renewals(&log.lock().unwrap()) >= 16).then_some(()));
    let running = {
        let mut c = child.take();
        let running = c.try_wait().unwrap().is_none();
        assert!(running, "arbiter keeps running");
        support::Guard::new(c)
    };
    assert_eq!(stop(running), Some(0));
    let log = log.lock().unwrap().clone();
    assert_eq!(recorded(&etcd, prefix).as_deref(), Some("r1"), "{log}");
    assert!(
        !log.contains("etcd refused the auth token"),
        "no token expired in use:\n{log}"
    );
    assert!(!log.contains("invalid auth token"), "{log}");
    assert!(!log.contains("etcd: failed"), "{log}");
    assert!(!log.contains(ETCD_SECRET), "{log}");
}
