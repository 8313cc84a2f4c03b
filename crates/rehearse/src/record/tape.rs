//! [`Tape`]: a trace being written, to a file by a background thread or to
//! memory.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::encode::{Buf, Scratch, Store as _, names};
use super::kept::{KeptArgs, KeptSlice, KeptText};
use super::lock::Lock;
use super::sink::{
    Msg, Sink, keep_spare, put_call_head, put_fault_head, put_lane, put_lane_and_call_head, put_mark, render_memory,
    spare_buffer, write_loop,
};
use crate::format::{Header, MarkText, RunFailure, Trace, TraceError, TraceErrorKind};
use serde::Serialize;

/// Records the file writer may hold in its queue before a caller waits.
///
/// The writer drains far faster than any real world is called, so the bound
/// is only reached when the disk stalls; then callers wait (backpressure)
/// instead of growing memory without limit.
pub(crate) const QUEUE_CAPACITY: usize = 1 << 16;

const NO_TIME: u64 = u64::MAX;

/// A cloneable handle to a trace being written.
///
/// Every [`Recorder`](crate::Recorder) sharing a tape appends to the same
/// sequence of calls; the index each call gets is its global order. Between
/// the calls, a simulation may write fault and note marks
/// ([`Tape::mark_fault`], [`Tape::note`]), and say which node (lane) the
/// following records belong to ([`Tape::set_node`]).
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
    /// The lane of the following records (0: none), outside the lock like
    /// the time: a network simulation switches lanes at nearly every
    /// event, and taking the lock for it was 7% of an unrecorded run.
    lane: AtomicU32,
    state: Lock<State>,
}

struct State {
    next_index: usize,
    finished: bool,
    dropped_after_finish: usize,
    /// Marks written after `finish`, not in the file either.
    marks_after_finish: usize,
    /// The lane names met so far: lane `k + 1` is `nodes[k]`. It only
    /// grows, so a lane number, once given, names its node for good.
    nodes: Vec<Arc<str>>,
    /// The lane the sink was last told; a record written while it differs
    /// from `Inner::lane` is preceded by a lane change.
    written_node: u32,
    /// Something to do before the next record: `finished` or the limit
    /// reached. One flag, so that recording a call checks one byte and
    /// one lane number.
    pending: bool,
    /// The most encoded bytes the tape keeps ([`TapeOptions::limit_bytes`]).
    limit_bytes: u64,
    /// Encoded bytes kept so far (file tapes; a memory tape's buffer knows).
    sent_bytes: u64,
    /// The limit was reached: later records are counted, not kept.
    over_limit: bool,
    /// Calls and marks not kept because the limit was reached.
    dropped_over_limit: usize,
    sink: Sink,
}

/// A tape reached its size limit ([`TapeOptions::limit_bytes`]): it kept
/// the records before the limit, and only counted the later ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapeLimitReached {
    /// The limit, in bytes of the tape's compact encoding (about a third
    /// of the scenario file's size).
    pub limit_bytes: u64,
    /// Calls kept (the first ones of the run).
    pub calls_kept: usize,
    /// Calls and marks after the limit, not kept.
    pub records_dropped: usize,
}

impl std::fmt::Display for TapeLimitReached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the tape reached its limit of {} (the first {} calls are kept, {} later calls and marks are not): \
             raise it with Sweep::tape_limit_bytes or REHEARSE_TAPE_LIMIT (for a sweep), TapeOptions::limit_bytes \
             (for a tape of your own), or record a shorter run",
            bytes_text(self.limit_bytes),
            self.calls_kept,
            self.records_dropped
        )
    }
}

/// `64 MiB`, `1.5 KiB`, `100 bytes`.
fn bytes_text(bytes: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size {
            return if bytes % size == 0 {
                format!("{} {unit}", bytes / size)
            } else {
                format!("{:.1} {unit}", bytes as f64 / size as f64)
            };
        }
    }
    format!("{bytes} bytes")
}

/// Options for a new tape: header fields and queue size.
#[derive(Debug, Clone)]
pub struct TapeOptions {
    header: Header,
    capacity: usize,
    limit_bytes: u64,
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

    /// Adds a run parameter (a flag or size) to the header's `params`.
    pub fn param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.header.params.insert(key.into(), value.into());
        self
    }

    /// Sets the writer's queue bound (default 65,536 records, reached only
    /// when the disk stalls; then callers wait); at least 1.
    pub fn queue_capacity(mut self, records: usize) -> Self {
        self.capacity = records.max(1);
        self
    }

    /// Bounds the tape: once it holds `bytes` of recorded calls and marks
    /// (in its compact encoding, about a third of the scenario file's
    /// size), it keeps no more, and only counts them; [`Tape::limit_reached`]
    /// says so, and `flush` and `finish` report it as an error. Default: no
    /// limit (a [`Sweep`](crate::Sweep) sets one on its runs' tapes, see
    /// [`Sweep::tape_limit_bytes`](crate::Sweep::tape_limit_bytes)).
    ///
    /// ```
    /// let tape = rehearse::Tape::options().limit_bytes(64).memory();
    /// for i in 0..100 {
    ///     tape.note(&format!("step {i}"));
    /// }
    /// let reached = tape.limit_reached().unwrap();
    /// assert!(reached.records_dropped > 80);
    /// assert!(tape.flush().unwrap_err().to_string().contains("limit of 64 bytes"));
    /// ```
    pub fn limit_bytes(mut self, bytes: u64) -> Self {
        self.limit_bytes = bytes;
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
            self.limit_bytes,
        ))
    }

    /// An in-memory tape with this header (no creation time, so that equal
    /// runs give equal bytes).
    pub fn memory(self) -> Tape {
        Tape::with_sink(
            None,
            Sink::Memory {
                header: Box::new(self.header),
                calls: spare_buffer(),
                last_at: None,
                kept: super::kept::KeptCalls::spare(),
            },
            self.limit_bytes,
        )
    }
}

impl Tape {
    fn with_sink(path: Option<PathBuf>, sink: Sink, limit_bytes: u64) -> Self {
        Self {
            inner: Some(Arc::new(Inner {
                path,
                at_us: AtomicU64::new(NO_TIME),
                lane: AtomicU32::new(0),
                state: {
                    let memory = matches!(sink, Sink::Memory { .. });
                    let state = State {
                        next_index: 0,
                        finished: false,
                        dropped_after_finish: 0,
                        marks_after_finish: 0,
                        nodes: Vec::new(),
                        written_node: 0,
                        pending: false,
                        limit_bytes,
                        sent_bytes: 0,
                        over_limit: false,
                        dropped_over_limit: 0,
                        sink,
                    };
                    Lock::new(state, memory)
                },
            })),
        }
    }

    /// Options for a tape with header fields (seed, worlds, metadata).
    pub fn options() -> TapeOptions {
        TapeOptions {
            header: Header::new(),
            capacity: QUEUE_CAPACITY,
            limit_bytes: u64::MAX,
        }
    }

    /// A scenario file at `path`, written by a background thread: a
    /// recording call never waits for the disk. Call [`Tape::finish`] at
    /// the end (dropping the last handle also flushes, without reporting
    /// errors); a process killed mid-run loses at most the calls in flight,
    /// and the file reads as "truncated after call N".
    ///
    /// ```
    /// use rehearse::{Recorder, Tape, Trace};
    ///
    /// #[rehearse::world]
    /// pub trait Clock {
    ///     fn now_ms(&self) -> u64;
    /// }
    /// struct Real;
    /// impl Clock for Real {
    ///     fn now_ms(&self) -> u64 { 42 }
    /// }
    ///
    /// let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("clock.ron");
    /// let tape = Tape::create(&path).unwrap();
    /// let world = Recorder::new(Real, tape.clone());
    /// world.now_ms();
    /// tape.finish().unwrap();
    /// assert_eq!(Trace::read(&path).unwrap().calls().len(), 1);
    /// ```
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

    /// [`Tape::set_virtual_time`] of `Some` time in whole microseconds.
    #[inline]
    pub(crate) fn set_virtual_time_us(&self, us: u64) {
        if let Some(inner) = &self.inner {
            inner.at_us.store(us.min(NO_TIME - 1), Ordering::Relaxed);
        }
    }

    /// Sets the node (lane) of each following call and mark, written as
    /// its `node` field; `None` stops writing it. Like
    /// [`Tape::set_virtual_time`], it holds until changed. Cheap enough to
    /// call before every call: a name is copied the first time the tape
    /// sees it, and the tape writes a lane change only when a record
    /// follows one.
    ///
    /// ```
    /// let tape = rehearse::Tape::memory();
    /// tape.set_node(Some("n1"));
    /// tape.note("n1 became leader in term 3");
    /// tape.set_node(None);
    /// tape.note("all nodes healed");
    /// let trace = tape.to_trace().unwrap();
    /// assert_eq!(trace.marks()[0].node.as_deref(), Some("n1"));
    /// assert_eq!(trace.marks()[1].node, None);
    /// ```
    pub fn set_node(&self, node: Option<&str>) {
        self.set_node_hinted(node, usize::MAX);
    }

    /// [`Tape::set_node`], trying the node at position `hint` of this
    /// tape's nodes first: a [`Sim`](crate::Sim) passes the position in its
    /// own list, the same one as long as every lane came through it, which
    /// saves a search at every event of a network simulation.
    /// Returns the lane it set (0: none), which [`Tape::set_lane`] sets
    /// again without the name: the tape's lanes only grow.
    #[inline]
    pub(crate) fn set_node_hinted(&self, node: Option<&str>, hint: usize) -> u32 {
        let Some(inner) = &self.inner else { return 0 };
        let lane = match node {
            None => 0,
            Some(name) => {
                let mut state = inner.state.lock();
                match state.nodes.get(hint) {
                    Some(n) if crate::sim::same_name(n, name) => lane(hint),
                    _ => match state.nodes.iter().position(|n| crate::sim::same_name(n, name)) {
                        Some(k) => lane(k),
                        None => {
                            state.nodes.push(Arc::from(name));
                            lane(state.nodes.len() - 1)
                        }
                    },
                }
            }
        };
        inner.lane.store(lane, Ordering::Relaxed);
        lane
    }

    /// Sets the lane of the following records to one that
    /// [`Tape::set_node_hinted`] returned for this tape: no lock, no name.
    #[inline]
    pub(crate) fn set_lane(&self, lane: u32) {
        if let Some(inner) = &self.inner {
            inner.lane.store(lane, Ordering::Relaxed);
        }
    }

    /// Writes a fault mark: the fault point that fired (`"net::drop"`) and,
    /// optionally, what it did. Marks take no call index; a
    /// [`Replayer`](crate::Replayer) skips them. [`Sim::fault`](crate::Sim::fault)
    /// writes these on a run's tape.
    pub fn mark_fault(&self, point: &str, detail: Option<&str>) {
        self.mark(MarkText::Fault { point, detail });
    }

    /// [`Tape::mark_fault`] with a detail whose text a memory tape writes
    /// only when it is read (a file tape writes it now): the same mark,
    /// without building its text in the runs that are never read.
    pub(crate) fn mark_fault_kept<T: KeptText>(&self, point: &str, detail: T) {
        let Some(inner) = &self.inner else { return };
        if inner.path.is_some() {
            let mut text = String::new();
            detail.write_text(&mut text);
            return self.mark_fault(point, Some(&text));
        }
        inner.write_mark(|state, at| {
            if let Sink::Memory {
                calls, last_at, kept, ..
            } = &mut state.sink
            {
                put_fault_head(calls, at, last_at, point);
                kept.push_text(calls.bytes.len(), detail);
            }
        });
    }

    /// Writes a note mark: free text about the run at this point
    /// (`"n1 became leader in term 3"`).
    pub fn note(&self, text: &str) {
        self.mark(MarkText::Note(text));
    }

    fn mark(&self, mark: MarkText<'_>) {
        let Some(inner) = &self.inner else { return };
        inner.write_mark(|state, at| match &mut state.sink {
            Sink::Memory { calls, last_at, .. } => put_mark(calls, at, last_at, mark),
            Sink::File { tx, .. } => {
                state.sent_bytes += match &mark {
                    MarkText::Fault { point, detail } => point.len() + detail.map_or(0, |d| d.len()),
                    MarkText::Note(text) => text.len(),
                } as u64
                    + 10;
                let _ = tx.send(Msg::Mark {
                    at,
                    kind: mark.to_kind(),
                });
            }
        });
    }

    /// Number of calls recorded so far (marks not counted).
    pub fn len(&self) -> usize {
        self.inner.as_ref().map_or(0, |i| i.state.lock().next_index)
    }

    /// True when no call has been recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends one call whose inputs and output `values` holds, as
    /// `crate::__private::record` encodes them.
    #[inline]
    pub(crate) fn record_encoded(&self, call: &'static str, values: &Scratch) {
        let Some(inner) = &self.inner else { return };
        let at = inner.at();
        let lane = inner.lane.load(Ordering::Relaxed);
        let mut guard = inner.state.lock();
        let state = &mut *guard;
        let Some(index) = state.next(lane) else { return };
        match &mut state.sink {
            Sink::Memory { calls, last_at, .. } => {
                put_call_head(calls, names::index(call), at, last_at);
                values.bytes.append_to(&mut calls.bytes);
            }
            Sink::File { tx, .. } => {
                state.sent_bytes += values.bytes.len() as u64 + 10;
                let _ = tx.send(Msg::Encoded {
                    index,
                    at,
                    call,
                    values: Buf {
                        bytes: super::encode::TapeBytes::from_slice(values.bytes.as_slice()),
                    },
                });
            }
        }
        state.check_limit();
    }

    /// Keeps a copy of `items`, an argument of a call about to be recorded
    /// with [`Tape::record_kept`]: a memory tape keeps the elements in one
    /// vector per type (no allocation per call); a file tape, or one that
    /// keeps no more calls, gets its own copy.
    #[inline]
    pub(crate) fn keep_slice<T: Clone + Send + 'static>(&self, items: &[T]) -> KeptSlice<T> {
        let Some(inner) = &self.inner else {
            return KeptSlice::Owned(Vec::new());
        };
        if inner.path.is_some() || items.is_empty() {
            // An empty list (a third of a network simulation's steps)
            // takes no lock: a vector that does not allocate, encoded as
            // the empty list it is.
            return KeptSlice::Owned(items.to_vec());
        }
        let mut state = inner.state.lock();
        if state.pending {
            // Finished or over its limit: the call will not be kept.
            return KeptSlice::Owned(Vec::new());
        }
        match &mut state.sink {
            Sink::Memory { kept, .. } => kept.keep_slice(items),
            Sink::File { .. } => KeptSlice::Owned(items.to_vec()),
        }
    }

    /// Appends one call of a world that keeps values
    /// (`#[rehearse::world(clone_values)]`): a memory tape keeps `args`
    /// and a clone of `output`, and encodes them when it is read; a file
    /// tape encodes them now.
    #[inline]
    pub(crate) fn record_kept<A: KeptArgs, O: Clone + Serialize + Send + 'static>(
        &self,
        call: &'static crate::__private::CallName,
        args: A,
        output: &O,
    ) {
        let Some(inner) = &self.inner else { return };
        if inner.path.is_some() {
            let mut values = Scratch::default();
            super::kept::encode_call(&mut values, &args, output);
            self.record_encoded(call.name, &values);
            return;
        }
        // Cloned before the tape is locked: `Clone` may do anything.
        let output = output.clone();
        let at = inner.at();
        let lane = inner.lane.load(Ordering::Relaxed);
        let mut guard = inner.state.lock();
        let state = &mut *guard;
        let Some(lane_change) = state.next_deferring_lane(lane) else {
            return;
        };
        if let Sink::Memory {
            calls, last_at, kept, ..
        } = &mut state.sink
        {
            put_lane_and_call_head(calls, lane_change, call.index(), at, last_at);
            kept.push(calls.bytes.len(), args, output);
        }
        state.check_limit();
    }

    /// Frees a memory tape's room for more records: for a tape that is
    /// kept, not written to (a sweep's failures until they are saved).
    pub(crate) fn shrink_to_fit(&self) {
        let Some(inner) = &self.inner else { return };
        if let Sink::Memory { calls, kept, .. } = &mut inner.state.lock().sink {
            kept.encode_into(calls);
            // A kept tape holds no room for values it will not keep.
            kept.release();
            calls.bytes.shrink_to_fit();
        }
    }

    /// How the tape reached its size limit ([`TapeOptions::limit_bytes`]),
    /// or `None` while it keeps everything.
    pub fn limit_reached(&self) -> Option<TapeLimitReached> {
        let inner = self.inner.as_ref()?;
        let state = inner.state.lock();
        state.over_limit.then(|| state.limit_reached())
    }

    /// Waits until every call recorded so far is written to the file (for
    /// memory tapes, returns at once). Reports the writer's first error.
    pub fn flush(&self) -> Result<(), TraceError> {
        let Some(inner) = &self.inner else { return Ok(()) };
        let reply = {
            let state = inner.state.lock();
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
        let mut state = inner.state.lock();
        // Reported after the file is complete: a tape cut at its limit
        // still writes what it kept.
        let dropped = self.check_dropped(&state);
        state.finished = true;
        state.pending = true;
        if let Sink::File { tx, writer } = &mut state.sink {
            let _ = tx.send(Msg::Finish);
            if let Some(handle) = writer.take() {
                match handle.join() {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(self.writer_error(e)),
                    Err(_) => return Err(self.writer_error("the writer thread panicked".into())),
                }
            }
        }
        dropped
    }

    fn check_dropped(&self, state: &State) -> Result<(), TraceError> {
        if state.over_limit {
            return Err(self.writer_error(state.limit_reached().to_string()));
        }
        let (calls, marks) = (state.dropped_after_finish, state.marks_after_finish);
        if calls > 0 || marks > 0 {
            let what = match (calls, marks) {
                (calls, 0) => format!("{calls} calls were"),
                (0, marks) => format!("{marks} fault or note marks were"),
                (calls, marks) => format!("{calls} calls and {marks} fault or note marks were"),
            };
            return Err(self.writer_error(format!("{what} recorded after finish() and are not in the file")));
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
        let mut guard = inner.state.lock();
        let state = &mut *guard;
        match &mut state.sink {
            Sink::Memory {
                header, calls, kept, ..
            } => {
                kept.encode_into(calls);
                let mut s = header.to_line();
                s.reserve(calls.bytes.as_slice().len() * 4 + 1);
                s.push('\n');
                render_memory(&mut s, calls, &state.nodes);
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

/// The header of a memory tape can change until it is read: a simulation
/// learns its parameters as it runs, and its failure at the end.
impl Tape {
    /// Sets a run parameter in a memory tape's header (`params`). A file
    /// tape wrote its header when it was created (give parameters to
    /// [`TapeOptions::param`] there): for one this is an error, and a
    /// disabled tape ignores it.
    pub fn set_header_param(&self, key: impl Into<String>, value: impl Into<String>) -> Result<(), TraceError> {
        self.edit_header("set a parameter", |h| {
            h.params.insert(key.into(), value.into());
        })
    }

    /// Sets (or clears) how the run failed in a memory tape's header
    /// (`failure`); an error for a file tape, ignored by a disabled one.
    pub fn set_failure(&self, failure: Option<RunFailure>) -> Result<(), TraceError> {
        self.edit_header("set the failure", |h| h.failure = failure)
    }

    /// A copy of a memory tape's header as it stands; `None` for file and
    /// disabled tapes.
    pub fn header(&self) -> Option<Header> {
        let inner = self.inner.as_ref()?;
        match &inner.state.lock().sink {
            Sink::Memory { header, .. } => Some((**header).clone()),
            Sink::File { .. } => None,
        }
    }

    fn edit_header(&self, what: &str, edit: impl FnOnce(&mut Header)) -> Result<(), TraceError> {
        let Some(inner) = &self.inner else { return Ok(()) };
        match &mut inner.state.lock().sink {
            Sink::Memory { header, .. } => {
                edit(header);
                Ok(())
            }
            Sink::File { .. } => Err(self.writer_error(format!(
                "cannot {what} in the header of a file tape: the header was written when the file was created \
                 (use Tape::options() to set it there)"
            ))),
        }
    }
}

impl Inner {
    #[inline]
    fn at(&self) -> Option<u64> {
        let at = self.at_us.load(Ordering::Relaxed);
        (at != NO_TIME).then_some(at)
    }

    /// Writes a mark: `write` puts it, with the time, into the state
    /// under the lock, once [`State::open_mark`] wrote the lane (it does
    /// nothing when the mark is refused); then the limit is checked.
    #[inline]
    fn write_mark(&self, write: impl FnOnce(&mut State, Option<u64>)) {
        let at = self.at();
        let lane = self.lane.load(Ordering::Relaxed);
        let mut guard = self.state.lock();
        let state = &mut *guard;
        if !state.open_mark(lane) {
            return;
        }
        write(state, at);
        state.check_limit();
    }
}

/// The lane number of the node name at `k` in [`State::nodes`].
fn lane(k: usize) -> u32 {
    u32::try_from(k + 1).unwrap_or(u32::MAX)
}

impl State {
    /// Before a mark: writes the lane when it changed; false when the
    /// mark is dropped instead, counted, because the run finished or the
    /// tape is over its limit.
    #[inline]
    fn open_mark(&mut self, lane: u32) -> bool {
        if self.pending {
            self.refuse(false);
            return false;
        }
        if lane != self.written_node {
            self.write_lane(lane);
        }
        true
    }

    /// Counts a record refused because the tape is `pending` (finished or
    /// over its limit, the only two things that set it): a call or a mark.
    #[cold]
    fn refuse(&mut self, call: bool) {
        if !self.finished {
            self.dropped_over_limit += 1;
        } else if call {
            self.dropped_after_finish += 1;
        } else {
            self.marks_after_finish += 1;
        }
    }

    /// Tells the sink the current lane (before a record, when it changed
    /// since the last one: at nearly every call of a network simulation).
    #[inline]
    fn write_lane(&mut self, lane: u32) {
        self.written_node = lane;
        match &mut self.sink {
            Sink::Memory { calls, .. } => put_lane(calls, lane),
            Sink::File { tx, .. } => {
                let node = (lane as usize).checked_sub(1).and_then(|k| self.nodes.get(k)).cloned();
                let _ = tx.send(Msg::Lane(node));
            }
        }
    }

    /// The index of the next call, or `None` (counted) after `finish` or
    /// past the limit. A change to `lane` is written first.
    #[inline]
    fn next(&mut self, lane: u32) -> Option<usize> {
        if self.pending {
            self.refuse(true);
            return None;
        }
        if lane != self.written_node {
            self.write_lane(lane);
        }
        self.next_index += 1;
        Some(self.next_index - 1)
    }

    /// [`State::next`] for a memory tape's call whose head the caller
    /// writes: a change to `lane` is not written but returned, for the
    /// caller to write with the head. `None` (counted) after `finish` or
    /// past the limit.
    #[inline]
    fn next_deferring_lane(&mut self, lane: u32) -> Option<Option<u32>> {
        if self.pending {
            self.refuse(true);
            return None;
        }
        let change = (lane != self.written_node).then_some(lane);
        self.written_node = lane;
        self.next_index += 1;
        Some(change)
    }
}

impl State {
    /// Encoded bytes kept so far.
    #[inline]
    fn kept_bytes(&self) -> u64 {
        match &self.sink {
            Sink::Memory { calls, kept, .. } => calls.bytes.len() as u64 + kept.estimated_bytes(),
            Sink::File { .. } => self.sent_bytes,
        }
    }

    /// After a record: once past the limit, the next ones take the
    /// `pending` path and are counted instead of kept. The tape holds at
    /// most the limit plus one record.
    #[inline]
    fn check_limit(&mut self) {
        if self.kept_bytes() >= self.limit_bytes {
            self.near_limit();
        }
    }

    /// The estimate reached the limit: kept calls are encoded, and the
    /// limit is reached when their encoded size says so.
    #[cold]
    fn near_limit(&mut self) {
        if let Sink::Memory { calls, kept, .. } = &mut self.sink {
            if !kept.is_empty() {
                kept.encode_into(calls);
                if (calls.bytes.len() as u64) < self.limit_bytes {
                    return;
                }
            }
        }
        self.reach_limit();
    }

    #[cold]
    fn reach_limit(&mut self) {
        self.over_limit = true;
        self.pending = true;
    }

    fn limit_reached(&self) -> TapeLimitReached {
        TapeLimitReached {
            limit_bytes: self.limit_bytes,
            calls_kept: self.next_index,
            records_dropped: self.dropped_over_limit,
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let state = self.state.get_mut();
        if let Sink::Memory { calls, kept, .. } = &mut state.sink {
            kept.release();
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
