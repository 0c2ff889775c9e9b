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
mod corruption;
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
mod startup;
mod state;
mod supervisor;
mod update;
mod verify;

pub use api::{
    ContainerInfo, ContainerState, Inspection, Notification, ProcessInfo, Request, RequestError,
    Response, UpdateOptions, Verified,
};
pub use console::{ConsoleHandOver, ConsolePort};
pub use start::StartError;
pub use startup::{Phase, Phases};
pub use state::Answer;

use crate::{
    cgroups::{Defaults, Hierarchy, RuntimeGroup, RuntimeLimits},
    config::Config,
    id::ContainerId,
    repository::Registry,
    wake::{wake_queue, WakeReceiver, WakeSender},
};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollTimeout};
use state::{Reply, Source, State};
use std::{
    sync::mpsc::{self, Receiver},
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
    Subscribe(state::Subscriber),
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
    /// The worker checking installed packages reports one, or the end.
    Verify(verify::Progress),
    /// A launcher thread cloned a container process (or failed to).
    Launched(Box<start::Landed>),
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
        self.send(Message::Subscribe(state::Subscriber::Channel(tx)))?;
        Ok(rx)
    }

    /// Call `f` with every notification from now on, on the runtime's thread (it must not
    /// block), in the order the runtime sends notifications and calls the `then` of
    /// [`Requester::request_then`]: a notification sent before an answer reaches `f`
    /// before that `then` runs. `f` is dropped when it returns `false` or the runtime ends.
    pub fn subscribe_with(
        &self,
        f: impl FnMut(Notification) -> bool + Send + 'static,
    ) -> Result<(), RequestError> {
        self.send(Message::Subscribe(state::Subscriber::Call(Box::new(f))))
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
    phases: Phases,
}

impl Handle {
    /// The phases of the start-up so far (`registry`, `setup`, `mounts`, `starts`, in the
    /// order they ended; the last two end on the loop's thread after the start returned).
    pub fn startup(&self) -> Vec<Phase> {
        self.phases.get()
    }

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
        let handle = launch(config, Some(state::Subscriber::Channel(tx)), console)?;
        Ok((handle, rx))
    }

    /// Like [`Runtime::start_with`], with `f` subscribed before the loop begins instead of
    /// a channel: called on the runtime's thread as [`Requester::subscribe_with`] says,
    /// and dropped when it returns `false` or the runtime ends (which a value it owns can
    /// report from its `Drop`).
    pub fn start_calling(
        config: Config,
        console: Option<ConsolePort>,
        f: impl FnMut(Notification) -> bool + Send + 'static,
    ) -> Result<Handle, Error> {
        launch(config, Some(state::Subscriber::Call(Box::new(f))), console)
    }
}

fn launch(
    config: Config,
    subscriber: Option<state::Subscriber>,
    console: Option<ConsolePort>,
) -> Result<Handle, Error> {
    {
        let phases = Phases::default();
        let begin = Instant::now();
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
        phases.record("registry", begin);
        let begin = Instant::now();
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
        phases.record("setup", begin);
        let loop_phases = phases.clone();
        let thread = std::thread::Builder::new()
            .name("northstar".into())
            .spawn(move || run(state, inbox, loop_phases))
            .map_err(|source| Error::Os {
                what: "spawn the event loop thread",
                source,
            })?;
        Ok(Handle {
            requester: Requester { queue },
            thread: Some(thread),
            phases,
        })
    }
}

/// The event loop.
fn run(mut state: State, inbox: WakeReceiver<Message>, phases: Phases) -> Result<(), Error> {
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
    startup::run(&mut state, &phases);
    for message in early {
        handle(&mut state, message);
    }
    let mut events = [EpollEvent::empty(); 64];
    // Messages taken from the queue and not handled yet (see `serve`).
    let mut queued = std::collections::VecDeque::new();
    loop {
        if let Some(replies) = state.shutdown.as_ref() {
            if !state.any_running() {
                let _ = replies;
                return finish(state);
            }
        }
        let timeout = match state.next_deadline() {
            _ if !queued.is_empty() => EpollTimeout::ZERO,
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
                Source::Wake => queued.extend(inbox.drain()),
                Source::Exec(id) => events::exec(&mut state, &id),
                Source::Exit(id) => events::exit(&mut state, &id),
                Source::Output(id, stream) => events::output(&mut state, &id, stream),
                Source::Oom(id) => oom::ready(&mut state, &id),
                Source::Notify(id) => notify::readable(&mut state, &id),
            }
        }
        serve(&mut state, &mut queued);
        let now = Instant::now();
        events::timers(&mut state, now);
        verify::timers(&mut state, now);
    }
}

/// Messages handled per turn of the loop, besides the launches that came back.
const BATCH: usize = 8;

/// Handle the launches that came back (they lead to the exec reports), then at most
/// [`BATCH`] other messages in order: a flood of requests does not hold back the exec and
/// exit events that become ready meanwhile; the loop comes back for the rest at once.
fn serve(state: &mut State, queued: &mut std::collections::VecDeque<Message>) {
    let mut rest = std::collections::VecDeque::with_capacity(queued.len());
    for message in queued.drain(..) {
        match message {
            Message::Launched(landed) => supervisor::landed(state, *landed),
            other => rest.push_back(other),
        }
    }
    *queued = rest;
    let n = BATCH.min(queued.len());
    for message in queued.drain(..n) {
        handle(state, message);
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
        Message::Verify(progress) => verify::progress(state, progress),
        Message::Launched(landed) => supervisor::landed(state, *landed),
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
