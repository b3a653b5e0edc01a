//! Request and response headers.
//!
//! Request header v1 (`api_key, api_version, correlation_id, client_id` as a classic nullable
//! string) is used for non-flexible request versions; v2 adds an empty tagged-field section and is
//! used for flexible ones. Note `client_id` stays a classic string even in v2. Response header v0
//! is the correlation id alone; v1 adds tagged fields. ApiVersions responses always use v0.

use super::primitives::{DecodeResult, Reader, Writer};
use super::version::ApiKey;

/// A request header, borrowed for encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader<'a> {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<&'a str>,
}

impl RequestHeader<'_> {
    /// Appends the header; `flexible` selects v2 (the request body's version is flexible).
    pub fn encode(&self, flexible: bool, buf: &mut Vec<u8>) {
        buf.put_i16(self.api_key as i16);
        buf.put_i16(self.api_version);
        buf.put_i32(self.correlation_id);
        buf.put_nullable_string(self.client_id, false);
        if flexible {
            buf.put_empty_tagged_fields();
        }
    }

    /// Decodes a request header (used by the mock broker and tests). The api key is returned raw
    /// so a broker can answer unknown keys.
    pub fn decode<'a>(r: &mut Reader<'a>, flexible: bool) -> DecodeResult<(i16, i16, i32, Option<&'a str>)> {
        let api_key = r.i16()?;
        let api_version = r.i16()?;
        let correlation_id = r.i32()?;
        let client_id = r.nullable_string(false)?;
        if flexible {
            r.skip_tagged_fields()?;
        }
        Ok((api_key, api_version, correlation_id, client_id))
    }
}

/// Appends a response header; `flexible` selects v1.
pub fn encode_response_header(correlation_id: i32, flexible: bool, buf: &mut Vec<u8>) {
    buf.put_i32(correlation_id);
    if flexible {
        buf.put_empty_tagged_fields();
    }
}

/// Reads a response header and returns its correlation id; `flexible` selects v1.
pub fn decode_response_header(r: &mut Reader<'_>, flexible: bool) -> DecodeResult<i32> {
    let id = r.i32()?;
    if flexible {
        r.skip_tagged_fields()?;
    }
    Ok(id)
}

/// Reads only the correlation id at the start of a response body, without consuming it: the
/// client needs it to find the request (and so the version and header form) the response answers.
pub fn peek_correlation_id(frame: &[u8]) -> DecodeResult<i32> {
    Reader::new(frame).i32()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_header_v2_golden() {
        let h = RequestHeader {
            api_key: ApiKey::Produce,
            api_version: 9,
            correlation_id: 7,
            client_id: Some("rk"),
        };
        let mut buf = Vec::new();
        h.encode(true, &mut buf);
        assert_eq!(buf, [0, 0, 0, 9, 0, 0, 0, 7, 0, 2, b'r', b'k', 0]);
        let mut r = Reader::new(&buf);
        assert_eq!(RequestHeader::decode(&mut r, true).unwrap(), (0, 9, 7, Some("rk")));
        assert!(r.is_empty());
    }
}
