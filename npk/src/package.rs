//! Opening packages: `Npk<Raw>` from a file, `Npk<Verified>` only through
//! [`Npk::verify`], `Npk<Unverified>` only through [`Npk::parse_unverified`].
//!
//! Opening reads the zip structure with its bounds and loads the small entries as bytes;
//! it parses none of them and never reads `fs.img`. Verification checks, in this order:
//! the ed25519 signature over the raw signed bytes, then (now that they are trusted) the
//! hash of the archive comment and the hash of the manifest; only then are the comment
//! (format version) and the manifest parsed, and the alignment and bounds of the signed
//! verity offset within `fs.img` and the verity superblock's fields checked against the
//! signed values. The data blocks themselves are checked by dm-verity when read, or in
//! full by [`Npk::check_fs_img`]. A package of a repository without a key is parsed
//! without any of these checks, by [`Npk::parse_unverified`] (the caller's decision).

// PID 1 opens and verifies untrusted packages: no indexing or arithmetic that can panic
// outside tests (doc/design.md, "PID 1 never panics").
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use crate::{
    archive::{self, Archive},
    key::PublicKey,
    manifest::{self, Manifest},
    signature::{self, SignedHashes},
    verity,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::{
    fs::File,
    ops::Range,
    os::unix::fs::FileExt,
    path::{Path, PathBuf},
};

/// Trust state: the archive's structure is read, its entries are bytes; nothing of them
/// is parsed and nothing is authenticated.
#[derive(Debug)]
pub struct Raw;
/// Trust state: parsed without any check (a repository without a key).
#[derive(Clone, Debug)]
pub struct Unverified(Contents);
/// Trust state: signature, hashes and verity metadata checked against a trusted key, then
/// parsed. Holds the checked verity parameters, so they exist only on a verified package.
#[derive(Clone, Debug)]
pub struct Verified(Contents, Verity);

/// What parsing the comment and the manifest gave.
#[derive(Clone, Debug)]
pub struct Contents {
    format: semver::Version,
    manifest: Manifest,
}

/// A trust state that holds parsed contents: [`Unverified`] and [`Verified`].
pub trait Parsed: private::Sealed {
    /// The parsed contents.
    fn contents(&self) -> &Contents;
}

mod private {
    pub trait Sealed {}
    impl Sealed for super::Unverified {}
    impl Sealed for super::Verified {}
}

impl Parsed for Unverified {
    fn contents(&self) -> &Contents {
        &self.0
    }
}

impl Parsed for Verified {
    fn contents(&self) -> &Contents {
        &self.0
    }
}

/// An open package file.
#[derive(Debug)]
pub struct Npk<State> {
    path: PathBuf,
    file: File,
    archive: Archive,
    trust: State,
}

/// The verity parameters of a verified package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verity {
    /// Signed root hash.
    pub root: verity::Digest,
    /// Signed size of the squashfs part of `fs.img`.
    pub offset: u64,
    /// The on-disk superblock, checked against the signed values.
    pub superblock: verity::Superblock,
}

/// Why a package could not be opened or verified. Every message starts with the file and
/// includes the whole reason, so `source()` returns nothing (a chain of sources would repeat
/// it); the reason is in [`Error::kind`].
#[derive(Debug, thiserror::Error)]
#[error("{}: {kind}", path.display())]
pub struct Error {
    /// The package file.
    pub path: PathBuf,
    /// What is wrong with it (shown in the message, not returned as a source).
    pub kind: ErrorKind,
}

/// The reasons of an [`Error`].
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    #[error("cannot open: {0}")]
    Open(#[source] std::io::Error),
    #[error("archive: {0}")]
    Archive(#[from] archive::Error),
    #[error("archive comment is not `version: <semver>`: {0}")]
    Comment(String),
    #[error("format version {found} is not supported (need >= {minimum})")]
    Format {
        found: semver::Version,
        minimum: semver::Version,
    },
    #[error("manifest.yaml: {0}")]
    Manifest(#[source] manifest::Error),
    #[error("manifest.yaml is not UTF-8")]
    ManifestEncoding,
    #[error("package is not signed (no signature.yaml)")]
    Unsigned,
    #[error("signature.yaml: {0}")]
    Signature(#[from] signature::Error),
    #[error("archive comment does not match its signed hash")]
    MetaHash,
    #[error("manifest.yaml does not match its signed hash")]
    ManifestHash,
    #[error("signed verity offset {offset} is not a positive multiple of 4096 within fs.img ({fs_img} bytes)")]
    VerityOffset { offset: u64, fs_img: u64 },
    #[error("fs.img is {found} bytes, the signed layout needs {expected}")]
    FsImgSize { found: u64, expected: u64 },
    #[error("verity superblock: {0}")]
    Superblock(#[source] verity::Error),
    #[error("verity superblock has {found} data blocks, the signed offset says {expected}")]
    SuperblockBlocks { found: u64, expected: u64 },
    #[error("fs.img: {0}")]
    FsImg(#[source] verity::Error),
    #[error("cannot read: {0}")]
    Read(#[source] std::io::Error),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Comment {
    version: semver::Version,
}

/// Minimum format version read (the major.minor of [`crate::FORMAT_VERSION`]).
pub fn minimum_format() -> semver::Version {
    semver::Version::new(crate::FORMAT_VERSION.major, crate::FORMAT_VERSION.minor, 0)
}

impl<State: Clone> Npk<State> {
    /// The same package with its own descriptor of the same open file (`dup`), for another
    /// thread: it stays the very file that was checked, whatever happens to the path.
    pub fn try_clone(&self) -> std::io::Result<Npk<State>> {
        Ok(Npk {
            path: self.path.clone(),
            file: self.file.try_clone()?,
            archive: self.archive.clone(),
            trust: self.trust.clone(),
        })
    }
}

impl Npk<Raw> {
    /// Open a package file. Reads the zip structure and the small entries as bytes; parses
    /// none of them and never reads `fs.img`. Nothing is trusted yet.
    pub fn open(path: &Path) -> Result<Npk<Raw>, Error> {
        let fail = |kind| Error {
            path: path.to_owned(),
            kind,
        };
        let file = File::open(path).map_err(|e| fail(ErrorKind::Open(e)))?;
        let archive = Archive::read(&file).map_err(|e| fail(e.into()))?;
        Ok(Npk {
            path: path.to_owned(),
            file,
            archive,
            trust: Raw,
        })
    }

    /// Authenticate the package with `key`, then parse it. Only this produces an
    /// `Npk<Verified>`.
    pub fn verify(self, key: &PublicKey) -> Result<Npk<Verified>, Error> {
        match self.check(key) {
            Ok((contents, verity)) => Ok(Npk {
                path: self.path,
                file: self.file,
                archive: self.archive,
                trust: Verified(contents, verity),
            }),
            Err(kind) => Err(Error {
                path: self.path,
                kind,
            }),
        }
    }

    /// Parse the comment and the manifest without checking anything: for a repository
    /// without a key (development) and for showing what an unverified package claims.
    pub fn parse_unverified(self) -> Result<Npk<Unverified>, Error> {
        match parse(&self.archive) {
            Ok(contents) => Ok(Npk {
                path: self.path,
                file: self.file,
                archive: self.archive,
                trust: Unverified(contents),
            }),
            Err(kind) => Err(Error {
                path: self.path,
                kind,
            }),
        }
    }

    fn check(&self, key: &PublicKey) -> Result<(Contents, Verity), ErrorKind> {
        let bytes = self.archive.signature.as_ref().ok_or(ErrorKind::Unsigned)?;
        let signed: SignedHashes = signature::verify(bytes, key)?;
        if sha256(&self.archive.comment) != signed.meta_hash {
            return Err(ErrorKind::MetaHash);
        }
        if sha256(&self.archive.manifest) != signed.manifest_hash {
            return Err(ErrorKind::ManifestHash);
        }
        // The comment and the manifest are what the key signed: only now are they parsed.
        let contents = parse(&self.archive)?;
        // The length of the range (the archive reader never returns one that ends early).
        let fs_len = self
            .archive
            .fs_img
            .end
            .saturating_sub(self.archive.fs_img.start);
        let offset = signed.verity_offset;
        let bad_offset = || ErrorKind::VerityOffset {
            offset,
            fs_img: fs_len,
        };
        if offset == 0 || !offset.is_multiple_of(verity::BLOCK_SIZE) || offset >= fs_len {
            return Err(bad_offset());
        }
        let data_blocks = offset / verity::BLOCK_SIZE;
        let expected = offset
            .checked_add(verity::tree_size(data_blocks))
            .ok_or_else(bad_offset)?;
        if fs_len != expected {
            return Err(ErrorKind::FsImgSize {
                found: fs_len,
                expected,
            });
        }
        // Within fs.img: `offset` is below its length.
        let superblock_at = self
            .archive
            .fs_img
            .start
            .checked_add(offset)
            .ok_or_else(bad_offset)?;
        let mut block = vec![0u8; verity::SUPERBLOCK_SIZE as usize];
        self.file
            .read_exact_at(&mut block, superblock_at)
            .map_err(ErrorKind::Read)?;
        let superblock = verity::Superblock::parse(&block).map_err(ErrorKind::Superblock)?;
        if superblock.data_blocks != data_blocks {
            return Err(ErrorKind::SuperblockBlocks {
                found: superblock.data_blocks,
                expected: data_blocks,
            });
        }
        let verity = Verity {
            root: signed.verity_root,
            offset,
            superblock,
        };
        Ok((contents, verity))
    }
}

impl Npk<Verified> {
    /// The checked verity parameters.
    pub fn verity(&self) -> &Verity {
        &self.trust.1
    }

    /// Full check of every data block and hash block of `fs.img` against the signed root.
    /// Reads the whole image; the runtime relies on dm-verity instead.
    pub fn check_fs_img(&self) -> Result<(), Error> {
        let v = self.verity();
        verity::verify(&self.file, self.archive.fs_img.start, v.offset, &v.root)
            .map(|_| ())
            .map_err(|e| Error {
                path: self.path.clone(),
                kind: ErrorKind::FsImg(e),
            })
    }

    /// Byte range of the squashfs image (`fs.img` up to the verity superblock) in the file.
    pub fn squashfs(&self) -> Range<u64> {
        // `verify` checked that the offset lies within fs.img: the sum cannot saturate.
        let start = self.archive.fs_img.start;
        start..start.saturating_add(self.verity().offset)
    }

    /// The device-mapper table line for this package on `device` (e.g. `/dev/loop3`,
    /// attached at the `fs.img` offset).
    pub fn dm_table(&self, device: &str) -> String {
        let v = self.verity();
        // The data in 512-byte sectors; the hash tree after the data and the superblock, in
        // 4096-byte blocks. A verified image lies within the file: neither saturates.
        let blocks = v.superblock.data_blocks;
        let (sectors, hash_start) = (blocks.saturating_mul(8), blocks.saturating_add(1));
        format!(
            "0 {} verity 1 {device} {device} 4096 4096 {blocks} {} sha256 {} {}",
            sectors,
            hash_start,
            hex::encode(v.root),
            v.superblock.salt.to_hex()
        )
    }
}

impl<S: Parsed> Npk<S> {
    /// The parsed manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.trust.contents().manifest
    }
    /// The format version from the archive comment.
    pub fn format_version(&self) -> &semver::Version {
        &self.trust.contents().format
    }
}

impl<S> Npk<S> {
    /// Whether the package carries a signature (verification may still fail).
    pub fn is_signed(&self) -> bool {
        self.archive.signature.is_some()
    }
    /// The package file.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// The open package file (for attaching a loop device).
    pub fn file(&self) -> &File {
        &self.file
    }
    /// The raw manifest bytes as stored.
    pub fn manifest_bytes(&self) -> &[u8] {
        &self.archive.manifest
    }
    /// The raw signature file, when present.
    pub fn signature_bytes(&self) -> Option<&[u8]> {
        self.archive.signature.as_deref()
    }
    /// Byte range of `fs.img` in the file.
    pub fn fs_img(&self) -> Range<u64> {
        self.archive.fs_img.clone()
    }
}

/// Parse the comment (format version), then the manifest.
fn parse(archive: &Archive) -> Result<Contents, ErrorKind> {
    let format = parse_comment(&archive.comment)?;
    let text = std::str::from_utf8(&archive.manifest).map_err(|_| ErrorKind::ManifestEncoding)?;
    let manifest = Manifest::from_yaml_str(text).map_err(ErrorKind::Manifest)?;
    Ok(Contents { format, manifest })
}

fn parse_comment(comment: &[u8]) -> Result<semver::Version, ErrorKind> {
    let text = std::str::from_utf8(comment).map_err(|_| ErrorKind::Comment("not UTF-8".into()))?;
    let parsed: Comment =
        serde_yaml_ng::from_str(text).map_err(|e| ErrorKind::Comment(e.to_string()))?;
    let minimum = minimum_format();
    if parsed.version < minimum {
        return Err(ErrorKind::Format {
            found: parsed.version,
            minimum,
        });
    }
    Ok(parsed.version)
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}
