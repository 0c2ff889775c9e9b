//! The few fields of an X.509 certificate CMS needs: serial, issuer, subject key
//! identifier, key usage. Chain and signature checks are webpki's.

use thiserror::Error;

use crate::der::{self, tag};

/// id-ce-subjectKeyIdentifier (2.5.29.14).
const OID_SKI: &[u8] = &[0x55, 0x1d, 0x0e];
/// id-ce-keyUsage (2.5.29.15).
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f];

/// A certificate that cannot be read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Error {
    #[error("malformed certificate")]
    Der(#[from] der::Error),
}

/// A parsed certificate, borrowing from its DER encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Certificate<'a> {
    pub der: &'a [u8],
    /// Contents of the serial number INTEGER.
    pub serial: &'a [u8],
    /// The issuer Name, whole encoding.
    pub issuer: &'a [u8],
    /// The subject Name, whole encoding.
    pub subject: &'a [u8],
    pub subject_key_id: Option<&'a [u8]>,
    /// The keyUsage bits (bit 0, digitalSignature, is the top bit of the first byte).
    pub key_usage: Option<&'a [u8]>,
}

impl<'a> Certificate<'a> {
    pub fn parse(der: &'a [u8]) -> Result<Certificate<'a>, Error> {
        let cert = der::single(der, tag::SEQUENCE)?;
        let mut outer = cert.reader();
        let tbs = outer.expect(tag::SEQUENCE)?;
        let mut r = tbs.reader();
        r.optional(tag::context(0))?;
        let serial = r.expect(tag::INTEGER)?.value;
        r.expect(tag::SEQUENCE)?; // signature algorithm
        let issuer = r.expect(tag::SEQUENCE)?.raw;
        r.expect(tag::SEQUENCE)?; // validity
        let subject = r.expect(tag::SEQUENCE)?.raw;
        r.expect(tag::SEQUENCE)?; // subjectPublicKeyInfo
        r.optional(tag::context_primitive(1))?;
        r.optional(tag::context_primitive(2))?;
        let mut subject_key_id = None;
        let mut key_usage = None;
        if let Some(exts) = r.optional(tag::context(3))? {
            let list = der::single(exts.value, tag::SEQUENCE)?;
            let mut list = list.reader();
            while !list.is_empty() {
                let ext = list.expect(tag::SEQUENCE)?;
                let mut e = ext.reader();
                let oid = e.expect(tag::OID)?.value;
                e.optional(tag::BOOLEAN)?;
                let value = e.expect(tag::OCTET_STRING)?.value;
                e.finish()?;
                if oid == OID_SKI {
                    subject_key_id = Some(der::single(value, tag::OCTET_STRING)?.value);
                } else if oid == OID_KEY_USAGE {
                    let bits = der::single(value, tag::BIT_STRING)?.value;
                    key_usage = Some(bits.get(1..).unwrap_or_default());
                }
            }
        }
        Ok(Certificate {
            der,
            serial,
            issuer,
            subject,
            subject_key_id,
            key_usage,
        })
    }

    /// Whether the key may make signatures: no keyUsage extension, or digitalSignature set.
    pub fn allows_digital_signature(&self) -> bool {
        match self.key_usage {
            None => true,
            Some(bits) => bits.first().is_some_and(|b| b & 0x80 != 0),
        }
    }

    /// The subject's common names, for messages (best effort, lossy).
    pub fn subject_text(&self) -> String {
        name_text(self.subject)
    }
}

/// `CN=..., O=...`-like text of a Name: only the string values, in order.
pub fn name_text(name: &[u8]) -> String {
    let mut parts = Vec::new();
    let mut rdns = match der::single(name, tag::SEQUENCE) {
        Ok(n) => n.reader(),
        Err(_) => return String::from("?"),
    };
    while let Ok(rdn) = rdns.expect(tag::SET) {
        let mut atvs = rdn.reader();
        while let Ok(atv) = atvs.expect(tag::SEQUENCE) {
            let mut a = atv.reader();
            let _ = a.expect(tag::OID);
            if let Ok(value) = a.any() {
                parts.push(String::from_utf8_lossy(value.value).into_owned());
            }
        }
    }
    parts.join(", ")
}

/// Reads all certificates from PEM text (`-----BEGIN CERTIFICATE-----` blocks).
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, rustls_pki_types::pem::Error> {
    use rustls_pki_types::{pem::PemObject, CertificateDer};
    CertificateDer::pem_slice_iter(pem)
        .map(|c| c.map(|c| c.as_ref().to_vec()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_garbage() {
        assert!(Certificate::parse(&[0x30, 0x00]).is_err());
        assert!(Certificate::parse(b"not a cert").is_err());
    }

    #[test]
    fn key_usage_bits() {
        let mut c = Certificate {
            der: &[],
            serial: &[1],
            issuer: &[],
            subject: &[],
            subject_key_id: None,
            key_usage: None,
        };
        assert!(c.allows_digital_signature());
        c.key_usage = Some(&[0x04]);
        assert!(!c.allows_digital_signature());
        c.key_usage = Some(&[0x80]);
        assert!(c.allows_digital_signature());
    }
}
