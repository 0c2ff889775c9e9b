//! The root descriptor: what makes the root file system trusted.
//!
//! `root.verity` (TOML: `root_hash`, `salt`, `data_blocks`) is signed as a whole:
//! `root.verity.sig` is the raw 64-byte ed25519 signature of its exact bytes, checked
//! (strictly) with `root.pub` *before* any of those bytes are parsed. Alternatively the
//! three values come from the board configuration or the kernel command line, which are
//! as trusted as the initramfs and kernel the boot loader verified.
//!
//! Trust is carried in the types: only [`VerifiedRoot::verify`] and
//! [`VerifiedRoot::from_board`] make a [`VerifiedRoot`]; only
//! [`VerifiedRoot::check_device`], which compares the device's verity superblock and size
//! with the trusted values, makes a [`CheckedRoot`]; and only a [`CheckedRoot`] gives a
//! device-mapper table. The data blocks themselves are checked by dm-verity at read time.

use npk::{
    key::PublicKey,
    verity::{self, Salt, Superblock, BLOCK_SIZE, SUPERBLOCK_SIZE},
};
use serde::Deserialize;
use std::{
    fs::File,
    io::{self, Read, Seek, SeekFrom},
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
};

/// Largest descriptor read, in bytes (the real one is under 200).
pub const MAX_DESCRIPTOR: u64 = 4096;
/// Length of an ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// Why the root cannot be trusted.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: larger than {MAX_DESCRIPTOR} bytes", path.display())]
    TooLarge { path: PathBuf },
    #[error("root key: {0}")]
    Key(#[from] npk::key::Error),
    #[error("{}: a signature is {SIGNATURE_LEN} bytes, found {found}", path.display())]
    SignatureLength { path: PathBuf, found: usize },
    #[error("{}: the signature does not verify with the root key", path.display())]
    BadSignature { path: PathBuf },
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("cannot read the root device {}: {source}", device.display())]
    Device {
        device: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("root device {}: {size} bytes, the verity layout needs {needed}", device.display())]
    DeviceSize {
        device: PathBuf,
        size: u64,
        needed: u64,
    },
    #[error("root device {}: verity superblock at byte {offset}: {source}", device.display())]
    Superblock {
        device: PathBuf,
        offset: u64,
        #[source]
        source: verity::Error,
    },
    #[error("root device {}: the verity superblock's {field} is {found}, the trusted value is {expected}", device.display())]
    Mismatch {
        device: PathBuf,
        field: &'static str,
        expected: String,
        found: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DescriptorFile {
    root_hash: String,
    salt: String,
    data_blocks: u64,
}

/// Root verity parameters from a trusted source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedRoot {
    root_hash: [u8; 32],
    salt: Salt,
    data_blocks: u64,
}

/// Verified parameters that agree with the device's superblock and size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedRoot {
    root: VerifiedRoot,
}

impl VerifiedRoot {
    /// Check `signature` over the exact bytes of `descriptor` with `key`, then parse them.
    /// `path` and `signature_path` name the files in errors.
    pub fn verify(
        descriptor: &[u8],
        path: &Path,
        signature: &[u8],
        signature_path: &Path,
        key: &PublicKey,
    ) -> Result<VerifiedRoot, Error> {
        let signature: &[u8; SIGNATURE_LEN] =
            signature.try_into().map_err(|_| Error::SignatureLength {
                path: signature_path.to_owned(),
                found: signature.len(),
            })?;
        if !key.verify_strict(descriptor, signature) {
            return Err(Error::BadSignature {
                path: signature_path.to_owned(),
            });
        }
        let origin = path.display().to_string();
        let parse = |message: String| Error::Parse {
            origin: origin.clone(),
            message,
        };
        let text = std::str::from_utf8(descriptor).map_err(|_| parse("not UTF-8".into()))?;
        let file: DescriptorFile =
            toml::from_str(text).map_err(|e| parse(super::board::toml_message(text, &e)))?;
        VerifiedRoot::parts(&file.root_hash, &file.salt, file.data_blocks, &origin)
    }

    /// The values of the board configuration (`root.hash`, `root.salt`,
    /// `root.data_blocks`), trusted like the initramfs and the kernel command line.
    pub fn from_board(hash: &str, salt: &str, data_blocks: u64) -> Result<VerifiedRoot, Error> {
        VerifiedRoot::parts(hash, salt, data_blocks, "board configuration")
    }

    fn parts(
        hash: &str,
        salt: &str,
        data_blocks: u64,
        origin: &str,
    ) -> Result<VerifiedRoot, Error> {
        let parse = |message: String| Error::Parse {
            origin: origin.to_string(),
            message,
        };
        let mut root_hash = [0; 32];
        hex::decode_to_slice(hash, &mut root_hash)
            .map_err(|_| parse(format!("root_hash {hash:?} is not 64 hex digits")))?;
        let salt = Salt::from_hex(salt)
            .map_err(|_| parse(format!("salt {salt:?} is not 64 hex digits")))?;
        if data_blocks == 0 {
            return Err(parse("data_blocks must be at least 1".into()));
        }
        Ok(VerifiedRoot {
            root_hash,
            salt,
            data_blocks,
        })
    }

    /// Read the descriptor, its signature and the key (bounded sizes), and verify.
    pub fn load(descriptor: &Path, signature: &Path, key: &Path) -> Result<VerifiedRoot, Error> {
        let key = PublicKey::load(key)?;
        let text = read_bounded(descriptor, MAX_DESCRIPTOR)?;
        let sig = read_bounded(signature, SIGNATURE_LEN as u64)?;
        VerifiedRoot::verify(&text, descriptor, &sig, signature, &key)
    }

    /// The number of 4096-byte data blocks.
    #[cfg(test)]
    pub fn data_blocks(&self) -> u64 {
        self.data_blocks
    }

    /// Compare the verity superblock of `file` (the root device, named `device` in
    /// errors) and its size with the trusted values.
    pub fn check_device(&self, file: &File, device: &Path) -> Result<CheckedRoot, Error> {
        let offset = self.data_blocks.checked_mul(BLOCK_SIZE);
        // `tree_size` counts the superblock and the hash tree.
        let needed = offset.and_then(|o| o.checked_add(verity::tree_size(self.data_blocks)));
        let (Some(offset), Some(needed)) = (offset, needed) else {
            return Err(Error::DeviceSize {
                device: device.to_owned(),
                size: 0,
                needed: u64::MAX,
            });
        };
        let io = |source| Error::Device {
            device: device.to_owned(),
            source,
        };
        let size = (&*file).seek(SeekFrom::End(0)).map_err(io)?;
        if size < needed {
            return Err(Error::DeviceSize {
                device: device.to_owned(),
                size,
                needed,
            });
        }
        let mut bytes = vec![0; SUPERBLOCK_SIZE as usize];
        file.read_exact_at(&mut bytes, offset).map_err(io)?;
        let superblock = Superblock::parse(&bytes).map_err(|source| Error::Superblock {
            device: device.to_owned(),
            offset,
            source,
        })?;
        let mismatch = |field, expected: String, found: String| Error::Mismatch {
            device: device.to_owned(),
            field,
            expected,
            found,
        };
        if superblock.data_blocks != self.data_blocks {
            return Err(mismatch(
                "data_blocks",
                self.data_blocks.to_string(),
                superblock.data_blocks.to_string(),
            ));
        }
        if superblock.salt != self.salt {
            return Err(mismatch(
                "salt",
                self.salt.to_hex(),
                superblock.salt.to_hex(),
            ));
        }
        Ok(CheckedRoot { root: self.clone() })
    }
}

impl CheckedRoot {
    /// The dm-verity table for the root on `device`: data and hash tree on the same
    /// device, the superblock in block `data_blocks`, the tree after it.
    pub fn table(&self, device: &Path) -> String {
        let r = &self.root;
        let dev = device.display();
        // `check_device` made sure `data_blocks * 4096` fits: neither saturates.
        format!(
            "0 {} verity 1 {dev} {dev} 4096 4096 {} {} sha256 {} {}",
            r.data_blocks.saturating_mul(8),
            r.data_blocks,
            r.data_blocks.saturating_add(1),
            hex::encode(r.root_hash),
            r.salt.to_hex()
        )
    }
}

fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, Error> {
    let read = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(read)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(read)?;
    if bytes.len() as u64 > limit {
        if limit == SIGNATURE_LEN as u64 {
            return Err(Error::SignatureLength {
                path: path.to_owned(),
                found: bytes.len(),
            });
        }
        return Err(Error::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(bytes)
}

#[cfg(test)]
#[path = "root_tests.rs"]
mod tests;
