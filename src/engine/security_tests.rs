//! SASL in the engine, deterministic: the engine against the sans-IO mock broker with SASL on,
//! virtual time, no sockets. PLAIN, SCRAM-SHA-256 and OAUTHBEARER are tested here (and not
//! against Tansu) because Tansu 0.6.0 speaks SCRAM-SHA-512 only; SCRAM-SHA-512 is also checked
//! end to end against Tansu in `tests/security.rs`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::config::{ProducerConfig, SaslMechanism, SecurityProtocol};
use crate::delivery::{Completion, DeliveryResult};
use crate::memory::BufferMemory;
use crate::metrics::Metrics;
use crate::mock::sasl::MockSasl;
use crate::mock::MockCluster;
use crate::protocol::frame::split_frame;

struct Harness {
    engine: Engine,
    cluster: MockCluster,
    now: Instant,
    links: HashMap<i32, i32>,
    inbound: VecDeque<(i32, Vec<u8>)>,
    outcomes: Arc<Mutex<Vec<DeliveryResult>>>,
    memory: Arc<BufferMemory>,
    connects: usize,
}

impl Harness {
    fn new(cfg: ProducerConfig, sasl: MockSasl) -> Harness {
        let mut cluster = MockCluster::new(1);
        cluster.set_port(0, 9000);
        cluster.create_topic("t", 2);
        Harness::with_cluster(cfg, cluster, sasl)
    }

    fn with_cluster(mut cfg: ProducerConfig, mut cluster: MockCluster, sasl: MockSasl) -> Harness {
        cfg.validate().unwrap();
        let memory = Arc::new(BufferMemory::new(cfg.buffer_memory));
        cluster.sasl = Some(sasl);
        Harness {
            engine: Engine::new(
                cfg,
                None,
                memory.clone(),
                Arc::new(Metrics::default()),
                super::sim_tests::SEED,
            ),
            cluster,
            now: super::sim_tests::origin(),
            links: HashMap::new(),
            inbound: VecDeque::new(),
            outcomes: Arc::new(Mutex::new(Vec::new())),
            memory,
            connects: 0,
        }
    }

    fn send(&mut self, value: &[u8]) {
        let outcomes = self.outcomes.clone();
        let completion = Completion::callback(move |r| outcomes.lock().unwrap().push(r));
        let p = Pending::new("t".into(), None, Some(value.to_vec()), Vec::new(), None, None, completion);
        self.memory.reserve(p.reserved(), Duration::ZERO, || {}).unwrap();
        self.engine.append(&mut { p }, self.now, 1000);
    }

    fn turn(&mut self) {
        loop {
            self.engine.poll(self.now);
            while let Some(t) = self.engine.poll_transmit() {
                match t {
                    Transmit::Connect { node, addr } => {
                        self.connects += 1;
                        self.links.insert(node, i32::from(addr.port() - 9000));
                        self.engine.on_connected(node, self.now);
                    }
                    Transmit::Close { node } => {
                        self.links.remove(&node);
                        self.inbound.retain(|(n, _)| *n != node);
                    }
                    Transmit::Resolve { host } => panic!("the mock brokers are literal IPs: {host}"),
                    Transmit::Send { node, buf } => {
                        let broker = self.links[&node];
                        let wire = buf.to_vec();
                        let mut off = 0;
                        while let Some((frame, used)) = split_frame(&wire[off..], usize::MAX).unwrap() {
                            // A request before authentication is refused: drop the connection.
                            match self.cluster.handle(broker, frame) {
                                Ok(Some(resp)) => self.inbound.push_back((node, resp)),
                                Ok(None) => {}
                                Err(e) => {
                                    self.links.remove(&node);
                                    self.engine.on_closed(node, &format!("mock refused: {e}"), self.now);
                                    break;
                                }
                            }
                            off += used;
                        }
                        self.engine.on_sent(node, buf, self.now);
                    }
                }
            }
            if !super::sim_tests::deliver(&mut self.engine, &self.links, &mut self.inbound, self.now) {
                return;
            }
        }
    }

    fn run(&mut self, limit: Duration) {
        let end = self.now + limit;
        while self.now < end {
            self.turn();
            if self.engine.incomplete() == 0 {
                return;
            }
            let next = self.engine.poll_timeout().unwrap_or(self.now + Duration::from_millis(10));
            self.now = next.clamp(self.now + Duration::from_micros(100), end);
        }
    }

    fn outcomes(&self) -> Vec<DeliveryResult> {
        self.outcomes.lock().unwrap().clone()
    }
}

fn sasl_cfg(m: SaslMechanism, user: &str, pw: &str) -> ProducerConfig {
    ProducerConfig::new("127.0.0.1:9000")
        .linger(Duration::from_millis(1))
        .security_protocol(SecurityProtocol::SaslPlaintext)
        .sasl(m, user, pw)
}

fn mock_sasl() -> MockSasl {
    let mut s = MockSasl::new(&["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]);
    s.add_user("alice", "alice-secret");
    s.add_oauth_token("good.token");
    s
}

fn delivers_with(cfg: ProducerConfig) {
    let mut h = Harness::new(cfg, mock_sasl());
    for i in 0..10 {
        h.send(format!("v{i}").as_bytes());
    }
    h.run(Duration::from_secs(5));
    let out = h.outcomes();
    assert_eq!(out.len(), 10);
    assert!(out.iter().all(|r| r.is_ok()), "{out:?}");
    let stored = h.cluster.records("t", 0).len() + h.cluster.records("t", 1).len();
    assert_eq!(stored, 10);
    let s = h.cluster.sasl.as_ref().unwrap();
    assert!(s.successes >= 1 && s.failures == 0);
}

/// PLAIN against the mock (Tansu lacks PLAIN).
#[test]
fn sasl_plain_authenticates_then_produces() {
    delivers_with(sasl_cfg(SaslMechanism::Plain, "alice", "alice-secret"));
}

/// SCRAM-SHA-256 against the mock (Tansu lacks SCRAM-SHA-256).
#[test]
fn sasl_scram_sha256_authenticates_then_produces() {
    delivers_with(sasl_cfg(SaslMechanism::ScramSha256, "alice", "alice-secret"));
}

#[test]
fn sasl_scram_sha512_authenticates_then_produces() {
    delivers_with(sasl_cfg(SaslMechanism::ScramSha512, "alice", "alice-secret"));
}

/// OAUTHBEARER with a static token and with a callback, against the mock (Tansu lacks it).
#[test]
fn sasl_oauthbearer_static_and_callback_tokens() {
    let mut cfg = sasl_cfg(SaslMechanism::OAuthBearer, "", "");
    cfg.set("sasl.oauthbearer.token", "good.token").unwrap();
    delivers_with(cfg);
    let cfg = ProducerConfig::new("127.0.0.1:9000")
        .linger(Duration::from_millis(1))
        .security_protocol(SecurityProtocol::SaslPlaintext)
        .oauth_token_callback(|| Ok("good.token".to_string()));
    delivers_with(cfg);
}

fn fails_with_auth_error(cfg: ProducerConfig) {
    let mut h = Harness::new(cfg, mock_sasl());
    for i in 0..5 {
        h.send(format!("v{i}").as_bytes());
    }
    h.run(Duration::from_secs(10));
    let out = h.outcomes();
    assert_eq!(out.len(), 5, "every record completes");
    for r in &out {
        match r {
            Err(e @ ProduceError::Authentication(m)) => {
                assert!(!e.is_retriable());
                assert!(!m.contains("wrong-secret"), "password leaked: {m}");
                assert!(m.contains("bootstrap 127.0.0.1:9000"), "names the broker: {m}");
            }
            other => panic!("expected an authentication error, got {other:?}"),
        }
    }
    // No reconnect storm: one connection attempt, even after more time passes.
    h.now += Duration::from_secs(30);
    h.turn();
    assert_eq!(h.connects, 1, "reconnected after an authentication failure");
    // A send afterwards fails at once with the same error.
    h.send(b"late");
    h.turn();
    assert!(matches!(h.outcomes().last(), Some(Err(ProduceError::Authentication(_)))));
    assert_eq!(h.engine.incomplete(), 0);
}

#[test]
fn wrong_password_fails_every_record_without_reconnecting_plain() {
    fails_with_auth_error(sasl_cfg(SaslMechanism::Plain, "alice", "wrong-secret"));
}

#[test]
fn wrong_password_fails_every_record_without_reconnecting_scram_sha256() {
    fails_with_auth_error(sasl_cfg(SaslMechanism::ScramSha256, "alice", "wrong-secret"));
}

#[test]
fn unknown_user_and_bad_token_fail_with_auth_error() {
    fails_with_auth_error(sasl_cfg(SaslMechanism::ScramSha512, "mallory", "wrong-secret"));
    let mut cfg = sasl_cfg(SaslMechanism::OAuthBearer, "", "");
    cfg.set("sasl.oauthbearer.token", "bad.token").unwrap();
    fails_with_auth_error(cfg);
}

#[test]
fn mechanism_the_broker_lacks_is_an_auth_error_listing_its_mechanisms() {
    let mut h = Harness::new(sasl_cfg(SaslMechanism::Plain, "alice", "alice-secret"), {
        let mut s = MockSasl::new(&["SCRAM-SHA-512"]);
        s.add_user("alice", "alice-secret");
        s
    });
    h.send(b"x");
    h.run(Duration::from_secs(5));
    match &h.outcomes()[0] {
        Err(ProduceError::Authentication(m)) => assert!(m.contains("SCRAM-SHA-512"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// KIP-368: with a session lifetime, the engine re-authenticates on the same connection before
/// it expires, and records keep flowing (no reconnect).
#[test]
fn reauthenticates_in_place_before_the_session_expires() {
    let mut s = mock_sasl();
    s.session_lifetime_ms = 1000;
    // The mock keeps SASL state per broker, not per connection: bootstrap through broker 1 and
    // lead the topic from broker 0, so that the two connections never share a broker.
    let mut cluster = MockCluster::new(2);
    cluster.set_port(0, 9000);
    cluster.set_port(1, 9001);
    cluster.create_topic("t", 1);
    let cfg = ProducerConfig::new("127.0.0.1:9001")
        .linger(Duration::from_millis(1))
        .security_protocol(SecurityProtocol::SaslPlaintext)
        .sasl(SaslMechanism::ScramSha256, "alice", "alice-secret");
    let mut h = Harness::with_cluster(cfg, cluster, s);
    for round in 0..10 {
        for i in 0..5 {
            h.send(format!("r{round}-{i}").as_bytes());
        }
        h.run(Duration::from_secs(1));
        // Let virtual time pass while idle, waking up when the engine asks to.
        let end = h.now + Duration::from_millis(500);
        while h.now < end {
            h.turn();
            let next = h.engine.poll_timeout().unwrap_or(end).min(end);
            h.now = next.max(h.now + Duration::from_millis(1));
        }
    }
    let out = h.outcomes();
    assert_eq!(out.len(), 50);
    assert!(out.iter().all(|r| r.is_ok()), "{out:?}");
    let sasl = h.cluster.sasl.as_ref().unwrap();
    // Two connections (bootstrap, broker 0), each re-authenticated several times in ~15 s.
    assert!(sasl.successes >= 8, "only {} authentications", sasl.successes);
    assert_eq!(sasl.failures, 0);
    assert_eq!(h.connects, 2, "re-authentication must not reconnect");
}
