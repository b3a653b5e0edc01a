//! AddOffsetsToTxn (key 25), v0–v4: tells the transaction coordinator that the consumer group's
//! offsets will be committed in this transaction (`send_offsets_to_transaction`), before the
//! TxnOffsetCommit to the group coordinator.
//!
//! Field presence follows `AddOffsetsToTxnRequest.json` / `AddOffsetsToTxnResponse.json`
//! (flexible from v3): request `TransactionalId`, `ProducerId`, `ProducerEpoch`, `GroupId`;
//! response `ThrottleTimeMs`, `ErrorCode`. v2 adds PRODUCER_FENCED to the errors, v4
//! TRANSACTION_ABORTABLE.

use super::{check_version, put_tags, skip_tags, Decode, Encode, Request};
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::{DecodeResult, Reader, Writer};
use crate::protocol::version::ApiKey;

/// AddOffsetsToTxn request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddOffsetsToTxnRequest {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id InitProducerId assigned.
    pub producer_id: i64,
    /// The producer's current epoch.
    pub producer_epoch: i16,
    /// The consumer group whose offsets join the transaction.
    pub group_id: String,
}

/// AddOffsetsToTxn response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddOffsetsToTxnResponse {
    /// Throttle time.
    pub throttle_time_ms: i32,
    /// Error, if any.
    pub error_code: ErrorCode,
}

fn flexible(version: i16) -> bool {
    ApiKey::AddOffsetsToTxn.is_flexible(version)
}

impl Encode for AddOffsetsToTxnRequest {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        debug_assert!(check_version(ApiKey::AddOffsetsToTxn, version).is_ok());
        let flex = flexible(version);
        buf.put_string(&self.transactional_id, flex);
        buf.put_i64(self.producer_id);
        buf.put_i16(self.producer_epoch);
        buf.put_string(&self.group_id, flex);
        put_tags(buf, flex);
    }
}

impl Decode for AddOffsetsToTxnRequest {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        check_version(ApiKey::AddOffsetsToTxn, version)?;
        let flex = flexible(version);
        let req = AddOffsetsToTxnRequest {
            transactional_id: r.string(flex, "transactional_id")?.to_owned(),
            producer_id: r.i64()?,
            producer_epoch: r.i16()?,
            group_id: r.string(flex, "group_id")?.to_owned(),
        };
        skip_tags(r, flex)?;
        Ok(req)
    }
}

impl Encode for AddOffsetsToTxnResponse {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        debug_assert!(check_version(ApiKey::AddOffsetsToTxn, version).is_ok());
        buf.put_i32(self.throttle_time_ms);
        buf.put_i16(self.error_code.0);
        put_tags(buf, flexible(version));
    }
}

impl Decode for AddOffsetsToTxnResponse {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        check_version(ApiKey::AddOffsetsToTxn, version)?;
        let resp = AddOffsetsToTxnResponse { throttle_time_ms: r.i32()?, error_code: ErrorCode(r.i16()?) };
        skip_tags(r, flexible(version))?;
        Ok(resp)
    }
}

impl Request for AddOffsetsToTxnRequest {
    const API_KEY: ApiKey = ApiKey::AddOffsetsToTxn;
    type Response = AddOffsetsToTxnResponse;
}
