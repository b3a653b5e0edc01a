//! What the crate's own tests look at inside the mock cluster beyond its public API: the stored
//! batches with their producer ids, epochs and sequences, counters, and broker behaviours that
//! only matter to the producer's idempotence tests. Reached through `internals` (no semver
//! promise); the public [`MockCluster`](super::MockCluster) and
//! [`MockServer`](super::MockServer) do not show them.

#[cfg(feature = "internals")]
use super::{MockCluster, MockServer};
use crate::protocol::record_batch::RecordBatch;

/// A batch the mock accepted, at its offset.
#[derive(Debug, Clone)]
pub struct StoredBatch {
    /// The offset of its first record.
    pub base_offset: i64,
    /// The batch as decoded (records left out when the cluster does not retain them).
    pub batch: RecordBatch,
}

/// The internal views of a [`MockCluster`].
#[cfg(feature = "internals")]
pub trait MockClusterInternals {
    /// The batches stored for a partition, in offset order.
    fn log(&self, topic: &str, partition: i32) -> &[StoredBatch];
    /// The number of brokers.
    fn broker_count(&self) -> usize;
    /// Leader moves made by chaos so far.
    fn leader_moves(&self) -> u64;
    /// Batches refused as larger than `set_max_batch_bytes`.
    fn too_large(&self) -> u64;
    /// With `true`, a partition appends a batch whose first sequence is not 0 from a producer
    /// it has no state for, as Apache Kafka 2.5 to 4.4 do (KIP-360), instead of answering
    /// UNKNOWN_PRODUCER_ID.
    fn set_accept_any_first_sequence(&mut self, on: bool);
}

#[cfg(feature = "internals")]
impl MockClusterInternals for MockCluster {
    fn log(&self, topic: &str, partition: i32) -> &[StoredBatch] {
        MockCluster::log(self, topic, partition)
    }

    fn broker_count(&self) -> usize {
        self.brokers().len()
    }

    fn leader_moves(&self) -> u64 {
        self.leader_moves
    }

    fn too_large(&self) -> u64 {
        self.too_large
    }

    fn set_accept_any_first_sequence(&mut self, on: bool) {
        MockCluster::set_accept_any_first_sequence(self, on);
    }
}

/// The internal views of a [`MockServer`].
#[cfg(feature = "internals")]
pub trait MockServerInternals {
    /// Connections closed because the client sent a malformed request.
    fn bad_requests(&self) -> u64;
}

#[cfg(feature = "internals")]
impl MockServerInternals for MockServer {
    fn bad_requests(&self) -> u64 {
        MockServer::bad_requests(self)
    }
}
