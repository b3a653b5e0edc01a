//! Produce (key 0), v3–v12. v3 is the first version that carries magic-v2 record batches. v12 is
//! v11 on the wire; in a transaction it tells the broker that the partition joins it without
//! AddPartitionsToTxn (transaction version 2, KIP-890), so a transactional producer may use it
//! only when the cluster finalizes `transaction.version` ≥ 2
//! ([`NegotiatedVersions::for_transaction_version`](crate::protocol::version::NegotiatedVersions::for_transaction_version)).
//! v13 (topic ids instead of names) is not implemented: see [`ApiKey::supported`].
//!
//! The producer's hot path does not build a [`ProduceRequest`]: it streams the request into its
//! send buffer with [`ProduceWriter`], and leaves a gap for each closed batch, which the driver
//! writes from where it lies ([`ProduceWriter::partition_spliced`]). [`ProduceRequest`] is the
//! owned form for the mock broker and tests.
//!
//! Field presence follows `ProduceRequest.json` / `ProduceResponse.json` (flexible from v9):
//! - request: `TransactionalId` (nullable), `Acks`, `TimeoutMs`,
//!   `TopicData[Name, PartitionData[Index, Records (nullable; classic int32 length, or compact
//!   bytes when flexible)]]`.
//! - response: `Responses[Name, PartitionResponses[Index, ErrorCode, BaseOffset,
//!   LogAppendTimeMs, LogStartOffset (v5+), RecordErrors (v8+), ErrorMessage (v8+),
//!   tag 0 CurrentLeader (v10+)]]`, `ThrottleTimeMs`, top-level tag 0 `NodeEndpoints` (v10+).
//!   Both tagged fields are KIP-951's: with NOT_LEADER_OR_FOLLOWER the broker names the new
//!   leader and its epoch, and where to reach it, so the producer can move without a Metadata
//!   round trip.

use super::{check_version, decode_tagged, put_tagged_field, put_tags, skip_tags, Decode, Encode, Request};
use crate::protocol::error_code::ErrorCode;
use crate::protocol::frame::{begin_frame, end_frame, PREFIX_LEN};
use crate::protocol::header::RequestHeader;
use crate::protocol::primitives::{DecodeResult, Reader, Writer};
use crate::protocol::version::ApiKey;

/// Produce request (owned form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceRequest {
    /// The transactional id, or `None` for a non-transactional producer.
    pub transactional_id: Option<String>,
    /// 0, 1 or -1 (all).
    pub acks: i16,
    /// How long the broker may wait for replication.
    pub timeout_ms: i32,
    /// Per-topic data.
    pub topics: Vec<TopicProduceData>,
}

/// One topic's data in a Produce request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicProduceData {
    /// Topic name.
    pub name: String,
    /// Per-partition data.
    pub partitions: Vec<PartitionProduceData>,
}

/// One partition's data in a Produce request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionProduceData {
    /// Partition number.
    pub index: i32,
    /// Raw record batches.
    pub records: Option<Vec<u8>>,
}

/// Produce response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceResponse {
    /// Per-topic results.
    pub responses: Vec<TopicProduceResponse>,
    /// v1+.
    pub throttle_time_ms: i32,
    /// v10+ tagged: the endpoints of every leader named in a partition's `current_leader`.
    /// Empty when the broker sent none.
    pub node_endpoints: Vec<NodeEndpoint>,
}

/// One topic's results in a Produce response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicProduceResponse {
    /// Topic name.
    pub name: String,
    /// Per-partition results.
    pub partitions: Vec<PartitionProduceResponse>,
}

/// One partition's result in a Produce response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionProduceResponse {
    /// Partition number.
    pub index: i32,
    /// Partition-level error.
    pub error_code: ErrorCode,
    /// Offset of the first record appended.
    pub base_offset: i64,
    /// v2+; -1 unless the topic uses LogAppendTime.
    pub log_append_time_ms: i64,
    /// v5+.
    pub log_start_offset: i64,
    /// v8+: (batch index, message) of the records that failed validation.
    pub record_errors: Vec<(i32, Option<String>)>,
    /// v8+.
    pub error_message: Option<String>,
    /// v10+ tagged: the leader the broker knows of, on NOT_LEADER_OR_FOLLOWER or
    /// FENCED_LEADER_EPOCH (KIP-951). `None` when the broker did not send it; Java omits it
    /// when it is the default (leader -1, epoch -1).
    pub current_leader: Option<LeaderIdAndEpoch>,
}

/// A partition's leader and its epoch, as the broker knows them (Produce v10+ `CurrentLeader`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderIdAndEpoch {
    /// The leader's broker id, or -1 if the broker does not know it.
    pub leader_id: i32,
    /// The leader epoch, or -1. Newer than the producer's is what makes it worth acting on.
    pub leader_epoch: i32,
}

/// Where to reach a broker named as a partition's [`LeaderIdAndEpoch`] (Produce v10+
/// `NodeEndpoints`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEndpoint {
    /// The broker id.
    pub node_id: i32,
    /// Host name to connect to.
    pub host: String,
    /// Port to connect to.
    pub port: i32,
    /// The broker's rack, if it has one.
    pub rack: Option<String>,
}

impl ProduceResponse {
    /// Where to reach broker `node_id`, if the response says (KIP-951: the endpoint of a
    /// partition's new [`LeaderIdAndEpoch`]).
    pub fn node_endpoint(&self, node_id: i32) -> Option<&NodeEndpoint> {
        self.node_endpoints.iter().find(|e| e.node_id == node_id)
    }
}

fn flexible(version: i16) -> bool {
    ApiKey::Produce.is_flexible(version)
}

/// Tag of `CurrentLeader` in a partition response (v10+).
const TAG_CURRENT_LEADER: u32 = 0;
/// Tag of `NodeEndpoints` in the response (v10+).
const TAG_NODE_ENDPOINTS: u32 = 0;

impl Encode for ProduceRequest {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        debug_assert!(check_version(ApiKey::Produce, version).is_ok());
        let flex = flexible(version);
        buf.put_nullable_string(self.transactional_id.as_deref(), flex);
        buf.put_i16(self.acks);
        buf.put_i32(self.timeout_ms);
        buf.put_array_len(self.topics.len(), flex);
        for t in &self.topics {
            buf.put_string(&t.name, flex);
            buf.put_array_len(t.partitions.len(), flex);
            for p in &t.partitions {
                buf.put_i32(p.index);
                buf.put_nullable_bytes(p.records.as_deref(), flex);
                put_tags(buf, flex);
            }
            put_tags(buf, flex);
        }
        put_tags(buf, flex);
    }
}

impl Decode for ProduceRequest {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        check_version(ApiKey::Produce, version)?;
        let flex = flexible(version);
        let transactional_id = r.nullable_string(flex)?.map(str::to_owned);
        let acks = r.i16()?;
        let timeout_ms = r.i32()?;
        // Smallest topic: empty name + empty array (+ tags); partition: index + null records.
        let (min_topic, min_part) = if flex { (3, 7) } else { (6, 8) };
        let topics = r.array(flex, min_topic, "topic_data", |r| {
            let name = r.string(flex, "topic_data.name")?.to_owned();
            let partitions = r.array(flex, min_part, "partition_data", |r| {
                let index = r.i32()?;
                let records = r.nullable_bytes(flex)?.map(<[u8]>::to_vec);
                skip_tags(r, flex)?;
                Ok(PartitionProduceData { index, records })
            })?;
            skip_tags(r, flex)?;
            Ok(TopicProduceData { name, partitions })
        })?;
        skip_tags(r, flex)?;
        Ok(ProduceRequest { transactional_id, acks, timeout_ms, topics })
    }
}

impl Encode for ProduceResponse {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        debug_assert!(check_version(ApiKey::Produce, version).is_ok());
        let flex = flexible(version);
        buf.put_array_len(self.responses.len(), flex);
        for t in &self.responses {
            buf.put_string(&t.name, flex);
            buf.put_array_len(t.partitions.len(), flex);
            for p in &t.partitions {
                buf.put_i32(p.index);
                buf.put_i16(p.error_code.0);
                buf.put_i64(p.base_offset);
                buf.put_i64(p.log_append_time_ms);
                if version >= 5 {
                    buf.put_i64(p.log_start_offset);
                }
                if version >= 8 {
                    buf.put_array_len(p.record_errors.len(), flex);
                    for (batch_index, message) in &p.record_errors {
                        buf.put_i32(*batch_index);
                        buf.put_nullable_string(message.as_deref(), flex);
                        put_tags(buf, flex);
                    }
                    buf.put_nullable_string(p.error_message.as_deref(), flex);
                }
                match p.current_leader {
                    Some(leader) if version >= 10 => {
                        buf.put_uvarint(1); // one tagged field
                        put_tagged_field(buf, TAG_CURRENT_LEADER, |b| {
                            b.put_i32(leader.leader_id);
                            b.put_i32(leader.leader_epoch);
                            b.put_empty_tagged_fields();
                        });
                    }
                    _ => put_tags(buf, flex),
                }
            }
            put_tags(buf, flex);
        }
        buf.put_i32(self.throttle_time_ms);
        if version >= 10 && !self.node_endpoints.is_empty() {
            buf.put_uvarint(1); // one tagged field
            put_tagged_field(buf, TAG_NODE_ENDPOINTS, |b| {
                b.put_array_len(self.node_endpoints.len(), true);
                for e in &self.node_endpoints {
                    b.put_i32(e.node_id);
                    b.put_string(&e.host, true);
                    b.put_i32(e.port);
                    b.put_nullable_string(e.rack.as_deref(), true);
                    b.put_empty_tagged_fields();
                }
            });
        } else {
            put_tags(buf, flex);
        }
    }
}

fn decode_current_leader(r: &mut Reader<'_>) -> DecodeResult<LeaderIdAndEpoch> {
    let leader = LeaderIdAndEpoch { leader_id: r.i32()?, leader_epoch: r.i32()? };
    r.skip_tagged_fields()?;
    Ok(leader)
}

fn decode_node_endpoints(r: &mut Reader<'_>) -> DecodeResult<Vec<NodeEndpoint>> {
    // Smallest endpoint: id(4) + empty host(1) + port(4) + null rack(1) + tags(1).
    r.array(true, 11, "node_endpoints", |r| {
        let node_id = r.i32()?;
        let host = r.string(true, "node_endpoints.host")?.to_owned();
        let port = r.i32()?;
        let rack = r.nullable_string(true)?.map(str::to_owned);
        r.skip_tagged_fields()?;
        Ok(NodeEndpoint { node_id, host, port, rack })
    })
}

fn decode_partition_response(
    r: &mut Reader<'_>,
    version: i16,
    flex: bool,
) -> DecodeResult<PartitionProduceResponse> {
    let index = r.i32()?;
    let error_code = ErrorCode(r.i16()?);
    let base_offset = r.i64()?;
    let log_append_time_ms = r.i64()?;
    let log_start_offset = if version >= 5 { r.i64()? } else { -1 };
    let (record_errors, error_message) = if version >= 8 {
        // Smallest record error: int32 + null string: 4 + 2 classic, 4 + 1 + tags(1) flexible.
        let errors = r.array(flex, 6, "record_errors", |r| {
            let batch_index = r.i32()?;
            let message = r.nullable_string(flex)?.map(str::to_owned);
            skip_tags(r, flex)?;
            Ok((batch_index, message))
        })?;
        (errors, r.nullable_string(flex)?.map(str::to_owned))
    } else {
        (Vec::new(), None)
    };
    let mut current_leader = None;
    if flex {
        r.tagged_fields(|tag, data| {
            if version >= 10 && tag == TAG_CURRENT_LEADER {
                current_leader = Some(decode_tagged(data, decode_current_leader)?);
            }
            Ok(())
        })?;
    }
    Ok(PartitionProduceResponse {
        index,
        error_code,
        base_offset,
        log_append_time_ms,
        log_start_offset,
        record_errors,
        error_message,
        current_leader,
    })
}

impl Decode for ProduceResponse {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        check_version(ApiKey::Produce, version)?;
        let flex = flexible(version);
        let (min_topic, arr, str_min) = if flex { (3, 1, 1) } else { (6, 4, 2) };
        // Smallest partition: index, error, two offsets, then later fixed fields.
        let min_part = 22
            + if version >= 5 { 8 } else { 0 }
            + if version >= 8 { arr + str_min } else { 0 }
            + usize::from(flex);
        let responses = r.array(flex, min_topic, "responses", |r| {
            let name = r.string(flex, "responses.name")?.to_owned();
            let partitions = r.array(flex, min_part, "partition_responses", |r| {
                decode_partition_response(r, version, flex)
            })?;
            skip_tags(r, flex)?;
            Ok(TopicProduceResponse { name, partitions })
        })?;
        let throttle_time_ms = r.i32()?;
        let mut node_endpoints = Vec::new();
        if flex {
            r.tagged_fields(|tag, data| {
                if version >= 10 && tag == TAG_NODE_ENDPOINTS {
                    node_endpoints = decode_tagged(data, decode_node_endpoints)?;
                }
                Ok(())
            })?;
        }
        Ok(ProduceResponse { responses, throttle_time_ms, node_endpoints })
    }
}

impl Request for ProduceRequest {
    const API_KEY: ApiKey = ApiKey::Produce;
    type Response = ProduceResponse;
}

/// Streams a framed Produce request into a buffer without building [`ProduceRequest`].
///
/// The bytes are identical to [`super::encode_request`] of the equivalent [`ProduceRequest`].
///
/// ```
/// use ringkafka::internals::protocol::header::RequestHeader;
/// use ringkafka::internals::protocol::messages::ProduceWriter;
/// use ringkafka::internals::protocol::ApiKey;
/// let (batch0, batch1) = (vec![1u8, 2, 3], vec![4u8]);
/// let mut buf = Vec::new();
/// let header = RequestHeader {
///     api_key: ApiKey::Produce,
///     api_version: 9,
///     correlation_id: 1,
///     client_id: Some("rk"),
/// };
/// let mut w = ProduceWriter::begin(&mut buf, header, None, -1, 30_000, 1);
/// w.topic("t", 2);
/// w.partition(0, &batch0);
/// w.partition(1, &batch1);
/// w.end_topic();
/// w.finish();
/// assert_eq!(i32::from_be_bytes(buf[..4].try_into().unwrap()) as usize, buf.len() - 4);
/// ```
/// The caller must announce exact counts: `n_topics` calls to `topic`, each followed by exactly
/// its partition count of `partition` calls and one `end_topic` (checked by `debug_assert`s).
#[derive(Debug)]
pub struct ProduceWriter<'b> {
    buf: &'b mut Vec<u8>,
    /// Position of the frame's size prefix.
    frame_at: usize,
    /// The request version is flexible (compact lengths, tagged sections).
    flexible: bool,
    /// Topics announced but not yet started.
    topics_left: usize,
    /// Partitions of the current topic not yet written.
    partitions_left: usize,
    /// Bytes the caller splices in ([`partition_spliced`](Self::partition_spliced)): part of
    /// the frame, not of `buf`.
    spliced: usize,
}

impl<'b> ProduceWriter<'b> {
    /// Writes the frame prefix, the request header (`header.api_version` selects the form),
    /// transactional id, acks, timeout and the topic count.
    pub fn begin(
        buf: &'b mut Vec<u8>,
        header: RequestHeader<'_>,
        transactional_id: Option<&str>,
        acks: i16,
        timeout_ms: i32,
        n_topics: usize,
    ) -> Self {
        debug_assert_eq!(header.api_key, ApiKey::Produce);
        debug_assert!(check_version(ApiKey::Produce, header.api_version).is_ok());
        let flexible = flexible(header.api_version);
        let frame_at = begin_frame(buf);
        header.encode(ApiKey::Produce.request_header_flexible(header.api_version), buf);
        buf.put_nullable_string(transactional_id, flexible);
        buf.put_i16(acks);
        buf.put_i32(timeout_ms);
        buf.put_array_len(n_topics, flexible);
        ProduceWriter { buf, frame_at, flexible, topics_left: n_topics, partitions_left: 0, spliced: 0 }
    }

    /// Starts a topic with `n_partitions` partitions.
    pub fn topic(&mut self, name: &str, n_partitions: usize) {
        debug_assert!(self.topics_left > 0, "more topics than announced");
        debug_assert_eq!(self.partitions_left, 0, "previous topic not finished");
        self.topics_left = self.topics_left.wrapping_sub(1);
        self.partitions_left = n_partitions;
        self.buf.put_string(name, self.flexible);
        self.buf.put_array_len(n_partitions, self.flexible);
    }

    /// Writes one partition's records (one or more closed batches, concatenated).
    pub fn partition(&mut self, index: i32, records: &[u8]) {
        debug_assert!(self.partitions_left > 0, "more partitions than announced");
        self.partitions_left = self.partitions_left.wrapping_sub(1);
        self.buf.put_i32(index);
        self.buf.put_nullable_bytes(Some(records), self.flexible);
        put_tags(self.buf, self.flexible);
    }

    /// Writes one partition whose records (`len` bytes: one or more closed batches) are not
    /// copied: the caller splices them in at the returned offset of the buffer (the driver
    /// writes them from where they lie, see `io::SendBuf`). With them spliced in, the bytes are
    /// those [`partition`](Self::partition) writes; [`finish`](Self::finish) counts them in the
    /// frame size.
    pub fn partition_spliced(&mut self, index: i32, len: usize) -> usize {
        debug_assert!(self.partitions_left > 0, "more partitions than announced");
        self.partitions_left = self.partitions_left.wrapping_sub(1);
        self.buf.put_i32(index);
        if self.flexible {
            self.buf.put_uvarint(len as u32 + 1);
        } else {
            self.buf.put_i32(len as i32);
        }
        let at = self.buf.len();
        self.spliced += len;
        put_tags(self.buf, self.flexible);
        at
    }

    /// Ends the current topic.
    pub fn end_topic(&mut self) {
        debug_assert_eq!(self.partitions_left, 0, "fewer partitions than announced");
        put_tags(self.buf, self.flexible);
    }

    /// Ends the request and back-patches the frame size.
    pub fn finish(self) {
        debug_assert_eq!(self.topics_left, 0, "fewer topics than announced");
        put_tags(self.buf, self.flexible);
        end_frame(self.buf, self.frame_at);
        if self.spliced > 0 {
            let size = (self.buf.len() - self.frame_at - PREFIX_LEN + self.spliced) as i32;
            self.buf[self.frame_at..self.frame_at + PREFIX_LEN].copy_from_slice(&size.to_be_bytes());
        }
    }
}
