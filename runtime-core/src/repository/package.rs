//! A package the registry accepted, with its trust in its type, and [`check`], the one way
//! to get one from a file.
//!
//! `Signed` exists only after the signature, the signed metadata and the verity superblock
//! were checked against a repository's key, and, when the package was installed, every
//! block of `fs.img` ([`Depth::Full`]); at start-up ([`Depth::Metadata`]) the data blocks
//! are left to dm-verity, which checks each block when it is read. `Development` only for a
//! repository without a key. This module does not decide which repository a package
//! belongs to.

use super::Error;
use crate::id::ContainerId;
use npk::{
    key::PublicKey,
    manifest::Manifest,
    package::{Npk, Unverified, Verified},
};
use std::{fs, io, path::Path};

/// How much of a signed package [`check`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Depth {
    /// The signature, the signed metadata and the verity superblock: a few KiB whatever the
    /// package's size. For packages that were checked in full when they were installed
    /// (loading a repository at start-up); their data is verified by dm-verity on read.
    Metadata,
    /// Also every data and hash block of `fs.img` against the signed root hash: reads the
    /// whole package. For installing, and for checking installed packages on request.
    Full,
}

/// A package in a repository.
#[derive(Debug)]
pub enum Package {
    /// From a keyed repository: signature, metadata and verity superblock checked (the
    /// whole hash tree too when it was installed).
    Signed(Npk<Verified>),
    /// From a repository marked `unverified = true`: nothing checked but its layout.
    Development(Npk<Unverified>),
}

impl Package {
    /// The package's manifest.
    pub fn manifest(&self) -> &Manifest {
        match self {
            Package::Signed(npk) => npk.manifest(),
            Package::Development(npk) => npk.manifest(),
        }
    }

    /// The container this package holds.
    pub fn id(&self) -> ContainerId {
        let manifest = self.manifest();
        ContainerId::new(manifest.name.clone(), manifest.version.clone())
    }

    /// The package file.
    pub fn path(&self) -> &Path {
        match self {
            Package::Signed(npk) => npk.path(),
            Package::Development(npk) => npk.path(),
        }
    }

    /// The open package file.
    pub fn file(&self) -> &fs::File {
        match self {
            Package::Signed(npk) => npk.file(),
            Package::Development(npk) => npk.file(),
        }
    }

    /// The size of the package file in bytes (of the open file, not of the path).
    pub fn file_size(&self) -> io::Result<u64> {
        self.file().metadata().map(|m| m.len())
    }

    /// Whether the package was verified with a key.
    pub fn is_signed(&self) -> bool {
        matches!(self, Package::Signed(_))
    }

    /// The same package on its own descriptor of the same file, for another thread.
    pub fn try_clone(&self) -> io::Result<Package> {
        Ok(match self {
            Package::Signed(npk) => Package::Signed(npk.try_clone()?),
            Package::Development(npk) => Package::Development(npk.try_clone()?),
        })
    }

    /// Read and check every data and hash block of a signed package's `fs.img` against its
    /// signed root hash (reads the whole image: run it off the event loop). `Ok(false)` for
    /// a development package, which has nothing to check against.
    pub fn check_fs_img(&self) -> Result<bool, Error> {
        match self {
            Package::Signed(npk) => npk.check_fs_img().map(|()| true).map_err(Error::from),
            Package::Development(_) => Ok(false),
        }
    }
}

/// Open and check the package file at `path`. With `key`: verify the signature, the
/// signed metadata and the verity superblock, and with [`Depth::Full`] read and check
/// every block of `fs.img` against the signed root hash, giving [`Package::Signed`].
/// Without a key (only for a repository marked `unverified = true`): open it and check its
/// layout, giving [`Package::Development`].
///
/// Pure and thread-safe: it touches nothing but the file, so it can run on a worker
/// thread (a full check of a large package reads all of it). Errors name the file.
pub fn check(path: &Path, key: Option<&PublicKey>, depth: Depth) -> Result<Package, Error> {
    let meta = fs::symlink_metadata(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        what: "stat",
        source,
    })?;
    if !meta.file_type().is_file() {
        return Err(Error::NotRegular(path.to_owned()));
    }
    let npk = Npk::open(path)?;
    match key {
        Some(key) => {
            let npk = npk.verify(key)?;
            if depth == Depth::Full {
                npk.check_fs_img()?;
            }
            Ok(Package::Signed(npk))
        }
        None => Ok(Package::Development(npk.parse_unverified()?)),
    }
}
