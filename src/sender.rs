//! The sender thread: the loop that glues the application's queue, the sans-IO [`Engine`] and
//! the io_uring [`Driver`]. It is the only thread that touches a socket, and it blocks only in
//! `io_uring_enter` (inside [`Driver::poll`]).
//!
//! One turn: read the clock once; hand the network events of the last wait and the host name
//! lookups that came in to the engine; drain up to [`MAX_DRAIN`] application messages into it;
//! let it poll (metadata, producer id, ready batches, expiry); carry out its transmits; then
//! wait for the next completion, deadline or record, as `sender.idle.strategy` says: park in
//! the ring (`park`), spin first (`spin-park`: up to `sender.idle.spin.us`), or spin only
//! (`spin`). A spinning sender watches the queue's next slot and the ring's memory, and makes
//! no system call; it is not parked, so `send` wakes nobody (see [`crate::io`]'s parking
//! protocol).
//!
//! Host names are looked up by a [`Resolver`] on threads of its own (started with the first
//! name to look up), never here: a slow DNS server delays the connections to that host only.
//!
//! With `security.protocol` SSL or SASL_SSL, a rustls session ([`TlsStream`]) sits on each
//! connection between the driver's bytes and the engine's frames, on this same thread: engine
//! request bytes are encrypted into a buffer the driver sends; received bytes are decrypted and
//! the plaintext cut into frames. There is no second I/O path. A failed handshake (certificate
//! not trusted, expired, wrong name) makes the producer fatal ([`ProduceError::Tls`]).

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::config::{IdleStrategy, ProducerConfig, SenderCpu};
use crate::engine::partitioner::Partitioner;
use crate::engine::transactions::{TxnCall, TxnShared};
use crate::engine::{Engine, FlushWaiter, PartitionsWaiter, Pending, Transmit};
use crate::error::ProduceError;
use crate::io::{affinity, queue, ConnId, Driver, Event, SendBuf, Waker};
use crate::memory::BufferMemory;
use crate::metrics::Metrics;
use crate::protocol::frame::split_frame;
use crate::resolver::{Lookup, Resolver};
use crate::security::tls::{self, TlsError, TlsStream};

/// What application threads send to the sender.
pub(crate) enum Msg {
    /// A record (120 bytes: see `Pending`).
    Record(Pending),
    Flush(FlushWaiter),
    /// `Producer::partitions_for`.
    PartitionsFor {
        topic: Arc<str>,
        reply: PartitionsWaiter,
        called: Instant,
    },
    /// A transactional call (boxed: the queue's slots stay small).
    Txn(Box<TxnCall>),
    /// Stop accepting, deliver what is pending, and exit; at `deadline` fail what is left.
    Close {
        deadline: Option<Instant>,
    },
    /// What is left in a queue slot of a message the sender took out of it (a record's
    /// leftovers stay a `Record`: see `Pending`).
    Spent,
}

/// A record's leftovers in its queue slot (its buffers, its topic: see `Pending`) are dropped
/// field by field, inline, by the `send` that writes the slot next. The allocator's thread cache
/// takes the value's buffer back and hands it out again for the caller's next value; the sender
/// read it last, so writing it would wait for the sender's core to give up its lines: asking for
/// them now overlaps that with the caller's work until then.
impl queue::Leftover for Msg {
    #[inline(always)]
    fn dispose(self) {
        let Msg::Record(Pending { topic, key, value, extras, completion, .. }) = self else {
            drop(self);
            return;
        };
        if let Some(v) = &value {
            crate::io::prefetch_for_write(v.as_ptr(), v.capacity().min(256));
        }
        drop(value);
        drop(key);
        drop(topic);
        if extras.is_some() {
            drop(extras);
        } else {
            std::mem::forget(extras);
        }
        drop(completion);
    }
}

/// Messages taken from the queue per loop turn: bounds the time between network polls.
pub(crate) const MAX_DRAIN: usize = 4096;
/// Ring size.
const RING_ENTRIES: u32 = 1024;
/// The largest response frame accepted from a broker; anything larger drops the connection
/// instead of allocating.
const MAX_RESPONSE_FRAME: usize = 100 * 1024 * 1024;

/// A started sender: its thread, its wake-up, and the transaction state machine of a
/// transactional producer.
pub(crate) type Started = (JoinHandle<()>, Arc<Waker>, Option<Arc<TxnShared>>);

/// Starts the sender thread. Returns once its io_uring driver is up (or failed to start).
pub(crate) fn spawn(
    cfg: ProducerConfig,
    partitioner: Option<Box<dyn Partitioner>>,
    memory: Arc<BufferMemory>,
    metrics: Arc<Metrics>,
    rx: queue::Rx<Msg>,
    lookup: Lookup,
) -> io::Result<Started> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (cpu, slice) = (cfg.sender_cpu, cfg.sender_slice);
    let handle = std::thread::Builder::new().name("ringkafka-sender".into()).spawn(move || {
        pin(cpu);
        if let Some(slice) = slice {
            // Best effort: where it is refused (a sandbox), the sender waits for slices to end.
            if let Err(e) = affinity::set_slice(slice) {
                log::debug!("the sender thread keeps the kernel's time slice: {e}");
            }
        }
        let mut driver = match Driver::new(RING_ENTRIES) {
            Ok(d) => d,
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                return;
            }
        };
        let tls = if cfg.security_protocol.uses_tls() {
            match tls::client_config(&cfg.ssl) {
                Ok(t) => Some(t),
                Err(e) => {
                    let _ = ready_tx.send(Err(io::Error::new(io::ErrorKind::InvalidInput, e)));
                    return;
                }
            }
        } else {
            None
        };
        driver.set_socket_buffers(crate::io::SocketBuffers {
            send: cfg.send_buffer_bytes,
            receive: cfg.receive_buffer_bytes,
        });
        let idle = (cfg.sender_idle, cfg.sender_idle_spin);
        let engine = Engine::new(cfg, partitioner, memory, metrics, rng_seed());
        let _ = ready_tx.send(Ok((driver.waker(), engine.transactions_gate())));
        let waker = driver.waker();
        let resolver = Resolver::new(lookup, Arc::new(move || waker.wake()));
        run(engine, driver, resolver, idle, rx, tls);
    })?;
    match ready_rx.recv() {
        Ok(Ok((waker, txn))) => Ok((handle, waker, txn)),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(e)
        }
        Err(_) => Err(io::Error::other("the sender thread died while starting")),
    }
}

/// A seed for the engine's random choices (sticky partitions, backoff jitter), different per
/// producer: the standard library's `RandomState` keys come from the OS's random source.
fn rng_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(SystemTime::now())
}

fn pin(cpu: SenderCpu) {
    let target = match cpu {
        SenderCpu::Unpinned => return,
        SenderCpu::Cpu(c) => Some(c),
        SenderCpu::Last => affinity::allowed_cpus().ok().and_then(|v| v.last().copied()),
    };
    if let Some(c) = target {
        if let Err(e) = affinity::pin_current_thread(c) {
            log::warn!("could not pin the sender thread to CPU {c}: {e}");
        }
    }
}

/// Maps the engine's node ids to the driver's connections, both ways.
#[derive(Default)]
struct Links {
    node_of: HashMap<ConnId, i32>,
    conn_of: HashMap<i32, ConnId>,
    /// The TLS session of each connection (SSL / SASL_SSL only).
    tls: HashMap<ConnId, TlsStream>,
    /// Ciphertext buffers back from the driver, for reuse (at most [`MAX_SPARE_TLS`]).
    spare: Vec<Vec<u8>>,
}

/// Bound on [`Links::spare`].
const MAX_SPARE_TLS: usize = 64;

impl Links {
    fn insert(&mut self, node: i32, conn: ConnId) {
        self.node_of.insert(conn, node);
        self.conn_of.insert(node, conn);
    }
    fn remove_node(&mut self, node: i32) -> Option<ConnId> {
        let c = self.conn_of.remove(&node)?;
        self.node_of.remove(&c);
        self.tls.remove(&c);
        Some(c)
    }
    fn remove_conn(&mut self, conn: ConnId) -> Option<i32> {
        let n = self.node_of.remove(&conn)?;
        self.conn_of.remove(&n);
        self.tls.remove(&conn);
        Some(n)
    }
}

/// Hands every whole frame at the start of `data` to the engine; returns the bytes used and the
/// framing error, if any.
pub(crate) fn deliver_frames(
    engine: &mut Engine,
    n: i32,
    data: &[u8],
    now: Instant,
) -> (usize, Option<crate::protocol::primitives::DecodeError>) {
    let mut off = 0;
    loop {
        match split_frame(&data[off..], MAX_RESPONSE_FRAME) {
            Ok(Some((frame, used))) => {
                engine.on_frame(n, frame, now);
                off += used;
            }
            Ok(None) => return (off, None),
            Err(e) => return (off, Some(e)),
        }
    }
}

/// Sends whatever TLS records `conn`'s session has ready.
fn flush_tls(driver: &mut Driver, spare: &mut Vec<Vec<u8>>, c: ConnId, t: &mut TlsStream) {
    let mut out = spare.pop().unwrap_or_default();
    out.clear();
    if t.take_tls(&mut out) {
        driver.send(c, out);
    } else {
        spare.push(out);
    }
}

/// A TLS failure on `c` (node `n`): a failed handshake is fatal for the producer; a broken
/// session is a lost connection.
fn tls_failed(
    engine: &mut Engine,
    driver: &mut Driver,
    links: &mut Links,
    c: ConnId,
    n: i32,
    e: TlsError,
    now: Instant,
) {
    links.remove_conn(c);
    driver.close(c);
    match e {
        TlsError::Handshake(message) => {
            let broker = engine.broker_name(n);
            engine.on_fatal(n, ProduceError::Tls { broker, message }, now);
        }
        TlsError::Session(m) => engine.on_closed(n, &m, now),
    }
}

fn handle_events(
    engine: &mut Engine,
    driver: &mut Driver,
    links: &mut Links,
    events: &mut Vec<Event>,
    tls_cfg: Option<&Arc<rustls::ClientConfig>>,
    now: Instant,
) {
    for ev in events.drain(..) {
        match ev {
            Event::Connected(c) => {
                if let Some(&n) = links.node_of.get(&c) {
                    if let Some(cfg) = tls_cfg {
                        let host = engine.broker_host(n).unwrap_or_default();
                        match TlsStream::new(cfg.clone(), &host) {
                            Ok(t) => {
                                links.tls.insert(c, t);
                            }
                            Err(e) => {
                                tls_failed(engine, driver, links, c, n, e, now);
                                continue;
                            }
                        }
                    }
                    engine.on_connected(n, now);
                }
            }
            Event::Readable(c) => {
                let Some(&n) = links.node_of.get(&c) else { continue };
                if let Some(t) = links.tls.get_mut(&c) {
                    let res = t.read_tls(driver.rx(c));
                    let used = match res {
                        Ok(u) => u,
                        Err(e) => {
                            tls_failed(engine, driver, links, c, n, e, now);
                            continue;
                        }
                    };
                    driver.consume(c, used);
                    let (off, bad) = deliver_frames(engine, n, t.plain(), now);
                    t.plain().drain(..off);
                    // Handshake messages, and requests queued during the handshake.
                    flush_tls(driver, &mut links.spare, c, t);
                    if let Some(e) = bad {
                        links.remove_conn(c);
                        driver.close(c);
                        engine.on_closed(n, &format!("bad response frame: {e}"), now);
                    }
                    continue;
                }
                let (off, bad) = deliver_frames(engine, n, driver.rx(c), now);
                driver.consume(c, off);
                if let Some(e) = bad {
                    links.remove_conn(c);
                    driver.close(c);
                    engine.on_closed(n, &format!("bad response frame: {e}"), now);
                }
            }
            Event::Sent(c, buf) => {
                if links.tls.contains_key(&c) {
                    // Ciphertext: the engine got its buffer back when rustls took the plaintext.
                    if links.spare.len() < MAX_SPARE_TLS {
                        links.spare.push(buf.bytes);
                    }
                } else if let Some(&n) = links.node_of.get(&c) {
                    engine.on_sent(n, buf, now);
                }
            }
            Event::Closed(c, err) => {
                if let Some(n) = links.remove_conn(c) {
                    engine.on_closed(n, &err.to_string(), now);
                }
            }
        }
    }
}

/// Encrypts a request from its parts as they lie (a Produce request's batches are spliced in,
/// not copied); gives the buffer back.
fn write_plain(t: &mut TlsStream, buf: SendBuf) -> Result<SendBuf, TlsError> {
    for s in buf.segments() {
        t.write_plain(s)?;
    }
    Ok(buf)
}

fn transmit(
    engine: &mut Engine,
    driver: &mut Driver,
    links: &mut Links,
    resolver: &mut Resolver,
    now: Instant,
) {
    while let Some(t) = engine.poll_transmit() {
        match t {
            Transmit::Resolve { host } => {
                if let Some((host, result)) = resolver.resolve(host, now) {
                    engine.on_resolved(&host, result, now);
                }
            }
            Transmit::Connect { node, addr } => match driver.connect(addr) {
                Ok(c) => links.insert(node, c),
                Err(e) => engine.on_closed(node, &format!("connect to {addr}: {e}"), now),
            },
            Transmit::Send { node, buf } => match links.conn_of.get(&node) {
                Some(&c) => match links.tls.get_mut(&c) {
                    Some(t) => match write_plain(t, buf) {
                        Ok(buf) => {
                            flush_tls(driver, &mut links.spare, c, t);
                            // Encrypted (or queued in rustls until the handshake is done):
                            // for acks=0 that counts as written.
                            engine.on_sent(node, buf, now);
                        }
                        Err(e) => tls_failed(engine, driver, links, c, node, e, now),
                    },
                    None => driver.send(c, buf),
                },
                None => log::error!("engine sent to node {node} without a connection"),
            },
            Transmit::Close { node } => {
                if let Some(c) = links.remove_node(node) {
                    driver.close(c);
                }
            }
        }
    }
}

/// The loop turn's clock: one read of the monotonic clock per turn, with the wall clock (for
/// record timestamps) derived from it and read again once [`WALL_RESYNC`] has passed, to follow
/// the system's adjustments. Reading both every turn cost a second clock read per turn.
pub(crate) struct TurnClock {
    at: Instant,
    wall_ms: i64,
}

/// How often [`TurnClock`] reads the wall clock again.
const WALL_RESYNC: Duration = Duration::from_secs(1);

impl TurnClock {
    pub(crate) fn new() -> TurnClock {
        TurnClock { at: Instant::now(), wall_ms: wall_clock_ms() }
    }

    /// The monotonic time and the wall clock in milliseconds since the epoch.
    pub(crate) fn now(&mut self) -> (Instant, i64) {
        let now = Instant::now();
        let since = now.saturating_duration_since(self.at);
        if since >= WALL_RESYNC {
            self.at = now;
            self.wall_ms = wall_clock_ms();
            return (now, self.wall_ms);
        }
        (now, self.wall_ms + since.as_millis() as i64)
    }
}

fn wall_clock_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Takes up to [`MAX_DRAIN`] application messages into the engine; a `Close` (or every handle
/// gone) sets `close`. `now` and `wall_ms` are the turn's clock. A record is appended where it
/// lies in its queue slot; what it leaves there goes back to an application thread with the
/// slot (see `Pending`).
pub(crate) fn take_messages(
    engine: &mut Engine,
    rx: &queue::Rx<Msg>,
    close: &mut Option<Option<Instant>>,
    now: Instant,
    wall_ms: i64,
) {
    for _ in 0..MAX_DRAIN {
        let taken = rx.try_recv_with(|m| match m {
            Msg::Record(p) => engine.append(p, now, wall_ms),
            m => other_message(engine, std::mem::replace(m, Msg::Spent), close, now),
        });
        match taken {
            Ok(()) => {}
            Err(queue::TryRecvError::Empty) => break,
            Err(queue::TryRecvError::Disconnected) => {
                close.get_or_insert(None);
                engine.begin_close();
                break;
            }
        }
    }
}

/// A message that is not a record.
#[cold]
fn other_message(engine: &mut Engine, m: Msg, close: &mut Option<Option<Instant>>, now: Instant) {
    match m {
        Msg::Flush(w) => engine.flush(w, now),
        Msg::PartitionsFor { topic, reply, called } => engine.partitions_for(&topic, reply, called, now),
        Msg::Txn(call) => engine.on_transaction_call(*call, now),
        Msg::Close { deadline } => {
            // A close from another handle may bring the deadline forward, never back.
            *close = Some(match *close {
                Some(Some(d)) => Some(deadline.map_or(d, |n| n.min(d))),
                _ => deadline,
            });
            engine.begin_close();
        }
        Msg::Record(_) | Msg::Spent => {}
    }
}

/// The idle part of a turn with nothing queued, as `sender.idle.strategy` says: spins (for
/// `spin-park` at most its bound, for `spin` until the deadline, `now + timeout`) watching the
/// ring and `work` (the record queue, the resolver's answers). Returns the timeout for the turn's `poll`: zero when the spin found
/// work or reached the deadline, else what is left of `timeout` (then the caller parks).
/// `park` returns `timeout` as it is, without reading the clock.
fn spin(
    driver: &mut Driver,
    work: impl FnMut() -> bool,
    (strategy, bound): (IdleStrategy, Duration),
    timeout: Option<Duration>,
    now: Instant,
) -> io::Result<Option<Duration>> {
    let bound = match strategy {
        IdleStrategy::Park => return Ok(timeout),
        IdleStrategy::SpinPark if bound.is_zero() => return Ok(timeout),
        IdleStrategy::SpinPark => Some(bound),
        IdleStrategy::Spin => None,
    };
    if timeout == Some(Duration::ZERO) {
        return Ok(timeout);
    }
    let deadline = timeout.and_then(|t| now.checked_add(t));
    let until = match (deadline, bound.and_then(|b| Instant::now().checked_add(b))) {
        (Some(d), Some(b)) => Some(d.min(b)),
        (d, b) => d.or(b),
    };
    if driver.spin(until, work)? {
        return Ok(Some(Duration::ZERO));
    }
    // The spin ran out: at the deadline (and always for `spin`, which never parks) the turn
    // comes round again at once; at the bound, park for what is left.
    let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    Ok(if strategy == IdleStrategy::Spin { Some(Duration::ZERO) } else { left })
}

fn run(
    mut engine: Engine,
    mut driver: Driver,
    mut resolver: Resolver,
    idle: (IdleStrategy, Duration),
    rx: queue::Rx<Msg>,
    tls: Option<Arc<rustls::ClientConfig>>,
) {
    let mut events: Vec<Event> = Vec::with_capacity(256);
    let mut links = Links::default();
    let mut close: Option<Option<Instant>> = None;
    let mut clock = TurnClock::new();
    let linger = engine.linger();
    loop {
        // One clock read per turn. The wall clock stamps the records taken in this turn (those
        // without a timestamp of their own): `send` itself reads no clock.
        let (now, wall_ms) = clock.now();
        handle_events(&mut engine, &mut driver, &mut links, &mut events, tls.as_ref(), now);
        resolver.take_answers(now, |(host, result)| engine.on_resolved(&host, result, now));
        take_messages(&mut engine, &rx, &mut close, now, wall_ms);
        engine.poll(now);
        transmit(&mut engine, &mut driver, &mut links, &mut resolver, now);
        if let Some(deadline) = close {
            if engine.incomplete() == 0 && rx.is_empty() {
                break;
            }
            if deadline.is_some_and(|d| now >= d) {
                engine.fail_all(ProduceError::Closed, now);
                transmit(&mut engine, &mut driver, &mut links, &mut resolver, now);
                break;
            }
        }
        let mut timeout = engine.poll_timeout().map(|t| t.saturating_duration_since(now));
        if let Some(Some(d)) = close {
            let left = d.saturating_duration_since(now);
            timeout = Some(timeout.map_or(left, |t| t.min(left)));
        }
        if !rx.is_empty() || resolver.has_answers() {
            timeout = Some(Duration::ZERO);
        } else {
            // Whatever ends a park ends a spin: a record, a host name looked up.
            let work = || rx.has_next() || resolver.has_answers();
            timeout = match spin(&mut driver, work, idle, timeout, now) {
                Ok(t) => t,
                Err(e) => {
                    log::error!("io_uring failed: {e}");
                    engine.fail_all(ProduceError::Fatal(format!("io_uring failed: {e}")), Instant::now());
                    break;
                }
            };
        }
        if timeout != Some(Duration::ZERO) {
            // A sender due to wake within linger.ms needs no wake-up for a new record: the
            // record may wait that long anyway (see Waker::wake_lazy). Nor does one that cannot
            // send before a response wakes it.
            let due_soon = timeout.is_some_and(|t| t <= linger) || engine.sends_blocked();
            driver.prepare_park_lazy(due_soon);
            if !rx.is_empty() || resolver.has_answers() {
                driver.cancel_park();
                timeout = Some(Duration::ZERO);
            }
        }
        if let Err(e) = driver.poll(timeout, &mut events) {
            log::error!("io_uring failed: {e}");
            engine.fail_all(ProduceError::Fatal(format!("io_uring failed: {e}")), Instant::now());
            break;
        }
    }
    // Whatever is still queued was sent after the end: complete it as closed.
    while let Ok(m) = rx.try_recv() {
        match m {
            Msg::Record(p) => p.completion.complete(|| Err(ProduceError::Closed)),
            Msg::Flush(w) => w(),
            Msg::PartitionsFor { reply, .. } => reply(Err(ProduceError::Closed)),
            Msg::Txn(call) => drop(call), // its completion reports Closed
            Msg::Close { .. } | Msg::Spent => {}
        }
    }
}

// A queue slot (the message and the queue's stamp) is two cache lines (see `Pending`).
const _: () = assert!(queue::slot_size::<Msg>() == 128);

#[cfg(test)]
mod tests {
    use super::*;

    /// The turn's wall clock, derived from the monotonic one, stays with the system's: within a
    /// few milliseconds of it, and read again after a second.
    #[test]
    fn the_turn_clock_derives_the_wall_clock_from_one_read() {
        let mut clock = TurnClock::new();
        for _ in 0..3 {
            let (_, wall) = clock.now();
            let system = wall_clock_ms();
            assert!((system - wall).abs() <= 5, "derived {wall}, system {system}");
        }
        // Pretend the last read of the wall clock is old: the next turn reads it again.
        clock.at -= WALL_RESYNC;
        clock.wall_ms -= 60_000;
        let (_, wall) = clock.now();
        assert!((wall_clock_ms() - wall).abs() <= 5, "resynced to the system's clock");
    }
}
