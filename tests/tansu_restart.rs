//! The real broker dies mid-run: a Tansu of this test's own (sqlite storage, which survives a
//! restart) is `kill -9`ed while the producer sends continuously, then started again on the
//! same port and storage. Nothing acknowledged may be lost, and the producer carries on.
//!
//! Needs the Tansu build with libsql (`$TANSU_BIN`, else
//! `~/.local/share/ringkafka/tansu-0.6.0-dynostore-libsql/bin/tansu`); without it the test
//! fails, it never skips.

mod support;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ringkafka::{Producer, ProducerConfig, ProducerRecord};

fn tansu_libsql() -> PathBuf {
    if let Some(b) = std::env::var_os("TANSU_BIN").filter(|b| !b.is_empty()) {
        return b.into();
    }
    let home = std::env::var_os("HOME").expect("HOME is not set");
    let bin = PathBuf::from(home).join(".local/share/ringkafka/tansu-0.6.0-dynostore-libsql/bin/tansu");
    assert!(
        bin.is_file(),
        "{} is missing: this test needs Tansu 0.6.0 built with libsql (sqlite storage that survives a \
         restart); set TANSU_BIN or install it (see scripts/tansu.sh)",
        bin.display()
    );
    bin
}

/// A Tansu broker process, killed (SIGKILL, by its own pid) when dropped.
struct Broker {
    child: Option<Child>,
}

impl Broker {
    fn start(bin: &PathBuf, dir: &PathBuf, url: &str) -> Broker {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("tansu.log")).unwrap();
        let child = Command::new(bin)
            .args(["broker", "--listener-url", url, "--advertised-listener-url", url])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let b = Broker { child: Some(child) };
        let t0 = Instant::now();
        loop {
            let ok = Command::new(bin)
                .args(["topic", "list", "--broker", url])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return b;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "Tansu did not come up on {url}; log in {}",
                dir.join("tansu.log").display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("SIGKILL tansu"); // Child::kill is SIGKILL on Unix
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill9();
    }
}

#[test]
fn kill_9_and_restart_loses_nothing_acknowledged_and_producer_carries_on() {
    let bin = tansu_libsql();
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let dir = std::env::temp_dir().join(format!("ringkafka-tansu-restart-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let url = format!("tcp://{addr}");
    let mut broker = Broker::start(&bin, &dir, &url);
    let topic = "restart";
    let out = Command::new(&bin)
        .args(["topic", "create", "--broker", &url, "--partitions", "3", topic])
        .output()
        .unwrap();
    assert!(out.status.success(), "topic create: {}", String::from_utf8_lossy(&out.stderr));

    let cfg = ProducerConfig::new(&addr)
        .sender_cpu(ringkafka::SenderCpu::Unpinned)
        .idempotence(true)
        .linger(Duration::from_millis(5))
        .request_timeout(Duration::from_secs(5))
        .delivery_timeout(Duration::from_secs(120))
        .retry_backoff(Duration::from_millis(50), Duration::from_millis(500));
    let producer = Producer::new(cfg).unwrap();
    let acked: Arc<Mutex<HashMap<u64, (i32, i64)>>> = Arc::default();
    let failed: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
    let n = 30_000u64;
    let sender = {
        let (p, acked, failed) = (producer.clone(), acked.clone(), failed.clone());
        std::thread::spawn(move || {
            for id in 0..n {
                let (a, f) = (acked.clone(), failed.clone());
                let rec = ProducerRecord::new("restart", id.to_be_bytes().to_vec());
                p.send_with_callback(rec, move |r| match r {
                    Ok(md) => {
                        a.lock().unwrap().insert(id, (md.partition, md.offset));
                    }
                    Err(e) => f.lock().unwrap().push((id, e.to_string())),
                })
                .unwrap();
                if id % 100 == 99 {
                    std::thread::sleep(Duration::from_millis(20)); // ~5,000 records/s for ~6 s
                }
            }
        })
    };
    // Kill the broker mid-run: once a good share of the records has been acknowledged.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 3_000 {
        assert!(Instant::now() < deadline, "records were not acknowledged before the kill");
        std::thread::sleep(Duration::from_millis(10));
    }
    let before_kill = acked.lock().unwrap().len();
    broker.kill9();
    std::thread::sleep(Duration::from_secs(1)); // the outage under test: down for a second
    let _broker = Broker::start(&bin, &dir, &url);
    sender.join().unwrap();
    producer.flush().unwrap();
    let acked = acked.lock().unwrap().clone();
    let failed = failed.lock().unwrap().clone();
    assert!(before_kill > 0, "nothing was acknowledged before the kill");

    std::env::set_var("RINGKAFKA_BOOTSTRAP", &addr);
    let read = support::consume_all(topic, 3, acked.len(), Duration::from_secs(60));
    let mut seen = HashSet::new();
    let mut dups = 0;
    for r in &read {
        let id = u64::from_be_bytes(r.value.as_deref().unwrap()[..8].try_into().unwrap());
        if !seen.insert(id) {
            dups += 1;
        }
    }
    let lost: Vec<_> = acked.keys().filter(|id| !seen.contains(id)).collect();
    eprintln!(
        "RESULT tansu kill -9: {n} sent, {} acknowledged ({before_kill} before the kill), {} failed, {} lost, \
         {dups} duplicated, {} read back",
        acked.len(),
        failed.len(),
        lost.len(),
        read.len()
    );
    assert!(lost.is_empty(), "{} acknowledged records lost, e.g. id {:?}", lost.len(), lost.first());
    assert!(failed.is_empty(), "records failed across the restart: {:?}", failed.first());
    assert_eq!(acked.len() as u64, n, "the producer carried on after the restart");
    let _ = std::fs::remove_dir_all(&dir);
}
