//! Helpers shared by the package integration tests.
#![allow(dead_code)]

use npk::{key::SecretKey, pack, squashfs::Compression, verity::Salt};
use std::{
    fs,
    os::unix::fs::{symlink, PermissionsExt},
    path::{Path, PathBuf},
    process::Command,
};

pub const SALT: &str = "5ea1ed5a17c0ffee5ea1ed5a17c0ffee5ea1ed5a17c0ffee5ea1ed5a17c0ffee";

pub fn vector(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/northstar-0.9")
        .join(name)
}

pub fn key() -> SecretKey {
    SecretKey::from_seed(&[42; 32])
}

pub const MANIFEST: &str = "name: sample
version: 1.2.3
init: /bin/sample
args: [ one, two ]
uid: 1000
gid: 1001
mounts:
  /proc:
    type: proc
  /data:
    type: persist
";

/// A small tree with files of several sizes, a symlink, nested and empty directories.
pub fn tree(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("share/doc/deep")).unwrap();
    fs::create_dir_all(root.join("empty")).unwrap();
    fs::write(root.join("bin/sample"), b"#!/bin/sh\necho sample\n").unwrap();
    fs::set_permissions(root.join("bin/sample"), fs::Permissions::from_mode(0o755)).unwrap();
    // Incompressible, so the image spans many blocks and the hash tree has a level.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let big: Vec<u8> = (0..300_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    fs::write(root.join("share/big.bin"), big).unwrap();
    fs::write(root.join("share/doc/deep/readme"), "text ".repeat(1000)).unwrap();
    symlink("../bin/sample", root.join("share/link")).unwrap();
    root
}

/// Pack `MANIFEST` and `tree` signed with `key()` and the fixed salt into `dir/out`.
pub fn pack_sample(dir: &Path) -> PathBuf {
    let manifest = dir.join("manifest.yaml");
    fs::write(&manifest, MANIFEST).unwrap();
    let root = tree(dir);
    let out = dir.join("out");
    fs::create_dir_all(&out).unwrap();
    let key = key();
    let options = pack::Options {
        compression: Compression::Zstd,
        block_size: 128 * 1024,
        salt: Some(Salt::from_hex(SALT).unwrap()),
        key: Some(&key),
    };
    pack::pack(&manifest, &root, &out, &options, &mut |_| ()).unwrap()
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Unmounts and removes the mount point when dropped, also when a test fails.
pub struct Mount(pub PathBuf);

impl Mount {
    pub fn loop_ro(file: &Path, offset: u64, size: u64, at: &Path) -> Mount {
        fs::create_dir_all(at).unwrap();
        run(Command::new("mount")
            .arg("-t")
            .arg("squashfs")
            .arg("-o")
            .arg(format!("loop,ro,offset={offset},sizelimit={size}"))
            .arg(file)
            .arg(at));
        Mount(at.to_owned())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Every regular file under `a` has identical content under `b`, and vice versa by count.
pub fn assert_same_files(a: &Path, b: &Path) {
    let mut count = 0;
    for entry in walk(a) {
        let rel = entry.strip_prefix(a).unwrap();
        let other = b.join(rel);
        let meta = fs::symlink_metadata(&entry).unwrap();
        if meta.file_type().is_file() {
            assert_eq!(
                fs::read(&entry).unwrap(),
                fs::read(&other).unwrap(),
                "{rel:?}"
            );
            count += 1;
        } else if meta.file_type().is_symlink() {
            assert_eq!(
                fs::read_link(&entry).unwrap(),
                fs::read_link(&other).unwrap()
            );
        }
    }
    assert!(count > 0);
}

pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if fs::symlink_metadata(&path).unwrap().is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}
