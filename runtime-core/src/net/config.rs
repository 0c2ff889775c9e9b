//! Configuration of user-defined network namespaces (`[network]` in the runtime's
//! configuration): namespaces the runtime creates at start and containers join with
//! `network: !namespace <name>`, each optionally connected to the runtime's namespace by a
//! veth pair, directly or through a bridge.

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::{collections::BTreeMap, fmt, net::Ipv4Addr, str::FromStr};

/// `[network]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// `[network.namespaces.<name>]`.
    #[serde(default)]
    pub namespaces: BTreeMap<String, Namespace>,
    /// `[network.bridges.<name>]`: bridges in the runtime's namespace.
    #[serde(default)]
    pub bridges: BTreeMap<String, Bridge>,
}

/// A named network namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Namespace {
    /// Address of `eth0`, the inner end of the veth pair, e.g. `192.0.2.2/24`. Without it
    /// the namespace has only `lo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Ipv4Net>,
    /// Default route inside the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Ipv4Addr>,
    /// Name of the outer end in the runtime's namespace (default `ns-<name>`, at most 15
    /// characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Address of the outer end (not with `bridge`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_address: Option<Ipv4Net>,
    /// Bridge (of `[network.bridges]`) the outer end joins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
}

/// A bridge the runtime creates in its own namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bridge {
    /// Address of the bridge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Ipv4Net>,
}

/// An IPv4 address with a prefix length, `a.b.c.d/p`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Net {
    pub address: Ipv4Addr,
    pub prefix: u8,
}

impl FromStr for Ipv4Net {
    type Err = String;
    fn from_str(text: &str) -> Result<Ipv4Net, String> {
        let (address, prefix) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?}: expected address/prefix, e.g. 192.0.2.2/24"))?;
        let address = address
            .parse()
            .map_err(|_| format!("{text:?}: invalid IPv4 address"))?;
        let prefix = prefix
            .parse::<u8>()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("{text:?}: prefix must be 0..=32"))?;
        Ok(Ipv4Net { address, prefix })
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

impl Serialize for Ipv4Net {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv4Net {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Ipv4Net, D::Error> {
        String::deserialize(d)?.parse().map_err(de::Error::custom)
    }
}

/// Longest interface name (`IFNAMSIZ` - 1).
pub const MAX_IFNAME: usize = 15;

fn check_ifname(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_IFNAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what}: {name:?} is not a valid interface name (1..={MAX_IFNAME} of [A-Za-z0-9._-])"
        ))
    }
}

impl Namespace {
    /// Name of the outer end.
    pub fn host_name(&self, namespace: &str) -> String {
        self.host
            .clone()
            .unwrap_or_else(|| format!("ns-{namespace}"))
    }
}

impl Network {
    /// Check names and references; the error names the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        for name in self.bridges.keys() {
            check_ifname(name, name).map_err(|e| (format!("network.bridges.{name}"), e))?;
        }
        for (name, ns) in &self.namespaces {
            let key = format!("network.namespaces.{name}");
            let ok = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && name != "."
                && name != "..";
            if !ok {
                return Err((key, format!("{name:?} is not a valid namespace name")));
            }
            check_ifname("host", &ns.host_name(name)).map_err(|e| (format!("{key}.host"), e))?;
            if let Some(bridge) = &ns.bridge {
                if !self.bridges.contains_key(bridge) {
                    return Err((
                        format!("{key}.bridge"),
                        format!("bridge {bridge:?} is not in [network.bridges]"),
                    ));
                }
                if ns.host_address.is_some() {
                    return Err((
                        format!("{key}.host_address"),
                        "not with bridge: give the bridge the address".to_string(),
                    ));
                }
            }
            let connected = ns.bridge.is_some() || ns.host_address.is_some();
            if ns.address.is_none() && (connected || ns.gateway.is_some()) {
                return Err((
                    format!("{key}.address"),
                    "required with bridge, host_address or gateway".to_string(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_net() {
        let n: Ipv4Net = "192.0.2.2/24".parse().unwrap();
        assert_eq!(n.prefix, 24);
        assert_eq!(n.to_string(), "192.0.2.2/24");
        assert!("192.0.2.2".parse::<Ipv4Net>().is_err());
        assert!("192.0.2.2/33".parse::<Ipv4Net>().is_err());
        assert!("300.0.2.2/24".parse::<Ipv4Net>().is_err());
    }

    #[test]
    fn validation_names_the_key() {
        let mut net = Network::default();
        net.namespaces.insert(
            "lan".into(),
            Namespace {
                bridge: Some("br0".into()),
                address: Some("192.0.2.2/24".parse().unwrap()),
                ..Default::default()
            },
        );
        let (key, _) = net.validate().unwrap_err();
        assert_eq!(key, "network.namespaces.lan.bridge");
        net.bridges.insert("br0".into(), Bridge::default());
        net.validate().unwrap();
        net.namespaces.get_mut("lan").unwrap().host = Some("a-very-long-interface".into());
        let (key, _) = net.validate().unwrap_err();
        assert_eq!(key, "network.namespaces.lan.host");
    }
}
