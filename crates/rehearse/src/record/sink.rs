//! Where a tape's records go: a compact in-memory buffer rendered as RON
//! when read, or a background thread writing the scenario file; and the
//! rendering of encoded calls and marks into lines.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::thread::JoinHandle;

use super::encode::names::Names;
use super::encode::{Buf, Cursor, Encoded, NOT_A_CALL, PutSmall as _, Store as _, record};
use crate::format::{Header, MarkKind, MarkText, write_call_head, write_mark_line};
use crate::ron::WriteError;

pub(super) enum Sink {
    Memory {
        header: Box<Header>,
        /// Every call, in the compact form of [`super::encode`]: one
        /// buffer, so that recording a call allocates nothing once it has
        /// grown, and RON is only written when the tape is read. Marks and
        /// lane changes are records of kind [`NOT_A_CALL`] among them; a
        /// call's kind is the index of its name + 1.
        calls: Buf,
        /// The virtual time of the last call, written only when it changes.
        last_at: Option<u64>,
        /// Calls of worlds that keep values, not yet encoded into `calls`.
        kept: super::kept::KeptCalls,
    },
    File {
        tx: SyncSender<Msg>,
        writer: Option<JoinHandle<Result<(), String>>>,
    },
}

pub(super) enum Msg {
    Encoded {
        index: usize,
        at: Option<u64>,
        call: &'static str,
        values: Buf,
    },
    /// The lane of the following records.
    Lane(Option<Arc<str>>),
    /// A fault or note.
    Mark {
        at: Option<u64>,
        kind: MarkKind,
    },
    Flush(mpsc::Sender<Result<(), String>>),
    Finish,
}

pub(super) fn write_loop(file: File, header: &str, rx: &Receiver<Msg>) -> Result<(), String> {
    let mut out = BufWriter::with_capacity(64 * 1024, file);
    // The first error is kept and reported; later lines are drained so that
    // callers never block on a dead writer.
    let mut error: Option<String> = None;
    let note = |r: std::io::Result<()>, error: &mut Option<String>| {
        if let Err(e) = r {
            error.get_or_insert_with(|| e.to_string());
        }
    };
    note(writeln!(out, "{header}"), &mut error);
    let mut line = String::new();
    let mut node: Option<Arc<str>> = None;
    let names = Names::default();
    loop {
        let msg = match rx.try_recv() {
            Ok(m) => m,
            Err(TryRecvError::Empty) => {
                // Idle: hand everything to the OS before waiting, so a
                // killed process loses only what was still in flight.
                note(out.flush(), &mut error);
                match rx.recv() {
                    Ok(m) => m,
                    Err(_) => break,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        match msg {
            Msg::Encoded {
                index,
                at,
                call,
                values,
            } => {
                if error.is_none() {
                    line.clear();
                    let values = Cursor::new(values.bytes.as_slice(), &names);
                    if render_encoded(&mut line, index, at, node.as_deref(), call, &values).is_err() {
                        line.push_str("\"<corrupt tape record: a rehearse bug>\"");
                    }
                    line.push('\n');
                    note(out.write_all(line.as_bytes()), &mut error);
                }
            }
            Msg::Lane(lane) => node = lane,
            Msg::Mark { at, kind } => {
                if error.is_none() {
                    line.clear();
                    write_mark_line(&mut line, at, node.as_deref(), kind.as_text());
                    line.push('\n');
                    note(out.write_all(line.as_bytes()), &mut error);
                }
            }
            Msg::Flush(reply) => {
                note(out.flush(), &mut error);
                let _ = reply.send(error.clone().map_or(Ok(()), Err));
            }
            Msg::Finish => break,
        }
    }
    note(out.flush(), &mut error);
    error.map_or(Ok(()), Err)
}

/// Writes a call's virtual time: none, the same as the last call's, or a
/// new one (a fixed 8 bytes: varints of times cost a mispredicted branch
/// per call).
#[inline]
pub(super) fn put_at(calls: &mut Buf, at: Option<u64>, last_at: &mut Option<u64>) {
    match at {
        None => calls.byte(super::encode::AT_NONE),
        Some(_) if at == *last_at => calls.byte(super::encode::AT_SAME),
        Some(t) => {
            calls.time(t);
            *last_at = at;
        }
    }
}

/// The start of a call's record: its kind (the index of its name + 1)
/// and its virtual time (see [`put_at`]), in one store.
#[inline(always)]
pub(super) fn put_call_head(calls: &mut Buf, name: u32, at: Option<u64>, last_at: &mut Option<u64>) {
    put_lane_and_call_head(calls, None, name, at, last_at);
}

/// [`put_call_head`] after a lane change to `lane` when it is `Some`:
/// the same bytes as [`put_lane`] then [`put_call_head`], in one store
/// when both are small (a network simulation changes lanes at nearly
/// every call).
#[inline(always)]
pub(super) fn put_lane_and_call_head(
    calls: &mut Buf,
    lane: Option<u32>,
    name: u32,
    at: Option<u64>,
    last_at: &mut Option<u64>,
) {
    let kind = u64::from(name) + 1;
    let (lane_packed, lane_used) = match lane {
        None => (0, 0),
        Some(lane) if lane < 0x80 => (
            u128::from(NOT_A_CALL) | u128::from(record::LANE) << 8 | u128::from(lane) << 16,
            3,
        ),
        Some(lane) => {
            put_lane(calls, lane);
            (0, 0)
        }
    };
    if kind >= 0x80 {
        if lane_used > 0 {
            calls.bytes.put_small(lane_packed, lane_used);
        }
        calls.varint(kind);
        put_at(calls, at, last_at);
        return;
    }
    let (tag, time, used) = match at {
        None => (super::encode::AT_NONE, 0, 2),
        Some(_) if at == *last_at => (super::encode::AT_SAME, 0, 2),
        Some(t) => {
            *last_at = at;
            (super::encode::AT_NEW, t, 10)
        }
    };
    let head = u128::from(kind) | u128::from(tag) << 8 | u128::from(time) << 16;
    // At most 3 + 10 bytes: both fit in one 16-byte store.
    calls
        .bytes
        .put_small(lane_packed | head << (8 * lane_used), lane_used + used);
}

/// One call line from its encoded values: the inputs (each a value or a
/// redaction mark, then an end mark), then the output.
fn render_encoded(
    s: &mut String,
    index: usize,
    at: Option<u64>,
    node: Option<&str>,
    call: &str,
    values: &Cursor<'_>,
) -> Result<(), WriteError> {
    write_call_head(s, index, at, node, call);
    let mut first = true;
    while !values.arguments_end() {
        if !first {
            s.push_str(", ");
        }
        first = false;
        if values.redacted() {
            crate::ron::write_str(s, crate::__private::REDACTED);
        } else {
            crate::ron::to_ron_into(s, &Encoded(values))?;
        }
    }
    s.push_str("), out: ");
    crate::ron::to_ron_into(s, &Encoded(values))?;
    s.push(')');
    Ok(())
}

/// Every record of a memory tape, one line each (lane changes only set
/// the `node` of the lines after them).
pub(super) fn render_memory(s: &mut String, calls: &Buf, nodes: &[Arc<str>]) {
    let names = Names::default();
    let c = Cursor::new(calls.bytes.as_slice(), &names);
    let mut at = RenderState {
        index: 0,
        last_at: None,
        node: None,
    };
    while !c.at_end() {
        match render_record(s, &c, nodes, &mut at) {
            Ok(false) => {}
            Ok(true) => s.push('\n'),
            Err(_) => {
                // Only a bug in rehearse gets here: stop rather than misread.
                s.push_str("\n\"<corrupt tape: a rehearse bug>\"\n");
                return;
            }
        }
    }
}

/// Where the rendering of a memory tape is: the next call's index, the
/// last time written and the current lane.
struct RenderState<'n> {
    index: usize,
    last_at: Option<u64>,
    node: Option<&'n str>,
}

/// Renders the next record; false when it wrote no line (a lane change).
fn render_record<'n>(
    s: &mut String,
    c: &Cursor<'_>,
    nodes: &'n [Arc<str>],
    at: &mut RenderState<'n>,
) -> Result<bool, WriteError> {
    let corrupt = || <WriteError as serde::ser::Error>::custom("corrupt tape record");
    let kind = c.varint::<WriteError>()?;
    if kind != NOT_A_CALL {
        let time = c.at::<WriteError>(&mut at.last_at)?;
        let call = c.names().get(kind - 1).ok_or_else(corrupt)?;
        render_encoded(s, at.index, time, at.node, call, c)?;
        at.index += 1;
        return Ok(true);
    }
    match c.byte::<WriteError>()? {
        record::LANE => {
            at.node = match c.varint::<WriteError>()? {
                0 => None,
                k => Some(
                    nodes
                        .get(usize::try_from(k - 1).map_err(|_| corrupt())?)
                        .ok_or_else(corrupt)?,
                ),
            };
            Ok(false)
        }
        record::FAULT => {
            let time = c.at::<WriteError>(&mut at.last_at)?;
            let point = c.str::<WriteError>()?;
            let detail = match c.byte::<WriteError>()? {
                0 => None,
                1 => Some(c.str::<WriteError>()?),
                _ => return Err(corrupt()),
            };
            write_mark_line(s, time, at.node, MarkText::Fault { point, detail });
            Ok(true)
        }
        record::NOTE => {
            let time = c.at::<WriteError>(&mut at.last_at)?;
            write_mark_line(s, time, at.node, MarkText::Note(c.str::<WriteError>()?));
            Ok(true)
        }
        _ => Err(corrupt()),
    }
}

/// Appends a mark to a memory tape's buffer (see [`record`]).
pub(super) fn put_mark(calls: &mut Buf, at: Option<u64>, last_at: &mut Option<u64>, mark: MarkText<'_>) {
    calls.varint(NOT_A_CALL);
    match mark {
        MarkText::Fault { point, detail } => {
            calls.byte(record::FAULT);
            put_at(calls, at, last_at);
            calls.str(point);
            match detail {
                None => calls.byte(0),
                Some(d) => {
                    calls.byte(1);
                    calls.str(d);
                }
            }
        }
        MarkText::Note(text) => {
            calls.byte(record::NOTE);
            put_at(calls, at, last_at);
            calls.str(text);
        }
    }
}

/// A fault mark with a detail, but for the detail's string, which the
/// caller keeps to write later ([`super::kept::KeptText`]): these bytes,
/// then the string, are those of [`put_mark`].
pub(super) fn put_fault_head(calls: &mut Buf, at: Option<u64>, last_at: &mut Option<u64>, point: &str) {
    calls.varint(NOT_A_CALL);
    calls.byte(record::FAULT);
    put_at(calls, at, last_at);
    calls.str(point);
    calls.byte(1);
}

/// Appends a lane change to a memory tape's buffer: 0 for none, else the
/// node name's index + 1.
pub(super) fn put_lane(calls: &mut Buf, lane: u32) {
    if lane < 0x80 {
        let packed = u128::from(NOT_A_CALL) | u128::from(record::LANE) << 8 | u128::from(lane) << 16;
        calls.bytes.put_small(packed, 3);
    } else {
        calls.varint(NOT_A_CALL);
        calls.byte(record::LANE);
        calls.varint(u64::from(lane));
    }
}

thread_local! {
    /// Buffers of memory tapes dropped on this thread, for the next ones:
    /// a sweep makes new tapes for every seed, and growing a fresh buffer
    /// each time (copies, page faults) cost as much as recording into it.
    static SPARE: std::cell::RefCell<Vec<Buf>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Spare buffers kept per thread, and the largest one kept: memory stays
/// flat however many tapes come and go.
const SPARE_BUFFERS: usize = 8;
const SPARE_MAX_BYTES: usize = 64 << 20;

pub(super) fn spare_buffer() -> Buf {
    SPARE.with(|s| s.borrow_mut().pop()).unwrap_or_default()
}

pub(super) fn keep_spare(mut buf: Buf) {
    if buf.bytes.capacity() <= SPARE_MAX_BYTES {
        buf.clear();
        // `try_with`: a tape dropped while the thread shuts down just frees.
        let _ = SPARE.try_with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < SPARE_BUFFERS {
                s.push(buf);
            }
        });
    }
}
