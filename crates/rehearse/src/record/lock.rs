//! The lock around a tape's state: a spin lock for memory tapes, the `std`
//! mutex for file tapes.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// The lock around a tape's state. A memory tape's critical section is a
/// copy of a few bytes, and the uncontended `std` mutex (two atomic
/// read-modify-writes) was half of what recording a call cost; a spin lock
/// takes one and releases with a plain store. A thread that finds it taken
/// yields rather than spins, so a holder that was preempted (or is
/// rendering a large tape in `contents`) does not cost a whole time slice.
/// File tapes keep the `std` mutex: their callers may wait on a full writer
/// queue while holding it.
pub(super) enum Lock<T> {
    Spin(spin::mutex::SpinMutex<T, spin::relax::Yield>),
    Std(Mutex<T>),
}

pub(super) enum Guard<'a, T> {
    Spin(spin::mutex::SpinMutexGuard<'a, T, spin::relax::Yield>),
    Std(MutexGuard<'a, T>),
}

impl<T> std::ops::Deref for Guard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        match self {
            Guard::Spin(g) => g,
            Guard::Std(g) => g,
        }
    }
}

impl<T> std::ops::DerefMut for Guard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        match self {
            Guard::Spin(g) => g,
            Guard::Std(g) => g,
        }
    }
}

impl<T> Lock<T> {
    /// A spin lock (memory tapes) or a `std` mutex (file tapes).
    pub(super) fn new(value: T, spin: bool) -> Self {
        if spin {
            Self::Spin(spin::mutex::SpinMutex::<_, spin::relax::Yield>::new(value))
        } else {
            Self::Std(Mutex::new(value))
        }
    }

    #[inline]
    pub(super) fn lock(&self) -> Guard<'_, T> {
        match self {
            Self::Spin(m) => Guard::Spin(m.lock()),
            // Nothing panics while holding the lock, but a poisoned tape must
            // still be writable: recording is most valuable when something went
            // wrong.
            Self::Std(m) => Guard::Std(m.lock().unwrap_or_else(PoisonError::into_inner)),
        }
    }

    /// The value, without locking (the caller owns the lock).
    pub(super) fn get_mut(&mut self) -> &mut T {
        match self {
            Self::Spin(m) => m.get_mut(),
            Self::Std(m) => m.get_mut().unwrap_or_else(PoisonError::into_inner),
        }
    }
}
