//! The management API server: the protocol of `northstar-api` (`doc/api.md`) on a unix
//! socket, mapped to the runtime's requests.
//!
//! One thread runs an epoll loop of its own over the listening socket, every connection
//! and an eventfd. Answers of the runtime, notifications and the console connections of
//! containers come in through the [`Inbox`] (a channel and that eventfd), so the thread
//! never blocks on anything but epoll. Each connection gets its permissions from its peer
//! (`SO_PEERCRED` and the configuration's grants, or a container's `console`), and its
//! memory is bounded: the decoder holds at most one frame, answers and notifications
//! queue up to `write_buffer`, an install (or a system bundle) is spooled to a file.
//!
//! Owns: sockets, connections, the handshake, permissions, limits and timeouts, the
//! conversion between the runtime's types and the protocol's ([`convert`]). Does not
//! own: what a request does (the runtime), shutting the system down, the boot report and
//! the A/B system slots and their bundles (the owner of the runtime, through [`Host`]).

mod bundle;
mod conn;
mod convert;
mod deadline;
mod dispatch;
mod event;
mod install;
mod listener;
mod rate;
mod run;
#[cfg(feature = "tls")]
mod tls;
#[cfg(not(feature = "tls"))]
#[path = "no_tls.rs"]
mod tls;
mod transport;

pub use bundle::{SystemAnswered, SystemDone};
pub use event::Event;
/// The protocol crate, for owners of the runtime that build its types (a boot report).
pub use northstar_api as api;

use crate::{
    config::ApiConfig,
    config::Config,
    runtime::Requester,
    wake::{wake_queue, WakeReceiver, WakeSender},
};
use northstar_api::{BootReport, SlotMark, SlotTarget, SystemStatus};
use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{mpsc, Arc, Mutex},
    thread::JoinHandle,
};

/// The server could not be started.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("api socket {}: {what}", path.display())]
    Socket {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("api tcp listener {address}: {what}")]
    Tcp {
        address: std::net::SocketAddr,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("api tls: {}: cannot {what}: {reason}", path.display())]
    Tls {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },
    #[error("api server: {what}")]
    Os {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// What the owner of the runtime is asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Power {
    /// Stop every container and power off (PID 1) or end the runtime (host daemon).
    Shutdown,
    /// Stop every container and reboot.
    Reboot,
}

/// What the owner of the runtime is asked about its A/B system slots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SystemRequest {
    /// The state of the slots (`system_status`).
    Status,
    /// Mark a slot, then the state after it (`system_mark`).
    Mark {
        /// Good, bad or active.
        mark: SlotMark,
        /// `booted`, `other` or a slot by name (validated: 1 to 16 of `A-Z a-z 0-9 _`).
        slot: SlotTarget,
    },
}

/// The owner of the runtime (PID 1 or the host daemon): what the server cannot do itself.
pub trait Host: Send + Sync + 'static {
    /// The boot report; `None`: not supported.
    fn boot_report(&self) -> Option<BootReport>;
    /// Begin a shutdown or reboot; `false`: not supported. Must not block.
    fn power(&self, power: Power) -> bool;
    /// The A/B system slots: their state, or a mark and the state after it. `None`: not
    /// supported (answered `unsupported`, as by default); `Err(reason)`: refused or
    /// failed, nothing changed (answered `system_failed`; `reason` names the slot).
    /// Called on the server's thread: it may read and write a few KiB of boot-loader
    /// environment, nothing that takes longer.
    fn system(&self, request: SystemRequest) -> Option<Result<SystemStatus, String>> {
        let _ = request;
        None
    }
    /// Where `system_install` spools a bundle: a directory on the file system the host
    /// reads it from (`None`: bundles are not supported, as by default; the request is
    /// answered `unsupported` before any of its bytes is read). Called on the server's
    /// thread for every `system_install`.
    fn system_spool(&self) -> Option<PathBuf> {
        None
    }
    /// Install the bundle at `bundle` (a file in [`Host::system_spool`], every byte
    /// received, its digest checked when the client gave one): verify it, write its image
    /// into the slot that did not boot, mark that slot active, then answer through `done`.
    /// Called on the server's thread: it must return at once and do the work on a thread
    /// of its own (`done` may be called from any thread). The file is the host's from
    /// now on: it removes it when done. By default: removed, answered `unsupported`.
    fn system_install(&self, bundle: PathBuf, done: SystemDone) {
        if let Err(e) = std::fs::remove_file(&bundle) {
            log::warn!("{}: cannot remove: {e}", bundle.display());
        }
        done.unsupported();
    }
}

/// Where events for the server go: answers, notifications, console connections. Created
/// before the runtime, so containers started before the server runs can be handed over.
#[derive(Clone)]
pub struct Inbox {
    queue: WakeSender<Event>,
}

impl Inbox {
    /// Queue an event and wake the server (dropped when the server has ended).
    pub fn send(&self, event: Event) {
        let _ = self.queue.send(event);
    }

    /// The runtime's console port ([`crate::runtime::Runtime::start_with`]) that sends
    /// each console connection into this inbox.
    pub fn console_port(&self) -> crate::runtime::ConsolePort {
        let inbox = self.clone();
        Box::new(move |handover: crate::runtime::ConsoleHandOver| {
            inbox.send(Event::Console {
                id: handover.id,
                console: handover.console,
                fd: handover.fd,
            });
        })
    }
}

/// The receiving side of an [`Inbox`], for [`Server::start`].
pub struct Mailbox {
    events: WakeReceiver<Event>,
}

/// A new inbox and its mailbox.
pub fn inbox() -> Result<(Inbox, Mailbox), Error> {
    let (queue, events) = wake_queue().map_err(|e| Error::Os {
        what: "create an eventfd",
        source: e.into(),
    })?;
    Ok((Inbox { queue }, Mailbox { events }))
}

/// A running server. Dropping it stops it and removes the socket file.
pub struct Server {
    inbox: Inbox,
    tcp_address: Option<std::net::SocketAddr>,
    thread: Option<JoinHandle<()>>,
    /// Disconnected when the runtime dropped the server's subscription: its last
    /// notification is in the inbox.
    forwarded: mpsc::Receiver<()>,
}

/// How long [`Server::stop`] waits for the runtime's last notifications.
const LAST_NOTIFICATIONS: std::time::Duration = std::time::Duration::from_secs(2);

impl Server {
    /// Bind the socket of `api` and serve it on a thread of its own. `config` gives the
    /// repositories' directories (installs are spooled there).
    pub fn start(
        api: &ApiConfig,
        config: &Config,
        requester: Requester,
        host: Arc<dyn Host>,
        inbox: Inbox,
        mailbox: Mailbox,
    ) -> Result<Server, Error> {
        let listener = listener::bind(api)?;
        let tcp = api.tcp.as_ref().map(tls::listen).transpose()?;
        let tcp_address = match &tcp {
            Some(t) => Some(t.listener().local_addr().map_err(|source| Error::Tcp {
                address: t.config().listen,
                what: "read the bound address",
                source,
            })?),
            None => None,
        };
        // Notifications go into the inbox on the runtime's thread, as the answers do: a
        // client hears a notification the runtime sent before an answer before that answer.
        let forward = inbox.clone();
        let (alive, forwarded) = mpsc::channel::<()>();
        requester
            .subscribe_with(move |n| {
                // Dropped with the subscription when the runtime ends: `stop` then knows
                // every notification is in the inbox.
                let _alive = &alive;
                forward.send(Event::Notification(n));
                true
            })
            .map_err(|e| Error::Os {
                what: "subscribe to notifications",
                source: std::io::Error::other(e.to_string()),
            })?;
        let repositories: BTreeMap<String, PathBuf> = config
            .repositories
            .iter()
            .map(|(name, r)| (name.clone(), r.dir.clone()))
            .collect();
        let state = run::Server::new(
            api.clone(),
            repositories,
            run::Listeners {
                unix: listener,
                tcp,
            },
            requester,
            host,
            inbox.clone(),
            mailbox,
        )?;
        let thread = std::thread::Builder::new()
            .name("api".into())
            .spawn(move || state.run())
            .map_err(|source| Error::Os {
                what: "spawn the server thread",
                source,
            })?;
        Ok(Server {
            inbox,
            tcp_address,
            thread: Some(thread),
            forwarded,
        })
    }

    /// Where the TCP listener listens (the port the kernel chose for port 0), if on.
    pub fn tcp_address(&self) -> Option<std::net::SocketAddr> {
        self.tcp_address
    }

    /// The inbox, for console connections.
    pub fn inbox(&self) -> Inbox {
        self.inbox.clone()
    }

    /// Stop serving: close every connection and remove the socket file. Called after the
    /// runtime has shut down, subscribers first hear its last notifications (the exits
    /// and `shutdown`); the wait for them is bounded.
    pub fn stop(mut self) {
        let _ = self.forwarded.recv_timeout(LAST_NOTIFICATIONS);
        self.finish();
    }

    fn finish(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.inbox.send(Event::Stop);
            if thread.join().is_err() {
                log::error!("the api server thread ended abnormally");
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A [`Host`] that supports nothing but a shutdown, which it reports through `then`
/// (the host daemon's).
pub struct ShutdownOnly<F: Fn() + Send + Sync + 'static>(pub F);

impl<F: Fn() + Send + Sync + 'static> Host for ShutdownOnly<F> {
    fn boot_report(&self) -> Option<BootReport> {
        None
    }
    fn power(&self, power: Power) -> bool {
        match power {
            Power::Shutdown => {
                (self.0)();
                true
            }
            Power::Reboot => false,
        }
    }
}

/// A boot report shared between the init, which completes it, and the server.
pub type SharedReport = Arc<Mutex<BootReport>>;
