//! The magic-v2 record batch (Kafka's on-disk and on-wire record format).
//!
//! ```text
//! baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8 (=2)
//! crc uint32 (CRC-32C of everything after it) | attributes int16 | lastOffsetDelta int32
//! baseTimestamp int64 | maxTimestamp int64 | producerId int64 | producerEpoch int16
//! baseSequence int32 | recordCount int32 | records...
//! record: length varint | attributes int8 | timestampDelta varlong | offsetDelta varint
//!         keyLength varint | key | valueLength varint | value | headerCount varint
//!         headers: keyLength varint | key | valueLength varint | value
//! ```
//! [`BatchWriter`] appends records in wire form straight into the batch buffer and back-patches
//! the header (length, count, offsets, timestamps, CRC-32C) once, on [`BatchWriter::close`].
//!
//! With a compression codec the records are still appended uncompressed in place; `close`
//! compresses the records section into a reused thread-local scratch buffer and copies it back
//! over the records, so batchLength and the CRC cover the compressed bytes (see
//! [`compression`]). [`BatchWriter::len`] stays the uncompressed size, which
//! is what `batch.size` counts: a compressed batch goes out smaller than `batch.size`.

use std::cell::RefCell;

use super::compression::{self, Codec, DEFAULT_MAX_DECOMPRESSED};
use super::primitives::{uvarint_len, varlong_len, DecodeError, DecodeResult, Reader};
use crate::record::Header;

/// Bytes of the batch header before the first record.
pub const BATCH_HEADER_LEN: usize = 61;
/// Offset of the batchLength field within a batch.
pub const BATCH_LENGTH_OFFSET: usize = 8;
/// Offset of the magic byte within a batch.
pub const MAGIC_OFFSET: usize = 16;
/// Offset of the CRC field within a batch.
pub const CRC_OFFSET: usize = 17;
/// Offset of the attributes field (the first byte the CRC covers).
pub const ATTRIBUTES_OFFSET: usize = 21;
/// Offset of the lastOffsetDelta field within a batch.
pub const LAST_OFFSET_DELTA_OFFSET: usize = 23;
/// Offset of the baseTimestamp field within a batch.
pub const BASE_TIMESTAMP_OFFSET: usize = 27;
/// Offset of the maxTimestamp field within a batch.
pub const MAX_TIMESTAMP_OFFSET: usize = 35;
/// Offset of the producerId field within a batch.
pub const PRODUCER_ID_OFFSET: usize = 43;
/// Offset of the producerEpoch field within a batch.
pub const PRODUCER_EPOCH_OFFSET: usize = 51;
/// Offset of the baseSequence field within a batch.
pub const BASE_SEQUENCE_OFFSET: usize = 53;
/// Offset of the recordCount field within a batch.
pub const RECORD_COUNT_OFFSET: usize = 57;
/// Bytes before the batchLength count starts (baseOffset + batchLength itself).
pub const LOG_OVERHEAD: usize = 12;
/// The record batch format this module speaks.
pub const MAGIC_V2: i8 = 2;
/// No producer id (idempotence off).
pub const NO_PRODUCER_ID: i64 = -1;
/// No producer epoch.
pub const NO_PRODUCER_EPOCH: i16 = -1;
/// No sequence number.
pub const NO_SEQUENCE: i32 = -1;
/// No timestamp (the base and max timestamps of an empty batch).
pub const NO_TIMESTAMP: i64 = -1;
/// No partition leader epoch (what a producer always writes; the broker fills it in).
pub const NO_PARTITION_LEADER_EPOCH: i32 = -1;

/// The smallest possible record on the wire: length, attributes, timestampDelta, offsetDelta,
/// keyLength, valueLength and headerCount, one byte each.
const MIN_RECORD_LEN: usize = 7;
/// The smallest possible header: keyLength and valueLength, one byte each.
const MIN_HEADER_LEN: usize = 2;
/// Worst-case width of a zig-zag varlong (the timestamp delta).
const MAX_VARLONG_LEN: usize = 10;
/// Worst-case width of a zig-zag varint (the offset delta).
const MAX_VARINT_LEN: usize = 5;

/// Attribute bits of a batch.
pub mod attributes {
    /// Mask of the compression codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub const COMPRESSION_MASK: i16 = 0x07;
    /// The broker sets timestamps (LogAppendTime).
    pub const LOG_APPEND_TIME: i16 = 0x08;
    /// The batch belongs to a transaction.
    pub const TRANSACTIONAL: i16 = 0x10;
    /// The batch holds control records (transaction markers), never application data.
    pub const CONTROL: i16 = 0x20;
}

/// The idempotence fields of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerFields {
    /// The producer id from InitProducerId, or [`NO_PRODUCER_ID`].
    pub producer_id: i64,
    /// The producer epoch, or [`NO_PRODUCER_EPOCH`].
    pub producer_epoch: i16,
    /// The sequence number of the first record in the batch, or [`NO_SEQUENCE`].
    pub base_sequence: i32,
}

impl ProducerFields {
    /// No idempotence.
    pub const NONE: ProducerFields = ProducerFields {
        producer_id: NO_PRODUCER_ID,
        producer_epoch: NO_PRODUCER_EPOCH,
        base_sequence: NO_SEQUENCE,
    };
}

/// Width of a zig-zag varint holding a byte length, or -1 for `None`.
#[inline]
fn nullable_len_size(len: Option<usize>) -> usize {
    match len {
        None => 1, // -1 zig-zags to 1
        Some(n) => varlong_len(n as i64),
    }
}

/// Bytes of a record from keyLength to the end of its headers: everything whose size does not
/// depend on where in the batch the record lands (see [`BatchWriter::try_append_sized`]).
#[inline]
pub fn payload_size(key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header]) -> usize {
    nullable_len_size(key.map(<[u8]>::len))
        + key.map_or(0, <[u8]>::len)
        + nullable_len_size(value.map(<[u8]>::len))
        + value.map_or(0, <[u8]>::len)
        + headers_size(headers)
}

/// The most a record takes beyond its [`payload_size`]: its length, attributes, timestamp
/// delta and offset delta, each at its widest.
pub const RECORD_OVERHEAD_MAX: usize = MAX_VARINT_LEN + 1 + MAX_VARLONG_LEN + MAX_VARINT_LEN;

/// An upper bound on the bytes one record adds to a batch, whatever its deltas. Used to check
/// `max.request.size` / `batch.size` before appending. It assumes the widest timestamp delta
/// (10 bytes) and offset delta (5 bytes), so it is exact up to those 13 bytes.
#[inline]
pub fn record_size_upper_bound(key: Option<&[u8]>, value: Option<&[u8]>, headers: &[Header]) -> usize {
    record_size_upper_bound_for(payload_size(key, value, headers))
}

/// [`record_size_upper_bound`] of a record whose [`payload_size`] is `payload`.
#[inline]
pub fn record_size_upper_bound_for(payload: usize) -> usize {
    let body = 1 + MAX_VARLONG_LEN + MAX_VARINT_LEN + payload;
    varlong_len(body as i64) + body
}

#[inline]
fn put_i16_at(buf: &mut [u8], at: usize, v: i16) {
    buf[at..at + 2].copy_from_slice(&v.to_be_bytes());
}
#[inline]
fn put_i32_at(buf: &mut [u8], at: usize, v: i32) {
    buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
}
#[inline]
fn put_i64_at(buf: &mut [u8], at: usize, v: i64) {
    buf[at..at + 8].copy_from_slice(&v.to_be_bytes());
}
#[inline]
fn get_i32_at(buf: &[u8], at: usize) -> i32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    i32::from_be_bytes(b)
}

/// Computes the CRC-32C of `batch` (from the attributes to the end) and writes it in place.
#[inline]
fn patch_crc(batch: &mut [u8]) {
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// Builds one batch in place. Create with [`BatchWriter::new`], [`append`](Self::append) records,
/// then [`close`](Self::close) to back-patch the header and get the wire bytes.
///
/// ```
/// use ringkafka::internals::protocol::record_batch::{decode_batches, BatchWriter, ProducerFields};
///
/// let mut w = BatchWriter::new(Vec::new(), ProducerFields::NONE, 0);
/// w.append(1_700_000_000_000, Some(b"key"), Some(b"value"), &[]);
/// let batch = w.close();
/// let decoded = decode_batches(&batch).unwrap();
/// assert_eq!(decoded[0].records[0].value.as_deref(), Some(&b"value"[..]));
/// ```
#[derive(Debug, Clone)]
pub struct BatchWriter {
    /// The batch: `..len` written, the rest room to write into. The room is kept initialized
    /// (the buffer's whole capacity is its length), so that a record is written with indexed
    /// stores and slice copies, not a `push` (a capacity check and a length update) per byte.
    buf: Vec<u8>,
    /// Bytes written, header included.
    len: usize,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
    codec: Codec,
}

thread_local! {
    /// Where `close` compresses the records section before copying it back over the records.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl BatchWriter {
    /// Starts a batch in `buf` (cleared; its capacity is reused), reserving the header. A codec
    /// in `attributes` bits 0-2 compresses the batch at that codec's default level (ids 5-7 are
    /// written as given, uncompressed); [`with_codec`](Self::with_codec) picks a level.
    pub fn new(buf: Vec<u8>, producer: ProducerFields, attributes: i16) -> Self {
        let codec = Codec::from_id(attributes & attributes::COMPRESSION_MASK).unwrap_or_default();
        let mut w = Self::with_codec(buf, producer, attributes, codec);
        if codec == Codec::None {
            put_i16_at(&mut w.buf, ATTRIBUTES_OFFSET, attributes);
        }
        w
    }

    /// Starts a batch compressed with `codec` on [`close`](Self::close); the codec replaces
    /// attributes bits 0-2.
    ///
    /// ```
    /// use ringkafka::internals::protocol::compression::Codec;
    /// use ringkafka::internals::protocol::record_batch::{decode_batches, BatchWriter, ProducerFields};
    ///
    /// let mut w = BatchWriter::with_codec(Vec::new(), ProducerFields::NONE, 0, Codec::Zstd { level: 3 });
    /// w.append(1_700_000_000_000, None, Some(b"value"), &[]);
    /// let batch = w.close();
    /// let decoded = decode_batches(&batch).unwrap();
    /// assert_eq!(decoded[0].attributes & 7, 4);
    /// assert_eq!(decoded[0].records[0].value.as_deref(), Some(&b"value"[..]));
    /// ```
    pub fn with_codec(mut buf: Vec<u8>, producer: ProducerFields, attributes: i16, codec: Codec) -> Self {
        let attributes = (attributes & !attributes::COMPRESSION_MASK) | codec.id();
        // What the buffer holds (a reused buffer's last batch) is room to write into: it does
        // not matter, it is written before it is read. Room beyond that is initialized as the
        // batch grows into it ([`grow`](Self::grow)), a step at a time.
        let room = buf.len().max(BATCH_HEADER_LEN + GROW_STEP);
        buf.resize(room, 0);
        // baseOffset (0), batchLength, crc, lastOffsetDelta, timestamps and recordCount stay
        // zero until close() back-patches them.
        buf[..BATCH_HEADER_LEN].fill(0);
        put_i32_at(&mut buf, LOG_OVERHEAD, NO_PARTITION_LEADER_EPOCH);
        buf[MAGIC_OFFSET] = MAGIC_V2 as u8;
        put_i16_at(&mut buf, ATTRIBUTES_OFFSET, attributes);
        put_i64_at(&mut buf, PRODUCER_ID_OFFSET, producer.producer_id);
        put_i16_at(&mut buf, PRODUCER_EPOCH_OFFSET, producer.producer_epoch);
        put_i32_at(&mut buf, BASE_SEQUENCE_OFFSET, producer.base_sequence);
        BatchWriter {
            buf,
            len: BATCH_HEADER_LEN,
            count: 0,
            base_timestamp: NO_TIMESTAMP,
            max_timestamp: NO_TIMESTAMP,
            codec,
        }
    }

    /// Appends one record. The first record's timestamp becomes the batch's base timestamp; later
    /// ones may be earlier (their delta is then negative). Returns the bytes the record took,
    /// never more than [`record_size_upper_bound`].
    ///
    /// # Panics
    /// If the record would exceed `i32::MAX` bytes (callers check `max.request.size` first).
    #[inline]
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> usize {
        self.try_append(usize::MAX, timestamp, key, value, headers).expect("no limit")
    }

    /// Appends one record if the batch is empty or the record fits within `limit` bytes in all
    /// (Java's `MemoryRecordsBuilder.hasRoomFor`, with the record's exact size); returns the
    /// bytes it took, or `None` with nothing written.
    ///
    /// # Panics
    /// If the record would exceed `i32::MAX` bytes (callers check `max.request.size` first).
    #[inline]
    pub fn try_append(
        &mut self,
        limit: usize,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> Option<usize> {
        let payload = payload_size(key, value, headers);
        self.try_append_sized(limit, timestamp, key, value, headers, payload)
    }

    /// [`try_append`](Self::try_append) for a record whose [`payload_size`] is known (the
    /// producer computes it on the caller's thread, for the record's `buffer.memory` charge).
    ///
    /// # Panics
    /// If the record would exceed `i32::MAX` bytes (callers check `max.request.size` first).
    /// `payload` must be the record's `payload_size` (checked in debug builds).
    #[inline(always)]
    pub fn try_append_sized(
        &mut self,
        limit: usize,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
        payload: usize,
    ) -> Option<usize> {
        debug_assert_eq!(payload, payload_size(key, value, headers), "the record's payload size is off");
        let base = if self.count == 0 { timestamp } else { self.base_timestamp };
        let timestamp_delta = zigzag(timestamp.wrapping_sub(base));
        let offset_delta = zigzag(i64::from(self.count));
        let body = 1 + uvarint_len(timestamp_delta) + uvarint_len(offset_delta) + payload;
        assert!(body <= i32::MAX as usize, "record of {body} bytes exceeds the wire format");
        let body_len = zigzag(body as i64);
        let total = uvarint_len(body_len) + body;
        let start = self.len;
        if self.count > 0 && start + total > limit {
            return None;
        }
        if self.count == 0 {
            self.base_timestamp = timestamp;
            self.max_timestamp = timestamp;
        } else if timestamp > self.max_timestamp {
            self.max_timestamp = timestamp;
        }
        if start + total > self.buf.len() {
            self.grow(start + total);
        }
        let b = &mut self.buf[..];
        let mut at = put_uvarint_at(b, start, body_len);
        b[at] = 0; // record attributes: unused
        at = put_uvarint_at(b, at + 1, timestamp_delta);
        at = put_uvarint_at(b, at, offset_delta);
        at = put_uvarint_at(b, at, zigzag(key.map_or(-1, |k| k.len() as i64)));
        if let Some(k) = key {
            b[at..at + k.len()].copy_from_slice(k);
            at += k.len();
        }
        at = put_uvarint_at(b, at, zigzag(value.map_or(-1, |v| v.len() as i64)));
        if let Some(v) = value {
            b[at..at + v.len()].copy_from_slice(v);
            at += v.len();
        }
        if headers.is_empty() {
            b[at] = 0;
            at += 1;
        } else {
            at = put_headers_at(b, at, headers);
        }
        debug_assert_eq!(at - start, total, "record size precomputation is off");
        self.len = at;
        self.count += 1;
        Some(total)
    }

    /// Makes room for `needed` bytes in all (at least doubling it).
    #[cold]
    fn grow(&mut self, needed: usize) {
        // What is zeroed here is a step past what the record needs (no further than the
        // capacity, while that holds the record), so each byte is zeroed about once whatever
        // the batch grows to; beyond the capacity the vector's own growth doubles it.
        let cap = self.buf.capacity();
        let room = if needed <= cap { (needed + GROW_STEP).min(cap) } else { needed + GROW_STEP };
        self.buf.resize(room, 0);
    }

    /// Bytes the batch can hold without its buffer being reallocated.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Bytes written so far, header included (uncompressed: what `batch.size` counts).
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True before the first record is appended.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.record_count() == 0
    }

    /// Records appended so far.
    #[inline]
    pub fn record_count(&self) -> i32 {
        self.count
    }

    /// The codec [`close`](Self::close) compresses with.
    #[inline]
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Back-patches batch length, last offset delta, base and max timestamp, record count and the
    /// CRC-32C, and returns the finished batch. An empty batch gets timestamps of
    /// [`NO_TIMESTAMP`] and a last offset delta of -1 (the engine never sends one).
    ///
    /// With a codec, the records section is compressed first (on this thread, into a reused
    /// scratch buffer). Should a codec ever fail, the batch goes out uncompressed with codec bits
    /// 0 rather than not at all.
    pub fn close(self) -> Vec<u8> {
        let mut buf = self.close_unsealed();
        patch_crc(&mut buf);
        buf
    }

    /// [`close`](Self::close) without the CRC: for a batch whose producer fields are written
    /// later ([`seal`] then computes the CRC once, over the final bytes).
    pub fn close_unsealed(self) -> Vec<u8> {
        let BatchWriter { mut buf, len, count, base_timestamp, max_timestamp, codec } = self;
        buf.truncate(len);
        if codec != Codec::None {
            SCRATCH.with(|scratch| {
                let scratch = &mut *scratch.borrow_mut();
                match compression::compress(codec, &buf[BATCH_HEADER_LEN..], scratch) {
                    Ok(()) => {
                        buf.truncate(BATCH_HEADER_LEN);
                        buf.extend_from_slice(scratch);
                    }
                    Err(e) => {
                        log::warn!(
                            "{} compression failed, sending the batch uncompressed: {}",
                            codec.name(),
                            e.0
                        );
                        let attrs = i16::from_be_bytes([buf[ATTRIBUTES_OFFSET], buf[ATTRIBUTES_OFFSET + 1]]);
                        put_i16_at(&mut buf, ATTRIBUTES_OFFSET, attrs & !attributes::COMPRESSION_MASK);
                    }
                }
            });
        }
        let batch_length = buf.len() - LOG_OVERHEAD;
        assert!(batch_length <= i32::MAX as usize, "batch of {batch_length} bytes exceeds the wire format");
        put_i32_at(&mut buf, BATCH_LENGTH_OFFSET, batch_length as i32);
        put_i32_at(&mut buf, LAST_OFFSET_DELTA_OFFSET, count - 1);
        put_i64_at(&mut buf, BASE_TIMESTAMP_OFFSET, base_timestamp);
        put_i64_at(&mut buf, MAX_TIMESTAMP_OFFSET, max_timestamp);
        put_i32_at(&mut buf, RECORD_COUNT_OFFSET, count);
        buf
    }
}

/// How much room a batch writer initializes at a time beyond what it needs now: small enough
/// for memset's vector loop (glibc switches to `rep stosb` from 2 KiB), large enough to be
/// done about once per ten records.
const GROW_STEP: usize = 1024;

/// Zig-zag encoding (a varint's and a varlong's are the same for what an `i32` holds).
#[inline(always)]
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Bytes of a record's header count and headers.
#[inline]
fn headers_size(headers: &[Header]) -> usize {
    let mut n = varlong_len(headers.len() as i64);
    for h in headers {
        n += varlong_len(h.key.len() as i64)
            + h.key.len()
            + nullable_len_size(h.value.as_ref().map(Vec::len))
            + h.value.as_ref().map_or(0, Vec::len);
    }
    n
}

/// Writes `v` as an unsigned varint at `b[at..]`; returns the position after it. One and two
/// bytes (a record's lengths and deltas, mostly) are written inline, longer ones out of line.
#[inline(always)]
fn put_uvarint_at(b: &mut [u8], at: usize, v: u64) -> usize {
    if v < 0x80 {
        b[at] = v as u8;
        at + 1
    } else if v < 0x4000 {
        b[at] = (v as u8) | 0x80;
        b[at + 1] = (v >> 7) as u8;
        at + 2
    } else {
        put_long_uvarint_at(b, at, v)
    }
}

#[cold]
#[inline(never)]
fn put_long_uvarint_at(b: &mut [u8], mut at: usize, mut v: u64) -> usize {
    while v >= 0x80 {
        b[at] = (v as u8) | 0x80;
        v >>= 7;
        at += 1;
    }
    b[at] = v as u8;
    at + 1
}

/// Writes a record's header count and headers at `b[at..]`; returns the position after them.
#[inline(never)]
fn put_headers_at(b: &mut [u8], mut at: usize, headers: &[Header]) -> usize {
    at = put_uvarint_at(b, at, zigzag(headers.len() as i64));
    for h in headers {
        at = put_uvarint_at(b, at, zigzag(h.key.len() as i64));
        b[at..at + h.key.len()].copy_from_slice(h.key.as_bytes());
        at += h.key.len();
        match &h.value {
            None => at = put_uvarint_at(b, at, zigzag(-1)),
            Some(v) => {
                at = put_uvarint_at(b, at, zigzag(v.len() as i64));
                b[at..at + v.len()].copy_from_slice(v);
                at += v.len();
            }
        }
    }
    at
}

/// Rewrites the producer id, epoch and base sequence of a closed batch and recomputes its CRC
/// (a retry after the producer epoch was bumped or sequences were reassigned).
///
/// # Panics
/// If `batch` is shorter than a batch header (it must come from [`BatchWriter::close`]).
pub fn rewrite_producer_fields(batch: &mut [u8], producer: ProducerFields) {
    set_producer_fields(batch, producer);
    patch_crc(batch);
}

/// Writes the producer id, epoch and base sequence of a closed batch, leaving its CRC stale:
/// [`seal`] it before it is sent.
///
/// # Panics
/// If `batch` is shorter than a batch header.
pub fn set_producer_fields(batch: &mut [u8], producer: ProducerFields) {
    assert!(batch.len() >= BATCH_HEADER_LEN, "not a closed record batch ({} bytes)", batch.len());
    put_i64_at(batch, PRODUCER_ID_OFFSET, producer.producer_id);
    put_i16_at(batch, PRODUCER_EPOCH_OFFSET, producer.producer_epoch);
    put_i32_at(batch, BASE_SEQUENCE_OFFSET, producer.base_sequence);
}

/// Sets the transactional bit of a closed batch's attributes, leaving its CRC stale: [`seal`]
/// it before it is sent.
///
/// # Panics
/// If `batch` is shorter than a batch header.
pub fn set_transactional(batch: &mut [u8]) {
    assert!(batch.len() >= BATCH_HEADER_LEN, "not a closed record batch ({} bytes)", batch.len());
    let at = ATTRIBUTES_OFFSET;
    let attrs = i16::from_be_bytes([batch[at], batch[at + 1]]) | attributes::TRANSACTIONAL;
    batch[at..at + 2].copy_from_slice(&attrs.to_be_bytes());
}

/// Computes and writes the CRC-32C of a closed batch (see [`BatchWriter::close_unsealed`]).
///
/// # Panics
/// If `batch` is shorter than a batch header.
pub fn seal(batch: &mut [u8]) {
    assert!(batch.len() >= BATCH_HEADER_LEN, "not a closed record batch ({} bytes)", batch.len());
    patch_crc(batch);
}

/// The record count of a closed batch (a cheap read of its header).
///
/// # Panics
/// If `batch` is shorter than a batch header.
#[inline]
pub fn batch_record_count(batch: &[u8]) -> i32 {
    get_i32_at(batch, RECORD_COUNT_OFFSET)
}

/// The base sequence of a closed batch (a cheap read of its header).
///
/// # Panics
/// If `batch` is shorter than a batch header.
#[inline]
pub fn batch_base_sequence(batch: &[u8]) -> i32 {
    get_i32_at(batch, BASE_SEQUENCE_OFFSET)
}

/// A decoded record batch (tests and the mock broker; the producer never decodes batches).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    /// Offset of the first record (0 in a Produce request; the broker assigns offsets).
    pub base_offset: i64,
    /// Leader epoch stamped by the broker; -1 from a producer.
    pub partition_leader_epoch: i32,
    /// The CRC-32C as stored (already verified).
    pub crc: u32,
    /// Batch attributes (see [`attributes`]).
    pub attributes: i16,
    /// Offset delta of the last record.
    pub last_offset_delta: i32,
    /// Timestamp of the first record; record timestamps are deltas from it.
    pub base_timestamp: i64,
    /// Largest record timestamp in the batch.
    pub max_timestamp: i64,
    /// Producer id, or [`NO_PRODUCER_ID`].
    pub producer_id: i64,
    /// Producer epoch, or [`NO_PRODUCER_EPOCH`].
    pub producer_epoch: i16,
    /// Sequence of the first record, or [`NO_SEQUENCE`].
    pub base_sequence: i32,
    /// The records, as many as the header's recordCount said.
    pub records: Vec<Record>,
}

/// A decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Record attributes (unused by Kafka, always 0 from us).
    pub attributes: i8,
    /// Timestamp minus the batch's base timestamp (may be negative).
    pub timestamp_delta: i64,
    /// Offset minus the batch's base offset.
    pub offset_delta: i32,
    /// The key; `None` is a null key.
    pub key: Option<Vec<u8>>,
    /// The value; `None` is a null value (a tombstone).
    pub value: Option<Vec<u8>>,
    /// The headers, in wire order.
    pub headers: Vec<Header>,
}

/// Decodes every batch in `bytes` (the Records field of a Produce request or Fetch response),
/// verifying magic and CRC-32C, and decompressing compressed batches (at most
/// [`DEFAULT_MAX_DECOMPRESSED`] bytes in all; see [`decode_batches_with_limit`]).
///
/// A truncated last batch is an error, not something to skip: a producer never sends partial
/// batches. Every length and count is checked against the input before anything is allocated
/// from it.
pub fn decode_batches(bytes: &[u8]) -> DecodeResult<Vec<RecordBatch>> {
    decode_batches_with_limit(bytes, DEFAULT_MAX_DECOMPRESSED)
}

/// [`decode_batches`] with a cap on the bytes all compressed batches together may decompress
/// to; more is [`DecodeError::DecompressedTooLarge`] (a decompression bomb), found before the
/// output grows past the cap.
pub fn decode_batches_with_limit(bytes: &[u8], max_decompressed: usize) -> DecodeResult<Vec<RecordBatch>> {
    let mut r = Reader::new(bytes);
    let mut out = Vec::new();
    let mut budget = max_decompressed;
    let mut scratch = Vec::new();
    while !r.is_empty() {
        out.push(decode_batch(&mut r, (&mut budget, max_decompressed), &mut scratch)?);
    }
    Ok(out)
}

/// Takes `len` bytes, reporting a length that claims more than the input holds.
fn take_len<'a>(r: &mut Reader<'a>, len: usize) -> DecodeResult<&'a [u8]> {
    if len > r.remaining() {
        return Err(DecodeError::LengthExceedsInput { length: len, remaining: r.remaining() });
    }
    r.take(len)
}

/// Checks that `count` items of at least `min` bytes each fit in what `r` has left.
fn check_count(r: &Reader<'_>, count: usize, min: usize) -> DecodeResult<()> {
    if count.saturating_mul(min) > r.remaining() {
        return Err(DecodeError::LengthExceedsInput { length: count, remaining: r.remaining() });
    }
    Ok(())
}

/// Decodes one batch's header and checks its CRC without decoding (or decompressing) its
/// records: `records` comes back empty, and the header's record count is returned beside it.
/// For a sink that only counts what it is sent (the mock broker in a load run).
pub fn decode_batch_header(bytes: &[u8]) -> DecodeResult<(RecordBatch, i32)> {
    let mut r = Reader::new(bytes);
    let (batch, count) = decode_batch_inner(&mut r, (&mut 0, 0), &mut Vec::new(), false)?;
    r.finish()?;
    Ok((batch, count))
}

/// `budget` is what is left of the decompression cap, and the cap itself (for the error).
fn decode_batch(
    r: &mut Reader<'_>,
    (budget, cap): (&mut usize, usize),
    scratch: &mut Vec<u8>,
) -> DecodeResult<RecordBatch> {
    decode_batch_inner(r, (budget, cap), scratch, true).map(|(b, _)| b)
}

fn decode_batch_inner(
    r: &mut Reader<'_>,
    (budget, cap): (&mut usize, usize),
    scratch: &mut Vec<u8>,
    with_records: bool,
) -> DecodeResult<(RecordBatch, i32)> {
    let base_offset = r.i64()?;
    let batch_length = r.i32()?;
    if batch_length < 0 {
        return Err(DecodeError::InvalidLength(batch_length.into()));
    }
    if (batch_length as usize) < BATCH_HEADER_LEN - LOG_OVERHEAD {
        return Err(DecodeError::InvalidValue { field: "batchLength", value: batch_length.into() });
    }
    let body = take_len(r, batch_length as usize)?;
    let mut b = Reader::new(body);
    let partition_leader_epoch = b.i32()?;
    let magic = b.i8()?;
    if magic != MAGIC_V2 {
        return Err(DecodeError::InvalidValue { field: "magic", value: magic.into() });
    }
    let crc = b.u32()?;
    // The CRC covers everything after itself: from the attributes to the end of the batch.
    let actual = crc32c::crc32c(&body[b.position()..]);
    if crc != actual {
        return Err(DecodeError::CrcMismatch { expected: crc, actual });
    }
    let attributes = b.i16()?;
    let compression = attributes & attributes::COMPRESSION_MASK;
    if compression > 4 {
        return Err(DecodeError::InvalidValue { field: "compression", value: compression.into() });
    }
    let last_offset_delta = b.i32()?;
    let base_timestamp = b.i64()?;
    let max_timestamp = b.i64()?;
    let producer_id = b.i64()?;
    let producer_epoch = b.i16()?;
    let base_sequence = b.i32()?;
    let count = b.i32()?;
    if count < 0 {
        return Err(DecodeError::InvalidValue { field: "recordCount", value: count.into() });
    }
    let mut header = RecordBatch {
        base_offset,
        partition_leader_epoch,
        crc,
        attributes,
        last_offset_delta,
        base_timestamp,
        max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        records: Vec::new(),
    };
    if !with_records {
        return Ok((header, count));
    }
    if compression != 0 {
        // The records section after the header is one compressed block.
        let compressed = &body[BATCH_HEADER_LEN - LOG_OVERHEAD..];
        compression::decompress(compression, compressed, scratch, *budget).map_err(|e| match e {
            DecodeError::DecompressedTooLarge { .. } => DecodeError::DecompressedTooLarge { limit: cap },
            e => e,
        })?;
        *budget -= scratch.len();
        b = Reader::new(scratch);
    }
    check_count(&b, count as usize, MIN_RECORD_LEN)?;
    let mut records = Vec::with_capacity(count as usize);
    for _ in 0..count {
        records.push(decode_record(&mut b)?);
    }
    b.finish()?;
    header.records = records;
    Ok((header, count))
}

/// A varint byte length followed by the bytes; -1 is null.
fn nullable_varint_bytes<'a>(r: &mut Reader<'a>) -> DecodeResult<Option<&'a [u8]>> {
    match r.varint()? {
        -1 => Ok(None),
        n if n < 0 => Err(DecodeError::InvalidLength(n.into())),
        n => take_len(r, n as usize).map(Some),
    }
}

fn decode_record(r: &mut Reader<'_>) -> DecodeResult<Record> {
    let len = r.varint()?;
    if len < 0 {
        return Err(DecodeError::InvalidLength(len.into()));
    }
    // The record's fields must use exactly the bytes its length prefix claims.
    let mut rr = Reader::new(take_len(r, len as usize)?);
    let attributes = rr.i8()?;
    let timestamp_delta = rr.varlong()?;
    let offset_delta = rr.varint()?;
    let key = nullable_varint_bytes(&mut rr)?.map(<[u8]>::to_vec);
    let value = nullable_varint_bytes(&mut rr)?.map(<[u8]>::to_vec);
    let header_count = rr.varint()?;
    if header_count < 0 {
        return Err(DecodeError::InvalidLength(header_count.into()));
    }
    check_count(&rr, header_count as usize, MIN_HEADER_LEN)?;
    let mut headers = Vec::with_capacity(header_count as usize);
    for _ in 0..header_count {
        let key = nullable_varint_bytes(&mut rr)?.ok_or(DecodeError::UnexpectedNull("header key"))?;
        let key = std::str::from_utf8(key).map_err(|_| DecodeError::InvalidUtf8)?.to_owned();
        let value = nullable_varint_bytes(&mut rr)?.map(<[u8]>::to_vec);
        headers.push(Header { key, value });
    }
    rr.finish()?;
    Ok(Record { attributes, timestamp_delta, offset_delta, key, value, headers })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRODUCER: ProducerFields = ProducerFields { producer_id: 7, producer_epoch: 3, base_sequence: 100 };

    #[test]
    fn new_writes_header_placeholder_and_reuses_capacity() {
        let buf = Vec::with_capacity(4096);
        let ptr = buf.as_ptr();
        let w = BatchWriter::new(buf, PRODUCER, attributes::TRANSACTIONAL);
        assert_eq!(w.len(), BATCH_HEADER_LEN);
        assert!(w.is_empty());
        let batch = w.close();
        assert_eq!(batch.as_ptr(), ptr, "the caller's buffer is reused, not reallocated");
        assert_eq!(&batch[0..8], &[0; 8], "baseOffset 0");
        assert_eq!(&batch[12..16], &[0xff; 4], "partitionLeaderEpoch -1");
        assert_eq!(batch[MAGIC_OFFSET], 2);
        assert_eq!(&batch[21..23], &[0x00, 0x10], "attributes");
        assert_eq!(batch_base_sequence(&batch), 100);
        assert_eq!(batch_record_count(&batch), 0);

        // A dirty buffer handed back in comes out as a fresh header.
        let w = BatchWriter::new(vec![0xaa; 200], PRODUCER, 0);
        assert_eq!(w.len(), BATCH_HEADER_LEN);
    }

    #[test]
    fn empty_batch_closes_with_no_timestamps() {
        let batch = BatchWriter::new(Vec::new(), ProducerFields::NONE, 0).close();
        let decoded = decode_batches(&batch).unwrap();
        assert_eq!(decoded.len(), 1);
        let b = &decoded[0];
        assert!(b.records.is_empty());
        assert_eq!((b.base_timestamp, b.max_timestamp, b.last_offset_delta), (-1, -1, -1));
        assert_eq!((b.producer_id, b.producer_epoch, b.base_sequence), (-1, -1, -1));
    }

    #[test]
    fn append_returns_exact_size_and_tracks_timestamps() {
        let mut w = BatchWriter::new(Vec::new(), PRODUCER, 0);
        let headers = [Header::new("a", "b"), Header { key: "n".into(), value: None }];
        let mut total = BATCH_HEADER_LEN;
        for (i, ts) in [1_000i64, 900, i64::MAX, i64::MIN, 1_001].into_iter().enumerate() {
            let before = w.len();
            let n = w.append(ts, Some(b"k"), None, &headers);
            assert_eq!(w.len() - before, n, "record {i}");
            assert!(n <= record_size_upper_bound(Some(b"k"), None, &headers));
            total += n;
        }
        assert_eq!(w.record_count(), 5);
        let batch = w.close();
        assert_eq!(batch.len(), total);
        let b = &decode_batches(&batch).unwrap()[0];
        assert_eq!((b.base_timestamp, b.max_timestamp, b.last_offset_delta), (1_000, i64::MAX, 4));
        let deltas: Vec<i64> = b.records.iter().map(|r| r.timestamp_delta).collect();
        assert_eq!(deltas, [0, -100, i64::MAX - 1_000, i64::MIN.wrapping_sub(1_000), 1]);
        let offsets: Vec<i32> = b.records.iter().map(|r| r.offset_delta).collect();
        assert_eq!(offsets, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn upper_bound_is_exact_but_for_the_worst_case_deltas() {
        // Smallest record: 1 length + 1 attrs + 1 ts + 1 offset + 1 key + 1 value + 1 headers = 7,
        // and the bound adds 9 + 4 bytes for the widest deltas.
        assert_eq!(record_size_upper_bound(None, None, &[]), MIN_RECORD_LEN + 9 + 4);
        let mut w = BatchWriter::new(Vec::new(), ProducerFields::NONE, 0);
        assert_eq!(w.append(0, None, None, &[]), MIN_RECORD_LEN);
    }

    #[test]
    fn decode_rejects_wrong_magic_before_crc() {
        let mut batch = BatchWriter::new(Vec::new(), ProducerFields::NONE, 0).close();
        batch[MAGIC_OFFSET] = 1;
        assert_eq!(decode_batches(&batch), Err(DecodeError::InvalidValue { field: "magic", value: 1 }));
    }

    #[test]
    fn decode_rejects_unknown_codecs() {
        let mut w = BatchWriter::new(Vec::new(), ProducerFields::NONE, 5);
        w.append(0, None, Some(b"v"), &[]);
        let batch = w.close();
        assert_eq!(decode_batches(&batch), Err(DecodeError::InvalidValue { field: "compression", value: 5 }));
    }

    #[test]
    fn compressed_close_keeps_header_and_rewrite_recomputes_crc() {
        for id in 1..=4 {
            let mut w = BatchWriter::new(Vec::new(), PRODUCER, id | attributes::TRANSACTIONAL);
            for i in 0..50 {
                w.append(1_000 + i, Some(b"key"), Some(&[b'v'; 100]), &[]);
            }
            let uncompressed = w.len();
            let mut batch = w.close();
            assert!(batch.len() < uncompressed, "codec {id}: {} >= {uncompressed}", batch.len());
            assert_eq!(get_i32_at(&batch, BATCH_LENGTH_OFFSET) as usize, batch.len() - LOG_OVERHEAD);
            assert_eq!(batch_record_count(&batch), 50);
            let fields = ProducerFields { producer_id: 9, producer_epoch: 1, base_sequence: 77 };
            rewrite_producer_fields(&mut batch, fields);
            let b = &decode_batches(&batch).unwrap()[0];
            assert_eq!(b.attributes, id | attributes::TRANSACTIONAL);
            assert_eq!((b.producer_id, b.producer_epoch, b.base_sequence), (9, 1, 77));
            assert_eq!((b.base_timestamp, b.max_timestamp, b.last_offset_delta), (1_000, 1_049, 49));
            assert_eq!(b.records.len(), 50);
            assert_eq!(b.records[49].value.as_deref(), Some(&[b'v'; 100][..]));
        }
    }

    #[test]
    fn header_only_decode_matches_the_full_decode_and_checks_the_crc() {
        for id in [0, 3] {
            let mut w = BatchWriter::new(Vec::new(), PRODUCER, id);
            for i in 0..20 {
                w.append(5_000 + i, None, Some(&[b'x'; 30]), &[]);
            }
            let mut batch = w.close();
            let full = decode_batches(&batch).unwrap().remove(0);
            let (header, count) = decode_batch_header(&batch).unwrap();
            assert_eq!(count, 20);
            assert_eq!(RecordBatch { records: full.records.clone(), ..header }, full);
            let last = batch.len() - 1;
            batch[last] ^= 1;
            assert!(matches!(decode_batch_header(&batch), Err(DecodeError::CrcMismatch { .. })));
        }
    }

    #[test]
    fn decompression_budget_spans_batches() {
        let mut bytes = Vec::new();
        for _ in 0..3 {
            let mut w = BatchWriter::new(Vec::new(), ProducerFields::NONE, 4);
            w.append(0, None, Some(&[0u8; 1000]), &[]);
            bytes.extend_from_slice(&w.close());
        }
        assert_eq!(decode_batches_with_limit(&bytes, 3 * 1100).unwrap().len(), 3);
        assert_eq!(
            decode_batches_with_limit(&bytes, 2500),
            Err(DecodeError::DecompressedTooLarge { limit: 2500 })
        );
    }

    #[test]
    fn decode_rejects_record_length_that_disagrees_with_fields() {
        let mut w = BatchWriter::new(Vec::new(), ProducerFields::NONE, 0);
        w.append(0, None, Some(b"v"), &[]);
        let mut batch = w.close();
        // The record is 7 bytes after its length prefix; claim 6 so one field byte is left out.
        assert_eq!(batch[BATCH_HEADER_LEN], 7 << 1);
        batch[BATCH_HEADER_LEN] = 6 << 1;
        patch_crc(&mut batch);
        assert!(matches!(decode_batches(&batch), Err(DecodeError::UnexpectedEof { .. })));
        // Claim 8: the record's fields leave a byte over.
        batch[BATCH_HEADER_LEN] = 8 << 1;
        batch.push(0);
        let len = (batch.len() - LOG_OVERHEAD) as i32;
        put_i32_at(&mut batch, BATCH_LENGTH_OFFSET, len);
        patch_crc(&mut batch);
        assert_eq!(decode_batches(&batch), Err(DecodeError::TrailingBytes(1)));
    }
}
