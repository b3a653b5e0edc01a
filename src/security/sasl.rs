//! SASL for Kafka (KIP-43, KIP-152): the mechanisms and the client side of one authentication
//! exchange, sans-IO. The engine sends `SaslHandshake` (v1) naming [`SaslSession::mechanism`],
//! then carries each token [`SaslSession::start`] / [`SaslSession::step`] returns in a
//! `SaslAuthenticate` request, until `step` says [`SaslStep::Done`].
//!
//! Credentials live in [`Password`] and [`OAuthToken`], whose `Debug` never shows them; no error
//! built here contains them.

use std::fmt;
use std::sync::Arc;

use super::scram::{ScramClient, ScramHash};

/// `sasl.mechanism`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    /// `PLAIN` (RFC 4616): the password is sent as is; use it only over TLS.
    Plain,
    /// `SCRAM-SHA-256` (RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-512`.
    ScramSha512,
    /// `OAUTHBEARER` (RFC 7628, KIP-255) with a token from the configuration or a callback.
    OAuthBearer,
}

impl SaslMechanism {
    /// The name on the wire and in `sasl.mechanism`.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// Parses a `sasl.mechanism` value (case-insensitive).
    pub fn parse(v: &str) -> Option<Self> {
        match v.trim().to_ascii_uppercase().as_str() {
            "PLAIN" => Some(SaslMechanism::Plain),
            "SCRAM-SHA-256" => Some(SaslMechanism::ScramSha256),
            "SCRAM-SHA-512" => Some(SaslMechanism::ScramSha512),
            "OAUTHBEARER" => Some(SaslMechanism::OAuthBearer),
            _ => None,
        }
    }
}

/// A secret string (`sasl.password`). `Debug` and `Display` print `[redacted]`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Password(s.into())
    }
    /// The secret itself, for the authentication exchange only.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Whether no password was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A callback that returns a fresh OAuth bearer token (or why it could not), called on the
/// sender thread for every authentication: keep it fast (return a cached token).
pub type OAuthTokenCallback = dyn Fn() -> Result<String, String> + Send + Sync;

/// Where OAUTHBEARER tokens come from. `Debug` never shows a token.
#[derive(Clone)]
pub enum OAuthToken {
    /// A fixed token (`sasl.oauthbearer.token`, ours: Java has no static-token property).
    Static(Password),
    /// A callback ([`crate::ProducerConfig::oauth_token_callback`]).
    Callback(Arc<OAuthTokenCallback>),
}

impl OAuthToken {
    fn get(&self) -> Result<String, String> {
        match self {
            OAuthToken::Static(p) => Ok(p.expose().to_string()),
            OAuthToken::Callback(f) => f(),
        }
    }
}

impl fmt::Debug for OAuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OAuthToken::Static(_) => f.write_str("Static([redacted])"),
            OAuthToken::Callback(_) => f.write_str("Callback(..)"),
        }
    }
}

impl PartialEq for OAuthToken {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (OAuthToken::Static(a), OAuthToken::Static(b)) => a == b,
            (OAuthToken::Callback(a), OAuthToken::Callback(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for OAuthToken {}

/// The SASL part of the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslConfig {
    /// `sasl.mechanism` (Java's default is GSSAPI, which we do not speak; we default to PLAIN
    /// like librdkafka).
    pub mechanism: SaslMechanism,
    /// `sasl.username`.
    pub username: String,
    /// `sasl.password`.
    pub password: Password,
    /// OAUTHBEARER's token source.
    pub oauth_token: Option<OAuthToken>,
}

impl Default for SaslConfig {
    fn default() -> Self {
        SaslConfig {
            mechanism: SaslMechanism::Plain,
            username: String::new(),
            password: Password::default(),
            oauth_token: None,
        }
    }
}

/// What to do after a server message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SaslStep {
    /// Send these bytes in another SaslAuthenticate.
    Send(Vec<u8>),
    /// Authenticated.
    Done,
}

#[derive(Debug)]
enum State {
    Plain { sent: bool },
    Scram(ScramClient, u8),
    OAuth { sent: bool },
}

/// The client side of one SASL exchange on one connection.
#[derive(Debug)]
pub(crate) struct SaslSession {
    mechanism: SaslMechanism,
    state: State,
}

impl SaslSession {
    /// A new exchange for `cfg`.
    pub(crate) fn new(cfg: &SaslConfig) -> SaslSession {
        let state = match cfg.mechanism {
            SaslMechanism::Plain => State::Plain { sent: false },
            SaslMechanism::ScramSha256 => {
                State::Scram(ScramClient::new(ScramHash::Sha256, &cfg.username, cfg.password.expose()), 0)
            }
            SaslMechanism::ScramSha512 => {
                State::Scram(ScramClient::new(ScramHash::Sha512, &cfg.username, cfg.password.expose()), 0)
            }
            SaslMechanism::OAuthBearer => State::OAuth { sent: false },
        };
        SaslSession { mechanism: cfg.mechanism, state }
    }

    /// The mechanism name for SaslHandshake.
    pub(crate) fn mechanism(&self) -> &'static str {
        self.mechanism.name()
    }

    /// The first token. `cfg` is passed again so that the password is read only here.
    pub(crate) fn start(&mut self, cfg: &SaslConfig) -> Result<Vec<u8>, String> {
        match &mut self.state {
            State::Plain { sent } => {
                *sent = true;
                // RFC 4616: [authzid] NUL authcid NUL passwd.
                let mut m = Vec::with_capacity(cfg.username.len() + cfg.password.expose().len() + 2);
                m.push(0);
                m.extend_from_slice(cfg.username.as_bytes());
                m.push(0);
                m.extend_from_slice(cfg.password.expose().as_bytes());
                Ok(m)
            }
            State::Scram(c, step) => {
                *step = 1;
                Ok(c.client_first())
            }
            State::OAuth { sent } => {
                *sent = true;
                let source =
                    cfg.oauth_token.as_ref().ok_or("OAUTHBEARER needs a token or a token callback")?;
                let token = source.get().map_err(|e| format!("the OAuth token callback failed: {e}"))?;
                // RFC 7628 §3.1: gs2-header, then kvsep-separated auth=Bearer <token>.
                Ok(format!("n,,\x01auth=Bearer {token}\x01\x01").into_bytes())
            }
        }
    }

    /// Takes the server's bytes from a successful SaslAuthenticate response.
    pub(crate) fn step(&mut self, server: &[u8]) -> Result<SaslStep, String> {
        match &mut self.state {
            State::Plain { sent: true } | State::OAuth { sent: true } => Ok(SaslStep::Done),
            State::Scram(c, step) if *step == 1 => {
                *step = 2;
                c.client_final(server).map(SaslStep::Send).map_err(|e| e.to_string())
            }
            State::Scram(c, step) if *step == 2 => {
                *step = 3;
                c.verify_server_final(server).map(|()| SaslStep::Done).map_err(|e| e.to_string())
            }
            _ => Err("SASL: unexpected server message".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_is_redacted_in_debug_and_display() {
        let cfg = SaslConfig {
            mechanism: SaslMechanism::ScramSha512,
            username: "alice".into(),
            password: Password::new("hunter2-secret"),
            oauth_token: Some(OAuthToken::Static(Password::new("tok-secret"))),
        };
        let d = format!("{cfg:?} {} {:?}", cfg.password, SaslSession::new(&cfg));
        assert!(!d.contains("hunter2-secret") && !d.contains("tok-secret"), "{d}");
        assert!(d.contains("[redacted]"));
    }

    #[test]
    fn plain_sends_nul_separated_user_and_password_in_one_step() {
        let cfg = SaslConfig {
            mechanism: SaslMechanism::Plain,
            username: "u".into(),
            password: Password::new("p"),
            oauth_token: None,
        };
        let mut s = SaslSession::new(&cfg);
        assert_eq!(s.start(&cfg).unwrap(), b"\0u\0p");
        assert_eq!(s.step(b"").unwrap(), SaslStep::Done);
    }

    #[test]
    fn oauthbearer_sends_the_token_from_the_callback_in_rfc_7628_framing() {
        let cfg = SaslConfig {
            mechanism: SaslMechanism::OAuthBearer,
            oauth_token: Some(OAuthToken::Callback(Arc::new(|| Ok("abc.def".to_string())))),
            ..Default::default()
        };
        let mut s = SaslSession::new(&cfg);
        assert_eq!(s.start(&cfg).unwrap(), b"n,,\x01auth=Bearer abc.def\x01\x01");
    }
}
