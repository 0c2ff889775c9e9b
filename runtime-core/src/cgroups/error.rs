//! The one error type of [`crate::cgroups`]. Each variant names the file or directory, the
//! value written or the manifest field concerned, so a log line says what to fix.

use nix::sys::signal::Signal;
use std::{io, path::PathBuf};

/// A cgroup operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configured root could not be inspected.
    #[error("inspect the cgroup root {root}")]
    Root {
        root: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The root is neither a cgroup2 mount nor a directory of cgroup v1 controller mounts.
    #[error("no cgroup hierarchy at {root}: not a cgroup2 mount and no cgroup v1 controller mounted below it")]
    NoHierarchy { root: PathBuf },
    /// A controller a container needs is not mounted (v1) or not enabled (v2).
    #[error("cgroup controller `{controller}` is not available under {root} (needed for {field})")]
    ControllerMissing {
        controller: &'static str,
        root: PathBuf,
        field: String,
    },
    /// A group name or path that cannot be used as a cgroup directory.
    #[error("invalid cgroup name {name:?}: {reason}")]
    Name { name: String, reason: &'static str },
    /// A manifest setting that cannot be applied on this hierarchy.
    #[error("{field}: {reason}")]
    Setting { field: String, reason: String },
    /// A group directory could not be created.
    #[error("create the cgroup {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A control file could not be written.
    #[error("write {value:?} to {path}")]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: io::Error,
    },
    /// A control file could not be read.
    #[error("read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A control file held something unexpected.
    #[error("parse {path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    /// The group directory could not be opened (for `CLONE_INTO_CGROUP`).
    #[error("open the cgroup {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A process of the group could not be signalled.
    #[error("send {signal} to process {pid}")]
    Signal {
        pid: i32,
        signal: Signal,
        #[source]
        source: nix::Error,
    },
    /// A group directory could not be removed.
    #[error("remove the cgroup {path}")]
    Remove {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A group directory still held processes after the bounded wait.
    #[error("remove the cgroup {path}: still in use by processes {pids:?}")]
    Busy { path: PathBuf, pids: Vec<i32> },
}
