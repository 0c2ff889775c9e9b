//! Steps that make processes the runtime must bound and clean up: `fork-bomb`,
//! `orphans`, `children`, `zombies`, and `scan-zombies`, which looks for what was left
//! over. Owns only creating them: nothing here reaps, so whatever is left over is the
//! runtime's to handle. Children run only async-signal-safe
//! code (`pause`, `write`, `close`, `_exit`).

use crate::{
    json::Value,
    out::{self, Failure},
    procfs,
    sys::{self, Forked},
};

/// `fork-bomb[:<max>]`: forks parked children until fork fails or `max` exist; prints
/// `{"forks":N,"errno":E,"error":"EAGAIN"}` (errno 0 when `max` was reached).
pub fn fork_bomb(max: u64) -> Result<(), Failure> {
    let mut forks = 0u64;
    let mut errno = 0;
    while forks < max {
        match sys::fork() {
            Ok(Forked::Child) => sys::park(),
            Ok(Forked::Parent(_)) => forks += 1,
            Err(e) => {
                errno = e;
                break;
            }
        }
    }
    out::emit(&out::with_errno(Value::object().set("forks", forks), errno))
}

/// `children:<n>` and `zombies:<n>`: n direct children that sleep forever (`park`) or
/// exit at once and are never waited for. Prints `{"<key>":[pids],"errno":E,...}`.
pub fn children(key: &str, n: u32, park: bool) -> Result<(), Failure> {
    let mut pids = Vec::new();
    let mut errno = 0;
    for _ in 0..n {
        match sys::fork() {
            Ok(Forked::Child) if park => sys::park(),
            Ok(Forked::Child) => sys::exit_now(0),
            Ok(Forked::Parent(pid)) => pids.push(pid),
            Err(e) => {
                errno = e;
                break;
            }
        }
    }
    out::emit(&out::with_errno(Value::object().set(key, pids), errno))
}

/// `orphans:<n>`: a child forks n parked grandchildren, sends their pids through a pipe
/// and exits, so they are reparented. Prints `{"orphans":[pids],"errno":E,...}`.
pub fn orphans(n: u32) -> Result<(), Failure> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a writable array of two ints, as pipe2 requires.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Failure(format!("orphans: pipe: errno {}", sys::errno())));
    }
    let [read_fd, write_fd] = fds;
    let child = match sys::fork() {
        Ok(Forked::Child) => {
            // SAFETY: closing our copy of the read end, an fd this process owns.
            unsafe { libc::close(read_fd) };
            intermediate(n, write_fd)
        }
        Ok(Forked::Parent(pid)) => pid,
        Err(e) => {
            // SAFETY: both fds were just created by pipe2 and are owned here.
            unsafe {
                libc::close(read_fd);
                libc::close(write_fd);
            }
            return out::emit(&out::with_errno(
                Value::object().set("orphans", Vec::<i32>::new()),
                e,
            ));
        }
    };
    // SAFETY: the write end belongs to this process; the child has its own copy.
    unsafe { libc::close(write_fd) };
    let mut bytes = Vec::new();
    let mut buf = [0u8; 256];
    loop {
        // SAFETY: `buf` is valid for writes of its whole length.
        let got = unsafe { libc::read(read_fd, buf.as_mut_ptr().cast(), buf.len()) };
        match got {
            0 => break,
            n if n > 0 => bytes.extend_from_slice(&buf[..n as usize]),
            _ if sys::errno() == libc::EINTR => continue,
            _ => break,
        }
    }
    // SAFETY: the read end belongs to this process and is not used after this.
    unsafe { libc::close(read_fd) };
    let _ = sys::wait_for(child);
    let mut pids = Vec::new();
    let mut errno = 0;
    for chunk in bytes.chunks_exact(4) {
        let value = i32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        if value > 0 {
            pids.push(value);
        } else {
            errno = -value;
        }
    }
    out::emit(&out::with_errno(
        Value::object().set("orphans", pids),
        errno,
    ))
}

/// The short-lived middle process of `orphans`: writes each grandchild's pid (or
/// `-errno` of a failed fork) as a native i32 into `fd`, then exits.
fn intermediate(n: u32, fd: libc::c_int) -> ! {
    let send = |value: i32| {
        let bytes = value.to_ne_bytes();
        // SAFETY: `bytes` is valid for reads of its length; a pipe write of 4 bytes is
        // atomic, so a partial write cannot happen.
        unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    };
    for _ in 0..n {
        // SAFETY: see sys::fork; only async-signal-safe calls follow in both branches.
        match unsafe { libc::fork() } {
            0 => {
                // SAFETY: the grandchild's copy of the write end; closing it lets the
                // parent see end-of-file once the middle process exits.
                unsafe { libc::close(fd) };
                sys::park()
            }
            -1 => {
                send(-sys::errno());
                break;
            }
            pid => send(pid),
        }
    }
    sys::exit_now(0)
}

/// `scan-zombies:<dir>`: every process of the proc file system at `dir` (the container's
/// own, or a host's bind-mounted one) in state `Z`. Prints
/// `{"scan_zombies":"<dir>","processes":N,"zombies":[{"pid":..,"ppid":..,"comm":".."}]}`;
/// a process that ends during the scan is skipped.
pub fn scan_zombies(dir: &str) -> Result<(), Failure> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| out::failure(format_args!("read {dir}"), e))?;
    let mut processes = 0u64;
    let mut zombies = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(stat) = procfs::stat(&text) else {
            continue;
        };
        processes += 1;
        if stat.state == 'Z' {
            zombies.push(
                Value::object()
                    .set("pid", pid)
                    .set("ppid", stat.ppid)
                    .set("comm", stat.comm),
            );
        }
    }
    out::emit(
        &Value::object()
            .set("scan_zombies", dir)
            .set("processes", processes)
            .set("zombies", Value::Array(zombies)),
    )
}
