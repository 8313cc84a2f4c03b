//! Hostile input (issue 20): configuration files that are damaged, huge,
//! deeply nested or not text at all are refused with an error that says
//! where (a TOML line and column, or the field), never a panic, and read
//! with bounded memory.

use proptest::prelude::*;

use super::*;

/// A configuration with every section, as an operator might write it.
const GOOD: &str = r#"[etcd]
endpoints = ["http://10.0.0.10:2379", "http://10.0.0.11:2379"]
prefix = "arbiter/main"
ttl_s = 5

[redis]
password = "s3cret"
timeout_ms = 500
poll_timeout_ms = 200
min_replicas_to_write = 1
min_replicas_max_lag_s = 10

[[nodes]]
name = "r1"
addr = "10.0.0.1:6379"
priority = 100

[[nodes]]
name = "r2"
addr = "10.0.0.2:6379"

[settings]
check_interval_ms = 1000
down_after_ms = 3000
max_lag_bytes = 1048576

[record]
enabled = true
path = "run.ron"
max_bytes = 67108864
keep = 5

[hooks]
on_role_change = ["/usr/local/bin/move-vip", "--quiet"]
timeout_ms = 10000

[sentinel]
listen = "127.0.0.1:26379"
max_clients = 512
max_request_bytes = 65536

[http]
listen = "127.0.0.1:8008"
max_connections = 16
max_head_bytes = 8192
request_timeout_ms = 2000
"#;

/// The sections an error may name as its field.
const SECTIONS: [&str; 9] = [
    "etcd", "redis", "nodes", "settings", "record", "hooks", "sentinel", "http", "nodes[",
];

/// Whether `message` says where the problem is: TOML's own errors give a
/// line and column, the checks name a field (`nodes[1].addr: ...`).
fn says_where(message: &str) -> bool {
    message.contains("at line ")
        || SECTIONS.iter().any(|s| {
            message
                .strip_prefix(s)
                .is_some_and(|rest| rest.starts_with(['.', '[', ':']))
        })
}

fn write(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("arbiter.toml");
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

#[test]
fn the_good_file_loads() {
    let (_d, path) = write(GOOD.as_bytes());
    let config = load(&path).unwrap();
    assert_eq!(config.group.nodes.len(), 2);
    assert!(config.sentinel.is_some() && config.http.is_some());
}

/// 100,000 nested arrays or inline tables: an error naming the line, not a
/// stack overflow.
#[test]
fn a_hundred_thousand_nested_brackets_are_refused_not_overflowed() {
    const DEEP: usize = 100_000;
    for (open, close) in [("[", "]"), ("{a = ", "}")] {
        for value in [
            open.repeat(DEEP),
            format!("{}1{}", open.repeat(DEEP), close.repeat(DEEP)),
        ] {
            let text = GOOD.replace("ttl_s = 5", &format!("ttl_s = {value}"));
            let e = parse(&text).unwrap_err();
            assert!(e.contains("at line 4"), "{open}: {}", &e[..e.len().min(300)]);
        }
    }
}

/// Numbers past every integer type, and values at the top of the range:
/// an error naming the line or the field, or a configuration whose
/// durations still fit in time arithmetic.
#[test]
fn huge_numbers_are_refused_or_usable() {
    for (field, value) in [
        ("ttl_s = 5", "99999999999999999999999"),
        ("ttl_s = 5", "-9223372036854775808"),
        ("ttl_s = 5", "1e400"),
        ("ttl_s = 5", "inf"),
        ("priority = 100", "4294967296"),
        ("priority = 100", "-1"),
        ("max_clients = 512", "18446744073709551616"),
        ("max_request_bytes = 65536", "9223372036854775807"),
        ("max_head_bytes = 8192", "9223372036854775807"),
        ("keep = 5", "9223372036854775807"),
        ("request_timeout_ms = 2000", "9223372036854775807"),
        ("check_interval_ms = 1000", "9223372036854775807"),
        ("timeout_ms = 10000", "9223372036854775807"),
        ("max_lag_bytes = 1048576", "9223372036854775807"),
    ] {
        let key = field.split(" = ").next().unwrap();
        let text = GOOD.replace(field, &format!("{key} = {value}"));
        match parse(&text) {
            Err(e) => assert!(says_where(&e), "{key} = {value}: {e}"),
            Ok(config) => {
                // Accepted: every duration can still be added to a clock.
                let now = std::time::Instant::now();
                for d in durations(&config) {
                    assert!(now.checked_add(d).is_some(), "{key} = {value}: {d:?}");
                }
            }
        }
    }
}

/// Every duration an accepted configuration holds.
fn durations(c: &Config) -> Vec<Duration> {
    let mut out = vec![c.live.timeout, c.live.poll_timeout, c.hooks.timeout];
    if let Some(s) = &c.sentinel {
        out.push(s.write_timeout);
        out.extend(s.idle_timeout);
    }
    if let Some(h) = &c.http {
        out.extend([h.request_timeout, h.stalled_after, h.view_max_age]);
    }
    out
}

/// A very long string and a file of many megabytes: read or refused, with
/// memory bounded by the cap on what is read.
#[test]
fn long_strings_and_huge_files_are_bounded() {
    let long = "x".repeat(512 * 1024);
    let text = GOOD.replace("name = \"r1\"", &format!("name = \"{long}\""));
    let (_d, path) = write(text.as_bytes());
    let config = load(&path).unwrap();
    assert_eq!(config.group.nodes[0].name.len(), long.len());
    // A file past the cap is refused by its size, before it is parsed.
    let huge = format!("{GOOD}\n{}", "# a comment line that goes on and on\n".repeat(100_000));
    let (_d, path) = write(huge.as_bytes());
    let e = load(&path).unwrap_err();
    assert!(e.message.contains("larger than"), "{e}");
    assert!(e.to_string().starts_with(&path.display().to_string()), "{e}");
}

/// A file that is not UTF-8: the line and column of the first bad byte.
#[test]
fn invalid_utf8_names_its_line() {
    let mut bytes = GOOD.as_bytes().to_vec();
    let at = GOOD.find("r2").unwrap();
    bytes.splice(at..at, [0xff, 0xfe]);
    let (_d, path) = write(&bytes);
    let e = load(&path).unwrap_err();
    assert!(e.message.contains("line 19, column 9"), "{e}");
    assert!(e.message.contains("UTF-8"), "{e}");
}

/// One way to damage a good configuration.
#[derive(Debug, Clone)]
enum Damage {
    Flip {
        at: usize,
        bit: u8,
    },
    Truncate {
        at: usize,
    },
    /// A line written twice.
    DuplicateLine {
        line: usize,
    },
    /// A whole section (from its `[header]` to the next) written twice.
    DuplicateSection {
        section: usize,
    },
    DeleteLine {
        line: usize,
    },
    /// The value of a `key = value` line replaced.
    Value {
        line: usize,
        value: String,
    },
    Insert {
        at: usize,
        bytes: Vec<u8>,
    },
}

/// What replaces a value: huge and negative numbers, floats where integers
/// go, deep or unclosed nesting, long strings, bad escapes, other types.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        (1usize..40).prop_map(|n| "9".repeat(n)),
        Just("-9223372036854775808".to_string()),
        Just("9223372036854775807".to_string()),
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("1e400".to_string()),
        Just("nan".to_string()),
        Just("-inf".to_string()),
        Just("0x7fffffffffffffff".to_string()),
        (1usize..200).prop_map(|n| "[".repeat(n)),
        (1usize..200).prop_map(|n| format!("{}1{}", "[".repeat(n), "]".repeat(n))),
        (1usize..50).prop_map(|n| format!("{}{}", "{a = ".repeat(n), "}".repeat(n))),
        (0usize..5000).prop_map(|n| format!("\"{}\"", "a".repeat(n))),
        Just("\"\\u{110000}\"".to_string()),
        Just("\"\\uD800\"".to_string()),
        Just("\"\\x\"".to_string()),
        Just("'''".to_string()),
        Just("\"\"\"".to_string()),
        Just("1979-05-27T07:32:00Z".to_string()),
        Just("true".to_string()),
        Just("\"\"".to_string()),
        Just("\"10.0.0.1:0\"".to_string()),
        Just("\"[::1]:65536\"".to_string()),
        Just("[\"\"]".to_string()),
        Just("[]".to_string()),
        "[ -~]{0,20}",
    ]
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        value().prop_map(String::into_bytes),
        Just(b"[[nodes]]\nname = \"r1\"\naddr = \"10.0.0.1:6379\"\n".to_vec()),
        Just(b"[etcd]\n".to_vec()),
        Just(b"[http]\n".to_vec()),
        Just(b"x = 1\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"=".to_vec()),
        Just(vec![0xff]),
        Just(vec![0xed, 0xa0, 0x80]),
        Just(vec![0]),
        proptest::collection::vec(any::<u8>(), 1..16),
    ]
}

fn damage() -> impl Strategy<Value = Damage> {
    let len = GOOD.len();
    let lines = GOOD.lines().count();
    prop_oneof![
        1 => (0..len, 0u8..8).prop_map(|(at, bit)| Damage::Flip { at, bit }),
        1 => (0..len).prop_map(|at| Damage::Truncate { at }),
        1 => (0..lines).prop_map(|line| Damage::DuplicateLine { line }),
        1 => (0usize..16).prop_map(|section| Damage::DuplicateSection { section }),
        1 => (0..lines).prop_map(|line| Damage::DeleteLine { line }),
        3 => (0..lines, value()).prop_map(|(line, value)| Damage::Value { line, value }),
        1 => (0..=len, payload()).prop_map(|(at, bytes)| Damage::Insert { at, bytes }),
    ]
}

/// The byte ranges of the lines of `bytes`, line ends included.
fn lines(bytes: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'\n' {
            out.push(start..i + 1);
            start = i + 1;
        }
    }
    if start < bytes.len() {
        out.push(start..bytes.len());
    }
    out
}

fn damaged(damages: &[Damage]) -> Vec<u8> {
    let mut bytes = GOOD.as_bytes().to_vec();
    for d in damages {
        let all = lines(&bytes);
        let pick = |n: usize| all.get(n % all.len().max(1)).cloned();
        match d {
            Damage::Flip { at, bit } => {
                if !bytes.is_empty() {
                    let at = at % bytes.len();
                    bytes[at] ^= 1 << bit;
                }
            }
            Damage::Truncate { at } => bytes.truncate(*at),
            Damage::DuplicateLine { line } => {
                if let Some(r) = pick(*line) {
                    let copy = bytes[r.clone()].to_vec();
                    bytes.splice(r.start..r.start, copy);
                }
            }
            Damage::DuplicateSection { section } => {
                let headers: Vec<_> = all
                    .iter()
                    .filter(|r| bytes.get(r.start) == Some(&b'['))
                    .cloned()
                    .collect();
                if let Some(h) = headers.get(section % headers.len().max(1)) {
                    let end = headers
                        .iter()
                        .find(|r| r.start > h.start)
                        .map_or(bytes.len(), |r| r.start);
                    let mut copy = bytes[h.start..end].to_vec();
                    if copy.last() != Some(&b'\n') {
                        copy.push(b'\n');
                    }
                    bytes.extend(copy);
                }
            }
            Damage::DeleteLine { line } => {
                if let Some(r) = pick(*line) {
                    bytes.drain(r);
                }
            }
            Damage::Value { line, value } => {
                if let Some(r) = pick(*line) {
                    if let Some(eq) = bytes[r.clone()].windows(3).position(|w| w == b" = ") {
                        let from = r.start + eq + 3;
                        let to = if bytes[r.end - 1] == b'\n' { r.end - 1 } else { r.end };
                        bytes.splice(from..to, value.bytes());
                    }
                }
            }
            Damage::Insert { at, bytes: inserted } => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, inserted.iter().copied());
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// A good file damaged one to four times: a configuration, or an error
    /// that says where; never a panic.
    #[test]
    fn a_damaged_file_loads_or_says_where(damages in proptest::collection::vec(damage(), 1..5)) {
        let bytes = damaged(&damages);
        match std::str::from_utf8(&bytes) {
            Ok(text) => match parse(text) {
                Err(e) => prop_assert!(says_where(&e), "{e}"),
                Ok(config) => {
                    let now = std::time::Instant::now();
                    for d in durations(&config) {
                        prop_assert!(now.checked_add(d).is_some(), "{d:?}");
                    }
                }
            },
            Err(_) => {
                let (_d, path) = write(&bytes);
                let e = load(&path).unwrap_err();
                prop_assert!(e.message.contains("line "), "{e}");
            }
        }
    }

    /// Any bytes at all: an error (or, by chance, a configuration), never a
    /// panic.
    #[test]
    fn any_bytes_are_refused_without_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(text) = std::str::from_utf8(&bytes) {
            if let Err(e) = parse(text) {
                prop_assert!(!e.is_empty());
            }
        }
    }
}
