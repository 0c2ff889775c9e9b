//! Checking installed packages in full: every data and hash block of a signed package's
//! `fs.img` against its signed root hash, on request (`Request::Verify`) and, when the
//! configuration's `[verify] scrub_interval` says so, periodically (a scrub).
//!
//! Loading a repository checks only a package's signature, signed metadata and verity
//! superblock, and dm-verity checks each data block when it is read; a block that is never
//! read is never checked. These checks read the whole file, so they run on one worker
//! thread, one package after the other, on copies of the packages (their own descriptors
//! of the open files, [`Package::try_clone`]): the loop is never blocked and the registry
//! is not borrowed. A package uninstalled meanwhile is still checked through its
//! descriptor. One check runs at a time; requests that come meanwhile wait (at most
//! [`MAX_WAITING`]), a scrub that falls due waits for the running check.
//!
//! A scrub's failure is logged as an error naming the container, its repository and the
//! file (the block too, for a corrupt image) and reported as
//! [`Notification::VerifyFailed`]; nothing is stopped.

use super::{
    api::{Notification, RequestError, Response, Verified},
    requests::error_chain,
    state::{deadline, Reply, State},
};
use crate::{id::ContainerId, repository::Package};
use northstar_api::CheckResult;
use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

/// Requests that may wait for the running check; more are answered `busy`.
pub(crate) const MAX_WAITING: usize = 4;

/// What the worker reports back to the loop.
pub(crate) enum Progress {
    /// One package is checked.
    Checked(Verified),
    /// Every package of the check is done.
    Done,
}

/// A package to check: its copy, or why none could be taken.
struct Copy {
    id: ContainerId,
    repository: String,
    package: Result<Package, String>,
}

/// A check: the packages, and the reply (`None`: a scrub).
struct Job {
    packages: Vec<Copy>,
    reply: Option<Reply>,
}

/// The check running on the worker.
struct Running {
    reply: Option<Reply>,
    results: Vec<Verified>,
}

/// The checks of installed packages: the one running, those waiting, the next scrub.
#[derive(Default)]
pub(crate) struct Verifier {
    interval: Option<Duration>,
    next_scrub: Option<Instant>,
    scrub_due: bool,
    running: Option<Running>,
    waiting: VecDeque<Job>,
}

impl Verifier {
    /// Scrubs every `interval` (`None`: never), the first one `interval` after `now`.
    pub(crate) fn new(interval: Option<Duration>, now: Instant) -> Verifier {
        Verifier {
            interval,
            next_scrub: interval.map(|i| deadline(now, i)),
            ..Verifier::default()
        }
    }

    /// When the next scrub falls due (the loop's timeout), unless it already has.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.next_scrub
    }
}

/// `Request::Verify`: copy the packages now, check them when the worker is free.
pub(crate) fn request(state: &mut State, id: Option<ContainerId>, reply: Reply) {
    if let Some(id) = &id {
        if state.registry.get(id).is_none() {
            let _ = reply.send(Err(RequestError::NotFound(id.clone())));
            return;
        }
    }
    if state.verify.waiting.len() >= MAX_WAITING {
        let busy = format!("{MAX_WAITING} checks of packages are waiting already");
        let _ = reply.send(Err(RequestError::Busy(busy)));
        return;
    }
    let packages = copies(state, id.as_ref());
    state.verify.waiting.push_back(Job {
        packages,
        reply: Some(reply),
    });
    next(state);
}

/// The scrub's timer: when it is due, the scrub starts (or waits for the running check).
pub(crate) fn timers(state: &mut State, now: Instant) {
    let verify = &mut state.verify;
    if verify.next_scrub.is_some_and(|at| at <= now) && state.shutdown.is_none() {
        verify.next_scrub = None;
        verify.scrub_due = true;
        next(state);
    }
}

/// A report of the worker.
pub(crate) fn progress(state: &mut State, progress: Progress) {
    let Some(running) = state.verify.running.as_mut() else {
        return;
    };
    match progress {
        Progress::Checked(checked) => {
            if running.reply.is_none() {
                scrubbed(state, &checked);
            }
            if let Some(running) = state.verify.running.as_mut() {
                running.results.push(checked);
            }
        }
        Progress::Done => {
            let Some(running) = state.verify.running.take() else {
                return;
            };
            match running.reply {
                Some(reply) => {
                    let _ = reply.send(Ok(Response::Verified(running.results)));
                }
                None => {
                    let failed = running
                        .results
                        .iter()
                        .filter(|r| r.result.is_failed())
                        .count();
                    log::info!(
                        "scrub: {} packages checked, {failed} failed",
                        running.results.len()
                    );
                    let verify = &mut state.verify;
                    verify.next_scrub = verify.interval.map(|i| deadline(Instant::now(), i));
                }
            }
            next(state);
        }
    }
}

/// Log and report one package of a scrub.
fn scrubbed(state: &mut State, checked: &Verified) {
    let Verified {
        id,
        repository,
        result,
    } = checked;
    match result {
        CheckResult::Failed { reason } => {
            log::error!("{id} in repository {repository}: scrub: {reason}");
            state.notify(Notification::VerifyFailed {
                id: id.clone(),
                repository: repository.clone(),
                error: reason.clone(),
            });
        }
        CheckResult::Ok {} => log::debug!("{id} in repository {repository}: scrub: ok"),
        CheckResult::Development {} => {
            log::debug!("{id} in repository {repository}: scrub: development package, skipped")
        }
    }
}

/// Start the next check when none runs: a waiting request first, then a due scrub.
fn next(state: &mut State) {
    if state.verify.running.is_some() {
        return;
    }
    let job = match state.verify.waiting.pop_front() {
        Some(job) => job,
        None if state.verify.scrub_due => {
            state.verify.scrub_due = false;
            log::info!("scrub: checking every installed package");
            Job {
                packages: copies(state, None),
                reply: None,
            }
        }
        None => return,
    };
    let Job { packages, reply } = job;
    let back = state.worker.clone();
    let spawned = std::thread::Builder::new()
        .name("verify".into())
        .spawn(move || {
            for copy in packages {
                let checked = check(copy);
                back.send(super::Message::Verify(Progress::Checked(checked)));
            }
            back.send(super::Message::Verify(Progress::Done));
        });
    match spawned {
        Ok(_) => {
            state.verify.running = Some(Running {
                reply,
                results: Vec::new(),
            })
        }
        Err(e) => {
            let error = format!("start a worker thread to check packages: {e}");
            log::error!("{error}");
            match reply {
                Some(reply) => {
                    let _ = reply.send(Err(RequestError::Failed(error)));
                }
                None => {
                    let verify = &mut state.verify;
                    verify.next_scrub = verify.interval.map(|i| deadline(Instant::now(), i));
                }
            }
        }
    }
}

/// Copies of the packages to check: `id`, or every installed one, in the registry's
/// order (by repository, then container).
fn copies(state: &State, id: Option<&ContainerId>) -> Vec<Copy> {
    state
        .registry
        .iter()
        .filter(|(_, package)| id.is_none_or(|id| package.id() == *id))
        .map(|(repository, package)| Copy {
            id: package.id(),
            repository: repository.to_string(),
            package: package.try_clone().map_err(|e| {
                format!(
                    "{}: cannot duplicate the descriptor: {e}",
                    package.path().display()
                )
            }),
        })
        .collect()
}

/// Check one package (on the worker: reads the whole image).
fn check(copy: Copy) -> Verified {
    let result = match copy.package {
        Err(reason) => CheckResult::Failed { reason },
        Ok(package) => match package.check_fs_img() {
            Ok(true) => CheckResult::Ok {},
            Ok(false) => CheckResult::Development {},
            Err(e) => CheckResult::Failed {
                reason: error_chain(&e),
            },
        },
    };
    Verified {
        id: copy.id,
        repository: copy.repository,
        result,
    }
}
