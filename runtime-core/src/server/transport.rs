//! The bytes under a connection: a unix socket (local clients, containers' consoles) or a
//! TLS session over TCP. Both are non-blocking; reads and writes are of plaintext and
//! give `WouldBlock` when the socket has nothing or takes nothing more.
//!
//! A TLS session's records are read and written here; its handshake runs as the
//! connection is read and written, inside the connection's handshake time limit. Once it
//! is complete, [`Transport::take_identity`] gives the client certificate's common name
//! (the certificate has been verified against the configured CA by then).

use super::tls::Tls;
use nix::sys::socket::{send, MsgFlags};
use std::{
    io::{self, Read},
    net::IpAddr,
    os::{
        fd::{AsFd, AsRawFd, BorrowedFd},
        unix::net::UnixStream,
    },
};

/// A connection's socket.
#[derive(Debug)]
pub(super) enum Transport {
    Unix(UnixStream),
    Tls(Box<Tls>),
}

impl Transport {
    /// Read plaintext: `Ok(0)` at the end, `WouldBlock` when nothing is there yet.
    pub(super) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Transport::Unix(s) => s.read(buf),
            Transport::Tls(t) => t.read(buf),
        }
    }

    /// Write plaintext: how much was taken, `WouldBlock` when nothing.
    pub(super) fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Unix(s) => send(
                s.as_raw_fd(),
                data,
                MsgFlags::MSG_NOSIGNAL | MsgFlags::MSG_DONTWAIT,
            )
            .map_err(io::Error::from),
            Transport::Tls(t) => t.send(data),
        }
    }

    /// Write what the transport itself holds (TLS records); `Err` when the peer is gone.
    pub(super) fn flush(&mut self) -> io::Result<()> {
        match self {
            Transport::Unix(_) => Ok(()),
            Transport::Tls(t) => t.flush(),
        }
    }

    /// The transport holds bytes for the socket.
    pub(super) fn wants_write(&self) -> bool {
        match self {
            Transport::Unix(_) => false,
            Transport::Tls(t) => t.wants_write(),
        }
    }

    /// Once, when a TLS handshake has completed: the client certificate's common name.
    pub(super) fn take_identity(&mut self) -> Option<Option<String>> {
        match self {
            Transport::Unix(_) => None,
            Transport::Tls(t) => t.take_identity(),
        }
    }

    /// The peer's IP address (TCP).
    pub(super) fn address(&self) -> Option<IpAddr> {
        match self {
            Transport::Unix(_) => None,
            Transport::Tls(t) => Some(t.address()),
        }
    }

    /// End a TLS session politely (best effort).
    pub(super) fn close(&mut self) {
        if let Transport::Tls(t) = self {
            t.close();
        }
    }

    pub(super) fn set_nonblocking(&self) -> io::Result<()> {
        match self {
            Transport::Unix(s) => s.set_nonblocking(true),
            Transport::Tls(t) => t.set_nonblocking(),
        }
    }
}

impl AsFd for Transport {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Transport::Unix(s) => s.as_fd(),
            Transport::Tls(t) => t.as_fd(),
        }
    }
}
