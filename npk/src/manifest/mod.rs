//! The package manifest (`manifest.yaml`): Northstar 0.9's schema as typed Rust.
//!
//! [`Manifest::from_yaml_str`] parses and validates; [`Manifest::to_yaml`] writes the form
//! stored in packages (fields in Northstar 0.9's order, integers for sizes, tags for enums).
//! Unknown fields are errors at every level. Errors name the field and, when parsing text,
//! the line (see [`Error`]). The rules and limits are listed in `doc/manifest.md`.
//!
//! This module owns the schema and its checks only; what the runtime does with a manifest
//! (mounting, sandboxing) lives in `runtime-core`.

// PID 1 parses the manifests of untrusted packages: no indexing or arithmetic that can
// panic outside tests (doc/design.md, "PID 1 never panics").
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

mod cgroups;
mod de;
mod error;
mod lines;
mod mount;
mod process;
mod seccomp;
mod types;
mod validate;

pub use cgroups::{BlkIo, BlkIoDevice, BlkIoThrottle, CGroups, Cpu, Memory, Pids};
pub use error::Error;
pub use mount::{parse_size, Bind, Mount, MountOption, MountOptions, Persist, Resource, Tmpfs};
pub use process::{
    Autostart, Console, Grant, Io, Network, Output, Permission, Permissions, Policy, Restart,
    RestartPolicy, RlimitResource, RlimitValue, Sched, Selinux, Socket, SocketType, Target,
    Targets, Watchdog,
};
pub use seccomp::{ArgRule, Profile, Seccomp, SyscallRule};
pub use types::{
    known_capabilities, known_syscalls, AbsPath, Capability, MountPoint, Name, SyscallName,
    Version, MAX_NAME_LEN, MAX_PATH_LEN,
};
pub use validate::limits;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    str::FromStr,
};

/// Largest manifest text accepted, in bytes (the archive reader applies the same limit).
pub const MAX_MANIFEST_SIZE: usize = 256 * 1024;

/// A container's manifest. Field order is the order Northstar 0.9 writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Container name.
    pub name: Name,
    /// Container version.
    pub version: Version,
    /// Access to the management API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console: Option<Console>,
    /// Absolute path of the executable to start; absent for a resource container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<PathBuf>,
    /// Arguments after argv[0].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Environment variables.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "de::unique_map"
    )]
    pub env: BTreeMap<String, String>,
    /// User id of the container's processes and owner of its files (1..=65535).
    pub uid: u32,
    /// Group id of the container's processes and group of its files (1..=65535).
    pub gid: u32,
    /// Scheduling policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sched: Option<Sched>,
    /// Mounts, by mount point.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "de::unique_map"
    )]
    pub mounts: BTreeMap<MountPoint, Mount>,
    /// Start with the runtime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autostart: Option<Autostart>,
    /// Control group limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroups: Option<CGroups>,
    /// Network namespace; absent = a new, empty one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    /// System call filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<Seccomp>,
    /// SELinux context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selinux: Option<Selinux>,
    /// Capabilities kept by the container's processes.
    #[serde(
        default,
        skip_serializing_if = "BTreeSet::is_empty",
        deserialize_with = "de::unique_set"
    )]
    pub capabilities: BTreeSet<Capability>,
    /// Supplementary groups, by name.
    #[serde(
        default,
        skip_serializing_if = "BTreeSet::is_empty",
        deserialize_with = "de::unique_set"
    )]
    pub suppl_groups: BTreeSet<String>,
    /// Resource limits.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "de::unique_map"
    )]
    pub rlimits: BTreeMap<RlimitResource, RlimitValue>,
    /// Unix sockets the runtime creates for the container, by file name.
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "de::unique_map"
    )]
    pub sockets: BTreeMap<String, Socket>,
    /// stdout and stderr.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub io: Option<Io>,
    /// Restart policy (an extension of Northstar 0.9's schema).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<Restart>,
    /// Keep-alive deadline on the notify socket (an extension of Northstar 0.9's schema).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watchdog: Option<Watchdog>,
    /// Free-form data, ignored by the runtime; `null` when absent.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub custom: serde_json::Value,
}

impl Manifest {
    /// Parse and validate a manifest. Errors carry the field path and the line.
    pub fn from_yaml_str(text: &str) -> Result<Manifest, Error> {
        if text.len() > MAX_MANIFEST_SIZE {
            return Err(Error::TooLarge {
                size: text.len(),
                limit: MAX_MANIFEST_SIZE,
            });
        }
        let manifest: Manifest =
            serde_yaml_ng::from_str(text).map_err(|e| Error::from_yaml(&e, text))?;
        validate::manifest(&manifest).map_err(|problem| problem.into_error(Some(text)))?;
        Ok(manifest)
    }

    /// The canonical YAML stored in packages. Validates first: an invalid manifest is never
    /// written.
    pub fn to_yaml(&self) -> Result<String, Error> {
        self.validate()?;
        serde_yaml_ng::to_string(self).map_err(Error::Serialize)
    }

    /// Check every rule (the ones not already enforced by the field types).
    pub fn validate(&self) -> Result<(), Error> {
        validate::manifest(self).map_err(|problem| problem.into_error(None))
    }

    /// A resource container has no `init`: it only provides files and is never started.
    pub fn is_resource(&self) -> bool {
        self.init.is_none()
    }

    /// Every mount target, in order (parents before children).
    pub fn mount_points(&self) -> impl Iterator<Item = &Path> {
        self.mounts.keys().map(MountPoint::as_path)
    }

    /// Whether any mount is of type `dev`.
    pub fn needs_dev(&self) -> bool {
        self.mounts.values().any(|m| matches!(m, Mount::Dev))
    }

    /// JSON schema of the manifest, for editors.
    pub fn json_schema() -> serde_json::Value {
        schemars::schema_for!(Manifest).to_value()
    }
}

impl FromStr for Manifest {
    type Err = Error;
    fn from_str(text: &str) -> Result<Manifest, Error> {
        Manifest::from_yaml_str(text)
    }
}

#[cfg(test)]
mod tests;
