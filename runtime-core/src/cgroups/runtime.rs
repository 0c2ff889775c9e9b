//! The runtime's own group (`northstar` by default): created at start below the root of
//! every v1 controller mount (or once on v2, with the controllers enabled down to it), the
//! parent of every container's group, removed at shutdown. The runtime process itself is
//! never placed in it, which keeps v2's "no internal processes" rule: the group only has
//! child groups. Containers' groups are made by [`RuntimeGroup::container`]
//! (in the container submodule).

use super::{files, names, Controller, Defaults, Error, Hierarchy, Version};
use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

/// The v2 controllers the runtime enables for its containers, where the kernel has them.
const V2_CONTROLLERS: [Controller; 5] = [
    Controller::Memory,
    Controller::Cpu,
    Controller::Cpuset,
    Controller::Pids,
    Controller::Blkio,
];

/// The runtime's group in a hierarchy.
#[derive(Debug)]
pub struct RuntimeGroup {
    pub(crate) hierarchy: Hierarchy,
    /// Relative path of the group below each mount (v1) or the root (v2).
    pub(crate) name: PathBuf,
    /// Limits of containers whose manifest sets none ([`RuntimeGroup::set_defaults`]).
    pub(crate) defaults: Option<Defaults>,
}

impl RuntimeGroup {
    /// Create (or reuse) the group `name` (a relative path such as `northstar`) in
    /// `hierarchy`. v1: below every controller mount, with `cpuset.cpus`/`cpuset.mems`
    /// filled from the parent so that processes can join. v2: below the root, with the
    /// known controllers the kernel offers enabled in `cgroup.subtree_control` of the root,
    /// of every intermediate group and of the group itself.
    pub fn create(hierarchy: Hierarchy, name: &str) -> Result<RuntimeGroup, Error> {
        let name = names::group_path(name)?;
        match hierarchy.version() {
            Version::V1 => {
                for mount in hierarchy.mounts() {
                    let cpuset = mount.controllers.contains(&Controller::Cpuset);
                    make_path_v1(&mount.path, &name, cpuset)?;
                }
            }
            Version::V2 => {
                let root = hierarchy.root();
                enable_v2(root)?;
                make_path_v2(root, &name)?;
            }
        }
        log::debug!(
            "cgroup {} created ({}, controllers {:?})",
            name.display(),
            hierarchy.version(),
            hierarchy.controllers()
        );
        Ok(RuntimeGroup {
            hierarchy,
            name,
            defaults: None,
        })
    }

    /// Give every container created from now on `defaults` where its manifest sets no
    /// pids or memory limit. Without this call a container gets only its manifest's
    /// limits; the runtime always sets them (from `[cgroups]` of its configuration).
    pub fn set_defaults(&mut self, defaults: Defaults) {
        self.defaults = Some(defaults);
    }

    /// The limits of containers whose manifest sets none, if any.
    pub fn defaults(&self) -> Option<Defaults> {
        self.defaults
    }

    /// The hierarchy the group lives in.
    pub fn hierarchy(&self) -> &Hierarchy {
        &self.hierarchy
    }

    /// The group's directories: one per v1 controller mount, or the one v2 directory.
    pub fn paths(&self) -> Vec<PathBuf> {
        match self.hierarchy.version() {
            Version::V1 => self
                .hierarchy
                .mounts()
                .iter()
                .map(|m| m.path.join(&self.name))
                .collect(),
            Version::V2 => vec![self.hierarchy.root().join(&self.name)],
        }
    }

    /// Remove the group at shutdown, with any empty group left below it (a container's
    /// group from a crashed run). A group still holding processes is an error
    /// ([`Error::Busy`]); the runtime ends its containers before this.
    pub fn destroy(&self) -> Result<(), Error> {
        let mut first_error = None;
        for dir in self.paths() {
            let removed = files::remove_tree(&dir, false).and_then(|()| {
                // Intermediate components of a nested name (`a/b`), when nothing else uses
                // them.
                let mut parent = dir.parent();
                for _ in 1..self.name.components().count() {
                    if let Some(p) = parent {
                        files::rmdir_if_unused(p)?;
                        parent = p.parent();
                    }
                }
                Ok(())
            });
            if let Err(e) = removed {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

impl Drop for RuntimeGroup {
    /// A runtime that ends without [`RuntimeGroup::destroy`] (an error path) still removes
    /// its group when nothing is left in it: one `rmdir` per directory, no waiting, no
    /// killing; a group that holds container groups stays for the next start to reuse.
    fn drop(&mut self) {
        for dir in self.paths() {
            let _ = files::rmdir_if_unused(&dir);
        }
    }
}

/// Create `base/relative` one component at a time (existing ones are fine). With `cpuset`,
/// fill each new group's empty `cpuset.cpus` and `cpuset.mems` from its parent: a v1
/// cpuset group starts empty and refuses processes until both are set.
pub(crate) fn make_path_v1(base: &Path, relative: &Path, cpuset: bool) -> Result<(), Error> {
    let mut dir = base.to_path_buf();
    for component in relative.components() {
        let parent = dir.clone();
        dir.push(component);
        files::mkdir(&dir)?;
        if cpuset {
            inherit_cpuset(&parent, &dir)?;
        }
    }
    Ok(())
}

/// Copy `cpuset.cpus` and `cpuset.mems` from `parent` into `dir` where `dir`'s are empty.
pub(crate) fn inherit_cpuset(parent: &Path, dir: &Path) -> Result<(), Error> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let own = files::read(&dir.join(file))?;
        if own.trim().is_empty() {
            let inherited = files::read(&parent.join(file))?;
            files::write(&dir.join(file), inherited.trim())?;
        }
    }
    Ok(())
}

/// Create `root/relative` one component at a time, enabling the controllers in each new
/// or existing group so that they reach the groups below `relative`.
pub(crate) fn make_path_v2(root: &Path, relative: &Path) -> Result<(), Error> {
    let mut dir = root.to_path_buf();
    for component in relative.components() {
        dir.push(component);
        files::mkdir(&dir)?;
        enable_v2(&dir)?;
    }
    Ok(())
}

/// Enable in `dir/cgroup.subtree_control` each of [`V2_CONTROLLERS`] that `dir` has
/// (`cgroup.controllers`) and that is not enabled yet; one write per controller, so that
/// an error names it.
fn enable_v2(dir: &Path) -> Result<(), Error> {
    let available = words(&files::read(&dir.join("cgroup.controllers"))?);
    let enabled = enabled_v2(dir)?;
    for controller in V2_CONTROLLERS {
        let Some(name) = controller.v2_name() else {
            continue;
        };
        if available.contains(name) && !enabled.contains(name) {
            files::write(&dir.join("cgroup.subtree_control"), &format!("+{name}"))?;
        }
    }
    Ok(())
}

/// The controllers enabled for the children of `dir`.
pub(crate) fn enabled_v2(dir: &Path) -> Result<BTreeSet<String>, Error> {
    Ok(words(&files::read(&dir.join("cgroup.subtree_control"))?))
}

fn words(text: &str) -> BTreeSet<String> {
    text.split_whitespace().map(str::to_string).collect()
}
