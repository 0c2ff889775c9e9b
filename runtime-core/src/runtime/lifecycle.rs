//! A container's lifecycle as a pure state machine: [`Lifecycle::on`] takes what happened
//! ([`Input`]: a start or stop request, the launch's result, the exec report, the exit,
//! the clock)
//! and returns what to do ([`Effect`]: launch, signal, answer the parked requests, notify,
//! react to a critical failure). The phase is explicit ([`Phase`]) instead of implied by
//! which fields of a process happen to be set. The event loop (events.rs, requests.rs)
//! feeds the inputs and carries out the effects with the container's process, pipes and
//! cgroup, which stay outside; every transition is a unit test here.

use super::restart::{Backoff, Decision};
use crate::container::ExitStatus;
use npk::manifest::Restart;
use std::time::{Duration, Instant};

/// Where a container is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No process and no restart scheduled.
    Stopped,
    /// The launch is in flight on a launcher thread: no pid yet. `stop`: a stop was asked
    /// for meanwhile; the process is killed as soon as it exists.
    Launching { stop: bool },
    /// The process exists; its program has not executed yet.
    Starting,
    /// The program runs.
    Running,
    /// The start failed in the process before the program ran; it is ending.
    Failed,
    /// A stop was asked for: SIGTERM sent, SIGKILL at `kill_at`.
    Stopping { kill_at: Instant },
    /// It ended and starts again at `at` (the restart policy).
    Restarting { at: Instant },
}

impl Phase {
    /// Whether a process exists or is being launched (and will report its exit).
    pub(crate) fn alive(self) -> bool {
        matches!(
            self,
            Phase::Launching { .. }
                | Phase::Starting
                | Phase::Running
                | Phase::Failed
                | Phase::Stopping { .. }
        )
    }
}

/// What happened to the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Input {
    /// A start was asked for; `explicit` (a request, not a restart) resets the restart count.
    Start { explicit: bool },
    /// The launch created the process.
    Launched { now: Instant },
    /// The launch failed before a process existed.
    LaunchFailed(String),
    /// The program executed.
    Executed,
    /// The process reported a failure before the program ran.
    ExecFailed(String),
    /// A stop was asked for with this grace period.
    Stop { now: Instant, grace: Duration },
    /// The process ended. `policy` is the manifest's restart policy; `held`: someone else
    /// decides what follows (a shutdown, an update transaction): no restart, no critical
    /// reaction; `critical`: the manifest's `autostart: critical`.
    Exited {
        now: Instant,
        status: ExitStatus,
        policy: Option<Restart>,
        held: bool,
        critical: bool,
    },
    /// The time is now.
    Tick(Instant),
}

/// Why a request is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    Running,
    NotRunning,
}

/// What to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Create the process (with the arguments of the last explicit start); answered by
    /// [`Input::Launched`] or [`Input::LaunchFailed`], at once or when the launcher thread
    /// is done.
    Launch,
    /// Signal the container's init (it passes the signal to every process of the
    /// container; SIGKILL ends them all).
    Signal(i32),
    /// The stop's grace period passed: SIGKILL.
    Kill,
    /// Answer the parked start requests: the program runs, or why not.
    AnswerStart(Result<(), String>),
    /// Answer the parked stop requests: how it ended (`None`: it was not running).
    AnswerStop(Option<ExitStatus>),
    /// Refuse the request just made.
    Refuse(Refusal),
    /// Tell subscribers the program runs.
    NotifyStarted,
    /// Tell subscribers a start failed.
    NotifyFailed(String),
    /// Tell subscribers it starts again after `delay`.
    NotifyRestarting { attempt: u32, delay: Duration },
    /// Tell subscribers the restart policy gave up.
    NotifyGaveUp { attempts: u32 },
    /// A critical container failed: the configured reaction is due.
    Critical(String),
}

/// SIGKILL was sent: wait this long for the exit before trying again.
const KILLED_WAIT: Duration = Duration::from_secs(3600);

/// The lifecycle of one container across its runs.
#[derive(Clone, Debug)]
pub(crate) struct Lifecycle {
    pub phase: Phase,
    pub backoff: Backoff,
    /// Restarts by the policy since the runtime started.
    pub restarts: u32,
    pub last_exit: Option<ExitStatus>,
    /// When the current run's process was created.
    pub started: Option<Instant>,
    /// The current run was asked to stop (it is never restarted).
    stop_asked: bool,
    /// The current run's start requests were answered (its program executed, or the
    /// start failed); otherwise its exit answers them.
    answered: bool,
}

impl Default for Lifecycle {
    fn default() -> Lifecycle {
        Lifecycle {
            phase: Phase::Stopped,
            backoff: Backoff::default(),
            restarts: 0,
            last_exit: None,
            started: None,
            stop_asked: false,
            answered: false,
        }
    }
}

impl Lifecycle {
    /// The next deadline: SIGKILL of a stop, or a restart.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Stopping { kill_at } => Some(kill_at),
            Phase::Restarting { at } => Some(at),
            _ => None,
        }
    }

    /// What to do about `input`.
    pub(crate) fn on(&mut self, input: Input) -> Vec<Effect> {
        use Phase::*;
        match (self.phase, input) {
            (Stopped | Restarting { .. }, Input::Start { explicit }) => {
                if explicit {
                    self.backoff = Backoff::default();
                } else {
                    self.restarts = self.restarts.saturating_add(1);
                }
                self.phase = Launching { stop: false };
                self.stop_asked = false;
                self.answered = false;
                vec![Effect::Launch]
            }
            (_, Input::Start { .. }) => vec![Effect::Refuse(Refusal::Running)],
            (Launching { stop: false }, Input::Launched { now }) => {
                self.phase = Starting;
                self.started = Some(now);
                Vec::new()
            }
            // Stopped during the flight: nothing of the program ran, so no grace period.
            (Launching { stop: true }, Input::Launched { now }) => {
                self.phase = Stopping {
                    kill_at: now.checked_add(KILLED_WAIT).unwrap_or(now),
                };
                self.started = Some(now);
                vec![Effect::Signal(libc::SIGKILL)]
            }
            (Launching { stop }, Input::LaunchFailed(error)) => {
                self.phase = Stopped;
                self.answered = true;
                let mut effects = vec![
                    Effect::NotifyFailed(error.clone()),
                    Effect::AnswerStart(Err(error)),
                ];
                if stop {
                    effects.push(Effect::AnswerStop(None));
                }
                effects
            }
            (Starting, Input::Executed) => {
                self.phase = Running;
                self.answered = true;
                vec![Effect::NotifyStarted, Effect::AnswerStart(Ok(()))]
            }
            (Stopping { .. }, Input::Executed) if !self.answered => {
                self.answered = true;
                vec![Effect::AnswerStart(Ok(()))]
            }
            (Starting, Input::ExecFailed(error)) => {
                self.phase = Failed;
                self.answered = true;
                vec![
                    Effect::NotifyFailed(error.clone()),
                    Effect::AnswerStart(Err(error)),
                ]
            }
            // Being stopped: the parked start requests learn the outcome, subscribers do not
            // (they learn of the exit).
            (Stopping { .. }, Input::ExecFailed(error)) if !self.answered => {
                self.answered = true;
                vec![Effect::AnswerStart(Err(error))]
            }
            (Starting | Running | Failed, Input::Stop { now, grace }) => {
                self.phase = Stopping {
                    kill_at: now.checked_add(grace).unwrap_or(now),
                };
                self.stop_asked = true;
                let signal = if grace.is_zero() {
                    libc::SIGKILL
                } else {
                    libc::SIGTERM
                };
                vec![Effect::Signal(signal)]
            }
            // The launch is in flight: the stop waits for the pid.
            (Launching { .. }, Input::Stop { .. }) => {
                self.phase = Launching { stop: true };
                self.stop_asked = true;
                Vec::new()
            }
            // Already stopping: the earlier deadline wins.
            (Stopping { kill_at }, Input::Stop { now, grace }) => {
                let asked = now.checked_add(grace).unwrap_or(now);
                self.phase = Stopping {
                    kill_at: kill_at.min(asked),
                };
                Vec::new()
            }
            // A scheduled restart is cancelled by a stop, which reports the last exit.
            (Restarting { .. }, Input::Stop { .. }) => {
                self.phase = Stopped;
                vec![Effect::AnswerStop(self.last_exit)]
            }
            (Stopped, Input::Stop { .. }) => vec![Effect::Refuse(Refusal::NotRunning)],
            (Stopping { kill_at }, Input::Tick(now)) if kill_at <= now => {
                self.phase = Stopping {
                    kill_at: now.checked_add(KILLED_WAIT).unwrap_or(now),
                };
                vec![Effect::Kill]
            }
            (Restarting { at }, Input::Tick(now)) if at <= now => {
                self.on(Input::Start { explicit: false })
            }
            (
                Starting | Running | Failed | Stopping { .. },
                Input::Exited {
                    now,
                    status,
                    policy,
                    held,
                    critical,
                },
            ) => self.exited(now, status, policy.as_ref(), held, critical),
            // Anything else changes nothing.
            _ => Vec::new(),
        }
    }

    fn exited(
        &mut self,
        now: Instant,
        status: ExitStatus,
        policy: Option<&Restart>,
        held: bool,
        critical: bool,
    ) -> Vec<Effect> {
        let stopped = self.stop_asked;
        let mut effects = Vec::new();
        if !self.answered {
            // Ended before its exec report was read (or stopped before): the start failed.
            self.answered = true;
            let error = format!("ended with {status} before its program ran");
            effects.push(Effect::AnswerStart(Err(error)));
        }
        if stopped {
            effects.push(Effect::AnswerStop(Some(status)));
        }
        self.phase = Phase::Stopped;
        self.last_exit = Some(status);
        let ran = self
            .started
            .take()
            .map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
        if held {
            return effects;
        }
        match self.backoff.decide(policy, status, ran, stopped) {
            Decision::Stay => (),
            Decision::Restart { delay, attempt } => {
                self.phase = Phase::Restarting {
                    at: now.checked_add(delay).unwrap_or(now),
                };
                effects.push(Effect::NotifyRestarting { attempt, delay });
            }
            Decision::GiveUp { attempts } => effects.push(Effect::NotifyGaveUp { attempts }),
        }
        if critical && !stopped && self.phase == Phase::Stopped {
            effects.push(Effect::Critical(format!("ended with {status}")));
        }
        effects
    }
}

#[cfg(test)]
mod tests;
