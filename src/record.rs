//! Records as the application hands them in, the serializers that turn keys and values into
//! bytes on the caller's thread, and the metadata the broker hands back.

use std::fmt;
use std::sync::Arc;

/// A partition of a topic as the producer's metadata has it (Java's `PartitionInfo`, with node
/// ids where Java has `Node`s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition number, from 0.
    pub partition: i32,
    /// The leader's node id; `None` while the partition has no leader.
    pub leader: Option<i32>,
    /// The node ids of its replicas, as the broker lists them.
    pub replicas: Vec<i32>,
    /// The replicas in sync with the leader.
    pub in_sync_replicas: Vec<i32>,
    /// The replicas that are offline (Metadata v5+; empty before).
    pub offline_replicas: Vec<i32>,
}

/// A record header: a string key and optional bytes value. Keys need not be unique.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header {
    /// The key.
    pub key: String,
    /// The value; `None` is a null value (not the same as an empty one).
    pub value: Option<Vec<u8>>,
}

impl Header {
    /// A header with a value.
    pub fn new(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Header { key: key.into(), value: Some(value.into()) }
    }

    /// A header with a null value.
    pub fn null(key: impl Into<String>) -> Self {
        Header { key: key.into(), value: None }
    }
}

/// Anything that names a topic. An `Arc<str>` (or `&Arc<str>`) is taken as it is: a reference
/// count, no allocation. A `&str` or `String` naming the same topic as the last one named that
/// way on this thread shares that name's `Arc<str>` (a compare and a reference count); a new
/// name is copied into a new `Arc<str>`, which each thread remembers until the next new name.
pub trait IntoTopic {
    /// The shared topic name.
    fn into_topic(self) -> Arc<str>;
}

impl IntoTopic for Arc<str> {
    fn into_topic(self) -> Arc<str> {
        self
    }
}

impl IntoTopic for &Arc<str> {
    fn into_topic(self) -> Arc<str> {
        self.clone()
    }
}

thread_local! {
    /// The last topic this thread named by a `&str` or `String` (see [`IntoTopic`]).
    static LAST_TOPIC: std::cell::RefCell<Option<Arc<str>>> = const { std::cell::RefCell::new(None) };
}

/// The shared name for `name`: this thread's last one if it is the same, else a new one. Most
/// senders name one topic over and over; this spares each `send` an allocation and a copy.
fn shared_topic(name: &str) -> Arc<str> {
    LAST_TOPIC
        .try_with(|last| {
            let mut last = last.borrow_mut();
            match &*last {
                Some(t) if **t == *name => t.clone(),
                _ => {
                    let t: Arc<str> = name.into();
                    *last = Some(t.clone());
                    t
                }
            }
        })
        // A thread-local being destroyed (a send from another thread-local's destructor).
        .unwrap_or_else(|_| name.into())
}

impl IntoTopic for &str {
    fn into_topic(self) -> Arc<str> {
        shared_topic(self)
    }
}

impl IntoTopic for String {
    fn into_topic(self) -> Arc<str> {
        shared_topic(&self)
    }
}

impl IntoTopic for &String {
    fn into_topic(self) -> Arc<str> {
        shared_topic(self)
    }
}

/// A record to send: a topic and a value, and optionally a key, a partition, a timestamp
/// (milliseconds since the epoch; the producer's clock at `send` otherwise) and headers.
/// A `None` value is a tombstone.
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerRecord<K, V> {
    /// The topic.
    pub topic: Arc<str>,
    /// An explicit partition; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// The key; `None` is a null key (the default partitioner then uses its sticky partition).
    pub key: Option<K>,
    /// The value; `None` is a tombstone.
    pub value: Option<V>,
    /// The timestamp, milliseconds since the epoch; `None` takes the producer's clock at `send`.
    pub timestamp: Option<i64>,
    /// The headers, in order (keys may repeat).
    pub headers: Vec<Header>,
}

impl<K, V> ProducerRecord<K, V> {
    /// A record with a value and nothing else.
    pub fn new(topic: impl IntoTopic, value: V) -> Self {
        ProducerRecord {
            topic: topic.into_topic(),
            partition: None,
            key: None,
            value: Some(value),
            timestamp: None,
            headers: Vec::new(),
        }
    }

    /// Sets the key.
    pub fn key(mut self, key: K) -> Self {
        self.key = Some(key);
        self
    }

    /// Sets an explicit partition (the partitioner is bypassed).
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Sets an explicit timestamp in milliseconds since the epoch. It must not be negative:
    /// `send` refuses such a record with [`SendError::InvalidTimestamp`](crate::SendError::InvalidTimestamp).
    pub fn timestamp(mut self, ms: i64) -> Self {
        self.timestamp = Some(ms);
        self
    }

    /// Adds a header.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push(Header::new(key, value));
        self
    }

    /// Replaces the value (`None` for a tombstone).
    pub fn value(mut self, value: Option<V>) -> Self {
        self.value = value;
        self
    }
}

/// What the broker said about a delivered record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic (shared: completing a record does not allocate its name).
    pub topic: std::sync::Arc<str>,
    /// The partition it was written to.
    pub partition: i32,
    /// The record's offset; -1 with `acks=0`.
    pub offset: i64,
    /// CreateTime (the record's timestamp), or the broker's LogAppendTime when the topic uses it.
    pub timestamp: i64,
    /// Serialized key size in bytes (-1 for a null key).
    pub serialized_key_size: i32,
    /// Serialized value size in bytes (-1 for a null value).
    pub serialized_value_size: i32,
}

/// A serializer failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerializationError(pub String);

impl fmt::Display for SerializationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SerializationError {}

/// Turns a key or value into bytes on the caller's thread (Java's `Serializer<T>`). Takes the
/// value by move so owned bytes pass through without a copy.
pub trait Serializer<T>: Send + Sync + 'static {
    /// Serializes `data` for `topic`.
    fn serialize(&self, topic: &str, data: T) -> Result<Vec<u8>, SerializationError>;
}

/// Bytes as they are (Java's `ByteArraySerializer`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ByteArraySerializer;

impl Serializer<Vec<u8>> for ByteArraySerializer {
    #[inline]
    fn serialize(&self, _: &str, data: Vec<u8>) -> Result<Vec<u8>, SerializationError> {
        Ok(data)
    }
}

impl<'a> Serializer<&'a [u8]> for ByteArraySerializer {
    #[inline]
    fn serialize(&self, _: &str, data: &'a [u8]) -> Result<Vec<u8>, SerializationError> {
        Ok(data.to_vec())
    }
}

/// UTF-8 strings (Java's `StringSerializer`).
#[derive(Debug, Clone, Copy, Default)]
pub struct StringSerializer;

impl Serializer<String> for StringSerializer {
    #[inline]
    fn serialize(&self, _: &str, data: String) -> Result<Vec<u8>, SerializationError> {
        Ok(data.into_bytes())
    }
}

impl<'a> Serializer<&'a str> for StringSerializer {
    #[inline]
    fn serialize(&self, _: &str, data: &'a str) -> Result<Vec<u8>, SerializationError> {
        Ok(data.as_bytes().to_vec())
    }
}

macro_rules! big_endian_serializer {
    ($name:ident, $t:ty, $java:literal) => {
        #[doc = concat!("Big-endian `", stringify!($t), "` (Java's `", $java, "`).")]
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name;

        impl Serializer<$t> for $name {
            #[inline]
            fn serialize(&self, _: &str, data: $t) -> Result<Vec<u8>, SerializationError> {
                Ok(data.to_be_bytes().to_vec())
            }
        }
    };
}

big_endian_serializer!(ShortSerializer, i16, "ShortSerializer");
big_endian_serializer!(IntegerSerializer, i32, "IntegerSerializer");
big_endian_serializer!(LongSerializer, i64, "LongSerializer");
big_endian_serializer!(FloatSerializer, f32, "FloatSerializer");
big_endian_serializer!(DoubleSerializer, f64, "DoubleSerializer");

/// One byte, 1 or 0 (Java's `BooleanSerializer`).
#[derive(Debug, Clone, Copy, Default)]
pub struct BooleanSerializer;

impl Serializer<bool> for BooleanSerializer {
    fn serialize(&self, _: &str, data: bool) -> Result<Vec<u8>, SerializationError> {
        Ok(vec![u8::from(data)])
    }
}

/// A UUID as its canonical 36-character string (Java's `UUIDSerializer`).
#[derive(Debug, Clone, Copy, Default)]
pub struct UuidSerializer;

impl Serializer<[u8; 16]> for UuidSerializer {
    fn serialize(&self, _: &str, u: [u8; 16]) -> Result<Vec<u8>, SerializationError> {
        let mut s = String::with_capacity(36);
        for (i, b) in u.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                s.push('-');
            }
            s.push_str(&format!("{b:02x}"));
        }
        Ok(s.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_topic_named_again_by_str_shares_one_name_per_thread() {
        let a = ProducerRecord::<(), ()>::new("orders", ()).topic;
        let b = ProducerRecord::<(), ()>::new(String::from("orders"), ()).topic;
        assert!(Arc::ptr_eq(&a, &b), "the same name again is the same Arc");
        let c = ProducerRecord::<(), ()>::new("payments", ()).topic;
        assert_eq!(&*c, "payments");
        assert!(!Arc::ptr_eq(&a, &c));
        let name = String::from("orders");
        let d = ProducerRecord::<(), ()>::new(&name, ()).topic;
        assert_eq!(&*d, "orders");
        assert!(!Arc::ptr_eq(&a, &d), "only the last name is remembered");
        let other =
            std::thread::spawn(|| ProducerRecord::<(), ()>::new("payments", ()).topic).join().unwrap();
        assert!(!Arc::ptr_eq(&c, &other), "each thread has its own");
        assert_eq!(&*other, "payments");
    }

    #[test]
    fn serializers_match_java_bytes() {
        assert_eq!(IntegerSerializer.serialize("t", 0x01020304).unwrap(), [1, 2, 3, 4]);
        assert_eq!(LongSerializer.serialize("t", -1).unwrap(), [0xff; 8]);
        assert_eq!(ShortSerializer.serialize("t", 258).unwrap(), [1, 2]);
        assert_eq!(DoubleSerializer.serialize("t", 1.0).unwrap(), 1.0f64.to_be_bytes());
        assert_eq!(StringSerializer.serialize("t", "é").unwrap(), "é".as_bytes());
        assert_eq!(BooleanSerializer.serialize("t", true).unwrap(), [1]);
        let u =
            [0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00];
        assert_eq!(UuidSerializer.serialize("t", u).unwrap(), b"123e4567-e89b-12d3-a456-426614174000");
    }
}
