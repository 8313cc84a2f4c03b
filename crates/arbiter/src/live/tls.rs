//! TLS to Redis and etcd (`[redis.tls]`, `[etcd.tls]`): the files a
//! section names, and the rustls client configuration made from them.
//! rustls with the ring provider throughout (the provider the workspace
//! already builds; aws-lc-rs would need cmake and nasm).
//!
//! - **Trust**: the CA certificates of `ca_file`, or Mozilla's root
//!   certificates (`webpki-roots`, built in) when it is absent. Not the
//!   system's bundle, which would be parsed again at every change check;
//!   to trust the system's CAs, name its bundle as `ca_file`.
//! - **Identity** (mutual TLS): `cert_file` (the certificate, then its
//!   chain) and `key_file` (its private key), both or neither.
//! - **Name**: the certificate of a node must name the host of its `addr`
//!   (an IP address SAN when `addr` is an IP address), and an etcd
//!   endpoint's the host of its URL; or, with `server_name`, that name
//!   (sent as SNI too), whatever address arbiter connects to: nodes
//!   reached by IP address whose certificates hold only DNS names.
//!
//! arbiter makes the TLS connections itself, to give rustls the name to
//! verify: for Redis a [`RedisTlsConnection`] (rustls over TCP, the
//! `redis` crate's RESP parser and commands through its `ConnectionLike`
//! trait), for etcd a ureq connector ([`Tls::ureq_agent`]). Neither
//! library's own TLS can verify a name other than the host it connects to.
//!
//! The files are read again at every new connection (a few small reads)
//! and the configuration is rebuilt when their content changed: a renewed
//! certificate, key or CA is used from the next connection on, without a
//! restart. Changed files that do not load (a certificate replaced before
//! its key, a key others may read) keep the last good configuration, and
//! the failure is warned about once.
//!
//! A failed handshake is not an outage: the node answered. Redis's are
//! reported as [`RedisError::Auth`](crate::types::RedisError::Auth) (the
//! node is up, arbiter cannot see it: no failover, no advice to lose
//! data), with what failed and which setting to check ([`Tls::describe`]);
//! etcd's name the URL, like every etcd error.
//!
//! The client-facing ports (`[sentinel.tls]`, `[http.tls]`) serve TLS with
//! [`ServerTls`]: a certificate and key, and optionally a CA whose client
//! certificates alone are let in (mutual TLS). Their connections are
//! [`Served`] streams, plain or TLS, under the same limits.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// A `[redis.tls]` or `[etcd.tls]` section as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM file of the CA certificates the server's certificate must chain
    /// to (`None`: Mozilla's roots, `webpki-roots`).
    pub ca_file: Option<PathBuf>,
    /// PEM file of arbiter's client certificate and its chain (mutual TLS).
    pub cert_file: Option<PathBuf>,
    /// PEM file of the client certificate's private key.
    pub key_file: Option<PathBuf>,
    /// The name the server's certificate must hold, and the SNI sent
    /// (`None`: the host arbiter connects to).
    pub server_name: Option<String>,
}

/// The files' content as last read.
#[derive(Clone, Default, PartialEq, Eq)]
struct Pems {
    ca: Option<Vec<u8>>,
    /// The client certificate's and its key's.
    identity: Option<(Vec<u8>, Vec<u8>)>,
}

/// What the files held at the last good read, and what was made of it.
struct Loaded {
    pems: Pems,
    config: Arc<rustls::ClientConfig>,
    /// The last failure to load changed files (warned about once).
    error: Option<String>,
}

/// A `[redis.tls]` or `[etcd.tls]` section, its files read and checked:
/// the rustls client configuration arbiter connects with, kept up to date
/// with the files (see the module docs).
#[derive(Clone)]
pub struct Tls {
    /// Where it was read from.
    pub files: TlsFiles,
    /// `redis.tls` or `etcd.tls`, for errors.
    section: String,
    loaded: Arc<Mutex<Loaded>>,
}

/// Two configurations are the same when they name the same files and
/// server name (a file's new content is taken without a restart).
impl PartialEq for Tls {
    fn eq(&self, other: &Self) -> bool {
        self.files == other.files && self.section == other.section
    }
}

impl Eq for Tls {}

impl std::fmt::Debug for Tls {
    // Never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("section", &self.section)
            .field("files", &self.files)
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

/// Reads the files `files` names (the key's mode checked), without
/// parsing them.
fn read_pems(files: &TlsFiles, section: &str) -> Result<Pems, String> {
    let ca = match &files.ca_file {
        Some(path) => Some(read(&format!("{section}.ca_file"), path)?),
        None => None,
    };
    let identity = match (&files.cert_file, &files.key_file) {
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
        (Some(cert), Some(key)) => Some((
            read(&format!("{section}.cert_file"), cert)?,
            read_key(&format!("{section}.key_file"), key)?,
        )),
    };
    Ok(Pems { ca, identity })
}

/// The client configuration `pems` make: errors name the field and the
/// file (not PEM, no certificate or key in it, a key that does not go
/// with the certificate).
fn build(files: &TlsFiles, section: &str, pems: &Pems) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    match (&files.ca_file, &pems.ca) {
        (Some(path), Some(pem)) => {
            let field = format!("{section}.ca_file");
            for cert in certificates(&field, path, pem)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("{field}: {}: not a usable CA certificate: {e}", path.display()))?;
            }
        }
        _ => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("{section}: {e}"))?
        .with_root_certificates(roots);
    let config = match (&files.cert_file, &files.key_file, &pems.identity) {
        (Some(cert_path), Some(key_path), Some((cert_pem, key_pem))) => {
            let cert_field = format!("{section}.cert_file");
            let key_field = format!("{section}.key_file");
            let chain = certificates(&cert_field, cert_path, cert_pem)?;
            let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| {
                format!(
                    "{key_field}: {}: no private key in it ({e}; expected -----BEGIN PRIVATE KEY-----)",
                    key_path.display()
                )
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                format!(
                    "{key_field}: {}: does not go with {cert_field} {}: {e}",
                    key_path.display(),
                    cert_path.display()
                )
            })?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

impl Tls {
    /// Reads and checks `files`; `section` (`redis.tls`, `etcd.tls`) names
    /// the fields in errors, which also name the file: missing or
    /// unreadable, not PEM, no certificate or key in it, a key that does
    /// not go with the certificate, one of the pair without the other, a
    /// `server_name` that is neither a DNS name nor an IP address.
    pub fn load(files: TlsFiles, section: &str) -> Result<Self, String> {
        if let Some(name) = &files.server_name {
            ServerName::try_from(name.as_str()).map_err(|e| {
                format!("{section}.server_name: `{name}` is neither a DNS name nor an IP address ({e})")
            })?;
        }
        let pems = read_pems(&files, section)?;
        let config = build(&files, section, &pems)?;
        Ok(Self {
            files,
            section: section.to_string(),
            loaded: Arc::new(Mutex::new(Loaded {
                pems,
                config,
                error: None,
            })),
        })
    }

    /// The client configuration for a new connection: the files read
    /// again, and the configuration rebuilt when they changed; the last
    /// good one when changed files do not load (warned about once).
    pub fn config(&self) -> Arc<rustls::ClientConfig> {
        let now = read_pems(&self.files, &self.section);
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        let failure = match now {
            Ok(pems) if pems == loaded.pems => None,
            Ok(pems) => match build(&self.files, &self.section, &pems) {
                Ok(config) => {
                    tracing::info!(target: "arbiter", section = %self.section, "TLS files changed: new connections use them");
                    loaded.pems = pems;
                    loaded.config = config;
                    loaded.error = None;
                    None
                }
                Err(e) => Some(e),
            },
            Err(e) => Some(e),
        };
        if let Some(error) = failure {
            if loaded.error.as_ref() != Some(&error) {
                tracing::warn!(target: "arbiter", section = %self.section, %error, "cannot load the changed TLS files: keeping the ones loaded before");
                loaded.error = Some(error);
            }
        }
        Arc::clone(&loaded.config)
    }

    /// Whether a client certificate is presented (mutual TLS).
    fn has_identity(&self) -> bool {
        self.files.cert_file.is_some()
    }

    /// The name a server reached as `host` must show a certificate for:
    /// `server_name` when set, else `host` (brackets of an IPv6 address
    /// dropped).
    pub fn server_name(&self, host: &str) -> std::io::Result<ServerName<'static>> {
        let name = self
            .files
            .server_name
            .as_deref()
            .unwrap_or_else(|| host.trim_start_matches('[').trim_end_matches(']'));
        ServerName::try_from(name.to_string()).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("`{name}` is neither a DNS name nor an IP address: {e}"),
            )
        })
    }

    /// A TLS connection to `host:port` (the first address that accepts
    /// within `timeout`), with `timeout` on every read and write. The
    /// handshake happens at the first read or write.
    pub fn connect(
        &self,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> std::io::Result<rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>> {
        use std::net::ToSocketAddrs as _;
        let name = self.server_name(host)?;
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let mut last = None;
        let mut tcp = None;
        for addr in (bare, port).to_socket_addrs()? {
            match std::net::TcpStream::connect_timeout(&addr, timeout) {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        let tcp = match (tcp, last) {
            (Some(tcp), _) => tcp,
            (None, Some(e)) => return Err(e),
            (None, None) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("`{host}` resolves to no address"),
                ));
            }
        };
        tcp.set_read_timeout(Some(timeout))?;
        tcp.set_write_timeout(Some(timeout))?;
        tcp.set_nodelay(true)?;
        let conn = rustls::ClientConnection::new(self.config(), name).map_err(std::io::Error::other)?;
        Ok(rustls::StreamOwned::new(conn, tcp))
    }

    /// A Redis connection to `addr` (`host:port`) over TLS, unauthenticated
    /// (see [`RedisTlsConnection`]).
    pub fn redis_connection(&self, addr: &str, timeout: Duration) -> redis::RedisResult<RedisTlsConnection> {
        let (host, port) = addr
            .rsplit_once(':')
            .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
            .ok_or_else(|| {
                redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, "not host:port", addr.to_string()))
            })?;
        Ok(RedisTlsConnection {
            stream: self.connect(host, port, timeout)?,
            parser: redis::Parser::new(),
            open: true,
        })
    }

    /// An HTTP agent with `config` whose `https://` connections are made
    /// with this configuration (see [`EtcdConnector`]).
    pub fn ureq_agent(&self, config: ureq::config::Config) -> ureq::Agent {
        use ureq::unversioned::transport::{Connector as _, TcpConnector};
        let connector = ().chain(TcpConnector::default()).chain(EtcdConnector { tls: self.clone() });
        ureq::Agent::with_parts(
            config,
            connector,
            ureq::unversioned::resolver::DefaultResolver::default(),
        )
    }
}

impl Tls {
    /// Why a TLS connection to `url` (`https://host:port/...`) fails, when
    /// the client library saw only its consequence (a broken pipe: a TLS
    /// 1.3 server refuses a client certificate after the client's side of
    /// the handshake is done, and the library wrote its request before
    /// reading the refusal). One handshake and one read, each under
    /// `timeout`; `None` when it succeeds or says nothing about TLS.
    pub fn diagnose(&self, url: &str, timeout: Duration) -> Option<String> {
        use std::io::Read as _;
        let authority = url.strip_prefix("https://")?.split('/').next()?;
        let (host, port) = authority.rsplit_once(':')?;
        let port: u16 = port.parse().ok()?;
        let mut stream = self.connect(host, port, timeout).ok()?;
        // An HTTP server says nothing before a request: a read that times
        // out is a handshake that held.
        let text = stream.read(&mut [0u8; 1]).err()?.to_string();
        self.describe(&text)
    }

    /// What the rustls error in `text` says failed, with the setting of
    /// this section to check; `None` when `text` tells no TLS failure.
    /// Without a client certificate, a refusal of the client's certificate
    /// (Go's servers send `BadCertificate` when none came) means one is
    /// wanted.
    pub fn describe(&self, text: &str) -> Option<String> {
        let section = &self.section;
        let refused = ["BadCertificate", "UnknownCA", "CertificateRequired", "HandshakeFailure"];
        if !self.has_identity() && text.contains("alert") && refused.iter().any(|a| text.contains(a)) {
            return Some(format!(
                "TLS handshake failed: the server wants a client certificate ({section}.cert_file and {section}.key_file): {text}"
            ));
        }
        describe_failure(section, self.files.server_name.as_deref(), text)
    }
}

/// A Redis connection over TLS ([`Tls::redis_connection`]): rustls over
/// TCP, replies read with the `redis` crate's parser, so that its
/// commands and pipelines run on it through [`redis::ConnectionLike`].
/// Errors are the crate's (an I/O error, a timeout, the server's error
/// reply), as its own connections give them.
pub struct RedisTlsConnection {
    stream: rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>,
    parser: redis::Parser,
    open: bool,
}

impl std::fmt::Debug for RedisTlsConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTlsConnection")
            .field("peer", &self.stream.sock.peer_addr().ok())
            .field("open", &self.open)
            .finish()
    }
}

impl RedisTlsConnection {
    fn send(&mut self, bytes: &[u8]) -> redis::RedisResult<()> {
        use std::io::Write as _;
        let sent = self.stream.write_all(bytes).and_then(|()| self.stream.flush());
        if sent.is_err() {
            self.open = false;
        }
        Ok(sent?)
    }

    /// The next reply (push messages skipped).
    fn reply(&mut self) -> redis::RedisResult<redis::Value> {
        loop {
            match self.parser.parse_value(&mut self.stream) {
                Ok(redis::Value::Push { .. }) => {}
                Ok(value) => return Ok(value),
                Err(e) => {
                    self.open = false;
                    return Err(e);
                }
            }
        }
    }
}

impl redis::ConnectionLike for RedisTlsConnection {
    fn req_packed_command(&mut self, cmd: &[u8]) -> redis::RedisResult<redis::Value> {
        self.send(cmd)?;
        self.reply()
    }

    /// `offset + count` replies read, the last `count` returned; an error
    /// reply among the first `offset` (a command a transaction refused to
    /// queue) is the error.
    fn req_packed_commands(
        &mut self,
        cmd: &[u8],
        offset: usize,
        count: usize,
    ) -> redis::RedisResult<Vec<redis::Value>> {
        self.send(cmd)?;
        let mut replies = Vec::with_capacity(count);
        let mut queued_error = None;
        for i in 0..offset + count {
            match self.reply()? {
                redis::Value::ServerError(e) if i < offset => {
                    queued_error.get_or_insert(e);
                }
                value if i >= offset => replies.push(value),
                _ => {}
            }
        }
        match queued_error {
            Some(e) => Err(e.into()),
            None => Ok(replies),
        }
    }

    fn get_db(&self) -> i64 {
        0
    }

    fn check_connection(&mut self) -> bool {
        redis::cmd("PING").query::<String>(self).is_ok()
    }

    fn is_open(&self) -> bool {
        self.open
    }
}

/// ureq's connector for `https://` with a [`Tls`]: what ureq's own rustls
/// connector does, with this configuration and the name of
/// [`Tls::server_name`]. Built on ureq's `unversioned` transport API
/// (Cargo.toml holds ureq to 3.5.x for it).
#[derive(Debug)]
pub struct EtcdConnector {
    tls: Tls,
}

impl<In: ureq::unversioned::transport::Transport> ureq::unversioned::transport::Connector<In> for EtcdConnector {
    type Out = ureq::unversioned::transport::Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ureq::unversioned::transport::ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        use ureq::unversioned::transport::{Either, LazyBuffers, TransportAdapter};
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details.uri.host().unwrap_or_default();
        let name = self.tls.server_name(host)?;
        let mut conn = rustls::ClientConnection::new(self.tls.config(), name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock)?;
        Ok(Some(Either::B(TlsTransport {
            buffers: LazyBuffers::new(details.config.input_buffer_size(), details.config.output_buffer_size()),
            stream: rustls::StreamOwned { conn, sock },
        })))
    }
}

/// A TLS connection made by [`EtcdConnector`].
pub struct TlsTransport {
    buffers: ureq::unversioned::transport::LazyBuffers,
    stream: rustls::StreamOwned<rustls::ClientConnection, ureq::unversioned::transport::TransportAdapter>,
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTransport").finish_non_exhaustive()
    }
}

impl ureq::unversioned::transport::Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn ureq::unversioned::transport::Buffers {
        &mut self.buffers
    }

    fn transmit_output(
        &mut self,
        amount: usize,
        timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<(), ureq::Error> {
        use std::io::Write as _;
        use ureq::unversioned::transport::Buffers as _;
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: ureq::unversioned::transport::NextTimeout) -> Result<bool, ureq::Error> {
        use std::io::Read as _;
        use ureq::unversioned::transport::Buffers as _;
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
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

/// What the rustls error in `text` says failed, with the setting of
/// `section` (`redis.tls`, `etcd.tls`, whose `server_name` is given) to
/// check; `None` when `text` tells no TLS failure.
pub fn describe_failure(section: &str, server_name: Option<&str>, text: &str) -> Option<String> {
    let hint = if text.contains("Expired") || text.contains("expired") {
        if text.contains("alert") {
            format!("the server refused arbiter's client certificate as expired ({section}.cert_file)")
        } else {
            "the server's certificate has expired or is not yet valid".to_string()
        }
    } else if text.contains("UnknownIssuer") || text.contains("BadSignature") {
        format!("the server's certificate is not signed by a CA of {section}.ca_file")
    } else if text.contains("NotValidForName") || text.contains("not valid for name") {
        match server_name {
            Some(name) => format!("the server's certificate does not hold {section}.server_name `{name}`"),
            None => format!(
                "the server's certificate does not name the host arbiter connects to \
                 (set {section}.server_name to a name it holds)"
            ),
        }
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
        let redis_failure = |text: &str| describe_failure("redis.tls", None, text);
        let e = redis_failure("invalid peer certificate: UnknownIssuer").unwrap();
        assert!(e.contains("not signed by a CA of redis.tls.ca_file"), "{e}");
        let e = redis_failure("received fatal alert: CertificateRequired").unwrap();
        assert!(e.contains("redis.tls.cert_file"), "{e}");
        assert_eq!(redis_failure("Connection refused (os error 111)"), None);
        assert_eq!(redis_failure("WRONGPASS invalid username-password pair"), None);
        let mismatch = "invalid peer certificate: certificate not valid for name \"127.0.0.1\"; certificate is only valid for DnsName(\"redis.test\")";
        let e = redis_failure(mismatch).unwrap();
        assert!(e.contains("set redis.tls.server_name to a name it holds"), "{e}");
        let e = describe_failure("etcd.tls", Some("etcd.test"), mismatch).unwrap();
        assert!(e.contains("does not hold etcd.tls.server_name `etcd.test`"), "{e}");
    }

    #[test]
    fn a_server_name_that_is_no_name_is_refused_naming_the_field() {
        let e = Tls::load(
            TlsFiles {
                server_name: Some("not a name".into()),
                ..TlsFiles::default()
            },
            "etcd.tls",
        )
        .unwrap_err();
        assert!(e.starts_with("etcd.tls.server_name: `not a name` is neither"), "{e}");
    }
}
