//! A build without the feature `tls`: no TCP listener. A configuration with `[api.tcp]`
//! is refused when the server starts; the types of the TLS build exist but cannot be
//! made.

use super::Error;
use crate::config::TcpConfig;
use std::{
    io,
    net::{IpAddr, TcpListener, TcpStream},
    os::fd::BorrowedFd,
};

/// Never made in this build.
pub(super) enum TcpListening {}

/// Never made in this build.
#[derive(Debug)]
pub(super) enum Tls {}

/// Always an error: this build has no TLS.
pub(super) fn listen(config: &TcpConfig) -> Result<TcpListening, Error> {
    Err(Error::Tcp {
        address: config.listen,
        what: "listen",
        source: io::Error::new(
            io::ErrorKind::Unsupported,
            "this build of Northstar has no TLS (cargo feature `tls`)",
        ),
    })
}

impl TcpListening {
    pub(super) fn listener(&self) -> &TcpListener {
        match *self {}
    }
    pub(super) fn config(&self) -> &TcpConfig {
        match *self {}
    }
    pub(super) fn session(&self, _: TcpStream, _: IpAddr) -> Result<Tls, String> {
        match *self {}
    }
}

impl Tls {
    pub(super) fn flush(&mut self) -> io::Result<()> {
        match *self {}
    }
    pub(super) fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        match *self {}
    }
    pub(super) fn send(&mut self, _: &[u8]) -> io::Result<usize> {
        match *self {}
    }
    pub(super) fn wants_write(&self) -> bool {
        match *self {}
    }
    pub(super) fn take_identity(&mut self) -> Option<Option<String>> {
        match *self {}
    }
    pub(super) fn address(&self) -> IpAddr {
        match *self {}
    }
    pub(super) fn close(&mut self) {
        match *self {}
    }
    pub(super) fn set_nonblocking(&self) -> io::Result<()> {
        match *self {}
    }
    pub(super) fn as_fd(&self) -> BorrowedFd<'_> {
        match *self {}
    }
}
