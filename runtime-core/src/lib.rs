//! The Northstar runtime: repositories of packages, verified mounting, sandboxed
//! containers and their supervision, in one single-threaded event loop.
//!
//! PID 1 (`init`) and the host daemon both drive this library. It owns: configuration,
//! the registry of packages, loop and dm-verity mounting, the container sandbox
//! (namespaces, mounts, credentials, capabilities, seccomp, cgroups, rlimits) and the
//! supervision of containers (exit status, stop, restart policy, output capture). It does
//! not own: the package format (`npk`), the boot sequence (`init`), raw system calls
//! (`northstar-sys`).
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::exit)]
// All of the runtime runs in PID 1 and never panics: no indexing or arithmetic that can
// panic outside tests (doc/design.md, "PID 1 never panics").
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

pub mod cgroups;
pub mod config;
pub mod container;
pub mod id;
pub mod mount;
pub mod net;
pub mod repository;
pub mod runtime;
pub mod seccomp;
pub mod server;
pub mod wake;

/// An error and its sources in one line, as every message of the runtime writes them.
pub use northstar_api::chain as error_chain;
