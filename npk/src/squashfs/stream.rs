//! Streaming one regular file out of an image stored at an offset of a file, block by
//! block, without extracting anything else.
//!
//! [`open_file`] parses the image's metadata (as [`super::list`] does, with the same
//! checks), copies out what the file needs (its block list, its fragment's location, the
//! compressor) and drops the rest. The [`FileReader`] it returns reads and decompresses
//! one data block at a time with `pread`: it holds one stored block and one decompressed
//! block (at most two block sizes, 2 MiB for the largest block size), whatever the file's
//! size. The image is untrusted: every size and offset is checked before it is used, and a
//! block that decompresses to another size than the inode implies is an error.

use std::{
    fs::File,
    io::{self, Read},
    os::unix::fs::FileExt,
};

use backhand::{
    compression::{CompressionAction, Compressor, DefaultCompressor},
    DataSize, InnerNode,
};

use super::{read, Error};

/// A file's fragment index when its tail is not stored in a fragment block.
const NO_FRAGMENT: usize = 0xffff_ffff;

/// Where a file's tail lives: `len` bytes at `offset` of the fragment block stored at
/// `start` (relative to the image).
#[derive(Clone, Copy, Debug)]
struct Tail {
    start: u64,
    stored: DataSize,
    offset: usize,
    len: usize,
}

/// The contents of one regular file of an image, as [`Read`]. Made by [`open_file`].
#[derive(Debug)]
pub struct FileReader<'f> {
    file: &'f File,
    image_offset: u64,
    image_len: u64,
    path: String,
    compressor: Compressor,
    block_size: usize,
    size: u64,
    blocks: Vec<DataSize>,
    next_block: usize,
    /// Image-relative position of the next whole block's stored bytes.
    block_pos: u64,
    tail: Option<Tail>,
    /// The stored bytes of the block being read.
    raw: Vec<u8>,
    /// The decompressed block; `out[out_pos..out_end]` is not returned yet.
    out: Vec<u8>,
    out_pos: usize,
    out_end: usize,
}

fn corrupt(path: &str, what: impl std::fmt::Display) -> Error {
    Error::Corrupt(format!("file {path:?}: {what}"))
}

/// Opens the regular file at `path` (absolute in the image, e.g. `/rootfs.ext4`; a path
/// without the leading `/` is taken from the root) of the image stored at
/// `offset..offset + len` of `file`.
///
/// A path the image does not have is [`Error::NotFound`], anything but a regular file
/// [`Error::NotAFile`]; both name the path.
pub fn open_file<'f>(
    file: &'f File,
    offset: u64,
    len: u64,
    path: &str,
) -> Result<FileReader<'f>, Error> {
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let fs = read::open(file, offset, len)?;
    let node = fs
        .files()
        .find(|n| n.fullpath.as_os_str().as_encoded_bytes() == path.as_bytes())
        .ok_or_else(|| Error::NotFound(path.clone()))?;
    let inode = match &node.inner {
        InnerNode::File(inode) => inode,
        other => {
            let kind = match other {
                InnerNode::Dir(_) => "directory",
                InnerNode::Symlink(_) => "symlink",
                InnerNode::CharacterDevice(_) => "character device",
                InnerNode::BlockDevice(_) => "block device",
                InnerNode::NamedPipe => "fifo",
                InnerNode::Socket => "socket",
                InnerNode::File(_) => "file",
            };
            return Err(Error::NotAFile { path, kind });
        }
    };
    let compressor: Compressor = fs
        .compressor
        .map(Into::into)
        .ok_or_else(|| corrupt(&path, "the image names no compressor"))?;
    let block_size = fs.block_size as usize;
    if !(super::MIN_BLOCK_SIZE..=super::MAX_BLOCK_SIZE).contains(&fs.block_size)
        || !block_size.is_power_of_two()
    {
        return Err(corrupt(
            &path,
            format!("invalid block size {}", fs.block_size),
        ));
    }
    let size = inode.file_len() as u64;
    let blocks = inode.block_sizes().to_vec();
    let whole = size / block_size as u64;
    let rest = (size % block_size as u64) as usize;
    let tail = if inode.frag_index() == NO_FRAGMENT {
        if blocks.len() as u64 != size.div_ceil(block_size as u64) {
            return Err(corrupt(
                &path,
                format!("{} blocks for {size} bytes", blocks.len()),
            ));
        }
        None
    } else {
        let fragment = fs
            .fragments
            .as_ref()
            .and_then(|f| f.get(inode.frag_index()))
            .ok_or_else(|| corrupt(&path, "fragment index out of range"))?;
        if blocks.len() as u64 != whole || rest == 0 {
            return Err(corrupt(
                &path,
                format!("{} blocks and a fragment for {size} bytes", blocks.len()),
            ));
        }
        Some(Tail {
            start: fragment.start,
            stored: fragment.size,
            offset: inode.block_offset() as usize,
            len: rest,
        })
    };
    Ok(FileReader {
        file,
        image_offset: offset,
        image_len: len,
        path,
        compressor,
        block_size,
        size,
        blocks,
        next_block: 0,
        block_pos: inode.blocks_start(),
        tail,
        raw: Vec::with_capacity(block_size),
        out: Vec::with_capacity(block_size),
        out_pos: 0,
        out_end: 0,
    })
}

impl FileReader<'_> {
    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The file's path in the image.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn invalid(&self, what: impl std::fmt::Display) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("squashfs file {:?}: {what}", self.path),
        )
    }

    /// Reads `stored` bytes at `at` (relative to the image) into `raw` and decompresses
    /// them into `out`.
    fn load(&mut self, at: u64, stored: DataSize, what: &str) -> io::Result<()> {
        let n = stored.size() as usize;
        if n > self.block_size {
            return Err(self.invalid(format!("{what} of {n} bytes exceeds the block size")));
        }
        if at
            .checked_add(n as u64)
            .is_none_or(|end| end > self.image_len)
        {
            return Err(self.invalid(format!("{what} at {at} extends past the image")));
        }
        self.raw.resize(n, 0);
        self.file
            .read_exact_at(&mut self.raw, self.image_offset.saturating_add(at))?;
        self.out.clear();
        if stored.uncompressed() {
            self.out.extend_from_slice(&self.raw);
        } else {
            DefaultCompressor
                .decompress(&self.raw, &mut self.out, self.compressor)
                .map_err(|e| self.invalid(format!("{what} at {at}: {e}")))?;
        }
        Ok(())
    }

    /// Decompresses the next block (or the tail) into `out`; false at the end.
    fn fill(&mut self) -> io::Result<bool> {
        if let Some(&stored) = self.blocks.get(self.next_block) {
            let index = self.next_block;
            let done = index as u64 * self.block_size as u64;
            let expected = (self.size.saturating_sub(done)).min(self.block_size as u64) as usize;
            if stored.size() == 0 {
                // A hole of a sparse file.
                self.out.clear();
                self.out.resize(expected, 0);
            } else {
                let at = self.block_pos;
                self.load(at, stored, &format!("block {index}"))?;
                self.block_pos = at.saturating_add(u64::from(stored.size()));
                if self.out.len() != expected {
                    return Err(self.invalid(format!(
                        "block {index} holds {} bytes, expected {expected}",
                        self.out.len()
                    )));
                }
            }
            self.next_block = index.saturating_add(1);
            self.out_pos = 0;
            self.out_end = self.out.len();
            return Ok(true);
        }
        let Some(tail) = self.tail.take() else {
            return Ok(false);
        };
        self.load(tail.start, tail.stored, "fragment block")?;
        let end = tail.offset.saturating_add(tail.len);
        if end > self.out.len() {
            return Err(self.invalid(format!(
                "tail {}..{end} is outside its fragment block of {} bytes",
                tail.offset,
                self.out.len()
            )));
        }
        self.out_pos = tail.offset;
        self.out_end = end;
        Ok(true)
    }
}

impl Read for FileReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.out_pos >= self.out_end {
            if !self.fill()? {
                return Ok(0);
            }
        }
        let available = self.out.get(self.out_pos..self.out_end).unwrap_or_default();
        let n = available.len().min(buf.len());
        if let (Some(to), Some(from)) = (buf.get_mut(..n), available.get(..n)) {
            to.copy_from_slice(from);
        }
        self.out_pos = self.out_pos.saturating_add(n);
        Ok(n)
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
