//! Host name lookups off the sender thread.
//!
//! `getaddrinfo` blocks, for as long as the DNS server takes: on the sender thread it would
//! stall every partition. The engine asks for a host's addresses with `Transmit::Resolve`; the
//! sender hands the request to a [`Resolver`], which answers at once when it can (a literal IP,
//! a cached answer) and otherwise runs the lookup on a worker thread of its own, whose answer
//! the sender picks up in a later turn ([`Resolver::take_answers`]) and gives to the engine
//! (`Engine::on_resolved`).
//!
//! - The workers start with the first lookup (a producer whose brokers are all literal IPs
//!   starts none) and grow while lookups under way outnumber them, up to [`MAX_WORKERS`]: a
//!   host whose lookup hangs holds one worker, and the others go on. They end when the
//!   resolver is dropped (a hung one when its lookup returns).
//! - At most one lookup per host is under way; a host asked for again meanwhile gets the same
//!   answer.
//! - Requests and answers go through bounded queues. A request that finds its queue full is
//!   answered at once with an error (the engine tries again after its reconnect backoff).
//! - An answer is cached for [`CACHE_TTL`], as the JVM caches a successful lookup for 30 s
//!   (`networkaddress.cache.ttl`): brokers that share a host, and bootstrap servers that are
//!   also brokers, cost one lookup. Failures are not cached: the engine spaces its requests for
//!   a host that does not resolve by its reconnect backoff. (The engine itself keeps a host's
//!   addresses until all of them failed to connect in a row, then asks again, as Java's
//!   `ClusterConnectionStates` does; between the two, a broker that moved is found within
//!   `CACHE_TTL` of its old addresses failing.)
//! - A worker wakes the sender (its `Waker`) after queueing an answer.
//!
//! The lookup itself is a closure ([`Lookup`]), the system's by default
//! ([`system_lookup`]); tests put in one that hangs or fails.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};

/// Looks up a host name's addresses, blocking as long as that takes.
pub(crate) type Lookup = Arc<dyn Fn(&str) -> io::Result<Vec<IpAddr>> + Send + Sync>;

/// Wakes the sender thread (from a worker, after it queued an answer).
pub(crate) type Wake = Arc<dyn Fn() + Send + Sync>;

/// A host and the result of looking it up: its addresses, or why there are none.
pub(crate) type Answer = (String, Result<Vec<IpAddr>, String>);

/// How long a lookup's answer is used for other requests (the JVM's default positive TTL).
pub(crate) const CACHE_TTL: Duration = Duration::from_secs(30);
/// Lookup threads at most: as many hosts can hang at once with others still resolving.
pub(crate) const MAX_WORKERS: usize = 4;
/// Lookups waiting for a worker at most.
const QUEUED: usize = 64;

/// The system resolver (`getaddrinfo`, through the standard library).
pub(crate) fn system_lookup() -> Lookup {
    Arc::new(|host: &str| Ok((host, 0u16).to_socket_addrs()?.map(|a| a.ip()).collect()))
}

/// The sender's resolver (see the module docs). Used from the sender thread only.
pub(crate) struct Resolver {
    lookup: Lookup,
    wake: Wake,
    /// Answers by host, and when they came.
    cache: HashMap<String, (Vec<IpAddr>, Instant)>,
    /// Hosts asked of the workers and not answered yet.
    in_flight: HashSet<String>,
    /// The workers' queues, once the first lookup started them.
    pool: Option<Pool>,
    /// Lookups run so far (for tests).
    lookups: u64,
}

struct Pool {
    requests: Sender<String>,
    /// Cloned for each worker.
    requests_rx: Receiver<String>,
    answers: Receiver<Answer>,
    answers_tx: Sender<Answer>,
    workers: usize,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("cached", &self.cache.len())
            .field("in_flight", &self.in_flight)
            .field("workers", &self.pool.as_ref().map_or(0, |p| p.workers))
            .finish_non_exhaustive()
    }
}

impl Resolver {
    /// A resolver running `lookup`, waking the sender through `waker` when an answer is ready.
    /// Starts no thread yet.
    pub(crate) fn new(lookup: Lookup, wake: Wake) -> Self {
        Resolver { lookup, wake, cache: HashMap::new(), in_flight: HashSet::new(), pool: None, lookups: 0 }
    }

    /// Asks for `host`'s addresses. The answer now, when there is one without a lookup (a
    /// literal IP, a cached answer, or the refusal of a full queue); else `None`, and the answer
    /// comes from [`take_answers`](Self::take_answers) once the lookup is done.
    pub(crate) fn resolve(&mut self, host: String, now: Instant) -> Option<Answer> {
        if let Ok(ip) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            return Some((host, Ok(vec![ip])));
        }
        if let Some((ips, at)) = self.cache.get(&host) {
            if now.saturating_duration_since(*at) < CACHE_TTL {
                return Some((host, Ok(ips.clone())));
            }
        }
        if self.in_flight.contains(&host) {
            return None;
        }
        let pool = match &mut self.pool {
            Some(p) => p,
            None => {
                let (requests, requests_rx) = crossbeam_channel::bounded(QUEUED);
                let (answers_tx, answers) = crossbeam_channel::bounded(QUEUED + MAX_WORKERS);
                self.pool.insert(Pool { requests, requests_rx, answers, answers_tx, workers: 0 })
            }
        };
        match pool.requests.try_send(host.clone()) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                return Some((host, Err("too many host name lookups under way".into())));
            }
        }
        let workers = pool.workers;
        self.in_flight.insert(host);
        self.lookups += 1;
        // Each worker runs one lookup at a time: one per lookup under way (up to the bound),
        // so that none waits behind a lookup that hangs.
        if self.in_flight.len() > workers && workers < MAX_WORKERS {
            if let Err(e) = self.spawn_worker() {
                log::warn!("cannot start a host name lookup thread: {e}");
            }
        }
        None
    }

    fn spawn_worker(&mut self) -> io::Result<()> {
        let pool = self.pool.as_mut().expect("started before its workers");
        let requests = pool.requests_rx.clone();
        let answers = pool.answers_tx.clone();
        let lookup = self.lookup.clone();
        let wake = self.wake.clone();
        let spawned = std::thread::Builder::new().name("ringkafka-resolver".into()).spawn(move || {
            while let Ok(host) = requests.recv() {
                let result = match lookup(&host) {
                    Ok(ips) if ips.is_empty() => Err("no addresses".to_string()),
                    Ok(ips) => Ok(ips),
                    Err(e) => Err(e.to_string()),
                };
                if answers.send((host, result)).is_err() {
                    return; // the sender is gone
                }
                wake();
            }
        });
        match spawned {
            Ok(_) => {
                pool.workers += 1;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Whether answers are waiting for [`take_answers`](Self::take_answers).
    pub(crate) fn has_answers(&self) -> bool {
        self.pool.as_ref().is_some_and(|p| !p.answers.is_empty())
    }

    /// Hands each answer that came in to `f`, caching the good ones.
    pub(crate) fn take_answers(&mut self, now: Instant, mut f: impl FnMut(Answer)) {
        let Some(pool) = &self.pool else { return };
        while let Ok((host, result)) = pool.answers.try_recv() {
            self.in_flight.remove(&host);
            if let Ok(ips) = &result {
                self.cache.insert(host.clone(), (ips.clone(), now));
            }
            f((host, result));
        }
    }

    /// Lookups run so far (not the answers from a literal IP or the cache).
    #[cfg(test)]
    pub(crate) fn lookups(&self) -> u64 {
        self.lookups
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Mutex;

    use crate::mock::MockServer;
    use crate::{ProducerConfig, ProducerRecord, SenderCpu};

    const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    /// A lookup that answers 127.0.0.1 at once, except for `hung`, whose lookups wait until
    /// the returned sender is dropped (or sends); and counts the lookups it ran.
    fn lookup_hanging_on(hung: &'static str) -> (Lookup, crossbeam_channel::Sender<()>, Arc<AtomicU64>) {
        let (release, released) = crossbeam_channel::bounded::<()>(0);
        let released = Mutex::new(released);
        let count = Arc::new(AtomicU64::new(0));
        let c = count.clone();
        let lookup: Lookup = Arc::new(move |host: &str| {
            c.fetch_add(1, Ordering::SeqCst);
            if host == hung {
                let _ = released.lock().unwrap().recv();
            }
            Ok(vec![LOCAL])
        });
        (lookup, release, count)
    }

    /// Waits (with a deadline, on the wake-ups) until `resolver` has `n` answers, and takes them.
    fn answers(
        r: &mut Resolver,
        woken: &crossbeam_channel::Receiver<()>,
        n: usize,
        now: Instant,
    ) -> Vec<Answer> {
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while got.len() < n {
            r.take_answers(now, |a| got.push(a));
            if got.len() < n {
                let left = deadline.saturating_duration_since(Instant::now());
                assert!(woken.recv_timeout(left).is_ok(), "no answer within 10 s: {got:?}");
            }
        }
        got
    }

    fn resolver(lookup: Lookup) -> (Resolver, crossbeam_channel::Receiver<()>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        (Resolver::new(lookup, Arc::new(move || tx.send(()).unwrap_or(()))), rx)
    }

    #[test]
    fn a_literal_ip_is_answered_at_once_without_a_thread() {
        let (lookup, _release, count) = lookup_hanging_on("none");
        let (mut r, _woken) = resolver(lookup);
        let now = Instant::now();
        assert_eq!(
            r.resolve("10.1.2.3".into(), now),
            Some(("10.1.2.3".into(), Ok(vec!["10.1.2.3".parse().unwrap()])))
        );
        assert_eq!(r.resolve("[::1]".into(), now), Some(("[::1]".into(), Ok(vec!["::1".parse().unwrap()]))));
        assert!(r.pool.is_none(), "no worker started");
        assert_eq!((r.lookups(), count.load(Ordering::SeqCst)), (0, 0));
    }

    #[test]
    fn an_answer_is_cached_for_its_ttl_and_one_lookup_per_host_runs_at_a_time() {
        let (lookup, _release, count) = lookup_hanging_on("none");
        let (mut r, woken) = resolver(lookup);
        let t0 = Instant::now();
        let now = t0;
        assert_eq!(r.resolve("b0.test".into(), t0), None, "looked up on a worker");
        assert_eq!(r.resolve("b0.test".into(), t0), None, "already under way: not asked twice");
        assert_eq!(answers(&mut r, &woken, 1, now), [("b0.test".to_string(), Ok(vec![LOCAL]))]);
        assert_eq!(count.load(Ordering::SeqCst), 1);
        let cached = r.resolve("b0.test".into(), t0 + CACHE_TTL - Duration::from_millis(1));
        assert_eq!(cached, Some(("b0.test".into(), Ok(vec![LOCAL]))), "from the cache");
        assert_eq!(r.resolve("b0.test".into(), t0 + CACHE_TTL), None, "expired: looked up again");
        assert_eq!(answers(&mut r, &woken, 1, now).len(), 1);
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_failed_lookup_is_reported_and_not_cached() {
        let lookup: Lookup = Arc::new(|_: &str| Err(io::Error::other("no such host")));
        let (mut r, woken) = resolver(lookup);
        let now = Instant::now();
        assert_eq!(r.resolve("nx.test".into(), now), None);
        let got = answers(&mut r, &woken, 1, now);
        assert!(matches!(&got[..], [(h, Err(e))] if h == "nx.test" && e.contains("no such host")), "{got:?}");
        assert_eq!(r.resolve("nx.test".into(), now), None, "asked again: a new lookup");
        assert_eq!(r.lookups(), 2);
    }

    #[test]
    fn a_hung_lookup_holds_one_worker_and_other_hosts_still_resolve() {
        let (lookup, release, _count) = lookup_hanging_on("slow.test");
        let (mut r, woken) = resolver(lookup);
        let now = Instant::now();
        assert_eq!(r.resolve("slow.test".into(), now), None);
        for h in ["a.test", "b.test", "c.test"] {
            assert_eq!(r.resolve(h.into(), now), None);
        }
        let mut got: Vec<String> = answers(&mut r, &woken, 3, now).into_iter().map(|(h, _)| h).collect();
        got.sort();
        assert_eq!(got, ["a.test", "b.test", "c.test"]);
        assert!(!r.has_answers());
        drop(release); // the hung lookup returns
        assert_eq!(answers(&mut r, &woken, 1, now)[0].0, "slow.test");
        assert!(r.pool.as_ref().unwrap().workers <= MAX_WORKERS);
    }

    #[test]
    fn the_system_lookup_resolves_localhost_to_loopback() {
        let ips = system_lookup()("localhost").unwrap();
        assert!(!ips.is_empty() && ips.iter().all(IpAddr::is_loopback), "{ips:?}");
    }

    /// The producer, with three brokers advertised by name, one of whose lookups hangs: records
    /// for the partitions of the other two are delivered meanwhile (the sender thread does not
    /// wait for the lookup), and the third's once its lookup returns.
    #[test]
    fn records_for_other_brokers_flow_while_one_brokers_lookup_hangs() {
        let server = MockServer::with_topics(3, &[("t", 3)]).unwrap();
        for n in 0..3 {
            server.cluster().set_host(n, &format!("b{n}.test"));
        }
        let (lookup, release, count) = lookup_hanging_on("b1.test");
        let cfg = ProducerConfig::new(&server.addr(0).to_string())
            .sender_cpu(SenderCpu::Unpinned)
            .linger(Duration::ZERO);
        let producer = crate::Producer::<Vec<u8>, Vec<u8>>::start(
            cfg,
            crate::ByteArraySerializer,
            crate::ByteArraySerializer,
            None,
            lookup,
        )
        .unwrap();
        let record = |p: i32| ProducerRecord::new("t", b"v".to_vec()).partition(p);
        let mut stuck = producer.send(record(1)).unwrap();
        for round in 0..3 {
            for p in [0, 2] {
                let r = producer.send(record(p)).unwrap().wait_timeout(Duration::from_secs(10));
                assert!(matches!(r, Some(Ok(_))), "round {round}, partition {p}: {r:?}");
            }
        }
        assert!(stuck.wait_timeout(Duration::ZERO).is_none(), "partition 1 waits for its leader's lookup");
        drop(release);
        let r = stuck.wait_timeout(Duration::from_secs(10));
        assert!(matches!(r, Some(Ok(_))), "delivered once b1.test resolved: {r:?}");
        assert_eq!(count.load(Ordering::SeqCst), 3, "one lookup per broker name");
        assert_eq!(server.cluster().end_offset("t", 1), 1);
    }
}
