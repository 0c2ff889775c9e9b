//! Where the workspace and its target directory are, and cross-building guest binaries
//! (static, release) with cargo: this crate's own (`probe-init`) and the workspace's
//! (`northstar`, the example containers).
//!
//! It does not install targets or linkers: `scripts/setup.sh` does (see
//! `.cargo/config.toml` for the per-target linkers and `+crt-static`).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Board;

/// Errors of a cross build.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot run cargo ({cargo:?}) to build {bin} for {target}")]
    Spawn {
        cargo: OsString,
        bin: String,
        target: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cargo failed to build {bin} for {target} ({status}):\n{stderr}")]
    Build {
        bin: String,
        target: &'static str,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("cargo built {bin} for {target} but {path} does not exist")]
    Missing {
        bin: String,
        target: &'static str,
        path: PathBuf,
    },
}

/// The workspace root (the directory holding this crate).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` if set, else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => workspace_root().join(dir),
        _ => workspace_root().join("target"),
    }
}

/// Builds binary `bin` of this crate for the board's target (release profile, with the
/// workspace's `Cargo.lock` as it is) and returns its path. The crate's default features
/// (the host's image builders) are left out: a guest binary needs none of them. Cargo's
/// own lock serialises concurrent builds.
pub fn build_guest_binary(bin: &str, board: Board) -> Result<PathBuf, Error> {
    let package = env!("CARGO_PKG_NAME");
    let args = ["-p", package, "--bin", bin, "--no-default-features"];
    let mut paths = build(board, &args, &[bin])?;
    Ok(paths.remove(0))
}

/// Builds the named binaries of workspace packages (`(package, binary)`) for the board's
/// target in one cargo run (release profile, `Cargo.lock` as it is) and returns their
/// paths in the same order.
pub fn build_workspace_binaries(
    binaries: &[(&str, &str)],
    board: Board,
) -> Result<Vec<PathBuf>, Error> {
    build_workspace_binaries_with(binaries, &[], board)
}

/// Every workspace package a board's images or the test suite's cross builds take. Each
/// build for a board names all of them, so cargo unifies their dependencies' features the
/// same way every time and a later build for the board reuses the first one's output
/// (`scripts/test.sh` builds the same set).
pub const GUEST_PACKAGES: [&str; 8] = [
    "northstar",
    "nstar",
    "hello-world",
    "ferris",
    "persistence",
    "cpueater",
    "memeater",
    "test-container",
];

/// [`build_workspace_binaries`] with cargo features (`package/feature`) enabled. Every
/// package of [`GUEST_PACKAGES`] is built (a package outside it too, when asked for).
pub fn build_workspace_binaries_with(
    binaries: &[(&str, &str)],
    features: &[&str],
    board: Board,
) -> Result<Vec<PathBuf>, Error> {
    let mut args = Vec::new();
    for package in GUEST_PACKAGES {
        args.extend(["-p", package]);
    }
    for (package, _) in binaries {
        if !GUEST_PACKAGES.contains(package) {
            args.extend(["-p", package]);
        }
    }
    let features = features.join(",");
    if !features.is_empty() {
        args.extend(["--features", &features]);
    }
    let bins: Vec<&str> = binaries.iter().map(|(_, bin)| *bin).collect();
    build(board, &args, &bins)
}

/// `cargo build --locked --release --target <board's target> <args>`; the paths of `bins`.
fn build(board: Board, args: &[&str], bins: &[&str]) -> Result<Vec<PathBuf>, Error> {
    let target = board.rust_target();
    let what = bins.join(", ");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    log::info!("building {what} for {target}");
    let output = Command::new(&cargo)
        .current_dir(workspace_root())
        .args(["build", "--locked", "--release", "--target", target])
        .args(args)
        .output()
        .map_err(|source| Error::Spawn {
            cargo: cargo.clone(),
            bin: what.clone(),
            target,
            source,
        })?;
    if !output.status.success() {
        return Err(Error::Build {
            bin: what,
            target,
            status: output.status,
            stderr: tail(&String::from_utf8_lossy(&output.stderr), 40),
        });
    }
    let dir = target_dir().join(target).join("release");
    bins.iter()
        .map(|bin| {
            let path = dir.join(bin);
            if path.is_file() {
                Ok(path)
            } else {
                Err(Error::Missing {
                    bin: (*bin).to_owned(),
                    target,
                    path,
                })
            }
        })
        .collect()
}

/// The last `lines` lines of `text`.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
        assert_eq!(tail("", 5), "");
    }

    #[test]
    fn workspace_root_holds_the_workspace_manifest() {
        assert!(workspace_root().join("Cargo.toml").is_file());
        assert!(workspace_root().join("qemu-tests").is_dir());
    }
}
