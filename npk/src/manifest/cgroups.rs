//! `cgroups`: resource limits of the container's control group. The shape is Northstar
//! 0.9's (cgroup v1 names; the runtime maps them to cgroup v2 where it runs on v2).

use super::{
    validate::{fail, Check},
    Manifest,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeMap,
    path::{Component, PathBuf},
};

/// Control group settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CGroups {
    /// Parent group, relative to the runtime's group (default: the runtime's group).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<PathBuf>,
    /// Block I/O controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blkio: Option<BlkIo>,
    /// CPU and cpuset controllers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<Cpu>,
    /// Memory controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<Memory>,
    /// Process number controller (not in Northstar 0.9: optional, so its manifests parse).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<Pids>,
}

/// Process number controller (`pids.max`): a fork beyond `max` processes fails.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pids {
    /// Most processes (and threads) of the container at once, at least 1.
    pub max: u64,
}

/// Memory controller. Limits in bytes; -1 = unlimited.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Memory {
    /// Report OOM events of the container.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub oom_monitor: bool,
    /// Kernel memory limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_memory_limit: Option<i64>,
    /// Hard limit (`memory.limit_in_bytes` / `memory.max`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_hard_limit: Option<i64>,
    /// Soft limit (`memory.soft_limit_in_bytes` / `memory.high`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_soft_limit: Option<i64>,
    /// Kernel TCP buffer limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_tcp_memory_limit: Option<i64>,
    /// Memory plus swap limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_swap_limit: Option<i64>,
    /// Swappiness 0..=100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swappiness: Option<u64>,
    /// Further controller files to write (`name: value`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, String>,
}

/// CPU and cpuset controllers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Cpu {
    /// CPUs the container may run on, e.g. `0-1,3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<String>,
    /// Memory nodes, same syntax as `cpus`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mems: Option<String>,
    /// Relative CPU weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shares: Option<u64>,
    /// CPU time in microseconds per `period`; -1 = unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<i64>,
    /// Period in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<u64>,
    /// Real-time runtime in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realtime_runtime: Option<i64>,
    /// Real-time period in microseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realtime_period: Option<u64>,
    /// Further controller files to write (`name: value`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, String>,
}

/// Block I/O controller. The device lists are always written (Northstar 0.9 requires them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlkIo {
    /// Weight 10..=1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    /// Leaf weight 10..=1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_weight: Option<u16>,
    /// Per device weights.
    #[serde(default)]
    pub weight_device: Vec<BlkIoDevice>,
    /// Read bytes per second, per device.
    #[serde(default)]
    pub throttle_read_bps_device: Vec<BlkIoThrottle>,
    /// Read operations per second, per device.
    #[serde(default)]
    pub throttle_read_iops_device: Vec<BlkIoThrottle>,
    /// Written bytes per second, per device.
    #[serde(default)]
    pub throttle_write_bps_device: Vec<BlkIoThrottle>,
    /// Write operations per second, per device.
    #[serde(default)]
    pub throttle_write_iops_device: Vec<BlkIoThrottle>,
    /// Further controller files to write (`name: value`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attrs: BTreeMap<String, String>,
}

/// A device weight.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlkIoDevice {
    /// Device major number.
    pub major: u64,
    /// Device minor number.
    pub minor: u64,
    /// Weight 10..=1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    /// Leaf weight 10..=1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_weight: Option<u16>,
}

/// A device throttle.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlkIoThrottle {
    /// Device major number.
    pub major: u64,
    /// Device minor number.
    pub minor: u64,
    /// The rate.
    pub rate: u64,
}

/// Check the `cgroups` rules of `m`.
pub(crate) fn validate(m: &Manifest) -> Check {
    let Some(cgroups) = &m.cgroups else {
        return Ok(());
    };
    if let Some(parent) = &cgroups.parent {
        let normal = parent
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        if !normal || parent.as_os_str().is_empty() {
            return fail(
                &["cgroups", "parent"],
                "must be a relative path without \".\" or \"..\"",
            );
        }
    }
    if let Some(memory) = &cgroups.memory {
        let limits = [
            ("kernel_memory_limit", memory.kernel_memory_limit),
            ("memory_hard_limit", memory.memory_hard_limit),
            ("memory_soft_limit", memory.memory_soft_limit),
            ("kernel_tcp_memory_limit", memory.kernel_tcp_memory_limit),
            ("memory_swap_limit", memory.memory_swap_limit),
        ];
        for (field, limit) in limits {
            if limit.is_some_and(|l| l < -1) {
                return fail(
                    &["cgroups", "memory", field],
                    "must be -1 (unlimited) or more",
                );
            }
        }
        if memory.swappiness.is_some_and(|s| s > 100) {
            return fail(&["cgroups", "memory", "swappiness"], "must be 0..=100");
        }
        attrs(&memory.attrs, "memory")?;
    }
    if let Some(cpu) = &cgroups.cpu {
        for (field, list) in [("cpus", &cpu.cpus), ("mems", &cpu.mems)] {
            if list.as_deref().is_some_and(|l| !is_id_list(l)) {
                return fail(&["cgroups", "cpu", field], "must be a list like 0-2,4");
            }
        }
        attrs(&cpu.attrs, "cpu")?;
    }
    if let Some(blkio) = &cgroups.blkio {
        let mut weights = vec![blkio.weight, blkio.leaf_weight];
        for device in &blkio.weight_device {
            weights.extend([device.weight, device.leaf_weight]);
        }
        if weights.iter().flatten().any(|w| !(10..=1000).contains(w)) {
            return fail(&["cgroups", "blkio"], "weights must be 10..=1000");
        }
        attrs(&blkio.attrs, "blkio")?;
    }
    if cgroups.pids.as_ref().is_some_and(|p| p.max == 0) {
        return fail(&["cgroups", "pids", "max"], "must be 1 or more");
    }
    Ok(())
}

/// Controller files: plain file names, values on one line.
fn attrs(attrs: &std::collections::BTreeMap<String, String>, controller: &str) -> Check {
    for (name, value) in attrs {
        let path = ["cgroups", controller, "attrs", name.as_str()];
        let plain = !name.is_empty()
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !plain {
            return fail(
                &path,
                "must be a controller file name ([0-9a-z._], no leading '.')",
            );
        }
        if value.contains(['\0', '\n']) {
            return fail(&path, "value must be one line without NUL");
        }
    }
    Ok(())
}

/// `0-2,4,7-9`.
fn is_id_list(text: &str) -> bool {
    let number = |s: &str| !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
    text.split(',')
        .all(|part| match part.trim().split_once('-') {
            Some((from, to)) => number(from) && number(to),
            None => number(part.trim()),
        })
}
