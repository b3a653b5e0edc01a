//! `ringkafka-leader-move`: how long a partition's acknowledgements stop when its leader moves.
//!
//! Sends records at a steady rate, round-robin over the topic's partitions (explicit
//! partitions, so each gets a steady stream), and watches each partition's acknowledgements: a
//! gap longer than `--gap-ms` between two of them is printed as it ends, with the wall-clock
//! times of its two edges. When a leader moves (a preferred-leader election, a controlled
//! shutdown: `tools/perf/leader-move.sh` runs one mid-run), the partition's gap spans from the
//! last batch the old leader acknowledged to the first one the new leader did: the time the move
//! cost the producer (at most a linger interval more than the move itself). Compare it across
//! builds (before and after KIP-951, say) on the same cluster.
//!
//! ```text
//! ringkafka-leader-move --bootstrap-server HOST:PORT --topic T [--rate 6000] [--seconds 20]
//!     [--gap-ms 30] [--log-level warn|info|debug] [--producer-props k=v ...]
//! ```
//!
//! The library's log lines (warnings by default: retries, lost connections) go to stderr with
//! the wall clock in milliseconds.
//!
//! A second measure leaves out the broker's side of the move: from the first
//! NOT_LEADER_OR_FOLLOWER answer for a partition (the old leader refusing, as the library's
//! retry warning reports it) to the next batch of that partition acknowledged, which the new
//! leader did. That is the producer's reaction, what KIP-951 shortens: before it, a metadata
//! round trip and a retry backoff; with it, the retry goes to the leader the answer names.
//!
//! Prints one line per gap (`gap partition=P start_ms=... end_ms=... gap_ms=...`), one per
//! refusal followed (`moved partition=P refused_ms=... acked_ms=... ms=...`; wall clock,
//! milliseconds since the epoch), and a last JSON line: records, failures, retries, and per
//! partition its longest gap in milliseconds.
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ringkafka::{Producer, ProducerConfig, ProducerRecord};

const USAGE: &str =
    "usage: ringkafka-leader-move --bootstrap-server HOST:PORT --topic T [--rate N] [--seconds S] \
                     [--gap-ms MS] [--log-level LEVEL] [--producer-props k=v ...]";

struct Args {
    bootstrap: String,
    topic: String,
    rate: u64,
    seconds: u64,
    gap: Duration,
    log_level: log::LevelFilter,
    props: Vec<(String, String)>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        bootstrap: String::new(),
        topic: String::new(),
        rate: 6_000,
        seconds: 20,
        gap: Duration::from_millis(30),
        log_level: log::LevelFilter::Warn,
        props: Vec::new(),
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    let value = |i: usize| argv.get(i + 1).cloned().ok_or_else(|| format!("{} needs a value", argv[i]));
    let number = |i: usize| value(i)?.parse::<u64>().map_err(|e| format!("{}: {e}", argv[i]));
    while i < argv.len() {
        match argv[i].as_str() {
            "--bootstrap-server" => a.bootstrap = value(i)?,
            "--topic" => a.topic = value(i)?,
            "--rate" => a.rate = number(i)?.max(1),
            "--seconds" => a.seconds = number(i)?,
            "--gap-ms" => a.gap = Duration::from_millis(number(i)?),
            "--log-level" => {
                a.log_level = value(i)?.parse().map_err(|_| format!("--log-level {}", argv[i + 1]))?
            }
            "--producer-props" => {
                while let Some(kv) = argv.get(i + 1).filter(|s| !s.starts_with("--")) {
                    let (k, v) = kv.split_once('=').ok_or_else(|| format!("{kv}: not key=value"))?;
                    a.props.push((k.to_string(), v.to_string()));
                    i += 1;
                }
                i += 1;
                continue;
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
        i += 2;
    }
    if a.bootstrap.is_empty() || a.topic.is_empty() {
        return Err(USAGE.to_string());
    }
    Ok(a)
}

fn wall_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

/// When something happened: monotonic, and wall clock in ms since the epoch.
type Stamp = (Instant, u128);

/// Per partition, when an old leader first refused it (NOT_LEADER_OR_FOLLOWER) and no batch
/// has been acknowledged since.
static REFUSED: OnceLock<Vec<Mutex<Option<Stamp>>>> = OnceLock::new();
/// The topic, to recognise its partitions in the library's retry warnings.
static TOPIC: OnceLock<String> = OnceLock::new();
/// The lines printed (`--log-level`).
static PRINT: OnceLock<log::LevelFilter> = OnceLock::new();

/// Log lines on stderr, stamped with the wall clock (to set beside the gap lines). It also
/// notes the retry warnings of the topic's partitions for NOT_LEADER_OR_FOLLOWER
/// (`{topic}-{partition}: NOT_LEADER_OR_FOLLOWER...`, see `produce.rs`).
struct Stderr;

impl log::Log for Stderr {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::max_level()
    }
    fn log(&self, r: &log::Record) {
        let (now, wall) = (Instant::now(), wall_ms());
        if r.level() == log::Level::Warn {
            let text = r.args().to_string();
            let partition = TOPIC.get().and_then(|t| text.strip_prefix(t.as_str())).and_then(|rest| {
                let (p, why) = rest.strip_prefix('-')?.split_once(": ")?;
                why.starts_with("NOT_LEADER_OR_FOLLOWER").then(|| p.parse::<usize>().ok()).flatten()
            });
            if let Some(slot) = partition.and_then(|p| REFUSED.get()?.get(p)) {
                slot.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert((now, wall));
            }
        }
        if r.level() <= *PRINT.get().unwrap_or(&log::LevelFilter::Warn) {
            eprintln!("{wall} {} {}: {}", r.level(), r.target(), r.args());
        }
    }
    fn flush(&self) {}
}

/// One partition's acknowledgements as they come back (on the sender thread).
#[derive(Default)]
struct Acks {
    last: Option<Stamp>,
    longest: Duration,
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    static LOGGER: Stderr = Stderr;
    let _ = TOPIC.set(args.topic.clone());
    let _ = PRINT.set(args.log_level);
    if log::set_logger(&LOGGER).is_ok() {
        // Warnings always reach the logger (the refusals are read from them); it prints what
        // --log-level asks for.
        log::set_max_level(args.log_level.max(log::LevelFilter::Warn));
    }
    let mut cfg = ProducerConfig::new(&args.bootstrap);
    for (k, v) in &args.props {
        if let Err(e) = cfg.set(k, v) {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    }
    let producer = match Producer::new(cfg) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("cannot start the producer: {e}");
            return ExitCode::FAILURE;
        }
    };
    let partitions = match producer.partitions_for(&args.topic) {
        Ok(p) if !p.is_empty() => p.len() as i32,
        Ok(_) => {
            eprintln!("topic {} has no partitions", args.topic);
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("topic {}: {e}", args.topic);
            return ExitCode::FAILURE;
        }
    };
    let acks: Arc<Vec<Mutex<Acks>>> = Arc::new((0..partitions).map(|_| Mutex::default()).collect());
    let _ = REFUSED.set((0..partitions).map(|_| Mutex::new(None)).collect());
    let failed = Arc::new(Mutex::new(0u64));
    let topic: Arc<str> = args.topic.as_str().into();
    let start = Instant::now();
    let total = args.rate * args.seconds;
    let value = vec![b'x'; 100];
    for n in 0..total {
        let due = start + Duration::from_micros(n * 1_000_000 / args.rate);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let partition = (n % partitions as u64) as i32;
        let (acks, failed, gap) = (acks.clone(), failed.clone(), args.gap);
        let record = ProducerRecord::new(&topic, value.clone()).partition(partition);
        let sent = producer.send_with_callback(record, move |r| {
            if r.is_err() {
                *failed.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                return;
            }
            let (now, wall) = (Instant::now(), wall_ms());
            let refused = REFUSED.get().and_then(|r| r[partition as usize].lock().ok()?.take());
            if let Some((at, at_wall)) = refused {
                let ms = now.duration_since(at).as_secs_f64() * 1e3;
                println!("moved partition={partition} refused_ms={at_wall} acked_ms={wall} ms={ms:.1}");
            }
            let mut a = acks[partition as usize].lock().unwrap_or_else(|e| e.into_inner());
            if let Some((last, last_wall)) = a.last {
                let d = now.duration_since(last);
                if d > gap {
                    println!(
                        "gap partition={partition} start_ms={last_wall} end_ms={wall} gap_ms={:.1}",
                        d.as_secs_f64() * 1e3
                    );
                }
                a.longest = a.longest.max(d);
            }
            a.last = Some((now, wall));
        });
        if let Err(e) = sent {
            eprintln!("send refused: {e}");
            return ExitCode::FAILURE;
        }
    }
    if let Err(e) = producer.flush() {
        eprintln!("flush: {e}");
    }
    let m = producer.metrics();
    producer.close(Duration::from_secs(10));
    let longest: Vec<String> = acks
        .iter()
        .map(|a| format!("{:.1}", a.lock().unwrap_or_else(|e| e.into_inner()).longest.as_secs_f64() * 1e3))
        .collect();
    let failed = *failed.lock().unwrap_or_else(|e| e.into_inner());
    println!(
        "{{\"records\":{total},\"failed\":{failed},\"retries\":{},\"longest_gap_ms\":[{}]}}",
        m.retries,
        longest.join(",")
    );
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
