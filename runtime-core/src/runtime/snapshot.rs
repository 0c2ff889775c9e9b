//! Snapshots of a container's persistent data for update transactions: a copy of
//! `@<repository>/<name>` beside it, `@<repository>/+<name>.snapshot`, taken after the old
//! version stopped and put back when the update rolls back. The `+` cannot occur in a
//! container name, so a snapshot never meets a container's data.
//!
//! The snapshot directory holds `data` (the copy) or `absent` (there was no data). It is
//! built as `+<name>.snapshot.tmp`, synced and renamed, so after a power cut it is whole
//! or absent. A restore moves the data aside (`+<name>.discard`), renames `data` back and
//! then removes the rest; each step is a rename, and a snapshot with neither `data` nor
//! `absent` is one whose restore is complete, so a restore cut by a power failure is
//! finished at the next start.
//!
//! The copy keeps directories, regular files, symbolic links, owners and modes; other
//! kinds of files (fifos, sockets, device nodes) are not copied, and extended attributes
//! and timestamps are not kept.

use std::{
    fs, io,
    os::unix::fs::{lchown, MetadataExt, PermissionsExt},
    path::{Path, PathBuf},
};

/// A failed snapshot operation.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SnapshotError {
    #[error("{}: cannot {what}", path.display())]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{}: more than {max} bytes of persistent data (update.snapshot_max)", path.display())]
    TooLarge { path: PathBuf, max: u64 },
}

fn io_err(path: &Path, what: &'static str) -> impl FnOnce(io::Error) -> SnapshotError {
    let path = path.to_owned();
    move |source| SnapshotError::Io { path, what, source }
}

/// `data` with `suffix` on its name, prefixed by `+`.
fn beside(data: &Path, suffix: &str) -> PathBuf {
    let name = data.file_name().unwrap_or_default().to_string_lossy();
    data.with_file_name(format!("+{name}{suffix}"))
}

/// Where the snapshot of the data directory `data` is kept.
pub(crate) fn path(data: &Path) -> PathBuf {
    beside(data, ".snapshot")
}

fn exists(path: &Path) -> Result<bool, SnapshotError> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err(path, "stat")(e)),
    }
}

fn remove(path: &Path) -> Result<(), SnapshotError> {
    let result = match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
    };
    result.map_err(io_err(path, "remove"))
}

fn sync_dir(dir: &Path) -> Result<(), SnapshotError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir, "sync"))
}

fn parent(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

/// The bytes of regular files below `dir`; an error once they exceed `max`.
pub(crate) fn check_size(dir: &Path, max: u64) -> Result<u64, SnapshotError> {
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match fs::read_dir(&d) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound && d == dir => return Ok(0),
            Err(e) => return Err(io_err(&d, "read")(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io_err(&d, "read"))?;
            let meta = entry
                .path()
                .symlink_metadata()
                .map_err(io_err(&entry.path(), "stat"))?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() {
                total = total.saturating_add(meta.len());
                if total > max {
                    return Err(SnapshotError::TooLarge {
                        path: dir.to_owned(),
                        max,
                    });
                }
            }
        }
    }
    Ok(total)
}

/// Copy `from` (a directory) to `to`, which must not exist; every file synced.
fn copy_tree(from: &Path, to: &Path) -> Result<(), SnapshotError> {
    let meta = from.symlink_metadata().map_err(io_err(from, "stat"))?;
    fs::create_dir(to).map_err(io_err(to, "create"))?;
    for entry in fs::read_dir(from).map_err(io_err(from, "read"))? {
        let entry = entry.map_err(io_err(from, "read"))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let kind = source.symlink_metadata().map_err(io_err(&source, "stat"))?;
        if kind.is_dir() {
            copy_tree(&source, &target)?;
        } else if kind.is_file() {
            fs::copy(&source, &target).map_err(io_err(&source, "copy"))?;
            fs::File::open(&target)
                .and_then(|f| f.sync_all())
                .map_err(io_err(&target, "sync"))?;
            keep_owner(&kind, &target)?;
        } else if kind.is_symlink() {
            let link = fs::read_link(&source).map_err(io_err(&source, "read the link"))?;
            std::os::unix::fs::symlink(&link, &target).map_err(io_err(&target, "create"))?;
            lchown(&target, Some(kind.uid()), Some(kind.gid()))
                .map_err(io_err(&target, "change the owner"))?;
        } else {
            log::debug!(
                "{}: not a file, directory or link: not kept",
                source.display()
            );
        }
    }
    keep_owner(&meta, to)?;
    sync_dir(to)
}

fn keep_owner(meta: &fs::Metadata, path: &Path) -> Result<(), SnapshotError> {
    lchown(path, Some(meta.uid()), Some(meta.gid())).map_err(io_err(path, "change the owner"))?;
    fs::set_permissions(path, fs::Permissions::from_mode(meta.mode() & 0o7777))
        .map_err(io_err(path, "change the mode"))
}

/// Snapshot the data directory `data` (absent data is recorded as such); at most `max`
/// bytes. An older snapshot is replaced.
pub(crate) fn take(data: &Path, max: u64) -> Result<(), SnapshotError> {
    let snapshot = path(data);
    let temp = beside(data, ".snapshot.tmp");
    remove(&temp)?;
    let dir = parent(data);
    fs::create_dir_all(dir).map_err(io_err(dir, "create"))?;
    fs::create_dir(&temp).map_err(io_err(&temp, "create"))?;
    let copied = if exists(data)? {
        check_size(data, max).and_then(|_| copy_tree(data, &temp.join("data")))
    } else {
        fs::File::create(temp.join("absent"))
            .map(drop)
            .map_err(io_err(&temp, "create"))
    };
    if let Err(e) = copied.and_then(|()| sync_dir(&temp)) {
        let _ = remove(&temp);
        return Err(e);
    }
    remove(&snapshot)?;
    fs::rename(&temp, &snapshot).map_err(io_err(&snapshot, "rename"))?;
    sync_dir(dir)
}

/// Put the snapshot of `data` back, if there is one, and remove it. Finishes a restore a
/// power cut interrupted.
pub(crate) fn restore(data: &Path) -> Result<bool, SnapshotError> {
    let snapshot = path(data);
    if !exists(&snapshot)? {
        return Ok(false);
    }
    let discard = beside(data, ".discard");
    let copy = snapshot.join("data");
    let absent = snapshot.join("absent");
    let dir = parent(data);
    if exists(&copy)? || exists(&absent)? {
        remove(&discard)?;
        if exists(data)? {
            fs::rename(data, &discard).map_err(io_err(data, "move aside"))?;
        }
        if exists(&copy)? {
            fs::rename(&copy, data).map_err(io_err(data, "restore"))?;
        } else {
            fs::remove_file(&absent).map_err(io_err(&absent, "remove"))?;
        }
        sync_dir(dir)?;
    }
    remove(&discard)?;
    remove(&snapshot)?;
    sync_dir(dir)?;
    Ok(true)
}

/// Remove the snapshot of `data` (after a commit).
pub(crate) fn discard(data: &Path) -> Result<(), SnapshotError> {
    let mut removed = false;
    for leftover in [beside(data, ".snapshot.tmp"), path(data)] {
        if exists(&leftover)? {
            remove(&leftover)?;
            removed = true;
        }
    }
    if removed {
        sync_dir(parent(data))?;
    }
    Ok(())
}

/// Remove what snapshots left in the repositories' data directories below `data_dir`
/// (when no transaction is pending).
pub(crate) fn clean(data_dir: &Path) {
    let Ok(repositories) = fs::read_dir(data_dir) else {
        return;
    };
    for repository in repositories.flatten() {
        if !repository.file_name().to_string_lossy().starts_with('@') {
            continue;
        }
        let Ok(entries) = fs::read_dir(repository.path()) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with('+') {
                log::info!("{}: left by an update: removed", entry.path().display());
                if let Err(e) = remove(&entry.path()) {
                    log::warn!("{}", super::requests::error_chain(&e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path) {
        fs::create_dir_all(root.join("a/b")).unwrap();
        fs::write(root.join("a/b/file"), b"old").unwrap();
        std::os::unix::fs::symlink("a/b/file", root.join("link")).unwrap();
    }

    #[test]
    fn restore_puts_back_the_data_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("@r/app");
        tree(&data);
        take(&data, 1 << 20).unwrap();
        fs::write(data.join("a/b/file"), b"migrated").unwrap();
        fs::write(data.join("new"), b"x").unwrap();
        assert!(restore(&data).unwrap());
        assert_eq!(fs::read(data.join("a/b/file")).unwrap(), b"old");
        assert!(!data.join("new").exists());
        assert_eq!(
            fs::read_link(data.join("link")).unwrap(),
            Path::new("a/b/file")
        );
        assert!(!path(&data).exists());
        assert!(!restore(&data).unwrap());
    }

    #[test]
    fn absent_data_is_absent_again() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("@r/app");
        take(&data, 1 << 20).unwrap();
        fs::create_dir_all(&data).unwrap();
        fs::write(data.join("new"), b"x").unwrap();
        restore(&data).unwrap();
        assert!(!data.exists());
    }

    #[test]
    fn a_restore_cut_after_the_move_aside_completes() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("@r/app");
        tree(&data);
        take(&data, 1 << 20).unwrap();
        fs::write(data.join("new"), b"x").unwrap();
        // The cut: the data moved aside, the copy not yet back.
        fs::rename(&data, beside(&data, ".discard")).unwrap();
        restore(&data).unwrap();
        assert_eq!(fs::read(data.join("a/b/file")).unwrap(), b"old");
        assert!(!beside(&data, ".discard").exists());
    }

    #[test]
    fn a_restore_cut_after_the_copy_is_back_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("@r/app");
        tree(&data);
        take(&data, 1 << 20).unwrap();
        fs::rename(&data, beside(&data, ".discard")).unwrap();
        fs::rename(path(&data).join("data"), &data).unwrap();
        // The cut: the snapshot directory and the discarded data are still there.
        restore(&data).unwrap();
        assert_eq!(fs::read(data.join("a/b/file")).unwrap(), b"old");
        assert!(!path(&data).exists());
    }

    #[test]
    fn too_large_data_is_refused_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("@r/app");
        fs::create_dir_all(&data).unwrap();
        fs::write(data.join("big"), vec![0u8; 4096]).unwrap();
        let e = take(&data, 1000).unwrap_err();
        assert!(
            matches!(e, SnapshotError::TooLarge { max: 1000, .. }),
            "{e}"
        );
        assert!(!path(&data).exists());
        assert!(!beside(&data, ".snapshot.tmp").exists());
    }
}
