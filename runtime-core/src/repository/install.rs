//! The first, heavy phase of an install, meant for a worker thread: stream a package into
//! a temporary file in the repository directory, sync it and check it.
//!
//! The result, a [`Prepared`] package, is committed by the repository (capacity and
//! duplicate checks, atomic rename) on the thread that owns the registry. A temporary file
//! never has a `.npk` name: it ends in [`TEMP_SUFFIX`], and such files are removed when a
//! repository is loaded, so a power cut at any moment leaves no half-written package.

use super::{check, Depth, Error, Package};
use crate::id::ContainerId;
use npk::key::PublicKey;
use std::{
    fs::{self, File, OpenOptions},
    io::{self, Read},
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    sync::atomic::{AtomicU64, Ordering},
};

/// Name ending of temporary files of installs in progress.
pub const TEMP_SUFFIX: &str = ".partial";

/// Capacity limits of a repository.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Most packages.
    pub max_packages: Option<u32>,
    /// Most bytes of package files.
    pub max_bytes: Option<u64>,
}

/// A checked package in a temporary file, ready for [`super::Repository::commit`].
/// Dropping it removes the temporary file.
#[derive(Debug)]
pub struct Prepared {
    pub(super) temp: Temp,
    pub(super) dir: PathBuf,
    pub(super) key: Option<PublicKey>,
    pub(super) package: Package,
    pub(super) size: u64,
}

impl Prepared {
    /// The checked package (its path is the temporary file).
    pub fn package(&self) -> &Package {
        &self.package
    }

    /// The container it holds.
    pub fn id(&self) -> ContainerId {
        self.package.id()
    }

    /// Size of the package file in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The name the package gets when committed: `<dir>/<name>-<version>.npk`.
    pub fn target(&self) -> PathBuf {
        let manifest = self.package.manifest();
        self.dir
            .join(format!("{}-{}.npk", manifest.name, manifest.version))
    }
}

/// Stream a package from `source` (at most `max_size` bytes, and at most
/// `limits.max_bytes`) into a temporary file in `dir`, sync it and [`check`] it with `key`
/// (`None` only for a repository marked `unverified = true`). On any error the temporary
/// file is removed. Blocking and thread-safe: run it off the event loop.
pub fn prepare_install(
    dir: &Path,
    key: Option<&PublicKey>,
    limits: Limits,
    source: impl Read,
    max_size: u64,
) -> Result<Prepared, Error> {
    let limit = max_size.min(limits.max_bytes.unwrap_or(u64::MAX));
    let (temp, mut file) = Temp::create(dir)?;
    let copied =
        io::copy(&mut source.take(limit.saturating_add(1)), &mut file).map_err(|source| {
            match source.kind() {
                // Errors of the destination name the file; the others come from the stream.
                io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => Error::Io {
                    path: temp.path.clone(),
                    what: "write",
                    source,
                },
                _ => Error::Stream {
                    dir: dir.to_owned(),
                    source,
                },
            }
        })?;
    if copied > limit {
        return Err(Error::TooLarge {
            dir: dir.to_owned(),
            limit,
        });
    }
    file.sync_all().map_err(|source| Error::Io {
        path: temp.path.clone(),
        what: "sync",
        source,
    })?;
    drop(file);
    let package = check(&temp.path, key, Depth::Full)?;
    Ok(Prepared {
        temp,
        dir: dir.to_owned(),
        key: key.copied(),
        package,
        size: copied,
    })
}

/// Like [`prepare_install`] for a package already written to `spool`, a file in `dir`
/// whose name ends in [`TEMP_SUFFIX`] (the management server's spool): the file is taken
/// over by a rename to a temporary name of its own instead of being copied, then sized,
/// synced and [`check`]ed. From the rename on the file is this install's: any error
/// removes it. A spool on another file system is copied as [`prepare_install`] does.
pub fn adopt_install(
    dir: &Path,
    key: Option<&PublicKey>,
    limits: Limits,
    spool: &Path,
) -> Result<Prepared, Error> {
    let in_dir = spool.parent() == Some(dir)
        && spool
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(TEMP_SUFFIX));
    let temp = match in_dir.then(|| Temp::adopt(dir, spool)).transpose()? {
        Some(temp) => temp,
        None => {
            let file = File::open(spool).map_err(|source| Error::Io {
                path: spool.to_owned(),
                what: "open",
                source,
            })?;
            return prepare_install(dir, key, limits, file, u64::MAX);
        }
    };
    let io = |what: &'static str| {
        let path = temp.path.clone();
        move |source| Error::Io { path, what, source }
    };
    // O_NOFOLLOW: the name was the server's a moment ago; only a regular file is taken.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&temp.path)
        .map_err(io("open"))?;
    let meta = file.metadata().map_err(io("stat"))?;
    if !meta.file_type().is_file() {
        return Err(Error::NotRegular(temp.path.clone()));
    }
    let limit = limits.max_bytes.unwrap_or(u64::MAX);
    if meta.len() > limit {
        return Err(Error::TooLarge {
            dir: dir.to_owned(),
            limit,
        });
    }
    // Readable like every package file (the spool was private while it was written).
    file.set_permissions(fs::Permissions::from_mode(0o644))
        .map_err(io("set the mode of"))?;
    // The sync (writing the spool back to the device) and the check (reading it from the
    // page cache) overlap; the package is used only when both succeeded.
    let (synced, checked) = std::thread::scope(|scope| {
        let sync = scope.spawn(|| file.sync_all());
        let checked = check(&temp.path, key, Depth::Full);
        let synced = sync
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the sync thread panicked")));
        (synced, checked)
    });
    synced.map_err(io("sync"))?;
    let package = checked?;
    Ok(Prepared {
        temp,
        dir: dir.to_owned(),
        key: key.copied(),
        package,
        size: meta.len(),
    })
}

/// A temporary file, removed when dropped unless `kept`.
#[derive(Debug)]
pub(super) struct Temp {
    pub(super) path: PathBuf,
    pub(super) kept: bool,
}

/// Names for temporary files.
static COUNTER: AtomicU64 = AtomicU64::new(0);

impl Temp {
    /// A fresh temporary name in `dir`.
    fn name(dir: &Path) -> PathBuf {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        dir.join(format!(".install-{}-{n}{TEMP_SUFFIX}", std::process::id()))
    }

    /// Take `file` (in `dir`) over under a fresh temporary name: a hard link (which never
    /// replaces an existing name, so a name left by an earlier process with the same pid
    /// is never overwritten), then the old name removed. Portable to musl, which has no
    /// `renameat2` wrapper.
    fn adopt(dir: &Path, file: &Path) -> Result<Temp, Error> {
        let io = |what: &'static str| {
            move |source: std::io::Error| Error::Io {
                path: file.to_owned(),
                what,
                source,
            }
        };
        let mut attempts = 0u32;
        loop {
            attempts = attempts.saturating_add(1);
            let path = Temp::name(dir);
            match std::fs::hard_link(file, &path) {
                Ok(()) => {
                    let temp = Temp { path, kept: false };
                    std::fs::remove_file(file).map_err(io("take over"))?;
                    return Ok(temp);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempts < 1000 => {
                    continue
                }
                Err(e) => return Err(io("take over")(e)),
            }
        }
    }

    fn create(dir: &Path) -> Result<(Temp, File), Error> {
        let mut attempts = 0u32;
        loop {
            attempts = attempts.saturating_add(1);
            let path = Temp::name(dir);
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&path)
            {
                Ok(file) => return Ok((Temp { path, kept: false }, file)),
                // Left over from an earlier process with the same pid: try the next name.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 1000 => continue,
                Err(source) => {
                    return Err(Error::Io {
                        path,
                        what: "create",
                        source,
                    })
                }
            }
        }
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        match fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            // Nothing to hand it to; it is removed at the next load at the latest.
            Err(e) => log::warn!("{}: cannot remove: {e}", self.path.display()),
        }
    }
}

/// Make the entries of `dir` durable (after a rename, link or unlink in it).
pub(super) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| Error::Io {
            path: dir.to_owned(),
            what: "sync the directory",
            source,
        })
}
