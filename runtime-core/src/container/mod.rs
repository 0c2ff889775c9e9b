//! Container processes: the plan of the sandbox built from a manifest and the
//! configuration, the code that runs it between clone and exec, and launching it.
//!
//! This module creates processes; it does not decide when (the supervisor in
//! [`crate::runtime`] does) and it does not mount images or create cgroups (it receives
//! them).

pub(crate) mod child;
pub mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub(crate) mod launch;
pub(crate) mod mounts;
pub(crate) mod plan;
pub mod selinux;
pub mod sockets;

pub use plan::CONSOLE_ENV;

use serde::{Deserialize, Serialize};
use std::fmt;

/// How a container's program ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitStatus {
    /// It exited with this code.
    Exit(i32),
    /// It was killed by this signal.
    Signal(i32),
}

impl ExitStatus {
    /// Exit code 0.
    pub fn success(self) -> bool {
        self == ExitStatus::Exit(0)
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitStatus::Exit(code) => write!(f, "exit code {code}"),
            ExitStatus::Signal(signal) => match nix::sys::signal::Signal::try_from(*signal) {
                Ok(s) => write!(f, "signal {}", s.as_str()),
                Err(_) => write!(f, "signal {signal}"),
            },
        }
    }
}
