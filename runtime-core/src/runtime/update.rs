//! Update transactions (doc/update.md): one or more new versions replace the active ones,
//! are checked for health, and are committed or rolled back together.
//!
//! [`Transaction`] (`machine.rs`) is the transaction's logic as a pure state machine: it
//! takes an [`Input`] (the start of the transaction, a container's exec report, exit or
//! `READY=1`, the clock, a failed effect) and returns the [`Effect`]s to carry out (persist
//! a step, stop, snapshot, start, commit, restore, answer…). This module carries them out
//! on the runtime's state, on the event loop's thread, and handles the requests.
//!
//! Every step is written to the file of active versions (`active::Pending`) before its side
//! effects. Until the commit, the old versions are the active ones in that file; the
//! commit is one atomic write. A runtime that starts with a transaction in the file rolls
//! it back ([`resume`]): the new versions are marked failed, the data snapshot is put
//! back, and autostart starts the old versions. So after a power cut at any point exactly
//! one version of each name is active.

use super::{
    active::{Change, Kind, Step},
    api::{Notification, RequestError, Response},
    data, events,
    requests::error_chain,
    snapshot, start,
    state::{Reply, State},
    supervisor,
};
use crate::{container::ExitStatus, id::ContainerId};
use npk::manifest::{Autostart, Version};
use std::{collections::VecDeque, path::PathBuf, time::Instant};

mod machine;
mod requests;

pub(crate) use requests::{prepared, request};

pub(crate) use machine::{Check, Effect, Input, Phase, Transaction};

/// The update transaction under way, if any, and its request's reply.
#[derive(Debug, Default)]
pub(crate) struct Updates {
    transaction: Option<Transaction>,
    reply: Option<Reply>,
    /// Packages of an update request are being verified.
    preparing: bool,
}

impl Updates {
    /// The next deadline of the transaction.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.transaction.as_ref().and_then(Transaction::deadline)
    }

    /// Whether an exit of `id` is the transaction's to handle (no restart, no critical
    /// reaction).
    pub(crate) fn owns(&self, id: &ContainerId) -> bool {
        self.transaction.as_ref().is_some_and(|t| t.owns(id))
    }

    /// Whether the transaction under way changes the container name of `id` (a start or
    /// an uninstall of any of its versions would interfere).
    pub(crate) fn involves(&self, id: &ContainerId) -> bool {
        self.transaction
            .as_ref()
            .is_some_and(|t| t.changes.iter().any(|c| c.name == id.name.as_str()))
    }

    fn busy(&self) -> bool {
        self.preparing || self.transaction.is_some()
    }
}

/// Feed `input` to the transaction and carry out the effects, and those of the inputs
/// they cause, in order.
fn feed(state: &mut State, input: Input) {
    let mut queue = VecDeque::from([input]);
    while let Some(input) = queue.pop_front() {
        let Some(transaction) = state.update.transaction.as_mut() else {
            return;
        };
        let effects = transaction.on(input);
        let done = transaction.done();
        let snapshot = transaction.snapshot;
        let repository = transaction.repository.clone();
        let changes = transaction.changes.clone();
        let kind = transaction.kind;
        for effect in effects {
            let names = Names {
                repository: &repository,
                changes: &changes,
                snapshot,
                kind,
            };
            if let Err(reason) = carry_out(state, effect, &names, &mut queue) {
                log::warn!("update: {reason}");
                queue.push_back(Input::Failed(reason));
                break;
            }
        }
        if done {
            state.update.transaction = None;
        }
    }
}

/// What effects need to know of the transaction.
struct Names<'a> {
    repository: &'a str,
    changes: &'a [Change],
    snapshot: bool,
    kind: Kind,
}

impl Names<'_> {
    fn data(&self, state: &State) -> Vec<PathBuf> {
        self.changes
            .iter()
            .map(|c| data::path(&state.config.data_dir, self.repository, &c.name))
            .collect()
    }
}

/// Carry out one effect; an error fails the transaction and drops the effects after it.
fn carry_out(
    state: &mut State,
    effect: Effect,
    names: &Names<'_>,
    queue: &mut VecDeque<Input>,
) -> Result<(), String> {
    match effect {
        Effect::Persist(pending) => {
            let step = pending.step;
            let written = if state.active.pending().is_none() {
                state.active.begin(pending)
            } else {
                state.active.step(step)
            };
            log::info!("update: step {}", step_name(step));
            fault(step_name(step));
            match written {
                Ok(()) => (),
                // Rolling back goes on: a start after a power cut rolls back too.
                Err(e) if step == Step::RollingBack => log::error!("{}", error_chain(&e)),
                Err(e) => return Err(error_chain(&e)),
            }
        }
        Effect::Stop(id) => {
            let alive = state
                .containers
                .get(&id)
                .is_some_and(|c| c.life.phase.alive());
            // Also cancels a scheduled restart.
            let grace = state.grace(None);
            supervisor::stop(state, &id, grace, None);
            if !alive {
                queue.push_back(Input::Ended(id, None));
            }
        }
        Effect::Snapshot => {
            for path in names.data(state) {
                snapshot::take(&path, state.config.update.snapshot_max)
                    .map_err(|e| format!("snapshot: {}", error_chain(&e)))?;
            }
        }
        Effect::Start(id) => {
            // The new version runs with its manifest's arguments.
            if let Err(error) = supervisor::start(state, &id, (None, None), None) {
                queue.push_back(Input::StartFailed(id, error));
            }
        }
        Effect::Commit => {
            state
                .active
                .commit()
                .map_err(|e| format!("commit: {}", error_chain(&e)))?;
            fault("committed");
            queue.push_back(Input::Committed);
            for path in names.data(state) {
                if let Err(e) = snapshot::discard(&path) {
                    log::warn!("{}", error_chain(&e));
                }
            }
            if names.kind == Kind::Update {
                prune(state, names.repository, names.changes);
            }
        }
        Effect::Restore => {
            for path in names.data(state) {
                match snapshot::restore(&path) {
                    Ok(true) => log::info!("{}: data restored", path.display()),
                    Ok(false) => (),
                    Err(e) => log::error!("{}", error_chain(&e)),
                }
            }
            fault("restored");
        }
        Effect::Abort => {
            if let Err(e) = state.active.abort() {
                log::error!("{}", error_chain(&e));
            }
            if !names.snapshot {
                // Nothing to restore; a stale snapshot would only confuse a later start.
                for path in names.data(state) {
                    let _ = snapshot::discard(&path);
                }
            }
        }
        Effect::Restart(id) => match restart(state, &id) {
            Ok(true) => (),
            // Already running: nothing to wait for.
            Ok(false) => queue.push_back(Input::Started(id, Instant::now())),
            Err(error) => queue.push_back(Input::StartFailed(id, error)),
        },
        Effect::Notify(notification) => state.notify(notification),
        Effect::Answer(answer) => {
            let answer = match answer {
                Ok(ids) => {
                    log::info!("update: committed {}", list(&ids));
                    Ok(Response::Committed { ids })
                }
                Err(reason) => {
                    log::warn!("update: rolled back: {reason}");
                    Err(RequestError::RolledBack { reason })
                }
            };
            if let Some(reply) = state.update.reply.take() {
                let _ = reply.send(answer);
            }
        }
    }
    Ok(())
}

fn list(ids: &[ContainerId]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A test hook: `NORTHSTAR_TEST_UPDATE_CUT=<point>` ends the process abruptly at that
/// point of a transaction, as a power cut or a `kill -9` would (doc/update.md lists them).
fn fault(point: &str) {
    if std::env::var("NORTHSTAR_TEST_UPDATE_CUT").is_ok_and(|wanted| wanted == point) {
        log::error!("update: cut at {point} (NORTHSTAR_TEST_UPDATE_CUT)");
        std::process::abort();
    }
}

fn step_name(step: Step) -> &'static str {
    match step {
        Step::Stopping => "stopping",
        Step::Snapshot => "snapshot",
        Step::Starting => "starting",
        Step::RollingBack => "rolling_back",
    }
}

/// Start an old version again after a rollback. Its failure is an ordinary failed start:
/// for a critical container the configured reaction follows.
/// Whether it was launched (`false`: it runs already).
fn restart(state: &mut State, id: &ContainerId) -> Result<bool, String> {
    if state
        .containers
        .get(id)
        .is_some_and(|c| c.process.is_some())
    {
        return Ok(false);
    }
    let args = start::restart_args(state, id);
    supervisor::start(state, id, args, None).inspect_err(|error| {
        let critical = state
            .registry
            .get(id)
            .is_some_and(|p| p.manifest().autostart == Some(Autostart::Critical));
        if critical {
            events::critical_failure(state, id, error.clone());
        }
    })?;
    Ok(true)
}

/// After a commit: uninstall the versions of each changed name beyond `update.keep` old
/// ones (the active and previous versions and running ones stay).
fn prune(state: &mut State, repository: &str, changes: &[Change]) {
    let keep = usize::try_from(state.config.update.keep).unwrap_or(usize::MAX);
    for change in changes {
        let Some(entry) = state.active.get(repository, &change.name).cloned() else {
            continue;
        };
        let installed = super::active::installed(&state.registry)
            .remove(&(repository.to_string(), change.name.clone()))
            .unwrap_or_default();
        let old: Vec<&Version> = installed
            .iter()
            .rev()
            .filter(|v| **v != entry.active && Some(*v) != entry.previous.as_ref())
            .collect();
        let kept = keep.saturating_sub(usize::from(entry.previous.is_some()));
        for version in old.into_iter().skip(kept) {
            let Ok(name) = npk::manifest::Name::new(change.name.as_str()) else {
                continue;
            };
            let id = ContainerId::new(name, version.clone());
            match super::requests::uninstall(state, &id, false, None) {
                Ok(_) => log::info!("{id}: uninstalled (update.keep = {keep})"),
                Err(e) => log::info!("{id}: kept: {e}"),
            }
        }
    }
}

/// A container's program executed.
pub(crate) fn started(state: &mut State, id: &ContainerId) {
    let Some(transaction) = state.update.transaction.as_ref() else {
        return;
    };
    let checking = matches!(transaction.phase, Phase::Checking { .. });
    feed(state, Input::Started(id.clone(), Instant::now()));
    if checking {
        fault("checking");
    }
}

/// A container's start failed after its process existed.
pub(crate) fn start_failed(state: &mut State, id: &ContainerId, error: &str) {
    if state.update.transaction.is_some() {
        feed(state, Input::StartFailed(id.clone(), error.to_string()));
    }
}

/// A container the transaction stopped while its launch was in flight did not launch:
/// it ended without a process.
pub(crate) fn not_launched(state: &mut State, id: &ContainerId) {
    if state.update.owns(id) {
        feed(state, Input::Ended(id.clone(), None));
    }
}

/// A container said `READY=1`.
pub(crate) fn ready(state: &mut State, id: &ContainerId) {
    if state.update.transaction.is_some() {
        feed(state, Input::Ready(id.clone()));
    }
}

/// A container ended: whether the transaction owns it (no restart, no critical reaction).
pub(crate) fn exited(state: &mut State, id: &ContainerId, status: ExitStatus) {
    if state.update.owns(id) {
        feed(state, Input::Ended(id.clone(), Some(status)));
    }
}

/// Deadlines that passed.
pub(crate) fn timers(state: &mut State, now: Instant) {
    if state.update.deadline().is_some_and(|d| d <= now) {
        feed(state, Input::Tick(now));
    }
}

/// At start-up, before autostart: roll back a transaction a power cut or a crash
/// interrupted, and remove what finished transactions left.
pub(crate) fn resume(state: &mut State) {
    if let Some(pending) = state.active.pending().cloned() {
        let reason = format!(
            "the runtime restarted at step {:?} before the update was committed",
            pending.step
        );
        log::warn!("update of {}: {reason}: rolling back", pending.repository);
        for change in &pending.changes {
            let path = data::path(&state.config.data_dir, &pending.repository, &change.name);
            match snapshot::restore(&path) {
                Ok(true) => log::info!("{}: data restored", path.display()),
                Ok(false) => (),
                Err(e) => log::error!("{}", error_chain(&e)),
            }
        }
        if let Err(e) = state.active.abort() {
            log::error!("{}", error_chain(&e));
        }
        let ids = pending
            .changes
            .iter()
            .filter_map(|c| {
                npk::manifest::Name::new(c.name.as_str())
                    .ok()
                    .map(|n| ContainerId::new(n, c.to.clone()))
            })
            .collect();
        state.notify(Notification::RolledBack { ids, reason });
    }
    snapshot::clean(&state.config.data_dir);
}

#[cfg(test)]
mod tests;
