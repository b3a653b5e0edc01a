//! Command-line parsing and the Java `.properties` parser for `--producer.config`.
//!
//! By hand rather than with a CLI crate: Java's tool has flags a derive parser does not take as
//! they are (`--producer-props k=v k=v` running to the next flag, `--producer.config`,
//! `--throughput -1`), and a flag here is one arm in [`parse`], one field in [`Args`] and one
//! line in [`HELP`].

use std::fmt;
use std::time::Duration;

use crate::progress;
use crate::schedule::{parse_duration, Schedule};
use crate::workload::KeyDistribution;

/// Which client library drives the workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    Ringkafka,
    Librdkafka,
    /// Confluent's native Rust client, `confluent-kafka`.
    Confluent,
    /// The broker's ceiling: pre-encoded requests over a plain socket (`ceiling_client`).
    Ceiling,
}

/// How ringkafka's load generator learns each record's outcome (`--api`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `send_with_callback` (Java's tool's way; the default).
    Callback,
    /// `send`, the returned futures collected in order by the sending thread.
    Future,
    /// `send_and_forget`: outcomes counted from the producer's metrics after `flush`.
    Forget,
}

/// What another client (librdkafka, confluent-kafka) starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientDefaults {
    /// Its own defaults plus the given properties: what a user comparing clients runs.
    Own,
    /// ringkafka's effective configuration (Java's defaults plus the given properties), mapped
    /// onto the client's names: the same-settings comparison.
    Ringkafka,
}

/// What each record's value holds.
#[derive(Debug, Clone, PartialEq)]
pub enum PayloadKind {
    /// `--record-size`: random upper-case letters generated once (as Java's tool does).
    Random,
    /// `--payload seq`: the 8-byte big-endian record number, then filler.
    Seq,
    /// `--random-bytes-ratio`: a pool of values, each that share random bytes then zeros (OMB's
    /// randomized payloads), one chosen at random per record.
    Pool { random_ratio: f64, pool: usize },
    /// `--payload-file`: one of the file's entries, chosen at random per record.
    File { path: String, delimiter: String },
}

/// Everything the command line says.
#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub bootstrap_server: Option<String>,
    /// The topics records go to, round-robin (`--topic`, `--topics`, `--topic-count`).
    pub topics: Vec<String>,
    /// `--num-records`; `None` when the run is bounded by time only.
    pub num_records: Option<u64>,
    /// `--duration`: how long to send.
    pub duration: Option<Duration>,
    /// `--warmup-records`: the first N records (of `num_records`) are left out of the
    /// steady-state summary (KIP-1052's option of Java's tool).
    pub warmup_records: u64,
    pub record_size: Option<usize>,
    /// Records per second over all threads; `None` = unlimited (`-1`).
    pub throughput: Option<f64>,
    /// `--throughput-schedule`: rates over time (steps, ramps).
    pub throughput_schedule: Option<Schedule>,
    /// `--producer-props`, in command-line order (applied after `--producer.config`).
    pub producer_props: Vec<(String, String)>,
    pub producer_config: Option<String>,
    pub payload: PayloadKind,
    /// `--producers`: independent producer instances (each its own sender thread).
    pub producers: usize,
    /// `--threads`: sending threads per producer.
    pub threads: usize,
    /// `--keys` / `--record-key-range`: how many distinct keys.
    pub keys: u64,
    pub key_distribution: KeyDistribution,
    /// `--random-seed`: the seed of key and payload choices (`None`: from the clock).
    pub random_seed: Option<u64>,
    /// Partitions of each topic in the embedded mock cluster (no `--bootstrap-server`).
    pub partitions: i32,
    pub json: bool,
    pub client: Client,
    /// `--api`: ringkafka's send style.
    pub api: Api,
    pub client_defaults: ClientDefaults,
    /// The most verbose library log lines shown on stderr (`--log-level`, `--quiet` = off).
    pub log_level: log::LevelFilter,
    /// `--reporting-interval`: the length of a progress line's window (Java's, 5 s default).
    pub reporting_interval: Duration,
    /// `--progress`: a bar, lines, or nothing on stderr.
    pub progress: progress::Mode,
    /// `--interval-json FILE` (`-` for stdout): each reporting interval as a JSON line.
    pub interval_json: Option<String>,
    /// `--hdr-log FILE`: each interval's latency histogram, HdrHistogram's log format.
    pub hdr_log: Option<String>,
    /// `--report FILE`: an HTML page with the run's charts.
    pub report: Option<String>,
    /// `--print-metrics`: the producers' metrics after the summary (as Java's tool).
    pub print_metrics: bool,
    /// `--pacer-spin-us`: how long before each record's slot the pacer spins (see `pacer`).
    pub pacer_spin: Duration,
    /// `--isolate-sender`: the tool's own threads stay off the sender thread's CPU.
    pub isolate_sender: bool,
    /// `--transactional-id`: send in transactions under this id (Java's tool's flag; it takes
    /// precedence over a `transactional.id` property).
    pub transactional_id: Option<String>,
    /// `--transaction-duration-ms`: commit each transaction once it is this old.
    pub transaction_duration: Option<Duration>,
}

/// A usage error: the message, printed with the usage text, exit status 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `--help` was asked for.
pub const HELP: &str = "\
ringkafka-perf: a producer load generator mirroring Kafka's kafka-producer-perf-test

USAGE:
    ringkafka-perf [--bootstrap-server HOST:PORT] --num-records N --record-size BYTES [OPTIONS]
    ringkafka-perf [--bootstrap-server HOST:PORT] --duration 60s --record-size BYTES [OPTIONS]
    ringkafka-perf merge [--json] [--report FILE] LOG.hlog...

Without --bootstrap-server (or bootstrap.servers), an embedded mock cluster on loopback TCP
(ringkafka::mock::MockServer, one broker) is started with the topics created.

Kafka's options:
    --bootstrap-server HOST:PORT   broker to bootstrap from (sets bootstrap.servers)
    --topic T                      topic to produce to (default ringkafka-perf); create it first,
                                   e.g. `tansu topic create --broker tcp://HOST:PORT --partitions 3 T`
    --num-records N                records to send (this, --duration or --throughput-schedule
                                   is required)
    --warmup-records N             the first N of them warm up: a second summary (the only one
                                   with --json) leaves them out (default 0)
    --record-size BYTES            value size; values are random upper-case letters made once
    --payload-file FILE            values are the entries of FILE, chosen at random per record
    --payload-delimiter D          entry separator in --payload-file (default \\n)
    --throughput N                 records/s over all threads, -1 = unlimited (default -1);
                                   latency is then measured from each record's scheduled time
    --producer-props k=v ...       producer properties (Java names); several after one flag,
                                   or the flag repeated; they override --producer.config
    --producer.config FILE         a Java .properties file of producer properties
    --key-distribution none|sequential|uniform|zipf
                                   how each record's key is chosen among --keys K names
                                   `key-0`..`key-{K-1}`: null keys, record n gets key n % K,
                                   any key equally likely, or Zipf-distributed (key-0 the most
                                   frequent); Java's `range` and `random` are accepted for
                                   sequential and uniform (default: sequential with --keys,
                                   else none)
    --keys K                       how many distinct keys (default 0: null keys); Java's
                                   spelling --record-key-range K is accepted
    --random-seed N                seed of the key and payload choices, for repeatable runs
                                   (default: from the clock)
    --reporting-interval MS        length of each progress window (default 5000)
    --print-metrics                print the producer's metrics after the summary
    --transactional-id ID          send in transactions under this transactional.id (over
                                   the property; with --producers N, ID-0 .. ID-{N-1}); needs
                                   --threads 1 (a transaction is one thread's sends)
    --transaction-duration-ms MS   commit each transaction once it is MS old, checked after
                                   each send, and begin the next (default 3000 when
                                   transactional; given alone, the id is
                                   performance-producer-<random>, as Java's tool)

Shapes of load:
    --duration D                   send for this long (90s, 500ms, 2m, 1h); with --num-records
                                   too, whichever ends first
    --throughput-schedule S        records/s over time, over all threads: comma-separated
                                   RATE:DURATION steps and FROM..TO:DURATION linear ramps, e.g.
                                   1000:10s,1000..50000:1m,50000:2m; the last rate holds after
                                   the schedule; without --num-records or --duration the run
                                   lasts the schedule
    --topics A,B,...               several topics, records spread round-robin over them
    --topic-count N                N topics named T-0 .. T-{N-1} (T from --topic)
    --partitions N                 partitions of each topic in the embedded mock (default 3)
    --producers N                  independent producers in this process (default 1), each with
                                   its own sender thread, pinned to its own core: sender.cpu
                                   `last` (default) gives producer i the i-th CPU from the last,
                                   a number c gives it c + i, -1 pins none
    --threads N                    application threads sending per producer, records split
                                   evenly (default 1)

Keys and payloads:
    --zipf-exponent S              the exponent of --key-distribution zipf (default 0.99, YCSB's)
    --payload seq                  each value starts with its 8-byte big-endian record number
                                   0..N-1, then filler (needs --record-size >= 8)
    --random-bytes-ratio R         compressibility: values from a pool, each its first R of
                                   --record-size bytes random and the rest zeros (OMB's
                                   randomBytesRatio; 1.0 incompressible, 0.0 all zeros)
    --payload-pool N               values in that pool, one chosen at random per record
                                   (default 1000)

    --pacer-spin-us US             with a throughput, the pacer sleeps until US before each
                                   record's slot and spins the rest, where the gap between
                                   records is at least 5*US; at higher rates it sends in
                                   bursts, never spinning (default 20)
    --isolate-sender               keep the tool's own threads (sending threads, embedded mock)
                                   off the CPU the sender thread is pinned to (sender.cpu), as
                                   a latency-sensitive application would; needs 2+ CPUs

Results:
    --json                         print the summary as one JSON line
    --interval-json FILE           each reporting interval as one JSON line to FILE (- = stdout)
    --hdr-log FILE                 each interval's latency histogram to FILE in HdrHistogram's
                                   interval log format (.hlog, values in ns): merge several with
                                   `ringkafka-perf merge`, or read with HdrHistogram's tools
    --report FILE                  a self-contained HTML page: throughput and p50/p99/p99.9 over
                                   time, the latency percentile spectrum
    --progress auto|bar|lines|off  progress on stderr: a bar on a terminal, plain lines on a
                                   pipe (auto, the default), or none

ringkafka's options:
    --client ringkafka|librdkafka|confluent|ceiling
                                   client library (librdkafka and confluent, Confluent's native
                                   Rust client confluent-kafka, need --features librdkafka /
                                   --features confluent); ceiling: pre-encoded Produce requests
                                   pipelined over a plain socket, a client that costs next to
                                   nothing (the broker's ceiling; one topic, --num-records; keys
                                   and the schedule do not apply)
    --api callback|future|forget   how ringkafka learns outcomes: send_with_callback (default),
                                   send() with its futures collected in order, or
                                   send_and_forget (counts from the metrics; no latency)
    --client-defaults own|ringkafka
                                   what librdkafka or confluent start from: `own` (default) their
                                   own defaults plus the given properties; `ringkafka` ringkafka's
                                   effective settings mapped onto their names (same settings)
    --log-level LEVEL              the clients' log lines shown on stderr: off, error, warn
                                   (default: retries, reconnects), info, debug, trace
    --quiet                        no log lines (--log-level off)
    --list-properties              the producer properties: key, default, what it does
    -h, --help                     this text

merge: reads --hdr-log files (of one run or several, e.g. one per load-generating host) and
prints the combined percentiles; --json as one JSON line; --report FILE the charts of the
combined timeline.

Exit status: 0 all records acknowledged, 1 some failed (first errors on stderr), 2 usage.";

fn value(
    flag: &str,
    it: &mut std::iter::Peekable<impl Iterator<Item = String>>,
) -> Result<String, UsageError> {
    it.next().ok_or_else(|| UsageError(format!("{flag} needs a value")))
}

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, UsageError> {
    v.trim().parse().map_err(|_| UsageError(format!("{flag}: `{v}` is not a valid number")))
}

/// Splits `k=v` (the first `=`).
pub fn split_prop(s: &str) -> Result<(String, String), UsageError> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(UsageError(format!("--producer-props: `{s}` is not key=value"))),
    }
}

/// Interprets the escapes Java's tool users type for a delimiter (`\n`, `\t`, `\r`, `\\`).
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Whether `--list-properties` is among the arguments: then the tool prints the producer
/// properties and exits, whatever else is given (checked before [`parse`], which does not know
/// the flag).
pub fn lists_properties(argv: &[String]) -> bool {
    argv.iter().any(|a| a == "--list-properties")
}

/// Parses the arguments after the program name. `Ok(None)` means `--help`.
pub fn parse(argv: impl IntoIterator<Item = String>) -> Result<Option<Args>, UsageError> {
    let mut it = expand(argv).into_iter().peekable();

    let mut bootstrap_server = None;
    let mut topic = "ringkafka-perf".to_string();
    let mut topic_given = false;
    let mut topic_list: Option<Vec<String>> = None;
    let mut topic_count: Option<u32> = None;
    let mut num_records = None;
    let mut duration = None;
    let mut warmup_records = 0u64;
    let mut record_size = None;
    let mut throughput = None;
    let mut throughput_schedule = None;
    let mut producer_props = Vec::new();
    let mut producer_config = None;
    let mut payload_file = None;
    let mut delimiter = "\n".to_string();
    let mut seq = false;
    let mut random_ratio: Option<f64> = None;
    let mut payload_pool: Option<usize> = None;
    let mut producers = 1usize;
    let mut threads = 1usize;
    let mut partitions = 3i32;
    let mut keys = 0u64;
    let mut key_dist: Option<String> = None;
    let mut zipf_exponent: Option<f64> = None;
    let mut random_seed = None;
    let mut json = false;
    let mut pacer_spin = crate::pacer::DEFAULT_SPIN;
    let mut isolate_sender = false;
    let mut client = Client::Ringkafka;
    let mut api = Api::Callback;
    let mut client_defaults = ClientDefaults::Own;
    let mut log_level = log::LevelFilter::Warn;
    let mut reporting_interval = Duration::from_secs(5);
    let mut progress = progress::Mode::Auto;
    let mut interval_json = None;
    let mut hdr_log = None;
    let mut report = None;
    let mut print_metrics = false;
    let mut transactional_id = None;
    let mut transaction_duration = None;

    while let Some(flag) = it.next() {
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--bootstrap-server" | "--broker-list" => bootstrap_server = Some(value(&flag, &mut it)?),
            "--topic" => {
                topic = value(&flag, &mut it)?;
                topic_given = true;
            }
            "--topics" => {
                let v = value(&flag, &mut it)?;
                let list: Vec<String> = v.split(',').map(|t| t.trim().to_string()).collect();
                if list.iter().any(String::is_empty) {
                    return Err(UsageError(format!("--topics: `{v}` has an empty topic name")));
                }
                topic_list = Some(list);
            }
            "--topic-count" => {
                let n: u32 = number(&flag, &value(&flag, &mut it)?)?;
                if n == 0 {
                    return Err(UsageError("--topic-count must be at least 1".into()));
                }
                topic_count = Some(n);
            }
            "--num-records" => {
                let n: i64 = number(&flag, &value(&flag, &mut it)?)?;
                if n < 0 {
                    return Err(UsageError(format!("--num-records must not be negative, got {n}")));
                }
                num_records = Some(n as u64);
            }
            "--duration" => {
                let d = parse_duration(&value(&flag, &mut it)?)
                    .map_err(|e| UsageError(format!("--duration: {e}")))?;
                if d.is_zero() {
                    return Err(UsageError("--duration must be positive".into()));
                }
                duration = Some(d);
            }
            "--warmup-records" => {
                let n: i64 = number(&flag, &value(&flag, &mut it)?)?;
                if n < 0 {
                    return Err(UsageError(format!("--warmup-records must not be negative, got {n}")));
                }
                warmup_records = n as u64;
            }
            "--record-size" => {
                let n: usize = number(&flag, &value(&flag, &mut it)?)?;
                record_size = Some(n);
            }
            "--throughput" => {
                let t: f64 = number(&flag, &value(&flag, &mut it)?)?;
                throughput = if t < 0.0 {
                    None
                } else if t == 0.0 || !t.is_finite() {
                    return Err(UsageError("--throughput must be positive, or -1 for unlimited".into()));
                } else {
                    Some(t)
                };
            }
            "--throughput-schedule" => {
                let v = value(&flag, &mut it)?;
                throughput_schedule =
                    Some(Schedule::parse(&v).map_err(|e| UsageError(format!("--throughput-schedule: {e}")))?);
            }
            "--producer-props" => {
                producer_props.push(split_prop(&value(&flag, &mut it)?)?);
                while let Some(next) = it.peek() {
                    if next.starts_with("--") {
                        break;
                    }
                    producer_props.push(split_prop(next)?);
                    it.next();
                }
            }
            "--producer.config" => producer_config = Some(value(&flag, &mut it)?),
            "--payload-file" => payload_file = Some(value(&flag, &mut it)?),
            "--payload-delimiter" => delimiter = unescape(&value(&flag, &mut it)?),
            "--payload" => {
                let v = value(&flag, &mut it)?;
                match v.as_str() {
                    "seq" => seq = true,
                    "random" => seq = false,
                    _ => return Err(UsageError(format!("--payload: `{v}` is not `seq` or `random`"))),
                }
            }
            "--random-bytes-ratio" => {
                let r: f64 = number(&flag, &value(&flag, &mut it)?)?;
                if !(0.0..=1.0).contains(&r) {
                    return Err(UsageError(format!("--random-bytes-ratio must be between 0 and 1, got {r}")));
                }
                random_ratio = Some(r);
            }
            "--payload-pool" => {
                let n: usize = number(&flag, &value(&flag, &mut it)?)?;
                if n == 0 {
                    return Err(UsageError("--payload-pool must be at least 1".into()));
                }
                payload_pool = Some(n);
            }
            "--producers" => {
                producers = number(&flag, &value(&flag, &mut it)?)?;
                if producers == 0 || producers > 1024 {
                    return Err(UsageError("--producers must be between 1 and 1024".into()));
                }
            }
            "--threads" => {
                threads = number(&flag, &value(&flag, &mut it)?)?;
                if threads == 0 {
                    return Err(UsageError("--threads must be at least 1".into()));
                }
            }
            "--keys" | "--record-key-range" => {
                keys = number(&flag, &value(&flag, &mut it)?)?;
                if keys > u32::MAX as u64 {
                    return Err(UsageError(format!("{flag} must be at most {}", u32::MAX)));
                }
            }
            "--key-distribution" => key_dist = Some(value(&flag, &mut it)?),
            "--zipf-exponent" => {
                let e: f64 = number(&flag, &value(&flag, &mut it)?)?;
                if !(e > 0.0 && e.is_finite()) {
                    return Err(UsageError(format!("--zipf-exponent must be positive, got {e}")));
                }
                zipf_exponent = Some(e);
            }
            "--random-seed" => random_seed = Some(number(&flag, &value(&flag, &mut it)?)?),
            "--partitions" => {
                let n: u64 = number(&flag, &value(&flag, &mut it)?)?;
                if n == 0 || n > 100_000 {
                    return Err(UsageError("--partitions must be between 1 and 100000".into()));
                }
                partitions = n as i32;
            }
            "--json" => json = true,
            "--isolate-sender" => isolate_sender = true,
            "--pacer-spin-us" => {
                let us: u64 = number(&flag, &value(&flag, &mut it)?)?;
                pacer_spin = Duration::from_micros(us);
            }
            "--interval-json" => interval_json = Some(value(&flag, &mut it)?),
            "--hdr-log" => hdr_log = Some(value(&flag, &mut it)?),
            "--report" => report = Some(value(&flag, &mut it)?),
            "--print-metrics" => print_metrics = true,
            "--transactional-id" => {
                let v = value(&flag, &mut it)?;
                if v.trim().is_empty() {
                    return Err(UsageError("--transactional-id must not be empty".into()));
                }
                transactional_id = Some(v);
            }
            "--transaction-duration-ms" => {
                let ms: u64 = number(&flag, &value(&flag, &mut it)?)?;
                if ms == 0 {
                    return Err(UsageError("--transaction-duration-ms must be greater than 0".into()));
                }
                transaction_duration = Some(Duration::from_millis(ms));
            }
            "--reporting-interval" => {
                let ms: u64 = number(&flag, &value(&flag, &mut it)?)?;
                if ms < 100 {
                    return Err(UsageError(format!("--reporting-interval is in ms, at least 100, got {ms}")));
                }
                reporting_interval = Duration::from_millis(ms);
            }
            "--progress" => {
                let v = value(&flag, &mut it)?;
                progress = match v.as_str() {
                    "auto" => progress::Mode::Auto,
                    "bar" => progress::Mode::Bar,
                    "lines" => progress::Mode::Lines,
                    "off" | "none" => progress::Mode::Off,
                    _ => return Err(UsageError(format!("--progress: `{v}` is not auto, bar, lines or off"))),
                };
            }
            "--client" => {
                let v = value(&flag, &mut it)?;
                client = match v.as_str() {
                    "ringkafka" => Client::Ringkafka,
                    "librdkafka" | "rdkafka" => Client::Librdkafka,
                    "confluent" | "confluent-kafka" => Client::Confluent,
                    "ceiling" => Client::Ceiling,
                    _ => {
                        return Err(UsageError(format!(
                            "--client: `{v}` is not ringkafka, librdkafka, confluent or ceiling"
                        )))
                    }
                };
            }
            "--api" => {
                let v = value(&flag, &mut it)?;
                api = match v.as_str() {
                    "callback" => Api::Callback,
                    "future" => Api::Future,
                    "forget" => Api::Forget,
                    _ => return Err(UsageError(format!("--api: `{v}` is not callback, future or forget"))),
                };
            }
            "--client-defaults" => {
                let v = value(&flag, &mut it)?;
                client_defaults = match v.as_str() {
                    "own" => ClientDefaults::Own,
                    "ringkafka" => ClientDefaults::Ringkafka,
                    _ => return Err(UsageError(format!("--client-defaults: `{v}` is not own or ringkafka"))),
                };
            }
            "--log-level" => {
                let v = value(&flag, &mut it)?;
                log_level = v.parse().map_err(|_| {
                    UsageError(format!("--log-level: `{v}` is not off, error, warn, info, debug or trace"))
                })?;
            }
            "--quiet" | "-q" => log_level = log::LevelFilter::Off,
            other => return Err(UsageError(format!("unknown argument `{other}`"))),
        }
    }

    if num_records.is_none() && duration.is_none() {
        match &throughput_schedule {
            Some(s) => duration = Some(s.length()),
            None => {
                return Err(UsageError(
                    "--num-records is required (or --duration, or a --throughput-schedule to last)".into(),
                ))
            }
        }
    }
    if let Some(n) = num_records {
        if warmup_records > 0 && warmup_records >= n {
            return Err(UsageError(format!(
                "--warmup-records ({warmup_records}) must be less than --num-records ({n})"
            )));
        }
    }
    if throughput.is_some() && throughput_schedule.is_some() {
        return Err(UsageError("give either --throughput or --throughput-schedule, not both".into()));
    }
    let topics = match (topic_list, topic_count) {
        (Some(_), Some(_)) => {
            return Err(UsageError("give either --topics or --topic-count, not both".into()))
        }
        (Some(_), None) if topic_given => {
            return Err(UsageError("give either --topic or --topics, not both".into()))
        }
        (Some(list), None) => list,
        (None, Some(n)) => (0..n).map(|i| format!("{topic}-{i}")).collect(),
        (None, None) => vec![topic],
    };
    let key_distribution = match key_dist.as_deref() {
        None if keys > 0 => KeyDistribution::Sequential,
        None | Some("none") => KeyDistribution::None,
        Some("sequential" | "range") => KeyDistribution::Sequential,
        Some("uniform" | "random") => KeyDistribution::Uniform,
        Some("zipf") => KeyDistribution::Zipf { exponent: zipf_exponent.unwrap_or(0.99) },
        Some(v) => {
            return Err(UsageError(format!(
                "--key-distribution: `{v}` is not none, sequential, uniform or zipf"
            )))
        }
    };
    if key_distribution != KeyDistribution::None && keys == 0 {
        return Err(UsageError(format!(
            "--key-distribution {} needs --keys K (K > 0)",
            key_dist.unwrap_or_default()
        )));
    }
    if zipf_exponent.is_some() && !matches!(key_distribution, KeyDistribution::Zipf { .. }) {
        return Err(UsageError("--zipf-exponent goes with --key-distribution zipf".into()));
    }
    if payload_pool.is_some() && random_ratio.is_none() {
        return Err(UsageError("--payload-pool goes with --random-bytes-ratio".into()));
    }
    let payload = match (payload_file, record_size, seq, random_ratio) {
        (Some(_), Some(_), _, _) => {
            return Err(UsageError("give either --record-size or --payload-file, not both".into()))
        }
        (Some(_), None, true, _) => {
            return Err(UsageError("--payload seq needs --record-size, not --payload-file".into()))
        }
        (Some(_), None, _, Some(_)) | (None, _, true, Some(_)) => return Err(UsageError(
            "--random-bytes-ratio makes values of --record-size; not with --payload-file or --payload seq"
                .into(),
        )),
        (Some(path), None, false, None) => {
            if delimiter.is_empty() {
                return Err(UsageError("--payload-delimiter must not be empty".into()));
            }
            PayloadKind::File { path, delimiter }
        }
        (None, None, _, _) => return Err(UsageError("--record-size or --payload-file is required".into())),
        (None, Some(n), true, None) if n < 8 => {
            return Err(UsageError(format!("--payload seq needs --record-size of at least 8, got {n}")))
        }
        (None, Some(_), true, None) => PayloadKind::Seq,
        (None, Some(_), false, Some(r)) => {
            PayloadKind::Pool { random_ratio: r, pool: payload_pool.unwrap_or(1000) }
        }
        (None, Some(_), false, None) => PayloadKind::Random,
    };
    Ok(Some(Args {
        bootstrap_server,
        topics,
        num_records,
        duration,
        warmup_records,
        record_size,
        throughput,
        throughput_schedule,
        producer_props,
        producer_config,
        payload,
        producers,
        threads,
        keys,
        key_distribution,
        random_seed,
        partitions,
        json,
        client,
        api,
        client_defaults,
        log_level,
        reporting_interval,
        progress,
        interval_json,
        hdr_log,
        report,
        print_metrics,
        pacer_spin,
        isolate_sender,
        transactional_id,
        transaction_duration,
    }))
}

/// `--flag=value` split into `--flag value`.
fn expand(argv: impl IntoIterator<Item = String>) -> Vec<String> {
    argv.into_iter()
        .flat_map(|a| match a.split_once('=') {
            Some((f, v)) if a.starts_with("--") => vec![f.to_string(), v.to_string()],
            _ => vec![a],
        })
        .collect()
}

/// `ringkafka-perf merge`'s arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeArgs {
    pub files: Vec<String>,
    pub json: bool,
    pub report: Option<String>,
}

/// Parses the arguments after `merge`. `Ok(None)` means `--help`.
pub fn parse_merge(argv: impl IntoIterator<Item = String>) -> Result<Option<MergeArgs>, UsageError> {
    let mut it = expand(argv).into_iter().peekable();
    let mut m = MergeArgs { files: Vec::new(), json: false, report: None };
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--json" => m.json = true,
            "--report" => m.report = Some(value(&a, &mut it)?),
            f if f.starts_with("--") => return Err(UsageError(format!("merge: unknown argument `{f}`"))),
            _ => m.files.push(a),
        }
    }
    if m.files.is_empty() {
        return Err(UsageError("merge needs at least one --hdr-log file".into()));
    }
    Ok(Some(m))
}

/// Parses Java `.properties` text: `key=value` or `key: value` (or `key value`) lines; `#` and
/// `!` start comments; blank lines are skipped; a trailing `\` continues a line. (Unicode
/// escapes are not interpreted: producer settings have no use for them.)
pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut logical = String::new();
    let mut start_line = 0;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if logical.is_empty() {
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            start_line = n + 1;
        }
        let continued = line.ends_with('\\') && !line.ends_with("\\\\");
        logical.push_str(if continued { &line[..line.len() - 1] } else { line });
        if continued {
            continue;
        }
        let entry = std::mem::take(&mut logical);
        // As Java: the key ends at the first unescaped `=`, `:` or whitespace; then whitespace
        // and at most one `=` or `:` are skipped.
        let end = entry.find(|c: char| c == '=' || c == ':' || c.is_whitespace()).unwrap_or(entry.len());
        let (k, rest) = entry.split_at(end);
        let rest = rest.trim_start();
        let v = rest.strip_prefix(['=', ':']).unwrap_or(rest);
        if k.is_empty() {
            return Err(format!("line {start_line}: no key in `{entry}`"));
        }
        out.push((k.to_string(), v.trim().to_string()));
    }
    if !logical.is_empty() {
        return Err(format!("line {start_line}: the file ends inside a continued line"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Option<Args>, UsageError> {
        parse(s.split_whitespace().map(String::from))
    }

    fn ok(s: &str) -> Args {
        p(s).unwrap().unwrap()
    }

    #[test]
    fn api_and_the_ceiling_client_are_read_and_checked() {
        assert_eq!(ok("--num-records 1 --record-size 1").api, Api::Callback);
        assert_eq!(ok("--num-records 1 --record-size 1 --api future").api, Api::Future);
        assert_eq!(ok("--num-records 1 --record-size 1 --api forget").api, Api::Forget);
        assert_eq!(ok("--num-records 1 --record-size 1 --api=callback").api, Api::Callback);
        assert_eq!(ok("--num-records 1 --record-size 1 --client ceiling").client, Client::Ceiling);
        assert!(p("--num-records 1 --record-size 1 --api promise").is_err());
    }

    #[test]
    fn defaults_follow_the_java_tool() {
        let a = ok("--num-records 10 --record-size 100");
        assert_eq!(a.topics, vec!["ringkafka-perf".to_string()]);
        assert_eq!(a.producers, 1);
        assert_eq!(a.key_distribution, KeyDistribution::None);
        assert_eq!(a.reporting_interval, Duration::from_secs(5));
        assert_eq!(a.progress, progress::Mode::Auto);
        assert_eq!((a.duration, a.throughput_schedule.clone(), a.random_seed), (None, None, None));
        assert_eq!((a.hdr_log.clone(), a.report.clone(), a.interval_json.clone()), (None, None, None));
        assert!(!a.print_metrics);
        assert_eq!(a.throughput, None);
        assert_eq!(a.threads, 1);
        assert_eq!(a.keys, 0);
        assert_eq!(a.payload, PayloadKind::Random);
        assert_eq!(a.client, Client::Ringkafka);
        assert_eq!(a.client_defaults, ClientDefaults::Own);
        assert_eq!(a.log_level, log::LevelFilter::Warn);
        assert!(!a.json);
        assert_eq!(a.bootstrap_server, None);
        assert_eq!(a.pacer_spin, crate::pacer::DEFAULT_SPIN);
        assert!(!a.isolate_sender);
        assert!(ok("--num-records 10 --record-size 100 --isolate-sender").isolate_sender);
        assert_eq!(ok("--num-records 10 --record-size 100 --pacer-spin-us 0").pacer_spin, Duration::ZERO);
    }

    #[test]
    fn every_flag_is_read() {
        let a = ok("--bootstrap-server 127.0.0.1:9092 --topic t --num-records 200000 --record-size 100 \
                    --throughput 5000 --producer-props linger.ms=5 acks=1 --threads 4 --keys 16 \
                    --payload seq --json --producer.config p.properties --client librdkafka");
        assert_eq!(a.bootstrap_server.as_deref(), Some("127.0.0.1:9092"));
        assert_eq!(a.topics, vec!["t".to_string()]);
        assert_eq!(a.num_records, Some(200_000));
        assert_eq!(a.record_size, Some(100));
        assert_eq!(a.throughput, Some(5000.0));
        assert_eq!(a.producer_props, vec![("linger.ms".into(), "5".into()), ("acks".into(), "1".into())]);
        assert_eq!(a.threads, 4);
        assert_eq!(a.keys, 16);
        assert_eq!(a.key_distribution, KeyDistribution::Sequential, "--keys alone: key n % K as before");
        assert_eq!(a.payload, PayloadKind::Seq);
        assert!(a.json);
        assert_eq!(a.producer_config.as_deref(), Some("p.properties"));
        assert_eq!(a.client, Client::Librdkafka);
    }

    #[test]
    fn client_defaults_and_log_level_are_read() {
        let a = ok("--num-records 1 --record-size 1 --client confluent --client-defaults ringkafka --log-level debug");
        assert_eq!(a.client, Client::Confluent);
        assert_eq!(a.client_defaults, ClientDefaults::Ringkafka);
        assert_eq!(a.log_level, log::LevelFilter::Debug);
        assert_eq!(ok("--num-records 1 --record-size 1 --quiet").log_level, log::LevelFilter::Off);
        assert_eq!(ok("--num-records 1 --record-size 1 --log-level=OFF").log_level, log::LevelFilter::Off);
        assert!(p("--num-records 1 --record-size 1 --log-level loud").is_err());
        assert!(p("--num-records 1 --record-size 1 --client-defaults java").is_err());
    }

    #[test]
    fn producer_props_may_repeat_and_use_equals_form() {
        let a = ok("--producer-props a=1 --num-records 1 --producer-props=b=x=y --record-size=3");
        assert_eq!(a.producer_props, vec![("a".into(), "1".into()), ("b".into(), "x=y".into())]);
        assert_eq!(a.record_size, Some(3));
    }

    #[test]
    fn warmup_records_must_leave_some_to_measure() {
        assert_eq!(ok("--num-records 10 --record-size 1").warmup_records, 0);
        assert_eq!(ok("--num-records 10 --record-size 1 --warmup-records 3").warmup_records, 3);
        assert!(p("--num-records 10 --record-size 1 --warmup-records 10").is_err());
        assert!(p("--num-records 10 --record-size 1 --warmup-records -1").is_err());
    }

    #[test]
    fn throughput_minus_one_is_unlimited() {
        assert_eq!(ok("--num-records 1 --record-size 1 --throughput -1").throughput, None);
        assert!(p("--num-records 1 --record-size 1 --throughput 0").is_err());
    }

    #[test]
    fn payload_file_and_delimiter() {
        let a = ok("--num-records 1 --payload-file f.txt --payload-delimiter ,");
        assert_eq!(a.payload, PayloadKind::File { path: "f.txt".into(), delimiter: ",".into() });
        let a = ok("--num-records 1 --payload-file f.txt");
        assert_eq!(a.payload, PayloadKind::File { path: "f.txt".into(), delimiter: "\n".into() });
        let a = ok("--num-records 1 --payload-file f.txt --payload-delimiter \\t");
        assert_eq!(a.payload, PayloadKind::File { path: "f.txt".into(), delimiter: "\t".into() });
    }

    #[test]
    fn bad_combinations_are_usage_errors() {
        assert!(p("--record-size 10").is_err(), "num-records missing");
        assert!(p("--num-records 10").is_err(), "no payload source");
        assert!(p("--num-records 10 --record-size 5 --payload-file f").is_err());
        assert!(p("--num-records 10 --record-size 7 --payload seq").is_err());
        assert!(p("--num-records 10 --payload-file f --payload seq").is_err());
        assert!(p("--num-records 10 --record-size 8 --payload bogus").is_err());
        assert!(p("--num-records 10 --record-size 8 --threads 0").is_err());
        assert!(p("--num-records 10 --record-size 8 --client kafka-go").is_err());
        assert!(p("--num-records 10 --record-size 8 --producer-props nokey").is_err());
        assert!(p("--num-records -1 --record-size 8").is_err());
        assert!(p("--num-records x --record-size 8").is_err());
        assert!(p("--num-records 1 --record-size 8 --frobnicate").is_err());
        assert!(p("--num-records 1 --record-size").is_err(), "value missing");
    }

    #[test]
    fn key_distributions_take_our_names_and_javas() {
        let d = |s: &str| ok(&format!("--num-records 1 --record-size 1 {s}")).key_distribution;
        assert_eq!(d("--keys 5 --key-distribution sequential"), KeyDistribution::Sequential);
        assert_eq!(d("--record-key-range 5 --key-distribution range"), KeyDistribution::Sequential);
        assert_eq!(d("--keys 5 --key-distribution uniform"), KeyDistribution::Uniform);
        assert_eq!(d("--keys 5 --key-distribution random"), KeyDistribution::Uniform);
        assert_eq!(d("--keys 5 --key-distribution zipf"), KeyDistribution::Zipf { exponent: 0.99 });
        assert_eq!(
            d("--keys 5 --key-distribution zipf --zipf-exponent 1.2"),
            KeyDistribution::Zipf { exponent: 1.2 }
        );
        assert_eq!(d("--keys 5 --key-distribution none"), KeyDistribution::None);
        assert_eq!(ok("--num-records 1 --record-size 1 --record-key-range 7").keys, 7);
        let e = |s: &str| p(&format!("--num-records 1 --record-size 1 {s}")).unwrap_err().0;
        assert!(e("--key-distribution zipf").contains("--keys"));
        assert!(e("--keys 5 --key-distribution pareto").contains("not none"));
        assert!(e("--keys 5 --key-distribution zipf --zipf-exponent 0").contains("positive"));
        assert!(e("--keys 5 --zipf-exponent 1").contains("goes with"));
        assert_eq!(ok("--num-records 1 --record-size 1 --random-seed 42").random_seed, Some(42));
    }

    #[test]
    fn duration_and_schedule_bound_the_run_instead_of_a_count() {
        let a = ok("--duration 90s --record-size 1");
        assert_eq!((a.num_records, a.duration), (None, Some(Duration::from_secs(90))));
        let a = ok("--duration 2m --num-records 5 --record-size 1");
        assert_eq!((a.num_records, a.duration), (Some(5), Some(Duration::from_secs(120))));
        // A schedule alone: the run lasts it.
        let a = ok("--throughput-schedule 100:10s,100..500:20s --record-size 1");
        assert_eq!(a.duration, Some(Duration::from_secs(30)));
        assert!(a.throughput_schedule.is_some());
        let e = |s: &str| p(s).unwrap_err().0;
        assert!(e("--record-size 1").contains("--duration"));
        assert!(e("--duration 0s --record-size 1").contains("positive"));
        assert!(e("--duration soon --record-size 1").contains("--duration"));
        assert!(e("--num-records 5 --record-size 1 --throughput 5 --throughput-schedule 5:1s")
            .contains("not both"));
        assert!(
            e("--num-records 5 --record-size 1 --throughput-schedule 5").contains("--throughput-schedule")
        );
    }

    #[test]
    fn several_topics_by_list_or_count() {
        let t = |s: &str| ok(&format!("--num-records 1 --record-size 1 {s}")).topics;
        assert_eq!(t("--topics a,b,c"), vec!["a", "b", "c"]);
        assert_eq!(t("--topic x --topic-count 3"), vec!["x-0", "x-1", "x-2"]);
        assert_eq!(t("--topic-count 2"), vec!["ringkafka-perf-0", "ringkafka-perf-1"]);
        let e = |s: &str| p(&format!("--num-records 1 --record-size 1 {s}")).unwrap_err().0;
        assert!(e("--topics a,,b").contains("empty"));
        assert!(e("--topics a --topic-count 2").contains("not both"));
        assert!(e("--topics a --topic b").contains("not both"));
        assert!(e("--topic-count 0").contains("at least 1"));
    }

    #[test]
    fn producers_and_threads_per_producer() {
        let a = ok("--num-records 1 --record-size 1 --producers 3 --threads 2");
        assert_eq!((a.producers, a.threads), (3, 2));
        assert!(p("--num-records 1 --record-size 1 --producers 0").is_err());
    }

    #[test]
    fn random_bytes_ratio_makes_a_payload_pool() {
        let a = ok("--num-records 1 --record-size 100 --random-bytes-ratio 0.5");
        assert_eq!(a.payload, PayloadKind::Pool { random_ratio: 0.5, pool: 1000 });
        let a = ok("--num-records 1 --record-size 100 --random-bytes-ratio 1 --payload-pool 10");
        assert_eq!(a.payload, PayloadKind::Pool { random_ratio: 1.0, pool: 10 });
        let e = |s: &str| p(&format!("--num-records 1 {s}")).unwrap_err().0;
        assert!(e("--record-size 100 --random-bytes-ratio 1.5").contains("between 0 and 1"));
        assert!(e("--record-size 100 --payload-pool 10").contains("goes with"));
        assert!(e("--record-size 100 --payload seq --random-bytes-ratio 0.5").contains("not with"));
        assert!(e("--payload-file f --random-bytes-ratio 0.5").contains("not with"));
        assert!(e("--record-size 100 --random-bytes-ratio 0.5 --payload-pool 0").contains("at least 1"));
    }

    #[test]
    fn result_flags_are_read() {
        let a = ok("--num-records 1 --record-size 1 --hdr-log a.hlog --report r.html --interval-json - \
                    --print-metrics --reporting-interval 1000 --progress lines");
        assert_eq!(a.hdr_log.as_deref(), Some("a.hlog"));
        assert_eq!(a.report.as_deref(), Some("r.html"));
        assert_eq!(a.interval_json.as_deref(), Some("-"));
        assert!(a.print_metrics);
        assert_eq!(a.reporting_interval, Duration::from_secs(1));
        assert_eq!(a.progress, progress::Mode::Lines);
        assert_eq!(ok("--num-records 1 --record-size 1 --progress bar").progress, progress::Mode::Bar);
        assert_eq!(ok("--num-records 1 --record-size 1 --progress off").progress, progress::Mode::Off);
        assert!(p("--num-records 1 --record-size 1 --progress fancy").is_err());
        assert!(p("--num-records 1 --record-size 1 --reporting-interval 5").is_err());
    }

    #[test]
    fn merge_takes_files_and_its_own_flags() {
        let m = |s: &str| parse_merge(s.split_whitespace().map(String::from));
        assert_eq!(
            m("a.hlog --json b.hlog --report r.html"),
            Ok(Some(MergeArgs {
                files: vec!["a.hlog".into(), "b.hlog".into()],
                json: true,
                report: Some("r.html".into())
            }))
        );
        assert_eq!(m("--help"), Ok(None));
        assert!(m("").is_err());
        assert!(m("a.hlog --frobnicate").is_err());
    }

    #[test]
    fn help_lists_every_flag_the_parser_takes() {
        let src = include_str!("args.rs");
        let parse_body = &src[src.find("pub fn parse(").unwrap()..src.find("fn expand(").unwrap()];
        let flags: Vec<&str> = parse_body
            .split('"')
            .filter(|t| t.starts_with("--") && t.len() > 2 && !t.contains(' '))
            .collect();
        assert!(flags.len() > 30, "{flags:?}");
        for f in flags {
            if f == "--broker-list" {
                continue; // Java's old spelling, kept quietly
            }
            assert!(HELP.contains(f), "--help does not list {f}");
        }
    }

    #[test]
    fn help_is_not_an_error() {
        assert_eq!(p("--help"), Ok(None));
        assert_eq!(p("--num-records 1 -h"), Ok(None));
    }

    #[test]
    fn list_properties_needs_no_other_flag() {
        let argv = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        assert!(lists_properties(&argv("--list-properties")));
        assert!(lists_properties(&argv("--num-records 1 --list-properties")));
        assert!(!lists_properties(&argv("--num-records 1 --record-size 1")));
    }

    #[test]
    fn properties_file_parses_like_java() {
        let text = "# a comment\n! another\n\nbootstrap.servers=127.0.0.1:9092\n  linger.ms = 5 \n\
                    acks: all\nclient.id my client\nretries=\nbatch.size=16\\\n384\nempty\n";
        let props = parse_properties(text).unwrap();
        assert_eq!(
            props,
            vec![
                ("bootstrap.servers".into(), "127.0.0.1:9092".into()),
                ("linger.ms".into(), "5".into()),
                ("acks".into(), "all".into()),
                ("client.id".into(), "my client".into()),
                ("retries".into(), "".into()),
                ("batch.size".into(), "16384".into()),
                ("empty".into(), "".into()),
            ]
        );
    }

    #[test]
    fn properties_value_keeps_later_separators() {
        let props = parse_properties("a=b=c\nurl=tcp://h:1\nid x:y").unwrap();
        assert_eq!(
            props,
            vec![("a".into(), "b=c".into()), ("url".into(), "tcp://h:1".into()), ("id".into(), "x:y".into())]
        );
    }

    #[test]
    fn properties_errors_name_the_line() {
        assert!(parse_properties("=5").unwrap_err().contains("line 1"));
        assert!(parse_properties("a=1\nb=2\\").unwrap_err().contains("line 2"));
    }

    #[test]
    fn unescape_handles_common_escapes() {
        assert_eq!(unescape("\\n"), "\n");
        assert_eq!(unescape("a\\\\b"), "a\\b");
        assert_eq!(unescape("\\x"), "\\x");
        assert_eq!(unescape("|"), "|");
    }
}
