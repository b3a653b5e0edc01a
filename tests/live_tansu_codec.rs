//! The sans-IO codec against a real broker (Tansu 0.6.0, started by `scripts/test.sh`), over a
//! plain blocking `TcpStream`: ApiVersions → Metadata → InitProducerId → Produce of one idempotent
//! batch, then every field read back with an independent client (librdkafka).

mod support;

use std::time::Duration;

use ringkafka::internals::protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, InitProducerIdRequest, MetadataRequest, PartitionProduceData,
    PartitionProduceResponse, ProduceRequest, TopicProduceData,
};
use ringkafka::internals::protocol::record_batch::{BatchWriter, ProducerFields};
use ringkafka::internals::protocol::version::{ApiKey, NegotiatedVersions, VersionRange};
use ringkafka::internals::protocol::ErrorCode;
use ringkafka::Header;

use support::{ConsumedRecord, RawConn, TimestampType};

/// A fixed CreateTime (2023-11-14T22:13:20Z) so the read-back compares exact values.
const BASE_TS: i64 = 1_700_000_000_000;

/// One record as the test produces it.
struct Rec {
    ts: i64,
    key: Option<&'static [u8]>,
    value: Option<&'static [u8]>,
    headers: Vec<Header>,
}

/// Records covering the shapes a producer must carry unchanged: keys, a null key, a null value
/// (tombstone), an empty value, headers with a null value and a repeated key, no headers, and
/// timestamps that are not in order.
fn records() -> Vec<Rec> {
    vec![
        Rec {
            ts: BASE_TS,
            key: Some(b"key-0"),
            value: Some(b"value-0"),
            headers: vec![Header::new("h1", "a"), Header { key: "null-header".into(), value: None }],
        },
        Rec { ts: BASE_TS + 1, key: None, value: Some(b"value-with-null-key"), headers: vec![] },
        Rec {
            ts: BASE_TS + 5,
            key: Some(b"tombstone"),
            value: None,
            headers: vec![Header::new("dup", "x"), Header::new("dup", "y")],
        },
        Rec { ts: BASE_TS - 3, key: Some(b"key-3"), value: Some(b"\x00\x01\xff binary"), headers: vec![] },
        Rec {
            ts: BASE_TS + 1_000,
            key: Some(b"k4"),
            value: Some(b"v4"),
            headers: vec![Header::new("empty", ""), Header::new("utf8-\u{e9}", "\u{263a}")],
        },
    ]
}

/// Encodes `recs` as one batch with the given idempotence fields.
fn batch(recs: &[Rec], producer: ProducerFields) -> Vec<u8> {
    let mut w = BatchWriter::new(Vec::new(), producer, 0);
    for r in recs {
        w.append(r.ts, r.key, r.value, &r.headers);
    }
    assert_eq!(w.record_count(), recs.len() as i32);
    w.close()
}

/// What the broker should hand back for `recs` written at `base_offset` of partition 0.
fn expected(recs: &[Rec], base_offset: i64) -> Vec<ConsumedRecord> {
    recs.iter()
        .enumerate()
        .map(|(i, r)| ConsumedRecord {
            partition: 0,
            offset: base_offset + i as i64,
            key: r.key.map(<[u8]>::to_vec),
            value: r.value.map(<[u8]>::to_vec),
            timestamp: r.ts,
            timestamp_type: TimestampType::CreateTime,
            headers: r.headers.iter().map(|h| (h.key.clone(), h.value.clone())).collect(),
        })
        .collect()
}

/// A connection that has done ApiVersions, with the versions negotiated from the broker's answer.
struct Session {
    conn: RawConn,
    versions: NegotiatedVersions,
    api_versions: ApiVersionsResponse,
}

fn connect() -> Session {
    let mut conn = RawConn::connect(&support::bootstrap());
    let ours = ApiKey::ApiVersions.supported().max;
    let req = ApiVersionsRequest {
        client_software_name: "ringkafka-test".into(),
        client_software_version: env!("CARGO_PKG_VERSION").into(),
    };
    // Tansu 0.6.0 speaks ApiVersions v3, so no fallback to the v0 error body is needed here
    // (that path is the codec's unit tests' business).
    let resp = conn.request(ours, &req);
    assert_eq!(resp.error_code, ErrorCode::NONE, "ApiVersions error");
    let versions = NegotiatedVersions::from_broker(|k| {
        resp.api_keys
            .iter()
            .find(|a| a.api_key == k)
            .map(|a| VersionRange { min: a.min_version, max: a.max_version })
    })
    .expect("broker and codec share a version of every API the producer needs");
    eprintln!("negotiated with the broker: {versions:?}");
    Session { conn, versions, api_versions: resp }
}

fn init_producer_id(s: &mut Session) -> (i64, i16) {
    let resp = s.conn.request(
        s.versions.init_producer_id,
        &InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: 60_000,
            producer_id: -1,
            producer_epoch: -1,
        },
    );
    assert_eq!(resp.error_code, ErrorCode::NONE, "InitProducerId error");
    assert!(resp.producer_id >= 0, "producer id {}", resp.producer_id);
    assert!(resp.producer_epoch >= 0, "producer epoch {}", resp.producer_epoch);
    (resp.producer_id, resp.producer_epoch)
}

/// Produces `records` (one or more batches) to partition 0 of `topic` with acks=all and returns
/// that partition's response.
fn produce(s: &mut Session, topic: &str, records: Vec<u8>) -> PartitionProduceResponse {
    let resp = s.conn.request(
        s.versions.produce,
        &ProduceRequest {
            transactional_id: None,
            acks: -1,
            timeout_ms: 30_000,
            topics: vec![TopicProduceData {
                name: topic.to_string(),
                partitions: vec![PartitionProduceData { index: 0, records: Some(records) }],
            }],
        },
    );
    assert_eq!(resp.responses.len(), 1, "{resp:?}");
    assert_eq!(resp.responses[0].name, topic);
    assert_eq!(resp.responses[0].partitions.len(), 1, "{resp:?}");
    let p = resp.responses[0].partitions[0].clone();
    assert_eq!(p.index, 0);
    p
}

#[test]
fn api_versions_metadata_init_producer_id_produce_and_read_back() {
    let bootstrap = support::bootstrap();
    let topic = support::unique_topic("live-codec");
    support::create_topic(&topic, 3);

    // ApiVersions: the broker offers a version of every API we speak.
    let mut s = connect();
    for key in ApiKey::ALL {
        assert!(
            s.api_versions.api_keys.iter().any(|a| a.api_key == key as i16),
            "broker does not list {key:?}: {:?}",
            s.api_versions.api_keys
        );
    }
    assert!(s.versions.produce >= 3, "{:?}", s.versions);

    // Metadata: three partitions, each led by the one broker we talk to.
    let md = s.conn.request(
        s.versions.metadata,
        &MetadataRequest {
            topics: Some(vec![topic.clone()]),
            allow_auto_topic_creation: false,
            include_topic_authorized_operations: false,
        },
    );
    assert_eq!(md.brokers.len(), 1, "{md:?}");
    let broker = &md.brokers[0];
    assert_eq!(format!("{}:{}", broker.host, broker.port), bootstrap, "advertised listener");
    assert_eq!(md.topics.len(), 1, "{md:?}");
    let t = &md.topics[0];
    assert_eq!(t.error_code, ErrorCode::NONE);
    assert_eq!(t.name.as_deref(), Some(topic.as_str()));
    let mut parts: Vec<_> =
        t.partitions.iter().map(|p| (p.partition_index, p.leader_id, p.error_code)).collect();
    parts.sort_by_key(|p| p.0);
    assert_eq!(
        parts,
        (0..3).map(|i| (i, broker.node_id, ErrorCode::NONE)).collect::<Vec<_>>(),
        "partitions and leaders"
    );

    // InitProducerId, then one idempotent batch.
    let (producer_id, producer_epoch) = init_producer_id(&mut s);
    let recs = records();
    let p = produce(
        &mut s,
        &topic,
        batch(&recs, ProducerFields { producer_id, producer_epoch, base_sequence: 0 }),
    );
    assert_eq!(p.error_code, ErrorCode::NONE, "{p:?}");
    assert_eq!(p.base_offset, 0, "{p:?}");
    assert_eq!(p.log_append_time_ms, -1, "topic uses CreateTime: {p:?}");

    // Read back with librdkafka; ask for one record more than we wrote so that a surplus shows.
    let got = support::consume_all(&topic, 3, recs.len() + 1, Duration::from_secs(5));
    assert_eq!(got, expected(&recs, 0));
}

/// Re-sending a batch with the same producer id, epoch and base sequence (a retry whose first
/// response was lost) must not store the records twice, and the next sequence must still follow.
#[test]
fn resent_idempotent_batch_is_not_duplicated() {
    let topic = support::unique_topic("live-dedupe");
    support::create_topic(&topic, 1);
    let mut s = connect();
    let (producer_id, producer_epoch) = init_producer_id(&mut s);
    let recs = records();
    let bytes = batch(&recs, ProducerFields { producer_id, producer_epoch, base_sequence: 0 });

    let first = produce(&mut s, &topic, bytes.clone());
    assert_eq!((first.error_code, first.base_offset), (ErrorCode::NONE, 0), "{first:?}");

    let again = produce(&mut s, &topic, bytes);
    // Tansu 0.6.0 dedupes, but answers unlike Apache Kafka. Kafka (2.x+) keeps the last five
    // batches per producer and partition and answers a resent one with NONE and the *original*
    // base offset. Tansu keeps only the next expected sequence: any base sequence below it is
    // DUPLICATE_SEQUENCE_NUMBER with base offset -1, one above it OUT_OF_ORDER_SEQUENCE_NUMBER
    // (tansu-storage 0.6.0 src/dynostore.rs, `deflated.is_idempotent()` branch). Like the Java
    // client, the producer must therefore treat DUPLICATE_SEQUENCE_NUMBER as "already written"
    // (success, offset unknown), not as a failure. Either way nothing is appended: checked below.
    assert_eq!(
        (again.error_code, again.base_offset),
        (ErrorCode::DUPLICATE_SEQUENCE_NUMBER, -1),
        "Tansu's answer to a resent batch changed: {again:?}"
    );

    // The next sequence is still accepted and lands right after the first batch.
    let next = produce(
        &mut s,
        &topic,
        batch(&recs[..1], ProducerFields { producer_id, producer_epoch, base_sequence: recs.len() as i32 }),
    );
    assert_eq!(next.error_code, ErrorCode::NONE, "{next:?}");
    assert_eq!(next.base_offset, recs.len() as i64, "{next:?}");

    let got = support::consume_all(&topic, 1, recs.len() + 2, Duration::from_secs(5));
    let mut want = expected(&recs, 0);
    want.extend(expected(&recs[..1], recs.len() as i64));
    assert_eq!(got, want);
}
