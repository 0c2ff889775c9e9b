//! `sync_file_range(2)` with `SYNC_FILE_RANGE_WRITE`: start writing a file's dirty pages
//! in a range back to the device without waiting for it. A writer of a large file that
//! must be synced at the end (an install) starts the writeback as it goes, so the final
//! `fsync` has little left to wait for. Not owned here: when and which range.

use std::{
    io,
    os::fd::{AsRawFd, BorrowedFd},
};

/// Start the writeback of `len` bytes at `offset` of `file`; returns at once.
pub fn start(file: BorrowedFd<'_>, offset: u64, len: u64) -> io::Result<()> {
    let offset = libc::off64_t::try_from(offset).map_err(|_| invalid())?;
    let len = libc::off64_t::try_from(len).map_err(|_| invalid())?;
    // SAFETY: sync_file_range takes an fd and three integers and touches no memory of
    // ours; the fd is borrowed, so it stays open for the call's duration.
    let ret = unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn invalid() -> io::Error {
    io::Error::from_raw_os_error(libc::EINVAL)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{io::Write, os::fd::AsFd};

    #[test]
    fn starts_the_writeback_of_a_written_range() {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&[7u8; 1 << 16]).unwrap();
        start(file.as_fd(), 0, 1 << 16).unwrap();
        // A range beyond the end is fine; a negative one is not representable.
        start(file.as_fd(), 1 << 20, 4096).unwrap();
        assert!(start(file.as_fd(), u64::MAX, 1).is_err());
    }
}
