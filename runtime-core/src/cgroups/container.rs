//! A container's group: `<runtime group>[/<manifest parent>]/<name@version>`, created with
//! its limits before the container's process exists, joined by that process before it runs
//! anything, and removed after its last process has ended.
//!
//! On v1 the container joins its group in the memory, pids and cpuacct hierarchies (for
//! accounting and tracking) and in every other hierarchy whose controller its manifest
//! configures. The cpu hierarchy is left alone unless configured: on kernels with real-time
//! group scheduling a new v1 cpu group has no real-time budget, and a `sched: fifo`
//! container in it could not raise its policy.

use super::{
    files, names,
    runtime::{enabled_v2, inherit_cpuset, make_path_v1, make_path_v2},
    settings::{self, Setting},
    Controller, Error, RuntimeGroup, Version,
};
use nix::{
    fcntl::{open, OFlag},
    sys::{signal::Signal, stat::Mode},
    unistd::Pid,
};
use npk::manifest::CGroups;
use std::{
    collections::BTreeSet,
    os::fd::{AsFd, BorrowedFd, OwnedFd},
    path::{Path, PathBuf},
};

/// One directory of a container's group and the controllers it carries (v1: one per
/// joined mount; v2: the only one, carrying all).
#[derive(Debug)]
pub(crate) struct GroupDir {
    pub path: PathBuf,
    pub controllers: BTreeSet<Controller>,
}

/// A container's group.
#[derive(Debug)]
pub struct ContainerGroup {
    id: String,
    pub(crate) version: Version,
    pub(crate) dirs: Vec<GroupDir>,
    /// v2: the group directory, for `CLONE_INTO_CGROUP`.
    fd: Option<OwnedFd>,
    /// Groups of a manifest `parent` below the runtime's group, deepest first: removed on
    /// destroy when no other container uses them (whichever container created them).
    parents: Vec<PathBuf>,
}

/// Controllers a v1 container always joins where mounted.
const V1_ALWAYS: [Controller; 3] = [Controller::Memory, Controller::Pids, Controller::Cpuacct];

impl RuntimeGroup {
    /// Create the group of container `id` (`name:version`) with the `limits` of its
    /// manifest, and the runtime's [`super::Defaults`] where it sets none. A group of the same name left by a crashed run is emptied (its processes
    /// killed) and removed first. A controller that a setting needs but the hierarchy lacks
    /// is an error naming both; nothing is created then.
    pub fn container(&self, id: &str, limits: Option<&CGroups>) -> Result<ContainerGroup, Error> {
        let version = self.hierarchy.version();
        let limits = match &self.defaults {
            Some(defaults) => defaults.apply(limits),
            None => limits.cloned().unwrap_or_default(),
        };
        let limits = &limits;
        let plan = settings::plan(version, limits)?;
        for (field, reason) in &plan.skipped {
            log::warn!("{id}: {field} is ignored on {version}: {reason}");
        }
        let leaf = names::dir_name(id)?;
        let parent = match &limits.parent {
            Some(p) => names::group_path(&p.to_string_lossy())?,
            None => PathBuf::new(),
        };
        let mut group = match version {
            Version::V1 => self.create_v1(id, &parent, &leaf, &plan.settings)?,
            Version::V2 => self.create_v2(id, &parent, &leaf, &plan.settings)?,
        };
        if let Err(e) = group.apply(&plan.settings) {
            let _ = group.remove_dirs();
            return Err(e);
        }
        let v2_dir = match version {
            Version::V2 => group.dirs.first().map(|d| d.path.clone()),
            Version::V1 => None,
        };
        if let Some(path) = v2_dir {
            let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
            match open(&path, flags, Mode::empty()) {
                Ok(fd) => group.fd = Some(fd),
                Err(e) => {
                    let _ = group.remove_dirs();
                    return Err(Error::Open {
                        path,
                        source: e.into(),
                    });
                }
            }
        }
        log::debug!("{id}: cgroup created with {} settings", plan.settings.len());
        Ok(group)
    }

    fn missing(&self, controller: Controller, settings: &[Setting]) -> Error {
        let field = settings
            .iter()
            .find(|s| s.controller == controller)
            .map_or_else(|| "cgroups".to_string(), |s| s.field.clone());
        Error::ControllerMissing {
            controller: controller.name(self.hierarchy.version()),
            root: self.hierarchy.root().to_path_buf(),
            field,
        }
    }

    fn create_v1(
        &self,
        id: &str,
        parent: &Path,
        leaf: &str,
        settings: &[Setting],
    ) -> Result<ContainerGroup, Error> {
        let available = self.hierarchy.controllers();
        let needed: BTreeSet<Controller> = settings.iter().map(|s| s.controller).collect();
        if let Some(missing) = needed.iter().find(|c| !available.contains(c)) {
            return Err(self.missing(*missing, settings));
        }
        let joined: BTreeSet<Controller> = needed.into_iter().chain(V1_ALWAYS).collect();
        let mut group = ContainerGroup::new(id, Version::V1);
        for mount in self.hierarchy.mounts() {
            if mount.controllers.is_disjoint(&joined) {
                // A crashed run may have joined this mount (other settings then).
                let stale = mount.path.join(&self.name).join(parent).join(leaf);
                if stale.exists() {
                    log::warn!("{id}: removing the stale cgroup {}", stale.display());
                    files::remove_tree(&stale, true)?;
                }
                continue;
            }
            let cpuset = mount.controllers.contains(&Controller::Cpuset);
            let runtime_dir = mount.path.join(&self.name);
            group.parents.extend(intermediates(&runtime_dir, parent));
            let made = make_path_v1(&runtime_dir, parent, cpuset).and_then(|_| {
                let base = runtime_dir.join(parent);
                let dir = base.join(leaf);
                fresh_dir(id, &dir)?;
                group.dirs.push(GroupDir {
                    path: dir.clone(),
                    controllers: mount.controllers.clone(),
                });
                if cpuset {
                    inherit_cpuset(&base, &dir)?;
                }
                Ok(())
            });
            if let Err(e) = made {
                let _ = group.remove_dirs();
                return Err(e);
            }
        }
        if group.dirs.is_empty() {
            // Without any of memory, pids or cpuacct the container's processes could not
            // be tracked (nor killed as a group).
            return Err(Error::ControllerMissing {
                controller: Controller::Pids.v1_name(),
                root: self.hierarchy.root().to_path_buf(),
                field: "tracking the container's processes (memory, pids or cpuacct)".into(),
            });
        }
        Ok(group)
    }

    fn create_v2(
        &self,
        id: &str,
        parent: &Path,
        leaf: &str,
        settings: &[Setting],
    ) -> Result<ContainerGroup, Error> {
        let runtime_dir = self.hierarchy.root().join(&self.name);
        let mut group = ContainerGroup::new(id, Version::V2);
        group.parents = intermediates(&runtime_dir, parent);
        let base = runtime_dir.join(parent);
        let made = make_path_v2(&runtime_dir, parent)
            .and_then(|_| enabled_v2(&base))
            .and_then(|enabled| {
                let missing = settings
                    .iter()
                    .map(|s| s.controller)
                    .find(|c| c.v2_name().is_some_and(|name| !enabled.contains(name)));
                if let Some(missing) = missing {
                    return Err(self.missing(missing, settings));
                }
                let dir = base.join(leaf);
                fresh_dir(id, &dir)?;
                group.dirs.push(GroupDir {
                    path: dir,
                    controllers: Controller::ALL.into_iter().collect(),
                });
                Ok(())
            });
        if let Err(e) = made {
            let _ = group.remove_dirs();
            return Err(e);
        }
        Ok(group)
    }
}

/// The groups of a manifest `parent` below `runtime_dir`, deepest first.
fn intermediates(runtime_dir: &Path, parent: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let mut dir = runtime_dir.to_path_buf();
    for component in parent.components() {
        dir.push(component);
        dirs.push(dir.clone());
    }
    dirs.reverse();
    dirs
}

/// Create `dir` empty: a group of the same name from an earlier run (processes and all) is
/// removed first.
fn fresh_dir(id: &str, dir: &Path) -> Result<(), Error> {
    if dir.exists() {
        log::warn!("{id}: removing the stale cgroup {}", dir.display());
        files::remove_tree(dir, true)?;
    }
    files::mkdir(dir).map(|_| ())
}

impl ContainerGroup {
    fn new(id: &str, version: Version) -> ContainerGroup {
        ContainerGroup {
            id: id.to_string(),
            version,
            dirs: Vec::new(),
            fd: None,
            parents: Vec::new(),
        }
    }

    /// The container id the group belongs to.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The group's directories (v1: one per joined controller mount; v2: one).
    pub fn paths(&self) -> Vec<&Path> {
        self.dirs.iter().map(|d| d.path.as_path()).collect()
    }

    /// The directory carrying `controller`.
    pub(crate) fn dir(&self, controller: Controller) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|d| d.controllers.contains(&controller))
            .map(|d| d.path.as_path())
    }

    fn apply(&self, settings: &[Setting]) -> Result<(), Error> {
        for setting in settings {
            let Some(dir) = self.dir(setting.controller) else {
                // Unreachable by construction (the controllers were checked); report it
                // as the missing controller it would be.
                return Err(Error::ControllerMissing {
                    controller: setting.controller.name(self.version),
                    root: PathBuf::new(),
                    field: setting.field.clone(),
                });
            };
            let path = dir.join(&setting.file);
            match &setting.fallback {
                Some((file, value)) if !path.exists() && dir.join(file).exists() => {
                    files::write(&dir.join(file), value)?
                }
                _ => files::write(&path, &setting.value)?,
            }
        }
        Ok(())
    }

    /// v2: the group directory (opened `O_RDONLY | O_DIRECTORY`) for `clone3`'s
    /// `CLONE_INTO_CGROUP`, so the process starts inside its group. `None` on v1, where
    /// the caller uses [`ContainerGroup::add`] instead.
    pub fn clone_fd(&self) -> Option<BorrowedFd<'_>> {
        self.fd.as_ref().map(|fd| fd.as_fd())
    }

    /// Move the process `pid` (with all its threads) into the group: every joined
    /// controller's `cgroup.procs` on v1, the group's on v2.
    pub fn add(&self, pid: i32) -> Result<(), Error> {
        for dir in &self.dirs {
            files::write(&dir.path.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Every process of the container, sorted (v1: the union over the joined controllers).
    pub fn pids(&self) -> Result<Vec<Pid>, Error> {
        let mut all = BTreeSet::new();
        for dir in &self.dirs {
            all.extend(files::procs(&dir.path)?);
        }
        Ok(all.into_iter().collect())
    }

    /// Send `signal` to every process of the container. SIGKILL on v2 uses `cgroup.kill`
    /// (Linux 5.14) where present: the kernel kills the whole group at once, forks in
    /// flight included. Otherwise the processes are listed and signalled; for SIGKILL the
    /// listing is repeated until no process escapes it (bounded).
    pub fn signal_all(&self, signal: Signal) -> Result<(), Error> {
        if self.version == Version::V2 && signal == Signal::SIGKILL {
            if let Some(dir) = self.dirs.first() {
                let kill = dir.path.join("cgroup.kill");
                if kill.exists() {
                    return files::write(&kill, "1");
                }
            }
        }
        files::signal_listed(signal, || self.pids())
    }

    /// Whether no process is left in the group (v2: `populated 0` in `cgroup.events`).
    pub fn is_empty(&self) -> Result<bool, Error> {
        if self.version == Version::V2 {
            if let Some(dir) = self.dirs.first() {
                if let Some(populated) =
                    files::read_key(&dir.path.join("cgroup.events"), "populated")?
                {
                    return Ok(populated == 0);
                }
            }
        }
        Ok(self.pids()?.is_empty())
    }

    /// Remove the group. Retries briefly while the kernel finishes the exits of killed
    /// processes; a group whose processes remain is [`Error::Busy`]. On success no
    /// directory of the group is left, nor a `parent` group that no other container uses.
    pub fn destroy(mut self) -> Result<(), Error> {
        self.fd = None;
        self.remove_dirs()
    }

    fn remove_dirs(&mut self) -> Result<(), Error> {
        let mut first_error = None;
        for dir in &self.dirs {
            if let Err(e) = files::rmdir(&dir.path) {
                first_error.get_or_insert(e);
            }
        }
        for parent in &self.parents {
            if let Err(e) = files::rmdir_if_unused(parent) {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
