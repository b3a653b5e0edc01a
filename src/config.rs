//! Producer configuration: a typed builder, and [`ProducerConfig::from_properties`] for the Java
//! (and common librdkafka) property names. Defaults are the Java client's (Kafka 4.0), except
//! `sender.cpu`, which is ours.
//!
//! Every key is one entry of one table (`PROPERTIES`, listed by [`ProducerConfig::properties`]
//! and in [`ProducerConfig`]'s docs): its name, aliases, default, documentation, and how its
//! value is parsed, checked and stored. [`ProducerConfig::set`] looks keys up there, and
//! [`ProducerConfig::validate`] re-parses every held value through the same entries, so a value
//! set through the builder or a public field meets the same rules as one given as a property.
//! What spans several keys (idempotence against `acks`, the delivery timeout's floor, …) is in
//! `validate`. A new key is a field, its value in `Default`, and one entry.
//!
//! ```
//! use ringkafka::ProducerConfig;
//! let cfg = ProducerConfig::from_properties([
//!     ("bootstrap.servers", "127.0.0.1:9092"),
//!     ("linger.ms", "5"),
//!     ("acks", "all"),
//! ])
//! .unwrap();
//! assert_eq!(cfg.linger.as_millis(), 5);
//! ```

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::protocol::compression::{self, Codec};
pub use crate::security::sasl::{OAuthToken, Password, SaslConfig, SaslMechanism};
pub use crate::security::{SecurityProtocol, SslConfig};

/// Which acknowledgement the producer waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// `acks=0`: complete as soon as the request is written; the offset is unknown (-1).
    None,
    /// `acks=1`: the leader wrote the record.
    Leader,
    /// `acks=all` / `-1`: every in-sync replica has it.
    All,
}

impl Acks {
    /// The wire value.
    pub fn as_i16(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// Compression of record batches (`compression.type`); the levels are separate keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// No compression (the default).
    None,
    /// gzip, at `compression.gzip.level`.
    Gzip,
    /// snappy (no level).
    Snappy,
    /// lz4, at `compression.lz4.level`.
    Lz4,
    /// zstd, at `compression.zstd.level`.
    Zstd,
}

/// What the producer does when no broker it knows can give it metadata
/// (`metadata.recovery.strategy`, KIP-899).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataRecovery {
    /// Keep to the brokers the last metadata named.
    None,
    /// Go back to `bootstrap.servers` (the default): at once for a Metadata request when every
    /// known broker is backing off, and for good (forgetting the known brokers) after
    /// `metadata.recovery.rebootstrap.trigger.ms` without metadata.
    Rebootstrap,
}

/// Where the sender thread runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SenderCpu {
    /// The last CPU the process may run on (the default).
    Last,
    /// A given CPU.
    Cpu(usize),
    /// No pinning (`sender.cpu=-1`).
    Unpinned,
}

/// What the sender thread does while it waits for work (`sender.idle.strategy`): the trade
/// between CPU and the latency of waking it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleStrategy {
    /// Sleep in the kernel until a network completion, a deadline, or a wake-up from `send`
    /// (the default). Costs no CPU while idle; waking the sender costs the sending thread a
    /// system call and the record the scheduler's wake-up latency (tens of microseconds, more
    /// in its tail).
    Park,
    /// Spin for up to `sender.idle.spin.us` (watching the record queue and the ring's
    /// completions in memory, without system calls), then park. A send or a response that
    /// comes within the bound is taken without any wake-up; the CPU spent is at most the bound
    /// per wait.
    SpinPark,
    /// Never sleep: spin until there is work or a deadline. The lowest latency, and one whole
    /// core for as long as the producer lives, idle or not.
    Spin,
}

/// A configuration key had a bad value, was unknown, or conflicts with another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The property name at fault.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    fn new(key: &str, message: impl Into<String>) -> Self {
        ConfigError { key: key.to_string(), message: message.into() }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration `{}`: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// One producer property, as [`ProducerConfig::properties`] lists them: its name, the other
/// names it is accepted under, its default and what it does.
#[derive(Clone, Copy)]
pub struct ConfigProperty {
    /// The key, as the Java client names it (`sender.cpu` and `sasl.oauthbearer.token` are ours,
    /// `queue.buffering.max.kbytes` and `compression.level` librdkafka's).
    pub key: &'static str,
    /// Other names [`ProducerConfig::set`] accepts for the same key (librdkafka's).
    pub aliases: &'static [&'static str],
    /// The default, as text [`ProducerConfig::set`] accepts (`""`: none).
    pub default: &'static str,
    /// What the key does, in one line.
    pub doc: &'static str,
    /// Parses `value` (given under `name`, the key or an alias, which errors name) and stores it;
    /// stores nothing when it fails.
    apply: fn(&mut ProducerConfig, name: &str, value: &str) -> Result<(), ConfigError>,
    /// The value held, as text `apply` accepts: `validate` parses it again, so that a value set
    /// through the builder or a public field meets the key's rules too. `None` for a key that
    /// only writes others' fields, and for secrets.
    current: Option<fn(&ProducerConfig) -> String>,
}

impl fmt::Debug for ConfigProperty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigProperty")
            .field("key", &self.key)
            .field("aliases", &self.aliases)
            .field("default", &self.default)
            .field("doc", &self.doc)
            .finish_non_exhaustive()
    }
}

/// Every key: [`ProducerConfig::set`] finds keys and aliases here; the docs of
/// [`ProducerConfig`] are generated from it (see the test `the_docs_list_every_property`).
static PROPERTIES: &[ConfigProperty] = &[
    ConfigProperty {
        key: "bootstrap.servers",
        aliases: &["metadata.broker.list"],
        default: "",
        doc: "Comma-separated `host:port` pairs to find the cluster from (required).",
        apply: |c, k, v| parse_servers(k, v).map(|s| c.bootstrap_servers = s),
        current: Some(|c| c.bootstrap_servers.join(",")),
    },
    ConfigProperty {
        key: "client.id",
        aliases: &[],
        default: "ringkafka",
        doc: "The name sent with every request, for the brokers' logs and quotas.",
        apply: |c, _, v| text(v).map(|s| c.client_id = s),
        current: Some(|c| c.client_id.clone()),
    },
    ConfigProperty {
        key: "acks",
        aliases: &["request.required.acks"],
        default: "all",
        doc: "The acknowledgement to wait for: `0` none, `1` the leader's, `all` (`-1`) every in-sync replica's.",
        apply: |c, k, v| parse_acks(k, v).map(|a| c.acks = a),
        current: Some(|c| acks_text(c.acks).to_string()),
    },
    ConfigProperty {
        key: "linger.ms",
        aliases: &["queue.buffering.max.ms"],
        default: "5",
        doc: "How long a partition's batch waits for more records before it is sent.",
        apply: |c, k, v| parse_ms(k, v).map(|d| c.linger = d),
        current: Some(|c| ms(c.linger)),
    },
    ConfigProperty {
        key: "batch.size",
        aliases: &[],
        default: "16384",
        doc: "The bytes a partition's batch holds (with compression: its estimated compressed bytes).",
        apply: |c, k, v| parse_non_negative(k, v).map(|n| c.batch_size = n as usize),
        current: Some(|c| c.batch_size.to_string()),
    },
    ConfigProperty {
        key: "batch.max.size",
        aliases: &[],
        default: "1000000",
        doc: "How far a full batch keeps growing while its broker cannot take it yet (KIP-782); at most `max.request.size`, below `batch.size`: not at all.",
        apply: |c, k, v| {
            c.batch_max_size = parse_non_negative(k, v)? as usize;
            c.explicit.batch_max_size = true;
            Ok(())
        },
        current: Some(|c| c.batch_max_size.to_string()),
    },
    ConfigProperty {
        key: "buffer.memory",
        aliases: &[],
        default: "33554432",
        doc: "The bytes of records the producer holds before `send` blocks.",
        apply: |c, k, v| parse_positive(k, v).map(|n| c.buffer_memory = n),
        current: Some(|c| c.buffer_memory.to_string()),
    },
    ConfigProperty {
        key: "queue.buffering.max.kbytes",
        aliases: &[],
        default: "32768",
        doc: "librdkafka's `buffer.memory`, in KiB.",
        apply: |c, k, v| {
            let kib = parse_positive(k, v)?;
            let bytes = kib.checked_mul(1024).ok_or_else(|| ConfigError::new(k, "too large"))?;
            c.buffer_memory = bytes;
            Ok(())
        },
        current: None,
    },
    ConfigProperty {
        key: "max.block.ms",
        aliases: &[],
        default: "60000",
        doc: "How long `send` may block for buffer space, and a record wait for its topic's metadata.",
        apply: |c, k, v| parse_ms(k, v).map(|d| c.max_block = d),
        current: Some(|c| ms(c.max_block)),
    },
    ConfigProperty {
        key: "max.request.size",
        aliases: &[],
        default: "1048576",
        doc: "The largest produce request, and so the largest record, in bytes.",
        apply: |c, k, v| parse_positive(k, v).map(|n| c.max_request_size = n),
        current: Some(|c| c.max_request_size.to_string()),
    },
    ConfigProperty {
        key: "retries",
        aliases: &["message.send.max.retries"],
        default: "2147483647",
        doc: "How often a failed batch is retried (`delivery.timeout.ms` is the real bound).",
        apply: |c, k, v| parse_non_negative(k, v).map(|n| c.retries = n.min(i32::MAX as i64) as u32),
        current: Some(|c| c.retries.to_string()),
    },
    ConfigProperty {
        key: "retry.backoff.ms",
        aliases: &[],
        default: "100",
        doc: "The wait before retrying a failed batch, doubling per attempt.",
        apply: |c, k, v| parse_ms(k, v).map(|d| c.retry_backoff = d),
        current: Some(|c| ms(c.retry_backoff)),
    },
    ConfigProperty {
        key: "retry.backoff.max.ms",
        aliases: &[],
        default: "1000",
        doc: "The cap of the retry backoff.",
        apply: |c, k, v| parse_ms(k, v).map(|d| c.retry_backoff_max = d),
        current: Some(|c| ms(c.retry_backoff_max)),
    },
    ConfigProperty {
        key: "reconnect.backoff.ms",
        aliases: &[],
        default: "50",
        doc: "The wait before reconnecting to a broker, doubling per failure in a row (constant if set without its maximum).",
        apply: |c, k, v| {
            c.reconnect_backoff = parse_ms(k, v)?;
            c.explicit.reconnect_backoff = true;
            Ok(())
        },
        current: Some(|c| ms(c.reconnect_backoff)),
    },
    ConfigProperty {
        key: "reconnect.backoff.max.ms",
        aliases: &[],
        default: "1000",
        doc: "The cap of the reconnect backoff.",
        apply: |c, k, v| {
            c.reconnect_backoff_max = parse_ms(k, v)?;
            c.explicit.reconnect_backoff_max = true;
            Ok(())
        },
        current: Some(|c| ms(c.reconnect_backoff_max)),
    },
    ConfigProperty {
        key: "socket.connection.setup.timeout.ms",
        aliases: &[],
        default: "10000",
        doc: "How long a TCP connect may take, doubling per failure in a row.",
        apply: |c, k, v| parse_positive_ms(k, v).map(|d| c.connection_setup_timeout = d),
        current: Some(|c| ms(c.connection_setup_timeout)),
    },
    ConfigProperty {
        key: "socket.connection.setup.timeout.max.ms",
        aliases: &[],
        default: "30000",
        doc: "The cap of the connection setup timeout.",
        apply: |c, k, v| parse_ms(k, v).map(|d| c.connection_setup_timeout_max = d),
        current: Some(|c| ms(c.connection_setup_timeout_max)),
    },
    ConfigProperty {
        key: "connections.max.idle.ms",
        aliases: &[],
        default: "540000",
        doc: "Close a connection with nothing outstanding after this long idle; `-1`: never.",
        apply: |c, k, v| {
            c.connections_max_idle = match parse_num::<i64>(k, v)? {
                -1 => None,
                n if n > 0 => Some(Duration::from_millis(n as u64)),
                _ => return Err(ConfigError::new(k, "must be positive, or -1 for never")),
            };
            Ok(())
        },
        current: Some(|c| c.connections_max_idle.map_or("-1".to_string(), ms)),
    },
    ConfigProperty {
        key: "send.buffer.bytes",
        aliases: &["socket.send.buffer.bytes"],
        default: "-1",
        doc: "The socket's `SO_SNDBUF`; `-1` or `0`: the kernel's, autotuned.",
        apply: |c, k, v| parse_buffer(k, v).map(|n| c.send_buffer_bytes = n),
        current: Some(|c| buffer_text(c.send_buffer_bytes)),
    },
    ConfigProperty {
        key: "receive.buffer.bytes",
        aliases: &["socket.receive.buffer.bytes"],
        default: "-1",
        doc: "The socket's `SO_RCVBUF`; `-1` or `0`: the kernel's, autotuned.",
        apply: |c, k, v| parse_buffer(k, v).map(|n| c.receive_buffer_bytes = n),
        current: Some(|c| buffer_text(c.receive_buffer_bytes)),
    },
    ConfigProperty {
        key: "delivery.timeout.ms",
        aliases: &["message.timeout.ms"],
        default: "120000",
        doc: "The bound on a record's time from `send` to its outcome; at least `linger.ms` + `request.timeout.ms`.",
        apply: |c, k, v| {
            c.delivery_timeout = parse_ms(k, v)?;
            c.explicit.delivery_timeout = true;
            Ok(())
        },
        current: Some(|c| ms(c.delivery_timeout)),
    },
    ConfigProperty {
        key: "request.timeout.ms",
        aliases: &[],
        default: "30000",
        doc: "How long a request may wait for its response.",
        apply: |c, k, v| parse_positive_ms(k, v).map(|d| c.request_timeout = d),
        current: Some(|c| ms(c.request_timeout)),
    },
    ConfigProperty {
        key: "max.in.flight.requests.per.connection",
        aliases: &["max.in.flight"],
        default: "5",
        doc: "The requests awaiting a response per connection (at most 5 with idempotence).",
        apply: |c, k, v| parse_positive(k, v).map(|n| c.max_in_flight = n),
        current: Some(|c| c.max_in_flight.to_string()),
    },
    ConfigProperty {
        key: "enable.idempotence",
        aliases: &[],
        default: "true",
        doc: "No duplicates or reordering from retries; left at the default, conflicting `acks` or in-flight settings turn it off.",
        apply: |c, k, v| {
            c.enable_idempotence = parse_bool(k, v)?;
            c.explicit.idempotence = true;
            Ok(())
        },
        current: Some(|c| c.enable_idempotence.to_string()),
    },
    ConfigProperty {
        key: "transactional.id",
        aliases: &[],
        default: "",
        doc: "Makes the producer transactional (`init_transactions`, `begin_transaction`, …): implies idempotence and `acks=all`.",
        // Empty means none, as in librdkafka (Java has no value for none but its default).
        apply: |c, _, v| optional_text(v).map(|s| c.transactional_id = s),
        current: Some(|c| c.transactional_id.clone().unwrap_or_default()),
    },
    ConfigProperty {
        key: "transaction.timeout.ms",
        aliases: &[],
        default: "60000",
        doc: "How long a transaction may stay open before the coordinator aborts it.",
        apply: |c, k, v| parse_positive_ms(k, v).map(|d| c.transaction_timeout = d),
        current: Some(|c| ms(c.transaction_timeout)),
    },
    ConfigProperty {
        key: "metadata.max.age.ms",
        aliases: &["topic.metadata.refresh.interval.ms"],
        default: "300000",
        doc: "Refresh the metadata at least this often.",
        apply: |c, k, v| parse_ms(k, v).map(|d| c.metadata_max_age = d),
        current: Some(|c| ms(c.metadata_max_age)),
    },
    ConfigProperty {
        key: "metadata.max.idle.ms",
        aliases: &[],
        default: "300000",
        doc: "A topic not sent to for this long leaves the metadata requests (at least 5000).",
        apply: |c, k, v| {
            let d = parse_ms(k, v)?;
            if d < Duration::from_secs(5) {
                return Err(ConfigError::new(k, "must be at least 5000 (as in Java)"));
            }
            c.metadata_max_idle = d;
            Ok(())
        },
        current: Some(|c| ms(c.metadata_max_idle)),
    },
    ConfigProperty {
        key: "metadata.recovery.strategy",
        aliases: &[],
        default: "rebootstrap",
        doc: "`rebootstrap`: when no known broker can give metadata, start over from `bootstrap.servers` (KIP-899); `none`: keep to the known brokers.",
        apply: |c, k, v| parse_recovery(k, v).map(|r| c.metadata_recovery = r),
        current: Some(|c| recovery_text(c.metadata_recovery).to_string()),
    },
    ConfigProperty {
        key: "metadata.recovery.rebootstrap.trigger.ms",
        aliases: &[],
        default: "300000",
        doc: "With `rebootstrap`: how long metadata may be wanted and not obtained before the producer starts over from `bootstrap.servers`.",
        apply: |c, k, v| parse_ms(k, v).map(|d| c.metadata_recovery_trigger = d),
        current: Some(|c| ms(c.metadata_recovery_trigger)),
    },
    ConfigProperty {
        key: "partitioner.ignore.keys",
        aliases: &[],
        default: "false",
        doc: "Place keyed records as unkeyed ones are (sticky), not by the key's hash.",
        apply: |c, k, v| parse_bool(k, v).map(|b| c.partitioner_ignore_keys = b),
        current: Some(|c| c.partitioner_ignore_keys.to_string()),
    },
    ConfigProperty {
        key: "partitioner.adaptive.partitioning.enable",
        aliases: &[],
        default: "true",
        doc: "Weight the sticky partitioner by each partition's queue (KIP-794).",
        apply: |c, k, v| parse_bool(k, v).map(|b| c.partitioner_adaptive = b),
        current: Some(|c| c.partitioner_adaptive.to_string()),
    },
    ConfigProperty {
        key: "partitioner.availability.timeout.ms",
        aliases: &[],
        default: "0",
        doc: "Only `0`, Java's default: no availability check.",
        apply: |_, k, v| {
            if !parse_ms(k, v)?.is_zero() {
                return Err(ConfigError::new(k, "only 0 (off, the default) is supported"));
            }
            Ok(())
        },
        current: None,
    },
    ConfigProperty {
        key: "compression.type",
        aliases: &["compression.codec"],
        default: "none",
        doc: "The batch codec: `none`, `gzip`, `snappy`, `lz4` or `zstd`.",
        apply: |c, k, v| parse_compression(k, v).map(|x| c.compression = x),
        current: Some(|c| compression_text(c.compression).to_string()),
    },
    ConfigProperty {
        key: "compression.gzip.level",
        aliases: &[],
        default: "-1",
        doc: "The gzip level, 1 to 9; `-1`: the codec's default (6).",
        apply: |c, k, v| {
            let n = parse_level(k, v, 1, 9, compression::GZIP_DEFAULT_LEVEL)?;
            c.compression_gzip_level = n;
            Ok(())
        },
        current: Some(|c| c.compression_gzip_level.to_string()),
    },
    ConfigProperty {
        key: "compression.lz4.level",
        aliases: &[],
        default: "9",
        doc: "The lz4 level, 1 to 17 (other than 9: LZ4HC, as in Java; needs the `lz4hc` cargo feature).",
        apply: |c, k, v| {
            let n = parse_level(k, v, 1, 17, compression::LZ4_DEFAULT_LEVEL)?;
            c.compression_lz4_level = n;
            Ok(())
        },
        current: Some(|c| c.compression_lz4_level.to_string()),
    },
    ConfigProperty {
        key: "compression.zstd.level",
        aliases: &[],
        default: "3",
        doc: "The zstd level, -131072 to 22.",
        apply: |c, k, v| {
            let (min, max) = (compression::ZSTD_MIN_LEVEL, compression::ZSTD_MAX_LEVEL);
            c.compression_zstd_level = parse_level(k, v, min, max, compression::ZSTD_DEFAULT_LEVEL)?;
            Ok(())
        },
        current: Some(|c| c.compression_zstd_level.to_string()),
    },
    ConfigProperty {
        key: "compression.level",
        aliases: &[],
        default: "-1",
        doc: "librdkafka's one level for whichever codec, -1 to 12 (`-1`: each codec's default); sets all three levels.",
        // Applies to all three codec levels, so the order of keys does not matter.
        apply: |c, k, v| {
            let n: i32 = parse_num(k, v)?;
            if !(-1..=12).contains(&n) {
                return Err(ConfigError::new(k, "must be between -1 and 12"));
            }
            let or = |default: i32| if n == -1 { default } else { n };
            c.compression_gzip_level = if n == -1 { -1 } else { n.clamp(1, 9) };
            c.compression_lz4_level = or(compression::LZ4_DEFAULT_LEVEL).max(1);
            c.compression_zstd_level = or(compression::ZSTD_DEFAULT_LEVEL);
            Ok(())
        },
        current: None,
    },
    ConfigProperty {
        key: "sender.cpu",
        aliases: &[],
        default: "last",
        doc: "The CPU the sender thread is pinned to: a number, `last` (the last one the process may use) or `-1` (not pinned).",
        apply: |c, k, v| parse_sender_cpu(k, v).map(|x| c.sender_cpu = x),
        current: Some(|c| match c.sender_cpu {
            SenderCpu::Last => "last".to_string(),
            SenderCpu::Cpu(n) => n.to_string(),
            SenderCpu::Unpinned => "-1".to_string(),
        }),
    },
    ConfigProperty {
        key: "sender.idle.strategy",
        aliases: &[],
        default: "park",
        doc: "What the sender thread does while it waits: `park` (sleep; no CPU while idle), `spin-park` (spin up to `sender.idle.spin.us`, then sleep) or `spin` (never sleep: a whole core).",
        apply: |c, k, v| parse_idle_strategy(k, v).map(|x| c.sender_idle = x),
        current: Some(|c| idle_strategy_text(c.sender_idle).to_string()),
    },
    ConfigProperty {
        key: "sender.idle.spin.us",
        aliases: &[],
        default: "50",
        doc: "With `sender.idle.strategy=spin-park`: how long the sender spins before it sleeps, in microseconds (at most 1000000).",
        apply: |c, k, v| {
            let us: u64 = parse_num(k, v)?;
            if us > 1_000_000 {
                return Err(ConfigError::new(k, "must be between 0 and 1000000"));
            }
            c.sender_idle_spin = Duration::from_micros(us);
            Ok(())
        },
        current: Some(|c| c.sender_idle_spin.as_micros().to_string()),
    },
    ConfigProperty {
        key: "sender.sched.slice.us",
        aliases: &[],
        default: "100",
        doc: "The scheduler time slice the sender thread asks for (Linux 6.12+, microseconds, 100 to 100000): a short one lets it preempt the thread running on its CPU when it wakes; `0`: the kernel's default.",
        apply: |c, k, v| {
            let us: u64 = parse_num(k, v)?;
            if us != 0 && !(100..=100_000).contains(&us) {
                return Err(ConfigError::new(k, "must be 0 or between 100 and 100000"));
            }
            c.sender_slice = (us != 0).then(|| Duration::from_micros(us));
            Ok(())
        },
        current: Some(|c| c.sender_slice.map_or(0, |d| d.as_micros()).to_string()),
    },
    ConfigProperty {
        key: "security.protocol",
        aliases: &[],
        default: "PLAINTEXT",
        doc: "`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.",
        apply: |c, k, v| {
            c.security_protocol = SecurityProtocol::parse(v).ok_or_else(|| {
                ConfigError::new(k, format!("`{}` is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", v.trim()))
            })?;
            Ok(())
        },
        current: Some(|c| security_protocol_text(c.security_protocol).to_string()),
    },
    ConfigProperty {
        key: "ssl.ca.location",
        aliases: &[],
        default: "",
        doc: "A PEM file of the CA certificates to trust; none: the platform's.",
        apply: |c, _, v| optional_text(v).map(|p| c.ssl.ca_location = p.map(PathBuf::from)),
        current: Some(|c| path_text(&c.ssl.ca_location)),
    },
    ConfigProperty {
        key: "ssl.certificate.location",
        aliases: &[],
        default: "",
        doc: "A PEM client certificate chain, for mutual TLS (with `ssl.key.location`).",
        apply: |c, _, v| optional_text(v).map(|p| c.ssl.certificate_location = p.map(PathBuf::from)),
        current: Some(|c| path_text(&c.ssl.certificate_location)),
    },
    ConfigProperty {
        key: "ssl.key.location",
        aliases: &[],
        default: "",
        doc: "The PEM private key of the client certificate.",
        apply: |c, _, v| optional_text(v).map(|p| c.ssl.key_location = p.map(PathBuf::from)),
        current: Some(|c| path_text(&c.ssl.key_location)),
    },
    ConfigProperty {
        key: "ssl.endpoint.identification.algorithm",
        aliases: &[],
        default: "https",
        doc: "`https`: the broker's certificate must name the host; empty: not checked (for tests only).",
        apply: |c, k, v| {
            c.ssl.endpoint_identification = match v.trim().to_ascii_lowercase().as_str() {
                "https" => true,
                "" | "none" => false,
                _ => return Err(ConfigError::new(k, format!("`{}` is not `https` or empty", v.trim()))),
            };
            Ok(())
        },
        current: Some(|c| if c.ssl.endpoint_identification { "https" } else { "" }.to_string()),
    },
    ConfigProperty {
        key: "sasl.mechanism",
        aliases: &["sasl.mechanisms"],
        default: "PLAIN",
        doc: "`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `OAUTHBEARER`.",
        apply: |c, k, v| {
            c.sasl.mechanism = SaslMechanism::parse(v).ok_or_else(|| {
                let v = v.trim();
                ConfigError::new(k, format!("`{v}` is not PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"))
            })?;
            Ok(())
        },
        current: Some(|c| c.sasl.mechanism.name().to_string()),
    },
    ConfigProperty {
        key: "sasl.username",
        aliases: &[],
        default: "",
        doc: "The SASL user (PLAIN, SCRAM).",
        apply: |c, _, v| text(v).map(|s| c.sasl.username = s),
        current: Some(|c| c.sasl.username.clone()),
    },
    ConfigProperty {
        key: "sasl.password",
        aliases: &[],
        default: "",
        doc: "The SASL password (PLAIN, SCRAM), taken as given, never shown.",
        // Not trimmed: a password may end in a space. Never echoed in an error.
        apply: |c, _, v| {
            c.sasl.password = Password::new(v);
            Ok(())
        },
        current: None,
    },
    ConfigProperty {
        key: "sasl.oauthbearer.token",
        aliases: &[],
        default: "",
        doc: "A fixed OAUTHBEARER token (ours; or a token callback, `oauth_token_callback`).",
        apply: |c, _, v| optional_text(v).map(|t| c.sasl.oauth_token = t.map(|t| OAuthToken::Static(Password::new(t)))),
        current: None,
    },
];

/// Everything the producer can be told. Build with [`ProducerConfig::new`] and the setters, or
/// [`ProducerConfig::from_properties`]; [`ProducerConfig::validate`] runs when the producer starts.
///
/// # Properties
///
/// The keys [`ProducerConfig::set`] and [`ProducerConfig::from_properties`] accept, the other
/// names they are accepted under, and their defaults, as text `set` accepts (`""`: none). The
/// same list, as data: [`ProducerConfig::properties`].
///
/// <!-- The table below is generated from PROPERTIES; `cargo test --lib config` fails and
///      prints it anew when the two differ. -->
/// <!-- properties:begin -->
/// | Key | Also | Default | |
/// |---|---|---|---|
/// | `bootstrap.servers` | `metadata.broker.list` | `""` | Comma-separated `host:port` pairs to find the cluster from (required). |
/// | `client.id` |  | `ringkafka` | The name sent with every request, for the brokers' logs and quotas. |
/// | `acks` | `request.required.acks` | `all` | The acknowledgement to wait for: `0` none, `1` the leader's, `all` (`-1`) every in-sync replica's. |
/// | `linger.ms` | `queue.buffering.max.ms` | `5` | How long a partition's batch waits for more records before it is sent. |
/// | `batch.size` |  | `16384` | The bytes a partition's batch holds (with compression: its estimated compressed bytes). |
/// | `batch.max.size` |  | `1000000` | How far a full batch keeps growing while its broker cannot take it yet (KIP-782); at most `max.request.size`, below `batch.size`: not at all. |
/// | `buffer.memory` |  | `33554432` | The bytes of records the producer holds before `send` blocks. |
/// | `queue.buffering.max.kbytes` |  | `32768` | librdkafka's `buffer.memory`, in KiB. |
/// | `max.block.ms` |  | `60000` | How long `send` may block for buffer space, and a record wait for its topic's metadata. |
/// | `max.request.size` |  | `1048576` | The largest produce request, and so the largest record, in bytes. |
/// | `retries` | `message.send.max.retries` | `2147483647` | How often a failed batch is retried (`delivery.timeout.ms` is the real bound). |
/// | `retry.backoff.ms` |  | `100` | The wait before retrying a failed batch, doubling per attempt. |
/// | `retry.backoff.max.ms` |  | `1000` | The cap of the retry backoff. |
/// | `reconnect.backoff.ms` |  | `50` | The wait before reconnecting to a broker, doubling per failure in a row (constant if set without its maximum). |
/// | `reconnect.backoff.max.ms` |  | `1000` | The cap of the reconnect backoff. |
/// | `socket.connection.setup.timeout.ms` |  | `10000` | How long a TCP connect may take, doubling per failure in a row. |
/// | `socket.connection.setup.timeout.max.ms` |  | `30000` | The cap of the connection setup timeout. |
/// | `connections.max.idle.ms` |  | `540000` | Close a connection with nothing outstanding after this long idle; `-1`: never. |
/// | `send.buffer.bytes` | `socket.send.buffer.bytes` | `-1` | The socket's `SO_SNDBUF`; `-1` or `0`: the kernel's, autotuned. |
/// | `receive.buffer.bytes` | `socket.receive.buffer.bytes` | `-1` | The socket's `SO_RCVBUF`; `-1` or `0`: the kernel's, autotuned. |
/// | `delivery.timeout.ms` | `message.timeout.ms` | `120000` | The bound on a record's time from `send` to its outcome; at least `linger.ms` + `request.timeout.ms`. |
/// | `request.timeout.ms` |  | `30000` | How long a request may wait for its response. |
/// | `max.in.flight.requests.per.connection` | `max.in.flight` | `5` | The requests awaiting a response per connection (at most 5 with idempotence). |
/// | `enable.idempotence` |  | `true` | No duplicates or reordering from retries; left at the default, conflicting `acks` or in-flight settings turn it off. |
/// | `transactional.id` |  | `""` | Makes the producer transactional (`init_transactions`, `begin_transaction`, …): implies idempotence and `acks=all`. |
/// | `transaction.timeout.ms` |  | `60000` | How long a transaction may stay open before the coordinator aborts it. |
/// | `metadata.max.age.ms` | `topic.metadata.refresh.interval.ms` | `300000` | Refresh the metadata at least this often. |
/// | `metadata.max.idle.ms` |  | `300000` | A topic not sent to for this long leaves the metadata requests (at least 5000). |
/// | `metadata.recovery.strategy` |  | `rebootstrap` | `rebootstrap`: when no known broker can give metadata, start over from `bootstrap.servers` (KIP-899); `none`: keep to the known brokers. |
/// | `metadata.recovery.rebootstrap.trigger.ms` |  | `300000` | With `rebootstrap`: how long metadata may be wanted and not obtained before the producer starts over from `bootstrap.servers`. |
/// | `partitioner.ignore.keys` |  | `false` | Place keyed records as unkeyed ones are (sticky), not by the key's hash. |
/// | `partitioner.adaptive.partitioning.enable` |  | `true` | Weight the sticky partitioner by each partition's queue (KIP-794). |
/// | `partitioner.availability.timeout.ms` |  | `0` | Only `0`, Java's default: no availability check. |
/// | `compression.type` | `compression.codec` | `none` | The batch codec: `none`, `gzip`, `snappy`, `lz4` or `zstd`. |
/// | `compression.gzip.level` |  | `-1` | The gzip level, 1 to 9; `-1`: the codec's default (6). |
/// | `compression.lz4.level` |  | `9` | The lz4 level, 1 to 17 (other than 9: LZ4HC, as in Java; needs the `lz4hc` cargo feature). |
/// | `compression.zstd.level` |  | `3` | The zstd level, -131072 to 22. |
/// | `compression.level` |  | `-1` | librdkafka's one level for whichever codec, -1 to 12 (`-1`: each codec's default); sets all three levels. |
/// | `sender.cpu` |  | `last` | The CPU the sender thread is pinned to: a number, `last` (the last one the process may use) or `-1` (not pinned). |
/// | `sender.idle.strategy` |  | `park` | What the sender thread does while it waits: `park` (sleep; no CPU while idle), `spin-park` (spin up to `sender.idle.spin.us`, then sleep) or `spin` (never sleep: a whole core). |
/// | `sender.idle.spin.us` |  | `50` | With `sender.idle.strategy=spin-park`: how long the sender spins before it sleeps, in microseconds (at most 1000000). |
/// | `sender.sched.slice.us` |  | `100` | The scheduler time slice the sender thread asks for (Linux 6.12+, microseconds, 100 to 100000): a short one lets it preempt the thread running on its CPU when it wakes; `0`: the kernel's default. |
/// | `security.protocol` |  | `PLAINTEXT` | `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`. |
/// | `ssl.ca.location` |  | `""` | A PEM file of the CA certificates to trust; none: the platform's. |
/// | `ssl.certificate.location` |  | `""` | A PEM client certificate chain, for mutual TLS (with `ssl.key.location`). |
/// | `ssl.key.location` |  | `""` | The PEM private key of the client certificate. |
/// | `ssl.endpoint.identification.algorithm` |  | `https` | `https`: the broker's certificate must name the host; empty: not checked (for tests only). |
/// | `sasl.mechanism` | `sasl.mechanisms` | `PLAIN` | `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `OAUTHBEARER`. |
/// | `sasl.username` |  | `""` | The SASL user (PLAIN, SCRAM). |
/// | `sasl.password` |  | `""` | The SASL password (PLAIN, SCRAM), taken as given, never shown. |
/// | `sasl.oauthbearer.token` |  | `""` | A fixed OAUTHBEARER token (ours; or a token callback, `oauth_token_callback`). |
/// <!-- properties:end -->
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerConfig {
    /// `bootstrap.servers`: `host:port` pairs to find the cluster from.
    pub bootstrap_servers: Vec<String>,
    /// `client.id`.
    pub client_id: String,
    /// `acks` (default all).
    pub acks: Acks,
    /// `linger.ms` (default 5 ms, Kafka 4.0).
    pub linger: Duration,
    /// `batch.size` in bytes (default 16384): where a batch is full and ready to send.
    pub batch_size: usize,
    /// `batch.max.size` in bytes (default 1000000, librdkafka's `batch.size`; KIP-782, not a
    /// Java key): a full batch that
    /// cannot be sent yet, because its broker's connection has
    /// `max.in.flight.requests.per.connection` requests out, is throttled or is not up, keeps
    /// taking records up to this size instead of closing, so that a backlog goes out in one
    /// batch when the connection can take it. Below `batch.size`, batches stop at `batch.size`
    /// as in Java. At most `max.request.size`: a larger value set explicitly is an error, the
    /// default is lowered to it.
    pub batch_max_size: usize,
    /// `buffer.memory` in bytes (default 32 MiB).
    pub buffer_memory: usize,
    /// `max.block.ms` (default 60 s): how long `send` may block for buffer space, and how long
    /// a record may wait for its topic's metadata.
    pub max_block: Duration,
    /// `max.request.size` in bytes (default 1 MiB).
    pub max_request_size: usize,
    /// `retries` (default `i32::MAX`; `delivery.timeout.ms` is the real bound).
    pub retries: u32,
    /// `retry.backoff.ms` (default 100 ms).
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms` (default 1 s).
    pub retry_backoff_max: Duration,
    /// `reconnect.backoff.ms` (default 50 ms): the wait before reconnecting to a broker after
    /// a failed or lost connection, doubling per failure in a row.
    pub reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms` (default 1 s): the cap of that wait.
    pub reconnect_backoff_max: Duration,
    /// `socket.connection.setup.timeout.ms` (default 10 s): how long a TCP connection may take
    /// to be established before it is given up, doubling per failure in a row. (The requests
    /// that follow on it, ApiVersions and SASL, each have `request.timeout.ms`.)
    pub connection_setup_timeout: Duration,
    /// `socket.connection.setup.timeout.max.ms` (default 30 s): the cap of that time.
    pub connection_setup_timeout_max: Duration,
    /// `connections.max.idle.ms` (default 9 min; `-1`: never): a connection with nothing
    /// outstanding that has been idle this long is closed.
    pub connections_max_idle: Option<Duration>,
    /// `send.buffer.bytes` (`SO_SNDBUF`). Default: the kernel's (Java asks for 128 KiB; a set
    /// size turns Linux's autotuning off, so we follow librdkafka, whose default is the
    /// kernel's too). `-1` or `0`: the kernel's.
    pub send_buffer_bytes: Option<usize>,
    /// `receive.buffer.bytes` (`SO_RCVBUF`). Default: the kernel's (Java asks for 32 KiB).
    pub receive_buffer_bytes: Option<usize>,
    /// `delivery.timeout.ms` (default 120 s).
    pub delivery_timeout: Duration,
    /// `request.timeout.ms` (default 30 s).
    pub request_timeout: Duration,
    /// `max.in.flight.requests.per.connection` (default 5).
    pub max_in_flight: usize,
    /// `enable.idempotence` (default true).
    pub enable_idempotence: bool,
    /// `transactional.id` (default none): makes the producer transactional
    /// ([`Producer::init_transactions`](crate::Producer::init_transactions) and the calls after
    /// it). Checked as Java does: it needs idempotence, so `acks=all`.
    pub transactional_id: Option<String>,
    /// `transaction.timeout.ms` (default 60 s): how long the coordinator lets a transaction stay
    /// open before it aborts it (a producer that died mid-transaction leaves nothing open for
    /// longer).
    pub transaction_timeout: Duration,
    /// `metadata.max.age.ms` (default 5 min).
    pub metadata_max_age: Duration,
    /// `metadata.max.idle.ms` (default 5 min, at least 5 s): a topic not sent to for this long
    /// leaves the metadata requests until it is sent to again.
    pub metadata_max_idle: Duration,
    /// `metadata.recovery.strategy` (default rebootstrap, as in Java 4.x and librdkafka).
    pub metadata_recovery: MetadataRecovery,
    /// `metadata.recovery.rebootstrap.trigger.ms` (default 5 min, KIP-1102): with
    /// [`MetadataRecovery::Rebootstrap`], metadata wanted and not obtained for this long (every
    /// known broker unreachable, or none answering) makes the producer forget the brokers it
    /// knows, close their connections and start over from `bootstrap.servers`, resolving
    /// their names again.
    pub metadata_recovery_trigger: Duration,
    /// `partitioner.ignore.keys` (default false).
    pub partitioner_ignore_keys: bool,
    /// `partitioner.adaptive.partitioning.enable` (default true): KIP-794's weighting of the
    /// sticky partitioner by each partition's queue.
    pub partitioner_adaptive: bool,
    /// `compression.type` (default none). Batches are compressed on the sender thread when they
    /// close. As in Java, `batch.size` then bounds a batch's *estimated compressed* size, from a
    /// per-topic estimate of the compression ratio, so batches of compressible records hold more
    /// of them (up to `max.request.size` uncompressed bytes).
    pub compression: Compression,
    /// `compression.gzip.level`: 1-9, or -1 for the codec default (6). Default -1.
    pub compression_gzip_level: i32,
    /// `compression.lz4.level`: 1-17, default 9 (the fast compressor; other levels use LZ4HC, as
    /// Java does, with the `lz4hc` cargo feature: without it they are a configuration error).
    pub compression_lz4_level: i32,
    /// `compression.zstd.level`: -131072 to 22, default 3.
    pub compression_zstd_level: i32,
    /// `sender.cpu`: the CPU the sender thread is pinned to.
    pub sender_cpu: SenderCpu,
    /// `sender.idle.strategy`: what the sender thread does while it waits (default
    /// [`IdleStrategy::Park`]).
    pub sender_idle: IdleStrategy,
    /// `sender.idle.spin.us`: how long [`IdleStrategy::SpinPark`] spins before it parks
    /// (default 50 µs).
    pub sender_idle_spin: Duration,
    /// `sender.sched.slice.us`: the time slice the sender thread asks the scheduler for
    /// (default 100 µs; `None`: the kernel's default). On Linux 6.12 and later (EEVDF), a
    /// thread whose slice is shorter than the running thread's preempts it when it wakes;
    /// otherwise a woken sender may wait for the running thread's slice to end, up to a timer
    /// tick (4 ms at 250 Hz). Older kernels ignore it.
    pub sender_slice: Option<Duration>,
    /// `security.protocol` (default PLAINTEXT).
    pub security_protocol: SecurityProtocol,
    /// `ssl.*` (used with SSL and SASL_SSL).
    pub ssl: SslConfig,
    /// `sasl.*` (used with SASL_PLAINTEXT and SASL_SSL). `Debug` redacts the password.
    pub sasl: SaslConfig,
    /// Which keys whose default Java treats differently from the same value given were set.
    explicit: Explicit,
}

/// The keys whose being set, not only their value, matters (as Java's `originals()` does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Explicit {
    /// `batch.max.size`: an explicit value above `max.request.size` is an error, the default
    /// is lowered to it.
    batch_max_size: bool,
    /// `delivery.timeout.ms`: Java rejects an explicit value below `linger.ms +
    /// request.timeout.ms` but silently raises the default.
    delivery_timeout: bool,
    /// `enable.idempotence`: Java turns a default idempotence off silently when `acks` or
    /// in-flight settings conflict, and rejects an explicit one.
    idempotence: bool,
    /// `reconnect.backoff.ms` and `reconnect.backoff.max.ms`: as in Java, the first without the
    /// second turns the exponential reconnect backoff off (the maximum becomes the base).
    reconnect_backoff: bool,
    reconnect_backoff_max: bool,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            bootstrap_servers: Vec::new(),
            client_id: "ringkafka".to_string(),
            acks: Acks::All,
            linger: Duration::from_millis(5),
            batch_size: 16 * 1024,
            batch_max_size: 1_000_000,
            buffer_memory: 32 * 1024 * 1024,
            max_block: Duration::from_secs(60),
            max_request_size: 1024 * 1024,
            retries: i32::MAX as u32,
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_millis(1000),
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_millis(1000),
            connection_setup_timeout: Duration::from_secs(10),
            connection_setup_timeout_max: Duration::from_secs(30),
            connections_max_idle: Some(Duration::from_secs(9 * 60)),
            send_buffer_bytes: None,
            receive_buffer_bytes: None,
            delivery_timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(30),
            max_in_flight: 5,
            enable_idempotence: true,
            transactional_id: None,
            transaction_timeout: Duration::from_secs(60),
            metadata_max_age: Duration::from_secs(300),
            metadata_max_idle: Duration::from_secs(5 * 60),
            metadata_recovery: MetadataRecovery::Rebootstrap,
            metadata_recovery_trigger: Duration::from_secs(300),
            partitioner_ignore_keys: false,
            partitioner_adaptive: true,
            compression: Compression::None,
            compression_gzip_level: compression::GZIP_DEFAULT_LEVEL,
            compression_lz4_level: compression::LZ4_DEFAULT_LEVEL,
            compression_zstd_level: compression::ZSTD_DEFAULT_LEVEL,
            sender_cpu: SenderCpu::Last,
            sender_idle: IdleStrategy::Park,
            sender_idle_spin: Duration::from_micros(50),
            sender_slice: Some(Duration::from_micros(100)),
            security_protocol: SecurityProtocol::Plaintext,
            ssl: SslConfig::default(),
            sasl: SaslConfig::default(),
            explicit: Explicit::default(),
        }
    }
}

impl ProducerConfig {
    /// Java's defaults with the given bootstrap servers (comma-separated `host:port`).
    pub fn new(bootstrap_servers: &str) -> Self {
        ProducerConfig { bootstrap_servers: split_servers(bootstrap_servers), ..Default::default() }
    }

    /// Every key [`ProducerConfig::set`] accepts, with its aliases, default and a line of
    /// documentation, in a stable order (the order of the table in [`ProducerConfig`]'s docs).
    ///
    /// ```
    /// let linger = ringkafka::ProducerConfig::properties().iter().find(|p| p.key == "linger.ms");
    /// assert_eq!(linger.unwrap().default, "5");
    /// ```
    pub fn properties() -> &'static [ConfigProperty] {
        PROPERTIES
    }

    /// Builds a configuration from Java property names (and the librdkafka aliases listed in
    /// [`ProducerConfig`]'s docs), then validates it. An unknown key or a bad value is an error
    /// naming the key; so is an inconsistent combination.
    pub fn from_properties<K: AsRef<str>, V: AsRef<str>>(
        props: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, ConfigError> {
        let mut cfg = ProducerConfig::default();
        for (k, v) in props {
            cfg.set(k.as_ref(), v.as_ref())?;
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Sets one property by its Java (or librdkafka) name. On an error, naming the key as it was
    /// given, nothing is changed.
    pub fn set(&mut self, key: &str, value: &str) -> Result<&mut Self, ConfigError> {
        let property = PROPERTIES
            .iter()
            .find(|p| p.key == key || p.aliases.contains(&key))
            .ok_or_else(|| ConfigError::new(key, "unknown configuration key"))?;
        (property.apply)(self, key, value)?;
        Ok(self)
    }

    /// Checks the configuration, as Java's `ProducerConfig` does, and settles the values that
    /// depend on others:
    /// - bootstrap servers are present, and every value, however it was set, is one its key
    ///   accepts;
    /// - with idempotence set explicitly or implied by `transactional.id`: `acks=all`,
    ///   `retries > 0` and at most 5 requests in flight; with idempotence left at its default, a
    ///   conflicting setting turns it off (Java 3.x+ behaviour); `transactional.id` with an
    ///   explicit `enable.idempotence=false` is an error;
    /// - an explicit `delivery.timeout.ms` must be at least `linger.ms + request.timeout.ms` (a
    ///   default one is raised to that);
    /// - `reconnect.backoff.ms` set without `reconnect.backoff.max.ms` makes the backoff
    ///   constant; a maximum below its base becomes the base;
    /// - SASL has the credentials its mechanism needs; a client certificate has its key.
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        if self.bootstrap_servers.is_empty() {
            return Err(ConfigError::new("bootstrap.servers", "at least one host:port is required"));
        }
        let mut scratch = self.clone();
        for p in PROPERTIES {
            if let Some(current) = p.current {
                (p.apply)(&mut scratch, p.key, &current(self))?;
            }
        }
        if self.transactional_id.as_deref() == Some("") {
            return Err(ConfigError::new("transactional.id", "must not be empty"));
        }
        let transactional = self.transactional_id.is_some();
        if transactional && !self.enable_idempotence {
            return Err(ConfigError::new(
                "enable.idempotence",
                "a transactional.id needs idempotence: it cannot be false",
            ));
        }
        if self.enable_idempotence {
            let conflict = if self.acks != Acks::All {
                Some(("acks", "idempotence requires acks=all"))
            } else if self.max_in_flight > 5 {
                Some((
                    "max.in.flight.requests.per.connection",
                    "idempotence requires at most 5 requests in flight per connection",
                ))
            } else if self.retries == 0 {
                Some(("retries", "idempotence requires retries > 0"))
            } else {
                None
            };
            if let Some((key, msg)) = conflict {
                if transactional {
                    return Err(ConfigError::new(
                        key,
                        format!("a transactional.id implies idempotence: {msg}"),
                    ));
                }
                if self.explicit.idempotence {
                    return Err(ConfigError::new(key, msg));
                }
                self.enable_idempotence = false;
            }
        }
        if self.batch_max_size > self.max_request_size {
            if self.explicit.batch_max_size {
                return Err(ConfigError::new(
                    "batch.max.size",
                    format!("must be at most max.request.size ({})", self.max_request_size),
                ));
            }
            self.batch_max_size = self.max_request_size;
        }
        let floor = self.linger + self.request_timeout;
        if self.delivery_timeout < floor {
            if self.explicit.delivery_timeout {
                return Err(ConfigError::new(
                    "delivery.timeout.ms",
                    format!("must be at least linger.ms + request.timeout.ms = {} ms", floor.as_millis()),
                ));
            }
            self.delivery_timeout = floor;
        }
        if (self.explicit.reconnect_backoff && !self.explicit.reconnect_backoff_max)
            || self.reconnect_backoff_max < self.reconnect_backoff
        {
            self.reconnect_backoff_max = self.reconnect_backoff;
        }
        if self.connection_setup_timeout_max < self.connection_setup_timeout {
            self.connection_setup_timeout_max = self.connection_setup_timeout;
        }
        if self.retry_backoff_max < self.retry_backoff {
            self.retry_backoff_max = self.retry_backoff;
        }
        if self.security_protocol.uses_sasl() {
            match self.sasl.mechanism {
                SaslMechanism::OAuthBearer => {
                    if self.sasl.oauth_token.is_none() {
                        return Err(ConfigError::new(
                            "sasl.oauthbearer.token",
                            "OAUTHBEARER needs a token (sasl.oauthbearer.token) or a token callback",
                        ));
                    }
                }
                _ => {
                    if self.sasl.username.is_empty() {
                        return Err(ConfigError::new("sasl.username", "required for this sasl.mechanism"));
                    }
                    if self.sasl.password.is_empty() {
                        return Err(ConfigError::new("sasl.password", "required for this sasl.mechanism"));
                    }
                }
            }
        }
        if self.compression == Compression::Lz4 {
            compression::check_lz4_level(self.compression_lz4_level)
                .map_err(|m| ConfigError::new("compression.lz4.level", m))?;
        }
        if self.compression == Compression::Lz4 {
            compression::check_lz4_level(self.compression_lz4_level)
                .map_err(|m| ConfigError::new("compression.lz4.level", m))?;
        }
        if self.ssl.certificate_location.is_some() != self.ssl.key_location.is_some() {
            return Err(ConfigError::new(
                "ssl.key.location",
                "ssl.certificate.location and ssl.key.location go together",
            ));
        }
        Ok(())
    }

    /// Sets `security.protocol`.
    pub fn security_protocol(mut self, p: SecurityProtocol) -> Self {
        self.security_protocol = p;
        self
    }

    /// Sets `sasl.mechanism`, `sasl.username` and `sasl.password`.
    pub fn sasl(mut self, mechanism: SaslMechanism, username: &str, password: &str) -> Self {
        self.sasl.mechanism = mechanism;
        self.sasl.username = username.to_string();
        self.sasl.password = Password::new(password);
        self
    }

    /// OAUTHBEARER: `callback` returns a token (or why it has none) each time a connection
    /// authenticates. It runs on the sender thread: return a cached token, refresh elsewhere.
    pub fn oauth_token_callback(
        mut self,
        callback: impl Fn() -> Result<String, String> + Send + Sync + 'static,
    ) -> Self {
        self.sasl.mechanism = SaslMechanism::OAuthBearer;
        self.sasl.oauth_token = Some(OAuthToken::Callback(Arc::new(callback)));
        self
    }

    /// The batch codec `compression.type` and its level key select.
    pub(crate) fn codec(&self) -> Codec {
        match self.compression {
            Compression::None => Codec::None,
            Compression::Gzip => Codec::Gzip { level: self.compression_gzip_level },
            Compression::Snappy => Codec::Snappy,
            Compression::Lz4 => Codec::Lz4 { level: self.compression_lz4_level },
            Compression::Zstd => Codec::Zstd { level: self.compression_zstd_level },
        }
    }

    /// Sets `compression.type`.
    pub fn compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }

    /// Sets `enable.idempotence` explicitly.
    pub fn idempotence(mut self, on: bool) -> Self {
        self.enable_idempotence = on;
        self.explicit.idempotence = true;
        self
    }

    /// Sets `acks`.
    pub fn acks(mut self, acks: Acks) -> Self {
        self.acks = acks;
        self
    }

    /// Sets `linger.ms`.
    pub fn linger(mut self, d: Duration) -> Self {
        self.linger = d;
        self
    }

    /// Sets `batch.size`.
    pub fn batch_size(mut self, n: usize) -> Self {
        self.batch_size = n;
        self
    }

    /// Sets `batch.max.size` explicitly (KIP-782's expandable batch, described at the field of
    /// the same name). `0`, or anything up to `batch.size`, keeps batches at `batch.size` as
    /// Java's do.
    pub fn batch_max_size(mut self, n: usize) -> Self {
        self.batch_max_size = n;
        self.explicit.batch_max_size = true;
        self
    }

    /// Sets `buffer.memory`.
    pub fn buffer_memory(mut self, n: usize) -> Self {
        self.buffer_memory = n;
        self
    }

    /// Sets `max.block.ms`.
    pub fn max_block(mut self, d: Duration) -> Self {
        self.max_block = d;
        self
    }

    /// Sets `max.request.size`.
    pub fn max_request_size(mut self, n: usize) -> Self {
        self.max_request_size = n;
        self
    }

    /// Sets `delivery.timeout.ms` explicitly.
    pub fn delivery_timeout(mut self, d: Duration) -> Self {
        self.delivery_timeout = d;
        self.explicit.delivery_timeout = true;
        self
    }

    /// Sets `request.timeout.ms`.
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }

    /// Sets `max.in.flight.requests.per.connection`.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n;
        self
    }

    /// Sets `client.id`.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = id.into();
        self
    }

    /// Sets `sender.cpu`.
    pub fn sender_cpu(mut self, cpu: SenderCpu) -> Self {
        self.sender_cpu = cpu;
        self
    }

    /// Sets `sender.idle.strategy`, and with it `sender.idle.spin.us` (used by
    /// [`IdleStrategy::SpinPark`] only).
    pub fn sender_idle(mut self, strategy: IdleStrategy, spin: Duration) -> Self {
        self.sender_idle = strategy;
        self.sender_idle_spin = spin;
        self
    }

    /// Sets `partitioner.ignore.keys`.
    pub fn partitioner_ignore_keys(mut self, on: bool) -> Self {
        self.partitioner_ignore_keys = on;
        self
    }

    /// Sets `reconnect.backoff.ms` and `reconnect.backoff.max.ms`.
    pub fn reconnect_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.reconnect_backoff = base;
        self.reconnect_backoff_max = max;
        (self.explicit.reconnect_backoff, self.explicit.reconnect_backoff_max) = (true, true);
        self
    }

    /// Sets `socket.connection.setup.timeout.ms` and `socket.connection.setup.timeout.max.ms`.
    pub fn connection_setup_timeout(mut self, base: Duration, max: Duration) -> Self {
        self.connection_setup_timeout = base;
        self.connection_setup_timeout_max = max;
        self
    }

    /// Sets `connections.max.idle.ms` (`None`: never close an idle connection).
    pub fn connections_max_idle(mut self, d: Option<Duration>) -> Self {
        self.connections_max_idle = d;
        self
    }

    /// Sets `retry.backoff.ms` and `retry.backoff.max.ms`.
    pub fn retry_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.retry_backoff = base;
        self.retry_backoff_max = max;
        self
    }

    /// Sets `metadata.max.age.ms`.
    pub fn metadata_max_age(mut self, d: Duration) -> Self {
        self.metadata_max_age = d;
        self
    }

    /// Sets `metadata.recovery.strategy` and `metadata.recovery.rebootstrap.trigger.ms`.
    pub fn metadata_recovery(mut self, strategy: MetadataRecovery, trigger: Duration) -> Self {
        self.metadata_recovery = strategy;
        self.metadata_recovery_trigger = trigger;
        self
    }
}

// Parsers: each trims what it reads and names `key` (as given) in its errors.

fn parse_num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, ConfigError> {
    let v = v.trim();
    v.parse::<T>().map_err(|_| ConfigError::new(key, format!("`{v}` is not a valid number")))
}

fn parse_non_negative(key: &str, v: &str) -> Result<i64, ConfigError> {
    let n: i64 = parse_num(key, v)?;
    if n < 0 {
        return Err(ConfigError::new(key, format!("must not be negative, got {n}")));
    }
    Ok(n)
}

fn parse_positive(key: &str, v: &str) -> Result<usize, ConfigError> {
    let n: i64 = parse_num(key, v)?;
    if n <= 0 {
        return Err(ConfigError::new(key, format!("must be positive, got {n}")));
    }
    Ok(n as usize)
}

fn parse_ms(key: &str, v: &str) -> Result<Duration, ConfigError> {
    parse_non_negative(key, v).map(|n| Duration::from_millis(n as u64))
}

/// A positive number of milliseconds.
fn parse_positive_ms(key: &str, v: &str) -> Result<Duration, ConfigError> {
    let d = parse_ms(key, v)?;
    if d.is_zero() {
        return Err(ConfigError::new(key, "must be positive"));
    }
    Ok(d)
}

/// A codec level in `min..=max`, or exactly `default` (Java allows gzip's -1 that way).
fn parse_level(key: &str, v: &str, min: i32, max: i32, default: i32) -> Result<i32, ConfigError> {
    let n: i32 = parse_num(key, v)?;
    if (min..=max).contains(&n) || n == default {
        Ok(n)
    } else {
        Err(ConfigError::new(key, format!("must be between {min} and {max}")))
    }
}

fn parse_bool(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError::new(key, format!("`{}` is not true or false", v.trim()))),
    }
}

/// A socket buffer size: positive, or `-1` / `0` for the kernel's default (Java's and
/// librdkafka's "use the OS default" values).
fn parse_buffer(key: &str, v: &str) -> Result<Option<usize>, ConfigError> {
    let n: i64 = parse_num(key, v)?;
    match n {
        -1 | 0 => Ok(None),
        n if n > 0 => Ok(Some(n as usize)),
        _ => Err(ConfigError::new(key, format!("must be positive, or -1 for the OS default, got {n}"))),
    }
}

/// `host:port` pairs, comma-separated; none is accepted here (`validate` requires one).
fn parse_servers(key: &str, v: &str) -> Result<Vec<String>, ConfigError> {
    let servers = split_servers(v);
    for s in &servers {
        match s.rsplit_once(':') {
            Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() => {}
            _ => return Err(ConfigError::new(key, format!("`{s}` is not host:port"))),
        }
    }
    Ok(servers)
}

fn split_servers(v: &str) -> Vec<String> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

fn parse_recovery(key: &str, v: &str) -> Result<MetadataRecovery, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "none" => Ok(MetadataRecovery::None),
        "rebootstrap" => Ok(MetadataRecovery::Rebootstrap),
        _ => Err(ConfigError::new(key, format!("`{}` is not none or rebootstrap", v.trim()))),
    }
}

fn recovery_text(r: MetadataRecovery) -> &'static str {
    match r {
        MetadataRecovery::None => "none",
        MetadataRecovery::Rebootstrap => "rebootstrap",
    }
}

fn parse_acks(key: &str, v: &str) -> Result<Acks, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "0" => Ok(Acks::None),
        "1" => Ok(Acks::Leader),
        "all" | "-1" => Ok(Acks::All),
        _ => Err(ConfigError::new(key, format!("`{}` is not one of 0, 1, all, -1", v.trim()))),
    }
}

fn parse_compression(key: &str, v: &str) -> Result<Compression, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "none" => Ok(Compression::None),
        "gzip" => Ok(Compression::Gzip),
        "snappy" => Ok(Compression::Snappy),
        "lz4" => Ok(Compression::Lz4),
        "zstd" => Ok(Compression::Zstd),
        _ => Err(ConfigError::new(key, format!("unknown compression type `{}`", v.trim()))),
    }
}

fn parse_sender_cpu(key: &str, v: &str) -> Result<SenderCpu, ConfigError> {
    if v.trim().eq_ignore_ascii_case("last") {
        return Ok(SenderCpu::Last);
    }
    match parse_num::<i64>(key, v)? {
        -1 => Ok(SenderCpu::Unpinned),
        n if n >= 0 => Ok(SenderCpu::Cpu(n as usize)),
        _ => Err(ConfigError::new(key, "must be a CPU number, `last` or -1")),
    }
}

fn parse_idle_strategy(key: &str, v: &str) -> Result<IdleStrategy, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "park" => Ok(IdleStrategy::Park),
        "spin-park" => Ok(IdleStrategy::SpinPark),
        "spin" => Ok(IdleStrategy::Spin),
        _ => Err(ConfigError::new(key, format!("`{}` is not park, spin-park or spin", v.trim()))),
    }
}

fn idle_strategy_text(s: IdleStrategy) -> &'static str {
    match s {
        IdleStrategy::Park => "park",
        IdleStrategy::SpinPark => "spin-park",
        IdleStrategy::Spin => "spin",
    }
}

/// Free text (any is accepted; `Result` for the shape of the other parsers).
fn text(v: &str) -> Result<String, ConfigError> {
    Ok(v.trim().to_string())
}

/// Free text where empty means none (a path, an id).
fn optional_text(v: &str) -> Result<Option<String>, ConfigError> {
    text(v).map(|s| Some(s).filter(|s| !s.is_empty()))
}

// The held values as text their parsers accept (for `validate`, and to check the defaults).

/// Whole milliseconds, a fraction rounded up (so that a positive duration stays positive),
/// at most `i64::MAX`.
fn ms(d: Duration) -> String {
    let whole = d.as_millis() + u128::from(d.subsec_nanos() % 1_000_000 != 0);
    whole.min(i64::MAX as u128).to_string()
}

fn buffer_text(n: Option<usize>) -> String {
    n.map_or("-1".to_string(), |n| n.to_string())
}

fn path_text(p: &Option<PathBuf>) -> String {
    p.as_ref().map_or(String::new(), |p| p.display().to_string())
}

fn acks_text(a: Acks) -> &'static str {
    match a {
        Acks::None => "0",
        Acks::Leader => "1",
        Acks::All => "all",
    }
}

fn compression_text(c: Compression) -> &'static str {
    match c {
        Compression::None => "none",
        Compression::Gzip => "gzip",
        Compression::Snappy => "snappy",
        Compression::Lz4 => "lz4",
        Compression::Zstd => "zstd",
    }
}

fn security_protocol_text(p: SecurityProtocol) -> &'static str {
    match p {
        SecurityProtocol::Plaintext => "PLAINTEXT",
        SecurityProtocol::Ssl => "SSL",
        SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
        SecurityProtocol::SaslSsl => "SASL_SSL",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_java_clients() {
        let mut c = ProducerConfig::new("h:1");
        c.validate().unwrap();
        assert_eq!(c.acks, Acks::All);
        assert_eq!(c.batch_size, 16384);
        // Not Java's (it has no such key; KIP-782): see README, "Differences from Java".
        assert_eq!(c.batch_max_size, 1_000_000);
        assert_eq!(c.buffer_memory, 33554432);
        assert_eq!(c.delivery_timeout, Duration::from_secs(120));
        assert!(c.enable_idempotence);
        assert_eq!(c.max_in_flight, 5);
    }

    #[test]
    fn reconnect_backoff_follows_java() {
        let ms = Duration::from_millis;
        let props = |kv: &[(&str, &str)]| {
            let mut all = vec![("bootstrap.servers", "h:1")];
            all.extend_from_slice(kv);
            let c = ProducerConfig::from_properties(all).unwrap();
            (c.reconnect_backoff, c.reconnect_backoff_max)
        };
        assert_eq!(props(&[]), (ms(50), ms(1000)));
        assert_eq!(
            props(&[("reconnect.backoff.ms", "100"), ("reconnect.backoff.max.ms", "5000")]),
            (ms(100), ms(5000))
        );
        // The base alone turns the exponential backoff off; in either order with the maximum
        // it does not.
        assert_eq!(props(&[("reconnect.backoff.ms", "200")]), (ms(200), ms(200)));
        assert_eq!(
            props(&[("reconnect.backoff.max.ms", "5000"), ("reconnect.backoff.ms", "200")]),
            (ms(200), ms(5000))
        );
        // A maximum below the base: the base, constant.
        assert_eq!(
            props(&[("reconnect.backoff.ms", "300"), ("reconnect.backoff.max.ms", "100")]),
            (ms(300), ms(300))
        );
    }

    #[test]
    fn connection_setup_timeout_defaults_and_keys() {
        let s = Duration::from_secs;
        let c = ProducerConfig::from_properties([("bootstrap.servers", "h:1")]).unwrap();
        assert_eq!((c.connection_setup_timeout, c.connection_setup_timeout_max), (s(10), s(30)));
        let c = ProducerConfig::from_properties([
            ("bootstrap.servers", "h:1"),
            ("socket.connection.setup.timeout.ms", "2000"),
            ("socket.connection.setup.timeout.max.ms", "1000"),
        ])
        .unwrap();
        assert_eq!((c.connection_setup_timeout, c.connection_setup_timeout_max), (s(2), s(2)));
        let e = ProducerConfig::from_properties([
            ("bootstrap.servers", "h:1"),
            ("socket.connection.setup.timeout.ms", "0"),
        ])
        .unwrap_err();
        assert_eq!(e.key, "socket.connection.setup.timeout.ms");
    }

    #[test]
    fn connections_max_idle_defaults_to_nine_minutes_and_minus_one_is_never() {
        let idle = |v: &str| {
            ProducerConfig::from_properties([("bootstrap.servers", "h:1"), ("connections.max.idle.ms", v)])
                .map(|c| c.connections_max_idle)
        };
        assert_eq!(ProducerConfig::new("h:1").connections_max_idle, Some(Duration::from_secs(540)));
        assert_eq!(idle("1000").unwrap(), Some(Duration::from_secs(1)));
        assert_eq!(idle("-1").unwrap(), None);
        assert_eq!(idle("0").unwrap_err().key, "connections.max.idle.ms");
    }

    #[test]
    fn socket_buffer_sizes_default_to_the_kernels() {
        let c = ProducerConfig::from_properties([("bootstrap.servers", "h:1")]).unwrap();
        assert_eq!((c.send_buffer_bytes, c.receive_buffer_bytes), (None, None));
        let c = ProducerConfig::from_properties([
            ("bootstrap.servers", "h:1"),
            ("send.buffer.bytes", "131072"),
            ("socket.receive.buffer.bytes", "-1"),
        ])
        .unwrap();
        assert_eq!((c.send_buffer_bytes, c.receive_buffer_bytes), (Some(131072), None));
        let e =
            ProducerConfig::from_properties([("bootstrap.servers", "h:1"), ("receive.buffer.bytes", "-2")])
                .unwrap_err();
        assert_eq!(e.key, "receive.buffer.bytes");
    }

    #[test]
    fn metadata_recovery_rebootstraps_after_five_minutes_by_default_as_java_4() {
        let c = ProducerConfig::new("h:1");
        assert_eq!(
            (c.metadata_recovery, c.metadata_recovery_trigger),
            (MetadataRecovery::Rebootstrap, Duration::from_secs(300))
        );
        let set = |k: &str, v: &str| ProducerConfig::from_properties([("bootstrap.servers", "h:1"), (k, v)]);
        assert_eq!(
            set("metadata.recovery.strategy", "NONE").unwrap().metadata_recovery,
            MetadataRecovery::None
        );
        assert_eq!(
            set("metadata.recovery.strategy", "rebootstrap").unwrap().metadata_recovery,
            MetadataRecovery::Rebootstrap
        );
        assert_eq!(set("metadata.recovery.strategy", "later").unwrap_err().key, "metadata.recovery.strategy");
        let t = set("metadata.recovery.rebootstrap.trigger.ms", "60000").unwrap();
        assert_eq!(t.metadata_recovery_trigger, Duration::from_secs(60));
        assert!(set("metadata.recovery.rebootstrap.trigger.ms", "-1").is_err());
    }

    #[test]
    fn metadata_max_idle_is_five_minutes_and_at_least_five_seconds() {
        assert_eq!(ProducerConfig::new("h:1").metadata_max_idle, Duration::from_secs(300));
        let set = |v: &str| {
            ProducerConfig::from_properties([("bootstrap.servers", "h:1"), ("metadata.max.idle.ms", v)])
        };
        assert_eq!(set("60000").unwrap().metadata_max_idle, Duration::from_secs(60));
        assert_eq!(set("4999").unwrap_err().key, "metadata.max.idle.ms");
    }

    #[test]
    fn unknown_key_and_bad_values_name_the_key() {
        let e =
            ProducerConfig::from_properties([("bootstrap.servers", "h:1"), ("lingr.ms", "5")]).unwrap_err();
        assert_eq!(e.key, "lingr.ms");
        let e = ProducerConfig::from_properties([("bootstrap.servers", "h:1"), ("acks", "2")]).unwrap_err();
        assert_eq!(e.key, "acks");
        let e =
            ProducerConfig::from_properties([("bootstrap.servers", "h:1"), ("batch.size", "x")]).unwrap_err();
        assert_eq!(e.key, "batch.size");
        let e = ProducerConfig::from_properties([("linger.ms", "1")]).unwrap_err();
        assert_eq!(e.key, "bootstrap.servers");
    }

    #[test]
    fn explicit_idempotence_conflicts_are_errors_default_turns_off() {
        let e = ProducerConfig::from_properties([
            ("bootstrap.servers", "h:1"),
            ("enable.idempotence", "true"),
            ("acks", "1"),
        ])
        .unwrap_err();
        assert_eq!(e.key, "acks");
        let e = ProducerConfig::from_properties([
            ("bootstrap.servers", "h:1"),
            ("enable.idempotence", "true"),
            ("max.in.flight.requests.per.connection", "6"),
        ])
        .unwrap_err();
        assert_eq!(e.key, "max.in.flight.requests.per.connection");
        let c = ProducerConfig::from_properties([("bootstrap.servers", "h:1"), ("acks", "1")]).unwrap();
        assert!(!c.enable_idempotence);
    }

    #[test]
    fn delivery_timeout_below_linger_plus_request_timeout_is_refused_unless_defaulted() {
        let e = ProducerConfig::from_properties([
            ("bootstrap.servers", "h:1"),
            ("delivery.timeout.ms", "1000"),
            ("request.timeout.ms", "2000"),
        ])
        .unwrap_err();
        assert_eq!(e.key, "delivery.timeout.ms");
        let c =
            ProducerConfig::from_properties([("bootstrap.servers", "h:1"), ("request.timeout.ms", "200000")])
                .unwrap();
        assert_eq!(c.delivery_timeout, Duration::from_millis(200005));
    }

    #[test]
    fn librdkafka_aliases_set_the_java_keys() {
        let c = ProducerConfig::from_properties([
            ("metadata.broker.list", "a:1,b:2"),
            ("queue.buffering.max.ms", "7"),
            ("request.required.acks", "-1"),
        ])
        .unwrap();
        assert_eq!(c.bootstrap_servers, vec!["a:1", "b:2"]);
        assert_eq!(c.linger, Duration::from_millis(7));
    }

    #[test]
    fn compression_types_and_java_level_defaults_and_ranges() {
        let c = ProducerConfig::new("h:1");
        assert_eq!(c.codec(), Codec::None);
        assert_eq!((c.compression_gzip_level, c.compression_lz4_level, c.compression_zstd_level), (-1, 9, 3));
        for (name, codec) in [
            ("gzip", Codec::Gzip { level: -1 }),
            ("SNAPPY", Codec::Snappy),
            ("lz4", Codec::Lz4 { level: 9 }),
            ("zstd", Codec::Zstd { level: 3 }),
            ("none", Codec::None),
        ] {
            let c =
                ProducerConfig::from_properties([("bootstrap.servers", "h:1"), ("compression.type", name)]);
            assert_eq!(c.unwrap().codec(), codec, "{name}");
            let c =
                ProducerConfig::from_properties([("bootstrap.servers", "h:1"), ("compression.codec", name)]);
            assert_eq!(c.unwrap().codec(), codec, "librdkafka alias, {name}");
        }
        let c = ProducerConfig::from_properties([
            ("bootstrap.servers", "h:1"),
            ("compression.zstd.level", "-7"),
            ("compression.type", "zstd"),
        ]);
        assert_eq!(c.unwrap().codec(), Codec::Zstd { level: -7 });
        for (key, ok, bad) in [
            ("compression.gzip.level", ["1", "9", "-1"], ["0", "10", "-2"]),
            ("compression.lz4.level", ["1", "17", "9"], ["0", "18", "-1"]),
            ("compression.zstd.level", ["-131072", "22", "0"], ["23", "-131073", "x"]),
        ] {
            for v in ok {
                assert!(ProducerConfig::new("h:1").set(key, v).is_ok(), "{key}={v}");
            }
            for v in bad {
                assert_eq!(ProducerConfig::new("h:1").set(key, v).unwrap_err().key, key, "{key}={v}");
            }
        }
        assert!(ProducerConfig::new("h:1").set("compression.type", "brotli").is_err());
    }

    #[test]
    fn librdkafka_compression_level_applies_to_the_chosen_codec() {
        let c = ProducerConfig::from_properties([
            ("bootstrap.servers", "h:1"),
            ("compression.level", "5"),
            ("compression.codec", "gzip"),
        ]);
        assert_eq!(c.unwrap().codec(), Codec::Gzip { level: 5 });
        let c = ProducerConfig::from_properties([
            ("bootstrap.servers", "h:1"),
            ("compression.codec", "zstd"),
            ("compression.level", "-1"),
        ]);
        assert_eq!(c.unwrap().codec(), Codec::Zstd { level: 3 });
        assert!(ProducerConfig::new("h:1").set("compression.level", "13").is_err());
    }

    /// `c` without the record of which keys were set, which `set` leaves behind.
    fn values(c: &ProducerConfig) -> ProducerConfig {
        ProducerConfig { explicit: Explicit::default(), ..c.clone() }
    }

    #[test]
    fn every_property_accepts_its_default_text_and_it_is_the_default_value() {
        let default = ProducerConfig::default();
        for p in ProducerConfig::properties() {
            let mut c = ProducerConfig::default();
            c.set(p.key, p.default).unwrap_or_else(|e| panic!("{}: default `{}`: {e}", p.key, p.default));
            assert_eq!(values(&c), default, "{} = `{}` is not the default value", p.key, p.default);
            if let Some(current) = p.current {
                assert_eq!(current(&default), p.default, "{}: the default value reads back", p.key);
            }
        }
    }

    #[test]
    fn every_alias_is_its_key() {
        let mut seen = std::collections::HashSet::new();
        for p in ProducerConfig::properties() {
            for name in std::iter::once(&p.key).chain(p.aliases) {
                assert!(seen.insert(*name), "`{name}` is in the table twice");
                let found = PROPERTIES.iter().find(|q| q.key == *name || q.aliases.contains(name));
                assert!(std::ptr::eq(found.unwrap(), p), "`{name}` finds another entry");
            }
            for alias in p.aliases {
                let (mut by_key, mut by_alias) = (ProducerConfig::default(), ProducerConfig::default());
                by_key.set(p.key, p.default).unwrap();
                by_alias.set(alias, p.default).unwrap();
                assert_eq!(by_alias, by_key, "{alias} sets what {} sets", p.key);
                // An error names the key as it was given.
                if let Err(e) = ProducerConfig::default().set(alias, "not a value") {
                    assert_eq!(e.key, *alias);
                }
            }
        }
    }

    #[test]
    fn aliases_set_the_same_value_as_their_key() {
        for (alias, key, value) in [
            ("request.required.acks", "acks", "1"),
            ("queue.buffering.max.ms", "linger.ms", "17"),
            ("message.send.max.retries", "retries", "3"),
            ("socket.send.buffer.bytes", "send.buffer.bytes", "65536"),
            ("message.timeout.ms", "delivery.timeout.ms", "200000"),
            ("max.in.flight", "max.in.flight.requests.per.connection", "2"),
            ("topic.metadata.refresh.interval.ms", "metadata.max.age.ms", "1000"),
            ("compression.codec", "compression.type", "zstd"),
            ("sasl.mechanisms", "sasl.mechanism", "SCRAM-SHA-512"),
        ] {
            let (mut by_key, mut by_alias) = (ProducerConfig::new("h:1"), ProducerConfig::new("h:1"));
            by_key.set(key, value).unwrap();
            by_alias.set(alias, value).unwrap();
            assert_eq!(by_alias, by_key, "{alias}={value}");
            assert_ne!(values(&by_key), ProducerConfig::new("h:1"), "{key}={value} is not the default");
        }
    }

    /// The table of [`ProducerConfig`]'s docs, as it must read.
    fn docs_table() -> String {
        let code = |s: &str| if s.is_empty() { "`\"\"`".to_string() } else { format!("`{s}`") };
        let mut out = String::from("| Key | Also | Default | |\n|---|---|---|---|\n");
        for p in PROPERTIES {
            let aliases: Vec<String> = p.aliases.iter().map(|a| code(a)).collect();
            let row = [code(p.key), aliases.join(", "), code(p.default), p.doc.to_string()];
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        out
    }

    #[test]
    fn the_docs_list_every_property() {
        for p in PROPERTIES {
            assert!(!p.doc.contains('|') && !p.doc.contains('\n'), "{}: one line, no `|`", p.key);
        }
        let source = include_str!("config.rs");
        let begin = source.find("/// <!-- properties:begin -->\n").unwrap();
        let end = source.find("/// <!-- properties:end -->").unwrap();
        let body = source[begin..end].split_once('\n').unwrap().1;
        let documented: String = body
            .lines()
            .map(|l| format!("{}\n", l.trim_start().trim_start_matches("///").trim_start()))
            .collect();
        let expected = docs_table();
        assert!(
            documented == expected,
            "ProducerConfig's docs do not list the properties as PROPERTIES has them; put this between \
             the properties:begin and properties:end lines:\n{}",
            expected.lines().map(|l| format!("/// {l}\n")).collect::<String>()
        );
    }

    #[test]
    fn batch_max_size_is_bounded_by_max_request_size() {
        let e = ProducerConfig::from_properties([
            ("bootstrap.servers", "h:1"),
            ("max.request.size", "500000"),
            ("batch.max.size", "600000"),
        ])
        .unwrap_err();
        assert_eq!(e.key, "batch.max.size");
        assert!(e.to_string().contains("max.request.size"), "{e}");
        let e =
            ProducerConfig::new("h:1").max_request_size(1000).batch_max_size(1001).validate().unwrap_err();
        assert_eq!(e.key, "batch.max.size");
        // The default follows a smaller max.request.size down instead.
        let mut c = ProducerConfig::new("h:1").max_request_size(500_000);
        c.validate().unwrap();
        assert_eq!(c.batch_max_size, 500_000);
        // Anything up to batch.size (0 too) is valid: batches then stay at batch.size.
        let mut c =
            ProducerConfig::from_properties([("bootstrap.servers", "h:1"), ("batch.max.size", "0")]).unwrap();
        c.validate().unwrap();
        assert_eq!(c.batch_max_size, 0);
        let e = ProducerConfig::from_properties([("bootstrap.servers", "h:1"), ("batch.max.size", "-1")])
            .unwrap_err();
        assert_eq!(e.key, "batch.max.size");
    }

    #[test]
    fn values_set_through_the_builder_or_fields_meet_the_keys_rules() {
        let e = ProducerConfig::new("h:1").max_in_flight(0).validate().unwrap_err();
        assert_eq!(e.key, "max.in.flight.requests.per.connection");
        let e = ProducerConfig::new("h:1").request_timeout(Duration::ZERO).validate().unwrap_err();
        assert_eq!(e.key, "request.timeout.ms");
        let mut c = ProducerConfig::new("h:1");
        c.metadata_max_idle = Duration::from_secs(1);
        assert_eq!(c.validate().unwrap_err().key, "metadata.max.idle.ms");
        let mut c = ProducerConfig::new("h:1");
        c.compression_lz4_level = 0;
        assert_eq!(c.validate().unwrap_err().key, "compression.lz4.level");
        let e = ProducerConfig::new("nohost").validate().unwrap_err();
        assert_eq!(e.key, "bootstrap.servers");
        // A fraction of a millisecond is still positive; Duration::MAX is not refused for size.
        let mut c =
            ProducerConfig::new("h:1").connection_setup_timeout(Duration::from_micros(500), Duration::MAX);
        c.validate().unwrap();
        assert_eq!(c.connection_setup_timeout, Duration::from_micros(500));
    }

    #[test]
    fn a_failed_set_changes_nothing() {
        for p in PROPERTIES {
            let mut c = ProducerConfig::new("h:1");
            if c.set(p.key, "-2x").is_err() {
                assert_eq!(c, ProducerConfig::new("h:1"), "{}", p.key);
            }
        }
    }

    #[test]
    fn sender_idle_strategy_and_spin_bound_parse_and_reject_nonsense() {
        let mut c = ProducerConfig::new("h:1");
        assert_eq!(
            (c.sender_idle, c.sender_idle_spin),
            (IdleStrategy::Park, Duration::from_micros(50)),
            "frugal"
        );
        c.set("sender.idle.strategy", " Spin-Park ").unwrap().set("sender.idle.spin.us", "20").unwrap();
        assert_eq!((c.sender_idle, c.sender_idle_spin), (IdleStrategy::SpinPark, Duration::from_micros(20)));
        c.set("sender.idle.strategy", "spin").unwrap();
        assert_eq!(c.sender_idle, IdleStrategy::Spin);
        let key = |k: &str, v: &str| ProducerConfig::new("h:1").set(k, v).map(|_| ()).unwrap_err().key;
        assert_eq!(key("sender.idle.strategy", "yield"), "sender.idle.strategy");
        assert_eq!(key("sender.idle.spin.us", "-1"), "sender.idle.spin.us");
        assert_eq!(key("sender.idle.spin.us", "1000001"), "sender.idle.spin.us");
        c.sender_idle_spin = Duration::from_secs(5);
        assert_eq!(
            c.validate().unwrap_err().key,
            "sender.idle.spin.us",
            "a field set directly meets the same rule"
        );
    }

    #[test]
    fn sender_slice_is_zero_or_what_the_kernel_takes() {
        let mut c = ProducerConfig::new("h:1");
        assert_eq!(c.sender_slice, Some(Duration::from_micros(100)));
        c.set("sender.sched.slice.us", "0").unwrap();
        assert_eq!(c.sender_slice, None);
        c.set("sender.sched.slice.us", "3000").unwrap();
        assert_eq!(c.sender_slice, Some(Duration::from_millis(3)));
        for bad in ["50", "100001", "-1"] {
            let e = ProducerConfig::new("h:1").set("sender.sched.slice.us", bad).map(|_| ()).unwrap_err();
            assert_eq!(e.key, "sender.sched.slice.us", "{bad}");
        }
    }

    #[test]
    fn sender_cpu_takes_a_number_last_or_minus_one() {
        let cpu = |v: &str| ProducerConfig::new("h:1").set("sender.cpu", v).map(|c| c.sender_cpu);
        assert_eq!(cpu("3"), Ok(SenderCpu::Cpu(3)));
        assert_eq!(cpu("LAST"), Ok(SenderCpu::Last));
        assert_eq!(cpu("-1"), Ok(SenderCpu::Unpinned));
        assert_eq!(cpu("-2").unwrap_err().key, "sender.cpu");
    }

    #[test]
    fn transactional_id_implies_idempotence_and_refuses_it_off() {
        let props = |kv: &[(&str, &str)]| {
            let mut all = vec![("bootstrap.servers", "h:1"), ("transactional.id", "tx-1")];
            all.extend_from_slice(kv);
            ProducerConfig::from_properties(all)
        };
        let c = props(&[]).unwrap();
        assert_eq!(c.transactional_id.as_deref(), Some("tx-1"));
        assert!(c.enable_idempotence);
        assert_eq!(c.transaction_timeout, Duration::from_secs(60));
        assert_eq!(props(&[("enable.idempotence", "false")]).unwrap_err().key, "enable.idempotence");
        // Where a default idempotence would quietly turn off, a transactional one refuses.
        assert_eq!(props(&[("acks", "1")]).unwrap_err().key, "acks");
        assert_eq!(props(&[("acks", "0")]).unwrap_err().key, "acks");
        let e = props(&[("max.in.flight.requests.per.connection", "6")]).unwrap_err();
        assert_eq!(e.key, "max.in.flight.requests.per.connection");
        assert_eq!(props(&[("retries", "0")]).unwrap_err().key, "retries");
        // Empty is none (librdkafka's reading); so is the default.
        let c = ProducerConfig::from_properties([("bootstrap.servers", "h:1"), ("transactional.id", " ")]);
        assert_eq!(c.unwrap().transactional_id, None);
        let mut c = ProducerConfig::new("h:1");
        c.transactional_id = Some(String::new());
        assert_eq!(c.validate().unwrap_err().key, "transactional.id");
    }

    #[test]
    fn transaction_timeout_is_positive_milliseconds() {
        let set = |v: &str| {
            ProducerConfig::from_properties([("bootstrap.servers", "h:1"), ("transaction.timeout.ms", v)])
        };
        assert_eq!(set("90000").unwrap().transaction_timeout, Duration::from_secs(90));
        assert_eq!(set("0").unwrap_err().key, "transaction.timeout.ms");
        assert_eq!(set("-1").unwrap_err().key, "transaction.timeout.ms");
    }
}
