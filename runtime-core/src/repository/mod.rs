//! Repositories of packages and the registry over them.
//!
//! A repository is a directory of `.npk` files with a trusted public key, or, for
//! development only and when configured so explicitly, without one. Trust is in the types:
//! [`Package::Signed`] comes only from a keyed repository after the signature, the signed
//! metadata and the verity superblock were checked, and a full hash check of `fs.img` when
//! it was installed; at start-up its data is left to dm-verity, which checks every block
//! when it is read ([`Depth`]). [`Package::Development`] comes only from a repository marked
//! `unverified = true`. A keyed repository never yields a development package.
//!
//! Trust does not leak between repositories: a manifest may ask only for what its
//! repository's policy allows (checked at install and at load), a container's resources
//! resolve only in the repositories its own trusts ([`Repository::trusts`]: the same key or
//! a keyed repository named in `resources_from`, never an unverified one for a keyed
//! container), and unverified repositories sit next to keyed ones only on a configuration
//! marked `development = true`.
//!
//! Installing is split so that the heavy part runs off the event loop: [`prepare_install`]
//! (stream to a temporary file, sync, check; or [`adopt_install`]: take over a file
//! already spooled in the repository directory by a rename) on any thread, then [`Repository::commit`]
//! (capacity, duplicates, atomic rename, directory sync) where the registry lives. A
//! power cut at any moment leaves the old or the new set of packages, never a half-written
//! one that is loaded.
//!
//! This module does not mount packages (`mount`) or know about running containers.

mod error;
mod install;
mod package;
mod policy;
mod registry;
mod repo;

pub use error::Error;
pub use install::{adopt_install, prepare_install, Limits, Prepared, TEMP_SUFFIX};
pub use package::{check, Depth, Package};
pub use registry::Registry;
pub use repo::Repository;

use std::path::PathBuf;

/// A package file that was refused while loading a repository, for the caller to report.
/// The file is left where it is.
#[derive(Debug)]
pub struct Rejected {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub error: Error,
}
