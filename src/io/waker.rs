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

/// Wakes a parked sender from any thread. Cheap when the sender is not parked: one atomic swap,
/// no syscall. See the module docs of [`crate::io`] for the parking protocol.
#[derive(Debug)]
pub struct Waker {
    fd: OwnedFd,
    parked: AtomicBool,
    /// While parked: the sender will wake by itself within its linger window, so work that may
    /// wait that long needs no wake-up.
    due_soon: AtomicBool,
    writes: AtomicU64,
    /// Times the sender waited in the kernel (written by the sender only).
    parks: AtomicU64,
}

impl Waker {
    pub(crate) fn new() -> io::Result<Waker> {
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
            due_soon: AtomicBool::new(false),
            writes: AtomicU64::new(0),
            parks: AtomicU64::new(0),
        })
    }

    /// Whether the sender may be parked, after a full fence (so that a message pushed before
    /// this call is either seen by the sender before it parks, or this returns `true`). A
    /// `false` means no wake-up is needed; `true` is followed by [`wake`](Self::wake) or
    /// [`wake_lazy`](Self::wake_lazy).
    #[inline]
    pub fn parked(&self) -> bool {
        // The fence orders the caller's publication of work before the read of `parked` (the
        // sender's side is a SeqCst store of `parked` before it rechecks its queues), so one of
        // the two always sees the other. A plain load then keeps the cache line shared among
        // application threads while the sender is busy; only a parked sender costs a swap.
        std::sync::atomic::fence(Ordering::SeqCst);
        self.parked.load(Ordering::Relaxed)
    }

    /// [`parked`](Self::parked) for a caller that has just executed a full fence after
    /// publishing its work (as [`queue::Tx::try_send_over`](super::queue::Tx::try_send_over)
    /// does): the fence is what orders the publication before the read, and a second one
    /// costs `send` a pipeline drain for nothing.
    #[inline]
    pub fn parked_after_fence(&self) -> bool {
        self.parked.load(Ordering::Relaxed)
    }

    /// Wakes the sender unless it announced (with
    /// [`Driver::prepare_park_lazy`](super::Driver::prepare_park_lazy)) that it will wake by
    /// itself soon enough: work that may wait that long (a record that may linger) rides along
    /// with the wake-up the sender has already planned, at no cost. Reads no clock. Call it
    /// after publishing the work.
    pub fn wake_lazy(&self) {
        if !self.parked() {
            return;
        }
        // Read after `parked`; the sender stores it before `parked`, so it belongs to this park.
        if self.due_soon.load(Ordering::Acquire) {
            return;
        }
        self.wake();
    }

    /// Wakes the sender if it is parked (or about to park) in [`Driver::poll`](super::Driver::poll).
    /// Call it after publishing the work the sender should see.
    pub fn wake(&self) {
        if !self.parked() {
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

    /// How many times the sender waited in the kernel ([`Driver::poll`](super::Driver::poll)
    /// with a timeout other than zero). For metrics.
    pub fn parks(&self) -> u64 {
        self.parks.load(Ordering::Relaxed)
    }

    pub(super) fn note_park(&self) {
        // Only the sender writes it: a load and a store, no locked instruction.
        self.parks.store(self.parks.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Whether the sender has announced it is about to park (and nobody woke it yet).
    pub fn is_parked(&self) -> bool {
        self.parked.load(Ordering::SeqCst)
    }

    pub(super) fn set_parked(&self, parked: bool) {
        self.parked.store(parked, Ordering::SeqCst);
    }

    pub(super) fn set_due_soon(&self, due_soon: bool) {
        self.due_soon.store(due_soon, Ordering::Release);
    }

    pub(super) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
