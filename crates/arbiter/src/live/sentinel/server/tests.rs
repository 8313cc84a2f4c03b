//! The server on loopback sockets: its limits (clients, request size, idle
//! time, slow subscribers) and the events it delivers.

use std::io::{Read, Write};
use std::net::TcpStream;

use super::*;

struct Rig {
    shared: Arc<Shared>,
    shutdown: Arc<AtomicBool>,
    addr: SocketAddr,
    server: Option<Server>,
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::SeqCst);
        if let Some(s) = self.server.take() {
            s.join();
        }
    }
}

fn rig(change: impl FnOnce(&mut SentinelOptions)) -> Rig {
    let mut options = SentinelOptions {
        listen: "127.0.0.1:0".into(),
        ..SentinelOptions::default()
    };
    change(&mut options);
    let shared = Arc::new(Shared::default());
    let shutdown = Arc::new(AtomicBool::new(false));
    let timing = Timing {
        down_after_ms: 1000,
        failover_timeout_ms: 1000,
        record_stale_after: Duration::from_secs(5),
    };
    let server = serve(options, timing, "test-1", Arc::clone(&shared), Arc::clone(&shutdown)).unwrap();
    Rig {
        shared,
        shutdown,
        addr: server.local_addr,
        server: Some(server),
    }
}

fn connect(rig: &Rig) -> TcpStream {
    let s = TcpStream::connect(rig.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Reads until `expected` bytes came (or the connection ended).
fn read_exactly(s: &mut TcpStream, expected: usize) -> Vec<u8> {
    let mut out = vec![0; expected];
    let mut got = 0;
    while got < expected {
        match s.read(&mut out[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    out.truncate(got);
    out
}

/// Whether the server closed `s` (reads end) within 5 s.
fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(0))
}

fn ask(s: &mut TcpStream, request: &[u8], reply_len: usize) -> String {
    s.write_all(request).unwrap();
    String::from_utf8_lossy(&read_exactly(s, reply_len)).into_owned()
}

#[test]
fn a_client_beyond_max_clients_is_refused_with_redis_s_error() {
    let rig = rig(|o| o.max_clients = 2);
    let mut a = connect(&rig);
    let mut b = connect(&rig);
    assert_eq!(ask(&mut a, b"PING\r\n", 7), "+PONG\r\n");
    assert_eq!(ask(&mut b, b"PING\r\n", 7), "+PONG\r\n");
    let mut c = connect(&rig);
    let refusal = "-ERR max number of clients reached\r\n";
    assert_eq!(String::from_utf8_lossy(&read_exactly(&mut c, refusal.len())), refusal);
    assert!(closed_by_server(&mut c));
    drop(a);
    // Its place is free once the server sees it gone.
    let start = Instant::now();
    loop {
        let mut d = connect(&rig);
        if ask(&mut d, b"PING\r\n", 7) == "+PONG\r\n" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "a freed place is given again");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn huge_requests_are_refused_before_anything_is_allocated_and_the_connection_closed() {
    let rig = rig(|_| {});
    for (request, error) in [
        (
            &b"*1000000000\r\n"[..],
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (b"*1\r\n$1000000000\r\n", "-ERR Protocol error: invalid bulk length\r\n"),
        (
            b"*2\r\n$4\r\nPING\r\n$70000\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
    ] {
        let mut s = connect(&rig);
        assert_eq!(ask(&mut s, request, error.len()), error);
        assert!(closed_by_server(&mut s));
    }
    // An endless line without a newline is cut at 64 KiB.
    let mut s = connect(&rig);
    let endless = vec![b'a'; 70 * 1024];
    let _ = s.write_all(&endless);
    let error = "-ERR Protocol error: too big inline request\r\n";
    assert_eq!(String::from_utf8_lossy(&read_exactly(&mut s, error.len())), error);
}

#[test]
fn an_idle_client_is_closed_but_a_subscriber_is_not() {
    let rig = rig(|o| o.idle_timeout = Some(Duration::from_millis(300)));
    let mut idle = connect(&rig);
    let mut subscriber = connect(&rig);
    let answer = "*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n:1\r\n";
    assert_eq!(ask(&mut subscriber, b"SUBSCRIBE x\r\n", answer.len()), answer);
    let start = Instant::now();
    assert!(closed_by_server(&mut idle));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(3),
        "{took:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(ask(&mut subscriber, b"PING\r\n", 20), "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
}

#[test]
fn events_reach_subscribers_and_a_subscriber_that_does_not_read_is_dropped() {
    let rig = rig(|o| o.write_timeout = Duration::from_millis(200));
    let mut reader = connect(&rig);
    let answer = "*3\r\n$10\r\npsubscribe\r\n$1\r\n*\r\n:1\r\n";
    assert_eq!(ask(&mut reader, b"PSUBSCRIBE *\r\n", answer.len()), answer);
    let mut sleeper = connect(&rig);
    let answer = "*3\r\n$9\r\nsubscribe\r\n$4\r\n+big\r\n:1\r\n";
    assert_eq!(ask(&mut sleeper, b"SUBSCRIBE +big\r\n", answer.len()), answer);
    while rig.shared.hub.len() < 2 {
        std::thread::sleep(Duration::from_millis(10));
    }
    rig.shared.hub.publish(&Event {
        channel: "+switch-master".into(),
        message: "mymaster 127.0.0.1 7001 127.0.0.1 7002".into(),
    });
    let message =
        "*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$14\r\n+switch-master\r\n$38\r\nmymaster 127.0.0.1 7001 127.0.0.1 7002\r\n";
    assert_eq!(
        String::from_utf8_lossy(&read_exactly(&mut reader, message.len())),
        message
    );
    reader.write_all(b"PUNSUBSCRIBE\r\n").unwrap();
    // The sleeper never reads: once its socket is full, the server's
    // write times out and the sleeper is dropped.
    let big = Event {
        channel: "+big".into(),
        message: "x".repeat(64 * 1024),
    };
    let start = Instant::now();
    while !rig.shared.hub.is_empty() {
        rig.shared.hub.publish(&big);
        std::thread::sleep(Duration::from_millis(2));
        assert!(start.elapsed() < Duration::from_secs(20), "the sleeper was not dropped");
    }
    drop(sleeper);
}

// Hostile clients (issue 20).

/// Reads what the server sends until it closes the connection.
fn read_to_close(s: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The exact lengths of the issue: refused as soon as the header line has
/// arrived (the body is never sent), with or without a password to give.
#[test]
fn the_largest_lengths_are_refused_from_their_header_alone() {
    for password in [None, Some(crate::secret::Secret::new("pw"))] {
        let unauthenticated = password.is_some();
        let rig = rig(|o| o.password = password);
        for (request, error) in [
            (&b"*999999999\r\n"[..], "multibulk length"),
            (b"*2147483648\r\n", "invalid multibulk length"),
            (b"*1\r\n$2147483647\r\n", "bulk length"),
            (b"*1\r\n$9223372036854775807\r\n", "bulk length"),
            (b"*1\r\n$9223372036854775808\r\n", "invalid bulk length"),
        ] {
            let mut s = connect(&rig);
            s.write_all(request).unwrap();
            let answer = read_to_close(&mut s);
            assert!(answer.starts_with("-ERR Protocol error: "), "{answer}");
            assert!(answer.contains(error), "{unauthenticated}: {answer}");
        }
    }
}

/// 100 MB on one line, and 100 MB of bulk declared in pieces under the
/// limit: refused once the limit is passed, the connection closed long
/// before the client is done sending.
#[test]
fn a_hundred_megabytes_are_refused_at_the_limits() {
    let rig = rig(|_| {});
    let starts: [&[u8]; 2] = [b"GET ", b"*1000\r\n"];
    for start in starts {
        let mut s = connect(&rig);
        s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut writer = s.try_clone().unwrap();
        let inline = start == b"GET ";
        let sending = std::thread::spawn(move || {
            let mut sent = 0usize;
            let _ = writer.write_all(start);
            let mut chunk = Vec::new();
            while chunk.len() < 64 * 1024 {
                if inline {
                    chunk.push(b'a');
                } else {
                    chunk.extend_from_slice(b"$1000\r\n");
                    chunk.extend(std::iter::repeat_n(b'b', 1000));
                    chunk.extend_from_slice(b"\r\n");
                }
            }
            while sent < 100 << 20 {
                match writer.write(&chunk) {
                    Ok(n) => sent += n,
                    Err(_) => break,
                }
            }
            sent
        });
        let answer = read_to_close(&mut s);
        let expected = if inline { "too big inline request" } else { "invalid" };
        assert!(answer.starts_with("-ERR Protocol error: "), "{answer}");
        assert!(answer.contains(expected), "{answer}");
        let sent = sending.join().unwrap();
        assert!(sent < 100 << 20, "the server read all {sent} bytes");
    }
}

/// A hundred clients that each send half a request (or nothing) and hold
/// their connection: another client's requests are answered as if they
/// were not there, and they are not answered or closed meanwhile.
#[test]
fn half_requests_held_open_do_not_stall_the_others() {
    let rig = rig(|_| {});
    let halves: [&[u8]; 6] = [
        b"",
        b"*2\r\n$4\r\nPI",
        b"*1\r\n$60000\r\nxxxxxxxx",
        b"PIN",
        b"*3\r\n",
        b"SENTINEL get-master-addr-by-name \"mymas",
    ];
    let mut held: Vec<TcpStream> = (0..100)
        .map(|i| {
            let mut s = connect(&rig);
            s.write_all(halves[i % halves.len()]).unwrap();
            s
        })
        .collect();
    for _ in 0..3 {
        let mut s = connect(&rig);
        assert_eq!(ask(&mut s, b"PING\r\n", 7), "+PONG\r\n");
        assert_eq!(ask(&mut s, b"*1\r\n$4\r\nPING\r\n", 7), "+PONG\r\n");
    }
    for s in &mut held {
        s.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 16];
        let read = s.read(&mut buf);
        assert!(matches!(&read, Err(e) if e.kind() == ErrorKind::WouldBlock), "{read:?}");
    }
    // Each completes its request later and is answered then.
    let mut s = held.swap_remove(1);
    s.set_nonblocking(false).unwrap();
    assert_eq!(ask(&mut s, b"NG\r\n$2\r\nhi\r\n", 8), "$2\r\nhi\r\n");
}

/// Inline requests arriving a byte at a time (the server skips re-scanning
/// what held no newline) are still answered, and pipelined ones in order.
#[test]
fn inline_requests_sent_a_byte_at_a_time_are_answered() {
    let rig = rig(|_| {});
    let mut s = connect(&rig);
    s.set_nodelay(true).unwrap();
    for b in b"PING hello\r\nPING\r\n" {
        s.write_all(&[*b]).unwrap();
        s.flush().unwrap();
    }
    assert_eq!(
        String::from_utf8_lossy(&read_exactly(&mut s, 18)),
        "$5\r\nhello\r\n+PONG\r\n"
    );
}
