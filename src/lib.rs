//! ringkafka: a Kafka producer with the semantics of Java's `KafkaProducer`, on one pinned
//! io_uring sender thread.
//!
//! Application threads call [`Producer::send`] (or [`Producer::send_with_callback`],
//! [`Producer::send_and_forget`]): the record is serialized and checked on the caller's thread,
//! then handed to the sender thread through a lock-free queue. The sender thread owns
//! everything else — the accumulator, the partitioner, the metadata, every broker socket
//! (driven through io_uring) — and runs the callbacks, in send order within each partition.
//!
//! # Features
//! - `mock`: the `ringkafka::mock` module, a mock Kafka cluster on loopback for testing an
//!   application without a broker, with faults injected on demand.
//!
//! # Layout
//! Internally, `protocol` is the sans-IO wire codec, `engine` the sans-IO producer state
//! machines, `io` the io_uring driver (the only module allowed `unsafe`: the compiler refuses it
//! anywhere else) and `sender` the loop gluing them. None of them is part of the API.
#![deny(missing_docs)]
#![deny(unsafe_code)]
#![warn(missing_debug_implementations)]

// `io`, `protocol` and `security` hold pieces that only the mock cluster (a broker's side of the
// codec and of SCRAM), the crate's tests and its tools use: without the `mock` and `internals`
// features those are unused, and not warned about. Tests and clippy build with both features.
// What `internals` exposes is exempt from `missing_docs`; the user API is checked by building
// (and `cargo doc`) without it.
//
// Every module but `io` forbids `unsafe` (an inner `allow` cannot lift a `forbid`), except
// `delivery`, which only denies it: `smallbox!` (inline completions, no allocation per record)
// expands to its crate's unsafe constructor inside its own `#[allow(unsafe_code)]`, which a
// `forbid` refuses. No code of ours there may be unsafe either; `scripts/test.sh` fails if any
// `unsafe_code` lint level is set outside this file.
#[forbid(unsafe_code)]
mod config;
#[deny(unsafe_code)]
mod delivery;
#[forbid(unsafe_code)]
mod engine;
#[forbid(unsafe_code)]
mod error;
// A whole producer on one thread, for counting instructions (benches/instructions.rs).
#[cfg(any(test, all(feature = "internals", feature = "mock")))]
#[forbid(unsafe_code)]
#[cfg_attr(feature = "internals", allow(missing_docs))]
mod harness;
#[allow(unsafe_code)]
#[cfg_attr(not(feature = "internals"), allow(dead_code, unused_imports))]
#[cfg_attr(feature = "internals", allow(missing_docs))]
mod io;
#[forbid(unsafe_code)]
mod memory;
#[forbid(unsafe_code)]
mod metrics;
#[forbid(unsafe_code)]
mod producer;
#[forbid(unsafe_code)]
#[cfg_attr(not(feature = "internals"), allow(dead_code, unused_imports))]
#[cfg_attr(feature = "internals", allow(missing_docs))]
mod protocol;
#[forbid(unsafe_code)]
mod record;
#[forbid(unsafe_code)]
mod resolver;
#[forbid(unsafe_code)]
#[cfg_attr(not(feature = "mock"), allow(dead_code))]
mod security;
#[forbid(unsafe_code)]
mod sender;
#[forbid(unsafe_code)]
mod transaction;

// The mock cluster: public with the `mock` feature; the engine's own tests use it either way,
// and some of its parts only they do.
#[cfg(feature = "mock")]
#[forbid(unsafe_code)]
#[cfg_attr(not(test), allow(dead_code))]
pub mod mock;
#[cfg(all(test, not(feature = "mock")))]
#[forbid(unsafe_code)]
mod mock;

#[cfg(feature = "internals")]
#[doc(hidden)]
#[forbid(unsafe_code)]
pub mod internals;

pub use config::{
    Acks, Compression, ConfigError, ConfigProperty, IdleStrategy, MetadataRecovery, ProducerConfig, SenderCpu,
};
pub use delivery::{DeliveryFuture, DeliveryResult};
pub use engine::partitioner::Partitioner;
pub use error::{ProduceError, SendError};
pub use metrics::{MetricsSnapshot, Percentiles};
pub use producer::{Producer, ProducerInterceptor, StartError};
pub use protocol::ErrorCode;
pub use record::{
    BooleanSerializer, ByteArraySerializer, DoubleSerializer, FloatSerializer, Header, IntegerSerializer,
    IntoTopic, LongSerializer, PartitionInfo, ProducerRecord, RecordMetadata, SerializationError, Serializer,
    ShortSerializer, StringSerializer, UuidSerializer,
};
pub use security::sasl::{OAuthToken, OAuthTokenCallback, Password, SaslConfig, SaslMechanism};
pub use security::{SecurityProtocol, SslConfig};
pub use transaction::{ConsumerGroupMetadata, OffsetAndMetadata, TransactionError, TransactionFuture};
