//! Where encoded values are kept: growable byte and name stores, the
//! inline buffer of the call being recorded and a tape's long-lived bytes.

use std::cell::Cell;

use super::CHUNK;

/// Growable storage for encoded bytes: [`TapeBytes`] for tapes,
/// [`InlineBytes`] for the call being recorded (no allocation, no
/// thread-local).
pub(crate) trait Store<T: Copy>: Default + PutSmall {
    fn extend_from_slice(&mut self, s: &[T]);
    fn as_slice(&self) -> &[T];
    fn truncate(&mut self, len: usize);
    fn clear(&mut self) {
        self.truncate(0);
    }
    fn len(&self) -> usize {
        self.as_slice().len()
    }
    /// Appends `chunk[..used]`.
    #[inline]
    fn put(&mut self, chunk: &[T; CHUNK], used: usize) {
        self.extend_from_slice(&chunk[..used]);
    }
}

/// Small writes from a register: the `used` low bytes of `packed`,
/// little-endian (at most 16). Building a value in a register and storing
/// it whole, rather than byte by byte into a buffer on the stack that is
/// then copied, spares the processor a store it cannot forward to the
/// copy's wider load (a stall of some 10 cycles, at every name).
pub(crate) trait PutSmall {
    fn put_small(&mut self, packed: u128, used: usize);
}

/// Bytes on the stack while they fit (a recorded call's values nearly
/// always do), then on the heap. Writes copy a whole fixed-size chunk and
/// keep only the bytes used, so a varint costs two stores, not one
/// length update per byte; and while the bytes fit, a write checks one
/// number (`len`, which is [`SPILLED`] once they are on the heap).
#[derive(Debug, Clone)]
pub(crate) struct InlineBytes {
    len: usize,
    inline: [u8; INLINE],
    /// All the bytes once they outgrew `inline`.
    heap: Vec<u8>,
}

/// Room on the stack: a network simulation's call (a step with a node's
/// outputs and the event it delivers) takes up to some 200 bytes for a
/// few outputs, and a spill to the heap cost more than the rest of
/// recording it; more room costs its zeroing at every call.
const INLINE: usize = 256;

/// Values up to this long are appended with one fixed-size copy.
const SHORT: usize = 128;

/// `InlineBytes::len` once the bytes are on the heap.
const SPILLED: usize = usize::MAX;

impl Default for InlineBytes {
    #[inline]
    fn default() -> Self {
        Self {
            len: 0,
            inline: [0; INLINE],
            heap: Vec::new(),
        }
    }
}

impl InlineBytes {
    /// Appends these bytes to `to`.
    #[inline]
    pub(crate) fn append_to(&self, to: &mut TapeBytes) {
        if let (true, Some(short)) = (self.len <= SHORT, self.inline.first_chunk::<SHORT>()) {
            // A short value: one fixed-size copy.
            to.put_array(short, self.len);
        } else if self.len <= INLINE {
            to.extend_from_slice(&self.inline[..self.len]);
        } else {
            to.extend_from_slice(&self.heap);
        }
    }

    /// Appends `s` when the bytes are on the heap or `s` does not fit.
    #[cold]
    fn extend_slow(&mut self, s: &[u8]) {
        if self.len != SPILLED {
            if let Some(to) = self.inline.get_mut(self.len..self.len + s.len()) {
                to.copy_from_slice(s);
                self.len += s.len();
                return;
            }
            // A buffer a previous large call let go of, so that a world
            // passing big values does not allocate on every call.
            let mut heap = SPARE_HEAP.try_with(Cell::take).unwrap_or_default();
            heap.clear();
            heap.extend_from_slice(&self.inline[..self.len]);
            self.heap = heap;
            self.len = SPILLED;
        }
        self.heap.extend_from_slice(s);
    }
}

thread_local! {
    static SPARE_HEAP: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

impl Drop for InlineBytes {
    #[inline]
    fn drop(&mut self) {
        if self.len == SPILLED {
            let heap = std::mem::take(&mut self.heap);
            // Oversized buffers are freed, so memory stays flat.
            if heap.capacity() <= 1 << 20 {
                let _ = SPARE_HEAP.try_with(|s| s.set(heap));
            }
        }
    }
}

impl PutSmall for InlineBytes {
    #[inline]
    fn put_small(&mut self, packed: u128, used: usize) {
        let at = self.len;
        if at <= INLINE - 16 {
            self.inline[at..at + 16].copy_from_slice(&packed.to_le_bytes());
            self.len = at + used;
        } else {
            self.extend_slow(&packed.to_le_bytes()[..used.min(16)]);
        }
    }
}

impl Store<u8> for InlineBytes {
    #[inline]
    fn extend_from_slice(&mut self, s: &[u8]) {
        match self.inline.get_mut(self.len..self.len.wrapping_add(s.len())) {
            Some(to) => {
                to.copy_from_slice(s);
                self.len += s.len();
            }
            None => self.extend_slow(s),
        }
    }
    #[inline]
    fn put(&mut self, chunk: &[u8; CHUNK], used: usize) {
        let at = self.len;
        if at <= INLINE - CHUNK {
            self.inline[at..at + CHUNK].copy_from_slice(chunk);
            self.len = at + used;
        } else {
            self.extend_slow(&chunk[..used]);
        }
    }
    #[inline]
    fn as_slice(&self) -> &[u8] {
        if self.len <= INLINE {
            &self.inline[..self.len]
        } else {
            &self.heap
        }
    }
    #[inline]
    fn truncate(&mut self, len: usize) {
        if self.len <= INLINE {
            self.len = self.len.min(len);
        } else {
            self.heap.truncate(len);
        }
    }
}

/// Values encoded one after another.
#[derive(Debug, Default, Clone)]
pub(crate) struct Enc<B> {
    pub(crate) bytes: B,
}

/// Encoded values kept for long: a tape's calls.
pub(crate) type Buf = Enc<TapeBytes>;

/// A tape's bytes: a buffer whose every byte is initialized (grown with
/// zeros) and a length, so that writes copy whole fixed-size chunks into
/// room already there, without a capacity check per byte.
#[derive(Debug, Clone, Default)]
pub(crate) struct TapeBytes {
    data: Vec<u8>,
    len: usize,
}

impl TapeBytes {
    /// These bytes, in a buffer of their size.
    pub(crate) fn from_slice(bytes: &[u8]) -> Self {
        Self {
            data: bytes.to_vec(),
            len: bytes.len(),
        }
    }

    /// Room for `n` more bytes.
    #[cold]
    fn grow(&mut self, n: usize) {
        let want = (self.len + n).max(self.data.len() * 2).max(4096);
        self.data.resize(want, 0);
    }

    /// Frees the room grown beyond the bytes held.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.data.truncate(self.len);
        self.data.shrink_to_fit();
    }

    /// The buffer's size in memory.
    pub(crate) fn capacity(&self) -> usize {
        self.data.capacity()
    }

    /// Appends `chunk[..used]` by copying all of `chunk`.
    #[inline]
    pub(crate) fn put_array<const N: usize>(&mut self, chunk: &[u8; N], used: usize) {
        if self.data.len() < self.len + N {
            self.grow(N);
        }
        if let Some(to) = self.data.get_mut(self.len..self.len + N) {
            to.copy_from_slice(chunk);
            self.len += used.min(N);
        }
    }
}

impl PutSmall for TapeBytes {
    #[inline]
    fn put_small(&mut self, packed: u128, used: usize) {
        self.put_array(&packed.to_le_bytes(), used);
    }
}

impl Store<u8> for TapeBytes {
    #[inline]
    fn extend_from_slice(&mut self, s: &[u8]) {
        if self.data.len() < self.len + s.len() {
            self.grow(s.len());
        }
        if let Some(to) = self.data.get_mut(self.len..self.len + s.len()) {
            to.copy_from_slice(s);
            self.len += s.len();
        }
    }
    #[inline]
    fn put(&mut self, chunk: &[u8; CHUNK], used: usize) {
        self.put_array(chunk, used);
    }
    #[inline]
    fn as_slice(&self) -> &[u8] {
        &self.data[..self.len]
    }
    #[inline]
    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

/// The values of one call being recorded, on the stack while they fit: a
/// message of a few nested enums and structs takes some 70 bytes, names
/// included (spilling them to the heap was half of what recording a
/// network simulation's call cost).
pub(crate) type Scratch = Enc<InlineBytes>;
