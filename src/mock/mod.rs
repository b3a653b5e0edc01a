//! A mock Kafka cluster on loopback TCP, for testing an application against a broker that
//! fails on demand (enabled by the `mock` cargo feature).
//!
//! [`MockServer::start`] (or [`MockServer::with_topics`]) listens on one `127.0.0.1` port per
//! broker; give [`MockServer::bootstrap`] to [`ProducerConfig::new`](crate::ProducerConfig::new).
//! The cluster behind it ([`MockServer::cluster`], a [`MockCluster`]) speaks the real wire
//! protocol, stores the batches it accepts, validates CRCs and idempotent sequences like a
//! broker (a duplicate batch is acknowledged with its original offset; a gap gets
//! `OUT_OF_ORDER_SEQUENCE_NUMBER`), and takes injected faults: error codes, delays, dropped
//! connections, throttling, brokers down, leader moves, random [`Chaos`]. Dropping the
//! [`MockServer`] stops it.
//!
//! ```
//! use std::time::Duration;
//! use ringkafka::mock::{Api, Fault, MockServer};
//! use ringkafka::{ErrorCode, Producer, ProducerConfig, ProducerRecord, SenderCpu};
//!
//! let server = MockServer::with_topics(3, &[("orders", 6)]).unwrap();
//! // The next two Produce attempts on partition 0 fail with a retriable error: the producer
//! // retries them.
//! server.cluster().push_produce_errors("orders", 0, &[ErrorCode::NOT_ENOUGH_REPLICAS; 2]);
//! // The connection that carries the next Metadata request is dropped before the answer.
//! server.cluster().push_request_faults(Api::Metadata, &[Fault::DropBefore]);
//!
//! let config = ProducerConfig::new(&server.bootstrap()).sender_cpu(SenderCpu::Unpinned);
//! let producer: Producer = Producer::new(config).unwrap();
//! let record = ProducerRecord::new("orders", b"paid".to_vec()).partition(0);
//! let meta = producer.send(record).unwrap().wait().unwrap();
//! let stored = server.cluster().records("orders", 0);
//! assert_eq!((stored[0].0, stored[0].2.as_deref()), (meta.offset, Some(&b"paid"[..])));
//! producer.close(Duration::from_secs(5));
//! ```
//!
//! Inside the crate the cluster is also driven without sockets: the engine's deterministic
//! tests (virtual time) hand it request frames and take its response frames.

pub(crate) mod faults;
pub(crate) mod inspect;
pub(crate) mod sasl;
mod server;
mod txn;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

pub use faults::{Api, Chaos, Fault, Hostile, RETRIABLE_PRODUCE_ERRORS};
pub(crate) use faults::{Reply, SplitMix64};
pub(crate) use inspect::StoredBatch;
pub use server::MockServer;

use crate::protocol::error_code::ErrorCode;
use crate::protocol::frame::{begin_frame, end_frame};
use crate::protocol::header::{encode_response_header, RequestHeader};
use crate::protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, ApiVersion, ApiVersionsRequest, ApiVersionsResponse,
    Coordinator, Decode, Encode, EndTxnRequest, FinalizedFeature, FindCoordinatorRequest,
    FindCoordinatorResponse, InitProducerIdRequest, InitProducerIdResponse, LeaderIdAndEpoch, MetadataBroker,
    MetadataPartition, MetadataRequest, MetadataResponse, MetadataTopic, NodeEndpoint,
    PartitionProduceResponse, ProduceRequest, ProduceResponse, SupportedFeature, TopicProduceResponse,
    TxnOffsetCommitRequest, TRANSACTION_VERSION_FEATURE,
};
use crate::protocol::primitives::{DecodeError, Reader};
use crate::protocol::record_batch::{decode_batch_header, decode_batches};
use crate::protocol::version::ApiKey;

/// Fetch (key 1), v4 only, in the ApiVersions answer though the mock serves no Fetch: librdkafka
/// turns on the v2 record format (and so idempotence, and any Produce version from 3) only
/// for a broker that lists both Produce v3 and Fetch v4. Without it, librdkafka found no
/// Produce version it could use with the mock and every record timed out.
const FETCH_FOR_LIBRDKAFKA: ApiVersion = ApiVersion { api_key: 1, min_version: 4, max_version: 4 };

#[derive(Debug, Default, Clone)]
struct ProducerSeq {
    epoch: i16,
    /// The last five batches appended: (first sequence, last sequence, base offset).
    recent: VecDeque<(i32, i32, i64)>,
}

#[derive(Debug, Default)]
struct Partition {
    leader: i32,
    /// Bumped by every leader move, as a controller does.
    leader_epoch: i32,
    log: Vec<StoredBatch>,
    next_offset: i64,
    producers: HashMap<i64, ProducerSeq>,
    /// Errors to answer the next Produce attempts with, without appending.
    injected: VecDeque<ErrorCode>,
}

/// A stored record: (offset, key, value).
pub type StoredRecord = (i64, Option<Vec<u8>>, Option<Vec<u8>>);

/// The records of `batches`, in order.
fn records_of<'a>(batches: impl Iterator<Item = &'a StoredBatch>) -> Vec<StoredRecord> {
    batches
        .flat_map(|b| {
            b.batch
                .records
                .iter()
                .map(move |r| (b.base_offset + i64::from(r.offset_delta), r.key.clone(), r.value.clone()))
        })
        .collect()
}

/// A broker of the mock cluster.
#[derive(Debug, Clone)]
pub(crate) struct MockBroker {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
}

/// The state of a mock cluster: its brokers, topics and stored records, and the faults to
/// inject. Reached through [`MockServer::cluster`]; brokers have node ids `0..n`.
#[derive(Debug)]
pub struct MockCluster {
    brokers: Vec<MockBroker>,
    topics: BTreeMap<String, Vec<Partition>>,
    next_producer_id: i64,
    producer_epochs: HashMap<i64, i16>,
    /// Produce requests answered so far.
    pub(crate) produce_requests: u64,
    /// SASL, when set: connections must authenticate first (see [`sasl`]).
    pub(crate) sasl: Option<sasl::MockSasl>,
    /// Faults for the next requests of each API, in order.
    faults: HashMap<ApiKey, VecDeque<Fault>>,
    /// Random faults, if enabled.
    chaos: Option<Chaos>,
    /// Extra latency of every response from a broker.
    rtt: HashMap<i32, Duration>,
    /// Brokers that are down (the front end refuses and closes their connections).
    down: std::collections::HashSet<i32>,
    /// Leader moves made by chaos.
    pub(crate) leader_moves: u64,
    /// Batches refused for exceeding [`set_max_batch_bytes`](Self::set_max_batch_bytes).
    pub(crate) too_large: u64,
    hostile_rng: SplitMix64,
    /// The largest batch (in bytes) a Produce may carry; larger ones get MESSAGE_TOO_LARGE.
    max_batch_bytes: Option<usize>,
    /// Whether accepted records are kept (their count and offsets always are).
    drop_records: bool,
    /// Whether a partition accepts a non-zero first sequence from a producer it has no state for
    /// (see [`set_accept_any_first_sequence`](Self::set_accept_any_first_sequence)).
    any_first_sequence: bool,
    /// Whether a NOT_LEADER_OR_FOLLOWER answer names the partition's leader (KIP-951).
    leader_hints: bool,
    /// Transactions: the coordinator's state, and what read_committed readers see.
    txn: txn::MockTxns,
}

impl MockCluster {
    /// A cluster of `brokers` nodes (ids 0..n) on 127.0.0.1; ports are set by the front end
    /// with [`set_port`](Self::set_port).
    pub(crate) fn new(brokers: usize) -> Self {
        MockCluster {
            brokers: (0..brokers as i32)
                .map(|i| MockBroker { node_id: i, host: "127.0.0.1".into(), port: 0 })
                .collect(),
            topics: BTreeMap::new(),
            next_producer_id: 1000,
            producer_epochs: HashMap::new(),
            produce_requests: 0,
            faults: HashMap::new(),
            chaos: None,
            rtt: HashMap::new(),
            down: Default::default(),
            leader_moves: 0,
            too_large: 0,
            hostile_rng: SplitMix64::new(0x5eed),
            max_batch_bytes: None,
            drop_records: false,
            any_first_sequence: false,
            leader_hints: true,
            sasl: None,
            txn: txn::MockTxns::default(),
        }
    }

    /// Sets the advertised port of `node`.
    pub(crate) fn set_port(&mut self, node: i32, port: u16) {
        if let Some(b) = self.brokers.iter_mut().find(|b| b.node_id == node) {
            b.port = i32::from(port);
        }
    }

    /// Sets the advertised host of `node` (`127.0.0.1` by default): a name makes clients look
    /// it up.
    pub fn set_host(&mut self, node: i32, host: &str) {
        if let Some(b) = self.brokers.iter_mut().find(|b| b.node_id == node) {
            b.host = host.to_string();
        }
    }

    /// The brokers.
    pub(crate) fn brokers(&self) -> &[MockBroker] {
        &self.brokers
    }

    /// Creates a topic; partition `i`'s leader is broker `i % brokers`.
    pub fn create_topic(&mut self, name: &str, partitions: i32) {
        let n = self.brokers.len().max(1) as i32;
        let parts = (0..partitions).map(|i| Partition { leader: i % n, ..Default::default() }).collect();
        self.topics.insert(name.to_string(), parts);
    }

    /// Moves the leadership of a partition (to the same node: a new election, epoch bumped).
    pub fn set_leader(&mut self, topic: &str, partition: i32, node: i32) {
        if let Some(p) = self.partition_mut(topic, partition) {
            p.leader = node;
            p.leader_epoch += 1;
        }
    }

    /// The leader epoch of a partition (0 at creation, bumped by each leader move).
    pub fn leader_epoch(&self, topic: &str, partition: i32) -> Option<i32> {
        Some(self.topics.get(topic)?.get(partition as usize)?.leader_epoch)
    }

    /// The leader of a partition.
    pub fn leader(&self, topic: &str, partition: i32) -> Option<i32> {
        Some(self.topics.get(topic)?.get(partition as usize)?.leader)
    }

    /// The next `codes.len()` Produce attempts for the partition are answered with these errors
    /// (nothing is appended).
    pub fn push_produce_errors(&mut self, topic: &str, partition: i32, codes: &[ErrorCode]) {
        if let Some(p) = self.partition_mut(topic, partition) {
            p.injected.extend(codes.iter().copied());
        }
    }

    /// How a partition answers a batch whose first sequence is not 0 from a producer it has no
    /// state for. By default with UNKNOWN_PRODUCER_ID; with `true` it appends it, as Apache Kafka
    /// 2.5 to 4.4 do (KIP-360: "accept writes with any sequence number"). On such a broker a
    /// producer's later batch can be written before an earlier one that met a retriable error,
    /// after which the earlier one is OUT_OF_ORDER_SEQUENCE_NUMBER for good (KAFKA-15591; from
    /// Kafka 4.5 a never-written partition takes only sequence 0).
    pub(crate) fn set_accept_any_first_sequence(&mut self, on: bool) {
        self.any_first_sequence = on;
    }

    /// Whether a Produce answered NOT_LEADER_OR_FOLLOWER by a broker that is no longer the
    /// partition's leader carries the leader it moved to, its epoch and its endpoint (KIP-951,
    /// Produce v10+), as Apache Kafka 3.7+ does: on by default. `false` answers as older
    /// brokers do, and the client must ask Metadata. (Errors injected with
    /// [`push_produce_errors`](Self::push_produce_errors) never carry one: the leader did not
    /// move.)
    pub fn set_leader_hints(&mut self, on: bool) {
        self.leader_hints = on;
    }

    /// Makes the broker forget every producer's state (as after log truncation), so the next
    /// batch of each gets UNKNOWN_PRODUCER_ID.
    pub fn forget_producers(&mut self) {
        for parts in self.topics.values_mut() {
            for p in parts {
                p.producers.clear();
            }
        }
    }

    /// The next `faults.len()` requests of `api` (to any broker) meet these faults, in order
    /// (librdkafka's `rd_kafka_mock_push_request_errors`, generalised).
    pub fn push_request_faults(&mut self, api: Api, faults: &[Fault]) {
        self.faults.entry(api.key()).or_default().extend(faults.iter().copied());
    }

    /// The next `codes.len()` requests of `api` are answered with these errors.
    pub fn push_request_errors(&mut self, api: Api, codes: &[ErrorCode]) {
        let f: Vec<Fault> = codes.iter().map(|c| Fault::Error(*c)).collect();
        self.push_request_faults(api, &f);
    }

    /// Faults still queued for `api`.
    pub fn pending_faults(&self, api: Api) -> usize {
        self.faults.get(&api.key()).map_or(0, VecDeque::len)
    }

    /// Random faults of every category on a `probability` fraction of requests, from `seed`;
    /// `None` turns them off. Returns the previous chaos (with its counts).
    pub fn set_chaos(&mut self, chaos: Option<Chaos>) -> Option<Chaos> {
        std::mem::replace(&mut self.chaos, chaos)
    }

    /// The faults chaos injected so far, by category.
    pub fn chaos_counts(&self) -> BTreeMap<&'static str, u64> {
        self.chaos.as_ref().map(|c| c.counts.clone()).unwrap_or_default()
    }

    /// Every response from `node` is delayed by `rtt` (librdkafka's `rd_kafka_mock_broker_set_rtt`).
    pub fn set_rtt(&mut self, node: i32, rtt: Duration) {
        self.rtt.insert(node, rtt);
    }

    /// Takes `node` down (`false`) or brings it back up: while down, the front end closes its
    /// connections and refuses new ones; metadata still lists it, as a real cluster would until
    /// the controller notices.
    pub fn set_broker_up(&mut self, node: i32, up: bool) {
        if up {
            self.down.remove(&node);
        } else {
            self.down.insert(node);
        }
    }

    /// Whether `node` is up.
    pub fn is_up(&self, node: i32) -> bool {
        !self.down.contains(&node)
    }

    /// Batches larger than `bytes` are refused with MESSAGE_TOO_LARGE (`message.max.bytes`).
    pub fn set_max_batch_bytes(&mut self, bytes: Option<usize>) {
        self.max_batch_bytes = bytes;
    }

    /// `false`: accepted batches are kept without their records (offsets and counts only), so a
    /// long load run does not fill memory. The default is to keep them.
    pub fn set_retain_records(&mut self, retain: bool) {
        self.drop_records = !retain;
    }

    /// The finalized `transaction.version` the brokers advertise in ApiVersions (KIP-890): 2 by
    /// default, as Apache Kafka 4.x (Produce v12 adds partitions to a transaction, EndTxn v5
    /// bumps the epoch); 1 or 0 for the older protocol (AddPartitionsToTxn, AddOffsetsToTxn).
    pub fn set_transaction_version(&mut self, version: i16) {
        if self.txn.transaction_version != version {
            self.txn.transaction_version = version;
            self.txn.features_epoch += 1;
        }
    }

    /// Makes `node` the coordinator of every transactional id and group (node 0 by default).
    /// Requests a coordinator gets on another node are answered NOT_COORDINATOR: a coordinator
    /// move, as the producer sees one.
    pub fn set_transaction_coordinator(&mut self, node: i32) {
        self.txn.coordinator = node;
    }

    /// The records of a partition a `read_committed` consumer would see: those outside
    /// transactions and those of committed ones (a transaction still open hides its records,
    /// and nothing after them is held back, unlike a real broker's last stable offset).
    pub fn committed_records(&self, topic: &str, partition: i32) -> Vec<StoredRecord> {
        records_of(self.log(topic, partition).iter().filter(|b| {
            b.batch.attributes & crate::protocol::record_batch::attributes::TRANSACTIONAL == 0
                || self.txn.visible(topic, partition, b.base_offset)
        }))
    }

    /// The offset `group` committed for a partition in a transaction that committed.
    pub fn committed_offset(&self, group: &str, topic: &str, partition: i32) -> Option<i64> {
        self.txn.committed_offset(group, topic, partition)
    }

    /// Transactions committed and aborted so far (EndTxn, and aborts by a newer producer's
    /// InitProducerId).
    pub fn transactions_ended(&self) -> (u64, u64) {
        (self.txn.commits, self.txn.aborts)
    }

    /// The next offset of a partition (the number of records it holds).
    pub fn end_offset(&self, topic: &str, partition: i32) -> i64 {
        self.topics.get(topic).and_then(|p| p.get(partition as usize)).map_or(0, |p| p.next_offset)
    }

    /// The number of partitions of `topic`.
    pub fn partitions(&self, topic: &str) -> Option<i32> {
        self.topics.get(topic).map(|p| p.len() as i32)
    }

    /// The topics.
    pub fn topic_names(&self) -> Vec<String> {
        self.topics.keys().cloned().collect()
    }

    fn move_random_leader(&mut self) {
        let n = self.brokers.len() as u64;
        let Some(chaos) = self.chaos.as_mut() else { return };
        let total: usize = self.topics.values().map(Vec::len).sum();
        if total == 0 || n < 2 {
            return;
        }
        let mut pick = chaos.rng.below(total as u64) as usize;
        let to = chaos.rng.below(n) as i32;
        for parts in self.topics.values_mut() {
            if pick < parts.len() {
                parts[pick].leader = self.brokers[to as usize].node_id;
                parts[pick].leader_epoch += 1;
                self.leader_moves += 1;
                return;
            }
            pick -= parts.len();
        }
    }

    /// The batches stored for a partition.
    pub(crate) fn log(&self, topic: &str, partition: i32) -> &[StoredBatch] {
        self.topics.get(topic).and_then(|p| p.get(partition as usize)).map_or(&[], |p| &p.log)
    }

    /// Every record stored for a partition: (offset, key, value).
    pub fn records(&self, topic: &str, partition: i32) -> Vec<StoredRecord> {
        records_of(self.log(topic, partition).iter())
    }

    fn partition_mut(&mut self, topic: &str, partition: i32) -> Option<&mut Partition> {
        self.topics.get_mut(topic)?.get_mut(partition as usize)
    }

    /// Handles one request frame body (without its size prefix) received by `node`. Returns the
    /// framed response, or `None` when none is due (Produce with acks=0, or an injected
    /// dropped connection). Injected delays are ignored here; see [`handle_request`](Self::handle_request).
    pub(crate) fn handle(&mut self, node: i32, frame: &[u8]) -> Result<Option<Vec<u8>>, DecodeError> {
        Ok(self.handle_request(node, frame)?.response)
    }

    /// Handles one request frame body received by `node`, with the injected faults: returns what
    /// to write, after how long, and whether to close the connection. A request that does not
    /// decode is an `Err`: the front end drops that connection.
    pub(crate) fn handle_request(&mut self, node: i32, frame: &[u8]) -> Result<Reply, DecodeError> {
        let mut peek = Reader::new(frame);
        let key = peek.i16()?;
        let version = peek.i16()?;
        let api =
            ApiKey::from_i16(key).ok_or(DecodeError::InvalidValue { field: "api_key", value: key.into() })?;
        let mut r = Reader::new(frame);
        let (_, _, correlation_id, _) = RequestHeader::decode(&mut r, api.request_header_flexible(version))?;
        let mut fault = self.faults.get_mut(&api).and_then(VecDeque::pop_front);
        if fault.is_none() && api != ApiKey::ApiVersions {
            if let Some(chaos) = self.chaos.as_mut() {
                match chaos.pick(api == ApiKey::Produce) {
                    Some(Ok(f)) => fault = Some(f),
                    Some(Err(())) => self.move_random_leader(),
                    None => {}
                }
            }
        }
        let mut reply = Reply::default();
        let mut error = None;
        let mut throttle = 0;
        match fault {
            None => {}
            Some(Fault::DropBefore) => {
                reply.close = true;
                return Ok(reply);
            }
            Some(Fault::Hostile(h)) => {
                reply.response = Some(faults::hostile_bytes(h, correlation_id, &mut self.hostile_rng));
                reply.close = true;
                return Ok(reply);
            }
            Some(Fault::Error(code)) => error = Some(code),
            Some(Fault::Delay(d)) => reply.delay = d,
            Some(Fault::DropAfter) => reply.close = true,
            Some(Fault::Throttle(d)) => {
                if api.client_throttles(version) {
                    reply.mute = d;
                } else {
                    reply.delay = d;
                }
                throttle = d.as_millis().min(i32::MAX as u128) as i32;
            }
        }
        reply.delay += self.rtt.get(&node).copied().unwrap_or_default();
        let mut out = Vec::new();
        let at = begin_frame(&mut out);
        encode_response_header(correlation_id, api.response_header_flexible(version), &mut out);
        if let Some(s) = self.sasl.as_mut() {
            if s.handle(node, api, version, &mut r, &mut out)? {
                end_frame(&mut out, at);
                reply.response = Some(out);
                return Ok(reply);
            }
        }
        match api {
            ApiKey::ApiVersions => {
                // Answer an unknown version as a broker does: UNSUPPORTED_VERSION in v0 form.
                let supported = ApiKey::ApiVersions.supported();
                let (code, v) = if version > supported.max {
                    (ErrorCode::UNSUPPORTED_VERSION, 0)
                } else {
                    (error.unwrap_or(ErrorCode::NONE), version)
                };
                if version <= supported.max {
                    ApiVersionsRequest::decode(&mut r, version)?;
                }
                let mut api_keys: Vec<ApiVersion> = ApiKey::ALL
                    .iter()
                    .map(|k| ApiVersion {
                        api_key: *k as i16,
                        min_version: k.supported().min,
                        max_version: k.supported().max,
                    })
                    .collect();
                api_keys.push(FETCH_FOR_LIBRDKAFKA);
                let tv = self.txn.transaction_version;
                let resp = ApiVersionsResponse {
                    error_code: code,
                    api_keys,
                    throttle_time_ms: throttle,
                    supported_features: vec![SupportedFeature {
                        name: TRANSACTION_VERSION_FEATURE.into(),
                        min_version: 0,
                        max_version: 2,
                    }],
                    finalized_features_epoch: self.txn.features_epoch,
                    finalized_features: vec![FinalizedFeature {
                        name: TRANSACTION_VERSION_FEATURE.into(),
                        max_version_level: tv,
                        min_version_level: tv,
                    }],
                };
                resp.encode(v, &mut out);
            }
            ApiKey::Metadata => {
                let req = MetadataRequest::decode(&mut r, version)?;
                let mut resp = self.metadata(&req);
                resp.throttle_time_ms = throttle;
                if let Some(code) = error {
                    for t in &mut resp.topics {
                        t.error_code = code;
                        t.partitions.clear();
                    }
                }
                resp.encode(version, &mut out);
            }
            ApiKey::InitProducerId => {
                let req = InitProducerIdRequest::decode(&mut r, version)?;
                let mut resp = match error {
                    None if req.transactional_id.is_some() => {
                        self.txn.init_producer_id(node, &req, &mut self.next_producer_id)
                    }
                    None => self.init_producer_id(&req),
                    Some(code) => InitProducerIdResponse {
                        throttle_time_ms: 0,
                        error_code: code,
                        producer_id: -1,
                        producer_epoch: -1,
                    },
                };
                resp.throttle_time_ms = throttle;
                resp.encode(version, &mut out);
            }
            ApiKey::Produce => {
                let req = ProduceRequest::decode(&mut r, version)?;
                let mut resp = self.produce(node, version, &req, error);
                resp.throttle_time_ms = throttle;
                if req.acks == 0 {
                    return Ok(reply);
                }
                resp.encode(version, &mut out);
            }
            ApiKey::SaslHandshake | ApiKey::SaslAuthenticate => {
                return Err(DecodeError::InvalidValue { field: "api_key (SASL is off)", value: key.into() })
            }
            ApiKey::FindCoordinator => {
                let req = FindCoordinatorRequest::decode(&mut r, version)?;
                let c = self.brokers.iter().find(|b| b.node_id == self.txn.coordinator).cloned();
                let coordinators = req
                    .keys
                    .iter()
                    .map(|k| {
                        let key = if version >= 4 { k.clone() } else { String::new() };
                        match (error, &c) {
                            (None, Some(b)) => Coordinator {
                                key,
                                node_id: b.node_id,
                                host: b.host.clone(),
                                port: b.port,
                                error_code: ErrorCode::NONE,
                                error_message: None,
                            },
                            (e, _) => Coordinator {
                                key,
                                node_id: -1,
                                host: String::new(),
                                port: -1,
                                error_code: e.unwrap_or(ErrorCode::COORDINATOR_NOT_AVAILABLE),
                                error_message: None,
                            },
                        }
                    })
                    .collect();
                FindCoordinatorResponse { throttle_time_ms: throttle, coordinators }
                    .encode(version, &mut out);
            }
            ApiKey::AddPartitionsToTxn => {
                let req = AddPartitionsToTxnRequest::decode(&mut r, version)?;
                let topics = &self.topics;
                let exists =
                    |t: &str, p: i32| topics.get(t).is_some_and(|ps| p >= 0 && (p as usize) < ps.len());
                let mut resp = self.txn.add_partitions(node, &req, error, exists);
                resp.throttle_time_ms = throttle;
                resp.encode(version, &mut out);
            }
            ApiKey::AddOffsetsToTxn => {
                let req = AddOffsetsToTxnRequest::decode(&mut r, version)?;
                let mut resp = self.txn.add_offsets(node, &req, error);
                resp.throttle_time_ms = throttle;
                resp.encode(version, &mut out);
            }
            ApiKey::TxnOffsetCommit => {
                let req = TxnOffsetCommitRequest::decode(&mut r, version)?;
                let mut resp = self.txn.txn_offset_commit(node, version, &req, error);
                resp.throttle_time_ms = throttle;
                resp.encode(version, &mut out);
            }
            ApiKey::EndTxn => {
                let req = EndTxnRequest::decode(&mut r, version)?;
                let mut resp = self.txn.end_txn(node, version, &req, error);
                resp.throttle_time_ms = throttle;
                resp.encode(version, &mut out);
            }
        }
        end_frame(&mut out, at);
        if !(reply.close && fault == Some(Fault::DropAfter)) {
            reply.response = Some(out);
        }
        Ok(reply)
    }

    fn metadata(&self, req: &MetadataRequest) -> MetadataResponse {
        let names: Vec<String> = match &req.topics {
            Some(t) if !t.is_empty() => t.clone(),
            _ => self.topics.keys().cloned().collect(),
        };
        MetadataResponse {
            throttle_time_ms: 0,
            brokers: self
                .brokers
                .iter()
                .map(|b| MetadataBroker {
                    node_id: b.node_id,
                    host: b.host.clone(),
                    port: b.port,
                    rack: None,
                })
                .collect(),
            cluster_id: Some("ringkafka-mock".into()),
            controller_id: 0,
            topics: names
                .into_iter()
                .map(|name| match self.topics.get(&name) {
                    None => MetadataTopic {
                        error_code: ErrorCode::UNKNOWN_TOPIC_OR_PARTITION,
                        name: Some(name),
                        topic_id: [0; 16],
                        is_internal: false,
                        partitions: Vec::new(),
                        topic_authorized_operations: i32::MIN,
                    },
                    Some(parts) => MetadataTopic {
                        error_code: ErrorCode::NONE,
                        name: Some(name),
                        topic_id: [0; 16],
                        is_internal: false,
                        partitions: parts
                            .iter()
                            .enumerate()
                            .map(|(i, p)| MetadataPartition {
                                error_code: ErrorCode::NONE,
                                partition_index: i as i32,
                                leader_id: p.leader,
                                leader_epoch: p.leader_epoch,
                                replica_nodes: vec![p.leader],
                                isr_nodes: vec![p.leader],
                                offline_replicas: Vec::new(),
                            })
                            .collect(),
                        topic_authorized_operations: i32::MIN,
                    },
                })
                .collect(),
            cluster_authorized_operations: i32::MIN,
        }
    }

    fn init_producer_id(&mut self, req: &InitProducerIdRequest) -> InitProducerIdResponse {
        let (id, epoch) = match self.producer_epochs.get(&req.producer_id) {
            Some(&e) if req.producer_id >= 0 && req.producer_epoch == e => (req.producer_id, e + 1),
            _ => {
                let id = self.next_producer_id;
                self.next_producer_id += 1;
                (id, 0)
            }
        };
        self.producer_epochs.insert(id, epoch);
        InitProducerIdResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::NONE,
            producer_id: id,
            producer_epoch: epoch,
        }
    }

    fn produce(
        &mut self,
        node: i32,
        version: i16,
        req: &ProduceRequest,
        error: Option<ErrorCode>,
    ) -> ProduceResponse {
        self.produce_requests += 1;
        let mut responses = Vec::new();
        for t in &req.topics {
            let mut parts = Vec::new();
            for pd in &t.partitions {
                let records = pd.records.as_deref().unwrap_or(&[]);
                let leads = self.leader(&t.name, pd.index) == Some(node);
                let txn = match error {
                    Some(code) => Err(code),
                    None if !leads => Ok(None), // append answers NOT_LEADER_OR_FOLLOWER
                    None => self.txn.check_produce(
                        req.transactional_id.as_deref(),
                        version,
                        &t.name,
                        pd.index,
                        records,
                    ),
                };
                let (code, base) = match txn {
                    Err(code) => (code, -1),
                    Ok(tid) => {
                        let (code, base) = self.append(node, &t.name, pd.index, records);
                        if let (Some(tid), true) = (tid, code.is_ok()) {
                            self.txn.appended(&tid, &t.name, pd.index, base);
                        }
                        (code, base)
                    }
                };
                let moved = self
                    .topics
                    .get(&t.name)
                    .and_then(|p| p.get(pd.index as usize))
                    .filter(|p| {
                        code == ErrorCode::NOT_LEADER_OR_FOLLOWER && p.leader != node && self.leader_hints
                    })
                    .map(|p| LeaderIdAndEpoch { leader_id: p.leader, leader_epoch: p.leader_epoch });
                parts.push(PartitionProduceResponse {
                    index: pd.index,
                    error_code: code,
                    base_offset: base,
                    log_append_time_ms: -1,
                    log_start_offset: 0,
                    record_errors: Vec::new(),
                    error_message: None,
                    current_leader: moved,
                });
            }
            responses.push(TopicProduceResponse { name: t.name.clone(), partitions: parts });
        }
        // KIP-951: where each leader named in a partition's answer listens.
        let mut node_endpoints: Vec<NodeEndpoint> = Vec::new();
        for l in responses.iter().flat_map(|t| &t.partitions).filter_map(|p| p.current_leader) {
            if let Some(b) = self.brokers.iter().find(|b| b.node_id == l.leader_id) {
                if !node_endpoints.iter().any(|e| e.node_id == b.node_id) {
                    node_endpoints.push(NodeEndpoint {
                        node_id: b.node_id,
                        host: b.host.clone(),
                        port: b.port,
                        rack: None,
                    });
                }
            }
        }
        ProduceResponse { responses, throttle_time_ms: 0, node_endpoints }
    }

    fn append(&mut self, node: i32, topic: &str, partition: i32, records: &[u8]) -> (ErrorCode, i64) {
        let max_batch_bytes = self.max_batch_bytes;
        let drop_records = self.drop_records;
        let any_first_sequence = self.any_first_sequence;
        let Some(p) = self.partition_mut(topic, partition) else {
            return (ErrorCode::UNKNOWN_TOPIC_OR_PARTITION, -1);
        };
        if p.leader != node {
            return (ErrorCode::NOT_LEADER_OR_FOLLOWER, -1);
        }
        if let Some(code) = p.injected.pop_front() {
            return (code, -1);
        }
        if max_batch_bytes.is_some_and(|m| records.len() > m) {
            self.too_large += 1;
            return (ErrorCode::MESSAGE_TOO_LARGE, -1);
        }
        // Records that are not kept are not decoded either (the CRC is still checked): a load
        // run against the mock measures the producer, not the mock.
        let (batch, count) = if drop_records {
            match decode_batch_header(records) {
                Ok(b) => b,
                Err(_) => return (ErrorCode::CORRUPT_MESSAGE, -1),
            }
        } else {
            match decode_batches(records) {
                Ok(b) if b.len() == 1 => {
                    let batch = b.into_iter().next().expect("one batch");
                    let count = batch.records.len() as i32;
                    (batch, count)
                }
                _ => return (ErrorCode::CORRUPT_MESSAGE, -1),
            }
        };
        if batch.producer_id >= 0 {
            let first = batch.base_sequence;
            let last = first.wrapping_add(count - 1);
            match p.producers.get_mut(&batch.producer_id) {
                None if first != 0 && !any_first_sequence => return (ErrorCode::UNKNOWN_PRODUCER_ID, -1),
                None => {}
                Some(s) if batch.producer_epoch < s.epoch => return (ErrorCode::INVALID_PRODUCER_EPOCH, -1),
                Some(s) if batch.producer_epoch > s.epoch => {
                    if first != 0 {
                        return (ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER, -1);
                    }
                    s.epoch = batch.producer_epoch;
                    s.recent.clear();
                }
                Some(s) => {
                    if let Some(&(_, _, off)) = s.recent.iter().find(|(f, l, _)| *f == first && *l == last) {
                        return (ErrorCode::NONE, off); // a duplicate: the original offset
                    }
                    let expected = s.recent.back().map_or(0, |(_, l, _)| l.wrapping_add(1));
                    if first != expected {
                        return (ErrorCode::OUT_OF_ORDER_SEQUENCE_NUMBER, -1);
                    }
                }
            }
            let s = p
                .producers
                .entry(batch.producer_id)
                .or_insert_with(|| ProducerSeq { epoch: batch.producer_epoch, ..Default::default() });
            s.recent.push_back((first, last, p.next_offset));
            if s.recent.len() > 5 {
                s.recent.pop_front();
            }
        }
        let base = p.next_offset;
        p.next_offset += i64::from(count);
        p.log.push(StoredBatch { base_offset: base, batch });
        (ErrorCode::NONE, base)
    }
}
