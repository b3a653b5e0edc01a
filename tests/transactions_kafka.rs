//! Transactions against Apache Kafka 4.4: what a `read_committed` reader (librdkafka) sees,
//! field by field and in order; fencing by a second producer with the same `transactional.id`;
//! offsets committed with `send_offsets_to_transaction` (read back with librdkafka's
//! `committed_offsets`); a producer killed with SIGKILL in the middle of a transaction; and many
//! transactions in a row.
//!
//! Two brokers, both started by `scripts/test.sh`: `RINGKAFKA_KAFKA_BOOTSTRAP`, a single-node
//! Kafka 4.4 as it formats by default (transaction version 2: Produce v12 adds partitions to
//! the transaction, EndTxn v5 bumps the epoch every transaction), and
//! `RINGKAFKA_KAFKA_TV1_BOOTSTRAP`, one formatted with `--feature transaction.version=1`
//! (AddPartitionsToTxn and AddOffsetsToTxn, one epoch for every transaction). Each test checks
//! that the broker runs the version it expects. A missing broker fails the test: nothing is
//! skipped.

mod support;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io::{BufRead, BufReader};
use std::pin::pin;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::task::{Context, Poll, Wake};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message, Timestamp};
use rdkafka::{Offset, TopicPartitionList};

use ringkafka::internals::protocol::messages::ApiVersionsRequest;
use ringkafka::{
    ConsumerGroupMetadata, DeliveryFuture, ProduceError, Producer, ProducerConfig, ProducerRecord, SendError,
    TransactionError,
};
use support::{unique_topic, RawConn};

/// A Kafka broker for these tests and the transaction version it must run.
struct Kafka {
    bootstrap: String,
    transaction_version: i16,
}

fn broker(var: &str, transaction_version: i16) -> Kafka {
    let bootstrap = match std::env::var(var) {
        Ok(b) if !b.trim().is_empty() => b.trim().to_string(),
        _ => panic!(
            "{var} is not set: these tests need Apache Kafka 4.4 (transaction version {transaction_version}); \
             run scripts/test.sh, which starts it"
        ),
    };
    let k = Kafka { bootstrap, transaction_version };
    let addr = k.bootstrap.split(',').next().unwrap().to_string();
    let mut conn = RawConn::connect(&addr);
    let req = ApiVersionsRequest {
        client_software_name: "ringkafka-test".into(),
        client_software_version: "0".into(),
    };
    let resp = conn.request(3, &req);
    assert_eq!(
        resp.transaction_version().max(1),
        transaction_version,
        "{var}={} finalizes transaction.version={}, these tests expect {transaction_version}",
        k.bootstrap,
        resp.transaction_version()
    );
    k
}

/// Kafka at its default, transaction version 2.
fn tv2() -> Kafka {
    broker("RINGKAFKA_KAFKA_BOOTSTRAP", 2)
}

/// Kafka formatted with transaction.version=1.
fn tv1() -> Kafka {
    broker("RINGKAFKA_KAFKA_TV1_BOOTSTRAP", 1)
}

/// Blocks on a future (rdkafka's admin calls) with a parking waker.
fn block_on<F: Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Arc::new(Unpark(std::thread::current())).into();
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(r) = f.as_mut().poll(&mut cx) {
            return r;
        }
        std::thread::park_timeout(Duration::from_millis(50));
    }
}

impl Kafka {
    fn client(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.bootstrap);
        c
    }

    /// A new topic with `partitions` partitions.
    fn create_topic(&self, prefix: &str, partitions: i32) -> String {
        self.create_topic_with(prefix, partitions, &[])
    }

    /// A new topic with `partitions` partitions and topic configs.
    fn create_topic_with(&self, prefix: &str, partitions: i32, configs: &[(&str, &str)]) -> String {
        let name = unique_topic(prefix);
        let admin: AdminClient<DefaultClientContext> = self.client().create().expect("rdkafka admin client");
        let mut topic = NewTopic::new(&name, partitions, TopicReplication::Fixed(1));
        for (k, v) in configs {
            topic = topic.set(k, v);
        }
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = block_on(admin.create_topics([&topic], &opts)).expect("CreateTopics");
        for r in results {
            r.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
        }
        name
    }

    fn producer(&self, transactional_id: &str) -> Producer {
        self.producer_with(transactional_id, &[])
    }

    fn producer_with(&self, transactional_id: &str, extra: &[(&str, &str)]) -> Producer {
        let mut props = vec![
            ("bootstrap.servers", self.bootstrap.as_str()),
            ("transactional.id", transactional_id),
            ("linger.ms", "5"),
            ("sender.cpu", "-1"),
        ];
        props.extend_from_slice(extra);
        Producer::new(ProducerConfig::from_properties(props).unwrap()).unwrap()
    }

    /// Every record a reader at `isolation` ("read_committed" or "read_uncommitted") gets from
    /// the start of each partition up to its end (the last stable offset for read_committed),
    /// sorted by (partition, offset).
    fn read(&self, topic: &str, partitions: i32, isolation: &str) -> Vec<Consumed> {
        let consumer: BaseConsumer = self
            .client()
            .set("group.id", unique_topic("ringkafka-txn-reader"))
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("enable.partition.eof", "true")
            .set("check.crcs", "true")
            .set("isolation.level", isolation)
            .create()
            .expect("rdkafka consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning).unwrap();
        }
        consumer.assign(&tpl).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut at_end = vec![false; partitions as usize];
        let mut out = Vec::new();
        while at_end.iter().any(|e| !e) {
            assert!(Instant::now() < deadline, "reading {topic} ({isolation}) did not reach the end in 60 s");
            match consumer.poll(Duration::from_millis(200)) {
                None => {}
                Some(Err(KafkaError::PartitionEOF(p))) => at_end[p as usize] = true,
                Some(Err(e)) => eprintln!("reading {topic}: {e}"),
                Some(Ok(m)) => {
                    at_end[m.partition() as usize] = false;
                    let timestamp = match m.timestamp() {
                        Timestamp::CreateTime(t) => t,
                        other => panic!("a CreateTime timestamp, not {other:?}"),
                    };
                    out.push(Consumed {
                        partition: m.partition(),
                        offset: m.offset(),
                        key: m.key().map(<[u8]>::to_vec),
                        value: m.payload().map(<[u8]>::to_vec),
                        timestamp,
                        headers: m
                            .headers()
                            .map(|hs| {
                                hs.iter().map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec))).collect()
                            })
                            .unwrap_or_default(),
                    });
                }
            }
        }
        out.sort_by_key(|r| (r.partition, r.offset));
        out
    }

    /// The offsets `group` has committed for `topic`'s partitions (librdkafka's
    /// `committed_offsets`), `None` where it has none.
    fn committed_offsets(&self, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
        let consumer: BaseConsumer = self
            .client()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .create()
            .expect("rdkafka consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition(topic, p);
        }
        let got = consumer.committed_offsets(tpl, Duration::from_secs(30)).expect("committed_offsets");
        (0..partitions)
            .map(|p| match got.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => Some(o),
                _ => None,
            })
            .collect()
    }
}

/// A record as librdkafka read it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Consumed {
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    timestamp: i64,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

/// A record sent in a test, with its expected read-back (offset from its own ack).
struct Sent {
    record: Consumed,
    future: DeliveryFuture,
}

/// Sends `n` records to `topic`'s partitions in turn, each with a key, a header and its own
/// timestamp, all named by `tag`.
fn send_tagged(p: &Producer, topic: &str, partitions: i32, tag: &str, n: usize) -> Vec<Sent> {
    (0..n)
        .map(|i| {
            let partition = i as i32 % partitions;
            let key = format!("{tag}-k{i}").into_bytes();
            let value = format!("{tag}-v{i}").into_bytes();
            let timestamp = 1_700_000_000_000 + i as i64;
            let header = ("h".to_string(), Some(format!("{tag}-{i}").into_bytes()));
            let r = ProducerRecord::new(topic, value.clone())
                .key(key.clone())
                .partition(partition)
                .timestamp(timestamp)
                .header("h", format!("{tag}-{i}"));
            let future = p.send(r).unwrap();
            let record = Consumed {
                partition,
                offset: -1,
                key: Some(key),
                value: Some(value),
                timestamp,
                headers: vec![header],
            };
            Sent { record, future }
        })
        .collect()
}

/// Waits for every record's ack; returns the records with their offsets.
fn acked(sent: Vec<Sent>) -> Vec<Consumed> {
    sent.into_iter()
        .map(|s| {
            let md = s.future.wait().expect("a record of a committed transaction");
            assert_eq!(md.partition, s.record.partition);
            Consumed { offset: md.offset, ..s.record }
        })
        .collect()
}

fn sorted(mut v: Vec<Consumed>) -> Vec<Consumed> {
    v.sort_by_key(|r| (r.partition, r.offset));
    v
}

fn committed_read_back(k: &Kafka) {
    let topic = k.create_topic("txn-readback", 3);
    let id = unique_topic("txn-readback-id");
    let p = k.producer(&id);
    p.init_transactions().unwrap();

    p.begin_transaction().unwrap();
    let first = send_tagged(&p, &topic, 3, "a", 30);
    p.commit_transaction().unwrap();
    let first = acked(first);

    p.begin_transaction().unwrap();
    let aborted = send_tagged(&p, &topic, 3, "b", 20);
    p.flush().unwrap(); // written to the log, then aborted
    let aborted_written = aborted.iter().len();
    for s in aborted {
        s.future.wait().expect("written before the abort");
    }
    p.abort_transaction().unwrap();

    p.begin_transaction().unwrap();
    let third = send_tagged(&p, &topic, 3, "c", 10);
    p.commit_transaction().unwrap();
    let third = acked(third);
    p.close(Duration::from_secs(10));

    let want = sorted(first.into_iter().chain(third).collect());
    let got = k.read(&topic, 3, "read_committed");
    assert_eq!(got.len(), want.len(), "read_committed: the committed records, no aborted one");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "field by field, in order");
    }
    let all = k.read(&topic, 3, "read_uncommitted");
    let aborted_seen =
        all.iter().filter(|r| r.value.as_deref().is_some_and(|v| v.starts_with(b"b-"))).count();
    assert_eq!(
        aborted_seen, aborted_written,
        "the aborted records are in the log, hidden from read_committed"
    );
}

#[test]
fn committed_records_are_read_back_in_order_and_aborted_ones_are_not() {
    committed_read_back(&tv2());
}

#[test]
fn committed_records_are_read_back_in_order_and_aborted_ones_are_not_tv1() {
    committed_read_back(&tv1());
}

fn fencing(k: &Kafka) {
    let topic = k.create_topic("txn-fence", 1);
    let id = unique_topic("txn-fence-id");
    let first = k.producer(&id);
    first.init_transactions().unwrap();
    first.begin_transaction().unwrap();
    for s in send_tagged(&first, &topic, 1, "old", 5) {
        s.future.wait().unwrap();
    }

    let second = k.producer(&id);
    second.init_transactions().unwrap(); // aborts the first's transaction and fences it

    match first.commit_transaction() {
        Err(e @ TransactionError::Fenced { .. }) => assert!(e.is_fatal(), "{e}"),
        other => panic!("the fenced producer's next call: {other:?}"),
    }
    match first.send(ProducerRecord::new(topic.as_str(), b"late".to_vec())) {
        Err(SendError::Transaction(TransactionError::Fenced { .. })) => {}
        other => panic!("a send after fencing: {other:?}"),
    }
    assert!(matches!(first.begin_transaction(), Err(TransactionError::Fenced { .. })));
    assert!(matches!(first.abort_transaction(), Err(TransactionError::Fenced { .. })));

    second.begin_transaction().unwrap();
    let new = send_tagged(&second, &topic, 1, "new", 5);
    second.commit_transaction().unwrap();
    let new = acked(new);
    let got = k.read(&topic, 1, "read_committed");
    assert_eq!(got, new, "only the second producer's records are visible");
}

#[test]
fn a_second_producer_fences_the_first() {
    fencing(&tv2());
}

#[test]
fn a_second_producer_fences_the_first_tv1() {
    fencing(&tv1());
}

/// A fenced producer that sends before it learns of it: the record fails, the transaction
/// cannot commit, and every way out ends in `Fenced`; nothing of it becomes visible.
#[test]
fn a_fenced_producer_that_sends_first_gets_nothing_visible() {
    let k = tv2();
    let topic = k.create_topic("txn-fence-send", 1);
    let id = unique_topic("txn-fence-send-id");
    let first = k.producer(&id);
    first.init_transactions().unwrap();
    first.begin_transaction().unwrap();
    first.send(ProducerRecord::new(topic.as_str(), b"before".to_vec())).unwrap().wait().unwrap();
    let second = k.producer(&id);
    second.init_transactions().unwrap();
    let after = first.send(ProducerRecord::new(topic.as_str(), b"after".to_vec())).unwrap();
    // Refused by the partition leader (INVALID_PRODUCER_EPOCH): the transaction cannot commit,
    // and the record fails once, as part of it.
    let e = after.wait().unwrap_err();
    assert!(
        matches!(
            e,
            ProduceError::TransactionAborted { .. }
                | ProduceError::Broker { .. }
                | ProduceError::Transaction(TransactionError::Fenced { .. })
        ),
        "{e:?}"
    );
    eprintln!("the fenced producer's record: {e}");
    let commit = first.commit_transaction().unwrap_err();
    let end = if commit.is_abortable() { first.abort_transaction().unwrap_err() } else { commit };
    assert!(matches!(end, TransactionError::Fenced { .. }), "{end:?}");
    second.begin_transaction().unwrap();
    second.send_and_forget(ProducerRecord::new(topic.as_str(), b"second".to_vec())).unwrap();
    second.commit_transaction().unwrap();
    let got: Vec<Vec<u8>> = k.read(&topic, 1, "read_committed").into_iter().filter_map(|r| r.value).collect();
    assert_eq!(got, [b"second".to_vec()]);
}

fn offsets_commit_atomically(k: &Kafka) {
    let input = k.create_topic("txn-offsets-in", 2);
    let output = k.create_topic("txn-offsets-out", 1);
    let group = unique_topic("txn-offsets-group");
    let meta = ConsumerGroupMetadata::new(group.as_str());
    let p = k.producer(&unique_topic("txn-offsets-id"));
    p.init_transactions().unwrap();
    assert_eq!(k.committed_offsets(&group, &input, 2), [None, None]);

    p.begin_transaction().unwrap();
    let committed = send_tagged(&p, &output, 1, "kept", 3);
    p.send_offsets_to_transaction([(input.as_str(), 0, 10), (input.as_str(), 1, 20)], &meta).unwrap();
    p.commit_transaction().unwrap();
    let committed = acked(committed);
    assert_eq!(k.committed_offsets(&group, &input, 2), [Some(10), Some(20)]);

    p.begin_transaction().unwrap();
    let dropped = send_tagged(&p, &output, 1, "dropped", 3);
    p.send_offsets_to_transaction([(input.as_str(), 0, 30)], &meta).unwrap();
    p.flush().unwrap();
    p.abort_transaction().unwrap();
    for s in dropped {
        assert!(matches!(s.future.wait(), Ok(_) | Err(ProduceError::TransactionAborted { .. })));
    }
    assert_eq!(
        k.committed_offsets(&group, &input, 2),
        [Some(10), Some(20)],
        "the aborted offsets did not count"
    );
    assert_eq!(k.read(&output, 1, "read_committed"), committed);
}

#[test]
fn offsets_sent_to_a_transaction_commit_with_it_and_only_with_it() {
    offsets_commit_atomically(&tv2());
}

#[test]
fn offsets_sent_to_a_transaction_commit_with_it_and_only_with_it_tv1() {
    offsets_commit_atomically(&tv1());
}

/// A record the broker refuses (larger than the topic's `max.message.bytes`) makes the
/// transaction abortable: the commit fails with `Abortable`, the abort goes through (under
/// version 1 followed by the epoch bump of KIP-360, under 2 by EndTxn's own), the next
/// transaction commits, and nothing of the aborted one is visible.
fn failed_record_aborts(k: &Kafka) {
    let topic = k.create_topic_with("txn-too-large", 1, &[("max.message.bytes", "2000")]);
    let p = k.producer(&unique_topic("txn-too-large-id"));
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    let small = p.send(ProducerRecord::new(topic.as_str(), b"small".to_vec())).unwrap();
    p.flush().unwrap();
    small.wait().unwrap();
    let big = p.send(ProducerRecord::new(topic.as_str(), vec![b'x'; 10_000])).unwrap();
    match big.wait() {
        Err(ProduceError::Broker { code: ringkafka::ErrorCode::MESSAGE_TOO_LARGE, .. }) => {}
        other => panic!("a record over max.message.bytes: {other:?}"),
    }
    match p.commit_transaction() {
        Err(e @ TransactionError::Abortable { .. }) => {
            assert!(e.to_string().contains("MESSAGE_TOO_LARGE"), "{e}")
        }
        other => panic!("commit after a failed record: {other:?}"),
    }
    assert!(matches!(
        p.send(ProducerRecord::new(topic.as_str(), b"refused".to_vec())),
        Err(SendError::Transaction(TransactionError::Abortable { .. }))
    ));
    p.abort_transaction().unwrap();
    p.begin_transaction().unwrap();
    let after = send_tagged(&p, &topic, 1, "after", 3);
    p.commit_transaction().unwrap();
    let after = acked(after);
    assert_eq!(k.read(&topic, 1, "read_committed"), after);
}

#[test]
fn a_record_the_broker_refuses_makes_the_transaction_abortable_and_abort_recovers() {
    failed_record_aborts(&tv2());
}

#[test]
fn a_record_the_broker_refuses_makes_the_transaction_abortable_and_abort_recovers_tv1() {
    failed_record_aborts(&tv1());
}

/// Set in the child process of the killed-producer test: `bootstrap|topic|transactional id`.
const CHILD_ENV: &str = "RINGKAFKA_TXN_KILLED_CHILD";
/// What the child prints once its open transaction's records are written.
const CHILD_WRITTEN: &str = "TRANSACTION-OPEN-AND-WRITTEN";

/// The child: a committed transaction, then an open one whose records are written, then it
/// waits to be killed.
fn killed_child(spec: &str) -> ! {
    let mut parts = spec.split('|');
    let (bootstrap, topic, id) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
    let k = Kafka { bootstrap: bootstrap.into(), transaction_version: 2 };
    let p = k.producer(id);
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    acked(send_tagged(&p, topic, 2, "committed", 4));
    p.commit_transaction().unwrap();
    p.begin_transaction().unwrap();
    acked(send_tagged(&p, topic, 2, "open", 10));
    println!("{CHILD_WRITTEN}");
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    loop {
        std::thread::park();
    }
}

fn killed_mid_transaction(k: &Kafka, test_name: &str) {
    let topic = k.create_topic("txn-killed", 2);
    let id = unique_topic("txn-killed-id");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{}|{topic}|{id}", k.bootstrap))
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the child producer");
    let out = BufReader::new(child.stdout.take().unwrap());
    let mut written = false;
    for line in out.lines() {
        let line = line.unwrap();
        if line.contains(CHILD_WRITTEN) {
            written = true;
            break;
        }
    }
    assert!(written, "the child producer never got its transaction written (see its output above)");
    child.kill().unwrap(); // SIGKILL: no abort, no close
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed: {status}");

    // Its open transaction's records are in the log...
    let all = k.read(&topic, 2, "read_uncommitted");
    assert_eq!(
        all.iter().filter(|r| r.value.as_deref().is_some_and(|v| v.starts_with(b"open-"))).count(),
        10
    );
    // ...and a new producer with the same id aborts that transaction before it can go on.
    let p = k.producer(&id);
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    let after = send_tagged(&p, &topic, 2, "after", 4);
    p.commit_transaction().unwrap();
    acked(after);
    let got: Vec<String> = k
        .read(&topic, 2, "read_committed")
        .into_iter()
        .map(|r| String::from_utf8(r.value.unwrap()).unwrap())
        .collect();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    let mut want: Vec<String> =
        (0..4).map(|i| format!("committed-v{i}")).chain((0..4).map(|i| format!("after-v{i}"))).collect();
    want.sort();
    assert_eq!(got_sorted, want, "nothing of the killed producer's open transaction is visible");
}

#[test]
fn a_producer_killed_mid_transaction_leaves_nothing_visible() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        killed_child(&spec);
    }
    killed_mid_transaction(&tv2(), "a_producer_killed_mid_transaction_leaves_nothing_visible");
}

#[test]
fn a_producer_killed_mid_transaction_leaves_nothing_visible_tv1() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        killed_child(&spec);
    }
    killed_mid_transaction(&tv1(), "a_producer_killed_mid_transaction_leaves_nothing_visible_tv1");
}

/// `transactions` transactions of `per` records each, every fifth one aborted; read back
/// with read_committed: every committed record once, in order per partition, no aborted one.
fn many_in_a_row(k: &Kafka, transactions: usize, per: usize) {
    let topic = k.create_topic("txn-many", 3);
    let p = k.producer_with(&unique_topic("txn-many-id"), &[("linger.ms", "2")]);
    p.init_transactions().unwrap();
    let t0 = Instant::now();
    let mut want: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    let mut outcomes: HashMap<bool, usize> = HashMap::new();
    for t in 0..transactions {
        p.begin_transaction().unwrap();
        let abort = t % 5 == 4;
        for i in 0..per {
            let partition = (i % 3) as i32;
            let v = format!("{t:05}-{i:04}");
            if !abort {
                want.entry(partition).or_default().push(v.clone());
            }
            p.send_and_forget(ProducerRecord::new(topic.as_str(), v.into_bytes()).partition(partition))
                .unwrap();
        }
        if abort {
            p.flush().unwrap();
            p.abort_transaction().unwrap();
        } else {
            p.commit_transaction().unwrap();
        }
        *outcomes.entry(abort).or_default() += 1;
    }
    let took = t0.elapsed();
    eprintln!(
        "{transactions} transactions of {per} records (transaction version {}) in {took:?}: {:?}",
        k.transaction_version, outcomes
    );
    let metrics = p.metrics();
    p.close(Duration::from_secs(10));
    let got = k.read(&topic, 3, "read_committed");
    let mut by_partition: BTreeMap<i32, Vec<String>> = BTreeMap::new();
    for r in got {
        by_partition.entry(r.partition).or_default().push(String::from_utf8(r.value.unwrap()).unwrap());
    }
    for (partition, w) in &want {
        let g = by_partition.get(partition).cloned().unwrap_or_default();
        assert_eq!(g.len(), w.len(), "partition {partition}: committed records, once each");
        assert!(g == *w, "partition {partition}: in order, nothing lost or duplicated");
    }
    assert_eq!(by_partition.len(), want.len());
    eprintln!("{metrics:?}");
}

#[test]
fn many_transactions_in_a_row_lose_and_duplicate_nothing() {
    many_in_a_row(&tv2(), 1000, 100);
}

#[test]
fn many_transactions_in_a_row_lose_and_duplicate_nothing_tv1() {
    many_in_a_row(&tv1(), 300, 100);
}
