//! `ringkafka-mock`: a mock Kafka cluster on loopback TCP (the crate's [`MockServer`]) for trying
//! clients without a broker. Prints the bootstrap address on stdout, then runs until killed.
//!
//! ```text
//! ringkafka-mock [--brokers N] [--topic NAME[:PARTITIONS]]... [--chaos SEED:PROBABILITY]
//! ```
//! Topics default to `perf:3`. `--chaos` injects random faults (delays, dropped connections
//! before/after applying a request, throttles, retriable errors, leader moves).
#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::Duration;

use ringkafka::mock::{Chaos, MockServer};

const USAGE: &str =
    "usage: ringkafka-mock [--brokers N] [--topic NAME[:PARTITIONS]]... [--chaos SEED:PROBABILITY]";

fn main() -> ExitCode {
    let mut brokers = 1usize;
    let mut topics: Vec<(String, i32)> = Vec::new();
    let mut chaos = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let r: Result<(), String> = (|| {
            match flag.as_str() {
                "--brokers" => brokers = value()?.parse().map_err(|e| format!("--brokers: {e}"))?,
                "--topic" => {
                    let v = value()?;
                    let (name, p) = v.split_once(':').unwrap_or((&v, "3"));
                    let p: i32 = p.parse().map_err(|e| format!("--topic {v}: {e}"))?;
                    if name.is_empty() || p < 1 {
                        return Err(format!("--topic {v}: a name and at least one partition are needed"));
                    }
                    topics.push((name.to_string(), p));
                }
                "--chaos" => {
                    let v = value()?;
                    let (s, p) = v.split_once(':').ok_or("--chaos SEED:PROBABILITY")?;
                    let seed = s.parse().map_err(|e| format!("--chaos seed: {e}"))?;
                    let p: f64 = p.parse().map_err(|e| format!("--chaos probability: {e}"))?;
                    chaos = Some(Chaos::new(seed, p));
                }
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => return Err(format!("unknown flag {other}")),
            }
            Ok(())
        })();
        if let Err(e) = r {
            eprintln!("ringkafka-mock: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    }
    if brokers == 0 {
        eprintln!("ringkafka-mock: --brokers must be at least 1");
        return ExitCode::from(2);
    }
    if topics.is_empty() {
        topics.push(("perf".into(), 3));
    }
    let server = match MockServer::start(brokers) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ringkafka-mock: cannot listen: {e}");
            return ExitCode::FAILURE;
        }
    };
    {
        let mut c = server.cluster();
        for (t, p) in &topics {
            c.create_topic(t, *p);
        }
        c.set_chaos(chaos);
    }
    println!("{}", server.bootstrap());
    let names: Vec<String> = topics.iter().map(|(t, p)| format!("{t}:{p}")).collect();
    eprintln!("ringkafka-mock: {brokers} broker(s), topics {}; Ctrl-C to stop", names.join(" "));
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
