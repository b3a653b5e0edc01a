//! Message codec tests: golden bytes derived by hand from Kafka's JSON schemas, proptest
//! round-trips at every supported version, hostile input, and the streaming Produce writer.
//!
//! How the golden bytes were derived: walk the schema's `fields` in order, keep those whose
//! `versions` include the version under test, and write each as the protocol guide says:
//! int16/int32/int64 big-endian; classic string = int16 length + bytes (null = -1); classic
//! array = int32 count (null = -1); classic bytes/records = int32 length; in flexible versions
//! strings, arrays and bytes are compact (unsigned varint of length + 1, null = 0) and every
//! struct (the message itself, and each array element) ends with a tagged-field section, which
//! is a single 0x00 byte when empty.

#[path = "support/strategies.rs"]
mod strategies;

use proptest::prelude::*;
use ringkafka::internals::io::SendBuf;
use ringkafka::internals::protocol::header::RequestHeader;
use ringkafka::internals::protocol::messages::*;
use ringkafka::internals::protocol::primitives::{DecodeError, Reader};
use ringkafka::internals::protocol::{ApiKey, ErrorCode};
use strategies::*;

// ---------------------------------------------------------------------------------------------
// helpers

fn enc<T: Encode>(m: &T, v: i16) -> Vec<u8> {
    let mut buf = Vec::new();
    m.encode(v, &mut buf);
    buf
}

fn dec<T: Decode>(bytes: &[u8], v: i16) -> Result<T, DecodeError> {
    let mut r = Reader::new(bytes);
    let out = T::decode(&mut r, v)?;
    r.finish()?;
    Ok(out)
}

/// Asserts `m` encodes to `golden` at `v`, and that `golden` decodes back to `m`.
fn golden<T: Encode + Decode + PartialEq + std::fmt::Debug>(m: &T, v: i16, golden: &[u8]) {
    assert_eq!(enc(m, v), golden, "encoding {m:?} at v{v}");
    assert_eq!(&dec::<T>(golden, v).unwrap(), m, "decoding golden bytes at v{v}");
}

const Z16: [u8; 16] = [0; 16];

// ---------------------------------------------------------------------------------------------
// golden bytes: ApiVersions

#[test]
fn api_versions_request_golden_v0_v2_empty_v3_compact() {
    let req = ApiVersionsRequest { client_software_name: "rk".into(), client_software_version: "1.0".into() };
    // v0-v2: no fields at all.
    assert_eq!(enc(&req, 0), b"");
    assert_eq!(enc(&req, 2), b"");
    assert_eq!(dec::<ApiVersionsRequest>(b"", 2).unwrap(), ApiVersionsRequest::default());
    // v3: compact "rk" (len+1 = 3), compact "1.0" (4), empty tags.
    golden(&req, 3, &[3, b'r', b'k', 4, b'1', b'.', b'0', 0]);
}

fn av_resp() -> ApiVersionsResponse {
    ApiVersionsResponse {
        error_code: ErrorCode::NONE,
        api_keys: vec![ApiVersion { api_key: 18, min_version: 0, max_version: 3 }],
        throttle_time_ms: 5,
        ..Default::default()
    }
}

#[test]
fn api_versions_response_golden_v0_v2_v3() {
    // v0: error, int32 count 1, (18, 0, 3); no throttle time.
    let v0 = ApiVersionsResponse { throttle_time_ms: 0, ..av_resp() };
    golden(&v0, 0, &[0, 0, 0, 0, 0, 1, 0, 18, 0, 0, 0, 3]);
    // v2: + throttle int32.
    golden(&av_resp(), 2, &[0, 0, 0, 0, 0, 1, 0, 18, 0, 0, 0, 3, 0, 0, 0, 5]);
    // v3: compact count 2, element tags 0, throttle, top-level tags 0.
    golden(&av_resp(), 3, &[0, 0, 2, 0, 18, 0, 0, 0, 3, 0, 0, 0, 0, 5, 0]);
}

#[test]
fn api_versions_response_v3_reads_finalized_epoch_and_skips_unknown_tags() {
    // Same as the v3 golden, but the top-level tagged section carries FinalizedFeaturesEpoch
    // (tag 1, 8 bytes), ZkMigrationReady (tag 3, a controller's, ignored) and an unknown tag 9.
    let bytes = [
        0, 0, 2, 0, 18, 0, 0, 0, 3, 0, 0, 0, 0, 5, //
        3, 1, 8, 0, 0, 0, 0, 0, 0, 0, 7, 3, 1, 1, 9, 2, 0xaa, 0xbb,
    ];
    let want = ApiVersionsResponse { finalized_features_epoch: 7, ..av_resp() };
    assert_eq!(dec::<ApiVersionsResponse>(&bytes, 3).unwrap(), want);
}

#[test]
fn api_versions_response_golden_v3_v4_features() {
    let resp = ApiVersionsResponse {
        error_code: ErrorCode::NONE,
        api_keys: vec![ApiVersion { api_key: 18, min_version: 0, max_version: 4 }],
        throttle_time_ms: 0,
        supported_features: vec![SupportedFeature { name: "t".into(), min_version: 0, max_version: 2 }],
        finalized_features_epoch: 3,
        finalized_features: vec![FinalizedFeature {
            name: "t".into(),
            max_version_level: 2,
            min_version_level: 1,
        }],
    };
    // Three tagged fields, in tag order, each tag + size + data:
    // tag 0 SupportedFeatures, 8 bytes: compact count 2, compact "t", min 0, max 2, tags;
    // tag 1 FinalizedFeaturesEpoch, 8 bytes: int64 3;
    // tag 2 FinalizedFeatures, 8 bytes: count, "t", MaxVersionLevel 2, MinVersionLevel 1, tags.
    #[rustfmt::skip]
    let bytes = [
        0, 0, 2, 0, 18, 0, 0, 0, 4, 0, 0, 0, 0, 0,
        3,
        0, 8, 2, 2, b't', 0, 0, 0, 2, 0,
        1, 8, 0, 0, 0, 0, 0, 0, 0, 3,
        2, 8, 2, 2, b't', 0, 2, 0, 1, 0,
    ];
    golden(&resp, 3, &bytes);
    golden(&resp, 4, &bytes);
    assert_eq!(resp.transaction_version(), 0, "the feature is named t, not transaction.version");
    assert_eq!(resp.finalized_level("t"), Some(2));
    // An epoch of -1 makes the finalized features meaningless.
    let unknown = ApiVersionsResponse { finalized_features_epoch: -1, ..resp };
    assert_eq!(unknown.finalized_level("t"), None);
}

/// Decodes a captured frame (correlation id 1, then the body) from `tests/fixtures`.
fn fixture(hex: &str) -> Vec<u8> {
    let hex = hex.trim();
    assert!(hex.len() % 2 == 0, "odd hex length");
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn api_versions_from_kafka_4_4_finalizes_transaction_version_2() {
    // Apache Kafka 4.4.0's answers to our ApiVersions v3 and v4 (tests/fixtures/README.md).
    for (v, hex) in [
        (3, include_str!("fixtures/kafka-4.4.0-api-versions-v3.hex")),
        (4, include_str!("fixtures/kafka-4.4.0-api-versions-v4.hex")),
    ] {
        let frame = fixture(hex);
        let (id, resp) = decode_response::<ApiVersionsRequest>(&frame, v).unwrap();
        assert_eq!(id, 1);
        assert_eq!(resp.error_code, ErrorCode::NONE);
        let range = |k: ApiKey| resp.range_of(k as i16).map(|r| (r.min, r.max));
        assert_eq!(range(ApiKey::Produce), Some((0, 13)));
        assert_eq!(range(ApiKey::EndTxn), Some((0, 5)));
        assert_eq!(range(ApiKey::TxnOffsetCommit), Some((0, 6)));
        assert_eq!(range(ApiKey::InitProducerId), Some((0, 5)), "v6 is unstable: not offered");
        assert_eq!(resp.finalized_features_epoch, 21);
        assert_eq!(resp.transaction_version(), 2, "v{v}");
        assert!(resp.finalized_features.contains(&FinalizedFeature {
            name: TRANSACTION_VERSION_FEATURE.into(),
            max_version_level: 2,
            min_version_level: 2,
        }));
        assert_eq!(resp.finalized_features.len(), 7);
        // v3 leaves out the supported features whose lowest version is 0 (KAFKA-17011).
        let supported: Vec<_> = resp.supported_features.iter().map(|f| f.name.as_str()).collect();
        if v == 3 {
            assert_eq!(supported, ["metadata.version"]);
        } else {
            assert_eq!(supported.len(), 7);
            assert!(supported.contains(&TRANSACTION_VERSION_FEATURE));
        }
        // Kafka writes what we write: the same bytes come back.
        let mut again = frame[..4].to_vec();
        resp.encode(v, &mut again);
        assert_eq!(again, frame, "re-encoding Kafka's v{v} answer");
    }
}

#[test]
fn api_versions_from_tansu_0_6_finalizes_nothing_and_lacks_end_txn() {
    let frame = fixture(include_str!("fixtures/tansu-0.6.0-api-versions-v3.hex"));
    let (_, resp) = decode_response::<ApiVersionsRequest>(&frame, 3).unwrap();
    assert_eq!(resp.error_code, ErrorCode::NONE);
    // Tansu writes every tagged field even at its default (empty lists, epoch -1, tag 3).
    assert_eq!(resp.finalized_features_epoch, -1);
    assert!(resp.finalized_features.is_empty() && resp.supported_features.is_empty());
    assert_eq!(resp.transaction_version(), 0);
    let range = |k: ApiKey| resp.range_of(k as i16).map(|r| (r.min, r.max));
    assert_eq!(range(ApiKey::Produce), Some((0, 11)));
    assert_eq!(range(ApiKey::FindCoordinator), Some((0, 6)));
    assert_eq!(range(ApiKey::EndTxn), None, "Tansu 0.6.0 does not offer EndTxn");
    let v = ringkafka::internals::protocol::version::NegotiatedVersions::from_broker(|k| resp.range_of(k))
        .unwrap();
    assert!(!v.supports_transactions());
    assert_eq!((v.produce, v.add_partitions_to_txn, v.txn_offset_commit), (11, Some(3), Some(4)));
}

// ---------------------------------------------------------------------------------------------
// golden bytes: Metadata

#[test]
fn metadata_request_golden_v0_v1_v8_v9_v10_v12() {
    let all = MetadataRequest {
        topics: None,
        allow_auto_topic_creation: true,
        include_topic_authorized_operations: false,
    };
    // v0: "all topics" is an empty int32 array; it decodes back as None.
    golden(&all, 0, &[0, 0, 0, 0]);
    // v1: null array = -1.
    golden(&all, 1, &[0xff, 0xff, 0xff, 0xff]);
    let one = MetadataRequest { topics: Some(vec!["t".into()]), ..all.clone() };
    // v8 (last classic): [int32 1, string "t"], allow_auto 1, include_cluster_ops 0,
    // include_topic_ops 0.
    golden(&one, 8, &[0, 0, 0, 1, 0, 1, b't', 1, 0, 0]);
    // v9: compact count 2, compact "t", topic tags, then the three bools, message tags.
    golden(&one, 9, &[2, 2, b't', 0, 1, 0, 0, 0]);
    // v10: the topic gains a zero TopicId uuid before the name.
    let mut v10 = vec![2];
    v10.extend_from_slice(&Z16);
    v10.extend_from_slice(&[2, b't', 0, 1, 0, 0, 0]);
    golden(&one, 10, &v10);
    // v12: IncludeClusterAuthorizedOperations (8-10) is gone.
    let mut v12 = vec![2];
    v12.extend_from_slice(&Z16);
    v12.extend_from_slice(&[2, b't', 0, 1, 0, 0]);
    golden(&one, 12, &v12);
}

fn md_resp(v: i16) -> MetadataResponse {
    MetadataResponse {
        throttle_time_ms: if v >= 3 { 7 } else { 0 },
        brokers: vec![MetadataBroker { node_id: 1, host: "h".into(), port: 9092, rack: None }],
        cluster_id: if v >= 2 { Some("c".into()) } else { None },
        controller_id: if v >= 1 { 1 } else { -1 },
        topics: vec![MetadataTopic {
            error_code: ErrorCode::NONE,
            name: Some("t".into()),
            topic_id: if v >= 10 { [0x11; 16] } else { Z16 },
            is_internal: false,
            partitions: vec![MetadataPartition {
                error_code: ErrorCode::NONE,
                partition_index: 0,
                leader_id: 1,
                leader_epoch: if v >= 7 { 5 } else { -1 },
                replica_nodes: vec![1],
                isr_nodes: vec![1],
                offline_replicas: vec![],
            }],
            topic_authorized_operations: i32::MIN,
        }],
        cluster_authorized_operations: i32::MIN,
    }
}

#[test]
fn metadata_response_golden_v0_v8_v12() {
    // v0: brokers[1]{node 1, "h", port 9092 = 0x2384}, topics[1]{err 0, "t",
    // partitions[1]{err 0, index 0, leader 1, replicas [1], isr [1]}}.
    #[rustfmt::skip]
    let v0 = [
        0, 0, 0, 1, 0, 0, 0, 1, 0, 1, b'h', 0, 0, 0x23, 0x84,
        0, 0, 0, 1, 0, 0, 0, 1, b't',
        0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1,
    ];
    golden(&md_resp(0), 0, &v0);
    // v8: throttle; broker rack null (-1 int16); cluster_id "c"; controller 1; topic is_internal;
    // partition leader_epoch 5 and offline_replicas []; topic_authorized_operations and
    // cluster_authorized_operations i32::MIN.
    #[rustfmt::skip]
    let v8 = [
        0, 0, 0, 7,
        0, 0, 0, 1, 0, 0, 0, 1, 0, 1, b'h', 0, 0, 0x23, 0x84, 0xff, 0xff,
        0, 1, b'c', 0, 0, 0, 1,
        0, 0, 0, 1, 0, 0, 0, 1, b't', 0,
        0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 5,
        0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0,
        0x80, 0, 0, 0,
        0x80, 0, 0, 0,
    ];
    golden(&md_resp(8), 8, &v8);
    // v12: compact everything, tags after each broker/partition/topic and the message; topic id
    // after the (nullable) name; no cluster_authorized_operations.
    #[rustfmt::skip]
    let mut v12 = vec![
        0, 0, 0, 7,
        2, 0, 0, 0, 1, 2, b'h', 0, 0, 0x23, 0x84, 0, 0,
        2, b'c', 0, 0, 0, 1,
        2, 0, 0, 2, b't',
    ];
    v12.extend_from_slice(&[0x11; 16]);
    #[rustfmt::skip]
    v12.extend_from_slice(&[
        0,
        2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 5, 2, 0, 0, 0, 1, 2, 0, 0, 0, 1, 1, 0,
        0x80, 0, 0, 0, 0,
        0,
    ]);
    golden(&md_resp(12), 12, &v12);
}

#[test]
fn metadata_response_v12_null_topic_name_round_trips() {
    let mut m = md_resp(12);
    m.topics[0].name = None;
    let bytes = enc(&m, 12);
    assert_eq!(dec::<MetadataResponse>(&bytes, 12).unwrap(), m);
}

// ---------------------------------------------------------------------------------------------
// golden bytes: Produce

fn produce_req() -> ProduceRequest {
    ProduceRequest {
        transactional_id: None,
        acks: -1,
        timeout_ms: 1000,
        topics: vec![TopicProduceData {
            name: "t".into(),
            partitions: vec![PartitionProduceData { index: 2, records: Some(vec![1, 2, 3]) }],
        }],
    }
}

#[test]
fn produce_request_golden_v3_v8_v9() {
    // v3..v8: txn id null (-1 int16), acks -1, timeout 1000 = 0x3e8, topics[1]{"t",
    // partitions[1]{index 2, records int32 len 3 + bytes}}.
    #[rustfmt::skip]
    let classic = [
        0xff, 0xff, 0xff, 0xff, 0, 0, 0x03, 0xe8,
        0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3,
    ];
    golden(&produce_req(), 3, &classic);
    golden(&produce_req(), 8, &classic);
    // v9: compact null txn id (0), compact arrays/strings, records as compact bytes (len+1 = 4),
    // tags after partition, topic and message.
    #[rustfmt::skip]
    let v9 = [
        0, 0xff, 0xff, 0, 0, 0x03, 0xe8,
        2, 2, b't', 2, 0, 0, 0, 2, 4, 1, 2, 3, 0, 0, 0,
    ];
    golden(&produce_req(), 9, &v9);
}

fn produce_resp(v: i16) -> ProduceResponse {
    ProduceResponse {
        responses: vec![TopicProduceResponse {
            name: "t".into(),
            partitions: vec![PartitionProduceResponse {
                index: 2,
                error_code: ErrorCode::NOT_LEADER_OR_FOLLOWER,
                base_offset: 16,
                log_append_time_ms: -1,
                log_start_offset: if v >= 5 { 0 } else { -1 },
                record_errors: vec![],
                error_message: if v >= 8 { Some("x".into()) } else { None },
                current_leader: if v >= 10 {
                    Some(LeaderIdAndEpoch { leader_id: 3, leader_epoch: 4 })
                } else {
                    None
                },
            }],
        }],
        throttle_time_ms: 0,
        node_endpoints: vec![],
    }
}

#[test]
fn produce_response_golden_v3_v8_v10() {
    // v3: topics[1]{"t", partitions[1]{index 2, error 6, base_offset 16, log_append_time -1}},
    // throttle 0.
    #[rustfmt::skip]
    let v3 = [
        0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1,
        0, 0, 0, 2, 0, 6, 0, 0, 0, 0, 0, 0, 0, 16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0, 0, 0, 0,
    ];
    golden(&produce_resp(3), 3, &v3);
    // v8: + log_start_offset 0, record_errors [], error_message "x".
    #[rustfmt::skip]
    let v8 = [
        0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1,
        0, 0, 0, 2, 0, 6, 0, 0, 0, 0, 0, 0, 0, 16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, b'x',
        0, 0, 0, 0,
    ];
    golden(&produce_resp(8), 8, &v8);
    // v10: compact; the partition's tagged section holds one field: tag 0 (CurrentLeader),
    // size 9 = leader_id 3 + leader_epoch 4 + its own empty tags.
    #[rustfmt::skip]
    let v10 = [
        2, 2, b't', 2,
        0, 0, 0, 2, 0, 6, 0, 0, 0, 0, 0, 0, 0, 16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0, 0, 0, 0, 0, 0, 0, 0, 1, 2, b'x',
        1, 0, 9, 0, 0, 0, 3, 0, 0, 0, 4, 0,
        0,
        0, 0, 0, 0, 0,
    ];
    golden(&produce_resp(10), 10, &v10);
}

#[test]
fn produce_response_golden_v12_node_endpoints() {
    // KIP-951: NOT_LEADER_OR_FOLLOWER with the new leader (3, epoch 4) in the partition's tag 0,
    // and where broker 3 is in the response's tag 0: compact count 2, node 3, "h", port 9092,
    // rack "r", tags: 14 bytes.
    let mut resp = produce_resp(12);
    resp.node_endpoints =
        vec![NodeEndpoint { node_id: 3, host: "h".into(), port: 9092, rack: Some("r".into()) }];
    #[rustfmt::skip]
    let v12 = [
        2, 2, b't', 2,
        0, 0, 0, 2, 0, 6, 0, 0, 0, 0, 0, 0, 0, 16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0, 0, 0, 0, 0, 0, 0, 0, 1, 2, b'x',
        1, 0, 9, 0, 0, 0, 3, 0, 0, 0, 4, 0,
        0,
        0, 0, 0, 0,
        1, 0, 14, 2, 0, 0, 0, 3, 2, b'h', 0, 0, 0x23, 0x84, 2, b'r', 0,
    ];
    golden(&resp, 12, &v12);
    // v11 and v10 are the same bytes.
    golden(&resp, 10, &v12);
    let leader = resp.responses[0].partitions[0].current_leader.unwrap();
    let at = resp.node_endpoint(leader.leader_id).unwrap();
    assert_eq!((at.host.as_str(), at.port), ("h", 9092));
    assert_eq!(resp.node_endpoint(4), None);
}

#[test]
fn produce_response_v10_skips_unknown_tags_and_reads_node_endpoints_among_them() {
    let mut bytes = enc(&produce_resp(10), 10);
    // Replace the final empty tag section with NodeEndpoints (tag 0): one endpoint
    // {node 1, "h", port 1, rack null, tags} = 4 + 2 + 4 + 1 + 1 = 12 bytes + count byte, then
    // an unknown tag 5 of 2 bytes.
    bytes.pop();
    bytes.extend_from_slice(&[2, 0, 13, 2, 0, 0, 0, 1, 2, b'h', 0, 0, 0, 1, 0, 0, 5, 2, 0xaa, 0xbb]);
    let mut want = produce_resp(10);
    want.node_endpoints = vec![NodeEndpoint { node_id: 1, host: "h".into(), port: 1, rack: None }];
    assert_eq!(dec::<ProduceResponse>(&bytes, 10).unwrap(), want);
    // A CurrentLeader without its own tagged section (size 8) is an error, not a guess.
    let mut bad = enc(&produce_resp(10), 10);
    let at = bad.iter().position(|&b| b == 9).unwrap(); // the CurrentLeader size byte
    bad[at] = 8;
    bad.remove(at + 9);
    assert!(dec::<ProduceResponse>(&bad, 10).is_err());
}

// ---------------------------------------------------------------------------------------------
// golden bytes: InitProducerId

#[test]
fn init_producer_id_golden_v0_v1_v2_v3() {
    let req = InitProducerIdRequest {
        transactional_id: None,
        transaction_timeout_ms: 60000,
        producer_id: -1,
        producer_epoch: -1,
    };
    // v0/v1: null int16 string, int32 timeout 60000 = 0xea60.
    golden(&req, 0, &[0xff, 0xff, 0, 0, 0xea, 0x60]);
    golden(&req, 1, &[0xff, 0xff, 0, 0, 0xea, 0x60]);
    // v2: compact null, timeout, tags.
    golden(&req, 2, &[0, 0, 0, 0xea, 0x60, 0]);
    // v3: + producer_id int64, producer_epoch int16.
    let req3 = InitProducerIdRequest {
        transactional_id: Some("x".into()),
        producer_id: 5,
        producer_epoch: 1,
        ..req
    };
    golden(&req3, 3, &[2, b'x', 0, 0, 0xea, 0x60, 0, 0, 0, 0, 0, 0, 0, 5, 0, 1, 0]);

    let resp = InitProducerIdResponse {
        throttle_time_ms: 0,
        error_code: ErrorCode::NONE,
        producer_id: 1000,
        producer_epoch: 0,
    };
    let classic = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x03, 0xe8, 0, 0];
    golden(&resp, 0, &classic);
    golden(&resp, 1, &classic);
    let mut flexible = classic.to_vec();
    flexible.push(0);
    golden(&resp, 2, &flexible);
}

// ---------------------------------------------------------------------------------------------
// golden bytes: FindCoordinator

#[test]
fn find_coordinator_request_golden_v0_v1_v3_v4() {
    let one = |key_type, key: &str| FindCoordinatorRequest { key_type, keys: vec![key.into()] };
    // v0: Key only (groups only).
    golden(&one(CoordinatorType::Group, "g"), 0, &[0, 1, b'g']);
    // v1: Key, KeyType (1 = transaction).
    golden(&one(CoordinatorType::Transaction, "t"), 1, &[0, 1, b't', 1]);
    // v3: compact Key, KeyType, tags.
    golden(&one(CoordinatorType::Transaction, "t"), 3, &[2, b't', 1, 0]);
    // v4: KeyType, then CoordinatorKeys (compact array of compact strings), tags.
    let batched = FindCoordinatorRequest {
        key_type: CoordinatorType::Transaction,
        keys: vec!["a".into(), "bc".into()],
    };
    golden(&batched, 4, &[1, 3, 2, b'a', 3, b'b', b'c', 0]);
    golden(&batched, 6, &[1, 3, 2, b'a', 3, b'b', b'c', 0]);
    // An unknown key type is a typed error.
    assert_eq!(
        dec::<FindCoordinatorRequest>(&[0, 1, b't', 7], 1),
        Err(DecodeError::InvalidValue { field: "key_type", value: 7 })
    );
}

fn coordinator(
    key: &str,
    node_id: i32,
    host: &str,
    port: i32,
    error_code: ErrorCode,
    msg: Option<&str>,
) -> Coordinator {
    Coordinator {
        key: key.into(),
        node_id,
        host: host.into(),
        port,
        error_code,
        error_message: msg.map(Into::into),
    }
}

#[test]
fn find_coordinator_response_golden_v0_v1_v3_v4() {
    let ok = |key| FindCoordinatorResponse {
        throttle_time_ms: 0,
        coordinators: vec![coordinator(key, 1, "h", 9092, ErrorCode::NONE, None)],
    };
    // v0: ErrorCode, NodeId, Host, Port.
    golden(&ok(""), 0, &[0, 0, 0, 0, 0, 1, 0, 1, b'h', 0, 0, 0x23, 0x84]);
    // v1: ThrottleTimeMs, ErrorCode, ErrorMessage, NodeId, Host, Port.
    let busy = FindCoordinatorResponse {
        throttle_time_ms: 5,
        coordinators: vec![coordinator("", -1, "", -1, ErrorCode::COORDINATOR_NOT_AVAILABLE, Some("x"))],
    };
    #[rustfmt::skip]
    golden(&busy, 1, &[
        0, 0, 0, 5, 0, 15, 0, 1, b'x', 0xff, 0xff, 0xff, 0xff, 0, 0, 0xff, 0xff, 0xff, 0xff,
    ]);
    // v3: compact, null message (0), tags.
    golden(&ok(""), 3, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, b'h', 0, 0, 0x23, 0x84, 0]);
    // v4: Coordinators[Key, NodeId, Host, Port, ErrorCode, ErrorMessage, tags], tags.
    let batched = FindCoordinatorResponse {
        throttle_time_ms: 0,
        coordinators: vec![
            coordinator("t", 1, "h", 9092, ErrorCode::NONE, None),
            coordinator("u", -1, "", -1, ErrorCode::COORDINATOR_LOAD_IN_PROGRESS, Some("l")),
        ],
    };
    #[rustfmt::skip]
    let v4 = [
        0, 0, 0, 0,
        3,
        2, b't', 0, 0, 0, 1, 2, b'h', 0, 0, 0x23, 0x84, 0, 0, 0, 0,
        2, b'u', 0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff, 0, 14, 2, b'l', 0,
        0,
    ];
    golden(&batched, 4, &v4);
    golden(&batched, 6, &v4);
}

#[test]
fn find_coordinator_answer_is_found_by_key_in_either_form() {
    let batched = FindCoordinatorResponse {
        throttle_time_ms: 0,
        coordinators: vec![
            coordinator("t", 1, "h", 1, ErrorCode::NONE, None),
            coordinator("g", 2, "i", 2, ErrorCode::NONE, None),
        ],
    };
    assert_eq!(batched.coordinator_for("g").map(|c| c.node_id), Some(2));
    assert_eq!(batched.coordinator_for("x"), None);
    // Before v4 the one entry carries no key: it answers whatever was asked.
    let single = dec::<FindCoordinatorResponse>(&[0, 0, 0, 0, 0, 3, 0, 1, b'h', 0, 0, 0, 9], 0).unwrap();
    assert_eq!(single.coordinator_for("anything").map(|c| (c.node_id, c.port)), Some((3, 9)));
}

// ---------------------------------------------------------------------------------------------
// golden bytes: AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit

/// Producer id 5 as an int64.
const PID5: [u8; 8] = [0, 0, 0, 0, 0, 0, 0, 5];

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn add_partitions_to_txn_golden_v0_v3() {
    let req = AddPartitionsToTxnRequest {
        transactional_id: "t".into(),
        producer_id: 5,
        producer_epoch: 1,
        topics: vec![AddPartitionsToTxnTopic { name: "a".into(), partitions: vec![0, 2] }],
    };
    // v0: string "t", pid, epoch, topics[1]{"a", partitions [0, 2]}.
    let v0 =
        cat(&[&[0, 1, b't'], &PID5, &[0, 1, 0, 0, 0, 1, 0, 1, b'a', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2]]);
    golden(&req, 0, &v0);
    golden(&req, 2, &v0);
    // v3: compact, tags after the topic and the message.
    let v3 = cat(&[&[2, b't'], &PID5, &[0, 1, 2, 2, b'a', 3, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0]]);
    golden(&req, 3, &v3);

    let resp = AddPartitionsToTxnResponse {
        throttle_time_ms: 0,
        results: vec![AddPartitionsToTxnTopicResult {
            name: "a".into(),
            partitions: vec![
                AddPartitionsToTxnPartitionResult { partition_index: 0, error_code: ErrorCode::NONE },
                AddPartitionsToTxnPartitionResult {
                    partition_index: 2,
                    error_code: ErrorCode::OPERATION_NOT_ATTEMPTED,
                },
            ],
        }],
    };
    #[rustfmt::skip]
    golden(&resp, 0, &[
        0, 0, 0, 0, 0, 0, 0, 1, 0, 1, b'a', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 55,
    ]);
    #[rustfmt::skip]
    golden(&resp, 3, &[
        0, 0, 0, 0, 2, 2, b'a', 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 55, 0, 0, 0,
    ]);
}

#[test]
fn add_offsets_to_txn_golden_v0_v3() {
    let req = AddOffsetsToTxnRequest {
        transactional_id: "t".into(),
        producer_id: 5,
        producer_epoch: 1,
        group_id: "g".into(),
    };
    golden(&req, 0, &cat(&[&[0, 1, b't'], &PID5, &[0, 1, 0, 1, b'g']]));
    golden(&req, 3, &cat(&[&[2, b't'], &PID5, &[0, 1, 2, b'g', 0]]));
    let resp =
        AddOffsetsToTxnResponse { throttle_time_ms: 0, error_code: ErrorCode::CONCURRENT_TRANSACTIONS };
    golden(&resp, 0, &[0, 0, 0, 0, 0, 51]);
    golden(&resp, 4, &[0, 0, 0, 0, 0, 51, 0]);
}

#[test]
fn end_txn_golden_v0_v3_v5() {
    let req =
        EndTxnRequest { transactional_id: "t".into(), producer_id: 5, producer_epoch: 1, committed: true };
    golden(&req, 0, &cat(&[&[0, 1, b't'], &PID5, &[0, 1, 1]]));
    golden(&req, 3, &cat(&[&[2, b't'], &PID5, &[0, 1, 1, 0]]));
    golden(&req, 5, &cat(&[&[2, b't'], &PID5, &[0, 1, 1, 0]]));
    let resp = |pid, epoch| EndTxnResponse {
        throttle_time_ms: 0,
        error_code: ErrorCode::NONE,
        producer_id: pid,
        producer_epoch: epoch,
    };
    golden(&resp(-1, -1), 0, &[0, 0, 0, 0, 0, 0]);
    golden(&resp(-1, -1), 4, &[0, 0, 0, 0, 0, 0, 0]);
    // v5: the id and the bumped epoch for the next transaction.
    golden(&resp(5, 2), 5, &cat(&[&[0, 0, 0, 0, 0, 0], &PID5, &[0, 2, 0]]));
}

#[test]
fn txn_offset_commit_golden_v0_v2_v3() {
    let req = |v: i16| TxnOffsetCommitRequest {
        transactional_id: "t".into(),
        group_id: "g".into(),
        producer_id: 5,
        producer_epoch: 1,
        generation_id: if v >= 3 { 7 } else { -1 },
        member_id: if v >= 3 { "m".into() } else { String::new() },
        group_instance_id: None,
        topics: vec![TxnOffsetCommitTopic {
            name: "a".into(),
            partitions: vec![TxnOffsetCommitPartition {
                partition_index: 0,
                committed_offset: 10,
                committed_leader_epoch: if v >= 2 { 3 } else { -1 },
                committed_metadata: if v >= 3 { Some("x".into()) } else { None },
            }],
        }],
    };
    let offset10 = [0, 0, 0, 0, 0, 0, 0, 10];
    // v0: strings "t" and "g", pid, epoch, topics[1]{"a", partitions[1]{0, offset 10, null}}.
    #[rustfmt::skip]
    let v0 = cat(&[
        &[0, 1, b't', 0, 1, b'g'], &PID5, &[0, 1],
        &[0, 0, 0, 1, 0, 1, b'a', 0, 0, 0, 1, 0, 0, 0, 0], &offset10, &[0xff, 0xff],
    ]);
    golden(&req(0), 0, &v0);
    // v2: + CommittedLeaderEpoch after the offset.
    #[rustfmt::skip]
    let v2 = cat(&[
        &[0, 1, b't', 0, 1, b'g'], &PID5, &[0, 1],
        &[0, 0, 0, 1, 0, 1, b'a', 0, 0, 0, 1, 0, 0, 0, 0], &offset10, &[0, 0, 0, 3, 0xff, 0xff],
    ]);
    golden(&req(2), 2, &v2);
    // v3: compact; generation 7, member "m", null instance id; metadata "x"; tags.
    #[rustfmt::skip]
    let v3 = cat(&[
        &[2, b't', 2, b'g'], &PID5, &[0, 1], &[0, 0, 0, 7, 2, b'm', 0],
        &[2, 2, b'a', 2, 0, 0, 0, 0], &offset10, &[0, 0, 0, 3, 2, b'x', 0, 0, 0],
    ]);
    golden(&req(3), 3, &v3);
    let mut with_instance = req(5);
    with_instance.group_instance_id = Some("i".into());
    let bytes = enc(&with_instance, 5);
    assert_eq!(&bytes[18..22], &[2, b'm', 2, b'i'], "member id then group instance id");

    let resp = TxnOffsetCommitResponse {
        throttle_time_ms: 0,
        topics: vec![TxnOffsetCommitResponseTopic {
            name: "a".into(),
            partitions: vec![TxnOffsetCommitResponsePartition {
                partition_index: 0,
                error_code: ErrorCode::NONE,
            }],
        }],
    };
    golden(&resp, 0, &[0, 0, 0, 0, 0, 0, 0, 1, 0, 1, b'a', 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    golden(&resp, 3, &[0, 0, 0, 0, 2, 2, b'a', 2, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
}

// ---------------------------------------------------------------------------------------------
// captured answers of real brokers to the transaction APIs (tests/fixtures/README.md)

/// Decodes a captured response frame at `v`, and checks that our encoding of what we decoded
/// is the same bytes when `same_bytes` (the brokers do not all write defaults the same way).
fn captured<R: Request>(hex: &str, v: i16, same_bytes: bool) -> R::Response
where
    R::Response: std::fmt::Debug,
{
    let frame = fixture(hex);
    let (id, resp) = decode_response::<R>(&frame, v).unwrap_or_else(|e| panic!("{:?} v{v}: {e}", R::API_KEY));
    if same_bytes {
        let mut again = Vec::new();
        ringkafka::internals::protocol::header::encode_response_header(
            id,
            R::API_KEY.response_header_flexible(v),
            &mut again,
        );
        resp.encode(v, &mut again);
        assert_eq!(again, frame, "re-encoding {:?} v{v}: {resp:?}", R::API_KEY);
    }
    resp
}

macro_rules! fx {
    ($name:literal) => {
        include_str!(concat!("fixtures/", $name, ".hex"))
    };
}

#[test]
fn find_coordinator_answers_of_kafka_4_4_and_tansu_0_6() {
    for (hex, node, broker_writes_defaults) in [
        (fx!("kafka-4.4.0-tv2-find-coordinator-txn-v6"), 1, true),
        (fx!("tansu-0.6.0-find-coordinator-txn-v6"), 111, true),
    ] {
        let r = captured::<FindCoordinatorRequest>(hex, 6, broker_writes_defaults);
        assert_eq!(r.coordinators.len(), 2, "{r:?}");
        assert!(
            r.coordinators[0].key.starts_with("cap-txn-") && r.coordinators[1].key.starts_with("cap-group-")
        );
        for c in &r.coordinators {
            assert_eq!((c.node_id, c.host.as_str(), c.error_code), (node, "127.0.0.1", ErrorCode::NONE));
            assert!(c.port > 0);
        }
    }
    // Kafka says "" where Tansu says null for the v4+ message; both say "NONE" before v4.
    let kafka = captured::<FindCoordinatorRequest>(fx!("kafka-4.4.0-tv2-find-coordinator-txn-v6"), 6, true);
    assert_eq!(kafka.coordinators[0].error_message.as_deref(), Some(""));
    let tansu = captured::<FindCoordinatorRequest>(fx!("tansu-0.6.0-find-coordinator-txn-v6"), 6, true);
    assert_eq!(tansu.coordinators[0].error_message, None);
    for hex in [fx!("kafka-4.4.0-tv2-find-coordinator-txn-v3"), fx!("tansu-0.6.0-find-coordinator-txn-v3")] {
        let r = captured::<FindCoordinatorRequest>(hex, 3, true);
        assert_eq!(r.coordinators.len(), 1);
        let c = &r.coordinators[0];
        assert_eq!(
            (c.key.as_str(), c.error_code, c.error_message.as_deref()),
            ("", ErrorCode::NONE, Some("NONE"))
        );
    }
    let group = captured::<FindCoordinatorRequest>(fx!("kafka-4.4.0-tv2-find-coordinator-group-v6"), 6, true);
    assert!(group.coordinators[0].key.starts_with("cap-group-"));
    assert_eq!(group.coordinators[0].node_id, 1);
}

#[test]
fn transaction_version_2_answers_of_kafka_4_4() {
    // InitProducerId with the id and epoch of a first one (0): the KIP-360 bump to 1.
    let init = captured::<InitProducerIdRequest>(fx!("kafka-4.4.0-tv2-init-producer-id-txn-v5"), 5, true);
    assert_eq!((init.error_code, init.producer_id, init.producer_epoch), (ErrorCode::NONE, 1, 1));
    let p = captured::<ProduceRequest>(fx!("kafka-4.4.0-tv2-produce-txn-v12"), 12, true);
    let part = &p.responses[0].partitions[0];
    assert_eq!((part.error_code, part.base_offset, part.current_leader), (ErrorCode::NONE, 0, None));
    assert!(p.node_endpoints.is_empty());
    let toc = captured::<TxnOffsetCommitRequest>(fx!("kafka-4.4.0-tv2-txn-offset-commit-v5"), 5, true);
    assert_eq!(toc.topics[0].partitions[0].error_code, ErrorCode::NONE);
    // EndTxn v5 bumps the epoch at the end of every transaction and says so.
    for (hex, epoch) in
        [(fx!("kafka-4.4.0-tv2-end-txn-commit-v5"), 2), (fx!("kafka-4.4.0-tv2-end-txn-abort-v5"), 3)]
    {
        let e = captured::<EndTxnRequest>(hex, 5, true);
        assert_eq!((e.error_code, e.producer_id, e.producer_epoch), (ErrorCode::NONE, 1, epoch));
    }
}

#[test]
fn transaction_version_1_answers_of_kafka_4_4_and_tansu_0_6() {
    for (broker, add, add_offsets, toc) in [
        (
            "kafka",
            fx!("kafka-4.4.0-tv1-add-partitions-to-txn-v3"),
            fx!("kafka-4.4.0-tv1-add-offsets-to-txn-v4"),
            fx!("kafka-4.4.0-tv1-txn-offset-commit-v4"),
        ),
        (
            "tansu",
            fx!("tansu-0.6.0-add-partitions-to-txn-v3"),
            fx!("tansu-0.6.0-add-offsets-to-txn-v4"),
            fx!("tansu-0.6.0-txn-offset-commit-v4"),
        ),
    ] {
        let a = captured::<AddPartitionsToTxnRequest>(add, 3, true);
        assert!(a.results[0].name.starts_with("cap-topic-"), "{broker}");
        assert_eq!(
            a.results[0].partitions,
            [AddPartitionsToTxnPartitionResult { partition_index: 0, error_code: ErrorCode::NONE }],
            "{broker}"
        );
        let o = captured::<AddOffsetsToTxnRequest>(add_offsets, 4, true);
        assert_eq!(o.error_code, ErrorCode::NONE, "{broker}");
        let t = captured::<TxnOffsetCommitRequest>(toc, 4, true);
        assert_eq!(t.topics[0].partitions[0].error_code, ErrorCode::NONE, "{broker}");
    }
    let p = captured::<ProduceRequest>(fx!("kafka-4.4.0-tv1-produce-txn-v11"), 11, true);
    assert_eq!(p.responses[0].partitions[0].error_code, ErrorCode::NONE);
    // Before v5, EndTxn answers no id or epoch.
    let e = captured::<EndTxnRequest>(fx!("kafka-4.4.0-tv1-end-txn-commit-v4"), 4, true);
    assert_eq!((e.error_code, e.producer_id, e.producer_epoch), (ErrorCode::NONE, -1, -1));
    // Tansu refuses InitProducerId's KIP-360 form for a transactional id (current id and epoch
    // given) with UNKNOWN_SERVER_ERROR; a plain one with the same transactional id bumps the
    // epoch.
    let bump = captured::<InitProducerIdRequest>(fx!("tansu-0.6.0-init-producer-id-txn-bump-v5"), 5, true);
    assert_eq!(
        (bump.error_code, bump.producer_id, bump.producer_epoch),
        (ErrorCode::UNKNOWN_SERVER_ERROR, -1, -1)
    );
    let again = captured::<InitProducerIdRequest>(fx!("tansu-0.6.0-init-producer-id-txn-v5"), 5, true);
    assert_eq!((again.error_code, again.producer_id, again.producer_epoch), (ErrorCode::NONE, 4, 1));
}

// ---------------------------------------------------------------------------------------------
// versions, framing and the ApiVersions fallback

#[test]
fn decoding_outside_supported_versions_is_a_typed_error() {
    let unsupported = |r: Result<(), DecodeError>| {
        assert!(matches!(r, Err(DecodeError::UnsupportedVersion { .. })), "{r:?}");
    };
    unsupported(dec::<ProduceResponse>(&[0; 64], 2).map(drop));
    unsupported(dec::<ProduceResponse>(&[0; 64], 13).map(drop));
    unsupported(dec::<ProduceRequest>(&[0; 64], 13).map(drop));
    unsupported(dec::<MetadataResponse>(&[0; 64], 13).map(drop));
    unsupported(dec::<ApiVersionsResponse>(&[0; 64], 5).map(drop));
    unsupported(dec::<InitProducerIdResponse>(&[0; 64], 6).map(drop));
    unsupported(dec::<InitProducerIdRequest>(&[0; 64], -1).map(drop));
    unsupported(dec::<FindCoordinatorResponse>(&[0; 64], 7).map(drop));
    unsupported(dec::<AddPartitionsToTxnRequest>(&[0; 64], 4).map(drop));
    unsupported(dec::<AddPartitionsToTxnResponse>(&[0; 64], 4).map(drop));
    unsupported(dec::<AddOffsetsToTxnResponse>(&[0; 64], 5).map(drop));
    unsupported(dec::<EndTxnResponse>(&[0; 64], 6).map(drop));
    unsupported(dec::<TxnOffsetCommitRequest>(&[0; 64], 6).map(drop));
    unsupported(dec::<TxnOffsetCommitResponse>(&[0; 64], 6).map(drop));
}

#[test]
fn encode_request_frames_header_and_body() {
    let mut buf = Vec::new();
    encode_request(
        &mut buf,
        3,
        7,
        Some("rk"),
        &InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: 1,
            producer_id: -1,
            producer_epoch: -1,
        },
    );
    // size, header v2 (key 22, v3, corr 7, "rk", tags), body.
    #[rustfmt::skip]
    let want = [
        0, 0, 0, 29,
        0, 22, 0, 3, 0, 0, 0, 7, 0, 2, b'r', b'k', 0,
        0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0,
    ];
    assert_eq!(buf, want);
}

#[test]
fn decode_response_uses_header_v0_for_api_versions_and_v1_for_flexible_others() {
    // ApiVersions v3: header v0 (no tags) even though the body is flexible.
    let mut frame = vec![0, 0, 0, 9];
    frame.extend_from_slice(&enc(&av_resp(), 3));
    let (id, resp) = decode_response::<ApiVersionsRequest>(&frame, 3).unwrap();
    assert_eq!((id, resp), (9, av_resp()));
    // InitProducerId v2: header v1 (correlation id + tags).
    let body = InitProducerIdResponse {
        throttle_time_ms: 1,
        error_code: ErrorCode::NONE,
        producer_id: 2,
        producer_epoch: 3,
    };
    let mut frame = vec![0, 0, 0, 9, 0];
    frame.extend_from_slice(&enc(&body, 2));
    assert_eq!(decode_response::<InitProducerIdRequest>(&frame, 2).unwrap(), (9, body.clone()));
    // Trailing bytes are an error.
    frame.push(0);
    assert_eq!(decode_response::<InitProducerIdRequest>(&frame, 2), Err(DecodeError::TrailingBytes(1)));
}

#[test]
fn api_versions_unsupported_version_answer_decodes_as_v0_and_picks_retry_version() {
    // A broker that speaks ApiVersions only up to v2 answers our v3 request with a v0 body:
    // error 35, api_keys [(18, 0, 2)].
    let v0_body = [0, 35, 0, 0, 0, 1, 0, 18, 0, 0, 0, 2];
    let resp = decode_api_versions_response(&v0_body, 3).unwrap();
    assert_eq!(resp.error_code, ErrorCode::UNSUPPORTED_VERSION);
    assert_eq!(resp.api_keys, vec![ApiVersion { api_key: 18, min_version: 0, max_version: 2 }]);
    assert_eq!(api_versions_fallback_version(&resp), Some(2));
    // A broker that offers more than we do: we retry at our max.
    let newer = ApiVersionsResponse {
        error_code: ErrorCode::UNSUPPORTED_VERSION,
        api_keys: vec![ApiVersion { api_key: 18, min_version: 0, max_version: 9 }],
        ..Default::default()
    };
    assert_eq!(api_versions_fallback_version(&newer), Some(4));
    // No ApiVersions entry, no overlap, or no error: nothing to retry.
    let none = ApiVersionsResponse { api_keys: vec![], ..newer.clone() };
    assert_eq!(api_versions_fallback_version(&none), None);
    let disjoint = ApiVersionsResponse {
        api_keys: vec![ApiVersion { api_key: 18, min_version: 7, max_version: 9 }],
        ..newer
    };
    assert_eq!(api_versions_fallback_version(&disjoint), None);
    assert_eq!(api_versions_fallback_version(&av_resp()), None);
    // A normal v3 answer decodes at v3.
    assert_eq!(decode_api_versions_response(&enc(&av_resp(), 3), 3).unwrap(), av_resp());
    // Garbage fails with the v3 error.
    assert!(decode_api_versions_response(&[0, 0, 0x7f], 3).is_err());
}

// ---------------------------------------------------------------------------------------------
// hostile lengths

#[test]
fn huge_claimed_array_lengths_error_instead_of_allocating() {
    // Metadata v1 response: throttle absent, brokers count i32::MAX with 8 bytes behind it.
    let mut bytes = vec![0x7f, 0xff, 0xff, 0xff];
    bytes.extend_from_slice(&[0; 8]);
    assert!(matches!(
        dec::<MetadataResponse>(&bytes, 1),
        Err(DecodeError::LengthExceedsInput { length: 0x7fff_ffff, .. })
    ));
    // Produce v9 response: compact count 2^32-2 (uvarint 0xffff_ffff).
    let bytes = [0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0];
    assert!(matches!(dec::<ProduceResponse>(&bytes, 9), Err(DecodeError::LengthExceedsInput { .. })));
    // ApiVersions v0: 1000 keys claimed, 6 bytes each, only 12 bytes present.
    let bytes = [0, 0, 0, 0, 0x03, 0xe8, 0, 18, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0];
    assert!(matches!(
        dec::<ApiVersionsResponse>(&bytes, 0),
        Err(DecodeError::LengthExceedsInput { length: 1000, .. })
    ));
    // Metadata v12: partition replica array claiming 2^28 int32s.
    let mut m = md_resp(12);
    m.topics[0].partitions[0].replica_nodes.clear();
    let mut bytes = enc(&m, 12);
    // From the end: message tags, topic tags, topic ops (4), partition tags, offline count,
    // isr (count + one int32), then the replica array's count byte (1 = empty).
    let at = bytes.len() - 14;
    assert_eq!(bytes[at], 1);
    bytes.splice(at..=at, [0x81, 0x80, 0x80, 0x80, 0x01]);
    assert!(matches!(dec::<MetadataResponse>(&bytes, 12), Err(DecodeError::LengthExceedsInput { .. })));
    // Produce v3 request: records claiming 1 GiB.
    let mut bytes = enc(&produce_req(), 3);
    let len = bytes.len();
    bytes[len - 7..len - 3].copy_from_slice(&0x4000_0000i32.to_be_bytes());
    assert!(matches!(dec::<ProduceRequest>(&bytes, 3), Err(DecodeError::LengthExceedsInput { .. })));
}

// ---------------------------------------------------------------------------------------------
// ProduceWriter

fn write_streaming(req: &ProduceRequest, version: i16, corr: i32, client: Option<&str>) -> Vec<u8> {
    let mut buf = vec![0xee]; // something already in the send buffer
    let header = RequestHeader {
        api_key: ApiKey::Produce,
        api_version: version,
        correlation_id: corr,
        client_id: client,
    };
    let mut w = ProduceWriter::begin(
        &mut buf,
        header,
        req.transactional_id.as_deref(),
        req.acks,
        req.timeout_ms,
        req.topics.len(),
    );
    for t in &req.topics {
        w.topic(&t.name, t.partitions.len());
        for p in &t.partitions {
            w.partition(p.index, p.records.as_deref().expect("writer writes non-null records"));
        }
        w.end_topic();
    }
    w.finish();
    buf
}

/// The producer's form: each partition's records spliced in (`ProduceWriter::partition_spliced`
/// and `io::SendBuf`), not copied; the driver writes the parts in order.
fn write_spliced(req: &ProduceRequest, version: i16, corr: i32, client: Option<&str>) -> Vec<u8> {
    let mut out = SendBuf::from(vec![0xee]);
    let header = RequestHeader {
        api_key: ApiKey::Produce,
        api_version: version,
        correlation_id: corr,
        client_id: client,
    };
    let SendBuf { bytes, spliced } = &mut out;
    let mut w = ProduceWriter::begin(
        bytes,
        header,
        req.transactional_id.as_deref(),
        req.acks,
        req.timeout_ms,
        req.topics.len(),
    );
    for t in &req.topics {
        w.topic(&t.name, t.partitions.len());
        for p in &t.partitions {
            let records = p.records.clone().expect("writer writes non-null records");
            let at = w.partition_spliced(p.index, records.len());
            spliced.push((at, std::sync::Arc::new(records)));
        }
        w.end_topic();
    }
    w.finish();
    out.to_vec()
}

#[test]
fn produce_writer_matches_encode_request_at_every_version() {
    let mut req = produce_req();
    req.transactional_id = Some("txn".into());
    req.topics.push(TopicProduceData {
        name: "other".into(),
        partitions: vec![
            PartitionProduceData { index: 0, records: Some(vec![9; 200]) },
            PartitionProduceData { index: 5, records: Some(vec![]) },
        ],
    });
    for v in versions(ApiKey::Produce) {
        let mut want = vec![0xee];
        encode_request(&mut want, v, 42, Some("client"), &req);
        assert_eq!(write_streaming(&req, v, 42, Some("client")), want, "version {v}");
        assert_eq!(write_spliced(&req, v, 42, Some("client")), want, "spliced, version {v}");
    }
}

// ---------------------------------------------------------------------------------------------
// proptest round-trips (strategies: tests/support/strategies.rs, shared with
// interop_kafka_protocol.rs)

fn round_trip<T: Encode + Decode + PartialEq + std::fmt::Debug>(v: i16, m: &T) -> Result<(), TestCaseError> {
    let bytes = enc(m, v);
    let back = dec::<T>(&bytes, v).map_err(|e| TestCaseError::fail(format!("v{v}: {e}")))?;
    prop_assert_eq!(&back, m, "version {}", v);
    Ok(())
}

/// One proptest per message: `test name: API key, strategy for a message at a given version`;
/// each encodes the message at every supported version and decodes it back unchanged.
macro_rules! round_trips {
    ($($name:ident: $key:ident, $strategy:expr;)*) => {
        proptest! {
            $(
                #[test]
                fn $name((v, m) in with_version(ApiKey::$key, $strategy)) {
                    round_trip(v, &m)?;
                }
            )*
        }
    };
}

round_trips! {
    api_versions_request_round_trips: ApiVersions, api_versions_request;
    api_versions_response_round_trips: ApiVersions, api_versions_response;
    metadata_request_round_trips: Metadata, metadata_request;
    metadata_response_round_trips: Metadata, metadata_response;
    produce_request_round_trips: Produce, |_| produce_request();
    produce_response_round_trips: Produce, |v| produce_response(v, any::<(i32, i32)>());
    init_producer_id_request_round_trips: InitProducerId, init_producer_id_request;
    init_producer_id_response_round_trips: InitProducerId, |_| init_producer_id_response();
    find_coordinator_request_round_trips: FindCoordinator, find_coordinator_request;
    find_coordinator_response_round_trips: FindCoordinator, find_coordinator_response;
    add_partitions_to_txn_request_round_trips: AddPartitionsToTxn, |_| add_partitions_to_txn_request();
    add_partitions_to_txn_response_round_trips: AddPartitionsToTxn, |_| add_partitions_to_txn_response();
    add_offsets_to_txn_request_round_trips: AddOffsetsToTxn, |_| add_offsets_to_txn_request();
    add_offsets_to_txn_response_round_trips: AddOffsetsToTxn, |_| add_offsets_to_txn_response();
    end_txn_request_round_trips: EndTxn, |_| end_txn_request();
    end_txn_response_round_trips: EndTxn, end_txn_response;
    txn_offset_commit_request_round_trips: TxnOffsetCommit, txn_offset_commit_request;
    txn_offset_commit_response_round_trips: TxnOffsetCommit, |_| txn_offset_commit_response();
}

proptest! {
    #[test]
    fn produce_writer_matches_owned_encoding((v, mut m) in with_version(ApiKey::Produce, |_| produce_request())) {
        for t in &mut m.topics {
            for p in &mut t.partitions {
                p.records.get_or_insert_with(Vec::new);
            }
        }
        let mut want = vec![0xee];
        encode_request(&mut want, v, 1, None, &m);
        prop_assert_eq!(&write_streaming(&m, v, 1, None), &want);
        prop_assert_eq!(write_spliced(&m, v, 1, None), want, "spliced");
    }

    /// Arbitrary bytes into every decoder at every version (including unsupported ones):
    /// Ok or Err, never a panic.
    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(v in -1i16..14, bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = dec::<ApiVersionsRequest>(&bytes, v);
        let _ = dec::<ApiVersionsResponse>(&bytes, v);
        let _ = dec::<MetadataRequest>(&bytes, v);
        let _ = dec::<MetadataResponse>(&bytes, v);
        let _ = dec::<ProduceRequest>(&bytes, v);
        let _ = dec::<ProduceResponse>(&bytes, v);
        let _ = dec::<InitProducerIdRequest>(&bytes, v);
        let _ = dec::<InitProducerIdResponse>(&bytes, v);
        let _ = dec::<FindCoordinatorRequest>(&bytes, v);
        let _ = dec::<FindCoordinatorResponse>(&bytes, v);
        let _ = dec::<AddPartitionsToTxnRequest>(&bytes, v);
        let _ = dec::<AddPartitionsToTxnResponse>(&bytes, v);
        let _ = dec::<AddOffsetsToTxnRequest>(&bytes, v);
        let _ = dec::<AddOffsetsToTxnResponse>(&bytes, v);
        let _ = dec::<EndTxnRequest>(&bytes, v);
        let _ = dec::<EndTxnResponse>(&bytes, v);
        let _ = dec::<TxnOffsetCommitRequest>(&bytes, v);
        let _ = dec::<TxnOffsetCommitResponse>(&bytes, v);
        let _ = decode_response::<ApiVersionsRequest>(&bytes, v);
        let _ = decode_response::<MetadataRequest>(&bytes, v);
        let _ = decode_response::<ProduceRequest>(&bytes, v);
        let _ = decode_response::<InitProducerIdRequest>(&bytes, v);
        let _ = decode_response::<FindCoordinatorRequest>(&bytes, v);
        let _ = decode_response::<AddPartitionsToTxnRequest>(&bytes, v);
        let _ = decode_response::<AddOffsetsToTxnRequest>(&bytes, v);
        let _ = decode_response::<EndTxnRequest>(&bytes, v);
        let _ = decode_response::<TxnOffsetCommitRequest>(&bytes, v);
        let _ = decode_api_versions_response(&bytes, v);
    }

    /// Mutating valid encodings (which reach deeper than random bytes) never panics either.
    #[test]
    fn decoders_never_panic_on_mutated_valid_input(
        (v, m) in with_version(ApiKey::Metadata, metadata_response),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let bytes = mutate(enc(&m, v), &flips);
        let _ = dec::<MetadataResponse>(&bytes, v);
        let _ = dec::<ProduceResponse>(&bytes, v.clamp(3, 12));
    }

    #[test]
    fn produce_response_decoder_never_panics_on_mutated_valid_input(
        (v, m) in with_version(ApiKey::Produce, |v| produce_response(v, any::<(i32, i32)>())),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let _ = dec::<ProduceResponse>(&mutate(enc(&m, v), &flips), v);
    }

    #[test]
    fn api_versions_response_decoder_never_panics_on_mutated_valid_input(
        (v, m) in with_version(ApiKey::ApiVersions, api_versions_response),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let _ = dec::<ApiVersionsResponse>(&mutate(enc(&m, v), &flips), v);
    }

    #[test]
    fn transaction_response_decoders_never_panic_on_mutated_valid_input(
        (v, fc) in with_version(ApiKey::FindCoordinator, find_coordinator_response),
        apt in add_partitions_to_txn_response(),
        toc in txn_offset_commit_response(),
        et in end_txn_response(5),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let _ = dec::<FindCoordinatorResponse>(&mutate(enc(&fc, v), &flips), v);
        let v3 = v.min(3);
        let _ = dec::<AddPartitionsToTxnResponse>(&mutate(enc(&apt, v3), &flips), v3);
        let v5 = v.min(5);
        let _ = dec::<TxnOffsetCommitResponse>(&mutate(enc(&toc, v5), &flips), v5);
        let _ = dec::<EndTxnResponse>(&mutate(enc(&et, 5), &flips), 5);
    }
}

/// `bytes` with each `(index, value)` of `flips` written in (nothing for empty input).
fn mutate(mut bytes: Vec<u8>, flips: &[(prop::sample::Index, u8)]) -> Vec<u8> {
    if !bytes.is_empty() {
        for (i, b) in flips {
            let at = i.index(bytes.len());
            bytes[at] = *b;
        }
    }
    bytes
}
