//! Mounting packages: the `fs.img` region of an open package file → loop device →
//! (dm-verity, for verified packages) → squashfs, mounted read-only, nosuid, nodev.
//!
//! Only an `Npk<Verified>` can be mounted through dm-verity ([`mount_verified`]);
//! [`mount_development`] mounts an `Npk<Unverified>` without any integrity check and is
//! for repositories explicitly configured as unverified. Every step has its error
//! variant naming the package; on every error path the devices created so far are
//! removed again. [`Mounted::umount`] undoes a mount and checks that the loop device is
//! really gone. [`Mounted::verity_status`] tells whether dm-verity has found corrupted
//! data in a mounted package since it was mounted.
//!
//! Owns: the order of the steps and their cleanup. Does not own: where packages are
//! mounted (the registry chooses `target`), the package format (`npk`), the ioctls
//! (`northstar_sys`), mount namespaces of containers.

pub mod loop_device;
pub mod node;
pub mod verity;

use loop_device::LoopDevice;
use nix::{
    errno::Errno,
    mount::{MntFlags, MsFlags},
};
use npk::package::{Npk, Unverified, Verified};
use std::{
    fs, io,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};
use verity::{Control, VerityDevice};

pub use crate::config::Devices;

/// Why a package could not be mounted or unmounted. Every message starts with the package.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: cannot create mount point {}: {source}", package.display(), target.display())]
    Target {
        package: PathBuf,
        target: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: cannot inspect the package file: {source}", package.display())]
    Open {
        package: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: {source}", package.display())]
    Attach {
        package: PathBuf,
        #[source]
        source: loop_device::Error,
    },
    #[error("{}: {source}", package.display())]
    Verity {
        package: PathBuf,
        #[source]
        source: verity::Error,
    },
    #[error("{}: cannot mount {} (squashfs) at {}: {source}", package.display(), device.display(), target.display())]
    Mount {
        package: PathBuf,
        device: PathBuf,
        target: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("{}: cannot unmount {}: {source}", package.display(), target.display())]
    Umount {
        package: PathBuf,
        target: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("{}: {} is still bound after unmounting {} ({reason})", package.display(), device.display(), target.display())]
    Lingering {
        package: PathBuf,
        device: PathBuf,
        target: PathBuf,
        reason: &'static str,
    },
    #[error("{}: fs.img region {start}..{end} ends before it starts", package.display())]
    Region {
        package: PathBuf,
        start: u64,
        end: u64,
    },
}

/// A mounted package. Not unmounted on drop: a mount outlives this handle until
/// [`Mounted::umount`].
#[derive(Debug)]
pub struct Mounted {
    package: PathBuf,
    target: PathBuf,
    loop_device: PathBuf,
    dm_name: Option<String>,
    /// Identity of the backing region: (st_dev, st_ino, offset).
    backing: (u64, u64, u64),
    devices: Devices,
}

/// Mount a verified package through dm-verity at `target` (created if missing).
pub fn mount_verified(
    npk: &Npk<Verified>,
    target: &Path,
    devices: &Devices,
) -> Result<Mounted, Error> {
    let package = npk.path();
    let verity_err = |source| Error::Verity {
        package: package.to_owned(),
        source,
    };
    // Before anything is attached: without device-mapper there is nothing to clean up.
    let control = Control::open(devices).map_err(verity_err)?;
    let (backing, loop_dev) = attach(npk, devices)?;
    let dm = VerityDevice::create(&control, devices, npk, loop_dev.path()).map_err(verity_err)?;
    // Ordering: the squashfs is mounted from the dm device, which holds the loop device;
    // on failure the dm guard (declared later) is dropped first, then the loop guard.
    mount_squashfs(package, dm.node(), target)?;
    let loop_path = loop_dev.path().to_owned();
    let dm_name = dm.keep();
    loop_dev.release();
    Ok(Mounted {
        package: package.to_owned(),
        target: target.to_owned(),
        loop_device: loop_path,
        dm_name: Some(dm_name),
        backing,
        devices: devices.clone(),
    })
}

/// Mount an unverified package straight from its loop device at `target` (created if
/// missing). No integrity check at all: for repositories configured as unverified only.
pub fn mount_development(
    npk: &Npk<Unverified>,
    target: &Path,
    devices: &Devices,
) -> Result<Mounted, Error> {
    let package = npk.path();
    let (backing, loop_dev) = attach(npk, devices)?;
    mount_squashfs(package, loop_dev.path(), target)?;
    let loop_path = loop_dev.path().to_owned();
    loop_dev.release();
    Ok(Mounted {
        package: package.to_owned(),
        target: target.to_owned(),
        loop_device: loop_path,
        dm_name: None,
        backing,
        devices: devices.clone(),
    })
}

/// Attach the whole `fs.img` region read-only.
fn attach<S>(npk: &Npk<S>, devices: &Devices) -> Result<((u64, u64, u64), LoopDevice), Error> {
    let package = npk.path();
    let meta = npk.file().metadata().map_err(|source| Error::Open {
        package: package.to_owned(),
        source,
    })?;
    let region = npk.fs_img();
    let size = region
        .end
        .checked_sub(region.start)
        .ok_or_else(|| Error::Region {
            package: package.to_owned(),
            start: region.start,
            end: region.end,
        })?;
    let loop_dev = LoopDevice::attach(
        devices,
        npk.file(),
        region.start,
        size,
        devices.loop_direct_io,
    )
    .map_err(|source| Error::Attach {
        package: package.to_owned(),
        source,
    })?;
    Ok(((meta.dev(), meta.ino(), region.start), loop_dev))
}

fn mount_squashfs(package: &Path, device: &Path, target: &Path) -> Result<(), Error> {
    fs::create_dir_all(target).map_err(|source| Error::Target {
        package: package.to_owned(),
        target: target.to_owned(),
        source,
    })?;
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    nix::mount::mount(Some(device), target, Some("squashfs"), flags, None::<&str>).map_err(
        |source| Error::Mount {
            package: package.to_owned(),
            device: device.to_owned(),
            target: target.to_owned(),
            source,
        },
    )
}

/// How long [`Mounted::umount`] waits for an exited container's mount namespace to
/// let go of a file system before it reports it as lingering.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(500);

/// Ask `bound` until it answers `false`, an error, or [`SETTLE`] has passed; the pauses
/// grow from 1 ms so the common case (already released) costs one check.
fn settled(mut bound: impl FnMut() -> io::Result<bool>) -> io::Result<bool> {
    let start = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        match bound() {
            Ok(true) if start.elapsed() < SETTLE => {
                std::thread::sleep(pause);
                pause = pause
                    .saturating_mul(2)
                    .min(std::time::Duration::from_millis(50));
            }
            answer => return answer,
        }
    }
}

impl Mounted {
    /// The package file.
    pub fn package(&self) -> &Path {
        &self.package
    }

    /// Where the package is mounted.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The loop device holding `fs.img`.
    pub fn loop_device(&self) -> &Path {
        &self.loop_device
    }

    /// The dm-verity device's name (verified packages only).
    pub fn dm_name(&self) -> Option<&str> {
        self.dm_name.as_deref()
    }

    /// Whether dm-verity has found a corrupted block of this package since it was mounted
    /// (a block changed after the package was installed: its read failed with `EIO`).
    /// `None` for a development mount, which has no integrity check.
    pub fn verity_status(&self) -> Result<Option<verity::Status>, Error> {
        let Some(name) = &self.dm_name else {
            return Ok(None);
        };
        let verity_err = |source| Error::Verity {
            package: self.package.clone(),
            source,
        };
        let control = Control::open(&self.devices).map_err(verity_err)?;
        verity::status(&control, name).map(Some).map_err(verity_err)
    }

    /// Unmount, remove the dm-verity device and check that the loop device unbound itself.
    ///
    /// A mount still in use (`EBUSY`) is detached lazily and its devices are released when
    /// the last user goes; that case, and any other in which the loop device is still
    /// bound afterwards, is [`Error::Lingering`] (the mount is gone from this namespace).
    pub fn umount(self) -> Result<(), Error> {
        let mut busy = false;
        if let Err(e) = nix::mount::umount2(&self.target, MntFlags::empty()) {
            if e != Errno::EBUSY {
                return Err(Error::Umount {
                    package: self.package,
                    target: self.target,
                    source: e,
                });
            }
            busy = true;
            nix::mount::umount2(&self.target, MntFlags::MNT_DETACH).map_err(|source| {
                Error::Umount {
                    package: self.package.clone(),
                    target: self.target.clone(),
                    source,
                }
            })?;
        }
        let mut deferred = false;
        if let Some(name) = &self.dm_name {
            let verity_err = |source| Error::Verity {
                package: self.package.clone(),
                source,
            };
            let control = Control::open(&self.devices).map_err(verity_err)?;
            deferred = verity::remove(&control, name).map_err(verity_err)?;
        }
        let (dev, ino, offset) = self.backing;
        let bound = if busy || deferred {
            loop_device::bound_to(&self.loop_device, dev, ino, offset)
        } else {
            // Not busy here: a container that has just exited may still hold the file
            // system through its mount namespace, which the kernel tears down a moment
            // after the exit is reported. Give that release a bounded time.
            settled(|| loop_device::bound_to(&self.loop_device, dev, ino, offset))
        };
        match bound {
            Ok(false) => Ok(()),
            Ok(true) => Err(Error::Lingering {
                reason: if busy {
                    "the mount was busy and is detached lazily"
                } else if deferred {
                    "the dm-verity device is still open; its removal is deferred"
                } else {
                    "the file system is still mounted in another mount namespace"
                },
                package: self.package,
                device: self.loop_device,
                target: self.target,
            }),
            Err(e) => {
                log::warn!(
                    "{}: cannot check {}: {e}",
                    self.package.display(),
                    self.loop_device.display()
                );
                Ok(())
            }
        }
    }
}
