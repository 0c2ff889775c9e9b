//! Errors of repositories and the registry. Each names the package file, the repository or
//! the container concerned.

use crate::id::ContainerId;
use std::{io, path::PathBuf};

/// Why a repository could not be opened, or a package was refused, installed or removed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No repository of this name.
    #[error("no such repository {0:?}")]
    NoRepository(String),
    /// A second repository of the same name was added to the registry.
    #[error("repository {0:?} is already in the registry")]
    DuplicateRepository(String),
    /// An unverified repository next to keyed ones, and the configuration is not marked
    /// `development = true`.
    #[error(
        "repository {0:?}: an unverified repository next to keyed ones is allowed only on a \
         development image (development = true)"
    )]
    Development(String),
    /// Neither a key nor `unverified = true`.
    #[error("repository {0:?}: a repository without a key must set unverified = true")]
    NoTrust(String),
    /// Both a key and `unverified = true`.
    #[error("repository {0:?}: a repository with a key must not set unverified = true")]
    KeyAndUnverified(String),
    /// The public key file could not be loaded.
    #[error("repository {repository:?}: cannot load the public key: {source}")]
    Key {
        repository: String,
        #[source]
        source: npk::key::Error,
    },
    /// A file system operation failed.
    #[error("{}: cannot {what}: {source}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    /// The package failed to open or to verify (the message starts with its file).
    #[error(transparent)]
    Package(#[from] npk::package::Error),
    /// A directory, symlink or device where a package file was expected.
    #[error("{}: not a regular file", .0.display())]
    NotRegular(PathBuf),
    /// A package for development in a repository that takes only signed packages.
    #[error("{}: repository {repository:?} takes only signed packages", path.display())]
    Untrusted { path: PathBuf, repository: String },
    /// The same container twice (in one repository or across repositories).
    #[error("{}: {id} is already installed as {}", path.display(), existing.display())]
    Duplicate {
        id: ContainerId,
        existing: PathBuf,
        path: PathBuf,
    },
    /// The repository holds its maximum number of packages.
    #[error(
        "{}: repository {repository:?} is full: it holds at most {max} packages",
        path.display()
    )]
    CapacityCount {
        path: PathBuf,
        repository: String,
        max: u32,
    },
    /// The package does not fit into the repository's byte limit.
    #[error(
        "{}: repository {repository:?} is full: {size} more bytes would exceed its limit of \
         {max} bytes ({used} used)",
        path.display()
    )]
    CapacityBytes {
        path: PathBuf,
        repository: String,
        max: u64,
        used: u64,
        size: u64,
    },
    /// The package stream is longer than allowed.
    #[error("install into {}: the package is larger than {limit} bytes", dir.display())]
    TooLarge { dir: PathBuf, limit: u64 },
    /// Reading the package stream failed.
    #[error("install into {}: cannot read the package: {source}", dir.display())]
    Stream {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A package prepared for one repository was committed to another.
    #[error(
        "{}: prepared for {}, cannot be committed to repository {repository:?}",
        path.display(),
        dir.display()
    )]
    WrongRepository {
        path: PathBuf,
        dir: PathBuf,
        repository: String,
    },
    /// The final file name is taken (by a package that was refused, or another file).
    #[error("{}: a file of this name already exists", .0.display())]
    Exists(PathBuf),
    /// The installed file is not the one that was checked.
    #[error("{}: the file changed while it was installed", .0.display())]
    Replaced(PathBuf),
    /// The manifest asks for something its repository's policy does not allow.
    #[error(
        "{}: repository {repository:?} does not allow {package} to ask for {field} {value}",
        path.display()
    )]
    Policy {
        path: PathBuf,
        repository: String,
        package: String,
        field: String,
        value: String,
    },
    /// No such container (in the registry, or in this repository).
    #[error("{0}: not installed")]
    NotInstalled(ContainerId),
}
