//! SaslHandshake (key 17), v0–v1: names the SASL mechanism; the broker answers with the ones it
//! enables. The client uses v1 only (v1: the tokens that follow travel in SaslAuthenticate
//! requests, KIP-152). Never flexible. Fields per `SaslHandshakeRequest.json` /
//! `SaslHandshakeResponse.json`.

use super::{check_version, Decode, Encode, Request};
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::{DecodeResult, Reader, Writer};
use crate::protocol::version::ApiKey;

/// SaslHandshake request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslHandshakeRequest {
    /// The SASL mechanism chosen by the client.
    pub mechanism: String,
}

/// SaslHandshake response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslHandshakeResponse {
    /// UNSUPPORTED_SASL_MECHANISM when the mechanism is not enabled.
    pub error_code: ErrorCode,
    /// The mechanisms enabled in the server.
    pub mechanisms: Vec<String>,
}

impl Encode for SaslHandshakeRequest {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        debug_assert!(check_version(ApiKey::SaslHandshake, version).is_ok());
        buf.put_string(&self.mechanism, false);
    }
}

impl Decode for SaslHandshakeRequest {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        check_version(ApiKey::SaslHandshake, version)?;
        Ok(SaslHandshakeRequest { mechanism: r.string(false, "mechanism")?.to_owned() })
    }
}

impl Encode for SaslHandshakeResponse {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        debug_assert!(check_version(ApiKey::SaslHandshake, version).is_ok());
        buf.put_i16(self.error_code.0);
        buf.put_array_len(self.mechanisms.len(), false);
        for m in &self.mechanisms {
            buf.put_string(m, false);
        }
    }
}

impl Decode for SaslHandshakeResponse {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        check_version(ApiKey::SaslHandshake, version)?;
        let error_code = ErrorCode(r.i16()?);
        let mechanisms = r.array(false, 2, "mechanisms", |r| Ok(r.string(false, "mechanism")?.to_owned()))?;
        Ok(SaslHandshakeResponse { error_code, mechanisms })
    }
}

impl Request for SaslHandshakeRequest {
    const API_KEY: ApiKey = ApiKey::SaslHandshake;
    type Response = SaslHandshakeResponse;
}
