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
    FindCoordinator = 10,
    SaslHandshake = 17,
    ApiVersions = 18,
    InitProducerId = 22,
    AddPartitionsToTxn = 24,
    AddOffsetsToTxn = 25,
    EndTxn = 26,
    TxnOffsetCommit = 28,
    SaslAuthenticate = 36,
}

impl ApiKey {
    /// Every key the client may use, for negotiation.
    pub const ALL: [ApiKey; 11] = [
        ApiKey::Produce,
        ApiKey::Metadata,
        ApiKey::ApiVersions,
        ApiKey::InitProducerId,
        ApiKey::SaslHandshake,
        ApiKey::SaslAuthenticate,
        ApiKey::FindCoordinator,
        ApiKey::AddPartitionsToTxn,
        ApiKey::AddOffsetsToTxn,
        ApiKey::EndTxn,
        ApiKey::TxnOffsetCommit,
    ];

    /// The keys every producer needs from every broker: a broker without a common version of
    /// one of them cannot be used at all ([`NegotiatedVersions::from_broker`] fails).
    pub const REQUIRED: [ApiKey; 4] =
        [ApiKey::Produce, ApiKey::Metadata, ApiKey::ApiVersions, ApiKey::InitProducerId];

    /// The keys only a transactional producer needs. A broker may lack them (Tansu 0.6.0 does
    /// not offer EndTxn): a non-transactional producer still uses it.
    pub const TRANSACTIONAL: [ApiKey; 5] = [
        ApiKey::FindCoordinator,
        ApiKey::AddPartitionsToTxn,
        ApiKey::AddOffsetsToTxn,
        ApiKey::EndTxn,
        ApiKey::TxnOffsetCommit,
    ];

    /// The key for a raw number, if we speak it.
    pub fn from_i16(v: i16) -> Option<ApiKey> {
        Self::ALL.into_iter().find(|k| *k as i16 == v)
    }

    /// The versions this codec implements, inclusive. Where Kafka 4.4 defines more, the reason
    /// we stop lower is given here:
    ///
    /// - Produce v13 (and TxnOffsetCommit v6) address topics by id instead of name (KIP-516,
    ///   KIP-1319), in the request and in the response. The producer addresses topics by name;
    ///   v13 would need it to carry Metadata's topic ids into every request and back, for no
    ///   gain in what it can do. Java does the same when it lacks an id.
    /// - InitProducerId v6 is `latestVersionUnstable` in Kafka 4.4 (KIP-939, two-phase
    ///   commit): brokers do not offer it unless configured to, Java never sends it, and an
    ///   unstable version may still change on the wire.
    /// - ApiVersions v5 (KIP-1242) sends the cluster and node id we expect and may answer
    ///   REBOOTSTRAP_REQUIRED; v4 answers the same as v3 except that features whose lowest
    ///   supported version is 0 are listed (KAFKA-17011).
    /// - Metadata v13 adds a top-level error (REBOOTSTRAP_REQUIRED, KIP-1102) that the producer
    ///   does not act on yet.
    /// - AddPartitionsToTxn v4+ is the brokers' batched form; clients use v0–v3.
    pub const fn supported(self) -> VersionRange {
        match self {
            ApiKey::Produce => VersionRange { min: 3, max: 12 },
            ApiKey::Metadata => VersionRange { min: 0, max: 12 },
            ApiKey::ApiVersions => VersionRange { min: 0, max: 4 },
            ApiKey::InitProducerId => VersionRange { min: 0, max: 5 },
            // v1 only: v0 sends the tokens unframed, outside the Kafka protocol.
            ApiKey::SaslHandshake => VersionRange { min: 1, max: 1 },
            ApiKey::SaslAuthenticate => VersionRange { min: 0, max: 2 },
            ApiKey::FindCoordinator => VersionRange { min: 0, max: 6 },
            ApiKey::AddPartitionsToTxn => VersionRange { min: 0, max: 3 },
            ApiKey::AddOffsetsToTxn => VersionRange { min: 0, max: 4 },
            ApiKey::EndTxn => VersionRange { min: 0, max: 5 },
            ApiKey::TxnOffsetCommit => VersionRange { min: 0, max: 5 },
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
            ApiKey::FindCoordinator
            | ApiKey::AddPartitionsToTxn
            | ApiKey::AddOffsetsToTxn
            | ApiKey::EndTxn
            | ApiKey::TxnOffsetCommit => 3,
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
            ApiKey::ApiVersions | ApiKey::FindCoordinator => version >= 2,
            ApiKey::InitProducerId
            | ApiKey::AddPartitionsToTxn
            | ApiKey::AddOffsetsToTxn
            | ApiKey::EndTxn
            | ApiKey::TxnOffsetCommit => version >= 1,
            ApiKey::SaslHandshake | ApiKey::SaslAuthenticate => false,
        }
    }

    /// The highest version of this API a client may send while the cluster's finalized
    /// `transaction.version` feature is below 2 (KIP-890 part 2): from there on Produce v12
    /// adds the partition to the transaction itself, EndTxn v5 bumps the epoch on every
    /// transaction and TxnOffsetCommit v5 does AddOffsetsToTxn's work, which a coordinator
    /// still on transaction version 1 does not expect. `None` for APIs without such a limit.
    pub const fn max_before_transaction_v2(self) -> Option<i16> {
        match self {
            ApiKey::Produce => Some(11),
            ApiKey::EndTxn | ApiKey::TxnOffsetCommit => Some(4),
            _ => None,
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
///
/// The transaction APIs are optional: a broker that lacks them (or shares no version of them
/// with us) is still usable by a non-transactional producer, and the field is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegotiatedVersions {
    /// Produce (required).
    pub produce: i16,
    /// Metadata (required).
    pub metadata: i16,
    /// InitProducerId (required: idempotence is on by default).
    pub init_producer_id: i16,
    /// FindCoordinator: the transaction coordinator, and the group coordinator for
    /// TxnOffsetCommit.
    pub find_coordinator: Option<i16>,
    /// AddPartitionsToTxn (client form, v0–v3); unused under transaction version 2.
    pub add_partitions_to_txn: Option<i16>,
    /// AddOffsetsToTxn; unused under transaction version 2 (TxnOffsetCommit v5 does its work).
    pub add_offsets_to_txn: Option<i16>,
    /// EndTxn.
    pub end_txn: Option<i16>,
    /// TxnOffsetCommit (to the group coordinator).
    pub txn_offset_commit: Option<i16>,
}

impl NegotiatedVersions {
    /// Negotiates every API the producer needs from a broker's advertised ranges
    /// (`lookup(raw api key)`). Fails only for the [`ApiKey::REQUIRED`] ones.
    pub fn from_broker(lookup: impl Fn(i16) -> Option<VersionRange>) -> Result<Self, NoCommonVersion> {
        let v = |k: ApiKey| negotiate(k, lookup(k as i16));
        let optional = |k: ApiKey| v(k).ok();
        Ok(NegotiatedVersions {
            produce: v(ApiKey::Produce)?,
            metadata: v(ApiKey::Metadata)?,
            init_producer_id: v(ApiKey::InitProducerId)?,
            find_coordinator: optional(ApiKey::FindCoordinator),
            add_partitions_to_txn: optional(ApiKey::AddPartitionsToTxn),
            add_offsets_to_txn: optional(ApiKey::AddOffsetsToTxn),
            end_txn: optional(ApiKey::EndTxn),
            txn_offset_commit: optional(ApiKey::TxnOffsetCommit),
        })
    }

    /// Whether the broker offers everything a transactional producer sends (InitProducerId is
    /// required anyway): FindCoordinator, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn and
    /// TxnOffsetCommit.
    pub fn supports_transactions(&self) -> bool {
        self.find_coordinator.is_some()
            && self.add_partitions_to_txn.is_some()
            && self.add_offsets_to_txn.is_some()
            && self.end_txn.is_some()
            && self.txn_offset_commit.is_some()
    }

    /// These versions as a transactional producer may use them under the cluster's finalized
    /// `transaction.version` (0 when the broker finalizes none; see
    /// [`ApiVersionsResponse::transaction_version`](super::messages::ApiVersionsResponse::transaction_version)):
    /// below 2 each API is capped at its [`ApiKey::max_before_transaction_v2`]. Java does the
    /// same (`isTransactionV2Enabled` in its request builders); the broker's version range
    /// alone does not tell. A non-transactional producer needs no cap: without a
    /// transactional id, Produce v12 is v11.
    pub fn for_transaction_version(self, transaction_version: i16) -> Self {
        if transaction_version >= 2 {
            return self;
        }
        let cap = |k: ApiKey, v: i16| k.max_before_transaction_v2().map_or(v, |m| v.min(m));
        NegotiatedVersions {
            produce: cap(ApiKey::Produce, self.produce),
            end_txn: self.end_txn.map(|v| cap(ApiKey::EndTxn, v)),
            txn_offset_commit: self.txn_offset_commit.map(|v| cap(ApiKey::TxnOffsetCommit, v)),
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_highest_common_and_errors_on_none() {
        let r = |min, max| Some(VersionRange { min, max });
        assert_eq!(negotiate(ApiKey::Produce, r(0, 9)), Ok(9));
        assert_eq!(negotiate(ApiKey::Produce, r(0, 13)), Ok(12));
        assert_eq!(negotiate(ApiKey::Metadata, r(4, 4)), Ok(4));
        assert!(negotiate(ApiKey::Produce, r(0, 2)).is_err());
        assert!(negotiate(ApiKey::Produce, None).is_err());
    }

    /// Apache Kafka 4.4.0's ranges, as its ApiVersions v3 answer lists them (captured from a
    /// single-node KRaft broker; the same bytes are a fixture of `tests/protocol_messages.rs`).
    fn kafka_4_4(key: i16) -> Option<VersionRange> {
        let (min, max) = match key {
            0 => (0, 13),
            3 => (0, 13),
            10 => (0, 6),
            17 => (0, 1),
            18 => (0, 5),
            22 => (0, 5),
            24 => (0, 5),
            25 => (0, 4),
            26 => (0, 5),
            28 => (0, 6),
            36 => (0, 2),
            _ => return None,
        };
        Some(VersionRange { min, max })
    }

    #[test]
    fn negotiates_every_api_with_kafka_4_4() {
        let v = NegotiatedVersions::from_broker(kafka_4_4).unwrap();
        assert_eq!(
            v,
            NegotiatedVersions {
                produce: 12,
                metadata: 12,
                init_producer_id: 5,
                find_coordinator: Some(6),
                add_partitions_to_txn: Some(3),
                add_offsets_to_txn: Some(4),
                end_txn: Some(5),
                txn_offset_commit: Some(5),
            }
        );
        assert!(v.supports_transactions());
    }

    #[test]
    fn a_broker_without_transaction_apis_still_serves_a_plain_producer() {
        // Tansu 0.6.0 offers every transaction API but EndTxn.
        let tansu = |k: i16| if k == ApiKey::EndTxn as i16 { None } else { kafka_4_4(k) };
        let v = NegotiatedVersions::from_broker(tansu).unwrap();
        assert_eq!(v.end_txn, None);
        assert_eq!(v.find_coordinator, Some(6));
        assert!(!v.supports_transactions());
        // No overlap is the same as absent.
        let disjoint = |k: i16| {
            if k == ApiKey::FindCoordinator as i16 {
                Some(VersionRange { min: 7, max: 9 })
            } else {
                kafka_4_4(k)
            }
        };
        assert_eq!(NegotiatedVersions::from_broker(disjoint).unwrap().find_coordinator, None);
        // Only the required APIs fail negotiation.
        let no_produce = |k: i16| if k == 0 { None } else { kafka_4_4(k) };
        let err = NegotiatedVersions::from_broker(no_produce).unwrap_err();
        assert_eq!(err.api_key, ApiKey::Produce);
    }

    #[test]
    fn transaction_version_1_caps_produce_end_txn_and_txn_offset_commit() {
        let v = NegotiatedVersions::from_broker(kafka_4_4).unwrap();
        let v1 = v.for_transaction_version(1);
        assert_eq!((v1.produce, v1.end_txn, v1.txn_offset_commit), (11, Some(4), Some(4)));
        assert_eq!(v1.find_coordinator, v.find_coordinator);
        assert_eq!(v1.add_partitions_to_txn, v.add_partitions_to_txn);
        assert_eq!(v.for_transaction_version(0), v1);
        assert_eq!(v.for_transaction_version(2), v);
        // A broker below the cap keeps its own version; an absent API stays absent.
        let old = |k: i16| match k {
            0 => Some(VersionRange { min: 3, max: 8 }),
            26 => None,
            _ => kafka_4_4(k),
        };
        let o = NegotiatedVersions::from_broker(old).unwrap().for_transaction_version(0);
        assert_eq!((o.produce, o.end_txn), (8, None));
    }

    #[test]
    fn required_and_transactional_keys_partition_all_but_sasl() {
        let mut keys: Vec<ApiKey> = ApiKey::REQUIRED.iter().chain(&ApiKey::TRANSACTIONAL).copied().collect();
        keys.extend([ApiKey::SaslHandshake, ApiKey::SaslAuthenticate]);
        keys.sort_by_key(|k| *k as i16);
        let mut all = ApiKey::ALL.to_vec();
        all.sort_by_key(|k| *k as i16);
        assert_eq!(keys, all);
        for k in ApiKey::ALL {
            assert_eq!(ApiKey::from_i16(k as i16), Some(k));
        }
    }
}
