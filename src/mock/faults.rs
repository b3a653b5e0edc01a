//! Fault injection for the mock cluster (compare librdkafka's `rd_kafka_mock_push_request_errors`,
//! `rd_kafka_mock_broker_set_down/up`, `rd_kafka_mock_partition_set_leader`,
//! `rd_kafka_mock_broker_set_rtt`).
//!
//! Faults are *decided* here, in the sans-IO core, and *carried out* by whoever moves the bytes:
//! [`MockCluster::handle_request`](super::MockCluster::handle_request) returns a [`Reply`] that
//! says what to send, after how long, and whether to cut the connection before or after the
//! request was applied. The TCP front end ([`MockServer`](super::server::MockServer)) honours
//! every field; the engine's virtual-time tests can honour them too.

use std::time::Duration;

use crate::protocol::error_code::ErrorCode;
use crate::protocol::version::ApiKey;

/// A kind of request the mock cluster answers, to aim faults at (see
/// [`MockCluster::push_request_faults`](super::MockCluster::push_request_faults)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Api {
    /// Produce: records.
    Produce,
    /// Metadata: brokers, topics, partitions and their leaders.
    Metadata,
    /// ApiVersions: the first request on every connection.
    ApiVersions,
    /// InitProducerId: an idempotent producer's id and epoch.
    InitProducerId,
    /// SaslHandshake: the SASL mechanism.
    SaslHandshake,
    /// SaslAuthenticate: the SASL exchange.
    SaslAuthenticate,
    /// FindCoordinator: a transactional id's or a group's coordinator.
    FindCoordinator,
    /// AddPartitionsToTxn: partitions joining a transaction (transaction version 1).
    AddPartitionsToTxn,
    /// AddOffsetsToTxn: a consumer group joining a transaction (transaction version 1).
    AddOffsetsToTxn,
    /// TxnOffsetCommit: a group's offsets committed in a transaction.
    TxnOffsetCommit,
    /// EndTxn: a transaction's commit or abort.
    EndTxn,
}

impl Api {
    /// The wire API key.
    pub(crate) fn key(self) -> ApiKey {
        match self {
            Api::Produce => ApiKey::Produce,
            Api::Metadata => ApiKey::Metadata,
            Api::ApiVersions => ApiKey::ApiVersions,
            Api::InitProducerId => ApiKey::InitProducerId,
            Api::SaslHandshake => ApiKey::SaslHandshake,
            Api::SaslAuthenticate => ApiKey::SaslAuthenticate,
            Api::FindCoordinator => ApiKey::FindCoordinator,
            Api::AddPartitionsToTxn => ApiKey::AddPartitionsToTxn,
            Api::AddOffsetsToTxn => ApiKey::AddOffsetsToTxn,
            Api::TxnOffsetCommit => ApiKey::TxnOffsetCommit,
            Api::EndTxn => ApiKey::EndTxn,
        }
    }
}

/// One injected fault, consumed by one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this error code (Produce: every partition of the request; nothing appended).
    Error(ErrorCode),
    /// Apply the request, then answer after this delay.
    Delay(Duration),
    /// Close the connection without applying the request.
    DropBefore,
    /// Apply the request, then close the connection without answering ("written, ack lost").
    DropAfter,
    /// Apply the request and answer with `throttle_time_ms` set to this, as a broker over a
    /// quota does: for request versions that leave the back-off to the client (KIP-219:
    /// Produce v6+, Metadata v6+, InitProducerId v1+, ApiVersions v2+) it answers at once and
    /// then reads nothing more from the connection for that long; for older ones it delays the
    /// answer instead.
    Throttle(Duration),
    /// Answer with bytes no Kafka broker would send; the connection is then closed.
    Hostile(Hostile),
}

/// Malformed answers, for the client's decoder and connection handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostile {
    /// A size prefix promising more than is sent, then the connection closes.
    TruncatedFrame,
    /// A well-formed response under a correlation id nobody asked for.
    WrongCorrelationId,
    /// A size prefix near `i32::MAX` (a client must not allocate it).
    AbsurdLength,
    /// A negative size prefix.
    NegativeLength,
    /// A plausible size prefix followed by random bytes.
    Garbage,
}

/// What to do with one request, as decided by the cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Reply {
    /// The framed response to write (size prefix included), if any.
    pub response: Option<Vec<u8>>,
    /// Wait this long before writing it.
    pub delay: Duration,
    /// After writing it, read nothing more from the connection for this long (a throttled
    /// client's muted channel).
    pub mute: Duration,
    /// Close the connection after writing `response` (or instead of it, when `None`).
    pub close: bool,
}

/// A small deterministic PRNG (SplitMix64): faults from a seed replay exactly. `ringkafka-perf`
/// picks its payloads with it too (through `internals`: it is not part of the API).
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// The errors a broker answers Produce with that a producer must retry.
pub const RETRIABLE_PRODUCE_ERRORS: &[ErrorCode] = &[
    ErrorCode::NOT_LEADER_OR_FOLLOWER,
    ErrorCode::LEADER_NOT_AVAILABLE,
    ErrorCode::REQUEST_TIMED_OUT,
    ErrorCode::NOT_ENOUGH_REPLICAS,
    ErrorCode::NOT_ENOUGH_REPLICAS_AFTER_APPEND,
];

/// Random faults on a fraction of requests: every category of [`Fault`] but
/// [`Fault::Hostile`], plus leader moves. Deterministic for a given seed and request order.
#[derive(Debug, Clone)]
pub struct Chaos {
    pub(crate) rng: SplitMix64,
    /// Probability that a request meets a fault.
    pub probability: f64,
    /// Upper bound of injected delays and throttles.
    pub max_delay: Duration,
    /// Faults injected so far, by category name.
    pub counts: std::collections::BTreeMap<&'static str, u64>,
}

impl Chaos {
    /// Chaos from `seed`, hitting a `probability` fraction of requests.
    pub fn new(seed: u64, probability: f64) -> Self {
        Chaos {
            rng: SplitMix64::new(seed),
            probability,
            max_delay: Duration::from_millis(50),
            counts: Default::default(),
        }
    }

    /// What happens to the next request: `None` (nothing), a fault, or a leader move
    /// (`Err(())`, carried out by the cluster on a random partition).
    pub(crate) fn pick(&mut self, is_produce: bool) -> Option<Result<Fault, ()>> {
        if !self.rng.chance(self.probability) {
            return None;
        }
        let d = Duration::from_millis(1 + self.rng.below(self.max_delay.as_millis().max(1) as u64));
        let (name, f) = match self.rng.below(if is_produce { 6 } else { 4 }) {
            0 => ("delay", Ok(Fault::Delay(d))),
            1 => ("drop-before", Ok(Fault::DropBefore)),
            2 => ("drop-after", Ok(Fault::DropAfter)),
            3 => ("throttle", Ok(Fault::Throttle(d))),
            4 => {
                let code =
                    RETRIABLE_PRODUCE_ERRORS[self.rng.below(RETRIABLE_PRODUCE_ERRORS.len() as u64) as usize];
                ("retriable-error", Ok(Fault::Error(code)))
            }
            _ => ("leader-move", Err(())),
        };
        *self.counts.entry(name).or_default() += 1;
        Some(f)
    }
}

/// The bytes a hostile broker sends for `h` (size prefix included).
pub(crate) fn hostile_bytes(h: Hostile, correlation_id: i32, rng: &mut SplitMix64) -> Vec<u8> {
    match h {
        Hostile::TruncatedFrame => {
            let mut v = 100i32.to_be_bytes().to_vec();
            v.extend_from_slice(&correlation_id.to_be_bytes());
            v.extend_from_slice(&[0; 10]);
            v
        }
        Hostile::WrongCorrelationId => {
            let mut v = 8i32.to_be_bytes().to_vec();
            v.extend_from_slice(&correlation_id.wrapping_add(7919).to_be_bytes());
            v.extend_from_slice(&[0; 4]);
            v
        }
        Hostile::AbsurdLength => {
            let mut v = (i32::MAX - 1).to_be_bytes().to_vec();
            v.extend_from_slice(&correlation_id.to_be_bytes());
            v
        }
        Hostile::NegativeLength => {
            let mut v = (-5i32).to_be_bytes().to_vec();
            v.extend_from_slice(&[0xff; 16]);
            v
        }
        Hostile::Garbage => {
            let len = 16 + rng.below(200) as usize;
            let mut v = (len as i32).to_be_bytes().to_vec();
            v.extend((0..len).map(|_| rng.next_u64() as u8));
            v
        }
    }
}
