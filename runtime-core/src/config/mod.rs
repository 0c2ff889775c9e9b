//! The runtime's configuration file (TOML): its types, defaults, parsing and validation.
//!
//! [`Config::load`] reads a file, [`Config::from_toml_str`] parses text; both validate.
//! Unknown keys are errors at every level, and every error names the file, the line and
//! the key path. The keys, defaults and rules are listed in `doc/config.md`.
//!
//! This module only describes the configuration; opening repositories, creating
//! directories or checking devices is done by the modules that use it.

mod api;
mod api_tcp;
mod error;
mod policy;
mod spans;
pub mod units;
pub mod update;
mod validate;
pub mod verify;

pub use api::{ApiConfig, Grant};
pub use api_tcp::{TcpConfig, TcpGrant};
pub use error::Error;
pub use policy::{Allow, Limit, Policy, Sched};
pub use update::{Health, UpdateConfig};
pub use validate::valid_repository_name;
pub use verify::VerifyConfig;

use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeMap,
    fs,
    io::Read,
    path::{Component, Path, PathBuf},
    time::Duration,
};

/// Largest configuration file read, in bytes.
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;

/// Longest `stop_timeout` accepted.
pub const MAX_STOP_TIMEOUT: Duration = Duration::from_secs(3600);

/// Largest `log_buffer`: bytes of output kept for each container.
pub const MAX_LOG_BUFFER: u64 = 16 * 1024 * 1024;

/// Default `pids.max` of a container: far more than an embedded service needs (threads
/// count too), far fewer than a fork bomb makes. doc/cgroups.md says why.
pub const DEFAULT_PIDS_MAX: u64 = 256;

/// Default memory limit of a container (256 MiB).
pub const DEFAULT_MEMORY_MAX: u64 = 256 * 1024 * 1024;

/// Default `pids.max` of the runtime's group (all containers together).
pub const RUNTIME_PIDS_MAX: u64 = 4096;

/// Default memory the runtime's group leaves to PID 1 and the rest of the system (64 MiB).
pub const RUNTIME_MEMORY_RESERVE: u64 = 64 * 1024 * 1024;

/// Smallest container memory limit accepted as a default (4 MiB): below that not even a
/// static program starts.
pub const MIN_MEMORY_MAX: u64 = 4 * 1024 * 1024;

/// The runtime's configuration.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where packages are mounted: `run_dir/<name>:<version>`.
    pub run_dir: PathBuf,
    /// Persistent container data: `data_dir/@<repository>/<name>`.
    pub data_dir: PathBuf,
    /// A development image: unverified repositories may sit next to keyed ones. Logged as
    /// a warning at every start and shown in the boot report.
    pub development: bool,
    /// Grace between SIGTERM and SIGKILL when a container is stopped.
    #[serde(with = "units::duration")]
    pub stop_timeout: Duration,
    /// Bytes of captured container output kept per container.
    #[serde(deserialize_with = "units::size::deserialize")]
    pub log_buffer: u64,
    /// Host paths (and everything below them) that manifests may bind-mount. Empty: none.
    pub bind_allow: Vec<PathBuf>,
    /// What a failure of a critical container triggers.
    pub critical: Reaction,
    /// Control groups.
    pub cgroups: CgroupsConfig,
    /// Whether SELinux must be enabled for containers with a `selinux.context`.
    pub selinux: SelinuxMode,
    /// Device nodes.
    pub devices: Devices,
    /// Package repositories by name.
    pub repositories: BTreeMap<String, RepositoryConfig>,
    /// User-defined network namespaces and bridges.
    pub network: crate::net::config::Network,
    /// The management API; absent: not served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api: Option<ApiConfig>,
    /// Update transactions.
    pub update: UpdateConfig,
    /// Checks of installed packages.
    pub verify: VerifyConfig,
}

/// The runtime's reaction to a failed critical container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reaction {
    /// Stop every container and end the runtime (`init` then acts on its own policy).
    #[default]
    Exit,
    /// Reboot the machine.
    Reboot,
    /// Power the machine off.
    PowerOff,
    /// Keep the system as it is, for inspection.
    Hold,
}

/// Control group settings.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CgroupsConfig {
    /// Where the cgroup hierarchy is mounted.
    pub root: PathBuf,
    /// The runtime's group below `root` (relative, no `..`); containers are below it.
    pub name: String,
    /// `pids.max` of a container whose manifest sets no `cgroups.pids`.
    pub default_pids_max: u64,
    /// Memory limit of a container whose manifest sets no `memory_hard_limit`.
    #[serde(deserialize_with = "units::size::deserialize")]
    pub default_memory_max: u64,
    /// `pids.max` of the runtime's group: all containers together.
    pub runtime_pids_max: u64,
    /// Memory the runtime's group leaves free: its limit is the machine's memory
    /// (`MemTotal`) minus this, so PID 1 keeps room when containers use all theirs.
    #[serde(deserialize_with = "units::size::deserialize")]
    pub runtime_memory_reserve: u64,
}

/// What a container's `selinux.context` needs of the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SelinuxMode {
    /// Applied where SELinux is enabled; elsewhere the start logs a warning and
    /// `inspect` reports the context as not applied.
    #[default]
    Optional,
    /// A container with a context is refused where SELinux is not enabled.
    Required,
}

/// Device nodes the runtime uses for mounting packages.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Devices {
    /// The loop control device.
    pub loop_control: PathBuf,
    /// Prefix of loop devices: `<loop_dev><N>`.
    pub loop_dev: PathBuf,
    /// The device-mapper control device.
    pub device_mapper: PathBuf,
    /// Prefix of device-mapper nodes: `<dm_dev><N>`, created when missing.
    pub dm_dev: PathBuf,
    /// Attach loop devices with direct I/O.
    pub loop_direct_io: bool,
}

/// One repository: a directory of packages and how they are trusted.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryConfig {
    /// Directory holding the `*.npk` files.
    pub dir: PathBuf,
    /// Public key file: packages must be signed with the matching key (and are mounted
    /// through dm-verity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<PathBuf>,
    /// Accept unsigned packages (development only). Required without `key`, refused with it.
    #[serde(default)]
    pub unverified: bool,
    /// Most packages the repository holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_packages: Option<u32>,
    /// Most bytes of package files the repository holds.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "units::size::option"
    )]
    pub max_bytes: Option<u64>,
    /// Mount every package of the repository when the runtime starts.
    #[serde(default)]
    pub mount_on_start: bool,
    /// Keyed repositories (with another key) whose packages this repository's containers
    /// may use as resources. Repositories with the same key are trusted without being
    /// named; an unverified repository is never trusted by a keyed one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources_from: Vec<String>,
    /// What the manifests of its packages may ask for.
    #[serde(default)]
    pub policy: Policy,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            run_dir: PathBuf::from("/run/northstar"),
            data_dir: PathBuf::from("/data/northstar"),
            development: false,
            stop_timeout: Duration::from_secs(5),
            log_buffer: 65536,
            bind_allow: Vec::new(),
            critical: Reaction::Exit,
            cgroups: CgroupsConfig::default(),
            selinux: SelinuxMode::Optional,
            devices: Devices::default(),
            repositories: BTreeMap::new(),
            network: Default::default(),
            api: None,
            update: UpdateConfig::default(),
            verify: VerifyConfig::default(),
        }
    }
}

impl Default for CgroupsConfig {
    fn default() -> CgroupsConfig {
        CgroupsConfig {
            root: PathBuf::from("/sys/fs/cgroup"),
            name: "northstar".to_string(),
            default_pids_max: DEFAULT_PIDS_MAX,
            default_memory_max: DEFAULT_MEMORY_MAX,
            runtime_pids_max: RUNTIME_PIDS_MAX,
            runtime_memory_reserve: RUNTIME_MEMORY_RESERVE,
        }
    }
}

impl Default for Devices {
    fn default() -> Devices {
        Devices {
            loop_control: PathBuf::from("/dev/loop-control"),
            loop_dev: PathBuf::from("/dev/loop"),
            device_mapper: PathBuf::from("/dev/mapper/control"),
            dm_dev: PathBuf::from("/dev/dm-"),
            loop_direct_io: true,
        }
    }
}

impl Config {
    /// Read the file at `path` (at most [`MAX_FILE_SIZE`] bytes), parse and validate it.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let read = |source| Error::Read {
            path: path.to_owned(),
            source,
        };
        let file = fs::File::open(path).map_err(read)?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE_SIZE + 1)
            .read_to_end(&mut bytes)
            .map_err(read)?;
        if bytes.len() as u64 > MAX_FILE_SIZE {
            return Err(Error::TooLarge {
                path: path.to_owned(),
                limit: MAX_FILE_SIZE,
            });
        }
        let text = String::from_utf8(bytes).map_err(|e| Error::Parse {
            file: path.to_owned(),
            line: Some(spans::line_of(e.as_bytes(), e.utf8_error().valid_up_to())),
            key: None,
            message: "not UTF-8".to_string(),
        })?;
        Config::from_toml_str(&text, path)
    }

    /// Parse and validate `text`; `origin` is the file name used in errors.
    pub fn from_toml_str(text: &str, origin: &Path) -> Result<Config, Error> {
        let parse_error = |e: toml::de::Error, root: Option<&toml::de::DeTable<'_>>| {
            let span = e.span();
            let key = root.zip(span.clone()).map(|(root, span)| {
                let mut path = spans::path_at(root, span.start);
                if let Some(field) = missing_field(e.message()) {
                    path.push(spans::Step::Key(field.to_string()));
                }
                spans::render(&path)
            });
            Error::Parse {
                file: origin.to_owned(),
                line: span.map(|s| spans::line_of(text.as_bytes(), s.start)),
                key: key.filter(|k| !k.is_empty()),
                message: e.message().trim().to_string(),
            }
        };
        let document = toml::de::DeTable::parse(text).map_err(|e| parse_error(e, None))?;
        let config = Config::deserialize(toml::de::Deserializer::from(document.clone()))
            .map_err(|e| parse_error(e, Some(document.get_ref())))?;
        validate::validate(&config).map_err(|problem| Error::Invalid {
            file: Some(origin.to_owned()),
            line: spans::span_of(document.get_ref(), &problem.path)
                .map(|s| spans::line_of(text.as_bytes(), s.start)),
            key: spans::render(&problem.path),
            message: problem.message,
        })?;
        Ok(config)
    }

    /// Check the rules of `doc/config.md` on a configuration built in code (parsing does
    /// this already). Errors name the key but no file or line.
    pub fn validate(&self) -> Result<(), Error> {
        validate::validate(self).map_err(|problem| Error::Invalid {
            file: None,
            line: None,
            key: spans::render(&problem.path),
            message: problem.message,
        })
    }

    /// Whether manifests may bind-mount `host`: it is one of `bind_allow` or below one,
    /// compared by path components. A relative `host` or one with `..` is never allowed.
    pub fn bind_allowed(&self, host: &Path) -> bool {
        if !host.is_absolute() || host.components().any(|c| c == Component::ParentDir) {
            return false;
        }
        self.bind_allow
            .iter()
            .any(|allowed| host.starts_with(allowed))
    }
}

/// The field of serde's "missing field `x`" message.
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")?
        .split_once('`')
        .map(|(field, _)| field)
}
