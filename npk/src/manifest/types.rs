//! Validating value types: each checks its rules on construction, so a value of the type is
//! always valid. Names, versions, container paths, capabilities and syscall names.

use super::de::string_type_serde;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use std::{
    borrow::Cow,
    collections::BTreeSet,
    fmt,
    path::{Path, PathBuf},
    str::FromStr,
    sync::OnceLock,
};

/// Longest container name accepted. Northstar 0.9 allows 1024; we keep names short enough
/// that `<name>-<version>.npk` always fits a file name (255 bytes) with any version.
pub const MAX_NAME_LEN: usize = 128;
/// Longest path accepted (`PATH_MAX`).
pub const MAX_PATH_LEN: usize = 4096;

/// Is `c` allowed in a name (`[0-9A-Za-z._-]`)?
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

/// Check a file-name-like identifier: 1..=`max` characters of `[0-9A-Za-z._-]`, not `.`/`..`.
pub(crate) fn check_identifier(value: &str, max: usize) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if value.len() > max {
        return Err(format!("is longer than {max} characters"));
    }
    if let Some(c) = value.chars().find(|c| !is_name_char(*c)) {
        return Err(format!(
            "invalid character {c:?} (allowed: 0-9 A-Z a-z . _ -)"
        ));
    }
    if value == "." || value == ".." {
        return Err(format!("{value:?} is not a valid name"));
    }
    Ok(())
}

/// A container name: 1..=[`MAX_NAME_LEN`] characters of `[0-9A-Za-z._-]`, not `.` or `..`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

impl Name {
    /// Validate `value` as a name.
    pub fn new(value: &str) -> Result<Name, String> {
        check_identifier(value, MAX_NAME_LEN).map_err(|e| format!("invalid name: {e}"))?;
        Ok(Name(value.to_string()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Name {
    type Err = String;
    fn from_str(s: &str) -> Result<Name, String> {
        Name::new(s)
    }
}

string_type_serde!(Name, "a name of 0-9 A-Z a-z . _ -");

impl JsonSchema for Name {
    fn schema_name() -> Cow<'static, str> {
        "Name".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[0-9A-Za-z._-]+$",
            "minLength": 1,
            "maxLength": MAX_NAME_LEN,
        })
    }
}

/// A container version: `major.minor.patch`. Pre-release and build metadata are refused:
/// Northstar 0.9 drops them silently, so `1.0.0-rc1` and `1.0.0` would be the same package.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(semver::Version);

impl Version {
    /// A version from its three numbers.
    pub const fn new(major: u64, minor: u64, patch: u64) -> Version {
        Version(semver::Version::new(major, minor, patch))
    }

    /// Parse and validate a version.
    pub fn new_from_str(value: &str) -> Result<Version, String> {
        let version = semver::Version::parse(value.trim())
            .map_err(|e| format!("invalid version {value:?}: {e}"))?;
        if !version.pre.is_empty() || !version.build.is_empty() {
            return Err(format!(
                "invalid version {value:?}: pre-release and build metadata are not supported"
            ));
        }
        Ok(Version(version))
    }

    /// The semver value.
    pub fn as_semver(&self) -> &semver::Version {
        &self.0
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for Version {
    type Err = String;
    fn from_str(s: &str) -> Result<Version, String> {
        Version::new_from_str(s)
    }
}

impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Version;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a version major.minor.patch")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Version, E> {
                Version::new_from_str(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl JsonSchema for Version {
    fn schema_name() -> Cow<'static, str> {
        "Version".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)$",
        })
    }
}

/// Check an absolute path inside a container or on the host: starts with `/`, no NUL, no `.`
/// or `..` components, no empty components (`//`), at most [`MAX_PATH_LEN`] bytes. A
/// trailing `/` is removed. Returns the normalized path.
pub(crate) fn check_abs_path(value: &str) -> Result<PathBuf, String> {
    if value.len() > MAX_PATH_LEN {
        return Err(format!("is longer than {MAX_PATH_LEN} bytes"));
    }
    if value.contains('\0') {
        return Err("must not contain a NUL byte".into());
    }
    if !value.starts_with('/') {
        return Err(format!("{value:?} is not absolute"));
    }
    let body = value.trim_end_matches('/');
    for part in body.split('/').skip(1) {
        match part {
            "" => return Err(format!("{value:?} contains an empty component (\"//\")")),
            "." => return Err(format!("{value:?} must not contain \".\"")),
            ".." => return Err(format!("{value:?} must not contain \"..\"")),
            _ => (),
        }
    }
    Ok(PathBuf::from(if body.is_empty() { "/" } else { body }))
}

/// An absolute path (see [`check_abs_path`]); `/` itself is allowed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AbsPath(PathBuf);

impl AbsPath {
    /// Validate and normalize `value`.
    pub fn new(value: &str) -> Result<AbsPath, String> {
        check_abs_path(value).map(AbsPath)
    }

    /// The path.
    pub fn as_path(&self) -> &Path {
        &self.0
    }
}

impl fmt::Display for AbsPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.display(), f)
    }
}

string_type_serde!(AbsPath, "an absolute path");

/// Where a mount goes in the container: an absolute path (see [`check_abs_path`]) other than
/// `/`, stored without a trailing `/`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MountPoint(PathBuf);

impl MountPoint {
    /// Validate and normalize `value`.
    pub fn new(value: &str) -> Result<MountPoint, String> {
        let path = check_abs_path(value).map_err(|e| format!("invalid mount point: {e}"))?;
        if path == Path::new("/") {
            return Err("invalid mount point: must not be \"/\"".into());
        }
        Ok(MountPoint(path))
    }

    /// The path.
    pub fn as_path(&self) -> &Path {
        &self.0
    }
}

impl fmt::Display for MountPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.display(), f)
    }
}

string_type_serde!(MountPoint, "an absolute mount point");

macro_rules! path_schema {
    ($type:ty, $name:literal) => {
        impl JsonSchema for $type {
            fn schema_name() -> Cow<'static, str> {
                $name.into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "pattern": "^/", "maxLength": MAX_PATH_LEN })
            }
        }
    };
}
path_schema!(AbsPath, "AbsPath");
path_schema!(MountPoint, "MountPoint");

/// Parse a data list: one entry per line, `#` starts a comment.
fn parse_list(text: &'static str) -> BTreeSet<&'static str> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter(|entry| !entry.is_empty())
        .collect()
}

/// The Linux capability names (`capabilities.txt`).
pub fn known_capabilities() -> &'static BTreeSet<&'static str> {
    static LIST: OnceLock<BTreeSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| parse_list(include_str!("capabilities.txt")))
}

/// The syscall names of x86_64, aarch64 and arm (`syscalls.txt`).
pub fn known_syscalls() -> &'static BTreeSet<&'static str> {
    static LIST: OnceLock<BTreeSet<&'static str>> = OnceLock::new();
    LIST.get_or_init(|| parse_list(include_str!("syscalls.txt")))
}

/// A Linux capability name such as `CAP_KILL` (one of [`known_capabilities`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Capability(String);

impl Capability {
    /// Validate `value` as a capability name.
    pub fn new(value: &str) -> Result<Capability, String> {
        if known_capabilities().contains(value) {
            Ok(Capability(value.to_string()))
        } else {
            Err(format!("unknown capability {value:?}"))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The kernel's number for this capability (`CAP_CHOWN` = 0, ...): its position in
    /// `capabilities.txt`, which lists them in kernel order.
    pub fn number(&self) -> u32 {
        include_str!("capabilities.txt")
            .lines()
            .map(|line| line.split('#').next().unwrap_or("").trim())
            .filter(|entry| !entry.is_empty())
            .position(|name| name == self.0)
            .map_or(u32::MAX, |n| n as u32)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_type_serde!(Capability, "a capability name CAP_*");

impl JsonSchema for Capability {
    fn schema_name() -> Cow<'static, str> {
        "Capability".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let names: Vec<&str> = known_capabilities().iter().copied().collect();
        json_schema!({ "type": "string", "enum": names })
    }
}

/// A system call name known on at least one target architecture (one of [`known_syscalls`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SyscallName(String);

impl SyscallName {
    /// Validate `value` as a syscall name.
    pub fn new(value: &str) -> Result<SyscallName, String> {
        if known_syscalls().contains(value) {
            Ok(SyscallName(value.to_string()))
        } else {
            Err(format!("unknown syscall {value:?}"))
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SyscallName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_type_serde!(SyscallName, "a syscall name");

impl JsonSchema for SyscallName {
    fn schema_name() -> Cow<'static, str> {
        "SyscallName".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": "^[a-z0-9_]+$" })
    }
}
