//! Requests: each handler changes the state and replies at once, or parks the reply until
//! the event it waits for (program executed, container ended, shutdown complete).

use super::{
    api::{ContainerInfo, Notification, Request, RequestError, Response},
    start::{self, StartError},
    state::{Follower, Reply, State},
};
use crate::{id::ContainerId, repository::Package};
use northstar_sys::clone::pidfd_signal;
use std::{os::fd::AsFd, time::Instant};

/// Handle one request.
pub(crate) fn handle(state: &mut State, request: Request, reply: Reply) {
    if state.shutdown.is_some() && request != Request::List {
        let _ = reply.send(Err(RequestError::ShuttingDown));
        return;
    }
    let answer = match request {
        Request::List => Ok(Response::Containers(list(state))),
        Request::Start { id, args, env } => return start(state, &id, args, env, reply),
        Request::Stop { id, timeout } => return stop(state, &id, timeout, Some(reply)),
        Request::Kill { id, signal } => kill(state, &id, signal),
        Request::Mount { id } => start::mount_image(state, &id, &id)
            .map(|_| Response::Ok)
            .map_err(|e| match e {
                StartError::NotFound(id) => RequestError::NotFound(id),
                e => RequestError::Mount(error_chain(&e)),
            }),
        Request::Umount { id } => umount(state, &id),
        Request::Install { repository, path } => {
            return install(state, repository, path, reply, false)
        }
        Request::Upload { repository, path } => {
            return install(state, repository, path, reply, true)
        }
        Request::Inspect { id } => super::inspect::inspect(state, &id),
        Request::Repositories => Ok(Response::Repositories(super::inspect::repositories(state))),
        Request::StartAgain { id } => {
            let (args, env) = start::restart_args(state, &id);
            return start(state, &id, args, env, reply);
        }
        Request::Uninstall {
            id,
            wipe,
            repositories,
        } => uninstall(state, &id, wipe, repositories.as_ref()),
        Request::Logs { id } => logs(state, id),
        Request::Shutdown => return shutdown(state, reply),
    };
    let _ = reply.send(answer);
}

fn logs(state: &State, id: ContainerId) -> Result<Response, RequestError> {
    match state.containers.get(&id) {
        Some(c) => Ok(Response::Logs {
            output: c.output.contents(),
        }),
        None if state.registry.get(&id).is_some() => Ok(Response::Logs { output: Vec::new() }),
        None => Err(RequestError::NotFound(id)),
    }
}

/// The output of `id` so far, then every new line to `follower`.
pub(crate) fn follow(state: &mut State, id: ContainerId, follower: Follower, reply: Reply) {
    let answer = logs(state, id.clone());
    if answer.is_ok() {
        // Followers of silent containers whose readers are gone are dropped here, so
        // their number stays bounded by the live ones.
        state.followers.retain_mut(|(_, f)| f(Some(&[])));
        state.followers.push((id, follower));
    }
    let _ = reply.send(answer);
}

/// The message of an error and its sources, `a: b: c`. A source whose text the message
/// already contains (errors that show their source in their own message) is not repeated.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !part.is_empty() && !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

fn list(state: &State) -> Vec<ContainerInfo> {
    state
        .registry
        .iter()
        .map(|(repository, package)| info(state, repository, package))
        .collect()
}

/// The state of one package's container.
pub(crate) fn info(state: &State, repository: &str, package: &Package) -> ContainerInfo {
    let id = package.id();
    let container = state.containers.get(&id);
    let process = container.and_then(|c| c.process.as_ref());
    ContainerInfo {
        resource: package.manifest().is_resource(),
        repository: repository.to_string(),
        state: container.map_or(super::api::ContainerState::Stopped, |c| c.state()),
        pid: process.map(|p| p.pid),
        uptime: process.map(|p| p.started.elapsed()),
        mounted: state.mounts.contains_key(&id),
        last_exit: container.and_then(|c| c.last_exit),
        restarts: container.map_or(0, |c| c.restarts),
        id,
    }
}

fn start(
    state: &mut State,
    id: &ContainerId,
    args: Option<Vec<String>>,
    env: Option<std::collections::BTreeMap<String, String>>,
    reply: Reply,
) {
    // An explicit start resets the restart policy's count.
    state.container(id).backoff = Default::default();
    state.container(id).restart_at = None;
    match start::start(state, id, args, env) {
        Ok(_) => {
            if let Some(p) = state.container(id).process.as_mut() {
                p.start_replies.push(reply);
            }
        }
        Err(e) => {
            let error = match e {
                StartError::NotFound(id) => RequestError::NotFound(id),
                StartError::Running(id) => RequestError::Running(id),
                StartError::Resource(id) => RequestError::Resource(id),
                e => RequestError::Start(error_chain(&e)),
            };
            log::warn!("{error}");
            state.notify(Notification::Failed {
                id: id.clone(),
                error: error.to_string(),
            });
            let _ = reply.send(Err(error));
        }
    }
}

/// SIGTERM to the container's init, which passes it to every process of the container;
/// SIGKILL at the deadline (see the timers).
pub(crate) fn stop(
    state: &mut State,
    id: &ContainerId,
    timeout: Option<std::time::Duration>,
    reply: Option<Reply>,
) {
    let grace = state.grace(timeout);
    let known = state.registry.get(id).is_some();
    let Some(container) = state.containers.get_mut(id) else {
        if let Some(reply) = reply {
            let _ = reply.send(Err(if known {
                RequestError::NotRunning(id.clone())
            } else {
                RequestError::NotFound(id.clone())
            }));
        }
        return;
    };
    // A scheduled restart is cancelled by a stop.
    let was_waiting = container.restart_at.take().is_some();
    let Some(process) = container.process.as_mut() else {
        if let Some(reply) = reply {
            let _ = reply.send(match (was_waiting, container.last_exit) {
                (true, Some(status)) => Ok(Response::Stopped { status }),
                _ => Err(RequestError::NotRunning(id.clone())),
            });
        }
        return;
    };
    let deadline = super::state::deadline(Instant::now(), grace);
    match process.stop.as_mut() {
        // Already stopping: the earlier deadline wins, so a second stop with a shorter
        // grace ends the container at its own deadline, not at the first one's.
        Some((first, replies)) => {
            if deadline < *first {
                log::info!("{id}: stop deadline brought forward");
                *first = deadline;
            }
            replies.extend(reply);
        }
        None => {
            log::info!("{id}: stopping");
            let signal = if grace.is_zero() {
                libc::SIGKILL
            } else {
                libc::SIGTERM
            };
            let _ = pidfd_signal(process.pidfd.as_fd(), signal);
            process.stop = Some((deadline, reply.into_iter().collect()));
        }
    }
}

fn kill(state: &mut State, id: &ContainerId, signal: i32) -> Result<Response, RequestError> {
    if state.registry.get(id).is_none() {
        return Err(RequestError::NotFound(id.clone()));
    }
    let process = state
        .containers
        .get(id)
        .and_then(|c| c.process.as_ref())
        .ok_or_else(|| RequestError::NotRunning(id.clone()))?;
    pidfd_signal(process.pidfd.as_fd(), signal)
        .map(|()| Response::Ok)
        .map_err(|e| RequestError::Failed(format!("{id}: signal {signal}: {e}")))
}

/// Whether a running container uses `id` (itself, or as a resource).
fn in_use(state: &State, id: &ContainerId) -> bool {
    state.containers.iter().any(|(cid, c)| {
        c.process
            .as_ref()
            .is_some_and(|p| cid == id || p.resources.contains(id))
    })
}

fn umount(state: &mut State, id: &ContainerId) -> Result<Response, RequestError> {
    if state.registry.get(id).is_none() {
        return Err(RequestError::NotFound(id.clone()));
    }
    if in_use(state, id) {
        return Err(RequestError::InUse(id.clone()));
    }
    match state.mounts.remove(id) {
        None => Ok(Response::Ok),
        Some(mounted) => match mounted.umount() {
            Ok(()) => Ok(Response::Ok),
            // Gone from the runtime's namespace; the kernel releases the devices when
            // the last user lets go (the loop device clears itself).
            Err(e @ crate::mount::Error::Lingering { .. }) => {
                log::warn!("{id}: {}", error_chain(&e));
                Ok(Response::Ok)
            }
            Err(e) => Err(RequestError::Mount(error_chain(&e))),
        },
    }
}

/// Verify and copy (an upload: take over) the package on a worker thread (it reads the
/// whole file); the loop commits the result when it comes back ([`installed`]).
fn install(
    state: &mut State,
    repository: String,
    path: std::path::PathBuf,
    reply: Reply,
    detailed: bool,
) {
    let Some(repo) = state.registry.repository(&repository) else {
        let _ = reply.send(Err(RequestError::NoRepository(repository)));
        return;
    };
    let (dir, key, limits) = (repo.dir().to_path_buf(), repo.key().copied(), repo.limits());
    let back = state.worker.clone();
    let spawned = std::thread::Builder::new()
        .name("install".into())
        .spawn(move || {
            // An upload is the server's spool in the repository directory: taken over
            // by a rename, not copied. A local install copies the caller's file.
            let result = if detailed {
                crate::repository::adopt_install(&dir, key.as_ref(), limits, &path)
            } else {
                std::fs::File::open(&path)
                    .map_err(|source| crate::repository::Error::Io {
                        path: path.clone(),
                        what: "open",
                        source,
                    })
                    .and_then(|file| {
                        crate::repository::prepare_install(
                            &dir,
                            key.as_ref(),
                            limits,
                            file,
                            u64::MAX,
                        )
                    })
            };
            back.send(super::Message::Prepared {
                repository,
                result: Box::new(result),
                reply,
                detailed,
            });
        });
    if let Err(e) = spawned {
        log::error!("install: start a worker thread: {e}");
    }
}

/// A package prepared by a worker: commit it into its repository.
pub(crate) fn installed(
    state: &mut State,
    repository: &str,
    result: Result<crate::repository::Prepared, crate::repository::Error>,
    reply: Reply,
    detailed: bool,
) {
    use crate::repository::Error as E;
    let answer = result
        .and_then(|prepared| state.registry.commit(repository, prepared))
        .map_err(|e| match e {
            E::Duplicate { id, .. } if detailed => RequestError::AlreadyInstalled(id),
            E::CapacityCount { max, .. } if detailed => RequestError::Full {
                repository: repository.to_string(),
                reason: format!("max_packages {max} reached"),
            },
            E::CapacityBytes {
                max, used, size, ..
            } if detailed => RequestError::Full {
                repository: repository.to_string(),
                reason: format!("max_bytes {max}: {used} used, {size} more"),
            },
            E::TooLarge { limit, .. } if detailed => RequestError::Full {
                repository: repository.to_string(),
                reason: format!("max_bytes {limit} reached"),
            },
            e => RequestError::Install(error_chain(&e)),
        });
    if let Ok(id) = &answer {
        // The first version of a name becomes active; the file is written before the
        // install is reported.
        if state
            .active
            .install(repository, id.name.as_str(), &id.version)
        {
            state.active.store();
        }
        log::info!("{id}: installed in {repository}");
        state.notify(Notification::Installed { id: id.clone() });
    }
    let _ = reply.send(answer.map(|id| Response::Installed { id }));
}

fn uninstall(
    state: &mut State,
    id: &ContainerId,
    wipe: bool,
    repositories: Option<&std::collections::BTreeSet<String>>,
) -> Result<Response, RequestError> {
    let package: &Package = state
        .registry
        .get(id)
        .ok_or_else(|| RequestError::NotFound(id.clone()))?;
    // Checked here, where the repository holding it is known.
    if let (Some(granted), Some(repository)) = (repositories, state.registry.repository_of(id)) {
        if !granted.contains(repository) {
            return Err(RequestError::NotGranted(repository.to_string()));
        }
    }
    let name = package.manifest().name.clone();
    let repository = state.registry.repository_of(id).map(str::to_string);
    let data = repository
        .as_deref()
        .map(|r| super::data::path(&state.config.data_dir, r, name.as_str()));
    if in_use(state, id) {
        return Err(RequestError::InUse(id.clone()));
    }
    umount(state, id)?;
    state
        .registry
        .uninstall(id)
        .map_err(|e| RequestError::Failed(error_chain(&e)))?;
    state.containers.remove(id);
    if let Some(repository) = repository {
        let remaining = super::active::installed(&state.registry)
            .remove(&(repository.clone(), name.to_string()))
            .unwrap_or_default();
        if state
            .active
            .uninstall(&repository, name.as_str(), &id.version, &remaining)
        {
            state.active.store();
        }
    }
    if let Some(data) = data.filter(|_| wipe) {
        if data.exists() {
            std::fs::remove_dir_all(&data).map_err(|e| {
                RequestError::Failed(format!("{id}: remove {}: {e}", data.display()))
            })?;
        }
    }
    state.notify(Notification::Uninstalled { id: id.clone() });
    for (_, mut follower) in state.followers.extract_if(.., |(f, _)| f == id) {
        follower(None);
    }
    Ok(Response::Ok)
}

/// Stop every container; the loop ends when the last one has ended.
fn shutdown(state: &mut State, reply: Reply) {
    log::info!("shutting down");
    let running: Vec<ContainerId> = state
        .containers
        .iter()
        .filter(|(_, c)| c.process.is_some())
        .map(|(id, _)| id.clone())
        .collect();
    for c in state.containers.values_mut() {
        c.restart_at = None;
    }
    for id in running {
        stop(state, &id, None, None);
    }
    state.shutdown = Some(vec![reply]);
}

#[cfg(test)]
mod tests;
