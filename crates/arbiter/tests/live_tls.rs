//! TLS against real servers, with certificates made at test time (rcgen):
//! `redis-server` on a TLS port only (`--port 0 --tls-port`,
//! `--tls-auth-clients yes`, `--tls-replication yes`) and `etcd` on https
//! with client-certificate authentication (`--client-cert-auth`).
//!
//! - A failover works end to end over TLS, and arbiter sets
//!   `tls-replication yes` on a node that lacked it (its link to the
//!   primary comes up only then); the Sentinel and HTTP ports serve TLS
//!   to clients with a certificate, and refuse clients without one or in
//!   plain text.
//! - A wrong CA, an expired server certificate and a missing client
//!   certificate each give one clear error naming the endpoint and what
//!   failed, in the clients and in `arbiter run`, which keeps retrying:
//!   no crash, no node called down, no advice to allow data loss.

use arbiter_testkit::servers::{self as support, TlsFiles};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use arbiter::live::etcd::Etcd;
use arbiter::live::redis::RedisNodes;
use arbiter::live::tls::{self, Tls};
use arbiter::types::{RedisError, Role};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SanType,
};

fn eventually<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    support::eventually(what, Duration::from_secs(30), f)
}

/// The certificates of one test, as PEM files in a temp dir.
struct Pki {
    dir: tempfile::TempDir,
    /// What the servers present, and the CA they trust for clients.
    server: TlsFiles,
    /// A server certificate whose validity ended in 2021 (same CA).
    expired: TlsFiles,
    /// arbiter's client certificate and key (signed by the CA).
    client_cert: PathBuf,
    client_key: PathBuf,
    /// Another CA, which signed none of the above.
    other_ca: PathBuf,
}

fn ca(name: &str) -> (CertificateParams, KeyPair, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let pem = params.self_signed(&key).unwrap().pem();
    (params, key, pem)
}

/// A leaf certificate signed by `issuer`, for 127.0.0.1 and localhost,
/// usable by a server and as a client (a Redis replica presents its
/// server certificate to its primary).
fn leaf(issuer: &Issuer<'_, KeyPair>, name: &str, expired: bool) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// Writes `text` to `name` in `dir`, readable by this user only (arbiter
/// refuses a private key every user can read).
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ca_params, ca_key, ca_pem) = ca("arbiter test CA");
    let issuer = Issuer::new(ca_params, ca_key);
    let (server_pem, server_key) = leaf(&issuer, "server", false);
    let (expired_pem, expired_key) = leaf(&issuer, "expired server", true);
    let (client_pem, client_key) = leaf(&issuer, "arbiter", false);
    let (_, _, other_pem) = ca("another CA");
    let ca = write(d, "ca.pem", &ca_pem);
    Pki {
        server: TlsFiles {
            cert: write(d, "server.pem", &server_pem),
            key: write(d, "server.key", &server_key),
            ca: ca.clone(),
        },
        expired: TlsFiles {
            cert: write(d, "expired.pem", &expired_pem),
            key: write(d, "expired.key", &expired_key),
            ca,
        },
        client_cert: write(d, "client.pem", &client_pem),
        client_key: write(d, "client.key", &client_key),
        other_ca: write(d, "other-ca.pem", &other_pem),
        dir,
    }
}

impl Pki {
    /// arbiter's side (`[redis.tls]`): trusting `ca`, with its client
    /// certificate when `identity`.
    fn client(&self, ca: &Path, identity: bool) -> Tls {
        self.client_in("redis.tls", ca, identity)
    }

    /// The same as the `section` its errors name.
    fn client_in(&self, section: &str, ca: &Path, identity: bool) -> Tls {
        Tls::load(
            tls::TlsFiles {
                ca_file: Some(ca.to_path_buf()),
                cert_file: identity.then(|| self.client_cert.clone()),
                key_file: identity.then(|| self.client_key.clone()),
                server_name: None,
            },
            section,
        )
        .unwrap()
    }

    /// The `[redis.tls]` or `[etcd.tls]` section of the same.
    fn section(&self, name: &str, ca: &Path, identity: bool) -> String {
        let mut text = format!("\n[{name}]\nca_file = \"{}\"\n", ca.display());
        if identity {
            text.push_str(&format!(
                "cert_file = \"{}\"\nkey_file = \"{}\"\n",
                self.client_cert.display(),
                self.client_key.display()
            ));
        }
        text
    }
}

fn linked_to(nodes: &RedisNodes, addr: &str, primary: &str) -> bool {
    nodes
        .status(addr)
        .is_ok_and(|s| matches!(s.role, Role::Replica { primary: ref p, link_up: true, .. } if p == primary))
}

/// `CONFIG GET name` over TLS.
fn config_get(tls: &Tls, addr: &str, name: &str) -> String {
    let mut con = tls.redis_connection(addr, Duration::from_secs(1)).unwrap();
    let pair: Vec<String> = redis::cmd("CONFIG").arg("GET").arg(name).query(&mut con).unwrap();
    pair.get(1).cloned().unwrap_or_default()
}

/// `SENTINEL GET-MASTER-ADDR-BY-NAME mymaster` on `sentinel` over TLS.
fn master_addr(tls: &Tls, sentinel: &str) -> redis::RedisResult<String> {
    let mut con = tls.redis_connection(sentinel, Duration::from_secs(1))?;
    let (host, port): (String, String) = redis::cmd("SENTINEL")
        .arg("GET-MASTER-ADDR-BY-NAME")
        .arg("mymaster")
        .query(&mut con)?;
    Ok(format!("{host}:{port}"))
}

/// `GET url` over TLS: the status and the body.
fn get(tls: &Tls, url: &str) -> Result<(u16, String), ureq::Error> {
    let agent = tls.ureq_agent(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(2)))
            .build(),
    );
    let mut response = agent.get(url).call()?;
    Ok((response.status().as_u16(), response.body_mut().read_to_string()?))
}

fn run(config: &Path) -> support::Guard {
    support::Guard::new(
        Command::new(env!("CARGO_BIN_EXE_arbiter"))
            .args(["run", "--log-format", "json", "--config"])
            .arg(config)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn a_failover_works_end_to_end_over_tls() {
    let pki = pki();
    let client = pki.client(&pki.server.ca, true);
    let etcd_server = support::etcd_tls(&pki.server, &client);
    let r1 = support::redis_tls(None, None, &pki.server, &[], &client);
    let r2 = support::redis_tls(None, Some(&r1.addr), &pki.server, &[], &client);
    // r3 as an operator might forget it: replication in plain text to a
    // TLS port, so its link stays down until arbiter sets tls-replication.
    let r3 = support::redis_tls(None, Some(&r1.addr), &pki.server, &["--tls-replication", "no"], &client);
    let nodes = RedisNodes::new(Duration::from_secs(1), None).with_tls(Some(client.clone()));
    eventually("r2 linked", || linked_to(&nodes, &r2.addr, &r1.addr).then_some(()));
    assert!(
        !linked_to(&nodes, &r3.addr, &r1.addr),
        "r3 cannot link without tls-replication"
    );

    // The client-facing ports with TLS and client certificates too.
    let (sentinel_port, http_port) = (support::free_port(), support::free_port());
    let port_tls = |name: &str| {
        format!(
            "\n[{name}.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\nclient_ca_file = \"{}\"\n",
            pki.server.cert.display(),
            pki.server.key.display(),
            pki.server.ca.display()
        )
    };
    let extra = format!(
        "{}{}\n[sentinel]\nlisten = \"127.0.0.1:{sentinel_port}\"\n{}\n[http]\nlisten = \"127.0.0.1:{http_port}\"\n{}",
        pki.section("redis.tls", &pki.server.ca, true),
        pki.section("etcd.tls", &pki.server.ca, true),
        port_tls("sentinel"),
        port_tls("http"),
    );
    let dir = tempfile::tempdir().unwrap();
    let config = support::write_config(dir.path(), &etcd_server, "arbiter/tls", 5, &[&r1, &r2, &r3], &extra);
    let child = run(&config);
    let etcd = Etcd::with_tls(vec![etcd_server.addr.clone()], Duration::from_secs(1), Some(&client));
    let record = || {
        etcd.get("arbiter/tls/record", false)
            .ok()
            .flatten()
            .and_then(|kv| serde_json::from_str::<arbiter::types::GroupRecord>(&kv.value).ok())
    };
    eventually("the record names r1", || record().filter(|r| r.primary == "r1"));
    eventually("arbiter set tls-replication on r3: it links up", || {
        linked_to(&nodes, &r3.addr, &r1.addr).then_some(())
    });
    for r in [&r1, &r2, &r3] {
        assert_eq!(config_get(&client, &r.addr, "tls-replication"), "yes", "{}", r.addr);
    }
    let sentinel = format!("127.0.0.1:{sentinel_port}");
    eventually("the Sentinel port names r1 over TLS", || {
        (master_addr(&client, &sentinel).ok()? == r1.addr).then_some(())
    });
    let https = format!("https://127.0.0.1:{http_port}/primary");
    let (status, body) = eventually("the HTTP port answers over TLS", || get(&client, &https).ok());
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"r1\""), "{body}");
    // Without a client certificate, or in plain text, neither port lets
    // a client in.
    let anonymous = pki.client(&pki.server.ca, false);
    assert!(get(&anonymous, &https).is_err());
    assert!(master_addr(&anonymous, &sentinel).is_err());
    let plain = ureq::get(&format!("http://127.0.0.1:{http_port}/primary")).call();
    assert!(plain.is_err(), "plain HTTP to the HTTPS port: {plain:?}");
    let plain = redis::Client::open(format!("redis://{sentinel}/"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(1)))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
    assert!(plain.is_err(), "plain RESP to the TLS Sentinel port: {plain:?}");

    drop(r1);
    let after = eventually("failed over", || record().filter(|r| r.primary != "r1"));
    let (promoted, other) = if after.primary == "r2" { (&r2, &r3) } else { (&r3, &r2) };
    eventually("promoted", || {
        nodes.status(&promoted.addr).ok().filter(|s| s.role == Role::Primary)
    });
    eventually("the other replica resyncs from the new primary over TLS", || {
        linked_to(&nodes, &other.addr, &promoted.addr).then_some(())
    });
    eventually("the Sentinel port names the new primary", || {
        (master_addr(&client, &sentinel).ok()? == promoted.addr).then_some(())
    });
    let (_, log) = support::stop_json(child.take());
    assert!(!log.contains("TLS failed"), "{log}");
    assert!(
        log.contains("tls-replication yes"),
        "the node settings are logged:\n{log}"
    );
    drop(pki.dir);
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn a_wrong_ca_an_expired_certificate_and_a_missing_client_certificate_are_told_and_retried() {
    let pki = pki();
    let client = pki.client(&pki.server.ca, true);
    let etcd_server = support::etcd_tls(&pki.server, &client);
    let r1 = support::redis_tls(None, None, &pki.server, &[], &client);
    let r2 = support::redis_tls(None, Some(&r1.addr), &pki.server, &[], &client);
    // A node whose certificate expired in 2021: redis-server loads it,
    // clients that verify refuse it.
    let old = support::redis_tls(None, None, &pki.expired, &[], &pki.client(&pki.server.ca, true));

    // The clients: each failure says what failed, as an authentication
    // failure (the node answered), never as an unreachable node.
    let wrong_ca = pki.client(&pki.other_ca, true);
    let anonymous = pki.client(&pki.server.ca, false);
    let status = |tls: &Tls, addr: &str| {
        RedisNodes::new(Duration::from_secs(1), None)
            .with_tls(Some(tls.clone()))
            .status(addr)
    };
    for (tls, addr, expected) in [
        (&wrong_ca, &r1.addr, "not signed by a CA of redis.tls.ca_file"),
        (&client, &old.addr, "the server's certificate has expired"),
        (
            &anonymous,
            &r1.addr,
            "wants a client certificate (redis.tls.cert_file and redis.tls.key_file)",
        ),
    ] {
        match status(tls, addr) {
            Err(RedisError::Auth(e)) => assert!(e.contains(expected), "{addr}: expected {expected:?} in {e:?}"),
            other => panic!("{addr}: expected an authentication failure, got {other:?}"),
        }
    }
    for (tls, expected) in [
        (
            pki.client_in("etcd.tls", &pki.other_ca, true),
            "not signed by a CA of etcd.tls.ca_file",
        ),
        (
            pki.client_in("etcd.tls", &pki.server.ca, false),
            "wants a client certificate (etcd.tls.cert_file and etcd.tls.key_file)",
        ),
    ] {
        let e = Etcd::with_tls(vec![etcd_server.addr.clone()], Duration::from_secs(1), Some(&tls))
            .revision()
            .unwrap_err()
            .to_string();
        assert!(e.contains(&etcd_server.addr), "names the endpoint: {e}");
        assert!(e.contains(expected), "expected {expected:?} in {e:?}");
    }

    // `arbiter run` with a wrong Redis CA: told once per node, naming it;
    // the nodes are not down (no failover, no data-loss advice); it keeps
    // polling until stopped.
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "{}{}",
        pki.section("redis.tls", &pki.other_ca, true),
        pki.section("etcd.tls", &pki.server.ca, true)
    );
    let config = support::write_config(dir.path(), &etcd_server, "arbiter/tls-ca", 5, &[&r1, &r2], &extra);
    let child = run(&config);
    let etcd = Etcd::with_tls(vec![etcd_server.addr.clone()], Duration::from_secs(1), Some(&client));
    eventually("it leads", || {
        etcd.get_prefix("arbiter/tls-ca/election/")
            .ok()
            .filter(|c| !c.is_empty())
    });
    // Several checks (200 ms each) after the first failure.
    std::thread::sleep(Duration::from_millis(1500));
    let (events, log) = support::stop_json(child.take());
    for (name, n) in [("r1", &r1), ("r2", &r2)] {
        let said: Vec<&serde_json::Value> = events
            .iter()
            .filter(|e| e["message"].as_str().unwrap_or("").starts_with("TLS failed:") && e["node"] == name)
            .collect();
        assert_eq!(said.len(), 1, "told once for {name}:\n{log}");
        assert_eq!(said[0]["addr"], n.addr.as_str(), "{log}");
        let error = said[0]["error"].as_str().unwrap();
        assert!(error.contains("not signed by a CA of redis.tls.ca_file"), "{log}");
        let at_startup = events
            .iter()
            .filter(|e| e["message"].as_str().unwrap_or("").starts_with("TLS failed at startup") && e["node"] == n.addr)
            .count();
        assert_eq!(at_startup, 1, "{log}");
    }
    assert!(!log.contains("node unreachable"), "{log}");
    assert!(!log.contains("allow_data_loss"), "{log}");
    assert!(!log.contains("allow-data-loss"), "{log}");

    // etcd without arbiter's client certificate: the instance keeps
    // retrying (one warning for the outage) and stops cleanly.
    let extra = format!(
        "{}{}",
        pki.section("redis.tls", &pki.server.ca, true),
        pki.section("etcd.tls", &pki.server.ca, false)
    );
    let dir = tempfile::tempdir().unwrap();
    let config = support::write_config(dir.path(), &etcd_server, "arbiter/tls-etcd", 5, &[&r1, &r2], &extra);
    let child = run(&config);
    std::thread::sleep(Duration::from_millis(2000));
    let (events, log) = support::stop_json(child.take());
    let etcd_warnings: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["level"] == "WARN" && e["error"].as_str().unwrap_or("").contains("TLS handshake failed"))
        .collect();
    assert_eq!(etcd_warnings.len(), 1, "told once for the outage:\n{log}");
    for w in &etcd_warnings {
        let error = w["error"].as_str().unwrap();
        assert!(error.contains(&etcd_server.addr), "{log}");
        assert!(error.contains("etcd.tls.cert_file"), "{log}");
    }
    assert!(!log.contains("allow_data_loss"), "{log}");
}

/// The rules of arbiter's Redis ACL user as the README documents them
/// (its `ACL SETUSER arbiter on >PASSWORD ...` line).
fn documented_acl() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let line = readme
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("ACL SETUSER arbiter on >PASSWORD "))
        .expect("the README documents arbiter's ACL user");
    line.split_whitespace().skip(5).map(str::to_string).collect()
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn tls_with_an_acl_user_whose_password_is_in_a_file_fails_over() {
    // As operators will run it: TLS-only nodes whose `default` user needs
    // a password, arbiter as the README's ACL user with its password in a
    // file named relative to the configuration file. Replicas started
    // without masteruser/masterauth link up only once arbiter has set them
    // (over TLS, as that user); then a failover.
    const ADMIN: &str = "tls-admin-pw";
    const PASSWORD: &str = "tls-arbiter-pw";
    let pki = pki();
    let client = pki.client(&pki.server.ca, true);
    let etcd_server = support::etcd_tls(&pki.server, &client);
    let rules = documented_acl();
    let node = |primary: Option<&str>| {
        let server = support::redis_tls(None, primary, &pki.server, &["--requirepass", ADMIN], &client);
        let mut con = client.redis_connection(&server.addr, Duration::from_secs(1)).unwrap();
        let () = redis::cmd("AUTH").arg(ADMIN).query(&mut con).unwrap();
        let mut cmd = redis::cmd("ACL");
        cmd.arg("SETUSER").arg("arbiter").arg("on").arg(format!(">{PASSWORD}"));
        for r in &rules {
            cmd.arg(r);
        }
        let () = cmd.query(&mut con).unwrap();
        server
    };
    let r1 = node(None);
    let r2 = node(Some(&r1.addr));
    let r3 = node(Some(&r1.addr));
    let nodes = RedisNodes::authenticated(
        Duration::from_secs(1),
        Some("arbiter".into()),
        Some(arbiter::secret::Secret::new(PASSWORD)),
    )
    .with_tls(Some(client.clone()));
    assert!(
        !linked_to(&nodes, &r2.addr, &r1.addr),
        "r2 cannot link before arbiter sets masteruser and masterauth"
    );

    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "redis.password", &format!("{PASSWORD}\n"));
    let extra = format!(
        "\n[redis]\nusername = \"arbiter\"\npassword_file = \"redis.password\"\n{}{}",
        pki.section("redis.tls", &pki.server.ca, true),
        pki.section("etcd.tls", &pki.server.ca, true),
    );
    let config = support::write_config(dir.path(), &etcd_server, "arbiter/tls-acl", 5, &[&r1, &r2, &r3], &extra);
    let child = run(&config);
    let etcd = Etcd::with_tls(vec![etcd_server.addr.clone()], Duration::from_secs(1), Some(&client));
    let record = || {
        etcd.get("arbiter/tls-acl/record", false)
            .ok()
            .flatten()
            .and_then(|kv| serde_json::from_str::<arbiter::types::GroupRecord>(&kv.value).ok())
    };
    eventually("the record names r1", || record().filter(|r| r.primary == "r1"));
    for r in [&r2, &r3] {
        eventually("arbiter set masteruser and masterauth: the replica links up", || {
            linked_to(&nodes, &r.addr, &r1.addr).then_some(())
        });
    }

    drop(r1);
    let after = eventually("failed over", || record().filter(|r| r.primary != "r1"));
    let (promoted, other) = if after.primary == "r2" { (&r2, &r3) } else { (&r3, &r2) };
    eventually("promoted", || {
        nodes.status(&promoted.addr).ok().filter(|s| s.role == Role::Primary)
    });
    eventually(
        "the other replica resyncs from the new primary over TLS, as arbiter",
        || linked_to(&nodes, &other.addr, &promoted.addr).then_some(()),
    );
    let (_, log) = support::stop_json(child.take());
    assert!(!log.contains("TLS failed"), "{log}");
    assert!(!log.contains("authentication failed"), "{log}");
    assert!(!log.contains(PASSWORD), "the password is never logged:\n{log}");
    assert!(
        log.contains("masteruser, masterauth, tls-replication yes"),
        "the node settings are logged:\n{log}"
    );
    drop(pki.dir);
}

/// A server certificate (and key) for the DNS name `name` only: no IP
/// address, no `localhost`.
fn named_leaf(issuer: &Issuer<'_, KeyPair>, name: &str) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec![name.to_string()]).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn server_name_verifies_a_certificate_for_a_name_while_connecting_by_ip_address() {
    // Servers whose certificate names only `db.test`, reached at
    // 127.0.0.1: with `server_name = "db.test"` arbiter verifies the
    // certificate against that name and runs; without it, the failure
    // names the endpoint and the name that does not match.
    let pki = pki();
    let d = pki.dir.path();
    // A second CA signs the named certificate; both are trusted (arbiter's
    // client certificate is signed by the first).
    let (ca_params, ca_key, ca2_pem) = ca("names CA");
    let issuer = Issuer::new(ca_params, ca_key);
    let (cert, key) = named_leaf(&issuer, "db.test");
    let both = write(
        d,
        "both-ca.pem",
        &format!("{}{ca2_pem}", std::fs::read_to_string(&pki.server.ca).unwrap()),
    );
    let named = TlsFiles {
        cert: write(d, "named.pem", &cert),
        key: write(d, "named.key", &key),
        // What the servers trust for clients: arbiter's client certificate
        // is signed by the first CA.
        ca: both.clone(),
    };
    let load = |server_name: Option<&str>, section: &str| {
        Tls::load(
            tls::TlsFiles {
                ca_file: Some(both.clone()),
                cert_file: Some(pki.client_cert.clone()),
                key_file: Some(pki.client_key.clone()),
                server_name: server_name.map(str::to_string),
            },
            section,
        )
        .unwrap()
    };
    let redis_named = load(Some("db.test"), "redis.tls");
    let etcd_named = load(Some("db.test"), "etcd.tls");
    let etcd_server = support::etcd_tls(&named, &etcd_named);
    let r1 = support::redis_tls(None, None, &named, &[], &redis_named);
    let r2 = support::redis_tls(None, Some(&r1.addr), &named, &[], &redis_named);

    // The clients, by 127.0.0.1.
    let nodes = |tls: &Tls| RedisNodes::new(Duration::from_secs(1), None).with_tls(Some(tls.clone()));
    assert_eq!(nodes(&redis_named).status(&r1.addr).unwrap().role, Role::Primary);
    let etcd = Etcd::with_tls(
        vec![etcd_server.addr.clone()],
        Duration::from_secs(1),
        Some(&etcd_named),
    );
    etcd.revision().unwrap();
    match nodes(&load(None, "redis.tls")).status(&r1.addr) {
        Err(RedisError::Auth(e)) => {
            assert!(
                e.contains("does not name the host arbiter connects to (set redis.tls.server_name to a name it holds)"),
                "{e}"
            );
            assert!(e.contains("127.0.0.1") && e.contains("db.test"), "both names: {e}");
        }
        other => panic!("expected a name mismatch, got {other:?}"),
    }
    let e = Etcd::with_tls(
        vec![etcd_server.addr.clone()],
        Duration::from_secs(1),
        Some(&load(None, "etcd.tls")),
    )
    .revision()
    .unwrap_err()
    .to_string();
    assert!(e.contains(&etcd_server.addr), "names the endpoint: {e}");
    assert!(e.contains("set etcd.tls.server_name to a name it holds"), "{e}");
    let e = nodes(&load(Some("other.test"), "redis.tls"))
        .status(&r1.addr)
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not hold redis.tls.server_name `other.test`"), "{e}");

    // `arbiter run` with server_name in both sections: it leads, and the
    // replica (whose link arbiter keeps with tls-replication) is seen.
    let dir = tempfile::tempdir().unwrap();
    let section = |name: &str| {
        format!(
            "\n[{name}]\nca_file = \"{}\"\ncert_file = \"{}\"\nkey_file = \"{}\"\nserver_name = \"db.test\"\n",
            both.display(),
            pki.client_cert.display(),
            pki.client_key.display()
        )
    };
    let extra = format!("{}{}", section("redis.tls"), section("etcd.tls"));
    let config = support::write_config(dir.path(), &etcd_server, "arbiter/tls-name", 5, &[&r1, &r2], &extra);
    let child = run(&config);
    let record = || {
        etcd.get("arbiter/tls-name/record", false)
            .ok()
            .flatten()
            .and_then(|kv| serde_json::from_str::<arbiter::types::GroupRecord>(&kv.value).ok())
    };
    eventually("the record names r1", || record().filter(|r| r.primary == "r1"));
    eventually("r2 linked to r1", || {
        linked_to(&nodes(&redis_named), &r2.addr, &r1.addr).then_some(())
    });
    let (_, log) = support::stop_json(child.take());
    assert!(!log.contains("TLS failed"), "{log}");
    assert!(!log.contains("TLS handshake failed"), "{log}");
}

#[test]
#[ignore = "needs redis-server and etcd: run scripts/test"]
fn renewed_tls_files_are_used_from_the_next_connection_without_a_restart() {
    // arbiter's CA file first holds a CA that signed neither server's
    // certificate; it is then rewritten in place with the right one: the
    // same clients connect, without being made again. A later broken
    // rewrite keeps the files loaded before.
    let pki = pki();
    let client = pki.client(&pki.server.ca, true);
    let etcd_server = support::etcd_tls(&pki.server, &client);
    let r1 = support::redis_tls(None, None, &pki.server, &[], &client);
    let dir = tempfile::tempdir().unwrap();
    let ca_text = |path: &Path| std::fs::read_to_string(path).unwrap();
    let ca = write(dir.path(), "ca.pem", &ca_text(&pki.other_ca));
    let load = |section: &str| {
        Tls::load(
            tls::TlsFiles {
                ca_file: Some(ca.clone()),
                cert_file: Some(pki.client_cert.clone()),
                key_file: Some(pki.client_key.clone()),
                server_name: None,
            },
            section,
        )
        .unwrap()
    };
    let nodes = RedisNodes::new(Duration::from_secs(1), None).with_tls(Some(load("redis.tls")));
    let etcd = Etcd::with_tls(
        vec![etcd_server.addr.clone()],
        Duration::from_secs(1),
        Some(&load("etcd.tls")),
    );
    match nodes.status(&r1.addr) {
        Err(RedisError::Auth(e)) => assert!(e.contains("not signed by a CA of redis.tls.ca_file"), "{e}"),
        other => panic!("expected the wrong CA, got {other:?}"),
    }
    let e = etcd.revision().unwrap_err().to_string();
    assert!(e.contains("not signed by a CA of etcd.tls.ca_file"), "{e}");

    write(dir.path(), "ca.pem", &ca_text(&pki.server.ca));
    assert_eq!(nodes.status(&r1.addr).unwrap().role, Role::Primary);
    etcd.revision().unwrap();

    write(dir.path(), "ca.pem", "half a file\n");
    assert_eq!(
        nodes.status(&r1.addr).unwrap().role,
        Role::Primary,
        "a broken CA file keeps the last good one (every Redis command is a new connection)"
    );
    etcd.revision().unwrap();
    // Loaded afresh, as at a restart, the broken file is refused.
    let e = load_fresh(&pki, &ca);
    assert!(e.contains("no certificate in it"), "{e}");
}

/// What loading `ca` afresh (as at start) says.
fn load_fresh(pki: &Pki, ca: &Path) -> String {
    Tls::load(
        tls::TlsFiles {
            ca_file: Some(ca.to_path_buf()),
            cert_file: Some(pki.client_cert.clone()),
            key_file: Some(pki.client_key.clone()),
            server_name: None,
        },
        "etcd.tls",
    )
    .unwrap_err()
}
