//! What one TLS poll of a Redis node costs, the way arbiter connects
//! (`arbiter`: [`arbiter::live::tls::Tls::redis_connection`], the files
//! read again at every connection and parsed only when they changed) and
//! the way the `redis` crate's own TLS does (`crate`: its
//! `Client::build_with_tls`, which builds its rustls configuration, CA
//! parsed, at every connection). Each poll is a new connection and one
//! `INFO server replication keyspace`, as arbiter's. Certificates are
//! made at start (rcgen) and a `redis-server` is started with TLS only.
//!
//! Count instructions with callgrind, collecting only the polls:
//!
//! ```sh
//! cargo build --release -p arbiter --example tls_poll_cost
//! for mode in crate arbiter; do
//!   valgrind --tool=callgrind --toggle-collect='*tls_poll_cost::polls*' \
//!     --callgrind-out-file=/tmp/cg.$mode target/release/examples/tls_poll_cost $mode 100 2>&1 | grep refs
//! done
//! # with the system's CA bundle appended to the CA file:
//! ... tls_poll_cost arbiter 100 /etc/ssl/certs/ca-certificates.crt
//! ```

use std::path::Path;
use std::time::Duration;

use arbiter::live::tls::{Tls, TlsFiles};
use arbiter_testkit::servers as support;
use rcgen::{BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, SanType};

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn leaf(issuer: &Issuer<'_, KeyPair>) -> (String, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    (params.signed_by(&key, issuer).unwrap().pem(), key.serialize_pem())
}

/// `n` polls of `addr`: a new connection and one `INFO` each.
#[inline(never)]
fn polls(n: usize, mut connect: impl FnMut() -> Box<dyn redis::ConnectionLike>) {
    for _ in 0..n {
        let mut con = connect();
        let text: String = redis::cmd("INFO")
            .arg("server")
            .arg("replication")
            .arg("keyspace")
            .query(&mut *con)
            .unwrap();
        assert!(text.contains("role:master"));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: tls_poll_cost crate|arbiter POLLS [EXTRA_CA_BUNDLE]";
    let mode = args.get(1).expect(usage).clone();
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).expect(usage);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "cost CA");
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let (server, server_key) = leaf(&issuer);
    let (client, client_key) = leaf(&issuer);
    let extra = args
        .get(3)
        .map(|p| std::fs::read_to_string(p).unwrap())
        .unwrap_or_default();
    let ca_file = write(d, "ca.pem", &format!("{ca_pem}{extra}"));
    let files = support::TlsFiles {
        cert: write(d, "server.pem", &server),
        key: write(d, "server.key", &server_key),
        ca: write(d, "server-ca.pem", &ca_pem),
    };
    let tls = Tls::load(
        TlsFiles {
            ca_file: Some(ca_file.clone()),
            cert_file: Some(write(d, "client.pem", &client)),
            key_file: Some(write(d, "client.key", &client_key)),
            server_name: None,
        },
        "redis.tls",
    )
    .unwrap();
    let node = support::redis_tls(None, None, &files, &[], &tls);
    let timeout = Duration::from_secs(2);
    match mode.as_str() {
        "arbiter" => polls(n, || Box::new(tls.redis_connection(&node.addr, timeout).unwrap())),
        "crate" => {
            let certificates = redis::TlsCertificates {
                client_tls: Some(redis::ClientTlsConfig {
                    client_cert: client.clone().into_bytes(),
                    client_key: client_key.clone().into_bytes(),
                }),
                root_cert: Some(std::fs::read(&ca_file).unwrap()),
            };
            let client = redis::Client::build_with_tls(format!("rediss://{}/", node.addr), certificates).unwrap();
            polls(n, || Box::new(client.get_connection_with_timeout(timeout).unwrap()));
        }
        other => panic!("{usage}: not {other}"),
    }
    println!("{mode}: {n} polls of {}", node.addr);
}
