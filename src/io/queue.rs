//! The bounded queue from application threads to the sender: many producers, one consumer.
//!
//! # Why not `crossbeam_channel::bounded`
//! Its `try_send` *loads* two lines the receiver writes: the slot's stamp (the receiver stamps
//! every slot it empties) and the tail index it shares with the receiver. While the sender
//! drains behind a sending thread, each of those loads misses and waits for the line to come
//! back from the sender's core: most of what `send()` cost in the criterion bench.
//!
//! Here a producer loads nothing the consumer writes on its fast path:
//! - a producer claims slot `t` by a CAS on `tail`, a line only producers touch;
//! - it checks room against `cached_head`, the consumer's index as some producer last read it,
//!   and reads the real `head` only when that cached value says the queue is full;
//! - it writes the message and publishes it by storing `seq = t + 1` in the slot;
//! - the consumer reads slot `h` when `seq == h + 1`, takes the message, and stores `head`; it
//!   never writes the slot, because the next lap's `seq` (`t + cap + 1`) is different anyway.
//!
//! So a producer only writes lines the consumer read; it never loads one the consumer is
//! writing. What is left to the caller: the CAS, the fence that orders the publication before
//! the read of the sender's `parked` flag (see [`Waker`](super::Waker)), and getting the
//! slot's lines back from the consumer's core. The stores themselves go to the store buffer,
//! but the CAS and the fence wait for it to drain: PERF.md's profile puts most of `send()`'s
//! remaining time there.
//!
//! # Messages are handled where they lie
//! The consumer handles a message in its slot ([`Rx::try_recv_with`]), by reference, instead of
//! moving it out: what it leaves there (for a record, its key and value buffers, once their
//! bytes are in a batch) stays in the slot until a producer writes the slot again, one lap
//! later, and drops it on its own thread just before. So the application thread that allocated
//! a buffer most likely frees it too (the allocator's thread cache takes it back for the next
//! allocation, where a free on the sender's thread would cost both threads), and handing the
//! buffers back costs no channel and no copy. A message taken out ([`Rx::try_recv`]) leaves
//! its slot empty; a slot's `seq` is zero exactly when it holds nothing.
//!
//! # Full, and gone
//! - Full: [`Tx::send_timeout`] waits on a condition variable; the consumer notifies it after
//!   it has freed an eighth of the queue (checked once per [`Rx::try_recv`] that frees room
//!   while somebody waits), and waiters also recheck every millisecond.
//! - Receiver gone: [`Rx`]'s drop marks the queue and drops every message left in it. A message
//!   published while that happens is dropped by its own producer, which checks the mark after
//!   publishing (behind a fence); so no message is ever stranded. Dropping a message is how its
//!   completion learns it was not sent (see `Completion`'s drop).
//! - Senders gone: [`Rx::try_recv`] reports [`TryRecvError::Disconnected`] once the queue is
//!   empty.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Keeps what it holds on its own pair of cache lines (adjacent-line prefetch pulls in pairs).
#[repr(align(128))]
struct Padded<T>(T);

struct Slot<T> {
    /// `t + 1` once message `t` is in the slot; anything else means not (yet) published. Zero
    /// exactly when `msg` holds nothing: before the slot is first written, and after a message
    /// was taken out of it; a message handled in place leaves what is left of it, and `seq`.
    seq: AtomicUsize,
    msg: UnsafeCell<MaybeUninit<T>>,
}

struct Shared<T> {
    /// Producers' line: the next index to claim, and the consumer's `head` as last read.
    tail: Padded<(AtomicUsize, AtomicUsize)>,
    /// Consumer's line: the next index to take.
    head: Padded<AtomicUsize>,
    /// Rarely written state: receiver gone, senders gone, waiters for room.
    rx_gone: AtomicBool,
    tx_gone: AtomicBool,
    waiters: AtomicUsize,
    lock: Mutex<()>,
    room: Condvar,
    /// How often a waiter for room rechecks unnotified ([`REPOLL`]; tests make it long, so
    /// that only the notification can wake a waiter in time).
    repoll: Duration,
    /// Held by whoever drops messages after the receiver is gone.
    drain: Mutex<()>,
    slots: Box<[Slot<T>]>,
    mask: usize,
}

// SAFETY: a message is written into its slot by exactly one producer (the one whose CAS claimed
// index `t`) before it publishes `seq = t + 1` with Release, and read out by exactly one
// consumer (the `Rx`, or after it is gone the holder of `drain`) after it loads that `seq` with
// Acquire; a slot is claimed again only after the consumer's Release store of a `head` past it,
// which the claiming producer (or the producer whose Release store of `cached_head` it
// Acquire-loads) has Acquire-loaded. So every access to a slot's message is ordered and
// exclusive, and `T: Send` is all that moving messages between threads needs.
unsafe impl<T: Send> Sync for Shared<T> {}
// SAFETY: as above; the shared state owns `T`s, which may move to any thread.
unsafe impl<T: Send> Send for Shared<T> {}

/// The sending side; one per producer handle (not `Clone`: its drop says the senders are gone).
pub(crate) struct Tx<T> {
    shared: Arc<Shared<T>>,
}

/// The receiving side: the sender thread.
pub(crate) struct Rx<T> {
    shared: Arc<Shared<T>>,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TrySendError<T> {
    Full(T),
    Disconnected(T),
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SendTimeoutError<T> {
    Timeout(T),
    Disconnected(T),
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) enum TryRecvError {
    Empty,
    Disconnected,
}

/// A waiter for room rechecks at least this often, notified or not.
const REPOLL: Duration = Duration::from_millis(1);

/// The bytes a slot of a queue of `T` takes: the message and its stamp.
pub(crate) const fn slot_size<T>() -> usize {
    std::mem::size_of::<Slot<T>>()
}

/// A queue holding up to `cap` messages (rounded up to a power of two).
pub(crate) fn bounded<T>(cap: usize) -> (Tx<T>, Rx<T>) {
    bounded_repolling(cap, REPOLL)
}

fn bounded_repolling<T>(cap: usize, repoll: Duration) -> (Tx<T>, Rx<T>) {
    let cap = cap.max(2).next_power_of_two();
    let slots = (0..cap)
        .map(|_| Slot { seq: AtomicUsize::new(0), msg: UnsafeCell::new(MaybeUninit::uninit()) })
        .collect();
    let shared = Arc::new(Shared {
        tail: Padded((AtomicUsize::new(0), AtomicUsize::new(0))),
        head: Padded(AtomicUsize::new(0)),
        rx_gone: AtomicBool::new(false),
        tx_gone: AtomicBool::new(false),
        waiters: AtomicUsize::new(0),
        lock: Mutex::new(()),
        room: Condvar::new(),
        repoll,
        drain: Mutex::new(()),
        slots,
        mask: cap - 1,
    });
    (Tx { shared: shared.clone() }, Rx { shared })
}

impl<T> Shared<T> {
    fn cap(&self) -> usize {
        self.mask + 1
    }

    /// Hands message `h`, if it is published, to `f` where it lies; what `f` leaves in it
    /// stays there (see the module docs). Only the consumer calls this.
    #[inline]
    fn take_with<R>(&self, h: usize, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let slot = &self.slots[h & self.mask];
        if slot.seq.load(Ordering::Acquire) != h.wrapping_add(1) {
            return None;
        }
        // SAFETY: `seq == h + 1` (Acquire) means the producer that claimed `h` finished writing
        // the message and published it; only the consumer touches it until it stores a `head`
        // past `h` (right after), and no producer writes the slot before it has seen that
        // `head` (Acquire). A slot whose `seq` is not zero holds an initialized message.
        let r = f(unsafe { (*slot.msg.get()).assume_init_mut() });
        self.head.0.store(h.wrapping_add(1), Ordering::Release);
        Some(r)
    }

    /// Takes message `h` out, if it is published, leaving its slot empty (`seq` zero). Only
    /// the consumer calls this.
    fn take(&self, h: usize) -> Option<T> {
        let slot = &self.slots[h & self.mask];
        if slot.seq.load(Ordering::Acquire) != h.wrapping_add(1) {
            return None;
        }
        // SAFETY: as in `take_with`; the message is read out once, and `seq` zero (stored
        // before `head`, so the slot's next producer sees it) says the slot holds none now.
        let msg = unsafe { (*slot.msg.get()).assume_init_read() };
        slot.seq.store(0, Ordering::Relaxed);
        self.head.0.store(h.wrapping_add(1), Ordering::Release);
        Some(msg)
    }

    /// After the receiver is gone: drops every published message left.
    fn drop_published(&self) {
        let _g = self.drain.lock().unwrap_or_else(|e| e.into_inner());
        // Acquire: pairs with the receiver's Release store of `head` in `take`, for a producer
        // that drains before the receiver's own drain has taken `drain`.
        let mut h = self.head.0.load(Ordering::Acquire);
        while let Some(msg) = self.take(h) {
            drop(msg);
            h = h.wrapping_add(1);
        }
    }
}

/// What the consumer left of a message in a queue slot, dropped by the producer that writes the
/// slot next (see the module docs). The default drops it whole (the type's drop glue, a call);
/// a message type can drop its leftovers field by field, inline.
pub(crate) trait Leftover: Sized {
    /// Drops what the consumer left of a message.
    #[inline(always)]
    fn dispose(self) {}
}

impl<T: Leftover> Tx<T> {
    /// Queues `msg` if there is room. What the slot holds of the message written there a lap
    /// before is dropped here ([`Leftover::dispose`]). This ends with a full fence after the
    /// message is published, which the caller may lean on (see `Waker::parked_after_fence`).
    #[inline(always)]
    pub fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        let s = &*self.shared;
        if s.rx_gone.load(Ordering::Relaxed) {
            return Err(TrySendError::Disconnected(msg));
        }
        let (tail, cached_head) = &s.tail.0;
        let mut t = tail.load(Ordering::Relaxed);
        loop {
            if t.wrapping_sub(cached_head.load(Ordering::Acquire)) >= s.cap() {
                let head = s.head.0.load(Ordering::Acquire);
                cached_head.store(head, Ordering::Release);
                if t.wrapping_sub(head) >= s.cap() {
                    return Err(TrySendError::Full(msg));
                }
            }
            match tail.compare_exchange_weak(t, t.wrapping_add(1), Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => t = now,
            }
        }
        let slot = &s.slots[t & s.mask];
        // SAFETY: the CAS made this producer the only owner of index `t`, and `t - head < cap`
        // (checked against an Acquire load of `head`, or of `cached_head` stored with Release
        // after such a load) means the consumer is done with message `t - cap` in this slot.
        // Nobody else touches the slot until the `seq` store below publishes it.
        let cell = unsafe { &mut *slot.msg.get() };
        // A slot written before holds what the consumer left of its last message: dropped
        // here, as the new message goes in. (`seq` was stored by that message's producer, and
        // the consumer's `head` store, which this producer has seen, came after its load of it,
        // so this load sees it.)
        if slot.seq.load(Ordering::Relaxed) == 0 {
            cell.write(msg);
        } else {
            // SAFETY: a written slot's message is initialized (see `Slot::seq`), and this
            // producer owns the slot (as above); it is read out once, and the slot written
            // again at once, so it is neither dropped twice nor left uninitialized.
            let old = unsafe { cell.assume_init_read() };
            cell.write(msg);
            old.dispose();
        }
        slot.seq.store(t.wrapping_add(1), Ordering::Release);
        // The receiver may have gone while we wrote: then nobody would take this message, so
        // drop it here (see the module docs). The fence pairs with the one in `Rx::drop`. The
        // load is Acquire so that seeing the mark also shows the receiver's last `head`:
        // without it, `drop_published` could start from an older `head` and drop again a
        // message the receiver had already taken (Miri found this with weak-memory emulation;
        // x86's ordering hides it).
        fence(Ordering::SeqCst);
        if s.rx_gone.load(Ordering::Acquire) {
            s.drop_published();
        }
        Ok(())
    }

    /// Queues `msg`, waiting up to `timeout` for room.
    pub fn send_timeout(&self, mut msg: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        let s = &*self.shared;
        let deadline = Instant::now().checked_add(timeout);
        loop {
            match self.try_send(msg) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Disconnected(m)) => return Err(SendTimeoutError::Disconnected(m)),
                Err(TrySendError::Full(m)) => msg = m,
            }
            let left = deadline.map_or(Duration::MAX, |d| d.saturating_duration_since(Instant::now()));
            if left.is_zero() {
                return Err(SendTimeoutError::Timeout(msg));
            }
            s.waiters.fetch_add(1, Ordering::SeqCst);
            let guard = s.lock.lock().unwrap_or_else(|e| e.into_inner());
            // Recheck with `waiters` raised: room freed before this point is seen here, room
            // freed after it sees `waiters > 0` and notifies (or the `repoll` timeout covers it).
            if self.len() >= s.cap() && !s.rx_gone.load(Ordering::SeqCst) {
                let _ = s.room.wait_timeout(guard, left.min(s.repoll));
            } else {
                drop(guard);
            }
            s.waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Queues `msg`, waiting for room as long as it takes.
    pub fn send(&self, msg: T) -> Result<(), T> {
        self.send_timeout(msg, Duration::MAX).map_err(|e| match e {
            SendTimeoutError::Timeout(m) | SendTimeoutError::Disconnected(m) => m,
        })
    }
}

impl<T> Tx<T> {
    /// Messages claimed and not yet taken (reads the consumer's line: not for every send).
    pub fn len(&self) -> usize {
        let s = &*self.shared;
        let head = s.head.0.load(Ordering::Acquire);
        s.tail.0 .0.load(Ordering::Acquire).wrapping_sub(head).min(s.cap())
    }
}

impl<T> Drop for Tx<T> {
    fn drop(&mut self) {
        self.shared.tx_gone.store(true, Ordering::SeqCst);
    }
}

impl<T> Rx<T> {
    /// Takes the next message out, if one is published.
    #[inline]
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let s = &*self.shared;
        let h = s.head.0.load(Ordering::Relaxed);
        match s.take(h) {
            Some(msg) => {
                self.took(h);
                Ok(msg)
            }
            None => Err(self.nothing()),
        }
    }

    /// Hands the next message, if one is published, to `f` where it lies in its slot; what `f`
    /// leaves there is dropped by the producer that writes the slot next (see the module docs).
    #[inline]
    pub fn try_recv_with<R>(&self, f: impl FnOnce(&mut T) -> R) -> Result<R, TryRecvError> {
        let s = &*self.shared;
        let h = s.head.0.load(Ordering::Relaxed);
        match s.take_with(h, f) {
            Some(r) => {
                self.took(h);
                Ok(r)
            }
            None => Err(self.nothing()),
        }
    }

    /// Message `h` was taken: wakes producers waiting for room once an eighth of the queue is
    /// free. The fence orders the `head` store in `take` before the read of `waiters`; a waiter
    /// raises `waiters` (a full barrier) before it reads `head`, so either it sees the room or
    /// this sees it waiting.
    #[inline]
    fn took(&self, h: usize) {
        let s = &*self.shared;
        if h & (s.mask >> 3) == 0 {
            fence(Ordering::SeqCst);
            if s.waiters.load(Ordering::Relaxed) > 0 {
                let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
                s.room.notify_all();
            }
        }
    }

    /// Why no message was there.
    #[inline]
    fn nothing(&self) -> TryRecvError {
        if self.shared.tx_gone.load(Ordering::Acquire) && self.is_empty() {
            TryRecvError::Disconnected
        } else {
            TryRecvError::Empty
        }
    }

    /// Whether the next message is published: for a spinning consumer, which calls this in a
    /// loop. It reads the slot it would take next (a line the producer writes anyway), not the
    /// producers' `tail`, so spinning does not pull their line away from them on every send.
    /// Senders going away is not reported (the producer's last handle queues a `Close` first);
    /// reporting it would keep a closing spinner from ever waiting.
    #[inline]
    pub fn has_next(&self) -> bool {
        let s = &*self.shared;
        let h = s.head.0.load(Ordering::Relaxed);
        s.slots[h & s.mask].seq.load(Ordering::Acquire) == h.wrapping_add(1)
    }

    /// Whether no message is claimed or published past `head`. A claimed message that is not
    /// yet published counts as present, so a parking sender does not miss one being written.
    pub fn is_empty(&self) -> bool {
        let s = &*self.shared;
        s.tail.0 .0.load(Ordering::SeqCst) == s.head.0.load(Ordering::Relaxed)
    }
}

impl<T> Drop for Rx<T> {
    fn drop(&mut self) {
        let s = &*self.shared;
        s.rx_gone.store(true, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        s.drop_published();
        let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
        s.room.notify_all();
    }
}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        // Messages published and never taken (both sides gone), and what was left of those
        // taken: every slot ever written.
        for slot in self.slots.iter_mut() {
            if *slot.seq.get_mut() != 0 {
                // SAFETY: `&mut self`: no other thread is left; a written slot's message is
                // initialized (see `Slot::seq`), and is dropped only here.
                unsafe { slot.msg.get_mut().assume_init_drop() };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn messages_come_out_in_order_and_a_full_queue_refuses_until_there_is_room() {
        let (tx, rx) = bounded::<u32>(4);
        for i in 0..4 {
            tx.try_send(i).unwrap();
        }
        assert_eq!(tx.try_send(9), Err(TrySendError::Full(9)));
        assert_eq!(tx.len(), 4);
        assert_eq!(rx.try_recv(), Ok(0));
        tx.try_send(4).unwrap();
        let got: Vec<u32> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(got, [1, 2, 3, 4]);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        assert!(rx.is_empty());
        assert!(!rx.has_next());
        tx.try_send(5).unwrap();
        assert!(rx.has_next(), "a published message is seen by a spinning consumer");
        assert_eq!(rx.try_recv(), Ok(5));
        assert!(!rx.has_next());
        drop(tx);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    }

    /// Waiters recheck hourly here: only the receiver's notification wakes them in time.
    const NO_REPOLL: Duration = Duration::from_secs(3600);

    #[test]
    fn a_send_to_a_full_queue_times_out_without_room() {
        let (tx, rx) = bounded_repolling::<u32>(2, NO_REPOLL);
        tx.try_send(0).unwrap();
        tx.try_send(1).unwrap();
        let t0 = Instant::now();
        assert_eq!(tx.send_timeout(2, Duration::from_millis(30)), Err(SendTimeoutError::Timeout(2)));
        assert!(t0.elapsed() >= Duration::from_millis(30));
        assert_eq!(rx.try_recv(), Ok(0));
    }

    /// A sender waiting for room is woken by the `try_recv` that frees it. Waiting starts
    /// before the room is made (the test waits for the sender to count itself a waiter); with
    /// rechecks hourly, a lost notification fails the test at its deadline.
    #[test]
    fn a_send_waiting_on_a_full_queue_is_woken_by_the_receive_that_frees_room() {
        let (tx, rx) = bounded_repolling::<u32>(2, NO_REPOLL);
        tx.try_send(0).unwrap();
        tx.try_send(1).unwrap();
        let shared = tx.shared.clone();
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        // Not scoped: if the notification is lost, the test fails at its deadline instead of
        // waiting for this thread.
        let sender =
            std::thread::spawn(move || done_tx.send(tx.send_timeout(2, Duration::from_secs(600))).unwrap());
        let deadline = Instant::now() + Duration::from_secs(30);
        while shared.waiters.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "the sender never started waiting");
            std::thread::yield_now();
        }
        assert_eq!(rx.try_recv(), Ok(0));
        let sent = done_rx.recv_timeout(Duration::from_secs(30)).expect("the receive woke the sender");
        assert_eq!(sent, Ok(()));
        sender.join().unwrap();
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.try_recv(), Ok(2));
    }

    /// Counts drops, to check that every message is dropped exactly once.
    struct Counted<'a>(&'a AtomicU64);
    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    impl Leftover for Counted<'_> {}
    impl Leftover for Option<Counted<'_>> {}
    impl Leftover for u32 {}
    impl Leftover for (u64, u64) {}

    /// What the consumer leaves of a message it handled in place is dropped by the producer
    /// that writes the slot next (a lap later), or by the queue's drop; a
    /// message taken out leaves nothing to drop.
    #[test]
    fn what_a_message_handled_in_place_leaves_is_dropped_by_the_next_send_to_its_slot() {
        let drops = AtomicU64::new(0);
        let (tx, rx) = bounded(2);
        tx.try_send(Some(Counted(&drops))).ok().unwrap();
        tx.try_send(Some(Counted(&drops))).ok().unwrap();
        assert_eq!(rx.try_recv_with(|m| m.is_some()), Ok(true), "handled in place, left as it is");
        assert!(rx.try_recv().is_ok_and(|m| m.is_some()), "taken out");
        assert_eq!(drops.load(Ordering::SeqCst), 1, "only the message taken out is gone");
        tx.try_send(None).ok().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 2, "the next send dropped what was left");
        tx.try_send(None).ok().unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 2, "a slot emptied by a take has nothing to drop");
        assert_eq!(rx.try_recv_with(|m| *m = Some(Counted(&drops))), Ok(()));
        drop((tx, rx));
        assert_eq!(drops.load(Ordering::SeqCst), 3, "the queue's drop drops what is left in its slots");
    }

    #[test]
    fn messages_left_behind_are_dropped_once_whichever_side_goes_first() {
        let drops = AtomicU64::new(0);
        let (tx, rx) = bounded(8);
        tx.try_send(Counted(&drops)).ok().unwrap();
        tx.try_send(Counted(&drops)).ok().unwrap();
        drop(rx);
        assert_eq!(drops.load(Ordering::SeqCst), 2, "the receiver's drop drops what is queued");
        match tx.try_send(Counted(&drops)) {
            Err(TrySendError::Disconnected(m)) => drop(m),
            _ => panic!("a queue without receiver takes nothing"),
        }
        assert_eq!(drops.load(Ordering::SeqCst), 3);
        let (tx, rx) = bounded(8);
        tx.try_send(Counted(&drops)).ok().unwrap();
        drop(tx);
        drop(rx);
        assert_eq!(drops.load(Ordering::SeqCst), 4, "the last side's drop drops what is queued");
    }

    /// Producers racing the receiver's drop: every message accepted is dropped exactly once,
    /// by the consumer after taking it or by whoever drops what is left.
    #[test]
    fn no_message_is_stranded_when_the_receiver_goes_mid_send() {
        // Miri (`cargo +nightly miri test --lib io::queue`, which checks the slots' unsafe
        // accesses for data races) runs a few short rounds: it interprets every instruction.
        let (rounds, base) = if cfg!(miri) { (4, 10) } else { (100, 100) };
        for round in 0..rounds {
            let drops = AtomicU64::new(0);
            let accepted = AtomicU64::new(0);
            let (tx, rx) = bounded(64);
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| loop {
                        match tx.try_send(Counted(&drops)) {
                            Ok(()) => {
                                accepted.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(TrySendError::Full(m)) => std::mem::forget(m),
                            Err(TrySendError::Disconnected(m)) => {
                                std::mem::forget(m);
                                break;
                            }
                        }
                    });
                }
                let mut n = 0;
                while n < base + round {
                    if rx.try_recv().is_ok() {
                        n += 1;
                    }
                }
                drop(rx);
            });
            assert_eq!(drops.load(Ordering::SeqCst), accepted.load(Ordering::SeqCst), "round {round}");
        }
    }

    /// Producers lapping a small queue drop what the consumer left in each slot as they write
    /// it, while the consumer handles the next messages in place (or takes one out): every
    /// message is dropped exactly once, by whichever side ends up with it.
    #[test]
    fn leftovers_dropped_by_producers_lapping_the_consumer_are_dropped_once() {
        const PER: u64 = if cfg!(miri) { 60 } else { 100_000 };
        let drops = AtomicU64::new(0);
        let (tx, rx) = bounded::<Option<Counted>>(4);
        std::thread::scope(|s| {
            for _ in 0..2 {
                let (tx, drops) = (&tx, &drops);
                s.spawn(move || {
                    for _ in 0..PER {
                        tx.send(Some(Counted(drops))).ok().unwrap();
                    }
                });
            }
            let mut n = 0;
            while n < 2 * PER {
                let got = if n % 3 == 0 {
                    rx.try_recv().map(|m| m.is_some())
                } else {
                    rx.try_recv_with(|m| m.is_some())
                };
                match got {
                    Ok(some) => {
                        assert!(some);
                        n += 1;
                    }
                    Err(_) => std::hint::spin_loop(),
                }
            }
        });
        drop((tx, rx));
        assert_eq!(drops.load(Ordering::SeqCst), 2 * PER);
    }

    #[test]
    fn many_producers_keep_their_own_order_and_lose_nothing() {
        const PER: u64 = if cfg!(miri) { 100 } else { 200_000 };
        const THREADS: u64 = 3;
        let (tx, rx) = bounded::<(u64, u64)>(if cfg!(miri) { 4 } else { 256 });
        std::thread::scope(|s| {
            for p in 0..THREADS {
                let tx = &tx;
                s.spawn(move || {
                    for i in 0..PER {
                        tx.send((p, i)).unwrap();
                    }
                });
            }
            let mut next = [0u64; THREADS as usize];
            let mut n = 0;
            while n < PER * THREADS {
                match rx.try_recv() {
                    Ok((p, i)) => {
                        assert_eq!(i, next[p as usize], "producer {p} out of order");
                        next[p as usize] += 1;
                        n += 1;
                    }
                    Err(TryRecvError::Empty) => std::hint::spin_loop(),
                    Err(TryRecvError::Disconnected) => unreachable!(),
                }
            }
            assert!(rx.is_empty());
        });
    }
}
