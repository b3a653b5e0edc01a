//! SASL between ApiVersions and `Ready` (the mechanisms themselves live in
//! `crate::security::sasl`): the SaslHandshake and SaslAuthenticate exchange of each connection,
//! and re-authentication before the session expires (KIP-368).
//!
//! The room owns [`SaslState`]: each connection's exchange under way and when each
//! authenticated connection must re-authenticate. A failed authentication makes the producer
//! fatal; closing the connection is `connection`'s, which calls [`SaslState::forget`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::error::ProduceError;
use crate::protocol::messages::decode_response;
use crate::protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use crate::protocol::version::NegotiatedVersions;
use crate::protocol::version::NoCommonVersion;
use crate::security::sasl::{SaslSession, SaslStep};

use super::connection::ConnState;
use super::requests::Kind;
use super::Engine;

/// The SASL room's state (see the module docs).
#[derive(Debug, Default)]
pub(super) struct SaslState {
    /// SASL exchanges of connections in `ConnState::Authenticating`.
    conns: HashMap<i32, SaslConn>,
    /// KIP-368: when each authenticated connection must re-authenticate, with the SaslHandshake
    /// and SaslAuthenticate versions to use.
    reauth: HashMap<i32, (Instant, i16, i16)>,
}

impl SaslState {
    /// `node`'s connection is gone: its exchange and its re-authentication with it.
    pub(super) fn forget(&mut self, node: i32) {
        self.conns.remove(&node);
        self.reauth.remove(&node);
    }
}

/// One connection's SASL exchange (see `Engine::start_sasl`).
#[derive(Debug)]
struct SaslConn {
    session: SaslSession,
    versions: NegotiatedVersions,
    auth_version: i16,
    handshake_version: i16,
}

impl Engine {
    pub(super) fn start_sasl(
        &mut self,
        node: i32,
        versions: NegotiatedVersions,
        handshake: Result<i16, NoCommonVersion>,
        auth: Result<i16, NoCommonVersion>,
        now: Instant,
    ) -> Result<(), String> {
        let (hs, auth_version) = match (handshake, auth) {
            (Ok(h), Ok(a)) => (h, a),
            (Err(e), _) | (_, Err(e)) => {
                return self.sasl_failed(node, format!("the broker cannot do SASL as we need: {e}"));
            }
        };
        let session = SaslSession::new(&self.cfg.sasl);
        let req = SaslHandshakeRequest { mechanism: session.mechanism().to_string() };
        if let Some(c) = self.net.conns.get_mut(&node) {
            c.state = ConnState::Authenticating;
        }
        self.sasl.conns.insert(node, SaslConn { session, versions, auth_version, handshake_version: hs });
        self.send_request(node, hs, &req, Kind::SaslHandshake { version: hs }, now);
        Ok(())
    }

    /// KIP-368: starts re-authentication on each connection whose session is about to expire.
    /// While it runs the connection is `Authenticating`: requests already in flight complete
    /// (responses come in order), new ones wait for `Ready`.
    pub(super) fn poll_reauth(&mut self, now: Instant) {
        if self.sasl.reauth.is_empty() {
            return;
        }
        let mut due = Vec::new();
        for (&node, &(at, hs, auth)) in &self.sasl.reauth {
            if at <= now {
                due.push((node, hs, auth));
            } else if self.next_wakeup.is_none_or(|w| at < w) {
                self.next_wakeup = Some(at);
            }
        }
        for (node, hs, auth) in due {
            self.sasl.reauth.remove(&node);
            let Some(v) = self.versions(node) else { continue };
            log::debug!("{}: re-authenticating (KIP-368)", self.broker_name(node));
            if let Err(msg) = self.start_sasl(node, v, Ok(hs), Ok(auth), now) {
                self.close_conn(node, &msg, now);
            }
        }
    }

    fn sasl_failed(&mut self, node: i32, msg: String) -> Result<(), String> {
        let mech = self.cfg.sasl.mechanism.name();
        let full = format!("{} with SASL mechanism {mech}: {msg}", self.broker_name(node));
        self.fatal = Some(ProduceError::Authentication(full.clone()));
        log::error!("authentication failed: {full}");
        self.sasl.conns.remove(&node);
        Err(full)
    }

    /// Sends the mechanism's next token to `node` (SaslAuthenticate at `version`).
    fn send_sasl_token(&mut self, node: i32, version: i16, auth_bytes: Vec<u8>, now: Instant) {
        let req = SaslAuthenticateRequest { auth_bytes };
        self.send_request(node, version, &req, Kind::SaslAuthenticate { version }, now);
    }

    pub(super) fn handle_sasl_handshake(
        &mut self,
        node: i32,
        version: i16,
        frame: &[u8],
        now: Instant,
    ) -> Result<(), String> {
        let (_, r) = decode_response::<SaslHandshakeRequest>(frame, version)
            .map_err(|e| format!("malformed SaslHandshake response: {e}"))?;
        if !r.error_code.is_ok() {
            let enabled = r.mechanisms.join(", ");
            return self.sasl_failed(node, format!("{} (the broker enables: {enabled})", r.error_code));
        }
        let Some(sc) = self.sasl.conns.get_mut(&node) else { return Err("SASL state lost".into()) };
        let first = match sc.session.start(&self.cfg.sasl) {
            Ok(m) => m,
            Err(e) => return self.sasl_failed(node, e),
        };
        let v = sc.auth_version;
        self.send_sasl_token(node, v, first, now);
        Ok(())
    }

    pub(super) fn handle_sasl_authenticate(
        &mut self,
        node: i32,
        version: i16,
        frame: &[u8],
        now: Instant,
    ) -> Result<(), String> {
        let (_, r) = decode_response::<SaslAuthenticateRequest>(frame, version)
            .map_err(|e| format!("malformed SaslAuthenticate response: {e}"))?;
        if !r.error_code.is_ok() {
            let m = r.error_message.unwrap_or_default();
            return self.sasl_failed(node, format!("{}: {m}", r.error_code));
        }
        let Some(sc) = self.sasl.conns.get_mut(&node) else { return Err("SASL state lost".into()) };
        match sc.session.step(&r.auth_bytes) {
            Ok(SaslStep::Send(bytes)) => {
                let v = sc.auth_version;
                self.send_sasl_token(node, v, bytes, now);
                Ok(())
            }
            Ok(SaslStep::Done) => {
                let sc = self.sasl.conns.remove(&node).expect("checked above");
                if r.session_lifetime_ms > 0 {
                    // KIP-368: re-authenticate on this connection at 85–95% of the session
                    // lifetime (as the Java client does), before the broker would close it.
                    let ms = r.session_lifetime_ms.min(i64::from(u32::MAX)) as u64;
                    let at = now + Duration::from_millis(ms * u64::from(85 + self.rng.below(11)) / 100);
                    self.sasl.reauth.insert(node, (at, sc.handshake_version, sc.auth_version));
                    self.wake_at(at);
                }
                log::info!(
                    "{} authenticated with {}",
                    self.broker_name(node),
                    self.cfg.sasl.mechanism.name()
                );
                if let Some(c) = self.net.conns.get_mut(&node) {
                    c.state = ConnState::Ready(sc.versions);
                }
                self.net.backoff.remove(&node);
                Ok(())
            }
            Err(e) => self.sasl_failed(node, e),
        }
    }
}
