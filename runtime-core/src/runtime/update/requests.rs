//! The requests of update transactions: `update` (verify and install the packages on a
//! worker thread, check the versions, begin), `rollback` and `enable`.

use super::super::{
    active::Change,
    api::{Notification, Request, RequestError, Response, UpdateOptions},
    data,
    requests::error_chain,
    snapshot,
    state::{Reply, State},
    Message,
};
use super::{fault, feed, Check, Input, Kind, Phase, Transaction};
use crate::{
    config::Health,
    id::ContainerId,
    repository::{Error as RepoError, Prepared},
};
use npk::manifest::Mount;
use std::{collections::BTreeSet, path::PathBuf, time::Instant};

/// Handle an update, rollback or enable request.
pub(crate) fn request(state: &mut State, request: Request, reply: Reply) {
    match request {
        Request::Update {
            repository,
            paths,
            upload,
            options,
        } => update(state, repository, paths, upload, options, reply),
        Request::Rollback {
            repository,
            name,
            options,
        } => rollback(state, repository, name, options, reply),
        Request::Enable {
            repository,
            name,
            enabled,
        } => {
            let answer = holder(state, repository, &name).and_then(|repository| {
                match state.active.set_enabled(&repository, &name, enabled) {
                    Ok(true) => Ok(Response::Ok),
                    Ok(false) => Err(RequestError::NotInstalled(name)),
                    Err(e) => Err(RequestError::Failed(error_chain(&e))),
                }
            });
            let _ = reply.send(answer);
        }
        _ => {
            let _ = reply.send(Err(RequestError::Failed("not an update request".into())));
        }
    }
}

/// The repository holding `name` (`given`, or the only one with a version of it).
fn holder(state: &State, given: Option<String>, name: &str) -> Result<String, RequestError> {
    if let Some(repository) = given {
        return match state.registry.repository(&repository) {
            Some(_) => Ok(repository),
            None => Err(RequestError::NoRepository(repository)),
        };
    }
    let holders: BTreeSet<&str> = state
        .active
        .keys()
        .filter(|(_, n)| n == name)
        .map(|(r, _)| r.as_str())
        .collect();
    let mut iter = holders.iter();
    match (iter.next(), iter.next()) {
        (Some(repository), None) => Ok(repository.to_string()),
        (None, _) => Err(RequestError::NotInstalled(name.to_string())),
        (Some(_), Some(_)) => Err(RequestError::Ambiguous(name.to_string())),
    }
}

fn check_of(state: &State, options: &UpdateOptions) -> Check {
    let config = &state.config.update;
    Check {
        health: options.health.unwrap_or(config.health),
        window: options.window.unwrap_or(config.window),
        deadline: options
            .deadline
            .unwrap_or(config.deadline)
            .min(crate::config::update::MAX_DEADLINE),
    }
}

fn update(
    state: &mut State,
    repository: String,
    paths: Vec<PathBuf>,
    upload: bool,
    options: UpdateOptions,
    reply: Reply,
) {
    if state.update.busy() {
        let _ = reply.send(Err(RequestError::UpdateInProgress));
        return;
    }
    let Some(repo) = state.registry.repository(&repository) else {
        let _ = reply.send(Err(RequestError::NoRepository(repository)));
        return;
    };
    if paths.is_empty() {
        let _ = reply.send(Err(RequestError::Failed(
            "an update needs a package".into(),
        )));
        return;
    }
    let (dir, key, limits) = (repo.dir().to_path_buf(), repo.key().copied(), repo.limits());
    let back = state.worker.clone();
    state.update.preparing = true;
    let spawned = std::thread::Builder::new()
        .name("update".into())
        .spawn(move || {
            let mut prepared = Vec::new();
            let mut failure = None;
            for path in &paths {
                match super::super::requests::prepare(&dir, key.as_ref(), limits, path, upload) {
                    Ok(p) => prepared.push(p),
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            let result = match failure {
                Some(e) => Err(e),
                None => Ok(prepared),
            };
            back.send(Message::UpdatePrepared {
                repository,
                result,
                options,
                reply,
            });
        });
    if spawned.is_err() {
        log::error!("update: cannot start a worker thread");
        state.update.preparing = false;
    }
}

/// The packages of an update are verified: check the versions, install them, begin.
pub(crate) fn prepared(
    state: &mut State,
    repository: String,
    result: Result<Vec<Prepared>, RepoError>,
    options: UpdateOptions,
    reply: Reply,
) {
    state.update.preparing = false;
    let prepared = match result {
        Ok(prepared) => prepared,
        Err(e) => {
            let _ = reply.send(Err(RequestError::Install(error_chain(&e))));
            return;
        }
    };
    if state.shutdown.is_some() {
        let _ = reply.send(Err(RequestError::ShuttingDown));
        return;
    }
    let check = check_of(state, &options);
    // The request decides; else a manifest's persist mount that asks for it, else the
    // configuration.
    let asked = prepared
        .iter()
        .any(|p| snapshot_asked(p.package().manifest()));
    let snapshot = options
        .snapshot
        .unwrap_or(asked || state.config.update.snapshot);
    let mut changes = Vec::new();
    let mut names = BTreeSet::new();
    for p in &prepared {
        let manifest = p.package().manifest();
        let id = p.id();
        let name = manifest.name.to_string();
        if !names.insert(name.clone()) {
            let _ = reply.send(Err(RequestError::Failed(format!(
                "{name}: more than one version in one update"
            ))));
            return;
        }
        let entry = state.active.get(&repository, &name);
        let from = match entry {
            None if manifest.is_resource() => None,
            None => {
                let _ = reply.send(Err(RequestError::NotInstalled(name)));
                return;
            }
            Some(entry) => {
                let newer = manifest.version > entry.active && manifest.version >= entry.floor;
                if !newer && !options.downgrade {
                    let _ = reply.send(Err(RequestError::Downgrade {
                        id,
                        active: entry.active.to_string(),
                        floor: entry.floor.to_string(),
                    }));
                    return;
                }
                Some(entry.active.clone())
            }
        };
        if !manifest.is_resource() && check.health == Health::Ready {
            let socket = manifest
                .mounts
                .values()
                .any(|m| matches!(m, Mount::Sockets));
            if !socket {
                let _ = reply.send(Err(RequestError::Failed(format!(
                    "{id}: the `ready` health check needs a `sockets` mount (where \
                     NOTIFY_SOCKET is)"
                ))));
                return;
            }
        }
        if snapshot {
            let path = data::path(&state.config.data_dir, &repository, &name);
            if let Err(e) = snapshot::check_size(&path, state.config.update.snapshot_max) {
                let _ = reply.send(Err(RequestError::Failed(error_chain(&e))));
                return;
            }
        }
        changes.push(Change {
            name,
            from,
            to: manifest.version.clone(),
        });
    }
    let mut ids = Vec::new();
    let mut start = Vec::new();
    let mut resources = Vec::new();
    for p in prepared {
        let resource = p.package().manifest().is_resource();
        match state.registry.commit(&repository, p) {
            Ok(id) => {
                log::info!("{id}: installed in {repository} for an update");
                state.notify(Notification::Installed { id: id.clone() });
                if resource {
                    resources.push(id.clone());
                } else {
                    start.push(id.clone());
                }
                ids.push(id);
            }
            Err(e) => {
                // Nothing of a refused transaction stays installed.
                for id in &ids {
                    let _ = super::super::requests::uninstall(state, id, false, None);
                }
                let error = match e {
                    RepoError::Duplicate { id, .. } => RequestError::AlreadyInstalled(id),
                    e => RequestError::Install(error_chain(&e)),
                };
                let _ = reply.send(Err(error));
                return;
            }
        }
    }
    // New resource names become active with the rest at the commit.
    let _ = resources;
    fault("installed");
    begin(
        state,
        Kind::Update,
        repository,
        changes,
        ids,
        start,
        check,
        snapshot,
        reply,
    );
}

#[allow(clippy::too_many_arguments)]
fn begin(
    state: &mut State,
    kind: Kind,
    repository: String,
    changes: Vec<Change>,
    ids: Vec<ContainerId>,
    start: Vec<ContainerId>,
    check: Check,
    snapshot: bool,
    reply: Reply,
) {
    let old = changes
        .iter()
        .filter_map(|c| {
            let name = npk::manifest::Name::new(c.name.as_str()).ok()?;
            let id = ContainerId::new(name, c.from.clone()?);
            state
                .containers
                .get(&id)
                .is_some_and(|c| {
                    c.life.phase.alive()
                        || matches!(
                            c.life.phase,
                            super::super::lifecycle::Phase::Restarting { .. }
                        )
                })
                .then_some(id)
        })
        .collect();
    log::info!(
        "update of {repository}: {}",
        changes
            .iter()
            .map(|c| match &c.from {
                Some(from) => format!("{} {from} -> {}", c.name, c.to),
                None => format!("{} {}", c.name, c.to),
            })
            .collect::<Vec<_>>()
            .join(", ")
    );
    state.update.transaction = Some(Transaction {
        kind,
        repository,
        changes,
        ids,
        start,
        old,
        check,
        snapshot,
        phase: Phase::Idle,
    });
    state.update.reply = Some(reply);
    feed(state, Input::Begin(Instant::now()));
}

fn rollback(
    state: &mut State,
    repository: Option<String>,
    name: String,
    options: UpdateOptions,
    reply: Reply,
) {
    if state.update.busy() {
        let _ = reply.send(Err(RequestError::UpdateInProgress));
        return;
    }
    let repository = match holder(state, repository, &name) {
        Ok(repository) => repository,
        Err(e) => {
            let _ = reply.send(Err(e));
            return;
        }
    };
    let Some(entry) = state.active.get(&repository, &name).cloned() else {
        let _ = reply.send(Err(RequestError::NotInstalled(name)));
        return;
    };
    let Ok(parsed) = npk::manifest::Name::new(name.as_str()) else {
        let _ = reply.send(Err(RequestError::NotInstalled(name)));
        return;
    };
    let target = entry
        .previous
        .clone()
        .map(|v| ContainerId::new(parsed, v))
        .filter(|id| state.registry.get(id).is_some());
    let Some(target) = target else {
        let _ = reply.send(Err(RequestError::NoPrevious(name)));
        return;
    };
    let resource = state
        .registry
        .get(&target)
        .is_some_and(|p| p.manifest().is_resource());
    let check = check_of(state, &options);
    let asked = state
        .registry
        .get(&target)
        .is_some_and(|p| snapshot_asked(p.manifest()));
    let snapshot = options
        .snapshot
        .unwrap_or(asked || state.config.update.snapshot);
    let changes = vec![Change {
        name,
        from: Some(entry.active),
        to: target.version.clone(),
    }];
    let start = if resource {
        Vec::new()
    } else {
        vec![target.clone()]
    };
    begin(
        state,
        Kind::Rollback,
        repository,
        changes,
        vec![target],
        start,
        check,
        snapshot,
        reply,
    );
}

/// Whether a persist mount of `manifest` asks for a snapshot before an update.
fn snapshot_asked(manifest: &npk::manifest::Manifest) -> bool {
    manifest
        .mounts
        .values()
        .any(|m| matches!(m, Mount::Persist(p) if p.snapshot))
}
