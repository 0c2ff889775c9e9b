//! Loop device ioctls (`<linux/loop.h>`): ask `/dev/loop-control` for a free device, bind a
//! region of an open file to a loop device, read a device's status, unbind it.
//!
//! Binding uses `LOOP_CONFIGURE` (Linux 5.8), which sets up the whole device in one step.
//! Older kernels answer it with `EINVAL` or `ENOTTY`; then [`attach`] falls back to
//! `LOOP_SET_FD` + `LOOP_SET_STATUS64` + `LOOP_SET_BLOCK_SIZE` + `LOOP_SET_DIRECT_IO`, and
//! unbinds the device again when a later step of that sequence fails. Direct I/O that the
//! kernel refuses (backing file system without `O_DIRECT`, misaligned offset) falls back to
//! buffered I/O and is reported in [`Attached::direct_io`].
//!
//! Not owned here: which device number to use, retrying when another process takes the
//! device first (`EBUSY`), device nodes, policy about the settings (callers choose them).

use std::{
    io,
    mem::size_of,
    os::fd::{AsRawFd, BorrowedFd},
};

/// `LO_FLAGS_READ_ONLY`: the device rejects writes.
pub const LO_FLAGS_READ_ONLY: u32 = 1;
/// `LO_FLAGS_AUTOCLEAR`: the device unbinds itself when its last user closes it.
pub const LO_FLAGS_AUTOCLEAR: u32 = 4;
/// `LO_FLAGS_PARTSCAN`: the kernel scans the device for partitions.
pub const LO_FLAGS_PARTSCAN: u32 = 8;
/// `LO_FLAGS_DIRECT_IO`: the device reads its backing file with `O_DIRECT`.
pub const LO_FLAGS_DIRECT_IO: u32 = 16;

/// Length of the name fields of `struct loop_info64` (`LO_NAME_SIZE`).
pub const NAME_SIZE: usize = 64;
const KEY_SIZE: usize = 32;

const LOOP_SET_FD: libc::Ioctl = 0x4C00;
const LOOP_CLR_FD: libc::Ioctl = 0x4C01;
const LOOP_SET_STATUS64: libc::Ioctl = 0x4C04;
const LOOP_GET_STATUS64: libc::Ioctl = 0x4C05;
const LOOP_SET_DIRECT_IO: libc::Ioctl = 0x4C08;
const LOOP_SET_BLOCK_SIZE: libc::Ioctl = 0x4C09;
const LOOP_CONFIGURE: libc::Ioctl = 0x4C0A;
const LOOP_CTL_GET_FREE: libc::Ioctl = 0x4C82;

/// `struct loop_info64`, the status of a loop device.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct LoopInfo64 {
    /// Device number of the backing file's file system (read only).
    pub device: u64,
    /// Inode number of the backing file (read only).
    pub inode: u64,
    /// Device number of the backing device, when it is one (read only).
    pub rdevice: u64,
    /// Offset of the device's first byte in the backing file.
    pub offset: u64,
    /// Size of the device in bytes; 0 = up to the end of the backing file.
    pub sizelimit: u64,
    /// Device number N of `/dev/loopN` (read only).
    pub number: u32,
    encrypt_type: u32,
    encrypt_key_size: u32,
    /// `LO_FLAGS_*`.
    pub flags: u32,
    /// Informational name of the backing file (NUL-padded, may be truncated).
    pub file_name: [u8; NAME_SIZE],
    crypt_name: [u8; NAME_SIZE],
    encrypt_key: [u8; KEY_SIZE],
    init: [u64; 2],
}

impl Default for LoopInfo64 {
    fn default() -> Self {
        LoopInfo64 {
            device: 0,
            inode: 0,
            rdevice: 0,
            offset: 0,
            sizelimit: 0,
            number: 0,
            encrypt_type: 0,
            encrypt_key_size: 0,
            flags: 0,
            file_name: [0; NAME_SIZE],
            crypt_name: [0; NAME_SIZE],
            encrypt_key: [0; KEY_SIZE],
            init: [0; 2],
        }
    }
}

/// `struct loop_config`, the argument of `LOOP_CONFIGURE`.
#[repr(C)]
struct LoopConfig {
    fd: u32,
    block_size: u32,
    info: LoopInfo64,
    reserved: [u64; 8],
}

// The kernel's sizes of both structures; they are the same on every architecture.
const _: () = assert!(size_of::<LoopInfo64>() == 232);
const _: () = assert!(size_of::<LoopConfig>() == 304);

/// A loop ioctl that failed, with the kernel's error.
#[derive(Debug, thiserror::Error)]
#[error("{op}: {source}")]
pub struct Error {
    /// The ioctl, e.g. `LOOP_CONFIGURE`.
    pub op: &'static str,
    /// The kernel's answer.
    #[source]
    pub source: io::Error,
}

impl Error {
    /// The errno of the failure.
    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

/// How to bind a file region to a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// First byte of the region in the backing file.
    pub offset: u64,
    /// Length of the region in bytes (0 = to the end of the file).
    pub size_limit: u64,
    /// Logical block size of the device (512, 1024, 2048 or 4096); 0 keeps the default.
    pub block_size: u32,
    /// Reject writes.
    pub read_only: bool,
    /// Unbind when the last user closes the device.
    pub autoclear: bool,
    /// Ask for direct I/O on the backing file.
    pub direct_io: bool,
}

impl Settings {
    fn flags(&self, direct_io: bool) -> u32 {
        let mut flags = 0;
        if self.read_only {
            flags |= LO_FLAGS_READ_ONLY;
        }
        if self.autoclear {
            flags |= LO_FLAGS_AUTOCLEAR;
        }
        if direct_io {
            flags |= LO_FLAGS_DIRECT_IO;
        }
        flags
    }

    fn info(&self, direct_io: bool) -> LoopInfo64 {
        LoopInfo64 {
            offset: self.offset,
            sizelimit: self.size_limit,
            flags: self.flags(direct_io),
            ..LoopInfo64::default()
        }
    }
}

/// Which interface bound the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `LOOP_CONFIGURE`.
    Configure,
    /// `LOOP_SET_FD` and friends (kernels before 5.8).
    Legacy,
}

/// Direct I/O as it ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirectIo {
    /// Not asked for: buffered I/O.
    NotRequested,
    /// Asked for and in effect.
    On,
    /// Asked for, refused by the kernel: buffered I/O.
    Refused,
}

/// The result of a successful [`attach`].
#[derive(Clone, Copy, Debug)]
pub struct Attached {
    /// The interface that bound the device.
    pub method: Method,
    /// Direct I/O as it ended up.
    pub direct_io: DirectIo,
    /// The device's status read back after binding.
    pub status: LoopInfo64,
}

fn check(op: &'static str, ret: libc::c_int) -> Result<libc::c_int, Error> {
    if ret < 0 {
        Err(Error {
            op,
            source: io::Error::last_os_error(),
        })
    } else {
        Ok(ret)
    }
}

/// `LOOP_CTL_GET_FREE` on `/dev/loop-control`: the number N of an unbound `/dev/loopN`,
/// created by the kernel if none is free. Another process may bind it before the caller.
pub fn ctl_get_free(control: BorrowedFd<'_>) -> Result<u32, Error> {
    // SAFETY: LOOP_CTL_GET_FREE takes no argument; the fd is open for the call's duration.
    let n = check("LOOP_CTL_GET_FREE", unsafe {
        libc::ioctl(control.as_raw_fd(), LOOP_CTL_GET_FREE)
    })?;
    u32::try_from(n).map_err(|_| Error {
        op: "LOOP_CTL_GET_FREE",
        source: io::Error::from_raw_os_error(libc::ERANGE),
    })
}

/// `LOOP_CONFIGURE`: bind `backing` to `device` with all settings in one step.
pub fn configure(
    device: BorrowedFd<'_>,
    backing: BorrowedFd<'_>,
    settings: &Settings,
    direct_io: bool,
) -> Result<(), Error> {
    let config = LoopConfig {
        fd: backing.as_raw_fd() as u32,
        block_size: settings.block_size,
        info: settings.info(direct_io),
        reserved: [0; 8],
    };
    // SAFETY: `config` is a valid `struct loop_config` (size checked above) that lives
    // across the call; the kernel only reads it. Both fds are open for the call's duration.
    check("LOOP_CONFIGURE", unsafe {
        libc::ioctl(
            device.as_raw_fd(),
            LOOP_CONFIGURE,
            &config as *const LoopConfig,
        )
    })
    .map(drop)
}

/// `LOOP_SET_FD`: bind `backing` to `device` with default settings (read-only when
/// `backing` is not open for writing).
pub fn set_fd(device: BorrowedFd<'_>, backing: BorrowedFd<'_>) -> Result<(), Error> {
    // SAFETY: LOOP_SET_FD takes an fd number by value; both fds are open during the call.
    check("LOOP_SET_FD", unsafe {
        libc::ioctl(
            device.as_raw_fd(),
            LOOP_SET_FD,
            backing.as_raw_fd() as libc::c_ulong,
        )
    })
    .map(drop)
}

/// `LOOP_SET_STATUS64`: offset, size limit and the settable flags of a bound device.
pub fn set_status64(device: BorrowedFd<'_>, info: &LoopInfo64) -> Result<(), Error> {
    // SAFETY: `info` is a valid `struct loop_info64` (size checked above) borrowed across
    // the call; the kernel only reads it.
    check("LOOP_SET_STATUS64", unsafe {
        libc::ioctl(
            device.as_raw_fd(),
            LOOP_SET_STATUS64,
            info as *const LoopInfo64,
        )
    })
    .map(drop)
}

/// `LOOP_GET_STATUS64`: the status of a bound device (`ENXIO` when it is not bound).
pub fn get_status64(device: BorrowedFd<'_>) -> Result<LoopInfo64, Error> {
    let mut info = LoopInfo64::default();
    // SAFETY: `info` is a valid, writable `struct loop_info64` (size checked above) that
    // lives across the call; every bit pattern is a valid value of its integer fields.
    check("LOOP_GET_STATUS64", unsafe {
        libc::ioctl(
            device.as_raw_fd(),
            LOOP_GET_STATUS64,
            &mut info as *mut LoopInfo64,
        )
    })?;
    Ok(info)
}

/// `LOOP_SET_BLOCK_SIZE`: logical block size of a bound device.
pub fn set_block_size(device: BorrowedFd<'_>, size: u32) -> Result<(), Error> {
    // SAFETY: LOOP_SET_BLOCK_SIZE takes an integer by value.
    check("LOOP_SET_BLOCK_SIZE", unsafe {
        libc::ioctl(
            device.as_raw_fd(),
            LOOP_SET_BLOCK_SIZE,
            size as libc::c_ulong,
        )
    })
    .map(drop)
}

/// `LOOP_SET_DIRECT_IO`: switch direct I/O of a bound device on or off.
pub fn set_direct_io(device: BorrowedFd<'_>, on: bool) -> Result<(), Error> {
    // SAFETY: LOOP_SET_DIRECT_IO takes an integer by value.
    check("LOOP_SET_DIRECT_IO", unsafe {
        libc::ioctl(device.as_raw_fd(), LOOP_SET_DIRECT_IO, on as libc::c_ulong)
    })
    .map(drop)
}

/// `LOOP_CLR_FD`: unbind a device. While other users hold it open, the kernel only marks
/// it for unbinding at the last close.
pub fn clr_fd(device: BorrowedFd<'_>) -> Result<(), Error> {
    // SAFETY: LOOP_CLR_FD takes no argument.
    check("LOOP_CLR_FD", unsafe {
        libc::ioctl(device.as_raw_fd(), LOOP_CLR_FD, 0 as libc::c_ulong)
    })
    .map(drop)
}

fn is_unknown_ioctl(e: &Error) -> bool {
    matches!(e.errno(), Some(libc::EINVAL) | Some(libc::ENOTTY))
}

/// Bind the region of `backing` described by `settings` to the unbound `device`.
///
/// `EBUSY` means another process bound the device first. On every error the device is
/// left unbound (or, if someone else bound it, untouched). The status is read back and
/// checked against `settings`; a kernel that silently ignored a setting is an error.
pub fn attach(
    device: BorrowedFd<'_>,
    backing: BorrowedFd<'_>,
    settings: &Settings,
) -> Result<Attached, Error> {
    let (method, direct_io) = match configure(device, backing, settings, settings.direct_io) {
        Ok(()) => (Method::Configure, settings.direct_io),
        // EINVAL is both "unknown ioctl" (before 5.8) and "direct I/O impossible" (some
        // kernels refuse instead of falling back): try again without direct I/O first.
        Err(e) if settings.direct_io && e.errno() == Some(libc::EINVAL) => {
            match configure(device, backing, settings, false) {
                Ok(()) => (Method::Configure, false),
                Err(e) if is_unknown_ioctl(&e) => {
                    (Method::Legacy, legacy(device, backing, settings)?)
                }
                Err(e) => return Err(e),
            }
        }
        Err(e) if is_unknown_ioctl(&e) => (Method::Legacy, legacy(device, backing, settings)?),
        Err(e) => return Err(e),
    };
    finish(device, settings, method, direct_io)
}

/// [`attach`] with the pre-5.8 ioctl sequence only, as it runs where `LOOP_CONFIGURE` is
/// missing.
pub fn attach_legacy(
    device: BorrowedFd<'_>,
    backing: BorrowedFd<'_>,
    settings: &Settings,
) -> Result<Attached, Error> {
    let direct_io = legacy(device, backing, settings)?;
    finish(device, settings, Method::Legacy, direct_io)
}

/// Read the status back, check it, and unbind the device if it is not as asked.
fn finish(
    device: BorrowedFd<'_>,
    settings: &Settings,
    method: Method,
    mut direct_io: bool,
) -> Result<Attached, Error> {
    let status = match get_status64(device) {
        Ok(status) => status,
        Err(e) => {
            let _ = clr_fd(device);
            return Err(e);
        }
    };
    // Some kernels accept LO_FLAGS_DIRECT_IO and quietly stay buffered.
    if direct_io && status.flags & LO_FLAGS_DIRECT_IO == 0 {
        direct_io = false;
    }
    let wanted = settings.flags(false);
    if status.offset != settings.offset
        || status.sizelimit != settings.size_limit
        || status.flags & wanted != wanted
    {
        let _ = clr_fd(device);
        return Err(Error {
            op: "LOOP_GET_STATUS64 (settings not applied)",
            source: io::Error::from_raw_os_error(libc::EINVAL),
        });
    }
    let direct_io = match (settings.direct_io, direct_io) {
        (false, _) => DirectIo::NotRequested,
        (true, true) => DirectIo::On,
        (true, false) => DirectIo::Refused,
    };
    Ok(Attached {
        method,
        direct_io,
        status,
    })
}

/// The pre-5.8 sequence. Returns whether direct I/O is on.
fn legacy(
    device: BorrowedFd<'_>,
    backing: BorrowedFd<'_>,
    settings: &Settings,
) -> Result<bool, Error> {
    set_fd(device, backing)?;
    let rest = || -> Result<bool, Error> {
        set_status64(device, &settings.info(false))?;
        if settings.block_size != 0 {
            set_block_size(device, settings.block_size)?;
        }
        Ok(settings.direct_io && set_direct_io(device, true).is_ok())
    };
    rest().inspect_err(|_| {
        let _ = clr_fd(device);
    })
}

#[cfg(test)]
mod tests;
