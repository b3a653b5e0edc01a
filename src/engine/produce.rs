//! Produce: ready batches out and their outcomes back. The room decides which partitions are
//! ready (linger, retry backoff, a full batch, a flush), expires batches past
//! `delivery.timeout.ms`, builds Produce requests per broker (`drain_node`: one batch per
//! partition per request, within `max.request.size` and
//! `max.in.flight.requests.per.connection`), reads their responses, retries in sequence order or
//! fails, and completes each record exactly once (`complete_batch`).
//!
//! It has no state of its own beyond the batches (`Engine::topics`) and each connection's
//! Produce requests in flight. A batch gets its sequence number when drained; what happens to
//! sequences on an epoch bump is `idempotence`'s, which this room only asks for
//! (`Idempotence::bump_pending`). Opening and closing connections is `connection`'s.

use std::sync::Arc;
use std::time::Instant;

use crate::config::Acks;
use crate::error::ProduceError;
use crate::io::SendBuf;
use crate::metrics::Metrics;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::header::RequestHeader;
use crate::protocol::messages::ProduceWriter;
use crate::protocol::record_batch::{seal, set_producer_fields, set_transactional, ProducerFields};
use crate::protocol::version::ApiKey;
use crate::record::RecordMetadata;

use super::accumulator::{Batch, TopicMeta};
use super::connection::ConnState;
use super::idempotence::{next_sequence, sent_epoch, sequence_after};
use super::metadata::LeaderHint;
use super::requests::{InFlight, Kind};
use super::{accumulator, Engine, Transmit};

#[derive(Debug)]
pub(crate) struct InFlightBatch {
    pub(super) topic: usize,
    pub(super) partition: i32,
    pub(super) batch: Batch,
}

/// Bounds on what the engine keeps for reuse.
pub(super) const MAX_SPARE_BUFFERS: usize = 64;

/// What the spare batch buffers may hold in all (64 buffers of a 16 KiB batch's size).
pub(super) const SPARE_BATCH_BYTES: usize = 64 * (2 * 16_384 + 1024);

impl Engine {
    pub(super) fn poll_partitions(&mut self, now: Instant) {
        let force = self.closing || self.flushes.waiting() || self.memory.has_waiters();
        let linger = self.cfg.linger;
        let delivery_timeout = self.cfg.delivery_timeout;
        let can_produce =
            !self.cfg.enable_idempotence || (self.idem.producer.is_some() && !self.idem.bump_pending);
        // Nodes that have something ready to send, in first-seen order.
        let mut ready_nodes = std::mem::take(&mut self.spare.ready_nodes);
        ready_nodes.clear();
        let mut need_metadata = false;
        for ti in 0..self.topics.len() {
            if self.topics[ti].meta != TopicMeta::Known {
                continue;
            }
            let ready_at = self.ready_at(ti);
            for pi in 0..self.topics[ti].partitions.len() {
                // Expire what waited too long (never what is in flight: its fate is unknown).
                loop {
                    let part = &self.topics[ti].partitions[pi];
                    let Some(head) = part.queue.front() else { break };
                    let deadline = head.created + delivery_timeout;
                    if deadline > now {
                        self.wake_at(deadline);
                        break;
                    }
                    let topic = &mut self.topics[ti];
                    let mut b = topic.partitions[pi].queue.pop_front().expect("head exists");
                    b.close(&mut topic.compression_ratio);
                    let e = ProduceError::DeliveryTimeout {
                        elapsed: now.saturating_duration_since(b.created),
                        last_error: b.last_error.clone(),
                    };
                    self.fail_sequenced(ti, pi as i32, b, e, now);
                }
                let part = &self.topics[ti].partitions[pi];
                let Some(head) = part.queue.front() else { continue };
                if part.leader < 0 {
                    need_metadata = true;
                    continue;
                }
                if let Some(t) = head.retry_at {
                    if t > now {
                        self.wake_at(t);
                        continue;
                    }
                }
                if part.must_wait(head, self.cfg.enable_idempotence) || self.txn_holds(ti, pi) {
                    continue;
                }
                let ready = part.head_ready(head, ready_at, linger, force, now);
                let leader = part.leader;
                if !ready {
                    self.wake_at(head.created + linger);
                } else if !ready_nodes.contains(&leader) {
                    ready_nodes.push(leader);
                }
            }
        }
        if need_metadata && self.metadata.due.is_none_or(|d| d > now + self.cfg.retry_backoff) {
            self.metadata.due = Some(now + self.cfg.retry_backoff);
            self.wake_at(now + self.cfg.retry_backoff);
        }
        if !can_produce {
            self.spare.ready_nodes = ready_nodes;
            return;
        }
        for &node in &ready_nodes {
            match self.net.conns.get(&node).map(|c| &c.state) {
                Some(ConnState::Ready(_)) => self.drain_node(node, force, now),
                Some(_) => {}
                None => self.connect_leader(node, now),
            }
        }
        self.spare.ready_nodes = ready_nodes;
    }

    /// Builds Produce requests for `node` from its partitions' ready batches, one batch per
    /// partition per request (as the broker requires), up to `max.request.size` and
    /// `max.in.flight.requests.per.connection`.
    fn drain_node(&mut self, node: i32, force: bool, now: Instant) {
        let Some(versions) = self.versions(node) else { return };
        let linger = self.cfg.linger;
        let idempotent = self.cfg.enable_idempotence;
        loop {
            let Some(conn) = self.net.conns.get(&node) else { return };
            if conn.produce_in_flight >= self.cfg.max_in_flight {
                return;
            }
            if let Some(until) = conn.throttled_until.filter(|&t| t > now) {
                self.wake_at(until);
                return;
            }
            let mut picked = self.spare.in_flight.pop().unwrap_or_default();
            let mut size = 64usize;
            'topics: for ti in 0..self.topics.len() {
                let tsize = self.topics[ti].name.len() + 16;
                let ready_at = self.ready_at(ti);
                let mut first_of_topic = true;
                let topic = &mut self.topics[ti];
                for pi in 0..topic.partitions.len() {
                    let part = &mut topic.partitions[pi];
                    if part.leader != node {
                        continue;
                    }
                    let Some(head) = part.queue.front() else { continue };
                    if head.retry_at.is_some_and(|t| t > now)
                        || part.must_wait(head, idempotent)
                        || self.txn.as_ref().is_some_and(|t| t.holds(ti, pi))
                    {
                        continue;
                    }
                    if !part.head_ready(head, ready_at, linger, force, now) {
                        continue;
                    }
                    // Closed (and compressed) first, so the request is sized by what is sent.
                    let head = part.queue.front_mut().expect("head exists");
                    if head.is_open() {
                        part.grown = head.size();
                    }
                    head.close(&mut topic.compression_ratio);
                    let bsize = head.size() + 16 + if first_of_topic { tsize } else { 0 };
                    if !picked.is_empty() && size + bsize > self.cfg.max_request_size {
                        break 'topics;
                    }
                    let mut batch = part.queue.pop_front().expect("head exists");
                    if batch.sequence.is_none() {
                        let seq = part.next_sequence;
                        part.next_sequence = next_sequence(seq, batch.record_count());
                        batch.sequence = Some(seq);
                    }
                    if let (true, Some((id, epoch)), false) =
                        (self.cfg.enable_idempotence, self.idem.producer, batch.unresolved)
                    {
                        let fields = ProducerFields {
                            producer_id: id,
                            producer_epoch: epoch,
                            base_sequence: batch.sequence.unwrap_or(0),
                        };
                        set_producer_fields(batch.bytes_mut(), fields);
                    }
                    if self.txn.is_some() {
                        set_transactional(batch.bytes_mut());
                    }
                    // The one CRC over the batch's final bytes (closing leaves it to here).
                    seal(batch.bytes_mut());
                    part.in_flight += 1;
                    size += bsize;
                    first_of_topic = false;
                    picked.push(InFlightBatch { topic: ti, partition: pi as i32, batch });
                }
            }
            if picked.is_empty() {
                self.spare.in_flight.push(picked);
                return;
            }
            self.send_produce(node, versions.produce, picked, now);
        }
    }

    /// The uncompressed bytes at which topic `ti`'s batches are full and ready to send.
    fn ready_at(&self, ti: usize) -> usize {
        let ratio = self.topics[ti].compression_ratio;
        accumulator::batch_limit(self.cfg.batch_size, self.cfg.max_request_size, self.cfg.codec(), ratio)
    }

    fn send_produce(&mut self, node: i32, version: i16, picked: Vec<InFlightBatch>, now: Instant) {
        let acks = self.cfg.acks;
        let (version, txn_id) = match &self.txn {
            None => (version, None),
            Some(t) => t.produce(version),
        };
        let mut buf = self.net.spare_requests.pop().unwrap_or_default();
        buf.clear();
        let Some(conn) = self.net.conns.get_mut(&node) else { return };
        let correlation_id = conn.next_correlation;
        conn.next_correlation = conn.next_correlation.wrapping_add(1);
        let header = RequestHeader {
            api_key: ApiKey::Produce,
            api_version: version,
            correlation_id,
            client_id: Some(&self.cfg.client_id),
        };
        let n_topics = 1 + picked.windows(2).filter(|w| w[0].topic != w[1].topic).count();
        let timeout_ms = self.cfg.request_timeout.as_millis().min(i32::MAX as u128) as i32;
        // The batches are not copied: each is spliced in where its records go, and the driver
        // writes it from where it lies.
        let SendBuf { bytes: head, spliced } = &mut buf;
        let mut w = ProduceWriter::begin(head, header, txn_id, acks.as_i16(), timeout_ms, n_topics);
        let mut i = 0;
        let mut bytes = 0u64;
        while i < picked.len() {
            let ti = picked[i].topic;
            let n = picked[i..].iter().take_while(|b| b.topic == ti).count();
            w.topic(&self.topics[ti].name, n);
            for b in &picked[i..i + n] {
                let at = w.partition_spliced(b.partition, b.batch.size());
                spliced.push((at, b.batch.shared_bytes()));
                bytes += b.batch.size() as u64;
            }
            w.end_topic();
            i += n;
        }
        w.finish();
        for b in &picked {
            self.hist.batches.push((b.batch.records.len() as u64, b.batch.size() as u64));
        }
        self.metrics.record(&mut self.hist, false);
        Metrics::add(&self.metrics.batches_sent, picked.len() as u64);
        Metrics::add(&self.metrics.bytes_sent, bytes);
        Metrics::add(&self.metrics.requests_sent, 1);
        conn.produce_in_flight += 1;
        if acks == Acks::None {
            conn.unsent.push_back(Some(picked));
        } else {
            let deadline = now + self.cfg.request_timeout;
            conn.in_flight.push_back(InFlight {
                correlation_id,
                deadline,
                kind: Kind::Produce { version, batches: picked },
            });
            conn.unsent.push_back(None);
        }
        self.outbox.push_back(Transmit::Send { node, buf });
        self.metrics_in_flight();
    }

    pub(super) fn handle_produce(
        &mut self,
        node: i32,
        mut batches: Vec<InFlightBatch>,
        r: crate::protocol::messages::ProduceResponse,
        now: Instant,
    ) {
        for mut b in batches.drain(..) {
            self.topics[b.topic].partitions[b.partition as usize].in_flight -= 1;
            b.batch.unresolved = false; // answered: its fate is known
            let name = &self.topics[b.topic].name;
            let pr = r
                .responses
                .iter()
                .filter(|t| t.name.as_str() == &**name)
                .flat_map(|t| t.partitions.iter())
                .find(|p| p.index == b.partition);
            let Some(pr) = pr else {
                let msg = format!("Produce response has no result for {}-{}", name, b.partition);
                self.retry_or_fail(b.topic, b.partition, b.batch, ErrorCode::NETWORK_EXCEPTION, msg, now);
                continue;
            };
            let code = pr.error_code;
            if code.is_ok() || code == ErrorCode::DUPLICATE_SEQUENCE_NUMBER {
                if let Some(seq) = b.batch.sequence {
                    let part = &mut self.topics[b.topic].partitions[b.partition as usize];
                    let end = next_sequence(seq, b.batch.record_count());
                    if part.acked_next.is_none_or(|n| sequence_after(end, n)) {
                        part.acked_next = Some(end);
                    }
                }
                self.complete_batch(
                    b.topic,
                    b.partition,
                    b.batch,
                    Ok((pr.base_offset, pr.log_append_time_ms)),
                    now,
                );
                continue;
            }
            let msg = match &pr.error_message {
                Some(m) => format!("{code:?}: {m}"),
                None => format!("{code:?}"),
            };
            // Not the next sequence the broker expects (Java's `isNextSequence`): a batch of
            // this partition before it has not been acknowledged. That one is in flight (maybe
            // to another leader, its answer still to come), waits for a retry, or failed for
            // good (and asked for the epoch bump that will resequence this one).
            let part = &self.topics[b.topic].partitions[b.partition as usize];
            let expected = part.acked_next.unwrap_or(0);
            let earlier_unacked = b.batch.sequence.is_some_and(|s| sequence_after(s, expected));
            if matches!(code, ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER | ErrorCode::UNKNOWN_PRODUCER_ID)
                && earlier_unacked
            {
                // Out of sequence only because of the earlier batch (UNKNOWN_PRODUCER_ID when
                // that one was the partition's first): retry it behind that one, as Java does,
                // without an epoch bump of its own.
                self.retry_or_fail(b.topic, b.partition, b.batch, code, msg, now);
            } else if code == ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER
                && self.cfg.enable_idempotence
                && b.batch.sequence == Some(expected)
                && !b.batch.may_be_written
            {
                // The batch the broker should have taken next, refused: a real gap (the broker
                // lost what it had acknowledged, e.g. after an unclean leader election). The
                // refusal proves it was not written, so as Java's idempotent producer does, bump
                // the epoch and retry it (within retries and delivery.timeout.ms) rather than
                // fail it: the bump resequences it ahead of the partition's batches behind it.
                // One an earlier attempt of which may have been written fails below instead: the
                // gap may be the broker forgetting it, and a retry could write it twice.
                self.idem.bump_pending = true;
                self.retry_or_fail(b.topic, b.partition, b.batch, code, msg, now);
            } else if matches!(code, ErrorCode::UNKNOWN_PRODUCER_ID | ErrorCode::INVALID_PRODUCER_EPOCH)
                && self.cfg.enable_idempotence
            {
                // The broker lost (or fenced) our producer state: bump the epoch, resequence,
                // retry.
                self.idem.bump_pending = true;
                self.retry_or_fail(b.topic, b.partition, b.batch, code, msg, now);
            } else if code.is_retriable() {
                let hint = pr.current_leader.map(|l| LeaderHint {
                    leader: l.leader_id,
                    epoch: l.leader_epoch,
                    endpoint: r.node_endpoint(l.leader_id).map(|e| (e.host.as_str(), e.port)),
                });
                self.retry_to_leader(b.topic, b.partition, node, b.batch, code, msg, hint, now);
            } else if code == ErrorCode::MESSAGE_TOO_LARGE && b.batch.record_count() > 1 {
                // As Java: split the batch in two and send the halves (keeping its sequence
                // range, so later batches stay in order); a single record fails below.
                match b.batch.split() {
                    Ok((first, second)) => {
                        // As Java: the estimate that made the batch too large starts over.
                        let ratio = &mut self.topics[b.topic].compression_ratio;
                        *ratio = ratio.max(1.0);
                        self.retry_or_fail(b.topic, b.partition, second, code, msg.clone(), now);
                        self.retry_or_fail(b.topic, b.partition, first, code, msg, now);
                    }
                    Err(batch) => {
                        let e = ProduceError::Broker { code, message: pr.error_message.clone() };
                        self.fail_sequenced(b.topic, b.partition, *batch, e, now);
                    }
                }
            } else {
                let e = ProduceError::Broker { code, message: pr.error_message.clone() };
                self.fail_sequenced(b.topic, b.partition, b.batch, e, now);
            }
        }
        if self.spare.in_flight.len() < accumulator::MAX_SPARE_LISTS {
            self.spare.in_flight.push(batches);
        }
    }

    /// A batch came back with a retriable problem (or its connection died): retry it in order,
    /// or fail it if `delivery.timeout.ms` or `retries` ran out.
    pub(super) fn retry_or_fail(
        &mut self,
        ti: usize,
        partition: i32,
        mut batch: Batch,
        err: ErrorCode,
        msg: String,
        now: Instant,
    ) {
        let elapsed = now.saturating_duration_since(batch.created);
        if elapsed >= self.cfg.delivery_timeout {
            let e = ProduceError::DeliveryTimeout { elapsed, last_error: Some(msg) };
            self.fail_sequenced(ti, partition, batch, e, now);
            return;
        }
        if batch.attempts >= self.cfg.retries {
            let e = ProduceError::Broker { code: err, message: Some(msg) };
            self.fail_sequenced(ti, partition, batch, e, now);
            return;
        }
        batch.attempts += 1;
        batch.last_error = Some(msg);
        // Only the broker's sequence checks and its size check refuse a batch before appending
        // it; anything else (a lost or malformed answer included) leaves its fate open.
        if !matches!(
            err,
            ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER
                | ErrorCode::UNKNOWN_PRODUCER_ID
                | ErrorCode::INVALID_PRODUCER_EPOCH
                | ErrorCode::MESSAGE_TOO_LARGE
        ) {
            batch.may_be_written = true;
        }
        let backoff =
            self.exponential_backoff(self.cfg.retry_backoff, self.cfg.retry_backoff_max, batch.attempts);
        batch.retry_at = Some(now + backoff);
        Metrics::add(&self.metrics.retries, 1);
        // As Java's Sender does, one line per batch retried: during an outage it is what says
        // why records are late.
        log::warn!(
            "{}-{partition}: {}; retrying {} records (attempt {}) in {backoff:?}",
            self.topics[ti].name,
            batch.last_error.as_deref().unwrap_or(""),
            batch.records.len(),
            batch.attempts,
        );
        if err.invalidates_metadata() {
            self.metadata.due = Some(now);
        }
        let part = &mut self.topics[ti].partitions[partition as usize];
        // Keep the queue in sequence order: retries go before everything sent after them. A
        // batch kept from an older epoch (unresolved across a bump) goes before the new epoch's.
        let seq = batch.sequence;
        let mine_epoch = sent_epoch(&batch);
        let pos = part.queue.iter().position(|b| match (b.sequence, seq) {
            (None, _) => true,
            (Some(s), Some(mine)) => {
                let e = sent_epoch(b);
                e > mine_epoch || (e == mine_epoch && s.wrapping_sub(mine) > 0)
            }
            (Some(_), None) => false,
        });
        match pos {
            Some(i) => part.queue.insert(i, batch),
            None => part.queue.push_back(batch),
        }
    }

    /// Fails a batch for good. If it carried an idempotent sequence, later batches of its
    /// partition would now be out of sequence: bump the epoch (KIP-360) so they can go on.
    fn fail_sequenced(&mut self, ti: usize, partition: i32, batch: Batch, e: ProduceError, now: Instant) {
        if self.cfg.enable_idempotence && batch.sequence.is_some() {
            self.idem.bump_pending = true;
        }
        self.complete_batch(ti, partition, batch, Err(e), now);
    }

    pub(super) fn complete_batch(
        &mut self,
        ti: usize,
        partition: i32,
        mut batch: Batch,
        result: Result<(i64, i64), ProduceError>,
        now: Instant,
    ) {
        if let (Err(e), true) = (&result, self.txn.is_some()) {
            self.txn_record_failed(e);
        }
        let topic: Arc<str> = self.topics[ti].name.clone();
        let n = batch.records.len() as u64;
        // Latency per run of records taken in the same loop turn (they share `enqueued`), and
        // flush counts per run of the same generation: a batch is one or a few runs of each.
        let mut latency = (now, 0u64);
        let mut generation = (0u32, 0usize);
        for r in &batch.records {
            if r.enqueued != latency.0 {
                self.push_latency(latency, now);
                latency = (r.enqueued, 0);
            }
            latency.1 += 1;
            if r.generation != generation.0 {
                self.flushes.finish_n(generation.0, generation.1);
                generation = (r.generation, 0);
            }
            generation.1 += 1;
        }
        self.push_latency(latency, now);
        self.flushes.finish_n(generation.0, generation.1);
        // A flush returns only once the histograms hold its records.
        self.metrics.record(&mut self.hist, self.flushes.waiting());
        match &result {
            Ok(_) => Metrics::add(&self.metrics.records_sent, n),
            Err(_) => Metrics::add(&self.metrics.record_errors, n),
        }
        // Release the memory first: a callback may send again (and should find the space), and
        // whoever watches the buffer sees it free once the outcome is known.
        self.memory.release(batch.reserved);
        // In place: the completions are taken out one by one, the list is cleared after (a
        // completion taken costs nothing to drop).
        for (i, r) in batch.records.iter_mut().enumerate() {
            let (topic, result) = (&topic, &result);
            r.completion.complete_in_place(|| match result {
                Ok((base, log_append_time)) => Ok(RecordMetadata {
                    topic: topic.clone(),
                    partition,
                    offset: if *base >= 0 { base + i as i64 } else { -1 },
                    timestamp: if *log_append_time >= 0 { *log_append_time } else { r.timestamp },
                    serialized_key_size: r.key_size,
                    serialized_value_size: r.value_size,
                }),
                Err(e) => Err(e.clone()),
            });
        }
        batch.records.clear();
        if self.spare.records.len() < MAX_SPARE_BUFFERS {
            self.spare.records.push(batch.records);
        }
        if let Some(buf) = batch.data.into_spare() {
            // Keep buffers of about the size batches have now (compressed topics' batches grow
            // with their ratio), and no more of them than SPARE_BATCH_BYTES holds.
            let limit = accumulator::batch_limit(
                self.cfg.batch_size,
                self.cfg.max_request_size,
                self.cfg.codec(),
                self.topics[ti].compression_ratio,
            ) * 2
                + 1024;
            let keep = (SPARE_BATCH_BYTES / limit).clamp(4, MAX_SPARE_BUFFERS);
            // Only a buffer no request still holds (see `on_sent`) can be written again.
            if self.spare.batches.len() < keep && buf.capacity() <= limit {
                self.spare.batches.push(buf);
            }
        }
    }

    /// `run.1` records taken at `run.0` completed at `now`: their latency, to be recorded.
    #[inline]
    fn push_latency(&mut self, run: (Instant, u64), now: Instant) {
        if run.1 > 0 {
            let us = now.saturating_duration_since(run.0).as_micros() as u64;
            self.hist.latency.push((us, run.1));
        }
    }

    pub(super) fn metrics_in_flight(&self) {
        let n: usize = self.net.conns.values().map(|c| c.produce_in_flight).sum();
        self.metrics.in_flight_requests.store(n as u64, std::sync::atomic::Ordering::Relaxed);
    }
}
