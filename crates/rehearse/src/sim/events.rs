//! [`EventQueue`]: timed events in a deterministic order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
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
/// The heap holds only (time, sequence number, slot), 24 to 32 bytes; the
/// events wait in a slab of slots reused as they are popped. A heap of the
/// events themselves moved each one (80 bytes for a network message) at
/// every level of every push and pop: a third of an unrecorded network
/// run's time went there.
#[derive(Debug)]
pub(crate) struct Timed<K, E> {
    heap: BinaryHeap<Reverse<(K, u64, u32)>>,
    slots: Vec<Option<E>>,
    free: Vec<u32>,
    next_seq: u64,
}

impl<K: Ord + Copy, E> Timed<K, E> {
    pub(crate) fn new() -> Self {
        Self {
            heap: BinaryHeap::new(),
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
        self.heap.push(Reverse((at, seq, slot)));
    }

    #[inline]
    pub(crate) fn peek_time(&self) -> Option<K> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    #[inline]
    pub(crate) fn pop(&mut self) -> Option<(K, E)> {
        let Reverse((at, _, slot)) = self.heap.pop()?;
        let event = self.slots[slot as usize].take()?;
        self.free.push(slot);
        Some((at, event))
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}
