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
/// Only keys (time, sequence number, slot; 24 to 32 bytes) are ordered; the
/// events wait in a slab of slots reused as they are popped. A binary heap
/// of the events themselves moved each one (80 bytes for a network
/// message) at every level of every push and pop: a fifth of an unrecorded
/// network run's time went there.
///
/// The keys are a list sorted latest first while the queue is short (a
/// network simulation keeps about ten events waiting: a pop takes the
/// last, a push shifts a few keys), and a 4-ary min-heap once it has held
/// more than [`SORTED_MAX`] (a shift would then cost more than a walk down
/// the heap). Both give the same order.
#[derive(Debug)]
pub(crate) struct Timed<K, E> {
    keys: Vec<Key<K>>,
    /// `keys` is a heap, not a sorted list.
    heap: bool,
    slots: Vec<Option<E>>,
    free: Vec<u32>,
    next_seq: u64,
}

/// The most keys [`Timed`] keeps as a sorted list.
const SORTED_MAX: usize = 64;

/// The most keys [`Timed::schedule`] walks past from the end of the sorted
/// list before it searches instead.
const WALK_MAX: usize = 8;

impl<K: Time, E> Timed<K, E> {
    pub(crate) fn new() -> Self {
        Self {
            keys: Vec::new(),
            heap: false,
            slots: Vec::new(),
            free: Vec::new(),
            next_seq: 0,
        }
    }

    #[inline(always)]
    pub(crate) fn schedule(&mut self, at: K, event: E) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(event);
                slot
            }
            None => self.push_slot(event),
        };
        let key = Key { at, seq, slot };
        let n = self.keys.len();
        if self.heap || n >= SORTED_MAX {
            return self.push_heap(key);
        }
        // Latest first: after every key later than this one. Its sequence
        // number is the largest yet, so a key is before it when its time
        // is not later: one comparison of times.
        if n > WALK_MAX && self.keys[n - WALK_MAX].at <= at {
            // Far from the end (a timer): a binary search and a shift.
            let place = self.keys.partition_point(|k| at < k.at);
            self.keys.insert(place, key);
            return;
        }
        // Near the end, the earliest (a message due in a few ms passes
        // the few events due before it): walked from there, cheaper than
        // a binary search and a `memmove` (a seventh of an unrecorded
        // network run was in `schedule`). Both find the same place.
        self.keys.push(key);
        let keys = self.keys.as_mut_slice();
        let mut i = keys.len() - 1;
        while i > 0 {
            let earlier = keys[i - 1];
            if earlier.at > at {
                break;
            }
            keys[i] = earlier;
            i -= 1;
        }
        keys[i] = key;
    }

    /// A new slot for `event` (none free).
    #[inline(never)]
    fn push_slot(&mut self, event: E) -> u32 {
        // More than 4 billion events waiting at once would not fit in
        // memory anyway.
        let slot = u32::try_from(self.slots.len()).expect("fewer than 2^32 events waiting");
        self.slots.push(Some(event));
        slot
    }

    /// [`Timed::schedule`] once the keys are (or become) a heap.
    #[inline(never)]
    fn push_heap(&mut self, key: Key<K>) {
        if !self.heap {
            // Earliest first is a valid heap.
            self.keys.reverse();
            self.heap = true;
        }
        // Sift up.
        let mut i = self.keys.len();
        self.keys.push(key);
        while i > 0 {
            let parent = (i - 1) / 4;
            if !key.before(&self.keys[parent]) {
                break;
            }
            self.keys[i] = self.keys[parent];
            i = parent;
        }
        self.keys[i] = key;
    }

    #[inline]
    pub(crate) fn peek_time(&self) -> Option<K> {
        if self.heap {
            self.keys.first().map(|k| k.at)
        } else {
            self.keys.last().map(|k| k.at)
        }
    }

    #[inline]
    pub(crate) fn pop(&mut self) -> Option<(K, E)> {
        let top = if self.heap { self.pop_heap()? } else { self.keys.pop()? };
        let event = self.slots[top.slot as usize].take()?;
        self.free.push(top.slot);
        Some((top.at, event))
    }

    /// Removes the earliest event when it is due before `until`.
    #[inline]
    pub(crate) fn pop_before(&mut self, until: K) -> Option<(K, E)> {
        let top = if self.heap {
            if self.keys.first()?.at >= until {
                return None;
            }
            self.pop_heap()?
        } else {
            if self.keys.last()?.at >= until {
                return None;
            }
            self.keys.pop()?
        };
        let event = self.slots[top.slot as usize].take()?;
        self.free.push(top.slot);
        Some((top.at, event))
    }

    fn pop_heap(&mut self) -> Option<Key<K>> {
        let last = self.keys.pop()?;
        let Some(top) = self.keys.first().copied() else {
            return Some(last);
        };
        // Sift the last entry down from the root.
        let n = self.keys.len();
        let mut i = 0;
        loop {
            let first = 4 * i + 1;
            if first >= n {
                break;
            }
            let end = (first + 4).min(n);
            let mut best = first;
            for c in first + 1..end {
                if self.keys[c].before(&self.keys[best]) {
                    best = c;
                }
            }
            if !self.keys[best].before(&last) {
                break;
            }
            self.keys[i] = self.keys[best];
            i = best;
        }
        self.keys[i] = last;
        Some(top)
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
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

impl<K: Time> Key<K> {
    #[inline(always)]
    fn before(&self, other: &Self) -> bool {
        K::before(self.at, self.seq, other.at, other.seq)
    }
}

/// A time [`Timed`] orders events by.
pub(crate) trait Time: Ord + Copy {
    /// Whether `(a, a_seq)` comes before `(b, b_seq)`: by time, then by
    /// sequence number.
    #[inline(always)]
    fn before(a: Self, a_seq: u64, b: Self, b_seq: u64) -> bool {
        match a.cmp(&b) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => a_seq < b_seq,
        }
    }
}

impl Time for Duration {}

/// Microseconds (`SimNet`): time and sequence number compared as one
/// 128-bit number, without a branch (the comparisons of a schedule's
/// binary search were a tenth of an unrecorded network run).
impl Time for u64 {
    #[inline(always)]
    fn before(a: Self, a_seq: u64, b: Self, b_seq: u64) -> bool {
        (u128::from(a) << 64 | u128::from(a_seq)) < (u128::from(b) << 64 | u128::from(b_seq))
    }
}
