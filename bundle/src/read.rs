//! Opening a bundle file and verifying it: [`Unverified::open`] → [`Unverified::verify`]
//! → [`Verified`].
//!
//! Layout (format `verity`, all offsets from the start of the file):
//! `squashfs payload (a multiple of 4096 bytes) ‖ dm-verity hash tree (verity-size
//! bytes, no superblock) ‖ CMS SignedData (DER) ‖ CMS size (u64, big endian)`.
//! The CMS encapsulates the manifest; the manifest's verity-hash/-salt/-size cover the
//! payload. Every size read from the file is checked against the file's length before
//! it is used; the only allocations sized by the file are the CMS (at most
//! [`MAX_SIGNATURE_SIZE`]) and the hash tree (1/127 of the payload, as the file has it).
//!
//! The file is read through the one descriptor opened here. A [`Verified`] bundle vouches
//! for the bytes read during verification: callers hand bundles over in a directory
//! only they can write (or mount the payload through dm-verity with the manifest's root
//! hash, as RAUC does) so that the file cannot change after the check.

use std::{
    fs::File,
    io,
    ops::Range,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
};

use npk::verity::{self, Salt, BLOCK_SIZE, SUPERBLOCK_SIZE};
use rustls_pki_types::UnixTime;
use sha2::{Digest as _, Sha256};
use thiserror::Error;

use crate::{
    cms,
    manifest::{self, Image, Manifest},
    Keyring,
};

/// Largest CMS signature accepted (RAUC's default limit).
pub const MAX_SIGNATURE_SIZE: u64 = 64 * 1024;
const TRAILER: u64 = 8;

/// A bundle that cannot be opened or does not verify.
#[derive(Debug, Error)]
pub enum Error {
    #[error("bundle {path}: {what}")]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("bundle {path}: {len} bytes is too short for a bundle")]
    TooShort { path: PathBuf, len: u64 },
    #[error("bundle {path}: signature size {size} is invalid (file of {len} bytes, limit {MAX_SIGNATURE_SIZE})")]
    SignatureSize { path: PathBuf, size: u64, len: u64 },
    #[error("bundle {path}: signed part of {size} bytes is not a multiple of 4096")]
    Unaligned { path: PathBuf, size: u64 },
    #[error("bundle {path}")]
    Signature {
        path: PathBuf,
        #[source]
        source: cms::Error,
    },
    #[error("bundle {path}")]
    Manifest {
        path: PathBuf,
        #[source]
        source: manifest::Error,
    },
    #[error("bundle {path}: verity-size {size} does not fit a payload in {bundle} bytes (expected a hash tree of {expected} bytes)")]
    VeritySize {
        path: PathBuf,
        size: u64,
        bundle: u64,
        expected: u64,
    },
    #[error("bundle {path}: payload")]
    Verity {
        path: PathBuf,
        #[source]
        source: verity::Error,
    },
    #[error("bundle {path}: payload verity root hash mismatch: manifest has {expected}, the payload gives {computed}")]
    RootHash {
        path: PathBuf,
        expected: String,
        computed: String,
    },
    #[error(
        "bundle {path}: stored hash tree differs from the payload's at byte {offset} of the tree"
    )]
    HashTree { path: PathBuf, offset: u64 },
    #[error("bundle {path}: payload squashfs")]
    Squashfs {
        path: PathBuf,
        #[source]
        source: npk::squashfs::Error,
    },
    #[error("bundle {path}: image {filename:?} of slot class {slot_class:?}: {what}")]
    Image {
        path: PathBuf,
        slot_class: String,
        filename: String,
        what: String,
    },
}

/// A bundle file whose trailer and signature have been read, nothing checked.
#[derive(Debug)]
pub struct Unverified {
    path: PathBuf,
    file: File,
    cms: Vec<u8>,
    /// Bytes before the CMS: payload and hash tree.
    signed_size: u64,
}

/// A bundle whose signature, manifest and payload have been verified.
#[derive(Debug)]
pub struct Verified {
    path: PathBuf,
    file: File,
    manifest: Manifest,
    signer: String,
    payload: Range<u64>,
}

fn io_error<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        path: path.to_path_buf(),
        what,
        source,
    }
}

impl Unverified {
    /// Opens `path` and reads the signature from its end.
    pub fn open(path: &Path) -> Result<Unverified, Error> {
        let file = File::open(path).map_err(io_error(path, "cannot open"))?;
        Unverified::from_file(path, file)
    }

    /// Like [`Unverified::open`] with a file already open (`path` is for messages).
    pub fn from_file(path: &Path, file: File) -> Result<Unverified, Error> {
        let len = file
            .metadata()
            .map_err(io_error(path, "cannot stat"))?
            .len();
        let path = path.to_path_buf();
        if len < TRAILER.saturating_add(2 * BLOCK_SIZE) {
            return Err(Error::TooShort { path, len });
        }
        let mut trailer = [0u8; 8];
        file.read_exact_at(&mut trailer, len.saturating_sub(TRAILER))
            .map_err(io_error(&path, "cannot read the signature size"))?;
        let size = u64::from_be_bytes(trailer);
        let room = len.saturating_sub(TRAILER);
        if size == 0 || size > MAX_SIGNATURE_SIZE || size > room {
            return Err(Error::SignatureSize { path, size, len });
        }
        let signed_size = room.saturating_sub(size);
        if signed_size % BLOCK_SIZE != 0 {
            return Err(Error::Unaligned {
                path,
                size: signed_size,
            });
        }
        // size <= MAX_SIGNATURE_SIZE: the allocation is bounded.
        let mut cms = vec![0u8; usize::try_from(size).unwrap_or(0)];
        file.read_exact_at(&mut cms, signed_size)
            .map_err(io_error(&path, "cannot read the signature"))?;
        Ok(Unverified {
            path,
            file,
            cms,
            signed_size,
        })
    }

    /// Verifies, in order: the CMS signature against `keyring` at `time` (see
    /// [`cms::verify`] for the time rule), the manifest it carries (format `verity`
    /// with complete verity parameters), the hash tree size against the file, the
    /// payload's root hash (computed from the payload) against the manifest, and the
    /// stored hash tree against the computed one.
    pub fn verify(self, keyring: &Keyring, time: UnixTime) -> Result<Verified, Error> {
        let path = self.path;
        let signed = cms::verify(&self.cms, keyring, time).map_err(|source| Error::Signature {
            path: path.clone(),
            source,
        })?;
        let manifest_error = |source| Error::Manifest {
            path: path.clone(),
            source,
        };
        let manifest = Manifest::parse(signed.content).map_err(manifest_error)?;
        let params = manifest.require_verity().map_err(manifest_error)?;

        let data_size = self.signed_size.saturating_sub(params.size);
        let data_blocks = data_size / BLOCK_SIZE;
        let expected = verity::tree_size(data_blocks).saturating_sub(SUPERBLOCK_SIZE);
        if params.size % BLOCK_SIZE != 0 || data_blocks < 2 || expected != params.size {
            return Err(Error::VeritySize {
                path,
                size: params.size,
                bundle: self.signed_size,
                expected,
            });
        }

        let tree = verity::hash_tree(&self.file, 0, data_blocks, &Salt(params.salt)).map_err(
            |source| Error::Verity {
                path: path.clone(),
                source,
            },
        )?;
        if tree.root != params.hash {
            return Err(Error::RootHash {
                path,
                expected: hex::encode(params.hash),
                computed: hex::encode(tree.root),
            });
        }
        compare_tree(&self.file, &path, data_size, &tree.levels_bytes)?;
        Ok(Verified {
            path,
            file: self.file,
            manifest,
            signer: signed.signer,
            payload: 0..data_size,
        })
    }
}

/// Compares the hash tree stored at `offset` with `computed`, a chunk at a time.
fn compare_tree(file: &File, path: &Path, offset: u64, computed: &[u8]) -> Result<(), Error> {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut done = 0usize;
    for chunk in computed.chunks(buffer.len()) {
        let stored = buffer.get_mut(..chunk.len()).unwrap_or_default();
        let at = offset.saturating_add(done as u64);
        file.read_exact_at(stored, at)
            .map_err(io_error(path, "cannot read the hash tree"))?;
        if let Some(i) = stored.iter().zip(chunk).position(|(a, b)| a != b) {
            return Err(Error::HashTree {
                path: path.to_path_buf(),
                offset: done.saturating_add(i) as u64,
            });
        }
        done = done.saturating_add(chunk.len());
    }
    Ok(())
}

impl Verified {
    /// The signed manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The signer certificate's subject, for logs.
    pub fn signer(&self) -> &str {
        &self.signer
    }

    /// The bundle's path as given to [`Unverified::open`].
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Byte range of the squashfs payload in [`Verified::file`] (start 0).
    pub fn payload(&self) -> Range<u64> {
        self.payload.clone()
    }

    fn payload_len(&self) -> u64 {
        self.payload.end.saturating_sub(self.payload.start)
    }

    /// The open bundle file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The manifest's image for `slot_class` (without variant).
    pub fn image(&self, slot_class: &str) -> Option<&Image> {
        self.manifest
            .images
            .iter()
            .find(|i| i.slot_class == slot_class && i.variant.is_none())
    }

    /// Lists the payload's entries.
    pub fn list(&self) -> Result<Vec<npk::squashfs::Entry>, Error> {
        npk::squashfs::list(&self.file, self.payload.start, self.payload_len()).map_err(|source| {
            Error::Squashfs {
                path: self.path.clone(),
                source,
            }
        })
    }

    /// Extracts the payload to `dest` (which must not exist or be an empty directory)
    /// and checks every image file of the manifest against its signed size and sha256.
    pub fn extract(&self, dest: &Path) -> Result<(), Error> {
        npk::squashfs::extract(&self.file, self.payload.start, self.payload_len(), dest).map_err(
            |source| Error::Squashfs {
                path: self.path.clone(),
                source,
            },
        )?;
        for image in &self.manifest.images {
            self.check_image(image, &dest.join(&image.filename))?;
        }
        Ok(())
    }

    fn check_image(&self, image: &Image, file: &Path) -> Result<(), Error> {
        let fail = |what: String| Error::Image {
            path: self.path.clone(),
            slot_class: image.slot_class.clone(),
            filename: image.filename.clone(),
            what,
        };
        if image.filename.contains('/') || image.filename.starts_with('.') {
            return Err(fail(
                "file name must not contain '/' or start with '.'".into(),
            ));
        }
        let mut f = File::open(file).map_err(|e| fail(format!("cannot open: {e}")))?;
        let mut hasher = Sha256::new();
        let size = io::copy(&mut f, &mut hasher).map_err(|e| fail(format!("cannot read: {e}")))?;
        if let Some(expected) = image.size {
            if expected != size {
                return Err(fail(format!(
                    "size {size} differs from the manifest's {expected}"
                )));
            }
        }
        if let Some(expected) = image.sha256 {
            let digest: [u8; 32] = hasher.finalize().into();
            if digest != expected {
                return Err(fail("sha256 differs from the manifest's".into()));
            }
        }
        Ok(())
    }
}
