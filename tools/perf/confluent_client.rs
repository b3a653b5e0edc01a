//! The same workload through Confluent's native Rust client (`confluent-kafka` 1.0, a
//! translation of the Java client onto tokio), for comparison.
//!
//! Configuration: it takes Java's property names, so with `--client-defaults own` (the default)
//! it gets the given properties as they are, on top of its own defaults (Java's). With
//! `--client-defaults ringkafka` it gets ringkafka's resolved configuration instead, key by key
//! (the same-settings comparison). ringkafka-only keys (`sender.cpu`) are dropped with a note.
//! Keys neither client knows reach it unchanged (it ignores unknown keys with a warning, as
//! Java does): against Tansu it needs `metadata.cluster.check.enable=false`.
//!
//! Partitioning: its default partitioner hashes keys with CRC-32 (librdkafka's
//! `consistent_random`), not Java's murmur2, so keyed records land on other partitions than with
//! ringkafka or Java; null keys are spread the same way (sticky, adaptive). With
//! `--client-defaults ringkafka` it gets `partitioner.type=Murmur2RandomPartitioner` (Java's).
//!
//! How it is driven: as a Rust user would, from plain threads. The producer lives on a tokio
//! multi-threaded runtime of its own (one worker per core, tokio's default); each sending thread
//! `block_on`s every `send` (which returns once the record is in a batch, or waits for buffer
//! space up to `max.block.ms`), with a boxed callback per record that records the outcome, as
//! Java's perf tool does. The callback runs on the runtime's workers.

use std::collections::HashMap;
use std::time::Instant;

use crate::foreign;
use crate::stats::Stats;
use crate::{Resolved, Target, Workload};
use confluent_kafka::common::serialization::ByteArraySerializer;
use confluent_kafka::common::Error;
use confluent_kafka::producer::{
    KafkaProducer, Producer as _, ProducerConfig, ProducerRecord, RecordMetadata,
};

/// ringkafka-only keys the Java client has no use for.
const DROPPED: [&str; 1] = ["sender.cpu"];

pub struct Confluent {
    // Dropped before the runtime it runs on.
    producer: KafkaProducer<Vec<u8>, Vec<u8>>,
    rt: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Confluent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Confluent")
    }
}

/// Java-named properties for the client. `props`: what the user gave, in order; `resolved`:
/// ringkafka's configuration and the keys it rejected (`--client-defaults ringkafka`), or
/// `None` for the client's own defaults plus `props`.
pub fn properties(
    bootstrap: &str,
    props: &[(String, String)],
    resolved: Option<&Resolved>,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = match resolved {
        None => props.iter().filter(|(k, _)| !DROPPED.contains(&k.as_str())).cloned().collect(),
        Some((cfg, extra)) => {
            let ms = |d: std::time::Duration| d.as_millis().min(i64::MAX as u128).to_string();
            let mut v: Vec<(String, String)> = vec![
                ("client.id".into(), cfg.client_id.clone()),
                ("acks".into(), foreign::acks(cfg.acks).into()),
                ("linger.ms".into(), ms(cfg.linger)),
                ("batch.size".into(), cfg.batch_size.to_string()),
                ("buffer.memory".into(), cfg.buffer_memory.to_string()),
                ("max.block.ms".into(), ms(cfg.max_block)),
                ("max.request.size".into(), cfg.max_request_size.to_string()),
                ("retries".into(), cfg.retries.to_string()),
                ("retry.backoff.ms".into(), ms(cfg.retry_backoff)),
                ("retry.backoff.max.ms".into(), ms(cfg.retry_backoff_max)),
                ("delivery.timeout.ms".into(), ms(cfg.delivery_timeout)),
                ("request.timeout.ms".into(), ms(cfg.request_timeout)),
                ("max.in.flight.requests.per.connection".into(), cfg.max_in_flight.to_string()),
                ("enable.idempotence".into(), cfg.enable_idempotence.to_string()),
                ("metadata.max.age.ms".into(), ms(cfg.metadata_max_age)),
                ("compression.type".into(), foreign::compression(cfg.compression).into()),
                ("partitioner.ignore.keys".into(), cfg.partitioner_ignore_keys.to_string()),
                ("partitioner.adaptive.partitioning.enable".into(), cfg.partitioner_adaptive.to_string()),
                // Java's murmur2 key hash (its default is CRC-32).
                ("partitioner.type".into(), "Murmur2RandomPartitioner".into()),
            ];
            // Security settings share Java's names: as the user gave them.
            v.extend(foreign::security(props));
            v.extend(extra.iter().cloned());
            v
        }
    };
    out.retain(|(k, _)| k != "bootstrap.servers");
    out.push(("bootstrap.servers".into(), bootstrap.to_string()));
    out
}

impl Confluent {
    pub fn new(props: &[(String, String)], given: &[(String, String)]) -> Result<Self, String> {
        for (k, _) in given {
            if DROPPED.contains(&k.as_str()) {
                eprintln!("ringkafka-perf: note: `{k}` is ringkafka-only; dropped for confluent-kafka");
            }
        }
        let map: HashMap<String, String> = props.iter().cloned().collect();
        let config = ProducerConfig::new(&map).map_err(|e| e.to_string())?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("confluent-kafka")
            .build()
            .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
        // The producer spawns its sender task on the runtime it is created in.
        let producer = {
            let _in_runtime = rt.enter();
            KafkaProducer::new(config, ByteArraySerializer::new(), ByteArraySerializer::new()).map_err(
                |e| match std::error::Error::source(&e) {
                    Some(cause) => format!("{e}: {cause}"),
                    None => e.to_string(),
                },
            )?
        };
        Ok(Confluent { producer, rt })
    }
}

impl Target for Confluent {
    fn send_range(&self, w: &Workload, t: usize, start: Instant, stats: &'static Stats) {
        let mut feed = w.feed(t, start, stats);
        let fixed = w.payloads.fixed();
        let mut buf = Vec::new();
        while let Some(slot) = feed.next() {
            let intended = slot.intended;
            let payload = foreign::value(fixed, &mut feed, &slot, &mut buf);
            let len = payload.len();
            let record = ProducerRecord::with_key(w.topic(&slot).to_string(), w.key(&slot), Some(payload));
            let callback = move |_: Option<&RecordMetadata>, e: Option<&Error>| match e {
                None => stats.record_ok(intended, len),
                Some(e) => stats.record_err(e),
            };
            // An error returned here (not an API error, which goes to the callback) means the
            // callback will not run.
            if let Err(e) = self.rt.block_on(self.producer.send(record, Some(Box::new(callback)))) {
                stats.record_err(&e);
            }
        }
    }

    fn flush(&self) -> Result<(), String> {
        self.rt.block_on(self.producer.flush()).map_err(|e| e.to_string())
    }

    fn close(&self) {
        if let Err(e) = self.rt.block_on(self.producer.close()) {
            eprintln!("ringkafka-perf: confluent-kafka close: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(v: &'a [(String, String)], k: &str) -> Option<&'a str> {
        v.iter().rev().find(|(o, _)| o == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn own_defaults_pass_only_the_given_keys_and_drop_ringkafka_only_ones() {
        let given: Vec<(String, String)> =
            vec![("linger.ms".into(), "7".into()), ("sender.cpu".into(), "1".into())];
        let p = properties("h:1", &given, None);
        assert_eq!(get(&p, "linger.ms"), Some("7"));
        assert_eq!(get(&p, "bootstrap.servers"), Some("h:1"));
        assert_eq!(get(&p, "sender.cpu"), None);
        assert_eq!(get(&p, "batch.size"), None, "its own default, not ringkafka's");
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn ringkafka_settings_are_spelled_out_with_javas_partitioner() {
        let given: Vec<(String, String)> = vec![
            ("batch.size".into(), "65536".into()),
            ("metadata.cluster.check.enable".into(), "false".into()),
        ];
        let resolved = crate::build_config(&given, "h:1", true).unwrap();
        let p = properties("h:1", &given, Some(&resolved));
        assert_eq!(get(&p, "batch.size"), Some("65536"));
        assert_eq!(get(&p, "enable.idempotence"), Some("true"));
        assert_eq!(get(&p, "partitioner.type"), Some("Murmur2RandomPartitioner"));
        assert_eq!(
            get(&p, "metadata.cluster.check.enable"),
            Some("false"),
            "unknown to ringkafka: passed on"
        );
        assert_eq!(get(&p, "bootstrap.servers"), Some("h:1"));
    }
}
