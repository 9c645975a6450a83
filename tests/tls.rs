//! TLS end to end: the `tls-port` listener with `redis-cli --tls`, the `redis` crate and plain
//! rustls; client certificate checks; certificate reload; a three-node cluster over mutual
//! TLS. Every certificate is made here with rcgen (tandem::tls::certs); no key is checked in.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster::Cluster;
use common::server::Tandem;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tandem::tls::certs::CertAuthority;

const RELOAD_TIMEOUT: Duration = Duration::from_secs(15);

/// A CA, node 1's certificate and a client certificate, written in a temp dir.
struct Pki {
    dir: tempfile::TempDir,
    ca: CertAuthority,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca = CertAuthority::new("tandem test CA").expect("CA");
        ca.write(dir.path()).expect("write CA");
        for id in 1..=3 {
            ca.node(id, &[])
                .expect("node cert")
                .write(dir.path(), &format!("node{id}"))
                .expect("write node cert");
        }
        ca.issue("client", &["client".to_string()])
            .expect("client cert")
            .write(dir.path(), "client")
            .expect("write client cert");
        Pki { dir, ca }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn text(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    /// Flags of a node serving `tls-port` with node `id`'s certificate.
    fn node_flags(&self, id: u64, auth_clients: &str) -> Vec<String> {
        vec![
            "--tls-port=0".to_string(),
            format!("--tls-cert-file={}", self.text(&format!("node{id}.crt"))),
            format!("--tls-key-file={}", self.text(&format!("node{id}.key"))),
            format!("--tls-ca-cert-file={}", self.text("ca.crt")),
            format!("--tls-auth-clients={auth_clients}"),
        ]
    }

    fn bytes(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).expect("read pem")
    }
}

fn start(pki: &Pki, name: &str, auth_clients: &str) -> Tandem {
    let flags = pki.node_flags(1, auth_clients);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let server = Tandem::start(name, &flags);
    assert!(
        server.tls.is_some(),
        "the ready line names the TLS listener"
    );
    server
}

/// A `redis` crate client over rustls to `addr`, with the client certificate unless `anonymous`.
fn redis_tls_client(pki: &Pki, addr: SocketAddr, anonymous: bool) -> redis::Client {
    let client_tls = (!anonymous).then(|| redis::ClientTlsConfig {
        client_cert: pki.bytes("client.crt"),
        client_key: pki.bytes("client.key"),
    });
    redis::Client::build_with_tls(
        format!("rediss://127.0.0.1:{}/", addr.port()),
        redis::TlsCertificates {
            client_tls,
            root_cert: Some(pki.bytes("ca.crt")),
        },
    )
    .expect("TLS client")
}

fn connect(client: &redis::Client) -> redis::RedisResult<redis::Connection> {
    client.get_connection_with_timeout(Duration::from_secs(5))
}

/// Connects with plain rustls (client certificate from `cert`/`key`), sends PING, and returns
/// the reply and the certificate the server presented.
fn rustls_ping(
    pki: &Pki,
    addr: SocketAddr,
    client: Option<(&str, &str)>,
) -> std::io::Result<(String, Vec<u8>)> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(pki.path("ca.crt")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots);
    let config = match client {
        Some((cert, key)) => {
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(pki.path(cert))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let key = PrivateKeyDer::from_pem_file(pki.path(key)).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    let mut connection =
        rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap())
            .map_err(std::io::Error::other)?;
    let mut socket = TcpStream::connect(addr)?;
    socket.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut stream = rustls::Stream::new(&mut connection, &mut socket);
    stream.write_all(b"PING\r\n")?;
    let mut reply = [0u8; 7];
    stream.read_exact(&mut reply)?;
    let presented = connection
        .peer_certificates()
        .and_then(|certs| certs.first())
        .map(|c| c.to_vec())
        .unwrap_or_default();
    Ok((String::from_utf8_lossy(&reply).into_owned(), presented))
}

fn pem_der(path: &Path) -> Vec<u8> {
    CertificateDer::pem_file_iter(path)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

#[test]
fn the_redis_crate_talks_tls_beside_the_plaintext_port() {
    let pki = Pki::new();
    let server = start(&pki, "tls-redis-crate", "yes");
    let tls = server.tls.unwrap();
    let mut connection = connect(&redis_tls_client(&pki, tls, false)).expect("TLS connect");
    let _: () = redis::cmd("SET")
        .arg("over")
        .arg("tls")
        .query(&mut connection)
        .unwrap();
    let big = "x".repeat(300_000);
    let _: () = redis::cmd("SET")
        .arg("big")
        .arg(&big)
        .query(&mut connection)
        .unwrap();
    let back: String = redis::cmd("GET").arg("big").query(&mut connection).unwrap();
    assert_eq!(back.len(), big.len(), "values larger than a TLS record");
    // A pipeline of many commands in one write.
    let mut pipe = redis::pipe();
    for i in 0..500 {
        pipe.cmd("INCR").arg("counter").ignore();
        pipe.cmd("GET").arg(format!("missing{i}")).ignore();
    }
    pipe.cmd("GET").arg("counter");
    let (counter,): (i64,) = pipe.query(&mut connection).unwrap();
    assert_eq!(counter, 500);
    // The plaintext port serves the same data.
    let plain = redis::Client::open(format!("redis://{}/", server.addr)).unwrap();
    let mut plain = plain.get_connection().unwrap();
    let value: String = redis::cmd("GET").arg("over").query(&mut plain).unwrap();
    assert_eq!(value, "tls");
    let auth: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("tls-auth-clients")
        .query(&mut connection)
        .unwrap();
    assert_eq!(auth, ["tls-auth-clients", "yes"]);
}

#[test]
fn redis_cli_tls_with_a_client_certificate() {
    let help = std::process::Command::new("redis-cli")
        .arg("--help")
        .output();
    let supports_tls = help
        .map(|out| {
            String::from_utf8_lossy(&out.stdout).contains("--tls")
                || String::from_utf8_lossy(&out.stderr).contains("--tls")
        })
        .unwrap_or(false);
    if !supports_tls {
        eprintln!("skipped: redis-cli is missing or built without TLS support");
        return;
    }
    let pki = Pki::new();
    let server = start(&pki, "tls-redis-cli", "yes");
    let tls = server.tls.unwrap();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new("redis-cli")
            .args(["--tls", "--cacert", &pki.text("ca.crt")])
            .args([
                "--cert",
                &pki.text("client.crt"),
                "--key",
                &pki.text("client.key"),
            ])
            .args(["-h", "127.0.0.1", "-p", &tls.port().to_string()])
            .args(args)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(cli(&["PING"]), "PONG");
    assert_eq!(cli(&["SET", "cli", "hello"]), "OK");
    assert_eq!(cli(&["GET", "cli"]), "hello");
    // Without a client certificate, tls-auth-clients yes refuses the connection.
    let out = std::process::Command::new("redis-cli")
        .args(["--tls", "--cacert", &pki.text("ca.crt")])
        .args(["-h", "127.0.0.1", "-p", &tls.port().to_string(), "PING"])
        .output()
        .expect("run redis-cli");
    assert_ne!(String::from_utf8_lossy(&out.stdout).trim(), "PONG");
}

#[test]
fn client_certificates_are_required_and_bad_clients_do_not_hurt_others() {
    let pki = Pki::new();
    let mut server = start(&pki, "tls-auth-yes", "yes");
    let tls = server.tls.unwrap();
    // No client certificate.
    let anonymous = connect(&redis_tls_client(&pki, tls, true))
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
    assert!(anonymous.is_err(), "{anonymous:?}");
    // A certificate from a CA the server does not trust.
    let other = CertAuthority::new("other CA").unwrap();
    other
        .issue("mallory", &["mallory".to_string()])
        .unwrap()
        .write(pki.dir.path(), "mallory")
        .unwrap();
    assert!(rustls_ping(&pki, tls, Some(("mallory.crt", "mallory.key"))).is_err());
    // Plaintext RESP sent to the TLS port is not a TLS handshake: the connection is closed.
    let mut raw = TcpStream::connect(tls).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
    let mut rest = Vec::new();
    let _ = raw.read_to_end(&mut rest);
    assert!(!rest.starts_with(b"+PONG"), "{rest:?}");
    // A good client is still served, on both ports.
    let (reply, _) = rustls_ping(&pki, tls, Some(("client.crt", "client.key"))).unwrap();
    assert_eq!(reply, "+PONG\r\n");
    server.assert_alive();
    let mut good = connect(&redis_tls_client(&pki, tls, false)).unwrap();
    let pong: String = redis::cmd("PING").query(&mut good).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn tls_auth_clients_optional_and_no_accept_anonymous_clients() {
    let pki = Pki::new();
    for mode in ["optional", "no"] {
        let server = start(&pki, &format!("tls-auth-{mode}"), mode);
        let tls = server.tls.unwrap();
        let (reply, _) = rustls_ping(&pki, tls, None).unwrap();
        assert_eq!(reply, "+PONG\r\n", "{mode}");
        if mode == "optional" {
            let (reply, _) = rustls_ping(&pki, tls, Some(("client.crt", "client.key"))).unwrap();
            assert_eq!(reply, "+PONG\r\n");
        }
    }
}

#[test]
fn certificates_reload_on_file_change_and_on_sighup_and_a_bad_file_is_ignored() {
    let pki = Pki::new();
    let server = start(&pki, "tls-reload", "yes");
    let tls = server.tls.unwrap();
    let client = Some(("client.crt", "client.key"));
    let (_, first) = rustls_ping(&pki, tls, client).unwrap();
    assert_eq!(first, pem_der(&pki.path("node1.crt")));

    // A new certificate written in place: picked up by the poller.
    pki.ca
        .node(1, &[])
        .unwrap()
        .write(pki.dir.path(), "node1")
        .unwrap();
    let second = pem_der(&pki.path("node1.crt"));
    assert_ne!(first, second);
    let deadline = Instant::now() + RELOAD_TIMEOUT;
    loop {
        let (reply, presented) = rustls_ping(&pki, tls, client).unwrap();
        assert_eq!(reply, "+PONG\r\n");
        if presented == second {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate was not picked up"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // A broken key file: logged, the current certificate stays in use.
    std::fs::write(
        pki.path("node1.key"),
        "-----BEGIN PRIVATE KEY-----\nbroken\n",
    )
    .unwrap();
    unsafe_kill(server.pid(), libc::SIGHUP);
    let deadline = Instant::now() + RELOAD_TIMEOUT;
    while !server.log_text().contains("TLS reload failed") {
        assert!(
            Instant::now() < deadline,
            "the failed reload was not logged"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (reply, presented) = rustls_ping(&pki, tls, client).unwrap();
    assert_eq!(reply, "+PONG\r\n");
    assert_eq!(presented, second);

    // A good pair again, then SIGHUP: reloaded at once.
    pki.ca
        .node(1, &[])
        .unwrap()
        .write(pki.dir.path(), "node1")
        .unwrap();
    let third = pem_der(&pki.path("node1.crt"));
    unsafe_kill(server.pid(), libc::SIGHUP);
    let deadline = Instant::now() + RELOAD_TIMEOUT;
    loop {
        let (_, presented) = rustls_ping(&pki, tls, client).unwrap();
        if presented == third {
            break;
        }
        assert!(Instant::now() < deadline, "SIGHUP did not reload");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn unsafe_kill(pid: u32, signal: i32) {
    // SAFETY: kill(2) on a child process this test started.
    let rc = unsafe { libc::kill(pid as i32, signal) };
    assert_eq!(rc, 0, "kill");
}

#[test]
fn three_nodes_over_mutual_tls_elect_replicate_and_stay_digest_equal() {
    let pki = Pki::new();
    let cluster = Cluster::start_with("tls-cluster", &["a", "b", "c"], |id| {
        let mut flags = pki.node_flags(id, "yes");
        flags.push("--tls-cluster=yes".to_string());
        flags
    });
    let leader = cluster.wait_for_leader(Duration::from_secs(30));
    let mut connection = cluster.client(leader);
    for i in 0..200 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut connection)
            .unwrap();
    }
    let reports = cluster.wait_for_convergence(Duration::from_secs(30));
    assert!(reports.windows(2).all(|w| w[0] == w[1]), "{reports:?}");
    // A follower serves over TLS too, with the replicated data (linearizable read).
    let follower = (leader + 1) % 3;
    let tls = cluster.server(follower).tls.unwrap();
    let mut over_tls = connect(&redis_tls_client(&pki, tls, false)).unwrap();
    let value: i64 = redis::cmd("GET").arg("k199").query(&mut over_tls).unwrap();
    assert_eq!(value, 199);
    // The peers really are on TLS: a plaintext peer handshake to a node is refused.
    let peer = cluster.members[follower].peer_port;
    let mut raw = TcpStream::connect(("127.0.0.1", peer)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    raw.write_all(b"TNDMPEER-not-a-tls-client-hello").unwrap();
    let mut rest = Vec::new();
    let _ = raw.read_to_end(&mut rest);
    assert!(!rest.windows(9).any(|w| w == b"CHALLENGE"));
}
