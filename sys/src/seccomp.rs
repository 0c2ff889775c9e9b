//! Loading a seccomp BPF program into the calling thread, and `no_new_privs`.
//!
//! Both calls are async-signal-safe (no allocation, no locks): they run in a container's
//! process between clone and exec. The program itself is compiled before the clone by
//! `runtime_core::seccomp`; this module does not look at its content.

use std::io;

/// `PR_SET_NO_NEW_PRIVS`: from now on `execve` grants no privileges (setuid bits, file
/// capabilities). Required before an unprivileged process may load a filter.
pub fn set_no_new_privs() -> io::Result<()> {
    let on: libc::c_ulong = 1;
    let unused: libc::c_ulong = 0;
    // SAFETY: integer arguments only; the kernel reads no memory for this option.
    let ret = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, on, unused, unused, unused) };
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Whether `no_new_privs` is set for the calling thread (`PR_GET_NO_NEW_PRIVS`).
pub fn no_new_privs() -> io::Result<bool> {
    let unused: libc::c_ulong = 0;
    // SAFETY: integer arguments only; the kernel reads no memory for this option.
    let ret = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, unused, unused, unused, unused) };
    match ret {
        -1 => Err(io::Error::last_os_error()),
        value => Ok(value == 1),
    }
}

/// Install `filter` for the calling thread (and the processes it executes or forks):
/// `seccomp(SECCOMP_SET_MODE_FILTER, 0, &prog)`, or `prctl(PR_SET_SECCOMP)` on kernels
/// before 3.17. The caller has set `no_new_privs` or holds `CAP_SYS_ADMIN`.
///
/// An empty filter or one longer than `BPF_MAXINSNS` fails with `EINVAL` before any call.
/// The kernel copies the program; `filter` may be dropped afterwards.
pub fn load(filter: &[libc::sock_filter]) -> io::Result<()> {
    let len = match u16::try_from(filter.len()) {
        Ok(len) if len > 0 && i32::from(len) <= libc::BPF_MAXINSNS => len,
        _ => return Err(io::Error::from_raw_os_error(libc::EINVAL)),
    };
    // On the stack: nothing is allocated between clone and exec.
    let prog = libc::sock_fprog {
        len,
        // The kernel only reads through this pointer (the field is `*mut` in the C header).
        filter: filter.as_ptr().cast_mut(),
    };
    let prog_ptr: *const libc::sock_fprog = &prog;
    let operation = libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong;
    let flags: libc::c_ulong = 0;
    // SAFETY: `prog` lives until the call returns and points to `len` initialised
    // instructions borrowed from `filter`; the kernel copies them and writes nothing.
    let ret = unsafe { libc::syscall(libc::SYS_seccomp, operation, flags, prog_ptr) };
    if ret == 0 {
        return Ok(());
    }
    let error = io::Error::last_os_error();
    if error.raw_os_error() != Some(libc::ENOSYS) {
        return Err(error);
    }
    let mode = libc::SECCOMP_MODE_FILTER as libc::c_ulong;
    // SAFETY: as above: `prog` is alive and valid for reads for the whole call.
    let ret = unsafe { libc::prctl(libc::PR_SET_SECCOMP, mode, prog_ptr) };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ret_allow() -> libc::sock_filter {
        libc::sock_filter {
            code: (libc::BPF_RET | libc::BPF_K) as u16,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ALLOW,
        }
    }

    /// Refused before the kernel is asked: the test process itself stays unfiltered.
    #[test]
    fn empty_and_overlong_programs_are_einval() {
        let einval = Some(libc::EINVAL);
        assert_eq!(load(&[]).unwrap_err().raw_os_error(), einval);
        let long = vec![ret_allow(); libc::BPF_MAXINSNS as usize + 1];
        assert_eq!(load(&long).unwrap_err().raw_os_error(), einval);
    }

    #[test]
    fn no_new_privs_can_be_read() {
        assert!(no_new_privs().is_ok());
    }
}
