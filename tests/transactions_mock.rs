//! Transactions against the mock cluster (`ringkafka::mock`): the real producer (io_uring
//! sender thread) with faults injected into the transaction coordinator's answers, each test
//! with the state it must end in. Transaction version 2 is the mock's default (as Apache Kafka
//! 4.x); the `_tv1` tests set it to 1 (AddPartitionsToTxn and AddOffsetsToTxn, no epoch bump
//! per transaction).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use ringkafka::internals::mock::MockClusterInternals;
use ringkafka::mock::{Api, Fault, MockServer};
use ringkafka::{
    ConsumerGroupMetadata, DeliveryFuture, ErrorCode, ProduceError, Producer, ProducerConfig, ProducerRecord,
    SendError, TransactionError,
};

fn config(server: &MockServer, id: &str, extra: &[(&str, &str)]) -> ProducerConfig {
    let mut props = vec![
        ("bootstrap.servers", server.bootstrap()),
        ("linger.ms", "5".into()),
        ("max.block.ms", "10000".into()),
        ("retry.backoff.ms", "10".into()),
        ("sender.cpu", "-1".into()),
    ];
    if !id.is_empty() {
        props.push(("transactional.id", id.into()));
    }
    props.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    ProducerConfig::from_properties(props.iter().map(|(k, v)| (*k, v.as_str()))).unwrap()
}

fn producer(server: &MockServer, id: &str) -> Producer {
    Producer::new(config(server, id, &[])).unwrap()
}

fn values(records: &[ringkafka::mock::StoredRecord]) -> Vec<String> {
    records.iter().map(|r| String::from_utf8(r.2.clone().unwrap_or_default()).unwrap()).collect()
}

fn record(topic: &str, partition: i32, value: &str) -> ProducerRecord<Vec<u8>, Vec<u8>> {
    ProducerRecord::new(topic, value.as_bytes().to_vec()).partition(partition)
}

fn send_all(p: &Producer, topic: &str, partition: i32, prefix: &str, n: usize) -> Vec<DeliveryFuture> {
    (0..n).map(|i| p.send(record(topic, partition, &format!("{prefix}{i}"))).unwrap()).collect()
}

fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// A mock cluster of `brokers` brokers with `topics`, at transaction version `tv`, and a
/// producer with transactional id `id` on it, its transactions initialized.
fn initialized(brokers: usize, topics: &[(&str, i32)], tv: i16, id: &str) -> (MockServer, Producer) {
    let server = MockServer::with_topics(brokers, topics).unwrap();
    server.cluster().set_transaction_version(tv);
    let p = producer(&server, id);
    p.init_transactions().unwrap();
    (server, p)
}

/// One committed transaction of `n` records to `out`-0 with values `prefix0..`.
fn commit_one(p: &Producer, prefix: &str, n: usize) {
    p.begin_transaction().unwrap();
    let fs = send_all(p, "out", 0, prefix, n);
    p.commit_transaction().unwrap();
    for f in fs {
        f.wait().unwrap();
    }
}

/// The producer epochs of the batches stored in a partition, in order.
fn epochs(server: &MockServer, topic: &str, partition: i32) -> Vec<i16> {
    server.cluster().log(topic, partition).iter().map(|b| b.batch.producer_epoch).collect()
}

#[test]
fn committed_records_and_offsets_become_visible_together() {
    let server = MockServer::with_topics(2, &[("out", 2), ("in", 1)]).unwrap();
    let p = producer(&server, "tx-commit");
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    let futures: Vec<_> = (0..10).map(|i| p.send(record("out", i % 2, &format!("v{i}"))).unwrap()).collect();
    p.send_offsets_to_transaction([("in", 0, 42)], &ConsumerGroupMetadata::new("g")).unwrap();
    assert!(server.cluster().committed_records("out", 0).is_empty(), "nothing visible before the commit");
    p.commit_transaction().unwrap();
    for f in futures {
        f.wait().unwrap();
    }
    let c = server.cluster();
    assert_eq!(values(&c.committed_records("out", 0)), ["v0", "v2", "v4", "v6", "v8"]);
    assert_eq!(values(&c.committed_records("out", 1)), ["v1", "v3", "v5", "v7", "v9"]);
    assert_eq!(c.committed_offset("g", "in", 0), Some(42));
    assert_eq!(c.transactions_ended(), (1, 0));
}

#[test]
fn committed_records_and_offsets_become_visible_together_tv1() {
    let server = MockServer::with_topics(2, &[("out", 2), ("in", 1)]).unwrap();
    server.cluster().set_transaction_version(1);
    let p = producer(&server, "tx-commit-tv1");
    p.init_transactions().unwrap();
    for round in 0..3 {
        p.begin_transaction().unwrap();
        let fs: Vec<_> =
            (0..10).map(|i| p.send(record("out", i % 2, &format!("r{round}-{i}"))).unwrap()).collect();
        p.send_offsets_to_transaction([("in", 0, 10 * (round + 1))], &ConsumerGroupMetadata::new("g"))
            .unwrap();
        p.commit_transaction().unwrap();
        for f in fs {
            f.wait().unwrap();
        }
        assert_eq!(server.cluster().committed_offset("g", "in", 0), Some(10 * (round + 1)));
    }
    let c = server.cluster();
    assert_eq!(c.committed_records("out", 0).len() + c.committed_records("out", 1).len(), 30);
    drop(c);
    // Version 1: one epoch for every transaction (no bump per transaction).
    let e = epochs(&server, "out", 0);
    assert!(e.iter().all(|x| *x == e[0]), "{e:?}");
}

#[test]
fn transaction_version_2_bumps_the_epoch_with_every_transaction() {
    let server = MockServer::with_topics(1, &[("out", 1)]).unwrap();
    let p = producer(&server, "tx-epochs");
    p.init_transactions().unwrap();
    for i in 0..3 {
        commit_one(&p, &format!("t{i}-"), 2);
    }
    let mut e = epochs(&server, "out", 0);
    e.dedup();
    assert_eq!(e.len(), 3, "one epoch per transaction: {e:?}");
    assert!(e.windows(2).all(|w| w[1] == w[0] + 1), "{e:?}");
}

#[test]
fn abort_fails_unsent_records_and_hides_the_written_ones() {
    for tv in [2, 1] {
        let server = MockServer::with_topics(1, &[("out", 2)]).unwrap();
        server.cluster().set_transaction_version(tv);
        let p = Producer::new(config(&server, "tx-abort", &[("linger.ms", "60000")])).unwrap();
        p.init_transactions().unwrap();
        p.begin_transaction().unwrap();
        // Written (flush sends at once), then lingering (unsent) when the abort comes.
        let written = send_all(&p, "out", 0, "w", 3);
        p.flush().unwrap();
        for f in written {
            f.wait().unwrap();
        }
        let unsent = send_all(&p, "out", 1, "u", 3);
        p.abort_transaction().unwrap();
        for f in unsent {
            match f.wait() {
                Err(ProduceError::TransactionAborted { reason }) => {
                    assert!(reason.contains("abort"), "{reason}")
                }
                other => panic!("tv{tv}: an unsent record of an aborted transaction: {other:?}"),
            }
        }
        assert_eq!(server.cluster().records("out", 0).len(), 3, "tv{tv}: the written records are in the log");
        assert!(server.cluster().committed_records("out", 0).is_empty(), "tv{tv}: and invisible");
        assert!(server.cluster().records("out", 1).is_empty(), "tv{tv}: the unsent ones never left");
        // The producer goes on.
        p.begin_transaction().unwrap();
        let fs = send_all(&p, "out", 1, "n", 2);
        p.flush().unwrap();
        p.commit_transaction().unwrap();
        for f in fs {
            f.wait().unwrap();
        }
        assert_eq!(values(&server.cluster().committed_records("out", 1)), ["n0", "n1"], "tv{tv}");
        assert_eq!(server.cluster().transactions_ended(), (1, 1), "tv{tv}");
    }
}

#[test]
fn send_outside_a_transaction_is_a_typed_error() {
    let server = MockServer::with_topics(1, &[("out", 1)]).unwrap();
    let p = producer(&server, "tx-outside");
    let refused = |p: &Producer| match p.send(record("out", 0, "x")) {
        Err(SendError::Transaction(TransactionError::InvalidState(m))) => m,
        other => panic!("a send outside a transaction: {other:?}"),
    };
    assert!(refused(&p).contains("uninitialized"));
    assert!(matches!(p.begin_transaction(), Err(TransactionError::InvalidState(_))), "begin before init");
    assert!(matches!(p.commit_transaction(), Err(TransactionError::InvalidState(_))));
    p.init_transactions().unwrap();
    assert!(refused(&p).contains("ready"));
    assert!(matches!(p.commit_transaction(), Err(TransactionError::InvalidState(_))), "commit outside");
    assert!(matches!(p.abort_transaction(), Err(TransactionError::InvalidState(_))), "abort outside");
    assert!(matches!(p.init_transactions(), Err(TransactionError::InvalidState(_))), "init twice");
    let g = ConsumerGroupMetadata::new("g");
    assert!(matches!(
        p.send_offsets_to_transaction([("in", 0, 1)], &g),
        Err(TransactionError::InvalidState(_))
    ));
    commit_one(&p, "a", 1);
    refused(&p);
    assert_eq!(server.cluster().records("out", 0).len(), 1, "refused records were never sent");
    // Transactional calls on a producer without transactional.id.
    let plain = producer(&server, "");
    for r in [plain.init_transactions(), plain.begin_transaction(), plain.commit_transaction()] {
        assert!(
            matches!(r, Err(TransactionError::InvalidState(ref m)) if m.contains("transactional.id")),
            "{r:?}"
        );
    }
    plain.send(record("out", 0, "plain")).unwrap().wait().unwrap();
}

#[test]
fn a_second_producer_with_the_same_id_fences_the_first() {
    for tv in [2, 1] {
        let (server, first) = initialized(1, &[("out", 1)], tv, "tx-fence");
        first.begin_transaction().unwrap();
        send_all(&first, "out", 0, "old", 2).into_iter().for_each(|f| drop(f.wait().unwrap()));
        let second = producer(&server, "tx-fence");
        second.init_transactions().unwrap(); // aborts the first's transaction, fences it
        match first.commit_transaction() {
            Err(e @ TransactionError::Fenced { .. }) => assert!(e.is_fatal(), "{e}"),
            other => panic!("tv{tv}: the fenced producer's commit: {other:?}"),
        }
        // Every later call and send fails the same way; nothing of it becomes visible.
        assert!(matches!(first.begin_transaction(), Err(TransactionError::Fenced { .. })));
        assert!(matches!(first.abort_transaction(), Err(TransactionError::Fenced { .. })));
        assert!(matches!(
            first.send(record("out", 0, "late")),
            Err(SendError::Transaction(TransactionError::Fenced { .. }))
        ));
        commit_one(&second, "new", 2);
        assert_eq!(values(&server.cluster().committed_records("out", 0)), ["new0", "new1"], "tv{tv}");
    }
}

#[test]
fn coordinator_errors_are_retried() {
    for tv in [2, 1] {
        let server = MockServer::with_topics(2, &[("out", 1), ("in", 1)]).unwrap();
        {
            let mut c = server.cluster();
            c.set_transaction_version(tv);
            c.push_request_errors(
                Api::FindCoordinator,
                &[ErrorCode::COORDINATOR_NOT_AVAILABLE, ErrorCode::COORDINATOR_LOAD_IN_PROGRESS],
            );
            c.push_request_errors(
                Api::InitProducerId,
                &[
                    ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
                    ErrorCode::CONCURRENT_TRANSACTIONS,
                    ErrorCode::NOT_COORDINATOR,
                ],
            );
            c.push_request_errors(
                Api::AddPartitionsToTxn,
                &[ErrorCode::CONCURRENT_TRANSACTIONS, ErrorCode::NOT_COORDINATOR],
            );
            c.push_request_errors(Api::AddOffsetsToTxn, &[ErrorCode::COORDINATOR_NOT_AVAILABLE]);
            c.push_request_errors(
                Api::TxnOffsetCommit,
                &[
                    ErrorCode::NOT_COORDINATOR,
                    ErrorCode::COORDINATOR_LOAD_IN_PROGRESS,
                    ErrorCode::REQUEST_TIMED_OUT,
                ],
            );
            c.push_request_errors(
                Api::EndTxn,
                &[ErrorCode::CONCURRENT_TRANSACTIONS, ErrorCode::COORDINATOR_LOAD_IN_PROGRESS],
            );
            c.push_request_faults(Api::EndTxn, &[Fault::DropBefore]);
        }
        let p = producer(&server, "tx-retries");
        p.init_transactions().unwrap();
        p.begin_transaction().unwrap();
        let fs = send_all(&p, "out", 0, "r", 5);
        p.send_offsets_to_transaction([("in", 0, 5)], &ConsumerGroupMetadata::new("g")).unwrap();
        p.commit_transaction().unwrap();
        for f in fs {
            f.wait().unwrap();
        }
        let c = server.cluster();
        assert_eq!(values(&c.committed_records("out", 0)), numbered("r", 5), "tv{tv}");
        assert_eq!(c.committed_offset("g", "in", 0), Some(5));
        for api in [Api::FindCoordinator, Api::InitProducerId, Api::TxnOffsetCommit, Api::EndTxn] {
            assert_eq!(c.pending_faults(api), 0, "tv{tv}: {api:?} faults all met");
        }
        if tv == 1 {
            assert_eq!(c.pending_faults(Api::AddPartitionsToTxn) + c.pending_faults(Api::AddOffsetsToTxn), 0);
        }
    }
}

#[test]
fn a_coordinator_that_moves_is_found_again() {
    for tv in [2, 1] {
        let (server, p) = initialized(3, &[("out", 1), ("in", 1)], tv, "tx-move");
        commit_one(&p, "a", 2);
        server.cluster().set_transaction_coordinator(2);
        p.begin_transaction().unwrap();
        let fs = send_all(&p, "out", 0, "b", 2);
        p.send_offsets_to_transaction([("in", 0, 7)], &ConsumerGroupMetadata::new("g")).unwrap();
        p.commit_transaction().unwrap();
        for f in fs {
            f.wait().unwrap();
        }
        // And away again while its coordinator is down: it moves back once that one answers.
        server.cluster().set_transaction_coordinator(1);
        server.cluster().set_broker_up(2, false);
        commit_one(&p, "c", 2);
        let c = server.cluster();
        assert_eq!(values(&c.committed_records("out", 0)), ["a0", "a1", "b0", "b1", "c0", "c1"], "tv{tv}");
        assert_eq!(c.committed_offset("g", "in", 0), Some(7));
    }
}

#[test]
fn transaction_abortable_fails_the_commit_and_abort_recovers() {
    for tv in [2, 1] {
        let (server, p) = initialized(1, &[("out", 1)], tv, "tx-abortable");
        p.begin_transaction().unwrap();
        let fs = send_all(&p, "out", 0, "x", 3);
        server.cluster().push_request_errors(Api::EndTxn, &[ErrorCode::TRANSACTION_ABORTABLE]);
        match p.commit_transaction() {
            Err(e @ TransactionError::Abortable { code: Some(ErrorCode::TRANSACTION_ABORTABLE), .. }) => {
                assert!(e.is_abortable() && !e.is_fatal(), "{e}")
            }
            other => panic!("tv{tv}: {other:?}"),
        }
        for f in fs {
            f.wait().unwrap(); // written before the commit failed
        }
        // In the abortable state only abort leads on.
        assert!(matches!(
            p.send(record("out", 0, "y")),
            Err(SendError::Transaction(TransactionError::Abortable { .. }))
        ));
        assert!(matches!(p.begin_transaction(), Err(TransactionError::Abortable { .. })));
        assert!(matches!(p.commit_transaction(), Err(TransactionError::Abortable { .. })));
        p.abort_transaction().unwrap();
        commit_one(&p, "ok", 2);
        assert_eq!(values(&server.cluster().committed_records("out", 0)), ["ok0", "ok1"], "tv{tv}");
    }
}

#[test]
fn a_failed_record_makes_the_transaction_abortable() {
    for tv in [2, 1] {
        let (server, p) = initialized(1, &[("out", 2)], tv, "tx-failed-record");
        let epoch_before = {
            commit_one(&p, "first", 1);
            *epochs(&server, "out", 0).last().unwrap()
        };
        p.begin_transaction().unwrap();
        server.cluster().push_produce_errors("out", 1, &[ErrorCode::INVALID_RECORD]);
        let good = send_all(&p, "out", 0, "g", 2);
        let bad = p.send(record("out", 1, "bad")).unwrap();
        assert!(matches!(bad.wait(), Err(ProduceError::Broker { code: ErrorCode::INVALID_RECORD, .. })));
        match p.commit_transaction() {
            Err(TransactionError::Abortable { message, .. }) => {
                assert!(message.contains("INVALID_RECORD"), "{message}")
            }
            other => panic!("tv{tv}: {other:?}"),
        }
        for f in good {
            // Each gets exactly one outcome: written (then aborted), or failed as aborted.
            match f.wait() {
                Ok(_) | Err(ProduceError::TransactionAborted { .. }) => {}
                other => panic!("tv{tv}: {other:?}"),
            }
        }
        p.abort_transaction().unwrap();
        commit_one(&p, "after", 1);
        let c = server.cluster();
        assert_eq!(values(&c.committed_records("out", 0)), ["first0", "after0"], "tv{tv}");
        assert!(c.committed_records("out", 1).is_empty());
        drop(c);
        // The abort bumped the epoch (version 1: InitProducerId with the id and epoch, after the
        // abort; version 2: every EndTxn does).
        let last = *epochs(&server, "out", 0).last().unwrap();
        assert!(last > epoch_before, "tv{tv}: epoch {epoch_before} -> {last}");
    }
}

#[test]
fn a_fenced_epoch_from_the_coordinator_is_fatal() {
    for (tv, api, code) in [
        (2, Api::EndTxn, ErrorCode::PRODUCER_FENCED),
        (2, Api::EndTxn, ErrorCode::INVALID_PRODUCER_EPOCH),
        (1, Api::AddPartitionsToTxn, ErrorCode::INVALID_PRODUCER_EPOCH),
        (1, Api::AddOffsetsToTxn, ErrorCode::PRODUCER_FENCED),
        (2, Api::TxnOffsetCommit, ErrorCode::PRODUCER_FENCED),
    ] {
        let (server, p) = initialized(1, &[("out", 1), ("in", 1)], tv, "tx-fenced");
        p.begin_transaction().unwrap();
        server.cluster().push_request_errors(api, &[code]);
        let f = p.send(record("out", 0, "x")).unwrap();
        let offsets = p.send_offsets_to_transaction([("in", 0, 1)], &ConsumerGroupMetadata::new("g"));
        let commit = offsets.and_then(|()| p.commit_transaction());
        match commit {
            Err(TransactionError::Fenced { code: c, .. }) => assert_eq!(c, code, "tv{tv} {api:?}"),
            other => panic!("tv{tv} {api:?} {code:?}: {other:?}"),
        }
        // The record gets one outcome (written before, or failed with the fatal error).
        match f.wait() {
            Ok(_) | Err(ProduceError::Transaction(TransactionError::Fenced { .. })) => {}
            other => panic!("tv{tv} {api:?}: {other:?}"),
        }
        assert!(matches!(p.begin_transaction(), Err(TransactionError::Fenced { .. })));
        assert!(matches!(p.abort_transaction(), Err(TransactionError::Fenced { .. })));
        assert!(matches!(
            p.send(record("out", 0, "y")),
            Err(SendError::Transaction(TransactionError::Fenced { .. }))
        ));
        assert!(server.cluster().committed_records("out", 0).is_empty());
    }
}

#[test]
fn a_lost_end_txn_answer_is_retried_and_commits_once() {
    for tv in [2, 1] {
        let (server, p) = initialized(1, &[("out", 1)], tv, "tx-lost-end");
        p.begin_transaction().unwrap();
        let fs = send_all(&p, "out", 0, "a", 3);
        server.cluster().push_request_faults(Api::EndTxn, &[Fault::DropAfter]);
        p.commit_transaction().unwrap();
        for f in fs {
            f.wait().unwrap();
        }
        assert_eq!(server.cluster().transactions_ended(), (1, 0), "tv{tv}: committed once");
        // The next transaction goes on with the epoch the retried answer gave.
        commit_one(&p, "b", 2);
        let c = server.cluster();
        assert_eq!(values(&c.committed_records("out", 0)), ["a0", "a1", "a2", "b0", "b1"], "tv{tv}");
        assert_eq!(c.transactions_ended(), (2, 0));
    }
}

#[test]
fn fatal_coordinator_errors_fail_every_later_call() {
    let server = MockServer::with_topics(1, &[("out", 1)]).unwrap();
    server
        .cluster()
        .push_request_errors(Api::InitProducerId, &[ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED]);
    let p = producer(&server, "tx-unauthorized");
    let e = p.init_transactions().unwrap_err();
    assert!(
        matches!(
            e,
            TransactionError::Fatal { code: Some(ErrorCode::TRANSACTIONAL_ID_AUTHORIZATION_FAILED), .. }
        ),
        "{e:?}"
    );
    assert!(e.is_fatal());
    assert_eq!(p.init_transactions().unwrap_err(), e);
    assert_eq!(p.begin_transaction().unwrap_err(), e);
    assert_eq!(p.send(record("out", 0, "x")).unwrap_err(), SendError::Transaction(e));

    // Version 2: INVALID_PRODUCER_ID_MAPPING from EndTxn is fatal.
    let server = MockServer::with_topics(1, &[("out", 1)]).unwrap();
    let p = producer(&server, "tx-mapping");
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    let f = p.send(record("out", 0, "x")).unwrap();
    server.cluster().push_request_errors(Api::EndTxn, &[ErrorCode::INVALID_PRODUCER_ID_MAPPING]);
    let e = p.commit_transaction().unwrap_err();
    assert!(
        matches!(e, TransactionError::Fatal { code: Some(ErrorCode::INVALID_PRODUCER_ID_MAPPING), .. }),
        "{e:?}"
    );
    f.wait().unwrap();
    assert_eq!(p.abort_transaction().unwrap_err(), e);
}

#[test]
fn offsets_the_group_rejects_make_the_transaction_abortable() {
    for tv in [2, 1] {
        let server = MockServer::with_topics(1, &[("out", 1), ("in", 1)]).unwrap();
        server.cluster().set_transaction_version(tv);
        server.cluster().push_request_errors(Api::TxnOffsetCommit, &[ErrorCode::UNKNOWN_MEMBER_ID]);
        let p = producer(&server, "tx-group");
        p.init_transactions().unwrap();
        p.begin_transaction().unwrap();
        let f = p.send(record("out", 0, "x")).unwrap();
        let group = ConsumerGroupMetadata {
            group_id: "g".into(),
            generation_id: 3,
            member_id: "m-1".into(),
            group_instance_id: None,
        };
        let e = p.send_offsets_to_transaction([("in", 0, 9)], &group).unwrap_err();
        assert!(
            matches!(e, TransactionError::Abortable { code: Some(ErrorCode::UNKNOWN_MEMBER_ID), .. }),
            "{e:?}"
        );
        assert_eq!(p.commit_transaction().unwrap_err(), e);
        p.abort_transaction().unwrap();
        assert!(matches!(f.wait(), Ok(_) | Err(ProduceError::TransactionAborted { .. })));
        assert_eq!(server.cluster().committed_offset("g", "in", 0), None, "tv{tv}");
        assert!(server.cluster().committed_records("out", 0).is_empty());
    }
}

#[test]
fn a_call_that_runs_out_of_max_block_goes_on_and_is_waited_for_again() {
    let server = MockServer::with_topics(1, &[("out", 1)]).unwrap();
    let p = Producer::new(config(&server, "tx-timeout", &[("max.block.ms", "300")])).unwrap();
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    let f = p.send(record("out", 0, "slow")).unwrap();
    server.cluster().push_request_faults(Api::EndTxn, &[Fault::Delay(Duration::from_millis(1500))]);
    let t0 = Instant::now();
    let e = p.commit_transaction().unwrap_err();
    assert!(matches!(e, TransactionError::Timeout { operation: "commit_transaction", .. }), "{e:?}");
    assert!(e.is_retriable());
    assert!(t0.elapsed() < Duration::from_millis(1400), "bounded by max.block.ms: {:?}", t0.elapsed());
    // Another call must wait for it; the same call waits for it.
    assert!(
        matches!(p.begin_transaction(), Err(TransactionError::InvalidState(m)) if m.contains("commit_transaction"))
    );
    let mut done = false;
    for _ in 0..20 {
        match p.commit_transaction() {
            Ok(()) => {
                done = true;
                break;
            }
            Err(TransactionError::Timeout { .. }) => continue,
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(done, "the commit finished");
    f.wait().unwrap();
    assert_eq!(values(&server.cluster().committed_records("out", 0)), ["slow"]);
    commit_one(&p, "next", 1);
}

#[test]
fn the_future_forms_resolve_like_the_blocking_calls() {
    let server = MockServer::with_topics(1, &[("out", 1)]).unwrap();
    let p = producer(&server, "tx-futures");
    fn block_on<F: Future>(f: F) -> F::Output {
        let mut f = pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Poll::Ready(r) = f.as_mut().poll(&mut cx) {
                return r;
            }
            assert!(Instant::now() < deadline, "the future never resolved");
            std::thread::yield_now();
        }
    }
    block_on(p.init_transactions_async()).unwrap();
    p.begin_transaction().unwrap();
    let f = p.send(record("out", 0, "a")).unwrap();
    block_on(p.send_offsets_to_transaction_async([("in", 0, 1)], &ConsumerGroupMetadata::new("g"))).unwrap();
    block_on(p.commit_transaction_async()).unwrap();
    f.wait().unwrap();
    p.begin_transaction().unwrap();
    let f = p.send(record("out", 0, "b")).unwrap();
    p.abort_transaction_async().wait().unwrap();
    assert!(matches!(f.wait(), Ok(_) | Err(ProduceError::TransactionAborted { .. })));
    assert_eq!(values(&server.cluster().committed_records("out", 0)), ["a"]);
    assert_eq!(server.cluster().committed_offset("g", "in", 0), Some(1));
}

#[test]
fn closing_with_an_open_transaction_aborts_it() {
    let server = MockServer::with_topics(1, &[("out", 1)]).unwrap();
    let p = Producer::new(config(&server, "tx-close", &[("linger.ms", "60000")])).unwrap();
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    let written = p.send(record("out", 0, "w")).unwrap();
    p.flush().unwrap();
    written.wait().unwrap();
    let unsent = p.send(record("out", 0, "u")).unwrap();
    p.close(Duration::from_secs(5));
    assert!(matches!(unsent.wait(), Err(ProduceError::TransactionAborted { .. })));
    assert!(server.cluster().committed_records("out", 0).is_empty());
    assert!(matches!(p.begin_transaction(), Err(TransactionError::Closed)));
}

#[test]
fn many_transactions_in_a_row_lose_and_duplicate_nothing() {
    for tv in [2, 1] {
        let (server, p) = initialized(2, &[("out", 3)], tv, "tx-many");
        let (transactions, per) = (200, 30);
        for t in 0..transactions {
            p.begin_transaction().unwrap();
            for i in 0..per {
                let v = format!("{t:04}-{i:03}");
                p.send_and_forget(ProducerRecord::new("out", v.into_bytes()).partition(i % 3)).unwrap();
            }
            if t % 10 == 9 {
                // Written, then aborted.
                p.flush().unwrap();
                p.abort_transaction().unwrap();
            } else if t % 10 == 4 {
                // Aborted before anything left (then nothing reaches the coordinator either).
                p.abort_transaction().unwrap();
            } else {
                p.commit_transaction().unwrap();
            }
        }
        let c = server.cluster();
        let mut got: Vec<String> = (0..3).flat_map(|q| values(&c.committed_records("out", q))).collect();
        got.sort();
        let want: Vec<String> = (0..transactions)
            .filter(|t| t % 10 != 9 && t % 10 != 4)
            .flat_map(|t| (0..per).map(move |i| format!("{t:04}-{i:03}")))
            .collect();
        assert_eq!(got.len(), want.len(), "tv{tv}");
        assert_eq!(got, want, "tv{tv}: every committed record once, no aborted one");
        let (commits, aborts) = c.transactions_ended();
        assert_eq!(commits, 160, "tv{tv}");
        assert!((20..=40).contains(&aborts), "tv{tv}: {aborts} aborts");
    }
}

#[test]
fn an_abortable_init_is_left_by_abort_which_gets_the_producer_id() {
    let server = MockServer::with_topics(1, &[("out", 1)]).unwrap();
    server.cluster().push_request_errors(Api::InitProducerId, &[ErrorCode::TRANSACTION_ABORTABLE]);
    let p = producer(&server, "tx-init-abortable");
    let e = p.init_transactions().unwrap_err();
    assert!(
        matches!(e, TransactionError::Abortable { code: Some(ErrorCode::TRANSACTION_ABORTABLE), .. }),
        "{e:?}"
    );
    assert!(matches!(p.begin_transaction(), Err(TransactionError::Abortable { .. })));
    p.abort_transaction().unwrap();
    commit_one(&p, "ok", 2);
    assert_eq!(values(&server.cluster().committed_records("out", 0)), ["ok0", "ok1"]);
}
