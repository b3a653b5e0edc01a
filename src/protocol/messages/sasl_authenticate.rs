//! SaslAuthenticate (key 36), v0–v2: carries one SASL token each way (KIP-152). v1 adds the
//! session lifetime (KIP-368); v2 is flexible. Fields per `SaslAuthenticateRequest.json` /
//! `SaslAuthenticateResponse.json`. The auth bytes may hold a password (PLAIN): `Debug` hides
//! them.

use std::fmt;

use super::{check_version, Decode, Encode, Request};
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::{DecodeResult, Reader, Writer};
use crate::protocol::version::ApiKey;

/// SaslAuthenticate request.
#[derive(Clone, PartialEq, Eq)]
pub struct SaslAuthenticateRequest {
    /// The mechanism's bytes from the client.
    pub auth_bytes: Vec<u8>,
}

impl fmt::Debug for SaslAuthenticateRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SaslAuthenticateRequest {{ auth_bytes: [{} bytes redacted] }}", self.auth_bytes.len())
    }
}

/// SaslAuthenticate response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslAuthenticateResponse {
    /// SASL_AUTHENTICATION_FAILED (58) and friends.
    pub error_code: ErrorCode,
    /// The broker's explanation.
    pub error_message: Option<String>,
    /// The mechanism's bytes from the server.
    pub auth_bytes: Vec<u8>,
    /// v1+: after this many ms the client must re-authenticate (0: never).
    pub session_lifetime_ms: i64,
}

impl Encode for SaslAuthenticateRequest {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        debug_assert!(check_version(ApiKey::SaslAuthenticate, version).is_ok());
        let flex = ApiKey::SaslAuthenticate.is_flexible(version);
        buf.put_nullable_bytes(Some(&self.auth_bytes), flex);
        if flex {
            buf.put_empty_tagged_fields();
        }
    }
}

impl Decode for SaslAuthenticateRequest {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        check_version(ApiKey::SaslAuthenticate, version)?;
        let flex = ApiKey::SaslAuthenticate.is_flexible(version);
        let auth_bytes = r.bytes(flex, "auth_bytes")?.to_vec();
        if flex {
            r.skip_tagged_fields()?;
        }
        Ok(SaslAuthenticateRequest { auth_bytes })
    }
}

impl Encode for SaslAuthenticateResponse {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        debug_assert!(check_version(ApiKey::SaslAuthenticate, version).is_ok());
        let flex = ApiKey::SaslAuthenticate.is_flexible(version);
        buf.put_i16(self.error_code.0);
        buf.put_nullable_string(self.error_message.as_deref(), flex);
        buf.put_nullable_bytes(Some(&self.auth_bytes), flex);
        if version >= 1 {
            buf.put_i64(self.session_lifetime_ms);
        }
        if flex {
            buf.put_empty_tagged_fields();
        }
    }
}

impl Decode for SaslAuthenticateResponse {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        check_version(ApiKey::SaslAuthenticate, version)?;
        let flex = ApiKey::SaslAuthenticate.is_flexible(version);
        let error_code = ErrorCode(r.i16()?);
        let error_message = r.nullable_string(flex)?.map(str::to_owned);
        let auth_bytes = r.bytes(flex, "auth_bytes")?.to_vec();
        let session_lifetime_ms = if version >= 1 { r.i64()? } else { 0 };
        if flex {
            r.skip_tagged_fields()?;
        }
        Ok(SaslAuthenticateResponse { error_code, error_message, auth_bytes, session_lifetime_ms })
    }
}

impl Request for SaslAuthenticateRequest {
    const API_KEY: ApiKey = ApiKey::SaslAuthenticate;
    type Response = SaslAuthenticateResponse;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_version() {
        for v in 0..=2 {
            let req = SaslAuthenticateRequest { auth_bytes: b"n,,n=u,r=x".to_vec() };
            let mut b = Vec::new();
            req.encode(v, &mut b);
            assert_eq!(SaslAuthenticateRequest::decode(&mut Reader::new(&b), v).unwrap(), req);
            let resp = SaslAuthenticateResponse {
                error_code: ErrorCode(58),
                error_message: Some("bad".into()),
                auth_bytes: b"v=x".to_vec(),
                session_lifetime_ms: if v >= 1 { 3600 } else { 0 },
            };
            let mut b = Vec::new();
            resp.encode(v, &mut b);
            let mut r = Reader::new(&b);
            assert_eq!(SaslAuthenticateResponse::decode(&mut r, v).unwrap(), resp);
            r.finish().unwrap();
        }
        let h = super::super::SaslHandshakeResponse {
            error_code: ErrorCode::NONE,
            mechanisms: vec!["PLAIN".into(), "SCRAM-SHA-512".into()],
        };
        let mut b = Vec::new();
        h.encode(1, &mut b);
        assert_eq!(super::super::SaslHandshakeResponse::decode(&mut Reader::new(&b), 1).unwrap(), h);
    }

    #[test]
    fn debug_hides_auth_bytes() {
        let req = SaslAuthenticateRequest { auth_bytes: b"\0user\0secret-pw".to_vec() };
        assert!(!format!("{req:?}").contains("secret-pw"));
    }
}
