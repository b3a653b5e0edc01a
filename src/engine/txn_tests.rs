//! Virtual-time tests of the transactions room against the sans-IO mock cluster: what goes on
//! the wire, request by request, under transaction versions 1 and 2 (the TCP suite in
//! `tests/transactions_mock.rs` checks outcomes; this one checks the requests that led there).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::transactions::{Start, TxnCall, TxnOp, TxnShared};
use super::*;
use crate::delivery::{Completion, DeliveryResult};
use crate::memory::BufferMemory;
use crate::metrics::Metrics;
use crate::mock::{Api, Fault, MockCluster};
use crate::protocol::error_code::ErrorCode;
use crate::protocol::frame::split_frame;
use crate::protocol::messages::{Decode, ProduceRequest};
use crate::protocol::primitives::Reader;
use crate::protocol::record_batch::{attributes, decode_batches};
use crate::protocol::version::ApiKey;
use crate::transaction::{TransactionError, TxnCallState};

/// One request as it went on the wire.
#[derive(Debug, Clone)]
struct Sent {
    api: ApiKey,
    version: i16,
    /// Produce: its transactional id, and whether every batch carries the transactional bit.
    txn_id: Option<String>,
    transactional: bool,
}

struct TxnSim {
    engine: Engine,
    gate: Arc<TxnShared>,
    cluster: MockCluster,
    now: Instant,
    links: HashMap<i32, i32>,
    inbound: VecDeque<(i32, Vec<u8>)>,
    sent: Vec<Sent>,
    outcomes: Arc<Mutex<Vec<DeliveryResult>>>,
    memory: Arc<BufferMemory>,
}

impl TxnSim {
    fn new(transaction_version: i16) -> TxnSim {
        let mut cfg = ProducerConfig::from_properties([
            ("bootstrap.servers", "127.0.0.1:9000"),
            ("transactional.id", "sim-tx"),
            ("linger.ms", "5"),
        ])
        .unwrap();
        cfg.validate().unwrap();
        let memory = Arc::new(BufferMemory::new(cfg.buffer_memory));
        let engine =
            Engine::new(cfg, None, memory.clone(), Arc::new(Metrics::default()), super::sim_tests::SEED);
        let gate = engine.transactions_gate().expect("a transactional engine");
        let mut cluster = MockCluster::new(2);
        for n in 0..2 {
            cluster.set_port(n, 9000 + n as u16);
        }
        cluster.create_topic("t", 2);
        cluster.set_transaction_version(transaction_version);
        TxnSim {
            engine,
            gate,
            cluster,
            now: super::sim_tests::origin(),
            links: HashMap::new(),
            inbound: VecDeque::new(),
            sent: Vec::new(),
            outcomes: Arc::new(Mutex::new(Vec::new())),
            memory,
        }
    }

    fn send(&mut self, partition: i32, value: &[u8]) {
        self.gate.check_send().expect("a send inside a transaction");
        let outcomes = self.outcomes.clone();
        let p = Pending::new(
            "t".into(),
            None,
            Some(value.to_vec()),
            Vec::new(),
            Some(1),
            Some(partition),
            Completion::callback(move |r| outcomes.lock().unwrap().push(r)),
        );
        self.memory.reserve(p.reserved(), Duration::ZERO, || {}).unwrap();
        self.engine.append(&mut { p }, self.now, 0);
    }

    /// Makes a transactional call and runs until it finishes.
    fn call(&mut self, op: TxnOp) -> Result<(), TransactionError> {
        let state: Arc<TxnCallState> = match self.gate.start(op)? {
            Start::New(done, state) => {
                self.engine.on_transaction_call(TxnCall::Op(op, done), self.now);
                state
            }
            Start::Resume(state) => state,
        };
        let end = self.now + Duration::from_secs(60);
        while !state.is_done() && self.now < end {
            self.turn();
            let next = self.engine.poll_timeout().unwrap_or(self.now + Duration::from_millis(10));
            self.now = next.clamp(self.now + Duration::from_micros(100), end);
        }
        crate::transaction::TransactionFuture::pending(state, op.name())
            .wait_timeout(Duration::ZERO)
            .expect("the call finished within 60 s of virtual time")
    }

    fn turn(&mut self) {
        loop {
            self.engine.poll(self.now);
            self.carry();
            if !super::sim_tests::deliver(&mut self.engine, &self.links, &mut self.inbound, self.now) {
                return;
            }
        }
    }

    fn carry(&mut self) {
        while let Some(t) = self.engine.poll_transmit() {
            match t {
                Transmit::Connect { node, addr } => {
                    self.links.insert(node, i32::from(addr.port() - 9000));
                    self.engine.on_connected(node, self.now);
                }
                Transmit::Resolve { host } => panic!("the mock's brokers are IP addresses, not {host}"),
                Transmit::Close { node } => {
                    self.links.remove(&node);
                    self.inbound.retain(|(n, _)| *n != node);
                }
                Transmit::Send { node, buf } => {
                    let broker = self.links[&node];
                    let wire = buf.to_vec();
                    let mut off = 0;
                    let mut closed = false;
                    while let Some((frame, used)) = split_frame(&wire[off..], usize::MAX).unwrap() {
                        self.sent.push(describe(frame));
                        let reply = self.cluster.handle_request(broker, frame).unwrap();
                        if let Some(resp) = reply.response {
                            self.inbound.push_back((node, resp));
                        }
                        if reply.close {
                            closed = true;
                            break;
                        }
                        off += used;
                    }
                    self.engine.on_sent(node, buf, self.now);
                    if closed {
                        self.links.remove(&node);
                        self.inbound.retain(|(n, _)| *n != node);
                        self.engine.on_closed(node, "simulated connection loss", self.now);
                    }
                }
            }
        }
    }

    fn apis(&self) -> Vec<ApiKey> {
        self.sent
            .iter()
            .map(|s| s.api)
            .filter(|a| !matches!(a, ApiKey::ApiVersions | ApiKey::Metadata))
            .collect()
    }

    fn produce(&self) -> Vec<&Sent> {
        self.sent.iter().filter(|s| s.api == ApiKey::Produce).collect()
    }

    fn versions(&self, api: ApiKey) -> Vec<i16> {
        self.sent.iter().filter(|s| s.api == api).map(|s| s.version).collect()
    }
}

/// The API and version of a request frame; for Produce, its transactional id and whether its
/// batches carry the transactional attribute.
fn describe(frame: &[u8]) -> Sent {
    let key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let api = ApiKey::from_i16(key).unwrap();
    let mut s = Sent { api, version, txn_id: None, transactional: false };
    if api == ApiKey::Produce {
        let mut r = Reader::new(frame);
        crate::protocol::header::RequestHeader::decode(&mut r, api.request_header_flexible(version)).unwrap();
        let req = ProduceRequest::decode(&mut r, version).unwrap();
        s.txn_id = req.transactional_id.clone();
        s.transactional = req.topics.iter().flat_map(|t| &t.partitions).all(|p| {
            decode_batches(p.records.as_deref().unwrap_or(&[]))
                .unwrap()
                .iter()
                .all(|b| b.attributes & attributes::TRANSACTIONAL != 0)
        });
    }
    s
}

#[test]
fn version_1_adds_each_partition_before_its_first_batch_and_caps_produce_at_v11() {
    let mut sim = TxnSim::new(1);
    sim.call(TxnOp::Init).unwrap();
    assert_eq!(sim.apis(), [ApiKey::FindCoordinator, ApiKey::InitProducerId]);
    for round in 0..2 {
        sim.gate.begin().unwrap();
        for i in 0..6 {
            sim.send(i % 2, format!("r{round}-{i}").as_bytes());
        }
        sim.call(TxnOp::Commit).unwrap();
    }
    let apis = sim.apis();
    let first_add = apis.iter().position(|a| *a == ApiKey::AddPartitionsToTxn).unwrap();
    let first_produce = apis.iter().position(|a| *a == ApiKey::Produce).unwrap();
    assert!(first_add < first_produce, "AddPartitionsToTxn before any Produce: {apis:?}");
    // Each transaction adds its partitions again (once), and ends with EndTxn.
    assert_eq!(apis.iter().filter(|a| **a == ApiKey::AddPartitionsToTxn).count(), 2, "{apis:?}");
    assert_eq!(apis.iter().filter(|a| **a == ApiKey::EndTxn).count(), 2);
    assert_eq!(*apis.last().unwrap(), ApiKey::EndTxn);
    for p in sim.produce() {
        assert!(p.version <= 11, "version 1: Produce v{} would add partitions implicitly", p.version);
        assert_eq!(p.txn_id.as_deref(), Some("sim-tx"));
        assert!(p.transactional, "every batch carries the transactional attribute");
    }
    assert!(sim.versions(ApiKey::EndTxn).iter().all(|v| *v <= 4));
    assert_eq!(sim.outcomes.lock().unwrap().iter().filter(|r| r.is_ok()).count(), 12);
    assert_eq!(sim.cluster.committed_records("t", 0).len() + sim.cluster.committed_records("t", 1).len(), 12);
}

#[test]
fn version_2_adds_partitions_by_produce_v12_and_takes_each_epoch_from_end_txn() {
    let mut sim = TxnSim::new(2);
    sim.call(TxnOp::Init).unwrap();
    let mut epochs = vec![sim.engine.idem.producer.unwrap().1];
    for round in 0..3 {
        sim.gate.begin().unwrap();
        for i in 0..4 {
            sim.send(i % 2, format!("r{round}-{i}").as_bytes());
        }
        sim.call(TxnOp::Commit).unwrap();
        epochs.push(sim.engine.idem.producer.unwrap().1);
    }
    let apis = sim.apis();
    assert!(!apis.contains(&ApiKey::AddPartitionsToTxn), "{apis:?}");
    assert!(sim.produce().iter().all(|p| p.version == 12 && p.transactional));
    assert!(sim.versions(ApiKey::EndTxn).iter().all(|v| *v == 5));
    assert_eq!(epochs, [0, 1, 2, 3], "an epoch bump per transaction, from EndTxn's answer");
}

#[test]
fn nothing_is_sent_for_a_transaction_nothing_reached() {
    for tv in [1, 2] {
        let mut sim = TxnSim::new(tv);
        sim.call(TxnOp::Init).unwrap();
        let before = sim.sent.len();
        sim.gate.begin().unwrap();
        sim.call(TxnOp::Commit).unwrap();
        sim.gate.begin().unwrap();
        sim.call(TxnOp::Abort).unwrap();
        assert_eq!(sim.sent.len(), before, "tv{tv}: empty transactions end locally");
    }
}

#[test]
fn a_lost_add_partitions_request_is_sent_again_and_nothing_is_produced_before_it_succeeds() {
    let mut sim = TxnSim::new(1);
    sim.call(TxnOp::Init).unwrap();
    sim.cluster.push_request_faults(Api::AddPartitionsToTxn, &[Fault::DropBefore]);
    sim.cluster.push_request_errors(Api::AddPartitionsToTxn, &[ErrorCode::CONCURRENT_TRANSACTIONS]);
    sim.gate.begin().unwrap();
    sim.send(0, b"x");
    sim.call(TxnOp::Commit).unwrap();
    let apis = sim.apis();
    let adds: Vec<usize> =
        apis.iter().enumerate().filter(|(_, a)| **a == ApiKey::AddPartitionsToTxn).map(|(i, _)| i).collect();
    assert_eq!(adds.len(), 3, "lost, CONCURRENT_TRANSACTIONS, added: {apis:?}");
    let produce = apis.iter().position(|a| *a == ApiKey::Produce).unwrap();
    assert!(produce > adds[2], "the partition's batch waited for the successful add: {apis:?}");
    assert!(apis.contains(&ApiKey::FindCoordinator), "a lost request looks the coordinator up again");
    assert_eq!(sim.cluster.committed_records("t", 0).len(), 1);
}
