//! Small wrappers over libc for what every probe needs: the calling thread's errno, a
//! fork that keeps the child to async-signal-safe code, and parking a process forever.
//! Owns no policy: callers decide what a child does and what a result means.

use std::io;

/// The errno left by the last failed libc call on this thread.
pub fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Who we are after a fork.
pub enum Forked {
    Parent(libc::pid_t),
    Child,
}

/// Forks; stdout is flushed first so the child does not repeat buffered output. The
/// program is single-threaded, so the child may keep running ordinary code.
pub fn fork() -> Result<Forked, i32> {
    crate::out::flush();
    // SAFETY: fork has no pointer arguments; the program has one thread, so no lock
    // can be held by a thread that does not exist in the child.
    match unsafe { libc::fork() } {
        -1 => Err(errno()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid)),
    }
}

/// Sleeps until killed; only async-signal-safe calls.
pub fn park() -> ! {
    loop {
        // SAFETY: pause takes no arguments and only returns after a signal handler ran.
        unsafe { libc::pause() };
    }
}

/// Ends this process at once, without running exit handlers or flushing std buffers.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit takes an integer and does not return; it touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// Waits for one child; returns its raw wait status.
pub fn wait_for(pid: libc::pid_t) -> Result<i32, i32> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid, writable int for the whole call.
        let ret = unsafe { libc::waitpid(pid, &mut status, 0) };
        if ret == pid {
            return Ok(status);
        }
        let err = errno();
        if err != libc::EINTR {
            return Err(err);
        }
    }
}

/// A C string from Rust text (the text never holds NUL: it comes from program arguments
/// or constants).
pub fn cstr(text: &str) -> std::ffi::CString {
    std::ffi::CString::new(text.replace('\0', "")).unwrap_or_default()
}
