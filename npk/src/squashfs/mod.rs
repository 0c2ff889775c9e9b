//! The squashfs image inside a package: built from a directory tree in pure Rust, listed
//! and extracted safely.
//!
//! [`build`] writes a reproducible image (fixed timestamps, sorted entries, forced owner)
//! with [`backhand`], compressing data blocks on all cores (see `parallel`). [`list`] and
//! [`extract`] read an image stored at an offset of a file (e.g. inside an `.npk`) and
//! treat it as untrusted: entry counts are capped, names are checked, and extraction never
//! writes outside its destination.
//!
//! This module does not mount anything; see `doc/squashfs.md` for the format decisions.

use std::{fmt, io, path::PathBuf, str::FromStr};

mod build;
mod output;
mod parallel;
mod read;
mod stream;
mod tree;
mod xz;

pub use build::build;
pub use read::{extract, list};
pub use stream::{open_file, FileReader};

/// Smallest data block size (4 KiB).
pub const MIN_BLOCK_SIZE: u32 = 4 * 1024;
/// Largest data block size (1 MiB).
pub const MAX_BLOCK_SIZE: u32 = 1024 * 1024;
/// Default data block size (128 KiB, as mksquashfs).
pub const DEFAULT_BLOCK_SIZE: u32 = 128 * 1024;
/// The most entries [`list`] and [`extract`] accept in one image.
pub const MAX_ENTRIES: u32 = 1 << 20;

/// The compressor of an image. All of them mount on stock Linux kernels (>= 4.14 for zstd).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Every block stored uncompressed. The superblock names gzip (like `mksquashfs -noI
    /// -noD -noF`), since the kernel knows no "none" compressor.
    None,
    /// zlib, level 9, window 15 (mksquashfs' default settings for gzip).
    Gzip,
    /// xz (LZMA2 preset 6, dictionary = block size, CRC32 check): the smallest images, and
    /// supported by every kernel with squashfs xz support (2.6.38+).
    #[default]
    Xz,
    /// zstd, level [`ZSTD_LEVEL`]: fast to read back.
    Zstd,
    /// lz4 (fast mode): the fastest, the largest.
    Lz4,
}

/// The zstd level used for [`Compression::Zstd`]: mksquashfs' default, so images and
/// timings are comparable with it.
pub const ZSTD_LEVEL: u32 = 15;

impl Compression {
    /// Every choice, in the order error messages list them.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Xz,
        Compression::Zstd,
        Compression::Lz4,
    ];

    /// The lower-case name, as accepted by [`FromStr`].
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
            Compression::Zstd => "zstd",
            Compression::Lz4 => "lz4",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Compression {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Compression::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| Error::UnknownCompression(s.to_string()))
    }
}

/// How [`build`] makes an image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// The compressor.
    pub compression: Compression,
    /// Data block size: a power of two in [`MIN_BLOCK_SIZE`]`..=`[`MAX_BLOCK_SIZE`].
    pub block_size: u32,
    /// Owner forced onto every entry (the manifest's `uid`).
    pub uid: u32,
    /// Group forced onto every entry (the manifest's `gid`).
    pub gid: u32,
    /// Absolute container paths that get a directory (with parents, mode 0755) when the
    /// tree lacks one. A non-directory in the tree at such a path (or at one of its
    /// parents) is an error.
    pub mount_points: Vec<PathBuf>,
    /// Create `/dev` with the character devices null, zero, full, random, urandom and tty
    /// (mode 0666) as targets for the bind mounts of a `dev` mount.
    pub dev_nodes: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            compression: Compression::default(),
            block_size: DEFAULT_BLOCK_SIZE,
            uid: 0,
            gid: 0,
            mount_points: Vec::new(),
            dev_nodes: false,
        }
    }
}

/// One entry of an image, as [`list`] reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    /// Absolute path, `/` for the root. Names that are not UTF-8 are shown lossily.
    pub path: String,
    /// The file type.
    pub kind: EntryKind,
    /// Permission bits (`0o7777` at most).
    pub mode: u16,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// File size in bytes; 0 for anything but files.
    pub size: u64,
    /// Symlink target, verbatim.
    pub target: Option<String>,
}

/// The type of an [`Entry`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Dir,
    File,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

/// Errors of building, listing and extracting images. Each names the path concerned.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown compression {0:?}: expected one of none, gzip, xz, zstd, lz4")]
    UnknownCompression(String),
    #[error("invalid block size {0}: must be a power of two from 4096 (4 KiB) to 1048576 (1 MiB)")]
    InvalidBlockSize(u32),
    #[error("source {0} is not a directory")]
    RootNotADirectory(PathBuf),
    #[error("failed to read {path}")]
    Source {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is a {kind}: only directories, regular files and symlinks can be packed")]
    UnsupportedFileType { path: PathBuf, kind: &'static str },
    #[error("invalid mount point {path}: {reason}")]
    InvalidMountPoint { path: PathBuf, reason: &'static str },
    #[error("{path} is not a directory in the tree, but {needed_by} needs a directory there")]
    NotADirectory { path: PathBuf, needed_by: String },
    #[error("{path} exists in the tree, where the dev mount needs its device node")]
    DevNodeConflict { path: PathBuf },
    #[error("the tree has no entries, and an empty image with owner {uid}:{gid} cannot be built")]
    EmptyTree { uid: u32, gid: u32 },
    #[error("failed to write the image")]
    Write(#[source] backhand::BackhandError),
    #[error("failed to write the image to the output")]
    Output(#[source] io::Error),
    #[error("failed to start the compression threads")]
    Threads(#[source] io::Error),
    #[error("invalid squashfs image")]
    Image(#[source] backhand::BackhandError),
    #[error("invalid squashfs image: {0}")]
    Corrupt(String),
    #[error("image has {count} entries, more than the {max} accepted")]
    TooManyEntries { count: u64, max: u32 },
    #[error("image entry {0:?} has an unsafe path")]
    UnsafePath(String),
    #[error("image has no entry {0:?}")]
    NotFound(String),
    #[error("image entry {path:?} is a {kind}, not a regular file")]
    NotAFile { path: String, kind: &'static str },
    #[error("image entry {0:?} appears more than once")]
    DuplicatePath(String),
    #[error("failed to read {path:?} from the image")]
    ReadEntry {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("extract destination {0} exists and is not an empty directory")]
    DestinationNotEmpty(PathBuf),
    #[error("failed to extract to {path}")]
    Extract {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Checks [`Options::block_size`].
pub(crate) fn check_block_size(block_size: u32) -> Result<(), Error> {
    if (MIN_BLOCK_SIZE..=MAX_BLOCK_SIZE).contains(&block_size) && block_size.is_power_of_two() {
        Ok(())
    } else {
        Err(Error::InvalidBlockSize(block_size))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_names_round_trip() {
        for c in Compression::ALL {
            assert_eq!(c.to_string().parse::<Compression>().unwrap(), c);
        }
        let err = "lzma".parse::<Compression>().unwrap_err().to_string();
        assert!(
            err.contains("\"lzma\"") && err.contains("none, gzip, xz, zstd, lz4"),
            "{err}"
        );
        assert_eq!(Compression::default(), Compression::Xz);
    }

    #[test]
    fn block_sizes() {
        for ok in [4096, 8192, 131072, 1 << 20] {
            check_block_size(ok).unwrap();
        }
        for bad in [0, 1, 2048, 4095, 4097, 100_000, 1 << 21, u32::MAX] {
            assert!(matches!(check_block_size(bad), Err(Error::InvalidBlockSize(b)) if b == bad));
        }
    }
}
