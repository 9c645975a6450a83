//! TLS for the client listener and the peer transport (rustls with the ring provider).
//!
//! `TlsState` holds what the `tls-*` settings built: the client listener's acceptor and, with
//! `tls-cluster yes`, the peer transport's acceptor (client certificates required) and
//! connector. Invariants: a connection takes the current configuration when it starts, so a
//! reload affects new connections only; a reload that fails (unreadable file, key that does not
//! match the certificate, ...) is logged and the previous configuration stays in use. A peer's
//! identity is the DNS name `tandem-node-<id>` in its certificate's subject alternative names
//! (docs/operations.md, "TLS").

pub mod certs;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, SupportedProtocolVersion};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Prefix of the certificate name that identifies a cluster member: `tandem-node-<id>`.
pub const NODE_NAME_PREFIX: &str = "tandem-node-";

/// How often the certificate files are checked for changes.
pub const RELOAD_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// The DNS name a member's certificate must carry (and that peers verify when they dial it).
pub fn node_name(id: u64) -> String {
    format!("{NODE_NAME_PREFIX}{id}")
}

/// Redis's `tls-auth-clients`: whether clients of the TLS port must present a certificate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    No,
    /// A certificate signed by `tls-ca-cert-file` is required (Redis's default).
    #[default]
    Yes,
    /// A certificate is asked for and verified if sent, but a client may send none.
    Optional,
}

impl std::str::FromStr for ClientAuth {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "no" => Ok(ClientAuth::No),
            "yes" => Ok(ClientAuth::Yes),
            "optional" => Ok(ClientAuth::Optional),
            _ => Err(format!(
                "tls-auth-clients must be no, yes or optional, not {text:?}"
            )),
        }
    }
}

impl std::fmt::Display for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ClientAuth::No => "no",
            ClientAuth::Yes => "yes",
            ClientAuth::Optional => "optional",
        })
    }
}

/// What the `tls-*` settings say; everything a [`TlsState`] is built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// This node's certificate chain (PEM), leaf first.
    pub cert_file: PathBuf,
    /// The private key of the leaf certificate (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// CA certificates (PEM) that sign client and peer certificates.
    pub ca_cert_file: Option<PathBuf>,
    pub auth_clients: ClientAuth,
    /// Redis's `tls-protocols`: space-separated `TLSv1.2` / `TLSv1.3`; None = both.
    pub protocols: Option<String>,
    /// Allowed cipher suites, colon- or space-separated IANA names (TLS 1.3 and 1.2); None =
    /// every suite of the ring provider.
    pub ciphersuites: Option<String>,
    /// `tls-cluster yes`: the peer transport runs over mutual TLS with these files.
    pub cluster: bool,
    /// This node's id: with `cluster`, its certificate must name `tandem-node-<id>`.
    pub node_id: u64,
}

impl TlsSettings {
    fn files(&self) -> Vec<&Path> {
        let mut files = vec![self.cert_file.as_path(), self.key_file.as_path()];
        files.extend(self.ca_cert_file.as_deref());
        files
    }
}

/// The configurations built from one reading of the files.
struct Built {
    client: TlsAcceptor,
    peer: Option<PeerTlsConfigs>,
}

#[derive(Clone)]
struct PeerTlsConfigs {
    acceptor: TlsAcceptor,
    connector: TlsConnector,
}

/// The live TLS configuration of a node; see the module comment.
pub struct TlsState {
    settings: TlsSettings,
    built: RwLock<Arc<Built>>,
    /// Modification time and length of each file at the last (attempted) load.
    stamps: Mutex<Vec<Option<(SystemTime, u64)>>>,
    reloads: AtomicU64,
}

impl std::fmt::Debug for TlsState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsState")
            .field("settings", &self.settings)
            .field("reloads", &self.reloads())
            .finish()
    }
}

impl TlsState {
    /// Reads the files and builds every configuration, or says what is wrong.
    pub fn load(settings: TlsSettings) -> Result<TlsState, String> {
        let stamps = stamps(&settings);
        let built = build(&settings)?;
        Ok(TlsState {
            settings,
            built: RwLock::new(Arc::new(built)),
            stamps: Mutex::new(stamps),
            reloads: AtomicU64::new(0),
        })
    }

    pub fn settings(&self) -> &TlsSettings {
        &self.settings
    }

    /// Successful reloads since start.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }

    fn current(&self) -> Arc<Built> {
        self.built
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The acceptor for a new client connection on the TLS port.
    pub fn client_acceptor(&self) -> TlsAcceptor {
        self.current().client.clone()
    }

    /// The acceptor for a new peer connection (None without `tls-cluster`).
    pub fn peer_acceptor(&self) -> Option<TlsAcceptor> {
        self.current().peer.as_ref().map(|p| p.acceptor.clone())
    }

    /// The connector for dialing a peer (None without `tls-cluster`).
    pub fn peer_connector(&self) -> Option<TlsConnector> {
        self.current().peer.as_ref().map(|p| p.connector.clone())
    }

    /// Rebuilds from the files; on failure the current configuration stays and the reason is
    /// returned.
    pub fn reload(&self) -> Result<(), String> {
        *self.stamps.lock().unwrap_or_else(PoisonError::into_inner) = stamps(&self.settings);
        let built = build(&self.settings)?;
        *self.built.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(built);
        self.reloads.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// True when a file's modification time or length differs from the last load.
    pub fn files_changed(&self) -> bool {
        *self.stamps.lock().unwrap_or_else(PoisonError::into_inner) != stamps(&self.settings)
    }

    /// Reloads and logs the outcome; `why` names the trigger.
    pub fn reload_logged(&self, why: &str) {
        match self.reload() {
            Ok(()) => tracing::info!(trigger = why, "TLS certificates reloaded"),
            Err(reason) => tracing::warn!(
                trigger = why,
                %reason,
                "TLS reload failed; the previous certificates stay in use"
            ),
        }
    }
}

/// Reloads `state` on SIGHUP and whenever one of its files changes (checked every
/// [`RELOAD_POLL_INTERVAL`]), until the runtime stops.
pub fn spawn_reloader(state: Arc<TlsState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(hangup) => Some(hangup),
            Err(error) => {
                tracing::warn!(%error, "no SIGHUP handler; TLS files are still polled");
                None
            }
        };
        loop {
            let signalled = async {
                match &mut hangup {
                    Some(hangup) => hangup.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = signalled => state.reload_logged("SIGHUP"),
                () = tokio::time::sleep(RELOAD_POLL_INTERVAL) => {
                    if state.files_changed() {
                        state.reload_logged("file change");
                    }
                }
            }
        }
    })
}

fn stamps(settings: &TlsSettings) -> Vec<Option<(SystemTime, u64)>> {
    settings
        .files()
        .into_iter()
        .map(|path| {
            let meta = std::fs::metadata(path).ok()?;
            Some((meta.modified().ok()?, meta.len()))
        })
        .collect()
}

fn read_certs(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read {what} {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{what} {} holds no PEM certificate",
            path.display()
        ));
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| format!("cannot read tls-key-file {}: {e}", path.display()))
}

fn read_roots(path: &Path) -> Result<Arc<RootCertStore>, String> {
    let mut roots = RootCertStore::empty();
    for cert in read_certs(path, "tls-ca-cert-file")? {
        roots
            .add(cert)
            .map_err(|e| format!("tls-ca-cert-file {}: {e}", path.display()))?;
    }
    Ok(Arc::new(roots))
}

/// `tls-protocols` as rustls versions.
fn protocol_versions(text: Option<&str>) -> Result<Vec<&'static SupportedProtocolVersion>, String> {
    let Some(text) = text else {
        return Ok(vec![&rustls::version::TLS13, &rustls::version::TLS12]);
    };
    let mut versions = Vec::new();
    for word in text.split_whitespace() {
        let version = match word.to_ascii_lowercase().as_str() {
            "tlsv1.2" => &rustls::version::TLS12,
            "tlsv1.3" => &rustls::version::TLS13,
            "tlsv1" | "tlsv1.1" => {
                return Err(format!(
                    "tls-protocols: {word} is not supported (only TLSv1.2 and TLSv1.3)"
                ))
            }
            _ => return Err(format!("tls-protocols: unknown protocol {word:?}")),
        };
        if !versions.contains(&version) {
            versions.push(version);
        }
    }
    if versions.is_empty() {
        return Err("tls-protocols names no protocol".into());
    }
    Ok(versions)
}

/// The IANA name of a suite (rustls spells TLS 1.3 suites `TLS13_...`).
fn suite_name(suite: &rustls::SupportedCipherSuite) -> String {
    let name = format!("{:?}", suite.suite());
    match name.strip_prefix("TLS13_") {
        Some(rest) => format!("TLS_{rest}"),
        None => name,
    }
}

/// The ring provider, keeping only the suites `tls-ciphersuites` names.
fn provider(settings: &TlsSettings) -> Result<Arc<CryptoProvider>, String> {
    let mut provider = rustls::crypto::ring::default_provider();
    if let Some(text) = &settings.ciphersuites {
        let wanted: Vec<String> = text
            .split(|c: char| c == ':' || c.is_whitespace())
            .filter(|w| !w.is_empty())
            .map(str::to_ascii_uppercase)
            .collect();
        for name in &wanted {
            if !provider
                .cipher_suites
                .iter()
                .any(|s| &suite_name(s) == name)
            {
                let known: Vec<String> = provider.cipher_suites.iter().map(suite_name).collect();
                return Err(format!(
                    "tls-ciphersuites: unknown suite {name} (known: {})",
                    known.join(" ")
                ));
            }
        }
        provider
            .cipher_suites
            .retain(|s| wanted.contains(&suite_name(s)));
    }
    Ok(Arc::new(provider))
}

fn build(settings: &TlsSettings) -> Result<Built, String> {
    let provider = provider(settings)?;
    let versions = protocol_versions(settings.protocols.as_deref())?;
    let certs = read_certs(&settings.cert_file, "tls-cert-file")?;
    let key = read_key(&settings.key_file)?;
    let roots = settings
        .ca_cert_file
        .as_deref()
        .map(read_roots)
        .transpose()?;
    let tls_error = |what: &str, e: rustls::Error| format!("{what}: {e}");

    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| tls_error("tls-protocols / tls-ciphersuites", e))?;
    let builder = match (settings.auth_clients, &roots) {
        (ClientAuth::No, _) => builder.with_no_client_auth(),
        (auth, Some(roots)) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone());
            let verifier = if auth == ClientAuth::Optional {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            let verifier = verifier
                .build()
                .map_err(|e| format!("tls-ca-cert-file: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
        (auth, None) => {
            return Err(format!(
                "tls-auth-clients {auth} needs tls-ca-cert-file (or set tls-auth-clients no)"
            ))
        }
    };
    let client = builder
        .with_single_cert(certs.clone(), key.clone_key())
        .map_err(|e| tls_error("tls-cert-file / tls-key-file", e))?;

    let peer = if settings.cluster {
        let Some(roots) = roots else {
            return Err("tls-cluster yes needs tls-ca-cert-file".into());
        };
        certificate_names_node(&certs, settings.node_id).map_err(|reason| {
            format!(
                "tls-cluster yes: tls-cert-file {} cannot identify node {}: {reason}",
                settings.cert_file.display(),
                settings.node_id
            )
        })?;
        let verifier = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| format!("tls-ca-cert-file: {e}"))?;
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| tls_error("tls-protocols", e))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs.clone(), key.clone_key())
            .map_err(|e| tls_error("tls-cert-file / tls-key-file", e))?;
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&versions)
            .map_err(|e| tls_error("tls-protocols", e))?
            .with_root_certificates(roots)
            .with_client_auth_cert(certs, key)
            .map_err(|e| tls_error("tls-cert-file / tls-key-file", e))?;
        Some(PeerTlsConfigs {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            connector: TlsConnector::from(Arc::new(client)),
        })
    } else {
        None
    };
    Ok(Built {
        client: TlsAcceptor::from(Arc::new(client)),
        peer,
    })
}

/// A connector for a RESP client (`tandem bench --tls`): trusts the CAs in `ca_cert_file` and,
/// with `identity` (certificate chain, key), presents that client certificate.
pub fn client_connector(
    ca_cert_file: &Path,
    identity: Option<(&Path, &Path)>,
) -> Result<TlsConnector, String> {
    let roots = read_roots(ca_cert_file)?;
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("tls: {e}"))?
    .with_root_certificates(roots);
    let config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(read_certs(cert, "tls-cert-file")?, read_key(key)?)
            .map_err(|e| format!("tls-cert-file / tls-key-file: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Checks that the leaf of `chain` names member `id` (`tandem-node-<id>` among its DNS subject
/// alternative names). The chain itself was already verified against the CA by rustls.
pub fn certificate_names_node(chain: &[CertificateDer<'_>], id: u64) -> Result<(), String> {
    let Some(leaf) = chain.first() else {
        return Err("no certificate was presented".into());
    };
    let name = node_name(id);
    let server_name =
        ServerName::try_from(name.as_str()).map_err(|e| format!("bad node name {name}: {e}"))?;
    let cert = webpki::EndEntityCert::try_from(leaf)
        .map_err(|e| format!("unparsable certificate: {e}"))?;
    cert.verify_is_valid_for_subject_name(&server_name)
        .map_err(|_| format!("the certificate does not name {name}"))
}

/// The name a peer's certificate must carry when this node dials member `id`.
pub fn node_server_name(id: u64) -> ServerName<'static> {
    ServerName::try_from(node_name(id))
        .unwrap_or_else(|_| unreachable!("tandem-node-<digits> is always a valid DNS name"))
}

#[cfg(test)]
mod tests;
