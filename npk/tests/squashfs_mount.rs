//! The host kernel mounts our images (needs root and loop devices): every compression and
//! the extreme block sizes, with content, modes, owners and symlinks as built.

use std::{
    fs::{self, File},
    os::unix::fs::{FileTypeExt, MetadataExt},
    path::{Path, PathBuf},
    process::Command,
};

use npk::squashfs::{Compression, Options};

#[path = "squashfs_tree.rs"]
mod tree;
use tree::*;

/// A read-only loop mount, unmounted when dropped (also when the test fails).
struct Mount(PathBuf);

impl Mount {
    fn new(image: &Path, at: &Path) -> Mount {
        fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .arg("-o")
            .arg("loop,ro")
            .arg(image)
            .arg(at)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mount: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Mount(at.to_path_buf())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn check_mounted(mnt: &Path) {
    for (path, item) in spec() {
        let full = mnt.join(path);
        let meta = fs::symlink_metadata(&full).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (UID, GID), "{path}");
        assert_eq!(meta.mtime(), 0, "{path}");
        match item {
            Spec::Dir(mode) => {
                assert!(meta.is_dir());
                assert_eq!(meta.mode() & 0o7777, mode, "{path}");
            }
            Spec::File(mode, bytes) => {
                assert!(meta.is_file());
                assert_eq!(meta.mode() & 0o7777, mode, "{path}");
                assert!(fs::read(&full).unwrap() == bytes, "{path}: content differs");
            }
            Spec::Link(target) => {
                assert!(meta.file_type().is_symlink());
                assert_eq!(fs::read_link(&full).unwrap(), Path::new(target), "{path}");
            }
        }
    }
    assert!(mnt.join("proc").is_dir() && mnt.join("data/db/state").is_dir());
    for (name, rdev) in [
        ("null", 0x103),
        ("zero", 0x105),
        ("urandom", 0x109),
        ("tty", 0x500),
    ] {
        let meta = fs::symlink_metadata(mnt.join("dev").join(name)).unwrap();
        assert!(meta.file_type().is_char_device(), "{name}");
        assert_eq!(meta.rdev(), rdev, "{name}");
        assert_eq!(meta.mode() & 0o7777, 0o666, "{name}");
    }
    let root = fs::metadata(mnt).unwrap();
    assert_eq!(
        (root.uid(), root.gid(), root.mode() & 0o7777),
        (UID, GID, 0o755)
    );
}

fn mount_and_check(compression: Compression, block_size: u32) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    make_tree(&root, false);
    let opts = Options {
        block_size,
        ..opts(compression)
    };
    let image = write_image(tmp.path(), &build(&root, &opts));
    // The caller pads to 4096; the kernel needs no more.
    let len = fs::metadata(&image).unwrap().len();
    File::options()
        .write(true)
        .open(&image)
        .unwrap()
        .set_len(len.div_ceil(4096) * 4096)
        .unwrap();
    let mnt = tmp.path().join("mnt");
    let _mount = Mount::new(&image, &mnt);
    check_mounted(&mnt);
}

#[test]
fn none_mounts() {
    mount_and_check(Compression::None, 128 * 1024);
}

#[test]
fn gzip_mounts() {
    mount_and_check(Compression::Gzip, 128 * 1024);
}

#[test]
fn xz_mounts() {
    mount_and_check(Compression::Xz, 128 * 1024);
}

#[test]
fn zstd_mounts() {
    mount_and_check(Compression::Zstd, 128 * 1024);
}

#[test]
fn lz4_mounts() {
    mount_and_check(Compression::Lz4, 128 * 1024);
}

#[test]
fn smallest_block_size_mounts() {
    mount_and_check(Compression::Zstd, 4096);
}

#[test]
fn largest_block_size_mounts() {
    mount_and_check(Compression::Xz, 1 << 20);
}
