//! Encoding and decoding of one environment copy, without I/O.

use std::path::Path;

use super::{Error, Result};
use crate::Env;

/// True if flags byte `a` is newer than `b`: larger, except that 0 follows 255.
///
/// This is U-Boot's rule for redundant environments; equal flags make the primary current.
pub fn newer(a: u8, b: u8) -> bool {
    match (a, b) {
        (0, 255) => true,
        (255, 0) => false,
        _ => a > b,
    }
}

/// Stored (little endian) and computed CRC32 of a copy whose data starts at `header`.
pub(super) fn crc(bytes: &[u8], header: usize) -> (u32, u32) {
    let stored = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    (stored, crc32fast::hash(&bytes[header..]))
}

/// Decodes a data area (`name=value\0...\0\0`); `base` is its offset in `path` for errors.
///
/// Everything after the terminating empty entry is padding and ignored. Entries without
/// `=`, with an empty name, not UTF-8, duplicated, or a data area without terminator are
/// errors naming the offset of the entry.
pub fn decode(data: &[u8], path: &Path, base: u64) -> Result<Env> {
    let mut env = Env::new();
    let mut pos = 0;
    let entry_error = |pos: usize, reason| Error::Entry {
        path: path.to_path_buf(),
        offset: base + pos as u64,
        reason,
    };
    loop {
        let rest = &data[pos..];
        let Some(len) = rest.iter().position(|&b| b == 0) else {
            let reason = if rest.is_empty() {
                "missing terminating empty entry"
            } else {
                "entry not terminated by nul within the environment size"
            };
            return Err(entry_error(pos, reason));
        };
        if len == 0 {
            return Ok(env);
        }
        let entry = std::str::from_utf8(&rest[..len]).map_err(|_| entry_error(pos, "not utf-8"))?;
        let (name, value) = entry
            .split_once('=')
            .ok_or_else(|| entry_error(pos, "no '=' in entry"))?;
        if name.is_empty() {
            return Err(entry_error(pos, "empty variable name"));
        }
        if env.get(name).is_some() {
            return Err(Error::Duplicate {
                path: path.to_path_buf(),
                offset: base + pos as u64,
                name: name.to_string(),
            });
        }
        env.set(name, value);
        pos += len + 1;
    }
}

/// Encodes a whole copy of `size` bytes: CRC, flags byte if `flags` is given, data sorted
/// by name, zero padding. `path` and `offset` name the destination in errors.
pub fn encode(
    env: &Env,
    size: usize,
    flags: Option<u8>,
    path: &Path,
    offset: u64,
) -> Result<Vec<u8>> {
    let header = if flags.is_some() { 5 } else { 4 };
    let available = size.saturating_sub(header);
    let mut data = Vec::with_capacity(available);
    for (name, value) in env.sorted().iter() {
        if name.is_empty() || name.contains(['=', '\0']) {
            return Err(Error::Name {
                name: name.to_string(),
            });
        }
        if value.contains('\0') {
            return Err(Error::Value {
                name: name.to_string(),
            });
        }
        data.extend_from_slice(name.as_bytes());
        data.push(b'=');
        data.extend_from_slice(value.as_bytes());
        data.push(0);
    }
    // The terminating empty entry.
    data.push(0);
    if data.len() > available {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            offset,
            needed: data.len(),
            available,
        });
    }
    data.resize(available, 0);
    let mut image = Vec::with_capacity(size);
    image.extend_from_slice(&crc32fast::hash(&data).to_le_bytes());
    if let Some(flags) = flags {
        image.push(flags);
    }
    image.extend_from_slice(&data);
    Ok(image)
}
