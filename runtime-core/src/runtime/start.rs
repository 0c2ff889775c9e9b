//! Starting a container, as named steps. Each step is one function with one error
//! variant; the order is fixed by what each step needs:
//!
//! 1. `lookup`: the package exists, is not a resource container, is not running.
//!    `selinux`: whether the manifest's SELinux context can be applied; refused here,
//!    before anything exists, where the configuration requires SELinux and it is off.
//! 2. `resolve_resources`: the highest installed version matching each resource mount in
//!    the repositories the container's own trusts, each mounted (needs the registry).
//! 3. `mount_image`: the container's own image (needs nothing started yet, so a failure
//!    leaves nothing behind but mounts, which are kept for the next start anyway).
//! 4. `persist`: `data_dir/@<repository>/<name>` (data of the old layout `data_dir/<name>`
//!    moved there first, see `data`) owned by the container's uid/gid, mode 0700.
//! 5. `sockets`: the manifest's unix sockets, listening, and the notify socket when the
//!    manifest mounts their directory, before the process exists; and the console
//!    connection (a socket pair) when the manifest has a `console` and a console port
//!    takes the other end.
//! 6. `cgroup`: the container's cgroup with its limits (before the process exists).
//! 7. `network`: the namespace to join, if named.
//! 8. `plan`: every string, path, mount, id, limit and the seccomp BPF (before the clone).
//! 9. `launch`: clone into the namespaces and cgroup, then release the child. This step
//!    runs on a launcher thread ([`Launch::run`]; it needs nothing of the state), so the
//!    loop prepares the next start, and serves events, while the kernel copies the
//!    runtime's page tables; its result comes back to the loop as a message.
//! 10. `watch` ([`land`]): the event loop learns of the process's exec, exit and output,
//!     reads its notify socket, and hands the console connection over.
//!
//! Steps 1 to 8 are [`prepare`]; a failure there is returned at once, one of step 9 or 10
//! when the launch comes back.

// Errors carry the container and the image by value so each message is complete; a start
// is not a hot path, so their size does not matter.
#![allow(clippy::result_large_err)]

use super::state::{Process, Source, State, Stream};
use crate::{
    container::{
        error::{LaunchError, PlanError},
        launch,
        plan::{self, Net},
        selinux::{self, SelinuxStatus},
        sockets,
    },
    id::ContainerId,
    mount::{self, Mounted},
    repository::Package,
};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use npk::manifest::{Manifest, Mount, Network};
use std::os::fd::{AsFd, OwnedFd};
use std::{
    collections::BTreeMap,
    ffi::CString,
    fs,
    os::unix::fs::{chown, PermissionsExt},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

/// A failed start step.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}: no such container")]
    NotFound(ContainerId),
    #[error("{0}: is a resource container and cannot be started")]
    Resource(ContainerId),
    #[error("{0}: is already running")]
    Running(ContainerId),
    #[error(
        "{id}: resource {name} {version}: no installed version matches in the repositories {repository:?} \
         trusts"
    )]
    MissingResource {
        id: ContainerId,
        repository: String,
        name: String,
        version: String,
    },
    #[error("{id}: mount the image of {image}")]
    Mount {
        id: ContainerId,
        image: ContainerId,
        #[source]
        source: Box<mount::Error>,
    },
    #[error("{id}: find the persistent directory")]
    Data {
        id: ContainerId,
        #[source]
        source: super::data::DataError,
    },
    #[error("{id}: prepare the persistent directory {path}")]
    Persist {
        id: ContainerId,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{id}: create the sockets")]
    Sockets {
        id: ContainerId,
        #[source]
        source: sockets::Error,
    },
    #[error("{id}: create the console connection")]
    Console {
        id: ContainerId,
        #[source]
        source: nix::Error,
    },
    #[error("{id}: create the cgroup")]
    Cgroup {
        id: ContainerId,
        #[source]
        source: crate::cgroups::Error,
    },
    #[error("{id}: open network namespace {name:?}")]
    Network {
        id: ContainerId,
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{id}")]
    Plan {
        id: ContainerId,
        #[source]
        source: PlanError,
    },
    #[error("{id}: launch")]
    Launch {
        id: ContainerId,
        #[source]
        source: LaunchError,
    },
    #[error("{id}")]
    Selinux {
        id: ContainerId,
        #[source]
        source: selinux::Error,
    },
    #[error("{id}: watch the process")]
    Watch {
        id: ContainerId,
        #[source]
        source: nix::Error,
    },
}

/// What the loop keeps of a start while its launch is in flight.
#[derive(Debug)]
pub(crate) struct Flight {
    args: Option<Vec<String>>,
    env: Option<BTreeMap<String, String>>,
    selinux: Option<SelinuxStatus>,
    /// The serving end of the console connection and the manifest's `console`.
    console: Option<(OwnedFd, npk::manifest::Console)>,
    /// The notify socket and its path, and the watchdog interval.
    notify: Option<(OwnedFd, PathBuf)>,
    watchdog: Option<Duration>,
    /// Whether stdout and stderr are relayed (`io: inherit`).
    relay: [bool; 2],
    /// Images of the resources this run uses.
    pub resources: Vec<ContainerId>,
    mount_targets: Vec<String>,
}

/// The launch of a start (step 9), for a launcher thread: it needs nothing of the state.
pub(crate) struct Launch {
    id: ContainerId,
    plan: plan::Plan,
    cgroup: crate::cgroups::ContainerGroup,
    io: npk::manifest::Io,
    /// Handed to the program as fd 3, 4, ...
    pass: Vec<OwnedFd>,
}

/// A launch that ran: the process with its cgroup, or why there is none (its cgroup is
/// removed then).
pub(crate) struct Landed {
    pub id: ContainerId,
    result: Result<(launch::Launched, crate::cgroups::ContainerGroup), LaunchError>,
}

impl Launch {
    /// Clone the process into its namespaces and cgroup and release it.
    pub(crate) fn run(self) -> Landed {
        let Launch {
            id,
            plan,
            cgroup,
            io,
            pass,
        } = self;
        let result = match launch::launch(&plan, &cgroup, io.stdout, io.stderr, &pass) {
            Ok(launched) => Ok((launched, cgroup)),
            Err(e) => {
                let _ = cgroup.destroy();
                Err(e)
            }
        };
        Landed { id, result }
    }
}

impl Landed {
    /// End a process launched for a start that is gone (the loop had no flight for it).
    pub(crate) fn discard(self) {
        if let Ok((launched, cgroup)) = self.result {
            let _ = northstar_sys::clone::pidfd_signal(launched.pidfd.as_fd(), libc::SIGKILL);
            let _ = northstar_sys::clone::pidfd_wait(launched.pidfd.as_fd());
            let _ = cgroup.destroy();
        }
    }
}

/// Steps 1 to 8 of a start of `id`, on the loop: what a launcher thread needs for step 9
/// and what the loop keeps until it is done ([`land`]).
pub(crate) fn prepare(
    state: &mut State,
    id: &ContainerId,
    args: Option<Vec<String>>,
    env: Option<BTreeMap<String, String>>,
) -> Result<(Launch, Flight), StartError> {
    let manifest = lookup(state, id)?;
    let (resources, used) = resolve_resources(state, id, &manifest)?;
    let selinux = selinux(state, id, &manifest)?;
    let root = mount_image(state, id, id)?;
    let persist = persist(state, id, &manifest)?;
    let mut sockets = sockets::create(
        &manifest,
        &state
            .config
            .run_dir
            .join("sockets")
            .join(manifest.name.as_str()),
    )
    .map_err(|source| StartError::Sockets {
        id: id.clone(),
        source,
    })?;
    let console = console(state, id, &manifest)?;
    let socket_names: Vec<&str> = sockets
        .iter()
        .flat_map(|s| s.fds.iter().map(|(name, _)| name.as_str()))
        .collect();
    let cgroup = state
        .cgroups
        .container(&id.to_string(), manifest.cgroups.as_ref())
        .map_err(|source| StartError::Cgroup {
            id: id.clone(),
            source,
        })?;
    let net = network(state, id, &manifest)?;
    let built = plan::build(plan::Input {
        manifest: &manifest,
        root: &root,
        resources: &resources,
        persist: persist.as_deref(),
        config: &state.config,
        group_file: &state.group_file,
        last_cap: state.last_cap,
        net,
        sockets: sockets
            .as_ref()
            .map(|s| (s.dir.as_path(), socket_names.clone())),
        // After stdin, stdout, stderr and the sockets.
        console: console
            .as_ref()
            .map(|_| socket_names.len().saturating_add(3)),
        args: args.as_deref(),
        env: env.as_ref(),
    });
    let mut plan = match built {
        Ok(plan) => plan,
        Err(source) => {
            let _ = cgroup.destroy();
            return Err(StartError::Plan {
                id: id.clone(),
                source,
            });
        }
    };
    let (context, selinux) = selinux.unzip();
    plan.selinux = context.flatten();
    let io = manifest.io.clone().unwrap_or_default();
    let (console_server, console_child) = console.unzip();
    let notify = sockets.as_mut().and_then(|s| {
        let fd = s.notify.take()?;
        Some((fd, s.dir.join(sockets::NOTIFY_NAME)))
    });
    let pass: Vec<_> = sockets
        .into_iter()
        .flat_map(|s| s.fds)
        .map(|(_, fd)| fd)
        .chain(console_child)
        .collect();
    let flight = Flight {
        args,
        env,
        selinux,
        // Handed over only where a port takes it (`console` made none otherwise).
        console: console_server.zip(manifest.console.clone()),
        notify,
        watchdog: manifest
            .watchdog
            .as_ref()
            .map(|w| Duration::from_millis(w.interval_ms)),
        relay: [io.stdout, io.stderr].map(|o| o == npk::manifest::Output::Inherit),
        resources: used,
        mount_targets: plan.mounts.iter().map(|op| op.target()).collect(),
    };
    let launch = Launch {
        id: id.clone(),
        plan,
        cgroup,
        io,
        pass,
    };
    Ok((launch, flight))
}

/// Step 10 of a start whose launch ran: hand over the console, watch the process and its
/// notify socket. On success the process exists and the loop watches it.
pub(crate) fn land(state: &mut State, flight: Flight, landed: Landed) -> Result<i32, StartError> {
    let id = &landed.id;
    let (launched, cgroup) = landed.result.map_err(|source| StartError::Launch {
        id: id.clone(),
        source,
    })?;
    let pid = launched.pid;
    if let (Some((fd, console)), Some(port)) = (flight.console, &state.console) {
        port(super::console::ConsoleHandOver {
            id: id.clone(),
            console,
            fd,
        });
    }
    watch(
        state,
        id,
        launched,
        flight.relay,
        cgroup,
        flight.resources,
        flight.mount_targets,
    )
    .map_err(|source| StartError::Watch {
        id: id.clone(),
        source,
    })?;
    if let Some((fd, path)) = flight.notify {
        super::notify::watch(state, id, fd, path, flight.watchdog).map_err(|source| {
            StartError::Watch {
                id: id.clone(),
                source,
            }
        })?;
    }
    let container = state.container(id);
    container.args = flight.args;
    container.env = flight.env;
    container.selinux = flight.selinux;
    Ok(pid)
}

/// The manifest's SELinux context: the bytes for the child where SELinux is enabled, and
/// the status `inspect` shows. Where it is not enabled: a refusal if the configuration
/// requires SELinux, else a warning.
fn selinux(
    state: &State,
    id: &ContainerId,
    manifest: &Manifest,
) -> Result<Option<(Option<CString>, SelinuxStatus)>, StartError> {
    let context = manifest.selinux.as_ref().map(|s| s.context.as_str());
    let fs = Path::new(selinux::SELINUXFS);
    let enabled = context.is_some() && selinux::enabled(fs);
    let decided =
        selinux::decide(context, state.config.selinux, enabled, fs).map_err(|source| {
            StartError::Selinux {
                id: id.clone(),
                source,
            }
        })?;
    if let Some((_, status)) = decided.as_ref().filter(|(_, s)| !s.applied) {
        let reason = status.reason.as_deref().unwrap_or_default();
        log::warn!(
            "{id}: selinux.context {:?} is not applied: {reason}",
            status.context
        );
    }
    Ok(decided)
}

/// The console connection: the serving end and the container's, when the manifest has
/// a `console` and a console port takes connections.
fn console(
    state: &State,
    id: &ContainerId,
    manifest: &Manifest,
) -> Result<Option<(OwnedFd, OwnedFd)>, StartError> {
    if manifest.console.is_none() {
        return Ok(None);
    }
    if state.console.is_none() {
        log::warn!("{id}: has a console, but no management API is served");
        return Ok(None);
    }
    socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map(Some)
    .map_err(|source| StartError::Console {
        id: id.clone(),
        source,
    })
}

fn lookup(state: &mut State, id: &ContainerId) -> Result<Manifest, StartError> {
    let package = state
        .registry
        .get(id)
        .ok_or_else(|| StartError::NotFound(id.clone()))?;
    let manifest = package.manifest().clone();
    if manifest.is_resource() {
        return Err(StartError::Resource(id.clone()));
    }
    if state
        .containers
        .get(id)
        .is_some_and(|c| c.process.is_some())
    {
        return Err(StartError::Running(id.clone()));
    }
    Ok(manifest)
}

/// The name of the repository holding `id`.
fn repository_of(state: &State, id: &ContainerId) -> Result<String, StartError> {
    state
        .registry
        .repository_of(id)
        .map(str::to_string)
        .ok_or_else(|| StartError::NotFound(id.clone()))
}

/// The image mount of each resource mount point, and the resources used.
fn resolve_resources(
    state: &mut State,
    id: &ContainerId,
    manifest: &Manifest,
) -> Result<(BTreeMap<PathBuf, PathBuf>, Vec<ContainerId>), StartError> {
    let mut resources = BTreeMap::new();
    let mut used = Vec::new();
    let repository = repository_of(state, id)?;
    for (point, mount) in &manifest.mounts {
        let Mount::Resource(resource) = mount else {
            continue;
        };
        let found = state
            .registry
            .resolve(&repository, &resource.name, &resource.version)
            .map(Package::id)
            .ok_or_else(|| StartError::MissingResource {
                id: id.clone(),
                repository: repository.clone(),
                name: resource.name.to_string(),
                version: resource.version.to_string(),
            })?;
        let root = mount_image(state, id, &found)?;
        resources.insert(point.as_path().to_path_buf(), root);
        used.push(found);
    }
    Ok((resources, used))
}

/// Mount `image` (if it is not yet) and return its mount point.
pub(crate) fn mount_image(
    state: &mut State,
    id: &ContainerId,
    image: &ContainerId,
) -> Result<PathBuf, StartError> {
    if let Some(mounted) = state.mounts.get(image) {
        return Ok(mounted.target().to_path_buf());
    }
    let fail = |source| StartError::Mount {
        id: id.clone(),
        image: image.clone(),
        source: Box::new(source),
    };
    let package = state
        .registry
        .get(image)
        .ok_or_else(|| StartError::NotFound(image.clone()))?;
    let target = state.config.run_dir.join(image.to_string());
    let mounted = mount_package(package, &target, &state.config.devices).map_err(fail)?;
    log::info!("{image}: mounted at {}", target.display());
    state.mounts.insert(image.clone(), mounted);
    Ok(target)
}

/// Mount a package the way its trust level requires: signed packages through dm-verity,
/// development packages (explicitly unverified repositories) directly.
pub(crate) fn mount_package(
    package: &Package,
    target: &Path,
    devices: &crate::config::Devices,
) -> Result<Mounted, mount::Error> {
    match package {
        Package::Signed(npk) => mount::mount_verified(npk, target, devices),
        Package::Development(npk) => mount::mount_development(npk, target, devices),
    }
}

fn persist(
    state: &State,
    id: &ContainerId,
    manifest: &Manifest,
) -> Result<Option<PathBuf>, StartError> {
    if !manifest
        .mounts
        .values()
        .any(|m| matches!(m, Mount::Persist(_)))
    {
        return Ok(None);
    }
    let repository = repository_of(state, id)?;
    let path = super::data::locate(
        &state.config.data_dir,
        &state.registry,
        &repository,
        manifest.name.as_str(),
    )
    .map_err(|source| StartError::Data {
        id: id.clone(),
        source,
    })?;
    let fail = |source| StartError::Persist {
        id: id.clone(),
        path: path.clone(),
        source,
    };
    fs::create_dir_all(&path).map_err(fail)?;
    chown(&path, Some(manifest.uid), Some(manifest.gid)).map_err(fail)?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).map_err(fail)?;
    Ok(Some(path))
}

fn network(state: &State, id: &ContainerId, manifest: &Manifest) -> Result<Net, StartError> {
    match &manifest.network {
        None => Ok(Net::New),
        Some(Network::Host) => Ok(Net::Host),
        Some(Network::Namespace(name)) => {
            let own = crate::net::netns_path(&state.config.run_dir, name);
            let path = if own.exists() {
                own
            } else {
                Path::new("/run/netns").join(name)
            };
            let file = fs::File::open(&path).map_err(|source| StartError::Network {
                id: id.clone(),
                name: name.clone(),
                source,
            })?;
            Ok(Net::Join(file.into()))
        }
    }
}

fn watch(
    state: &mut State,
    id: &ContainerId,
    launched: launch::Launched,
    relay: [bool; 2],
    cgroup: crate::cgroups::ContainerGroup,
    resources: Vec<ContainerId>,
    mount_targets: Vec<String>,
) -> nix::Result<()> {
    let pidfd_token = state.watch(&launched.pidfd, Source::Exit(id.clone()))?;
    let exec_token = state.watch(&launched.error, Source::Exec(id.clone()))?;
    let mut streams = [None, None];
    // Output 1 is stdout, 2 stderr.
    let outputs = [launched.stdout, launched.stderr]
        .into_iter()
        .zip(relay)
        .zip(1u8..);
    for (((fd, relay), output), stream) in outputs.zip(streams.iter_mut()) {
        if let Some(fd) = fd {
            nix::fcntl::fcntl(
                &fd,
                nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
            )?;
            let token = state.watch(&fd, Source::Output(id.clone(), output))?;
            *stream = Some(Stream {
                fd,
                token,
                lines: Default::default(),
                relay,
            });
        }
    }
    let [stdout, stderr] = streams;
    let oom = super::oom::watch(state, id, super::oom::memory_dir(&cgroup));
    let process = Process {
        pid: launched.pid,
        pidfd: launched.pidfd,
        pidfd_token,
        exec: Some((launched.error, exec_token)),
        status: launched.status,
        stdout,
        stderr,
        cgroup: Some(cgroup),
        started: Instant::now(),
        failure: None,
        resources,
        mount_targets,
        oom,
        notify: None,
    };
    let container = state.container(id);
    container.process = Some(process);
    Ok(())
}

/// The arguments and environment a restart reuses.
pub(crate) fn restart_args(
    state: &mut State,
    id: &ContainerId,
) -> (Option<Vec<String>>, Option<BTreeMap<String, String>>) {
    let c = state.container(id);
    (c.args.clone(), c.env.clone())
}
