//! ringkafka: a Kafka producer with the semantics of Java's `KafkaProducer`, on one pinned
//! io_uring sender thread.
#![warn(missing_debug_implementations)]

pub mod io;
pub mod protocol;
pub mod record;

pub use record::Header;
