//! Where the server listens: `unix:///path/to/socket` or `tcp://host:port`, or the device's
//! end of a management channel: `channel://<path>` (a QEMU chardev socket or a serial
//! line's tty, `?baud=N` for its speed).

use std::{fmt, path::PathBuf, str::FromStr};

/// The address of a management API server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Url {
    /// A unix stream socket: `unix://` followed by the path (`unix:///run/northstar/api.sock`).
    Unix(PathBuf),
    /// A TCP endpoint: `tcp://host:port` (a name, an IPv4 address or `[IPv6]`).
    Tcp {
        /// Host name or address, without brackets.
        host: String,
        /// Port.
        port: u16,
    },
    /// The link protocol of a management channel, spoken directly on a unix socket (a
    /// QEMU `-chardev socket`) or a tty (a serial line at `baud` bits per second):
    /// `channel://` followed by the path, `?baud=N` optionally.
    Channel {
        /// The socket or tty.
        path: PathBuf,
        /// The serial line's speed (ignored for a socket).
        baud: u32,
    },
}

/// A URL that is not one of the two forms.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid url {url:?}: {reason} (expected unix:///path, tcp://host:port or channel:///path)"
)]
pub struct InvalidUrl {
    /// The URL as given.
    pub url: String,
    /// What is wrong.
    pub reason: &'static str,
}

impl FromStr for Url {
    type Err = InvalidUrl;

    fn from_str(text: &str) -> Result<Url, InvalidUrl> {
        let fail = |reason| InvalidUrl {
            url: text.to_string(),
            reason,
        };
        if let Some(path) = text.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(fail("no socket path"));
            }
            if path.contains('\0') {
                return Err(fail("the path contains a NUL byte"));
            }
            return Ok(Url::Unix(PathBuf::from(path)));
        }
        if let Some(rest) = text.strip_prefix("channel://") {
            let (path, baud) = match rest.rsplit_once("?baud=") {
                Some((path, baud)) => (
                    path,
                    baud.parse::<u32>()
                        .ok()
                        .filter(|b| *b > 0 && baud.bytes().all(|c| c.is_ascii_digit()))
                        .ok_or_else(|| fail("the baud rate is not a positive number"))?,
                ),
                None => (rest, northstar_channel::serial::DEFAULT_BAUD),
            };
            if path.is_empty() {
                return Err(fail("no socket or tty path"));
            }
            if path.contains('\0') {
                return Err(fail("the path contains a NUL byte"));
            }
            return Ok(Url::Channel {
                path: PathBuf::from(path),
                baud,
            });
        }
        if let Some(rest) = text.strip_prefix("tcp://") {
            let rest = rest.strip_suffix('/').unwrap_or(rest);
            let (host, port) = rest.rsplit_once(':').ok_or_else(|| fail("no port"))?;
            let host = match host.strip_prefix('[') {
                Some(inner) => inner
                    .strip_suffix(']')
                    .ok_or_else(|| fail("unbalanced brackets around the host"))?,
                None if host.contains(':') => {
                    return Err(fail("an IPv6 address must be written in brackets"))
                }
                None => host,
            };
            if host.is_empty() {
                return Err(fail("no host"));
            }
            if host.contains(['/', '@', '?', '#']) {
                return Err(fail("the host contains a character that is not allowed"));
            }
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0 && port.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| fail("the port is not a number from 1 to 65535"))?;
            return Ok(Url::Tcp {
                host: host.to_string(),
                port,
            });
        }
        Err(fail("unknown scheme"))
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Url::Unix(path) => write!(f, "unix://{}", path.display()),
            Url::Channel { path, baud } if *baud == northstar_channel::serial::DEFAULT_BAUD => {
                write!(f, "channel://{}", path.display())
            }
            Url::Channel { path, baud } => write!(f, "channel://{}?baud={baud}", path.display()),
            Url::Tcp { host, port } if host.contains(':') => write!(f, "tcp://[{host}]:{port}"),
            Url::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_urls() {
        let url: Url = "channel:///dev/ttyUSB0".parse().unwrap();
        assert_eq!(
            url,
            Url::Channel {
                path: "/dev/ttyUSB0".into(),
                baud: 115_200
            }
        );
        assert_eq!(url.to_string(), "channel:///dev/ttyUSB0");
        let url: Url = "channel://chardev.sock?baud=921600".parse().unwrap();
        assert_eq!(url.to_string(), "channel://chardev.sock?baud=921600");
        for bad in [
            "channel://",
            "channel:///dev/ttyS0?baud=fast",
            "channel:///x?baud=0",
        ] {
            assert!(bad.parse::<Url>().is_err(), "{bad}");
        }
    }

    #[test]
    fn unix() {
        let url: Url = "unix:///run/northstar/api.sock".parse().unwrap();
        assert_eq!(url, Url::Unix("/run/northstar/api.sock".into()));
        assert_eq!(url.to_string(), "unix:///run/northstar/api.sock");
        assert_eq!(
            "unix://api.sock".parse::<Url>().unwrap(),
            Url::Unix("api.sock".into())
        );
    }

    #[test]
    fn tcp() {
        let url: Url = "tcp://device.local:4200".parse().unwrap();
        assert_eq!(
            url,
            Url::Tcp {
                host: "device.local".into(),
                port: 4200
            }
        );
        let v6: Url = "tcp://[::1]:4200/".parse().unwrap();
        assert_eq!(
            v6,
            Url::Tcp {
                host: "::1".into(),
                port: 4200
            }
        );
        assert_eq!(v6.to_string(), "tcp://[::1]:4200");
    }

    proptest::proptest! {
        #[test]
        fn display_and_parse_agree(host in "[a-z0-9.-]{1,30}|[0-9a-f:]{2,20}", port in 1u16.., path in "/[^\\x00]{0,60}") {
            let tcp = Url::Tcp { host: host.clone(), port };
            proptest::prop_assert_eq!(tcp.to_string().parse::<Url>(), Ok(tcp));
            let unix = Url::Unix(PathBuf::from(&path));
            proptest::prop_assert_eq!(unix.to_string().parse::<Url>(), Ok(unix));
        }
    }

    #[test]
    fn invalid() {
        for (bad, reason) in [
            ("", "unknown scheme"),
            ("/run/northstar/api.sock", "unknown scheme"),
            ("http://x:1", "unknown scheme"),
            ("unix://", "no socket path"),
            ("tcp://host", "no port"),
            ("tcp://:80", "no host"),
            ("tcp://host:0", "the port is not a number from 1 to 65535"),
            ("tcp://host:+80", "the port is not a number from 1 to 65535"),
            (
                "tcp://host:65536",
                "the port is not a number from 1 to 65535",
            ),
            (
                "tcp://::1:80",
                "an IPv6 address must be written in brackets",
            ),
            ("tcp://[::1:80", "unbalanced brackets around the host"),
            (
                "tcp://a@b:80",
                "the host contains a character that is not allowed",
            ),
        ] {
            let error = bad.parse::<Url>().unwrap_err();
            assert_eq!(error.reason, reason, "{bad:?}");
            assert!(error.to_string().contains("expected unix:///path"));
        }
    }
}
