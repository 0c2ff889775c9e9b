//! Launching a container process from a plan: pipes, clone into the namespaces (and the
//! cgroup), cgroup placement before the process runs anything, then the go signal.
//!
//! Order matters: the child waits on the go pipe until the runtime has placed it in its
//! cgroup (cgroup v1; on v2 `CLONE_INTO_CGROUP` already did), so no instruction of the
//! container runs outside its limits.
//!
//! Launches run on a [`Pool`] of launcher threads beside the event loop: a clone copies
//! the runtime's page tables, the most expensive part of a start, and several launches
//! run at once on several cores. The child of a clone runs only async-signal-safe code
//! (see `child`), so what the runtime's other threads hold at that moment (the
//! allocator's locks) does not matter, whichever thread clones.

use super::{
    child::{self, ChildFds},
    error::LaunchError,
    plan::Plan,
};
use crate::cgroups::ContainerGroup;
use nix::{fcntl::OFlag, sched::CloneFlags, unistd::pipe2};
use npk::manifest::Output;
use std::{
    collections::VecDeque,
    fs::File,
    os::fd::{AsFd, AsRawFd, OwnedFd},
    sync::{Arc, Condvar, Mutex, PoisonError},
    thread::JoinHandle,
};

/// A launch to run on a launcher thread; it sends its own result back.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// Launcher threads: at most `max`, each spawned when a job finds none idle, taking jobs
/// from one queue in order until the pool is dropped (which waits for them).
pub(crate) struct Pool {
    shared: Arc<Shared>,
    max: usize,
    threads: Vec<JoinHandle<()>>,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    ready: Condvar,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// Threads waiting for a job.
    idle: usize,
    closed: bool,
}

impl Pool {
    pub(crate) fn new(max: usize) -> Pool {
        Pool {
            shared: Arc::default(),
            max: max.max(1),
            threads: Vec::new(),
        }
    }

    /// Run `job` on a launcher thread; on this one when no launcher thread exists and
    /// none can be spawned.
    pub(crate) fn run(&mut self, job: Job) {
        let spawn = {
            let mut queue = self
                .shared
                .queue
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            queue.jobs.push_back(job);
            queue.jobs.len() > queue.idle && self.threads.len() < self.max
        };
        self.shared.ready.notify_one();
        if spawn {
            let shared = self.shared.clone();
            match std::thread::Builder::new()
                .name("launcher".into())
                .spawn(move || serve(&shared))
            {
                Ok(thread) => self.threads.push(thread),
                Err(e) => log::warn!("spawn a launcher thread: {e}"),
            }
        }
        if self.threads.is_empty() {
            // No thread to take it: run what is queued here.
            serve_queued(&self.shared);
        }
    }
}

/// A launcher thread: take jobs until the pool is closed.
fn serve(shared: &Shared) {
    let mut queue = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if let Some(job) = queue.jobs.pop_front() {
            drop(queue);
            job();
            queue = shared.queue.lock().unwrap_or_else(PoisonError::into_inner);
        } else if queue.closed {
            return;
        } else {
            queue.idle = queue.idle.saturating_add(1);
            queue = shared
                .ready
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
            queue.idle = queue.idle.saturating_sub(1);
        }
    }
}

/// Run every queued job on the calling thread.
fn serve_queued(shared: &Shared) {
    loop {
        let job = shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .jobs
            .pop_front();
        match job {
            Some(job) => job(),
            None => return,
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .closed = true;
        self.shared.ready.notify_all();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

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
        // The thread's name is inherited: a container's init is `northstar`, whichever
        // launcher thread cloned it.
        let _ = northstar_sys::clone::set_name(c"northstar");
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
