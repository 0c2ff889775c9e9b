//! Errors of starting a container: one variant per step of the start, each naming the
//! container and what failed.

use super::child::{Failure, Step};
use crate::id::ContainerId;
use std::{io, path::PathBuf};

/// A plan could not be built from the manifest and configuration.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Resource containers only provide files.
    #[error("a resource container has no init to start")]
    ResourceContainer,
    /// A string for the process contains a NUL byte.
    #[error("{0} contains a NUL byte")]
    Nul(String),
    /// The manifest binds a host path the configuration does not allow.
    #[error("bind mount of {0} is not allowed by the configuration (bind_allow)")]
    BindNotAllowed(PathBuf),
    /// A supplementary group is not in the host's group database.
    #[error("supplementary group {0:?} does not exist in /etc/group")]
    UnknownGroup(String),
    /// A manifest feature this runtime does not implement.
    #[error("{0} are not supported by this runtime")]
    Unsupported(&'static str),
    /// Internal: a persist mount without its directory.
    #[error("the persist mount has no directory")]
    NoPersistDir,
    /// A `sockets` mount in a manifest without sockets.
    #[error("a mount of type sockets needs sockets in the manifest")]
    NoSockets,
    /// Internal: a resource mount that was not resolved.
    #[error("the resource mount at {0} was not resolved")]
    ResourceNotResolved(PathBuf),
    /// The seccomp filter could not be compiled.
    #[error("seccomp filter")]
    Seccomp(#[from] crate::seccomp::Error),
}

/// Launching the container process failed in the runtime.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// Creating a pipe or opening /dev/null failed.
    #[error("{what}")]
    Io {
        what: &'static str,
        #[source]
        source: io::Error,
    },
    /// clone3 failed.
    #[error("clone the container process")]
    Clone(#[source] io::Error),
    /// The process could not be placed in its cgroup.
    #[error("place the process in its cgroup")]
    Cgroup(#[source] crate::cgroups::Error),
    /// The go signal could not be sent.
    #[error("release the container process")]
    Release(#[source] io::Error),
}

/// The container process reported a failed step before it executed its program.
#[derive(Debug, thiserror::Error)]
#[error("{container}: {step}{detail}")]
pub struct ChildError {
    /// The container.
    pub container: ContainerId,
    /// The failed step.
    pub step: &'static str,
    /// For mounts, the path.
    pub detail: String,
    /// The system error.
    #[source]
    pub source: io::Error,
}

impl ChildError {
    /// The error for a failure record of a container process.
    pub(crate) fn new(container: ContainerId, failure: Failure, mounts: &[String]) -> ChildError {
        let opening = matches!(failure.step, Step::MountSource | Step::MountTarget);
        let detail = match failure.step {
            Step::Mount | Step::MountSource | Step::MountTarget => mounts
                .get(failure.index as usize)
                .map_or_else(String::new, |target| format!(" {target}")),
            _ => String::new(),
        };
        let source = match failure.errno {
            libc::EXDEV if opening => io::Error::other(LEAVES),
            libc::ELOOP if opening => io::Error::other(MAGIC_LINK),
            errno => io::Error::from_raw_os_error(errno),
        };
        ChildError {
            container,
            step: failure.step.describe(),
            detail,
            source,
        }
    }
}

/// Opening a mount's source or target failed with `EXDEV`.
const LEAVES: &str = "the path leaves the image or directory it is resolved in \
(a symlink out of it, or a mount below it)";
/// Opening a mount's source or target failed with `ELOOP`.
const MAGIC_LINK: &str = "the path passes a /proc magic link, too many symlinks, or (on \
kernels without openat2) any symlink";

#[cfg(test)]
mod tests {
    use super::*;

    fn error(step: Step, errno: i32) -> String {
        let failure = Failure {
            step,
            errno,
            index: 0,
        };
        let e = ChildError::new(
            "a:1.0.0".parse().unwrap(),
            failure,
            &["/host (source /evil in /run/evil:1.0.0)".to_string()],
        );
        format!("{e}: {}", e.source)
    }

    #[test]
    fn mount_path_errors_name_the_mount() {
        let e = error(Step::MountSource, libc::EXDEV);
        assert!(e.contains("/host (source /evil in /run/evil:1.0.0)"), "{e}");
        assert!(e.contains("leaves the image"), "{e}");
        assert!(error(Step::MountTarget, libc::ELOOP).contains("magic link"));
        // Another step's EXDEV keeps the system's text.
        assert!(!error(Step::Mount, libc::EXDEV).contains("leaves"));
    }
}
