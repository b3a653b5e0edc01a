//! Shared helpers for the integration tests that talk to a real broker.
//!
//! Include with `mod support;`. The broker is started by `scripts/test.sh` (Tansu 0.6.0), which
//! exports `RINGKAFKA_BOOTSTRAP=127.0.0.1:PORT`. A test that needs a broker and finds none fails:
//! it never skips silently.
//!
//! - [`bootstrap`]: the broker's `host:port`.
//! - [`unique_topic`], [`create_topic`]: a fresh topic per test (Tansu never auto-creates topics).
//! - [`consume_all`]: an independent reader (librdkafka via `rdkafka`) to check what the broker
//!   really stored.
//! - [`RawConn`]: a blocking `std::net::TcpStream` speaking our sans-IO codec, one request at a
//!   time (tests only; the library itself does its I/O through io_uring).
//!
//! `strategies.rs` beside this file is not part of this module: it holds the proptest strategies
//! of the offline protocol suites, which include it by path.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, Timestamp};
use rdkafka::{Offset, TopicPartitionList};

use ringkafka::internals::protocol::frame::split_frame;
use ringkafka::internals::protocol::messages::{decode_response, encode_request, Request};

/// The broker's `host:port`, from `RINGKAFKA_BOOTSTRAP`. Panics when it is unset: under CI that
/// means `scripts/test.sh` did not start the broker; locally, that the tests were run without it.
pub fn bootstrap() -> String {
    match std::env::var("RINGKAFKA_BOOTSTRAP") {
        Ok(b) if !b.trim().is_empty() => b.trim().to_string(),
        _ if std::env::var_os("CI").is_some() => panic!(
            "RINGKAFKA_BOOTSTRAP is not set under CI: the live tests need the Tansu broker that \
             scripts/test.sh starts (CI must run .ci/run -> scripts/test.sh, never bare cargo test)"
        ),
        _ => panic!(
            "RINGKAFKA_BOOTSTRAP is not set: run scripts/test.sh or set RINGKAFKA_BOOTSTRAP \
             (e.g. `scripts/tansu.sh start` prints the export line)"
        ),
    }
}

/// The tansu binary: `$TANSU_BIN`, else `tansu` on `PATH`, else `~/.cargo/bin/tansu`.
pub fn tansu_bin() -> PathBuf {
    if let Some(b) = std::env::var_os("TANSU_BIN").filter(|b| !b.is_empty()) {
        return b.into();
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("tansu");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    let home = std::env::var_os("HOME").expect("neither TANSU_BIN, tansu on PATH, nor HOME is set");
    PathBuf::from(home).join(".cargo/bin/tansu")
}

/// A topic name no other test (or earlier run against the same broker) uses:
/// `prefix-pid-counter-nanos`.
pub fn unique_topic(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock before 1970").as_nanos();
    format!("{prefix}-{}-{n}-{nanos}", std::process::id())
}

/// Creates `name` with `partitions` partitions on the broker via `tansu topic create`, and
/// asserts that it worked (an existing topic is a failure: names come from [`unique_topic`]).
pub fn create_topic(name: &str, partitions: i32) {
    let bin = tansu_bin();
    let broker = format!("tcp://{}", bootstrap());
    let out = Command::new(&bin)
        .args(["topic", "create", "--broker", &broker, "--partitions", &partitions.to_string(), name])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} (set TANSU_BIN?): {e}", bin.display()));
    assert!(
        out.status.success(),
        "`{} topic create --broker {broker} --partitions {partitions} {name}` failed ({}):\n{}{}",
        bin.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
}

/// Which clock a record's timestamp is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    /// Set by the producer.
    CreateTime,
    /// Set by the broker on append (topic `message.timestamp.type=LogAppendTime`).
    LogAppendTime,
    /// The broker returned none (timestamp is -1).
    NotAvailable,
}

/// One record as read back from the broker by librdkafka.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub timestamp: i64,
    pub timestamp_type: TimestampType,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Reads `topic` from the beginning of each of its `partitions` partitions with an rdkafka
/// `BaseConsumer` (manual assignment, no group coordination, no commits) until `expected`
/// records have arrived or `timeout` has passed; then returns what it has, sorted by
/// (partition, offset), so that the test's own assertion shows any gap. Broker errors met while
/// polling are printed (they are visible with `--nocapture` or on failure).
pub fn consume_all(topic: &str, partitions: i32, expected: usize, timeout: Duration) -> Vec<ConsumedRecord> {
    consume_all_from(&bootstrap(), topic, partitions, expected, timeout)
}

/// [`consume_all`] from the broker(s) at `bootstrap` (the Kafka cluster's, say).
pub fn consume_all_from(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    expected: usize,
    timeout: Duration,
) -> Vec<ConsumedRecord> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        // rdkafka wants a group id even for a manual assignment; nothing is ever committed.
        .set("group.id", unique_topic("ringkafka-test-reader"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        // Tansu 0.6.0 only logs a CRC-32C mismatch and stores the batch anyway, so the reader is
        // the one place a bad CRC shows up: make librdkafka verify it (off by default).
        .set("check.crcs", "true")
        // Nothing transactional here; do not depend on the broker computing a stable offset.
        .set("isolation.level", "read_uncommitted")
        .create()
        .expect("create rdkafka consumer");

    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning).expect("add partition");
    }
    consumer.assign(&tpl).expect("assign partitions");

    let deadline = Instant::now() + timeout;
    let mut out = Vec::with_capacity(expected);
    while out.len() < expected {
        let now = Instant::now();
        if now >= deadline {
            eprintln!("consume_all({topic}): timed out with {} of {expected} records", out.len());
            break;
        }
        match consumer.poll((deadline - now).min(Duration::from_millis(200))) {
            None => {}
            Some(Err(e)) => eprintln!("consume_all({topic}): poll error: {e}"),
            Some(Ok(m)) => {
                let (timestamp, timestamp_type) = match m.timestamp() {
                    Timestamp::CreateTime(t) => (t, TimestampType::CreateTime),
                    Timestamp::LogAppendTime(t) => (t, TimestampType::LogAppendTime),
                    Timestamp::NotAvailable => (-1, TimestampType::NotAvailable),
                };
                let headers = m
                    .headers()
                    .map(|hs| hs.iter().map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec))).collect())
                    .unwrap_or_default();
                out.push(ConsumedRecord {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                    timestamp,
                    timestamp_type,
                    headers,
                });
            }
        }
    }
    out.sort_by_key(|r| (r.partition, r.offset));
    out
}

/// Largest response frame [`RawConn`] accepts.
pub const MAX_RESPONSE: usize = 64 << 20;

/// A blocking connection that sends one request with our codec and waits for its response.
#[derive(Debug)]
pub struct RawConn {
    stream: TcpStream,
    next_correlation_id: i32,
    buf: Vec<u8>,
}

impl RawConn {
    /// Connects to `addr` (`host:port`) with a 10 s read/write timeout.
    pub fn connect(addr: &str) -> RawConn {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect to broker {addr}: {e}"));
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        stream.set_nodelay(true).unwrap();
        RawConn { stream, next_correlation_id: 1, buf: Vec::new() }
    }

    /// Sends `body` at `version` and returns the decoded response, checking that its
    /// correlation id matches.
    pub fn request<R: Request>(&mut self, version: i16, body: &R) -> R::Response {
        let id = self.send(version, body);
        let frame = self.read_frame();
        let (got, resp) = decode_response::<R>(&frame, version).unwrap_or_else(|e| {
            panic!("decode {:?} v{version} response ({} bytes): {e:?}", R::API_KEY, frame.len())
        });
        assert_eq!(got, id, "correlation id of the {:?} response", R::API_KEY);
        resp
    }

    /// Sends `body` at `version` and returns its correlation id without waiting.
    pub fn send<R: Request>(&mut self, version: i16, body: &R) -> i32 {
        let id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let mut out = Vec::new();
        encode_request(&mut out, version, id, Some("ringkafka-test"), body);
        self.send_raw(&out);
        id
    }

    /// Writes already framed bytes.
    pub fn send_raw(&mut self, framed: &[u8]) {
        self.stream.write_all(framed).expect("write request");
    }

    /// Reads one whole response frame and returns its body (without the size prefix).
    pub fn read_frame(&mut self) -> Vec<u8> {
        loop {
            if let Some((body, used)) = split_frame(&self.buf, MAX_RESPONSE).expect("response frame") {
                let body = body.to_vec();
                self.buf.drain(..used);
                return body;
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self.stream.read(&mut chunk).expect("read response (broker hung up or timed out?)");
            assert!(n > 0, "broker closed the connection before a whole response frame arrived");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}
