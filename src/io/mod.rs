//! The only place with io_uring and `unsafe`: a completion-based TCP driver for the sender thread.
//!
//! The sender owns one [`Driver`]. It opens connections, queues whole request buffers to send,
//! and reads response bytes from a per-connection receive buffer; [`Driver::poll`] submits what
//! is queued, waits for completions (or a deadline, or a [`Waker`] from an application thread)
//! and reports them as [`Event`]s. Every operation's buffer lives in the driver until the
//! operation's final completion; a slot is never reused before that, so a late completion can
//! never touch the wrong connection.
//!
//! # What it owns, what it must not touch
//! The driver owns the ring, every socket it opened, every buffer an operation points at (send
//! queues, receive buffers, socket addresses, iovec arrays), and one eventfd `Read`. It knows
//! nothing about Kafka: it never parses bytes, never looks at the clock except to turn a poll
//! timeout into a kernel timespec, and never spawns a thread. No epoll, no blocking syscall:
//! connect, send and recv are ring operations; only `socket`, `setsockopt` and the eventfd
//! `write` in [`Waker::wake`] are plain syscalls.
//!
//! # Operation lifecycle
//! Each operation in the kernel has one entry in a `Slab` keyed by its `user_data`. The entry
//! holds what the operation points at (boxed socket address, iovec array) and the index of its
//! connection. A connection's slot is freed only after the `Close` of its socket completed, and
//! that `Close` is submitted only after every other operation of the connection completed
//! ([`Driver::close`] cancels them with `AsyncCancel`). A [`ConnId`] also carries a generation,
//! so a stale id held by the engine never addresses a newer connection in the same slot.
//!
//! # Parking protocol (waking the sender)
//! 1. The sender calls [`Driver::prepare_park`] (`parked = true`, SeqCst).
//! 2. It rechecks its application queues. Work found → [`Driver::cancel_park`] and handle it.
//!    Nothing → [`Driver::poll`]`(None or deadline)`.
//! 3. `poll` clears `parked` before it returns, whatever made it return.
//!
//! An application thread publishes its work, then calls [`Waker::wake`], which writes the
//! eventfd only if it swaps `parked` from `true` to `false`. So a wake while the sender is busy
//! costs one atomic swap and no syscall, and a wake after step 1 always makes `poll` return
//! (the driver keeps a `Read` on the eventfd outstanding; its completion re-arms itself and is
//! not reported as an event). `poll` may return with no events (a wake, a timeout, a racing
//! wake that found work already taken): callers loop.
//!
//! # Spinning instead of parking
//! [`Driver::spin`] submits what is queued and then watches, without a system call, the
//! completion queue, the submission queue's flags (with `COOP_TASKRUN` the kernel defers the
//! completion of network operations to the sender's next `io_uring_enter` and says so with
//! `IORING_SQ_TASKRUN`), and whatever the caller checks (its record queue). It never sets
//! `parked`, so an application thread's wake costs its usual fence and load and writes
//! nothing. It yields the CPU every [`SPIN_YIELD_EVERY`], so that a thread the scheduler
//! queued behind the spinner (on a machine with few cores) does not wait a whole time slice.
//!
//! # Bounds
//! - Submission queue: `entries` given to [`Driver::new`] (rounded up to a power of two by the
//!   kernel); the completion queue is twice that. When the SQ is full, further entries wait in
//!   an in-driver backlog (bounded by the number of operations, at most four per connection plus
//!   one timeout and one wake read) and go in as the kernel takes entries. The kernel's
//!   no-drop CQ overflow list covers completion bursts.
//! - Connections: at most [`MAX_CONNS`] at once.
//! - Per-connection send queue: unbounded in the driver; the engine bounds the requests in
//!   flight per broker, and so the bytes queued here. One send operation per connection is in
//!   flight at a time (preserving byte order), covering at most [`MAX_IOVECS`] queued buffers.
//! - Receive buffer: [`RX_INITIAL`] bytes allocated at connect, grown by doubling up to
//!   [`RX_MAX`] while unconsumed data fills it. At [`RX_MAX`] with no spare room, receiving
//!   pauses until [`Driver::consume`] frees room (the engine rejects frames this large anyway).
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod affinity;
// The counting allocator of the instruction-count bench (an `unsafe impl`, so it lives here).
#[cfg(feature = "internals")]
pub mod alloc_count;
pub(crate) mod queue;
mod sendbuf;
mod sock;
mod waker;

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue, types, IoUring};
use slab::Slab;

pub use sendbuf::SendBuf;
use sock::SockAddr;
pub use sock::SocketBuffers;
pub use waker::Waker;

/// Receive buffer size allocated when a connection is opened.
pub const RX_INITIAL: usize = 64 * 1024;
/// Largest a receive buffer grows to (unconsumed bytes plus room for one recv).
pub const RX_MAX: usize = 128 * 1024 * 1024;
/// Most queued buffers covered by one send operation (one `sendmsg` iovec array).
pub const MAX_IOVECS: usize = 64;
/// Most connections open (or still closing) at once.
pub const MAX_CONNS: usize = 1 << INDEX_BITS;

const INDEX_BITS: u32 = 20;
const INDEX_MASK: u32 = (1 << INDEX_BITS) - 1;
/// How long [`Driver::spin`] spins between two `sched_yield`s.
pub const SPIN_YIELD_EVERY: Duration = Duration::from_micros(50);
/// `user_data` of the eventfd read (slab keys never get this large).
const WAKE_UD: u64 = u64::MAX;
/// `user_data` of `AsyncCancel` entries; their completions are ignored.
const CANCEL_UD: u64 = u64::MAX - 1;

/// Identifies a connection inside a [`Driver`]. Never reused while any of its operations is
/// still in the kernel. The low 20 bits are a slot index, the high 12 bits a generation, so a
/// stale id is ignored rather than addressing a later connection in the same slot (until the
/// generation wraps after 4096 reuses of one slot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u32);

impl ConnId {
    fn new(index: usize, gen: u32) -> ConnId {
        ConnId((gen << INDEX_BITS) | index as u32)
    }
    fn index(self) -> usize {
        (self.0 & INDEX_MASK) as usize
    }
    fn gen(self) -> u32 {
        self.0 >> INDEX_BITS
    }
}

/// What happened, reported by [`Driver::poll`].
#[derive(Debug)]
pub enum Event {
    /// The TCP connection is established (TCP_NODELAY set).
    Connected(ConnId),
    /// New bytes were appended to the connection's receive buffer ([`Driver::rx`]).
    Readable(ConnId),
    /// A buffer passed to [`Driver::send`] has been written in full; it is handed back for reuse
    /// (with its references to spliced buffers).
    Sent(ConnId, SendBuf),
    /// The connection failed (connect error, reset, EOF, or closed by [`Driver::close`]). No more
    /// events follow for it; its unsent buffers are dropped. Reported exactly once per
    /// connection.
    Closed(ConnId, io::Error),
}

/// Kernel io_uring features the driver needs and could not find.
#[derive(Debug)]
pub struct MissingFeatures(pub Vec<&'static str>);

impl fmt::Display for MissingFeatures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "io_uring lacks required operations: {}", self.0.join(", "))
    }
}

impl std::error::Error for MissingFeatures {}

/// Counters describing the driver's current state, for tests and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DriverStats {
    /// Operations submitted (or queued for submission) whose final completion has not arrived.
    pub ops_in_flight: usize,
    /// Connection slots in use (open, connecting, or closing and waiting for completions).
    pub conns: usize,
    /// Entries waiting in the driver because the submission queue was full.
    pub backlog: usize,
    /// Whether the ring waits with `IORING_ENTER_EXT_ARG` timeouts (else a `Timeout` op).
    pub ext_arg: bool,
    /// Send completions that wrote less than was submitted (continued by the driver), since
    /// the driver was created.
    pub short_writes: u64,
    /// Times an entry found the submission queue full (and the queue was submitted early, or
    /// the entry went to the backlog), since the driver was created.
    pub sq_full: u64,
    /// Times the kernel had completions parked on its overflow list (the CQ was full) that the
    /// driver fetched, since the driver was created.
    pub cq_overflows: u64,
    /// [`Driver::poll`]s that waited in the kernel (with a timeout other than zero), since the
    /// driver was created.
    pub waits: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Connecting,
    Open,
    /// `close` or a failure started tearing down; waiting for operations, then `Close`.
    Closing,
}

struct Conn {
    gen: u32,
    /// `None` once ownership went to a `Close` operation.
    fd: Option<OwnedFd>,
    state: State,
    /// `Closed` has been reported (or queued to be).
    reported: bool,
    connect_op: Option<usize>,
    send_op: Option<usize>,
    recv_op: Option<usize>,
    sendq: VecDeque<SendBuf>,
    /// Bytes of `sendq[0]` already written (of all its parts, in order).
    send_off: usize,
    /// Received bytes live in `rx[rx_start..]`; the kernel writes into the spare capacity.
    rx: Vec<u8>,
    rx_start: usize,
}

impl Conn {
    fn ops_in_flight(&self) -> bool {
        self.connect_op.is_some() || self.send_op.is_some() || self.recv_op.is_some()
    }
}

/// A `msghdr` and the iovec array it points at, boxed so both stay put until the send's final
/// completion. The iovecs point into buffers in the connection's send queue. Kept for reuse
/// once the send completes (`Driver::spare_msgs`).
struct SendMsgBuf {
    msg: libc::msghdr,
    iov: Vec<libc::iovec>,
}

// SAFETY: the raw pointers inside only point at memory owned by the same `Driver` (this box's
// `iov`, and the heap data of the `SendBuf`s in the connection's send queue: their own bytes,
// and spliced `Arc`'d buffers of which the send queue holds a reference); they are never
// dereferenced by Rust code, only by the kernel, and the driver moves between threads as a
// whole, so sending the pointers along with their owner is sound.
unsafe impl Send for SendMsgBuf {}

/// The completion queue's status (pointers into the ring), kept beside the ring it reads.
struct CqStatus(io_uring::cqueue::CompletionStatus);

// SAFETY: the pointers point into the ring's shared memory, which the same `Driver` owns; they
// are only loaded from (never written) through that driver's methods, and the driver moves
// between threads as a whole, ring included.
unsafe impl Send for CqStatus {}

enum Op {
    Connect { conn: usize, _addr: Box<SockAddr> },
    Send { conn: usize, buf: Box<SendMsgBuf> },
    Recv { conn: usize },
    Close { conn: usize },
    Timeout { _ts: Box<types::Timespec> },
}

/// The io_uring TCP driver. One per sender thread; `Send` but not `Sync`.
pub struct Driver {
    ring: IoUring,
    ops: Slab<Op>,
    conns: Slab<Conn>,
    /// Generation per conn slot index, bumped when the slot is freed.
    gens: Vec<u32>,
    /// Entries that did not fit into the submission queue, oldest first.
    backlog: VecDeque<squeue::Entry>,
    /// Events produced outside `poll` (by `close`) or by completions, delivered by `poll`.
    out: Vec<Event>,
    waker: Arc<Waker>,
    wake_buf: Box<u64>,
    wake_armed: bool,
    ext_arg: bool,
    /// The fallback timeout op in flight, if any.
    timeout_op: Option<usize>,
    short_writes: u64,
    sq_full: u64,
    cq_overflows: u64,
    /// Buffer sizes for new sockets.
    socket_buffers: SocketBuffers,
    /// `SendMsgBuf`s of completed sends, for reuse (one per connection sending at most). Boxed:
    /// the kernel holds a pointer into each while its send is in flight, so it must not move.
    #[allow(clippy::vec_box, reason = "the box keeps the msghdr in place for the kernel")]
    spare_msgs: Vec<Box<SendMsgBuf>>,
    /// Reads the completion queue's head and tail without writing either (for spinning).
    cq_status: CqStatus,
}

impl fmt::Debug for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Driver").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

fn is_transient(errno: i32) -> bool {
    errno == libc::EINTR || errno == libc::EAGAIN || errno == libc::ENOBUFS
}

impl Driver {
    /// Creates the ring (`entries` submission slots, twice as many completion slots), probes the
    /// opcodes the driver uses (Connect, SendMsg, Recv, Timeout, Read, AsyncCancel, Close) and
    /// fails with an error naming any that are missing (its inner error is
    /// [`MissingFeatures`]). Also creates the [`Waker`]'s eventfd and arms its read.
    ///
    /// The ring is set up with `COOP_TASKRUN` + `TASKRUN_FLAG` when the kernel accepts them.
    /// `SINGLE_ISSUER`/`DEFER_TASKRUN` are not used: the driver may be built on one thread and
    /// moved to the sender thread.
    pub fn new(entries: u32) -> io::Result<Driver> {
        let ring = match IoUring::builder().setup_coop_taskrun().setup_taskrun_flag().build(entries) {
            Ok(r) => r,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => IoUring::new(entries)?,
            Err(e) => return Err(e),
        };
        let mut probe = io_uring::Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        let wanted: [(&'static str, u8); 7] = [
            ("Connect", opcode::Connect::CODE),
            ("SendMsg", opcode::SendMsg::CODE),
            ("Recv", opcode::Recv::CODE),
            ("Timeout", opcode::Timeout::CODE),
            ("Read", opcode::Read::CODE),
            ("AsyncCancel", opcode::AsyncCancel::CODE),
            ("Close", opcode::Close::CODE),
        ];
        let missing: Vec<&'static str> =
            wanted.iter().filter(|(_, code)| !probe.is_supported(*code)).map(|(name, _)| *name).collect();
        if !missing.is_empty() {
            return Err(io::Error::new(io::ErrorKind::Unsupported, MissingFeatures(missing)));
        }
        let ext_arg = ring.params().is_feature_ext_arg();
        let mut ring = ring;
        // SAFETY: the status holds pointers into the ring's shared memory, valid while the ring
        // is mapped; the ring lives in the same `Driver` and is never replaced, and the status
        // is only read through `&self` methods of that driver.
        let cq_status = CqStatus(unsafe { ring.completion().status() });
        let mut driver = Driver {
            ring,
            ops: Slab::new(),
            conns: Slab::new(),
            gens: Vec::new(),
            backlog: VecDeque::new(),
            out: Vec::new(),
            waker: Arc::new(Waker::new()?),
            wake_buf: Box::new(0),
            wake_armed: false,
            ext_arg,
            timeout_op: None,
            short_writes: 0,
            sq_full: 0,
            cq_overflows: 0,
            socket_buffers: SocketBuffers::default(),
            spare_msgs: Vec::new(),
            cq_status,
        };
        driver.arm_wake();
        Ok(driver)
    }

    /// Buffer sizes for the sockets of later [`connect`](Self::connect)s (`send.buffer.bytes`,
    /// `receive.buffer.bytes`); by default the kernel's.
    pub fn set_socket_buffers(&mut self, buffers: SocketBuffers) {
        self.socket_buffers = buffers;
    }

    /// A waker for application threads.
    pub fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }

    /// Step 1 of the parking protocol: announces that the sender is about to wait. Recheck the
    /// application queues after this, then call [`poll`](Self::poll) or
    /// [`cancel_park`](Self::cancel_park).
    pub fn prepare_park(&self) {
        self.prepare_park_lazy(false);
    }

    /// [`prepare_park`](Self::prepare_park), announcing whether the sender will wake by itself
    /// soon enough for lazy work (`due_soon`), so that [`Waker::wake_lazy`] can skip wake-ups
    /// that would come no sooner. With `due_soon`, the caller must then poll with a timeout no
    /// longer than the window it promised.
    pub fn prepare_park_lazy(&self, due_soon: bool) {
        self.waker.set_due_soon(due_soon);
        self.waker.set_parked(true);
    }

    /// Withdraws [`prepare_park`](Self::prepare_park) when the recheck found work.
    pub fn cancel_park(&self) {
        self.waker.set_parked(false);
    }

    /// Hands queued entries to the kernel without waiting, so that it works on them while the
    /// caller spins. No system call when there is nothing to hand over.
    pub fn submit(&mut self) -> io::Result<()> {
        self.flush_backlog();
        if self.needs_enter() {
            ok_if_normal(self.ring.submit())?;
        }
        Ok(())
    }

    /// Whether [`poll`](Self::poll) has something to report or to hand to the kernel:
    /// completions in the ring, events held, entries not yet submitted, or completions the
    /// kernel keeps until the next `io_uring_enter` (deferred task work, CQ overflow). Reads
    /// the ring's shared memory only: no system call.
    pub fn ready(&mut self) -> bool {
        !self.out.is_empty() || !self.backlog.is_empty() || !self.cq_status.0.is_empty() || self.needs_enter()
    }

    /// Spins until [`ready`](Self::ready), `work()` says there is work, or `until` passes
    /// (`None`: no limit): the idle strategies `spin` and `spin-park`. Submits queued entries
    /// first; makes no system call while it spins, except a `sched_yield` every
    /// [`SPIN_YIELD_EVERY`], so that a thread the scheduler queued behind this one on its CPU
    /// waits that long at most, not a whole time slice. Returns `true` when it stopped for work
    /// (then [`poll`](Self::poll) with a zero timeout takes it), `false` at `until`. Does not
    /// touch the parked flag: a spinning sender is not parked, and `send` wakes nobody.
    pub fn spin(&mut self, until: Option<Instant>, mut work: impl FnMut() -> bool) -> io::Result<bool> {
        self.submit()?;
        let mut next_yield = Instant::now() + SPIN_YIELD_EVERY;
        loop {
            // A few rounds of checks between clock reads (a clock read costs about as much as
            // the checks and a pause).
            for _ in 0..8 {
                if self.ready() || work() {
                    return Ok(true);
                }
                std::hint::spin_loop();
            }
            let now = Instant::now();
            if until.is_some_and(|u| now >= u) {
                return Ok(false);
            }
            if now >= next_yield {
                std::thread::yield_now();
                next_yield = now + SPIN_YIELD_EVERY;
            }
        }
    }

    /// Whether an `io_uring_enter` has anything to do: entries to submit, or completions the
    /// kernel only hands over on an enter.
    fn needs_enter(&mut self) -> bool {
        let sq = self.ring.submission();
        !sq.is_empty() || sq.taskrun() || sq.cq_overflow()
    }

    /// Forces (or stops forcing) the fallback wait with a `Timeout` operation instead of an
    /// `EXT_ARG` timespec, as on kernels before 5.11. For testing that path; has no effect if
    /// the kernel lacks `EXT_ARG` anyway.
    pub fn set_use_timeout_op(&mut self, use_timeout_op: bool) {
        self.ext_arg = !use_timeout_op && self.ring.params().is_feature_ext_arg();
    }

    /// Current counters.
    pub fn stats(&self) -> DriverStats {
        DriverStats {
            ops_in_flight: self.ops.len() + usize::from(self.wake_armed),
            conns: self.conns.len(),
            backlog: self.backlog.len(),
            ext_arg: self.ext_arg,
            short_writes: self.short_writes,
            sq_full: self.sq_full,
            cq_overflows: self.cq_overflows,
            waits: self.waker.parks(),
        }
    }

    /// Starts a non-blocking connect. `Connected` or `Closed` follows. Fails only if the socket
    /// cannot be created or [`MAX_CONNS`] connections exist.
    pub fn connect(&mut self, addr: SocketAddr) -> io::Result<ConnId> {
        if self.conns.len() >= MAX_CONNS {
            return Err(io::Error::other("ringkafka io: too many connections"));
        }
        let fd = sock::tcp_socket(&addr, self.socket_buffers)?;
        let raw = fd.as_raw_fd();
        let entry = self.conns.vacant_entry();
        let index = entry.key();
        if self.gens.len() <= index {
            self.gens.resize(index + 1, 0);
        }
        let gen = self.gens[index];
        entry.insert(Conn {
            gen,
            fd: Some(fd),
            state: State::Connecting,
            reported: false,
            connect_op: None,
            send_op: None,
            recv_op: None,
            sendq: VecDeque::new(),
            send_off: 0,
            rx: Vec::with_capacity(RX_INITIAL),
            rx_start: 0,
        });
        let (sa, len) = SockAddr::new(&addr);
        let sa = Box::new(sa);
        let ptr = sa.as_ptr();
        let key = self.ops.insert(Op::Connect { conn: index, _addr: sa });
        self.conns[index].connect_op = Some(key);
        let sqe = opcode::Connect::new(types::Fd(raw), ptr, len).build().user_data(key as u64);
        self.push(sqe);
        Ok(ConnId::new(index, gen))
    }

    fn lookup(&self, conn: ConnId) -> Option<usize> {
        let i = conn.index();
        match self.conns.get(i) {
            Some(c) if c.gen == conn.gen() => Some(i),
            _ => None,
        }
    }

    /// Queues `buf` to be written in full after what is already queued on `conn`, its parts in
    /// order (a `Vec<u8>` converts). Short writes are continued by the driver. `Sent` follows
    /// with the buffer. Buffers queued before `Connected` go out once connected. On a closed or
    /// unknown connection the buffer is dropped (its `Closed` event is or was reported).
    pub fn send(&mut self, conn: ConnId, buf: impl Into<SendBuf>) {
        let buf = buf.into();
        let Some(i) = self.lookup(conn) else { return };
        let c = &mut self.conns[i];
        if c.state == State::Closing {
            return;
        }
        c.sendq.push_back(buf);
        if c.state == State::Open {
            self.start_send(i);
        }
    }

    /// The bytes received on `conn` and not yet consumed (empty for an unknown connection).
    /// After `Closed` they stay readable until the next [`poll`](Self::poll), so a response that
    /// arrived just before the peer's EOF can still be decoded.
    pub fn rx(&self, conn: ConnId) -> &[u8] {
        match self.lookup(conn) {
            Some(i) => {
                let c = &self.conns[i];
                &c.rx[c.rx_start..]
            }
            None => &[],
        }
    }

    /// Marks the first `n` received bytes of `conn` as consumed (`n` is clamped to what
    /// [`rx`](Self::rx) returns). Resumes receiving if it paused on a full buffer.
    pub fn consume(&mut self, conn: ConnId, n: usize) {
        let Some(i) = self.lookup(conn) else { return };
        let c = &mut self.conns[i];
        let avail = c.rx.len() - c.rx_start;
        c.rx_start += n.min(avail);
        if c.state == State::Open && c.recv_op.is_none() {
            self.arm_recv(i);
        }
    }

    /// Closes `conn`: cancels its operations and closes the socket once they have completed.
    /// A `Closed` event follows (unless one was already reported). Unknown ids are ignored.
    pub fn close(&mut self, conn: ConnId) {
        let Some(i) = self.lookup(conn) else { return };
        self.fail(i, io::Error::new(io::ErrorKind::ConnectionAborted, "closed by the driver's owner"));
    }

    /// Submits queued work, then waits until at least one completion arrives, the waker fires,
    /// or `timeout` passes (`Some(ZERO)` does not wait; `None` waits indefinitely). Appends what
    /// happened to `events`. Does not wait if events are already pending. May return early with
    /// no events (a wake, an interrupted wait); callers loop. Clears the parked flag (see the
    /// module docs). `EINTR`, `EAGAIN`, `EBUSY` and a full submission queue are handled here;
    /// other ring errors are returned, and events gathered so far are still appended.
    ///
    /// Work queued after `poll` returns (by [`send`](Self::send), [`connect`](Self::connect),
    /// or re-armed receives) reaches the kernel at the next `poll`, so the sender loop should
    /// end every turn with one.
    pub fn poll(&mut self, timeout: Option<Duration>, events: &mut Vec<Event>) -> io::Result<()> {
        let r = self.poll_inner(timeout);
        self.waker.set_parked(false);
        events.append(&mut self.out);
        r
    }

    fn poll_inner(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.flush_backlog();
        let no_wait = timeout == Some(Duration::ZERO)
            || !self.out.is_empty()
            || !self.backlog.is_empty()
            || !self.ring.completion().is_empty();
        if no_wait {
            if self.needs_enter() {
                ok_if_normal(self.ring.submit())?;
            }
        } else {
            self.waker.note_park();
            self.submit_and_wait(timeout)?;
        }
        loop {
            let drained = self.drain();
            if self.backlog.is_empty() {
                break;
            }
            let before = self.backlog.len();
            self.flush_backlog();
            ok_if_normal(self.ring.submit())?;
            if drained == 0 && self.backlog.len() == before {
                // The kernel takes nothing and completes nothing right now; the next poll
                // carries on.
                break;
            }
        }
        if let Some(key) = self.timeout_op.take() {
            // Poll returns before the fallback timer fired: cancel it. Its completion (or the
            // cancel's) may make the next poll return early, which callers tolerate.
            self.push(opcode::AsyncCancel::new(key as u64).build().user_data(CANCEL_UD));
        }
        Ok(())
    }

    fn submit_and_wait(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        match timeout {
            None => ok_if_normal(self.ring.submit_and_wait(1)),
            Some(d) if self.ext_arg => {
                let ts = types::Timespec::from(d);
                let args = types::SubmitArgs::new().timespec(&ts);
                ok_if_normal(self.ring.submitter().submit_with_args(1, &args))
            }
            Some(d) => {
                let ts = Box::new(types::Timespec::from(d));
                let ptr: *const types::Timespec = &*ts;
                let key = self.ops.insert(Op::Timeout { _ts: ts });
                self.timeout_op = Some(key);
                self.push(opcode::Timeout::new(ptr).build().user_data(key as u64));
                self.flush_backlog();
                ok_if_normal(self.ring.submit_and_wait(1))
            }
        }
    }

    /// Pushes one entry into the submission queue; when it is full, submits what it holds and
    /// retries once, then parks the entry in the backlog. Order is kept: once anything is in
    /// the backlog, new entries go behind it.
    fn push(&mut self, sqe: squeue::Entry) {
        if self.backlog.is_empty() {
            if self.try_push(&sqe) {
                return;
            }
            self.sq_full += 1;
            // Full: hand the queue to the kernel. Errors here (EBUSY/EAGAIN when the kernel is
            // short of resources) just leave the entry for poll.
            let _ = self.ring.submit();
            if self.try_push(&sqe) {
                return;
            }
        }
        self.backlog.push_back(sqe);
    }

    fn try_push(&mut self, sqe: &squeue::Entry) -> bool {
        // SAFETY: every entry the driver builds points only at memory the driver owns and keeps
        // in place until the entry's final completion: socket addresses and msghdr/iovec arrays
        // are boxed in the operation's slab entry; iovecs point at heap data of the `SendBuf`s
        // in the connection's send queue (their own `Vec`s, and the spliced `Arc<Vec<u8>>`s, of
        // which the queue holds a reference, so that nobody can reach them mutably: `Arc`
        // hands out `&mut` only to a sole owner), which are not dropped or modified while the
        // send is in flight; recv points at the spare capacity of the connection's rx `Vec`, which is not
        // reallocated while the recv is in flight; the eventfd read points at `wake_buf`; the
        // timeout points at a boxed Timespec in its slab entry. Connection slots (and their
        // fds) outlive all their operations. On drop the driver waits for every operation or
        // leaks what they point at.
        unsafe { self.ring.submission().push(sqe).is_ok() }
    }

    fn flush_backlog(&mut self) {
        while let Some(sqe) = self.backlog.front() {
            let sqe = sqe.clone();
            if !self.try_push(&sqe) {
                break;
            }
            self.backlog.pop_front();
        }
    }

    fn arm_wake(&mut self) {
        let ptr: *mut u64 = &mut *self.wake_buf;
        let sqe = opcode::Read::new(
            types::Fd(self.waker.raw_fd()),
            ptr.cast::<u8>(),
            std::mem::size_of::<u64>() as u32,
        )
        .build()
        .user_data(WAKE_UD);
        self.wake_armed = true;
        self.push(sqe);
    }

    /// Drains the completion queue into `self.out`; returns how many completions it handled.
    fn drain(&mut self) -> usize {
        let mut n = 0;
        let mut flushed = false;
        loop {
            let cqes: Vec<(u64, i32)> = self.ring.completion().map(|c| (c.user_data(), c.result())).collect();
            if cqes.is_empty() {
                // Completions the kernel parked on its overflow list (CQ was full) or deferred
                // task work only reach the CQ through an enter with GETEVENTS, which `submit`
                // issues when either flag is set. Fetch them now rather than a poll later.
                let (overflow, taskrun) = {
                    let sq = self.ring.submission();
                    (sq.cq_overflow(), sq.taskrun())
                };
                self.cq_overflows += u64::from(overflow);
                let flush = overflow || taskrun;
                if flush && !flushed {
                    flushed = true;
                    if ok_if_normal(self.ring.submit()).is_ok() {
                        continue;
                    }
                }
                return n;
            }
            n += cqes.len();
            for (ud, res) in cqes {
                self.complete(ud, res);
            }
        }
    }

    fn complete(&mut self, ud: u64, res: i32) {
        if ud == WAKE_UD {
            self.wake_armed = false;
            self.arm_wake();
            return;
        }
        if ud == CANCEL_UD {
            return;
        }
        let Some(op) = self.ops.try_remove(ud as usize) else {
            debug_assert!(false, "completion for unknown op {ud}");
            return;
        };
        match op {
            Op::Timeout { .. } => {
                if self.timeout_op == Some(ud as usize) {
                    self.timeout_op = None;
                }
            }
            Op::Connect { conn, .. } => {
                self.conns[conn].connect_op = None;
                if self.conns[conn].state == State::Closing {
                    self.maybe_close_fd(conn);
                } else if res < 0 {
                    self.fail(conn, io::Error::from_raw_os_error(-res));
                } else {
                    self.conns[conn].state = State::Open;
                    let id = self.id(conn);
                    self.out.push(Event::Connected(id));
                    self.arm_recv(conn);
                    self.start_send(conn);
                }
            }
            Op::Send { conn, buf } => {
                let submitted: usize = buf.iov.iter().map(|v| v.iov_len).sum();
                if res > 0 && (res as usize) < submitted {
                    self.short_writes += 1;
                }
                self.spare_msgs.push(buf);
                self.conns[conn].send_op = None;
                if self.conns[conn].state == State::Closing {
                    self.maybe_close_fd(conn);
                } else if res < 0 && is_transient(-res) {
                    self.start_send(conn);
                } else if res < 0 {
                    self.fail(conn, io::Error::from_raw_os_error(-res));
                } else if res == 0 {
                    self.fail(conn, io::Error::from(io::ErrorKind::WriteZero));
                } else {
                    self.advance_send(conn, res as usize);
                    self.start_send(conn);
                }
            }
            Op::Recv { conn } => {
                self.conns[conn].recv_op = None;
                if self.conns[conn].state == State::Closing {
                    self.maybe_close_fd(conn);
                } else if res < 0 && is_transient(-res) {
                    self.arm_recv(conn);
                } else if res < 0 {
                    self.fail(conn, io::Error::from_raw_os_error(-res));
                } else if res == 0 {
                    self.fail(
                        conn,
                        io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed by peer"),
                    );
                } else {
                    let c = &mut self.conns[conn];
                    let n = (res as usize).min(c.rx.capacity() - c.rx.len());
                    // SAFETY: the recv was given the whole spare capacity of `rx` (which was not
                    // reallocated while it was in flight) and the kernel reports it initialised
                    // `res` bytes of it, clamped to that capacity.
                    unsafe { c.rx.set_len(c.rx.len() + n) };
                    let id = self.id(conn);
                    self.out.push(Event::Readable(id));
                    self.arm_recv(conn);
                }
            }
            Op::Close { conn } => {
                // The socket is closed and no operation refers to the slot any more.
                self.conns.remove(conn);
                self.gens[conn] = (self.gens[conn] + 1) & (u32::MAX >> INDEX_BITS);
            }
        }
    }

    fn id(&self, conn: usize) -> ConnId {
        ConnId::new(conn, self.conns[conn].gen)
    }

    /// Reports `Closed` (once) and starts tearing the connection down.
    fn fail(&mut self, conn: usize, err: io::Error) {
        let id = self.id(conn);
        let c = &mut self.conns[conn];
        if !c.reported {
            c.reported = true;
            self.out.push(Event::Closed(id, err));
        }
        if c.state == State::Closing {
            return;
        }
        c.state = State::Closing;
        let ops = [c.connect_op, c.send_op, c.recv_op];
        for key in ops.into_iter().flatten() {
            self.push(opcode::AsyncCancel::new(key as u64).build().user_data(CANCEL_UD));
        }
        self.maybe_close_fd(conn);
    }

    /// Once a closing connection has no operation in flight, frees its buffers and submits the
    /// `Close` of its socket; the slot is freed by that completion.
    fn maybe_close_fd(&mut self, conn: usize) {
        let c = &mut self.conns[conn];
        if c.ops_in_flight() {
            return;
        }
        let Some(fd) = c.fd.take() else { return };
        // The send queue can go now; `rx` stays readable until the slot is freed, so bytes
        // that arrived just before an EOF can still be read after `Closed`.
        c.sendq = VecDeque::new();
        let raw: RawFd = fd.into_raw_fd();
        let key = self.ops.insert(Op::Close { conn });
        self.push(opcode::Close::new(types::Fd(raw)).build().user_data(key as u64));
    }

    /// Submits the next send for an open connection with queued buffers and none in flight.
    fn start_send(&mut self, conn: usize) {
        let id = self.id(conn);
        let c = &mut self.conns[conn];
        if c.state != State::Open || c.send_op.is_some() {
            return;
        }
        // Empty buffers at the head are "written in full" already.
        while c.sendq.front().is_some_and(|b| b.len() == c.send_off) {
            c.send_off = 0;
            if let Some(buf) = c.sendq.pop_front() {
                self.out.push(Event::Sent(id, buf));
            }
        }
        if c.sendq.is_empty() {
            return;
        }
        let Some(fd) = c.fd.as_ref().map(|f| f.as_raw_fd()) else {
            return;
        };
        let mut buf = match self.spare_msgs.pop() {
            Some(b) => b,
            None => {
                // SAFETY: msghdr is a plain C struct of integers and pointers; all-zero is a
                // valid value (no name, no control data, no flags).
                let msg: libc::msghdr = unsafe { std::mem::zeroed() };
                Box::new(SendMsgBuf { msg, iov: Vec::with_capacity(MAX_IOVECS) })
            }
        };
        buf.iov.clear();
        // The queued buffers' parts from `send_off` on, empty parts left out, up to MAX_IOVECS.
        let mut skip = c.send_off;
        'bufs: for b in &c.sendq {
            for s in b.segments() {
                let s = if skip > 0 {
                    let n = skip.min(s.len());
                    skip -= n;
                    &s[n..]
                } else {
                    s
                };
                if s.is_empty() {
                    continue;
                }
                if buf.iov.len() == MAX_IOVECS {
                    break 'bufs;
                }
                buf.iov.push(libc::iovec { iov_base: s.as_ptr() as *mut libc::c_void, iov_len: s.len() });
            }
        }
        buf.msg.msg_iov = buf.iov.as_mut_ptr();
        buf.msg.msg_iovlen = buf.iov.len() as _;
        let ptr: *const libc::msghdr = &buf.msg;
        let key = self.ops.insert(Op::Send { conn, buf });
        c.send_op = Some(key);
        let sqe = opcode::SendMsg::new(types::Fd(fd), ptr)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
            .user_data(key as u64);
        self.push(sqe);
    }

    /// Accounts `n` written bytes against the head of the send queue, returning finished
    /// buffers as `Sent`.
    fn advance_send(&mut self, conn: usize, mut n: usize) {
        let id = self.id(conn);
        let c = &mut self.conns[conn];
        while let Some(front) = c.sendq.front() {
            let left = front.len() - c.send_off;
            if n < left {
                c.send_off += n;
                break;
            }
            n -= left;
            c.send_off = 0;
            if let Some(buf) = c.sendq.pop_front() {
                self.out.push(Event::Sent(id, buf));
            }
        }
    }

    /// Arms the one recv of an open connection: compacts or grows the rx buffer first (legal
    /// only now, with no recv in flight). At [`RX_MAX`] with no room, leaves it unarmed until
    /// `consume`.
    fn arm_recv(&mut self, conn: usize) {
        let c = &mut self.conns[conn];
        if c.state != State::Open || c.recv_op.is_some() {
            return;
        }
        let Some(fd) = c.fd.as_ref().map(|f| f.as_raw_fd()) else {
            return;
        };
        if c.rx_start == c.rx.len() {
            c.rx.clear();
            c.rx_start = 0;
        }
        let cap = c.rx.capacity();
        if c.rx.capacity() - c.rx.len() < cap / 4 && c.rx_start > 0 {
            c.rx.copy_within(c.rx_start.., 0);
            c.rx.truncate(c.rx.len() - c.rx_start);
            c.rx_start = 0;
        }
        if c.rx.capacity() - c.rx.len() < cap / 4 && cap < RX_MAX {
            let new_cap = (cap * 2).clamp(RX_INITIAL, RX_MAX);
            c.rx.reserve_exact(new_cap - c.rx.len());
        }
        let spare = c.rx.spare_capacity_mut();
        if spare.is_empty() {
            return; // paused until consume()
        }
        let len = spare.len().min(u32::MAX as usize) as u32;
        let ptr = spare.as_mut_ptr().cast::<u8>();
        let key = self.ops.insert(Op::Recv { conn });
        self.conns[conn].recv_op = Some(key);
        self.push(opcode::Recv::new(types::Fd(fd), ptr, len).build().user_data(key as u64));
    }
}

fn ok_if_normal(r: io::Result<usize>) -> io::Result<()> {
    match r {
        Ok(_) => Ok(()),
        Err(e) => match e.raw_os_error() {
            Some(libc::ETIME | libc::EINTR | libc::EAGAIN | libc::EBUSY) => Ok(()),
            _ => Err(e),
        },
    }
}

impl Drop for Driver {
    /// Cancels every operation and waits (up to one second) for their final completions, so no
    /// buffer is freed while the kernel may still write it. If some never complete, their
    /// buffers are leaked rather than freed.
    fn drop(&mut self) {
        let keys: Vec<usize> = self.ops.iter().map(|(k, _)| k).collect();
        for key in keys {
            self.push(opcode::AsyncCancel::new(key as u64).build().user_data(CANCEL_UD));
        }
        if self.wake_armed {
            self.push(opcode::AsyncCancel::new(WAKE_UD).build().user_data(CANCEL_UD));
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        while (!self.ops.is_empty() || self.wake_armed || !self.backlog.is_empty())
            && Instant::now() < deadline
        {
            self.flush_backlog();
            let ts = types::Timespec::from(Duration::from_millis(10));
            let args = types::SubmitArgs::new().timespec(&ts);
            let r = if self.ring.params().is_feature_ext_arg() {
                self.ring.submitter().submit_with_args(1, &args)
            } else {
                self.ring.submit()
            };
            if ok_if_normal(r).is_err() {
                break;
            }
            let cqes: Vec<u64> = self.ring.completion().map(|c| c.user_data()).collect();
            for ud in cqes {
                if ud == WAKE_UD {
                    self.wake_armed = false;
                } else if ud != CANCEL_UD {
                    if let Some(Op::Close { conn }) = self.ops.try_remove(ud as usize) {
                        self.conns.try_remove(conn);
                    }
                }
            }
        }
        if !self.ops.is_empty() || self.wake_armed {
            // The kernel may still write into these: leak them instead of freeing.
            for (_, c) in self.conns.iter_mut() {
                drop(c.fd.take());
            }
            std::mem::forget(std::mem::take(&mut self.conns));
            std::mem::forget(std::mem::take(&mut self.ops));
            std::mem::forget(std::mem::replace(&mut self.wake_buf, Box::new(0)));
        }
    }
}

/// Asks for the cache lines of `len` bytes at `ptr` in a writable state ahead of a write, so
/// that the write does not wait for another core to give them up. A hint: any address is fine,
/// even freed memory (nothing is read or written).
#[inline(always)]
pub(crate) fn prefetch_for_write(ptr: *const u8, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let mut off = 0;
        while off < len {
            // SAFETY: PREFETCHW only hints the cache; it never faults, reads or writes memory,
            // whatever the address (CPUs without it treat it as a NOP).
            unsafe {
                std::arch::asm!("prefetchw [{0}]", in(reg) ptr.wrapping_add(off), options(nostack, preserves_flags, readonly));
            }
            off += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (ptr, len);
}
