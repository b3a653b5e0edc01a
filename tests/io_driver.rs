//! Integration tests of the io_uring driver against plain `std::net` peers on 127.0.0.1.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use ringkafka::internals::io::{ConnId, Driver, Event, SendBuf};

const LIMIT: Duration = Duration::from_secs(20);

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ seed).collect()
}

/// An echo server accepting any number of connections, one thread each.
fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { return };
            thread::spawn(move || {
                let mut r = s.try_clone().unwrap();
                let _ = io::copy(&mut r, &mut s);
            });
        }
    });
    addr
}

/// Polls until `step` says it is done, handing it every event (`None` asks only whether it is
/// done). Panics after `LIMIT`.
fn run(d: &mut Driver, mut step: impl FnMut(&mut Driver, Option<Event>) -> bool) {
    let start = Instant::now();
    let mut events = Vec::new();
    while !step(d, None) {
        assert!(start.elapsed() < LIMIT, "timed out");
        d.poll(Some(Duration::from_millis(100)), &mut events).unwrap();
        for e in events.drain(..) {
            step(d, Some(e));
        }
    }
}

fn wait_connected(d: &mut Driver, id: ConnId) {
    let mut ok = false;
    run(d, |_d, ev| {
        let Some(e) = ev else { return ok };
        match e {
            Event::Connected(c) if c == id => ok = true,
            other => panic!("unexpected {other:?}"),
        }
        false
    });
}

#[test]
fn echo_returns_bytes_in_order_and_sent_hands_back_each_buffer() {
    let addr = echo_server();
    let mut d = Driver::new(64).unwrap();
    let id = d.connect(addr).unwrap();
    // Queued before the connection is up: must go out once connected, in order.
    let bufs: Vec<Vec<u8>> = vec![b"hello ".to_vec(), Vec::new(), b"io_uring ".to_vec()];
    for b in &bufs {
        d.send(id, b.clone());
    }
    let mut connected = false;
    let mut sent = Vec::new();
    let mut got = Vec::new();
    let mut sent_more = false;
    let want = b"hello io_uring world".to_vec();
    run(&mut d, |d, ev| {
        let Some(e) = ev else { return sent.len() == 4 && got.len() >= want.len() };
        match e {
            Event::Connected(c) => {
                assert_eq!(c, id);
                connected = true;
                d.send(id, b"world".to_vec());
                sent_more = true;
            }
            Event::Sent(c, b) => {
                assert_eq!(c, id);
                sent.push(b.to_vec());
            }
            Event::Readable(c) => {
                assert_eq!(c, id);
                got.extend_from_slice(d.rx(id));
                let n = d.rx(id).len();
                d.consume(id, n);
                assert!(d.rx(id).is_empty());
            }
            Event::Closed(..) => panic!("unexpected {e:?}"),
        }
        false
    });
    assert!(connected && sent_more);
    assert_eq!(got, want);
    let mut expect = bufs.clone();
    expect.push(b"world".to_vec());
    assert_eq!(sent, expect);
}

/// Reads `s` until `len` bytes (or EOF), pausing a millisecond after each read until `slow`
/// bytes are in: a reader slow enough that the writer fills the socket buffer and its writes
/// come up short.
fn read_slowly(s: &mut TcpStream, len: usize, slow: usize) -> Vec<u8> {
    let mut all = Vec::with_capacity(len);
    let mut buf = vec![0u8; 64 * 1024];
    while all.len() < len {
        let n = s.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        all.extend_from_slice(&buf[..n]);
        if all.len() < slow {
            thread::sleep(Duration::from_millis(1));
        }
    }
    all
}

#[test]
fn large_send_to_slow_reader_continues_short_writes_intact() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    const LEN: usize = 8 << 20;
    thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        tx.send(read_slowly(&mut s, LEN + 4, LEN / 2)).unwrap();
    });
    let mut d = Driver::new(32).unwrap();
    let id = d.connect(addr).unwrap();
    let data = pattern(LEN, 7);
    d.send(id, data.clone());
    d.send(id, b"tail".to_vec());
    let mut sent = Vec::new();
    run(&mut d, |_d, ev| {
        let Some(e) = ev else { return sent.len() == 2 };
        match e {
            Event::Connected(_) => {}
            Event::Sent(_, b) => sent.push(b.to_vec()),
            other => panic!("unexpected {other:?}"),
        }
        false
    });
    assert_eq!(sent[0], data);
    assert_eq!(sent[1], b"tail");
    let got = rx.recv_timeout(LIMIT).unwrap();
    assert_eq!(got.len(), LEN + 4);
    assert!(got[..LEN] == data[..], "bytes differ");
    assert_eq!(&got[LEN..], b"tail");
    assert!(d.stats().short_writes > 0, "expected short writes");
}

/// A request with buffers spliced in (as a Produce request's batches are): more parts than
/// one `sendmsg` takes (64 iovecs), and a reader slow enough to force short writes that end
/// inside a spliced buffer. The bytes arrive in order, intact; `Sent` hands the buffer back with
/// its references, and once it is dropped the splicer owns its buffers alone again.
#[test]
fn spliced_buffers_go_out_in_order_across_iovec_batches_and_short_writes() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    let batches: Vec<std::sync::Arc<Vec<u8>>> =
        (0..100u8).map(|i| std::sync::Arc::new(pattern(40_000 + i as usize * 977, i))).collect();
    let mut req = SendBuf::from(b"head".to_vec());
    for (i, b) in batches.iter().enumerate() {
        req.bytes.extend_from_slice(&(i as u32).to_be_bytes());
        req.splice(b.clone());
    }
    req.bytes.extend_from_slice(b"end");
    let want = req.to_vec();
    let len = want.len();
    thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        tx.send(read_slowly(&mut s, len, len / 2)).unwrap();
        // Open until the driver goes: an EOF now could race the last `Sent`.
        let _ = s.read(&mut [0u8; 64]);
    });
    let mut d = Driver::new(32).unwrap();
    let id = d.connect(addr).unwrap();
    d.send(id, req);
    let mut back = None;
    run(&mut d, |_d, ev| {
        let Some(e) = ev else { return back.is_some() };
        match e {
            Event::Connected(_) => {}
            Event::Sent(_, b) => back = Some(b),
            other => panic!("unexpected {other:?}"),
        }
        false
    });
    let got = rx.recv_timeout(LIMIT).unwrap();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "bytes differ");
    assert!(d.stats().short_writes > 0, "expected short writes");
    let back = back.unwrap();
    assert_eq!(back.to_vec(), want, "Sent hands back the same request");
    assert!(batches.iter().all(|b| std::sync::Arc::strong_count(b) == 2));
    drop(back);
    assert!(batches.iter().all(|b| std::sync::Arc::strong_count(b) == 1), "the driver kept a reference");
}

#[test]
fn large_inbound_stream_grows_rx_and_keeps_data_across_partial_consumes() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    const LEN: usize = 3 << 20;
    let data = pattern(LEN, 3);
    let server_data = data.clone();
    thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.write_all(&server_data).unwrap();
        // Returning closes the socket: EOF after the data.
    });
    let mut d = Driver::new(32).unwrap();
    let id = d.connect(addr).unwrap();
    let mut checked = 0usize;
    let mut closed = false;
    let mut max_seen = 0usize;
    run(&mut d, |d, ev| {
        let Some(e) = ev else { return closed };
        match e {
            Event::Connected(_) => {}
            Event::Readable(_) => {
                let rx = d.rx(id);
                max_seen = max_seen.max(rx.len());
                // Consume only half once a lot is buffered: unconsumed data must survive
                // compaction and growth.
                if rx.len() > 256 * 1024 {
                    let n = rx.len() / 2;
                    assert_eq!(&rx[..n], &data[checked..checked + n]);
                    checked += n;
                    d.consume(id, n);
                }
            }
            Event::Closed(c, err) => {
                assert_eq!(c, id);
                assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
                closed = true;
            }
            other => panic!("unexpected {other:?}"),
        }
        false
    });
    // The tail is still readable right after `Closed`.
    let rest = d.rx(id).to_vec();
    assert_eq!(&rest[..], &data[checked..]);
    assert!(max_seen > ringkafka::internals::io::RX_INITIAL, "rx never grew");
}

#[test]
fn connect_to_closed_port_reports_connection_refused() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut d = Driver::new(8).unwrap();
    let id = d.connect(SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
    let mut err = None;
    run(&mut d, |_d, ev| {
        let Some(e) = ev else { return err.is_some() };
        match e {
            Event::Closed(c, e) => {
                assert_eq!(c, id);
                err = Some(e);
            }
            other => panic!("unexpected {other:?}"),
        }
        false
    });
    assert_eq!(err.unwrap().raw_os_error(), Some(libc::ECONNREFUSED));
}

#[test]
fn peer_close_reports_closed_exactly_once() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        thread::sleep(Duration::from_millis(50));
        drop(s);
    });
    let mut d = Driver::new(8).unwrap();
    let id = d.connect(addr).unwrap();
    let mut closed = 0;
    run(&mut d, |_d, ev| {
        let Some(e) = ev else { return closed > 0 };
        match e {
            Event::Connected(_) => {}
            Event::Closed(c, _) => {
                assert_eq!(c, id);
                closed += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
        false
    });
    // Closing an already-closed connection and sending on it report nothing more.
    d.close(id);
    d.send(id, b"x".to_vec());
    let mut events = Vec::new();
    let until = Instant::now() + Duration::from_millis(200);
    while Instant::now() < until {
        d.poll(Some(Duration::from_millis(20)), &mut events).unwrap();
    }
    assert!(events.is_empty(), "events after Closed: {events:?}");
    assert_eq!(closed, 1);
    assert_eq!(d.stats().conns, 0, "slot not freed");
    assert_eq!(d.stats().ops_in_flight, 1, "only the eventfd read stays");
}

#[test]
fn close_with_recv_in_flight_then_new_connection_sees_no_crossed_events() {
    let addr = echo_server();
    let mut d = Driver::new(16).unwrap();
    let mut old_ids = Vec::new();
    let mut closed_old = Vec::new();
    // Repeat so slots get reused (with a new generation) while earlier ids are still around.
    for round in 0..20u8 {
        let old = d.connect(addr).unwrap();
        wait_connected(&mut d, old);
        // A recv is in flight now. Close it and open the next one immediately.
        d.close(old);
        d.send(old, b"must be dropped".to_vec());
        let new = d.connect(addr).unwrap();
        assert!(!old_ids.contains(&new), "id reused: {new:?}");
        old_ids.push(old);
        let msg = vec![round; 100];
        d.send(new, msg.clone());
        let mut got = Vec::new();
        let mut sent = false;
        run(&mut d, |d, ev| {
            let Some(e) = ev else { return sent && got.len() >= 100 };
            match e {
                Event::Closed(c, err) => {
                    assert_eq!(c, old, "Closed for wrong conn");
                    assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
                    closed_old.push(c);
                }
                Event::Connected(c) => assert_eq!(c, new),
                Event::Sent(c, _) => {
                    assert_eq!(c, new);
                    sent = true;
                }
                Event::Readable(c) => {
                    assert_eq!(c, new, "Readable for a closed conn");
                    got.extend_from_slice(d.rx(new));
                    let n = d.rx(new).len();
                    d.consume(new, n);
                }
            }
            false
        });
        assert_eq!(got, msg);
        assert!(d.rx(old).is_empty());
        d.close(new);
        let mut closed_new = false;
        run(&mut d, |_d, ev| {
            let Some(e) = ev else { return closed_new };
            match e {
                Event::Closed(c, _) if c == new => closed_new = true,
                Event::Closed(c, _) if c == old => closed_old.push(c),
                other => panic!("unexpected {other:?}"),
            }
            false
        });
    }
    // Each old connection reported Closed exactly once.
    assert_eq!(closed_old, old_ids);
    // All slots come back once the closes complete.
    run(&mut d, |d, ev| match ev {
        None => d.stats().conns == 0,
        Some(e) => panic!("unexpected {e:?}"),
    });
    assert_eq!(d.stats().ops_in_flight, 1);
}

fn assert_idle_poll_waits(mut d: Driver) {
    let mut events = Vec::new();
    let start = Instant::now();
    d.poll(Some(Duration::from_millis(50)), &mut events).unwrap();
    let took = start.elapsed();
    assert!(events.is_empty(), "{events:?}");
    assert!(took >= Duration::from_millis(40), "returned after {took:?}");
    assert!(took < Duration::from_secs(5), "returned after {took:?}");
    // Zero timeout never waits.
    let start = Instant::now();
    d.poll(Some(Duration::ZERO), &mut events).unwrap();
    assert!(start.elapsed() < Duration::from_millis(40));
}

#[test]
fn idle_poll_returns_after_its_timeout_with_no_events() {
    let d = Driver::new(8).unwrap();
    assert!(d.stats().ext_arg);
    assert_idle_poll_waits(d);
}

#[test]
fn idle_poll_with_timeout_op_fallback_returns_after_its_timeout() {
    let mut d = Driver::new(8).unwrap();
    d.set_use_timeout_op(true);
    assert!(!d.stats().ext_arg);
    assert_idle_poll_waits(d);
}

#[test]
fn wake_from_another_thread_returns_parked_poll_and_costs_nothing_when_not_parked() {
    let mut d = Driver::new(8).unwrap();
    let w = d.waker();
    let mut events = Vec::new();
    for round in 1..=3u64 {
        d.prepare_park();
        assert!(w.is_parked());
        let w2 = d.waker();
        let t = thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            w2.wake();
        });
        let start = Instant::now();
        d.poll(None, &mut events).unwrap();
        assert!(start.elapsed() >= Duration::from_millis(40));
        assert!(events.is_empty(), "{events:?}");
        assert!(!w.is_parked(), "poll must clear parked");
        t.join().unwrap();
        assert_eq!(w.wakeups(), round);
    }
    // Not parked: no eventfd write.
    w.wake();
    w.wake();
    assert_eq!(w.wakeups(), 3);
    // Parked then cancelled: no write either.
    d.prepare_park();
    d.cancel_park();
    w.wake();
    assert_eq!(w.wakeups(), 3);
    d.poll(Some(Duration::ZERO), &mut events).unwrap();
    assert!(events.is_empty());
}

#[test]
fn fifty_connections_each_echo_their_own_bytes() {
    let addr = echo_server();
    let mut d = Driver::new(64).unwrap();
    let mut conns = Vec::new();
    for i in 0..50u8 {
        let id = d.connect(addr).unwrap();
        let msg = pattern(10_000 + i as usize * 101, i);
        d.send(id, msg.clone());
        conns.push((id, msg, Vec::new()));
    }
    let mut connected = 0;
    let mut sent = 0;
    run(&mut d, |d, ev| {
        let Some(e) = ev else { return conns.iter().all(|(_, m, g)| g.len() >= m.len()) };
        match e {
            Event::Connected(_) => connected += 1,
            Event::Sent(..) => sent += 1,
            Event::Readable(c) => {
                let (_, _, got) = conns.iter_mut().find(|(id, _, _)| *id == c).unwrap();
                got.extend_from_slice(d.rx(c));
                let n = d.rx(c).len();
                d.consume(c, n);
            }
            other => panic!("unexpected {other:?}"),
        }
        false
    });
    assert_eq!(connected, 50);
    assert_eq!(sent, 50);
    for (_, m, g) in &conns {
        assert!(m == g, "echo mismatch");
    }
}

#[test]
fn tiny_ring_overflows_submission_and_completion_queues_without_losing_work() {
    // 4 SQ / 8 CQ entries for 50 connections: entries wait in the backlog and completions
    // spill onto the kernel's overflow list.
    let addr = echo_server();
    let mut d = Driver::new(4).unwrap();
    let mut conns = Vec::new();
    for i in 0..50u8 {
        let id = d.connect(addr).unwrap();
        for k in 0..3u8 {
            d.send(id, vec![i ^ k; 1000]);
        }
        conns.push((id, Vec::new()));
    }
    assert!(d.stats().sq_full > 0, "expected the submission queue to fill");
    let mut sent = 0;
    run(&mut d, |d, ev| {
        let Some(e) = ev else { return conns.iter().all(|(_, g)| g.len() >= 3000) };
        match e {
            Event::Connected(_) => {}
            Event::Sent(..) => sent += 1,
            Event::Readable(c) => {
                let (_, got) = conns.iter_mut().find(|(id, _)| *id == c).unwrap();
                got.extend_from_slice(d.rx(c));
                let n = d.rx(c).len();
                d.consume(c, n);
            }
            other => panic!("unexpected {other:?}"),
        }
        false
    });
    assert_eq!(sent, 150);
    for (i, (_, got)) in conns.iter().enumerate() {
        let mut want = Vec::new();
        for k in 0..3u8 {
            want.extend(std::iter::repeat_n(i as u8 ^ k, 1000));
        }
        assert!(*got == want, "conn {i} mismatch");
    }
    // Close them all at once with recvs in flight: every slot comes back.
    for (id, _) in &conns {
        d.close(*id);
    }
    let mut closed = 0;
    run(&mut d, |d, ev| match ev {
        None => closed == 50 && d.stats().conns == 0,
        Some(Event::Closed(..)) => {
            closed += 1;
            false
        }
        Some(e) => panic!("unexpected {e:?}"),
    });
}

#[test]
fn dropping_driver_with_ops_in_flight_is_clean() {
    let addr = echo_server();
    let mut d = Driver::new(8).unwrap();
    let id = d.connect(addr).unwrap();
    wait_connected(&mut d, id);
    d.send(id, vec![1; 1 << 20]);
    let mut events = Vec::new();
    d.poll(Some(Duration::ZERO), &mut events).unwrap();
    drop(d);
    // Reaching here without a crash or a hang is the assertion; the stream must not be
    // readable either (idle stream check).
    let _ = TcpStream::connect(addr).unwrap();
}

#[test]
fn driver_moves_to_the_sender_thread_and_waker_is_shared() {
    fn assert_send<T: Send>() {}
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send::<Driver>();
    assert_send_sync::<ringkafka::internals::io::Waker>();
    // Built on this thread, used on another (no SINGLE_ISSUER pinning to the creator).
    let addr = echo_server();
    let d = Driver::new(8).unwrap();
    thread::spawn(move || {
        let mut d = d;
        let id = d.connect(addr).unwrap();
        wait_connected(&mut d, id);
    })
    .join()
    .unwrap();
}

#[test]
fn wake_lazy_skips_a_wake_the_parked_sender_does_not_need() {
    let mut d = Driver::new(8).unwrap();
    let w = d.waker();
    let mut events = Vec::new();
    // The sender will wake by itself soon enough: lazy work rides along, no eventfd write.
    d.prepare_park_lazy(true);
    w.wake_lazy();
    assert_eq!(w.wakeups(), 0);
    assert!(w.is_parked());
    // Urgent work wakes it all the same.
    w.wake();
    assert_eq!(w.wakeups(), 1);
    let start = Instant::now();
    d.poll(Some(Duration::from_millis(200)), &mut events).unwrap();
    assert!(start.elapsed() < Duration::from_millis(150), "the wake cut the park short");
    // Parked for long (or indefinitely): lazy work wakes it too.
    d.prepare_park_lazy(false);
    w.wake_lazy();
    assert_eq!(w.wakeups(), 2);
    d.poll(Some(Duration::ZERO), &mut events).unwrap();
    // Not parked: nothing to do.
    w.wake_lazy();
    assert_eq!(w.wakeups(), 2);
}

/// What the `spin` and `spin-park` idle strategies rest on: a spinning driver notices sends
/// and receives completing (in the ring's memory, or as deferred task work the kernel flags)
/// without any waiting `poll`; it stops at once when the caller has work, and at its deadline
/// otherwise.
#[test]
fn spin_sees_completions_without_waiting_in_the_kernel_and_stops_at_its_deadline() {
    let addr = echo_server();
    let mut d = Driver::new(16).unwrap();
    let id = d.connect(addr).unwrap();
    wait_connected(&mut d, id);
    let waits = d.stats().waits;
    let payload = pattern(3000, 7);
    d.send(id, payload.clone());
    let (mut sent, mut echoed) = (false, Vec::new());
    let mut events = Vec::new();
    let start = Instant::now();
    while !sent || echoed.len() < payload.len() {
        assert!(start.elapsed() < LIMIT, "timed out: sent {sent}, {} bytes back", echoed.len());
        if !d.spin(Some(Instant::now() + LIMIT), || false).unwrap() {
            continue;
        }
        d.poll(Some(Duration::ZERO), &mut events).unwrap();
        for e in events.drain(..) {
            match e {
                Event::Sent(c, buf) if c == id => sent = buf.to_vec() == payload,
                Event::Readable(c) if c == id => {
                    let n = d.rx(id).len();
                    echoed.extend_from_slice(d.rx(id));
                    d.consume(id, n);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(echoed, payload);
    assert_eq!(d.stats().waits, waits, "every completion was found by spinning, none by waiting");

    // Nothing outstanding: the spin runs to its deadline, or stops at once for the caller.
    let start = Instant::now();
    assert!(!d.spin(Some(start + Duration::from_millis(30)), || false).unwrap());
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(30) && took < Duration::from_secs(5), "spun {took:?}");
    let start = Instant::now();
    assert!(d.spin(None, || true).unwrap());
    assert!(start.elapsed() < Duration::from_secs(1));
    assert!(!d.waker().is_parked(), "a spinning driver is not parked: wakes write nothing");
}
