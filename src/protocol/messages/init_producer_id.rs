//! InitProducerId (key 22), v0–v5: obtains the producer id and epoch for idempotence. From v3
//! the request carries the current id/epoch so the coordinator can bump the epoch (KIP-360).

use super::{Decode, Encode, Request};
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::{DecodeResult, Reader};
use crate::protocol::version::ApiKey;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducerIdRequest {
    pub transactional_id: Option<String>,
    pub transaction_timeout_ms: i32,
    /// v3+; -1 for a new producer.
    pub producer_id: i64,
    /// v3+; -1 for a new producer.
    pub producer_epoch: i16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitProducerIdResponse {
    pub throttle_time_ms: i32,
    pub error_code: ErrorCode,
    pub producer_id: i64,
    pub producer_epoch: i16,
}

impl Encode for InitProducerIdRequest {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        let _ = (version, buf);
        todo!()
    }
}
impl Decode for InitProducerIdRequest {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        let _ = (r, version);
        todo!()
    }
}
impl Encode for InitProducerIdResponse {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        let _ = (version, buf);
        todo!()
    }
}
impl Decode for InitProducerIdResponse {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        let _ = (r, version);
        todo!()
    }
}
impl Request for InitProducerIdRequest {
    const API_KEY: ApiKey = ApiKey::InitProducerId;
    type Response = InitProducerIdResponse;
}
