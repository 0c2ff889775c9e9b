//! Sign with our writer, verify with our reader: the EKU and key usage rules, and
//! flipped bytes, with certificates from rcgen.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use super::*;
use crate::write::Signer;

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

fn ca() -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "unit CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let pem = params.self_signed(&key).unwrap().pem();
    Ca {
        issuer: Issuer::new(params, key),
        pem,
    }
}

fn signer(ca: &Ca, ku: Vec<KeyUsagePurpose>, eku: Vec<ExtendedKeyUsagePurpose>) -> Signer {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "unit signer");
    params.key_usages = ku;
    params.extended_key_usages = eku;
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    Signer::from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes()).unwrap()
}

fn keyring(ca: &Ca) -> Keyring {
    Keyring::from_pem(ca.pem.as_bytes()).unwrap()
}

const CONTENT: &[u8] = b"[update]\ncompatible=unit\n";

#[test]
fn code_signing_eku_accepted() {
    let ca = ca();
    let s = signer(
        &ca,
        vec![KeyUsagePurpose::DigitalSignature],
        vec![ExtendedKeyUsagePurpose::CodeSigning],
    );
    let cms = s.sign(CONTENT).unwrap();
    let signed = verify(&cms, &keyring(&ca), UnixTime::now()).unwrap();
    assert_eq!(signed.content, CONTENT);
    assert_eq!(signed.signer, "unit signer");
}

#[test]
fn other_eku_refused() {
    let ca = ca();
    let s = signer(
        &ca,
        vec![KeyUsagePurpose::DigitalSignature],
        vec![ExtendedKeyUsagePurpose::ServerAuth],
    );
    let cms = s.sign(CONTENT).unwrap();
    let err = verify(&cms, &keyring(&ca), UnixTime::now()).unwrap_err();
    assert!(matches!(err, Error::Untrusted(_)), "{err}");
}

#[test]
fn key_usage_without_digital_signature_refused() {
    let ca = ca();
    let s = signer(&ca, vec![KeyUsagePurpose::KeyEncipherment], Vec::new());
    let cms = s.sign(CONTENT).unwrap();
    let err = verify(&cms, &keyring(&ca), UnixTime::now()).unwrap_err();
    assert!(matches!(err, Error::KeyUsage(_)), "{err}");
}

#[test]
fn keyring_errors() {
    assert!(matches!(Keyring::from_pem(b""), Err(KeyringError::Empty)));
    let ca = ca();
    let two = format!("{}{}", ca.pem, self::ca().pem);
    assert_eq!(Keyring::from_pem(two.as_bytes()).unwrap().len(), 2);
}

#[test]
fn flipped_bytes_never_pass_unnoticed() {
    let ca = ca();
    let keyring = keyring(&ca);
    let s = signer(&ca, vec![KeyUsagePurpose::DigitalSignature], Vec::new());
    let cms = s.sign(CONTENT).unwrap();
    let content_at = cms
        .windows(CONTENT.len())
        .position(|w| w == CONTENT)
        .unwrap();
    for at in 0..cms.len() {
        let mut bad = cms.clone();
        bad[at] ^= 0x40;
        let result = verify(&bad, &keyring, UnixTime::now());
        if (content_at..content_at + CONTENT.len()).contains(&at) {
            assert!(
                matches!(result, Err(Error::DigestMismatch)),
                "byte {at}: {result:?}"
            );
        }
        if let Ok(signed) = result {
            // Only unsigned metadata (version numbers, the digestAlgorithms list) may
            // change without notice; what is vouched for never does.
            assert_eq!(signed.content, CONTENT, "byte {at}");
        }
    }
    assert!(verify(&cms[..cms.len() - 1], &keyring, UnixTime::now()).is_err());
}

/// An error and its sources joined with ": ", as the chain printers show them.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[test]
fn each_level_shows_its_source_once() {
    // A truncated ContentInfo: the DER error is the source, not part of the message.
    let err = SignedData::parse(&[0x30, 0x05, 0x06]).unwrap_err();
    assert!(matches!(err, Error::Der { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "bundle signature: malformed CMS in ContentInfo"
    );
    assert_eq!(
        chain(&err),
        "bundle signature: malformed CMS in ContentInfo: der: truncated element at byte 0"
    );

    // webpki's reason is part of the message and is not a source.
    let ca = ca();
    let s = signer(
        &ca,
        vec![KeyUsagePurpose::DigitalSignature],
        vec![ExtendedKeyUsagePurpose::ServerAuth],
    );
    let err = verify(&s.sign(CONTENT).unwrap(), &keyring(&ca), UnixTime::now()).unwrap_err();
    assert!(std::error::Error::source(&err).is_none(), "{err}");
    let text = chain(&err);
    assert!(
        text.starts_with(
            "bundle signature: signer certificate not trusted by the keyring (RequiredEkuNotFound"
        ) && text.ends_with(')'),
        "{text}"
    );

    let err = Keyring::from_pem(b"-----BEGIN CERTIFICATE-----\n!!\n").unwrap_err();
    assert!(matches!(err, KeyringError::Pem(_)), "{err}");
    let text = chain(&err);
    assert!(text.starts_with("keyring: invalid PEM: "), "{text}");
    assert_eq!(text.matches("invalid PEM").count(), 1, "{text}");
}
