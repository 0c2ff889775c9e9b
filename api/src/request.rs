//! What a client asks. Each request travels in a [`crate::ClientMessage::Request`] with the
//! client's [`crate::RequestId`]; the permission each one needs is [`crate::required`].

use crate::version::ProtocolVersion;
use crate::{
    system::{SlotMark, SlotTarget},
    types::{Args, ContainerId, Env, RepositoryName, Sha256, Signal, StopTimeout},
    update::{Packages, UpdateOptions},
};
use npk::manifest::Name;
use serde::{Deserialize, Serialize};

/// A request to the runtime.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Every known container. Answered with [`crate::Response::Containers`].
    List {},
    /// One container: its state, manifest, process and cgroup statistics. Answered with
    /// [`crate::Response::Inspect`].
    Inspect {
        /// The container.
        container: ContainerId,
    },
    /// Start a container. `args` replaces the manifest's arguments, `env` is added to the
    /// manifest's environment (a name in both takes the value given here); either one
    /// present, even empty, needs [`crate::Permission::StartWithArgs`]. Answered with
    /// [`crate::Response::Started`] once the program runs.
    Start {
        /// The container.
        container: ContainerId,
        /// Arguments instead of the manifest's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        args: Option<Args>,
        /// Environment in addition to the manifest's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        env: Option<Env>,
    },
    /// Send a signal to every process of a running container. Answered with
    /// [`crate::Response::Ok`].
    Kill {
        /// The container.
        container: ContainerId,
        /// The signal.
        signal: Signal,
    },
    /// SIGTERM to every process of the container, SIGKILL after `timeout_ms` (absent: the
    /// configured `stop_timeout`). Answered with [`crate::Response::Stopped`] once it ended.
    Stop {
        /// The container.
        container: ContainerId,
        /// Grace period in milliseconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<StopTimeout>,
    },
    /// Stop a running container as `stop` does, then start it again with the arguments
    /// and environment of the run that ended. Answered with [`crate::Response::Restarted`].
    Restart {
        /// The container.
        container: ContainerId,
        /// Grace period of the stop in milliseconds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<StopTimeout>,
    },
    /// Install a package into a repository. The frame is followed by exactly `size` raw
    /// bytes, the package file (see [`crate::codec`]). When `sha256` is given the server
    /// refuses a package whose bytes have another digest. Answered with
    /// [`crate::Response::Installed`] once the package is verified and in the repository.
    Install {
        /// The target repository.
        repository: RepositoryName,
        /// Bytes of the package file that follow the frame.
        size: u64,
        /// Expected digest of those bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<Sha256>,
    },
    /// Remove a stopped container's package (unmounted first), with its persistent data
    /// when `wipe` is set. Answered with [`crate::Response::Ok`].
    Uninstall {
        /// The container.
        container: ContainerId,
        /// Also remove `data_dir/<name>`.
        #[serde(default)]
        wipe: bool,
    },
    /// Mount a package's image. Answered with [`crate::Response::Ok`].
    Mount {
        /// The container.
        container: ContainerId,
    },
    /// Unmount a package's image (refused while it or a container using it runs).
    /// Answered with [`crate::Response::Ok`].
    Umount {
        /// The container.
        container: ContainerId,
    },
    /// The repositories and what they hold. Answered with
    /// [`crate::Response::Repositories`].
    Repositories {},
    /// The captured output of a container: the last `tail` lines (absent: all kept).
    /// Answered with [`crate::Response::Logs`]; with `follow`, every later line then comes
    /// as a [`crate::ServerMessage::Log`] frame with this request's id.
    Logs {
        /// The container.
        container: ContainerId,
        /// Most lines in the answer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tail: Option<u32>,
        /// Keep sending new lines.
        #[serde(default)]
        follow: bool,
    },
    /// The boot report of PID 1. Answered with [`crate::Response::BootReport`].
    BootReport {},
    /// Stop every container and power the system off (PID 1) or end the runtime (host
    /// daemon). Answered with [`crate::Response::Ok`] when the shutdown begins.
    Shutdown {},
    /// Stop every container and reboot the system (PID 1 only). Answered with
    /// [`crate::Response::Ok`] when the shutdown begins.
    Reboot {},
    /// Receive [`crate::Notification`]s on this connection from now on. Answered with
    /// [`crate::Response::Ok`].
    Subscribe {},
    /// An update transaction (1.2): install the packages whose bytes follow the frame,
    /// one after the other (see [`crate::codec`]), stop the active versions of their
    /// names, start the new ones, check their health, then commit all of them or roll
    /// all of them back. Answered with [`crate::Response::Committed`] or the error
    /// [`crate::ApiError::RolledBack`]. `options.downgrade` also needs
    /// [`crate::Permission::Downgrade`].
    Update {
        /// The target repository.
        repository: RepositoryName,
        /// The package files, in the order of their bytes.
        packages: Packages,
        /// How the new versions are checked.
        #[serde(default, skip_serializing_if = "UpdateOptions::is_default")]
        options: UpdateOptions,
    },
    /// Switch `name` back to the version that was active before, as a transaction with a
    /// health check (1.2). `repository`: the one that holds `name` (absent: the only one
    /// that does). Answered like `update`.
    Rollback {
        /// The container name.
        name: Name,
        /// The repository that holds it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        repository: Option<RepositoryName>,
        /// How the version switched to is checked.
        #[serde(default, skip_serializing_if = "UpdateOptions::is_default")]
        options: UpdateOptions,
    },
    /// Start the active version of `name` at boot, whatever its manifest says; the
    /// setting persists (1.2). Answered with [`crate::Response::Ok`].
    Enable {
        /// The container name.
        name: Name,
        /// The repository that holds it (absent: the only one that does).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        repository: Option<RepositoryName>,
    },
    /// Never start `name` at boot, whatever its manifest says; the setting persists
    /// (1.2). Answered with [`crate::Response::Ok`].
    Disable {
        /// The container name.
        name: Name,
        /// The repository that holds it (absent: the only one that does).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        repository: Option<RepositoryName>,
    },
    /// Check installed packages in full (1.3): every data and hash block of a signed
    /// package's `fs.img` against its signed root hash. `container`: that package only
    /// (absent: every installed package). Answered with [`crate::Response::Verified`],
    /// one result per package, once all of them are checked; a package that fails is a
    /// result, not an error of the request.
    Verify {
        /// The package (absent: every installed one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        container: Option<ContainerId>,
    },
    /// The A/B system slots (1.4): the boot loader, the booted slot, and per slot its
    /// devices, whether it is primary, good or bad, and its attempts left. Answered with
    /// [`crate::Response::System`].
    SystemStatus {},
    /// Mark an A/B slot (1.4) as `rauc status mark-good|mark-bad|mark-active` does:
    /// `good` (bootable again), `bad` (not bootable), `active` (boot it next). Answered
    /// with [`crate::Response::System`], the state after the mark. Needs
    /// [`crate::Permission::SystemUpdate`], which no wildcard grants.
    SystemMark {
        /// The mark.
        mark: SlotMark,
        /// The slot: `booted`, `other` or its name.
        slot: SlotTarget,
    },
    /// Install a system update bundle (1.4, RAUC format) into the slot that did not boot.
    /// The frame is followed by exactly `size` raw bytes, the bundle file, as for
    /// `install`; with `sha256` the server refuses bytes of another digest. The owner of
    /// the runtime verifies the bundle, writes its image into the other slot and marks
    /// that slot active. Answered with [`crate::Response::SystemInstalled`] once that is
    /// done (the system runs the new slot after a reboot). Needs
    /// [`crate::Permission::SystemUpdate`], which no wildcard grants.
    SystemInstall {
        /// Bytes of the bundle file that follow the frame.
        size: u64,
        /// Expected digest of those bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<Sha256>,
    },
}

impl Request {
    /// The wire name of the request (its `"type"`).
    pub fn name(&self) -> &'static str {
        match self {
            Request::List {} => "list",
            Request::Inspect { .. } => "inspect",
            Request::Start { .. } => "start",
            Request::Kill { .. } => "kill",
            Request::Stop { .. } => "stop",
            Request::Restart { .. } => "restart",
            Request::Install { .. } => "install",
            Request::Uninstall { .. } => "uninstall",
            Request::Mount { .. } => "mount",
            Request::Umount { .. } => "umount",
            Request::Repositories {} => "repositories",
            Request::Logs { .. } => "logs",
            Request::BootReport {} => "boot_report",
            Request::Shutdown {} => "shutdown",
            Request::Reboot {} => "reboot",
            Request::Subscribe {} => "subscribe",
            Request::Update { .. } => "update",
            Request::Rollback { .. } => "rollback",
            Request::Enable { .. } => "enable",
            Request::Disable { .. } => "disable",
            Request::Verify { .. } => "verify",
            Request::SystemStatus {} => "system_status",
            Request::SystemMark { .. } => "system_mark",
            Request::SystemInstall { .. } => "system_install",
        }
    }

    /// The protocol version that added the request: a session of an older version that
    /// sends it is answered as that version's server answers an unknown request.
    pub fn since(&self) -> ProtocolVersion {
        match self {
            Request::Update { .. }
            | Request::Rollback { .. }
            | Request::Enable { .. }
            | Request::Disable { .. } => ProtocolVersion::new(1, 2),
            Request::Verify { .. } => ProtocolVersion::new(1, 3),
            Request::SystemStatus {}
            | Request::SystemMark { .. }
            | Request::SystemInstall { .. } => ProtocolVersion::new(1, 4),
            _ => ProtocolVersion::new(1, 0),
        }
    }

    /// The container the request is about, if any.
    pub fn container(&self) -> Option<&ContainerId> {
        match self {
            Request::Inspect { container }
            | Request::Start { container, .. }
            | Request::Kill { container, .. }
            | Request::Stop { container, .. }
            | Request::Restart { container, .. }
            | Request::Uninstall { container, .. }
            | Request::Mount { container }
            | Request::Umount { container }
            | Request::Logs { container, .. } => Some(container),
            Request::Verify { container } => container.as_ref(),
            Request::List {}
            | Request::Install { .. }
            | Request::Repositories {}
            | Request::BootReport {}
            | Request::Shutdown {}
            | Request::Reboot {}
            | Request::Subscribe {}
            | Request::Update { .. }
            | Request::Rollback { .. }
            | Request::Enable { .. }
            | Request::Disable { .. }
            | Request::SystemStatus {}
            | Request::SystemMark { .. }
            | Request::SystemInstall { .. } => None,
        }
    }

    /// The container name the request is about, if any: the container's, or the
    /// `name` of a rollback, enable or disable.
    pub fn container_name(&self) -> Option<&Name> {
        match self {
            Request::Rollback { name, .. }
            | Request::Enable { name, .. }
            | Request::Disable { name, .. } => Some(name),
            _ => self.container().map(|c| &c.name),
        }
    }

    /// The repository the request names, if any.
    pub fn repository(&self) -> Option<&RepositoryName> {
        match self {
            Request::Install { repository, .. } | Request::Update { repository, .. } => {
                Some(repository)
            }
            Request::Rollback { repository, .. }
            | Request::Enable { repository, .. }
            | Request::Disable { repository, .. } => repository.as_ref(),
            _ => None,
        }
    }

    /// Bytes that follow the request's frame on the wire: `size` of an install or a
    /// system install, the packages of an update together.
    pub fn raw_len(&self) -> Option<u64> {
        match self {
            Request::Install { size, .. } | Request::SystemInstall { size, .. } => Some(*size),
            Request::Update { packages, .. } => Some(packages.total()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_is_the_wire_type() {
        let id: ContainerId = "a:1.0.0".parse().unwrap();
        let requests = [
            Request::List {},
            Request::Inspect {
                container: id.clone(),
            },
            Request::Logs {
                container: id,
                tail: None,
                follow: false,
            },
            Request::BootReport {},
            Request::Subscribe {},
            Request::Enable {
                name: "a".parse().unwrap(),
                repository: None,
            },
            Request::Disable {
                name: "a".parse().unwrap(),
                repository: None,
            },
            Request::Verify { container: None },
            Request::SystemStatus {},
            Request::SystemMark {
                mark: SlotMark::Good,
                slot: SlotTarget::Booted,
            },
            Request::Rollback {
                name: "a".parse().unwrap(),
                repository: None,
                options: UpdateOptions::default(),
            },
        ];
        for r in requests {
            let json = serde_json::to_value(&r).unwrap();
            assert_eq!(json["type"], r.name());
        }
    }

    #[test]
    fn optional_fields() {
        let r: Request =
            serde_json::from_str(r#"{"type":"uninstall","container":"a:1.0.0"}"#).unwrap();
        assert!(matches!(r, Request::Uninstall { wipe: false, .. }));
        let unknown = r#"{"type":"list","all":true}"#;
        assert!(serde_json::from_str::<Request>(unknown).is_err());
        let unknown = r#"{"type":"kill","container":"a:1.0.0","signal":9,"x":1}"#;
        assert!(serde_json::from_str::<Request>(unknown).is_err());
        let twice = r#"{"type":"kill","container":"a:1.0.0","signal":9,"signal":10}"#;
        assert!(serde_json::from_str::<Request>(twice).is_err());
        let update = r#"{"type":"update","repository":"apps","packages":[{"size":3},{"size":4}]}"#;
        let update: Request = serde_json::from_str(update).unwrap();
        assert_eq!(update.raw_len(), Some(7));
        assert_eq!(update.repository().map(|r| r.as_str()), Some("apps"));
        let none = r#"{"type":"update","repository":"apps","packages":[]}"#;
        assert!(serde_json::from_str::<Request>(none).is_err());
        let bad_name = r#"{"type":"enable","name":"a b"}"#;
        assert!(serde_json::from_str::<Request>(bad_name).is_err());
        let all: Request = serde_json::from_str(r#"{"type":"verify"}"#).unwrap();
        assert_eq!(all, Request::Verify { container: None });
        assert_eq!(serde_json::to_string(&all).unwrap(), r#"{"type":"verify"}"#);
        let one: Request =
            serde_json::from_str(r#"{"type":"verify","container":"a:1.0.0"}"#).unwrap();
        assert_eq!(
            one.container().map(|c| c.to_string()).as_deref(),
            Some("a:1.0.0")
        );
        assert_eq!(one.since(), ProtocolVersion::new(1, 3));
        let bad = r#"{"type":"verify","container":"a"}"#;
        assert!(serde_json::from_str::<Request>(bad).is_err());
        let mark: Request =
            serde_json::from_str(r#"{"type":"system_mark","mark":"active","slot":"B"}"#).unwrap();
        assert_eq!(
            mark,
            Request::SystemMark {
                mark: SlotMark::Active,
                slot: SlotTarget::Named("B".into()),
            }
        );
        assert_eq!(mark.since(), ProtocolVersion::new(1, 4));
        assert_eq!(mark.container(), None);
        let bundle: Request =
            serde_json::from_str(r#"{"type":"system_install","size":4096}"#).unwrap();
        assert_eq!(
            bundle,
            Request::SystemInstall {
                size: 4096,
                sha256: None
            }
        );
        assert_eq!(bundle.raw_len(), Some(4096));
        assert_eq!(bundle.since(), ProtocolVersion::new(1, 4));
        assert_eq!(bundle.repository(), None);
        assert_eq!(
            serde_json::to_string(&bundle).unwrap(),
            r#"{"type":"system_install","size":4096}"#
        );
        let digest = format!(
            r#"{{"type":"system_install","size":1,"sha256":"{}"}}"#,
            "ab".repeat(32)
        );
        let digest: Request = serde_json::from_str(&digest).unwrap();
        assert!(matches!(
            digest,
            Request::SystemInstall {
                sha256: Some(Sha256(d)),
                ..
            } if d == [0xab; 32]
        ));
        let status: Request = serde_json::from_str(r#"{"type":"system_status"}"#).unwrap();
        assert_eq!(status.since(), ProtocolVersion::new(1, 4));
        for bad in [
            r#"{"type":"system_mark","mark":"active"}"#,
            r#"{"type":"system_mark","mark":"best","slot":"A"}"#,
            r#"{"type":"system_mark","mark":"good","slot":"rootfs.0"}"#,
            r#"{"type":"system_mark","mark":"good","slot":"A","now":true}"#,
            r#"{"type":"system_status","slot":"A"}"#,
            r#"{"type":"system_install"}"#,
            r#"{"type":"system_install","size":-1}"#,
            r#"{"type":"system_install","size":1,"sha256":"ab"}"#,
            r#"{"type":"system_install","size":1,"slot":"B"}"#,
        ] {
            assert!(serde_json::from_str::<Request>(bad).is_err(), "{bad}");
        }
        let no_type = r#"{"container":"a:1.0.0"}"#;
        assert!(serde_json::from_str::<Request>(no_type).is_err());
    }
}
