//! Requests read as Redis reads them, refused as Redis refuses them, and
//! replies written byte for byte as Redis writes them.

use super::*;

const LIMITS: Limits = Limits {
    max_request_bytes: 1024,
    max_args: 64,
};

fn args(list: &[&str]) -> Request {
    list.iter().map(|a| a.as_bytes().to_vec()).collect()
}

fn ok(buf: &[u8]) -> Option<(Request, usize)> {
    parse(buf, LIMITS, false).unwrap()
}

fn error(buf: &[u8]) -> String {
    String::from_utf8(parse(buf, LIMITS, false).unwrap_err().0).unwrap()
}

#[test]
fn a_multibulk_request_is_read_whole_and_only_when_whole() {
    let full = b"*2\r\n$4\r\nPING\r\n$2\r\nhi\r\n*1\r\n";
    assert_eq!(ok(full), Some((args(&["PING", "hi"]), 22)));
    for cut in 0..22 {
        assert_eq!(ok(&full[..cut]), None, "incomplete at {cut}");
    }
    assert_eq!(ok(b"*0\r\n"), Some((vec![], 4)), "skipped without a reply");
    assert_eq!(ok(b"*-1\r\n"), Some((vec![], 5)));
    assert_eq!(ok(b"*1\r\n$0\r\n\r\n"), Some((vec![vec![]], 10)));
}

#[test]
fn lengths_are_refused_with_redis_s_texts_before_the_body_arrives() {
    assert_eq!(error(b"*1000000000\r\n"), "Protocol error: invalid multibulk length");
    assert_eq!(error(b"*99999999999\r\n"), "Protocol error: invalid multibulk length");
    assert_eq!(error(b"*x\r\n"), "Protocol error: invalid multibulk length");
    assert_eq!(error(b"*01\r\n"), "Protocol error: invalid multibulk length");
    assert_eq!(error(b"*1\r\n$1000000000\r\n"), "Protocol error: invalid bulk length");
    assert_eq!(error(b"*1\r\n$-1\r\n"), "Protocol error: invalid bulk length");
    assert_eq!(error(b"*1\r\n+PING\r\n"), "Protocol error: expected '$', got '+'");
    // The arguments together are bounded too.
    let two = format!("*2\r\n$600\r\n{}\r\n$600\r\n", "x".repeat(600));
    assert_eq!(error(two.as_bytes()), "Protocol error: invalid bulk length");
    let mut endless = b"*".to_vec();
    endless.extend(std::iter::repeat_n(b'1', INLINE_MAX + 1));
    assert_eq!(error(&endless), "Protocol error: too big mbulk count string");
}

#[test]
fn an_unauthenticated_client_gets_redis_s_tighter_limits() {
    let limits = Limits {
        max_request_bytes: 1 << 20,
        max_args: 64,
    };
    let e = parse(b"*11\r\n", limits, true).unwrap_err();
    assert_eq!(e.0, b"Protocol error: unauthenticated multibulk length");
    let e = parse(b"*1\r\n$16385\r\n", limits, true).unwrap_err();
    assert_eq!(e.0, b"Protocol error: unauthenticated bulk length");
    assert_eq!(parse(b"*11\r\n", limits, false).unwrap(), None);
}

#[test]
fn inline_requests_are_split_as_sdssplitargs_splits_them() {
    assert_eq!(ok(b"PING\r\n"), Some((args(&["PING"]), 6)));
    assert_eq!(ok(b"ping  a   b\n"), Some((args(&["ping", "a", "b"]), 12)));
    assert_eq!(ok(b"\r\n"), Some((vec![], 2)));
    assert_eq!(ok(b"PING"), None);
    assert_eq!(
        split_args(br#"set "a b" 'c\'d' "\x41\n" x"#),
        Some(vec![
            b"set".to_vec(),
            b"a b".to_vec(),
            b"c'd".to_vec(),
            b"A\n".to_vec(),
            b"x".to_vec()
        ])
    );
    assert_eq!(split_args(b"\"a"), None);
    assert_eq!(split_args(b"\"a\"b"), None);
    assert_eq!(split_args(b"'a"), None);
    assert_eq!(split_args(b"a\0b c"), Some(vec![b"a".to_vec()]));
    assert_eq!(error(b"ping \"a\r\n"), "Protocol error: unbalanced quotes in request");
    let long = vec![b'a'; 1025];
    assert_eq!(error(&long), "Protocol error: too big inline request");
}

#[test]
fn an_incomplete_inline_request_is_known_without_scanning_its_start_again() {
    // An inline request ends only at a newline: what was scanned need not be.
    assert!(inline_incomplete(b"PING", 0, LIMITS));
    assert!(!inline_incomplete(b"PING\n extra", 4, LIMITS));
    assert!(!inline_incomplete(b"PI\nNG", 0, LIMITS));
    // The start is trusted as scanned: a newline there is not looked at.
    assert!(inline_incomplete(b"PI\nNG", 3, LIMITS));
    // Multibulk requests and an empty buffer are parse's to judge.
    assert!(!inline_incomplete(b"*1\r\n$4\r\nPI", 0, LIMITS));
    assert!(!inline_incomplete(b"", 0, LIMITS));
    // Past the inline limit, parse refuses it.
    let big = vec![b'a'; INLINE_MAX.min(LIMITS.max_request_bytes) + 1];
    assert!(!inline_incomplete(&big, big.len() - 1, LIMITS));
    assert!(parse(&big, LIMITS, false).is_err());
}

#[test]
fn replies_are_written_as_redis_writes_them_in_both_protocols() {
    let hello = Reply::map(vec![("proto", Reply::Int(3)), ("modules", Reply::Array(vec![]))]);
    assert_eq!(
        hello.to_bytes(true),
        b"%2\r\n$5\r\nproto\r\n:3\r\n$7\r\nmodules\r\n*0\r\n"
    );
    assert_eq!(
        hello.to_bytes(false),
        b"*4\r\n$5\r\nproto\r\n:3\r\n$7\r\nmodules\r\n*0\r\n"
    );
    assert_eq!(Reply::NullArray.to_bytes(false), b"*-1\r\n");
    assert_eq!(Reply::NullArray.to_bytes(true), b"_\r\n");
    assert_eq!(Reply::NullBulk.to_bytes(false), b"$-1\r\n");
    assert_eq!(Reply::bulk_int(6379).to_bytes(true), b"$4\r\n6379\r\n");
    let push = Reply::Push(vec![Reply::bulk("message"), Reply::bulk("a"), Reply::bulk("b")]);
    assert_eq!(push.to_bytes(true), b">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nb\r\n");
    assert_eq!(push.to_bytes(false), b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nb\r\n");
    assert_eq!(Reply::err("a\r\nb").to_bytes(false), b"-ERR a  b\r\n");
    assert_eq!(Reply::ok().to_bytes(true), b"+OK\r\n");
}

proptest::proptest! {
    /// Any bytes a client sends: a request, "need more", or an error;
    /// never a panic, never more consumed than was given, never an
    /// argument list over the limits.
    #[test]
    fn any_bytes_are_read_or_refused_without_a_panic(
        bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..2048),
        unauthenticated in proptest::bool::ANY,
    ) {
        if let Ok(Some((request, used))) = parse(&bytes, LIMITS, unauthenticated) {
            proptest::prop_assert!(used > 0 && used <= bytes.len());
            proptest::prop_assert!(request.len() <= LIMITS.max_args);
            proptest::prop_assert!(request.iter().map(Vec::len).sum::<usize>() <= LIMITS.max_request_bytes);
        }
    }

    /// Bytes that look like RESP (headers and lengths of every size) reach
    /// the length checks rather than only the first byte's.
    #[test]
    fn resp_shaped_bytes_are_read_or_refused_without_a_panic(
        parts in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::num::i64::ANY.prop_map(|n| format!("*{n}\r\n")),
                proptest::num::i64::ANY.prop_map(|n| format!("${n}\r\n")),
                (0u8..8).prop_map(|n| format!("${n}\r\n")),
                "[a-zA-Z \"'\\\\]{0,12}\r\n",
            ],
            0..12,
        ),
    ) {
        let bytes = parts.concat().into_bytes();
        if let Ok(Some((_, used))) = parse(&bytes, LIMITS, false) {
            proptest::prop_assert!(used > 0 && used <= bytes.len());
        }
    }
}

use proptest::strategy::Strategy as _;

/// One request as a client writes it: RESP multibulk or an inline line.
fn request() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
    let word = proptest::collection::vec(proptest::sample::select(b"abcPINGxyz019".to_vec()), 1..12);
    let multibulk =
        proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..40), 0..6).prop_map(|args| {
            let mut out = format!("*{}\r\n", args.len()).into_bytes();
            for a in args {
                out.extend(format!("${}\r\n", a.len()).bytes());
                out.extend(a);
                out.extend_from_slice(b"\r\n");
            }
            out
        });
    let inline = (proptest::collection::vec(word, 0..5), proptest::bool::ANY).prop_map(|(words, crlf)| {
        let mut out = words.join(&b' ');
        out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
        out
    });
    proptest::prop_oneof![multibulk, inline]
}

/// What a hostile client does to a stream of good requests.
fn damage() -> impl proptest::strategy::Strategy<Value = (proptest::sample::Index, Vec<u8>, bool)> {
    let insert = proptest::prop_oneof![
        proptest::strategy::Just(b"*999999999\r\n".to_vec()),
        proptest::strategy::Just(b"$2147483647\r\n".to_vec()),
        proptest::strategy::Just(b"*-9223372036854775808\r\n".to_vec()),
        proptest::strategy::Just(b"$-1\r\n".to_vec()),
        proptest::strategy::Just(b"*2\r\n$".to_vec()),
        proptest::strategy::Just(b"\"".to_vec()),
        proptest::strategy::Just(b"\r".to_vec()),
        proptest::strategy::Just(b"\n".to_vec()),
        proptest::strategy::Just(b"\0".to_vec()),
        proptest::collection::vec(proptest::num::u8::ANY, 1..8),
    ];
    // (where, what to insert, or flip the byte there instead)
    (
        proptest::arbitrary::any::<proptest::sample::Index>(),
        insert,
        proptest::bool::ANY,
    )
}

/// Every outcome of reading `bytes` the way the server does: parse the
/// unread bytes, drop what a request used, until an error or "need more".
fn outcomes(bytes: &[u8]) -> (Vec<Request>, Option<ProtocolError>, usize) {
    let mut requests = Vec::new();
    let mut at = 0;
    loop {
        match parse(&bytes[at..], LIMITS, false) {
            Ok(Some((request, used))) => {
                requests.push(request);
                at += used;
            }
            Ok(None) => return (requests, None, at),
            Err(e) => return (requests, Some(e), at),
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 500, ..proptest::test_runner::Config::default() })]

    /// However TCP cuts a stream of requests, good or damaged, the server
    /// reads the same requests and the same error as from the whole
    /// stream at once.
    #[test]
    fn a_stream_cut_anywhere_reads_as_the_whole(
        requests in proptest::collection::vec(request(), 1..5),
        damages in proptest::collection::vec(damage(), 0..3),
        cuts in proptest::collection::vec(proptest::arbitrary::any::<proptest::sample::Index>(), 0..8),
    ) {
        let mut bytes = requests.concat();
        for (at, insert, flip) in damages {
            let at = at.index(bytes.len() + 1);
            if flip && at < bytes.len() {
                bytes[at] ^= insert[0] | 1;
            } else {
                bytes.splice(at..at, insert);
            }
        }
        let whole = outcomes(&bytes);
        // The same bytes arriving in pieces.
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        cuts.push(bytes.len());
        cuts.sort_unstable();
        let (mut requests, mut at, mut error) = (Vec::new(), 0, None);
        for cut in cuts {
            if error.is_some() {
                break;
            }
            let (got, e, used) = outcomes(&bytes[at..cut]);
            requests.extend(got);
            at += used;
            error = e;
        }
        proptest::prop_assert_eq!(&requests, &whole.0);
        proptest::prop_assert_eq!(&error, &whole.1);
        if error.is_none() {
            proptest::prop_assert_eq!(at, whole.2);
        }
    }
}
