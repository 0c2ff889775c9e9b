//! The main loop: `poll` on the signalfd, the watchdog's timer and the runtime's event
//! queue, nothing else, no busy wake-ups. It reaps (every wake-up, so that coalesced
//! SIGCHLDs lose nothing), feeds the watchdog, completes the boot report, and turns
//! signals, critical container failures and the management API's shutdown and reboot
//! into a shutdown or a hold, and publishes the boot report for the management API.

use super::{
    board::Reaction,
    reaper::{self, Request},
    report::{self, Outcome},
    runtime::{self, Event, Running},
    shutdown::{self, Power},
    Init,
};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use runtime_core::{config, runtime::Notification};
use std::{
    os::fd::AsFd,
    time::{Duration, Instant},
};

/// Time the runtime's shutdown may take beyond its `stop_timeout` before the init goes on
/// without it.
const SHUTDOWN_MARGIN: Duration = Duration::from_secs(30);

/// What the loop is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The system runs.
    Running,
    /// A fatal error or a critical failure with the reaction `hold`: the init reaps,
    /// feeds the watchdog and still answers SIGTERM/SIGINT.
    Holding,
    /// The runtime is shutting down; then [`shutdown::finish`].
    Stopping { power: Power, deadline: Instant },
}

struct Loop {
    init: Init,
    runtime: Option<Running>,
    /// The boot report the management API gives (kept after the runtime is taken).
    shared: Option<runtime_core::server::SharedReport>,
    phase: Phase,
    /// When the boot report is written even if not every container has reported.
    report_due: Option<Instant>,
    /// When the booted A/B slot is marked good if the system is still running then.
    mark_due: Option<Instant>,
}

/// Run the main loop. Never returns.
pub fn run(init: Init, runtime: Option<Running>, phase: Phase) -> ! {
    let report_due = (!init.reported).then(|| super::deadline(report::SETTLE));
    let shared = runtime.as_ref().map(|r| r.report.clone());
    let mark_due = init
        .slots
        .as_ref()
        .filter(|k| k.marks() && phase == Phase::Running && runtime.is_some())
        .map(|k| super::deadline(k.healthy_after()));
    let mut l = Loop {
        init,
        runtime,
        shared,
        phase,
        report_due,
        mark_due,
    };
    loop {
        l.iterate();
    }
}

/// Apply `reaction` for `message` (already logged): shut down and power off or reboot,
/// or hold. Never returns.
pub fn react(init: Init, runtime: Option<Running>, reaction: Reaction, message: String) -> ! {
    let shared = runtime.as_ref().map(|r| r.report.clone());
    let mut l = Loop {
        init,
        runtime,
        shared,
        phase: Phase::Running,
        report_due: None,
        mark_due: None,
    };
    l.react(reaction, &message);
    loop {
        l.iterate();
    }
}

/// Write the boot report to the log (once).
pub fn write_report(init: &mut Init) {
    if init.reported {
        return;
    }
    init.reported = true;
    init.report.finished = Some(init.start.elapsed());
    init.report.memory = report::Memory::current();
    for line in init.report.render().lines() {
        log::info!("{line}");
    }
}

impl Loop {
    fn iterate(&mut self) {
        // Before waiting: the report the management API gives is always the current
        // one (cheap, and wake-ups are rare).
        if let Some(shared) = &self.shared {
            runtime::publish(shared, &self.init.report);
        }
        #[cfg(feature = "fault-injection")]
        super::fault::hang_if_due(self.init.start);
        self.check_report();
        let (signals_ready, timer_ready, events_ready) = self.wait();
        if signals_ready {
            for signal in reaper::pending(&self.init.signals) {
                match reaper::meaning(signal) {
                    Some(Request::PowerOff) => {
                        log::info!("{signal}: power-off requested");
                        self.shutdown(Power::PowerOff);
                    }
                    Some(Request::Reboot) => {
                        log::info!("{signal}: reboot requested");
                        self.shutdown(Power::Reboot);
                    }
                    Some(Request::Reap) | None => {}
                }
            }
        }
        reaper::reap();
        if timer_ready {
            if let Some(watchdog) = &self.init.watchdog {
                watchdog.tick();
            }
        }
        if events_ready {
            let events = self
                .init
                .events
                .as_ref()
                .map(runtime::Events::drain)
                .unwrap_or_default();
            for event in events {
                self.event(event);
            }
        }
        self.check_report();
        self.check_mark();
        if let Phase::Stopping { power, deadline } = self.phase {
            if deadline <= Instant::now() {
                log::error!("the runtime did not shut down in time: going on without it");
                self.finish(power);
            }
        }
    }

    /// Write the boot report once every autostart container has reported, or when it is
    /// due.
    fn check_report(&mut self) {
        let due = self.report_due.is_some_and(|due| due <= Instant::now());
        if self.report_due.is_some() && (due || self.init.report.settled()) {
            self.report_due = None;
            write_report(&mut self.init);
        }
    }

    /// Mark the booted slot good once the system has run healthy for the board's
    /// `slots.healthy_after`: still running, no fatal error, no critical container failed
    /// (either would have moved the loop out of [`Phase::Running`]).
    fn check_mark(&mut self) {
        let Some(due) = self.mark_due else {
            return;
        };
        if self.phase != Phase::Running {
            self.mark_due = None;
            return;
        }
        if due > Instant::now() {
            return;
        }
        self.mark_due = None;
        let Some(keeper) = self.init.slots.clone() else {
            return;
        };
        if let Err(e) = keeper.mark(super::slot::Mark::Good, &super::slot::Target::Booted) {
            log::error!(
                "cannot mark the booted slot good: {}",
                crate::logger::chain(&e)
            );
        }
    }

    /// Poll until something is ready or the next deadline; which of signals, watchdog
    /// timer and events are ready.
    fn wait(&self) -> (bool, bool, bool) {
        let deadline = match self.phase {
            Phase::Stopping { deadline, .. } => Some(deadline),
            _ => None,
        };
        let deadline = [deadline, self.report_due, self.mark_due]
            .into_iter()
            .flatten()
            .min();
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(at) => {
                // Rounded up, so the deadline has passed when poll returns.
                let left = at
                    .saturating_duration_since(Instant::now())
                    .saturating_add(Duration::from_millis(1));
                PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = vec![PollFd::new(self.init.signals.as_fd(), PollFlags::POLLIN)];
        let timer_at = self.init.watchdog.as_ref().map(|w| {
            let at = fds.len();
            fds.push(PollFd::new(w.timer().as_fd(), PollFlags::POLLIN));
            at
        });
        let events_at = self.init.events.as_ref().map(|e| {
            let at = fds.len();
            fds.push(PollFd::new(e.fd(), PollFlags::POLLIN));
            at
        });
        if let Err(e) = poll(&mut fds, timeout) {
            if e != nix::errno::Errno::EINTR {
                log::warn!("poll: {e}");
            }
            return (false, false, false);
        }
        let ready = |i: Option<usize>| {
            i.and_then(|i| fds.get(i))
                .and_then(PollFd::revents)
                .is_some_and(|r| !r.is_empty())
        };
        (ready(Some(0)), ready(timer_at), ready(events_at))
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::Notification(at, notification) => self.notification(at, notification),
            Event::Gone => {
                if !matches!(self.phase, Phase::Stopping { .. }) {
                    let message = "the runtime ended unexpectedly".to_string();
                    log::error!("{message}");
                    let reaction = self.init.reaction;
                    self.react(reaction, &message);
                }
            }
            Event::Power(power) => {
                log::info!("management API: {power:?} requested");
                self.shutdown(match power {
                    runtime_core::server::Power::Shutdown => Power::PowerOff,
                    runtime_core::server::Power::Reboot => Power::Reboot,
                });
            }
            Event::Stopped(result) => {
                match result {
                    Ok(()) => log::info!("runtime shut down"),
                    Err(e) => log::error!("runtime shutdown: {e}"),
                }
                if let Phase::Stopping { power, .. } = self.phase {
                    self.finish(power);
                }
            }
        }
    }

    fn notification(&mut self, at: Instant, notification: Notification) {
        let since_start = at.saturating_duration_since(self.init.start);
        let report = &mut self.init.report;
        match notification {
            Notification::Started { id, .. } => {
                report.outcome(&id, Outcome::Started { at: since_start })
            }
            Notification::Failed { id, error } => report.outcome(
                &id,
                Outcome::Failed {
                    at: since_start,
                    reason: error,
                },
            ),
            Notification::Exited { id, status, .. } => report.outcome(
                &id,
                Outcome::Failed {
                    at: since_start,
                    reason: format!("ended with {status}"),
                },
            ),
            Notification::Critical { id, reason } => {
                // The runtime logged it. `critical = "exit"` leaves the reaction to the
                // init: the board's.
                let reaction = match self.runtime.as_ref().map(|r| r.critical) {
                    Some(config::Reaction::Reboot) => Reaction::Reboot,
                    Some(config::Reaction::PowerOff) => Reaction::PowerOff,
                    Some(config::Reaction::Hold) => Reaction::Hold,
                    Some(config::Reaction::Exit) | None => self.init.reaction,
                };
                self.react(
                    reaction,
                    &format!("critical container {id} failed: {reason}"),
                );
            }
            other => log::debug!("runtime: {other:?}"),
        }
    }

    fn react(&mut self, reaction: Reaction, message: &str) {
        if !matches!(self.phase, Phase::Stopping { .. }) {
            super::record_failure(&self.init, message);
        }
        match reaction {
            Reaction::Reboot => self.shutdown(Power::Reboot),
            Reaction::PowerOff => self.shutdown(Power::PowerOff),
            Reaction::Hold => self.hold(message),
        }
    }

    /// Begin an orderly shutdown (once).
    fn shutdown(&mut self, power: Power) {
        if let Phase::Stopping { power: pending, .. } = self.phase {
            log::info!("{power} requested while the {pending} is under way: ignored");
            return;
        }
        match (self.runtime.take(), self.init.events.as_ref()) {
            (Some(running), Some(events)) => {
                log::info!("{power}: shutting the runtime down");
                let deadline =
                    super::deadline(running.stop_timeout.saturating_add(SHUTDOWN_MARGIN));
                runtime::stop(running, events);
                self.phase = Phase::Stopping { power, deadline };
            }
            (running, _) => {
                // Without an event queue there is nobody to wait for: shut down in place.
                drop(running);
                self.finish(power);
            }
        }
    }

    fn hold(&mut self, message: &str) {
        if matches!(self.phase, Phase::Stopping { .. }) {
            return;
        }
        self.phase = Phase::Holding;
        log::error!("holding: {message}");
        // On the console, whatever the kernel's log level.
        eprintln!(
            "northstar: HOLD: {message}\nnorthstar: the system is held for inspection; \
             SIGTERM powers off, SIGINT (Ctrl-Alt-Del) reboots"
        );
    }

    fn finish(&mut self, power: Power) -> ! {
        shutdown::finish(&mut self.init, power)
    }
}
