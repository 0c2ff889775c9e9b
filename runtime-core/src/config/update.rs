//! The `[update]` section: how update transactions check a new version and what they keep.

use super::units;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Largest `keep`: old versions kept per container name after a commit.
pub const MAX_KEEP: u32 = 16;
/// Largest `deadline` of a health check.
pub const MAX_DEADLINE: Duration = Duration::from_secs(3600);

/// How a new version proves it works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// It sends `READY=1` on its notify socket (sd_notify).
    Ready,
    /// It is still running `window` after its start, without exiting or restarting.
    #[default]
    Running,
    /// It exits with code 0 (one-shot containers).
    Exited,
}

/// Settings of update transactions.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpdateConfig {
    /// The health check of a request that names none.
    pub health: Health,
    /// How long a new version must run for the `running` check.
    #[serde(with = "units::duration")]
    pub window: Duration,
    /// The longest wait for any health check; past it the update rolls back.
    #[serde(with = "units::duration")]
    pub deadline: Duration,
    /// Snapshot the container's persistent data before the new version starts, so a
    /// rollback restores it (a request may ask for it or not).
    pub snapshot: bool,
    /// The largest persistent data a snapshot copies; larger data refuses the update.
    #[serde(deserialize_with = "units::size::deserialize")]
    pub snapshot_max: u64,
    /// Old versions of a name kept installed after a commit (the previous one included);
    /// older ones are uninstalled.
    pub keep: u32,
}

impl Default for UpdateConfig {
    fn default() -> UpdateConfig {
        UpdateConfig {
            health: Health::Running,
            window: Duration::from_secs(10),
            deadline: Duration::from_secs(60),
            snapshot: false,
            snapshot_max: 64 * 1024 * 1024,
            keep: 1,
        }
    }
}
