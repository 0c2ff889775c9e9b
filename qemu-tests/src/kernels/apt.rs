//! The apt and dpkg commands behind a fetch: resolve the versioned kernel package, download
//! it, unpack it, write its module index. Output is parsed under `LC_ALL=C`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::Error;
use crate::Board;

/// Hard limit for one download, so that a stalled mirror fails the run instead of hanging.
const DOWNLOAD_TIMEOUT_SECS: u32 = 300;

/// A versioned Debian package of one architecture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    /// e.g. `linux-image-6.1.0-NN-arm64`.
    pub name: String,
    /// Debian architecture, e.g. `arm64`.
    pub arch: String,
    /// e.g. `6.1.NNN-1`.
    pub version: String,
}

impl fmt::Display for Package {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} {}", self.name, self.arch, self.version)
    }
}

/// Asks the local apt lists (no network) which versioned package the board's metapackage
/// depends on now, and its version: the metapackage's `Depends: linux-image-<abi>-<flavour>
/// (= <version>)`.
pub fn resolve(board: Board) -> Result<Package, Error> {
    let arch = board.debian_arch();
    let step = "resolve the kernel package";
    let show = |package: &str| -> Result<String, Error> {
        let mut cmd = Command::new("apt-cache");
        cmd.args(["show", "--no-all-versions", &format!("{package}:{arch}")]);
        let out = run(board, step, &mut cmd)?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let meta = board.kernel_metapackage();
    let unexpected = |reason: String| Error::Unexpected {
        board,
        step,
        reason,
    };
    let depends = field(&show(meta)?, "Depends").unwrap_or_default();
    let (name, version) = versioned_dependency(&depends).ok_or_else(|| {
        unexpected(format!(
            "{meta}:{arch} depends on no linux-image-<version> package: {depends:?}"
        ))
    })?;
    let version = match version {
        Some(version) => version,
        None => field(&show(&name)?, "Version")
            .ok_or_else(|| unexpected(format!("apt-cache show {name}:{arch} names no version")))?,
    };
    Ok(Package {
        name,
        arch: arch.to_owned(),
        version,
    })
}

/// Downloads the package's .deb into `dir` and returns its path.
pub fn download(board: Board, package: &Package, dir: &Path) -> Result<PathBuf, Error> {
    let spec = format!("{}:{}={}", package.name, package.arch, package.version);
    let mut cmd = Command::new("timeout");
    cmd.arg(DOWNLOAD_TIMEOUT_SECS.to_string())
        .args(["apt-get", "download", "-q", &spec])
        .current_dir(dir);
    run(board, "download the kernel package", &mut cmd)?;
    let prefix = format!("{}_", package.name);
    let found = std::fs::read_dir(dir)
        .map_err(|source| Error::Io {
            step: "list",
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            name.starts_with(&prefix) && name.ends_with(".deb")
        });
    found.ok_or_else(|| Error::Unexpected {
        board,
        step: "download the kernel package",
        reason: format!(
            "apt-get download left no {prefix}*.deb in {}",
            dir.display()
        ),
    })
}

/// Unpacks a .deb's files into `root` (no maintainer scripts run: nothing is installed).
pub fn extract(board: Board, deb: &Path, root: &Path) -> Result<(), Error> {
    let mut cmd = Command::new("dpkg");
    cmd.arg("-x").arg(deb).arg(root);
    run(board, "unpack the kernel package", &mut cmd).map(drop)
}

/// Writes `modules.dep` and friends for the unpacked kernel (the package's postinst would
/// have done that on an installed system).
pub fn depmod(board: Board, root: &Path, release: &str) -> Result<(), Error> {
    let mut cmd = Command::new("depmod");
    cmd.arg("-b").arg(root).arg(release);
    run(board, "index the modules", &mut cmd).map(drop)
}

fn run(board: Board, step: &'static str, cmd: &mut Command) -> Result<Output, Error> {
    let command = format!("{cmd:?}");
    let output = cmd.env("LC_ALL", "C").output();
    checked(board, step, &command, output)
}

fn checked(
    board: Board,
    step: &'static str,
    command: &str,
    output: std::io::Result<Output>,
) -> Result<Output, Error> {
    let output = output.map_err(|source| Error::Spawn {
        board,
        step,
        program: command.to_owned(),
        source,
    })?;
    if output.status.success() {
        return Ok(output);
    }
    Err(Error::Command {
        board,
        step,
        command: command.to_owned(),
        status: output.status,
        stderr: crate::cargo::tail(&String::from_utf8_lossy(&output.stderr), 20),
    })
}

/// The `linux-image-<digit>…` package in a `Depends` field, with its `(= version)` if any.
fn versioned_dependency(depends: &str) -> Option<(String, Option<String>)> {
    depends.split([',', '|']).find_map(|dep| {
        let (name, constraint) = match dep.split_once('(') {
            Some((name, constraint)) => (name.trim(), Some(constraint)),
            None => (dep.trim(), None),
        };
        let name = name.split(':').next()?;
        let rest = name.strip_prefix("linux-image-")?;
        if !rest.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        let version = constraint
            .and_then(|c| c.trim().strip_prefix('='))
            .map(|v| v.trim().trim_end_matches(')').trim().to_owned());
        Some((name.to_owned(), version))
    })
}

/// The value of a `Field: value` line of a Debian control paragraph.
fn field(paragraph: &str, key: &str) -> Option<String> {
    paragraph.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k == key).then(|| v.trim().to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_versioned_package() {
        let found = |d| versioned_dependency(d).map(|(n, v)| (n, v.unwrap_or_default()));
        assert_eq!(
            found("linux-image-6.1.0-56-amd64 (= 6.1.192-2)"),
            Some(("linux-image-6.1.0-56-amd64".into(), "6.1.192-2".into()))
        );
        assert_eq!(
            found("linux-base, linux-image-6.1.0-50-arm64:arm64"),
            Some(("linux-image-6.1.0-50-arm64".into(), String::new()))
        );
        assert_eq!(found("linux-image-amd64-signed | linux-base (>= 4)"), None);
        assert_eq!(found(""), None);
    }

    #[test]
    fn reads_a_control_field() {
        let p = "Package: linux-image-6.1.0-50-arm64\nVersion: 6.1.176-1\nArchitecture: arm64\n";
        assert_eq!(field(p, "Version").as_deref(), Some("6.1.176-1"));
        assert_eq!(field(p, "Depends"), None);
    }
}
