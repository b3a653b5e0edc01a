//! Produce (key 0), v3–v11. v3 is the first version that carries magic-v2 record batches.
//!
//! The producer's hot path does not build a [`ProduceRequest`]: it streams the request into its
//! send buffer with [`ProduceWriter`], copying each closed batch once. [`ProduceRequest`] is the
//! owned form for the mock broker and tests.

use super::{Decode, Encode, Request};
use crate::protocol::error_code::ErrorCode;
use crate::protocol::header::RequestHeader;
use crate::protocol::primitives::{DecodeResult, Reader};
use crate::protocol::version::ApiKey;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceRequest {
    pub transactional_id: Option<String>,
    pub acks: i16,
    pub timeout_ms: i32,
    pub topics: Vec<TopicProduceData>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicProduceData {
    pub name: String,
    pub partitions: Vec<PartitionProduceData>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionProduceData {
    pub index: i32,
    /// Raw record batches.
    pub records: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProduceResponse {
    pub responses: Vec<TopicProduceResponse>,
    /// v1+.
    pub throttle_time_ms: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicProduceResponse {
    pub name: String,
    pub partitions: Vec<PartitionProduceResponse>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionProduceResponse {
    pub index: i32,
    pub error_code: ErrorCode,
    pub base_offset: i64,
    /// v2+; -1 unless the topic uses LogAppendTime.
    pub log_append_time_ms: i64,
    /// v5+.
    pub log_start_offset: i64,
    /// v8+: (batch index, message) of the records that failed validation.
    pub record_errors: Vec<(i32, Option<String>)>,
    /// v8+.
    pub error_message: Option<String>,
    /// v10+ tagged: the leader the broker knows of, on NOT_LEADER_OR_FOLLOWER.
    pub current_leader: Option<(i32, i32)>,
}

impl Encode for ProduceRequest {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        let _ = (version, buf);
        todo!()
    }
}
impl Decode for ProduceRequest {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        let _ = (r, version);
        todo!()
    }
}
impl Encode for ProduceResponse {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        let _ = (version, buf);
        todo!()
    }
}
impl Decode for ProduceResponse {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        let _ = (r, version);
        todo!()
    }
}
impl Request for ProduceRequest {
    const API_KEY: ApiKey = ApiKey::Produce;
    type Response = ProduceResponse;
}

/// Streams a framed Produce request into a buffer without building [`ProduceRequest`].
///
/// ```text
/// let mut w = ProduceWriter::begin(buf, header, None, acks, timeout_ms, n_topics);
/// w.topic("t", 2); w.partition(0, batch0); w.partition(1, batch1); w.end_topic();
/// w.finish();
/// ```
/// The caller must announce exact counts: `n_topics` calls to `topic`, each followed by exactly
/// its partition count of `partition` calls and one `end_topic`.
#[derive(Debug)]
pub struct ProduceWriter<'b> {
    buf: &'b mut Vec<u8>,
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
        let _ = (header, transactional_id, acks, timeout_ms, n_topics);
        ProduceWriter { buf }
    }
    /// Starts a topic with `n_partitions` partitions.
    pub fn topic(&mut self, name: &str, n_partitions: usize) {
        let _ = (name, n_partitions, &self.buf);
        todo!()
    }
    /// Writes one partition's records (one or more closed batches, concatenated).
    pub fn partition(&mut self, index: i32, records: &[u8]) {
        let _ = (index, records);
        todo!()
    }
    /// Ends the current topic.
    pub fn end_topic(&mut self) {
        todo!()
    }
    /// Ends the request and back-patches the frame size.
    pub fn finish(self) {
        todo!()
    }
}
