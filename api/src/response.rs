//! What the server answers to a request that succeeded, and the data it carries.

use crate::{
    system::{SystemInstalled, SystemStatus},
    types::{ContainerId, ExitStatus, RepositoryName},
};
use npk::manifest::Manifest;
use serde::{Deserialize, Serialize};

/// A successful answer, in a [`crate::ServerMessage::Response`] with the request's id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Response {
    /// Done (kill, uninstall, mount, umount, shutdown, reboot, subscribe).
    Ok {},
    /// Answer to `list`, ordered by container.
    Containers {
        /// Every known container.
        containers: Vec<ContainerInfo>,
    },
    /// Answer to `inspect` (boxed: it is by far the largest answer).
    Inspect(Box<Inspection>),
    /// Answer to `start`: the program runs.
    Started {
        /// The container.
        container: ContainerId,
        /// Pid of the container's init, in the runtime's PID namespace.
        pid: i32,
    },
    /// Answer to `stop`: the container ended.
    Stopped {
        /// The container.
        container: ContainerId,
        /// How it ended.
        status: ExitStatus,
    },
    /// Answer to `restart`: the old run ended, the new one runs.
    Restarted {
        /// The container.
        container: ContainerId,
        /// How the old run ended.
        status: ExitStatus,
        /// Pid of the new run's init.
        pid: i32,
    },
    /// Answer to `install`: the package is verified and in the repository.
    Installed {
        /// The installed container.
        container: ContainerId,
    },
    /// Answer to `repositories`, ordered by name.
    Repositories {
        /// Every configured repository.
        repositories: Vec<RepositoryInfo>,
    },
    /// Answer to `logs`: the last lines of captured output, oldest first. Bytes that are
    /// not UTF-8 are replaced by U+FFFD. `truncated`: older lines were left out (by `tail`,
    /// or to fit the frame limit).
    Logs {
        /// The lines, without their line end.
        lines: Vec<String>,
        /// Whether older lines exist that are not in `lines`.
        truncated: bool,
    },
    /// Answer to `boot_report` (boxed: it is the largest answer after `inspect`).
    BootReport {
        /// The report.
        report: Box<BootReport>,
    },
    /// Answer to `update` and `rollback` (1.2): the transaction committed and these
    /// versions are active.
    Committed {
        /// The versions now active.
        containers: Vec<ContainerId>,
    },
    /// Answer to `verify` (1.3): one result per package checked, ordered by repository
    /// and container.
    Verified {
        /// The packages and how their check ended.
        packages: Vec<PackageCheck>,
    },
    /// Answer to `system_status` and `system_mark` (1.4): the A/B slots (after the mark).
    System {
        /// The slots.
        status: SystemStatus,
    },
    /// Answer to `system_install` (1.4): the bundle's image is in a slot, and that slot
    /// is marked active (boxed: it is one of the larger answers).
    SystemInstalled {
        /// What was written, and the A/B state after.
        installed: Box<SystemInstalled>,
    },
}

/// How the full check of one installed package ended (`verify`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageCheck {
    /// The package's container.
    pub container: ContainerId,
    /// The repository that holds it.
    pub repository: RepositoryName,
    /// The outcome.
    pub result: CheckResult,
}

/// The outcome of a package's full check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum CheckResult {
    /// Every data and hash block of `fs.img` matches the signed root hash.
    Ok {},
    /// A package of a repository without a key: there is nothing to check it against.
    Development {},
    /// The check failed: why, naming the file and, for a corrupt image, the block.
    Failed {
        /// The error.
        reason: String,
    },
}

impl CheckResult {
    /// Whether the check failed.
    pub fn is_failed(&self) -> bool {
        matches!(self, CheckResult::Failed { .. })
    }
}

/// One container in detail: the answer to `inspect`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inspection {
    /// State of the container.
    pub info: ContainerInfo,
    /// Its manifest.
    pub manifest: Manifest,
    /// The running program; absent when it does not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessInfo>,
    /// Its cgroup's counters; absent when it has no cgroup (not running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<CgroupStats>,
    /// Whether its manifest's `selinux.context` was applied at its last start; absent
    /// without a context or before the first start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selinux: Option<SelinuxStatus>,
}

/// Whether a container's SELinux context is in force.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelinuxStatus {
    /// The manifest's context.
    pub context: String,
    /// Whether the program was executed in it.
    pub applied: bool,
    /// Why not, when it was not (SELinux not enabled on the device).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The state of a container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerState {
    /// Not running.
    Stopped,
    /// Process created, program not executed yet.
    Starting,
    /// The program runs.
    Running,
    /// Stop requested, waiting for it to end.
    Stopping,
    /// Ended; a restart is scheduled.
    Restarting,
}

/// One container, as `list` and `inspect` report it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerInfo {
    /// The container.
    pub container: ContainerId,
    /// The repository that holds its package.
    pub repository: RepositoryName,
    /// A resource container: files only, never started.
    pub resource: bool,
    /// Its state.
    pub state: ContainerState,
    /// Pid of the container's init, in the runtime's PID namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// How long the current run has lasted, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_ms: Option<u64>,
    /// Whether its image is mounted.
    pub mounted: bool,
    /// How the last run ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<ExitStatus>,
    /// Restarts in a row by the restart policy.
    pub restarts: u32,
    /// The running program said `READY=1` on its notify socket (1.2).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ready: bool,
    /// The last `STATUS=` it sent on its notify socket (1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The version of its name that the runtime autostarts and updates replace (1.2).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub active: bool,
}

impl ContainerInfo {
    /// Without the fields added in protocol 1.2.
    pub fn before_1_2(&self) -> ContainerInfo {
        ContainerInfo {
            ready: false,
            status: None,
            active: false,
            ..self.clone()
        }
    }
}

/// The running program of a container (`inspect`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessInfo {
    /// Pid of the container's init, in the runtime's PID namespace.
    pub pid: i32,
    /// Since the program was executed, in milliseconds.
    pub uptime_ms: u64,
    /// The arguments it was started with (after argv\[0\]).
    pub args: Vec<String>,
    /// Whether the start overrode the manifest's arguments or environment.
    pub overridden: bool,
}

/// Counters of a container's cgroup (`inspect`). A part is absent when its controller is
/// not available.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CgroupStats {
    /// The memory controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryStats>,
    /// The cpu controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuStats>,
    /// The pids controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<PidsStats>,
}

/// Memory of a cgroup, in bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryStats {
    /// In use now (`memory.current`).
    pub current: u64,
    /// Most ever in use (`memory.peak`; absent on kernels without it and on cgroup v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak: Option<u64>,
    /// The limit (`memory.max`); absent: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// `memory.events`.
    pub events: MemoryEvents,
}

/// The counters of `memory.events` (v2); on cgroup v1 only the OOM counters, from
/// `memory.oom_control`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryEvents {
    /// Reclaimed while below `memory.low` (absent on cgroup v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub low: Option<u64>,
    /// Throttled above `memory.high` (absent on cgroup v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high: Option<u64>,
    /// About to exceed `memory.max` (absent on cgroup v1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    /// Allocations failed at the limit.
    pub oom: u64,
    /// Processes killed by the OOM killer.
    pub oom_kill: u64,
}

/// CPU time of a cgroup, in microseconds: `cpu.stat` on cgroup v2; `cpuacct.usage` and
/// `cpuacct.stat` (and the cpu controller's `cpu.stat` for throttling) on v1.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CpuStats {
    /// User and system time together.
    pub usage_usec: u64,
    /// User time.
    pub user_usec: u64,
    /// System time.
    pub system_usec: u64,
    /// Periods in which the group was throttled (absent without a CPU limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nr_throttled: Option<u64>,
    /// Time throttled (absent without a CPU limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttled_usec: Option<u64>,
}

/// Processes of a cgroup.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PidsStats {
    /// Processes now (`pids.current`).
    pub current: u64,
    /// The limit (`pids.max`); absent: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// A repository (`repositories`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryInfo {
    /// Its name in the configuration.
    pub name: RepositoryName,
    /// Its packages are signature-checked and mounted through dm-verity.
    pub verified: bool,
    /// Packages it holds.
    pub packages: u32,
    /// Bytes of its package files.
    pub bytes: u64,
    /// The configured `max_packages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_packages: Option<u32>,
    /// The configured `max_bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bytes: Option<u64>,
}

/// The boot report of PID 1: times in milliseconds since the init started.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootReport {
    /// The kernel's uptime when the init started.
    pub kernel_ms: u64,
    /// The boot steps, in order.
    pub steps: Vec<BootStep>,
    /// How each autostart container's start ended.
    pub containers: Vec<BootOutcome>,
    /// When the report was completed; absent while containers are still starting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<u64>,
    /// The panic that ended the previous boot (`panicked at <file>:<line>:<column>:
    /// <message>`), if it did end in one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_panic: Option<String>,
    /// The runtime configuration says `development = true`: packages of unverified
    /// repositories are accepted beside signed ones.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub development: bool,
    /// The A/B slot this boot runs (`A`, `B`), as the boot loader named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<String>,
    /// How the previous boot of an A/B system ended when it was not marked good: the
    /// slot, why, and the fallback (`slot A ended before it was marked good …; the boot
    /// loader fell back from slot A to B`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_slot: Option<String>,
}

/// One boot step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootStep {
    /// The step (`early`, `modules`, `root`, ...).
    pub name: String,
    /// When it began.
    pub start_ms: u64,
    /// How long it took.
    pub took_ms: u64,
}

/// How an autostart container's start ended, in the boot report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum BootOutcome {
    /// Not known yet.
    Pending {
        /// The container.
        container: ContainerId,
    },
    /// The program runs.
    Started {
        /// The container.
        container: ContainerId,
        /// When it was seen running.
        at_ms: u64,
    },
    /// The start failed, or the container ended before it was seen running.
    Failed {
        /// The container.
        container: ContainerId,
        /// When.
        at_ms: u64,
        /// Why.
        reason: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verified_on_the_wire() {
        let failed = PackageCheck {
            container: "a:1.0.0".parse().unwrap(),
            repository: RepositoryName::new("apps").unwrap(),
            result: CheckResult::Failed {
                reason: "a.npk: fs.img: block 3 differs".into(),
            },
        };
        let ok = PackageCheck {
            result: CheckResult::Ok {},
            ..failed.clone()
        };
        let response = Response::Verified {
            packages: vec![ok, failed],
        };
        let json = serde_json::to_string(&response).unwrap();
        assert_eq!(
            json,
            r#"{"type":"verified","packages":[{"container":"a:1.0.0","repository":"apps","result":{"type":"ok"}},{"container":"a:1.0.0","repository":"apps","result":{"type":"failed","reason":"a.npk: fs.img: block 3 differs"}}]}"#
        );
        assert_eq!(serde_json::from_str::<Response>(&json).unwrap(), response);
        let development =
            r#"{"container":"a:1.0.0","repository":"dev","result":{"type":"development"}}"#;
        let check: PackageCheck = serde_json::from_str(development).unwrap();
        assert!(!check.result.is_failed());
        let extra =
            r#"{"container":"a:1.0.0","repository":"dev","result":{"type":"ok","reason":"x"}}"#;
        assert!(serde_json::from_str::<PackageCheck>(extra).is_err());
        let no_reason = r#"{"container":"a:1.0.0","repository":"dev","result":{"type":"failed"}}"#;
        assert!(serde_json::from_str::<PackageCheck>(no_reason).is_err());
    }

    #[test]
    fn system_on_the_wire() {
        let response = Response::System {
            status: SystemStatus {
                bootloader: "grub".into(),
                booted: None,
                slots: vec![crate::SlotStatus {
                    name: "A".into(),
                    root: "/dev/sda2".into(),
                    boot: None,
                    booted: false,
                    primary: true,
                    state: crate::SlotState::Unknown,
                    attempts_left: None,
                }],
            },
        };
        let json = serde_json::to_string(&response).unwrap();
        assert_eq!(
            json,
            r#"{"type":"system","status":{"bootloader":"grub","slots":[{"name":"A","root":"/dev/sda2","booted":false,"primary":true,"state":"unknown"}]}}"#
        );
        assert_eq!(serde_json::from_str::<Response>(&json).unwrap(), response);
        let flat = r#"{"type":"system","bootloader":"grub","slots":[]}"#;
        assert!(serde_json::from_str::<Response>(flat).is_err());
        let installed = Response::SystemInstalled {
            installed: Box::new(SystemInstalled {
                slot: "B".into(),
                version: "2.0".into(),
                compatible: "board".into(),
                bytes: 4096,
                status: SystemStatus {
                    bootloader: "uboot".into(),
                    booted: Some("A".into()),
                    slots: vec![],
                },
            }),
        };
        let json = serde_json::to_string(&installed).unwrap();
        assert_eq!(
            json,
            r#"{"type":"system_installed","installed":{"slot":"B","version":"2.0","compatible":"board","bytes":4096,"status":{"bootloader":"uboot","booted":"A","slots":[]}}}"#
        );
        assert_eq!(serde_json::from_str::<Response>(&json).unwrap(), installed);
    }
}
