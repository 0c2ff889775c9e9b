//! `[api.tcp]`: the optional TCP listener of the management API. TLS 1.3 only, and every
//! client proves who it is with a certificate issued by the configured CA (mutual TLS);
//! what it may ask is chosen by that certificate's common name. Off unless the table is
//! there.

use northstar_api::Permissions;
use serde::{Deserialize, Serialize};
use std::{net::SocketAddr, path::PathBuf};

/// The TCP listener.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TcpConfig {
    /// Address and port to listen on, e.g. `"192.0.2.1:4200"` or `"[::]:4200"`.
    pub listen: SocketAddr,
    /// The server's certificate chain (PEM, leaf first).
    pub certificate: PathBuf,
    /// The server's private key (PEM: PKCS#8, SEC1 or PKCS#1).
    pub key: PathBuf,
    /// The CA certificates (PEM) that issue client certificates.
    pub client_ca: PathBuf,
    /// Certificate revocation lists (PEM) of those CAs: their certificates are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocations: Option<PathBuf>,
    /// Who gets which permissions, by the client certificate's common name.
    #[serde(default)]
    pub grants: Vec<TcpGrant>,
    /// Most TCP connections at once, counted apart from the unix socket's.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Most TCP connections at once from one IP address.
    #[serde(default = "default_max_per_address")]
    pub max_per_address: u32,
}

/// Permissions for the clients whose certificate's common name is `common_name` (if set).
/// A client gets the union of every grant it matches; a grant without `common_name`
/// matches every client with a valid certificate.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TcpGrant {
    /// The common name (CN) of the client certificate's subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_name: Option<String>,
    /// What it may ask (the protocol's permission names).
    pub permissions: Permissions,
}

fn default_max_connections() -> u32 {
    16
}

fn default_max_per_address() -> u32 {
    4
}

impl TcpConfig {
    /// The permissions of a client whose certificate names `common_name`: the union of
    /// the grants it matches, each with what it is limited to.
    pub fn permissions(&self, common_name: Option<&str>) -> Permissions {
        let mut permissions = Permissions::NONE;
        self.grants
            .iter()
            .filter(|g| {
                g.common_name
                    .as_deref()
                    .is_none_or(|want| Some(want) == common_name)
            })
            .for_each(|g| permissions.extend(&g.permissions));
        permissions
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use northstar_api::{Permission, Permissions};
    use std::path::Path;

    fn parse(text: &str) -> Result<Config, crate::config::Error> {
        Config::from_toml_str(text, Path::new("tcp.toml"))
    }

    const TCP: &str =
        "[api.tcp]\nlisten = \"127.0.0.1:4200\"\ncertificate = \"/etc/ns/server.pem\"\n\
                       key = \"/etc/ns/server.key\"\nclient_ca = \"/etc/ns/ca.pem\"\n";

    #[test]
    fn grants_by_common_name() {
        let text = format!(
            "[api]\n{TCP}[[api.tcp.grants]]\ncommon_name = \"fleet\"\npermissions = [\"list\", \"start\"]\n\
             [[api.tcp.grants]]\npermissions = [\"logs\"]\n"
        );
        let tcp = parse(&text).unwrap().api.unwrap().tcp.unwrap();
        assert_eq!(tcp.max_connections, 16);
        assert_eq!(tcp.max_per_address, 4);
        let fleet: Permissions = [Permission::List, Permission::Start, Permission::Logs]
            .into_iter()
            .collect();
        assert_eq!(tcp.permissions(Some("fleet")), fleet);
        let anyone: Permissions = [Permission::Logs].into_iter().collect();
        assert_eq!(tcp.permissions(Some("viewer")), anyone);
        assert_eq!(tcp.permissions(None), anyone);
        // Off without the table.
        assert!(parse("[api]\n").unwrap().api.unwrap().tcp.is_none());
    }

    #[test]
    fn rules_name_the_key() {
        for (text, key) in [
            (
                format!("[api]\n{TCP}max_connections = 0\n"),
                "api.tcp.max_connections",
            ),
            (
                format!("[api]\n{TCP}max_per_address = 0\n"),
                "api.tcp.max_per_address",
            ),
            (
                TCP.replace("/etc/ns/ca.pem", "ca.pem").replacen(
                    "[api.tcp]",
                    "[api]\n[api.tcp]",
                    1,
                ),
                "api.tcp.client_ca",
            ),
            (format!("[api]\n{TCP}colour = 1\n"), "api.tcp.colour"),
            (
                "[api]\n[api.tcp]\nlisten = \"nowhere\"\n".to_string(),
                "api.tcp.listen",
            ),
        ] {
            let e = parse(&text).unwrap_err();
            assert_eq!(e.key(), Some(key), "{text}: {e}");
        }
    }

    #[test]
    fn round_trip() {
        let text = format!(
            "[api]\n{TCP}[[api.tcp.grants]]\ncommon_name = \"fleet\"\npermissions = [\"list\"]\n"
        );
        let config = parse(&text).unwrap();
        let again = toml::to_string(&config).unwrap();
        assert_eq!(parse(&again).unwrap(), config, "{again}");
    }
}
