//! The TCP listener (feature `tls`): the server's TLS configuration from `[api.tcp]`
//! (TLS 1.3 only, client certificates required and verified against the configured CA,
//! ring as the crypto provider), the sessions, and the client certificate's common name,
//! which chooses its grants.
//!
//! A session is non-blocking: its records are read and written as the connection is, its
//! handshake runs inside the connection's handshake time limit.

use super::Error;
use crate::config::TcpConfig;
use rustls::{
    crypto::ring,
    pki_types::{pem::PemObject, CertificateDer, CertificateRevocationListDer, PrivateKeyDer},
    server::WebPkiClientVerifier,
    RootCertStore, ServerConfig, ServerConnection,
};
use std::{
    io::{self, ErrorKind, Read, Write},
    net::{IpAddr, TcpListener, TcpStream},
    os::fd::{AsFd, BorrowedFd},
    path::Path,
    sync::Arc,
};

/// The TCP listener, its TLS configuration and its settings.
pub(super) struct TcpListening {
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    config: TcpConfig,
}

/// Read the TLS files and bind the listener of `config`.
pub(super) fn listen(config: &TcpConfig) -> Result<TcpListening, Error> {
    Ok(TcpListening {
        tls: server_config(config)?,
        listener: super::listener::bind_tcp(config)?,
        config: config.clone(),
    })
}

impl TcpListening {
    pub(super) fn listener(&self) -> &TcpListener {
        &self.listener
    }

    pub(super) fn config(&self) -> &TcpConfig {
        &self.config
    }

    /// A new server session on an accepted connection.
    pub(super) fn session(&self, tcp: TcpStream, address: IpAddr) -> Result<Tls, String> {
        let session = ServerConnection::new(self.tls.clone()).map_err(|e| e.to_string())?;
        Ok(Tls {
            tcp,
            session,
            address,
            identified: false,
        })
    }
}

/// A TLS session over TCP.
#[derive(Debug)]
pub(super) struct Tls {
    tcp: TcpStream,
    session: ServerConnection,
    address: IpAddr,
    /// The identity was handed out.
    identified: bool,
}

impl Tls {
    /// Write the TLS records rustls holds until the socket takes no more.
    pub(super) fn flush(&mut self) -> io::Result<()> {
        while self.session.wants_write() {
            match self.session.write_tls(&mut self.tcp) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub(super) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.session.reader().read(buf) {
                Ok(n) => return Ok(n),
                // Closed without close_notify: the end all the same (frames carry their
                // own lengths, a cut one is never used).
                Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            match self.session.read_tls(&mut self.tcp) {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if let Err(e) = self.session.process_new_packets() {
                // Send the alert, if the socket takes it.
                let _ = self.flush();
                return Err(io::Error::new(ErrorKind::InvalidData, e));
            }
            // Handshake messages for the peer.
            self.flush()?;
        }
    }

    pub(super) fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        self.flush()?;
        if self.session.wants_write() || self.session.is_handshaking() {
            // Records still queued: bounded by the socket, not by rustls's buffer.
            return Err(ErrorKind::WouldBlock.into());
        }
        let n = self.session.writer().write(data)?;
        self.flush()?;
        Ok(n)
    }

    pub(super) fn wants_write(&self) -> bool {
        self.session.wants_write()
    }

    /// Once, when the handshake has completed: the client certificate's common name.
    pub(super) fn take_identity(&mut self) -> Option<Option<String>> {
        if self.identified || self.session.is_handshaking() {
            return None;
        }
        self.identified = true;
        let name = self
            .session
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|leaf| common_name(leaf));
        Some(name)
    }

    pub(super) fn address(&self) -> IpAddr {
        self.address
    }

    /// Send close_notify after a completed handshake (best effort).
    pub(super) fn close(&mut self) {
        if self.session.is_handshaking() {
            return;
        }
        self.session.send_close_notify();
        let _ = self.flush();
    }

    pub(super) fn set_nonblocking(&self) -> io::Result<()> {
        self.tcp.set_nonblocking(true)
    }

    pub(super) fn as_fd(&self) -> BorrowedFd<'_> {
        self.tcp.as_fd()
    }
}

fn tls_error(path: &Path, what: &'static str, reason: impl ToString) -> Error {
    Error::Tls {
        path: path.to_owned(),
        what,
        reason: reason.to_string(),
    }
}

/// Every PEM section of one kind in a file (`what`: what is read, for the error); none
/// is an error.
fn pem_file<T: PemObject>(path: &Path, what: &'static str) -> Result<Vec<T>, Error> {
    let items = T::pem_file_iter(path)
        .map_err(|e| tls_error(path, what, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_error(path, what, e))?;
    if items.is_empty() {
        return Err(tls_error(path, what, "no such PEM section in the file"));
    }
    Ok(items)
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    pem_file(path, "read the certificates")
}

/// The server's TLS configuration. Every file is read now: a missing or broken one is an
/// error naming it, before anything listens.
pub(super) fn server_config(tcp: &TcpConfig) -> Result<Arc<ServerConfig>, Error> {
    let provider = Arc::new(ring::default_provider());
    let mut roots = RootCertStore::empty();
    for ca in certificates(&tcp.client_ca)? {
        roots
            .add(ca)
            .map_err(|e| tls_error(&tcp.client_ca, "use the CA certificate", e))?;
    }
    let mut verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    if let Some(path) = &tcp.revocations {
        let lists: Vec<CertificateRevocationListDer<'static>> =
            pem_file(path, "read the revocation lists")?;
        verifier = verifier.with_crls(lists);
    }
    let verifier = verifier.build().map_err(|e| {
        tls_error(
            &tcp.client_ca,
            "use the CA certificates and revocation lists",
            e,
        )
    })?;
    let chain = certificates(&tcp.certificate)?;
    let key = PrivateKeyDer::from_pem_file(&tcp.key)
        .map_err(|e| tls_error(&tcp.key, "read the private key", e))?;
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| tls_error(&tcp.certificate, "choose TLS 1.3", e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| tls_error(&tcp.key, "use the certificate and its key", e))?;
    Ok(Arc::new(config))
}

/// One DER element at the start of `input`: its tag, its content and what follows it.
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, rest) = rest.split_at_checked(n)?;
        let len = bytes
            .iter()
            .fold(0usize, |len, byte| (len << 8) | usize::from(*byte));
        (len, rest)
    };
    let (content, rest) = rest.split_at_checked(len)?;
    Some((tag, content, rest))
}

/// The element at the start of `input` if its tag is `tag`: (content, rest).
fn expect(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    match element(input)? {
        (t, content, rest) if t == tag => Some((content, rest)),
        _ => None,
    }
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const VERSION: u8 = 0xa0;
/// id-at-commonName, 2.5.4.3.
const COMMON_NAME: [u8; 3] = [0x55, 0x04, 0x03];

/// The common name of an X.509 certificate's subject (DER): `None` without one, with more
/// than one, or with one that is not text. The certificate has been verified by the TLS
/// handshake before this is asked; a malformed one gives `None` all the same.
pub(super) fn common_name(certificate: &[u8]) -> Option<String> {
    let (certificate, _) = expect(certificate, SEQUENCE)?;
    let (tbs, _) = expect(certificate, SEQUENCE)?;
    let mut rest = match element(tbs)? {
        (VERSION, _, rest) => rest,
        _ => tbs,
    };
    // serialNumber, signature, issuer, validity; then subject.
    for _ in 0..4 {
        rest = element(rest)?.2;
    }
    let (mut names, _) = expect(rest, SEQUENCE)?;
    let mut found = None;
    while !names.is_empty() {
        let (mut set, next) = expect(names, SET)?;
        names = next;
        while !set.is_empty() {
            let (attribute, next) = expect(set, SEQUENCE)?;
            set = next;
            let (oid, value) = expect(attribute, OID)?;
            if oid != COMMON_NAME {
                continue;
            }
            if found.is_some() {
                return None;
            }
            // UTF8String, PrintableString, IA5String.
            let (tag, text, _) = element(value)?;
            if !matches!(tag, 0x0c | 0x13 | 0x16) {
                return None;
            }
            found = Some(String::from_utf8(text.to_vec()).ok()?);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn certificate(names: &[(rcgen::DnType, &str)]) -> Vec<u8> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["client".to_string()]).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        for (kind, value) in names {
            params.distinguished_name.push(kind.clone(), *value);
        }
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn the_common_name_is_found() {
        let der = certificate(&[
            (rcgen::DnType::OrganizationName, "Northstar"),
            (rcgen::DnType::CommonName, "fleet"),
        ]);
        assert_eq!(common_name(&der).as_deref(), Some("fleet"));
        let der = certificate(&[(rcgen::DnType::OrganizationName, "Northstar")]);
        assert_eq!(common_name(&der), None);
    }

    #[test]
    fn broken_certificates_have_no_name() {
        let der = certificate(&[(rcgen::DnType::CommonName, "fleet")]);
        for cut in 0..der.len() {
            // Every prefix: no panic, and no name from a certificate cut before its subject.
            let _ = common_name(&der[..cut]);
        }
        assert_eq!(common_name(&[]), None);
        assert_eq!(common_name(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = common_name(&bytes);
        }
    }
}
