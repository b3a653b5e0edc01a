//! `ringkafka-perf`: a producer load generator that mirrors Kafka's `kafka-producer-perf-test`
//! (same flags, same output lines), with a few additions: several sending threads, keys,
//! sequence-numbered payloads, a JSON summary, and the same workload through librdkafka
//! (`--client librdkafka`, built with `--features librdkafka`) for comparison.
//!
//! ```text
//! tansu topic create --broker tcp://127.0.0.1:9092 --partitions 3 perf
//! ringkafka-perf --bootstrap-server 127.0.0.1:9092 --topic perf --num-records 1000000 \
//!     --record-size 100 --throughput -1 --producer-props linger.ms=5 acks=all [--json]
//! ```
//!
//! Latency is send→acknowledgement, measured in the delivery callback from the time each record
//! was *meant* to be sent (with `--throughput`, its slot in the schedule), so a stall is charged
//! to every record it delayed. Topics are not created by the tool on a real broker: create them
//! beforehand. Without `--bootstrap-server` an embedded mock cluster (`ringkafka::mock`) serves
//! the run, with the topic created (`--partitions`, default 3).
#![forbid(unsafe_code)]

mod args;
#[cfg(feature = "librdkafka")]
mod librdkafka_client;
mod pacer;
mod payload;
mod ringkafka_client;
mod stats;

use std::ops::Range;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use args::{Args, Client, UsageError};
use payload::{Payloads, Rng};
use ringkafka::ProducerConfig;
use stats::Stats;

/// How often a progress line is printed (as Java's tool).
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// The workload every sending thread shares.
#[derive(Debug)]
pub struct Workload {
    pub topic: String,
    pub num_records: u64,
    /// Records 0..warmup_records warm up (see `Stats::start_steady_state`).
    pub warmup_records: u64,
    pub threads: usize,
    /// Records per second over all threads.
    pub rate: Option<f64>,
    pub payloads: Payloads,
    /// `key-{n % K}`, or `None` for null keys.
    pub keys: Option<Arc<[Box<[u8]>]>>,
}

impl Workload {
    /// The global record numbers thread `t` sends (an even split).
    pub fn range(&self, t: usize) -> Range<u64> {
        let share = |t: usize| (self.num_records as u128 * t as u128 / self.threads as u128) as u64;
        share(t)..share(t + 1)
    }

    /// Thread `t`'s rate: its share of the total.
    pub fn thread_rate(&self, t: usize) -> Option<f64> {
        let r = self.range(t);
        let n = r.end - r.start;
        self.rate
            .map(|rate| if self.num_records == 0 { rate } else { rate * n as f64 / self.num_records as f64 })
    }

    /// The key of record `n`.
    #[inline]
    pub fn key(&self, n: u64) -> Option<&[u8]> {
        self.keys.as_ref().map(|k| &*k[(n % k.len() as u64) as usize])
    }
}

/// One client library driving the workload.
pub trait Target: Send + Sync + 'static {
    /// Sends thread `t`'s share of the records; outcomes go to `stats`.
    fn send_range(&self, w: &Workload, t: usize, start: Instant, stats: &'static Stats);
    /// Waits until every record sent so far has an outcome.
    fn flush(&self) -> Result<(), String>;
    /// Shuts the client down (after `flush`).
    fn close(&self);
}

/// The broker to bootstrap from: `--bootstrap-server`, else `bootstrap.servers` from the
/// properties; `None` means the embedded mock cluster.
fn bootstrap_address(args: &Args, props: &[(String, String)]) -> Option<String> {
    args.bootstrap_server.clone().or_else(|| {
        props
            .iter()
            .rev()
            .find(|(k, _)| k == "bootstrap.servers" || k == "metadata.broker.list")
            .map(|(_, v)| v.clone())
    })
}

/// The producer properties in the order they apply: `--producer.config`, then
/// `--producer-props`, then `bootstrap.servers`.
fn collect_props(args: &Args) -> Result<Vec<(String, String)>, String> {
    let mut props = Vec::new();
    if let Some(path) = &args.producer_config {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read --producer.config {path}: {e}"))?;
        props = args::parse_properties(&text).map_err(|e| format!("--producer.config {path}: {e}"))?;
    }
    props.extend(args.producer_props.iter().cloned());
    Ok(props)
}

/// A ringkafka configuration from the properties. `lenient`: keys ringkafka rejects are returned
/// instead of failing (for librdkafka, which may know them).
pub fn build_config(
    props: &[(String, String)],
    bootstrap: &str,
    lenient: bool,
) -> Result<(ProducerConfig, Vec<(String, String)>), String> {
    let mut cfg = ProducerConfig::default();
    let mut rejected = Vec::new();
    for (k, v) in props {
        if let Err(e) = cfg.set(k, v) {
            if !lenient {
                return Err(e.to_string());
            }
            rejected.push((k.clone(), v.clone()));
        }
    }
    cfg.set("bootstrap.servers", bootstrap).map_err(|e| e.to_string())?;
    cfg.validate().map_err(|e| e.to_string())?;
    Ok((cfg, rejected))
}

/// `--list-properties`: one line per producer property, with its default and what it does.
fn print_properties() {
    for p in ProducerConfig::properties() {
        let default = if p.default.is_empty() { "\"\"" } else { p.default };
        let aliases =
            if p.aliases.is_empty() { String::new() } else { format!(" (also {})", p.aliases.join(", ")) };
        println!("{:<40} {:<10} {}{aliases}", p.key, default, p.doc);
    }
}

fn usage_error(e: &str) -> ExitCode {
    eprintln!("ringkafka-perf: {e}\n(run with --help for usage)");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if args::lists_properties(&argv) {
        print_properties();
        return ExitCode::SUCCESS;
    }
    let args = match args::parse(argv) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{}", args::HELP);
            return ExitCode::SUCCESS;
        }
        Err(UsageError(e)) => return usage_error(&e),
    };
    let props = match collect_props(&args) {
        Ok(p) => p,
        Err(e) => return usage_error(&e),
    };
    // No broker given: the embedded mock cluster, kept alive until the run ends.
    let mut _mock = None;
    let bootstrap = match bootstrap_address(&args, &props) {
        Some(b) => b,
        None => match ringkafka::mock::MockServer::with_topics(1, &[(&args.topic, args.partitions)]) {
            Ok(m) => {
                // Offsets and counts only: a long run must not keep every record in memory.
                m.cluster().set_retain_records(false);
                let b = m.bootstrap();
                eprintln!(
                    "ringkafka-perf: no --bootstrap-server given; using the embedded mock cluster at {b} \
                     (topic {} with {} partitions)",
                    args.topic, args.partitions
                );
                _mock = Some(m);
                b
            }
            Err(e) => {
                eprintln!("ringkafka-perf: cannot start the embedded mock cluster: {e}");
                return ExitCode::FAILURE;
            }
        },
    };

    let mut rng = Rng::from_time(u64::MAX);
    let payloads = match Payloads::build(&args.payload, args.record_size, &mut rng) {
        Ok(p) => p,
        Err(e) => return usage_error(&e),
    };
    let workload = Arc::new(Workload {
        topic: args.topic.clone(),
        num_records: args.num_records,
        warmup_records: args.warmup_records,
        threads: args.threads,
        rate: args.throughput,
        payloads,
        keys: payload::make_keys(args.keys),
    });

    let target: Arc<dyn Target> = match args.client {
        Client::Ringkafka => {
            let cfg = match build_config(&props, &bootstrap, false) {
                Ok((cfg, _)) => cfg,
                Err(e) => return usage_error(&e),
            };
            match ringkafka_client::Ringkafka::new(cfg) {
                Ok(t) => Arc::new(t),
                Err(e) => {
                    eprintln!("ringkafka-perf: the producer did not start: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        #[cfg(feature = "librdkafka")]
        Client::Librdkafka => {
            let (cfg, extra) = match build_config(&props, &bootstrap, true) {
                Ok(c) => c,
                Err(e) => return usage_error(&e),
            };
            match librdkafka_client::Librdkafka::new(&cfg, &extra, &props) {
                Ok(t) => Arc::new(t),
                Err(e) => {
                    eprintln!("ringkafka-perf: librdkafka did not start: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        #[cfg(not(feature = "librdkafka"))]
        Client::Librdkafka => {
            return usage_error(
                "--client librdkafka needs a build with the librdkafka feature: \
                 cargo run --release --features librdkafka -- …",
            )
        }
    };

    run(&args, workload, target)
}

/// Runs the workload, prints progress and the summary; the exit status says whether every
/// record was acknowledged.
fn run(args: &Args, workload: Arc<Workload>, target: Arc<dyn Target>) -> ExitCode {
    let start = Instant::now();
    let stats: &'static Stats = Box::leak(Box::new(Stats::new(start)));

    // A driver thread runs the senders and the final flush, so the main thread keeps printing
    // progress even if the flush is slow (or the client hangs: the lines then show it).
    let driver = {
        let (w, t) = (workload.clone(), target.clone());
        std::thread::Builder::new()
            .name("perf-driver".into())
            .spawn(move || {
                let senders: Vec<_> = (0..w.threads)
                    .map(|i| {
                        let (w, t) = (w.clone(), t.clone());
                        std::thread::Builder::new()
                            .name(format!("perf-send-{i}"))
                            .spawn(move || t.send_range(&w, i, start, stats))
                            .expect("spawn a sending thread")
                    })
                    .collect();
                let mut panicked = false;
                for s in senders {
                    panicked |= s.join().is_err();
                }
                let flushed = t.flush();
                (start.elapsed(), flushed, panicked)
            })
            .expect("spawn the driver thread")
    };

    let mut next = start + PROGRESS_EVERY;
    while !driver.is_finished() {
        let now = Instant::now();
        if now >= next {
            let line = stats.take_window(now).to_string();
            if args.json {
                eprintln!("{line}");
            } else {
                println!("{line}");
            }
            next += PROGRESS_EVERY;
        } else {
            std::thread::sleep((next - now).min(Duration::from_millis(50)));
        }
    }
    let (elapsed, flushed, panicked) = driver.join().expect("the driver thread does not panic");
    target.close();
    drop(target);
    let cpu = stats::cpu_seconds();

    let summary = stats.summary(workload.num_records, elapsed, cpu);
    let steady_records = workload.num_records - workload.warmup_records;
    let steady = stats.steady_summary(steady_records, elapsed, cpu);
    // As Java's tool (KIP-1052): the whole run's summary, then the steady state's. The JSON
    // line is the steady state's when there is one.
    match (&steady, args.json) {
        (Some(st), true) => println!("{}", st.json()),
        (None, true) => println!("{}", summary.json()),
        (_, false) => {
            println!("{}", summary.java_line());
            if let Some(st) = &steady {
                println!(
                    "Steady state (after {} warm-up records): {}",
                    workload.warmup_records,
                    st.java_line()
                );
            }
        }
    }
    if workload.warmup_records > 0 && steady.is_none() {
        eprintln!("ringkafka-perf: the warm-up never ended (no record past it was sent)");
    }
    let mut failed = panicked || summary.err > 0;
    if let Err(e) = flushed {
        eprintln!("ringkafka-perf: flush failed: {e}");
        failed = true;
    }
    if panicked {
        eprintln!("ringkafka-perf: a sending thread panicked");
    }
    let missing = workload.num_records.saturating_sub(summary.ok + summary.err);
    if missing > 0 {
        eprintln!("ringkafka-perf: {missing} records have no outcome after flush");
        failed = true;
    }
    if summary.err > 0 {
        eprintln!("ringkafka-perf: {} of {} records failed; the first errors:", summary.err, summary.records);
        for e in &summary.errors {
            eprintln!("  {e}");
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workload(n: u64, threads: usize, rate: Option<f64>) -> Workload {
        Workload {
            topic: "t".into(),
            num_records: n,
            warmup_records: 0,
            threads,
            rate,
            payloads: Payloads::Fixed(Arc::from(&b"x"[..])),
            keys: payload::make_keys(3),
        }
    }

    #[test]
    fn records_split_evenly_and_cover_all_numbers() {
        let w = workload(10, 3, Some(1000.0));
        let ranges: Vec<_> = (0..3).map(|t| w.range(t)).collect();
        assert_eq!(ranges, vec![0..3, 3..6, 6..10]);
        let total: f64 = (0..3).map(|t| w.thread_rate(t).unwrap()).sum();
        assert!((total - 1000.0).abs() < 1e-9);
        assert_eq!(w.key(4), Some(&b"key-1"[..]));
    }

    #[test]
    fn bootstrap_comes_from_the_flag_then_the_properties() {
        let a = args::parse("--num-records 1 --record-size 1".split(' ').map(String::from)).unwrap().unwrap();
        assert_eq!(bootstrap_address(&a, &[]), None);
        let props = vec![("bootstrap.servers".to_string(), "h:1".to_string())];
        assert_eq!(bootstrap_address(&a, &props).as_deref(), Some("h:1"));
        let a = args::parse(
            "--num-records 1 --record-size 1 --bootstrap-server b:2".split(' ').map(String::from),
        )
        .unwrap()
        .unwrap();
        assert_eq!(bootstrap_address(&a, &props).as_deref(), Some("b:2"));
    }

    #[test]
    fn config_is_built_from_java_names_and_the_flag_wins() {
        let props = vec![
            ("linger.ms".to_string(), "7".to_string()),
            ("bootstrap.servers".to_string(), "x:1".to_string()),
        ];
        let (cfg, rejected) = build_config(&props, "h:9092", false).unwrap();
        assert_eq!(cfg.linger, Duration::from_millis(7));
        assert_eq!(cfg.bootstrap_servers, vec!["h:9092".to_string()]);
        assert!(rejected.is_empty());
        let bad = vec![("socket.nagle.disable".to_string(), "true".to_string())];
        assert!(build_config(&bad, "h:9092", false).is_err());
        let (_, rejected) = build_config(&bad, "h:9092", true).unwrap();
        assert_eq!(rejected, bad);
    }
}
