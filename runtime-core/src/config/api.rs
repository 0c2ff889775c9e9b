//! `[api]`: the management API's unix socket, which peers get which permissions, and the
//! limits that keep slow, stuck or flooding clients from costing more than their share.
//! Without the table the runtime serves no management API.

use super::units;
use northstar_api::Permissions;
use serde::{Deserialize, Serialize};
use std::{path::PathBuf, time::Duration};

/// The management API server.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// The unix socket's path; an existing socket file there is replaced.
    pub socket: PathBuf,
    /// Owner of the socket file.
    pub uid: u32,
    /// Group of the socket file.
    pub gid: u32,
    /// Permission bits of the socket file.
    pub mode: u32,
    /// Who gets which permissions, by the peer's uid and gid (`SO_PEERCRED`).
    pub grants: Vec<Grant>,
    /// Longest frame a client may send, without its newline.
    #[serde(deserialize_with = "units::size::deserialize")]
    pub max_frame: u64,
    /// Most connections at once (containers' consoles included).
    pub max_connections: u32,
    /// Requests per second a connection may send; more are answered `rate_limited`.
    pub max_requests_per_sec: u32,
    /// Largest package a connection may install.
    #[serde(deserialize_with = "units::size::deserialize")]
    pub max_install_size: u64,
    /// Bytes of answers and notifications queued for a connection that does not read.
    #[serde(deserialize_with = "units::size::deserialize")]
    pub write_buffer: u64,
    /// Time for a new connection to send its `hello`.
    #[serde(with = "units::duration")]
    pub handshake_timeout: Duration,
    /// A connection with nothing in flight that sends nothing for this long is closed.
    #[serde(with = "units::duration")]
    pub idle_timeout: Duration,
    /// A connection that does not take queued bytes for this long is closed.
    #[serde(with = "units::duration")]
    pub write_timeout: Duration,
    /// Time for the raw bytes of an install to arrive.
    #[serde(with = "units::duration")]
    pub install_timeout: Duration,
    /// The optional TCP listener (mutual TLS); `None`: local clients only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<super::TcpConfig>,
}

/// Permissions for the peers whose uid is `uid` (if set) and whose gid is `gid` (if set).
/// A peer gets the union of every grant it matches; a grant without `uid` and `gid`
/// matches every peer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// The peer's uid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// The peer's (primary) gid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    /// What it may ask: the protocol's permission names, each for every target, or
    /// limited to one (`install:<repository>`, `kill:<container name>`).
    pub permissions: Permissions,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig {
            socket: PathBuf::from("/run/northstar/api.sock"),
            uid: 0,
            gid: 0,
            mode: 0o600,
            grants: vec![Grant {
                uid: Some(0),
                gid: None,
                // Every permission but `downgrade` and `system_update`, which are only
                // granted by name.
                permissions: Permissions::all(),
            }],
            max_frame: northstar_api::codec::MAX_CLIENT_FRAME as u64,
            max_connections: 64,
            max_requests_per_sec: 100,
            max_install_size: 256 << 20,
            write_buffer: 1 << 20,
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(600),
            write_timeout: Duration::from_secs(10),
            install_timeout: Duration::from_secs(120),
            tcp: None,
        }
    }
}

impl ApiConfig {
    /// The permissions of a peer with `uid` and `gid`: the union of the grants it
    /// matches, each with what it is limited to (`install:<repository>`, `kill:<name>`).
    pub fn permissions(&self, uid: u32, gid: u32) -> Permissions {
        let mut permissions = Permissions::NONE;
        self.grants
            .iter()
            .filter(|g| g.uid.is_none_or(|u| u == uid) && g.gid.is_none_or(|g| g == gid))
            .for_each(|g| permissions.extend(&g.permissions));
        permissions
    }
}

/// Smallest `max_frame`: a request naming a container and its overrides must fit.
pub const MIN_FRAME: u64 = 1024;
/// Smallest `write_buffer`.
pub const MIN_WRITE_BUFFER: u64 = 4096;
/// Largest `write_buffer`: the server's memory is bounded by connections times twice this.
pub const MAX_WRITE_BUFFER: u64 = 64 * 1024 * 1024;
/// Most connections configurable.
pub const MAX_CONNECTIONS: u32 = 65536;
/// Longest timeout configurable.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use northstar_api::Permission;
    use std::path::Path;

    fn parse(text: &str) -> Result<Config, crate::config::Error> {
        Config::from_toml_str(text, Path::new("api.toml"))
    }

    #[test]
    fn grants_and_defaults() {
        let config = parse(
            "[api]\nsocket = \"/run/api\"\nmode = 0o660\ngid = 7\n\
             [[api.grants]]\nuid = 0\npermissions = [\"list\", \"start\"]\n\
             [[api.grants]]\ngid = 7\npermissions = [\"logs\"]\n",
        )
        .unwrap();
        let api = config.api.unwrap();
        assert_eq!(api.mode, 0o660);
        assert_eq!(api.max_frame, 65536);
        let root: Permissions = [Permission::List, Permission::Start, Permission::Logs]
            .into_iter()
            .collect();
        assert_eq!(api.permissions(0, 7), root);
        assert_eq!(
            api.permissions(1000, 7),
            [Permission::Logs].into_iter().collect()
        );
        assert_eq!(api.permissions(1000, 1000), Permissions::NONE);
        // Without grants, root gets everything.
        let api = parse("[api]\n").unwrap().api.unwrap();
        assert_eq!(api.permissions(0, 0), Permissions::all());
        assert_eq!(api.permissions(1, 0), Permissions::NONE);
        assert!(parse("").unwrap().api.is_none());
    }

    #[test]
    fn limited_grants_stay_limited_in_the_union() {
        let api = parse(
            "[api]\n[[api.grants]]\nuid = 0\npermissions = [\"install:apps\", \"kill:a\"]\n\
             [[api.grants]]\ngid = 7\npermissions = [\"install:tools\", \"kill\"]\n",
        )
        .unwrap()
        .api
        .unwrap();
        let root = api.permissions(0, 0);
        assert!(root.covers(Permission::Install, "apps"));
        assert!(!root.covers(Permission::Install, "system"));
        assert!(!root.covers(Permission::Kill, "b"));
        let both = api.permissions(0, 7);
        assert!(
            both.covers(Permission::Install, "tools") && both.covers(Permission::Install, "apps")
        );
        assert!(!both.covers(Permission::Install, "system"));
        assert!(both.covers(Permission::Kill, "b"));
        let e = parse("[api]\n[[api.grants]]\npermissions = [\"list\", \"list:x\"]\n").unwrap_err();
        assert_eq!(e.key(), Some("api.grants[0].permissions[1]"), "{e}");
    }

    #[test]
    fn rules_name_the_key() {
        for (text, key) in [
            ("[api]\nmode = 0o1777\n", "api.mode"),
            ("[api]\nmax_frame = 10\n", "api.max_frame"),
            ("[api]\nmax_connections = 0\n", "api.max_connections"),
            ("[api]\nidle_timeout = \"0s\"\n", "api.idle_timeout"),
            ("[api]\nsocket = \"relative\"\n", "api.socket"),
            ("[api]\ncolour = 1\n", "api.colour"),
            (
                "[api]\n[[api.grants]]\npermissions = [\"root\"]\n",
                "api.grants[0].permissions[0]",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.key(), Some(key), "{text}: {e}");
        }
    }

    #[test]
    fn sizes_and_timeouts_have_a_maximum() {
        let max = MAX_TIMEOUT.as_secs();
        for (key, at_max, beyond) in [
            (
                "write_buffer",
                MAX_WRITE_BUFFER.to_string(),
                (MAX_WRITE_BUFFER + 1).to_string(),
            ),
            (
                "install_timeout",
                format!("\"{max}s\""),
                format!("\"{}s\"", max + 1),
            ),
            (
                "idle_timeout",
                format!("\"{max}s\""),
                format!("\"{}s\"", max + 1),
            ),
        ] {
            assert!(
                parse(&format!("[api]\n{key} = {at_max}\n")).is_ok(),
                "{key}"
            );
            let e = parse(&format!("[api]\n{key} = {beyond}\n")).unwrap_err();
            assert_eq!(e.key(), Some(format!("api.{key}").as_str()), "{e}");
        }
    }

    #[test]
    fn round_trip() {
        let config =
            parse("[api]\nmode = 0o660\n[[api.grants]]\ngid = 3\npermissions = [\"list\"]\n")
                .unwrap();
        let text = toml::to_string(&config).unwrap();
        assert_eq!(parse(&text).unwrap(), config, "{text}");
    }
}
