//! The listener and its connections: one thread accepts, one thread
//! serves each connection, all stop within [`TICK`] of the shutdown flag.
//!
//! Limits, so that no client can stall the instance or make it hold
//! unbounded memory:
//! - connections: over `max_clients`, a new one is answered `-ERR max
//!   number of clients reached` and closed;
//! - requests: lengths and counts are judged as their headers arrive
//!   ([`super::codec::parse`]), so a connection holds at most one
//!   request of `max_request_bytes` plus one read;
//! - subscriptions: at most [`MAX_SUBSCRIPTIONS`](super::pubsub::MAX_SUBSCRIPTIONS)
//!   channels and patterns of
//!   [`MAX_SUBSCRIPTION_BYTES`](super::pubsub::MAX_SUBSCRIPTION_BYTES)
//!   together per connection (more: an error, nothing added);
//! - idle time: a connection not subscribed to anything that sends nothing
//!   for `idle_timeout` is closed;
//! - slow readers: every write has `write_timeout` to complete, and a
//!   subscriber whose queue in the [`Hub`](crate::live::follow::Hub) fills (it stopped reading) is
//!   dropped by the hub; either way its connection is closed.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::codec::{self, Limits, Reply};
use super::commands::{self, Context, Session};
use super::{MAX_ARGS, SentinelOptions, Timing};
use crate::live::follow::{Event, GroupView, Shared};
use crate::live::tls::Served;

/// How often a waiting thread looks at the shutdown flag, at its
/// subscriptions' queue and at its idle time.
pub const TICK: Duration = Duration::from_millis(50);

/// The stack of each connection's thread: the commands recurse little.
const STACK: usize = 256 * 1024;

/// The bytes read at once.
const READ_CHUNK: usize = 16 * 1024;

/// The running server.
#[derive(Debug)]
pub struct Server {
    /// The address it listens on (the port chosen when `listen` asked for
    /// port 0).
    pub local_addr: SocketAddr,
    listener: JoinHandle<()>,
}

impl Server {
    /// Waits until the server has stopped (the shutdown flag is set) and
    /// its connections are closed.
    pub fn join(self) {
        let _ = self.listener.join();
    }
}

/// What every connection thread shares.
struct Common {
    options: SentinelOptions,
    timing: Timing,
    shared: Arc<Shared>,
    shutdown: Arc<AtomicBool>,
    started: Instant,
    myid: String,
    port: u16,
    open: AtomicUsize,
    next_id: AtomicU64,
    /// The latest probe of the recorded primary: when, which address,
    /// whether it refused the connection (see [`Common::view_for`]).
    probe: std::sync::Mutex<Option<(Instant, String, bool)>>,
}

/// How long one probe of the primary answers for every client.
const PROBE_FOR: Duration = Duration::from_millis(100);

/// How long a probe waits for the TCP handshake (a refusal is immediate;
/// a paused host that does not answer in time counts as connected, as it
/// does for a real Sentinel until down-after).
const PROBE_TIMEOUT: Duration = Duration::from_millis(100);

impl Common {
    /// The follower's view for a `SENTINEL` request, with the recorded
    /// primary marked `disconnected` when it refuses a TCP connection now.
    ///
    /// A real Sentinel keeps a link to every node and flags it
    /// `disconnected` the moment the link drops; the follower polls, so
    /// between a primary's death and its next poll the view still shows it
    /// answering. Clients ask in exactly that moment (their connection
    /// just failed), and node-redis, given an undisconnected master it
    /// cannot reach, waits on it for ever instead of asking again. One
    /// TCP connect, shared by every client for [`PROBE_FOR`], closes that
    /// window for a killed process.
    fn view_for(&self, args: &[Vec<u8>]) -> GroupView {
        let mut view = self.shared.view();
        if !args.first().is_some_and(|a| a.eq_ignore_ascii_case(b"SENTINEL")) {
            return view;
        }
        let Some(addr) = view.primary().map(|p| p.addr.clone()) else {
            return view;
        };
        let refused = {
            let mut probe = self.probe.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match &*probe {
                Some((at, a, refused)) if *a == addr && at.elapsed() < PROBE_FOR => *refused,
                _ => {
                    let refused = refuses(&addr);
                    *probe = Some((Instant::now(), addr.clone(), refused));
                    refused
                }
            }
        };
        if refused {
            if let Some(node) = view.nodes.iter_mut().find(|n| n.addr == addr) {
                node.seen
                    .error
                    .get_or_insert_with(|| format!("{addr} refuses connections"));
            }
        }
        view
    }
}

/// Whether `addr` refuses a TCP connection (nothing listens there).
fn refuses(addr: &str) -> bool {
    use std::net::ToSocketAddrs;
    let Ok(mut addrs) = addr.to_socket_addrs() else {
        return false;
    };
    addrs.next().is_some_and(|a| {
        matches!(
            TcpStream::connect_timeout(&a, PROBE_TIMEOUT),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
        )
    })
}

/// Binds `options.listen` and serves the Sentinel protocol from `shared`
/// until `shutdown` is set; `instance` is this instance's label (the
/// follower's [`Member::instance`](crate::live::follow::Member)), which
/// its Sentinel id is made from. Fails only when the address cannot be
/// bound.
pub fn serve(
    options: SentinelOptions,
    timing: Timing,
    instance: &str,
    shared: Arc<Shared>,
    shutdown: Arc<AtomicBool>,
) -> std::io::Result<Server> {
    let listener = TcpListener::bind(&options.listen)?;
    listener.set_nonblocking(true)?;
    let local_addr = listener.local_addr()?;
    let common = Arc::new(Common {
        options,
        timing,
        shared,
        shutdown,
        started: Instant::now(),
        myid: commands::sentinel_id(instance),
        port: local_addr.port(),
        open: AtomicUsize::new(0),
        next_id: AtomicU64::new(1),
        probe: std::sync::Mutex::new(None),
    });
    let listener = std::thread::Builder::new()
        .name("arbiter-sentinel".into())
        .spawn(move || accept_loop(&listener, &common))?;
    Ok(Server { local_addr, listener })
}

fn accept_loop(listener: &TcpListener, common: &Arc<Common>) {
    while !common.shutdown.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, peer)) => admit(stream, peer, common),
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                std::thread::sleep(TICK)
            }
            Err(e) => {
                tracing::warn!(target: "arbiter::sentinel", error = %e, "cannot accept a connection");
                std::thread::sleep(TICK);
            }
        }
    }
    // Connections see the flag within a tick; wait for them, boundedly.
    let until = Instant::now() + Duration::from_secs(2);
    while common.open.load(Ordering::SeqCst) > 0 && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Refuses `stream` with `reply` without waiting on it (with TLS, closes
/// it: a TLS client could read no plain reply, and the acceptor does not
/// wait for a handshake).
fn refuse(mut stream: TcpStream, reply: &Reply, tls: bool) {
    if tls {
        let _ = stream.shutdown(std::net::Shutdown::Both);
        return;
    }
    let _ = stream.set_nonblocking(true);
    let _ = stream.write_all(&reply.to_bytes(false));
}

fn admit(stream: TcpStream, peer: SocketAddr, common: &Arc<Common>) {
    // Counted before the thread starts, so that a flood cannot overshoot.
    if common.open.fetch_add(1, Ordering::SeqCst) >= common.options.max_clients {
        common.open.fetch_sub(1, Ordering::SeqCst);
        tracing::debug!(target: "arbiter::sentinel", %peer, "refused: max_clients reached");
        refuse(
            stream,
            &Reply::err("max number of clients reached"),
            common.options.tls.is_some(),
        );
        return;
    }
    let c = Arc::clone(common);
    let refusal = stream.try_clone().ok();
    let spawned = std::thread::Builder::new()
        .name("arbiter-sentinel-client".into())
        .stack_size(STACK)
        .spawn(move || {
            let _open = Open(&c.open);
            if let Err(e) = Connection::new(stream, &c).and_then(|conn| conn.run()) {
                tracing::debug!(target: "arbiter::sentinel", %peer, error = %e, "connection closed");
            }
        });
    if let Err(e) = spawned {
        common.open.fetch_sub(1, Ordering::SeqCst);
        tracing::warn!(target: "arbiter::sentinel", %peer, error = %e, "cannot start a connection's thread");
        if let Some(stream) = refusal {
            refuse(
                stream,
                &Reply::err("max number of clients reached"),
                common.options.tls.is_some(),
            );
        }
    }
}

/// Counts one open connection until dropped.
struct Open<'a>(&'a AtomicUsize);

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Why a connection ends, when it does not end cleanly.
type Result<T> = std::result::Result<T, std::io::Error>;

fn closed(why: &str) -> std::io::Error {
    std::io::Error::other(why.to_string())
}

/// One connection: its socket, what it has sent and not yet been
/// answered, its session, and its place in the hub while subscribed.
struct Connection<'a> {
    stream: Served,
    common: &'a Common,
    input: Vec<u8>,
    /// Bytes of `input` known to hold no newline while it is an
    /// incomplete inline request ([`codec::inline_incomplete`]).
    scanned: usize,
    session: Session,
    hub: Option<(u64, Receiver<Event>)>,
    last_read: Instant,
}

impl Drop for Connection<'_> {
    fn drop(&mut self) {
        if let Some((id, _)) = self.hub.take() {
            self.common.shared.hub.unsubscribe(id);
        }
    }
}

impl<'a> Connection<'a> {
    fn new(stream: TcpStream, common: &'a Common) -> Result<Self> {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(TICK))?;
        // With TLS, the handshake runs within the reads and writes below,
        // under the same idle and write timeouts.
        let stream = Served::new(stream, common.options.tls.as_ref())?;
        let session = Session {
            id: common.next_id.fetch_add(1, Ordering::SeqCst),
            authenticated: common.options.password.is_none(),
            ..Session::default()
        };
        Ok(Self {
            stream,
            common,
            input: Vec::new(),
            scanned: 0,
            session,
            hub: None,
            last_read: Instant::now(),
        })
    }

    fn limits(&self) -> Limits {
        Limits {
            max_request_bytes: self.common.options.max_request_bytes,
            max_args: MAX_ARGS,
        }
    }

    /// Serves until the client leaves, a limit is hit, or shutdown.
    fn run(mut self) -> Result<()> {
        let mut chunk = vec![0u8; READ_CHUNK];
        loop {
            if self.common.shutdown.load(Ordering::SeqCst) {
                return Ok(());
            }
            if !self.answer_requests()? {
                return Ok(());
            }
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    self.input.extend_from_slice(&chunk[..n]);
                    self.last_read = Instant::now();
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(e),
            }
            self.deliver_events()?;
            let idle = self.common.options.idle_timeout;
            if !self.session.subscriptions.active() && idle.is_some_and(|t| self.last_read.elapsed() >= t) {
                return Err(closed("idle"));
            }
        }
    }

    /// Answers every complete request read so far; `false` when the
    /// connection is to be closed.
    fn answer_requests(&mut self) -> Result<bool> {
        loop {
            if codec::inline_incomplete(&self.input, self.scanned, self.limits()) {
                self.scanned = self.input.len();
                return Ok(true);
            }
            self.scanned = 0;
            let unauthenticated = !self.session.authenticated;
            let parsed = codec::parse(&self.input, self.limits(), unauthenticated);
            let (args, used) = match parsed {
                Ok(Some(request)) => request,
                Ok(None) => return Ok(true),
                Err(e) => {
                    self.write(&[Reply::err(&e.0)])?;
                    return Err(closed("protocol error"));
                }
            };
            self.input.drain(..used);
            if args.is_empty() {
                continue;
            }
            let view = self.common.view_for(&args);
            let ctx = Context {
                options: &self.common.options,
                timing: &self.common.timing,
                view: &view,
                now: Instant::now(),
                started: self.common.started,
                myid: &self.common.myid,
                clients: self.common.open.load(Ordering::SeqCst),
                port: self.common.port,
            };
            let outcome = commands::execute(&ctx, &mut self.session, &args);
            self.write(&outcome.replies)?;
            if outcome.close {
                return Ok(false);
            }
            self.follow_hub();
        }
    }

    /// Joins the hub when the session subscribed to something, and leaves
    /// it when it no longer does.
    fn follow_hub(&mut self) {
        let active = self.session.subscriptions.active();
        if active && self.hub.is_none() {
            self.hub = Some(self.common.shared.hub.subscribe());
        } else if !active {
            if let Some((id, _)) = self.hub.take() {
                self.common.shared.hub.unsubscribe(id);
            }
        }
    }

    /// Sends the events queued for this subscriber.
    fn deliver_events(&mut self) -> Result<()> {
        let mut replies = Vec::new();
        if let Some((_, queue)) = &self.hub {
            loop {
                match queue.try_recv() {
                    Ok(event) => replies.extend(self.session.subscriptions.messages(&event)),
                    Err(TryRecvError::Empty) => break,
                    // The hub dropped this subscriber: it fell too far
                    // behind. Redis closes such a client too.
                    Err(TryRecvError::Disconnected) => return Err(closed("subscriber too slow")),
                }
            }
        }
        self.write(&replies)
    }

    /// Writes `replies`, giving up after the write timeout.
    fn write(&mut self, replies: &[Reply]) -> Result<()> {
        if replies.is_empty() {
            return Ok(());
        }
        let mut out = Vec::new();
        for r in replies {
            r.encode(self.session.resp3, &mut out);
        }
        let deadline = Instant::now() + self.common.options.write_timeout;
        let mut sent = 0;
        while sent < out.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(closed("write timeout"));
            }
            self.stream.socket().set_write_timeout(Some(left))?;
            match self.stream.write(&out[sent..]) {
                Ok(0) => return Err(closed("peer gone")),
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(closed("write timeout"));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
