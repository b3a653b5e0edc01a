//! Transactions against Tansu 0.6.0 (`RINGKAFKA_BOOTSTRAP`, started by `scripts/test.sh`): what
//! it can do, and a clear typed error for what it cannot.
//!
//! Tansu answers FindCoordinator, InitProducerId with a transactional id, AddPartitionsToTxn,
//! transactional Produce, AddOffsetsToTxn and TxnOffsetCommit. It finalizes no
//! `transaction.version`, so the producer speaks transaction version 1 to it. It lacks EndTxn:
//! its ApiVersions answer does not list it (and it drops the connection on one), so no
//! transaction can be committed or aborted once it holds something; the producer says so with
//! `TransactionError::Unsupported { api: "EndTxn" }`, at once, instead of sending a request the
//! broker would hang up on. It fences an older producer with the same id when that one next
//! adds a partition (PRODUCER_FENCED). Tansu also refuses KIP-360's epoch bump of a transactional id
//! (UNKNOWN_SERVER_ERROR), which the producer needs only to recover from an abortable error
//! under version 1, after an EndTxn it cannot have.

mod support;

use std::time::{Duration, Instant};

use ringkafka::{
    ConsumerGroupMetadata, ProduceError, Producer, ProducerConfig, ProducerRecord, SendError,
    TransactionError,
};
use support::{bootstrap, consume_all, create_topic, unique_topic};

fn producer(id: &str) -> Producer {
    let config = ProducerConfig::from_properties([
        ("bootstrap.servers", bootstrap().as_str()),
        ("transactional.id", id),
        ("linger.ms", "5"),
        ("max.block.ms", "20000"),
        ("sender.cpu", "-1"),
    ])
    .unwrap();
    Producer::new(config).unwrap()
}

fn unsupported_end_txn(e: &TransactionError) -> bool {
    matches!(e, TransactionError::Unsupported { api: "EndTxn", .. })
}

#[test]
fn tansu_takes_a_transaction_up_to_its_end_and_commit_says_it_lacks_end_txn() {
    let topic = unique_topic("txn-tansu");
    let input = unique_topic("txn-tansu-in");
    create_topic(&topic, 2);
    create_topic(&input, 1);
    let p = producer(&unique_topic("txn-tansu-id"));
    p.init_transactions().unwrap(); // FindCoordinator + InitProducerId with the id
    p.begin_transaction().unwrap();
    let sent: Vec<_> = (0..6)
        .map(|i| {
            let r = ProducerRecord::new(topic.as_str(), format!("v{i}").into_bytes()).partition(i % 2);
            p.send(r).unwrap()
        })
        .collect();
    // AddPartitionsToTxn, then the transactional Produce: acknowledged.
    let offsets: Vec<i64> =
        sent.into_iter().map(|f| f.wait().expect("a transactional record").offset).collect();
    assert_eq!(offsets.len(), 6);
    // AddOffsetsToTxn + TxnOffsetCommit.
    p.send_offsets_to_transaction([(input.as_str(), 0, 3)], &ConsumerGroupMetadata::new(unique_topic("g")))
        .unwrap();
    let got = consume_all(&topic, 2, 6, Duration::from_secs(20));
    assert_eq!(got.len(), 6, "the transaction's records are in Tansu's log: {got:?}");

    // No EndTxn: the commit fails at once with the typed error, and the producer is done.
    let t0 = Instant::now();
    let e = p.commit_transaction().unwrap_err();
    assert!(unsupported_end_txn(&e), "{e:?}");
    assert!(e.is_fatal() && e.to_string().contains("EndTxn"), "{e}");
    assert!(t0.elapsed() < Duration::from_secs(10), "not a hang: {:?}", t0.elapsed());
    assert!(unsupported_end_txn(&p.begin_transaction().unwrap_err()));
    match p.send(ProducerRecord::new(topic.as_str(), b"after".to_vec())) {
        Err(SendError::Transaction(e)) => assert!(unsupported_end_txn(&e), "{e:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn tansu_cannot_abort_a_transaction_that_holds_records() {
    let topic = unique_topic("txn-tansu-abort");
    create_topic(&topic, 1);
    let p = producer(&unique_topic("txn-tansu-abort-id"));
    p.init_transactions().unwrap();
    p.begin_transaction().unwrap();
    p.send(ProducerRecord::new(topic.as_str(), b"x".to_vec())).unwrap().wait().unwrap();
    let e = p.abort_transaction().unwrap_err();
    assert!(unsupported_end_txn(&e), "{e:?}");
}

#[test]
fn tansu_ends_a_transaction_that_holds_nothing_without_end_txn() {
    let topic = unique_topic("txn-tansu-empty");
    create_topic(&topic, 1);
    let p = producer(&unique_topic("txn-tansu-empty-id"));
    p.init_transactions().unwrap();
    // Nothing reached the broker: ending it needs no request (as in Java), on any broker.
    p.begin_transaction().unwrap();
    p.commit_transaction().unwrap();
    p.begin_transaction().unwrap();
    p.abort_transaction().unwrap();
    p.begin_transaction().unwrap();
    p.commit_transaction().unwrap();
}

/// Tansu fences the older producer when it next adds a partition (AddPartitionsToTxn answers
/// PRODUCER_FENCED): its record and every later call fail with `Fenced`.
#[test]
fn tansu_fences_the_first_producer_when_it_adds_a_partition() {
    let topic = unique_topic("txn-tansu-fence");
    create_topic(&topic, 2);
    let id = unique_topic("txn-tansu-fence-id");
    let first = producer(&id);
    first.init_transactions().unwrap();
    first.begin_transaction().unwrap();
    first.send(ProducerRecord::new(topic.as_str(), b"a0".to_vec()).partition(0)).unwrap().wait().unwrap();
    let second = producer(&id);
    second.init_transactions().unwrap();
    let r = first.send(ProducerRecord::new(topic.as_str(), b"a1".to_vec()).partition(1)).unwrap().wait();
    assert!(matches!(r, Err(ProduceError::Transaction(TransactionError::Fenced { .. }))), "{r:?}");
    assert!(matches!(first.commit_transaction(), Err(TransactionError::Fenced { .. })));
    assert!(matches!(
        first.send(ProducerRecord::new(topic.as_str(), b"a2".to_vec())),
        Err(SendError::Transaction(TransactionError::Fenced { .. }))
    ));
    second.begin_transaction().unwrap();
    second.send(ProducerRecord::new(topic.as_str(), b"b0".to_vec()).partition(1)).unwrap().wait().unwrap();
}
