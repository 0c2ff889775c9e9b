//! The translation of a manifest's `cgroups` (Northstar 0.9's v1-style names) into the
//! control files to write on cgroup v1 or v2, in the order the kernel needs them. Pure: no
//! file system access, so every mapping is unit-tested here. Writing the files, and
//! checking that the controllers exist, is the group code's job.
//!
//! A setting without an equivalent on the running version is an error naming the field
//! (no silent downgrade of a limit). Three fields are not limits of the container as a
//! whole, or are already covered on v2, and are skipped there with a warning instead:
//! `swappiness` (v2 has no per-group swappiness), `kernel_memory_limit` and
//! `kernel_tcp_memory_limit` (v2 charges kernel and TCP memory to `memory.max`).

use super::{Controller, Error, Version};
use npk::manifest::{BlkIo, CGroups, Cpu, Memory};
use std::collections::BTreeMap;

/// One control file write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Setting {
    /// The controller whose group directory holds `file` (on v1: which mount).
    pub controller: Controller,
    pub file: String,
    pub value: String,
    /// Written instead when `file` does not exist (`blkio.weight` → `blkio.bfq.weight`).
    pub fallback: Option<(String, String)>,
    /// The manifest field, for errors (`cgroups.memory.memory_hard_limit`).
    pub field: String,
}

/// Everything to write for one container, and what was skipped (with the reason).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Plan {
    pub settings: Vec<Setting>,
    pub skipped: Vec<(String, &'static str)>,
}

impl Plan {
    fn set(&mut self, controller: Controller, file: &str, value: impl ToString, field: &str) {
        self.settings.push(Setting {
            controller,
            file: file.to_string(),
            value: value.to_string(),
            fallback: None,
            field: format!("cgroups.{field}"),
        });
    }

    /// Like [`Plan::set`], with a file to write when `file` does not exist.
    fn set_or(
        &mut self,
        controller: Controller,
        primary: (&str, String),
        fallback: (&str, String),
        field: &str,
    ) {
        self.set(controller, primary.0, primary.1, field);
        if let Some(last) = self.settings.last_mut() {
            last.fallback = Some((fallback.0.to_string(), fallback.1));
        }
    }
}

fn unsupported(version: Version, field: &str, reason: &str) -> Error {
    Error::Setting {
        field: format!("cgroups.{field}"),
        reason: format!("not supported on {version}: {reason}"),
    }
}

/// The files to write for `limits` on `version`.
pub(crate) fn plan(version: Version, limits: &CGroups) -> Result<Plan, Error> {
    let mut plan = Plan::default();
    if let Some(memory) = &limits.memory {
        self::memory(&mut plan, version, memory)?;
        attrs(&mut plan, version, "memory", &memory.attrs)?;
    }
    if let Some(cpu) = &limits.cpu {
        self::cpu(&mut plan, version, cpu)?;
        attrs(&mut plan, version, "cpu", &cpu.attrs)?;
    }
    if let Some(blkio) = &limits.blkio {
        self::blkio(&mut plan, version, blkio)?;
        attrs(&mut plan, version, "blkio", &blkio.attrs)?;
    }
    if let Some(pids) = &limits.pids {
        plan.set(Controller::Pids, "pids.max", pids.max, "pids.max");
    }
    Ok(plan)
}

/// `-1` (unlimited) as v2 writes it.
fn v2_limit(value: i64) -> String {
    if value < 0 {
        "max".to_string()
    } else {
        value.to_string()
    }
}

fn memory(plan: &mut Plan, version: Version, m: &Memory) -> Result<(), Error> {
    const C: Controller = Controller::Memory;
    match version {
        Version::V1 => {
            // The hard limit before memory+swap: the kernel refuses memsw below the limit.
            let files = [
                (
                    "memory_hard_limit",
                    "memory.limit_in_bytes",
                    m.memory_hard_limit,
                ),
                (
                    "memory_swap_limit",
                    "memory.memsw.limit_in_bytes",
                    m.memory_swap_limit,
                ),
                (
                    "memory_soft_limit",
                    "memory.soft_limit_in_bytes",
                    m.memory_soft_limit,
                ),
                (
                    "kernel_memory_limit",
                    "memory.kmem.limit_in_bytes",
                    m.kernel_memory_limit,
                ),
                (
                    "kernel_tcp_memory_limit",
                    "memory.kmem.tcp.limit_in_bytes",
                    m.kernel_tcp_memory_limit,
                ),
            ];
            for (field, file, value) in files {
                if let Some(value) = value {
                    plan.set(C, file, value, &format!("memory.{field}"));
                }
            }
            if let Some(swappiness) = m.swappiness {
                plan.set(C, "memory.swappiness", swappiness, "memory.swappiness");
            }
        }
        Version::V2 => {
            if let Some(hard) = m.memory_hard_limit {
                plan.set(C, "memory.max", v2_limit(hard), "memory.memory_hard_limit");
            }
            if let Some(swap) = m.memory_swap_limit {
                plan.set(
                    C,
                    "memory.swap.max",
                    v2_swap(m.memory_hard_limit, swap)?,
                    "memory.memory_swap_limit",
                );
            }
            if let Some(soft) = m.memory_soft_limit {
                plan.set(C, "memory.high", v2_limit(soft), "memory.memory_soft_limit");
            }
            let skipped = [
                (
                    "swappiness",
                    m.swappiness.is_some(),
                    "cgroup v2 has no per-group swappiness",
                ),
                (
                    "kernel_memory_limit",
                    m.kernel_memory_limit.is_some(),
                    "cgroup v2 charges kernel memory to memory.max",
                ),
                (
                    "kernel_tcp_memory_limit",
                    m.kernel_tcp_memory_limit.is_some(),
                    "cgroup v2 charges socket memory to memory.max",
                ),
            ];
            for (field, set, reason) in skipped {
                if set {
                    plan.skipped
                        .push((format!("cgroups.memory.{field}"), reason));
                }
            }
        }
    }
    Ok(())
}

/// v1's memory+swap limit as v2's swap-only `memory.swap.max`.
fn v2_swap(hard: Option<i64>, memsw: i64) -> Result<String, Error> {
    let field = "cgroups.memory.memory_swap_limit".to_string();
    if memsw < 0 {
        return Ok("max".to_string());
    }
    match hard {
        // Both are non-negative here, so the difference cannot overflow.
        Some(hard) if hard >= 0 => match memsw.checked_sub(hard).filter(|swap| *swap >= 0) {
            Some(swap) => Ok(swap.to_string()),
            None => Err(Error::Setting {
                field,
                reason: format!("{memsw} is below memory_hard_limit {hard}"),
            }),
        },
        _ => Err(Error::Setting {
            field,
            reason: "needs a memory_hard_limit on cgroup v2 (memory.swap.max counts swap alone)"
                .to_string(),
        }),
    }
}

/// v1 `cpu.shares` (2..=262144, default 1024) as v2 `cpu.weight` (1..=10000, default
/// 100): the linear map of one range onto the other.
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    // Clamped, so neither the difference nor the product can saturate.
    let shares = shares.clamp(2, 262_144);
    (shares.saturating_sub(2).saturating_mul(9999) / 262_142).saturating_add(1)
}

/// v1 blkio weight (10..=1000) as v2 `io.weight` (1..=10000): the linear map.
pub(crate) fn blkio_to_io_weight(weight: u16) -> u64 {
    let weight = u64::from(weight.clamp(10, 1000));
    (weight.saturating_sub(10).saturating_mul(9999) / 990).saturating_add(1)
}

fn cpu(plan: &mut Plan, version: Version, cpu: &Cpu) -> Result<(), Error> {
    match version {
        Version::V1 => {
            const C: Controller = Controller::Cpu;
            if let Some(shares) = cpu.shares {
                plan.set(C, "cpu.shares", shares, "cpu.shares");
            }
            // Periods first: the kernel checks each quota or runtime against its period.
            if let Some(period) = cpu.period {
                plan.set(C, "cpu.cfs_period_us", period, "cpu.period");
            }
            if let Some(quota) = cpu.quota {
                plan.set(C, "cpu.cfs_quota_us", quota, "cpu.quota");
            }
            if let Some(period) = cpu.realtime_period {
                plan.set(C, "cpu.rt_period_us", period, "cpu.realtime_period");
            }
            if let Some(runtime) = cpu.realtime_runtime {
                plan.set(C, "cpu.rt_runtime_us", runtime, "cpu.realtime_runtime");
            }
        }
        Version::V2 => {
            const C: Controller = Controller::Cpu;
            if let Some(shares) = cpu.shares {
                plan.set(C, "cpu.weight", shares_to_weight(shares), "cpu.shares");
            }
            let max = match (cpu.quota, cpu.period) {
                (None, None) => None,
                (quota, None) => Some(v2_limit(quota.unwrap_or(-1))),
                (quota, Some(period)) => {
                    Some(format!("{} {period}", v2_limit(quota.unwrap_or(-1))))
                }
            };
            if let Some(max) = max {
                let field = if cpu.quota.is_some() {
                    "cpu.quota"
                } else {
                    "cpu.period"
                };
                plan.set(C, "cpu.max", max, field);
            }
            if cpu.realtime_runtime.is_some() {
                return Err(unsupported(
                    version,
                    "cpu.realtime_runtime",
                    "no real-time group scheduling",
                ));
            }
            if cpu.realtime_period.is_some() {
                return Err(unsupported(
                    version,
                    "cpu.realtime_period",
                    "no real-time group scheduling",
                ));
            }
        }
    }
    if let Some(cpus) = &cpu.cpus {
        plan.set(Controller::Cpuset, "cpuset.cpus", cpus, "cpu.cpus");
    }
    if let Some(mems) = &cpu.mems {
        plan.set(Controller::Cpuset, "cpuset.mems", mems, "cpu.mems");
    }
    Ok(())
}

fn blkio(plan: &mut Plan, version: Version, b: &BlkIo) -> Result<(), Error> {
    const C: Controller = Controller::Blkio;
    let dev = |major: u64, minor: u64| format!("{major}:{minor}");
    match version {
        Version::V1 => {
            if let Some(w) = b.weight {
                plan.set_or(
                    C,
                    ("blkio.weight", w.to_string()),
                    ("blkio.bfq.weight", w.to_string()),
                    "blkio.weight",
                );
            }
            if let Some(w) = b.leaf_weight {
                plan.set(C, "blkio.leaf_weight", w, "blkio.leaf_weight");
            }
            for d in &b.weight_device {
                if let Some(w) = d.weight {
                    let value = format!("{} {w}", dev(d.major, d.minor));
                    let field = "blkio.weight_device";
                    plan.set_or(
                        C,
                        ("blkio.weight_device", value.clone()),
                        ("blkio.bfq.weight_device", value),
                        field,
                    );
                }
                if let Some(w) = d.leaf_weight {
                    let value = format!("{} {w}", dev(d.major, d.minor));
                    plan.set(C, "blkio.leaf_weight_device", value, "blkio.weight_device");
                }
            }
            let throttles = [
                ("throttle_read_bps_device", &b.throttle_read_bps_device),
                ("throttle_read_iops_device", &b.throttle_read_iops_device),
                ("throttle_write_bps_device", &b.throttle_write_bps_device),
                ("throttle_write_iops_device", &b.throttle_write_iops_device),
            ];
            for (name, list) in throttles {
                for t in list {
                    let file = format!("blkio.{}", name.replacen('_', ".", 1));
                    let value = format!("{} {}", dev(t.major, t.minor), t.rate);
                    plan.set(C, &file, value, &format!("blkio.{name}"));
                }
            }
        }
        Version::V2 => {
            let leaf =
                b.leaf_weight.is_some() || b.weight_device.iter().any(|d| d.leaf_weight.is_some());
            if leaf {
                return Err(unsupported(
                    version,
                    "blkio.leaf_weight",
                    "cgroup v2 has no leaf weights",
                ));
            }
            if let Some(w) = b.weight {
                let io = format!("default {}", blkio_to_io_weight(w));
                plan.set_or(
                    C,
                    ("io.weight", io),
                    ("io.bfq.weight", format!("default {w}")),
                    "blkio.weight",
                );
            }
            for d in &b.weight_device {
                if let Some(w) = d.weight {
                    let io = format!("{} {}", dev(d.major, d.minor), blkio_to_io_weight(w));
                    let bfq = format!("{} {w}", dev(d.major, d.minor));
                    plan.set_or(
                        C,
                        ("io.weight", io),
                        ("io.bfq.weight", bfq),
                        "blkio.weight_device",
                    );
                }
            }
            let throttles = [
                (
                    "throttle_read_bps_device",
                    "rbps",
                    &b.throttle_read_bps_device,
                ),
                (
                    "throttle_read_iops_device",
                    "riops",
                    &b.throttle_read_iops_device,
                ),
                (
                    "throttle_write_bps_device",
                    "wbps",
                    &b.throttle_write_bps_device,
                ),
                (
                    "throttle_write_iops_device",
                    "wiops",
                    &b.throttle_write_iops_device,
                ),
            ];
            for (name, key, list) in throttles {
                for t in list {
                    let value = format!("{} {key}={}", dev(t.major, t.minor), t.rate);
                    plan.set(C, "io.max", value, &format!("blkio.{name}"));
                }
            }
        }
    }
    Ok(())
}

/// A section's `attrs`: each name must belong to a controller of that section
/// (`memory.*`; `cpu.*`, `cpuacct.*`, `cpuset.*`; `blkio.*`, `io.*`). Core files
/// (`cgroup.procs`, `cgroup.subtree_control`, `tasks`, ...) are refused: writing them could
/// move other processes, the runtime itself included, into the container's group.
fn attrs(
    plan: &mut Plan,
    version: Version,
    section: &str,
    attrs: &BTreeMap<String, String>,
) -> Result<(), Error> {
    for (name, value) in attrs {
        let field = format!("{section}.attrs.{name}");
        let prefix = name.split_once('.').map(|(p, _)| p).unwrap_or_default();
        let controller = match (section, prefix) {
            ("memory", "memory") => Controller::Memory,
            ("cpu", "cpu") => Controller::Cpu,
            ("cpu", "cpuacct") => Controller::Cpuacct,
            ("cpu", "cpuset") => Controller::Cpuset,
            ("blkio", "blkio" | "io") => Controller::Blkio,
            _ => {
                return Err(Error::Setting {
                    field: format!("cgroups.{field}"),
                    reason: format!("not a file of the {section} controller"),
                })
            }
        };
        if version == Version::V2 && controller == Controller::Cpuacct {
            return Err(unsupported(version, &field, "no cpuacct controller"));
        }
        plan.set(controller, name, value, &field);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
