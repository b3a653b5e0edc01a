//! `buffer.memory` accounting. Application threads reserve a record's worst-case wire size in
//! `send` (blocking up to `max.block.ms` when the budget is spent); the sender thread releases
//! a batch's bytes when the batch completes. The fast path is one atomic add, no lock; the lock
//! and condition variable are touched only when a thread has to wait.

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// A blocked `reserve` is woken once its bytes and a sixteenth of the budget are free.
const WAKE_SLACK_DIVISOR: usize = 16;

/// The shared byte budget.
#[derive(Debug)]
pub(crate) struct BufferMemory {
    available: AtomicI64,
    total: usize,
    waiters: AtomicUsize,
    /// While threads wait: how much must be free before `release` wakes them (see `reserve`).
    wake_at: AtomicI64,
    lock: Mutex<()>,
    cond: Condvar,
    /// How often a waiter rechecks without being notified (see `reserve`).
    repoll: Duration,
}

/// A waiter rechecks at least this often: with several waiters, `wake_at` is the last one's,
/// and a release that frees enough for another may not reach it.
const REPOLL: Duration = Duration::from_millis(10);

impl BufferMemory {
    pub(crate) fn new(total: usize) -> Self {
        Self::with_repoll(total, REPOLL)
    }

    fn with_repoll(total: usize, repoll: Duration) -> Self {
        BufferMemory {
            repoll,
            available: AtomicI64::new(total as i64),
            total,
            waiters: AtomicUsize::new(0),
            wake_at: AtomicI64::new(0),
            lock: Mutex::new(()),
            cond: Condvar::new(),
        }
    }

    /// Bytes not reserved.
    pub(crate) fn available(&self) -> usize {
        self.available.load(Ordering::Relaxed).max(0) as usize
    }

    /// The whole budget.
    pub(crate) fn total(&self) -> usize {
        self.total
    }

    /// Threads blocked in [`reserve`](Self::reserve): the sender sends everything it has
    /// without lingering while any wait.
    pub(crate) fn has_waiters(&self) -> bool {
        self.waiters.load(Ordering::Relaxed) > 0
    }

    #[inline]
    fn try_reserve(&self, n: usize) -> bool {
        let n = n as i64;
        if self.available.fetch_sub(n, Ordering::AcqRel) >= n {
            true
        } else {
            self.available.fetch_add(n, Ordering::AcqRel);
            false
        }
    }

    /// Reserves `n` bytes, waiting up to `max_block` for them (`on_wait` is called once when a
    /// wait begins, to wake the sender). Returns how long it waited on failure.
    #[inline]
    pub(crate) fn reserve(
        &self,
        n: usize,
        max_block: Duration,
        on_wait: impl FnOnce(),
    ) -> Result<(), Duration> {
        if self.try_reserve(n) {
            return Ok(());
        }
        self.reserve_waiting(n, max_block, on_wait)
    }

    #[inline(never)]
    fn reserve_waiting(&self, n: usize, max_block: Duration, on_wait: impl FnOnce()) -> Result<(), Duration> {
        let start = Instant::now();
        let deadline = start + max_block;
        // Wake when a good part of the budget is free again, not at every batch's release: a
        // producer that outruns the broker would otherwise sleep and wake once per batch, and
        // each of those round trips costs both threads more than the batch's records do.
        let slack = (self.total / WAKE_SLACK_DIVISOR) as i64;
        self.wake_at.store((n as i64 + slack).min(self.total as i64), Ordering::SeqCst);
        self.waiters.fetch_add(1, Ordering::SeqCst);
        on_wait();
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let result = loop {
            if self.try_reserve(n) {
                break Ok(());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Err(start.elapsed());
            }
            // Recheck every `repoll` even unnotified (see REPOLL).
            guard = self.cond.wait_timeout(guard, left.min(self.repoll)).unwrap_or_else(|e| e.into_inner()).0;
        };
        drop(guard);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        result
    }

    /// Returns `n` bytes to the budget and wakes waiters, if any.
    #[inline]
    pub(crate) fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        let now = self.available.fetch_add(n as i64, Ordering::AcqRel) + n as i64;
        if self.waiters.load(Ordering::SeqCst) > 0 && now >= self.wake_at.load(Ordering::SeqCst) {
            let _g = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.cond.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Never rechecks by itself within a test: only `release`'s notification can wake a waiter.
    const NO_REPOLL: Duration = Duration::from_secs(3600);

    #[test]
    fn a_reserve_that_does_not_fit_times_out_and_takes_nothing() {
        let m = BufferMemory::with_repoll(100, NO_REPOLL);
        m.reserve(80, Duration::ZERO, || {}).unwrap();
        assert_eq!(m.available(), 20);
        let mut woke_sender = false;
        assert!(m.reserve(30, Duration::from_millis(20), || woke_sender = true).is_err());
        assert!(woke_sender, "a reserve that waits wakes the sender");
        assert_eq!(m.available(), 20, "a failed reserve takes nothing");
        assert!(!m.has_waiters());
    }

    /// A blocked `reserve` is woken by the `release` that frees its bytes, not by a timer:
    /// waiters recheck only hourly here, so a lost notification fails the test at its deadline.
    #[test]
    fn release_wakes_a_blocked_reserve() {
        let m = Arc::new(BufferMemory::with_repoll(100, NO_REPOLL));
        m.reserve(80, Duration::ZERO, || {}).unwrap();
        let (m2, (tx, rx)) = (m.clone(), std::sync::mpsc::channel());
        let waiter =
            std::thread::spawn(move || tx.send(m2.reserve(30, Duration::from_secs(600), || {})).unwrap());
        let deadline = Instant::now() + Duration::from_secs(30);
        while !m.has_waiters() {
            assert!(Instant::now() < deadline, "the reserve never started waiting");
            std::thread::yield_now();
        }
        m.release(80);
        let r = rx.recv_timeout(Duration::from_secs(30)).expect("release woke the waiter");
        assert!(r.is_ok());
        waiter.join().unwrap();
        assert_eq!(m.available(), 70);
    }
}
