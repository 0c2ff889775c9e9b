//! The newc ("new ASCII", magic `070701`) cpio encoding: a 110-byte header of thirteen
//! 8-digit hexadecimal fields, the NUL-terminated name padded so that header and name end
//! on a 4-byte boundary, then the data padded to 4 bytes. `TRAILER!!!` ends an archive.
//! See the kernel's Documentation/driver-api/early-userspace/buffer-format.rst.
//!
//! Only encoding lives here; what goes into an archive is [`super::Initramfs`]'s business.

use std::io::{self, Write};

pub const MAGIC: &[u8; 6] = b"070701";
pub const TRAILER: &str = "TRAILER!!!";
pub const HEADER_LEN: usize = 110;

pub const S_IFDIR: u32 = 0o040_000;
pub const S_IFREG: u32 = 0o100_000;
pub const S_IFLNK: u32 = 0o120_000;
pub const S_IFCHR: u32 = 0o020_000;
pub const S_IFBLK: u32 = 0o060_000;
pub const S_IFMT: u32 = 0o170_000;

/// The numeric fields of one header (the name size is derived from the name).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub ino: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub mtime: u32,
    pub filesize: u32,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub rdev_major: u32,
    pub rdev_minor: u32,
}

/// Bytes of padding after `len` bytes to reach a multiple of four.
pub fn pad4(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// Writes entries in newc form, counting the bytes.
pub struct Writer<W> {
    out: W,
    written: u64,
}

impl<W: Write> Writer<W> {
    pub fn new(out: W) -> Self {
        Self { out, written: 0 }
    }

    /// Writes one entry; `data.len()` must equal `header.filesize`.
    pub fn entry(&mut self, header: &Header, name: &str, data: &[u8]) -> io::Result<()> {
        if data.len() != header.filesize as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("entry {name:?}: data length differs from filesize"),
            ));
        }
        let namesize = u32::try_from(name.len() + 1)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name too long"))?;
        let fields = [
            header.ino,
            header.mode,
            header.uid,
            header.gid,
            header.nlink,
            header.mtime,
            header.filesize,
            header.dev_major,
            header.dev_minor,
            header.rdev_major,
            header.rdev_minor,
            namesize,
            0, // check: only used by the crc format
        ];
        let mut head = Vec::with_capacity(HEADER_LEN + name.len() + 4);
        head.extend_from_slice(MAGIC);
        for field in fields {
            head.extend_from_slice(format!("{field:08x}").as_bytes());
        }
        head.extend_from_slice(name.as_bytes());
        head.push(0);
        head.resize(head.len() + pad4(head.len()), 0);
        self.put(&head)?;
        self.put(data)?;
        self.put(&[0; 3][..pad4(data.len())])
    }

    /// Writes the trailer entry and returns the archive's total size.
    pub fn trailer(mut self) -> io::Result<u64> {
        let header = Header {
            nlink: 1,
            ..Header::default()
        };
        self.entry(&header, TRAILER, &[])?;
        Ok(self.written)
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }
}
