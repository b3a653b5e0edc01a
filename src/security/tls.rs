//! TLS with rustls (ring provider), driven by the sender thread over the io_uring driver's
//! buffers: no socket of its own, no blocking. Request bytes from the engine go in with
//! [`TlsStream::write_plain`]; the records to send come out of [`TlsStream::take_tls`] into a
//! buffer the driver sends; bytes the driver received go in with [`TlsStream::read_tls`], and
//! whole plaintext lands in [`TlsStream::plain`], where the sender cuts response frames.
//!
//! A handshake that fails (a certificate that does not verify, a name that does not match, an
//! alert from the broker) is [`TlsError::Handshake`]: the sender makes it fatal for the producer.
//! There is never a fallback to plaintext.

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore};

use super::SslConfig;

/// Builds the rustls client configuration from the `ssl.*` settings. Errors name the setting.
pub(crate) fn client_config(ssl: &SslConfig) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    match &ssl.ca_location {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<_, _>>())
                .map_err(|e| format!("ssl.ca.location: cannot read {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!("ssl.ca.location: no certificate in {}", path.display()));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| format!("ssl.ca.location: bad certificate in {}: {e}", path.display()))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for e in &found.errors {
                log::warn!("loading the platform's CA certificates: {e}");
            }
            let (added, _) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err("ssl.ca.location is not set and the platform has no CA certificates".into());
            }
        }
    }
    let roots = Arc::new(roots);
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = if ssl.endpoint_identification {
        builder.with_root_certificates(roots)
    } else {
        let inner = WebPkiServerVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|e| format!("TLS: {e}"))?;
        builder.dangerous().with_custom_certificate_verifier(Arc::new(NoHostnameCheck(inner)))
    };
    let cfg = match (&ssl.certificate_location, &ssl.key_location) {
        (Some(cert), Some(key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<Result<_, _>>())
                .map_err(|e| format!("ssl.certificate.location: cannot read {}: {e}", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("ssl.key.location: cannot read {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("ssl.certificate.location / ssl.key.location: {e}"))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(cfg))
}

/// `ssl.endpoint.identification.algorithm=` (empty): the chain must still verify against the
/// trusted roots, but the broker's name is not checked.
#[derive(Debug)]
struct NoHostnameCheck(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for NoHostnameCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// Whether a rustls error means the certificates do not work (ours or the broker's): never
/// cured by reconnecting. With TLS 1.3 the broker rejects a client certificate (or its absence)
/// only after the client has finished its side of the handshake, so this is checked whatever
/// the handshake state.
fn is_certificate_problem(e: &rustls::Error) -> bool {
    use rustls::AlertDescription as A;
    match e {
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => true,
        rustls::Error::AlertReceived(a) => matches!(
            a,
            A::BadCertificate
                | A::UnsupportedCertificate
                | A::CertificateRevoked
                | A::CertificateExpired
                | A::CertificateUnknown
                | A::UnknownCA
                | A::CertificateRequired
                | A::AccessDenied
                | A::HandshakeFailure
        ),
        _ => false,
    }
}

/// A TLS failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TlsError {
    /// The handshake failed (certificate not trusted, expired, wrong name, alert): not retriable.
    Handshake(String),
    /// The established session broke (corrupt record, ...): the connection is dropped and
    /// retried like any lost connection.
    Session(String),
}

/// One TLS client connection's state, fed by the sender.
pub(crate) struct TlsStream {
    conn: ClientConnection,
    plain: Vec<u8>,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream").field("handshaking", &self.conn.is_handshaking()).finish_non_exhaustive()
    }
}

impl TlsStream {
    /// Starts a client session for `host` (a DNS name or an IP address literal: that is what
    /// the certificate must name).
    pub(crate) fn new(cfg: Arc<ClientConfig>, host: &str) -> Result<TlsStream, TlsError> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| TlsError::Handshake(format!("`{host}` is not a valid TLS server name: {e}")))?;
        let mut conn = ClientConnection::new(cfg, name).map_err(|e| TlsError::Handshake(e.to_string()))?;
        // The engine bounds what it sends (max.in.flight × max.request.size); rustls' own 64 KiB
        // limit would make a large Produce request a short write.
        conn.set_buffer_limit(None);
        Ok(TlsStream { conn, plain: Vec::new() })
    }

    /// Encrypts (or, before the handshake completes, queues) request bytes.
    pub(crate) fn write_plain(&mut self, data: &[u8]) -> Result<(), TlsError> {
        self.conn.writer().write_all(data).map_err(|e| TlsError::Session(format!("TLS write: {e}")))
    }

    /// Appends every TLS record ready to go to `out`; returns whether there was any.
    pub(crate) fn take_tls(&mut self, out: &mut Vec<u8>) -> bool {
        let before = out.len();
        while self.conn.wants_write() {
            match self.conn.write_tls(out) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
        out.len() > before
    }

    /// Feeds bytes received from the broker; decrypted bytes are appended to [`plain`](Self::plain).
    /// Returns how many of `data` were used (all of them unless there was an error).
    pub(crate) fn read_tls(&mut self, data: &[u8]) -> Result<usize, TlsError> {
        let mut off = 0;
        while off < data.len() {
            let handshaking = self.conn.is_handshaking();
            let fail = |m: String| if handshaking { TlsError::Handshake(m) } else { TlsError::Session(m) };
            let mut rd = &data[off..];
            let n = self.conn.read_tls(&mut rd).map_err(|e| fail(format!("TLS read: {e}")))?;
            off += n;
            let state = self.conn.process_new_packets().map_err(|e| {
                if is_certificate_problem(&e) {
                    TlsError::Handshake(e.to_string())
                } else {
                    fail(e.to_string())
                }
            })?;
            let avail = state.plaintext_bytes_to_read();
            if avail > 0 {
                let start = self.plain.len();
                self.plain.resize(start + avail, 0);
                self.conn
                    .reader()
                    .read_exact(&mut self.plain[start..])
                    .map_err(|e| TlsError::Session(format!("TLS read: {e}")))?;
            }
            if n == 0 {
                break;
            }
        }
        Ok(off)
    }

    /// Decrypted bytes not yet taken by the sender (it drains the frames it cuts).
    pub(crate) fn plain(&mut self) -> &mut Vec<u8> {
        &mut self.plain
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::PrivatePkcs8KeyDer;
    use rustls::{ServerConfig, ServerConnection};

    fn pki(dir: &std::path::Path) -> (std::path::PathBuf, Arc<ServerConfig>) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = p.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        let ca_path = dir.join("ca.pem");
        std::fs::write(&ca_path, ca.pem()).unwrap();
        let server = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![leaf.der().clone()], PrivatePkcs8KeyDer::from(key.serialize_der()).into())
            .unwrap();
        (ca_path, Arc::new(server))
    }

    /// Moves bytes both ways until neither side has anything to send.
    fn pump(c: &mut TlsStream, s: &mut ServerConnection, server_plain: &mut Vec<u8>) {
        for _ in 0..10_000 {
            let mut to_server = Vec::new();
            let c_sent = c.take_tls(&mut to_server);
            let mut rd = &to_server[..];
            while !rd.is_empty() {
                s.read_tls(&mut rd).unwrap();
                s.process_new_packets().unwrap();
                let _ = s.reader().read_to_end(server_plain);
            }
            let mut to_client = Vec::new();
            while s.wants_write() {
                s.write_tls(&mut to_client).unwrap();
            }
            let used = c.read_tls(&to_client).unwrap();
            assert_eq!(used, to_client.len());
            if !c_sent && to_client.is_empty() {
                return;
            }
        }
        panic!("TLS pump did not settle");
    }

    /// Plaintext written before and after the handshake arrives in order, including a 1 MiB
    /// write (bigger than rustls' default 64 KiB buffer limit) and a reply.
    #[test]
    fn stream_carries_large_writes_both_ways_in_memory() {
        let dir = std::env::temp_dir().join(format!("ringkafka-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (ca, server_cfg) = pki(&dir);
        let cfg = client_config(&SslConfig { ca_location: Some(ca), ..Default::default() }).unwrap();
        let mut c = TlsStream::new(cfg, "localhost").unwrap();
        let mut s = ServerConnection::new(server_cfg).unwrap();
        let mut got = Vec::new();
        c.write_plain(b"early").unwrap();
        pump(&mut c, &mut s, &mut got);
        assert!(!c.conn.is_handshaking());
        let big: Vec<u8> = (0..1024 * 1024).map(|i| i as u8).collect();
        c.write_plain(&big).unwrap();
        pump(&mut c, &mut s, &mut got);
        assert_eq!(&got[..5], b"early");
        assert_eq!(&got[5..], &big[..]);
        s.writer().write_all(b"reply").unwrap();
        pump(&mut c, &mut s, &mut got);
        assert_eq!(c.plain().as_slice(), b"reply");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn wrong_name_fails_the_handshake() {
        let dir = std::env::temp_dir().join(format!("ringkafka-tls-unit2-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (ca, server_cfg) = pki(&dir);
        let cfg = client_config(&SslConfig { ca_location: Some(ca), ..Default::default() }).unwrap();
        let mut c = TlsStream::new(cfg, "other.example").unwrap();
        let mut s = ServerConnection::new(server_cfg).unwrap();
        let mut hello = Vec::new();
        c.take_tls(&mut hello);
        let mut rd = &hello[..];
        s.read_tls(&mut rd).unwrap();
        s.process_new_packets().unwrap();
        let mut back = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut back).unwrap();
        }
        match c.read_tls(&back) {
            Err(TlsError::Handshake(m)) => assert!(m.to_lowercase().contains("not valid for name"), "{m}"),
            other => panic!("{other:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
