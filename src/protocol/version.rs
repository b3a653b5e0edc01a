//! API keys, the version ranges this codec implements, and negotiation with a broker.
//!
//! On connect the client sends ApiVersions; for each API it then uses the highest version in the
//! intersection of its range and the broker's ([`negotiate`]). No intersection is a typed error.

use std::fmt;

/// The Kafka APIs this client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i16)]
pub enum ApiKey {
    Produce = 0,
    Metadata = 3,
    ApiVersions = 18,
    InitProducerId = 22,
    SaslHandshake = 17,
    SaslAuthenticate = 36,
}

impl ApiKey {
    /// Every key the client may use, for negotiation.
    pub const ALL: [ApiKey; 6] = [
        ApiKey::Produce,
        ApiKey::Metadata,
        ApiKey::ApiVersions,
        ApiKey::InitProducerId,
        ApiKey::SaslHandshake,
        ApiKey::SaslAuthenticate,
    ];

    /// The key for a raw number, if we speak it.
    pub fn from_i16(v: i16) -> Option<ApiKey> {
        Self::ALL.into_iter().find(|k| *k as i16 == v)
    }

    /// The versions this codec implements, inclusive.
    pub const fn supported(self) -> VersionRange {
        match self {
            ApiKey::Produce => VersionRange { min: 3, max: 11 },
            ApiKey::Metadata => VersionRange { min: 0, max: 12 },
            ApiKey::ApiVersions => VersionRange { min: 0, max: 3 },
            ApiKey::InitProducerId => VersionRange { min: 0, max: 5 },
            // v1 only: v0 sends the tokens unframed, outside the Kafka protocol.
            ApiKey::SaslHandshake => VersionRange { min: 1, max: 1 },
            ApiKey::SaslAuthenticate => VersionRange { min: 0, max: 2 },
        }
    }

    /// The first flexible (compact, tagged-field) version of this API.
    pub const fn first_flexible(self) -> i16 {
        match self {
            ApiKey::Produce => 9,
            ApiKey::Metadata => 9,
            ApiKey::ApiVersions => 3,
            ApiKey::InitProducerId => 2,
            ApiKey::SaslHandshake => i16::MAX,
            ApiKey::SaslAuthenticate => 2,
        }
    }

    /// Whether `version` of this API uses the flexible encoding.
    pub const fn is_flexible(self, version: i16) -> bool {
        version >= self.first_flexible()
    }

    /// Whether a `throttle_time_ms` in this version's response leaves the back-off to the
    /// client (KIP-219; Java's `shouldClientThrottle`): the broker answers at once and mutes
    /// the connection, and the client sends nothing more to it until the time is up. Older
    /// versions' answers were delayed by the broker itself.
    pub const fn client_throttles(self, version: i16) -> bool {
        match self {
            ApiKey::Produce | ApiKey::Metadata => version >= 6,
            ApiKey::InitProducerId => version >= 1,
            ApiKey::ApiVersions => version >= 2,
            ApiKey::SaslHandshake | ApiKey::SaslAuthenticate => false,
        }
    }

    /// Whether the request header for `version` is v2 (else v1).
    pub const fn request_header_flexible(self, version: i16) -> bool {
        self.is_flexible(version)
    }

    /// Whether the response header for `version` is v1 (else v0). ApiVersions responses always
    /// use header v0 so that a client can read them before it knows what the broker supports.
    pub const fn response_header_flexible(self, version: i16) -> bool {
        !matches!(self, ApiKey::ApiVersions) && self.is_flexible(version)
    }
}

/// An inclusive range of versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRange {
    pub min: i16,
    pub max: i16,
}

/// No version of an API is supported by both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoCommonVersion {
    pub api_key: ApiKey,
    pub ours: VersionRange,
    /// The broker's range, or `None` if it does not offer the API at all.
    pub theirs: Option<VersionRange>,
}

impl fmt::Display for NoCommonVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.theirs {
            Some(t) => write!(
                f,
                "no common version for {:?}: client supports {}..={}, broker {}..={}",
                self.api_key, self.ours.min, self.ours.max, t.min, t.max
            ),
            None => write!(
                f,
                "broker does not offer {:?} (client supports {}..={})",
                self.api_key, self.ours.min, self.ours.max
            ),
        }
    }
}

impl std::error::Error for NoCommonVersion {}

/// The highest version of `key` in both our range and the broker's `theirs`.
pub fn negotiate(key: ApiKey, theirs: Option<VersionRange>) -> Result<i16, NoCommonVersion> {
    let ours = key.supported();
    let err = NoCommonVersion { api_key: key, ours, theirs };
    let t = theirs.ok_or_else(|| err.clone())?;
    let hi = ours.max.min(t.max);
    let lo = ours.min.max(t.min);
    if hi < lo {
        return Err(err);
    }
    Ok(hi)
}

/// The version chosen for each API on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegotiatedVersions {
    pub produce: i16,
    pub metadata: i16,
    pub init_producer_id: i16,
}

impl NegotiatedVersions {
    /// Negotiates every API the producer needs from a broker's advertised ranges
    /// (`lookup(raw api key)`).
    pub fn from_broker(lookup: impl Fn(i16) -> Option<VersionRange>) -> Result<Self, NoCommonVersion> {
        let v = |k: ApiKey| negotiate(k, lookup(k as i16));
        Ok(NegotiatedVersions {
            produce: v(ApiKey::Produce)?,
            metadata: v(ApiKey::Metadata)?,
            init_producer_id: v(ApiKey::InitProducerId)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_highest_common_and_errors_on_none() {
        let r = |min, max| Some(VersionRange { min, max });
        assert_eq!(negotiate(ApiKey::Produce, r(0, 9)), Ok(9));
        assert_eq!(negotiate(ApiKey::Produce, r(0, 13)), Ok(11));
        assert_eq!(negotiate(ApiKey::Metadata, r(4, 4)), Ok(4));
        assert!(negotiate(ApiKey::Produce, r(0, 2)).is_err());
        assert!(negotiate(ApiKey::Produce, None).is_err());
    }
}
