//! Debian's stock kernels for the boards, fetched without installing them and cached.
//!
//! [`KernelCache::fetch`] returns the cached kernel of a board when there is one (it only
//! reads a stamp file: no apt, no network). Otherwise it resolves the board's kernel
//! metapackage to the current versioned package with the local apt lists (`apt-cache
//! show`), downloads it (`apt-get download`), unpacks it (`dpkg -x`), writes its
//! `modules.dep` (`depmod -b`) and records what it holds in the stamp.
//! [`KernelCache::refresh`] re-resolves and replaces a cached kernel of an older version.
//! Each board has its own directory and lock file, so boards fetch in parallel and
//! processes do not collide.
//!
//! It does not configure apt: the foreign architectures (arm64, armhf) and the package
//! lists are `scripts/setup.sh`'s work.

mod apt;
mod stamp;

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use crate::Board;
pub use apt::Package;

/// The environment variable naming the cache directory.
pub const CACHE_ENV: &str = "NORTHSTAR_QEMU_CACHE";

/// Errors while fetching or locating a kernel.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot {step} {path}")]
    Io {
        step: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot lock {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("{board}: {step}: cannot run {program}")]
    Spawn {
        board: Board,
        step: &'static str,
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{board}: {step}: `{command}` failed ({status}):\n{stderr}")]
    Command {
        board: Board,
        step: &'static str,
        command: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("{board}: {step}: {reason}")]
    Unexpected {
        board: Board,
        step: &'static str,
        reason: String,
    },
}

/// An unpacked kernel, ready to boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kernel {
    pub board: Board,
    /// The versioned Debian package, e.g. `linux-image-6.1.0-NN-amd64`, and its version.
    pub package: Package,
    /// The kernel release (`uname -r`), the name of the modules directory.
    pub release: String,
    /// `boot/vmlinuz-<release>`.
    pub vmlinuz: PathBuf,
    /// `lib/modules/<release>`, with `modules.dep`.
    pub modules_dir: PathBuf,
    /// The board's device tree, if it needs one.
    pub dtb: Option<PathBuf>,
}

/// The cache directory holding one unpacked kernel per board.
#[derive(Clone, Debug)]
pub struct KernelCache {
    dir: PathBuf,
}

impl KernelCache {
    /// A cache in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The cache named by `NORTHSTAR_QEMU_CACHE`, else `<target>/qemu-cache`.
    pub fn from_env() -> Self {
        match std::env::var_os(CACHE_ENV) {
            Some(dir) if !dir.is_empty() => Self::new(dir),
            _ => Self::new(crate::cargo::target_dir().join("qemu-cache")),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The board's kernel: the cached one if there is one (no apt, no network), else the
    /// version apt's lists name now, downloaded and unpacked.
    pub fn fetch(&self, board: Board) -> Result<Kernel, Error> {
        let _lock = self.lock(board)?;
        if let Some(kernel) = self.cached(board)? {
            log::debug!("{board}: {} is cached", kernel.package);
            return Ok(kernel);
        }
        let package = apt::resolve(board)?;
        self.download(board, &package)
    }

    /// Like [`KernelCache::fetch`], but asks apt's lists for the current version first and
    /// replaces a cached kernel of another version. It does not update the lists: run
    /// `apt-get update` first to see a newer kernel.
    pub fn refresh(&self, board: Board) -> Result<Kernel, Error> {
        let _lock = self.lock(board)?;
        let package = apt::resolve(board)?;
        if let Some(kernel) = self.cached(board)? {
            if kernel.package == package {
                return Ok(kernel);
            }
            log::info!(
                "{board}: cache holds {}, apt offers {package}",
                kernel.package
            );
        }
        self.download(board, &package)
    }

    /// The kernel the cache holds for `board`, without asking apt.
    pub fn cached(&self, board: Board) -> Result<Option<Kernel>, Error> {
        let dir = self.board_dir(board);
        let Some(stamp) = stamp::read(&dir)? else {
            return Ok(None);
        };
        match locate(board, &dir.join("root"), stamp.package) {
            Ok(kernel) => Ok(Some(kernel)),
            Err(err) => {
                log::warn!("{board}: ignoring an incomplete cache entry: {err}");
                Ok(None)
            }
        }
    }

    fn board_dir(&self, board: Board) -> PathBuf {
        self.dir.join(board.name())
    }

    fn lock(&self, board: Board) -> Result<Flock<File>, Error> {
        let io = |step| {
            move |source| Error::Io {
                step,
                path: self.dir.clone(),
                source,
            }
        };
        fs::create_dir_all(&self.dir).map_err(io("create"))?;
        let path = self.dir.join(format!("{}.lock", board.name()));
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io("open the lock file in"))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, source)| Error::Lock { path, source })
    }

    /// Downloads and unpacks into `<board>.partial`, then renames it into place.
    fn download(&self, board: Board, package: &Package) -> Result<Kernel, Error> {
        let partial = self.dir.join(format!("{}.partial", board.name()));
        remove_dir(&partial)?;
        let root = partial.join("root");
        fs::create_dir_all(&root).map_err(|source| Error::Io {
            step: "create",
            path: root.clone(),
            source,
        })?;
        log::info!("{board}: downloading {package}");
        let deb = apt::download(board, package, &partial)?;
        apt::extract(board, &deb, &root)?;
        fs::remove_file(&deb).map_err(|source| Error::Io {
            step: "remove",
            path: deb.clone(),
            source,
        })?;
        let release = release(board, &root)?;
        apt::depmod(board, &root, &release)?;
        locate(board, &root, package.clone())?;
        stamp::write(
            &partial,
            &stamp::Stamp {
                package: package.clone(),
            },
        )?;
        let dir = self.board_dir(board);
        remove_dir(&dir)?;
        fs::rename(&partial, &dir).map_err(|source| Error::Io {
            step: "rename into place",
            path: partial,
            source,
        })?;
        locate(board, &dir.join("root"), package.clone())
    }
}

/// The single kernel release under `root/lib/modules`.
fn release(board: Board, root: &Path) -> Result<String, Error> {
    let modules = root.join("lib/modules");
    let entries = fs::read_dir(&modules).map_err(|source| Error::Io {
        step: "list",
        path: modules.clone(),
        source,
    })?;
    let mut releases = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io {
            step: "list",
            path: modules.clone(),
            source,
        })?;
        releases.push(entry.file_name().to_string_lossy().into_owned());
    }
    match releases.as_slice() {
        [release] => Ok(release.clone()),
        _ => Err(Error::Unexpected {
            board,
            step: "locate the modules",
            reason: format!(
                "expected one release in {}, found {releases:?}",
                modules.display()
            ),
        }),
    }
}

/// Finds vmlinuz, the modules directory and the dtb in an unpacked kernel package.
fn locate(board: Board, root: &Path, package: Package) -> Result<Kernel, Error> {
    let release = release(board, root)?;
    let must_exist = |path: PathBuf| {
        if path.exists() {
            Ok(path)
        } else {
            Err(Error::Unexpected {
                board,
                step: "locate the kernel",
                reason: format!("{} is missing", path.display()),
            })
        }
    };
    let vmlinuz = must_exist(root.join("boot").join(format!("vmlinuz-{release}")))?;
    let modules_dir = root.join("lib/modules").join(&release);
    must_exist(modules_dir.join("modules.dep"))?;
    let dtb = match board.dtb() {
        Some(name) => Some(must_exist(
            root.join("usr/lib")
                .join(format!("linux-image-{release}"))
                .join(name),
        )?),
        None => None,
    };
    Ok(Kernel {
        board,
        package,
        release,
        vmlinuz,
        modules_dir,
        dtb,
    })
}

fn remove_dir(dir: &Path) -> Result<(), Error> {
    match fs::remove_dir_all(dir) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
            step: "remove",
            path: dir.to_path_buf(),
            source: err,
        }),
        _ => Ok(()),
    }
}
