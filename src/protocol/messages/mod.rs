//! The request and response bodies the producer speaks. Each message owns its data and
//! implements [`Encode`] and [`Decode`] for every version in its [`ApiKey::supported`] range, in
//! both directions (the client encodes requests and decodes responses; the mock broker and tests
//! do the reverse).

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod api_versions;
pub mod end_txn;
pub mod find_coordinator;
pub mod init_producer_id;
pub mod metadata;
pub mod produce;
pub mod sasl_authenticate;
pub mod sasl_handshake;
mod topic_errors;
pub mod txn_offset_commit;

use super::frame::{begin_frame, end_frame};
use super::header::{decode_response_header, RequestHeader};
use super::primitives::{DecodeError, DecodeResult, Reader, Writer};
use super::version::ApiKey;

pub use add_offsets_to_txn::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
pub use add_partitions_to_txn::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnRequest, AddPartitionsToTxnResponse,
    AddPartitionsToTxnTopic, AddPartitionsToTxnTopicResult,
};
pub use api_versions::{
    api_versions_fallback_version, decode_api_versions_response, ApiVersion, ApiVersionsRequest,
    ApiVersionsResponse, FinalizedFeature, SupportedFeature, TRANSACTION_VERSION_FEATURE,
};
pub use end_txn::{EndTxnRequest, EndTxnResponse};
pub use find_coordinator::{Coordinator, CoordinatorType, FindCoordinatorRequest, FindCoordinatorResponse};
pub use init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
pub use metadata::{MetadataBroker, MetadataPartition, MetadataRequest, MetadataResponse, MetadataTopic};
pub use produce::{
    LeaderIdAndEpoch, NodeEndpoint, PartitionProduceData, PartitionProduceResponse, ProduceRequest,
    ProduceResponse, ProduceWriter, TopicProduceData, TopicProduceResponse,
};
pub use sasl_authenticate::{SaslAuthenticateRequest, SaslAuthenticateResponse};
pub use sasl_handshake::{SaslHandshakeRequest, SaslHandshakeResponse};
pub use topic_errors::{PartitionError, TopicErrors};
pub use txn_offset_commit::{
    TxnOffsetCommitPartition, TxnOffsetCommitRequest, TxnOffsetCommitResponse,
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic, TxnOffsetCommitTopic,
};

/// Appends the body of a message at `version`.
pub trait Encode {
    /// Appends the body at `version` (which must be in the API's supported range; checked by a
    /// `debug_assert`). Fields absent at `version` are not written.
    fn encode(&self, version: i16, buf: &mut Vec<u8>);
}

/// Reads the body of a message at `version`.
pub trait Decode: Sized {
    /// Reads the body at `version`; a version outside the supported range is
    /// [`DecodeError::UnsupportedVersion`]. Fields absent at `version` get the schema's default.
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self>;
}

/// A request body, tied to its API and its response type.
pub trait Request: Encode + Decode {
    const API_KEY: ApiKey;
    type Response: Encode + Decode;
}

/// Writes an empty tagged-field section in flexible versions (and nothing before them).
pub(crate) fn put_tags(buf: &mut Vec<u8>, flexible: bool) {
    if flexible {
        buf.put_empty_tagged_fields();
    }
}

/// Skips a tagged-field section in flexible versions (there is none before them).
pub(crate) fn skip_tags(r: &mut Reader<'_>, flexible: bool) -> DecodeResult<()> {
    if flexible {
        r.skip_tagged_fields()?;
    }
    Ok(())
}

/// Appends one tagged field: its tag, its size and the bytes `f` writes. Fields must be
/// appended in ascending tag order, after a count of them.
pub(crate) fn put_tagged_field(buf: &mut Vec<u8>, tag: u32, f: impl FnOnce(&mut Vec<u8>)) {
    let mut data = Vec::new();
    f(&mut data);
    buf.put_uvarint(tag);
    buf.put_uvarint(data.len() as u32);
    buf.extend_from_slice(&data);
}

/// Decodes the bytes of one tagged field with `f`, which must use all of them.
pub(crate) fn decode_tagged<'a, T>(
    data: &'a [u8],
    f: impl FnOnce(&mut Reader<'a>) -> DecodeResult<T>,
) -> DecodeResult<T> {
    let mut r = Reader::new(data);
    let out = f(&mut r)?;
    r.finish()?;
    Ok(out)
}

/// Fails with a typed error unless `version` is in the codec's range for `key`.
pub fn check_version(key: ApiKey, version: i16) -> DecodeResult<()> {
    let r = key.supported();
    if version < r.min || version > r.max {
        return Err(DecodeError::UnsupportedVersion { api_key: key as i16, version });
    }
    Ok(())
}

/// Appends a whole framed request: size prefix, header (v1 or v2 as the version requires), body.
pub fn encode_request<R: Request>(
    buf: &mut Vec<u8>,
    version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    body: &R,
) {
    let at = begin_frame(buf);
    RequestHeader { api_key: R::API_KEY, api_version: version, correlation_id, client_id }
        .encode(R::API_KEY.request_header_flexible(version), buf);
    body.encode(version, buf);
    end_frame(buf, at);
}

/// Decodes a response frame body (without the size prefix): returns the correlation id and the
/// response. Trailing bytes are an error.
pub fn decode_response<R: Request>(frame: &[u8], version: i16) -> DecodeResult<(i32, R::Response)> {
    let mut r = Reader::new(frame);
    let id = decode_response_header(&mut r, R::API_KEY.response_header_flexible(version))?;
    let body = R::Response::decode(&mut r, version)?;
    r.finish()?;
    Ok((id, body))
}
