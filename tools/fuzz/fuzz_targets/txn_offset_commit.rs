//! Fuzzes the txn_offset_commit decoders: the first byte picks the version (any i16 byte value, so
//! unsupported versions are exercised too), the rest is decoded as a response frame body
//! (header + body: what a broker sends the client) and as a request body (what the mock broker
//! reads). Decoding must return Ok or Err, never panic or allocate from an unchecked length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringkafka::internals::protocol::messages::{decode_response, Decode, TxnOffsetCommitRequest};
use ringkafka::internals::protocol::primitives::Reader;

fuzz_target!(|data: &[u8]| {
    if let Some((&v, frame)) = data.split_first() {
        let v = i16::from(v as i8);
        let _ = decode_response::<TxnOffsetCommitRequest>(frame, v);
        let _ = TxnOffsetCommitRequest::decode(&mut Reader::new(frame), v);
    }
});
