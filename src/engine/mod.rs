//! The producer engine, sans-IO: records, `now` and response bytes go in; connection requests,
//! request bytes and deadlines come out. It owns the accumulator, the partitioner, the cluster
//! metadata, the connections' protocol state (version negotiation, in-flight requests,
//! correlation ids), retries with backoff, and idempotent sequencing. It never touches a socket
//! or a clock, and draws no entropy: the sender thread (`crate::sender`) moves bytes, tells it
//! the time and seeds its random choices, so a test that drives it in virtual time with a fixed
//! seed replays exactly. Nor does it resolve host names: it asks for a host's addresses with
//! [`Transmit::Resolve`] and is told them with [`Engine::on_resolved`].
//!
//! Driving it: [`Engine::append`] each record, call [`Engine::poll`] once per loop turn, take
//! [`Transmit`]s with [`Engine::poll_transmit`], report what the network did with
//! `on_connected` / `on_frame` / `on_sent` / `on_closed` / `on_resolved`, and sleep no longer than
//! [`Engine::poll_timeout`].
//!
//! The work is split into rooms, a file each, each owning its part of the state (a struct in
//! its file, a field of [`Engine`]) and its own `impl Engine` block:
//!
//! | room | owns |
//! |---|---|
//! | `records` | records in: topic lookup, partition choice, appending to batches |
//! | `metadata` | when to ask for metadata and what the answer changes, leader epochs, leaders from Produce answers (KIP-951), when to rebootstrap; `partitions_for` |
//! | `produce` | ready batches into Produce requests, their responses, retries, completion |
//! | `idempotence` | producer id and epoch, epoch bumps (KIP-360), sequence numbers |
//! | `flush` | flush generations and the count of incomplete records |
//! | `connection` | connections: opening, backoff, broker endpoints and their hosts' addresses (looked up by the sender), timeouts, idle close, loss, rebootstrap |
//! | `requests` | requests in flight, the ApiVersions handshake, throttling, response dispatch |
//! | `sasl` | SASL authentication and re-authentication (KIP-368) |
//! | `transactions` | the transaction state machine, coordinators, AddPartitions/Offsets, EndTxn |
//!
//! This file holds what they share: the [`Engine`] itself, the batches (`topics`, see
//! `accumulator`), the driving surface, and [`Engine::poll`], which runs each room's turn.

pub mod accumulator;
mod connection;
mod flush;
mod idempotence;
mod metadata;
pub mod partitioner;
mod produce;
mod records;
mod requests;
mod sasl;
#[cfg(test)]
mod security_tests;
#[cfg(test)]
mod sim_tests;
pub(crate) mod transactions;
#[cfg(test)]
mod txn_tests;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::ProducerConfig;
use crate::delivery::Completion;
use crate::error::ProduceError;
use crate::io::SendBuf;
use crate::memory::BufferMemory;
use crate::metrics::Metrics;
use crate::protocol::compression::Codec;
use crate::protocol::record_batch::RECORD_OVERHEAD_MAX;
use crate::record::{Header, PartitionInfo};

use accumulator::TopicState;
use connection::{ConnState, Connections};
use flush::Flushes;
use idempotence::Idempotence;
use metadata::MetadataState;
use partitioner::{Partitioner, Rng};
use records::Records;
use requests::Kind;
use sasl::SaslState;
use transactions::Transactions;

/// A record handed over by `send`, already serialized: what crosses the queue to the sender.
///
/// It takes 120 bytes, so that a queue slot (with the queue's own 8-byte stamp) is two cache
/// lines, not three: each slot the caller writes is a line the sender read last, and those
/// transfers are most of what `send` costs. What few records carry (headers, a timestamp of
/// their own) is boxed in [`Extras`].
///
/// The sender handles it where it lies in the queue's slot (`Engine::append` takes it by
/// reference): it copies the bytes into a batch and takes the completion; the key, value,
/// extras and topic stay in the slot, to be dropped by the `send` that writes the slot next, on
/// an application thread (see `io::queue`). A record that must wait (for its topic's metadata)
/// is taken out of the slot ([`Pending::take`]).
#[derive(Debug)]
pub(crate) struct Pending {
    pub topic: Arc<str>,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub extras: Option<Box<Extras>>,
    pub completion: Completion,
    /// The record's own partition, or -1.
    pub partition: i32,
    /// Its bytes from its key's length to its last header (`record_batch::payload_size`): its
    /// size in a batch but for the fields that depend on where it lands there. Its
    /// `buffer.memory` charge derives from it ([`reserved`](Self::reserved)).
    pub payload: u32,
}

/// Headers and a timestamp of the record's own: what few records have (see [`Pending`]).
#[derive(Debug, Default)]
pub(crate) struct Extras {
    pub headers: Vec<Header>,
    /// `None` takes the sender's clock when it takes the record.
    pub timestamp: Option<i64>,
}

impl Pending {
    /// A record; `extras` are boxed only if there are any.
    #[cfg(test)]
    pub(crate) fn new(
        topic: Arc<str>,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        headers: Vec<Header>,
        timestamp: Option<i64>,
        partition: Option<i32>,
        completion: Completion,
    ) -> Pending {
        let payload = crate::protocol::record_batch::payload_size(key.as_deref(), value.as_deref(), &headers);
        let extras =
            (!headers.is_empty() || timestamp.is_some()).then(|| Box::new(Extras { headers, timestamp }));
        let partition = partition.unwrap_or(-1);
        Pending { topic, key, value, extras, completion, partition, payload: payload as u32 }
    }

    /// The `buffer.memory` bytes a record of this `payload` reserves: its size in a batch at
    /// most (the fields that depend on where it lands at their widest) and the producer's
    /// bookkeeping for it.
    #[inline]
    pub(crate) const fn reservation(payload: usize) -> usize {
        payload + RECORD_OVERHEAD_MAX + accumulator::RECORD_BOOKKEEPING
    }

    /// What this record reserved of `buffer.memory` ([`reservation`](Self::reservation)).
    #[inline]
    pub(crate) fn reserved(&self) -> usize {
        Self::reservation(self.payload as usize)
    }

    /// Takes the record out of its queue slot, leaving the slot what a record handled in place
    /// leaves (no buffers, no completion; the topic, shared).
    pub(crate) fn take(&mut self) -> Pending {
        Pending {
            topic: self.topic.clone(),
            key: self.key.take(),
            value: self.value.take(),
            extras: self.extras.take(),
            completion: std::mem::take(&mut self.completion),
            partition: self.partition,
            payload: self.payload,
        }
    }

    /// The record's own partition.
    #[inline]
    pub(crate) fn partition(&self) -> Option<i32> {
        (self.partition >= 0).then_some(self.partition)
    }

    /// The record's own timestamp.
    #[inline]
    pub(crate) fn timestamp(&self) -> Option<i64> {
        self.extras.as_ref().and_then(|e| e.timestamp)
    }

    #[inline]
    pub(crate) fn headers(&self) -> &[Header] {
        self.extras.as_ref().map_or(&[], |e| &e.headers)
    }
}

/// When and how the sender took a record (`Engine::append`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamp {
    /// When the sender took the record: linger, delivery timeout and the metadata wait count
    /// from here, normally microseconds after `send`.
    pub enqueued: Instant,
    /// The record's timestamp: its own, or the sender's wall clock when it took it.
    pub timestamp: i64,
    /// The flush generation the engine counted the record in.
    pub generation: u32,
}

/// A record waiting for its topic's metadata.
#[derive(Debug)]
pub(crate) struct Waiting {
    pub record: Pending,
    pub stamp: Stamp,
}

/// What the engine asks of the network.
#[derive(Debug)]
pub enum Transmit {
    /// Open a connection to `node` at `addr`.
    Connect { node: i32, addr: SocketAddr },
    /// Look up the addresses of the host name `host` and report them with
    /// [`Engine::on_resolved`] (however long that takes: nothing waits for it but the
    /// connections to that host). Asked at most once at a time per host.
    Resolve { host: String },
    /// Write these bytes (one or more whole requests) to `node`'s connection. A Produce
    /// request's batches are spliced in, not copied (see [`SendBuf`]); the buffer comes back
    /// with `on_sent`.
    Send { node: i32, buf: SendBuf },
    /// Close `node`'s connection; the engine has already forgotten it.
    Close { node: i32 },
}

/// Someone waiting for a flush.
pub(crate) type FlushWaiter = Box<dyn FnOnce() + Send>;

/// Waits for a topic's partitions (`Producer::partitions_for`); called once.
pub(crate) type PartitionsWaiter = Box<dyn FnOnce(Result<Vec<PartitionInfo>, ProduceError>) + Send>;

/// The engine. See the module docs: each room owns the part of the state named after it.
pub struct Engine {
    cfg: ProducerConfig,
    /// `cfg.codec()`, once.
    codec: Codec,
    /// The batch limits without a codec (which do not depend on a topic's compression ratio).
    plain_limits: accumulator::BatchLimits,
    /// The accumulator: each topic's partitions, their leaders and their batches. Shared by
    /// the rooms: `records` appends, `metadata` sets leaders, `produce` drains and completes,
    /// `idempotence` resequences.
    topics: Vec<TopicState>,
    /// Buffers for reuse: `records` takes them for new batches, `produce` gives them back.
    spare: accumulator::Spare,
    records: Records,
    net: Connections,
    metadata: MetadataState,
    idem: Idempotence,
    flushes: Flushes,
    sasl: SaslState,
    /// With `transactional.id`: the transaction manager (`None` otherwise, and then no
    /// transactional code runs).
    txn: Option<Transactions>,
    /// What the network is asked to do, in order (`poll_transmit`).
    outbox: VecDeque<Transmit>,
    /// See `poll_timeout`.
    next_wakeup: Option<Instant>,
    /// `begin_close` was called: nothing lingers.
    closing: bool,
    /// A non-retriable failure: every record fails with it, now and later.
    fatal: Option<ProduceError>,
    /// Sticky partition picks and backoff jitter, seeded by the caller.
    rng: Rng,
    memory: Arc<BufferMemory>,
    metrics: Arc<Metrics>,
    /// What is yet to be recorded in the metrics' histograms (see `Metrics::record`).
    hist: crate::metrics::Pending,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("topics", &self.topics.len())
            .field("conns", &self.net.conns.len())
            .field("incomplete", &self.flushes.incomplete())
            .finish_non_exhaustive()
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
        let plain_limits = accumulator::BatchLimits::new(
            cfg.batch_size,
            cfg.batch_max_size,
            cfg.max_request_size,
            Codec::None,
            1.0,
        );
        let txn = cfg.transactional_id.clone().map(|id| Transactions::new(id, cfg.transaction_timeout));
        Engine {
            codec: cfg.codec(),
            plain_limits,
            cfg,
            topics: Vec::new(),
            spare: accumulator::Spare::default(),
            records: Records::new(partitioner),
            net: Connections::new(bootstrap),
            metadata: MetadataState::default(),
            idem: Idempotence::default(),
            flushes: Flushes::default(),
            sasl: SaslState::default(),
            txn,
            outbox: VecDeque::new(),
            next_wakeup: None,
            closing: false,
            fatal: None,
            rng: Rng::new(seed),
            memory,
            metrics,
            hist: Default::default(),
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
        !self.net.brokers.is_empty()
            && self.net.brokers.keys().all(|node| {
                self.net.conns.get(node).is_some_and(|c| {
                    matches!(c.state, ConnState::Ready(_)) && c.produce_in_flight >= self.cfg.max_in_flight
                })
            })
    }

    /// Records accepted and not yet completed (and a transactional call under way counts as
    /// one: the sender does not stop before it ends).
    pub fn incomplete(&self) -> usize {
        self.flushes.incomplete() + usize::from(self.txn_busy())
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

    /// Stops lingering: everything is sent as soon as it can be.
    pub(crate) fn begin_close(&mut self) {
        self.closing = true;
        self.txn_close();
    }

    /// Fails every record not yet completed with `err` (forced close, fatal error). `now` is
    /// the caller's clock.
    pub(crate) fn fail_all(&mut self, err: ProduceError, now: Instant) {
        for (_, _, w) in std::mem::take(&mut self.metadata.waiters) {
            w(Err(err.clone()));
        }
        for ti in 0..self.topics.len() {
            while let Some(w) = self.topics[ti].waiting.pop_front() {
                self.fail_pending(w.record, w.stamp, err.clone());
            }
            for pi in 0..self.topics[ti].partitions.len() {
                while let Some(b) = self.topics[ti].partitions[pi].queue.pop_front() {
                    self.complete_batch(ti, pi as i32, b, Err(err.clone()), now);
                }
            }
        }
        let nodes: Vec<i32> = self.net.conns.keys().copied().collect();
        for node in nodes {
            if let Some(conn) = self.net.conns.remove(&node) {
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
        self.txn_fail_calls(&err);
        self.metrics_in_flight();
        self.flushes.check();
    }

    /// Asks to be polled again no later than `t`.
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
            if self.flushes.incomplete() > 0 || !self.metadata.waiters.is_empty() || self.txn_busy() {
                log::error!("producer failed: {err}");
                self.fail_all(err, now);
            }
            return;
        }
        self.poll_request_timeouts(now);
        self.poll_reauth(now);
        self.poll_metadata(now);
        if self.txn.is_some() {
            self.poll_transactions(now);
        } else if self.cfg.enable_idempotence {
            self.poll_producer_id(now);
        }
        self.poll_waiting(now);
        if !self.metadata.waiters.is_empty() {
            self.answer_partition_waiters(&[], now);
        }
        self.poll_partitions(now);
        // What waited while `Producer::metrics` held the histograms: in by the next turn.
        self.metrics.record(&mut self.hist, true);
        self.flushes.check();
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
}
