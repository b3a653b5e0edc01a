//! AddPartitionsToTxn (key 24), v0–v3, the client's form: before a partition's first batch in
//! a transaction (transaction version 1), the producer tells the coordinator the partition
//! joins it. v4+ is the brokers' own batched form (several transactions, `VerifyOnly`), which
//! the schema reserves for broker-to-broker use, so it is not implemented.
//!
//! Field presence follows `AddPartitionsToTxnRequest.json` / `AddPartitionsToTxnResponse.json`
//! (flexible from v3):
//! - request: `V3AndBelowTransactionalId`, `V3AndBelowProducerId`, `V3AndBelowProducerEpoch`,
//!   `V3AndBelowTopics[Name, Partitions[int32]]`.
//! - response: `ThrottleTimeMs`, `ResultsByTopicV3AndBelow[Name, ResultsByPartition[
//!   PartitionIndex, PartitionErrorCode]]`.
//!
//! v2 only adds PRODUCER_FENCED to the errors.

use super::{check_version, put_tags, skip_tags, Decode, Encode, Request};
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::{DecodeResult, Reader, Writer};
use crate::protocol::version::ApiKey;

/// AddPartitionsToTxn request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitionsToTxnRequest {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id InitProducerId assigned.
    pub producer_id: i64,
    /// The producer's current epoch.
    pub producer_epoch: i16,
    /// The partitions to add, per topic.
    pub topics: Vec<AddPartitionsToTxnTopic>,
}

/// One topic's partitions in an AddPartitionsToTxn request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitionsToTxnTopic {
    /// Topic name.
    pub name: String,
    /// Partition indexes.
    pub partitions: Vec<i32>,
}

/// AddPartitionsToTxn response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitionsToTxnResponse {
    /// Throttle time.
    pub throttle_time_ms: i32,
    /// Per-topic results.
    pub results: Vec<AddPartitionsToTxnTopicResult>,
}

/// One topic's results in an AddPartitionsToTxn response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddPartitionsToTxnTopicResult {
    /// Topic name.
    pub name: String,
    /// Per-partition results.
    pub partitions: Vec<AddPartitionsToTxnPartitionResult>,
}

/// One partition's result in an AddPartitionsToTxn response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddPartitionsToTxnPartitionResult {
    /// Partition index.
    pub partition_index: i32,
    /// The partition's error. When one partition fails, Kafka answers OPERATION_NOT_ATTEMPTED
    /// for the others.
    pub error_code: ErrorCode,
}

fn flexible(version: i16) -> bool {
    ApiKey::AddPartitionsToTxn.is_flexible(version)
}

/// Smallest topic entry: empty name + empty array (+ tags).
fn min_topic(flex: bool) -> usize {
    if flex {
        3
    } else {
        6
    }
}

impl Encode for AddPartitionsToTxnRequest {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        debug_assert!(check_version(ApiKey::AddPartitionsToTxn, version).is_ok());
        let flex = flexible(version);
        buf.put_string(&self.transactional_id, flex);
        buf.put_i64(self.producer_id);
        buf.put_i16(self.producer_epoch);
        buf.put_array_len(self.topics.len(), flex);
        for t in &self.topics {
            buf.put_string(&t.name, flex);
            buf.put_array_len(t.partitions.len(), flex);
            for &p in &t.partitions {
                buf.put_i32(p);
            }
            put_tags(buf, flex);
        }
        put_tags(buf, flex);
    }
}

impl Decode for AddPartitionsToTxnRequest {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        check_version(ApiKey::AddPartitionsToTxn, version)?;
        let flex = flexible(version);
        let transactional_id = r.string(flex, "transactional_id")?.to_owned();
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        let topics = r.array(flex, min_topic(flex), "topics", |r| {
            let name = r.string(flex, "topics.name")?.to_owned();
            let partitions = r.array(flex, 4, "topics.partitions", Reader::i32)?;
            skip_tags(r, flex)?;
            Ok(AddPartitionsToTxnTopic { name, partitions })
        })?;
        skip_tags(r, flex)?;
        Ok(AddPartitionsToTxnRequest { transactional_id, producer_id, producer_epoch, topics })
    }
}

impl Encode for AddPartitionsToTxnResponse {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        debug_assert!(check_version(ApiKey::AddPartitionsToTxn, version).is_ok());
        let flex = flexible(version);
        buf.put_i32(self.throttle_time_ms);
        buf.put_array_len(self.results.len(), flex);
        for t in &self.results {
            buf.put_string(&t.name, flex);
            buf.put_array_len(t.partitions.len(), flex);
            for p in &t.partitions {
                buf.put_i32(p.partition_index);
                buf.put_i16(p.error_code.0);
                put_tags(buf, flex);
            }
            put_tags(buf, flex);
        }
        put_tags(buf, flex);
    }
}

impl Decode for AddPartitionsToTxnResponse {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        check_version(ApiKey::AddPartitionsToTxn, version)?;
        let flex = flexible(version);
        let throttle_time_ms = r.i32()?;
        let min_part = 6 + usize::from(flex);
        let results = r.array(flex, min_topic(flex), "results_by_topic", |r| {
            let name = r.string(flex, "results_by_topic.name")?.to_owned();
            let partitions = r.array(flex, min_part, "results_by_partition", |r| {
                let partition_index = r.i32()?;
                let error_code = ErrorCode(r.i16()?);
                skip_tags(r, flex)?;
                Ok(AddPartitionsToTxnPartitionResult { partition_index, error_code })
            })?;
            skip_tags(r, flex)?;
            Ok(AddPartitionsToTxnTopicResult { name, partitions })
        })?;
        skip_tags(r, flex)?;
        Ok(AddPartitionsToTxnResponse { throttle_time_ms, results })
    }
}

impl Request for AddPartitionsToTxnRequest {
    const API_KEY: ApiKey = ApiKey::AddPartitionsToTxn;
    type Response = AddPartitionsToTxnResponse;
}
