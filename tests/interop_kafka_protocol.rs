//! Cross-validation against the independent `kafka-protocol` crate (generated from the same
//! JSON schemas by other people): for every message, request and response, at every version we
//! support, what we encode it decodes to the same field values, and what it encodes we decode
//! to the same field values.
//!
//! Values come from proptest strategies that fill only the fields present at the version under
//! test (others at their decode default), so equality is exact in both directions.

#[path = "support/strategies.rs"]
mod strategies;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages as kp;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use proptest::prelude::*;
use ringkafka::internals::protocol::messages::*;
use ringkafka::internals::protocol::primitives::Reader;
use ringkafka::internals::protocol::{ApiKey, ErrorCode};
use strategies::*;

// ---------------------------------------------------------------------------------------------
// plumbing

fn ours_to_theirs<O: Encode, T: Decodable>(m: &O, v: i16) -> T {
    let mut buf = Vec::new();
    m.encode(v, &mut buf);
    let mut b = Bytes::from(buf);
    let t = T::decode(&mut b, v).unwrap_or_else(|e| panic!("kafka-protocol failed at v{v}: {e:?}"));
    assert!(b.is_empty(), "kafka-protocol left {} bytes at v{v}", b.len());
    t
}

fn theirs_to_ours<T: Encodable, O: Decode>(m: &T, v: i16) -> O {
    let mut buf = BytesMut::new();
    m.encode(&mut buf, v).unwrap_or_else(|e| panic!("kafka-protocol encode failed at v{v}: {e:?}"));
    let mut r = Reader::new(&buf);
    let o = O::decode(&mut r, v).unwrap_or_else(|e| panic!("we failed at v{v}: {e}"));
    r.finish().unwrap();
    o
}

fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn osb(s: &Option<String>) -> Option<StrBytes> {
    s.as_deref().map(sb)
}

fn st(s: &StrBytes) -> String {
    s.to_string()
}

/// Checks both directions for one value: ours→theirs→ours and ours→(as theirs)→encode→ours.
fn check_both<O, T>(v: i16, m: &O, to_theirs: impl Fn(&O) -> T, from_theirs: impl Fn(&T) -> O)
where
    O: Encode + Decode + PartialEq + std::fmt::Debug,
    T: Encodable + Decodable,
{
    let t: T = ours_to_theirs(m, v);
    assert_eq!(&from_theirs(&t), m, "ours -> kafka-protocol at v{v}");
    let back: O = theirs_to_ours(&to_theirs(m), v);
    assert_eq!(&back, m, "kafka-protocol -> ours at v{v}");
}

// ---------------------------------------------------------------------------------------------
// conversions

fn av_req_to(m: &ApiVersionsRequest) -> kp::ApiVersionsRequest {
    let mut t = kp::ApiVersionsRequest::default();
    t.client_software_name = sb(&m.client_software_name);
    t.client_software_version = sb(&m.client_software_version);
    t
}
fn av_req_from(t: &kp::ApiVersionsRequest) -> ApiVersionsRequest {
    ApiVersionsRequest {
        client_software_name: st(&t.client_software_name),
        client_software_version: st(&t.client_software_version),
    }
}

fn av_resp_to(m: &ApiVersionsResponse) -> kp::ApiVersionsResponse {
    let mut t = kp::ApiVersionsResponse::default();
    t.error_code = m.error_code.0;
    t.throttle_time_ms = m.throttle_time_ms;
    t.api_keys = m
        .api_keys
        .iter()
        .map(|k| {
            let mut a = kp::api_versions_response::ApiVersion::default();
            a.api_key = k.api_key;
            a.min_version = k.min_version;
            a.max_version = k.max_version;
            a
        })
        .collect();
    t
}
fn av_resp_from(t: &kp::ApiVersionsResponse) -> ApiVersionsResponse {
    ApiVersionsResponse {
        error_code: ErrorCode(t.error_code),
        api_keys: t
            .api_keys
            .iter()
            .map(|a| ApiVersion {
                api_key: a.api_key,
                min_version: a.min_version,
                max_version: a.max_version,
            })
            .collect(),
        throttle_time_ms: t.throttle_time_ms,
    }
}

fn md_req_to(m: &MetadataRequest, v: i16) -> kp::MetadataRequest {
    let mut t = kp::MetadataRequest::default();
    // v0 has no null array (kafka-protocol would write -1, which Java rejects): "all" is empty.
    let none = if v == 0 { Some(Vec::new()) } else { None };
    t.topics = m.topics.as_ref().or(none.as_ref()).map(|ts| {
        ts.iter()
            .map(|n| {
                let mut x = kp::metadata_request::MetadataRequestTopic::default();
                x.name = Some(kp::TopicName(sb(n)));
                x
            })
            .collect()
    });
    t.allow_auto_topic_creation = m.allow_auto_topic_creation;
    t.include_topic_authorized_operations = m.include_topic_authorized_operations;
    t
}
fn md_req_from(t: &kp::MetadataRequest, v: i16) -> MetadataRequest {
    let topics = t
        .topics
        .as_ref()
        .map(|ts| ts.iter().map(|x| st(&x.name.as_ref().expect("name").0)).collect::<Vec<_>>());
    MetadataRequest {
        // v0: the empty list means "all topics", which we model as None.
        topics: if v == 0 && topics.as_ref().is_some_and(Vec::is_empty) { None } else { topics },
        allow_auto_topic_creation: t.allow_auto_topic_creation,
        include_topic_authorized_operations: t.include_topic_authorized_operations,
    }
}

fn md_resp_to(m: &MetadataResponse) -> kp::MetadataResponse {
    let mut t = kp::MetadataResponse::default();
    t.throttle_time_ms = m.throttle_time_ms;
    t.brokers = m
        .brokers
        .iter()
        .map(|b| {
            let mut x = kp::metadata_response::MetadataResponseBroker::default();
            x.node_id = kp::BrokerId(b.node_id);
            x.host = sb(&b.host);
            x.port = b.port;
            x.rack = osb(&b.rack);
            x
        })
        .collect();
    t.cluster_id = osb(&m.cluster_id);
    t.controller_id = kp::BrokerId(m.controller_id);
    t.topics = m
        .topics
        .iter()
        .map(|tp| {
            let mut x = kp::metadata_response::MetadataResponseTopic::default();
            x.error_code = tp.error_code.0;
            x.name = tp.name.as_deref().map(|n| kp::TopicName(sb(n)));
            x.topic_id = tp.topic_id.to_vec().try_into().unwrap();
            x.is_internal = tp.is_internal;
            x.topic_authorized_operations = tp.topic_authorized_operations;
            x.partitions = tp
                .partitions
                .iter()
                .map(|p| {
                    let mut y = kp::metadata_response::MetadataResponsePartition::default();
                    y.error_code = p.error_code.0;
                    y.partition_index = p.partition_index;
                    y.leader_id = kp::BrokerId(p.leader_id);
                    y.leader_epoch = p.leader_epoch;
                    y.replica_nodes = p.replica_nodes.iter().map(|&n| kp::BrokerId(n)).collect();
                    y.isr_nodes = p.isr_nodes.iter().map(|&n| kp::BrokerId(n)).collect();
                    y.offline_replicas = p.offline_replicas.iter().map(|&n| kp::BrokerId(n)).collect();
                    y
                })
                .collect();
            x
        })
        .collect();
    t.cluster_authorized_operations = m.cluster_authorized_operations;
    t
}
fn md_resp_from(t: &kp::MetadataResponse) -> MetadataResponse {
    let ids = |v: &[kp::BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
    MetadataResponse {
        throttle_time_ms: t.throttle_time_ms,
        brokers: t
            .brokers
            .iter()
            .map(|b| MetadataBroker {
                node_id: b.node_id.0,
                host: st(&b.host),
                port: b.port,
                rack: b.rack.as_ref().map(st),
            })
            .collect(),
        cluster_id: t.cluster_id.as_ref().map(st),
        controller_id: t.controller_id.0,
        topics: t
            .topics
            .iter()
            .map(|x| MetadataTopic {
                error_code: ErrorCode(x.error_code),
                name: x.name.as_ref().map(|n| st(&n.0)),
                topic_id: *x.topic_id.as_bytes(),
                is_internal: x.is_internal,
                partitions: x
                    .partitions
                    .iter()
                    .map(|y| MetadataPartition {
                        error_code: ErrorCode(y.error_code),
                        partition_index: y.partition_index,
                        leader_id: y.leader_id.0,
                        leader_epoch: y.leader_epoch,
                        replica_nodes: ids(&y.replica_nodes),
                        isr_nodes: ids(&y.isr_nodes),
                        offline_replicas: ids(&y.offline_replicas),
                    })
                    .collect(),
                topic_authorized_operations: x.topic_authorized_operations,
            })
            .collect(),
        cluster_authorized_operations: t.cluster_authorized_operations,
    }
}

fn prod_req_to(m: &ProduceRequest) -> kp::ProduceRequest {
    let mut t = kp::ProduceRequest::default();
    t.transactional_id = m.transactional_id.as_deref().map(|s| kp::TransactionalId(sb(s)));
    t.acks = m.acks;
    t.timeout_ms = m.timeout_ms;
    t.topic_data = m
        .topics
        .iter()
        .map(|tp| {
            let mut x = kp::produce_request::TopicProduceData::default();
            x.name = kp::TopicName(sb(&tp.name));
            x.partition_data = tp
                .partitions
                .iter()
                .map(|p| {
                    let mut y = kp::produce_request::PartitionProduceData::default();
                    y.index = p.index;
                    y.records = p.records.clone().map(Bytes::from);
                    y
                })
                .collect();
            x
        })
        .collect();
    t
}
fn prod_req_from(t: &kp::ProduceRequest) -> ProduceRequest {
    ProduceRequest {
        transactional_id: t.transactional_id.as_ref().map(|s| st(&s.0)),
        acks: t.acks,
        timeout_ms: t.timeout_ms,
        topics: t
            .topic_data
            .iter()
            .map(|x| TopicProduceData {
                name: st(&x.name.0),
                partitions: x
                    .partition_data
                    .iter()
                    .map(|y| PartitionProduceData {
                        index: y.index,
                        records: y.records.as_ref().map(|b| b.to_vec()),
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn prod_resp_to(m: &ProduceResponse) -> kp::ProduceResponse {
    let mut t = kp::ProduceResponse::default();
    t.throttle_time_ms = m.throttle_time_ms;
    t.responses = m
        .responses
        .iter()
        .map(|tp| {
            let mut x = kp::produce_response::TopicProduceResponse::default();
            x.name = kp::TopicName(sb(&tp.name));
            x.partition_responses = tp
                .partitions
                .iter()
                .map(|p| {
                    let mut y = kp::produce_response::PartitionProduceResponse::default();
                    y.index = p.index;
                    y.error_code = p.error_code.0;
                    y.base_offset = p.base_offset;
                    y.log_append_time_ms = p.log_append_time_ms;
                    y.log_start_offset = p.log_start_offset;
                    y.record_errors = p
                        .record_errors
                        .iter()
                        .map(|(i, msg)| {
                            let mut e = kp::produce_response::BatchIndexAndErrorMessage::default();
                            e.batch_index = *i;
                            e.batch_index_error_message = osb(msg);
                            e
                        })
                        .collect();
                    y.error_message = osb(&p.error_message);
                    if let Some((id, epoch)) = p.current_leader {
                        y.current_leader.leader_id = kp::BrokerId(id);
                        y.current_leader.leader_epoch = epoch;
                    }
                    y
                })
                .collect();
            x
        })
        .collect();
    t
}
fn prod_resp_from(t: &kp::ProduceResponse) -> ProduceResponse {
    let default_leader = kp::produce_response::LeaderIdAndEpoch::default();
    ProduceResponse {
        responses: t
            .responses
            .iter()
            .map(|x| TopicProduceResponse {
                name: st(&x.name.0),
                partitions: x
                    .partition_responses
                    .iter()
                    .map(|y| PartitionProduceResponse {
                        index: y.index,
                        error_code: ErrorCode(y.error_code),
                        base_offset: y.base_offset,
                        log_append_time_ms: y.log_append_time_ms,
                        log_start_offset: y.log_start_offset,
                        record_errors: y
                            .record_errors
                            .iter()
                            .map(|e| (e.batch_index, e.batch_index_error_message.as_ref().map(st)))
                            .collect(),
                        error_message: y.error_message.as_ref().map(st),
                        current_leader: (y.current_leader != default_leader)
                            .then_some((y.current_leader.leader_id.0, y.current_leader.leader_epoch)),
                    })
                    .collect(),
            })
            .collect(),
        throttle_time_ms: t.throttle_time_ms,
    }
}

fn ipid_req_to(m: &InitProducerIdRequest) -> kp::InitProducerIdRequest {
    let mut t = kp::InitProducerIdRequest::default();
    t.transactional_id = m.transactional_id.as_deref().map(|s| kp::TransactionalId(sb(s)));
    t.transaction_timeout_ms = m.transaction_timeout_ms;
    t.producer_id = kp::ProducerId(m.producer_id);
    t.producer_epoch = m.producer_epoch;
    t
}
fn ipid_req_from(t: &kp::InitProducerIdRequest) -> InitProducerIdRequest {
    InitProducerIdRequest {
        transactional_id: t.transactional_id.as_ref().map(|s| st(&s.0)),
        transaction_timeout_ms: t.transaction_timeout_ms,
        producer_id: t.producer_id.0,
        producer_epoch: t.producer_epoch,
    }
}

fn ipid_resp_to(m: &InitProducerIdResponse) -> kp::InitProducerIdResponse {
    let mut t = kp::InitProducerIdResponse::default();
    t.throttle_time_ms = m.throttle_time_ms;
    t.error_code = m.error_code.0;
    t.producer_id = kp::ProducerId(m.producer_id);
    t.producer_epoch = m.producer_epoch;
    t
}
fn ipid_resp_from(t: &kp::InitProducerIdResponse) -> InitProducerIdResponse {
    InitProducerIdResponse {
        throttle_time_ms: t.throttle_time_ms,
        error_code: ErrorCode(t.error_code),
        producer_id: t.producer_id.0,
        producer_epoch: t.producer_epoch,
    }
}

// ---------------------------------------------------------------------------------------------
// strategies: tests/support/strategies.rs (shared with protocol_messages.rs), and one of our own

/// kafka-protocol (like Java) omits CurrentLeader when it equals its default (-1, -1), so that
/// one value cannot cross; generate anything else.
fn current_leader() -> impl Strategy<Value = (i32, i32)> {
    any::<(i32, i32)>().prop_filter("default leader", |l| *l != (-1, -1))
}

// ---------------------------------------------------------------------------------------------
// properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn api_versions_request_agrees_with_kafka_protocol((v, m) in with_version(ApiKey::ApiVersions, api_versions_request)) {
        check_both(v, &m, av_req_to, av_req_from);
    }

    #[test]
    fn api_versions_response_agrees_with_kafka_protocol((v, m) in with_version(ApiKey::ApiVersions, api_versions_response)) {
        check_both(v, &m, av_resp_to, av_resp_from);
    }

    #[test]
    fn metadata_request_agrees_with_kafka_protocol((v, m) in with_version(ApiKey::Metadata, metadata_request)) {
        check_both(v, &m, |m| md_req_to(m, v), |t| md_req_from(t, v));
    }

    #[test]
    fn metadata_response_agrees_with_kafka_protocol((v, m) in with_version(ApiKey::Metadata, metadata_response)) {
        check_both(v, &m, md_resp_to, md_resp_from);
    }

    #[test]
    fn produce_request_agrees_with_kafka_protocol((v, m) in with_version(ApiKey::Produce, |_| produce_request())) {
        check_both(v, &m, prod_req_to, prod_req_from);
    }

    #[test]
    fn produce_response_agrees_with_kafka_protocol((v, m) in with_version(ApiKey::Produce, |v| produce_response(v, current_leader()))) {
        check_both(v, &m, prod_resp_to, prod_resp_from);
    }

    #[test]
    fn init_producer_id_request_agrees_with_kafka_protocol((v, m) in with_version(ApiKey::InitProducerId, init_producer_id_request)) {
        check_both(v, &m, ipid_req_to, ipid_req_from);
    }

    #[test]
    fn init_producer_id_response_agrees_with_kafka_protocol((v, m) in with_version(ApiKey::InitProducerId, |_| init_producer_id_response())) {
        check_both(v, &m, ipid_resp_to, ipid_resp_from);
    }
}

#[test]
fn every_supported_version_is_exercised() {
    // The strategies draw versions from ApiKey::supported(); pin those ranges so a change
    // there is a conscious one.
    assert_eq!(versions(ApiKey::ApiVersions), 0..=3);
    assert_eq!(versions(ApiKey::Metadata), 0..=12);
    assert_eq!(versions(ApiKey::Produce), 3..=11);
    assert_eq!(versions(ApiKey::InitProducerId), 0..=5);
}
