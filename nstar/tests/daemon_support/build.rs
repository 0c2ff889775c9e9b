//! The programs the end-to-end tests need besides `nstar`: the host daemon (`northstar`,
//! another package of the workspace) and the static test container run as containers'
//! init. Each is built once per test run by cargo, so it is never stale.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::OnceLock,
};

/// Environment variable naming a `northstar` binary to use instead of building one.
pub const DAEMON_VARIABLE: &str = "NORTHSTAR_DAEMON";

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `northstar` daemon: `$NORTHSTAR_DAEMON`, else built by cargo with the profile of
/// this test's `nstar` (the same target directory, so an up-to-date build costs nothing).
/// Its path is taken from cargo's build messages rather than guessed.
pub fn daemon() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(path) = std::env::var_os(DAEMON_VARIABLE).filter(|p| !p.is_empty()) {
            return PathBuf::from(path);
        }
        let nstar = Path::new(env!("CARGO_BIN_EXE_nstar"));
        let release = nstar
            .parent()
            .and_then(Path::file_name)
            .is_some_and(|profile| profile == "release");
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .current_dir(workspace())
            .args(["build", "--quiet", "-p", "northstar", "--bin", "northstar"])
            .args(["--features", "tls"])
            .arg("--message-format=json-render-diagnostics")
            .stderr(Stdio::inherit());
        if release {
            cargo.arg("--release");
        }
        let out = cargo
            .output()
            .expect("run cargo to build the northstar daemon");
        assert!(out.status.success(), "building the northstar daemon failed");
        executable(&String::from_utf8_lossy(&out.stdout), "northstar")
            .expect("cargo reported no northstar executable")
    })
}

/// The executable of the binary target `name` in cargo's JSON build messages.
fn executable(messages: &str, name: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == name)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
}

/// The static test container (`test-container/`), built for musl in the directory the
/// runtime's own integration tests use, so both share one build.
pub fn test_container() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let target_dir = workspace().join("target/test-container");
        let status = Command::new(env!("CARGO"))
            .current_dir(workspace())
            .args(["build", "--quiet", "--release", "-p", "test-container"])
            .args(["--target", "x86_64-unknown-linux-musl", "--target-dir"])
            .arg(&target_dir)
            .status()
            .expect("run cargo to build the test container");
        assert!(status.success(), "building the test container failed");
        target_dir.join("x86_64-unknown-linux-musl/release/test-container")
    })
}
