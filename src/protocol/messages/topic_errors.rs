//! The per-topic, per-partition error codes two transactional responses answer with, the same
//! layout under other names: AddPartitionsToTxn v0–v3's `ResultsByTopicV3AndBelow[Name,
//! ResultsByPartition[PartitionIndex, PartitionErrorCode]]` and TxnOffsetCommit's `Topics[Name,
//! Partitions[PartitionIndex, ErrorCode]]`.

use super::{put_tags, skip_tags};
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::{DecodeResult, Reader, Writer};

/// One topic's results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicErrors {
    /// Topic name.
    pub name: String,
    /// Per-partition results.
    pub partitions: Vec<PartitionError>,
}

/// One partition's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionError {
    /// Partition index.
    pub partition_index: i32,
    /// The partition's error.
    pub error_code: ErrorCode,
}

/// The field names a message's schema gives the layout, for decode errors.
pub(crate) struct Names {
    /// The topic array.
    pub topics: &'static str,
    /// A topic's name.
    pub name: &'static str,
    /// A topic's partition array.
    pub partitions: &'static str,
}

/// Smallest topic entry of a per-topic array: an empty name and an empty array (+ tags).
pub(crate) fn min_topic(flex: bool) -> usize {
    if flex {
        3
    } else {
        6
    }
}

/// Appends the topic array.
pub(crate) fn put(buf: &mut Vec<u8>, topics: &[TopicErrors], flex: bool) {
    buf.put_array_len(topics.len(), flex);
    for t in topics {
        buf.put_string(&t.name, flex);
        buf.put_array_len(t.partitions.len(), flex);
        for p in &t.partitions {
            buf.put_i32(p.partition_index);
            buf.put_i16(p.error_code.0);
            put_tags(buf, flex);
        }
        put_tags(buf, flex);
    }
}

/// Reads the topic array.
pub(crate) fn read(r: &mut Reader<'_>, flex: bool, names: Names) -> DecodeResult<Vec<TopicErrors>> {
    let min_part = 6 + usize::from(flex);
    r.array(flex, min_topic(flex), names.topics, |r| {
        let name = r.string(flex, names.name)?.to_owned();
        let partitions = r.array(flex, min_part, names.partitions, |r| {
            let partition_index = r.i32()?;
            let error_code = ErrorCode(r.i16()?);
            skip_tags(r, flex)?;
            Ok(PartitionError { partition_index, error_code })
        })?;
        skip_tags(r, flex)?;
        Ok(TopicErrors { name, partitions })
    })
}
