//! Mounting by file descriptor: paths resolved strictly inside a directory, detached
//! bind trees, their mount attributes, and attaching them, with the fallbacks older
//! kernels need.
//!
//! - [`open_beneath`]: `openat2(2)` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS` (and
//!   `RESOLVE_NO_XDEV` on request). A symlink whose target leaves the directory (an
//!   absolute one, or `..` above it) fails with `EXDEV`, a `/proc` magic link with
//!   `ELOOP`. Kernels without openat2 (before 5.6, `ENOSYS`) get a walk of one component
//!   at a time with `O_NOFOLLOW` that refuses every symlink (`ELOOP`) and every `..`
//!   (`EXDEV`): stricter, never looser.
//! - [`clone_tree`], [`set_attributes`], [`attach`]: `open_tree(2)` with
//!   `OPEN_TREE_CLONE` (5.2), `mount_setattr(2)` (5.12), `move_mount(2)` (5.2). Callers
//!   fall back to `mount(2)` of [`FdPath`] (`/proc/self/fd/N`) where these answer
//!   `ENOSYS`.
//!
//! Everything here is async-signal-safe (no allocation, no locks): it runs in a
//! container's process between clone and exec. The kernel structures are defined here
//! because not every libc version exports them.

use std::{
    ffi::CStr,
    io,
    os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd},
};

/// `struct open_how` of openat2(2) (`OPEN_HOW_SIZE_VER0`: 24 bytes).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `struct mount_attr` of mount_setattr(2) (`MOUNT_ATTR_SIZE_VER0`: 32 bytes).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const RESOLVE_NO_XDEV: u64 = 0x01;
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_BENEATH: u64 = 0x08;
const OPEN_TREE_CLONE: libc::c_uint = 0x01;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x04;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;

/// `MOUNT_ATTR_RDONLY`: read-only.
pub const ATTR_RDONLY: u64 = 0x01;
/// `MOUNT_ATTR_NOSUID`: setuid and setgid bits and file capabilities are ignored.
pub const ATTR_NOSUID: u64 = 0x02;
/// `MOUNT_ATTR_NODEV`: device nodes cannot be opened.
pub const ATTR_NODEV: u64 = 0x04;
/// `MOUNT_ATTR_NOEXEC`: nothing on the mount can be executed.
pub const ATTR_NOEXEC: u64 = 0x08;

/// A kernel that renames concurrently may make openat2 answer `EAGAIN` for a resolution
/// restricted to a directory; it is asked again this many times.
const EAGAIN_RETRIES: usize = 16;

fn result_fd(ret: libc::c_long) -> io::Result<OwnedFd> {
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = RawFd::try_from(ret).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn result(ret: libc::c_long) -> io::Result<()> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Open the directory `path` (absolute, or relative to the working directory) as an
/// `O_PATH` descriptor, following symlinks: for directories the runtime itself chose.
pub fn open_dir(path: &CStr) -> io::Result<OwnedFd> {
    open_flags(path, libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
}

/// Open `path` (a directory or any other file) as an `O_PATH` descriptor, following
/// symlinks: for paths the runtime's configuration names.
pub fn open_path(path: &CStr) -> io::Result<OwnedFd> {
    open_flags(path, libc::O_PATH | libc::O_CLOEXEC)
}

fn open_flags(path: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: `path` is NUL-terminated and lives for the call.
    let fd = unsafe { libc::open(path.as_ptr(), flags) };
    result_fd(libc::c_long::from(fd))
}

/// Open `path` (relative; `.` is `dir` itself) below `dir` as an `O_PATH` descriptor,
/// never leaving `dir`: no absolute symlink, no `..` above it, no `/proc` magic link; with
/// `same_mount`, no crossing into another mount either. Such paths fail with `EXDEV`
/// (leaves `dir`, or another mount) or `ELOOP` (magic link; any symlink on kernels without
/// openat2).
pub fn open_beneath(dir: BorrowedFd<'_>, path: &CStr, same_mount: bool) -> io::Result<OwnedFd> {
    let mut resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    if same_mount {
        resolve |= RESOLVE_NO_XDEV;
    }
    let how = OpenHow {
        // O_CLOEXEC is a positive c_int.
        flags: (libc::O_PATH | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve,
    };
    for _ in 0..EAGAIN_RETRIES {
        // SAFETY: `path` is NUL-terminated, `how` is a valid open_how of the size passed;
        // both live for the call; `dir` is borrowed for it.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        match result_fd(ret) {
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => continue,
            Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
                return walk_beneath(dir, path.to_bytes(), same_mount)
            }
            other => return other,
        }
    }
    Err(io::Error::from_raw_os_error(libc::EAGAIN))
}

/// The walk of kernels without openat2: each component opened `O_PATH | O_NOFOLLOW`
/// from the previous one; a symlink is refused (`ELOOP`), `..` too (`EXDEV`); with
/// `same_mount`, a component on another device than `dir` (`EXDEV`).
fn walk_beneath(dir: BorrowedFd<'_>, path: &[u8], same_mount: bool) -> io::Result<OwnedFd> {
    let device = stat(dir)?.st_dev;
    let mut current = dir.try_clone_to_owned()?;
    let mut name = [0u8; 256];
    for component in path.split(|b| *b == b'/') {
        if component.is_empty() || component == b"." {
            continue;
        }
        if component == b".." {
            return Err(io::Error::from_raw_os_error(libc::EXDEV));
        }
        // The component and its NUL must fit (NAME_MAX is 255).
        let slot = name
            .get_mut(..component.len())
            .filter(|slot| slot.len() < 256)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENAMETOOLONG))?;
        slot.copy_from_slice(component);
        if let Some(nul) = name.get_mut(component.len()) {
            *nul = 0;
        }
        let flags = libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: `name` holds a NUL-terminated component and lives for the call;
        // `current` is an open descriptor owned here.
        let fd = unsafe { libc::openat(current.as_raw_fd(), name.as_ptr().cast(), flags) };
        let next = result_fd(libc::c_long::from(fd))?;
        let st = stat(borrow(&next))?;
        if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
            return Err(io::Error::from_raw_os_error(libc::ELOOP));
        }
        if same_mount && st.st_dev != device {
            return Err(io::Error::from_raw_os_error(libc::EXDEV));
        }
        current = next;
    }
    Ok(current)
}

fn borrow(fd: &OwnedFd) -> BorrowedFd<'_> {
    std::os::fd::AsFd::as_fd(fd)
}

fn stat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: `st` is valid for writes of a whole stat; `fd` is borrowed for the call.
    let ret = unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) };
    result(libc::c_long::from(ret))?;
    // SAFETY: fstat succeeded and filled `st`.
    Ok(unsafe { st.assume_init() })
}

/// A detached copy of the mount at `source` (`open_tree(2)` with `OPEN_TREE_CLONE`), with
/// every mount below it when `recursive`: what a bind mount attaches.
pub fn clone_tree(source: BorrowedFd<'_>, recursive: bool) -> io::Result<OwnedFd> {
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    flags |= libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: the path is an empty literal (AT_EMPTY_PATH: the fd itself); `source` is
    // borrowed for the call.
    let ret =
        unsafe { libc::syscall(libc::SYS_open_tree, source.as_raw_fd(), c"".as_ptr(), flags) };
    result_fd(ret)
}

/// Set `attributes` (`ATTR_*`) on the mount `mount` refers to, and on every mount below
/// it when `recursive` (`mount_setattr(2)` with `AT_RECURSIVE`). Nothing is cleared.
pub fn set_attributes(mount: BorrowedFd<'_>, attributes: u64, recursive: bool) -> io::Result<()> {
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    let attr = MountAttr {
        attr_set: attributes,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: the path is an empty literal; `attr` is a valid mount_attr of the size
    // passed and lives for the call; `mount` is borrowed for it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            mount.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    result(ret)
}

/// Attach the detached tree `tree` (from [`clone_tree`]) on the directory or file
/// `target` refers to (`move_mount(2)`).
pub fn attach(tree: BorrowedFd<'_>, target: BorrowedFd<'_>) -> io::Result<()> {
    let flags = MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH;
    // SAFETY: both paths are empty literals (the fds themselves); the fds are borrowed
    // for the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            flags,
        )
    };
    result(ret)
}

/// `/proc/self/fd/<fd>` as a C string in a fixed buffer: how `mount(2)` reaches what an
/// fd refers to on kernels without `open_tree`.
pub struct FdPath {
    buf: [u8; 32],
}

impl FdPath {
    const PREFIX: &'static [u8] = b"/proc/self/fd/";

    /// The path of `fd`.
    pub fn new(fd: BorrowedFd<'_>) -> FdPath {
        let mut buf = [0u8; 32];
        let mut digits = [0u8; 10];
        let mut count = 0usize;
        // Descriptors are never negative.
        let mut n = u32::try_from(fd.as_raw_fd()).unwrap_or(0);
        for slot in digits.iter_mut() {
            // A remainder by 10 fits in a byte.
            *slot = b'0'.saturating_add(u8::try_from(n.checked_rem(10).unwrap_or(0)).unwrap_or(0));
            n = n.checked_div(10).unwrap_or(0);
            count = count.saturating_add(1);
            if n == 0 {
                break;
            }
        }
        let mut out = buf.iter_mut();
        // The prefix first in the zip: its end must not take a slot from `out`.
        for (byte, slot) in Self::PREFIX.iter().zip(out.by_ref()) {
            *slot = *byte;
        }
        let used = digits.get(..count).unwrap_or_default();
        for (slot, byte) in out.zip(used.iter().rev()) {
            *slot = *byte;
        }
        // The buffer holds 14 prefix bytes and at most 10 digits; the rest stays NUL.
        FdPath { buf }
    }

    /// The NUL-terminated path.
    pub fn as_c_str(&self) -> &CStr {
        CStr::from_bytes_until_nul(&self.buf).unwrap_or(c"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{ffi::CString, os::fd::AsFd, os::unix::fs::symlink};

    #[test]
    fn kernel_structure_sizes() {
        assert_eq!(std::mem::size_of::<OpenHow>(), 24);
        assert_eq!(std::mem::size_of::<MountAttr>(), 32);
    }

    #[test]
    fn fd_paths() {
        let file = std::fs::File::open("/").unwrap();
        let high = crate::child::dup_at_least(file.as_fd(), 1234).unwrap();
        for fd in [file.as_fd(), high.as_fd()] {
            let expected = format!("/proc/self/fd/{}", fd.as_raw_fd());
            assert_eq!(FdPath::new(fd).as_c_str().to_str().unwrap(), expected);
        }
    }

    /// A tree: `d/f`, a relative link inside, an absolute link, a link up and out, a
    /// magic link.
    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("d")).unwrap();
        std::fs::write(root.join("d/f"), "x").unwrap();
        symlink("d", root.join("inside")).unwrap();
        symlink("/", root.join("absolute")).unwrap();
        symlink("d/../../..", root.join("up")).unwrap();
        symlink("/proc/self/root", root.join("magic")).unwrap();
        dir
    }

    fn open(dir: &OwnedFd, path: &str) -> io::Result<OwnedFd> {
        open_beneath(dir.as_fd(), &CString::new(path).unwrap(), false)
    }

    fn errno(r: io::Result<OwnedFd>) -> Option<i32> {
        r.err().and_then(|e| e.raw_os_error())
    }

    #[test]
    fn paths_stay_beneath_their_directory() {
        let t = tree();
        let dir = open_dir(&CString::new(t.path().to_str().unwrap()).unwrap()).unwrap();
        assert!(open(&dir, ".").is_ok());
        assert!(open(&dir, "d/f").is_ok());
        assert!(open(&dir, "inside/f").is_ok());
        assert_eq!(errno(open(&dir, "absolute")), Some(libc::EXDEV));
        assert_eq!(errno(open(&dir, "absolute/etc")), Some(libc::EXDEV));
        assert_eq!(errno(open(&dir, "up")), Some(libc::EXDEV));
        assert_eq!(errno(open(&dir, "d/../..")), Some(libc::EXDEV));
        assert!(matches!(
            errno(open(&dir, "magic")),
            Some(libc::EXDEV | libc::ELOOP)
        ));
        assert_eq!(errno(open(&dir, "missing")), Some(libc::ENOENT));
    }

    #[test]
    fn the_walk_refuses_every_symlink_and_dotdot() {
        let t = tree();
        let dir = open_dir(&CString::new(t.path().to_str().unwrap()).unwrap()).unwrap();
        let walk = |p: &str| walk_beneath(dir.as_fd(), p.as_bytes(), true);
        assert!(walk(".").is_ok());
        assert!(walk("d/f").is_ok());
        assert!(walk("d//f/").is_ok());
        for link in ["inside/f", "absolute", "up", "magic"] {
            assert_eq!(errno(walk(link)), Some(libc::ELOOP), "{link}");
        }
        assert_eq!(errno(walk("d/..")), Some(libc::EXDEV));
        assert_eq!(errno(walk(&"n".repeat(300))), Some(libc::ENAMETOOLONG));
        // The two ways agree on what they both accept.
        let a = stat(open(&dir, "d/f").unwrap().as_fd()).unwrap();
        let b = stat(walk("d/f").unwrap().as_fd()).unwrap();
        assert_eq!((a.st_dev, a.st_ino), (b.st_dev, b.st_ino));
    }

    #[test]
    fn a_mount_point_is_not_crossed_with_same_mount() {
        // /proc is a mount of its own below "/".
        let root = open_dir(c"/").unwrap();
        assert!(open_beneath(root.as_fd(), c"proc", false).is_ok());
        assert_eq!(
            errno(open_beneath(root.as_fd(), c"proc/self", true)),
            Some(libc::EXDEV)
        );
        assert_eq!(
            errno(walk_beneath(root.as_fd(), b"proc/self", true)),
            Some(libc::EXDEV)
        );
    }
}
