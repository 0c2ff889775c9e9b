//! `syscall:<name>[,<arg>...]`: one raw syscall and its result as a JSON line. Owns the
//! fixed pointer arguments of the syscalls that need them. Those are chosen so that a
//! privileged caller gets an error or a harmless effect (e.g. reboot with an invalid
//! command), while an unprivileged one gets the permission error a test looks for.

use crate::{
    json::Value,
    out::{self, Failure},
    steps::Call,
    sys,
};
use libc::c_long;

/// An invalid reboot command: EPERM without CAP_SYS_BOOT, EINVAL with it, never a reboot.
const REBOOT_NOT_A_COMMAND: c_long = 0x7e57;
/// A kexec flag bit that does not exist: EPERM without CAP_SYS_BOOT, EINVAL with it.
const KEXEC_BAD_FLAG: c_long = 0x8000;

/// The integer argument `i`, or `default`.
fn arg(args: &[i64], i: usize, default: i64) -> c_long {
    args.get(i).copied().unwrap_or(default) as c_long
}

/// Performs the call; returns (return value, errno).
pub fn call(call: Call, args: &[i64], path: Option<&str>) -> (i64, i32) {
    let root = c"/";
    let ret: i64 = match call {
        // SAFETY: no arguments.
        Call::Getpid => unsafe { libc::syscall(libc::SYS_getpid) as i64 },
        // SAFETY: no arguments.
        Call::Getppid => unsafe { libc::syscall(libc::SYS_getppid) as i64 },
        // SAFETY: an integer argument (0xffffffff queries the persona).
        Call::Personality => unsafe {
            libc::personality(arg(args, 0, 0xffff_ffff) as libc::c_ulong) as i64
        },
        // SAFETY: an integer argument; umask cannot fail.
        Call::Umask => unsafe { libc::umask(arg(args, 0, 0o022) as libc::mode_t) as i64 },
        // SAFETY: NUL-terminated literals; data is null, which tmpfs accepts.
        Call::Mount => unsafe {
            libc::mount(
                c"none".as_ptr(),
                root.as_ptr(),
                c"tmpfs".as_ptr(),
                arg(args, 0, 0) as libc::c_ulong,
                std::ptr::null(),
            ) as i64
        },
        // SAFETY: a NUL-terminated literal and an integer.
        Call::Umount2 => unsafe {
            libc::umount2(root.as_ptr(), arg(args, 0, libc::MNT_DETACH as i64) as i32) as i64
        },
        // SAFETY: a NUL-terminated literal.
        Call::Chroot => unsafe { libc::chroot(root.as_ptr()) as i64 },
        // SAFETY: two NUL-terminated literals; "/" on "/" can never succeed.
        Call::PivotRoot => unsafe {
            libc::syscall(libc::SYS_pivot_root, root.as_ptr(), root.as_ptr()) as i64
        },
        // SAFETY: an integer argument.
        Call::Unshare => unsafe { libc::unshare(arg(args, 0, 0) as i32) as i64 },
        Call::Setns => return setns(args),
        // SAFETY: integer arguments; addr and data are null (unused by TRACEME).
        Call::Ptrace => unsafe {
            libc::syscall(
                libc::SYS_ptrace,
                arg(args, 0, 0),
                arg(args, 1, 0),
                std::ptr::null_mut::<libc::c_void>(),
                std::ptr::null_mut::<libc::c_void>(),
            ) as i64
        },
        // SAFETY: integer arguments; the command is not a valid command (see const).
        Call::Reboot => unsafe {
            libc::syscall(
                libc::SYS_reboot,
                libc::LINUX_REBOOT_MAGIC1 as c_long,
                libc::LINUX_REBOOT_MAGIC2 as c_long,
                REBOOT_NOT_A_COMMAND,
                std::ptr::null_mut::<libc::c_void>(),
            ) as i64
        },
        // SAFETY: no segments (null, 0) and an invalid flag: nothing is read or loaded.
        Call::KexecLoad => unsafe {
            libc::syscall(
                libc::SYS_kexec_load,
                0 as c_long,
                0 as c_long,
                std::ptr::null_mut::<libc::c_void>(),
                KEXEC_BAD_FLAG,
            ) as i64
        },
        Call::InitModule => init_module(),
        // SAFETY: integer arguments.
        Call::Setuid => unsafe { libc::setuid(arg(args, 0, 0) as libc::uid_t) as i64 },
        // SAFETY: integer arguments.
        Call::Setgid => unsafe { libc::setgid(arg(args, 0, 0) as libc::gid_t) as i64 },
        Call::Mknod => mknod(path.unwrap_or(crate::steps::MKNOD_PATH)),
        // SAFETY: integer arguments only; defaults ask for the session keyring's id.
        Call::Keyctl => unsafe {
            libc::syscall(
                libc::SYS_keyctl,
                arg(args, 0, 0),
                arg(args, 1, -3),
                arg(args, 2, 0),
                arg(args, 3, 0),
                arg(args, 4, 0),
            ) as i64
        },
        Call::Bpf => bpf(arg(args, 0, 5)),
        // SAFETY: deliberately raw: the caller chose the number and integer arguments;
        // a syscall that takes pointers gets them as plain numbers and fails with EFAULT
        // for bad ones instead of touching this program's memory.
        Call::Number(nr) => unsafe {
            libc::syscall(
                nr as c_long,
                arg(args, 0, 0),
                arg(args, 1, 0),
                arg(args, 2, 0),
                arg(args, 3, 0),
                arg(args, 4, 0),
                arg(args, 5, 0),
            ) as i64
        },
    };
    done(ret)
}

/// The result of a libc call and, when it failed, its errno.
fn done(ret: i64) -> (i64, i32) {
    (ret, if ret == -1 { sys::errno() } else { 0 })
}

/// `setns[,<fd>[,<nstype>]]`; without an fd, /proc/self/ns/mnt is opened for it.
fn setns(args: &[i64]) -> (i64, i32) {
    let fd = match args.first() {
        Some(fd) => *fd as i32,
        // SAFETY: a NUL-terminated literal path.
        None => unsafe { libc::open(c"/proc/self/ns/mnt".as_ptr(), libc::O_RDONLY) },
    };
    if fd < 0 {
        return done(-1);
    }
    // SAFETY: integer arguments.
    let result = done(unsafe { libc::setns(fd, arg(args, 1, 0) as i32) as i64 });
    if args.is_empty() {
        // SAFETY: closing the fd opened above, owned here.
        unsafe { libc::close(fd) };
    }
    result
}

/// An all-zero 64-byte "module": rejected by the loader if the permission check passes.
fn init_module() -> i64 {
    let image = [0u8; 64];
    // SAFETY: `image` is valid for reads of its length; params is a literal.
    unsafe {
        libc::syscall(
            libc::SYS_init_module,
            image.as_ptr(),
            image.len() as libc::c_ulong,
            c"".as_ptr(),
        ) as i64
    }
}

/// A character device 1:3 (like /dev/null) at `path`, mode 0666.
fn mknod(path: &str) -> i64 {
    let path = sys::cstr(path);
    // SAFETY: `path` is NUL-terminated and lives for the call.
    unsafe { libc::mknod(path.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) as i64 }
}

/// `bpf(cmd, attr, size)` with a zeroed attribute union.
fn bpf(cmd: c_long) -> i64 {
    let mut attr = [0u64; 16];
    // SAFETY: `attr` is valid for reads and writes of its full size, which is passed.
    unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.as_mut_ptr(),
            std::mem::size_of_val(&attr) as libc::c_ulong,
        ) as i64
    }
}

/// Runs a `syscall:` step and prints `{"syscall":..,"ret":..,"errno":..,"error":..}`.
pub fn run(call_: Call, args: &[i64], path: Option<&str>) -> Result<(), Failure> {
    out::flush();
    let (ret, errno) = call(call_, args, path);
    out::emit(&out::with_errno(
        Value::object().set("syscall", call_.name()).set("ret", ret),
        errno,
    ))
}
