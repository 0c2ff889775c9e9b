//! What happened in the runtime, sent to connections that subscribed (`subscribe`, which
//! needs [`crate::Permission::Notifications`]).

use crate::{
    types::{ContainerId, ExitStatus},
    version::ProtocolVersion,
};
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
    /// An update transaction began (1.2): `containers` are the new versions.
    UpdateStarted {
        /// The new versions.
        containers: Vec<ContainerId>,
    },
    /// A new version of an update transaction passed its health check (1.2).
    Healthy {
        /// The container.
        container: ContainerId,
    },
    /// An update transaction committed (1.2): `containers` are the active versions.
    Committed {
        /// The versions now active.
        containers: Vec<ContainerId>,
    },
    /// An update transaction rolled back (1.2): `containers` (the new versions) are
    /// marked failed and the versions before them are active again.
    RolledBack {
        /// The new versions.
        containers: Vec<ContainerId>,
        /// Why.
        reason: String,
    },
    /// A running container's program said `READY=1` on its notify socket (1.2).
    Ready {
        /// The container.
        container: ContainerId,
    },
    /// A periodic check of the installed packages (`[verify] scrub_interval`) found a
    /// package whose file no longer matches what was signed (1.3). Nothing is stopped.
    VerifyFailed {
        /// The package's container.
        container: ContainerId,
        /// Why, naming the file and, for a corrupt image, the block.
        reason: String,
    },
    /// This connection did not read fast enough: `missed` notifications were dropped
    /// before this one.
    Lagged {
        /// Notifications dropped.
        missed: u64,
    },
}

impl Notification {
    /// The protocol version that added this notification: a session of an older
    /// version does not get it.
    pub fn since(&self) -> ProtocolVersion {
        match self {
            Notification::UpdateStarted { .. }
            | Notification::Healthy { .. }
            | Notification::Committed { .. }
            | Notification::RolledBack { .. }
            | Notification::Ready { .. } => ProtocolVersion::new(1, 2),
            Notification::VerifyFailed { .. } => ProtocolVersion::new(1, 3),
            _ => ProtocolVersion::new(1, 0),
        }
    }
}
