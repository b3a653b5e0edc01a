//! The mock cluster's transaction coordinator and group coordinator, as far as a transactional
//! producer can tell: FindCoordinator, InitProducerId with a transactional id (fencing the
//! earlier epoch, aborting its open transaction), AddPartitionsToTxn, AddOffsetsToTxn,
//! TxnOffsetCommit, EndTxn (with the epoch bump of transaction version 2, and an EndTxn sent
//! again after its answer was lost answered as the first), and the checks a partition leader
//! makes on a transactional batch. Every coordinator lives on one node
//! ([`MockCluster::set_transaction_coordinator`](super::MockCluster::set_transaction_coordinator)):
//! a request to another node gets NOT_COORDINATOR, as after a coordinator move.
//!
//! What a `read_committed` consumer would see is
//! [`MockCluster::committed_records`](super::MockCluster::committed_records); offsets committed
//! in transactions, [`MockCluster::committed_offset`](super::MockCluster::committed_offset).
//! There is no transaction timeout (the mock has no clock).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::{
    AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, AddPartitionsToTxnPartitionResult,
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, AddPartitionsToTxnTopicResult, EndTxnRequest,
    EndTxnResponse, InitProducerIdRequest, InitProducerIdResponse, TxnOffsetCommitRequest,
    TxnOffsetCommitResponse, TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use crate::protocol::record_batch::{
    attributes, ATTRIBUTES_OFFSET, BATCH_HEADER_LEN, PRODUCER_EPOCH_OFFSET, PRODUCER_ID_OFFSET,
};

/// Where a transactional id's transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Empty,
    Ongoing,
    CompleteCommit,
    CompleteAbort,
}

/// The answer to the last EndTxn, to answer it again when it is sent again.
#[derive(Debug, Clone, Copy)]
struct LastEnd {
    /// The epoch the request carried.
    epoch: i16,
    commit: bool,
    /// The producer id and epoch after it.
    after: (i64, i16),
}

#[derive(Debug)]
struct TxnId {
    producer_id: i64,
    epoch: i16,
    status: Status,
    partitions: BTreeSet<(String, i32)>,
    groups: BTreeSet<String>,
    /// Offsets committed in the open transaction: (group, topic, partition) -> offset.
    offsets: BTreeMap<(String, String, i32), i64>,
    /// The batches written in the open transaction: (topic, partition, base offset).
    batches: Vec<(String, i32, i64)>,
    last_end: Option<LastEnd>,
}

/// The transaction state of a mock cluster.
#[derive(Debug)]
pub(crate) struct MockTxns {
    /// The finalized `transaction.version` the brokers advertise (2, as Apache Kafka 4.x by
    /// default; 1 or 0 for the older protocol).
    pub(crate) transaction_version: i16,
    /// Bumped when `transaction_version` changes (`finalized_features_epoch`).
    pub(crate) features_epoch: i64,
    /// The node that coordinates every transactional id and every group.
    pub(crate) coordinator: i32,
    ids: HashMap<String, TxnId>,
    /// Batches of open transactions, and of aborted ones: (topic, partition, base offset).
    open: HashSet<(String, i32, i64)>,
    aborted: HashSet<(String, i32, i64)>,
    committed_offsets: BTreeMap<(String, String, i32), i64>,
    /// Transactions committed and aborted so far.
    pub(crate) commits: u64,
    pub(crate) aborts: u64,
}

impl Default for MockTxns {
    fn default() -> Self {
        MockTxns {
            transaction_version: 2,
            features_epoch: 1,
            coordinator: 0,
            ids: HashMap::new(),
            open: HashSet::new(),
            aborted: HashSet::new(),
            committed_offsets: BTreeMap::new(),
            commits: 0,
            aborts: 0,
        }
    }
}

/// Whether a version of EndTxn or Produce is transaction version 2's (and the cluster runs it).
fn v2(tv: i16, version: i16, first_v2: i16) -> bool {
    tv >= 2 && version >= first_v2
}

impl MockTxns {
    /// Whether a stored transactional batch is visible to `read_committed` readers.
    pub(crate) fn visible(&self, topic: &str, partition: i32, base_offset: i64) -> bool {
        let k = (topic.to_string(), partition, base_offset);
        !self.open.contains(&k) && !self.aborted.contains(&k)
    }

    pub(crate) fn committed_offset(&self, group: &str, topic: &str, partition: i32) -> Option<i64> {
        self.committed_offsets.get(&(group.to_string(), topic.to_string(), partition)).copied()
    }

    /// Ends `t`'s open transaction (commit or abort) and moves it to the complete state.
    fn end(&mut self, tid: &str, commit: bool) {
        let Some(t) = self.ids.get_mut(tid) else { return };
        for b in t.batches.drain(..) {
            self.open.remove(&b);
            if !commit {
                self.aborted.insert(b);
            }
        }
        let offsets = std::mem::take(&mut t.offsets);
        if commit {
            self.committed_offsets.extend(offsets);
            self.commits += 1;
        } else {
            self.aborts += 1;
        }
        t.partitions.clear();
        t.groups.clear();
        t.status = if commit { Status::CompleteCommit } else { Status::CompleteAbort };
    }

    /// InitProducerId with a transactional id, received by `node`.
    pub(crate) fn init_producer_id(
        &mut self,
        node: i32,
        req: &InitProducerIdRequest,
        next_producer_id: &mut i64,
    ) -> InitProducerIdResponse {
        let answer = |error_code, producer_id, producer_epoch| InitProducerIdResponse {
            throttle_time_ms: 0,
            error_code,
            producer_id,
            producer_epoch,
        };
        if node != self.coordinator {
            return answer(ErrorCode::NOT_COORDINATOR, -1, -1);
        }
        let tid = req.transactional_id.clone().unwrap_or_default();
        let Some(t) = self.ids.get_mut(&tid) else {
            let id = *next_producer_id;
            *next_producer_id += 1;
            self.ids.insert(
                tid,
                TxnId {
                    producer_id: id,
                    epoch: 0,
                    status: Status::Empty,
                    partitions: BTreeSet::new(),
                    groups: BTreeSet::new(),
                    offsets: BTreeMap::new(),
                    batches: Vec::new(),
                    last_end: None,
                },
            );
            return answer(ErrorCode::NONE, id, 0);
        };
        if req.producer_id >= 0 && (req.producer_id, req.producer_epoch) != (t.producer_id, t.epoch) {
            // KIP-360: a bump of an epoch that is no longer current: someone else took over.
            return answer(ErrorCode::PRODUCER_FENCED, -1, -1);
        }
        t.epoch = t.epoch.saturating_add(1);
        if t.status == Status::Ongoing {
            // As Kafka: the open transaction is aborted under the bumped epoch (fencing its
            // producer), and the caller told to try again.
            self.end(&tid, false);
            return answer(ErrorCode::CONCURRENT_TRANSACTIONS, -1, -1);
        }
        t.last_end = None;
        if t.epoch == i16::MAX {
            t.producer_id = *next_producer_id;
            *next_producer_id += 1;
            t.epoch = 0;
        }
        answer(ErrorCode::NONE, t.producer_id, t.epoch)
    }

    /// Checks a request's producer id and epoch against the transactional id's.
    fn check(&self, tid: &str, producer_id: i64, epoch: i16) -> Result<(), ErrorCode> {
        let Some(t) = self.ids.get(tid) else { return Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING) };
        if t.producer_id != producer_id {
            return Err(ErrorCode::INVALID_PRODUCER_ID_MAPPING);
        }
        if epoch < t.epoch {
            return Err(ErrorCode::PRODUCER_FENCED);
        }
        if epoch > t.epoch {
            return Err(ErrorCode::INVALID_PRODUCER_EPOCH);
        }
        Ok(())
    }

    pub(crate) fn add_partitions(
        &mut self,
        node: i32,
        req: &AddPartitionsToTxnRequest,
        error: Option<ErrorCode>,
        topic_exists: impl Fn(&str, i32) -> bool,
    ) -> AddPartitionsToTxnResponse {
        let code = if let Some(e) = error {
            Err(e)
        } else if node != self.coordinator {
            Err(ErrorCode::NOT_COORDINATOR)
        } else {
            self.check(&req.transactional_id, req.producer_id, req.producer_epoch)
        };
        let mut results = Vec::new();
        for tp in &req.topics {
            let mut partitions = Vec::new();
            for &p in &tp.partitions {
                let error_code = match code {
                    Err(c) => c,
                    Ok(()) if !topic_exists(&tp.name, p) => ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                    Ok(()) => ErrorCode::NONE,
                };
                partitions.push(AddPartitionsToTxnPartitionResult { partition_index: p, error_code });
            }
            results.push(AddPartitionsToTxnTopicResult { name: tp.name.clone(), partitions });
        }
        let failed = results.iter().flat_map(|t| &t.partitions).any(|p| !p.error_code.is_ok());
        if failed {
            // All or nothing, as Kafka: the partitions without an error of their own were not
            // attempted.
            for p in results.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
                if p.error_code.is_ok() {
                    p.error_code = ErrorCode::OPERATION_NOT_ATTEMPTED;
                }
            }
        } else if let Some(t) = self.ids.get_mut(&req.transactional_id) {
            t.status = Status::Ongoing;
            for tp in &req.topics {
                for &p in &tp.partitions {
                    t.partitions.insert((tp.name.clone(), p));
                }
            }
        }
        AddPartitionsToTxnResponse { throttle_time_ms: 0, results }
    }

    pub(crate) fn add_offsets(
        &mut self,
        node: i32,
        req: &AddOffsetsToTxnRequest,
        error: Option<ErrorCode>,
    ) -> AddOffsetsToTxnResponse {
        let code = match error {
            Some(e) => e,
            None if node != self.coordinator => ErrorCode::NOT_COORDINATOR,
            None => match self.check(&req.transactional_id, req.producer_id, req.producer_epoch) {
                Err(c) => c,
                Ok(()) => {
                    let t = self.ids.get_mut(&req.transactional_id).expect("checked");
                    t.status = Status::Ongoing;
                    t.groups.insert(req.group_id.clone());
                    ErrorCode::NONE
                }
            },
        };
        AddOffsetsToTxnResponse { throttle_time_ms: 0, error_code: code }
    }

    pub(crate) fn txn_offset_commit(
        &mut self,
        node: i32,
        version: i16,
        req: &TxnOffsetCommitRequest,
        error: Option<ErrorCode>,
    ) -> TxnOffsetCommitResponse {
        let tv2 = v2(self.transaction_version, version, 5);
        let code = match error {
            Some(e) => Err(e),
            None if node != self.coordinator => Err(ErrorCode::NOT_COORDINATOR),
            None => self.check(&req.transactional_id, req.producer_id, req.producer_epoch).and_then(|()| {
                let t = self.ids.get(&req.transactional_id).expect("checked");
                // Version 1: AddOffsetsToTxn must have added the group; version 2 adds it here.
                if tv2 || t.groups.contains(&req.group_id) {
                    Ok(())
                } else {
                    Err(ErrorCode::INVALID_TXN_STATE)
                }
            }),
        };
        if code.is_ok() {
            let t = self.ids.get_mut(&req.transactional_id).expect("checked");
            t.status = Status::Ongoing;
            t.groups.insert(req.group_id.clone());
            for tp in &req.topics {
                for p in &tp.partitions {
                    t.offsets.insert(
                        (req.group_id.clone(), tp.name.clone(), p.partition_index),
                        p.committed_offset,
                    );
                }
            }
        }
        let error_code = code.err().unwrap_or(ErrorCode::NONE);
        TxnOffsetCommitResponse {
            throttle_time_ms: 0,
            topics: req
                .topics
                .iter()
                .map(|tp| TxnOffsetCommitResponseTopic {
                    name: tp.name.clone(),
                    partitions: tp
                        .partitions
                        .iter()
                        .map(|p| TxnOffsetCommitResponsePartition {
                            partition_index: p.partition_index,
                            error_code,
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    pub(crate) fn end_txn(
        &mut self,
        node: i32,
        version: i16,
        req: &EndTxnRequest,
        error: Option<ErrorCode>,
    ) -> EndTxnResponse {
        let answer = |error_code, (producer_id, producer_epoch): (i64, i16)| EndTxnResponse {
            throttle_time_ms: 0,
            error_code,
            producer_id,
            producer_epoch,
        };
        if let Some(e) = error {
            return answer(e, (-1, -1));
        }
        if node != self.coordinator {
            return answer(ErrorCode::NOT_COORDINATOR, (-1, -1));
        }
        let tv2 = v2(self.transaction_version, version, 5);
        let tid = req.transactional_id.as_str();
        if let Some(t) = self.ids.get(tid) {
            // Sent again after its answer was lost: the same answer.
            if let Some(le) = t.last_end {
                let complete = matches!(t.status, Status::CompleteCommit | Status::CompleteAbort);
                if complete && le.epoch == req.producer_epoch && le.commit == req.committed {
                    return answer(ErrorCode::NONE, if version >= 5 { le.after } else { (-1, -1) });
                }
            }
        }
        if let Err(c) = self.check(tid, req.producer_id, req.producer_epoch) {
            return answer(c, (-1, -1));
        }
        let t = self.ids.get_mut(tid).expect("checked");
        match t.status {
            Status::Ongoing => {}
            // Version 2 lets a producer abort a transaction nothing reached (it bumps anyway).
            Status::Empty | Status::CompleteCommit | Status::CompleteAbort if tv2 && !req.committed => {}
            _ => return answer(ErrorCode::INVALID_TXN_STATE, (-1, -1)),
        }
        self.end(tid, req.committed);
        let t = self.ids.get_mut(tid).expect("checked");
        if tv2 {
            t.epoch = t.epoch.saturating_add(1);
        }
        let after = (t.producer_id, t.epoch);
        t.last_end = Some(LastEnd { epoch: req.producer_epoch, commit: req.committed, after });
        answer(ErrorCode::NONE, if version >= 5 { after } else { (-1, -1) })
    }

    /// A partition leader's checks of a transactional batch (`records` in a Produce request at
    /// `version` with `transactional_id`): its producer must hold the id's current epoch, and
    /// the partition must be in the transaction (version 2 adds it). `Ok(Some(id))` for a
    /// transactional batch that may be appended (then [`appended`](Self::appended)).
    pub(crate) fn check_produce(
        &mut self,
        transactional_id: Option<&str>,
        version: i16,
        topic: &str,
        partition: i32,
        records: &[u8],
    ) -> Result<Option<String>, ErrorCode> {
        if records.len() < BATCH_HEADER_LEN {
            return Ok(None);
        }
        let attrs = i16::from_be_bytes([records[ATTRIBUTES_OFFSET], records[ATTRIBUTES_OFFSET + 1]]);
        if attrs & attributes::TRANSACTIONAL == 0 {
            return Ok(None);
        }
        let Some(tid) = transactional_id else { return Err(ErrorCode::INVALID_TXN_STATE) };
        let mut pid = [0u8; 8];
        pid.copy_from_slice(&records[PRODUCER_ID_OFFSET..PRODUCER_ID_OFFSET + 8]);
        let pid = i64::from_be_bytes(pid);
        let epoch = i16::from_be_bytes([records[PRODUCER_EPOCH_OFFSET], records[PRODUCER_EPOCH_OFFSET + 1]]);
        match self.check(tid, pid, epoch) {
            // The leader knows only epochs: an old one is INVALID_PRODUCER_EPOCH there.
            Err(ErrorCode::PRODUCER_FENCED) => return Err(ErrorCode::INVALID_PRODUCER_EPOCH),
            Err(c) => return Err(c),
            Ok(()) => {}
        }
        let tv2 = v2(self.transaction_version, version, 12);
        let t = self.ids.get_mut(tid).expect("checked");
        let key = (topic.to_string(), partition);
        if !t.partitions.contains(&key) {
            if !tv2 {
                return Err(ErrorCode::INVALID_TXN_STATE);
            }
            t.partitions.insert(key);
            t.status = Status::Ongoing;
        }
        Ok(Some(tid.to_string()))
    }

    /// A transactional batch of `tid` was appended at `base_offset`: invisible until its
    /// transaction commits.
    pub(crate) fn appended(&mut self, tid: &str, topic: &str, partition: i32, base_offset: i64) {
        let k = (topic.to_string(), partition, base_offset);
        self.open.insert(k.clone());
        if let Some(t) = self.ids.get_mut(tid) {
            t.batches.push(k);
        }
    }
}
