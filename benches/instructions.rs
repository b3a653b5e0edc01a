//! What one record costs, in instructions and allocations: `send()` on the caller's thread, and
//! the sender thread's work for it (taking it, batching it, the Produce request, the response,
//! the completion), on a whole producer driven by one thread with no ring
//! (`ringkafka::harness::Pipeline`), so that the counts repeat exactly on a busy machine.
//!
//! Instructions need callgrind: `tools/perf/instr.sh` runs this binary under it, with
//! collection on only inside [`measured_send`] and [`measured_turn`], and divides their
//! inclusive counts by the records. Alone, the binary prints allocations and frees per record
//! on either side (a counting allocator):
//!
//! ```text
//! cargo bench --features internals --bench instructions -- [--api forget|callback|future]
//!     [--records N] [--record-size BYTES] [--burst N] [--partitions N]
//! ```
//!
//! The workload is `ringkafka-perf`'s: null keys, values of `--record-size` bytes, one topic of 3
//! partitions, the default configuration with `linger.ms=5` (acks=all, idempotence). The caller
//! sends `--burst` records, then the sender runs turns until its queue is empty (as a sender
//! that keeps up with a fast caller); 0.1 ms of virtual time passes per turn. Warm-up records
//! (metadata, producer id, buffers for reuse) are sent and completed first and not counted.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ringkafka::internals::harness::Pipeline;
use ringkafka::internals::io::alloc_count::CountingAllocator;
use ringkafka::{DeliveryFuture, DeliveryResult, Producer, ProducerConfig, ProducerRecord};

/// Counts allocations and frees per phase: 0 not counted; [`SEND`]: `send`; [`TURN`]: the
/// sender's turn.
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator::new();
const SEND: usize = 1;
const TURN: usize = 2;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Api {
    Forget,
    Callback,
    Future,
}

/// Outcomes the callbacks saw.
static DELIVERED: AtomicU64 = AtomicU64::new(0);

/// The user's callback: what `--api callback` costs beyond the producer (counted apart, so the
/// sender's count can leave it out).
#[inline(never)]
fn user_callback(r: DeliveryResult) {
    if r.is_ok() {
        DELIVERED.fetch_add(1, Ordering::Relaxed);
    }
}

/// One `send` as the application makes it; the only function whose instructions count as
/// `send()`'s.
#[inline(never)]
fn measured_send(p: &Producer, record: ProducerRecord<Vec<u8>, Vec<u8>>, api: Api) -> Option<DeliveryFuture> {
    match api {
        Api::Forget => {
            p.send_and_forget(record).expect("send");
            None
        }
        Api::Callback => {
            // Captures nothing, as the callback of a real application that counts outcomes in
            // a static; the closure adds a call to `user_callback`.
            p.send_with_callback(record, user_callback).expect("send");
            None
        }
        Api::Future => Some(p.send(record).expect("send")),
    }
}

#[inline(never)]
fn warmup_send(p: &Producer, record: ProducerRecord<Vec<u8>, Vec<u8>>) {
    p.send_with_callback(record, user_callback).expect("send");
}

/// One sender turn; the only function whose instructions count as the sender's.
#[inline(never)]
fn measured_turn(pipe: &mut Pipeline) {
    pipe.turn();
    // Distinct from `warmup_turn`, which the linker would otherwise fold into this one.
    black_box(1);
}

#[inline(never)]
fn warmup_turn(pipe: &mut Pipeline) {
    pipe.turn();
    black_box(2);
}

struct Opts {
    api: Api,
    records: u64,
    record_size: usize,
    burst: u64,
    partitions: i32,
}

fn parse() -> Opts {
    let mut o = Opts { api: Api::Callback, records: 200_000, record_size: 100, burst: 1000, partitions: 3 };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| panic!("{a} needs a value"));
        match a.as_str() {
            "--api" => {
                o.api = match val().as_str() {
                    "forget" => Api::Forget,
                    "callback" => Api::Callback,
                    "future" => Api::Future,
                    other => panic!("--api forget|callback|future, not {other}"),
                }
            }
            "--records" => o.records = val().parse().expect("--records N"),
            "--record-size" => o.record_size = val().parse().expect("--record-size BYTES"),
            "--burst" => o.burst = val().parse().expect("--burst N"),
            "--partitions" => o.partitions = val().parse().expect("--partitions N"),
            // `cargo bench` passes --bench; anything else is a mistake.
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    o
}

fn main() {
    let o = parse();
    let cfg = ProducerConfig::default().linger(Duration::from_millis(5));
    let mut pipe = Pipeline::new(cfg, "bench", o.partitions, Duration::from_micros(100));
    let producer = pipe.producer.clone();
    let topic: Arc<str> = "bench".into();
    let value = |i: u64| {
        let mut v = vec![b'A' + (i % 26) as u8; o.record_size];
        v[0] = b'v';
        v
    };
    // Warm-up: metadata, producer id, the engine's buffers for reuse, the spent buffers' cycle.
    for round in 0..20u64 {
        for i in 0..o.burst {
            warmup_send(&producer, ProducerRecord::new(&topic, value(round * o.burst + i)));
        }
        while pipe.queued() {
            warmup_turn(&mut pipe);
            pipe.network();
        }
    }
    pipe.run_until_idle(warmup_turn);
    let warm = pipe.broker_records("bench");

    let mut futures: Vec<DeliveryFuture> =
        Vec::with_capacity(if o.api == Api::Future { o.records as usize } else { 0 });
    let mut sent = 0u64;
    while sent < o.records {
        let n = o.burst.min(o.records - sent);
        for i in 0..n {
            let record = ProducerRecord::new(&topic, value(sent + i));
            ALLOCATOR.set_phase(SEND);
            let f = measured_send(&producer, record, o.api);
            ALLOCATOR.set_phase(0);
            if let Some(f) = f {
                futures.push(f);
            }
        }
        sent += n;
        while pipe.queued() {
            ALLOCATOR.set_phase(TURN);
            measured_turn(&mut pipe);
            ALLOCATOR.set_phase(0);
            pipe.network();
        }
    }
    pipe.run_until_idle(|p| {
        ALLOCATOR.set_phase(TURN);
        measured_turn(p);
        ALLOCATOR.set_phase(0);
    });
    let delivered = pipe.broker_records("bench") - warm;
    assert_eq!(delivered as u64, o.records, "every measured record reached the broker");
    for f in futures.drain(..) {
        black_box(f.wait().expect("delivered"));
    }
    let per = |n: u64| n as f64 / o.records as f64;
    println!(
        "records {} api {:?} record-size {} burst {}: per record, send(): {:.3} allocs {:.3} frees; \
         sender: {:.3} allocs {:.3} frees",
        o.records,
        o.api,
        o.record_size,
        o.burst,
        per(ALLOCATOR.allocations(SEND)),
        per(ALLOCATOR.frees(SEND)),
        per(ALLOCATOR.allocations(TURN)),
        per(ALLOCATOR.frees(TURN)),
    );
}
