//! `--client ceiling`: the broker's ceiling, measured by a client that costs next to nothing,
//! so that each real client's rate can be stated as a fraction of what the broker takes on the
//! same machine in the same run.
//!
//! Per broker that leads a partition of the topic, one thread and one plain blocking socket. The
//! Produce request (one batch per partition the broker leads, each batch as large as the
//! producer's own batches grow under full load — `batch.max.size`, within `max.request.size` —,
//! compressed as `compression.type` says) is encoded once; for every send
//! only the correlation id is patched, and with idempotence each batch's base sequence and its
//! CRC. Requests are pipelined up to `max.in.flight.requests.per.connection`; a response
//! completes its request's records (latency from the write). No batching decisions, no queue,
//! no callbacks, no copies: what is left is the broker.
//!
//! The workload's keys and schedule do not apply (every record carries the first value; sending
//! is unpaced), nor a run by duration (it needs `--num-records`); with several topics, the
//! first is used. A record the broker refuses is counted as failed; nothing is retried.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Mutex;
use std::time::Instant;

use ringkafka::internals::protocol::header::RequestHeader;
use ringkafka::internals::protocol::messages::api_versions::decode_api_versions_response;
use ringkafka::internals::protocol::messages::{
    decode_response, encode_request, ApiVersionsRequest, InitProducerIdRequest, MetadataRequest,
    ProduceRequest, ProduceWriter,
};
use ringkafka::internals::protocol::record_batch::{seal, set_producer_fields, BatchWriter, ProducerFields};
use ringkafka::internals::protocol::version::{NegotiatedVersions, VersionRange};
use ringkafka::internals::protocol::ApiKey;
use ringkafka::ProducerConfig;

use crate::payload::Rng;
use crate::stats::Stats;
use crate::{Target, Workload};

/// The ceiling client (see the module docs).
#[derive(Debug)]
pub struct Ceiling {
    cfg: ProducerConfig,
    /// Set up by the first `send_range`: the cluster as Metadata describes it.
    cluster: Mutex<Option<Cluster>>,
}

#[derive(Debug, Clone)]
struct Cluster {
    versions: NegotiatedVersions,
    producer: ProducerFields,
    /// (broker address, partitions it leads).
    leaders: Vec<(String, Vec<i32>)>,
}

/// A connection's pre-encoded request and where to patch it.
struct Request {
    bytes: Vec<u8>,
    /// Offset of each batch in `bytes`, its length, and its partition's next base sequence.
    batches: Vec<(usize, usize, i32)>,
    records: u64,
}

impl Ceiling {
    pub fn new(cfg: ProducerConfig) -> Self {
        Ceiling { cfg, cluster: Mutex::new(None) }
    }

    fn cluster(&self, topic: &str) -> Result<Cluster, String> {
        let mut c = self.cluster.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = c.as_ref() {
            return Ok(c.clone());
        }
        let found = discover(&self.cfg, topic)?;
        *c = Some(found.clone());
        Ok(found)
    }

    /// One connection's loop: `records` records to the partitions `parts` of `topic`.
    #[allow(clippy::too_many_arguments)]
    fn drive(
        &self,
        cluster: &Cluster,
        addr: &str,
        parts: &[i32],
        w: &Workload,
        topic: &str,
        records: u64,
        first: u64,
        stats: &'static Stats,
    ) -> Result<(), String> {
        let mut rng = Rng::from_time(first);
        let value = w.payloads.value(0, &mut rng);
        let mut sock = TcpStream::connect(addr).map_err(|e| format!("connect to {addr}: {e}"))?;
        sock.set_nodelay(true).map_err(|e| e.to_string())?;
        let per_batch = records_per_batch(&self.cfg, parts.len(), &value);
        let mut full = self.request_of(cluster, topic, parts, &vec![per_batch as usize; parts.len()], &value);
        let mut in_flight: std::collections::VecDeque<(Instant, u64)> = std::collections::VecDeque::new();
        let mut sequences: Vec<i32> = vec![0; parts.len()];
        let mut sent = 0u64;
        let mut correlation = 0i32;
        let mut frame = Vec::new();
        let mut tail: Option<Request> = None;
        while sent < records || !in_flight.is_empty() {
            if sent < records && in_flight.len() < self.cfg.max_in_flight {
                let left = records - sent;
                let req = if left >= full.records {
                    &mut full
                } else {
                    // The last request: the records left, spread over the partitions.
                    let per = left.div_ceil(parts.len() as u64) as usize;
                    let counts: Vec<usize> =
                        (0..parts.len()).map(|i| per.min((left as usize).saturating_sub(i * per))).collect();
                    tail.insert(self.request_of(cluster, topic, parts, &counts, &value))
                };
                correlation = correlation.wrapping_add(1);
                req.bytes[8..12].copy_from_slice(&correlation.to_be_bytes());
                if cluster.producer.producer_id >= 0 {
                    for (i, (at, len, _)) in req.batches.iter().enumerate() {
                        let n = ringkafka::internals::protocol::record_batch::batch_record_count(
                            &req.bytes[*at..at + len],
                        );
                        let fields = ProducerFields { base_sequence: sequences[i], ..cluster.producer };
                        set_producer_fields(&mut req.bytes[*at..at + len], fields);
                        seal(&mut req.bytes[*at..at + len]);
                        sequences[i] = sequences[i].wrapping_add(n);
                    }
                }
                let at = Instant::now();
                if w.warmup_records > 0
                    && first + sent <= w.warmup_records
                    && first + sent + req.records > w.warmup_records
                {
                    stats.start_steady_state(at);
                }
                sock.write_all(&req.bytes).map_err(|e| format!("write to {addr}: {e}"))?;
                in_flight.push_back((at, req.records));
                sent += req.records;
                continue;
            }
            if self.cfg.acks == ringkafka::Acks::None {
                // Nothing comes back: written is all there is to know.
                while let Some((at, n)) = in_flight.pop_front() {
                    stats.record_ok_n(at, value.len(), n);
                }
                continue;
            }
            read_frame(&mut sock, &mut frame).map_err(|e| format!("read from {addr}: {e}"))?;
            let (at, n) = in_flight.pop_front().expect("a request in flight");
            let (_, resp) = decode_response::<ProduceRequest>(&frame, cluster.versions.produce)
                .map_err(|e| format!("malformed Produce response: {e}"))?;
            let refused =
                resp.responses.iter().flat_map(|t| t.partitions.iter()).find(|p| !p.error_code.is_ok());
            match refused {
                None => stats.record_ok_n(at, value.len(), n),
                Some(p) => {
                    let e = format!("partition {}: {:?}", p.index, p.error_code);
                    for _ in 0..n {
                        stats.record_err(&e);
                    }
                }
            }
        }
        Ok(())
    }

    /// The request for `parts` with `counts[i]` records in partition `parts[i]`'s batch, the
    /// batches spliced in once (the request goes out again and again).
    fn request_of(
        &self,
        cluster: &Cluster,
        topic: &str,
        parts: &[i32],
        counts: &[usize],
        value: &[u8],
    ) -> Request {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let batches: Vec<Vec<u8>> = counts
            .iter()
            .map(|&n| {
                let mut w = BatchWriter::with_codec(
                    Vec::new(),
                    cluster.producer,
                    0,
                    ringkafka::internals::codec(&self.cfg),
                );
                for _ in 0..n {
                    w.append(now, None, Some(value), &[]);
                }
                w.close()
            })
            .collect();
        let live: Vec<usize> = (0..parts.len()).filter(|&i| counts[i] > 0).collect();
        let mut bytes = Vec::new();
        let header = RequestHeader {
            api_key: ApiKey::Produce,
            api_version: cluster.versions.produce,
            correlation_id: 0,
            client_id: Some(&self.cfg.client_id),
        };
        let timeout_ms = self.cfg.request_timeout.as_millis().min(i32::MAX as u128) as i32;
        let mut w = ProduceWriter::begin(&mut bytes, header, None, self.cfg.acks.as_i16(), timeout_ms, 1);
        w.topic(topic, live.len());
        let mut at = Vec::new();
        for &i in &live {
            let off = w.partition_spliced(parts[i], batches[i].len());
            at.push((off, i));
        }
        w.end_topic();
        w.finish();
        let mut out = Vec::with_capacity(bytes.len() + batches.iter().map(Vec::len).sum::<usize>());
        let mut from = 0;
        let mut spans = Vec::new();
        for (off, i) in at {
            out.extend_from_slice(&bytes[from..off]);
            spans.push((out.len(), batches[i].len(), 0));
            out.extend_from_slice(&batches[i]);
            from = off;
        }
        out.extend_from_slice(&bytes[from..]);
        Request { bytes: out, batches: spans, records: counts.iter().sum::<usize>() as u64 }
    }
}

/// How many records of `value` one batch holds: as many as the largest batch the producer
/// builds under full load (`batch.size`, grown up to `batch.max.size` while a partition's
/// broker is busy), with one batch per partition still within `max.request.size`. A ceiling
/// measured with smaller batches than the producer's own would be no ceiling.
fn records_per_batch(cfg: &ProducerConfig, partitions: usize, value: &[u8]) -> u64 {
    let grown = cfg.batch_max_size.min(cfg.max_request_size / partitions.max(1));
    let limit = cfg.batch_size.max(grown);
    let mut w = BatchWriter::new(Vec::new(), ProducerFields::NONE, 0);
    let mut n = 0;
    while w.try_append(limit, 0, None, Some(value), &[]).is_some() {
        n += 1;
        if n >= 100_000 {
            break;
        }
    }
    n.max(1)
}

fn read_frame(sock: &mut TcpStream, frame: &mut Vec<u8>) -> std::io::Result<()> {
    let mut size = [0u8; 4];
    sock.read_exact(&mut size)?;
    let n = i32::from_be_bytes(size);
    if !(0..=(100 << 20)).contains(&n) {
        return Err(std::io::Error::other(format!("frame of {n} bytes")));
    }
    frame.resize(n as usize, 0);
    sock.read_exact(frame)
}

/// One request/response on `sock` (setup only).
fn call<R: ringkafka::internals::protocol::messages::Request>(
    sock: &mut TcpStream,
    version: i16,
    body: &R,
    client: &str,
) -> Result<R::Response, String> {
    let mut buf = Vec::new();
    encode_request(&mut buf, version, 1, Some(client), body);
    sock.write_all(&buf).map_err(|e| e.to_string())?;
    let mut frame = Vec::new();
    read_frame(sock, &mut frame).map_err(|e| e.to_string())?;
    Ok(decode_response::<R>(&frame, version).map_err(|e| format!("{:?}: {e}", R::API_KEY))?.1)
}

/// Versions, the producer id (with idempotence) and the topic's leaders, from the first
/// bootstrap server.
fn discover(cfg: &ProducerConfig, topic: &str) -> Result<Cluster, String> {
    let boot = cfg.bootstrap_servers.first().ok_or("no bootstrap server")?;
    let addr = boot.to_socket_addrs().map_err(|e| format!("{boot}: {e}"))?.next().ok_or("no address")?;
    let mut sock = TcpStream::connect(addr).map_err(|e| format!("connect to {boot}: {e}"))?;
    let mut buf = Vec::new();
    let req =
        ApiVersionsRequest { client_software_name: String::new(), client_software_version: String::new() };
    encode_request(&mut buf, 0, 0, Some(&cfg.client_id), &req);
    sock.write_all(&buf).map_err(|e| e.to_string())?;
    let mut frame = Vec::new();
    read_frame(&mut sock, &mut frame).map_err(|e| e.to_string())?;
    let resp = decode_api_versions_response(frame.get(4..).unwrap_or(&[]), 0).map_err(|e| e.to_string())?;
    let versions = NegotiatedVersions::from_broker(|k| {
        resp.api_keys
            .iter()
            .find(|a| a.api_key == k)
            .map(|a| VersionRange { min: a.min_version, max: a.max_version })
    })
    .map_err(|e| e.to_string())?;
    let md = call(
        &mut sock,
        versions.metadata,
        &MetadataRequest {
            topics: Some(vec![topic.to_string()]),
            allow_auto_topic_creation: false,
            include_topic_authorized_operations: false,
        },
        &cfg.client_id,
    )?;
    let t = md
        .topics
        .iter()
        .find(|t| t.name.as_deref() == Some(topic))
        .filter(|t| t.error_code.is_ok() && !t.partitions.is_empty())
        .ok_or_else(|| format!("topic {topic} is not known to the broker (create it first)"))?;
    let mut leaders: Vec<(String, Vec<i32>)> = Vec::new();
    for p in &t.partitions {
        let b = md.brokers.iter().find(|b| b.node_id == p.leader_id).ok_or("a partition without a leader")?;
        let a = format!("{}:{}", b.host, b.port);
        match leaders.iter_mut().find(|(x, _)| *x == a) {
            Some((_, v)) => v.push(p.partition_index),
            None => leaders.push((a, vec![p.partition_index])),
        }
    }
    let producer = if cfg.enable_idempotence {
        let r = call(
            &mut sock,
            versions.init_producer_id,
            &InitProducerIdRequest {
                transactional_id: None,
                transaction_timeout_ms: 60_000,
                producer_id: -1,
                producer_epoch: -1,
            },
            &cfg.client_id,
        )?;
        if !r.error_code.is_ok() {
            return Err(format!("InitProducerId: {:?}", r.error_code));
        }
        ProducerFields { producer_id: r.producer_id, producer_epoch: r.producer_epoch, base_sequence: 0 }
    } else {
        ProducerFields::NONE
    };
    Ok(Cluster { versions, producer, leaders })
}

impl Target for Ceiling {
    fn send_range(&self, w: &Workload, t: usize, _start: Instant, stats: &'static Stats) {
        if w.num_records.is_none() {
            eprintln!("ringkafka-perf: --client ceiling needs --num-records (not a duration)");
            return;
        }
        let range = w.range(t).0;
        stats.add_sent(range.end - range.start);
        let topic: &str = &w.topics[0];
        let cluster = match self.cluster(topic) {
            Ok(c) => c,
            Err(e) => {
                for _ in range {
                    stats.record_err(&e);
                }
                return;
            }
        };
        if t > 0 && cluster.producer.producer_id >= 0 {
            // One producer id, one sequence per partition: a second thread would break them.
            for _ in range {
                stats.record_err(&"--client ceiling with idempotence runs one thread");
            }
            return;
        }
        // The thread's records split over the leaders by their partition counts.
        let total_parts: usize = cluster.leaders.iter().map(|(_, p)| p.len()).sum();
        let n = range.end - range.start;
        std::thread::scope(|s| {
            let mut first = range.start;
            for (i, (addr, parts)) in cluster.leaders.iter().enumerate() {
                let share = if i + 1 == cluster.leaders.len() {
                    range.end - first
                } else {
                    n * parts.len() as u64 / total_parts as u64
                };
                let (cluster, from) = (&cluster, first);
                first += share;
                s.spawn(move || {
                    // Records left without an outcome are reported by the run's summary.
                    if let Err(e) = self.drive(cluster, addr, parts, w, topic, share, from, stats) {
                        eprintln!("ringkafka-perf: ceiling: {e}");
                    }
                });
            }
        });
    }

    fn flush(&self) -> Result<(), String> {
        Ok(())
    }

    fn close(&self) {}
}
