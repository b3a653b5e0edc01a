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

use super::topic_errors::{self, min_topic, Names, PartitionError, TopicErrors};
use super::{check_version, put_tags, skip_tags, Decode, Encode, Request};
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
pub type AddPartitionsToTxnTopicResult = TopicErrors;

/// One partition's result in an AddPartitionsToTxn response. When one partition fails, Kafka
/// answers OPERATION_NOT_ATTEMPTED for the others.
pub type AddPartitionsToTxnPartitionResult = PartitionError;

fn flexible(version: i16) -> bool {
    ApiKey::AddPartitionsToTxn.is_flexible(version)
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
        topic_errors::put(buf, &self.results, flex);
        put_tags(buf, flex);
    }
}

impl Decode for AddPartitionsToTxnResponse {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        check_version(ApiKey::AddPartitionsToTxn, version)?;
        let flex = flexible(version);
        let throttle_time_ms = r.i32()?;
        let names = Names {
            topics: "results_by_topic",
            name: "results_by_topic.name",
            partitions: "results_by_partition",
        };
        let results = topic_errors::read(r, flex, names)?;
        skip_tags(r, flex)?;
        Ok(AddPartitionsToTxnResponse { throttle_time_ms, results })
    }
}

impl Request for AddPartitionsToTxnRequest {
    const API_KEY: ApiKey = ApiKey::AddPartitionsToTxn;
    type Response = AddPartitionsToTxnResponse;
}
