//! Sentinel's events over pub/sub: a connection's channels and patterns,
//! the replies to `SUBSCRIBE`, `PSUBSCRIBE`, `UNSUBSCRIBE` and
//! `PUNSUBSCRIBE`, the messages an event becomes, and Redis's glob
//! matching of patterns ([`glob_match`]).
//!
//! No crate was used for the glob: `glob` matches file paths (`*` stops at
//! `/`, and `[!...]` negates where Redis uses `[^...]`), and `wildmatch`
//! has no character classes; Redis's `stringmatchlen` is forty lines.

use std::collections::BTreeSet;

use super::codec::Reply;
use crate::live::follow::Event;

/// Most channels and patterns one connection may hold together: a
/// Sentinel client subscribes to a few event channels, and every event is
/// matched against every pattern, so a connection must not grow them
/// without end by subscribing again and again.
pub const MAX_SUBSCRIPTIONS: usize = 1024;

/// Most bytes of channel and pattern names one connection may hold
/// together (what one event's matching costs is bounded by it).
pub const MAX_SUBSCRIPTION_BYTES: usize = 64 * 1024;

/// One connection's subscriptions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscriptions {
    /// Channels, by name.
    pub channels: BTreeSet<Vec<u8>>,
    /// Patterns.
    pub patterns: BTreeSet<Vec<u8>>,
}

impl Subscriptions {
    /// How many channels and patterns (what Redis's replies count).
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Whether the connection is in subscribed mode.
    pub fn active(&self) -> bool {
        self.count() > 0
    }

    fn answer(&self, kind: &str, name: Option<&[u8]>) -> Reply {
        Reply::Push(vec![
            Reply::bulk(kind),
            name.map_or(Reply::NullBulk, Reply::bulk),
            Reply::Int(self.count() as i64),
        ])
    }

    /// `SUBSCRIBE` (`pattern` false) or `PSUBSCRIBE` of `names`: one reply
    /// each; or one error, and no change, when they would take the
    /// connection past [`MAX_SUBSCRIPTIONS`] or [`MAX_SUBSCRIPTION_BYTES`].
    pub fn subscribe(&mut self, names: &[Vec<u8>], pattern: bool) -> Vec<Reply> {
        let kind = if pattern { "psubscribe" } else { "subscribe" };
        let held = if pattern { &self.patterns } else { &self.channels };
        let new: BTreeSet<&Vec<u8>> = names.iter().filter(|n| !held.contains(*n)).collect();
        let bytes = |names: &mut dyn Iterator<Item = &Vec<u8>>| names.map(Vec::len).sum::<usize>();
        let held_bytes = bytes(&mut self.channels.iter().chain(&self.patterns));
        if self.count() + new.len() > MAX_SUBSCRIPTIONS
            || held_bytes + bytes(&mut new.iter().copied()) > MAX_SUBSCRIPTION_BYTES
        {
            return vec![Reply::err(format!(
                "too many subscriptions: at most {MAX_SUBSCRIPTIONS} channels and patterns of \
                 {MAX_SUBSCRIPTION_BYTES} bytes together per connection"
            ))];
        }
        names
            .iter()
            .map(|name| {
                let set = if pattern {
                    &mut self.patterns
                } else {
                    &mut self.channels
                };
                set.insert(name.clone());
                self.answer(kind, Some(name))
            })
            .collect()
    }

    /// `UNSUBSCRIBE` (`pattern` false) or `PUNSUBSCRIBE` of `names`, or of
    /// every one (in byte order) when `names` is empty; with none to end,
    /// one reply with a null name, as Redis answers.
    pub fn unsubscribe(&mut self, names: &[Vec<u8>], pattern: bool) -> Vec<Reply> {
        let kind = if pattern { "punsubscribe" } else { "unsubscribe" };
        let set = if pattern { &self.patterns } else { &self.channels };
        let names: Vec<Vec<u8>> = if names.is_empty() {
            set.iter().cloned().collect()
        } else {
            names.to_vec()
        };
        if names.is_empty() {
            return vec![self.answer(kind, None)];
        }
        names
            .iter()
            .map(|name| {
                let set = if pattern {
                    &mut self.patterns
                } else {
                    &mut self.channels
                };
                set.remove(name);
                self.answer(kind, Some(name))
            })
            .collect()
    }

    /// The messages `event` becomes for this connection: `message` if it
    /// subscribes to the event's channel, then one `pmessage` per matching
    /// pattern, as Redis delivers them.
    pub fn messages(&self, event: &Event) -> Vec<Reply> {
        let channel = event.channel.as_bytes();
        let mut out = Vec::new();
        if self.channels.contains(channel) {
            out.push(Reply::Push(vec![
                Reply::bulk("message"),
                Reply::bulk(channel),
                Reply::bulk(&event.message),
            ]));
        }
        for pattern in self.patterns.iter().filter(|p| glob_match(p, channel)) {
            out.push(Reply::Push(vec![
                Reply::bulk("pmessage"),
                Reply::bulk(pattern),
                Reply::bulk(channel),
                Reply::bulk(&event.message),
            ]));
        }
        out
    }
}

/// One element of a pattern.
enum Token<'a> {
    /// `*`: any run of bytes.
    Star,
    /// `?`: any one byte.
    Any,
    /// A byte.
    Byte(u8),
    /// `[...]`, its inside (without the brackets) and whether it is
    /// negated (`[^...]`).
    Class(&'a [u8], bool),
}

/// The token at `p` in `pattern` and the position after it.
fn token(pattern: &[u8], p: usize) -> (Token<'_>, usize) {
    match pattern[p] {
        b'*' => (Token::Star, p + 1),
        b'?' => (Token::Any, p + 1),
        b'\\' if p + 1 < pattern.len() => (Token::Byte(pattern[p + 1]), p + 2),
        b'[' => {
            let mut q = p + 1;
            let negated = pattern.get(q) == Some(&b'^');
            if negated {
                q += 1;
            }
            let start = q;
            // The class ends at the first `]` not escaped; an unclosed
            // class takes the rest of the pattern, as in Redis.
            while q < pattern.len() && pattern[q] != b']' {
                q += if pattern[q] == b'\\' && q + 1 < pattern.len() {
                    2
                } else {
                    1
                };
            }
            let end = q.min(pattern.len());
            (Token::Class(&pattern[start..end], negated), (q + 1).min(pattern.len()))
        }
        b => (Token::Byte(b), p + 1),
    }
}

/// Whether `c` is in the class `inside` (Redis's rules: `\x` is `x`,
/// `a-z` a range in either order).
fn in_class(inside: &[u8], c: u8) -> bool {
    let mut i = 0;
    while i < inside.len() {
        if inside[i] == b'\\' && i + 1 < inside.len() {
            if inside[i + 1] == c {
                return true;
            }
            i += 2;
        } else if i + 2 < inside.len() && inside[i + 1] == b'-' {
            let (a, b) = (inside[i], inside[i + 2]);
            let (low, high) = if a <= b { (a, b) } else { (b, a) };
            if (low..=high).contains(&c) {
                return true;
            }
            i += 3;
        } else {
            if inside[i] == c {
                return true;
            }
            i += 1;
        }
    }
    false
}

/// Redis's `stringmatchlen` (case-sensitive): `*`, `?`, `[abc]`, `[^a]`,
/// `[a-z]`, `\` escaping the next byte; an empty string matches only the
/// empty pattern, as in Redis. Matched without recursion (one
/// backtracking point for the latest `*`), which gives Redis's answers for
/// every pattern whose classes are closed and whose ranges are written
/// whole (Redis reads `[a-]` as a range up to `]` and on past it).
pub fn glob_match(pattern: &[u8], string: &[u8]) -> bool {
    if string.is_empty() {
        return pattern.is_empty();
    }
    let (mut p, mut s) = (0, 0);
    // Where to resume after the latest `*`: the pattern after it, and the
    // next position of the string it may swallow up to.
    let mut resume: Option<(usize, usize)> = None;
    loop {
        if p < pattern.len() {
            let (tok, next) = token(pattern, p);
            let step = match tok {
                Token::Star => {
                    resume = Some((next, s));
                    p = next;
                    continue;
                }
                Token::Any => s < string.len(),
                Token::Byte(b) => string.get(s) == Some(&b),
                Token::Class(inside, negated) => string.get(s).is_some_and(|c| in_class(inside, *c) != negated),
            };
            if step {
                p = next;
                s += 1;
                continue;
            }
        } else if s == string.len() {
            return true;
        }
        match resume {
            Some((after_star, from)) if from < string.len() => {
                resume = Some((after_star, from + 1));
                p = after_star;
                s = from + 1;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, string: &str) -> bool {
        glob_match(pattern.as_bytes(), string.as_bytes())
    }

    #[test]
    fn subscriptions_are_bounded_per_connection() {
        let mut s = Subscriptions::default();
        let names = |from: usize, n: usize| -> Vec<Vec<u8>> {
            (from..from + n).map(|i| format!("c{i}").into_bytes()).collect()
        };
        assert_eq!(s.subscribe(&names(0, 1000), false).len(), 1000);
        // Again the same: nothing new, all answered.
        assert_eq!(s.subscribe(&names(0, 1000), false).len(), 1000);
        let refused = s.subscribe(&names(1000, 30), true);
        assert_eq!(refused.len(), 1);
        assert!(matches!(&refused[0], Reply::Error(e) if e.starts_with(b"ERR too many subscriptions")));
        assert_eq!(s.count(), 1000, "a refused request changes nothing");
        assert_eq!(s.subscribe(&names(1000, 24), true).len(), 24);
        assert_eq!(s.count(), MAX_SUBSCRIPTIONS);
        // Long names: bounded by their bytes too.
        let mut s = Subscriptions::default();
        let long = |c: u8| vec![vec![c; 40 * 1024]];
        assert_eq!(s.subscribe(&long(b'a'), true).len(), 1);
        assert!(matches!(&s.subscribe(&long(b'b'), false)[..], [Reply::Error(_)]));
        assert_eq!(s.count(), 1);
    }

    #[test]
    fn globs_match_as_redis_matches_them() {
        assert!(m("*", "+switch-master"));
        assert!(!m("*", ""), "Redis matches nothing against an empty string");
        assert!(m("+s*", "+sdown"));
        assert!(m("+s*", "+switch-master"));
        assert!(!m("+s*", "-sdown"));
        assert!(m("?sdown", "-sdown"));
        assert!(!m("?sdown", "sdown"));
        assert!(m("[+-]sdown", "-sdown"));
        assert!(!m("[^+-]sdown", "-sdown"));
        assert!(m("[^+]sdown", "-sdown"));
        assert!(m("+[a-z]down", "+sdown"));
        assert!(m("+[z-a]down", "+sdown"), "a reversed range is a range");
        assert!(!m("+[A-Z]down", "+sdown"), "case-sensitive");
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "x"));
        assert!(m("a\\", "a\\"), "a trailing backslash is itself");
        assert!(m("[\\]]", "]"));
        assert!(m("*-master", "+switch-master"));
        assert!(m("*o*n", "+sdown"));
        assert!(!m("*o*x", "+sdown"));
        assert!(m("a*b*c", "aXbYbZc"));
        assert!(!m("a*b*c", "aXbYbZ"));
        assert!(m("**", "x"));
        assert!(m("x[ab", "xa"), "an unclosed class takes the rest");
        assert!(!m("", "x"));
        assert!(m("", ""));
    }

    fn event(channel: &str) -> Event {
        Event {
            channel: channel.into(),
            message: "m".into(),
        }
    }

    #[test]
    fn an_event_is_a_message_for_its_channel_and_a_pmessage_per_pattern() {
        let mut s = Subscriptions::default();
        let replies = s.subscribe(&[b"+sdown".to_vec()], false);
        assert_eq!(
            replies[0].to_bytes(false),
            b"*3\r\n$9\r\nsubscribe\r\n$6\r\n+sdown\r\n:1\r\n"
        );
        s.subscribe(&[b"*".to_vec(), b"+s*".to_vec()], true);
        let out: Vec<Vec<u8>> = s.messages(&event("+sdown")).iter().map(|r| r.to_bytes(true)).collect();
        assert_eq!(
            out,
            [
                b">3\r\n$7\r\nmessage\r\n$6\r\n+sdown\r\n$1\r\nm\r\n".to_vec(),
                b">4\r\n$8\r\npmessage\r\n$1\r\n*\r\n$6\r\n+sdown\r\n$1\r\nm\r\n".to_vec(),
                b">4\r\n$8\r\npmessage\r\n$3\r\n+s*\r\n$6\r\n+sdown\r\n$1\r\nm\r\n".to_vec(),
            ]
        );
        assert_eq!(s.messages(&event("-odown")).len(), 1);
    }

    #[test]
    fn unsubscribing_counts_down_and_with_nothing_left_names_nothing() {
        let mut s = Subscriptions::default();
        s.subscribe(&[b"b".to_vec(), b"a".to_vec()], false);
        s.subscribe(&[b"*".to_vec()], true);
        let r: Vec<Vec<u8>> = s.unsubscribe(&[], false).iter().map(|r| r.to_bytes(false)).collect();
        assert_eq!(
            r,
            [
                b"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:2\r\n".to_vec(),
                b"*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:1\r\n".to_vec()
            ]
        );
        assert_eq!(
            s.unsubscribe(&[], false)[0].to_bytes(false),
            b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:1\r\n"
        );
        assert_eq!(
            s.unsubscribe(&[b"x".to_vec()], true)[0].to_bytes(true),
            b">3\r\n$12\r\npunsubscribe\r\n$1\r\nx\r\n:1\r\n"
        );
        s.unsubscribe(&[], true);
        assert!(!s.active());
        assert_eq!(
            s.unsubscribe(&[], true)[0].to_bytes(true),
            b">3\r\n$12\r\npunsubscribe\r\n_\r\n:0\r\n"
        );
    }
}
