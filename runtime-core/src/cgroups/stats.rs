//! Resource usage of a container's group, read from the controllers' files: memory use,
//! peak and limit, OOM events and kills, CPU time, process count. Used to report an OOM
//! kill when a container exits and by the management API. A value whose controller is not
//! joined, or whose file the kernel lacks, is `None` (counts: 0).

use super::{container::ContainerGroup, files, Controller, Error, Version};
use serde::Serialize;

/// v1 reports "no limit" as the largest page-aligned counter value (`9223372036854771712`
/// with 4 KiB pages); anything from 2^62 up is taken as unlimited.
const V1_UNLIMITED: u64 = 1 << 62;

/// A snapshot of a container's resource usage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Memory in use, bytes (v2 `memory.current`, v1 `memory.usage_in_bytes`).
    pub memory_current: Option<u64>,
    /// Highest memory use seen, bytes (v2 `memory.peak` where the kernel has it, v1
    /// `memory.max_usage_in_bytes`).
    pub memory_peak: Option<u64>,
    /// The hard limit, bytes; `None` when unlimited.
    pub memory_limit: Option<u64>,
    /// Times the group hit its limit and the OOM killer was invoked (v2 `oom` of
    /// `memory.events`; v1 counts only kills, so this equals `oom_kills` there).
    pub oom_events: u64,
    /// Processes the OOM killer killed in the group (`oom_kill` of v2 `memory.events`, v1
    /// `memory.oom_control`).
    pub oom_kills: u64,
    /// CPU time used, nanoseconds (v2 `usage_usec` of `cpu.stat` × 1000, v1
    /// `cpuacct.usage`).
    pub cpu_usage_ns: Option<u64>,
    /// Processes (and threads) in the group (`pids.current`).
    pub pids_current: Option<u64>,
}

impl ContainerGroup {
    /// Read the group's current [`Stats`].
    pub fn stats(&self) -> Result<Stats, Error> {
        let mut stats = Stats::default();
        if let Some(dir) = self.dir(Controller::Pids) {
            stats.pids_current = files::read_u64(&dir.join("pids.current"))?;
        }
        match self.version {
            Version::V2 => {
                if let Some(dir) = self.dir(Controller::Memory) {
                    stats.memory_current = files::read_u64(&dir.join("memory.current"))?;
                    stats.memory_peak = files::read_u64(&dir.join("memory.peak"))?;
                    stats.memory_limit = files::read_u64(&dir.join("memory.max"))?;
                    let events = dir.join("memory.events");
                    stats.oom_events = files::read_key(&events, "oom")?.unwrap_or(0);
                    stats.oom_kills = files::read_key(&events, "oom_kill")?.unwrap_or(0);
                }
                if let Some(dir) = self.dir(Controller::Cpu) {
                    stats.cpu_usage_ns = files::read_key(&dir.join("cpu.stat"), "usage_usec")?
                        .map(|us| us.saturating_mul(1000));
                }
            }
            Version::V1 => {
                if let Some(dir) = self.dir(Controller::Memory) {
                    stats.memory_current = files::read_u64(&dir.join("memory.usage_in_bytes"))?;
                    stats.memory_peak = files::read_u64(&dir.join("memory.max_usage_in_bytes"))?;
                    stats.memory_limit = files::read_u64(&dir.join("memory.limit_in_bytes"))?
                        .filter(|limit| *limit < V1_UNLIMITED);
                    let control = dir.join("memory.oom_control");
                    stats.oom_kills = files::read_key(&control, "oom_kill")?.unwrap_or(0);
                    stats.oom_events = stats.oom_kills;
                }
                if let Some(dir) = self.dir(Controller::Cpuacct) {
                    stats.cpu_usage_ns = files::read_u64(&dir.join("cpuacct.usage"))?;
                }
            }
        }
        Ok(stats)
    }
}
