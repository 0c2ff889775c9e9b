//! Container identity: `name:version`, unique across all repositories.

use npk::manifest::{Name, Version};
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// A container: a package's name and version.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ContainerId {
    /// Package name.
    pub name: Name,
    /// Package version.
    pub version: Version,
}

impl ContainerId {
    /// The identity of a package with this name and version.
    pub fn new(name: Name, version: Version) -> ContainerId {
        ContainerId { name, version }
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.version)
    }
}

/// A malformed `name:version`.
#[derive(Debug, thiserror::Error)]
#[error("invalid container {text:?}: {reason}")]
pub struct ParseError {
    text: String,
    reason: String,
}

impl FromStr for ContainerId {
    type Err = ParseError;
    fn from_str(text: &str) -> Result<ContainerId, ParseError> {
        let fail = |reason: String| ParseError {
            text: text.to_string(),
            reason,
        };
        let (name, version) = text
            .split_once(':')
            .ok_or_else(|| fail("expected name:version".to_string()))?;
        let name = Name::new(name).map_err(fail)?;
        let version = Version::new_from_str(version).map_err(fail)?;
        Ok(ContainerId { name, version })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let id: ContainerId = "hello-world:0.0.1".parse().unwrap();
        assert_eq!(id.to_string(), "hello-world:0.0.1");
        assert!("hello".parse::<ContainerId>().is_err());
        assert!("hello:x".parse::<ContainerId>().is_err());
        assert!("../x:1.0.0".parse::<ContainerId>().is_err());
    }
}
