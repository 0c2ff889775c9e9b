//! The one place where the runtime's types become the protocol's: container states,
//! exit statuses, inspections, logs, notifications, errors, and a manifest's console
//! permissions.

use crate::{
    container::ExitStatus,
    runtime::{ContainerInfo, Inspection, Notification, RequestError, Response},
};
use northstar_api::{self as api, ApiError, ContainerId, Permission, Permissions, RepositoryName};

/// An exit status.
pub(super) fn exit(status: ExitStatus) -> api::ExitStatus {
    match status {
        ExitStatus::Exit(code) => api::ExitStatus::Exit { code },
        ExitStatus::Signal(signal) => api::ExitStatus::Signal { signal },
    }
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn repository(name: &str) -> Result<RepositoryName, ApiError> {
    RepositoryName::new(name).map_err(|e| ApiError::Internal {
        message: e.to_string(),
    })
}

/// One container's state.
pub(super) fn info(info: ContainerInfo) -> Result<api::ContainerInfo, ApiError> {
    Ok(api::ContainerInfo {
        repository: repository(&info.repository)?,
        container: info.id,
        resource: info.resource,
        state: info.state,
        pid: info.pid,
        uptime_ms: info.uptime.map(millis),
        mounted: info.mounted,
        last_exit: info.last_exit.map(exit),
        restarts: info.restarts,
        ready: info.ready,
        status: info.status,
        active: info.active,
    })
}

/// `inspect`'s answer.
pub(super) fn inspection(inspection: Inspection) -> Result<api::Response, ApiError> {
    let process = inspection.process.map(|p| api::ProcessInfo {
        pid: p.pid,
        uptime_ms: millis(p.uptime),
        args: p.args,
        overridden: p.overridden,
    });
    Ok(api::Response::Inspect(Box::new(api::Inspection {
        info: info(inspection.info)?,
        manifest: inspection.manifest,
        process,
        cgroup: inspection.cgroup,
        selinux: inspection.selinux,
    })))
}

/// `logs`' answer: the last `tail` lines of `output` that fit in `budget` bytes of JSON.
pub(super) fn logs(output: &[u8], tail: Option<u32>, budget: usize) -> api::Response {
    let text = String::from_utf8_lossy(output);
    let all: Vec<&str> = text.lines().collect();
    let tail = tail.map_or(all.len(), |t| t as usize);
    let mut lines = Vec::new();
    let mut used = 0usize;
    for line in all.iter().rev().take(tail) {
        // A JSON string is at most six bytes per byte of text, plus quotes and a comma.
        let json = serde_json::to_string(line)
            .map_or(line.len().saturating_mul(6).saturating_add(2), |s| s.len());
        let cost = json.saturating_add(1);
        let Some(total) = used.checked_add(cost).filter(|t| *t <= budget) else {
            break;
        };
        used = total;
        lines.push((*line).to_string());
    }
    lines.reverse();
    api::Response::Logs {
        truncated: lines.len() < all.len(),
        lines,
    }
}

/// A successful answer that needs no more than its own data (not `logs`, `stop` with
/// its container, ...).
pub(super) fn response(
    container: Option<&ContainerId>,
    response: Response,
) -> Result<api::Response, ApiError> {
    let internal = |what: &str| ApiError::Internal {
        message: format!("unexpected answer of the runtime: {what}"),
    };
    Ok(match response {
        Response::Ok => api::Response::Ok {},
        Response::Containers(list) => api::Response::Containers {
            containers: list.into_iter().map(info).collect::<Result<_, _>>()?,
        },
        Response::Started { pid } => api::Response::Started {
            container: container.cloned().ok_or_else(|| internal("started"))?,
            pid,
        },
        Response::Stopped { status } => api::Response::Stopped {
            container: container.cloned().ok_or_else(|| internal("stopped"))?,
            status: exit(status),
        },
        Response::Installed { id } => api::Response::Installed { container: id },
        Response::Inspect(inspection) => self::inspection(*inspection)?,
        Response::Repositories(repositories) => api::Response::Repositories { repositories },
        Response::Logs { .. } => return Err(internal("logs")),
        Response::Committed { ids } => api::Response::Committed { containers: ids },
        Response::Verified(list) => api::Response::Verified {
            packages: list
                .into_iter()
                .map(|v| {
                    Ok(api::PackageCheck {
                        repository: repository(&v.repository)?,
                        container: v.id,
                        result: v.result,
                    })
                })
                .collect::<Result<_, ApiError>>()?,
        },
    })
}

/// A notification, if subscribers of the protocol see it.
pub(super) fn notification(n: Notification) -> Option<api::Notification> {
    Some(match n {
        Notification::Started { id, pid } => api::Notification::Started { container: id, pid },
        Notification::Failed { id, error } => api::Notification::Failed {
            reason: strip(&id, &error).to_string(),
            container: id,
        },
        Notification::Exited { id, status, oom } => api::Notification::Exited {
            container: id,
            status: exit(status),
            oom,
        },
        Notification::Oom { id, kills } => api::Notification::Oom {
            container: id,
            kills,
        },
        Notification::Restarting { id, attempt, delay } => api::Notification::Restarting {
            container: id,
            attempt,
            delay_ms: millis(delay),
        },
        Notification::GaveUp { id, attempts } => api::Notification::GaveUp {
            container: id,
            attempts,
        },
        Notification::Installed { id } => api::Notification::Installed { container: id },
        Notification::Uninstalled { id } => api::Notification::Uninstalled { container: id },
        Notification::Critical { id, reason } => api::Notification::Critical {
            container: id,
            reason,
        },
        Notification::Shutdown => api::Notification::Shutdown {},
        Notification::Rejected { .. } => return None,
        Notification::UpdateStarted { ids } => api::Notification::UpdateStarted { containers: ids },
        Notification::Healthy { id } => api::Notification::Healthy { container: id },
        Notification::Committed { ids } => api::Notification::Committed { containers: ids },
        Notification::RolledBack { ids, reason } => api::Notification::RolledBack {
            containers: ids,
            reason,
        },
        Notification::Ready { id } => api::Notification::Ready { container: id },
        Notification::VerifyFailed { id, error, .. } => api::Notification::VerifyFailed {
            container: id,
            reason: error,
        },
    })
}

/// A runtime error; `container` is the request's.
pub(super) fn error(container: Option<&ContainerId>, e: RequestError) -> ApiError {
    match e {
        RequestError::NotFound(container) => ApiError::NotFound { container },
        RequestError::NoRepository(name) => match RepositoryName::new(&name) {
            Ok(repository) => ApiError::RepositoryNotFound { repository },
            Err(e) => ApiError::Internal {
                message: e.to_string(),
            },
        },
        RequestError::Running(container) => ApiError::AlreadyRunning { container },
        RequestError::NotRunning(container) => ApiError::NotRunning { container },
        RequestError::Resource(container) => ApiError::ResourceContainer { container },
        RequestError::InUse(container) => ApiError::InUse { container },
        // Only an uninstall is limited by the runtime (it knows the repository).
        RequestError::NotGranted(repository) => match RepositoryName::new(&repository) {
            Ok(repository) => ApiError::RepositoryNotGranted {
                permission: Permission::Uninstall,
                repository,
            },
            Err(e) => ApiError::Internal {
                message: e.to_string(),
            },
        },
        RequestError::AlreadyInstalled(container) => ApiError::AlreadyInstalled { container },
        RequestError::Full { repository, reason } => match RepositoryName::new(&repository) {
            Ok(repository) => ApiError::RepositoryFull { repository, reason },
            Err(e) => ApiError::Internal {
                message: e.to_string(),
            },
        },
        RequestError::Start(message) => match container {
            Some(container) => start_failed(container, &message),
            None => ApiError::Internal { message },
        },
        RequestError::Mount(reason) => match container {
            Some(container) => ApiError::MountFailed {
                container: container.clone(),
                reason: strip(container, &reason).to_string(),
            },
            None => ApiError::Internal { message: reason },
        },
        RequestError::Install(reason) => ApiError::InstallFailed { reason },
        RequestError::Failed(message) => ApiError::Internal { message },
        RequestError::ShuttingDown | RequestError::Gone => ApiError::ShuttingDown {},
        RequestError::Downgrade { id, active, floor } => ApiError::Downgrade {
            container: id,
            active,
            floor,
        },
        RequestError::RolledBack { reason } => ApiError::RolledBack { reason },
        RequestError::UpdateInProgress => ApiError::UpdateInProgress {},
        RequestError::NoPrevious(name) => ApiError::NoPrevious { name },
        RequestError::Ambiguous(name) => ApiError::Ambiguous { name },
        RequestError::NotInstalled(name) => ApiError::NotInstalled { name },
        RequestError::Busy(reason) => ApiError::Busy { reason },
    }
}

/// `<container>: ` at the start of a runtime message is said by the error already.
fn strip<'a>(container: &ContainerId, message: &'a str) -> &'a str {
    let prefix = format!("{container}: ");
    message.strip_prefix(&prefix).unwrap_or(message)
}

/// A start failure `<container>: <step>: <message>` split into its step and message.
fn start_failed(container: &ContainerId, message: &str) -> ApiError {
    let rest = strip(container, message);
    let (step, message) = rest.split_once(": ").unwrap_or((rest, ""));
    ApiError::StartFailed {
        container: container.clone(),
        step: step.to_string(),
        message: message.to_string(),
    }
}

/// A container's permissions from its manifest's `console.permissions` (Northstar 0.9's
/// names, with targets). `inspect` and `kill` apply to the container itself (`own`, its
/// name) unless the entry names others (`kill:<name>`, `kill:*`); `install` and
/// `uninstall` cover every repository unless the entry names one. Overriding a start's
/// arguments is never granted to a container.
pub(super) fn console_permissions(
    set: &npk::manifest::Permissions,
    own: &npk::manifest::Name,
) -> Permissions {
    use npk::manifest::{Permission as M, Target};
    use Permission as P;
    let mut permissions = Permissions::NONE;
    for grant in &set.0 {
        let granted: &[P] = match grant.permission {
            M::Ident | M::Token => &[],
            M::Inspect => &[P::Inspect, P::Logs],
            M::Install => &[P::Install],
            // A restart stops the container: it goes with `kill`.
            M::Kill => &[P::Kill, P::Stop, P::Restart],
            M::List => &[P::List],
            M::Mount => &[P::Mount],
            M::Notifications => &[P::Notifications],
            M::Repositories => &[P::Repositories],
            M::Shutdown => &[P::Shutdown, P::Reboot],
            M::Start => &[P::Start],
            M::Umount => &[P::Umount],
            M::Uninstall => &[P::Uninstall],
        };
        let default = match grant.permission.targets() {
            Some(npk::manifest::Targets::Containers) => Some(own.as_str()),
            _ => None,
        };
        let target = match &grant.target {
            Target::Default => default,
            Target::Any => None,
            Target::Named(name) => Some(name.as_str()),
        };
        for permission in granted {
            match target {
                None => permissions.insert(*permission),
                Some(target) => {
                    if let Err(e) = permissions.insert_for(*permission, target) {
                        // The manifest's rules are the protocol's: not reached.
                        log::warn!("console permission {grant} of {own}: {e}");
                    }
                }
            }
        }
    }
    permissions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_failure_names_the_step() {
        let id: ContainerId = "a:1.0.0".parse().unwrap();
        let e = error(
            Some(&id),
            RequestError::Start("a:1.0.0: execute the program: No such file".into()),
        );
        assert_eq!(
            e,
            ApiError::StartFailed {
                container: id,
                step: "execute the program".into(),
                message: "No such file".into()
            }
        );
    }

    #[test]
    fn logs_keep_the_last_lines_that_fit() {
        let output = b"one\ntwo\nthree\n";
        assert_eq!(
            logs(output, Some(2), 1000),
            api::Response::Logs {
                lines: vec!["two".into(), "three".into()],
                truncated: true
            }
        );
        assert_eq!(
            logs(output, None, 1000),
            api::Response::Logs {
                lines: vec!["one".into(), "two".into(), "three".into()],
                truncated: false
            }
        );
        let api::Response::Logs { lines, truncated } = logs(output, None, 8) else {
            panic!()
        };
        assert_eq!(lines, ["three"]);
        assert!(truncated);
    }

    #[test]
    fn console_grants_without_a_name_are_for_the_container_itself() {
        let own = npk::manifest::Name::new("me").unwrap();
        let set: npk::manifest::Permissions = serde_json::from_str(
            r#"["kill", "inspect:*", "install:apps", "uninstall", "start", "list"]"#,
        )
        .unwrap();
        let p = console_permissions(&set, &own);
        for kill in [Permission::Kill, Permission::Stop, Permission::Restart] {
            assert!(p.covers(kill, "me") && !p.covers(kill, "other"), "{kill}");
        }
        assert!(p.covers(Permission::Inspect, "other") && p.covers(Permission::Logs, "other"));
        assert!(p.covers(Permission::Install, "apps") && !p.covers(Permission::Install, "system"));
        assert!(p.covers(Permission::Uninstall, "system"));
        assert!(p.covers(Permission::Start, "other"));
        assert!(!p.contains(Permission::StartWithArgs));
        let full = console_permissions(&npk::manifest::Permissions::full(), &own);
        assert_eq!(
            full.scope(Permission::Kill),
            Some(&northstar_api::Scope::All)
        );
        assert!(!full.contains(Permission::StartWithArgs));
    }
}
