//! The writer backhand writes the image through.
//!
//! It does two things the caller's writer cannot:
//! - positions are relative to where the image starts in the caller's writer (backhand
//!   seeks to 0 to write the superblock last);
//! - no stale bytes past the end of the image. With deduplication, backhand writes a
//!   file's blocks, then finds they duplicate an earlier file and seeks back, so the next
//!   data overwrites them. If less data follows, the old blocks would remain behind the
//!   image in the caller's file. Here the data since backhand last asked for the position
//!   (which it does before each file's blocks) is held in memory, and a seek back into it
//!   discards the rest. Only when one file's compressed blocks exceed [`PENDING_CAP`] can
//!   bytes past the end remain; [`Output::finish`] then overwrites them with zeros.

use std::io::{self, Seek, SeekFrom, Write};

/// Most bytes held back in memory before they are written out regardless.
const PENDING_CAP: usize = 32 * 1024 * 1024;

pub(crate) struct Output<'w, W: Write + Seek> {
    inner: &'w mut W,
    /// Position of the image's first byte in `inner`.
    start: u64,
    /// Image offset of `pending[0]`.
    base: u64,
    pending: Vec<u8>,
    /// Current image offset.
    pos: u64,
    /// Highest image offset written to `inner`.
    high: u64,
    /// The first error of `inner`, kept with its context for the caller.
    pub(crate) failed: Option<io::Error>,
}

impl<'w, W: Write + Seek> Output<'w, W> {
    pub(crate) fn new(inner: &'w mut W) -> io::Result<Self> {
        let start = inner.stream_position()?;
        Ok(Output {
            inner,
            start,
            base: 0,
            pending: Vec::new(),
            pos: 0,
            high: 0,
            failed: None,
        })
    }

    fn keep<T>(&mut self, result: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &result {
            if self.failed.is_none() {
                self.failed = Some(io::Error::new(e.kind(), e.to_string()));
            }
        }
        result
    }

    /// Writes the held-back bytes to `inner`; everything before `pos` is final.
    fn commit(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            let at = self.start + self.base;
            let result = self
                .inner
                .seek(SeekFrom::Start(at))
                .and_then(|_| self.inner.write_all(&self.pending));
            self.keep(result)?;
            self.base += self.pending.len() as u64;
            self.high = self.high.max(self.base);
            self.pending.clear();
        }
        self.base = self.pos;
        Ok(())
    }

    /// Ends the image at `len` bytes: writes what is held back, zeroes anything written
    /// past `len`, and leaves `inner` positioned at the end of the image.
    pub(crate) fn finish(mut self, len: u64) -> io::Result<()> {
        self.pos = len.max(self.pos);
        self.commit()?;
        let mut at = len;
        let zeros = [0u8; 4096];
        let result = self.inner.seek(SeekFrom::Start(self.start + len));
        self.keep(result)?;
        while at < self.high {
            let n = (self.high - at).min(zeros.len() as u64) as usize;
            let result = self.inner.write_all(&zeros[..n]);
            self.keep(result)?;
            at += n as u64;
        }
        let result = self
            .inner
            .seek(SeekFrom::Start(self.start + len))
            .and_then(|_| self.inner.flush());
        self.keep(result)
    }
}

impl<W: Write + Seek> Write for Output<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let end = self.base + self.pending.len() as u64;
        if self.pos < self.base || self.pos > end {
            self.commit()?;
        }
        let at = (self.pos - self.base) as usize;
        let overlap = (self.pending.len() - at).min(buf.len());
        self.pending[at..at + overlap].copy_from_slice(&buf[..overlap]);
        self.pending.extend_from_slice(&buf[overlap..]);
        self.pos += buf.len() as u64;
        if self.pending.len() > PENDING_CAP {
            self.commit()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.commit()?;
        let result = self.inner.flush();
        self.keep(result)
    }
}

impl<W: Write + Seek> Seek for Output<'_, W> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            // backhand asks for the position before data it may seek back to: what came
            // before it is final.
            SeekFrom::Current(0) => {
                self.commit()?;
                return Ok(self.pos);
            }
            SeekFrom::Current(delta) => self.pos.checked_add_signed(delta),
            SeekFrom::Start(target) => Some(target),
            SeekFrom::End(_) => None,
        };
        let target = target.ok_or_else(|| io::Error::from(io::ErrorKind::Unsupported))?;
        let end = self.base + self.pending.len() as u64;
        if target >= self.base && target < end && target > 0 {
            // A seek back over a duplicate's blocks: they are overwritten, drop them. (The
            // only other seek back is the rewind to the superblock at 0.)
            self.pending.truncate((target - self.base) as usize);
        } else if target != end {
            // e.g. the rewind to the superblock: keep everything.
            self.commit()?;
        }
        self.pos = target;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn seek_back_over_duplicate_leaves_nothing_behind() {
        let mut file = Cursor::new(b"prefix".to_vec());
        file.seek(SeekFrom::End(0)).unwrap();
        let mut out = Output::new(&mut file).unwrap();
        out.write_all(b"superblk").unwrap();
        let blocks_start = out.stream_position().unwrap();
        out.write_all(b"duplicate-data").unwrap();
        out.seek(SeekFrom::Start(blocks_start)).unwrap();
        out.write_all(b"tail").unwrap();
        let len = out.stream_position().unwrap();
        out.rewind().unwrap();
        out.write_all(b"SUPERBLK").unwrap();
        out.finish(len).unwrap();
        assert_eq!(file.position(), 6 + 12);
        assert_eq!(file.into_inner(), b"prefixSUPERBLKtail");
    }

    #[test]
    fn bytes_past_the_end_are_zeroed_when_already_written() {
        let mut file = Cursor::new(Vec::new());
        let mut out = Output::new(&mut file).unwrap();
        out.write_all(b"head").unwrap();
        out.high = 10; // as if a huge duplicate had been committed before the seek back
        out.finish(4).unwrap();
        assert_eq!(file.position(), 4);
        let bytes = file.into_inner();
        assert_eq!(&bytes[..4], b"head");
        assert!(bytes[4..].iter().all(|b| *b == 0));
    }
}
