//! How a record's outcome reaches the application: a callback run on the sender thread, a
//! [`DeliveryFuture`], or nothing (fire-and-forget). Every accepted record is completed exactly
//! once: [`Completion::complete`] consumes the completion.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use smallbox::{smallbox, SmallBox};

use crate::error::ProduceError;
use crate::record::RecordMetadata;

/// A record's outcome.
pub type DeliveryResult = Result<RecordMetadata, ProduceError>;

/// Where one record's outcome goes, once: a callback, or a future's shared state.
///
/// Exactly once: an implementation dropped before [`deliver`](Self::deliver) (or
/// [`disarm`](Self::disarm)) was called reports [`ProduceError::Closed`] from its destructor (a
/// record lost in a channel when the producer shut down). The destructor, not [`Completion`]'s,
/// so that a completion already taken costs nothing to drop (a batch's list of them is cleared
/// after its records completed).
trait Deliver: Send {
    /// Hands the outcome over. Called at most once.
    fn deliver(&mut self, r: DeliveryResult);

    /// The record was refused by `send` (which returned the error): report nothing, here or
    /// anywhere this forwards to.
    fn disarm(&mut self);
}

/// Runs `f`, catching a panic (a callback's, a hook's): it must not take the sender thread (and
/// every other record's outcome) down with it.
#[inline]
fn guarded(what: &str, f: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
        log::error!("{what} panicked; the panic was caught on the sender thread");
    }
}

/// An interceptor's view of every outcome (see `ProducerInterceptor`), called on the sender
/// thread before the record's own completion.
pub(crate) type AckHook = Arc<dyn Fn(&DeliveryResult) + Send + Sync>;

/// A completion behind an interceptor's acknowledgement hook.
struct Intercepted {
    hook: AckHook,
    inner: Option<Completion>,
}

impl Deliver for Intercepted {
    fn deliver(&mut self, r: DeliveryResult) {
        if let Some(inner) = self.inner.take() {
            // A panicking hook must not cost the record its own outcome.
            guarded("an interceptor's on_acknowledgement", || (self.hook)(&r));
            inner.complete(|| r);
        }
    }

    fn disarm(&mut self) {
        if let Some(inner) = self.inner.take() {
            inner.disarm();
        }
    }
}

impl Drop for Intercepted {
    fn drop(&mut self) {
        self.deliver(Err(ProduceError::Closed));
    }
}

/// A callback, taken out of its `Option` by the one call it gets.
struct Once<F: FnOnce(DeliveryResult)>(Option<F>);

impl<F: FnOnce(DeliveryResult) + Send> Deliver for Once<F> {
    #[inline]
    fn deliver(&mut self, r: DeliveryResult) {
        if let Some(f) = self.0.take() {
            f(r);
        }
    }

    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl<F: FnOnce(DeliveryResult)> Drop for Once<F> {
    #[inline]
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            closed_callback(f);
        }
    }
}

/// A callback dropped before it was called: told `Closed`.
#[cold]
#[inline(never)]
fn closed_callback<F: FnOnce(DeliveryResult)>(f: F) {
    guarded("a delivery callback", || f(Err(ProduceError::Closed)));
}

/// A future's shared state, to be filled once.
struct Fill(Option<Arc<FutureState>>);

impl Deliver for Fill {
    #[inline]
    fn deliver(&mut self, r: DeliveryResult) {
        if let Some(state) = self.0.take() {
            state.fill(r);
        }
    }

    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for Fill {
    #[inline]
    fn drop(&mut self) {
        if let Some(state) = self.0.take() {
            closed_future(state);
        }
    }
}

#[cold]
#[inline(never)]
fn closed_future(state: Arc<FutureState>) {
    state.fill(Err(ProduceError::Closed));
}

/// Inline room for a completion: three words. That holds a future's `Arc`, and a callback
/// whose captures take up to 16 bytes, or 24 if one of them is a reference or an `Arc` (which
/// leaves `Once`'s `Option` no tag to store). Larger callbacks go to the heap, as a `Box`
/// would. Inline is what matters at a million records a second: a boxed
/// callback is a `malloc` on the caller's thread and a `free` on the sender's (the expensive
/// way round for glibc), and by the time the broker answers, its memory has left the cache,
/// so reading it costs the sender a cache miss per record. Inline, it sits in the batch's
/// record list, which the sender reads in order.
type Slot = SmallBox<dyn Deliver, [usize; 3]>;

/// Where a record's outcome goes. Exactly once: [`Completion::complete`] consumes it, and a
/// completion dropped without being completed (a record lost in a channel when the producer
/// shut down) reports [`ProduceError::Closed`] (see [`Deliver`]). `None` is fire-and-forget
/// (nothing to tell, nothing allocated) or already completed.
pub(crate) struct Completion(Option<Slot>);

impl fmt::Debug for Completion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Pending" } else { "None" })
    }
}

impl Default for Completion {
    /// Fire-and-forget: what a record's completion is once taken.
    fn default() -> Self {
        Completion::forget()
    }
}

impl Completion {
    /// Fire-and-forget.
    pub(crate) fn forget() -> Self {
        Completion(None)
    }

    /// A callback.
    pub(crate) fn callback(f: impl FnOnce(DeliveryResult) + Send + 'static) -> Self {
        Completion(Some(smallbox!(Once(Some(f)))))
    }

    /// `inner`, with `hook` seeing the outcome first (an interceptor's `on_acknowledgement`).
    /// Three words do not hold both: this one goes to the heap.
    pub(crate) fn intercepted(inner: Completion, hook: AckHook) -> Self {
        Completion(Some(smallbox!(Intercepted { hook, inner: Some(inner) })))
    }

    /// Drops the completion without reporting anything: for a record `send` refused, whose
    /// caller learns the outcome from `send`'s own error.
    pub(crate) fn disarm(self) {
        if let Some(mut slot) = self.0 {
            slot.disarm();
        }
    }

    /// Delivers the outcome (`result` is not called for fire-and-forget). A panicking callback
    /// is caught and logged: it must not take the sender thread (and every other record's
    /// outcome) down with it.
    #[inline]
    pub(crate) fn complete(mut self, result: impl FnOnce() -> DeliveryResult) {
        self.complete_in_place(result);
    }

    /// [`complete`](Self::complete) where the completion lies (in a batch's list of them),
    /// leaving fire-and-forget there: nothing is moved but the outcome, built where the
    /// callback takes it.
    #[inline]
    pub(crate) fn complete_in_place(&mut self, result: impl FnOnce() -> DeliveryResult) {
        if let Some(slot) = &mut self.0 {
            guarded("a delivery callback", || slot.deliver(result()));
            self.0 = None;
        }
    }
}

/// Who waits for a future's outcome: a thread in [`DeliveryFuture::wait`] (or `wait_timeout`),
/// or a task that polled it.
#[derive(Debug)]
enum Waiter {
    Thread(Thread),
    Task(Waker),
}

/// Nobody has announced waiting, and the outcome is not there.
const IDLE: u8 = 0;
/// A waiter is (or was) registered in `FutureState::waiter`: the completer must wake it.
const WAITING: u8 = 1;
/// The outcome is in `FutureState::result`.
const DONE: u8 = 2;

/// The shared half of a [`DeliveryFuture`].
///
/// Completing a future nobody waits on costs a few uncontended atomic operations and no
/// syscall (a `Condvar::notify_all` here cost a `FUTEX_WAKE` per record, waking nobody). The
/// outcome is written once into `result`, under its uncontended lock (a `OnceLock`'s `set`
/// cost three times the instructions), before `state` becomes `DONE`, and read (cloned, never
/// taken) from there. A waiter first registers itself in `waiter`, then announces itself by moving
/// `state` from `IDLE` to `WAITING`; a completer that finds `WAITING` wakes whoever is
/// registered. Either the waiter's announcement comes first, and the completer sees it, or the
/// completion does, and the waiter's announcement fails on `DONE` and it reads the outcome:
/// no wake-up is lost.
#[derive(Debug, Default)]
pub(crate) struct FutureState {
    result: Mutex<Option<DeliveryResult>>,
    state: AtomicU8,
    /// Taken by a waiter to register, and by the completer only if `state` says someone did.
    waiter: Mutex<Option<Waiter>>,
}

impl FutureState {
    fn fill(&self, r: DeliveryResult) {
        // `Completion` delivers once, so the cell is empty.
        *self.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
        if self.state.swap(DONE, Ordering::AcqRel) == WAITING {
            let waiter = self.waiter.lock().unwrap_or_else(|e| e.into_inner()).take();
            match waiter {
                Some(Waiter::Thread(t)) => t.unpark(),
                Some(Waiter::Task(w)) => w.wake(),
                None => {}
            }
        }
    }

    /// The outcome, if it is known. A copy: every read gets it.
    fn result(&self) -> Option<DeliveryResult> {
        self.result.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Registers `waiter` to be woken by the completion; `false` if the outcome is already
    /// there (nothing will wake it: read the outcome).
    fn register(&self, waiter: Waiter) -> bool {
        *self.waiter.lock().unwrap_or_else(|e| e.into_inner()) = Some(waiter);
        match self.state.compare_exchange(IDLE, WAITING, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => true,
            Err(s) => s == WAITING,
        }
    }

    /// Whether a task with this waker is registered already (a re-poll need not clone it).
    fn task_registered(&self, waker: &Waker) -> bool {
        matches!(&*self.waiter.lock().unwrap_or_else(|e| e.into_inner()),
            Some(Waiter::Task(w)) if w.will_wake(waker))
            && self.state.load(Ordering::Acquire) == WAITING
    }

    /// A waiting thread gave up: it need not be unparked any more.
    fn unregister_thread(&self) {
        let mut w = self.waiter.lock().unwrap_or_else(|e| e.into_inner());
        if matches!(&*w, Some(Waiter::Thread(t)) if t.id() == thread::current().id()) {
            *w = None;
        }
    }
}

/// The outcome of one `send`, to `.await` (any executor) or to [`wait`](Self::wait) on.
/// Every read gives the same outcome, as Java's `Future.get()` does.
#[derive(Debug)]
#[must_use = "dropping the future does not cancel the send; use send_and_forget to say so"]
pub struct DeliveryFuture {
    state: Arc<FutureState>,
}

impl DeliveryFuture {
    pub(crate) fn new() -> (DeliveryFuture, Completion) {
        let state = Arc::new(FutureState::default());
        (DeliveryFuture { state: state.clone() }, Completion(Some(smallbox!(Fill(Some(state))))))
    }

    /// Blocks until the record is delivered or fails.
    pub fn wait(self) -> DeliveryResult {
        self.park_until(None).expect("without a deadline, waiting ends only with the outcome")
    }

    /// Blocks for at most `timeout`. `None` if the outcome is not known yet; the future can be
    /// waited on again. Once known, the outcome is returned by every later call (and by
    /// [`wait`](Self::wait) and `.await`) too.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<DeliveryResult> {
        // A timeout too far away to be an Instant is no timeout.
        self.park_until(Instant::now().checked_add(timeout))
    }

    fn park_until(&self, deadline: Option<Instant>) -> Option<DeliveryResult> {
        let state = &*self.state;
        if let Some(r) = state.result() {
            return Some(r);
        }
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return None; // a zero timeout: a look, no waiting to announce
        }
        if !state.register(Waiter::Thread(thread::current())) {
            return state.result();
        }
        loop {
            // `park` may return spuriously, and an unpark meant for an earlier wait may be
            // pending: the outcome itself is what ends the wait.
            if let Some(r) = state.result() {
                return Some(r);
            }
            match deadline {
                None => thread::park(),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        state.unregister_thread();
                        return state.result();
                    }
                    thread::park_timeout(left);
                }
            }
        }
    }
}

impl Future for DeliveryFuture {
    type Output = DeliveryResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<DeliveryResult> {
        let state = &*self.state;
        if let Some(r) = state.result() {
            return Poll::Ready(r);
        }
        if state.task_registered(cx.waker()) || state.register(Waiter::Task(cx.waker().clone())) {
            return Poll::Pending;
        }
        Poll::Ready(state.result().expect("DONE is stored after the outcome"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> RecordMetadata {
        RecordMetadata {
            topic: "t".into(),
            partition: 0,
            offset: 7,
            timestamp: 1,
            serialized_key_size: -1,
            serialized_value_size: 3,
        }
    }

    #[test]
    fn small_callbacks_are_stored_inline_and_large_ones_on_the_heap() {
        let got = Arc::new(Mutex::new(Vec::new()));
        // Three words: a reference-counted pointer and an Instant.
        let (g, t0) = (got.clone(), Instant::now());
        let small = Completion::callback(move |r: DeliveryResult| {
            g.lock().unwrap().push((r.map(|m| m.offset).ok(), t0.elapsed() < Duration::from_secs(60)))
        });
        assert!(!small.0.as_ref().expect("armed").is_heap(), "a three-word callback must not allocate");
        // Five words: does not fit, so it goes to the heap and still runs exactly once.
        let (g, big) = (got.clone(), [1u64, 2, 3, 4]);
        let large = Completion::callback(move |r: DeliveryResult| {
            g.lock().unwrap().push((r.map(|m| m.offset + big.iter().sum::<u64>() as i64).ok(), true))
        });
        assert!(large.0.as_ref().expect("armed").is_heap());
        // Plain data: 16 bytes fit, 24 do not (the Option needs a tag).
        let (a, b, c) = (1u64, 2u64, 3u64);
        assert!(!Completion::callback(move |_| {
            std::hint::black_box((a, b));
        })
        .0
        .as_ref()
        .expect("armed")
        .is_heap());
        assert!(Completion::callback(move |_| {
            std::hint::black_box((a, b, c));
        })
        .0
        .as_ref()
        .expect("armed")
        .is_heap());
        small.complete(|| Ok(metadata()));
        large.complete(|| Ok(metadata()));
        assert_eq!(*got.lock().unwrap(), vec![(Some(7), true), (Some(17), true)]);
    }

    #[test]
    fn a_future_completion_is_inline_and_a_dropped_completion_reports_closed() {
        let (fut, c) = DeliveryFuture::new();
        assert!(!c.0.as_ref().expect("armed").is_heap());
        drop(c);
        assert!(matches!(fut.wait(), Err(ProduceError::Closed)));
        let seen = Arc::new(Mutex::new(None));
        let s = seen.clone();
        drop(Completion::callback(move |r: DeliveryResult| *s.lock().unwrap() = Some(r.is_err())));
        assert_eq!(*seen.lock().unwrap(), Some(true), "dropped without an outcome: told Closed, once");
    }

    /// A future can move to another thread and be shared by reference (Java's `Future` is
    /// used from any thread).
    const _: fn() = || {
        fn send_and_sync<T: Send + Sync>() {}
        send_and_sync::<DeliveryFuture>();
    };

    /// Java's `Future.get()` gives the same outcome every time: reading it (by `wait_timeout`,
    /// `poll` or `wait`) does not take it away.
    #[test]
    fn a_future_gives_its_outcome_to_every_read() {
        let (mut fut, c) = DeliveryFuture::new();
        assert_eq!(fut.wait_timeout(Duration::ZERO), None, "not known yet");
        c.complete(|| Ok(metadata()));
        assert_eq!(fut.wait_timeout(Duration::ZERO).map(|r| r.map(|m| m.offset)), Some(Ok(7)));
        assert_eq!(fut.wait_timeout(Duration::ZERO).map(|r| r.map(|m| m.offset)), Some(Ok(7)));
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        for _ in 0..2 {
            match Pin::new(&mut fut).poll(&mut cx) {
                Poll::Ready(r) => assert_eq!(r.map(|m| m.offset), Ok(7)),
                Poll::Pending => panic!("completed, yet polled Pending"),
            }
        }
        // `wait` after all that: from another thread, so a `wait` that never returns fails the
        // test at the deadline instead of hanging it.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(fut.wait()).unwrap());
        let r = rx.recv_timeout(Duration::from_secs(10)).expect("wait() returns a known outcome at once");
        assert_eq!(r.map(|m| m.offset), Ok(7));
    }

    /// Polls `f` to completion on this thread, parking between polls (a one-future executor).
    fn block_on(mut f: DeliveryFuture) -> DeliveryResult {
        struct Unpark(Thread);
        impl std::task::Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(r) = Pin::new(&mut f).poll(&mut cx) {
                return r;
            }
            thread::park();
        }
    }

    /// Futures completed on other threads while their owners wait in each of the three ways
    /// (`wait`, `wait_timeout` in a loop, `poll` from an executor): every waiter gets its
    /// outcome. A lost wake-up leaves a waiter parked, and the test fails at its deadline (or,
    /// under Miri, as a deadlock). Runs under Miri too:
    /// `cargo +nightly-2026-05-20 miri test --lib delivery::tests`.
    #[test]
    fn futures_completed_on_other_threads_wake_every_kind_of_waiter() {
        let (threads, rounds) = if cfg!(miri) { (4, 30) } else { (4, 500) };
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        for t in 0..threads {
            let done = done_tx.clone();
            thread::spawn(move || {
                for i in 0..rounds {
                    let (mut fut, c) = DeliveryFuture::new();
                    let completer = thread::spawn(move || {
                        // Race the waiter: some completions land before it waits, some after.
                        if i % 2 == 0 {
                            thread::yield_now();
                        }
                        c.complete(|| Ok(metadata()))
                    });
                    let r = match (t + i) % 3 {
                        0 => fut.wait(),
                        1 => loop {
                            if let Some(r) = fut.wait_timeout(Duration::from_micros(50)) {
                                break r;
                            }
                        },
                        _ => block_on(fut),
                    };
                    assert_eq!(r.map(|m| m.offset), Ok(7));
                    completer.join().unwrap();
                }
                done.send(()).unwrap();
            });
        }
        for _ in 0..threads {
            done_rx.recv_timeout(Duration::from_secs(120)).expect("a waiter was never woken");
        }
    }

    /// `wait_timeout` gives up at its deadline with `None`, and a later wait is woken by the
    /// completion on another thread.
    #[test]
    fn wait_timeout_returns_none_until_completed_then_wakes_on_completion() {
        let (mut fut, c) = DeliveryFuture::new();
        assert_eq!(fut.wait_timeout(Duration::from_millis(5)), None);
        let state = fut.state.clone();
        let completer = thread::spawn(move || {
            // Complete only once the waiter has announced itself, so the wake-up is tested.
            let deadline = Instant::now() + Duration::from_secs(60);
            while state.state.load(Ordering::Acquire) != WAITING || state.waiter.lock().unwrap().is_none() {
                assert!(Instant::now() < deadline, "the waiter never registered");
                thread::yield_now();
            }
            c.complete(|| Err(ProduceError::Closed))
        });
        let (t0, patience) = (Instant::now(), Duration::from_secs(30));
        assert_eq!(fut.wait_timeout(patience), Some(Err(ProduceError::Closed)));
        assert!(t0.elapsed() < patience, "woken by the completion, not by the deadline");
        completer.join().unwrap();
        assert_eq!(fut.wait(), Err(ProduceError::Closed));
    }

    #[test]
    fn a_panicking_callback_is_caught_and_a_disarmed_one_never_runs() {
        Completion::callback(|_| panic!("callback panics")).complete(|| Ok(metadata()));
        let ran = Arc::new(Mutex::new(false));
        let r = ran.clone();
        Completion::callback(move |_| *r.lock().unwrap() = true).disarm();
        assert!(!*ran.lock().unwrap());
    }

    /// An interceptor's hook sees the outcome first, then the record's own completion gets it;
    /// a panicking hook does not cost the record its outcome; dropped unfinished, both hear
    /// `Closed`; disarmed (refused by `send`), neither hears anything.
    #[test]
    fn an_intercepted_completion_reports_to_the_hook_then_the_record() {
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let (l1, l2) = (log.clone(), log.clone());
        let hook: AckHook =
            Arc::new(move |r: &DeliveryResult| l1.lock().unwrap().push(format!("hook {}", r.is_ok())));
        let record = |l: Arc<Mutex<Vec<String>>>| {
            Completion::callback(move |r: DeliveryResult| {
                l.lock().unwrap().push(format!("record {}", r.is_ok()))
            })
        };
        Completion::intercepted(record(l2.clone()), hook.clone()).complete(|| Ok(metadata()));
        assert_eq!(*log.lock().unwrap(), ["hook true", "record true"]);
        log.lock().unwrap().clear();
        drop(Completion::intercepted(record(l2.clone()), hook.clone()));
        assert_eq!(*log.lock().unwrap(), ["hook false", "record false"]);
        log.lock().unwrap().clear();
        Completion::intercepted(record(l2.clone()), hook).disarm();
        assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());
        let panicking: AckHook = Arc::new(|_: &DeliveryResult| panic!("hook panics"));
        Completion::intercepted(record(l2), panicking).complete(|| Ok(metadata()));
        assert_eq!(*log.lock().unwrap(), ["record true"]);
    }
}
