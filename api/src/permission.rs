//! Permissions: what a connection may ask. The server decides a connection's set from
//! its peer (and tells it in [`crate::Welcome`]); [`required`] says which one a request
//! needs. The rule is one permission per request type, named after it, except:
//! - `start` with `args` or `env` needs `start_with_args` (plain `start` does not allow
//!   choosing what the container runs with);
//! - `subscribe` needs `notifications`.

use crate::request::Request;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// One permission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// `list`.
    List,
    /// `inspect`.
    Inspect,
    /// `start` without overrides.
    Start,
    /// `start` with `args` or `env`.
    StartWithArgs,
    /// `stop`.
    Stop,
    /// `restart`.
    Restart,
    /// `kill`.
    Kill,
    /// `install`.
    Install,
    /// `uninstall`.
    Uninstall,
    /// `mount`.
    Mount,
    /// `umount`.
    Umount,
    /// `repositories`.
    Repositories,
    /// `logs`.
    Logs,
    /// `boot_report`.
    BootReport,
    /// `shutdown`.
    Shutdown,
    /// `reboot`.
    Reboot,
    /// `subscribe`.
    Notifications,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 17] = [
        Permission::List,
        Permission::Inspect,
        Permission::Start,
        Permission::StartWithArgs,
        Permission::Stop,
        Permission::Restart,
        Permission::Kill,
        Permission::Install,
        Permission::Uninstall,
        Permission::Mount,
        Permission::Umount,
        Permission::Repositories,
        Permission::Logs,
        Permission::BootReport,
        Permission::Shutdown,
        Permission::Reboot,
        Permission::Notifications,
    ];

    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Permission::List => "list",
            Permission::Inspect => "inspect",
            Permission::Start => "start",
            Permission::StartWithArgs => "start_with_args",
            Permission::Stop => "stop",
            Permission::Restart => "restart",
            Permission::Kill => "kill",
            Permission::Install => "install",
            Permission::Uninstall => "uninstall",
            Permission::Mount => "mount",
            Permission::Umount => "umount",
            Permission::Repositories => "repositories",
            Permission::Logs => "logs",
            Permission::BootReport => "boot_report",
            Permission::Shutdown => "shutdown",
            Permission::Reboot => "reboot",
            Permission::Notifications => "notifications",
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The permission `request` needs.
pub fn required(request: &Request) -> Permission {
    match request {
        Request::List {} => Permission::List,
        Request::Inspect { .. } => Permission::Inspect,
        Request::Start {
            args: None,
            env: None,
            ..
        } => Permission::Start,
        Request::Start { .. } => Permission::StartWithArgs,
        Request::Kill { .. } => Permission::Kill,
        Request::Stop { .. } => Permission::Stop,
        Request::Restart { .. } => Permission::Restart,
        Request::Install { .. } => Permission::Install,
        Request::Uninstall { .. } => Permission::Uninstall,
        Request::Mount { .. } => Permission::Mount,
        Request::Umount { .. } => Permission::Umount,
        Request::Repositories {} => Permission::Repositories,
        Request::Logs { .. } => Permission::Logs,
        Request::BootReport {} => Permission::BootReport,
        Request::Shutdown {} => Permission::Shutdown,
        Request::Reboot {} => Permission::Reboot,
        Request::Subscribe {} => Permission::Notifications,
    }
}

/// A set of permissions; a list of names on the wire, in the order of [`Permission::ALL`].
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Permissions(u32);

impl Permissions {
    /// No permission.
    pub const NONE: Permissions = Permissions(0);

    /// Every permission.
    pub fn all() -> Permissions {
        Permission::ALL.into_iter().collect()
    }

    /// Whether `permission` is in the set.
    pub fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    /// Add `permission`.
    pub fn insert(&mut self, permission: Permission) {
        self.0 |= permission.bit();
    }

    /// Remove `permission`.
    pub fn remove(&mut self, permission: Permission) {
        self.0 &= !permission.bit();
    }

    /// Whether the set allows `request`; the error names the missing permission.
    pub fn check(self, request: &Request) -> Result<(), crate::ApiError> {
        let permission = required(request);
        if self.contains(permission) {
            Ok(())
        } else {
            Err(crate::ApiError::PermissionDenied { permission })
        }
    }

    /// The permissions in the set, in the order of [`Permission::ALL`].
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |p| self.contains(*p))
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<Permission> for Permissions {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Permissions {
        let mut set = Permissions::NONE;
        for p in iter {
            set.insert(p);
        }
        set
    }
}

impl fmt::Debug for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(p.name())?;
        }
        Ok(())
    }
}

impl Serialize for Permissions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Permissions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Permissions, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Permissions;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of permissions")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Permissions, A::Error> {
                let mut set = Permissions::NONE;
                while let Some(p) = seq.next_element::<Permission>()? {
                    if set.contains(p) {
                        return Err(de::Error::custom(format!("permission {p} given twice")));
                    }
                    set.insert(p);
                }
                Ok(set)
            }
        }
        d.deserialize_seq(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Args, ContainerId, Env};

    #[test]
    fn names_match_serde() {
        for p in Permission::ALL {
            assert_eq!(serde_json::to_value(p).unwrap(), p.name());
        }
        // `ALL` is complete and in declaration order: the bits are distinct.
        assert_eq!(Permissions::all().iter().count(), Permission::ALL.len());
        for (i, p) in Permission::ALL.into_iter().enumerate() {
            assert_eq!(p as usize, i);
        }
    }

    #[test]
    fn start_with_overrides_needs_its_own_permission() {
        let container: ContainerId = "a:1.0.0".parse().unwrap();
        let start = |args: Option<Args>, env: Option<Env>| Request::Start {
            container: container.clone(),
            args,
            env,
        };
        assert_eq!(required(&start(None, None)), Permission::Start);
        // Present but empty still overrides the manifest.
        assert_eq!(
            required(&start(Some(Args::default()), None)),
            Permission::StartWithArgs
        );
        assert_eq!(
            required(&start(None, Some(Env::default()))),
            Permission::StartWithArgs
        );

        let plain: Permissions = [Permission::Start].into_iter().collect();
        assert!(plain.check(&start(None, None)).is_ok());
        assert_eq!(
            plain.check(&start(Some(Args::default()), None)),
            Err(crate::ApiError::PermissionDenied {
                permission: Permission::StartWithArgs
            })
        );
        assert_eq!(
            Permissions::NONE.check(&Request::Subscribe {}),
            Err(crate::ApiError::PermissionDenied {
                permission: Permission::Notifications
            })
        );
    }

    #[test]
    fn set_on_the_wire() {
        let set: Permissions = [Permission::Logs, Permission::List].into_iter().collect();
        assert_eq!(serde_json::to_string(&set).unwrap(), r#"["list","logs"]"#);
        assert_eq!(set.to_string(), "list, logs");
        let back: Permissions = serde_json::from_str(r#"["logs","list"]"#).unwrap();
        assert_eq!(back, set);
        assert!(serde_json::from_str::<Permissions>(r#"["list","list"]"#).is_err());
        assert!(serde_json::from_str::<Permissions>(r#"["root"]"#).is_err());
        assert!(serde_json::from_str::<Permissions>(r#""full""#).is_err());
        let mut set = set;
        set.remove(Permission::List);
        assert!(!set.contains(Permission::List) && set.contains(Permission::Logs));
    }
}
