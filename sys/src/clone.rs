//! Process creation for containers: `clone3(2)` with a pidfd and, on cgroup v2, straight
//! into the container's cgroup; a fork-like raw `clone(2)` for use after such a clone; and
//! pidfd signalling and waiting.
//!
//! Why raw system calls and not `fork(3)`: the runtime shares its process with other
//! threads (worker threads, a test harness). libc's `fork` runs atfork handlers and takes
//! allocator locks, and a child of a raw clone must not call it. The child of these
//! functions is single-threaded and may only run async-signal-safe code until it execs.

use std::{
    convert::Infallible,
    io,
    os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd},
};

/// `struct clone_args` of `clone3(2)` (version 2, with the cgroup field: 88 bytes).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `CLONE_INTO_CGROUP` (Linux 5.7), not exported by every libc version.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Which side of a clone the caller is on.
#[derive(Debug)]
enum Cloned {
    /// The new process. Only async-signal-safe code may run here, and it must end in
    /// `execve` or [`exit`].
    Child,
    /// The caller, with the child's pid and a pidfd for it.
    Parent {
        /// Process id of the child, in the caller's PID namespace.
        pid: i32,
        /// A pidfd for the child (close-on-exec).
        pidfd: OwnedFd,
    },
}

/// Create a process with `namespaces` (`CLONE_NEW*` flags) and a pidfd, like `fork` (the
/// child continues on a copy of the caller's stack). With `cgroup`, the child starts in
/// that cgroup v2 directory (`CLONE_INTO_CGROUP`). The exit signal is `SIGCHLD`.
///
/// Falls back to `clone(2)` with `CLONE_PIDFD` where `clone3` is missing (`ENOSYS`); with
/// a `cgroup` there is no fallback and the error is returned.
///
/// # Safety
/// The caller must ensure the child runs only async-signal-safe code (no allocation, no
/// locks: the caller's other threads do not exist in the child) and ends in `execve` or
/// [`exit`]; and that no `Drop` of the caller's state runs in the child.
unsafe fn clone3(namespaces: i32, cgroup: Option<BorrowedFd<'_>>) -> io::Result<Cloned> {
    let mut pidfd: RawFd = -1;
    let mut args = CloneArgs {
        // The CLONE_NEW* flags are positive i32 values.
        flags: namespaces as u32 as u64 | libc::CLONE_PIDFD as u64,
        pidfd: &mut pidfd as *mut RawFd as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd.as_raw_fd() as u64;
    }
    // SAFETY: `args` is a valid clone_args of the size passed; `pidfd` outlives the call
    // (the kernel writes it before returning in the parent). With no stack given the
    // child runs on a copy of this stack, like fork; the caller's contract above covers
    // what the child may do.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    let ret = if ret == -1 && errno() == libc::ENOSYS && cgroup.is_none() {
        // SAFETY: as above; clone(2) without a stack is fork-like, and with CLONE_PIDFD the
        // kernel writes the pidfd to the parent_tid argument, which points at `pidfd`.
        unsafe { clone_pidfd(namespaces, &mut pidfd) }
    } else {
        ret
    };
    match ret {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(Cloned::Child),
        pid => Ok(Cloned::Parent {
            // A pid always fits in i32 (PID_MAX_LIMIT is 2^22); c_long is i32 on arm.
            #[allow(clippy::unnecessary_cast)]
            pid: pid as i32,
            // SAFETY: the kernel returned a new pidfd owned by nobody else.
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
        }),
    }
}

/// clone(2) with CLONE_PIDFD, fork-like. Argument order differs between architectures
/// after `parent_tid`, which is the third argument everywhere we build for.
///
/// # Safety
/// As [`clone3`]; `pidfd` must be valid for a write.
unsafe fn clone_pidfd(namespaces: i32, pidfd: &mut RawFd) -> libc::c_long {
    let flags = (namespaces | libc::CLONE_PIDFD | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: per this function's contract; stack 0 means the child shares a copy of the
    // current stack, and the remaining pointer arguments are null.
    unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags,
            0usize,
            pidfd as *mut RawFd,
            0usize,
            0usize,
        )
    }
}

/// A fork-like raw `clone(2)` for use inside a child of [`clone3`]: no atfork handlers, no
/// locks. Returns 0 in the child and the child's pid in the parent.
///
/// # Safety
/// As [`clone3`]: the child runs only async-signal-safe code and ends in `execve` or
/// [`exit`].
unsafe fn fork() -> io::Result<i32> {
    let flags = libc::SIGCHLD as libc::c_ulong;
    // SAFETY: fork-like clone without a stack or pointers; the contract covers the child.
    let ret = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        // A pid always fits in i32; c_long is i32 on arm.
        #[allow(clippy::unnecessary_cast)]
        Ok(ret as i32)
    }
}

/// Start `child` in a new process created by [`clone3`] with `namespaces` (and, on cgroup
/// v2, in `cgroup`). Returns the child's pid and a pidfd in the caller.
///
/// This is safe in Rust's sense: the child is a separate copy of the address space and
/// `child` cannot return (it yields `Infallible`), so nothing the caller owns is dropped twice. What remains is a
/// liveness rule the call sites are audited for: `child` runs only async-signal-safe code
/// (no allocation, no locks, which other threads may have held at the clone) and ends in
/// `execve` or [`exit`].
pub fn spawn(
    namespaces: i32,
    cgroup: Option<BorrowedFd<'_>>,
    child: impl FnOnce() -> Infallible,
) -> io::Result<(i32, OwnedFd)> {
    // SAFETY: `child` never returns and is audited to be async-signal-safe (see above).
    match unsafe { clone3(namespaces, cgroup) }? {
        // `child` cannot return: its result type has no values.
        #[allow(unreachable_code)]
        Cloned::Child => match child() {},
        Cloned::Parent { pid, pidfd } => Ok((pid, pidfd)),
    }
}

/// Start `child` in a fork-like new process without atfork handlers or locks (for use
/// inside a child of [`spawn`]). Returns the child's pid. Same rules as [`spawn`].
pub fn fork_in_child(child: impl FnOnce() -> Infallible) -> io::Result<i32> {
    // SAFETY: `child` never returns and is audited to be async-signal-safe (see spawn).
    match unsafe { fork() }? {
        #[allow(unreachable_code)]
        0 => match child() {},
        pid => Ok(pid),
    }
}

/// End the calling process at once (`_exit(2)`): no destructors, no atexit handlers, no
/// stdio flushing. Async-signal-safe.
pub fn exit(code: i32) -> ! {
    // SAFETY: _exit has no preconditions and does not return.
    unsafe { libc::_exit(code) }
}

/// Set the calling thread's name (`comm`, what `ps` shows; the kernel keeps 15 bytes) with
/// `prctl(PR_SET_NAME)`. Async-signal-safe: a child of [`spawn`] may call it.
pub fn set_name(name: &std::ffi::CStr) -> io::Result<()> {
    // SAFETY: PR_SET_NAME reads at most 16 bytes from a NUL-terminated string, which
    // `name` is for the duration of the call; the other arguments are unused integers.
    let ret = unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr(), 0, 0, 0) };
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Send `signal` to the process of `pidfd` (`pidfd_send_signal(2)`).
pub fn pidfd_signal(pidfd: BorrowedFd<'_>, signal: i32) -> io::Result<()> {
    // SAFETY: the fd is borrowed for the call; info is null (kernel fills it in as kill
    // does) and flags are 0.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0u32,
        )
    };
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// How a process ended, from `waitid(2)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitStatus {
    /// Exited with this code.
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
}

/// Reap the process of `pidfd` if it has exited (`waitid(P_PIDFD, WEXITED | WNOHANG)`).
/// `Ok(None)` while it is still running.
pub fn pidfd_try_wait(pidfd: BorrowedFd<'_>) -> io::Result<Option<WaitStatus>> {
    waitid(pidfd, libc::WNOHANG)
}

/// Wait for the process of `pidfd` to exit and reap it.
pub fn pidfd_wait(pidfd: BorrowedFd<'_>) -> io::Result<WaitStatus> {
    loop {
        match waitid(pidfd, 0) {
            Ok(Some(status)) => return Ok(status),
            Ok(None) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

fn waitid(pidfd: BorrowedFd<'_>, flags: i32) -> io::Result<Option<WaitStatus>> {
    const P_PIDFD: libc::idtype_t = 3;
    // SAFETY: an all-zero siginfo_t is a valid value for waitid to fill in.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is valid for writes for the duration of the call; the fd is borrowed.
    let ret = unsafe {
        libc::waitid(
            P_PIDFD,
            pidfd.as_raw_fd() as libc::id_t,
            &mut info,
            libc::WEXITED | flags,
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: waitid filled `info` (si_pid is 0 when nothing has exited yet); the union
    // accessors read the fields of a SIGCHLD siginfo.
    let (pid, code, status) = unsafe { (info.si_pid(), info.si_code, info.si_status()) };
    if pid == 0 {
        return Ok(None);
    }
    Ok(Some(match code {
        libc::CLD_EXITED => WaitStatus::Exited(status),
        _ => WaitStatus::Signaled(status),
    }))
}

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn set_name_names_the_calling_thread() {
        std::thread::spawn(|| {
            set_name(c"northstar-test").unwrap();
            let comm = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
            assert_eq!(comm, "northstar-test\n");
            // The kernel keeps 15 bytes.
            set_name(c"a-much-longer-name-than-fits").unwrap();
            let comm = std::fs::read_to_string("/proc/thread-self/comm").unwrap();
            assert_eq!(comm, "a-much-longer-n\n");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn clone_args_has_the_kernel_size() {
        // CLONE_ARGS_SIZE_VER2
        assert_eq!(std::mem::size_of::<CloneArgs>(), 88);
    }

    #[test]
    fn clone_wait_and_status() {
        for code in [0, 3, 255] {
            let (pid, pidfd) = spawn(0, None, || exit(code)).unwrap();
            assert!(pid > 0);
            let status = loop {
                if let Some(s) = pidfd_try_wait(pidfd.as_fd()).unwrap() {
                    break s;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            };
            assert_eq!(status, WaitStatus::Exited(code));
        }
    }

    #[test]
    fn signal_through_pidfd() {
        let (_, pidfd) = spawn(0, None, || {
            // SAFETY: pause has no preconditions.
            unsafe { libc::pause() };
            exit(0)
        })
        .unwrap();
        pidfd_signal(pidfd.as_fd(), libc::SIGKILL).unwrap();
        let status = loop {
            if let Some(s) = pidfd_try_wait(pidfd.as_fd()).unwrap() {
                break s;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        };
        assert_eq!(status, WaitStatus::Signaled(libc::SIGKILL));
    }
}
