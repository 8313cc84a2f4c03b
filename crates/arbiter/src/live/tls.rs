//! TLS to Redis and etcd (`[redis.tls]`, `[etcd.tls]`): the files a
//! section names, read and checked once at start, and what each client
//! library takes from them. rustls with the ring provider throughout (the
//! provider the workspace already builds; aws-lc-rs would need cmake and
//! nasm).
//!
//! - **Trust**: the CA certificates of `ca_file`, or Mozilla's root
//!   certificates (`webpki-roots`, built in) when it is absent. Not the
//!   system's: the `redis` crate reads and parses the system's bundle at
//!   every connection when it trusts it (18 million instructions, 83% of
//!   a TLS poll, with callgrind); to trust the system's CAs, name its
//!   bundle as `ca_file` (parsed at every connection too: 9.9 million
//!   instructions a poll, against 3.2 million with a one-certificate
//!   file).
//! - **Identity** (mutual TLS): `cert_file` (the certificate, then its
//!   chain) and `key_file` (its private key), both or neither.
//! - **Name**: the certificate of a node must name the host of its `addr`
//!   (an IP address SAN when `addr` is an IP address), and an etcd
//!   endpoint's the host of its URL. No server-name override is offered:
//!   neither the `redis` crate nor ureq can verify a certificate against a
//!   name other than the host they connect to.
//!
//! A failed handshake is not an outage: the node answered. Redis's are
//! reported as [`RedisError::Auth`](crate::types::RedisError::Auth) (the
//! node is up, arbiter cannot see it: no failover, no advice to lose
//! data), with what failed and which setting to check ([`redis_failure`]);
//! etcd's name the URL, like every etcd error.
//!
//! The files are read at start: a renewed certificate or CA is taken at
//! the next restart (instances one at a time keep the group served).
//!
//! The client-facing ports (`[sentinel.tls]`, `[http.tls]`) serve TLS with
//! [`ServerTls`]: a certificate and key, and optionally a CA whose client
//! certificates alone are let in (mutual TLS). Their connections are
//! [`Served`] streams, plain or TLS, under the same limits.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A `[redis.tls]` or `[etcd.tls]` section as written: file paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM file of the CA certificates the server's certificate must chain
    /// to (`None`: Mozilla's roots, `webpki-roots`).
    pub ca_file: Option<PathBuf>,
    /// PEM file of arbiter's client certificate and its chain (mutual TLS).
    pub cert_file: Option<PathBuf>,
    /// PEM file of the client certificate's private key.
    pub key_file: Option<PathBuf>,
}

/// The files of a [`TlsFiles`] read and checked: trust anchors that rustls
/// accepts, and a client certificate that goes with its key.
#[derive(Clone, PartialEq, Eq)]
pub struct Tls {
    /// Where it was read from.
    pub files: TlsFiles,
    /// `ca_file`'s text (`None`: Mozilla's roots).
    ca_pem: Option<Vec<u8>>,
    /// `ca_file`'s certificates (`None`: Mozilla's roots).
    roots: Option<Vec<CertificateDer<'static>>>,
    /// `cert_file`'s and `key_file`'s text.
    identity_pem: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for Tls {
    // Never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("files", &self.files)
            .field("roots", &self.roots.as_ref().map(Vec::len))
            .finish_non_exhaustive()
    }
}

fn read(field: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{field}: {}: cannot read: {e}", path.display()))
}

/// A private key's file, refused when every user of the host may read it
/// (a key for arbiter's user and group only: `chmod o-rwx`).
fn read_key(field: &str, path: &Path) -> Result<Vec<u8>, String> {
    let pem = read(field, path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .map_err(|e| format!("{field}: {}: cannot read: {e}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o007 != 0 {
            return Err(format!(
                "{field}: {}: a private key readable by every user (mode {:o}): chmod o-rwx it",
                path.display(),
                mode & 0o777
            ));
        }
    }
    Ok(pem)
}

/// Every certificate in `pem`: an error naming `field` and the file when
/// the PEM is broken or holds none.
fn certificates(field: &str, path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{field}: {}: not readable as PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{field}: {}: no certificate in it (expected -----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

/// The ring provider every TLS client of arbiter uses.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Tls {
    /// Reads and checks `files`; `section` (`redis.tls`, `etcd.tls`) names
    /// the fields in errors, which also name the file: missing or
    /// unreadable, not PEM, no certificate or key in it, a key that does
    /// not go with the certificate, one of the pair without the other.
    pub fn load(files: TlsFiles, section: &str) -> Result<Self, String> {
        let (ca_pem, roots) = match &files.ca_file {
            Some(path) => {
                let field = format!("{section}.ca_file");
                let pem = read(&field, path)?;
                let roots = certificates(&field, path, &pem)?;
                let mut store = rustls::RootCertStore::empty();
                for cert in &roots {
                    store
                        .add(cert.clone())
                        .map_err(|e| format!("{field}: {}: not a usable CA certificate: {e}", path.display()))?;
                }
                (Some(pem), Some(roots))
            }
            None => (None, None),
        };
        let identity_pem = match (&files.cert_file, &files.key_file) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(format!(
                    "{section}.cert_file: set without {section}.key_file (both or neither)"
                ));
            }
            (None, Some(_)) => {
                return Err(format!(
                    "{section}.key_file: set without {section}.cert_file (both or neither)"
                ));
            }
            (Some(cert_path), Some(key_path)) => {
                let cert_field = format!("{section}.cert_file");
                let key_field = format!("{section}.key_file");
                let cert_pem = read(&cert_field, cert_path)?;
                let chain = certificates(&cert_field, cert_path, &cert_pem)?;
                let key_pem = read_key(&key_field, key_path)?;
                let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
                    format!(
                        "{key_field}: {}: no private key in it ({e}; expected -----BEGIN PRIVATE KEY-----)",
                        key_path.display()
                    )
                })?;
                rustls::ClientConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .map_err(|e| format!("{section}: {e}"))?
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| {
                        format!(
                            "{key_field}: {}: does not go with {cert_field} {}: {e}",
                            key_path.display(),
                            cert_path.display()
                        )
                    })?;
                Some((cert_pem, key_pem))
            }
        };
        Ok(Self {
            files,
            ca_pem,
            roots,
            identity_pem,
        })
    }

    /// What the `redis` crate takes (`Client::build_with_tls`).
    pub fn redis_certificates(&self) -> redis::TlsCertificates {
        redis::TlsCertificates {
            client_tls: self.identity_pem.as_ref().map(|(cert, key)| redis::ClientTlsConfig {
                client_cert: cert.clone(),
                client_key: key.clone(),
            }),
            root_cert: self.ca_pem.clone(),
        }
    }

    /// What ureq takes: these roots, the client certificate if any, the
    /// ring provider.
    pub fn ureq_config(&self) -> ureq::tls::TlsConfig {
        let roots = match &self.roots {
            None => ureq::tls::RootCerts::WebPki,
            Some(roots) => ureq::tls::RootCerts::new_with_certs(
                &roots
                    .iter()
                    .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
                    .collect::<Vec<_>>(),
            ),
        };
        let client_cert = self.identity_pem.as_ref().and_then(|(cert, key)| {
            // Checked in `load`: both parse.
            let chain = ureq::tls::parse_pem(cert)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect::<Vec<_>>();
            let key = ureq::tls::PrivateKey::from_pem(key).ok()?;
            Some(ureq::tls::ClientCert::new_with_certs(&chain, key))
        });
        ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(roots)
            .client_cert(client_cert)
            .unversioned_rustls_crypto_provider(provider())
            .build()
    }
}

impl Tls {
    /// Why a TLS connection to `url` (`https://host:port/...`) fails, when
    /// the client library saw only its consequence (a broken pipe: a TLS
    /// 1.3 server refuses a client certificate after the client's side of
    /// the handshake is done, and the library wrote its request before
    /// reading the refusal). One handshake and one read, each under
    /// `timeout`; `None` when it succeeds or says nothing about TLS.
    pub fn diagnose(&self, section: &str, url: &str, timeout: std::time::Duration) -> Option<String> {
        use std::io::Read as _;
        use std::net::ToSocketAddrs as _;
        let authority = url.strip_prefix("https://")?.split('/').next()?;
        let (host, port) = authority.rsplit_once(':')?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port: u16 = port.parse().ok()?;
        let mut roots = rustls::RootCertStore::empty();
        match &self.roots {
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Some(certs) => {
                for cert in certs {
                    roots.add(cert.clone()).ok()?;
                }
            }
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .ok()?
            .with_root_certificates(roots);
        let config = match &self.identity_pem {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = CertificateDer::pem_slice_iter(cert)
                    .collect::<Result<Vec<_>, _>>()
                    .ok()?;
                builder
                    .with_client_auth_cert(chain, PrivateKeyDer::from_pem_slice(key).ok()?)
                    .ok()?
            }
        };
        let name = rustls::pki_types::ServerName::try_from(host.to_string()).ok()?;
        let mut conn = rustls::ClientConnection::new(Arc::new(config), name).ok()?;
        let addr = (host, port).to_socket_addrs().ok()?.next()?;
        let mut tcp = std::net::TcpStream::connect_timeout(&addr, timeout).ok()?;
        tcp.set_read_timeout(Some(timeout)).ok()?;
        tcp.set_write_timeout(Some(timeout)).ok()?;
        let mut stream = rustls::Stream::new(&mut conn, &mut tcp);
        // An HTTP server says nothing before a request: a read that times
        // out is a handshake that held.
        let text = stream.read(&mut [0u8; 1]).err()?.to_string();
        self.describe(section, &text)
    }

    /// [`describe_failure`], knowing whether arbiter presented a client
    /// certificate: without one, a refusal of the client's certificate
    /// (Go's servers send `BadCertificate` when none came) means one is
    /// wanted.
    pub fn describe(&self, section: &str, text: &str) -> Option<String> {
        let refused = ["BadCertificate", "UnknownCA", "CertificateRequired", "HandshakeFailure"];
        if self.identity_pem.is_none() && text.contains("alert") && refused.iter().any(|a| text.contains(a)) {
            return Some(format!(
                "TLS handshake failed: the server wants a client certificate ({section}.cert_file and {section}.key_file): {text}"
            ));
        }
        describe_failure(section, text)
    }
}

/// A `[sentinel.tls]` or `[http.tls]` section as written: what a
/// client-facing port serves TLS with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerTlsFiles {
    /// PEM file of the port's certificate, then its chain.
    pub cert_file: PathBuf,
    /// PEM file of its private key.
    pub key_file: PathBuf,
    /// PEM file of the CA whose client certificates are accepted: set, a
    /// client without such a certificate is refused during the handshake
    /// (mutual TLS as the port's authentication); `None`: any client.
    pub client_ca_file: Option<PathBuf>,
}

/// A client-facing port's TLS, read and checked: a rustls server
/// configuration (ring) made from [`ServerTlsFiles`].
#[derive(Clone)]
pub struct ServerTls {
    /// Where it was read from.
    pub files: ServerTlsFiles,
    /// The files' text, to tell a changed file (needs a restart).
    pems: Vec<Vec<u8>>,
    config: Arc<rustls::ServerConfig>,
}

impl PartialEq for ServerTls {
    fn eq(&self, other: &Self) -> bool {
        self.files == other.files && self.pems == other.pems
    }
}

impl Eq for ServerTls {}

impl std::fmt::Debug for ServerTls {
    // Never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Reads and checks `files`; errors name `section`'s field and the
    /// file, as [`Tls::load`]'s do.
    pub fn load(files: ServerTlsFiles, section: &str) -> Result<Self, String> {
        let cert_field = format!("{section}.cert_file");
        let key_field = format!("{section}.key_file");
        let cert_pem = read(&cert_field, &files.cert_file)?;
        let chain = certificates(&cert_field, &files.cert_file, &cert_pem)?;
        let key_pem = read_key(&key_field, &files.key_file)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
            format!(
                "{key_field}: {}: no private key in it ({e}; expected -----BEGIN PRIVATE KEY-----)",
                files.key_file.display()
            )
        })?;
        let mut pems = vec![cert_pem, key_pem];
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("{section}: {e}"))?;
        let builder = match &files.client_ca_file {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let field = format!("{section}.client_ca_file");
                let pem = read(&field, path)?;
                let mut roots = rustls::RootCertStore::empty();
                for cert in certificates(&field, path, &pem)? {
                    roots
                        .add(cert)
                        .map_err(|e| format!("{field}: {}: not a usable CA certificate: {e}", path.display()))?;
                }
                pems.push(pem);
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                    .build()
                    .map_err(|e| format!("{field}: {}: {e}", path.display()))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder.with_single_cert(chain, key).map_err(|e| {
            format!(
                "{key_field}: {}: does not go with {cert_field} {}: {e}",
                files.key_file.display(),
                files.cert_file.display()
            )
        })?;
        Ok(Self {
            files,
            pems,
            config: Arc::new(config),
        })
    }

    /// `stream` served with TLS (the handshake happens on its first read
    /// or write, under the socket's timeouts).
    pub fn accept(&self, stream: std::net::TcpStream) -> std::io::Result<Served> {
        let conn = rustls::ServerConnection::new(Arc::clone(&self.config)).map_err(std::io::Error::other)?;
        Ok(Served::Tls(Box::new(rustls::StreamOwned::new(conn, stream))))
    }
}

/// A connection a client-facing port serves: plain TCP, or TLS over it.
#[derive(Debug)]
pub enum Served {
    /// Plain TCP.
    Plain(std::net::TcpStream),
    /// TLS ([`ServerTls::accept`]).
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>>),
}

impl Served {
    /// `stream`, with TLS when `tls` is given.
    pub fn new(stream: std::net::TcpStream, tls: Option<&ServerTls>) -> std::io::Result<Self> {
        match tls {
            None => Ok(Self::Plain(stream)),
            Some(tls) => tls.accept(stream),
        }
    }

    /// The socket under it (for its timeouts and shutdown).
    pub fn socket(&self) -> &std::net::TcpStream {
        match self {
            Self::Plain(s) => s,
            Self::Tls(s) => &s.sock,
        }
    }

    /// Tells a TLS client that nothing more comes (`close_notify`), so
    /// that it can tell the end from a truncation; nothing for plain TCP.
    pub fn close_notify(&mut self) {
        if let Self::Tls(s) = self {
            s.conn.send_close_notify();
            let _ = std::io::Write::flush(s);
        }
    }
}

impl std::io::Read for Served {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.read(buf),
            Self::Tls(s) => s.read(buf),
        }
    }
}

impl std::io::Write for Served {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::Plain(s) => s.write(buf),
            Self::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::Plain(s) => s.flush(),
            Self::Tls(s) => s.flush(),
        }
    }
}

/// A Redis client for `rest` (`[user:pass@]host:port/`), over TLS with
/// `tls` when given.
pub fn redis_client(tls: Option<&Tls>, rest: &str) -> redis::RedisResult<redis::Client> {
    match tls {
        None => redis::Client::open(format!("redis://{rest}")),
        Some(tls) => redis::Client::build_with_tls(format!("rediss://{rest}"), tls.redis_certificates()),
    }
}

/// What a rustls error text (as the `redis` crate passes it on) says
/// failed, and which setting to check; `None` when `text` is no TLS
/// failure.
pub fn redis_failure(text: &str) -> Option<String> {
    describe_failure("redis.tls", text)
}

/// What the rustls error in `text` says failed, with the setting of
/// `section` (`redis.tls`, `etcd.tls`) to check; `None` when `text` tells
/// no TLS failure.
pub fn describe_failure(section: &str, text: &str) -> Option<String> {
    let hint = if text.contains("Expired") || text.contains("expired") {
        if text.contains("alert") {
            format!("the server refused arbiter's client certificate as expired ({section}.cert_file)")
        } else {
            "the server's certificate has expired or is not yet valid".to_string()
        }
    } else if text.contains("UnknownIssuer") || text.contains("BadSignature") {
        format!("the server's certificate is not signed by a CA of {section}.ca_file")
    } else if text.contains("NotValidForName") {
        "the server's certificate does not name the host arbiter connects to".to_string()
    } else if text.contains("CertificateRequired") || text.contains("HandshakeFailure") {
        format!("the server wants a client certificate ({section}.cert_file and {section}.key_file)")
    } else if text.contains("UnknownCA") || text.contains("BadCertificate") || text.contains("DecryptError") {
        format!("the server refused arbiter's client certificate (not signed by a CA it trusts: {section}.cert_file)")
    } else if text.contains("invalid peer certificate") || text.contains("received fatal alert") {
        "a certificate was refused".to_string()
    } else if text.contains("corrupt message") || text.contains("InvalidContentType") {
        "the server does not speak TLS on this port".to_string()
    } else if text.contains("peer is incompatible") {
        "no TLS version or cipher suite in common".to_string()
    } else {
        return None;
    };
    Some(format!("TLS handshake failed: {hint}: {text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_bad_files_name_the_field_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let e = Tls::load(
            TlsFiles {
                ca_file: Some(missing.clone()),
                ..TlsFiles::default()
            },
            "redis.tls",
        )
        .unwrap_err();
        assert!(
            e.starts_with(&format!("redis.tls.ca_file: {}: cannot read", missing.display())),
            "{e}"
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = Tls::load(
            TlsFiles {
                ca_file: Some(empty.clone()),
                ..TlsFiles::default()
            },
            "etcd.tls",
        )
        .unwrap_err();
        assert!(
            e.starts_with(&format!("etcd.tls.ca_file: {}: no certificate in it", empty.display())),
            "{e}"
        );
        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = Tls::load(
            TlsFiles {
                ca_file: Some(broken.clone()),
                ..TlsFiles::default()
            },
            "etcd.tls",
        )
        .unwrap_err();
        assert!(
            e.starts_with(&format!("etcd.tls.ca_file: {}: not readable as PEM", broken.display())),
            "{e}"
        );
        let e = Tls::load(
            TlsFiles {
                cert_file: Some(empty),
                ..TlsFiles::default()
            },
            "redis.tls",
        )
        .unwrap_err();
        assert_eq!(
            e,
            "redis.tls.cert_file: set without redis.tls.key_file (both or neither)"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_private_key_every_user_can_read_is_refused_naming_it() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("client.key");
        std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_key("redis.tls.key_file", &key).unwrap_err();
        assert_eq!(
            e,
            format!(
                "redis.tls.key_file: {}: a private key readable by every user (mode 644): chmod o-rwx it",
                key.display()
            )
        );
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(read_key("redis.tls.key_file", &key).is_ok());
    }

    #[test]
    fn rustls_failures_are_told_with_what_to_check() {
        let e = redis_failure("invalid peer certificate: UnknownIssuer").unwrap();
        assert!(e.contains("not signed by a CA of redis.tls.ca_file"), "{e}");
        let e = redis_failure("received fatal alert: CertificateRequired").unwrap();
        assert!(e.contains("redis.tls.cert_file"), "{e}");
        assert_eq!(redis_failure("Connection refused (os error 111)"), None);
        assert_eq!(redis_failure("WRONGPASS invalid username-password pair"), None);
    }
}
