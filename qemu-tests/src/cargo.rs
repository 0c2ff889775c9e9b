//! Where the workspace and its target directory are, and cross-building this crate's guest
//! binaries (static, release) with cargo.
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
/// workspace's `Cargo.lock` as it is) and returns its path. Cargo's own lock serialises
/// concurrent builds.
pub fn build_guest_binary(bin: &str, board: Board) -> Result<PathBuf, Error> {
    let target = board.rust_target();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    log::info!("building {bin} for {target}");
    let output = Command::new(&cargo)
        .current_dir(workspace_root())
        .args(["build", "--locked", "--release", "--target", target])
        .args(["-p", env!("CARGO_PKG_NAME"), "--bin", bin])
        .output()
        .map_err(|source| Error::Spawn {
            cargo: cargo.clone(),
            bin: bin.to_owned(),
            target,
            source,
        })?;
    if !output.status.success() {
        return Err(Error::Build {
            bin: bin.to_owned(),
            target,
            status: output.status,
            stderr: tail(&String::from_utf8_lossy(&output.stderr), 40),
        });
    }
    let path = target_dir().join(target).join("release").join(bin);
    if !path.is_file() {
        return Err(Error::Missing {
            bin: bin.to_owned(),
            target,
            path,
        });
    }
    Ok(path)
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
