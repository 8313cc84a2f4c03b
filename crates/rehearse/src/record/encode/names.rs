//! Names as small numbers: serde's struct, field and variant names and
//! the call names of a tape, each a `&'static str`, are written into the
//! encoded bytes as their index in one table of the process.
//!
//! Names were kept beside the bytes as `&'static str`s (16 bytes each):
//! three quarters of a network simulation's tape, and a copy of each name
//! on every recorded call. An index is one byte for the first 128 names
//! the process meets, two up to 16,384.
//!
//! The table only grows, by the names the program passes to serde: its
//! derived impls pass literals, so it holds each name of each type once.
//! (A hand-written `Serialize` that leaks a new string per call makes the
//! table grow with it, as its own leak does.) Each thread finds the index
//! of a name it has seen in a small cache keyed by the name's address, and
//! locks the table only for a name new to that cache. Indices depend on the
//! order threads meet names, so they never leave the process: readers turn
//! them back into names ([`Names`]), and scenario files hold the names.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

struct Table {
    names: Vec<&'static str>,
    /// A name's index, by its address and length.
    index: BTreeMap<(usize, usize), u32>,
}

static TABLE: Mutex<Table> = Mutex::new(Table {
    names: Vec::new(),
    index: BTreeMap::new(),
});

fn table() -> MutexGuard<'static, Table> {
    // Nothing panics while holding the lock; a poisoned table is still whole.
    TABLE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One slot of a thread's cache: a name's address, length and index.
#[derive(Clone, Copy)]
struct Slot {
    address: usize,
    len: usize,
    index: u32,
}

/// Slots in a thread's cache (a power of two): more than the names of the
/// types a simulation records, so that each name keeps its slot.
const SLOTS: usize = 1024;

thread_local! {
    // Address 0 is no name's: an empty slot never matches.
    static CACHE: [Cell<Slot>; SLOTS] = const {
        [const { Cell::new(Slot { address: 0, len: 0, index: 0 }) }; SLOTS]
    };
}

/// The index of `name` in the process's table (added when new).
#[inline(always)]
pub(crate) fn index(name: &'static str) -> u32 {
    let address = name.as_ptr() as usize;
    let len = name.len();
    // Fibonacci hashing of the address: names sit close together in
    // memory, the multiplication spreads them over the slots.
    let slot = ((address as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as usize & (SLOTS - 1);
    CACHE.with(|cache| {
        let s = cache[slot].get();
        if s.address == address && s.len == len {
            return s.index;
        }
        second(cache, slot, name)
    })
}

/// A name not in its slot: in the next one when two names whose addresses
/// hash to one slot are both in use (a direct-mapped cache made two names
/// met at every call evict each other, and every call of a network
/// simulation took the table's lock: an eighth of a recorded run); else
/// interned. Out of line, so that the first slot's hit stays a few
/// instructions inlined at every name.
#[cold]
#[inline(never)]
fn second(cache: &[Cell<Slot>; SLOTS], slot: usize, name: &'static str) -> u32 {
    let next = (slot + 1) & (SLOTS - 1);
    let n = cache[next].get();
    if n.address == name.as_ptr() as usize && n.len == name.len() {
        return n.index;
    }
    missed(cache, slot, next, name)
}

/// A name in neither of its two slots: interned, then cached in the
/// first slot when it is free, else in the second.
fn missed(cache: &[Cell<Slot>; SLOTS], slot: usize, next: usize, name: &'static str) -> u32 {
    let address = name.as_ptr() as usize;
    let index = intern(name, address);
    let at = if cache[slot].get().address == 0 { slot } else { next };
    cache[at].set(Slot {
        address,
        len: name.len(),
        index,
    });
    index
}

#[cold]
#[inline(never)]
fn intern(name: &'static str, address: usize) -> u32 {
    let mut table = table();
    let next = u32::try_from(table.names.len()).unwrap_or(u32::MAX);
    let index = *table.index.entry((address, name.len())).or_insert(next);
    if index == next {
        table.names.push(name);
    }
    index
}

/// Turns indices back into names: a copy of the table, taken again when
/// an index is past its end (names met since).
#[derive(Debug, Default)]
pub(crate) struct Names {
    copy: RefCell<Vec<&'static str>>,
}

impl Names {
    /// The name of `index`, `None` if no name has it (a corrupt record).
    pub(crate) fn get(&self, index: u64) -> Option<&'static str> {
        let index = usize::try_from(index).ok()?;
        if let Some(name) = self.copy.borrow().get(index) {
            return Some(name);
        }
        let table = table();
        let mut copy = self.copy.borrow_mut();
        copy.clear();
        copy.extend_from_slice(&table.names);
        copy.get(index).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_keeps_its_index_and_reads_back() {
        let names = Names::default();
        let a = index("alpha-name-for-test");
        let b = index("beta-name-for-test");
        assert_ne!(a, b);
        assert_eq!(index("alpha-name-for-test"), a);
        assert_eq!(names.get(a.into()), Some("alpha-name-for-test"));
        assert_eq!(names.get(b.into()), Some("beta-name-for-test"));
        assert_eq!(names.get(u64::MAX), None);
    }

    #[test]
    fn threads_share_the_indices() {
        // One string at one address (equal literals need not share one).
        static SHARED: &str = "shared-name-for-test";
        let here = index(SHARED);
        let there = std::thread::spawn(|| index(SHARED)).join().unwrap();
        assert_eq!(here, there);
        assert_eq!(Names::default().get(there.into()), Some(SHARED));
    }

    #[test]
    fn names_that_share_a_slot_both_stay_cached() {
        // Find two names of one slot among substrings of one leaked text,
        // then ask for them in turn: both keep their index, and the
        // second one's index comes from the cache, not the table.
        let text: &'static str = Box::leak("x".repeat(64 * 1024).into_boxed_str());
        let slot_of =
            |s: &str| ((s.as_ptr() as usize as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as usize & (SLOTS - 1);
        let a = &text[..1];
        let b = (1..text.len())
            .map(|k| &text[k..k + 1])
            .find(|b| slot_of(b) == slot_of(a))
            .expect("two addresses of one slot");
        let (ia, ib) = (index(a), index(b));
        assert_ne!(ia, ib);
        for _ in 0..3 {
            assert_eq!(index(a), ia);
            assert_eq!(index(b), ib);
        }
        CACHE.with(|cache| {
            let cached = |s: &str| {
                cache
                    .iter()
                    .any(|c| c.get().address == s.as_ptr() as usize && c.get().len == s.len())
            };
            assert!(cached(a) && cached(b));
        });
    }

    #[test]
    fn the_same_address_with_another_length_is_another_name() {
        let long: &'static str = "prefix-and-more-for-test";
        let short = &long[..6];
        assert_ne!(index(long), index(short));
        assert_eq!(Names::default().get(index(short).into()), Some("prefix"));
    }
}
