//! The only place with io_uring and `unsafe`: a completion-based TCP driver for the sender thread.
//!
//! The sender owns one [`Driver`]. It opens connections, queues whole request buffers to send,
//! and reads response bytes from a per-connection receive buffer; [`Driver::poll`] submits what
//! is queued, waits for completions (or a deadline, or a [`Waker`] from an application thread)
//! and reports them as [`Event`]s. Every operation's buffer lives in the driver until the
//! operation's final completion; a slot is never reused before that, so a late completion can
//! never touch the wrong connection.
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod affinity;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Identifies a connection inside a [`Driver`]. Never reused while any of its operations is
/// still in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u32);

/// What happened, reported by [`Driver::poll`].
#[derive(Debug)]
pub enum Event {
    /// The TCP connection is established (TCP_NODELAY set).
    Connected(ConnId),
    /// New bytes were appended to the connection's receive buffer ([`Driver::rx`]).
    Readable(ConnId),
    /// A buffer passed to [`Driver::send`] has been written in full; it is handed back for reuse.
    Sent(ConnId, Vec<u8>),
    /// The connection failed (connect error, reset, EOF, or closed by [`Driver::close`]). No more
    /// events follow for it; its unsent buffers are dropped. Reported exactly once per
    /// connection.
    Closed(ConnId, io::Error),
}

/// Wakes a parked sender from any thread. Cheap when the sender is not parked: an atomic load,
/// no syscall.
#[derive(Debug)]
pub struct Waker {
    _private: (),
}

impl Waker {
    /// Wakes the sender if it is parked (or about to park) in [`Driver::poll`].
    pub fn wake(&self) {
        todo!()
    }
}

/// Kernel io_uring features the driver needs and could not find.
#[derive(Debug)]
pub struct MissingFeatures(pub Vec<&'static str>);

/// The io_uring TCP driver.
#[derive(Debug)]
pub struct Driver {
    _private: (),
}

impl Driver {
    /// Creates the ring, probes the opcodes the driver uses (connect, send, recv, timeout, read,
    /// async cancel) and fails with an error naming any that are missing.
    pub fn new(entries: u32) -> io::Result<Driver> {
        let _ = entries;
        todo!()
    }

    /// A waker for application threads.
    pub fn waker(&self) -> Arc<Waker> {
        todo!()
    }

    /// Starts a non-blocking connect. `Connected` or `Closed` follows.
    pub fn connect(&mut self, addr: SocketAddr) -> io::Result<ConnId> {
        let _ = addr;
        todo!()
    }

    /// Queues `buf` to be written in full after what is already queued on `conn`. Short writes
    /// are continued by the driver. `Sent` follows with the buffer.
    pub fn send(&mut self, conn: ConnId, buf: Vec<u8>) {
        let _ = (conn, buf);
        todo!()
    }

    /// The bytes received on `conn` and not yet consumed.
    pub fn rx(&self, conn: ConnId) -> &[u8] {
        let _ = conn;
        todo!()
    }

    /// Marks the first `n` received bytes of `conn` as consumed.
    pub fn consume(&mut self, conn: ConnId, n: usize) {
        let _ = (conn, n);
        todo!()
    }

    /// Closes `conn`: cancels its operations and closes the socket once they have completed.
    /// A `Closed` event follows (unless one was already reported).
    pub fn close(&mut self, conn: ConnId) {
        let _ = conn;
        todo!()
    }

    /// Announces that the sender is about to park (see the parking protocol).
    pub fn prepare_park(&self) {
        todo!()
    }

    /// Withdraws [`prepare_park`](Self::prepare_park): the sender found work and will not park.
    pub fn cancel_park(&self) {
        todo!()
    }

    /// Submits queued work, then waits until at least one completion arrives, the waker fires,
    /// or `timeout` passes (`Some(ZERO)` does not wait; `None` waits indefinitely). Appends what
    /// happened to `events`.
    pub fn poll(&mut self, timeout: Option<Duration>, events: &mut Vec<Event>) -> io::Result<()> {
        let _ = (timeout, events);
        todo!()
    }
}
