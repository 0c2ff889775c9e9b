//! Watchdog ioctls (`<linux/watchdog.h>`) on an open `/dev/watchdogN`: set and read the
//! timeout.
//!
//! Feeding the watchdog (any `write`) and the magic close (writing `V` before the last
//! close) need no ioctl and are done by the caller with ordinary file I/O. Not owned here:
//! which device, which timeout, when to feed.

use std::{
    io,
    os::fd::{AsRawFd, BorrowedFd},
};

/// `WDIOC_SETTIMEOUT`: `_IOWR('W', 6, int)`.
pub const WDIOC_SETTIMEOUT: libc::Ioctl = libc::_IOWR::<libc::c_int>(b'W' as u32, 6);
/// `WDIOC_GETTIMEOUT`: `_IOR('W', 7, int)`.
pub const WDIOC_GETTIMEOUT: libc::Ioctl = libc::_IOR::<libc::c_int>(b'W' as u32, 7);

/// A watchdog ioctl that failed, with the kernel's error.
#[derive(Debug, thiserror::Error)]
#[error("{op}: {source}")]
pub struct Error {
    /// The ioctl, e.g. `WDIOC_SETTIMEOUT`.
    pub op: &'static str,
    /// The kernel's answer.
    #[source]
    pub source: io::Error,
}

/// `WDIOC_SETTIMEOUT`: ask for a timeout of `seconds`. Returns the timeout the driver
/// actually set (drivers round to what their hardware can do).
pub fn set_timeout(watchdog: BorrowedFd<'_>, seconds: u32) -> Result<u32, Error> {
    let mut value = libc::c_int::try_from(seconds).map_err(|_| Error {
        op: "WDIOC_SETTIMEOUT",
        source: io::Error::from_raw_os_error(libc::EINVAL),
    })?;
    // SAFETY: WDIOC_SETTIMEOUT reads and writes one `int` through the pointer; `value` is
    // a live, aligned `c_int` on this stack frame for the whole call. The fd is borrowed,
    // so it stays open for the call's duration.
    let ret = unsafe {
        libc::ioctl(
            watchdog.as_raw_fd(),
            WDIOC_SETTIMEOUT,
            &mut value as *mut libc::c_int,
        )
    };
    if ret < 0 {
        return Err(Error {
            op: "WDIOC_SETTIMEOUT",
            source: io::Error::last_os_error(),
        });
    }
    Ok(u32::try_from(value).unwrap_or(0))
}

/// `WDIOC_GETTIMEOUT`: the current timeout in seconds.
pub fn get_timeout(watchdog: BorrowedFd<'_>) -> Result<u32, Error> {
    let mut value: libc::c_int = 0;
    // SAFETY: WDIOC_GETTIMEOUT writes one `int` through the pointer; `value` is a live,
    // aligned `c_int` on this stack frame for the whole call. The fd is borrowed, so it
    // stays open for the call's duration.
    let ret = unsafe {
        libc::ioctl(
            watchdog.as_raw_fd(),
            WDIOC_GETTIMEOUT,
            &mut value as *mut libc::c_int,
        )
    };
    if ret < 0 {
        return Err(Error {
            op: "WDIOC_GETTIMEOUT",
            source: io::Error::last_os_error(),
        });
    }
    Ok(u32::try_from(value).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    // `libc::Ioctl` is `c_ulong` or `c_int` depending on the target.
    #[allow(clippy::unnecessary_cast)]
    fn request_numbers_match_the_kernel_headers() {
        // The generic ioctl encoding of x86, arm and arm64 (the boards' architectures).
        assert_eq!(WDIOC_SETTIMEOUT as u64 & 0xffff_ffff, 0xC004_5706);
        assert_eq!(WDIOC_GETTIMEOUT as u64 & 0xffff_ffff, 0x8004_5707);
    }

    #[test]
    fn not_a_watchdog() {
        let null = std::fs::File::open("/dev/null").unwrap();
        let e = set_timeout(null.as_fd(), 10).unwrap_err();
        assert_eq!(e.op, "WDIOC_SETTIMEOUT");
        assert_eq!(e.source.raw_os_error(), Some(libc::ENOTTY));
        let e = get_timeout(null.as_fd()).unwrap_err();
        assert_eq!(e.source.raw_os_error(), Some(libc::ENOTTY));
        let e = set_timeout(null.as_fd(), u32::MAX).unwrap_err();
        assert_eq!(e.source.raw_os_error(), Some(libc::EINVAL));
    }
}
