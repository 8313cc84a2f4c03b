//! The HTTP port of `arbiter run` (`[http]` in the configuration): health
//! checks for load balancers (HAProxy's `option httpchk`) and Kubernetes
//! probes, in the manner of Patroni's REST API, and Prometheus metrics.
//!
//! arbiter does not run on a Redis node, so unlike Patroni's, whose
//! answer is about the node it runs beside, every instance answers about
//! the whole group, leader or not, from what its follower
//! ([`super::follow`]) last read from etcd and polled from the nodes, and
//! from the run loop's [`LocalStatus`]. The group record is the truth:
//! no answer names as primary a node it does not name.
//!
//! | endpoint | 200 | 503 |
//! | --- | --- | --- |
//! | `/primary` | the recorded primary answered its latest poll as a primary | no record, the view is stale, or the primary does not answer or answers as a replica |
//! | `/primary/<node>` | `<node>` (a configured name or address) is that primary (404: no such node) | it is not, or not serving |
//! | `/replica` | at least one node other than the recorded primary answers as its replica with the link up (`?lag=<bytes>`: and at most that far behind, as Patroni's) | none does |
//! | `/replica/<node>` | `<node>` is such a replica (`?lag=` too) | it is not |
//! | `/leader` | this instance leads the group | it does not |
//! | `/health` | the run loop is alive and etcd answers the follower | either fails |
//! | `/liveness` | the run loop stepped within `stalled_after_ms` | it did not |
//! | `/readiness` | etcd was read within `view_max_age_ms` | it was not |
//! | `/metrics` | always: the metrics ([`metrics`]) | |
//!
//! "Stale" means etcd last answered the follower longer than
//! `view_max_age_ms` ago: every group endpoint then answers 503 rather
//! than name a primary that may have been replaced meanwhile.
//!
//! `GET` answers with a JSON document (the metrics in OpenMetrics text),
//! `HEAD` with the same status and headers and no body, and `OPTIONS`
//! with the same status and no body (as Patroni does, for
//! `option httpchk OPTIONS /primary`). Another method is 405, an unknown
//! path 404, a malformed request 400.
//!
//! Limits, so that no client can stall the instance: each connection is
//! served on its own thread, at most `max_connections` at once (more are
//! answered 503 and closed); the request head (request line and headers)
//! must arrive within `request_timeout_ms` in total (else 408) and fit in
//! `max_head_bytes` (else 431); the answer is written within the same
//! timeout. One request per connection (`Connection: close`). With
//! `[http.tls]` the port serves HTTPS only (the handshake counts against
//! `request_timeout_ms`), and with its `client_ca_file` only clients with
//! a certificate that CA signed get past the handshake. The
//! controller's own loop never waits for this port: it only writes the
//! shared status.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::follow::{LocalStatus, Shared};
use super::tls::Served;

pub mod metrics;
mod routes;

pub use routes::{Reply, route};

/// The smallest `max_head_bytes` accepted: room for a request line and a
/// few headers.
pub const MIN_HEAD_BYTES: usize = 256;

/// Headers a request may carry (more: 431).
const MAX_HEADERS: usize = 64;

/// How the HTTP port works (`[http]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOptions {
    /// Where to listen (port 0: any free port).
    pub listen: SocketAddr,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// The largest request head (request line and headers), in bytes.
    pub max_head_bytes: usize,
    /// How long a client has to send its request head, and the answer to
    /// be written.
    pub request_timeout: Duration,
    /// `/liveness` fails when the run loop has not stepped for this long.
    pub stalled_after: Duration,
    /// The view is stale (`/readiness` and the group endpoints fail) when
    /// etcd has not answered the follower for this long.
    pub view_max_age: Duration,
    /// `[http.tls]`: serve HTTPS, and with a client CA let in only clients
    /// with a certificate it signed (`None`: plain HTTP).
    pub tls: Option<crate::live::tls::ServerTls>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8008)),
            max_connections: 16,
            max_head_bytes: 8192,
            request_timeout: Duration::from_millis(2000),
            stalled_after: Duration::from_millis(10_000),
            view_max_age: Duration::from_millis(5000),
            tls: None,
        }
    }
}

/// A running HTTP port: stop it with [`Server::stop`] (or drop it).
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves on `listener` (bound already, so that a bad address is the
    /// caller's error at start) from `shared`, on threads of its own.
    pub fn start(listener: TcpListener, options: HttpOptions, shared: Arc<Shared>) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let acceptor = std::thread::Builder::new()
            .name("arbiter-http".into())
            .spawn(move || accept(&listener, &options, &shared, &flag))?;
        Ok(Self {
            addr,
            stop,
            acceptor: Some(acceptor),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting connections; those being served end within their
    /// timeout.
    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        let Some(acceptor) = self.acceptor.take() else { return };
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept with a connection of our own.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        if TcpStream::connect_timeout(&wake, Duration::from_secs(1)).is_ok() {
            let _ = acceptor.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shut();
    }
}

/// Counts a connection being served; uncounts it when dropped.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn accept(listener: &TcpListener, options: &HttpOptions, shared: &Arc<Shared>, stop: &AtomicBool) {
    let active = Arc::new(AtomicUsize::new(0));
    let mut failing = false;
    while !stop.load(Ordering::SeqCst) {
        let stream = match listener.accept() {
            Ok((stream, _)) => {
                failing = false;
                stream
            }
            Err(e) => {
                // (out of file descriptors, say: wait rather than spin)
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(target: "arbiter", error = %e, "http: cannot accept a connection");
                }
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if stop.load(Ordering::SeqCst) {
            break;
        }
        if active.fetch_add(1, Ordering::SeqCst) >= options.max_connections {
            let _slot = Slot(Arc::clone(&active));
            refuse_busy(stream, options);
            continue;
        }
        let slot = Slot(Arc::clone(&active));
        let (options, shared) = (options.clone(), Arc::clone(shared));
        let spawned = std::thread::Builder::new()
            .name("arbiter-http-conn".into())
            .spawn(move || {
                let _slot = slot;
                serve(stream, &options, &shared);
            });
        if let Err(e) = spawned {
            tracing::warn!(target: "arbiter", error = %e, "http: cannot start a thread for a connection");
        }
    }
}

/// Answers 503 to a connection over `max_connections`, without reading it
/// (with TLS, closes it: a TLS client could read no plain answer, and the
/// acceptor does not wait for a handshake).
fn refuse_busy(stream: TcpStream, options: &HttpOptions) {
    if options.tls.is_some() {
        let _ = stream.shutdown(Shutdown::Both);
        return;
    }
    let reply = Reply::json(
        503,
        &serde_json::json!({
            "error": format!("too many connections (http.max_connections = {})", options.max_connections)
        }),
    );
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let mut stream = Served::Plain(stream);
    let _ = write_reply(&mut stream, &reply, "GET");
    let _ = stream.socket().shutdown(Shutdown::Both);
}

/// Why a request head could not be read.
#[derive(Debug, PartialEq, Eq)]
enum HeadError {
    /// Not complete within the timeout.
    Timeout,
    /// Longer than `max_head_bytes`.
    TooLarge,
    /// The client closed the connection, or it failed.
    Gone,
}

/// Reads a request head (up to and including the blank line) within
/// `deadline`, at most `max` bytes.
fn read_head(stream: &mut Served, max: usize, deadline: Instant) -> Result<Vec<u8>, HeadError> {
    // Grown as bytes arrive rather than allocated at `max` up front, so
    // that memory follows what the client sent whatever `max_head_bytes`
    // says (a huge one failed every connection's allocation).
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HeadError::Timeout);
        }
        stream
            .socket()
            .set_read_timeout(Some(left))
            .map_err(|_| HeadError::Gone)?;
        let room = (max - buf.len()).min(chunk.len());
        match stream.read(&mut chunk[..room]) {
            Ok(0) => return Err(HeadError::Gone),
            Ok(n) => {
                // (search from a little before the new bytes: the end may
                // straddle two reads)
                let from = buf.len().saturating_sub(3);
                buf.extend_from_slice(&chunk[..n]);
                if let Some(end) = head_end(&buf[from..]) {
                    buf.truncate(from + end);
                    return Ok(buf);
                }
                if buf.len() == max {
                    return Err(HeadError::TooLarge);
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Err(HeadError::Timeout);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return Err(HeadError::Gone),
        }
    }
}

/// Where the head ends in `bytes` (just past its blank line), if it does:
/// at the first line end followed by an empty line, either of them CRLF or
/// a bare LF as httparse accepts them (the first, so that the answer does
/// not depend on how the bytes were cut into reads).
fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .iter()
        .enumerate()
        .find_map(|(i, b)| match (b, bytes.get(i + 1..)) {
            (b'\n', Some([b'\n', ..])) => Some(i + 2),
            (b'\n', Some([b'\r', b'\n', ..])) => Some(i + 3),
            _ => None,
        })
}

/// Serves one connection: reads one request, answers it, closes. With
/// TLS, the handshake is part of reading the request head: it too must
/// end within `request_timeout` (each read is bounded by what is left).
fn serve(stream: TcpStream, options: &HttpOptions, shared: &Shared) {
    let deadline = Instant::now() + options.request_timeout;
    let _ = stream.set_write_timeout(Some(options.request_timeout));
    let _ = stream.set_nodelay(true);
    let Ok(mut stream) = Served::new(stream, options.tls.as_ref()) else {
        return;
    };
    let (reply, method) = match read_head(&mut stream, options.max_head_bytes, deadline) {
        Ok(head) => answer_head(&head, options, shared),
        Err(HeadError::Timeout) => (
            Reply::json(
                408,
                &serde_json::json!({"error": format!("the request head did not arrive within http.request_timeout_ms ({} ms)", options.request_timeout.as_millis())}),
            ),
            "GET".to_string(),
        ),
        Err(HeadError::TooLarge) => (
            Reply::json(
                431,
                &serde_json::json!({"error": format!("the request head is longer than http.max_head_bytes ({})", options.max_head_bytes)}),
            ),
            "GET".to_string(),
        ),
        Err(HeadError::Gone) => return,
    };
    if write_reply(&mut stream, &reply, &method).is_err() {
        return;
    }
    // A lingering close: the client reads the answer before the
    // connection goes, even if it sent more than the head (a body); for
    // at most LINGER and 64 KiB, however slowly it sends.
    stream.close_notify();
    let _ = stream.socket().shutdown(Shutdown::Write);
    let until = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < 64 * 1024 {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.socket().set_read_timeout(Some(left)).is_err() {
            break;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

/// How long a connection is kept after its answer, for the client to
/// read it (see [`serve`]).
const LINGER: Duration = Duration::from_millis(500);

/// Parses a complete request head and routes it: the reply and the
/// request's method.
fn answer_head(head: &[u8], options: &HttpOptions, shared: &Shared) -> (Reply, String) {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(head) {
        Ok(httparse::Status::Complete(_)) => {
            let method = request.method.unwrap_or("GET").to_string();
            let path = request.path.unwrap_or("/");
            let view = shared.view();
            let local: LocalStatus = shared.local();
            (route(&method, path, &view, &local, options, Instant::now()), method)
        }
        Err(httparse::Error::TooManyHeaders) => (
            Reply::json(
                431,
                &serde_json::json!({"error": format!("more than {MAX_HEADERS} headers")}),
            ),
            "GET".to_string(),
        ),
        Ok(httparse::Status::Partial) | Err(_) => (
            Reply::json(400, &serde_json::json!({"error": "malformed request"})),
            "GET".to_string(),
        ),
    }
}

/// The reason phrase of a status code this server sends.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Writes `reply` to a request made with `method`: `HEAD` gets the headers
/// of the `GET` answer, `OPTIONS` the status alone.
fn write_reply(stream: &mut Served, reply: &Reply, method: &str) -> std::io::Result<()> {
    let body: &[u8] = match method {
        "HEAD" | "OPTIONS" => b"",
        _ => reply.body.as_bytes(),
    };
    let length = if method == "OPTIONS" { 0 } else { reply.body.len() };
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {length}\r\nCache-Control: no-store\r\nConnection: close\r\n",
        reply.status,
        reason(reply.status),
        reply.content_type,
    );
    if reply.status == 405 || method == "OPTIONS" {
        head.push_str("Allow: GET, HEAD, OPTIONS\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    stream.write_all(&out)?;
    stream.flush()
}

#[cfg(test)]
mod tests;
