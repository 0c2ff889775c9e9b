//! Ed25519 key files: a secret key file holds the raw 32-byte seed, a public key file the
//! raw 32-byte public key (the Northstar 0.9 layout).

// PID 1 reads the repositories' public keys: no indexing or arithmetic that can panic
// outside tests (doc/design.md, "PID 1 never panics").
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::{
    fs,
    io::{self, Read, Write},
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
};

/// Key length in bytes for both halves.
pub const KEY_LEN: usize = 32;

/// Errors while reading, writing or using keys.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: a key file must hold exactly {KEY_LEN} bytes, found {found}")]
    Length { path: PathBuf, found: usize },
    #[error("{path}: not a valid ed25519 public key")]
    InvalidPublic { path: PathBuf },
    #[error("no randomness available: {0}")]
    Random(String),
}

/// The secret half: signs packages.
pub struct SecretKey(SigningKey);

/// The public half: a repository trusts packages signed by the matching secret key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PublicKey(VerifyingKey);

impl SecretKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<SecretKey, Error> {
        let mut seed = [0u8; KEY_LEN];
        getrandom::getrandom(&mut seed).map_err(|e| Error::Random(e.to_string()))?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    /// A key from its raw 32-byte seed.
    pub fn from_seed(seed: &[u8; KEY_LEN]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(seed))
    }

    /// Read a secret key file.
    pub fn load(path: &Path) -> Result<SecretKey, Error> {
        let seed = read_key_file(path)?;
        Ok(SecretKey::from_seed(&seed))
    }

    /// Write the seed to a new file with mode 0600; an existing file is never overwritten.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        write_new(path, &self.0.to_bytes(), 0o600)
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Sign `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

impl PublicKey {
    /// A public key from its 32 raw bytes.
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> Option<PublicKey> {
        VerifyingKey::from_bytes(bytes).ok().map(PublicKey)
    }

    /// Read a public key file.
    pub fn load(path: &Path) -> Result<PublicKey, Error> {
        let bytes = read_key_file(path)?;
        PublicKey::from_bytes(&bytes).ok_or_else(|| Error::InvalidPublic {
            path: path.to_owned(),
        })
    }

    /// Write the key to a new file with mode 0644; an existing file is never overwritten.
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        write_new(path, self.0.as_bytes(), 0o644)
    }

    /// The 32 raw bytes.
    pub fn to_bytes(&self) -> [u8; KEY_LEN] {
        self.0.to_bytes()
    }

    /// Strict ed25519 verification (rejects malleable and small-order signatures).
    pub fn verify_strict(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let signature = Signature::from_bytes(signature);
        self.0.verify_strict(message, &signature).is_ok()
    }
}

fn read_key_file(path: &Path) -> Result<[u8; KEY_LEN], Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let file = fs::File::open(path).map_err(io)?;
    // Read one byte more than a key so an oversized file is detected without reading it all.
    let mut buf = Vec::with_capacity(KEY_LEN + 1);
    file.take((KEY_LEN + 1) as u64)
        .read_to_end(&mut buf)
        .map_err(io)?;
    <[u8; KEY_LEN]>::try_from(buf.as_slice()).map_err(|_| Error::Length {
        path: path.to_owned(),
        found: buf.len(),
    })
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), Error> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify() {
        let key = SecretKey::from_seed(&[7; 32]);
        let sig = key.sign(b"message");
        assert!(key.public().verify_strict(b"message", &sig));
        assert!(!key.public().verify_strict(b"massage", &sig));
    }

    #[test]
    fn files_round_trip_and_reject_bad_lengths() {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate().unwrap();
        key.save(&dir.path().join("k.key")).unwrap();
        key.public().save(&dir.path().join("k.pub")).unwrap();
        assert!(key.save(&dir.path().join("k.key")).is_err(), "no overwrite");
        let back = SecretKey::load(&dir.path().join("k.key")).unwrap();
        assert_eq!(back.public(), key.public());
        assert_eq!(
            PublicKey::load(&dir.path().join("k.pub")).unwrap(),
            key.public()
        );
        fs::write(dir.path().join("long"), [0u8; 33]).unwrap();
        assert!(matches!(
            PublicKey::load(&dir.path().join("long")),
            Err(Error::Length { found: 33, .. })
        ));
    }
}
