//! [`Tape`]: a trace being written, to a file by a background thread or to
//! memory.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::encode::{Buf, Cursor, Encoded, Scratch, Store as _};
use crate::trace::{Header, Trace, TraceError, TraceErrorKind, format_call, format_call_head, format_call_into};

/// Records the file writer may hold in its queue before a caller waits.
///
/// The writer drains far faster than any real world is called, so the bound
/// is only reached when the disk stalls; then callers wait (backpressure)
/// instead of growing memory without limit.
pub const QUEUE_CAPACITY: usize = 1 << 16;

const NO_TIME: u64 = u64::MAX;

/// A cloneable handle to a trace being written.
///
/// Every [`Recorder`](crate::Recorder) sharing a tape appends to the same
/// sequence of calls; the index each call gets is its global order.
///
/// - [`Tape::create`]: a scenario file written by a background thread; the
///   caller only formats the record and hands it over, never waiting on the
///   disk. The writer flushes whenever its queue runs empty, so a killed
///   process loses at most the calls in flight.
/// - [`Tape::memory`]: kept in memory, for simulations.
/// - [`Tape::disabled`]: records nothing, and recorders skip serialization.
#[derive(Clone, Default)]
pub struct Tape {
    inner: Option<Arc<Inner>>,
}

impl std::fmt::Debug for Tape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            None => f.write_str("Tape(disabled)"),
            Some(inner) => match &inner.path {
                Some(p) => write!(f, "Tape({})", p.display()),
                None => f.write_str("Tape(memory)"),
            },
        }
    }
}

struct Inner {
    path: Option<PathBuf>,
    at_us: AtomicU64,
    state: Lock,
}

/// The lock around a tape's state. A memory tape's critical section is a
/// copy of a few bytes, and the uncontended `std` mutex (two atomic
/// read-modify-writes) was half of what recording a call cost; a spin lock
/// takes one and releases with a plain store. A thread that finds it taken
/// yields rather than spins, so a holder that was preempted (or is
/// rendering a large tape in `contents`) does not cost a whole time slice.
/// File tapes keep the `std` mutex: their callers may wait on a full writer
/// queue while holding it.
enum Lock {
    Spin(spin::mutex::SpinMutex<State, spin::relax::Yield>),
    Std(Mutex<State>),
}

enum Guard<'a> {
    Spin(spin::mutex::SpinMutexGuard<'a, State, spin::relax::Yield>),
    Std(MutexGuard<'a, State>),
}

impl std::ops::Deref for Guard<'_> {
    type Target = State;
    #[inline]
    fn deref(&self) -> &State {
        match self {
            Guard::Spin(g) => g,
            Guard::Std(g) => g,
        }
    }
}

impl std::ops::DerefMut for Guard<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut State {
        match self {
            Guard::Spin(g) => g,
            Guard::Std(g) => g,
        }
    }
}

#[inline]
fn lock(state: &Lock) -> Guard<'_> {
    match state {
        Lock::Spin(m) => Guard::Spin(m.lock()),
        // Nothing panics while holding the lock, but a poisoned tape must
        // still be writable: recording is most valuable when something went
        // wrong.
        Lock::Std(m) => Guard::Std(m.lock().unwrap_or_else(PoisonError::into_inner)),
    }
}

struct State {
    next_index: usize,
    finished: bool,
    dropped_after_finish: usize,
    sink: Sink,
}

enum Sink {
    Memory {
        header: Header,
        /// Every call, in the compact form of [`crate::encode`]: one
        /// buffer, so that recording a call allocates nothing once it has
        /// grown, and RON is only written when the tape is read.
        calls: Buf,
        /// The call names met so far; a call refers to one by index.
        names: Vec<&'static str>,
        /// The virtual time of the last call, written only when it changes.
        last_at: Option<u64>,
    },
    File {
        tx: SyncSender<Msg>,
        writer: Option<JoinHandle<Result<(), String>>>,
    },
}

enum Msg {
    Line(String),
    Encoded {
        index: usize,
        at: Option<u64>,
        call: &'static str,
        values: Buf,
    },
    Flush(mpsc::Sender<Result<(), String>>),
    Finish,
}

/// Options for a new tape: header fields and queue size.
#[derive(Debug, Clone)]
pub struct TapeOptions {
    header: Header,
    capacity: usize,
}

impl TapeOptions {
    /// Records the seed of a simulated run in the header.
    pub fn seed(mut self, seed: u64) -> Self {
        self.header.seed = Some(seed);
        self
    }

    /// Names a world trait recorded on this tape in the header.
    pub fn world(mut self, name: impl Into<String>) -> Self {
        self.header.worlds.push(name.into());
        self
    }

    /// Adds free-form metadata to the header.
    pub fn meta(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.header.meta.insert(key.into(), value.into());
        self
    }

    /// Sets the writer's queue bound (see [`QUEUE_CAPACITY`]); at least 1.
    pub fn queue_capacity(mut self, records: usize) -> Self {
        self.capacity = records.max(1);
        self
    }

    /// Creates (or truncates) the scenario file and starts its writer thread.
    /// The header records the wall-clock creation time.
    pub fn create(mut self, path: impl AsRef<Path>) -> Result<Tape, TraceError> {
        let path = path.as_ref();
        if self.header.created.is_none() {
            self.header.created = Some(humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string());
        }
        let file = File::create(path).map_err(|e| TraceError::new(Some(path), TraceErrorKind::Io(e)))?;
        let (tx, rx) = mpsc::sync_channel(self.capacity);
        let header = self.header.to_line();
        let writer = std::thread::Builder::new()
            .name("rehearse-tape".into())
            .spawn(move || write_loop(file, &header, &rx))
            .map_err(|e| TraceError::new(Some(path), TraceErrorKind::Io(e)))?;
        Ok(Tape::with_sink(
            Some(path.to_path_buf()),
            Sink::File {
                tx,
                writer: Some(writer),
            },
        ))
    }

    /// An in-memory tape with this header (no creation time, so that equal
    /// runs give equal bytes).
    pub fn memory(self) -> Tape {
        Tape::with_sink(
            None,
            Sink::Memory {
                header: self.header,
                calls: spare_buffer(),
                names: Vec::new(),
                last_at: None,
            },
        )
    }
}

fn write_loop(file: File, header: &str, rx: &Receiver<Msg>) -> Result<(), String> {
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
            Msg::Line(line) => {
                if error.is_none() {
                    note(out.write_all(line.as_bytes()), &mut error);
                    note(out.write_all(b"\n"), &mut error);
                }
            }
            Msg::Encoded {
                index,
                at,
                call,
                values,
            } => {
                if error.is_none() {
                    line.clear();
                    let values = Cursor::new(values.bytes.as_slice(), &values.names);
                    if render_encoded(&mut line, index, at, call, &values).is_err() {
                        line.push_str("\"<corrupt tape record: a rehearse bug>\"");
                    }
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

impl Tape {
    fn with_sink(path: Option<PathBuf>, sink: Sink) -> Self {
        Self {
            inner: Some(Arc::new(Inner {
                path,
                at_us: AtomicU64::new(NO_TIME),
                state: {
                    let memory = matches!(sink, Sink::Memory { .. });
                    let state = State {
                        next_index: 0,
                        finished: false,
                        dropped_after_finish: 0,
                        sink,
                    };
                    if memory {
                        Lock::Spin(spin::mutex::SpinMutex::<_, spin::relax::Yield>::new(state))
                    } else {
                        Lock::Std(Mutex::new(state))
                    }
                },
            })),
        }
    }

    /// Options for a tape with header fields (seed, worlds, metadata).
    pub fn options() -> TapeOptions {
        TapeOptions {
            header: Header::new(),
            capacity: QUEUE_CAPACITY,
        }
    }

    /// A scenario file at `path`, written by a background thread.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, TraceError> {
        Self::options().create(path)
    }

    /// A tape kept in memory.
    pub fn memory() -> Self {
        Self::options().memory()
    }

    /// A tape that records nothing.
    pub fn disabled() -> Self {
        Self { inner: None }
    }

    /// False for [`Tape::disabled`]: recorders then skip serialization.
    #[inline]
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The file being written, if any.
    pub fn path(&self) -> Option<&Path> {
        self.inner.as_ref().and_then(|i| i.path.as_deref())
    }

    /// Sets the virtual time written with each following call (`at_us`);
    /// `None` stops writing it. Simulations call this as their clock moves.
    pub fn set_virtual_time(&self, now: Option<Duration>) {
        if let Some(inner) = &self.inner {
            let us = now.map_or(NO_TIME, |d| u64::try_from(d.as_micros()).unwrap_or(NO_TIME - 1));
            inner.at_us.store(us, Ordering::Relaxed);
        }
    }

    /// Number of calls recorded so far.
    pub fn len(&self) -> usize {
        self.inner.as_ref().map_or(0, |i| lock(&i.state).next_index)
    }

    /// True when no call has been recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends one call; `inputs` is the RON of the argument list without
    /// its parentheses and `output` the RON of the result.
    pub fn record(&self, call: &str, inputs: &str, output: &str) {
        let Some(inner) = &self.inner else { return };
        let at = inner.at();
        let mut state = lock(&inner.state);
        let Some(index) = state.next() else { return };
        match &mut state.sink {
            Sink::Memory { calls, last_at, .. } => {
                calls.byte(TEXT_RECORD);
                put_at(calls, at, last_at);
                calls.str(call);
                calls.str(inputs);
                calls.str(output);
            }
            // A send fails only when the writer is gone; `flush`/`finish`
            // report why.
            Sink::File { tx, .. } => {
                let _ = tx.send(Msg::Line(format_call(index, at, call, inputs, output)));
            }
        }
    }

    /// Appends one call whose inputs and output `values` holds, as
    /// `crate::private::record` encodes them.
    #[inline]
    pub(crate) fn record_encoded(&self, call: &'static str, values: &Scratch) {
        let Some(inner) = &self.inner else { return };
        let at = inner.at();
        let mut state = lock(&inner.state);
        let Some(index) = state.next() else { return };
        match &mut state.sink {
            Sink::Memory {
                calls, names, last_at, ..
            } => {
                let name = match names.iter().position(|n| std::ptr::eq(*n, call)) {
                    Some(k) => k,
                    None => {
                        names.push(call);
                        names.len() - 1
                    }
                };
                calls.varint(name as u64 + 1);
                put_at(calls, at, last_at);
                values.bytes.append_to(&mut calls.bytes);
                calls.names.extend_from_slice(&values.names);
            }
            Sink::File { tx, .. } => {
                let _ = tx.send(Msg::Encoded {
                    index,
                    at,
                    call,
                    values: Buf {
                        bytes: crate::encode::TapeBytes::from_slice(values.bytes.as_slice()),
                        names: values.names.to_vec(),
                    },
                });
            }
        }
    }

    /// Waits until every call recorded so far is written to the file (for
    /// memory tapes, returns at once). Reports the writer's first error.
    pub fn flush(&self) -> Result<(), TraceError> {
        let Some(inner) = &self.inner else { return Ok(()) };
        let reply = {
            let state = lock(&inner.state);
            self.check_dropped(&state)?;
            match &state.sink {
                Sink::Memory { .. } => return Ok(()),
                Sink::File { tx, .. } => {
                    if state.finished {
                        return Ok(());
                    }
                    let (reply_tx, reply_rx) = mpsc::channel();
                    if tx.send(Msg::Flush(reply_tx)).is_err() {
                        return Err(self.writer_error("the writer thread has stopped".into()));
                    }
                    reply_rx
                }
            }
        };
        match reply.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.writer_error(e)),
            Err(_) => Err(self.writer_error("the writer thread has stopped".into())),
        }
    }

    /// Writes everything and stops the writer thread. Calls recorded after
    /// `finish` are not written, and a later `flush`/`finish` reports them.
    /// Calling `finish` again is harmless.
    pub fn finish(&self) -> Result<(), TraceError> {
        let Some(inner) = &self.inner else { return Ok(()) };
        let mut state = lock(&inner.state);
        self.check_dropped(&state)?;
        state.finished = true;
        if let Sink::File { tx, writer } = &mut state.sink {
            let _ = tx.send(Msg::Finish);
            if let Some(handle) = writer.take() {
                return match handle.join() {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(self.writer_error(e)),
                    Err(_) => Err(self.writer_error("the writer thread panicked".into())),
                };
            }
        }
        Ok(())
    }

    fn check_dropped(&self, state: &State) -> Result<(), TraceError> {
        if state.dropped_after_finish > 0 {
            return Err(self.writer_error(format!(
                "{} calls were recorded after finish() and are not in the file",
                state.dropped_after_finish
            )));
        }
        Ok(())
    }

    fn writer_error(&self, message: String) -> TraceError {
        TraceError::new(self.path(), TraceErrorKind::Writer(message))
    }

    /// The trace so far in the file format: the header line, then one line
    /// per call. For file tapes, this is only the header and the calls are
    /// in the file; use [`Trace::read`] there.
    pub fn contents(&self) -> String {
        let Some(inner) = &self.inner else { return String::new() };
        let state = lock(&inner.state);
        match &state.sink {
            Sink::Memory {
                header, calls, names, ..
            } => {
                let mut s = header.to_line();
                s.reserve(calls.bytes.as_slice().len() * 4 + 1);
                s.push('\n');
                render_memory(&mut s, calls, names);
                s
            }
            Sink::File { .. } => String::new(),
        }
    }

    /// Parses what a memory tape holds (for a file tape: flushes, then reads
    /// the file).
    pub fn to_trace(&self) -> Result<Trace, TraceError> {
        match self.path() {
            Some(path) => {
                self.flush()?;
                Trace::read(path)
            }
            None => Trace::parse(&self.contents()),
        }
    }

    /// Writes a memory tape's contents to `path`.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), TraceError> {
        let path = path.as_ref();
        std::fs::write(path, self.contents()).map_err(|e| TraceError::new(Some(path), TraceErrorKind::Io(e)))
    }
}

/// Marks a call recorded as text by [`Tape::record`]; encoded calls start
/// with their name's index plus one.
const TEXT_RECORD: u8 = 0;

impl Inner {
    #[inline]
    fn at(&self) -> Option<u64> {
        let at = self.at_us.load(Ordering::Relaxed);
        (at != NO_TIME).then_some(at)
    }
}

impl State {
    /// The index of the next call, or `None` (counted) after `finish`.
    #[inline]
    fn next(&mut self) -> Option<usize> {
        if self.finished {
            self.dropped_after_finish += 1;
            return None;
        }
        self.next_index += 1;
        Some(self.next_index - 1)
    }
}

/// Writes a call's virtual time: none, the same as the last call's, or a
/// new one (a fixed 8 bytes: varints of times cost a mispredicted branch
/// per call).
#[inline]
fn put_at(calls: &mut Buf, at: Option<u64>, last_at: &mut Option<u64>) {
    match at {
        None => calls.byte(crate::encode::AT_NONE),
        Some(_) if at == *last_at => calls.byte(crate::encode::AT_SAME),
        Some(t) => {
            calls.time(t);
            *last_at = at;
        }
    }
}

/// One call line from its encoded values: the inputs (each a value or a
/// redaction mark, then an end mark), then the output.
fn render_encoded(
    s: &mut String,
    index: usize,
    at: Option<u64>,
    call: &str,
    values: &Cursor<'_>,
) -> Result<(), crate::write::WriteError> {
    format_call_head(s, index, at, call);
    let mut first = true;
    while !values.arguments_end() {
        if !first {
            s.push_str(", ");
        }
        first = false;
        if values.redacted() {
            let _ = crate::value::write_str_literal(s, crate::private::REDACTED);
        } else {
            crate::write::to_ron_into(s, &Encoded(values))?;
        }
    }
    s.push_str("), out: ");
    crate::write::to_ron_into(s, &Encoded(values))?;
    s.push(')');
    Ok(())
}

/// Every call of a memory tape, one line each.
fn render_memory(s: &mut String, calls: &Buf, names: &[&'static str]) {
    let c = Cursor::new(calls.bytes.as_slice(), &calls.names);
    let mut index = 0;
    let mut last_at = None;
    while !c.at_end() {
        let ok = (|| -> Result<(), crate::write::WriteError> {
            let kind = c.varint::<crate::write::WriteError>()?;
            let at = c.at(&mut last_at)?;
            if kind == u64::from(TEXT_RECORD) {
                let (call, inputs, output) = (c.str()?, c.str()?, c.str()?);
                format_call_into(s, index, at, call, inputs, output);
            } else {
                let call = usize::try_from(kind - 1)
                    .ok()
                    .and_then(|k| names.get(k))
                    .copied()
                    .unwrap_or("?");
                render_encoded(s, index, at, call, &c)?;
            }
            Ok(())
        })();
        s.push('\n');
        if ok.is_err() {
            // Only a bug in rehearse gets here: stop rather than misread.
            s.push_str("\"<corrupt tape: a rehearse bug>\"\n");
            return;
        }
        index += 1;
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

fn spare_buffer() -> Buf {
    SPARE.with(|s| s.borrow_mut().pop()).unwrap_or_default()
}

fn keep_spare(mut buf: Buf) {
    if buf.bytes.capacity() <= SPARE_MAX_BYTES && buf.names.capacity() <= SPARE_MAX_BYTES / 16 {
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

impl Drop for Inner {
    fn drop(&mut self) {
        let state = match &mut self.state {
            Lock::Spin(m) => m.get_mut(),
            Lock::Std(m) => m.get_mut().unwrap_or_else(PoisonError::into_inner),
        };
        if let Sink::Memory { calls, .. } = &mut state.sink {
            keep_spare(std::mem::take(calls));
        }
        if let Sink::File { tx, writer } = &mut state.sink {
            let _ = tx.send(Msg::Finish);
            if let Some(handle) = writer.take() {
                if let Ok(Err(e)) = handle.join() {
                    let path = self.path.as_deref().unwrap_or(Path::new("<tape>"));
                    eprintln!("rehearse: writing {} failed: {e}", path.display());
                }
            }
        }
    }
}
