//! Launching a container process from a plan: pipes, clone into the namespaces (and the
//! cgroup), cgroup placement before the process runs anything, then the go signal.
//!
//! Order matters: the child waits on the go pipe until the runtime has placed it in its
//! cgroup (cgroup v1; on v2 `CLONE_INTO_CGROUP` already did), so no instruction of the
//! container runs outside its limits.

use super::{
    child::{self, ChildFds},
    error::LaunchError,
    plan::Plan,
};
use crate::cgroups::ContainerGroup;
use nix::{fcntl::OFlag, sched::CloneFlags, unistd::pipe2};
use npk::manifest::Output;
use std::{
    fs::File,
    os::fd::{AsFd, AsRawFd, OwnedFd},
};

/// A launched container process: its init's pid and pidfd and the runtime's ends of its
/// pipes.
#[derive(Debug)]
pub(crate) struct Launched {
    /// Pid of the container's init (PID 1 in its namespace), in the runtime's namespace.
    pub pid: i32,
    /// pidfd of the container's init.
    pub pidfd: OwnedFd,
    /// Read end of the error pipe: a failure record, or end of file once the program runs.
    pub error: OwnedFd,
    /// Read end of the status pipe: the program's exit status when it ends.
    pub status: OwnedFd,
    /// Read ends of captured stdout and stderr (`pipe` and `inherit`).
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

fn io(what: &'static str) -> impl FnOnce(nix::Error) -> LaunchError {
    move |e| LaunchError::Io {
        what,
        source: e.into(),
    }
}

/// One output stream of the program: the fd the child gets, and the runtime's read end.
/// `inherit` is a pipe as well: the runtime relays it to its own stream, so the container
/// never holds the runtime's stdout or stderr (PID 1's console).
fn output(out: Output, null: &OwnedFd) -> Result<(OwnedFd, Option<OwnedFd>), LaunchError> {
    match out {
        Output::Discard => Ok((dup(null.as_fd())?, None)),
        Output::Pipe | Output::Inherit => {
            let (read, write) = pipe2(OFlag::O_CLOEXEC).map_err(io("create an output pipe"))?;
            Ok((write, Some(read)))
        }
    }
}

fn dup(fd: std::os::fd::BorrowedFd<'_>) -> Result<OwnedFd, LaunchError> {
    fd.try_clone_to_owned().map_err(|source| LaunchError::Io {
        what: "duplicate a file descriptor",
        source,
    })
}

/// A copy of `fd` at 64 or above (close-on-exec): the child moves passed descriptors to
/// 3, 4, ... and must not overwrite one it still needs.
fn high(fd: impl AsFd) -> Result<OwnedFd, LaunchError> {
    northstar_sys::child::dup_at_least(fd.as_fd(), 64).map_err(|source| LaunchError::Io {
        what: "move a file descriptor",
        source,
    })
}

/// Clone the container process, place it in `cgroup` and let it run its plan. `pass` are
/// handed to the program as fd 3, 4, ...
pub(crate) fn launch(
    plan: &Plan,
    cgroup: &ContainerGroup,
    stdout: Output,
    stderr: Output,
    pass: &[OwnedFd],
) -> Result<Launched, LaunchError> {
    let null = File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map_err(|source| LaunchError::Io {
            what: "open /dev/null",
            source,
        })?;
    let null = high(null)?;
    let (go_read, go_write) = pipe2(OFlag::O_CLOEXEC).map_err(io("create the go pipe"))?;
    let go_read = high(go_read)?;
    let (error_read, error_write) = pipe2(OFlag::O_CLOEXEC).map_err(io("create the error pipe"))?;
    let error_write = high(error_write)?;
    let (status_read, status_write) =
        pipe2(OFlag::O_CLOEXEC).map_err(io("create the status pipe"))?;
    let status_write = high(status_write)?;
    let (out_child, out_read) = output(stdout, &null)?;
    let out_child = high(out_child)?;
    let (err_child, err_read) = output(stderr, &null)?;
    let err_child = high(err_child)?;
    let passed = pass.iter().map(high).collect::<Result<Vec<_>, _>>()?;
    let mut fds = ChildFds {
        go: go_read.as_raw_fd(),
        error: error_write.as_raw_fd(),
        status: status_write.as_raw_fd(),
        stdio: [
            null.as_raw_fd(),
            out_child.as_raw_fd(),
            err_child.as_raw_fd(),
        ],
        pass: [-1; super::sockets::MAX_PASS],
        pass_count: passed.len().min(super::sockets::MAX_PASS),
    };
    for (slot, fd) in fds.pass.iter_mut().zip(&passed) {
        *slot = fd.as_raw_fd();
    }
    // Only the PID namespace is created by the clone (its first process must be the
    // container's init); the child creates the others itself (see `child::run`).
    let namespaces = CloneFlags::CLONE_NEWPID;
    let (pid, pidfd) = northstar_sys::clone::spawn(namespaces.bits(), cgroup.clone_fd(), || {
        child::run(plan, fds)
    })
    .map_err(LaunchError::Clone)?;
    // The child's ends are closed here (when these values drop) so the runtime sees end
    // of file on the pipes when the container's processes are gone.
    drop((
        go_read,
        error_write,
        status_write,
        out_child,
        err_child,
        passed,
    ));
    if cgroup.clone_fd().is_none() {
        if let Err(e) = cgroup.add(pid) {
            // Closing the go pipe makes the child exit without running anything.
            drop(go_write);
            let _ = northstar_sys::clone::pidfd_signal(pidfd.as_fd(), libc::SIGKILL);
            let _ = northstar_sys::clone::pidfd_wait(pidfd.as_fd());
            return Err(LaunchError::Cgroup(e));
        }
    }
    northstar_sys::child::write_all(go_write.as_raw_fd(), &[1]).map_err(LaunchError::Release)?;
    Ok(Launched {
        pid,
        pidfd,
        error: error_read,
        status: status_read,
        stdout: out_read,
        stderr: err_read,
    })
}
