//! CMS SignedData (RFC 5652) as RAUC writes it, and its verification.
//!
//! Parsed with our own DER reader ([`crate::der`]); see `doc/adr/0011-bundle-signatures.md`.
//! Verification, in order: exactly one signer; signed attributes present, with a
//! content-type equal to the encapsulated type and a message-digest equal to the digest
//! of the content; the signer certificate found among the CMS certificates by
//! issuer+serial or subject key identifier; its keyUsage (if any) allows
//! digitalSignature; the signature over the signed attributes (re-tagged as SET OF)
//! verifies with its key; the certificate chains to an anchor of the [`Keyring`] at the
//! caller's time, with codeSigning required if the certificate has an extendedKeyUsage.

use ring::digest;
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use thiserror::Error;
use webpki::ring as algs;

use crate::{
    der::{self, tag, Reader},
    x509::{self, Certificate},
};

const OID_SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
pub(crate) const OID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
pub(crate) const OID_CONTENT_TYPE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03];
pub(crate) const OID_MESSAGE_DIGEST: &[u8] =
    &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04];
pub(crate) const OID_SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
const OID_SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
const OID_SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];
pub(crate) const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_RSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
const OID_RSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
const OID_RSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
pub(crate) const OID_ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const OID_ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
const OID_ECDSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04];
/// id-kp-codeSigning (1.3.6.1.5.5.7.3.3), contents only.
const OID_CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// A signature that cannot be read or is not trusted.
#[derive(Debug, Error)]
pub enum Error {
    #[error("bundle signature: malformed CMS in {what}")]
    Der {
        what: &'static str,
        #[source]
        source: der::Error,
    },
    #[error("bundle signature: not a CMS SignedData")]
    NotSignedData,
    #[error("bundle signature: no encapsulated content (detached signatures are not supported)")]
    NoContent,
    #[error("bundle signature: expected exactly one signer, found {0}")]
    SignerCount(usize),
    #[error("bundle signature: no signed attributes")]
    NoSignedAttributes,
    #[error("bundle signature: signed attribute {0} missing or malformed")]
    Attribute(&'static str),
    #[error("bundle signature: content-type attribute differs from the encapsulated content type")]
    ContentType,
    #[error("bundle signature: unsupported digest algorithm {0}")]
    Digest(String),
    #[error("bundle signature: unsupported signature algorithm {0}")]
    SignatureAlgorithm(String),
    #[error("bundle signature: manifest digest mismatch (the signed content was changed)")]
    DigestMismatch,
    #[error("bundle signature: signer certificate not among the CMS certificates")]
    SignerNotFound,
    #[error("bundle signature: certificate {index} in the CMS")]
    Certificate {
        index: usize,
        #[source]
        source: x509::Error,
    },
    #[error("bundle signature: signer certificate {0:?} does not allow digitalSignature")]
    KeyUsage(String),
    // webpki's errors are reason codes (their text is the variant's name, they have no
    // source of their own): they are part of the message, not a source.
    #[error("bundle signature: signature does not verify with the key of {subject:?} ({reason})")]
    BadSignature {
        subject: String,
        reason: webpki::Error,
    },
    #[error("bundle signature: signer certificate not trusted by the keyring ({0})")]
    Untrusted(webpki::Error),
}

/// A keyring failure.
#[derive(Debug, Error)]
pub enum KeyringError {
    #[error("keyring: invalid PEM")]
    Pem(#[from] rustls_pki_types::pem::Error),
    #[error("keyring: no certificate found")]
    Empty,
    #[error("keyring: certificate {index} is not usable as a trust anchor ({reason})")]
    Anchor { index: usize, reason: webpki::Error },
}

/// The trust anchors bundles are checked against: one or more CA certificates.
#[derive(Debug, Clone)]
pub struct Keyring {
    anchors: Vec<TrustAnchor<'static>>,
}

impl Keyring {
    /// Reads the CA certificates of a PEM file's contents.
    pub fn from_pem(pem: &[u8]) -> Result<Keyring, KeyringError> {
        let certs = x509::pem_certificates(pem)?;
        if certs.is_empty() {
            return Err(KeyringError::Empty);
        }
        let mut anchors = Vec::with_capacity(certs.len());
        for (index, der) in certs.into_iter().enumerate() {
            let der = CertificateDer::from(der);
            let anchor = webpki::anchor_from_trusted_cert(&der)
                .map_err(|reason| KeyringError::Anchor { index, reason })?;
            anchors.push(anchor.to_owned());
        }
        Ok(Keyring { anchors })
    }

    /// Number of trust anchors.
    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }
}

/// How a signer names its certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignerId<'a> {
    IssuerSerial { issuer: &'a [u8], serial: &'a [u8] },
    SubjectKeyId(&'a [u8]),
}

/// One SignerInfo.
#[derive(Clone, Copy, Debug)]
pub struct SignerInfo<'a> {
    pub sid: SignerId<'a>,
    pub digest_algorithm: &'a [u8],
    /// The whole `[0] IMPLICIT SET OF Attribute` encoding.
    pub signed_attrs: Option<&'a [u8]>,
    pub signature_algorithm: &'a [u8],
    pub signature: &'a [u8],
}

/// A parsed SignedData.
#[derive(Clone, Debug)]
pub struct SignedData<'a> {
    pub version: &'a [u8],
    pub digest_algorithms: Vec<&'a [u8]>,
    pub content_type: &'a [u8],
    pub content: Option<&'a [u8]>,
    pub certificates: Vec<&'a [u8]>,
    pub signer_infos: Vec<SignerInfo<'a>>,
}

/// What a verified signature vouches for.
#[derive(Clone, Debug)]
pub struct Signed<'a> {
    /// The encapsulated content (for a verity bundle, the manifest).
    pub content: &'a [u8],
    /// Subject of the signer certificate, for messages.
    pub signer: String,
}

fn ctx(what: &'static str) -> impl Fn(der::Error) -> Error {
    move |source| Error::Der { what, source }
}

fn algorithm_oid<'a>(r: &mut Reader<'a>, what: &'static str) -> Result<&'a [u8], Error> {
    let alg = r.expect(tag::SEQUENCE).map_err(ctx(what))?;
    let mut a = alg.reader();
    Ok(a.expect(tag::OID).map_err(ctx(what))?.value)
}

impl<'a> SignedData<'a> {
    /// Parses a DER `ContentInfo` holding a SignedData.
    pub fn parse(bytes: &'a [u8]) -> Result<SignedData<'a>, Error> {
        let info = der::single(bytes, tag::SEQUENCE).map_err(ctx("ContentInfo"))?;
        let mut r = info.reader();
        if r.expect(tag::OID).map_err(ctx("ContentInfo"))?.value != OID_SIGNED_DATA {
            return Err(Error::NotSignedData);
        }
        let explicit = r.expect(tag::context(0)).map_err(ctx("ContentInfo"))?;
        r.finish().map_err(ctx("ContentInfo"))?;
        let sd = der::single(explicit.value, tag::SEQUENCE).map_err(ctx("SignedData"))?;
        let mut r = sd.reader();
        let version = r.expect(tag::INTEGER).map_err(ctx("version"))?.value;
        let set = r.expect(tag::SET).map_err(ctx("digestAlgorithms"))?;
        let mut algs = set.reader();
        let mut digest_algorithms = Vec::new();
        while !algs.is_empty() {
            digest_algorithms.push(algorithm_oid(&mut algs, "digestAlgorithms")?);
        }
        let encap = r.expect(tag::SEQUENCE).map_err(ctx("encapContentInfo"))?;
        let mut e = encap.reader();
        let content_type = e.expect(tag::OID).map_err(ctx("eContentType"))?.value;
        let content = match e.optional(tag::context(0)).map_err(ctx("eContent"))? {
            Some(explicit) => Some(
                der::single(explicit.value, tag::OCTET_STRING)
                    .map_err(ctx("eContent"))?
                    .value,
            ),
            None => None,
        };
        e.finish().map_err(ctx("encapContentInfo"))?;
        let mut certificates = Vec::new();
        if let Some(certs) = r.optional(tag::context(0)).map_err(ctx("certificates"))? {
            let mut c = certs.reader();
            while !c.is_empty() {
                // Other certificate choices (attribute certificates) are skipped.
                let cert = c.any().map_err(ctx("certificates"))?;
                if cert.tag == tag::SEQUENCE {
                    certificates.push(cert.raw);
                }
            }
        }
        r.optional(tag::context(1)).map_err(ctx("crls"))?;
        let infos = r.expect(tag::SET).map_err(ctx("signerInfos"))?;
        r.finish().map_err(ctx("SignedData"))?;
        let mut i = infos.reader();
        let mut signer_infos = Vec::new();
        while !i.is_empty() {
            let info = i.expect(tag::SEQUENCE).map_err(ctx("SignerInfo"))?;
            signer_infos.push(SignerInfo::parse(info.reader())?);
        }
        Ok(SignedData {
            version,
            digest_algorithms,
            content_type,
            content,
            certificates,
            signer_infos,
        })
    }
}

impl<'a> SignerInfo<'a> {
    fn parse(mut r: Reader<'a>) -> Result<SignerInfo<'a>, Error> {
        r.expect(tag::INTEGER).map_err(ctx("SignerInfo version"))?;
        let sid = match r.peek_tag() {
            Some(tag::SEQUENCE) => {
                let ias = r.any().map_err(ctx("sid"))?;
                let mut s = ias.reader();
                let issuer = s.expect(tag::SEQUENCE).map_err(ctx("sid issuer"))?.raw;
                let serial = s.expect(tag::INTEGER).map_err(ctx("sid serial"))?.value;
                s.finish().map_err(ctx("sid"))?;
                SignerId::IssuerSerial { issuer, serial }
            }
            _ => SignerId::SubjectKeyId(
                r.expect(tag::context_primitive(0))
                    .map_err(ctx("sid subjectKeyIdentifier"))?
                    .value,
            ),
        };
        let digest_algorithm = algorithm_oid(&mut r, "SignerInfo digestAlgorithm")?;
        let signed_attrs = r
            .optional(tag::context(0))
            .map_err(ctx("signedAttrs"))?
            .map(|t| t.raw);
        let signature_algorithm = algorithm_oid(&mut r, "SignerInfo signatureAlgorithm")?;
        let signature = r.expect(tag::OCTET_STRING).map_err(ctx("signature"))?.value;
        r.optional(tag::context(1)).map_err(ctx("unsignedAttrs"))?;
        r.finish().map_err(ctx("SignerInfo"))?;
        Ok(SignerInfo {
            sid,
            digest_algorithm,
            signed_attrs,
            signature_algorithm,
            signature,
        })
    }

    /// The values of the signed attribute `oid` (the contents of its SET).
    fn attribute(&self, oid: &[u8], name: &'static str) -> Result<&'a [u8], Error> {
        let attrs = self.signed_attrs.ok_or(Error::NoSignedAttributes)?;
        let attrs = der::single(attrs, tag::context(0)).map_err(ctx("signedAttrs"))?;
        let mut r = attrs.reader();
        let mut found = None;
        while !r.is_empty() {
            let attr = r.expect(tag::SEQUENCE).map_err(ctx("signedAttrs"))?;
            let mut a = attr.reader();
            if a.expect(tag::OID).map_err(ctx("signedAttrs"))?.value == oid {
                if found.is_some() {
                    return Err(Error::Attribute(name));
                }
                let values = a.expect(tag::SET).map_err(ctx("signedAttrs"))?;
                found = Some(values.value);
            }
        }
        found.ok_or(Error::Attribute(name))
    }
}

fn hex_oid(oid: &[u8]) -> String {
    format!("(DER {})", hex::encode(oid))
}

fn digest_algorithm(oid: &[u8]) -> Result<&'static digest::Algorithm, Error> {
    match oid {
        OID_SHA256 => Ok(&digest::SHA256),
        OID_SHA384 => Ok(&digest::SHA384),
        OID_SHA512 => Ok(&digest::SHA512),
        _ => Err(Error::Digest(hex_oid(oid))),
    }
}

/// The webpki algorithms that may verify a signature of `signature_oid` made over a
/// `digest_oid` digest; the key's type and curve pick among them.
fn signature_algorithms(
    signature_oid: &[u8],
    digest_oid: &[u8],
) -> Result<Vec<&'static dyn SignatureVerificationAlgorithm>, Error> {
    let rsa = |d: &[u8]| -> Option<Vec<&'static dyn SignatureVerificationAlgorithm>> {
        match d {
            OID_SHA256 => Some(vec![algs::RSA_PKCS1_2048_8192_SHA256]),
            OID_SHA384 => Some(vec![algs::RSA_PKCS1_2048_8192_SHA384]),
            OID_SHA512 => Some(vec![algs::RSA_PKCS1_2048_8192_SHA512]),
            _ => None,
        }
    };
    let ecdsa = |d: &[u8]| -> Option<Vec<&'static dyn SignatureVerificationAlgorithm>> {
        match d {
            OID_SHA256 => Some(vec![algs::ECDSA_P256_SHA256, algs::ECDSA_P384_SHA256]),
            OID_SHA384 => Some(vec![algs::ECDSA_P384_SHA384, algs::ECDSA_P256_SHA384]),
            _ => None,
        }
    };
    let found = match signature_oid {
        OID_RSA => rsa(digest_oid),
        OID_RSA_SHA256 => rsa(OID_SHA256),
        OID_RSA_SHA384 => rsa(OID_SHA384),
        OID_RSA_SHA512 => rsa(OID_SHA512),
        OID_EC_PUBLIC_KEY => ecdsa(digest_oid),
        OID_ECDSA_SHA256 => ecdsa(OID_SHA256),
        OID_ECDSA_SHA384 => ecdsa(OID_SHA384),
        OID_ECDSA_SHA512 => None,
        _ => None,
    };
    found.ok_or_else(|| Error::SignatureAlgorithm(hex_oid(signature_oid)))
}

/// The signer's certificate among `certificates`.
fn find_signer<'a>(
    certificates: &[&'a [u8]],
    sid: SignerId<'_>,
) -> Result<(usize, Certificate<'a>), Error> {
    for (index, der) in certificates.iter().enumerate() {
        let cert =
            Certificate::parse(der).map_err(|source| Error::Certificate { index, source })?;
        let matches = match sid {
            SignerId::IssuerSerial { issuer, serial } => {
                cert.issuer == issuer && cert.serial == serial
            }
            SignerId::SubjectKeyId(id) => cert.subject_key_id == Some(id),
        };
        if matches {
            return Ok((index, cert));
        }
    }
    Err(Error::SignerNotFound)
}

/// Verifies a CMS SignedData with encapsulated content (see the module documentation for
/// the checks and their order) and returns the content it vouches for.
///
/// `time` is the time certificate validity is checked against. A device without a
/// real-time clock passes `max(now, build time of the running system)`, so a clock
/// that reset to 1970 cannot make every certificate "not yet valid" and a clock
/// behind by years cannot revive an expired certificate older than the system.
pub fn verify<'a>(cms: &'a [u8], keyring: &Keyring, time: UnixTime) -> Result<Signed<'a>, Error> {
    let sd = SignedData::parse(cms)?;
    let content = sd.content.ok_or(Error::NoContent)?;
    let [si] = sd.signer_infos.as_slice() else {
        return Err(Error::SignerCount(sd.signer_infos.len()));
    };
    let signed_attrs = si.signed_attrs.ok_or(Error::NoSignedAttributes)?;

    // 1. The signed attributes bind the content.
    let content_type = si.attribute(OID_CONTENT_TYPE, "content-type")?;
    let content_type =
        der::single(content_type, tag::OID).map_err(|_| Error::Attribute("content-type"))?;
    if content_type.value != sd.content_type {
        return Err(Error::ContentType);
    }
    let message_digest = si.attribute(OID_MESSAGE_DIGEST, "message-digest")?;
    let message_digest = der::single(message_digest, tag::OCTET_STRING)
        .map_err(|_| Error::Attribute("message-digest"))?;
    let computed = digest::digest(digest_algorithm(si.digest_algorithm)?, content);
    if computed.as_ref() != message_digest.value {
        return Err(Error::DigestMismatch);
    }

    // 2. The signer's key signed the attributes (DER of SET OF, not of the [0] tag).
    let (signer_index, signer) = find_signer(&sd.certificates, si.sid)?;
    let subject = signer.subject_text();
    if !signer.allows_digital_signature() {
        return Err(Error::KeyUsage(subject));
    }
    let mut message = signed_attrs.to_vec();
    if let Some(first) = message.first_mut() {
        *first = tag::SET;
    }
    let signer_der = CertificateDer::from(signer.der);
    let end_entity = webpki::EndEntityCert::try_from(&signer_der).map_err(Error::Untrusted)?;
    let mut result = Ok(());
    for alg in signature_algorithms(si.signature_algorithm, si.digest_algorithm)? {
        result = end_entity.verify_signature(alg, &message, si.signature);
        if !matches!(
            result,
            Err(webpki::Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_))
        ) {
            break;
        }
    }
    result.map_err(|reason| Error::BadSignature {
        subject: subject.clone(),
        reason,
    })?;

    // 3. The signer is trusted: chain to the keyring at `time`.
    let intermediates: Vec<CertificateDer<'_>> = sd
        .certificates
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != signer_index)
        .map(|(_, c)| CertificateDer::from(*c))
        .collect();
    end_entity
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &keyring.anchors,
            &intermediates,
            time,
            webpki::KeyUsage::required_if_present(OID_CODE_SIGNING),
            None,
            None,
        )
        .map_err(Error::Untrusted)?;
    Ok(Signed {
        content,
        signer: subject,
    })
}

#[cfg(test)]
mod tests;
