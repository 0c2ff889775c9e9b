//! A verified bundle's payload mounted read-only, so that its images are read by the
//! kernel's squashfs: through dm-verity with the manifest's root hash and salt where the
//! kernel has device-mapper (a device: every block read is checked against the signed
//! root hash, as RAUC does), else from the loop device alone (a development host without
//! device-mapper, where `verify` has just checked every block in user space and the
//! bundle lies in a spool only the init writes). The init itself reads no squashfs.
//!
//! The hash tree of a RAUC bundle follows the payload with no superblock: the table is
//! `verity 1 <loop> <loop> 4096 4096 <blocks> <blocks> sha256 <root> <salt>`, the tree
//! starting at the block after the payload's last.

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use northstar_bundle::Verified;
use runtime_core::mount::{
    loop_device::{self, LoopDevice},
    verity::{self, Control, VerityDevice},
    Devices,
};
use std::{fs, path::PathBuf, sync::OnceLock};

/// Where the payload is mounted while its images are written.
pub const MOUNT_POINT: &str = "/run/northstar/bundle";
/// The device-mapper name of the payload's verity device.
const DM_NAME: &str = "northstar-bundle";
/// Bytes of a verity block.
const BLOCK: u64 = 4096;

/// The payload could not be mounted.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the payload's size {0} is not a multiple of 4096 bytes")]
    Size(u64),
    #[error("the manifest has no verity root hash")]
    NoVerity(#[source] northstar_bundle::manifest::Error),
    #[error("cannot attach the payload to a loop device")]
    Loop(#[source] loop_device::Error),
    #[error("cannot create the payload's dm-verity device")]
    Verity(#[source] verity::Error),
    #[error("cannot create {MOUNT_POINT}")]
    MountPoint(#[source] std::io::Error),
    #[error("cannot mount {} (squashfs) at {MOUNT_POINT}", device.display())]
    Mount {
        device: PathBuf,
        #[source]
        source: nix::Error,
    },
}

/// The mounted payload; unmounted, its verity device removed and its loop device freed
/// when dropped.
pub struct Payload {
    dir: PathBuf,
    /// Declared before the devices: dropped (unmounted) first.
    mounted: bool,
    _verity: Option<VerityDevice<'static>>,
    _loop: LoopDevice,
}

impl Payload {
    /// The file `name` at the payload's top.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Payload {
    fn drop(&mut self) {
        if self.mounted {
            if let Err(e) = umount2(&self.dir, MntFlags::empty()) {
                log::warn!("cannot unmount {}: {e}", self.dir.display());
            }
        }
    }
}

/// Mount `bundle`'s payload at [`MOUNT_POINT`].
pub fn mount_payload(bundle: &Verified) -> Result<Payload, Error> {
    let devices = Devices::default();
    let range = bundle.payload();
    let len = range.end.saturating_sub(range.start);
    if !len.is_multiple_of(BLOCK) {
        return Err(Error::Size(len));
    }
    let verity = bundle
        .manifest()
        .require_verity()
        .map_err(Error::NoVerity)?;
    let blocks = len / BLOCK;
    // The loop device spans the payload and the hash tree after it.
    let span = len.saturating_add(verity.size);
    let looped = LoopDevice::attach(&devices, bundle.file(), range.start, span, false)
        .map_err(Error::Loop)?;
    let (device, verity_device) = match verity_device(&devices, &looped, blocks, &verity) {
        Some(made) => {
            let made = made.map_err(Error::Verity)?;
            (made.node().to_owned(), Some(made))
        }
        None => {
            log::info!("bundle: no device-mapper, the payload is read from the loop device");
            (looped.path().to_owned(), None)
        }
    };
    let dir = PathBuf::from(MOUNT_POINT);
    fs::create_dir_all(&dir).map_err(Error::MountPoint)?;
    mount(
        Some(&device),
        &dir,
        Some("squashfs"),
        MsFlags::MS_RDONLY | MsFlags::MS_NODEV | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|source| Error::Mount { device, source })?;
    Ok(Payload {
        dir,
        mounted: true,
        _verity: verity_device,
        _loop: looped,
    })
}

/// The device-mapper control, opened once for the life of the process (a payload's
/// verity device borrows it while it is mounted).
static CONTROL: OnceLock<Control> = OnceLock::new();

/// Whether the kernel has device-mapper (`/proc/misc` names it).
fn has_device_mapper() -> bool {
    fs::read_to_string("/proc/misc")
        .map(|misc| {
            misc.lines()
                .any(|l| l.trim_end().ends_with(" device-mapper"))
        })
        .unwrap_or(false)
}

/// The payload's verity device, or `None` where the kernel has no device-mapper. Where it
/// has one, any failure is an error: a device never reads an unchecked payload.
fn verity_device(
    devices: &Devices,
    looped: &LoopDevice,
    blocks: u64,
    v: &northstar_bundle::manifest::Verity,
) -> Option<Result<VerityDevice<'static>, verity::Error>> {
    if !has_device_mapper() {
        return None;
    }
    let control = match CONTROL.get() {
        Some(control) => control,
        None => match Control::open(devices) {
            Ok(control) => CONTROL.get_or_init(|| control),
            Err(e) => return Some(Err(e)),
        },
    };
    let device = looped.path().display().to_string();
    let table = format!(
        "0 {} verity 1 {device} {device} {BLOCK} {BLOCK} {blocks} {blocks} sha256 {} {}",
        blocks.saturating_mul(BLOCK / 512),
        hex::encode(v.hash),
        hex::encode(v.salt),
    );
    // A device left by an installation cut short would make the name busy.
    let _ = verity::remove(control, DM_NAME);
    Some(VerityDevice::from_table(control, devices, DM_NAME, &table))
}
