//! Throwaway certificates made with rcgen: a CA that signs node and client certificates, for
//! `tandem demo --tls` and for tests. Not a PKI: keys live in memory and in the files written.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A self-signed certificate authority.
pub struct CertAuthority {
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and its private key, both PEM.
#[derive(Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl CertAuthority {
    /// A new CA whose common name is `name`.
    pub fn new(name: &str) -> Result<CertAuthority, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(CertAuthority {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate (what `tls-ca-cert-file` and `redis-cli --cacert` point at).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// A certificate for any of `names` (DNS names or IP addresses), valid both to serve and
    /// to authenticate as a client.
    pub fn issue(&self, common_name: &str, names: &[String]) -> Result<Issued, rcgen::Error> {
        let mut params = CertificateParams::new(names.to_vec())?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// A member's certificate: `tandem-node-<id>` (its peer identity), `localhost`, 127.0.0.1
    /// and ::1 (so clients on loopback can verify it), plus `extra_names`.
    pub fn node(&self, id: u64, extra_names: &[String]) -> Result<Issued, rcgen::Error> {
        let mut names = vec![
            super::node_name(id),
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ];
        names.extend(extra_names.iter().cloned());
        self.issue(&super::node_name(id), &names)
    }

    /// Writes `ca.crt` in `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let path = dir.join("ca.crt");
        std::fs::write(&path, &self.cert_pem)?;
        Ok(path)
    }
}

impl Issued {
    /// Writes `<stem>.crt` and `<stem>.key` (mode 0600) in `dir`; returns their paths. Each
    /// file is written whole under a temporary name, then renamed, so a reloading node never
    /// reads half a file.
    pub fn write(&self, dir: &Path, stem: &str) -> std::io::Result<(PathBuf, PathBuf)> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let cert = dir.join(format!("{stem}.crt"));
        let key = dir.join(format!("{stem}.key"));
        let write = |path: &Path, text: &str, mode: u32| -> std::io::Result<()> {
            let temporary = path.with_extension("tmp");
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .mode(mode)
                .open(&temporary)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            std::fs::rename(&temporary, path)
        };
        write(&key, &self.key_pem, 0o600)?;
        write(&cert, &self.cert_pem, 0o644)?;
        Ok((cert, key))
    }
}
