//! The hardware watchdog: opened (which starts it) once the board's modules are loaded,
//! its timeout set with `WDIOC_SETTIMEOUT`, fed by the main loop every quarter of the
//! timeout the driver actually set (a timerfd), disarmed with the magic close (`V`, then
//! close) only at the very end of an orderly shutdown. If the init hangs, or dies (the
//! kernel then panics), the watchdog resets the board.

use nix::sys::{
    time::TimeSpec,
    timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags},
};
use std::{
    fs::{File, OpenOptions},
    io::Write,
    os::fd::AsFd,
    path::PathBuf,
    time::Duration,
};

/// How long to wait for the watchdog's node after its driver loaded.
pub const WAIT: Duration = Duration::from_secs(5);

/// Why the watchdog could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("watchdog device: {0}")]
    Device(#[from] super::device::Error),
    #[error("cannot open {}: {source}", device.display())]
    Open {
        device: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {source}", device.display())]
    Timeout {
        device: PathBuf,
        #[source]
        source: northstar_sys::watchdog::Error,
    },
    #[error("{}: the driver set a timeout of 0 s", device.display())]
    Zero { device: PathBuf },
    #[error("feeding timer: {0}")]
    Timer(#[source] nix::errno::Errno),
}

/// An open, running watchdog and the timer that says when to feed it.
#[derive(Debug)]
pub struct Watchdog {
    device: PathBuf,
    file: File,
    timeout: Duration,
    timer: TimerFd,
}

impl Watchdog {
    /// Wait for `config.device` (up to [`WAIT`]), open it, set the timeout and start the
    /// feeding timer.
    pub fn open(config: &crate::pid1::board::Watchdog) -> Result<Watchdog, Error> {
        let device = config.device.clone();
        super::device::wait_for_node(&device, super::device::Kind::Character, WAIT)?;
        let file = OpenOptions::new()
            .write(true)
            .open(&device)
            .map_err(|source| Error::Open {
                device: device.clone(),
                source,
            })?;
        let seconds = u32::try_from(config.timeout.as_secs()).unwrap_or(u32::MAX);
        let set =
            northstar_sys::watchdog::set_timeout(file.as_fd(), seconds).map_err(|source| {
                Error::Timeout {
                    device: device.clone(),
                    source,
                }
            })?;
        if set == 0 {
            return Err(Error::Zero { device });
        }
        if set != seconds {
            log::info!(
                "watchdog {}: the driver set {set} s instead of {seconds} s",
                device.display()
            );
        }
        let timeout = Duration::from_secs(u64::from(set));
        let timer = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
        )
        .map_err(Error::Timer)?;
        // Fed at a quarter of the timeout.
        let interval =
            TimeSpec::from_duration(Duration::from_millis(u64::from(set).saturating_mul(250)));
        timer
            .set(Expiration::Interval(interval), TimerSetTimeFlags::empty())
            .map_err(Error::Timer)?;
        let watchdog = Watchdog {
            device,
            file,
            timeout,
            timer,
        };
        watchdog.feed();
        Ok(watchdog)
    }

    /// The timeout the driver set.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The device.
    pub fn device(&self) -> &std::path::Path {
        &self.device
    }

    /// The timer: readable when the watchdog is due.
    pub fn timer(&self) -> &TimerFd {
        &self.timer
    }

    /// Consume the timer's expirations and feed.
    pub fn tick(&self) {
        // Non-blocking: an error means no expiration is pending.
        let _ = self.timer.wait();
        self.feed();
    }

    /// Feed (any write restarts the countdown).
    pub fn feed(&self) {
        if let Err(e) = (&self.file).write_all(b"\0") {
            log::warn!("watchdog {}: feed: {e}", self.device.display());
        }
    }

    /// The magic close: the driver stops the watchdog when `V` is written before the last
    /// close (drivers built with `nowayout` keep it running; the reboot comes first).
    pub fn disarm(self) {
        if let Err(e) = (&self.file).write_all(b"V") {
            log::warn!("watchdog {}: magic close: {e}", self.device.display());
        }
    }
}
