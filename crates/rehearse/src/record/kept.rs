//! Calls kept as values on a memory tape, encoded only when the tape is
//! read.
//!
//! Encoding a call (its serde `Serializer` calls, a name lookup per
//! struct, field and variant name) cost more than simulating it: a
//! network simulation recorded at 2.16 times the instructions of the
//! unrecorded run, most of it the encoding of each step's outputs and
//! delivery. Most simulated runs pass, and a sweep never reads their
//! tapes. So a world that opts in (`#[rehearse::world(clone_values)]`,
//! as [`Network`](crate::net::Network) does) has its recorder clone each
//! argument and output onto the memory tape, and the tape encodes the
//! clones, in order, into its compact form when it is read (`contents`,
//! `save`, `to_trace`), kept after a failure (`shrink_to_fit`), or when
//! their estimated size reaches the tape's limit. The encoded bytes, and
//! so the RON, are those the recorder would have written at the call:
//! encoding a clone is encoding the value (the bound on these types says
//! so: they serialize the same later as when they were recorded).
//!
//! The clones sit in one vector per call type (a column), so that keeping
//! a call is a push, without an allocation of its own; the tape's bytes
//! hold the call's head (name, time, lane) as for any call, and the
//! positions where each kept call's values go.

use std::any::Any;

use serde::Serialize;

use super::encode::{Buf, Scratch, Store as _};

/// One argument of a kept call: its value, or a redaction mark.
pub trait KeptArg: Send + 'static {
    /// Encodes it as the recorder encodes an argument.
    #[doc(hidden)]
    fn put(&self, to: &mut Values<'_>);
}

/// A kept argument's value (an owned copy of what the call got).
#[derive(Debug)]
pub struct Kept<T>(pub T);

impl<T: Serialize + Send + 'static> KeptArg for Kept<T> {
    #[inline]
    fn put(&self, to: &mut Values<'_>) {
        to.value(&self.0);
    }
}

/// A kept argument that is a slice or a vector (a batch of messages): its
/// elements are cloned into one vector of the tape per element type, so
/// that keeping it allocates nothing once that vector has grown.
#[derive(Debug)]
pub enum KeptSlice<T> {
    /// A copy of its own (file tapes, and calls a tape will not keep).
    Owned(Vec<T>),
    /// `len` elements from `start` in the tape's vector of `T`s.
    Stored {
        /// The first element's position.
        start: usize,
        /// How many.
        len: usize,
    },
}

impl<T: Serialize + Send + 'static> KeptArg for KeptSlice<T> {
    #[inline]
    fn put(&self, to: &mut Values<'_>) {
        match self {
            Self::Owned(items) => to.value(items.as_slice()),
            &Self::Stored { start, len } => {
                let items = to
                    .elements
                    .iter()
                    .find_map(|e| e.items.downcast_ref::<Vec<T>>())
                    .and_then(|items| items.get(start..start + len));
                match items {
                    Some(items) => to.value(items),
                    // Only a bug in rehearse gets here.
                    None => to.value("<corrupt tape record: a rehearse bug>"),
                }
            }
        }
    }
}

/// The elements of kept slices of one type: a vector, type erased.
struct Elements {
    items: Box<dyn Any + Send>,
    /// Drops every element, keeping the room.
    clear: fn(&mut dyn Any),
    /// Bytes of room held.
    capacity_bytes: fn(&dyn Any) -> usize,
}

impl Elements {
    fn new<T: Send + 'static>() -> Self {
        Self {
            items: Box::new(Vec::<T>::new()),
            clear: |items| {
                if let Some(items) = items.downcast_mut::<Vec<T>>() {
                    items.clear();
                }
            },
            capacity_bytes: |items| {
                items
                    .downcast_ref::<Vec<T>>()
                    .map_or(0, |i| i.capacity() * std::mem::size_of::<T>())
            },
        }
    }
}

/// A `#[rehearse(redact)]` argument of a kept call.
#[derive(Debug)]
pub struct KeptRedacted;

impl KeptArg for KeptRedacted {
    #[inline]
    fn put(&self, to: &mut Values<'_>) {
        to.redacted();
    }
}

/// Where a kept call's values are encoded: the buffer of a call being
/// recorded (file tapes encode at once), or a memory tape's bytes.
pub struct Values<'a> {
    to: To<'a>,
    /// The tape's kept slices ([`KeptSlice::Stored`]).
    elements: &'a [Elements],
}

enum To<'a> {
    Call(&'a mut Scratch),
    Tape(&'a mut Buf),
}

impl Values<'_> {
    #[inline]
    fn value<T: Serialize + ?Sized>(&mut self, value: &T) {
        match &mut self.to {
            To::Call(e) => e.value(value),
            To::Tape(e) => e.value(value),
        }
    }

    fn redacted(&mut self) {
        match &mut self.to {
            To::Call(e) => e.redacted(),
            To::Tape(e) => e.redacted(),
        }
    }

    fn end_of_arguments(&mut self) {
        match &mut self.to {
            To::Call(e) => e.end_of_arguments(),
            To::Tape(e) => e.end_of_arguments(),
        }
    }
}

/// Encodes a call's `args` and `output` into `call`, as the recorder of
/// a world that does not keep values does.
pub(super) fn encode_call<A: KeptArgs, O: Serialize + ?Sized>(call: &mut Scratch, args: &A, output: &O) {
    let mut to = Values {
        to: To::Call(call),
        elements: &[],
    };
    args.put_all(&mut to);
    to.value(output);
}

/// The arguments of a kept call: a tuple of [`KeptArg`]s, each encoded as
/// one argument.
pub trait KeptArgs: Send + 'static {
    /// Encodes every argument, then the end of the arguments.
    #[doc(hidden)]
    fn put_all(&self, to: &mut Values<'_>);
}

macro_rules! kept_args {
    ($($name:ident . $index:tt),*) => {
        impl<$($name: KeptArg),*> KeptArgs for ($($name,)*) {
            #[inline]
            #[allow(unused_variables)]
            fn put_all(&self, to: &mut Values<'_>) {
                $(self.$index.put(to);)*
                to.end_of_arguments();
            }
        }
    };
}

kept_args!();
kept_args!(A.0);
kept_args!(A.0, B.1);
kept_args!(A.0, B.1, C.2);
kept_args!(A.0, B.1, C.2, D.3);
kept_args!(A.0, B.1, C.2, D.3, E.4);
kept_args!(A.0, B.1, C.2, D.3, E.4, F.5);
kept_args!(A.0, B.1, C.2, D.3, E.4, F.5, G.6);
kept_args!(A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7);
kept_args!(A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8);
kept_args!(A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8, J.9);
kept_args!(A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8, J.9, K.10);
kept_args!(A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7, I.8, J.9, K.10, L.11);

/// The kept calls of one type (arguments and output): a vector, type
/// erased (`Any`, downcast with one virtual call when a call is kept).
struct Column {
    calls: Box<dyn Any + Send>,
    /// Encodes call `i` onto the tape's bytes.
    encode: fn(&dyn Any, usize, &mut Buf, &[Elements]),
    /// Drops every call, keeping the room.
    clear: fn(&mut dyn Any),
    /// Bytes of room held.
    capacity_bytes: fn(&dyn Any) -> usize,
}

impl Column {
    fn new<A: KeptArgs, O: Serialize + Send + 'static>() -> Self {
        Self {
            calls: Box::new(Vec::<(A, O)>::new()),
            encode: encode_call_at::<A, O>,
            clear: |calls| {
                if let Some(calls) = calls.downcast_mut::<Vec<(A, O)>>() {
                    // Each dropped in the loop: `clear` called the drop
                    // of a call out of line, which saved and restored six
                    // registers for a call that mostly owns nothing
                    // (8 instructions a call less, measured on a network
                    // simulation).
                    for call in calls.drain(..) {
                        drop(call);
                    }
                }
            },
            capacity_bytes: |calls| {
                calls
                    .downcast_ref::<Vec<(A, O)>>()
                    .map_or(0, |c| c.capacity() * std::mem::size_of::<(A, O)>())
            },
        }
    }
}

/// A fault mark's detail kept as a value on a memory tape, and written as
/// its text when the tape is read ([`Tape::mark_fault_kept`]): most
/// simulated runs pass and are never read, and building the text (the
/// RON of a lost message) cost more than the rest of the mark. Like a
/// kept call's values, it must write the same text later as at the mark,
/// and must not record on the same tape (it runs under the tape's lock).
///
/// [`Tape::mark_fault_kept`]: super::Tape::mark_fault_kept
pub(crate) trait KeptText: Send + 'static {
    /// Appends the detail's text to `out`.
    fn write_text(&self, out: &mut String);
}

impl Column {
    /// A column of kept mark details: each is written as a string.
    fn text<T: KeptText>() -> Self {
        Self {
            calls: Box::new(Vec::<T>::new()),
            encode: |texts, i, out, _| {
                if let Some(text) = texts.downcast_ref::<Vec<T>>().and_then(|t| t.get(i)) {
                    let mut s = String::new();
                    text.write_text(&mut s);
                    out.str(&s);
                }
            },
            clear: |texts| {
                if let Some(texts) = texts.downcast_mut::<Vec<T>>() {
                    texts.clear();
                }
            },
            capacity_bytes: |texts| {
                texts
                    .downcast_ref::<Vec<T>>()
                    .map_or(0, |t| t.capacity() * std::mem::size_of::<T>())
            },
        }
    }
}

fn encode_call_at<A: KeptArgs, O: Serialize + Send + 'static>(
    calls: &dyn Any,
    i: usize,
    out: &mut Buf,
    elements: &[Elements],
) {
    if let Some(calls) = calls.downcast_ref::<Vec<(A, O)>>() {
        if let Some((args, output)) = calls.get(i) {
            let mut to = Values {
                to: To::Tape(out),
                elements,
            };
            args.put_all(&mut to);
            to.value(output);
        }
    }
}

/// The kept calls of a memory tape, and where their values go in its
/// bytes.
#[derive(Default)]
pub(super) struct KeptCalls {
    columns: Vec<Column>,
    /// The kept mark details, one vector per type ([`KeptText`]).
    texts: Vec<Column>,
    /// The elements of kept slices, one vector per element type.
    elements: Vec<Elements>,
    /// For each kept call or mark detail, in order: the offset in the
    /// tape's bytes where its values go, and its column (a mark detail's
    /// has [`TEXT`] set, and its index in `texts`).
    places: Vec<(usize, u32)>,
    /// The kept calls' estimated size: their size in memory.
    estimated_bytes: u64,
}

impl std::fmt::Debug for KeptCalls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeptCalls({} calls)", self.places.len())
    }
}

impl KeptCalls {
    /// Keeps a call whose values go at `offset` of the tape's bytes.
    #[inline]
    pub(super) fn push<A: KeptArgs, O: Serialize + Send + 'static>(&mut self, offset: usize, args: A, output: O) {
        // The first column is tried first: a network simulation records
        // one call type at nearly every step.
        let (column, calls) = match self
            .columns
            .first_mut()
            .and_then(|c| c.calls.downcast_mut::<Vec<(A, O)>>())
        {
            Some(calls) => (0, calls),
            None => self.column::<A, O>(),
        };
        calls.push((args, output));
        self.places.push((offset, column as u32));
        self.estimated_bytes += std::mem::size_of::<(A, O)>() as u64 + 2;
    }

    /// Keeps a mark's detail, written at `offset` of the tape's bytes as
    /// a string when they are encoded.
    pub(super) fn push_text<T: KeptText>(&mut self, offset: usize, text: T) {
        let k = match self.texts.iter().position(|c| c.calls.is::<Vec<T>>()) {
            Some(k) => k,
            None => {
                self.texts.push(Column::text::<T>());
                self.texts.len() - 1
            }
        };
        if let Some(texts) = self.texts[k].calls.downcast_mut::<Vec<T>>() {
            texts.push(text);
            self.places.push((offset, TEXT | k as u32));
            // About what the text takes (a lost message's detail).
            self.estimated_bytes += std::mem::size_of::<T>() as u64 + 64;
        }
    }

    /// Keeps a copy of `items`, for a [`KeptSlice::Stored`].
    #[inline]
    pub(super) fn keep_slice<T: Clone + Send + 'static>(&mut self, items: &[T]) -> KeptSlice<T> {
        let stored = match self.elements.first_mut().and_then(|e| e.items.downcast_mut::<Vec<T>>()) {
            Some(stored) => stored,
            None => self.elements::<T>(),
        };
        let start = stored.len();
        // A loop the compiler inlines (`extend_from_slice` went through
        // an out-of-line fold).
        stored.reserve(items.len());
        for item in items {
            stored.push(item.clone());
        }
        self.estimated_bytes += std::mem::size_of_val(items) as u64;
        KeptSlice::Stored {
            start,
            len: items.len(),
        }
    }

    /// The vector of kept `T`s, found past the first or added.
    #[cold]
    #[inline(never)]
    fn elements<T: Send + 'static>(&mut self) -> &mut Vec<T> {
        let k = match self.elements.iter().position(|e| e.items.is::<Vec<T>>()) {
            Some(k) => k,
            None => {
                self.elements.push(Elements::new::<T>());
                self.elements.len() - 1
            }
        };
        let found = self.elements[k].items.downcast_mut::<Vec<T>>();
        found.expect("the vector of this type")
    }

    /// The column of calls of type `(A, O)`, found past the first or
    /// added, and its index.
    #[cold]
    #[inline(never)]
    fn column<A: KeptArgs, O: Serialize + Send + 'static>(&mut self) -> (usize, &mut Vec<(A, O)>) {
        let k = match self.columns.iter().position(|c| c.calls.is::<Vec<(A, O)>>()) {
            Some(k) => k,
            None => {
                self.columns.push(Column::new::<A, O>());
                self.columns.len() - 1
            }
        };
        let found = self.columns[k].calls.downcast_mut::<Vec<(A, O)>>();
        (k, found.expect("the column of this type"))
    }

    /// The estimated size of the calls kept, not yet encoded.
    #[inline]
    pub(super) fn estimated_bytes(&self) -> u64 {
        self.estimated_bytes
    }

    pub(super) fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    /// Encodes every kept call into `bytes`, at its place, in order: the
    /// bytes are then those of a tape that encoded each call when it was
    /// recorded.
    pub(super) fn encode_into(&mut self, bytes: &mut Buf) {
        if self.places.is_empty() {
            return;
        }
        let taken = std::mem::take(bytes);
        let old = taken.bytes.as_slice();
        let mut next = vec![0usize; self.columns.len()];
        let mut next_text = vec![0usize; self.texts.len()];
        let mut from = 0;
        for &(offset, column) in &self.places {
            bytes.bytes.extend_from_slice(&old[from..offset]);
            let (c, i) = if column & TEXT == 0 {
                (&self.columns[column as usize], &mut next[column as usize])
            } else {
                let k = (column & !TEXT) as usize;
                (&self.texts[k], &mut next_text[k])
            };
            (c.encode)(&*c.calls, *i, bytes, &self.elements);
            *i += 1;
            from = offset;
        }
        bytes.bytes.extend_from_slice(&old[from..]);
        self.places.clear();
        for c in self.columns.iter_mut().chain(&mut self.texts) {
            (c.clear)(&mut *c.calls);
        }
        for e in &mut self.elements {
            (e.clear)(&mut *e.items);
        }
        self.estimated_bytes = 0;
    }

    /// Lets go of the kept calls, keeping their room (columns, element
    /// vectors, places) for the next tape of this thread.
    pub(super) fn release(&mut self) {
        let mut spare = std::mem::take(self);
        for c in spare.columns.iter_mut().chain(&mut spare.texts) {
            (c.clear)(&mut *c.calls);
        }
        for e in &mut spare.elements {
            (e.clear)(&mut *e.items);
        }
        spare.places.clear();
        spare.estimated_bytes = 0;
        let bytes = spare
            .columns
            .iter()
            .chain(&spare.texts)
            .map(|c| (c.capacity_bytes)(&*c.calls))
            .sum::<usize>()
            + spare
                .elements
                .iter()
                .map(|e| (e.capacity_bytes)(&*e.items))
                .sum::<usize>()
            + spare.places.capacity() * std::mem::size_of::<(usize, u32)>();
        if bytes <= SPARE_MAX_BYTES {
            // `try_with`: a tape dropped while the thread shuts down just frees.
            let _ = SPARE.try_with(|s| {
                let mut s = s.borrow_mut();
                if s.len() < SPARE_TAPES {
                    s.push(spare);
                }
            });
        }
    }

    /// Room a tape dropped on this thread let go of, or none.
    pub(super) fn spare() -> Self {
        SPARE
            .try_with(|s| s.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_default()
    }
}

/// The bit of a place's column that says it is a mark detail's.
const TEXT: u32 = 1 << 31;

thread_local! {
    /// The room of tapes dropped on this thread: a sweep makes a tape per
    /// seed, and growing its vectors again cost as much as keeping the
    /// calls.
    static SPARE: std::cell::RefCell<Vec<KeptCalls>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Spare rooms kept per thread, and the largest kept.
const SPARE_TAPES: usize = 8;
const SPARE_MAX_BYTES: usize = 64 << 20;

#[cfg(test)]
mod tests {
    use super::KeptText;
    use crate::Tape;

    /// A detail kept as a number.
    struct Detail(u32);

    impl KeptText for Detail {
        fn write_text(&self, out: &mut String) {
            out.push_str(&format!("n{} -> n{}: \"quoted\"", self.0 % 3, self.0));
        }
    }

    #[crate::world(clone_values)]
    trait Probe {
        fn call(&mut self, n: u32, list: &mut Vec<u32>) -> u32;
    }

    struct Real;

    impl Probe for Real {
        fn call(&mut self, n: u32, list: &mut Vec<u32>) -> u32 {
            list.clear();
            n * 2
        }
    }

    /// Kept details (`kept`) or texts written at the mark, among calls,
    /// lanes and other marks.
    fn drive(tape: &Tape, kept: bool) {
        let mut world = crate::Recorder::new(Real, tape.clone());
        for i in 0..300u32 {
            tape.set_node(Some(&format!("n{}", i % 5)));
            tape.set_virtual_time(Some(std::time::Duration::from_micros(u64::from(i / 3))));
            world.call(i, &mut vec![i; (i % 3) as usize]);
            if i % 4 == 1 {
                if kept {
                    tape.mark_fault_kept("net::drop", Detail(i));
                } else {
                    let mut text = String::new();
                    Detail(i).write_text(&mut text);
                    tape.mark_fault("net::drop", Some(&text));
                }
            }
            if i % 7 == 0 {
                tape.mark_fault("net::delay", Some("at once"));
                tape.note("a note");
            }
        }
    }

    #[test]
    fn a_kept_mark_detail_reads_as_the_text_written_at_the_mark() {
        let expected = Tape::memory();
        drive(&expected, false);
        let kept = Tape::memory();
        drive(&kept, true);
        let want = expected.contents();
        assert!(
            want.contains(r#"fault: "net::drop", detail: "n2 -> n5: \"quoted\"")"#),
            "{want}"
        );
        assert_eq!(kept.contents(), want);
        // Read again (encoded by the first read), and after more marks.
        assert_eq!(kept.contents(), want);
        kept.mark_fault_kept("net::drop", Detail(1));
        expected.mark_fault("net::drop", Some("n1 -> n1: \"quoted\""));
        assert_eq!(kept.contents(), expected.contents());
    }

    #[test]
    fn a_file_tape_writes_a_kept_mark_detail_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kept.ron");
        let file = Tape::options().create(&path).unwrap();
        drive(&file, true);
        file.finish().unwrap();
        let memory = Tape::memory();
        drive(&memory, false);
        let written = std::fs::read_to_string(&path).unwrap();
        // The headers differ (the file's holds its creation time).
        let body = |s: &str| s.split_once('\n').unwrap().1.to_string();
        assert_eq!(body(&written), body(&memory.contents()));
    }

    #[test]
    fn kept_mark_details_count_toward_the_tape_limit() {
        let tape = Tape::options().limit_bytes(2048).memory();
        for i in 0..1000 {
            tape.mark_fault_kept("net::drop", Detail(i));
            tape.mark_fault_kept("net::drop", Detail(i));
            let mut world = crate::Recorder::new(Real, tape.clone());
            world.call(i, &mut Vec::new());
        }
        let reached = tape.limit_reached().expect("the limit is reached");
        assert!(reached.calls_kept < 100, "{reached:?}");
        let text = tape.contents();
        assert!(text.contains(r#"detail: "n0 -> n0: \"quoted\"""#), "{text}");
    }
}
