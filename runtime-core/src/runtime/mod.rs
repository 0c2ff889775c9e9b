//! The supervisor: one single-threaded event loop (epoll) that owns the runtime's state.
//! Container exits arrive as readable pidfds, program starts as end of file on an error
//! pipe, output on pipes, requests through a channel with an eventfd to wake the loop.
//! Deadlines (stop grace periods, restart backoff) are the loop's timeout. Work that may
//! take long (verifying a package being installed) runs on a worker thread and comes back
//! as a message, so supervision never waits for it.
//!
//! [`Runtime::start`] runs the loop on its own thread and returns a [`Handle`]; PID 1 and
//! the host daemon use the same handle.

mod active;
pub mod api;
mod console;
mod data;
mod events;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod inspect;
mod lifecycle;
mod notify;
mod oom;
mod output;
mod requests;
mod restart;
mod snapshot;
mod start;
mod state;
mod supervisor;
mod update;

pub use api::{
    ContainerInfo, ContainerState, Inspection, Notification, ProcessInfo, Request, RequestError,
    Response, UpdateOptions,
};
pub use console::{ConsoleHandOver, ConsolePort};
pub use start::StartError;
pub use state::Answer;

use crate::{
    cgroups::{Defaults, Hierarchy, RuntimeGroup, RuntimeLimits},
    config::Config,
    id::ContainerId,
    repository::Registry,
    wake::{wake_queue, WakeReceiver, WakeSender},
};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollTimeout};
use npk::manifest::Autostart;
use state::{Reply, Source, State};
use std::{
    sync::mpsc::{self, Receiver, Sender},
    thread::JoinHandle,
    time::Instant,
};

/// The runtime could not start or ended with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("repositories")]
    Repository(#[from] crate::repository::Error),
    #[error("cgroups")]
    Cgroups(#[from] crate::cgroups::Error),
    #[error("networks")]
    Network(#[from] crate::net::Error),
    #[error("{what}")]
    Os {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("the event loop thread ended abnormally")]
    Thread,
}

fn os(what: &'static str) -> impl FnOnce(nix::Error) -> Error {
    move |e| Error::Os {
        what,
        source: e.into(),
    }
}

/// Messages into the loop.
pub(crate) enum Message {
    Request(Request, Reply),
    /// Answer with a container's captured output (as `Request::Logs`) and from then on
    /// call the follower with each new line.
    Follow(ContainerId, state::Follower, Reply),
    Subscribe(Sender<Notification>),
    /// A worker prepared a package for installation.
    Prepared {
        repository: String,
        result: Box<Result<crate::repository::Prepared, crate::repository::Error>>,
        reply: Reply,
        /// Errors that say why a package was refused (`Request::Upload`).
        detailed: bool,
    },
    /// A worker verified the packages of an update.
    UpdatePrepared {
        repository: String,
        result: Result<Vec<crate::repository::Prepared>, crate::repository::Error>,
        options: api::UpdateOptions,
        reply: Reply,
    },
}

/// A way back into the loop for worker threads.
#[derive(Clone)]
pub(crate) struct Worker {
    queue: WakeSender<Message>,
}

impl Worker {
    /// Queue a message and wake the loop (if it has ended, the message is dropped).
    pub(crate) fn send(&self, message: Message) {
        let _ = self.queue.send(message);
    }
}

/// A way to send requests to a running runtime from any thread; it does not keep the
/// runtime alive (the [`Handle`] does).
#[derive(Clone)]
pub struct Requester {
    queue: WakeSender<Message>,
}

impl Requester {
    fn send(&self, message: Message) -> Result<(), RequestError> {
        self.queue.send(message).map_err(|_| RequestError::Gone)
    }

    /// Send a request and wait for its answer.
    pub fn request(&self, request: Request) -> Result<Response, RequestError> {
        let (reply, answer) = mpsc::channel();
        self.send(Message::Request(request, Reply::channel(reply)))?;
        answer.recv().map_err(|_| RequestError::Gone)?
    }

    /// Send a request; `then` is called once with the answer, on the runtime's thread (it
    /// must not block). When the runtime has ended it is called at once with
    /// [`RequestError::Gone`].
    pub fn request_then(&self, request: Request, then: impl FnOnce(Answer) + Send + 'static) {
        // A message that cannot be sent is dropped, and its reply answers `Gone`.
        let _ = self.send(Message::Request(request, Reply::new(then)));
    }

    /// Receive every notification from now on.
    pub fn subscribe(&self) -> Result<Receiver<Notification>, RequestError> {
        let (tx, rx) = mpsc::channel();
        self.send(Message::Subscribe(tx))?;
        Ok(rx)
    }

    /// The captured output of `id` (answered through `then` as `Request::Logs` is, or
    /// with [`RequestError::Gone`] when the runtime has ended), and
    /// from then on every new line of it: `follower` is called on the runtime's thread
    /// with the lines (it must not block), with no lines to ask whether it is still
    /// wanted, and with `None` when the container is uninstalled or the runtime ends. It
    /// is dropped when it returns `false`.
    pub fn follow(
        &self,
        id: ContainerId,
        follower: impl FnMut(Option<&[String]>) -> bool + Send + 'static,
        then: impl FnOnce(Answer) + Send + 'static,
    ) {
        let _ = self.send(Message::Follow(id, Box::new(follower), Reply::new(then)));
    }
}

/// A handle to a running runtime. Dropping it shuts the runtime down.
pub struct Handle {
    requester: Requester,
    thread: Option<JoinHandle<Result<(), Error>>>,
}

impl Handle {
    /// Send a request and wait for its answer.
    pub fn request(&self, request: Request) -> Result<Response, RequestError> {
        self.requester.request(request)
    }

    /// Receive every notification from now on.
    pub fn subscribe(&self) -> Result<Receiver<Notification>, RequestError> {
        self.requester.subscribe()
    }

    /// A requester for other threads (the management API server).
    pub fn requester(&self) -> Requester {
        self.requester.clone()
    }

    /// Stop every container, unmount everything and end the loop.
    pub fn shutdown(mut self) -> Result<(), Error> {
        self.finish()
    }

    fn finish(&mut self) -> Result<(), Error> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let _ = self.request(Request::Shutdown);
        thread.join().map_err(|_| Error::Thread)?
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            log::error!("runtime shutdown: {e}");
        }
    }
}

/// The runtime.
pub struct Runtime;

impl Runtime {
    /// Load the repositories (every package checked; failures are reported as
    /// [`Notification::Rejected`] to the first subscriber and logged), set up cgroups,
    /// start the autostart containers and run the loop on its own thread.
    pub fn start(config: Config) -> Result<Handle, Error> {
        launch(config, None, None)
    }

    /// Like [`Runtime::start`], and subscribed before the loop begins: the receiver sees
    /// every notification of the start-up, autostart containers included.
    pub fn start_subscribed(config: Config) -> Result<(Handle, Receiver<Notification>), Error> {
        Runtime::start_with(config, None)
    }

    /// Like [`Runtime::start_subscribed`], and containers with a `console` get a
    /// connection whose other end goes to `console` (the management API server's port,
    /// created before the runtime so that autostart containers get theirs too).
    pub fn start_with(
        config: Config,
        console: Option<ConsolePort>,
    ) -> Result<(Handle, Receiver<Notification>), Error> {
        let (tx, rx) = mpsc::channel();
        let handle = launch(config, Some(tx), console)?;
        Ok((handle, rx))
    }
}

fn launch(
    config: Config,
    subscriber: Option<Sender<Notification>>,
    console: Option<ConsolePort>,
) -> Result<Handle, Error> {
    {
        let (registry, rejected) = Registry::load(&config)?;
        for r in &rejected {
            log::warn!(
                "{}: rejected: {}",
                r.path.display(),
                requests::error_chain(&r.error)
            );
        }
        if config.development {
            let unverified: Vec<&str> = registry
                .repositories()
                .filter(|r| r.key().is_none())
                .map(|r| r.name())
                .collect();
            log::warn!(
                "DEVELOPMENT IMAGE: unsigned packages are accepted from repositories {}; \
                 not for production",
                unverified.join(", ")
            );
        }
        data::migrate(&config.data_dir, &registry);
        let active = active::Active::load(&config.data_dir, &active::installed(&registry));
        let hierarchy = Hierarchy::detect(&config.cgroups.root)?;
        let mut cgroups = RuntimeGroup::create(hierarchy, &config.cgroups.name)?;
        cgroups.set_defaults(Defaults::from_config(&config.cgroups));
        let meminfo = std::fs::read_to_string("/proc/meminfo").map_err(|source| Error::Os {
            what: "read /proc/meminfo",
            source,
        })?;
        cgroups.limit(&RuntimeLimits::from_config(&config.cgroups, &meminfo)?)?;
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(os("create epoll"))?;
        let (queue, inbox) = wake_queue().map_err(os("create eventfd"))?;
        let group_file = std::fs::read_to_string("/etc/group").unwrap_or_default();
        let last_cap = northstar_sys::caps::last_cap().map_err(|source| Error::Os {
            what: "read cap_last_cap",
            source,
        })?;
        std::fs::create_dir_all(&config.run_dir).map_err(|source| Error::Os {
            what: "create run_dir",
            source,
        })?;
        let worker = Worker {
            queue: queue.clone(),
        };
        let networks = crate::net::Networks::create(&config.network, &config.run_dir)?;
        let mut state = State::new(
            config, registry, cgroups, epoll, group_file, last_cap, worker,
        );
        state.networks = networks;
        state.active = active;
        state.subscribers.extend(subscriber);
        state.console = console;
        state
            .watch(inbox.fd(), Source::Wake)
            .map_err(os("watch eventfd"))?;
        let thread = std::thread::Builder::new()
            .name("northstar".into())
            .spawn(move || run(state, inbox))
            .map_err(|source| Error::Os {
                what: "spawn the event loop thread",
                source,
            })?;
        Ok(Handle {
            requester: Requester { queue },
            thread: Some(thread),
        })
    }
}

/// Mount every package of the repositories marked `mount_on_start`.
fn mount_on_start(state: &mut State) {
    let ids: Vec<_> = state
        .registry
        .iter()
        .filter(|(repository, _)| {
            state
                .config
                .repositories
                .get(*repository)
                .is_some_and(|r| r.mount_on_start)
        })
        .map(|(_, p)| p.id())
        .collect();
    for id in ids {
        if let Err(e) = start::mount_image(state, &id, &id) {
            log::warn!("{}", requests::error_chain(&e));
        }
    }
}

/// Start the active version of each container whose manifest asks for it, unless the
/// operator disabled it.
fn autostart(state: &mut State) {
    let ids: Vec<_> = state
        .registry
        .iter()
        .filter(|(repository, p)| {
            let manifest = p.manifest();
            manifest.autostart.is_some()
                && state
                    .active
                    .autostarts(repository, manifest.name.as_str(), &manifest.version)
        })
        .map(|(_, p)| (p.id(), p.manifest().autostart))
        .collect();
    for (id, kind) in ids {
        // A failed launch is logged and told by the lifecycle.
        if let Err(error) = supervisor::start(state, &id, (None, None), None) {
            if kind == Some(Autostart::Critical) {
                events::critical_failure(state, &id, error);
            }
        }
    }
}

/// The event loop.
fn run(mut state: State, inbox: WakeReceiver<Message>) -> Result<(), Error> {
    // Subscriptions sent before the loop began see the start-up; requests sent before it
    // are handled after it.
    let mut early = Vec::new();
    for message in inbox.drain() {
        match message {
            Message::Subscribe(tx) => state.subscribers.push(tx),
            other => early.push(other),
        }
    }
    update::resume(&mut state);
    mount_on_start(&mut state);
    autostart(&mut state);
    for message in early {
        handle(&mut state, message);
    }
    let mut events = [EpollEvent::empty(); 64];
    loop {
        if let Some(replies) = state.shutdown.as_ref() {
            if !state.any_running() {
                let _ = replies;
                return finish(state);
            }
        }
        let timeout = match state.next_deadline() {
            None => EpollTimeout::NONE,
            Some(deadline) => {
                let ms = deadline
                    .saturating_duration_since(Instant::now())
                    .as_millis();
                EpollTimeout::from(u16::try_from(ms.saturating_add(1)).unwrap_or(u16::MAX))
            }
        };
        let n = match state.epoll.wait(&mut events, timeout) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => 0,
            Err(e) => return Err(os("wait for events")(e)),
        };
        for event in events.iter().take(n) {
            let Some(source) = state.sources.get(&event.data()).cloned() else {
                continue;
            };
            match source {
                Source::Wake => {
                    for message in inbox.drain() {
                        handle(&mut state, message);
                    }
                }
                Source::Exec(id) => events::exec(&mut state, &id),
                Source::Exit(id) => events::exit(&mut state, &id),
                Source::Output(id, stream) => events::output(&mut state, &id, stream),
                Source::Oom(id) => oom::ready(&mut state, &id),
                Source::Notify(id) => notify::readable(&mut state, &id),
            }
        }
        events::timers(&mut state, Instant::now());
    }
}

fn handle(state: &mut State, message: Message) {
    match message {
        Message::Request(request, reply) => requests::handle(state, request, reply),
        Message::Follow(id, follower, reply) => requests::follow(state, id, follower, reply),
        Message::Subscribe(tx) => state.subscribers.push(tx),
        Message::Prepared {
            repository,
            result,
            reply,
            detailed,
        } => requests::installed(state, &repository, *result, reply, detailed),
        Message::UpdatePrepared {
            repository,
            result,
            options,
            reply,
        } => update::prepared(state, repository, result, options, reply),
    }
}

/// Every container has ended: unmount, remove cgroups, answer the shutdown.
fn finish(mut state: State) -> Result<(), Error> {
    let mounts = std::mem::take(&mut state.mounts);
    for (id, mounted) in mounts {
        let target = mounted.target().display().to_string();
        let verity = mounted
            .dm_name()
            .map_or("no dm-verity device".to_string(), |name| {
                format!("dm-verity device {name} removed")
            });
        let loop_device = mounted.loop_device().display().to_string();
        match mounted.umount() {
            Ok(()) => log::info!("{id}: unmounted {target}, {verity}, {loop_device} detached"),
            Err(e) => log::error!("{id}: unmount: {}", requests::error_chain(&e)),
        }
    }
    state.networks.remove();
    if let Err(e) = state.cgroups.destroy() {
        log::warn!("remove the runtime's cgroup: {e}");
    }
    state.notify(Notification::Shutdown);
    for (_, mut follower) in std::mem::take(&mut state.followers) {
        follower(None);
    }
    for reply in state.shutdown.take().into_iter().flatten() {
        let _ = reply.send(Ok(Response::Ok));
    }
    Ok(())
}
