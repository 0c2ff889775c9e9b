//! What happened in the runtime, sent to connections that subscribed (`subscribe`, which
//! needs [`crate::Permission::Notifications`]).

use crate::types::{ContainerId, ExitStatus};
use serde::{Deserialize, Serialize};

/// Something that happened, in a [`crate::ServerMessage::Notification`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Notification {
    /// A container's program runs.
    Started {
        /// The container.
        container: ContainerId,
        /// Pid of its init.
        pid: i32,
    },
    /// A start failed before the program ran.
    Failed {
        /// The container.
        container: ContainerId,
        /// The failing step and why.
        reason: String,
    },
    /// A container's program ended.
    Exited {
        /// The container.
        container: ContainerId,
        /// How it ended.
        status: ExitStatus,
        /// The OOM killer acted in the container's cgroup during the run.
        oom: bool,
    },
    /// The OOM killer killed a process of a running container (which may go on).
    Oom {
        /// The container.
        container: ContainerId,
        /// Kills in the container's cgroup so far in this run.
        kills: u64,
    },
    /// A restart by the restart policy is scheduled.
    Restarting {
        /// The container.
        container: ContainerId,
        /// Restarts in a row, this one included.
        attempt: u32,
        /// Delay before it, in milliseconds.
        delay_ms: u64,
    },
    /// The restart policy gave up after `attempts` restarts in a row.
    GaveUp {
        /// The container.
        container: ContainerId,
        /// Restarts in a row.
        attempts: u32,
    },
    /// A package was installed.
    Installed {
        /// The container.
        container: ContainerId,
    },
    /// A package was removed.
    Uninstalled {
        /// The container.
        container: ContainerId,
    },
    /// A critical container failed: the configured reaction (exit, reboot, power-off,
    /// hold) is due.
    Critical {
        /// The container.
        container: ContainerId,
        /// What happened.
        reason: String,
    },
    /// The runtime is shutting down.
    Shutdown {},
    /// This connection did not read fast enough: `missed` notifications were dropped
    /// before this one.
    Lagged {
        /// Notifications dropped.
        missed: u64,
    },
}
