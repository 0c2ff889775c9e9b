//! The process settings of an application container: scheduling, io, autostart, network,
//! resource limits, sockets, console permissions and SELinux.

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{
    de::{self, Visitor},
    Deserialize, Deserializer, Serialize, Serializer,
};
use std::{borrow::Cow, collections::BTreeSet, fmt, marker::PhantomData};

/// `sched`: scheduling of the container's init.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sched {
    /// The policy and its parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<Policy>,
}

/// A scheduling policy, written with a YAML tag: `!other {nice: 5}`, `!fifo {priority: 10}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Policy {
    /// `SCHED_OTHER` with a nice value -20..=19.
    Other {
        /// Nice value.
        #[serde(default)]
        nice: i8,
    },
    /// `SCHED_FIFO` with a priority 1..=99.
    Fifo {
        /// Real-time priority.
        priority: u32,
    },
    /// `SCHED_RR` with a priority 1..=99.
    RoundRobin {
        /// Real-time priority.
        priority: u32,
    },
    /// `SCHED_BATCH` with a nice value -20..=19.
    Batch {
        /// Nice value.
        #[serde(default)]
        nice: i8,
    },
    /// `SCHED_IDLE`.
    Idle,
    /// `SCHED_DEADLINE`.
    Deadline,
}

/// `io`: where stdout and stderr go.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Io {
    /// Standard output (default `discard`).
    #[serde(default)]
    pub stdout: Output,
    /// Standard error (default `discard`).
    #[serde(default)]
    pub stderr: Output,
}

/// Destination of an output stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Output {
    /// /dev/null.
    #[default]
    Discard,
    /// Forwarded line by line to the runtime's log.
    Pipe,
    /// Copied as written to the runtime's own stdout/stderr, through a pipe: the
    /// container never holds the runtime's descriptors.
    Inherit,
}

/// `autostart`: start the container when the runtime starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Autostart {
    /// Failures to start, and the exit, are logged and ignored.
    Relaxed,
    /// A failure to start, or an exit, is a failure of the runtime.
    Critical,
}

/// `network`: absent = a new, empty network namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// Share the host's network namespace.
    Host,
    /// Join the named network namespace (`!namespace name`).
    Namespace(String),
}

/// A resource of `setrlimit(2)`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum RlimitResource {
    As,
    Core,
    Cpu,
    Data,
    Fsize,
    Locks,
    Memlock,
    Msgqueue,
    Nice,
    Nofile,
    Nproc,
    Rss,
    Rtprio,
    Rttime,
    Sigpending,
    Stack,
}

impl fmt::Display for RlimitResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        f.write_str(&text)
    }
}

/// The limits of one resource; absent = unlimited.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RlimitValue {
    /// Soft limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft: Option<u64>,
    /// Hard limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard: Option<u64>,
}

/// A unix socket the runtime creates (and listens on) for the container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Socket {
    /// Socket type.
    #[serde(rename = "type")]
    pub kind: SocketType,
    /// Permission bits of the socket file, at most 0o777.
    pub mode: u32,
    /// Owner (default: the container's uid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// Group (default: the container's gid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
}

/// Type of a unix socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SocketType {
    /// `SOCK_STREAM`.
    Stream,
    /// `SOCK_DGRAM`.
    Datagram,
    /// `SOCK_SEQPACKET`.
    SeqPacket,
}

/// `selinux`: the context the container's init runs in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Selinux {
    /// SELinux context, e.g. `system_u:system_r:app_t:s0`.
    pub context: String,
}

/// `console`: access of the container to the runtime's management API.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Console {
    /// Allowed requests: a list, or `full` for all of them.
    pub permissions: Permissions,
    /// Requests processed per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests_per_sec: Option<u64>,
    /// Largest request in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_size: Option<u64>,
    /// Largest package the container may install, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_npk_install_size: Option<u64>,
    /// Timeout of a package upload, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub npk_stream_timeout: Option<u64>,
}

/// A management API permission (the set of Northstar 0.9).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)]
pub enum Permission {
    Ident,
    Inspect,
    Install,
    Kill,
    List,
    Mount,
    Notifications,
    Repositories,
    Shutdown,
    Start,
    Token,
    Umount,
    Uninstall,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 13] = [
        Permission::Ident,
        Permission::Inspect,
        Permission::Install,
        Permission::Kill,
        Permission::List,
        Permission::Mount,
        Permission::Notifications,
        Permission::Repositories,
        Permission::Shutdown,
        Permission::Start,
        Permission::Token,
        Permission::Umount,
        Permission::Uninstall,
    ];
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        f.write_str(&text)
    }
}

/// What the runtime's requests of a console permission can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Targets {
    /// Containers by name: `inspect`, `kill`. Without a target: the container itself.
    Containers,
    /// Repositories by name: `install`, `uninstall`. Without a target: every repository.
    Repositories,
}

impl Permission {
    /// What an entry of this permission can name (`kill:<name>`), if anything.
    pub fn targets(self) -> Option<Targets> {
        match self {
            Permission::Inspect | Permission::Kill => Some(Targets::Containers),
            Permission::Install | Permission::Uninstall => Some(Targets::Repositories),
            _ => None,
        }
    }
}

/// What an entry of `console.permissions` names.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// None given (`kill`): the container itself for a container permission, every
    /// repository for `install` and `uninstall`, as Northstar 0.9 wrote them.
    Default,
    /// `*` (`kill:*`): every container or repository.
    Any,
    /// A container name (`kill:<name>`, every version) or a repository name
    /// (`install:<repository>`).
    Named(String),
}

/// One entry of `console.permissions`: a permission and what it names, written `kill`,
/// `kill:*` or `kill:<name>`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Grant {
    /// The permission.
    pub permission: Permission,
    /// What it names.
    pub target: Target,
}

impl Grant {
    /// Parse `name` or `name:target`.
    fn parse<E: de::Error>(text: &str) -> Result<Grant, E> {
        let (name, target) = match text.split_once(':') {
            Some((name, target)) => (name, Some(target)),
            None => (text, None),
        };
        let permission = Permission::ALL
            .into_iter()
            .find(|p| p.to_string() == name)
            .ok_or_else(|| E::unknown_variant(name, PERMISSION_NAMES))?;
        let Some(target) = target else {
            return Ok(Grant {
                permission,
                target: Target::Default,
            });
        };
        let target = match (permission.targets(), target) {
            (None, _) => {
                return Err(E::custom(format!(
                    "invalid permission {text:?}: {name} names no container or repository"
                )))
            }
            (Some(_), "*") => Target::Any,
            (Some(Targets::Containers), name) => {
                super::Name::new(name)
                    .map_err(|e| E::custom(format!("invalid permission {text:?}: {e}")))?;
                Target::Named(name.to_string())
            }
            (Some(Targets::Repositories), name) => {
                check_repository(name)
                    .map_err(|e| E::custom(format!("invalid permission {text:?}: {e}")))?;
                Target::Named(name.to_string())
            }
        };
        Ok(Grant { permission, target })
    }
}

/// The rule of a repository's name in the runtime's configuration.
fn check_repository(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err("a repository name has 1 to 64 characters".into());
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err("a repository name has only the characters A-Z a-z 0-9 . _ -".into());
    }
    Ok(())
}

const PERMISSION_NAMES: &[&str] = &[
    "ident",
    "inspect",
    "install",
    "kill",
    "list",
    "mount",
    "notifications",
    "repositories",
    "shutdown",
    "start",
    "token",
    "umount",
    "uninstall",
];

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Default => write!(f, "{}", self.permission),
            Target::Any => write!(f, "{}:*", self.permission),
            Target::Named(name) => write!(f, "{}:{name}", self.permission),
        }
    }
}

impl Serialize for Grant {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Grant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Grant, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Grant;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a permission (`kill`, `kill:*`, `kill:<name>`)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Grant, E> {
                Grant::parse(v)
            }
        }
        d.deserialize_str(V)
    }
}

/// The entries of `console.permissions`; written `full` when they are every permission
/// for every container and repository (as Northstar 0.9 wrote all of them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Permissions(pub BTreeSet<Grant>);

impl Permissions {
    /// Every permission, for every container and repository.
    pub fn full() -> Permissions {
        Permissions(
            Permission::ALL
                .into_iter()
                .map(|permission| Grant {
                    permission,
                    target: match permission.targets() {
                        Some(_) => Target::Any,
                        None => Target::Default,
                    },
                })
                .collect(),
        )
    }

    /// Whether `permission` is given, for whatever target.
    pub fn contains(&self, permission: Permission) -> bool {
        self.0.iter().any(|g| g.permission == permission)
    }

    /// What the entries of `permission` name.
    pub fn targets(&self, permission: Permission) -> impl Iterator<Item = &Target> {
        self.0
            .iter()
            .filter(move |g| g.permission == permission)
            .map(|g| &g.target)
    }
}

/// Each permission without a target.
impl FromIterator<Permission> for Permissions {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Permissions {
        Permissions(
            iter.into_iter()
                .map(|permission| Grant {
                    permission,
                    target: Target::Default,
                })
                .collect(),
        )
    }
}

impl Serialize for Permissions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if *self == Permissions::full() {
            s.serialize_str("full")
        } else {
            s.collect_seq(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Permissions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Permissions, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Permissions;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("`full` or a list of permissions")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Permissions, E> {
                match v.trim() {
                    "full" => Ok(Permissions::full()),
                    other => Err(E::custom(format!(
                        "invalid permissions {other:?}: expected `full` or a list"
                    ))),
                }
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Permissions, A::Error> {
                super::de::SetVisitor(PhantomData)
                    .visit_seq(seq)
                    .map(Permissions)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Permissions {
    fn schema_name() -> Cow<'static, str> {
        "Permissions".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let name = generator.subschema_for::<Permission>();
        json_schema!({
            "anyOf": [
                { "const": "full" },
                {
                    "type": "array",
                    "items": {
                        "anyOf": [
                            name,
                            {
                                "type": "string",
                                "pattern": "^(inspect|kill):(\\*|[0-9A-Za-z._-]+)$"
                            },
                            {
                                "type": "string",
                                "pattern": "^(install|uninstall):(\\*|[0-9A-Za-z._-]{1,64})$"
                            }
                        ]
                    },
                    "uniqueItems": true
                }
            ]
        })
    }
}

/// `restart`: what the runtime does when the container's process ends on its own. An
/// extension of Northstar 0.9's schema (which never restarts); absent = `no`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Restart {
    /// When to restart.
    #[serde(default)]
    pub policy: RestartPolicy,
    /// Restarts in a row before the runtime gives up (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// Delay before the first restart, in milliseconds (default 100); doubled on every
    /// restart in a row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Longest delay, in milliseconds (default 30000). A run that lasted longer than this
    /// resets the count and the delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_delay_ms: Option<u64>,
}

/// `watchdog`: the program must send `WATCHDOG=1` on its notify socket at least every
/// `interval_ms`, or the runtime aborts it (SIGABRT, SIGKILL after the stop grace period)
/// and its restart policy decides. An extension of Northstar 0.9's schema; needs a
/// `sockets` mount (where the notify socket is).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Watchdog {
    /// The longest time between two keep-alives, in milliseconds.
    pub interval_ms: u64,
}

/// When a container is restarted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RestartPolicy {
    /// Never.
    #[default]
    No,
    /// When it exits with a non-zero code or is killed by a signal.
    OnFailure,
    /// Whenever it ends, unless it was stopped through the runtime.
    Always,
}

impl Restart {
    /// Default for `max_retries`.
    pub const DEFAULT_MAX_RETRIES: u32 = 10;
    /// Default for `delay_ms`.
    pub const DEFAULT_DELAY_MS: u64 = 100;
    /// Default for `max_delay_ms`.
    pub const DEFAULT_MAX_DELAY_MS: u64 = 30_000;
}
