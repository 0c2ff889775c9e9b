//! The first step: the kernel's file systems (`/proc`, `/sys`, `/dev`, `/dev/pts`), the
//! tmpfs at `/run` and `/tmp`, stdin/stdout/stderr on the console, and the settings only
//! the machine's init makes.
//!
//! Everything is mounted unconditionally, each mount point created when missing: in the
//! initramfs nothing is mounted yet, and the init running as PID 1 of a PID namespace
//! (with a private mount namespace) needs its own `/proc`. `EBUSY` means the very same
//! file system is mounted there already (possible for sysfs and devtmpfs in a namespace).

use nix::{
    errno::Errno,
    fcntl::{fcntl, FcntlArg, OFlag},
    mount::{mount, MsFlags},
    sys::stat::Mode,
    unistd,
};
use std::{
    fs,
    os::fd::{AsFd, IntoRawFd},
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

/// The inode number of the initial PID namespace (`PROC_PID_INIT_INO`), a constant of the
/// kernel's ABI.
const INIT_PID_NS_INO: u64 = 0xEFFF_FFFC;

/// One early mount: (source, target, type, flags, data).
type Mount = (
    &'static str,
    &'static str,
    &'static str,
    MsFlags,
    Option<&'static str>,
);

/// The early mounts, in order. `/dev/pts` needs `/dev`.
const MOUNTS: &[Mount] = &[
    (
        "proc",
        "/proc",
        "proc",
        MsFlags::MS_NOSUID
            .union(MsFlags::MS_NODEV)
            .union(MsFlags::MS_NOEXEC),
        None,
    ),
    (
        "sysfs",
        "/sys",
        "sysfs",
        MsFlags::MS_NOSUID
            .union(MsFlags::MS_NODEV)
            .union(MsFlags::MS_NOEXEC),
        None,
    ),
    (
        "devtmpfs",
        "/dev",
        "devtmpfs",
        MsFlags::MS_NOSUID.union(MsFlags::MS_NOEXEC),
        Some("mode=0755"),
    ),
    (
        "devpts",
        "/dev/pts",
        "devpts",
        MsFlags::MS_NOSUID.union(MsFlags::MS_NOEXEC),
        Some("mode=0620,ptmxmode=0666"),
    ),
    (
        "tmpfs",
        "/run",
        "tmpfs",
        MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
        Some("mode=0755"),
    ),
    (
        "tmpfs",
        "/tmp",
        "tmpfs",
        MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
        Some("mode=1777"),
    ),
];

/// The mount points the early step creates and the root switch moves into the new root.
pub const MOVED: &[&str] = &["/dev", "/proc", "/sys", "/run", "/tmp"];

/// Why the early step failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create {}: {source}", path.display())]
    MountPoint {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot mount {fstype} at {target}: {source}")]
    Mount {
        fstype: &'static str,
        target: &'static str,
        #[source]
        source: Errno,
    },
}

/// Whose init this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// PID 1 of the machine: the kernel log, Ctrl-Alt-Del and kernel settings are ours.
    Machine,
    /// PID 1 of a PID namespace: machine-wide settings are left alone and the log goes to
    /// stderr; `reboot(2)` ends the namespace instead of the machine.
    Namespace,
}

/// Mount the early file systems.
pub fn mount_all() -> Result<(), Error> {
    for (source, target, fstype, flags, data) in MOUNTS {
        fs::create_dir_all(target).map_err(|source| Error::MountPoint {
            path: PathBuf::from(target),
            source,
        })?;
        match mount(Some(*source), *target, Some(*fstype), *flags, *data) {
            Ok(()) => {}
            // The kernel refuses a file system's own superblock on the mount point it is
            // already mounted on (sysfs of the same network namespace, the one devtmpfs):
            // it is there already.
            Err(Errno::EBUSY) => log::debug!("{fstype} is already mounted at {target}"),
            Err(source) => {
                return Err(Error::Mount {
                    fstype,
                    target,
                    source,
                })
            }
        }
    }
    Ok(())
}

/// Make sure stdin, stdout and stderr are open: the kernel opens `/dev/console` for the
/// init when the initramfs has that node; without it they are closed, and `console`
/// (`/dev/console` of the devtmpfs) is opened for them now. Returns whether it was needed.
pub fn stdio(console: &Path) -> Result<bool, Errno> {
    let missing: Vec<i32> = [
        std::io::stdin().as_fd(),
        std::io::stdout().as_fd(),
        std::io::stderr().as_fd(),
    ]
    .into_iter()
    .enumerate()
    .filter(|(_, fd)| fcntl(fd, FcntlArg::F_GETFD) == Err(Errno::EBADF))
    .map(|(i, _)| i as i32)
    .collect();
    if missing.is_empty() {
        return Ok(false);
    }
    let fd = nix::fcntl::open(console, OFlag::O_RDWR | OFlag::O_NOCTTY, Mode::empty())?;
    for i in &missing {
        match i {
            0 => unistd::dup2_stdin(&fd)?,
            1 => unistd::dup2_stdout(&fd)?,
            _ => unistd::dup2_stderr(&fd)?,
        }
    }
    // The console landed on one of the missing descriptors: keep it open as that one.
    if missing.contains(&std::os::fd::AsRawFd::as_raw_fd(&fd)) {
        let _ = fd.into_raw_fd();
    }
    Ok(true)
}

/// Whether this is the machine's init or a namespace's (`/proc` must be mounted).
pub fn scope(proc: &Path) -> Scope {
    match fs::metadata(proc.join("self/ns/pid")) {
        Ok(meta) if meta.ino() != INIT_PID_NS_INO => Scope::Namespace,
        // Without the namespace file, assume the machine.
        _ => Scope::Machine,
    }
}

/// The machine's init only: Ctrl-Alt-Del sends SIGINT to the init (instead of an
/// immediate reboot by the kernel), and writes to `/dev/kmsg` are not rate-limited
/// (unless the command line fixed `printk.devkmsg`).
pub fn machine_settings() {
    if let Err(e) = nix::sys::reboot::set_cad_enabled(false) {
        log::warn!("cannot hand Ctrl-Alt-Del to the init: {e}");
    }
    let knob = Path::new("/proc/sys/kernel/printk_devkmsg");
    if fs::read_to_string(knob).is_ok_and(|v| v.trim() == "ratelimit") {
        if let Err(e) = fs::write(knob, "on\n") {
            log::debug!("cannot lift the kernel log's rate limit: {e}");
        }
    }
}
