//! Reading the zip structure strictly: end record, central directory, local headers.
//!
//! Every header field is read with bounds checks and every offset computed with checked
//! arithmetic: a package is untrusted input, and the runtime reading it runs in PID 1.

// PID 1 reads packages: no indexing or arithmetic that can panic outside tests
// (doc/design.md, "PID 1 never panics").
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use super::*;
use std::{fs::File, os::unix::fs::FileExt};

struct CentralEntry {
    name: String,
    method: u16,
    flags: u16,
    crc: u32,
    size: u64,
    compressed: u64,
    local_offset: u64,
}

/// The fields of the end-of-central-directory record, and the archive comment after it.
struct EndRecord<'a> {
    disk: u16,
    central_disk: u16,
    disk_entries: u16,
    entries: u16,
    central_size: u32,
    central_offset: u32,
    comment: &'a [u8],
}

/// The fields of a local header that are compared with the central directory.
struct LocalHeader {
    flags: u16,
    method: u16,
    crc: u32,
    compressed: u32,
    size: u32,
    name_len: u16,
    extra_len: u16,
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
        // The data range and the CRC-32 of each entry, in archive order.
        let mut located = Vec::with_capacity(entries.len());
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
            located.push((range, entry.crc));
        }
        let load = |(range, crc): &(Range<u64>, u32), name: &'static str, limit: u64| {
            // `check_entry` returns `start..start + size`.
            let size = range.end.saturating_sub(range.start);
            if size > limit {
                return Err(Error::TooLarge { name, size, limit });
            }
            let mut buf = vec![0u8; size as usize];
            file.read_exact_at(&mut buf, range.start)?;
            if crc32fast::hash(&buf) != *crc {
                return Err(Error::Crc { name });
            }
            Ok(buf)
        };
        let (manifest, signature, fs_img) = match located.as_slice() {
            [manifest, fs_img] => (manifest, None, fs_img),
            [manifest, signature, fs_img] => (manifest, Some(signature), fs_img),
            // `read_central` returns two or three entries.
            _ => return Err(Error::EntryCount(located.len() as u16)),
        };
        let manifest = load(manifest, MANIFEST, MAX_MANIFEST_SIZE)?;
        let signature = signature
            .map(|signature| load(signature, SIGNATURE, MAX_SIGNATURE_SIZE))
            .transpose()?;
        let (fs_img, _) = fs_img.clone();
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

/// The little-endian `u16` at `at`; `None` past the end of `b`.
fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let bytes = b.get(at..)?.first_chunk()?;
    Some(u16::from_le_bytes(*bytes))
}

/// The little-endian `u32` at `at`; `None` past the end of `b`.
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let bytes = b.get(at..)?.first_chunk()?;
    Some(u32::from_le_bytes(*bytes))
}

/// The end record at the start of `end`, when its signature is there and its comment
/// reaches exactly to the end of `end`.
fn end_record(end: &[u8]) -> Option<EndRecord<'_>> {
    let (record, comment) = end.split_at_checked(END_LEN)?;
    if u32_at(record, 0)? != END_SIG || usize::from(u16_at(record, 20)?) != comment.len() {
        return None;
    }
    Some(EndRecord {
        disk: u16_at(record, 4)?,
        central_disk: u16_at(record, 6)?,
        disk_entries: u16_at(record, 8)?,
        entries: u16_at(record, 10)?,
        central_size: u32_at(record, 12)?,
        central_offset: u32_at(record, 16)?,
        comment,
    })
}

/// The central directory header at the start of `h` and what follows its name, extra
/// field and comment; `None` when `h` is too short for them, the signature is wrong or the
/// entry claims another disk.
fn central_entry(h: &[u8]) -> Option<(CentralEntry, &[u8])> {
    if u32_at(h, 0)? != CENTRAL_SIG || u16_at(h, 34)? != 0 {
        return None;
    }
    let name_len = usize::from(u16_at(h, 28)?);
    let extra_len = usize::from(u16_at(h, 30)?);
    let comment_len = usize::from(u16_at(h, 32)?);
    let (name, _) = h.get(CENTRAL_LEN..)?.split_at_checked(name_len)?;
    let len = CENTRAL_LEN
        .checked_add(name_len)?
        .checked_add(extra_len)?
        .checked_add(comment_len)?;
    let (_, rest) = h.split_at_checked(len)?;
    let entry = CentralEntry {
        name: String::from_utf8_lossy(name).into_owned(),
        flags: u16_at(h, 8)?,
        method: u16_at(h, 10)?,
        crc: u32_at(h, 16)?,
        compressed: u64::from(u32_at(h, 20)?),
        size: u64::from(u32_at(h, 24)?),
        local_offset: u64::from(u32_at(h, 42)?),
    };
    Some((entry, rest))
}

/// The local header in `h`; `None` when the signature is wrong.
fn local_header(h: &[u8; LOCAL_LEN as usize]) -> Option<LocalHeader> {
    if u32_at(h, 0)? != LOCAL_SIG {
        return None;
    }
    Some(LocalHeader {
        flags: u16_at(h, 6)?,
        method: u16_at(h, 8)?,
        crc: u32_at(h, 14)?,
        compressed: u32_at(h, 18)?,
        size: u32_at(h, 22)?,
        name_len: u16_at(h, 26)?,
        extra_len: u16_at(h, 28)?,
    })
}

/// Locate the end record (its comment must reach exactly to the end of the file) and parse
/// the central directory, which must end where the end record begins.
fn read_central(file: &File, len: u64) -> Result<(Vec<CentralEntry>, u64, Vec<u8>), Error> {
    let tail_len = len.min((END_LEN + MAX_COMMENT_SIZE) as u64) as usize;
    if tail_len < END_LEN {
        return Err(Error::NoEndRecord);
    }
    let tail_at = len.checked_sub(tail_len as u64).ok_or(Error::NoEndRecord)?;
    let mut tail = vec![0u8; tail_len];
    file.read_exact_at(&mut tail, tail_at)?;
    // The record nearest the end of the file. Also the answer for a comment longer than the
    // limit: its record is out of reach.
    let (at, end) = (0..tail.len())
        .rev()
        .find_map(|at| Some((at, end_record(tail.get(at..)?)?)))
        .ok_or(Error::NoEndRecord)?;
    if end.disk != 0 || end.central_disk != 0 || end.disk_entries != end.entries {
        return Err(Error::MultiDisk);
    }
    let count = end.entries;
    if !(2..=3).contains(&count) {
        return Err(Error::EntryCount(count));
    }
    let (cd_size, cd_offset) = (u64::from(end.central_size), u64::from(end.central_offset));
    let end_offset = tail_at.checked_add(at as u64).ok_or(Error::NoEndRecord)?;
    if cd_offset.checked_add(cd_size) != Some(end_offset) || cd_size > MAX_CENTRAL_SIZE {
        return Err(Error::CentralDirectoryBounds {
            offset: cd_offset,
            size: cd_size,
            end: end_offset,
        });
    }
    let comment = end.comment.to_vec();
    let mut cd = vec![0u8; cd_size as usize];
    file.read_exact_at(&mut cd, cd_offset)?;
    let mut entries = Vec::with_capacity(usize::from(count));
    let mut rest = cd.as_slice();
    for index in 0..usize::from(count) {
        let (entry, next) = central_entry(rest).ok_or(Error::BadHeader {
            what: "central",
            index,
        })?;
        entries.push(entry);
        rest = next;
    }
    if !rest.is_empty() {
        return Err(Error::BadHeader {
            what: "central",
            index: usize::from(count),
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
    if entry.local_offset < floor {
        return Err(bounds);
    }
    // The local name follows the fixed part of the local header.
    let name_at = match entry.local_offset.checked_add(LOCAL_LEN) {
        Some(name_at) if name_at <= cd_offset => name_at,
        _ => return Err(bounds),
    };
    let mut h = [0u8; LOCAL_LEN as usize];
    file.read_exact_at(&mut h, entry.local_offset)?;
    let local = local_header(&h).ok_or(Error::BadHeader {
        what: "local",
        index,
    })?;
    let mismatch = |field| Error::HeaderMismatch { name, field };
    if local.flags != entry.flags || local.method != entry.method {
        return Err(mismatch("flags or method"));
    }
    if local.crc != entry.crc {
        return Err(mismatch("crc"));
    }
    if u64::from(local.compressed) != entry.size || u64::from(local.size) != entry.size {
        return Err(mismatch("sizes"));
    }
    let name_len = u64::from(local.name_len);
    if name_len != name.len() as u64 {
        return Err(mismatch("name"));
    }
    let mut local_name = vec![0u8; name.len()];
    file.read_exact_at(&mut local_name, name_at)?;
    if local_name != name.as_bytes() {
        return Err(mismatch("name"));
    }
    let start = name_at
        .checked_add(name_len)
        .and_then(|at| at.checked_add(u64::from(local.extra_len)));
    match start.and_then(|start| Some(start..start.checked_add(entry.size)?)) {
        Some(range) if range.end <= cd_offset => Ok(range),
        Some(range) => Err(Error::Bounds {
            name,
            start: range.start,
            end: range.end,
        }),
        // Offsets and sizes of 32 bits and lengths of 16: the sums stay far from overflow.
        None => Err(bounds),
    }
}
