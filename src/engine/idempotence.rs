//! The idempotent producer: its producer id and epoch (InitProducerId), the epoch bump of KIP-360
//! when a sequenced batch failed for good or the broker lost our state, the resequencing that
//! follows a bump, and Kafka's sequence arithmetic (sequences wrap from `i32::MAX` to 0).
//!
//! The room owns [`Idempotence`]. A bump waits until no batch is in flight, and fails (rather
//! than resequences) a batch an earlier attempt of which may have been written. Sending and
//! completing batches is `produce`'s.

use std::time::Instant;

use crate::error::ProduceError;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::InitProducerIdRequest;

use super::accumulator::Batch;
use super::requests::Kind;
use super::Engine;

/// The producer epoch a sent batch carries in its header (-1 when it has none yet).
pub(super) fn sent_epoch(b: &Batch) -> i16 {
    let at = crate::protocol::record_batch::PRODUCER_EPOCH_OFFSET;
    match b.bytes().get(at..at + 2) {
        Some(e) if b.sequence.is_some() => i16::from_be_bytes([e[0], e[1]]),
        _ => -1,
    }
}

/// Whether sequence `a` comes after `b`, in Kafka's sequence space (0 to `i32::MAX`, wrapping):
/// true when `a` is less than half that space ahead of `b`.
pub(super) fn sequence_after(a: i32, b: i32) -> bool {
    let d = (i64::from(a) - i64::from(b)).rem_euclid(1 << 31);
    d > 0 && d < 1 << 30
}

/// Kafka's sequence arithmetic: sequences wrap from `i32::MAX` to 0.
pub(super) fn next_sequence(seq: i32, inc: i32) -> i32 {
    if seq > i32::MAX - inc {
        inc - (i32::MAX - seq) - 1
    } else {
        seq + inc
    }
}

/// The idempotence room's state (see the module docs). `records` and `produce` read
/// `producer` to stamp batches and hold them during a bump; `produce` asks for a bump
/// (`bump_pending`); `connection` clears `in_flight` when the request is lost.
#[derive(Debug, Default)]
pub(super) struct Idempotence {
    /// Our producer id and epoch, once InitProducerId answered.
    pub(super) producer: Option<(i64, i16)>,
    /// An InitProducerId request is out.
    pub(super) in_flight: bool,
    /// No InitProducerId before then (after one failed or was lost).
    pub(super) retry_at: Option<Instant>,
    /// InitProducerId requests failed in a row.
    attempts: u32,
    /// The epoch must be bumped (KIP-360) before more batches go out.
    pub(super) bump_pending: bool,
}

impl Engine {
    pub(super) fn poll_producer_id(&mut self, now: Instant) {
        if self.idem.in_flight || (self.idem.producer.is_some() && !self.idem.bump_pending) {
            return;
        }
        if self.idem.bump_pending {
            // Bump only once nothing is in flight: no batch may carry the old epoch after it.
            let in_flight: u32 =
                self.topics.iter().flat_map(|t| t.partitions.iter()).map(|p| p.in_flight).sum();
            if in_flight > 0 {
                return;
            }
        }
        if let Some(t) = self.idem.retry_at {
            if t > now {
                self.wake_at(t);
                return;
            }
        }
        let Some((node, v)) = self.cluster_conn(now) else { return };
        let (pid, epoch) = match self.idem.producer {
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
        self.idem.in_flight = true;
        self.send_request(
            node,
            v.init_producer_id,
            &req,
            Kind::InitProducerId { version: v.init_producer_id },
            now,
        );
    }

    pub(super) fn handle_init_producer_id(&mut self, code: ErrorCode, id: i64, epoch: i16, now: Instant) {
        self.idem.in_flight = false;
        if code.is_ok() {
            let bumped = self.idem.producer.is_some();
            self.idem.producer = Some((id, epoch));
            self.idem.attempts = 0;
            if bumped || self.idem.bump_pending {
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
            self.idem.bump_pending = false;
        } else if code.is_retriable() || code == ErrorCode::BROKER_NOT_AVAILABLE {
            self.idem.attempts += 1;
            self.idem.retry_at = Some(now + self.cfg.retry_backoff);
        } else {
            self.fatal = Some(ProduceError::Broker { code, message: Some("InitProducerId failed".into()) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{next_sequence, sequence_after};

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
