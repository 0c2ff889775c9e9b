//! The plan of a container process: every path, flag, id and string the code between
//! clone and exec needs, built in the runtime before the clone so that the child
//! allocates nothing.
//!
//! This module decides *what* the sandbox is (mount list, credentials, limits); the child
//! module only executes the plan. Building a plan touches no system state except reading
//! the host's group database.

use super::{
    error::PlanError,
    mounts::{mount_ops, MountOp},
};
use crate::config::Config;
use northstar_sys::child::Exec;
use npk::manifest::{self, Manifest, Policy};
use std::{
    collections::BTreeMap,
    ffi::CString,
    os::{fd::OwnedFd, unix::ffi::OsStrExt},
    path::{Path, PathBuf},
};

/// The network namespace of the container.
#[derive(Debug)]
pub(crate) enum Net {
    /// The runtime's own.
    Host,
    /// A new one with only `lo`, up.
    New,
    /// Join the namespace of this nsfs fd.
    Join(OwnedFd),
}

/// Scheduling of the container's init.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Sched {
    /// `SCHED_OTHER`/`SCHED_BATCH` with a nice value, or `SCHED_IDLE`.
    Nice { policy: i32, nice: i32 },
    /// `SCHED_FIFO`/`SCHED_RR` with a priority.
    RealTime { policy: i32, priority: i32 },
}

/// Everything the child does, in order.
#[derive(Debug)]
pub(crate) struct Plan {
    pub hostname: CString,
    /// The container's root (the mounted image) before `pivot_root`.
    pub root: CString,
    pub mounts: Vec<MountOp>,
    pub net: Net,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    /// Capabilities kept, as a bit mask.
    pub caps: u64,
    pub last_cap: u32,
    pub rlimits: Vec<(nix::sys::resource::Resource, libc::rlim_t, libc::rlim_t)>,
    pub sched: Option<Sched>,
    pub seccomp: Option<crate::seccomp::Filter>,
    pub exec: Exec,
    /// The SELinux context for the program's execve, where SELinux is enabled (set by
    /// the start after the plan is built; see `container::selinux`).
    pub selinux: Option<CString>,
}

/// The environment variable that names the fd of a container's console connection.
pub const CONSOLE_ENV: &str = "NORTHSTAR_CONSOLE";
/// The environment variable that names the notify socket (sd_notify's).
pub const NOTIFY_ENV: &str = "NOTIFY_SOCKET";
/// The environment variable that holds the watchdog interval in µs (sd_notify's).
pub const WATCHDOG_ENV: &str = "WATCHDOG_USEC";

/// What a plan is built from.
pub(crate) struct Input<'a> {
    pub manifest: &'a Manifest,
    /// Where the container's image is mounted.
    pub root: &'a Path,
    /// The mount point of each resource mount's image, by container mount point.
    pub resources: &'a BTreeMap<PathBuf, PathBuf>,
    /// The container's persistent directory (created by the caller), if it has one.
    pub persist: Option<&'a Path>,
    pub config: &'a Config,
    /// Contents of the host's `/etc/group`, for supplementary groups by name.
    pub group_file: &'a str,
    pub last_cap: u32,
    pub net: Net,
    /// The directory of the container's sockets and their names, in fd order.
    pub sockets: Option<(&'a Path, Vec<&'a str>)>,
    /// The fd number of the container's console connection, if it has one.
    pub console: Option<usize>,
    /// Arguments replacing the manifest's, if given.
    pub args: Option<&'a [String]>,
    /// Environment added to the manifest's, if given.
    pub env: Option<&'a BTreeMap<String, String>>,
}

pub(super) fn cstring(what: &str, bytes: &[u8]) -> Result<CString, PlanError> {
    CString::new(bytes).map_err(|_| PlanError::Nul(what.to_string()))
}

pub(super) fn path_cstring(path: &Path) -> Result<CString, PlanError> {
    cstring(&path.display().to_string(), path.as_os_str().as_bytes())
}

/// Build the plan of a container process.
pub(crate) fn build(input: Input<'_>) -> Result<Plan, PlanError> {
    let m = input.manifest;
    let init = m.init.as_ref().ok_or(PlanError::ResourceContainer)?;
    let mut mounts = Vec::new();
    for (point, mount) in &m.mounts {
        mount_ops(&input, point.as_path(), mount, &mut mounts)?;
    }
    let mut args = Vec::new();
    for arg in input.args.unwrap_or(&m.args) {
        args.push(cstring("an argument", arg.as_bytes())?);
    }
    let mut env: BTreeMap<&str, &str> = m
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if let Some(extra) = input.env {
        env.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    }
    let version = m.version.to_string();
    let id = format!("{}:{}", m.name, m.version);
    env.insert("NORTHSTAR_NAME", m.name.as_str());
    env.insert("NORTHSTAR_VERSION", &version);
    env.insert("NORTHSTAR_CONTAINER", &id);
    let socket_vars: Vec<(String, String)> = input
        .sockets
        .iter()
        .flat_map(|(_, names)| names.iter().enumerate())
        .map(|(i, name)| {
            (
                format!("NORTHSTAR_SOCKET_{name}"),
                i.saturating_add(3).to_string(),
            )
        })
        .collect();
    env.extend(socket_vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let console = input.console.map(|fd| fd.to_string());
    if let Some(fd) = &console {
        env.insert(CONSOLE_ENV, fd);
    }
    let (notify, watchdog) = notify_env(&input);
    if let Some(path) = &notify {
        env.insert(NOTIFY_ENV, path);
    }
    if let Some(usec) = &watchdog {
        env.insert(WATCHDOG_ENV, usec);
    }
    let mut envp = Vec::new();
    for (key, value) in env {
        envp.push(cstring(
            "an environment variable",
            format!("{key}={value}").as_bytes(),
        )?);
    }
    let seccomp = match &m.seccomp {
        Some(seccomp) => crate::seccomp::compile(seccomp)?,
        None => crate::seccomp::default_filter()?,
    };
    Ok(Plan {
        hostname: cstring("the name", m.name.as_str().as_bytes())?,
        root: path_cstring(input.root)?,
        mounts,
        net: input.net,
        uid: m.uid,
        gid: m.gid,
        groups: groups(m, input.group_file)?,
        caps: m
            .capabilities
            .iter()
            .fold(0u64, |mask, cap| match cap.number() {
                n @ 0..=63 => mask | 1 << n,
                _ => mask,
            }),
        last_cap: input.last_cap,
        rlimits: rlimits(m),
        sched: sched(m)?,
        seccomp: Some(seccomp),
        exec: Exec::new(path_cstring(init)?, args, envp),
        selinux: None,
    })
}

/// `NOTIFY_SOCKET` (the notify socket in the container's `sockets` mount, where the
/// runtime created the directory) and `WATCHDOG_USEC` (the manifest's `watchdog`).
fn notify_env(input: &Input<'_>) -> (Option<String>, Option<String>) {
    let point = input.sockets.as_ref().and_then(|_| {
        input
            .manifest
            .mounts
            .iter()
            .find(|(_, m)| matches!(m, manifest::Mount::Sockets))
            .map(|(point, _)| point.as_path().join(super::sockets::NOTIFY_NAME))
    });
    let Some(point) = point else {
        return (None, None);
    };
    let watchdog = input
        .manifest
        .watchdog
        .as_ref()
        .map(|w| w.interval_ms.saturating_mul(1000).to_string());
    (Some(point.display().to_string()), watchdog)
}

/// Supplementary groups by name, from the host's group database (`/etc/group` format).
fn groups(m: &Manifest, group_file: &str) -> Result<Vec<u32>, PlanError> {
    m.suppl_groups
        .iter()
        .map(|name| {
            group_file
                .lines()
                .filter_map(|line| {
                    let mut fields = line.split(':');
                    let group = fields.next()?;
                    let gid = fields.nth(1)?.parse::<u32>().ok()?;
                    (group == name).then_some(gid)
                })
                .next()
                .ok_or_else(|| PlanError::UnknownGroup(name.clone()))
        })
        .collect()
}

fn rlimits(m: &Manifest) -> Vec<(nix::sys::resource::Resource, libc::rlim_t, libc::rlim_t)> {
    use manifest::RlimitResource as R;
    use nix::sys::resource::Resource;
    let infinity = nix::sys::resource::RLIM_INFINITY;
    // Values beyond what rlim_t holds (32-bit targets) mean unlimited.
    let limit =
        |v: Option<u64>| v.map_or(infinity, |v| libc::rlim_t::try_from(v).unwrap_or(infinity));
    m.rlimits
        .iter()
        .map(|(resource, value)| {
            let resource = match resource {
                R::As => Resource::RLIMIT_AS,
                R::Core => Resource::RLIMIT_CORE,
                R::Cpu => Resource::RLIMIT_CPU,
                R::Data => Resource::RLIMIT_DATA,
                R::Fsize => Resource::RLIMIT_FSIZE,
                R::Locks => Resource::RLIMIT_LOCKS,
                R::Memlock => Resource::RLIMIT_MEMLOCK,
                R::Msgqueue => Resource::RLIMIT_MSGQUEUE,
                R::Nice => Resource::RLIMIT_NICE,
                R::Nofile => Resource::RLIMIT_NOFILE,
                R::Nproc => Resource::RLIMIT_NPROC,
                R::Rss => Resource::RLIMIT_RSS,
                R::Rtprio => Resource::RLIMIT_RTPRIO,
                R::Rttime => Resource::RLIMIT_RTTIME,
                R::Sigpending => Resource::RLIMIT_SIGPENDING,
                R::Stack => Resource::RLIMIT_STACK,
            };
            let hard = limit(value.hard);
            let soft = value.soft.map_or(hard, |_| limit(value.soft));
            (resource, soft, hard)
        })
        .collect()
}

fn sched(m: &Manifest) -> Result<Option<Sched>, PlanError> {
    let Some(policy) = m.sched.as_ref().and_then(|s| s.policy.as_ref()) else {
        return Ok(None);
    };
    Ok(Some(match policy {
        Policy::Other { nice } => Sched::Nice {
            policy: libc::SCHED_OTHER,
            nice: i32::from(*nice),
        },
        Policy::Batch { nice } => Sched::Nice {
            policy: libc::SCHED_BATCH,
            nice: i32::from(*nice),
        },
        Policy::Idle => Sched::Nice {
            policy: libc::SCHED_IDLE,
            nice: 0,
        },
        Policy::Fifo { priority } => Sched::RealTime {
            policy: libc::SCHED_FIFO,
            priority: *priority as i32,
        },
        Policy::RoundRobin { priority } => Sched::RealTime {
            policy: libc::SCHED_RR,
            priority: *priority as i32,
        },
        Policy::Deadline => return Err(PlanError::Unsupported("the deadline scheduling policy")),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_name() {
        let file = "root:x:0:\naudio:x:29:pulse\nvideo:x:44:\n";
        let m = Manifest::from_yaml_str(
            "name: a\nversion: 1.0.0\ninit: /a\nuid: 1\ngid: 1\nsuppl_groups: [video, audio]\n",
        )
        .unwrap();
        let mut gids = groups(&m, file).unwrap();
        gids.sort();
        assert_eq!(gids, [29, 44]);
        let m = Manifest::from_yaml_str(
            "name: a\nversion: 1.0.0\ninit: /a\nuid: 1\ngid: 1\nsuppl_groups: [nope]\n",
        )
        .unwrap();
        assert!(matches!(groups(&m, file), Err(PlanError::UnknownGroup(g)) if g == "nope"));
    }
}
