//! The canned runtime of [`super::FakeServer::runtime`]: fixed containers and answers,
//! no state. Containers: `hello-world:0.0.1` (running, pid 4242) and `message:0.1.2` (a
//! resource). Repositories: `default` and `dev`. What it does beyond answering:
//! - it checks permissions as the server does (`permission_denied`); an install refused
//!   so is answered at once, before its bytes are read, and the bytes then drained;
//! - after `subscribe` it sends `started` and `exited` notifications, and from then on
//!   an `installed` notification before every answer (to interleave them);
//! - `logs` with `follow` is followed by one `log` frame and `log_end`;
//! - an `update` into `default` commits `hello-world:0.0.2` (after `subscribe`, with the
//!   notifications of the transaction before the answer), one into `dev` rolls back;
//! - `verify` finds `hello-world:0.0.1` ok and `message:0.1.2` corrupt
//!   ([`VERIFY_FAILURE`]);
//! - `system_status` reports two U-Boot slots ([`system_status`]): `A` booted, primary
//!   and good, `B` bad; `system_mark` answers that state with the mark applied (it is not
//!   kept), and `system_failed` for a slot other than `A` and `B`;
//! - it records every request and every package's bytes.

use super::Peer;
use northstar_api::{
    ApiError, BootOutcome, BootReport, BootStep, CheckResult, ContainerId, ContainerInfo,
    ContainerState, ExitStatus, Inspection, Notification, PackageCheck, Permissions, ProcessInfo,
    RepositoryInfo, RepositoryName, Request, Response, ServerMessage, SlotMark, SlotState,
    SlotStatus, SlotTarget, SystemInstalled, SystemStatus,
};
use std::{
    io,
    sync::{Mutex, PoisonError},
};

/// The running container.
pub const HELLO: &str = "hello-world:0.0.1";
/// The resource container.
pub const MESSAGE: &str = "message:0.1.2";
/// The pid of the running container.
pub const PID: i32 = 4242;
/// The container an install installs.
pub const INSTALLED: &str = "hello-world:0.0.2";
/// Why `verify` fails for `message:0.1.2`.
pub const VERIFY_FAILURE: &str =
    "/data/repo/message-0.1.2.npk: fs.img: data block 2 does not match its hash";
/// The lines of `logs`, and the one line that follows.
pub const LOG_LINES: [&str; 3] = ["Hello from northstar!", "Hello again", "Hello once more"];

/// What the canned runtime received.
#[derive(Debug, Default)]
pub(crate) struct Record {
    requests: Mutex<Vec<Request>>,
    packages: Mutex<Vec<Vec<u8>>>,
}

impl Record {
    pub(crate) fn requests(&self) -> Vec<Request> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn packages(&self) -> Vec<Vec<u8>> {
        self.packages
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Serve one connection.
pub(crate) fn serve(mut peer: Peer, permissions: Permissions, record: &Record) -> io::Result<()> {
    if !peer.welcome(permissions.clone())? {
        return Ok(());
    }
    let mut subscribed = false;
    while let Some((id, request)) = peer.request()? {
        record
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request.clone());
        let allowed = permissions.check(&request);
        if let Some(size) = request.raw_len() {
            if let Err(error) = allowed {
                peer.answer(id, Err(error))?;
                peer.package(size)?;
                continue;
            }
            let sizes: Vec<u64> = match &request {
                Request::Update { packages, .. } => {
                    packages.as_slice().iter().map(|p| p.size).collect()
                }
                _ => vec![size],
            };
            // The packages follow one another: read them all, then cut them apart.
            let mut bytes = peer.package(size)?;
            let mut cut = Vec::with_capacity(sizes.len());
            for size in sizes.iter().rev() {
                let at = bytes.len().saturating_sub(*size as usize);
                cut.push(bytes.split_off(at));
            }
            cut.reverse();
            record
                .packages
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(cut);
        }
        match (&request, &allowed) {
            (Request::Update { repository, .. }, Ok(()))
                if subscribed && repository.as_str() == "default" =>
            {
                transaction(&mut peer)?
            }
            _ => {}
        }
        if subscribed {
            peer.notify(Notification::Installed {
                container: id_of(MESSAGE).map_err(io::Error::other)?,
            })?;
        }
        let result = allowed.and_then(|()| answer(&request));
        let ok = result.is_ok();
        peer.answer(id, result)?;
        match request {
            Request::Subscribe {} if ok => {
                subscribed = true;
                let container = id_of(HELLO).map_err(io::Error::other)?;
                peer.notify(Notification::Started {
                    container: container.clone(),
                    pid: PID,
                })?;
                peer.notify(Notification::Exited {
                    container,
                    status: ExitStatus::Exit { code: 0 },
                    oom: false,
                })?;
            }
            Request::Logs { follow: true, .. } if ok => {
                peer.send(&ServerMessage::Log {
                    id,
                    lines: vec![LOG_LINES[2].to_string()],
                })?;
                peer.send(&ServerMessage::LogEnd { id })?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The notifications of an update transaction that commits [`INSTALLED`].
fn transaction(peer: &mut Peer) -> io::Result<()> {
    let new = id_of(INSTALLED).map_err(io::Error::other)?;
    peer.notify(Notification::UpdateStarted {
        containers: vec![new.clone()],
    })?;
    peer.notify(Notification::Ready {
        container: new.clone(),
    })?;
    peer.notify(Notification::Healthy {
        container: new.clone(),
    })?;
    peer.notify(Notification::Committed {
        containers: vec![new],
    })
}

fn id_of(text: &str) -> Result<ContainerId, ApiError> {
    text.parse().map_err(|e| internal(&e))
}

fn repository(name: &str) -> Result<RepositoryName, ApiError> {
    RepositoryName::new(name).map_err(|e| internal(&e))
}

fn internal(e: &dyn std::fmt::Display) -> ApiError {
    ApiError::Internal {
        message: e.to_string(),
    }
}

/// The answer to `request` (permissions already checked).
pub fn answer(request: &Request) -> Result<Response, ApiError> {
    let hello = id_of(HELLO)?;
    let message = id_of(MESSAGE)?;
    let known = |c: &ContainerId| {
        if *c == hello || *c == message {
            Ok(())
        } else {
            Err(ApiError::NotFound {
                container: c.clone(),
            })
        }
    };
    if let Some(container) = request.container() {
        known(container)?;
    }
    let running = |c: &ContainerId| {
        if *c == hello {
            Ok(())
        } else {
            Err(ApiError::NotRunning {
                container: c.clone(),
            })
        }
    };
    Ok(match request {
        Request::List {} => Response::Containers {
            containers: containers()?,
        },
        Request::Inspect { container } => Response::Inspect(Box::new(inspection(container)?)),
        Request::Start { container, .. } if *container == message => {
            return Err(ApiError::ResourceContainer {
                container: container.clone(),
            })
        }
        Request::Start { container, .. } => Response::Started {
            container: container.clone(),
            pid: PID,
        },
        Request::Kill { container, .. } => {
            running(container)?;
            Response::Ok {}
        }
        Request::Stop { container, .. } => {
            running(container)?;
            Response::Stopped {
                container: container.clone(),
                status: ExitStatus::Signal { signal: 15 },
            }
        }
        Request::Restart { container, .. } => {
            running(container)?;
            Response::Restarted {
                container: container.clone(),
                status: ExitStatus::Exit { code: 0 },
                pid: PID + 1,
            }
        }
        Request::Install { repository: r, .. } => {
            if r.as_str() != "default" && r.as_str() != "dev" {
                return Err(ApiError::RepositoryNotFound {
                    repository: r.clone(),
                });
            }
            Response::Installed {
                container: id_of(INSTALLED)?,
            }
        }
        Request::Umount { container } if *container == message => {
            return Err(ApiError::InUse {
                container: container.clone(),
            })
        }
        Request::Uninstall { .. } | Request::Mount { .. } | Request::Umount { .. } => {
            Response::Ok {}
        }
        Request::Repositories {} => Response::Repositories {
            repositories: repositories()?,
        },
        Request::Logs { tail, .. } => {
            let all = &LOG_LINES[..2];
            let keep = tail.map_or(all.len(), |t| (t as usize).min(all.len()));
            Response::Logs {
                lines: all[all.len() - keep..]
                    .iter()
                    .map(|l| l.to_string())
                    .collect(),
                truncated: keep < all.len(),
            }
        }
        Request::BootReport {} => Response::BootReport {
            report: Box::new(boot_report(&hello)),
        },
        Request::Shutdown {} | Request::Subscribe {} => Response::Ok {},
        Request::Reboot {} => {
            return Err(ApiError::Unsupported {
                request: "reboot".into(),
            })
        }
        Request::Update { repository: r, .. } => {
            if r.as_str() != "default" && r.as_str() != "dev" {
                return Err(ApiError::RepositoryNotFound {
                    repository: r.clone(),
                });
            }
            // A package named `broken` would be refused by a health check: the fake
            // cannot tell, so `dev` stands for a repository whose updates roll back.
            if r.as_str() == "dev" {
                return Err(ApiError::RolledBack {
                    reason: format!("{INSTALLED}: exited with code 1 within the window"),
                });
            }
            Response::Committed {
                containers: vec![id_of(INSTALLED)?],
            }
        }
        Request::Rollback { name, .. } => {
            if *name != hello.name {
                return Err(ApiError::NoPrevious {
                    name: name.to_string(),
                });
            }
            Response::Committed {
                containers: vec![hello.clone()],
            }
        }
        Request::Verify { container } => {
            let check = |c: &ContainerId| -> Result<PackageCheck, ApiError> {
                let result = if *c == message {
                    // Stands for a package whose image was changed after its install.
                    CheckResult::Failed {
                        reason: VERIFY_FAILURE.to_string(),
                    }
                } else {
                    CheckResult::Ok {}
                };
                Ok(PackageCheck {
                    container: c.clone(),
                    repository: repository("default")?,
                    result,
                })
            };
            let packages = match container {
                Some(c) => vec![check(c)?],
                None => vec![check(&hello)?, check(&message)?],
            };
            Response::Verified { packages }
        }
        Request::SystemStatus {} => Response::System {
            status: system_status(),
        },
        Request::SystemMark { mark, slot } => Response::System {
            status: marked(*mark, slot)?,
        },
        // The bundle is written into the other slot, which is then active.
        Request::SystemInstall { size, .. } => Response::SystemInstalled {
            installed: Box::new(SystemInstalled {
                slot: "B".into(),
                version: BUNDLE_VERSION.into(),
                compatible: BUNDLE_COMPATIBLE.into(),
                bytes: *size,
                status: marked(SlotMark::Active, &SlotTarget::Other)?,
            }),
        },
        Request::Enable { name, .. } | Request::Disable { name, .. } => {
            if *name != hello.name && *name != message.name {
                return Err(ApiError::NotInstalled {
                    name: name.to_string(),
                });
            }
            Response::Ok {}
        }
    })
}

/// The version and `compatible` of every bundle the fake installs.
pub const BUNDLE_VERSION: &str = "2.0.0";
/// See [`BUNDLE_VERSION`].
pub const BUNDLE_COMPATIBLE: &str = "northstar-fake";

/// The canned A/B slots: U-Boot, booted from `A` (primary, good, 3 attempts left), `B`
/// bad.
pub fn system_status() -> SystemStatus {
    let slot = |name: &str, root: &str, booted: bool, state, attempts| SlotStatus {
        name: name.into(),
        root: root.into(),
        boot: None,
        booted,
        primary: booted,
        state,
        attempts_left: Some(attempts),
    };
    SystemStatus {
        bootloader: "uboot".into(),
        booted: Some("A".into()),
        slots: vec![
            slot("A", "/dev/mmcblk0p2", true, SlotState::Good, 3),
            slot("B", "/dev/mmcblk0p3", false, SlotState::Bad, 0),
        ],
    }
}

/// [`system_status`] with `mark` applied to `target`, as RAUC's U-Boot rules do.
fn marked(mark: SlotMark, target: &SlotTarget) -> Result<SystemStatus, ApiError> {
    let mut status = system_status();
    let at = match target {
        SlotTarget::Booted => status.slots.iter().position(|s| s.booted),
        SlotTarget::Other => status.slots.iter().position(|s| !s.booted),
        SlotTarget::Named(name) => status.slots.iter().position(|s| s.name == *name),
    }
    .ok_or_else(|| ApiError::SystemFailed {
        reason: format!("no slot {target} (the slots are A, B)"),
    })?;
    for (i, slot) in status.slots.iter_mut().enumerate() {
        if i == at {
            let good = mark != SlotMark::Bad;
            slot.state = if good {
                SlotState::Good
            } else {
                SlotState::Bad
            };
            slot.attempts_left = Some(if good { 3 } else { 0 });
        }
        if mark == SlotMark::Active {
            slot.primary = i == at;
        }
    }
    Ok(status)
}

fn containers() -> Result<Vec<ContainerInfo>, ApiError> {
    Ok(vec![
        ContainerInfo {
            container: id_of(HELLO)?,
            repository: repository("default")?,
            resource: false,
            state: ContainerState::Running,
            pid: Some(PID),
            uptime_ms: Some(5320),
            mounted: true,
            last_exit: None,
            restarts: 0,
            ready: true,
            status: Some("serving".into()),
            active: true,
        },
        ContainerInfo {
            container: id_of(MESSAGE)?,
            repository: repository("default")?,
            resource: true,
            state: ContainerState::Stopped,
            pid: None,
            uptime_ms: None,
            mounted: true,
            last_exit: None,
            restarts: 0,
            ready: false,
            status: None,
            active: true,
        },
    ])
}

const MANIFEST: &str = r#"{"name":"hello-world","version":"0.0.1","init":"/bin/hello-world","args":["--from","northstar"],"env":{"NAME":"embedded world"},"uid":1000,"gid":1000,"mounts":{"/proc":{"type":"proc"}},"io":{"stdout":"pipe","stderr":"pipe"}}"#;

fn inspection(container: &ContainerId) -> Result<Inspection, ApiError> {
    let info = containers()?
        .into_iter()
        .find(|c| c.container == *container)
        .ok_or_else(|| ApiError::NotFound {
            container: container.clone(),
        })?;
    let running = info.state == ContainerState::Running;
    let mut manifest: northstar_api::Manifest =
        serde_json::from_str(MANIFEST).map_err(|e| internal(&e))?;
    manifest.name = container.name.clone();
    manifest.version = container.version.clone();
    Ok(Inspection {
        info,
        manifest,
        process: running.then(|| ProcessInfo {
            pid: PID,
            uptime_ms: 5320,
            args: vec!["--from".into(), "northstar".into()],
            overridden: false,
        }),
        cgroup: None,
        selinux: None,
    })
}

fn repositories() -> Result<Vec<RepositoryInfo>, ApiError> {
    Ok(vec![
        RepositoryInfo {
            name: repository("default")?,
            verified: true,
            packages: 2,
            bytes: 2441216,
            max_packages: Some(16),
            max_bytes: None,
        },
        RepositoryInfo {
            name: repository("dev")?,
            verified: false,
            packages: 0,
            bytes: 0,
            max_packages: None,
            max_bytes: None,
        },
    ])
}

fn boot_report(hello: &ContainerId) -> BootReport {
    BootReport {
        kernel_ms: 1234,
        steps: vec![
            BootStep {
                name: "early".into(),
                start_ms: 0,
                took_ms: 3,
            },
            BootStep {
                name: "modules".into(),
                start_ms: 3,
                took_ms: 120,
            },
        ],
        containers: vec![BootOutcome::Started {
            container: hello.clone(),
            at_ms: 400,
        }],
        finished_ms: Some(520),
        ..BootReport::default()
    }
}
