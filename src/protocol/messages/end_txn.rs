//! EndTxn (key 26), v0–v5: commits or aborts the transaction.
//!
//! Field presence follows `EndTxnRequest.json` / `EndTxnResponse.json` (flexible from v3):
//! request `TransactionalId`, `ProducerId`, `ProducerEpoch`, `Committed`; response
//! `ThrottleTimeMs`, `ErrorCode`, `ProducerId` and `ProducerEpoch` (v5+).
//!
//! v5 is transaction version 2 (KIP-890 part 2): the coordinator bumps the epoch at the end of
//! every transaction and answers with the id and epoch the next transaction must use. A client
//! may send v5 only when the cluster finalizes `transaction.version` ≥ 2
//! ([`ApiKey::max_before_transaction_v2`]). v2 adds PRODUCER_FENCED to the errors, v4
//! TRANSACTION_ABORTABLE.

use super::{check_version, put_tags, skip_tags, Decode, Encode, Request};
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::{DecodeResult, Reader, Writer};
use crate::protocol::version::ApiKey;

/// EndTxn request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndTxnRequest {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id.
    pub producer_id: i64,
    /// The producer's current epoch.
    pub producer_epoch: i16,
    /// True to commit, false to abort.
    pub committed: bool,
}

/// EndTxn response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndTxnResponse {
    /// Throttle time.
    pub throttle_time_ms: i32,
    /// Error, if any.
    pub error_code: ErrorCode,
    /// v5+: the producer id for the next transaction; -1 before v5.
    pub producer_id: i64,
    /// v5+: the (bumped) epoch for the next transaction; -1 before v5.
    pub producer_epoch: i16,
}

fn flexible(version: i16) -> bool {
    ApiKey::EndTxn.is_flexible(version)
}

impl Encode for EndTxnRequest {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        debug_assert!(check_version(ApiKey::EndTxn, version).is_ok());
        let flex = flexible(version);
        buf.put_string(&self.transactional_id, flex);
        buf.put_i64(self.producer_id);
        buf.put_i16(self.producer_epoch);
        buf.put_bool(self.committed);
        put_tags(buf, flex);
    }
}

impl Decode for EndTxnRequest {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        check_version(ApiKey::EndTxn, version)?;
        let flex = flexible(version);
        let req = EndTxnRequest {
            transactional_id: r.string(flex, "transactional_id")?.to_owned(),
            producer_id: r.i64()?,
            producer_epoch: r.i16()?,
            committed: r.bool()?,
        };
        skip_tags(r, flex)?;
        Ok(req)
    }
}

impl Encode for EndTxnResponse {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        debug_assert!(check_version(ApiKey::EndTxn, version).is_ok());
        buf.put_i32(self.throttle_time_ms);
        buf.put_i16(self.error_code.0);
        if version >= 5 {
            buf.put_i64(self.producer_id);
            buf.put_i16(self.producer_epoch);
        }
        put_tags(buf, flexible(version));
    }
}

impl Decode for EndTxnResponse {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        check_version(ApiKey::EndTxn, version)?;
        let throttle_time_ms = r.i32()?;
        let error_code = ErrorCode(r.i16()?);
        let (producer_id, producer_epoch) = if version >= 5 { (r.i64()?, r.i16()?) } else { (-1, -1) };
        skip_tags(r, flexible(version))?;
        Ok(EndTxnResponse { throttle_time_ms, error_code, producer_id, producer_epoch })
    }
}

impl Request for EndTxnRequest {
    const API_KEY: ApiKey = ApiKey::EndTxn;
    type Response = EndTxnResponse;
}
