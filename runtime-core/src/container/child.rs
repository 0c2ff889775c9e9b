//! The code between clone and exec: it executes a [`Plan`] and nothing else.
//!
//! Only async-signal-safe system calls run here: the plan holds every string and path,
//! nothing allocates, nothing takes a lock, no destructor runs (both processes end in
//! `execve` or `_exit`). A failing step writes a [`Failure`] record to the error pipe and
//! exits; the runtime turns it into an error naming the step.
//!
//! The cloned process is PID 1 of the container's PID namespace. It finishes the sandbox
//! (hostname, network, mounts, `pivot_root`), then forks the container's program and stays
//! as a minimal init: it forwards signals to every process of the container, reaps every
//! child (orphans included) and, when the program ends, kills what is left and reports the
//! program's exit status through the status pipe.

use super::{
    mounts::MountOp,
    plan::{Net, Plan, Sched},
};
use nix::{
    mount::{mount, umount2, MntFlags, MsFlags},
    sched::{setns, unshare, CloneFlags},
    sys::{
        signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal},
        stat::{makedev, mknodat, Mode, SFlag},
        wait::{waitpid, WaitPidFlag, WaitStatus},
    },
    unistd::{chdir, fchdir, pivot_root, sethostname, setsid, symlinkat, Pid},
};
use northstar_sys::{caps, child as sys, clone as sysclone, mount as mnt};
use std::{
    ffi::{CStr, OsStr},
    os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd},
    os::unix::ffi::OsStrExt,
};

/// The file descriptors the child works with (raw: the child never closes through
/// `OwnedFd` destructors).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChildFds {
    /// Read end of the go pipe: one byte when the runtime is ready (cgroup joined).
    pub go: RawFd,
    /// Write end of the error pipe (close-on-exec): a failure record, or EOF on exec.
    pub error: RawFd,
    /// Write end of the status pipe: the program's wait status, from the container init.
    pub status: RawFd,
    /// stdin, stdout and stderr of the program.
    pub stdio: [RawFd; 3],
    /// Descriptors passed to the program as fd 3, 4, ...: the first `pass_count`.
    pub pass: [RawFd; super::sockets::MAX_PASS],
    pub pass_count: usize,
}

/// The steps of the child, as reported in a failure record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub(crate) enum Step {
    Sync = 1,
    Hostname,
    Network,
    MountPrivate,
    Mount,
    PivotRoot,
    Fork,
    Stdio,
    Rlimits,
    Scheduler,
    Capabilities,
    Groups,
    Gid,
    Uid,
    NoNewPrivs,
    Seccomp,
    Exec,
    Namespaces,
    MountSource,
    MountTarget,
    Selinux,
}

impl Step {
    const ALL: [Step; 21] = [
        Step::Sync,
        Step::Hostname,
        Step::Network,
        Step::MountPrivate,
        Step::Mount,
        Step::PivotRoot,
        Step::Fork,
        Step::Stdio,
        Step::Rlimits,
        Step::Scheduler,
        Step::Capabilities,
        Step::Groups,
        Step::Gid,
        Step::Uid,
        Step::NoNewPrivs,
        Step::Seccomp,
        Step::Exec,
        Step::Namespaces,
        Step::MountSource,
        Step::MountTarget,
        Step::Selinux,
    ];

    /// What the step does, for error messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Step::Sync => "wait for the runtime",
            Step::Hostname => "set the hostname",
            Step::Network => "set up the network namespace",
            Step::MountPrivate => "make the mount namespace private",
            Step::Mount => "mount",
            Step::PivotRoot => "pivot_root into the image",
            Step::Fork => "fork the program from the container init",
            Step::Stdio => "set up stdin, stdout and stderr",
            Step::Rlimits => "set resource limits",
            Step::Scheduler => "set the scheduling policy",
            Step::Capabilities => "drop capabilities",
            Step::Groups => "set supplementary groups",
            Step::Gid => "set the group id",
            Step::Uid => "set the user id",
            Step::NoNewPrivs => "set no_new_privs",
            Step::Seccomp => "load the seccomp filter",
            Step::Exec => "execute the program",
            Step::Namespaces => "create the mount, IPC, UTS and network namespaces",
            Step::MountSource => "open the mount source inside its image or directory",
            Step::MountTarget => "open the mount point inside the container's image",
            Step::Selinux => "set the SELinux exec context",
        }
    }
}

/// A failure record: step, errno and, for mounts, the index of the mount step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Failure {
    pub step: Step,
    pub errno: i32,
    pub index: u32,
}

impl Failure {
    pub(crate) const SIZE: usize = 12;

    fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[..4].copy_from_slice(&(self.step as u32).to_ne_bytes());
        b[4..8].copy_from_slice(&self.errno.to_ne_bytes());
        b[8..].copy_from_slice(&self.index.to_ne_bytes());
        b
    }

    /// Decode a record written by a child of this same binary.
    pub(crate) fn decode(b: &[u8; Self::SIZE]) -> Option<Failure> {
        let [s0, s1, s2, s3, e0, e1, e2, e3, i0, i1, i2, i3] = *b;
        let step = u32::from_ne_bytes([s0, s1, s2, s3]);
        let step = Step::ALL.into_iter().find(|s| *s as u32 == step)?;
        Some(Failure {
            step,
            errno: i32::from_ne_bytes([e0, e1, e2, e3]),
            index: u32::from_ne_bytes([i0, i1, i2, i3]),
        })
    }
}

/// The status record of the container init: kind (0 exited, 1 signaled) and value.
pub(crate) const STATUS_SIZE: usize = 8;

fn fail(fds: &ChildFds, step: Step, errno: i32, index: u32) -> ! {
    let record = Failure { step, errno, index }.encode();
    let _ = sys::write_all(fds.error, &record);
    sysclone::exit(126)
}

fn errno_of(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

/// Run the plan in the cloned child. Never returns.
pub(crate) fn run(plan: &Plan, fds: ChildFds) -> ! {
    // Everything signals this process is handled by the loop at the end; block all now so
    // nothing is lost between the fork and that loop.
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::all()), None);
    let mut byte = [0u8; 1];
    match sys::read(fds.go, &mut byte) {
        Ok(1) => (),
        // The runtime gave up on this start (it closed the pipe).
        _ => sysclone::exit(125),
    }
    // SELinux first, while the runtime's /proc is still at hand: the context written here
    // is copied into the program's process by the fork below and used by its execve.
    if let Some(context) = &plan.selinux {
        if let Err(e) = sys::set_exec_context(context) {
            fail(&fds, Step::Selinux, errno_of(e), 0);
        }
    }
    // The namespaces other than the PID namespace are created here, by the child, so
    // their cost (a network namespace takes about a millisecond) is paid in parallel with
    // the runtime's loop rather than inside its clone call, and is charged to the
    // container's cgroup.
    let mut namespaces =
        CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWUTS;
    if matches!(plan.net, Net::New) {
        namespaces |= CloneFlags::CLONE_NEWNET;
    }
    if let Err(e) = unshare(namespaces) {
        fail(&fds, Step::Namespaces, e as i32, 0);
    }
    sys::umask(0);
    if let Err(e) = sethostname(OsStr::from_bytes(plan.hostname.to_bytes())) {
        fail(&fds, Step::Hostname, e as i32, 0);
    }
    let net = match &plan.net {
        Net::Host => Ok(()),
        Net::New => sys::loopback_up().map_err(errno_of),
        Net::Join(fd) => setns(fd, CloneFlags::CLONE_NEWNET).map_err(|e| e as i32),
    };
    if let Err(errno) = net {
        fail(&fds, Step::Network, errno, 0);
    }
    let none: Option<&std::ffi::CStr> = None;
    if let Err(e) = mount(
        none,
        c"/",
        none,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        none,
    ) {
        fail(&fds, Step::MountPrivate, e as i32, 0);
    }
    // Every mount point and source is opened inside its directory, from this namespace
    // (a source opened before the clone belongs to the runtime's namespace, which a bind
    // in this one may not take from).
    let root = match mnt::open_dir(&plan.root) {
        Ok(root) => root,
        // No mount step's index: the failure names none.
        Err(e) => fail(&fds, Step::MountTarget, errno_of(e), u32::MAX),
    };
    for (index, op) in plan.mounts.iter().enumerate() {
        if let Err((step, errno)) = mount_op(root.as_fd(), op) {
            fail(&fds, step, errno, index as u32);
        }
    }
    drop(root);
    if let Err(e) = enter_root(plan) {
        fail(&fds, Step::PivotRoot, e as i32, 0);
    }
    // Both sides run only async-signal-safe code and end in exec or _exit.
    match sysclone::fork_in_child(|| program(plan, fds)) {
        Err(e) => fail(&fds, Step::Fork, errno_of(e), 0),
        Ok(pid) => container_init(fds, Pid::from_raw(pid)),
    }
}

/// Open `path` inside `dir` (see [`mnt::open_beneath`]), as the failure of `step`.
fn open_in(
    dir: BorrowedFd<'_>,
    path: &CStr,
    same_mount: bool,
    step: Step,
) -> Result<OwnedFd, (Step, i32)> {
    mnt::open_beneath(dir, path, same_mount).map_err(|e| (step, errno_of(e)))
}

/// Make `dir` (an fd of a directory inside the container's root) the working directory:
/// `mount(2)` then works on "." and never resolves a path itself.
fn enter(dir: &OwnedFd) -> Result<(), (Step, i32)> {
    fchdir(dir).map_err(|e| (Step::Mount, e as i32))
}

/// One mount step; every path is opened inside its directory first.
fn mount_op(root: BorrowedFd<'_>, op: &MountOp) -> Result<(), (Step, i32)> {
    let none: Option<&CStr> = None;
    let mounted = |r: nix::Result<()>| r.map_err(|e| (Step::Mount, e as i32));
    match op {
        MountOp::Mount {
            source,
            target,
            fstype,
            flags,
            data,
        } => {
            enter(&open_in(root, target, false, Step::MountTarget)?)?;
            mounted(mount(
                Some(source.as_c_str()),
                c".",
                Some(fstype.as_c_str()),
                *flags,
                data.as_deref(),
            ))
        }
        MountOp::Bind {
            dir,
            path,
            same_mount,
            target,
            attributes,
            recursive,
        } => {
            // The directory named by the runtime or its configuration: a bind_allow entry
            // may be a file (a socket, a device) and is then the source itself.
            let dir = mnt::open_path(dir).map_err(|e| (Step::MountSource, errno_of(e)))?;
            let source = if path.as_c_str() == c"." {
                dir
            } else {
                open_in(dir.as_fd(), path, *same_mount, Step::MountSource)?
            };
            let at = open_in(root, target, false, Step::MountTarget)?;
            bind(root, &source, &at, target, *attributes, *recursive)
                .map_err(|errno| (Step::Mount, errno))
        }
        MountOp::Remount { target, flags } => {
            enter(&open_in(root, target, false, Step::MountTarget)?)?;
            mounted(mount(none, c".", none, *flags, none))
        }
        MountOp::CharDevice {
            dir,
            name,
            major,
            minor,
        } => {
            let dir = open_in(root, dir, false, Step::MountTarget)?;
            mounted(mknodat(
                &dir,
                name.as_c_str(),
                SFlag::S_IFCHR,
                Mode::from_bits_truncate(0o666),
                makedev(u64::from(*major), u64::from(*minor)),
            ))
        }
        MountOp::Symlink { target, dir, name } => {
            let dir = open_in(root, dir, false, Step::MountTarget)?;
            mounted(symlinkat(target.as_c_str(), &dir, name.as_c_str()))
        }
    }
}

/// Bind `source` on `at` (the mount point `target` inside `root`) with `attributes`, on
/// every mount of the tree when `recursive`.
///
/// With `open_tree` (5.2) the tree is cloned detached, given its attributes with
/// `mount_setattr` (5.12) and attached with `move_mount`: no path is resolved again and
/// no submount keeps weaker flags. Before 5.12 the top mount is remounted after the
/// attach, and a recursive bind is refused (`ENOSYS`): its submounts would keep their own
/// flags. Before 5.2 the bind is a `mount(2)` of `/proc/self/fd/N` on the working
/// directory.
fn bind(
    root: BorrowedFd<'_>,
    source: &OwnedFd,
    at: &OwnedFd,
    target: &CStr,
    attributes: u64,
    recursive: bool,
) -> Result<(), i32> {
    let nosys = |e: &std::io::Error| e.raw_os_error() == Some(libc::ENOSYS);
    match mnt::clone_tree(source.as_fd(), recursive) {
        Ok(tree) => match mnt::set_attributes(tree.as_fd(), attributes, recursive) {
            Ok(()) => mnt::attach(tree.as_fd(), at.as_fd()).map_err(errno_of),
            Err(e) if nosys(&e) && !recursive => {
                mnt::attach(tree.as_fd(), at.as_fd()).map_err(errno_of)?;
                remount_bind(root, target, attributes)
            }
            Err(e) => Err(errno_of(e)),
        },
        Err(e) if nosys(&e) => bind_by_path(root, source, at, target, attributes, recursive),
        Err(e) => Err(errno_of(e)),
    }
}

/// The bind of kernels without `open_tree` (before 5.2): `mount(2)` of the source's
/// `/proc/self/fd/N` on the target made the working directory, then the remount. A
/// recursive bind is refused (`ENOSYS`).
fn bind_by_path(
    root: BorrowedFd<'_>,
    source: &OwnedFd,
    at: &OwnedFd,
    target: &CStr,
    attributes: u64,
    recursive: bool,
) -> Result<(), i32> {
    if recursive {
        return Err(libc::ENOSYS);
    }
    fchdir(at).map_err(|e| e as i32)?;
    let from = mnt::FdPath::new(source.as_fd());
    let none: Option<&CStr> = None;
    mount(Some(from.as_c_str()), c".", none, MsFlags::MS_BIND, none).map_err(|e| e as i32)?;
    remount_bind(root, target, attributes)
}

/// Remount the bind on `target` (opened again: it now leads onto the new mount) with
/// the flags of `attributes`.
fn remount_bind(root: BorrowedFd<'_>, target: &CStr, attributes: u64) -> Result<(), i32> {
    let top = mnt::open_beneath(root, target, false).map_err(errno_of)?;
    fchdir(&top).map_err(|e| e as i32)?;
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    for (attribute, flag) in [
        (mnt::ATTR_RDONLY, MsFlags::MS_RDONLY),
        (mnt::ATTR_NOSUID, MsFlags::MS_NOSUID),
        (mnt::ATTR_NODEV, MsFlags::MS_NODEV),
        (mnt::ATTR_NOEXEC, MsFlags::MS_NOEXEC),
    ] {
        if attributes & attribute != 0 {
            flags |= flag;
        }
    }
    let none: Option<&CStr> = None;
    mount(none, c".", none, flags, none).map_err(|e| e as i32)
}

/// `pivot_root` into the image with the old root stacked on top, then detach the old root.
fn enter_root(plan: &Plan) -> nix::Result<()> {
    chdir(plan.root.as_c_str())?;
    pivot_root(c".", c".")?;
    umount2(c".", MntFlags::MNT_DETACH)?;
    chdir(c"/")
}

/// The container's program: stdio, limits, credentials, capabilities, seccomp, exec.
fn program(plan: &Plan, fds: ChildFds) -> ! {
    let _ = setsid();
    for (target, fd) in fds.stdio.iter().enumerate() {
        if let Err(e) = sys::dup2(*fd, target as RawFd) {
            fail(&fds, Step::Stdio, errno_of(e), target as u32);
        }
    }
    // Every fd here is at 64 or above (see launch): nothing passed is overwritten.
    for (target, fd) in (3..).zip(fds.pass.iter().take(fds.pass_count)) {
        if let Err(e) = sys::dup2(*fd, target) {
            fail(&fds, Step::Stdio, errno_of(e), target as u32);
        }
    }
    // Every other fd is closed at exec (the error pipe then shows EOF to the runtime).
    // At most MAX_PASS are passed: the sum cannot saturate.
    if let Err(e) = sys::close_from(3u32.saturating_add(fds.pass_count as u32), true) {
        fail(&fds, Step::Stdio, errno_of(e), 3);
    }
    for (index, (resource, soft, hard)) in plan.rlimits.iter().enumerate() {
        if let Err(e) = nix::sys::resource::setrlimit(*resource, *soft, *hard) {
            fail(&fds, Step::Rlimits, e as i32, index as u32);
        }
    }
    let sched = match plan.sched {
        None => Ok(()),
        Some(Sched::Nice { policy, nice }) => {
            sys::set_scheduler(policy, 0).and_then(|()| sys::set_nice(nice))
        }
        Some(Sched::RealTime { policy, priority }) => sys::set_scheduler(policy, priority),
    };
    if let Err(e) = sched {
        fail(&fds, Step::Scheduler, errno_of(e), 0);
    }
    if let Err(e) = caps::drop_bounding(plan.caps, plan.last_cap) {
        fail(&fds, Step::Capabilities, errno_of(e), 0);
    }
    if let Err(e) = caps::set_keep_caps(true) {
        fail(&fds, Step::Capabilities, errno_of(e), 1);
    }
    if let Err(e) = sys::setgroups(&plan.groups) {
        fail(&fds, Step::Groups, errno_of(e), 0);
    }
    if let Err(e) = sys::setresgid(plan.gid) {
        fail(&fds, Step::Gid, errno_of(e), 0);
    }
    if let Err(e) = sys::setresuid(plan.uid) {
        fail(&fds, Step::Uid, errno_of(e), 0);
    }
    let caps = caps::set(plan.caps)
        .and_then(|()| caps::set_ambient(plan.caps, plan.last_cap))
        .and_then(|()| caps::set_keep_caps(false));
    if let Err(e) = caps {
        fail(&fds, Step::Capabilities, errno_of(e), 2);
    }
    if let Err(e) = northstar_sys::seccomp::set_no_new_privs() {
        fail(&fds, Step::NoNewPrivs, errno_of(e), 0);
    }
    sys::reset_signals();
    sys::umask(0o022);
    if let Some(filter) = &plan.seccomp {
        if let Err(e) = northstar_sys::seccomp::load(filter.instructions()) {
            fail(&fds, Step::Seccomp, errno_of(e), 0);
        }
    }
    let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    let e = plan.exec.exec();
    fail(&fds, Step::Exec, errno_of(e), 0)
}

/// PID 1 of the container: forward signals, reap everything, report the program's status.
fn container_init(fds: ChildFds, program: Pid) -> ! {
    // Keep only the status pipe; stdio goes to the null device the runtime gave as stdin.
    let _ = sys::dup2(fds.stdio[0], 0);
    let _ = sys::dup2(fds.stdio[0], 1);
    let _ = sys::dup2(fds.stdio[0], 2);
    if sys::dup2(fds.status, 3).is_err() || sys::close_from(4, false).is_err() {
        sysclone::exit(124);
    }
    let all = SigSet::all();
    let status = loop {
        match all.wait() {
            Ok(Signal::SIGCHLD) => {
                if let Some(status) = reap(program) {
                    break status;
                }
            }
            // Stop and kill requests: pass them to every process of the container.
            Ok(signal) => {
                let _ = kill(Pid::from_raw(-1), signal);
            }
            Err(_) => (),
        }
    };
    // The program is gone: end the rest of the container and reap it.
    let _ = kill(Pid::from_raw(-1), Signal::SIGKILL);
    while waitpid(Pid::from_raw(-1), None).is_ok() {}
    let _ = sys::write_all(3, &status);
    sysclone::exit(0)
}

/// Reap every exited child; the status record once the program itself has ended.
fn reap(program: Pid) -> Option<[u8; STATUS_SIZE]> {
    let mut result = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == program => {
                result = Some(record(0, code));
            }
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == program => {
                result = Some(record(1, signal as i32));
            }
            Ok(WaitStatus::StillAlive) | Err(_) => return result,
            Ok(_) => (),
        }
    }
}

fn record(kind: i32, value: i32) -> [u8; STATUS_SIZE] {
    let mut b = [0u8; STATUS_SIZE];
    b[..4].copy_from_slice(&kind.to_ne_bytes());
    b[4..].copy_from_slice(&value.to_ne_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    use nix::sys::statvfs::{statvfs, FsFlags};
    use std::{ffi::CString, path::Path};

    fn flags(path: &Path) -> FsFlags {
        statvfs(path).unwrap().flags()
    }

    fn dir(path: &Path) -> OwnedFd {
        mnt::open_dir(&CString::new(path.to_str().unwrap()).unwrap()).unwrap()
    }

    /// Both ways to bind (detached tree with its attributes, `mount(2)` of the fd path),
    /// recursive with a submount, as root in a private mount namespace of this thread.
    #[test]
    fn binds_from_descriptors() {
        nix::sched::unshare(CloneFlags::CLONE_NEWNS).unwrap();
        let none: Option<&CStr> = None;
        mount(
            none,
            c"/",
            none,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            none,
        )
        .unwrap();
        let t = tempfile::tempdir().unwrap();
        let (root, source) = (t.path().join("root"), t.path().join("source"));
        for d in [root.join("a"), root.join("b"), source.join("sub")] {
            std::fs::create_dir_all(d).unwrap();
        }
        let sub = source.join("sub");
        mount(Some(c"tmpfs"), &sub, Some(c"tmpfs"), MsFlags::empty(), none).unwrap();
        let root_fd = dir(&root);
        let source_fd = dir(&source);
        let all = mnt::ATTR_RDONLY | mnt::ATTR_NOSUID | mnt::ATTR_NODEV | mnt::ATTR_NOEXEC;
        let at = mnt::open_beneath(root_fd.as_fd(), c"a", false).unwrap();
        bind(root_fd.as_fd(), &source_fd, &at, c"a", all, true).unwrap();
        let every =
            FsFlags::ST_RDONLY | FsFlags::ST_NOSUID | FsFlags::ST_NODEV | FsFlags::ST_NOEXEC;
        assert!(flags(&root.join("a")).contains(every));
        assert!(flags(&root.join("a/sub")).contains(every), "the submount");
        assert!(
            !flags(&sub).contains(FsFlags::ST_RDONLY),
            "the source is unchanged"
        );
        let at = mnt::open_beneath(root_fd.as_fd(), c"b", false).unwrap();
        let some = mnt::ATTR_RDONLY | mnt::ATTR_NOSUID;
        assert_eq!(
            bind_by_path(root_fd.as_fd(), &source_fd, &at, c"b", some, true),
            Err(libc::ENOSYS)
        );
        bind_by_path(root_fd.as_fd(), &source_fd, &at, c"b", some, false).unwrap();
        let b = flags(&root.join("b"));
        assert!(b.contains(FsFlags::ST_RDONLY | FsFlags::ST_NOSUID));
        assert!(!b.contains(FsFlags::ST_NOEXEC));
        // A file (an allowed entry such as a socket) is bound as it is.
        std::fs::write(t.path().join("file"), "content").unwrap();
        std::fs::write(root.join("file"), "").unwrap();
        let file = mnt::open_path(&CString::new(t.path().join("file").to_str().unwrap()).unwrap())
            .unwrap();
        let at = mnt::open_beneath(root_fd.as_fd(), c"file", false).unwrap();
        bind(root_fd.as_fd(), &file, &at, c"file", all, false).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("file")).unwrap(),
            "content"
        );
        chdir(c"/").unwrap();
        for m in [root.join("a"), root.join("b"), root.join("file"), sub] {
            umount2(&m, MntFlags::MNT_DETACH).unwrap();
        }
    }

    #[test]
    fn failure_records_round_trip() {
        for step in Step::ALL {
            let f = Failure {
                step,
                errno: 13,
                index: 7,
            };
            assert_eq!(Failure::decode(&f.encode()), Some(f));
        }
        assert_eq!(Failure::decode(&[0; Failure::SIZE]), None);
    }
}
