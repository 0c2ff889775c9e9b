//! What the packages of one repository may ask for in their manifests: capabilities,
//! additions to the seccomp filter, resource limits, scheduling policies and bind mounts.
//!
//! A repository's `policy` table is data; checking a manifest against it is the
//! repository module's job (at install and when a repository is loaded). The default is
//! nothing: a manifest may ask for no capability, add no system call, set no resource limit,
//! choose no scheduling policy and ask for no cgroup limit above the `[cgroups]` defaults,
//! and its bind mounts are limited by `bind_allow` alone.

use npk::manifest::{Capability, Policy as SchedPolicy, RlimitResource, SyscallName};
use serde::{
    de::{self, Deserializer, SeqAccess, Visitor},
    ser::{SerializeSeq, Serializer},
    Deserialize, Serialize,
};
use std::{collections::BTreeSet, fmt, marker::PhantomData, path::PathBuf};

/// A repository's policy (`[repositories.<name>.policy]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Capabilities a manifest may keep (`capabilities`).
    pub capabilities: Allow<Capability>,
    /// System calls a manifest's `seccomp.allow` list may add.
    pub syscalls: Allow<SyscallName>,
    /// Resources whose limits a manifest may set (`rlimits`).
    pub rlimits: Allow<RlimitResource>,
    /// Scheduling policies a manifest may choose (`sched.policy`).
    pub sched: Allow<Sched>,
    /// Cgroup limits a manifest may set above the `[cgroups]` defaults, or to unlimited
    /// (`above_default_limits`).
    pub above_default_limits: Allow<Limit>,
    /// Host paths (and everything below them) a manifest may bind-mount, on top of the
    /// top-level `bind_allow`; absent: `bind_allow` alone decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<Vec<PathBuf>>,
}

/// A scheduling policy, as named in a manifest's `sched.policy` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sched {
    Other,
    Batch,
    Idle,
    Fifo,
    RoundRobin,
    Deadline,
}

impl Sched {
    /// The policy a manifest chose.
    pub fn of(policy: &SchedPolicy) -> Sched {
        match policy {
            SchedPolicy::Other { .. } => Sched::Other,
            SchedPolicy::Batch { .. } => Sched::Batch,
            SchedPolicy::Idle => Sched::Idle,
            SchedPolicy::Fifo { .. } => Sched::Fifo,
            SchedPolicy::RoundRobin { .. } => Sched::RoundRobin,
            SchedPolicy::Deadline => Sched::Deadline,
        }
    }
}

impl fmt::Display for Sched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Sched::Other => "other",
            Sched::Batch => "batch",
            Sched::Idle => "idle",
            Sched::Fifo => "fifo",
            Sched::RoundRobin => "round_robin",
            Sched::Deadline => "deadline",
        })
    }
}

/// A cgroup limit that has a default (`[cgroups] default_pids_max`, `default_memory_max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    /// `cgroups.pids.max`.
    Pids,
    /// `cgroups.memory.memory_hard_limit`.
    Memory,
}

impl Limit {
    /// The manifest field that sets the limit.
    pub fn field(self) -> &'static str {
        match self {
            Limit::Pids => "cgroups.pids.max",
            Limit::Memory => "cgroups.memory.memory_hard_limit",
        }
    }
}

/// Which values are allowed: `"all"`, or a list (the default: the empty list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allow<T: Ord> {
    /// Any value.
    All,
    /// Only these.
    Only(BTreeSet<T>),
}

impl<T: Ord> Default for Allow<T> {
    fn default() -> Allow<T> {
        Allow::Only(BTreeSet::new())
    }
}

impl<T: Ord> Allow<T> {
    /// Whether `value` is allowed.
    pub fn allows(&self, value: &T) -> bool {
        match self {
            Allow::All => true,
            Allow::Only(values) => values.contains(value),
        }
    }
}

impl<T: Ord + Serialize> Serialize for Allow<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Allow::All => serializer.serialize_str("all"),
            Allow::Only(values) => {
                let mut seq = serializer.serialize_seq(Some(values.len()))?;
                for value in values {
                    seq.serialize_element(value)?;
                }
                seq.end()
            }
        }
    }
}

impl<'de, T: Ord + Deserialize<'de>> Deserialize<'de> for Allow<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Allow<T>, D::Error> {
        struct AllowVisitor<T>(PhantomData<T>);

        impl<'de, T: Ord + Deserialize<'de>> Visitor<'de> for AllowVisitor<T> {
            type Value = Allow<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"all\" or a list")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Allow<T>, E> {
                match value {
                    "all" => Ok(Allow::All),
                    other => Err(E::invalid_value(de::Unexpected::Str(other), &self)),
                }
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Allow<T>, A::Error> {
                let mut values = BTreeSet::new();
                while let Some(value) = seq.next_element()? {
                    values.insert(value);
                }
                Ok(Allow::Only(values))
            }
        }

        deserializer.deserialize_any(AllowVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    struct Wrapper {
        policy: Policy,
    }

    fn parse(text: &str) -> Result<Policy, toml::de::Error> {
        toml::from_str::<Wrapper>(text).map(|w| w.policy)
    }

    #[test]
    fn default_allows_nothing() {
        let policy = parse("[policy]\n").unwrap();
        assert_eq!(policy, Policy::default());
        let cap = Capability::new("CAP_KILL").unwrap();
        assert!(!policy.capabilities.allows(&cap));
        assert!(!policy.sched.allows(&Sched::Fifo));
        assert!(policy.bind.is_none());
        assert!(!policy.above_default_limits.allows(&Limit::Pids));
    }

    #[test]
    fn limits_above_the_defaults() {
        let policy = parse("[policy]\nabove_default_limits = [\"memory\"]\n").unwrap();
        assert!(policy.above_default_limits.allows(&Limit::Memory));
        assert!(!policy.above_default_limits.allows(&Limit::Pids));
        assert!(parse("[policy]\nabove_default_limits = [\"cpu\"]\n").is_err());
    }

    #[test]
    fn all_or_a_list() {
        let policy = parse(
            "[policy]\ncapabilities = \"all\"\nsyscalls = [\"getppid\"]\n\
             rlimits = [\"nofile\"]\nsched = [\"batch\", \"round_robin\"]\nbind = [\"/dev/log\"]\n",
        )
        .unwrap();
        assert!(policy
            .capabilities
            .allows(&Capability::new("CAP_SYS_ADMIN").unwrap()));
        assert!(policy
            .syscalls
            .allows(&SyscallName::new("getppid").unwrap()));
        assert!(!policy.syscalls.allows(&SyscallName::new("ptrace").unwrap()));
        assert!(policy.rlimits.allows(&RlimitResource::Nofile));
        assert!(!policy.rlimits.allows(&RlimitResource::Memlock));
        assert!(policy.sched.allows(&Sched::RoundRobin));
        assert!(!policy.sched.allows(&Sched::Fifo));
        let text = toml::to_string(&Wrapper {
            policy: policy.clone(),
        })
        .unwrap();
        assert_eq!(parse(&text).unwrap(), policy);
    }

    #[test]
    fn refuses_what_is_not_a_value() {
        let err = parse("[policy]\ncapabilities = \"some\"\n").unwrap_err();
        assert!(err.message().contains("\"all\" or a list"), "{err}");
        assert!(parse("[policy]\ncapabilities = [\"CAP_NOPE\"]\n").is_err());
        assert!(parse("[policy]\nsched = [\"fast\"]\n").is_err());
        assert!(parse("[policy]\ncolour = 1\n").is_err());
    }
}
