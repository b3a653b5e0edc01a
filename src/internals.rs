//! **Not part of the API.** The pieces of the crate that its own integration tests, benches,
//! fuzz targets and tools reach into: the wire codec, the io_uring driver, the partitioner's
//! hash, and inspection hooks of the mock cluster.
//!
//! Compiled only with the `internals` cargo feature and hidden from the documentation. Anything
//! here may change or disappear in any release, patch releases included: there is no semver
//! promise. Applications use the crate root (and `mock`) only.

/// The sans-IO Kafka wire codec.
pub mod protocol {
    pub use crate::protocol::*;
}

/// The batch codec a configuration asks for (`compression.type` and its level): for a tool
/// that encodes batches itself (`ringkafka-perf --client ceiling`).
pub fn codec(cfg: &crate::ProducerConfig) -> protocol::compression::Codec {
    cfg.codec()
}

/// The io_uring TCP driver of the sender thread, and CPU affinity.
pub mod io {
    pub use crate::io::*;
}

/// The default partitioner's hash (Java's `Utils.murmur2`) and key → partition mapping.
pub mod partitioner {
    pub use crate::engine::partitioner::{murmur2, partition_for_key};
}

/// A whole producer on one thread with no ring, for counting instructions per record
/// (`benches/instructions.rs`, `tools/perf/instr.sh`).
#[cfg(feature = "mock")]
pub mod harness {
    pub use crate::harness::Pipeline;
}

/// What the mock cluster stored, batch by batch, and its internal counters and switches.
#[cfg(feature = "mock")]
pub mod mock {
    pub use crate::mock::faults::SplitMix64;
    pub use crate::mock::inspect::{MockClusterInternals, MockServerInternals, StoredBatch};
}
