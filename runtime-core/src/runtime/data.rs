//! Where a container's persistent data lives: `data_dir/@<repository>/<name>`, so a package
//! of the same name from another repository never gets it. The `@` cannot occur in a
//! container name, so the repositories' directories never meet the data of the old layout,
//! `data_dir/<name>`.
//!
//! Data of the old layout is moved to its new place by one `rename(2)` when exactly one
//! repository holds a package of that name: at start-up for every such directory, and at
//! a container's first start for a package installed later. A rename is atomic, so after a
//! power cut the data is in one place or the other, never in both or half moved; the
//! directories are synced after it. Data that more than one repository could claim is left
//! where it is and the containers of that name do not start until it is moved by hand.
//!
//! This module does not create, own or mount the data directory of a start (`start` does).

use crate::repository::Registry;
use std::{
    fs, io,
    path::{Path, PathBuf},
};

/// A failure to find or move a container's data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file system operation failed.
    #[error("{}: cannot {what}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    /// Data of the old layout that more than one repository could claim.
    #[error(
        "{}: data of the old layout, and repositories {} hold a package {name:?}: move it to \
         @<repository>/{name} beside it by hand",
        path.display(),
        repositories.join(", ")
    )]
    Ambiguous {
        path: PathBuf,
        name: String,
        repositories: Vec<String>,
    },
}

/// The data directory of the container `name` of `repository`.
pub(crate) fn path(data_dir: &Path, repository: &str, name: &str) -> PathBuf {
    data_dir.join(format!("@{repository}")).join(name)
}

/// The repositories holding a package named `name`, each once.
fn holders(registry: &Registry, name: &str) -> Vec<String> {
    let mut holders: Vec<String> = registry
        .iter()
        .filter(|(_, p)| p.manifest().name.as_str() == name)
        .map(|(r, _)| r.to_string())
        .collect();
    holders.dedup();
    holders
}

/// Whether `path` is a directory (not following a symbolic link); `false` when absent.
fn is_dir(path: &Path) -> Result<bool, DataError> {
    match fs::symlink_metadata(path) {
        Ok(meta) => Ok(meta.is_dir()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(DataError::Io {
            path: path.to_owned(),
            what: "stat",
            source,
        }),
    }
}

/// The data directory of the container `name` of `repository`, with the data of the old
/// layout moved there first if it is unambiguously this container's. Neither creates nor
/// changes the directory otherwise.
pub(crate) fn locate(
    data_dir: &Path,
    registry: &Registry,
    repository: &str,
    name: &str,
) -> Result<PathBuf, DataError> {
    let new = path(data_dir, repository, name);
    let old = data_dir.join(name);
    if fs::symlink_metadata(&new).is_ok() || !is_dir(&old)? {
        return Ok(new);
    }
    let holders = holders(registry, name);
    if holders != [repository] {
        return Err(DataError::Ambiguous {
            path: old,
            name: name.to_string(),
            repositories: holders,
        });
    }
    move_to(data_dir, &old, &new)?;
    Ok(new)
}

/// At start-up: move every directory of the old layout that exactly one repository can
/// claim. The others are logged and left; none is an error of the start-up.
pub(crate) fn migrate(data_dir: &Path, registry: &Registry) {
    let entries = match fs::read_dir(data_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return,
        Err(e) => {
            log::warn!("{}: cannot read: {e}", data_dir.display());
            return;
        }
    };
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if name.starts_with('@') || npk::manifest::Name::new(&name).is_err() {
            continue;
        }
        let holders = holders(registry, &name);
        let [repository] = holders.as_slice() else {
            if holders.len() > 1 {
                log::warn!(
                    "{}: data of the old layout claimed by repositories {}: left in place",
                    entry.path().display(),
                    holders.join(", ")
                );
            }
            continue;
        };
        if let Err(e) = locate(data_dir, registry, repository, &name) {
            log::warn!("{}", super::requests::error_chain(&e));
        }
    }
}

/// Rename `old` to `new` (creating the repository's directory first), then make both
/// directory entries durable.
fn move_to(data_dir: &Path, old: &Path, new: &Path) -> Result<(), DataError> {
    let io = |path: &Path, what: &'static str| {
        let path = path.to_owned();
        move |source| DataError::Io { path, what, source }
    };
    let parent = new.parent().unwrap_or(data_dir);
    fs::create_dir_all(parent).map_err(io(parent, "create"))?;
    fs::rename(old, new).map_err(io(old, "move the data of the old layout"))?;
    for dir in [parent, data_dir] {
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir, "sync"))?;
    }
    log::info!(
        "{}: data of the old layout moved to {}",
        old.display(),
        new.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_directory_cannot_be_a_container_name() {
        let p = path(Path::new("/data"), "system", "hello");
        assert_eq!(p, Path::new("/data/@system/hello"));
        assert!(npk::manifest::Name::new("@system").is_err());
    }

    #[test]
    fn nothing_to_move_without_old_data() {
        let dir = tempfile::tempdir().unwrap();
        let registry = Registry::new();
        let found = locate(dir.path(), &registry, "apps", "hello").unwrap();
        assert_eq!(found, dir.path().join("@apps/hello"));
        assert!(!found.exists());
        // Old data nobody holds is not taken by a container that is not installed.
        fs::create_dir(dir.path().join("hello")).unwrap();
        let err = locate(dir.path(), &registry, "apps", "hello").unwrap_err();
        assert!(matches!(err, DataError::Ambiguous { .. }), "{err}");
        assert!(dir.path().join("hello").is_dir());
        migrate(dir.path(), &registry);
        assert!(dir.path().join("hello").is_dir());
        assert!(!dir.path().join("@apps").exists());
    }
}
