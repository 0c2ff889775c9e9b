//! The runtime's state: configuration, registry, mounted images, running containers and
//! the event sources of the loop. One value, owned by the event loop thread.

use super::{
    api::{ContainerState, Notification, RequestError, Response},
    lifecycle::{Lifecycle, Phase},
    output::{Lines, RateLimit, Relay, Ring, LOG_LINES_PER_SEC},
};
use crate::{
    cgroups::{ContainerGroup, RuntimeGroup},
    config::Config,
    id::ContainerId,
    mount::Mounted,
    repository::Registry,
};
use nix::sys::epoll::{Epoll, EpollEvent, EpollFlags};
use std::{
    collections::BTreeMap,
    os::fd::{AsFd, OwnedFd},
    sync::mpsc::Sender,
    time::{Duration, Instant},
};

/// The instant `wait` after `now`. A wait the clock cannot hold (a timeout of centuries)
/// is as good as forever: a year.
pub(crate) fn deadline(now: Instant, wait: Duration) -> Instant {
    const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
    now.checked_add(wait)
        .or_else(|| now.checked_add(YEAR))
        .unwrap_or(now)
}

/// The answer to a request.
pub type Answer = Result<Response, RequestError>;

/// Where a reply goes: called once, on the loop's thread, with the answer. It must not
/// block (it forwards the answer to a channel). A reply dropped unanswered (the loop
/// ended, a worker could not be started) answers [`RequestError::Gone`].
pub(crate) struct Reply(Option<Box<dyn FnOnce(Answer) + Send>>);

impl Reply {
    /// A reply that calls `f` with the answer.
    pub(crate) fn new(f: impl FnOnce(Answer) + Send + 'static) -> Reply {
        Reply(Some(Box::new(f)))
    }

    /// A reply into a channel.
    pub(crate) fn channel(tx: Sender<Answer>) -> Reply {
        Reply::new(move |answer| {
            let _ = tx.send(answer);
        })
    }

    /// Deliver the answer.
    pub(crate) fn send(mut self, answer: Answer) -> Result<(), ()> {
        if let Some(f) = self.0.take() {
            f(answer);
        }
        Ok(())
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f(Err(RequestError::Gone));
        }
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reply")
    }
}

/// Called with new lines of a followed log, `None` at its end, and with no lines to ask
/// whether it is still wanted; dropped when it returns `false`.
pub(crate) type Follower = Box<dyn FnMut(Option<&[String]>) -> bool + Send>;

/// What an epoll token stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// The wake-up eventfd of the request channel.
    Wake,
    /// The pidfd of a container's init: readable when it exits.
    Exit(ContainerId),
    /// The error pipe of a starting container: a failure record or end of file at exec.
    Exec(ContainerId),
    /// Captured stdout (1) or stderr (2).
    Output(ContainerId, u8),
    /// The OOM watch of a running container.
    Oom(ContainerId),
    /// The notify socket of a running container (sd_notify).
    Notify(ContainerId),
}

/// A captured output stream.
#[derive(Debug)]
pub(crate) struct Stream {
    pub fd: OwnedFd,
    pub token: u64,
    pub lines: Lines,
    /// `io: inherit`: copied to the runtime's own stream ([`Relay`]) instead of the log.
    pub relay: bool,
}

/// A live container process.
#[derive(Debug)]
pub(crate) struct Process {
    pub pid: i32,
    pub pidfd: OwnedFd,
    pub pidfd_token: u64,
    /// Error pipe, until the program executed (or the start failed).
    pub exec: Option<(OwnedFd, u64)>,
    pub status: OwnedFd,
    pub stdout: Option<Stream>,
    pub stderr: Option<Stream>,
    pub cgroup: Option<ContainerGroup>,
    pub started: Instant,
    /// A start failure reported by the process before it could execute the program.
    pub failure: Option<String>,
    /// Images of resources this run uses (kept mounted while it runs).
    pub resources: Vec<ContainerId>,
    /// The path of each mount step, to name it in a failure.
    pub mount_targets: Vec<String>,
    /// Wakes the loop when the OOM killer acts in the container's cgroup.
    pub oom: Option<super::oom::Watch>,
    /// The notify socket, readiness, status and watchdog of this run.
    pub notify: Option<super::notify::Notify>,
}

/// What the runtime keeps about a container across runs.
#[derive(Debug)]
pub(crate) struct Container {
    /// The phase, restart policy state and last exit (decides; see `lifecycle`).
    pub life: Lifecycle,
    pub process: Option<Process>,
    /// Replies waiting for the program to run.
    pub start_replies: Vec<Reply>,
    /// Replies waiting for the container to end.
    pub stop_replies: Vec<Reply>,
    /// The start being launched (`None`: a restart, with the arguments of the last one).
    pub launch: Option<super::supervisor::Pending>,
    /// What the loop keeps of a start whose launch is in flight on a launcher thread.
    pub flight: Option<super::supervisor::Flight>,
    pub output: Ring,
    pub log_limit: RateLimit,
    /// Arguments and environment of the last explicit start, reused by restarts.
    pub args: Option<Vec<String>>,
    pub env: Option<BTreeMap<String, String>>,
    /// Whether the last start applied the manifest's SELinux context.
    pub selinux: Option<crate::container::selinux::SelinuxStatus>,
}

impl Container {
    pub(crate) fn new(log_buffer: u64) -> Container {
        Container {
            life: Lifecycle::default(),
            process: None,
            start_replies: Vec::new(),
            stop_replies: Vec::new(),
            launch: None,
            flight: None,
            output: Ring::new(usize::try_from(log_buffer).unwrap_or(usize::MAX)),
            log_limit: RateLimit::new(LOG_LINES_PER_SEC),
            args: None,
            env: None,
            selinux: None,
        }
    }

    pub(crate) fn state(&self) -> ContainerState {
        match self.life.phase {
            Phase::Stopped => ContainerState::Stopped,
            Phase::Launching { .. } | Phase::Starting => ContainerState::Starting,
            // A failed start is running until its process has ended.
            Phase::Running | Phase::Failed => ContainerState::Running,
            Phase::Stopping { .. } => ContainerState::Stopping,
            Phase::Restarting { .. } => ContainerState::Restarting,
        }
    }

    /// Whether the current run (`own` is this container) uses the image `image`: its own,
    /// or a resource, also while its launch is in flight.
    pub(crate) fn uses(&self, own: &ContainerId, image: &ContainerId) -> bool {
        let resources = match (&self.process, &self.flight) {
            (Some(p), _) => &p.resources,
            (None, Some(f)) => &f.start.resources,
            (None, None) => return false,
        };
        own == image || resources.contains(image)
    }
}

/// Who hears the notifications: a channel, or a function called on the loop's thread (it
/// must not block), which keeps the order of notifications and answers for a receiver
/// that also gets its answers on the loop's thread (the management API server's inbox).
pub(crate) enum Subscriber {
    Channel(Sender<Notification>),
    Call(Box<dyn FnMut(Notification) -> bool + Send>),
}

impl Subscriber {
    /// Pass `notification` on; `false` when the subscriber is gone.
    fn send(&mut self, notification: Notification) -> bool {
        match self {
            Subscriber::Channel(tx) => tx.send(notification).is_ok(),
            Subscriber::Call(f) => f(notification),
        }
    }
}

/// The whole state of the runtime.
pub(crate) struct State {
    pub config: Config,
    pub registry: Registry,
    pub mounts: BTreeMap<ContainerId, Mounted>,
    pub containers: BTreeMap<ContainerId, Container>,
    pub cgroups: RuntimeGroup,
    pub subscribers: Vec<Subscriber>,
    pub group_file: String,
    pub last_cap: u32,
    pub epoll: Epoll,
    pub sources: BTreeMap<u64, Source>,
    next_token: u64,
    /// Shutdown requested: replies once every container has ended.
    pub shutdown: Option<Vec<Reply>>,
    /// A critical container failed.
    pub critical: Option<(ContainerId, String)>,
    /// Where worker threads send their results.
    pub worker: super::Worker,
    /// The user-defined network namespaces.
    pub networks: crate::net::Networks,
    /// Followers of containers' output.
    pub followers: Vec<(ContainerId, Follower)>,
    /// The active version of each container.
    pub active: super::active::Active,
    /// Where containers' console connections go (the management API, when served).
    pub console: Option<super::console::ConsolePort>,
    /// The runtime's own stdout and stderr, for containers with `io: inherit`.
    pub relay: Relay,
    /// The update transaction under way.
    pub update: super::update::Updates,
    /// The threads that clone container processes, started on the first launch.
    launcher: Option<crate::container::launch::Pool>,
    /// Checks of installed packages: the running one, those waiting, the next scrub.
    pub verify: super::verify::Verifier,
}

impl State {
    pub(crate) fn new(
        config: Config,
        registry: Registry,
        cgroups: RuntimeGroup,
        epoll: Epoll,
        group_file: String,
        last_cap: u32,
        worker: super::Worker,
    ) -> State {
        let verify = super::verify::Verifier::new(config.verify.scrub_interval, Instant::now());
        State {
            config,
            registry,
            mounts: BTreeMap::new(),
            containers: BTreeMap::new(),
            cgroups,
            subscribers: Vec::new(),
            group_file,
            last_cap,
            epoll,
            sources: BTreeMap::new(),
            next_token: 1,
            shutdown: None,
            critical: None,
            worker,
            networks: Default::default(),
            followers: Vec::new(),
            active: Default::default(),
            console: None,
            relay: Relay::default(),
            update: Default::default(),
            launcher: None,
            verify,
        }
    }

    /// The launcher threads: as many as there are CPUs, at least two.
    pub(crate) fn launcher(&mut self) -> &mut crate::container::launch::Pool {
        self.launcher.get_or_insert_with(|| {
            let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
            crate::container::launch::Pool::new(cpus.max(2))
        })
    }

    /// Watch `fd` for input; returns its token.
    pub(crate) fn watch(&mut self, fd: impl AsFd, source: Source) -> nix::Result<u64> {
        let token = self.next_token;
        self.next_token = token.checked_add(1).ok_or(nix::errno::Errno::EOVERFLOW)?;
        self.epoll
            .add(fd, EpollEvent::new(EpollFlags::EPOLLIN, token))?;
        self.sources.insert(token, source);
        Ok(token)
    }

    /// Stop watching `fd`.
    pub(crate) fn unwatch(&mut self, fd: impl AsFd, token: u64) {
        let _ = self.epoll.delete(fd);
        self.sources.remove(&token);
    }

    /// Tell every subscriber; drop the ones that went away.
    pub(crate) fn notify(&mut self, notification: Notification) {
        log::debug!("{notification:?}");
        self.subscribers
            .retain_mut(|s| s.send(notification.clone()));
    }

    /// The container entry, created on first use.
    pub(crate) fn container(&mut self, id: &ContainerId) -> &mut Container {
        let log_buffer = self.config.log_buffer;
        self.containers
            .entry(id.clone())
            .or_insert_with(|| Container::new(log_buffer))
    }

    /// The earliest deadline of a stop, a restart or a watchdog.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.containers
            .values()
            .flat_map(|c| {
                // A run being stopped has only the stop's deadline.
                let watchdog = c
                    .process
                    .as_ref()
                    .filter(|_| !matches!(c.life.phase, Phase::Stopping { .. }))
                    .and_then(|p| p.notify.as_ref())
                    .and_then(|n| n.deadline());
                [c.life.deadline(), watchdog]
            })
            .flatten()
            .chain(self.update.deadline())
            .chain(self.verify.deadline())
            .min()
    }

    /// Whether any container process is alive or being launched.
    pub(crate) fn any_running(&self) -> bool {
        self.containers
            .values()
            .any(|c| c.process.is_some() || c.flight.is_some())
    }

    /// The stop grace period for a request.
    pub(crate) fn grace(&self, timeout: Option<Duration>) -> Duration {
        timeout.unwrap_or(self.config.stop_timeout)
    }
}
