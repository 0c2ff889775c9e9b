//! Permissions: what a connection may ask. The server decides a connection's set from
//! its peer (and tells it in [`crate::Welcome`]); [`required`] says which one a request
//! needs. The rule is one permission per request type, named after it, except:
//! - `start` with `args` or `env` needs `start_with_args` (plain `start` does not allow
//!   choosing what the container runs with);
//! - `subscribe` needs `notifications`;
//! - `rollback` needs `update`;
//! - `verify` without a container (every installed package) needs `verify` for every
//!   container;
//! - `update` or `rollback` with `options.downgrade` needs `downgrade` as well. No
//!   wildcard grants `downgrade` ([`Permissions::all`] leaves it out): it is only ever
//!   granted by name;
//! - `system_status` needs `system_status`, `system_mark` and `system_install` need
//!   `system_update` (1.4). Marking a boot slot or writing one decides what the device
//!   boots next, so `system_update` is like `downgrade`: no wildcard grants it, only its
//!   name.
//!
//! A permission is granted for every target, or for named ones ([`Scope`]): `install`,
//! `uninstall` and `update` for repositories ([`Targets::Repositories`]), the requests on
//! one container (and `enable`, `disable`) for container names ([`Targets::Containers`]).
//! A `rollback` under a grant limited to repositories must name its repository. On the wire a grant is its
//! name (every target) or `name:target` (one target), e.g. `install:apps`, `kill:hello`.

use crate::{request::Request, types::InvalidValue, ApiError, RepositoryName};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
};

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
    /// `update` and `rollback` (1.2).
    Update,
    /// `enable` (1.2).
    Enable,
    /// `disable` (1.2).
    Disable,
    /// `update` or `rollback` below the active version (1.2); never part of a wildcard.
    Downgrade,
    /// `verify` (1.3): reads whole packages, so it is not part of `inspect`.
    Verify,
    /// `system_status` (1.4).
    SystemStatus,
    /// `system_mark` and `system_install` (1.4); never part of a wildcard.
    SystemUpdate,
}

impl Permission {
    /// Every permission, in declaration order (the wire order of a set).
    pub const ALL: [Permission; 24] = [
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
        Permission::Update,
        Permission::Enable,
        Permission::Disable,
        Permission::Downgrade,
        Permission::Verify,
        Permission::SystemStatus,
        Permission::SystemUpdate,
    ];

    /// The permissions added in protocol 1.4: a session of an older version does not
    /// see them.
    pub const SINCE_1_4: [Permission; 2] = [Permission::SystemStatus, Permission::SystemUpdate];

    /// The permissions only ever granted by name: [`Permissions::all`] leaves them out.
    pub const BY_NAME_ONLY: [Permission; 2] = [Permission::Downgrade, Permission::SystemUpdate];

    /// The permissions added in protocol 1.3: a session of an older version does not
    /// see them.
    pub const SINCE_1_3: [Permission; 1] = [Permission::Verify];

    /// The permissions added in protocol 1.2: a session of an older version does not
    /// see them.
    pub const SINCE_1_2: [Permission; 4] = [
        Permission::Update,
        Permission::Enable,
        Permission::Disable,
        Permission::Downgrade,
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
            Permission::Update => "update",
            Permission::Enable => "enable",
            Permission::Disable => "disable",
            Permission::Downgrade => "downgrade",
            Permission::Verify => "verify",
            Permission::SystemStatus => "system_status",
            Permission::SystemUpdate => "system_update",
        }
    }

    /// What a grant of this permission can be limited to, if anything.
    pub fn targets(self) -> Option<Targets> {
        match self {
            Permission::Install | Permission::Uninstall | Permission::Update => {
                Some(Targets::Repositories)
            }
            Permission::Inspect
            | Permission::Start
            | Permission::StartWithArgs
            | Permission::Stop
            | Permission::Restart
            | Permission::Kill
            | Permission::Mount
            | Permission::Umount
            | Permission::Logs
            | Permission::Enable
            | Permission::Disable
            | Permission::Verify => Some(Targets::Containers),
            Permission::List
            | Permission::Repositories
            | Permission::BootReport
            | Permission::Shutdown
            | Permission::Reboot
            | Permission::Notifications
            | Permission::Downgrade
            | Permission::SystemStatus
            | Permission::SystemUpdate => None,
        }
    }

    fn from_name(name: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// What the grants of a permission name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Targets {
    /// Repositories, by their configured name.
    Repositories,
    /// Containers, by their name (every version).
    Containers,
}

impl Targets {
    /// Check `name` as a target of this kind.
    pub fn check(self, name: &str) -> Result<(), InvalidValue> {
        match self {
            Targets::Repositories => RepositoryName::new(name).map(drop),
            Targets::Containers => npk::manifest::Name::new(name)
                .map(drop)
                .map_err(|reason| InvalidValue::new("container name", name, reason)),
        }
    }
}

/// What a granted permission covers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Every repository or container.
    All,
    /// These names only (never empty).
    Only(BTreeSet<String>),
}

impl Scope {
    /// Whether the scope covers `name`.
    pub fn covers(&self, name: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Only(names) => names.contains(name),
        }
    }

    fn add(&mut self, other: &Scope) {
        match (&mut *self, other) {
            (Scope::All, _) => {}
            (_, Scope::All) => *self = Scope::All,
            (Scope::Only(names), Scope::Only(more)) => names.extend(more.iter().cloned()),
        }
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
        Request::Update { .. } | Request::Rollback { .. } => Permission::Update,
        Request::Enable { .. } => Permission::Enable,
        Request::Disable { .. } => Permission::Disable,
        Request::Verify { .. } => Permission::Verify,
        Request::SystemStatus {} => Permission::SystemStatus,
        Request::SystemMark { .. } | Request::SystemInstall { .. } => Permission::SystemUpdate,
    }
}

/// A set of granted permissions, each with its [`Scope`]; a list of grants on the wire
/// (`name` or `name:target`), in the order of [`Permission::ALL`].
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Permissions {
    grants: BTreeMap<Permission, Scope>,
}

impl Permissions {
    /// No permission.
    pub const NONE: Permissions = Permissions {
        grants: BTreeMap::new(),
    };

    /// Every permission, for every target, but those of [`Permission::BY_NAME_ONLY`]
    /// (`downgrade`, `system_update`), which are only ever granted by name.
    pub fn all() -> Permissions {
        Permission::ALL
            .into_iter()
            .filter(|p| !Permission::BY_NAME_ONLY.contains(p))
            .collect()
    }

    /// Whether `permission` is granted, for every target or for some.
    pub fn contains(&self, permission: Permission) -> bool {
        self.grants.contains_key(&permission)
    }

    /// What `permission` is granted for; `None`: not granted.
    pub fn scope(&self, permission: Permission) -> Option<&Scope> {
        self.grants.get(&permission)
    }

    /// Whether `permission` is granted for `target` (a repository or a container name).
    pub fn covers(&self, permission: Permission, target: &str) -> bool {
        self.scope(permission).is_some_and(|s| s.covers(target))
    }

    /// Grant `permission` for every target.
    pub fn insert(&mut self, permission: Permission) {
        self.grants.insert(permission, Scope::All);
    }

    /// Grant `permission` for `target`, which must be a valid name of the permission's
    /// [`Targets`] (a permission without targets cannot be limited).
    pub fn insert_for(&mut self, permission: Permission, target: &str) -> Result<(), InvalidValue> {
        check_target(permission, target)?;
        self.grant(permission, &Scope::Only([target.to_string()].into()));
        Ok(())
    }

    /// Add `scope` to what `permission` is granted for.
    fn grant(&mut self, permission: Permission, scope: &Scope) {
        match self.grants.get_mut(&permission) {
            Some(granted) => granted.add(scope),
            None => {
                self.grants.insert(permission, scope.clone());
            }
        }
    }

    /// Remove `permission`.
    pub fn remove(&mut self, permission: Permission) {
        self.grants.remove(&permission);
    }

    /// Add every grant of `other`.
    pub fn extend(&mut self, other: &Permissions) {
        for (permission, scope) in &other.grants {
            self.grant(*permission, scope);
        }
    }

    /// Whether the set allows `request`. The error names the missing permission, or the
    /// repository or container the permission is not granted for. The repository of an
    /// `uninstall` is not in the request: the server checks it against
    /// [`Permissions::scope`] where it knows it.
    pub fn check(&self, request: &Request) -> Result<(), ApiError> {
        let permission = required(request);
        let Some(scope) = self.scope(permission) else {
            return Err(ApiError::PermissionDenied { permission });
        };
        let downgrade = match request {
            Request::Update { options, .. } | Request::Rollback { options, .. } => {
                options.downgrade
            }
            _ => false,
        };
        if downgrade && !self.contains(Permission::Downgrade) {
            return Err(ApiError::PermissionDenied {
                permission: Permission::Downgrade,
            });
        }
        match permission.targets() {
            Some(Targets::Repositories) => match (request, request.repository()) {
                (_, Some(repository)) if !scope.covers(repository.as_str()) => {
                    Err(ApiError::RepositoryNotGranted {
                        permission,
                        repository: repository.clone(),
                    })
                }
                // The runtime would pick the repository: only a grant for every one
                // covers whichever it is.
                (Request::Rollback { .. }, None) if *scope != Scope::All => {
                    Err(ApiError::PermissionDenied { permission })
                }
                _ => Ok(()),
            },
            Some(Targets::Containers) => match (request.container(), request.container_name()) {
                (Some(container), _) if !scope.covers(container.name.as_str()) => {
                    Err(ApiError::ContainerNotGranted {
                        permission,
                        container: container.clone(),
                    })
                }
                (None, Some(name)) if !scope.covers(name.as_str()) => {
                    Err(ApiError::NameNotGranted {
                        permission,
                        name: name.clone(),
                    })
                }
                // Every installed package: only a grant for every container covers them.
                (None, None) if *scope != Scope::All => {
                    Err(ApiError::PermissionDenied { permission })
                }
                _ => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// The permissions granted (for every target or for some), in the order of
    /// [`Permission::ALL`].
    pub fn iter(&self) -> impl Iterator<Item = Permission> + '_ {
        self.grants.keys().copied()
    }

    /// The grants as on the wire: `name` or `name:target`, in the order of
    /// [`Permission::ALL`] and then of the targets.
    pub fn names(&self) -> impl Iterator<Item = String> + '_ {
        self.grants.iter().flat_map(
            |(permission, scope)| -> Box<dyn Iterator<Item = String> + '_> {
                match scope {
                    Scope::All => Box::new(std::iter::once(permission.name().to_string())),
                    Scope::Only(targets) => Box::new(
                        targets
                            .iter()
                            .map(move |t| format!("{}:{t}", permission.name())),
                    ),
                }
            },
        )
    }

    /// Without the permissions added in protocol 1.2 (what a client of 1.1 understands).
    pub fn before_1_2(&self) -> Permissions {
        let mut set = self.clone();
        for p in Permission::SINCE_1_2 {
            set.remove(p);
        }
        set
    }

    /// Without the permissions added in protocol 1.3 (what a client of 1.2 understands).
    pub fn before_1_3(&self) -> Permissions {
        let mut set = self.clone();
        for p in Permission::SINCE_1_3 {
            set.remove(p);
        }
        set
    }

    /// Without the permissions added in protocol 1.4 (what a client of 1.3 understands).
    pub fn before_1_4(&self) -> Permissions {
        let mut set = self.clone();
        for p in Permission::SINCE_1_4 {
            set.remove(p);
        }
        set
    }

    /// Only the grants for every target (what a client of protocol 1.0 understands).
    pub fn unlimited(&self) -> Permissions {
        Permissions {
            grants: self
                .grants
                .iter()
                .filter(|(_, scope)| **scope == Scope::All)
                .map(|(p, s)| (*p, s.clone()))
                .collect(),
        }
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }
}

/// Whether `permission` can be limited to `target`.
fn check_target(permission: Permission, target: &str) -> Result<(), InvalidValue> {
    match permission.targets() {
        Some(targets) => targets.check(target),
        None => Err(InvalidValue::new(
            "permission",
            format_args!("{permission}:{target}"),
            format!("{permission} cannot be limited to a target"),
        )),
    }
}

/// One grant as on the wire, checked while it is parsed.
struct Grant {
    text: String,
    permission: Permission,
    target: Option<String>,
}

impl Grant {
    fn parse(text: &str) -> Result<Grant, InvalidValue> {
        let (name, target) = match text.split_once(':') {
            Some((name, target)) => (name, Some(target)),
            None => (text, None),
        };
        let permission = Permission::from_name(name)
            .ok_or_else(|| InvalidValue::new("permission", text, "unknown permission"))?;
        if let Some(target) = target {
            // Checked here, so that the error points at this element.
            check_target(permission, target)?;
        }
        Ok(Grant {
            text: text.to_string(),
            permission,
            target: target.map(str::to_string),
        })
    }
}

impl<'de> Deserialize<'de> for Grant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Grant, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Grant;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a permission (`name` or `name:target`)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Grant, E> {
                Grant::parse(v).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// Every permission in `iter`, each for every target.
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
        f.debug_set().entries(self.names()).finish()
    }
}

impl fmt::Display for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, name) in self.names().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(&name)?;
        }
        Ok(())
    }
}

impl Serialize for Permissions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.names())
    }
}

impl<'de> Deserialize<'de> for Permissions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Permissions, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = Permissions;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of permissions (`name` or `name:target`)")
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Permissions, A::Error> {
                let mut set = Permissions::NONE;
                let mut seen = BTreeSet::new();
                while let Some(grant) = seq.next_element::<Grant>()? {
                    if !seen.insert(grant.text.clone()) {
                        let text = grant.text;
                        return Err(de::Error::custom(format!("permission {text} given twice")));
                    }
                    match &grant.target {
                        None => set.insert(grant.permission),
                        Some(target) => set
                            .insert_for(grant.permission, target)
                            .map_err(de::Error::custom)?,
                    }
                }
                Ok(set)
            }
        }
        d.deserialize_seq(V)
    }
}

#[cfg(test)]
mod tests;
