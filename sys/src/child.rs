//! Async-signal-safe primitives for the code between clone and exec of a container
//! process: credentials, exec with prebuilt argument arrays, fd hygiene, raw reads and
//! writes, and bringing the loopback interface up.
//!
//! The credential calls are raw system calls on purpose: libc's `setresuid` and friends
//! synchronise every thread libc knows of, and in a cloned child those threads do not
//! exist (the call would hang or fail). The raw call changes the only thread there is.

use std::{
    ffi::{c_char, CStr, CString},
    io,
    os::fd::RawFd,
};

fn check(ret: libc::c_long) -> io::Result<()> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

#[cfg(target_arch = "arm")]
mod nr {
    pub const SETRESUID: libc::c_long = libc::SYS_setresuid32;
    pub const SETRESGID: libc::c_long = libc::SYS_setresgid32;
    pub const SETGROUPS: libc::c_long = libc::SYS_setgroups32;
}
#[cfg(not(target_arch = "arm"))]
mod nr {
    pub const SETRESUID: libc::c_long = libc::SYS_setresuid;
    pub const SETRESGID: libc::c_long = libc::SYS_setresgid;
    pub const SETGROUPS: libc::c_long = libc::SYS_setgroups;
}

/// Set real, effective and saved uid of the calling thread.
pub fn setresuid(uid: u32) -> io::Result<()> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(nr::SETRESUID, uid, uid, uid) })
}

/// Set real, effective and saved gid of the calling thread.
pub fn setresgid(gid: u32) -> io::Result<()> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(nr::SETRESGID, gid, gid, gid) })
}

/// Set the supplementary groups of the calling thread.
pub fn setgroups(groups: &[u32]) -> io::Result<()> {
    // SAFETY: `groups` is valid for reads of `groups.len()` gid_t (u32) values.
    check(unsafe { libc::syscall(nr::SETGROUPS, groups.len(), groups.as_ptr()) })
}

/// A program and its arguments and environment as the null-terminated pointer arrays
/// `execve(2)` takes, built before the clone so the child allocates nothing.
#[derive(Debug)]
pub struct Exec {
    // The strings the pointers below point into; kept alive and never mutated.
    strings: Vec<CString>,
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
}

// SAFETY: the raw pointers point into `strings`, owned by the same value and never
// mutated; moving the value to another thread moves the heap buffers with it unchanged.
unsafe impl Send for Exec {}

impl Exec {
    /// `path` is `argv[0]` too.
    pub fn new(path: CString, args: Vec<CString>, env: Vec<CString>) -> Exec {
        // CString's heap buffer does not move when the CString is moved: the pointers
        // taken here stay valid for as long as `strings` holds the values.
        let pointers = |strings: &[CString]| -> Vec<*const c_char> {
            let pointers = strings.iter().map(|s| s.as_ptr());
            pointers.chain([std::ptr::null()]).collect()
        };
        let mut strings = vec![path];
        strings.extend(args);
        let argv = pointers(&strings);
        let envp = pointers(&env);
        strings.extend(env);
        Exec {
            strings,
            argv,
            envp,
        }
    }

    /// The program path.
    pub fn path(&self) -> &CStr {
        self.strings.first().map_or(c"", |s| s.as_c_str())
    }

    /// Replace the process image. Returns only on failure, with the error.
    pub fn exec(&self) -> io::Error {
        // SAFETY: path, argv and envp are null-terminated arrays of pointers to
        // NUL-terminated strings owned by `self`, alive for the call.
        unsafe { libc::execve(self.path().as_ptr(), self.argv.as_ptr(), self.envp.as_ptr()) };
        io::Error::last_os_error()
    }
}

/// Close every fd from `first` upwards (`close_range(2)`); with `cloexec`, mark them
/// close-on-exec instead.
pub fn close_from(first: u32, cloexec: bool) -> io::Result<()> {
    let flags = if cloexec {
        libc::CLOSE_RANGE_CLOEXEC
    } else {
        0
    };
    // SAFETY: integer arguments only; closing fds the caller no longer uses is its intent.
    check(unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, flags) })
}

/// `dup2(2)`: make `to` a copy of `from` (the copy is not close-on-exec).
pub fn dup2(from: RawFd, to: RawFd) -> io::Result<()> {
    // SAFETY: integer arguments only; an invalid fd is reported as EBADF.
    check(unsafe { libc::dup2(from, to) } as _)
}

/// `write(2)` all of `data`, retrying on EINTR and short writes.
pub fn write_all(fd: RawFd, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        // SAFETY: `data` is valid for reads of its length.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        data = data.get(n as usize..).unwrap_or_default();
    }
    Ok(())
}

/// `read(2)` once into `buf`, retrying on EINTR. Returns the count (0 at end of file).
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// `struct ifreq` with the flags member of its union (40 bytes on 64-bit, 32 on 32-bit).
#[repr(C)]
struct IfReqFlags {
    name: [u8; 16],
    flags: libc::c_short,
    _pad: [u8; 22],
}

const SIOCGIFFLAGS: libc::c_ulong = 0x8913;
const SIOCSIFFLAGS: libc::c_ulong = 0x8914;

/// Set the interface `lo` up in the calling process's network namespace.
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: socket() takes integers only.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut req = IfReqFlags {
        name: [0; 16],
        flags: 0,
        _pad: [0; 22],
    };
    req.name[..2].copy_from_slice(b"lo");
    // SAFETY: `req` is a valid ifreq for SIOCGIFFLAGS/SIOCSIFFLAGS, valid for reads and
    // writes during each call; `fd` is the socket opened above.
    let result = unsafe {
        if libc::ioctl(fd, SIOCGIFFLAGS as _, &mut req as *mut IfReqFlags) < 0 {
            Err(io::Error::last_os_error())
        } else {
            req.flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(fd, SIOCSIFFLAGS as _, &mut req as *mut IfReqFlags) < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(())
            }
        }
    };
    // SAFETY: `fd` is owned here and closed once.
    unsafe { libc::close(fd) };
    result
}

/// Set the scheduling policy (`SCHED_*`) and real-time priority of the calling process.
pub fn set_scheduler(policy: i32, priority: i32) -> io::Result<()> {
    // SAFETY: sched_param is plain integers (musl adds reserved fields); zero is valid.
    let mut param: libc::sched_param = unsafe { std::mem::zeroed() };
    param.sched_priority = priority;
    // SAFETY: `param` is valid for reads during the call; pid 0 is the caller.
    check(unsafe { libc::sched_setscheduler(0, policy, &param) } as _)
}

/// Set the nice value of the calling process.
pub fn set_nice(nice: i32) -> io::Result<()> {
    // SAFETY: integer arguments only; who = 0 is the caller.
    check(unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) } as _)
}

/// Set the file mode creation mask; returns the previous one.
pub fn umask(mask: u32) -> u32 {
    // SAFETY: umask cannot fail and takes an integer.
    unsafe { libc::umask(mask as libc::mode_t) as u32 }
}

/// Reset every signal's disposition to the default and clear the pending-ignore state the
/// runtime may have set (Rust programs ignore SIGPIPE, for example): an exec keeps ignored
/// signals ignored.
pub fn reset_signals() {
    for signal in 1..libc::SIGRTMAX() {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        // SAFETY: SIG_DFL is always a valid disposition; invalid numbers give EINVAL.
        unsafe { libc::signal(signal, libc::SIG_DFL) };
    }
}

/// A close-on-exec copy of `fd` numbered `min` or above (`F_DUPFD_CLOEXEC`).
pub fn dup_at_least(
    fd: std::os::fd::BorrowedFd<'_>,
    min: RawFd,
) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: integer arguments; the fd is borrowed for the call.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` is a fresh descriptor owned by nobody else.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(new) })
}

/// The SELinux exec context attribute of the calling thread.
const ATTR_EXEC: &CStr = c"/proc/thread-self/attr/exec";

/// Set the SELinux context the calling thread's next `execve` runs in, and that of every
/// process it forks afterwards (the kernel copies it with the credentials): write
/// `context` to `/proc/thread-self/attr/exec`. Async-signal-safe (open, write, close).
pub fn set_exec_context(context: &CStr) -> io::Result<()> {
    // SAFETY: a NUL-terminated constant path and integer flags.
    let fd = unsafe { libc::open(ATTR_EXEC.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let written = write_all(fd, context.to_bytes());
    // SAFETY: `fd` was opened above and is closed once, here.
    unsafe { libc::close(fd) };
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_arrays_are_null_terminated() {
        let exec = Exec::new(
            c"/bin/true".into(),
            vec![c"a".into(), c"b".into()],
            vec![c"X=1".into()],
        );
        assert_eq!(exec.argv.len(), 4);
        assert!(exec.argv[3].is_null());
        assert_eq!(exec.envp.len(), 2);
        assert!(exec.envp[1].is_null());
        assert_eq!(exec.path(), c"/bin/true");
    }
}
