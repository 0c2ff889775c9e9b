//! A throwaway PKI for tests of the TCP listener and of update bundles: a CA, a server
//! certificate for `localhost` and 127.0.0.1, client certificates by common name and
//! bundle signers, written as PEM files into a directory.

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertificateRevocationListParams,
    CertifiedIssuer, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod,
    KeyPair, KeyUsagePurpose, RevokedCertParams, SerialNumber,
};
use std::{
    io,
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

/// A CA that issues server and client certificates into `dir`.
pub struct Pki {
    dir: PathBuf,
    name: String,
    ca: CertifiedIssuer<'static, KeyPair>,
    serial: AtomicU64,
}

/// A certificate and its key, as files.
#[derive(Clone, Debug)]
pub struct Issued {
    /// The certificate (PEM).
    pub certificate: PathBuf,
    /// Its private key (PEM, PKCS#8).
    pub key: PathBuf,
    /// Its serial number.
    pub serial: u64,
}

fn rcgen(e: rcgen::Error) -> io::Error {
    io::Error::other(e)
}

impl Pki {
    /// A new CA named `name`; its certificate is written to `<dir>/<name>-ca.pem`.
    pub fn new(dir: &Path, name: &str) -> io::Result<Pki> {
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} CA"));
        let key = KeyPair::generate().map_err(rcgen)?;
        let ca = CertifiedIssuer::self_signed(params, key).map_err(rcgen)?;
        let pki = Pki {
            dir: dir.to_owned(),
            name: name.to_owned(),
            ca,
            serial: AtomicU64::new(1),
        };
        std::fs::write(pki.ca_certificate(), pki.ca.pem())?;
        Ok(pki)
    }

    /// The CA's certificate file.
    pub fn ca_certificate(&self) -> PathBuf {
        self.dir.join(format!("{}-ca.pem", self.name))
    }

    fn issue(&self, file: &str, mut params: CertificateParams) -> io::Result<Issued> {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed);
        params.serial_number = Some(SerialNumber::from(serial));
        let key = KeyPair::generate().map_err(rcgen)?;
        let certificate = params.signed_by(&key, &self.ca).map_err(rcgen)?;
        let issued = Issued {
            certificate: self.dir.join(format!("{}-{file}-{serial}.pem", self.name)),
            key: self.dir.join(format!("{}-{file}-{serial}.key", self.name)),
            serial,
        };
        std::fs::write(&issued.certificate, certificate.pem())?;
        std::fs::write(&issued.key, key.serialize_pem())?;
        Ok(issued)
    }

    /// A server certificate for `localhost` and 127.0.0.1.
    pub fn server(&self) -> io::Result<Issued> {
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let mut params = CertificateParams::new(names).map_err(rcgen)?;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue("server", params)
    }

    /// A client certificate whose subject's common name is `common_name`.
    pub fn client(&self, common_name: &str) -> io::Result<Issued> {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(&format!("client-{common_name}"), params)
    }

    /// A signer of update bundles: key usage `digitalSignature` and no extended key usage,
    /// which both RAUC (S/MIME purpose by default) and Northstar (`codeSigning` only when
    /// an extended key usage is present) accept.
    pub fn signer(&self, common_name: &str) -> io::Result<Issued> {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        self.issue(&format!("signer-{common_name}"), params)
    }

    /// A revocation list of this CA naming `revoked`, written to `<dir>/<name>-revoked.pem`.
    pub fn revoke(&self, revoked: &[&Issued]) -> io::Result<PathBuf> {
        let params = CertificateRevocationListParams {
            this_update: date_time_ymd(2020, 1, 1),
            next_update: date_time_ymd(4000, 1, 1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: revoked
                .iter()
                .map(|issued| RevokedCertParams {
                    serial_number: SerialNumber::from(issued.serial),
                    revocation_time: date_time_ymd(2020, 1, 1),
                    reason_code: None,
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let list = params.signed_by(&self.ca).map_err(rcgen)?;
        let path = self.dir.join(format!("{}-revoked.pem", self.name));
        std::fs::write(&path, list.pem().map_err(rcgen)?)?;
        Ok(path)
    }
}
