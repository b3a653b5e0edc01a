//! The Kafka wire codec, sans-IO: bytes in, typed messages out, and back. No sockets, no clocks,
//! no `unsafe`. Everything a broker sends us is hostile until decoded: every decoder returns a
//! typed [`DecodeError`] instead of panicking, and never allocates from an unchecked length.
//!
//! - [`primitives`]: integers, varints, strings, bytes, arrays, tagged fields.
//! - [`frame`]: the int32 size prefix of every request and response, back-patched.
//! - [`header`]: request header v1/v2, response header v0/v1, correlation ids.
//! - [`version`]: API keys, supported version ranges, negotiation with a broker.
//! - [`error_code`]: every Kafka error code a producer can meet, and whether it is retriable.
//! - [`record_batch`]: the magic-v2 record batch, encoded in place and back-patched.
//! - [`compression`]: gzip, snappy, lz4 and zstd for the records section of a batch.
//! - [`messages`]: ApiVersions, Metadata, Produce, InitProducerId.

pub mod compression;
pub mod error_code;
pub mod frame;
pub mod header;
pub mod messages;
pub mod primitives;
pub mod record_batch;
pub mod version;

pub use error_code::ErrorCode;
pub use primitives::{DecodeError, DecodeResult, Reader, Writer};
pub use version::ApiKey;
