//! `seccomp`: the system calls the container may make.

use super::types::SyscallName;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Seccomp configuration: a predefined profile and/or an allow list. Everything not allowed
/// kills the process.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Seccomp {
    /// Predefined profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    /// Allowed system calls, by name.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::de::unique_map_opt"
    )]
    pub allow: Option<BTreeMap<SyscallName, SyscallRule>>,
}

/// A predefined profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// An allow list similar to Docker's default profile.
    Default,
}

/// When an allowed syscall is allowed: `any`, or `!args {index, values, mask}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum SyscallRule {
    /// With any arguments.
    Any,
    /// Only when one argument matches.
    Args(ArgRule),
}

/// An argument filter: argument `index` equals one of `values`, and/or has no bits outside
/// `mask`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArgRule {
    /// Argument index 0..=5.
    pub index: u8,
    /// Allowed values (at most 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<u64>>,
    /// Allowed bits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<u64>,
}
