//! Producer configuration: a typed builder, and [`ProducerConfig::from_properties`] for the Java
//! (and common librdkafka) property names. Defaults are the Java client's (Kafka 4.0), except
//! `sender.cpu`, which is ours.
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

/// Everything the producer can be told. Build with [`ProducerConfig::new`] and the setters, or
/// [`ProducerConfig::from_properties`]; [`ProducerConfig::validate`] runs when the producer starts.
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
    /// `batch.size` in bytes (default 16384).
    pub batch_size: usize,
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
    /// `metadata.max.age.ms` (default 5 min).
    pub metadata_max_age: Duration,
    /// `metadata.max.idle.ms` (default 5 min, at least 5 s): a topic not sent to for this long
    /// leaves the metadata requests until it is sent to again.
    pub metadata_max_idle: Duration,
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
    /// `security.protocol` (default PLAINTEXT).
    pub security_protocol: SecurityProtocol,
    /// `ssl.*` (used with SSL and SASL_SSL).
    pub ssl: SslConfig,
    /// `sasl.*` (used with SASL_PLAINTEXT and SASL_SSL). `Debug` redacts the password.
    pub sasl: SaslConfig,
    /// Whether `delivery.timeout.ms` was set explicitly (Java rejects an explicit value below
    /// `linger.ms + request.timeout.ms` but silently raises the default).
    delivery_timeout_explicit: bool,
    /// Whether idempotence was set explicitly (Java turns a default idempotence off silently
    /// when `acks` or in-flight settings conflict, and rejects an explicit one).
    idempotence_explicit: bool,
    /// Which of `reconnect.backoff.ms` and `reconnect.backoff.max.ms` were set: as in Java,
    /// the first without the second turns the exponential reconnect backoff off (the maximum
    /// becomes `reconnect.backoff.ms`).
    reconnect_backoff_explicit: (bool, bool),
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            bootstrap_servers: Vec::new(),
            client_id: "ringkafka".to_string(),
            acks: Acks::All,
            linger: Duration::from_millis(5),
            batch_size: 16 * 1024,
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
            metadata_max_age: Duration::from_secs(300),
            metadata_max_idle: Duration::from_secs(5 * 60),
            partitioner_ignore_keys: false,
            partitioner_adaptive: true,
            compression: Compression::None,
            compression_gzip_level: compression::GZIP_DEFAULT_LEVEL,
            compression_lz4_level: compression::LZ4_DEFAULT_LEVEL,
            compression_zstd_level: compression::ZSTD_DEFAULT_LEVEL,
            sender_cpu: SenderCpu::Last,
            security_protocol: SecurityProtocol::Plaintext,
            ssl: SslConfig::default(),
            sasl: SaslConfig::default(),
            delivery_timeout_explicit: false,
            idempotence_explicit: false,
            reconnect_backoff_explicit: (false, false),
        }
    }
}

fn parse_num<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, ConfigError> {
    v.trim().parse::<T>().map_err(|_| ConfigError::new(key, format!("`{v}` is not a valid number")))
}

fn parse_ms(key: &str, v: &str) -> Result<Duration, ConfigError> {
    let n: i64 = parse_num(key, v)?;
    if n < 0 {
        return Err(ConfigError::new(key, format!("must not be negative, got {n}")));
    }
    Ok(Duration::from_millis(n as u64))
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
        _ => Err(ConfigError::new(key, format!("`{v}` is not true or false"))),
    }
}

fn parse_positive(key: &str, v: &str) -> Result<usize, ConfigError> {
    let n: i64 = parse_num(key, v)?;
    if n <= 0 {
        return Err(ConfigError::new(key, format!("must be positive, got {n}")));
    }
    Ok(n as usize)
}

/// A positive number of milliseconds.
fn parse_positive_ms(key: &str, v: &str) -> Result<Duration, ConfigError> {
    let d = parse_ms(key, v)?;
    if d.is_zero() {
        return Err(ConfigError::new(key, "must be positive"));
    }
    Ok(d)
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

impl ProducerConfig {
    /// Java's defaults with the given bootstrap servers (comma-separated `host:port`).
    pub fn new(bootstrap_servers: &str) -> Self {
        ProducerConfig { bootstrap_servers: split_servers(bootstrap_servers), ..Default::default() }
    }

    /// Builds a configuration from Java property names (and the librdkafka aliases
    /// `metadata.broker.list`, `queue.buffering.max.ms`, `message.timeout.ms`,
    /// `request.required.acks`, `compression.codec`, `compression.level`, `max.in.flight`, `message.send.max.retries`,
    /// `topic.metadata.refresh.interval.ms`, `queue.buffering.max.kbytes`). An unknown key or a
    /// bad value is an error naming the key; so is an inconsistent combination.
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

    /// Sets one property by its Java (or librdkafka) name.
    pub fn set(&mut self, key: &str, value: &str) -> Result<&mut Self, ConfigError> {
        let v = value.trim();
        match key {
            "bootstrap.servers" | "metadata.broker.list" => self.bootstrap_servers = split_servers(v),
            "client.id" => self.client_id = v.to_string(),
            "acks" | "request.required.acks" => {
                self.acks = match v.to_ascii_lowercase().as_str() {
                    "0" => Acks::None,
                    "1" => Acks::Leader,
                    "all" | "-1" => Acks::All,
                    _ => return Err(ConfigError::new(key, format!("`{v}` is not one of 0, 1, all, -1"))),
                }
            }
            "linger.ms" | "queue.buffering.max.ms" => self.linger = parse_ms(key, v)?,
            "batch.size" => {
                let n: i64 = parse_num(key, v)?;
                if n < 0 {
                    return Err(ConfigError::new(key, format!("must not be negative, got {n}")));
                }
                self.batch_size = n as usize;
            }
            "buffer.memory" => self.buffer_memory = parse_positive(key, v)?,
            "queue.buffering.max.kbytes" => self.buffer_memory = parse_positive(key, v)? * 1024,
            "max.block.ms" => self.max_block = parse_ms(key, v)?,
            "max.request.size" => self.max_request_size = parse_positive(key, v)?,
            "retries" | "message.send.max.retries" => {
                let n: i64 = parse_num(key, v)?;
                if n < 0 {
                    return Err(ConfigError::new(key, format!("must not be negative, got {n}")));
                }
                self.retries = n.min(i32::MAX as i64) as u32;
            }
            "retry.backoff.ms" => self.retry_backoff = parse_ms(key, v)?,
            "retry.backoff.max.ms" => self.retry_backoff_max = parse_ms(key, v)?,
            "reconnect.backoff.ms" => {
                self.reconnect_backoff = parse_ms(key, v)?;
                self.reconnect_backoff_explicit.0 = true;
            }
            "reconnect.backoff.max.ms" => {
                self.reconnect_backoff_max = parse_ms(key, v)?;
                self.reconnect_backoff_explicit.1 = true;
            }
            "socket.connection.setup.timeout.ms" => {
                self.connection_setup_timeout = parse_positive_ms(key, v)?
            }
            "socket.connection.setup.timeout.max.ms" => self.connection_setup_timeout_max = parse_ms(key, v)?,
            "send.buffer.bytes" | "socket.send.buffer.bytes" => {
                self.send_buffer_bytes = parse_buffer(key, v)?
            }
            "receive.buffer.bytes" | "socket.receive.buffer.bytes" => {
                self.receive_buffer_bytes = parse_buffer(key, v)?
            }
            "connections.max.idle.ms" => {
                let n: i64 = parse_num(key, v)?;
                self.connections_max_idle = match n {
                    -1 => None,
                    n if n > 0 => Some(Duration::from_millis(n as u64)),
                    _ => return Err(ConfigError::new(key, "must be positive, or -1 for never")),
                };
            }
            "delivery.timeout.ms" | "message.timeout.ms" => {
                self.delivery_timeout = parse_ms(key, v)?;
                self.delivery_timeout_explicit = true;
            }
            "request.timeout.ms" => self.request_timeout = parse_positive_ms(key, v)?,
            "max.in.flight.requests.per.connection" | "max.in.flight" => {
                self.max_in_flight = parse_positive(key, v)?
            }
            "enable.idempotence" => {
                self.enable_idempotence = parse_bool(key, v)?;
                self.idempotence_explicit = true;
            }
            "metadata.max.idle.ms" => {
                let d = parse_ms(key, v)?;
                if d < Duration::from_secs(5) {
                    return Err(ConfigError::new(key, "must be at least 5000 (as in Java)"));
                }
                self.metadata_max_idle = d;
            }
            "metadata.max.age.ms" | "topic.metadata.refresh.interval.ms" => {
                self.metadata_max_age = parse_ms(key, v)?
            }
            "partitioner.ignore.keys" => self.partitioner_ignore_keys = parse_bool(key, v)?,
            "partitioner.adaptive.partitioning.enable" => self.partitioner_adaptive = parse_bool(key, v)?,
            // Java's default, 0, turns the availability check off; that is all we do.
            "partitioner.availability.timeout.ms" => {
                if !parse_ms(key, v)?.is_zero() {
                    return Err(ConfigError::new(key, "only 0 (off, the default) is supported"));
                }
            }
            "compression.type" | "compression.codec" => {
                self.compression = match v.to_ascii_lowercase().as_str() {
                    "none" => Compression::None,
                    "gzip" => Compression::Gzip,
                    "snappy" => Compression::Snappy,
                    "lz4" => Compression::Lz4,
                    "zstd" => Compression::Zstd,
                    _ => return Err(ConfigError::new(key, format!("unknown compression type `{v}`"))),
                }
            }
            "compression.gzip.level" => {
                self.compression_gzip_level = parse_level(key, v, 1, 9, compression::GZIP_DEFAULT_LEVEL)?
            }
            "compression.lz4.level" => self.compression_lz4_level = parse_level(key, v, 1, 17, 9)?,
            "compression.zstd.level" => {
                self.compression_zstd_level =
                    parse_level(key, v, compression::ZSTD_MIN_LEVEL, compression::ZSTD_MAX_LEVEL, 3)?
            }
            // librdkafka's one level for whichever codec is chosen (-1: the codec's default).
            // Applies to all three codec levels, so the order of keys does not matter.
            "compression.level" => {
                let n: i32 = parse_num(key, v)?;
                if !(-1..=12).contains(&n) {
                    return Err(ConfigError::new(key, "must be between -1 and 12"));
                }
                let or = |default: i32| if n == -1 { default } else { n };
                self.compression_gzip_level = if n == -1 { -1 } else { n.clamp(1, 9) };
                self.compression_lz4_level = or(compression::LZ4_DEFAULT_LEVEL).max(1);
                self.compression_zstd_level = or(compression::ZSTD_DEFAULT_LEVEL);
            }
            "sender.cpu" => {
                let n: i64 = parse_num(key, v)?;
                self.sender_cpu = match n {
                    -1 => SenderCpu::Unpinned,
                    n if n >= 0 => SenderCpu::Cpu(n as usize),
                    _ => return Err(ConfigError::new(key, "must be a CPU number or -1")),
                };
            }
            "security.protocol" => {
                self.security_protocol = SecurityProtocol::parse(v).ok_or_else(|| {
                    ConfigError::new(key, format!("`{v}` is not PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"))
                })?
            }
            "ssl.ca.location" => self.ssl.ca_location = (!v.is_empty()).then(|| v.into()),
            "ssl.certificate.location" => self.ssl.certificate_location = (!v.is_empty()).then(|| v.into()),
            "ssl.key.location" => self.ssl.key_location = (!v.is_empty()).then(|| v.into()),
            "ssl.endpoint.identification.algorithm" => {
                self.ssl.endpoint_identification = match v.to_ascii_lowercase().as_str() {
                    "https" => true,
                    "" | "none" => false,
                    _ => return Err(ConfigError::new(key, format!("`{v}` is not `https` or empty"))),
                }
            }
            "sasl.mechanism" | "sasl.mechanisms" => {
                self.sasl.mechanism = SaslMechanism::parse(v).ok_or_else(|| {
                    ConfigError::new(
                        key,
                        format!("`{v}` is not PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"),
                    )
                })?
            }
            "sasl.username" => self.sasl.username = v.to_string(),
            // Not trimmed: a password may end in a space. Never echoed in an error.
            "sasl.password" => self.sasl.password = Password::new(value),
            "sasl.oauthbearer.token" => self.sasl.oauth_token = Some(OAuthToken::Static(Password::new(v))),
            _ => return Err(ConfigError::new(key, "unknown configuration key")),
        }
        Ok(self)
    }

    /// Checks consistency, as Java's `ProducerConfig` does: bootstrap servers present and
    /// well-formed; with idempotence set explicitly, `acks=all`, `retries > 0` and at most 5
    /// requests in flight; with idempotence left at its default, a conflicting setting turns it
    /// off (Java 3.x+ behaviour); an explicit `delivery.timeout.ms` must be at least
    /// `linger.ms + request.timeout.ms` (a default one is raised to that).
    pub fn validate(&mut self) -> Result<(), ConfigError> {
        if self.bootstrap_servers.is_empty() {
            return Err(ConfigError::new("bootstrap.servers", "at least one host:port is required"));
        }
        for s in &self.bootstrap_servers {
            match s.rsplit_once(':') {
                Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() => {}
                _ => return Err(ConfigError::new("bootstrap.servers", format!("`{s}` is not host:port"))),
            }
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
                if self.idempotence_explicit {
                    return Err(ConfigError::new(key, msg));
                }
                self.enable_idempotence = false;
            }
        }
        let floor = self.linger + self.request_timeout;
        if self.delivery_timeout < floor {
            if self.delivery_timeout_explicit {
                return Err(ConfigError::new(
                    "delivery.timeout.ms",
                    format!("must be at least linger.ms + request.timeout.ms = {} ms", floor.as_millis()),
                ));
            }
            self.delivery_timeout = floor;
        }
        if self.reconnect_backoff_explicit == (true, false)
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
    pub fn codec(&self) -> Codec {
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
        self.idempotence_explicit = true;
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
        self.delivery_timeout_explicit = true;
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

    /// Sets `partitioner.ignore.keys`.
    pub fn partitioner_ignore_keys(mut self, on: bool) -> Self {
        self.partitioner_ignore_keys = on;
        self
    }

    /// Sets `reconnect.backoff.ms` and `reconnect.backoff.max.ms`.
    pub fn reconnect_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.reconnect_backoff = base;
        self.reconnect_backoff_max = max;
        self.reconnect_backoff_explicit = (true, true);
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
}

fn split_servers(v: &str) -> Vec<String> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_defaults() {
        let mut c = ProducerConfig::new("h:1");
        c.validate().unwrap();
        assert_eq!(c.acks, Acks::All);
        assert_eq!(c.batch_size, 16384);
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
    fn delivery_timeout_floor() {
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
    fn librdkafka_aliases() {
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
}
