//! Block device nodes for loop and device-mapper devices, created with `mknod` where no
//! udev or devtmpfs made them, and checked before use where they already exist.
//!
//! Owns: deciding whether an existing node is the expected device. Does not own: which
//! device numbers are expected (the callers ask the kernel).

use nix::sys::stat::{self, Mode, SFlag};
use std::{
    fs,
    io::{self, ErrorKind},
    os::unix::fs::{FileTypeExt, MetadataExt},
    path::{Path, PathBuf},
};

/// A device node that could not be made or is not what it should be.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("cannot create device node {} ({major}:{minor}): {source}", path.display())]
    Create {
        path: PathBuf,
        major: u32,
        minor: u32,
        #[source]
        source: nix::errno::Errno,
    },
    #[error("cannot inspect device node {}: {source}", path.display())]
    Stat {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not block device {major}:{minor} (found {found})", path.display())]
    Wrong {
        path: PathBuf,
        major: u32,
        minor: u32,
        found: String,
    },
}

/// Make sure `path` is the block device `major:minor`: create it (mode 0600) when missing,
/// reject anything else found there.
pub fn ensure_block_device(path: &Path, major: u32, minor: u32) -> Result<(), NodeError> {
    match check(path, major, minor) {
        Err(NodeError::Stat { source, .. }) if source.kind() == ErrorKind::NotFound => {}
        other => return other,
    }
    if let Some(parent) = path.parent() {
        // A missing directory shows up as the mknod error below.
        let _ = fs::create_dir_all(parent);
    }
    let dev = stat::makedev(u64::from(major), u64::from(minor));
    match stat::mknod(path, SFlag::S_IFBLK, Mode::from_bits_truncate(0o600), dev) {
        // Created concurrently (devtmpfs or another thread): check what is there.
        Ok(()) | Err(nix::errno::Errno::EEXIST) => check(path, major, minor),
        Err(source) => Err(NodeError::Create {
            path: path.to_owned(),
            major,
            minor,
            source,
        }),
    }
}

fn check(path: &Path, major: u32, minor: u32) -> Result<(), NodeError> {
    let meta = fs::symlink_metadata(path).map_err(|source| NodeError::Stat {
        path: path.to_owned(),
        source,
    })?;
    let (found_major, found_minor) = split(meta.rdev());
    if meta.file_type().is_block_device() && (found_major, found_minor) == (major, minor) {
        return Ok(());
    }
    let found = if meta.file_type().is_block_device() {
        format!("block device {found_major}:{found_minor}")
    } else {
        format!("{:?}", meta.file_type())
    };
    Err(NodeError::Wrong {
        path: path.to_owned(),
        major,
        minor,
        found,
    })
}

/// Major and minor of a `dev_t` as `stat` reports it.
pub fn split(dev: u64) -> (u32, u32) {
    (stat::major(dev) as u32, stat::minor(dev) as u32)
}

/// The `major:minor` of block device `name` from sysfs (`/sys/class/block/<name>/dev`).
pub fn sysfs_numbers(name: &str) -> Option<(u32, u32)> {
    let text = fs::read_to_string(Path::new("/sys/class/block").join(name).join("dev")).ok()?;
    let (major, minor) = text.trim().split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_nodes_are_checked() {
        // /dev/null is char device 1:3: never accepted as a block device.
        let e = ensure_block_device(Path::new("/dev/null"), 1, 3).unwrap_err();
        assert!(matches!(e, NodeError::Wrong { .. }), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, b"").unwrap();
        assert!(matches!(
            ensure_block_device(&file, 7, 0),
            Err(NodeError::Wrong { .. })
        ));
    }

    #[test]
    fn missing_nodes_are_created() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/loop-test");
        ensure_block_device(&path, 7, 200).unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert!(meta.file_type().is_block_device());
        assert_eq!(split(meta.rdev()), (7, 200));
        assert_eq!(meta.mode() & 0o7777, 0o600);
        // Present and right: accepted again; present and wrong: rejected.
        ensure_block_device(&path, 7, 200).unwrap();
        assert!(matches!(
            ensure_block_device(&path, 7, 201),
            Err(NodeError::Wrong { .. })
        ));
    }

    #[test]
    fn sysfs_numbers_of_loop_control_devices() {
        if Path::new("/sys/class/block/loop0").exists() {
            assert_eq!(sysfs_numbers("loop0"), Some((7, 0)));
        }
        assert_eq!(sysfs_numbers("no-such-device"), None);
    }
}
