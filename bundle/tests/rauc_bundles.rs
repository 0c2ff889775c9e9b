//! Bundles made by `rauc bundle`: accepted when intact, refused with a named error when a
//! byte of any part changes, when the keyring lacks the CA and when the signer expired.

mod common;

use std::{path::Path, time::Duration};

use common::*;
use northstar_bundle::{cms, manifest::Format, read::Error, UnixTime, Unverified, Verified};

fn verify(path: &Path, pki: &Pki, time: UnixTime) -> Result<Verified, Error> {
    Unverified::open(path)?.verify(&keyring(pki), time)
}

fn accepts(kind: KeyType) {
    if !have("openssl") || !have("rauc") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "test", kind, 30);
    let bundle = rauc_bundle(&pki, "b");
    let verified = verify(&bundle, &pki, now()).unwrap();
    let m = verified.manifest();
    assert_eq!(m.compatible, "northstar-test");
    assert_eq!(m.version.as_deref(), Some("2.1.0"));
    assert_eq!(m.format, Format::Verity);
    assert_eq!(m.images.len(), 2);
    let rootfs = verified.image("rootfs").unwrap();
    assert_eq!(rootfs.size, Some(image_data().len() as u64));
    assert_eq!(verified.signer(), "test signer");
    m.check_compatible("northstar-test").unwrap();

    let out = dir.path().join("out");
    verified.extract(&out).unwrap();
    assert_eq!(std::fs::read(out.join("rootfs.img")).unwrap(), image_data());
}

#[test]
fn accepts_rsa() {
    accepts(KeyType::Rsa);
}

#[test]
fn accepts_ec_p256() {
    accepts(KeyType::EcP256);
}

/// The offsets of the parts of a bundle file: payload end, tree end, CMS end.
fn layout(bytes: &[u8]) -> (usize, usize, usize) {
    let len = bytes.len();
    let cms_size = u64::from_be_bytes(bytes[len - 8..].try_into().unwrap()) as usize;
    let cms_start = len - 8 - cms_size;
    let manifest_start = find(bytes, b"[update]");
    let text = &bytes[manifest_start..];
    let size_line = find(text, b"verity-size=");
    let digits: String = text[size_line + 12..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .map(|b| *b as char)
        .collect();
    let tree = digits.parse::<usize>().unwrap();
    (cms_start - tree, cms_start, len - 8)
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .rposition(|w| w == needle)
        .expect("needle")
}

fn flipped(bundle: &Path, at: usize) -> std::path::PathBuf {
    let mut bytes = std::fs::read(bundle).unwrap();
    bytes[at] ^= 0x01;
    let out = bundle.with_extension(format!("flip{at}"));
    std::fs::write(&out, bytes).unwrap();
    out
}

#[test]
fn refuses_changes() {
    if !have("openssl") || !have("rauc") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "test", KeyType::Rsa, 30);
    let bundle = rauc_bundle(&pki, "b");
    let bytes = std::fs::read(&bundle).unwrap();
    let (payload_end, tree_end, cms_end) = layout(&bytes);

    // A byte in the payload: the root hash computed from the payload differs.
    let err = verify(&flipped(&bundle, payload_end / 2), &pki, now()).unwrap_err();
    assert!(matches!(err, Error::RootHash { .. }), "{err}");

    // A byte in the stored hash tree.
    let err = verify(&flipped(&bundle, payload_end + 100), &pki, now()).unwrap_err();
    assert!(matches!(err, Error::HashTree { offset: 100, .. }), "{err}");

    // A byte of the manifest inside the CMS ('northstar-test' -> 'oorthstar-test').
    let at = find(&bytes, b"compatible=northstar-test") + 11;
    assert!(at > tree_end);
    let err = verify(&flipped(&bundle, at), &pki, now()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Signature {
                source: cms::Error::DigestMismatch,
                ..
            }
        ),
        "{err}"
    );

    // A byte of the signature value (the last element of the CMS).
    let err = verify(&flipped(&bundle, cms_end - 5), &pki, now()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Signature {
                source: cms::Error::BadSignature { .. },
                ..
            }
        ),
        "{err}"
    );

    // The size trailer.
    let err = verify(&flipped(&bundle, bytes.len() - 1), &pki, now()).unwrap_err();
    assert!(
        matches!(err, Error::Signature { .. } | Error::Unaligned { .. }),
        "{err}"
    );

    // A truncated file.
    let short = dir.path().join("short.raucb");
    std::fs::write(&short, &bytes[..bytes.len() - 1]).unwrap();
    assert!(verify(&short, &pki, now()).is_err());

    // The intact bundle still passes.
    verify(&bundle, &pki, now()).unwrap();
}

#[test]
fn refuses_other_keyring_and_expired_signer() {
    if !have("openssl") || !have("rauc") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pki_a = pki(dir.path(), "a", KeyType::EcP256, 2);
    let pki_b = pki(dir.path(), "b", KeyType::Rsa, 30);
    let bundle = rauc_bundle(&pki_a, "b");
    verify(&bundle, &pki_a, now()).unwrap();

    let err = verify(&bundle, &pki_b, now()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Signature {
                source: cms::Error::Untrusted(ref webpki_error),
                ..
            } if webpki_error.to_string().contains("UnknownIssuer")
        ),
        "{err}"
    );
    let text = chain(&err);
    assert!(
        text.ends_with(
            "bundle signature: signer certificate not trusted by the keyring (UnknownIssuer)"
        ),
        "{text}"
    );
    // Each level once: the bundle's path, then the signature's reason.
    assert_eq!(err.to_string(), format!("bundle {}", bundle.display()));

    // Three days on, the signer (valid two days) has expired.
    let later = UnixTime::since_unix_epoch(
        now()
            .as_secs()
            .checked_add(3 * 86400)
            .map(Duration::from_secs)
            .unwrap(),
    );
    let err = verify(&bundle, &pki_a, later).unwrap_err();
    let text = chain(&err);
    assert!(
        text.contains("not trusted by the keyring (CertExpired"),
        "{text}"
    );

    // A time before the signer's validity (the RTC-less device at 1970).
    let err = verify(
        &bundle,
        &pki_a,
        UnixTime::since_unix_epoch(Duration::from_secs(0)),
    )
    .unwrap_err();
    let text = chain(&err);
    assert!(
        text.contains("not trusted by the keyring (CertNotValidYet"),
        "{text}"
    );
}
