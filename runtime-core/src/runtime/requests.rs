//! Requests: each handler changes the state and replies at once, or parks the reply until
//! the event it waits for (program executed, container ended, shutdown complete).

use super::{
    api::{ContainerInfo, Notification, Request, RequestError, Response},
    start::{self, StartError},
    state::{Follower, Reply, State},
    supervisor,
};
use crate::{id::ContainerId, repository::Package};
use northstar_sys::clone::pidfd_signal;
use std::os::fd::AsFd;

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
        // An update's own uninstalls (of versions beyond `update.keep`) do not come here.
        Request::Uninstall { id, .. } if state.update.involves(&id) => {
            Err(RequestError::UpdateInProgress)
        }
        Request::Uninstall {
            id,
            wipe,
            repositories,
        } => uninstall(state, &id, wipe, repositories.as_ref()),
        Request::Logs { id } => logs(state, id),
        Request::Shutdown => return shutdown(state, reply),
        request @ (Request::Update { .. } | Request::Rollback { .. } | Request::Enable { .. }) => {
            return super::update::request(state, request, reply)
        }
        Request::Verify { id } => return super::verify::request(state, id, reply),
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

/// The message of an error and its sources, `a: b: c` (one printer for the project).
pub(crate) use northstar_api::chain as error_chain;

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
        last_exit: container.and_then(|c| c.life.last_exit),
        restarts: container.map_or(0, |c| c.life.restarts),
        ready: process
            .and_then(|p| p.notify.as_ref())
            .is_some_and(|n| n.ready),
        status: process
            .and_then(|p| p.notify.as_ref())
            .and_then(|n| n.status.clone()),
        active: state
            .active
            .get(repository, id.name.as_str())
            .is_some_and(|e| e.active == id.version),
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
    let refusal = match state.registry.get(id) {
        None => Some(RequestError::NotFound(id.clone())),
        Some(p) if p.manifest().is_resource() => Some(RequestError::Resource(id.clone())),
        // Two versions of a name never run at once because of a start during its update.
        Some(_) if state.update.involves(id) => Some(RequestError::UpdateInProgress),
        Some(_) => None,
    };
    if let Some(error) = refusal {
        log::warn!("{error}");
        state.notify(Notification::Failed {
            id: id.clone(),
            error: error.to_string(),
        });
        let _ = reply.send(Err(error));
        return;
    }
    // An explicit start resets the restart policy's count (the lifecycle does).
    let _ = supervisor::start(state, id, (args, env), Some(reply));
}

/// SIGTERM to the container's init, which passes it to every process of the container;
/// SIGKILL at the deadline (see the lifecycle). A scheduled restart is cancelled.
pub(crate) fn stop(
    state: &mut State,
    id: &ContainerId,
    timeout: Option<std::time::Duration>,
    reply: Option<Reply>,
) {
    if state.registry.get(id).is_none() && !state.containers.contains_key(id) {
        if let Some(reply) = reply {
            let _ = reply.send(Err(RequestError::NotFound(id.clone())));
        }
        return;
    }
    let grace = state.grace(timeout);
    supervisor::stop(state, id, grace, reply);
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

/// Whether a running (or launching) container uses `id` (itself, or as a resource).
fn in_use(state: &State, id: &ContainerId) -> bool {
    state.containers.iter().any(|(cid, c)| c.uses(cid, id))
}

/// The active version of a container whose resource mount resolves to `id`, if any: a
/// resource it needs to start cannot be uninstalled.
fn needed_by(state: &State, id: &ContainerId) -> Option<ContainerId> {
    state.registry.iter().find_map(|(repository, package)| {
        let manifest = package.manifest();
        let consumer = package.id();
        let active = state
            .active
            .get(repository, manifest.name.as_str())
            .is_some_and(|e| e.active == manifest.version);
        if !active || consumer == *id {
            return None;
        }
        manifest
            .mounts
            .values()
            .filter_map(|m| match m {
                npk::manifest::Mount::Resource(r) => Some(r),
                _ => None,
            })
            .any(|r| {
                state
                    .registry
                    .resolve(repository, &r.name, &r.version)
                    .is_some_and(|p| p.id() == *id)
            })
            .then_some(consumer)
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
            let result = prepare(&dir, key.as_ref(), limits, &path, detailed);
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

/// Verify and copy the package file at `path` for `dir` (on a worker thread: it reads the
/// whole file). An upload (`spool`) is the server's spool file in the repository
/// directory: taken over by a rename, not copied. A local install copies the caller's file.
pub(crate) fn prepare(
    dir: &std::path::Path,
    key: Option<&npk::key::PublicKey>,
    limits: crate::repository::Limits,
    path: &std::path::Path,
    spool: bool,
) -> Result<crate::repository::Prepared, crate::repository::Error> {
    if spool {
        return crate::repository::adopt_install(dir, key, limits, path);
    }
    std::fs::File::open(path)
        .map_err(|source| crate::repository::Error::Io {
            path: path.to_path_buf(),
            what: "open",
            source,
        })
        .and_then(|file| crate::repository::prepare_install(dir, key, limits, file, u64::MAX))
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

pub(crate) fn uninstall(
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
    if let Some(user) = needed_by(state, id) {
        log::info!("{id}: not uninstalled: the active version {user} uses it");
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
    let restarting: Vec<ContainerId> = state
        .containers
        .iter()
        .filter(|(_, c)| matches!(c.life.phase, super::lifecycle::Phase::Restarting { .. }))
        .map(|(id, _)| id.clone())
        .collect();
    for id in running.iter().chain(&restarting) {
        stop(state, id, None, None);
    }
    state.shutdown = Some(vec![reply]);
}

#[cfg(test)]
mod tests;
