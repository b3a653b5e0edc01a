//! The producer's contract as an application sees it, against the embedded mock cluster:
//! `close` from several handles, records `send` must refuse, outcomes read more than once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use ringkafka::internals::mock::MockClusterInternals;
use ringkafka::mock::MockServer;
use ringkafka::{ProduceError, Producer, ProducerConfig, ProducerRecord, SendError};

fn producer(server: &MockServer, topic: &str) -> Producer {
    let p = Producer::new(ProducerConfig::new(&server.bootstrap())).unwrap();
    p.partitions_for(topic).unwrap();
    p
}

/// Two clones call `close` at the same moment while records wait for a slow broker: both
/// return only once the producer is closed, every record's outcome given (the doc's promise,
/// and Java's). The second caller must not return as soon as it finds the first one joining.
#[test]
fn close_from_two_clones_at_once_returns_in_both_only_when_closed() {
    let server = MockServer::with_topics(1, &[("close", 1)]).unwrap();
    let producer = producer(&server, "close");
    server.cluster().set_rtt(0, Duration::from_millis(300));
    const N: usize = 100;
    let done = Arc::new(AtomicUsize::new(0));
    for i in 0..N {
        let d = done.clone();
        producer
            .send_with_callback(ProducerRecord::new("close", vec![i as u8; 10]), move |r| {
                r.unwrap();
                d.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap();
    }
    let start = Arc::new(Barrier::new(2));
    let closers: Vec<_> = (0..2)
        .map(|_| {
            let (p, start, done) = (producer.clone(), start.clone(), done.clone());
            std::thread::spawn(move || {
                start.wait();
                p.close(Duration::from_secs(60));
                done.load(Ordering::SeqCst)
            })
        })
        .collect();
    for c in closers {
        assert_eq!(c.join().unwrap(), N, "close returned with records still pending");
    }
}

/// A `close` with a shorter timeout, from another clone while a long `close` waits, ends the
/// wait for both (as Java's `close(Duration.ZERO)` forces a close in progress): the records
/// the broker cannot take fail with `Closed`, and both calls return.
#[test]
fn a_shorter_close_from_another_clone_ends_a_longer_close() {
    let server = MockServer::with_topics(1, &[("close-short", 1)]).unwrap();
    let producer = producer(&server, "close-short");
    server.cluster().set_broker_up(0, false);
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    for i in 0..10u8 {
        let o = outcomes.clone();
        producer
            .send_with_callback(ProducerRecord::new("close-short", vec![i]), move |r| {
                o.lock().unwrap().push(r)
            })
            .unwrap();
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let p = producer.clone();
    let long = std::thread::spawn(move || {
        p.close(Duration::from_secs(3600));
        tx.send(()).unwrap();
    });
    // The long close has begun once sends are refused.
    let deadline = Instant::now() + Duration::from_secs(30);
    while producer.send_and_forget(ProducerRecord::new("close-short", vec![0])) != Err(SendError::Closed) {
        assert!(Instant::now() < deadline, "the first close never began");
        std::thread::yield_now();
    }
    producer.close(Duration::ZERO);
    rx.recv_timeout(Duration::from_secs(30)).expect("the long close returned once the short one closed");
    long.join().unwrap();
    let outcomes = outcomes.lock().unwrap();
    assert_eq!(outcomes.len(), 10, "every record has its outcome when close returns");
    assert!(outcomes.iter().all(|r| *r == Err(ProduceError::Closed)), "{outcomes:?}");
}

/// Java's `ProducerRecord` refuses a negative timestamp before anything is sent. Here `send`
/// refuses it with a typed error: nothing queued, no callback, no `buffer.memory` reserved.
/// `i64::MIN` included (it must not be taken for "no timestamp" and stamped with the clock).
#[test]
fn a_negative_timestamp_is_refused_by_send_and_nothing_is_written() {
    let server = MockServer::with_topics(1, &[("ts", 1)]).unwrap();
    let producer = producer(&server, "ts");
    let before = producer.metrics().buffer_available_bytes;
    let called = Arc::new(AtomicUsize::new(0));
    for ts in [-1, -5, i64::MIN] {
        let c = called.clone();
        let r =
            producer.send_with_callback(ProducerRecord::new("ts", b"v".to_vec()).timestamp(ts), move |_| {
                c.fetch_add(1, Ordering::SeqCst);
            });
        assert_eq!(r, Err(SendError::InvalidTimestamp(ts)));
        assert!(producer.send(ProducerRecord::new("ts", b"v".to_vec()).timestamp(ts)).is_err());
        assert!(producer.send_and_forget(ProducerRecord::new("ts", b"v".to_vec()).timestamp(ts)).is_err());
    }
    assert_eq!(producer.metrics().buffer_available_bytes, before, "nothing reserved");
    // Zero is a timestamp like any other: written as given.
    let md = producer.send(ProducerRecord::new("ts", b"zero".to_vec()).timestamp(0)).unwrap().wait().unwrap();
    assert_eq!(md.timestamp, 0);
    producer.flush().unwrap();
    producer.close(Duration::from_secs(30));
    assert_eq!(called.load(Ordering::SeqCst), 0, "a refused record gets no callback");
    let cluster = server.cluster();
    let log = cluster.log("ts", 0);
    let records: Vec<_> = cluster.records("ts", 0).into_iter().map(|(_, _, v)| v).collect();
    assert_eq!(records, [Some(b"zero".to_vec())], "only the valid record was written");
    assert_eq!(log[0].batch.base_timestamp, 0);
}

/// A future's outcome can be read again after `wait_timeout` gave it: by `wait_timeout`, and
/// by `wait` (which returns at once).
#[test]
fn a_delivered_future_gives_the_same_outcome_to_every_read() {
    let server = MockServer::with_topics(1, &[("reread", 1)]).unwrap();
    let producer = producer(&server, "reread");
    let mut fut = producer.send(ProducerRecord::new("reread", b"v".to_vec())).unwrap();
    let first = fut.wait_timeout(Duration::from_secs(30)).expect("delivered within 30 s").unwrap();
    assert_eq!(fut.wait_timeout(Duration::ZERO), Some(Ok(first.clone())));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(fut.wait()).unwrap());
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).expect("wait() returns at once"), Ok(first));
}

/// `close` from a delivery callback (on the sender thread) starts the close and returns at
/// once: the sender cannot wait for itself. The application's own `close` then returns when
/// the sender has stopped.
#[test]
fn close_from_a_callback_does_not_wait_for_itself() {
    let server = MockServer::with_topics(1, &[("close-cb", 1)]).unwrap();
    let producer = producer(&server, "close-cb");
    let (p, (tx, rx)) = (producer.clone(), std::sync::mpsc::channel());
    producer
        .send_with_callback(ProducerRecord::new("close-cb", b"v".to_vec()), move |r| {
            p.close(Duration::from_secs(60));
            tx.send(r).unwrap();
        })
        .unwrap();
    let r = rx.recv_timeout(Duration::from_secs(30)).expect("close in the callback returned");
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(
        producer.send_and_forget(ProducerRecord::new("close-cb", b"w".to_vec())),
        Err(SendError::Closed)
    );
    producer.close(Duration::from_secs(30));
}

/// Without the `lz4hc` feature (off by default: it builds the C lz4 library), an lz4 level
/// other than the default is refused at start, naming the key and the feature, rather than
/// compressed at another level than asked.
#[cfg(not(feature = "lz4hc"))]
#[test]
fn an_lz4hc_level_without_the_feature_is_a_config_error_naming_key_and_feature() {
    let mut cfg = ProducerConfig::new("127.0.0.1:9092").compression(ringkafka::Compression::Lz4);
    cfg.set("compression.lz4.level", "4").unwrap();
    match Producer::new(cfg) {
        Err(ringkafka::StartError::Config(e)) => {
            assert_eq!(e.key, "compression.lz4.level");
            assert!(e.to_string().contains("`lz4hc`"), "{e}");
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
    // The default level, and any level with another codec, are fine.
    let mut cfg = ProducerConfig::new("127.0.0.1:9092").compression(ringkafka::Compression::Gzip);
    cfg.set("compression.lz4.level", "4").unwrap();
    Producer::new(cfg).unwrap().close(Duration::ZERO);
    Producer::new(ProducerConfig::new("127.0.0.1:9092").compression(ringkafka::Compression::Lz4))
        .unwrap()
        .close(Duration::ZERO);
}
