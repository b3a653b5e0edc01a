//! The magic-v2 record batch codec against hand-derived golden bytes, against an independent
//! implementation (the `kafka-protocol` crate) in both directions, and against hostile input.

use bytes::{Bytes, BytesMut};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record as KpRecord, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType,
};
use proptest::collection::vec;
use proptest::prelude::*;
use ringkafka::internals::protocol::primitives::varlong_len;
use ringkafka::internals::protocol::record_batch::{
    batch_base_sequence, batch_record_count, decode_batches, record_size_upper_bound,
    rewrite_producer_fields, BatchWriter, ProducerFields, RecordBatch, ATTRIBUTES_OFFSET, BATCH_HEADER_LEN,
    CRC_OFFSET,
};
use ringkafka::internals::protocol::DecodeError;
use ringkafka::Header;

/// One record as the application hands it in.
#[derive(Debug, Clone)]
struct Input {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<Header>,
}

const PRODUCER: ProducerFields = ProducerFields { producer_id: 1000, producer_epoch: 5, base_sequence: 42 };

/// Writes `records` with our encoder, checking each append against the upper bound.
fn write(records: &[Input], producer: ProducerFields) -> Vec<u8> {
    let mut w = BatchWriter::new(Vec::new(), producer, 0);
    for (i, r) in records.iter().enumerate() {
        let bound = record_size_upper_bound(r.key.as_deref(), r.value.as_deref(), &r.headers);
        let before = w.len();
        let n = w.append(r.timestamp, r.key.as_deref(), r.value.as_deref(), &r.headers);
        assert_eq!(w.len() - before, n, "append reports the bytes it wrote");
        assert!(n <= bound, "record took {n} bytes, bound said {bound}");
        // The bound is exact but for the deltas, which it takes at their widest (10 and 5
        // bytes), plus at most one byte more in the length varint that slack can cost. Checking
        // the slack exactly catches a bound that is short by a byte even when the small offset
        // deltas reachable in a test would hide it.
        let delta_slack =
            (10 - varlong_len(r.timestamp.wrapping_sub(records[0].timestamp))) + (5 - varlong_len(i as i64));
        let slack = bound - n;
        assert!(
            (delta_slack..=delta_slack + 1).contains(&slack),
            "bound {bound} for a {n}-byte record: slack {slack}, deltas explain {delta_slack}"
        );
    }
    assert_eq!(w.record_count() as usize, records.len());
    w.close()
}

/// Recomputes the CRC after a test has edited a batch, so the edit reaches the later checks.
fn fix_crc(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Headers as kafka-protocol keeps them: an insertion-ordered map, a repeated key overwriting
/// the earlier value in place.
fn dedup_headers(headers: &[Header]) -> Vec<Header> {
    let mut out: Vec<Header> = Vec::new();
    for h in headers {
        match out.iter_mut().find(|o| o.key == h.key) {
            Some(o) => o.value = h.value.clone(),
            None => out.push(h.clone()),
        }
    }
    out
}

/// Asserts that our decoded batch holds exactly `records` with `producer`'s fields.
fn assert_batch_eq(
    b: &RecordBatch,
    records: &[Input],
    producer: ProducerFields,
    headers: fn(&[Header]) -> Vec<Header>,
) {
    assert_eq!(b.base_offset, 0);
    assert_eq!(b.partition_leader_epoch, -1);
    assert_eq!(b.attributes, 0);
    assert_eq!(b.last_offset_delta, records.len() as i32 - 1);
    assert_eq!(
        (b.producer_id, b.producer_epoch, b.base_sequence),
        (producer.producer_id, producer.producer_epoch, producer.base_sequence)
    );
    assert_eq!(b.max_timestamp, records.iter().map(|r| r.timestamp).max().unwrap());
    assert_eq!(b.records.len(), records.len());
    for (i, (got, want)) in b.records.iter().zip(records).enumerate() {
        assert_eq!(got.attributes, 0, "record {i}");
        assert_eq!(got.offset_delta, i as i32, "record {i}");
        assert_eq!(b.base_timestamp.wrapping_add(got.timestamp_delta), want.timestamp, "record {i}");
        assert_eq!(got.key, want.key, "record {i}");
        assert_eq!(got.value, want.value, "record {i}");
        assert_eq!(got.headers, headers(&want.headers), "record {i}");
    }
}

/// Decodes `batch` with kafka-protocol (which verifies the CRC itself) and checks every field
/// against `records`.
fn assert_kafka_protocol_decodes(batch: &[u8], records: &[Input], producer: ProducerFields) {
    let sets = RecordBatchDecoder::decode_all(&mut Bytes::copy_from_slice(batch))
        .expect("kafka-protocol decodes our batch and accepts its CRC");
    assert_eq!(sets.len(), 1);
    assert_eq!((sets[0].version, sets[0].compression), (2, Compression::None));
    let got = &sets[0].records;
    assert_eq!(got.len(), records.len());
    for (i, (g, w)) in got.iter().zip(records).enumerate() {
        assert_eq!(g.offset, i as i64, "record {i}");
        assert_eq!(g.sequence, producer.base_sequence.wrapping_add(i as i32), "record {i}");
        assert_eq!((g.producer_id, g.producer_epoch), (producer.producer_id, producer.producer_epoch));
        assert_eq!(g.partition_leader_epoch, -1);
        assert!(!g.transactional && !g.control);
        assert_eq!(g.timestamp_type, TimestampType::Creation);
        assert_eq!(g.timestamp, w.timestamp, "record {i}");
        assert_eq!(g.key.as_deref(), w.key.as_deref(), "record {i}");
        assert_eq!(g.value.as_deref(), w.value.as_deref(), "record {i}");
        let headers: Vec<Header> = g
            .headers
            .iter()
            .map(|(k, v)| Header { key: k.to_string(), value: v.as_ref().map(|v| v.to_vec()) })
            .collect();
        assert_eq!(headers, dedup_headers(&w.headers), "record {i}");
    }
}

/// Encodes `records` with kafka-protocol's encoder.
fn kafka_protocol_encode(records: &[Input], producer: ProducerFields) -> Vec<u8> {
    let kp: Vec<KpRecord> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            KpRecord {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: producer.producer_id,
                producer_epoch: producer.producer_epoch,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: producer.base_sequence.wrapping_add(i as i32),
                timestamp: r.timestamp,
                key: r.key.clone().map(Bytes::from),
                value: r.value.clone().map(Bytes::from),
                // Collecting inserts in order: a repeated key overwrites, as in dedup_headers.
                headers: r
                    .headers
                    .iter()
                    .map(|h| (StrBytes::from(h.key.clone()), h.value.clone().map(Bytes::from)))
                    .collect(),
            }
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions { version: 2, compression: Compression::None };
    RecordBatchEncoder::encode(&mut buf, kp.iter(), &options).expect("kafka-protocol encodes");
    buf.to_vec()
}

/// Two records, the first with key, value and a header, the second with null key and value and
/// a timestamp 3 ms *before* the first (so maxTimestamp is the base timestamp).
fn golden_records() -> Vec<Input> {
    vec![
        Input {
            timestamp: 1_700_000_000_000,
            key: Some(b"k1".to_vec()),
            value: Some(b"hello".to_vec()),
            headers: vec![Header::new("h", "v")],
        },
        Input { timestamp: 1_700_000_000_000 - 3, key: None, value: None, headers: vec![] },
    ]
}

/// Derived by hand from the "Record Batch" section of the Kafka protocol docs. The CRC was
/// computed with a bitwise CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) written
/// independently of the `crc32c` crate; kafka-protocol re-verifies it below.
#[rustfmt::skip]
const GOLDEN: [u8; 86] = [
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // baseOffset 0
    0x00, 0x00, 0x00, 0x4a,                         // batchLength 74 = 86 - 12
    0xff, 0xff, 0xff, 0xff,                         // partitionLeaderEpoch -1
    0x02,                                           // magic 2
    0xfe, 0x47, 0xbe, 0xa6,                         // crc (CRC-32C of bytes 21..86)
    0x00, 0x00,                                     // attributes: no compression, CreateTime
    0x00, 0x00, 0x00, 0x01,                         // lastOffsetDelta 1
    0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, // baseTimestamp 1_700_000_000_000
    0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, // maxTimestamp (same: record 1 is earlier)
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, // producerId 1000
    0x00, 0x05,                                     // producerEpoch 5
    0x00, 0x00, 0x00, 0x2a,                         // baseSequence 42
    0x00, 0x00, 0x00, 0x02,                         // recordCount 2
    // record 0 (18 bytes)
    0x22,                                           // length varint 17 (zig-zag 34)
    0x00,                                           // attributes
    0x00,                                           // timestampDelta 0
    0x00,                                           // offsetDelta 0
    0x04, b'k', b'1',                               // keyLength 2, "k1"
    0x0a, b'h', b'e', b'l', b'l', b'o',             // valueLength 5, "hello"
    0x02,                                           // headerCount 1
    0x02, b'h',                                     // header keyLength 1, "h"
    0x02, b'v',                                     // header valueLength 1, "v"
    // record 1 (7 bytes)
    0x0c,                                           // length varint 6 (zig-zag 12)
    0x00,                                           // attributes
    0x05,                                           // timestampDelta -3 (zig-zag 5)
    0x02,                                           // offsetDelta 1
    0x01,                                           // keyLength -1: null key
    0x01,                                           // valueLength -1: null value
    0x00,                                           // headerCount 0
];

#[test]
fn golden_batch_matches_hand_derived_bytes() {
    let batch = write(&golden_records(), PRODUCER);
    assert_eq!(batch, GOLDEN);
    assert_eq!(batch_record_count(&batch), 2);
    assert_eq!(batch_base_sequence(&batch), 42);
}

#[test]
fn golden_batch_decodes_with_our_decoder() {
    let decoded = decode_batches(&GOLDEN).unwrap();
    assert_eq!(decoded.len(), 1);
    assert_eq!(decoded[0].crc, 0xfe47_bea6);
    assert_batch_eq(&decoded[0], &golden_records(), PRODUCER, <[Header]>::to_vec);
}

#[test]
fn golden_batch_crc_and_fields_agree_with_kafka_protocol() {
    assert_kafka_protocol_decodes(&GOLDEN, &golden_records(), PRODUCER);
}

#[test]
fn kafka_protocol_encoded_batch_decodes_equal() {
    let records = golden_records();
    let batch = kafka_protocol_encode(&records, PRODUCER);
    let decoded = decode_batches(&batch).unwrap();
    assert_eq!(decoded.len(), 1);
    // kafka-protocol bases timestamps on the minimum, not the first record.
    assert_eq!(decoded[0].base_timestamp, 1_700_000_000_000 - 3);
    assert_batch_eq(&decoded[0], &records, PRODUCER, dedup_headers);
}

#[test]
fn rewrite_producer_fields_keeps_crc_valid() {
    let records = golden_records();
    let mut batch = write(&records, PRODUCER);
    let bumped = ProducerFields { producer_id: 0x0102_0304_0506_0708, producer_epoch: 6, base_sequence: 7 };
    rewrite_producer_fields(&mut batch, bumped);
    assert_eq!(batch_base_sequence(&batch), 7);
    assert_eq!(batch_record_count(&batch), 2);
    let decoded = decode_batches(&batch).expect("CRC was recomputed");
    assert_batch_eq(&decoded[0], &records, bumped, <[Header]>::to_vec);
    assert_kafka_protocol_decodes(&batch, &records, bumped);
    // Only the producer fields and the CRC changed.
    let original = write(&records, PRODUCER);
    let changed: Vec<usize> = (0..batch.len()).filter(|&i| batch[i] != original[i]).collect();
    assert!(changed.iter().all(|&i| (17..21).contains(&i) || (43..57).contains(&i)), "{changed:?}");
}

#[test]
fn several_batches_decode_in_order() {
    let a = write(&golden_records(), PRODUCER);
    let b = write(&golden_records()[..1], ProducerFields::NONE);
    let both = [a.as_slice(), b.as_slice()].concat();
    let decoded = decode_batches(&both).unwrap();
    assert_eq!(decoded.len(), 2);
    assert_eq!(decoded[0].records.len(), 2);
    assert_eq!(decoded[1].producer_id, -1);
    // A producer never sends part of a batch: a truncated last batch is an error.
    assert!(decode_batches(&both[..both.len() - 1]).is_err());
    assert_eq!(decode_batches(&[]), Ok(vec![]));
}

fn batch_length_set(batch: &mut [u8], v: i32) {
    batch[8..12].copy_from_slice(&v.to_be_bytes());
}

#[test]
fn batch_length_beyond_input_is_a_typed_error() {
    let mut batch = GOLDEN;
    batch_length_set(&mut batch, i32::MAX);
    assert_eq!(
        decode_batches(&batch),
        Err(DecodeError::LengthExceedsInput { length: i32::MAX as usize, remaining: 74 })
    );
    batch_length_set(&mut batch, -5);
    assert_eq!(decode_batches(&batch), Err(DecodeError::InvalidLength(-5)));
    batch_length_set(&mut batch, 10);
    assert_eq!(decode_batches(&batch), Err(DecodeError::InvalidValue { field: "batchLength", value: 10 }));
}

#[test]
fn huge_record_count_is_a_typed_error_not_an_allocation() {
    let mut batch = GOLDEN;
    batch[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
    fix_crc(&mut batch);
    assert!(matches!(decode_batches(&batch), Err(DecodeError::LengthExceedsInput { .. })));
    batch[57..61].copy_from_slice(&(-1i32).to_be_bytes());
    fix_crc(&mut batch);
    assert_eq!(decode_batches(&batch), Err(DecodeError::InvalidValue { field: "recordCount", value: -1 }));
    // One more record than the bytes hold.
    batch[57..61].copy_from_slice(&3i32.to_be_bytes());
    fix_crc(&mut batch);
    assert!(decode_batches(&batch).is_err());
}

#[test]
fn huge_lengths_inside_a_record_are_typed_errors() {
    // Record 0's length, key length and header count, each claiming far more than is there.
    let huge_varint = [0xfe, 0xff, 0xff, 0xff, 0x0f]; // i32::MAX
    for (at, name) in [(61, "record length"), (65, "key length"), (74, "header count")] {
        let mut batch = GOLDEN.to_vec();
        batch.splice(at..at + 1, huge_varint);
        let len = batch.len() as i32 - 12;
        batch_length_set(&mut batch, len);
        fix_crc(&mut batch);
        let err = decode_batches(&batch).unwrap_err();
        assert!(matches!(err, DecodeError::LengthExceedsInput { .. }), "{name}: {err:?}");
    }
}

#[test]
fn crc_mismatch_is_reported_with_both_values() {
    let mut batch = GOLDEN;
    batch[70] ^= 0x20; // "hello" -> "heLlo"
    let actual = crc32c::crc32c(&batch[21..]);
    assert_eq!(decode_batches(&batch), Err(DecodeError::CrcMismatch { expected: 0xfe47_bea6, actual }));
}

// ---- property tests ----

fn nullable_bytes() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        2 => Just(None),
        2 => Just(Some(Vec::new())),
        5 => vec(any::<u8>(), 1..64).prop_map(Some),
        1 => vec(any::<u8>(), 1_000..20_000).prop_map(Some),
    ]
}

fn header() -> impl Strategy<Value = Header> {
    ("\\PC{0,8}", prop_oneof![Just(None), vec(any::<u8>(), 0..32).prop_map(Some)])
        .prop_map(|(key, value)| Header { key, value })
}

/// Records with timestamps around a realistic base; `wide` also allows any i64 at all (deltas
/// of the full 10-byte varlong width, which kafka-protocol cannot represent without overflow).
fn inputs(wide: bool) -> impl Strategy<Value = Vec<Input>> {
    let ts = if wide {
        prop_oneof![8 => 1_600_000_000_000i64..1_800_000_000_000, 2 => -1_000i64..1_000, 1 => any::<i64>()]
            .boxed()
    } else {
        prop_oneof![8 => 1_600_000_000_000i64..1_800_000_000_000, 2 => -1_000i64..1_000].boxed()
    };
    vec(
        (ts, nullable_bytes(), nullable_bytes(), vec(header(), 0..5))
            .prop_map(|(timestamp, key, value, headers)| Input { timestamp, key, value, headers }),
        1..12,
    )
}

fn producer() -> impl Strategy<Value = ProducerFields> {
    prop_oneof![
        Just(ProducerFields::NONE),
        (any::<i64>(), any::<i16>(), any::<i32>()).prop_map(
            |(producer_id, producer_epoch, base_sequence)| {
                ProducerFields { producer_id, producer_epoch, base_sequence }
            }
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn append_close_decode_round_trips(records in inputs(true), producer in producer()) {
        let batch = write(&records, producer);
        let decoded = decode_batches(&batch).unwrap();
        prop_assert_eq!(decoded.len(), 1);
        assert_batch_eq(&decoded[0], &records, producer, <[Header]>::to_vec);
        prop_assert_eq!(decoded[0].base_timestamp, records[0].timestamp);
    }

    #[test]
    fn our_batches_decode_equal_in_kafka_protocol(records in inputs(false), producer in producer()) {
        let batch = write(&records, producer);
        assert_kafka_protocol_decodes(&batch, &records, producer);
    }

    #[test]
    fn kafka_protocol_batches_decode_equal_in_ours(records in inputs(false), producer in producer()) {
        let batch = kafka_protocol_encode(&records, producer);
        let decoded = decode_batches(&batch).unwrap();
        prop_assert_eq!(decoded.len(), 1);
        assert_batch_eq(&decoded[0], &records, producer, dedup_headers);
    }

    #[test]
    fn rewrite_then_decode_has_new_fields(records in inputs(true), old in producer(), new in producer()) {
        let mut batch = write(&records, old);
        rewrite_producer_fields(&mut batch, new);
        let decoded = decode_batches(&batch).unwrap();
        assert_batch_eq(&decoded[0], &records, new, <[Header]>::to_vec);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..1024)) {
        let _ = decode_batches(&bytes);
    }

    /// Garbage where the records should be, behind a header with a consistent length and a
    /// valid CRC, so the record decoder itself meets the garbage.
    #[test]
    fn garbage_records_behind_a_valid_crc_never_panic(
        count in prop_oneof![0i32..8, any::<i32>()],
        garbage in vec(any::<u8>(), 0..512),
    ) {
        let mut batch = BatchWriter::new(Vec::new(), ProducerFields::NONE, 0).close();
        batch.extend_from_slice(&garbage);
        let len = batch.len() as i32 - 12;
        batch_length_set(&mut batch, len);
        batch[57..61].copy_from_slice(&count.to_be_bytes());
        fix_crc(&mut batch);
        let _ = decode_batches(&batch);
    }

    #[test]
    fn flipped_byte_is_caught_unless_outside_the_crc(
        records in inputs(false), at in any::<prop::sample::Index>(), mask in 1u8..=255,
    ) {
        let mut batch = write(&records, PRODUCER);
        let i = at.index(batch.len());
        batch[i] ^= mask;
        let result = decode_batches(&batch);
        // baseOffset and partitionLeaderEpoch are outside the CRC (the broker rewrites them).
        if (0..8).contains(&i) || (12..16).contains(&i) {
            let decoded = result.unwrap();
            assert_batch_eq_except_header(&decoded[0], &records);
        } else {
            prop_assert!(result.is_err(), "flip at {} of {} went unnoticed", i, batch.len());
        }
    }

    #[test]
    fn truncated_batch_is_an_error(records in inputs(false), at in any::<prop::sample::Index>()) {
        let batch = write(&records, PRODUCER);
        let cut = 1 + at.index(batch.len() - 1);
        prop_assert!(decode_batches(&batch[..cut]).is_err());
    }
}

fn assert_batch_eq_except_header(b: &RecordBatch, records: &[Input]) {
    let mut b = b.clone();
    b.base_offset = 0;
    b.partition_leader_epoch = -1;
    assert_batch_eq(&b, records, PRODUCER, <[Header]>::to_vec);
}

#[test]
fn header_len_constant_matches_spec() {
    assert_eq!(BATCH_HEADER_LEN, 8 + 4 + 4 + 1 + 4 + 2 + 4 + 8 + 8 + 8 + 2 + 4 + 4);
}
