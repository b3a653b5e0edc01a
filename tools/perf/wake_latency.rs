//! `ringkafka-wake-latency`: what this machine charges to wake a sleeping thread, with no Kafka
//! in it. One thread sleeps `--gap-us` (as a paced sender does), then wakes a second, parked
//! thread and waits until that one wakes it back (`std::thread::park`/`unpark`, futexes). It
//! prints the round trip's percentiles: two cross-thread wake-ups, the least a record costs
//! between an application thread and a sender thread, before any network or broker.
//!
//! `cargo run --release --bin ringkafka-wake-latency -- [--samples N] [--gap-us US]`

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name} takes a number")))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let samples = arg(&args, "--samples", 20_000);
    let gap = Duration::from_micros(arg(&args, "--gap-us", 50));
    // `turn` counts hand-offs: odd = the echo thread's move, even = the main thread's.
    let turn = Arc::new(AtomicU64::new(0));
    let main_thread = std::thread::current();
    let echo = {
        let turn = turn.clone();
        std::thread::spawn(move || {
            let mut seen = 0;
            loop {
                while turn.load(Ordering::Acquire) == seen {
                    std::thread::park();
                }
                seen = turn.load(Ordering::Acquire);
                if seen == u64::MAX {
                    return;
                }
                seen += 1;
                turn.store(seen, Ordering::Release);
                main_thread.unpark();
            }
        })
    };
    let mut h = Histogram::<u64>::new(3).expect("histogram");
    for i in 0..samples {
        std::thread::sleep(gap);
        let start = Instant::now();
        turn.store(2 * i + 1, Ordering::Release);
        echo.thread().unpark();
        while turn.load(Ordering::Acquire) != 2 * i + 2 {
            std::thread::park();
        }
        let _ = h.record(start.elapsed().as_nanos() as u64);
    }
    turn.store(u64::MAX, Ordering::Release);
    echo.thread().unpark();
    let _ = echo.join();
    let us = |q: f64| h.value_at_quantile(q) as f64 / 1e3;
    println!(
        "wake-up round trip ({samples} samples, {} µs apart): p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs",
        gap.as_micros(),
        us(0.5),
        us(0.99),
        us(0.999),
        h.max() as f64 / 1e3
    );
}
