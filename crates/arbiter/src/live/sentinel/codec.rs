//! The wire: requests read as Redis reads them (RESP arrays of bulk strings,
//! or inline lines split as `sdssplitargs` splits them), with every length
//! checked against the limits before anything is allocated; and replies
//! written in RESP2 or RESP3 as Redis writes them.
//!
//! [`parse`] is stateless: it is given the unread bytes of a connection and
//! returns the first complete request and how many bytes it took, `None`
//! when more bytes are needed, or a [`ProtocolError`] (the connection is
//! answered with it and closed, as Redis does). A request's bytes are
//! copied into its arguments only once it is complete, and each header is
//! judged as soon as its line has arrived: `*1000000000` or a 1 GB bulk
//! length is refused before its body is awaited.

/// The longest line Redis reads before it gives up on a request that
/// never ends one (`PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX: usize = 64 * 1024;

/// Most arguments an unauthenticated client may send in one request, as
/// Redis allows.
const UNAUTHENTICATED_ARGS: i64 = 10;

/// Longest bulk an unauthenticated client may send, as Redis allows.
const UNAUTHENTICATED_BULK: i64 = 16384;

/// What one request may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of all the arguments of one request together.
    pub max_request_bytes: usize,
    /// Arguments of one request.
    pub max_args: usize,
}

/// A request that cannot be read: Redis's error text (without `-ERR `);
/// the connection is closed after it is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub Vec<u8>);

impl ProtocolError {
    fn new(text: &str) -> Self {
        Self(format!("Protocol error: {text}").into_bytes())
    }
}

/// A request: its arguments, the command name first (empty: a blank line
/// or `*0`, which Redis skips without a reply).
pub type Request = Vec<Vec<u8>>;

/// Parses Redis's `string2ll`: an optional `-`, digits, no leading zero,
/// no sign on zero, no spaces.
fn string_to_i64(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    if digits[0] == b'0' && (digits.len() > 1 || negative) {
        return None;
    }
    let mut value: i64 = 0;
    for d in digits {
        value = value.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
    }
    Some(if negative { -value } else { value })
}

/// The position of the first `\r` at or after `from`.
fn find_cr(buf: &[u8], from: usize) -> Option<usize> {
    memchr::memchr(b'\r', buf.get(from..)?).map(|i| from + i)
}

/// The first request in `buf` (see the module docs). `unauthenticated`
/// applies Redis's tighter limits for clients that must still `AUTH`.
pub fn parse(buf: &[u8], limits: Limits, unauthenticated: bool) -> Result<Option<(Request, usize)>, ProtocolError> {
    match buf.first() {
        None => Ok(None),
        Some(b'*') => parse_multibulk(buf, limits, unauthenticated),
        Some(_) => parse_inline(buf, limits),
    }
}

fn parse_multibulk(
    buf: &[u8],
    limits: Limits,
    unauthenticated: bool,
) -> Result<Option<(Request, usize)>, ProtocolError> {
    let Some(cr) = find_cr(buf, 0) else {
        if buf.len() > INLINE_MAX {
            return Err(ProtocolError::new("too big mbulk count string"));
        }
        return Ok(None);
    };
    if cr + 2 > buf.len() {
        return Ok(None);
    }
    let count = match string_to_i64(&buf[1..cr]) {
        Some(n) if n <= i64::from(i32::MAX) => n,
        _ => return Err(ProtocolError::new("invalid multibulk length")),
    };
    if count > UNAUTHENTICATED_ARGS && unauthenticated {
        return Err(ProtocolError::new("unauthenticated multibulk length"));
    }
    if count > limits.max_args as i64 {
        return Err(ProtocolError::new("invalid multibulk length"));
    }
    let mut pos = cr + 2;
    if count <= 0 {
        return Ok(Some((Vec::new(), pos)));
    }
    // Ranges first; the bytes are copied once the request is complete.
    let mut ranges = Vec::with_capacity((count as usize).min(16));
    let mut total: usize = 0;
    for _ in 0..count {
        let Some(cr) = find_cr(buf, pos) else {
            if buf.len() - pos > INLINE_MAX {
                return Err(ProtocolError::new("too big bulk count string"));
            }
            return Ok(None);
        };
        if cr + 2 > buf.len() {
            return Ok(None);
        }
        if buf[pos] != b'$' {
            let mut text = b"Protocol error: expected '$', got '".to_vec();
            text.push(buf[pos]);
            text.push(b'\'');
            return Err(ProtocolError(text));
        }
        let len = match string_to_i64(&buf[pos + 1..cr]) {
            Some(n) if n >= 0 => n,
            _ => return Err(ProtocolError::new("invalid bulk length")),
        };
        if len > UNAUTHENTICATED_BULK && unauthenticated {
            return Err(ProtocolError::new("unauthenticated bulk length"));
        }
        let len = usize::try_from(len).map_err(|_| ProtocolError::new("invalid bulk length"))?;
        total = total.saturating_add(len);
        if total > limits.max_request_bytes {
            return Err(ProtocolError::new("invalid bulk length"));
        }
        let start = cr + 2;
        // Redis skips the two bytes after a bulk without looking at them.
        let end = start + len + 2;
        if end > buf.len() {
            return Ok(None);
        }
        ranges.push(start..start + len);
        pos = end;
    }
    let args = ranges.into_iter().map(|r| buf[r].to_vec()).collect();
    Ok(Some((args, pos)))
}

/// Whether an inline request (one not starting with `*`) in `buf` is
/// still incomplete without looking again at its first `scanned` bytes,
/// which held no newline: such a request ends only at a newline, so a
/// server reading one byte at a time need not re-scan what it has
/// (64 KiB one byte per read cost about 1.2 s of CPU when every read
/// re-scanned it). False when `buf` is too large, so that `parse` refuses
/// it.
pub fn inline_incomplete(buf: &[u8], scanned: usize, limits: Limits) -> bool {
    let max = INLINE_MAX.min(limits.max_request_bytes);
    match buf.first() {
        None | Some(b'*') => false,
        Some(_) => buf.len() <= max && memchr::memchr(b'\n', buf.get(scanned..).unwrap_or_default()).is_none(),
    }
}

fn parse_inline(buf: &[u8], limits: Limits) -> Result<Option<(Request, usize)>, ProtocolError> {
    let max = INLINE_MAX.min(limits.max_request_bytes);
    let Some(newline) = memchr::memchr(b'\n', buf) else {
        if buf.len() > max {
            return Err(ProtocolError::new("too big inline request"));
        }
        return Ok(None);
    };
    if newline > max {
        return Err(ProtocolError::new("too big inline request"));
    }
    let mut line = &buf[..newline];
    if let Some(stripped) = line.strip_suffix(b"\r") {
        line = stripped;
    }
    let args = split_args(line).ok_or_else(|| ProtocolError::new("unbalanced quotes in request"))?;
    if args.len() > limits.max_args {
        return Err(ProtocolError::new("invalid multibulk length"));
    }
    Ok(Some((args, newline + 1)))
}

/// C's `isspace`.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r')
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Redis's `sdssplitargs`: words separated by spaces, `"..."` with the
/// escapes `\n \r \t \b \a \xHH`, `'...'` with `\'`; a closing quote must
/// be followed by a space or the end. `None`: unbalanced quotes. A NUL
/// byte ends the line, as it ends Redis's C string.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let line = line.split(|b| *b == 0).next().unwrap_or_default();
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut args = Vec::new();
    let mut p = 0;
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Some(args);
        }
        let (mut in_double, mut in_single, mut done) = (false, false, false);
        let mut current = Vec::new();
        while !done {
            let c = at(p);
            if in_double {
                if c == b'\\' && at(p + 1) == b'x' {
                    if let (Some(h), Some(l)) = (hex_value(at(p + 2)), hex_value(at(p + 3))) {
                        current.push(h * 16 + l);
                        p += 3;
                    } else {
                        current.push(b'x');
                        p += 1;
                    }
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    current.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else if in_single {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    current.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    current.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    other => current.push(other),
                }
            }
            if at(p) != 0 {
                p += 1;
            }
        }
        args.push(current);
    }
}

/// One reply, written in the connection's protocol by [`Reply::encode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+text`.
    Simple(String),
    /// `-text`: the whole line after `-`, its code included (`ERR ...`,
    /// `NOAUTH ...`).
    Error(Vec<u8>),
    /// `:n`.
    Int(i64),
    /// `$len` and the bytes.
    Bulk(Vec<u8>),
    /// The null bulk string: `$-1` in RESP2, `_` in RESP3.
    NullBulk,
    /// The null array: `*-1` in RESP2, `_` in RESP3.
    NullArray,
    /// `*n` and the elements.
    Array(Vec<Self>),
    /// `%n` and the pairs in RESP3; a flat array of `2n` in RESP2.
    Map(Vec<(Self, Self)>),
    /// `>n` in RESP3 (pub/sub messages); an array in RESP2.
    Push(Vec<Self>),
}

impl Reply {
    /// `-ERR text`, with CR and LF made spaces as Redis does.
    pub fn err(text: impl AsRef<[u8]>) -> Self {
        let mut line = b"ERR ".to_vec();
        line.extend_from_slice(text.as_ref());
        Self::error_line(line)
    }

    /// `-text`, its code given (`NOAUTH ...`), CR and LF made spaces.
    pub fn error_line(line: impl Into<Vec<u8>>) -> Self {
        let mut line = line.into();
        for b in &mut line {
            if *b == b'\r' || *b == b'\n' {
                *b = b' ';
            }
        }
        Self::Error(line)
    }

    /// `+OK`.
    pub fn ok() -> Self {
        Self::Simple("OK".into())
    }

    /// A bulk string of `text`.
    pub fn bulk(text: impl AsRef<[u8]>) -> Self {
        Self::Bulk(text.as_ref().to_vec())
    }

    /// A bulk string of the decimal `n`, as Redis's `addReplyBulkLongLong`.
    pub fn bulk_int(n: impl std::fmt::Display) -> Self {
        Self::Bulk(n.to_string().into_bytes())
    }

    /// A map of bulk-string keys.
    pub fn map(pairs: Vec<(&str, Self)>) -> Self {
        Self::Map(pairs.into_iter().map(|(k, v)| (Self::bulk(k), v)).collect())
    }

    /// Appends the reply to `out`, in RESP3 when `resp3`, else RESP2.
    pub fn encode(&self, resp3: bool, out: &mut Vec<u8>) {
        fn header(out: &mut Vec<u8>, kind: u8, n: impl std::fmt::Display) {
            out.push(kind);
            out.extend_from_slice(n.to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        match self {
            Self::Simple(s) => {
                out.push(b'+');
                out.extend_from_slice(s.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Self::Error(e) => {
                out.push(b'-');
                out.extend_from_slice(e);
                out.extend_from_slice(b"\r\n");
            }
            Self::Int(n) => header(out, b':', n),
            Self::Bulk(b) => {
                header(out, b'$', b.len());
                out.extend_from_slice(b);
                out.extend_from_slice(b"\r\n");
            }
            Self::NullBulk if resp3 => out.extend_from_slice(b"_\r\n"),
            Self::NullBulk => out.extend_from_slice(b"$-1\r\n"),
            Self::NullArray if resp3 => out.extend_from_slice(b"_\r\n"),
            Self::NullArray => out.extend_from_slice(b"*-1\r\n"),
            Self::Array(items) => {
                header(out, b'*', items.len());
                items.iter().for_each(|i| i.encode(resp3, out));
            }
            Self::Push(items) => {
                header(out, if resp3 { b'>' } else { b'*' }, items.len());
                items.iter().for_each(|i| i.encode(resp3, out));
            }
            Self::Map(pairs) => {
                if resp3 {
                    header(out, b'%', pairs.len());
                } else {
                    header(out, b'*', pairs.len() * 2);
                }
                for (k, v) in pairs {
                    k.encode(resp3, out);
                    v.encode(resp3, out);
                }
            }
        }
    }

    /// The reply as bytes (see [`Reply::encode`]).
    pub fn to_bytes(&self, resp3: bool) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(resp3, &mut out);
        out
    }
}

#[cfg(test)]
mod tests;
