//! The runtime under PID 1: started with the configuration from the verified root, its
//! notifications forwarded into the main loop, shut down off the main loop.
//!
//! The main loop waits in `poll` and never on a channel. A small forwarding thread
//! blocks on the runtime's notification channel and, for each notification, queues it
//! (with the time it arrived) and writes an eventfd the main loop polls; the thread that
//! runs the runtime's shutdown reports its end the same way. Both threads are spawned
//! after the init blocked its signals, so they never take one.

use nix::sys::eventfd::{EfdFlags, EventFd};
use runtime_core::{
    config::{self, Config},
    runtime::{ContainerInfo, ContainerState, Handle, Notification, Request, Response, Runtime},
};
use std::{
    os::fd::{AsFd, BorrowedFd},
    sync::{
        mpsc::{self, Receiver, Sender},
        Arc,
    },
    time::{Duration, Instant},
};

/// Why the runtime could not be started.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create the event channel: {0}")]
    EventFd(#[source] nix::errno::Errno),
    #[error("cannot start")]
    Start(#[from] runtime_core::runtime::Error),
    #[error("cannot spawn the notification thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("cannot list the containers: {0}")]
    List(String),
}

/// Something for the main loop.
#[derive(Debug)]
pub enum Event {
    /// A runtime notification and when it arrived.
    Notification(Instant, Notification),
    /// The notification stream ended: the runtime's loop is gone.
    Gone,
    /// The runtime's shutdown finished (the error chain, if it failed).
    Stopped(Result<(), String>),
}

/// The queue of [`Event`]s and the eventfd that says it is not empty.
pub struct Events {
    tx: Sender<Event>,
    rx: Receiver<Event>,
    wake: Arc<EventFd>,
}

impl Events {
    /// A new, empty queue.
    pub fn new() -> Result<Events, Error> {
        let wake = EventFd::from_value_and_flags(0, EfdFlags::EFD_NONBLOCK | EfdFlags::EFD_CLOEXEC)
            .map_err(Error::EventFd)?;
        let (tx, rx) = mpsc::channel();
        Ok(Events {
            tx,
            rx,
            wake: Arc::new(wake),
        })
    }

    /// The descriptor the main loop polls.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    /// A way to queue events from another thread.
    fn sender(&self) -> Queue {
        Queue {
            tx: self.tx.clone(),
            wake: self.wake.clone(),
        }
    }

    /// Every queued event, in order.
    pub fn drain(&self) -> Vec<Event> {
        // Non-blocking: EAGAIN when the counter is already 0.
        let _ = self.wake.read();
        self.rx.try_iter().collect()
    }
}

#[derive(Clone)]
struct Queue {
    tx: Sender<Event>,
    wake: Arc<EventFd>,
}

impl Queue {
    fn send(&self, event: Event) -> bool {
        if self.tx.send(event).is_err() {
            return false;
        }
        let _ = self.wake.write(1);
        true
    }
}

/// A started runtime.
pub struct Running {
    pub handle: Handle,
    /// The runtime configuration's `critical`.
    pub critical: config::Reaction,
    /// The runtime configuration's `stop_timeout`.
    pub stop_timeout: Duration,
}

/// Start the runtime, forward its notifications to `events`, and list the containers
/// that autostart began (running, starting or restarting).
pub fn start(config: Config, events: &Events) -> Result<(Running, Vec<ContainerInfo>), Error> {
    let critical = config.critical;
    let stop_timeout = config.stop_timeout;
    // Subscribed before the loop begins: autostart failures are never missed.
    let (handle, notifications) = Runtime::start_subscribed(config)?;
    let queue = events.sender();
    std::thread::Builder::new()
        .name("notifications".into())
        .spawn(move || {
            for n in notifications {
                if !queue.send(Event::Notification(Instant::now(), n)) {
                    return;
                }
            }
            queue.send(Event::Gone);
        })
        .map_err(Error::Thread)?;
    // Answered after the loop has begun every autostart container.
    let containers = match handle.request(Request::List) {
        Ok(Response::Containers(list)) => list,
        Ok(other) => return Err(Error::List(format!("unexpected answer {other:?}"))),
        Err(e) => return Err(Error::List(e.to_string())),
    };
    let started = containers
        .into_iter()
        .filter(|c| {
            matches!(
                c.state,
                ContainerState::Starting | ContainerState::Running | ContainerState::Restarting
            )
        })
        .collect();
    Ok((
        Running {
            handle,
            critical,
            stop_timeout,
        },
        started,
    ))
}

/// Shut the runtime down on a thread of its own (containers stopped with their grace
/// period, packages unmounted, devices removed); [`Event::Stopped`] says when it is done.
pub fn stop(running: Running, events: &Events) {
    let queue = events.sender();
    let done = queue.clone();
    let handle = running.handle;
    let spawned = std::thread::Builder::new()
        .name("shutdown".into())
        .spawn(move || {
            let result = handle.shutdown().map_err(|e| crate::logger::chain(&e));
            queue.send(Event::Stopped(result));
        });
    if let Err(e) = spawned {
        // The closure, and the handle with it, was dropped by the failed spawn: dropping
        // a handle shuts the runtime down, on this thread.
        log::warn!("cannot spawn the shutdown thread ({e}): the runtime was shut down in place");
        done.send(Event::Stopped(Ok(())));
    }
}
