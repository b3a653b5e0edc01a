//! TxnOffsetCommit (key 28), v0–v5: commits a consumer group's offsets inside the transaction,
//! sent to the group coordinator (`send_offsets_to_transaction`).
//!
//! Field presence follows `TxnOffsetCommitRequest.json` / `TxnOffsetCommitResponse.json`
//! (flexible from v3):
//! - request: `TransactionalId`, `GroupId`, `ProducerId`, `ProducerEpoch`,
//!   `GenerationIdOrMemberEpoch`, `MemberId`, `GroupInstanceId` (nullable) (those three v3+, so
//!   the coordinator can fence a zombie group member, KIP-447), `Topics[Name, Partitions[
//!   PartitionIndex, CommittedOffset, CommittedLeaderEpoch (v2+), CommittedMetadata
//!   (nullable)]]`.
//! - response: `ThrottleTimeMs`, `Topics[Name, Partitions[PartitionIndex, ErrorCode]]`.
//!
//! v5 is transaction version 2 (it also does AddOffsetsToTxn's work); a client may send it only
//! when the cluster finalizes `transaction.version` ≥ 2 ([`ApiKey::max_before_transaction_v2`]).
//! v6 addresses topics by id (KIP-1319) and is not implemented: see [`ApiKey::supported`].

use super::topic_errors::{self, min_topic, Names, PartitionError, TopicErrors};
use super::{check_version, put_tags, skip_tags, Decode, Encode, Request};
use crate::protocol::primitives::{DecodeResult, Reader, Writer};
use crate::protocol::version::ApiKey;

/// TxnOffsetCommit request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitRequest {
    /// The transactional id.
    pub transactional_id: String,
    /// The consumer group.
    pub group_id: String,
    /// The producer id.
    pub producer_id: i64,
    /// The producer's current epoch.
    pub producer_epoch: i16,
    /// v3+ (`GenerationIdOrMemberEpoch`): the group generation (classic protocol) or member
    /// epoch (consumer protocol) of the consumer whose offsets these are; -1 before v3.
    pub generation_id: i32,
    /// v3+: the consumer's member id; empty before v3.
    pub member_id: String,
    /// v3+: the consumer's static `group.instance.id`, if it has one.
    pub group_instance_id: Option<String>,
    /// The offsets, per topic.
    pub topics: Vec<TxnOffsetCommitTopic>,
}

/// One topic's offsets in a TxnOffsetCommit request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitTopic {
    /// Topic name.
    pub name: String,
    /// Per-partition offsets.
    pub partitions: Vec<TxnOffsetCommitPartition>,
}

/// One partition's offset in a TxnOffsetCommit request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitPartition {
    /// Partition index.
    pub partition_index: i32,
    /// The offset to commit: the next record the group will read.
    pub committed_offset: i64,
    /// v2+: the leader epoch of the last record consumed, or -1.
    pub committed_leader_epoch: i32,
    /// Metadata kept with the offset.
    pub committed_metadata: Option<String>,
}

/// TxnOffsetCommit response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommitResponse {
    /// Throttle time.
    pub throttle_time_ms: i32,
    /// Per-topic results.
    pub topics: Vec<TxnOffsetCommitResponseTopic>,
}

/// One topic's results in a TxnOffsetCommit response.
pub type TxnOffsetCommitResponseTopic = TopicErrors;

/// One partition's result in a TxnOffsetCommit response.
pub type TxnOffsetCommitResponsePartition = PartitionError;

fn flexible(version: i16) -> bool {
    ApiKey::TxnOffsetCommit.is_flexible(version)
}

impl Encode for TxnOffsetCommitRequest {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        debug_assert!(check_version(ApiKey::TxnOffsetCommit, version).is_ok());
        let flex = flexible(version);
        buf.put_string(&self.transactional_id, flex);
        buf.put_string(&self.group_id, flex);
        buf.put_i64(self.producer_id);
        buf.put_i16(self.producer_epoch);
        if version >= 3 {
            buf.put_i32(self.generation_id);
            buf.put_string(&self.member_id, flex);
            buf.put_nullable_string(self.group_instance_id.as_deref(), flex);
        }
        buf.put_array_len(self.topics.len(), flex);
        for t in &self.topics {
            buf.put_string(&t.name, flex);
            buf.put_array_len(t.partitions.len(), flex);
            for p in &t.partitions {
                buf.put_i32(p.partition_index);
                buf.put_i64(p.committed_offset);
                if version >= 2 {
                    buf.put_i32(p.committed_leader_epoch);
                }
                buf.put_nullable_string(p.committed_metadata.as_deref(), flex);
                put_tags(buf, flex);
            }
            put_tags(buf, flex);
        }
        put_tags(buf, flex);
    }
}

impl Decode for TxnOffsetCommitRequest {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        check_version(ApiKey::TxnOffsetCommit, version)?;
        let flex = flexible(version);
        let transactional_id = r.string(flex, "transactional_id")?.to_owned();
        let group_id = r.string(flex, "group_id")?.to_owned();
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        let (generation_id, member_id, group_instance_id) = if version >= 3 {
            (r.i32()?, r.string(flex, "member_id")?.to_owned(), r.nullable_string(flex)?.map(str::to_owned))
        } else {
            (-1, String::new(), None)
        };
        // Smallest partition: index(4) + offset(8) [+ epoch(4)] + null metadata: classic -1
        // (2 bytes), or compact null (1) + tags (1).
        let min_part = 12 + if version >= 2 { 4 } else { 0 } + 2;
        let topics = r.array(flex, min_topic(flex), "topics", |r| {
            let name = r.string(flex, "topics.name")?.to_owned();
            let partitions = r.array(flex, min_part, "topics.partitions", |r| {
                let partition_index = r.i32()?;
                let committed_offset = r.i64()?;
                let committed_leader_epoch = if version >= 2 { r.i32()? } else { -1 };
                let committed_metadata = r.nullable_string(flex)?.map(str::to_owned);
                skip_tags(r, flex)?;
                Ok(TxnOffsetCommitPartition {
                    partition_index,
                    committed_offset,
                    committed_leader_epoch,
                    committed_metadata,
                })
            })?;
            skip_tags(r, flex)?;
            Ok(TxnOffsetCommitTopic { name, partitions })
        })?;
        skip_tags(r, flex)?;
        Ok(TxnOffsetCommitRequest {
            transactional_id,
            group_id,
            producer_id,
            producer_epoch,
            generation_id,
            member_id,
            group_instance_id,
            topics,
        })
    }
}

impl Encode for TxnOffsetCommitResponse {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        debug_assert!(check_version(ApiKey::TxnOffsetCommit, version).is_ok());
        let flex = flexible(version);
        buf.put_i32(self.throttle_time_ms);
        topic_errors::put(buf, &self.topics, flex);
        put_tags(buf, flex);
    }
}

impl Decode for TxnOffsetCommitResponse {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        check_version(ApiKey::TxnOffsetCommit, version)?;
        let flex = flexible(version);
        let throttle_time_ms = r.i32()?;
        let names = Names { topics: "topics", name: "topics.name", partitions: "topics.partitions" };
        let topics = topic_errors::read(r, flex, names)?;
        skip_tags(r, flex)?;
        Ok(TxnOffsetCommitResponse { throttle_time_ms, topics })
    }
}

impl Request for TxnOffsetCommitRequest {
    const API_KEY: ApiKey = ApiKey::TxnOffsetCommit;
    type Response = TxnOffsetCommitResponse;
}
