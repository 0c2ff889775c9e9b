//! The zip container of a package, read and written strictly.
//!
//! An NPK is a zip archive with the stored (uncompressed) entries `manifest.yaml`,
//! `signature.yaml` (signed packages only) and `fs.img`, in that order, and the format
//! version as the archive comment. The data of `fs.img` begins at a multiple of 4096 so the
//! runtime can attach a loop device to the package file itself.
//!
//! Only what this layout needs is implemented, and anything else is rejected: compression,
//! encryption, data descriptors, zip64, multi-disk archives, unknown, duplicate or
//! reordered entries, overlapping or out-of-bounds data. The reader never reads `fs.img`.

use std::{io, ops::Range};

mod read;
mod write;

pub use write::{fs_img_offset, write_around};

/// Entry names, in archive order.
pub const MANIFEST: &str = "manifest.yaml";
/// See [`MANIFEST`].
pub const SIGNATURE: &str = "signature.yaml";
/// See [`MANIFEST`].
pub const FS_IMG: &str = "fs.img";
/// Alignment of the `fs.img` data within the package file.
pub const ALIGNMENT: u64 = 4096;
/// Largest `manifest.yaml` accepted.
pub const MAX_MANIFEST_SIZE: u64 = 256 * 1024;
/// Largest `signature.yaml` accepted.
pub const MAX_SIGNATURE_SIZE: u64 = crate::signature::MAX_SIGNATURE_SIZE as u64;
/// Largest archive comment accepted (the real one is `version: x.y.z`).
pub const MAX_COMMENT_SIZE: usize = 1024;

/// Largest central directory accepted (three entries, padding extra fields included).
const MAX_CENTRAL_SIZE: u64 = 64 * 1024;
const LOCAL_SIG: u32 = 0x0403_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const END_SIG: u32 = 0x0605_4b50;
const LOCAL_LEN: u64 = 30;
const CENTRAL_LEN: usize = 46;
const END_LEN: usize = 22;
/// Header id of the padding extra field (the id other zip writers use for alignment).
const PADDING_ID: u16 = 0xa11e;
/// "Version needed to extract": 1.0, stored entries.
const VERSION: u16 = 10;
/// "Version made by": Unix, 1.0.
const MADE_BY: u16 = (3 << 8) | VERSION;
/// DOS date of 1980-01-01 (time 00:00): fixed for reproducible packages.
const DOS_DATE: u16 = (1 << 5) | 1;
/// External attributes: a regular file with mode 0644.
const EXTERNAL_ATTR: u32 = 0o100644 << 16;
/// General purpose flags accepted when reading: only bit 11 (UTF-8 names).
const ACCEPTED_FLAGS: u16 = 1 << 11;

/// Errors of the zip layer. Messages name the entry and the offending value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    #[error("not a zip archive: no end-of-central-directory record")]
    NoEndRecord,
    #[error("multi-disk archives are not supported")]
    MultiDisk,
    #[error("archive comment is {0} bytes, more than {MAX_COMMENT_SIZE}")]
    CommentTooLarge(usize),
    #[error("expected 2 or 3 entries, found {0}")]
    EntryCount(u16),
    #[error(
        "central directory at {offset}+{size} does not end where the end record begins ({end})"
    )]
    CentralDirectoryBounds { offset: u64, size: u64, end: u64 },
    #[error("corrupt {what} header of entry {index}")]
    BadHeader { what: &'static str, index: usize },
    #[error("entry {index} is named {found:?}, expected {expected:?}")]
    UnexpectedEntry {
        index: usize,
        found: String,
        expected: &'static str,
    },
    #[error("entry {name} is compressed (method {method}): entries must be stored")]
    Compressed { name: &'static str, method: u16 },
    #[error("entry {name} uses unsupported flags {flags:#06x} (encryption or data descriptor)")]
    Flags { name: &'static str, flags: u16 },
    #[error("entry {name}: local and central headers disagree on {field}")]
    HeaderMismatch {
        name: &'static str,
        field: &'static str,
    },
    #[error("entry {name} data {start}..{end} is outside the archive or overlaps another entry")]
    Bounds {
        name: &'static str,
        start: u64,
        end: u64,
    },
    #[error("entry {name} is {size} bytes, more than the limit of {limit}")]
    TooLarge {
        name: &'static str,
        size: u64,
        limit: u64,
    },
    #[error("entry {name}: stored and computed CRC-32 differ")]
    Crc { name: &'static str },
    #[error("fs.img data starts at offset {0}, not a multiple of {ALIGNMENT}")]
    Unaligned(u64),
    #[error("entries exceed the 4 GiB limit of a zip archive without zip64")]
    Zip64,
}

/// What the reader found: small entries loaded, `fs.img` located but never read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Archive {
    /// The raw archive comment.
    pub comment: Vec<u8>,
    /// The raw `manifest.yaml` bytes.
    pub manifest: Vec<u8>,
    /// The raw `signature.yaml` bytes, when present.
    pub signature: Option<Vec<u8>>,
    /// Byte range of the `fs.img` data within the file.
    pub fs_img: Range<u64>,
}
