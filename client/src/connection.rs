//! Frames over a [`Stream`]: client messages out, server messages in, with deadlines.
//!
//! Reads are bounded by the codec: the decoder holds at most one server frame
//! ([`MAX_SERVER_FRAME`]) and the read buffer a fixed amount on top.

use crate::{error::Error, transport::Stream};
use northstar_api::{
    codec::{Decoder, Encoder, Frame, MAX_CLIENT_FRAME, MAX_SERVER_FRAME},
    ClientMessage, ServerMessage,
};
use std::{
    io::{self, Read, Write},
    time::{Duration, Instant},
};

/// Bytes read from the socket at once.
const READ_CHUNK: usize = 64 * 1024;

/// When a wait ends: the deadline and the timeout it came from (for the error).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    at: Instant,
    after: Duration,
}

impl Deadline {
    /// `timeout` from now; `None`: wait forever.
    pub(crate) fn after(timeout: Option<Duration>) -> Option<Deadline> {
        timeout.map(|after| Deadline {
            at: Instant::now() + after,
            after,
        })
    }

    fn remaining(&self) -> Option<Duration> {
        self.at
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }
}

/// What the connection was waiting for when a read failed; becomes the errors' text.
pub(crate) type Waiting<'a> = &'a dyn Fn() -> String;

#[derive(Debug)]
pub(crate) struct Connection {
    stream: Stream,
    decoder: Decoder<ServerMessage>,
    encoder: Encoder,
    buf: Box<[u8]>,
    /// `buf[pos..len]` are read but not pushed into the decoder yet.
    pos: usize,
    len: usize,
    /// The server closed its side.
    eof: bool,
}

impl Connection {
    pub(crate) fn new(stream: Stream) -> Connection {
        Connection {
            stream,
            decoder: Decoder::new(MAX_SERVER_FRAME),
            encoder: Encoder::new(MAX_CLIENT_FRAME),
            buf: vec![0; READ_CHUNK].into_boxed_slice(),
            pos: 0,
            len: 0,
            eof: false,
        }
    }

    /// Send one message, waiting at most `timeout` for the socket to take each part.
    pub(crate) fn send(
        &mut self,
        message: &ClientMessage,
        request: &'static str,
        timeout: Option<Duration>,
    ) -> Result<(), Error> {
        let frame = self
            .encoder
            .to_vec(message)
            .map_err(|source| Error::Encode { request, source })?;
        self.write_all(&frame, timeout)
            .map_err(|e| write_error(e, &format!("sending the {request} request"), timeout))
    }

    /// Write raw bytes (a package), waiting at most `timeout` for the socket to take each
    /// part of them.
    pub(crate) fn write_all(&mut self, data: &[u8], timeout: Option<Duration>) -> io::Result<()> {
        self.stream.set_write_timeout(timeout)?;
        self.stream.write_all(data)
    }

    /// The next message, waiting until `deadline` (`None`: forever).
    pub(crate) fn receive(
        &mut self,
        deadline: Option<Deadline>,
        waiting: Waiting<'_>,
    ) -> Result<ServerMessage, Error> {
        loop {
            if let Some(message) = self.decode(waiting)? {
                return Ok(message);
            }
            if self.eof {
                return Err(self.closed(waiting));
            }
            let timeout = match deadline {
                None => None,
                Some(d) => Some(d.remaining().ok_or_else(|| Error::Timeout {
                    what: waiting(),
                    after: d.after,
                })?),
            };
            self.stream
                .set_read_timeout(timeout)
                .map_err(|source| io_error(source, waiting))?;
            match self.stream.read(&mut self.buf) {
                Ok(n) => self.filled(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_timeout(&e) => {
                    // Loop: the deadline check reports it (and a spurious wake-up waits on).
                }
                Err(e) if is_reset(&e) => self.eof = true,
                Err(source) => return Err(io_error(source, waiting)),
            }
        }
    }

    /// A message that has already arrived, without waiting for one.
    pub(crate) fn poll(&mut self, waiting: Waiting<'_>) -> Result<Option<ServerMessage>, Error> {
        if let Some(message) = self.decode(waiting)? {
            return Ok(Some(message));
        }
        if self.eof {
            return Ok(None);
        }
        let io = |source| io_error(source, waiting);
        self.stream.set_nonblocking(true).map_err(io)?;
        let read = self.stream.read(&mut self.buf);
        self.stream.set_nonblocking(false).map_err(io)?;
        match read {
            Ok(n) => self.filled(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(None),
            Err(e) if is_reset(&e) => self.eof = true,
            Err(source) => return Err(io_error(source, waiting)),
        }
        self.decode(waiting)
    }

    /// Whether the server has closed its side (seen by a read).
    pub(crate) fn closed_by_server(&self) -> bool {
        self.eof
    }

    /// Tell the server nothing more comes from this side.
    pub(crate) fn shutdown_write(&mut self) {
        self.stream.shutdown_write();
    }

    fn filled(&mut self, n: usize) {
        if n == 0 {
            self.eof = true;
        }
        self.pos = 0;
        self.len = n;
    }

    /// Push what was read into the decoder and take a complete message out, if any.
    fn decode(&mut self, waiting: Waiting<'_>) -> Result<Option<ServerMessage>, Error> {
        loop {
            let taken = self.decoder.push(&self.buf[self.pos..self.len]);
            self.pos += taken;
            match self.decoder.next_frame() {
                Ok(Some(Frame::Message(message))) => return Ok(Some(message)),
                Ok(Some(Frame::Raw { .. })) => {
                    // No server message announces raw bytes.
                    return Err(Error::Protocol {
                        during: format!("waiting for {}", waiting()),
                        reason: "raw bytes from the server".into(),
                    });
                }
                Ok(None) if self.pos < self.len && taken > 0 => continue,
                Ok(None) => return Ok(None),
                Err(e) => {
                    return Err(Error::Protocol {
                        during: format!("waiting for {}", waiting()),
                        reason: e.to_string(),
                    })
                }
            }
        }
    }

    fn closed(&self, waiting: Waiting<'_>) -> Error {
        let detail = match self.decoder.buffered() {
            0 => None,
            n => Some(format!("in the middle of a frame, after {n} bytes of it")),
        };
        Error::Closed {
            during: format!("waiting for {}", waiting()),
            detail,
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
    )
}

fn io_error(source: io::Error, waiting: Waiting<'_>) -> Error {
    Error::Io {
        during: format!("waiting for {}", waiting()),
        source,
    }
}

/// The error of a failed write: a timeout, the server gone, or another I/O error.
pub(crate) fn write_error(e: io::Error, during: &str, timeout: Option<Duration>) -> Error {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout {
            what: format!("the server to take data while {during}"),
            after: timeout.unwrap_or_default(),
        },
        io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted => Error::Closed {
            during: during.to_string(),
            detail: None,
        },
        _ => Error::Io {
            during: during.to_string(),
            source: e,
        },
    }
}
