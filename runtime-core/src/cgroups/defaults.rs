//! The limits that bound every container and the runtime's group as a whole, so that a
//! fork bomb or a memory leak in one container cannot starve PID 1 or the others.
//!
//! - [`Defaults`]: `pids.max` and the memory limit a container gets where its manifest
//!   sets none (`[cgroups] default_pids_max`, `default_memory_max`). A manifest's own
//!   limit replaces the default; [`Defaults::exceeded_by`] names the limits that ask for
//!   more, for a policy that decides whether a package may.
//! - [`RuntimeLimits`]: `pids.max` and the memory limit of the runtime's group, the parent
//!   of every container's group (`runtime_pids_max`; the machine's memory less
//!   `runtime_memory_reserve`). The runtime process itself is not in that group, so these
//!   bound all containers together and never the runtime.
//!
//! Pure except [`RuntimeGroup::limit`], which writes the runtime group's files.

use super::{files, Controller, Error, RuntimeGroup, Version};
use crate::config::Limit;
use npk::manifest::{CGroups, Memory, Pids};
use std::path::Path;

/// Limits of a container whose manifest sets none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Defaults {
    /// `pids.max`.
    pub pids_max: u64,
    /// Memory limit in bytes (`memory.limit_in_bytes` on v1, `memory.max` on v2).
    pub memory_max: u64,
}

impl Defaults {
    /// The defaults of the configuration.
    pub fn from_config(config: &crate::config::CgroupsConfig) -> Defaults {
        Defaults {
            pids_max: config.default_pids_max,
            memory_max: config.default_memory_max,
        }
    }

    /// `limits` with the defaults filled in where they set no pids or memory limit. A
    /// manifest with only a memory+swap limit gets the smaller of it and the default as
    /// its memory limit (the kernel wants memory ≤ memory+swap).
    pub fn apply(&self, limits: Option<&CGroups>) -> CGroups {
        let mut limits = limits.cloned().unwrap_or_default();
        if limits.pids.is_none() {
            limits.pids = Some(Pids { max: self.pids_max });
        }
        let default = i64::try_from(self.memory_max).unwrap_or(i64::MAX);
        let memory = limits.memory.get_or_insert_with(Memory::default);
        if memory.memory_hard_limit.is_none() {
            let hard = match memory.memory_swap_limit {
                Some(swap) if swap >= 0 => swap.min(default),
                _ => default,
            };
            memory.memory_hard_limit = Some(hard);
        }
        limits
    }

    /// The limits of `limits` that ask for more than the defaults (a higher limit, or
    /// `-1`, unlimited). Empty when the manifest stays within them or sets none.
    pub fn exceeded_by(&self, limits: Option<&CGroups>) -> Vec<Limit> {
        let mut fields = Vec::new();
        let Some(limits) = limits else {
            return fields;
        };
        if limits.pids.as_ref().is_some_and(|p| p.max > self.pids_max) {
            fields.push(Limit::Pids);
        }
        let hard = limits.memory.as_ref().and_then(|m| m.memory_hard_limit);
        let above = |l: i64| l < 0 || u64::try_from(l).is_ok_and(|l| l > self.memory_max);
        if hard.is_some_and(above) {
            fields.push(Limit::Memory);
        }
        fields
    }
}

/// Limits of the runtime's group: all containers together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuntimeLimits {
    /// `pids.max`.
    pub pids_max: u64,
    /// Memory limit in bytes.
    pub memory_max: u64,
}

impl RuntimeLimits {
    /// `runtime_pids_max`, and the machine's memory (`MemTotal` of `meminfo`, the text of
    /// /proc/meminfo) less `runtime_memory_reserve`; at least [`MIN_RUNTIME_MEMORY`].
    pub fn from_config(
        config: &crate::config::CgroupsConfig,
        meminfo: &str,
    ) -> Result<RuntimeLimits, Error> {
        let total = mem_total(meminfo).ok_or_else(|| Error::Parse {
            path: Path::new("/proc/meminfo").to_path_buf(),
            reason: "no MemTotal line".to_string(),
        })?;
        let memory_max = total
            .saturating_sub(config.runtime_memory_reserve)
            .max(MIN_RUNTIME_MEMORY);
        Ok(RuntimeLimits {
            pids_max: config.runtime_pids_max,
            memory_max,
        })
    }
}

/// The least memory limit given to the runtime's group, whatever the reserve.
pub const MIN_RUNTIME_MEMORY: u64 = 16 * 1024 * 1024;

/// `MemTotal` in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

impl RuntimeGroup {
    /// Write `limits` to the runtime's group. Both controllers must be there: a missing
    /// one is an error naming it and the configuration key (no silent loss of a limit).
    /// On v1 the memory controller's hierarchical accounting is switched on first
    /// (`memory.use_hierarchy`, where the kernel still has it), so the group's limit
    /// covers its children; where the kernel refuses that (the group already has
    /// children) a warning says so.
    pub fn limit(&self, limits: &RuntimeLimits) -> Result<(), Error> {
        let version = self.hierarchy.version();
        let dir = |controller: Controller, key: &str| {
            let available = self.hierarchy.controllers().contains(&controller);
            let dir = match version {
                Version::V1 => self
                    .hierarchy
                    .mounts()
                    .iter()
                    .find(|m| m.controllers.contains(&controller))
                    .map(|m| m.path.join(&self.name)),
                Version::V2 => Some(self.hierarchy.root().join(&self.name)),
            };
            dir.filter(|_| available)
                .ok_or_else(|| Error::ControllerMissing {
                    controller: controller.name(version),
                    root: self.hierarchy.root().to_path_buf(),
                    field: format!("[cgroups] {key}"),
                })
        };
        let pids = dir(Controller::Pids, "runtime_pids_max")?;
        let memory = dir(Controller::Memory, "runtime_memory_reserve")?;
        files::write(&pids.join("pids.max"), &limits.pids_max.to_string())?;
        match version {
            Version::V1 => {
                let hierarchy = memory.join("memory.use_hierarchy");
                if files::read_optional(&hierarchy)?.is_some_and(|v| v.trim() == "0") {
                    // Refused (EBUSY) while the group has children, e.g. groups a crashed
                    // run left: the runtime still starts, and says what is not covered.
                    if let Err(e) = files::write(&hierarchy, "1") {
                        let cause = std::error::Error::source(&e)
                            .map(|s| format!(" ({s})"))
                            .unwrap_or_default();
                        log::warn!(
                            "{e}{cause}: the memory limit of the runtime's group does not cover \
                             its containers' groups until they are gone"
                        );
                    }
                }
                let file = memory.join("memory.limit_in_bytes");
                files::write(&file, &limits.memory_max.to_string())?;
            }
            Version::V2 => {
                files::write(&memory.join("memory.max"), &limits.memory_max.to_string())?
            }
        }
        log::debug!(
            "cgroup {}: pids.max {}, memory limit {} bytes",
            self.name.display(),
            limits.pids_max,
            limits.memory_max
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use npk::manifest::Cpu;

    const D: Defaults = Defaults {
        pids_max: 256,
        memory_max: 256 << 20,
    };

    #[test]
    fn no_limits_get_the_defaults() {
        let limits = D.apply(None);
        assert_eq!(limits.pids, Some(Pids { max: 256 }));
        let memory = limits.memory.unwrap();
        assert_eq!(memory.memory_hard_limit, Some(256 << 20));
        assert_eq!(memory.memory_swap_limit, None);
    }

    #[test]
    fn manifest_limits_replace_the_defaults() {
        let own = CGroups {
            pids: Some(Pids { max: 1000 }),
            memory: Some(Memory {
                memory_hard_limit: Some(-1),
                ..Memory::default()
            }),
            cpu: Some(Cpu {
                shares: Some(100),
                ..Cpu::default()
            }),
            ..CGroups::default()
        };
        assert_eq!(D.apply(Some(&own)), own);
        assert_eq!(D.exceeded_by(Some(&own)), [Limit::Pids, Limit::Memory]);
    }

    #[test]
    fn other_sections_keep_their_values_and_get_the_defaults() {
        let own = CGroups {
            memory: Some(Memory {
                swappiness: Some(10),
                ..Memory::default()
            }),
            ..CGroups::default()
        };
        let limits = D.apply(Some(&own));
        let memory = limits.memory.unwrap();
        assert_eq!(memory.swappiness, Some(10));
        assert_eq!(memory.memory_hard_limit, Some(256 << 20));
        assert_eq!(limits.pids, Some(Pids { max: 256 }));
        assert!(D.exceeded_by(Some(&own)).is_empty());
        assert!(D.exceeded_by(None).is_empty());
    }

    #[test]
    fn a_swap_limit_alone_caps_the_default_memory_limit() {
        let swap = |limit| CGroups {
            memory: Some(Memory {
                memory_swap_limit: Some(limit),
                ..Memory::default()
            }),
            ..CGroups::default()
        };
        let hard = |c: CGroups| c.memory.unwrap().memory_hard_limit;
        assert_eq!(hard(D.apply(Some(&swap(1 << 20)))), Some(1 << 20));
        assert_eq!(hard(D.apply(Some(&swap(1 << 40)))), Some(256 << 20));
        assert_eq!(hard(D.apply(Some(&swap(-1)))), Some(256 << 20));
    }

    #[test]
    fn within_the_defaults_is_not_exceeding() {
        let own = CGroups {
            pids: Some(Pids { max: 256 }),
            memory: Some(Memory {
                memory_hard_limit: Some(256 << 20),
                ..Memory::default()
            }),
            ..CGroups::default()
        };
        assert!(D.exceeded_by(Some(&own)).is_empty());
    }

    #[test]
    fn runtime_memory_is_the_total_less_the_reserve() {
        let config = crate::config::CgroupsConfig::default();
        let meminfo = "MemTotal:        1048576 kB\nMemFree:  1 kB\n";
        let limits = RuntimeLimits::from_config(&config, meminfo).unwrap();
        assert_eq!(limits.pids_max, 4096);
        assert_eq!(limits.memory_max, (1 << 30) - (64 << 20));
        // A reserve larger than the machine still leaves a usable limit.
        let tiny = "MemTotal: 1024 kB\n";
        let limits = RuntimeLimits::from_config(&config, tiny).unwrap();
        assert_eq!(limits.memory_max, MIN_RUNTIME_MEMORY);
        assert!(RuntimeLimits::from_config(&config, "MemFree: 1 kB\n").is_err());
        assert!(RuntimeLimits::from_config(&config, "MemTotal: x kB\n").is_err());
    }
}
