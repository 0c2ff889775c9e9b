//! The closed set of errors the server answers with. Each has a stable snake_case code
//! (the `"code"` on the wire, [`ApiError::code`]) that clients match on, typed fields, and
//! a message for people (`Display`). A new error is a new minor protocol version.

use crate::{
    permission::Permission,
    types::{ContainerId, RepositoryName},
    version::ProtocolVersion,
};
use npk::manifest::Name;
use serde::{Deserialize, Serialize};

/// Why a request (or the handshake, or a frame) was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "code", rename_all = "snake_case", deny_unknown_fields)]
pub enum ApiError {
    /// No such container.
    #[error("{container}: no such container")]
    NotFound {
        /// The container asked for.
        container: ContainerId,
    },
    /// No such repository.
    #[error("no such repository {repository}")]
    RepositoryNotFound {
        /// The repository asked for.
        repository: RepositoryName,
    },
    /// The connection lacks the permission the request needs.
    #[error("permission denied: this connection does not have the {permission} permission")]
    PermissionDenied {
        /// The permission the request needs.
        permission: Permission,
    },
    /// The connection has the permission the request needs, but not for this repository.
    #[error("permission denied: this connection's {permission} permission does not cover repository {repository}")]
    RepositoryNotGranted {
        /// The permission the request needs.
        permission: Permission,
        /// The repository it is not granted for.
        repository: RepositoryName,
    },
    /// The connection has the permission the request needs, but not for this container.
    #[error("permission denied: this connection's {permission} permission does not cover container {container}")]
    ContainerNotGranted {
        /// The permission the request needs.
        permission: Permission,
        /// The container it is not granted for.
        container: ContainerId,
    },
    /// The client's protocol version is not served (another major, or a newer minor).
    #[error(
        "protocol version {client} is not supported: the server speaks {server} \
         (same major, minor at most {})", server.minor
    )]
    VersionMismatch {
        /// The server's version.
        server: ProtocolVersion,
        /// The version the client asked for.
        client: ProtocolVersion,
    },
    /// A frame that is not a valid message: not UTF-8, not JSON, an unknown type or
    /// field, a value that breaks its rules, or a request before the handshake.
    #[error("{}", invalid_request(what, field.as_deref(), *offset))]
    InvalidRequest {
        /// What is wrong.
        what: String,
        /// Where in the message (a field path such as `request.env`), when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        field: Option<String>,
        /// Where in the stream (bytes since the connection began), when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offset: Option<u64>,
    },
    /// A frame longer than the server accepts. The connection is closed.
    #[error("frame larger than {limit} bytes")]
    FrameTooLarge {
        /// Longest frame accepted, without its newline.
        limit: u64,
    },
    /// An install larger than the server accepts from this connection. The connection is
    /// closed.
    #[error("package of {size} bytes is larger than the limit of {limit} bytes")]
    PackageTooLarge {
        /// The size announced.
        size: u64,
        /// The largest accepted.
        limit: u64,
    },
    /// Too many requests per second from this connection.
    #[error("rate limited: at most {per_second} requests per second")]
    RateLimited {
        /// Requests accepted per second.
        per_second: u32,
    },
    /// The server cannot take this now (another install runs, too many connections).
    #[error("busy: {reason}")]
    Busy {
        /// What keeps it busy.
        reason: String,
    },
    /// The package was refused (signature, format, digest, transfer).
    #[error("install failed: {reason}")]
    InstallFailed {
        /// Why.
        reason: String,
    },
    /// A package of this name and version is installed already.
    #[error("{container}: is already installed")]
    AlreadyInstalled {
        /// The container.
        container: ContainerId,
    },
    /// The repository has no room (`max_packages` or `max_bytes`).
    #[error("repository {repository} is full: {reason}")]
    RepositoryFull {
        /// The repository.
        repository: RepositoryName,
        /// Which limit.
        reason: String,
    },
    /// A start step failed.
    #[error("{container}: {step}: {message}")]
    StartFailed {
        /// The container.
        container: ContainerId,
        /// The failing step (`mount`, `cgroup`, `execute the program`, ...).
        step: String,
        /// What happened.
        message: String,
    },
    /// A start of a container that runs.
    #[error("{container}: is already running")]
    AlreadyRunning {
        /// The container.
        container: ContainerId,
    },
    /// A stop, kill or restart of a container that does not run.
    #[error("{container}: is not running")]
    NotRunning {
        /// The container.
        container: ContainerId,
    },
    /// A start of a resource container.
    #[error("{container}: is a resource container and cannot be started")]
    ResourceContainer {
        /// The container.
        container: ContainerId,
    },
    /// An umount or uninstall of an image that a running container uses (itself or as a
    /// resource).
    #[error("{container}: is used by a running container")]
    InUse {
        /// The container.
        container: ContainerId,
    },
    /// Mounting or unmounting an image failed.
    #[error("{container}: {reason}")]
    MountFailed {
        /// The container.
        container: ContainerId,
        /// What failed.
        reason: String,
    },
    /// This runtime does not serve the request (`boot_report` or `reboot` from the host
    /// daemon).
    #[error("{request} is not supported by this runtime")]
    Unsupported {
        /// The request's type.
        request: String,
    },
    /// The runtime is shutting down and takes no more requests.
    #[error("the runtime is shutting down")]
    ShuttingDown {},
    /// An error of the runtime itself.
    #[error("internal error: {message}")]
    Internal {
        /// What happened.
        message: String,
    },
    /// The connection has the permission the request needs, but not for this container
    /// name (`enable`, `disable`; 1.2).
    #[error("permission denied: this connection's {permission} permission does not cover container {name}")]
    NameNotGranted {
        /// The permission the request needs.
        permission: Permission,
        /// The container name it is not granted for.
        name: Name,
    },
    /// An update to a version that is not above the active one, or below the highest
    /// version ever active (the floor), without `downgrade` (1.2).
    #[error("{container}: downgrade refused: the active version is {active}, the floor {floor}")]
    Downgrade {
        /// The version refused.
        container: ContainerId,
        /// The active version.
        active: String,
        /// The highest version ever active.
        floor: String,
    },
    /// The update transaction failed and was rolled back: the versions before it are
    /// active again (1.2).
    #[error("rolled back: {reason}")]
    RolledBack {
        /// Why: the failing container and check.
        reason: String,
    },
    /// Another update transaction is under way (1.2).
    #[error("another update transaction is under way")]
    UpdateInProgress {},
    /// A rollback of a container name that has no previous version (1.2).
    #[error("{name}: no previous version to roll back to")]
    NoPrevious {
        /// The container name.
        name: String,
    },
    /// The container name is in several repositories: the request must name one (1.2).
    #[error("{name}: in several repositories; name one")]
    Ambiguous {
        /// The container name.
        name: String,
    },
    /// An update of a container name that has no installed version: install it first
    /// (1.2).
    #[error("{name}: not installed; install a first version")]
    NotInstalled {
        /// The container name.
        name: String,
    },
    /// Reading or marking the A/B system slots failed (1.4): an unknown slot, no `other`
    /// slot, an environment that cannot be read or written. Nothing was changed.
    #[error("system slots: {reason}")]
    SystemFailed {
        /// Why, naming the slot.
        reason: String,
    },
}

fn invalid_request(what: &str, field: Option<&str>, offset: Option<u64>) -> String {
    let mut text = "invalid request".to_string();
    if let Some(field) = field {
        text.push_str(&format!(" ({field})"));
    }
    if let Some(offset) = offset {
        text.push_str(&format!(" at byte {offset}"));
    }
    text.push_str(": ");
    text.push_str(what);
    text
}

impl ApiError {
    /// Every code, in the order of the variants.
    pub const CODES: [&'static str; 31] = [
        "not_found",
        "repository_not_found",
        "permission_denied",
        "repository_not_granted",
        "container_not_granted",
        "version_mismatch",
        "invalid_request",
        "frame_too_large",
        "package_too_large",
        "rate_limited",
        "busy",
        "install_failed",
        "already_installed",
        "repository_full",
        "start_failed",
        "already_running",
        "not_running",
        "resource_container",
        "in_use",
        "mount_failed",
        "unsupported",
        "shutting_down",
        "internal",
        "name_not_granted",
        "downgrade",
        "rolled_back",
        "update_in_progress",
        "no_previous",
        "ambiguous",
        "not_installed",
        "system_failed",
    ];

    /// The stable code, as on the wire.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } => "not_found",
            ApiError::RepositoryNotFound { .. } => "repository_not_found",
            ApiError::PermissionDenied { .. } => "permission_denied",
            ApiError::RepositoryNotGranted { .. } => "repository_not_granted",
            ApiError::ContainerNotGranted { .. } => "container_not_granted",
            ApiError::VersionMismatch { .. } => "version_mismatch",
            ApiError::InvalidRequest { .. } => "invalid_request",
            ApiError::FrameTooLarge { .. } => "frame_too_large",
            ApiError::PackageTooLarge { .. } => "package_too_large",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Busy { .. } => "busy",
            ApiError::InstallFailed { .. } => "install_failed",
            ApiError::AlreadyInstalled { .. } => "already_installed",
            ApiError::RepositoryFull { .. } => "repository_full",
            ApiError::StartFailed { .. } => "start_failed",
            ApiError::AlreadyRunning { .. } => "already_running",
            ApiError::NotRunning { .. } => "not_running",
            ApiError::ResourceContainer { .. } => "resource_container",
            ApiError::InUse { .. } => "in_use",
            ApiError::MountFailed { .. } => "mount_failed",
            ApiError::Unsupported { .. } => "unsupported",
            ApiError::ShuttingDown {} => "shutting_down",
            ApiError::Internal { .. } => "internal",
            ApiError::NameNotGranted { .. } => "name_not_granted",
            ApiError::Downgrade { .. } => "downgrade",
            ApiError::RolledBack { .. } => "rolled_back",
            ApiError::UpdateInProgress {} => "update_in_progress",
            ApiError::NoPrevious { .. } => "no_previous",
            ApiError::Ambiguous { .. } => "ambiguous",
            ApiError::NotInstalled { .. } => "not_installed",
            ApiError::SystemFailed { .. } => "system_failed",
        }
    }

    /// Whether the server closes the connection after sending this error: the byte
    /// stream can no longer be trusted to be in step (framing, handshake) or the client
    /// is not allowed to go on sending.
    pub fn closes_connection(&self) -> bool {
        matches!(
            self,
            ApiError::VersionMismatch { .. }
                | ApiError::InvalidRequest { .. }
                | ApiError::FrameTooLarge { .. }
                | ApiError::PackageTooLarge { .. }
        )
    }
}
