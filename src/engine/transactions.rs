//! Transactions (`transactional.id`): Java's `TransactionManager`, sans-IO.
//!
//! The room owns the transaction state machine ([`TxnShared`], shared with the application
//! threads: `send` reads its state without a lock, the transactional calls change it under
//! one) and the protocol behind it ([`Transactions`]): finding the transaction and group
//! coordinators (FindCoordinator), the producer id and epoch (InitProducerId with the
//! transactional id; KIP-360's bump after an abortable error), adding partitions
//! (AddPartitionsToTxn before a partition's first batch, under transaction version 1) and
//! offsets (AddOffsetsToTxn + TxnOffsetCommit), and ending the transaction (EndTxn; under
//! transaction version 2 its answer carries the next epoch). One request is in flight at a
//! time, in Java's priority order (FindCoordinator, InitProducerId, AddPartitions/Offsets,
//! EndTxn, the epoch bump), over the engine's own connections.
//!
//! Errors are classed as Java does (KIP-1050): retriable ones are retried here (a coordinator
//! that moved is looked up again); abortable ones put the transaction in `AbortableError`,
//! where unsent records fail and only `abort_transaction` leads on; fatal ones fail every later
//! call, every pending record and every later send.
//!
//! The transaction version (1 or 2) is the cluster's finalized `transaction.version` feature as
//! the ApiVersions answers tell it, decided at `init_transactions` and at each
//! `begin_transaction`, never in the middle of one.
//!
//! What it asks of the other rooms, through small hooks: `produce` holds a partition's batches
//! until it is in the transaction ([`Engine::txn_holds`]), stamps the transactional id and the
//! transactional attribute, and reports every failed batch ([`Engine::txn_record_failed`],
//! also called by `records` for a record that never reached a batch); `requests` hands it its
//! responses and the finalized features; `connection` tells it when its request was lost. It
//! drives batches itself only to fail the unsent ones of a transaction that cannot commit.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::error::{ProduceError, SendError};
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::{
    decode_response, AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, AddPartitionsToTxnTopic,
    ApiVersionsResponse, CoordinatorType, EndTxnRequest, FindCoordinatorRequest, InitProducerIdRequest,
    TxnOffsetCommitPartition, TxnOffsetCommitRequest, TxnOffsetCommitTopic,
};
use crate::protocol::version::{ApiKey, NegotiatedVersions};
use crate::transaction::{ConsumerGroupMetadata, OffsetAndMetadata, TransactionError, TxnCallState, TxnDone};

use super::connection::ConnState;
use super::requests::Kind;
use super::Engine;

/// The states of Java's `TransactionManager`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum TxnState {
    Uninitialized = 0,
    Initializing = 1,
    Ready = 2,
    InTransaction = 3,
    Committing = 4,
    Aborting = 5,
    AbortableError = 6,
    FatalError = 7,
}

impl TxnState {
    fn from_u8(v: u8) -> TxnState {
        match v {
            0 => TxnState::Uninitialized,
            1 => TxnState::Initializing,
            2 => TxnState::Ready,
            3 => TxnState::InTransaction,
            4 => TxnState::Committing,
            5 => TxnState::Aborting,
            6 => TxnState::AbortableError,
            _ => TxnState::FatalError,
        }
    }

    fn name(self) -> &'static str {
        match self {
            TxnState::Uninitialized => "uninitialized (init_transactions not called)",
            TxnState::Initializing => "initializing",
            TxnState::Ready => "ready (no transaction begun)",
            TxnState::InTransaction => "in a transaction",
            TxnState::Committing => "committing",
            TxnState::Aborting => "aborting",
            TxnState::AbortableError => "abortable error",
            TxnState::FatalError => "fatal error",
        }
    }
}

/// A transactional call that goes to the sender thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxnOp {
    Init,
    SendOffsets,
    Commit,
    Abort,
}

impl TxnOp {
    pub(crate) fn name(self) -> &'static str {
        match self {
            TxnOp::Init => "init_transactions",
            TxnOp::SendOffsets => "send_offsets_to_transaction",
            TxnOp::Commit => "commit_transaction",
            TxnOp::Abort => "abort_transaction",
        }
    }
}

/// Offsets to commit in the transaction, for one group.
#[derive(Debug, Clone)]
pub(crate) struct OffsetsCall {
    pub group: ConsumerGroupMetadata,
    /// (topic, partition, offset), in the order given.
    pub offsets: Vec<(String, i32, OffsetAndMetadata)>,
}

/// What the application asks of the sender thread (`Msg::Txn`). `begin_transaction` is not
/// one: as in Java it only changes the state (see [`TxnShared::begin`]).
#[derive(Debug)]
pub(crate) enum TxnCall {
    /// Init, commit or abort; its outcome goes to `done`.
    Op(TxnOp, TxnDone),
    /// `send_offsets_to_transaction`.
    Offsets(Box<OffsetsCall>, TxnDone),
}

/// How a call starts (see [`TxnShared::start`]).
#[derive(Debug)]
pub(crate) enum Start {
    /// A new call: send `TxnCall` with this completion to the sender; wait on the state.
    New(TxnDone, Arc<TxnCallState>),
    /// The same call is already under way (an earlier one timed out): wait on it again.
    Resume(Arc<TxnCallState>),
}

/// The state machine both sides see: the application threads start calls and begin
/// transactions; the sender thread finishes calls and records errors. `send` reads only the
/// atomic copy of the state.
#[derive(Debug)]
pub(crate) struct TxnShared {
    /// `Inner::state` as a number: the one thing `send` reads (a load, no lock).
    gate: AtomicU8,
    inner: Mutex<SharedInner>,
}

#[derive(Debug)]
struct SharedInner {
    state: TxnState,
    /// The error of `AbortableError` and `FatalError`.
    error: Option<TransactionError>,
    /// The last init, commit or abort call: made again after it timed out, it is resumed.
    pending: Option<(TxnOp, Arc<TxnCallState>)>,
}

impl TxnShared {
    pub(crate) fn new() -> Self {
        TxnShared {
            gate: AtomicU8::new(TxnState::Uninitialized as u8),
            inner: Mutex::new(SharedInner { state: TxnState::Uninitialized, error: None, pending: None }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SharedInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, s: &mut SharedInner, to: TxnState) {
        s.state = to;
        self.gate.store(to as u8, Ordering::Release);
    }

    /// The state, as of now.
    pub(crate) fn state(&self) -> TxnState {
        TxnState::from_u8(self.gate.load(Ordering::Acquire))
    }

    /// `send`'s check: records go only into a transaction.
    #[inline]
    pub(crate) fn check_send(&self) -> Result<(), SendError> {
        if self.gate.load(Ordering::Acquire) == TxnState::InTransaction as u8 {
            Ok(())
        } else {
            Err(self.send_refused())
        }
    }

    #[cold]
    #[inline(never)]
    fn send_refused(&self) -> SendError {
        let s = self.lock();
        SendError::Transaction(match (&s.error, s.state) {
            (Some(e), TxnState::AbortableError | TxnState::FatalError) => e.clone(),
            (_, TxnState::InTransaction) => return SendError::Closed, // changed meanwhile: cannot be
            (_, st) => TransactionError::InvalidState(format!(
                "cannot send while {}: a transactional producer sends between begin_transaction and \
                 commit_transaction or abort_transaction",
                st.name()
            )),
        })
    }

    /// The error of an error state.
    fn error_of(s: &SharedInner) -> Option<TransactionError> {
        match s.state {
            TxnState::AbortableError | TxnState::FatalError => s.error.clone(),
            _ => None,
        }
    }

    /// A call made while an earlier one has not finished: only the same call may wait for it.
    fn check_pending(
        s: &mut SharedInner,
        op: Option<TxnOp>,
    ) -> Result<Option<Arc<TxnCallState>>, TransactionError> {
        let Some((p, st)) = &s.pending else { return Ok(None) };
        if st.is_seen() {
            s.pending = None;
            return Ok(None);
        }
        if Some(*p) == op {
            return Ok(Some(st.clone()));
        }
        if st.is_done() {
            s.pending = None;
            return Ok(None);
        }
        let name = op.map_or("begin_transaction", TxnOp::name);
        Err(TransactionError::InvalidState(format!(
            "cannot call {name}: the earlier call to {} timed out and is still under way; call it again to wait for it",
            p.name()
        )))
    }

    /// `begin_transaction`: from `Ready`, a transaction starts. Only the state changes, as in
    /// Java: the sender learns of the transaction from its first record or call (what an
    /// ended transaction leaves behind was reset when it ended).
    pub(crate) fn begin(&self) -> Result<(), TransactionError> {
        let mut s = self.lock();
        Self::check_pending(&mut s, None)?;
        if let Some(e) = Self::error_of(&s) {
            return Err(e);
        }
        match s.state {
            TxnState::Ready => {
                self.set(&mut s, TxnState::InTransaction);
                Ok(())
            }
            st => {
                Err(TransactionError::InvalidState(format!("cannot begin a transaction while {}", st.name())))
            }
        }
    }

    /// Starts `op`: checks that it is allowed now and makes its state change (init →
    /// `Initializing`, commit → `Committing`, abort → `Aborting`).
    pub(crate) fn start(&self, op: TxnOp) -> Result<Start, TransactionError> {
        let mut s = self.lock();
        let cached = op != TxnOp::SendOffsets;
        if let Some(st) = Self::check_pending(&mut s, cached.then_some(op))? {
            return Ok(Start::Resume(st));
        }
        if s.state == TxnState::FatalError {
            return Err(s.error.clone().unwrap_or(TransactionError::Closed));
        }
        let refuse = |st: TxnState| {
            Err(TransactionError::InvalidState(format!("cannot call {} while {}", op.name(), st.name())))
        };
        match (op, s.state) {
            (TxnOp::Init, TxnState::Uninitialized) => self.set(&mut s, TxnState::Initializing),
            (TxnOp::Init, st) => return refuse(st),
            (TxnOp::Abort, TxnState::InTransaction | TxnState::AbortableError) => {
                self.set(&mut s, TxnState::Aborting)
            }
            (TxnOp::Abort, st) => return refuse(st),
            (_, TxnState::AbortableError) => return Err(s.error.clone().unwrap_or(TransactionError::Closed)),
            (TxnOp::Commit, TxnState::InTransaction) => self.set(&mut s, TxnState::Committing),
            (TxnOp::SendOffsets, TxnState::InTransaction) => {}
            (_, st) => return refuse(st),
        }
        let (done, st) = TxnDone::new();
        if cached {
            s.pending = Some((op, st.clone()));
        }
        Ok(Start::New(done, st))
    }

    /// The sender finished a call or a transaction: `Ready` (or `InTransaction` for nothing).
    fn set_state(&self, to: TxnState) {
        let mut s = self.lock();
        if s.state == TxnState::FatalError {
            return;
        }
        s.error = None;
        self.set(&mut s, to);
    }

    /// An abortable error: the transaction can only be aborted now. Ignored while aborting
    /// (the transaction is on its way out) and outside a transaction; returns whether the
    /// state changed.
    fn abortable(&self, e: &TransactionError) -> bool {
        let mut s = self.lock();
        match s.state {
            TxnState::InTransaction | TxnState::Committing | TxnState::Initializing => {
                s.error = Some(e.clone());
                self.set(&mut s, TxnState::AbortableError);
                true
            }
            _ => false,
        }
    }

    /// A fatal error: every later call fails with it.
    fn fatal(&self, e: &TransactionError) {
        let mut s = self.lock();
        if s.state != TxnState::FatalError {
            s.error = Some(e.clone());
            self.set(&mut s, TxnState::FatalError);
        }
    }

    /// The error of the error state the machine is in, if any.
    fn last_error(&self) -> Option<TransactionError> {
        Self::error_of(&self.lock())
    }
}

/// Whether a partition is part of the current transaction (transaction version 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Added {
    #[default]
    No,
    /// In an AddPartitionsToTxn request.
    Pending,
    Yes,
}

/// A transactional request, waiting or in flight.
#[derive(Debug)]
enum Req {
    /// The transaction coordinator (`None`) or a group's.
    FindCoordinator {
        group: Option<String>,
    },
    /// The producer id (`bump`: KIP-360's epoch bump of the id we have, after an abort).
    InitProducerId {
        bump: bool,
    },
    /// (topic index, partition)
    AddPartitions {
        partitions: Vec<(usize, i32)>,
    },
    AddOffsets {
        call: Box<OffsetsCall>,
        done: TxnDone,
    },
    TxnOffsetCommit {
        call: Box<OffsetsCall>,
        done: TxnDone,
    },
    EndTxn {
        commit: bool,
    },
}

impl Req {
    /// Java's order: lower first.
    fn priority(&self) -> u8 {
        match self {
            Req::FindCoordinator { .. } => 0,
            Req::InitProducerId { bump: false } => 1,
            Req::AddPartitions { .. } | Req::AddOffsets { .. } | Req::TxnOffsetCommit { .. } => 2,
            Req::EndTxn { .. } => 3,
            Req::InitProducerId { bump: true } => 4,
        }
    }

    fn api(&self) -> &'static str {
        match self {
            Req::FindCoordinator { .. } => "FindCoordinator",
            Req::InitProducerId { .. } => "InitProducerId",
            Req::AddPartitions { .. } => "AddPartitionsToTxn",
            Req::AddOffsets { .. } => "AddOffsetsToTxn",
            Req::TxnOffsetCommit { .. } => "TxnOffsetCommit",
            Req::EndTxn { .. } => "EndTxn",
        }
    }

    /// Fails the call waiting on this request, if one is.
    fn fail(self, e: &TransactionError) {
        if let Req::AddOffsets { done, .. } | Req::TxnOffsetCommit { done, .. } = self {
            done.complete(Err(e.clone()));
        }
    }
}

/// The back-off after CONCURRENT_TRANSACTIONS for the first AddPartitionsToTxn of a
/// transaction (Java's `ADD_PARTITIONS_RETRY_BACKOFF_MS`): the previous transaction is still
/// being completed, which takes milliseconds.
const ADD_PARTITIONS_RETRY_BACKOFF: Duration = Duration::from_millis(20);

/// The transactions room's state (see the module docs).
#[derive(Debug)]
pub(crate) struct Transactions {
    shared: Arc<TxnShared>,
    id: String,
    timeout_ms: i32,
    /// The newest finalized features an ApiVersions answer told: (epoch, transaction.version).
    features: (i64, i16),
    /// Transaction version 2 for the current transaction.
    tv2: bool,
    /// Switch to transaction version 2 after the epoch bump that ends this transaction.
    tv2_after_bump: bool,
    coordinator: Option<i32>,
    /// Each group's coordinator, once found.
    group_coordinators: BTreeMap<String, i32>,
    queue: Vec<Req>,
    /// The request in flight and the node it went to.
    in_flight: Option<(i32, Req)>,
    retry_at: Option<Instant>,
    attempts: u32,
    /// The init, commit or abort call under way.
    op: Option<TxnDone>,
    /// Per topic index, per partition (transaction version 1).
    added: Vec<Vec<Added>>,
    /// Something is in the transaction on the broker's side: it must be ended with EndTxn.
    started: bool,
    /// Bump the epoch (InitProducerId with our id and epoch) once this transaction is aborted:
    /// a batch failed, so sequences have a gap (transaction version 1; version 2 bumps at every
    /// EndTxn).
    bump_required: bool,
    /// The coordinator takes InitProducerId v3+ (KIP-360): the epoch can be bumped.
    coordinator_can_bump: bool,
    /// The transaction is being aborted because the producer is closing (nobody waits for it).
    closing: bool,
    /// The engine's clock as of the last poll or call: an error state entered from a room that
    /// has no `now` at hand asks for a poll at once with it (see `txn_wake`).
    last_now: Option<Instant>,
}

impl Transactions {
    pub(crate) fn new(id: String, timeout: Duration) -> Self {
        Transactions {
            shared: Arc::new(TxnShared::new()),
            id,
            timeout_ms: timeout.as_millis().min(i32::MAX as u128) as i32,
            features: (-1, 0),
            tv2: false,
            tv2_after_bump: false,
            coordinator: None,
            group_coordinators: BTreeMap::new(),
            queue: Vec::new(),
            in_flight: None,
            retry_at: None,
            attempts: 0,
            op: None,
            added: Vec::new(),
            started: false,
            bump_required: false,
            coordinator_can_bump: false,
            closing: false,
            last_now: None,
        }
    }

    /// The state machine, for the application side.
    pub(crate) fn shared(&self) -> Arc<TxnShared> {
        self.shared.clone()
    }

    /// Whether a partition's batches must wait (see [`Engine::txn_holds`]).
    #[inline]
    pub(super) fn holds(&self, ti: usize, pi: usize) -> bool {
        !self.tv2 && self.added(ti, pi) != Added::Yes
    }

    /// The Produce version and transactional id of a request: transaction version 1 caps
    /// Produce at v11 (v12 would add partitions implicitly, which a version 1 coordinator does
    /// not expect).
    pub(super) fn produce(&self, version: i16) -> (i16, Option<&str>) {
        if self.tv2 {
            return (version, Some(&self.id));
        }
        let cap = ApiKey::Produce.max_before_transaction_v2().unwrap_or(version);
        (version.min(cap), Some(&self.id))
    }

    fn added(&self, ti: usize, pi: usize) -> Added {
        self.added.get(ti).and_then(|t| t.get(pi)).copied().unwrap_or_default()
    }

    fn set_added(&mut self, ti: usize, pi: usize, a: Added) {
        if self.added.len() <= ti {
            self.added.resize_with(ti + 1, Vec::new);
        }
        let t = &mut self.added[ti];
        if t.len() <= pi {
            t.resize(pi + 1, Added::No);
        }
        t[pi] = a;
    }

    fn queued(&self, f: impl Fn(&Req) -> bool) -> bool {
        self.queue.iter().any(&f) || self.in_flight.as_ref().is_some_and(|(_, r)| f(r))
    }

    fn enqueue(&mut self, r: Req) {
        if let Req::FindCoordinator { group } = &r {
            let g = group.clone();
            if self.queued(|q| matches!(q, Req::FindCoordinator { group } if *group == g)) {
                return;
            }
        }
        self.queue.push(r);
    }

    /// The transaction version the cluster runs at now (0 or 1: version 1).
    fn cluster_tv2(&self) -> bool {
        self.features.1 >= 2
    }
}

/// What a response means for its request.
enum Verdict {
    Done,
    /// Send it again after the back-off.
    Retry,
    /// The coordinator moved or is gone: look it up again, then send it again.
    Moved,
    Abortable(TransactionError),
    Fatal(TransactionError),
}

fn abortable(code: ErrorCode, what: &str) -> Verdict {
    Verdict::Abortable(TransactionError::Abortable { code: Some(code), message: format!("{what}: {code:?}") })
}

fn fatal(code: ErrorCode, what: &str) -> Verdict {
    Verdict::Fatal(TransactionError::Fatal { code: Some(code), message: format!("{what}: {code:?}") })
}

fn fenced(code: ErrorCode, what: &str) -> Verdict {
    Verdict::Fatal(TransactionError::Fenced { code, message: format!("{what} was refused") })
}

impl Engine {
    /// The transactional producer's state machine, for the `Producer` handle.
    pub(crate) fn transactions_gate(&self) -> Option<Arc<TxnShared>> {
        self.txn.as_ref().map(|t| t.shared())
    }

    /// Whether a transactional call is under way (the sender does not stop before it ends,
    /// unless a close deadline passes).
    pub(super) fn txn_busy(&self) -> bool {
        self.txn.as_ref().is_some_and(|t| {
            t.op.is_some() && !t.closing
                || t.queued(|r| matches!(r, Req::AddOffsets { .. } | Req::TxnOffsetCommit { .. }))
        })
    }

    /// An ApiVersions answer: the finalized features it carries (the newest epoch wins).
    pub(super) fn txn_observe_features(&mut self, resp: &ApiVersionsResponse) {
        if let Some(t) = self.txn.as_mut() {
            if resp.finalized_features_epoch > t.features.0 {
                t.features = (resp.finalized_features_epoch, resp.transaction_version());
            }
        }
    }

    /// Whether a partition's batches must wait: under transaction version 1 a partition takes
    /// part in a transaction only once AddPartitionsToTxn added it (Kafka 4.4 answers a batch
    /// sent before with NOT_ENOUGH_REPLICAS: "unable to verify the partition has been added").
    #[inline]
    pub(super) fn txn_holds(&self, ti: usize, pi: usize) -> bool {
        self.txn.as_ref().is_some_and(|t| t.holds(ti, pi))
    }

    /// A record failed: in a transaction that is an abortable error (the transaction cannot
    /// commit without it), or a fatal one (fenced, not authorized).
    pub(super) fn txn_record_failed(&mut self, e: &ProduceError) {
        if self.txn.is_none() {
            return;
        }
        let err = match e {
            ProduceError::TransactionAborted { .. } | ProduceError::Transaction(_) | ProduceError::Closed => {
                return
            }
            ProduceError::Broker { code, message } => match *code {
                ErrorCode::PRODUCER_FENCED => TransactionError::Fenced {
                    code: *code,
                    message: format!("a Produce request was refused{}", opt_msg(message)),
                },
                ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
                | ErrorCode::CLUSTER_AUTHORIZATION_FAILED
                | ErrorCode::UNSUPPORTED_VERSION
                | ErrorCode::UNSUPPORTED_FOR_MESSAGE_FORMAT => TransactionError::Fatal {
                    code: Some(*code),
                    message: format!("a Produce request was refused{}", opt_msg(message)),
                },
                ErrorCode::INVALID_PRODUCER_ID_MAPPING if self.txn.as_ref().is_some_and(|t| t.tv2) => {
                    TransactionError::Fatal {
                        code: Some(*code),
                        message: format!("a Produce request was refused{}", opt_msg(message)),
                    }
                }
                _ => TransactionError::Abortable {
                    code: Some(*code),
                    message: format!("a record failed: {e}"),
                },
            },
            other => TransactionError::Abortable { code: None, message: format!("a record failed: {other}") },
        };
        if err.is_fatal() {
            self.txn_fatal(err);
        } else {
            self.txn_abortable(err);
        }
    }

    /// A call from the application.
    pub(crate) fn on_transaction_call(&mut self, call: TxnCall, now: Instant) {
        self.next_wakeup = Some(now);
        let Some(t) = self.txn.as_mut() else {
            let e = TransactionError::InvalidState("not a transactional producer".into());
            match call {
                TxnCall::Op(_, done) | TxnCall::Offsets(_, done) => done.complete(Err(e)),
            }
            return;
        };
        t.last_now = Some(now);
        if let Some(err) = self.fatal.clone() {
            let e = match err {
                ProduceError::Transaction(e) => e,
                ProduceError::Closed => TransactionError::Closed,
                other => TransactionError::Fatal { code: None, message: other.to_string() },
            };
            t.shared.fatal(&e);
            match call {
                TxnCall::Op(_, done) | TxnCall::Offsets(_, done) => done.complete(Err(e)),
            }
            return;
        }
        // The state may have moved on between the call's start and its arrival here (an error
        // in between): then it fails with that error.
        if let Some(e) = t.shared.last_error() {
            match call {
                TxnCall::Op(TxnOp::Abort, done) if t.shared.state() == TxnState::Aborting => {
                    t.op = Some(done);
                    self.txn_begin_abort();
                }
                TxnCall::Op(_, done) | TxnCall::Offsets(_, done) => done.complete(Err(e)),
            }
            return;
        }
        match call {
            TxnCall::Op(TxnOp::Init, done) => {
                t.op = Some(done);
                if t.coordinator.is_none() {
                    t.enqueue(Req::FindCoordinator { group: None });
                }
                t.enqueue(Req::InitProducerId { bump: false });
            }
            TxnCall::Offsets(call, done) => {
                if t.tv2 {
                    // TxnOffsetCommit v5 adds the group to the transaction itself.
                    t.started = true;
                    t.enqueue(Req::TxnOffsetCommit { call, done });
                } else {
                    t.enqueue(Req::AddOffsets { call, done });
                }
            }
            TxnCall::Op(TxnOp::Commit, done) => {
                t.op = Some(done);
                t.enqueue(Req::EndTxn { commit: true });
                // Commit flushes first: everything is sent without lingering.
                self.flush(Box::new(|| {}), now);
            }
            TxnCall::Op(TxnOp::Abort, done) => {
                t.op = Some(done);
                self.txn_begin_abort();
            }
            TxnCall::Op(TxnOp::SendOffsets, done) => {
                // Offsets always come as `TxnCall::Offsets`; this one has none to send.
                done.complete(Err(TransactionError::InvalidState("send_offsets_to_transaction without offsets".into())))
            }
        }
    }

    /// Starts aborting: partitions not yet added are not added; EndTxn(abort) goes once what
    /// is in flight has come back (unsent records fail in `poll_transactions`).
    fn txn_begin_abort(&mut self) {
        let Some(t) = self.txn.as_mut() else { return };
        let mut i = 0;
        while i < t.queue.len() {
            if matches!(t.queue[i], Req::AddPartitions { .. }) {
                if let Req::AddPartitions { partitions } = t.queue.remove(i) {
                    for (ti, pi) in partitions {
                        t.set_added(ti, pi as usize, Added::No);
                    }
                }
            } else {
                i += 1;
            }
        }
        t.enqueue(Req::EndTxn { commit: false });
    }

    /// The producer is closing: an unfinished transaction is aborted, as Java does (nobody
    /// waits for it: the coordinator aborts it after `transaction.timeout.ms` anyway).
    pub(super) fn txn_close(&mut self) {
        let Some(t) = self.txn.as_mut() else { return };
        let state = t.shared.state();
        if matches!(state, TxnState::InTransaction | TxnState::AbortableError) && t.op.is_none() {
            t.closing = true;
            let mut s = t.shared.lock();
            t.shared.set(&mut s, TxnState::Aborting);
            drop(s);
            self.txn_begin_abort();
        }
    }

    /// Fails the calls under way with `err` (the producer failed or is force-closed).
    pub(super) fn txn_fail_calls(&mut self, err: &ProduceError) {
        let Some(t) = self.txn.as_mut() else { return };
        let e = match err {
            ProduceError::Transaction(e) => e.clone(),
            ProduceError::Closed => TransactionError::Closed,
            other => TransactionError::Fatal { code: None, message: other.to_string() },
        };
        if !matches!(e, TransactionError::Closed) {
            t.shared.fatal(&e);
        }
        if let Some(done) = t.op.take() {
            done.complete(Err(e.clone()));
        }
        for r in t.queue.drain(..) {
            r.fail(&e);
        }
        if let Some((_, r)) = t.in_flight.take() {
            r.fail(&e);
        }
    }

    /// Asks for a poll at once: an error state was entered, and what it fails (unsent records,
    /// or everything after a fatal error) is failed by the next poll.
    fn txn_wake(&mut self) {
        if let Some(now) = self.txn.as_ref().and_then(|t| t.last_now) {
            self.wake_at(now);
        }
    }

    /// Moves to `AbortableError` (from a transaction that can still end), failing what waits.
    fn txn_abortable(&mut self, e: TransactionError) {
        self.txn_wake();
        let Some(t) = self.txn.as_mut() else { return };
        if !t.tv2 && !t.coordinator_can_bump && t.shared.state() != TxnState::Initializing {
            // Recovering needs an epoch bump this coordinator cannot do (Java:
            // canHandleAbortableError is false): fatal.
            let message = match &e {
                TransactionError::Abortable { message, .. } => message.clone(),
                other => other.to_string(),
            };
            let code = match &e {
                TransactionError::Abortable { code, .. } => *code,
                _ => None,
            };
            return self.txn_fatal(TransactionError::Fatal {
                code,
                message: format!("{message} (the coordinator cannot bump the epoch to recover)"),
            });
        }
        if !t.shared.abortable(&e) {
            return;
        }
        log::info!("transactional.id {}: abortable error: {e}", t.id);
        if !t.tv2 {
            t.bump_required = true;
        }
        if let Some(done) = t.op.take() {
            done.complete(Err(e.clone()));
        }
        let mut i = 0;
        while i < t.queue.len() {
            if matches!(t.queue[i], Req::FindCoordinator { .. }) {
                i += 1;
                continue;
            }
            let r = t.queue.remove(i);
            if let Req::AddPartitions { partitions } = &r {
                for &(ti, pi) in partitions {
                    t.set_added(ti, pi as usize, Added::No);
                }
            }
            r.fail(&e);
        }
    }

    /// Moves to `FatalError`: every call, record and later send fails with `e`.
    fn txn_fatal(&mut self, e: TransactionError) {
        self.txn_wake();
        let Some(t) = self.txn.as_mut() else { return };
        log::error!("transactional.id {}: {e}", t.id);
        t.shared.fatal(&e);
        let err = ProduceError::Transaction(e);
        self.txn_fail_calls(&err);
        if self.fatal.is_none() {
            self.fatal = Some(err);
        }
    }

    /// One turn: fail what cannot be part of a transaction, add partitions (version 1), and
    /// send the next request.
    pub(super) fn poll_transactions(&mut self, now: Instant) {
        let Some(t) = self.txn.as_mut() else { return };
        t.last_now = Some(now);
        // A batch met a sequence or producer-state error (OUT_OF_ORDER_SEQUENCE_NUMBER,
        // UNKNOWN_PRODUCER_ID, INVALID_PRODUCER_EPOCH), or a sequenced batch failed: the
        // idempotent producer would bump its epoch; in a transaction that is an abortable
        // error, and the bump follows the abort.
        if std::mem::take(&mut self.idem.bump_pending) {
            t.bump_required |= !t.tv2;
            // The batch that met it waits for a retry with its error (`last_error`).
            let why = self
                .topics
                .iter()
                .flat_map(|t| t.partitions.iter().flat_map(|p| p.queue.iter()))
                .find_map(|b| b.last_error.as_deref().filter(|_| b.attempts > 0))
                .map_or(String::new(), |e| format!(": {e}"));
            self.txn_abortable(TransactionError::Abortable {
                code: None,
                message: format!(
                    "a batch of the transaction failed its producer-state check (sequence, epoch or producer id){why}"
                ),
            });
        }
        let Some(t) = self.txn.as_mut() else { return };
        let state = t.shared.state();
        match state {
            TxnState::AbortableError | TxnState::Aborting => {
                let reason = match (state, t.shared.last_error()) {
                    (TxnState::AbortableError, Some(TransactionError::Abortable { message, .. })) => message,
                    (TxnState::AbortableError, Some(e)) => e.to_string(),
                    _ if t.closing => "the producer is closing".to_string(),
                    _ => "abort_transaction was called".to_string(),
                };
                self.txn_fail_unsent(&reason, now);
            }
            TxnState::InTransaction | TxnState::Committing => {
                if t.tv2 {
                    t.started |= self.flushes.incomplete() > 0;
                } else {
                    self.txn_add_partitions();
                }
            }
            TxnState::FatalError => return,
            _ => {
                if self.flushes.incomplete() > 0 {
                    // Sent while a transaction was ending (a send that raced with the commit):
                    // no transaction to put it in.
                    let e = TransactionError::InvalidState(format!(
                        "the record reached the producer while {}, after its transaction ended",
                        state.name()
                    ));
                    self.txn_fail_queued(|_| ProduceError::Transaction(e.clone()), now);
                }
            }
        }
        self.txn_send_next(now);
    }

    /// Fails every record not sent yet (waiting for metadata, or in a batch not in flight)
    /// with `TransactionAborted`.
    fn txn_fail_unsent(&mut self, reason: &str, now: Instant) {
        let mut gap = false;
        let reason = reason.to_string();
        self.txn_fail_queued(
            |b| {
                gap |= b.is_some_and(|s| s);
                ProduceError::TransactionAborted { reason: reason.clone() }
            },
            now,
        );
        if gap {
            if let Some(t) = self.txn.as_mut() {
                t.bump_required |= !t.tv2;
            }
        }
    }

    /// Fails every queued record with `err(Some(had a sequence))` for a batch or `err(None)`
    /// for a record that has not reached one.
    fn txn_fail_queued(&mut self, mut err: impl FnMut(Option<bool>) -> ProduceError, now: Instant) {
        for ti in 0..self.topics.len() {
            while let Some(w) = self.topics[ti].waiting.pop_front() {
                let e = err(None);
                self.fail_pending(w.record, w.stamp, e);
            }
            for pi in 0..self.topics[ti].partitions.len() {
                while let Some(b) = self.topics[ti].partitions[pi].queue.pop_front() {
                    let e = match (err(Some(b.sequence.is_some())), &b.last_error) {
                        // A retry's own error is worth knowing.
                        (ProduceError::TransactionAborted { reason }, Some(last))
                            if !reason.contains(last.as_str()) =>
                        {
                            ProduceError::TransactionAborted {
                                reason: format!("{reason} (its last error: {last})"),
                            }
                        }
                        (e, _) => e,
                    };
                    self.complete_batch(ti, pi as i32, b, Err(e), now);
                }
            }
        }
        self.flushes.check();
    }

    /// Transaction version 1: the partitions with batches waiting that are not in the
    /// transaction yet go into one AddPartitionsToTxn request (one at a time).
    fn txn_add_partitions(&mut self) {
        let Some(t) = self.txn.as_ref() else { return };
        if t.queued(|r| matches!(r, Req::AddPartitions { .. })) {
            return;
        }
        let mut new = Vec::new();
        for (ti, topic) in self.topics.iter().enumerate() {
            for (pi, p) in topic.partitions.iter().enumerate() {
                if !p.queue.is_empty() && t.added(ti, pi) == Added::No {
                    new.push((ti, pi as i32));
                }
            }
        }
        if new.is_empty() {
            return;
        }
        let t = self.txn.as_mut().expect("checked");
        for &(ti, pi) in &new {
            t.set_added(ti, pi as usize, Added::Pending);
        }
        t.enqueue(Req::AddPartitions { partitions: new });
    }

    /// Sends the next request, if none is in flight and its coordinator is ready.
    fn txn_send_next(&mut self, now: Instant) {
        let incomplete = self.flushes.incomplete();
        let Some(t) = self.txn.as_mut() else { return };
        if t.in_flight.is_some() || t.queue.is_empty() {
            return;
        }
        if let Some(at) = t.retry_at {
            if at > now {
                self.wake_at(at);
                return;
            }
            t.retry_at = None;
        }
        let Some(i) = (0..t.queue.len()).min_by_key(|&i| t.queue[i].priority()) else { return };
        if let Some(e) = t.shared.last_error() {
            // In an error state only a coordinator lookup may go (Java's
            // maybeTerminateRequestWithError); the rest fails with the error.
            if !matches!(t.queue[i], Req::FindCoordinator { .. }) {
                t.queue.remove(i).fail(&e);
                return self.txn_send_next(now);
            }
        }
        match &t.queue[i] {
            // EndTxn waits for the transaction's records (commit flushes; abort waits for
            // what is in flight).
            Req::EndTxn { .. } if incomplete > 0 => return,
            Req::EndTxn { commit } if !t.started => {
                // Nothing reached the broker: nothing to end (Java does the same).
                let commit = *commit;
                t.queue.remove(i);
                log::debug!("transactional.id {}: empty transaction ended locally (commit: {commit})", t.id);
                self.txn_transaction_ended(None, now);
                // What that queued (an InitProducerId) goes now: nothing else would wake us.
                return self.txn_send_next(now);
            }
            _ => {}
        }
        // Where it goes.
        let target = match &t.queue[i] {
            Req::FindCoordinator { .. } => None,
            Req::TxnOffsetCommit { call, .. } => match t.group_coordinators.get(&call.group.group_id) {
                Some(&n) => Some(n),
                None => {
                    let group = Some(call.group.group_id.clone());
                    t.enqueue(Req::FindCoordinator { group });
                    return self.txn_send_next(now);
                }
            },
            _ => match t.coordinator {
                Some(n) => Some(n),
                None => {
                    t.enqueue(Req::FindCoordinator { group: None });
                    return self.txn_send_next(now);
                }
            },
        };
        let (node, versions) = match target {
            None => match self.cluster_conn(now) {
                Some(c) => c,
                None => return,
            },
            Some(n) => match self.txn_conn(n, now) {
                Some(v) => (n, v),
                None => return,
            },
        };
        let t = self.txn.as_mut().expect("checked");
        let versions = versions.for_transaction_version(if t.tv2 { 2 } else { 1 });
        let req = t.queue.remove(i);
        if let Req::InitProducerId { .. } = &req {
            t.coordinator_can_bump = versions.init_producer_id >= 3;
        }
        let (id, timeout_ms) = (t.id.clone(), t.timeout_ms);
        let (pid, epoch) = self.idem.producer.unwrap_or((-1, -1));
        let sent = match &req {
            Req::FindCoordinator { group } => versions.find_coordinator.map(|v| {
                let (key_type, key) = match group {
                    None => (CoordinatorType::Transaction, id.clone()),
                    Some(g) => (CoordinatorType::Group, g.clone()),
                };
                let body = FindCoordinatorRequest { key_type, keys: vec![key] };
                self.send_request(node, v, &body, Kind::Txn { version: v }, now);
            }),
            Req::InitProducerId { bump } => {
                let v = versions.init_producer_id;
                let (producer_id, producer_epoch) = if *bump { (pid, epoch) } else { (-1, -1) };
                let body = InitProducerIdRequest {
                    transactional_id: Some(id.clone()),
                    transaction_timeout_ms: timeout_ms,
                    producer_id,
                    producer_epoch,
                };
                self.send_request(node, v, &body, Kind::Txn { version: v }, now);
                Some(())
            }
            Req::AddPartitions { partitions } => versions.add_partitions_to_txn.map(|v| {
                let mut topics: Vec<AddPartitionsToTxnTopic> = Vec::new();
                for &(ti, pi) in partitions {
                    let name = self.topics[ti].name.to_string();
                    match topics.iter_mut().find(|x| x.name == name) {
                        Some(x) => x.partitions.push(pi),
                        None => topics.push(AddPartitionsToTxnTopic { name, partitions: vec![pi] }),
                    }
                }
                let body = AddPartitionsToTxnRequest {
                    transactional_id: id.clone(),
                    producer_id: pid,
                    producer_epoch: epoch,
                    topics,
                };
                self.send_request(node, v, &body, Kind::Txn { version: v }, now);
            }),
            Req::AddOffsets { call, .. } => versions.add_offsets_to_txn.map(|v| {
                let body = AddOffsetsToTxnRequest {
                    transactional_id: id.clone(),
                    producer_id: pid,
                    producer_epoch: epoch,
                    group_id: call.group.group_id.clone(),
                };
                self.send_request(node, v, &body, Kind::Txn { version: v }, now);
            }),
            Req::TxnOffsetCommit { call, .. } => versions.txn_offset_commit.map(|v| {
                let mut topics: Vec<TxnOffsetCommitTopic> = Vec::new();
                for (name, p, o) in &call.offsets {
                    let part = TxnOffsetCommitPartition {
                        partition_index: *p,
                        committed_offset: o.offset,
                        committed_leader_epoch: o.leader_epoch.unwrap_or(-1),
                        committed_metadata: Some(o.metadata.clone().unwrap_or_default()),
                    };
                    match topics.iter_mut().find(|x| x.name == *name) {
                        Some(x) => x.partitions.push(part),
                        None => {
                            topics.push(TxnOffsetCommitTopic { name: name.clone(), partitions: vec![part] })
                        }
                    }
                }
                let g = &call.group;
                let body = TxnOffsetCommitRequest {
                    transactional_id: id.clone(),
                    group_id: g.group_id.clone(),
                    producer_id: pid,
                    producer_epoch: epoch,
                    generation_id: g.generation_id,
                    member_id: g.member_id.clone(),
                    group_instance_id: g.group_instance_id.clone(),
                    topics,
                };
                self.send_request(node, v, &body, Kind::Txn { version: v }, now);
            }),
            Req::EndTxn { commit } => versions.end_txn.map(|v| {
                let body = EndTxnRequest {
                    transactional_id: id.clone(),
                    producer_id: pid,
                    producer_epoch: epoch,
                    committed: *commit,
                };
                self.send_request(node, v, &body, Kind::Txn { version: v }, now);
            }),
        };
        if sent.is_none() {
            let e = TransactionError::Unsupported { api: req.api(), broker: self.broker_name(node) };
            self.txn_fatal(e.clone());
            req.fail(&e);
            return;
        }
        let t = self.txn.as_mut().expect("checked");
        log::debug!("transactional.id {}: {} to node {node}", t.id, req.api());
        t.in_flight = Some((node, req));
    }

    /// A ready connection to `node` (opening one if needed) and its versions.
    fn txn_conn(&mut self, node: i32, now: Instant) -> Option<NegotiatedVersions> {
        match self.net.conns.get(&node).map(|c| (&c.state, c.throttled_until)) {
            Some((ConnState::Ready(v), throttled)) => {
                let v = *v;
                if let Some(until) = throttled.filter(|&t| t > now) {
                    self.wake_at(until);
                    return None;
                }
                return Some(v);
            }
            Some(_) => return None, // being set up: its handshake wakes us
            None => {}
        }
        if self.net.brokers.contains_key(&node) {
            // Opens it (its host looked up first if need be), or waits out its backoff.
            self.connect_leader(node, now);
        } else {
            // Not a broker we know the address of any more: find the coordinator again.
            if let Some(t) = self.txn.as_mut() {
                if t.coordinator == Some(node) {
                    t.coordinator = None;
                }
                t.group_coordinators.retain(|_, n| *n != node);
            }
            self.wake_at(now + self.cfg.retry_backoff);
        }
        None
    }

    /// The request in flight on `node`'s connection was lost: look the coordinator up again
    /// and send it again.
    pub(super) fn txn_request_lost(&mut self, node: i32, now: Instant) {
        let Some(t) = self.txn.as_mut() else { return };
        let Some((n, req)) = t.in_flight.take() else { return };
        debug_assert_eq!(n, node);
        self.txn_retry(req, true, now);
    }

    /// Sends `req` again after the back-off; `moved`: look its coordinator up first.
    fn txn_retry(&mut self, req: Req, moved: bool, now: Instant) {
        let backoff = {
            let Some(t) = self.txn.as_mut() else { return };
            t.attempts += 1;
            t.attempts
        };
        let backoff = self.exponential_backoff(self.cfg.retry_backoff, self.cfg.retry_backoff_max, backoff);
        let Some(t) = self.txn.as_mut() else { return };
        if moved {
            match &req {
                Req::FindCoordinator { .. } => {}
                Req::TxnOffsetCommit { call, .. } => {
                    let g = call.group.group_id.clone();
                    t.group_coordinators.remove(&g);
                    t.enqueue(Req::FindCoordinator { group: Some(g) });
                }
                _ => {
                    t.coordinator = None;
                    t.enqueue(Req::FindCoordinator { group: None });
                }
            }
        }
        let at = now + backoff;
        t.retry_at = Some(t.retry_at.map_or(at, |r| r.min(at)));
        t.queue.push(req);
        self.wake_at(at);
    }

    /// A transactional response from `node`.
    pub(super) fn handle_txn_response(
        &mut self,
        node: i32,
        version: i16,
        frame: &[u8],
        now: Instant,
    ) -> Result<(), String> {
        let Some(t) = self.txn.as_mut() else { return Ok(()) };
        let Some((_, req)) = t.in_flight.take() else { return Ok(()) };
        let api = req.api();
        macro_rules! decode {
            ($req:ty, $key:expr) => {
                match decode_response::<$req>(frame, version) {
                    Ok((_, r)) => {
                        self.throttled(node, $key, version, r.throttle_time_ms, now);
                        r
                    }
                    Err(e) => {
                        self.txn_retry(req, false, now);
                        return Err(format!("malformed {api} response: {e}"));
                    }
                }
            };
        }
        let verdict = match &req {
            Req::FindCoordinator { group } => {
                let r = decode!(FindCoordinatorRequest, ApiKey::FindCoordinator);
                let key = group
                    .clone()
                    .unwrap_or_else(|| self.txn.as_ref().map(|t| t.id.clone()).unwrap_or_default());
                match r.coordinator_for(&key) {
                    None => Verdict::Retry,
                    Some(c) if c.error_code.is_ok() => {
                        let (id, host, port) = (c.node_id, c.host.clone(), c.port);
                        self.net.add_broker(id, &host, port);
                        let t = self.txn.as_mut().expect("checked");
                        log::info!(
                            "transactional.id {}: {} coordinator is node {id} ({host}:{port})",
                            t.id,
                            {
                                if group.is_some() {
                                    "group"
                                } else {
                                    "transaction"
                                }
                            }
                        );
                        match group {
                            None => t.coordinator = Some(id),
                            Some(g) => {
                                t.group_coordinators.insert(g.clone(), id);
                            }
                        }
                        Verdict::Done
                    }
                    Some(c) => match c.error_code {
                        code if code.is_retriable() => Verdict::Retry,
                        ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED => {
                            fatal(c.error_code, "FindCoordinator")
                        }
                        ErrorCode::GROUP_AUTHORIZATION_FAILED | ErrorCode::TRANSACTION_ABORTABLE => {
                            abortable(c.error_code, "FindCoordinator")
                        }
                        code => fatal(code, "FindCoordinator"),
                    },
                }
            }
            Req::InitProducerId { bump } => {
                let r = decode!(InitProducerIdRequest, ApiKey::InitProducerId);
                match r.error_code {
                    ErrorCode::NONE => {
                        self.txn_producer_id(r.producer_id, r.producer_epoch, *bump, now);
                        Verdict::Done
                    }
                    ErrorCode::NOT_COORDINATOR | ErrorCode::COORDINATOR_NOT_AVAILABLE => Verdict::Moved,
                    code if code.is_retriable() => Verdict::Retry,
                    ErrorCode::INVALID_PRODUCER_EPOCH | ErrorCode::PRODUCER_FENCED => {
                        fenced(r.error_code, "InitProducerId")
                    }
                    ErrorCode::TRANSACTION_ABORTABLE => abortable(r.error_code, "InitProducerId"),
                    code => fatal(code, "InitProducerId"),
                }
            }
            Req::AddPartitions { partitions } => {
                let r = decode!(AddPartitionsToTxnRequest, ApiKey::AddPartitionsToTxn);
                let mut verdict = Verdict::Done;
                let mut first_error = None;
                for tr in &r.results {
                    for pr in &tr.partitions {
                        if pr.error_code.is_ok() {
                            continue;
                        }
                        first_error.get_or_insert((tr.name.clone(), pr.partition_index, pr.error_code));
                        let v = match pr.error_code {
                            ErrorCode::NOT_COORDINATOR | ErrorCode::COORDINATOR_NOT_AVAILABLE => {
                                Verdict::Moved
                            }
                            ErrorCode::CONCURRENT_TRANSACTIONS => Verdict::Retry,
                            code if code.is_retriable() => Verdict::Retry,
                            ErrorCode::INVALID_PRODUCER_EPOCH | ErrorCode::PRODUCER_FENCED => {
                                fenced(pr.error_code, "AddPartitionsToTxn")
                            }
                            ErrorCode::INVALID_PRODUCER_ID_MAPPING
                                if !self.txn.as_ref().is_some_and(|t| t.tv2) =>
                            {
                                abortable(pr.error_code, "AddPartitionsToTxn")
                            }
                            ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED
                            | ErrorCode::INVALID_TXN_STATE
                            | ErrorCode::INVALID_PRODUCER_ID_MAPPING => {
                                fatal(pr.error_code, "AddPartitionsToTxn")
                            }
                            ErrorCode::OPERATION_NOT_ATTEMPTED => continue,
                            code => abortable(
                                code,
                                &format!("AddPartitionsToTxn for {}-{}", tr.name, pr.partition_index),
                            ),
                        };
                        verdict = worse(verdict, v);
                    }
                }
                if let (Verdict::Done, Some((name, p, code))) = (&verdict, &first_error) {
                    // Only OPERATION_NOT_ATTEMPTED: the others' errors are not in the answer.
                    verdict = abortable(*code, &format!("AddPartitionsToTxn for {name}-{p}"));
                }
                let t = self.txn.as_mut().expect("checked");
                match &verdict {
                    Verdict::Done => {
                        for &(ti, pi) in partitions {
                            t.set_added(ti, pi as usize, Added::Yes);
                        }
                        t.started = true;
                    }
                    Verdict::Retry
                        if matches!(first_error, Some((_, _, ErrorCode::CONCURRENT_TRANSACTIONS))) =>
                    {
                        // The previous transaction is still completing: try again soon.
                        if !t.started {
                            let at = now + ADD_PARTITIONS_RETRY_BACKOFF;
                            t.queue.push(req);
                            t.retry_at = Some(at);
                            self.wake_at(at);
                            return Ok(());
                        }
                    }
                    Verdict::Retry | Verdict::Moved => {}
                    _ => {
                        for &(ti, pi) in partitions {
                            t.set_added(ti, pi as usize, Added::No);
                        }
                    }
                }
                verdict
            }
            Req::AddOffsets { .. } => {
                let r = decode!(AddOffsetsToTxnRequest, ApiKey::AddOffsetsToTxn);
                match r.error_code {
                    ErrorCode::NONE => Verdict::Done,
                    ErrorCode::NOT_COORDINATOR | ErrorCode::COORDINATOR_NOT_AVAILABLE => Verdict::Moved,
                    code if code.is_retriable() => Verdict::Retry,
                    ErrorCode::INVALID_PRODUCER_EPOCH | ErrorCode::PRODUCER_FENCED => {
                        fenced(r.error_code, "AddOffsetsToTxn")
                    }
                    ErrorCode::UNKNOWN_PRODUCER_ID
                    | ErrorCode::GROUP_AUTHORIZATION_FAILED
                    | ErrorCode::TRANSACTION_ABORTABLE => abortable(r.error_code, "AddOffsetsToTxn"),
                    ErrorCode::INVALID_PRODUCER_ID_MAPPING if !self.txn.as_ref().is_some_and(|t| t.tv2) => {
                        abortable(r.error_code, "AddOffsetsToTxn")
                    }
                    code => fatal(code, "AddOffsetsToTxn"),
                }
            }
            Req::TxnOffsetCommit { call, .. } => {
                let r = decode!(TxnOffsetCommitRequest, ApiKey::TxnOffsetCommit);
                let mut verdict = Verdict::Done;
                let mut committed = Vec::new();
                for tr in &r.topics {
                    for pr in &tr.partitions {
                        let v = match pr.error_code {
                            ErrorCode::NONE => {
                                committed.push((tr.name.clone(), pr.partition_index));
                                continue;
                            }
                            ErrorCode::NOT_COORDINATOR
                            | ErrorCode::COORDINATOR_NOT_AVAILABLE
                            | ErrorCode::REQUEST_TIMED_OUT => Verdict::Moved,
                            code if code.is_retriable() => Verdict::Retry,
                            ErrorCode::GROUP_AUTHORIZATION_FAILED
                            | ErrorCode::FENCED_INSTANCE_ID
                            | ErrorCode::TRANSACTION_ABORTABLE
                            | ErrorCode::UNKNOWN_MEMBER_ID
                            | ErrorCode::ILLEGAL_GENERATION => abortable(
                                pr.error_code,
                                &format!(
                                    "TxnOffsetCommit for group {} ({}-{})",
                                    call.group.group_id, tr.name, pr.partition_index
                                ),
                            ),
                            ErrorCode::INVALID_PRODUCER_EPOCH | ErrorCode::PRODUCER_FENCED => {
                                fenced(pr.error_code, "TxnOffsetCommit")
                            }
                            code => fatal(code, "TxnOffsetCommit"),
                        };
                        verdict = worse(verdict, v);
                    }
                }
                if matches!(verdict, Verdict::Retry | Verdict::Moved) {
                    // Only what is not committed yet goes again.
                    let Req::TxnOffsetCommit { mut call, done } = req else { unreachable!("matched above") };
                    call.offsets.retain(|(t, p, _)| !committed.iter().any(|(ct, cp)| ct == t && cp == p));
                    let moved = matches!(verdict, Verdict::Moved);
                    self.txn_retry(Req::TxnOffsetCommit { call, done }, moved, now);
                    return Ok(());
                }
                verdict
            }
            Req::EndTxn { .. } => {
                let r = decode!(EndTxnRequest, ApiKey::EndTxn);
                match r.error_code {
                    ErrorCode::NONE => {
                        let next = (r.producer_id >= 0).then_some((r.producer_id, r.producer_epoch));
                        self.txn_transaction_ended(next, now);
                        Verdict::Done
                    }
                    ErrorCode::NOT_COORDINATOR | ErrorCode::COORDINATOR_NOT_AVAILABLE => Verdict::Moved,
                    code if code.is_retriable() => Verdict::Retry,
                    ErrorCode::INVALID_PRODUCER_EPOCH | ErrorCode::PRODUCER_FENCED => {
                        fenced(r.error_code, "EndTxn")
                    }
                    ErrorCode::UNKNOWN_PRODUCER_ID | ErrorCode::TRANSACTION_ABORTABLE => {
                        abortable(r.error_code, "EndTxn")
                    }
                    ErrorCode::INVALID_PRODUCER_ID_MAPPING if !self.txn.as_ref().is_some_and(|t| t.tv2) => {
                        abortable(r.error_code, "EndTxn")
                    }
                    code => fatal(code, "EndTxn"),
                }
            }
        };
        match verdict {
            Verdict::Done => {
                let t = self.txn.as_mut().expect("checked");
                t.attempts = 0;
                match req {
                    Req::AddOffsets { call, done } => {
                        // The group is in the transaction: now the offsets, to its coordinator.
                        t.started = true;
                        t.enqueue(Req::TxnOffsetCommit { call, done });
                    }
                    Req::TxnOffsetCommit { done, .. } => done.complete(Ok(())),
                    _ => {}
                }
            }
            Verdict::Retry => self.txn_retry(req, false, now),
            Verdict::Moved => self.txn_retry(req, true, now),
            // The state changes before the caller learns of it: a call it makes next must
            // find the error.
            Verdict::Abortable(e) => {
                self.txn_abortable(e.clone());
                req.fail(&e);
            }
            Verdict::Fatal(e) => {
                self.txn_fatal(e.clone());
                req.fail(&e);
            }
        }
        self.next_wakeup = Some(now);
        Ok(())
    }

    /// InitProducerId answered: the producer's id and epoch. Sequences start over.
    fn txn_producer_id(&mut self, id: i64, epoch: i16, bump: bool, _now: Instant) {
        log::info!(
            "transactional.id {}: producer id {id} epoch {epoch}{}",
            self.txn.as_ref().map_or("", |t| &t.id),
            if bump { " (epoch bumped)" } else { "" }
        );
        self.idem.producer = Some((id, epoch));
        self.txn_reset_sequences();
        let Some(t) = self.txn.as_mut() else { return };
        if !bump {
            // The transaction version of the first transaction: the cluster's, as the
            // ApiVersions answers so far tell it.
            t.tv2 = t.cluster_tv2();
        } else if t.tv2_after_bump {
            t.tv2 = true;
        }
        t.tv2_after_bump = false;
        t.bump_required = false;
        t.closing = false;
        t.shared.set_state(TxnState::Ready);
        if let Some(done) = t.op.take() {
            done.complete(Ok(()));
        }
    }

    /// EndTxn succeeded (or the transaction was empty): under version 2 the answer carries
    /// the epoch for the next transaction. Then an epoch bump if one is due, else `Ready`.
    fn txn_transaction_ended(&mut self, next: Option<(i64, i16)>, _now: Instant) {
        if let Some((id, epoch)) = next {
            log::debug!("producer id {id} epoch {epoch} for the next transaction");
            self.idem.producer = Some((id, epoch));
            self.txn_reset_sequences();
        }
        let Some(t) = self.txn.as_mut() else { return };
        t.added.iter_mut().for_each(|p| p.fill(Added::No));
        t.started = false;
        // The next transaction's version: the cluster's now. Down to version 1 needs nothing;
        // up to version 2 needs an epoch bump first (as Java does), so that nothing of a
        // version 1 transaction is taken for part of a version 2 one.
        let cluster = t.cluster_tv2();
        if t.tv2 && !cluster {
            t.tv2 = false;
        } else if !t.tv2 && cluster && t.coordinator_can_bump {
            t.tv2_after_bump = true;
            t.bump_required = true;
        }
        if self.idem.producer.is_none() {
            // The producer id never came (InitProducerId itself failed abortably): get one.
            t.enqueue(Req::InitProducerId { bump: false });
            return;
        }
        if t.bump_required && !t.tv2 {
            t.enqueue(Req::InitProducerId { bump: true });
            return;
        }
        t.bump_required = false;
        t.closing = false;
        t.shared.set_state(TxnState::Ready);
        if let Some(done) = t.op.take() {
            done.complete(Ok(()));
        }
    }

    /// A new producer id or epoch: every partition's sequences start at 0.
    fn txn_reset_sequences(&mut self) {
        for t in &mut self.topics {
            for p in &mut t.partitions {
                p.next_sequence = 0;
                p.acked_next = None;
                for b in &mut p.queue {
                    b.sequence = None;
                }
            }
        }
    }
}

/// The more serious of two verdicts (fatal over abortable over moved over retry).
fn worse(a: Verdict, b: Verdict) -> Verdict {
    fn rank(v: &Verdict) -> u8 {
        match v {
            Verdict::Done => 0,
            Verdict::Retry => 1,
            Verdict::Moved => 2,
            Verdict::Abortable(_) => 3,
            Verdict::Fatal(_) => 4,
        }
    }
    if rank(&b) > rank(&a) {
        b
    } else {
        a
    }
}

fn opt_msg(m: &Option<String>) -> String {
    m.as_deref().map_or(String::new(), |m| format!(": {m}"))
}
