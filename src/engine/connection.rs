//! Connections: one per broker (bootstrap servers get negative node ids), from `Connect` to
//! `Ready` and until lost or closed. The room owns [`Connections`]: each connection's state and
//! requests in flight (`Conn`), reconnect backoff and the connection setup timeout, broker
//! endpoints (`host:port`), their hosts' addresses and the choice among them,
//! `request.timeout.ms` and `connections.max.idle.ms`, and what a lost connection means for what
//! was in flight on it (its batches retried, a Metadata or InitProducerId request asked again).
//!
//! Host names are never resolved here: the room asks for a host's addresses with
//! [`Transmit::Resolve`] and learns them from [`Engine::on_resolved`] (the sender does the lookup
//! on a thread of its own). A host's addresses are kept until every one of them has failed to
//! connect in a row; then they are asked for again, and used meanwhile. A connection waits
//! only for a host never resolved. A literal IP needs no lookup.
//!
//! Requests on a connection and the dispatch of their responses are `requests`'s; the room
//! builds no request of its own except through it, and decides nothing about records.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::config::MetadataRecovery;
use crate::io::SendBuf;
use crate::metrics::Metrics;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::version::NegotiatedVersions;

use super::produce::InFlightBatch;
use super::requests::{InFlight, Kind, API_VERSIONS_FIRST};
use super::{Engine, Transmit};

/// The connection room's state (see the module docs). `produce` reads and updates each
/// connection's Produce requests in flight; `sasl` moves a connection through
/// `Authenticating`; `metadata` learns brokers through [`Connections::add_broker`].
pub(super) struct Connections {
    /// Open and opening connections by node (bootstrap servers: -1, -2, …).
    pub(super) conns: HashMap<i32, Conn>,
    /// Nodes whose last connection failed or was lost: no new one before `until`.
    pub(super) backoff: HashMap<i32, Backoff>,
    /// Each broker named in metadata, by node id (in order: the choice of a broker to ask for
    /// metadata replays exactly in virtual time).
    pub(super) brokers: BTreeMap<i32, Endpoint>,
    /// `bootstrap.servers`, as configured and as endpoints, and the one to try next.
    bootstrap_names: Vec<String>,
    bootstrap: Vec<Endpoint>,
    next_bootstrap: usize,
    /// What is known of each host name's addresses (literal IPs are not kept here).
    pub(super) hosts: HashMap<String, HostAddrs>,
    /// Request buffers back from the driver, for reuse (at most [`MAX_SPARE_REQUESTS`]).
    pub(super) spare_requests: Vec<SendBuf>,
    /// Our version, as ApiVersions tells the broker.
    pub(super) client_software_version: &'static str,
}

impl Connections {
    pub(super) fn new(bootstrap: Vec<String>) -> Self {
        Connections {
            conns: HashMap::new(),
            backoff: HashMap::new(),
            brokers: BTreeMap::new(),
            bootstrap: bootstrap.iter().filter_map(|s| Endpoint::parse(s)).collect(),
            bootstrap_names: bootstrap,
            next_bootstrap: 0,
            hosts: HashMap::new(),
            spare_requests: Vec::new(),
            client_software_version: env!("CARGO_PKG_VERSION"),
        }
    }

    /// A broker named in metadata (or in a Produce response, KIP-951). Its host is resolved
    /// when a connection to it is first wanted.
    pub(super) fn add_broker(&mut self, node: i32, host: &str, port: i32) {
        let Ok(port) = u16::try_from(port) else {
            log::warn!("metadata names node {node} at {host}:{port}, not a valid port: ignored");
            return;
        };
        match self.brokers.get_mut(&node) {
            Some(e) if e.host == host && e.port == port => {}
            Some(e) => {
                log::info!("node {node} moved from {}:{} to {host}:{port}", e.host, e.port);
                *e = Endpoint { host: host.to_string(), port };
            }
            None => {
                self.brokers.insert(node, Endpoint { host: host.to_string(), port });
            }
        }
    }

    /// The endpoint of `node`: a bootstrap server for a negative id, else a broker from metadata.
    fn endpoint(&self, node: i32) -> Option<&Endpoint> {
        if node < 0 {
            self.bootstrap.get((-1 - node) as usize)
        } else {
            self.brokers.get(&node)
        }
    }
}

/// Where a broker listens: a host name or a literal IP, and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Endpoint {
    pub(super) host: String,
    pub(super) port: u16,
}

impl Endpoint {
    /// `host:port` or `[v6]:port`, as `bootstrap.servers` has them (checked by the config).
    fn parse(s: &str) -> Option<Endpoint> {
        let (host, port) = s.rsplit_once(':')?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Some(Endpoint { host: host.to_string(), port: port.parse().ok()? })
    }

    /// The host as an address, if it is a literal IP (no lookup needed).
    fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

/// What the engine knows of a host name's addresses.
#[derive(Debug, Default)]
pub(super) struct HostAddrs {
    /// Its addresses as last resolved, in the resolver's order (empty: none yet).
    pub(super) ips: Vec<IpAddr>,
    /// A lookup was asked for (`Transmit::Resolve`) and not answered yet.
    pub(super) resolving: bool,
    /// Every address failed to connect, in a row, since the last lookup: ask again (and keep
    /// using them meanwhile).
    stale: bool,
    /// Lookups that failed in a row, and when the next may be asked for.
    failures: u32,
    retry_at: Option<Instant>,
}

/// Where a connection is: requests other than its own setup wait for `Ready`.
#[derive(Debug)]
pub(super) enum ConnState {
    Connecting,
    Handshake,
    /// SASL (SaslHandshake, SaslAuthenticate…) after ApiVersions; the exchange is in `SaslState`.
    Authenticating,
    Ready(NegotiatedVersions),
}

/// One connection's protocol state.
#[derive(Debug)]
pub(super) struct Conn {
    pub(super) state: ConnState,
    pub(super) next_correlation: i32,
    /// Requests awaiting a response, in the order they were sent (Kafka answers in order).
    pub(super) in_flight: VecDeque<InFlight>,
    /// One entry per `Transmit::Send`, in order: the batches of an acks=0 request, completed
    /// when the driver reports the bytes written.
    pub(super) unsent: VecDeque<Option<Vec<InFlightBatch>>>,
    /// Produce requests sent and not answered (`max.in.flight.requests.per.connection`).
    pub(super) produce_in_flight: usize,
    /// While `Connecting`: the connection setup timeout.
    connect_deadline: Instant,
    /// A response's `throttle_time_ms` (a broker quota, KIP-219): no new request goes to this
    /// broker before then, as in Java. The broker mutes the connection for that long anyway.
    pub(super) throttled_until: Option<Instant>,
    /// The last write or response on it (`connections.max.idle.ms`).
    pub(super) last_active: Instant,
}

/// Reconnect backoff of a node whose connections failed or were lost.
#[derive(Debug, Clone, Copy)]
pub(super) struct Backoff {
    pub(super) until: Instant,
    /// Connections to the node lost or failed in a row (reconnect.backoff).
    pub(super) attempts: u32,
    /// Of those, attempts in a row that never connected (socket.connection.setup.timeout);
    /// a lost established connection resets it, as in Java.
    pub(super) setup_failures: u32,
}

/// Request buffers kept for reuse: a few more than the requests one connection has in flight.
pub(super) const MAX_SPARE_REQUESTS: usize = 8;

/// Why a node cannot be connected to now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NoAddr {
    /// No endpoint is known for it (a leader metadata named without its broker).
    Unknown,
    /// Its host has not resolved yet; a lookup is asked for or backing off until the time given.
    Resolving(Option<Instant>),
}

impl Engine {
    /// The connection to `node` is up: negotiate versions.
    pub fn on_connected(&mut self, node: i32, now: Instant) {
        self.next_wakeup = Some(now);
        let Some(conn) = self.net.conns.get_mut(&node) else { return };
        conn.state = ConnState::Handshake;
        Metrics::add(&self.metrics.connections_created, 1);
        self.send_api_versions(node, API_VERSIONS_FIRST, now);
    }

    /// A buffer was written in full to `node`.
    pub fn on_sent(&mut self, node: i32, mut buf: SendBuf, now: Instant) {
        self.next_wakeup = Some(now);
        // The driver is done with the batches spliced in: their references go first, so that
        // a batch completed below (acks=0) finds itself the only owner of its buffer.
        buf.spliced.clear();
        if self.net.spare_requests.len() < MAX_SPARE_REQUESTS
            && buf.bytes.capacity() <= self.cfg.max_request_size * 2
        {
            self.net.spare_requests.push(buf);
        }
        let Some(conn) = self.net.conns.get_mut(&node) else { return };
        conn.last_active = now;
        if let Some(Some(batches)) = conn.unsent.pop_front() {
            // acks=0: written is all we will ever know.
            conn.produce_in_flight -= 1;
            for b in batches {
                self.topics[b.topic].partitions[b.partition as usize].in_flight -= 1;
                self.complete_batch(b.topic, b.partition, b.batch, Ok((-1, -1)), now);
            }
            self.metrics_in_flight();
            self.flushes.check();
        }
        let _ = now;
    }

    /// `node`'s connection failed or was closed by the peer.
    pub fn on_closed(&mut self, node: i32, reason: &str, now: Instant) {
        self.next_wakeup = Some(now);
        let Some(conn) = self.net.conns.remove(&node) else { return };
        self.connection_lost(node, conn, reason, now);
    }

    pub(super) fn connect(&mut self, node: i32, addr: SocketAddr, now: Instant) {
        if self.net.conns.contains_key(&node) {
            return;
        }
        if self.net.backoff.get(&node).is_some_and(|b| b.until > now) {
            return;
        }
        // socket.connection.setup.timeout.ms, doubling per failure in a row (Java's
        // ExponentialBackoff with jitter): a broker that does not answer the SYN is given up
        // in seconds, not after request.timeout.ms.
        let failures = self.net.backoff.get(&node).map_or(0, |b| b.setup_failures);
        let setup = self.exponential_backoff(
            self.cfg.connection_setup_timeout,
            self.cfg.connection_setup_timeout_max,
            failures + 1,
        );
        self.net.conns.insert(
            node,
            Conn {
                state: ConnState::Connecting,
                next_correlation: 0,
                in_flight: VecDeque::new(),
                unsent: VecDeque::new(),
                produce_in_flight: 0,
                connect_deadline: now + setup,
                throttled_until: None,
                last_active: now,
            },
        );
        self.outbox.push_back(Transmit::Connect { node, addr });
    }

    /// The addresses of `host` (`Transmit::Resolve`): a lookup's result, from the sender's
    /// resolver. An empty list or an error keeps the addresses known before, if any, and the
    /// next lookup waits `reconnect.backoff.ms`, doubling per failure in a row.
    pub fn on_resolved(&mut self, host: &str, result: Result<Vec<IpAddr>, String>, now: Instant) {
        self.next_wakeup = Some(now);
        let Some(h) = self.net.hosts.get_mut(host) else { return };
        h.resolving = false;
        match result {
            Ok(mut ips) if !ips.is_empty() => {
                let mut seen = std::collections::HashSet::new();
                ips.retain(|a| seen.insert(*a));
                h.ips = ips;
                h.stale = false;
                h.failures = 0;
                h.retry_at = None;
            }
            other => {
                let why = other.err().unwrap_or_else(|| "no addresses".into());
                h.failures = h.failures.saturating_add(1);
                let failures = h.failures;
                let d = self.exponential_backoff(
                    self.cfg.reconnect_backoff,
                    self.cfg.reconnect_backoff_max,
                    failures,
                );
                let h = self.net.hosts.get_mut(host).expect("looked up above");
                h.retry_at = Some(now + d);
                log::warn!("cannot resolve {host}: {why}");
            }
        }
    }

    /// The address to connect to `node` at: its host's next address to try (each attempt in a
    /// row that failed to connect moves to the next one, Java's `use_all_dns_ips`). A host
    /// never resolved, or whose addresses all failed, is asked for (`Transmit::Resolve`) if
    /// `may_ask` and no lookup is under way or backing off; `may_ask` is then cleared.
    pub(super) fn node_addr(
        &mut self,
        node: i32,
        now: Instant,
        may_ask: &mut bool,
    ) -> Result<SocketAddr, NoAddr> {
        let Some(ep) = self.net.endpoint(node) else { return Err(NoAddr::Unknown) };
        let port = ep.port;
        if let Some(ip) = ep.ip() {
            return Ok(SocketAddr::new(ip, port));
        }
        let host = ep.host.clone();
        let failures = self.net.backoff.get(&node).map_or(0, |b| b.setup_failures) as usize;
        let h = self.net.hosts.entry(host.clone()).or_default();
        let wanted = h.ips.is_empty() || h.stale;
        let may_retry = h.retry_at.is_none_or(|t| t <= now);
        if wanted && !h.resolving && may_retry && *may_ask {
            *may_ask = false;
            h.resolving = true;
            self.outbox.push_back(Transmit::Resolve { host });
        }
        if h.ips.is_empty() {
            return Err(NoAddr::Resolving(h.retry_at.filter(|t| *t > now)));
        }
        Ok(SocketAddr::new(h.ips[failures % h.ips.len()], port))
    }

    /// Opens a connection to the leader `node` unless one is open or backing off. A node with
    /// no endpoint asks for metadata; one whose host is being resolved waits for the answer.
    pub(super) fn connect_leader(&mut self, node: i32, now: Instant) {
        if self.net.conns.contains_key(&node) {
            return;
        }
        if let Some(until) = self.net.backoff.get(&node).map(|b| b.until).filter(|t| *t > now) {
            self.wake_at(until);
            return;
        }
        match self.node_addr(node, now, &mut true) {
            Ok(addr) => self.connect(node, addr, now),
            Err(NoAddr::Unknown) => self.metadata.due = Some(now),
            Err(NoAddr::Resolving(Some(retry))) => self.wake_at(retry),
            Err(NoAddr::Resolving(None)) => {} // on_resolved wakes the engine
        }
    }

    /// Makes sure some connection is on its way for cluster-wide requests: to a known broker
    /// not backing off, else (with `metadata.recovery.strategy=rebootstrap`, or before any
    /// metadata) to the next bootstrap server, as Java does when no known broker is available
    /// (KIP-899). At most one host lookup is asked for per call: a host that does not resolve
    /// (or whose lookup hangs) is passed over for the next.
    pub(super) fn ensure_any_conn(&mut self, now: Instant) {
        if self.net.conns.values().any(|c| !matches!(c.state, ConnState::Ready(_))) {
            return; // one is being set up
        }
        if self.ready_conn(now).is_some() {
            return;
        }
        let mut may_ask = true;
        let known: Vec<i32> = self.net.brokers.keys().copied().collect();
        for n in known {
            if self.net.backoff.get(&n).is_some_and(|b| b.until > now) {
                continue;
            }
            if let Ok(addr) = self.node_addr(n, now, &mut may_ask) {
                self.connect(n, addr, now);
                return;
            }
        }
        if !self.net.brokers.is_empty() && self.cfg.metadata_recovery == MetadataRecovery::None {
            return;
        }
        let count = self.net.bootstrap.len();
        for _ in 0..count {
            let i = self.net.next_bootstrap % count;
            self.net.next_bootstrap += 1;
            let node = -1 - i as i32;
            if self.net.backoff.get(&node).is_some_and(|b| b.until > now) {
                continue;
            }
            if let Ok(addr) = self.node_addr(node, now, &mut may_ask) {
                self.connect(node, addr, now);
                return;
            }
        }
    }

    /// Starts over from `bootstrap.servers` (KIP-899): the brokers known from metadata are
    /// forgotten and every connection closed (what was in flight on them is retried), reconnect
    /// backoffs are cleared, and every host name is looked up anew when next needed. Partition
    /// leaders stay as they were: a leader that is no longer a known broker asks for metadata,
    /// which now comes through a bootstrap server.
    pub(super) fn rebootstrap(&mut self, now: Instant) {
        let nodes: Vec<i32> = self.net.conns.keys().copied().collect();
        for node in nodes {
            self.close_conn(node, "rebootstrapping", now);
        }
        self.net.brokers.clear();
        self.net.backoff.clear();
        self.net.hosts.clear();
        self.net.next_bootstrap = 0;
    }

    /// Java's `ExponentialBackoff(base, 2, max, 0.2)` for the `attempts`-th try (from 1): base
    /// doubling per attempt, capped at `max`, then +-20 % jitter.
    pub(super) fn exponential_backoff(&mut self, base: Duration, max: Duration, attempts: u32) -> Duration {
        let capped = base.saturating_mul(1u32 << attempts.saturating_sub(1).min(20)).min(max);
        let jitter = capped.as_micros() as u64 / 5;
        let delta =
            if jitter > 0 { self.rng.below((2 * jitter).min(u32::MAX as u64) as u32) as u64 } else { 0 };
        Duration::from_micros((capped.as_micros() as u64).saturating_sub(jitter) + delta)
    }

    pub(super) fn poll_request_timeouts(&mut self, now: Instant) {
        let mut expired = Vec::new();
        let mut idle = Vec::new();
        let max_idle = self.cfg.connections_max_idle;
        for (node, c) in &self.net.conns {
            // connections.max.idle.ms: a ready connection with nothing outstanding that has
            // been quiet that long is closed, as Java does, before the broker closes it (its
            // own limit is 10 min) and the next request meets a dead socket.
            if let (ConnState::Ready(_), true, Some(max_idle)) =
                (&c.state, c.in_flight.is_empty() && c.unsent.is_empty(), max_idle)
            {
                let at = c.last_active + max_idle;
                if at <= now {
                    idle.push(*node);
                    continue;
                }
                if self.next_wakeup.is_none_or(|w| at < w) {
                    self.next_wakeup = Some(at);
                }
            }
            let deadline = match c.state {
                ConnState::Connecting => Some(c.connect_deadline),
                _ => c.in_flight.front().map(|f| f.deadline),
            };
            if let Some(d) = deadline {
                if d <= now {
                    expired.push(*node);
                } else if self.next_wakeup.is_none_or(|w| d < w) {
                    self.next_wakeup = Some(d);
                }
            }
        }
        for node in expired {
            self.close_conn(node, "request timed out (request.timeout.ms)", now);
        }
        for node in idle {
            // Closed on purpose: no backoff, nothing to fail; the next request reconnects.
            log::debug!("closing the idle connection to node {node} (connections.max.idle.ms)");
            Metrics::add(&self.metrics.connections_closed, 1);
            self.net.conns.remove(&node);
            self.sasl.forget(node);
            self.outbox.push_back(Transmit::Close { node });
        }
    }

    pub(super) fn close_conn(&mut self, node: i32, reason: &str, now: Instant) {
        if let Some(conn) = self.net.conns.remove(&node) {
            self.outbox.push_back(Transmit::Close { node });
            self.connection_lost(node, conn, reason, now);
        }
    }

    /// The batches of a Produce request that got no answer (its connection was lost, or its
    /// response could not be read): each leaves its partition's in-flight count and is retried
    /// or failed with `code`. `sent`: the request went out, so the broker may have appended them
    /// (their outcome is unresolved).
    pub(super) fn retry_unanswered(
        &mut self,
        batches: Vec<InFlightBatch>,
        sent: bool,
        code: ErrorCode,
        msg: &str,
        now: Instant,
    ) {
        for mut b in batches {
            self.topics[b.topic].partitions[b.partition as usize].in_flight -= 1;
            if sent {
                b.batch.unresolved = true;
            }
            self.retry_or_fail(b.topic, b.partition, b.batch, code, msg.to_owned(), now);
        }
    }

    fn connection_lost(&mut self, node: i32, conn: Conn, reason: &str, now: Instant) {
        log::warn!("connection to node {node} lost: {reason}");
        if !matches!(conn.state, ConnState::Connecting) {
            Metrics::add(&self.metrics.connections_closed, 1);
        }
        let attempts = self.net.backoff.get(&node).map_or(0, |b| b.attempts).saturating_add(1);
        let d =
            self.exponential_backoff(self.cfg.reconnect_backoff, self.cfg.reconnect_backoff_max, attempts);
        let setup_failures = match conn.state {
            ConnState::Connecting => {
                self.net.backoff.get(&node).map_or(0, |b| b.setup_failures).saturating_add(1)
            }
            _ => 0,
        };
        self.net.backoff.insert(node, Backoff { until: now + d, attempts, setup_failures });
        // Every address of the host failed in a row: ask for them again now (a broker that
        // moved), so that the answer is in by the next attempt; until it is, the old ones serve.
        let host = self.net.endpoint(node).map(|e| e.host.clone());
        if let Some((host, h)) = host.and_then(|host| self.net.hosts.get_mut(&host).map(|h| (host, h))) {
            if setup_failures > 0 && !h.ips.is_empty() && setup_failures as usize % h.ips.len() == 0 {
                h.stale = true;
                if !h.resolving && h.retry_at.is_none_or(|t| t <= now) {
                    h.resolving = true;
                    self.outbox.push_back(Transmit::Resolve { host });
                }
            }
        }
        let msg = format!("connection to node {node} lost: {reason}");
        self.sasl.forget(node);
        for f in conn.in_flight {
            match f.kind {
                Kind::Metadata { .. } => self.metadata.in_flight = false,
                Kind::InitProducerId { .. } => {
                    self.idem.in_flight = false;
                    self.idem.retry_at = Some(now + self.cfg.retry_backoff);
                }
                Kind::ApiVersions { .. } | Kind::SaslHandshake { .. } | Kind::SaslAuthenticate { .. } => {}
                Kind::Txn { .. } => self.txn_request_lost(node, now),
                Kind::Produce { batches, .. } => {
                    self.retry_unanswered(batches, true, ErrorCode::NETWORK_EXCEPTION, &msg, now);
                }
            }
        }
        for batches in conn.unsent.into_iter().flatten() {
            self.retry_unanswered(batches, false, ErrorCode::NETWORK_EXCEPTION, &msg, now);
        }
        self.metadata.due = Some(now);
        self.metrics_in_flight();
        self.flushes.check();
    }

    /// The host name of `node` (a bootstrap entry's host for bootstrap connections): the name
    /// its TLS certificate must carry.
    pub fn broker_host(&self, node: i32) -> Option<String> {
        self.net.endpoint(node).map(|e| e.host.clone())
    }

    /// `node` and its address, for error messages.
    pub fn broker_name(&self, node: i32) -> String {
        match (node < 0, self.net.endpoint(node)) {
            (true, _) => {
                format!("bootstrap {}", self.net.bootstrap_names.get((-1 - node) as usize).map_or("?", |s| s))
            }
            (false, Some(e)) => format!("node {node} ({})", e.host),
            (false, None) => format!("node {node}"),
        }
    }
}
