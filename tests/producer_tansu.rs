//! The producer end to end against the real broker (Tansu, started by `scripts/test.sh`), read
//! back with an independent client (librdkafka through `rdkafka`).

mod support;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use ringkafka::internals::partitioner::partition_for_key;
use ringkafka::{
    Acks, ProduceError, Producer, ProducerConfig, ProducerRecord, RecordMetadata, SendError,
    SerializationError, Serializer, StringSerializer,
};
use support::{bootstrap, consume_all, create_topic, unique_topic, TimestampType};

const READ_TIMEOUT: Duration = Duration::from_secs(60);

fn config() -> ProducerConfig {
    // The test machines have 2 cores: leave the sender unpinned so parallel tests do not pile
    // every sender onto one CPU.
    ProducerConfig::new(&bootstrap()).sender_cpu(ringkafka::SenderCpu::Unpinned)
}

fn topic(prefix: &str, partitions: i32) -> String {
    let t = unique_topic(prefix);
    create_topic(&t, partitions);
    t
}

/// A minimal executor: polls a future on this thread, parking between wake-ups.
fn block_on<F: Future>(fut: F) -> F::Output {
    struct ThreadWaker(std::thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(Duration::from_millis(100));
    }
}

#[test]
fn every_field_round_trips_through_the_broker() {
    let t = topic("fields", 3);
    let p = Producer::new(config()).unwrap();
    let ts = 1_700_000_000_123i64;
    let records = [
        ProducerRecord::new(&t, b"v0".to_vec()).key(b"k0".to_vec()).partition(0).timestamp(ts),
        ProducerRecord::new(&t, b"v1".to_vec()).partition(1).timestamp(ts + 1).header("h1", b"x".to_vec()),
        ProducerRecord::new(&t, Vec::new()).key(b"k2".to_vec()).partition(2).value(None).timestamp(ts + 2),
        {
            let mut r =
                ProducerRecord::new(&t, b"v3".to_vec()).key(Vec::new()).partition(2).timestamp(ts + 3);
            r.headers.push(ringkafka::Header::null("null-h"));
            r.headers.push(ringkafka::Header::new("dup", b"1".to_vec()));
            r.headers.push(ringkafka::Header::new("dup", b"2".to_vec()));
            r
        },
    ];
    let futures: Vec<_> = records.iter().cloned().map(|r| p.send(r).unwrap()).collect();
    let metas: Vec<RecordMetadata> = futures.into_iter().map(|f| f.wait().unwrap()).collect();
    let got = consume_all(&t, 3, records.len(), READ_TIMEOUT);
    assert_eq!(got.len(), records.len(), "read back {got:?}");
    for (r, m) in records.iter().zip(&metas) {
        assert_eq!(&*m.topic, t.as_str());
        assert_eq!(m.partition, r.partition.unwrap());
        assert_eq!(m.timestamp, r.timestamp.unwrap());
        assert_eq!(m.serialized_key_size, r.key.as_ref().map_or(-1, |k| k.len() as i32));
        assert_eq!(m.serialized_value_size, r.value.as_ref().map_or(-1, |v| v.len() as i32));
        let c = got
            .iter()
            .find(|c| c.partition == m.partition && c.offset == m.offset)
            .unwrap_or_else(|| panic!("no record at {}@{} in {got:?}", m.partition, m.offset));
        assert_eq!(c.key, r.key);
        assert_eq!(c.value, r.value);
        assert_eq!(c.timestamp, r.timestamp.unwrap());
        assert_eq!(c.timestamp_type, TimestampType::CreateTime);
        let want: Vec<(String, Option<Vec<u8>>)> =
            r.headers.iter().map(|h| (h.key.clone(), h.value.clone())).collect();
        assert_eq!(c.headers, want);
    }
}

#[test]
fn keyed_records_land_where_java_puts_them_and_null_keys_spread() {
    let t = topic("partitioning", 3);
    let p = Producer::new(config().batch_size(1024)).unwrap();
    let n = 300;
    let futures: Vec<_> = (0..n)
        .map(|i| {
            p.send(ProducerRecord::new(&t, vec![b'x'; 100]).key(format!("key-{i}").into_bytes())).unwrap()
        })
        .collect();
    for (i, f) in futures.into_iter().enumerate() {
        let m = f.wait().unwrap();
        assert_eq!(m.partition, partition_for_key(format!("key-{i}").as_bytes(), 3), "key-{i}");
    }
    // Null keys: the sticky partitioner moves on after batch.size bytes.
    let futures: Vec<_> = (0..n).map(|_| p.send(ProducerRecord::new(&t, vec![b'y'; 100])).unwrap()).collect();
    let mut per_partition = [0usize; 3];
    for f in futures {
        per_partition[f.wait().unwrap().partition as usize] += 1;
    }
    assert!(per_partition.iter().filter(|&&c| c > 0).count() >= 2, "null keys spread: {per_partition:?}");
    let got = consume_all(&t, 3, 2 * n, READ_TIMEOUT);
    assert_eq!(got.len(), 2 * n);
    for c in got.iter().filter(|c| c.key.is_some()) {
        assert_eq!(c.partition, partition_for_key(c.key.as_ref().unwrap(), 3));
    }
}

#[test]
fn a_million_records_from_four_threads_all_delivered_in_order() {
    let t = topic("million", 3);
    let p = Producer::new(config()).unwrap();
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 250_000;
    // (thread, seq) -> (partition, offset), plus the callback order per (thread, partition).
    type Placement = HashMap<(u64, u64), (i32, i64)>;
    let results: Arc<Mutex<Placement>> = Arc::new(Mutex::new(HashMap::new()));
    let order_violations = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let last_seen: Arc<Mutex<HashMap<(u64, i32), u64>>> = Arc::new(Mutex::new(HashMap::new()));
    let handles: Vec<_> = (0..THREADS)
        .map(|th| {
            let p = p.clone();
            let t = t.clone();
            let results = results.clone();
            let order_violations = order_violations.clone();
            let errors = errors.clone();
            let last_seen = last_seen.clone();
            std::thread::spawn(move || {
                for seq in 0..PER_THREAD {
                    let mut value = Vec::with_capacity(100);
                    value.extend_from_slice(&th.to_be_bytes());
                    value.extend_from_slice(&seq.to_be_bytes());
                    value.resize(100, b'.');
                    let key = if seq % 2 == 0 { Some(format!("k{}", seq % 1000).into_bytes()) } else { None };
                    let mut r = ProducerRecord::new(&t, value);
                    r.key = key;
                    let (results, order_violations, errors, last_seen) =
                        (results.clone(), order_violations.clone(), errors.clone(), last_seen.clone());
                    p.send_with_callback(r, move |res| match res {
                        Ok(m) => {
                            // Callbacks run on the one sender thread; per (thread, partition)
                            // they must come in send order.
                            let mut ls = last_seen.lock().unwrap();
                            if let Some(prev) = ls.insert((th, m.partition), seq) {
                                if prev >= seq {
                                    order_violations.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            results.lock().unwrap().insert((th, seq), (m.partition, m.offset));
                        }
                        Err(e) => {
                            if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                                eprintln!("delivery failed: {e}");
                            }
                        }
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    p.flush().unwrap();
    assert_eq!(errors.load(Ordering::Relaxed), 0);
    assert_eq!(order_violations.load(Ordering::Relaxed), 0, "callbacks out of per-partition send order");
    let results = results.lock().unwrap();
    assert_eq!(results.len() as u64, THREADS * PER_THREAD, "every callback fired once");
    let m = p.metrics();
    assert_eq!(m.records_sent, THREADS * PER_THREAD);
    assert!(m.latency_us.count >= THREADS * PER_THREAD);

    let got = consume_all(&t, 3, (THREADS * PER_THREAD) as usize, Duration::from_secs(180));
    assert_eq!(got.len() as u64, THREADS * PER_THREAD, "the reader saw every record once");
    for c in &got {
        let v = c.value.as_ref().unwrap();
        let th = u64::from_be_bytes(v[0..8].try_into().unwrap());
        let seq = u64::from_be_bytes(v[8..16].try_into().unwrap());
        assert_eq!(results.get(&(th, seq)), Some(&(c.partition, c.offset)), "offset reported for {th}/{seq}");
    }
}

/// Future, callback and fire-and-forget sends all deliver, in send order; `flush` sends what a
/// long `linger.ms` holds back and returns once the callbacks have run.
#[test]
fn future_callback_and_forget_sends_deliver_in_order_and_flush_ignores_linger() {
    let t = topic("styles", 1);
    // A long linger: only flush (or a full batch) sends.
    let p = Producer::new(config().linger(Duration::from_secs(30))).unwrap();
    let fut = p.send(ProducerRecord::new(&t, b"future".to_vec())).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    p.send_with_callback(ProducerRecord::new(&t, b"callback".to_vec()), move |r| tx.send(r).unwrap())
        .unwrap();
    p.send_and_forget(ProducerRecord::new(&t, b"forget".to_vec())).unwrap();
    let start = Instant::now();
    p.flush().unwrap();
    assert!(start.elapsed() < Duration::from_secs(20), "flush ignored linger.ms");
    let via_await = block_on(fut).unwrap();
    let via_callback =
        rx.recv_timeout(Duration::from_secs(5)).expect("callback ran before flush returned").unwrap();
    assert_eq!(via_await.offset, 0);
    assert_eq!(via_callback.offset, 1);
    let got = consume_all(&t, 1, 3, READ_TIMEOUT);
    let values: Vec<_> = got.iter().map(|c| c.value.clone().unwrap()).collect();
    assert_eq!(values, vec![b"future".to_vec(), b"callback".to_vec(), b"forget".to_vec()]);
    // Synchronous style: wait on each.
    let m = p.send(ProducerRecord::new(&t, b"sync".to_vec())).unwrap();
    p.flush().unwrap();
    assert_eq!(m.wait().unwrap().offset, 3);
    assert_eq!(p.metrics().records_sent, 4);
}

#[test]
fn close_delivers_pending_records_and_then_refuses_sends() {
    let t = topic("close", 2);
    let p = Producer::new(config().linger(Duration::from_secs(30))).unwrap();
    let delivered = Arc::new(AtomicUsize::new(0));
    for i in 0..100 {
        let d = delivered.clone();
        let r = ProducerRecord::new(&t, format!("v{i}").into_bytes());
        p.send_with_callback(r, move |res| {
            res.unwrap();
            d.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    p.close(Duration::from_secs(30));
    assert_eq!(delivered.load(Ordering::SeqCst), 100, "close waited for every pending record");
    assert_eq!(p.send(ProducerRecord::new(&t, b"late".to_vec())).unwrap_err(), SendError::Closed);
    assert_eq!(consume_all(&t, 2, 100, READ_TIMEOUT).len(), 100);
}

#[test]
fn close_with_zero_timeout_fails_what_cannot_be_delivered_exactly_once() {
    // The topic never exists: records wait for metadata; close(0) must fail each of them once.
    let p = Producer::new(config()).unwrap();
    let fired = Arc::new(AtomicUsize::new(0));
    let t = unique_topic("never-created");
    for _ in 0..10 {
        let f = fired.clone();
        p.send_with_callback(ProducerRecord::new(&t, b"x".to_vec()), move |r| {
            assert_eq!(r.unwrap_err(), ProduceError::Closed);
            f.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    p.close(Duration::ZERO);
    assert_eq!(fired.load(Ordering::SeqCst), 10);
}

#[test]
fn dropping_the_last_handle_delivers_pending_records() {
    let t = topic("drop", 1);
    let delivered = Arc::new(AtomicUsize::new(0));
    {
        let p = Producer::new(config().linger(Duration::from_secs(30))).unwrap();
        let p2 = p.clone();
        for i in 0..50 {
            let d = delivered.clone();
            let r = ProducerRecord::new(&t, format!("{i}").into_bytes());
            p2.send_with_callback(r, move |res| {
                res.unwrap();
                d.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
        }
        drop(p2);
        assert_eq!(delivered.load(Ordering::SeqCst), 0, "a clone's drop does not close");
    }
    assert_eq!(delivered.load(Ordering::SeqCst), 50);
    assert_eq!(consume_all(&t, 1, 50, READ_TIMEOUT).len(), 50);
}

struct FailingSerializer;
impl Serializer<String> for FailingSerializer {
    fn serialize(&self, _: &str, data: String) -> Result<Vec<u8>, SerializationError> {
        if data == "bad" {
            Err(SerializationError("`bad` cannot be serialized".into()))
        } else {
            Ok(data.into_bytes())
        }
    }
}

#[test]
fn send_refuses_bad_records_with_typed_errors_and_stays_usable() {
    let t = topic("errors", 1);
    let p = Producer::with_serializers(config().max_request_size(1000), StringSerializer, FailingSerializer)
        .unwrap();
    let e = p.send(ProducerRecord::new(&t, "bad".to_string())).unwrap_err();
    assert!(matches!(e, SendError::Serialization(ref m) if m.contains("bad")), "{e:?}");
    let e = p.send(ProducerRecord::new(&t, "x".repeat(2000))).unwrap_err();
    assert!(matches!(e, SendError::RecordTooLarge { limit: "max.request.size", max: 1000, .. }), "{e:?}");
    let e = p.send(ProducerRecord::new("bad topic!", "x".to_string())).unwrap_err();
    assert!(matches!(e, SendError::InvalidTopic(_)), "{e:?}");
    let e = p.send(ProducerRecord::new(&t, "x".to_string()).partition(-2)).unwrap_err();
    assert_eq!(e, SendError::InvalidPartition(-2));
    // A partition beyond the topic's: accepted by send, failed by the sender once metadata says so.
    let e = p.send(ProducerRecord::new(&t, "x".to_string()).partition(5)).unwrap().wait().unwrap_err();
    assert!(matches!(e, ProduceError::InvalidPartition { partition: 5, partitions: 1, .. }), "{e:?}");
    // Still usable after all that.
    let ok =
        p.send(ProducerRecord::new(&t, "fine".to_string()).key("k".to_string())).unwrap().wait().unwrap();
    assert_eq!(ok.offset, 0);
    p.close(Duration::from_secs(10));
    assert_eq!(p.send(ProducerRecord::new(&t, "x".to_string())).unwrap_err(), SendError::Closed);
}

#[test]
fn records_for_a_missing_topic_hold_buffer_memory_until_they_time_out() {
    // Records for a topic that does not exist hold their memory until they time out
    // (max.block.ms), and a send that finds the memory spent waits for them. Whether that send
    // then times out too (BufferExhausted) or gets the memory they release is a race, since
    // both wait max.block.ms: the mock test
    // `buffer_exhausted_after_max_block_while_a_silent_broker_holds_the_memory` checks
    // BufferExhausted, with memory held for longer than that.
    let p = Producer::new(
        config().buffer_memory(64 * 1024).max_block(Duration::from_millis(500)).max_request_size(60 * 1024),
    )
    .unwrap();
    let t = unique_topic("exhaust");
    let timed_out = Arc::new(AtomicUsize::new(0));
    let send = |value: Vec<u8>| {
        let to = timed_out.clone();
        p.send_with_callback(ProducerRecord::new(&t, value), move |r| {
            assert!(matches!(r, Err(ProduceError::MetadataTimeout { .. })), "{r:?}");
            to.fetch_add(1, Ordering::SeqCst);
        })
    };
    // Six records of 10 KB fit in 64 KiB, and go at once.
    let start = Instant::now();
    for i in 0..6 {
        send(vec![0u8; 10_000]).unwrap_or_else(|e| panic!("record {i}: {e:?}"));
    }
    assert!(start.elapsed() < Duration::from_millis(200), "the first six waited: {:?}", start.elapsed());
    assert!(
        p.metrics().buffer_available_bytes < 10_000,
        "{} bytes still free",
        p.metrics().buffer_available_bytes
    );
    // The seventh waits: for max.block.ms, or until the six time out and free their memory.
    let blocked = Instant::now();
    let seventh = send(vec![0u8; 10_000]);
    assert!(blocked.elapsed() >= Duration::from_millis(400), "did not wait: {:?}", blocked.elapsed());
    let accepted = match seventh {
        Ok(()) => 7,
        Err(SendError::BufferExhausted { .. }) => 6,
        Err(e) => panic!("{e:?}"),
    };
    // Every waiting record times out once and gives its memory back: sends work again.
    let deadline = Instant::now() + Duration::from_secs(10);
    while timed_out.load(Ordering::SeqCst) < accepted {
        assert!(Instant::now() < deadline, "records waiting for metadata never timed out");
        std::thread::sleep(Duration::from_millis(20));
    }
    let t2 = topic("exhaust-ok", 1);
    p.send(ProducerRecord::new(&t2, vec![1u8; 10_000])).unwrap().wait().unwrap();
    assert_eq!(timed_out.load(Ordering::SeqCst), accepted, "one outcome per record");
    assert_eq!(p.metrics().buffer_available_bytes, 64 * 1024);
}

/// `partitions_for` against a real broker: every partition of a fresh topic, with the leader
/// Tansu names (its one node), and the records sent after it land where they are addressed.
#[test]
fn partitions_for_lists_a_fresh_topics_partitions_and_leaders() {
    let t = topic("parts", 3);
    let p = Producer::new(config()).unwrap();
    let parts = p.partitions_for(&t).unwrap();
    assert_eq!(parts.iter().map(|i| i.partition).collect::<Vec<_>>(), [0, 1, 2]);
    assert!(parts.iter().all(|i| *i.topic == *t && i.leader.is_some()), "{parts:?}");
    // Tansu is one node: it is every partition's only replica, in sync, none offline.
    assert!(
        parts.iter().all(|i| i.replicas == [i.leader.unwrap()]
            && i.in_sync_replicas == i.replicas
            && i.offline_replicas.is_empty()),
        "{parts:?}"
    );
    for info in &parts {
        let md =
            p.send(ProducerRecord::new(&t, b"x".to_vec()).partition(info.partition)).unwrap().wait().unwrap();
        assert_eq!(md.partition, info.partition);
    }
    let missing = Producer::new(config().max_block(Duration::from_millis(500))).unwrap();
    let e = missing.partitions_for(&unique_topic("missing")).unwrap_err();
    assert!(matches!(e, ProduceError::MetadataTimeout { .. }), "{e:?}");
}

#[test]
fn unknown_topic_times_out_after_max_block() {
    let p = Producer::new(config().max_block(Duration::from_millis(800))).unwrap();
    let t = unique_topic("missing");
    let start = Instant::now();
    let e = p.send(ProducerRecord::new(&t, b"x".to_vec())).unwrap().wait().unwrap_err();
    let waited = start.elapsed();
    assert!(matches!(e, ProduceError::MetadataTimeout { ref topic, .. } if *topic == t), "{e:?}");
    assert!(waited >= Duration::from_millis(700) && waited < Duration::from_secs(10), "{waited:?}");
}

#[test]
fn acks_zero_one_and_all_each_deliver_every_record() {
    for (acks, idempotence) in
        [(Acks::None, false), (Acks::Leader, false), (Acks::All, true), (Acks::All, false)]
    {
        let t = topic("acks", 2);
        let p = Producer::new(config().acks(acks).idempotence(idempotence)).unwrap();
        let futures: Vec<_> =
            (0..500).map(|i| p.send(ProducerRecord::new(&t, format!("{i}").into_bytes())).unwrap()).collect();
        for f in futures {
            let m = f.wait().unwrap();
            if acks == Acks::None {
                assert_eq!(m.offset, -1, "acks=0 knows no offset");
            } else {
                assert!(m.offset >= 0);
            }
        }
        assert_eq!(consume_all(&t, 2, 500, READ_TIMEOUT).len(), 500, "acks={acks:?}");
    }
}

#[test]
fn a_producer_configured_from_java_properties_delivers() {
    let t = topic("props", 1);
    let cfg = ProducerConfig::from_properties([
        ("bootstrap.servers", bootstrap().as_str()),
        ("acks", "all"),
        ("linger.ms", "1"),
        ("enable.idempotence", "true"),
        ("sender.cpu", "-1"),
    ])
    .unwrap();
    let p = Producer::new(cfg).unwrap();
    let m = p.send(ProducerRecord::new(&t, b"p".to_vec())).unwrap().wait().unwrap();
    assert_eq!((m.partition, m.offset), (0, 0));
}

/// Against the real broker: with `connections.max.idle.ms` short, the producer closes its
/// idle connections and opens new ones for the next record (through the io driver's close
/// and connect), and with `bootstrap.servers` named by host name (`localhost`, resolved to
/// every address) it connects at all. Both records are read back, in order.
#[test]
fn idle_connections_are_closed_and_reopened_and_a_host_name_bootstrap_connects() {
    let t = topic("idle", 1);
    let port = bootstrap().rsplit_once(':').map(|(_, p)| p.to_string()).expect("host:port");
    let cfg = ProducerConfig::new(&format!("localhost:{port}"))
        .sender_cpu(ringkafka::SenderCpu::Unpinned)
        .connections_max_idle(Some(Duration::from_millis(300)));
    let p = Producer::new(cfg).unwrap();
    let first = p.send(ProducerRecord::new(&t, b"before the idle close".to_vec())).unwrap().wait().unwrap();
    let opened = p.metrics().connections_created;
    assert!(opened >= 1);
    // Wait for the idle close itself (connections.max.idle.ms is 300 ms), with a deadline.
    let deadline = Instant::now() + Duration::from_secs(20);
    while p.metrics().connections_closed < opened {
        assert!(Instant::now() < deadline, "idle connections never closed: {:?}", p.metrics());
        std::thread::sleep(Duration::from_millis(10));
    }
    let m = p.metrics();
    assert_eq!(m.connections_closed, opened, "every connection closed once idle: {m:?}");
    let second = p.send(ProducerRecord::new(&t, b"after it".to_vec())).unwrap().wait().unwrap();
    assert!(p.metrics().connections_created > opened, "a new connection for the second record");
    assert_eq!((first.offset + 1, second.partition), (second.offset, first.partition));
    let got = consume_all(&t, 1, 2, Duration::from_secs(20));
    let values: Vec<&[u8]> = got.iter().map(|r| r.value.as_deref().unwrap_or_default()).collect();
    assert_eq!(values, [&b"before the idle close"[..], &b"after it"[..]]);
}
