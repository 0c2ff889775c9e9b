//! A package the registry accepted, with its trust in its type, and [`check`], the one way
//! to get one from a file.
//!
//! `Signed` exists only after the signature, the signed metadata and every block of
//! `fs.img` were checked against a repository's key; `Development` only for a repository
//! without a key. This module does not decide which repository a package belongs to.

use super::Error;
use crate::id::ContainerId;
use npk::{
    key::PublicKey,
    manifest::Manifest,
    package::{Npk, Unverified, Verified},
};
use std::{fs, io, path::Path};

/// A package in a repository.
#[derive(Debug)]
pub enum Package {
    /// From a keyed repository: signature, metadata and the whole hash tree checked.
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
}

/// Open and check the package file at `path`. With `key`: verify the signature and the
/// signed metadata, then read and check every block of `fs.img` against the signed root
/// hash, giving [`Package::Signed`]. Without a key (only for a repository marked
/// `unverified = true`): open it and check its layout, giving [`Package::Development`].
///
/// Pure and thread-safe: it touches nothing but the file, so it can run on a worker
/// thread (checking a large package reads all of it). Errors name the file.
pub fn check(path: &Path, key: Option<&PublicKey>) -> Result<Package, Error> {
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
            npk.check_fs_img()?;
            Ok(Package::Signed(npk))
        }
        None => Ok(Package::Development(npk.parse_unverified()?)),
    }
}
