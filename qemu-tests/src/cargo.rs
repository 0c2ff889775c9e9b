//! Where the workspace and its target directory are, and building binaries (release)
//! with cargo: the guests' static binaries, this crate's own (`probe-init`) and the
//! workspace's (`northstar`, the example containers, `test-container`), and the host's
//! `nstar`. Every cargo it starts runs with the environment of the harness's caller, less
//! what `cargo run` added ([`command`]), so that its builds and a shell's reuse each
//! other's output.
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
        target: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cargo failed to build {bin} for {target} ({status}):\n{stderr}")]
    Build {
        bin: String,
        target: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("cargo built {bin} for {target} but {path} does not exist")]
    Missing {
        bin: String,
        target: String,
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
    let mut paths = build(&[board], &args, &[bin])?;
    Ok(paths.remove(0))
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

/// Builds every package of [`GUEST_PACKAGES`] for the targets of `boards` in one cargo
/// run (release profile, `Cargo.lock` as it is; cargo keeps both cores busy across the
/// targets, where one target's build ends in single-threaded link-time optimisation), with
/// cargo features (`package/feature`) enabled. Returns for each board the paths of the
/// binaries (each package's binary has its name) in the order of [`GUEST_PACKAGES`].
///
/// A feature of one package (`northstar`'s `fault-injection`, which enables nothing in its
/// dependencies) leaves every other package's output as it was: only that package is
/// compiled again, and both builds of it stay fresh side by side in cargo's cache. Its
/// binary in the target directory is the one built last, though: copy it before the next
/// build.
pub fn build_guest_packages(
    boards: &[Board],
    features: &[&str],
) -> Result<Vec<Vec<PathBuf>>, Error> {
    let mut args = Vec::new();
    for package in GUEST_PACKAGES {
        args.extend(["-p", package]);
    }
    let features = features.join(",");
    if !features.is_empty() {
        args.extend(["--features", &features]);
    }
    let mut paths = build(boards, &args, &GUEST_PACKAGES)?.into_iter();
    Ok(boards
        .iter()
        .map(|_| paths.by_ref().take(GUEST_PACKAGES.len()).collect())
        .collect())
}

/// Builds binary `bin` of workspace package `package` for the host (release profile,
/// `Cargo.lock` as it is) and returns its path.
pub fn build_host_binary(package: &str, bin: &str) -> Result<PathBuf, Error> {
    let mut paths = build(&[], &["-p", package, "--bin", bin], &[bin])?;
    Ok(paths.remove(0))
}

/// A cargo command run in the workspace root, without the variables `cargo run` sets for
/// the program it runs ([`set_by_cargo_run`]). Some build scripts rerun when one of them
/// changes (ring's reads `CARGO_MANIFEST_DIR` and `CARGO_PKG_*` and asks cargo to watch
/// them): a build started from the harness under `cargo run` would otherwise see other
/// values than one started from a shell, and each would rebuild what the other built
/// (ring, rustls, the client and every binary linking them).
pub fn command() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(cargo);
    command.current_dir(workspace_root());
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(set_by_cargo_run) {
            command.env_remove(&name);
        }
    }
    command
}

/// Whether `cargo run` sets the environment variable `name` for the program it runs (not
/// counting `CARGO` itself, the cargo to use, and `LD_LIBRARY_PATH`, which no build
/// script of the workspace watches).
pub fn set_by_cargo_run(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_MANIFEST_")
        || matches!(
            name,
            "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE" | "OUT_DIR"
        )
}

/// `cargo build --locked --release [--target <board's target>]... <args>`; the paths of
/// `bins` for each board in turn. Without boards, the host's build.
fn build(boards: &[Board], args: &[&str], bins: &[&str]) -> Result<Vec<PathBuf>, Error> {
    let targets: Vec<&'static str> = boards.iter().map(|b| b.rust_target()).collect();
    let target = if targets.is_empty() {
        HOST.to_owned()
    } else {
        targets.join(", ")
    };
    let what = bins.join(", ");
    log::info!("building {what} for {target}");
    let mut command = command();
    command.args(["build", "--locked", "--release"]);
    for t in &targets {
        command.args(["--target", t]);
    }
    let output = command.args(args).output().map_err(|source| Error::Spawn {
        cargo: command.get_program().to_owned(),
        bin: what.clone(),
        target: target.clone(),
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
    let dirs: Vec<PathBuf> = if targets.is_empty() {
        vec![target_dir().join("release")]
    } else {
        targets
            .iter()
            .map(|t| target_dir().join(t).join("release"))
            .collect()
    };
    let mut paths = Vec::new();
    for dir in dirs {
        for bin in bins {
            let path = dir.join(bin);
            if !path.is_file() {
                return Err(Error::Missing {
                    bin: (*bin).to_owned(),
                    target,
                    path,
                });
            }
            paths.push(path);
        }
    }
    Ok(paths)
}

/// How [`Error`] names the host's build.
const HOST: &str = "the host";

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
    fn builds_leave_out_what_cargo_run_sets() {
        for name in [
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "CARGO_CRATE_NAME",
            "CARGO_BIN_NAME",
            "CARGO_PRIMARY_PACKAGE",
        ] {
            assert!(set_by_cargo_run(name), "{name}");
        }
        // What the caller chose for every build stays.
        for name in [
            "CARGO",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_INCREMENTAL",
            "CARGO_BUILD_JOBS",
            "RUSTFLAGS",
            "PATH",
        ] {
            assert!(!set_by_cargo_run(name), "{name}");
        }
    }

    #[test]
    fn workspace_root_holds_the_workspace_manifest() {
        assert!(workspace_root().join("Cargo.toml").is_file());
        assert!(workspace_root().join("qemu-tests").is_dir());
    }
}
