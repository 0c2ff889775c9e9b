//! The Northstar runtime: repositories of packages, verified mounting, sandboxed containers
//! and their supervision. PID 1 (`init/`) and the host daemon both run it.
//!
//! It owns the running system's state; the package format itself belongs to `npk`.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

/// What the runtime can do in this build, reported by the init when asked to run.
pub const STATUS: &str = "the container runtime is not part of this build yet";
