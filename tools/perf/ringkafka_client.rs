//! The workload through ringkafka: `send_with_callback`, latency recorded in the callback (on the
//! sender thread) from the record's intended send time, and from the `send` call (the intended
//! time plus how late the pacer let the record go).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ringkafka::{MetricsSnapshot, Producer, ProducerConfig, ProducerRecord, StartError};

use crate::stats::Stats;
use crate::{Target, Workload};

/// How long `close` lets pending records finish after `flush` (they are all done by then).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct Ringkafka {
    producer: Producer,
    client_id: String,
    /// The sender's parks, wake-ups and requests when the steady state began.
    steady_counters: OnceLock<(u64, u64, u64)>,
}

impl Ringkafka {
    pub fn new(cfg: ProducerConfig) -> Result<Self, StartError> {
        let client_id = cfg.client_id.clone();
        Ok(Ringkafka { producer: Producer::new(cfg)?, client_id, steady_counters: OnceLock::new() })
    }

    fn counters(&self) -> (u64, u64, u64) {
        let m = self.producer.metrics();
        (m.sender_parks, m.sender_wakeups, m.requests_sent)
    }
}

impl Target for Ringkafka {
    fn send_range(&self, w: &Workload, t: usize, start: Instant, stats: &'static Stats) {
        let mut feed = w.feed(t, start, stats);
        while let Some(slot) = feed.next() {
            // This producer's first record of the steady state (several producers: each its own).
            if slot.n >= w.warmup_records && w.warmup_records > 0 && self.steady_counters.get().is_none() {
                let _ = self.steady_counters.set(self.counters());
            }
            // The slot as nanoseconds into the run, and how late the pacer let the record go:
            // the callback stays at three words.
            let at = stats.offset_ns(slot.intended);
            let late = slot.late.as_nanos().min(u32::MAX as u128) as u32;
            // The value Vec is the only per-record allocation here (and the key's, if any); the
            // producer takes both over. The topic is a shared `Arc<str>`: a reference count.
            let mut record = ProducerRecord::new(w.topic(&slot), feed.value(&slot));
            if let Some(k) = w.key(&slot) {
                record = record.key(k.to_vec());
            }
            // The callback captures three words (fits the producer's inline room for one; the
            // value's size comes back in the metadata).
            let sent = self.producer.send_with_callback(record, move |r| match r {
                Ok(m) => stats.record_ok_paced(at, late, m.serialized_value_size.max(0) as usize),
                Err(e) => stats.record_err(&e),
            });
            if let Err(e) = sent {
                stats.record_err(&e);
            }
        }
    }

    fn flush(&self) -> Result<(), String> {
        self.producer.flush().map_err(|e| e.to_string())
    }

    fn close(&self) {
        self.producer.close(CLOSE_TIMEOUT);
    }

    fn metrics(&self) -> Vec<(String, String)> {
        metric_lines(&self.producer.metrics(), &self.client_id)
    }

    fn sender_counters(&self, steady: bool) -> Option<(u64, u64, u64)> {
        let (parks, wakeups, requests) = self.counters();
        let (p0, w0, r0) = if steady { self.steady_counters.get().copied()? } else { (0, 0, 0) };
        Some((parks - p0, wakeups - w0, requests - r0))
    }
}

/// `--print-metrics`: the snapshot as Java's tool prints a producer's metrics,
/// `group:name:{client-id=…}` and the value.
pub fn metric_lines(m: &MetricsSnapshot, client_id: &str) -> Vec<(String, String)> {
    let name = |n: &str| format!("producer-metrics:{n}:{{client-id={client_id}}}");
    let mut out: Vec<(String, String)> = [
        ("records-sent", m.records_sent),
        ("record-errors", m.record_errors),
        ("bytes-sent", m.bytes_sent),
        ("batches-sent", m.batches_sent),
        ("requests-sent", m.requests_sent),
        ("retries", m.retries),
        ("buffer-available-bytes", m.buffer_available_bytes),
        ("in-flight-requests", m.in_flight_requests),
        ("throttled-responses", m.throttled_responses),
        ("throttle-time-max-ms", m.throttle_time_max_ms),
        ("connections-created", m.connections_created),
        ("connections-closed", m.connections_closed),
    ]
    .iter()
    .map(|(n, v)| (name(n), v.to_string()))
    .collect();
    for (prefix, p) in
        [("latency-us", &m.latency_us), ("batch-records", &m.batch_records), ("batch-bytes", &m.batch_bytes)]
    {
        out.push((name(&format!("{prefix}-count")), p.count.to_string()));
        out.push((name(&format!("{prefix}-avg")), format!("{:.3}", p.mean)));
        for (q, v) in [("p50", p.p50), ("p95", p.p95), ("p99", p.p99), ("p999", p.p999), ("max", p.max)] {
            out.push((name(&format!("{prefix}-{q}")), v.to_string()));
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_named_as_javas_tool_names_them() {
        let m = MetricsSnapshot { records_sent: 42, ..Default::default() };
        let lines = metric_lines(&m, "perf-0");
        assert!(lines.contains(&("producer-metrics:records-sent:{client-id=perf-0}".into(), "42".into())));
        assert!(lines.iter().any(|(k, _)| k == "producer-metrics:latency-us-p99:{client-id=perf-0}"));
        assert!(lines.windows(2).all(|w| w[0] <= w[1]), "sorted, as Java prints them");
    }
}
