//! The same workload through librdkafka (`rdkafka::producer::ThreadedProducer`), for comparison.
//!
//! Configuration, two ways (`--client-defaults`):
//! - `own` (the default; what a user comparing the two runs): librdkafka's own defaults (e.g.
//!   `batch.size` 1 MB, `linger.ms` 5, idempotence off, the `consistent_random` partitioner) plus
//!   the given properties. Most Java names are librdkafka names or aliases too (`acks`,
//!   `linger.ms`, `batch.size`, `retries`, `delivery.timeout.ms`,
//!   `max.in.flight.requests.per.connection`, `compression.type`, ...); the few that are not are
//!   translated (`buffer.memory`, `max.request.size`, `compression.*.level`).
//! - `ringkafka` (the same-settings comparison): the properties are resolved by ringkafka's
//!   `ProducerConfig` first (so both clients start from the same Java defaults and the same
//!   validation, e.g. idempotence turned off by a conflicting `acks`), then every setting is
//!   translated to librdkafka's names, with Java's murmur2 partitioner.
//!
//! Either way, keys ringkafka does not know are passed to librdkafka as they are (it may know
//! them, e.g. `socket.nagle.disable`; if not, it fails with its own error), and Java-only keys
//! with no librdkafka counterpart (`max.block.ms`, `sender.cpu`, `partitioner.ignore.keys`, ...)
//! are dropped with a note.
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
use ringkafka::ProducerConfig;

use crate::foreign;
use crate::stats::Stats;
use crate::transactions::Runner;
use crate::{Resolved, Target, Workload};

/// How long librdkafka's transactional calls may block (`--transactional-id`).
const TXN_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a sending thread waits before retrying when librdkafka's queue is full.
const QUEUE_FULL_BACKOFF: Duration = Duration::from_micros(200);

/// Java-only keys librdkafka has no equivalent for.
const DROPPED: [&str; 6] = [
    "max.block.ms",
    "sender.cpu",
    "partitioner.ignore.keys",
    "partitioner.adaptive.partitioning.enable",
    "partitioner.availability.timeout.ms",
    "metadata.max.idle.ms",
];

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

/// librdkafka properties for the run: `resolved` (ringkafka's configuration and the keys it
/// rejected) translated, or with `None` the given `props` on top of librdkafka's defaults.
pub fn properties(
    bootstrap: &str,
    props: &[(String, String)],
    resolved: Option<&Resolved>,
) -> Vec<(String, String)> {
    let mut out = match resolved {
        Some((cfg, extra)) => translate(cfg, extra),
        None => own(props),
    };
    // Security settings share their names with librdkafka's: pass them as the user gave them.
    if resolved.is_some() {
        out.extend(foreign::security(props));
    }
    out.retain(|(k, _)| k != "bootstrap.servers" && k != "metadata.broker.list");
    out.push(("bootstrap.servers".into(), bootstrap.to_string()));
    out
}

/// The given properties for librdkafka at its own defaults: Java-only names translated,
/// Java-only keys dropped, everything else as given.
fn own(props: &[(String, String)]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in props {
        if DROPPED.contains(&k.as_str()) {
            continue;
        }
        let (k, v) = match k.as_str() {
            // Bytes (Java) to KiB (librdkafka); its message-count bound stays at its default.
            "buffer.memory" => (
                "queue.buffering.max.kbytes",
                v.trim().parse::<u64>().map_or_else(|_| v.clone(), |b| (b / 1024).max(1).to_string()),
            ),
            "max.request.size" => ("message.max.bytes", v.clone()),
            "compression.gzip.level" | "compression.lz4.level" | "compression.zstd.level" => {
                ("compression.level", v.clone())
            }
            _ => (k.as_str(), v.clone()),
        };
        out.retain(|(o, _): &(String, String)| o != k);
        out.push((k.to_string(), v));
    }
    out
}

/// librdkafka properties equivalent to a resolved ringkafka configuration.
pub fn translate(cfg: &ProducerConfig, extra: &[(String, String)]) -> Vec<(String, String)> {
    let ms = |d: Duration, lo: u128, hi: u128| d.as_millis().clamp(lo, hi).to_string();
    let mut out: Vec<(String, String)> = vec![
        ("bootstrap.servers".into(), cfg.bootstrap_servers.join(",")),
        ("client.id".into(), cfg.client_id.clone()),
        ("acks".into(), foreign::acks(cfg.acks).into()),
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
        ("compression.type".into(), foreign::compression(cfg.compression).into()),
        // Java's default partitioner: murmur2 of the key; null keys spread.
        ("partitioner".into(), "murmur2_random".into()),
    ];
    if let Some(id) = &cfg.transactional_id {
        out.push(("transactional.id".into(), id.clone()));
        out.push(("transaction.timeout.ms".into(), ms(cfg.transaction_timeout, 1000, i32::MAX as u128)));
    }
    for (k, v) in extra {
        out.retain(|(o, _)| o != k);
        out.push((k.clone(), v.clone()));
    }
    out
}

impl Librdkafka {
    /// `config`: from [`properties`]; `props`: what the user gave (for the notes on dropped
    /// keys).
    pub fn new(config: &[(String, String)], props: &[(String, String)]) -> Result<Self, String> {
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
        for (k, v) in config {
            cc.set(k, v);
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
        let mut feed = w.feed(t, start, stats);
        let fixed = w.payloads.fixed();
        let mut buf = Vec::new();
        let mut txn = Runner::start(self, stats);
        while let Some(slot) = feed.next() {
            let opaque = slot.intended.saturating_duration_since(ctx.base).as_nanos() as usize;
            let payload = foreign::value(fixed, &mut feed, &slot, &mut buf);
            let mut record: BaseRecord<'_, [u8], [u8], usize> =
                BaseRecord::with_opaque_to(w.topic(&slot), opaque).payload(payload);
            if let Some(k) = w.key(&slot) {
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
            txn.after_send(self, slot.intended, stats);
        }
        txn.finish(self, stats);
    }

    fn flush(&self) -> Result<(), String> {
        self.producer.flush(rdkafka::util::Timeout::Never).map_err(|e| e.to_string())
    }

    fn close(&self) {
        // The producer stops when dropped (with the last `Arc` of the target).
    }

    fn init_transactions(&self) -> Result<(), String> {
        self.producer.init_transactions(TXN_TIMEOUT).map_err(|e| e.to_string())
    }

    fn begin_transaction(&self) -> Result<(), String> {
        self.producer.begin_transaction().map_err(|e| e.to_string())
    }

    fn commit_transaction(&self) -> Result<(), String> {
        self.producer.commit_transaction(TXN_TIMEOUT).map_err(|e| e.to_string())
    }

    fn abort_transaction(&self) -> Result<(), String> {
        self.producer.abort_transaction(TXN_TIMEOUT).map_err(|e| e.to_string())
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
    fn own_defaults_pass_only_the_given_keys_with_java_only_names_translated() {
        let given: Vec<(String, String)> = vec![
            ("linger.ms".into(), "7".into()),
            ("buffer.memory".into(), "33554432".into()),
            ("max.request.size".into(), "2097152".into()),
            ("max.block.ms".into(), "100".into()),
            ("bootstrap.servers".into(), "ignored:1".into()),
        ];
        let t = properties("h:1", &given, None);
        assert_eq!(get(&t, "linger.ms"), Some("7"));
        assert_eq!(get(&t, "queue.buffering.max.kbytes"), Some("32768"));
        assert_eq!(get(&t, "message.max.bytes"), Some("2097152"));
        assert_eq!(get(&t, "bootstrap.servers"), Some("h:1"));
        assert_eq!(get(&t, "batch.size"), None, "librdkafka's own default, not Java's");
        assert_eq!(get(&t, "max.block.ms"), None);
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn same_settings_spell_out_ringkafkas_configuration() {
        let given: Vec<(String, String)> = vec![("security.protocol".into(), "SSL".into())];
        let resolved = crate::build_config(&given, "h:1", true).unwrap();
        let t = properties("h:1", &given, Some(&resolved));
        assert_eq!(get(&t, "batch.size"), Some("16384"));
        assert_eq!(get(&t, "partitioner"), Some("murmur2_random"));
        assert_eq!(get(&t, "security.protocol"), Some("SSL"));
        assert_eq!(t.iter().filter(|(k, _)| k == "bootstrap.servers").count(), 1);
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
