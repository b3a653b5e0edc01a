//! Codec micro-benchmarks: the per-record cost of writing a batch, the one-off cost of closing it
//! (back-patching and CRC-32C), and CRC-32C on its own. Each benchmark lives in its own function
//! so more can join the group without touching these.
//!
//! Run with `cargo bench --bench codec` (`-- --quick` for a fast look; `-- --quick compress` for
//! the compression benches alone).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ringkafka::internals::protocol::compression::{self, Codec};
use ringkafka::internals::protocol::record_batch::{record_size_upper_bound, BatchWriter, ProducerFields};

/// The default `batch.size`.
const BATCH_SIZE: usize = 16 * 1024;
const KEY: [u8; 8] = *b"key-0001";
const VALUE: [u8; 100] = [0x5a; 100];
const PRODUCER: ProducerFields = ProducerFields { producer_id: 4242, producer_epoch: 0, base_sequence: 0 };

/// Appends 8-byte-key, 100-byte-value records until the next would pass `batch.size`.
fn fill(w: &mut BatchWriter, timestamp: i64) {
    let bound = record_size_upper_bound(Some(&KEY), Some(&VALUE), &[]);
    while w.len() + bound <= BATCH_SIZE {
        w.append(black_box(timestamp), Some(black_box(&KEY)), Some(black_box(&VALUE)), &[]);
    }
}

/// How many records `fill` puts in one batch.
fn records_per_batch() -> u64 {
    let mut w = BatchWriter::new(Vec::new(), PRODUCER, 0);
    fill(&mut w, 1_700_000_000_000);
    w.record_count() as u64
}

/// Filling a 16 KiB batch with 100-byte records and closing it, reusing one buffer as the
/// accumulator does; throughput is per record.
fn batch_append_100b(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(records_per_batch()));
    let mut buf = Vec::with_capacity(BATCH_SIZE);
    group.bench_function("batch_append_100B", |b| {
        b.iter(|| {
            let mut w = BatchWriter::new(std::mem::take(&mut buf), PRODUCER, 0);
            fill(&mut w, 1_700_000_000_000);
            buf = black_box(w.close());
        })
    });
    group.finish();
}

/// Closing an already full 16 KiB batch: header back-patching plus CRC-32C over it.
fn batch_close_crc32c_16k(c: &mut Criterion) {
    let mut full = BatchWriter::new(Vec::with_capacity(BATCH_SIZE), PRODUCER, 0);
    fill(&mut full, 1_700_000_000_000);
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Bytes(full.len() as u64));
    group.bench_function("batch_close_crc32c_16k", |b| {
        b.iter_batched(|| full.clone(), |w| w.close(), BatchSize::SmallInput)
    });
    group.finish();
}

/// CRC-32C over 16 KiB, the floor under `batch_close_crc32c_16k`.
fn crc32c_16k(c: &mut Criterion) {
    let data: Vec<u8> = (0..BATCH_SIZE).map(|i| i as u8).collect();
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Bytes(BATCH_SIZE as u64));
    group.bench_function("crc32c_16k", |b| b.iter(|| crc32c::crc32c(black_box(&data))));
    group.finish();
}

/// 100-byte JSON-like values (ids, amounts, a pseudo-random tag): compressible the way real
/// payloads are, unlike a run of one byte.
fn json_values(n: usize) -> Vec<Vec<u8>> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut v = format!(
                "{{\"id\":{i},\"user\":\"u{:06}\",\"amount\":{}.{:02},\"tag\":\"",
                x % 1_000_000,
                x % 5_000,
                x % 100
            );
            while v.len() < 98 {
                v.push((b'a' + ((x >> (v.len() % 60)) % 26) as u8) as char);
            }
            v.push_str("\"}");
            v.into_bytes()
        })
        .collect()
}

/// Closing a full 16 KiB batch of 100-byte JSON-like records with each codec: compression of
/// the records section, the copy back, header and CRC. Throughput is the uncompressed bytes.
fn compress_close_16k(c: &mut Criterion) {
    let values = json_values(1000);
    let bound = record_size_upper_bound(Some(&KEY), Some(&values[0]), &[]);
    let mut group = c.benchmark_group("compress");
    for codec in [
        Codec::None,
        Codec::Lz4 { level: 9 },
        Codec::Lz4 { level: 4 },
        Codec::Snappy,
        Codec::Zstd { level: 3 },
        Codec::Zstd { level: 1 },
        Codec::Gzip { level: -1 },
        Codec::Gzip { level: 1 },
    ] {
        if matches!(codec, Codec::Lz4 { level } if level != 9) && !compression::LZ4HC {
            continue; // LZ4HC is built with the lz4hc feature only
        }
        let mut full = BatchWriter::with_codec(Vec::with_capacity(BATCH_SIZE), PRODUCER, 0, codec);
        let mut i = 0;
        while full.len() + bound <= BATCH_SIZE {
            full.append(1_700_000_000_000 + i as i64, Some(&KEY), Some(&values[i]), &[]);
            i += 1;
        }
        let compressed = full.clone().close().len();
        eprintln!("{}: {} -> {compressed} bytes ({} records)", codec.name(), full.len(), i);
        group.throughput(Throughput::Bytes(full.len() as u64));
        let name = match codec {
            Codec::Gzip { level } | Codec::Zstd { level } => format!("close_16k_{}_{level}", codec.name()),
            Codec::Lz4 { level } if level != 9 => format!("close_16k_lz4hc_{level}"),
            _ => format!("close_16k_{}", codec.name()),
        };
        group.bench_function(name, |b| b.iter_batched(|| full.clone(), |w| w.close(), BatchSize::SmallInput));
    }
    group.finish();
}

// murmur2 bench arrives with the partitioner

criterion_group!(benches, batch_append_100b, batch_close_crc32c_16k, crc32c_16k, compress_close_16k);
criterion_main!(benches);
