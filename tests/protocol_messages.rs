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
fn api_versions_response_v3_skips_unknown_tagged_features() {
    // Same as the v3 golden, but the top-level tagged section carries FinalizedFeaturesEpoch
    // (tag 1, 8 bytes) and an unknown tag 9 with 2 bytes.
    let bytes = [
        0, 0, 2, 0, 18, 0, 0, 0, 3, 0, 0, 0, 0, 5, //
        2, 1, 8, 0, 0, 0, 0, 0, 0, 0, 7, 9, 2, 0xaa, 0xbb,
    ];
    assert_eq!(dec::<ApiVersionsResponse>(&bytes, 3).unwrap(), av_resp());
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
                current_leader: if v >= 10 { Some((3, 4)) } else { None },
            }],
        }],
        throttle_time_ms: 0,
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
fn produce_response_v10_skips_node_endpoints_and_unknown_tags() {
    let mut bytes = enc(&produce_resp(10), 10);
    // Replace the final empty tag section with NodeEndpoints (tag 0): one endpoint
    // {node 1, "h", port 1, rack null, tags} = 4 + 2 + 4 + 1 + 1 = 12 bytes + count byte.
    bytes.pop();
    bytes.extend_from_slice(&[1, 0, 13, 2, 0, 0, 0, 1, 2, b'h', 0, 0, 0, 1, 0, 0]);
    assert_eq!(dec::<ProduceResponse>(&bytes, 10).unwrap(), produce_resp(10));
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
// versions, framing and the ApiVersions fallback

#[test]
fn decoding_outside_supported_versions_is_a_typed_error() {
    let unsupported = |r: Result<(), DecodeError>| {
        assert!(matches!(r, Err(DecodeError::UnsupportedVersion { .. })), "{r:?}");
    };
    unsupported(dec::<ProduceResponse>(&[0; 64], 2).map(drop));
    unsupported(dec::<ProduceResponse>(&[0; 64], 12).map(drop));
    unsupported(dec::<MetadataResponse>(&[0; 64], 13).map(drop));
    unsupported(dec::<ApiVersionsResponse>(&[0; 64], 4).map(drop));
    unsupported(dec::<InitProducerIdResponse>(&[0; 64], 6).map(drop));
    unsupported(dec::<InitProducerIdRequest>(&[0; 64], -1).map(drop));
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
        throttle_time_ms: 0,
    };
    assert_eq!(api_versions_fallback_version(&newer), Some(3));
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

proptest! {
    #[test]
    fn api_versions_request_round_trips((v, m) in with_version(ApiKey::ApiVersions, api_versions_request)) {
        round_trip(v, &m)?;
    }

    #[test]
    fn api_versions_response_round_trips((v, m) in with_version(ApiKey::ApiVersions, api_versions_response)) {
        round_trip(v, &m)?;
    }

    #[test]
    fn metadata_request_round_trips((v, m) in with_version(ApiKey::Metadata, metadata_request)) {
        round_trip(v, &m)?;
    }

    #[test]
    fn metadata_response_round_trips((v, m) in with_version(ApiKey::Metadata, metadata_response)) {
        round_trip(v, &m)?;
    }

    #[test]
    fn produce_request_round_trips((v, m) in with_version(ApiKey::Produce, |_| produce_request())) {
        round_trip(v, &m)?;
    }

    #[test]
    fn produce_response_round_trips((v, m) in with_version(ApiKey::Produce, |v| produce_response(v, any::<(i32, i32)>()))) {
        round_trip(v, &m)?;
    }

    #[test]
    fn init_producer_id_request_round_trips((v, m) in with_version(ApiKey::InitProducerId, init_producer_id_request)) {
        round_trip(v, &m)?;
    }

    #[test]
    fn init_producer_id_response_round_trips((v, m) in with_version(ApiKey::InitProducerId, |_| init_producer_id_response())) {
        round_trip(v, &m)?;
    }

    #[test]
    fn produce_writer_matches_owned_encoding((v, mut m) in with_version(ApiKey::Produce, |_| produce_request())) {
        for t in &mut m.topics {
            for p in &mut t.partitions {
                p.records.get_or_insert_with(Vec::new);
            }
        }
        let mut want = vec![0xee];
        encode_request(&mut want, v, 1, None, &m);
        prop_assert_eq!(write_streaming(&m, v, 1, None), want);
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
        let _ = decode_response::<ApiVersionsRequest>(&bytes, v);
        let _ = decode_response::<MetadataRequest>(&bytes, v);
        let _ = decode_response::<ProduceRequest>(&bytes, v);
        let _ = decode_response::<InitProducerIdRequest>(&bytes, v);
        let _ = decode_api_versions_response(&bytes, v);
    }

    /// Mutating valid encodings (which reach deeper than random bytes) never panics either.
    #[test]
    fn decoders_never_panic_on_mutated_valid_input(
        (v, m) in with_version(ApiKey::Metadata, metadata_response),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = enc(&m, v);
        if !bytes.is_empty() {
            for (i, b) in flips {
                let at = i.index(bytes.len());
                bytes[at] = b;
            }
        }
        let _ = dec::<MetadataResponse>(&bytes, v);
        let _ = dec::<ProduceResponse>(&bytes, v.clamp(3, 11));
    }

    #[test]
    fn produce_response_decoder_never_panics_on_mutated_valid_input(
        (v, m) in with_version(ApiKey::Produce, |v| produce_response(v, any::<(i32, i32)>())),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = enc(&m, v);
        for (i, b) in flips {
            let at = i.index(bytes.len());
            bytes[at] = b;
        }
        let _ = dec::<ProduceResponse>(&bytes, v);
    }
}
