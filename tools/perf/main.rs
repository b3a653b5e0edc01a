//! `ringkafka-perf`: a producer load generator that mirrors Kafka's `kafka-producer-perf-test`
//! (same flags, same output lines), with what load generation and benchmark harnesses need on
//! top: keys drawn from a distribution (zipf among them), payloads of chosen compressibility,
//! several topics, several producers and sending threads, a duration or a rate schedule instead
//! of a count, HdrHistogram interval logs (`--hdr-log`, merged across processes with
//! `ringkafka-perf merge`), per-interval JSON lines, an HTML report, a JSON summary, and the same
//! workload through librdkafka (`--client librdkafka`, built with `--features librdkafka`) or
//! Confluent's native Rust client (`--client confluent`, `--features confluent`) for comparison.
//! The clients' log lines (warnings by default) go to stderr.
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
//! the run, with the topics created (`--partitions` each, default 3).
//!
//! Where things live: flags in `args.rs` (one arm in `parse`, one field in `Args`, one line in
//! `HELP`); what every client shares (record numbers, pacing, the end of the run, topics, keys,
//! values) in `workload.rs` as a per-thread [`workload::Feed`]; a client is a [`Target`] in its
//! own file; outcome accounting in `stats.rs`; the outputs in `hlog.rs`, `report.rs` and
//! `progress.rs`.
#![forbid(unsafe_code)]

mod args;
mod ceiling_client;
#[cfg(feature = "confluent")]
mod confluent_client;
#[cfg(any(feature = "librdkafka", feature = "confluent"))]
mod foreign;
mod hlog;
#[cfg(feature = "librdkafka")]
mod librdkafka_client;
mod logger;
mod pacer;
mod payload;
mod progress;
mod report;
mod ringkafka_client;
mod schedule;
mod stats;
mod threads;
mod transactions;
mod workload;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use args::{Args, Client, UsageError};
use payload::{Payloads, Rng};
use ringkafka::{ProducerConfig, SenderCpu};
use schedule::Schedule;
use stats::{Interval, Stats};
pub use workload::Workload;

/// One client library driving the workload. `--producers N` makes N of them.
pub trait Target: Send + Sync + 'static {
    /// Sends thread `t`'s share of the records (`Workload::feed`); outcomes go to `stats`.
    fn send_range(&self, w: &Workload, t: usize, start: Instant, stats: &'static Stats);
    /// Waits until every record sent so far has an outcome.
    fn flush(&self) -> Result<(), String>;
    /// Shuts the client down (after `flush`).
    fn close(&self);
    /// `--print-metrics`: the client's metrics as (name, value) lines; none by default.
    fn metrics(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// `--transactional-id`: the client's transactional calls (see `transactions`), blocking.
    fn init_transactions(&self) -> Result<(), String> {
        Err("this client does not run transactions in ringkafka-perf".into())
    }
    fn begin_transaction(&self) -> Result<(), String> {
        Err("this client does not run transactions in ringkafka-perf".into())
    }
    fn commit_transaction(&self) -> Result<(), String> {
        Err("this client does not run transactions in ringkafka-perf".into())
    }
    fn abort_transaction(&self) -> Result<(), String> {
        Err("this client does not run transactions in ringkafka-perf".into())
    }
    /// The sender thread's parks, its wake-ups by `send`, and the produce requests, since the
    /// steady state began (`steady`) or the start, for clients that count them.
    fn sender_counters(&self, _steady: bool) -> Option<(u64, u64, u64)> {
        None
    }
}

/// [`Target::sender_counters`] summed over the producers (`None` if a client counts none).
fn sender_counters(targets: &[Arc<dyn Target>], steady: bool) -> Option<(u64, u64, u64)> {
    targets.iter().try_fold((0, 0, 0), |(p, w, r), t| {
        t.sender_counters(steady).map(|(p2, w2, r2)| (p + p2, w + w2, r + r2))
    })
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

/// ringkafka's resolved configuration (and the keys it rejected) for another client with
/// `--client-defaults ringkafka`; `None` with `own`, where that client gets only the given
/// properties (so ringkafka's validation does not apply to it).
#[cfg_attr(not(any(feature = "librdkafka", feature = "confluent")), allow(dead_code))]
fn resolve_for_others(
    args: &Args,
    props: &[(String, String)],
    bootstrap: &str,
) -> Result<Option<Resolved>, String> {
    match args.client_defaults {
        args::ClientDefaults::Own => Ok(None),
        args::ClientDefaults::Ringkafka => build_config(props, bootstrap, true).map(Some),
    }
}

/// A resolved ringkafka configuration and the given keys it does not know.
pub type Resolved = (ProducerConfig, Vec<(String, String)>);

/// `--list-properties`: one line per producer property, with its default and what it does.
fn print_properties() {
    for p in ProducerConfig::properties() {
        let default = if p.default.is_empty() { "\"\"" } else { p.default };
        let aliases =
            if p.aliases.is_empty() { String::new() } else { format!(" (also {})", p.aliases.join(", ")) };
        println!("{:<40} {:<10} {}{aliases}", p.key, default, p.doc);
    }
}

/// `--isolate-sender`: keeps this thread, and so every thread started after it (the embedded
/// mock's, the sending threads), off the CPU the sender will be pinned to, which it returns
/// (to be given as `sender.cpu`, since `last` would now name another CPU).
fn isolate_sender(props: &[(String, String)]) -> Result<usize, String> {
    use ringkafka::internals::io::affinity;
    let (cfg, _) = build_config(props, "127.0.0.1:1", true)?;
    let allowed = affinity::allowed_cpus().map_err(|e| format!("--isolate-sender: {e}"))?;
    let cpu = match cfg.sender_cpu {
        ringkafka::SenderCpu::Cpu(c) => c,
        ringkafka::SenderCpu::Last => *allowed.last().ok_or("--isolate-sender: no CPU allowed")?,
        ringkafka::SenderCpu::Unpinned => {
            return Err("--isolate-sender needs a pinned sender (sender.cpu)".into())
        }
    };
    let others: Vec<usize> = allowed.into_iter().filter(|&c| c != cpu).collect();
    if others.is_empty() {
        return Err(format!("--isolate-sender needs a CPU besides the sender's ({cpu})"));
    }
    affinity::pin_current_thread_to(&others).map_err(|e| format!("--isolate-sender: {e}"))?;
    Ok(cpu)
}

fn usage_error(e: &str) -> ExitCode {
    eprintln!("ringkafka-perf: {e}\n(run with --help for usage)");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("merge") {
        return merge_main(argv[1..].to_vec());
    }
    if args::lists_properties(&argv) {
        print_properties();
        return ExitCode::SUCCESS;
    }
    let command_line = std::iter::once("ringkafka-perf".to_string()).chain(argv.iter().cloned()).collect();
    let args = match args::parse(argv) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{}", args::HELP);
            return ExitCode::SUCCESS;
        }
        Err(UsageError(e)) => return usage_error(&e),
    };
    logger::init(args.log_level, Instant::now());
    let mut props = match collect_props(&args) {
        Ok(p) => p,
        Err(e) => return usage_error(&e),
    };
    let txn = transactions::resolve(&args, &props);
    if txn.is_some() && args.threads > 1 {
        return usage_error(
            "transactions need --threads 1: a transaction is one thread's sends (use --producers N for more)",
        );
    }
    if txn.is_some() && args.client == Client::Confluent {
        return usage_error("--transactional-id: the confluent client does not run transactions here");
    }
    if args.isolate_sender {
        match isolate_sender(&props) {
            Ok(cpu) => props.push(("sender.cpu".to_string(), cpu.to_string())),
            Err(e) => return usage_error(&e),
        }
    }
    // No broker given: the embedded mock cluster, kept alive until the run ends.
    let mut _mock = None;
    let bootstrap = match bootstrap_address(&args, &props) {
        Some(b) => b,
        None => {
            let topics: Vec<(&str, i32)> =
                args.topics.iter().map(|t| (t.as_str(), args.partitions)).collect();
            match ringkafka::mock::MockServer::with_topics(1, &topics) {
                Ok(m) => {
                    // Offsets and counts only: a long run must not keep every record in memory.
                    m.cluster().set_retain_records(false);
                    let b = m.bootstrap();
                    eprintln!(
                        "ringkafka-perf: no --bootstrap-server given; using the embedded mock cluster at {b} \
                         ({} with {} partitions)",
                        topic_names(&args.topics),
                        args.partitions
                    );
                    _mock = Some(m);
                    b
                }
                Err(e) => {
                    eprintln!("ringkafka-perf: cannot start the embedded mock cluster: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    };

    let mut rng = match args.random_seed {
        Some(s) => Rng::new(s),
        None => Rng::from_time(u64::MAX),
    };
    let payloads = match Payloads::build(&args.payload, args.record_size, &mut rng) {
        Ok(p) => p,
        Err(e) => return usage_error(&e),
    };
    let workload = Arc::new(Workload {
        topics: args.topics.iter().map(|t| Arc::from(t.as_str())).collect(),
        num_records: args.num_records,
        duration: args.duration,
        warmup_records: args.warmup_records,
        threads: args.producers * args.threads,
        schedule: args.throughput_schedule.clone().or(args.throughput.map(Schedule::constant)),
        payloads,
        keys: workload::Keys::new(args.key_distribution, args.keys),
        seed: args.random_seed,
        pacer_spin: args.pacer_spin,
    });

    let mut targets: Vec<Arc<dyn Target>> = Vec::with_capacity(args.producers);
    let cpus = allowed_cpus();
    for i in 0..args.producers {
        // With transactions, each producer its own transactional.id (over any given).
        let mut props = props.clone();
        if let Some((id, _)) = &txn {
            props.retain(|(k, _)| k != "transactional.id");
            props.push(("transactional.id".into(), transactions::producer_id(id, i, args.producers)));
        }
        match make_target(&args, &props, &bootstrap, i, &cpus) {
            Ok(t) => targets.push(t),
            Err((code, e)) => {
                eprintln!("ringkafka-perf: {e}");
                return code;
            }
        }
    }
    if let Some((id, every)) = &txn {
        for (i, t) in targets.iter().enumerate() {
            if let Err(e) = t.init_transactions() {
                eprintln!("ringkafka-perf: init_transactions for producer {i} failed: {e}");
                return ExitCode::FAILURE;
            }
        }
        eprintln!(
            "ringkafka-perf: transactions of {} ms under transactional.id {id}{}",
            every.as_millis(),
            if args.producers > 1 { "-<producer>" } else { "" }
        );
    }
    run(&args, command_line, workload, targets)
}

fn topic_names(topics: &[String]) -> String {
    match topics {
        [one] => format!("topic {one}"),
        [first, .., last] => format!("{} topics {first} .. {last}", topics.len()),
        [] => "no topic".into(),
    }
}

/// Producer `i` of `--producers`: the configuration, then the client. A usage error exits 2,
/// a client that does not start 1.
fn make_target(
    args: &Args,
    props: &[(String, String)],
    bootstrap: &str,
    i: usize,
    cpus: &[usize],
) -> Result<Arc<dyn Target>, (ExitCode, String)> {
    let usage = |e: String| (ExitCode::from(2), format!("{e}\n(run with --help for usage)"));
    match args.client {
        Client::Ringkafka => {
            let cfg = build_config(props, bootstrap, false).map_err(usage)?.0;
            let cfg = per_producer(cfg, i, args.producers, cpus);
            match ringkafka_client::Ringkafka::new(cfg, args.api) {
                Ok(t) => Ok(Arc::new(t)),
                Err(e) => Err((ExitCode::FAILURE, format!("the producer did not start: {e}"))),
            }
        }
        #[cfg(feature = "librdkafka")]
        Client::Librdkafka => {
            let resolved = resolve_for_others(args, props, bootstrap).map_err(usage)?;
            let p = librdkafka_client::properties(bootstrap, props, resolved.as_ref());
            match librdkafka_client::Librdkafka::new(&p, if i == 0 { props } else { &[] }) {
                Ok(t) => Ok(Arc::new(t)),
                Err(e) => Err((ExitCode::FAILURE, format!("librdkafka did not start: {e}"))),
            }
        }
        #[cfg(not(feature = "librdkafka"))]
        Client::Librdkafka => Err(usage(
            "--client librdkafka needs a build with the librdkafka feature: \
             cargo run --release --features librdkafka -- …"
                .into(),
        )),
        #[cfg(feature = "confluent")]
        Client::Confluent => {
            let resolved = resolve_for_others(args, props, bootstrap).map_err(usage)?;
            let p = confluent_client::properties(bootstrap, props, resolved.as_ref());
            match confluent_client::Confluent::new(&p, if i == 0 { props } else { &[] }) {
                Ok(t) => Ok(Arc::new(t)),
                Err(e) => Err((ExitCode::FAILURE, format!("confluent-kafka did not start: {e}"))),
            }
        }
        #[cfg(not(feature = "confluent"))]
        Client::Confluent => Err(usage(
            "--client confluent needs a build with the confluent feature: \
             cargo run --release -p ringkafka-perf --features confluent -- …"
                .into(),
        )),
        Client::Ceiling => {
            let cfg = build_config(props, bootstrap, false).map_err(usage)?.0;
            Ok(Arc::new(ceiling_client::Ceiling::new(cfg)))
        }
    }
}

/// Producer `i` of `n`: its own sender CPU (`sender.cpu` `last`: the i-th allowed CPU from the
/// last, wrapping; a number c: c + i; -1: none) and, with several, its own `client.id`
/// (`-i` appended).
fn per_producer(mut cfg: ProducerConfig, i: usize, n: usize, cpus: &[usize]) -> ProducerConfig {
    if n > 1 {
        cfg.client_id = format!("{}-{i}", cfg.client_id);
        cfg.sender_cpu = match cfg.sender_cpu {
            SenderCpu::Last if !cpus.is_empty() => SenderCpu::Cpu(cpus[cpus.len() - 1 - i % cpus.len()]),
            SenderCpu::Cpu(c) => SenderCpu::Cpu(c + i),
            other => other,
        };
    }
    cfg
}

/// The CPUs this process may run on (`Cpus_allowed_list` in `/proc/self/status`; empty if
/// unreadable).
fn allowed_cpus() -> Vec<usize> {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).map(|l| parse_cpu_list(l.trim()))
        })
        .unwrap_or_default()
}

/// `0-3,8,10-11` → `[0, 1, 2, 3, 8, 10, 11]`.
fn parse_cpu_list(s: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.trim().parse::<usize>(), b.trim().parse::<usize>()) {
            out.extend(a..=b);
        }
    }
    out
}

/// `ringkafka-perf merge`.
fn merge_main(argv: Vec<String>) -> ExitCode {
    let m = match args::parse_merge(argv) {
        Ok(Some(m)) => m,
        Ok(None) => {
            println!("{}", args::HELP);
            return ExitCode::SUCCESS;
        }
        Err(UsageError(e)) => return usage_error(&e),
    };
    let mut logs = Vec::new();
    for f in &m.files {
        match hlog::read(f) {
            Ok(l) => logs.push(l),
            Err(e) => {
                eprintln!("ringkafka-perf merge: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let merged = hlog::merge(&logs);
    if m.json {
        println!("{}", hlog::merged_json(&merged));
    } else {
        println!("{}", hlog::merged_text(&merged));
    }
    if let Some(path) = &m.report {
        let h = &merged.hist;
        let q = |x: f64| if h.is_empty() { 0.0 } else { h.value_at_quantile(x) as f64 / 1000.0 };
        let r = report::Report {
            title: format!("ringkafka-perf merge: {} logs", merged.files),
            notes: vec![format!("ringkafka-perf merge {}", m.files.join(" "))],
            summary: vec![
                ("records acknowledged".into(), h.len().to_string()),
                ("seconds (first interval start to last end)".into(), format!("{:.1}", merged.secs)),
                (
                    "records/sec".into(),
                    format!("{:.1}", if merged.secs > 0.0 { h.len() as f64 / merged.secs } else { 0.0 }),
                ),
                ("latency p50 (ms)".into(), format!("{:.3}", q(0.5))),
                ("latency p99 (ms)".into(), format!("{:.3}", q(0.99))),
                ("latency p99.9 (ms)".into(), format!("{:.3}", q(0.999))),
                ("latency max (ms)".into(), format!("{:.3}", h.max() as f64 / 1000.0)),
            ],
            timeline: merged
                .timeline
                .iter()
                .map(|s| report::Point { start: s.start, secs: s.secs, records: s.records, hist: &s.hist })
                .collect(),
            hist: h,
        };
        if let Err(e) = write_report(path, &r) {
            eprintln!("ringkafka-perf merge: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn write_report(path: &str, r: &report::Report<'_>) -> Result<(), String> {
    let page = report::html(r)?;
    std::fs::write(path, page).map_err(|e| format!("cannot write --report {path}: {e}"))
}

/// Where the outputs of each reporting interval go, besides Java's line.
struct IntervalSinks {
    json: Option<Box<dyn Write>>,
    hlog: Option<hlog::HlogWriter>,
    /// Kept for the report.
    kept: Option<Vec<Interval>>,
}

impl IntervalSinks {
    fn open(args: &Args, wall_start: SystemTime, command: &str) -> Result<Self, String> {
        let json: Option<Box<dyn Write>> = match args.interval_json.as_deref() {
            None => None,
            Some("-") => Some(Box::new(std::io::stdout())),
            Some(path) => Some(Box::new(std::io::BufWriter::new(
                std::fs::File::create(path)
                    .map_err(|e| format!("cannot create --interval-json {path}: {e}"))?,
            ))),
        };
        let hlog = match &args.hdr_log {
            Some(path) => Some(hlog::HlogWriter::create(path, wall_start, command)?),
            None => None,
        };
        Ok(IntervalSinks { json, hlog, kept: args.report.as_ref().map(|_| Vec::new()) })
    }

    fn write(&mut self, iv: Interval) -> Result<(), String> {
        if let Some(j) = &mut self.json {
            writeln!(j, "{}", iv.json())
                .and_then(|_| j.flush())
                .map_err(|e| format!("--interval-json: {e}"))?;
        }
        if let Some(h) = &mut self.hlog {
            h.write_interval(&iv)?;
        }
        if let Some(k) = &mut self.kept {
            k.push(iv);
        }
        Ok(())
    }
}

/// Runs the workload, prints progress and the summary; the exit status says whether every
/// record was acknowledged.
fn run(
    args: &Args,
    command_line: Vec<String>,
    workload: Arc<Workload>,
    targets: Vec<Arc<dyn Target>>,
) -> ExitCode {
    let command = command_line.join(" ");
    let wall_start = SystemTime::now();
    let mut sinks = match IntervalSinks::open(args, wall_start, &command) {
        Ok(s) => s,
        Err(e) => return usage_error(&e),
    };
    let start = Instant::now();
    let stats: &'static Stats = Box::leak(Box::new(Stats::new(start)));
    let progress = progress::Progress::new(args.progress);

    // A driver thread runs the senders and the final flush, so the main thread keeps printing
    // progress even if the flush is slow (or the client hangs: the lines then show it).
    let driver = {
        let (w, targets) = (workload.clone(), targets.clone());
        let per_producer = args.threads;
        std::thread::Builder::new()
            .name("perf-driver".into())
            .spawn(move || {
                let senders: Vec<_> = (0..w.threads)
                    .map(|i| {
                        let (w, t) = (w.clone(), targets[i / per_producer].clone());
                        std::thread::Builder::new()
                            .name(format!("perf-send-{i}"))
                            .spawn(move || {
                                t.send_range(&w, i, start, stats);
                                threads::note_exit();
                            })
                            .expect("spawn a sending thread")
                    })
                    .collect();
                let mut panicked = false;
                for s in senders {
                    panicked |= s.join().is_err();
                }
                let mut flushed = Ok(());
                for t in &targets {
                    if let Err(e) = t.flush() {
                        flushed = flushed.and(Err(e));
                    }
                }
                (start.elapsed(), flushed, panicked)
            })
            .expect("spawn the driver thread")
    };

    let snapshot = |now: Instant| progress::Snapshot {
        done: stats.completed(),
        total: workload.num_records,
        elapsed: now.saturating_duration_since(start),
        duration: workload.duration,
    };
    let mut sink_error = None;
    let mut next = start + args.reporting_interval;
    let tick = progress.tick_every();
    let mut next_tick = start;
    while !driver.is_finished() {
        let now = Instant::now();
        if now >= next {
            let iv = stats.take_window(now);
            progress.interval(&iv.progress.to_string(), args.json, &snapshot(now));
            if let Err(e) = sinks.write(iv) {
                sink_error.get_or_insert(e);
            }
            next += args.reporting_interval;
        } else if tick.is_some_and(|_| now >= next_tick) {
            progress.tick(&snapshot(now));
            next_tick = now + tick.unwrap_or_default();
        } else {
            let wake = tick.map_or(next, |_| next.min(next_tick));
            std::thread::sleep(wake.saturating_duration_since(now).min(Duration::from_millis(50)));
        }
    }
    let (elapsed, flushed, panicked) = driver.join().expect("the driver thread does not panic");
    progress.clear();
    // The last, partial window: no progress line (as Java's tool), but into the logs, so they
    // hold every record.
    if let Err(e) = sinks.write(stats.take_window(Instant::now())) {
        sink_error.get_or_insert(e);
    }
    let metrics: Vec<Vec<(String, String)>> =
        if args.print_metrics { targets.iter().map(|t| t.metrics()).collect() } else { Vec::new() };
    // Per-thread CPU and the senders' counters while the clients' threads still live (close
    // ends them).
    let (whole_threads, steady_threads) = (stats.thread_split(false), stats.thread_split(true));
    let (whole_sender, steady_sender) = (sender_counters(&targets, false), sender_counters(&targets, true));
    for t in &targets {
        t.close();
    }
    drop(targets);
    let cpu = stats::cpu_seconds();

    // With a duration the records are those the threads sent; with a count, the count (so a
    // thread that died shows as records with no outcome).
    let records = match (workload.num_records, workload.duration) {
        (Some(n), None) => n,
        _ => stats.sent(),
    };
    let mut summary = stats.summary(records, elapsed, cpu);
    summary.threads = Some(whole_threads);
    summary.sender = whole_sender;
    let steady_records = records.saturating_sub(workload.warmup_records);
    let steady = stats.steady_summary(steady_records, elapsed, cpu).map(|mut s| {
        s.threads = Some(steady_threads);
        s.sender = steady_sender;
        s
    });
    // As Java's tool (KIP-1052): the whole run's summary, then the steady state's. The JSON
    // line is the steady state's when there is one.
    match (&steady, args.json) {
        (Some(st), true) => println!("{}", st.json()),
        (None, true) => println!("{}", summary.json()),
        (_, false) => {
            // Java's lines on stdout, as its tool prints them; ours (the latency from the send
            // call, the sender's counters, the CPU by thread) after each on stderr.
            println!("{}", summary.java_line());
            for l in summary.detail_lines() {
                eprintln!("{l}");
            }
            if let Some(st) = &steady {
                println!(
                    "Steady state (after {} warm-up records): {}",
                    workload.warmup_records,
                    st.java_line()
                );
                for l in st.detail_lines() {
                    eprintln!("{l}");
                }
            }
        }
    }
    if args.print_metrics {
        print_metrics(&metrics);
    }
    if let Some(path) = &args.report {
        let kept = sinks.kept.take().unwrap_or_default();
        let hist = stats.histogram();
        let r = run_report(args, &command, &summary, &kept, &hist);
        if let Err(e) = write_report(path, &r) {
            sink_error.get_or_insert(e);
        }
    }
    if workload.warmup_records > 0 && steady.is_none() {
        eprintln!("ringkafka-perf: the warm-up never ended (no record past it was sent)");
    }
    let mut failed = panicked || summary.err > 0;
    if let Some(e) = sink_error {
        eprintln!("ringkafka-perf: {e}");
        failed = true;
    }
    if let Err(e) = flushed {
        eprintln!("ringkafka-perf: flush failed: {e}");
        failed = true;
    }
    if panicked {
        eprintln!("ringkafka-perf: a sending thread panicked");
    }
    let missing = records.saturating_sub(summary.ok + summary.err);
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

/// `--print-metrics`, as Java's tool lays them out: a header, then `name : value`.
fn print_metrics(per_producer: &[Vec<(String, String)>]) {
    let lines: Vec<&(String, String)> = per_producer.iter().flatten().collect();
    if lines.is_empty() {
        println!("(this client gives no metrics to print)");
        return;
    }
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0).max(11);
    println!("\n{:<width$}   Value", "Metric Name");
    for (k, v) in lines {
        println!("{k:<width$} : {v}");
    }
}

/// The `--report` of this run.
fn run_report<'a>(
    args: &Args,
    command: &str,
    s: &stats::Summary,
    kept: &'a [Interval],
    hist: &'a hdrhistogram::Histogram<u64>,
) -> report::Report<'a> {
    let ms = |us: u64| format!("{:.3}", us as f64 / 1000.0);
    report::Report {
        title: format!("ringkafka-perf: {}", topic_names(&args.topics)),
        notes: vec![command.to_string()],
        summary: vec![
            ("records sent".into(), s.records.to_string()),
            ("acknowledged".into(), s.ok.to_string()),
            ("failed".into(), s.err.to_string()),
            ("seconds".into(), format!("{:.3}", s.secs)),
            ("records/sec".into(), format!("{:.1}", s.rec_per_s())),
            ("MB/sec".into(), format!("{:.2}", s.mb_per_s())),
            ("latency avg (ms)".into(), format!("{:.3}", s.lat_us_avg / 1000.0)),
            ("latency p50 (ms)".into(), ms(s.lat_us_p50)),
            ("latency p95 (ms)".into(), ms(s.lat_us_p95)),
            ("latency p99 (ms)".into(), ms(s.lat_us_p99)),
            ("latency p99.9 (ms)".into(), ms(s.lat_us_p999)),
            ("latency max (ms)".into(), ms(s.lat_us_max)),
            ("CPU seconds".into(), s.cpu_s.map_or("-".into(), |c| format!("{c:.2}"))),
        ],
        timeline: kept
            .iter()
            .map(|iv| report::Point {
                start: iv.start_s,
                secs: iv.progress.secs,
                records: iv.progress.records as f64,
                hist: &iv.hist,
            })
            .collect(),
        hist,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producers_get_their_own_cpu_and_client_id() {
        let cfg = || build_config(&[], "h:1", false).unwrap().0;
        let one = per_producer(cfg(), 0, 1, &[0, 1]);
        assert_eq!((one.sender_cpu, one.client_id.as_str()), (SenderCpu::Last, cfg().client_id.as_str()));
        let cpus = [0, 1, 2, 3];
        let got: Vec<SenderCpu> = (0..5).map(|i| per_producer(cfg(), i, 5, &cpus).sender_cpu).collect();
        use SenderCpu::Cpu;
        assert_eq!(got, vec![Cpu(3), Cpu(2), Cpu(1), Cpu(0), Cpu(3)], "from the last, wrapping");
        assert_eq!(per_producer(cfg(), 1, 2, &cpus).client_id, format!("{}-1", cfg().client_id));
        let fixed = build_config(&[("sender.cpu".into(), "2".into())], "h:1", false).unwrap().0;
        assert_eq!(per_producer(fixed, 1, 3, &cpus).sender_cpu, Cpu(3));
        let none = build_config(&[("sender.cpu".into(), "-1".into())], "h:1", false).unwrap().0;
        assert_eq!(per_producer(none, 1, 3, &cpus).sender_cpu, SenderCpu::Unpinned);
    }

    #[test]
    fn cpu_lists_parse_like_the_kernel_writes_them() {
        assert_eq!(parse_cpu_list("0-3,8,10-11"), vec![0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(parse_cpu_list("5"), vec![5]);
        assert!(!allowed_cpus().is_empty());
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
