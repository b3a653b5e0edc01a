//! ringkafka: a Kafka producer with the semantics of Java's `KafkaProducer`, on one pinned
//! io_uring sender thread.
//!
//! Application threads call [`Producer::send`] (or [`Producer::send_with_callback`],
//! [`Producer::send_and_forget`]): the record is serialized and checked on the caller's thread,
//! then handed to the sender thread through a lock-free queue. The sender thread owns
//! everything else — the accumulator, the partitioner, the metadata, every broker socket
//! (driven through io_uring) — and runs the callbacks, in send order within each partition.
//!
//! Layout: [`protocol`] is the sans-IO wire codec; `engine` the sans-IO producer state
//! machines; [`io`] the io_uring driver (the only `unsafe`); `sender` the loop gluing them.
#![warn(missing_debug_implementations)]

pub mod config;
mod delivery;
pub mod engine;
pub mod error;
pub mod io;
mod memory;
mod metrics;
pub mod mock;
mod producer;
pub mod protocol;
pub mod record;
pub mod security;
mod sender;

pub use config::{Acks, Compression, ConfigError, ProducerConfig, SenderCpu};
pub use delivery::{DeliveryFuture, DeliveryResult};
pub use engine::partitioner::Partitioner;
pub use error::{ProduceError, SendError};
pub use metrics::{MetricsSnapshot, Percentiles};
pub use producer::{Producer, ProducerInterceptor, StartError};
pub use record::{
    BooleanSerializer, ByteArraySerializer, DoubleSerializer, FloatSerializer, Header, IntegerSerializer,
    IntoTopic, LongSerializer, PartitionInfo, ProducerRecord, RecordMetadata, SerializationError, Serializer,
    ShortSerializer, StringSerializer, UuidSerializer,
};
pub use security::sasl::SaslMechanism;
pub use security::SecurityProtocol;
