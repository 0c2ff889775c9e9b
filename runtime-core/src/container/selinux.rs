//! A manifest's `selinux.context`: whether it can be applied, and what a container start
//! does where it cannot. Applying it is the child's job (the context is written to
//! `/proc/thread-self/attr/exec` before the namespaces are made, inherited by the forked
//! program and used by its `execve`).
//!
//! Where SELinux is not enabled (no `enforce` file in selinuxfs) the context cannot be in
//! force. Then the configuration decides ([`SelinuxMode`]): `required` refuses the start;
//! `optional` starts the container with a warning in the log, and `inspect` reports the
//! context as not applied. A context is never dropped without notice.

use crate::config::SelinuxMode;
use std::{ffi::CString, path::Path};

/// Where selinuxfs is mounted when SELinux is enabled.
pub const SELINUXFS: &str = "/sys/fs/selinux";

/// Whether SELinux is enabled: selinuxfs at `selinuxfs` offers `enforce` (in enforcing
/// and in permissive mode alike).
pub fn enabled(selinuxfs: &Path) -> bool {
    selinuxfs.join("enforce").exists()
}

/// Whether a container's `selinux.context` is in force, as `inspect` shows it (the
/// management protocol's type).
pub use northstar_api::SelinuxStatus;

/// A context that cannot be applied.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The configuration requires SELinux and the kernel does not have it enabled.
    #[error(
        "selinux.context {context:?} cannot be applied: SELinux is not enabled \
         ({selinuxfs}/enforce is missing) and the configuration has selinux = \"required\""
    )]
    Required { context: String, selinuxfs: String },
    /// The context holds a NUL byte (manifest validation refuses this already).
    #[error("selinux.context {context:?} contains a NUL byte")]
    Nul { context: String },
}

/// What a start does with `context`: the bytes for the child to write (when SELinux is
/// enabled) and the status for `inspect`; `None` without a context.
pub fn decide(
    context: Option<&str>,
    mode: SelinuxMode,
    enabled: bool,
    selinuxfs: &Path,
) -> Result<Option<(Option<CString>, SelinuxStatus)>, Error> {
    let Some(context) = context else {
        return Ok(None);
    };
    if enabled {
        let bytes = CString::new(context).map_err(|_| Error::Nul {
            context: context.to_string(),
        })?;
        let status = SelinuxStatus {
            context: context.to_string(),
            applied: true,
            reason: None,
        };
        return Ok(Some((Some(bytes), status)));
    }
    match mode {
        SelinuxMode::Required => Err(Error::Required {
            context: context.to_string(),
            selinuxfs: selinuxfs.display().to_string(),
        }),
        SelinuxMode::Optional => Ok(Some((
            None,
            SelinuxStatus {
                context: context.to_string(),
                applied: false,
                reason: Some(format!(
                    "SELinux is not enabled ({}/enforce is missing)",
                    selinuxfs.display()
                )),
            },
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTEXT: &str = "system_u:system_r:app_t:s0";

    #[test]
    fn no_context_needs_nothing() {
        for mode in [SelinuxMode::Optional, SelinuxMode::Required] {
            for enabled in [false, true] {
                assert_eq!(decide(None, mode, enabled, Path::new(SELINUXFS)), Ok(None));
            }
        }
    }

    #[test]
    fn enabled_applies_the_context() {
        let (bytes, status) = decide(
            Some(CONTEXT),
            SelinuxMode::Required,
            true,
            Path::new(SELINUXFS),
        )
        .unwrap()
        .unwrap();
        assert_eq!(bytes.unwrap().as_bytes(), CONTEXT.as_bytes());
        assert!(status.applied);
        assert_eq!(status.reason, None);
    }

    #[test]
    fn disabled_is_refused_when_required_and_reported_when_optional() {
        let fs = Path::new("/nowhere/selinux");
        let err = decide(Some(CONTEXT), SelinuxMode::Required, false, fs).unwrap_err();
        assert!(
            err.to_string().contains("/nowhere/selinux/enforce"),
            "{err}"
        );
        let (bytes, status) = decide(Some(CONTEXT), SelinuxMode::Optional, false, fs)
            .unwrap()
            .unwrap();
        assert_eq!(bytes, None);
        assert!(!status.applied);
        assert!(status.reason.unwrap().contains("not enabled"));
    }

    #[test]
    fn enabled_means_an_enforce_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!enabled(dir.path()));
        std::fs::write(dir.path().join("enforce"), "0").unwrap();
        assert!(enabled(dir.path()));
    }
}
