//! The client's side of the TCP listener's TLS: the CA that issued the server's
//! certificate, and the client's own certificate and key (mutual TLS 1.3, ring as the
//! crypto provider). The server's certificate must name the host of the URL (DNS name or
//! IP address in its subject alternative names).

use rustls::{
    crypto::ring,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName},
    ClientConfig, ClientConnection, RootCertStore,
};
use std::{
    io,
    path::{Path, PathBuf},
    sync::Arc,
};

/// A TLS file could not be used.
#[derive(Debug, thiserror::Error)]
#[error("{}: cannot {what}: {reason}", path.display())]
pub struct TlsFileError {
    /// The file.
    pub path: PathBuf,
    /// What was tried.
    pub what: &'static str,
    /// Why it failed.
    pub reason: String,
}

/// Who the client is and whom it trusts, for [`crate::TcpAuthentication::Tls`].
#[derive(Clone)]
pub struct TlsIdentity {
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsIdentity")
    }
}

fn fail<'a>(path: &'a Path, what: &'static str) -> impl Fn(String) -> TlsFileError + 'a {
    move |reason| TlsFileError {
        path: path.to_owned(),
        what,
        reason,
    }
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let read = fail(path, "read the certificates");
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| read(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read(e.to_string()))?;
    if certificates.is_empty() {
        return Err(read("no PEM certificate in the file".into()));
    }
    Ok(certificates)
}

impl TlsIdentity {
    /// Read the CA certificates that issue servers' certificates (`ca`), the client's
    /// certificate chain (`certificate`, leaf first) and its private key (`key`), all PEM.
    pub fn load(ca: &Path, certificate: &Path, key: &Path) -> Result<TlsIdentity, TlsFileError> {
        let mut roots = RootCertStore::empty();
        for cert in certificates(ca)? {
            roots
                .add(cert)
                .map_err(|e| fail(ca, "use the CA certificate")(e.to_string()))?;
        }
        let chain = certificates(certificate)?;
        let private = PrivateKeyDer::from_pem_file(key)
            .map_err(|e| fail(key, "read the private key")(e.to_string()))?;
        let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| fail(certificate, "choose TLS 1.3")(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, private)
            .map_err(|e| fail(key, "use the certificate and its key")(e.to_string()))?;
        Ok(TlsIdentity {
            config: Arc::new(config),
        })
    }

    /// A new session with the server named `host`.
    pub(crate) fn session(&self, host: &str) -> io::Result<ClientConnection> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        ClientConnection::new(self.config.clone(), name).map_err(io::Error::other)
    }
}
