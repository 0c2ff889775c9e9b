//! Writing the zip structure around `fs.img` data already in place.

use super::*;
use std::{
    fs::File,
    io::{self, Write},
    os::unix::fs::FileExt,
};

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
