//! Errors. [`SendError`] is returned by `send` itself, before the record is queued;
//! [`ProduceError`] is a record's outcome, reported once to its callback or future.

use std::fmt;
use std::time::Duration;

use crate::protocol::ErrorCode;
use crate::transaction::TransactionError;

/// Why `send` refused a record. Nothing was queued; no callback will fire for it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The key or value serializer failed (Java's `SerializationException`).
    Serialization(String),
    /// The serialized record is larger than `max.request.size` or `buffer.memory`
    /// (Java's `RecordTooLargeException`).
    RecordTooLarge {
        /// The record's size in bytes: an upper bound over its key, value, headers and
        /// framing, as Java's `estimateSizeInBytesUpperBound`.
        size: usize,
        /// The limit it exceeds, in bytes.
        max: usize,
        /// The name of that limit: `"max.request.size"` or `"buffer.memory"`.
        limit: &'static str,
    },
    /// No buffer space became free within `max.block.ms` (Java's `BufferExhaustedException`).
    BufferExhausted {
        /// How long `send` blocked waiting for space (about `max.block.ms`).
        waited: Duration,
        /// The bytes the record needed.
        requested: usize,
    },
    /// The topic name is not a legal Kafka topic name (Java's `InvalidTopicException`).
    InvalidTopic(String),
    /// A negative explicit partition.
    InvalidPartition(i32),
    /// A negative timestamp (Java's `ProducerRecord` refuses one with "Invalid timestamp").
    /// Timestamps are milliseconds since the epoch; leave it unset for the current time.
    InvalidTimestamp(i64),
    /// The producer was closed (or its sender thread stopped) before this send.
    Closed,
    /// A transactional producer refused the record: no transaction is in progress
    /// ([`TransactionError::InvalidState`]: call `begin_transaction` first), or the transaction
    /// is in an error state (abortable: abort it; fatal: close the producer).
    Transaction(TransactionError),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Serialization(m) => write!(f, "serialization failed: {m}"),
            SendError::RecordTooLarge { size, max, limit } => {
                write!(f, "the record is {size} bytes serialized, larger than {limit} ({max})")
            }
            SendError::BufferExhausted { waited, requested } => write!(
                f,
                "failed to allocate {requested} bytes within max.block.ms ({} ms): buffer.memory is exhausted",
                waited.as_millis()
            ),
            SendError::InvalidTopic(m) => write!(f, "invalid topic: {m}"),
            SendError::InvalidPartition(p) => write!(f, "invalid partition {p}"),
            SendError::InvalidTimestamp(t) => {
                write!(f, "invalid timestamp {t}: a record's timestamp must not be negative")
            }
            SendError::Closed => write!(f, "the producer is closed"),
            SendError::Transaction(e) => write!(f, "not sent: {e}"),
        }
    }
}

impl std::error::Error for SendError {}

/// Why a record that was accepted by `send` was not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProduceError {
    /// The broker answered with an error that is not retriable, or a retriable one after retries
    /// ran out.
    Broker {
        /// The broker's error code for the record's partition.
        code: ErrorCode,
        /// The broker's error message, when it sent one.
        message: Option<String>,
    },
    /// `delivery.timeout.ms` passed before the record was acknowledged.
    DeliveryTimeout {
        /// How long the record had waited, from its batch's creation.
        elapsed: Duration,
        /// The last error met on the way (a broker error, a lost connection), if any.
        last_error: Option<String>,
    },
    /// The topic did not appear in metadata within `max.block.ms` (Java's
    /// "Topic X not present in metadata after N ms").
    MetadataTimeout {
        /// The topic.
        topic: String,
        /// How long the producer waited for it.
        waited: Duration,
    },
    /// The explicit partition does not exist in the topic.
    InvalidPartition {
        /// The topic.
        topic: String,
        /// The partition the record named.
        partition: i32,
        /// The number of partitions the topic has.
        partitions: i32,
    },
    /// The producer was closed (with a timeout that ran out, or dropped) before the record was
    /// delivered.
    Closed,
    /// The producer hit a fatal error (e.g. no common protocol version, io_uring failure).
    Fatal(String),
    /// SASL authentication failed (wrong credentials, mechanism not enabled on the broker).
    /// Fatal for the producer, like Java's `SaslAuthenticationException`: every pending record
    /// and every later `send` fails with it; the producer does not keep reconnecting. The text
    /// names the broker and never contains the password.
    Authentication(String),
    /// TLS to `broker` failed: its certificate did not verify (untrusted CA, expired, wrong host
    /// name) or the handshake was refused. Fatal, like `Authentication`; never a fallback to
    /// plaintext.
    Tls {
        /// The broker: `node N (host:port)`, or `bootstrap host:port` before metadata.
        broker: String,
        /// What failed, as rustls reported it.
        message: String,
    },
    /// A call that cannot work where it was made, such as a blocking
    /// [`partitions_for`](crate::Producer::partitions_for) from a delivery callback (it would
    /// wait for the thread it runs on).
    InvalidCall(String),
    /// The record's transaction was aborted before it was acknowledged (by
    /// `abort_transaction`, or because the transaction hit an abortable error first, named in
    /// `reason`): it was not written, or is invisible to `read_committed` readers (Java's
    /// `TransactionAbortedException`).
    TransactionAborted {
        /// Why the transaction is aborted.
        reason: String,
    },
    /// The transactional producer failed fatally (fenced by a newer producer with the same
    /// `transactional.id`, an authorization failure…): the record is not part of any committed
    /// transaction.
    Transaction(TransactionError),
}

impl ProduceError {
    /// Whether the error was retriable (it is final now, but a new send may succeed).
    pub fn is_retriable(&self) -> bool {
        match self {
            ProduceError::Broker { code, .. } => code.is_retriable(),
            ProduceError::DeliveryTimeout { .. } | ProduceError::MetadataTimeout { .. } => true,
            _ => false,
        }
    }
}

impl fmt::Display for ProduceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProduceError::Broker { code, message } => match message {
                Some(m) => write!(f, "broker error {code}: {m}"),
                None => write!(f, "broker error {code}"),
            },
            ProduceError::DeliveryTimeout { elapsed, last_error } => {
                write!(f, "delivery.timeout.ms expired after {} ms", elapsed.as_millis())?;
                if let Some(e) = last_error {
                    write!(f, " (last error: {e})")?;
                }
                Ok(())
            }
            ProduceError::MetadataTimeout { topic, waited } => {
                write!(f, "topic {topic} not present in metadata after {} ms", waited.as_millis())
            }
            ProduceError::InvalidPartition { topic, partition, partitions } => {
                write!(f, "partition {partition} of topic {topic} is not in the range [0...{partitions})")
            }
            ProduceError::Closed => write!(f, "the producer was closed before the record was delivered"),
            ProduceError::Fatal(m) => write!(f, "fatal producer error: {m}"),
            ProduceError::Authentication(m) => write!(f, "authentication failed: {m}"),
            ProduceError::Tls { broker, message } => write!(f, "TLS with broker {broker} failed: {message}"),
            ProduceError::InvalidCall(m) => write!(f, "invalid call: {m}"),
            ProduceError::TransactionAborted { reason } => write!(f, "the transaction was aborted: {reason}"),
            ProduceError::Transaction(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ProduceError {}

/// Checks a topic name as Java's `Topic.validate` does.
pub(crate) fn validate_topic(name: &str) -> Result<(), SendError> {
    // The common case, legal, in one pass over the bytes (`send` checks every record's topic).
    let legal = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
    if !name.is_empty() && name.len() <= 249 && name.bytes().all(|b| legal(&b)) && name != "." && name != ".."
    {
        return Ok(());
    }
    if name.is_empty() {
        return Err(SendError::InvalidTopic("topic name is empty".into()));
    }
    if name == "." || name == ".." {
        return Err(SendError::InvalidTopic(format!("topic name cannot be `{name}`")));
    }
    if name.len() > 249 {
        return Err(SendError::InvalidTopic(format!(
            "topic name is {} characters, the maximum is 249",
            name.len()
        )));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(SendError::InvalidTopic(format!(
            "topic name `{name}` contains `{c}`; legal characters are ASCII alphanumerics, '.', '_' and '-'"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_validation_follows_java() {
        assert!(validate_topic("a.b_c-D9").is_ok());
        assert!(validate_topic("").is_err());
        assert!(validate_topic("..").is_err());
        assert!(validate_topic("a b").is_err());
        assert!(validate_topic(&"x".repeat(250)).is_err());
        assert!(validate_topic(&"x".repeat(249)).is_ok());
    }
}
