//! The producer engine, sans-IO: records, `now` and response bytes go in; connection requests,
//! request bytes and deadlines come out. It owns the accumulator, the partitioner, the cluster
//! metadata, the connections' protocol state (version negotiation, in-flight requests,
//! correlation ids), retries with backoff, and idempotent sequencing. It never touches a socket
//! or a clock: the sender thread (`crate::sender`) moves bytes and tells it the time.
//!
//! Driving it: [`Engine::append`] each record, call [`Engine::poll`] once per loop turn, take
//! [`Transmit`]s with [`Engine::poll_transmit`], report what the network did with
//! `on_connected` / `on_frame` / `on_sent` / `on_closed`, and sleep no longer than
//! [`Engine::poll_timeout`].

pub mod accumulator;
pub mod partitioner;
#[cfg(test)]
mod security_tests;
#[cfg(test)]
mod sim_tests;

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Acks, ProducerConfig};
use crate::delivery::Completion;
use crate::error::ProduceError;
use crate::memory::BufferMemory;
use crate::metrics::Metrics;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::header::{peek_correlation_id, RequestHeader};
use crate::protocol::messages::api_versions::decode_api_versions_response;
use crate::protocol::messages::{
    decode_response, encode_request, ApiVersionsRequest, InitProducerIdRequest, MetadataRequest,
    MetadataResponse, ProduceRequest, ProduceWriter,
};
use crate::protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use crate::protocol::record_batch::{seal, set_producer_fields, ProducerFields};
use crate::protocol::version::{negotiate, NoCommonVersion};
use crate::protocol::version::{ApiKey, NegotiatedVersions, VersionRange};
use crate::record::{Header, PartitionInfo, RecordMetadata};
use crate::security::sasl::{SaslSession, SaslStep};

use accumulator::{Batch, BatchData, PartitionState, TopicMeta, TopicState};
use partitioner::{partition_for_key, Partitioner, Rng};

/// A record handed over by `send`, already serialized.
#[derive(Debug)]
pub(crate) struct Pending {
    pub topic: Arc<str>,
    pub partition: Option<i32>,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// The record's own timestamp; `None` takes the sender's clock when it takes the record.
    pub timestamp: Option<i64>,
    pub headers: Vec<Header>,
    /// `buffer.memory` bytes reserved for it (its worst-case size in a batch).
    pub reserved: usize,
    /// When the sender took the record (set by `Engine::append`): linger, delivery timeout and
    /// the metadata wait count from here, normally microseconds after `send`.
    pub enqueued: Instant,
    pub completion: Completion,
    /// The flush generation the engine counted the record in (set by `Engine::append`).
    pub generation: u32,
}

/// Spent records (`accumulator::SpentRecord`) handed back at a time. Sent by value: a bundle
/// allocates nothing.
pub(crate) const SPENT_BUNDLE: usize = 8;
/// A bundle of spent buffers (see `Spare::spend`).
pub(crate) type SpentBundle = [accumulator::SpentRecord; SPENT_BUNDLE];

/// What the engine asks of the network.
#[derive(Debug)]
pub enum Transmit {
    /// Open a connection to `node` at `addr`.
    Connect { node: i32, addr: SocketAddr },
    /// Write these bytes (one or more whole requests) to `node`'s connection.
    Send { node: i32, buf: Vec<u8> },
    /// Close `node`'s connection; the engine has already forgotten it.
    Close { node: i32 },
}

/// Someone waiting for a flush.
pub(crate) type FlushWaiter = Box<dyn FnOnce() + Send>;

/// Waits for a topic's partitions (`Producer::partitions_for`); called once.
pub(crate) type PartitionsWaiter = Box<dyn FnOnce(Result<Vec<PartitionInfo>, ProduceError>) + Send>;

#[derive(Debug)]
enum ConnState {
    Connecting,
    Handshake,
    /// SASL (SaslHandshake, SaslAuthenticate…) after ApiVersions; the exchange is in `Engine::sasl_conns`.
    Authenticating,
    Ready(NegotiatedVersions),
}

#[derive(Debug)]
struct InFlightBatch {
    topic: usize,
    partition: i32,
    batch: Batch,
}

#[derive(Debug)]
enum Kind {
    ApiVersions { version: i16 },
    Metadata { version: i16 },
    InitProducerId { version: i16 },
    Produce { version: i16, batches: Vec<InFlightBatch> },
    SaslHandshake { version: i16 },
    SaslAuthenticate { version: i16 },
}

#[derive(Debug)]
struct InFlight {
    correlation_id: i32,
    deadline: Instant,
    kind: Kind,
}

#[derive(Debug)]
struct Conn {
    state: ConnState,
    next_correlation: i32,
    /// Requests awaiting a response, in the order they were sent (Kafka answers in order).
    in_flight: VecDeque<InFlight>,
    /// One entry per `Transmit::Send`, in order: the batches of an acks=0 request, completed
    /// when the driver reports the bytes written.
    unsent: VecDeque<Option<Vec<InFlightBatch>>>,
    produce_in_flight: usize,
    connect_deadline: Instant,
    /// A response's `throttle_time_ms` (a broker quota, KIP-219): no new request goes to this
    /// broker before then, as in Java. The broker mutes the connection for that long anyway.
    throttled_until: Option<Instant>,
    /// The last write or response on it (`connections.max.idle.ms`).
    last_active: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Backoff {
    until: Instant,
    /// Connections to the node lost or failed in a row (reconnect.backoff).
    attempts: u32,
    /// Of those, attempts in a row that never connected (socket.connection.setup.timeout);
    /// a lost established connection resets it, as in Java.
    setup_failures: u32,
}

/// Bounds on what the engine keeps for reuse.
const MAX_SPARE_BUFFERS: usize = 64;
/// What the spare batch buffers may hold in all (64 buffers of a 16 KiB batch's size).
const SPARE_BATCH_BYTES: usize = 64 * (2 * 16_384 + 1024);
/// Request buffers kept for reuse: a few more than the requests one connection has in flight.
const MAX_SPARE_REQUESTS: usize = 8;
/// The API version we try first; a broker that knows less answers with its own range.
const API_VERSIONS_FIRST: i16 = 3;

/// The engine. See the module docs.
pub struct Engine {
    cfg: ProducerConfig,
    client_software_version: &'static str,
    topics: Vec<TopicState>,
    topic_index: HashMap<Arc<str>, usize>,
    last_topic: Option<usize>,
    /// Each broker's addresses, as its host name resolved (never empty).
    brokers: HashMap<i32, Vec<SocketAddr>>,
    bootstrap: Vec<String>,
    next_bootstrap: usize,
    conns: HashMap<i32, Conn>,
    backoff: HashMap<i32, Backoff>,
    outbox: VecDeque<Transmit>,

    metadata_in_flight: bool,
    metadata_due: Option<Instant>,
    metadata_attempts: u32,

    producer: Option<(i64, i16)>,
    pid_in_flight: bool,
    pid_retry_at: Option<Instant>,
    pid_attempts: u32,
    epoch_bump_pending: bool,

    generation: u32,
    outstanding: VecDeque<(u32, usize)>,
    flush_waiters: Vec<(u32, FlushWaiter)>,
    /// `partitions_for` calls waiting for a topic's metadata: topic index, deadline, waiter.
    partition_waiters: Vec<(usize, Instant, PartitionsWaiter)>,
    incomplete: usize,
    closing: bool,
    fatal: Option<ProduceError>,

    partitioner: Option<Box<dyn Partitioner>>,
    rng: Rng,
    spare: accumulator::Spare,
    spare_requests: Vec<Vec<u8>>,
    memory: Arc<BufferMemory>,
    metrics: Arc<Metrics>,
    next_wakeup: Option<Instant>,
    /// SASL exchanges of connections in `ConnState::Authenticating`.
    sasl_conns: HashMap<i32, SaslConn>,
    /// Broker host names from metadata, for TLS server names and error messages.
    hosts: HashMap<i32, String>,
    /// KIP-368: when each authenticated connection must re-authenticate, with the SaslHandshake
    /// and SaslAuthenticate versions to use.
    reauth: HashMap<i32, (Instant, i16, i16)>,
}

/// One connection's SASL exchange (see `Engine::start_sasl`).
#[derive(Debug)]
struct SaslConn {
    session: SaslSession,
    versions: NegotiatedVersions,
    auth_version: i16,
    handshake_version: i16,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("topics", &self.topics.len())
            .field("conns", &self.conns.len())
            .field("incomplete", &self.incomplete)
            .finish_non_exhaustive()
    }
}

/// Every address of `host:port` (none if it does not resolve). A host name is resolved on the
/// sender thread, as the Java client does on its I/O thread; all its addresses are kept, as
/// Java's default `client.dns.lookup=use_all_dns_ips` does: `localhost` is often `::1` first,
/// and a broker listening on 127.0.0.1 is then reached on the second try.
fn resolve(host_port: &str) -> Vec<SocketAddr> {
    if let Ok(a) = host_port.parse::<SocketAddr>() {
        return vec![a];
    }
    let mut addrs: Vec<SocketAddr> = host_port.to_socket_addrs().map(Iterator::collect).unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    addrs.retain(|a| seen.insert(*a));
    addrs
}

/// The producer epoch a sent batch carries in its header (-1 when it has none yet).
fn sent_epoch(b: &Batch) -> i16 {
    let at = crate::protocol::record_batch::PRODUCER_EPOCH_OFFSET;
    match b.bytes().get(at..at + 2) {
        Some(e) if b.sequence.is_some() => i16::from_be_bytes([e[0], e[1]]),
        _ => -1,
    }
}

/// Whether sequence `a` comes after `b`, in Kafka's sequence space (0 to `i32::MAX`, wrapping):
/// true when `a` is less than half that space ahead of `b`.
fn sequence_after(a: i32, b: i32) -> bool {
    let d = (i64::from(a) - i64::from(b)).rem_euclid(1 << 31);
    d > 0 && d < 1 << 30
}

/// Kafka's sequence arithmetic: sequences wrap from `i32::MAX` to 0.
fn next_sequence(seq: i32, inc: i32) -> i32 {
    if seq > i32::MAX - inc {
        inc - (i32::MAX - seq) - 1
    } else {
        seq + inc
    }
}

impl Engine {
    /// An engine for a validated configuration. `seed` seeds its random choices (sticky
    /// partitions, backoff jitter): the engine reads no clock and no entropy of its own.
    pub(crate) fn new(
        cfg: ProducerConfig,
        partitioner: Option<Box<dyn Partitioner>>,
        memory: Arc<BufferMemory>,
        metrics: Arc<Metrics>,
        seed: u64,
    ) -> Self {
        let bootstrap = cfg.bootstrap_servers.clone();
        Engine {
            cfg,
            client_software_version: env!("CARGO_PKG_VERSION"),
            topics: Vec::new(),
            topic_index: HashMap::new(),
            last_topic: None,
            brokers: HashMap::new(),
            bootstrap,
            next_bootstrap: 0,
            conns: HashMap::new(),
            backoff: HashMap::new(),
            outbox: VecDeque::new(),
            metadata_in_flight: false,
            metadata_due: None,
            metadata_attempts: 0,
            producer: None,
            pid_in_flight: false,
            pid_retry_at: None,
            pid_attempts: 0,
            epoch_bump_pending: false,
            generation: 0,
            outstanding: VecDeque::new(),
            flush_waiters: Vec::new(),
            partition_waiters: Vec::new(),
            incomplete: 0,
            closing: false,
            fatal: None,
            partitioner,
            rng: Rng::new(seed),
            spare: accumulator::Spare::default(),
            spare_requests: Vec::new(),
            memory,
            metrics,
            next_wakeup: None,
            sasl_conns: HashMap::new(),
            hosts: HashMap::new(),
            reauth: HashMap::new(),
        }
    }

    /// `linger.ms`.
    pub fn linger(&self) -> Duration {
        self.cfg.linger
    }

    /// True when no new record could be sent before a response arrives: every broker has a
    /// ready connection with `max.in.flight.requests.per.connection` Produce requests out. A
    /// response wakes the sender anyway, so a record sent meanwhile needs no wake-up of its
    /// own (at a high rate with `linger.ms=0` that was a wake-up per record, for nothing).
    pub fn sends_blocked(&self) -> bool {
        !self.brokers.is_empty()
            && self.brokers.keys().all(|node| {
                self.conns.get(node).is_some_and(|c| {
                    matches!(c.state, ConnState::Ready(_)) && c.produce_in_flight >= self.cfg.max_in_flight
                })
            })
    }

    /// Records accepted and not yet completed.
    pub fn incomplete(&self) -> usize {
        self.incomplete
    }

    /// Next thing the network should do.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.outbox.pop_front()
    }

    /// The latest time the caller may sleep until before calling [`poll`](Self::poll) again.
    /// Any `append` or `on_*` call makes it "now": the engine has work to look at.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_wakeup
    }

    /// Sends everything without lingering and reports to `waiter` once every record accepted
    /// before this call has completed. `now` is the caller's clock.
    pub(crate) fn flush(&mut self, waiter: FlushWaiter, now: Instant) {
        if self.incomplete == 0 {
            waiter();
            return;
        }
        self.next_wakeup = Some(now);
        self.flush_waiters.push((self.generation, waiter));
        self.generation = self.generation.wrapping_add(1);
    }

    /// Answers `waiter` with `topic`'s partitions once its metadata is known: at once if it is,
    /// else after a metadata request, or with `MetadataTimeout` `max.block.ms` after `called`
    /// (the caller's clock when it asked).
    pub(crate) fn partitions_for(
        &mut self,
        topic: &Arc<str>,
        waiter: PartitionsWaiter,
        called: Instant,
        now: Instant,
    ) {
        let ti = self.topic_idx(topic, now);
        if self.topics[ti].meta == TopicMeta::Known {
            waiter(Ok(self.partition_info(ti)));
            return;
        }
        self.partition_waiters.push((ti, called + self.cfg.max_block, waiter));
        self.metadata_due = Some(now);
        self.next_wakeup = Some(now);
    }

    fn partition_info(&self, ti: usize) -> Vec<PartitionInfo> {
        let t = &self.topics[ti];
        let leader = |l: i32| (l >= 0).then_some(l);
        (0..)
            .zip(&t.partitions)
            .map(|(i, p)| {
                let [replicas, in_sync_replicas, offline_replicas] =
                    t.replica_sets.get(i as usize).cloned().unwrap_or_default();
                PartitionInfo {
                    topic: t.name.clone(),
                    partition: i,
                    leader: leader(p.leader),
                    replicas,
                    in_sync_replicas,
                    offline_replicas,
                }
            })
            .collect()
    }

    /// Answers the `partitions_for` waiters whose topic is known now, failed with `failed`, or
    /// past its deadline.
    fn answer_partition_waiters(&mut self, failed: &[(usize, ProduceError)], now: Instant) {
        let mut i = 0;
        while i < self.partition_waiters.len() {
            let (ti, deadline) = (self.partition_waiters[i].0, self.partition_waiters[i].1);
            let answer = if self.topics[ti].meta == TopicMeta::Known {
                Some(Ok(self.partition_info(ti)))
            } else if let Some((_, e)) = failed.iter().find(|(t, _)| *t == ti) {
                Some(Err(e.clone()))
            } else if deadline <= now {
                let topic = self.topics[ti].name.to_string();
                Some(Err(ProduceError::MetadataTimeout { topic, waited: self.cfg.max_block }))
            } else {
                self.wake_at(deadline);
                None
            };
            match answer {
                Some(r) => {
                    let (_, _, w) = self.partition_waiters.swap_remove(i);
                    w(r);
                }
                None => i += 1,
            }
        }
    }

    /// Stops lingering: everything is sent as soon as it can be.
    pub(crate) fn begin_close(&mut self) {
        self.closing = true;
    }

    /// Fails every record not yet completed with `err` (forced close, fatal error). `now` is
    /// the caller's clock.
    pub(crate) fn fail_all(&mut self, err: ProduceError, now: Instant) {
        for (_, _, w) in std::mem::take(&mut self.partition_waiters) {
            w(Err(err.clone()));
        }
        for ti in 0..self.topics.len() {
            while let Some(p) = self.topics[ti].waiting.pop_front() {
                self.fail_pending(p, err.clone());
            }
            for pi in 0..self.topics[ti].partitions.len() {
                while let Some(b) = self.topics[ti].partitions[pi].queue.pop_front() {
                    self.complete_batch(ti, pi as i32, b, Err(err.clone()), now);
                }
            }
        }
        let nodes: Vec<i32> = self.conns.keys().copied().collect();
        for node in nodes {
            if let Some(conn) = self.conns.remove(&node) {
                self.outbox.push_back(Transmit::Close { node });
                for f in conn.in_flight {
                    if let Kind::Produce { batches, .. } = f.kind {
                        for b in batches {
                            self.topics[b.topic].partitions[b.partition as usize].in_flight -= 1;
                            self.complete_batch(b.topic, b.partition, b.batch, Err(err.clone()), now);
                        }
                    }
                }
                for batches in conn.unsent.into_iter().flatten() {
                    for b in batches {
                        self.topics[b.topic].partitions[b.partition as usize].in_flight -= 1;
                        self.complete_batch(b.topic, b.partition, b.batch, Err(err.clone()), now);
                    }
                }
            }
        }
        self.metrics_in_flight();
        self.check_flushes();
    }

    // ----------------------------------------------------------------------------------------
    // Records in

    fn topic_idx(&mut self, name: &Arc<str>, now: Instant) -> usize {
        if let Some(i) = self.last_topic {
            let known = &self.topics[i].name;
            if Arc::ptr_eq(known, name) || **known == **name {
                self.touch_topic(i, now);
                return i;
            }
        }
        let i = match self.topic_index.get(&**name) {
            Some(&i) => {
                self.touch_topic(i, now);
                i
            }
            None => {
                let i = self.topics.len();
                let t = TopicState::new(name.clone(), now);
                self.topic_index.insert(t.name.clone(), i);
                self.topics.push(t);
                // A new topic: ask for its metadata now.
                self.metadata_due = Some(now);
                i
            }
        };
        self.last_topic = Some(i);
        i
    }

    /// Topic `i` is used now. One that had gone idle (out of the metadata requests, see
    /// `metadata_topics`) gets its metadata refreshed at once: what was cached may be stale.
    fn touch_topic(&mut self, i: usize, now: Instant) {
        let t = &mut self.topics[i];
        if t.last_used + self.cfg.metadata_max_idle <= now {
            self.metadata_due = Some(now);
        }
        t.last_used = now;
    }

    /// The topics a metadata request asks for: those used within `metadata.max.idle.ms`, and
    /// any with records or `partitions_for` callers still waiting on it (Java's
    /// `ProducerMetadata.retainTopic`).
    fn metadata_topics(&self, now: Instant) -> Vec<String> {
        let idle = self.cfg.metadata_max_idle;
        (0..self.topics.len())
            .filter(|&i| {
                let t = &self.topics[i];
                now < t.last_used + idle
                    || !t.waiting.is_empty()
                    || t.partitions.iter().any(|p| !p.queue.is_empty() || p.in_flight > 0)
                    || self.partition_waiters.iter().any(|w| w.0 == i)
            })
            .map(|i| self.topics[i].name.to_string())
            .collect()
    }

    fn track_generation(&mut self) -> u32 {
        let g = self.generation;
        match self.outstanding.back_mut() {
            Some((gen, n)) if *gen == g => *n += 1,
            _ => self.outstanding.push_back((g, 1)),
        }
        self.incomplete += 1;
        g
    }

    fn finish_generation(&mut self, g: u32) {
        if let Some(e) = self.outstanding.iter_mut().find(|(gen, _)| *gen == g) {
            e.1 -= 1;
        }
        while matches!(self.outstanding.front(), Some((_, 0))) {
            self.outstanding.pop_front();
        }
        self.incomplete -= 1;
    }

    fn check_flushes(&mut self) {
        if self.flush_waiters.is_empty() {
            return;
        }
        let oldest = self.outstanding.front().map(|(g, _)| *g);
        let mut i = 0;
        while i < self.flush_waiters.len() {
            let g = self.flush_waiters[i].0;
            // Generations only grow (wrapping is harmless: 2^32 flushes in flight never happen).
            let done = match oldest {
                None => true,
                Some(o) => o.wrapping_sub(g) as i32 > 0,
            };
            if done {
                let (_, w) = self.flush_waiters.swap_remove(i);
                w();
            } else {
                i += 1;
            }
        }
    }

    /// Hands over a bundle of the key and value buffers the engine is done with, once a
    /// bundle's worth has gathered (see `Spare::spend`).
    pub(crate) fn take_spent(&mut self) -> Option<SpentBundle> {
        let n = self.spare.spent.len();
        if n < SPENT_BUNDLE {
            return None;
        }
        let mut drain = self.spare.spent.drain(n - SPENT_BUNDLE..);
        Some(std::array::from_fn(|_| drain.next().unwrap_or_default()))
    }

    /// Accepts one record. `now` and `wall_ms` (milliseconds since the epoch) are the loop
    /// turn's clock: records are stamped by the sender, so `send` reads no clock.
    pub(crate) fn append(&mut self, mut p: Pending, now: Instant, wall_ms: i64) {
        self.next_wakeup = Some(now);
        p.enqueued = now;
        p.timestamp.get_or_insert(wall_ms);
        let ti = self.topic_idx(&p.topic, now);
        p.generation = self.track_generation();
        if let Some(err) = self.fatal.clone() {
            self.fail_pending(p, err);
            return;
        }
        let topic = &mut self.topics[ti];
        if topic.meta == TopicMeta::Unknown || !topic.waiting.is_empty() {
            self.topics[ti].waiting.push_back(p);
            if self.metadata_due.is_none_or(|d| d > now) && !self.metadata_in_flight {
                self.metadata_due = Some(now);
            }
            return;
        }
        self.append_known(ti, p);
    }

    fn append_known(&mut self, ti: usize, p: Pending) {
        let generation = p.generation;
        let codec = self.cfg.codec();
        let topic = &mut self.topics[ti];
        let batch_size = accumulator::batch_limit(
            self.cfg.batch_size,
            self.cfg.max_request_size,
            codec,
            topic.compression_ratio,
        );
        let n = topic.partitions.len() as i32;
        let partition = match p.partition {
            Some(pp) => pp,
            None => {
                let custom = self.partitioner.as_mut().and_then(|f| {
                    f.partition(&topic.name, p.key.as_deref(), p.value.as_deref(), n)
                        .filter(|x| (0..n).contains(x))
                });
                match (custom, &p.key) {
                    (Some(c), _) => c,
                    (None, Some(k)) if !self.cfg.partitioner_ignore_keys => partition_for_key(k, n),
                    _ => {
                        let parts = &topic.partitions;
                        let queued = |q: i32| parts.get(q as usize).map_or(0, |s| s.queue.len());
                        let adaptive =
                            self.cfg.partitioner_adaptive.then_some(&queued as &dyn Fn(i32) -> usize);
                        topic.sticky.next(
                            n,
                            &topic.available,
                            batch_size,
                            &mut self.rng,
                            p.reserved,
                            adaptive,
                        )
                    }
                }
            }
        };
        if partition < 0 || partition >= n {
            let err = ProduceError::InvalidPartition { topic: p.topic.to_string(), partition, partitions: n };
            self.fail_pending(p, err);
            return;
        }
        let producer = match (self.cfg.enable_idempotence, self.producer) {
            (true, Some((id, epoch))) => {
                ProducerFields { producer_id: id, producer_epoch: epoch, base_sequence: 0 }
            }
            _ => ProducerFields::NONE,
        };
        let size = p.reserved;
        let part = &mut topic.partitions[partition as usize];
        let ratio = &mut topic.compression_ratio;
        accumulator::append(part, p, producer, batch_size, size, generation, &mut self.spare, codec, ratio);
    }

    /// Fails a record that never made it into a batch.
    fn fail_pending(&mut self, p: Pending, err: ProduceError) {
        self.memory.release(p.reserved);
        Metrics::add(&self.metrics.record_errors, 1);
        self.finish_generation(p.generation);
        p.completion.complete(|| Err(err));
    }

    // ----------------------------------------------------------------------------------------
    // Completing batches

    fn complete_batch(
        &mut self,
        ti: usize,
        partition: i32,
        mut batch: Batch,
        result: Result<(i64, i64), ProduceError>,
        now: Instant,
    ) {
        let topic: Arc<str> = self.topics[ti].name.clone();
        let n = batch.records.len() as u64;
        {
            let mut h = self.metrics.hist.lock().unwrap_or_else(|e| e.into_inner());
            for r in &batch.records {
                let us = now.saturating_duration_since(r.enqueued).as_micros() as u64;
                let _ = h.latency_us.record(us.max(1));
            }
        }
        match &result {
            Ok(_) => Metrics::add(&self.metrics.records_sent, n),
            Err(_) => Metrics::add(&self.metrics.record_errors, n),
        }
        // Release the memory first: a callback may send again (and should find the space), and
        // whoever watches the buffer sees it free once the outcome is known.
        self.memory.release(batch.reserved);
        for (i, r) in batch.records.drain(..).enumerate() {
            self.finish_generation(r.generation);
            let topic = &topic;
            let result = &result;
            r.completion.complete(|| match result {
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
        if self.spare.records.len() < MAX_SPARE_BUFFERS {
            self.spare.records.push(batch.records);
        }
        if let BatchData::Closed(buf) = batch.data {
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
            if self.spare.batches.len() < keep && buf.capacity() <= limit {
                self.spare.batches.push(buf);
            }
        }
    }

    /// A batch came back with a retriable problem (or its connection died): retry it in order,
    /// or fail it if `delivery.timeout.ms` or `retries` ran out.
    fn retry_or_fail(
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
        if err.invalidates_metadata() {
            self.metadata_due = Some(now);
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
            self.epoch_bump_pending = true;
        }
        self.complete_batch(ti, partition, batch, Err(e), now);
    }

    // ----------------------------------------------------------------------------------------
    // Network events

    /// The connection to `node` is up: negotiate versions.
    pub fn on_connected(&mut self, node: i32, now: Instant) {
        self.next_wakeup = Some(now);
        let Some(conn) = self.conns.get_mut(&node) else { return };
        conn.state = ConnState::Handshake;
        Metrics::add(&self.metrics.connections_created, 1);
        self.send_api_versions(node, API_VERSIONS_FIRST, now);
    }

    fn send_api_versions(&mut self, node: i32, version: i16, now: Instant) {
        let req = ApiVersionsRequest {
            client_software_name: "ringkafka".into(),
            client_software_version: self.client_software_version.into(),
        };
        self.send_request(node, version, &req, Kind::ApiVersions { version }, now);
    }

    fn send_request<R: crate::protocol::messages::Request>(
        &mut self,
        node: i32,
        version: i16,
        body: &R,
        kind: Kind,
        now: Instant,
    ) {
        let deadline = now + self.cfg.request_timeout;
        let mut buf = self.spare_requests.pop().unwrap_or_default();
        buf.clear();
        let Some(conn) = self.conns.get_mut(&node) else { return };
        let correlation_id = conn.next_correlation;
        conn.next_correlation = conn.next_correlation.wrapping_add(1);
        encode_request(&mut buf, version, correlation_id, Some(&self.cfg.client_id), body);
        conn.in_flight.push_back(InFlight { correlation_id, deadline, kind });
        conn.unsent.push_back(None);
        self.outbox.push_back(Transmit::Send { node, buf });
    }

    /// A buffer was written in full to `node`.
    pub fn on_sent(&mut self, node: i32, buf: Vec<u8>, now: Instant) {
        self.next_wakeup = Some(now);
        if self.spare_requests.len() < MAX_SPARE_REQUESTS && buf.capacity() <= self.cfg.max_request_size * 2 {
            self.spare_requests.push(buf);
        }
        let Some(conn) = self.conns.get_mut(&node) else { return };
        conn.last_active = now;
        if let Some(Some(batches)) = conn.unsent.pop_front() {
            // acks=0: written is all we will ever know.
            conn.produce_in_flight -= 1;
            for b in batches {
                self.topics[b.topic].partitions[b.partition as usize].in_flight -= 1;
                self.complete_batch(b.topic, b.partition, b.batch, Ok((-1, -1)), now);
            }
            self.metrics_in_flight();
            self.check_flushes();
        }
        let _ = now;
    }

    /// `node`'s connection failed or was closed by the peer.
    pub fn on_closed(&mut self, node: i32, reason: &str, now: Instant) {
        self.next_wakeup = Some(now);
        let Some(conn) = self.conns.remove(&node) else { return };
        self.connection_lost(node, conn, reason, now);
    }

    /// Java's `ExponentialBackoff(base, 2, max, 0.2)` for the `attempts`-th try (from 1): base
    /// doubling per attempt, capped at `max`, then +-20 % jitter.
    fn exponential_backoff(&mut self, base: Duration, max: Duration, attempts: u32) -> Duration {
        let capped = base.saturating_mul(1u32 << attempts.saturating_sub(1).min(20)).min(max);
        let jitter = capped.as_micros() as u64 / 5;
        let delta =
            if jitter > 0 { self.rng.below((2 * jitter).min(u32::MAX as u64) as u32) as u64 } else { 0 };
        Duration::from_micros((capped.as_micros() as u64).saturating_sub(jitter) + delta)
    }

    fn close_conn(&mut self, node: i32, reason: &str, now: Instant) {
        if let Some(conn) = self.conns.remove(&node) {
            self.outbox.push_back(Transmit::Close { node });
            self.connection_lost(node, conn, reason, now);
        }
    }

    fn connection_lost(&mut self, node: i32, conn: Conn, reason: &str, now: Instant) {
        log::warn!("connection to node {node} lost: {reason}");
        if !matches!(conn.state, ConnState::Connecting) {
            Metrics::add(&self.metrics.connections_closed, 1);
        }
        let attempts = self.backoff.get(&node).map_or(0, |b| b.attempts).saturating_add(1);
        let d =
            self.exponential_backoff(self.cfg.reconnect_backoff, self.cfg.reconnect_backoff_max, attempts);
        let setup_failures = match conn.state {
            ConnState::Connecting => {
                self.backoff.get(&node).map_or(0, |b| b.setup_failures).saturating_add(1)
            }
            _ => 0,
        };
        self.backoff.insert(node, Backoff { until: now + d, attempts, setup_failures });
        let msg = format!("connection to node {node} lost: {reason}");
        self.sasl_conns.remove(&node);
        self.reauth.remove(&node);
        for f in conn.in_flight {
            match f.kind {
                Kind::Metadata { .. } => self.metadata_in_flight = false,
                Kind::InitProducerId { .. } => {
                    self.pid_in_flight = false;
                    self.pid_retry_at = Some(now + self.cfg.retry_backoff);
                }
                Kind::ApiVersions { .. } | Kind::SaslHandshake { .. } | Kind::SaslAuthenticate { .. } => {}
                Kind::Produce { batches, .. } => {
                    for mut b in batches {
                        self.topics[b.topic].partitions[b.partition as usize].in_flight -= 1;
                        b.batch.unresolved = true;
                        self.retry_or_fail(
                            b.topic,
                            b.partition,
                            b.batch,
                            ErrorCode::NETWORK_EXCEPTION,
                            msg.clone(),
                            now,
                        );
                    }
                }
            }
        }
        for batches in conn.unsent.into_iter().flatten() {
            for b in batches {
                self.topics[b.topic].partitions[b.partition as usize].in_flight -= 1;
                self.retry_or_fail(
                    b.topic,
                    b.partition,
                    b.batch,
                    ErrorCode::NETWORK_EXCEPTION,
                    msg.clone(),
                    now,
                );
            }
        }
        self.metadata_due = Some(now);
        self.metrics_in_flight();
        self.check_flushes();
    }

    fn metrics_in_flight(&self) {
        let n: usize = self.conns.values().map(|c| c.produce_in_flight).sum();
        self.metrics.in_flight_requests.store(n as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// One response frame (without its size prefix) arrived from `node`.
    pub fn on_frame(&mut self, node: i32, frame: &[u8], now: Instant) {
        self.next_wakeup = Some(now);
        let Some(conn) = self.conns.get_mut(&node) else { return };
        let id = match peek_correlation_id(frame) {
            Ok(id) => id,
            Err(e) => return self.close_conn(node, &format!("malformed response: {e}"), now),
        };
        match conn.in_flight.front() {
            Some(f) if f.correlation_id == id => {}
            Some(f) => {
                let expected = f.correlation_id;
                return self.close_conn(
                    node,
                    &format!("response correlation id {id} does not match the oldest request ({expected})"),
                    now,
                );
            }
            None => return self.close_conn(node, &format!("unexpected response (correlation id {id})"), now),
        }
        let f = conn.in_flight.pop_front().expect("checked above");
        conn.last_active = now;
        let result = match f.kind {
            Kind::ApiVersions { version } => self.handle_api_versions(node, version, frame, now),
            Kind::SaslHandshake { version } => self.handle_sasl_handshake(node, version, frame, now),
            Kind::SaslAuthenticate { version } => self.handle_sasl_authenticate(node, version, frame, now),
            Kind::Metadata { version } => match decode_response::<MetadataRequest>(frame, version) {
                Ok((_, r)) => {
                    self.throttled(node, ApiKey::Metadata, version, r.throttle_time_ms, now);
                    self.handle_metadata(r, now);
                    Ok(())
                }
                Err(e) => {
                    self.metadata_in_flight = false;
                    Err(format!("malformed Metadata response: {e}"))
                }
            },
            Kind::InitProducerId { version } => {
                match decode_response::<InitProducerIdRequest>(frame, version) {
                    Ok((_, r)) => {
                        self.throttled(node, ApiKey::InitProducerId, version, r.throttle_time_ms, now);
                        self.handle_init_producer_id(r.error_code, r.producer_id, r.producer_epoch, now);
                        Ok(())
                    }
                    Err(e) => {
                        self.pid_in_flight = false;
                        Err(format!("malformed InitProducerId response: {e}"))
                    }
                }
            }
            Kind::Produce { version, batches } => {
                if let Some(c) = self.conns.get_mut(&node) {
                    c.produce_in_flight -= 1;
                }
                match decode_response::<ProduceRequest>(frame, version) {
                    Ok((_, r)) => {
                        self.throttled(node, ApiKey::Produce, version, r.throttle_time_ms, now);
                        self.handle_produce(batches, r, now);
                        Ok(())
                    }
                    Err(e) => {
                        let msg = format!("malformed Produce response: {e}");
                        for mut b in batches {
                            self.topics[b.topic].partitions[b.partition as usize].in_flight -= 1;
                            b.batch.unresolved = true;
                            self.retry_or_fail(
                                b.topic,
                                b.partition,
                                b.batch,
                                ErrorCode::CORRUPT_MESSAGE,
                                msg.clone(),
                                now,
                            );
                        }
                        Err(msg)
                    }
                }
            }
        };
        if let Err(msg) = result {
            self.close_conn(node, &msg, now);
        }
        self.metrics_in_flight();
        self.check_flushes();
    }

    fn handle_api_versions(
        &mut self,
        node: i32,
        version: i16,
        frame: &[u8],
        now: Instant,
    ) -> Result<(), String> {
        // The ApiVersions response header is always v0: the correlation id alone.
        let body = frame.get(4..).unwrap_or(&[]);
        let resp =
            decode_api_versions_response(body, version).map_err(|e| format!("malformed ApiVersions: {e}"))?;
        if resp.error_code == ErrorCode::UNSUPPORTED_VERSION {
            let theirs = resp.api_keys.iter().find(|k| k.api_key == ApiKey::ApiVersions as i16);
            let v = theirs.map_or(0, |k| k.max_version.min(API_VERSIONS_FIRST));
            if v >= version {
                return Err("broker rejected every ApiVersions version".into());
            }
            self.send_api_versions(node, v, now);
            return Ok(());
        }
        if !resp.error_code.is_ok() {
            return Err(format!("ApiVersions failed: {}", resp.error_code));
        }
        self.throttled(node, ApiKey::ApiVersions, version, resp.throttle_time_ms, now);
        let lookup = |k: i16| {
            resp.api_keys
                .iter()
                .find(|a| a.api_key == k)
                .map(|a| VersionRange { min: a.min_version, max: a.max_version })
        };
        match NegotiatedVersions::from_broker(lookup) {
            Ok(v) if self.cfg.security_protocol.uses_sasl() => {
                let hs = negotiate(ApiKey::SaslHandshake, lookup(ApiKey::SaslHandshake as i16));
                let auth = negotiate(ApiKey::SaslAuthenticate, lookup(ApiKey::SaslAuthenticate as i16));
                self.start_sasl(node, v, hs, auth, now)
            }
            Ok(v) => {
                if let Some(c) = self.conns.get_mut(&node) {
                    c.state = ConnState::Ready(v);
                }
                self.backoff.remove(&node);
                Ok(())
            }
            Err(e) => {
                self.fatal = Some(ProduceError::Fatal(format!("node {node}: {e}")));
                Err(e.to_string())
            }
        }
    }

    fn handle_metadata(&mut self, r: MetadataResponse, now: Instant) {
        self.metadata_in_flight = false;
        self.metadata_attempts = 0;
        for b in &r.brokers {
            self.hosts.insert(b.node_id, b.host.clone());
            let addrs = resolve(&format!("{}:{}", b.host, b.port));
            if !addrs.is_empty() {
                self.brokers.insert(b.node_id, addrs);
            }
        }
        let mut retry_soon = false;
        let mut failed = Vec::new();
        for t in r.topics {
            let Some(name) = t.name else { continue };
            let Some(&ti) = self.topic_index.get(name.as_str()) else { continue };
            if t.error_code.is_ok() && !t.partitions.is_empty() {
                let topic = &mut self.topics[ti];
                let n = t.partitions.iter().map(|p| p.partition_index + 1).max().unwrap_or(0).max(0) as usize;
                while topic.partitions.len() < n {
                    topic.partitions.push(PartitionState::new(-1));
                }
                for p in &t.partitions {
                    if p.partition_index < 0 {
                        continue;
                    }
                    let leader =
                        if p.error_code == ErrorCode::LEADER_NOT_AVAILABLE { -1 } else { p.leader_id };
                    topic.partitions[p.partition_index as usize].leader = leader;
                    let i = p.partition_index as usize;
                    if topic.replica_sets.len() <= i {
                        topic.replica_sets.resize_with(i + 1, Default::default);
                    }
                    topic.replica_sets[i] =
                        [p.replica_nodes.clone(), p.isr_nodes.clone(), p.offline_replicas.clone()];
                    if leader < 0 {
                        retry_soon = true;
                    }
                }
                topic.available = topic
                    .partitions
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.leader >= 0)
                    .map(|(i, _)| i as i32)
                    .collect();
                topic.meta = TopicMeta::Known;
                let waiting = std::mem::take(&mut topic.waiting);
                for p in waiting {
                    self.append_known(ti, p);
                }
            } else if t.error_code == ErrorCode::UNKNOWN_TOPIC_OR_PARTITION
                || t.error_code == ErrorCode::LEADER_NOT_AVAILABLE
                || t.error_code.is_retriable()
                || t.error_code.is_ok()
            {
                retry_soon = true;
            } else {
                // Not retriable (authorization, invalid topic): fail what waits.
                let err = ProduceError::Broker { code: t.error_code, message: None };
                while let Some(p) = self.topics[ti].waiting.pop_front() {
                    self.fail_pending(p, err.clone());
                }
                failed.push((ti, err));
            }
        }
        self.answer_partition_waiters(&failed, now);
        let unknown = self.topics.iter().enumerate().any(|(i, t)| {
            t.meta == TopicMeta::Unknown
                && (!t.waiting.is_empty() || self.partition_waiters.iter().any(|w| w.0 == i))
        });
        self.metadata_due = Some(if retry_soon || unknown {
            now + self.cfg.retry_backoff
        } else {
            now + self.cfg.metadata_max_age
        });
    }

    fn handle_init_producer_id(&mut self, code: ErrorCode, id: i64, epoch: i16, now: Instant) {
        self.pid_in_flight = false;
        if code.is_ok() {
            let bumped = self.producer.is_some();
            self.producer = Some((id, epoch));
            self.pid_attempts = 0;
            if bumped || self.epoch_bump_pending {
                log::info!("producer id {id} epoch {epoch}: sequences reset");
                // A batch whose ack was lost under the old epoch, or that was answered with an
                // error that can follow an append (NOT_LEADER_OR_FOLLOWER, a timeout), has an
                // unknown outcome. Retried under the old epoch it could land after the new
                // epoch's batches of its partition (order broken); resequenced under the new one
                // it could be written twice (the chaos test caught a batch stored at epoch 1
                // seq 1849 and again at epoch 2 seq 0). Fail it: its records may have been
                // written, and the error says so.
                let mut unknown = Vec::new();
                for (ti, t) in self.topics.iter_mut().enumerate() {
                    for (pi, p) in t.partitions.iter_mut().enumerate() {
                        p.next_sequence = 0;
                        p.acked_next = None;
                        let mut i = 0;
                        while i < p.queue.len() {
                            // (A lost ack sets `may_be_written` too.)
                            if p.queue[i].may_be_written {
                                let b = p.queue.remove(i).expect("index checked");
                                unknown.push((ti, pi as i32, b));
                            } else {
                                p.queue[i].sequence = None;
                                i += 1;
                            }
                        }
                    }
                }
                for (ti, pi, b) in unknown {
                    let e = ProduceError::Broker {
                        code: ErrorCode::NETWORK_EXCEPTION,
                        message: Some(format!(
                            "the ack was lost ({}) and the producer epoch was bumped before it could be \
                             retried: the records may have been written",
                            b.last_error.as_deref().unwrap_or("connection lost")
                        )),
                    };
                    self.complete_batch(ti, pi, b, Err(e), now);
                }
            }
            self.epoch_bump_pending = false;
        } else if code.is_retriable() || code == ErrorCode::BROKER_NOT_AVAILABLE {
            self.pid_attempts += 1;
            self.pid_retry_at = Some(now + self.cfg.retry_backoff);
        } else {
            self.fatal = Some(ProduceError::Broker { code, message: Some("InitProducerId failed".into()) });
        }
    }

    fn handle_produce(
        &mut self,
        batches: Vec<InFlightBatch>,
        r: crate::protocol::messages::ProduceResponse,
        now: Instant,
    ) {
        for mut b in batches {
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
                self.epoch_bump_pending = true;
                self.retry_or_fail(b.topic, b.partition, b.batch, code, msg, now);
            } else if matches!(code, ErrorCode::UNKNOWN_PRODUCER_ID | ErrorCode::INVALID_PRODUCER_EPOCH)
                && self.cfg.enable_idempotence
            {
                // The broker lost (or fenced) our producer state: bump the epoch, resequence,
                // retry.
                self.epoch_bump_pending = true;
                self.retry_or_fail(b.topic, b.partition, b.batch, code, msg, now);
            } else if code.is_retriable() {
                self.retry_or_fail(b.topic, b.partition, b.batch, code, msg, now);
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
    }

    // ----------------------------------------------------------------------------------------
    // The loop turn

    fn ready_conn(&self, now: Instant) -> Option<i32> {
        // Prefer a real broker over a bootstrap connection, then the least loaded; a broker
        // that asked us to hold back (throttle) only when no other is ready.
        self.conns
            .iter()
            .filter(|(_, c)| matches!(c.state, ConnState::Ready(_)))
            .min_by_key(|(n, c)| (c.throttled_until.is_some_and(|t| t > now), **n < 0, c.in_flight.len()))
            .map(|(n, _)| *n)
    }

    /// A response from `node` to `api` at `version` carried `throttle_time_ms`: counted, and
    /// the connection held back if the version leaves that to the client
    /// ([`ApiKey::client_throttles`]).
    fn throttled(&mut self, node: i32, api: ApiKey, version: i16, throttle_time_ms: i32, now: Instant) {
        if throttle_time_ms <= 0 {
            return;
        }
        Metrics::add(&self.metrics.throttled_responses, 1);
        self.metrics
            .throttle_time_max_ms
            .fetch_max(throttle_time_ms as u64, std::sync::atomic::Ordering::Relaxed);
        if !api.client_throttles(version) {
            return;
        }
        let until = now + Duration::from_millis(throttle_time_ms as u64);
        if let Some(c) = self.conns.get_mut(&node) {
            c.throttled_until = Some(c.throttled_until.map_or(until, |t| t.max(until)));
        }
        self.wake_at(until);
    }

    fn versions(&self, node: i32) -> Option<NegotiatedVersions> {
        match self.conns.get(&node)?.state {
            ConnState::Ready(v) => Some(v),
            _ => None,
        }
    }

    fn connect(&mut self, node: i32, addr: SocketAddr, now: Instant) {
        if self.conns.contains_key(&node) {
            return;
        }
        if self.backoff.get(&node).is_some_and(|b| b.until > now) {
            return;
        }
        // socket.connection.setup.timeout.ms, doubling per failure in a row (Java's
        // ExponentialBackoff with jitter): a broker that does not answer the SYN is given up
        // in seconds, not after request.timeout.ms.
        let failures = self.backoff.get(&node).map_or(0, |b| b.setup_failures);
        let setup = self.exponential_backoff(
            self.cfg.connection_setup_timeout,
            self.cfg.connection_setup_timeout_max,
            failures + 1,
        );
        self.conns.insert(
            node,
            Conn {
                state: ConnState::Connecting,
                next_correlation: 0,
                in_flight: VecDeque::new(),
                unsent: VecDeque::new(),
                produce_in_flight: 0,
                connect_deadline: now + setup,
                throttled_until: None,
                last_active: now,
            },
        );
        self.outbox.push_back(Transmit::Connect { node, addr });
    }

    /// Makes sure some connection is on its way for cluster-wide requests.
    fn ensure_any_conn(&mut self, now: Instant) {
        if self.conns.values().any(|c| !matches!(c.state, ConnState::Ready(_))) {
            return; // one is being set up
        }
        if self.ready_conn(now).is_some() {
            return;
        }
        // A known broker first, else the next bootstrap server.
        let known: Vec<(i32, SocketAddr)> =
            self.brokers.iter().map(|(n, a)| (*n, self.pick_addr(*n, a))).collect();
        for (n, a) in known {
            if self.backoff.get(&n).is_none_or(|b| b.until <= now) {
                self.connect(n, a, now);
                return;
            }
        }
        for _ in 0..self.bootstrap.len() {
            let i = self.next_bootstrap % self.bootstrap.len();
            self.next_bootstrap += 1;
            let node = -1 - i as i32;
            if self.backoff.get(&node).is_some_and(|b| b.until > now) {
                continue;
            }
            let addrs = resolve(&self.bootstrap[i]);
            if addrs.is_empty() {
                log::warn!("cannot resolve bootstrap server {}", self.bootstrap[i]);
                continue;
            }
            let addr = self.pick_addr(node, &addrs);
            self.connect(node, addr, now);
            return;
        }
    }

    /// Which of a node's addresses to try next: the next one after each attempt in a row that
    /// failed to connect, the first again once a connection was established (Java's
    /// `use_all_dns_ips`).
    fn pick_addr(&self, node: i32, addrs: &[SocketAddr]) -> SocketAddr {
        let failures = self.backoff.get(&node).map_or(0, |b| b.setup_failures) as usize;
        addrs[failures % addrs.len()]
    }

    fn wake_at(&mut self, t: Instant) {
        if self.next_wakeup.is_none_or(|w| t < w) {
            self.next_wakeup = Some(t);
        }
    }

    /// One turn: metadata, producer id, connections, draining ready batches into requests,
    /// expiry and timeouts. Computes the next wake-up.
    pub fn poll(&mut self, now: Instant) {
        self.next_wakeup = None;
        if let Some(err) = self.fatal.clone() {
            if self.incomplete > 0 || !self.partition_waiters.is_empty() {
                log::error!("producer failed: {err}");
                self.fail_all(err, now);
            }
            return;
        }
        self.poll_request_timeouts(now);
        self.poll_reauth(now);
        self.poll_metadata(now);
        if self.cfg.enable_idempotence {
            self.poll_producer_id(now);
        }
        self.poll_waiting(now);
        if !self.partition_waiters.is_empty() {
            self.answer_partition_waiters(&[], now);
        }
        self.poll_partitions(now);
        self.check_flushes();
    }

    fn poll_request_timeouts(&mut self, now: Instant) {
        let mut expired = Vec::new();
        let mut idle = Vec::new();
        let max_idle = self.cfg.connections_max_idle;
        for (node, c) in &self.conns {
            // connections.max.idle.ms: a ready connection with nothing outstanding that has
            // been quiet that long is closed, as Java does, before the broker closes it (its
            // own limit is 10 min) and the next request meets a dead socket.
            if let (ConnState::Ready(_), true, Some(max_idle)) =
                (&c.state, c.in_flight.is_empty() && c.unsent.is_empty(), max_idle)
            {
                let at = c.last_active + max_idle;
                if at <= now {
                    idle.push(*node);
                    continue;
                }
                if self.next_wakeup.is_none_or(|w| at < w) {
                    self.next_wakeup = Some(at);
                }
            }
            let deadline = match c.state {
                ConnState::Connecting => Some(c.connect_deadline),
                _ => c.in_flight.front().map(|f| f.deadline),
            };
            if let Some(d) = deadline {
                if d <= now {
                    expired.push(*node);
                } else if self.next_wakeup.is_none_or(|w| d < w) {
                    self.next_wakeup = Some(d);
                }
            }
        }
        for node in expired {
            self.close_conn(node, "request timed out (request.timeout.ms)", now);
        }
        for node in idle {
            // Closed on purpose: no backoff, nothing to fail; the next request reconnects.
            log::debug!("closing the idle connection to node {node} (connections.max.idle.ms)");
            Metrics::add(&self.metrics.connections_closed, 1);
            self.conns.remove(&node);
            self.sasl_conns.remove(&node);
            self.reauth.remove(&node);
            self.outbox.push_back(Transmit::Close { node });
        }
    }

    /// A ready connection for a cluster-wide request (Metadata, InitProducerId) and its
    /// versions; without one, starts connecting and asks to be polled again soon.
    fn cluster_conn(&mut self, now: Instant) -> Option<(i32, NegotiatedVersions)> {
        let Some(node) = self.ready_conn(now) else {
            self.ensure_any_conn(now);
            self.wake_at(now + self.cfg.reconnect_backoff);
            return None;
        };
        // Every ready broker is throttled: wait for the first to be free, as Java does.
        if let Some(until) = self.conns[&node].throttled_until.filter(|&t| t > now) {
            self.wake_at(until);
            return None;
        }
        Some((node, self.versions(node)?))
    }

    fn poll_metadata(&mut self, now: Instant) {
        if self.metadata_in_flight || self.topics.is_empty() {
            return;
        }
        let Some(due) = self.metadata_due else {
            self.metadata_due = Some(now + self.cfg.metadata_max_age);
            return;
        };
        if due > now {
            self.wake_at(due);
            return;
        }
        let topics = self.metadata_topics(now);
        if topics.is_empty() {
            // Every topic has gone idle: nothing to ask about until one is used again.
            self.metadata_due = Some(now + self.cfg.metadata_max_age);
            return;
        }
        let Some((node, v)) = self.cluster_conn(now) else { return };
        let req = MetadataRequest {
            topics: Some(topics),
            allow_auto_topic_creation: true,
            include_topic_authorized_operations: false,
        };
        self.metadata_in_flight = true;
        self.metadata_attempts += 1;
        self.send_request(node, v.metadata, &req, Kind::Metadata { version: v.metadata }, now);
    }

    fn poll_producer_id(&mut self, now: Instant) {
        if self.pid_in_flight || (self.producer.is_some() && !self.epoch_bump_pending) {
            return;
        }
        if self.epoch_bump_pending {
            // Bump only once nothing is in flight: no batch may carry the old epoch after it.
            let in_flight: u32 =
                self.topics.iter().flat_map(|t| t.partitions.iter()).map(|p| p.in_flight).sum();
            if in_flight > 0 {
                return;
            }
        }
        if let Some(t) = self.pid_retry_at {
            if t > now {
                self.wake_at(t);
                return;
            }
        }
        let Some((node, v)) = self.cluster_conn(now) else { return };
        let (pid, epoch) = match self.producer {
            // KIP-360: from v3 the broker bumps the epoch of the id we have.
            Some((id, e)) if v.init_producer_id >= 3 => (id, e),
            _ => (-1, -1),
        };
        let req = InitProducerIdRequest {
            transactional_id: None,
            transaction_timeout_ms: i32::MAX,
            producer_id: pid,
            producer_epoch: epoch,
        };
        self.pid_in_flight = true;
        self.send_request(
            node,
            v.init_producer_id,
            &req,
            Kind::InitProducerId { version: v.init_producer_id },
            now,
        );
    }

    fn poll_waiting(&mut self, now: Instant) {
        let max_block = self.cfg.max_block;
        for ti in 0..self.topics.len() {
            while let Some(p) = self.topics[ti].waiting.front() {
                let deadline = p.enqueued + max_block;
                if deadline > now {
                    self.wake_at(deadline);
                    break;
                }
                let p = self.topics[ti].waiting.pop_front().expect("front exists");
                let err = ProduceError::MetadataTimeout { topic: p.topic.to_string(), waited: max_block };
                self.fail_pending(p, err);
            }
        }
    }

    fn poll_partitions(&mut self, now: Instant) {
        let force = self.closing || !self.flush_waiters.is_empty() || self.memory.has_waiters();
        let linger = self.cfg.linger;
        let delivery_timeout = self.cfg.delivery_timeout;
        let can_produce =
            !self.cfg.enable_idempotence || (self.producer.is_some() && !self.epoch_bump_pending);
        // Nodes that have something ready to send, in first-seen order.
        let mut ready_nodes: Vec<i32> = Vec::new();
        let mut need_metadata = false;
        for ti in 0..self.topics.len() {
            if self.topics[ti].meta != TopicMeta::Known {
                continue;
            }
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
                if part.must_wait(head, self.cfg.enable_idempotence) {
                    continue;
                }
                let linger_at = head.created + linger;
                let ready =
                    force || !head.is_open() || part.queue.len() > 1 || head.attempts > 0 || linger_at <= now;
                let leader = part.leader;
                if !ready {
                    self.wake_at(linger_at);
                } else if !ready_nodes.contains(&leader) {
                    ready_nodes.push(leader);
                }
            }
        }
        if need_metadata && self.metadata_due.is_none_or(|d| d > now + self.cfg.retry_backoff) {
            self.metadata_due = Some(now + self.cfg.retry_backoff);
            self.wake_at(now + self.cfg.retry_backoff);
        }
        if !can_produce {
            return;
        }
        for node in ready_nodes {
            match self.conns.get(&node).map(|c| &c.state) {
                Some(ConnState::Ready(_)) => self.drain_node(node, force, now),
                Some(_) => {}
                None => match self.brokers.get(&node).map(|a| self.pick_addr(node, a)) {
                    Some(addr) => {
                        self.connect(node, addr, now);
                        if let Some(b) = self.backoff.get(&node) {
                            let until = b.until;
                            self.wake_at(until);
                        }
                    }
                    None => self.metadata_due = Some(now),
                },
            }
        }
    }

    /// Builds Produce requests for `node` from its partitions' ready batches, one batch per
    /// partition per request (as the broker requires), up to `max.request.size` and
    /// `max.in.flight.requests.per.connection`.
    fn drain_node(&mut self, node: i32, force: bool, now: Instant) {
        let Some(versions) = self.versions(node) else { return };
        let linger = self.cfg.linger;
        let idempotent = self.cfg.enable_idempotence;
        loop {
            let Some(conn) = self.conns.get(&node) else { return };
            if conn.produce_in_flight >= self.cfg.max_in_flight {
                return;
            }
            if let Some(until) = conn.throttled_until.filter(|&t| t > now) {
                self.wake_at(until);
                return;
            }
            let mut picked: Vec<InFlightBatch> = Vec::new();
            let mut size = 64usize;
            'topics: for ti in 0..self.topics.len() {
                let tsize = self.topics[ti].name.len() + 16;
                let mut first_of_topic = true;
                let topic = &mut self.topics[ti];
                for pi in 0..topic.partitions.len() {
                    let part = &mut topic.partitions[pi];
                    if part.leader != node {
                        continue;
                    }
                    let Some(head) = part.queue.front() else { continue };
                    if head.retry_at.is_some_and(|t| t > now) || part.must_wait(head, idempotent) {
                        continue;
                    }
                    let ready = force
                        || !head.is_open()
                        || part.queue.len() > 1
                        || head.attempts > 0
                        || head.created + linger <= now;
                    if !ready {
                        continue;
                    }
                    // Closed (and compressed) first, so the request is sized by what is sent.
                    let head = part.queue.front_mut().expect("head exists");
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
                        (self.cfg.enable_idempotence, self.producer, batch.unresolved)
                    {
                        let fields = ProducerFields {
                            producer_id: id,
                            producer_epoch: epoch,
                            base_sequence: batch.sequence.unwrap_or(0),
                        };
                        set_producer_fields(batch.bytes_mut(), fields);
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
                return;
            }
            self.send_produce(node, versions.produce, picked, now);
        }
    }

    fn send_produce(&mut self, node: i32, version: i16, picked: Vec<InFlightBatch>, now: Instant) {
        let acks = self.cfg.acks;
        let mut buf = self.spare_requests.pop().unwrap_or_default();
        buf.clear();
        let Some(conn) = self.conns.get_mut(&node) else { return };
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
        let mut w = ProduceWriter::begin(&mut buf, header, None, acks.as_i16(), timeout_ms, n_topics);
        let mut i = 0;
        let mut bytes = 0u64;
        while i < picked.len() {
            let ti = picked[i].topic;
            let n = picked[i..].iter().take_while(|b| b.topic == ti).count();
            w.topic(&self.topics[ti].name, n);
            for b in &picked[i..i + n] {
                w.partition(b.partition, b.batch.bytes());
                bytes += b.batch.bytes().len() as u64;
            }
            w.end_topic();
            i += n;
        }
        w.finish();
        {
            let mut h = self.metrics.hist.lock().unwrap_or_else(|e| e.into_inner());
            for b in &picked {
                let _ = h.batch_records.record(b.batch.records.len().max(1) as u64);
                let _ = h.batch_bytes.record(b.batch.bytes().len().max(1) as u64);
            }
        }
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
}

// --------------------------------------------------------------------------------------------
// Security: SASL between ApiVersions and Ready (the mechanisms live in `crate::security::sasl`),
// and the broker names TLS needs.

impl Engine {
    /// The host name of `node` (a bootstrap entry's host for bootstrap connections): the name
    /// its TLS certificate must carry.
    pub fn broker_host(&self, node: i32) -> Option<String> {
        if node < 0 {
            let hp = self.bootstrap.get((-1 - node) as usize)?;
            let host = hp.rsplit_once(':').map_or(hp.as_str(), |(h, _)| h);
            return Some(host.trim_start_matches('[').trim_end_matches(']').to_string());
        }
        self.hosts.get(&node).cloned()
    }

    /// `node` and its address, for error messages.
    pub fn broker_name(&self, node: i32) -> String {
        match (node < 0, self.broker_host(node)) {
            (true, _) => format!("bootstrap {}", self.bootstrap.get((-1 - node) as usize).map_or("?", |s| s)),
            (false, Some(h)) => format!("node {node} ({h})"),
            (false, None) => format!("node {node}"),
        }
    }

    /// A non-retriable security failure on `node`'s connection (TLS certificate, SASL): the
    /// producer goes fatal, every pending record fails with `err`, later sends too, and no
    /// connection is retried.
    pub(crate) fn on_fatal(&mut self, node: i32, err: ProduceError, now: Instant) {
        self.next_wakeup = Some(now);
        log::error!("{err}");
        let reason = err.to_string();
        self.fatal = Some(err);
        self.close_conn(node, &reason, now);
    }

    fn start_sasl(
        &mut self,
        node: i32,
        versions: NegotiatedVersions,
        handshake: Result<i16, NoCommonVersion>,
        auth: Result<i16, NoCommonVersion>,
        now: Instant,
    ) -> Result<(), String> {
        let (hs, auth_version) = match (handshake, auth) {
            (Ok(h), Ok(a)) => (h, a),
            (Err(e), _) | (_, Err(e)) => {
                return self.sasl_failed(node, format!("the broker cannot do SASL as we need: {e}"));
            }
        };
        let session = SaslSession::new(&self.cfg.sasl);
        let req = SaslHandshakeRequest { mechanism: session.mechanism().to_string() };
        if let Some(c) = self.conns.get_mut(&node) {
            c.state = ConnState::Authenticating;
        }
        self.sasl_conns.insert(node, SaslConn { session, versions, auth_version, handshake_version: hs });
        self.send_request(node, hs, &req, Kind::SaslHandshake { version: hs }, now);
        Ok(())
    }

    /// KIP-368: starts re-authentication on each connection whose session is about to expire.
    /// While it runs the connection is `Authenticating`: requests already in flight complete
    /// (responses come in order), new ones wait for `Ready`.
    fn poll_reauth(&mut self, now: Instant) {
        if self.reauth.is_empty() {
            return;
        }
        let mut due = Vec::new();
        for (&node, &(at, hs, auth)) in &self.reauth {
            if at <= now {
                due.push((node, hs, auth));
            } else if self.next_wakeup.is_none_or(|w| at < w) {
                self.next_wakeup = Some(at);
            }
        }
        for (node, hs, auth) in due {
            self.reauth.remove(&node);
            let Some(v) = self.versions(node) else { continue };
            log::debug!("{}: re-authenticating (KIP-368)", self.broker_name(node));
            if let Err(msg) = self.start_sasl(node, v, Ok(hs), Ok(auth), now) {
                self.close_conn(node, &msg, now);
            }
        }
    }

    fn sasl_failed(&mut self, node: i32, msg: String) -> Result<(), String> {
        let mech = self.cfg.sasl.mechanism.name();
        let full = format!("{} with SASL mechanism {mech}: {msg}", self.broker_name(node));
        self.fatal = Some(ProduceError::Authentication(full.clone()));
        log::error!("authentication failed: {full}");
        self.sasl_conns.remove(&node);
        Err(full)
    }

    fn handle_sasl_handshake(
        &mut self,
        node: i32,
        version: i16,
        frame: &[u8],
        now: Instant,
    ) -> Result<(), String> {
        let (_, r) = decode_response::<SaslHandshakeRequest>(frame, version)
            .map_err(|e| format!("malformed SaslHandshake response: {e}"))?;
        if !r.error_code.is_ok() {
            let enabled = r.mechanisms.join(", ");
            return self.sasl_failed(node, format!("{} (the broker enables: {enabled})", r.error_code));
        }
        let Some(sc) = self.sasl_conns.get_mut(&node) else { return Err("SASL state lost".into()) };
        let first = match sc.session.start(&self.cfg.sasl) {
            Ok(m) => m,
            Err(e) => return self.sasl_failed(node, e),
        };
        let v = sc.auth_version;
        let req = SaslAuthenticateRequest { auth_bytes: first };
        self.send_request(node, v, &req, Kind::SaslAuthenticate { version: v }, now);
        Ok(())
    }

    fn handle_sasl_authenticate(
        &mut self,
        node: i32,
        version: i16,
        frame: &[u8],
        now: Instant,
    ) -> Result<(), String> {
        let (_, r) = decode_response::<SaslAuthenticateRequest>(frame, version)
            .map_err(|e| format!("malformed SaslAuthenticate response: {e}"))?;
        if !r.error_code.is_ok() {
            let m = r.error_message.unwrap_or_default();
            return self.sasl_failed(node, format!("{}: {m}", r.error_code));
        }
        let Some(sc) = self.sasl_conns.get_mut(&node) else { return Err("SASL state lost".into()) };
        match sc.session.step(&r.auth_bytes) {
            Ok(SaslStep::Send(bytes)) => {
                let v = sc.auth_version;
                let req = SaslAuthenticateRequest { auth_bytes: bytes };
                self.send_request(node, v, &req, Kind::SaslAuthenticate { version: v }, now);
                Ok(())
            }
            Ok(SaslStep::Done) => {
                let sc = self.sasl_conns.remove(&node).expect("checked above");
                if r.session_lifetime_ms > 0 {
                    // KIP-368: re-authenticate on this connection at 85–95% of the session
                    // lifetime (as the Java client does), before the broker would close it.
                    let ms = r.session_lifetime_ms.min(i64::from(u32::MAX)) as u64;
                    let at = now + Duration::from_millis(ms * u64::from(85 + self.rng.below(11)) / 100);
                    self.reauth.insert(node, (at, sc.handshake_version, sc.auth_version));
                    self.wake_at(at);
                }
                log::info!(
                    "{} authenticated with {}",
                    self.broker_name(node),
                    self.cfg.sasl.mechanism.name()
                );
                if let Some(c) = self.conns.get_mut(&node) {
                    c.state = ConnState::Ready(sc.versions);
                }
                self.backoff.remove(&node);
                Ok(())
            }
            Err(e) => self.sasl_failed(node, e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_wrap_like_kafka() {
        assert_eq!(next_sequence(0, 5), 5);
        assert_eq!(next_sequence(i32::MAX - 1, 1), i32::MAX);
        assert_eq!(next_sequence(i32::MAX, 1), 0);
        assert_eq!(next_sequence(i32::MAX - 2, 5), 2);
    }

    #[test]
    fn sequence_order_follows_the_wrap() {
        assert!(sequence_after(5, 0) && !sequence_after(0, 5) && !sequence_after(7, 7));
        assert!(sequence_after(0, i32::MAX), "0 follows i32::MAX");
        assert!(sequence_after(next_sequence(i32::MAX - 2, 5), i32::MAX - 2));
        assert!(!sequence_after(i32::MAX, 0));
    }
}
