//! `escape`: the tricks a hostile container tries, one JSON line each,
//! `{"escape":<attempt>,"ok":<it worked>,"errno":..,"error":..,...}`. Each attempt runs
//! in its own child process, so a success cannot change this program's root, ids or
//! mounts for later steps, and a seccomp kill ends only that attempt (reported with
//! `"signal"`). Nothing here writes to a file it manages to open (but for the copy of
//! itself `exec-copy` puts in a container's own writable mounts), and every call that
//! could change the host when run privileged is made harmless (same hostname, a tmpfs
//! over "/", pivot_root of "/" onto itself).

use crate::{
    json::Value,
    names,
    out::{self, Failure},
    sys::{self, Forked},
};
use std::{ffi::CString, fs};

/// The (device, inode) of this process's root directory (no allocation, so it may run
/// in a forked child of a multi-threaded test).
fn root_id() -> Option<(u64, u64)> {
    // SAFETY: a NUL-terminated literal path.
    let fd = unsafe { libc::open(c"/".as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
    if fd < 0 {
        return None;
    }
    let id = fstat_id(fd);
    close(fd);
    id
}

fn attempt(name: &str) -> Value {
    Value::object().set("escape", name)
}

/// `ok` from a libc return value (0 is success) and its errno.
fn outcome(v: Value, ret: libc::c_int) -> Value {
    let errno = if ret == 0 { 0 } else { sys::errno() };
    out::with_errno(v.set("ok", ret == 0), errno)
}

/// The classic chroot escape: with the working directory at "/", chroot into a
/// subdirectory (the working directory is now outside the root), walk `..` as far as it
/// goes and chroot there. `ok` if the final root is not the original one.
fn chroot_dotdot() -> Value {
    let root = root_id();
    let dir = ["/tmp", "/proc", "/dev"]
        .into_iter()
        .find(|d| fs::metadata(d).is_ok_and(|m| m.is_dir()))
        .unwrap_or("/");
    let v = attempt("chroot").set("dir", dir);
    let cdir = sys::cstr(dir);
    // SAFETY: NUL-terminated strings that live for the calls.
    let ret = unsafe {
        if libc::chdir(c"/".as_ptr()) != 0 || libc::chroot(cdir.as_ptr()) != 0 {
            -1
        } else {
            for _ in 0..64 {
                libc::chdir(c"..".as_ptr());
            }
            libc::chroot(c".".as_ptr())
        }
    };
    if ret != 0 {
        return outcome(v, ret);
    }
    out::with_errno(v.set("ok", root_id() != root), 0)
}

/// Whether the directory `fd` lies under this process's root: walks `..` (which stops
/// at the root for paths inside it) until the root or the top of the tree is reached.
/// Closes `fd`.
fn inside_root(fd: libc::c_int) -> bool {
    let root = root_id();
    let mut cur = fd;
    let mut inside = false;
    for _ in 0..4096 {
        let here = fstat_id(cur);
        if here.is_some() && here == root {
            inside = true;
            break;
        }
        // SAFETY: `cur` is an open directory fd owned here; the name is a literal.
        let parent = unsafe {
            libc::openat(
                cur,
                c"..".as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        // SAFETY: `cur` is owned here and not used after this.
        unsafe { libc::close(cur) };
        if parent < 0 {
            return false;
        }
        cur = parent;
        if fstat_id(cur) == here {
            break;
        }
    }
    // SAFETY: `cur` is owned here and not used after this.
    unsafe { libc::close(cur) };
    inside
}

/// The (device, inode) of an open fd.
fn fstat_id(fd: libc::c_int) -> Option<(u64, u64)> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: `st` is valid for writes of a whole stat.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: fstat succeeded and filled `st`.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::useless_conversion)] // dev_t and ino_t are 32-bit on some targets
    Some((u64::from(st.st_dev), u64::from(st.st_ino)))
}

/// open(2) with O_CLOEXEC; the fd or the errno.
fn open_fd(path: &str, flags: libc::c_int) -> Result<libc::c_int, i32> {
    let c = sys::cstr(path);
    // SAFETY: `c` is NUL-terminated and lives for the call.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        Err(sys::errno())
    } else {
        Ok(fd)
    }
}

fn close(fd: libc::c_int) {
    // SAFETY: `fd` was opened by this module and is not used after this.
    unsafe { libc::close(fd) };
}

/// Opens a directory through /proc magic links; `ok` if it lies outside our root.
fn proc_root(path: &str) -> Value {
    let v = attempt("proc-root").set("path", path);
    match open_fd(path, libc::O_RDONLY | libc::O_DIRECTORY) {
        Ok(fd) => out::with_errno(v.set("ok", !inside_root(fd)).set("opened", true), 0),
        Err(e) => out::with_errno(v.set("ok", false).set("opened", false), e),
    }
}

/// Opens `path` with `flags`; `ok` if it opened. Closes at once without writing.
fn open(name: &str, path: &str, flags: libc::c_int) -> Value {
    let v = attempt(name).set("path", path);
    match open_fd(path, flags) {
        Ok(fd) => {
            close(fd);
            out::with_errno(v.set("ok", true), 0)
        }
        Err(e) => out::with_errno(v.set("ok", false), e),
    }
}

/// Opens an executable as O_PATH and reopens it for writing through /proc/self/fd (the
/// runc CVE-2019-5736 route). Closes at once without writing.
fn reopen_exe(path: &str) -> Value {
    let v = attempt("reopen-exe-write").set("path", path);
    let result = open_fd(path, libc::O_PATH).and_then(|fd| {
        let again = open_fd(&format!("/proc/self/fd/{fd}"), libc::O_WRONLY);
        close(fd);
        again
    });
    match result {
        Ok(fd) => {
            close(fd);
            out::with_errno(v.set("ok", true), 0)
        }
        Err(e) => out::with_errno(v.set("ok", false), e),
    }
}

/// Reads the first bytes of /proc/kcore.
fn kcore() -> Value {
    let v = attempt("kcore");
    match fs::File::open("/proc/kcore") {
        Ok(mut f) => {
            let mut buf = [0u8; 64];
            match std::io::Read::read(&mut f, &mut buf) {
                Ok(n) => out::with_errno(v.set("ok", n > 0), 0),
                Err(e) => out::with_errno(v.set("ok", false), out::errno_of(&e)),
            }
        }
        Err(e) => out::with_errno(v.set("ok", false), out::errno_of(&e)),
    }
}

/// kill(1, SIGKILL). When pid 1 is this program (the init of its PID namespace) the
/// kernel drops the signal, so that does not count as `ok`.
fn kill_pid1(parent: libc::pid_t) -> Value {
    // SAFETY: kill has no pointer arguments.
    let ret = unsafe { libc::kill(1, libc::SIGKILL) };
    let errno = if ret == 0 { 0 } else { sys::errno() };
    let own = parent == 1;
    out::with_errno(
        attempt("kill-pid1")
            .set("ok", ret == 0 && !own)
            .set("pid1_is_this_program", own),
        errno,
    )
}

/// kill(-1, 0), and the pids visible in /proc that kill(pid, 0) reaches.
fn kill_all() -> Value {
    // SAFETY: kill has no pointer arguments; signal 0 only checks permission.
    let ret = unsafe { libc::kill(-1, 0) };
    let errno = if ret == 0 { 0 } else { sys::errno() };
    let mut visible: Vec<i32> = fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    visible.sort_unstable();
    // SAFETY: kill has no pointer arguments; signal 0 only checks permission.
    let signalable = visible
        .iter()
        .filter(|p| unsafe { libc::kill(**p, 0) } == 0)
        .count();
    out::with_errno(
        attempt("kill-all")
            .set("ok", ret == 0)
            .set("visible_pids", visible)
            .set("signalable_pids", signalable),
        errno,
    )
}

/// A tmpfs over "/" (path lookups keep using the covered root, so harmless here).
fn mount() -> Value {
    // SAFETY: NUL-terminated literals; data is null.
    let ret = unsafe {
        libc::mount(
            c"none".as_ptr(),
            c"/".as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    outcome(attempt("mount"), ret)
}

/// pivot_root("/", "/"): EPERM without CAP_SYS_ADMIN, EINVAL or EBUSY with it.
fn pivot_root() -> Value {
    // SAFETY: NUL-terminated literals.
    let ret = unsafe { libc::syscall(libc::SYS_pivot_root, c"/".as_ptr(), c"/".as_ptr()) } as i32;
    outcome(attempt("pivot_root"), ret)
}

/// sethostname to the current name, so a success changes nothing.
fn sethostname() -> Value {
    let name = crate::report::hostname().unwrap_or_default();
    let c = CString::new(name.clone()).unwrap_or_default();
    // SAFETY: `c` holds `name.len()` bytes and lives for the call.
    let ret = unsafe { libc::sethostname(c.as_ptr(), c.as_bytes().len()) };
    outcome(attempt("sethostname"), ret)
}

/// setuid(0).
fn setuid() -> Value {
    // SAFETY: an integer argument.
    let ret = unsafe { libc::setuid(0) };
    outcome(attempt("setuid"), ret)
}

/// unshare(CLONE_NEWUSER): a new user namespace gives every capability inside it.
fn unshare_user() -> Value {
    // SAFETY: an integer argument.
    let ret = unsafe { libc::unshare(libc::CLONE_NEWUSER) };
    outcome(attempt("unshare-user"), ret)
}

/// Parked children `fork-bomb` makes at most: far above any default pids limit, so
/// reaching it means nothing bounded the container.
const FORK_BOMB: usize = 4096;

/// A fork bomb: fork parked children until fork fails or [`FORK_BOMB`] exist. `ok` if
/// nothing stopped it. The children are killed and reaped before the line is printed.
fn fork_bomb() -> Value {
    let mut pids = Vec::with_capacity(FORK_BOMB);
    let mut errno = 0;
    while pids.len() < FORK_BOMB {
        match sys::fork() {
            Ok(Forked::Child) => sys::park(),
            Ok(Forked::Parent(pid)) => pids.push(pid),
            Err(e) => {
                errno = e;
                break;
            }
        }
    }
    for pid in &pids {
        // SAFETY: integer arguments; `pid` is a child of this process, not yet reaped.
        unsafe { libc::kill(*pid, libc::SIGKILL) };
        let _ = sys::wait_for(*pid);
    }
    let v = attempt("fork-bomb").set("forks", pids.len() as u64);
    out::with_errno(v.set("ok", pids.len() >= FORK_BOMB), errno)
}

/// Code no signature covers: copy this program into an anonymous memory file and
/// execute it from there (`execveat` with `AT_EMPTY_PATH`, as `fexecve` does; then
/// `execve` of `/proc/self/fd/N`, `fexecve`'s fallback). The copy, if it runs, prints
/// `{"escape":"memfd-exec","ok":true}`. `step` names the call that failed.
fn memfd_exec() -> Value {
    let v = attempt("memfd-exec");
    let fail = |v: Value, step: &str, errno: i32| {
        out::with_errno(v.set("ok", false).set("step", step), errno)
    };
    // SAFETY: a NUL-terminated literal name and integer flags; raw syscall because
    // older C libraries lack the wrapper.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_memfd_create,
            c"escape".as_ptr(),
            libc::MFD_CLOEXEC,
        )
    };
    if ret < 0 {
        return fail(v, "memfd_create", sys::errno());
    }
    let fd = ret as libc::c_int;
    let program = match fs::read("/proc/self/exe") {
        Ok(bytes) => bytes,
        Err(e) => return fail(v, "read /proc/self/exe", out::errno_of(&e)),
    };
    let mut written = 0;
    while written < program.len() {
        let rest = &program[written..];
        // SAFETY: `rest` is valid for reads of `rest.len()` bytes.
        let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
        if n <= 0 {
            return fail(v, "write", sys::errno());
        }
        written += n as usize;
    }
    let arg0 = c"test-container";
    let arg1 = c"print:1,{\"escape\":\"memfd-exec\",\"ok\":true}";
    let argv = [arg0.as_ptr(), arg1.as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null()];
    out::flush();
    // SAFETY: `argv` and `envp` are NULL-terminated arrays of NUL-terminated strings
    // that live for the call; the path is an empty literal.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd,
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    let execveat_errno = sys::errno();
    let path = sys::cstr(&format!("/proc/self/fd/{fd}"));
    // SAFETY: as above; `path` is NUL-terminated and lives for the call.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    let execve_errno = sys::errno();
    fail(v, "execve", execve_errno).set("execveat_errno", execveat_errno)
}

/// Directories where a container may write and then try to run what it wrote: the tmpfs
/// and the persistent directory the tests mount there.
const WRITABLE_DIRS: [&str; 2] = ["/tmp", "/data"];

/// Code no signature covers, from a writable mount: copy this program to `dir` and
/// execute the copy. The copy, if it runs, prints `{"escape":"exec-copy","ok":true}`;
/// otherwise the line names the failed `step` (EACCES from execve: a noexec mount).
fn exec_copy(dir: &str) -> Value {
    let v = attempt("exec-copy").set("path", dir);
    let fail = |v: Value, step: &str, errno: i32| {
        out::with_errno(v.set("ok", false).set("step", step), errno)
    };
    let path = format!("{dir}/escape-exec");
    if let Err(e) = fs::copy("/proc/self/exe", &path) {
        return fail(v, "copy", out::errno_of(&e));
    }
    use std::os::unix::fs::PermissionsExt;
    if let Err(e) = fs::set_permissions(&path, fs::Permissions::from_mode(0o755)) {
        return fail(v, "chmod", out::errno_of(&e));
    }
    let line = format!("print:1,{{\"escape\":\"exec-copy\",\"ok\":true,\"path\":\"{dir}\"}}");
    let arg1 = sys::cstr(&line);
    let program = sys::cstr(&path);
    let argv = [c"test-container".as_ptr(), arg1.as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null()];
    out::flush();
    // SAFETY: `argv` and `envp` are NULL-terminated arrays of NUL-terminated strings
    // that live for the call.
    unsafe { libc::execve(program.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    fail(v, "execve", sys::errno())
}

/// The host's file system through a mount whose source is a symlink out of its image or
/// allowed directory (the tests mount such a source at /host): `ok` if /host/etc/hostname
/// (which no test image has) could be read.
fn host_root() -> Value {
    let v = attempt("host-root").set("path", "/host/etc/hostname");
    match fs::read("/host/etc/hostname") {
        Ok(_) => out::with_errno(v.set("ok", true), 0),
        Err(e) => out::with_errno(v.set("ok", false), out::errno_of(&e)),
    }
}

/// Runs `f` in a child that prints its line; a child killed by a signal is reported as
/// `base` with `"ok":false` and the signal.
fn in_child(base: Value, f: impl FnOnce() -> Value) -> Result<(), Failure> {
    match sys::fork() {
        Ok(Forked::Child) => {
            let _ = out::emit(&f());
            sys::exit_now(0)
        }
        Ok(Forked::Parent(pid)) => match sys::wait_for(pid) {
            Ok(status) if libc::WIFSIGNALED(status) => {
                let signo = libc::WTERMSIG(status);
                out::emit(
                    &base
                        .set("ok", false)
                        .set("signal", names::signal_name(signo))
                        .set("signo", signo),
                )
            }
            Ok(_) => Ok(()),
            Err(e) => Err(Failure(format!(
                "escape {base}: wait: {}",
                names::errno_name(e)
            ))),
        },
        Err(e) => Err(Failure(format!(
            "escape {base}: fork: {}",
            names::errno_name(e)
        ))),
    }
}

/// `escape`: every attempt in order.
pub fn run() -> Result<(), Failure> {
    // SAFETY: getpid has no arguments and cannot fail.
    let me = unsafe { libc::getpid() };
    let at = |name: &str, path: &str| attempt(name).set("path", path);
    in_child(attempt("chroot"), chroot_dotdot)?;
    for path in [
        "/proc/1/root",
        "/proc/1/root/..",
        "/proc/1/root/../..",
        "/proc/self/root/..",
        "/proc/1/cwd/..",
    ] {
        in_child(at("proc-root", path), || proc_root(path))?;
    }
    for path in ["/proc/1/exe", "/proc/self/exe"] {
        in_child(at("open-exe-write", path), || {
            open("open-exe-write", path, libc::O_WRONLY)
        })?;
        in_child(at("reopen-exe-write", path), || reopen_exe(path))?;
    }
    in_child(attempt("kill-pid1"), || kill_pid1(me))?;
    in_child(attempt("kill-all"), kill_all)?;
    in_child(attempt("mount"), mount)?;
    in_child(attempt("pivot_root"), pivot_root)?;
    for path in ["/dev/sda", "/dev/mem"] {
        in_child(at("open-device", path), || {
            open("open-device", path, libc::O_RDONLY)
        })?;
    }
    in_child(attempt("kcore"), kcore)?;
    for dir in WRITABLE_DIRS {
        if fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
            in_child(at("exec-copy", dir), || exec_copy(dir))?;
        }
    }
    if fs::metadata("/host").is_ok() {
        in_child(attempt("host-root"), host_root)?;
    }
    in_child(attempt("sethostname"), sethostname)?;
    in_child(attempt("setuid"), setuid)?;
    in_child(attempt("unshare-user"), unshare_user)?;
    in_child(attempt("memfd-exec"), memfd_exec)?;
    in_child(attempt("fork-bomb"), fork_bomb)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory opened before a chroot lies outside the new root; "/" afterwards lies
    /// inside. Needs CAP_SYS_CHROOT (the host tests run as root); runs in a child so the
    /// test process keeps its root.
    #[test]
    fn inside_root_tells_a_directory_outside_a_chroot() {
        let dir = std::env::temp_dir().join(format!("test-container-root-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let outside = open_fd("/", libc::O_RDONLY | libc::O_DIRECTORY).unwrap();
        let c = sys::cstr(dir.to_str().unwrap());
        match sys::fork().unwrap() {
            Forked::Child => {
                // Only allocation-free calls here: other test threads may hold locks.
                // SAFETY: `c` is NUL-terminated and lives for the call.
                if unsafe { libc::chroot(c.as_ptr()) } != 0 {
                    sys::exit_now(3);
                }
                // SAFETY: a NUL-terminated literal.
                let inside = unsafe { libc::open(c"/".as_ptr(), libc::O_RDONLY) };
                let code = match (inside_root(outside), inside_root(inside)) {
                    (false, true) => 0,
                    _ => 1,
                };
                sys::exit_now(code)
            }
            Forked::Parent(pid) => {
                close(outside);
                let status = sys::wait_for(pid).unwrap();
                fs::remove_dir(&dir).unwrap();
                assert!(libc::WIFEXITED(status), "child status {status:#x}");
                assert_eq!(
                    libc::WEXITSTATUS(status),
                    0,
                    "3: chroot failed, 1: wrong answer"
                );
            }
        }
    }
}
