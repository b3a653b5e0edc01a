//! The cross-thread wake-up: an eventfd plus a `parked` flag.
//!
//! Owns the eventfd (closed when the last `Arc<Waker>` is dropped). Must not touch the ring: the
//! driver keeps one `Read` on the eventfd outstanding and re-arms it itself.
//!
//! # Parking protocol
//! 1. The sender calls [`Driver::prepare_park`](super::Driver::prepare_park): `parked = true`
//!    (SeqCst).
//! 2. It rechecks its application queues. Found work → [`Driver::cancel_park`](super::Driver::cancel_park)
//!    and handle it. Nothing → [`Driver::poll`](super::Driver::poll) with `None` or a deadline.
//! 3. `poll` stores `parked = false` (SeqCst) before it returns, whatever woke it.
//!
//! An application thread first pushes its work into a queue, then calls [`Waker::wake`], which
//! does `if parked.swap(false, SeqCst) { write(eventfd, 1) }`. Either the push happened before
//! the recheck in step 2 (the sender sees the work), or the swap happens after step 1 (it sees
//! `true` and writes the eventfd, so the pending `Read` completes and `poll` returns). While the
//! sender is busy (`parked == false`) a wake costs one atomic swap and no syscall. A write that
//! races with `cancel_park` only makes a later `poll` return early with no events, which callers
//! must tolerate anyway.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// Wakes a parked sender from any thread. Cheap when the sender is not parked: one atomic swap,
/// no syscall. See the module docs of [`crate::io`] for the parking protocol.
#[derive(Debug)]
pub struct Waker {
    fd: OwnedFd,
    parked: AtomicBool,
    /// While parked: when the sender will wake by itself, in nanoseconds since `base`
    /// (`u64::MAX`: not before something wakes it).
    parked_until: AtomicU64,
    base: Instant,
    writes: AtomicU64,
}

impl Waker {
    pub(super) fn new() -> io::Result<Waker> {
        // SAFETY: eventfd takes no pointers; the flags are valid constants.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by eventfd, is open, and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Waker {
            fd,
            parked: AtomicBool::new(false),
            parked_until: AtomicU64::new(u64::MAX),
            base: Instant::now(),
            writes: AtomicU64::new(0),
        })
    }

    fn nanos(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.base).as_nanos().min(u128::from(u64::MAX - 1)) as u64
    }

    /// Wakes the sender only if it is parked until later than `deadline`: work that need not be
    /// looked at before `deadline` (a record that may linger until then) rides along with the
    /// wake-up the sender has already planned, at no cost. Call it after publishing the work.
    pub fn wake_by(&self, deadline: Instant) {
        std::sync::atomic::fence(Ordering::SeqCst);
        if !self.parked.load(Ordering::Relaxed) {
            return;
        }
        // The deadline is read after `parked`; the sender stores it before `parked`, so a
        // parked sender's deadline is the one of this park.
        if self.parked_until.load(Ordering::Acquire) <= self.nanos(deadline) {
            return;
        }
        self.wake();
    }

    /// Wakes the sender if it is parked (or about to park) in [`Driver::poll`](super::Driver::poll).
    /// Call it after publishing the work the sender should see.
    pub fn wake(&self) {
        // The fence orders the caller's publication of work before the read of `parked` (the
        // sender's side is a SeqCst store of `parked` before it rechecks its queues), so one of
        // the two always sees the other. A plain load then keeps the cache line shared among
        // application threads while the sender is busy; only a parked sender costs a swap.
        std::sync::atomic::fence(Ordering::SeqCst);
        if !self.parked.load(Ordering::Relaxed) {
            return;
        }
        if self.parked.swap(false, Ordering::SeqCst) {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live local u64 to an eventfd we own; the fd stays
            // open for the duration of the call because `self` owns it.
            let n = unsafe {
                libc::write(
                    self.fd.as_raw_fd(),
                    (&one as *const u64).cast::<libc::c_void>(),
                    std::mem::size_of::<u64>(),
                )
            };
            // n < 0 can only be EAGAIN (counter at u64::MAX - 1: a wake-up is already pending)
            // or EINTR before anything was written; in both cases nothing is lost that matters
            // except EINTR, which we retry once.
            if n < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                // SAFETY: same as above.
                unsafe {
                    libc::write(
                        self.fd.as_raw_fd(),
                        (&one as *const u64).cast::<libc::c_void>(),
                        std::mem::size_of::<u64>(),
                    )
                };
            }
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many times [`wake`](Self::wake) actually wrote the eventfd (i.e. found the sender
    /// parked). For tests and metrics.
    pub fn wakeups(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// Whether the sender has announced it is about to park (and nobody woke it yet).
    pub fn is_parked(&self) -> bool {
        self.parked.load(Ordering::SeqCst)
    }

    pub(super) fn set_parked(&self, parked: bool) {
        self.parked.store(parked, Ordering::SeqCst);
    }

    pub(super) fn set_parked_until(&self, until: Option<Instant>) {
        let n = until.map_or(u64::MAX, |t| self.nanos(t));
        self.parked_until.store(n, Ordering::Release);
    }

    pub(super) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
