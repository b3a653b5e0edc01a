//! Security: TLS ([`tls`], rustls on the sender thread over the io_uring driver's buffers) and
//! SASL ([`sasl`], with [`scram`]). Owns the `security.protocol`, `ssl.*` and `sasl.*` settings'
//! types; the engine drives the SASL exchange between ApiVersions and Ready, the sender runs the
//! TLS state machine between the driver's bytes and the engine's frames.

pub(crate) mod sasl;
pub(crate) mod scram;
pub(crate) mod tls;

use std::path::PathBuf;

/// `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityProtocol {
    /// No TLS, no SASL (the default).
    #[default]
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL over plain TCP.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Parses a `security.protocol` value (case-insensitive).
    pub fn parse(v: &str) -> Option<Self> {
        match v.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }

    /// Whether connections use TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Whether connections authenticate with SASL.
    pub fn uses_sasl(self) -> bool {
        matches!(self, SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl)
    }
}

/// The `ssl.*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslConfig {
    /// `ssl.ca.location`: PEM file of trusted CA certificates. `None`: the platform's roots.
    pub ca_location: Option<PathBuf>,
    /// `ssl.certificate.location`: PEM client certificate chain (for mutual TLS).
    pub certificate_location: Option<PathBuf>,
    /// `ssl.key.location`: PEM private key of the client certificate.
    pub key_location: Option<PathBuf>,
    /// `ssl.endpoint.identification.algorithm`: `https` (the default) checks that the broker's
    /// certificate names the host we connect to; empty turns that off, which lets anyone with
    /// any certificate from a trusted CA impersonate the broker: only for tests.
    pub endpoint_identification: bool,
}

impl Default for SslConfig {
    fn default() -> Self {
        SslConfig {
            ca_location: None,
            certificate_location: None,
            key_location: None,
            endpoint_identification: true,
        }
    }
}
