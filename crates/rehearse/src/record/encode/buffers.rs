//! Where encoded values are kept: growable byte and name stores, the
//! inline buffer of the call being recorded and a tape's long-lived bytes.

use std::cell::Cell;

use smallvec::SmallVec;

use super::CHUNK;

/// Growable storage for encoded bytes or names: a `Vec` for tapes, a
/// `SmallVec` for the call being recorded (no allocation, no thread-local).
pub(crate) trait Store<T: Copy>: Default {
    fn push(&mut self, v: T);
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

/// `Vec` and `SmallVec` store through their own inherent methods.
macro_rules! store_by_inherent_methods {
    ($([$($generics:tt)*] $ty:ty),*) => {$(
        impl<$($generics)*> Store<T> for $ty {
            #[inline]
            fn push(&mut self, v: T) {
                Self::push(self, v);
            }
            #[inline]
            fn extend_from_slice(&mut self, s: &[T]) {
                Self::extend_from_slice(self, s);
            }
            #[inline]
            fn as_slice(&self) -> &[T] {
                self
            }
            #[inline]
            fn truncate(&mut self, len: usize) {
                Self::truncate(self, len);
            }
        }
    )*};
}

store_by_inherent_methods!([T: Copy] Vec<T>, [T: Copy, const N: usize] SmallVec<[T; N]>);

/// Bytes on the stack while they fit (a recorded call's values nearly
/// always do), then on the heap. Writes copy a whole fixed-size chunk and
/// keep only the bytes used, so a varint costs two stores, not one
/// length update per byte.
#[derive(Debug, Clone)]
pub(crate) struct InlineBytes {
    len: usize,
    inline: [u8; INLINE],
    /// All the bytes once they outgrew `inline`.
    heap: Option<Vec<u8>>,
}

const INLINE: usize = 96;

impl Default for InlineBytes {
    #[inline]
    fn default() -> Self {
        Self {
            len: 0,
            inline: [0; INLINE],
            heap: None,
        }
    }
}

impl InlineBytes {
    /// Appends these bytes to `to`.
    #[inline]
    pub(crate) fn append_to(&self, to: &mut TapeBytes) {
        match &self.heap {
            None => to.put_array(&self.inline, self.len),
            Some(heap) => to.extend_from_slice(heap),
        }
    }

    #[cold]
    fn spill(&mut self) -> &mut Vec<u8> {
        let inline = &self.inline[..self.len];
        self.heap.get_or_insert_with(|| {
            // A buffer a previous large call let go of, so that a world
            // passing big values does not allocate on every call.
            let mut heap = SPILLED.try_with(Cell::take).unwrap_or_default();
            heap.clear();
            heap.extend_from_slice(inline);
            heap
        })
    }
}

thread_local! {
    static SPILLED: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

impl Drop for InlineBytes {
    #[inline]
    fn drop(&mut self) {
        if let Some(heap) = self.heap.take() {
            // Oversized buffers are freed, so memory stays flat.
            if heap.capacity() <= 1 << 20 {
                let _ = SPILLED.try_with(|s| s.set(heap));
            }
        }
    }
}

impl Store<u8> for InlineBytes {
    #[inline]
    fn push(&mut self, v: u8) {
        self.put(&[v; CHUNK], 1);
    }
    #[inline]
    fn extend_from_slice(&mut self, s: &[u8]) {
        match self.inline.get_mut(self.len..self.len + s.len()) {
            Some(to) if self.heap.is_none() => {
                to.copy_from_slice(s);
                self.len += s.len();
            }
            _ => self.spill().extend_from_slice(s),
        }
    }
    #[inline]
    fn put(&mut self, chunk: &[u8; CHUNK], used: usize) {
        let to: Option<&mut [u8; CHUNK]> = self
            .inline
            .get_mut(self.len..self.len + CHUNK)
            .and_then(|to| to.try_into().ok());
        match to {
            Some(to) if self.heap.is_none() => {
                *to = *chunk;
                self.len += used;
            }
            _ => self.spill().extend_from_slice(&chunk[..used]),
        }
    }
    #[inline]
    fn as_slice(&self) -> &[u8] {
        match &self.heap {
            Some(heap) => heap,
            None => &self.inline[..self.len],
        }
    }
    #[inline]
    fn truncate(&mut self, len: usize) {
        match &mut self.heap {
            Some(heap) => heap.truncate(len),
            None => self.len = self.len.min(len),
        }
    }
}

/// Values encoded one after another: the bytes and the names they use.
#[derive(Debug, Default, Clone)]
pub(crate) struct Enc<B, N> {
    pub(crate) bytes: B,
    pub(crate) names: N,
}

/// Encoded values kept for long: a tape's calls.
pub(crate) type Buf = Enc<TapeBytes, Vec<&'static str>>;

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

    /// The buffer's size in memory.
    pub(crate) fn capacity(&self) -> usize {
        self.data.capacity()
    }

    /// Appends `chunk[..used]` by copying all of `chunk`.
    #[inline]
    fn put_array<const N: usize>(&mut self, chunk: &[u8; N], used: usize) {
        if self.data.len() < self.len + N {
            self.grow(N);
        }
        if let Some(to) = self.data.get_mut(self.len..self.len + N) {
            to.copy_from_slice(chunk);
            self.len += used.min(N);
        }
    }
}

impl Store<u8> for TapeBytes {
    #[inline]
    fn push(&mut self, v: u8) {
        self.put_array(&[v], 1);
    }
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
/// message of a few nested enums and structs uses a dozen names and some
/// 60 bytes (spilling them to the heap was half of what recording a network
/// simulation's call cost).
pub(crate) type Scratch = Enc<InlineBytes, SmallVec<[&'static str; 24]>>;
