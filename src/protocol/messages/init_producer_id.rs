//! InitProducerId (key 22), v0–v5: obtains the producer id and epoch for idempotence, and for
//! a transactional id from its transaction coordinator (which also fences older producers with
//! that id). From v3 the request carries the current id/epoch so the coordinator can bump the
//! epoch (KIP-360). v6 (two-phase commit, KIP-939) is unstable in Kafka 4.4 and not implemented:
//! see [`ApiKey::supported`].
//!
//! Field presence follows `InitProducerIdRequest.json` / `InitProducerIdResponse.json`
//! (flexible from v2): request `TransactionalId` (nullable), `TransactionTimeoutMs`,
//! `ProducerId` and `ProducerEpoch` (v3+); response `ThrottleTimeMs`, `ErrorCode`, `ProducerId`,
//! `ProducerEpoch`.

use super::{check_version, Decode, Encode, Request};
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::{DecodeResult, Reader, Writer};
use crate::protocol::version::ApiKey;

/// InitProducerId request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducerIdRequest {
    /// `None` for an idempotent (non-transactional) producer.
    pub transactional_id: Option<String>,
    /// Transaction timeout; ignored by the broker for non-transactional producers.
    pub transaction_timeout_ms: i32,
    /// v3+; -1 for a new producer.
    pub producer_id: i64,
    /// v3+; -1 for a new producer.
    pub producer_epoch: i16,
}

/// InitProducerId response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducerIdResponse {
    /// Throttle time.
    pub throttle_time_ms: i32,
    /// Error, if any.
    pub error_code: ErrorCode,
    /// The assigned producer id.
    pub producer_id: i64,
    /// The assigned epoch.
    pub producer_epoch: i16,
}

impl Encode for InitProducerIdRequest {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        debug_assert!(check_version(ApiKey::InitProducerId, version).is_ok());
        let flex = ApiKey::InitProducerId.is_flexible(version);
        buf.put_nullable_string(self.transactional_id.as_deref(), flex);
        buf.put_i32(self.transaction_timeout_ms);
        if version >= 3 {
            buf.put_i64(self.producer_id);
            buf.put_i16(self.producer_epoch);
        }
        if flex {
            buf.put_empty_tagged_fields();
        }
    }
}

impl Decode for InitProducerIdRequest {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        check_version(ApiKey::InitProducerId, version)?;
        let flex = ApiKey::InitProducerId.is_flexible(version);
        let transactional_id = r.nullable_string(flex)?.map(str::to_owned);
        let transaction_timeout_ms = r.i32()?;
        let (producer_id, producer_epoch) = if version >= 3 { (r.i64()?, r.i16()?) } else { (-1, -1) };
        if flex {
            r.skip_tagged_fields()?;
        }
        Ok(InitProducerIdRequest { transactional_id, transaction_timeout_ms, producer_id, producer_epoch })
    }
}

impl Encode for InitProducerIdResponse {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        debug_assert!(check_version(ApiKey::InitProducerId, version).is_ok());
        buf.put_i32(self.throttle_time_ms);
        buf.put_i16(self.error_code.0);
        buf.put_i64(self.producer_id);
        buf.put_i16(self.producer_epoch);
        if ApiKey::InitProducerId.is_flexible(version) {
            buf.put_empty_tagged_fields();
        }
    }
}

impl Decode for InitProducerIdResponse {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        check_version(ApiKey::InitProducerId, version)?;
        let resp = InitProducerIdResponse {
            throttle_time_ms: r.i32()?,
            error_code: ErrorCode(r.i16()?),
            producer_id: r.i64()?,
            producer_epoch: r.i16()?,
        };
        if ApiKey::InitProducerId.is_flexible(version) {
            r.skip_tagged_fields()?;
        }
        Ok(resp)
    }
}

impl Request for InitProducerIdRequest {
    const API_KEY: ApiKey = ApiKey::InitProducerId;
    type Response = InitProducerIdResponse;
}
