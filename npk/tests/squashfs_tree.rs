//! Shared by the squashfs tests (included with `#[path]`): a sample tree and helpers.
//! Built alone as a test target too, with no tests in it.
#![allow(dead_code)]

use std::{
    collections::BTreeMap,
    fs,
    io::Cursor,
    os::unix::fs::{symlink, PermissionsExt},
    path::{Path, PathBuf},
};

use npk::squashfs::{self, Compression, Options};

pub const UID: u32 = 1000;
pub const GID: u32 = 1001;

/// Deterministic pseudo-random bytes (xorshift), incompressible.
pub fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

pub fn text(len: usize) -> Vec<u8> {
    let words = [
        "northstar ",
        "container ",
        "squashfs ",
        "verity\n",
        "block ",
        "image ",
    ];
    words
        .iter()
        .cycle()
        .flat_map(|w| w.bytes())
        .take(len)
        .collect()
}

/// What a tree holds, as the tests write and expect it.
pub enum Spec {
    Dir(u32),
    File(u32, Vec<u8>),
    Link(&'static str),
}

pub fn spec() -> Vec<(&'static str, Spec)> {
    vec![
        ("bin", Spec::Dir(0o755)),
        ("bin/tool", Spec::File(0o4755, noise(300_000, 1))),
        ("bin/sh", Spec::Link("tool")),
        ("etc", Spec::Dir(0o750)),
        ("etc/config", Spec::File(0o600, text(5000))),
        ("etc/empty", Spec::File(0o644, Vec::new())),
        ("etc/abs", Spec::Link("/etc/config")),
        ("etc/dangling", Spec::Link("../../nowhere")),
        ("data", Spec::Dir(0o755)),
        ("data/zeros", Spec::File(0o644, vec![0; 400_000])),
        ("data/text", Spec::File(0o444, text(1_000_000))),
        ("data/copy", Spec::File(0o644, text(1_000_000))),
        ("data/exact", Spec::File(0o644, noise(128 * 1024, 2))),
        ("data/small", Spec::File(0o644, noise(100, 3))),
        ("data/nested", Spec::Dir(0o700)),
        ("data/nested/deep", Spec::Dir(0o755)),
        ("data/nested/deep/x", Spec::File(0o640, b"x".to_vec())),
        ("empty-dir", Spec::Dir(0o1777)),
        (
            "a-b",
            Spec::File(0o644, b"sorts after a/ by component".to_vec()),
        ),
    ]
}

/// Writes the tree, in `reverse` order of creation if asked (parents still first).
pub fn make_tree(root: &Path, reverse: bool) {
    let mut items = spec();
    if reverse {
        items.reverse();
    }
    for (path, item) in &items {
        if let Spec::Dir(_) = item {
            fs::create_dir_all(root.join(path)).unwrap();
        }
    }
    for (path, item) in &items {
        let full = root.join(path);
        match item {
            Spec::Dir(_) => {}
            Spec::File(mode, bytes) => {
                fs::write(&full, bytes).unwrap();
                fs::set_permissions(&full, fs::Permissions::from_mode(*mode)).unwrap();
            }
            Spec::Link(target) => symlink(target, &full).unwrap(),
        }
    }
    for (path, item) in &items {
        if let Spec::Dir(mode) = item {
            fs::set_permissions(root.join(path), fs::Permissions::from_mode(*mode)).unwrap();
        }
    }
    fs::set_permissions(root, fs::Permissions::from_mode(0o755)).unwrap();
}

pub fn opts(compression: Compression) -> Options {
    Options {
        compression,
        uid: UID,
        gid: GID,
        mount_points: vec!["/proc".into(), "/data/db/state".into()],
        dev_nodes: true,
        ..Options::default()
    }
}

pub fn build(root: &Path, opts: &Options) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    let len = squashfs::build(root, opts, &mut out, &mut |_| {}).unwrap();
    assert_eq!(len, out.get_ref().len() as u64);
    assert_eq!(out.position(), len);
    out.into_inner()
}

pub fn write_image(dir: &Path, bytes: &[u8]) -> PathBuf {
    let path = dir.join("image.squashfs");
    fs::write(&path, bytes).unwrap();
    path
}

/// The paths an image of `spec()` with `opts()` must hold, with their `ls` type letter.
pub fn expected_paths() -> BTreeMap<String, char> {
    let mut paths: BTreeMap<String, char> = spec()
        .into_iter()
        .map(|(path, item)| {
            let kind = match item {
                Spec::Dir(_) => 'd',
                Spec::File(..) => '-',
                Spec::Link(_) => 'l',
            };
            (format!("/{path}"), kind)
        })
        .collect();
    for dir in ["/", "/proc", "/data/db", "/data/db/state", "/dev"] {
        paths.insert(dir.into(), 'd');
    }
    for dev in ["null", "zero", "full", "random", "urandom", "tty"] {
        paths.insert(format!("/dev/{dev}"), 'c');
    }
    paths
}
