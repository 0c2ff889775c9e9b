//! The update transaction as a pure state machine: [`Transaction::on`] takes an [`Input`]
//! and returns the [`Effect`]s to carry out, in order. Nothing here touches the runtime,
//! the file system or the clock (the time comes with the inputs), so every transition is
//! a unit test (`tests.rs`).

use super::super::{
    active::{Change, Kind, Pending, Step},
    api::Notification,
    state::deadline,
};
use crate::{config::Health, container::ExitStatus, id::ContainerId};
use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};

/// How one transaction checks its new versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Check {
    pub health: Health,
    /// The `running` check's window.
    pub window: Duration,
    /// The longest wait for every new version to be healthy.
    pub deadline: Duration,
}

/// What happens to a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Input {
    /// The new packages are installed: begin.
    Begin(Instant),
    /// A new version's program executed.
    Started(ContainerId, Instant),
    /// A new version could not start.
    StartFailed(ContainerId, String),
    /// A new version sent `READY=1`.
    Ready(ContainerId),
    /// A container of the transaction ended (`None`: it was not running when stopped).
    Ended(ContainerId, Option<ExitStatus>),
    /// The time is now.
    Tick(Instant),
    /// An effect failed.
    Failed(String),
    /// The commit is written.
    Committed,
}

/// What the runtime does for a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Effect {
    /// Write the transaction at this step (durably) before what follows.
    Persist(Pending),
    /// Stop a container (normal stop: SIGTERM, grace, SIGKILL).
    Stop(ContainerId),
    /// Snapshot the persistent data of the names changed.
    Snapshot,
    /// Start a new version.
    Start(ContainerId),
    /// Make the new versions active, durably; remove snapshots and old versions. Answered
    /// by [`Input::Committed`] or [`Input::Failed`].
    Commit,
    /// Put the data snapshots back.
    Restore,
    /// End the transaction with the old versions active; mark the new ones failed.
    Abort,
    /// Start an old version again.
    Restart(ContainerId),
    Notify(Notification),
    /// Answer the request: the committed ids or why it rolled back.
    Answer(Result<Vec<ContainerId>, String>),
}

/// Where a transaction is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Idle,
    /// Waiting for these old versions to end.
    StoppingOld(BTreeSet<ContainerId>),
    /// The new versions are starting; checked until `until`.
    Checking {
        until: Instant,
        started: BTreeMap<ContainerId, Instant>,
        ready: BTreeSet<ContainerId>,
        healthy: BTreeSet<ContainerId>,
        ended: BTreeSet<ContainerId>,
    },
    /// Every new version is healthy: the commit is being written; these run.
    Committing(BTreeSet<ContainerId>),
    /// Rolling back: waiting for these new versions to end.
    StoppingNew(BTreeSet<ContainerId>, String),
    /// Rolled back: waiting for these old versions' programs to run again.
    RestartingOld(BTreeSet<ContainerId>, String),
    Done,
}

/// One update transaction.
#[derive(Clone, Debug)]
pub(crate) struct Transaction {
    pub kind: Kind,
    pub repository: String,
    pub changes: Vec<Change>,
    /// The new versions, resources included.
    pub ids: Vec<ContainerId>,
    /// The new versions to start and check (not resources).
    pub start: Vec<ContainerId>,
    /// The old versions running (or about to restart) when the transaction began.
    pub old: Vec<ContainerId>,
    pub check: Check,
    pub snapshot: bool,
    pub phase: Phase,
}

impl Transaction {
    pub(crate) fn pending(&self, step: Step) -> Pending {
        Pending {
            repository: self.repository.clone(),
            kind: self.kind,
            changes: self.changes.clone(),
            step,
            snapshot: self.snapshot,
        }
    }

    /// Whether the transaction is over.
    pub(crate) fn done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Whether an exit of `id` is the transaction's to handle.
    pub(crate) fn owns(&self, id: &ContainerId) -> bool {
        match &self.phase {
            Phase::StoppingOld(waiting) => waiting.contains(id),
            Phase::Checking { .. } | Phase::Committing(_) | Phase::StoppingNew(..) => {
                self.start.contains(id)
            }
            Phase::Idle | Phase::RestartingOld(..) | Phase::Done => false,
        }
    }

    /// The next instant the transaction needs a [`Input::Tick`].
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let Phase::Checking {
            until,
            started,
            healthy,
            ..
        } = &self.phase
        else {
            return None;
        };
        let windows = (self.check.health == Health::Running)
            .then(|| {
                started
                    .iter()
                    .filter(|(id, _)| !healthy.contains(*id))
                    .map(|(_, at)| deadline(*at, self.check.window))
                    .min()
            })
            .flatten();
        Some(windows.map_or(*until, |w| w.min(*until)))
    }

    /// The transaction's reaction to `input`.
    pub(crate) fn on(&mut self, input: Input) -> Vec<Effect> {
        let phase = std::mem::replace(&mut self.phase, Phase::Done);
        match (phase, input) {
            (Phase::Idle, Input::Begin(now)) => {
                let mut effects = vec![
                    Effect::Persist(self.pending(Step::Stopping)),
                    Effect::Notify(Notification::UpdateStarted {
                        ids: self.ids.clone(),
                    }),
                ];
                if self.old.is_empty() {
                    effects.extend(self.start_new(now));
                } else {
                    effects.extend(self.old.iter().cloned().map(Effect::Stop));
                    self.phase = Phase::StoppingOld(self.old.iter().cloned().collect());
                }
                effects
            }
            (Phase::StoppingOld(mut waiting), Input::Ended(id, _)) => {
                waiting.remove(&id);
                if waiting.is_empty() {
                    self.start_new(Instant::now())
                } else {
                    self.phase = Phase::StoppingOld(waiting);
                    Vec::new()
                }
            }
            (Phase::StoppingOld(_), Input::Failed(reason)) => self.fail(BTreeSet::new(), reason),
            (
                Phase::Checking {
                    until,
                    mut started,
                    mut ready,
                    healthy,
                    mut ended,
                },
                input,
            ) => {
                let mut newly = Vec::new();
                let mut failure = None;
                match input {
                    Input::Started(id, at) if self.start.contains(&id) => {
                        started.insert(id.clone(), at);
                        if self.check.health == Health::Ready && ready.contains(&id) {
                            newly.push(id);
                        }
                    }
                    Input::Ready(id) if self.start.contains(&id) => {
                        ready.insert(id.clone());
                        if self.check.health == Health::Ready && started.contains_key(&id) {
                            newly.push(id);
                        }
                    }
                    Input::Ended(id, status) if self.start.contains(&id) => {
                        ended.insert(id.clone());
                        match status {
                            Some(s) if self.check.health == Health::Exited && s.success() => {
                                newly.push(id)
                            }
                            // A version that passed `ready` or `running` and ends before
                            // the others are healthy fails the transaction too.
                            Some(s) => failure = Some(format!("{id}: ended with {s}")),
                            None => failure = Some(format!("{id}: not running")),
                        }
                    }
                    Input::StartFailed(id, error) if self.start.contains(&id) => {
                        ended.insert(id.clone());
                        failure = Some(error);
                    }
                    Input::Failed(reason) => failure = Some(reason),
                    Input::Tick(now) => {
                        if self.check.health == Health::Running {
                            for (id, at) in &started {
                                if !healthy.contains(id)
                                    && !ended.contains(id)
                                    && deadline(*at, self.check.window) <= now
                                {
                                    newly.push(id.clone());
                                }
                            }
                        }
                        let all = healthy.len().saturating_add(newly.len()) >= self.start.len();
                        if !all && now >= until {
                            failure = Some(self.late(&started, &healthy, &newly));
                        }
                    }
                    _ => (),
                }
                // The new versions whose process is still there.
                let running: BTreeSet<ContainerId> = self
                    .start
                    .iter()
                    .filter(|id| !ended.contains(*id))
                    .cloned()
                    .collect();
                if let Some(reason) = failure {
                    return self.fail(running, reason);
                }
                let mut effects = Vec::new();
                let mut healthy = healthy;
                for id in newly {
                    if healthy.insert(id.clone()) {
                        effects.push(Effect::Notify(Notification::Healthy { id }));
                    }
                }
                if healthy.len() >= self.start.len() {
                    effects.extend(self.commit(running));
                } else {
                    self.phase = Phase::Checking {
                        until,
                        started,
                        ready,
                        healthy,
                        ended,
                    };
                }
                effects
            }
            (Phase::Committing(_), Input::Committed) => vec![
                Effect::Notify(Notification::Committed {
                    ids: self.ids.clone(),
                }),
                Effect::Answer(Ok(self.ids.clone())),
            ],
            // The commit could not be written: the old versions are still the active ones.
            (Phase::Committing(running), Input::Failed(reason)) => self.fail(running, reason),
            (
                Phase::StoppingNew(mut waiting, reason),
                Input::Ended(id, _) | Input::StartFailed(id, _),
            ) => {
                waiting.remove(&id);
                if waiting.is_empty() {
                    self.finish(reason)
                } else {
                    self.phase = Phase::StoppingNew(waiting, reason);
                    Vec::new()
                }
            }
            (Phase::RestartingOld(mut waiting, reason), input) => {
                match input {
                    Input::Started(id, _) => {
                        waiting.remove(&id);
                    }
                    // Its failure is an ordinary failed start (the critical reaction for
                    // a critical container); the transaction has rolled back all the same.
                    Input::StartFailed(id, _) => {
                        waiting.remove(&id);
                    }
                    _ => (),
                }
                if waiting.is_empty() {
                    self.answer_rolled_back(reason)
                } else {
                    self.phase = Phase::RestartingOld(waiting, reason);
                    Vec::new()
                }
            }
            // Anything else changes nothing.
            (phase, _) => {
                self.phase = phase;
                Vec::new()
            }
        }
    }

    /// Why the health check's deadline failed the transaction.
    fn late(
        &self,
        started: &BTreeMap<ContainerId, Instant>,
        healthy: &BTreeSet<ContainerId>,
        newly: &[ContainerId],
    ) -> String {
        let what = match self.check.health {
            Health::Ready => "sent READY=1",
            Health::Running => "ran through its window",
            Health::Exited => "exited",
        };
        let late: Vec<String> = self
            .start
            .iter()
            .filter(|id| !healthy.contains(*id) && !newly.contains(*id))
            .map(|id| {
                if started.contains_key(id) {
                    id.to_string()
                } else {
                    format!("{id} (not started)")
                }
            })
            .collect();
        format!(
            "health check deadline of {}s passed: {} never {what}",
            self.check.deadline.as_secs_f32(),
            late.join(", ")
        )
    }

    /// The old versions have ended: snapshot, then start the new versions.
    fn start_new(&mut self, now: Instant) -> Vec<Effect> {
        let mut effects = Vec::new();
        if self.snapshot {
            effects.push(Effect::Persist(self.pending(Step::Snapshot)));
            effects.push(Effect::Snapshot);
        }
        effects.push(Effect::Persist(self.pending(Step::Starting)));
        if self.start.is_empty() {
            effects.extend(self.commit(BTreeSet::new()));
            return effects;
        }
        effects.extend(self.start.iter().cloned().map(Effect::Start));
        self.phase = Phase::Checking {
            until: deadline(now, self.check.deadline),
            started: BTreeMap::new(),
            ready: BTreeSet::new(),
            healthy: BTreeSet::new(),
            ended: BTreeSet::new(),
        };
        effects
    }

    fn commit(&mut self, running: BTreeSet<ContainerId>) -> Vec<Effect> {
        self.phase = Phase::Committing(running);
        vec![Effect::Commit]
    }

    /// Roll back: stop the new versions still running, then [`Transaction::finish`].
    ///
    /// Nothing of a rollback needs its step written first: a start that finds any step of
    /// an uncommitted transaction rolls it back. The step is written before the new
    /// versions are stopped (to say what the device was doing); with none running, the
    /// old versions start at once.
    fn fail(&mut self, running: BTreeSet<ContainerId>, reason: String) -> Vec<Effect> {
        if running.is_empty() {
            return self.finish(reason);
        }
        let mut effects = vec![Effect::Persist(self.pending(Step::RollingBack))];
        effects.extend(running.iter().cloned().map(Effect::Stop));
        self.phase = Phase::StoppingNew(running, reason);
        effects
    }

    /// The new versions have ended: restore the data, start the old versions, end the
    /// transaction. The old versions start before the end is written (a power cut
    /// between the two rolls back again at the next start, with the same outcome), and
    /// the answer waits for their programs to run.
    fn finish(&mut self, reason: String) -> Vec<Effect> {
        let mut effects = Vec::new();
        if self.snapshot {
            effects.push(Effect::Restore);
        }
        effects.extend(self.old.iter().cloned().map(Effect::Restart));
        effects.push(Effect::Abort);
        if self.old.is_empty() {
            effects.extend(self.answer_rolled_back(reason));
        } else {
            self.phase = Phase::RestartingOld(self.old.iter().cloned().collect(), reason);
        }
        effects
    }

    fn answer_rolled_back(&mut self, reason: String) -> Vec<Effect> {
        self.phase = Phase::Done;
        vec![
            Effect::Notify(Notification::RolledBack {
                ids: self.ids.clone(),
                reason: reason.clone(),
            }),
            Effect::Answer(Err(reason)),
        ]
    }
}
