//! Signal steps: `signal:` (die by a signal), `ignore:` and `wait-signal`. Owns the
//! fallback for a process that is the init of its PID namespace: the kernel drops signals
//! such an init sends itself unless it has a handler, so fault signals are then produced
//! by a real fault, which the kernel always delivers.

use crate::{
    json::Value,
    names,
    out::{self, Failure},
    sys,
};
use std::mem::MaybeUninit;

/// Sets the disposition of `signo` to `handler` (`SIG_DFL` or `SIG_IGN`).
fn set_disposition(signo: i32, handler: libc::sighandler_t) -> Result<(), i32> {
    // SAFETY: an all-zero sigaction is a valid value (empty mask, no flags).
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler;
    // SAFETY: `action` is a valid sigaction for the duration of the call; the old action
    // is not requested (null).
    if unsafe { libc::sigaction(signo, &action, std::ptr::null_mut()) } == 0 {
        Ok(())
    } else {
        Err(sys::errno())
    }
}

/// The current handler of `signo`.
fn disposition(signo: i32) -> Option<libc::sighandler_t> {
    let mut old = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a null new action only queries; `old` is valid for writes.
    let ret = unsafe { libc::sigaction(signo, std::ptr::null(), old.as_mut_ptr()) };
    // SAFETY: sigaction filled `old` when it returned 0; zeroed memory is valid too.
    (ret == 0).then(|| unsafe { old.assume_init() }.sa_sigaction)
}

/// Unblocks `signo` in this thread.
fn unblock(signo: i32) {
    let mut set = MaybeUninit::<libc::sigset_t>::zeroed();
    // SAFETY: `set` is valid for writes; sigemptyset initializes it before sigaddset and
    // sigprocmask read it.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), signo);
        libc::sigprocmask(libc::SIG_UNBLOCK, set.as_ptr(), std::ptr::null_mut());
    }
}

/// `signal:<sig>`: restores the default action, sends the signal to this process and,
/// if still alive, causes a real fault for SEGV, BUS, ILL, TRAP and FPE (x86_64).
/// Returns (after a line on stderr) only if the signal was not delivered.
pub fn raise(signo: i32) -> Result<(), Failure> {
    out::flush();
    let _ = set_disposition(signo, libc::SIG_DFL);
    unblock(signo);
    // SAFETY: kill has no pointer arguments.
    unsafe { libc::kill(libc::getpid(), signo) };
    crate::faults::fault(signo);
    out::write(
        crate::steps::Stream::Stderr,
        format!(
            "signal {} was not delivered (a PID namespace init ignores signals it has no \
             handler for)\n",
            names::signal_name(signo)
        )
        .as_bytes(),
    )
}

/// `ignore:<sig>`.
pub fn ignore(signo: i32) -> Result<(), Failure> {
    set_disposition(signo, libc::SIG_IGN).map_err(|errno| {
        Failure(format!(
            "ignore {}: {}",
            names::signal_name(signo),
            names::errno_name(errno)
        ))
    })
}

/// `wait-signal`: blocks every signal that is not ignored (nor CHLD, URG, WINCH, whose
/// default is to be ignored) and waits for one; prints
/// `{"signal":"TERM","signo":15,"sender_pid":N}`. The mask is restored afterwards.
pub fn wait_signal() -> Result<(), Failure> {
    let mut set = MaybeUninit::<libc::sigset_t>::zeroed();
    let mut old = MaybeUninit::<libc::sigset_t>::zeroed();
    // SAFETY: `set` is valid for writes and initialized by sigemptyset first.
    unsafe { libc::sigemptyset(set.as_mut_ptr()) };
    let skip = [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGCHLD,
        libc::SIGURG,
        libc::SIGWINCH,
    ];
    for signo in 1..=names::MAX_SIGNAL {
        if skip.contains(&signo) || disposition(signo) == Some(libc::SIG_IGN) {
            continue;
        }
        // SAFETY: `set` was initialized above; invalid numbers are rejected with EINVAL.
        unsafe { libc::sigaddset(set.as_mut_ptr(), signo) };
    }
    // SAFETY: `set` is initialized; `old` is valid for writes.
    unsafe { libc::sigprocmask(libc::SIG_BLOCK, set.as_ptr(), old.as_mut_ptr()) };
    out::flush();
    let mut info = MaybeUninit::<libc::siginfo_t>::zeroed();
    let signo = loop {
        // SAFETY: `set` is initialized and `info` is valid for writes.
        let ret = unsafe { libc::sigwaitinfo(set.as_ptr(), info.as_mut_ptr()) };
        if ret > 0 {
            break ret;
        }
        if sys::errno() != libc::EINTR {
            return Err(Failure(format!(
                "wait-signal: {}",
                names::errno_name(sys::errno())
            )));
        }
    };
    // SAFETY: sigwaitinfo filled `info` for the signal it returned.
    let sender = unsafe { info.assume_init().si_pid() };
    // SAFETY: `old` was filled by the sigprocmask call above.
    unsafe { libc::sigprocmask(libc::SIG_SETMASK, old.as_ptr(), std::ptr::null_mut()) };
    out::emit(
        &Value::object()
            .set("signal", names::signal_name(signo))
            .set("signo", signo)
            .set("sender_pid", sender),
    )
}
