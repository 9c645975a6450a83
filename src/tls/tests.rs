use super::certs::CertAuthority;
use super::*;

struct Files {
    dir: tempfile::TempDir,
    ca: CertAuthority,
}

impl Files {
    fn new() -> Files {
        let dir = tempfile::tempdir().unwrap();
        let ca = CertAuthority::new("test CA").unwrap();
        ca.write(dir.path()).unwrap();
        ca.node(1, &[]).unwrap().write(dir.path(), "node").unwrap();
        Files { dir, ca }
    }

    fn settings(&self) -> TlsSettings {
        TlsSettings {
            cert_file: self.dir.path().join("node.crt"),
            key_file: self.dir.path().join("node.key"),
            ca_cert_file: Some(self.dir.path().join("ca.crt")),
            auth_clients: ClientAuth::Yes,
            protocols: None,
            ciphersuites: None,
            cluster: true,
            node_id: 1,
        }
    }
}

#[test]
fn loads_generated_certificates_with_peer_configs() {
    let files = Files::new();
    let state = TlsState::load(files.settings()).unwrap();
    assert!(state.peer_acceptor().is_some());
    assert!(state.peer_connector().is_some());
    let mut plain = files.settings();
    plain.cluster = false;
    assert!(TlsState::load(plain).unwrap().peer_acceptor().is_none());
}

#[test]
fn cluster_mode_needs_a_certificate_naming_this_node() {
    let files = Files::new();
    let mut settings = files.settings();
    settings.node_id = 2;
    let error = TlsState::load(settings).unwrap_err();
    assert!(error.contains("tandem-node-2"), "{error}");
}

#[test]
fn client_auth_without_a_ca_is_refused_but_no_is_fine() {
    let files = Files::new();
    let mut settings = files.settings();
    settings.cluster = false;
    settings.ca_cert_file = None;
    let error = TlsState::load(settings.clone()).unwrap_err();
    assert!(error.contains("tls-ca-cert-file"), "{error}");
    settings.auth_clients = ClientAuth::No;
    TlsState::load(settings).unwrap();
}

#[test]
fn a_bad_reload_keeps_the_old_configuration_and_a_good_one_counts() {
    let files = Files::new();
    let state = TlsState::load(files.settings()).unwrap();
    assert!(!state.files_changed());
    std::fs::write(files.dir.path().join("node.key"), "not a key").unwrap();
    assert!(state.files_changed());
    assert!(state.reload().is_err());
    assert_eq!(state.reloads(), 0);
    assert!(
        !state.files_changed(),
        "a failed load is not retried until a file changes"
    );
    files
        .ca
        .node(1, &[])
        .unwrap()
        .write(files.dir.path(), "node")
        .unwrap();
    state.reload().unwrap();
    assert_eq!(state.reloads(), 1);
}

#[test]
fn protocols_and_suites_parse_like_redis_names() {
    assert_eq!(protocol_versions(Some("TLSv1.2 TLSv1.3")).unwrap().len(), 2);
    assert_eq!(protocol_versions(Some("tlsv1.3")).unwrap().len(), 1);
    assert!(protocol_versions(Some("TLSv1.1")).is_err());
    assert!(protocol_versions(Some("")).is_err());
    let files = Files::new();
    let mut settings = files.settings();
    settings.ciphersuites = Some("TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256".into());
    TlsState::load(settings.clone()).unwrap();
    settings.ciphersuites = Some("TLS_NOPE".into());
    assert!(TlsState::load(settings).unwrap_err().contains("TLS_NOPE"));
}

#[test]
fn node_identity_is_the_certificate_name() {
    let ca = CertAuthority::new("ca").unwrap();
    let cert = ca.node(3, &[]).unwrap();
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(cert.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .unwrap();
    certificate_names_node(&chain, 3).unwrap();
    assert!(certificate_names_node(&chain, 4).is_err());
    assert!(certificate_names_node(&chain, 33).is_err());
    assert!(certificate_names_node(&[], 3).is_err());
}
