//! The workload through ringkafka: `send_with_callback`, latency recorded in the callback (on the
//! sender thread) from the record's intended send time.

use std::time::{Duration, Instant};

use ringkafka::{Producer, ProducerConfig, ProducerRecord, StartError};

use crate::pacer::Pacer;
use crate::payload::Rng;
use crate::stats::Stats;
use crate::{Target, Workload};

/// How long `close` lets pending records finish after `flush` (they are all done by then).
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct Ringkafka {
    producer: Producer,
}

impl Ringkafka {
    pub fn new(cfg: ProducerConfig) -> Result<Self, StartError> {
        Ok(Ringkafka { producer: Producer::new(cfg)? })
    }
}

impl Target for Ringkafka {
    fn send_range(&self, w: &Workload, t: usize, start: Instant, stats: &'static Stats) {
        let mut rng = Rng::from_time(t as u64);
        let mut pacer = Pacer::new(start, w.thread_rate(t));
        // One shared topic name: each record takes a reference count, not an allocation.
        let topic: std::sync::Arc<str> = w.topic.as_str().into();
        for n in w.range(t) {
            let intended = pacer.wait();
            if n == w.warmup_records && n > 0 {
                stats.start_steady_state(intended);
            }
            // The value Vec is the only per-record allocation here; the producer takes it over.
            let value = w.payloads.value(n, &mut rng);
            let mut record = ProducerRecord::new(&topic, value);
            if let Some(k) = w.key(n) {
                record = record.key(k.to_vec());
            }
            // The callback captures three words (fits the producer's inline room for one; the
            // value's size comes back in the metadata).
            let sent = self.producer.send_with_callback(record, move |r| match r {
                Ok(m) => stats.record_ok(intended, m.serialized_value_size.max(0) as usize),
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
}
