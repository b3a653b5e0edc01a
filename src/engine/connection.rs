//! Connections: one per broker (bootstrap servers get negative node ids), from `Connect` to
//! `Ready` and until lost or closed. The room owns [`Connections`]: each connection's state and
//! requests in flight (`Conn`), reconnect backoff and the connection setup timeout, broker
//! addresses and the choice among them (and `resolve`, the one place that resolves a host name),
//! `request.timeout.ms` and `connections.max.idle.ms`, and what a lost connection means for what
//! was in flight on it (its batches retried, a Metadata or InitProducerId request asked again).
//!
//! Requests on a connection and the dispatch of their responses are `requests`'s; the room
//! builds no request of its own except through it, and decides nothing about records.

use std::collections::{HashMap, VecDeque};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

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
    /// Each broker's addresses, as its host name resolved (never empty).
    pub(super) brokers: HashMap<i32, Vec<SocketAddr>>,
    /// Broker host names from metadata, for TLS server names and error messages.
    hosts: HashMap<i32, String>,
    /// `bootstrap.servers`, and the one to try next.
    bootstrap: Vec<String>,
    next_bootstrap: usize,
    /// Request buffers back from the driver, for reuse (at most [`MAX_SPARE_REQUESTS`]).
    pub(super) spare_requests: Vec<Vec<u8>>,
    /// Our version, as ApiVersions tells the broker.
    pub(super) client_software_version: &'static str,
}

impl Connections {
    pub(super) fn new(bootstrap: Vec<String>) -> Self {
        Connections {
            conns: HashMap::new(),
            backoff: HashMap::new(),
            brokers: HashMap::new(),
            hosts: HashMap::new(),
            bootstrap,
            next_bootstrap: 0,
            spare_requests: Vec::new(),
            client_software_version: env!("CARGO_PKG_VERSION"),
        }
    }

    /// A broker named in metadata: its host name is kept, and its addresses once it resolves.
    pub(super) fn add_broker(&mut self, node: i32, host: &str, port: i32) {
        self.hosts.insert(node, host.to_string());
        let addrs = resolve(&format!("{host}:{port}"));
        if !addrs.is_empty() {
            self.brokers.insert(node, addrs);
        }
    }
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

/// Every address of `host:port` (none if it does not resolve). A host name is resolved on the
/// sender thread, as the Java client does on its I/O thread; all its addresses are kept, as
/// Java's default `client.dns.lookup=use_all_dns_ips` does: `localhost` is often `::1` first,
/// and a broker listening on 127.0.0.1 is then reached on the second try.
fn resolve(host_port: &str) -> Vec<SocketAddr> {
    if let Ok(a) = host_port.parse::<SocketAddr>() {
        return vec![a];
    }
    let mut addrs: Vec<SocketAddr> = host_port.to_socket_addrs().map(Iterator::collect).unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    addrs.retain(|a| seen.insert(*a));
    addrs
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
    pub fn on_sent(&mut self, node: i32, buf: Vec<u8>, now: Instant) {
        self.next_wakeup = Some(now);
        if self.net.spare_requests.len() < MAX_SPARE_REQUESTS
            && buf.capacity() <= self.cfg.max_request_size * 2
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

    /// Makes sure some connection is on its way for cluster-wide requests.
    pub(super) fn ensure_any_conn(&mut self, now: Instant) {
        if self.net.conns.values().any(|c| !matches!(c.state, ConnState::Ready(_))) {
            return; // one is being set up
        }
        if self.ready_conn(now).is_some() {
            return;
        }
        // A known broker first, else the next bootstrap server.
        let known: Vec<(i32, SocketAddr)> =
            self.net.brokers.iter().map(|(n, a)| (*n, self.pick_addr(*n, a))).collect();
        for (n, a) in known {
            if self.net.backoff.get(&n).is_none_or(|b| b.until <= now) {
                self.connect(n, a, now);
                return;
            }
        }
        for _ in 0..self.net.bootstrap.len() {
            let i = self.net.next_bootstrap % self.net.bootstrap.len();
            self.net.next_bootstrap += 1;
            let node = -1 - i as i32;
            if self.net.backoff.get(&node).is_some_and(|b| b.until > now) {
                continue;
            }
            let addrs = resolve(&self.net.bootstrap[i]);
            if addrs.is_empty() {
                log::warn!("cannot resolve bootstrap server {}", self.net.bootstrap[i]);
                continue;
            }
            let addr = self.pick_addr(node, &addrs);
            self.connect(node, addr, now);
            return;
        }
    }

    /// Which of a node's addresses to try next: the next one after each attempt in a row that
    /// failed to connect, the first again once a connection was established (Java's
    /// `use_all_dns_ips`).
    pub(super) fn pick_addr(&self, node: i32, addrs: &[SocketAddr]) -> SocketAddr {
        let failures = self.net.backoff.get(&node).map_or(0, |b| b.setup_failures) as usize;
        addrs[failures % addrs.len()]
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
                Kind::Produce { batches, .. } => {
                    for mut b in batches {
                        self.topics[b.topic].partitions[b.partition as usize].in_flight -= 1;
                        b.batch.unresolved = true;
                        self.retry_or_fail(
                            b.topic,
                            b.partition,
                            b.batch,
                            ErrorCode::NETWORK_EXCEPTION,
                            msg.clone(),
                            now,
                        );
                    }
                }
            }
        }
        for batches in conn.unsent.into_iter().flatten() {
            for b in batches {
                self.topics[b.topic].partitions[b.partition as usize].in_flight -= 1;
                self.retry_or_fail(
                    b.topic,
                    b.partition,
                    b.batch,
                    ErrorCode::NETWORK_EXCEPTION,
                    msg.clone(),
                    now,
                );
            }
        }
        self.metadata.due = Some(now);
        self.metrics_in_flight();
        self.flushes.check();
    }

    /// The host name of `node` (a bootstrap entry's host for bootstrap connections): the name
    /// its TLS certificate must carry.
    pub fn broker_host(&self, node: i32) -> Option<String> {
        if node < 0 {
            let hp = self.net.bootstrap.get((-1 - node) as usize)?;
            let host = hp.rsplit_once(':').map_or(hp.as_str(), |(h, _)| h);
            return Some(host.trim_start_matches('[').trim_end_matches(']').to_string());
        }
        self.net.hosts.get(&node).cloned()
    }

    /// `node` and its address, for error messages.
    pub fn broker_name(&self, node: i32) -> String {
        match (node < 0, self.broker_host(node)) {
            (true, _) => {
                format!("bootstrap {}", self.net.bootstrap.get((-1 - node) as usize).map_or("?", |s| s))
            }
            (false, Some(h)) => format!("node {node} ({h})"),
            (false, None) => format!("node {node}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::resolve;

    #[test]
    fn a_host_name_resolves_to_all_its_addresses_and_an_ip_to_itself() {
        assert_eq!(resolve("10.1.2.3:9092"), ["10.1.2.3:9092".parse::<std::net::SocketAddr>().unwrap()]);
        let local = resolve("localhost:9092");
        assert!(
            !local.is_empty() && local.iter().all(|a| a.port() == 9092 && a.ip().is_loopback()),
            "{local:?}"
        );
        assert!(resolve("no-such-host.invalid:9092").is_empty());
    }
}
