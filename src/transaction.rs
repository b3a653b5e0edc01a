//! Transactions, as the user sees them: Java's `initTransactions`, `beginTransaction`,
//! `sendOffsetsToTransaction`, `commitTransaction` and `abortTransaction` on [`Producer`], the
//! errors they give ([`TransactionError`], classed as KIP-1050 does), the consumer group a
//! consume-transform-produce loop commits its offsets for ([`ConsumerGroupMetadata`]), and the
//! future form of each call ([`TransactionFuture`]).
//!
//! The state machine and the protocol behind them (coordinator lookup, InitProducerId,
//! AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn, transaction versions 1 and 2)
//! are the engine's `transactions` room; this module only hands calls to it and waits.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::engine::transactions::{OffsetsCall, Start, TxnCall, TxnOp};
use crate::error::ProduceError;
use crate::producer::Producer;
use crate::protocol::ErrorCode;

/// A consumer's group membership, as Java's `ConsumerGroupMetadata`: what the group
/// coordinator checks before it takes offsets committed in a transaction (KIP-447), so that a
/// consumer that lost its partitions to another member cannot commit for them. Fill it from
/// whatever consumer you run (librdkafka's `rd_kafka_consumer_group_metadata`, Java's
/// `consumer.groupMetadata()`), or use [`ConsumerGroupMetadata::new`] for a consumer that
/// assigns its partitions itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ConsumerGroupMetadata {
    /// The consumer group's id (`group.id`).
    pub group_id: String,
    /// The group's generation, or -1 when unknown (a consumer without group membership).
    pub generation_id: i32,
    /// The consumer's member id in the group, or `""` when unknown.
    pub member_id: String,
    /// The consumer's `group.instance.id` (static membership), if it has one.
    pub group_instance_id: Option<String>,
}

impl ConsumerGroupMetadata {
    /// The metadata of a group without membership information (generation -1, member `""`),
    /// as Java's `new ConsumerGroupMetadata(groupId)`: the coordinator then checks nothing
    /// but the group id (fine for a consumer that assigns its partitions itself; a member of a
    /// rebalancing group should pass its generation and member id, so that a zombie cannot
    /// commit).
    pub fn new(group_id: impl Into<String>) -> Self {
        ConsumerGroupMetadata {
            group_id: group_id.into(),
            generation_id: -1,
            member_id: String::new(),
            group_instance_id: None,
        }
    }
}

/// An offset to commit in a transaction, as Java's `OffsetAndMetadata`: the offset of the
/// *next* record to consume from the partition (the last one processed plus one), with an
/// optional leader epoch and metadata string. A bare `i64` converts into one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OffsetAndMetadata {
    /// The next offset to consume.
    pub offset: i64,
    /// The leader epoch of the last record consumed, if known (the broker uses it to detect
    /// log truncation).
    pub leader_epoch: Option<i32>,
    /// Free text stored with the offset.
    pub metadata: Option<String>,
}

impl OffsetAndMetadata {
    /// `offset` with no leader epoch and no metadata.
    pub fn new(offset: i64) -> Self {
        OffsetAndMetadata { offset, leader_epoch: None, metadata: None }
    }
}

impl From<i64> for OffsetAndMetadata {
    fn from(offset: i64) -> Self {
        OffsetAndMetadata::new(offset)
    }
}

/// Why a transactional call failed, in KIP-1050's classes: [`is_retriable`] (call again),
/// [`is_abortable`] (abort the transaction, then start a new one), [`is_fatal`] (close the
/// producer; a new one with the same `transactional.id` can take over). Also the error `send`
/// gives on a transactional producer outside a transaction ([`SendError::Transaction`]), and
/// what a record of a transaction that failed fatally completes with
/// ([`ProduceError::Transaction`]).
///
/// [`is_retriable`]: TransactionError::is_retriable
/// [`is_abortable`]: TransactionError::is_abortable
/// [`is_fatal`]: TransactionError::is_fatal
/// [`SendError::Transaction`]: crate::SendError::Transaction
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransactionError {
    /// Retriable: the call did not finish within `max.block.ms` (Java's `TimeoutException`).
    /// It goes on in the background; call the same method again to wait for it (a different
    /// transactional call fails with [`InvalidState`](Self::InvalidState) until then).
    Timeout {
        /// The call: `"init_transactions"`, `"commit_transaction"`, …
        operation: &'static str,
        /// How long it waited.
        waited: Duration,
    },
    /// Abortable: the transaction cannot commit (a record of it failed, the broker answered
    /// TRANSACTION_ABORTABLE, an authorization error on a topic or group, the consumer group
    /// rejected the offsets…). Call [`abort_transaction`](crate::Producer::abort_transaction):
    /// none of its records or offsets become visible; then begin a new transaction (and rewind
    /// your consumer to its committed offsets).
    Abortable {
        /// The broker's error code, when it gave one.
        code: Option<ErrorCode>,
        /// What failed.
        message: String,
    },
    /// Fatal: another producer with the same `transactional.id` initialized after this one
    /// (PRODUCER_FENCED, or INVALID_PRODUCER_EPOCH from the transaction coordinator): it owns
    /// the id now. Every later call fails with this; close the producer (KIP-1050 "application
    /// recoverable": a new producer with the same id picks up).
    Fenced {
        /// PRODUCER_FENCED or INVALID_PRODUCER_EPOCH.
        code: ErrorCode,
        /// What said so.
        message: String,
    },
    /// Fatal: TRANSACTIONAL_ID_AUTHORIZATION_FAILED, INVALID_PRODUCER_ID_MAPPING,
    /// INVALID_TXN_STATE, or an error the protocol does not expect. Every later call fails
    /// with this; close the producer.
    Fatal {
        /// The broker's error code, when it gave one.
        code: Option<ErrorCode>,
        /// What failed.
        message: String,
    },
    /// Fatal: the broker does not implement a request transactions need (Tansu 0.6.0 has no
    /// EndTxn: it can begin a transaction but never finish one).
    Unsupported {
        /// The request: `"EndTxn"`, `"FindCoordinator"`, …
        api: &'static str,
        /// The broker: `node N (host)`.
        broker: String,
    },
    /// The call is not allowed now (Java's `IllegalStateException`): `begin_transaction`
    /// before `init_transactions`, `commit_transaction` outside a transaction, a send outside
    /// a transaction, a transactional call on a producer without `transactional.id`, or from a
    /// delivery callback. Nothing changed.
    InvalidState(String),
    /// The producer is closed.
    Closed,
}

impl TransactionError {
    /// Retriable: call the same method again ([`Timeout`](Self::Timeout)).
    pub fn is_retriable(&self) -> bool {
        matches!(self, TransactionError::Timeout { .. })
    }

    /// Abortable: [`abort_transaction`](crate::Producer::abort_transaction), then a new
    /// transaction.
    pub fn is_abortable(&self) -> bool {
        matches!(self, TransactionError::Abortable { .. })
    }

    /// Fatal for this producer: [`Fenced`](Self::Fenced), [`Fatal`](Self::Fatal),
    /// [`Unsupported`](Self::Unsupported). Close it.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            TransactionError::Fenced { .. }
                | TransactionError::Fatal { .. }
                | TransactionError::Unsupported { .. }
        )
    }
}

impl fmt::Display for TransactionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransactionError::Timeout { operation, waited } => write!(
                f,
                "{operation} did not finish within max.block.ms ({} ms); it goes on: call it again to wait for it",
                waited.as_millis()
            ),
            TransactionError::Abortable { code, message } => {
                write!(f, "the transaction must be aborted: {message}")?;
                if let Some(c) = code {
                    write!(f, " ({c})")?;
                }
                Ok(())
            }
            TransactionError::Fenced { code, message } => {
                write!(f, "producer fenced by another producer with the same transactional.id: {message} ({code})")
            }
            TransactionError::Fatal { code, message } => {
                write!(f, "fatal transaction error: {message}")?;
                if let Some(c) = code {
                    write!(f, " ({c})")?;
                }
                Ok(())
            }
            TransactionError::Unsupported { api, broker } => write!(
                f,
                "broker {broker} does not support {api}, which transactions need: this broker cannot run them"
            ),
            TransactionError::InvalidState(m) => write!(f, "invalid transactional call: {m}"),
            TransactionError::Closed => write!(f, "the producer is closed"),
        }
    }
}

impl std::error::Error for TransactionError {}

impl From<TransactionError> for ProduceError {
    fn from(e: TransactionError) -> Self {
        ProduceError::Transaction(e)
    }
}

/// A transactional call's outcome.
pub(crate) type TxnResult = Result<(), TransactionError>;

#[derive(Debug, Default)]
struct Slot {
    result: Option<TxnResult>,
    /// Someone took the result (a wait or a poll returned it).
    seen: bool,
    wakers: Vec<Waker>,
}

/// The shared state of a call in progress: filled once by the sender thread, read by every
/// [`TransactionFuture`] of the call (a call that timed out and is made again shares it).
#[derive(Debug, Default)]
pub(crate) struct TxnCallState {
    slot: Mutex<Slot>,
    cond: Condvar,
}

impl TxnCallState {
    /// Whether the outcome is known.
    pub(crate) fn is_done(&self) -> bool {
        self.slot.lock().unwrap_or_else(|e| e.into_inner()).result.is_some()
    }

    /// Whether the outcome is known and someone has taken it.
    pub(crate) fn is_seen(&self) -> bool {
        self.slot.lock().unwrap_or_else(|e| e.into_inner()).seen
    }

    fn fill(&self, r: TxnResult) {
        let wakers = {
            let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
            if slot.result.is_some() {
                return;
            }
            slot.result = Some(r);
            std::mem::take(&mut slot.wakers)
        };
        self.cond.notify_all();
        for w in wakers {
            w.wake();
        }
    }
}

/// Where a transactional call's outcome goes, exactly once: [`TxnDone::complete`] consumes it,
/// and one dropped unfilled (the sender thread stopped) reports [`TransactionError::Closed`].
#[derive(Debug)]
pub(crate) struct TxnDone(Option<Arc<TxnCallState>>);

impl TxnDone {
    /// A completion and the state its futures read.
    pub(crate) fn new() -> (TxnDone, Arc<TxnCallState>) {
        let s = Arc::new(TxnCallState::default());
        (TxnDone(Some(s.clone())), s)
    }

    /// Delivers the outcome.
    pub(crate) fn complete(mut self, r: TxnResult) {
        if let Some(s) = self.0.take() {
            s.fill(r);
        }
    }
}

impl Drop for TxnDone {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            s.fill(Err(TransactionError::Closed));
        }
    }
}

/// The outcome of a transactional call, to `.await` (any executor) or to
/// [`wait`](Self::wait) on. The call goes on whether or not it is awaited.
#[derive(Debug)]
#[must_use = "the call goes on without it, but its outcome is only known through it"]
pub struct TransactionFuture {
    state: Result<Arc<TxnCallState>, Option<TransactionError>>,
    operation: &'static str,
}

impl TransactionFuture {
    pub(crate) fn pending(state: Arc<TxnCallState>, operation: &'static str) -> Self {
        TransactionFuture { state: Ok(state), operation }
    }

    pub(crate) fn ready(r: TxnResult, operation: &'static str) -> Self {
        TransactionFuture { state: Err(r.err()), operation }
    }

    /// Blocks until the call has finished.
    pub fn wait(mut self) -> Result<(), TransactionError> {
        match self.wait_for(None) {
            Some(r) => r,
            None => unreachable!("an unbounded wait returns the outcome"),
        }
    }

    /// Blocks for at most `timeout`: `None` if the call has not finished by then (it goes on;
    /// the future can be waited on again).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<Result<(), TransactionError>> {
        self.wait_for(Some(timeout))
    }

    /// Waits up to `max_block` and turns running out into [`TransactionError::Timeout`].
    pub(crate) fn wait_blocking(mut self, max_block: Duration) -> TxnResult {
        let operation = self.operation;
        self.wait_timeout(max_block)
            .unwrap_or(Err(TransactionError::Timeout { operation, waited: max_block }))
    }

    fn wait_for(&mut self, timeout: Option<Duration>) -> Option<TxnResult> {
        let state = match &mut self.state {
            Ok(s) => s,
            Err(e) => return Some(e.clone().map_or(Ok(()), Err)),
        };
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut slot = state.slot.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(r) = slot.result.clone() {
                slot.seen = true;
                return Some(r);
            }
            slot = match deadline {
                None => state.cond.wait(slot).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    state.cond.wait_timeout(slot, left).unwrap_or_else(|e| e.into_inner()).0
                }
            };
        }
    }
}

impl Future for TransactionFuture {
    type Output = Result<(), TransactionError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let state = match &self.state {
            Ok(s) => s,
            Err(e) => return Poll::Ready(e.clone().map_or(Ok(()), Err)),
        };
        let mut slot = state.slot.lock().unwrap_or_else(|e| e.into_inner());
        match &slot.result {
            Some(r) => {
                let r = r.clone();
                slot.seen = true;
                Poll::Ready(r)
            }
            None => {
                if !slot.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    slot.wakers.push(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

/// The transactional calls. Each blocking one waits up to `max.block.ms`, then fails with the
/// retriable [`TransactionError::Timeout`] (the call goes on; calling it again waits for it);
/// its `_async` form returns a [`TransactionFuture`] at once. On a producer without
/// `transactional.id`, every one fails with [`TransactionError::InvalidState`].
impl<K: 'static, V: 'static> Producer<K, V> {
    /// Java's `initTransactions`: finds the transaction coordinator, and gets the producer id
    /// and epoch for `transactional.id`. This fences any earlier producer with the same id (its
    /// next transactional call fails with [`TransactionError::Fenced`]) and aborts a
    /// transaction it left unfinished. Call it once, before the first
    /// [`begin_transaction`](Self::begin_transaction).
    ///
    /// A consume → transform → produce loop (more in `docs/transactions.md`):
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use ringkafka::{
    ///     ConsumerGroupMetadata, Producer, ProducerConfig, ProducerRecord, TransactionError,
    /// };
    ///
    /// let config = ProducerConfig::from_properties([
    ///     ("bootstrap.servers", "127.0.0.1:9092"),
    ///     ("transactional.id", "orders-enricher-1"),
    /// ])
    /// .unwrap();
    /// let producer = Producer::new(config).unwrap();
    /// producer.init_transactions().unwrap(); // fences older producers with the same id
    ///
    /// // A consume-transform-produce loop: `poll_batch` stands for your consumer's poll. Each
    /// // batch's output and the consumer's offsets commit together, or not at all.
    /// # fn poll_batch() -> Vec<(String, i32, i64, Vec<u8>)> { Vec::new() }
    /// # let group = ConsumerGroupMetadata::new("enricher");
    /// loop {
    ///     let input = poll_batch(); // (topic, partition, offset, value)
    ///     if input.is_empty() { break; }
    ///     producer.begin_transaction().unwrap();
    ///     for (_, _, _, value) in &input {
    ///         producer.send_and_forget(ProducerRecord::new("enriched", value.clone())).unwrap();
    ///     }
    ///     // The offsets to commit: the next record to read in each input partition.
    ///     let offsets = input.iter().map(|(t, p, o, _)| (t.clone(), *p, o + 1));
    ///     let outcome = producer
    ///         .send_offsets_to_transaction(offsets, &group)
    ///         .and_then(|()| producer.commit_transaction());
    ///     match outcome {
    ///         Ok(()) => {}
    ///         // A record failed, or the broker asked for it: nothing of this batch is visible.
    ///         // Abort, rewind the consumer to its committed offsets, and go on.
    ///         Err(e) if e.is_abortable() => producer.abort_transaction().unwrap(),
    ///         // The call ran out of max.block.ms; it goes on in the background. Calling it again
    ///         // waits for the same commit.
    ///         Err(TransactionError::Timeout { .. }) => producer.commit_transaction().unwrap(),
    ///         // Fenced by a newer instance, or a fatal error: this producer is done.
    ///         Err(e) => panic!("{e}"),
    ///     }
    /// }
    /// producer.close(Duration::from_secs(10));
    /// ```
    pub fn init_transactions(&self) -> Result<(), TransactionError> {
        self.init_transactions_async().wait_blocking(self.max_block())
    }

    /// [`init_transactions`](Self::init_transactions) as a future.
    pub fn init_transactions_async(&self) -> TransactionFuture {
        self.txn_call(TxnOp::Init, None)
    }

    /// Java's `beginTransaction`: records sent from now on belong to a new transaction, until
    /// [`commit_transaction`](Self::commit_transaction) or
    /// [`abort_transaction`](Self::abort_transaction). Local: nothing is sent.
    pub fn begin_transaction(&self) -> Result<(), TransactionError> {
        self.txn_callable()?;
        match self.txn_gate() {
            Some(g) => g.begin(),
            None => Err(not_transactional()),
        }
    }

    /// Java's `sendOffsetsToTransaction`: commits a consumer group's offsets as part of the
    /// transaction, so that they take effect if and only if it commits (consume → transform →
    /// produce, exactly once). Each item is (topic, partition, offset), the offset being the
    /// *next* one to consume (last processed + 1; an `i64` or an [`OffsetAndMetadata`]).
    ///
    /// ```no_run
    /// # use ringkafka::{ConsumerGroupMetadata, Producer};
    /// # fn f(producer: &Producer) -> Result<(), ringkafka::TransactionError> {
    /// let group = ConsumerGroupMetadata::new("enricher");
    /// producer.send_offsets_to_transaction([("input", 0, 1043), ("input", 1, 977)], &group)?;
    /// # Ok(()) }
    /// ```
    pub fn send_offsets_to_transaction<T, O>(
        &self,
        offsets: impl IntoIterator<Item = (T, i32, O)>,
        group: &ConsumerGroupMetadata,
    ) -> Result<(), TransactionError>
    where
        T: Into<String>,
        O: Into<OffsetAndMetadata>,
    {
        self.send_offsets_to_transaction_async(offsets, group).wait_blocking(self.max_block())
    }

    /// [`send_offsets_to_transaction`](Self::send_offsets_to_transaction) as a future.
    pub fn send_offsets_to_transaction_async<T, O>(
        &self,
        offsets: impl IntoIterator<Item = (T, i32, O)>,
        group: &ConsumerGroupMetadata,
    ) -> TransactionFuture
    where
        T: Into<String>,
        O: Into<OffsetAndMetadata>,
    {
        let offsets: Vec<(String, i32, OffsetAndMetadata)> =
            offsets.into_iter().map(|(t, p, o)| (t.into(), p, o.into())).collect();
        let name = TxnOp::SendOffsets.name();
        if let Some((t, p, _)) = offsets.iter().find(|(t, p, _)| t.is_empty() || *p < 0) {
            return TransactionFuture::ready(
                Err(TransactionError::InvalidState(format!("not a partition: topic {t:?}, partition {p}"))),
                name,
            );
        }
        if group.group_id.is_empty() {
            return TransactionFuture::ready(
                Err(TransactionError::InvalidState("the consumer group id is empty".into())),
                name,
            );
        }
        let call = OffsetsCall { group: group.clone(), offsets };
        self.txn_call(TxnOp::SendOffsets, Some(Box::new(call)))
    }

    /// Java's `commitTransaction`: sends every record of the transaction (without waiting for
    /// `linger.ms`), waits for them all, then commits. If a record failed, or the transaction
    /// hit another abortable error, it fails with [`TransactionError::Abortable`]: call
    /// [`abort_transaction`](Self::abort_transaction).
    pub fn commit_transaction(&self) -> Result<(), TransactionError> {
        self.commit_transaction_async().wait_blocking(self.max_block())
    }

    /// [`commit_transaction`](Self::commit_transaction) as a future.
    pub fn commit_transaction_async(&self) -> TransactionFuture {
        self.txn_call(TxnOp::Commit, None)
    }

    /// Java's `abortTransaction`: records of the transaction not sent yet fail with
    /// [`ProduceError::TransactionAborted`]; those already written stay invisible to
    /// `read_committed` readers, as do its offsets. Also the way out of an abortable error.
    pub fn abort_transaction(&self) -> Result<(), TransactionError> {
        self.abort_transaction_async().wait_blocking(self.max_block())
    }

    /// [`abort_transaction`](Self::abort_transaction) as a future.
    pub fn abort_transaction_async(&self) -> TransactionFuture {
        self.txn_call(TxnOp::Abort, None)
    }

    fn txn_call(&self, op: TxnOp, offsets: Option<Box<OffsetsCall>>) -> TransactionFuture {
        let name = op.name();
        let Some(gate) = self.txn_gate() else {
            return TransactionFuture::ready(Err(not_transactional()), name);
        };
        if let Err(e) = self.txn_callable() {
            return TransactionFuture::ready(Err(e), name);
        }
        match gate.start(op) {
            Err(e) => TransactionFuture::ready(Err(e), name),
            Ok(Start::Resume(state)) => TransactionFuture::pending(state, name),
            Ok(Start::New(done, state)) => {
                let call = match offsets {
                    Some(o) => TxnCall::Offsets(o, done),
                    None => TxnCall::Op(op, done),
                };
                match self.post_txn(call) {
                    Ok(()) => TransactionFuture::pending(state, name),
                    Err(e) => TransactionFuture::ready(Err(e), name),
                }
            }
        }
    }
}

fn not_transactional() -> TransactionError {
    TransactionError::InvalidState("not a transactional producer: set transactional.id".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_state_is_filled_once_and_a_dropped_completion_reports_closed() {
        let (done, state) = TxnDone::new();
        let mut a = TransactionFuture::pending(state.clone(), "commit_transaction");
        let b = TransactionFuture::pending(state.clone(), "commit_transaction");
        assert_eq!(a.wait_timeout(Duration::from_millis(1)), None);
        assert!(!state.is_done());
        done.complete(Ok(()));
        assert_eq!(a.wait(), Ok(()));
        assert_eq!(b.wait(), Ok(()), "every future of the call gets the outcome");
        assert!(state.is_seen());
        let (done, state) = TxnDone::new();
        drop(done);
        assert_eq!(TransactionFuture::pending(state, "x").wait(), Err(TransactionError::Closed));
    }

    #[test]
    fn a_blocking_wait_that_runs_out_is_a_retriable_timeout() {
        let (_done, state) = TxnDone::new();
        let r =
            TransactionFuture::pending(state, "init_transactions").wait_blocking(Duration::from_millis(5));
        let e = r.unwrap_err();
        assert!(e.is_retriable() && !e.is_abortable() && !e.is_fatal(), "{e}");
        assert!(e.to_string().contains("init_transactions"), "{e}");
    }
}
