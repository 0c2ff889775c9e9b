//! The relay between the port and the management API's socket: one thread, one epoll set,
//! edge-triggered, no timers.
//!
//! A virtio port whose host side is not connected reads as closed (`read` gives 0, `poll`
//! says `POLLHUP`) for as long as nobody connects: a level-triggered loop would spin on
//! it. Edge-triggered, the relay wakes only when the port's wait queue is woken: the host
//! connects or disconnects, data arrives, the host took what was written. After each
//! wake-up it reads and writes until every side would block, then waits again.
//!
//! Per host connection: at the first bytes, and again at every later `hello` frame
//! ([`super::sessions`]), a fresh connection to the API socket (so every host client gets
//! its own handshake); bytes are copied both ways through bounded buffers (a side that
//! cannot take more is not read from); when the port reads as closed the host client is
//! gone and the API connection is closed with whatever was still queued. When the API
//! side closes first, its last bytes still go to the host, and the host's further bytes
//! are dropped until its next `hello`.

use super::sessions::{Piece, Sessions};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use runtime_core::server::api::{codec::Encoder, ApiError, ServerMessage};
use std::{
    convert::Infallible,
    fs::File,
    io::{self, ErrorKind, Read, Write},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
};

/// Most bytes queued towards either side.
const BUFFER: usize = 64 * 1024;
const PORT: u64 = 0;
const LOCAL: u64 = 1;

/// Why the relay stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("epoll: {0}")]
    Epoll(#[source] nix::errno::Errno),
    #[error("cannot {what} the port: {source}")]
    Port {
        what: &'static str,
        #[source]
        source: io::Error,
    },
}

/// Whether a descriptor may have something to read or room to write (edge-triggered: set
/// on each event, cleared when an operation would block).
#[derive(Clone, Copy)]
struct Ready {
    read: bool,
    write: bool,
}

const READY: Ready = Ready {
    read: true,
    write: true,
};

/// The connection to the API socket for the current host session.
struct Local {
    stream: UnixStream,
    ready: Ready,
}

/// One host connection (from its first bytes until the port reads as closed).
struct Host {
    sessions: Sessions,
    local: Option<Local>,
    /// No connection to the API socket was made yet for this host connection.
    fresh: bool,
    to_local: Vec<u8>,
    to_host: Vec<u8>,
}

/// The relay's state.
pub struct Relay {
    port: File,
    port_ready: Ready,
    socket: PathBuf,
    max_frame: usize,
    epoll: Epoll,
    host: Option<Host>,
    /// A failed connection to the API socket was logged (and not followed by a success).
    warned: bool,
    buf: Vec<u8>,
}

impl Relay {
    /// A relay between `port` (opened non-blocking) and the API socket at `socket`, whose
    /// server takes client frames of at most `max_frame` bytes.
    pub fn new(port: File, socket: &Path, max_frame: usize) -> Result<Relay, Error> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(Error::Epoll)?;
        epoll
            .add(&port, EpollEvent::new(interest(), PORT))
            .map_err(Error::Epoll)?;
        Ok(Relay {
            port,
            port_ready: READY,
            socket: socket.to_owned(),
            max_frame,
            epoll,
            host: None,
            warned: false,
            buf: vec![0; BUFFER],
        })
    }

    /// Relay until the port fails.
    pub fn run(mut self) -> Result<Infallible, Error> {
        let mut events = [EpollEvent::empty(); 4];
        loop {
            while self.step()? {}
            let n = match self.epoll.wait(&mut events, EpollTimeout::NONE) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => 0,
                Err(e) => return Err(Error::Epoll(e)),
            };
            for event in events.iter().take(n) {
                match event.data() {
                    PORT => self.port_ready = READY,
                    _ => {
                        if let Some(local) = self.host.as_mut().and_then(|h| h.local.as_mut()) {
                            local.ready = READY;
                        }
                    }
                }
            }
        }
    }

    /// One round of reading and writing; whether anything changed.
    fn step(&mut self) -> Result<bool, Error> {
        let mut progress = self.read_port()?;
        progress |= self.write_local();
        progress |= self.read_local();
        progress |= self.write_port()?;
        Ok(progress)
    }

    /// Read from the port when there is room.
    fn read_port(&mut self) -> Result<bool, Error> {
        let room = self.host.as_ref().map_or(BUFFER, |h| {
            if h.local.is_some() || h.fresh {
                BUFFER.saturating_sub(h.to_local.len())
            } else {
                // Dropping the bytes: always room.
                BUFFER
            }
        });
        if !self.port_ready.read || room == 0 {
            return Ok(false);
        }
        match self.port.read(&mut self.buf[..room]) {
            Ok(0) => {
                // The host side is closed (or was never connected).
                self.port_ready.read = false;
                if self.host.take().is_some() {
                    log::debug!("management channel: the host client disconnected");
                }
                Ok(true)
            }
            Ok(n) => {
                let pieces = self
                    .host
                    .get_or_insert_with(|| Host {
                        sessions: Sessions::new(self.max_frame),
                        local: None,
                        fresh: true,
                        to_local: Vec::new(),
                        to_host: Vec::new(),
                    })
                    .sessions
                    .feed(&self.buf[..n]);
                for piece in pieces {
                    self.piece(piece)?;
                }
                Ok(true)
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                self.port_ready.read = false;
                Ok(false)
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(true),
            Err(source) => Err(Error::Port {
                what: "read",
                source,
            }),
        }
    }

    /// Take one piece of the host's stream.
    fn piece(&mut self, piece: Piece) -> Result<(), Error> {
        let connect = match (&piece, &self.host) {
            (Piece::Hello, _) => true,
            (Piece::Bytes(_), Some(host)) => host.fresh,
            (Piece::Bytes(_), None) => false,
        };
        if connect {
            self.connect()?;
        }
        if let (Piece::Bytes(bytes), Some(host)) = (piece, self.host.as_mut()) {
            if host.local.is_some() {
                host.to_local.extend_from_slice(&bytes);
            }
        }
        Ok(())
    }

    /// A new connection to the API socket for the host's session (the previous one, if
    /// any, is closed). When it fails, the host is told with an error frame.
    fn connect(&mut self) -> Result<(), Error> {
        let Some(host) = self.host.as_mut() else {
            return Ok(());
        };
        host.fresh = false;
        // What was queued belongs to the previous session, whose client is gone.
        host.to_local.clear();
        host.to_host.clear();
        if let Some(old) = host.local.take() {
            // Closing it removes it from the epoll set.
            drop(old);
            log::debug!("management channel: a new session of the host");
        }
        match UnixStream::connect(&self.socket).and_then(|s| {
            s.set_nonblocking(true)?;
            Ok(s)
        }) {
            Ok(stream) => {
                self.epoll
                    .add(&stream, EpollEvent::new(interest(), LOCAL))
                    .map_err(Error::Epoll)?;
                host.local = Some(Local {
                    stream,
                    ready: READY,
                });
                self.warned = false;
            }
            Err(e) => {
                let message = format!(
                    "the management channel cannot reach the API socket {}: {e}",
                    self.socket.display()
                );
                if !self.warned {
                    log::warn!("{message}");
                    self.warned = true;
                }
                let frame = ServerMessage::error(None, ApiError::Internal { message });
                if let Ok(bytes) = Encoder::new(BUFFER).to_vec(&frame) {
                    host.to_host.extend_from_slice(&bytes);
                }
            }
        }
        Ok(())
    }

    /// Write what the host sent to the API socket.
    fn write_local(&mut self) -> bool {
        let Some(host) = self.host.as_mut() else {
            return false;
        };
        let Some(local) = host.local.as_mut() else {
            return false;
        };
        if !local.ready.write || host.to_local.is_empty() {
            return false;
        }
        match local.stream.write(&host.to_local) {
            Ok(n) => {
                host.to_local.drain(..n);
                true
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                local.ready.write = false;
                false
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => true,
            Err(e) => {
                log::debug!("management channel: the API connection failed: {e}");
                host.local = None;
                host.to_local.clear();
                true
            }
        }
    }

    /// Read the server's bytes when there is room towards the host.
    fn read_local(&mut self) -> bool {
        let Some(host) = self.host.as_mut() else {
            return false;
        };
        let room = BUFFER.saturating_sub(host.to_host.len());
        let Some(local) = host.local.as_mut() else {
            return false;
        };
        if !local.ready.read || room == 0 {
            return false;
        }
        match local.stream.read(&mut self.buf[..room]) {
            Ok(0) => {
                log::debug!("management channel: the server closed the session");
                host.local = None;
                host.to_local.clear();
                true
            }
            Ok(n) => {
                host.to_host.extend_from_slice(&self.buf[..n]);
                true
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                local.ready.read = false;
                false
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => true,
            Err(e) => {
                log::debug!("management channel: the API connection failed: {e}");
                host.local = None;
                host.to_local.clear();
                true
            }
        }
    }

    /// Write the server's bytes to the host.
    fn write_port(&mut self) -> Result<bool, Error> {
        let Some(host) = self.host.as_mut() else {
            return Ok(false);
        };
        if !self.port_ready.write || host.to_host.is_empty() {
            return Ok(false);
        }
        match self.port.write(&host.to_host) {
            Ok(n) => {
                host.to_host.drain(..n);
                Ok(true)
            }
            // Also while the host side is closed: the read then ends the session.
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                self.port_ready.write = false;
                Ok(false)
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => Ok(true),
            Err(source) => Err(Error::Port {
                what: "write",
                source,
            }),
        }
    }
}

/// What the relay waits for on each descriptor: edge-triggered reads, writes and hang-ups.
fn interest() -> EpollFlags {
    EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT | EpollFlags::EPOLLRDHUP | EpollFlags::EPOLLET
}

#[cfg(test)]
mod tests;
