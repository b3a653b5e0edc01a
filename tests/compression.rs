//! Compressed record batches: every codec round-trips through our decoder and through an
//! independent one (the `kafka-protocol` crate) in both directions, a decompression bomb is a
//! typed error, and a producer with each codec writes batches that Tansu stores and librdkafka
//! reads back intact (it decompresses them itself).

mod support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression as KpCompression, Record as KpRecord, RecordBatchDecoder, RecordBatchEncoder,
    RecordEncodeOptions, TimestampType,
};
use proptest::collection::vec;
use proptest::prelude::*;
use ringkafka::internals::protocol::compression::{Codec, DEFAULT_MAX_DECOMPRESSED};
use ringkafka::internals::protocol::record_batch::{
    decode_batches, decode_batches_with_limit, rewrite_producer_fields, BatchWriter, ProducerFields,
    ATTRIBUTES_OFFSET, BATCH_HEADER_LEN, BATCH_LENGTH_OFFSET, CRC_OFFSET, LOG_OVERHEAD,
};
use ringkafka::internals::protocol::DecodeError;
use ringkafka::{Compression, Header, Producer, ProducerConfig, ProducerRecord};
use support::{bootstrap, consume_all, create_topic, unique_topic};

/// Every codec at its default level, plus LZ4HC (lz4 at a non-default level) when it is built
/// (the `lz4hc` feature).
const CODECS: [Codec; 5] = [
    Codec::Gzip { level: -1 },
    Codec::Snappy,
    Codec::Lz4 { level: 9 },
    if cfg!(feature = "lz4hc") { Codec::Lz4 { level: 4 } } else { Codec::Lz4 { level: 9 } },
    Codec::Zstd { level: 3 },
];

const PRODUCER: ProducerFields = ProducerFields { producer_id: 77, producer_epoch: 2, base_sequence: 10 };

fn kp_compression(codec: Codec) -> KpCompression {
    match codec {
        Codec::None => KpCompression::None,
        Codec::Gzip { .. } => KpCompression::Gzip,
        Codec::Snappy => KpCompression::Snappy,
        Codec::Lz4 { .. } => KpCompression::Lz4,
        Codec::Zstd { .. } => KpCompression::Zstd,
    }
}

type Input = (i64, Option<Vec<u8>>, Option<Vec<u8>>, Vec<Header>);

fn write(codec: Codec, records: &[Input]) -> Vec<u8> {
    let mut w = BatchWriter::with_codec(Vec::new(), PRODUCER, 0, codec);
    for (ts, k, v, h) in records {
        w.append(*ts, k.as_deref(), v.as_deref(), h);
    }
    w.close()
}

fn input() -> impl Strategy<Value = Vec<Input>> {
    let bytes = || prop::option::of(prop_oneof![vec(any::<u8>(), 0..300), vec(0u8..4, 0..3000)]);
    let header = ("[a-z]{1,4}", prop::option::of(vec(any::<u8>(), 0..20)))
        .prop_map(|(key, value)| Header { key, value });
    vec((0i64..1 << 42, bytes(), bytes(), vec(header, 0..2)), 1..60)
}

/// Asserts that kafka-protocol decodes `batch` (decompressing it) into exactly `records`.
fn assert_kafka_protocol_decodes(batch: &[u8], codec: Codec, records: &[Input]) {
    let sets = RecordBatchDecoder::decode_all(&mut Bytes::copy_from_slice(batch))
        .unwrap_or_else(|e| panic!("kafka-protocol decodes our {} batch: {e:#}", codec.name()));
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].compression, kp_compression(codec));
    let got = &sets[0].records;
    assert_eq!(got.len(), records.len());
    for (i, (g, (ts, k, v, _))) in got.iter().zip(records).enumerate() {
        assert_eq!(g.offset, i as i64);
        assert_eq!(g.sequence, PRODUCER.base_sequence + i as i32);
        assert_eq!(g.timestamp, *ts);
        assert_eq!(g.key.as_deref(), k.as_deref());
        assert_eq!(g.value.as_deref(), v.as_deref());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_codec_round_trips_through_our_decoder_and_kafka_protocol(records in input()) {
        for codec in CODECS {
            let batch = write(codec, &records);
            let b = &decode_batches(&batch).unwrap()[0];
            prop_assert_eq!(b.attributes & 7, codec.id());
            prop_assert_eq!(b.records.len(), records.len());
            prop_assert_eq!(b.max_timestamp, records.iter().map(|r| r.0).max().unwrap());
            for (got, (ts, k, v, h)) in b.records.iter().zip(&records) {
                prop_assert_eq!(b.base_timestamp + got.timestamp_delta, *ts);
                prop_assert_eq!(&got.key, k);
                prop_assert_eq!(&got.value, v);
                prop_assert_eq!(&got.headers, h);
            }
            assert_kafka_protocol_decodes(&batch, codec, &records);
        }
    }

    #[test]
    fn kafka_protocol_compressed_batches_decode_with_ours(records in input()) {
        for codec in CODECS {
            let kp: Vec<KpRecord> = records
                .iter()
                .enumerate()
                .map(|(i, (ts, k, v, _))| KpRecord {
                    transactional: false,
                    control: false,
                    delete_horizon: false,
                    partition_leader_epoch: -1,
                    producer_id: 5,
                    producer_epoch: 1,
                    timestamp_type: TimestampType::Creation,
                    offset: i as i64,
                    sequence: i as i32,
                    timestamp: *ts,
                    key: k.clone().map(Bytes::from),
                    value: v.clone().map(Bytes::from),
                    headers: Default::default(),
                })
                .collect();
            let mut buf = BytesMut::new();
            let options = RecordEncodeOptions { version: 2, compression: kp_compression(codec) };
            RecordBatchEncoder::encode(&mut buf, kp.iter(), &options).unwrap();
            let decoded = decode_batches(&buf).unwrap();
            let got: Vec<_> = decoded.iter().flat_map(|b| &b.records).collect();
            prop_assert_eq!(got.len(), records.len());
            for (g, (_, k, v, _)) in got.iter().zip(&records) {
                prop_assert_eq!(&g.key, k);
                prop_assert_eq!(&g.value, v);
            }
        }
    }
}

#[test]
fn rewritten_producer_fields_keep_a_compressed_batch_valid_for_kafka_protocol() {
    let records: Vec<Input> = (0..200)
        .map(|i| (1_700_000_000_000 + i, None, Some(format!("value-{i}").into_bytes()), vec![]))
        .collect();
    for codec in CODECS {
        let mut batch = write(codec, &records);
        rewrite_producer_fields(&mut batch, ProducerFields { base_sequence: 10, ..PRODUCER });
        assert_kafka_protocol_decodes(&batch, codec, &records);
    }
}

/// A batch whose records section is `compressed`, with a valid header and CRC.
fn forge(codec_id: i16, count: i32, compressed: &[u8]) -> Vec<u8> {
    let mut batch = BatchWriter::new(Vec::new(), ProducerFields::NONE, 0).close();
    batch.extend_from_slice(compressed);
    let len = (batch.len() - LOG_OVERHEAD) as i32;
    batch[BATCH_LENGTH_OFFSET..BATCH_LENGTH_OFFSET + 4].copy_from_slice(&len.to_be_bytes());
    batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&codec_id.to_be_bytes());
    batch[BATCH_HEADER_LEN - 4..BATCH_HEADER_LEN].copy_from_slice(&count.to_be_bytes());
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    batch
}

#[test]
fn decompression_bomb_is_a_typed_error_not_an_allocation() {
    // 100 MiB of zeros compresses to a few KiB with every codec.
    let zeros = vec![0u8; 100 << 20];
    for codec in CODECS {
        let mut compressed = Vec::new();
        ringkafka::internals::protocol::compression::compress(codec, &zeros, &mut compressed).unwrap();
        assert!(compressed.len() < 6 << 20, "{}: {} bytes", codec.name(), compressed.len());
        let bomb = forge(codec.id(), 1, &compressed);
        assert_eq!(
            decode_batches(&bomb),
            Err(DecodeError::DecompressedTooLarge { limit: DEFAULT_MAX_DECOMPRESSED }),
            "{}",
            codec.name()
        );
        assert_eq!(
            decode_batches_with_limit(&bomb, 4096),
            Err(DecodeError::DecompressedTooLarge { limit: 4096 }),
            "{}",
            codec.name()
        );
    }
}

#[test]
fn corrupt_compressed_records_are_a_typed_error() {
    for codec in CODECS {
        let records: Vec<Input> = (0..50).map(|i| (i, None, Some(vec![b'x'; 100]), vec![])).collect();
        let batch = write(codec, &records);
        let section = &batch[BATCH_HEADER_LEN..];
        // Truncated compressed data, CRC fixed up so only the codec can notice.
        let cut = forge(codec.id(), 50, &section[..section.len() / 2]);
        let err = decode_batches(&cut).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::Decompression { .. }
                    | DecodeError::UnexpectedEof { .. }
                    | DecodeError::LengthExceedsInput { .. }
            ),
            "{}: {err:?}",
            codec.name()
        );
    }
}

#[test]
fn producer_with_each_codec_is_read_back_intact_by_librdkafka() {
    for (name, compression, level) in [
        ("gzip", Compression::Gzip, None),
        ("snappy", Compression::Snappy, None),
        ("lz4", Compression::Lz4, None),
        ("lz4hc", Compression::Lz4, Some(("compression.lz4.level", "4"))),
        ("zstd", Compression::Zstd, None),
        ("gzip1", Compression::Gzip, Some(("compression.gzip.level", "1"))),
    ] {
        if name == "lz4hc" && !cfg!(feature = "lz4hc") {
            // Refused at start without the feature (tests/producer_contract.rs checks how).
            continue;
        }
        let t = unique_topic(&format!("compress-{name}"));
        create_topic(&t, 2);
        let mut cfg = ProducerConfig::new(&bootstrap())
            .sender_cpu(ringkafka::SenderCpu::Unpinned)
            .compression(compression)
            .linger(Duration::from_millis(20));
        if let Some((k, v)) = level {
            cfg.set(k, v).unwrap();
        }
        let p = Producer::new(cfg).unwrap();
        let n = 3_000usize;
        let futures: Vec<_> = (0..n)
            .map(|i| {
                let value = format!("{{\"n\":{i},\"codec\":\"{name}\",\"pad\":\"{}\"}}", "ab".repeat(i % 40));
                let r = ProducerRecord::new(&t, value.into_bytes())
                    .key(format!("k{i}").into_bytes())
                    .partition((i % 2) as i32)
                    .timestamp(1_700_000_000_000 + i as i64)
                    .header("i", i.to_string().into_bytes());
                p.send(r).unwrap()
            })
            .collect();
        for f in futures {
            f.wait().unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        let got = consume_all(&t, 2, n, Duration::from_secs(60));
        assert_eq!(got.len(), n, "{name}");
        let mut by_partition = [0usize; 2];
        for r in &got {
            // Records of a partition come back in send order: i = 2 * position + partition.
            let i = 2 * by_partition[r.partition as usize] + r.partition as usize;
            by_partition[r.partition as usize] += 1;
            let value = format!("{{\"n\":{i},\"codec\":\"{name}\",\"pad\":\"{}\"}}", "ab".repeat(i % 40));
            assert_eq!(r.value.as_deref(), Some(value.as_bytes()), "{name} record {i}");
            assert_eq!(r.key.as_deref(), Some(format!("k{i}").as_bytes()), "{name}");
            assert_eq!(r.timestamp, 1_700_000_000_000 + i as i64, "{name}");
            assert_eq!(r.headers, vec![("i".to_string(), Some(i.to_string().into_bytes()))], "{name}");
        }
        p.close(Duration::from_secs(10));
    }
}

/// As in Java, `batch.size` bounds a compressed batch's estimated compressed size: batches of
/// compressible records grow to many times `batch.size` uncompressed. Such batches (up to
/// `max.request.size` uncompressed) are accepted by Tansu and read back intact, in order, by
/// librdkafka.
#[test]
fn large_compressed_batches_are_read_back_intact_by_librdkafka() {
    for (name, compression) in [("lz4", Compression::Lz4), ("zstd", Compression::Zstd)] {
        let t = unique_topic(&format!("bigbatch-{name}"));
        create_topic(&t, 1);
        let cfg = ProducerConfig::new(&bootstrap())
            .sender_cpu(ringkafka::SenderCpu::Unpinned)
            .compression(compression)
            .linger(Duration::from_millis(100));
        let p = Producer::new(cfg).unwrap();
        let n = 150_000u64;
        let filler: Vec<u8> = (0..92u8).map(|i| b'A' + i % 26).collect();
        let value = |i: u64| [&i.to_be_bytes()[..], &filler].concat();
        for i in 0..n {
            p.send_and_forget(ProducerRecord::new(&t, value(i))).unwrap();
        }
        p.flush().unwrap();
        let m = p.metrics();
        assert_eq!((m.records_sent, m.record_errors), (n, 0), "{name}");
        // 16 KiB holds about 150 such records uncompressed.
        assert!(m.batch_records.max > 600, "{name}: batches of at most {} records", m.batch_records.max);
        let got = consume_all(&t, 1, n as usize, Duration::from_secs(120));
        assert_eq!(got.len() as u64, n, "{name}");
        for (i, r) in got.iter().enumerate() {
            assert!(r.value.as_deref() == Some(&value(i as u64)[..]), "{name}: record {i} differs");
        }
        p.close(Duration::from_secs(10));
    }
}
