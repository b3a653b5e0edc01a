//! How a record's outcome reaches the application: a callback run on the sender thread, a
//! [`DeliveryFuture`], or nothing (fire-and-forget). Every accepted record is completed exactly
//! once: [`Completion::complete`] consumes the completion.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::error::ProduceError;
use crate::record::RecordMetadata;

/// A record's outcome.
pub type DeliveryResult = Result<RecordMetadata, ProduceError>;

/// A delivery callback: runs on the sender thread, must be quick and must not block.
pub type Callback = Box<dyn FnOnce(DeliveryResult) + Send + 'static>;

enum Target {
    /// Fire-and-forget: nothing to tell, nothing allocated.
    Forget,
    /// Run this on the sender thread.
    Callback(Callback),
    /// Fill this future.
    Future(Arc<FutureState>),
}

/// Where a record's outcome goes. Exactly once: [`Completion::complete`] consumes it, and a
/// completion dropped without being completed (a record lost in a channel when the producer
/// shut down) reports [`ProduceError::Closed`] from its destructor.
pub(crate) struct Completion(Option<Target>);

impl fmt::Debug for Completion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match &self.0 {
            None => "Done",
            Some(Target::Forget) => "Forget",
            Some(Target::Callback(_)) => "Callback",
            Some(Target::Future(_)) => "Future",
        })
    }
}

impl Completion {
    /// Fire-and-forget.
    pub(crate) fn forget() -> Self {
        Completion(Some(Target::Forget))
    }

    /// A callback.
    pub(crate) fn callback(f: Callback) -> Self {
        Completion(Some(Target::Callback(f)))
    }

    /// Drops the completion without reporting anything: for a record `send` refused, whose
    /// caller learns the outcome from `send`'s own error.
    pub(crate) fn disarm(mut self) {
        self.0 = None;
    }

    /// Delivers the outcome. A panicking callback is caught and logged: it must not take the
    /// sender thread (and every other record's outcome) down with it.
    pub(crate) fn complete(mut self, result: impl FnOnce() -> DeliveryResult) {
        Self::deliver(self.0.take(), result);
    }

    fn deliver(target: Option<Target>, result: impl FnOnce() -> DeliveryResult) {
        match target {
            None | Some(Target::Forget) => {}
            Some(Target::Callback(f)) => {
                let r = result();
                if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(r))).is_err() {
                    log::error!("a delivery callback panicked; the panic was caught on the sender thread");
                }
            }
            Some(Target::Future(state)) => state.fill(result()),
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
struct Slot {
    result: Option<DeliveryResult>,
    waker: Option<Waker>,
}

/// The shared half of a [`DeliveryFuture`].
#[derive(Debug, Default)]
pub(crate) struct FutureState {
    slot: Mutex<Slot>,
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
        (DeliveryFuture { state: state.clone() }, Completion(Some(Target::Future(state))))
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
