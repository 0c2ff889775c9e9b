//! The runtime under PID 1: started with the configuration from the verified root, its
//! notifications forwarded into the main loop, shut down off the main loop.
//!
//! The main loop waits in `poll` and never on a channel. The runtime calls the init's
//! subscription on its own thread with each notification, which queues it (with the time
//! it arrived) and writes an eventfd the main loop polls; when the runtime ends, the
//! subscription is dropped and queues [`Event::Gone`]. The thread that runs the runtime's
//! shutdown reports its end the same way. Threads are spawned after the init blocked its
//! signals, so they never take one.
//!
//! With an `[api]` table the management API server runs beside the runtime: its
//! `shutdown` and `reboot` become [`Event::Power`] for the main loop's ordered shutdown,
//! and its `boot_report` reads the report the main loop publishes ([`publish`]).

use super::report::{self, BootReport};
use super::{slot, slot_install};
use crate::logger::chain;
use runtime_core::{
    config::{self, Config},
    runtime::{ContainerInfo, ContainerState, Handle, Notification, Request, Response, Runtime},
    server::{self, api, Host, Power, Server, SharedReport, SystemDone, SystemRequest},
    wake::{wake_queue, WakeReceiver, WakeSender},
};
use std::{
    os::fd::BorrowedFd,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

/// Why the runtime could not be started.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create the event channel")]
    EventFd(#[source] nix::errno::Errno),
    #[error("cannot start")]
    Start(#[from] runtime_core::runtime::Error),
    #[error("cannot list the containers: {0}")]
    List(String),
    #[error("management API")]
    Api(#[from] server::Error),
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
    /// The management API asked for a shutdown or a reboot.
    Power(Power),
}

/// The queue of [`Event`]s and the eventfd that says it is not empty.
pub struct Events {
    tx: WakeSender<Event>,
    rx: WakeReceiver<Event>,
}

impl Events {
    /// A new, empty queue.
    pub fn new() -> Result<Events, Error> {
        let (tx, rx) = wake_queue().map_err(Error::EventFd)?;
        Ok(Events { tx, rx })
    }

    /// The descriptor the main loop polls.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.rx.fd()
    }

    /// A way to queue events from another thread.
    fn sender(&self) -> Queue {
        Queue(self.tx.clone())
    }

    /// Every queued event, in order.
    pub fn drain(&self) -> Vec<Event> {
        self.rx.drain().collect()
    }
}

#[derive(Clone)]
struct Queue(WakeSender<Event>);

impl Queue {
    /// Whether the main loop still takes events.
    fn send(&self, event: Event) -> bool {
        self.0.send(event).is_ok()
    }
}

/// Queues the runtime's notifications for the main loop, on the runtime's thread (a
/// queue's send never blocks); dropped with the runtime's subscription when the runtime
/// ends, which it reports as [`Event::Gone`].
struct Forward(Queue);

impl Drop for Forward {
    fn drop(&mut self) {
        self.0.send(Event::Gone);
    }
}

/// The init as the management API server's [`Host`].
struct InitHost {
    queue: Queue,
    report: SharedReport,
    /// The A/B slots, on a board that has them.
    slots: Option<Arc<slot::Keeper>>,
}

impl Host for InitHost {
    fn boot_report(&self) -> Option<server::api::BootReport> {
        self.report.lock().ok().map(|r| r.clone())
    }
    fn power(&self, power: Power) -> bool {
        self.queue.send(Event::Power(power))
    }
    fn system(&self, request: SystemRequest) -> Option<Result<api::SystemStatus, String>> {
        let keeper = self.slots.as_ref()?;
        let done = match request {
            SystemRequest::Status => keeper.status(),
            SystemRequest::Mark { mark, slot } => {
                let mark = match mark {
                    api::SlotMark::Good => slot::Mark::Good,
                    api::SlotMark::Bad => slot::Mark::Bad,
                    api::SlotMark::Active => slot::Mark::Active,
                };
                let target = match slot {
                    api::SlotTarget::Booted => slot::Target::Booted,
                    api::SlotTarget::Other => slot::Target::Other,
                    api::SlotTarget::Named(name) => slot::Target::Named(name),
                };
                keeper.mark(mark, &target)
            }
        };
        Some(done.map(system_status).map_err(|e| {
            let text = chain(&e);
            log::warn!("management API: {text}");
            text
        }))
    }
    fn system_spool(&self) -> Option<PathBuf> {
        let dir = self.slots.as_ref()?.data()?.join(slot_install::SPOOL);
        match std::fs::create_dir_all(&dir) {
            Ok(()) => Some(dir),
            Err(e) => {
                log::warn!("cannot create {}: {e}", dir.display());
                None
            }
        }
    }
    fn system_install(&self, bundle: PathBuf, done: SystemDone) {
        let Some(keeper) = self.slots.clone() else {
            let _ = std::fs::remove_file(&bundle);
            return done.unsupported();
        };
        // Minutes of reading and writing: on a thread of its own, which ends with the
        // answer.
        let spawned = std::thread::Builder::new()
            .name("system-install".into())
            .spawn(move || {
                let result = match keeper.data() {
                    Some(data) => slot_install::install(
                        &keeper,
                        keeper.slots(),
                        data,
                        &bundle,
                        &mut |_, _| {},
                    ),
                    None => Err(slot::Error::NoData.into()),
                };
                if let Err(e) = std::fs::remove_file(&bundle) {
                    log::warn!("cannot remove {}: {e}", bundle.display());
                }
                done.done(result.map(installed).map_err(|e| {
                    let text = chain(&e);
                    log::error!("system install: {text}");
                    text
                }));
            });
        if let Err(e) = spawned {
            log::error!("system install: cannot start its thread: {e}");
        }
    }
}

/// An installation as the management API shows it.
fn installed(i: slot_install::Installed) -> api::SystemInstalled {
    api::SystemInstalled {
        slot: i.slot,
        version: i.version,
        compatible: i.compatible,
        bytes: i.bytes,
        status: system_status(i.status),
    }
}

/// The slots as the management API shows them.
fn system_status(status: slot::Status) -> api::SystemStatus {
    let text = |p: &std::path::Path| p.display().to_string();
    api::SystemStatus {
        bootloader: status.bootloader.to_string(),
        booted: status.booted,
        slots: status
            .slots
            .into_iter()
            .map(|s| api::SlotStatus {
                root: text(&s.root),
                boot: s.boot.as_deref().map(text),
                name: s.name,
                booted: s.booted,
                primary: s.primary,
                state: match s.good {
                    Some(true) => api::SlotState::Good,
                    Some(false) => api::SlotState::Bad,
                    None => api::SlotState::Unknown,
                },
                attempts_left: s.attempts_left,
            })
            .collect(),
    }
}

/// Publish the boot report for the management API.
pub fn publish(shared: &SharedReport, report: &BootReport) {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let api = server::api::BootReport {
        kernel_ms: ms(report.kernel),
        steps: report
            .steps
            .iter()
            .map(|s| server::api::BootStep {
                name: s.name.to_string(),
                start_ms: ms(s.start),
                took_ms: ms(s.took),
            })
            .collect(),
        containers: report
            .containers
            .iter()
            .map(|(id, outcome)| match outcome {
                report::Outcome::Pending => server::api::BootOutcome::Pending {
                    container: id.clone(),
                },
                report::Outcome::Started { at } => server::api::BootOutcome::Started {
                    container: id.clone(),
                    at_ms: ms(*at),
                },
                report::Outcome::Failed { at, reason } => server::api::BootOutcome::Failed {
                    container: id.clone(),
                    at_ms: ms(*at),
                    reason: reason.clone(),
                },
            })
            .collect(),
        finished_ms: report.finished.map(ms),
        previous_panic: report.previous_panic.clone(),
        development: report.development,
        slot: report.slot.clone(),
        previous_slot: report.previous_slot.clone(),
    };
    if let Ok(mut shared) = shared.lock() {
        *shared = api;
    }
}

/// A started runtime.
pub struct Running {
    pub handle: Handle,
    /// The management API server, if configured.
    pub server: Option<Server>,
    /// The boot report the server gives.
    pub report: SharedReport,
    /// The runtime configuration's `critical`.
    pub critical: config::Reaction,
    /// The runtime configuration's `stop_timeout`.
    pub stop_timeout: Duration,
}

/// Start the runtime, forward its notifications to `events`, and list the containers
/// that autostart began (running, starting or restarting).
pub fn start(
    config: Config,
    events: &Events,
    slots: Option<Arc<slot::Keeper>>,
) -> Result<(Running, Vec<ContainerInfo>), Error> {
    let critical = config.critical;
    let stop_timeout = config.stop_timeout;
    let inbox = config.api.as_ref().map(|_| server::inbox()).transpose()?;
    // Subscribed before the loop begins: autostart failures are never missed. Consoles
    // of autostart containers wait in the inbox until the server runs.
    let queue = events.sender();
    let forward = Forward(queue.clone());
    let handle = Runtime::start_calling(
        config.clone(),
        inbox.as_ref().map(|(i, _)| i.console_port()),
        move |n| forward.0.send(Event::Notification(Instant::now(), n)),
    )?;
    let report = SharedReport::default();
    let server = match (&config.api, inbox) {
        (Some(api), Some((inbox, mailbox))) => {
            let host = InitHost {
                queue: queue.clone(),
                report: report.clone(),
                slots,
            };
            let requester = handle.requester();
            Some(Server::start(
                api,
                &config,
                requester,
                Arc::new(host),
                inbox,
                mailbox,
            )?)
        }
        _ => None,
    };
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
            server,
            report,
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
    let server = running.server;
    let spawned = std::thread::Builder::new()
        .name("shutdown".into())
        .spawn(move || {
            let result = handle.shutdown().map_err(|e| crate::logger::chain(&e));
            if let Some(server) = server {
                server.stop();
            }
            queue.send(Event::Stopped(result));
        });
    if let Err(e) = spawned {
        // The closure, and the handle with it, was dropped by the failed spawn: dropping
        // a handle shuts the runtime down, on this thread.
        log::warn!("cannot spawn the shutdown thread ({e}): the runtime was shut down in place");
        done.send(Event::Stopped(Ok(())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use server::api::{BootOutcome, BootStep};

    #[test]
    fn the_published_report_is_the_init_report() {
        let ms = Duration::from_millis;
        let mut report = BootReport::new(ms(1234));
        report.step("early", ms(0), ms(3));
        let hello: runtime_core::id::ContainerId = "hello:0.0.1".parse().unwrap();
        let crash: runtime_core::id::ContainerId = "crash:1.0.0".parse().unwrap();
        report.expect(hello.clone());
        report.outcome(
            &crash,
            report::Outcome::Failed {
                at: ms(510),
                reason: "exit code 1".into(),
            },
        );
        let shared = SharedReport::default();
        publish(&shared, &report);
        let published = shared.lock().unwrap().clone();
        assert_eq!(published.kernel_ms, 1234);
        assert_eq!(
            published.steps,
            [BootStep {
                name: "early".into(),
                start_ms: 0,
                took_ms: 3
            }]
        );
        assert_eq!(
            published.containers,
            [
                BootOutcome::Pending { container: hello },
                BootOutcome::Failed {
                    container: crash,
                    at_ms: 510,
                    reason: "exit code 1".into()
                }
            ]
        );
        assert_eq!(published.finished_ms, None);
        report.finished = Some(ms(600));
        publish(&shared, &report);
        assert_eq!(shared.lock().unwrap().finished_ms, Some(600));
    }
}
