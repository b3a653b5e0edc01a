//! Metadata (key 3), v0–v12: brokers and partition leaders. Topic ids (v10+) are carried as
//! raw UUID bytes; the producer addresses topics by name.
//!
//! Field presence follows `MetadataRequest.json` / `MetadataResponse.json` (flexible from v9):
//! - request: `Topics` (nullable from v1; each `TopicId` (v10+) and `Name` (nullable from v10)),
//!   `AllowAutoTopicCreation` (v4+), `IncludeClusterAuthorizedOperations` (v8–v10, always written
//!   false and ignored on decode), `IncludeTopicAuthorizedOperations` (v8+).
//! - response: `ThrottleTimeMs` (v3+), `Brokers[NodeId, Host, Port, Rack (v1+)]`, `ClusterId`
//!   (v2+), `ControllerId` (v1+), `Topics[ErrorCode, Name (nullable v12+), TopicId (v10+),
//!   IsInternal (v1+), Partitions[...], TopicAuthorizedOperations (v8+)]`,
//!   `ClusterAuthorizedOperations` (v8–v10).

use super::{check_version, put_tags, skip_tags, Decode, Encode, Request};
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::{DecodeError, DecodeResult, Reader, Writer};
use crate::protocol::version::ApiKey;

/// Metadata request. `topics: None` asks for every topic (v1+; v0 has no null and sends an empty
/// list for "all", so an empty v0 list decodes as `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataRequest {
    /// Topic names to describe, or `None` for all topics.
    pub topics: Option<Vec<String>>,
    /// v4+.
    pub allow_auto_topic_creation: bool,
    /// v8+.
    pub include_topic_authorized_operations: bool,
}

/// A broker in a Metadata response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataBroker {
    /// The broker id.
    pub node_id: i32,
    /// Host name to connect to.
    pub host: String,
    /// Port to connect to.
    pub port: i32,
    /// v1+.
    pub rack: Option<String>,
}

/// A partition in a Metadata response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataPartition {
    /// Partition-level error.
    pub error_code: ErrorCode,
    /// The partition number.
    pub partition_index: i32,
    /// The leader's broker id, or -1.
    pub leader_id: i32,
    /// v7+; -1 before.
    pub leader_epoch: i32,
    /// All replicas.
    pub replica_nodes: Vec<i32>,
    /// In-sync replicas.
    pub isr_nodes: Vec<i32>,
    /// v5+.
    pub offline_replicas: Vec<i32>,
}

/// A topic in a Metadata response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataTopic {
    /// Topic-level error.
    pub error_code: ErrorCode,
    /// Null only from v12 (a topic asked for by id).
    pub name: Option<String>,
    /// v10+; all zeros before.
    pub topic_id: [u8; 16],
    /// v1+.
    pub is_internal: bool,
    /// The topic's partitions.
    pub partitions: Vec<MetadataPartition>,
    /// v8+; i32::MIN when not asked for.
    pub topic_authorized_operations: i32,
}

/// Metadata response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetadataResponse {
    /// v3+.
    pub throttle_time_ms: i32,
    /// Brokers of the cluster.
    pub brokers: Vec<MetadataBroker>,
    /// v2+.
    pub cluster_id: Option<String>,
    /// v1+; -1 before.
    pub controller_id: i32,
    /// The topics asked for (or all).
    pub topics: Vec<MetadataTopic>,
    /// v8–v10; i32::MIN otherwise.
    pub cluster_authorized_operations: i32,
}

fn flexible(version: i16) -> bool {
    ApiKey::Metadata.is_flexible(version)
}

fn put_i32_array(buf: &mut Vec<u8>, v: &[i32], flexible: bool) {
    buf.put_array_len(v.len(), flexible);
    for &x in v {
        buf.put_i32(x);
    }
}

fn i32_array(r: &mut Reader<'_>, flexible: bool, field: &'static str) -> DecodeResult<Vec<i32>> {
    r.array(flexible, 4, field, |r| r.i32())
}

impl Encode for MetadataRequest {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        debug_assert!(check_version(ApiKey::Metadata, version).is_ok());
        let flex = flexible(version);
        match &self.topics {
            // v0 cannot say null: "all topics" is the empty list.
            None if version == 0 => buf.put_array_len(0, flex),
            None => buf.put_null_array(flex),
            Some(topics) => {
                buf.put_array_len(topics.len(), flex);
                for name in topics {
                    if version >= 10 {
                        // We address topics by name; the id is the zero UUID ("unset").
                        buf.put_uuid(&[0; 16]);
                    }
                    buf.put_string(name, flex);
                    put_tags(buf, flex);
                }
            }
        }
        if version >= 4 {
            buf.put_bool(self.allow_auto_topic_creation);
        }
        if (8..=10).contains(&version) {
            // IncludeClusterAuthorizedOperations: the producer never asks.
            buf.put_bool(false);
        }
        if version >= 8 {
            buf.put_bool(self.include_topic_authorized_operations);
        }
        put_tags(buf, flex);
    }
}

impl Decode for MetadataRequest {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        check_version(ApiKey::Metadata, version)?;
        let flex = flexible(version);
        // Smallest topic: uuid (v10+) + empty/null name + tagged section (flexible).
        let min_elem = if version >= 10 { 18 } else { 2 };
        let topics = match r.nullable_array_len(flex, min_elem)? {
            None if version == 0 => return Err(DecodeError::UnexpectedNull("topics")),
            None => None,
            Some(0) if version == 0 => None,
            Some(n) => {
                let mut topics = Vec::with_capacity(n);
                for _ in 0..n {
                    if version >= 10 {
                        r.uuid()?;
                    }
                    // A null name (topic by id, v10+) is not something this client models.
                    topics.push(r.string(flex, "topics.name")?.to_owned());
                    skip_tags(r, flex)?;
                }
                Some(topics)
            }
        };
        // The schema's default for AllowAutoTopicCreation is true (before v4 brokers create).
        let allow_auto_topic_creation = if version >= 4 { r.bool()? } else { true };
        if (8..=10).contains(&version) {
            r.bool()?; // IncludeClusterAuthorizedOperations
        }
        let include_topic_authorized_operations = if version >= 8 { r.bool()? } else { false };
        skip_tags(r, flex)?;
        Ok(MetadataRequest { topics, allow_auto_topic_creation, include_topic_authorized_operations })
    }
}

impl Encode for MetadataResponse {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        debug_assert!(check_version(ApiKey::Metadata, version).is_ok());
        let flex = flexible(version);
        if version >= 3 {
            buf.put_i32(self.throttle_time_ms);
        }
        buf.put_array_len(self.brokers.len(), flex);
        for b in &self.brokers {
            buf.put_i32(b.node_id);
            buf.put_string(&b.host, flex);
            buf.put_i32(b.port);
            if version >= 1 {
                buf.put_nullable_string(b.rack.as_deref(), flex);
            }
            put_tags(buf, flex);
        }
        if version >= 2 {
            buf.put_nullable_string(self.cluster_id.as_deref(), flex);
        }
        if version >= 1 {
            buf.put_i32(self.controller_id);
        }
        buf.put_array_len(self.topics.len(), flex);
        for t in &self.topics {
            buf.put_i16(t.error_code.0);
            if version >= 12 {
                buf.put_nullable_string(t.name.as_deref(), flex);
            } else {
                debug_assert!(t.name.is_some(), "topic name is not nullable before v12");
                buf.put_string(t.name.as_deref().unwrap_or(""), flex);
            }
            if version >= 10 {
                buf.put_uuid(&t.topic_id);
            }
            if version >= 1 {
                buf.put_bool(t.is_internal);
            }
            buf.put_array_len(t.partitions.len(), flex);
            for p in &t.partitions {
                buf.put_i16(p.error_code.0);
                buf.put_i32(p.partition_index);
                buf.put_i32(p.leader_id);
                if version >= 7 {
                    buf.put_i32(p.leader_epoch);
                }
                put_i32_array(buf, &p.replica_nodes, flex);
                put_i32_array(buf, &p.isr_nodes, flex);
                if version >= 5 {
                    put_i32_array(buf, &p.offline_replicas, flex);
                }
                put_tags(buf, flex);
            }
            if version >= 8 {
                buf.put_i32(t.topic_authorized_operations);
            }
            put_tags(buf, flex);
        }
        if (8..=10).contains(&version) {
            buf.put_i32(self.cluster_authorized_operations);
        }
        put_tags(buf, flex);
    }
}

fn decode_partition(r: &mut Reader<'_>, version: i16, flex: bool) -> DecodeResult<MetadataPartition> {
    let error_code = ErrorCode(r.i16()?);
    let partition_index = r.i32()?;
    let leader_id = r.i32()?;
    let leader_epoch = if version >= 7 { r.i32()? } else { -1 };
    let replica_nodes = i32_array(r, flex, "replica_nodes")?;
    let isr_nodes = i32_array(r, flex, "isr_nodes")?;
    let offline_replicas = if version >= 5 { i32_array(r, flex, "offline_replicas")? } else { Vec::new() };
    skip_tags(r, flex)?;
    Ok(MetadataPartition {
        error_code,
        partition_index,
        leader_id,
        leader_epoch,
        replica_nodes,
        isr_nodes,
        offline_replicas,
    })
}

fn decode_topic(r: &mut Reader<'_>, version: i16, flex: bool) -> DecodeResult<MetadataTopic> {
    let error_code = ErrorCode(r.i16()?);
    let name = if version >= 12 {
        r.nullable_string(flex)?.map(str::to_owned)
    } else {
        Some(r.string(flex, "topics.name")?.to_owned())
    };
    let topic_id = if version >= 10 { r.uuid()? } else { [0; 16] };
    let is_internal = if version >= 1 { r.bool()? } else { false };
    // Smallest partition: error(2) + index(4) + leader(4) + two empty arrays, plus the epoch,
    // a third array and a tagged section in later versions.
    let arr = if flex { 1 } else { 4 };
    let min_part = 10
        + if version >= 7 { 4 } else { 0 }
        + 2 * arr
        + if version >= 5 { arr } else { 0 }
        + usize::from(flex);
    let partitions = r.array(flex, min_part, "partitions", |r| decode_partition(r, version, flex))?;
    let topic_authorized_operations = if version >= 8 { r.i32()? } else { i32::MIN };
    skip_tags(r, flex)?;
    Ok(MetadataTopic { error_code, name, topic_id, is_internal, partitions, topic_authorized_operations })
}

impl Decode for MetadataResponse {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        check_version(ApiKey::Metadata, version)?;
        let flex = flexible(version);
        let throttle_time_ms = if version >= 3 { r.i32()? } else { 0 };
        // Smallest broker: id(4) + empty host + port(4) [+ null rack] [+ tags].
        let str_min = if flex { 1 } else { 2 };
        let min_broker = 8 + str_min + if version >= 1 { str_min } else { 0 } + usize::from(flex);
        let brokers = r.array(flex, min_broker, "brokers", |r| {
            let node_id = r.i32()?;
            let host = r.string(flex, "brokers.host")?.to_owned();
            let port = r.i32()?;
            let rack = if version >= 1 { r.nullable_string(flex)?.map(str::to_owned) } else { None };
            skip_tags(r, flex)?;
            Ok(MetadataBroker { node_id, host, port, rack })
        })?;
        let cluster_id = if version >= 2 { r.nullable_string(flex)?.map(str::to_owned) } else { None };
        let controller_id = if version >= 1 { r.i32()? } else { -1 };
        // Smallest topic: error(2) + name + partitions array, plus later fixed fields.
        let arr = if flex { 1 } else { 4 };
        let min_topic = 2
            + str_min
            + if version >= 10 { 16 } else { 0 }
            + if version >= 1 { 1 } else { 0 }
            + arr
            + if version >= 8 { 4 } else { 0 }
            + usize::from(flex);
        let topics = r.array(flex, min_topic, "topics", |r| decode_topic(r, version, flex))?;
        let cluster_authorized_operations = if (8..=10).contains(&version) { r.i32()? } else { i32::MIN };
        skip_tags(r, flex)?;
        Ok(MetadataResponse {
            throttle_time_ms,
            brokers,
            cluster_id,
            controller_id,
            topics,
            cluster_authorized_operations,
        })
    }
}

impl Request for MetadataRequest {
    const API_KEY: ApiKey = ApiKey::Metadata;
    type Response = MetadataResponse;
}
