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

use crate::config::ProducerConfig;
use crate::error::ProduceError;
use crate::metrics::Metrics;
use crate::protocol::compression::Codec;
use crate::protocol::record_batch::ProducerFields;

use super::accumulator::{TopicMeta, TopicState};
use super::partitioner::{partition_for_key, Partitioner};
use super::{accumulator, Engine, Pending, Stamp, Waiting};

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
    /// The index of topic `name` in `topics` (added if new), used `now`.
    #[inline]
    pub(super) fn topic_idx(&mut self, name: &Arc<str>, now: Instant) -> usize {
        if let Some(i) = self.records.last {
            let t = &self.topics[i];
            if Arc::ptr_eq(&t.name, name) && t.last_used == now {
                return i;
            }
        }
        self.topic_idx_slow(name, now)
    }

    #[inline(never)]
    fn topic_idx_slow(&mut self, name: &Arc<str>, now: Instant) -> usize {
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

    /// Accepts one record, where it lies in its queue slot (see [`Pending`]): its bytes go
    /// into a batch and its completion with them; its buffers stay where they are. `now` and
    /// `wall_ms` (milliseconds since the epoch) are the loop turn's clock: records are stamped
    /// by the sender, so `send` reads no clock.
    #[inline]
    pub(crate) fn append(&mut self, p: &mut Pending, now: Instant, wall_ms: i64) {
        self.next_wakeup = Some(now);
        let stamp = Stamp {
            enqueued: now,
            timestamp: p.timestamp().unwrap_or(wall_ms),
            generation: self.flushes.track(),
        };
        let ti = self.topic_idx(&p.topic, now);
        let topic = &mut self.topics[ti];
        if self.fatal.is_some() || topic.meta == TopicMeta::Unknown || !topic.waiting.is_empty() {
            self.append_later(ti, p.take(), stamp, now);
            return;
        }
        // Most records: no partition, key or partitioner of their own, the sticky partition
        // stays, and its open batch takes them. The rest (and a record that opens a batch)
        // take `append_known`'s way.
        let sticky = p.partition < 0
            && self.records.partitioner.is_none()
            && (p.key.is_none() || self.cfg.partitioner_ignore_keys);
        if let Some(partition) = sticky.then(|| topic.sticky.current(topic.partitions.len() as i32)).flatten()
        {
            let limits = match self.codec {
                Codec::None => self.plain_limits,
                codec => limits_with(&self.cfg, codec, topic.compression_ratio),
            };
            let part = &mut topic.partitions[partition as usize];
            if let Some(a) = accumulator::append_to_open(part, p, stamp, limits, &mut topic.compression_ratio)
            {
                // Java's switch rule, with `batch.size` (limits.ready) as what fills a batch: a
                // batch growing past it is full for the partitioner, so records keep spreading.
                topic.sticky.appended(a.bytes, limits.ready, a.full);
                return;
            }
        }
        self.append_known(ti, p, stamp);
    }

    /// A record that cannot go into a batch now: failed (the producer is fatal), or kept until
    /// its topic's metadata is known (behind the records already waiting for it).
    #[cold]
    fn append_later(&mut self, ti: usize, p: Pending, stamp: Stamp, now: Instant) {
        if let Some(err) = &self.fatal {
            let err = err.clone();
            self.fail_pending(p, stamp, err);
            return;
        }
        self.topics[ti].waiting.push_back(Waiting { record: p, stamp });
        if self.metadata.due.is_none_or(|d| d > now) && !self.metadata.in_flight {
            self.metadata.due = Some(now);
        }
    }

    /// Appends a record to topic `ti`, whose metadata is known: picks its partition and copies
    /// it into that partition's open batch (a new one if it does not fit).
    #[inline(never)]
    pub(super) fn append_known(&mut self, ti: usize, p: &mut Pending, stamp: Stamp) {
        let topic = &mut self.topics[ti];
        let n = topic.partitions.len() as i32;
        let fast = p.partition < 0
            && self.records.partitioner.is_none()
            && (p.key.is_none() || self.cfg.partitioner_ignore_keys);
        let (partition, sticky) = match fast.then(|| topic.sticky.current(n)).flatten() {
            Some(c) => (c, true),
            None => self.choose_partition(ti, p),
        };
        if partition < 0 || partition >= n {
            let err = ProduceError::InvalidPartition { topic: p.topic.to_string(), partition, partitions: n };
            self.fail_pending(p.take(), stamp, err);
            return;
        }
        let limits = self.batch_limits(ti);
        let topic = &mut self.topics[ti];
        let part = &mut topic.partitions[partition as usize];
        let appended = match accumulator::append_to_open(part, p, stamp, limits, &mut topic.compression_ratio)
        {
            Some(a) => a,
            None => self.append_to_new(ti, partition, p, stamp, limits),
        };
        if sticky {
            // See `append`: batch.size is what fills a batch for the partitioner.
            self.topics[ti].sticky.appended(appended.bytes, limits.ready, appended.full);
        }
    }

    /// Where topic `ti`'s batches are full and where they stop growing
    /// ([`accumulator::BatchLimits`]).
    #[inline]
    pub(super) fn batch_limits(&self, ti: usize) -> accumulator::BatchLimits {
        match self.codec {
            Codec::None => self.plain_limits,
            codec => limits_with(&self.cfg, codec, self.topics[ti].compression_ratio),
        }
    }

    /// The partition of a record that has its own, a key, or a custom partitioner to ask, or
    /// whose sticky partition is to change; and whether the sticky partitioner chose it.
    #[inline(never)]
    fn choose_partition(&mut self, ti: usize, p: &Pending) -> (i32, bool) {
        if let Some(pp) = p.partition() {
            return (pp, false);
        }
        let topic = &mut self.topics[ti];
        let n = topic.partitions.len() as i32;
        let custom = self.records.partitioner.as_mut().and_then(|f| {
            f.partition(&topic.name, p.key.as_deref(), p.value.as_deref(), n).filter(|x| (0..n).contains(x))
        });
        match (custom, &p.key) {
            (Some(c), _) => (c, false),
            (None, Some(k)) if !self.cfg.partitioner_ignore_keys => (partition_for_key(k, n), false),
            _ => {
                let ready = match self.codec {
                    Codec::None => self.plain_limits.ready,
                    codec => limits_with(&self.cfg, codec, topic.compression_ratio).ready,
                };
                let topic = &mut self.topics[ti];
                let parts = &topic.partitions;
                let queued = |q: i32| parts.get(q as usize).map_or(0, |s| s.queued_batches(ready));
                let adaptive = self.cfg.partitioner_adaptive.then_some(&queued as &dyn Fn(i32) -> usize);
                (topic.sticky.partition(n, &topic.available, &mut self.rng, adaptive), true)
            }
        }
    }

    /// Appends a record that does not go into its partition's open batch to a new one.
    #[inline(never)]
    fn append_to_new(
        &mut self,
        ti: usize,
        partition: i32,
        p: &mut Pending,
        stamp: Stamp,
        limits: accumulator::BatchLimits,
    ) -> accumulator::Appended {
        let producer = match (self.cfg.enable_idempotence, self.idem.producer) {
            (true, Some((id, epoch))) => {
                ProducerFields { producer_id: id, producer_epoch: epoch, base_sequence: 0 }
            }
            _ => ProducerFields::NONE,
        };
        let topic = &mut self.topics[ti];
        let part = &mut topic.partitions[partition as usize];
        let ratio = &mut topic.compression_ratio;
        accumulator::append_to_new(part, p, stamp, producer, limits, &mut self.spare, self.codec, ratio)
    }

    /// Fails a record that never made it into a batch.
    pub(super) fn fail_pending(&mut self, p: Pending, stamp: Stamp, err: ProduceError) {
        if self.txn.is_some() {
            self.txn_record_failed(&err);
        }
        self.memory.release(p.reserved());
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

/// The batch limits for a topic compressed with `codec` at the estimated `ratio`.
#[inline(never)]
fn limits_with(cfg: &ProducerConfig, codec: Codec, ratio: f32) -> accumulator::BatchLimits {
    accumulator::BatchLimits::new(cfg.batch_size, cfg.batch_max_size, cfg.max_request_size, codec, ratio)
}
