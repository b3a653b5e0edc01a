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
//! the ApiVersions answers tell it, decided when `init_transactions` gets the producer id and
//! again as each transaction ends, never in the middle of one.
//!
//! Three files: this one (the room's state, the calls, the poll, the error states, the hooks),
//! `machine` (the shared state machine and its transitions), `wire` (choosing, sending and
//! answering the requests).
//!
//! What it asks of the other rooms, through small hooks: `produce` holds a partition's batches
//! until it is in the transaction ([`Engine::txn_holds`]), stamps the transactional id and the
//! transactional attribute, and reports every failed batch ([`Engine::txn_record_failed`],
//! also called by `records` for a record that never reached a batch); `requests` hands it its
//! responses and the finalized features; `connection` tells it when its request was lost. It
//! drives batches itself only to fail the unsent ones of a transaction that cannot commit.

mod machine;
mod wire;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::ProduceError;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::ApiVersionsResponse;
use crate::protocol::version::ApiKey;
use crate::transaction::{TransactionError, TxnDone};

use super::Engine;
pub(crate) use machine::{OffsetsCall, Start, TxnCall, TxnOp, TxnShared, TxnState};
use wire::Req;

/// Whether a partition is part of the current transaction (transaction version 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Added {
    #[default]
    No,
    /// In an AddPartitionsToTxn request.
    Pending,
    Yes,
}

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
                done.complete(Err(TransactionError::InvalidState(
                    "send_offsets_to_transaction without offsets".into(),
                )))
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

fn opt_msg(m: &Option<String>) -> String {
    m.as_deref().map_or(String::new(), |m| format!(": {m}"))
}
