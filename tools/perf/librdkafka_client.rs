//! The same workload through librdkafka (`rdkafka::producer::ThreadedProducer`), for comparison.
//!
//! Configuration: the properties are resolved by ringkafka's `ProducerConfig` first (so both
//! clients start from the same Java defaults and the same validation, e.g. idempotence turned
//! off by a conflicting `acks`), then translated to librdkafka names. Keys ringkafka does not
//! accept are passed to librdkafka as they are (it may know them, e.g. `socket.nagle.disable`),
//! after the translated ones so they win. Java-only keys with no librdkafka counterpart
//! (`max.block.ms`, `sender.cpu`, `partitioner.ignore.keys`) are dropped with a note.
//!
//! Latency: each record carries its intended send time (nanoseconds since the run's start) as
//! its delivery opaque, so nothing is allocated for it; `delivery` runs on the producer's
//! polling thread, as ringkafka's callbacks run on its sender thread. librdkafka copies the
//! payload, so one buffer per sending thread is reused. When its queue is full (`QueueFull`,
//! `queue.buffering.max.kbytes` from `buffer.memory`), a sending thread sleeps in short slices
//! and retries, as ringkafka's `send` blocks for `buffer.memory`.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use ringkafka::{Acks, Compression, ProducerConfig};

use crate::pacer::Pacer;
use crate::payload::Rng;
use crate::stats::Stats;
use crate::{Target, Workload};

/// How long a sending thread waits before retrying when librdkafka's queue is full.
const QUEUE_FULL_BACKOFF: Duration = Duration::from_micros(200);

/// Java-only keys librdkafka has no equivalent for.
const DROPPED: [&str; 3] = ["max.block.ms", "sender.cpu", "partitioner.ignore.keys"];

/// Outcomes go to the run's stats; latency is measured from `base` + the opaque.
struct Ctx {
    base: Instant,
    stats: std::sync::OnceLock<&'static Stats>,
}

impl ClientContext for Ctx {}

impl ProducerContext for Ctx {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, intended_ns: usize) {
        let Some(stats) = self.stats.get() else { return };
        match result {
            Ok(m) => {
                let intended = self.base + Duration::from_nanos(intended_ns as u64);
                stats.record_ok(intended, m.payload_len());
            }
            Err((e, _)) => stats.record_err(e),
        }
    }
}

pub struct Librdkafka {
    producer: ThreadedProducer<Ctx>,
}

impl std::fmt::Debug for Librdkafka {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Librdkafka")
    }
}

/// librdkafka properties equivalent to a resolved ringkafka configuration.
pub fn translate(cfg: &ProducerConfig, extra: &[(String, String)]) -> Vec<(String, String)> {
    let ms = |d: Duration, lo: u128, hi: u128| d.as_millis().clamp(lo, hi).to_string();
    let mut out: Vec<(String, String)> = vec![
        ("bootstrap.servers".into(), cfg.bootstrap_servers.join(",")),
        ("client.id".into(), cfg.client_id.clone()),
        (
            "acks".into(),
            match cfg.acks {
                Acks::None => "0",
                Acks::Leader => "1",
                Acks::All => "all",
            }
            .into(),
        ),
        ("linger.ms".into(), ms(cfg.linger, 0, 900_000)),
        ("batch.size".into(), cfg.batch_size.clamp(1, i32::MAX as usize).to_string()),
        // buffer.memory is a byte bound on everything queued; librdkafka's is in KiB, and its
        // message-count bound (Java has none) is lifted.
        (
            "queue.buffering.max.kbytes".into(),
            (cfg.buffer_memory / 1024).clamp(1, i32::MAX as usize).to_string(),
        ),
        ("queue.buffering.max.messages".into(), "0".into()),
        ("message.max.bytes".into(), cfg.max_request_size.clamp(1000, 1_000_000_000).to_string()),
        ("message.send.max.retries".into(), cfg.retries.min(i32::MAX as u32).to_string()),
        ("retry.backoff.ms".into(), ms(cfg.retry_backoff, 1, 300_000)),
        ("retry.backoff.max.ms".into(), ms(cfg.retry_backoff_max, 1, 300_000)),
        ("message.timeout.ms".into(), ms(cfg.delivery_timeout, 0, i32::MAX as u128)),
        ("request.timeout.ms".into(), ms(cfg.request_timeout, 1, 900_000)),
        ("max.in.flight".into(), cfg.max_in_flight.clamp(1, 1_000_000).to_string()),
        ("enable.idempotence".into(), cfg.enable_idempotence.to_string()),
        ("metadata.max.age.ms".into(), ms(cfg.metadata_max_age, 1, 86_400_000)),
        (
            "compression.type".into(),
            match cfg.compression {
                Compression::None => "none",
                Compression::Gzip => "gzip",
                Compression::Snappy => "snappy",
                Compression::Lz4 => "lz4",
                Compression::Zstd => "zstd",
            }
            .into(),
        ),
        // Java's default partitioner: murmur2 of the key; null keys spread.
        ("partitioner".into(), "murmur2_random".into()),
    ];
    for (k, v) in extra {
        out.retain(|(o, _)| o != k);
        out.push((k.clone(), v.clone()));
    }
    out
}

impl Librdkafka {
    /// `cfg`: the resolved configuration; `extra`: keys ringkafka rejected; `props`: what the
    /// user gave (for the notes on dropped keys).
    pub fn new(
        cfg: &ProducerConfig,
        extra: &[(String, String)],
        props: &[(String, String)],
    ) -> Result<Self, String> {
        for (k, _) in props {
            if DROPPED.contains(&k.as_str()) {
                eprintln!("ringkafka-perf: note: `{k}` is Java-only; librdkafka has no equivalent, dropped");
            }
            if k == "buffer.memory" {
                eprintln!(
                    "ringkafka-perf: note: buffer.memory maps to queue.buffering.max.kbytes for librdkafka"
                );
            }
        }
        let mut cc = ClientConfig::new();
        for (k, v) in translate(cfg, extra) {
            cc.set(k, v);
        }
        // Security settings share their names with librdkafka's: pass them as the user gave them.
        for (k, v) in props {
            if k.starts_with("security.") || k.starts_with("ssl.") || k.starts_with("sasl.") {
                cc.set(k, v);
            }
        }
        let ctx = Ctx { base: Instant::now(), stats: std::sync::OnceLock::new() };
        let producer: ThreadedProducer<Ctx> = cc.create_with_context(ctx).map_err(|e| e.to_string())?;
        Ok(Librdkafka { producer })
    }
}

impl Target for Librdkafka {
    fn send_range(&self, w: &Workload, t: usize, start: Instant, stats: &'static Stats) {
        let ctx = self.producer.context();
        let _ = ctx.stats.set(stats);
        let mut rng = Rng::from_time(t as u64);
        let mut pacer = Pacer::new(start, w.thread_rate(t));
        let fixed = w.payloads.fixed();
        let mut buf = Vec::new();
        for n in w.range(t) {
            let intended = pacer.wait();
            if n == w.warmup_records && n > 0 {
                stats.start_steady_state(intended);
            }
            let opaque = intended.saturating_duration_since(ctx.base).as_nanos() as usize;
            let payload: &[u8] = match fixed {
                Some(p) => p,
                None => {
                    w.payloads.value_into(n, &mut rng, &mut buf);
                    &buf
                }
            };
            let mut record: BaseRecord<'_, [u8], [u8], usize> =
                BaseRecord::with_opaque_to(&w.topic, opaque).payload(payload);
            if let Some(k) = w.key(n) {
                record = record.key(k);
            }
            loop {
                match self.producer.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                        // The local queue is full: wait for delivery reports to free space,
                        // then retry. The producer's own polling thread serves them; polling
                        // here as well (tried first) made this thread spin in rdkafka's poll
                        // loop (clock_gettime, ~3 s CPU per 1M records) and steal the reports
                        // from that thread, inflating librdkafka's cpu_s with our overhead.
                        record = r;
                        std::thread::sleep(QUEUE_FULL_BACKOFF);
                    }
                    Err((e, _)) => {
                        stats.record_err(&e);
                        break;
                    }
                }
            }
        }
    }

    fn flush(&self) -> Result<(), String> {
        self.producer.flush(rdkafka::util::Timeout::Never).map_err(|e| e.to_string())
    }

    fn close(&self) {
        // The producer stops when dropped (with the last `Arc` of the target).
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(v: &'a [(String, String)], k: &str) -> Option<&'a str> {
        v.iter().find(|(o, _)| o == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn java_defaults_translate_to_librdkafka_names() {
        let (cfg, extra) = crate::build_config(
            &[("buffer.memory".into(), "1048576".into()), ("socket.nagle.disable".into(), "true".into())],
            "h:1",
            true,
        )
        .unwrap();
        let t = translate(&cfg, &extra);
        assert_eq!(get(&t, "bootstrap.servers"), Some("h:1"));
        assert_eq!(get(&t, "queue.buffering.max.kbytes"), Some("1024"));
        assert_eq!(get(&t, "batch.size"), Some("16384"));
        assert_eq!(get(&t, "enable.idempotence"), Some("true"));
        assert_eq!(get(&t, "acks"), Some("all"));
        assert_eq!(get(&t, "socket.nagle.disable"), Some("true"));
        assert!(get(&t, "buffer.memory").is_none());
    }

    #[test]
    fn passthrough_keys_override_translated_ones() {
        let (cfg, extra) =
            crate::build_config(&[("compression.type".into(), "lz4".into())], "h:1", true).unwrap();
        let t = translate(&cfg, &extra);
        assert_eq!(get(&t, "compression.type"), Some("lz4"));
        assert_eq!(t.iter().filter(|(k, _)| k == "compression.type").count(), 1);
    }
}
