//! The mount steps of a container's plan: what each manifest mount becomes (filesystem,
//! bind, remount flags, device nodes), as data the child executes after the clone.

use super::{
    error::PlanError,
    plan::{cstring, path_cstring, Input},
};
use nix::mount::MsFlags;
use northstar_sys::mount::{ATTR_NODEV, ATTR_NOEXEC, ATTR_NOSUID, ATTR_RDONLY};
use npk::manifest::{Mount, MountOption, MountOptions};
use std::{
    ffi::CString,
    path::{Path, PathBuf},
};

/// One step of setting up the container's mount namespace.
///
/// Every path a step works on is relative to a directory and is resolved inside it by the
/// child ([`northstar_sys::mount::open_beneath`]): mount points, device nodes and links
/// below the container's root (the image, before `pivot_root`); bind sources below their
/// image, allowed host directory or runtime directory. A symlink out of that directory
/// fails the step instead of redirecting it to the host.
#[derive(Debug)]
pub(crate) enum MountOp {
    /// A new filesystem on `target`.
    Mount {
        source: CString,
        target: CString,
        fstype: CString,
        flags: MsFlags,
        data: Option<CString>,
    },
    /// A bind mount of `path` below the directory `dir` (absolute, chosen by the runtime or
    /// its configuration; with `path` `.`, `dir` itself, which may then be any file)
    /// on `target`, with the mount `attributes` (`ATTR_*`). With `recursive`, every mount
    /// below the source comes along, each with the same attributes. With `same_mount`,
    /// the source must not lie on another mount than `dir` (resource images).
    Bind {
        dir: CString,
        path: CString,
        same_mount: bool,
        target: CString,
        attributes: u64,
        recursive: bool,
    },
    /// Remount the filesystem on `target` with `flags` (read-only, nosuid, ...).
    Remount { target: CString, flags: MsFlags },
    /// A character device node `name` in `dir`, mode 0666.
    CharDevice {
        dir: CString,
        name: CString,
        major: u32,
        minor: u32,
    },
    /// A symbolic link `name` in `dir`, pointing to `target`.
    Symlink {
        target: CString,
        dir: CString,
        name: CString,
    },
}

/// A relative path inside a container's root or a source directory, shown absolute.
fn shown(path: &CString) -> String {
    match path.to_string_lossy() {
        p if p == "." => "/".to_string(),
        p => format!("/{p}"),
    }
}

impl MountOp {
    /// What this step works on, for error messages: the path in the container and, for
    /// binds, the source and the directory it is resolved in.
    pub(crate) fn target(&self) -> String {
        match self {
            MountOp::Mount { target, .. } | MountOp::Remount { target, .. } => shown(target),
            MountOp::Bind {
                dir, path, target, ..
            } => format!(
                "{} (source {} in {})",
                shown(target),
                shown(path),
                dir.to_string_lossy()
            ),
            MountOp::CharDevice { dir, name, .. } | MountOp::Symlink { dir, name, .. } => {
                format!("{}/{}", shown(dir), name.to_string_lossy())
            }
        }
    }
}

/// `inner` (an absolute path in a container or image) relative to its root: `.` for "/".
fn relative(inner: &Path) -> Result<CString, PlanError> {
    let rel = inner.strip_prefix("/").unwrap_or(inner);
    if rel.as_os_str().is_empty() {
        Ok(c".".into())
    } else {
        path_cstring(rel)
    }
}

/// The entry of `bind_allow` that `host` is resolved in: the longest that covers it, so a
/// symlink may not lead from one allowed directory into another.
fn allowed_dir<'a>(allowed: &'a [PathBuf], host: &Path) -> Option<&'a Path> {
    allowed
        .iter()
        .filter(|dir| host.starts_with(dir))
        .max_by_key(|dir| dir.components().count())
        .map(PathBuf::as_path)
}

pub(super) fn mount_ops(
    input: &Input<'_>,
    point: &Path,
    mount: &Mount,
    ops: &mut Vec<MountOp>,
) -> Result<(), PlanError> {
    let t = relative(point)?;
    let ro_noexec = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    let new = |fstype: &str, flags: MsFlags, data: Option<String>| -> Result<MountOp, PlanError> {
        Ok(MountOp::Mount {
            source: cstring(fstype, fstype.as_bytes())?,
            target: t.clone(),
            fstype: cstring(fstype, fstype.as_bytes())?,
            flags,
            data: data
                .map(|d| cstring("mount data", d.as_bytes()))
                .transpose()?,
        })
    };
    // Writable mounts of the container's own making run nothing unless asked to.
    let exec_or_not = |options: &MountOptions| {
        if options.contains(MountOption::Exec) {
            0
        } else {
            ATTR_NOEXEC
        }
    };
    match mount {
        Mount::Proc => ops.push(new("proc", ro_noexec | MsFlags::MS_NOEXEC, None)?),
        Mount::Sysfs => ops.push(new("sysfs", ro_noexec | MsFlags::MS_NOEXEC, None)?),
        Mount::Tmpfs(tmpfs) => {
            let m = input.manifest;
            let data = format!("size={},mode=0755,uid={},gid={}", tmpfs.size, m.uid, m.gid);
            let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
            if !tmpfs.options.contains(MountOption::Exec) {
                flags |= MsFlags::MS_NOEXEC;
            }
            ops.push(new("tmpfs", flags, Some(data))?);
        }
        Mount::Persist(persist) => {
            let source = input.persist.ok_or(PlanError::NoPersistDir)?;
            ops.push(MountOp::Bind {
                dir: path_cstring(source)?,
                path: c".".into(),
                same_mount: false,
                target: t,
                attributes: ATTR_NOSUID | ATTR_NODEV | exec_or_not(&persist.options),
                recursive: false,
            });
        }
        Mount::Resource(resource) => {
            let image = input
                .resources
                .get(point)
                .ok_or_else(|| PlanError::ResourceNotResolved(point.to_path_buf()))?;
            ops.push(MountOp::Bind {
                dir: path_cstring(image)?,
                path: relative(resource.dir.as_path())?,
                same_mount: true,
                target: t,
                attributes: ATTR_RDONLY | bind_attributes(&resource.options),
                recursive: false,
            });
        }
        Mount::Bind(b) => {
            let host = b.host.as_path();
            let dir = allowed_dir(&input.config.bind_allow, host)
                .filter(|_| input.config.bind_allowed(host))
                .ok_or_else(|| PlanError::BindNotAllowed(host.to_path_buf()))?;
            let mut attributes = bind_attributes(&b.options);
            if !b.options.contains(MountOption::Rw) {
                attributes |= ATTR_RDONLY;
            }
            ops.push(MountOp::Bind {
                dir: path_cstring(dir)?,
                path: relative(host.strip_prefix(dir).unwrap_or(host))?,
                same_mount: false,
                target: t,
                attributes,
                recursive: b.options.contains(MountOption::Rec),
            });
        }
        Mount::Dev => dev(ops, &t)?,
        Mount::Sockets => {
            let (dir, _) = input.sockets.as_ref().ok_or(PlanError::NoSockets)?;
            ops.push(MountOp::Bind {
                dir: path_cstring(dir)?,
                path: c".".into(),
                same_mount: false,
                target: t,
                attributes: ATTR_NOSUID | ATTR_NODEV | ATTR_NOEXEC,
                recursive: false,
            });
        }
    }
    Ok(())
}

/// The attributes of a bind: always nosuid and nodev, noexec when asked.
fn bind_attributes(options: &MountOptions) -> u64 {
    let mut attributes = ATTR_NOSUID | ATTR_NODEV;
    if options.contains(MountOption::NoExec) {
        attributes |= ATTR_NOEXEC;
    }
    attributes
}

/// A minimal, read-only /dev: a small tmpfs with null, zero, full, random, urandom, tty
/// and the fd links.
fn dev(ops: &mut Vec<MountOp>, target: &CString) -> Result<(), PlanError> {
    ops.push(MountOp::Mount {
        source: c"tmpfs".into(),
        target: target.clone(),
        fstype: c"tmpfs".into(),
        flags: MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        data: Some(c"size=64k,mode=0755".into()),
    });
    for (name, major, minor) in [
        ("null", 1, 3),
        ("zero", 1, 5),
        ("full", 1, 7),
        ("random", 1, 8),
        ("urandom", 1, 9),
        ("tty", 5, 0),
    ] {
        ops.push(MountOp::CharDevice {
            dir: target.clone(),
            name: cstring(name, name.as_bytes())?,
            major,
            minor,
        });
    }
    for (link, to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        ops.push(MountOp::Symlink {
            target: cstring(to, to.as_bytes())?,
            dir: target.clone(),
            name: cstring(link, link.as_bytes())?,
        });
    }
    ops.push(MountOp::Remount {
        target: target.clone(),
        flags: MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_relative_to_their_root() {
        assert_eq!(relative(Path::new("/")).unwrap().as_c_str(), c".");
        assert_eq!(relative(Path::new("/data")).unwrap().as_c_str(), c"data");
        assert_eq!(relative(Path::new("/a/b")).unwrap().as_c_str(), c"a/b");
    }

    #[test]
    fn binds_resolve_in_the_longest_allowed_directory() {
        let allowed = [PathBuf::from("/srv"), PathBuf::from("/srv/shared")];
        let dir = |host: &str| allowed_dir(&allowed, Path::new(host));
        assert_eq!(dir("/srv/shared/x"), Some(Path::new("/srv/shared")));
        assert_eq!(dir("/srv/shared"), Some(Path::new("/srv/shared")));
        assert_eq!(dir("/srv/sharedx"), Some(Path::new("/srv")));
        assert_eq!(dir("/etc"), None);
    }
}
