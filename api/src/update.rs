//! The values of update transactions (`update`, `rollback`): the packages an update
//! uploads and how the new versions are checked before the runtime commits them.

use crate::types::{InvalidValue, Sha256};
use serde::{Deserialize, Serialize};

/// What a new version must do to count as healthy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Its program says `READY=1` on its notify socket (sd_notify).
    Ready,
    /// It still runs `window_ms` after its start.
    Running,
    /// It exits with code 0 (one-shot containers).
    Exited,
}

impl Health {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Health::Ready => "ready",
            Health::Running => "running",
            Health::Exited => "exited",
        }
    }
}

impl std::fmt::Display for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Health {
    type Err = InvalidValue;
    fn from_str(text: &str) -> Result<Health, InvalidValue> {
        [Health::Ready, Health::Running, Health::Exited]
            .into_iter()
            .find(|h| h.name() == text)
            .ok_or_else(|| InvalidValue::new("health", text, "expected ready, running or exited"))
    }
}

/// How an update or rollback checks the new versions. An absent value is the runtime
/// configuration's (`[update]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateOptions {
    /// The health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// How long a new version must run for the `running` check, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_ms: Option<u64>,
    /// The longest wait for the health check, in milliseconds; past it the transaction
    /// rolls back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// Snapshot persistent data before the new versions start, so that a rollback
    /// restores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<bool>,
    /// Allow a version below the active one; needs [`crate::Permission::Downgrade`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub downgrade: bool,
}

impl UpdateOptions {
    /// Whether every option is left to the configuration (and no downgrade is asked).
    pub fn is_default(&self) -> bool {
        *self == UpdateOptions::default()
    }
}

/// One package file of an update: its bytes follow the request's frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Package {
    /// Bytes of the package file.
    pub size: u64,
    /// Expected digest of those bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<Sha256>,
}

/// The packages of an update: 1 to [`Packages::MAX`], whose sizes add up to at most
/// `u64::MAX`. Their bytes follow the request's frame one after the other, in this order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "Vec<Package>", try_from = "Vec<Package>")]
pub struct Packages(Vec<Package>);

impl Packages {
    /// Most packages in one update.
    pub const MAX: usize = 16;

    /// Validate a list of packages.
    pub fn new(packages: Vec<Package>) -> Result<Packages, InvalidValue> {
        let fail = |reason| Err(InvalidValue::new("packages", packages.len(), reason));
        if packages.is_empty() || packages.len() > Self::MAX {
            return fail("expected 1 to 16 packages");
        }
        if packages
            .iter()
            .try_fold(0u64, |sum, p| sum.checked_add(p.size))
            .is_none()
        {
            return fail("the sizes add up to more than 2^64 - 1 bytes");
        }
        Ok(Packages(packages))
    }

    /// The packages, in the order of their bytes.
    pub fn as_slice(&self) -> &[Package] {
        &self.0
    }

    /// Bytes of every package together.
    pub fn total(&self) -> u64 {
        self.0
            .iter()
            .fold(0u64, |sum, p| sum.saturating_add(p.size))
    }
}

impl From<Packages> for Vec<Package> {
    fn from(p: Packages) -> Vec<Package> {
        p.0
    }
}

impl TryFrom<Vec<Package>> for Packages {
    type Error = InvalidValue;
    fn try_from(p: Vec<Package>) -> Result<Packages, InvalidValue> {
        Packages::new(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_are_bounded() {
        let one = |size| Package { size, sha256: None };
        assert!(Packages::new(vec![]).is_err());
        assert!(Packages::new(vec![one(1); Packages::MAX + 1]).is_err());
        assert!(Packages::new(vec![one(u64::MAX), one(1)]).is_err());
        let p = Packages::new(vec![one(3), one(4)]).unwrap();
        assert_eq!(p.total(), 7);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, r#"[{"size":3},{"size":4}]"#);
        assert!(serde_json::from_str::<Packages>("[]").is_err());
        assert_eq!(serde_json::from_str::<Packages>(&json).unwrap(), p);
    }

    #[test]
    fn options_default_to_the_configuration() {
        let o: UpdateOptions = serde_json::from_str("{}").unwrap();
        assert_eq!(o, UpdateOptions::default());
        assert!(serde_json::from_str::<UpdateOptions>(r#"{"health":"maybe"}"#).is_err());
        assert!(serde_json::from_str::<UpdateOptions>(r#"{"x":1}"#).is_err());
        assert_eq!("ready".parse::<Health>().unwrap(), Health::Ready);
        assert!("Ready".parse::<Health>().is_err());
    }
}
