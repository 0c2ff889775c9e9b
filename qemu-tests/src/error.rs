//! The error of the commands that build images and boot Northstar's init: the boot
//! ([`crate::boot`]), the demo ([`crate::demo`]) and the scenarios ([`crate::scenario`]).
//! What the guest did wrong is not an error: each command reports it as its run's
//! problems; a line that never came is a [`qemu::Error`] with the console's tail.

use std::path::{Path, PathBuf};

use crate::image::{config, data, initrd, packages, root, sdcard};
use crate::qemu::{self, channel, qmp};
use crate::{cargo, kernels, modules, Board};

/// Errors preparing or running the boot, the demo or a scenario.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The scenarios run on x86_64 only.
    #[error("{board}: the scenarios support x86_64 only so far")]
    Unsupported { board: Board },
    /// The board's configuration names other disks than the harness attaches.
    #[error(
        "{path}: with the kernel arguments {overrides:?} the board must use {expected} for \
         {what} (the disks the harness attaches), not {found}"
    )]
    Devices {
        path: PathBuf,
        overrides: Vec<String>,
        what: &'static str,
        expected: &'static str,
        found: String,
    },
    /// The init's boot failed (its `boot failed` line).
    #[error("{board}: the init's boot failed: {line} (log: {log})\n--- console tail ---\n{tail}")]
    BootFailed {
        board: Board,
        line: String,
        log: PathBuf,
        tail: String,
    },
    /// A binary asked for was not among cargo's results.
    #[error("cargo did not return the binary {name}")]
    Binary { name: String },
    /// A file system operation (`step`: create, read, write, …) on `path`.
    #[error("cannot {step} {path}")]
    Io {
        step: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A key could not be generated or saved (the source names the file).
    #[error("cannot {step} a key")]
    Key {
        step: &'static str,
        #[source]
        source: npk::key::Error,
    },
    /// A package could not be packed (the source names the file).
    #[error("cannot pack the package {name}")]
    Pack {
        name: String,
        #[source]
        source: npk::pack::Error,
    },
    /// The QMP socket's path does not fit a unix socket address.
    #[error(
        "the QMP socket path {path} is longer than {} bytes",
        channel::MAX_SOCKET_PATH
    )]
    SocketPath { path: PathBuf },
    /// A scenario's image to tamper with has no squashfs at `offset`.
    #[error("{path}: no squashfs at offset {offset}")]
    NotSquashfs { path: PathBuf, offset: u64 },
    /// A scenario's image to tamper with has nothing in its squashfs's data area.
    #[error("{path}: the squashfs at offset {offset} has an empty data area")]
    NoData { path: PathBuf, offset: u64 },
    /// A scenario's package to tamper with cannot be opened.
    #[error("{path}: not a package")]
    NotPackage {
        path: PathBuf,
        #[source]
        source: Box<npk::package::Error>,
    },
    /// A request of the management API over the channel.
    #[error("management API over the channel: {what}")]
    Client {
        what: &'static str,
        #[source]
        source: northstar_client::Error,
    },
    /// An update bundle could not be written.
    #[error("cannot write the update bundle {path}")]
    Bundle {
        path: PathBuf,
        #[source]
        source: northstar_bundle::write::Error,
    },
    #[error(transparent)]
    Kernel(#[from] kernels::Error),
    #[error(transparent)]
    Build(#[from] cargo::Error),
    #[error(transparent)]
    Config(#[from] config::Error),
    #[error(transparent)]
    Modules(#[from] modules::Error),
    #[error(transparent)]
    Root(#[from] root::Error),
    #[error(transparent)]
    Packages(#[from] packages::Error),
    #[error(transparent)]
    Data(#[from] data::Error),
    #[error(transparent)]
    SdCard(#[from] sdcard::Error),
    #[error(transparent)]
    Initrd(#[from] initrd::Error),
    #[error(transparent)]
    Qemu(#[from] qemu::Error),
    #[error(transparent)]
    Qmp(#[from] qmp::Error),
    #[error(transparent)]
    Channel(#[from] channel::Error),
    #[error(transparent)]
    Uboot(#[from] crate::uboot::Error),
}

impl Error {
    /// For `map_err`: an [`Error::Io`] of `step` on `path`.
    pub fn io(step: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.to_path_buf();
        move |source| Error::Io { step, path, source }
    }

    /// For `map_err`: an [`Error::Key`] of `step` (generate, save).
    pub fn key(step: &'static str) -> impl FnOnce(npk::key::Error) -> Error {
        move |source| Error::Key { step, source }
    }

    /// For `map_err`: an [`Error::Pack`] of the package `name`.
    pub fn pack(name: &str) -> impl FnOnce(npk::pack::Error) -> Error {
        let name = name.to_owned();
        move |source| Error::Pack { name, source }
    }

    /// [`Error::SocketPath`] when `path` is too long for a unix socket.
    pub fn check_socket_path(path: &Path) -> Result<(), Error> {
        if path.as_os_str().len() > channel::MAX_SOCKET_PATH {
            return Err(Error::SocketPath {
                path: path.to_path_buf(),
            });
        }
        Ok(())
    }
}
