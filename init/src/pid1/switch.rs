//! Verified root and the switch into it: wait for the root device, verify the root
//! descriptor ([`super::root`]), check the device's verity superblock, create the
//! dm-verity device (`runtime-core`'s device-mapper code, node made without udev), mount
//! the squashfs read-only at `/newroot`, move `/dev`, `/proc`, `/sys`, `/run` and `/tmp`
//! into it and make it `/` (`MS_MOVE` of the new root onto `/`, then `chroot(".")`), as
//! `switch_root` does. Afterwards the cgroup2 hierarchy is mounted at `/sys/fs/cgroup`.
//!
//! Why not `pivot_root(2)`: it refuses to move away from the initramfs (rootfs). After
//! this switch the root is the squashfs mount, so the runtime's containers can
//! `pivot_root` into their images. The initramfs stays underneath, unreachable.

use super::{board::Board, device, early, root};
use nix::{
    errno::Errno,
    mount::{mount, MsFlags},
    unistd::{chdir, chroot},
};
use runtime_core::mount::{
    verity::{self, Control, VerityDevice},
    Devices,
};
use std::{
    fs::File,
    path::{Path, PathBuf},
    time::Duration,
};

/// Where the root is mounted before it becomes `/`.
pub const NEWROOT: &str = "/newroot";
/// The device-mapper name of the root.
pub const DM_NAME: &str = "northstar-root";

/// Why the root could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("root device: {0}")]
    Device(#[from] device::Error),
    #[error(transparent)]
    Verify(#[from] root::Error),
    #[error("cannot open the root device {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("dm-verity: {0}")]
    Verity(#[from] verity::Error),
    #[error("cannot create {NEWROOT}: {0}")]
    NewRoot(#[source] std::io::Error),
    #[error("cannot mount {} (squashfs) at {NEWROOT}: {source}", device.display())]
    Mount {
        device: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("cannot move {from} to {to}: {source}")]
    Move {
        from: String,
        to: String,
        #[source]
        source: Errno,
    },
    #[error("{step}: {source}")]
    Switch {
        step: &'static str,
        #[source]
        source: Errno,
    },
    #[error("cannot mount cgroup2 at /sys/fs/cgroup: {0}")]
    Cgroup(#[source] Errno),
}

/// What the root step did.
#[derive(Debug)]
pub struct Switched {
    /// The dm-verity node the root is mounted from.
    pub node: PathBuf,
    /// The root device's node (the board's `root.device`, a partition name resolved).
    pub device: PathBuf,
    /// How long the device took to appear.
    pub waited: Duration,
}

/// Verify the root, mount it and make it `/`.
pub fn switch_root(board: &Board) -> Result<Switched, Error> {
    let found = device::wait_for(&board.root.device, board.root.wait)?;
    let device = &found.node;
    let verified = match (&board.root.hash, &board.root.salt, board.root.data_blocks) {
        (Some(hash), Some(salt), Some(blocks)) => {
            log::info!("root: verity values from the board configuration");
            root::VerifiedRoot::from_board(hash, salt, blocks)?
        }
        _ => root::VerifiedRoot::load(
            &board.root.descriptor,
            &board.root_signature(),
            &board.root.key,
        )?,
    };
    let file = File::open(device).map_err(|source| Error::Open {
        path: device.clone(),
        source,
    })?;
    let checked = verified.check_device(&file, device)?;
    drop(file);
    let devices = Devices::default();
    let control = Control::open(&devices)?;
    let dm = VerityDevice::from_table(&control, &devices, DM_NAME, &checked.table(device))?;
    std::fs::create_dir_all(NEWROOT).map_err(Error::NewRoot)?;
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NODEV;
    mount(
        Some(dm.node()),
        NEWROOT,
        Some("squashfs"),
        flags,
        None::<&str>,
    )
    .map_err(|source| Error::Mount {
        device: dm.node().to_owned(),
        source,
    })?;
    let node = dm.node().to_owned();
    // Mounted: the device stays for the system's lifetime.
    dm.keep();
    move_into_newroot()?;
    mount_cgroup2()?;
    Ok(Switched {
        node,
        device: found.node,
        waited: found.waited,
    })
}

/// Move the early mounts into the new root and make it `/`.
fn move_into_newroot() -> Result<(), Error> {
    for from in early::MOVED {
        let to = format!("{NEWROOT}{from}");
        mount(
            Some(*from),
            to.as_str(),
            None::<&str>,
            MsFlags::MS_MOVE,
            None::<&str>,
        )
        .map_err(|source| Error::Move {
            from: from.to_string(),
            to: to.clone(),
            source,
        })?;
    }
    let step = |step| move |source| Error::Switch { step, source };
    chdir(NEWROOT).map_err(step("chdir /newroot"))?;
    mount(Some("."), "/", None::<&str>, MsFlags::MS_MOVE, None::<&str>)
        .map_err(step("move /newroot to /"))?;
    chroot(".").map_err(step("chroot into the new root"))?;
    chdir("/").map_err(step("chdir /"))?;
    Ok(())
}

fn mount_cgroup2() -> Result<(), Error> {
    let target = Path::new("/sys/fs/cgroup");
    mount(
        Some("cgroup2"),
        target,
        Some("cgroup2"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(Error::Cgroup)
}
