//! Metadata (key 3), v0–v12: brokers and partition leaders. Topic ids (v10+) are carried as
//! raw UUID bytes; the producer addresses topics by name.

use super::{Decode, Encode, Request};
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::{DecodeResult, Reader};
use crate::protocol::version::ApiKey;

/// Metadata request. `topics: None` asks for every topic (v1+; v0 has no null and sends an empty
/// list for "all").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataRequest {
    pub topics: Option<Vec<String>>,
    /// v4+.
    pub allow_auto_topic_creation: bool,
    /// v8+.
    pub include_topic_authorized_operations: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataBroker {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    /// v1+.
    pub rack: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataPartition {
    pub error_code: ErrorCode,
    pub partition_index: i32,
    pub leader_id: i32,
    /// v7+; -1 before.
    pub leader_epoch: i32,
    pub replica_nodes: Vec<i32>,
    pub isr_nodes: Vec<i32>,
    /// v5+.
    pub offline_replicas: Vec<i32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataTopic {
    pub error_code: ErrorCode,
    /// Null only from v12 (a topic asked for by id).
    pub name: Option<String>,
    /// v10+; all zeros before.
    pub topic_id: [u8; 16],
    /// v1+.
    pub is_internal: bool,
    pub partitions: Vec<MetadataPartition>,
    /// v8+; i32::MIN when not asked for.
    pub topic_authorized_operations: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataResponse {
    /// v3+.
    pub throttle_time_ms: i32,
    pub brokers: Vec<MetadataBroker>,
    /// v2+.
    pub cluster_id: Option<String>,
    /// v1+; -1 before.
    pub controller_id: i32,
    pub topics: Vec<MetadataTopic>,
    /// v8–v10; i32::MIN otherwise.
    pub cluster_authorized_operations: i32,
}

impl Encode for MetadataRequest {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        let _ = (version, buf);
        todo!()
    }
}
impl Decode for MetadataRequest {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        let _ = (r, version);
        todo!()
    }
}
impl Encode for MetadataResponse {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        let _ = (version, buf);
        todo!()
    }
}
impl Decode for MetadataResponse {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        let _ = (r, version);
        todo!()
    }
}
impl Request for MetadataRequest {
    const API_KEY: ApiKey = ApiKey::Metadata;
    type Response = MetadataResponse;
}
