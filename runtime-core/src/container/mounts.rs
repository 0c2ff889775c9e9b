//! The mount steps of a container's plan: what each manifest mount becomes (filesystem,
//! bind, remount flags, device nodes), as data the child executes after the clone.

use super::{
    error::PlanError,
    plan::{below, cstring, path_cstring, Input},
};
use nix::mount::MsFlags;
use npk::manifest::{Mount, MountOption, MountOptions};
use std::{ffi::CString, path::Path};

/// One step of setting up the container's mount namespace. Targets are absolute paths
/// below the container's root as seen before `pivot_root`.
#[derive(Debug)]
pub(crate) enum MountOp {
    /// A new filesystem.
    Mount {
        source: CString,
        target: CString,
        fstype: CString,
        flags: MsFlags,
        data: Option<CString>,
    },
    /// A bind mount (recursive with `MS_REC`).
    Bind {
        source: CString,
        target: CString,
        recursive: bool,
    },
    /// Remount a bind mount with `flags` (read-only, nosuid, ...).
    Remount { target: CString, flags: MsFlags },
    /// A character device node, mode 0666.
    CharDevice {
        path: CString,
        major: u32,
        minor: u32,
    },
    /// A symbolic link `link` → `target`.
    Symlink { target: CString, link: CString },
}

impl MountOp {
    /// The path this step works on, for error messages.
    pub(crate) fn target(&self) -> String {
        let path = match self {
            MountOp::Mount { target, .. }
            | MountOp::Bind { target, .. }
            | MountOp::Remount { target, .. } => target,
            MountOp::CharDevice { path, .. } => path,
            MountOp::Symlink { link, .. } => link,
        };
        path.to_string_lossy().into_owned()
    }
}

pub(super) fn mount_ops(
    input: &Input<'_>,
    point: &Path,
    mount: &Mount,
    ops: &mut Vec<MountOp>,
) -> Result<(), PlanError> {
    let target = below(input.root, point);
    let t = path_cstring(&target)?;
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
    match mount {
        Mount::Proc => ops.push(new("proc", ro_noexec | MsFlags::MS_NOEXEC, None)?),
        Mount::Sysfs => ops.push(new("sysfs", ro_noexec | MsFlags::MS_NOEXEC, None)?),
        Mount::Tmpfs(tmpfs) => {
            let m = input.manifest;
            let data = format!("size={},mode=0755,uid={},gid={}", tmpfs.size, m.uid, m.gid);
            ops.push(new(
                "tmpfs",
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
                Some(data),
            )?);
        }
        Mount::Persist => {
            let source = input.persist.ok_or(PlanError::NoPersistDir)?;
            bind(ops, source, &t, &MountOptions::default(), true)?;
        }
        Mount::Resource(resource) => {
            let image = input
                .resources
                .get(point)
                .ok_or_else(|| PlanError::ResourceNotResolved(point.to_path_buf()))?;
            let source = below(image, resource.dir.as_path());
            bind(ops, &source, &t, &resource.options, false)?;
        }
        Mount::Bind(b) => {
            let host = b.host.as_path();
            if !input.config.bind_allowed(host) {
                return Err(PlanError::BindNotAllowed(host.to_path_buf()));
            }
            bind(
                ops,
                host,
                &t,
                &b.options,
                b.options.0.contains(&MountOption::Rw),
            )?;
        }
        Mount::Dev => dev(ops, &target)?,
        Mount::Sockets => {
            let (dir, _) = input.sockets.as_ref().ok_or(PlanError::NoSockets)?;
            let options = MountOptions([MountOption::NoExec].into_iter().collect());
            bind(ops, dir, &t, &options, true)?;
        }
    }
    Ok(())
}

/// A bind mount, then a remount with the flags: read-only unless `rw`, always nosuid and
/// nodev, noexec when asked.
fn bind(
    ops: &mut Vec<MountOp>,
    source: &Path,
    target: &CString,
    options: &MountOptions,
    rw: bool,
) -> Result<(), PlanError> {
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_NOSUID;
    flags |= MsFlags::MS_NODEV;
    if !rw {
        flags |= MsFlags::MS_RDONLY;
    }
    if options.0.contains(&MountOption::NoExec) {
        flags |= MsFlags::MS_NOEXEC;
    }
    ops.push(MountOp::Bind {
        source: path_cstring(source)?,
        target: target.clone(),
        recursive: options.0.contains(&MountOption::Rec),
    });
    ops.push(MountOp::Remount {
        target: target.clone(),
        flags,
    });
    Ok(())
}

/// A minimal, read-only /dev: a small tmpfs with null, zero, full, random, urandom, tty
/// and the fd links.
fn dev(ops: &mut Vec<MountOp>, target: &Path) -> Result<(), PlanError> {
    let t = path_cstring(target)?;
    ops.push(MountOp::Mount {
        source: c"tmpfs".into(),
        target: t.clone(),
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
            path: path_cstring(&target.join(name))?,
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
            link: path_cstring(&target.join(link))?,
        });
    }
    ops.push(MountOp::Remount {
        target: t,
        flags: MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
    });
    Ok(())
}
