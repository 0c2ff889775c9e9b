//! Parses a newc archive back into its entries, to check what was written (tests, and
//! scenarios that inspect an image). It reads only archives of this harness: it rejects
//! every format but newc and does not follow hard links.

use super::newc::{self, Header, HEADER_LEN, MAGIC, TRAILER};

/// Why an archive could not be parsed, with the byte offset of the bad entry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("offset {offset}: archive ends inside an entry")]
    Truncated { offset: usize },
    #[error("offset {offset}: bad magic (not a newc archive)")]
    Magic { offset: usize },
    #[error("offset {offset}: field {field} is not 8 hexadecimal digits")]
    Field { offset: usize, field: usize },
    #[error("offset {offset}: name is not NUL-terminated UTF-8")]
    Name { offset: usize },
    #[error("archive has no {TRAILER} entry")]
    NoTrailer,
}

/// One entry as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub header: Header,
    pub data: Vec<u8>,
}

impl Entry {
    /// The file type bits of the mode (`newc::S_IF*`).
    pub fn file_type(&self) -> u32 {
        self.header.mode & newc::S_IFMT
    }

    /// The permission bits of the mode.
    pub fn perm(&self) -> u32 {
        self.header.mode & 0o7777
    }
}

/// Parses every entry up to (without) the trailer.
pub fn parse(bytes: &[u8]) -> Result<Vec<Entry>, Error> {
    let mut entries = Vec::new();
    let mut offset = 0;
    loop {
        let head = bytes
            .get(offset..offset + HEADER_LEN)
            .ok_or(Error::Truncated { offset })?;
        if &head[..6] != MAGIC {
            return Err(Error::Magic { offset });
        }
        let mut fields = [0u32; 13];
        for (i, field) in fields.iter_mut().enumerate() {
            let digits = &head[6 + 8 * i..6 + 8 * (i + 1)];
            *field = std::str::from_utf8(digits)
                .ok()
                .and_then(|s| u32::from_str_radix(s, 16).ok())
                .ok_or(Error::Field { offset, field: i })?;
        }
        let namesize = fields[11] as usize;
        let name_start = offset + HEADER_LEN;
        let name_bytes = bytes
            .get(name_start..name_start + namesize)
            .ok_or(Error::Truncated { offset })?;
        let name = match name_bytes.split_last() {
            Some((0, name)) => std::str::from_utf8(name).map_err(|_| Error::Name { offset })?,
            _ => return Err(Error::Name { offset }),
        };
        let data_start = name_start + namesize + newc::pad4(HEADER_LEN + namesize);
        let filesize = fields[6] as usize;
        let data = bytes
            .get(data_start..data_start + filesize)
            .ok_or(Error::Truncated { offset })?;
        if name == TRAILER {
            return Ok(entries);
        }
        entries.push(Entry {
            name: name.to_owned(),
            header: Header {
                ino: fields[0],
                mode: fields[1],
                uid: fields[2],
                gid: fields[3],
                nlink: fields[4],
                mtime: fields[5],
                filesize: fields[6],
                dev_major: fields[7],
                dev_minor: fields[8],
                rdev_major: fields[9],
                rdev_minor: fields[10],
            },
            data: data.to_vec(),
        });
        offset = data_start + filesize + newc::pad4(filesize);
        if offset >= bytes.len() {
            return Err(Error::NoTrailer);
        }
    }
}
