//! The accumulator: per-partition queues of record batches, encoded in place in wire form.
//!
//! Records are appended to the open batch at the tail of their partition's queue. The head batch
//! of a queue is drained into a Produce request when it is full (`batch.size`), its `linger.ms`
//! has passed, or a flush, a close or a memory shortage asks for everything now
//! ([`PartitionState::head_ready`]).
//!
//! A full batch is ready, not closed (KIP-782's expandable batch): until the drain takes it, it
//! keeps taking records, up to `batch.max.size` ([`append`]); only there does a record open a
//! new batch. A batch is drained as soon as its broker's connection can take a request, so
//! with room in the pipeline it goes out at `batch.size` (plus what the same sender turn
//! appended) as in Java. When the pipeline is full (`max.in.flight.requests.per.connection`
//! requests out, throttled, or not connected), the records that arrive meanwhile gather in one
//! large batch instead of a queue of small closed ones, and go out in one request when a slot
//! frees: a Produce request carries one batch per partition, so with replication's round trips
//! small batches would cap what a partition moves per round trip. A record larger than
//! `batch.max.size` gets a batch of its own.
//!
//! Batches own the completions of their records, in append order, so callbacks fire in send
//! order within each partition.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::delivery::Completion;
use crate::engine::partitioner::StickyState;
use crate::engine::{Pending, Stamp, Waiting};
use crate::protocol::compression::Codec;
use crate::protocol::record_batch::{
    decode_batches, record_size_upper_bound, seal, BatchWriter, ProducerFields, Record, BATCH_HEADER_LEN,
};

/// What `buffer.memory` is charged per record beyond its wire bytes: what a batch keeps of it
/// ([`RecordInfo`]), the allocator's overhead on its value while it is queued, and a share of
/// its batch's header. With this, `buffer.memory` bounds what the producer holds per record,
/// not only the batch bytes.
pub(crate) const RECORD_BOOKKEEPING: usize = std::mem::size_of::<RecordInfo>() + 32;

/// What a batch keeps of each record after its bytes are in the batch.
#[derive(Debug)]
pub(crate) struct RecordInfo {
    pub completion: Completion,
    pub enqueued: Instant,
    pub timestamp: i64,
    pub key_size: i32,
    pub value_size: i32,
    /// The flush generation the record belongs to (see `Engine::flush`).
    pub generation: u32,
}

/// The bytes of a batch: still being appended to, or closed and ready for the wire.
///
/// A closed batch is shared (`Arc`): a Produce request splices it in where it lies
/// (`io::SendBuf`), and the driver holds a reference until the bytes are written, while the
/// batch stays here to be completed or sent again. Writing to it afterwards (producer fields
/// and CRC for a retry) goes through `Arc::make_mut`, which copies it only if the driver still
/// holds the earlier attempt. An open batch keeps the `Arc` it will close into (empty
/// meanwhile), so that closing allocates nothing.
#[derive(Debug)]
pub(crate) struct BatchData {
    /// `Some` while open: the records are appended here.
    writer: Option<BatchWriter>,
    /// The closed bytes (empty while open).
    closed: Arc<Vec<u8>>,
}

impl BatchData {
    /// An open batch writing into `buf`'s buffer, closing into `buf`.
    pub fn open(mut buf: Arc<Vec<u8>>, start: impl FnOnce(Vec<u8>) -> BatchWriter) -> Self {
        let bytes = Arc::get_mut(&mut buf).map(std::mem::take).unwrap_or_default();
        BatchData { writer: Some(start(bytes)), closed: buf }
    }

    /// A closed batch of these bytes.
    pub fn closed(bytes: Vec<u8>) -> Self {
        BatchData { writer: None, closed: Arc::new(bytes) }
    }

    /// The closed bytes' buffer, for reuse: `None` while a request still holds it.
    pub fn into_spare(mut self) -> Option<Arc<Vec<u8>>> {
        Arc::get_mut(&mut self.closed)?;
        Some(self.closed)
    }
}

/// One record batch for one partition.
#[derive(Debug)]
pub(crate) struct Batch {
    pub data: BatchData,
    pub records: Vec<RecordInfo>,
    /// When the first record was appended (linger and delivery timeout count from here).
    pub created: Instant,
    /// `buffer.memory` bytes held by the records; released when the batch completes.
    pub reserved: usize,
    /// Send attempts so far.
    pub attempts: u32,
    /// Base sequence, once assigned (on first drain, with idempotence).
    pub sequence: Option<i32>,
    /// Not to be sent again before this (retry backoff).
    pub retry_at: Option<Instant>,
    /// The last error, for the delivery-timeout message.
    pub last_error: Option<String>,
    /// Sent, and no response came back (connection lost, malformed answer): it may have been
    /// written. It keeps its producer id, epoch and sequence across an epoch bump, as in Java,
    /// so that a retry is deduplicated instead of written twice.
    pub unresolved: bool,
    /// An earlier attempt may have been written: its ack was lost, or it was answered with an
    /// error that does not rule out a write (NOT_LEADER_OR_FOLLOWER and REQUEST_TIMED_OUT can
    /// come after the leader appended it). OUT_OF_ORDER_SEQUENCE_NUMBER for such a batch does
    /// not prove its records are not in the log (the broker remembers only its last 5 batches
    /// per producer), so it is failed instead of retried under a bumped epoch.
    pub may_be_written: bool,
}

impl Batch {
    pub fn record_count(&self) -> i32 {
        self.records.len() as i32
    }

    /// Bytes on the wire.
    pub fn size(&self) -> usize {
        match &self.data.writer {
            Some(w) => w.len(),
            None => self.data.closed.len(),
        }
    }

    pub fn is_open(&self) -> bool {
        self.data.writer.is_some()
    }

    /// Closes the batch if it is open (compresses, back-patches the header but not the CRC:
    /// the drain seals it once its producer fields are final), folding the
    /// compression ratio it observed into the topic's estimate `ratio`
    /// ([`update_compression_ratio`]).
    pub fn close(&mut self, ratio: &mut f32) {
        if let Some(w) = self.data.writer.take() {
            let compressing = w.codec() != Codec::None;
            let uncompressed = w.len() - BATCH_HEADER_LEN;
            // Unsealed: the sender writes the producer fields and the CRC once, when it sends.
            let bytes = w.close_unsealed();
            let compressed = bytes.len() - BATCH_HEADER_LEN;
            match Arc::get_mut(&mut self.data.closed) {
                Some(v) => *v = bytes,
                None => self.data.closed = Arc::new(bytes),
            }
            // A small batch (one closed by linger.ms with a few records) tells little: the
            // codec's framing dominates it, and Java, which counts it, inflates its estimate on
            // every such batch. Only batches of 1 KiB or more count.
            if compressing && uncompressed >= MIN_RATIO_SAMPLE {
                update_compression_ratio(ratio, compressed as f32 / uncompressed as f32);
            }
        }
    }

    /// The closed bytes (the batch must be closed).
    pub fn bytes(&self) -> &[u8] {
        &self.data.closed
    }

    /// Splits a closed batch the broker found too large into two halves (Java's
    /// `ProducerBatch.split`), keeping its records' order, completions, memory and sequence
    /// range: the first half takes the batch's base sequence, the second the rest, so batches
    /// sent after it stay in sequence. Gives the batch back if it has one record or its bytes
    /// do not decode.
    pub fn split(mut self) -> Result<(Batch, Batch), Box<Batch>> {
        let n = self.records.len();
        // Closed batches are sealed when sent; this one was, but a stale CRC must not make it
        // undecodable.
        if !self.is_open() {
            seal(Arc::make_mut(&mut self.data.closed).as_mut_slice());
        }
        let decoded = match decode_batches(self.bytes()) {
            Ok(mut v) if n >= 2 && v.len() == 1 && v[0].records.len() == n => v.pop().expect("one batch"),
            _ => return Err(Box::new(self)),
        };
        let mid = n / 2;
        let producer = ProducerFields {
            producer_id: decoded.producer_id,
            producer_epoch: decoded.producer_epoch,
            base_sequence: decoded.base_sequence,
        };
        let Batch {
            records: mut first_infos,
            created,
            reserved,
            attempts,
            sequence,
            last_error,
            unresolved,
            may_be_written,
            ..
        } = self;
        let second_infos = first_infos.split_off(mid);
        let first_reserved = reserved / n * mid;
        let make = |recs: &[Record], infos: Vec<RecordInfo>, reserved: usize, sequence: Option<i32>| {
            let mut w = BatchWriter::new(Vec::new(), producer, decoded.attributes);
            for r in recs {
                w.append(
                    decoded.base_timestamp + r.timestamp_delta,
                    r.key.as_deref(),
                    r.value.as_deref(),
                    &r.headers,
                );
            }
            Batch {
                data: BatchData::closed(w.close()),
                records: infos,
                created,
                reserved,
                attempts,
                sequence,
                retry_at: None,
                last_error: last_error.clone(),
                unresolved,
                may_be_written,
            }
        };
        let first = make(&decoded.records[..mid], first_infos, first_reserved, sequence);
        let second_seq = sequence.map(|s| crate::engine::idempotence::next_sequence(s, mid as i32));
        let second = make(&decoded.records[mid..], second_infos, reserved - first_reserved, second_seq);
        Ok((first, second))
    }

    /// The closed bytes to write to (the batch must be closed); a copy of them if the driver
    /// still holds an earlier attempt (see [`BatchData`]).
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        if self.is_open() {
            return &mut [];
        }
        Arc::make_mut(&mut self.data.closed).as_mut_slice()
    }

    /// The closed bytes, shared (the batch must be closed): for the driver to write.
    pub fn shared_bytes(&self) -> Arc<Vec<u8>> {
        self.data.closed.clone()
    }
}

/// One partition: its leader and its queue.
#[derive(Debug)]
pub(crate) struct PartitionState {
    /// Leader node id, -1 when unknown.
    pub leader: i32,
    pub queue: VecDeque<Batch>,
    /// Batches of this partition in flight.
    pub in_flight: u32,
    /// Next sequence number to assign (idempotence).
    pub next_sequence: i32,
    /// The sequence the broker expects next, as far as its acks tell (idempotence): the end of
    /// the furthest batch it acknowledged under the current producer id and epoch. `None` until
    /// it acknowledged one: it may then have no state for the producer on this partition.
    pub acked_next: Option<i32>,
    /// The uncompressed size the partition's last batch had grown to when it was drained: a
    /// new batch opens with room for as much (between `batch.size` and `batch.max.size`), so
    /// that batches that keep growing past `batch.size` while the broker is busy are not copied
    /// as they grow (a `realloc` per doubling).
    pub grown: usize,
}

impl PartitionState {
    pub fn new(leader: i32) -> Self {
        PartitionState {
            leader,
            queue: VecDeque::new(),
            in_flight: 0,
            next_sequence: 0,
            acked_next: None,
            grown: 0,
        }
    }

    /// Whether `head` must wait for this partition's batches in flight before it is sent: a
    /// retry (it has its sequence) goes only after everything before it, and with idempotence,
    /// until the broker acknowledged a batch of the partition under the current producer id and
    /// epoch, batches go one at a time. Kafka 2.5 to 4.4 accept any first sequence from a
    /// producer a partition has no state for: a batch sent behind the first one would be written
    /// if the first met a retriable error (a partition not yet up after topic creation answers
    /// NOT_LEADER_OR_FOLLOWER), and the first could then never be written in order
    /// (OUT_OF_ORDER_SEQUENCE_NUMBER for good; KAFKA-15591, fixed in the broker in 4.5).
    pub fn must_wait(&self, head: &Batch, idempotent: bool) -> bool {
        self.in_flight > 0 && (head.sequence.is_some() || (idempotent && self.acked_next.is_none()))
    }

    /// Whether `head`, this partition's first batch, is ready to be drained now: everything is
    /// wanted now (`force`: a flush, a close, a memory shortage), it is closed (a retry, or
    /// full at `batch.max.size`) or has batches behind it, it is full (`ready_at` uncompressed
    /// bytes, [`BatchLimits::ready`]), or it has lingered `linger`. Retry backoff and ordering
    /// waits are checked apart (`retry_at`, [`must_wait`](Self::must_wait)).
    #[inline]
    pub fn head_ready(
        &self,
        head: &Batch,
        ready_at: usize,
        linger: Duration,
        force: bool,
        now: Instant,
    ) -> bool {
        force
            || !head.is_open()
            || self.queue.len() > 1
            || head.attempts > 0
            || head.size() >= ready_at
            || head.created + linger <= now
    }

    /// What waits in this partition's queue, in batches of `batch_size` bytes (at least one per
    /// batch): the load KIP-794's adaptive partitioner weighs. Counting batches, as Java does,
    /// would see one expanded batch of many times `batch.size` as one.
    pub fn queued_batches(&self, batch_size: usize) -> usize {
        self.queue.iter().map(|b| b.size().div_ceil(batch_size.max(1)).max(1)).sum()
    }
}

/// Where a topic's metadata stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TopicMeta {
    /// Not known yet: records wait (up to `max.block.ms`).
    Unknown,
    /// Known, with `partitions.len()` partitions.
    Known,
}

/// One topic.
#[derive(Debug)]
pub(crate) struct TopicState {
    pub name: Arc<str>,
    pub meta: TopicMeta,
    pub partitions: Vec<PartitionState>,
    /// Partitions with a known leader (for the sticky partitioner).
    pub available: Vec<i32>,
    /// Records that arrived before the topic's metadata, in arrival order.
    pub waiting: VecDeque<Waiting>,
    pub sticky: StickyState,
    /// The estimated compression ratio of this topic's batches (1.0 until batches show
    /// otherwise); see [`batch_limit`].
    pub compression_ratio: f32,
    /// Per partition, as the last metadata listed them: replicas, in-sync replicas, offline
    /// replicas (for `partitions_for`; kept apart from the partitions' hot state).
    pub replica_sets: Vec<[Vec<i32>; 3]>,
    /// When a record or `partitions_for` last named it (`metadata.max.idle.ms`).
    pub last_used: Instant,
}

impl TopicState {
    pub fn new(name: Arc<str>, now: Instant) -> Self {
        TopicState {
            last_used: now,
            name,
            meta: TopicMeta::Unknown,
            partitions: Vec::new(),
            available: Vec::new(),
            waiting: VecDeque::new(),
            sticky: StickyState::default(),
            compression_ratio: 1.0,
            replica_sets: Vec::new(),
        }
    }
}

/// Where a topic's batches stand full and where they stop growing, in uncompressed bytes
/// ([`batch_limit`] of `batch.size` and of `batch.max.size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchLimits {
    /// Full: ready to send (`batch.size`). Also what the sticky partitioner puts into one
    /// partition before it moves on, as Java's does.
    pub ready: usize,
    /// No record is added beyond this (`batch.max.size`, at least `ready`).
    pub max: usize,
}

impl BatchLimits {
    /// The limits for a topic whose compression ratio is estimated at `ratio`: `batch_size`,
    /// `batch_max_size` (below `batch_size`: batches do not grow past it) and `max_bytes`
    /// (`max.request.size`) as configured.
    pub fn new(batch_size: usize, batch_max_size: usize, max_bytes: usize, codec: Codec, ratio: f32) -> Self {
        let ready = batch_limit(batch_size, max_bytes, codec, ratio);
        let max = batch_limit(batch_max_size.max(batch_size), max_bytes, codec, ratio).max(ready);
        BatchLimits { ready, max }
    }
}

/// How many uncompressed bytes a batch may hold. Without compression that is `batch.size`.
/// With it, as in Java (`MemoryRecordsBuilder.estimatedBytesWritten`), `batch.size` bounds the
/// batch's *estimated compressed* size: its header plus the records' uncompressed bytes times the
/// topic's estimated compression ratio times 1.05. A batch of compressible records therefore
/// holds more of them, and the broker gets fewer, fuller batches. The uncompressed size is capped
/// at `max_bytes` (`max.request.size`), so that no single batch grows without bound when the
/// data compresses extremely well.
pub(crate) fn batch_limit(batch_size: usize, max_bytes: usize, codec: Codec, ratio: f32) -> usize {
    if codec == Codec::None {
        return batch_size;
    }
    let records = batch_size.saturating_sub(BATCH_HEADER_LEN) as f64;
    let factor = f64::from(ratio.max(0.001)) * COMPRESSION_RATE_ESTIMATION_FACTOR;
    (BATCH_HEADER_LEN + (records / factor) as usize).min(max_bytes.max(batch_size))
}

/// The smallest records section whose compression ratio updates the estimate.
const MIN_RATIO_SAMPLE: usize = 1024;

/// Java's `MemoryRecordsBuilder.COMPRESSION_RATE_ESTIMATION_FACTOR`: a margin on the estimate.
const COMPRESSION_RATE_ESTIMATION_FACTOR: f64 = 1.05;

/// Folds a batch's observed compression ratio into the topic's estimate the way Java's
/// `CompressionRatioEstimator.updateEstimation` does: a worse ratio is taken at once (at least
/// +0.05), a better one slowly (at most -0.005 per batch), so a run of compressible batches
/// grows the batches gradually and one incompressible batch shrinks them at once.
fn update_compression_ratio(estimate: &mut f32, observed: f32) {
    const IMPROVING_STEP: f32 = 0.005;
    const DETERIORATE_STEP: f32 = 0.05;
    if observed > *estimate {
        *estimate = (*estimate + DETERIORATE_STEP).max(observed);
    } else if observed < *estimate {
        *estimate = (*estimate - IMPROVING_STEP).max(observed);
    }
}

/// Buffers kept for reuse, so that opening a batch allocates nothing in the steady state.
/// Growing vectors make large allocations, and those are what glibc makes expensive for us.
#[derive(Debug, Default)]
pub(crate) struct Spare {
    /// Closed batches' buffers, each the only reference to its `Arc` (see [`BatchData`]).
    pub batches: Vec<Arc<Vec<u8>>>,
    pub records: Vec<Vec<RecordInfo>>,
    /// Lists of a Produce request's batches (at most [`MAX_SPARE_LISTS`]).
    pub in_flight: Vec<Vec<crate::engine::produce::InFlightBatch>>,
    /// The nodes a poll found ready.
    pub ready_nodes: Vec<i32>,
}

/// Bound on [`Spare::in_flight`]: a few more than the requests in flight.
pub(crate) const MAX_SPARE_LISTS: usize = 16;

/// A record's buffers stay in its queue slot after its bytes are in a batch, to be dropped by
/// the `send` that writes the slot next (see `Pending`), unless they hold more than this: then
/// the sender drops them itself. A slot's leftovers wait a whole lap of the queue, so this
/// bounds what they hold to `QUEUE_CAPACITY` times it (8 MiB). Up to it, a buffer is in the
/// sizes an allocator's thread cache keeps (glibc's up to 1,032 bytes), where freeing it on the
/// thread that allocated it matters most.
pub(crate) const LEFTOVER_MAX: usize = 1024;

/// A new batch's record list is allocated for at most this many records up front.
const MAX_RECORDS_RESERVED: usize = 1024;

/// What appending a record did to its partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Appended {
    /// Bytes the partition's batches grew by: the record, and the header of the batch it
    /// opened, if it did (what Java's sticky partitioner counts).
    pub bytes: usize,
    /// The batch the record went into is full: it reached `batch.size` ([`BatchLimits::ready`])
    /// and is ready to send, though it may grow on (Java's `allBatchesFull`, for the sticky
    /// partitioner).
    pub full: bool,
}

/// Appends `p` to the open batch at the tail of `part`'s queue, if there is one (never sent)
/// and the record fits within `limits.max` (its exact size, as Java's `hasRoomFor` does with
/// `batch.size`); a batch that does not take it is closed. So a batch past `limits.ready`,
/// full and ready to send, keeps taking records until the drain takes it or it reaches
/// `limits.max` (see the module docs); only there does it close here. `None` if the record went
/// nowhere: it goes to a new batch ([`append_to_new`]). The record's completion goes into the
/// batch; its buffers stay in `p` (dropped here if larger than [`LEFTOVER_MAX`]).
///
/// A closing batch is compressed (with the codec it was opened with) and its observed ratio
/// folded into `ratio`.
#[inline]
pub(crate) fn append_to_open(
    part: &mut PartitionState,
    p: &mut Pending,
    stamp: Stamp,
    limits: BatchLimits,
    ratio: &mut f32,
) -> Option<Appended> {
    let batch = part.queue.back_mut()?;
    let writer = match (&mut batch.data.writer, batch.attempts) {
        (Some(w), 0) => w,
        _ => return None,
    };
    let (key, value, headers) = (p.key.as_deref(), p.value.as_deref(), p.headers());
    // Grow or close: the one decision of the expandable batch.
    match writer.try_append_sized(limits.max, stamp.timestamp, key, value, headers, p.payload as usize) {
        Some(bytes) => Some(appended(batch, p, stamp, bytes, limits, ratio)),
        None => {
            batch.close(ratio);
            None
        }
    }
}

/// Appends `p` to a new batch at the tail of `part`'s queue (see [`append_to_open`]), written
/// for `producer` and compressed with `codec` when it closes.
#[allow(clippy::too_many_arguments)]
pub(crate) fn append_to_new(
    part: &mut PartitionState,
    p: &mut Pending,
    stamp: Stamp,
    producer: ProducerFields,
    limits: BatchLimits,
    spare: &mut Spare,
    codec: Codec,
    ratio: &mut f32,
) -> Appended {
    let (key, value, headers) = (p.key.as_deref(), p.value.as_deref(), p.headers());
    // Room for a full batch up front, or for as much as the partition's last batch grew to:
    // growing it by doubling would copy it (compressed topics' batches grow to many times
    // batch.size, and a batch grows on towards batch.max.size while its broker cannot take it).
    let limit = limits.ready;
    let room = limit
        .max(part.grown.min(limits.max))
        .max(BATCH_HEADER_LEN + record_size_upper_bound(key, value, headers))
        + 64;
    let mut data = BatchData::open(spare.batches.pop().unwrap_or_default(), |mut buf| {
        // What a reused buffer holds is written over, not cleared first (the writer zeroes
        // only what was never initialized).
        if buf.capacity() < room {
            // A new buffer, not a reserve on the old one: realloc would copy all of it.
            buf = Vec::with_capacity(room);
        }
        BatchWriter::with_codec(buf, producer, 0, codec)
    });
    let n = data.writer.as_mut().map_or(0, |w| w.append(stamp.timestamp, key, value, headers));
    let mut records = spare.records.pop().unwrap_or_default();
    if records.capacity() == 0 {
        // Room for as many records of this one's size as the batch holds: growing the list by
        // doubling copies it, and a run that outpaces its broker opens new lists all along.
        // (The first record of a batch is its smallest: deltas of zero.)
        records.reserve_exact((limit / n.max(1)).clamp(1, MAX_RECORDS_RESERVED));
    }
    part.queue.push_back(Batch {
        data,
        records,
        created: stamp.enqueued,
        reserved: 0,
        attempts: 0,
        sequence: None,
        retry_at: None,
        last_error: None,
        unresolved: false,
        may_be_written: false,
    });
    let batch = part.queue.back_mut().expect("a batch was just pushed");
    appended(batch, p, stamp, BATCH_HEADER_LEN + n, limits, ratio)
}

/// `p`, whose `bytes` are in `batch`: its completion and what else the batch keeps of it go in
/// too; the batch closes if it reached `limits.max`, and is full at `limits.ready`.
#[inline(always)]
fn appended(
    batch: &mut Batch,
    p: &mut Pending,
    stamp: Stamp,
    bytes: usize,
    limits: BatchLimits,
    ratio: &mut f32,
) -> Appended {
    batch.reserved += p.reserved();
    batch.records.push(RecordInfo {
        completion: std::mem::take(&mut p.completion),
        enqueued: stamp.enqueued,
        timestamp: stamp.timestamp,
        key_size: p.key.as_ref().map_or(-1, |k| k.len() as i32),
        value_size: p.value.as_ref().map_or(-1, |v| v.len() as i32),
        generation: stamp.generation,
    });
    let held = p.key.as_ref().map_or(0, Vec::capacity) + p.value.as_ref().map_or(0, Vec::capacity);
    if held > LEFTOVER_MAX || p.extras.is_some() {
        drop_large_buffers(p, held);
    }
    let size = batch.size();
    if size >= limits.max {
        batch.close(ratio);
    }
    Appended { bytes, full: size >= limits.ready }
}

/// Drops a record's buffers on the sender if with its headers they hold more than
/// [`LEFTOVER_MAX`] (`held` by key and value).
#[cold]
fn drop_large_buffers(p: &mut Pending, held: usize) {
    let headers: usize =
        p.headers().iter().map(|h| h.key.capacity() + h.value.as_ref().map_or(0, Vec::capacity) + 48).sum();
    if held + headers > LEFTOVER_MAX {
        p.key = None;
        p.value = None;
        p.extras = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Header;

    /// A record into the open batch, or a new one (as `Engine::append_known` does).
    #[allow(clippy::too_many_arguments)]
    fn append(
        part: &mut PartitionState,
        p: &mut Pending,
        stamp: Stamp,
        producer: ProducerFields,
        limit: usize,
        spare: &mut Spare,
        codec: Codec,
        ratio: &mut f32,
    ) -> Appended {
        let limits = BatchLimits { ready: limit, max: limit };
        match append_to_open(part, p, stamp, limits, ratio) {
            Some(a) => a,
            None => append_to_new(part, p, stamp, producer, limits, spare, codec, ratio),
        }
    }

    /// A partition whose last batch grew past batch.size opens the next one with room for as
    /// much (never beyond batch.max.size), so that it is not copied as it grows again.
    #[test]
    fn a_new_batch_has_room_for_what_the_partitions_last_one_grew_to() {
        let topic: Arc<str> = "t".into();
        let stamp = Stamp { enqueued: crate::engine::sim_tests::origin(), timestamp: 0, generation: 0 };
        let limits = BatchLimits { ready: 16_384, max: 100_000 };
        let room = |grown: usize| {
            let (mut part, mut spare, mut ratio) = (PartitionState::new(0), Spare::default(), 1.0);
            part.grown = grown;
            let mut p = Pending::new(
                topic.clone(),
                None,
                Some(vec![1; 100]),
                Vec::new(),
                None,
                None,
                Completion::forget(),
            );
            append_to_new(
                &mut part,
                &mut p,
                stamp,
                ProducerFields::NONE,
                limits,
                &mut spare,
                Codec::None,
                &mut ratio,
            );
            part.queue[0].data.writer.as_ref().expect("open").capacity()
        };
        assert!((16_384..20_000).contains(&room(0)), "batch.size at first: {}", room(0));
        assert!((40_000..44_000).contains(&room(40_000)), "{}", room(40_000));
        assert!(
            (100_000..104_000).contains(&room(5_000_000)),
            "capped at batch.max.size: {}",
            room(5_000_000)
        );
    }

    #[test]
    fn batch_limit_is_batch_size_without_a_codec_and_scales_with_the_ratio() {
        let lz4 = Codec::Lz4 { level: 9 };
        assert_eq!(batch_limit(16_384, 1 << 20, Codec::None, 0.1), 16_384);
        // Java's estimate: header + records * ratio * 1.05 <= batch.size.
        let at_one = batch_limit(16_384, 1 << 20, lz4, 1.0);
        assert_eq!(at_one, BATCH_HEADER_LEN + ((16_384 - BATCH_HEADER_LEN) as f64 / 1.05) as usize);
        let at_tenth = batch_limit(16_384, 1 << 20, lz4, 0.1);
        let records = |n: usize| (n - BATCH_HEADER_LEN) as f64;
        assert!((records(at_tenth) / records(at_one) - 10.0).abs() < 0.01, "{at_tenth} vs {at_one}");
        // Capped by max.request.size, however well the data compresses.
        assert_eq!(batch_limit(16_384, 1 << 20, lz4, 0.0), 1 << 20);
    }

    /// A record's bytes go into the batch and its completion with them; its buffers stay
    /// with the record (in its queue slot, to be dropped by the next `send` there) unless they
    /// hold more than LEFTOVER_MAX, headers counted.
    #[test]
    fn appended_records_leave_their_small_buffers_behind_and_give_up_large_ones() {
        let topic: Arc<str> = "t".into();
        let mut part = PartitionState::new(0);
        let mut spare = Spare::default();
        let mut ratio = 1.0;
        let stamp = Stamp { enqueued: crate::engine::sim_tests::origin(), timestamp: 0, generation: 0 };
        let sizes = [0, 100, LEFTOVER_MAX, LEFTOVER_MAX + 1, 5000];
        let mut left = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            let key = (i % 2 == 0).then(|| vec![b'k'; 3]);
            let value = Some(vec![i as u8; n.saturating_sub(key.as_ref().map_or(0, Vec::len))]);
            let mut p =
                Pending::new(topic.clone(), key, value, Vec::new(), None, None, Completion::callback(|_| {}));
            append(
                &mut part,
                &mut p,
                stamp,
                ProducerFields::NONE,
                16_384,
                &mut spare,
                Codec::None,
                &mut ratio,
            );
            assert_eq!(format!("{:?}", p.completion), "None", "record {i}: the batch took its completion");
            left.push(p);
        }
        let kept: Vec<bool> = left.iter().map(|p| p.value.is_some()).collect();
        assert_eq!(kept, [true, true, true, false, false]);
        let mut with_headers = Pending::new(
            topic.clone(),
            None,
            Some(vec![1; 900]),
            vec![Header::new("h", vec![2; 200])],
            None,
            None,
            Completion::forget(),
        );
        append(
            &mut part,
            &mut with_headers,
            stamp,
            ProducerFields::NONE,
            16_384,
            &mut spare,
            Codec::None,
            &mut ratio,
        );
        assert!(with_headers.value.is_none() && with_headers.extras.is_none(), "headers count too");
        let mut small_headers = Pending::new(
            topic.clone(),
            None,
            Some(vec![1; 100]),
            vec![Header::new("h", vec![2; 10])],
            None,
            None,
            Completion::forget(),
        );
        append(
            &mut part,
            &mut small_headers,
            stamp,
            ProducerFields::NONE,
            16_384,
            &mut spare,
            Codec::None,
            &mut ratio,
        );
        assert!(small_headers.value.is_some() && small_headers.extras.is_some());
        // The batch holds the bytes, not the buffers.
        let b =
            &decode_batches(part.queue[0].data.writer.clone().expect("open").close().as_slice()).unwrap()[0];
        assert_eq!(b.records.len(), sizes.len() + 2);
        assert_eq!(b.records[3].value.as_ref().map(Vec::len), Some(LEFTOVER_MAX + 1));
    }

    #[test]
    fn ratio_estimate_worsens_at_once_and_improves_slowly_as_in_java() {
        let mut e = 1.0f32;
        update_compression_ratio(&mut e, 0.2);
        assert!((e - 0.995).abs() < 1e-6, "{e}");
        update_compression_ratio(&mut e, 0.994);
        assert!((e - 0.994).abs() < 1e-6, "a smaller step than 0.005 is taken whole: {e}");
        update_compression_ratio(&mut e, 1.01);
        assert!((e - 1.044).abs() < 1e-6, "a worse ratio adds at least 0.05: {e}");
        update_compression_ratio(&mut e, 1.5);
        assert!((e - 1.5).abs() < 1e-6, "{e}");
        update_compression_ratio(&mut e, 1.5);
        assert!((e - 1.5).abs() < 1e-6, "unchanged when equal: {e}");
    }
}
