//! The byte stream under the protocol: a unix socket or a TCP connection.
//!
//! TCP is only the transport here. Protocol 1.0 defines no authentication for it, so a
//! TCP connection is refused unless the caller explicitly accepts an unauthenticated one
//! ([`TcpAuthentication::Unauthenticated`], e.g. for a port forwarded over ssh). When an
//! authentication is designed, it becomes a variant of [`TcpAuthentication`] and runs in
//! [`authenticate`], before the handshake.

use crate::{error::Error, url::Url};
use std::{
    io::{self, Read, Write},
    net::{Shutdown, TcpStream, ToSocketAddrs},
    os::unix::net::UnixStream,
    time::Duration,
};

/// How a TCP connection proves who the client is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TcpAuthentication {
    /// Refuse TCP URLs ([`Error::TcpUnauthenticated`]): the default.
    #[default]
    Refuse,
    /// Speak the protocol over TCP without authentication. Whoever can reach the port gets
    /// the permissions the server grants to such connections.
    Unauthenticated,
}

/// A connected socket.
#[derive(Debug)]
pub(crate) enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    /// Connect to `url`. A unix socket connects at once or fails (the kernel does not make
    /// a local connect wait except on a full backlog); TCP waits at most `timeout`.
    pub(crate) fn connect(
        url: &Url,
        timeout: Option<Duration>,
        tcp: TcpAuthentication,
    ) -> Result<Stream, Error> {
        let fail = |source| Error::Connect {
            url: url.clone(),
            source,
        };
        match url {
            Url::Unix(path) => UnixStream::connect(path).map(Stream::Unix).map_err(fail),
            Url::Tcp { host, port } => {
                if tcp == TcpAuthentication::Refuse {
                    return Err(Error::TcpUnauthenticated { url: url.clone() });
                }
                let addresses = (host.as_str(), *port).to_socket_addrs().map_err(fail)?;
                let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
                for address in addresses {
                    let attempt = match timeout {
                        Some(t) => TcpStream::connect_timeout(&address, t),
                        None => TcpStream::connect(address),
                    };
                    match attempt {
                        Ok(stream) => {
                            // Frames are small and answered: do not delay them.
                            stream.set_nodelay(true).map_err(fail)?;
                            let mut stream = Stream::Tcp(stream);
                            authenticate(&mut stream, tcp).map_err(fail)?;
                            return Ok(stream);
                        }
                        Err(e) => last = e,
                    }
                }
                Err(fail(last))
            }
        }
    }

    pub(crate) fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_read_timeout(timeout),
            Stream::Tcp(s) => s.set_read_timeout(timeout),
        }
    }

    pub(crate) fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_write_timeout(timeout),
            Stream::Tcp(s) => s.set_write_timeout(timeout),
        }
    }

    pub(crate) fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_nonblocking(nonblocking),
            Stream::Tcp(s) => s.set_nonblocking(nonblocking),
        }
    }

    /// Tell the server nothing more comes; errors are of no interest (it may be gone).
    pub(crate) fn shutdown_write(&self) {
        let _ = match self {
            Stream::Unix(s) => s.shutdown(Shutdown::Write),
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
        }
    }
}

/// The place where a TCP connection authenticates, before the protocol's handshake.
fn authenticate(_stream: &mut Stream, tcp: TcpAuthentication) -> io::Result<()> {
    match tcp {
        TcpAuthentication::Unauthenticated => Ok(()),
        TcpAuthentication::Refuse => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "TCP connections are refused",
        )),
    }
}
