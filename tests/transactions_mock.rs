//! Transactions against the mock cluster (`ringkafka::mock`): the real producer (io_uring
//! sender thread) with faults injected into the transaction coordinator's answers, each test
//! with the state it must end in. Transaction version 2 is the mock's default (as Apache Kafka
//! 4.x); the `_tv1` tests set it to 1 (AddPartitionsToTxn, AddOffsetsToTxn, no epoch bump per
//! transaction).

use std::time::Duration;

use ringkafka::mock::{Api, Fault, MockServer};
use ringkafka::{
    ConsumerGroupMetadata, ErrorCode, ProduceError, Producer, ProducerConfig, ProducerRecord, SendError,
    TransactionError,
};

fn producer(server: &MockServer, id: &str) -> Producer {
    let config = ProducerConfig::from_properties([
        ("bootstrap.servers", server.bootstrap().as_str()),
        ("transactional.id", id),
        ("linger.ms", "5"),
        ("max.block.ms", "10000"),
        ("retry.backoff.ms", "10"),
        ("sender.cpu", "-1"),
    ])
    .unwrap();
    Producer::new(config).unwrap()
}

fn values(records: &[(i64, Option<Vec<u8>>, Option<Vec<u8>>)]) -> Vec<String> {
    records.iter().map(|r| String::from_utf8(r.2.clone().unwrap_or_default()).unwrap()).collect()
}

fn record(topic: &str, partition: i32, value: &str) -> ProducerRecord<Vec<u8>, Vec<u8>> {
    ProducerRecord::new(topic, value.as_bytes().to_vec()).partition(partition)
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
