//! Requests and responses on a connection: what each request in flight asked (`Kind`), the
//! correlation ids and deadlines, the ApiVersions handshake that makes a connection `Ready`,
//! broker throttling (KIP-219), the choice of a connection for cluster-wide requests, and the
//! dispatch of each response frame to the room that asked.
//!
//! It owns no state of its own: the requests in flight are each connection's (`Conn`, in
//! `connection`). It decodes responses and hands them to `metadata`, `idempotence`, `produce`
//! and `sasl`; opening, closing and backing off connections is `connection`'s.

use super::connection::ConnState;
use super::produce::InFlightBatch;
use super::{Engine, Transmit};
use crate::error::ProduceError;
use crate::metrics::Metrics;
use crate::protocol::error_code::ErrorCode;
use crate::protocol::header::peek_correlation_id;
use crate::protocol::messages::api_versions::decode_api_versions_response;
use crate::protocol::messages::{
    decode_response, encode_request, ApiVersionsRequest, InitProducerIdRequest, MetadataRequest,
    ProduceRequest,
};
use crate::protocol::version::negotiate;
use crate::protocol::version::{ApiKey, NegotiatedVersions, VersionRange};
use std::time::{Duration, Instant};

/// What a request in flight asked, so its response goes to the room that sent it.
#[derive(Debug)]
pub(super) enum Kind {
    ApiVersions {
        version: i16,
    },
    Metadata {
        version: i16,
    },
    InitProducerId {
        version: i16,
    },
    Produce {
        version: i16,
        batches: Vec<InFlightBatch>,
    },
    SaslHandshake {
        version: i16,
    },
    SaslAuthenticate {
        version: i16,
    },
    /// A transactional request (its kind is the `transactions` room's: one is in flight).
    Txn {
        version: i16,
    },
}

/// A request awaiting its response.
#[derive(Debug)]
pub(super) struct InFlight {
    pub(super) correlation_id: i32,
    pub(super) deadline: Instant,
    pub(super) kind: Kind,
}

/// The API version we try first; a broker that knows less answers with its own range.
pub(super) const API_VERSIONS_FIRST: i16 = 3;

impl Engine {
    /// One response frame (without its size prefix) arrived from `node`.
    pub fn on_frame(&mut self, node: i32, frame: &[u8], now: Instant) {
        self.next_wakeup = Some(now);
        let Some(conn) = self.net.conns.get_mut(&node) else { return };
        let id = match peek_correlation_id(frame) {
            Ok(id) => id,
            Err(e) => return self.close_conn(node, &format!("malformed response: {e}"), now),
        };
        match conn.in_flight.front() {
            Some(f) if f.correlation_id == id => {}
            Some(f) => {
                let expected = f.correlation_id;
                return self.close_conn(
                    node,
                    &format!("response correlation id {id} does not match the oldest request ({expected})"),
                    now,
                );
            }
            None => return self.close_conn(node, &format!("unexpected response (correlation id {id})"), now),
        }
        let f = conn.in_flight.pop_front().expect("checked above");
        conn.last_active = now;
        let result = match f.kind {
            Kind::ApiVersions { version } => self.handle_api_versions(node, version, frame, now),
            Kind::SaslHandshake { version } => self.handle_sasl_handshake(node, version, frame, now),
            Kind::SaslAuthenticate { version } => self.handle_sasl_authenticate(node, version, frame, now),
            Kind::Txn { version } => self.handle_txn_response(node, version, frame, now),
            Kind::Metadata { version } => match decode_response::<MetadataRequest>(frame, version) {
                Ok((_, r)) => {
                    self.throttled(node, ApiKey::Metadata, version, r.throttle_time_ms, now);
                    self.handle_metadata(r, now);
                    Ok(())
                }
                Err(e) => {
                    self.metadata.in_flight = false;
                    Err(format!("malformed Metadata response: {e}"))
                }
            },
            Kind::InitProducerId { version } => {
                match decode_response::<InitProducerIdRequest>(frame, version) {
                    Ok((_, r)) => {
                        self.throttled(node, ApiKey::InitProducerId, version, r.throttle_time_ms, now);
                        self.handle_init_producer_id(r.error_code, r.producer_id, r.producer_epoch, now);
                        Ok(())
                    }
                    Err(e) => {
                        self.idem.in_flight = false;
                        Err(format!("malformed InitProducerId response: {e}"))
                    }
                }
            }
            Kind::Produce { version, batches } => {
                if let Some(c) = self.net.conns.get_mut(&node) {
                    c.produce_in_flight -= 1;
                }
                match decode_response::<ProduceRequest>(frame, version) {
                    Ok((_, r)) => {
                        self.throttled(node, ApiKey::Produce, version, r.throttle_time_ms, now);
                        self.handle_produce(node, batches, r, now);
                        Ok(())
                    }
                    Err(e) => {
                        let msg = format!("malformed Produce response: {e}");
                        self.retry_unanswered(batches, true, ErrorCode::CORRUPT_MESSAGE, &msg, now);
                        Err(msg)
                    }
                }
            }
        };
        if let Err(msg) = result {
            self.close_conn(node, &msg, now);
        }
        self.metrics_in_flight();
        self.flushes.check();
    }

    pub(super) fn send_request<R: crate::protocol::messages::Request>(
        &mut self,
        node: i32,
        version: i16,
        body: &R,
        kind: Kind,
        now: Instant,
    ) {
        let deadline = now + self.cfg.request_timeout;
        let mut buf = self.net.spare_requests.pop().unwrap_or_default();
        buf.clear();
        let Some(conn) = self.net.conns.get_mut(&node) else { return };
        let correlation_id = conn.next_correlation;
        conn.next_correlation = conn.next_correlation.wrapping_add(1);
        encode_request(&mut buf.bytes, version, correlation_id, Some(&self.cfg.client_id), body);
        conn.in_flight.push_back(InFlight { correlation_id, deadline, kind });
        conn.unsent.push_back(None);
        self.outbox.push_back(Transmit::Send { node, buf });
    }

    pub(super) fn send_api_versions(&mut self, node: i32, version: i16, now: Instant) {
        let req = ApiVersionsRequest {
            client_software_name: "ringkafka".into(),
            client_software_version: self.net.client_software_version.into(),
        };
        self.send_request(node, version, &req, Kind::ApiVersions { version }, now);
    }

    fn handle_api_versions(
        &mut self,
        node: i32,
        version: i16,
        frame: &[u8],
        now: Instant,
    ) -> Result<(), String> {
        // The ApiVersions response header is always v0: the correlation id alone.
        let body = frame.get(4..).unwrap_or(&[]);
        let resp =
            decode_api_versions_response(body, version).map_err(|e| format!("malformed ApiVersions: {e}"))?;
        if resp.error_code == ErrorCode::UNSUPPORTED_VERSION {
            let theirs = resp.api_keys.iter().find(|k| k.api_key == ApiKey::ApiVersions as i16);
            let v = theirs.map_or(0, |k| k.max_version.min(API_VERSIONS_FIRST));
            if v >= version {
                return Err("broker rejected every ApiVersions version".into());
            }
            self.send_api_versions(node, v, now);
            return Ok(());
        }
        if !resp.error_code.is_ok() {
            return Err(format!("ApiVersions failed: {}", resp.error_code));
        }
        self.throttled(node, ApiKey::ApiVersions, version, resp.throttle_time_ms, now);
        self.txn_observe_features(&resp);
        let lookup = |k: i16| {
            resp.api_keys
                .iter()
                .find(|a| a.api_key == k)
                .map(|a| VersionRange { min: a.min_version, max: a.max_version })
        };
        match NegotiatedVersions::from_broker(lookup) {
            Ok(v) if self.cfg.security_protocol.uses_sasl() => {
                let hs = negotiate(ApiKey::SaslHandshake, lookup(ApiKey::SaslHandshake as i16));
                let auth = negotiate(ApiKey::SaslAuthenticate, lookup(ApiKey::SaslAuthenticate as i16));
                self.start_sasl(node, v, hs, auth, now)
            }
            Ok(v) => {
                if let Some(c) = self.net.conns.get_mut(&node) {
                    c.state = ConnState::Ready(v);
                }
                self.net.backoff.remove(&node);
                Ok(())
            }
            Err(e) => {
                self.fatal = Some(ProduceError::Fatal(format!("node {node}: {e}")));
                Err(e.to_string())
            }
        }
    }

    /// A response from `node` to `api` at `version` carried `throttle_time_ms`: counted, and
    /// the connection held back if the version leaves that to the client
    /// ([`ApiKey::client_throttles`]).
    pub(super) fn throttled(
        &mut self,
        node: i32,
        api: ApiKey,
        version: i16,
        throttle_time_ms: i32,
        now: Instant,
    ) {
        if throttle_time_ms <= 0 {
            return;
        }
        Metrics::add(&self.metrics.throttled_responses, 1);
        self.metrics
            .throttle_time_max_ms
            .fetch_max(throttle_time_ms as u64, std::sync::atomic::Ordering::Relaxed);
        if !api.client_throttles(version) {
            return;
        }
        let until = now + Duration::from_millis(throttle_time_ms as u64);
        if let Some(c) = self.net.conns.get_mut(&node) {
            c.throttled_until = Some(c.throttled_until.map_or(until, |t| t.max(until)));
        }
        self.wake_at(until);
    }

    pub(super) fn ready_conn(&self, now: Instant) -> Option<i32> {
        // Prefer a real broker over a bootstrap connection, then the least loaded; a broker
        // that asked us to hold back (throttle) only when no other is ready.
        self.net
            .conns
            .iter()
            .filter(|(_, c)| matches!(c.state, ConnState::Ready(_)))
            .min_by_key(|(n, c)| (c.throttled_until.is_some_and(|t| t > now), **n < 0, c.in_flight.len()))
            .map(|(n, _)| *n)
    }

    /// A ready connection for a cluster-wide request (Metadata, InitProducerId) and its
    /// versions; without one, starts connecting and asks to be polled again soon.
    pub(super) fn cluster_conn(&mut self, now: Instant) -> Option<(i32, NegotiatedVersions)> {
        let Some(node) = self.ready_conn(now) else {
            self.ensure_any_conn(now);
            self.wake_at(now + self.cfg.reconnect_backoff);
            return None;
        };
        // Every ready broker is throttled: wait for the first to be free, as Java does.
        if let Some(until) = self.net.conns[&node].throttled_until.filter(|&t| t > now) {
            self.wake_at(until);
            return None;
        }
        Some((node, self.versions(node)?))
    }

    pub(super) fn versions(&self, node: i32) -> Option<NegotiatedVersions> {
        match self.net.conns.get(&node)?.state {
            ConnState::Ready(v) => Some(v),
            _ => None,
        }
    }
}
