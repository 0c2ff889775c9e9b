//! Control groups: the runtime's own group and one group per container, with the
//! manifest's limits (memory, CPU, cpuset, block I/O, process count), process placement,
//! listing, signalling, usage statistics and removal. Works on cgroup v1 (including the
//! "hybrid" layout with an empty cgroup2 beside the v1 controllers) and on cgroup v2.
//!
//! Every container is bounded: where its manifest sets no pids or memory limit, the
//! runtime's [`Defaults`] apply, and the runtime's group carries [`RuntimeLimits`] for all
//! containers together.
//!
//! Owns: detecting the hierarchy ([`Hierarchy::detect`]), creating and removing groups
//! ([`RuntimeGroup`], [`ContainerGroup`]), translating Northstar 0.9's v1-style settings
//! to the running version's files, reading [`Stats`]. Does not own: creating the
//! container's process (the container module clones it into the group through
//! [`ContainerGroup::clone_fd`] on v2, or calls [`ContainerGroup::add`] on v1 while the
//! child waits), deciding when to kill or remove a group (the supervisor), or mounting
//! cgroupfs (init). It writes cgroupfs files directly; doc/adr/0006-cgroups.md says why
//! this is not the `cgroups-rs` crate.
//!
//! Layout: `<root>/<runtime group>/[<manifest parent>/]<name>@<version>` on v2; the same
//! below each controller mount (`<root>/memory/...`, `<root>/pids/...`) on v1.

mod container;
mod defaults;
mod error;
mod files;
mod hierarchy;
mod names;
mod runtime;
mod settings;
mod stats;

pub use container::ContainerGroup;
pub use defaults::{Defaults, RuntimeLimits, MIN_RUNTIME_MEMORY};
pub use error::Error;
pub use hierarchy::{Controller, Hierarchy, Version};
pub use names::dir_name;
pub use runtime::RuntimeGroup;
pub use stats::Stats;
