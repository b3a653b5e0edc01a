//! Against a 3-node Apache Kafka 4.4 cluster (KRaft, replication factor 3,
//! `min.insync.replicas=2`), which `scripts/test.sh` starts and describes in
//! `RINGKAFKA_KAFKA_CLUSTER_BOOTSTRAP` and `RINGKAFKA_KAFKA_CLUSTER_DIR`. Each test sends a
//! numbered run of records with `acks=all` and idempotence (the defaults), does something to the
//! cluster mid-run, and then reads the topic back with librdkafka: every acknowledged record is
//! there, once, at the offset it was acknowledged with, field by field, and in send order within
//! its partition.
//!
//! - a partition leader's node killed (`kill -9`) and restarted under load;
//! - two of three nodes down: `NOT_ENOUGH_REPLICAS` is retried, not failed, and the records go
//!   through once a node is back;
//! - the replicas reassigned and the leaders moved by a preferred-leader election under load.
//!
//! The tests take nodes down, so they run one at a time (`CLUSTER`), and each leaves the cluster
//! with its three nodes up, even when it fails (`Restore`). Nodes are acted on with
//! `tools/perf/kafka-broker.sh` (kill, restart, shutdown, elect-leaders, reassign, topic create).

mod support;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use ringkafka::{DeliveryResult, Producer, ProducerConfig, ProducerRecord};

/// The nodes of the cluster scripts/kafka.sh starts: node ids 1 to 3.
const NODES: [i32; 3] = [1, 2, 3];
const PARTITIONS: i32 = 6;

/// Held by every test of this binary: they stop and start the cluster's nodes.
static CLUSTER: Mutex<()> = Mutex::new(());

fn lock() -> MutexGuard<'static, ()> {
    // A test that failed while holding it left the cluster restored (`Restore`): go on.
    CLUSTER.lock().unwrap_or_else(|e| e.into_inner())
}

fn env(name: &str) -> String {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().to_string(),
        _ => panic!(
            "{name} is not set: these tests need the 3-node Apache Kafka cluster that scripts/test.sh \
             starts (locally: `KAFKA_DIR=$PWD/target/kafka-mine tools/perf/kafka-broker.sh start --nodes 3`, \
             then export RINGKAFKA_KAFKA_CLUSTER_BOOTSTRAP=<its bootstrap> RINGKAFKA_KAFKA_CLUSTER_DIR=$PWD/target/kafka-mine)"
        ),
    }
}

/// The cluster: where it listens, and the directory its control script acts on.
struct Cluster {
    bootstrap: String,
    dir: PathBuf,
}

fn cluster() -> Cluster {
    warnings(); // the logger in place before any producer starts
    Cluster {
        bootstrap: env("RINGKAFKA_KAFKA_CLUSTER_BOOTSTRAP"),
        dir: PathBuf::from(env("RINGKAFKA_KAFKA_CLUSTER_DIR")),
    }
}

/// Says what a test is doing, with the time since it started (on stderr: shown on failure, or
/// with --nocapture), so that a slow or failed run shows where its time went.
struct Steps(Instant);

impl Steps {
    fn new() -> Steps {
        Steps(Instant::now())
    }

    fn step(&self, what: &str) {
        eprintln!("[{:>6.1} s] {what}", self.0.elapsed().as_secs_f64());
    }
}

/// One partition as the cluster's metadata has it.
#[derive(Debug, Clone, PartialEq)]
struct PartitionView {
    leader: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
}

impl Cluster {
    /// Runs `tools/perf/kafka-broker.sh ARGS` on this cluster; its output, or why it failed.
    fn try_script(&self, args: &[&str]) -> Result<String, String> {
        let root = env!("CARGO_MANIFEST_DIR");
        let out = Command::new("bash")
            .arg(format!("{root}/tools/perf/kafka-broker.sh"))
            .args(args)
            .current_dir(root)
            .env("KAFKA_DIR", &self.dir)
            .output()
            .map_err(|e| format!("cannot run tools/perf/kafka-broker.sh: {e}"))?;
        let text =
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if out.status.success() {
            Ok(text)
        } else {
            Err(format!("`kafka-broker.sh {}` failed ({}):\n{text}", args.join(" "), out.status))
        }
    }

    fn script(&self, args: &[&str]) -> String {
        self.try_script(args).unwrap_or_else(|e| panic!("{e}"))
    }

    fn create_topic(&self, name: &str) {
        let partitions = PARTITIONS.to_string();
        self.script(&["topic", "create", name, "--partitions", &partitions, "--replication-factor", "3"]);
    }

    /// Whether node `n` runs (its pid file names a live process: the script's own check).
    fn running(&self, n: i32) -> bool {
        let status = self.try_script(&["status"]).unwrap_or_default();
        status.lines().any(|l| l.starts_with(&format!("node {n}:")) && l.contains("running"))
    }

    /// The topic's partitions, fresh from the cluster (librdkafka's metadata request).
    fn partitions(&self, topic: &str) -> Result<Vec<PartitionView>, String> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .map_err(|e| e.to_string())?;
        let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).map_err(|e| e.to_string())?;
        let t = md.topics().iter().find(|t| t.name() == topic).ok_or("topic not in the metadata")?;
        if let Some(e) = t.error() {
            return Err(format!("{e:?}"));
        }
        let mut v: Vec<(i32, PartitionView)> = t
            .partitions()
            .iter()
            .map(|p| {
                let view = PartitionView {
                    leader: p.leader(),
                    replicas: p.replicas().to_vec(),
                    isr: p.isr().to_vec(),
                };
                (p.id(), view)
            })
            .collect();
        v.sort_by_key(|(id, _)| *id);
        Ok(v.into_iter().map(|(_, p)| p).collect())
    }

    /// Waits until `done` holds for the topic's partitions; panics with the last view at the
    /// deadline.
    fn wait_for(&self, topic: &str, what: &str, timeout: Duration, done: impl Fn(&[PartitionView]) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            let view = self.partitions(topic);
            if view.as_ref().is_ok_and(|v| v.len() == PARTITIONS as usize && done(v)) {
                return;
            }
            assert!(Instant::now() < deadline, "{topic}: not {what} after {timeout:?}; last seen: {view:?}");
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until every partition of `topic` has a leader and all its replicas in sync.
    fn wait_healthy(&self, topic: &str) {
        self.wait_for(topic, "healthy (a leader, every replica in sync)", Duration::from_secs(120), |v| {
            v.iter().all(|p| p.leader > 0 && p.isr.len() == p.replicas.len())
        });
    }
}

/// Restarts every node that is down when dropped, so that a test leaves three nodes up even
/// when it fails halfway, and waits for the test's topic to be whole again.
struct Restore<'a> {
    cluster: &'a Cluster,
    topic: String,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        let steps = Steps::new();
        for n in NODES {
            if !self.cluster.running(n) {
                if let Err(e) = self.cluster.try_script(&["restart", &n.to_string()]) {
                    eprintln!("restoring node {n} failed: {e}");
                }
            }
        }
        if !thread::panicking() {
            self.cluster.wait_healthy(&self.topic);
        }
        steps.step("cluster restored");
    }
}

/// Warnings the library logged (retries say which error they retry).
fn warnings() -> &'static Mutex<Vec<String>> {
    struct Capture;
    static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());
    impl log::Log for Capture {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= log::Level::Warn
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                let line = format!("{} {}", r.level(), r.args());
                eprintln!("{line}");
                LINES.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        }
        fn flush(&self) {}
    }
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        static LOGGER: Capture = Capture;
        log::set_logger(&LOGGER).expect("no other logger in this binary");
        log::set_max_level(log::LevelFilter::Warn);
    });
    &LINES
}

/// Record `seq` of a run: each field tells which record it is, so what is read back can be
/// checked field by field. Timestamps are recent (the test binary's start, plus `seq` ms): the
/// broker's time retention (7 days) deletes segments of older ones, mid-test.
fn record(topic: &str, seq: u64, partition: Option<i32>) -> ProducerRecord<Vec<u8>, Vec<u8>> {
    static START_MS: OnceLock<i64> = OnceLock::new();
    let start = *START_MS.get_or_init(|| {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970");
        now.as_millis() as i64
    });
    let mut value = format!("record {seq:08} ").into_bytes();
    value.resize(100, b'.');
    let mut r = ProducerRecord::new(topic, value)
        .key(format!("key-{seq}").into_bytes())
        .timestamp(start + seq as i64)
        .header("seq", seq.to_be_bytes().to_vec());
    if let Some(p) = partition {
        r = r.partition(p);
    }
    r
}

/// The outcomes of a run's records, by sequence number.
#[derive(Clone, Default)]
struct Outcomes(Arc<Mutex<HashMap<u64, DeliveryResult>>>);

impl Outcomes {
    fn callback(&self, seq: u64) -> impl FnOnce(DeliveryResult) + Send + 'static {
        let all = self.0.clone();
        move |r| {
            all.lock().unwrap_or_else(|e| e.into_inner()).insert(seq, r);
        }
    }

    fn count(&self) -> usize {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

fn producer(cluster: &Cluster) -> Producer {
    // acks=all and idempotence are the defaults; said here because the tests are about them.
    let cfg = ProducerConfig::new(&cluster.bootstrap)
        .acks(ringkafka::Acks::All)
        .idempotence(true)
        .linger(Duration::from_millis(5))
        .delivery_timeout(Duration::from_secs(180))
        .request_timeout(Duration::from_secs(30));
    Producer::new(cfg).expect("producer starts")
}

/// Sends records 0, 1, 2, ... to `topic` from a thread of its own, `rate` a second, until
/// stopped; gives back how many it sent.
struct Load {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<u64>>,
}

impl Load {
    fn start(producer: &Producer, topic: &str, outcomes: &Outcomes, rate: u64) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let (p, t, o, s) = (producer.clone(), topic.to_string(), outcomes.clone(), stop.clone());
        let thread = thread::spawn(move || {
            let start = Instant::now();
            let mut seq = 0u64;
            while !s.load(Ordering::Relaxed) {
                // Paced: record n goes at n / rate seconds (in bursts of a millisecond's worth).
                let due = start + Duration::from_micros(seq * 1_000_000 / rate);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    thread::sleep(wait);
                }
                p.send_with_callback(record(&t, seq, None), o.callback(seq)).expect("send accepted");
                seq += 1;
            }
            seq
        });
        Load { stop, thread: Some(thread) }
    }

    /// Waits until `n` records have an outcome.
    fn wait_acked(&self, outcomes: &Outcomes, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while outcomes.count() < n {
            assert!(Instant::now() < deadline, "only {} records acknowledged in 60 s", outcomes.count());
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().expect("running").join().expect("load thread")
    }
}

impl Drop for Load {
    /// A test that fails with the load running stops it (the next test gets a quiet cluster).
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Flushes, then checks that each of the `sent` records was acknowledged, and that the topic
/// read back holds exactly those records: each at its acknowledged offset with its key, value,
/// timestamp and headers, none twice, and in send order within each partition.
fn verify(cluster: &Cluster, producer: &Producer, topic: &str, outcomes: &Outcomes, sent: u64) {
    producer.flush().expect("flush");
    let outcomes = outcomes.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(outcomes.len() as u64, sent, "one outcome per record sent");
    let mut at: HashMap<(i32, i64), u64> = HashMap::new();
    for seq in 0..sent {
        match &outcomes[&seq] {
            Ok(m) => {
                assert_eq!(&*m.topic, topic);
                let before = at.insert((m.partition, m.offset), seq);
                assert!(
                    before.is_none(),
                    "records {before:?} and {seq} acknowledged at {}-{}",
                    m.partition,
                    m.offset
                );
            }
            Err(e) => panic!("record {seq} failed: {e}"),
        }
    }
    let mut read = support::consume_all_from(
        &cluster.bootstrap,
        topic,
        PARTITIONS,
        sent as usize,
        Duration::from_secs(60),
    );
    if read.len() < sent as usize {
        // Tell a reader that stalled from records that are not there: say what the cluster
        // shows, and read once more with a new consumer; what that one reads is checked.
        eprintln!(
            "read {} of {sent} records; partitions now: {:?}; reading again",
            read.len(),
            cluster.partitions(topic)
        );
        read = support::consume_all_from(
            &cluster.bootstrap,
            topic,
            PARTITIONS,
            sent as usize,
            Duration::from_secs(60),
        );
    }
    let mut seen = HashSet::new();
    let mut last_in_partition: HashMap<i32, u64> = HashMap::new();
    for r in &read {
        let seq = match r.headers.as_slice() {
            [(k, Some(v))] if k == "seq" && v.len() == 8 => {
                u64::from_be_bytes(v[..].try_into().expect("8 bytes"))
            }
            other => panic!("{}-{}: not one of ours, headers {other:?}", r.partition, r.offset),
        };
        assert!(seen.insert(seq), "record {seq} stored twice (again at {}-{})", r.partition, r.offset);
        assert_eq!(
            at.get(&(r.partition, r.offset)),
            Some(&seq),
            "record {seq} found at {}-{}",
            r.partition,
            r.offset
        );
        let want = record(topic, seq, None);
        assert_eq!(r.key, want.key, "record {seq}'s key");
        assert_eq!(r.value, want.value, "record {seq}'s value");
        assert_eq!(r.timestamp, want.timestamp.expect("set"), "record {seq}'s timestamp");
        assert_eq!(r.timestamp_type, support::TimestampType::CreateTime);
        if let Some(prev) = last_in_partition.insert(r.partition, seq) {
            assert!(
                prev < seq,
                "partition {}: record {seq} stored after {prev}, sent before it",
                r.partition
            );
        }
    }
    let mut lost: Vec<(u64, (i32, i64))> =
        at.iter().filter(|(_, seq)| !seen.contains(*seq)).map(|(pos, seq)| (*seq, *pos)).collect();
    lost.sort();
    assert!(
        lost.is_empty(),
        "acknowledged, not read back: {} records, (seq, (partition, offset)): {:?}",
        lost.len(),
        &lost[..lost.len().min(20)]
    );
    assert_eq!(read.len() as u64, sent, "every acknowledged record read back (none lost)");
}

fn leader_of(cluster: &Cluster, topic: &str, partition: usize) -> i32 {
    cluster.partitions(topic).expect("metadata")[partition].leader
}

/// kill -9 of the node leading partition 0, under load, and its restart: with acks=all and
/// min.insync.replicas=2 every acknowledged record is on a surviving replica, and the
/// idempotent producer writes the batches it retries once, in order.
#[test]
fn leader_killed_and_restarted_under_load_loses_duplicates_and_reorders_nothing() {
    let _serial = lock();
    let steps = Steps::new();
    let cluster = cluster();
    let topic = support::unique_topic("cluster-kill");
    cluster.create_topic(&topic);
    steps.step("topic created; load starts");
    let _restore = Restore { cluster: &cluster, topic: topic.clone() };
    let producer = producer(&cluster);
    let outcomes = Outcomes::default();
    let load = Load::start(&producer, &topic, &outcomes, 2_000);
    load.wait_acked(&outcomes, 2_000);

    let victim = leader_of(&cluster, &topic, 0);
    steps.step(&format!("kill -9 of node {victim}, partition 0's leader"));
    cluster.script(&["kill", &victim.to_string()]);
    // Its partitions get new leaders once the controller fences it (broker.session.timeout.ms).
    cluster.wait_for(&topic, "led without the killed node", Duration::from_secs(60), |v| {
        v.iter().all(|p| p.leader > 0 && p.leader != victim)
    });
    steps.step("new leaders elected");
    let during = outcomes.count();
    load.wait_acked(&outcomes, during + 2_000);
    steps.step(&format!("restarting node {victim}"));
    cluster.script(&["restart", &victim.to_string()]);
    steps.step("restarted");
    let after = outcomes.count();
    load.wait_acked(&outcomes, after + 2_000);
    let sent = load.stop();
    steps.step(&format!("{sent} records sent; checking"));
    verify(&cluster, &producer, &topic, &outcomes, sent);
    steps.step("checked");
    let m = producer.metrics();
    assert!(m.retries > 0 || m.connections_closed > 0, "the kill reached the producer: {m:?}");
}

/// With two of the three nodes down, the leader left has itself alone in sync: below
/// min.insync.replicas=2 it refuses acks=all writes with NOT_ENOUGH_REPLICAS, a retriable error.
/// The records wait and retry; once a node is back and in sync they are written, none failed.
#[test]
fn not_enough_replicas_with_two_nodes_down_is_retried_until_a_node_is_back() {
    let _serial = lock();
    let steps = Steps::new();
    let cluster = cluster();
    let topic = support::unique_topic("cluster-isr");
    cluster.create_topic(&topic);
    steps.step("topic created");
    let _restore = Restore { cluster: &cluster, topic: topic.clone() };
    let leader = leader_of(&cluster, &topic, 0);
    let others: Vec<i32> = NODES.iter().copied().filter(|&n| n != leader).collect();
    let producer = producer(&cluster);
    let outcomes = Outcomes::default();
    // Metadata, connections, producer id: in place before the nodes go.
    producer.send_with_callback(record(&topic, 0, Some(0)), outcomes.callback(0)).expect("send");
    producer.flush().expect("flush");

    // Controlled shutdowns, one after the other: each leaves the ISR while the controller quorum
    // (the three nodes are its voters) can still take it out; the second leaves one voter, so
    // nothing changes after it, and partition 0 stays led by `leader` with ISR {leader}.
    for n in &others {
        steps.step(&format!("controlled shutdown of node {n}"));
        cluster.script(&["shutdown", &n.to_string()]);
    }
    cluster.wait_for(&topic, "down to its leader in sync", Duration::from_secs(60), |v| {
        v[0].leader == leader && v[0].isr == [leader]
    });
    steps.step(&format!("partition 0 led by node {leader} alone in sync; sending"));
    let retried_before = producer.metrics().retries;
    let lines = warnings();
    let mark = lines.lock().unwrap_or_else(|e| e.into_inner()).len();
    let outage = 1..201u64;
    for seq in outage.clone() {
        producer.send_with_callback(record(&topic, seq, Some(0)), outcomes.callback(seq)).expect("send");
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let retried = || {
        lines.lock().unwrap_or_else(|e| e.into_inner())[mark..]
            .iter()
            .any(|l| l.contains("NOT_ENOUGH_REPLICAS"))
    };
    while !retried() {
        assert!(Instant::now() < deadline, "no NOT_ENOUGH_REPLICAS retry within 60 s");
        thread::sleep(Duration::from_millis(50));
    }
    assert!(producer.metrics().retries > retried_before);
    assert_eq!(outcomes.count(), 1, "nothing completes while the partition is below min.insync.replicas");

    steps.step(&format!("NOT_ENOUGH_REPLICAS retried; restarting node {}", others[0]));
    cluster.script(&["restart", &others[0].to_string()]);
    steps.step("restarted; flushing");
    producer.flush().expect("flush");
    assert!(outcomes.count() as u64 == outage.end, "every record has an outcome");
    steps.step(&format!("flushed; restarting node {}", others[1]));
    cluster.script(&["restart", &others[1].to_string()]);
    steps.step("restarted; checking");
    verify(&cluster, &producer, &topic, &outcomes, outage.end);
    steps.step("checked");
}

/// The replicas of every partition reassigned (the replica list rotated, so the preferred
/// leader changes) and a preferred-leader election, under load: the leaders all move, and
/// nothing is lost, duplicated or reordered.
#[test]
fn reassignment_and_leader_election_under_load_lose_nothing() {
    let _serial = lock();
    let steps = Steps::new();
    let cluster = cluster();
    let topic = support::unique_topic("cluster-move");
    cluster.create_topic(&topic);
    steps.step("topic created; load starts");
    let _restore = Restore { cluster: &cluster, topic: topic.clone() };
    let before = cluster.partitions(&topic).expect("metadata");
    let producer = producer(&cluster);
    let outcomes = Outcomes::default();
    let load = Load::start(&producer, &topic, &outcomes, 2_000);
    load.wait_acked(&outcomes, 2_000);

    let moves: Vec<String> = before
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut replicas = p.replicas.clone();
            replicas.rotate_left(1);
            let list: Vec<String> = replicas.iter().map(i32::to_string).collect();
            format!(r#"{{"topic":"{topic}","partition":{i},"replicas":[{}]}}"#, list.join(","))
        })
        .collect();
    let file = cluster.dir.join(format!("{topic}-reassign.json"));
    std::fs::write(&file, format!(r#"{{"version":1,"partitions":[{}]}}"#, moves.join(","))).expect("write");
    steps.step("reassigning (replica lists rotated)");
    cluster.script(&["reassign", file.to_str().expect("utf-8 path")]);
    let _ = std::fs::remove_file(&file);
    steps.step("preferred-leader election");
    cluster.script(&["elect-leaders", &topic]);
    cluster.wait_for(&topic, "led by the new preferred replicas", Duration::from_secs(60), |v| {
        v.iter().zip(&before).all(|(now, was)| now.leader == was.replicas[1] && now.leader != was.leader)
    });
    steps.step("leaders moved");
    let moved = outcomes.count();
    load.wait_acked(&outcomes, moved + 2_000);
    let sent = load.stop();
    steps.step(&format!("{sent} records sent; checking"));
    verify(&cluster, &producer, &topic, &outcomes, sent);
    steps.step("checked");
}
