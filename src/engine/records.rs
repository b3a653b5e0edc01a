//! Records in: a record handed over by the sender becomes part of a batch here.
//!
//! The room owns [`Records`] (the topic index, with the last topic used cached, and the
//! application's partitioner) and does the choosing: a topic's entry in `Engine::topics` (and its
//! use time, for `metadata.max.idle.ms`), the partition (explicit, the custom `Partitioner`, the
//! key's hash, or the sticky partitioner), the batch the record is copied into. Records whose
//! topic's metadata is not known yet wait in their topic until `metadata` hands them back
//! (`append_known`) or `max.block.ms` runs out (`poll_waiting`).
//!
//! It sends nothing and completes no batch (that is `produce`); a record that never reaches a
//! batch is failed here (`fail_pending`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use crate::error::ProduceError;
use crate::metrics::Metrics;
use crate::protocol::record_batch::ProducerFields;

use super::accumulator::{TopicMeta, TopicState};
use super::partitioner::{partition_for_key, Partitioner};
use super::{accumulator, Engine, Pending, SpentChunk, Stamp, Waiting};

/// The records room's state (see the module docs). `metadata` looks topics up in `index`.
pub(super) struct Records {
    /// A topic's name to its index in `Engine::topics`.
    pub(super) index: HashMap<Arc<str>, usize>,
    /// The topic of the last record (most records go where the one before went).
    last: Option<usize>,
    /// The application's partitioner, if it gave one.
    partitioner: Option<Box<dyn Partitioner>>,
}

impl Records {
    pub(super) fn new(partitioner: Option<Box<dyn Partitioner>>) -> Self {
        Records { index: HashMap::new(), last: None, partitioner }
    }
}

impl Engine {
    pub(super) fn topic_idx(&mut self, name: &Arc<str>, now: Instant) -> usize {
        if let Some(i) = self.records.last {
            let known = &self.topics[i].name;
            if Arc::ptr_eq(known, name) || **known == **name {
                self.touch_topic(i, now);
                return i;
            }
        }
        let i = match self.records.index.get(&**name) {
            Some(&i) => {
                self.touch_topic(i, now);
                i
            }
            None => {
                let i = self.topics.len();
                let t = TopicState::new(name.clone(), now);
                self.records.index.insert(t.name.clone(), i);
                self.topics.push(t);
                // A new topic: ask for its metadata now.
                self.metadata.due = Some(now);
                i
            }
        };
        self.records.last = Some(i);
        i
    }

    /// Topic `i` is used now. One that had gone idle (out of the metadata requests, see
    /// `metadata_topics`) gets its metadata refreshed at once: what was cached may be stale.
    fn touch_topic(&mut self, i: usize, now: Instant) {
        let t = &mut self.topics[i];
        if t.last_used == now {
            return; // already this turn
        }
        if t.last_used + self.cfg.metadata_max_idle <= now {
            self.metadata.due = Some(now);
        }
        t.last_used = now;
    }

    /// Hands over a full chunk of the key and value buffers the engine is done with (see
    /// `Spare::spend`).
    pub(crate) fn take_spent(&mut self) -> Option<SpentChunk> {
        self.spare.spent_full.pop()
    }

    /// A chunk an application thread emptied, to be filled again.
    pub(crate) fn recycle_spent(&mut self, chunk: SpentChunk) {
        self.spare.recycle(chunk);
    }

    /// Accepts one record. `now` and `wall_ms` (milliseconds since the epoch) are the loop
    /// turn's clock: records are stamped by the sender, so `send` reads no clock.
    pub(crate) fn append(&mut self, p: Pending, now: Instant, wall_ms: i64) {
        self.next_wakeup = Some(now);
        let stamp = Stamp {
            enqueued: now,
            timestamp: p.timestamp().unwrap_or(wall_ms),
            generation: self.flushes.track(),
        };
        let ti = self.topic_idx(&p.topic, now);
        if let Some(err) = &self.fatal {
            let err = err.clone();
            self.fail_pending(p, stamp, err);
            return;
        }
        let topic = &mut self.topics[ti];
        if topic.meta == TopicMeta::Unknown || !topic.waiting.is_empty() {
            topic.waiting.push_back(Waiting { record: p, stamp });
            if self.metadata.due.is_none_or(|d| d > now) && !self.metadata.in_flight {
                self.metadata.due = Some(now);
            }
            return;
        }
        self.append_known(ti, p, stamp);
    }

    pub(super) fn append_known(&mut self, ti: usize, p: Pending, stamp: Stamp) {
        let codec = self.cfg.codec();
        let topic = &mut self.topics[ti];
        let limits = accumulator::BatchLimits::new(
            self.cfg.batch_size,
            self.cfg.batch_max_size,
            self.cfg.max_request_size,
            codec,
            topic.compression_ratio,
        );
        let n = topic.partitions.len() as i32;
        let mut sticky = false;
        let partition = match p.partition() {
            Some(pp) => pp,
            None => {
                let custom = self.records.partitioner.as_mut().and_then(|f| {
                    f.partition(&topic.name, p.key.as_deref(), p.value.as_deref(), n)
                        .filter(|x| (0..n).contains(x))
                });
                match (custom, &p.key) {
                    (Some(c), _) => c,
                    (None, Some(k)) if !self.cfg.partitioner_ignore_keys => partition_for_key(k, n),
                    _ => {
                        let parts = &topic.partitions;
                        let queued =
                            |q: i32| parts.get(q as usize).map_or(0, |s| s.queued_batches(limits.ready));
                        let adaptive =
                            self.cfg.partitioner_adaptive.then_some(&queued as &dyn Fn(i32) -> usize);
                        sticky = true;
                        topic.sticky.partition(n, &topic.available, &mut self.rng, adaptive)
                    }
                }
            }
        };
        if partition < 0 || partition >= n {
            let err = ProduceError::InvalidPartition { topic: p.topic.to_string(), partition, partitions: n };
            self.fail_pending(p, stamp, err);
            return;
        }
        let producer = match (self.cfg.enable_idempotence, self.idem.producer) {
            (true, Some((id, epoch))) => {
                ProducerFields { producer_id: id, producer_epoch: epoch, base_sequence: 0 }
            }
            _ => ProducerFields::NONE,
        };
        let part = &mut topic.partitions[partition as usize];
        let ratio = &mut topic.compression_ratio;
        let appended = accumulator::append(part, p, stamp, producer, limits, &mut self.spare, codec, ratio);
        if sticky {
            // Java's switch rule, with `batch.size` (limits.ready) as what fills a batch: a batch
            // growing past it is full for the partitioner, so records keep spreading.
            topic.sticky.appended(appended.bytes, limits.ready, appended.full);
        }
    }

    /// Fails a record that never made it into a batch.
    pub(super) fn fail_pending(&mut self, p: Pending, stamp: Stamp, err: ProduceError) {
        if self.txn.is_some() {
            self.txn_record_failed(&err);
        }
        self.memory.release(p.reserved as usize);
        Metrics::add(&self.metrics.record_errors, 1);
        self.flushes.finish(stamp.generation);
        p.completion.complete(|| Err(err));
    }

    pub(super) fn poll_waiting(&mut self, now: Instant) {
        let max_block = self.cfg.max_block;
        for ti in 0..self.topics.len() {
            while let Some(w) = self.topics[ti].waiting.front() {
                let deadline = w.stamp.enqueued + max_block;
                if deadline > now {
                    self.wake_at(deadline);
                    break;
                }
                let w = self.topics[ti].waiting.pop_front().expect("front exists");
                let err =
                    ProduceError::MetadataTimeout { topic: w.record.topic.to_string(), waited: max_block };
                self.fail_pending(w.record, w.stamp, err);
            }
        }
    }
}
