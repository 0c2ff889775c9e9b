//! Corrupted package data, found after the fact: a signed package is checked at start-up
//! only for its signature, its signed metadata and its verity superblock; its data blocks
//! are checked by dm-verity as they are read. A block changed after installation makes
//! that read fail with `EIO`, and the container that read it typically fails. When a
//! container ends with a failure (an exit code other than 0 or a signal), the verity
//! status of each package it used (its own image and its resources) tells whether that
//! was the cause; each corrupted one is logged as an error naming the package file, and a
//! critical container's failure reason says so too.
//!
//! Owns: which packages are asked and the wording. Does not own the status itself
//! ([`crate::mount::Mounted::verity_status`]) or what follows the failure (restart
//! policy, critical reaction).

use super::state::State;
use crate::{container::ExitStatus, id::ContainerId, mount::verity::Status};
use npk::manifest::Mount;
use std::path::Path;

/// A container that ended: log every corrupted package among its own image and the
/// `resources` its run used. Nothing is asked after a successful exit.
pub(crate) fn ended(
    state: &State,
    id: &ContainerId,
    status: ExitStatus,
    resources: &[ContainerId],
) {
    if status.success() {
        return;
    }
    for line in findings(state, id, used(id, resources)) {
        log::error!("{line}");
    }
}

/// `reason` of a critical failure of `id`, followed by the corrupted packages among its
/// own image and the resources its manifest resolves to, if any.
pub(crate) fn reason(state: &State, id: &ContainerId, reason: String) -> String {
    let found = findings(state, id, used(id, &resources(state, id)));
    if found.is_empty() {
        reason
    } else {
        format!("{reason}; {}", found.join("; "))
    }
}

/// The container's own image first, then its resources, each once.
fn used(id: &ContainerId, resources: &[ContainerId]) -> Vec<ContainerId> {
    let mut packages = vec![id.clone()];
    for resource in resources {
        if !packages.contains(resource) {
            packages.push(resource.clone());
        }
    }
    packages
}

/// The resources the manifest of `id` resolves to now (as a start resolves them).
fn resources(state: &State, id: &ContainerId) -> Vec<ContainerId> {
    let (Some(package), Some(repository)) =
        (state.registry.get(id), state.registry.repository_of(id))
    else {
        return Vec::new();
    };
    package
        .manifest()
        .mounts
        .values()
        .filter_map(|mount| match mount {
            Mount::Resource(r) => state.registry.resolve(repository, &r.name, &r.version),
            _ => None,
        })
        .map(|p| p.id())
        .collect()
}

/// One line for each mounted package of `packages` whose dm-verity device has seen a
/// corrupted block. A status that cannot be read is a warning, not a finding.
fn findings(state: &State, id: &ContainerId, packages: Vec<ContainerId>) -> Vec<String> {
    let mut found = Vec::new();
    for package in packages {
        let Some(mounted) = state.mounts.get(&package) else {
            continue;
        };
        match mounted.verity_status() {
            Ok(Some(Status::Corrupted)) => {
                found.push(message(id, &package, mounted.package()));
            }
            Ok(Some(Status::Valid) | None) => {}
            Err(e) => log::warn!("{id}: cannot read the dm-verity status of {package}: {e}"),
        }
    }
    found
}

/// What is said about the corrupted `package` (the file `file`) used by `container`.
fn message(container: &ContainerId, package: &ContainerId, file: &Path) -> String {
    let which = if package == container {
        String::new()
    } else {
        format!("resource {package}: ")
    };
    format!(
        "{container}: {which}dm-verity found corrupted data in {} (a block changed after \
         installation); the package must be reinstalled",
        file.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> ContainerId {
        s.parse().unwrap()
    }

    #[test]
    fn messages_name_the_file_and_the_container() {
        let hello = id("hello:0.0.1");
        assert_eq!(
            message(&hello, &hello, Path::new("/data/repo/hello-0.0.1.npk")),
            "hello:0.0.1: dm-verity found corrupted data in /data/repo/hello-0.0.1.npk \
             (a block changed after installation); the package must be reinstalled"
        );
        let fonts = id("fonts:1.0.0");
        let line = message(&hello, &fonts, Path::new("/data/repo/fonts-1.0.0.npk"));
        assert!(
            line.starts_with("hello:0.0.1: resource fonts:1.0.0: dm-verity found corrupted data in /data/repo/fonts-1.0.0.npk"),
            "{line}"
        );
    }

    #[test]
    fn the_own_image_first_then_each_resource_once() {
        let own = id("app:1.0.0");
        let (a, b) = (id("a:1.0.0"), id("b:2.0.0"));
        assert_eq!(
            used(&own, &[a.clone(), b.clone(), a.clone()]),
            vec![own.clone(), a, b]
        );
        assert_eq!(used(&own, &[]), vec![own]);
    }
}
