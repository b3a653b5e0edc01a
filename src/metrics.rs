//! Producer metrics: counters updated with relaxed atomics, and hdrhistogram distributions of
//! send→ack latency and batch size recorded by the sender thread. [`Metrics::snapshot`] is
//! what `Producer::metrics` returns.
//!
//! The histograms are behind a lock, which the sender never waits for: it records through a
//! [`Pending`] that keeps what it could not record while `snapshot` held the lock, for its next
//! try. `snapshot` holds the lock only to copy the histograms; the quantiles are computed on
//! the copy. Latency is recorded once per run of records the sender took in the same loop
//! turn (they share their start), not once per record.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, TryLockError};

use hdrhistogram::Histogram;

/// Live counters and histograms, shared by the producer handles and the sender thread.
#[derive(Debug)]
pub(crate) struct Metrics {
    pub records_sent: AtomicU64,
    pub record_errors: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub batches_sent: AtomicU64,
    pub requests_sent: AtomicU64,
    pub retries: AtomicU64,
    pub in_flight_requests: AtomicU64,
    pub throttled_responses: AtomicU64,
    pub throttle_time_max_ms: AtomicU64,
    pub connections_created: AtomicU64,
    pub connections_closed: AtomicU64,
    pub hist: Mutex<Histograms>,
}

/// The distributions.
#[derive(Debug, Clone)]
pub(crate) struct Histograms {
    /// Microseconds from `send` to the outcome.
    pub latency_us: Histogram<u64>,
    /// Records per batch.
    pub batch_records: Histogram<u64>,
    /// Bytes per batch.
    pub batch_bytes: Histogram<u64>,
}

impl Default for Metrics {
    fn default() -> Self {
        let h = |max| Histogram::new_with_bounds(1, max, 3).expect("valid histogram bounds");
        Metrics {
            records_sent: AtomicU64::new(0),
            record_errors: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            batches_sent: AtomicU64::new(0),
            requests_sent: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            in_flight_requests: AtomicU64::new(0),
            throttled_responses: AtomicU64::new(0),
            throttle_time_max_ms: AtomicU64::new(0),
            connections_created: AtomicU64::new(0),
            connections_closed: AtomicU64::new(0),
            hist: Mutex::new(Histograms {
                latency_us: h(3_600_000_000),
                batch_records: h(10_000_000),
                batch_bytes: h(1 << 34),
            }),
        }
    }
}

/// Percentiles of a distribution (in the unit of the field that holds it; values are exact to
/// three significant digits). All zero while nothing was recorded.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Percentiles {
    /// The number of values recorded.
    pub count: u64,
    /// Their mean.
    pub mean: f64,
    /// The median.
    pub p50: u64,
    /// The 95th percentile.
    pub p95: u64,
    /// The 99th percentile.
    pub p99: u64,
    /// The 99.9th percentile.
    pub p999: u64,
    /// The largest value.
    pub max: u64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Self {
        Percentiles {
            count: h.len(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.50),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// A point-in-time copy of the producer's metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricsSnapshot {
    /// Records acknowledged (or written, with acks=0).
    pub records_sent: u64,
    /// Records that failed.
    pub record_errors: u64,
    /// Batch bytes written to brokers (retries count again).
    pub bytes_sent: u64,
    /// Batches written (retries count again).
    pub batches_sent: u64,
    /// Produce requests written.
    pub requests_sent: u64,
    /// Batch retries.
    pub retries: u64,
    /// `buffer.memory` bytes not reserved.
    pub buffer_available_bytes: u64,
    /// Produce requests awaiting a response.
    pub in_flight_requests: u64,
    /// Responses that asked the producer to hold back (`throttle_time_ms` > 0: a broker quota).
    pub throttled_responses: u64,
    /// The longest such request to hold back, milliseconds (Java's `produce-throttle-time-max`,
    /// over every API).
    pub throttle_time_max_ms: u64,
    /// Broker connections established (Java's `connection-creation-total`).
    pub connections_created: u64,
    /// Broker connections closed or lost, for any reason (Java's `connection-close-total`).
    pub connections_closed: u64,
    /// Times the sender thread went to sleep waiting for work (see `sender.idle.strategy`).
    pub sender_parks: u64,
    /// Times `send` (or `flush`, `close`) had to wake a sleeping sender thread: one system call
    /// each on the caller's thread. A spinning sender is never woken.
    pub sender_wakeups: u64,
    /// Latency from the sender taking the record (normally microseconds after `send`) to its
    /// outcome, microseconds.
    pub latency_us: Percentiles,
    /// Records per batch.
    pub batch_records: Percentiles,
    /// Bytes per batch.
    pub batch_bytes: Percentiles,
}

/// What the sender has to record in the histograms: kept while `snapshot` holds them (see the
/// module docs). Its vectors keep their capacity, so recording allocates nothing once warm.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    /// (microseconds, records) of latency.
    pub latency: Vec<(u64, u64)>,
    /// (records, bytes) per batch sent.
    pub batches: Vec<(u64, u64)>,
}

/// Past this many values waiting, the sender waits for the lock after all.
const MAX_PENDING: usize = 1 << 16;

impl Metrics {
    /// Records what `pending` holds, if the histograms are free (or `wait`, or too much has
    /// waited): otherwise it stays there for the next call.
    pub(crate) fn record(&self, pending: &mut Pending, wait: bool) {
        if pending.latency.is_empty() && pending.batches.is_empty() {
            return;
        }
        let mut h = match self.hist.try_lock() {
            Ok(h) => h,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => {
                if !wait && pending.latency.len() + pending.batches.len() < MAX_PENDING {
                    return;
                }
                self.hist.lock().unwrap_or_else(|e| e.into_inner())
            }
        };
        for (us, n) in pending.latency.drain(..) {
            let _ = h.latency_us.record_n(us.max(1), n);
        }
        for (records, bytes) in pending.batches.drain(..) {
            let _ = h.batch_records.record(records.max(1));
            let _ = h.batch_bytes.record(bytes.max(1));
        }
    }

    pub(crate) fn snapshot(&self, buffer_available: usize) -> MetricsSnapshot {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        // A copy, so that the sender is kept from the histograms only while it is made.
        let h = self.hist.lock().unwrap_or_else(|e| e.into_inner()).clone();
        MetricsSnapshot {
            records_sent: r(&self.records_sent),
            record_errors: r(&self.record_errors),
            bytes_sent: r(&self.bytes_sent),
            batches_sent: r(&self.batches_sent),
            requests_sent: r(&self.requests_sent),
            retries: r(&self.retries),
            buffer_available_bytes: buffer_available as u64,
            in_flight_requests: r(&self.in_flight_requests),
            throttled_responses: r(&self.throttled_responses),
            throttle_time_max_ms: r(&self.throttle_time_max_ms),
            connections_created: r(&self.connections_created),
            connections_closed: r(&self.connections_closed),
            sender_parks: 0,
            sender_wakeups: 0,
            latency_us: Percentiles::of(&h.latency_us),
            batch_records: Percentiles::of(&h.batch_records),
            batch_bytes: Percentiles::of(&h.batch_bytes),
        }
    }

    #[inline]
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sender never waits for the histograms: while `snapshot` (here: the test) holds them,
    /// what it records waits in `Pending`, and goes in with its next call once they are free.
    #[test]
    fn recording_never_waits_for_a_snapshot_and_loses_nothing() {
        let m = Metrics::default();
        let mut pending = Pending::default();
        let held = m.hist.lock().unwrap();
        pending.latency.push((120, 7));
        pending.batches.push((7, 900));
        m.record(&mut pending, false);
        assert_eq!((pending.latency.len(), pending.batches.len()), (1, 1), "kept while the lock is held");
        drop(held);
        pending.latency.push((80, 3));
        m.record(&mut pending, false);
        assert!(pending.latency.is_empty() && pending.batches.is_empty());
        let s = m.snapshot(0);
        assert_eq!(s.latency_us.count, 10, "a run of n records counts n times");
        assert_eq!(s.latency_us.max, m.hist.lock().unwrap().latency_us.max());
        assert!((80..=120).contains(&s.latency_us.p50));
        assert_eq!(s.batch_records.count, 1);
    }
}
