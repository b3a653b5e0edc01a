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
    let supported = (s(), any::<i16>(), any::<i16>())
        .prop_map(|(name, min_version, max_version)| SupportedFeature { name, min_version, max_version });
    let finalized =
        (s(), any::<i16>(), any::<i16>()).prop_map(|(name, max_version_level, min_version_level)| {
            FinalizedFeature { name, max_version_level, min_version_level }
        });
    // Keys and feature names may repeat: kafka-protocol keeps them as lists, as we do.
    (
        ec(),
        proptest::collection::vec(key, 0..5),
        any::<i32>(),
        proptest::collection::vec(supported, 0..3),
        prop_oneof![Just(-1i64), any::<i64>()],
        proptest::collection::vec(finalized, 0..3),
    )
        .prop_map(move |(e, k, t, sf, epoch, ff)| ApiVersionsResponse {
            error_code: e,
            api_keys: k,
            throttle_time_ms: if v >= 1 { t } else { 0 },
            supported_features: if v >= 3 { sf } else { vec![] },
            finalized_features_epoch: if v >= 3 { epoch } else { -1 },
            finalized_features: if v >= 3 { ff } else { vec![] },
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
    let leader = leader.prop_map(|(leader_id, leader_epoch)| LeaderIdAndEpoch { leader_id, leader_epoch });
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
    let endpoint = (any::<i32>(), s(), any::<i32>(), opt_s())
        .prop_map(|(node_id, host, port, rack)| NodeEndpoint { node_id, host, port, rack });
    (proptest::collection::vec(topic, 0..3), any::<i32>(), proptest::collection::vec(endpoint, 0..3))
        .prop_map(move |(responses, throttle_time_ms, endpoints)| ProduceResponse {
            responses,
            throttle_time_ms,
            node_endpoints: if v >= 10 { endpoints } else { vec![] },
        })
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

fn coordinator_type(v: i16) -> impl Strategy<Value = CoordinatorType> {
    use CoordinatorType::*;
    match v {
        0 => Just(Group).boxed(),
        1..=5 => prop_oneof![Just(Group), Just(Transaction)].boxed(),
        _ => prop_oneof![Just(Group), Just(Transaction), Just(Share)].boxed(),
    }
}

pub fn find_coordinator_request(v: i16) -> impl Strategy<Value = FindCoordinatorRequest> {
    // Exactly one key before v4 (the batched form), any number after.
    let keys =
        if v < 4 { proptest::collection::vec(s(), 1..=1) } else { proptest::collection::vec(s(), 0..4) };
    (coordinator_type(v), keys).prop_map(|(key_type, keys)| FindCoordinatorRequest { key_type, keys })
}

pub fn find_coordinator_response(v: i16) -> impl Strategy<Value = FindCoordinatorResponse> {
    let coordinator = (s(), any::<i32>(), s(), any::<i32>(), ec(), opt_s()).prop_map(
        move |(key, node_id, host, port, error_code, error_message)| Coordinator {
            // Before v4 the key is not on the wire; the message only from v1.
            key: if v >= 4 { key } else { String::new() },
            node_id,
            host,
            port,
            error_code,
            error_message: if v >= 1 { error_message } else { None },
        },
    );
    let n = if v < 4 { 1..=1 } else { 0..=3 };
    (any::<i32>(), proptest::collection::vec(coordinator, n)).prop_map(move |(t, coordinators)| {
        FindCoordinatorResponse { throttle_time_ms: if v >= 1 { t } else { 0 }, coordinators }
    })
}

/// The same at every version (v0–v3).
pub fn add_partitions_to_txn_request() -> impl Strategy<Value = AddPartitionsToTxnRequest> {
    let topic = (s(), proptest::collection::vec(any::<i32>(), 0..4))
        .prop_map(|(name, partitions)| AddPartitionsToTxnTopic { name, partitions });
    (s(), any::<i64>(), any::<i16>(), proptest::collection::vec(topic, 0..3)).prop_map(
        |(transactional_id, producer_id, producer_epoch, topics)| AddPartitionsToTxnRequest {
            transactional_id,
            producer_id,
            producer_epoch,
            topics,
        },
    )
}

/// The same at every version (v0–v3).
pub fn add_partitions_to_txn_response() -> impl Strategy<Value = AddPartitionsToTxnResponse> {
    (any::<i32>(), topic_errors())
        .prop_map(|(throttle_time_ms, results)| AddPartitionsToTxnResponse { throttle_time_ms, results })
}

/// The per-topic, per-partition error codes AddPartitionsToTxn and TxnOffsetCommit answer with.
fn topic_errors() -> impl Strategy<Value = Vec<TopicErrors>> {
    let partition = (any::<i32>(), ec())
        .prop_map(|(partition_index, error_code)| PartitionError { partition_index, error_code });
    let topic = (s(), proptest::collection::vec(partition, 0..3))
        .prop_map(|(name, partitions)| TopicErrors { name, partitions });
    proptest::collection::vec(topic, 0..3)
}

/// The same at every version.
pub fn add_offsets_to_txn_request() -> impl Strategy<Value = AddOffsetsToTxnRequest> {
    (s(), any::<i64>(), any::<i16>(), s()).prop_map(
        |(transactional_id, producer_id, producer_epoch, group_id)| AddOffsetsToTxnRequest {
            transactional_id,
            producer_id,
            producer_epoch,
            group_id,
        },
    )
}

/// The same at every version.
pub fn add_offsets_to_txn_response() -> impl Strategy<Value = AddOffsetsToTxnResponse> {
    (any::<i32>(), ec())
        .prop_map(|(throttle_time_ms, error_code)| AddOffsetsToTxnResponse { throttle_time_ms, error_code })
}

/// The same at every version.
pub fn end_txn_request() -> impl Strategy<Value = EndTxnRequest> {
    (s(), any::<i64>(), any::<i16>(), any::<bool>()).prop_map(
        |(transactional_id, producer_id, producer_epoch, committed)| EndTxnRequest {
            transactional_id,
            producer_id,
            producer_epoch,
            committed,
        },
    )
}

pub fn end_txn_response(v: i16) -> impl Strategy<Value = EndTxnResponse> {
    (any::<i32>(), ec(), any::<i64>(), any::<i16>()).prop_map(move |(t, e, pid, ep)| EndTxnResponse {
        throttle_time_ms: t,
        error_code: e,
        producer_id: if v >= 5 { pid } else { -1 },
        producer_epoch: if v >= 5 { ep } else { -1 },
    })
}

pub fn txn_offset_commit_request(v: i16) -> impl Strategy<Value = TxnOffsetCommitRequest> {
    let partition = (any::<i32>(), any::<i64>(), any::<i32>(), opt_s()).prop_map(move |(i, o, ep, m)| {
        TxnOffsetCommitPartition {
            partition_index: i,
            committed_offset: o,
            committed_leader_epoch: if v >= 2 { ep } else { -1 },
            committed_metadata: m,
        }
    });
    let topic = (s(), proptest::collection::vec(partition, 0..3))
        .prop_map(|(name, partitions)| TxnOffsetCommitTopic { name, partitions });
    (
        (s(), s(), any::<i64>(), any::<i16>()),
        (any::<i32>(), s(), opt_s()),
        proptest::collection::vec(topic, 0..3),
    )
        .prop_map(move |((txn, group, pid, ep), (gen, member, instance), topics)| {
            TxnOffsetCommitRequest {
                transactional_id: txn,
                group_id: group,
                producer_id: pid,
                producer_epoch: ep,
                generation_id: if v >= 3 { gen } else { -1 },
                member_id: if v >= 3 { member } else { String::new() },
                group_instance_id: if v >= 3 { instance } else { None },
                topics,
            }
        })
}

/// The same at every version.
pub fn txn_offset_commit_response() -> impl Strategy<Value = TxnOffsetCommitResponse> {
    (any::<i32>(), topic_errors())
        .prop_map(|(throttle_time_ms, topics)| TxnOffsetCommitResponse { throttle_time_ms, topics })
}
