//! `signature.yaml`: the signed hashes of a package and their ed25519 signature.
//!
//! The file is two YAML documents separated by a `---` line. The first lists the hashes
//! (zip comment, manifest, verity root and offset); the second holds the base64 signature
//! over exactly the bytes of the first document. Verification checks the signature over
//! those raw bytes *before* anything in them is parsed.

// PID 1 checks the signatures of untrusted packages: no indexing or arithmetic that can panic
// outside tests (doc/design.md, "PID 1 never panics").
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use crate::key::{PublicKey, SecretKey};
use base64::{engine::general_purpose::STANDARD, Engine};
use serde::Deserialize;

/// Upper bound for a signature file: the real one is under 400 bytes.
pub const MAX_SIGNATURE_SIZE: usize = 4096;

/// The separator line between the signed document and the signature.
const SEPARATOR: &[u8] = b"---\n";

/// What a signature vouches for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedHashes {
    /// sha256 of the zip comment bytes.
    pub meta_hash: [u8; 32],
    /// sha256 of `manifest.yaml` as stored.
    pub manifest_hash: [u8; 32],
    /// dm-verity root hash of `fs.img`.
    pub verity_root: [u8; 32],
    /// Size of the squashfs part of `fs.img` (where the verity superblock begins).
    pub verity_offset: u64,
}

/// Errors of a signature file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("signature file is {0} bytes, more than the limit of {MAX_SIGNATURE_SIZE}")]
    TooLarge(usize),
    #[error("signature file has no `---` line separating the signed hashes from the signature")]
    MissingSeparator,
    #[error("signature document is malformed: expected exactly `signature: <base64>`")]
    MalformedSignature,
    #[error("signature is not valid base64 of 64 bytes")]
    SignatureEncoding,
    #[error("signature does not verify with the trusted key")]
    BadSignature,
    #[error("signed hashes are malformed: {0}")]
    MalformedHashes(String),
    #[error("signed hashes: {field} is not 64 hex digits")]
    HashEncoding { field: &'static str },
}

/// The first document, text form. Field order and spelling follow Northstar 0.9.
pub fn render(hashes: &SignedHashes) -> String {
    format!(
        "meta:\n  hash: {}\nmanifest.yaml:\n  hash: {}\nfs.img:\n  verity-hash: {}\n  verity-offset: {}\n",
        hex::encode(hashes.meta_hash),
        hex::encode(hashes.manifest_hash),
        hex::encode(hashes.verity_root),
        hashes.verity_offset
    )
}

/// The whole `signature.yaml`: the hashes, the separator and the signature over the hashes.
pub fn sign(hashes: &SignedHashes, key: &SecretKey) -> Vec<u8> {
    let signed = render(hashes);
    let signature = key.sign(signed.as_bytes());
    let mut out = signed.into_bytes();
    out.extend_from_slice(SEPARATOR);
    out.extend_from_slice(b"signature: ");
    out.extend_from_slice(STANDARD.encode(signature).as_bytes());
    out
}

/// Length of the file [`sign`] produces for a given verity offset (the packer reserves it).
pub fn signed_len(verity_offset: u64) -> usize {
    let hashes = SignedHashes {
        meta_hash: [0; 32],
        manifest_hash: [0; 32],
        verity_root: [0; 32],
        verity_offset,
    };
    // The base64 of a 64-byte signature is 88 characters.
    render(&hashes)
        .len()
        .saturating_add(SEPARATOR.len())
        .saturating_add("signature: ".len())
        .saturating_add(88)
}

/// Check the signature over the raw signed bytes with `key`, then parse them.
pub fn verify(bytes: &[u8], key: &PublicKey) -> Result<SignedHashes, Error> {
    if bytes.len() > MAX_SIGNATURE_SIZE {
        return Err(Error::TooLarge(bytes.len()));
    }
    let (signed, signature) = split(bytes)?;
    if !key.verify_strict(signed, &signature) {
        return Err(Error::BadSignature);
    }
    parse_hashes(signed)
}

/// Split into the signed bytes and the decoded signature, without interpreting the signed
/// part. The signature document must be exactly one `signature:` line (an optional final
/// newline allowed): extra documents or keys are rejected.
fn split(bytes: &[u8]) -> Result<(&[u8], [u8; 64]), Error> {
    // The separator must start a line: either the file starts with it or a newline precedes it.
    let at = find_separator(bytes).ok_or(Error::MissingSeparator)?;
    let (signed, rest) = bytes.split_at_checked(at).ok_or(Error::MissingSeparator)?;
    let rest = rest
        .strip_prefix(SEPARATOR)
        .ok_or(Error::MissingSeparator)?;
    let rest = rest.strip_suffix(b"\n").unwrap_or(rest);
    let value = rest
        .strip_prefix(b"signature: ")
        .ok_or(Error::MalformedSignature)?;
    if value.iter().any(|b| b.is_ascii_whitespace()) {
        return Err(Error::MalformedSignature);
    }
    let decoded = STANDARD
        .decode(value)
        .map_err(|_| Error::SignatureEncoding)?;
    let signature =
        <[u8; 64]>::try_from(decoded.as_slice()).map_err(|_| Error::SignatureEncoding)?;
    Ok((signed, signature))
}

fn find_separator(bytes: &[u8]) -> Option<usize> {
    if bytes.starts_with(SEPARATOR) {
        return Some(0);
    }
    // A newline and the separator; the separator starts one byte after the window.
    bytes
        .windows(SEPARATOR.len().saturating_add(1))
        .position(|w| w.split_first() == Some((&b'\n', SEPARATOR)))
        .map(|p| p.saturating_add(1))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    meta: Hash,
    #[serde(rename = "manifest.yaml")]
    manifest: Hash,
    #[serde(rename = "fs.img")]
    fs_img: FsImg,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Hash {
    hash: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FsImg {
    verity_hash: String,
    verity_offset: u64,
}

fn parse_hashes(signed: &[u8]) -> Result<SignedHashes, Error> {
    let text =
        std::str::from_utf8(signed).map_err(|_| Error::MalformedHashes("not UTF-8".to_string()))?;
    let doc: Document =
        serde_yaml_ng::from_str(text).map_err(|e| Error::MalformedHashes(e.to_string()))?;
    Ok(SignedHashes {
        meta_hash: decode_hash(&doc.meta.hash, "meta.hash")?,
        manifest_hash: decode_hash(&doc.manifest.hash, "manifest.yaml.hash")?,
        verity_root: decode_hash(&doc.fs_img.verity_hash, "fs.img.verity-hash")?,
        verity_offset: doc.fs_img.verity_offset,
    })
}

fn decode_hash(text: &str, field: &'static str) -> Result<[u8; 32], Error> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out).map_err(|_| Error::HashEncoding { field })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes() -> SignedHashes {
        SignedHashes {
            meta_hash: [1; 32],
            manifest_hash: [2; 32],
            verity_root: [3; 32],
            verity_offset: 331776,
        }
    }

    #[test]
    fn round_trip() {
        let key = SecretKey::from_seed(&[9; 32]);
        let file = sign(&hashes(), &key);
        assert_eq!(file.len(), signed_len(331776));
        assert_eq!(verify(&file, &key.public()), Ok(hashes()));
    }

    #[test]
    fn wrong_key_and_flipped_bytes() {
        let key = SecretKey::from_seed(&[9; 32]);
        let other = SecretKey::from_seed(&[10; 32]);
        let file = sign(&hashes(), &key);
        assert_eq!(verify(&file, &other.public()), Err(Error::BadSignature));
        for i in 0..render(&hashes()).len() {
            let mut bad = file.clone();
            bad[i] ^= 0x01;
            assert!(verify(&bad, &key.public()).is_err(), "flip at {i} accepted");
        }
    }

    #[test]
    fn extra_documents_rejected() {
        let key = SecretKey::from_seed(&[9; 32]);
        let mut file = sign(&hashes(), &key);
        file.extend_from_slice(b"\n---\nsignature: AAAA");
        assert_eq!(verify(&file, &key.public()), Err(Error::MalformedSignature));
        assert_eq!(
            verify(b"meta: {}\n", &key.public()),
            Err(Error::MissingSeparator)
        );
    }

    #[test]
    fn signed_document_is_checked_before_parsing() {
        // A signature over garbage that is not the expected document: verifies, then fails
        // to parse with a clear error (the parser sees only authenticated bytes).
        let key = SecretKey::from_seed(&[9; 32]);
        let signed = b"meta: [\n";
        let mut file = signed.to_vec();
        file.extend_from_slice(SEPARATOR);
        file.extend_from_slice(b"signature: ");
        file.extend_from_slice(STANDARD.encode(key.sign(signed)).as_bytes());
        assert!(matches!(
            verify(&file, &key.public()),
            Err(Error::MalformedHashes(_))
        ));
    }
}
