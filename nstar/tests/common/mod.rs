//! Helpers for the integration tests: run the built `nstar`, build a fixture tree and
//! manifest, read `inspect --json`.
#![allow(dead_code)]

use std::{
    ffi::OsStr,
    fs,
    os::unix::fs::{symlink, PermissionsExt},
    path::{Path, PathBuf},
    process::{Command, Output},
};

/// A fixed verity salt, for reproducible packages.
pub const SALT: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

/// The manifest of the fixture: uid/gid 1000, a proc mount and a persist mount.
pub const MANIFEST: &str = "\
name: fixture
version: 1.0.0
init: /bin/app
uid: 1000
gid: 1000
args: [ --verbose ]
mounts:
  /proc:
    type: proc
  /data:
    type: persist
";

/// The Northstar 0.9 vectors, shared with the npk crate's tests.
pub fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../npk/tests/data/northstar-0.9")
}

/// Run `nstar` with `args`.
pub fn nstar<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_nstar"))
        .args(args)
        .output()
        .expect("cannot run nstar")
}

/// Run `nstar` and require exit status 0; returns stdout.
pub fn ok<I, S>(args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = nstar(args);
    assert!(
        out.status.success(),
        "nstar failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `nstar inspect --json` (plus `extra` arguments), parsed.
pub fn inspect_json(npk: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![OsStr::new("inspect"), npk.as_os_str(), OsStr::new("--json")];
    args.extend(extra.iter().map(OsStr::new));
    serde_json::from_str(&ok(args)).expect("inspect --json prints JSON")
}

/// The fixture in `dir`: `dir/manifest.yaml` and `dir/root/` with nested directories, an
/// executable, a symlink, an empty directory and a setgid-free mix of modes.
pub fn fixture(dir: &Path) -> (PathBuf, PathBuf) {
    let manifest = dir.join("manifest.yaml");
    fs::write(&manifest, MANIFEST).unwrap();
    let root = dir.join("root");
    for d in ["bin", "etc/app/conf.d", "share/empty"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    fs::write(root.join("bin/app"), b"#!/bin/sh\necho hello\n").unwrap();
    fs::write(root.join("etc/app/app.conf"), b"level = 3\n").unwrap();
    fs::write(root.join("etc/app/conf.d/10-big.conf"), vec![b'x'; 300_000]).unwrap();
    symlink("app", root.join("bin/link")).unwrap();
    symlink("/etc/app/app.conf", root.join("etc/app.conf")).unwrap();
    let mode =
        |p: &str, m: u32| fs::set_permissions(root.join(p), fs::Permissions::from_mode(m)).unwrap();
    mode("bin/app", 0o755);
    mode("etc/app/app.conf", 0o640);
    mode("etc/app/conf.d/10-big.conf", 0o600);
    for d in [
        "bin",
        "etc",
        "etc/app",
        "etc/app/conf.d",
        "share",
        "share/empty",
    ] {
        mode(d, 0o755);
    }
    (manifest, root)
}

/// Every entry below `root` as `(relative path, description)`: the kind, the permission
/// bits, and the content or link target. Sorted.
pub fn tree(root: &Path) -> Vec<(String, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            let meta = fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            let desc = if meta.file_type().is_symlink() {
                format!("symlink -> {}", fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                walk(root, &path, out);
                format!("dir {mode:o}")
            } else {
                let content = fs::read(&path).unwrap();
                format!(
                    "file {mode:o} {} bytes, sum {}",
                    content.len(),
                    checksum(&content)
                )
            };
            out.push((rel, desc));
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    })
}

/// Generate `<dir>/<name>.key` and `.pub`; returns both paths.
pub fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    ok([
        OsStr::new("keygen"),
        OsStr::new(name),
        OsStr::new("--out"),
        dir.as_os_str(),
    ]);
    (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.pub")),
    )
}

/// Pack the fixture in `dir` into `out` with the extra arguments; returns the package path
/// printed by `nstar pack`.
pub fn pack(manifest: &Path, root: &Path, out: &Path, extra: &[&str]) -> PathBuf {
    fs::create_dir_all(out).unwrap();
    let mut args = vec![
        OsStr::new("pack"),
        manifest.as_os_str(),
        root.as_os_str(),
        OsStr::new("--out"),
        out.as_os_str(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    let printed = PathBuf::from(ok(args).trim_end());
    assert_eq!(printed, out.join("fixture-1.0.0.npk"));
    printed
}

/// Run `nstar -u <server> args...` against a fake server.
pub fn served(server: &northstar_client::testing::FakeServer, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nstar"))
        .arg("-u")
        .arg(server.url())
        .args(args)
        .env_remove("NSTAR_URL")
        .output()
        .expect("cannot run nstar")
}

/// [`served`], and require exit status 0; returns stdout.
pub fn served_ok(server: &northstar_client::testing::FakeServer, args: &[&str]) -> String {
    let out = served(server, args);
    assert!(
        out.status.success(),
        "nstar {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}
