//! Loop devices over a region of an open package file: read-only, autoclear, 4096-byte
//! logical blocks, direct I/O when configured and possible.
//!
//! Owns: finding a free device (and trying again, a bounded number of times, when another
//! process binds it first), its device node, and never leaving a device bound on an error
//! path: a [`LoopDevice`] dropped before [`LoopDevice::release`] unbinds its device. Does
//! not own the ioctls themselves (`northstar_sys::loopdev`) or what is mounted on it.

use super::{
    node::{self, NodeError},
    Devices,
};
use northstar_sys::loopdev::{self, DirectIo, Settings};
use std::{
    fs::{File, OpenOptions},
    io,
    os::fd::AsFd,
    path::{Path, PathBuf},
};

/// Logical block size of every package loop device: the squashfs and verity block size.
pub const BLOCK_SIZE: u32 = 4096;

/// How often to ask for another free device when others keep taking them first.
const MAX_ATTEMPTS: u32 = 64;

/// The block major of loop devices (`LOOP_MAJOR`); minor N is `/dev/loopN` unless the
/// loop driver was loaded with partitions (`max_part`), in which case sysfs tells.
const LOOP_MAJOR: u32 = 7;

/// Why no loop device could be attached.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: no free loop device: {source}", control.display())]
    GetFree {
        control: PathBuf,
        #[source]
        source: loopdev::Error,
    },
    #[error("loop device node: {0}")]
    Node(#[from] NodeError),
    #[error("{}: cannot attach {size} bytes at offset {offset}: {source}", device.display())]
    Attach {
        device: PathBuf,
        offset: u64,
        size: u64,
        #[source]
        source: loopdev::Error,
    },
    #[error(
        "gave up after {attempts} attempts: other processes took every free loop device first"
    )]
    Busy { attempts: u32 },
    #[error("{}: cannot detach: {source}", device.display())]
    Detach {
        device: PathBuf,
        #[source]
        source: loopdev::Error,
    },
}

/// A bound loop device. Dropping it unbinds the device; [`LoopDevice::release`] hands it
/// over to its users (a mount, a dm-verity table) and lets autoclear unbind it when the
/// last one goes.
#[derive(Debug)]
pub struct LoopDevice {
    path: PathBuf,
    number: u32,
    direct_io: DirectIo,
    method: loopdev::Method,
    /// The open device; `None` once released.
    device: Option<File>,
}

impl LoopDevice {
    /// Attach `size` bytes of `file` at `offset` to a free loop device, read-only.
    pub fn attach(
        devices: &Devices,
        file: &File,
        offset: u64,
        size: u64,
        direct_io: bool,
    ) -> Result<LoopDevice, Error> {
        let control = &devices.loop_control;
        let control_file = open(control, true)?;
        let settings = Settings {
            offset,
            size_limit: size,
            block_size: BLOCK_SIZE,
            read_only: true,
            autoclear: true,
            direct_io,
        };
        for _ in 0..MAX_ATTEMPTS {
            let number =
                loopdev::ctl_get_free(control_file.as_fd()).map_err(|source| Error::GetFree {
                    control: control.clone(),
                    source,
                })?;
            let path = device_path(devices, number);
            let (major, minor) =
                node::sysfs_numbers(&format!("loop{number}")).unwrap_or((LOOP_MAJOR, number));
            node::ensure_block_device(&path, major, minor)?;
            let device = open(&path, false)?;
            match loopdev::attach(device.as_fd(), file.as_fd(), &settings) {
                Ok(attached) => {
                    if attached.direct_io == DirectIo::Refused {
                        log::info!(
                            "{}: direct I/O refused by the kernel, using buffered I/O",
                            path.display()
                        );
                    }
                    return Ok(LoopDevice {
                        path,
                        number,
                        direct_io: attached.direct_io,
                        method: attached.method,
                        device: Some(device),
                    });
                }
                // Another process bound it between GET_FREE and our attach: ask again.
                Err(e) if e.errno() == Some(libc::EBUSY) => {
                    log::debug!("{}: taken by another process, retrying", path.display());
                }
                Err(source) => {
                    return Err(Error::Attach {
                        device: path,
                        offset,
                        size,
                        source,
                    })
                }
            }
        }
        Err(Error::Busy {
            attempts: MAX_ATTEMPTS,
        })
    }

    /// The device node, e.g. `/dev/loop3`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// N of `/dev/loopN`.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// Direct I/O as the kernel granted it.
    pub fn direct_io(&self) -> DirectIo {
        self.direct_io
    }

    /// Whether `LOOP_CONFIGURE` or the older ioctl sequence bound the device.
    pub fn method(&self) -> loopdev::Method {
        self.method
    }

    /// The device's status (offset, size limit, flags, backing inode).
    pub fn status(&self) -> Result<loopdev::LoopInfo64, loopdev::Error> {
        match &self.device {
            Some(device) => loopdev::get_status64(device.as_fd()),
            None => Err(loopdev::Error {
                op: "LOOP_GET_STATUS64",
                source: io::Error::from_raw_os_error(libc::EBADF),
            }),
        }
    }

    /// Close our handle without unbinding: the device now lives as long as its users and
    /// unbinds itself (autoclear) when the last one closes it.
    pub fn release(mut self) {
        self.device = None;
    }

    /// Unbind now (at the last close, if others still hold the device open).
    pub fn detach(mut self) -> Result<(), Error> {
        match self.device.take() {
            Some(device) => loopdev::clr_fd(device.as_fd()).map_err(|source| Error::Detach {
                device: self.path.clone(),
                source,
            }),
            None => Ok(()),
        }
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        if let Some(device) = self.device.take() {
            if let Err(e) = loopdev::clr_fd(device.as_fd()) {
                log::warn!("{}: cannot detach: {e}", self.path.display());
            }
        }
    }
}

/// `<loop_dev><N>`, e.g. `/dev/loop3`.
pub fn device_path(devices: &Devices, number: u32) -> PathBuf {
    let mut path = devices.loop_dev.clone().into_os_string();
    path.push(number.to_string());
    PathBuf::from(path)
}

fn open(path: &Path, write: bool) -> Result<File, Error> {
    OpenOptions::new()
        .read(true)
        .write(write)
        .open(path)
        .map_err(|source| Error::Open {
            path: path.to_owned(),
            source,
        })
}

/// Whether the loop device at `path` is still bound to the file `(dev, ino)` at `offset`.
/// A missing node or an unbound device answer `false`.
pub fn bound_to(path: &Path, dev: u64, ino: u64, offset: u64) -> io::Result<bool> {
    let device = match File::open(path) {
        Ok(device) => device,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    match loopdev::get_status64(device.as_fd()) {
        Ok(info) => Ok(info.device == dev && info.inode == ino && info.offset == offset),
        Err(e) if e.errno() == Some(libc::ENXIO) => Ok(false),
        Err(e) => Err(e.source),
    }
}
