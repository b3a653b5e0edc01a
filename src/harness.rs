//! A whole producer on one thread, with no ring and no socket: for counting what a record costs
//! in instructions and allocations (`benches/instructions.rs`, `tools/perf/instr.sh`).
//!
//! - The application side is the public API: [`Pipeline::producer`] is a real [`Producer`]
//!   whose `send`s go through the real queue. Its waker is never armed, so a `send` makes no
//!   syscall (as at full rate, when the sender is never parked).
//! - [`Pipeline::turn`] is one turn of the sender's loop as `sender::run` does it — the
//!   network's events, `sender::take_messages`, `Engine::poll`, the
//!   engine's transmits — minus the ring: the events come from this pipeline, and the
//!   transmits wait in it for [`Pipeline::network`].
//! - [`Pipeline::network`] is the broker: it carries the transmits to an in-process
//!   [`MockCluster`], queues its answers for the next turn, and moves virtual time on.
//!
//! Valgrind cannot run the real sender (it does not let a thread blocked in `io_uring_enter` be
//! woken by another thread's eventfd write, so a callgrind run of `ringkafka-perf` hangs); this
//! runs everything but the driver and the syscalls, deterministically, so that instruction
//! counts repeat to the last digit whatever the machine is doing.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::config::ProducerConfig;
use crate::engine::{Engine, Transmit};
use crate::io::{queue, SendBuf};
use crate::mock::MockCluster;
use crate::producer::Producer;
use crate::protocol::frame::split_frame;
use crate::sender::{self, Msg};

/// The address the pipeline's one broker answers at.
const BROKER: &str = "127.0.0.1:9000";

/// What the network did since the last turn.
#[derive(Debug)]
enum NetEvent {
    Connected(i32),
    Resolved(String, Result<Vec<std::net::IpAddr>, String>),
    Sent(i32, SendBuf),
}

/// A producer, its sender and a broker, all driven by the caller's thread (see the module docs).
pub struct Pipeline {
    /// The application's handle: send with it, then run turns.
    pub producer: Producer,
    engine: Engine,
    rx: queue::Rx<Msg>,
    close: Option<Option<Instant>>,
    cluster: MockCluster,
    /// Engine node to broker node, for open connections.
    links: HashMap<i32, i32>,
    /// Bytes each engine node has received and the engine has not read (the driver's `rx`).
    received: HashMap<i32, Vec<u8>>,
    /// Connections made and buffers written, for the next turn to hear of.
    events: Vec<NetEvent>,
    /// The last turn's transmits, for `network` to carry.
    outgoing: Vec<Transmit>,
    /// `outgoing`'s spare, swapped in while `network` carries (so neither reallocates).
    carrying: Vec<Transmit>,
    /// The bytes of a request as they reach the broker.
    wire: Vec<u8>,
    start: Instant,
    now: Instant,
    /// Virtual time that passes per network round.
    step: Duration,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").field("engine", &self.engine).finish_non_exhaustive()
    }
}

impl Pipeline {
    /// A producer configured by `config` (its `bootstrap.servers` is replaced) on a one-broker
    /// cluster that has `topic` with `partitions` partitions. Virtual time moves `step` per
    /// network round.
    pub fn new(mut config: ProducerConfig, topic: &str, partitions: i32, step: Duration) -> Pipeline {
        config.bootstrap_servers = vec![BROKER.to_string()];
        let (producer, ends) = Producer::unthreaded(config).expect("a valid configuration");
        let mut cluster = MockCluster::new(1);
        cluster.set_port(0, 9000);
        cluster.create_topic(topic, partitions);
        cluster.set_retain_records(false);
        let engine = Engine::new(ends.config, None, ends.memory, ends.metrics, 0x5eed);
        let start = Instant::now();
        Pipeline {
            producer,
            engine,
            rx: ends.rx,
            close: None,
            cluster,
            links: HashMap::new(),
            received: HashMap::new(),
            events: Vec::with_capacity(64),
            outgoing: Vec::with_capacity(64),
            carrying: Vec::with_capacity(64),
            wire: Vec::new(),
            start,
            now: start,
            step,
        }
    }

    /// One turn of the sender's loop (see the module docs): what `sender::run` does between
    /// two waits, with this pipeline as the network.
    pub fn turn(&mut self) {
        let now = self.now;
        let wall_ms = 1_700_000_000_000 + now.duration_since(self.start).as_millis() as i64;
        for ev in self.events.drain(..) {
            match ev {
                NetEvent::Connected(node) => self.engine.on_connected(node, now),
                NetEvent::Resolved(host, result) => self.engine.on_resolved(&host, result, now),
                NetEvent::Sent(node, buf) => self.engine.on_sent(node, buf, now),
            }
        }
        for (node, bytes) in self.received.iter_mut() {
            if bytes.is_empty() || !self.links.contains_key(node) {
                continue;
            }
            let (used, bad) = sender::deliver_frames(&mut self.engine, *node, bytes, now);
            assert!(bad.is_none(), "the mock answered a malformed frame");
            bytes.drain(..used);
        }
        sender::take_messages(&mut self.engine, &self.rx, &mut self.close, now, wall_ms);
        self.engine.poll(now);
        while let Some(t) = self.engine.poll_transmit() {
            self.outgoing.push(t);
        }
    }

    /// The network and the broker: carries the last turn's transmits, queues the answers for
    /// the next turn, and moves virtual time on by `step` (no further than the engine's next
    /// deadline when it has nothing else to do).
    pub fn network(&mut self) {
        std::mem::swap(&mut self.outgoing, &mut self.carrying);
        let mut carrying = std::mem::take(&mut self.carrying);
        for t in carrying.drain(..) {
            match t {
                Transmit::Connect { node, addr } => {
                    self.links.insert(node, i32::from(addr.port() - 9000));
                    self.events.push(NetEvent::Connected(node));
                }
                Transmit::Resolve { host } => {
                    let result =
                        host.parse().map(|ip| vec![ip]).map_err(|_| format!("{host}: not an address"));
                    self.events.push(NetEvent::Resolved(host, result));
                }
                Transmit::Close { node } => {
                    self.links.remove(&node);
                    self.received.remove(&node);
                }
                Transmit::Send { node, buf } => {
                    let broker = self.links[&node];
                    let mut off = 0;
                    let wire = &mut self.wire;
                    wire.clear();
                    for s in buf.segments() {
                        wire.extend_from_slice(s);
                    }
                    while let Some((frame, used)) = split_frame(&wire[off..], usize::MAX).expect("a frame") {
                        if let Some(resp) =
                            self.cluster.handle(broker, frame).expect("a request the mock knows")
                        {
                            self.received.entry(node).or_default().extend_from_slice(&resp);
                        }
                        off += used;
                    }
                    self.events.push(NetEvent::Sent(node, buf));
                }
            }
        }
        self.carrying = carrying;
        self.now += self.step;
    }

    /// Turns and network rounds until every record sent so far has its outcome.
    pub fn run_until_idle(&mut self, mut turn: impl FnMut(&mut Pipeline)) {
        for _ in 0..1_000_000 {
            turn(self);
            self.network();
            if self.engine.incomplete() == 0 && self.rx.is_empty() && self.events.is_empty() {
                return;
            }
        }
        panic!("the pipeline did not settle: {} records incomplete", self.engine.incomplete());
    }

    /// Records sent and not yet completed (queued ones included once taken).
    pub fn incomplete(&self) -> usize {
        self.engine.incomplete()
    }

    /// Whether application messages wait for the sender.
    pub fn queued(&self) -> bool {
        !self.rx.is_empty()
    }

    /// Records the broker has appended to `topic`.
    pub fn broker_records(&self, topic: &str) -> i64 {
        let n = self.cluster.partitions(topic).unwrap_or(0);
        (0..n).map(|p| self.cluster.end_offset(topic, p)).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::producer::QUEUE_CAPACITY;
    use crate::ProducerRecord;

    /// Each record's key, value, headers and topic reference stay in its queue slot once the
    /// sender has its bytes, to be dropped by the next `send` that writes that slot, on an
    /// application thread: however many records a sender turn takes (a full queue is two turns
    /// of `MAX_DRAIN`), the sender frees none of them. The topic's reference count shows where
    /// they are: each record left in a slot holds one until a `send` drops it.
    #[test]
    fn every_record_leaves_its_buffers_for_the_next_send_in_its_slot() {
        let cfg = ProducerConfig::default().linger(Duration::from_millis(5));
        let mut pipe = Pipeline::new(cfg, "t", 3, Duration::from_micros(100));
        let producer = pipe.producer.clone();
        let topic: Arc<str> = "t".into();
        // The topic's metadata first (records that wait for it leave their slots).
        producer.send_and_forget(ProducerRecord::new(&topic, vec![0u8; 100])).unwrap();
        pipe.run_until_idle(Pipeline::turn);
        // The references outside the queue: ours and the engine's (the first record's leftover
        // in its slot holds one more, until the slot is written again).
        let before = Arc::strong_count(&topic) - 1;
        for i in 0..QUEUE_CAPACITY {
            let record = ProducerRecord::new(&topic, vec![i as u8; 100]).header("h", vec![1u8]);
            producer.send_and_forget(record).unwrap();
        }
        let mut turns = 0;
        while pipe.queued() {
            pipe.turn();
            pipe.network();
            turns += 1;
        }
        assert!(turns >= 2, "a full queue takes more than one turn");
        assert_eq!(
            Arc::strong_count(&topic),
            before + QUEUE_CAPACITY,
            "every record's leftovers wait in its slot"
        );
        pipe.run_until_idle(Pipeline::turn);
        assert_eq!(Arc::strong_count(&topic), before + QUEUE_CAPACITY, "completing them frees nothing");
        // The next sends drop them, one each.
        for i in 0..QUEUE_CAPACITY {
            producer.send_and_forget(ProducerRecord::new(&topic, vec![0u8; 100])).unwrap();
            assert_eq!(
                Arc::strong_count(&topic),
                before + QUEUE_CAPACITY,
                "one dropped per record sent ({i})"
            );
        }
        pipe.run_until_idle(Pipeline::turn);
        assert_eq!(pipe.broker_records("t"), 1 + 2 * QUEUE_CAPACITY as i64);
        drop(producer);
        drop(pipe);
        // Ours, and this thread's last validated name (the engine's are gone with it).
        assert_eq!(Arc::strong_count(&topic), 2, "the queue's drop drops what is left in it");
    }
}
