//! The byte stream under the protocol: a unix socket, a TLS session over TCP (the
//! server's TCP listener: TLS 1.3, client certificates) or, when the caller explicitly
//! accepts it, plain TCP (e.g. a port forwarded over ssh).
//!
//! A TLS session completes its handshake in [`Stream::connect`], within the connect
//! timeout, so a refused certificate is a connect error, before the protocol's `hello`.

use crate::{error::Error, tls::TlsIdentity, url::Url};
use rustls::{ClientConnection, StreamOwned};
use std::{
    io::{self, Read, Write},
    net::{Shutdown, TcpStream, ToSocketAddrs},
    os::unix::net::UnixStream,
    time::Duration,
};

/// How a TCP connection proves who the client is.
#[derive(Clone, Debug, Default)]
pub enum TcpAuthentication {
    /// Refuse TCP URLs ([`Error::TcpUnauthenticated`]): the default.
    #[default]
    Refuse,
    /// TLS 1.3 with a client certificate: the server's TCP listener.
    Tls(TlsIdentity),
    /// Speak the protocol over plain TCP without authentication, e.g. to a unix socket
    /// forwarded over ssh. Whoever can reach the port gets what is behind it.
    Unauthenticated,
}

/// A connected socket.
#[derive(Debug)]
pub(crate) enum Stream {
    Unix(UnixStream),
    /// One end of a socket pair whose other end is the one session of a link on a
    /// management channel, run by a thread of its own ([`crate::channel`]).
    Channel(UnixStream),
    Tcp(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    /// Connect to `url`. A unix socket connects at once or fails (the kernel does not make
    /// a local connect wait except on a full backlog); TCP waits at most `timeout`.
    pub(crate) fn connect(
        url: &Url,
        timeout: Option<Duration>,
        tcp: &TcpAuthentication,
    ) -> Result<Stream, Error> {
        let fail = |source| Error::Connect {
            url: url.clone(),
            source,
        };
        match url {
            Url::Unix(path) => UnixStream::connect(path).map(Stream::Unix).map_err(fail),
            Url::Channel { path, baud } => crate::channel::connect(path, *baud)
                .map(Stream::Channel)
                .map_err(fail),
            Url::Tcp { host, port } => {
                if matches!(tcp, TcpAuthentication::Refuse) {
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
                            return authenticate(stream, host, tcp, timeout).map_err(fail);
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
            Stream::Unix(s) | Stream::Channel(s) => s.set_read_timeout(timeout),
            Stream::Tcp(s) => s.set_read_timeout(timeout),
            Stream::Tls(s) => s.sock.set_read_timeout(timeout),
        }
    }

    pub(crate) fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Unix(s) | Stream::Channel(s) => s.set_write_timeout(timeout),
            Stream::Tcp(s) => s.set_write_timeout(timeout),
            Stream::Tls(s) => s.sock.set_write_timeout(timeout),
        }
    }

    pub(crate) fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        match self {
            Stream::Unix(s) | Stream::Channel(s) => s.set_nonblocking(nonblocking),
            Stream::Tcp(s) => s.set_nonblocking(nonblocking),
            Stream::Tls(s) => s.sock.set_nonblocking(nonblocking),
        }
    }

    /// Tell the server nothing more comes; errors are of no interest (it may be gone).
    pub(crate) fn shutdown_write(&mut self) {
        let _ = match self {
            Stream::Unix(s) | Stream::Channel(s) => s.shutdown(Shutdown::Write),
            Stream::Tcp(s) => s.shutdown(Shutdown::Write),
            Stream::Tls(s) => {
                // close_notify is the end of the client's data; TLS 1.3 lets the server
                // still answer.
                s.conn.send_close_notify();
                s.flush()
            }
        };
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) | Stream::Channel(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
            Stream::Tls(s) => match s.read(buf) {
                // The server ended without close_notify: the end all the same (frames
                // carry their lengths, a cut one is an error of the decoder).
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                other => other,
            },
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) | Stream::Channel(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Unix(s) | Stream::Channel(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// Authenticate a TCP connection before the protocol's handshake: a TLS session runs its
/// handshake now, within `timeout`.
fn authenticate(
    tcp: TcpStream,
    host: &str,
    how: &TcpAuthentication,
    timeout: Option<Duration>,
) -> io::Result<Stream> {
    match how {
        TcpAuthentication::Unauthenticated => Ok(Stream::Tcp(tcp)),
        TcpAuthentication::Tls(identity) => {
            let mut session = identity.session(host)?;
            let mut tcp = tcp;
            tcp.set_read_timeout(timeout)?;
            tcp.set_write_timeout(timeout)?;
            while session.is_handshaking() {
                session.complete_io(&mut tcp)?;
            }
            // The handshake's last flight (the client's certificate and Finished).
            while session.wants_write() {
                session.write_tls(&mut tcp)?;
            }
            Ok(Stream::Tls(Box::new(StreamOwned::new(session, tcp))))
        }
        TcpAuthentication::Refuse => Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "TCP connections are refused",
        )),
    }
}
