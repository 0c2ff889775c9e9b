//! Answers that describe: one container in detail (state, manifest, process, the counters
//! of its cgroup) and the repositories. Reading the cgroup's files is quick (a few small
//! files in cgroupfs), so it runs on the loop.

use super::{
    api::{Inspection, ProcessInfo, RequestError, Response},
    requests::info,
    state::State,
};
use crate::{
    cgroups::{ContainerGroup, Controller, Stats, Version},
    id::ContainerId,
};
use northstar_api::{
    CgroupStats, CpuStats, MemoryEvents, MemoryStats, PidsStats, RepositoryInfo, RepositoryName,
};
use std::path::Path;

/// `inspect`.
pub(crate) fn inspect(state: &State, id: &ContainerId) -> Result<Response, RequestError> {
    let (repository, package) = state
        .registry
        .iter()
        .find(|(_, p)| p.id() == *id)
        .ok_or_else(|| RequestError::NotFound(id.clone()))?;
    let info = info(state, repository, package);
    let manifest = package.manifest().clone();
    let container = state.containers.get(id);
    let process = container.and_then(|c| {
        let p = c.process.as_ref()?;
        Some(ProcessInfo {
            pid: p.pid,
            uptime: p.started.elapsed(),
            args: c.args.clone().unwrap_or_else(|| manifest.args.clone()),
            overridden: c.args.is_some() || c.env.is_some(),
        })
    });
    let cgroup = container
        .and_then(|c| c.process.as_ref())
        .and_then(|p| p.cgroup.as_ref())
        .map(|group| cgroup_stats(id, group));
    Ok(Response::Inspect(Box::new(Inspection {
        info,
        manifest,
        process,
        cgroup,
        selinux: container.and_then(|c| c.selinux.clone()),
    })))
}

/// The counters of a container's group; a part whose files cannot be read is left out,
/// and so is a counter the group's cgroup version does not have.
fn cgroup_stats(id: &ContainerId, group: &ContainerGroup) -> CgroupStats {
    let stats = match group.stats() {
        Ok(stats) => stats,
        Err(e) => {
            log::warn!("{id}: read the cgroup's counters: {e}");
            Stats::default()
        }
    };
    let v2 = group.version == Version::V2;
    // memory.events (low, high, max) exists only on v2.
    let events = group
        .dir(Controller::Memory)
        .filter(|_| v2)
        .map(|d| d.join("memory.events"));
    let event = |k: &str| events.as_deref().and_then(|p| read_key(p, k));
    let memory = stats.memory_current.map(|current| MemoryStats {
        current,
        peak: stats.memory_peak,
        limit: stats.memory_limit,
        events: MemoryEvents {
            low: event("low"),
            high: event("high"),
            max: event("max"),
            oom: stats.oom_events,
            oom_kill: stats.oom_kills,
        },
    });
    let cpu = stats.cpu_usage_ns.map(|ns| {
        let (user_usec, system_usec) = if v2 {
            let stat = group.dir(Controller::Cpu).map(|d| d.join("cpu.stat"));
            let key = |k: &str| stat.as_deref().and_then(|p| read_key(p, k));
            (key("user_usec"), key("system_usec"))
        } else {
            v1_user_system(group)
        };
        let (nr_throttled, throttled_usec) = throttling(group, v2);
        CpuStats {
            usage_usec: ns / 1000,
            user_usec: user_usec.unwrap_or(0),
            system_usec: system_usec.unwrap_or(0),
            nr_throttled,
            throttled_usec,
        }
    });
    let pids = stats.pids_current.map(|current| PidsStats {
        current,
        limit: group
            .dir(Controller::Pids)
            .and_then(|d| std::fs::read_to_string(d.join("pids.max")).ok())
            .and_then(|text| text.trim().parse().ok()),
    });
    CgroupStats { memory, cpu, pids }
}

/// User and system time on v1: `cpuacct.stat`, in clock ticks (USER_HZ).
fn v1_user_system(group: &ContainerGroup) -> (Option<u64>, Option<u64>) {
    let stat = group
        .dir(Controller::Cpuacct)
        .map(|d| d.join("cpuacct.stat"));
    let ticks_per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|t| u64::try_from(t).ok())
        .filter(|t| *t > 0);
    let usec = |k: &str| {
        let ticks = stat.as_deref().and_then(|p| read_key(p, k))?;
        ticks
            .saturating_mul(1_000_000)
            .checked_div(ticks_per_second?)
    };
    (usec("user"), usec("system"))
}

/// Throttling: `nr_throttled` and `throttled_usec` of `cpu.stat` on v2, `nr_throttled`
/// and `throttled_time` (nanoseconds) of the cpu controller's `cpu.stat` on v1 (a v1
/// group is in the cpu controller only with a CPU setting). Absent without the files.
fn throttling(group: &ContainerGroup, v2: bool) -> (Option<u64>, Option<u64>) {
    let stat = group.dir(Controller::Cpu).map(|d| d.join("cpu.stat"));
    let key = |k: &str| stat.as_deref().and_then(|p| read_key(p, k));
    if v2 {
        (key("nr_throttled"), key("throttled_usec"))
    } else {
        (
            key("nr_throttled"),
            key("throttled_time").map(|ns| ns / 1000),
        )
    }
}

/// The value of `key` in a flat-keyed cgroup file (`key value` lines).
fn read_key(path: &Path, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .filter_map(|line| line.split_once(' '))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.trim().parse().ok())
}

/// `repositories`, ordered by name.
pub(crate) fn repositories(state: &State) -> Vec<RepositoryInfo> {
    let mut all: Vec<RepositoryInfo> = state
        .registry
        .repositories()
        .filter_map(|r| {
            let name = RepositoryName::new(r.name()).ok()?;
            Some(RepositoryInfo {
                name,
                verified: r.key().is_some(),
                packages: u32::try_from(r.len()).unwrap_or(u32::MAX),
                bytes: r.used_bytes(),
                max_packages: r.config().max_packages,
                max_bytes: r.config().max_bytes,
            })
        })
        .collect();
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all
}
