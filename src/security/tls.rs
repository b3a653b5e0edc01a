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
use rustls::client::{verify_server_name, WebPkiServerVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore};

use super::SslConfig;

/// Builds the rustls client configuration from the `ssl.*` settings. Errors name the setting.
pub(crate) fn client_config(ssl: &SslConfig) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    let mut configured = Vec::new();
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
                    .add(c.clone())
                    .map_err(|e| format!("ssl.ca.location: bad certificate in {}: {e}", path.display()))?;
                configured.push(c);
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
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| format!("TLS: {e}"))?;
    let verifier = Verifier { webpki, configured, check_name: ssl.endpoint_identification };
    let builder = builder.dangerous().with_custom_certificate_verifier(Arc::new(verifier));
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

/// The broker's certificate check: rustls' WebPKI verifier (chain to a trusted root, dates,
/// host name, and every handshake signature), with two departures Java and librdkafka make too:
///
/// - `ssl.endpoint.identification.algorithm=` (empty): the chain must still verify, but the
///   broker's name is not checked.
/// - A self-signed certificate that is its own CA (what `openssl req -x509` makes: CA:TRUE),
///   presented by the broker and configured byte for byte in `ssl.ca.location`, is accepted.
///   WebPKI refuses a CA certificate as the server's own (`CaUsedAsEndEntity`); Java's PKIX
///   validator accepts a presented certificate that is itself trusted, and so does OpenSSL. The
///   host name is still checked (unless turned off, as above), and so are the certificate's
///   dates (WebPKI checks them before it looks at the CA flag, so `CaUsedAsEndEntity` comes
///   only from a certificate within its dates; a test pins that); the handshake signatures are
///   verified with its key as with any certificate. Only the `ssl.ca.location` certificates
///   count, not the platform's trust store.
#[derive(Debug)]
struct Verifier {
    webpki: Arc<WebPkiServerVerifier>,
    /// The certificates of `ssl.ca.location`, as configured.
    configured: Vec<CertificateDer<'static>>,
    check_name: bool,
}

/// Whether rustls' error is WebPKI's `CaUsedAsEndEntity`.
fn is_ca_used_as_end_entity(e: &rustls::Error) -> bool {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
            let inner: &(dyn std::error::Error + 'static) = &*other.0;
            inner.downcast_ref::<webpki::Error>() == Some(&webpki::Error::CaUsedAsEndEntity)
        }
        _ => false,
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            Err(e) if is_ca_used_as_end_entity(&e) => {
                if !self.configured.iter().any(|c| c == end_entity) {
                    // WebPKI's name for it says little to someone who made a self-signed
                    // certificate: say which one would have been accepted.
                    let why = "the broker presented a CA certificate (CA:TRUE) as its own; it is accepted \
                               only if it is one of the certificates in ssl.ca.location, and it is not";
                    let other = rustls::OtherError(Arc::new(std::io::Error::other(why)));
                    return Err(rustls::Error::InvalidCertificate(CertificateError::Other(other)));
                }
                if self.check_name {
                    verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
                }
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
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

    /// A TLS server configuration presenting `cert` (with its private `key`) to clients.
    fn server_presenting(cert: &rcgen::Certificate, key: &rcgen::KeyPair) -> Arc<ServerConfig> {
        let server = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], PrivatePkcs8KeyDer::from(key.serialize_der()).into())
            .unwrap();
        Arc::new(server)
    }

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
        (ca_path, server_presenting(&leaf, &key))
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

    /// A self-signed certificate that is its own CA (CA:TRUE, as `openssl req -x509` makes),
    /// for `names`, with a server configuration presenting it; optionally expired.
    fn self_signed_ca(names: &[&str], expired: bool) -> (String, Arc<ServerConfig>) {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        if expired {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = p.self_signed(&key).unwrap();
        (cert.pem(), server_presenting(&cert, &key))
    }

    /// Runs a handshake of a client trusting `ca_pem` with `server`, for `host`: the client's
    /// verdict (a handshake error, or `Ok` once both sides are done).
    fn handshake(
        ca_pem: &str,
        host: &str,
        check_name: bool,
        server: Arc<ServerConfig>,
    ) -> Result<(), TlsError> {
        let dir = std::env::temp_dir().join(format!(
            "ringkafka-tls-ss-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, ca_pem).unwrap();
        let ssl =
            SslConfig { ca_location: Some(ca), endpoint_identification: check_name, ..Default::default() };
        let cfg = client_config(&ssl).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let mut c = TlsStream::new(cfg, host).unwrap();
        let mut s = ServerConnection::new(server).unwrap();
        for _ in 0..10 {
            let mut to_server = Vec::new();
            c.take_tls(&mut to_server);
            let mut rd = &to_server[..];
            while !rd.is_empty() {
                s.read_tls(&mut rd).unwrap();
                if s.process_new_packets().is_err() {
                    break;
                }
            }
            let mut to_client = Vec::new();
            while s.wants_write() {
                s.write_tls(&mut to_client).unwrap();
            }
            c.read_tls(&to_client)?;
            if !c.conn.is_handshaking() && !s.is_handshaking() {
                return Ok(());
            }
        }
        panic!("the handshake neither finished nor failed");
    }

    /// `openssl req -x509`'s certificate (CA:TRUE) configured as the CA and presented by the
    /// broker: accepted, as Java and librdkafka accept it. The host name is still checked, a
    /// different self-signed CA is still refused, and so is an expired one.
    #[test]
    fn a_self_signed_ca_certificate_configured_as_the_ca_is_accepted_for_its_own_name_only() {
        let (pem, server) = self_signed_ca(&["localhost", "127.0.0.1"], false);
        assert_eq!(handshake(&pem, "localhost", true, server.clone()), Ok(()));
        assert_eq!(handshake(&pem, "127.0.0.1", true, server.clone()), Ok(()));
        match handshake(&pem, "other.example", true, server.clone()) {
            Err(TlsError::Handshake(m)) => assert!(m.to_lowercase().contains("not valid for name"), "{m}"),
            other => panic!("a wrong host name must be refused: {other:?}"),
        }
        // With host-name verification off, the name does not matter (the certificate does).
        assert_eq!(handshake(&pem, "other.example", false, server.clone()), Ok(()));
        let (other_pem, _) = self_signed_ca(&["localhost", "127.0.0.1"], false);
        match handshake(&other_pem, "localhost", true, server) {
            Err(TlsError::Handshake(m)) => assert!(m.contains("ssl.ca.location"), "{m}"),
            other => panic!("a certificate that is not the configured one must be refused: {other:?}"),
        }
        let (expired_pem, expired) = self_signed_ca(&["localhost"], true);
        match handshake(&expired_pem, "localhost", true, expired) {
            Err(TlsError::Handshake(m)) => assert!(m.to_lowercase().contains("expired"), "{m}"),
            other => panic!("an expired self-signed certificate must be refused: {other:?}"),
        }
    }
}
