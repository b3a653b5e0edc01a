//! The workload through ringkafka, in one of three send styles (`--api`):
//! - `callback` (the default): `send_with_callback`, latency recorded in the callback (on the
//!   sender thread) from the record's intended send time, and from the `send` call (the
//!   intended time plus how late the pacer let the record go);
//! - `future`: `send`, the futures kept in order and collected by the sending thread as they
//!   complete (checked every [`FUTURE_CHECK_EVERY`] sends, waited on once
//!   [`MAX_OUTSTANDING_FUTURES`] are outstanding, and all waited on at the end); latency is
//!   taken when collected, so it is a little late;
//! - `forget`: `send_and_forget`; after `flush`, the producer's metrics give the counts, and
//!   there is no latency.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ringkafka::{DeliveryFuture, MetricsSnapshot, Producer, ProducerConfig, ProducerRecord, StartError};

use crate::args::Api;
use crate::stats::Stats;
use crate::transactions::Runner;
use crate::{Target, Workload};

/// How long `close` lets pending records finish after `flush` (they are all done by then).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);
/// `--api future`: completed futures are collected every this many sends.
const FUTURE_CHECK_EVERY: u64 = 64;
/// `--api future`: at most this many futures outstanding per sending thread.
const MAX_OUTSTANDING_FUTURES: usize = 1 << 16;

#[derive(Debug)]
pub struct Ringkafka {
    producer: Producer,
    client_id: String,
    api: Api,
    /// `--api forget`: what the outcome counts apply to.
    forgot: Forgot,
    /// The sender's parks, wake-ups and requests when the steady state began.
    steady_counters: OnceLock<(u64, u64, u64)>,
}

#[derive(Debug, Default)]
struct Forgot {
    stats: OnceLock<&'static Stats>,
    records: AtomicU64,
    bytes: AtomicU64,
    /// Of those, the ones meant to be sent in the steady state.
    steady_records: AtomicU64,
    steady_bytes: AtomicU64,
}

impl Ringkafka {
    pub fn new(cfg: ProducerConfig, api: Api) -> Result<Self, StartError> {
        let client_id = cfg.client_id.clone();
        Ok(Ringkafka {
            producer: Producer::new(cfg)?,
            client_id,
            api,
            forgot: Forgot::default(),
            steady_counters: OnceLock::new(),
        })
    }

    fn counters(&self) -> (u64, u64, u64) {
        let m = self.producer.metrics();
        (m.sender_parks, m.sender_wakeups, m.requests_sent)
    }
}

/// Records the outcome of a future meant to be sent at `intended`.
fn collect(stats: &Stats, intended: Instant, r: ringkafka::DeliveryResult) {
    match r {
        Ok(m) => stats.record_ok(intended, m.serialized_value_size.max(0) as usize),
        Err(e) => stats.record_err(&e),
    }
}

impl Target for Ringkafka {
    fn send_range(&self, w: &Workload, t: usize, start: Instant, stats: &'static Stats) {
        let mut feed = w.feed(t, start, stats);
        let mut futures: VecDeque<(Instant, DeliveryFuture)> = VecDeque::new();
        let (mut forgot, mut forgot_bytes, mut steady, mut steady_bytes) = (0u64, 0u64, 0u64, 0u64);
        let mut sends = 0u64;
        let mut txn = Runner::start(self, stats);
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
            let value = feed.value(&slot);
            let len = value.len() as u64;
            let mut record = ProducerRecord::new(w.topic(&slot), value);
            if let Some(k) = w.key(&slot) {
                record = record.key(k.to_vec());
            }
            sends += 1;
            let intended = slot.intended;
            let sent = match self.api {
                // The callback captures three words (fits the producer's inline room for one;
                // the value's size comes back in the metadata).
                Api::Callback => self.producer.send_with_callback(record, move |r| match r {
                    Ok(m) => stats.record_ok_paced(at, late, m.serialized_value_size.max(0) as usize),
                    Err(e) => stats.record_err(&e),
                }),
                Api::Future => self.producer.send(record).map(|f| {
                    futures.push_back((intended, f));
                    if futures.len() >= MAX_OUTSTANDING_FUTURES {
                        let (at, f) = futures.pop_front().expect("outstanding futures");
                        collect(stats, at, f.wait());
                    }
                    if sends % FUTURE_CHECK_EVERY == 0 {
                        while let Some((at, f)) = futures.front_mut() {
                            match f.wait_timeout(Duration::ZERO) {
                                Some(r) => {
                                    collect(stats, *at, r);
                                    futures.pop_front();
                                }
                                None => break,
                            }
                        }
                    }
                }),
                Api::Forget => self.producer.send_and_forget(record).map(|()| {
                    forgot += 1;
                    forgot_bytes += len;
                    if slot.n >= w.warmup_records {
                        steady += 1;
                        steady_bytes += len;
                    }
                }),
            };
            if let Err(e) = sent {
                stats.record_err(&e);
            }
            txn.after_send(self, intended, stats);
        }
        txn.finish(self, stats);
        for (at, f) in futures {
            collect(stats, at, f.wait());
        }
        if self.api == Api::Forget {
            let _ = self.forgot.stats.set(stats);
            let f = &self.forgot;
            f.records.fetch_add(forgot, Ordering::Relaxed);
            f.bytes.fetch_add(forgot_bytes, Ordering::Relaxed);
            f.steady_records.fetch_add(steady, Ordering::Relaxed);
            f.steady_bytes.fetch_add(steady_bytes, Ordering::Relaxed);
        }
    }

    fn flush(&self) -> Result<(), String> {
        self.producer.flush().map_err(|e| e.to_string())?;
        let f = &self.forgot;
        if let Some(stats) = f.stats.get() {
            // Every forgotten record has its outcome now: the metrics count them (a failure is
            // counted there as well, but its message is not known).
            let m = self.producer.metrics();
            let (n, failed) = (f.records.swap(0, Ordering::Relaxed), m.record_errors);
            let ok = n.saturating_sub(failed);
            let scale = |x: u64| if n == 0 { 0 } else { (x as u128 * ok as u128 / n as u128) as u64 };
            stats.record_untimed(
                ok,
                scale(f.bytes.swap(0, Ordering::Relaxed)),
                scale(f.steady_records.swap(0, Ordering::Relaxed)),
                scale(f.steady_bytes.swap(0, Ordering::Relaxed)),
            );
            for _ in 0..failed.min(n) {
                stats.record_err(&"a record sent with send_and_forget failed (see the producer's metrics)");
            }
        }
        Ok(())
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

    fn init_transactions(&self) -> Result<(), String> {
        self.producer.init_transactions().map_err(|e| e.to_string())
    }

    fn begin_transaction(&self) -> Result<(), String> {
        self.producer.begin_transaction().map_err(|e| e.to_string())
    }

    fn commit_transaction(&self) -> Result<(), String> {
        self.producer.commit_transaction().map_err(|e| e.to_string())
    }

    fn abort_transaction(&self) -> Result<(), String> {
        self.producer.abort_transaction().map_err(|e| e.to_string())
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
