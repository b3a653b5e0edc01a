//! Fuzzes the record batch decoder with arbitrary bytes as a Produce `records` field.
//! Decoding must return Ok or Err, never panic or allocate from an unchecked length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringkafka::internals::protocol::record_batch::decode_batches;

fuzz_target!(|data: &[u8]| {
    let _ = decode_batches(data);
});
