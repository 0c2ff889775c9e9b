//! Signals and reaping.
//!
//! PID 1 handles its signals synchronously: SIGCHLD, SIGTERM, SIGINT, SIGUSR1, SIGUSR2
//! and SIGPWR are blocked first thing, before any thread exists (threads inherit the
//! mask, so no thread ever takes one of them), and read from a signalfd in the main loop.
//! Blocked signals also reach an init from outside its PID namespace, which drops
//! signals it has no handler for.
//!
//! Reaping is `waitpid(-1, WNOHANG | __WNOTHREAD)` in a loop, on the main thread only:
//!
//! - the runtime's event loop runs on its own thread and clones the containers' init
//!   processes from there; they are that thread's children, and the runtime waits for
//!   them itself (through their pidfds) to learn their exit status. `__WNOTHREAD` keeps
//!   the main thread's `waitpid(-1)` from taking those children away from it;
//! - orphans are reparented to the init's main thread (the kernel's child reaper of the
//!   PID namespace), so the main thread's loop reaps every one of them; when the runtime
//!   thread ends, its remaining children are reparented to the main thread as well.

use nix::{
    errno::Errno,
    sys::{
        signal::{SigSet, SigmaskHow, Signal},
        signalfd::{SfdFlags, SignalFd},
        wait::{waitpid, WaitPidFlag, WaitStatus},
    },
    unistd::Pid,
};

/// The signals PID 1 handles.
pub const SIGNALS: [Signal; 6] = [
    Signal::SIGCHLD,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGPWR,
];

/// What a signal asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// A child ended (or several did).
    Reap,
    /// SIGTERM, SIGUSR2, SIGPWR.
    PowerOff,
    /// SIGINT (Ctrl-Alt-Del), SIGUSR1.
    Reboot,
}

/// The meaning of one of [`SIGNALS`]; `None` for any other.
pub fn meaning(signal: Signal) -> Option<Request> {
    match signal {
        Signal::SIGCHLD => Some(Request::Reap),
        Signal::SIGTERM | Signal::SIGUSR2 | Signal::SIGPWR => Some(Request::PowerOff),
        Signal::SIGINT | Signal::SIGUSR1 => Some(Request::Reboot),
        _ => None,
    }
}

/// The set of [`SIGNALS`].
pub fn set() -> SigSet {
    let mut set = SigSet::empty();
    for signal in SIGNALS {
        set.add(signal);
    }
    set
}

/// Block [`SIGNALS`] in the calling thread (call before any thread is spawned) and open a
/// non-blocking signalfd for them.
pub fn block() -> Result<SignalFd, Errno> {
    let set = set();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
}

/// Every pending signal of `fd`, in order. Signals outside [`SIGNALS`] cannot arrive.
pub fn pending(fd: &SignalFd) -> Vec<Signal> {
    let mut signals = Vec::new();
    while let Ok(Some(info)) = fd.read_signal() {
        if let Ok(signal) = Signal::try_from(info.ssi_signo as i32) {
            signals.push(signal);
        }
    }
    signals
}

/// What one round of reaping found.
#[derive(Debug, Default)]
pub struct Reaped {
    /// The children reaped, in order.
    pub children: Vec<(Pid, WaitStatus)>,
    /// The calling thread has no child left at all (`ECHILD`).
    pub none_left: bool,
}

/// Reap every child of the calling thread that has ended (and every orphan, on the main
/// thread of an init), without waiting.
pub fn reap() -> Reaped {
    let mut reaped = Reaped::default();
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WNOTHREAD)) {
            Ok(WaitStatus::StillAlive) => break,
            Err(Errno::ECHILD) => {
                reaped.none_left = true;
                break;
            }
            Ok(status) => match status.pid() {
                Some(pid) => {
                    log::debug!("reaped {pid}: {status:?}");
                    reaped.children.push((pid, status));
                }
                None => break,
            },
            Err(Errno::EINTR) => continue,
            Err(e) => {
                log::warn!("waitpid: {e}");
                break;
            }
        }
    }
    reaped
}

#[cfg(test)]
#[path = "reaper_tests.rs"]
mod tests;
