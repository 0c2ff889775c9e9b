//! Carries out a container's [`Lifecycle`] on the runtime's state: feeds it an input,
//! parks or answers the request that came with it, and performs the effects (launch,
//! signal, replies, notifications, the critical reaction). The decisions are the
//! lifecycle's (`lifecycle.rs`); this module only has the process, the replies and the
//! subscribers at hand.
//!
//! A launch prepares the start on the loop (`start::prepare`), clones on a launcher thread
//! and comes back as [`super::Message::Launched`] ([`landed`]); the lifecycle is in
//! `Launching` meanwhile.

use super::{
    api::{Notification, RequestError, Response},
    lifecycle::{Effect, Input, Phase, Refusal},
    requests::error_chain,
    start,
    state::{Reply, State},
    Message,
};
use crate::id::ContainerId;
use northstar_sys::clone::pidfd_signal;
use npk::manifest::Autostart;
use std::{
    collections::BTreeMap,
    os::fd::AsFd,
    time::{Duration, Instant},
};

/// The arguments and environment of an explicit start (`None`: the manifest's).
pub(crate) type Args = (Option<Vec<String>>, Option<BTreeMap<String, String>>);

/// An explicit start about to be launched.
#[derive(Debug)]
pub(crate) struct Pending {
    pub args: Args,
    /// Its caller reacts to a failed launch (autostart, an update transaction: not a
    /// request); a launch that fails on a launcher thread gets the same reaction.
    pub react: bool,
}

/// A start whose launch is in flight.
#[derive(Debug)]
pub(crate) struct Flight {
    pub start: start::Flight,
    /// As [`Pending::react`].
    pub react: bool,
}

/// Start `id`: an explicit start (a request, autostart, an update) with `args`, answered
/// through `reply` once the program runs (or at once when refused). The error of a start
/// that failed before its launch is returned, for callers that react to it (those without
/// a `reply`); a launch that fails later on its launcher thread gets their reaction here:
/// the critical reaction for a critical container no update transaction owns, and the
/// transaction's `StartFailed`.
pub(crate) fn start(
    state: &mut State,
    id: &ContainerId,
    args: Args,
    reply: Option<Reply>,
) -> Result<(), String> {
    let react = reply.is_none();
    state.container(id).launch = Some(Pending { args, react });
    drive(state, id, Input::Start { explicit: true }, reply)
}

/// A launch came back from its launcher thread: watch the process, or report the failure
/// as a failed start.
pub(crate) fn landed(state: &mut State, landed: start::Landed) {
    let id = landed.id.clone();
    let Some(flight) = state.containers.get_mut(&id).and_then(|c| c.flight.take()) else {
        log::error!("{id}: a launch came back for no start; killing it");
        landed.discard();
        return;
    };
    let react = flight.react;
    match start::land(state, flight.start, landed) {
        Ok(_) => {
            let now = Instant::now();
            let _ = drive(state, &id, Input::Launched { now }, None);
            // A shutdown stops what runs; this process did not run yet.
            let starting = state
                .containers
                .get(&id)
                .is_some_and(|c| c.life.phase == Phase::Starting);
            if state.shutdown.is_some() && starting {
                stop(state, &id, Duration::ZERO, None);
            }
        }
        Err(e) => {
            let error = error_chain(&e);
            let stopped = state
                .containers
                .get(&id)
                .is_some_and(|c| c.life.phase == Phase::Launching { stop: true });
            let critical = react
                && !state.update.owns(&id)
                && state
                    .registry
                    .get(&id)
                    .is_some_and(|p| p.manifest().autostart == Some(Autostart::Critical));
            let _ = drive(state, &id, Input::LaunchFailed(error.clone()), None);
            if critical {
                super::events::critical_failure(state, &id, error.clone());
            }
            if react {
                super::update::start_failed(state, &id, &error);
            }
            if stopped {
                // A transaction that stopped it learns that it ended.
                super::update::not_launched(state, &id);
            }
        }
    }
}

/// Stop `id` with the grace period `grace`; `reply` is answered when it has ended.
pub(crate) fn stop(state: &mut State, id: &ContainerId, grace: Duration, reply: Option<Reply>) {
    let now = Instant::now();
    let _ = drive(state, id, Input::Stop { now, grace }, reply);
}

/// Feed `input` to the lifecycle of `id` and carry out what it says. `reply` belongs to the
/// request that caused the input: parked until the start or stop it asked for is done, or
/// answered at once when refused. Returns the error of a failed launch.
pub(crate) fn drive(
    state: &mut State,
    id: &ContainerId,
    input: Input,
    reply: Option<Reply>,
) -> Result<(), String> {
    let is_start = matches!(input, Input::Start { .. });
    let container = state.container(id);
    let effects = container.life.on(input);
    let mut reply = reply;
    if let Some(refusal) = effects.iter().find_map(|e| match e {
        Effect::Refuse(r) => Some(*r),
        _ => None,
    }) {
        if is_start {
            // A refused start launches nothing: a later restart must not take its arguments.
            state.container(id).launch = None;
        }
        if let Some(reply) = reply.take() {
            let _ = reply.send(Err(match refusal {
                Refusal::Running => RequestError::Running(id.clone()),
                Refusal::NotRunning => RequestError::NotRunning(id.clone()),
            }));
        }
    }
    if let Some(reply) = reply {
        let container = state.container(id);
        if is_start {
            container.start_replies.push(reply);
        } else {
            container.stop_replies.push(reply);
        }
    }
    let mut launch_error = Ok(());
    for effect in effects {
        if let Err(e) = carry_out(state, id, effect) {
            launch_error = Err(e);
        }
    }
    launch_error
}

fn carry_out(state: &mut State, id: &ContainerId, effect: Effect) -> Result<(), String> {
    match effect {
        Effect::Launch => {
            let launch = state.container(id).launch.take();
            let ((args, env), react) = match launch {
                Some(Pending { args, react }) => (args, react),
                None => (start::restart_args(state, id), false),
            };
            return match start::prepare(state, id, args, env) {
                Ok((launch, flight)) => {
                    state.container(id).flight = Some(Flight {
                        start: flight,
                        react,
                    });
                    let worker = state.worker.clone();
                    state.launcher().run(Box::new(move || {
                        let landed = launch.run();
                        worker.send(Message::Launched(Box::new(landed)));
                    }));
                    Ok(())
                }
                Err(e) => {
                    let error = error_chain(&e);
                    let _ = drive(state, id, Input::LaunchFailed(error.clone()), None);
                    Err(error)
                }
            };
        }
        Effect::Signal(signal) => {
            log::info!("{id}: stopping");
            signal_init(state, id, signal);
        }
        Effect::Kill => {
            log::warn!("{id}: did not stop in time, killing it");
            signal_init(state, id, libc::SIGKILL);
        }
        Effect::AnswerStart(result) => {
            let container = state.container(id);
            let pid = container.process.as_ref().map(|p| p.pid);
            for reply in std::mem::take(&mut container.start_replies) {
                let _ = reply.send(match (&result, pid) {
                    (Ok(()), Some(pid)) => Ok(Response::Started { pid }),
                    (Ok(()), None) => Err(RequestError::NotRunning(id.clone())),
                    (Err(e), _) => Err(RequestError::Start(e.clone())),
                });
            }
        }
        Effect::AnswerStop(status) => {
            let container = state.container(id);
            for reply in std::mem::take(&mut container.stop_replies) {
                let _ = reply.send(match status {
                    Some(status) => Ok(Response::Stopped { status }),
                    None => Err(RequestError::NotRunning(id.clone())),
                });
            }
        }
        // Answered in `drive`.
        Effect::Refuse(_) => (),
        Effect::NotifyStarted => {
            if let Some(pid) = state
                .containers
                .get(id)
                .and_then(|c| c.process.as_ref())
                .map(|p| p.pid)
            {
                log::info!("{id}: started (pid {pid})");
                state.notify(Notification::Started {
                    id: id.clone(),
                    pid,
                });
            }
        }
        Effect::NotifyFailed(error) => {
            log::warn!("{error}");
            state.notify(Notification::Failed {
                id: id.clone(),
                error,
            });
        }
        Effect::NotifyRestarting { attempt, delay } => state.notify(Notification::Restarting {
            id: id.clone(),
            attempt,
            delay,
        }),
        Effect::NotifyGaveUp { attempts } => state.notify(Notification::GaveUp {
            id: id.clone(),
            attempts,
        }),
        Effect::Critical(reason) => super::events::critical_failure(state, id, reason),
    }
    Ok(())
}

/// Signal the container's init, which passes the signal on; SIGKILL ends every process of
/// its PID namespace.
fn signal_init(state: &State, id: &ContainerId, signal: i32) {
    if let Some(process) = state.containers.get(id).and_then(|c| c.process.as_ref()) {
        let _ = pidfd_signal(process.pidfd.as_fd(), signal);
    }
}

/// Deadlines of lifecycles that passed: SIGKILL after a stop's grace period, restarts.
pub(crate) fn timers(state: &mut State, now: Instant) {
    let due: Vec<ContainerId> = state
        .containers
        .iter()
        .filter(|(_, c)| c.life.deadline().is_some_and(|d| d <= now))
        .map(|(id, _)| id.clone())
        .collect();
    for id in due {
        // A failed restart is told by the lifecycle (`Failed`); nothing else to do.
        let _ = drive(state, &id, Input::Tick(now), None);
    }
}
