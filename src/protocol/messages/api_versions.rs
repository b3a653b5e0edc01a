//! ApiVersions (key 18), v0–v3. Sent first on every connection. A broker that does not know the
//! version we asked for answers UNSUPPORTED_VERSION with a v0 body listing its own range; the
//! client then retries at the highest version the broker offers (see [`ApiVersionsResponse`]).

use super::{Decode, Encode, Request};
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::{DecodeResult, Reader};
use crate::protocol::version::ApiKey;

/// ApiVersions request. The client software fields exist from v3.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiVersionsRequest {
    pub client_software_name: String,
    pub client_software_version: String,
}

/// One API's range in the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersion {
    pub api_key: i16,
    pub min_version: i16,
    pub max_version: i16,
}

/// ApiVersions response. Tagged fields we do not use (features) are skipped on decode and
/// written empty on encode.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiVersionsResponse {
    pub error_code: ErrorCode,
    pub api_keys: Vec<ApiVersion>,
    /// v1+.
    pub throttle_time_ms: i32,
}

impl Default for ErrorCode {
    fn default() -> Self {
        ErrorCode::NONE
    }
}

impl Encode for ApiVersionsRequest {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        let _ = (version, buf);
        todo!()
    }
}
impl Decode for ApiVersionsRequest {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        let _ = (r, version);
        todo!()
    }
}
impl Encode for ApiVersionsResponse {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        let _ = (version, buf);
        todo!()
    }
}
impl Decode for ApiVersionsResponse {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        let _ = (r, version);
        todo!()
    }
}
impl Request for ApiVersionsRequest {
    const API_KEY: ApiKey = ApiKey::ApiVersions;
    type Response = ApiVersionsResponse;
}

/// TEMPORARY (replaced by the codec branch): decodes an ApiVersions response body.
pub fn decode_api_versions_response(
    body: &[u8],
    requested_version: i16,
) -> DecodeResult<ApiVersionsResponse> {
    let mut r = Reader::new(body);
    ApiVersionsResponse::decode(&mut r, requested_version)
}
