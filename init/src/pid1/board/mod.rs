//! The board configuration (`/etc/northstar/board.toml` in the initramfs): which modules
//! to load, where the root and data partitions are, the watchdog, the management channel,
//! the reaction to fatal errors. Typed, unknown keys refused; `northstar.*` keys of the
//! kernel command line override it ([`super::overrides`]); every rule is checked after the
//! overrides, and an error names the file or the command line key it comes from. Keys and
//! defaults are listed in `doc/boot.md`.

mod overrides;
pub mod slots;
mod validate;

use super::cmdline::Param;
use runtime_core::config::units;
use serde::{Deserialize, Deserializer};
use std::{
    fs,
    io::{self, Read},
    path::{Path, PathBuf},
    time::Duration,
};

/// Where the init reads the board configuration.
pub const PATH: &str = "/etc/northstar/board.toml";
/// Largest board configuration read, in bytes.
pub const MAX_SIZE: u64 = 64 * 1024;
/// Longest time to wait for a device node.
pub const MAX_WAIT: Duration = Duration::from_secs(600);
/// Longest watchdog timeout accepted.
pub const MAX_WATCHDOG_TIMEOUT: Duration = Duration::from_secs(3600);

/// What the init does after a fatal error (and, with the runtime's `critical = "exit"`,
/// after a critical container failed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reaction {
    /// Orderly shutdown, then `reboot(RB_AUTOBOOT)`.
    #[default]
    Reboot,
    /// Orderly shutdown, then `reboot(RB_POWER_OFF)`.
    PowerOff,
    /// A message on the console; the init keeps reaping, feeding the watchdog and
    /// answering signals, for inspection.
    Hold,
}

impl std::str::FromStr for Reaction {
    type Err = String;
    fn from_str(s: &str) -> Result<Reaction, String> {
        match s {
            "reboot" => Ok(Reaction::Reboot),
            "poweroff" => Ok(Reaction::PowerOff),
            "hold" => Ok(Reaction::Hold),
            other => Err(format!(
                "unknown reaction {other:?}: expected reboot, poweroff or hold"
            )),
        }
    }
}

impl std::fmt::Display for Reaction {
    /// The spelling of the board configuration and the command line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Reaction::Reboot => "reboot",
            Reaction::PowerOff => "poweroff",
            Reaction::Hold => "hold",
        })
    }
}

/// The init's log level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl LogLevel {
    /// The `log` crate's filter for this level.
    pub fn filter(self) -> log::LevelFilter {
        match self {
            LogLevel::Error => log::LevelFilter::Error,
            LogLevel::Warn => log::LevelFilter::Warn,
            LogLevel::Info => log::LevelFilter::Info,
            LogLevel::Debug => log::LevelFilter::Debug,
            LogLevel::Trace => log::LevelFilter::Trace,
        }
    }
}

impl std::str::FromStr for LogLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<LogLevel, String> {
        match s {
            "error" => Ok(LogLevel::Error),
            "warn" => Ok(LogLevel::Warn),
            "info" => Ok(LogLevel::Info),
            "debug" => Ok(LogLevel::Debug),
            "trace" => Ok(LogLevel::Trace),
            other => Err(format!(
                "unknown log level {other:?}: expected error, warn, info, debug or trace"
            )),
        }
    }
}

/// The whole board configuration.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    /// The board's name (shown in the log).
    pub name: String,
    /// Kernel modules to load, with their dependencies, in this order.
    #[serde(default)]
    pub modules: Vec<String>,
    /// The reaction to fatal errors.
    #[serde(default)]
    pub reaction: Reaction,
    /// The init's log level.
    #[serde(default)]
    pub log: LogLevel,
    /// The verified root file system.
    pub root: Root,
    /// The data partition; absent: nothing is mounted at `/data`.
    #[serde(default)]
    pub data: Option<Data>,
    /// The hardware watchdog; absent: none is used.
    #[serde(default)]
    pub watchdog: Option<Watchdog>,
    /// The management channel from a host (a virtio-serial port); absent: none.
    #[serde(default)]
    pub channel: Option<Channel>,
    /// The runtime.
    #[serde(default)]
    pub runtime: Runtime,
    /// Ignore the command line's `root.*`, `runtime.*` and `slot` keys: only the signed
    /// descriptor decides what is root (a Raspberry Pi's `cmdline.txt` is not signed).
    #[serde(default)]
    pub lockdown: bool,
    /// A/B root slots; absent: one root (`[root] device`).
    #[serde(default)]
    pub slots: Option<slots::Slots>,
    /// The command line keys lockdown ignored, as written there.
    #[serde(skip)]
    pub ignored: Vec<String>,
}

/// `[root]`: the read-only root file system and how it is verified.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Root {
    /// The block device holding squashfs + verity superblock + hash tree.
    pub device: PathBuf,
    /// The signed root descriptor (in the initramfs).
    #[serde(default = "default_descriptor")]
    pub descriptor: PathBuf,
    /// Its signature; absent: the descriptor's path with `.sig` appended.
    #[serde(default)]
    pub signature: Option<PathBuf>,
    /// The public key that signs the descriptor (in the initramfs).
    #[serde(default = "default_key")]
    pub key: PathBuf,
    /// How long to wait for `device` to appear.
    #[serde(default = "default_wait", deserialize_with = "duration")]
    pub wait: Duration,
    /// The root hash (64 hex digits). With `salt` and `data_blocks` it replaces the
    /// descriptor: the three come from the trusted initramfs or kernel command line.
    #[serde(default)]
    pub hash: Option<String>,
    /// The verity salt (64 hex digits); only with `hash`.
    #[serde(default)]
    pub salt: Option<String>,
    /// The number of 4096-byte squashfs blocks; only with `hash`.
    #[serde(default)]
    pub data_blocks: Option<u64>,
}

/// `[data]`: the read-write data partition, mounted at `/data`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Data {
    /// The block device.
    pub device: PathBuf,
    /// Its file system type.
    #[serde(default = "default_fs")]
    pub fs: String,
    /// How long to wait for `device` to appear.
    #[serde(default = "default_wait", deserialize_with = "duration")]
    pub wait: Duration,
}

/// `[watchdog]`: the hardware watchdog the main loop feeds.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Watchdog {
    /// The watchdog device, e.g. `/dev/watchdog0`.
    pub device: PathBuf,
    /// Timeout set with `WDIOC_SETTIMEOUT` (whole seconds); fed every quarter of it.
    #[serde(default = "default_watchdog_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
}

/// `[channel]`: a virtio-serial port or a serial line whose link protocol carries
/// sessions of the management API, so that a host (a QEMU machine's, a lab machine on
/// the board's UART) can manage the runtime (`doc/channel.md`). Exactly one of `port`
/// and `device`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// A virtio port's name as the host gives it (`/sys/class/virtio-ports/*/name`).
    #[serde(default)]
    pub port: Option<String>,
    /// A serial line's device node (a UART, a USB gadget serial port).
    #[serde(default)]
    pub device: Option<PathBuf>,
    /// The serial line's speed in bits per second.
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// How long to wait for the port to appear.
    #[serde(default = "default_wait", deserialize_with = "duration")]
    pub wait: Duration,
}

/// `[runtime]`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runtime {
    /// The runtime configuration, a path in the verified root.
    #[serde(default = "default_runtime_config")]
    pub config: PathBuf,
}

impl Default for Runtime {
    fn default() -> Runtime {
        Runtime {
            config: default_runtime_config(),
        }
    }
}

pub(crate) fn default_descriptor() -> PathBuf {
    PathBuf::from("/etc/northstar/root.verity")
}
pub(crate) fn default_key() -> PathBuf {
    PathBuf::from("/etc/northstar/root.pub")
}
pub(crate) fn default_wait() -> Duration {
    Duration::from_secs(10)
}
pub(crate) fn default_baud() -> u32 {
    northstar_channel::serial::DEFAULT_BAUD
}
pub(crate) fn default_fs() -> String {
    "ext4".to_string()
}
pub(crate) fn default_watchdog_timeout() -> Duration {
    Duration::from_secs(10)
}
pub(crate) fn default_runtime_config() -> PathBuf {
    PathBuf::from("/etc/northstar/runtime.toml")
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    units::duration::deserialize(d)
}

/// Why the board configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: larger than {MAX_SIZE} bytes", path.display())]
    TooLarge { path: PathBuf },
    #[error("{}: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error("{origin}: {key}: {message}")]
    Invalid {
        /// The file, or `kernel command line` when the key was overridden there.
        origin: String,
        /// The key as written where it came from (`watchdog.timeout` in the file,
        /// `northstar.watchdog.timeout` on the command line).
        key: String,
        message: String,
    },
}

impl Error {
    /// The key the error is about, if it is about one.
    #[cfg(test)]
    pub fn key(&self) -> Option<&str> {
        match self {
            Error::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

impl Board {
    /// Read `path`, apply the command line's `northstar.*` keys in order, check every rule.
    pub fn load(path: &Path, params: &[Param]) -> Result<Board, Error> {
        let text = read(path)?;
        Board::parse(&text, path, params)
    }

    /// Parse `text` (from `path`), apply `params`, check every rule.
    pub fn parse(text: &str, path: &Path, params: &[Param]) -> Result<Board, Error> {
        let mut board: Board = toml::from_str(text).map_err(|e| Error::Parse {
            path: path.to_owned(),
            message: toml_message(text, &e),
        })?;
        let mut overridden = Vec::new();
        for param in params {
            if board.lockdown && locked(&param.key) {
                board
                    .ignored
                    .push(format!("{}{}", super::cmdline::PREFIX, param.key));
                continue;
            }
            // The booted slot is read from the command line by `slots::booted`.
            if param.key == "slot" {
                continue;
            }
            overrides::apply(&mut board, param)?;
            overridden.push(param.key.clone());
        }
        board.validate().map_err(|(key, message)| {
            // A rule broken by a key the command line set is reported as that key.
            let from = |k: &String| {
                key == *k || key.starts_with(&format!("{k}.")) || key.starts_with(&format!("{k}["))
            };
            if overridden.iter().any(from) {
                Error::Invalid {
                    origin: "kernel command line".to_string(),
                    key: format!("{}{key}", super::cmdline::PREFIX),
                    message,
                }
            } else {
                Error::Invalid {
                    origin: path.display().to_string(),
                    key,
                    message,
                }
            }
        })?;
        Ok(board)
    }

    /// The root descriptor's signature file.
    pub fn root_signature(&self) -> PathBuf {
        self.root.signature.clone().unwrap_or_else(|| {
            let mut path = self.root.descriptor.clone().into_os_string();
            path.push(".sig");
            PathBuf::from(path)
        })
    }
}

/// Whether lockdown ignores command line key `key` (without `northstar.`).
fn locked(key: &str) -> bool {
    let table = key.split('.').next().unwrap_or(key);
    matches!(table, "root" | "runtime" | "slot" | "slots")
}

/// The reaction when the board configuration itself cannot be used: the command line's
/// `northstar.reaction` if it is valid, else the file's `reaction` if it can be read,
/// else the default.
pub fn fallback_reaction(text: Option<&str>, params: &[Param]) -> Reaction {
    let from_cmdline = params
        .iter()
        .rev()
        .find(|p| p.key == "reaction")
        .and_then(|p| p.value.as_deref()?.parse().ok());
    let from_file = || {
        let table: toml::Table = toml::from_str(text?).ok()?;
        table.get("reaction")?.as_str()?.parse().ok()
    };
    from_cmdline.or_else(from_file).unwrap_or_default()
}

/// The text of the board configuration file.
pub fn read(path: &Path) -> Result<String, Error> {
    let read = |source| Error::Read {
        path: path.to_owned(),
        source,
    };
    let file = fs::File::open(path).map_err(read)?;
    let mut text = String::new();
    file.take(MAX_SIZE + 1)
        .read_to_string(&mut text)
        .map_err(read)?;
    if text.len() as u64 > MAX_SIZE {
        return Err(Error::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(text)
}

/// A TOML error as `line <n>: <message>`.
pub fn toml_message(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim();
    match e.span() {
        Some(span) => {
            let line = text
                .get(..span.start)
                .map_or(0, |before| before.matches('\n').count())
                .saturating_add(1);
            format!("line {line}: {message}")
        }
        None => message.to_string(),
    }
}

#[cfg(test)]
mod shipped;
#[cfg(test)]
mod slots_tests;
#[cfg(test)]
mod tests;
