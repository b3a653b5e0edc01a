//! The transactional requests on the wire: choosing the next one (Java's priority order, one in
//! flight at a time), the connection to its coordinator, encoding it, and what each answer's
//! error code means (retry, look the coordinator up again, abortable, fatal).

use std::time::{Duration, Instant};

use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::{
    decode_response, AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, AddPartitionsToTxnTopic,
    CoordinatorType, EndTxnRequest, FindCoordinatorRequest, InitProducerIdRequest, TxnOffsetCommitPartition,
    TxnOffsetCommitRequest, TxnOffsetCommitTopic,
};
use crate::protocol::version::{ApiKey, NegotiatedVersions};
use crate::transaction::{TransactionError, TxnDone};

use super::machine::OffsetsCall;
use super::Added;
use crate::engine::connection::ConnState;
use crate::engine::requests::Kind;
use crate::engine::Engine;

/// A transactional request, waiting or in flight.
#[derive(Debug)]
pub(super) enum Req {
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
    pub(super) fn fail(self, e: &TransactionError) {
        if let Req::AddOffsets { done, .. } | Req::TxnOffsetCommit { done, .. } = self {
            done.complete(Err(e.clone()));
        }
    }
}

/// The back-off after CONCURRENT_TRANSACTIONS for the first AddPartitionsToTxn of a
/// transaction (Java's `ADD_PARTITIONS_RETRY_BACKOFF_MS`): the previous transaction is still
/// being completed, which takes milliseconds.
const ADD_PARTITIONS_RETRY_BACKOFF: Duration = Duration::from_millis(20);

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
    /// Sends the next request, if none is in flight and its coordinator is ready.
    pub(super) fn txn_send_next(&mut self, now: Instant) {
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
    pub(in crate::engine) fn txn_request_lost(&mut self, node: i32, now: Instant) {
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
    pub(in crate::engine) fn handle_txn_response(
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
