//! The transaction state machine both sides see (Java's `TransactionManager` states and their
//! transitions): the application threads start calls and begin transactions, the sender
//! thread finishes calls and records errors, and `send` reads the state with one atomic load.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::SendError;
use crate::transaction::{ConsumerGroupMetadata, OffsetAndMetadata, TransactionError, TxnCallState, TxnDone};

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

    pub(super) fn name(self) -> &'static str {
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
pub(super) struct SharedInner {
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

    pub(super) fn lock(&self) -> MutexGuard<'_, SharedInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn set(&self, s: &mut SharedInner, to: TxnState) {
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
    pub(super) fn set_state(&self, to: TxnState) {
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
    pub(super) fn abortable(&self, e: &TransactionError) -> bool {
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
    pub(super) fn fatal(&self, e: &TransactionError) {
        let mut s = self.lock();
        if s.state != TxnState::FatalError {
            s.error = Some(e.clone());
            self.set(&mut s, TxnState::FatalError);
        }
    }

    /// The error of the error state the machine is in, if any.
    pub(super) fn last_error(&self) -> Option<TransactionError> {
        Self::error_of(&self.lock())
    }
}
