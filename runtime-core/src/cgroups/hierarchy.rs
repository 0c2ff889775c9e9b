//! Which cgroup hierarchy the runtime works with: cgroup v2 when the configured root is a
//! cgroup2 mount, cgroup v1 otherwise (one mount per controller, or co-mounted controllers
//! such as `cpu,cpuacct`, below the root). Detection reads the file system only; it creates
//! nothing. Whether a controller is actually needed is decided per container elsewhere.

use super::Error;
use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC, CGROUP_SUPER_MAGIC};
use std::{
    collections::BTreeSet,
    fmt, fs,
    path::{Path, PathBuf},
};

/// A resource controller the runtime uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Controller {
    Memory,
    Cpu,
    /// CPU accounting: a controller of its own on v1; part of the core (`cpu.stat`) on v2.
    Cpuacct,
    Cpuset,
    Pids,
    /// `blkio` on v1, `io` on v2.
    Blkio,
}

impl Controller {
    /// Every controller the runtime knows.
    pub const ALL: [Controller; 6] = [
        Controller::Memory,
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Cpuset,
        Controller::Pids,
        Controller::Blkio,
    ];

    /// The controller's name on cgroup v1 (mount option and file prefix).
    pub fn v1_name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Cpuset => "cpuset",
            Controller::Pids => "pids",
            Controller::Blkio => "blkio",
        }
    }

    /// The controller's name on cgroup v2 (`cgroup.controllers`); `None` for `cpuacct`.
    pub fn v2_name(self) -> Option<&'static str> {
        match self {
            Controller::Cpuacct => None,
            Controller::Blkio => Some("io"),
            other => Some(other.v1_name()),
        }
    }

    /// The name on `version`: v2's name where it has one.
    pub fn name(self, version: Version) -> &'static str {
        match version {
            Version::V1 => self.v1_name(),
            Version::V2 => self.v2_name().unwrap_or(self.v1_name()),
        }
    }

    fn from_v1_name(name: &str) -> Option<Controller> {
        Controller::ALL.into_iter().find(|c| c.v1_name() == name)
    }

    fn from_v2_name(name: &str) -> Option<Controller> {
        Controller::ALL
            .into_iter()
            .find(|c| c.v2_name() == Some(name))
    }
}

impl fmt::Display for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.v1_name())
    }
}

/// The cgroup version of a hierarchy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Version::V1 => "cgroup v1",
            Version::V2 => "cgroup v2",
        })
    }
}

/// One cgroup v1 mount and the controllers attached to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mount {
    /// The mount point with symbolic links resolved (`cpu` may link to `cpu,cpuacct`).
    pub path: PathBuf,
    pub controllers: BTreeSet<Controller>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    V1 { mounts: Vec<Mount> },
    V2 { controllers: BTreeSet<Controller> },
}

/// A detected cgroup hierarchy: where the groups live and which controllers exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    root: PathBuf,
    kind: Kind,
}

impl Hierarchy {
    /// Inspect `root`: cgroup v2 when it is a cgroup2 mount (`CGROUP2_SUPER_MAGIC`), else
    /// cgroup v1 with the known controllers' mounts below it (`root/memory`,
    /// `root/cpu,cpuacct`, ...). A host in the v1 "hybrid" layout (v1 controllers plus an
    /// empty cgroup2 at `root/unified`) is v1. At least one controller must be mounted.
    pub fn detect(root: &Path) -> Result<Hierarchy, Error> {
        let fs = statfs(root).map_err(|e| Error::Root {
            root: root.to_path_buf(),
            source: e.into(),
        })?;
        let kind = if fs.filesystem_type() == CGROUP2_SUPER_MAGIC {
            Kind::V2 {
                controllers: v2_controllers(root)?,
            }
        } else {
            let mounts = v1_mounts(root)?;
            if mounts.is_empty() {
                return Err(Error::NoHierarchy {
                    root: root.to_path_buf(),
                });
            }
            Kind::V1 { mounts }
        };
        Ok(Hierarchy {
            root: root.to_path_buf(),
            kind,
        })
    }

    /// The cgroup version.
    pub fn version(&self) -> Version {
        match self.kind {
            Kind::V1 { .. } => Version::V1,
            Kind::V2 { .. } => Version::V2,
        }
    }

    /// The root the hierarchy was detected at.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The controllers available: mounted (v1) or listed in the root's
    /// `cgroup.controllers` (v2; `cpuacct` never, its accounting is in `cpu.stat`).
    pub fn controllers(&self) -> BTreeSet<Controller> {
        match &self.kind {
            Kind::V1 { mounts } => mounts
                .iter()
                .flat_map(|m| m.controllers.iter().copied())
                .collect(),
            Kind::V2 { controllers } => controllers.clone(),
        }
    }

    /// The v1 mounts (empty on v2).
    pub(crate) fn mounts(&self) -> &[Mount] {
        match &self.kind {
            Kind::V1 { mounts } => mounts,
            Kind::V2 { .. } => &[],
        }
    }
}

/// Controllers of the cgroup2 root that the runtime knows.
fn v2_controllers(root: &Path) -> Result<BTreeSet<Controller>, Error> {
    let path = root.join("cgroup.controllers");
    let text = fs::read_to_string(&path).map_err(|source| Error::Read { path, source })?;
    Ok(text
        .split_whitespace()
        .filter_map(Controller::from_v2_name)
        .collect())
}

/// cgroup v1 mounts below `root` that carry a known controller. An entry's controllers
/// come from its name and, for a symbolic link, from its target's name (`cpu` →
/// `cpu,cpuacct`); entries that resolve to the same mount are merged. Entries that are not
/// cgroup v1 mounts (the hybrid layout's `unified`, a named `systemd` hierarchy, stray
/// directories) are skipped.
fn v1_mounts(root: &Path) -> Result<Vec<Mount>, Error> {
    let entries = fs::read_dir(root).map_err(|source| Error::Root {
        root: root.to_path_buf(),
        source,
    })?;
    let mut mounts: Vec<Mount> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::Root {
            root: root.to_path_buf(),
            source,
        })?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if names_controllers(&name).is_empty() {
            continue;
        }
        let Ok(path) = fs::canonicalize(entry.path()) else {
            continue;
        };
        let is_v1 = statfs(&path).is_ok_and(|s| s.filesystem_type() == CGROUP_SUPER_MAGIC);
        if !is_v1 {
            continue;
        }
        let mut controllers = names_controllers(&name);
        if let Some(target) = path.file_name().and_then(|n| n.to_str()) {
            controllers.extend(names_controllers(target));
        }
        match mounts.iter_mut().find(|m| m.path == path) {
            Some(mount) => mount.controllers.extend(controllers),
            None => mounts.push(Mount { path, controllers }),
        }
    }
    mounts.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(mounts)
}

/// The known controllers named by a v1 mount directory name such as `cpu,cpuacct`.
fn names_controllers(name: &str) -> BTreeSet<Controller> {
    name.split(',')
        .filter_map(Controller::from_v1_name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn co_mounted_names_list_each_controller() {
        let names = names_controllers("cpu,cpuacct");
        assert_eq!(
            names,
            BTreeSet::from([Controller::Cpu, Controller::Cpuacct])
        );
        assert!(names_controllers("unified").is_empty());
        assert!(names_controllers("systemd").is_empty());
        assert_eq!(
            names_controllers("net_cls,net_prio,blkio"),
            BTreeSet::from([Controller::Blkio])
        );
    }

    #[test]
    fn v2_names() {
        assert_eq!(Controller::from_v2_name("io"), Some(Controller::Blkio));
        assert_eq!(Controller::from_v2_name("blkio"), None);
        assert_eq!(Controller::from_v2_name("cpuacct"), None);
        assert_eq!(Controller::Cpuacct.name(Version::V2), "cpuacct");
        assert_eq!(Controller::Blkio.name(Version::V2), "io");
    }
}
