//! SCRAM (RFC 5802) with SHA-256 and SHA-512 (RFC 7677, and Kafka's SCRAM-SHA-512): the client
//! side the producer uses, and a server side for the mock broker and tests. Sans-IO: messages in,
//! messages out. Passwords and derived keys are never put in errors or `Debug` output.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// The hash a SCRAM mechanism is built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ScramHash {
    /// SCRAM-SHA-256.
    Sha256,
    /// SCRAM-SHA-512.
    Sha512,
}

impl ScramHash {
    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => {
                let mut m = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
            ScramHash::Sha512 => {
                let mut m = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes any key length");
                m.update(data);
                m.finalize().into_bytes().to_vec()
            }
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
            ScramHash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// `Hi(password, salt, i)`: PBKDF2 with this hash's HMAC.
    fn hi(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            ScramHash::Sha256 => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out.to_vec()
            }
            ScramHash::Sha512 => {
                let mut out = [0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out.to_vec()
            }
        }
    }
}

/// Kafka's lower bound (and the RFC's recommendation) on the iteration count: a server asking
/// for fewer is refused, so a malicious broker cannot make the proof cheap to brute-force.
pub(crate) const MIN_ITERATIONS: u32 = 4096;
/// An upper bound, so a hostile broker cannot make the sender thread spin for minutes.
pub(crate) const MAX_ITERATIONS: u32 = 1_000_000;

/// A SCRAM exchange failed. The text never contains the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScramError(pub String);

impl std::fmt::Display for ScramError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err(m: impl Into<String>) -> ScramError {
    ScramError(m.into())
}

/// `saslname` escaping (RFC 5802 §5.1): `=` → `=3D`, `,` → `=2C`.
fn escape_name(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

fn attr(msg: &str, key: char) -> Option<&str> {
    msg.split(',').find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
}

/// A fresh client nonce: 24 random bytes from the OS, base64 (printable, no commas).
pub(crate) fn random_nonce() -> String {
    let mut b = [0u8; 24];
    // rustls' ring provider already links an OS RNG; use it rather than another crate.
    use rustls::crypto::ring::default_provider;
    if default_provider().secure_random.fill(&mut b).is_err() {
        // Never reached on Linux; a nonce from the clock and address is still unique.
        let t =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        b[..16].copy_from_slice(&t.to_le_bytes());
    }
    B64.encode(b)
}

#[derive(Debug, PartialEq, Eq)]
enum ClientState {
    Initial,
    SentFirst,
    SentFinal,
    Done,
}

/// The client side of one SCRAM exchange.
pub(crate) struct ScramClient {
    hash: ScramHash,
    username: String,
    password: String,
    nonce: String,
    client_first_bare: String,
    server_signature: Vec<u8>,
    state: ClientState,
}

impl std::fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramClient")
            .field("hash", &self.hash)
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl ScramClient {
    /// A client with a random nonce.
    pub(crate) fn new(hash: ScramHash, username: &str, password: &str) -> Self {
        Self::with_nonce(hash, username, password, &random_nonce())
    }

    /// A client with a given nonce (tests use the RFC's).
    pub(crate) fn with_nonce(hash: ScramHash, username: &str, password: &str, nonce: &str) -> Self {
        ScramClient {
            hash,
            username: username.to_string(),
            password: password.to_string(),
            nonce: nonce.to_string(),
            client_first_bare: String::new(),
            server_signature: Vec::new(),
            state: ClientState::Initial,
        }
    }

    /// `client-first-message`: `n,,n=user,r=nonce`.
    pub(crate) fn client_first(&mut self) -> Vec<u8> {
        self.client_first_bare = format!("n={},r={}", escape_name(&self.username), self.nonce);
        self.state = ClientState::SentFirst;
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// Takes `server-first-message`, returns `client-final-message`.
    pub(crate) fn client_final(&mut self, server_first: &[u8]) -> Result<Vec<u8>, ScramError> {
        if self.state != ClientState::SentFirst {
            return Err(err("SCRAM: server-first-message out of order"));
        }
        let sf = std::str::from_utf8(server_first).map_err(|_| err("SCRAM: server-first is not UTF-8"))?;
        if let Some(e) = attr(sf, 'e') {
            return Err(err(format!("SCRAM: server error: {e}")));
        }
        let r = attr(sf, 'r').ok_or_else(|| err("SCRAM: server-first has no nonce"))?;
        if !r.starts_with(&self.nonce) || r.len() <= self.nonce.len() {
            return Err(err("SCRAM: server nonce does not extend the client nonce"));
        }
        let salt = attr(sf, 's').ok_or_else(|| err("SCRAM: server-first has no salt"))?;
        let salt = B64.decode(salt).map_err(|_| err("SCRAM: salt is not base64"))?;
        let i: u32 = attr(sf, 'i')
            .and_then(|i| i.parse().ok())
            .ok_or_else(|| err("SCRAM: server-first has no valid iteration count"))?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&i) {
            return Err(err(format!(
                "SCRAM: iteration count {i} outside [{MIN_ITERATIONS}, {MAX_ITERATIONS}]"
            )));
        }
        let h = self.hash;
        let salted = h.hi(self.password.as_bytes(), &salt, i);
        let client_key = h.hmac(&salted, b"Client Key");
        let stored_key = h.hash(&client_key);
        let without_proof = format!("c=biws,r={r}");
        let auth_message = format!("{},{},{}", self.client_first_bare, sf, without_proof);
        let client_signature = h.hmac(&stored_key, auth_message.as_bytes());
        let proof = xor(&client_key, &client_signature);
        let server_key = h.hmac(&salted, b"Server Key");
        self.server_signature = h.hmac(&server_key, auth_message.as_bytes());
        self.state = ClientState::SentFinal;
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    /// Checks `server-final-message` (the server's signature proves it knows the password too).
    pub(crate) fn verify_server_final(&mut self, server_final: &[u8]) -> Result<(), ScramError> {
        if self.state != ClientState::SentFinal {
            return Err(err("SCRAM: server-final-message out of order"));
        }
        let s = std::str::from_utf8(server_final).map_err(|_| err("SCRAM: server-final is not UTF-8"))?;
        if let Some(e) = attr(s, 'e') {
            return Err(err(format!("SCRAM: server error: {e}")));
        }
        let v = attr(s, 'v').ok_or_else(|| err("SCRAM: server-final has no verifier"))?;
        let v = B64.decode(v).map_err(|_| err("SCRAM: server verifier is not base64"))?;
        if v != self.server_signature {
            return Err(err("SCRAM: the server's signature is wrong (it does not know the credentials)"));
        }
        self.state = ClientState::Done;
        Ok(())
    }
}

/// What a SCRAM server stores for a user (RFC 5802 §2.2): never the password itself.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ScramCredential {
    pub salt: Vec<u8>,
    pub iterations: u32,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
}

impl std::fmt::Debug for ScramCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramCredential").field("iterations", &self.iterations).finish_non_exhaustive()
    }
}

impl ScramCredential {
    /// Derives the stored credential from a password.
    pub(crate) fn new(hash: ScramHash, password: &str, salt: &[u8], iterations: u32) -> Self {
        let salted = hash.hi(password.as_bytes(), salt, iterations);
        let client_key = hash.hmac(&salted, b"Client Key");
        ScramCredential {
            salt: salt.to_vec(),
            iterations,
            stored_key: hash.hash(&client_key),
            server_key: hash.hmac(&salted, b"Server Key"),
        }
    }
}

/// The server side of one SCRAM exchange (for the mock broker and tests).
#[derive(Debug)]
pub(crate) struct ScramServer {
    hash: ScramHash,
    server_nonce: String,
    /// (user, client-first-bare, server-first, full nonce) once the first message arrived.
    first: Option<(String, String, String, String)>,
}

impl ScramServer {
    /// A server exchange with the given nonce part of its own.
    pub(crate) fn new(hash: ScramHash, server_nonce: &str) -> Self {
        ScramServer { hash, server_nonce: server_nonce.to_string(), first: None }
    }

    /// Takes `client-first-message`; `lookup(user)` gives the user's credential. Returns the
    /// user name and `server-first-message`.
    pub(crate) fn server_first(
        &mut self,
        client_first: &[u8],
        lookup: impl Fn(&str) -> Option<ScramCredential>,
    ) -> Result<Vec<u8>, ScramError> {
        let cf = std::str::from_utf8(client_first).map_err(|_| err("client-first is not UTF-8"))?;
        let bare = cf.strip_prefix("n,,").ok_or_else(|| err("unsupported GS2 header"))?;
        let user = attr(bare, 'n').ok_or_else(|| err("no user name"))?;
        let user = user.replace("=2C", ",").replace("=3D", "=");
        let cnonce = attr(bare, 'r').ok_or_else(|| err("no client nonce"))?;
        let cred = lookup(&user).ok_or_else(|| err("unknown user"))?;
        let nonce = format!("{cnonce}{}", self.server_nonce);
        let sf = format!("r={nonce},s={},i={}", B64.encode(&cred.salt), cred.iterations);
        self.first = Some((user, bare.to_string(), sf.clone(), nonce));
        Ok(sf.into_bytes())
    }

    /// Takes `client-final-message`; checks the proof. Returns `server-final-message`.
    pub(crate) fn server_final(
        &mut self,
        client_final: &[u8],
        lookup: impl Fn(&str) -> Option<ScramCredential>,
    ) -> Result<Vec<u8>, ScramError> {
        let (user, bare, sf, nonce) = self.first.take().ok_or_else(|| err("client-final out of order"))?;
        let cred = lookup(&user).ok_or_else(|| err("unknown user"))?;
        let cfm = std::str::from_utf8(client_final).map_err(|_| err("client-final is not UTF-8"))?;
        let (without_proof, proof) = cfm.rsplit_once(",p=").ok_or_else(|| err("no proof"))?;
        if attr(without_proof, 'r') != Some(nonce.as_str()) {
            return Err(err("nonce mismatch"));
        }
        let proof = B64.decode(proof).map_err(|_| err("proof is not base64"))?;
        let auth_message = format!("{bare},{sf},{without_proof}");
        let client_signature = self.hash.hmac(&cred.stored_key, auth_message.as_bytes());
        let client_key = xor(&proof, &client_signature);
        if proof.len() != client_signature.len() || self.hash.hash(&client_key) != cred.stored_key {
            return Err(err("authentication failed"));
        }
        let server_signature = self.hash.hmac(&cred.server_key, auth_message.as_bytes());
        Ok(format!("v={}", B64.encode(server_signature)).into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 §3: SCRAM-SHA-256, user "user", password "pencil".
    #[test]
    fn rfc7677_sha256_test_vector() {
        let mut c = ScramClient::with_nonce(ScramHash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        assert_eq!(c.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let sf = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let cfm = c.client_final(sf).unwrap();
        assert_eq!(
            std::str::from_utf8(&cfm).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        c.verify_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").unwrap();
    }

    /// RFC 5802 §5: the same exchange with SHA-1 is not supported (Kafka has no SCRAM-SHA-1);
    /// we check the RFC 5802 message syntax with the RFC 7677 values and a wrong server
    /// signature instead.
    #[test]
    fn wrong_server_signature_is_rejected() {
        let mut c = ScramClient::with_nonce(ScramHash::Sha256, "user", "pencil", "rOprNGfwEbeRWgbNEkqO");
        c.client_first();
        let sf = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        c.client_final(sf).unwrap();
        let e = c.verify_server_final(b"v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").unwrap_err();
        assert!(!e.0.contains("pencil"));
    }

    #[test]
    fn nonce_not_extended_and_low_iterations_are_rejected() {
        let mut c = ScramClient::with_nonce(ScramHash::Sha512, "u", "p", "abc");
        c.client_first();
        assert!(c.client_final(b"r=xyz123,s=AAAA,i=4096").is_err());
        let mut c = ScramClient::with_nonce(ScramHash::Sha512, "u", "p", "abc");
        c.client_first();
        assert!(c.client_final(b"r=abc123,s=AAAA,i=1").is_err());
    }

    #[test]
    fn client_and_server_agree_sha512_and_reject_wrong_password() {
        let cred = ScramCredential::new(ScramHash::Sha512, "secret", b"salty", 4096);
        let lookup = |u: &str| (u == "alice").then(|| cred.clone());
        for (pw, ok) in [("secret", true), ("wrong", false)] {
            let mut c = ScramClient::new(ScramHash::Sha512, "alice", pw);
            let mut s = ScramServer::new(ScramHash::Sha512, "srv");
            let sf = s.server_first(&c.client_first(), lookup).unwrap();
            let cfm = c.client_final(&sf).unwrap();
            match s.server_final(&cfm, lookup) {
                Ok(fin) => {
                    assert!(ok);
                    c.verify_server_final(&fin).unwrap();
                }
                Err(_) => assert!(!ok),
            }
        }
    }

    #[test]
    fn user_names_are_escaped() {
        let mut c = ScramClient::with_nonce(ScramHash::Sha256, "a=b,c", "p", "n");
        assert_eq!(c.client_first(), b"n,,n=a=3Db=2Cc,r=n");
    }
}
