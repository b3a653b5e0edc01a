//! Security end to end, against real servers: Tansu 0.6.0 (libsql build, for SCRAM users that
//! survive the restart that turns `--authentication` on) and stunnel4 as the TLS terminator in
//! front of it (Tansu's own TLS options do not work together). Certificates are throw-away ones
//! made here with rcgen. librdkafka reads back what we wrote, as an independent client.
//!
//! Tansu speaks SCRAM-SHA-512 only: PLAIN, SCRAM-SHA-256 and OAUTHBEARER are tested against the
//! mock broker in `src/engine/security_tests.rs`.
//!
//! A missing stunnel or Tansu fails these tests (never skips them), with a message saying how
//! to get it: `scripts/test.sh` installs both.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use ringkafka::{ProduceError, Producer, ProducerConfig, ProducerRecord};

/// The tool's path; a missing tool fails the test, saying how to get it.
fn require(what: &str, found: Option<PathBuf>) -> PathBuf {
    found.unwrap_or_else(|| {
        panic!(
            "{what} is missing, and these tests need it. scripts/test.sh installs it \
             (stunnel4 with apt-get; Tansu 0.6.0 with libsql by `. scripts/tansu.sh; \
             tansu_ensure_installed`, into ~/.local/share/ringkafka/; or set TANSU_LIBSQL_BIN)"
        )
    })
}

fn stunnel_bin() -> Option<PathBuf> {
    ["/usr/bin/stunnel4", "/usr/bin/stunnel", "/usr/local/bin/stunnel"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// The Tansu built with libsql: `$TANSU_LIBSQL_BIN`, else the versioned install of
/// `scripts/tansu.sh`, else `$TANSU_BIN` if it is that build.
fn libsql_tansu() -> Option<PathBuf> {
    if let Some(b) = std::env::var_os("TANSU_LIBSQL_BIN").filter(|b| !b.is_empty()) {
        return Some(b.into());
    }
    let home = std::env::var_os("HOME")?;
    let p = PathBuf::from(home).join(".local/share/ringkafka/tansu-0.6.0-dynostore-libsql/bin/tansu");
    if p.is_file() {
        return Some(p);
    }
    std::env::var_os("TANSU_BIN")
        .map(PathBuf::from)
        .filter(|b| b.to_string_lossy().contains("libsql") && b.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(st)) = child.try_wait() {
            panic!("{what} exited during start-up: {st}");
        }
        assert!(Instant::now() < deadline, "{what} did not listen on {port} within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed on drop (only the one we started).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "ringkafka-sec-{name}-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos() ^ u128::from(free_port())
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

// ---------------------------------------------------------------------------------------------
// Certificates

struct Pem {
    cert: PathBuf,
    key: PathBuf,
}

struct Certs {
    ca: PathBuf,
    other_ca: PathBuf,
    server: Pem,
    expired: Pem,
    wrong_name: Pem,
    client: Pem,
}

fn write_pair(dir: &Path, name: &str, cert: &rcgen::Certificate, key: &rcgen::KeyPair) -> Pem {
    let p = Pem { cert: dir.join(format!("{name}.pem")), key: dir.join(format!("{name}.key")) };
    std::fs::write(&p.cert, cert.pem()).unwrap();
    std::fs::write(&p.key, key.serialize_pem()).unwrap();
    p
}

fn make_certs(dir: &Path) -> Certs {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca = |cn: &str| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, cn);
        let cert = p.self_signed(&key).unwrap();
        (cert, key)
    };
    let (ca_cert, ca_key) = ca("ringkafka test CA");
    let (other_cert, other_key) = ca("some other CA");
    let leaf = |names: &[&str], expired: bool| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        p.distinguished_name.push(DnType::CommonName, names[0]);
        if expired {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let cert = p.signed_by(&key, &ca_cert, &ca_key).unwrap();
        (cert, key)
    };
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca_cert.pem()).unwrap();
    let other_path = dir.join("other-ca.pem");
    std::fs::write(&other_path, other_cert.pem()).unwrap();
    let _ = other_key;
    let (c, k) = leaf(&["localhost", "127.0.0.1"], false);
    let server = write_pair(dir, "server", &c, &k);
    let (c, k) = leaf(&["localhost", "127.0.0.1"], true);
    let expired = write_pair(dir, "expired", &c, &k);
    let (c, k) = leaf(&["broker.wrong.example"], false);
    let wrong_name = write_pair(dir, "wrong-name", &c, &k);
    let (c, k) = leaf(&["ringkafka-client"], false);
    let client = write_pair(dir, "client", &c, &k);
    Certs { ca: ca_path, other_ca: other_path, server, expired, wrong_name, client }
}

/// stunnel accepting TLS on `accept` with `pem`, forwarding plaintext to `connect`. With
/// `client_ca`, it requires a client certificate signed by that CA.
fn stunnel(bin: &Path, dir: &Path, accept: u16, connect: u16, pem: &Pem, client_ca: Option<&Path>) -> Proc {
    let conf = dir.join(format!("stunnel-{accept}.conf"));
    let mut s = format!(
        "foreground = yes\npid =\ndebug = 4\n[kafka]\naccept = 127.0.0.1:{accept}\nconnect = 127.0.0.1:{connect}\ncert = {}\nkey = {}\n",
        pem.cert.display(),
        pem.key.display()
    );
    if let Some(ca) = client_ca {
        s.push_str(&format!("CAfile = {}\nverifyChain = yes\nrequireCert = yes\n", ca.display()));
    }
    std::fs::write(&conf, s).unwrap();
    let log = std::fs::File::create(dir.join(format!("stunnel-{accept}.log"))).unwrap();
    let child = Command::new(bin)
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start stunnel");
    let mut p = Proc(child);
    wait_port(accept, &mut p.0, "stunnel");
    p
}

// ---------------------------------------------------------------------------------------------
// Tansu

/// Tansu on `port` (advertising `advertised`), sqlite storage in `dir`.
fn tansu(bin: &Path, dir: &Path, port: u16, advertised: u16, authentication: bool) -> Proc {
    tansu_on(bin, dir, port, advertised, authentication, "sqlite://tansu.db")
}

/// Any Tansu 0.6.0 (memory storage needs no libsql): the libsql build, `$TANSU_BIN`, `tansu` on
/// `PATH`, or `~/.cargo/bin/tansu`.
fn any_tansu() -> Option<PathBuf> {
    if let Some(p) = libsql_tansu() {
        return Some(p);
    }
    if let Some(b) = std::env::var_os("TANSU_BIN").filter(|b| !b.is_empty()) {
        return Some(b.into());
    }
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    if let Some(h) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(h).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join("tansu")).find(|p| p.is_file())
}

fn tansu_on(bin: &Path, dir: &Path, port: u16, advertised: u16, authentication: bool, storage: &str) -> Proc {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("tansu.log")).unwrap();
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir)
        .args(["broker", "--cluster-id", "ringkafka-sec"])
        .args(["--listener-url", &format!("tcp://127.0.0.1:{port}")])
        .args(["--advertised-listener-url", &format!("tcp://127.0.0.1:{advertised}")])
        .args(["--storage-engine", storage]);
    if authentication {
        cmd.arg("--authentication");
    }
    let child =
        cmd.stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log).spawn().expect("start tansu");
    let mut p = Proc(child);
    wait_port(port, &mut p.0, "tansu");
    p
}

fn tansu_cli(bin: &Path, dir: &Path, args: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = Command::new(bin).current_dir(dir).args(args).output().expect("run tansu");
        if out.status.success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "tansu {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A TCP proxy on a free port to `127.0.0.1:to` that counts the connections it accepts.
fn counting_proxy(to: u16) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let count = std::sync::Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    std::thread::spawn(move || {
        for client in l.incoming().flatten() {
            c.fetch_add(1, Ordering::SeqCst);
            let Ok(server) = TcpStream::connect(("127.0.0.1", to)) else { continue };
            let (mut a, mut b) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut a, &mut b);
                let _ = b.shutdown(std::net::Shutdown::Write);
            });
            let (mut a, mut b) = (server, client);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut a, &mut b);
                let _ = b.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    (port, count)
}

// ---------------------------------------------------------------------------------------------
// Clients

fn produce(
    cfg: ProducerConfig,
    topic: &str,
    values: &[String],
) -> Vec<Result<ringkafka::RecordMetadata, ProduceError>> {
    let p = Producer::new(cfg).expect("producer starts");
    let futures: Vec<_> = values
        .iter()
        .map(|v| p.send(ProducerRecord::new(topic, v.clone().into_bytes()).partition(0)).unwrap())
        .collect();
    let out = futures.into_iter().map(|f| f.wait()).collect();
    p.close(Duration::from_secs(5));
    out
}

/// librdkafka reads partition 0 of `topic` back (plaintext).
fn consume(bootstrap: &str, topic: &str, expected: usize) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("sec-reader-{topic}"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("check.crcs", "true")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning).unwrap();
    consumer.assign(&tpl).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut out = Vec::new();
    while out.len() < expected && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string());
        }
    }
    out
}

fn cfg(bootstrap: &str, props: &[(&str, &str)]) -> ProducerConfig {
    let mut c = ProducerConfig::new(bootstrap);
    c.set("linger.ms", "1").unwrap();
    c.set("sender.cpu", "-1").unwrap();
    c.set("delivery.timeout.ms", "30000").unwrap();
    c.set("request.timeout.ms", "10000").unwrap();
    for (k, v) in props {
        c.set(k, v).unwrap();
    }
    c
}

fn values(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

// ---------------------------------------------------------------------------------------------
// Tests

/// Wrong CA, expired certificate, host-name mismatch: each fails every record with the typed,
/// non-retriable TLS error naming the broker, quickly (no waiting for delivery.timeout.ms).
/// stunnel fronts a listener that never answers: the handshake fails before any Kafka byte.
#[test]
fn tls_bad_certificates_are_fatal_errors_naming_the_broker() {
    let stunnel_bin = require("stunnel4", stunnel_bin());
    let dir = tmpdir("badcert");
    let certs = make_certs(&dir);
    let backend = TcpListener::bind("127.0.0.1:0").unwrap();
    let backend_port = backend.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in backend.incoming().flatten() {
            held.push(s);
        }
    });
    let cases: [(&str, &Pem, &Path, &str); 3] = [
        ("wrong CA", &certs.server, &certs.other_ca, "unknownissuer"),
        ("expired", &certs.expired, &certs.ca, "expired"),
        ("host-name mismatch", &certs.wrong_name, &certs.ca, "not valid for name"),
    ];
    for (what, pem, ca, expect) in cases {
        let port = free_port();
        let _st = stunnel(&stunnel_bin, &dir, port, backend_port, pem, None);
        check_fatal_tls(port, what, ca, expect);
    }
    // A listener that requires a client certificate we do not have (TLS 1.3 reports that
    // after the client's side of the handshake is done): fatal too, not a reconnect loop.
    let port = free_port();
    let _st = stunnel(&stunnel_bin, &dir, port, backend_port, &certs.server, Some(&certs.ca));
    check_fatal_tls(port, "no client certificate", &certs.ca, "certificate");
    let _ = std::fs::remove_dir_all(&dir);
}

fn check_fatal_tls(port: u16, what: &str, ca: &Path, expect: &str) {
    {
        let bootstrap = format!("127.0.0.1:{port}");
        let started = Instant::now();
        let out = produce(
            cfg(&bootstrap, &[("security.protocol", "SSL"), ("ssl.ca.location", ca.to_str().unwrap())]),
            "t",
            &values(what, 3),
        );
        assert!(started.elapsed() < Duration::from_secs(15), "{what}: took {:?}", started.elapsed());
        for r in out {
            match r {
                Err(e @ ProduceError::Tls { .. }) => {
                    assert!(!e.is_retriable());
                    let s = e.to_string();
                    assert!(s.contains(&bootstrap), "{what}: error does not name the broker: {s}");
                    let flat = s.to_lowercase().replace("notvalidforname", "not valid for name");
                    assert!(flat.contains(expect), "{what}: expected {expect} in: {s}");
                    eprintln!("{what}: {s}");
                }
                other => panic!("{what}: expected a TLS error, got {other:?}"),
            }
        }
    }
}

/// SSL through stunnel into Tansu (memory storage, so any Tansu build): records are
/// acknowledged with consecutive offsets; with host-name verification turned off, a certificate
/// for another name is accepted (the chain is still verified). Read-back by librdkafka is in the
/// libsql test below (librdkafka here is built without TLS, so it reads after a restart).
#[test]
fn ssl_through_stunnel_delivers_to_tansu_and_host_name_checking_can_be_turned_off() {
    let stunnel_bin = require("stunnel4", stunnel_bin());
    let tansu_bin = require("tansu", any_tansu());
    let dir = tmpdir("ssl");
    let certs = make_certs(&dir);
    let ca = certs.ca.to_str().unwrap().to_string();
    let (plain, tls, tls_wrong_name) = (free_port(), free_port(), free_port());
    let _t = tansu_on(&tansu_bin, &dir, plain, tls, false, "memory://tansu/");
    let broker = format!("tcp://127.0.0.1:{plain}");
    let topic = format!("ssl-{}", std::process::id());
    tansu_cli(&tansu_bin, &dir, &["topic", "create", "--broker", &broker, "--partitions", "1", &topic]);
    let _s = stunnel(&stunnel_bin, &dir, tls, plain, &certs.server, None);
    let out = produce(
        cfg(&format!("127.0.0.1:{tls}"), &[("security.protocol", "SSL"), ("ssl.ca.location", &ca)]),
        &topic,
        &values("ssl", 200),
    );
    let offsets: Vec<i64> = out.iter().map(|r| r.as_ref().expect("SSL produce").offset).collect();
    assert_eq!(offsets, (0..200).collect::<Vec<i64>>());

    // Bootstrap through a listener whose certificate names another host: accepted only with
    // ssl.endpoint.identification.algorithm empty (the broker it advertises is the good one).
    let _s2 = stunnel(&stunnel_bin, &dir, tls_wrong_name, plain, &certs.wrong_name, None);
    let out = produce(
        cfg(
            &format!("127.0.0.1:{tls_wrong_name}"),
            &[
                ("security.protocol", "SSL"),
                ("ssl.ca.location", &ca),
                ("ssl.endpoint.identification.algorithm", ""),
            ],
        ),
        &topic,
        &values("noverify", 5),
    );
    assert!(out.iter().all(|r| r.is_ok()), "{out:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A self-signed certificate made the usual way, `openssl req -x509` (which marks it CA:TRUE).
fn openssl_self_signed(openssl: &Path, dir: &Path, name: &str, san: &str) -> Pem {
    let p = Pem { cert: dir.join(format!("{name}.pem")), key: dir.join(format!("{name}.key")) };
    let out = Command::new(openssl)
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"])
        .args(["-days", "2", "-subj", &format!("/CN={name}"), "-addext", &format!("subjectAltName={san}")])
        .arg("-keyout")
        .arg(&p.key)
        .arg("-out")
        .arg(&p.cert)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl req -x509 failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = Command::new(openssl).args(["x509", "-noout", "-text", "-in"]).arg(&p.cert).output().unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("CA:TRUE"), "openssl made no CA certificate");
    p
}

/// The broker's certificate is `openssl req -x509`'s self-signed one (CA:TRUE), and the same
/// file is `ssl.ca.location`: records reach Tansu through stunnel, as they do with Java and
/// librdkafka. A different self-signed certificate configured instead is refused, and so is the
/// right one for a host name it does not carry: typed, fatal TLS errors.
#[test]
fn self_signed_broker_certificate_configured_as_the_ca_is_trusted_for_its_names_only() {
    let stunnel_bin = require("stunnel4", stunnel_bin());
    let tansu_bin = require("tansu", any_tansu());
    let openssl = require("openssl", Some(PathBuf::from("/usr/bin/openssl")).filter(|p| p.is_file()));
    let dir = tmpdir("selfsigned");
    let broker_cert = openssl_self_signed(&openssl, &dir, "broker", "DNS:localhost,IP:127.0.0.1");
    let other_cert = openssl_self_signed(&openssl, &dir, "other", "DNS:localhost,IP:127.0.0.1");
    let wrong_name = openssl_self_signed(&openssl, &dir, "wrong-name", "DNS:broker.wrong.example");
    let (plain, tls) = (free_port(), free_port());
    let _t = tansu_on(&tansu_bin, &dir, plain, tls, false, "memory://tansu/");
    let topic = format!("self-signed-{}", std::process::id());
    let broker = format!("tcp://127.0.0.1:{plain}");
    tansu_cli(&tansu_bin, &dir, &["topic", "create", "--broker", &broker, "--partitions", "1", &topic]);
    let _s = stunnel(&stunnel_bin, &dir, tls, plain, &broker_cert, None);
    let ca = broker_cert.cert.to_str().unwrap();
    let out = produce(
        cfg(&format!("127.0.0.1:{tls}"), &[("security.protocol", "SSL"), ("ssl.ca.location", ca)]),
        &topic,
        &values("self-signed", 20),
    );
    let offsets: Vec<i64> = out.iter().map(|r| r.as_ref().expect("SSL produce").offset).collect();
    assert_eq!(offsets, (0..20).collect::<Vec<i64>>());

    check_fatal_tls(tls, "another self-signed certificate", &other_cert.cert, "ssl.ca.location");
    let port = free_port();
    let _s2 = stunnel(&stunnel_bin, &dir, port, plain, &wrong_name, None);
    check_fatal_tls(port, "self-signed, another host name", &wrong_name.cert, "not valid for name");
    let _ = std::fs::remove_dir_all(&dir);
}

/// SSL, SASL_PLAINTEXT (SCRAM-SHA-512), SASL_SSL (SCRAM-SHA-512), mutual TLS, and a wrong
/// password, against Tansu (libsql build) with stunnel in front. What was written is read back
/// by librdkafka after a restart without authentication on the same storage.
#[test]
fn ssl_sasl_plaintext_sasl_ssl_and_mtls_deliver_to_tansu_and_a_wrong_password_is_fatal() {
    let stunnel_bin = require("stunnel4", stunnel_bin());
    let tansu_bin = require("Tansu 0.6.0 built with libsql", libsql_tansu());
    let dir = tmpdir("tansu");
    let certs = make_certs(&dir);
    let ca = certs.ca.to_str().unwrap().to_string();
    let topic = format!("sec-{}", std::process::id());

    // 1. No authentication: create the topic and the SCRAM-SHA-512 user.
    let plain = free_port();
    {
        let _t = tansu(&tansu_bin, &dir, plain, plain, false);
        let broker = format!("tcp://127.0.0.1:{plain}");
        tansu_cli(&tansu_bin, &dir, &["topic", "create", "--broker", &broker, "--partitions", "1", &topic]);
        tansu_cli(&tansu_bin, &dir, &["user", "create", "--broker", &broker, "alice", "alice-secret"]);
    }

    // 2. TLS without SASL: stunnel on `tls` in front of Tansu, which advertises `tls`.
    let tls = free_port();
    {
        let plain = free_port();
        let _t = tansu(&tansu_bin, &dir, plain, tls, false);
        let _s = stunnel(&stunnel_bin, &dir, tls, plain, &certs.server, None);
        let out = produce(
            cfg(&format!("127.0.0.1:{tls}"), &[("security.protocol", "SSL"), ("ssl.ca.location", &ca)]),
            &topic,
            &values("ssl", 10),
        );
        assert!(out.iter().all(|r| r.is_ok()), "SSL: {out:?}");
    }

    // 3. With --authentication.
    let tls = free_port();
    let plain = free_port();
    {
        // Advertising the plain port: SASL_PLAINTEXT, and a wrong password.
        let _t = tansu(&tansu_bin, &dir, plain, plain, true);
        let bootstrap = format!("127.0.0.1:{plain}");
        let sasl = [
            ("security.protocol", "SASL_PLAINTEXT"),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "alice"),
        ];
        let mut ok = sasl.to_vec();
        ok.push(("sasl.password", "alice-secret"));
        let out = produce(cfg(&bootstrap, &ok), &topic, &values("sasl-plaintext", 10));
        assert!(out.iter().all(|r| r.is_ok()), "SASL_PLAINTEXT: {out:?}");

        let mut bad = sasl.to_vec();
        bad.push(("sasl.password", "not-the-password"));
        // Through a proxy that counts connections: one, and no reconnect storm afterwards.
        let (proxy, connections) = counting_proxy(plain);
        let bootstrap = format!("127.0.0.1:{proxy}");
        let started = Instant::now();
        let p = Producer::new(cfg(&bootstrap, &bad)).unwrap();
        let futures: Vec<_> = values("wrong-password", 5)
            .into_iter()
            .map(|v| p.send(ProducerRecord::new(&topic, v.into_bytes())).unwrap())
            .collect();
        let mut out: Vec<_> = futures.into_iter().map(|f| f.wait()).collect();
        assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
        // Two seconds in which a reconnect storm would show (the behaviour under test: the
        // connection count below), then a send after the failure fails at once, the same way.
        std::thread::sleep(Duration::from_secs(2));
        out.push(p.send(ProducerRecord::new(&topic, b"late".to_vec())).unwrap().wait());
        p.close(Duration::from_secs(5));
        assert_eq!(
            connections.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "reconnected after auth failure"
        );
        for r in out {
            match r {
                Err(e @ ProduceError::Authentication(_)) => {
                    assert!(!e.is_retriable());
                    let s = e.to_string();
                    eprintln!("wrong password: {s}");
                    assert!(!s.contains("not-the-password"), "password in the error: {s}");
                    assert!(s.contains(&bootstrap), "error does not name the broker: {s}");
                }
                other => panic!("wrong password: expected an authentication error, got {other:?}"),
            }
        }
    }
    {
        // Advertising the TLS port: SASL_SSL, and SASL_SSL with a client certificate (mTLS).
        let _t = tansu(&tansu_bin, &dir, plain, tls, true);
        let _s = stunnel(&stunnel_bin, &dir, tls, plain, &certs.server, None);
        let props = [
            ("security.protocol", "SASL_SSL"),
            ("ssl.ca.location", ca.as_str()),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "alice"),
            ("sasl.password", "alice-secret"),
        ];
        let out = produce(cfg(&format!("127.0.0.1:{tls}"), &props), &topic, &values("sasl-ssl", 10));
        assert!(out.iter().all(|r| r.is_ok()), "SASL_SSL: {out:?}");
    }
    {
        let _t = tansu(&tansu_bin, &dir, plain, tls, true);
        let _s = stunnel(&stunnel_bin, &dir, tls, plain, &certs.server, Some(&certs.ca));
        let props = [
            ("security.protocol", "SASL_SSL"),
            ("ssl.ca.location", ca.as_str()),
            ("ssl.certificate.location", certs.client.cert.to_str().unwrap()),
            ("ssl.key.location", certs.client.key.to_str().unwrap()),
            ("sasl.mechanism", "SCRAM-SHA-512"),
            ("sasl.username", "alice"),
            ("sasl.password", "alice-secret"),
        ];
        let out = produce(cfg(&format!("127.0.0.1:{tls}"), &props), &topic, &values("mtls", 5));
        assert!(out.iter().all(|r| r.is_ok()), "SASL_SSL with a client certificate: {out:?}");
    }

    // 4. Read everything back with librdkafka, plaintext, authentication off.
    let plain = free_port();
    let _t = tansu(&tansu_bin, &dir, plain, plain, false);
    let mut expected = values("ssl", 10);
    expected.extend(values("sasl-plaintext", 10));
    expected.extend(values("sasl-ssl", 10));
    expected.extend(values("mtls", 5));
    let got = consume(&format!("127.0.0.1:{plain}"), &topic, expected.len());
    assert_eq!(got, expected);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn debug_output_redacts_the_password() {
    let c = cfg(
        "127.0.0.1:9092",
        &[("security.protocol", "SASL_SSL"), ("sasl.username", "alice"), ("sasl.password", "s3cr3t-pw")],
    );
    let d = format!("{c:?}");
    assert!(!d.contains("s3cr3t-pw"), "{d}");
    assert!(d.contains("[redacted]"), "{d}");
    // A bad value of another key never echoes the password either.
    let e = ProducerConfig::from_properties([
        ("bootstrap.servers", "x:1"),
        ("security.protocol", "SASL_SSL"),
        ("sasl.mechanism", "PLAIN"),
        ("sasl.username", ""),
    ])
    .unwrap_err();
    assert_eq!(e.key, "sasl.username");
}

/// A CA file that cannot be read stops the producer from starting, naming the setting.
#[test]
fn unreadable_ca_file_is_a_start_error_naming_the_setting() {
    let c = cfg(
        "127.0.0.1:9093",
        &[("security.protocol", "SSL"), ("ssl.ca.location", "/nonexistent/ringkafka-ca.pem")],
    );
    let e = Producer::new(c).expect_err("must not start");
    assert!(e.to_string().contains("ssl.ca.location"), "{e}");
}
