//! The end of an orderly shutdown, after the runtime has stopped its containers,
//! unmounted its packages, removed their dm-verity devices and detached their loop
//! devices: the processes left (orphans) get SIGTERM, then SIGKILL, and are reaped; the
//! data partition is unmounted; everything is synced; the watchdog is disarmed; then
//! `reboot(2)`. Each step logs its errors and goes on: nothing stops the machine from
//! reaching the end.
//!
//! In a PID namespace `reboot(2)` ends the namespace: the kernel kills its init, whose
//! parent sees it killed by SIGINT (power-off) or SIGHUP (reboot).

use super::{reaper, Init};
use nix::{
    errno::Errno,
    mount::{umount2, MntFlags, MsFlags},
    poll::{poll, PollFd, PollFlags, PollTimeout},
    sys::{
        reboot::{reboot, RebootMode},
        signal::{kill, Signal},
        signalfd::SignalFd,
    },
    unistd::Pid,
};
use std::{
    os::fd::AsFd,
    path::Path,
    time::{Duration, Instant},
};

/// Grace between SIGTERM to the processes left and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// How the machine ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Power {
    PowerOff,
    Reboot,
}

impl std::fmt::Display for Power {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Power::PowerOff => "power-off",
            Power::Reboot => "reboot",
        })
    }
}

/// Everything after the runtime's shutdown. Never returns.
pub fn finish(init: &mut Init, power: Power) -> ! {
    log::info!("{power}: ending the remaining processes");
    kill_all(init, Signal::SIGTERM);
    if !wait_for_children(init, KILL_GRACE) {
        kill_all(init, Signal::SIGKILL);
        wait_for_children(init, KILL_GRACE);
    }
    if let Some(data) = init.data.take() {
        unmount(&data);
    }
    nix::unistd::sync();
    log::info!("{power}: file systems synced");
    if let Some(watchdog) = init.watchdog.take() {
        watchdog.disarm();
    }
    log::info!("{power}");
    let mode = match power {
        Power::PowerOff => RebootMode::RB_POWER_OFF,
        Power::Reboot => RebootMode::RB_AUTOBOOT,
    };
    let Err(e) = reboot(mode);
    log::error!("reboot(2) failed: {e}; the init keeps reaping");
    eprintln!("northstar: {power} failed ({e}); the system is held");
    last_resort(Some(&init.signals))
}

/// Signal every process except the init (`kill(-1)`).
fn kill_all(init: &Init, signal: Signal) {
    match kill(Pid::from_raw(-1), signal) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(e) => log::warn!("kill(-1, {signal}): {e}"),
    }
    if let Some(watchdog) = &init.watchdog {
        watchdog.feed();
    }
}

/// Reap until no child of the init is left or `grace` has passed. Returns whether none
/// is left. Signals that arrive meanwhile only wake the wait.
fn wait_for_children(init: &Init, grace: Duration) -> bool {
    let deadline = super::deadline(grace);
    loop {
        if reaper::reap().none_left {
            return true;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        let timeout = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(init.signals.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, timeout);
        let _ = reaper::pending(&init.signals);
        if let Some(watchdog) = &init.watchdog {
            watchdog.feed();
        }
    }
}

/// Unmount the data partition; if it is busy, make it read-only (its data reaches the
/// disk) and detach it.
fn unmount(path: &Path) {
    match umount2(path, MntFlags::empty()) {
        Ok(()) => log::info!("{} unmounted", path.display()),
        Err(Errno::EBUSY) => {
            log::warn!("{} is busy: remounting read-only", path.display());
            let flags = MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
            if let Err(e) = nix::mount::mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
            {
                log::error!("cannot remount {} read-only: {e}", path.display());
            }
            if let Err(e) = umount2(path, MntFlags::MNT_DETACH) {
                log::error!("cannot detach {}: {e}", path.display());
            }
        }
        Err(e) => log::error!("cannot unmount {}: {e}", path.display()),
    }
}

/// Reap forever: what is left when even the reaction failed. Never returns.
pub fn last_resort(signals: Option<&SignalFd>) -> ! {
    loop {
        match signals {
            Some(fd) => {
                let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                let _ = poll(&mut fds, PollTimeout::NONE);
                let _ = reaper::pending(fd);
                reaper::reap();
            }
            None => {
                if reaper::reap().none_left {
                    std::thread::sleep(Duration::from_secs(1));
                } else {
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
}
