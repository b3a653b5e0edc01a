//! Codec micro-benchmarks: the per-record cost of writing a batch, the one-off cost of closing it
//! (back-patching and CRC-32C), and CRC-32C on its own. Each benchmark lives in its own function
//! so more can join the group without touching these.
//!
//! Run with `cargo bench --bench codec` (`-- --quick` for a fast look).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ringkafka::protocol::record_batch::{record_size_upper_bound, BatchWriter, ProducerFields};

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

// murmur2 bench arrives with the partitioner

criterion_group!(benches, batch_append_100b, batch_close_crc32c_16k, crc32c_16k);
criterion_main!(benches);
