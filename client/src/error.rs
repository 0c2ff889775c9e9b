//! The client's one error type. A refusal by the server carries the server's
//! [`ApiError`] with its stable code; everything else says what the client was doing.

use crate::url::{InvalidUrl, Url};
use northstar_api::{codec::EncodeError, ApiError, InvalidValue, ProtocolVersion};
use std::{io, path::PathBuf, time::Duration};

/// What went wrong, grouped for callers that only need to react to the class of a failure
/// (an exit status, a retry decision).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The server answered the request with an error ([`Error::Api`]).
    Refused,
    /// No answer in time ([`Error::Timeout`]).
    Timeout,
    /// The connection could not be made, broke, or the server did not speak the protocol
    /// (version mismatch included).
    Connection,
    /// A problem on this side before anything was asked: a bad URL, a request too large
    /// to send, a package file that cannot be read.
    Local,
}

/// An error of the client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL is not `unix:///path` or `tcp://host:port`.
    #[error(transparent)]
    Url(#[from] InvalidUrl),
    /// [`crate::Options::client_name`] breaks the protocol's rules.
    #[error("invalid client name")]
    ClientName(#[source] InvalidValue),
    /// The socket could not be connected.
    #[error("cannot connect to {url}")]
    Connect {
        /// Where.
        url: Url,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A TCP URL without a way to authenticate.
    #[error(
        "{url}: a TCP connection needs a TLS client identity (the CA of the server's \
         certificate, the client's certificate and key), or an explicit choice of no \
         authentication for a tunnelled port"
    )]
    TcpUnauthenticated {
        /// The URL.
        url: Url,
    },
    /// The server does not serve this client's protocol version.
    #[error(
        "the server does not speak this client's protocol version {client}: it speaks {server}"
    )]
    VersionMismatch {
        /// The server's version.
        server: ProtocolVersion,
        /// The client's version.
        client: ProtocolVersion,
    },
    /// The server refused the request (or the handshake) with an error.
    #[error("{request}: {error}")]
    Api {
        /// The request's type (`start`, `install`, ...), or `handshake`.
        request: &'static str,
        /// The server's error, with its code ([`ApiError::code`]); boxed, it is large.
        error: Box<ApiError>,
    },
    /// No answer in time.
    #[error("timed out after {} waiting for {what}", seconds(*.after))]
    Timeout {
        /// What did not come.
        what: String,
        /// The time waited.
        after: Duration,
    },
    /// The server closed the connection.
    #[error("the server closed the connection while {during}{}", detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Closed {
        /// What the client was doing.
        during: String,
        /// What was cut short (a frame, the package's bytes), when known.
        detail: Option<String>,
    },
    /// The server sent something the protocol does not allow here.
    #[error("protocol error while {during}: {reason}")]
    Protocol {
        /// What the client was doing.
        during: String,
        /// What was wrong.
        reason: String,
    },
    /// The request cannot be sent (larger than a client frame may be).
    #[error("cannot send the {request} request")]
    Encode {
        /// The request's type.
        request: &'static str,
        /// Why.
        #[source]
        source: EncodeError,
    },
    /// [`crate::Client::request`] was given an install or update, which needs its
    /// packages' bytes.
    #[error(
        "an install, update or system install carries its files' bytes: use Client::install, Client::update or Client::system_install"
    )]
    InstallWithoutPackage,
    /// Reading from or writing to the socket failed.
    #[error("i/o error while {during}")]
    Io {
        /// What the client was doing.
        during: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The package (or bundle) to install cannot be read.
    #[error("cannot read the package{}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Package {
        /// The file, when the package is one.
        path: Option<PathBuf>,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// An earlier failure left the connection out of step with the server; connect again.
    #[error("the connection is no longer usable: {reason}")]
    Broken {
        /// The earlier failure.
        reason: String,
    },
}

impl Error {
    /// The class of the failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Api { .. } => ErrorKind::Refused,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Url(_)
            | Error::ClientName(_)
            | Error::Encode { .. }
            | Error::InstallWithoutPackage
            | Error::Package { .. } => ErrorKind::Local,
            Error::Connect { .. }
            | Error::TcpUnauthenticated { .. }
            | Error::VersionMismatch { .. }
            | Error::Closed { .. }
            | Error::Protocol { .. }
            | Error::Io { .. }
            | Error::Broken { .. } => ErrorKind::Connection,
        }
    }

    /// The server's error, when the server refused.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Error::Api { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }

    /// Whether the request timed out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }
}

/// `1.5s`, `30s`, `250ms`.
fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else if d.as_secs() == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages() {
        let timeout = Error::Timeout {
            what: "the answer to `list`".into(),
            after: Duration::from_millis(250),
        };
        assert_eq!(
            timeout.to_string(),
            "timed out after 250ms waiting for the answer to `list`"
        );
        assert_eq!(timeout.kind(), ErrorKind::Timeout);
        let closed = Error::Closed {
            during: "waiting for the answer to `list`".into(),
            detail: Some("in the middle of a frame".into()),
        };
        assert_eq!(
            closed.to_string(),
            "the server closed the connection while waiting for the answer to `list` \
             (in the middle of a frame)"
        );
        let mismatch = Error::VersionMismatch {
            server: ProtocolVersion::new(2, 0),
            client: ProtocolVersion::new(1, 0),
        };
        assert!(mismatch.to_string().contains("it speaks 2.0"));
        assert_eq!(mismatch.kind(), ErrorKind::Connection);
        let refused = Error::Api {
            request: "reboot",
            error: Box::new(ApiError::Unsupported {
                request: "reboot".into(),
            }),
        };
        assert_eq!(
            refused.to_string(),
            "reboot: reboot is not supported by this runtime"
        );
        assert_eq!(refused.api_error().map(ApiError::code), Some("unsupported"));
        assert_eq!(seconds(Duration::from_millis(1500)), "1.500s");
        assert_eq!(seconds(Duration::from_secs(30)), "30s");
    }
}
