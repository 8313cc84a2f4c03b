//! [`EventQueue`]: timed events in a deterministic order.

use std::cmp::Ordering;
use std::time::Duration;

use super::Sim;

/// Timed events in deterministic order: earliest first, and events at the
/// same time in the order they were scheduled.
#[derive(Debug)]
pub struct EventQueue<E> {
    inner: Timed<Duration, E>,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self { inner: Timed::new() }
    }

    /// Schedules `event` at virtual time `at`.
    pub fn schedule(&mut self, at: Duration, event: E) {
        self.inner.schedule(at, event);
    }

    /// The time of the earliest event.
    pub fn peek_time(&self) -> Option<Duration> {
        self.inner.peek_time()
    }

    /// Removes the earliest event.
    pub fn pop(&mut self) -> Option<(Duration, E)> {
        self.inner.pop()
    }

    /// Removes the earliest event and moves the sim's clock to its time.
    pub fn pop_advancing(&mut self, sim: &Sim) -> Option<(Duration, E)> {
        let (at, e) = self.pop()?;
        sim.advance_to(at);
        Some((at, e))
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// True when no event waits.
    pub fn is_empty(&self) -> bool {
        self.inner.len() == 0
    }
}

/// The queue behind [`EventQueue`], on any time type (`SimNet` keeps
/// microseconds as `u64`): earliest first, ties in scheduling order.
///
/// A 4-ary min-heap of (time, sequence number, slot), 24 to 32 bytes an
/// entry; the events wait in a slab of slots reused as they are popped. A
/// binary heap of the events themselves moved each one (80 bytes for a
/// network message) at every level of every push and pop: a fifth of an
/// unrecorded network run's time went there. Four children per node halve
/// the levels a pop walks down, for a compare more per level.
#[derive(Debug)]
pub(crate) struct Timed<K, E> {
    heap: Vec<Key<K>>,
    slots: Vec<Option<E>>,
    free: Vec<u32>,
    next_seq: u64,
}

impl<K: Ord + Copy, E> Timed<K, E> {
    pub(crate) fn new() -> Self {
        Self {
            heap: Vec::new(),
            slots: Vec::new(),
            free: Vec::new(),
            next_seq: 0,
        }
    }

    #[inline]
    pub(crate) fn schedule(&mut self, at: K, event: E) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(event);
                slot
            }
            None => {
                // More than 4 billion events waiting at once would not fit
                // in memory anyway.
                let slot = u32::try_from(self.slots.len()).expect("fewer than 2^32 events waiting");
                self.slots.push(Some(event));
                slot
            }
        };
        // Sift up.
        let key = Key { at, seq, slot };
        let mut i = self.heap.len();
        self.heap.push(key);
        while i > 0 {
            let parent = (i - 1) / 4;
            if !key.before(&self.heap[parent]) {
                break;
            }
            self.heap[i] = self.heap[parent];
            i = parent;
        }
        self.heap[i] = key;
    }

    #[inline]
    pub(crate) fn peek_time(&self) -> Option<K> {
        self.heap.first().map(|k| k.at)
    }

    #[inline]
    pub(crate) fn pop(&mut self) -> Option<(K, E)> {
        let last = self.heap.pop()?;
        let top = match self.heap.first().copied() {
            None => last,
            Some(top) => {
                // Sift the last entry down from the root.
                let n = self.heap.len();
                let mut i = 0;
                loop {
                    let first = 4 * i + 1;
                    if first >= n {
                        break;
                    }
                    let end = (first + 4).min(n);
                    let mut best = first;
                    for c in first + 1..end {
                        if self.heap[c].before(&self.heap[best]) {
                            best = c;
                        }
                    }
                    if !self.heap[best].before(&last) {
                        break;
                    }
                    self.heap[i] = self.heap[best];
                    i = best;
                }
                self.heap[i] = last;
                top
            }
        };
        let event = self.slots[top.slot as usize].take()?;
        self.free.push(top.slot);
        Some((top.at, event))
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

/// An entry of [`Timed`]'s heap: ordered by time then sequence number
/// (unique, so the slot never decides).
#[derive(Debug, Clone, Copy)]
struct Key<K> {
    at: K,
    seq: u64,
    slot: u32,
}

impl<K: Ord> Key<K> {
    #[inline(always)]
    fn before(&self, other: &Self) -> bool {
        match self.at.cmp(&other.at) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => self.seq < other.seq,
        }
    }
}
