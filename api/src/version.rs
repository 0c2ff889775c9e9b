//! The protocol version and the handshake rule.
//!
//! A version is `major.minor`. A new minor adds messages, fields, permissions or error
//! codes; a new major changes or removes something. The rule of the handshake
//! ([`ProtocolVersion::negotiate`]):
//! - a client of another major is refused;
//! - a client of a newer minor than the server is refused (it could send what the server
//!   does not know);
//! - a client of the same or an older minor is accepted, and the server then speaks that
//!   minor: it sends nothing that was added after it.

use crate::{types::InvalidValue, ApiError};
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// The version of the protocol this crate implements. 1.1 added grants limited to
/// repositories or containers (`install:apps`, `kill:hello` in `welcome`) and the errors
/// `repository_not_granted` and `container_not_granted`. 1.2 added update transactions:
/// the requests `update`, `rollback`, `enable`, `disable`, their permissions (and
/// `downgrade`), the response `committed`, the notifications `update_started`, `healthy`,
/// `committed`, `rolled_back`, `ready`, their errors, and `ready`, `status`, `active` of
/// a container. 1.3 added checking installed packages: the request `verify`, its
/// permission, the response `verified` and the notification `verify_failed`. 1.4 added
/// the A/B system slots: the requests `system_status` and `system_mark`, their permissions
/// `system_status` and `system_update`, the response `system` and the error
/// `system_failed`.
pub const PROTOCOL_VERSION: ProtocolVersion = ProtocolVersion::new(1, 4);

/// A protocol version, written `"major.minor"` on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct ProtocolVersion {
    /// Incompatible changes.
    pub major: u16,
    /// Compatible additions.
    pub minor: u16,
}

impl ProtocolVersion {
    /// A version from its two numbers.
    pub const fn new(major: u16, minor: u16) -> ProtocolVersion {
        ProtocolVersion { major, minor }
    }

    /// The server side of the handshake: `self` is the server's version. Returns the
    /// version the session speaks (the client's), or [`ApiError::VersionMismatch`].
    pub fn negotiate(self, client: ProtocolVersion) -> Result<ProtocolVersion, ApiError> {
        if client.major == self.major && client.minor <= self.minor {
            Ok(client)
        } else {
            Err(ApiError::VersionMismatch {
                server: self,
                client,
            })
        }
    }
}

impl fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for ProtocolVersion {
    type Err = InvalidValue;
    fn from_str(text: &str) -> Result<ProtocolVersion, InvalidValue> {
        let fail = || InvalidValue::new("protocol version", text, "expected major.minor");
        let (major, minor) = text.split_once('.').ok_or_else(fail)?;
        let number = |s: &str| {
            // Digits only: `u16::from_str` would also take a leading `+`.
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(fail());
            }
            s.parse::<u16>().map_err(|_| fail())
        };
        Ok(ProtocolVersion::new(number(major)?, number(minor)?))
    }
}

impl From<ProtocolVersion> for String {
    fn from(v: ProtocolVersion) -> String {
        v.to_string()
    }
}

impl TryFrom<String> for ProtocolVersion {
    type Error = InvalidValue;
    fn try_from(s: String) -> Result<ProtocolVersion, InvalidValue> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        assert_eq!("1.4".parse::<ProtocolVersion>().unwrap(), PROTOCOL_VERSION);
        assert_eq!(
            "12.345".parse::<ProtocolVersion>().unwrap(),
            ProtocolVersion::new(12, 345)
        );
        for bad in [
            "", "1", "1.", ".1", "1.0.0", "+1.0", "1.-0", "a.b", "70000.0", " 1.0",
        ] {
            assert!(bad.parse::<ProtocolVersion>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn negotiate() {
        let server = ProtocolVersion::new(1, 2);
        // Same version, older minor: accepted, the session speaks the client's.
        for minor in 0..=2 {
            let client = ProtocolVersion::new(1, minor);
            assert_eq!(server.negotiate(client).unwrap(), client);
        }
        // Newer minor, other major: refused, the error names both.
        for client in [
            ProtocolVersion::new(1, 3),
            ProtocolVersion::new(0, 2),
            ProtocolVersion::new(2, 0),
        ] {
            let error = server.negotiate(client).unwrap_err();
            assert_eq!(error, ApiError::VersionMismatch { server, client });
            assert_eq!(error.code(), "version_mismatch");
            assert!(error.to_string().contains(&client.to_string()));
        }
    }
}
