//! SASL in the mock broker: PLAIN and SCRAM-SHA-256 (and SCRAM-SHA-512), which the engine's
//! tests need because Tansu 0.6.0 speaks SCRAM-SHA-512 only. Like a Kafka SASL listener, a
//! connection must authenticate before any request other than ApiVersions, SaslHandshake and
//! SaslAuthenticate; the mock refuses such a request with an error (the front end drops the
//! connection). State is per node: the sans-IO harness has one connection per node, and an
//! ApiVersions request (the first on a new connection) resets it.

use std::collections::HashMap;

use crate::protocol::error_code::ErrorCode;
use crate::protocol::messages::{
    Decode, Encode, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use crate::protocol::primitives::{DecodeError, DecodeResult, Reader};
use crate::protocol::version::ApiKey;
use crate::security::scram::{ScramCredential, ScramHash, ScramServer};

#[derive(Debug)]
enum ConnAuth {
    Handshaken(String),
    Scram(ScramHash, ScramServer),
    Done,
}

/// SASL settings and per-connection state of the mock broker.
#[derive(Debug, Default)]
pub struct MockSasl {
    mechanisms: Vec<String>,
    plain: HashMap<String, crate::security::sasl::Password>,
    scram: HashMap<(ScramHash, String), ScramCredential>,
    oauth_tokens: Vec<crate::security::sasl::Password>,
    conns: HashMap<i32, ConnAuth>,
    /// Sent in SaslAuthenticate v1+ responses (KIP-368); 0 = no re-authentication.
    pub session_lifetime_ms: i64,
    /// Successful authentications.
    pub successes: u64,
    /// Failed authentications.
    pub failures: u64,
}

const AUTH_FAILED: ErrorCode = ErrorCode(58); // SASL_AUTHENTICATION_FAILED
const UNSUPPORTED_MECHANISM: ErrorCode = ErrorCode(33);
const ILLEGAL_SASL_STATE: ErrorCode = ErrorCode(34);

impl MockSasl {
    /// SASL with these mechanisms enabled (e.g. `["PLAIN", "SCRAM-SHA-256"]`).
    pub fn new(mechanisms: &[&str]) -> Self {
        MockSasl { mechanisms: mechanisms.iter().map(|m| m.to_string()).collect(), ..Default::default() }
    }

    /// Adds a user for PLAIN and both SCRAM hashes.
    pub fn add_user(&mut self, user: &str, password: &str) {
        self.plain.insert(user.into(), crate::security::sasl::Password::new(password));
        for h in [ScramHash::Sha256, ScramHash::Sha512] {
            let cred = ScramCredential::new(h, password, format!("salt-{user}").as_bytes(), 4096);
            self.scram.insert((h, user.into()), cred);
        }
    }

    /// Accepts this OAUTHBEARER token (the mock does not parse or check JWTs).
    pub fn add_oauth_token(&mut self, token: &str) {
        self.oauth_tokens.push(crate::security::sasl::Password::new(token));
    }

    /// Whether `node`'s connection has authenticated.
    pub fn authenticated(&self, node: i32) -> bool {
        matches!(self.conns.get(&node), Some(ConnAuth::Done))
    }

    /// Handles `api` if it is a SASL request (writing its body to `out`, returning true);
    /// refuses any other request but ApiVersions before authentication.
    pub(crate) fn handle(
        &mut self,
        node: i32,
        api: ApiKey,
        version: i16,
        r: &mut Reader<'_>,
        out: &mut Vec<u8>,
    ) -> DecodeResult<bool> {
        match api {
            ApiKey::ApiVersions => {
                self.conns.remove(&node);
                Ok(false)
            }
            ApiKey::SaslHandshake => {
                let req = SaslHandshakeRequest::decode(r, version)?;
                let ok = self.mechanisms.contains(&req.mechanism);
                if ok {
                    self.conns.insert(node, ConnAuth::Handshaken(req.mechanism));
                }
                SaslHandshakeResponse {
                    error_code: if ok { ErrorCode::NONE } else { UNSUPPORTED_MECHANISM },
                    mechanisms: self.mechanisms.clone(),
                }
                .encode(version, out);
                Ok(true)
            }
            ApiKey::SaslAuthenticate => {
                let req = SaslAuthenticateRequest::decode(r, version)?;
                let resp = self.authenticate(node, &req.auth_bytes);
                let resp = match resp {
                    Ok((bytes, done)) => {
                        if done {
                            self.successes += 1;
                            self.conns.insert(node, ConnAuth::Done);
                        }
                        SaslAuthenticateResponse {
                            error_code: ErrorCode::NONE,
                            error_message: None,
                            auth_bytes: bytes,
                            session_lifetime_ms: if done { self.session_lifetime_ms } else { 0 },
                        }
                    }
                    Err((code, msg)) => {
                        self.failures += 1;
                        self.conns.remove(&node);
                        SaslAuthenticateResponse {
                            error_code: code,
                            error_message: Some(msg),
                            auth_bytes: Vec::new(),
                            session_lifetime_ms: 0,
                        }
                    }
                };
                resp.encode(version, out);
                Ok(true)
            }
            _ if self.authenticated(node) => Ok(false),
            _ => {
                Err(DecodeError::InvalidValue { field: "unauthenticated request api_key", value: api as i64 })
            }
        }
    }

    fn authenticate(&mut self, node: i32, bytes: &[u8]) -> Result<(Vec<u8>, bool), (ErrorCode, String)> {
        let failed = || (AUTH_FAILED, "Authentication failed: Invalid username or password".to_string());
        match self.conns.remove(&node) {
            Some(ConnAuth::Handshaken(m)) if m == "PLAIN" => {
                let mut parts = bytes.split(|b| *b == 0);
                let (_authz, user, pw) = (parts.next(), parts.next(), parts.next());
                let (Some(user), Some(pw)) = (user, pw) else { return Err(failed()) };
                let user = String::from_utf8_lossy(user).to_string();
                match self.plain.get(&user) {
                    Some(p) if p.expose().as_bytes() == pw => Ok((Vec::new(), true)),
                    _ => Err(failed()),
                }
            }
            Some(ConnAuth::Handshaken(m)) if m == "OAUTHBEARER" => {
                let msg = String::from_utf8_lossy(bytes);
                let token = msg.split('\x01').find_map(|kv| kv.strip_prefix("auth=Bearer "));
                match token {
                    Some(t) if self.oauth_tokens.iter().any(|x| x.expose() == t) => Ok((Vec::new(), true)),
                    _ => Err(failed()),
                }
            }
            Some(ConnAuth::Handshaken(m)) if m.starts_with("SCRAM-SHA-") => {
                let h = if m == "SCRAM-SHA-256" { ScramHash::Sha256 } else { ScramHash::Sha512 };
                let mut s = ScramServer::new(h, "mockservernonce");
                let scram = &self.scram;
                let sf = s
                    .server_first(bytes, |u| scram.get(&(h, u.to_string())).cloned())
                    .map_err(|_| failed())?;
                self.conns.insert(node, ConnAuth::Scram(h, s));
                Ok((sf, false))
            }
            Some(ConnAuth::Scram(h, mut s)) => {
                let scram = &self.scram;
                let fin = s
                    .server_final(bytes, |u| scram.get(&(h, u.to_string())).cloned())
                    .map_err(|_| failed())?;
                Ok((fin, true))
            }
            Some(ConnAuth::Done) => {
                // KIP-368 re-authentication would start with a new handshake; a stray token is a
                // protocol error.
                Err((ILLEGAL_SASL_STATE, "already authenticated".into()))
            }
            _ => Err((ILLEGAL_SASL_STATE, "SaslAuthenticate before SaslHandshake".into())),
        }
    }
}
