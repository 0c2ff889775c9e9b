//! What the runtime is asked and what it tells: requests, responses and notifications.
//! The management API (and tests) speak these; they are plain data.

use crate::{container::ExitStatus, id::ContainerId};
use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, BTreeSet},
    path::PathBuf,
    time::Duration,
};

/// A request to the runtime.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Every known container and its state.
    List,
    /// Start a container, optionally with other arguments or added environment.
    Start {
        id: ContainerId,
        args: Option<Vec<String>>,
        env: Option<BTreeMap<String, String>>,
    },
    /// SIGTERM to every process of the container, SIGKILL after `timeout` (default: the
    /// configured `stop_timeout`). Answered when the container has ended.
    Stop {
        id: ContainerId,
        timeout: Option<Duration>,
    },
    /// Send a signal to every process of the container.
    Kill { id: ContainerId, signal: i32 },
    /// Mount a package's image.
    Mount { id: ContainerId },
    /// Unmount a package's image (not while it or a container using it runs).
    Umount { id: ContainerId },
    /// Install the package file at `path` into `repository`.
    Install { repository: String, path: PathBuf },
    /// Remove a package (stopped, unmounted), optionally with its persistent data;
    /// `repositories`: only when one of these holds it (`None`: any).
    Uninstall {
        id: ContainerId,
        wipe: bool,
        repositories: Option<BTreeSet<String>>,
    },
    /// The captured output of a container.
    Logs { id: ContainerId },
    /// Stop every container and end the runtime.
    Shutdown,
    /// One container in detail: state, manifest, process, cgroup counters.
    Inspect { id: ContainerId },
    /// The repositories and what they hold.
    Repositories,
    /// Start a container with the arguments and environment of its last explicit start
    /// (the second half of a restart).
    StartAgain { id: ContainerId },
    /// Install the package file at `path` (a spool file the caller removes afterwards)
    /// into `repository`, with errors that say why a package was refused.
    Upload { repository: String, path: PathBuf },
    /// An update transaction: install the package files at `paths` (spool files the caller
    /// removes afterwards when `upload`) into `repository`, stop the active versions of
    /// their names, start the new ones, check their health, then commit or roll back all
    /// of them together. Answered with [`Response::Committed`] or
    /// [`RequestError::RolledBack`].
    Update {
        repository: String,
        paths: Vec<PathBuf>,
        upload: bool,
        options: UpdateOptions,
    },
    /// Switch `name` back to its previous version, as a transaction with a health check.
    /// `repository`: the one holding `name` (`None`: the only one that does).
    Rollback {
        repository: Option<String>,
        name: String,
        options: UpdateOptions,
    },
    /// Persist the operator's autostart override of `name` (`None`: the manifest
    /// decides again).
    Enable {
        repository: Option<String>,
        name: String,
        enabled: Option<bool>,
    },
    /// Check installed packages in full on a worker thread: `id` (`None`: every one).
    /// Answered with [`Response::Verified`] once all of them are checked.
    Verify { id: Option<ContainerId> },
}

/// How an update transaction checks the new versions; `None`: the configuration's
/// `[update]` setting.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateOptions {
    pub health: Option<crate::config::Health>,
    /// The `running` check's window.
    pub window: Option<Duration>,
    /// The longest wait for the health check.
    pub deadline: Option<Duration>,
    /// Snapshot persistent data so that a rollback restores it.
    pub snapshot: Option<bool>,
    /// The caller may go below the active version (a separate permission).
    pub downgrade: bool,
}

/// The state of a container: the management protocol's.
pub use northstar_api::ContainerState;

/// One container in a [`Response::Containers`] list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    pub id: ContainerId,
    pub repository: String,
    pub resource: bool,
    pub state: ContainerState,
    /// Pid of the container's init, in the runtime's PID namespace.
    pub pid: Option<i32>,
    /// How long the current run has lasted.
    pub uptime: Option<Duration>,
    pub mounted: bool,
    pub last_exit: Option<ExitStatus>,
    pub restarts: u32,
    /// The running program said `READY=1` on its notify socket.
    pub ready: bool,
    /// The last `STATUS=` it sent.
    pub status: Option<String>,
    /// The version the runtime autostarts and updates replace.
    pub active: bool,
}

/// A successful answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    Ok,
    Containers(Vec<ContainerInfo>),
    Started {
        pid: i32,
    },
    Stopped {
        status: ExitStatus,
    },
    Installed {
        id: ContainerId,
    },
    Logs {
        output: Vec<u8>,
    },
    Inspect(Box<Inspection>),
    Repositories(Vec<northstar_api::RepositoryInfo>),
    /// An update transaction committed: these versions are active.
    Committed {
        ids: Vec<ContainerId>,
    },
    /// The packages checked by a `Verify`, ordered by repository and container.
    Verified(Vec<Verified>),
}

/// How the full check of one installed package ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verified {
    pub id: ContainerId,
    pub repository: String,
    /// The management protocol's outcome: ok, development, or failed with the reason.
    pub result: northstar_api::CheckResult,
}

/// One container in detail (`Request::Inspect`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inspection {
    pub info: ContainerInfo,
    pub manifest: npk::manifest::Manifest,
    /// The running program, if any.
    pub process: Option<ProcessInfo>,
    /// The counters of its cgroup while it runs (the management protocol's type).
    pub cgroup: Option<northstar_api::CgroupStats>,
    /// Whether its `selinux.context` was applied at the last start (absent without a
    /// context or before the first start).
    pub selinux: Option<crate::container::selinux::SelinuxStatus>,
}

/// The running program of a container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    pub pid: i32,
    /// Since the process was created.
    pub uptime: Duration,
    /// The arguments it runs with (after argv\[0\]).
    pub args: Vec<String>,
    /// Whether the start overrode the manifest's arguments or environment.
    pub overridden: bool,
}

/// Something that happened, for subscribers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Notification {
    Started {
        id: ContainerId,
        pid: i32,
    },
    /// A start failed before the program ran.
    Failed {
        id: ContainerId,
        error: String,
    },
    Exited {
        id: ContainerId,
        status: ExitStatus,
        /// The kernel's OOM killer acted in the container's cgroup during the run.
        oom: bool,
    },
    Restarting {
        id: ContainerId,
        attempt: u32,
        delay: Duration,
    },
    /// The restart policy gave up after `attempts` restarts in a row.
    GaveUp {
        id: ContainerId,
        attempts: u32,
    },
    Installed {
        id: ContainerId,
    },
    Uninstalled {
        id: ContainerId,
    },
    /// A critical container failed: the configured reaction is due.
    Critical {
        id: ContainerId,
        reason: String,
    },
    /// The OOM killer killed a process of a running container.
    Oom {
        id: ContainerId,
        /// Kills in the container's cgroup so far in this run.
        kills: u64,
    },
    /// A package was refused when a repository was loaded.
    Rejected {
        path: PathBuf,
        error: String,
    },
    Shutdown,
    /// An update transaction began: `ids` are the new versions.
    UpdateStarted {
        ids: Vec<ContainerId>,
    },
    /// A new version passed its health check.
    Healthy {
        id: ContainerId,
    },
    /// An update transaction committed: `ids` are active.
    Committed {
        ids: Vec<ContainerId>,
    },
    /// An update transaction rolled back: `ids` (the new versions) are marked failed and
    /// the versions before them are active again.
    RolledBack {
        ids: Vec<ContainerId>,
        reason: String,
    },
    /// A running container said `READY=1` on its notify socket.
    Ready {
        id: ContainerId,
    },
    /// A periodic check found a package that no longer matches what was signed.
    VerifyFailed {
        id: ContainerId,
        repository: String,
        error: String,
    },
}

/// Why a request failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum RequestError {
    #[error("{0}: no such container")]
    NotFound(ContainerId),
    #[error("no such repository {0:?}")]
    NoRepository(String),
    #[error("{0}: is running")]
    Running(ContainerId),
    #[error("{0}: is not running")]
    NotRunning(ContainerId),
    #[error("{0}: is a resource container and cannot be started")]
    Resource(ContainerId),
    #[error("{0}: is used by a running container or needed by an active one")]
    InUse(ContainerId),
    #[error("an uninstall from repository {0} is not granted")]
    NotGranted(String),
    #[error("{0}")]
    Start(String),
    #[error("{0}")]
    Mount(String),
    #[error("{0}")]
    Install(String),
    #[error("{0}")]
    Failed(String),
    #[error("{0}: is already installed")]
    AlreadyInstalled(ContainerId),
    #[error("repository {repository} is full: {reason}")]
    Full { repository: String, reason: String },
    #[error("the runtime is shutting down")]
    ShuttingDown,
    #[error("the runtime has ended")]
    Gone,
    /// The version is not above the active one (or below the floor, the highest version
    /// ever active) and the caller may not downgrade.
    #[error("{id}: downgrade refused: the active version is {active}, the floor {floor}")]
    Downgrade {
        id: ContainerId,
        active: String,
        floor: String,
    },
    /// The update transaction rolled back.
    #[error("rolled back: {reason}")]
    RolledBack { reason: String },
    /// Another update transaction is under way.
    #[error("another update transaction is under way")]
    UpdateInProgress,
    /// `name` has no previous version to roll back to.
    #[error("{0}: no previous version to roll back to")]
    NoPrevious(String),
    /// `name` is in several repositories: the request must name one.
    #[error("{0}: in several repositories; name one")]
    Ambiguous(String),
    /// The runtime cannot take this now (too many checks of packages waiting).
    #[error("busy: {0}")]
    Busy(String),
    /// An update of a container name that has no installed version (use install).
    #[error("{0}: not installed; install a first version")]
    NotInstalled(String),
}
