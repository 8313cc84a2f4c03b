//! The replicated log's node: a small Raft (terms, votes, leader election,
//! log replication, commit by majority) as a sans-IO [`Node`].
//!
//! The node does no I/O and reads no clock: it is told [`Event`]s and
//! answers with [`Output`]s. Its durable state lives in two files it writes
//! with `Output::Put` and `Output::Append`, and a write is durable only
//! after `Output::Sync`:
//!
//! - `meta`: one line `"<term> <vote> <crc>\n"` appended (and synced)
//!   before the node acts on a new term or a vote; the last intact line
//!   holds;
//! - `log`: one line `"<index> <term> <value> <crc>\n"` per entry written;
//!   a line for an index the file already has replaces that entry and drops
//!   the ones after it (a leader overwrote them).
//!
//! `<crc>` is the CRC-32 of the line's fields, in hex. A crash may tear the
//! last write or garble a byte of it (`disk::torn`, `disk::corrupt`): a
//! line without its `\n`, or whose CRC does not match, was never durable
//! and is read as never written. Both files are only appended to, so a
//! torn write never takes a synced line with it.
//!
//! Log writes are flushed in groups (group commit): the first write after a
//! flush sets the `FLUSH` timer, and one `Sync` covers every write made
//! until it fires. A follower acknowledges entries only once they are
//! synced, and a leader counts itself toward a majority the same way.
//! With `bug` set, a follower acknowledges entries as soon as it has
//! written them, before the flush: see [`Replica::acknowledge`].

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use rehearse::net::{Event, Files, Node, NodeId, Output};
use serde::{Deserialize, Serialize};

/// How often a leader sends appends (heartbeats) to every peer, µs.
pub(crate) const HEARTBEAT_US: u64 = 50_000;
/// Election timeouts lie in `ELECTION_US..2 * ELECTION_US`.
pub(crate) const ELECTION_US: u64 = 150_000;
/// The group-commit window: a write is synced at most this long after it
/// is made, µs.
pub(crate) const FLUSH_US: u64 = 10_000;
/// Most entries in one append message.
const BATCH: usize = 64;

const ELECTION: u64 = 1;
const HEARTBEAT: u64 = 2;
const FLUSH: u64 = 3;

/// One log entry: the term it was created in and the client's value (0 for
/// the no-op a new leader appends).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// The term of the leader that created it.
    pub(crate) term: u64,
    /// The client's value; 0 for a leader's no-op.
    pub(crate) value: u64,
}

/// Everything nodes and clients say, in one type (the network carries one
/// message type).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Msg {
    /// Client request: append `value` to the log.
    Put(u64),
    /// Reply: the value is committed at `index`.
    Committed {
        /// Its log index.
        index: u64,
    },
    /// Reply: ask the leader instead (when known).
    NotLeader {
        /// The leader this node follows, if any.
        leader: Option<NodeId>,
    },
    /// A candidate asks for a vote.
    RequestVote {
        /// The candidate's term.
        term: u64,
        /// Index of its last entry.
        last_index: u64,
        /// Term of its last entry.
        last_term: u64,
    },
    /// The answer to `RequestVote`.
    Vote {
        /// The voter's term.
        term: u64,
        /// Whether the vote is the candidate's.
        granted: bool,
    },
    /// A leader's entries (none for a heartbeat) after `prev_index`.
    Append {
        /// The leader's term.
        term: u64,
        /// Index of the entry before `entries`.
        prev_index: u64,
        /// Its term (0 for index 0).
        prev_term: u64,
        /// The entries.
        entries: Vec<Entry>,
        /// The leader's commit index.
        commit: u64,
    },
    /// The answer to `Append`.
    Appended {
        /// The follower's term.
        term: u64,
        /// Whether the entries were accepted.
        ok: bool,
        /// Accepted: the follower's log matches the leader's up to here.
        /// Refused: the follower's log length (where to retry from).
        index: u64,
    },
}

impl Msg {
    /// The sender's term, for messages between nodes.
    fn term(&self) -> Option<u64> {
        match self {
            Self::RequestVote { term, .. }
            | Self::Vote { term, .. }
            | Self::Append { term, .. }
            | Self::Appended { term, .. } => Some(*term),
            Self::Put(_) | Self::Committed { .. } | Self::NotLeader { .. } => None,
        }
    }
}

/// A node's role in its current term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Role {
    /// Follows the leader of its term (if it heard from one).
    Follower,
    /// Asks for votes; those granted so far.
    Candidate {
        /// Voters, itself included.
        votes: BTreeSet<NodeId>,
    },
    /// Leads its term.
    Leader {
        /// Per node: the next index to send.
        next: Vec<u64>,
        /// Per node: the highest index known replicated there.
        matched: Vec<u64>,
    },
}

/// One node of the replicated log.
#[derive(Debug)]
pub(crate) struct Replica {
    me: NodeId,
    size: u32,
    bug: bool,
    /// Durable: the current term.
    pub(crate) term: u64,
    /// Durable: whom this node voted for in `term`.
    pub(crate) voted_for: Option<NodeId>,
    /// Durable once synced: the log; index `i` is `log[i - 1]`.
    pub(crate) log: Vec<Entry>,
    /// The role in `term`.
    pub(crate) role: Role,
    /// Entries up to here are committed.
    pub(crate) commit: u64,
    /// Times an entry was removed from the log (a leader overwrote it).
    pub(crate) truncations: u64,
    /// Entries up to here are synced.
    synced: u64,
    /// The leader of `term`, once heard from.
    leader: Option<NodeId>,
    /// The `FLUSH` timer is set.
    flushing: bool,
    /// Acknowledgements waiting for the flush: (leader, index).
    acks: Vec<(NodeId, u64)>,
    /// A leader's client requests waiting for their entry to commit: index
    /// to request id.
    waiting: BTreeMap<u64, u64>,
    now_us: u64,
    out: VecDeque<Output<Msg>>,
}

impl Replica {
    /// Node `me` of `size`; `bug` acknowledges entries before syncing them.
    pub(crate) fn new(me: NodeId, size: u32, bug: bool) -> Self {
        Self {
            me,
            size,
            bug,
            term: 0,
            voted_for: None,
            log: Vec::new(),
            role: Role::Follower,
            commit: 0,
            truncations: 0,
            synced: 0,
            leader: None,
            flushing: false,
            acks: Vec::new(),
            waiting: BTreeMap::new(),
            now_us: 0,
            out: VecDeque::new(),
        }
    }

    /// Whether this node leads its term.
    pub(crate) fn is_leader(&self) -> bool {
        matches!(self.role, Role::Leader { .. })
    }

    /// Entries up to here are synced (the rest is lost if it crashes).
    pub(crate) fn synced(&self) -> u64 {
        self.synced
    }

    fn last_index(&self) -> u64 {
        self.log.len() as u64
    }

    fn term_at(&self, index: u64) -> u64 {
        match index {
            0 => 0,
            i => self.log.get(i as usize - 1).map_or(0, |e| e.term),
        }
    }

    fn majority(&self) -> usize {
        self.size as usize / 2 + 1
    }

    fn peers(&self) -> impl Iterator<Item = NodeId> + use<> {
        let me = self.me;
        (0..self.size).filter(move |&p| p != me)
    }

    fn send(&mut self, to: NodeId, msg: Msg) {
        self.out.push_back(Output::Send { to, msg });
    }

    // ------------------------------------------------------------ disk

    /// Rebuilds the durable state from what the disk kept.
    fn recover(&mut self, files: &Files) {
        let meta = files.get("meta").map_or(&[][..], Vec::as_slice);
        if let Some((term, vote)) = decode_meta(meta) {
            self.term = term;
            self.voted_for = vote;
        }
        let log = files.get("log").map_or(&[][..], Vec::as_slice);
        self.log = decode_log(log);
        self.synced = self.last_index();
        for (file, bytes) in [("meta", meta), ("log", log)] {
            if !bytes.is_empty() && !bytes.ends_with(b"\n") {
                // A torn last line: end it, or the next line would be
                // glued to it and fail its CRC too. Cutting it off with a
                // `Put` instead would rewrite the file, and a crash could
                // tear that write, losing synced lines.
                self.out.push_back(Output::Append {
                    file: file.into(),
                    bytes: b"\n".to_vec(),
                });
                self.out.push_back(Output::Sync);
            }
        }
    }

    /// Writes the term and vote and syncs them: the node acts on them
    /// only after this.
    fn save_meta(&mut self) {
        let vote = self.voted_for.map_or("-".to_string(), |v| v.to_string());
        self.out.push_back(Output::Append {
            file: "meta".into(),
            bytes: encode_line(&format!("{} {vote}", self.term)),
        });
        self.sync();
    }

    /// Writes entry `index` (not durable until the flush).
    fn write_entry(&mut self, index: u64) {
        let e = self.log[index as usize - 1];
        self.out.push_back(Output::Append {
            file: "log".into(),
            bytes: encode_line(&format!("{index} {} {}", e.term, e.value)),
        });
        if !self.flushing {
            self.flushing = true;
            self.out.push_back(Output::SetTimer {
                id: FLUSH,
                after_us: FLUSH_US,
            });
        }
    }

    /// Makes every write durable, then sends the acknowledgements that
    /// waited for it.
    fn sync(&mut self) {
        self.out.push_back(Output::Sync);
        self.synced = self.last_index();
        for (leader, index) in std::mem::take(&mut self.acks) {
            let term = self.term;
            self.send(leader, Msg::Appended { term, ok: true, index });
        }
        if self.is_leader() {
            self.advance_commit();
        }
    }

    /// The `FLUSH` timer: one sync for the writes of the window.
    fn flush(&mut self) {
        self.flushing = false;
        if self.synced < self.last_index() || !self.acks.is_empty() {
            self.sync();
        }
    }

    // ------------------------------------------------------------ timers

    /// An election timeout in `ELECTION_US..2 * ELECTION_US`. The node
    /// draws no randomness of its own: the timeout is a hash of its id, its
    /// term and the virtual time it was told, which all come from the world,
    /// so a replay computes the same one, and it differs between nodes and
    /// between runs (the times differ because latencies are drawn).
    fn election_timeout(&self) -> u64 {
        let h = mix(u64::from(self.me) ^ mix(self.term ^ mix(self.now_us)));
        ELECTION_US + h % ELECTION_US
    }

    fn reset_election_timer(&mut self) {
        let after_us = self.election_timeout();
        self.out.push_back(Output::SetTimer { id: ELECTION, after_us });
    }

    // ------------------------------------------------------------ roles

    /// Moves to a newer term, as a follower without a vote.
    fn observe_term(&mut self, term: u64) {
        if term <= self.term {
            return;
        }
        let was_leader = self.is_leader();
        self.term = term;
        self.voted_for = None;
        self.role = Role::Follower;
        self.leader = None;
        // Acknowledgements and client requests of the old term are void.
        self.acks.clear();
        self.waiting.clear();
        self.save_meta();
        if was_leader {
            self.out.push_back(Output::CancelTimer { id: HEARTBEAT });
            self.reset_election_timer();
        }
    }

    fn campaign(&mut self) {
        self.term += 1;
        self.voted_for = Some(self.me);
        self.role = Role::Candidate {
            votes: BTreeSet::from([self.me]),
        };
        self.leader = None;
        self.acks.clear();
        self.waiting.clear();
        self.save_meta();
        let (term, last_index, last_term) = (self.term, self.last_index(), self.term_at(self.last_index()));
        for p in self.peers() {
            self.send(
                p,
                Msg::RequestVote {
                    term,
                    last_index,
                    last_term,
                },
            );
        }
        self.reset_election_timer();
        self.count_votes();
    }

    fn count_votes(&mut self) {
        let won = matches!(&self.role, Role::Candidate { votes } if votes.len() >= self.majority());
        if !won {
            return;
        }
        let n = self.size as usize;
        self.role = Role::Leader {
            next: vec![self.last_index() + 1; n],
            matched: vec![0; n],
        };
        self.leader = Some(self.me);
        self.out.push_back(Output::CancelTimer { id: ELECTION });
        // A no-op of the new term: committing it commits what came before.
        self.log.push(Entry {
            term: self.term,
            value: 0,
        });
        self.write_entry(self.last_index());
        self.heartbeat();
    }

    fn heartbeat(&mut self) {
        for p in self.peers() {
            self.send_append(p);
        }
        self.out.push_back(Output::SetTimer {
            id: HEARTBEAT,
            after_us: HEARTBEAT_US,
        });
    }

    fn send_append(&mut self, to: NodeId) {
        let Role::Leader { next, .. } = &self.role else {
            return;
        };
        let next = next[to as usize];
        let prev_index = next - 1;
        let end = self.log.len().min(prev_index as usize + BATCH);
        let msg = Msg::Append {
            term: self.term,
            prev_index,
            prev_term: self.term_at(prev_index),
            entries: self.log[prev_index as usize..end].to_vec(),
            commit: self.commit,
        };
        self.send(to, msg);
    }

    /// A leader commits the highest entry of its own term that a majority
    /// holds durably (itself included once synced), and answers the
    /// clients waiting for it.
    fn advance_commit(&mut self) {
        let Role::Leader { matched, .. } = &self.role else {
            return;
        };
        let mut commit = self.commit;
        for index in (self.commit + 1..=self.last_index()).rev() {
            if self.term_at(index) != self.term {
                break;
            }
            let holders =
                usize::from(self.synced >= index) + self.peers().filter(|&p| matched[p as usize] >= index).count();
            if holders >= self.majority() {
                commit = index;
                break;
            }
        }
        self.commit = commit;
        while let Some(entry) = self.waiting.first_entry() {
            if *entry.key() > self.commit {
                break;
            }
            let (index, id) = entry.remove_entry();
            self.out.push_back(Output::Reply {
                id,
                msg: Msg::Committed { index },
            });
        }
    }

    // ------------------------------------------------------------ messages

    fn receive(&mut self, from: NodeId, msg: Msg) {
        if let Some(term) = msg.term() {
            self.observe_term(term);
        }
        match msg {
            Msg::RequestVote {
                term,
                last_index,
                last_term,
            } => {
                let up_to_date = (last_term, last_index) >= (self.term_at(self.last_index()), self.last_index());
                let granted =
                    term == self.term && self.voted_for.is_none_or(|v| v == from) && up_to_date && !self.is_leader();
                if granted {
                    self.voted_for = Some(from);
                    self.save_meta();
                    self.reset_election_timer();
                }
                let term = self.term;
                self.send(from, Msg::Vote { term, granted });
            }
            Msg::Vote { term, granted } => {
                if let Role::Candidate { votes } = &mut self.role {
                    if granted && term == self.term {
                        votes.insert(from);
                        self.count_votes();
                    }
                }
            }
            Msg::Append {
                term,
                prev_index,
                prev_term,
                entries,
                commit,
            } => self.append(from, term, prev_index, prev_term, entries, commit),
            Msg::Appended { term, ok, index } => self.appended(from, term, ok, index),
            Msg::Put(_) | Msg::Committed { .. } | Msg::NotLeader { .. } => {}
        }
    }

    fn append(&mut self, from: NodeId, term: u64, prev_index: u64, prev_term: u64, entries: Vec<Entry>, commit: u64) {
        if term < self.term || self.is_leader() {
            let (term, index) = (self.term, self.last_index());
            self.send(from, Msg::Appended { term, ok: false, index });
            return;
        }
        self.role = Role::Follower;
        self.leader = Some(from);
        self.reset_election_timer();
        if prev_index > self.last_index() || self.term_at(prev_index) != prev_term {
            let (term, index) = (self.term, self.last_index().min(prev_index.saturating_sub(1)));
            self.send(from, Msg::Appended { term, ok: false, index });
            return;
        }
        let matched = prev_index + entries.len() as u64;
        for (index, entry) in (prev_index + 1..).zip(entries) {
            if index <= self.last_index() {
                if self.term_at(index) == entry.term {
                    continue;
                }
                // A conflicting entry: it and all after it go.
                self.log.truncate(index as usize - 1);
                self.synced = self.synced.min(index - 1);
                self.truncations += 1;
                self.acks.clear();
            }
            self.log.push(entry);
            self.write_entry(index);
        }
        self.commit = self.commit.max(commit.min(matched));
        self.acknowledge(from, matched);
    }

    /// Tells the leader that this log matches its own up to `index`.
    ///
    /// The leader counts the acknowledgement toward a majority, so the
    /// entries must survive a crash: the acknowledgement waits for the
    /// flush. With `bug`, it does not wait when the entries are written
    /// (in the page cache, as a `write(2)` that returned): a crash before
    /// the flush loses them, and the leader has counted them anyway.
    fn acknowledge(&mut self, leader: NodeId, index: u64) {
        if self.synced >= index || self.bug {
            let term = self.term;
            self.send(leader, Msg::Appended { term, ok: true, index });
        } else {
            self.acks.push((leader, index));
        }
    }

    fn appended(&mut self, from: NodeId, term: u64, ok: bool, index: u64) {
        if term != self.term {
            return;
        }
        let last = self.last_index();
        let Role::Leader { next, matched } = &mut self.role else {
            return;
        };
        let p = from as usize;
        if ok {
            matched[p] = matched[p].max(index);
            next[p] = next[p].max(index + 1);
            let behind = next[p] <= last;
            self.advance_commit();
            if behind {
                self.send_append(from);
            }
        } else {
            // The follower's log ends at `index`. Below what it acknowledged,
            // it lost entries (a disk that broke its word): believe it, and
            // start again from what it has.
            matched[p] = matched[p].min(index);
            // Retry at once only when `next` moved back (else the next
            // heartbeat retries: no storm of refusals).
            let back = (next[p] - 1).min(index + 1).max(matched[p] + 1).max(1);
            if back < next[p] {
                next[p] = back;
                self.send_append(from);
            }
        }
    }

    fn request(&mut self, id: u64, msg: Msg) {
        let Msg::Put(value) = msg else {
            return;
        };
        if !self.is_leader() {
            let leader = self.leader;
            self.out.push_back(Output::Reply {
                id,
                msg: Msg::NotLeader { leader },
            });
            return;
        }
        self.log.push(Entry { term: self.term, value });
        let index = self.last_index();
        self.write_entry(index);
        self.waiting.insert(index, id);
        for p in self.peers() {
            self.send_append(p);
        }
    }
}

impl Node for Replica {
    type Message = Msg;

    fn step(&mut self, now: Duration, event: Event<Msg>) {
        self.now_us = u64::try_from(now.as_micros()).unwrap_or(u64::MAX);
        match event {
            Event::Start { files, .. } => {
                self.recover(&files);
                self.reset_election_timer();
            }
            Event::Timer { id: ELECTION } if !self.is_leader() => self.campaign(),
            Event::Timer { id: HEARTBEAT } if self.is_leader() => self.heartbeat(),
            Event::Timer { id: FLUSH } => self.flush(),
            Event::Message { from, msg } => self.receive(from, msg),
            Event::Request { id, msg } => self.request(id, msg),
            Event::Connected { peer } => self.send_append(peer),
            Event::Timer { .. } | Event::Disconnected { .. } | Event::Crash => {}
        }
    }

    fn poll_next_message(&mut self) -> Option<Output<Msg>> {
        self.out.pop_front()
    }
}

/// SplitMix64's finalizer: a well-spread hash of one `u64` (three lines, so
/// no crate for it).
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `"<fields> <crc>\n"`: a line of `meta` or `log`, with the CRC-32 of
/// its fields.
fn encode_line(fields: &str) -> Vec<u8> {
    format!("{fields} {:08x}\n", crc32fast::hash(fields.as_bytes())).into_bytes()
}

/// The fields of an intact line (with its `\n`); `None` when it is torn or
/// garbled: its CRC does not match.
fn intact(line: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(line.strip_suffix(b"\n")?).ok()?;
    let (fields, crc) = text.rsplit_once(' ')?;
    (u32::from_str_radix(crc, 16).ok()? == crc32fast::hash(fields.as_bytes())).then_some(fields)
}

/// The term and vote of the last intact line `"<term> <vote>"` of `meta`;
/// `None` when it has none (never written).
fn decode_meta(bytes: &[u8]) -> Option<(u64, Option<NodeId>)> {
    bytes
        .split_inclusive(|b| *b == b'\n')
        .filter_map(|line| decode_meta_line(intact(line)?))
        .next_back()
}

/// The fields `"<term> <vote>"` of a `meta` line (`-`: no vote).
fn decode_meta_line(fields: &str) -> Option<(u64, Option<NodeId>)> {
    let (term, vote) = fields.split_once(' ')?;
    let vote = match vote {
        "-" => None,
        v => Some(v.parse().ok()?),
    };
    Some((term.parse().ok()?, vote))
}

/// The log the file describes: each intact line `"<index> <term> <value>"`
/// sets entry `index` and drops those after it; torn and garbled lines
/// were never durable and are skipped. Reading stops at a line that does
/// not follow (an index past the end), which appends in order never leave.
fn decode_log(bytes: &[u8]) -> Vec<Entry> {
    let mut log = Vec::new();
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        let Some(fields) = intact(line) else {
            continue;
        };
        let Some((index, entry)) = decode_entry(fields) else {
            break;
        };
        if index == 0 || index > log.len() as u64 + 1 {
            break;
        }
        log.truncate(index as usize - 1);
        log.push(entry);
    }
    log
}

/// The fields `"<index> <term> <value>"` of a log line.
fn decode_entry(fields: &str) -> Option<(u64, Entry)> {
    let mut fields = fields.split(' ').map(str::parse::<u64>);
    let (Some(Ok(index)), Some(Ok(term)), Some(Ok(value)), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return None;
    };
    Some((index, Entry { term, value }))
}
