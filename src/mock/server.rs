//! A TCP front end for [`MockCluster`]: one listener per broker on a `127.0.0.1` ephemeral port
//! (advertised in Metadata), one thread per connection, requests answered in order per
//! connection as a broker does. This is test infrastructure on `std::net` and threads; the
//! producer's own I/O never goes through here.
//!
//! Faults are injected through the shared cluster ([`MockServer::cluster`]); the front end
//! carries out what each [`Reply`] asks (delay, close before/after) and takes brokers down and up.
//! Hostile *clients* are survived: a frame with a negative or absurd size, or one that does not
//! decode, closes that connection only, with a logged warning.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{MockCluster, Reply};

/// The largest request frame a connection accepts; a client announcing more is dropped before
/// anything is allocated for it.
pub(crate) const MAX_REQUEST_FRAME: usize = 64 << 20;

/// How often idle threads look at the shutdown flag and the broker's up/down state.
const POLL: Duration = Duration::from_millis(10);

#[derive(Debug, Default)]
struct Shared {
    shutdown: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// Connections accepted so far.
    accepted: AtomicU64,
    /// Connections dropped because the client sent something malformed.
    bad_requests: AtomicU64,
}

/// A mock Kafka cluster on loopback TCP: one listener per broker on an ephemeral `127.0.0.1`
/// port. Dropping it stops every listener and connection, and waits for their threads.
#[derive(Debug)]
pub struct MockServer {
    cluster: Arc<Mutex<MockCluster>>,
    shared: Arc<Shared>,
    addrs: Vec<SocketAddr>,
}

impl MockServer {
    /// Starts `brokers` brokers (node ids `0..brokers`, at least one) with no topics.
    pub fn start(brokers: usize) -> io::Result<MockServer> {
        let mut cluster = MockCluster::new(brokers.max(1));
        let shared = Arc::new(Shared::default());
        let mut listeners = Vec::new();
        let mut addrs = Vec::new();
        for node in 0..brokers.max(1) as i32 {
            let l = TcpListener::bind("127.0.0.1:0")?;
            l.set_nonblocking(true)?;
            let addr = l.local_addr()?;
            cluster.set_port(node, addr.port());
            addrs.push(addr);
            listeners.push((node, l));
        }
        let cluster = Arc::new(Mutex::new(cluster));
        for (node, l) in listeners {
            let (c, s) = (cluster.clone(), shared.clone());
            let h = std::thread::Builder::new()
                .name(format!("mock-broker-{node}"))
                .spawn(move || accept_loop(node, l, c, s))?;
            lock(&shared.threads).push(h);
        }
        Ok(MockServer { cluster, shared, addrs })
    }

    /// Starts `brokers` brokers with these topics (name, partitions).
    pub fn with_topics(brokers: usize, topics: &[(&str, i32)]) -> io::Result<MockServer> {
        let s = Self::start(brokers)?;
        for (t, p) in topics {
            s.cluster().create_topic(t, *p);
        }
        Ok(s)
    }

    /// The bootstrap list: every broker's `127.0.0.1:port`, comma-separated.
    pub fn bootstrap(&self) -> String {
        self.addrs.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
    }

    /// Broker `node`'s address.
    pub fn addr(&self, node: i32) -> SocketAddr {
        self.addrs[node as usize]
    }

    /// The cluster, locked: create topics, inject faults, read what was stored.
    pub fn cluster(&self) -> MutexGuard<'_, MockCluster> {
        lock(&self.cluster)
    }

    /// The cluster, shared: to inject faults from another thread while the test runs (lock it
    /// briefly: every broker connection waits on the same lock).
    pub fn cluster_handle(&self) -> Arc<Mutex<MockCluster>> {
        self.cluster.clone()
    }

    /// Connections accepted so far.
    pub fn connections_accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// Connections closed because the client sent a malformed request.
    pub(crate) fn bad_requests(&self) -> u64 {
        self.shared.bad_requests.load(Ordering::Relaxed)
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        // Connection threads are registered while we join, so drain until none is left.
        loop {
            let hs: Vec<_> = std::mem::take(&mut *lock(&self.shared.threads));
            if hs.is_empty() {
                break;
            }
            for h in hs {
                let _ = h.join();
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn accept_loop(node: i32, l: TcpListener, cluster: Arc<Mutex<MockCluster>>, shared: Arc<Shared>) {
    while !shared.shutdown.load(Ordering::SeqCst) {
        match l.accept() {
            Ok((s, _)) => {
                if !lock(&cluster).is_up(node) {
                    let _ = s.shutdown(Shutdown::Both);
                    continue;
                }
                shared.accepted.fetch_add(1, Ordering::Relaxed);
                let (c, sh) = (cluster.clone(), shared.clone());
                match std::thread::Builder::new()
                    .name(format!("mock-conn-{node}"))
                    .spawn(move || serve(node, s, c, sh))
                {
                    Ok(h) => lock(&shared.threads).push(h),
                    Err(e) => log::warn!("mock broker {node}: cannot spawn a connection thread: {e}"),
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                std::thread::sleep(POLL / 2);
            }
            Err(e) => {
                log::warn!("mock broker {node}: accept failed: {e}");
                std::thread::sleep(POLL);
            }
        }
    }
}

fn serve(node: i32, mut s: TcpStream, cluster: Arc<Mutex<MockCluster>>, shared: Arc<Shared>) {
    let setup = s
        .set_nonblocking(false)
        .and_then(|_| s.set_read_timeout(Some(POLL)))
        .and_then(|_| s.set_write_timeout(Some(Duration::from_secs(5))))
        .and_then(|_| s.set_nodelay(true));
    if let Err(e) = setup {
        log::warn!("mock broker {node}: socket setup failed: {e}");
        return;
    }
    let mut buf: Vec<u8> = Vec::with_capacity(64 << 10);
    let mut chunk = vec![0u8; 64 << 10];
    'conn: loop {
        if shared.shutdown.load(Ordering::SeqCst) || !lock(&cluster).is_up(node) {
            break;
        }
        // Answer every complete frame in the buffer, in order.
        let mut off = 0;
        while buf.len() - off >= 4 {
            let size = i32::from_be_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]]);
            if size < 0 || size as usize > MAX_REQUEST_FRAME {
                log::warn!("mock broker {node}: request frame size {size} is out of bounds; closing");
                shared.bad_requests.fetch_add(1, Ordering::Relaxed);
                break 'conn;
            }
            let end = off + 4 + size as usize;
            if buf.len() < end {
                break;
            }
            let reply = {
                let mut c = lock(&cluster);
                if !c.is_up(node) {
                    break 'conn;
                }
                c.handle_request(node, &buf[off + 4..end])
            };
            off = end;
            match reply {
                Ok(r) => {
                    if !carry_out(node, &mut s, r, &shared, &cluster) {
                        break 'conn;
                    }
                }
                Err(e) => {
                    log::warn!("mock broker {node}: malformed request ({e}); closing");
                    shared.bad_requests.fetch_add(1, Ordering::Relaxed);
                    break 'conn;
                }
            }
        }
        buf.drain(..off);
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => break,
        }
    }
    let _ = s.shutdown(Shutdown::Both);
}

/// Writes a reply as the fault asks. Returns false when the connection is to be closed.
fn carry_out(node: i32, s: &mut TcpStream, r: Reply, shared: &Shared, cluster: &Mutex<MockCluster>) -> bool {
    if !wait(node, r.delay, shared, cluster) {
        return false;
    }
    if let Some(resp) = r.response {
        if s.write_all(&resp).is_err() {
            return false;
        }
    }
    !r.close && wait(node, r.mute, shared, cluster)
}

/// Sleeps `d`, in steps, unless the server shuts down or the broker goes down (then false).
fn wait(node: i32, d: Duration, shared: &Shared, cluster: &Mutex<MockCluster>) -> bool {
    let mut left = d;
    while !left.is_zero() {
        if shared.shutdown.load(Ordering::SeqCst) || !lock(cluster).is_up(node) {
            return false;
        }
        let step = left.min(POLL);
        std::thread::sleep(step);
        left -= step;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mock::{Api, Fault};

    fn metadata_request(correlation_id: i32) -> Vec<u8> {
        use crate::protocol::messages::{encode_request, MetadataRequest};
        let mut out = Vec::new();
        let req = MetadataRequest {
            topics: None,
            allow_auto_topic_creation: false,
            include_topic_authorized_operations: false,
        };
        encode_request(&mut out, 1, correlation_id, Some("t"), &req);
        out
    }

    fn round_trip(addr: SocketAddr, frame: &[u8]) -> io::Result<Vec<u8>> {
        let mut s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(frame)?;
        let mut len = [0u8; 4];
        s.read_exact(&mut len)?;
        let mut body = vec![0u8; i32::from_be_bytes(len) as usize];
        s.read_exact(&mut body)?;
        Ok(body)
    }

    #[test]
    fn answers_drops_and_refuses_as_injected() {
        let server = MockServer::with_topics(2, &[("t", 2)]).unwrap();
        let req = metadata_request(7);
        let body = round_trip(server.addr(0), &req).unwrap();
        assert_eq!(i32::from_be_bytes([body[0], body[1], body[2], body[3]]), 7, "correlation id");
        server.cluster().push_request_faults(Api::Metadata, &[Fault::DropBefore]);
        assert!(round_trip(server.addr(1), &req).is_err(), "closed without an answer");
        assert_eq!(server.cluster().pending_faults(Api::Metadata), 0);
        server.cluster().set_broker_up(0, false);
        assert!(round_trip(server.addr(0), &req).is_err(), "a down broker refuses");
        server.cluster().set_broker_up(0, true);
        assert!(round_trip(server.addr(0), &req).is_ok(), "and serves again when up");
    }
}
