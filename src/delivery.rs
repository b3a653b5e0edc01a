//! How a record's outcome reaches the application: a callback run on the sender thread, a
//! [`DeliveryFuture`], or nothing (fire-and-forget). Every accepted record is completed exactly
//! once: [`Completion::complete`] consumes the completion.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use smallbox::{smallbox, SmallBox};

use crate::error::ProduceError;
use crate::record::RecordMetadata;

/// A record's outcome.
pub type DeliveryResult = Result<RecordMetadata, ProduceError>;

/// Where one record's outcome goes, once: a callback, or a future's shared state.
trait Deliver: Send {
    /// Hands the outcome over. Called at most once; later calls do nothing.
    fn deliver(&mut self, r: DeliveryResult);

    /// The record was refused by `send` (which returned the error): report nothing, here or
    /// anywhere this forwards to.
    fn disarm(&mut self) {}
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
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.hook)(&r))).is_err() {
                log::error!("an interceptor's on_acknowledgement panicked; the panic was caught");
            }
            inner.complete(|| r);
        }
    }

    fn disarm(&mut self) {
        if let Some(inner) = self.inner.take() {
            inner.disarm();
        }
    }
}

/// A callback, taken out of its `Option` by the one call it gets.
struct Once<F>(Option<F>);

impl<F: FnOnce(DeliveryResult) + Send> Deliver for Once<F> {
    fn deliver(&mut self, r: DeliveryResult) {
        if let Some(f) = self.0.take() {
            f(r);
        }
    }
}

impl Deliver for Arc<FutureState> {
    fn deliver(&mut self, r: DeliveryResult) {
        self.fill(r);
    }
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
/// shut down) reports [`ProduceError::Closed`] from its destructor. `None` is fire-and-forget
/// (nothing to tell, nothing allocated) or already completed.
pub(crate) struct Completion(Option<Slot>);

impl fmt::Debug for Completion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "Pending" } else { "None" })
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
    pub(crate) fn disarm(mut self) {
        if let Some(mut slot) = self.0.take() {
            slot.disarm();
        }
    }

    /// Delivers the outcome. A panicking callback is caught and logged: it must not take the
    /// sender thread (and every other record's outcome) down with it.
    pub(crate) fn complete(mut self, result: impl FnOnce() -> DeliveryResult) {
        Self::deliver(self.0.take(), result);
    }

    fn deliver(target: Option<Slot>, result: impl FnOnce() -> DeliveryResult) {
        if let Some(mut slot) = target {
            let r = result();
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| slot.deliver(r))).is_err() {
                log::error!("a delivery callback panicked; the panic was caught on the sender thread");
            }
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if self.0.is_some() {
            Self::deliver(self.0.take(), || Err(ProduceError::Closed));
        }
    }
}

#[derive(Debug, Default)]
struct FutureSlot {
    result: Option<DeliveryResult>,
    waker: Option<Waker>,
}

/// The shared half of a [`DeliveryFuture`].
#[derive(Debug, Default)]
pub(crate) struct FutureState {
    slot: Mutex<FutureSlot>,
    cond: Condvar,
}

impl FutureState {
    fn fill(&self, r: DeliveryResult) {
        let waker = {
            let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
            slot.result = Some(r);
            slot.waker.take()
        };
        self.cond.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// The outcome of one `send`, to `.await` (any executor) or to [`wait`](Self::wait) on.
#[derive(Debug)]
#[must_use = "dropping the future does not cancel the send; use send_and_forget to say so"]
pub struct DeliveryFuture {
    state: Arc<FutureState>,
}

impl DeliveryFuture {
    pub(crate) fn new() -> (DeliveryFuture, Completion) {
        let state = Arc::new(FutureState::default());
        (DeliveryFuture { state: state.clone() }, Completion(Some(smallbox!(state))))
    }

    /// Blocks until the record is delivered or fails.
    pub fn wait(self) -> DeliveryResult {
        let mut slot = self.state.slot.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(r) = slot.result.take() {
                return r;
            }
            slot = self.state.cond.wait(slot).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Blocks for at most `timeout`. `None` if the outcome is not known yet; the future can be
    /// waited on again.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<DeliveryResult> {
        let deadline = Instant::now() + timeout;
        let mut slot = self.state.slot.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(r) = slot.result.take() {
                return Some(r);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            slot = self.state.cond.wait_timeout(slot, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

impl Future for DeliveryFuture {
    type Output = DeliveryResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<DeliveryResult> {
        let mut slot = self.state.slot.lock().unwrap_or_else(|e| e.into_inner());
        match slot.result.take() {
            Some(r) => Poll::Ready(r),
            None => {
                if !slot.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    slot.waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
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
