//! Producer benchmarks: what `send` costs the calling thread, the app→sender hand-off, murmur2,
//! and a send→ack round trip. The sink is the embedded mock cluster on loopback (set to count
//! batches, not keep them), so these need no broker.
//!
//! `cargo bench --bench producer` (add `-- --quick` on a busy machine).

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringkafka::internals::io::Driver;
use ringkafka::internals::partitioner::murmur2;
use ringkafka::mock::MockServer;
use ringkafka::{Producer, ProducerConfig, ProducerRecord, SenderCpu};

/// A producer as configured by default: its sender pinned to the last CPU.
fn producer(server: &MockServer) -> Producer {
    Producer::new(ProducerConfig::new(&server.bootstrap())).expect("producer")
}

fn mock() -> MockServer {
    let server = MockServer::with_topics(1, &[("bench", 3)]).expect("mock cluster");
    server.cluster().set_retain_records(false);
    server
}

/// Outcomes counted by `send/callback_100B`'s callbacks.
static CALLBACKS: AtomicU64 = AtomicU64::new(0);

/// What `send_and_forget` of a 100-byte record costs the calling thread, on 1 and 2 threads,
/// and what `send_with_callback` costs with a small callback (one counter), on 1 thread. The
/// topic is an `Arc<str>`, except in `forget_100B_str_topic`, which names it by a `&str`.
/// Sends are timed in bursts shorter than the queue to the sender, with a flush (untimed)
/// between bursts, so the number is the caller's cost, not the sink's throughput. The sending
/// threads live through all the bursts of a measurement (a thread started per burst would time
/// its cold start too). Allocating the value is included: every real caller pays it.
///
/// Placement is fixed, so that every run times the same thing: the hand-off between two cores.
/// The sender is pinned to the last CPU (the default), and so are the mock cluster's threads,
/// standing in for a broker on another machine; sending thread `k` is pinned to CPU `k`. Left
/// to the scheduler, the caller sometimes shared a core with the sender or the mock and
/// sometimes not, and runs of one binary differed by 2×.
fn send_cost(c: &mut Criterion) {
    const BURST: u64 = 2048;
    // The mock cluster's threads (and the main thread) start on the sender's CPU, the last
    // one, and a single sending thread gets CPU 0 to itself: see the doc comment.
    let cpus = ringkafka::internals::io::affinity::allowed_cpus().expect("allowed CPUs");
    let _ = ringkafka::internals::io::affinity::pin_current_thread(*cpus.last().expect("a CPU"));
    let server = mock();
    let p = producer(&server);
    let topic: Arc<str> = "bench".into();
    // Warm up: metadata, producer id, connections.
    p.send(ProducerRecord::new(&topic, vec![0u8; 100])).unwrap().wait().unwrap();
    let mut g = c.benchmark_group("send");
    g.throughput(Throughput::Elements(1));
    for (name, threads) in
        [("forget_100B", 1u64), ("forget_100B", 2), ("callback_100B", 1), ("forget_100B_str_topic", 1)]
    {
        let with_callback = name == "callback_100B";
        let str_topic = name == "forget_100B_str_topic";
        g.bench_with_input(BenchmarkId::new(name, threads), &threads, |b, &threads| {
            b.iter_custom(|iters| {
                let bursts = iters.div_ceil(BURST);
                let per = BURST.div_ceil(threads);
                // Each thread times its own bursts; their mean is the per-caller cost.
                let start_burst = Barrier::new(threads as usize + 1);
                let end_burst = Barrier::new(threads as usize + 1);
                let spent: Duration = std::thread::scope(|s| {
                    let handles: Vec<_> = (0..threads as usize)
                        .map(|k| {
                            let (p, topic, cpus) = (p.clone(), topic.clone(), &cpus);
                            let (start_burst, end_burst) = (&start_burst, &end_burst);
                            s.spawn(move || {
                                let _ = ringkafka::internals::io::affinity::pin_current_thread(
                                    cpus[k % cpus.len()],
                                );
                                let mut total = Duration::ZERO;
                                for _ in 0..bursts {
                                    start_burst.wait();
                                    let start = Instant::now();
                                    for i in 0..per {
                                        let record = if str_topic {
                                            // The usual way to name a topic.
                                            ProducerRecord::new("bench", vec![7u8; 100])
                                        } else {
                                            ProducerRecord::new(&topic, vec![7u8; 100])
                                        };
                                        if with_callback {
                                            // Captures two words, as a real callback would
                                            // (a closure that captures nothing is never boxed).
                                            let (counter, n) = (&CALLBACKS, i);
                                            p.send_with_callback(record, move |r| {
                                                if r.is_ok() && n != u64::MAX {
                                                    counter.fetch_add(1, Ordering::Relaxed);
                                                }
                                            })
                                            .unwrap();
                                        } else {
                                            p.send_and_forget(record).unwrap();
                                        }
                                    }
                                    total += start.elapsed();
                                    end_burst.wait();
                                }
                                total
                            })
                        })
                        .collect();
                    for _ in 0..bursts {
                        start_burst.wait();
                        end_burst.wait();
                        p.flush().unwrap();
                    }
                    handles.into_iter().map(|h| h.join().unwrap()).sum::<Duration>() / threads as u32
                });
                spent.mul_f64(iters as f64 / (bursts * per) as f64)
            })
        });
    }
    g.finish();
}

/// The hand-off mechanism alone: a message pushed into a bounded queue by one thread while the
/// receiver is parked in io_uring, until the receiver holds it.
fn handoff(c: &mut Criterion) {
    c.bench_function("handoff_parked_sender", |b| {
        b.iter_custom(|iters| {
            let (tx, rx) = crossbeam_channel::bounded::<Instant>(1024);
            let (done_tx, done_rx) = crossbeam_channel::bounded::<Duration>(1024);
            let mut driver = Driver::new(8).unwrap();
            let waker = driver.waker();
            let receiver = std::thread::spawn(move || {
                let mut events = Vec::new();
                for _ in 0..iters {
                    loop {
                        if let Ok(t) = rx.try_recv() {
                            done_tx.send(t.elapsed()).unwrap();
                            break;
                        }
                        driver.prepare_park();
                        if !rx.is_empty() {
                            driver.cancel_park();
                            continue;
                        }
                        driver.poll(Some(Duration::from_millis(100)), &mut events).unwrap();
                    }
                }
            });
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // Give the receiver time to park, as a sender idle between records would.
                std::thread::sleep(Duration::from_micros(50));
                tx.send(Instant::now()).unwrap();
                waker.wake();
                total += done_rx.recv().unwrap();
            }
            receiver.join().unwrap();
            total
        })
    });
}

fn murmur2_bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("murmur2");
    for len in [16usize, 100] {
        let key = vec![0x5au8; len];
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_with_input(BenchmarkId::from_parameter(len), &key, |b, k| b.iter(|| murmur2(black_box(k))));
    }
    g.finish();
}

/// One record at a time, linger.ms=0: send, then wait for the mock's ack.
fn round_trip(c: &mut Criterion) {
    let server = mock();
    let cfg = ProducerConfig::new(&server.bootstrap()).sender_cpu(SenderCpu::Unpinned).linger(Duration::ZERO);
    let p = Producer::new(cfg).unwrap();
    let topic: Arc<str> = "bench".into();
    p.send(ProducerRecord::new(&topic, vec![0u8; 100])).unwrap().wait().unwrap();
    c.bench_function("send_ack_round_trip_mock_linger0", |b| {
        b.iter(|| p.send(ProducerRecord::new(&topic, vec![1u8; 100])).unwrap().wait().unwrap())
    });
}

criterion_group!(benches, send_cost, handoff, murmur2_bench, round_trip);
criterion_main!(benches);
