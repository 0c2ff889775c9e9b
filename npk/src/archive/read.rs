//! Reading the zip structure strictly: end record, central directory, local headers.

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
