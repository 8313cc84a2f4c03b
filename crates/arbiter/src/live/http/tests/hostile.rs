//! Hostile input (issue 20) on the HTTP port: any request head is answered
//! with a status this server sends, never a panic; slow clients do not
//! stall the others; a 100 MB head is refused after `max_head_bytes`.

use proptest::prelude::*;

use super::*;

/// The statuses this server sends.
const STATUSES: [u16; 6] = [200, 400, 404, 405, 431, 503];

/// Answers `head` as a connection would, from a healthy group.
fn answer(head: &[u8]) -> Reply {
    let shared = Shared::default();
    let (view, local) = healthy(Instant::now());
    shared.set_view(view);
    shared.update_local(|l| *l = local);
    answer_head(head, &HttpOptions::default(), &shared).0
}

fn request_line() -> impl Strategy<Value = Vec<u8>> {
    let method = prop_oneof![
        proptest::sample::select(vec!["GET", "HEAD", "OPTIONS", "POST", "get", "", "G\0T"]).prop_map(String::from),
        "[A-Z]{1,12}",
    ];
    let path = prop_oneof![
        proptest::sample::select(vec![
            "/primary",
            "/primary/r1",
            "/replica",
            "/replica/r2/",
            "/leader",
            "/health",
            "/liveness",
            "/readiness",
            "/metrics",
            "/",
            "",
            "*",
            "//",
            "/primary/%",
            "/primary/%G1",
            "/primary/%ff",
            "/replica/%c3%28",
            "/primary/%72%31",
            "/replica?lag=",
            "/replica?lag=-1",
            "/replica?lag=99999999999999999999999",
            "/replica?lag=1&lag=x",
            "http://x/primary",
        ])
        .prop_map(String::from),
        (0usize..10_000).prop_map(|n| format!("/primary/{}", "a".repeat(n))),
        (0usize..2_000).prop_map(|n| format!("/{}", "%41".repeat(n))),
        "/[ -~]{0,40}",
    ];
    let version = proptest::sample::select(vec![
        "HTTP/1.1",
        "HTTP/1.0",
        "HTTP/2",
        "HTTP/1.1 extra",
        "",
        "HTTP/99999999999.1",
    ]);
    (method, path, version).prop_map(|(m, p, v)| format!("{m} {p} {v}").into_bytes())
}

fn header() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"Host: x".to_vec()),
        Just(b"Content-Length: 99999999999999999999".to_vec()),
        Just(b"Content-Length: -1".to_vec()),
        Just(b"Transfer-Encoding: chunked".to_vec()),
        Just(b"Connection: keep-alive".to_vec()),
        Just(b": no name".to_vec()),
        Just(b"No-Colon".to_vec()),
        (0usize..2000).prop_map(|n| format!("X-Long: {}", "v".repeat(n)).into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..30),
    ]
}

/// A request head built from parts, each line ended by CRLF or a bare LF,
/// and then a few bytes flipped.
fn head() -> impl Strategy<Value = Vec<u8>> {
    (
        request_line(),
        proptest::collection::vec(header(), 0..80),
        proptest::collection::vec(any::<bool>(), 82),
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
    )
        .prop_map(|(line, headers, crlf, flips)| {
            let end = |i: usize| -> &[u8] { if crlf[i] { b"\r\n" } else { b"\n" } };
            let mut head = line;
            head.extend_from_slice(end(0));
            for (i, h) in headers.into_iter().enumerate() {
                head.extend(h);
                head.extend_from_slice(end(i + 1));
            }
            head.extend_from_slice(end(81));
            for (at, byte) in flips {
                let at = at.index(head.len());
                head[at] = byte;
            }
            head
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Any head: a status this server sends, a JSON body (or the
    /// metrics), never a panic.
    #[test]
    fn any_head_is_answered_with_a_known_status(head in head()) {
        let reply = answer(&head);
        prop_assert!(STATUSES.contains(&reply.status), "{}", reply.status);
        if reply.content_type == "application/json" {
            prop_assert!(serde_json::from_str::<serde_json::Value>(&reply.body).is_ok(), "{}", reply.body);
        }
    }

    /// Any bytes at all: the same.
    #[test]
    fn any_bytes_are_answered_with_a_known_status(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let reply = answer(&bytes);
        prop_assert!(STATUSES.contains(&reply.status), "{}", reply.status);
    }

    /// The end of a head is found however the bytes arrive (the server
    /// searches only the new bytes and the three before them).
    #[test]
    fn the_end_of_a_head_is_found_across_reads(head in head(), cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..6)) {
        let whole = head_end(&head);
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(head.len() + 1)).collect();
        cuts.push(head.len());
        cuts.sort_unstable();
        let mut found = None;
        let mut len = 0;
        for cut in cuts {
            if cut <= len {
                continue;
            }
            let from = len.saturating_sub(3);
            len = cut;
            if let Some(end) = head_end(&head[from..len]) {
                found = Some(from + end);
                break;
            }
        }
        prop_assert_eq!(found, whole);
    }
}

/// A request line with no end, 100 MB of it: 431 once `max_head_bytes`
/// arrived, and the connection closed long before the client is done
/// (the server never holds more than the head and its drain).
#[test]
fn a_hundred_megabyte_head_is_refused_at_max_head_bytes() {
    let (server, _) = server(HttpOptions::default());
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sending = std::thread::spawn(move || {
        let mut sent = 0usize;
        let chunk = [b'a'; 64 * 1024];
        if writer.write_all(b"GET /primary HTTP/1.1\r\nX-Huge: ").is_err() {
            return sent;
        }
        while sent < 100 << 20 {
            match writer.write(&chunk) {
                Ok(n) => sent += n,
                Err(_) => break,
            }
        }
        sent
    });
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
    let sent = sending.join().unwrap();
    assert!(sent < 100 << 20, "the server read all {sent} bytes");
    // Others are still served.
    let ok = exchange(&server, b"GET /liveness HTTP/1.1\r\n\r\n");
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
}

/// Clients that send half a head and hold their connection, all but three
/// slots of `max_connections` (an answered connection keeps its slot until
/// its thread sees the client gone): another client is answered at once
/// (within its 10 s read timeout, well before their 60 s), and they are
/// not answered meanwhile.
#[test]
fn half_sent_heads_held_open_do_not_stall_the_others() {
    let options = HttpOptions {
        max_connections: 16,
        request_timeout: Duration::from_secs(60),
        ..HttpOptions::default()
    };
    let (server, _) = server(options);
    let halves: [&[u8]; 4] = [
        b"GET /primary HTTP/1.1\r\nHost: x\r\n",
        b"GET /prim",
        b"",
        b"GET /primary HTTP/1.1\r\n\r",
    ];
    let held: Vec<TcpStream> = (0..13)
        .map(|i| {
            let mut s = TcpStream::connect(server.addr()).unwrap();
            s.write_all(halves[i % halves.len()]).unwrap();
            s
        })
        .collect();
    for _ in 0..3 {
        let ok = exchange(&server, b"GET /primary HTTP/1.1\r\n\r\n");
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    }
    // Still open: nothing was answered to them yet.
    for mut s in held {
        s.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 16];
        let read = s.read(&mut buf);
        assert!(
            matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "{read:?}"
        );
    }
}

/// A head whose lines end differently (a bare LF, then a CRLF blank line)
/// ends at its first blank line, as httparse reads it: it used to be
/// awaited until the request timeout (408), and a bare-LF blank line
/// followed by a CRLF one ended the head at the second or the first
/// depending on how the bytes were cut into reads.
#[test]
fn mixed_line_ends_end_the_head_at_the_first_blank_line() {
    assert_eq!(head_end(b"GET / HTTP/1.1\n\r\n"), Some(17));
    assert_eq!(head_end(b"GET / HTTP/1.1\r\n\n"), Some(17));
    assert_eq!(head_end(b"GET / HTTP/1.1\r\n\n\r\n\r\n"), Some(17));
    assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Some(27));
    assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
    let (server, _) = server(HttpOptions {
        request_timeout: Duration::from_secs(60),
        ..HttpOptions::default()
    });
    let ok = exchange(&server, b"GET /liveness HTTP/1.1\nHost: x\r\n\r\n");
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let ok = exchange(&server, b"GET /liveness HTTP/1.1\n\r\n");
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
}

/// `max_head_bytes` as large as the configuration accepts (no upper
/// bound): the head is read into what arrives, not into a buffer of that
/// size allocated per connection (which failed: a capacity overflow that
/// closed every connection unanswered, or with a large but possible size an
/// allocation failure that aborts the process).
#[test]
fn a_huge_max_head_bytes_allocates_only_what_arrives() {
    let (server, _) = server(HttpOptions {
        max_head_bytes: usize::MAX,
        ..HttpOptions::default()
    });
    let ok = exchange(&server, b"GET /liveness HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
}
