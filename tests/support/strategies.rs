//! Proptest strategies for the message codecs, shared by the offline protocol suites
//! (`protocol_messages.rs`: our own round-trips; `interop_kafka_protocol.rs`: cross-checks
//! against the `kafka-protocol` crate).
//!
//! Include with `#[path = "support/strategies.rs"] mod strategies;` (not through `mod support;`,
//! whose broker helpers these suites do not need).
//!
//! Every strategy fills only the fields present at the version under test and leaves the others
//! at their decode default, so a decoded value compares equal to the encoded one.

use proptest::prelude::*;
use ringkafka::internals::protocol::messages::*;
use ringkafka::internals::protocol::{ApiKey, ErrorCode};

/// The versions of `key` we support, as a range.
pub fn versions(key: ApiKey) -> std::ops::RangeInclusive<i16> {
    let r = key.supported();
    r.min..=r.max
}

/// A supported version of `key` and a value from `f(version)`.
pub fn with_version<T: std::fmt::Debug, S: Strategy<Value = T>>(
    key: ApiKey,
    f: impl Fn(i16) -> S,
) -> impl Strategy<Value = (i16, T)> {
    versions(key).prop_flat_map(move |v| (Just(v), f(v)))
}

fn s() -> impl Strategy<Value = String> {
    "\\PC{0,8}"
}

fn opt_s() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(s())
}

fn ec() -> impl Strategy<Value = ErrorCode> {
    any::<i16>().prop_map(ErrorCode)
}

pub fn api_versions_request(v: i16) -> impl Strategy<Value = ApiVersionsRequest> {
    (s(), s()).prop_map(move |(n, ver)| {
        if v >= 3 {
            ApiVersionsRequest { client_software_name: n, client_software_version: ver }
        } else {
            ApiVersionsRequest::default()
        }
    })
}

pub fn api_versions_response(v: i16) -> impl Strategy<Value = ApiVersionsResponse> {
    let key = (any::<i16>(), any::<i16>(), any::<i16>())
        .prop_map(|(api_key, min_version, max_version)| ApiVersion { api_key, min_version, max_version });
    // Keys may repeat: kafka-protocol keeps api_keys as a list, as we do.
    (ec(), proptest::collection::vec(key, 0..5), any::<i32>()).prop_map(move |(e, k, t)| {
        ApiVersionsResponse { error_code: e, api_keys: k, throttle_time_ms: if v >= 1 { t } else { 0 } }
    })
}

pub fn metadata_request(v: i16) -> impl Strategy<Value = MetadataRequest> {
    // v0 cannot tell "none" from "all": an empty list means all.
    let min = if v == 0 { 1 } else { 0 };
    (proptest::option::of(proptest::collection::vec(s(), min..4)), any::<bool>(), any::<bool>()).prop_map(
        move |(topics, a, i)| MetadataRequest {
            topics,
            allow_auto_topic_creation: if v >= 4 { a } else { true },
            include_topic_authorized_operations: v >= 8 && i,
        },
    )
}

pub fn metadata_response(v: i16) -> impl Strategy<Value = MetadataResponse> {
    let ints = || proptest::collection::vec(any::<i32>(), 0..4);
    let partition = (ec(), any::<i32>(), any::<i32>(), any::<i32>(), ints(), ints(), ints()).prop_map(
        move |(e, i, l, ep, r, isr, off)| MetadataPartition {
            error_code: e,
            partition_index: i,
            leader_id: l,
            leader_epoch: if v >= 7 { ep } else { -1 },
            replica_nodes: r,
            isr_nodes: isr,
            offline_replicas: if v >= 5 { off } else { vec![] },
        },
    );
    let topic = (
        ec(),
        opt_s(),
        any::<[u8; 16]>(),
        any::<bool>(),
        proptest::collection::vec(partition, 0..3),
        any::<i32>(),
    )
        .prop_map(move |(e, n, id, internal, parts, ops)| MetadataTopic {
            error_code: e,
            name: if v >= 12 { n } else { Some(n.unwrap_or_default()) },
            topic_id: if v >= 10 { id } else { [0; 16] },
            is_internal: v >= 1 && internal,
            partitions: parts,
            topic_authorized_operations: if v >= 8 { ops } else { i32::MIN },
        });
    let broker = (any::<i32>(), s(), any::<i32>(), opt_s()).prop_map(move |(id, h, p, rack)| {
        MetadataBroker { node_id: id, host: h, port: p, rack: if v >= 1 { rack } else { None } }
    });
    (
        any::<i32>(),
        proptest::collection::vec(broker, 0..3),
        opt_s(),
        any::<i32>(),
        proptest::collection::vec(topic, 0..3),
        any::<i32>(),
    )
        .prop_map(move |(t, brokers, cid, ctl, topics, cops)| MetadataResponse {
            throttle_time_ms: if v >= 3 { t } else { 0 },
            brokers,
            cluster_id: if v >= 2 { cid } else { None },
            controller_id: if v >= 1 { ctl } else { -1 },
            topics,
            cluster_authorized_operations: if (8..=10).contains(&v) { cops } else { i32::MIN },
        })
}

/// The same at every version (v3 onwards).
pub fn produce_request() -> impl Strategy<Value = ProduceRequest> {
    let partition = (any::<i32>(), proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)))
        .prop_map(|(index, records)| PartitionProduceData { index, records });
    let topic = (s(), proptest::collection::vec(partition, 0..3))
        .prop_map(|(name, partitions)| TopicProduceData { name, partitions });
    (opt_s(), any::<i16>(), any::<i32>(), proptest::collection::vec(topic, 0..3)).prop_map(
        |(transactional_id, acks, timeout_ms, topics)| ProduceRequest {
            transactional_id,
            acks,
            timeout_ms,
            topics,
        },
    )
}

/// `leader`: the (leader id, leader epoch) of CurrentLeader (v10+), when a partition has one.
pub fn produce_response(
    v: i16,
    leader: impl Strategy<Value = (i32, i32)>,
) -> impl Strategy<Value = ProduceResponse> {
    let partition = (
        (any::<i32>(), ec(), any::<i64>(), any::<i64>(), any::<i64>()),
        proptest::collection::vec((any::<i32>(), opt_s()), 0..3),
        opt_s(),
        proptest::option::of(leader),
    )
        .prop_map(move |((index, e, base, lat, lso), errs, msg, leader)| PartitionProduceResponse {
            index,
            error_code: e,
            base_offset: base,
            log_append_time_ms: lat,
            log_start_offset: if v >= 5 { lso } else { -1 },
            record_errors: if v >= 8 { errs } else { vec![] },
            error_message: if v >= 8 { msg } else { None },
            current_leader: if v >= 10 { leader } else { None },
        });
    let topic = (s(), proptest::collection::vec(partition, 0..3))
        .prop_map(|(name, partitions)| TopicProduceResponse { name, partitions });
    (proptest::collection::vec(topic, 0..3), any::<i32>())
        .prop_map(|(responses, throttle_time_ms)| ProduceResponse { responses, throttle_time_ms })
}

pub fn init_producer_id_request(v: i16) -> impl Strategy<Value = InitProducerIdRequest> {
    (opt_s(), any::<i32>(), any::<i64>(), any::<i16>()).prop_map(move |(t, to, pid, ep)| {
        InitProducerIdRequest {
            transactional_id: t,
            transaction_timeout_ms: to,
            producer_id: if v >= 3 { pid } else { -1 },
            producer_epoch: if v >= 3 { ep } else { -1 },
        }
    })
}

/// The same at every version.
pub fn init_producer_id_response() -> impl Strategy<Value = InitProducerIdResponse> {
    (any::<i32>(), ec(), any::<i64>(), any::<i16>()).prop_map(|(t, e, pid, ep)| InitProducerIdResponse {
        throttle_time_ms: t,
        error_code: e,
        producer_id: pid,
        producer_epoch: ep,
    })
}
