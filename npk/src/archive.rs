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

use std::{
    fs::File,
    io::{self, Write},
    ops::Range,
    os::unix::fs::FileExt,
};

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

struct CentralEntry {
    name: String,
    method: u16,
    flags: u16,
    crc: u32,
    size: u64,
    compressed: u64,
    local_offset: u64,
}

impl Archive {
    /// Read the archive structure from `file`. Reads the end record, the central directory,
    /// the local headers and the two small entries; never the data of `fs.img`.
    pub fn read(file: &File) -> Result<Archive, Error> {
        let len = file.metadata()?.len();
        let (entries, cd_offset, comment) = read_central(file, len)?;
        let expected: &[&'static str] = if entries.len() == 3 {
            &[MANIFEST, SIGNATURE, FS_IMG]
        } else {
            &[MANIFEST, FS_IMG]
        };
        let mut ranges = Vec::with_capacity(entries.len());
        let mut floor = 0u64;
        for (index, (entry, name)) in entries.iter().zip(expected.iter().copied()).enumerate() {
            if entry.name != name {
                return Err(Error::UnexpectedEntry {
                    index,
                    found: entry.name.clone(),
                    expected: name,
                });
            }
            let range = check_entry(file, entry, name, index, floor, cd_offset)?;
            floor = range.end;
            ranges.push(range);
        }
        let load = |range: &Range<u64>, name: &'static str, limit: u64, crc: u32| {
            let size = range.end - range.start;
            if size > limit {
                return Err(Error::TooLarge { name, size, limit });
            }
            let mut buf = vec![0u8; size as usize];
            file.read_exact_at(&mut buf, range.start)?;
            if crc32fast::hash(&buf) != crc {
                return Err(Error::Crc { name });
            }
            Ok(buf)
        };
        let manifest = load(&ranges[0], MANIFEST, MAX_MANIFEST_SIZE, entries[0].crc)?;
        let signature = if entries.len() == 3 {
            Some(load(
                &ranges[1],
                SIGNATURE,
                MAX_SIGNATURE_SIZE,
                entries[1].crc,
            )?)
        } else {
            None
        };
        let fs_img = ranges[entries.len() - 1].clone();
        if !fs_img.start.is_multiple_of(ALIGNMENT) {
            return Err(Error::Unaligned(fs_img.start));
        }
        Ok(Archive {
            comment,
            manifest,
            signature,
            fs_img,
        })
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Locate the end record (its comment must reach exactly to the end of the file) and parse
/// the central directory, which must end where the end record begins.
fn read_central(file: &File, len: u64) -> Result<(Vec<CentralEntry>, u64, Vec<u8>), Error> {
    let tail_len = len.min((END_LEN + MAX_COMMENT_SIZE) as u64) as usize;
    if tail_len < END_LEN {
        return Err(Error::NoEndRecord);
    }
    let mut tail = vec![0u8; tail_len];
    file.read_exact_at(&mut tail, len - tail_len as u64)?;
    let at = (0..=tail_len - END_LEN)
        .rev()
        .find(|&i| {
            u32_at(&tail, i) == END_SIG && i + END_LEN + u16_at(&tail, i + 20) as usize == tail_len
        })
        // Also the answer for a comment longer than the limit: its record is out of reach.
        .ok_or(Error::NoEndRecord)?;
    let end = &tail[at..];
    if u16_at(end, 4) != 0 || u16_at(end, 6) != 0 || u16_at(end, 8) != u16_at(end, 10) {
        return Err(Error::MultiDisk);
    }
    let count = u16_at(end, 10);
    if !(2..=3).contains(&count) {
        return Err(Error::EntryCount(count));
    }
    let (cd_size, cd_offset) = (u64::from(u32_at(end, 12)), u64::from(u32_at(end, 16)));
    let end_offset = len - (tail_len - at) as u64;
    if cd_offset.checked_add(cd_size) != Some(end_offset) || cd_size > MAX_CENTRAL_SIZE {
        return Err(Error::CentralDirectoryBounds {
            offset: cd_offset,
            size: cd_size,
            end: end_offset,
        });
    }
    let comment = end[END_LEN..].to_vec();
    let mut cd = vec![0u8; cd_size as usize];
    file.read_exact_at(&mut cd, cd_offset)?;
    let mut entries = Vec::with_capacity(count as usize);
    let mut pos = 0usize;
    for index in 0..count as usize {
        let bad = Error::BadHeader {
            what: "central",
            index,
        };
        if pos + CENTRAL_LEN > cd.len() || u32_at(&cd, pos) != CENTRAL_SIG {
            return Err(bad);
        }
        let h = &cd[pos..];
        let (name_len, extra_len, comment_len) = (
            u16_at(h, 28) as usize,
            u16_at(h, 30) as usize,
            u16_at(h, 32) as usize,
        );
        let next = pos + CENTRAL_LEN + name_len + extra_len + comment_len;
        if next > cd.len() || u16_at(h, 34) != 0 {
            return Err(bad);
        }
        let name = &cd[pos + CENTRAL_LEN..pos + CENTRAL_LEN + name_len];
        entries.push(CentralEntry {
            name: String::from_utf8_lossy(name).into_owned(),
            flags: u16_at(h, 8),
            method: u16_at(h, 10),
            crc: u32_at(h, 16),
            compressed: u64::from(u32_at(h, 20)),
            size: u64::from(u32_at(h, 24)),
            local_offset: u64::from(u32_at(h, 42)),
        });
        pos = next;
    }
    if pos != cd.len() {
        return Err(Error::BadHeader {
            what: "central",
            index: count as usize,
        });
    }
    Ok((entries, cd_offset, comment))
}

/// Check one entry against its local header; return its data range. Entries must follow
/// each other (`floor`) and end before the central directory.
fn check_entry(
    file: &File,
    entry: &CentralEntry,
    name: &'static str,
    index: usize,
    floor: u64,
    cd_offset: u64,
) -> Result<Range<u64>, Error> {
    if entry.method != 0 {
        return Err(Error::Compressed {
            name,
            method: entry.method,
        });
    }
    if entry.flags & !ACCEPTED_FLAGS != 0 {
        return Err(Error::Flags {
            name,
            flags: entry.flags,
        });
    }
    if entry.compressed != entry.size {
        return Err(Error::HeaderMismatch {
            name,
            field: "sizes",
        });
    }
    let bounds = Error::Bounds {
        name,
        start: entry.local_offset,
        end: entry.local_offset.saturating_add(entry.size),
    };
    if entry.local_offset < floor || entry.local_offset + LOCAL_LEN > cd_offset {
        return Err(bounds);
    }
    let mut h = [0u8; LOCAL_LEN as usize];
    file.read_exact_at(&mut h, entry.local_offset)?;
    if u32_at(&h, 0) != LOCAL_SIG {
        return Err(Error::BadHeader {
            what: "local",
            index,
        });
    }
    let mismatch = |field| Error::HeaderMismatch { name, field };
    if u16_at(&h, 6) != entry.flags || u16_at(&h, 8) != entry.method {
        return Err(mismatch("flags or method"));
    }
    if u32_at(&h, 14) != entry.crc {
        return Err(mismatch("crc"));
    }
    if u64::from(u32_at(&h, 18)) != entry.size || u64::from(u32_at(&h, 22)) != entry.size {
        return Err(mismatch("sizes"));
    }
    let name_len = u64::from(u16_at(&h, 26));
    if name_len != name.len() as u64 {
        return Err(mismatch("name"));
    }
    let mut local_name = vec![0u8; name.len()];
    file.read_exact_at(&mut local_name, entry.local_offset + LOCAL_LEN)?;
    if local_name != name.as_bytes() {
        return Err(mismatch("name"));
    }
    let start = entry.local_offset + LOCAL_LEN + name_len + u64::from(u16_at(&h, 28));
    let end = start + entry.size;
    if end > cd_offset {
        return Err(Error::Bounds { name, start, end });
    }
    Ok(start..end)
}

fn local_header(name: &str, size: u32, crc: u32, extra: &[u8]) -> Vec<u8> {
    let mut h = Vec::with_capacity(LOCAL_LEN as usize + name.len() + extra.len());
    h.extend_from_slice(&LOCAL_SIG.to_le_bytes());
    for v in [VERSION, 0, 0, 0, DOS_DATE] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    for v in [crc, size, size] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    h.extend_from_slice(&(name.len() as u16).to_le_bytes());
    h.extend_from_slice(&(extra.len() as u16).to_le_bytes());
    h.extend_from_slice(name.as_bytes());
    h.extend_from_slice(extra);
    h
}

fn central_header(name: &str, size: u32, crc: u32, offset: u32) -> Vec<u8> {
    let mut h = Vec::with_capacity(CENTRAL_LEN + name.len());
    h.extend_from_slice(&CENTRAL_SIG.to_le_bytes());
    for v in [MADE_BY, VERSION, 0, 0, 0, DOS_DATE] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    for v in [crc, size, size] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    for v in [name.len() as u16, 0, 0, 0, 0] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    h.extend_from_slice(&EXTERNAL_ATTR.to_le_bytes());
    h.extend_from_slice(&offset.to_le_bytes());
    h.extend_from_slice(name.as_bytes());
    h
}

/// Bytes before `fs.img`'s data: the small entries with their headers and the `fs.img`
/// local header with at least a 4-byte padding extra field.
fn prefix_min(manifest_len: usize, signature_len: Option<usize>) -> u64 {
    let mut n = LOCAL_LEN + MANIFEST.len() as u64 + manifest_len as u64;
    if let Some(s) = signature_len {
        n += LOCAL_LEN + SIGNATURE.len() as u64 + s as u64;
    }
    n + LOCAL_LEN + FS_IMG.len() as u64 + 4
}

/// Offset at which a writer places the `fs.img` data, given the sizes of the entries before
/// it: the smallest multiple of [`ALIGNMENT`] that leaves room for them.
pub fn fs_img_offset(manifest_len: usize, signature_len: Option<usize>) -> u64 {
    prefix_min(manifest_len, signature_len).div_ceil(ALIGNMENT) * ALIGNMENT
}

/// Complete a package around `fs.img` data already written at `fs_img` in `file` (which
/// must start at a multiple of [`ALIGNMENT`] no lower than [`fs_img_offset`] for these
/// entries): write the headers and small
/// entries before it, and the central directory and end record (with `comment`) after it.
/// The file is truncated after the end record.
pub fn write_around(
    file: &mut File,
    manifest: &[u8],
    signature: Option<&[u8]>,
    fs_img: Range<u64>,
    comment: &[u8],
) -> Result<(), Error> {
    if !fs_img.start.is_multiple_of(ALIGNMENT)
        || fs_img.start < prefix_min(manifest.len(), signature.map(<[u8]>::len))
    {
        return Err(Error::Unaligned(fs_img.start));
    }
    if comment.len() > MAX_COMMENT_SIZE {
        return Err(Error::CommentTooLarge(comment.len()));
    }
    let fs_len = u32::try_from(fs_img.end - fs_img.start).map_err(|_| Error::Zip64)?;
    let cd_offset = u32::try_from(fs_img.end).map_err(|_| Error::Zip64)?;
    let fs_crc = crc_of(file, fs_img.clone())?;

    let mut small: Vec<(&str, &[u8])> = vec![(MANIFEST, manifest)];
    if let Some(signature) = signature {
        small.push((SIGNATURE, signature));
    }
    let mut prefix = Vec::with_capacity(fs_img.start as usize);
    let mut central = Vec::new();
    for (name, data) in small {
        let crc = crc32fast::hash(data);
        let size = u32::try_from(data.len()).map_err(|_| Error::Zip64)?;
        central.extend(central_header(name, size, crc, prefix.len() as u32));
        prefix.extend(local_header(name, size, crc, &[]));
        prefix.extend_from_slice(data);
    }
    let header_at = prefix.len() as u32;
    let pad = fs_img.start as usize - prefix.len() - LOCAL_LEN as usize - FS_IMG.len();
    let mut extra = Vec::with_capacity(pad);
    extra.extend_from_slice(&PADDING_ID.to_le_bytes());
    extra.extend_from_slice(&((pad - 4) as u16).to_le_bytes());
    extra.resize(pad, 0);
    prefix.extend(local_header(FS_IMG, fs_len, fs_crc, &extra));
    central.extend(central_header(FS_IMG, fs_len, fs_crc, header_at));
    file.write_all_at(&prefix, 0)?;

    let count = if signature.is_some() { 3u16 } else { 2 };
    let mut end = Vec::with_capacity(END_LEN + comment.len());
    end.extend_from_slice(&END_SIG.to_le_bytes());
    for v in [0u16, 0, count, count] {
        end.extend_from_slice(&v.to_le_bytes());
    }
    end.extend_from_slice(&(central.len() as u32).to_le_bytes());
    end.extend_from_slice(&cd_offset.to_le_bytes());
    end.extend_from_slice(&(comment.len() as u16).to_le_bytes());
    end.extend_from_slice(comment);
    central.extend(end);
    file.write_all_at(&central, fs_img.end)?;
    file.set_len(fs_img.end + central.len() as u64)?;
    file.flush()?;
    Ok(())
}

fn crc_of(file: &File, range: Range<u64>) -> io::Result<u32> {
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut at = range.start;
    while at < range.end {
        let n = ((range.end - at) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], at)?;
        hasher.update(&buf[..n]);
        at += n as u64;
    }
    Ok(hasher.finalize())
}
