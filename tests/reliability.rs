//! The reliability suite: the real producer (io_uring sender thread) against the TCP mock
//! cluster (`ringkafka::mock::MockServer`) while faults fire. Every record carries its id in
//! its value, so the mock's log can be checked record by record: nothing lost, nothing
//! duplicated, order kept per partition, every callback once, offsets true.
//!
//! Deterministic seeds: `RINGKAFKA_SEED=N` replays a run (a failing run prints its seed; the
//! request interleaving over TCP is not exactly reproducible, the fault sequence is).
//! `RINGKAFKA_SOAK=1`: 1,000,000 records under chaos and a 60 s load run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringkafka::internals::mock::{MockClusterInternals, MockServerInternals, SplitMix64, StoredBatch};
use ringkafka::mock::{Api, Chaos, Fault, Hostile, MockServer};
use ringkafka::ErrorCode;
use ringkafka::{
    DeliveryResult, IdleStrategy, ProduceError, Producer, ProducerConfig, ProducerRecord, SendError,
};

fn soak() -> bool {
    std::env::var("RINGKAFKA_SOAK").is_ok_and(|v| v == "1")
}

/// The tests run one at a time: the load test reads the process's RSS, and every test wants
/// the two cores to itself for its timings.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The seed of this run; printed if the test fails.
struct Seed(u64);

impl Seed {
    fn new(default: u64) -> Seed {
        let s = std::env::var("RINGKAFKA_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
        eprintln!("seed {s} (replay with RINGKAFKA_SEED={s})");
        Seed(s)
    }
}

impl Drop for Seed {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("FAILED with seed {} (replay with RINGKAFKA_SEED={})", self.0, self.0);
        }
    }
}

/// Counts warnings logged by the producer, to check that hostile input is reported.
struct CountingLogger;
static WARNINGS: AtomicU64 = AtomicU64::new(0);

impl log::Log for CountingLogger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record) {
        if r.level() <= log::Level::Warn && r.target().starts_with("ringkafka::engine") {
            WARNINGS.fetch_add(1, Ordering::Relaxed);
        }
    }
    fn flush(&self) {}
}

fn init_logger() {
    static L: CountingLogger = CountingLogger;
    if log::set_logger(&L).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
}

fn config(server: &MockServer) -> ProducerConfig {
    ProducerConfig::new(&server.bootstrap())
        .sender_cpu(ringkafka::SenderCpu::Unpinned)
        .idempotence(true)
        .linger(Duration::from_millis(2))
        .request_timeout(Duration::from_secs(3))
        .delivery_timeout(Duration::from_secs(120))
        .retry_backoff(Duration::from_millis(10), Duration::from_millis(200))
}

/// Outcomes by record id; a second callback for one id is counted, not stored.
#[derive(Clone, Default)]
struct Outcomes {
    map: Arc<Mutex<HashMap<u64, DeliveryResult>>>,
    repeats: Arc<AtomicU64>,
}

impl Outcomes {
    fn callback(&self, id: u64) -> impl FnOnce(DeliveryResult) + Send + 'static {
        let (map, repeats) = (self.map.clone(), self.repeats.clone());
        move |r| {
            if map.lock().unwrap().insert(id, r).is_some() {
                repeats.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    fn take(&self) -> HashMap<u64, DeliveryResult> {
        std::mem::take(&mut *self.map.lock().unwrap())
    }
}

fn value(id: u64, pad: usize) -> Vec<u8> {
    let mut v = id.to_be_bytes().to_vec();
    v.resize(8 + pad, b'x');
    v
}

fn id_of(v: &[u8]) -> u64 {
    u64::from_be_bytes(v[..8].try_into().unwrap())
}

/// Keyed (half of them, 64 keys) and null-key records.
fn record(topic: &str, id: u64) -> ProducerRecord<Vec<u8>, Vec<u8>> {
    let r = ProducerRecord::new(topic, value(id, 24));
    if id % 2 == 0 {
        r.key(format!("key-{}", id % 64).into_bytes())
    } else {
        r
    }
}

/// For a failure message: the batches of `log` whose base offset is within `within` of one of
/// `offsets`, a line each.
fn batches_near(log: &[StoredBatch], offsets: &[i64], within: i64) -> String {
    let lines: Vec<String> = log
        .iter()
        .filter(|b| offsets.iter().any(|o| (b.base_offset - o).abs() < within))
        .map(|b| {
            format!(
                "off {} epoch {} seq {} n {} first id {}",
                b.base_offset,
                b.batch.producer_epoch,
                b.batch.base_sequence,
                b.batch.records.len(),
                b.batch.records.first().and_then(|r| r.value.as_deref()).map_or(0, id_of)
            )
        })
        .collect();
    lines.join("\n")
}

/// What the mock stored for `topic`: id -> (partition, offset), checking per partition that no
/// id repeats and that ids increase (one sending thread, so send order is id order).
fn stored(server: &MockServer, topic: &str) -> HashMap<u64, (i32, i64)> {
    let c = server.cluster();
    let mut out = HashMap::new();
    for p in 0..c.partitions(topic).unwrap() {
        let mut last = None;
        for (off, _, v) in c.records(topic, p) {
            let id = id_of(&v.expect("a value"));
            if let Some(first) = out.insert(id, (p, off)) {
                panic!(
                    "id {id} stored twice ({first:?}, again at {p}/{off}); batches:\n{}",
                    batches_near(c.log(topic, p), &[first.1, off], 600)
                );
            }
            if let Some(l) = last {
                if id < l {
                    panic!(
                        "partition {p}: id {id} at offset {off} after id {l}: order broken\n{}",
                        batches_near(c.log(topic, p), &[off], 800)
                    );
                }
            }
            last = Some(id);
        }
    }
    out
}

/// Every id in `ids` was acknowledged once, at the partition and offset the mock stored it.
fn assert_all_delivered(server: &MockServer, topic: &str, o: &Outcomes, n: u64) -> HashMap<u64, (i32, i64)> {
    let outcomes = o.take();
    assert_eq!(o.repeats.load(Ordering::Relaxed), 0, "callbacks fired more than once");
    let log = stored(server, topic);
    let mut lost = 0;
    for id in 0..n {
        match outcomes.get(&id) {
            Some(Ok(md)) => {
                let at =
                    log.get(&id).unwrap_or_else(|| panic!("id {id} acknowledged at {md:?} but not stored"));
                assert_eq!((md.partition, md.offset), *at, "id {id}: RecordMetadata disagrees with the log");
            }
            Some(Err(e)) => panic!("id {id} failed: {e}"),
            None => lost += 1,
        }
    }
    assert_eq!(lost, 0, "{lost} records got no callback");
    assert_eq!(log.len() as u64, n, "the log holds records nobody sent");
    log
}

/// Takes a random broker down for a random while, now and then, until `stop`.
fn bouncer(
    server: &MockServer,
    seed: u64,
    stop: Arc<AtomicBool>,
    bounces: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    let cluster = server.cluster_handle();
    let brokers = server.cluster().broker_count() as u64;
    std::thread::spawn(move || {
        let mut rng = SplitMix64::new(seed ^ 0xb0b0);
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100 + rng.below(300)));
            let node = rng.below(brokers) as i32;
            cluster.lock().unwrap().set_broker_up(node, false);
            bounces.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(20 + rng.below(200)));
            cluster.lock().unwrap().set_broker_up(node, true);
        }
    })
}

#[test]
fn chaos_of_every_fault_category_loses_and_duplicates_nothing() {
    let _serial = serial();
    let seed = Seed::new(20261127);
    let n: u64 = if soak() { 1_000_000 } else { 200_000 };
    let server = MockServer::with_topics(3, &[("chaos", 6)]).unwrap();
    let mut chaos = Chaos::new(seed.0, 0.2);
    chaos.max_delay = Duration::from_millis(30);
    server.cluster().set_chaos(Some(chaos));
    // For the first tenth of the run, message.max.bytes is below batch.size: full batches are
    // refused with MESSAGE_TOO_LARGE and must be split, while everything else goes on.
    server.cluster().set_max_batch_bytes(Some(6_000));
    let stop = Arc::new(AtomicBool::new(false));
    let bounces = Arc::new(AtomicU64::new(0));
    let b = bouncer(&server, seed.0, stop.clone(), bounces.clone());

    let producer = Producer::new(config(&server)).unwrap();
    let o = Outcomes::default();
    let t0 = Instant::now();
    for id in 0..n {
        if id == n / 10 {
            producer.flush().unwrap();
            server.cluster().set_max_batch_bytes(None);
        }
        producer.send_with_callback(record("chaos", id), o.callback(id)).unwrap();
    }
    producer.flush().unwrap();
    stop.store(true, Ordering::Relaxed);
    b.join().unwrap();
    let counts = server.cluster().set_chaos(None).map(|c| c.counts).unwrap_or_default();
    let moves = server.cluster().leader_moves();
    let too_large = server.cluster().too_large();
    let max_epoch = {
        let c = server.cluster();
        (0..6).flat_map(|p| c.log("chaos", p).iter().map(|b| b.batch.producer_epoch)).max().unwrap_or(0)
    };
    assert_all_delivered(&server, "chaos", &o, n);
    let m = producer.metrics();
    eprintln!(
        "RESULT chaos: {n} records in {:?}, lost 0, duplicated 0; faults {counts:?}, leader moves {moves}, \
         MESSAGE_TOO_LARGE {too_large}, epoch bumps {max_epoch}, \
         broker bounces {}, producer retries {}",
        t0.elapsed(),
        bounces.load(Ordering::Relaxed),
        m.retries
    );
    assert!(
        counts.len() >= 5 && bounces.load(Ordering::Relaxed) > 0,
        "not every fault category fired: {counts:?}"
    );
    producer.close(Duration::from_secs(5));
}

#[test]
fn chaos_with_fatal_errors_and_epoch_bumps_never_duplicates() {
    let _serial = serial();
    let seed = Seed::new(777);
    let n: u64 = if soak() { 300_000 } else { 60_000 };
    let server = MockServer::with_topics(3, &[("bumps", 6)]).unwrap();
    server.cluster().set_chaos(Some(Chaos::new(seed.0, 0.2)));
    let stop = Arc::new(AtomicBool::new(false));
    let bounces = Arc::new(AtomicU64::new(0));
    let b = bouncer(&server, seed.0, stop.clone(), bounces.clone());
    // Now and then a Produce request is refused with INVALID_RECORD: its batches fail for good
    // and the producer bumps its epoch while other batches' acks are being lost.
    let fatal = {
        let (cluster, stop) = (server.cluster_handle(), stop.clone());
        std::thread::spawn(move || {
            let mut rng = SplitMix64::new(seed.0 ^ 0xfa7a1);
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50 + rng.below(150)));
                cluster.lock().unwrap().push_request_errors(Api::Produce, &[ErrorCode::INVALID_RECORD]);
            }
        })
    };
    let producer = Producer::new(config(&server)).unwrap();
    let o = Outcomes::default();
    for id in 0..n {
        producer.send_with_callback(record("bumps", id), o.callback(id)).unwrap();
        if id % 1000 == 999 {
            std::thread::sleep(Duration::from_millis(5)); // spread the run over the faults
        }
    }
    producer.flush().unwrap();
    stop.store(true, Ordering::Relaxed);
    b.join().unwrap();
    fatal.join().unwrap();
    let outcomes = o.take();
    assert_eq!(o.repeats.load(Ordering::Relaxed), 0, "callbacks fired more than once");
    assert_eq!(outcomes.len() as u64, n, "every record gets an outcome");
    let log = stored(&server, "bumps"); // no id twice, order kept per partition
    let (mut ok, mut failed, mut ambiguous) = (0u64, 0u64, 0u64);
    for (id, r) in &outcomes {
        match r {
            Ok(md) => {
                ok += 1;
                assert_eq!(
                    log.get(id),
                    Some(&(md.partition, md.offset)),
                    "id {id} acknowledged but not stored there"
                );
            }
            // A failure is not proof of absence: a batch written with its ack lost, then
            // refused on the retry (here by an injected INVALID_RECORD), is stored and failed,
            // as with Java. Count those.
            Err(_) => {
                failed += 1;
                if log.contains_key(id) {
                    ambiguous += 1;
                }
            }
        }
    }
    assert_eq!(log.len() as u64, ok + ambiguous, "stored = acknowledged + failed-after-a-lost-ack");
    let max_epoch = {
        let c = server.cluster();
        (0..6).flat_map(|p| c.log("bumps", p).iter().map(|b| b.batch.producer_epoch)).max().unwrap_or(0)
    };
    eprintln!(
        "RESULT chaos + fatal errors: {n} records, {ok} acknowledged and stored once, {failed} failed ({ambiguous} of them \
         stored by an earlier attempt whose ack was lost), \
         lost 0, duplicated 0, epoch bumps {max_epoch}, broker bounces {}",
        bounces.load(Ordering::Relaxed)
    );
    assert!(max_epoch > 0 && failed > 0, "no epoch bump happened: the test did not test anything");
}

#[test]
fn retriable_errors_and_connection_loss_are_retried_in_order() {
    let _serial = serial();
    let _seed = Seed::new(1);
    let server = MockServer::with_topics(2, &[("retry", 4)]).unwrap();
    {
        let mut c = server.cluster();
        for p in 0..4 {
            c.push_produce_errors("retry", p, ringkafka::mock::RETRIABLE_PRODUCE_ERRORS);
        }
        c.push_request_faults(
            Api::Produce,
            &[
                Fault::DropBefore,
                Fault::DropAfter,
                Fault::Throttle(Duration::from_millis(100)),
                Fault::DropAfter,
            ],
        );
        c.push_request_faults(Api::Metadata, &[Fault::DropBefore, Fault::Delay(Duration::from_millis(200))]);
        c.push_request_errors(Api::InitProducerId, &[ErrorCode::COORDINATOR_NOT_AVAILABLE]);
    }
    let producer = Producer::new(config(&server)).unwrap();
    let o = Outcomes::default();
    let n = 5_000;
    for id in 0..n {
        producer.send_with_callback(record("retry", id), o.callback(id)).unwrap();
    }
    producer.flush().unwrap();
    assert_all_delivered(&server, "retry", &o, n);
    assert_eq!(server.cluster().pending_faults(Api::Produce), 0);
    let m = producer.metrics();
    assert_eq!(
        (m.throttled_responses, m.throttle_time_max_ms),
        (1, 100),
        "the throttle reached the producer"
    );
    eprintln!("RESULT retriable: {n} records, lost 0, duplicated 0, retries {}", producer.metrics().retries);
}

#[test]
fn non_retriable_errors_fail_only_the_affected_partition_at_once() {
    let _serial = serial();
    let _seed = Seed::new(2);
    let server = MockServer::with_topics(1, &[("fatal", 2)]).unwrap();
    let producer = Producer::new(config(&server)).unwrap();
    for code in
        [ErrorCode::MESSAGE_TOO_LARGE, ErrorCode::INVALID_RECORD, ErrorCode::TOPIC_AUTHORIZATION_FAILED]
    {
        server.cluster().push_produce_errors("fatal", 0, &[code]);
        let t0 = Instant::now();
        let bad = producer.send(ProducerRecord::new("fatal", b"bad".to_vec()).partition(0)).unwrap();
        let good = producer.send(ProducerRecord::new("fatal", b"good".to_vec()).partition(1)).unwrap();
        producer.flush().unwrap();
        match block(bad) {
            Err(ProduceError::Broker { code: c, .. }) => assert_eq!(c, code),
            other => panic!("{code}: expected the broker's error, got {other:?}"),
        }
        assert!(t0.elapsed() < Duration::from_secs(2), "{code} was retried instead of failing at once");
        block(good).expect("the other partition goes on");
        // The failed partition is usable again.
        let again = producer.send(ProducerRecord::new("fatal", b"again".to_vec()).partition(0)).unwrap();
        producer.flush().unwrap();
        block(again).unwrap_or_else(|e| panic!("after {code}, partition 0 is wedged: {e}"));
    }
}

/// Polls `f` to its outcome, parked between polls until its waker wakes this thread (so the
/// future's waker is exercised, not a timer); fails after 60 s.
fn block(f: ringkafka::DeliveryFuture) -> DeliveryResult {
    use std::future::Future;
    use std::task::{Context, Poll, Wake, Waker};
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut f = Box::pin(f);
    let mut cx = Context::from_waker(&waker);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Poll::Ready(r) = f.as_mut().poll(&mut cx) {
            return r;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no outcome within 60 s");
        std::thread::park_timeout(left);
    }
}

#[test]
fn sequence_errors_recover_by_epoch_bump_without_loss() {
    let _serial = serial();
    let _seed = Seed::new(3);
    let server = MockServer::with_topics(1, &[("seq", 2)]).unwrap();
    let producer = Producer::new(config(&server)).unwrap();
    let o = Outcomes::default();
    let phase = |from: u64, to: u64| {
        for id in from..to {
            producer.send_with_callback(record("seq", id), o.callback(id)).unwrap();
        }
        producer.flush().unwrap();
        let got = o.take();
        assert_eq!(got.len() as u64, to - from, "every record gets one outcome");
        got
    };
    let all_ok = |phase: &str, got: &HashMap<u64, DeliveryResult>| {
        let failed: Vec<_> = got.iter().filter(|(_, r)| r.is_err()).collect();
        assert!(failed.is_empty(), "{phase}: {} failed, e.g. {:?}", failed.len(), failed.first());
    };
    all_ok("before", &phase(0, 1_000));
    // The broker forgets every producer (as after log truncation): UNKNOWN_PRODUCER_ID, epoch
    // bump, resequence, retry; nothing fails.
    server.cluster().forget_producers();
    all_ok("after the broker forgot the producer", &phase(1_000, 2_000));
    // A spurious OUT_OF_ORDER_SEQUENCE_NUMBER on partition 0 for the batch the broker expects
    // next (a real gap: as Java, the epoch is bumped and that batch retried; the batches in
    // flight behind it, refused as out of sequence, are retried after it) and
    // UNKNOWN_PRODUCER_ID on partition 1 (retried after a bump). Nothing fails.
    server.cluster().push_produce_errors("seq", 0, &[ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER]);
    server.cluster().push_produce_errors("seq", 1, &[ErrorCode::UNKNOWN_PRODUCER_ID]);
    all_ok("after the sequence errors", &phase(2_000, 3_000));
    // The producer is not wedged: everything after goes through.
    all_ok("after that", &phase(3_000, 4_000));
    let log = stored(&server, "seq");
    assert_eq!(log.len() as u64, 4_000, "stored = acknowledged");
    assert_eq!(o.repeats.load(Ordering::Relaxed), 0);
    eprintln!(
        "RESULT sequence errors: 4000 records, 0 failed (injected OUT_OF_ORDER_SEQUENCE_NUMBER retried after \
         an epoch bump), lost 0, duplicated 0"
    );
}

#[test]
fn fresh_partitions_on_a_broker_that_takes_any_first_sequence_lose_nothing() {
    // Apache Kafka 2.5 to 4.4 accept any first sequence from a producer a partition has no state
    // for, and a just created partition answers NOT_LEADER_OR_FOLLOWER until it is up. A batch
    // pipelined behind the partition's first one could then be written before it, after which
    // the first one is OUT_OF_ORDER_SEQUENCE_NUMBER for good: seen against Kafka 4.4.0 right
    // after topic creation (KAFKA-15591).
    let _serial = serial();
    let _seed = Seed::new(6);
    let server = MockServer::with_topics(2, &[]).unwrap();
    server.cluster().set_accept_any_first_sequence(true);
    let producer = Producer::new(config(&server)).unwrap();
    let n = 5_000;
    for round in 0..4 {
        let topic = format!("fresh-{round}");
        {
            let mut c = server.cluster();
            c.create_topic(&topic, 6);
            for p in 0..6 {
                let first = if (p + round) % 2 == 0 {
                    ErrorCode::NOT_LEADER_OR_FOLLOWER
                } else {
                    ErrorCode::LEADER_NOT_AVAILABLE
                };
                c.push_produce_errors(&topic, p, &[first, ErrorCode::NOT_LEADER_OR_FOLLOWER]);
            }
        }
        let o = Outcomes::default();
        for id in 0..n {
            producer.send_with_callback(record(&topic, id), o.callback(id)).unwrap();
        }
        producer.flush().unwrap();
        assert_all_delivered(&server, &topic, &o, n);
        let first_seqs: Vec<i32> = {
            let c = server.cluster();
            (0..6).filter_map(|p| c.log(&topic, p).first().map(|b| b.batch.base_sequence)).collect()
        };
        assert!(
            first_seqs.iter().all(|s| *s == 0),
            "{topic}: a partition's log starts past 0: {first_seqs:?}"
        );
    }
    eprintln!(
        "RESULT fresh partitions: 4 topics x {n} records, lost 0, duplicated 0, retries {}",
        producer.metrics().retries
    );
}

#[test]
fn silent_broker_expires_every_record_once_then_producer_recovers() {
    let _serial = serial();
    let _seed = Seed::new(4);
    let server = MockServer::with_topics(1, &[("silent", 3)]).unwrap();
    let cfg = config(&server)
        .linger(Duration::from_millis(5))
        .request_timeout(Duration::from_millis(500))
        .delivery_timeout(Duration::from_millis(1500));
    let producer = Producer::new(cfg).unwrap();
    let first = producer.send(record("silent", 0)).unwrap();
    producer.flush().unwrap();
    block(first).expect("warm-up");
    let available = producer.metrics().buffer_available_bytes;

    // The broker applies requests but never answers (then, after its connections are cut,
    // answers nothing at all): records in flight mid-sequence expire.
    server.cluster().set_rtt(0, Duration::from_secs(3600));
    let o = Outcomes::default();
    let n = 2_000u64;
    let t0 = Instant::now();
    for id in 1..=n {
        producer.send_with_callback(record("silent", id), o.callback(id)).unwrap();
    }
    producer.flush().unwrap();
    let outcomes = o.take();
    assert_eq!(outcomes.len() as u64, n, "every record gets an outcome");
    assert_eq!(o.repeats.load(Ordering::Relaxed), 0, "one callback per record");
    for (id, r) in &outcomes {
        match r {
            Err(ProduceError::DeliveryTimeout { .. }) => {}
            other => panic!("id {id}: expected a delivery timeout, got {other:?}"),
        }
    }
    assert!(t0.elapsed() < Duration::from_secs(10), "expiry took {:?}", t0.elapsed());
    assert_eq!(producer.metrics().buffer_available_bytes, available, "buffer memory is released");

    server.cluster().set_rtt(0, Duration::ZERO);
    let o = Outcomes::default();
    for id in n + 1..=n + 1000 {
        producer.send_with_callback(record("silent", id), o.callback(id)).unwrap();
    }
    producer.flush().unwrap();
    let outcomes = o.take();
    let failed: Vec<_> = outcomes.iter().filter(|(_, r)| r.is_err()).collect();
    assert!(failed.is_empty(), "after the broker came back: {:?}", failed.first());
    assert_eq!(outcomes.len(), 1000);
    eprintln!("RESULT silent broker: {n} records expired once each, 1000 delivered after recovery");
}

/// `send` blocks for `max.block.ms` and then fails with `BufferExhausted` while the memory is
/// held by records a silent broker has not answered. On a real broker the memory can only be
/// held by records for a missing topic, and those are released after `max.block.ms` too, so
/// whether a blocked `send` times out there is a race (see producer_tansu's buffer test).
#[test]
fn buffer_exhausted_after_max_block_while_a_silent_broker_holds_the_memory() {
    let _serial = serial();
    let server = MockServer::with_topics(1, &[("held", 1)]).unwrap();
    let cfg = config(&server)
        .buffer_memory(64 * 1024)
        .max_request_size(60 * 1024)
        .max_block(Duration::from_millis(300))
        .request_timeout(Duration::from_millis(1000))
        .delivery_timeout(Duration::from_secs(30))
        .linger(Duration::ZERO);
    let producer = Producer::new(cfg).unwrap();
    block(producer.send(ProducerRecord::new("held", vec![0u8; 10])).unwrap()).expect("warm-up");

    server.cluster().set_rtt(0, Duration::from_secs(3600));
    let o = Outcomes::default();
    let mut accepted = 0u64;
    let (err, blocked) = loop {
        let started = Instant::now();
        match producer
            .send_with_callback(ProducerRecord::new("held", vec![1u8; 10_000]), o.callback(accepted))
        {
            Ok(()) => accepted += 1,
            Err(e) => break (e, started.elapsed()),
        }
        assert!(accepted <= 6, "64 KiB took more than six records of 10 KB");
    };
    assert!(matches!(err, SendError::BufferExhausted { .. }), "{err:?}");
    assert!(blocked >= Duration::from_millis(290), "failed after {blocked:?}, before max.block.ms");
    assert!(accepted >= 5, "only {accepted} records of 10 KB fit in 64 KiB");

    // The broker answers again: the held records are retried and delivered (once: the broker
    // had applied them), their memory comes back, and sends work again.
    server.cluster().set_rtt(0, Duration::ZERO);
    producer.flush().unwrap();
    let outcomes = o.take();
    assert_eq!(outcomes.len() as u64, accepted, "every accepted record gets an outcome");
    for (id, r) in &outcomes {
        assert!(r.is_ok(), "record {id}: {r:?}");
    }
    assert_eq!(producer.metrics().buffer_available_bytes, 64 * 1024, "buffer memory is released");
    block(producer.send(ProducerRecord::new("held", vec![2u8; 10_000])).unwrap())
        .expect("a send after recovery");
    assert_eq!(server.cluster().records("held", 0).len() as u64, accepted + 2, "stored once each");
}

#[test]
fn hostile_broker_bytes_drop_the_connection_and_are_retried() {
    let _serial = serial();
    let _seed = Seed::new(5);
    init_logger();
    let server = MockServer::with_topics(1, &[("hostile", 2)]).unwrap();
    let producer = Producer::new(config(&server).request_timeout(Duration::from_secs(1))).unwrap();
    let o = Outcomes::default();
    let kinds = [
        Hostile::TruncatedFrame,
        Hostile::WrongCorrelationId,
        Hostile::AbsurdLength,
        Hostile::NegativeLength,
        Hostile::Garbage,
    ];
    let before = WARNINGS.load(Ordering::Relaxed);
    let rss0 = rss_kib();
    let mut id = 0;
    for (round, h) in kinds.iter().enumerate() {
        let api = if round % 2 == 0 { Api::Produce } else { Api::Metadata };
        server.cluster().push_request_faults(api, &[Fault::Hostile(*h), Fault::Hostile(*h)]);
        for _ in 0..200 {
            producer.send_with_callback(record("hostile", id), o.callback(id)).unwrap();
            id += 1;
        }
        producer.flush().unwrap();
    }
    assert_all_delivered(&server, "hostile", &o, id);
    let warnings = WARNINGS.load(Ordering::Relaxed) - before;
    assert!(warnings >= 5, "hostile replies were not logged ({warnings} warnings)");
    let grown = rss_kib().saturating_sub(rss0);
    assert!(grown < 256 * 1024, "RSS grew by {grown} KiB: an absurd length was allocated?");
    eprintln!(
        "RESULT hostile: {id} records, lost 0, duplicated 0, {warnings} warnings logged, RSS +{grown} KiB"
    );
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn eight_threads_on_small_buffer_memory_block_then_exhaust_and_lose_nothing() {
    let _serial = serial();
    let _seed = Seed::new(6);
    let run_for = if soak() { Duration::from_secs(60) } else { Duration::from_secs(4) };
    let server = MockServer::with_topics(2, &[("load", 8)]).unwrap();
    {
        let mut c = server.cluster();
        c.set_retain_records(false);
    }
    let buffer = 256 * 1024;
    let cfg =
        config(&server).buffer_memory(buffer).max_block(Duration::from_millis(50)).batch_size(16 * 1024);
    let producer = Producer::new(cfg).unwrap();
    // Metadata first: max.block.ms also bounds the wait for the topic.
    let warm = producer.send(record("load", u64::MAX)).unwrap();
    producer.flush().unwrap();
    block(warm).unwrap();
    {
        // A slow cluster, so the buffer fills.
        let mut c = server.cluster();
        c.set_rtt(0, Duration::from_millis(20));
        c.set_rtt(1, Duration::from_millis(20));
    }
    let acked = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let rss0 = rss_kib();
    let peak = Arc::new(AtomicU64::new(rss0));
    let t0 = Instant::now();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (p, acked, failed) = (producer.clone(), acked.clone(), failed.clone());
            std::thread::spawn(move || {
                let (mut sent, mut exhausted, mut blocked) = (0u64, 0u64, Duration::ZERO);
                while t0.elapsed() < run_for {
                    let (a, f) = (acked.clone(), failed.clone());
                    let s = Instant::now();
                    match p.send_with_callback(record("load", t * 1_000_000_000 + sent), move |r| {
                        match r {
                            Ok(_) => a.fetch_add(1, Ordering::Relaxed),
                            Err(e) => {
                                if f.fetch_add(1, Ordering::Relaxed) == 0 {
                                    eprintln!("first failure: {e}");
                                }
                                0
                            }
                        };
                    }) {
                        Ok(()) => sent += 1,
                        Err(SendError::BufferExhausted { waited, .. }) => {
                            exhausted += 1;
                            blocked += waited;
                            assert!(
                                s.elapsed() >= Duration::from_millis(45),
                                "BufferExhausted without blocking"
                            );
                        }
                        Err(e) => panic!("send: {e}"),
                    }
                }
                (sent, exhausted, blocked)
            })
        })
        .collect();
    let sampler = {
        let peak = peak.clone();
        std::thread::spawn(move || {
            while t0.elapsed() < run_for {
                peak.fetch_max(rss_kib(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let (mut sent, mut exhausted) = (0, 0);
    for t in threads {
        let (s, e, _) = t.join().unwrap();
        sent += s;
        exhausted += e;
    }
    sampler.join().unwrap();
    producer.flush().unwrap();
    let stored: i64 = (0..8).map(|p| server.cluster().end_offset("load", p)).sum();
    let grown = peak.load(Ordering::Relaxed).saturating_sub(rss0);
    eprintln!(
        "RESULT load: 8 threads for {run_for:?}, {sent} sent, {exhausted} BufferExhausted, {} acked, {} failed, \
         {stored} stored, peak RSS +{grown} KiB",
        acked.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    assert!(exhausted > 0, "send never reported BufferExhausted with buffer.memory={buffer}");
    assert_eq!(failed.load(Ordering::Relaxed), 0);
    assert_eq!(acked.load(Ordering::Relaxed), sent, "every accepted record is acknowledged");
    assert_eq!(stored as u64, sent + 1, "the cluster stored exactly what was acknowledged");
    assert!(grown < 200 * 1024, "RSS grew by {grown} KiB with buffer.memory={buffer}");
}

#[test]
fn mock_server_survives_hostile_clients() {
    let _serial = serial();
    use std::io::{Read, Write};
    let server = MockServer::with_topics(1, &[("t", 1)]).unwrap();
    let addr = server.addr(0);
    let payloads: Vec<Vec<u8>> = vec![
        (-1i32).to_be_bytes().to_vec(),
        i32::MAX.to_be_bytes().to_vec(),
        {
            let mut v = 12i32.to_be_bytes().to_vec();
            v.extend_from_slice(&[0xde; 12]);
            v
        },
        vec![0, 0, 0, 2, 0],
        (0..4096).map(|i| (i * 31 % 251) as u8).collect(),
    ];
    for p in &payloads {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let _ = s.write_all(p);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }
    assert!(server.bad_requests() >= 3, "bad requests: {}", server.bad_requests());
    // Still serving.
    let producer = Producer::new(config(&server)).unwrap();
    let f = producer.send(ProducerRecord::new("t", b"v".to_vec())).unwrap();
    producer.flush().unwrap();
    block(f).expect("the mock still serves after hostile clients");
}

/// The sender parks whenever it has nothing to do, and a `send` decides whether to wake it
/// from one read of its `parked` flag, ordered only by the queue's claim (no fence of its own).
/// Synchronous sends with linger.ms=0 make every record race a sender that is parking: a
/// missed wake-up would leave a record waiting with nothing scheduled to wake the sender.
#[test]
fn a_sender_parking_between_records_never_misses_one() {
    let _g = serial();
    let server = MockServer::with_topics(1, &[("park-0", 2), ("park-1", 2)]).unwrap();
    let p = Producer::new(config(&server).linger(Duration::ZERO)).unwrap();
    const PER_THREAD: u64 = 3_000;
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let p = p.clone();
            s.spawn(move || {
                for i in 0..PER_THREAD {
                    let mut f = p.send(record(&format!("park-{t}"), i)).unwrap();
                    let r = f.wait_timeout(Duration::from_secs(10));
                    assert!(matches!(r, Some(Ok(_))), "thread {t} record {i}: {r:?} (a missed wake-up?)");
                }
            });
        }
    });
    for t in 0..2 {
        assert_eq!(stored(&server, &format!("park-{t}")).len() as u64, PER_THREAD);
    }
    println!("RESULT a_sender_parking_between_records_never_misses_one: {} records", 2 * PER_THREAD);
    p.close(Duration::from_secs(5));
}

/// Every idle strategy delivers records sent from two threads racing the sender, one at a time
/// (each `send` waits for its outcome, linger.ms=0, so each finds the sender idle). A spinning
/// sender is never parked, so `send` never has to wake it: no wake-up, and with `spin` no park
/// at all.
#[test]
fn every_idle_strategy_delivers_records_racing_the_sender_and_spinning_needs_no_wakeup() {
    let _g = serial();
    for (strategy, name) in
        [(IdleStrategy::Park, "park"), (IdleStrategy::SpinPark, "spin-park"), (IdleStrategy::Spin, "spin")]
    {
        let topics = [format!("idle-{name}-0"), format!("idle-{name}-1")];
        let server = MockServer::with_topics(1, &[(&topics[0], 2), (&topics[1], 2)]).unwrap();
        let cfg = config(&server).linger(Duration::ZERO).sender_idle(strategy, Duration::from_micros(30));
        let p = Producer::new(cfg).unwrap();
        const PER_THREAD: u64 = 1_000;
        std::thread::scope(|s| {
            for t in 0..2u64 {
                let (p, topic) = (p.clone(), topics[t as usize].clone());
                s.spawn(move || {
                    for i in 0..PER_THREAD {
                        let mut f = p.send(record(&topic, i)).unwrap();
                        let r = f.wait_timeout(Duration::from_secs(10));
                        assert!(matches!(r, Some(Ok(_))), "{name}: thread {t} record {i}: {r:?}");
                    }
                });
            }
        });
        for topic in &topics {
            assert_eq!(stored(&server, topic).len() as u64, PER_THREAD, "{name}");
        }
        let m = p.metrics();
        match strategy {
            IdleStrategy::Park => assert!(m.sender_wakeups > 0 && m.sender_parks > 0, "{name}: {m:?}"),
            IdleStrategy::SpinPark => assert!(m.sender_parks > 0, "{name} parks when idle longer than 30 µs"),
            IdleStrategy::Spin => {
                assert_eq!((m.sender_parks, m.sender_wakeups), (0, 0), "{name}: never parked, never woken")
            }
        }
        p.close(Duration::from_secs(5));
        if strategy == IdleStrategy::Spin {
            assert_eq!(p.metrics().sender_wakeups, 0, "{name}: nor does close wake it");
        }
    }
}

/// A spinning sender still keeps time: a record lingers its `linger.ms` and then goes out
/// without anything waking the sender; `flush` cuts the linger short; `close` returns at once.
#[test]
fn spinning_senders_honour_linger_flush_and_close() {
    let _g = serial();
    for (strategy, name) in [(IdleStrategy::SpinPark, "spin-park"), (IdleStrategy::Spin, "spin")] {
        let topic = format!("idle-timers-{name}");
        let server = MockServer::with_topics(1, &[(&topic, 1)]).unwrap();
        let linger = Duration::from_millis(150);
        let cfg = config(&server).linger(linger).sender_idle(strategy, Duration::from_micros(50));
        let p = Producer::new(cfg).unwrap();
        // Metadata and the producer id first, so the timing below is the linger alone.
        p.send(record(&topic, 0)).unwrap().wait_timeout(Duration::from_secs(10)).unwrap().unwrap();

        let start = Instant::now();
        let r = p.send(record(&topic, 1)).unwrap().wait_timeout(Duration::from_secs(10));
        let took = start.elapsed();
        assert!(matches!(r, Some(Ok(_))), "{name}: {r:?}");
        assert!(took >= linger, "{name}: sent after {took:?}, before linger.ms");
        assert!(took < Duration::from_secs(5), "{name}: the linger deadline was missed: {took:?}");

        let mut f = p.send(record(&topic, 2)).unwrap();
        let start = Instant::now();
        p.flush().unwrap();
        assert!(matches!(f.wait_timeout(Duration::ZERO), Some(Ok(_))), "{name}: flushed");
        assert!(start.elapsed() < linger, "{name}: flush waited for the linger: {:?}", start.elapsed());

        let start = Instant::now();
        p.close(Duration::from_secs(5));
        assert!(start.elapsed() < Duration::from_secs(2), "{name}: close took {:?}", start.elapsed());
        assert!(matches!(p.send(record(&topic, 3)), Err(SendError::Closed)), "{name}: closed");
        assert_eq!(stored(&server, &topic).len(), 3, "{name}");
    }
}

/// The sender thread asks the scheduler for `sender.sched.slice.us` time slices (read back from
/// the kernel's own account of the thread, `/proc/<tid>/sched`, which Linux 6.12+ keeps).
#[test]
fn the_sender_thread_runs_with_the_time_slice_it_was_given() {
    let _g = serial();
    let server = MockServer::with_topics(1, &[("slice", 1)]).unwrap();
    let slice_of_sender = || {
        for t in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            if comm.trim() == "ringkafka-sende" {
                let sched = std::fs::read_to_string(t.path().join("sched")).expect("/proc/<tid>/sched");
                let line = sched.lines().find(|l| l.trim_start().starts_with("se.slice")).expect("se.slice");
                return line.split(':').nth(1).unwrap().trim().parse::<f64>().unwrap() as u64;
            }
        }
        panic!("no sender thread");
    };
    for (us, want_ns) in [(300, Some(300_000)), (0, None)] {
        let cfg = config(&server).set("sender.sched.slice.us", &us.to_string()).unwrap().clone();
        let p = Producer::new(cfg).unwrap();
        let got = slice_of_sender();
        match want_ns {
            Some(ns) => assert_eq!(got, ns, "sender.sched.slice.us={us}"),
            None => assert_ne!(got, 300_000, "0 leaves the kernel's default"),
        }
        p.close(Duration::from_secs(5));
    }
}

/// `partitions_for` (Java's `partitionsFor`): the mock cluster's own partition table for a
/// known topic; a topic created while the call waits; `MetadataTimeout` after `max.block.ms`
/// for one that never appears; and errors, not a hang, from a callback or after close.
#[test]
fn partitions_for_reports_the_leaders_waits_for_a_new_topic_and_times_out() {
    let _g = serial();
    let server = MockServer::with_topics(2, &[("known", 3)]).unwrap();
    let p = Producer::new(config(&server).max_block(Duration::from_millis(1500))).unwrap();

    let parts = p.partitions_for("known").unwrap();
    assert_eq!(parts.len(), 3);
    for (i, info) in parts.iter().enumerate() {
        assert_eq!((&*info.topic, info.partition), ("known", i as i32));
        assert_eq!(info.leader, server.cluster().leader("known", i as i32), "partition {i}");
        assert!(info.leader.is_some());
        // The mock lists the leader as the one replica, in sync.
        assert_eq!(
            (&info.replicas, &info.in_sync_replicas),
            (&vec![info.leader.unwrap()], &vec![info.leader.unwrap()])
        );
    }

    // Created while the call waits: answered by a later metadata round, within max.block.ms.
    let t0 = Instant::now();
    let parts = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            server.cluster().create_topic("later", 2);
        });
        p.partitions_for("later")
    })
    .unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert_eq!(parts.iter().map(|i| i.partition).collect::<Vec<_>>(), [0, 1]);

    let t0 = Instant::now();
    match p.partitions_for("never") {
        Err(ProduceError::MetadataTimeout { topic, waited }) => {
            assert_eq!((topic.as_str(), waited), ("never", Duration::from_millis(1500)));
            let elapsed = t0.elapsed();
            assert!(
                elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_secs(10),
                "{elapsed:?}"
            );
        }
        other => panic!("expected MetadataTimeout, got {other:?}"),
    }
    assert!(matches!(p.partitions_for("bad topic!"), Err(ProduceError::Broker { .. })));

    // From a delivery callback: refused at once instead of waiting for its own thread.
    let (tx, rx) = std::sync::mpsc::channel();
    let p2 = p.clone();
    p.send_with_callback(record("known", 1), move |_| {
        let _ = tx.send(p2.partitions_for("known"));
    })
    .unwrap();
    let from_callback = rx.recv_timeout(Duration::from_secs(10)).expect("the callback ran");
    assert!(matches!(from_callback, Err(ProduceError::InvalidCall(_))), "{from_callback:?}");

    p.close(Duration::from_secs(5));
    assert_eq!(p.partitions_for("known"), Err(ProduceError::Closed));
}

/// librdkafka, an independent client, produces through the mock cluster (as `ringkafka-mock`
/// offers it to other clients): every record stored once, in order per partition, with
/// idempotence on. librdkafka enables its v2 record format only for a broker that lists Fetch
/// v4 too; without that the mock got no record from it.
#[test]
fn librdkafka_produces_through_the_mock_cluster() {
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer as _, ThreadedProducer};
    let _g = serial();
    let server = MockServer::with_topics(1, &[("rdk", 3)]).unwrap();
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", server.bootstrap())
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "2")
        .set("message.timeout.ms", "20000")
        .create()
        .expect("a librdkafka producer");
    const N: u64 = 2_000;
    for id in 0..N {
        let v = value(id, 24);
        let key = format!("key-{}", id % 7);
        producer.send(BaseRecord::to("rdk").payload(&v).key(&key)).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(Duration::from_secs(30)).expect("librdkafka flushed every record");
    let stored = stored(&server, "rdk");
    assert_eq!(stored.len() as u64, N, "every record stored once");
    let partitions: std::collections::HashSet<i32> = stored.values().map(|(p, _)| *p).collect();
    assert!(partitions.len() > 1, "keys spread over partitions: {partitions:?}");
}

/// Interceptors (Java's `ProducerInterceptor`): `on_send` may change each record (here, a
/// header) before it is serialized; `on_acknowledgement` sees every accepted record's outcome
/// once, on the sender thread, before its callback or future and for fire-and-forget records
/// too, including a broker's error; `on_send_error` sees what `send` refuses, which never
/// reaches `on_acknowledgement`. Two interceptors run in the order they were added.
#[test]
fn interceptors_see_every_record_before_it_is_sent_and_every_outcome_before_its_callback() {
    use ringkafka::ProducerInterceptor;
    #[derive(Default)]
    struct Seen {
        events: Mutex<Vec<String>>,
        acks_ok: AtomicU64,
        acks_err: AtomicU64,
        send_errors: AtomicU64,
    }
    struct Tracer(&'static str, Arc<Seen>);
    impl ProducerInterceptor<Vec<u8>, Vec<u8>> for Tracer {
        fn on_send(&self, r: ProducerRecord<Vec<u8>, Vec<u8>>) -> ProducerRecord<Vec<u8>, Vec<u8>> {
            r.header(self.0, b"x".to_vec())
        }
        fn on_acknowledgement(&self, result: &DeliveryResult) {
            if self.0 == "first" {
                let c = if result.is_ok() { &self.1.acks_ok } else { &self.1.acks_err };
                c.fetch_add(1, Ordering::SeqCst);
                if let Ok(md) = result {
                    self.1.events.lock().unwrap().push(format!("ack {}", md.offset));
                }
            }
        }
        fn on_send_error(&self, _: &SendError) {
            if self.0 == "first" {
                self.1.send_errors.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    let _g = serial();
    let server = MockServer::with_topics(1, &[("icpt", 1)]).unwrap();
    let seen = Arc::new(Seen::default());
    let p = Producer::new(config(&server).max_request_size(10_000))
        .unwrap()
        .with_interceptor(Tracer("first", seen.clone()))
        .with_interceptor(Tracer("second", seen.clone()));
    for i in 0..30u8 {
        let s = seen.clone();
        match i % 3 {
            0 => p
                .send_with_callback(ProducerRecord::new("icpt", vec![i]), move |r| {
                    let offset = r.map_or(-1, |md| md.offset);
                    s.events.lock().unwrap().push(format!("callback {offset}"));
                })
                .unwrap(),
            1 => p.send_and_forget(ProducerRecord::new("icpt", vec![i])).unwrap(),
            _ => drop(p.send(ProducerRecord::new("icpt", vec![i])).unwrap()),
        }
    }
    // Refused by send: on_send_error only.
    let too_big = p.send_and_forget(ProducerRecord::new("icpt", vec![0u8; 20_000]));
    assert!(matches!(too_big, Err(SendError::RecordTooLarge { .. })));
    p.flush().unwrap();
    // A broker's error: on_acknowledgement with it.
    server.cluster().push_produce_errors("icpt", 0, &[ErrorCode::INVALID_RECORD]);
    let bad = p.send(ProducerRecord::new("icpt", b"bad".to_vec())).unwrap().wait();
    assert!(bad.is_err());
    p.flush().unwrap();
    assert_eq!(seen.acks_ok.load(Ordering::SeqCst), 30);
    assert_eq!(seen.acks_err.load(Ordering::SeqCst), 1);
    assert_eq!(seen.send_errors.load(Ordering::SeqCst), 1);
    // Each callback came right after its record's acknowledgement.
    let events = seen.events.lock().unwrap().clone();
    for (i, e) in events.iter().enumerate() {
        if let Some(off) = e.strip_prefix("callback ") {
            assert_eq!(events[i - 1], format!("ack {off}"), "{events:?}");
        }
    }
    assert_eq!(events.iter().filter(|e| e.starts_with("callback")).count(), 10);
    // Both headers, in the order the interceptors ran, on every stored record.
    let log = server.cluster().log("icpt", 0).to_vec();
    let records: Vec<_> = log.iter().flat_map(|b| b.batch.records.iter()).collect();
    assert_eq!(records.len(), 30);
    for r in records {
        let keys: Vec<&str> = r.headers.iter().map(|h| h.key.as_str()).collect();
        assert_eq!(keys, ["first", "second"]);
    }
}
