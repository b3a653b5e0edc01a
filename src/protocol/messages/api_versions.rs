//! ApiVersions (key 18), v0–v3. Sent first on every connection. A broker that does not know the
//! version we asked for answers UNSUPPORTED_VERSION with a v0 body listing its own range; the
//! client then retries at the highest version the broker offers (see
//! [`api_versions_fallback_version`] and [`decode_api_versions_response`]).
//!
//! Wire layout (from `ApiVersionsRequest.json` / `ApiVersionsResponse.json`; flexible from v3):
//! - request: v0–v2 empty; v3 `ClientSoftwareName`, `ClientSoftwareVersion` (compact strings),
//!   tagged fields.
//! - response: `ErrorCode`, `ApiKeys[ApiKey, MinVersion, MaxVersion (+tags in v3)]`,
//!   `ThrottleTimeMs` (v1+), tagged fields (v3; `SupportedFeatures`, `FinalizedFeaturesEpoch`,
//!   `FinalizedFeatures`, `ZkMigrationReady` are skipped on decode and never written).

use super::{check_version, Decode, Encode, Request};
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::{DecodeResult, Reader, Writer};
use crate::protocol::version::{negotiate, ApiKey, VersionRange};

/// ApiVersions request. The client software fields exist from v3.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiVersionsRequest {
    /// v3+: the client library's name (`[a-zA-Z0-9.-]` per KIP-511).
    pub client_software_name: String,
    /// v3+: the client library's version.
    pub client_software_version: String,
}

/// One API's range in the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersion {
    /// The raw API key.
    pub api_key: i16,
    /// Lowest version the broker speaks.
    pub min_version: i16,
    /// Highest version the broker speaks.
    pub max_version: i16,
}

/// ApiVersions response. Tagged fields we do not use (features) are skipped on decode and
/// written empty on encode.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiVersionsResponse {
    /// `NONE`, or `UNSUPPORTED_VERSION` when the broker does not know our request version.
    pub error_code: ErrorCode,
    /// Every API the broker offers, with its range.
    pub api_keys: Vec<ApiVersion>,
    /// v1+.
    pub throttle_time_ms: i32,
}

impl Default for ErrorCode {
    fn default() -> Self {
        ErrorCode::NONE
    }
}

impl ApiVersionsResponse {
    /// The broker's range for `api_key`, if it offers that API.
    pub fn range_of(&self, api_key: i16) -> Option<VersionRange> {
        self.api_keys
            .iter()
            .find(|a| a.api_key == api_key)
            .map(|a| VersionRange { min: a.min_version, max: a.max_version })
    }
}

impl Encode for ApiVersionsRequest {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        debug_assert!(check_version(ApiKey::ApiVersions, version).is_ok());
        if version >= 3 {
            buf.put_string(&self.client_software_name, true);
            buf.put_string(&self.client_software_version, true);
            buf.put_empty_tagged_fields();
        }
    }
}

impl Decode for ApiVersionsRequest {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        check_version(ApiKey::ApiVersions, version)?;
        let mut out = ApiVersionsRequest::default();
        if version >= 3 {
            out.client_software_name = r.string(true, "client_software_name")?.to_owned();
            out.client_software_version = r.string(true, "client_software_version")?.to_owned();
            r.skip_tagged_fields()?;
        }
        Ok(out)
    }
}

impl Encode for ApiVersionsResponse {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        debug_assert!(check_version(ApiKey::ApiVersions, version).is_ok());
        let flexible = ApiKey::ApiVersions.is_flexible(version);
        buf.put_i16(self.error_code.0);
        buf.put_array_len(self.api_keys.len(), flexible);
        for k in &self.api_keys {
            buf.put_i16(k.api_key);
            buf.put_i16(k.min_version);
            buf.put_i16(k.max_version);
            if flexible {
                buf.put_empty_tagged_fields();
            }
        }
        if version >= 1 {
            buf.put_i32(self.throttle_time_ms);
        }
        if flexible {
            buf.put_empty_tagged_fields();
        }
    }
}

impl Decode for ApiVersionsResponse {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        check_version(ApiKey::ApiVersions, version)?;
        let flexible = ApiKey::ApiVersions.is_flexible(version);
        let error_code = ErrorCode(r.i16()?);
        // Three int16s, plus an (at least one-byte) tagged section when flexible.
        let min_elem = if flexible { 7 } else { 6 };
        let api_keys = r.array(flexible, min_elem, "api_keys", |r| {
            let k = ApiVersion { api_key: r.i16()?, min_version: r.i16()?, max_version: r.i16()? };
            if flexible {
                r.skip_tagged_fields()?;
            }
            Ok(k)
        })?;
        let throttle_time_ms = if version >= 1 { r.i32()? } else { 0 };
        if flexible {
            r.skip_tagged_fields()?;
        }
        Ok(ApiVersionsResponse { error_code, api_keys, throttle_time_ms })
    }
}

impl Request for ApiVersionsRequest {
    const API_KEY: ApiKey = ApiKey::ApiVersions;
    type Response = ApiVersionsResponse;
}

/// The ApiVersions version to retry with after a broker refused ours.
///
/// A broker that does not speak the ApiVersions version we sent answers `UNSUPPORTED_VERSION`
/// (35) with a v0-format body whose `api_keys` lists (at least) its own ApiVersions range. This
/// returns the highest version in both that range and ours, so the client can resend. It returns
/// `None` when there is nothing to retry: the response is not `UNSUPPORTED_VERSION`, the broker
/// did not list ApiVersions, or the two ranges do not meet (the connection should then fail
/// with an unsupported-version error).
///
/// ```
/// use ringkafka::internals::protocol::messages::api_versions::*;
/// use ringkafka::internals::protocol::ErrorCode;
/// let resp = ApiVersionsResponse {
///     error_code: ErrorCode::UNSUPPORTED_VERSION,
///     api_keys: vec![ApiVersion { api_key: 18, min_version: 0, max_version: 2 }],
///     throttle_time_ms: 0,
/// };
/// assert_eq!(api_versions_fallback_version(&resp), Some(2));
/// ```
pub fn api_versions_fallback_version(resp: &ApiVersionsResponse) -> Option<i16> {
    if resp.error_code != ErrorCode::UNSUPPORTED_VERSION {
        return None;
    }
    negotiate(ApiKey::ApiVersions, resp.range_of(ApiKey::ApiVersions as i16)).ok()
}

/// Decodes an ApiVersions response body (the bytes after the v0 response header) to a request
/// sent at `requested_version`.
///
/// A broker that does not speak `requested_version` answers with a **v0** body carrying
/// `UNSUPPORTED_VERSION`, which does not parse as a v3 (flexible) body. So this first decodes at
/// `requested_version` (the whole input must be used); if that fails, or yields error 35, it
/// decodes the same bytes as v0. If the v0 attempt fails too, the result of the first attempt is
/// returned (its error, or its error-35 response).
pub fn decode_api_versions_response(
    frame_body_after_header: &[u8],
    requested_version: i16,
) -> DecodeResult<ApiVersionsResponse> {
    let decode_at = |version: i16| {
        let mut r = Reader::new(frame_body_after_header);
        let resp = ApiVersionsResponse::decode(&mut r, version)?;
        r.finish()?;
        Ok(resp)
    };
    let first = decode_at(requested_version);
    match &first {
        Ok(resp) if resp.error_code != ErrorCode::UNSUPPORTED_VERSION => first,
        _ if requested_version == 0 => first,
        _ => decode_at(0).or(first),
    }
}
