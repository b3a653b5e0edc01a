//! FindCoordinator (key 10), v0–v6: which broker coordinates a transactional id (key type 1)
//! or a consumer group (key type 0, for TxnOffsetCommit).
//!
//! Field presence follows `FindCoordinatorRequest.json` / `FindCoordinatorResponse.json`
//! (flexible from v3):
//! - request: `Key` (v0–v3), `KeyType` (v1+), `CoordinatorKeys` (v4+, KIP-699 batching).
//! - response v0–v3: `ThrottleTimeMs` (v1+), `ErrorCode`, `ErrorMessage` (v1+, nullable),
//!   `NodeId`, `Host`, `Port`; v4+: `ThrottleTimeMs`, `Coordinators[Key, NodeId, Host, Port,
//!   ErrorCode, ErrorMessage]`.
//!
//! Both forms are modelled as lists ([`FindCoordinatorRequest::keys`],
//! [`FindCoordinatorResponse::coordinators`]) so the caller handles one shape: before v4 the
//! request holds exactly one key and the response exactly one coordinator, whose `key` is not
//! on the wire (it decodes as empty; it answers the request's only key). v5 only adds
//! TRANSACTION_ABORTABLE to the errors, v6 the share-group key type.

use super::{check_version, put_tags, skip_tags, Decode, Encode, Request};
use crate::protocol::error_code::ErrorCode;
use crate::protocol::primitives::{DecodeError, DecodeResult, Reader, Writer};
use crate::protocol::version::ApiKey;

/// What kind of coordinator to look for (`KeyType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i8)]
pub enum CoordinatorType {
    /// A consumer group's coordinator (the only kind in v0).
    Group = 0,
    /// A transactional id's coordinator (v1+).
    Transaction = 1,
    /// A share group's coordinator (v6+, KIP-932); the producer never asks for one.
    Share = 2,
}

impl CoordinatorType {
    /// The type for a raw `KeyType`; an unknown value is a typed error.
    pub fn from_i8(v: i8) -> DecodeResult<CoordinatorType> {
        match v {
            0 => Ok(CoordinatorType::Group),
            1 => Ok(CoordinatorType::Transaction),
            2 => Ok(CoordinatorType::Share),
            _ => Err(DecodeError::InvalidValue { field: "key_type", value: v.into() }),
        }
    }
}

/// FindCoordinator request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindCoordinatorRequest {
    /// v1+; always `Group` in v0.
    pub key_type: CoordinatorType,
    /// The transactional ids or group ids to look up: exactly one before v4.
    pub keys: Vec<String>,
}

/// One key's coordinator (or error) in a FindCoordinator response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coordinator {
    /// v4+: the key this answers; empty before v4, where it answers the request's only key.
    pub key: String,
    /// The coordinator's broker id (-1 with an error).
    pub node_id: i32,
    /// Host name to connect to.
    pub host: String,
    /// Port to connect to.
    pub port: i32,
    /// COORDINATOR_NOT_AVAILABLE, COORDINATOR_LOAD_IN_PROGRESS, NOT_COORDINATOR and the
    /// authorization errors are the ones a producer meets.
    pub error_code: ErrorCode,
    /// v1+.
    pub error_message: Option<String>,
}

/// FindCoordinator response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindCoordinatorResponse {
    /// v1+.
    pub throttle_time_ms: i32,
    /// One entry per key asked for: exactly one before v4.
    pub coordinators: Vec<Coordinator>,
}

impl FindCoordinatorResponse {
    /// The answer for `key`: the entry with that key, or, in a v0–v3 answer (which carries no
    /// key), its only entry.
    pub fn coordinator_for(&self, key: &str) -> Option<&Coordinator> {
        self.coordinators.iter().find(|c| c.key == key).or(match self.coordinators.as_slice() {
            [only] if only.key.is_empty() => Some(only),
            _ => None,
        })
    }
}

fn flexible(version: i16) -> bool {
    ApiKey::FindCoordinator.is_flexible(version)
}

impl Encode for FindCoordinatorRequest {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        debug_assert!(check_version(ApiKey::FindCoordinator, version).is_ok());
        let flex = flexible(version);
        if version < 4 {
            debug_assert_eq!(self.keys.len(), 1, "FindCoordinator before v4 asks for exactly one key");
            debug_assert!(version >= 1 || self.key_type == CoordinatorType::Group, "v0 knows groups only");
            buf.put_string(self.keys.first().map_or("", String::as_str), flex);
        }
        if version >= 1 {
            buf.put_i8(self.key_type as i8);
        }
        if version >= 4 {
            buf.put_array_len(self.keys.len(), flex);
            for k in &self.keys {
                buf.put_string(k, flex);
            }
        }
        put_tags(buf, flex);
    }
}

impl Decode for FindCoordinatorRequest {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        check_version(ApiKey::FindCoordinator, version)?;
        let flex = flexible(version);
        let mut keys = Vec::new();
        if version < 4 {
            keys.push(r.string(flex, "key")?.to_owned());
        }
        let key_type = if version >= 1 { CoordinatorType::from_i8(r.i8()?)? } else { CoordinatorType::Group };
        if version >= 4 {
            keys =
                r.array(flex, 1, "coordinator_keys", |r| Ok(r.string(flex, "coordinator_keys")?.to_owned()))?;
        }
        skip_tags(r, flex)?;
        Ok(FindCoordinatorRequest { key_type, keys })
    }
}

impl Encode for FindCoordinatorResponse {
    fn encode(&self, version: i16, buf: &mut Vec<u8>) {
        debug_assert!(check_version(ApiKey::FindCoordinator, version).is_ok());
        let flex = flexible(version);
        if version >= 1 {
            buf.put_i32(self.throttle_time_ms);
        }
        if version < 4 {
            debug_assert_eq!(self.coordinators.len(), 1, "FindCoordinator before v4 answers one key");
            let unknown = Coordinator {
                key: String::new(),
                node_id: -1,
                host: String::new(),
                port: -1,
                error_code: ErrorCode::COORDINATOR_NOT_AVAILABLE,
                error_message: None,
            };
            let c = self.coordinators.first().unwrap_or(&unknown);
            buf.put_i16(c.error_code.0);
            if version >= 1 {
                buf.put_nullable_string(c.error_message.as_deref(), flex);
            }
            buf.put_i32(c.node_id);
            buf.put_string(&c.host, flex);
            buf.put_i32(c.port);
        } else {
            buf.put_array_len(self.coordinators.len(), flex);
            for c in &self.coordinators {
                buf.put_string(&c.key, flex);
                buf.put_i32(c.node_id);
                buf.put_string(&c.host, flex);
                buf.put_i32(c.port);
                buf.put_i16(c.error_code.0);
                buf.put_nullable_string(c.error_message.as_deref(), flex);
                put_tags(buf, flex);
            }
        }
        put_tags(buf, flex);
    }
}

impl Decode for FindCoordinatorResponse {
    fn decode(r: &mut Reader<'_>, version: i16) -> DecodeResult<Self> {
        check_version(ApiKey::FindCoordinator, version)?;
        let flex = flexible(version);
        let throttle_time_ms = if version >= 1 { r.i32()? } else { 0 };
        let coordinators = if version < 4 {
            let error_code = ErrorCode(r.i16()?);
            let error_message = if version >= 1 { r.nullable_string(flex)?.map(str::to_owned) } else { None };
            let node_id = r.i32()?;
            let host = r.string(flex, "host")?.to_owned();
            let port = r.i32()?;
            vec![Coordinator { key: String::new(), node_id, host, port, error_code, error_message }]
        } else {
            // Smallest coordinator: empty key(1) + id(4) + empty host(1) + port(4) + error(2) +
            // null message(1) + tags(1).
            r.array(flex, 14, "coordinators", |r| {
                let key = r.string(flex, "coordinators.key")?.to_owned();
                let node_id = r.i32()?;
                let host = r.string(flex, "coordinators.host")?.to_owned();
                let port = r.i32()?;
                let error_code = ErrorCode(r.i16()?);
                let error_message = r.nullable_string(flex)?.map(str::to_owned);
                skip_tags(r, flex)?;
                Ok(Coordinator { key, node_id, host, port, error_code, error_message })
            })?
        };
        skip_tags(r, flex)?;
        Ok(FindCoordinatorResponse { throttle_time_ms, coordinators })
    }
}

impl Request for FindCoordinatorRequest {
    const API_KEY: ApiKey = ApiKey::FindCoordinator;
    type Response = FindCoordinatorResponse;
}
