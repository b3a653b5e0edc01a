//! Fuzzes the metadata_response decoder: the first byte picks the version (any i16 byte value, so unsupported
//! versions are exercised too), the rest is a response frame body (header + body). Decoding
//! must return Ok or Err, never panic or allocate from an unchecked length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringkafka::internals::protocol::messages::{decode_response, MetadataRequest};

fuzz_target!(|data: &[u8]| {
    if let Some((&v, frame)) = data.split_first() {
        let _ = decode_response::<MetadataRequest>(frame, i16::from(v as i8));
    }
});
